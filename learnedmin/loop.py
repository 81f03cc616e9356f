"""The SciPy driver: one row of :mod:`learnedmin.step` with the user's callables behind it.

The iteration itself (candidates, statistics, network, the search with its fallbacks, resets and
stopping tests) is :func:`learnedmin.step.step`, the same code the training unroll and
:func:`learnedmin.minimize_batch` run. This module owns only SciPy's concerns: answering the
iteration's requests by calling ``fun``/``jac``/``hess``/``hessp`` (through the counted
:class:`~learnedmin._objective.Objective`), the callback, the trace and the result fields.
"""

import numpy as np

from . import _status as st
from .directions import N_SLOTS
from .requests import drive
from .step import FALLBACK, Setup, best_point, init, step

__all__ = ["run"]


def _quiet():
    """Silence numpy's floating-point warnings in *our* arithmetic (never around user calls):
    overflow to inf or NaN is detected explicitly and handled by the safeguard."""
    return np.errstate(all="ignore")


class _Answers:
    """Answers the iteration's requests for one row from an :class:`Objective`.

    User code runs outside :func:`_quiet`, so its own floating-point warnings reach the user.
    """

    def __init__(self, obj):
        self.obj = obj
        self.product = None  # H(x) p at the point of the last "hess" request
        self.points = 0      # points at which `fun` was asked for (not finite differences)
        self.nonfinite = 0   # ... and of those, where its value was NaN or infinite

    def _value(self, x):
        f = self.obj.f(x)
        self.points += 1
        self.nonfinite += not np.isfinite(f)
        return f

    def __call__(self, request):
        kind, x = request.kind, request.x[0]
        if kind == "f":
            return np.array([self._value(x)])
        if kind == "g":
            return self.obj.g(x, float(request.f[0]))[None, :]
        if kind == "fg":
            f = self._value(x)
            g = self.obj.g(x, f) if np.isfinite(f) else np.full(x.size, np.nan)
            return np.array([f]), g[None, :]
        if kind == "hess":
            self.product, diagonal = self.obj.hessian(x)
            return None if diagonal is None else diagonal[None, :]
        if kind == "hessp":
            return self.product(request.v[0])[None, :]
        raise ValueError(f"unknown request {kind!r}")  # pragma: no cover - a programming error


def run(obj, x0, policy, opts, lb=None, ub=None, callback=None):
    """Minimise from ``x0`` (float64, inside the bounds). Returns a dict of result fields.

    ``callback(x, f, g, nit)``, when given, is called after every accepted step; raising
    ``StopIteration`` ends the run with status 99.
    """
    setup = Setup(policy, opts, lb, ub, obj.has_hessian, paired=obj.paired)
    answers = _Answers(obj)
    state = drive(init(x0[None, :], setup), answers, _quiet)
    steps = []  # the trace's scalars of each accepted step (no n-vector is kept)
    values = [float(state.f[0])]
    allvecs = [x0.copy()] if opts["return_all"] else None
    status = int(state.status[0])
    while status == st.RUNNING:
        state, info = drive(step(state, setup), answers, _quiet)
        status = int(state.status[0])
        if info is None or not info.taken[0]:
            break
        steps.append(_row_trace(info))
        values.append(float(state.f[0]))
        if allvecs is not None:
            allvecs.append(state.x[0].copy())
        if callback is not None:
            try:
                callback(state.x[0].copy(), float(state.f[0]), state.g[0].copy(),
                         int(state.nit[0]))
            except StopIteration:
                status = st.CALLBACK_STOP
    return _result(state, status, steps, values, obj, allvecs, answers)


_TRACED = ("weights", "source", "alpha", "f_ref", "slope", "approximate")


def _row_trace(info):
    """Row 0's entries of the fields of ``info`` that the result reports."""
    return {field: getattr(info, field)[0] for field in _TRACED}


def _result(state, status, steps, values, obj, allvecs, answers):
    """The result fields of row 0."""
    def column(field, dtype=float):
        return np.array([trace[field] for trace in steps], dtype=dtype)

    source = column("source", int)
    with _quiet():  # non-finite values are compared here
        x, f, g, replaced = best_point(state)
    message = st.message(status, answers.nonfinite, answers.points)
    if replaced[0]:
        message += (" The run ended above a point it had accepted; that point is returned "
                    "(f = {:.6g} at the end).".format(float(state.f[0])))
    res = {
        "x": x[0], "fun": float(f[0]), "jac": g[0], "nit": int(state.nit[0]),
        "nfev": obj.nfev, "njev": obj.njev, "nhev": obj.nhev, "status": status,
        "success": status == st.SUCCESS,
        "message": message,
        "step_weights": np.array([trace["weights"] for trace in steps]).reshape(-1, N_SLOTS),
        "overridden": source >= FALLBACK,
        "trace": {"source": source, "alpha": column("alpha"), "f_ref": column("f_ref"),
                  "slope": column("slope"), "approximate": column("approximate", bool),
                  "fun": np.array(values)},
    }
    if allvecs is not None:
        res["allvecs"] = allvecs
    return res
