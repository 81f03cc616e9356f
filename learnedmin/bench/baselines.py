"""Classical fixed-step baselines as SciPy custom methods: heavy ball, Nesterov, Chebyshev steps.

Each is called by :func:`scipy.optimize.minimize` like any custom method and uses gradients only
(one ``jac`` call per iteration, never ``fun``). They stop when ``max|g| <= gtol``, after
``maxiter`` iterations, or when the gradient is no longer finite (divergence).

Step sizes and momenta come from the problem's Hessian spectrum ``(mu, L)`` when it is known
(convex quadratics), and otherwise from a small grid searched per problem by
:func:`tune_momentum` (see that function for how, and why it flatters the baselines).
"""

import math

import numpy as np
from scipy.optimize import OptimizeResult

from .._status import MAXITER, MESSAGES, NONFINITE, SUCCESS

__all__ = [
    "heavy_ball",
    "nesterov",
    "chebyshev",
    "chebyshev_steps",
    "heavy_ball_theory",
    "nesterov_theory",
    "tune_momentum",
]

# The package's status table; these methods never call ``fun``, so divergence shows in ``jac``.
_STATUS = {**MESSAGES,
           NONFINITE: "NaN or infinite value encountered in `jac`: the iteration diverged."}


def _result(x, k, status, g):
    return OptimizeResult(x=x, nit=k, status=status, success=status == SUCCESS,
                          message=_STATUS[status], jac=g)


def _iterate(jac, x0, args, step, gtol, maxiter):
    """Drive ``step(k, x, g) -> x_next`` until the gradient test, ``maxiter`` or divergence."""
    x = np.array(x0, dtype=np.float64)
    g = np.asarray(jac(x, *args), dtype=np.float64)
    # A diverging run overflows to inf before the finiteness test stops it: that is a status,
    # not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(maxiter + 1):
            if not np.all(np.isfinite(g)):
                return _result(x, k, NONFINITE, g)
            if np.max(np.abs(g)) <= gtol:
                return _result(x, k, SUCCESS, g)
            if k == maxiter:
                break
            x = step(k, x, g)
            g = np.asarray(jac(x, *args), dtype=np.float64)
    return _result(x, maxiter, MAXITER, g)


def heavy_ball(fun, x0, args=(), jac=None, step=None, momentum=None, gtol=1e-5, maxiter=1000,
               **_):
    """Polyak's heavy ball ``x+ = x - step * g(x) + momentum * (x - x_prev)``.

    Parameters
    ----------
    fun : callable
        Ignored (the method uses gradients only); present for SciPy's calling convention.
    x0 : ndarray
        Start.
    jac : callable
        Gradient; required.
    step, momentum : float
        Step size ``alpha > 0`` and momentum ``0 <= beta < 1``.
    gtol : float
        Stop when ``max|g| <= gtol``.
    maxiter : int
        Maximum number of iterations (gradient calls after the first).

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x, nit, status, success, message, jac`` (no ``fun``: the method never evaluates it).
    """
    _check(jac, step, momentum)
    prev = [np.array(x0, dtype=np.float64)]

    def update(k, x, g):
        x_new = x - step * g + momentum * (x - prev[0])
        prev[0] = x
        return x_new

    return _iterate(jac, x0, args, update, gtol, maxiter)


def nesterov(fun, x0, args=(), jac=None, step=None, momentum=None, gtol=1e-5, maxiter=1000, **_):
    """Nesterov's accelerated gradient with constant momentum (strongly convex form).

    ``y = x + momentum * (x - x_prev)``, ``x+ = y - step * g(y)``; the gradient is taken at the
    extrapolated point, so the run's iterate (and its stopping test) is ``y``. Parameters as
    :func:`heavy_ball`.
    """
    _check(jac, step, momentum)
    state = {"x": np.array(x0, dtype=np.float64)}

    def update(k, y, g):
        x_new = y - step * g
        y_new = x_new + momentum * (x_new - state["x"])
        state["x"] = x_new
        return y_new

    return _iterate(jac, x0, args, update, gtol, maxiter)


def chebyshev_steps(mu, L, period=16):
    """Chebyshev step sizes ``1 / lambda_k`` over one period (Takabe & Wadayama, 2022).

    ``lambda_k = (L + mu)/2 + (L - mu)/2 cos((2k + 1) pi / (2T))`` are the zeros of the degree-``T``
    Chebyshev polynomial mapped to ``[mu, L]``; after a full period of gradient steps the error
    is multiplied by the Chebyshev polynomial, the minimax optimum on the spectrum. The steps are
    applied large and small alternately (``k = 0, T-1, 1, T-2, ...``): mathematically the order
    does not matter, numerically it keeps intermediate iterates from growing by up to
    ``(L/mu)**(T/2)``.
    """
    if not (0 < mu <= L and math.isfinite(L)):
        raise ValueError(f"Chebyshev steps need 0 < mu <= L < inf; got mu={mu}, L={L}")
    k = np.arange(period)
    lam = 0.5 * (L + mu) + 0.5 * (L - mu) * np.cos((2 * k + 1) * np.pi / (2 * period))
    order = np.empty(period, dtype=int)
    order[0::2] = k[: (period + 1) // 2]
    order[1::2] = k[::-1][: period // 2]
    return 1.0 / lam[order]


def chebyshev(fun, x0, args=(), jac=None, spectrum=None, period=16, gtol=1e-5, maxiter=1000,
              **_):
    """Gradient descent with periodic Chebyshev steps for a Hessian spectrum in ``[mu, L]``.

    Parameters
    ----------
    spectrum : tuple of float
        ``(mu, L)``, the extreme eigenvalues of the (constant) Hessian.
    period : int
        ``T``, the number of distinct steps applied cyclically.

    Other parameters as :func:`heavy_ball`.
    """
    if jac is None or spectrum is None:
        raise ValueError("chebyshev needs 'jac' and 'spectrum' = (mu, L)")
    steps = chebyshev_steps(*spectrum, period=period)
    return _iterate(jac, x0, args, lambda k, x, g: x - steps[k % period] * g, gtol, maxiter)


def _check(jac, step, momentum):
    if jac is None:
        raise ValueError("this method needs the gradient 'jac'")
    if step is None or not step > 0:
        raise ValueError(f"'step' must be > 0; got {step!r}")
    if momentum is None or not 0 <= momentum < 1:
        raise ValueError(f"'momentum' must satisfy 0 <= momentum < 1; got {momentum!r}")


def heavy_ball_theory(mu, L):
    """Polyak's optimal heavy-ball parameters on a quadratic with spectrum ``[mu, L]``.

    ``alpha = 4 / (sqrt L + sqrt mu)^2``, ``beta = ((sqrt L - sqrt mu) / (sqrt L + sqrt mu))^2``.
    """
    a, b = math.sqrt(L), math.sqrt(mu)
    return {"step": 4.0 / (a + b) ** 2, "momentum": ((a - b) / (a + b)) ** 2}


def nesterov_theory(mu, L):
    """Nesterov's constant-momentum parameters: ``alpha = 1/L``, ``beta = (sqrt k - 1)/(sqrt k + 1)``."""
    q = math.sqrt(L / mu)
    return {"step": 1.0 / L, "momentum": (q - 1.0) / (q + 1.0)}


#: Grid of :func:`tune_momentum`: step multipliers of ``1 / L_hat`` and momenta.
STEP_FACTORS = (1e-3, 1e-2, 1e-1, 0.5, 1.0, 2.0)
MOMENTA = (0.0, 0.5, 0.9, 0.99)


def _curvature_estimate(problem, x0):
    """``L_hat = |g(x0 + t u) - g(x0)| / t`` along ``u = -g/|g|``: local curvature at the start."""
    with np.errstate(all="ignore"):
        g = np.asarray(problem.jac(x0.copy()), dtype=np.float64)
        gn = np.linalg.norm(g)
        if not np.isfinite(gn) or gn == 0:
            return 1.0
        t = 1e-4 * max(1.0, float(np.max(np.abs(x0))))
        g2 = np.asarray(problem.jac(x0 - t * g / gn), dtype=np.float64)
        L = np.linalg.norm(g2 - g) / t
    return float(L) if np.isfinite(L) and L > 0 else 1.0


def tune_momentum(method, problem, iterations, gtol, threshold=None):
    """Grid-search ``step`` and ``momentum`` for ``method`` on ``problem`` (uncounted calls).

    The grid is ``step = c / L_hat`` for ``c`` in :data:`STEP_FACTORS` (``L_hat`` a finite-
    difference curvature estimate at the start) times ``momentum`` in :data:`MOMENTA`. Each
    pair runs ``iterations`` iterations; the winner is the pair that first reaches ``threshold``
    (fewest iterations), or else the lowest final ``f``. The tuning calls are *not* charged to
    the method: the benchmark reports an oracle-tuned baseline, an upper bound on what a user
    tuning by hand would see.

    Returns
    -------
    dict
        ``{"step": ..., "momentum": ...}``.
    """
    x0 = np.array(problem.x0, dtype=np.float64)
    L_hat = _curvature_estimate(problem, x0)
    best_key, best = None, None
    for c in STEP_FACTORS:
        for beta in MOMENTA:
            params = {"step": c / L_hat, "momentum": beta}
            state = {"calls": 0, "reached": math.inf}

            def jac(x, state=state):
                state["calls"] += 1
                with np.errstate(all="ignore"):
                    g = np.asarray(problem.jac(x), dtype=np.float64)
                    if (threshold is not None and state["reached"] == math.inf
                            and problem.fun(x) <= threshold):
                        state["reached"] = state["calls"]
                return g

            res = method(None, x0, jac=jac, gtol=gtol, maxiter=iterations, **params)
            with np.errstate(all="ignore"):
                f = float(problem.fun(res.x))
            reached = state["reached"]
            key = (reached, f if np.isfinite(f) else math.inf)
            if best_key is None or key < best_key:
                best_key, best = key, params
    return best
