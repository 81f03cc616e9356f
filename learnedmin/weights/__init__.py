"""Weights archives: TorchScript network + JSON metadata, checked before they are loaded.

An archive is a pair of files, ``NAME.pt`` (TorchScript, with the metadata also embedded as
``metadata.json`` in its extra files) and ``NAME.json`` beside it (the same metadata plus the
``sha256`` of the ``.pt`` bytes). Bundled archives live in this package and are addressed by name
(``"default"``, and ``"channel"``, specialised for channel estimation); any other archive by the path of its ``.pt`` file.

Before ``torch.jit.load`` runs, the sidecar's format version, feature version, feature names and
slot order are compared with this installation's, and the archive bytes with the recorded hash.
These are the only two places in learnedmin that touch ``torch.jit`` (:func:`load` and
:func:`export`); each filters exactly TorchScript's deprecation warning.
"""

import hashlib
import io
import json
import math
import os
import re
import tempfile
import warnings
from importlib import resources
from pathlib import Path

from ..directions import SLOTS
from ..statistics import FEATURE_NAMES, FEATURE_VERSION

FORMAT_VERSION = 1
BUNDLED = ("default", "channel")
_EXTRA = "metadata.json"
_JIT_DEPRECATION = r"`torch\.jit\.(script|save|load)` is deprecated"
_MAX_METADATA_BYTES = 1 << 20  # the sidecar

__all__ = ["WeightsError", "FORMAT_VERSION", "BUNDLED", "read_metadata", "load", "export"]


class WeightsError(ValueError):
    """A weights archive is missing, damaged, or made for another version of learnedmin."""


def _paths(weights):
    """``(pt_path, json_path, label)`` for a bundled name or a path to a ``.pt`` file."""
    if isinstance(weights, str) and weights in BUNDLED:
        root = resources.files(__name__)
        return Path(str(root / f"{weights}.pt")), Path(str(root / f"{weights}.json")), weights
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"'weights' must be a bundled name {BUNDLED} or a path to a .pt archive; "
            f"got {type(weights).__name__}"
        )
    path = Path(weights)
    return path, path.with_suffix(".json"), str(path)


def _expected():
    return {
        "format_version": FORMAT_VERSION,
        "feature_version": FEATURE_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "slots": list(SLOTS),
    }


def _require_file(path, what, label):
    """Raise :class:`WeightsError` unless ``path`` is a regular file."""
    if path.is_dir():
        raise WeightsError(f"weights archive {label!r}: {path} is a directory, not {what}")
    if not path.is_file():
        raise WeightsError(f"weights archive {label!r}: file {path} does not exist")


def _is_number(x):
    """Whether ``x`` is a finite JSON number (not a bool, which JSON keeps apart)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:  # an integer beyond the float range
        return False


def _field_error(label, field, rule, got):
    return WeightsError(
        f"weights archive {label!r}: metadata field {field!r} must be {rule}; got {got!r}"
    )


def _check_fields(meta, label):
    """Type-check the metadata fields learnedmin reads (after the version checks)."""
    for key in ("sha256", "network"):
        if key not in meta:
            raise WeightsError(f"weights archive {label!r}: metadata lacks {key!r}")
    sha = meta["sha256"]
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise _field_error(label, "sha256", "a string of 64 lowercase hexadecimal digits", sha)
    net = meta["network"]
    if not isinstance(net, dict):
        raise _field_error(label, "network", "an object", net)
    hidden = net.get("hidden")
    if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
        raise _field_error(label, "network.hidden", "a positive integer", hidden)
    bounds = net.get("bounds")
    if not (isinstance(bounds, list) and len(bounds) == len(SLOTS)
            and all(_is_number(b) and b > 0 for b in bounds)):
        raise _field_error(label, "network.bounds",
                           f"a list of {len(SLOTS)} finite positive numbers", bounds)
    clip = net.get("feature_clip")
    if not (_is_number(clip) and clip > 0):
        raise _field_error(label, "network.feature_clip", "a finite positive number", clip)
    second = meta.get("second_order", [])
    if not (isinstance(second, list) and all(isinstance(x, str) for x in second)):
        raise _field_error(label, "second_order", "a list of strings", second)


def read_metadata(weights="default"):
    """Read and check an archive's sidecar metadata without importing torch.

    Raises
    ------
    WeightsError
        If a file is missing or is a directory, the JSON is unreadable, a version, feature list
        or slot order differs from this installation's, or a field learnedmin reads has the
        wrong type (the message names the field).
    """
    pt_path, json_path, label = _paths(weights)
    _require_file(pt_path, "a .pt file", label)
    if json_path.is_dir():
        _require_file(json_path, "a .json metadata file", label)
    if not json_path.is_file():
        raise WeightsError(
            f"weights archive {label!r}: metadata file {json_path} is missing; an archive is a "
            "NAME.pt file with its NAME.json beside it, as written by learnedmin.weights.export"
        )
    if json_path.stat().st_size > _MAX_METADATA_BYTES:
        raise WeightsError(
            f"weights archive {label!r}: {json_path} is larger than the "
            f"{_MAX_METADATA_BYTES} bytes a metadata file may have"
        )
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WeightsError(f"weights archive {label!r}: cannot read {json_path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise WeightsError(f"weights archive {label!r}: {json_path} does not hold a JSON object")
    for key, want in _expected().items():
        got = meta.get(key)
        if got != want or type(got) is not type(want):  # type: True == 1, but not a version
            raise WeightsError(
                f"weights archive {label!r} has {key}={got!r} but this learnedmin needs {want!r}: "
                "retrain or re-export it with this version (`learnedmin-train`), "
                "or use the bundled weights"
            )
    _check_fields(meta, label)
    return meta


def load(weights="default"):
    """Check and load an archive; return ``(module, metadata)``.

    The module is a TorchScript ``WeightingNet`` in evaluation mode on the CPU.
    """
    import torch

    meta = read_metadata(weights)
    pt_path, _, label = _paths(weights)
    data = pt_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta["sha256"]:
        raise WeightsError(
            f"weights archive {label!r}: sha256 of {pt_path.name} is {digest[:12]}..., the "
            f"metadata records {meta['sha256'][:12]}...; the file is truncated or was modified. "
            "Re-export it, or reinstall learnedmin for the bundled weights"
        )
    extra = {_EXTRA: ""}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _JIT_DEPRECATION, DeprecationWarning)
            module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
    except RuntimeError as exc:
        raise WeightsError(f"weights archive {label!r}: not a TorchScript archive: {exc}") from exc
    embedded = json.loads(extra[_EXTRA] or "{}")
    sidecar = {k: v for k, v in meta.items() if k != "sha256"}
    if embedded != sidecar:
        raise WeightsError(
            f"weights archive {label!r}: the metadata embedded in {pt_path.name} differs from "
            f"{pt_path.with_suffix('.json').name}; the two files do not belong together"
        )
    module.eval()
    _check_module(module, meta, label)
    return module, meta


def _check_module(module, meta, label):
    import torch

    hidden = int(meta["network"]["hidden"])
    with torch.inference_mode():
        a, h = module(
            torch.zeros(len(FEATURE_NAMES), dtype=torch.float64),
            torch.zeros(len(SLOTS), dtype=torch.float64),
            torch.ones(len(SLOTS), dtype=torch.float64),
            torch.zeros(hidden, dtype=torch.float64),
        )
    if tuple(a.shape) != (len(SLOTS),) or tuple(h.shape) != (hidden,):
        raise WeightsError(
            f"weights archive {label!r}: network returns shapes {tuple(a.shape)}, "
            f"{tuple(h.shape)}; expected ({len(SLOTS)},), ({hidden},)"
        )


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
    meta = {**(metadata or {}), **_expected(), "network": network_config(net)}
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
