"""The recurrent weighting network (torch).

``(a_k, h_k) = Net(s_k, a_{k-1}, h_{k-1})``: a GRU cell reads the transformed statistics and the
previous weights, a linear head gives one bounded multiplier per candidate slot. The feature
transform lives in this module so that it is scripted into the same TorchScript archive as the
weights. This module imports torch; ``import learnedmin`` never imports it.
"""

import math

import torch
from torch import nn

from .directions import N_SLOTS
from .policy import CLASSICAL_WEIGHTS  # what the untrained head reproduces
from .statistics import BASE_FEATURES, N_FEATURES

# Output bounds per slot: multipliers of the scaled gradient, momentum and second-order directions.
DEFAULT_BOUNDS = (2.0, 1.0, 2.0)
FEATURE_CLIP = 10.0


def symlog(x: torch.Tensor) -> torch.Tensor:
    """Signed logarithm ``sign(x) log(1 + |x|)``: keeps sign, compresses magnitude."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def _exact_bias(weight: float, bound: float, max_ulps: int = 4) -> float:
    """A bias ``z`` with ``bound * tanh(z) == weight`` in float64, as the forward pass rounds it.

    ``atanh(weight / bound)`` alone is not enough: ``2 * tanh(atanh(0.5))`` is ``1 - 2**-53``,
    and the line search amplifies that last bit, so the untrained network would not reproduce
    the classical rule it is meant to. The double a few ulps from ``atanh`` that rounds back
    exactly is taken; if none does, ``atanh``'s value (the nearest there is).
    """
    start = math.atanh(weight / bound)
    b = torch.tensor(bound, dtype=torch.float64)
    below = above = start
    for _ in range(max_ulps + 1):
        for z in (below, above):
            if (b * torch.tanh(torch.tensor(z, dtype=torch.float64))).item() == weight:
                return z
        below, above = math.nextafter(below, -math.inf), math.nextafter(above, math.inf)
    return start


class WeightingNet(nn.Module):
    """GRU cell + linear head over dimension-free statistics.

    Parameters
    ----------
    hidden : int
        Width of the GRU state.
    bounds : sequence of float
        ``|a_i| <= bounds[i]`` for the output weights (``a = bounds * tanh(z)``).
    init_weights : sequence of float
        Weights the untrained network outputs for every input (head weight zero, bias set).
    n_features : int
        The statistics it reads: the first ``n_features`` of ``FEATURE_NAMES`` (default all;
        an archive records them as its ``feature_names``).
    """

    def __init__(self, hidden: int = 32, bounds=DEFAULT_BOUNDS, init_weights=CLASSICAL_WEIGHTS,
                 n_features: int = N_FEATURES):
        super().__init__()
        if len(bounds) != N_SLOTS or len(init_weights) != N_SLOTS:
            raise ValueError(f"bounds and init_weights need {N_SLOTS} entries, one per slot")
        if any(abs(w) >= b for w, b in zip(init_weights, bounds)):
            raise ValueError("each init weight must satisfy |init_weights[i]| < bounds[i]")
        self.hidden_size = hidden
        self.feature_clip = FEATURE_CLIP
        if not BASE_FEATURES <= n_features <= N_FEATURES:
            raise ValueError(f"n_features must be between {BASE_FEATURES} and {N_FEATURES}")
        self.n_features = n_features
        self.n_slots = N_SLOTS
        self.cell = nn.GRUCell(n_features + N_SLOTS, hidden, dtype=torch.float64)
        self.head = nn.Linear(hidden, N_SLOTS, dtype=torch.float64)
        self.register_buffer("bounds", torch.tensor(bounds, dtype=torch.float64))
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.copy_(
                torch.tensor([_exact_bias(w, b) for w, b in zip(init_weights, bounds)],
                             dtype=torch.float64)
            )

    def forward(
        self, stats: torch.Tensor, prev: torch.Tensor, valid: torch.Tensor, h: torch.Tensor
    ):
        """Weights ``(..., n_slots)`` (zero on invalid slots) and the next hidden state."""
        z = torch.clamp(symlog(stats), -self.feature_clip, self.feature_clip)
        h_new = self.cell(torch.cat([z, prev], dim=-1), h)
        a = self.bounds * torch.tanh(self.head(h_new)) * valid
        return a, h_new


def network_config(net: WeightingNet) -> dict:
    """The constructor arguments that rebuild ``net``'s architecture (stored in archives)."""
    return {
        "hidden": net.hidden_size,
        "bounds": [float(b) for b in net.bounds],
        "feature_clip": net.feature_clip,
    }
