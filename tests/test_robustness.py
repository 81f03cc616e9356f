"""Safe with anyone's input: functions that are not finite beside the path, and the invariances
of the iteration under f -> a f + b and x -> Q x."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.optimize import minimize, rosen, rosen_der

from _helpers import random_spd
from learnedmin import learned, minimize_batch
from learnedmin._xp import dot
from learnedmin.directions import barrier_pair as _barrier_pair


def _nan_where(fun, bad):
    """``fun`` with NaN where ``bad(x)``."""
    def wrapped(x):
        return np.nan if bad(x) else fun(x)

    return wrapped


# --- A region where f is not finite beside the path ------------------------------------------

def test_nan_region_beside_the_minimiser_no_longer_stalls_rosenbrock():
    # the quasi-Newton steps overshoot into x[1] > 1.02, just beyond the minimiser (1, 1); the run
    # used to jam against it at f = 14.7 after 1,070 calls and end with precision loss
    fun = _nan_where(rosen, lambda x: x[1] > 1.02)
    res = minimize(fun, np.array([-1.2, 1.0]), jac=rosen_der, method=learned)
    assert res.success, res.message
    assert res.fun < 1e-10 and res.nfev <= 150, (res.fun, res.nfev)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_nan_wall_beside_an_ill_conditioned_quadratic_minimiser(bad_value):
    # used to take 169 iterations and 680 calls
    A = random_spd(np.random.default_rng(0), 10, 1e3)
    c = np.ones(10)

    def fun(x):
        return bad_value if x[0] > 1.01 else 0.5 * (x - c) @ A @ (x - c) + 2.25

    res = minimize(fun, np.zeros(10), jac=lambda x: A @ (x - c), method=learned)
    assert res.success, res.message
    assert abs(res.fun - 2.25) < 1e-10 and res.nfev <= 150, (res.fun, res.nfev)


def test_minimiser_behind_a_nan_wall_is_approached_without_jamming():
    # the minimiser lies inside the region where f is NaN: the best reachable value is on the
    # wall x[0] = 1 (0.604). The iterates used to jam against the wall at f = 7.4 and run to the
    # iteration limit with 2,203 calls, the message naming only the limit.
    rng = np.random.default_rng(0)
    M = rng.standard_normal((10, 10))
    A = M @ M.T / 10 + np.eye(10)
    c = np.full(10, 2.0)
    fun = _nan_where(lambda x: 0.5 * (x - c) @ A @ (x - c), lambda x: x[0] > 1.0)
    res = minimize(fun, np.zeros(10), jac=lambda x: A @ (x - c), method=learned,
                   options={"maxiter": 400})
    assert res.fun < 0.7 and res.nfev < 1000, (res.fun, res.nfev)
    assert "NaN or infinite at" in res.message, res.message


def test_maxiter_after_many_nonfinite_trials_says_so():
    fun = _nan_where(rosen, lambda x: x[1] > 1.02)
    res = minimize(fun, np.array([-1.2, 1.0]), jac=rosen_der, method=learned,
                   options={"maxiter": 15})
    assert res.status == 1
    assert res.message.startswith("Maximum number of iterations has been exceeded.")
    assert "`fun` was NaN or infinite at" in res.message and "trial points" in res.message
    # a run that never saw a non-finite value keeps SciPy's message
    plain = minimize(rosen, np.array([-1.2, 1.0]), jac=rosen_der, method=learned,
                     options={"maxiter": 15})
    assert plain.message == "Maximum number of iterations has been exceeded."


def test_barrier_pair_gives_the_curvature_that_ends_the_line_at_the_point_reached():
    rng = np.random.default_rng(1)
    s, y, g_new = rng.standard_normal((3, 2, 4))
    g_new[0] = -s[0]  # still descending along s at the end of the step
    g_new[1] = s[1]   # ascending: nothing to bend
    blocked = np.array([True, True])
    y_b = _barrier_pair(s, y, g_new, blocked, np)
    g_old = g_new - y
    assert_allclose(dot(s[0], y_b[0]), -dot(g_old[0], s[0]))  # s'y = -g's
    assert_allclose(y_b[1], y[1])
    assert_allclose(_barrier_pair(s, y, g_new, ~blocked, np), y)


def test_blocked_rows_of_a_batch_run_as_they_run_alone():
    # rows are independent: the row that meets the NaN wall converges as it does alone (up to
    # the rounding of batched products), and the row beside it is untouched
    A = random_spd(np.random.default_rng(0), 6, 100.0)
    c = np.ones(6)

    def fun(x, shift):
        f = 0.5 * np.einsum("bi,ij,bj->b", x - c, A, x - c) + shift
        return np.where((x[:, 0] > 1.01) & (shift > 0), np.nan, f)

    def jac(x, shift):
        return (x - c) @ A

    x0 = np.zeros((2, 6))
    shifts = np.array([1.0, 0.0])
    res = minimize_batch(fun, x0, args=(shifts,), jac=jac)
    assert np.all(res.success), res.message
    for i in range(2):
        alone = minimize_batch(fun, x0[i:i + 1], args=(shifts[i:i + 1],), jac=jac)
        assert_allclose(res.x[i], alone.x[0], rtol=0, atol=1e-8)
        assert abs(res.nfev[i] - alone.nfev[0]) <= 5, (res.nfev, alone.nfev)


# --- Invariance under f -> a f + b and x -> Q x -------------------------------------------------
#
# Every decision of the iteration reads f through differences, ratios and tests against the
# rounding of f, so the iterates of f and of a f + b (a > 0), and of f and f(Q' y), agree up to
# rounding. Compared while both runs iterate (maxiter caps them; gtol = 0, since the infinity norm
# of gtol is not rotation invariant), on well-conditioned problems, relative to the scale of the
# run (the largest iterate). An example where a perturbation of x0 at the rounding level already
# moves the iterates (a tie that rounding breaks) is rejected rather than compared.

INVARIANCE_ITERATIONS = 5
INVARIANCE_RTOL = 1e-9
# f -> a f + b changes the rounding of every value of f, and the refinement's step fraction
# -slope / 2 (f(x + alpha p) - f(x) - slope) amplifies it where the curvature term is a small
# difference of values (a long extrapolated step): about 40-fold per iteration on condition-100
# quadratics, even for b = 0. A rotation changes only the rounding of inner products.
INVARIANCE_RTOL_F = 1e-6


def _problem(kind, seed, n, cond):
    """A convex quadratic or a sum of log-cosh terms of an SPD map, with condition ``cond``."""
    rng = np.random.default_rng(seed)
    A = random_spd(rng, n, cond)
    b = rng.standard_normal(n)
    x0 = rng.standard_normal(n)
    if kind == "quadratic":
        return (lambda x: 0.5 * x @ A @ x - b @ x), (lambda x: A @ x - b), x0

    def fun(x):
        r = A @ x - b
        return np.sum(np.logaddexp(r, -r) - np.log(2.0))

    return fun, (lambda x: A.T @ np.tanh(A @ x - b)), x0


def _iterates(fun, jac, x0):
    """The iterates of the first INVARIANCE_ITERATIONS iterations, up to the first whose gradient
    norm is below 1e-3 of the start's: beyond it the steps are decided by differences of f near
    its rounding level, which a shift or a rotation changes."""
    res = minimize(fun, x0, jac=jac, method=learned,
                   options={"gtol": 0.0, "maxiter": INVARIANCE_ITERATIONS, "return_all": True})
    g0 = np.linalg.norm(jac(x0))
    kept = []
    for x in res.allvecs:
        kept.append(x)
        if np.linalg.norm(jac(x)) <= 1e-3 * g0:
            break
    return np.array(kept)


def _gaps(actual, desired):
    k = min(len(actual), len(desired))
    assert k >= 2
    scale = np.max(np.abs(desired))
    return np.max(np.abs(actual[:k] - desired[:k]), axis=1) / scale


def _assert_same_iterates(actual, desired, rtol=INVARIANCE_RTOL):
    gap = _gaps(actual, desired)
    assert np.all(gap <= rtol), f"relative gaps per iteration: {gap}"


def _reference(fun, jac, x0, rtol):
    """The iterates from ``x0``, or a rejected example where a perturbation of ``x0`` at the
    rounding level already moves them by more than ``rtol / 10``: there a decision of the run is a
    tie that rounding breaks, and no map of the problem can be compared against it."""
    ref = _iterates(fun, jac, x0)
    nudged = _iterates(fun, jac, x0 * (1.0 + 4.0 * np.finfo(float).eps))
    assume(np.all(_gaps(nudged, ref) <= rtol / 10))
    return ref


problem_kinds = st.sampled_from(["quadratic", "logcosh"])
seeds = st.integers(0, 2**32 - 1)


@given(kind=problem_kinds, seed=seeds, n=st.integers(1, 10), log10_cond=st.floats(0.0, 2.0),
       log10_a=st.floats(-3.0, 3.0), shift=st.floats(-10.0, 10.0))
def test_iterates_invariant_under_affine_maps_of_f(kind, seed, n, log10_cond, log10_a, shift):
    # the shift b is at most ten times |a f(x0)|: a larger one leaves fewer digits of a f in the
    # values the line search compares, and rounding, not the method, moves the iterates
    fun, jac, x0 = _problem(kind, seed, n, 10.0 ** log10_cond)
    a = 10.0 ** log10_a
    b = shift * a * max(abs(fun(x0)), 1.0)
    ref = _reference(fun, jac, x0, INVARIANCE_RTOL_F)
    mapped = _iterates(lambda x: a * fun(x) + b, lambda x: a * jac(x), x0)
    _assert_same_iterates(mapped, ref, INVARIANCE_RTOL_F)


@given(kind=problem_kinds, seed=seeds, n=st.integers(2, 10), log10_cond=st.floats(0.0, 2.0))
def test_iterates_rotate_with_the_variables(kind, seed, n, log10_cond):
    fun, jac, x0 = _problem(kind, seed, n, 10.0 ** log10_cond)
    Q, _ = np.linalg.qr(np.random.default_rng(seed ^ 1).standard_normal((n, n)))
    ref = _reference(fun, jac, x0, INVARIANCE_RTOL)
    rotated = _iterates(lambda y: fun(Q.T @ y), lambda y: Q @ jac(Q.T @ y), Q @ x0)
    _assert_same_iterates(rotated, ref @ Q.T)
