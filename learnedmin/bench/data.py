"""Data-fitting problems on data generated here with fixed seeds: logistic regression, a small MLP.

Both are returned as :class:`learnedmin.problems.classic.Problem`. Logistic regression is
strongly convex (an L2 term) and its ``f*`` is computed here by Newton's method to machine
precision; the network fit is non-convex, so ``f*`` is left unknown and a benchmark compares to
the best value any method finds.
"""

import numpy as np
from scipy.special import expit

from ..problems.classic import Problem

__all__ = ["logistic_regression", "mlp_regression", "data_problems"]


def logistic_regression(m=400, d=20, feature_cond=1.0, reg=None, seed=0, name=None):
    """L2-regularised logistic regression ``mean log(1 + exp(-y_i a_i'w)) + reg/2 |w|^2``.

    Parameters
    ----------
    m, d : int
        Samples and features.
    feature_cond : float
        Feature columns are scaled by factors log-spaced in ``[1, feature_cond]`` (``1``: all
        standard normal), which sets the conditioning.
    reg : float, optional
        Regularisation; default ``1/m``.
    seed : int
        Seed of :func:`numpy.random.default_rng` (data, true weights, label noise).
    name : str, optional
        Defaults to ``"logistic[m x d]"`` (plus the feature scaling when not 1).

    Returns
    -------
    Problem
        Start at the origin, ``f*`` by Newton's method, ``hessp`` analytic.
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, d)) * np.logspace(0.0, np.log10(feature_cond), d)
    w_true = rng.standard_normal(d) / np.sqrt(d)
    margin = a @ w_true
    y = np.where(rng.random(m) < expit(2.0 * margin / (np.std(margin) + 1e-12)), 1.0, -1.0)
    ya = y[:, None] * a
    reg = 1.0 / m if reg is None else reg

    def fun(w):
        return float(np.mean(np.logaddexp(0.0, -(ya @ w))) + 0.5 * reg * (w @ w))

    def jac(w):
        return -(ya.T @ expit(-(ya @ w))) / m + reg * w

    def hessp(w, v):
        s = expit(ya @ w)
        return ya.T @ (s * (1.0 - s) * (ya @ v)) / m + reg * v

    w_star = _newton(jac, lambda w: (ya.T * (expit(ya @ w) * expit(-(ya @ w)))) @ ya / m
                     + reg * np.eye(d), np.zeros(d))
    label = name or (f"logistic[{m}x{d}]" if feature_cond == 1 else
                     f"logistic[{m}x{d},scaled {feature_cond:.0e}]")
    return Problem(name=label, n=d, fun=fun, jac=jac, hessp=hessp, x0=np.zeros(d),
                   f_star=fun(w_star), x_star=w_star)


def _newton(jac, hess, w, iterations=50):
    """Plain Newton iterations for a smooth strongly convex function (converges from 0 here)."""
    for _ in range(iterations):
        g = jac(w)
        if np.max(np.abs(g)) < 1e-15:
            break
        w = w - np.linalg.solve(hess(w), g)
    return w


def mlp_regression(hidden=16, m=200, seed=0, name=None):
    """Least-squares fit of a one-hidden-layer tanh network to noisy 1-d data.

    The target is ``sin(3 t) + 0.3 t`` on ``t`` uniform in ``[-2, 2]`` plus noise of standard
    deviation 0.05; the loss is ``mean (net(t) - y)^2 / 2``. The start is a scaled Gaussian
    initialisation from ``seed``. ``f*`` is unknown (non-convex).

    Returns
    -------
    Problem
    """
    rng = np.random.default_rng(seed)
    t = rng.uniform(-2.0, 2.0, m)
    y = np.sin(3.0 * t) + 0.3 * t + 0.05 * rng.standard_normal(m)
    h = hidden

    def unpack(p):
        return p[:h], p[h:2 * h], p[2 * h:3 * h], p[3 * h]

    def forward(p):
        w1, b1, w2, b2 = unpack(p)
        z = np.tanh(np.outer(t, w1) + b1)
        return z, z @ w2 + b2 - y

    def fun(p):
        _, r = forward(p)
        return float(0.5 * np.mean(r * r))

    def jac(p):
        w1, b1, w2, b2 = unpack(p)
        z, r = forward(p)
        dz = (r[:, None] * w2) * (1.0 - z * z) / m
        return np.concatenate([t @ dz, dz.sum(axis=0), z.T @ r / m, [r.mean()]])

    p0 = np.concatenate([rng.standard_normal(h), rng.standard_normal(h),
                         rng.standard_normal(h) / np.sqrt(h), [0.0]])
    return Problem(name=name or f"mlp[1-{h}-1]", n=3 * h + 1, fun=fun, jac=jac, x0=p0,
                   note="non-convex: compared to the best value found")


def data_problems(seed=0):
    """The ``data`` suite: three logistic regressions and two network fits.

    Returns
    -------
    list of Problem
    """
    return [
        logistic_regression(400, 20, seed=seed),
        logistic_regression(400, 20, feature_cond=100.0, seed=seed + 1),
        logistic_regression(2000, 200, seed=seed + 2),
        mlp_regression(8, seed=seed),
        mlp_regression(16, seed=seed + 1),
    ]
