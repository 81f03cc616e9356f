"""The arguments of :func:`scipy.optimize.minimize` checked and put in the form the loop takes.

``x0`` as a fresh float64 vector, ``bounds`` as two arrays (or none), the callback as one
notifier, and the callables checked; each mistake raises an exception that names the argument.
"""

import inspect

import numpy as np

__all__ = ["standardize_x0", "standardize_bounds", "make_callback", "paired",
           "checked_callables"]


def standardize_x0(x0):
    """``x0`` as a new float64 vector ``(n,)``; the user's array is never touched."""
    try:
        x = np.asarray(x0)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"'x0' must be a real array; got {type(x0).__name__}") from exc
    if x.dtype.kind == "c":
        raise TypeError(
            "'x0' is complex; learned minimises over real vectors: stack the real and "
            "imaginary parts into one real vector"
        )
    if x.dtype.kind not in "biuf":
        raise TypeError(f"'x0' must be a real array; got dtype {x.dtype}")
    x = np.atleast_1d(x)
    if x.ndim != 1:
        raise ValueError(f"'x0' must only have one dimension; got shape {x.shape}")
    if x.size == 0:
        raise ValueError("'x0' must not be empty")
    x = np.array(x, dtype=np.float64)  # always a copy: the user's x0 is never touched
    if not np.all(np.isfinite(x)):
        raise ValueError("'x0' contains NaN or infinite values")
    return x


def _bounds_side(value, n, side):
    """One side of a :class:`scipy.optimize.Bounds` as a float array ``(n,)``."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {side} bounds of 'bounds' must be real numbers; "
                         f"got {value!r}") from exc
    if arr.ndim > 1 or arr.size not in (1, n):
        raise ValueError(f"'bounds' has {arr.size} {side} bounds (shape {arr.shape}) but x0 has "
                         f"{n} entries")
    return np.broadcast_to(arr.reshape(-1), (n,))


def standardize_bounds(bounds, n):
    """``(lb, ub)`` float arrays, or ``(None, None)`` when every variable is free."""
    if bounds is None:
        return None, None
    from scipy.optimize import Bounds

    if isinstance(bounds, Bounds):
        lb, ub = _bounds_side(bounds.lb, n, "lower"), _bounds_side(bounds.ub, n, "upper")
    else:
        try:
            pairs = list(bounds)
        except TypeError as exc:
            raise TypeError("'bounds' must be a scipy.optimize.Bounds or a sequence of "
                            "(min, max) pairs") from exc
        if len(pairs) != n:
            raise ValueError(f"'bounds' has {len(pairs)} pairs but x0 has {n} entries")
        try:
            lb = np.array([-np.inf if p[0] is None else p[0] for p in pairs], dtype=float)
            ub = np.array([np.inf if p[1] is None else p[1] for p in pairs], dtype=float)
        except (TypeError, IndexError, ValueError) as exc:
            raise ValueError("each entry of 'bounds' must be a (min, max) pair; use None for "
                             "an unbounded side") from exc
        if lb.shape != (n,) or ub.shape != (n,):
            raise ValueError("each entry of 'bounds' must be a (min, max) pair of numbers; got "
                             f"sides of shape {lb.shape} and {ub.shape} for x0 with {n} entries")
    if np.any(np.isnan(lb)) or np.any(np.isnan(ub)):
        raise ValueError("'bounds' contain NaN")
    if np.any(np.isposinf(lb)) or np.any(np.isneginf(ub)):
        raise ValueError("'bounds' must not have a lower bound of +inf or an upper bound of "
                         "-inf; use None (or -inf, +inf) for an unbounded side")
    bad = np.flatnonzero(lb > ub)
    if bad.size:
        i = bad[0]
        raise ValueError(f"'bounds' are infeasible: lower bound {lb[i]} > upper bound {ub[i]} "
                         f"for variable {i}")
    if np.all(np.isneginf(lb)) and np.all(np.isposinf(ub)):
        return None, None
    return np.array(lb), np.array(ub)


def make_callback(callback):
    """The user's callback as one notifier ``notify(x, f, g, nit)``, or ``None``.

    As SciPy's methods: a callback whose only parameter is named ``intermediate_result``
    (positional or keyword-only) gets ``intermediate_result=OptimizeResult(x, fun, jac, nit)``
    by keyword; any other gets a copy of ``x``. The loop never hands its own arrays out.
    """
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"'callback' must be callable; got {type(callback).__name__}")
    try:
        params = inspect.signature(callback).parameters
    except (TypeError, ValueError):  # a builtin without a signature takes x
        params = {}
    if set(params) != {"intermediate_result"}:
        def notify(x, f, g, nit):
            return callback(x.copy())

        return notify

    from scipy.optimize import OptimizeResult

    positional = params["intermediate_result"].kind is inspect.Parameter.POSITIONAL_ONLY

    def notify(x, f, g, nit):
        result = OptimizeResult(x=x.copy(), fun=f, jac=g.copy(), nit=nit)
        return callback(result) if positional else callback(intermediate_result=result)

    return notify


def paired(fun, jac):
    """``(fun, jac, paired)``: with SciPy's ``jac=True`` (``fun`` memoized, ``jac`` its
    ``derivative``) or ``jac=True`` itself, the user's own function returning ``(f, g)``, no
    ``jac``, and ``paired`` true; otherwise the arguments as they came."""
    if jac is True:
        return fun, None, True
    owner = getattr(jac, "__self__", None)
    if owner is not None and owner is fun and getattr(jac, "__name__", "") == "derivative" \
            and callable(getattr(fun, "fun", None)):
        return fun.fun, None, True
    return fun, jac, False


def checked_callables(fun, jac, hess, hessp, constraints):
    """``(fun, jac, paired)`` as :func:`paired` gives them, once ``fun`` is shown callable,
    ``constraints`` empty, and ``jac``, ``hess`` and ``hessp`` callables or ``None``."""
    if not callable(fun):
        raise TypeError(f"'fun' must be callable; got {type(fun).__name__}")
    if constraints is not None and len(constraints if not isinstance(constraints, dict)
                                       else [constraints]):
        raise ValueError("method learned does not support constraints; use 'SLSQP', "
                         "'trust-constr' or 'COBYQA', or express box constraints as bounds")
    fun, jac, is_paired = paired(fun, jac)
    for name, value in (("jac", jac), ("hess", hess), ("hessp", hessp)):
        if value is not None and not callable(value):
            raise TypeError(
                f"'{name}' must be a callable or None for method learned; got {value!r} "
                "(with jac=None gradients are finite differences; with hess=None the "
                "second-order direction is L-BFGS)"
            )
    return fun, jac, is_paired
