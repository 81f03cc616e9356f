"""The concentrated (variable-projection) channel problems: derivatives, backends, bounds, the
SciPy classes and the training families."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.optimize import least_squares

from learnedmin.problems import channel as ch
from learnedmin.problems import channel2d as ch2
from learnedmin.problems import concentrated as vp
from learnedmin.training import families as fam

from _helpers import central_differences

# (seed, P, M, units, centred): one and several paths, both units, both grids.
CASES_1D = [(0, 1, 16, "natural", False), (1, 3, 24, "scaled", True), (2, 4, 33, "natural", True),
            (3, 2, 16, "scaled", False)]
# (seed, P, M, K, units)
CASES_2D = [(0, 1, 12, 4, "natural"), (1, 3, 16, 6, "scaled"), (2, 2, 10, 8, "natural")]


def draw(seed, P, M, units, centred):
    return ch.sample(seed, P, M, 20.0, units=units, centred=centred)


def draw2d(seed, P, M, K, units):
    return ch2.sample(seed, P, M, K, 20.0, units=units)


def stacked(y, grid_axes=1):
    """A complex observation as the stacked real ``[Re y; Im y]`` of its flattened grid."""
    y = y.reshape(y.shape[:y.ndim - grid_axes] + (-1,))
    return np.concatenate([y.real, y.imag], axis=-1)


def start(s, D):
    """The nonlinear parameters of a sample's start."""
    P = s.theta0.shape[-1] // (D + 2)
    return s.theta0[..., :D * P]


def steps2d(s):
    P = s.theta0.size // 4
    return np.concatenate([np.full(P, 1e-4 * s.cell), np.full(P, 1e-4 * s.angle_cell)])


# ------------------------------------------------------------------------------- derivatives


class Form:
    """One concentrated model as the shared tests use it: its functions, full model and draws."""

    def __init__(self, D, full, draw, suffix, grids, steps):
        self.D, self.full, self.draw = D, full, draw
        for name in ("residual", "jacobian", "cost", "gradient", "full_theta"):
            setattr(self, name, getattr(vp, name + suffix))
        self._grids, self._steps = grids, steps

    def args(self, s):
        """``(y, grids...)`` of a sample, as the functions take them after the parameters."""
        return (s.y,) + self._grids(s)

    def steps(self, s):
        """Finite-difference steps, a ten-thousandth of a cell on every axis."""
        return self._steps(s)


DELAY = Form(1, ch, draw, "", lambda s: (s.freqs,),
             lambda s: np.full(s.theta0.size // 3, 1e-4 * s.cell))
DELAY_ANGLE = Form(2, ch2, draw2d, "2d", lambda s: (s.freqs, s.positions), steps2d)
FORM_CASES = ([pytest.param(DELAY, c, id=f"delay-{c}") for c in CASES_1D]
              + [pytest.param(DELAY_ANGLE, c, id=f"delay-angle-{c}") for c in CASES_2D])


@pytest.mark.parametrize("form, case", FORM_CASES)
def test_jacobian_and_gradient_match_finite_differences(form, case):
    s = form.draw(*case)
    x, args, h = start(s, form.D), form.args(s), form.steps(s)
    J = form.jacobian(x, *args)
    assert J.shape == (2 * s.y.size, x.size)
    fd = central_differences(lambda t: form.residual(t, *args), x, h)
    assert_allclose(J, fd, rtol=1e-6, atol=1e-7 * np.abs(J).max())
    g = form.gradient(x, *args)
    fd = central_differences(lambda t: np.atleast_1d(form.cost(t, *args)), x, h)[0]
    assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.linalg.norm(g),
                    err_msg=f"analytic {g} vs finite differences {fd}")


@pytest.mark.parametrize("form, case", FORM_CASES)
def test_concentrated_form_is_the_full_form_at_the_least_squares_weights(form, case):
    s = form.draw(*case)
    x, args = start(s, form.D), form.args(s)
    n = x.size
    theta = form.full_theta(x, *args)
    assert theta.shape == (n + 2 * (n // form.D),)
    if form.D == 1:
        assert_allclose(theta, np.concatenate([x, ch.linear_weights(x, *args)]),
                        rtol=1e-10, atol=1e-12)
    assert_allclose(form.cost(x, *args), form.full.cost(theta, *args), rtol=1e-12)
    assert_allclose(form.residual(x, *args), form.full.residual(theta, *args),
                    rtol=1e-10, atol=1e-12)
    full = form.full.gradient(theta, *args)
    g = form.gradient(x, *args)
    scale = np.abs(full[:n]).max()
    assert_allclose(g, full[:n], rtol=1e-9, atol=1e-9 * scale)
    # the weights' part of the full gradient vanishes at their least-squares values
    assert np.abs(full[n:]).max() <= 1e-9 * max(scale, 1.0), full[n:]


@pytest.mark.parametrize("D", [1, 2])
def test_gauss_newton_product_is_the_matrix_times_v_and_twice_jtj(D):
    if D == 1:
        s = draw(*CASES_1D[1])
        x, args = start(s, 1), (s.y, s.freqs)
        H, Hv, jac = vp.gauss_newton, vp.gauss_newton_hessp, vp.jacobian
    else:
        s = draw2d(*CASES_2D[1])
        x, args = start(s, 2), (s.y, s.freqs, s.positions)
        H, Hv, jac = vp.gauss_newton2d, vp.gauss_newton_hessp2d, vp.jacobian2d
    v = np.random.default_rng(0).standard_normal(x.size)
    J = jac(x, *args)
    G = H(x, *args)
    assert G.shape == (x.size, x.size)
    assert_allclose(G, 2 * J.T @ J, rtol=1e-12, atol=1e-12 * np.abs(G).max())
    assert_allclose(Hv(x, v, *args), G @ v, rtol=1e-10, atol=1e-10 * np.abs(G @ v).max())


def test_crb_is_the_delay_block_of_the_full_bound():
    s = draw(*CASES_1D[2])
    P = s.theta_true.size // 3
    C = vp.crb(s.theta_true, s.freqs, s.sigma2)
    full = ch.crb(s.theta_true, s.freqs, s.sigma2)
    assert_allclose(C, full[:P, :P], rtol=1e-8, atol=1e-10 * np.abs(C).max())
    s = draw2d(*CASES_2D[1])
    P = s.theta_true.size // 4
    C = vp.crb2d(s.theta_true, s.freqs, s.positions, s.sigma2)
    full = ch2.crb(s.theta_true, s.freqs, s.positions, s.sigma2)
    assert_allclose(C, full[:2 * P, :2 * P], rtol=1e-8, atol=1e-10 * np.abs(C).max())


def test_cost_is_invariant_to_the_order_of_the_paths():
    s = draw(*CASES_1D[2])
    tau = start(s, 1)
    order = np.random.default_rng(0).permutation(tau.size)
    assert_allclose(vp.cost(tau[order], s.y, s.freqs), vp.cost(tau, s.y, s.freqs), rtol=1e-12)
    assert_allclose(vp.gradient(tau[order], s.y, s.freqs), vp.gradient(tau, s.y, s.freqs)[order],
                    rtol=1e-9, atol=1e-12)
    s = draw2d(*CASES_2D[1])
    x = start(s, 2)
    P = x.size // 2
    perm = np.random.default_rng(1).permutation(P)
    args = (s.y, s.freqs, s.positions)
    assert_allclose(vp.cost2d(np.concatenate([x[:P][perm], x[P:][perm]]), *args),
                    vp.cost2d(x, *args), rtol=1e-12)


# ------------------------------------------------------------------------------- backends


def test_torch_batched_matches_numpy_and_autograd_matches_the_gradient(one_torch_thread):
    s = ch.sample(5, 3, 24, 15.0, batch=(2, 3), units="scaled")
    tau = start(s, 1)
    y = torch.from_numpy(stacked(s.y))
    t = torch.from_numpy(tau.copy()).requires_grad_(True)
    c = vp.cost(t, y, s.freqs)
    (auto,) = torch.autograd.grad(c.sum(), t)
    g = vp.gradient(t.detach(), y, s.freqs)
    assert g.shape == (2, 3, 3) and g.dtype == torch.float64
    assert_allclose(auto.numpy(), g.numpy(), rtol=1e-9, atol=1e-9 * float(g.abs().max()))
    for i in range(2):
        for j in range(3):
            assert_allclose(c[i, j].item(), vp.cost(tau[i, j], s.y[i, j], s.freqs), rtol=1e-12)
            assert_allclose(g[i, j].numpy(), vp.gradient(tau[i, j], s.y[i, j], s.freqs),
                            rtol=1e-10, atol=1e-10 * float(g.abs().max()))
    # the complex torch observation reads as the stacked real one
    assert_allclose(vp.cost(t.detach(), torch.from_numpy(s.y), s.freqs).numpy(),
                    c.detach().numpy(), rtol=1e-13)


def test_torch_2d_autograd_matches_the_gradient_and_the_hessp_is_differentiable(
        one_torch_thread):
    s = ch2.sample(6, 2, 12, 6, 15.0, batch=4)
    y = torch.from_numpy(stacked(s.y, 2))
    x = torch.from_numpy(start(s, 2).copy()).requires_grad_(True)
    (auto,) = torch.autograd.grad(vp.cost2d(x, y, s.freqs, s.positions).sum(), x)
    g = vp.gradient2d(x.detach(), y, s.freqs, s.positions)
    assert_allclose(auto.numpy(), g.numpy(), rtol=1e-9, atol=1e-9 * float(g.abs().max()))
    assert_allclose(g[1].numpy(), vp.gradient2d(start(s, 2)[1], s.y[1], s.freqs, s.positions),
                    rtol=1e-10, atol=1e-10 * float(g.abs().max()))
    # gradients and products carry a graph (second derivatives for meta-training)
    v = torch.ones_like(x)
    hv = vp.gauss_newton_hessp2d(x, v, y, s.freqs, s.positions)
    (d,) = torch.autograd.grad(hv.sum() + vp.gradient2d(x, y, s.freqs, s.positions).sum(), x)
    assert torch.isfinite(d).all()


# ------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("call, match", [
    (lambda s: vp.cost(np.zeros(0), s.y, s.freqs), "'tau'"),
    (lambda s: vp.cost(np.zeros(2), s.y[:5], s.freqs), "'y'"),
    (lambda s: vp.cost(np.zeros(2), np.zeros(7), s.freqs), "'y'"),
    (lambda s: vp.cost(np.linspace(0, 1, 20), s.y, s.freqs), "'tau'"),
    (lambda s: vp.gauss_newton_hessp(np.zeros(2), np.zeros(3), s.y, s.freqs), "'v'"),
    (lambda s: vp.crb(np.zeros(4), s.freqs, 1.0), "'theta'"),
    (lambda s: vp.cost2d(np.zeros(3), np.zeros((2, 16), complex), s.freqs, [0, .5]), "'x'"),
    (lambda s: vp.cost2d(np.zeros(2), np.zeros((3, 16), complex), s.freqs, [0, .5]), "'y'"),
    (lambda s: vp.crb2d(np.zeros(6), s.freqs, [0, .5], 1.0), "'theta'"),
    (lambda s: vp.ConcentratedProblem(s.y, s.freqs, np.zeros((1, 2))), "'tau0'"),
    (lambda s: vp.ConcentratedProblem(s.y, s.freqs, np.zeros(2), np.zeros(5)), "'theta_true'"),
    (lambda s: vp.ConcentratedProblem(s.y[:4], s.freqs, np.zeros(2)), "'y'"),
    (lambda s: vp.ConcentratedProblem(s.y, s.freqs, np.zeros(2)).fun(np.zeros(3)), "'x'"),
    (lambda s: vp.ConcentratedProblem(s.y, s.freqs, np.zeros(2)).hessp(np.zeros(2), [1]), "'v'"),
    (lambda s: vp.ConcentratedProblem2D(np.zeros((2, 16)), s.freqs, [0, .5], np.zeros(3)),
     "'x0'"),
    (lambda s: vp.ConcentratedProblem2D(np.zeros((2, 16)), s.freqs, [0, .5], np.zeros(2),
                                        np.zeros(2)), "'theta_true'"),
])
def test_bad_arguments_raise_a_value_error_naming_them(call, match):
    s = draw(*CASES_1D[0])
    with pytest.raises(ValueError, match=match):
        call(s)


def test_inputs_are_not_mutated():
    s = draw(*CASES_1D[1])
    tau, y, freqs = start(s, 1).copy(), s.y.copy(), s.freqs.copy()
    v = np.ones_like(tau)
    saved = [a.copy() for a in (tau, y, freqs, v)]
    vp.gradient(tau, y, freqs)
    vp.jacobian(tau, y, freqs)
    vp.gauss_newton_hessp(tau, v, y, freqs)
    vp.full_theta(tau, y, freqs)
    prob = vp.ConcentratedProblem(y, freqs, tau, s.theta_true, float(s.sigma2))
    x = prob.x0
    x[0] += 1.0  # the start handed out is a copy
    assert_allclose(prob.x0, tau)
    prob.jac(tau)
    prob.hessp(tau, v)
    prob.delay_errors(tau)
    for a, b in zip((tau, y, freqs, v), saved):
        assert np.array_equal(a, b)


# ------------------------------------------------------------------------------- SciPy classes


def test_lm_on_the_concentrated_problem_resolves_the_delays():
    for seed in range(3):
        prob = vp.ConcentratedProblem.random(seed, P=3, M=32, snr_db=20.0,
                                             delay_perturbation=0.4)
        assert (prob.n, prob.P, prob.M) == (3, 3, 32) and prob.x0.shape == (3,)
        res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
        assert prob.delays_resolved(res.x), prob.delay_errors(res.x)
        assert_allclose(prob.fun(res.x), 2 * res.cost, rtol=1e-10)
        # the delays are within a few bounds of the truth, as the full estimator's
        assert np.all(prob.delay_errors(res.x) <= 6 * prob.crb_delay() / prob.cell + 1e-9)
        assert_allclose(np.linalg.norm(prob.jac(res.x)), 0.0,
                        atol=1e-6 * np.linalg.norm(prob.jac(prob.x0)))


def test_problem_methods_agree_with_the_functions_and_the_full_problem():
    s = ch.sample(4, 2, 24, 20.0)
    prob = vp.ConcentratedProblem.from_sample(s)
    full = ch.ChannelProblem.from_sample(s)
    tau = start(s, 1)
    assert_allclose(prob.x0, tau)
    assert_allclose(prob.x_true, s.theta_true[:2])
    assert_allclose(prob.theta_true, s.theta_true)
    assert prob.cell == full.cell and prob.period == full.period
    assert_allclose(prob.fun(tau), vp.cost(tau, s.y, s.freqs))
    assert_allclose(prob.hess(tau) @ [1.0, -1.0], prob.hessp(tau, [1.0, -1.0]), rtol=1e-10)
    assert_allclose(prob.full_theta(tau), vp.full_theta(tau, s.y, s.freqs))
    theta = prob.full_theta(tau)
    assert_allclose(prob.delay_errors(tau), full.delay_errors(theta))
    assert prob.delays_resolved(tau) == full.delays_resolved(theta)
    assert_allclose(prob.crb_delay(), np.sqrt(np.diagonal(vp.crb(s.theta_true, s.freqs,
                                                                   s.sigma2))), rtol=1e-8)
    assert "ConcentratedProblem" in repr(prob)


def test_2d_problem_resolves_with_lm_and_matches_the_full_problem():
    prob = vp.ConcentratedProblem2D.random(2, P=2, M=16, K=8, snr_db=20.0)
    assert (prob.n, prob.P, prob.M, prob.K) == (4, 2, 16, 8)
    res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
    assert prob.resolved(res.x)
    full = ch2.ChannelProblem2D(prob.y, prob.freqs, prob.positions, prob.full_theta(prob.x0),
                                prob.theta_true, prob.sigma2)
    theta = prob.full_theta(res.x)
    assert_allclose(prob.delay_errors(res.x), full.delay_errors(theta))
    assert_allclose(prob.angle_errors(res.x), full.angle_errors(theta))
    assert_allclose(prob.crb_delay(), full.crb_delay())
    assert_allclose(prob.crb_angle(), full.crb_angle())
    assert prob.hess(res.x).shape == (4, 4)


# ------------------------------------------------------------------------------- families


def _replay(seed, batch, widths=None):
    """The arguments of channel.sample that ``Channel.sample`` draws from ``seed`` (the
    implementation before ``perturbation`` existed, plus a width where ``widths`` is a range),
    and the generator after them."""
    g = torch.Generator().manual_seed(seed)
    P, M = fam._randint(g, 1, 3), fam._randint(g, 16, 64)
    units = "natural" if fam._randint(g, 0, 1) == 0 else "scaled"
    seed = int(torch.randint(0, 2**62, (), generator=g))
    snr = fam._uniform(g, (batch,), 10.0, 30.0).numpy()
    options = dict(batch=batch, units=units)
    if widths is not None:
        options["delay_perturbation"] = float(fam._uniform(g, (), *widths))
    return (seed, P, M, snr), options, g


def test_channel_family_with_defaults_draws_as_before(one_torch_thread):
    """The default ``Channel()`` keeps drawing what it drew before ``perturbation`` existed, so
    configs written earlier reproduce."""
    g = torch.Generator().manual_seed(7)
    p = fam.Channel().sample(g, 4)
    args, options, replayed = _replay(7, 4)
    s = ch.sample(*args, **options)
    assert torch.equal(p.x0, torch.from_numpy(s.theta0))
    assert torch.equal(p.data[0], torch.from_numpy(stacked(s.y)))
    assert torch.equal(g.get_state(), replayed.get_state())


def test_channel_family_draws_one_perturbation_width_per_batch(one_torch_thread):
    g = torch.Generator().manual_seed(3)
    p = fam.Channel(perturbation=(0.05, 0.1)).sample(g, 6)
    args, options, replayed = _replay(3, 6, (0.05, 0.1))
    assert 0.05 <= options["delay_perturbation"] <= 0.1
    s = ch.sample(*args, **options)
    assert torch.equal(p.x0, torch.from_numpy(s.theta0))
    assert torch.equal(g.get_state(), replayed.get_state())
    with pytest.raises(ValueError, match="'perturbation'"):
        fam.Channel(perturbation=(0.3, 0.1))
    with pytest.raises(ValueError, match="'perturbation'"):
        fam.ConcentratedChannel(perturbation=0.3)
    with pytest.raises(ValueError, match="'angle_perturbation'"):
        fam.ConcentratedChannel2D(angle_perturbation=(-1.0, 0.1))


def test_channel_family_hessian_product_is_the_gauss_newton_product(one_torch_thread):
    p = fam.Channel(paths=(2, 2), subcarriers=(16, 16)).sample(torch.Generator().manual_seed(1),
                                                                3)
    v = torch.ones_like(p.x0)
    hv = p.hessian_product(p.x0, v)
    J = ch.jacobian(p.x0, p.data[1])
    assert_allclose(hv.numpy(), (2 * J.transpose(-1, -2) @ (J @ v[..., None]))[..., 0].numpy(),
                    rtol=1e-10, atol=1e-10 * float(hv.abs().max()))


@pytest.mark.parametrize("name, D", [("channel_concentrated", 1), ("channel2d_concentrated", 2)])
def test_concentrated_families_sample_valid_batches(name, D, one_torch_thread):
    family = fam.get_family(name)
    for seed in range(2):
        p = family.sample(torch.Generator().manual_seed(seed), 5)
        B, n = p.x0.shape
        assert B == 5 and n % D == 0 and p.x_star.shape == p.x0.shape
        assert p.x0.dtype == p.x_star.dtype == p.f_star.dtype == torch.float64
        f0, fs = p.value(p.x0), p.value(p.x_star)
        assert torch.isfinite(f0).all() and torch.isfinite(fs).all()
        assert_allclose(fs.numpy(), p.f_star.numpy(), rtol=1e-12)
        assert bool((p.f_star <= f0 * (1 + 1e-12)).all()), (p.f_star, f0)
        # x_star is a stationary point near the start (both near the truth)
        g_star, g0 = p.gradient(p.x_star), p.gradient(p.x0)
        assert bool((g_star.norm(dim=-1) <= 1e-6 * g0.norm(dim=-1) + 1e-12).all())
        assert bool(((p.x_star - p.x0).abs().max() < 1.0).item())
        # differentiable in x; the product agrees with the matrix
        x = p.x0.clone().requires_grad_(True)
        (auto,) = torch.autograd.grad(p.value(x).sum(), x)
        assert_allclose(auto.numpy(), g0.numpy(), rtol=1e-8, atol=1e-8 * float(g0.abs().max()))
        v = torch.randn(p.x0.shape, generator=torch.Generator().manual_seed(9),
                        dtype=torch.float64)
        hv = p.hessian_product(p.x0, v)
        assert hv.shape == p.x0.shape and torch.isfinite(hv).all()


def test_coincident_delays_give_finite_values():
    # two paths at one delay make the weights' normal equations singular; the projection has a
    # limit there, and a run that steps onto it must not end in a LinAlgError
    prob = vp.ConcentratedProblem.random(0, 3, 64, 20.0, units="scaled")
    x = prob.x0.copy()
    x[1] = x[0]
    values = (prob.fun(x), prob.jac(x), prob.hess(x), prob.residual(x), prob.jacobian(x))
    assert all(np.all(np.isfinite(v)) for v in values)
    assert 0.0 <= prob.fun(x) <= float(np.sum(np.abs(prob.y) ** 2))
