"""The delay-angle model alone: its reduction to the delay model, the angle bounds and
variances, separation by angle, path matching, its own argument checks (what it shares with the
delay model is tested on both in ``test_channel_models.py``)."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.optimize import least_squares, minimize

from learnedmin.problems import channel as ch
from learnedmin.problems import channel2d as c2


def args(s):
    return s.freqs, s.positions


# ------------------------------------------------------------------------------- derivatives


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


# ----------------------------------------------------------------------------- torch backend


def test_batched_torch_crb_variances_are_the_diagonal_of_the_numpy_bound(one_torch_thread):
    s = c2.sample(2, 2, 16, 8, 20.0, batch=2)
    var_tau, var_mu = c2.crb_variances(torch.from_numpy(s.theta_true), *args(s),
                                       torch.from_numpy(s.sigma2))
    for b in range(2):
        Cb = c2.crb(s.theta_true[b], *args(s), s.sigma2[b])
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


# ---------------------------------------------------------------------------------- sampler


def test_sampler_can_separate_paths_by_angle_alone():
    # Six paths one cell apart in delay alone fit on 8 subcarriers (6 cells inside the margins)
    # only by luck: the rule is delay OR angle, so closer delays come with distinct angles.
    s = c2.sample(1, 6, 8, 8, 20.0, batch=20)
    tau, mu = s.theta_true[:, :6] / s.cell, s.theta_true[:, 6:12] / s.angle_cell
    close = np.abs(tau[:, :, None] - tau[:, None, :]) < 1
    assert np.any(close & ~np.eye(6, dtype=bool)), "expected paths closer than a cell in delay"
    assert np.all(np.abs(mu[:, :, None] - mu[:, None, :])[close & ~np.eye(6, dtype=bool)] >= 1)


# ------------------------------------------------------------------------ SciPy convenience


def test_learned_method_converges_with_the_gauss_newton_hessp(one_torch_thread):
    from learnedmin import learned

    prob = c2.ChannelProblem2D.random(0, P=2, M=16, K=8, snr_db=20.0)
    res = minimize(prob.fun, prob.x0, jac=prob.jac, hessp=prob.hessp, method=learned)
    assert res.success, (res.status, res.message)
    assert prob.resolved(res.x), (prob.delay_errors(res.x), prob.angle_errors(res.x))
    lm = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
    assert_allclose(res.fun, 2 * lm.cost, rtol=1e-8)


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
    (dict(K=1), r"'K' must be an integer >= 2"),
    (dict(K=2.0), r"'K' must be an integer >= 2"),
    (dict(units="degrees"), r"'units' must be one of"),
    (dict(angle_perturbation=-1.0), r"'angle_perturbation' must be a finite number >= 0"),
    (dict(margin=5.0), r"margins of 5.0 cells do not fit in K = 8"),
    (dict(P=46, K=4), r"46 paths 1.0 cells apart in delay or angle do not fit"),
    (dict(P=6, M=8, K=2), r"no configuration of 6 paths"),
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


