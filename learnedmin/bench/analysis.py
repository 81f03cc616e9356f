"""From run records to verdicts: reference values, solved or not, performance profiles, summaries.

A run *solves* a problem when its final value satisfies ``f - f_ref <= tol * max(1, |f_ref|)``,
with ``f_ref = f*`` when it is known and otherwise the lowest value any run evaluated on that
problem. The cost of a solving run is the number of counted calls (``f`` + gradient +
Hessian-vector products) made up to the *first* evaluation that met the tolerance (Moré & Wild's
convention: methods with different stopping tests are compared on the same accuracy, not on when
they chose to stop).
"""

import math
from collections import defaultdict

import numpy as np

__all__ = ["mark_solved", "performance_profile", "summarize", "TAUS"]

#: Ratios at which profiles are tabulated.
TAUS = (1.0, 2.0, 4.0, 10.0)


def _threshold(f_ref, tol):
    return f_ref + tol * max(1.0, abs(f_ref))


def mark_solved(records, tol):
    """Add ``f_ref``, ``ref_source``, ``solved`` and ``calls_to_solve`` to every record (in place).

    Parameters
    ----------
    records : list of dict
        Run records of :func:`learnedmin.bench.runner.run_one`.
    tol : float
        Relative tolerance on ``f``.

    Returns
    -------
    list of dict
        ``records``.
    """
    best = defaultdict(lambda: math.inf)
    for r in records:
        key = (r["suite"], r["problem"])
        if r["f_best"] is not None and np.isfinite(r["f_best"]):
            best[key] = min(best[key], r["f_best"])
    for r in records:
        key = (r["suite"], r["problem"])
        if r["f_star"] is not None:
            r["f_ref"], r["ref_source"] = r["f_star"], "known"
        else:
            r["f_ref"] = best[key] if np.isfinite(best[key]) else None
            r["ref_source"] = "best found"
        r["solved"], r["calls_to_solve"] = False, None
        if r["status"] in ("n/a", "error") or r["f_ref"] is None:
            continue
        threshold = _threshold(r["f_ref"], tol)
        if r["f_final"] is not None and np.isfinite(r["f_final"]) and r["f_final"] <= threshold:
            r["solved"] = True
            r["calls_to_solve"] = next((c for c, f in r["trace"] if f <= threshold), r["calls"])
    return records


def performance_profile(costs, taus=TAUS):
    """Dolan-Moré performance profile.

    Parameters
    ----------
    costs : array_like, shape (n_problems, n_methods)
        Cost of each method on each problem; ``inf`` (or ``nan``) where it failed.
    taus : sequence of float
        Ratios ``tau >= 1`` at which to evaluate the profile.

    Returns
    -------
    ndarray, shape (n_methods, len(taus))
        ``rho_s(tau)``: the fraction of problems on which method ``s`` is within a factor ``tau``
        of the best method. Problems no method solves count in the denominator and never in the
        numerator.

    Examples
    --------
    >>> performance_profile([[10, 20], [30, 15], [float("inf"), 5]], taus=[1, 2, 4])
    array([[0.33333333, 0.66666667, 0.66666667],
           [0.66666667, 1.        , 1.        ]])
    """
    t = np.array(costs, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"'costs' must be a 2-d (problems x methods) array; got shape {t.shape}")
    t[~np.isfinite(t)] = np.inf
    if np.any(t <= 0):
        raise ValueError("costs must be positive")
    best = t.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        ratios = np.where(np.isfinite(best), t / best, np.inf)
    taus = np.asarray(taus, dtype=np.float64)
    if t.shape[0] == 0:
        return np.zeros((t.shape[1], taus.size))
    return (ratios[:, :, None] <= taus[None, None, :]).mean(axis=0)


def cost_matrix(records, methods):
    """Problems (in first-seen order) and the ``(problems x methods)`` matrix of ``calls_to_solve``."""
    problems, index = [], {}
    for r in records:
        key = (r["suite"], r["problem"])
        if key not in index:
            index[key] = len(problems)
            problems.append(key)
    costs = np.full((len(problems), len(methods)), np.inf)
    col = {m: j for j, m in enumerate(methods)}
    for r in records:
        if r["solved"] and r["method"] in col:
            costs[index[(r["suite"], r["problem"])], col[r["method"]]] = max(r["calls_to_solve"], 1)
    return problems, costs


def summarize(records, methods, reference="L-BFGS-B", taus=TAUS):
    """One summary row per method.

    Returns
    -------
    list of dict
        ``method, problems, applicable, solved, rho`` (``{tau: rho(tau)}``), ``median_ratio``
        (median over problems both solve of this method's calls to solve over ``reference``'s;
        ``None`` without ``reference`` or common solves), ``common`` (that number of problems),
        ``overhead_per_iter`` (median seconds per iteration outside the problem's calls),
        ``flags`` (runs flagged ``above_f0``, ``nonfinite``, ``error`` or ``warnings``).
    """
    problems, costs = cost_matrix(records, methods)
    rho = performance_profile(costs, taus) if problems else np.zeros((len(methods), len(taus)))
    ref = methods.index(reference) if reference in methods else None
    rows = []
    for j, m in enumerate(methods):
        runs = [r for r in records if r["method"] == m]
        ratio, common = None, 0
        if ref is not None and j != ref:
            both = np.isfinite(costs[:, j]) & np.isfinite(costs[:, ref])
            common = int(both.sum())
            if common:
                ratio = float(np.median(costs[both, j] / costs[both, ref]))
        per_iter = [r["overhead"] / r["nit"] for r in runs
                    if r["overhead"] is not None and r["nit"]]
        rows.append({
            "method": m,
            "problems": len(problems),
            "applicable": sum(r["status"] != "n/a" for r in runs),
            "solved": sum(bool(r["solved"]) for r in runs),
            "rho": {float(t): float(v) for t, v in zip(taus, rho[j])},
            "median_ratio": ratio,
            "common": common,
            "overhead_per_iter": float(np.median(per_iter)) if per_iter else None,
            "flags": sum(bool(r["flags"]) for r in runs),
        })
    return rows
