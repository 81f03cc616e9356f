"""One iteration, two backends: :func:`learnedmin.step.step` on numpy and on torch agree.

The training unroll, :func:`learnedmin.minimize_batch` and the SciPy method run the same step.
Here a batch goes through the torch driver (:mod:`learnedmin.training.unroll`) and, from every
torch state *converted to numpy*, one numpy step is taken with the same network. Each numpy step
must reproduce the torch step to rounding (1e-10 relative, typically 1e-15), with the same
decisions (step sources, statuses, iteration counts). Comparing one step at a time from a shared
state keeps rounding differences from being amplified along a trajectory, so the test can pin
decisions without pinning anything chaotic.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from learnedmin import _status as st  # noqa: E402
from learnedmin.network import WeightingNet  # noqa: E402
from learnedmin.policy import CLASSICAL_WEIGHTS, FixedWeights, TorchScriptPolicy  # noqa: E402
from learnedmin.requests import drive  # noqa: E402
from learnedmin.step import CLASSICAL, FALLBACK, Setup, step as shared_step  # noqa: E402
from learnedmin.training.families import numpy_instance  # noqa: E402
from learnedmin.training.families import family_names, get_family, rescale  # noqa: E402
from learnedmin.training.unroll import init_state, solver_options, step  # noqa: E402

ITERATIONS = 12
RTOL = 1e-10

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _to_numpy(tree):
    if isinstance(tree, torch.Tensor):
        return tree.detach().numpy().copy()
    if isinstance(tree, tuple):
        items = tuple(_to_numpy(v) for v in tree)
        return type(tree)(*items) if hasattr(tree, "_fields") else items
    return tree


class NumpyAnswers:
    """Answers requests row by row from the numpy callables of each instance."""

    def __init__(self, problem):
        self.problem = problem
        self.rows = [numpy_instance(problem, i)[:2] for i in range(problem.batch)]

    def _products(self, request):
        out = np.full(request.x.shape, np.nan)
        for i in np.flatnonzero(request.rows):
            row = self.problem.select([int(i)])
            out[i] = row.hessian_product(torch.from_numpy(request.x[i])[None],
                                         torch.from_numpy(request.v[i])[None])[0].numpy()
        return out

    def __call__(self, request):
        if request.kind == "hess":
            return None
        if request.kind == "hessp":
            return self._products(request)
        x = request.x
        f = np.full(x.shape[0], np.nan)
        g = np.full(x.shape, np.nan)
        for i in np.flatnonzero(request.rows):
            fun, jac = self.rows[i]
            if request.kind in ("f", "fg"):
                f[i] = fun(x[i])
            if request.kind in ("g", "fg"):
                g[i] = jac(x[i])
        return {"f": f, "g": g, "fg": (f, g)}[request.kind]


def _perturbed_net(seed, scale=0.5):
    """A network whose outputs vary with the statistics (the untrained head is constant)."""
    torch.manual_seed(seed)
    net = WeightingNet(hidden=16)
    with torch.no_grad():
        net.head.weight.copy_(scale * torch.randn(net.head.weight.shape, dtype=torch.float64))
    return net


def _close(a, b, what, k, rtol=RTOL, atol=1e-300):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both_nan = np.isnan(a) & np.isnan(b)
    a, b = np.where(both_nan, 0.0, a), np.where(both_nan, 0.0, b)
    scale = max(float(np.max(np.abs(a), initial=0.0)), 1.0)
    err = float(np.max(np.abs(a - b), initial=0.0))
    assert err <= rtol * scale + atol, (
        f"{what} differs at iteration {k}: numpy {a}, torch {b}, error {err:.3e}"
    )


def _check_parity(net, problem, opts, numpy_policy, iterations=ITERATIONS, newton_cg=False,
                  bounds=None):
    """Returns the step sources seen (rows x iterations) for the caller's own assertions."""
    answers = NumpyAnswers(problem)
    lb, ub = (None, None) if bounds is None else (b.numpy() for b in bounds)
    setup = Setup(numpy_policy, opts, lb, ub, has_hessian=newton_cg)
    sources = []
    with torch.no_grad():
        state = init_state(net, problem, opts, newton_cg=newton_cg, bounds=bounds)
        for k in range(iterations):
            if not bool((state.status == st.RUNNING).any()):
                break
            start = _to_numpy(state)
            state, info = step(net, problem, state, opts, newton_cg=newton_cg, bounds=bounds)
            mine, my_info = drive(shared_step(start, setup), answers)
            np.testing.assert_array_equal(mine.status, state.status.numpy(),
                                          err_msg=f"status at iteration {k}")
            if my_info is None:  # every row stopped by the tests at the start of the step
                assert not bool(info.taken.any())
                break
            np.testing.assert_array_equal(mine.nit, state.nit.numpy())
            np.testing.assert_array_equal(my_info.taken, info.taken.numpy())
            taken = my_info.taken
            np.testing.assert_array_equal(my_info.source[taken], info.source.numpy()[taken],
                                          err_msg=f"step source at iteration {k}")
            sources.append(np.where(taken, my_info.source, -1))
            _close(mine.x, state.x, "iterate", k)
            _close(mine.f, state.f, "value", k)
            _close(mine.g, state.g, "gradient", k)
            if not isinstance(numpy_policy, FixedWeights):  # fixed weights carry no state
                _close(mine.h, state.h, "hidden state", k)
            _close(my_info.alpha, info.alpha, "accepted step", k)
            _close(my_info.weights[taken], info.weights.numpy()[taken], "network weights", k)
            _close(my_info.a_eff[taken], info.a_eff.numpy()[taken], "effective weights", k)
    assert len(sources) >= 3, "the runs stopped after fewer than 3 iterations: a weak test"
    return np.array(sources)


def _numpy_network(net):
    return TorchScriptPolicy(net, net.hidden_size)  # the same eager module, on numpy arrays


FAMILIES = [name for name in ("quadratic", "rosenbrock", "logistic", "mlp_fit", "channel")
            if name in family_names()]


@pytest.mark.parametrize("name", FAMILIES)
def test_numpy_and_torch_steps_agree_with_a_varying_network(name):
    problem = get_family(name).sample(torch.Generator().manual_seed(1), 2)
    problem = rescale(problem, torch.tensor([1.0, 30.0]), torch.tensor([1.0, 0.1]))
    net = _perturbed_net(0)
    _check_parity(net, problem, solver_options(), _numpy_network(net))


@pytest.mark.parametrize("name", ["quadratic", "rosenbrock"])
def test_steps_agree_with_limited_memory_bfgs(name):
    # dense_max=0 forces the L-BFGS two-loop recursion, with a short memory so pairs are dropped
    problem = get_family(name).sample(torch.Generator().manual_seed(6), 2)
    net = _perturbed_net(2)
    _check_parity(net, problem, solver_options(dense_max=0, memory=3), _numpy_network(net))


def test_untrained_network_is_the_classical_rule():
    # the untrained network in torch against FixedWeights(CLASSICAL_WEIGHTS) in numpy
    problem = get_family("rosenbrock").sample(torch.Generator().manual_seed(4), 2)
    net = WeightingNet(hidden=8)
    _check_parity(net, problem, solver_options(), FixedWeights(CLASSICAL_WEIGHTS))


def test_rows_stop_alike():
    # a loose gtol makes the rows stop at different iterations: frozen rows must stay frozen
    problem = get_family("logistic").sample(torch.Generator().manual_seed(2), 3)
    net = _perturbed_net(3)
    _check_parity(net, problem, solver_options(gtol=1e-4), _numpy_network(net), iterations=40)


def test_fallbacks_agree_for_a_network_that_proposes_ascent():
    # the head's bias pushes the gradient slot to -bound: many proposals are not descent
    # directions, so the fallback and the override bookkeeping (reset_after) are exercised
    problem = get_family("quadratic").sample(torch.Generator().manual_seed(5), 2)
    net = _perturbed_net(7, scale=2.0)
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([-1.0, 0.5, -1.0], dtype=torch.float64))
    sources = _check_parity(net, problem, solver_options(), _numpy_network(net))
    assert (sources >= FALLBACK).any(), "the test network never triggered the fallback"


def test_stall_watch_agrees():
    problem = get_family("rosenbrock").sample(torch.Generator().manual_seed(4), 2)
    net = _perturbed_net(5)
    sources = _check_parity(net, problem, solver_options(stall_window=3), _numpy_network(net))
    assert (sources == CLASSICAL).any(), "the stall watch never took over"


def test_a_wider_refinement_band_agrees():
    problem = get_family("rosenbrock").sample(torch.Generator().manual_seed(4), 2)
    net = _perturbed_net(1)
    _check_parity(net, problem, solver_options(refine_band=3.0), _numpy_network(net))


def test_newton_cg_and_bounds_agree():
    # what users run with hessp and bounds is trainable: the unroll's Newton-CG slot (autograd
    # Hessian products) and projection agree with numpy step by step
    problem = get_family("logistic").sample(torch.Generator().manual_seed(3), 2)
    net = _perturbed_net(4)
    n = problem.dim
    bounds = (torch.full((n,), -0.3, dtype=torch.float64), torch.full((n,), 0.4, dtype=torch.float64))
    _check_parity(net, problem, solver_options(), _numpy_network(net), newton_cg=True)
    _check_parity(net, problem, solver_options(), _numpy_network(net), bounds=bounds)


def test_meta_gradient_through_newton_cg_and_bounds_is_finite():
    from learnedmin.training.unroll import unroll

    problem = get_family("rosenbrock").sample(torch.Generator().manual_seed(2), 3)
    net = _perturbed_net(6)
    n = problem.dim
    bounds = (torch.full((n,), -2.0, dtype=torch.float64), torch.full((n,), 0.9, dtype=torch.float64))
    state, values = unroll(net, problem, 5, solver_options(), newton_cg=True, bounds=bounds)
    sum(v.sum() for v in values).backward()
    grads = torch.cat([p.grad.flatten() for p in net.parameters()])
    assert bool(torch.isfinite(grads).all()) and float(grads.abs().max()) > 0
    assert bool((state.x <= 0.9).all() and (state.x >= -2.0).all())
