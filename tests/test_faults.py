"""Bad input gets an exception naming the problem; numerical trouble gets a status and message."""

import numpy as np
import pytest
from scipy.optimize import Bounds, minimize, rosen, rosen_der

from learnedmin import LearnedMinimizer, learned

X0 = np.array([-1.2, 1.0])


def sphere(x):
    return float(np.sum(x ** 2))


@pytest.mark.parametrize(
    "x0, exc, match",
    [
        (np.array([1.0, np.nan]), ValueError, "NaN or infinite"),
        (np.array([1.0, np.inf]), ValueError, "NaN or infinite"),
        (np.array([1.0 + 1j, 2.0]), TypeError, "complex"),
        (np.ones((2, 2)), ValueError, "one dimension"),
        (np.array(["a", "b"]), TypeError, "real array"),
    ],
)
def test_bad_x0(x0, exc, match):
    with pytest.raises(exc, match=match):
        learned(sphere, x0)


@pytest.mark.parametrize(
    "value, exc, match",
    [
        (None, TypeError, "`fun` must return a real scalar; got NoneType"),
        ("1.0", TypeError, "`fun` must return a real scalar; got str"),
        (1.0 + 2j, TypeError, "real scalar"),
        (np.array([1.0, 2.0]), ValueError, r"must return a scalar; got .*shape \(2,\)"),
    ],
)
def test_fun_returning_garbage(value, exc, match):
    with pytest.raises(exc, match=match):
        minimize(lambda x: value, X0, method=learned)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fun_nonfinite_at_x0_is_a_status(bad):
    res = minimize(lambda x: bad, X0, method=learned)
    assert res.status == 3 and not res.success and "NaN or infinite" in res.message
    assert res.nit == 0


def test_fun_nonfinite_away_from_x0_is_backtracked():
    # f is +inf (or NaN) outside the disc |x| < 2: the run must stay inside and succeed
    def f(x):
        return rosen(x) if x @ x < 4 else np.nan

    res = minimize(f, X0, jac=rosen_der, method=learned)
    assert res.success and np.isfinite(res.fun)


def test_fun_raising_propagates():
    def f(x):
        raise RuntimeError("model blew up")

    with pytest.raises(RuntimeError, match="model blew up"):
        minimize(f, X0, method=learned)


def test_jac_wrong_shape():
    with pytest.raises(ValueError, match=r"`jac` must return an array of shape \(2,\).*\(3,\)"):
        minimize(rosen, X0, jac=lambda x: np.ones(3), method=learned)


def test_jac_nan_at_x0_is_a_status():
    res = minimize(rosen, X0, jac=lambda x: np.full(2, np.nan), method=learned)
    assert res.status == 3 and not res.success


def test_jac_string_is_a_type_error():
    with pytest.raises(TypeError, match="'jac' must be a callable"):
        learned(rosen, X0, jac="2-point")


def test_unbounded_below_never_reports_success_with_nonfinite_value():
    def f(x):
        with np.errstate(over="ignore"):  # the iterates run off towards infinity
            return -np.sum(x ** 3)

    def g(x):
        with np.errstate(over="ignore"):
            return -3 * x ** 2

    res = minimize(f, X0, jac=g, method=learned, options={"maxiter": 300})
    assert np.isfinite(res.fun) and np.all(np.isfinite(res.x))
    assert res.fun <= -np.sum(X0 ** 3)
    assert not (res.success and not np.isfinite(res.fun))


def test_bounds_infeasible():
    with pytest.raises(ValueError, match="lower bound 1.0 > upper bound 0.0 for variable 0"):
        minimize(rosen, X0, method=learned, bounds=[(1, 0), (0, 1)])


def test_bounds_wrong_length():
    with pytest.raises(ValueError, match="'bounds' has 3 pairs but x0 has 2 entries"):
        minimize(rosen, X0, method=learned, bounds=[(0, 1)] * 3)


def test_bounds_x0_outside_is_clipped_like_lbfgsb():
    b = [(0.0, 0.5), (-2.0, 2.0)]
    res = minimize(rosen, np.array([3.0, 3.0]), jac=rosen_der, method=learned, bounds=b)
    ref = minimize(rosen, np.array([3.0, 3.0]), jac=rosen_der, method="L-BFGS-B", bounds=b)
    assert res.success
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)


def test_bounds_object_and_none_sides():
    res = minimize(rosen, X0, jac=rosen_der, method=learned, bounds=Bounds([-np.inf, 1.5], np.inf))
    assert res.success and res.x[1] >= 1.5
    res2 = minimize(rosen, X0, jac=rosen_der, method=learned, bounds=[(None, None), (1.5, None)])
    np.testing.assert_allclose(res.x, res2.x)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"maxiter": -1}, "'maxiter' must be None or an integer >= 0; got -1"),
        ({"maxiter": 2.5}, "'maxiter' must be None or an integer >= 0; got 2.5"),
        ({"c1": 1.0}, r"'c1' must satisfy 0 < c1 < 1; got 1.0"),
        ({"c1": 1.5}, r"'c1' must satisfy 0 < c1 < 1; got 1.5"),
        ({"memory": 0}, "'memory' must be an integer >= 1; got 0"),
        ({"gtol": "small"}, "'gtol' must be a real number >= 0; got 'small'"),
        ({"gtol": np.nan}, "'gtol' must be a real number >= 0"),
        ({"nonmonotone": True}, "'nonmonotone' must be an integer >= 1"),
        ({"return_all": "yes"}, "'return_all' must be a bool"),
    ],
)
def test_invalid_options(options, match):
    with pytest.raises(ValueError, match=match):
        minimize(rosen, X0, method=learned, options=options)


def test_invalid_default_option_fails_at_construction():
    with pytest.raises(ValueError, match="'c1' must satisfy"):
        LearnedMinimizer(c1=2)


def test_bad_weights_argument_type():
    with pytest.raises(TypeError, match="'weights' must be a bundled name"):
        LearnedMinimizer(weights=3)


@pytest.mark.parametrize("scale", [1e-50, 1e-20, 1.0, 1e20, 1e50])
@pytest.mark.parametrize("fscale", [1e-50, 1.0, 1e50])
def test_extreme_scales(scale, fscale):
    # rosenbrock with x measured in units of `scale` and f in units of `fscale`
    res = minimize(lambda x: fscale * rosen(x / scale), scale * X0,
                   jac=lambda x: fscale * rosen_der(x / scale) / scale, method=learned,
                   options={"gtol": 1e-6 * fscale / scale})
    assert res.success, res.message
    np.testing.assert_allclose(res.x / scale, [1.0, 1.0], atol=1e-4)


def test_one_dimension():
    res = minimize(lambda x: (x[0] - 3) ** 4 + 1, np.array([0.0]), method=learned)
    assert res.success and abs(res.x[0] - 3) < 5e-2


def test_million_dimensions_without_dense_matrices():
    n = 10 ** 6
    c = np.linspace(-1, 1, n)
    w = np.linspace(1, 100, n)

    def f(x):
        return float(np.sum(w * (x - c) ** 2))

    def g(x):
        return 2 * w * (x - c)

    res = minimize(f, np.zeros(n), jac=g, method=learned, options={"gtol": 1e-6})
    assert res.success and res.nit < 150
    np.testing.assert_allclose(res.x, c, rtol=0, atol=1e-6)  # |g_i| = 2 w_i |x_i - c_i| <= gtol
