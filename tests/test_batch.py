"""``minimize_batch``: each row is ``minimize(..., method=learned)`` on that row alone."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import Bounds, minimize

from learnedmin import FixedWeights, learned, minimize_batch
from learnedmin.policy import CLASSICAL_WEIGHTS
from learnedmin.problems import channel as ch


def _quadratics(batch, n, seed=0):
    """Well-conditioned convex quadratics ``f = 0.5 (x - c)' A (x - c)``: trajectories that do
    not amplify rounding, so per-row results can be compared closely."""
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.standard_normal((batch, n, n)))[0]
    lam = rng.uniform(1.0, 5.0, (batch, n))
    A = (q * lam[:, None, :]) @ np.swapaxes(q, -1, -2)
    c = rng.standard_normal((batch, n))
    return A, c


def quad_f(x, A, c):
    e = x - c
    return 0.5 * np.einsum("bi,bij,bj->b", e, A, e)


def quad_g(x, A, c):
    return np.einsum("bij,bj->bi", A, x - c)


def quad_fg(x, A, c):
    return quad_f(x, A, c), quad_g(x, A, c)


def _row(A, c, x0, paired=False, **kw):
    if paired:
        def fg(x):
            f, g = quad_fg(x[None], A[None], c[None])
            return f[0], g[0]

        return minimize(fg, x0, jac=True, method=learned, **kw)
    return minimize(lambda x: quad_f(x[None], A[None], c[None])[0], x0,
                    jac=lambda x: quad_g(x[None], A[None], c[None])[0], method=learned, **kw)


@pytest.mark.parametrize("jac", ["callable", True])
def test_each_row_equals_learned_on_that_row(jac):
    A, c = _quadratics(6, 5)
    x0 = np.zeros((6, 5))
    res = minimize_batch(quad_fg if jac is True else quad_f, x0, args=(A, c),
                         jac=True if jac is True else quad_g)
    assert res.x.shape == (6, 5) and res.fun.shape == (6,) and len(res.message) == 6
    for i in range(6):
        ref = _row(A[i], c[i], x0[i], paired=jac is True)
        assert res.nit[i] == ref.nit and res.status[i] == ref.status, (i, res.nit[i], ref.nit)
        assert_allclose(res.x[i], ref.x, rtol=1e-10, atol=1e-12)
        assert res.nfev[i] == ref.nfev and res.njev[i] == ref.njev
    assert res.success.all()


def test_finished_rows_are_never_evaluated_again():
    A, c = _quadratics(4, 3, seed=1)
    x0 = np.array(c)
    x0[1:] += 1.0  # row 0 starts at its minimiser
    seen = []

    def fg(x, A, c):
        seen.append(len(x))
        return quad_fg(x, A, c)

    res = minimize_batch(fg, x0, args=(A, c), jac=True)
    assert res.nit[0] == 0 and res.nfev[0] == 1 and res.success.all()
    assert seen[0] == 4 and max(seen[1:]) == 3  # after the start, row 0 is gone
    assert sum(seen) == int(res.nfev.sum())


def test_bounds_broadcast_and_match_learned():
    A, c = _quadratics(3, 4, seed=2)
    lb, ub = -0.2 * np.ones(4), 0.3 * np.ones(4)
    res = minimize_batch(quad_f, np.zeros((3, 4)), args=(A, c), jac=quad_g, bounds=(lb, ub))
    for i in range(3):
        ref = _row(A[i], c[i], np.zeros(4), bounds=Bounds(lb, ub))
        assert_allclose(res.x[i], ref.x, rtol=1e-9, atol=1e-12)
        assert res.nit[i] == ref.nit
    assert np.all(res.x >= lb) and np.all(res.x <= ub)


def test_hessian_products_and_finite_differences():
    A, c = _quadratics(3, 4, seed=3)
    res = minimize_batch(quad_f, np.zeros((3, 4)), args=(A, c), jac=quad_g,
                         hessp=lambda x, p, A, c: np.einsum("bij,bj->bi", A, p))
    assert res.success.all() and np.all(res.nhev > 0)
    assert_allclose(res.x, c, atol=1e-5)
    dense = minimize_batch(quad_f, np.zeros((3, 4)), args=(A, c), jac=quad_g,
                           hess=lambda x, A, c: A)
    assert_allclose(dense.x, c, atol=1e-5)
    fd = minimize_batch(quad_f, np.zeros((3, 4)), args=(A, c))
    assert fd.success.all() and np.all(fd.nfev > 4 * fd.njev)
    assert_allclose(fd.x, c, atol=1e-4)


def test_fixed_weights_and_options_pass_through():
    A, c = _quadratics(2, 3, seed=4)
    res = minimize_batch(quad_f, np.zeros((2, 3)), args=(A, c), jac=quad_g,
                         weights=FixedWeights(CLASSICAL_WEIGHTS), maxiter=2)
    assert np.all(res.nit == 2) and np.all(res.status == 1)
    assert res.message[0] == "Maximum number of iterations has been exceeded."


def test_x0_and_args_are_not_mutated():
    A, c = _quadratics(2, 3, seed=5)
    x0 = np.ones((2, 3))
    keep = (x0.copy(), A.copy(), c.copy())

    def f(x, A, c):
        out = quad_f(x, A, c)
        x[:] = 99.0  # a careless user function
        return out

    minimize_batch(f, x0, args=(A, c), jac=quad_g)
    for a, b in zip((x0, A, c), keep):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("bad, kwargs, match", [
    (np.zeros(3), {}, r"'x0' must have shape \(B, n\)"),
    (np.array([[np.nan, 0.0]]), {}, "'x0' contains NaN"),
    (np.zeros((2, 3)), {"args": (np.zeros(3),)}, "leading batch dimension of 2"),
    (np.zeros((2, 3)), {"bounds": (np.zeros(2), np.ones(2))}, "do not broadcast"),
    (np.zeros((2, 3)), {"gtol": -1.0}, "'gtol' must be a real number >= 0"),
    (np.zeros((2, 3)), {"x_scale": 2.0}, "does not support the option"),
])
def test_bad_input_is_named(bad, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        minimize_batch(lambda x, *a: (x ** 2).sum(-1), bad, jac=lambda x, *a: 2 * x, **kwargs)


def test_a_wrong_shape_from_fun_is_named():
    with pytest.raises(ValueError, match=r"`fun` must return an array of shape \(2,\)"):
        minimize_batch(lambda x: (x ** 2).sum(), np.ones((2, 3)), jac=lambda x: 2 * x)


def test_channel_snapshots_in_one_call():
    s = ch.sample(3, P=3, M=64, snr_db=20.0, batch=40)

    def fg(theta, y):
        return ch.cost(theta, y, s.freqs), ch.gradient(theta, y, s.freqs)

    res = minimize_batch(fg, s.theta0, args=(s.y,), jac=True, weights="channel")
    assert res.success.mean() >= 0.9
    for i in (0, 17):
        ref = minimize(lambda t: ch.cost(t, s.y[i], s.freqs), s.theta0[i],
                       jac=lambda t: ch.gradient(t, s.y[i], s.freqs),
                       method=learned.__class__(weights="channel"))
        assert ref.status == res.status[i]
        assert abs(ref.fun - res.fun[i]) <= 1e-8 * abs(ref.fun)


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    A, c = _quadratics(3, 4, seed=6)
    At, ct = torch.from_numpy(A), torch.from_numpy(c)

    def fg(x, A, c):
        e = x - c
        g = (A @ e[..., None])[..., 0]
        return 0.5 * (e * g).sum(-1), g

    res = minimize_batch(fg, torch.zeros(3, 4, dtype=torch.float64), args=(At, ct), jac=True)
    assert isinstance(res.x, torch.Tensor) and isinstance(res.nit, torch.Tensor)
    ref = minimize_batch(quad_fg, np.zeros((3, 4)), args=(A, c), jac=True)
    assert_allclose(res.x.numpy(), ref.x, rtol=1e-9, atol=1e-12)
    assert res.nit.tolist() == ref.nit.tolist()


@pytest.mark.gpu
def test_torch_on_cuda_stays_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    s = ch.sample(4, P=3, M=64, snr_db=20.0, batch=64)
    dev = torch.device("cuda")
    freqs = torch.from_numpy(s.freqs).to(dev)

    def fg(theta, y):
        return ch.cost(theta, y, freqs), ch.gradient(theta, y, freqs)

    res = minimize_batch(fg, torch.from_numpy(s.theta0).to(dev),
                         args=(torch.from_numpy(s.y).to(dev),), jac=True)
    assert res.x.device.type == "cuda" and bool(res.success.float().mean() >= 0.9)


def test_throughput_benchmark_reports_every_solver():
    from learnedmin.bench.batch import format_batch, measure_batch

    out = measure_batch(sizes=(3,), loop_limit=2)
    solvers = [r["solver"] for r in out["rows"]]
    assert solvers[0] == "LM loop" and len(solvers) == 4
    for r in out["rows"]:
        assert r["instances"] == (3 if r["solver"].startswith("minimize_batch") else 2)
        assert 0.0 <= r["resolved"] <= 1.0 and r["per_second"] > 0
    assert out["rows"][0]["ratio_to_lm"] == 1.0
    assert "| 3 | minimize_batch (jac=True) | 3 |" in format_batch(out)


def test_channel_kernel_matches_the_model():
    from learnedmin.bench.batch import ChannelKernel

    s = ch.sample(5, P=3, M=32, snr_db=15.0, batch=4)
    kernel = ChannelKernel(s.freqs)
    y = np.concatenate([s.y.real, s.y.imag], axis=-1)
    cost, grad = kernel.cost_and_gradient(s.theta0, y)
    assert_allclose(cost, ch.cost(s.theta0, s.y, s.freqs), rtol=1e-12)
    assert_allclose(grad, ch.gradient(s.theta0, s.y, s.freqs), rtol=1e-10,
                    atol=1e-12 * np.abs(grad).max())
    J = ch.jacobian(s.theta0, s.freqs)
    gn = 2 * np.swapaxes(J, -1, -2) @ J
    for theta in (s.theta0, s.theta0 + 1e-3):  # from the cached phases, and computed afresh
        expected = gn if theta is s.theta0 else 2 * np.swapaxes(
            ch.jacobian(theta, s.freqs), -1, -2) @ ch.jacobian(theta, s.freqs)
        assert_allclose(kernel.gauss_newton(theta, y), expected, rtol=1e-10,
                        atol=1e-12 * np.abs(expected).max())
