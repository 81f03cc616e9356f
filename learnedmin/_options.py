"""Solver options: one table of defaults, one validator that names the option and the rule."""

import math
import numbers
import warnings

import numpy as np

# name: (default, the rule in words, check). ``maxiter=None`` means 200 * n (SciPy's BFGS).


def _is_int(v):
    """An integer as SciPy's methods take one: a Python or numpy integer, or a real number with
    an integral value (``4.0``); never a bool."""
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, numbers.Integral):
        return True
    return isinstance(v, numbers.Real) and math.isfinite(v) and float(v).is_integer()


class _Integer:
    """The check of an integer option, ``>= minimum`` (or ``None`` where ``none``); values that
    pass are stored as Python ``int`` by :func:`resolve_options`."""

    def __init__(self, minimum, none=False):
        self.minimum, self.none = minimum, none

    def __call__(self, v):
        return (self.none and v is None) or (_is_int(v) and v >= self.minimum)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _positive_scales(v):
    if isinstance(v, (str, bytes, bool)):
        return False
    try:
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        return False
    return arr.ndim <= 1 and arr.size > 0 and bool(np.all(np.isfinite(arr) & (arr > 0)))


RULES = {
    "maxiter": (None, "be None or an integer >= 0", _Integer(0, none=True)),
    "gtol": (1e-5, "be a real number >= 0", lambda v: _is_real(v) and v >= 0),
    "xrtol": (0.0, "be a real number >= 0", lambda v: _is_real(v) and v >= 0),
    "c1": (1e-4, "satisfy 0 < c1 < 1", lambda v: _is_real(v) and 0 < v < 1),
    "memory": (10, "be an integer >= 1", _Integer(1)),
    "dense_max": (200, "be an integer >= 0", _Integer(0)),
    "maxls": (20, "be an integer >= 1", _Integer(1)),
    "learned_maxls": (4, "be an integer >= 1", _Integer(1)),
    "nonmonotone": (5, "be an integer >= 1 (1 gives a monotone search)", _Integer(1)),
    "sufficient_progress": (0.1, "satisfy 0 <= sufficient_progress < 1",
                            lambda v: _is_real(v) and 0 <= v < 1),
    "stall_window": (20, "be an integer >= 1", _Integer(1)),
    "reset_after": (3, "be an integer >= 1", _Integer(1)),
    "initial_step": (None, "be None or a real number > 0", lambda v: v is None or (_is_real(v) and v > 0)),
    "cg_maxiter": (None, "be None or an integer >= 1", _Integer(1, none=True)),
    "precondition": (True, "be a bool", lambda v: isinstance(v, bool)),
    "diagonal_max": (1000, "be an integer >= 0", _Integer(0)),
    "refine": (None, "be None or a bool", lambda v: v is None or isinstance(v, bool)),
    "refine_band": (1.1, "be a real number > 1", lambda v: _is_real(v) and v > 1),
    "budget": (None, "be None or an integer >= 1", _Integer(1, none=True)),
    "global_steps": (None, "be None or an integer >= 0", _Integer(0, none=True)),
    "network_with_hessian": (None, "be None or a bool", lambda v: v is None or isinstance(v, bool)),
    "x_scale": (None, "be None or positive finite numbers (one, or one per variable)",
                lambda v: v is None or _positive_scales(v)),
    "finite_diff_rel_step": (None, "be None or a real number > 0",
                             lambda v: v is None or (_is_real(v) and v > 0)),
    "return_all": (False, "be a bool", lambda v: isinstance(v, bool)),
    "disp": (False, "be a bool", lambda v: isinstance(v, (bool, numbers.Integral))),
}
DEFAULTS = {name: rule[0] for name, rule in RULES.items()}


def resolve_options(defaults, options, stacklevel):
    """Merge ``options`` over ``defaults``; warn on unknown names, raise on invalid values.

    Integer options are returned as ``int`` (``4.0`` and ``np.int64(4)`` are 4); neither
    ``defaults`` nor ``options`` is modified.

    ``tol`` (SciPy's generic tolerance) sets ``gtol`` unless ``gtol`` is given too.
    """
    options = dict(options)
    tol = options.pop("tol", None)
    unknown = sorted(set(options) - set(RULES))
    if unknown:
        from scipy.optimize import OptimizeWarning  # here: `import learnedmin` stays light

        warnings.warn(
            f"Unknown solver options: {', '.join(unknown)}", OptimizeWarning, stacklevel=stacklevel
        )
    merged = {**defaults, **{k: v for k, v in options.items() if k in RULES}}
    if tol is not None and "gtol" not in options:
        if not (_is_real(tol) and tol >= 0):
            raise ValueError(f"'tol' must be a real number >= 0; got {tol!r}")
        merged["gtol"] = tol
    validate(merged)
    for name, value in merged.items():
        if isinstance(RULES[name][2], _Integer) and value is not None:
            merged[name] = int(value)
    return merged


def validate(options):
    """Raise ``ValueError``/``TypeError`` naming the first option that breaks its rule."""
    for name, value in options.items():
        if name not in RULES:
            raise TypeError(f"unknown option {name!r}; known options: {', '.join(sorted(RULES))}")
        _, rule, check = RULES[name]
        if not check(value):
            raise ValueError(f"{name!r} must {rule}; got {value!r}")
