"""From run records to verdicts: reference values, solved or not, performance profiles, summaries.

A run *solves* a problem when its final value satisfies ``f - f_ref <= tol * max(1, |f_ref|)``,
with ``f_ref = f*`` when it is known and otherwise the lowest value any run evaluated on that
problem. The cost of a solving run is the number of counted calls (``f`` + gradient +
Hessian-vector products) made up to the *first* evaluation that met the tolerance (Moré & Wild's
convention: methods with different stopping tests are compared on the same accuracy, not on when
they chose to stop).

Two cost models (see :mod:`learnedmin.bench.counting`): ``"calls"`` reads the run with separate
``fun`` and ``jac`` (the record itself), ``"evaluations"`` the run with ``jac=True`` (the
record's ``paired`` part), each with its own cost to solve.
"""

import math
from collections import defaultdict

import numpy as np

__all__ = ["mark_solved", "performance_profile", "summarize", "TAUS", "COST_MODELS", "run_in"]

#: Ratios at which profiles are tabulated.
TAUS = (1.0, 2.0, 4.0, 10.0)

#: Cost model -> (the run's total cost, its cost to solve): the keys of the run in that model.
COST_MODELS = {"calls": ("calls", "calls_to_solve"),
               "evaluations": ("evaluations", "evaluations_to_solve")}


def run_in(record, model):
    """The run of ``record`` in cost ``model``: the record itself for ``"calls"``, its ``paired``
    part for ``"evaluations"`` (``None`` where the record has none)."""
    _keys(model)
    return record if model == "calls" else record.get("paired")


def _keys(model):
    """``COST_MODELS[model]``, or a ValueError naming the valid models."""
    if model not in COST_MODELS:
        raise ValueError(f"'model' must be one of {', '.join(COST_MODELS)}; got {model!r}")
    return COST_MODELS[model]


def _threshold(f_ref, tol):
    return f_ref + tol * max(1.0, abs(f_ref))


def mark_solved(records, tol):
    """Add ``f_ref``, ``ref_source``, ``solved`` and ``calls_to_solve`` to every record, and
    ``solved`` and ``evaluations_to_solve`` to its ``paired`` part (in place).

    ``f_ref`` is shared by both cost models: where ``f*`` is unknown, the lowest value any run
    of either model evaluated.

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
        for run in (r, r.get("paired")):
            if run is not None and run["f_best"] is not None and np.isfinite(run["f_best"]):
                best[key] = min(best[key], run["f_best"])
    for r in records:
        key = (r["suite"], r["problem"])
        if r["f_star"] is not None:
            r["f_ref"], r["ref_source"] = r["f_star"], "known"
        else:
            r["f_ref"] = best[key] if np.isfinite(best[key]) else None
            r["ref_source"] = "best found"
        for model, (total, to_solve) in COST_MODELS.items():
            run = run_in(r, model)
            if run is not None:
                run["solved"], run[to_solve] = _first_solve(run, r["f_ref"], tol, total)
    return records


def _first_solve(run, f_ref, tol, total):
    """``(solved, cost to solve)`` of one run: whether its final value is within ``tol`` of
    ``f_ref``, and the cost at its first evaluation that was."""
    if run["status"] in ("n/a", "error") or f_ref is None:
        return False, None
    threshold = _threshold(f_ref, tol)
    f_final = run["f_final"]
    if f_final is None or not np.isfinite(f_final) or f_final > threshold:
        return False, None
    return True, next((c for c, f in run["trace"] if f <= threshold), run[total])


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


def cost_matrix(records, methods, model="calls"):
    """Problems (in first-seen order) and the ``(problems x methods)`` matrix of costs to solve in
    cost ``model`` (``calls_to_solve`` or ``evaluations_to_solve``; ``inf`` where unsolved)."""
    to_solve = _keys(model)[1]
    problems, index = [], {}
    for r in records:
        key = (r["suite"], r["problem"])
        if key not in index:
            index[key] = len(problems)
            problems.append(key)
    costs = np.full((len(problems), len(methods)), np.inf)
    col = {m: j for j, m in enumerate(methods)}
    for r in records:
        run = run_in(r, model)
        if run is not None and run.get("solved") and r["method"] in col:
            costs[index[(r["suite"], r["problem"])], col[r["method"]]] = max(run[to_solve], 1)
    return problems, costs


def _summarize_model(records, methods, reference, taus, model):
    """The summary rows of one cost model (see :func:`summarize`)."""
    problems, costs = cost_matrix(records, methods, model)
    rho = performance_profile(costs, taus) if problems else np.zeros((len(methods), len(taus)))
    ref = methods.index(reference) if reference in methods else None
    rows = []
    for j, m in enumerate(methods):
        runs = [run for run in (run_in(r, model) for r in records if r["method"] == m)
                if run is not None]
        ratio, common = None, 0
        if ref is not None and j != ref:
            both = np.isfinite(costs[:, j]) & np.isfinite(costs[:, ref])
            common = int(both.sum())
            if common:
                ratio = float(np.median(costs[both, j] / costs[both, ref]))
        solved = costs[np.isfinite(costs[:, j]), j]
        per_iter = [r["overhead"] / r["nit"] for r in runs
                    if r["overhead"] is not None and r["nit"]]
        rows.append({
            "method": m,
            "problems": len(problems),
            "applicable": sum(r["status"] != "n/a" for r in runs),
            "solved": sum(bool(r.get("solved")) for r in runs),
            "rho": {float(t): float(v) for t, v in zip(taus, rho[j])},
            f"median_{model}": float(np.median(solved)) if solved.size else None,
            "median_ratio": ratio,
            "common": common,
            "overhead_per_iter": float(np.median(per_iter)) if per_iter else None,
            "flags": sum(bool(r["flags"]) for r in runs),
        })
    return rows


def summarize(records, methods, reference="L-BFGS-B", taus=TAUS):
    """One summary row per method, in both cost models.

    Returns
    -------
    list of dict
        ``method, problems, applicable, solved, rho`` (``{tau: rho(tau)}``), ``median_calls``
        (median calls to solve over the problems it solved), ``median_ratio`` (median over
        problems both solve of this method's calls to solve over ``reference``'s; ``None``
        without ``reference`` or common solves), ``common`` (that number of problems),
        ``overhead_per_iter`` (median seconds per iteration outside the problem's calls),
        ``flags`` (runs flagged ``above_f0``, ``nonfinite``, ``error`` or ``warnings``): the
        calls model. ``evaluations`` holds the same fields (``median_evaluations`` for
        ``median_calls``) in the evaluations model, where records have ``paired`` runs.
    """
    rows = _summarize_model(records, methods, reference, taus, "calls")
    if any("paired" in r for r in records):
        paired = _summarize_model(records, methods, reference, taus, "evaluations")
        for row, other in zip(rows, paired):
            row["evaluations"] = {k: v for k, v in other.items()
                                  if k not in ("method", "problems")}
    return rows
