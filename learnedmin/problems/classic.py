"""Smooth unconstrained test problems with analytic gradients and known minima.

Most definitions follow Moré, Garbow & Hillstrom, "Testing unconstrained optimization software",
ACM TOMS 7 (1981) 17-41 (cited below as *MGH* with the problem number); the standard starting
point is theirs. A few common non-MGH functions (Dixon-Price, Zakharov, Trid, an ellipsoid, a
separable quartic) and convex quadratics / linear least squares with a prescribed spectrum
complete the zoo.

Every problem is a :class:`Problem`: a small immutable record holding ``fun``, ``jac``, optional
``hessp``, the standard start ``x0``, the minimum value ``f_star`` and, where it is known in
closed form, a minimiser ``x_star``. All functions are vectorised numpy (no dense ``n x n``
matrix except the explicitly dense quadratic generators), so the scalable problems run at
``n = 10**6``.

>>> import numpy as np
>>> from scipy.optimize import minimize
>>> from learnedmin.problems.classic import wood
>>> p = wood()
>>> res = minimize(p.fun, p.x0, jac=p.jac, method="BFGS")
>>> bool(res.fun - p.f_star < 1e-8)
True
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

__all__ = [
    "Problem",
    "rosenbrock",
    "extended_rosenbrock",
    "freudenstein_roth",
    "powell_badly_scaled",
    "brown_badly_scaled",
    "beale",
    "helical_valley",
    "box_3d",
    "powell_singular",
    "extended_powell",
    "wood",
    "biggs_exp6",
    "variably_dimensioned",
    "trigonometric",
    "discrete_boundary_value",
    "broyden_tridiagonal",
    "dixon_price",
    "zakharov",
    "trid",
    "ellipsoid",
    "separable_quartic",
    "quadratic",
    "least_squares",
    "small_problems",
    "scalable_problems",
    "SCALABLE",
]


@dataclass(frozen=True, kw_only=True)
class Problem:
    """An unconstrained minimisation problem with a known (or unknown) minimum.

    Parameters
    ----------
    name : str
        Unique, human-readable name (scalable problems carry their size, ``"dixon_price[100]"``).
    n : int
        Number of variables.
    fun, jac : callable
        ``fun(x) -> float`` and ``jac(x) -> (n,) array``.
    hessp : callable or None
        ``hessp(x, v) -> (n,) array``, the Hessian-vector product, where it is cheap.
    x0 : ndarray
        The standard starting point (read-only; copy it before handing it to a solver that
        writes into its argument).
    f_star : float or None
        The minimum value, ``None`` when it is not known (a benchmark then uses the best value
        found by any method).
    x_star : ndarray or None
        A minimiser, where it is known in closed form.
    spectrum : tuple of float or None
        ``(mu, L)``: bounds on the Hessian's eigenvalues for convex quadratics (used by the
        classical baselines that need them: Chebyshev steps, theory-tuned heavy ball).
    note : str
        Anything a reader of a benchmark table should know (a local minimum, a singular
        Hessian).
    """

    name: str
    n: int
    fun: Callable
    jac: Callable
    hessp: Optional[Callable] = None
    x0: np.ndarray
    f_star: Optional[float] = None
    x_star: Optional[np.ndarray] = None
    spectrum: Optional[tuple] = None
    note: str = ""

    def __post_init__(self):
        x0 = _frozen(self.x0)
        if x0.shape != (self.n,):
            raise ValueError(f"problem {self.name!r}: x0 has shape {x0.shape}, expected "
                             f"({self.n},)")
        object.__setattr__(self, "x0", x0)
        if self.x_star is not None:
            object.__setattr__(self, "x_star", _frozen(self.x_star))
        if self.f_star is not None:
            object.__setattr__(self, "f_star", float(self.f_star))

    def __repr__(self):
        return f"Problem({self.name!r}, n={self.n}, f_star={self.f_star!r})"


def _frozen(x):
    x = np.array(x, dtype=np.float64)
    x.flags.writeable = False
    return x


def _least_squares_problem(name, residual, jacobian, x0, **fields):
    """``f = sum r_i(x)^2`` and ``grad f = 2 J^T r`` (MGH's form of every problem they list)."""

    # Far from the start a residual can pass 1e154: its square overflows to inf, which is the
    # value (a point the method must leave), not an error of the problem.
    def fun(x):
        r = residual(x)
        with np.errstate(over="ignore"):
            return float(r @ r)

    def jac(x):
        return 2.0 * (jacobian(x).T @ residual(x))

    x0 = np.asarray(x0, dtype=np.float64)
    return Problem(name=name, n=x0.size, fun=fun, jac=jac, x0=x0, **fields)


# --------------------------------------------------------------------------------------------
# MGH problems of fixed size
# --------------------------------------------------------------------------------------------


def rosenbrock():
    """Rosenbrock's banana valley (MGH 1), ``n = 2``, from ``(-1.2, 1)``; ``f* = 0`` at ``(1, 1)``."""
    p = extended_rosenbrock(2)
    return Problem(name="rosenbrock", n=2, fun=p.fun, jac=p.jac, hessp=p.hessp, x0=p.x0,
                   f_star=0.0, x_star=p.x_star)


def freudenstein_roth():
    """Freudenstein and Roth (MGH 2), from ``(0.5, -2)``; ``f* = 0`` at ``(5, 4)``.

    A local minimum ``f = 48.9842...`` at ``(11.41..., -0.8968...)`` attracts many methods.
    """

    def residual(x):
        x1, x2 = x
        return np.array([-13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2,
                         -29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2])

    def jacobian(x):
        x2 = x[1]
        return np.array([[1.0, 10.0 * x2 - 3.0 * x2**2 - 2.0],
                         [1.0, 3.0 * x2**2 + 2.0 * x2 - 14.0]])

    return _least_squares_problem(
        "freudenstein_roth", residual, jacobian, [0.5, -2.0], f_star=0.0, x_star=[5.0, 4.0],
        note="local minimum f = 48.9842 at (11.41, -0.8968)",
    )


def powell_badly_scaled():
    """Powell's badly scaled function (MGH 3), from ``(0, 1)``; ``f* = 0`` near ``(1.098e-5, 9.106)``."""

    # exp(-x) overflows to inf for x < -709: the residual is infinite there, not undefined.
    def residual(x):
        x1, x2 = x
        with np.errstate(over="ignore"):
            return np.array([1e4 * x1 * x2 - 1.0, np.exp(-x1) + np.exp(-x2) - 1.0001])

    def jacobian(x):
        x1, x2 = x
        with np.errstate(over="ignore"):
            return np.array([[1e4 * x2, 1e4 * x1], [-np.exp(-x1), -np.exp(-x2)]])

    return _least_squares_problem("powell_badly_scaled", residual, jacobian, [0.0, 1.0],
                                  f_star=0.0)


def brown_badly_scaled():
    """Brown's badly scaled function (MGH 4), from ``(1, 1)``; ``f* = 0`` at ``(1e6, 2e-6)``."""

    def residual(x):
        x1, x2 = x
        return np.array([x1 - 1e6, x2 - 2e-6, x1 * x2 - 2.0])

    def jacobian(x):
        x1, x2 = x
        return np.array([[1.0, 0.0], [0.0, 1.0], [x2, x1]])

    return _least_squares_problem("brown_badly_scaled", residual, jacobian, [1.0, 1.0],
                                  f_star=0.0, x_star=[1e6, 2e-6])


_BEALE_Y = np.array([1.5, 2.25, 2.625])
_BEALE_I = np.array([1.0, 2.0, 3.0])


def beale():
    """Beale's function (MGH 5), from ``(1, 1)``; ``f* = 0`` at ``(3, 0.5)``."""

    def residual(x):
        x1, x2 = x
        return _BEALE_Y - x1 * (1.0 - x2**_BEALE_I)

    def jacobian(x):
        x1, x2 = x
        return np.column_stack([-(1.0 - x2**_BEALE_I), x1 * _BEALE_I * x2**(_BEALE_I - 1.0)])

    return _least_squares_problem("beale", residual, jacobian, [1.0, 1.0], f_star=0.0,
                                  x_star=[3.0, 0.5])


def _helical_theta(x1, x2):
    # MGH 7: 2 pi theta = arctan(x2 / x1), plus pi when x1 < 0 (so theta is continuous across
    # x2 = 0 on the negative x1 axis, where the start lies).
    if x1 > 0:
        return np.arctan(x2 / x1) / (2 * np.pi)
    if x1 < 0:
        return np.arctan(x2 / x1) / (2 * np.pi) + 0.5
    return 0.25 * np.sign(x2)


def helical_valley():
    """Helical valley (MGH 7), from ``(-1, 0, 0)``; ``f* = 0`` at ``(1, 0, 0)``."""

    def residual(x):
        x1, x2, x3 = x
        return np.array([10.0 * (x3 - 10.0 * _helical_theta(x1, x2)),
                         10.0 * (np.hypot(x1, x2) - 1.0), x3])

    def jacobian(x):
        x1, x2, _ = x
        rho2 = x1**2 + x2**2
        rho = np.sqrt(rho2)
        dtheta = np.array([-x2, x1]) / (2 * np.pi * rho2)
        return np.array([[-100.0 * dtheta[0], -100.0 * dtheta[1], 10.0],
                         [10.0 * x1 / rho, 10.0 * x2 / rho, 0.0],
                         [0.0, 0.0, 1.0]])

    return _least_squares_problem("helical_valley", residual, jacobian, [-1.0, 0.0, 0.0],
                                  f_star=0.0, x_star=[1.0, 0.0, 0.0])


_BOX_T = 0.1 * np.arange(1, 11)


def box_3d():
    """Box three-dimensional function (MGH 12, ``m = 10``), from ``(0, 10, 20)``; ``f* = 0`` at ``(1, 10, 1)``."""
    c = np.exp(-_BOX_T) - np.exp(-10.0 * _BOX_T)

    def residual(x):
        x1, x2, x3 = x
        return np.exp(-_BOX_T * x1) - np.exp(-_BOX_T * x2) - x3 * c

    def jacobian(x):
        x1, x2, _ = x
        return np.column_stack([-_BOX_T * np.exp(-_BOX_T * x1), _BOX_T * np.exp(-_BOX_T * x2),
                                -c])

    return _least_squares_problem("box_3d", residual, jacobian, [0.0, 10.0, 20.0], f_star=0.0,
                                  x_star=[1.0, 10.0, 1.0],
                                  note="also zero on the line x1 = x2, x3 = 0")


def powell_singular():
    """Powell's singular function (MGH 13), from ``(3, -1, 0, 1)``; ``f* = 0`` at the origin.

    The Hessian is singular at the solution: convergence is only linear.
    """
    p = extended_powell(4)
    return Problem(name="powell_singular", n=4, fun=p.fun, jac=p.jac, hessp=p.hessp, x0=p.x0,
                   f_star=0.0, x_star=p.x_star, note=p.note)


def wood():
    """Wood's function (MGH 14), from ``(-3, -1, -3, -1)``; ``f* = 0`` at ``(1, 1, 1, 1)``."""

    def parts(x):
        x1, x2, x3, x4 = x
        return x2 - x1**2, x4 - x3**2, x2 + x4 - 2.0, x2 - x4

    def fun(x):
        t1, t2, w, d = parts(x)
        x1, x3 = x[0], x[2]
        return float(100 * t1**2 + (1 - x1)**2 + 90 * t2**2 + (1 - x3)**2 + 10 * w**2
                     + 0.1 * d**2)

    def jac(x):
        t1, t2, w, d = parts(x)
        x1, x3 = x[0], x[2]
        return np.array([-400 * x1 * t1 - 2 * (1 - x1), 200 * t1 + 20 * w + 0.2 * d,
                         -360 * x3 * t2 - 2 * (1 - x3), 180 * t2 + 20 * w - 0.2 * d])

    def hessp(x, v):
        t1, t2, _, _ = parts(x)
        x1, x3 = x[0], x[2]
        v1, v2, v3, v4 = v
        dt1, dt2, dw, dd = v2 - 2 * x1 * v1, v4 - 2 * x3 * v3, v2 + v4, v2 - v4
        return np.array([-400 * (v1 * t1 + x1 * dt1) + 2 * v1, 200 * dt1 + 20 * dw + 0.2 * dd,
                         -360 * (v3 * t2 + x3 * dt2) + 2 * v3, 180 * dt2 + 20 * dw - 0.2 * dd])

    return Problem(name="wood", n=4, fun=fun, jac=jac, hessp=hessp, x0=[-3.0, -1.0, -3.0, -1.0],
                   f_star=0.0, x_star=np.ones(4),
                   note="a non-optimal stationary point with f = 7.8769 stops some methods")


_BIGGS_T = 0.1 * np.arange(1, 14)
_BIGGS_Y = np.exp(-_BIGGS_T) - 5 * np.exp(-10 * _BIGGS_T) + 3 * np.exp(-4 * _BIGGS_T)


def biggs_exp6():
    """Biggs EXP6 (MGH 18, ``m = 13``), from ``(1, 2, 1, 1, 1, 1)``; ``f* = 0`` at ``(1, 10, 1, 5, 4, 3)``.

    A local minimum ``f = 5.65565e-3`` attracts many methods.
    """
    t = _BIGGS_T

    def residual(x):
        x1, x2, x3, x4, x5, x6 = x
        return x3 * np.exp(-t * x1) - x4 * np.exp(-t * x2) + x6 * np.exp(-t * x5) - _BIGGS_Y

    def jacobian(x):
        x1, x2, x3, x4, x5, x6 = x
        e1, e2, e5 = np.exp(-t * x1), np.exp(-t * x2), np.exp(-t * x5)
        return np.column_stack([-t * x3 * e1, t * x4 * e2, e1, -e2, -t * x6 * e5, e5])

    return _least_squares_problem(
        "biggs_exp6", residual, jacobian, [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], f_star=0.0,
        x_star=[1.0, 10.0, 1.0, 5.0, 4.0, 3.0], note="local minimum f = 5.65565e-3",
    )


def variably_dimensioned(n=10):
    """Variably dimensioned function (MGH 25), from ``x_j = 1 - j/n``; ``f* = 0`` at ones."""
    j = np.arange(1, n + 1, dtype=np.float64)

    def fun(x):
        e = x - 1.0
        s = j @ e
        return float(e @ e + s**2 + s**4)

    def jac(x):
        e = x - 1.0
        s = j @ e
        return 2.0 * e + (2.0 * s + 4.0 * s**3) * j

    def hessp(x, v):
        s = j @ (x - 1.0)
        return 2.0 * v + (2.0 + 12.0 * s**2) * (j @ v) * j

    return Problem(name=_sized("variably_dimensioned", n, 10), n=n, fun=fun, jac=jac,
                   hessp=hessp, x0=1.0 - j / n, f_star=0.0, x_star=np.ones(n))


def _sum_of_squares(residual, jt_times):
    """``f = |r|^2`` and its gradient ``2 J'r`` from the residual and the product with ``J'``."""
    def fun(x):
        r = residual(x)
        return float(r @ r)

    def jac(x):
        return 2.0 * jt_times(x, residual(x))

    return fun, jac


def discrete_boundary_value(n=10):
    """Discrete boundary value function (MGH 28), from ``x_i = t_i (t_i - 1)``; ``f* = 0``.

    The Jacobian is a discrete Laplacian plus a cubic term: its condition number grows like
    ``n**2`` (``n**4`` for the Hessian of ``f``).
    """
    h = 1.0 / (n + 1)
    t = h * np.arange(1, n + 1)

    def residual(x):
        r = 2.0 * x + 0.5 * h**2 * (x + t + 1.0) ** 3
        r[1:] -= x[:-1]
        r[:-1] -= x[1:]
        return r

    def jt_times(x, r):
        # J is symmetric tridiagonal: diagonal 2 + 1.5 h^2 (x + t + 1)^2, off-diagonals -1.
        out = (2.0 + 1.5 * h**2 * (x + t + 1.0) ** 2) * r
        out[1:] -= r[:-1]
        out[:-1] -= r[1:]
        return out

    fun, jac = _sum_of_squares(residual, jt_times)

    def hessp(x, v):
        r = residual(x)
        return 2.0 * (jt_times(x, jt_times(x, v)) + 3.0 * h**2 * (x + t + 1.0) * r * v)

    return Problem(name=_sized("discrete_boundary_value", n, 10), n=n, fun=fun, jac=jac,
                   hessp=hessp, x0=t * (t - 1.0), f_star=0.0)


# --------------------------------------------------------------------------------------------
# Scalable problems (O(n) time and memory)
# --------------------------------------------------------------------------------------------


def _sized(base, n, default):
    return base if n == default else f"{base}[{n}]"


def extended_rosenbrock(n=100):
    """Extended Rosenbrock (MGH 21), ``n`` even, from ``(-1.2, 1, -1.2, 1, ...)``; ``f* = 0`` at ones.

    ``f = sum_i 100 (x_{2i} - x_{2i-1}^2)^2 + (1 - x_{2i-1})^2``: ``n/2`` uncoupled valleys.
    """
    if n % 2:
        raise ValueError(f"extended_rosenbrock needs an even n; got {n}")

    def fun(x):
        a, b = x[0::2], x[1::2]
        t, u = b - a * a, 1.0 - a
        return float(100.0 * (t @ t) + u @ u)

    def jac(x):
        a, b = x[0::2], x[1::2]
        t = b - a * a
        g = np.empty_like(x)
        g[0::2] = -400.0 * a * t - 2.0 * (1.0 - a)
        g[1::2] = 200.0 * t
        return g

    def hessp(x, v):
        a, b = x[0::2], x[1::2]
        va, vb = v[0::2], v[1::2]
        t = b - a * a
        dt = vb - 2.0 * a * va
        out = np.empty_like(x)
        out[0::2] = -400.0 * (va * t + a * dt) + 2.0 * va
        out[1::2] = 200.0 * dt
        return out

    x0 = np.tile([-1.2, 1.0], n // 2)
    return Problem(name=_sized("extended_rosenbrock", n, None), n=n, fun=fun, jac=jac,
                   hessp=hessp, x0=x0, f_star=0.0, x_star=np.ones(n))


def extended_powell(n=100):
    """Extended Powell singular function (MGH 22), ``n % 4 == 0``, from ``(3, -1, 0, 1, ...)``.

    ``f* = 0`` at the origin, where the Hessian is singular (rank ``n/2``).
    """
    if n % 4:
        raise ValueError(f"extended_powell needs n divisible by 4; got {n}")

    def parts(x):
        x1, x2, x3, x4 = x[0::4], x[1::4], x[2::4], x[3::4]
        return x1 + 10.0 * x2, x3 - x4, x2 - 2.0 * x3, x1 - x4

    def fun(x):
        p, q, r, s = parts(x)
        return float(p @ p + 5.0 * (q @ q) + np.sum(r**4) + 10.0 * np.sum(s**4))

    def jac(x):
        p, q, r, s = parts(x)
        r3, s3 = r**3, s**3
        g = np.empty_like(x)
        g[0::4] = 2.0 * p + 40.0 * s3
        g[1::4] = 20.0 * p + 4.0 * r3
        g[2::4] = 10.0 * q - 8.0 * r3
        g[3::4] = -10.0 * q - 40.0 * s3
        return g

    def hessp(x, v):
        _, _, r, s = parts(x)
        dp, dq, dr, ds = parts(v)
        rr, ss = 12.0 * r * r * dr, 120.0 * s * s * ds
        out = np.empty_like(x)
        out[0::4] = 2.0 * dp + ss
        out[1::4] = 20.0 * dp + rr
        out[2::4] = 10.0 * dq - 2.0 * rr
        out[3::4] = -10.0 * dq - ss
        return out

    return Problem(name=_sized("extended_powell", n, None), n=n, fun=fun, jac=jac, hessp=hessp,
                   x0=np.tile([3.0, -1.0, 0.0, 1.0], n // 4), f_star=0.0, x_star=np.zeros(n),
                   note="singular Hessian at the solution")


def trigonometric(n=10):
    """Trigonometric function (MGH 26), from ``x_j = 1/n``; ``f* = 0`` at the origin.

    ``r_i = n - sum_j cos x_j + i (1 - cos x_i) - sin x_i``. Other local minima exist (for
    ``n = 10``, ``f = 2.79506e-5``).
    """
    i = np.arange(1, n + 1, dtype=np.float64)

    def residual(x):
        return n - np.sum(np.cos(x)) + i * (1.0 - np.cos(x)) - np.sin(x)

    def fun(x):
        r = residual(x)
        return float(r @ r)

    def jac(x):
        # dr_i/dx_j = sin x_j + delta_ij (i sin x_i - cos x_i)
        r = residual(x)
        sx, cx = np.sin(x), np.cos(x)
        return 2.0 * (np.sum(r) * sx + r * (i * sx - cx))

    return Problem(name=_sized("trigonometric", n, 10), n=n, fun=fun, jac=jac,
                   x0=np.full(n, 1.0 / n), f_star=0.0, x_star=np.zeros(n),
                   note="other local minima (n = 10: f = 2.79506e-5)")


def broyden_tridiagonal(n=10):
    """Broyden tridiagonal function (MGH 30), from ``x = -1``; ``f* = 0``.

    ``r_i = (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1`` with ``x_0 = x_{n+1} = 0``.
    """

    def residual(x):
        r = (3.0 - 2.0 * x) * x + 1.0
        r[1:] -= x[:-1]
        r[:-1] -= 2.0 * x[1:]
        return r

    def jt_times(x, r):
        # J: diagonal 3 - 4 x_i, sub-diagonal -1, super-diagonal -2.
        out = (3.0 - 4.0 * x) * r
        out[:-1] -= r[1:]
        out[1:] -= 2.0 * r[:-1]
        return out

    def j_times(x, v):
        out = (3.0 - 4.0 * x) * v
        out[1:] -= v[:-1]
        out[:-1] -= 2.0 * v[1:]
        return out

    fun, jac = _sum_of_squares(residual, jt_times)

    def hessp(x, v):
        # the Hessian of r_i is -4 e_i e_i'
        return 2.0 * (jt_times(x, j_times(x, v)) - 4.0 * residual(x) * v)

    return Problem(name=_sized("broyden_tridiagonal", n, 10), n=n, fun=fun, jac=jac,
                   hessp=hessp, x0=-np.ones(n), f_star=0.0)


def dixon_price(n=10):
    """Dixon-Price function, from ones; ``f* = 0`` at ``x_i = 2**(-(2**i - 2) / 2**i)``.

    ``f = (x_1 - 1)^2 + sum_{i>=2} i (2 x_i^2 - x_{i-1})^2``. The sign of ``x_n`` is free, so the
    minimiser is not unique; the one given is positive. Non-optimal stationary points (one with
    ``f = 2/3``) stop some methods.
    """
    w = np.arange(2, n + 1, dtype=np.float64)

    def fun(x):
        d = 2.0 * x[1:] ** 2 - x[:-1]
        return float((x[0] - 1.0) ** 2 + w @ (d * d))

    def jac(x):
        d = 2.0 * x[1:] ** 2 - x[:-1]
        g = np.zeros_like(x)
        g[0] = 2.0 * (x[0] - 1.0)
        g[1:] += 8.0 * w * d * x[1:]
        g[:-1] -= 2.0 * w * d
        return g

    def hessp(x, v):
        d = 2.0 * x[1:] ** 2 - x[:-1]
        dd = 4.0 * x[1:] * v[1:] - v[:-1]
        out = np.zeros_like(x)
        out[0] = 2.0 * v[0]
        out[1:] += 8.0 * w * (dd * x[1:] + d * v[1:])
        out[:-1] -= 2.0 * w * dd
        return out

    # (2^i - 2) / 2^i = 1 - 2^(1 - i): no overflow for large i
    x_star = np.exp2(-1.0 + np.exp2(1.0 - np.arange(1, n + 1, dtype=np.float64)))
    return Problem(name=_sized("dixon_price", n, 10), n=n, fun=fun, jac=jac, hessp=hessp,
                   x0=np.ones(n), f_star=0.0, x_star=x_star)


def ellipsoid(n=100, cond=1e3):
    """Axis-aligned ellipsoid ``f = 1/2 sum_i w_i x_i^2``, ``w`` log-spaced in ``[1, cond]``, from ones.

    ``f* = 0`` at the origin; the spectrum ``(1, cond)`` is known.
    """
    w = np.logspace(0.0, np.log10(cond), n) if n > 1 else np.ones(1)

    def fun(x):
        return float(0.5 * (w @ (x * x)))

    def jac(x):
        return w * x

    def hessp(x, v):
        return w * v

    return Problem(name=f"ellipsoid[{n},{cond:.0e}]", n=n, fun=fun, jac=jac, hessp=hessp,
                   x0=np.ones(n), f_star=0.0, x_star=np.zeros(n),
                   spectrum=(float(w.min()), float(w.max())))


def separable_quartic(n=10**6):
    """A cheap separable function for very large ``n``, from the origin; ``f* = 0`` at ``c``.

    ``f = sum_i w_i (x_i - c_i)^2 / 2 + (x_i - c_i)^4 / 4`` with ``w`` evenly spaced in
    ``[1, 10]`` and ``c_i = sin(i)``. One evaluation costs a few passes over ``x``.
    """
    w = np.linspace(1.0, 10.0, n)
    c = np.sin(np.arange(1, n + 1, dtype=np.float64))

    def fun(x):
        e = x - c
        e2 = e * e
        return float(0.5 * (w @ e2) + 0.25 * (e2 @ e2))

    def jac(x):
        e = x - c
        return (w + e * e) * e

    def hessp(x, v):
        e = x - c
        return (w + 3.0 * e * e) * v

    return Problem(name=f"separable_quartic[{n}]", n=n, fun=fun, jac=jac, hessp=hessp,
                   x0=np.zeros(n), f_star=0.0, x_star=c)


# --------------------------------------------------------------------------------------------
# Other classical functions of small size
# --------------------------------------------------------------------------------------------


def zakharov(n=10):
    """Zakharov function ``sum x_i^2 + S^2 + S^4``, ``S = sum_i i x_i / 2``, from ones; ``f* = 0`` at 0."""
    c = 0.5 * np.arange(1, n + 1, dtype=np.float64)

    def fun(x):
        s = c @ x
        return float(x @ x + s**2 + s**4)

    def jac(x):
        s = c @ x
        return 2.0 * x + (2.0 * s + 4.0 * s**3) * c

    def hessp(x, v):
        s = c @ x
        return 2.0 * v + (2.0 + 12.0 * s**2) * (c @ v) * c

    return Problem(name=_sized("zakharov", n, 10), n=n, fun=fun, jac=jac, hessp=hessp,
                   x0=np.ones(n), f_star=0.0, x_star=np.zeros(n))


def trid(n=10):
    """Trid function ``sum (x_i - 1)^2 - sum x_i x_{i-1}``, from the origin.

    A convex quadratic with ``f* = -n (n + 4) (n - 1) / 6`` at ``x_i = i (n + 1 - i)``; its Hessian
    ``2 I - (shift + shift')`` has eigenvalues ``2 - 2 cos(k pi / (n + 1))``.
    """
    i = np.arange(1, n + 1, dtype=np.float64)

    def fun(x):
        e = x - 1.0
        return float(e @ e - x[1:] @ x[:-1])

    def jac(x):
        g = 2.0 * (x - 1.0)
        g[1:] -= x[:-1]
        g[:-1] -= x[1:]
        return g

    def hessp(x, v):
        out = 2.0 * v
        out[1:] -= v[:-1]
        out[:-1] -= v[1:]
        return out

    mu = 2.0 - 2.0 * np.cos(np.pi / (n + 1))
    L = 2.0 - 2.0 * np.cos(n * np.pi / (n + 1))
    return Problem(name=_sized("trid", n, 10), n=n, fun=fun, jac=jac, hessp=hessp,
                   x0=np.zeros(n), f_star=-n * (n + 4) * (n - 1) / 6.0, x_star=i * (n + 1 - i),
                   spectrum=(float(mu), float(L)))


# --------------------------------------------------------------------------------------------
# Convex quadratics and linear least squares with a prescribed spectrum
# --------------------------------------------------------------------------------------------


def _orthonormal(rng, m, n):
    """An ``m x n`` matrix with orthonormal columns, Haar-distributed (QR of a Gaussian)."""
    q, r = np.linalg.qr(rng.standard_normal((m, n)))
    return q * np.sign(np.diag(r))


def quadratic(eigenvalues, seed=0, name=None):
    """Convex quadratic ``f = 1/2 (x - x*)' A (x - x*)`` with ``A = Q diag(eigenvalues) Q'``.

    ``Q`` is a random orthogonal matrix and ``x*`` a standard normal vector (both from ``seed``);
    the start is the origin and ``f* = 0``. ``A`` is dense: keep ``n`` in the thousands.

    Parameters
    ----------
    eigenvalues : array_like
        The spectrum of the Hessian, all ``> 0``.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    name : str, optional
        Defaults to ``"quadratic[n,cond]"``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.ndim != 1 or lam.size == 0 or not np.all(lam > 0):
        raise ValueError("'eigenvalues' must be a non-empty 1-d array of positive numbers")
    n = lam.size
    rng = np.random.default_rng(seed)
    q = _orthonormal(rng, n, n)
    a = (q * lam) @ q.T
    a = 0.5 * (a + a.T)
    x_star = rng.standard_normal(n)

    def fun(x):
        e = x - x_star
        return float(0.5 * (e @ (a @ e)))

    def jac(x):
        return a @ (x - x_star)

    def hessp(x, v):
        return a @ v

    cond = lam.max() / lam.min()
    return Problem(name=name or f"quadratic[{n},{cond:.0e}]", n=n, fun=fun, jac=jac,
                   hessp=hessp, x0=np.zeros(n), f_star=0.0, x_star=x_star,
                   spectrum=(float(lam.min()), float(lam.max())))


def least_squares(singular_values, m=None, seed=0, name=None):
    """Linear least squares ``f = 1/2 |A x - b|^2`` with ``A``'s singular values prescribed.

    ``A = U diag(s) V'`` (random ``U``: ``m x n`` orthonormal, ``V`` orthogonal); ``b`` has a
    component outside the range of ``A``, so ``f* = 1/2 |b_perp|^2 > 0``. The Hessian ``A'A``
    has spectrum ``(min s^2, max s^2)``; the start is the origin.

    Parameters
    ----------
    singular_values : array_like
        ``n`` positive singular values.
    m : int, optional
        Number of rows, ``>= n + 1`` (default ``2 n``).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    name : str, optional
        Defaults to ``"least_squares[m x n,cond]"`` (``cond`` of ``A'A``).
    """
    s = np.asarray(singular_values, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or not np.all(s > 0):
        raise ValueError("'singular_values' must be a non-empty 1-d array of positive numbers")
    n = s.size
    m = 2 * n if m is None else m
    if m <= n:
        raise ValueError(f"least_squares needs m > n; got m={m}, n={n}")
    rng = np.random.default_rng(seed)
    basis = _orthonormal(rng, m, n + 1)
    u, perp = basis[:, :n], basis[:, n]
    v = _orthonormal(rng, n, n)
    a = (u * s) @ v.T
    x_star = rng.standard_normal(n)
    residual_norm = 0.5 * np.sqrt(n)
    b = a @ x_star + residual_norm * perp

    def fun(x):
        r = a @ x - b
        return float(0.5 * (r @ r))

    def jac(x):
        return a.T @ (a @ x - b)

    def hessp(x, w):
        return a.T @ (a @ w)

    cond = (s.max() / s.min()) ** 2
    return Problem(name=name or f"least_squares[{m}x{n},{cond:.0e}]", n=n, fun=fun, jac=jac,
                   hessp=hessp, x0=np.zeros(n), f_star=0.5 * residual_norm**2, x_star=x_star,
                   spectrum=(float(s.min() ** 2), float(s.max() ** 2)))


# --------------------------------------------------------------------------------------------
# Collections
# --------------------------------------------------------------------------------------------

#: Builders of the scalable problems, each taking ``n`` (a multiple of 4).
SCALABLE = {
    "extended_rosenbrock": extended_rosenbrock,
    "extended_powell": extended_powell,
    "trigonometric": trigonometric,
    "broyden_tridiagonal": broyden_tridiagonal,
    "dixon_price": dixon_price,
    "ellipsoid": ellipsoid,
    "separable_quartic": separable_quartic,
}


def small_problems():
    """The fixed-size problems at their standard size (``n <= 10``), in MGH order.

    Returns
    -------
    list of Problem
    """
    return [
        rosenbrock(), freudenstein_roth(), powell_badly_scaled(), brown_badly_scaled(), beale(),
        helical_valley(), box_3d(), powell_singular(), wood(), biggs_exp6(),
        variably_dimensioned(10), trigonometric(10), discrete_boundary_value(10),
        broyden_tridiagonal(10), dixon_price(10), zakharov(10), trid(10),
    ]


def scalable_problems(n, names=None):
    """The scalable problems at size ``n`` (vectorised: ``n = 10**6`` is fine).

    Parameters
    ----------
    n : int
        Number of variables, a multiple of 4.
    names : iterable of str, optional
        A subset of :data:`SCALABLE` (default: all).

    Returns
    -------
    list of Problem
    """
    names = list(SCALABLE) if names is None else list(names)
    unknown = [name for name in names if name not in SCALABLE]
    if unknown:
        raise ValueError(f"unknown scalable problem(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(SCALABLE)}")
    return [SCALABLE[name](n) for name in names]
