"""Shared test helpers: small problems with known solutions."""

import numpy as np


def quadratic(A, b=None):
    """f(x) = 1/2 x'Ax - b'x with gradient and Hessian-vector product."""
    b = np.zeros(A.shape[0]) if b is None else b

    def f(x):
        return 0.5 * x @ A @ x - b @ x

    def g(x):
        return A @ x - b

    def hp(x, p):
        return A @ p

    return f, g, hp


def random_spd(rng, n, cond):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = np.geomspace(1.0, cond, n)
    return (Q * eig) @ Q.T


def central_differences(f, x, steps):
    """Central differences of a vector function ``f`` at ``x``; column ``i`` uses ``steps[i]``."""
    cols = []
    for i, h in enumerate(steps):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(cols, axis=-1)
