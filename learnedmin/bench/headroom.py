"""How much could a learned step rule save over the classical rule? The room, measured.

Target (a) of :mod:`learnedmin.training.evaluate` asks the network for 20 % fewer calls than the
same loop with the classical weights. This module measures, on the same held-out instances and
with the classical rule alone, where those calls go and how much of them a better step rule could
remove:

1. **Calls per iteration.** Every iteration needs ``f`` and ``g`` at its new point, two calls;
   the rest are extra trials (backtracking, the refinement's function value, expansions). The
   *floor* ``2 (nit + 1) / calls`` is the fraction of the calls left if every extra trial
   disappeared and the iteration count stayed the same.
2. **Step multipliers.** The accepted step as a multiple of the proposal. After the refinement
   it is close to the exact line minimum, so a proposal saves the refinement's function value
   only where it already lies within ``[1/band, band]`` of it. Reported: how often that holds for
   the unit step (the classical rule), for the previous step's multiplier carried forward, and
   for two probes fitted on the network's transformed features of half of the instances and
   tested on the other half: a *linear probe* (least squares) and a *network probe* (a small
   tanh network, least absolute deviations). The first iteration is left out: its step is a
   blind guess that no dimension-free feature can size.
3. **Refinement gates.** The same loop with wider refinement bands and without refinement, and
   an oracle that picks the best of these settings for every instance.

Run it with ``python -m learnedmin.training headroom --config configs/default.toml``.
"""

import math
import time

import numpy as np
import torch

from ..method import LearnedMinimizer
from ..network import FEATURE_CLIP
from ..policy import CLASSICAL_WEIGHTS, FixedWeights, transformed_features
from ..safeguard import REFINE_BAND
from ..statistics import FEATURE_NAMES
from ..step import CLASSICAL, LEARNED, LEARNED_BACKTRACKED
from ..training.evaluate import (
    classic_instances,
    count_calls,
    family_instances,
    gtol_for,
    ratios,
    stages,
)

__all__ = ["headroom", "format_headroom", "BANDS"]

# Refinement settings compared with the default band (None: no refinement).
BANDS = (1.3, 2.0, 4.0, None)
_STEP_FRACTION = FEATURE_NAMES.index("log_step_fraction")
_PROBE_CLIP = 3.0  # log-multipliers beyond e^3 are clipped as targets of the linear probe


class _Recorder(FixedWeights):
    """The classical weights, recording the statistics the network would see."""

    def __init__(self):
        super().__init__(CLASSICAL_WEIGHTS)
        self.seen = []

    def __call__(self, stats, prev, valid, h):
        self.seen.append(np.array(stats, dtype=np.float64))
        return super().__call__(stats, prev, valid, h)


def _steps(res, seen):
    """``(features, log multiplier)`` of the iterations after the first whose step is the
    proposal's (the policy is not asked while the stall watch runs the classical rule)."""
    feats, targets, asked = [], [], 0
    for k, (source, alpha) in enumerate(zip(res.trace["source"], res.trace["alpha"])):
        if source == CLASSICAL:
            continue
        stats = seen[asked]
        asked += 1
        if k > 0 and source in (LEARNED, LEARNED_BACKTRACKED) and alpha > 0:
            feats.append(stats)
            targets.append(math.log(alpha))
    return feats, targets


def _transform(stats):
    return transformed_features(stats, FEATURE_CLIP)


def _probe(train, test):
    """In-band fraction on ``test`` of a least-squares fit of the log-multiplier on ``train``."""
    (xa, ya), (xb, yb) = train, test
    if len(ya) == 0 or len(yb) == 0:
        return math.nan
    design = np.column_stack([_transform(xa), np.ones(len(ya))])
    coef = np.linalg.lstsq(design, np.clip(ya, -_PROBE_CLIP, _PROBE_CLIP), rcond=None)[0]
    predicted = np.column_stack([_transform(xb), np.ones(len(yb))]) @ coef
    return float(np.mean(np.abs(yb - predicted) < math.log(REFINE_BAND)))


def _name(band):
    return "none" if band is None else f"{band:g}"


def _mlp_probe(train, test, steps=2000, seed=0):
    """In-band fractions ``(train, test)`` of a small tanh network (two layers of 64) fitted to
    the log-multiplier by least absolute deviations (a median regression, which suits a
    fraction-within-a-band score) on the transformed features of ``train``."""
    (xa, ya), (xb, yb) = train, test
    if len(ya) == 0 or len(yb) == 0:
        return math.nan, math.nan
    gen = torch.Generator().manual_seed(seed)
    dims = (xa.shape[1], 64, 64, 1)
    params = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        params += [((torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float64) * 2 - 1)
                    * bound).requires_grad_(),
                   torch.zeros(fan_out, dtype=torch.float64, requires_grad=True)]

    def forward(x):
        for i in range(0, len(params), 2):
            x = x @ params[i] + params[i + 1]
            if i + 2 < len(params):
                x = torch.tanh(x)
        return x[:, 0]

    x_train, x_test = (torch.from_numpy(_transform(x)) for x in (xa, xb))
    target = torch.from_numpy(np.clip(ya, -_PROBE_CLIP, _PROBE_CLIP))
    optimiser = torch.optim.Adam(params, lr=1e-3)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = (forward(x_train) - target).abs().mean()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return tuple(float(np.mean(np.abs(y - forward(x).numpy()) < math.log(REFINE_BAND)))
                     for x, y in ((x_train, ya), (x_test, yb)))


def headroom(config, quick=False, progress=None):
    """The measurements above on ``evaluate``'s held-out instances; a JSON-serialisable dict.

    ``progress(done, total, label)``, if given, is called after each of the ``total`` runs of
    the classical rule; it does not change what is measured.
    """
    t0 = time.perf_counter()
    ev = config["evaluate"]
    maxiter = 2000
    threads = torch.get_num_threads()
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    try:
        inst = family_instances(config, ev["families"], 2 if quick else ev["instances"], 5)
        inst += classic_instances()[: 4 if quick else None]
        tick = stages(progress, len(inst) * (1 + len(BANDS)))("classical rule and bands")
        return _measure(inst, ev["gtol"], maxiter, t0, quick, tick)
    finally:
        torch.set_num_threads(threads)


def _measure(inst, relative_gtol, maxiter, t0, quick, tick):
    groups = [g.split(":")[0] for g, *_ in inst]
    calls = {REFINE_BAND: []} | {band: [] for band in BANDS}
    nit, feats, targets = [], [], []
    for _, fun, jac, x0 in inst:
        gtol = gtol_for(jac, x0, relative_gtol)
        recorder = _Recorder()
        count, res = count_calls(LearnedMinimizer(weights=recorder), fun, jac, x0, gtol, maxiter)
        calls[REFINE_BAND].append(count)
        nit.append(res.nit)
        tick()
        f, t = _steps(res, recorder.seen)
        feats.append(np.array(f).reshape(-1, len(FEATURE_NAMES)))
        targets.append(np.array(t, dtype=np.float64))
        for band in BANDS:
            opts = {"refine": False} if band is None else {"refine_band": band}
            method = LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS), **opts)
            calls[band].append(count_calls(method, fun, jac, x0, gtol, maxiter)[0])
            tick()
    calls = {band: np.array(c, dtype=float) for band, c in calls.items()}
    base, nit = calls[REFINE_BAND], np.array(nit, dtype=float)
    log_band = math.log(REFINE_BAND)

    families = {}
    for group in sorted(set(groups)):
        idx = [i for i, g in enumerate(groups) if g == group]
        ok = [i for i in idx if math.isfinite(base[i])]
        y = np.concatenate([targets[i] for i in idx])
        families[group] = {
            "instances": len(idx),
            "median_iterations": float(np.median(nit[idx])),
            "median_calls": float(np.median(base[idx])),
            "median_calls_per_iteration": float(np.median(base[ok] / np.maximum(nit[ok], 1)))
            if ok else math.nan,
            "median_floor": float(np.median(2 * (nit[ok] + 1) / base[ok])) if ok else math.nan,
            "unit_in_band": float(np.mean(np.abs(y) < log_band)) if len(y) else math.nan,
            "median_calls_by_band": {_name(band): float(np.median(c[idx]))
                                     for band, c in calls.items()},
        }

    every = np.concatenate(targets)
    x_all = np.concatenate(feats)
    carried = x_all[:, _STEP_FRACTION]  # log of the previous multiplier, as the network sees it
    half = [np.arange(len(inst)) % 2 == parity for parity in (0, 1)]

    def pooled(mask):
        return (np.concatenate([f for f, m in zip(feats, mask) if m]),
                np.concatenate([t for t, m in zip(targets, mask) if m]))

    train, test = pooled(half[0]), pooled(half[1])
    mlp_train, mlp_test = _mlp_probe(train, test, steps=200 if quick else 2000)
    ok = np.isfinite(base)
    oracle = np.min(np.stack(list(calls.values())), axis=0)
    return {
        "instances": len(inst),
        "steps": int(len(every)),
        "band": REFINE_BAND,
        "families": families,
        "median_floor": float(np.median(2 * (nit[ok] + 1) / base[ok])),
        "in_band": {
            "unit_step": float(np.mean(np.abs(every) < log_band)),
            "carried_forward": float(np.mean(np.abs(every - carried) < log_band)),
            "linear_probe": _probe(train, test),
            "network_probe": mlp_test,
            "network_probe_on_its_training_half": mlp_train,
            "unit_step_on_probe_test": float(np.mean(np.abs(test[1]) < log_band)),
        },
        "gates": {_name(band): float(np.median(ratios(calls[band], base))) for band in BANDS},
        "oracle_gate": float(np.median(ratios(oracle, base))),
        "failures": {_name(band): int(np.sum(~np.isfinite(c))) for band, c in calls.items()},
        "seconds": time.perf_counter() - t0,
    }


def format_headroom(report):
    """The report as readable text."""
    lines = [f"headroom of the classical rule on {report['instances']} held-out instances "
             f"({report['seconds']:.0f} s)",
             f"    {'group':<16}{'iterations':>11}{'calls':>8}{'calls/it':>10}{'floor':>8}"
             f"{'unit in band':>14}"]
    for group, row in report["families"].items():
        lines.append(f"    {group:<16}{row['median_iterations']:>11.1f}{row['median_calls']:>8.1f}"
                     f"{row['median_calls_per_iteration']:>10.2f}{row['median_floor']:>8.2f}"
                     f"{row['unit_in_band']:>14.2f}")
    bands = list(next(iter(report["families"].values()))["median_calls_by_band"])
    lines.append("    median calls by refinement band: " + "".join(f"{b:>8}" for b in bands))
    for group, row in report["families"].items():
        lines.append(f"    {group:<33}" + "".join(
            f"{row['median_calls_by_band'][b]:>8.1f}" for b in bands))
    b = report["in_band"]
    lines += [
        f"    floor over all instances (2 calls per iteration, same iterations): "
        f"{report['median_floor']:.2f} of the calls",
        f"    steps within [1/{report['band']}, {report['band']}] of the accepted multiplier "
        f"({report['steps']} steps after the first): unit step {b['unit_step']:.2f}, "
        f"carried forward {b['carried_forward']:.2f}; on the probes' test half: linear probe "
        f"{b['linear_probe']:.2f}, network probe {b['network_probe']:.2f} (on its training half "
        f"{b['network_probe_on_its_training_half']:.2f}), unit step "
        f"{b['unit_step_on_probe_test']:.2f}",
        "    median ratio of calls to the default band: " + ", ".join(
            f"band {k} {v:.3f}" for k, v in report["gates"].items())
        + f"; best setting per instance {report['oracle_gate']:.3f}",
        f"    failures: {report['failures']}",
    ]
    return "\n".join(lines)
