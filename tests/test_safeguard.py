"""The acceptance rule and step shrinking."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnedmin.policy import CLASSICAL_WEIGHTS
from learnedmin.safeguard import (
    EXPAND_MAX,
    REFINE_MAX,
    REFINE_MIN,
    SHRINK_MAX,
    SHRINK_MIN,
    armijo,
    is_descent,
    next_step,
    reference_value,
    refinement,
)

finite = st.floats(-1e6, 1e6, allow_nan=False)


def test_armijo_rule():
    f = np.float64
    assert armijo(f(0.9), f(1.0), f(-1.0), 1e-4)
    assert not armijo(f(1.0), f(1.0), f(-1.0), 1e-4)
    assert not armijo(f(np.nan), f(1.0), f(-1.0), 1e-4)
    assert not armijo(f(-np.inf), f(1.0), f(-1.0), 1e-4)
    assert not armijo(f(0.0), f(1.0), f(0.0), 1e-4)  # no predicted decrease, no acceptance


def test_nonmonotone_reference_is_window_max():
    assert reference_value((np.float64(3.0), np.float64(5.0), np.float64(1.0))) == 5.0


def test_descent_test():
    g = np.array([1.0, 0.0])
    assert is_descent(g, np.array([-1.0, 5.0]))
    assert not is_descent(g, np.array([0.0, 1.0]))
    assert not is_descent(g, np.array([np.nan, 1.0]))
    assert not is_descent(g, np.array([1.0, 0.0]))


@given(alpha=st.floats(1e-12, 10.0), f0=finite, slope=st.floats(-1e6, -1e-9), fa=finite)
def test_next_step_shrinks_within_bounds(alpha, f0, slope, fa):
    new = float(next_step(np.float64(alpha), np.float64(f0), np.float64(slope), np.float64(fa)))
    assert SHRINK_MIN * alpha * (1 - 1e-12) <= new <= SHRINK_MAX * alpha * (1 + 1e-12)


def test_next_step_is_exact_on_a_quadratic():
    # phi(t) = 1 - 2 t + t^2 has its minimum at t = 1; a rejected trial at t = 4 interpolates
    # to it exactly; one at t = 1.5 would land beyond SHRINK_MAX and is clipped to 0.75.
    def phi(t):
        return 1 - 2 * t + t * t

    for alpha, expected in ((4.0, 1.0), (1.5, SHRINK_MAX * 1.5)):
        new = next_step(np.float64(alpha), np.float64(phi(0)), np.float64(-2 * alpha),
                        np.float64(phi(alpha)))
        assert abs(new - expected) < 1e-12, (alpha, new, expected)


@given(c=st.floats(1e-3, 1e3), t_star=st.floats(0.2, 50.0), f0=finite)
def test_refinement_finds_the_minimiser_of_a_quadratic(c, t_star, f0):
    # phi(t) = f0 + slope t + c t^2 with its minimiser at t_star: slope = -2 c t_star
    slope = -2.0 * c * t_star
    f1 = f0 + slope + c
    t, wanted = refinement(np.float64(f0), np.float64(slope), np.float64(f1))
    if abs(c) > 1e-8 * abs(f0):  # resolved above the rounding of f
        assert t == np.clip(t_star, REFINE_MIN, REFINE_MAX) or abs(t - t_star) <= 1e-6 * t_star
        assert bool(wanted) == (not 1 / 1.1 <= t_star <= 1.1) or abs(t_star - 1.1) < 1e-6 \
            or abs(t_star - 1 / 1.1) < 1e-6
    else:
        assert not wanted


def test_refinement_without_a_minimiser_or_a_value():
    f = np.float64
    t, wanted = refinement(f(1.0), f(-1.0), f(-0.5))  # concave along the step
    assert t == EXPAND_MAX and wanted
    t, wanted = refinement(f(1.0), f(-1.0), f(np.nan))
    assert np.isfinite(t) and not wanted
    t, wanted = refinement(f(0.0), f(-1.0), f(-1.0 + 1e-9))  # tiny curvature: far minimiser
    assert t == REFINE_MAX and wanted
    t, wanted = refinement(f(1.0), f(-1.0), f(1e-9))  # the same curvature, below f's rounding
    assert not wanted


def test_refined_first_step_is_exact_on_a_quadratic_for_one_function_value():
    from scipy.optimize import minimize

    from learnedmin import FixedWeights, LearnedMinimizer

    a = np.array([1.0, 30.0])
    fun, jac = (lambda x: 0.5 * float(a @ x ** 2)), (lambda x: a * x)
    x0 = np.array([1.0, 1.0])
    opts = {"maxiter": 1, "gtol": 0.0}
    method = LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS))
    res = minimize(fun, x0, jac=jac, method=method, options=opts)
    # the exact step along -g from x0: g'g / g'Ag
    g = jac(x0)
    assert np.allclose(res.x, x0 - (g @ g) / (g @ (a * g)) * g, rtol=1e-10)
    assert res.njev == 2  # x0 and the accepted point: the refinement evaluates f only
    plain = minimize(fun, x0, jac=jac, method=method, options={**opts, "refine": False})
    # without the refinement the first step reaches the same point by lengthening the trial
    # (the secant zero of the slopes), which costs a gradient more
    assert np.allclose(plain.x, res.x, rtol=1e-10) and plain.njev == res.njev + 1


def test_the_refinement_band_decides_which_trials_are_refined():
    from scipy.optimize import minimize

    from learnedmin import FixedWeights, LearnedMinimizer

    method = LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS))
    f = np.float64
    # a trial at 1.5 times the minimiser: refined in the default band, kept in [1/2, 2]
    # (phi(t) = 1 - t + 0.75 t^2, minimiser 2/3)
    t, wanted = refinement(f(1.0), f(-1.0), f(0.75))
    assert abs(t - 2.0 / 3.0) < 1e-12 and wanted
    assert not refinement(f(1.0), f(-1.0), f(0.75), band=2.0)[1]
    a = np.array([1.0, 30.0])
    fun, jac = (lambda x: 0.5 * float(a @ x ** 2)), (lambda x: a * x)
    runs = {band: minimize(fun, np.ones(2), jac=jac, method=method,
                           options={"refine_band": band, "gtol": 1e-8})
            for band in (1.1, 1e300)}
    off = minimize(fun, np.ones(2), jac=jac, method=method, options={"refine": False,
                                                                     "gtol": 1e-8})
    assert runs[1.1].success and runs[1e300].success
    # a band no minimiser leaves is no refinement at all
    assert np.array_equal(runs[1e300].x, off.x) and runs[1e300].nfev == off.nfev
    assert runs[1.1].nfev != off.nfev
    for bad in (1.0, 0.5, float("nan"), True):
        with pytest.raises(ValueError, match="refine_band"):
            minimize(fun, np.ones(2), jac=jac, method=method, options={"refine_band": bad})
