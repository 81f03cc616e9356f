"""The delay-angle channel model: derivatives, backends, bounds, sampler, SciPy convenience."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.optimize import least_squares, minimize

from learnedmin.problems import channel as ch
from learnedmin.problems import channel2d as c2

from _helpers import central_differences

# Example counts and determinism come from the loaded profile (conftest.py).
PROFILE = settings(deadline=None)

seeds = st.integers(0, 2**32 - 1)
paths = st.integers(1, 3)
grids = st.sampled_from([(16, 8, "natural", False), (12, 5, "natural", True),
                         (16, 4, "scaled", False), (9, 6, "scaled", True)])


def draw(seed, P, grid, **kw):
    M, K, units, centred = grid
    return c2.sample(seed, P, M, K, 20.0, units=units, centred=centred, **kw)


def args(s):
    return s.freqs, s.positions



def fd_steps(s):
    """Steps matched to each coordinate's scale: delay, angle, weight."""
    P = s.theta0.size // 4
    return np.concatenate([np.full(P, 1e-4 * s.cell), np.full(P, 1e-4 * s.angle_cell),
                           np.full(2 * P, 1e-5)])


# ------------------------------------------------------------------------------- derivatives


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_gradient_matches_finite_differences(seed, P, grid):
    s = draw(seed, P, grid)
    g = c2.gradient(s.theta0, s.y, *args(s))
    fd = central_differences(lambda t: np.atleast_1d(c2.cost(t, s.y, *args(s))), s.theta0,
                             fd_steps(s))[0]
    assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.linalg.norm(g),
                    err_msg=f"analytic {g} vs finite differences {fd}")


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_jacobian_matches_finite_differences(seed, P, grid):
    s = draw(seed, P, grid)
    M, K = s.freqs.size, s.positions.size
    J = c2.jacobian(s.theta0, *args(s))
    assert J.shape == (2 * K * M, 4 * P)
    fd = central_differences(lambda t: c2.residual(t, s.y, *args(s)), s.theta0, fd_steps(s))
    assert_allclose(J, fd, rtol=1e-6, atol=1e-7 * np.abs(J).max())


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_gauss_newton_hessp_and_fisher_are_jtj(seed, P, grid):
    s = draw(seed, P, grid)
    v = np.random.default_rng(seed).standard_normal(4 * P)
    J = c2.jacobian(s.theta0, *args(s))
    Hv = c2.gauss_newton_hessp(s.theta0, v, *args(s))
    assert_allclose(Hv, 2 * J.T @ (J @ v), rtol=1e-12, atol=1e-12 * np.abs(Hv).max())
    F = c2.fisher_information(s.theta0, *args(s), s.sigma2)
    assert_allclose(F, (2 / s.sigma2) * J.T @ J, rtol=1e-12, atol=1e-12 * np.abs(F).max())


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_cost_is_squared_residual_norm_and_gradient_is_twice_jtr(seed, P, grid):
    s = draw(seed, P, grid)
    r = c2.residual(s.theta0, s.y, *args(s))
    c = c2.cost(s.theta0, s.y, *args(s))
    assert_allclose(c, r @ r, rtol=1e-13)
    assert_allclose(c, np.sum(np.abs(s.y - c2.model(s.theta0, *args(s))) ** 2), rtol=1e-12)
    J = c2.jacobian(s.theta0, *args(s))
    assert_allclose(c2.gradient(s.theta0, s.y, *args(s)), 2 * J.T @ r, rtol=1e-12)


def test_real_stacked_observation_equals_complex():
    s = c2.sample(3, 2, 16, 8, 10.0)
    stacked = np.concatenate([s.y.real.ravel(), s.y.imag.ravel()])
    assert_allclose(c2.cost(s.theta0, stacked, *args(s)), c2.cost(s.theta0, s.y, *args(s)),
                    rtol=1e-15)


def test_one_antenna_at_the_origin_is_the_delay_model():
    s = ch.sample(4, 3, 16, 20.0)
    P = 3
    theta = np.concatenate([s.theta0[:P], [0.3, -0.2, 0.7], s.theta0[P:]])  # angles unseen
    origin = np.zeros(1)
    assert_allclose(c2.model(theta, s.freqs, origin)[0], ch.model(s.theta0, s.freqs), atol=1e-13)
    J = c2.jacobian(theta, s.freqs, origin)
    assert_allclose(np.delete(J, np.s_[P:2 * P], axis=1), ch.jacobian(s.theta0, s.freqs),
                    atol=1e-12)
    assert_allclose(J[:, P:2 * P], 0, atol=0)


def test_cost_is_invariant_to_path_order():
    s = c2.sample(5, 3, 16, 8, 20.0)
    perm = np.array([2, 0, 1])
    idx = np.concatenate([perm + k * 3 for k in range(4)])
    assert_allclose(c2.cost(s.theta0[idx], s.y, *args(s)), c2.cost(s.theta0, s.y, *args(s)),
                    rtol=1e-12)


def test_functions_leave_their_inputs_untouched():
    s = c2.sample(6, 2, 8, 4, 20.0)
    inputs = [s.theta0, s.y, s.freqs, s.positions]
    before = [a.copy() for a in inputs]
    c2.gradient(s.theta0, s.y, *args(s))
    c2.gauss_newton_hessp(s.theta0, s.theta0, *args(s))
    c2.crb(s.theta_true, *args(s), s.sigma2)
    for a, b in zip(inputs, before):
        assert_allclose(a, b, rtol=0)


# ----------------------------------------------------------------------------- torch backend


def test_torch_batched_matches_numpy_per_element(one_torch_thread):
    s = c2.sample(7, 3, 16, 8, 20.0, batch=2)
    theta, y = torch.from_numpy(s.theta0), torch.from_numpy(s.y)
    c = c2.cost(theta, y, torch.from_numpy(s.freqs), torch.from_numpy(s.positions))
    g = c2.gradient(theta, y, *args(s))  # numpy grids are converted to theta's backend
    Hv = c2.gauss_newton_hessp(theta, torch.ones_like(theta), *args(s))
    assert c.shape == (2,) and g.shape == (2, 12) and c.dtype == torch.float64
    for b in range(2):
        assert_allclose(c[b].item(), c2.cost(s.theta0[b], s.y[b], *args(s)), rtol=1e-12)
        gb = c2.gradient(s.theta0[b], s.y[b], *args(s))
        assert_allclose(g[b].numpy(), gb, rtol=1e-12, atol=1e-12 * np.abs(gb).max())
        Hb = c2.gauss_newton_hessp(s.theta0[b], np.ones(12), *args(s))
        assert_allclose(Hv[b].numpy(), Hb, rtol=1e-12, atol=1e-12 * np.abs(Hb).max())


def test_torch_autograd_gradient_equals_the_analytic_gradient(one_torch_thread):
    s = c2.sample(8, 3, 16, 8, 20.0, batch=2)
    theta = torch.from_numpy(s.theta0).requires_grad_(True)
    y = torch.from_numpy(s.y)
    c2.cost(theta, y, *args(s)).sum().backward()
    g = c2.gradient(theta.detach(), y, *args(s))
    assert_allclose(theta.grad.numpy(), g.numpy(), rtol=1e-10,
                    atol=1e-12 * g.abs().max().item())


def test_torch_autograd_jacobian_equals_the_analytic_jacobian(one_torch_thread):
    s = c2.sample(9, 2, 8, 4, 20.0)
    theta = torch.from_numpy(s.theta0)
    J = torch.autograd.functional.jacobian(lambda t: c2.residual(t, s.y, *args(s)), theta)
    assert_allclose(J.numpy(), c2.jacobian(s.theta0, *args(s)), rtol=1e-12, atol=1e-12)


def test_batched_torch_crb_matches_numpy(one_torch_thread):
    s = c2.sample(2, 2, 16, 8, 20.0, batch=2)
    C = c2.crb(torch.from_numpy(s.theta_true), *args(s), torch.from_numpy(s.sigma2))
    var_tau, var_mu = c2.crb_variances(torch.from_numpy(s.theta_true), *args(s),
                                       torch.from_numpy(s.sigma2))
    for b in range(2):
        Cb = c2.crb(s.theta_true[b], *args(s), s.sigma2[b])
        assert_allclose(C[b].numpy(), Cb, rtol=1e-9, atol=1e-12 * np.abs(Cb).max())
        assert_allclose(var_tau[b].numpy(), np.diag(Cb)[:2], rtol=1e-9)
        assert_allclose(var_mu[b].numpy(), np.diag(Cb)[2:4], rtol=1e-9)


# ------------------------------------------------------------------------- Cramér-Rao bound


@pytest.mark.parametrize("M, K", [(8, 2), (16, 8), (12, 5)])
@pytest.mark.parametrize("units", c2.UNITS)
@pytest.mark.parametrize("centred", [True, False])
def test_single_path_crb_matches_the_closed_form(M, K, units, centred):
    r"""One path, SNR = |gamma|^2 / sigma2, phase phi_km = 2 pi (f_m tau + g_k mu) - arg gamma.

    Every column of D is a multiple of a_m b_k: d/dtau -j 2 pi f_m gamma, d/dmu -j 2 pi g_k
    gamma, d/dRe 1, d/dIm j. With |a_m b_k| = 1, Re{D^H D} has the entries
    tau-tau: 4 pi^2 |gamma|^2 K sum_m f_m^2,   mu-mu: 4 pi^2 |gamma|^2 M sum_k g_k^2,
    tau-mu:  4 pi^2 |gamma|^2 (sum_m f_m)(sum_k g_k),
    tau-Re, tau-Im: multiples of K sum_m f_m,   mu-Re, mu-Im: multiples of M sum_k g_k.
    On centred grids the sums of f_m and g_k vanish, F is block diagonal and
        var(tau) = sigma2 / (2 * 4 pi^2 |gamma|^2 K sum f_m^2)
                 = 6 / ((2 pi df)^2 SNR K M (M^2 - 1))      (sum f_m^2 = df^2 M (M^2 - 1) / 12),
        var(mu)  = 6 / ((2 pi dg)^2 SNR M K (K^2 - 1)),
    the single-tone bound of each axis with the other axis' samples as repetitions. On grids
    that are not centred the bound is the same: eliminating the phase of gamma (a nuisance
    parameter) leaves the Schur complement, in which f_m and g_k appear centred.
    """
    freqs = ch.frequency_grid(M, units, centred)
    positions = c2.antenna_grid(K, units, centred)
    df, dg = freqs[1] - freqs[0], positions[1] - positions[0]
    gamma, sigma2 = 0.7 * np.exp(0.4j), 0.013
    theta = np.array([0.3 / df, 0.2 / dg, gamma.real, gamma.imag])
    snr = abs(gamma) ** 2 / sigma2
    var_tau = 6 / ((2 * np.pi * df) ** 2 * snr * K * M * (M**2 - 1))
    var_mu = 6 / ((2 * np.pi * dg) ** 2 * snr * M * K * (K**2 - 1))
    got_tau, got_mu = c2.crb_variances(theta, freqs, positions, sigma2)
    assert_allclose(got_tau, [var_tau], rtol=1e-8, err_msg=f"CRB {got_tau} vs {var_tau}")
    assert_allclose(got_mu, [var_mu], rtol=1e-8, err_msg=f"CRB {got_mu} vs {var_mu}")
    F = c2.fisher_information(theta, freqs, positions, sigma2)
    if centred:
        d = np.sqrt(np.diag(F))
        assert_allclose((F / np.outer(d, d))[:2], np.eye(4)[:2], atol=1e-12)


@PROFILE
@given(seed=seeds, P=paths, grid=grids)
def test_crb_is_symmetric_positive_definite_and_inverts_the_fisher_matrix(seed, P, grid):
    s = draw(seed, P, grid)
    C = c2.crb(s.theta_true, *args(s), s.sigma2)
    F = c2.fisher_information(s.theta_true, *args(s), s.sigma2)
    d = np.sqrt(np.diag(F))  # compare after equilibration: delay and weight entries differ a lot
    Ce = C * np.outer(d, d)
    assert_allclose(Ce, Ce.T, rtol=1e-10, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(Ce) > 0), np.linalg.eigvalsh(Ce)
    assert_allclose(Ce @ (F / np.outer(d, d)), np.eye(4 * P), atol=1e-8)


def test_crb_of_a_problem_is_the_root_of_the_bound():
    prob = c2.ChannelProblem2D.random(1, P=1, M=16, K=8, snr_db=20.0, centred=True)
    M, K, snr = 16, 8, 100.0
    assert_allclose(prob.crb_delay(), [np.sqrt(6 / ((2 * np.pi) ** 2 * snr * K * M * (M**2 - 1)))],
                    rtol=1e-8)
    assert_allclose(prob.crb_angle(), [np.sqrt(6 / (np.pi**2 * snr * M * K * (K**2 - 1)))],
                    rtol=1e-8)


# ---------------------------------------------------------------------------------- sampler


@PROFILE
@given(seed=seeds, P=st.integers(1, 4), M=st.integers(12, 32), K=st.integers(4, 8),
       units=st.sampled_from(c2.UNITS), sep=st.floats(0.5, 1.5), dt=st.floats(0, 0.4),
       da=st.floats(0, 0.4), db=st.floats(0, 6), ph=st.floats(0, 1),
       reference=st.sampled_from(["total", "strongest"]))
def test_sampler_respects_separation_margins_snr_and_start_bounds(
        seed, P, M, K, units, sep, dt, da, db, ph, reference):
    s = c2.sample(seed, P, M, K, 17.0, batch=3, units=units, min_separation=sep,
                  delay_perturbation=dt, angle_perturbation=da, gain_perturbation_db=db,
                  phase_perturbation=ph, snr_reference=reference)
    tol = 1e-9
    tau, mu = s.theta_true[:, :P] / s.cell, s.theta_true[:, P:2 * P] / s.angle_cell
    # The rule: every pair of paths is `sep` cells apart in delay or in angle.
    apart = np.maximum(np.abs(tau[:, :, None] - tau[:, None, :]),
                       np.abs(mu[:, :, None] - mu[:, None, :]))
    assert np.all(apart + sep * np.eye(P) >= sep - tol), apart
    assert np.all(np.diff(tau, axis=-1) >= 0), tau
    assert np.all((tau >= 1 - tol) & (tau <= M - 1 + tol)), tau
    assert np.all(np.abs(mu) <= K / 2 - 1 + tol), mu
    assert np.all(np.abs(s.theta0[:, :P] / s.cell - tau) <= dt + tol)
    assert np.all(np.abs(s.theta0[:, P:2 * P] / s.angle_cell - mu) <= da + tol)
    g = s.theta_true[:, 2 * P:3 * P] + 1j * s.theta_true[:, 3 * P:]
    g0 = s.theta0[:, 2 * P:3 * P] + 1j * s.theta0[:, 3 * P:]
    assert np.all(np.abs(20 * np.log10(np.abs(g))) <= 10 + tol)
    assert np.all(np.abs(20 * np.log10(np.abs(g0 / g))) <= db + tol)
    assert np.all(np.abs(np.angle(g0 / g)) <= ph + tol)
    power = np.abs(g) ** 2
    ref = power.sum(-1) if reference == "total" else power.max(-1)
    assert_allclose(ref / s.sigma2, 10 ** 1.7, rtol=1e-12)
    assert s.y.shape == (3, K, M) and s.freqs.shape == (M,) and s.positions.shape == (K,)


def test_sampler_noise_realises_the_snr_on_average():
    s = c2.sample(0, 2, 16, 8, 10.0, batch=200)
    w = s.y - c2.model(s.theta_true, *args(s))
    ratio = np.mean(np.abs(w) ** 2, axis=(-2, -1)) / s.sigma2
    assert abs(ratio.mean() - 1) < 0.02, ratio.mean()
    assert abs(np.mean(w.real**2) / np.mean(w.imag**2) - 1) < 0.05  # circular
    total = np.sum(s.theta_true[:, 4:] ** 2, axis=-1)  # sum_p |gamma_p|^2
    assert_allclose(total / s.sigma2, 10.0, rtol=1e-12)


def test_sampler_is_reproducible_and_accepts_per_instance_snr():
    a = c2.sample(np.random.default_rng(4), 2, 16, 8, [0.0, 30.0], batch=2)
    b = c2.sample(4, 2, 16, 8, [0.0, 30.0], batch=2)
    for x, y in zip(a[:6], b[:6]):
        assert_allclose(x, y, rtol=0)
    assert not np.allclose(c2.sample(5, 2, 16, 8, 0.0).y, c2.sample(4, 2, 16, 8, 0.0).y)
    total = np.sum(a.theta_true[:, 4:] ** 2, axis=-1)
    assert_allclose(total / a.sigma2, [1.0, 1e3], rtol=1e-12)


def test_sampler_can_separate_paths_by_angle_alone():
    # Six paths one cell apart in delay alone fit on 8 subcarriers (6 cells inside the margins)
    # only by luck: the rule is delay OR angle, so closer delays come with distinct angles.
    s = c2.sample(1, 6, 8, 8, 20.0, batch=20)
    tau, mu = s.theta_true[:, :6] / s.cell, s.theta_true[:, 6:12] / s.angle_cell
    close = np.abs(tau[:, :, None] - tau[:, None, :]) < 1
    assert np.any(close & ~np.eye(6, dtype=bool)), "expected paths closer than a cell in delay"
    assert np.all(np.abs(mu[:, :, None] - mu[:, None, :])[close & ~np.eye(6, dtype=bool)] >= 1)


def test_units_describe_the_same_model():
    nat = c2.sample(5, 3, 16, 8, 20.0, units="natural")
    sca = c2.sample(5, 3, 16, 8, 20.0, units="scaled")
    assert_allclose(sca.theta_true[:3], 16 * nat.theta_true[:3], rtol=1e-14)
    assert_allclose(sca.theta_true[3:6], 4 * nat.theta_true[3:6], rtol=1e-14)
    assert_allclose(sca.theta0[6:], nat.theta0[6:], rtol=0)
    assert_allclose(sca.y, nat.y, rtol=1e-12, atol=1e-12)
    assert (nat.cell, nat.angle_cell, sca.cell, sca.angle_cell) == (1 / 16, 1 / 4, 1.0, 1.0)


# ------------------------------------------------------------------------ SciPy convenience


@pytest.mark.parametrize("seed", range(4))
def test_least_squares_lm_resolves_two_paths_at_20_db(seed):
    prob = c2.ChannelProblem2D.random(seed, P=2, M=16, K=8, snr_db=20.0)
    res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
    assert prob.resolved(res.x), (prob.delay_errors(res.x), prob.angle_errors(res.x))
    # Stricter than the half-cell test, which the start already passes: the ML estimate.
    assert np.all(prob.delay_errors(res.x) * prob.cell <= 5 * prob.crb_delay())
    assert np.all(prob.angle_errors(res.x) * prob.angle_cell <= 5 * prob.crb_angle())
    assert_allclose(2 * res.cost, prob.fun(res.x), rtol=1e-12)


def test_learned_method_converges_with_the_gauss_newton_hessp(one_torch_thread):
    from learnedmin import learned

    prob = c2.ChannelProblem2D.random(0, P=2, M=16, K=8, snr_db=20.0)
    res = minimize(prob.fun, prob.x0, jac=prob.jac, hessp=prob.hessp, method=learned)
    assert res.success, (res.status, res.message)
    assert prob.resolved(res.x), (prob.delay_errors(res.x), prob.angle_errors(res.x))
    lm = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
    assert_allclose(res.fun, 2 * lm.cost, rtol=1e-8)


def test_problem_methods_agree_with_the_functions_and_copy_inputs():
    s = c2.sample(6, 2, 16, 8, 20.0)
    prob = c2.ChannelProblem2D.from_sample(s)
    x = prob.x0
    x_before = x.copy()
    v = np.arange(8.0)
    assert prob.fun(x) == c2.cost(s.theta0, s.y, *args(s))
    assert_allclose(prob.jac(x), c2.gradient(s.theta0, s.y, *args(s)), rtol=0)
    assert_allclose(prob.hessp(x, v), c2.gauss_newton_hessp(s.theta0, v, *args(s)), rtol=0)
    assert prob.residual(x).shape == (256,) and prob.jacobian(x).shape == (256, 8)
    assert_allclose(x, x_before, rtol=0)
    x[0] = 99.0
    assert prob.x0[0] == s.theta0[0] and prob.x_true is not prob.x_true
    assert (prob.P, prob.M, prob.K, prob.n) == (2, 16, 8, 8)
    assert (prob.cell, prob.angle_cell) == (s.cell, s.angle_cell)


def test_resolved_matches_paths_and_checks_both_axes():
    prob = c2.ChannelProblem2D.random(3, P=2, M=16, K=8, snr_db=20.0)
    t = prob.x_true
    assert prob.resolved(prob.x0)
    swapped = t[[1, 0, 3, 2, 5, 4, 7, 6]]  # the same paths listed in the other order
    assert prob.resolved(swapped) and np.all(prob.delay_errors(swapped) == 0)
    off = np.zeros(8)
    off[2] = 0.6 * prob.angle_cell
    assert not prob.resolved(t + off)
    assert_allclose(prob.angle_errors(t + off), [0.6, 0], atol=1e-12)
    off = np.zeros(8)
    off[1] = -0.6 * prob.cell
    assert not prob.resolved(t + off)
    assert_allclose(prob.delay_errors(t + off), [0, 0.6], atol=1e-12)
    wrapped = t + np.r_[prob.period, 0, -prob.angle_period, 0, 0, 0, 0, 0]
    assert prob.resolved(wrapped)  # the model is periodic in both axes
    assert not prob.resolved(np.full(8, np.nan))


# ------------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize("kwargs, match", [
    (dict(P=0), r"'P' must be an integer >= 1"),
    (dict(M=1), r"'M' must be an integer >= 2"),
    (dict(K=1), r"'K' must be an integer >= 2"),
    (dict(K=2.0), r"'K' must be an integer >= 2"),
    (dict(units="degrees"), r"'units' must be one of"),
    (dict(angle_perturbation=-1.0), r"'angle_perturbation' must be a finite number >= 0"),
    (dict(min_separation=math.nan), r"'min_separation' must be a finite number >= 0"),
    (dict(margin=5.0), r"margins of 5.0 cells do not fit in K = 8"),
    (dict(P=46, K=4), r"46 paths 1.0 cells apart in delay or angle do not fit"),
    (dict(P=6, M=8, K=2), r"no configuration of 6 paths"),
    (dict(batch=0), r"'batch' must be None, a positive integer"),
])
def test_sampler_rejects_bad_arguments(kwargs, match):
    arguments = dict(rng=0, P=2, M=16, K=8, snr_db=20.0) | kwargs
    with pytest.raises(ValueError, match=match):
        c2.sample(**arguments)


def test_functions_reject_bad_shapes():
    freqs, positions = ch.frequency_grid(8), c2.antenna_grid(4)
    with pytest.raises(ValueError, match=r"positive multiple of 4; got length 6"):
        c2.model(np.zeros(6), freqs, positions)
    with pytest.raises(ValueError, match=r"complex 'y' must have shape \(\.\.\., K, M\) = "
                                         r"\(\.\.\., 4, 8\)"):
        c2.cost(np.zeros(4), np.zeros((8, 4), dtype=complex), freqs, positions)
    with pytest.raises(ValueError, match=r"real 'y' must be the stacked .* 2KM = 64"):
        c2.cost(np.zeros(4), np.zeros(32), freqs, positions)
    with pytest.raises(ValueError, match=r"'K' must be an integer >= 2; got 1"):
        c2.antenna_grid(1)
    with pytest.raises(ValueError, match=r"'units' must be one of"):
        c2.antenna_grid(4, units="degrees")


def test_problem_rejects_bad_arguments():
    s = c2.sample(0, 2, 16, 8, 20.0)
    with pytest.raises(ValueError, match=r"'y' must have shape \(K, M\) = \(8, 16\)"):
        c2.ChannelProblem2D(s.y.T, s.freqs, s.positions, s.theta0)
    with pytest.raises(ValueError, match=r"'positions' must be a 1-D grid of at least 2"):
        c2.ChannelProblem2D(s.y[:1], s.freqs, s.positions[:1], s.theta0)
    with pytest.raises(ValueError, match=r"positive multiple of 4; got length 6"):
        c2.ChannelProblem2D(s.y, s.freqs, s.positions, s.theta0[:6])
    prob = c2.ChannelProblem2D(s.y, s.freqs, s.positions, s.theta0)
    with pytest.raises(ValueError, match=r"'theta' must have shape \(8,\)"):
        prob.fun(np.zeros(7))
    with pytest.raises(ValueError, match=r"the CRB needs 'theta_true' and 'sigma2'"):
        prob.crb_angle()
    with pytest.raises(ValueError, match=r"path errors need 'theta_true'"):
        prob.resolved(prob.x0)
    with pytest.raises(TypeError, match=r"'batch' is not an option"):
        c2.ChannelProblem2D.random(0, 2, 16, 8, 20.0, batch=2)
    with pytest.raises(ValueError, match=r"'tol' must be a positive number"):
        c2.ChannelProblem2D.from_sample(s).resolved(s.theta0, tol=0)
