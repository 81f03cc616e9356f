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
"""

import atexit
import contextlib
import functools
import hashlib
import io
import json
import math
import os
import re
import tempfile
import threading
import warnings
import zipfile
import zlib
from importlib import resources
from pathlib import Path

from ..directions import SLOTS
from ..policy import CLASSICAL_WEIGHTS
from ..statistics import BASE_FEATURES, FEATURE_NAMES, FEATURE_VERSION

FORMAT_VERSION = 1
BUNDLED = ("default", "channel", "least_squares")
_EXTRA = "metadata.json"
_JIT_DEPRECATION = r"`torch\.jit\.(script|save|load)` is deprecated"

# sha256 of the bundled archives. Regenerating a bundled archive means updating its pin here
# (tests/test_weights_security.py checks that the pins match the files).
_PINNED_SHA256 = {
    "default": "a173c7ba640bcf2b32d059c99ef2c8efcfc0c314361aacae6216e6e66413926f",
    "channel": "7ee78bce5bb3f344380c0a30d8bc52399d979ee73f70c8c84b07b566bdc9848a",
    "least_squares": "d65b3f1987383e69175f3aa290425114dd358656029d799c1fc261b6c98f6b27",
}
# Bounds on what an untrusted archive may make this process read or build.
_MAX_HIDDEN = 1024  # widest network whose reference code is built without trust=True
_MAX_METADATA_BYTES = 1 << 20  # the sidecar and the embedded metadata, each
_MAX_CODE_BYTES = 1 << 20  # all members other than tensors and metadata, together
_ZIP_OVERHEAD_BYTES = 1 << 16  # headers, directory and alignment padding of the zip itself
_REFERENCE_LOCK = threading.Lock()  # scripting is not known to be thread-safe

__all__ = ["WeightsError", "FORMAT_VERSION", "BUNDLED", "read_metadata", "load", "export"]


class WeightsError(ValueError):
    """A weights archive is missing, damaged, or made for another version of learnedmin."""


def _paths(weights):
    """``(pt_path, json_path, label)`` for a bundled name or a path to a ``.pt`` file."""
    if isinstance(weights, str) and weights in BUNDLED:
        return _bundled_file(f"{weights}.pt"), _bundled_file(f"{weights}.json"), weights
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"'weights' must be a bundled name {BUNDLED} or a path to a .pt archive; "
            f"got {type(weights).__name__}"
        )
    path = Path(weights)
    return path, path.with_suffix(".json"), str(path)


_BUNDLED_FILES = {}
_EXTRACTED = contextlib.ExitStack()  # files extracted from a zipped install, removed at exit
atexit.register(_EXTRACTED.close)


def _bundled_file(name):
    """A file system path of the package data file ``name``: the file itself in an ordinary
    install, a temporary copy (kept until the interpreter exits) where the package is imported
    from a zip archive (:func:`importlib.resources.as_file`)."""
    if name not in _BUNDLED_FILES:
        _BUNDLED_FILES[name] = Path(_EXTRACTED.enter_context(
            resources.as_file(resources.files(__name__) / name)))
    return _BUNDLED_FILES[name]


def _expected(n_features=None):
    """The fields an archive must hold as written; ``feature_names`` is checked apart (a prefix
    of this installation's, see :func:`_feature_count`)."""
    return {
        "format_version": FORMAT_VERSION,
        "feature_version": FEATURE_VERSION,
        "feature_names": list(FEATURE_NAMES[:n_features]),
        "slots": list(SLOTS),
    }


def _feature_count(meta):
    """How many statistics the archive's network reads: its ``feature_names`` must be the first
    ones of this installation's (features are only ever appended), at least ``BASE_FEATURES``;
    ``None`` if they are not."""
    names = meta.get("feature_names")
    if (isinstance(names, list) and BASE_FEATURES <= len(names) <= len(FEATURE_NAMES)
            and names == list(FEATURE_NAMES[:len(names)])):
        return len(names)
    return None


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
    steps = meta.get("global_steps", 0)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise _field_error(label, "global_steps", "an integer >= 0", steps)
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
    for key, want in _expected(_feature_count(meta)).items():
        got = meta.get(key)
        if got != want or type(got) is not type(want):  # type: True == 1, but not a version
            raise WeightsError(
                f"weights archive {label!r} has {key}={got!r} but this learnedmin needs {want!r}: "
                "retrain or re-export it with this version (`learnedmin-train`), "
                "or use the bundled weights"
            )
    _check_fields(meta, label)
    return meta


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


def _check_embedded(text, meta, pt_path, label):
    """The metadata embedded in the archive must be the sidecar's (less its hash)."""
    try:
        embedded = json.loads(text or "{}")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WeightsError(
            f"weights archive {label!r}: cannot read the metadata embedded in {pt_path.name}: "
            f"{exc}"
        ) from exc
    sidecar = {k: v for k, v in meta.items() if k != "sha256"}
    if embedded != sidecar:
        raise WeightsError(
            f"weights archive {label!r}: the metadata embedded in {pt_path.name} differs from "
            f"{pt_path.with_suffix('.json').name}; the two files do not belong together"
        )


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


# --- the check of an untrusted archive ------------------------------------------------------
# Two exports of the same network differ in more than their tensors: torch renames a type it
# has already scripted in the exporting process (``___torch_mangle_N``, which also moves the
# class to a file of its own), numbers temporaries ``_N`` per file, orders ``Final`` constant
# declarations by the string hash seed, and writes the exporting machine's source paths into
# the ``.debug_pkl`` files. The comparison is made invariant under exactly these; it decides
# whether the archive's tensors belong to this network, while what runs is always the
# reference's own code (see ``_checked_archive``).
_MANGLED = re.compile(rb"[./]___torch_mangle_[0-9]+")
_TEMPORARY = re.compile(rb"\b_[0-9]+\b")
_CONSTANT = re.compile(rb" +\w+ : Final\[")
_TENSOR = re.compile(r"data/[0-9]+")
_SAME_BYTES = ("constants.pkl", "version", "byteorder")
_OPTIONAL = ".data/serialization_id"


class _Reference:
    """Members of the archive :func:`export` writes for one architecture, and its bounds."""

    def __init__(self, members, config):
        self.members = members  # name below the top-level folder -> bytes, in written order
        self.config = config
        self.code = _canonical_code(members)
        self.data_pkl = _MANGLED.sub(b"", members["data.pkl"])
        self.tensors = {k: len(v) for k, v in members.items() if _TENSOR.fullmatch(k)}
        self.max_members = 2 * len(members)  # a mangled export splits a module into two files
        self.max_total_bytes = sum(self.tensors.values()) + _MAX_METADATA_BYTES + _MAX_CODE_BYTES
        self.max_file_bytes = self.max_total_bytes + _ZIP_OVERHEAD_BYTES


def _reference(meta, label):
    """The cached reference for the architecture in ``meta["network"]``."""
    net = meta["network"]
    if net["hidden"] > _MAX_HIDDEN:
        raise WeightsError(
            f"weights archive {label!r}: network.hidden={net['hidden']} is wider than the "
            f"{_MAX_HIDDEN} that learnedmin checks; pass trust=True if you trust the archive"
        )
    with _REFERENCE_LOCK:
        return _reference_for(net["hidden"], tuple(float(b) for b in net["bounds"]),
                              float(net["feature_clip"]), len(meta["feature_names"]))


@functools.lru_cache(maxsize=8)
def _reference_for(hidden, bounds, feature_clip, n_features):
    """Export a fresh ``WeightingNet`` of this architecture and read its members back."""
    from ..network import WeightingNet

    net = WeightingNet(hidden, bounds=bounds, init_weights=(0.0,) * len(bounds),
                       n_features=n_features)
    net.feature_clip = feature_clip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference.pt"
        export(net, path)
        members = _zip_members(path.read_bytes(), "reference", 1 << 10, 1 << 31)
    config = {"hidden": hidden, "bounds": list(bounds), "feature_clip": feature_clip}
    return _Reference(members, config)


def _zip_members(data, label, max_members, max_total_bytes):
    """``{name below the top-level folder: bytes}`` of a zip archive, within the bounds given.

    The bounds are checked on the central directory before any member is decompressed, and
    ``zipfile`` stops every member at its declared size (a zip bomb cannot grow past them).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > max_members:
                raise WeightsError(
                    f"weights archive {label!r} has {len(infos)} members; an archive of its "
                    f"architecture has at most {max_members}"
                )
            total = sum(info.file_size for info in infos)
            if total > max_total_bytes:
                raise WeightsError(
                    f"weights archive {label!r} unpacks to {total} bytes; an archive of its "
                    f"architecture unpacks to at most {max_total_bytes}"
                )
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                raise WeightsError(f"weights archive {label!r} has members with the same name")
            top = names[0].partition("/")[0] if names else ""
            members = {}
            for info in infos:
                folder, slash, rest = info.filename.partition("/")
                if folder != top or not slash or not rest:
                    raise WeightsError(
                        f"weights archive {label!r}: member {info.filename!r} is not in the "
                        f"archive's top-level folder {top!r}"
                    )
                members[rest] = zf.read(info)
    except WeightsError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            EOFError, OSError, ValueError, zlib.error) as exc:
        raise WeightsError(
            f"weights archive {label!r}: not a readable zip archive: {exc}"
        ) from exc
    return members


def _canonical_code(members):
    """The TorchScript code of ``members``: a sorted tuple of ``(module, definition)``."""
    definitions = []
    for name, text in members.items():
        if name.startswith("code/") and name.endswith(".py"):
            module = _MANGLED.sub(b"", name.encode())
            definitions += [(module, d) for d in _definitions(_MANGLED.sub(b"", text))]
    return tuple(sorted(definitions))


def _definitions(text):
    """Top-level definitions of a code file, each with its ``Final`` declarations sorted and
    its temporaries renumbered in order of appearance; blank lines dropped."""
    blocks = []
    for line in text.split(b"\n"):
        if not line.strip():
            continue
        if not line.startswith(b" ") or not blocks:
            blocks.append([])
        blocks[-1].append(line)
    out = []
    for lines in blocks:
        sorted_lines, run = [], []
        for line in lines + [b""]:
            if _CONSTANT.match(line):
                run.append(line)
                continue
            sorted_lines += sorted(run) + [line]
            run = []
        block = b"\n".join(sorted_lines)
        seen = {}
        out.append(_TEMPORARY.sub(lambda m: b"_%d" % seen.setdefault(m.group(), len(seen)), block))
    return out


def _differences(members, ref):
    """What in ``members`` differs from the reference, most telling first (empty: nothing)."""
    found = []
    code = _canonical_code(members)
    if code != ref.code:
        modules = sorted({m.decode("utf-8", "replace") for m, _ in set(code) ^ set(ref.code)})
        found.append(f"the TorchScript code differs in {', '.join(map(repr, modules))}")
    if "data.pkl" in members and _MANGLED.sub(b"", members["data.pkl"]) != ref.data_pkl:
        found.append("'data.pkl' (the module structure) differs")
    found += [f"{name!r} differs" for name in _SAME_BYTES
              if name in members and members[name] != ref.members[name]]
    unexpected = [name for name in members if not _expected_member(name, members, ref)]
    if unexpected:
        found.append(f"unexpected members {', '.join(map(repr, unexpected[:5]))}"
                     f"{' ...' if len(unexpected) > 5 else ''}")
    missing = [name for name in (*ref.tensors, *_SAME_BYTES, "data.pkl", f"extra/{_EXTRA}")
               if name not in members]
    if missing:
        found.append(f"missing members {', '.join(map(repr, missing))}")
    found += [f"tensor data {name!r} has {len(members[name])} bytes, not {size}"
              for name, size in ref.tensors.items()
              if name in members and len(members[name]) != size]
    return found


def _expected_member(name, members, ref):
    """Whether an archive of the reference's network may hold a member ``name``."""
    return (name in ref.tensors or name in _SAME_BYTES
            or name in ("data.pkl", f"extra/{_EXTRA}", _OPTIONAL)
            or (name.startswith("code/") and name.endswith(".py"))
            or (name.endswith(".py.debug_pkl") and name[: -len(".debug_pkl")] in members))


def _checked_archive(data, ref, label):
    """The archive to load in place of ``data``: the reference's members with ``data``'s
    tensors and metadata, once ``data`` is shown to hold the same network; else WeightsError."""
    members = _zip_members(data, label, ref.max_members, ref.max_total_bytes)
    found = _differences(members, ref)
    if found:
        config = ", ".join(f"{k}={v}" for k, v in ref.config.items())
        raise WeightsError(
            f"weights archive {label!r} does not hold learnedmin's network code for its "
            f"architecture ({config}): {'; '.join(found[:5])}"
            f"{f' (and {len(found) - 5} more)' if len(found) > 5 else ''}. Loading an archive "
            "runs the code inside it, so only what learnedmin.weights.export writes loads "
            "unchecked: re-export it with this learnedmin, or pass trust=True if you trust "
            "whoever made it"
        )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, body in ref.members.items():
            keep = name in ref.tensors or name == f"extra/{_EXTRA}"
            zf.writestr(f"archive/{name}", members[name] if keep else body)
    return out.getvalue()


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
