"""Markdown and JSON reports of a benchmark: summary tables, per-problem tables, flagged runs."""

import datetime
import importlib.metadata
import json
import math
import os
import platform
import sys
import textwrap

import numpy as np

from .analysis import COST_MODELS, TAUS, run_in, summarize

__all__ = ["environment", "summary_table", "problem_table", "flagged_table", "write_json",
           "markdown_report", "screen_report"]


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment():
    """Versions, machine and weights of this run (for the report's header and the JSON)."""
    import learnedmin

    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "learnedmin": learnedmin.__version__,
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        meta = learnedmin.learned.metadata
        env["weights"] = {"description": meta.get("description"), "trained": meta.get("trained"),
                          "sha256": meta.get("sha256")}
    except Exception as exc:  # noqa: BLE001 - a report without weights metadata is still a report
        env["weights"] = {"error": f"{type(exc).__name__}: {exc}"}
    return env


def _fmt(x, spec=".3g"):
    if x is None:
        return "–"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return format(x, spec)


def _seconds(x):
    if x is None:
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if x >= scale or unit == "µs":
            return f"{x / scale:.3g} {unit}"
    return "–"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "--:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio(row):
    """``"ratio (n)"`` of a summary row, ``–`` without one."""
    if row is None or row["median_ratio"] is None:
        return "–"
    return f"{row['median_ratio']:.2f} ({row['common']})"


def _evaluations(row):
    """The evaluations part of a summary row, ``None`` where the method has no such runs."""
    e = row.get("evaluations")
    return e if e is not None and e["applicable"] else None


def summary_table(summary, reference="L-BFGS-B"):
    """Markdown table of :func:`learnedmin.bench.analysis.summarize` rows, both cost models."""
    header = (["method", "solved", "solved, jac=True", "ran on", "median calls",
               f"median calls / {reference} (n)", "median evaluations",
               f"median evaluations / {reference} (n)"] + [f"ρ({t:g})" for t in TAUS]
              + ["overhead / iteration", "flagged runs"])
    rows = []
    for s in summary:
        e = _evaluations(s)
        rows.append([f"`{s['method']}`", f"{s['solved']}/{s['problems']}",
                     "n/a" if e is None else f"{e['solved']}/{s['problems']}", s["applicable"],
                     _fmt(s["median_calls"], "g"), _ratio(s),
                     "n/a" if e is None else _fmt(e["median_evaluations"], "g"), _ratio(e)]
                    + [f"{s['rho'][t]:.2f}" for t in TAUS]
                    + [_seconds(s["overhead_per_iter"]),
                       s["flags"] + (0 if e is None else e["flags"])])
    return _table(header, rows)


def problem_table(records, methods, model="calls"):
    """Problems x methods: cost to solve in ``model``, ``✗`` unsolved (with the final gap),
    ``n/a``, ``†`` flagged."""
    to_solve = COST_MODELS[model][1]
    by_problem = {}
    for r in records:
        by_problem.setdefault(r["problem"], {})[r["method"]] = r
    rows = []
    for name, runs in by_problem.items():
        first = next(iter(runs.values()))
        f_ref = first.get("f_ref")
        row = [f"`{name}`", first["n"], "–" if f_ref is None else
               f"{_fmt(f_ref)}{'' if first.get('ref_source') == 'known' else '*'}"]
        for m in methods:
            r = None if m not in runs else run_in(runs[m], model)
            if r is None or r["status"] == "n/a":
                cell = "n/a"
            elif r["solved"]:
                cell = str(r[to_solve])
            elif r["f_final"] is not None and f_ref is not None and np.isfinite(r["f_final"]):
                cell = f"✗ {_fmt(r['f_final'] - f_ref, '.1e')}"
            else:
                cell = "✗"
            if r is not None and r["flags"]:
                cell += " †"
            row.append(cell)
        rows.append(row)
    return _table(["problem", "n", "f_ref"] + [f"`{m}`" for m in methods], rows)


def flagged_table(records):
    """Markdown table of flagged runs, both cost models (``None`` if there are none)."""
    rows = []
    for r in records:
        for model in COST_MODELS:
            run = run_in(r, model)
            if run is None or not run["flags"]:
                continue
            text = run["message"] + ("; " + "; ".join(run["warnings"]) if run["warnings"] else "")
            rows.append([f"`{r['method']}`", f"`{r['problem']}`", model, run["status"],
                         ", ".join(run["flags"]), text.replace("|", "/")[:160]])
    if not rows:
        return None
    return _table(["method", "problem", "counted in", "status", "flags", "message"], rows)


def _thin(trace, keep=60):
    """At most ``keep`` points of a trace, log-spaced in calls, the first and last kept."""
    if len(trace) <= keep:
        return [list(p) for p in trace]
    idx = np.unique(np.geomspace(1, len(trace), keep).astype(int) - 1)
    return [list(trace[i]) for i in idx]


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else str(float(x))
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_json(path, results):
    """Write ``results`` (``env``, ``command``, ``settings``, ``suites``, ``runs``) as JSON.

    Traces are thinned to 60 points; non-finite numbers are written as strings (``"inf"``).
    """
    data = dict(results)
    data["runs"] = [dict(r, trace=_thin(r["trace"])) for r in results["runs"]]
    for r in data["runs"]:
        if r.get("paired") is not None:
            r["paired"] = dict(r["paired"], trace=_thin(r["paired"]["trace"]))
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(_jsonable(data), fh, indent=1, allow_nan=False)
        fh.write("\n")


def _preamble(results):
    """The page's header and its "How to read these tables" section (a list of lines)."""
    env, settings = results["env"], results["settings"]
    w = env.get("weights", {})
    return [
        "# Benchmarks",
        "",
        "Generated by",
        "",
        f"```\n{results['command']}\n```",
        "",
        f"on {env['date']}: learnedmin {env['learnedmin']}, numpy {env['numpy']}, "
        f"scipy {env['scipy']}, torch {env['torch']}, Python {env['python']}; "
        f"{env['platform']}, {env['cpus']} CPUs, one single-threaded worker process per job. "
        f"Weights of `learned`: {w.get('description', w.get('error', '?'))} "
        f"(sha256 `{str(w.get('sha256'))[:12]}`).",
        "",
        "Do not edit by hand: rerun the command above.",
        "",
        "## How to read these tables",
        "",
        "* Every method runs twice, with the same counted callables each time (counts are taken "
        "where calls reach the problem, not from `nfev`). Counted in *calls*: "
        "`minimize(fun, x0, jac=jac, ...)`, and a call is one evaluation of `f`, of the "
        "gradient or of a Hessian-vector product. Counted in *evaluations*: "
        "`minimize(fg, x0, jac=True, ...)` with `fg(x)` returning `(f, g)`, as a user whose "
        "code computes both at once runs it, and an evaluation is one call of `fg` (one point "
        "where `f` and `g` were computed together; a Hessian-vector product counts as one "
        "too). SciPy's methods and `learned` call `fg` once per point they ask for; every call "
        "that really happens is counted. Methods without a gradient are `n/a` in evaluations. "
        f"The budget is {settings['budget']} calls, or evaluations.",
        f"* A run **solves** a problem when its final value satisfies "
        f"`f - f_ref <= {settings['tol']:g} * max(1, |f_ref|)`; `f_ref` is the known minimum, "
        "or (marked `*`) the lowest value any method evaluated. Methods with a gradient "
        f"tolerance get `gtol = {settings['gtol']:g}`.",
        "* The cost of a solving run is the number of calls (evaluations) until it first "
        "evaluated a point within that tolerance (so stopping rules do not decide the "
        "comparison). In the problem tables a number is that cost, `✗ gap` a run that did not "
        "solve (with its final `f - f_ref`), `n/a` a method that does not apply, `†` a flagged "
        "run. *solved* counts the runs with separate `fun` and `jac`, *solved, jac=True* the "
        "runs with `fg`.",
        "* ρ(τ) is the Dolan–Moré performance profile, in calls: the fraction of problems a "
        "method solves within τ times the calls of the best method on that problem. Problems no "
        "method solves count in every denominator; `n/a` counts as not solved.",
        "* *ran on* counts the problems a method applies to (`n/a` elsewhere); *median calls* "
        "is the median of a method's calls to solve over the problems it solves; *median calls "
        "/ reference (n)* the median, over the n problems both solve, of a method's calls to "
        "solve divided by the reference method's.",
        "* *median evaluations* and *median evaluations / reference (n)* are the same in "
        "evaluations, over the runs with `jac=True`.",
        "* *overhead / iteration* is the median over runs of (wall time − time inside `f`, "
        "gradient and Hessian-vector calls) / iterations.",
        "* A run is *flagged* when it ends above `f(x0)`, with a non-finite value, with an error "
        "or with warnings; *flagged runs* counts them in both cost models, and they are listed "
        "per suite.",
        "* `learned` is `learnedmin.learned` (gradient only; with `jac=True` it asks for `f` "
        "and `g` together at every line-search trial and, by default there, does not refine "
        "accepted trials); `fixed-weights` is the ablation "
        "`LearnedMinimizer(weights=FixedWeights((0, 0, 1)))`: the same loop and safeguard without "
        "the network. `heavy-ball` and `nesterov` use the optimal parameters from the spectrum "
        "`(mu, L)` on quadratics and otherwise the best point of a 6 × 4 grid "
        "(step `c / L_hat`, `c` in 1e-3..2, `L_hat` a curvature estimate at `x0`; momentum "
        "0, 0.5, 0.9, 0.99), searched per problem with uncounted calls: an oracle-tuned upper "
        "bound. `chebyshev` is gradient descent with periodic Chebyshev steps (Takabe & "
        f"Wadayama), `T = {settings['chebyshev_period']}`, on problems with a known spectrum. "
        "SciPy methods run with their defaults apart from `maxiter`/`gtol`, and L-BFGS-B's "
        "`ftol = 0`, Newton-CG's `xtol = 1e-12` (their default relative-reduction tests stop "
        "far from the solution on some problems, which would compare stopping rules, not "
        "methods); `Newton-CG` and "
        "`trust-ncg` only where the problem has `hessp`; `BFGS` only up to "
        f"n = {settings['dense_max']}.",
        "",
    ]


def markdown_report(results, plots=None):
    """The Markdown page of a benchmark (``index.md`` under ``--out``).

    Parameters
    ----------
    results : dict
        ``env, command, settings, suites`` (suite name -> ``{"methods", "summary", "records"}``),
        ``overall`` and ``unavailable``.
    plots : dict, optional
        ``{suite or "all": {"profile": file, "convergence": file}}`` relative to the page.
    """
    plots = plots or {}
    out = _preamble(results)
    if results.get("unavailable"):
        for suite, why in results["unavailable"].items():
            out += [f"*Suite `{suite}` unavailable: {why}*", ""]
    if len(results["suites"]) > 1:
        out += ["## All suites", "", summary_table(results["overall"]), ""]
        if "all" in plots:
            out += [f"![performance profile, all suites]({plots['all']['profile']})", ""]
    for suite, data in results["suites"].items():
        out += [f"## Suite `{suite}`", "", summary_table(data["summary"]), ""]
        p = plots.get(suite, {})
        if "profile" in p:
            out += [f"![performance profile, {suite}]({p['profile']})", ""]
        if "convergence" in p:
            out += [f"![convergence, {suite}]({p['convergence']})", ""]
        out += ["### Calls to solve", "", problem_table(data["records"], data["methods"]), ""]
        if any("paired" in r for r in data["records"]):
            out += ["### Evaluations to solve (`jac=True`)", "",
                    problem_table(data["records"], data["methods"], "evaluations"), ""]
        flagged = flagged_table(data["records"])
        if flagged:
            out += ["### Flagged runs", "", flagged, ""]
    return "\n".join(out)


def median_calls(records, method, model="calls"):
    """Median cost to solve of ``method`` in ``model`` over the problems it solved (``None`` if
    none)."""
    to_solve = COST_MODELS[model][1]
    costs = [run[to_solve] for run in (run_in(r, model) for r in records if r["method"] == method)
             if run is not None and run.get("solved")]
    return float(np.median(costs)) if costs else None


#: The columns of the screen table and what each means (the legend under it).
SCREEN_COLUMNS = (
    ("solved", "runs ending with f - f_ref <= {tol:g} * max(1, |f_ref|); f_ref is the known "
               "minimum, else the lowest f any method reached"),
    ("ran", "problems it applies to (Newton-CG, trust-ncg: need hessp; chebyshev: a spectrum)"),
    ("median calls", "calls = nfev + njev + nhev (evaluations of f, gradient, Hessian-vector "
                     "products) until f first met that tolerance, median over the problems it "
                     "solved (budget {budget})"),
    ("median evals", "a second run, minimize(fg, x0, jac=True) with fg(x) = (f, g): evaluations "
                     "= calls of fg (and hessp) until that tolerance, median over the (k) solved"),
    ("vs {reference}", "its calls (evaluations) / {reference}'s, median over the (k) both "
                       "solved; < 1: cheaper"),
    ("ρ(1) ρ(4)", "share of the problems it solved within 1 (4) times the calls of the cheapest "
                  "method"),
    ("flagged", "runs (either count) ending above f(x0), non-finite, in error or with warnings"),
)
_SCREEN_TAUS = (1.0, 4.0)


def _aligned(header, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = ["{:<%d}" % widths[0]] + ["{:>%d}" % w for w in widths[1:]]
    return ["  ".join(f.format(str(c)) for f, c in zip(fmt, row)).rstrip()
            for row in [header] + rows]


def screen_table(summary, records, reference="L-BFGS-B"):
    """The summary as aligned plain-text lines: solved, ran, median calls and evaluations, their
    ratios, ρ, flagged."""
    header = ["method", "solved", "ran", "median calls", f"vs {reference}", "median evals",
              f"vs {reference}", "ρ(1) ρ(4)", "flagged"]
    rows = []
    for s in summary:
        calls = median_calls(records, s["method"])
        e = _evaluations(s)
        evals = median_calls(records, s["method"], "evaluations") if e else None
        rows.append([s["method"], f"{s['solved']}/{s['problems']}", s["applicable"],
                     "–" if calls is None else f"{calls:g}", _ratio(s),
                     "n/a" if e is None else "–" if evals is None else
                     f"{evals:g} ({e['solved']})", _ratio(e),
                     " ".join(f"{s['rho'][t]:.2f}" for t in _SCREEN_TAUS),
                     s["flags"] + (0 if e is None else e["flags"])])
    return _aligned(header, rows)


def _legend(name, text, indent, width):
    return textwrap.wrap(text, width=width, initial_indent=f"  {name:<{indent}}",
                         subsequent_indent=" " * (indent + 2))


def screen_legend(methods, settings, reference="L-BFGS-B", weights=None, width=100):
    """What every column and every method name of :func:`screen_table` means, as lines."""
    from .methods import ScipyMethod, resolve_method

    keys = dict(settings, reference=reference)
    columns = [(name.format(**keys), text.format(**keys)) for name, text in SCREEN_COLUMNS]
    scipy = [m for m in methods if isinstance(resolve_method(m), ScipyMethod)]
    named = []
    for m in methods:
        if m in scipy:
            if m == scipy[0]:
                named.append((", ".join(scipy), "scipy.optimize.minimize with that method, "
                              f"defaults apart from maxiter and gtol = {settings['gtol']:g} "
                              "(L-BFGS-B: ftol = 0; Newton-CG: xtol = 1e-12)"))
            continue
        text = resolve_method(m).description
        if m == "learned" and weights and weights.get("trained") is False:
            text += "; its network is untrained: it outputs (0, 0, 1), the classical rule"
        named.append((m, text))
    indent = max(len(n) for n, _ in columns + [(n, t) for n, t in named if len(n) < 16]) + 2
    lines = ["columns:"]
    for name, text in columns:
        lines += _legend(name, text, indent, width)
    lines.append("methods:")
    for name, text in named:
        if len(name) + 2 > indent:
            lines += [f"  {name}"] + _legend("", text, indent, width)
        else:
            lines += _legend(name, text, indent, width)
    return lines


def screen_report(suites_records, per_suite, overall, methods, settings, reference="L-BFGS-B",
                  weights=None, width=100):
    """The text a benchmark prints: one table per suite (and one for all), then the legend."""
    out = []
    groups = [(f"suite {s}", per_suite[s], recs) for s, recs in suites_records.items()]
    if len(groups) > 1:
        groups.append(("all suites", overall, [r for recs in suites_records.values()
                                                for r in recs]))
    for title, summary, records in groups:
        n = summary[0]["problems"] if summary else 0
        out += [f"{title}: {n} problems, {len(methods)} methods", ""]
        out += screen_table(summary, records, reference) + [""]
    out += screen_legend(methods, settings, reference, weights, width)
    return "\n".join(out)


def summaries(suites_records, methods, reference="L-BFGS-B"):
    """Per-suite and overall summaries: ``({suite: rows}, overall rows)``."""
    per_suite = {s: summarize(recs, methods, reference) for s, recs in suites_records.items()}
    everything = [r for recs in suites_records.values() for r in recs]
    return per_suite, summarize(everything, methods, reference)


def command_line():
    """The command that is running, as a user would type it."""
    prog = os.path.basename(sys.argv[0])
    if prog in ("__main__.py", "-c") or prog.endswith("__main__.py"):
        prog = "python -m learnedmin.bench"
    return " ".join([prog] + sys.argv[1:])
