"""Does the learned part earn its place? Measurements through ``scipy.optimize.minimize``.

Every run goes through ``scipy.optimize.minimize(fun, x0, jac=jac, method=LearnedMinimizer(...))``
on numpy callables, so what is counted is what a user pays: ``nfev + njev``, the real function and
gradient calls. The instances come from a seed never used in training or validation.

(a) **Calls to converge.** On ``evaluate.instances`` fresh, randomly scaled instances per family
    (and on the classic Moré-Garbow-Hillstrom zoo, which training never sees), the calls until
    ``max|g| <= evaluate.gtol * max|g0|``: the archive against the same loop with the fixed
    weights ``FixedWeights(CLASSICAL_WEIGHTS)`` (the classical rule) and against the best fixed
    mixture found by a grid search on separate tuning instances. A failed run counts as
    ``inf``. Reported per family (medians) and over all instances (median of the per-instance
    ratio of calls, learned over classical: the target is <= 0.8, i.e. 20 % fewer calls).
(b) **Least squares at a fixed budget** (Takabe & Wadayama 2020): ``1/2 |A x - b|^2`` with ``A``
    600 x 300 Gaussian (condition number of ``A'A`` about 30), ``x0 = 0``; the relative error
    ``|x - x*|^2 / |x0 - x*|^2`` within 32 gradient evaluations (the run with the most
    iterations whose ``njev`` stays <= 32; function calls are reported too) against 32 Chebyshev
    steps with the exact extreme eigenvalues and 32 conjugate-gradient iterations on the normal
    equations (geometric means over instances).
(c) **Long horizons.** Runs of up to 10x the longest training unroll (``maxiter = 10 *
    unroll.max_steps``) with a tight tolerance (``1e-9 * max|g0|``) on the families and on larger
    instances than training saw: how many converge, how many fail.
"""

import itertools
import math
import time

import numpy as np
import torch

from ..policy import CLASSICAL_WEIGHTS, FixedWeights
from ..directions import SLOTS
from ..method import LearnedMinimizer
from .families import LeastSquares, Quadratic, Rosenbrock, get_family, numpy_instance, rescale
from .seeds import mix

__all__ = ["evaluate", "format_report", "count_calls", "ratios", "grid_search",
           "chebyshev_steps", "conjugate_gradient", "FIXED_GRID", "family_instances",
           "classic_instances", "gtol_for", "stages"]

# Grid of fixed mixtures for the ablation: the values tried per slot, in the slot order.
_GRID_VALUES = {"gradient": (0.0, 0.25, 0.5, 1.0), "momentum": (0.0, 0.1, 0.25, 0.5),
                "second_order": (0.5, 0.75, 1.0, 1.25, 1.5)}
FIXED_GRID = tuple(itertools.product(*(_GRID_VALUES[slot] for slot in SLOTS)))


def count_calls(method, fun, jac, x0, gtol, maxiter):
    """``(calls, result)``: ``nfev + njev`` of a run, ``inf`` if it did not succeed."""
    from scipy.optimize import minimize

    res = minimize(fun, x0, jac=jac, method=method, options={"gtol": gtol, "maxiter": maxiter})
    calls = res.nfev + res.njev
    return (calls if res.success else math.inf), res


def family_instances(config, names, count, seed_offset):
    """``[(group, fun, jac, x0)]``: ``count`` fresh instances of each named family, each drawn
    on its own (a family draws its dimensions per draw, so the instances differ in size)."""
    out = []
    scales = config["problems"]
    lo_f, hi_f = scales["log10_f_scale"]
    lo_x, hi_x = scales["log10_x_scale"]
    for index, name in enumerate(names):
        try:
            family = get_family(name)
        except ValueError:
            continue  # an unavailable optional family (channel)
        for i in range(count):
            gen = torch.Generator().manual_seed(
                mix(config["evaluate"]["seed"], seed_offset, index, i))
            problem = family.sample(gen, 1)
            c, t = (torch.pow(10.0, lo + (hi - lo) * torch.rand(1, generator=gen,
                                                                dtype=torch.float64))
                    for lo, hi in ((lo_f, hi_f), (lo_x, hi_x)))
            fun, jac, x0, _, _ = numpy_instance(rescale(problem, c, t), 0)
            out.append((name, fun, jac, x0))
    return out


def classic_instances():
    """``[(group, fun, jac, x0)]`` of the classic Moré-Garbow-Hillstrom problems (none when
    :mod:`learnedmin.problems.classic` is unavailable)."""
    try:
        from ..problems.classic import small_problems
    except ImportError:
        return []
    return [("classic:" + p.name, p.fun, p.jac, np.array(p.x0)) for p in small_problems()]


def gtol_for(jac, x0, relative):
    """The absolute ``gtol`` that is ``relative`` times ``max|g|`` at the start ``x0``."""
    return relative * float(np.max(np.abs(jac(x0))))


def stages(progress, total):
    """``stage(label)`` gives a callable to call after each run of that stage; each call reports
    ``progress(done, total, label)``, ``done`` counting the runs of all stages (nothing is
    reported if ``progress`` is None)."""
    done = 0

    def stage(label):
        def tick():
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total, label)
        return tick
    return stage


def _no_tick():
    pass


def grid_search(instances, relative_gtol, maxiter, grid=FIXED_GRID, tick=_no_tick):
    """The fixed mixture with the fewest total calls (failures cost ``maxiter``-sized runs).

    Returns ``(weights, score)``: the geometric mean over instances of the calls ratio to the
    classical rule. ``tick()`` is called after each of the ``(len(grid) + 1) * len(instances)``
    runs.
    """
    def calls_of(weights):
        method = LearnedMinimizer(weights=FixedWeights(weights))
        out = []
        for _, fun, jac, x0 in instances:
            gtol = gtol_for(jac, x0, relative_gtol)
            calls, res = count_calls(method, fun, jac, x0, gtol, maxiter)
            out.append(calls if math.isfinite(calls) else 4.0 * maxiter)
            tick()
        return np.array(out, dtype=float)

    base = calls_of(CLASSICAL_WEIGHTS)
    best, best_score = CLASSICAL_WEIGHTS, 1.0
    for weights in grid:
        score = float(np.exp(np.mean(np.log(calls_of(weights) / base))))
        if score < best_score:
            best, best_score = tuple(weights), score
    return best, best_score


def _measure_calls(instances, methods, relative_gtol, maxiter, tick=_no_tick):
    """``{method name: array of calls}`` and the failures per method (``tick()`` after each
    run)."""
    calls = {name: [] for name in methods}
    for _, fun, jac, x0 in instances:
        gtol = gtol_for(jac, x0, relative_gtol)
        for name, method in methods.items():
            c, _ = count_calls(method, fun, jac, x0, gtol, maxiter)
            calls[name].append(c)
            tick()
    return {name: np.array(v, dtype=float) for name, v in calls.items()}


def _summary(instances, calls):
    groups = sorted({g.split(":")[0] for g, *_ in instances})
    out = {}
    for group in groups:
        idx = [i for i, (g, *_) in enumerate(instances) if g.split(":")[0] == group]
        out[group] = {name: {"median_calls": float(np.median(c[idx])),
                             "failures": int(np.sum(~np.isfinite(c[idx])))}
                      for name, c in calls.items()}
    return out


def ratios(calls, base):
    """Per-instance ratios ``calls / base`` of call counts where a failure is ``inf``: a failure
    of ``calls`` alone gives ``inf``, of ``base`` alone ``0``, of both ``1``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = calls / base
    return np.where(np.isnan(r), 1.0, r)  # both failed


def _ratio(calls, name):
    """Median over instances of calls(name) / calls(classical)."""
    return float(np.median(ratios(calls[name], calls["classical"])))


def chebyshev_steps(lam_min, lam_max, steps):
    """Chebyshev step sizes ``gamma_k`` (Takabe & Wadayama 2020, eq. for T steps)."""
    k = np.arange(steps)
    return 1.0 / ((lam_max + lam_min) / 2
                  + (lam_max - lam_min) / 2 * np.cos((2 * k + 1) * np.pi / (2 * steps)))


def conjugate_gradient(hmul, rhs, x0, steps):
    """``steps`` iterations of conjugate gradients on ``H x = rhs`` (one product each)."""
    x = x0.copy()
    r = rhs - hmul(x)
    p = r.copy()
    rr = r @ r
    for _ in range(steps):
        if rr == 0:
            break
        hp = hmul(p)
        alpha = rr / (p @ hp)
        x = x + alpha * p
        r = r - alpha * hp
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def least_squares_budget(methods, instances, seed, budget=32, tick=_no_tick):
    """Part (b): relative errors after ``budget`` gradient evaluations (geometric means);
    ``tick()`` after each method on each instance."""
    rng = np.random.default_rng(seed)
    errors = {name: [] for name in list(methods) + ["chebyshev", "cg"]}
    fevals = {name: [] for name in methods}
    gevals = {name: [] for name in methods}
    kappas = []
    for _ in range(instances):
        a = rng.standard_normal((600, 300)) / math.sqrt(600)
        b = rng.standard_normal(600)
        x_star = np.linalg.lstsq(a, b, rcond=None)[0]
        lam = np.linalg.eigvalsh(a.T @ a)
        kappas.append(lam[-1] / lam[0])
        x0 = np.zeros(300)
        start = float(x_star @ x_star)

        def fun(x):
            r = a @ x - b
            return 0.5 * float(r @ r)

        def jac(x):
            return a.T @ (a @ x - b)

        def rel(x):
            return float((x - x_star) @ (x - x_star)) / start

        from scipy.optimize import minimize

        for name, method in methods.items():
            # the most iterations whose run stays within the gradient budget (a step expansion
            # costs extra gradients, so njev can exceed nit + 1)
            for maxiter in range(budget - 1, -1, -1):
                res = minimize(fun, x0, jac=jac, method=method,
                               options={"maxiter": maxiter, "gtol": 0.0})
                if res.njev <= budget:
                    break
            errors[name].append(rel(res.x))
            fevals[name].append(res.nfev)
            gevals[name].append(res.njev)
            tick()
        x = x0
        for gamma in chebyshev_steps(lam[0], lam[-1], budget):
            x = x - gamma * jac(x)
        errors["chebyshev"].append(rel(x))
        errors["cg"].append(rel(conjugate_gradient(lambda v: a.T @ (a @ v), a.T @ b, x0,
                                                   budget)))
    geo = {name: float(np.exp(np.mean(np.log(np.maximum(v, 1e-300)))))
           for name, v in errors.items()}
    return {"relative_error": geo,
            "function_calls": {k: float(np.mean(v)) for k, v in fevals.items()},
            "gradient_calls": {k: float(np.mean(v)) for k, v in gevals.items()},
            "kappa": float(np.mean(kappas)), "budget": budget, "instances": instances}


def _long_instances(config, count):
    """Family instances plus larger ones than training saw."""
    out = family_instances(config, config["evaluate"]["families"], count, 7)
    bigger = [Quadratic(dims=(100, 200)), LeastSquares(dims=(100, 200)),
              Rosenbrock(dims=(20, 40))]
    for index, family in enumerate(bigger):
        gen = torch.Generator().manual_seed(mix(config["evaluate"]["seed"], 11, index))
        problem = family.sample(gen, count)
        for i in range(count):
            fun, jac, x0, _, _ = numpy_instance(problem, i)
            out.append((f"large_{family.name}", fun, jac, x0))
    return out


def evaluate(weights, config, quick=False, progress=None):
    """Run (a), (b) and (c) for the archive ``weights``; return a JSON-serialisable report.

    ``progress(done, total, label)``, if given, is called after each of the ``total`` runs
    (``label`` names the part); it does not change what is measured.
    """
    threads = torch.get_num_threads()
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    try:
        return _evaluate(weights, config, quick, progress)
    finally:
        torch.set_num_threads(threads)


def _evaluate(weights, config, quick, progress):
    t0 = time.perf_counter()
    ev = config["evaluate"]
    count = 2 if quick else ev["instances"]
    maxiter = 2000
    learned = LearnedMinimizer(weights=weights)
    tuning = family_instances(config, ev["families"], 1 if quick else 4, 3)
    grid = FIXED_GRID[:3] if quick else FIXED_GRID
    inst = family_instances(config, ev["families"], count, 5) + classic_instances()
    lsq_count = 2 if quick else ev["lsq_instances"]
    long_inst = _long_instances(config, 1 if quick else 4)
    stage = stages(progress, (len(grid) + 1) * len(tuning) + 3 * len(inst) + 3 * lsq_count
                    + 2 * len(long_inst))
    best_fixed, tuning_score = grid_search(tuning, ev["gtol"], maxiter, grid,
                                           stage("tuning the fixed mixture"))
    methods = {
        "learned": learned,
        "classical": LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS)),
        "best_fixed": LearnedMinimizer(weights=FixedWeights(best_fixed)),
    }
    calls = _measure_calls(inst, methods, ev["gtol"], maxiter, stage("(a) calls to converge"))
    part_a = {
        "families": _summary(inst, calls),
        "median_ratio_learned_to_classical": _ratio(calls, "learned"),
        "median_ratio_best_fixed_to_classical": _ratio(calls, "best_fixed"),
        "median_calls": {k: float(np.median(v)) for k, v in calls.items()},
        "failures": {k: int(np.sum(~np.isfinite(v))) for k, v in calls.items()},
        "instances": len(inst),
        "best_fixed_weights": list(best_fixed),
        "best_fixed_tuning_score": tuning_score,
    }
    part_b = least_squares_budget(methods, lsq_count, mix(ev["seed"], 9),
                                  tick=stage("(b) least squares at a fixed budget"))
    horizon = 10 * config["unroll"]["max_steps"]
    long_calls = _measure_calls(long_inst, {k: methods[k] for k in ("learned", "classical")},
                                1e-9, horizon, stage("(c) long horizons"))
    part_c = {"maxiter": horizon, "relative_gtol": 1e-9, "instances": len(long_inst),
              "converged": {k: int(np.sum(np.isfinite(v))) for k, v in long_calls.items()},
              "groups": _summary(long_inst, long_calls)}
    return {"weights": str(weights), "a": part_a, "b": part_b, "c": part_c,
            "seconds": time.perf_counter() - t0, "quick": quick}


def format_report(report):
    """The report as readable text."""
    a, b, c = report["a"], report["b"], report["c"]
    lines = [f"evaluate {report['weights']} ({report['seconds']:.0f} s)",
             f"(a) calls (nfev + njev) to max|g| <= gtol on {a['instances']} held-out instances; "
             f"best fixed mixture {tuple(a['best_fixed_weights'])}",
             f"    {'group':<16}{'learned':>10}{'classical':>11}{'best_fixed':>12}   failures"]
    for group, row in a["families"].items():
        fails = "/".join(str(row[k]["failures"]) for k in ("learned", "classical", "best_fixed"))
        lines.append(f"    {group:<16}{row['learned']['median_calls']:>10.1f}"
                     f"{row['classical']['median_calls']:>11.1f}"
                     f"{row['best_fixed']['median_calls']:>12.1f}   {fails}")
    lines.append(f"    median ratio of calls, learned / classical: "
                 f"{a['median_ratio_learned_to_classical']:.3f} (target <= 0.8); "
                 f"best fixed / classical: {a['median_ratio_best_fixed_to_classical']:.3f}")
    lines.append(f"    failures: {a['failures']}")
    lines.append(f"(b) least squares 600x300 (mean kappa {b['kappa']:.1f}), relative error after "
                 f"{b['budget']} gradients, geometric mean over {b['instances']}:")
    lines.append("    " + ", ".join(f"{k} {v:.2e}" for k, v in b["relative_error"].items()))
    lines.append("    mean function / gradient calls: " + ", ".join(
        f"{k} {b['function_calls'][k]:.1f}/{b['gradient_calls'][k]:.1f}"
        for k in b["function_calls"]))
    lines.append(f"(c) up to {c['maxiter']} iterations (10x the longest unroll), gtol 1e-9 "
                 f"max|g0|: converged {c['converged']} of {c['instances']}")
    for group, row in c["groups"].items():
        lines.append(f"    {group:<22} learned {row['learned']['median_calls']:.0f} calls "
                     f"({row['learned']['failures']} failed), classical "
                     f"{row['classical']['median_calls']:.0f} "
                     f"({row['classical']['failures']} failed)")
    return "\n".join(lines)
