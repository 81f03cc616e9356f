"""The demo's screen, the untrained network's exact classical weights, the quick retraining recipe."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from learnedmin import FixedWeights, LearnedMinimizer  # noqa: E402
from learnedmin.directions import N_SLOTS  # noqa: E402
from learnedmin.statistics import N_FEATURES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# -- the untrained network is the classical rule, to the last bit -------------------------------

def test_untrained_network_outputs_exactly_the_classical_weights():
    from learnedmin.network import CLASSICAL_WEIGHTS, WeightingNet

    net = WeightingNet()
    g = torch.Generator().manual_seed(0)
    for batch in (1, 7, 256):
        stats = 10.0 * torch.randn(batch, N_FEATURES, dtype=torch.float64, generator=g)
        prev = torch.randn(batch, N_SLOTS, dtype=torch.float64, generator=g)
        h = torch.randn(batch, net.hidden_size, dtype=torch.float64, generator=g)
        valid = torch.ones(batch, N_SLOTS, dtype=torch.float64)
        with torch.no_grad():
            a, _ = net(stats, prev, valid, h)
        want = torch.tensor(CLASSICAL_WEIGHTS, dtype=torch.float64).expand_as(a)
        assert torch.equal(a, want), (
            f"batch {batch}: max |a - {CLASSICAL_WEIGHTS}| per slot = "
            f"{(a - want).abs().amax(dim=0).tolist()}")


@pytest.mark.parametrize("weight, bound", [(0.5, 1.0), (1.0, 2.0), (-0.3, 1.0), (0.7, 2.0)])
def test_untrained_network_outputs_other_init_weights_exactly(weight, bound):
    from learnedmin.network import WeightingNet

    net = WeightingNet(hidden=4, bounds=(bound, 1.0, 2.0), init_weights=(weight, 0.0, 1.0))
    h = torch.zeros(3, 4, dtype=torch.float64)
    with torch.no_grad():
        a, _ = net(torch.ones(3, N_FEATURES, dtype=torch.float64),
                   torch.zeros(3, N_SLOTS, dtype=torch.float64),
                   torch.ones(3, N_SLOTS, dtype=torch.float64), h)
    assert a[:, 0].tolist() == [weight] * 3, f"bound {bound} * tanh(bias) = {a[0, 0].item()!r}"


def test_exported_untrained_network_runs_like_the_fixed_weights_ablation(tmp_path):
    """Regression: the untrained head gave 1 - 2**-53 for the second-order slot, and the refined
    line search turned that last bit into another run (43 against 46 iterations here)."""
    from scipy.optimize import minimize

    from learnedmin import weights
    from learnedmin.network import WeightingNet
    from learnedmin.problems.classic import extended_rosenbrock

    path = tmp_path / "untrained.pt"
    torch.manual_seed(0)
    weights.export(WeightingNet(), path)
    problem = extended_rosenbrock(100)
    runs = {}
    for name, method in (("untrained", LearnedMinimizer(weights=path)),
                         ("fixed", LearnedMinimizer(weights=FixedWeights((0.0, 0.0, 1.0))))):
        runs[name] = minimize(problem.fun, np.array(problem.x0), jac=problem.jac, method=method,
                              options={"maxiter": 2000})
    u, f = runs["untrained"], runs["fixed"]
    assert (u.nit, u.nfev, u.njev) == (f.nit, f.nfev, f.njev), (
        f"untrained network: nit {u.nit}, nfev {u.nfev}, njev {u.njev}; "
        f"FixedWeights: nit {f.nit}, nfev {f.nfev}, njev {f.njev}")
    np.testing.assert_array_equal(u.x, f.x)
