"""The check of an untrusted archive: it must hold exactly the network code that
:func:`~learnedmin.weights.export` writes for the architecture in its metadata.

The reference archive of that architecture is exported in this process (:func:`_reference`) and
the archive's members are compared with it (:func:`_differences`); what is then loaded is the
reference's own code with the archive's tensors and metadata (:func:`_checked_archive`).
"""

import functools
import io
import re
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path

from .metadata import _EXTRA, _MAX_METADATA_BYTES, WeightsError
from .writer import export

# Bounds on what an untrusted archive may make this process read or build.
_MAX_HIDDEN = 1024  # widest network whose reference code is built without trust=True
_MAX_CODE_BYTES = 1 << 20  # all members other than tensors and metadata, together
_ZIP_OVERHEAD_BYTES = 1 << 16  # headers, directory and alignment padding of the zip itself
_REFERENCE_LOCK = threading.Lock()  # scripting is not known to be thread-safe

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
