"""The classical test problems: gradients and Hessian products against finite differences, and
the published minimum at the published minimiser."""

import numpy as np
import pytest

from learnedmin.problems import classic

ZOO = (classic.small_problems() + classic.scalable_problems(12)
       + [classic.trid(20), classic.ellipsoid(7, 1e4), classic.variably_dimensioned(6),
          classic.quadratic(np.logspace(-3, 0, 9), seed=3),
          classic.least_squares(np.logspace(0, 1, 6), m=9, seed=4)])
IDS = [p.name for p in ZOO]


def _point(p, seed=0):
    """A reproducible point near the start, away from the solution."""
    rng = np.random.default_rng(seed)
    return np.array(p.x0) + 0.05 * (1.0 + np.abs(p.x0)) * rng.standard_normal(p.n)


def _central(func, x, scale):
    """Central differences of ``func`` (scalar or vector valued), step ``scale * max(1, |x_i|)``."""
    cols = []
    for i in range(x.size):
        h = scale * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        cols.append((np.asarray(func(x + e)) - np.asarray(func(x - e))) / (2 * h))
    return np.array(cols).T


@pytest.mark.parametrize("p", ZOO, ids=IDS)
def test_gradient_matches_central_differences(p):
    x = _point(p)
    g = p.jac(x.copy())
    fd = _central(p.fun, x, 1e-6)
    err = np.max(np.abs(g - fd)) / max(1.0, np.max(np.abs(g)))
    assert g.shape == (p.n,)
    assert err < 1e-4, f"{p.name}: |jac - fd|_inf / max(1, |jac|_inf) = {err:.2e}"


@pytest.mark.parametrize("p", [p for p in ZOO if p.hessp is not None],
                         ids=[p.name for p in ZOO if p.hessp is not None])
def test_hessp_matches_differences_of_the_gradient(p):
    x = _point(p, seed=1)
    v = np.random.default_rng(2).standard_normal(p.n)
    h = 1e-6
    fd = (p.jac(x + h * v) - p.jac(x - h * v)) / (2 * h)
    hv = p.hessp(x.copy(), v.copy())
    err = np.max(np.abs(hv - fd)) / max(1.0, np.max(np.abs(fd)))
    assert err < 1e-5, f"{p.name}: |hessp - fd|_inf / max(1, |fd|_inf) = {err:.2e}"


@pytest.mark.parametrize("p", [p for p in ZOO if p.x_star is not None],
                         ids=[p.name for p in ZOO if p.x_star is not None])
def test_minimum_value_at_the_minimiser(p):
    f = p.fun(np.array(p.x_star))
    g = p.jac(np.array(p.x_star))
    scale = max(1.0, abs(p.f_star))
    assert abs(f - p.f_star) <= 1e-10 * scale, f"{p.name}: f(x*) = {f!r}, f* = {p.f_star!r}"
    assert np.max(np.abs(g)) <= 1e-6 * max(1.0, np.max(np.abs(p.x_star))), \
        f"{p.name}: |grad f(x*)|_inf = {np.max(np.abs(g)):.2e}"


@pytest.mark.parametrize("p", ZOO, ids=IDS)
def test_record_is_consistent(p):
    assert p.x0.shape == (p.n,) and not p.x0.flags.writeable
    assert p.f_star is not None and p.f_star <= p.fun(np.array(p.x0))
    if p.spectrum is not None:
        mu, L = p.spectrum
        assert 0 < mu <= L


def test_spectrum_of_the_quadratic_is_the_prescribed_one():
    lam = np.array([0.01, 0.3, 1.0, 2.0, 5.0])
    p = classic.quadratic(lam, seed=7)
    hessian = np.column_stack([p.hessp(p.x0, e) for e in np.eye(p.n)])
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian), lam, rtol=1e-12, atol=1e-13)
    assert p.spectrum == (0.01, 5.0)


def test_least_squares_minimum_is_the_lstsq_solution():
    s = np.array([0.1, 1.0, 3.0])
    p = classic.least_squares(s, m=5, seed=1)
    a = np.column_stack([p.jac(e) - p.jac(np.zeros(3)) for e in np.eye(3)])  # A'A
    np.testing.assert_allclose(np.linalg.eigvalsh(a), s**2, rtol=1e-12)
    assert p.fun(p.x_star) == pytest.approx(p.f_star, rel=1e-12)


def test_trid_minimum_is_the_linear_solve():
    n = 30
    p = classic.trid(n)
    hessian = np.column_stack([p.hessp(p.x0, e) for e in np.eye(n)])
    b = -p.jac(np.zeros(n))
    x = np.linalg.solve(hessian, b)
    np.testing.assert_allclose(x, p.x_star, rtol=1e-10)
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian)[[0, -1]], p.spectrum, rtol=1e-10)


def test_scalable_problems_run_at_a_million_variables():
    for p in classic.scalable_problems(10**6):
        x = np.array(p.x0)
        f, g = p.fun(x), p.jac(x)
        assert np.isfinite(f) and g.shape == (10**6,) and np.all(np.isfinite(g)), p.name
        if p.hessp is not None:
            assert p.hessp(x, g).shape == (10**6,)


def test_errors_name_the_rule():
    with pytest.raises(ValueError, match="even n"):
        classic.extended_rosenbrock(3)
    with pytest.raises(ValueError, match="divisible by 4"):
        classic.extended_powell(6)
    with pytest.raises(ValueError, match="positive"):
        classic.quadratic([1.0, -1.0])
    with pytest.raises(ValueError, match="m > n"):
        classic.least_squares([1.0, 2.0], m=2)
    with pytest.raises(ValueError, match="choose from extended_rosenbrock"):
        classic.scalable_problems(8, names=["nope"])
    with pytest.raises(ValueError, match=r"x0 has shape \(2,\), expected \(3,\)"):
        classic.Problem(name="bad", n=3, fun=np.sum, jac=np.ones_like, x0=[0.0, 0.0])


def test_problem_names_are_unique():
    names = [p.name for p in classic.small_problems() + classic.scalable_problems(100)]
    assert len(names) == len(set(names))
