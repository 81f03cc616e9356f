"""What the delay model and the delay-angle model share, tested on both: derivatives, backends,
bounds, the sampler and the problem classes.

The ``dim`` fixture is one channel model (a "dimension": delay, or delay x angle); the tests
that only one model has stay in ``test_channel.py`` and ``test_channel2d.py``.
"""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.optimize import least_squares

from learnedmin.problems import channel as ch
from learnedmin.problems import channel2d as c2

from _helpers import central_differences

# Example counts and determinism come from the loaded profile (conftest.py: "deterministic" by
# default, "thorough" on request); no per-example deadline.
PROFILE = settings(deadline=None)

seeds = st.integers(0, 2**32 - 1)


class Dimension:
    """One channel model as the shared tests use it: its module, grids and problem class.

    ``sizes`` are the default grid sizes (``(M,)`` or ``(M, K)``); ``grids`` and ``paths`` are
    the hypothesis strategies of ``(sizes, units, centred)`` and of ``P``; ``cases`` holds the
    instances that a test drew for this model before the two models' tests were merged.
    """

    def __init__(self, name, module, problem, sizes, grids, paths, cases):
        self.name, self.m, self.problem = name, module, problem
        self.axes = module.AXES
        self.D = len(self.axes)
        self.sizes, self.grids, self.paths, self.cases = sizes, grids, paths, cases

    def __repr__(self):
        return self.name

    def sample(self, seed, P, snr_db, sizes=None, **options):
        return self.m.sample(seed, P, *(sizes or self.sizes), snr_db, **options)

    def draw(self, seed, P, grid, **options):
        sizes, units, centred = grid
        return self.sample(seed, P, 20.0, sizes, units=units, centred=centred, **options)

    def args(self, s):
        """The grids of a sample, as the model's functions take them after ``theta`` (``y``)."""
        return tuple(getattr(s, a.grid) for a in self.axes)

    def cells(self, s):
        return [getattr(s, a.cell) for a in self.axes]

    def fd_steps(self, s):
        """Finite-difference steps matched to each coordinate's scale (axes vs weights)."""
        P = s.theta0.size // (self.D + 2)
        return np.concatenate([np.full(P, 1e-4 * c) for c in self.cells(s)]
                              + [np.full(2 * P, 1e-5)])

    def observations(self, s):
        return math.prod(s.y.shape[-self.D:])


DELAY = Dimension(
    "delay", ch, ch.ChannelProblem, (16,),
    st.sampled_from([((16,), "natural", False), ((24,), "natural", True),
                     ((16,), "scaled", False), ((33,), "scaled", True)]),
    st.integers(1, 4),
    dict(torch=(64,), autograd=((64,), (2, 2)), crb_torch=(3, (32,)), noise=((64,), 400),
         problem_crb=dict(sizes=(64,), centred=False, rtol=1e-6), units_rtol=1e-15,
         lm=dict(seeds=range(5), P=1, sizes=(64,))))
DELAY_ANGLE = Dimension(
    "delay x angle", c2, c2.ChannelProblem2D, (16, 8),
    st.sampled_from([((16, 8), "natural", False), ((12, 5), "natural", True),
                     ((16, 4), "scaled", False), ((9, 6), "scaled", True)]),
    st.integers(1, 3),
    dict(torch=(16, 8), autograd=((16, 8), 2), crb_torch=(2, (16, 8)), noise=((16, 8), 200),
         problem_crb=dict(sizes=(16, 8), centred=True, rtol=1e-8), units_rtol=1e-14,
         lm=dict(seeds=range(4), P=2, sizes=(16, 8))))


@pytest.fixture(scope="module", params=[DELAY, DELAY_ANGLE], ids=repr)
def dim(request):
    return request.param


# ------------------------------------------------------------------------------- derivatives


@PROFILE
@given(seed=seeds, data=st.data())
def test_gradient_matches_finite_differences(dim, seed, data):
    s = dim.draw(seed, data.draw(dim.paths), data.draw(dim.grids))
    g = dim.m.gradient(s.theta0, s.y, *dim.args(s))
    fd = central_differences(lambda t: np.atleast_1d(dim.m.cost(t, s.y, *dim.args(s))), s.theta0,
                             dim.fd_steps(s))[0]
    assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.linalg.norm(g),
                    err_msg=f"analytic {g} vs finite differences {fd}")


@PROFILE
@given(seed=seeds, data=st.data())
def test_jacobian_matches_finite_differences(dim, seed, data):
    P = data.draw(dim.paths)
    s = dim.draw(seed, P, data.draw(dim.grids))
    J = dim.m.jacobian(s.theta0, *dim.args(s))
    assert J.shape == (2 * dim.observations(s), (dim.D + 2) * P)
    fd = central_differences(lambda t: dim.m.residual(t, s.y, *dim.args(s)), s.theta0,
                             dim.fd_steps(s))
    assert_allclose(J, fd, rtol=1e-6, atol=1e-7 * np.abs(J).max())


@PROFILE
@given(seed=seeds, data=st.data())
def test_gauss_newton_hessp_and_fisher_are_jtj(dim, seed, data):
    P = data.draw(dim.paths)
    s = dim.draw(seed, P, data.draw(dim.grids))
    v = np.random.default_rng(seed).standard_normal((dim.D + 2) * P)
    J = dim.m.jacobian(s.theta0, *dim.args(s))
    Hv = dim.m.gauss_newton_hessp(s.theta0, v, *dim.args(s))
    assert_allclose(Hv, 2 * J.T @ (J @ v), rtol=1e-12, atol=1e-12 * np.abs(Hv).max())
    F = dim.m.fisher_information(s.theta0, *dim.args(s), s.sigma2)
    assert_allclose(F, (2 / s.sigma2) * J.T @ J, rtol=1e-12, atol=1e-12 * np.abs(F).max())


@PROFILE
@given(seed=seeds, data=st.data())
def test_cost_is_squared_residual_norm_and_gradient_is_twice_jtr(dim, seed, data):
    s = dim.draw(seed, data.draw(dim.paths), data.draw(dim.grids))
    r = dim.m.residual(s.theta0, s.y, *dim.args(s))
    c = dim.m.cost(s.theta0, s.y, *dim.args(s))
    assert_allclose(c, r @ r, rtol=1e-13)
    assert_allclose(c, np.sum(np.abs(s.y - dim.m.model(s.theta0, *dim.args(s))) ** 2),
                    rtol=1e-12)
    # The gradient is 2 J^T r: the cost carries no factor 1/2 (least_squares' cost is c / 2).
    J = dim.m.jacobian(s.theta0, *dim.args(s))
    assert_allclose(dim.m.gradient(s.theta0, s.y, *dim.args(s)), 2 * J.T @ r, rtol=1e-12)


def test_real_stacked_observation_equals_complex(dim):
    s = dim.sample(3, 2, 10.0)
    stacked = np.concatenate([s.y.real.ravel(), s.y.imag.ravel()])
    assert_allclose(dim.m.cost(s.theta0, stacked, *dim.args(s)),
                    dim.m.cost(s.theta0, s.y, *dim.args(s)), rtol=1e-15)


def test_functions_leave_their_inputs_untouched(dim):
    s = dim.sample(6, 2, 20.0, sizes=(8, 4)[:dim.D])
    inputs = [s.theta0, s.y, *dim.args(s)]
    before = [a.copy() for a in inputs]
    dim.m.gradient(s.theta0, s.y, *dim.args(s))
    dim.m.gauss_newton_hessp(s.theta0, s.theta0, *dim.args(s))
    dim.m.crb(s.theta_true, *dim.args(s), s.sigma2)
    for a, b in zip(inputs, before):
        assert_allclose(a, b, rtol=0)


# -------------------------------------------------------------------------------- invariants


@PROFILE
@given(seed=seeds, data=st.data())
def test_cost_is_invariant_to_path_order(dim, seed, data):
    P = data.draw(st.integers(2, 4 if dim.D == 1 else 3))
    s = dim.draw(seed, P, data.draw(dim.grids))
    perm = np.array(data.draw(st.permutations(range(P))))
    idx = np.concatenate([perm + k * P for k in range(dim.D + 2)])
    assert_allclose(dim.m.cost(s.theta0[idx], s.y, *dim.args(s)),
                    dim.m.cost(s.theta0, s.y, *dim.args(s)), rtol=1e-12)


@PROFILE
@given(seed=seeds, phi=st.floats(-math.pi, math.pi), data=st.data())
def test_common_phase_rotation_of_weights_and_data_keeps_the_cost(dim, seed, phi, data):
    P = data.draw(dim.paths)
    s = dim.draw(seed, P, data.draw(dim.grids))
    n = dim.D * P
    gamma = (s.theta0[n:n + P] + 1j * s.theta0[n + P:]) * np.exp(1j * phi)
    rotated = np.concatenate([s.theta0[:n], gamma.real, gamma.imag])
    assert_allclose(dim.m.cost(rotated, s.y * np.exp(1j * phi), *dim.args(s)),
                    dim.m.cost(s.theta0, s.y, *dim.args(s)), rtol=1e-11)


# ----------------------------------------------------------------------------- torch backend


def test_torch_batched_matches_numpy_per_element(dim, one_torch_thread):
    s = dim.sample(7, 3, 20.0, sizes=dim.cases["torch"], batch=2)
    n = 3 * (dim.D + 2)
    theta, y = torch.from_numpy(s.theta0), torch.from_numpy(s.y)
    c = dim.m.cost(theta, y, *[torch.from_numpy(g) for g in dim.args(s)])
    g = dim.m.gradient(theta, y, *dim.args(s))  # numpy grids are converted to theta's backend
    Hv = dim.m.gauss_newton_hessp(theta, torch.ones_like(theta), *dim.args(s))
    assert c.shape == (2,) and g.shape == (2, n) and c.dtype == torch.float64
    for b in range(2):
        assert_allclose(c[b].item(), dim.m.cost(s.theta0[b], s.y[b], *dim.args(s)), rtol=1e-12)
        gb = dim.m.gradient(s.theta0[b], s.y[b], *dim.args(s))
        assert_allclose(g[b].numpy(), gb, rtol=1e-12, atol=1e-12 * np.abs(gb).max())
        Hb = dim.m.gauss_newton_hessp(s.theta0[b], np.ones(n), *dim.args(s))
        assert_allclose(Hv[b].numpy(), Hb, rtol=1e-12, atol=1e-12 * np.abs(Hb).max())


def test_torch_autograd_gradient_equals_the_analytic_gradient(dim, one_torch_thread):
    sizes, batch = dim.cases["autograd"]
    s = dim.sample(8, 3, 20.0, sizes=sizes, batch=batch)
    theta = torch.from_numpy(s.theta0).requires_grad_(True)
    y = torch.from_numpy(s.y)
    dim.m.cost(theta, y, *dim.args(s)).sum().backward()
    g = dim.m.gradient(theta.detach(), y, *dim.args(s))
    assert_allclose(theta.grad.numpy(), g.numpy(), rtol=1e-10,
                    atol=1e-12 * g.abs().max().item())


def test_torch_autograd_jacobian_equals_the_analytic_jacobian(dim, one_torch_thread):
    s = dim.sample(9, 2, 20.0, sizes=(16,) if dim.D == 1 else (8, 4))
    theta = torch.from_numpy(s.theta0)
    J = torch.autograd.functional.jacobian(lambda t: dim.m.residual(t, s.y, *dim.args(s)), theta)
    assert_allclose(J.numpy(), dim.m.jacobian(s.theta0, *dim.args(s)), rtol=1e-12, atol=1e-12)


def test_batched_torch_crb_matches_numpy(dim, one_torch_thread):
    P, sizes = dim.cases["crb_torch"]
    s = dim.sample(2, P, 20.0, sizes=sizes, batch=2)
    C = dim.m.crb(torch.from_numpy(s.theta_true), *dim.args(s), torch.from_numpy(s.sigma2))
    for b in range(2):
        Cb = dim.m.crb(s.theta_true[b], *dim.args(s), s.sigma2[b])
        assert_allclose(C[b].numpy(), Cb, rtol=1e-9, atol=1e-12 * np.abs(Cb).max())


# ------------------------------------------------------------------------- Cramér-Rao bound


@PROFILE
@given(seed=seeds, data=st.data())
def test_crb_is_symmetric_positive_definite_and_inverts_the_fisher_matrix(dim, seed, data):
    P = data.draw(dim.paths)
    s = dim.draw(seed, P, data.draw(dim.grids))
    C = dim.m.crb(s.theta_true, *dim.args(s), s.sigma2)
    F = dim.m.fisher_information(s.theta_true, *dim.args(s), s.sigma2)
    d = np.sqrt(np.diag(F))  # compare after equilibration: delay and weight entries differ a lot
    Ce = C * np.outer(d, d)
    assert_allclose(Ce, Ce.T, rtol=1e-10, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(Ce) > 0), np.linalg.eigvalsh(Ce)
    assert_allclose(Ce @ (F / np.outer(d, d)), np.eye((dim.D + 2) * P), atol=1e-8)


def test_crb_of_a_problem_is_the_root_of_the_bound(dim):
    # For one path each axis has the single-tone bound with the other axes' samples as
    # repetitions: var >= 6 / ((2 pi dg)^2 SNR R N (N^2 - 1)), 2 pi dg = 2 pi / range in natural
    # units, SNR = 20 dB (total power).
    case = dim.cases["problem_crb"]
    prob = dim.problem.random(1, 1, *case["sizes"], 20.0, centred=case["centred"])
    observations = math.prod(case["sizes"])
    stds = [prob.crb_delay()] + ([prob.crb_angle()] if dim.D > 1 else [])
    for a, N, std in zip(dim.axes, case["sizes"], stds):
        expected = np.sqrt(6 / ((2 * np.pi / a.natural_range) ** 2 * 100.0 * (observations // N)
                                * N * (N**2 - 1)))
        assert_allclose(std, [expected], rtol=case["rtol"], err_msg=a.name)


# ---------------------------------------------------------------------------------- sampler


@PROFILE
@given(seed=seeds, data=st.data(), sep=st.floats(0.5, 1.5), db=st.floats(0, 6),
       ph=st.floats(0, 1), reference=st.sampled_from(["total", "strongest"]),
       units=st.sampled_from(ch.UNITS))
def test_sampler_respects_separation_margins_snr_and_start_bounds(
        dim, seed, data, sep, db, ph, reference, units):
    if dim.D == 1:
        P, sizes = data.draw(st.integers(1, 5)), (data.draw(st.integers(8, 64)),)
    else:
        P, sizes = data.draw(st.integers(1, 4)), (data.draw(st.integers(12, 32)),
                                                 data.draw(st.integers(4, 8)))
    perturbations = [data.draw(st.floats(0, 0.4)) for _ in dim.axes]
    options = {f"{a.name}_perturbation": d for a, d in zip(dim.axes, perturbations)}
    s = dim.sample(seed, P, 17.0, sizes=sizes, batch=3, units=units, min_separation=sep,
                   gain_perturbation_db=db, phase_perturbation=ph, snr_reference=reference,
                   **options)
    tol = 1e-9
    cells = [s.theta_true[:, d * P:(d + 1) * P] / c for d, c in enumerate(dim.cells(s))]
    tau, M = cells[0], sizes[0]
    # The rule: every pair of paths is `sep` cells apart on some axis (on one axis: in delay).
    apart = np.maximum.reduce([np.abs(c[:, :, None] - c[:, None, :]) for c in cells])
    assert np.all(apart + sep * np.eye(P) >= sep - tol), apart
    assert np.all(np.diff(tau, axis=-1) >= (sep - tol if dim.D == 1 else 0)), tau
    assert np.all((tau >= 1 - tol) & (tau <= M - 1 + tol)), tau
    for mu, K in zip(cells[1:], sizes[1:]):
        assert np.all(np.abs(mu) <= K / 2 - 1 + tol), mu
    for d, (c, cell, most) in enumerate(zip(cells, dim.cells(s), perturbations)):
        assert np.all(np.abs(s.theta0[:, d * P:(d + 1) * P] / cell - c) <= most + tol)
    n = dim.D * P
    g = s.theta_true[:, n:n + P] + 1j * s.theta_true[:, n + P:]
    g0 = s.theta0[:, n:n + P] + 1j * s.theta0[:, n + P:]
    assert np.all(np.abs(20 * np.log10(np.abs(g))) <= 10 + tol)
    assert np.all(np.abs(20 * np.log10(np.abs(g0 / g))) <= db + tol)
    assert np.all(np.abs(np.angle(g0 / g)) <= ph + tol)
    power = np.abs(g) ** 2
    ref = power.sum(-1) if reference == "total" else power.max(-1)
    assert_allclose(ref / s.sigma2, 10 ** 1.7, rtol=1e-12)
    assert s.y.shape == (3, *reversed(sizes)) and s.sigma2.shape == (3,)
    assert all(grid.shape == (N,) for grid, N in zip(dim.args(s), sizes))


def test_sampler_noise_has_the_stated_variance(dim):
    sizes, batch = dim.cases["noise"]
    s = dim.sample(0, 2, 10.0, sizes=sizes, batch=batch)
    w = s.y - dim.m.model(s.theta_true, *dim.args(s))
    ratio = np.mean(np.abs(w) ** 2, axis=tuple(range(1, dim.D + 1))) / s.sigma2
    assert abs(ratio.mean() - 1) < 0.02, ratio.mean()
    assert abs(np.mean(w.real**2) / np.mean(w.imag**2) - 1) < 0.05  # circular
    P = 2
    total = np.sum(s.theta_true[:, dim.D * P:] ** 2, axis=-1)  # sum_p |gamma_p|^2
    assert_allclose(total / s.sigma2, 10.0, rtol=1e-12)


def test_sampler_is_reproducible_and_accepts_per_instance_snr(dim):
    a = dim.sample(np.random.default_rng(4), 2, [0.0, 30.0], batch=2)
    b = dim.sample(4, 2, [0.0, 30.0], batch=2)
    for field in ("y", *(ax.grid for ax in dim.axes), "sigma2", "theta_true", "theta0"):
        assert_allclose(getattr(a, field), getattr(b, field), rtol=0, err_msg=field)
    assert not np.allclose(dim.sample(5, 2, 0.0).y, dim.sample(4, 2, 0.0).y)
    P = 2
    total = np.sum(a.theta_true[:, dim.D * P:] ** 2, axis=-1)  # sum_p |gamma_p|^2
    assert_allclose(total / a.sigma2, [1.0, 1e3], rtol=1e-12)


def test_units_describe_the_same_model(dim):
    nat = dim.sample(5, 3, 20.0, sizes=(32,) if dim.D == 1 else (16, 8), units="natural")
    sca = dim.sample(5, 3, 20.0, sizes=(32,) if dim.D == 1 else (16, 8), units="scaled")
    P, n = 3, 3 * dim.D
    for d, (a, N) in enumerate(zip(dim.axes, nat.y.shape[::-1])):
        # A scaled parameter counts cells: the natural one over its cell, range / N.
        assert_allclose(sca.theta_true[d * P:(d + 1) * P],
                        N / a.natural_range * nat.theta_true[d * P:(d + 1) * P],
                        rtol=dim.cases["units_rtol"])
        assert (dim.cells(nat)[d], dim.cells(sca)[d]) == (a.natural_range / N, 1.0)
    assert_allclose(sca.theta0[n:], nat.theta0[n:], rtol=0)
    assert_allclose(sca.y, nat.y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(P=0), r"'P' must be an integer >= 1"),
    (dict(M=1), r"'M' must be an integer >= 2"),
    (dict(units="hertz"), r"'units' must be one of"),
    (dict(snr_reference="mean"), r"'snr_reference' must be 'total' or 'strongest'"),
    (dict(delay_perturbation=-1.0), r"'delay_perturbation' must be a finite number >= 0"),
    (dict(min_separation=math.nan), r"'min_separation' must be a finite number >= 0"),
    (dict(batch=0), r"'batch' must be None, a positive integer"),
    (dict(snr_db=[1.0, 2.0], batch=3), r"does not broadcast to the batch shape"),
])
def test_sampler_rejects_bad_arguments(dim, kwargs, match):
    arguments = dict(rng=0, P=2, **dict(zip(("M", "K"), dim.sizes)), snr_db=20.0) | kwargs
    with pytest.raises(ValueError, match=match):
        dim.m.sample(**arguments)


# ------------------------------------------------------------------------ SciPy convenience


def test_least_squares_lm_recovers_the_paths_at_20_db(dim):
    case = dim.cases["lm"]
    for seed in case["seeds"]:
        prob = dim.problem.random(seed, case["P"], *case["sizes"], 20.0)
        res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
        assert prob.resolved(res.x), (seed, prob.delay_errors(res.x))
        # Stricter than the half-cell test, which the start already passes: the ML estimate.
        assert np.all(prob.delay_errors(res.x) * prob.cell <= 5 * prob.crb_delay())
        if dim.D == 2:
            assert np.all(prob.angle_errors(res.x) * prob.angle_cell <= 5 * prob.crb_angle())
        assert_allclose(2 * res.cost, prob.fun(res.x), rtol=1e-12)


def test_problem_methods_agree_with_the_functions_and_copy_inputs(dim):
    s = dim.sample(6, 2, 20.0)
    prob = dim.problem.from_sample(s)
    n, N = 2 * (dim.D + 2), dim.observations(s)
    x = prob.x0
    x_before = x.copy()
    v = np.arange(float(n))
    assert prob.fun(x) == dim.m.cost(s.theta0, s.y, *dim.args(s))
    assert_allclose(prob.jac(x), dim.m.gradient(s.theta0, s.y, *dim.args(s)), rtol=0)
    assert_allclose(prob.hessp(x, v), dim.m.gauss_newton_hessp(s.theta0, v, *dim.args(s)),
                    rtol=0)
    assert prob.residual(x).shape == (2 * N,) and prob.jacobian(x).shape == (2 * N, n)
    assert_allclose(x, x_before, rtol=0)
    x[0] = 99.0
    assert prob.x0[0] == s.theta0[0] and prob.x_true is not prob.x_true
    assert (prob.P, *(getattr(prob, a.size) for a in dim.axes), prob.n) == (2, *dim.sizes, n)
    assert dim.cells(prob) == dim.cells(s)
    assert prob.resolved(prob.x0)
    assert not prob.resolved(prob.x_true + np.r_[0.6 * prob.cell, np.zeros(n - 1)])
    assert not prob.resolved(np.full(n, np.nan))
    if dim.D == 1:  # the delay model's name of the test
        assert prob.delays_resolved(prob.x0) and not prob.delays_resolved(np.full(n, np.nan))
    with pytest.raises(ValueError, match=rf"'theta' must have shape \({n},\)"):
        prob.fun(np.zeros(n - 1))


def test_problem_hessp_forms_one_jacobian_per_point(dim, monkeypatch):
    s = dim.sample(6, 2, 20.0)
    prob = dim.problem.from_sample(s)
    points = []
    model = prob._model

    def jacobian(theta, *grids):
        points.append(theta.copy())
        return model.jacobian(theta, *grids)

    monkeypatch.setattr(prob, "_model", type(model)(**{**vars(model), "jacobian": jacobian}))
    x = prob.x0
    rng = np.random.default_rng(0)
    for v in rng.standard_normal((5, prob.n)):
        assert_allclose(prob.hessp(x, v), dim.m.gauss_newton_hessp(x, v, *dim.args(s)), rtol=0)
    assert len(points) == 1
    x[0] += 0.01 * prob.cell  # a caller changing its array in place moves the point
    v = np.ones(prob.n)
    assert_allclose(prob.hessp(x, v), dim.m.gauss_newton_hessp(x, v, *dim.args(s)), rtol=0)
    assert len(points) == 2


def test_problem_rejects_bad_arguments(dim):
    s = dim.sample(0, 2, 20.0)
    grids, names = dim.args(s), ", ".join(a.size for a in reversed(dim.axes))
    n = 2 * (dim.D + 2)
    bad_y = s.y.T if dim.D > 1 else s.y[:-1]  # transposed, or one entry short
    shape = tuple(reversed(dim.sizes))
    with pytest.raises(ValueError, match=re.escape(f"'y' must have shape ({names}"
                                                   f"{',' * (dim.D == 1)}) = {shape}")):
        dim.problem(bad_y, *grids, s.theta0)
    last = dim.axes[-1].grid
    with pytest.raises(ValueError, match=rf"'{last}' must be a 1-D grid of at least 2"):
        dim.problem(s.y[:1], *grids[:-1], grids[-1][:1], s.theta0)
    with pytest.raises(ValueError, match=rf"positive multiple of {dim.D + 2}; got length {n - 2}"):
        dim.problem(s.y, *grids, s.theta0[:n - 2])
    prob = dim.problem(s.y, *grids, s.theta0)
    with pytest.raises(ValueError, match=rf"'theta' must have shape \({n},\)"):
        prob.fun(np.zeros(n - 1))
    bounds = [prob.crb_delay] + ([prob.crb_angle] if dim.D > 1 else [])
    for bound in bounds:
        with pytest.raises(ValueError, match=r"the CRB needs 'theta_true' and 'sigma2'"):
            bound()
    with pytest.raises(ValueError, match=r"path errors need 'theta_true'"):
        prob.resolved(prob.x0)
    with pytest.raises(TypeError, match=r"'batch' is not an option"):
        dim.problem.random(0, 2, *dim.sizes, 20.0, batch=2)
    with pytest.raises(ValueError, match=r"'from_sample' needs an unbatched sample"):
        dim.problem.from_sample(dim.sample(0, 2, 20.0, batch=2))
    with pytest.raises(ValueError, match=r"'tol' must be a positive number"):
        dim.problem.from_sample(s).resolved(s.theta0, tol=0)
