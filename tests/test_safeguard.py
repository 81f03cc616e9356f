"""The acceptance rule and step shrinking."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from learnedmin.safeguard import (
    SHRINK_MAX,
    SHRINK_MIN,
    armijo,
    is_descent,
    next_step,
    reference_value,
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
