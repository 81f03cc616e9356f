"""Weights archives: TorchScript network + JSON metadata, checked before they are loaded.

An archive is a pair of files, ``NAME.pt`` (TorchScript, with the metadata also embedded as
``metadata.json`` in its extra files) and ``NAME.json`` beside it (the same metadata plus the
``sha256`` of the ``.pt`` bytes). Bundled archives live in this package and are addressed by name
(``"default"``; ``"channel"``, a learned global phase for channel estimation; and
``"least_squares"``, a budget-aware step rule for Gaussian least squares); any other archive by
the path of its ``.pt`` file.

Before ``torch.jit.load`` runs, the sidecar's format version, feature version, feature names and
slot order are compared with this installation's, and the archive bytes with the recorded hash.
That hash sits beside the archive, so it catches accidents, not intent; and loading a TorchScript
archive runs the code inside it. So nothing of an archive's own code is ever loaded unless it is
trusted: a bundled archive must match the sha256 pinned in this module; any other archive is
opened as a zip and must hold exactly the network code this learnedmin exports for the
architecture in its metadata, and then only its tensor bytes are loaded, into that code (see
:func:`load`). These are the only two places in learnedmin that touch ``torch.jit``
(:func:`load` and :func:`export`); each filters exactly TorchScript's deprecation warning.

The loading lives here, beside the pinned hashes; the sidecar and the archive's files are
:mod:`learnedmin.weights.metadata`, the check of an untrusted archive's code
:mod:`learnedmin.weights.untrusted`, and the writing of an archive
:mod:`learnedmin.weights.writer`.
"""

import hashlib
import io
import warnings

from ..directions import SLOTS
from .metadata import (
    _EXTRA,
    BUNDLED,
    FORMAT_VERSION,
    WeightsError,
    _check_embedded,
    _paths,
    read_metadata,
)
from .untrusted import _checked_archive, _reference
from .writer import _JIT_DEPRECATION, export

# sha256 of the bundled archives. Regenerating a bundled archive means updating its pin here
# (tests/test_weights_security.py checks that the pins match the files).
_PINNED_SHA256 = {
    "default": "a173c7ba640bcf2b32d059c99ef2c8efcfc0c314361aacae6216e6e66413926f",
    "channel": "7ee78bce5bb3f344380c0a30d8bc52399d979ee73f70c8c84b07b566bdc9848a",
    "least_squares": "d65b3f1987383e69175f3aa290425114dd358656029d799c1fc261b6c98f6b27",
}

__all__ = ["WeightsError", "FORMAT_VERSION", "BUNDLED", "read_metadata", "load", "export"]


def _verified_bytes(weights, meta, trust, pt_path, label):
    """The archive's bytes once its hash, its pin (bundled) or its code (unless ``trust``) are
    checked: for a checked path archive, the reference's code with the archive's tensors."""
    bundled = isinstance(weights, str) and weights in BUNDLED
    reference = None if trust or bundled else _reference(meta, label)
    limit = -1 if reference is None else reference.max_file_bytes + 1
    with open(pt_path, "rb") as fh:
        data = fh.read(limit)
    if reference is not None and len(data) > reference.max_file_bytes:
        raise WeightsError(
            f"weights archive {label!r}: {pt_path.name} has more than the "
            f"{reference.max_file_bytes} bytes an archive of its architecture can have"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta["sha256"]:
        raise WeightsError(
            f"weights archive {label!r}: sha256 of {pt_path.name} is {digest[:12]}..., the "
            f"metadata records {meta['sha256'][:12]}...; the file is truncated or was modified. "
            "Re-export it, or reinstall learnedmin for the bundled weights"
        )
    if bundled and digest != _PINNED_SHA256[weights]:
        raise WeightsError(
            f"bundled weights archive {label!r}: sha256 of {pt_path.name} is {digest[:12]}..., "
            f"but this learnedmin pins {_PINNED_SHA256[weights][:12]}...; the installed package "
            "was modified. Reinstall learnedmin"
        )
    if reference is not None and digest not in _PINNED_SHA256.values():
        data = _checked_archive(data, reference, label)
    return data


def load(weights="default", trust=False):
    """Check and load an archive; return ``(module, metadata)``.

    Parameters
    ----------
    weights : str or os.PathLike
        A bundled name (see ``BUNDLED``) or the path of a ``.pt`` archive with its ``.json``
        sidecar beside it.
    trust : bool, default False
        Load a path archive as it is, without checking that it holds learnedmin's own network
        code. Loading a TorchScript archive runs the code inside it: pass ``True`` only for an
        archive whose author you trust, e.g. one of another architecture.

    Returns
    -------
    module : torch.jit.ScriptModule
        A TorchScript ``WeightingNet`` in evaluation mode on the CPU.
    metadata : dict
        The sidecar metadata (see :func:`read_metadata`).

    Raises
    ------
    WeightsError
        If :func:`read_metadata` refuses the sidecar, the bytes do not match its ``sha256``, a
        bundled archive does not match the sha256 pinned in learnedmin, or an archive loaded
        without ``trust`` holds anything but learnedmin's network code and its tensors.

    Notes
    -----
    Nothing in an archive runs before it is checked. A bundled archive, or a path archive whose
    bytes equal a bundled one, is trusted by its pinned sha256. Any other archive, unless
    ``trust=True``, is opened as a zip (with bounds on its size and member count) and compared
    with the reference archive :func:`export` writes in this process for the architecture in
    its metadata (``network``: hidden size, bounds, feature clip): the same TorchScript code,
    the same ``data.pkl`` (the object structure, with its tensor shapes), the same constants
    and records, and tensor data of exactly the reference's sizes. The module then loaded is
    the reference's code with the archive's tensor bytes and metadata; no other byte of the
    archive reaches ``torch.jit.load``.

    Examples
    --------
    >>> from learnedmin.weights import load
    >>> module, meta = load("default")
    >>> meta["network"]["hidden"]
    32
    """
    import torch

    if not isinstance(trust, bool):
        raise TypeError(f"'trust' must be True or False; got {trust!r}")
    meta = read_metadata(weights)
    pt_path, _, label = _paths(weights)
    data = _verified_bytes(weights, meta, trust, pt_path, label)
    extra = {_EXTRA: ""}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _JIT_DEPRECATION, DeprecationWarning)
            module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
    except RuntimeError as exc:
        raise WeightsError(f"weights archive {label!r}: cannot load it: {exc}") from exc
    _check_embedded(extra[_EXTRA], meta, pt_path, label)
    module.eval()
    _check_module(module, meta, label)
    return module, meta


def _check_module(module, meta, label):
    import torch

    hidden = int(meta["network"]["hidden"])
    try:
        with torch.inference_mode():
            a, h = module(
                torch.zeros(len(meta["feature_names"]), dtype=torch.float64),
                torch.zeros(len(SLOTS), dtype=torch.float64),
                torch.ones(len(SLOTS), dtype=torch.float64),
                torch.zeros(hidden, dtype=torch.float64),
            )
    except (RuntimeError, ValueError, TypeError) as exc:  # a trusted archive of another shape
        raise WeightsError(
            f"weights archive {label!r}: the network fails on zero inputs of the sizes its "
            f"metadata gives (hidden={hidden}): {exc}"
        ) from exc
    if tuple(a.shape) != (len(SLOTS),) or tuple(h.shape) != (hidden,):
        raise WeightsError(
            f"weights archive {label!r}: network returns shapes {tuple(a.shape)}, "
            f"{tuple(h.shape)}; expected ({len(SLOTS)},), ({hidden},)"
        )

