"""Writing an archive: the network scripted with its metadata embedded, and the sidecar.

:func:`export` is one of the two places in learnedmin that touch ``torch.jit`` (the other is
:func:`learnedmin.weights.load`); each filters exactly TorchScript's deprecation warning.
"""

import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

from ..policy import CLASSICAL_WEIGHTS
from .metadata import _EXTRA, _expected

_JIT_DEPRECATION = r"`torch\.jit\.(script|save|load)` is deprecated"

__all__ = ["export"]


def _atomic_write(path, data):
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export(net, path, metadata=None):
    """Script ``net`` and write it as an archive ``path`` (``.pt``) plus its ``.json`` sidecar.

    Parameters
    ----------
    net : learnedmin.network.WeightingNet
        The eager module (its ``network_config`` is recorded).
    path : str or os.PathLike
        Destination of the ``.pt`` file; the sidecar goes beside it with suffix ``.json``.
    metadata : dict, optional
        Extra JSON-serialisable entries (training config and its hash, seed, validation scores).

    Returns
    -------
    dict
        The metadata written to the sidecar (including ``sha256``).

    Both files are written atomically; a crash never leaves a half-written archive.
    """
    import torch

    from ..network import network_config

    path = Path(path)
    if path.suffix != ".pt":
        raise ValueError(f"archive path must end in .pt; got {path}")
    # the classical weights are recorded for readers of the archive, not checked on load
    meta = {**(metadata or {}), **_expected(net.n_features),
            "classical_weights": list(CLASSICAL_WEIGHTS),
            "network": network_config(net)}
    meta.setdefault("torch_version", torch.__version__)
    meta = json.loads(json.dumps(meta, sort_keys=True))  # fails early if not serialisable
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _JIT_DEPRECATION, DeprecationWarning)
        scripted = torch.jit.script(net.eval())
        torch.jit.save(scripted, buf, _extra_files={_EXTRA: json.dumps(meta, sort_keys=True)})
    data = buf.getvalue()
    meta["sha256"] = hashlib.sha256(data).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, data)
    sidecar = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    _atomic_write(path.with_suffix(".json"), sidecar.encode())
    return meta
