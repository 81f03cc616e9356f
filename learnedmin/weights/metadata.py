"""An archive's files and its metadata, read and checked without torch.

An archive is ``NAME.pt`` with its sidecar ``NAME.json`` beside it (:func:`_paths`; a bundled
archive is addressed by name). The sidecar must record this installation's format version,
feature version, feature names (a prefix of them, see :func:`_feature_count`) and slot order,
and the fields learnedmin reads must have their types (:func:`read_metadata`); the copy of the
metadata embedded in the ``.pt`` file must be the sidecar's (:func:`_check_embedded`).
"""

import atexit
import contextlib
import json
import math
import os
import re
from importlib import resources
from pathlib import Path

from ..directions import SLOTS
from ..statistics import BASE_FEATURES, FEATURE_NAMES, FEATURE_VERSION

FORMAT_VERSION = 1
BUNDLED = ("default", "channel", "least_squares")
_EXTRA = "metadata.json"  # the name of the metadata embedded in the .pt file
_MAX_METADATA_BYTES = 1 << 20  # the sidecar and the embedded metadata, each

__all__ = ["WeightsError", "FORMAT_VERSION", "BUNDLED", "read_metadata"]


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
            resources.as_file(resources.files(__package__) / name)))
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
