"""The channel-estimation model: derivatives, backends, bounds, sampler, SciPy convenience."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.optimize import least_squares, minimize

from learnedmin.problems import channel as ch

from _helpers import central_differences

# Example counts and determinism come from the loaded profile (conftest.py: "deterministic" by
# default, "thorough" on request); no per-example deadline.
PROFILE = settings(deadline=None)

seeds = st.integers(0, 2**32 - 1)
paths = st.integers(1, 4)
grids = st.sampled_from([(16, "natural", False), (24, "natural", True), (16, "scaled", False),
                         (33, "scaled", True)])


def draw(seed, P, grid, **kw):
    M, units, centred = grid
    return ch.sample(seed, P, M, 20.0, units=units, centred=centred, **kw)



def fd_steps(s):
    """Finite-difference steps matched to each coordinate's scale (delay vs weight)."""
    P = s.theta0.size // 3
    return np.concatenate([np.full(P, 1e-4 * s.cell), np.full(2 * P, 1e-5)])


# ------------------------------------------------------------------------------- derivatives


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_gradient_matches_finite_differences(seed, P, grid):
    s = draw(seed, P, grid)
    g = ch.gradient(s.theta0, s.y, s.freqs)
    fd = central_differences(lambda t: np.atleast_1d(ch.cost(t, s.y, s.freqs)), s.theta0,
                             fd_steps(s))[0]
    assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.linalg.norm(g),
                    err_msg=f"analytic {g} vs finite differences {fd}")


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_jacobian_matches_finite_differences(seed, P, grid):
    s = draw(seed, P, grid)
    J = ch.jacobian(s.theta0, s.freqs)
    assert J.shape == (2 * s.freqs.size, 3 * P)
    fd = central_differences(lambda t: ch.residual(t, s.y, s.freqs), s.theta0, fd_steps(s))
    assert_allclose(J, fd, rtol=1e-6, atol=1e-7 * np.abs(J).max())


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_gauss_newton_hessp_is_twice_jtj_v(seed, P, grid):
    s = draw(seed, P, grid)
    v = np.random.default_rng(seed).standard_normal(3 * P)
    J = ch.jacobian(s.theta0, s.freqs)
    Hv = ch.gauss_newton_hessp(s.theta0, v, s.freqs)
    assert_allclose(Hv, 2 * J.T @ (J @ v), rtol=1e-12, atol=1e-12 * np.abs(Hv).max())


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_cost_is_squared_residual_norm(seed, P, grid):
    s = draw(seed, P, grid)
    r = ch.residual(s.theta0, s.y, s.freqs)
    c = ch.cost(s.theta0, s.y, s.freqs)
    assert_allclose(c, r @ r, rtol=1e-13)
    assert_allclose(c, np.sum(np.abs(s.y - ch.model(s.theta0, s.freqs)) ** 2), rtol=1e-12)
    # The gradient is 2 J^T r: the cost carries no factor 1/2 (least_squares' cost is c / 2).
    J = ch.jacobian(s.theta0, s.freqs)
    assert_allclose(ch.gradient(s.theta0, s.y, s.freqs), 2 * J.T @ r, rtol=1e-12)


def test_real_stacked_observation_equals_complex():
    s = ch.sample(3, 2, 16, 10.0)
    stacked = np.concatenate([s.y.real, s.y.imag])
    assert_allclose(ch.cost(s.theta0, stacked, s.freqs), ch.cost(s.theta0, s.y, s.freqs),
                    rtol=1e-15)


# -------------------------------------------------------------------------------- invariants


@PROFILE
@given(seed=seeds, P=st.integers(2, 4), grid=grids, data=st.data())
def test_cost_is_invariant_to_path_order(seed, P, grid, data):
    s = draw(seed, P, grid)
    perm = np.array(data.draw(st.permutations(range(P))))
    idx = np.concatenate([perm, P + perm, 2 * P + perm])
    assert_allclose(ch.cost(s.theta0[idx], s.y, s.freqs), ch.cost(s.theta0, s.y, s.freqs),
                    rtol=1e-12)


@PROFILE
@given(seed=seeds, P=paths, grid=grids, phi=st.floats(-math.pi, math.pi))
def test_common_phase_rotation_of_weights_and_data_keeps_the_cost(seed, P, grid, phi):
    s = draw(seed, P, grid)
    gamma = (s.theta0[P:2 * P] + 1j * s.theta0[2 * P:]) * np.exp(1j * phi)
    rotated = np.concatenate([s.theta0[:P], gamma.real, gamma.imag])
    assert_allclose(ch.cost(rotated, s.y * np.exp(1j * phi), s.freqs),
                    ch.cost(s.theta0, s.y, s.freqs), rtol=1e-11)


@PROFILE
@given(seed=seeds, P=paths, shift=st.integers(-3, 3))
def test_natural_units_are_periodic_in_the_unambiguous_range(seed, P, shift):
    s = ch.sample(seed, P, 16, 20.0)
    moved = s.theta0.copy()
    moved[:P] += shift
    assert_allclose(ch.model(moved, s.freqs), ch.model(s.theta0, s.freqs), atol=1e-11)
    prob = ch.ChannelProblem.from_sample(s)
    assert prob.delays_resolved(s.theta_true + np.r_[np.full(P, shift), np.zeros(2 * P)])


def test_units_describe_the_same_model():
    nat = ch.sample(5, 3, 32, 20.0, units="natural")
    sca = ch.sample(5, 3, 32, 20.0, units="scaled")
    P, M = 3, 32
    assert_allclose(sca.theta_true[:P], M * nat.theta_true[:P], rtol=1e-15)
    assert_allclose(sca.theta0[P:], nat.theta0[P:], rtol=0)
    assert_allclose(sca.y, nat.y, rtol=1e-12, atol=1e-12)
    assert (nat.cell, sca.cell) == (1 / M, 1.0)


def test_linear_weights_recover_noiseless_weights_numpy_and_batched_torch():
    s = ch.sample(11, 3, 32, 20.0, batch=2)
    clean = ch.model(s.theta_true, s.freqs)
    P = 3
    w = ch.linear_weights(s.theta_true[:, :P], clean, s.freqs)
    assert_allclose(w, s.theta_true[:, P:], atol=1e-12)
    wt = ch.linear_weights(torch.from_numpy(s.theta_true[:, :P]), torch.from_numpy(clean),
                           s.freqs)
    assert_allclose(wt.numpy(), w, atol=1e-12)


# ----------------------------------------------------------------------------- torch backend


def test_torch_batched_matches_numpy_per_element():
    s = ch.sample(7, 3, 64, 20.0, batch=2)
    theta, y = torch.from_numpy(s.theta0), torch.from_numpy(s.y)
    c = ch.cost(theta, y, torch.from_numpy(s.freqs))
    g = ch.gradient(theta, y, s.freqs)  # numpy frequencies are converted to theta's backend
    Hv = ch.gauss_newton_hessp(theta, torch.ones_like(theta), s.freqs)
    assert c.shape == (2,) and g.shape == (2, 9) and c.dtype == torch.float64
    for b in range(2):
        assert_allclose(c[b].item(), ch.cost(s.theta0[b], s.y[b], s.freqs), rtol=1e-12)
        gb = ch.gradient(s.theta0[b], s.y[b], s.freqs)
        assert_allclose(g[b].numpy(), gb, rtol=1e-12, atol=1e-12 * np.abs(gb).max())
        Hb = ch.gauss_newton_hessp(s.theta0[b], np.ones(9), s.freqs)
        assert_allclose(Hv[b].numpy(), Hb, rtol=1e-12, atol=1e-12 * np.abs(Hb).max())


def test_torch_autograd_gradient_equals_the_analytic_gradient():
    s = ch.sample(8, 3, 64, 20.0, batch=(2, 2))
    theta = torch.from_numpy(s.theta0).requires_grad_(True)
    y = torch.from_numpy(s.y)
    ch.cost(theta, y, s.freqs).sum().backward()
    g = ch.gradient(theta.detach(), y, s.freqs)
    assert_allclose(theta.grad.numpy(), g.numpy(), rtol=1e-10,
                    atol=1e-12 * g.abs().max().item())


def test_torch_autograd_jacobian_equals_the_analytic_jacobian():
    s = ch.sample(9, 2, 16, 20.0)
    theta = torch.from_numpy(s.theta0)
    J_auto = torch.autograd.functional.jacobian(lambda t: ch.residual(t, s.y, s.freqs), theta)
    assert_allclose(J_auto.numpy(), ch.jacobian(s.theta0, s.freqs), rtol=1e-12, atol=1e-12)


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


def test_crb_delay_of_a_problem_is_the_root_of_the_bound():
    s = ch.sample(1, 1, 64, 20.0)
    prob = ch.ChannelProblem.from_sample(s)
    M = 64
    expected = np.sqrt(6 / ((2 * np.pi) ** 2 * 10 ** 2 * M * (M**2 - 1)))  # SNR = 20 dB, total
    assert_allclose(prob.crb_delay(), [expected], rtol=1e-6)


def test_batched_torch_crb_matches_numpy():
    s = ch.sample(2, 3, 32, 20.0, batch=2)
    C = ch.crb(torch.from_numpy(s.theta_true), s.freqs, torch.from_numpy(s.sigma2))
    for b in range(2):
        Cb = ch.crb(s.theta_true[b], s.freqs, s.sigma2[b])
        assert_allclose(C[b].numpy(), Cb, rtol=1e-9, atol=1e-12 * np.abs(Cb).max())


def test_torch_reads_a_python_float_noise_variance_in_float64():
    # Regression: torch.asarray(0.013) is float32; converting afterwards lost ~1e-8 relative.
    theta = np.array([0.3, 0.5, -0.2])
    freqs = ch.frequency_grid(16)
    F = ch.fisher_information(torch.from_numpy(theta), freqs, 0.013).numpy()
    F_np = ch.fisher_information(theta, freqs, 0.013)
    assert_allclose(np.diag(F), np.diag(F_np), rtol=1e-13)


# ---------------------------------------------------------------------------------- sampler


@PROFILE
@given(seed=seeds, P=st.integers(1, 5), M=st.integers(8, 64),
       units=st.sampled_from(ch.UNITS), sep=st.floats(0.5, 1.5), dp=st.floats(0, 0.4),
       db=st.floats(0, 6), ph=st.floats(0, 1), reference=st.sampled_from(["total", "strongest"]))
def test_sampler_respects_separation_margins_snr_and_start_bounds(
        seed, P, M, units, sep, dp, db, ph, reference):
    s = ch.sample(seed, P, M, 17.0, batch=3, units=units, min_separation=sep,
                  delay_perturbation=dp, gain_perturbation_db=db, phase_perturbation=ph,
                  snr_reference=reference)
    tol = 1e-9
    cells = s.theta_true[:, :P] / s.cell
    assert np.all(np.diff(cells, axis=-1) >= sep - tol), cells
    assert np.all((cells >= 1 - tol) & (cells <= M - 1 + tol)), cells
    d_cells = (s.theta0[:, :P] - s.theta_true[:, :P]) / s.cell
    assert np.all(np.abs(d_cells) <= dp + tol), d_cells
    g = s.theta_true[:, P:2 * P] + 1j * s.theta_true[:, 2 * P:]
    g0 = s.theta0[:, P:2 * P] + 1j * s.theta0[:, 2 * P:]
    assert np.all(np.abs(20 * np.log10(np.abs(g))) <= 10 + tol)
    assert np.all(np.abs(20 * np.log10(np.abs(g0 / g))) <= db + tol)
    assert np.all(np.abs(np.angle(g0 / g)) <= ph + tol)
    power = np.abs(g) ** 2
    ref = power.sum(-1) if reference == "total" else power.max(-1)
    assert_allclose(ref / s.sigma2, 10 ** 1.7, rtol=1e-12)
    assert s.y.shape == (3, M) and s.freqs.shape == (M,) and s.sigma2.shape == (3,)


def test_sampler_noise_has_the_stated_variance():
    s = ch.sample(0, 2, 64, 10.0, batch=400)
    w = s.y - ch.model(s.theta_true, s.freqs)
    ratio = np.mean(np.abs(w) ** 2, axis=-1) / s.sigma2
    assert abs(ratio.mean() - 1) < 0.02, ratio.mean()
    assert abs(np.mean(w.real**2) / np.mean(w.imag**2) - 1) < 0.05  # circular


def test_sampler_is_reproducible_and_accepts_per_instance_snr():
    a = ch.sample(np.random.default_rng(4), 2, 16, [0.0, 30.0], batch=2)
    b = ch.sample(4, 2, 16, [0.0, 30.0], batch=2)
    assert_allclose(a.y, b.y, rtol=0)
    total = np.sum(a.theta_true[:, 2:] ** 2, axis=-1)  # sum_p |gamma_p|^2
    assert_allclose(total / a.sigma2, [1.0, 1e3], rtol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(P=0), r"'P' must be an integer >= 1"),
    (dict(M=1), r"'M' must be an integer >= 2"),
    (dict(units="hertz"), r"'units' must be one of"),
    (dict(P=20, M=16), r"do not fit in M = 16 cells"),
    (dict(snr_reference="mean"), r"'snr_reference' must be 'total' or 'strongest'"),
    (dict(delay_perturbation=-1.0), r"'delay_perturbation' must be a finite number >= 0"),
    (dict(batch=0), r"'batch' must be None, a positive integer"),
    (dict(snr_db=[1.0, 2.0], batch=3), r"does not broadcast to the batch shape"),
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


def test_least_squares_lm_recovers_a_single_path_at_20_db():
    for seed in range(5):
        prob = ch.ChannelProblem.random(seed, P=1, M=64, snr_db=20.0)
        res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
        assert prob.delays_resolved(res.x), (seed, prob.delay_errors(res.x))
        # Stricter than the half-cell test, which the start already passes: the ML estimate.
        err = prob.delay_errors(res.x) * prob.cell
        assert np.all(err <= 5 * prob.crb_delay()), (err, prob.crb_delay())
        assert_allclose(2 * res.cost, prob.fun(res.x), rtol=1e-12)


def test_problem_methods_agree_with_the_functions_and_copy_inputs():
    s = ch.sample(6, 2, 16, 20.0)
    prob = ch.ChannelProblem.from_sample(s)
    x = prob.x0
    x_before = x.copy()
    v = np.arange(6.0)
    assert prob.fun(x) == ch.cost(s.theta0, s.y, s.freqs)
    assert_allclose(prob.jac(x), ch.gradient(s.theta0, s.y, s.freqs), rtol=0)
    assert_allclose(prob.hessp(x, v), ch.gauss_newton_hessp(s.theta0, v, s.freqs), rtol=0)
    assert prob.residual(x).shape == (32,) and prob.jacobian(x).shape == (32, 6)
    assert_allclose(x, x_before, rtol=0)
    x[0] = 99.0
    assert prob.x0[0] == s.theta0[0] and prob.x_true is not prob.x_true
    assert prob.delays_resolved(prob.x0)
    assert not prob.delays_resolved(prob.x_true + np.r_[0.6 * prob.cell, 0, 0, 0, 0, 0])
    assert not prob.delays_resolved(np.full(6, np.nan))
    with pytest.raises(ValueError, match=r"'theta' must have shape \(6,\)"):
        prob.fun(np.zeros(5))


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
