"""Overhead and scale: what ``learned`` costs per iteration, in time and memory, beside SciPy.

Measured in one fresh single-threaded worker process:

* per-iteration overhead (wall time outside ``f``/gradient calls, divided by iterations) of
  ``learned`` and SciPy's BFGS at ``n = 10`` (extended Rosenbrock);
* the same for ``learned`` and L-BFGS-B at ``n = 10**6`` (the cheap separable quartic), with the
  wall-time ratio;
* peak memory traced by :mod:`tracemalloc` during one run of each at ``n = 10**6`` (numpy's
  allocations; torch's few small tensors are not traced).

Times are medians over repeats.
"""

import math
import tracemalloc

import numpy as np

from ..problems.classic import extended_rosenbrock, separable_quartic
from .counting import Counter
from .methods import Settings, resolve_method
from .runner import _warm_up, run_one, worker_pool

__all__ = ["measure_overhead", "format_overhead"]


def _median_runs(problem, method, settings, repeats):
    runs = [run_one(problem, method, settings) for _ in range(repeats)]
    ok = [r for r in runs if r["nit"]]
    if not ok:
        raise RuntimeError(f"{method.name} on {problem.name}: no run completed "
                           f"({runs[0]['status']}: {runs[0]['message']})")
    return {
        "per_iter": float(np.median([r["overhead"] / r["nit"] for r in ok])),
        "wall": float(np.median([r["wall"] for r in ok])),
        "nit": int(np.median([r["nit"] for r in ok])),
        "calls": int(np.median([r["calls"] for r in ok])),
        "status": ok[0]["status"],
    }


def _peak_memory(problem, method, settings):
    """Peak bytes traced while ``method`` runs on ``problem`` (the problem's own data excluded)."""
    x0 = np.array(problem.x0)
    params = method.prepare(problem, settings)
    counter = Counter(problem, budget=settings.budget, observe=False)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        method.solve(counter, x0, params, settings)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return int(peak)


def _measure(repeats, small_n, large_n, large_repeats):
    settings = Settings(budget=100000, dense_max=max(small_n, 2000))
    out = {"repeats": repeats, "large_repeats": large_repeats}
    small = extended_rosenbrock(small_n)
    large = separable_quartic(large_n)
    for name in ("learned", "BFGS", "L-BFGS-B"):
        _warm_up(resolve_method(name), settings)
    out["small"] = {"problem": small.name, "n": small_n}
    for name in ("learned", "BFGS"):
        out["small"][name] = _median_runs(small, resolve_method(name), settings, repeats)
    out["large"] = {"problem": large.name, "n": large_n}
    for name in ("learned", "L-BFGS-B"):
        method = resolve_method(name)
        out["large"][name] = _median_runs(large, method, settings, large_repeats)
        out["large"][name]["peak_bytes"] = _peak_memory(large, method, settings)
    return out


def measure_overhead(repeats=5, small_n=10, large_n=10**6, large_repeats=3):
    """Measure overhead, wall-time ratio and peak memory in a fresh single-threaded process.

    Parameters
    ----------
    repeats : int
        Runs per method at ``small_n`` (medians are reported).
    small_n, large_n : int
        Sizes of the small (BFGS) and large (L-BFGS-B) comparisons; ``large_n`` even.
    large_repeats : int
        Runs per method at ``large_n``.

    Returns
    -------
    dict
        ``small`` and ``large`` entries with per-method ``per_iter``, ``wall``, ``nit``,
        ``calls`` (and ``peak_bytes`` at ``large_n``), plus the ``ratios``.
    """
    with worker_pool(1) as pool:
        out = pool.submit(_measure, repeats, small_n, large_n, large_repeats).result()
    s, g = out["small"], out["large"]
    out["ratios"] = {
        "overhead_small_vs_bfgs": s["learned"]["per_iter"] / s["BFGS"]["per_iter"],
        "overhead_large_vs_lbfgsb": g["learned"]["per_iter"] / g["L-BFGS-B"]["per_iter"],
        "wall_large_vs_lbfgsb": g["learned"]["wall"] / g["L-BFGS-B"]["wall"],
        "memory_large_vs_lbfgsb": (g["learned"]["peak_bytes"] / g["L-BFGS-B"]["peak_bytes"]
                                   if g["L-BFGS-B"]["peak_bytes"] else math.nan),
    }
    return out


def _us(seconds):
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.3g} ms"


def format_overhead(out):
    """The measurements of :func:`measure_overhead` as a Markdown table with one-line ratios."""
    s, g, r = out["small"], out["large"], out["ratios"]
    n_large = g["n"]
    vec = 8.0 * n_large
    rows = [
        ("per-iteration overhead, n = {}".format(s["n"]),
         _us(s["learned"]["per_iter"]), _us(s["BFGS"]["per_iter"]) + " (BFGS)",
         f"{r['overhead_small_vs_bfgs']:.1f}"),
        (f"per-iteration overhead, n = {n_large:.0e}",
         _us(g["learned"]["per_iter"]), _us(g["L-BFGS-B"]["per_iter"]) + " (L-BFGS-B)",
         f"{r['overhead_large_vs_lbfgsb']:.2f}"),
        (f"wall time, n = {n_large:.0e}",
         f"{g['learned']['wall']:.3g} s ({g['learned']['nit']} it, {g['learned']['calls']} calls)",
         f"{g['L-BFGS-B']['wall']:.3g} s ({g['L-BFGS-B']['nit']} it, "
         f"{g['L-BFGS-B']['calls']} calls)", f"{r['wall_large_vs_lbfgsb']:.2f}"),
        (f"peak traced memory, n = {n_large:.0e}",
         f"{g['learned']['peak_bytes'] / 2**20:.0f} MiB ({g['learned']['peak_bytes'] / vec:.1f} "
         "n-vectors)",
         f"{g['L-BFGS-B']['peak_bytes'] / 2**20:.0f} MiB "
         f"({g['L-BFGS-B']['peak_bytes'] / vec:.1f} n-vectors)",
         f"{r['memory_large_vs_lbfgsb']:.2f}"),
    ]
    lines = [
        f"Medians of {out['repeats']} runs at n = {s['n']} ({s['problem']}) and "
        f"{out['large_repeats']} at n = {n_large:.0e} ({g['problem']}); one single-threaded "
        "process; overhead = wall time outside f and gradient calls.",
        "",
        "| measure | learned | SciPy | ratio |",
        "|---|--:|--:|--:|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)
