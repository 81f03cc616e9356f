"""The delay model alone: periodicity, linear weights, the single-tone bound, its own argument
checks, the benchmark suite and the solver comparison (what it shares with the delay-angle model
is tested on both in ``test_channel_models.py``)."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.optimize import least_squares, minimize

from learnedmin.problems import channel as ch

# Example counts and determinism come from the loaded profile (conftest.py: "deterministic" by
# default, "thorough" on request); no per-example deadline.
PROFILE = settings(deadline=None)

seeds = st.integers(0, 2**32 - 1)
paths = st.integers(1, 4)


# -------------------------------------------------------------------------------- invariants


@PROFILE
@given(seed=seeds, P=paths, shift=st.integers(-3, 3))
def test_natural_units_are_periodic_in_the_unambiguous_range(seed, P, shift):
    s = ch.sample(seed, P, 16, 20.0)
    moved = s.theta0.copy()
    moved[:P] += shift
    assert_allclose(ch.model(moved, s.freqs), ch.model(s.theta0, s.freqs), atol=1e-11)
    prob = ch.ChannelProblem.from_sample(s)
    assert prob.delays_resolved(s.theta_true + np.r_[np.full(P, shift), np.zeros(2 * P)])


def test_linear_weights_recover_noiseless_weights_numpy_and_batched_torch():
    s = ch.sample(11, 3, 32, 20.0, batch=2)
    clean = ch.model(s.theta_true, s.freqs)
    P = 3
    w = ch.linear_weights(s.theta_true[:, :P], clean, s.freqs)
    assert_allclose(w, s.theta_true[:, P:], atol=1e-12)
    wt = ch.linear_weights(torch.from_numpy(s.theta_true[:, :P]), torch.from_numpy(clean),
                           s.freqs)
    assert_allclose(wt.numpy(), w, atol=1e-12)


# ------------------------------------------------------------------------- Cramér-Rao bound


@pytest.mark.parametrize("M", [8, 64])
@pytest.mark.parametrize("df", [1.0, 1 / 64, 312.5e3])  # natural, scaled (M=64), Hz
@pytest.mark.parametrize("centred", [False, True])
def test_single_tone_crb_matches_the_closed_form(M, df, centred):
    # var(tau) >= 6 / ((2 pi df)^2 SNR M (M^2 - 1)), SNR = |gamma|^2 / sigma^2 (Rife & Boorstyn).
    freqs = df * ch.frequency_grid(M, centred=centred)
    gamma, sigma2 = 0.7 * np.exp(0.4j), 0.013
    theta = np.array([0.3 / df, gamma.real, gamma.imag])
    snr = abs(gamma) ** 2 / sigma2
    expected = 6 / ((2 * np.pi * df) ** 2 * snr * M * (M**2 - 1))
    C = ch.crb(theta, freqs, sigma2)
    assert_allclose(C[0, 0], expected, rtol=1e-6, err_msg=f"CRB {C[0, 0]} vs {expected}")
    F = ch.fisher_information(theta, freqs, sigma2)
    d = np.sqrt(np.diag(F))  # compare C F = I after equilibration: entries span ~28 decades in Hz
    assert_allclose((C * np.outer(d, d)) @ (F / np.outer(d, d)), np.eye(3), atol=1e-10)


def test_torch_reads_a_python_float_noise_variance_in_float64():
    # Regression: torch.asarray(0.013) is float32; converting afterwards lost ~1e-8 relative.
    theta = np.array([0.3, 0.5, -0.2])
    freqs = ch.frequency_grid(16)
    F = ch.fisher_information(torch.from_numpy(theta), freqs, 0.013).numpy()
    F_np = ch.fisher_information(theta, freqs, 0.013)
    assert_allclose(np.diag(F), np.diag(F_np), rtol=1e-13)


# ---------------------------------------------------------------------------------- sampler


@pytest.mark.parametrize("kwargs, match", [
    (dict(P=20, M=16), r"do not fit in M = 16 cells"),
])
def test_sampler_rejects_bad_arguments(kwargs, match):
    args = dict(rng=0, P=2, M=16, snr_db=20.0) | kwargs
    with pytest.raises(ValueError, match=match):
        ch.sample(**args)


def test_model_rejects_bad_shapes():
    freqs = ch.frequency_grid(8)
    with pytest.raises(ValueError, match=r"positive multiple of 3; got length 4"):
        ch.model(np.zeros(4), freqs)
    with pytest.raises(ValueError, match=r"complex 'y' must have M = 8 entries"):
        ch.cost(np.zeros(3), np.zeros(7, dtype=complex), freqs)
    with pytest.raises(ValueError, match=r"real 'y' must be the stacked \[Re y; Im y\]"):
        ch.cost(np.zeros(3), np.zeros(8), freqs)


# ------------------------------------------------------------------------ SciPy convenience


def test_problem_hessp_drives_a_newton_type_solver():
    prob = ch.ChannelProblem.random(12, P=3, M=64, snr_db=20.0)
    res = minimize(prob.fun, prob.x0, jac=prob.jac, hessp=prob.hessp, method="trust-ncg")
    assert prob.delays_resolved(res.x)
    assert np.all(prob.delay_errors(res.x) * prob.cell <= 5 * prob.crb_delay())


def test_bench_problems_records():
    suite = ch.bench_problems(seed=0)
    again = ch.bench_problems(seed=0)
    assert len({p.name for p in suite}) == len(suite) == 12
    for p, q in zip(suite, again):
        assert p.n == p.x0.size == p.x_star.size and p.n % 3 == 0
        assert p.f_star is None
        assert_allclose(p.x0, q.x0, rtol=0)
        assert p.fun(p.x_star) < p.fun(p.x0)
        assert p.jac(p.x0).shape == p.hessp(p.x0, p.x0).shape == (p.n,)
        assert p.fun.__self__.delays_resolved(p.x0)
    assert {"name", "n", "fun", "jac", "hessp", "x0", "f_star", "x_star"} == set(
        ch.BenchProblem.__dataclass_fields__)


# ------------------------------------------------------------------------------- comparison


@pytest.mark.slow
@pytest.mark.parametrize("units, delay_perturbation", [("natural", 0.25), ("natural", 0.75),
                                                       ("scaled", 0.25)])
def test_solver_comparison(units, delay_perturbation):
    """Success rates on 50 random P=3, M=64, 20 dB instances (run with ``-m slow -s``).

    Columns: ``resolved`` (every delay within half a cell), ``crb4`` (every delay within 4
    CRB standard deviations), ``ml`` (final cost within 1e-6 relative of LM's), median nfev.
    """
    from learnedmin import learned

    rng = np.random.default_rng(2024)
    probs = [ch.ChannelProblem.random(rng, 3, 64, 20.0, units=units,
                                      delay_perturbation=delay_perturbation) for _ in range(50)]

    def lm(p):
        r = least_squares(p.residual, p.x0, jac=p.jacobian, method="lm")
        return r.x, r.nfev

    def mini(**kw):
        def solve(p):
            r = minimize(p.fun, p.x0, jac=p.jac, **kw)
            return r.x, r.nfev
        return solve

    solvers = {
        "start (no solve)": lambda p: (p.x0, 0),
        "least_squares lm": lm,
        "L-BFGS-B": mini(method="L-BFGS-B"),
        "learned (jac)": mini(method=learned),
        "learned (jac, GN hessp)": lambda p: mini(hessp=p.hessp, method=learned)(p),
    }
    rates, f_lm = {}, None
    print(f"\nunits={units}, start delay error <= {delay_perturbation} cell")
    for name, solve in solvers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # L-BFGS-B's ABNORMAL line-search warnings etc.
            out = [solve(p) for p in probs]
        xs = [x for x, _ in out]
        resolved = np.mean([p.delays_resolved(x) for p, x in zip(probs, xs)])
        crb4 = np.mean([np.all(p.delay_errors(x) * p.cell <= 4 * p.crb_delay())
                        for p, x in zip(probs, xs)])
        f = np.array([p.fun(x) for p, x in zip(probs, xs)])
        f_lm = f if name == "least_squares lm" else f_lm
        ml = np.mean(np.abs(f - f_lm) <= 1e-6 * f_lm) if f_lm is not None else np.nan
        rates[name] = resolved
        print(f"  {name:24s} resolved {resolved:4.0%}  crb4 {crb4:4.0%}  ml {ml:4.0%}  "
              f"median nfev {np.median([k for _, k in out]):4.0f}")
    assert rates["least_squares lm"] >= rates["start (no solve)"]
