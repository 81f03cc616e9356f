"""The training unroll runs the inference loop: torch (batched) and numpy agree to ~1e-12.

A batch of two instances goes through :func:`learnedmin.training.unroll.step`; each instance
also goes, alone, through :func:`learnedmin.loop.run` with a policy wrapping the *same* eager
network. Iterates, statistics, weights, effective weights fed back, step sources, accepted steps,
nonmonotone references, slopes and values must agree at every iteration, and the rows must stop
when the numpy runs stop.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from learnedmin._objective import Objective  # noqa: E402
from learnedmin.loop import CLASSICAL, run  # noqa: E402
from learnedmin.policy import FixedWeights  # noqa: E402
from learnedmin.network import FEATURE_CLIP, WeightingNet, symlog  # noqa: E402
from learnedmin.training.evaluate import numpy_instance  # noqa: E402
from learnedmin.training.families import family_names, get_family, rescale  # noqa: E402
from learnedmin.training.unroll import (  # noqa: E402
    RUNNING, SUCCESS, init_state, solver_options, step,
)

ITERATIONS = 12
RTOL = 1e-10  # ~1e-13 typically; rounding differences grow over the iterations


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class EagerPolicy:
    """The numpy loop's policy interface around an eager ``WeightingNet``; records its inputs."""

    def __init__(self, net):
        self.net = net
        self.hidden_size = net.hidden_size
        self.stats, self.prev = [], []

    def initial_state(self):
        return torch.zeros(self.hidden_size, dtype=torch.float64)

    def __call__(self, stats, prev, valid, h):
        self.stats.append(np.array(stats))
        self.prev.append(np.array(prev, dtype=np.float64))
        with torch.no_grad():
            a, h = self.net(torch.from_numpy(np.array(stats)),
                            torch.from_numpy(np.array(prev, dtype=np.float64)),
                            torch.from_numpy(np.array(valid)), h)
        return a.numpy(), h


def _features(stats):
    return torch.clamp(symlog(torch.from_numpy(stats)), -FEATURE_CLIP, FEATURE_CLIP).numpy()


def _perturbed_net(seed, scale=0.5):
    """A network whose outputs vary with the statistics (the untrained head is constant)."""
    torch.manual_seed(seed)
    net = WeightingNet(hidden=16)
    with torch.no_grad():
        net.head.weight.copy_(scale * torch.randn(net.head.weight.shape, dtype=torch.float64))
    return net


def _torch_run(net, problem, opts, iterations):
    state = init_state(problem, net.hidden_size, opts)
    trace = []
    with torch.no_grad():
        for _ in range(iterations):
            state, info = step(net, problem, state, opts)
            trace.append((state, info))
    return state, trace


def _numpy_run(policy, problem, row, opts, iterations):
    fun, jac, x0, _, _ = numpy_instance(problem, row)
    obj = Objective(fun, jac, None, None, (), x0.size)
    return run(obj, x0, policy, {**opts, "maxiter": iterations, "return_all": True})


def _close(a, b, what, k, row, rtol=RTOL, atol=0.0):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(float(np.max(np.abs(a), initial=0.0)), 1.0)
    err = float(np.max(np.abs(a - b), initial=0.0))
    assert err <= rtol * scale + atol, (
        f"{what} differs at iteration {k}, row {row}: numpy {a}, torch {b}, error {err:.3e}"
    )


def _check_parity(net, problem, opts, policy_factory, iterations=ITERATIONS):
    state, trace = _torch_run(net, problem, opts, iterations)
    for row in range(problem.batch):
        policy = policy_factory()
        res = _numpy_run(policy, problem, row, opts, iterations)
        nit = res["nit"]
        assert nit >= 3, f"the numpy run stopped after {nit} iterations: a weak test"
        tr = res["trace"]
        calls = 0  # the policy is not asked during the stall watch's classical iterations
        for k in range(nit):
            st, info = trace[k]
            assert bool(info.taken[row]), f"torch froze row {row} at iteration {k}; numpy went on"
            assert int(info.source[row]) == int(tr["source"][k]), (
                f"step source at iteration {k}, row {row}: numpy {tr['source'][k]}, "
                f"torch {int(info.source[row])}"
            )
            _close(res["allvecs"][k + 1], st.x[row], "iterate", k, row)
            _close(tr["fun"][k + 1], st.f[row], "value", k, row)
            _close(tr["alpha"][k], info.alpha[row], "accepted step", k, row)
            _close(tr["f_ref"][k], info.f_ref[row], "nonmonotone reference", k, row)
            _close(tr["slope"][k], info.slope[row], "slope", k, row)
            _close(res["step_weights"][k], info.weights[row], "network weights", k, row, atol=1e-12)
            if isinstance(policy, EagerPolicy) and int(tr["source"][k]) != CLASSICAL:
                # some statistics are ratios of differences (decrease over slope) and lose
                # digits near convergence: compare what the network reads, the clipped symlog
                _close(_features(policy.stats[calls]), _features(info.stats[row].numpy()),
                       "statistics (as the network reads them)", k, row, rtol=0.0, atol=1e-9)
                _close(policy.prev[calls], trace[k - 1][1].a_eff[row] if k else np.zeros(3),
                       "effective weights fed back", k, row, atol=1e-12)
                calls += 1
            d = info.proposal[row].numpy()
            if int(info.source[row]) <= 1:  # a learned step is alpha times the proposal
                s = res["allvecs"][k + 1] - res["allvecs"][k]
                _close(s, tr["alpha"][k] * d, "step along the proposal", k, row, atol=1e-12)
        if nit < iterations:  # numpy stopped: the torch row is frozen with the same status
            status = int(trace[nit][0].status[row])
            assert status == res["status"], (
                f"row {row}: numpy status {res['status']}, torch {status}"
            )
            assert not bool(trace[nit][1].taken[row])
        else:
            assert int(state.status[row]) in (RUNNING, SUCCESS)


FAMILIES = [name for name in ("quadratic", "rosenbrock", "logistic", "mlp_fit", "channel")
            if name in family_names()]


@pytest.mark.parametrize("name", FAMILIES)
def test_unroll_matches_numpy_loop_with_a_varying_network(name):
    problem = get_family(name).sample(torch.Generator().manual_seed(1), 2)
    problem = rescale(problem, torch.tensor([1.0, 30.0]), torch.tensor([1.0, 0.1]))
    net = _perturbed_net(0)
    _check_parity(net, problem, solver_options(), lambda: EagerPolicy(net))


@pytest.mark.parametrize("name", ["quadratic", "rosenbrock"])
def test_unroll_matches_numpy_loop_with_limited_memory_bfgs(name):
    # dense_max=0 forces the L-BFGS two-loop recursion (the dense BFGS matrix is the default for
    # the small test problems), with a short memory so that pairs are dropped
    problem = get_family(name).sample(torch.Generator().manual_seed(6), 2)
    net = _perturbed_net(2)
    _check_parity(net, problem, solver_options(dense_max=0, memory=3),
                  lambda: EagerPolicy(net))


def test_untrained_unroll_is_the_classical_rule():
    # the untrained network's torch unroll against the numpy loop with FixedWeights((0, 0, 1))
    problem = get_family("rosenbrock").sample(torch.Generator().manual_seed(4), 2)
    net = WeightingNet(hidden=8)
    _check_parity(net, problem, solver_options(), lambda: FixedWeights((0.0, 0.0, 1.0)))


def test_rows_stop_when_the_numpy_loop_stops():
    # a loose gtol makes the runs stop at different iterations: frozen rows must stay frozen
    problem = get_family("logistic").sample(torch.Generator().manual_seed(2), 2)
    net = _perturbed_net(3)
    opts = solver_options(gtol=1e-4)
    _check_parity(net, problem, opts, lambda: EagerPolicy(net), iterations=40)


def test_fallbacks_match_for_a_network_that_proposes_ascent():
    # head bias pushes the gradient slot to -bound: many proposals are not descent directions,
    # so the fallback and the override bookkeeping (reset_after) are exercised
    problem = get_family("quadratic").sample(torch.Generator().manual_seed(5), 2)
    net = _perturbed_net(7, scale=2.0)
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([-1.0, 0.5, -1.0], dtype=torch.float64))
    _, trace = _torch_run(net, problem, solver_options(), ITERATIONS)
    sources = torch.stack([info.source for _, info in trace])
    assert bool((sources >= 2).any()), "the test network never triggered the fallback"
    _check_parity(net, problem, solver_options(), lambda: EagerPolicy(net))


def test_stall_watch_matches():
    # a short stall window makes the classical stretches of the stall watch frequent
    problem = get_family("rosenbrock").sample(torch.Generator().manual_seed(4), 2)
    net = _perturbed_net(5)
    opts = solver_options(stall_window=3)
    _, trace = _torch_run(net, problem, opts, ITERATIONS)
    sources = torch.stack([info.source for _, info in trace])
    assert bool((sources == CLASSICAL).any()), "the stall watch never took over"
    _check_parity(net, problem, opts, lambda: EagerPolicy(net))


def test_a_wider_refinement_band_matches():
    # the band is an option of both loops: a wide one changes which trials are refined
    problem = get_family("rosenbrock").sample(torch.Generator().manual_seed(4), 2)
    net = _perturbed_net(1)
    _check_parity(net, problem, solver_options(refine_band=3.0), lambda: EagerPolicy(net))
