"""Named problem suites. Every suite is rebuilt deterministically from its name (fixed seeds), so
a worker process rebuilds it instead of receiving pickled closures.

=========  ======================================================================================
suite      problems
=========  ======================================================================================
quick      ten small problems from the other suites; the whole suite runs in well under a minute
classic    Moré-Garbow-Hillstrom and other classical functions (n <= 10), and the scalable ones
           at n = 100 and n = 10**4
scale      the scalable classical functions at n = 10**6 (``--large`` adds it to ``classic``)
quadratic  random convex quadratics and linear least squares, n = 100, condition numbers 10..10**6
data       logistic regression and small neural-network fits on generated data
channel    :func:`learnedmin.problems.channel.bench_problems`, when that module provides it
=========  ======================================================================================
"""

import functools
import importlib

import numpy as np

from ..problems import classic
from .data import data_problems, logistic_regression

__all__ = ["SUITES", "SuiteUnavailable", "suite_problems", "get_problem", "as_problem"]

CONDITION_NUMBERS = (1e1, 1e2, 1e3, 1e4, 1e5, 1e6)


class SuiteUnavailable(Exception):
    """A suite whose problems cannot be built here (a missing optional module)."""


def _spectrum(n, cond, rng):
    """``n`` eigenvalues in ``[1/cond, 1]``, log-uniform, both ends included."""
    u = np.sort(rng.uniform(0.0, 1.0, n))
    u[0], u[-1] = 0.0, 1.0
    return cond ** (-u)


def _quadratic_suite(n=100, seed=0):
    rng = np.random.default_rng(seed)
    problems = []
    for i, cond in enumerate(CONDITION_NUMBERS):
        problems.append(classic.quadratic(_spectrum(n, cond, rng), seed=seed + i))
    for i, cond in enumerate(CONDITION_NUMBERS):
        s = np.sqrt(_spectrum(n, cond, rng))
        problems.append(classic.least_squares(s, m=2 * n, seed=seed + 100 + i))
    return problems


def _classic_suite():
    return (classic.small_problems() + classic.scalable_problems(100) + [classic.trid(100)]
            + classic.scalable_problems(10**4))


def _scale_suite():
    return classic.scalable_problems(10**6)


def _quick_suite():
    rng = np.random.default_rng(0)
    return [
        classic.rosenbrock(), classic.beale(), classic.helical_valley(), classic.wood(),
        classic.powell_singular(), classic.extended_rosenbrock(100), classic.dixon_price(100),
        classic.quadratic(_spectrum(50, 1e3, rng), seed=1),
        classic.least_squares(np.sqrt(_spectrum(50, 1e4, rng)), seed=2),
        logistic_regression(400, 20, seed=0),
    ]


def _channel_suite():
    try:
        module = importlib.import_module("learnedmin.problems.channel")
    except ImportError as exc:
        raise SuiteUnavailable(f"learnedmin.problems.channel cannot be imported ({exc})") from exc
    build = getattr(module, "bench_problems", None)
    if build is None:
        raise SuiteUnavailable("learnedmin.problems.channel has no bench_problems(seed=0)")
    return [as_problem(p) for p in build(seed=0)]


#: Suite name -> (builder, one-line description).
SUITES = {
    "quick": (_quick_suite, "10 small problems from the other suites (< 1 min)"),
    "classic": (_classic_suite, "MGH and classical functions, n <= 10, and scalable ones at "
                                "n = 100 and 10^4"),
    "scale": (_scale_suite, "scalable classical functions at n = 10^6"),
    "quadratic": (_quadratic_suite, "random quadratics and least squares, n = 100, "
                                    "cond 10..10^6"),
    "data": (data_problems, "logistic regression and small MLP fits on generated data"),
    "channel": (_channel_suite, "specular-path channel estimation "
                                "(learnedmin.problems.channel.bench_problems)"),
}


def as_problem(obj):
    """A :class:`~learnedmin.problems.classic.Problem` from any object with the same attributes.

    Needs ``name``, ``fun``, ``jac`` and ``x0``; ``f_star``, ``x_star``, ``hessp``, ``spectrum``
    and ``note`` are optional.
    """
    if isinstance(obj, classic.Problem):
        return obj
    missing = [a for a in ("name", "fun", "jac", "x0") if not hasattr(obj, a)]
    if missing:
        raise TypeError(f"benchmark problem {obj!r} lacks {', '.join(missing)}")
    x0 = np.asarray(obj.x0, dtype=np.float64).ravel()
    return classic.Problem(
        name=str(obj.name), n=x0.size, fun=obj.fun, jac=obj.jac,
        hessp=getattr(obj, "hessp", None), x0=x0, f_star=getattr(obj, "f_star", None),
        x_star=getattr(obj, "x_star", None), spectrum=getattr(obj, "spectrum", None),
        note=getattr(obj, "note", "") or "",
    )


@functools.lru_cache(maxsize=None)
def _built(name):
    problems = SUITES[name][0]()
    names = [p.name for p in problems]
    if len(set(names)) != len(names):
        raise ValueError(f"suite {name!r} has duplicate problem names")
    return tuple(problems)


def suite_problems(name):
    """The problems of suite ``name`` (built once per process).

    Raises
    ------
    ValueError
        For an unknown suite (the message lists the valid ones).
    SuiteUnavailable
        When the suite's optional module is missing.
    """
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}")
    return list(_built(name))


def get_problem(suite, name):
    """The problem called ``name`` in ``suite``."""
    for p in _built(suite):
        if p.name == name:
            return p
    raise KeyError(f"suite {suite!r} has no problem {name!r}")
