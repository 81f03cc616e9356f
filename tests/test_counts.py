"""Counts are the calls users pay for: nfev, njev and nhev equal the real calls in every mode,
and no point is evaluated twice."""

import numpy as np
import pytest
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess_prod

from learnedmin import learned


class Recorder:
    """Wraps rosen's callables and records every point they see."""

    def __init__(self):
        self.f_points, self.g_points, self.h_calls = [], [], 0

    def fun(self, x):
        self.f_points.append(x.tobytes())
        return rosen(x)

    def jac(self, x):
        self.g_points.append(x.tobytes())
        return rosen_der(x)

    def fun_and_jac(self, x):
        self.f_points.append(x.tobytes())
        return rosen(x), rosen_der(x)

    def hessp(self, x, p):
        self.h_calls += 1
        return rosen_hess_prod(x, p)


X0 = [np.array([-1.2, 1.0]), np.tile([-1.2, 1.0], 5), np.linspace(-1.0, 1.0, 30)]


@pytest.mark.parametrize("x0", X0, ids=["n2", "n10", "n30"])
@pytest.mark.parametrize("refine", [None, True, False])
def test_jac_true_counts_one_evaluation_per_point(x0, refine):
    rec = Recorder()
    res = minimize(rec.fun_and_jac, x0, jac=True, method=learned, options={"refine": refine})
    assert res.success
    assert res.nfev == len(rec.f_points), (res.nfev, len(rec.f_points))
    assert len(set(rec.f_points)) == len(rec.f_points), "a point was evaluated twice"
    assert res.njev <= res.nfev


@pytest.mark.parametrize("x0", X0, ids=["n2", "n10", "n30"])
def test_separate_jac_counts_the_calls_made(x0):
    rec = Recorder()
    res = minimize(rec.fun, x0, jac=rec.jac, method=learned)
    assert res.success
    assert (res.nfev, res.njev) == (len(rec.f_points), len(rec.g_points))
    assert len(set(rec.f_points)) == len(rec.f_points)
    assert len(set(rec.g_points)) == len(rec.g_points)


def test_finite_differences_and_hessian_products_count_the_calls_made():
    rec = Recorder()
    res = minimize(rec.fun, X0[0], method=learned)
    assert res.nfev == len(rec.f_points) and res.njev >= res.nit
    rec = Recorder()
    res = minimize(rec.fun, X0[1], jac=rec.jac, hessp=rec.hessp, method=learned)
    assert res.success and res.nhev == rec.h_calls
    assert (res.nfev, res.njev) == (len(rec.f_points), len(rec.g_points))


def test_jac_true_needs_no_more_evaluations_than_the_separate_mode():
    # with f and g from one call the refinement's extra trial would cost a full evaluation:
    # by default it is off there, and the run needs fewer evaluations than calls apart
    rec = Recorder()
    paired = minimize(rec.fun_and_jac, X0[1], jac=True, method=learned)
    apart = minimize(rosen, X0[1], jac=rosen_der, method=learned)
    assert paired.nfev < apart.nfev + apart.njev


def test_jac_true_given_directly_and_under_x_scale():
    rec = Recorder()
    res = learned(rec.fun_and_jac, X0[0], jac=True)
    assert res.success and res.nfev == len(rec.f_points)
    scaled = minimize(rec.fun_and_jac, X0[0], jac=True, method=learned,
                      options={"x_scale": [2.0, 0.5]})
    assert scaled.success and np.allclose(scaled.x, 1.0, atol=1e-4)


def test_jac_true_with_a_function_returning_one_value_is_named():
    with pytest.raises(TypeError, match=r"with jac=True `fun` must return a pair \(f, g\)"):
        minimize(rosen, X0[0], jac=True, method=learned)


def test_hessp_preconditioner_at_every_size():
    # above diagonal_max the Jacobi preconditioner is estimated from 32 sign probes; on a
    # diagonal Hessian the estimate is the diagonal (to rounding), so both runs solve alike
    a = np.logspace(0, 6, 60)
    fun, jac = (lambda x: 0.5 * a @ x ** 2), (lambda x: a * x)
    calls = []

    def hessp(x, p):
        calls.append(1)
        return a * p

    exact = minimize(fun, np.ones(60), jac=jac, hessp=hessp, method=learned)
    n_exact = len(calls)
    calls.clear()
    estimated = minimize(fun, np.ones(60), jac=jac, hessp=hessp, method=learned,
                         options={"diagonal_max": 0})
    assert exact.success and estimated.success
    assert exact.nhev == n_exact and estimated.nhev == len(calls)
    # the diagonal's products (60, or 32 probes), then solves of nearly the same cost
    assert abs((exact.nhev - 60) - (estimated.nhev - 32)) <= 3, (exact.nhev, estimated.nhev)
    plain = minimize(fun, np.ones(60), jac=jac, hessp=hessp, method=learned,
                     options={"precondition": False})
    assert plain.nhev > exact.nhev - 60
