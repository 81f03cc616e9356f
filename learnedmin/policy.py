"""Policies: what turns the statistics of an iteration into the weights of its candidates.

A policy is a callable ``(stats, prev_weights, valid, state) -> (weights, state)`` on batches
(leading dimension B) with an ``initial_state(batch, like)``. Four exist:
:class:`learnedmin.FixedWeights` (constant, the ablation), :class:`ModulePolicy` (a torch module
on torch tensors: the eager network in training, the loaded archive in a torch batch),
:class:`TorchScriptPolicy` (the loaded archive on numpy arrays) and :class:`MirroredPolicy`, a
numpy evaluation of the same parameters that is used only after it has been checked against the
module it mirrors on random inputs (:func:`fast_policy`). At n = 10 the torch call costs more
than the rest of an iteration; the mirror removes that cost without letting the two
implementations drift apart.
"""

import numpy as np

from ._xp import array_namespace

from .directions import N_SLOTS, SLOTS
from .statistics import N_FEATURES

# The classical rule: the second-order direction with unit step (L-BFGS, or Newton-CG with
# hessp) behind the same line search. The untrained network reproduces it; it is the ablation's
# baseline and what a Newton-CG run uses when the network was not trained with Newton-CG.
CLASSICAL_WEIGHTS = tuple(1.0 if slot == "second_order" else 0.0 for slot in SLOTS)

_MIRROR_TOLERANCE = 1e-12
_MIRROR_CHECKS = 64


class FixedWeights:
    """A policy with fixed weights: the ablation of the network, and a test double.

    ``FixedWeights(CLASSICAL_WEIGHTS)`` (``(0, 0, 1)``: the second-order direction alone) is the
    classical rule the untrained network reproduces. A table of shape ``(T, 3)`` is a *schedule*:
    row ``k`` at the policy's ``k``-th call, the last row from then on (the baseline a learned
    global phase is measured against). The call count is the policy's state, so a schedule
    restarts where the iteration resets the network's state.
    """

    def __init__(self, weights):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim not in (1, 2) or w.shape[-1] != N_SLOTS or w.size == 0 \
                or not np.all(np.isfinite(w)):
            raise ValueError(f"fixed weights need {N_SLOTS} finite numbers, or a schedule of "
                             f"shape (T, {N_SLOTS}); got {weights!r}")
        self.weights = w
        self.hidden_size = 0 if w.ndim == 1 else 1

    def initial_state(self, batch, like):
        xp = array_namespace(like)
        return xp.zeros((batch, self.hidden_size), dtype=like.dtype, device=like.device)

    def __call__(self, stats, prev, valid, h):
        xp = array_namespace(valid)
        table = xp.asarray(self.weights, dtype=valid.dtype, device=valid.device)
        if self.weights.ndim == 1:
            return table * valid, h
        last = self.weights.shape[0] - 1
        k = xp.astype(xp.clip(h[..., 0], 0, last), xp.int64)
        return xp.take(table, k, axis=0) * valid, h + 1.0

    def __repr__(self):
        if self.weights.ndim == 1:
            return f"FixedWeights({tuple(self.weights.tolist())})"
        return f"FixedWeights({self.weights.tolist()})"


class ModulePolicy:
    """A weighting network (eager or TorchScript) on torch tensors, as the module returns them."""

    def __init__(self, module, hidden_size, n_features=None):
        self.module = module
        self.hidden_size = hidden_size
        self.n_features = n_features or getattr(module, "n_features", N_FEATURES)

    def initial_state(self, batch, like):
        xp = array_namespace(like)
        return xp.zeros((batch, self.hidden_size), dtype=like.dtype, device=like.device)

    def __call__(self, stats, prev, valid, h):
        return self.module(stats[..., :self.n_features], prev, valid, h)


class TorchScriptPolicy:
    """Runs a loaded TorchScript weighting network on numpy statistics."""

    def __init__(self, module, hidden_size, n_features=N_FEATURES):
        import torch

        self._torch = torch
        self.module = module
        self.hidden_size = hidden_size
        self.n_features = n_features

    def initial_state(self, batch, like):
        return np.zeros((batch, self.hidden_size))

    def __call__(self, stats, prev, valid, h):
        torch = self._torch
        with torch.no_grad():
            a, h_new = self.module(
                torch.from_numpy(np.ascontiguousarray(stats[..., :self.n_features],
                                                      dtype=np.float64)),
                torch.from_numpy(np.ascontiguousarray(prev, dtype=np.float64)),
                torch.from_numpy(np.ascontiguousarray(valid, dtype=np.float64)),
                torch.from_numpy(np.ascontiguousarray(h, dtype=np.float64)),
            )
        return a.numpy(), h_new.numpy()


def transformed_features(stats, clip):
    """The network's feature transform in numpy: signed log, clipped to ``[-clip, clip]``."""
    return np.clip(np.sign(stats) * np.log1p(np.abs(stats)), -clip, clip)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class MirroredPolicy:
    """The :class:`learnedmin.network.WeightingNet` forward pass in numpy.

    Built from the parameters of a loaded archive by :func:`fast_policy`, which checks it
    against the TorchScript module before it is used.
    """

    def __init__(self, params, feature_clip, module=None):
        self.module = module  # the module mirrored, for drivers that run on torch tensors
        self.w_ih = params["cell.weight_ih"]
        self.w_hh = params["cell.weight_hh"]
        self.b_ih = params["cell.bias_ih"]
        self.b_hh = params["cell.bias_hh"]
        self.w_head = params["head.weight"]
        self.b_head = params["head.bias"]
        self.bounds = params["bounds"]
        self.clip = float(feature_clip)
        self.hidden_size = self.w_hh.shape[1]
        self.n_features = self.w_ih.shape[1] - N_SLOTS

    def initial_state(self, batch, like):
        return np.zeros((batch, self.hidden_size))

    def __call__(self, stats, prev, valid, h):
        z = transformed_features(stats[..., :self.n_features], self.clip)
        # GRU gates in the order r, z, n
        gi = np.concatenate([z, prev], axis=-1) @ self.w_ih.T + self.b_ih
        gh = h @ self.w_hh.T + self.b_hh
        H = self.hidden_size
        r = _sigmoid(gi[..., :H] + gh[..., :H])
        u = _sigmoid(gi[..., H:2 * H] + gh[..., H:2 * H])
        n = np.tanh(gi[..., 2 * H:] + r * gh[..., 2 * H:])
        h_new = (1.0 - u) * n + u * h
        a = self.bounds * np.tanh(h_new @ self.w_head.T + self.b_head) * valid
        return a, h_new


def fast_policy(module, meta):
    """The fastest numpy policy that reproduces ``module`` (a TorchScript archive, or the eager
    network during training): the numpy mirror if it agrees with the module to 1e-12 on random
    inputs, else the module itself."""
    hidden = int(meta["network"]["hidden"])
    scripted = TorchScriptPolicy(module, hidden, len(meta["feature_names"]))
    try:
        params = {k: v.detach().cpu().numpy().astype(np.float64)
                  for k, v in module.state_dict().items()}
        mirror = MirroredPolicy(params, meta["network"]["feature_clip"], module)
    except (KeyError, AttributeError, TypeError, ValueError):
        return scripted
    rng = np.random.default_rng(0)
    n_features, n_slots = len(meta["feature_names"]), len(meta["slots"])
    try:
        for _ in range(_MIRROR_CHECKS):
            args = (rng.standard_normal((2, n_features))
                    * 10.0 ** rng.uniform(-3, 6, (2, n_features)),
                    rng.uniform(-2, 2, (2, n_slots)),
                    rng.integers(0, 2, (2, n_slots)).astype(float),
                    rng.uniform(-1, 1, (2, hidden)))
            for x, y in zip(mirror(*args), scripted(*args)):
                if x.shape != y.shape or not np.allclose(x, y, rtol=0, atol=_MIRROR_TOLERANCE):
                    return scripted
    except ValueError:  # shapes the mirror does not know: another architecture
        return scripted
    return mirror
