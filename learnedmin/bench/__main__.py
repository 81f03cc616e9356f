"""Command line of the benchmark: ``python -m learnedmin.bench`` (or ``learnedmin-bench``)."""

import argparse
import json
import os
import shutil
import sys

from . import channel_study, report
from .analysis import mark_solved
from .methods import BUILTIN, DEFAULT_METHODS, SCIPY_METHODS, Settings, resolve_method
from .runner import ProgressReport, run_tasks
from .suites import SUITES, SuiteUnavailable, suite_problems

EPILOG = """\
examples:
  python -m learnedmin.bench                                   # the quick suite, tables on stdout
  python -m learnedmin.bench --suite classic,quadratic,data --out docs/benchmarks --jobs 2
  python -m learnedmin.bench --suite quadratic --methods learned,L-BFGS-B,chebyshev
  python -m learnedmin.bench --methods +TNC,mypackage.solvers:my_method
  python -m learnedmin.bench overhead --out docs/benchmarks
  python -m learnedmin.bench channel --start-cells 0.25,0.75 --out docs/channel --jobs 2
  python -m learnedmin.bench channel --preset global --out docs/channel-global --jobs 2
  python -m learnedmin.bench batch --out docs/benchmarks          # minimize_batch throughput
  python -m learnedmin.bench list
"""


def _prog():
    """The name the command was started by: the script ``learnedmin-bench`` or the module."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "learnedmin-bench" if name.startswith("learnedmin-bench") \
        else "python -m learnedmin.bench"


def _csv(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser():
    """The argument parser (every option documented in ``--help``)."""
    p = argparse.ArgumentParser(
        prog=_prog(),
        description="Benchmark learnedmin.learned against SciPy's minimizers and classical "
                    "baselines on named problem suites, counting real function, gradient and "
                    "Hessian-vector calls, and evaluations of f and g together (every method "
                    "that takes a gradient runs a second time with jac=True). Writes Markdown and JSON tables, Dolan-Moré "
                    "performance profiles and PNG plots.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", default="run",
                   choices=("run", "overhead", "list", "channel", "batch"),
                   help="'run' a benchmark (default); measure the per-iteration 'overhead', "
                        "wall-time ratio and peak memory of learned at n = 10 and 10^6; "
                        "'list' suites, problems and methods; or run the 'channel' estimation "
                        "study (success, RMSE against the Cramér-Rao bound and calls of learned, "
                        "Levenberg-Marquardt and SciPy's methods on random channels); or "
                        "measure the 'batch' throughput of minimize_batch against Python loops "
                        "over Levenberg-Marquardt and learned on channel estimation")
    p.add_argument("--suite", default="quick", type=_csv, metavar="NAMES",
                   help="comma-separated suites: " + "; ".join(
                       f"{k}: {v[1]}" for k, v in SUITES.items()) + " (default: quick)")
    p.add_argument("--methods", default=None, metavar="NAMES",
                   help="comma-separated methods replacing the default list "
                        f"({', '.join(DEFAULT_METHODS)}); start with '+' to add to it "
                        "instead. A name is a built-in (" + ", ".join(BUILTIN) + "), "
                        "learned[name=value;...] (learned with solver options), any "
                        "scipy.optimize.minimize method, or 'module:callable' (a SciPy custom "
                        "method, given jac, maxiter and, if it accepts it, gtol). With "
                        "'channel': methods of the study (" + ", ".join(channel_study.METHODS)
                        + "; default all, or the preset's)")
    p.add_argument("--large", action="store_true",
                   help="with 'classic', also run the scalable problems at n = 10^6 (the "
                        "'scale' suite)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes running problems in parallel (default 1); every run "
                        "is single-threaded")
    p.add_argument("--out", metavar="DIR",
                   help="write index.md, results.json and PNG plots (overhead: overhead.md and "
                        "overhead.json) into DIR")
    p.add_argument("--budget", type=int, default=Settings.budget, metavar="CALLS",
                   help="counted calls (f + gradient + Hessian-vector products) per run, and "
                        f"evaluations per run with jac=True (default {Settings.budget})")
    p.add_argument("--tol", type=float, default=Settings.tol,
                   help="a run solves a problem when f - f_ref <= TOL * max(1, |f_ref|) "
                        f"(default {Settings.tol:g})")
    p.add_argument("--gtol", type=float, default=Settings.gtol,
                   help=f"gradient tolerance given to every method that has one "
                        f"(default {Settings.gtol:g})")
    p.add_argument("--reference", default="L-BFGS-B", metavar="METHOD",
                   help="method the 'vs' columns (median calls and evaluations ratios) divide "
                        "by (default L-BFGS-B)")
    p.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    p.add_argument("--repeats", type=int, default=5, metavar="N",
                   help="overhead: runs per method at n = 10 (3 at n = 10^6); medians are "
                        "reported (default 5)")
    p.add_argument("--large-n", type=int, default=10**6, metavar="N",
                   help="overhead: size of the large comparison (default 10^6)")
    p.add_argument("--batch-sizes", type=_csv, default=["1", "100", "10000"], metavar="B,...",
                   help="batch: numbers of instances solved at once (default 1,100,10000)")
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="batch: run minimize_batch on torch tensors on DEVICE (e.g. cuda); "
                        "default numpy")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    channel_study.add_arguments(p)
    return p


def _methods(parser, spec):
    if spec is None:
        names = list(DEFAULT_METHODS)
    elif spec.startswith("+"):
        names = list(DEFAULT_METHODS) + [m for m in _csv(spec[1:]) if m not in DEFAULT_METHODS]
    else:
        names = _csv(spec)
    if not names:
        parser.error("--methods: no method given")
    for name in names:
        try:
            resolve_method(name)
        except (ValueError, TypeError) as exc:
            parser.error(f"--methods: {exc}")
    if len(set(names)) != len(names):
        parser.error("--methods: a method is named twice")
    return names


def _list():
    for name, (_, description) in SUITES.items():
        print(f"suite {name}: {description}")
        try:
            for p in suite_problems(name):
                star = "unknown" if p.f_star is None else f"{p.f_star:.6g}"
                print(f"    {p.name} (n = {p.n}, f* = {star})")
        except SuiteUnavailable as exc:
            print(f"    unavailable: {exc}")
    print("methods (default: " + ", ".join(DEFAULT_METHODS) + "):")
    for name in BUILTIN:
        print(f"    {name}: {resolve_method(name).description}")
    print("    any scipy.optimize.minimize method: " + ", ".join(sorted(SCIPY_METHODS)))
    print("    module:callable: a SciPy custom method")
    return 0


def _show(args, stem, title, text, data):
    """Print a measurement's table and, with ``--out``, write it; the exit status."""
    print(text)
    if args.out:
        _write_measurement(args.out, stem, title, text, data)
    return 0


def _write_measurement(directory, stem, title, text, data):
    """``STEM.md`` (the table under the command that made it) and ``STEM.json`` in
    ``directory``."""
    os.makedirs(directory, exist_ok=True)
    command = report.command_line()
    with open(os.path.join(directory, f"{stem}.md"), "w", encoding="utf-8") as fh:
        fh.write(f"# {title}\n\nGenerated by\n\n```\n{command}\n```\n\n{text}\n")
    with open(os.path.join(directory, f"{stem}.json"), "w", encoding="utf-8") as fh:
        json.dump(dict(data, command=command, env=report.environment()), fh, indent=1)
        fh.write("\n")


def _overhead(args):
    from .overhead import format_overhead, measure_overhead

    if args.large_n < 2 or args.large_n % 2:
        raise SystemExit("--large-n must be an even number >= 2")
    out = measure_overhead(repeats=args.repeats, large_n=args.large_n)
    return _show(args, "overhead", "Overhead and scale", format_overhead(out), out)


def _batch(parser, args):
    from .batch import format_batch, measure_batch

    try:
        sizes = [int(b) for b in args.batch_sizes]
    except ValueError:
        parser.error(f"--batch-sizes: integers expected; got {','.join(args.batch_sizes)}")
    if not sizes or min(sizes) < 1:
        parser.error("--batch-sizes: every size must be >= 1")
    progress = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    out = measure_batch(sizes, device=args.device, progress=progress)
    return _show(args, "batch", "Batched solves", format_batch(out), out)


def _plots(args, results):
    from . import plots

    if not plots.have_matplotlib():
        print("matplotlib is not installed: skipping plots (pip install 'learnedmin[bench]')",
              file=sys.stderr)
        return {}
    made = {}
    groups = dict(results["suites"])
    if len(groups) > 1:
        groups["all"] = {"records": [r for d in results["suites"].values() for r in d["records"]],
                         "methods": results["methods"]}
    for name, data in groups.items():
        made[name] = {"profile": f"profile_{name}.png"}
        plots.plot_profile(os.path.join(args.out, made[name]["profile"]), data["records"],
                           data["methods"], f"Performance profile: {name}")
        if name != "all":
            fname = f"convergence_{name}.png"
            if plots.plot_convergence(os.path.join(args.out, fname), data["records"],
                                      data["methods"], f"Convergence: {name}"):
                made[name]["convergence"] = fname
    return made


def _run(parser, args):
    suites = list(dict.fromkeys(args.suite))
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        parser.error(f"--suite: unknown suite(s) {', '.join(unknown)}; valid: "
                     f"{', '.join(SUITES)}")
    if not suites:
        parser.error("--suite: no suite given")
    if args.large and "scale" not in suites:
        suites.append("scale")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1; got {args.jobs}")
    try:
        settings = Settings(budget=args.budget, gtol=args.gtol, tol=args.tol)
    except ValueError as exc:
        parser.error(str(exc))
    methods = _methods(parser, args.methods)

    tasks, unavailable, order = [], {}, []
    for suite in suites:
        try:
            problems = suite_problems(suite)
        except SuiteUnavailable as exc:
            unavailable[suite] = str(exc)
            print(f"suite {suite!r} is unavailable: {exc}", file=sys.stderr)
            continue
        order.append(suite)
        tasks += [(suite, p.name, m) for p in problems for m in methods]
    if not tasks:
        print("nothing to run", file=sys.stderr)
        return 1
    n_problems = len({(suite, problem) for suite, problem, _ in tasks})
    label = (f"{len(tasks)} runs ({n_problems} problems x {len(methods)} methods) on "
             f"{args.jobs} worker process{'es' if args.jobs > 1 else ''}")
    if args.quiet:
        records = run_tasks(tasks, settings, jobs=args.jobs)
    else:
        with ProgressReport(len(tasks), label=label) as progress:
            records = run_tasks(tasks, settings, jobs=args.jobs, progress=progress)

    by_suite = {s: [r for r in records if r["suite"] == s] for s in order}
    for recs in by_suite.values():
        mark_solved(recs, settings.tol)
    per_suite, overall = report.summaries(by_suite, methods, args.reference)
    results = {
        "command": report.command_line(),
        "env": report.environment(),
        "settings": {"budget": settings.budget, "tol": settings.tol, "gtol": settings.gtol,
                     "dense_max": settings.dense_max,
                     "tune_iterations": settings.tune_iterations,
                     "chebyshev_period": settings.chebyshev_period,
                     "reference": args.reference},
        "methods": methods,
        "suites": {s: {"methods": methods, "summary": per_suite[s], "records": by_suite[s]}
                   for s in order},
        "overall": overall,
        "unavailable": unavailable,
    }
    width = min(max(shutil.get_terminal_size((100, 40)).columns, 72), 110)
    print(report.screen_report(by_suite, per_suite, overall, methods, results["settings"],
                               args.reference, results["env"].get("weights"), width))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        made = {} if args.no_plots else _plots(args, results)
        with open(os.path.join(args.out, "index.md"), "w", encoding="utf-8") as fh:
            fh.write(report.markdown_report(results, made))
        report.write_json(os.path.join(args.out, "results.json"),
                          {k: v for k, v in results.items() if k != "suites"}
                          | {"suites": {s: {"summary": d["summary"]}
                                        for s, d in results["suites"].items()},
                             "runs": records})
        print(f"\nwrote {os.path.join(args.out, 'index.md')} and results.json", file=sys.stderr)
    return 0


def main(argv=None):
    """Entry point of ``python -m learnedmin.bench`` and the ``learnedmin-bench`` script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status (argument errors exit with status 2 through :mod:`argparse`).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "overhead":
        return _overhead(args)
    if args.command == "channel":
        return channel_study.main(parser, args)
    if args.command == "batch":
        return _batch(parser, args)
    return _run(parser, args)


if __name__ == "__main__":
    sys.exit(main())
