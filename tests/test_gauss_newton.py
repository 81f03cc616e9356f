"""GaussNewton: a residual and its Jacobian as fun, jac, hess and hessp, one Jacobian per point."""

import numpy as np
import pytest
import scipy.sparse as sparse
from scipy.sparse.linalg import lsqr
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.optimize import minimize

from learnedmin import GaussNewton, learned

T = np.linspace(0.0, 3.0, 25)
Y = 2.0 * np.exp(-1.5 * T) + 0.5 * np.exp(-0.3 * T)


def residual(p):
    """Two decaying exponentials minus the data (a nonlinear least-squares fit)."""
    return p[0] * np.exp(-p[1] * T) + p[2] * np.exp(-p[3] * T) - Y


def jacobian(p):
    e1, e2 = np.exp(-p[1] * T), np.exp(-p[3] * T)
    return np.stack([e1, -p[0] * T * e1, e2, -p[2] * T * e2], axis=1)


class Counting:
    """The residual and Jacobian with every point they see recorded."""

    def __init__(self):
        self.r_points, self.j_points = [], []

    def residual(self, p):
        self.r_points.append(p.tobytes())
        return residual(p)

    def jacobian(self, p):
        self.j_points.append(p.tobytes())
        return jacobian(p)


@given(st.integers(1, 6), st.integers(0, 4), st.integers(0, 2**32 - 1))
def test_values_are_the_least_squares_cost_gradient_and_gauss_newton_matrix(n, extra, seed):
    rng = np.random.default_rng(seed)
    A, b = rng.standard_normal((n + extra, n)), rng.standard_normal(n + extra)
    x, v = rng.standard_normal(n), rng.standard_normal(n)
    gn = GaussNewton(lambda z: A @ z - b, lambda z: A)
    r = A @ x - b
    assert_allclose(gn.fun(x), 0.5 * r @ r, rtol=1e-12)
    assert_allclose(gn.jac(x), A.T @ r, rtol=1e-12, atol=1e-12)
    assert_allclose(gn.hess(x), A.T @ A, rtol=1e-12, atol=1e-12)
    assert_allclose(gn.hessp(x, v), A.T @ (A @ v), rtol=1e-12, atol=1e-12)
    f, g = gn.fun_and_jac(x)
    assert f == gn.fun(x) and np.array_equal(g, gn.jac(x))


@pytest.mark.parametrize("second", ["hessp", "hess"])
def test_one_residual_and_one_jacobian_per_distinct_point_in_a_run(second):
    c = Counting()
    gn = GaussNewton(c.residual, c.jacobian)
    res = minimize(gn.fun, [1.0, 1.0, 1.0, 0.1], jac=gn.jac, method=learned,
                   **{second: getattr(gn, second)})
    assert res.success, res.message
    assert_allclose(res.x, [2.0, 1.5, 0.5, 0.3], rtol=1e-5)
    assert len(c.r_points) == len(set(c.r_points)) == gn.nres == res.nfev
    assert len(c.j_points) == len(set(c.j_points)) == gn.njac == res.njev
    if second == "hessp":
        assert res.nhev > gn.njac  # several products at a point share its Jacobian


def test_callables_get_copies_and_x_is_left_alone():
    seen = []

    def scribbling(p):
        seen.append(p)
        out = residual(p)
        p[:] = 99.0  # a careless user function must not corrupt the cache or the caller
        return out

    gn = GaussNewton(scribbling, jacobian)
    x = np.array([1.0, 1.0, 1.0, 0.1])
    x_before = x.copy()
    f1 = gn.fun(x)
    assert np.array_equal(x, x_before)
    assert gn.fun(x) == f1 and gn.nres == 1  # the cached point is still x


def test_sparse_jacobian_works_with_hessp_and_hess_says_what_it_needs():
    A = sparse.random(30, 8, density=0.3, random_state=np.random.default_rng(0), format="csr")
    A = A + sparse.eye(30, 8)
    b = np.ones(30)
    gn = GaussNewton(lambda z: A @ z - b, lambda z: A)
    v = np.arange(8.0)
    assert_allclose(gn.hessp(np.zeros(8), v), A.T @ (A @ v))
    res = minimize(gn.fun, np.zeros(8), jac=gn.jac, hessp=gn.hessp, method=learned)
    assert res.success, res.message
    assert_allclose(res.x, lsqr(A, b, atol=1e-14, btol=1e-14)[0], rtol=1e-6)
    with pytest.raises(TypeError, match="hess needs the Jacobian as a numpy array"):
        gn.hess(np.zeros(8))


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="'residual' must be callable"):
        GaussNewton(None, jacobian)
    with pytest.raises(TypeError, match="'jacobian' must be callable"):
        GaussNewton(residual, 3)
    with pytest.raises(ValueError, match=r"'residual' must return a 1-D array; got shape \(2, 2\)"):
        GaussNewton(lambda z: np.ones((2, 2)), jacobian).fun(np.ones(4))
    with pytest.raises(ValueError, match=r"'jacobian' must return shape \(m, n\) = \(25, 4\)"):
        GaussNewton(residual, lambda z: np.ones((4, 25))).jac(np.ones(4))


def test_args_reach_both_callables():
    gn = GaussNewton(lambda z, s: s * z, lambda z, s: s * np.eye(z.size), args=(3.0,))
    assert_allclose(gn.jac(np.ones(2)), [9.0, 9.0])
