"""Run methods on problems: one counted, timed run per (problem, method) and cost model, optionally
in parallel.

Each method runs twice: with separate ``fun`` and ``jac`` (counting calls) and, if it takes a
gradient, with one function returning ``(f, g)`` and ``jac=True`` (counting evaluations).

A run record is a plain dict (JSON-ready apart from the trace, a list of pairs), so records travel
between processes and into the reports unchanged.
"""

import contextlib
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

from .counting import BudgetExhausted, Counter
from .methods import resolve_method
from .suites import get_problem

__all__ = ["run_one", "run_tasks", "ProgressReport"]


def _value(fun, x):
    with np.errstate(all="ignore"):
        try:
            return float(fun(np.array(x, dtype=np.float64)))
        except Exception:  # noqa: BLE001 - an unusable point is reported as a non-finite value
            return math.nan


def run_one(problem, method, settings, suite="", paired=True):
    """Run ``method`` on ``problem`` once per cost model and return the run record.

    Parameters
    ----------
    problem : Problem
    method : Method
    settings : Settings
    suite : str
        Name of the suite, copied into the record.
    paired : bool
        Also run the method the way a user whose function returns ``(f, g)`` runs it
        (``jac=True``), counting evaluations, into ``record["paired"]``.

    Returns
    -------
    dict
        ``suite, problem, n, method, status`` (``converged``, ``stopped``, ``budget``, ``error``
        or ``n/a``), ``message, nfev, njev, nhev, calls, nit, wall, time_in_calls, overhead``
        (seconds outside the problem's calls), ``f0, f_final, f_best, f_star, params, warnings,
        flags`` (``above_f0``, ``nonfinite``, ``error``, ``warnings``) and ``trace`` (``(calls,
        f)`` at every new lowest ``f``): the run with separate ``fun`` and ``jac``. With
        ``paired``, ``paired`` is the run with ``jac=True``: ``status, message, evaluations``
        (``nfgev + nhev``), ``nit, wall, time_in_calls, overhead, f_final, f_best, warnings,
        flags`` and ``trace`` (``(evaluations, f)``).
    """
    rec = {"suite": suite, "problem": problem.name, "n": int(len(problem.x0)),
           "method": method.name, "f_star": problem.f_star, "status": "n/a", "message": "",
           "nfev": 0, "njev": 0, "nhev": 0, "calls": 0, "nit": None, "wall": None,
           "time_in_calls": None, "overhead": None, "f0": None, "f_final": None,
           "f_best": None, "params": {}, "warnings": [], "flags": [], "trace": []}
    reason = method.applies(problem, settings)
    if reason is not None:
        rec["message"] = reason
        if paired:
            rec["paired"] = _paired_record(status="n/a", message=reason)
        return rec
    x0 = np.array(problem.x0, dtype=np.float64)
    rec["f0"] = _value(problem.fun, x0)
    params = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            params = method.prepare(problem, settings)
        except Exception as exc:  # noqa: BLE001 - one failing run must not end the benchmark
            rec["status"], rec["message"] = "error", f"{type(exc).__name__}: {exc}"
    prepared = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if params is None:  # prepare() failed before the run started
        rec["warnings"] = prepared
        rec["flags"] = ["error"] + (["warnings"] if prepared else [])
        if paired:
            rec["paired"] = _paired_record(status="error", message=rec["message"],
                                           flags=["error"])
        return rec
    rec["params"] = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                     for k, v in params.items()}
    run = _counted_run(problem, method, params, settings, x0, rec["f0"], paired=False)
    run["warnings"] = sorted(set(prepared) | set(run["warnings"]))
    if run["warnings"] and "warnings" not in run["flags"]:
        run["flags"].append("warnings")
    rec.update({k: run[k] for k in rec if k in run})
    if paired:
        reason = method.applies_paired()
        if reason is not None:
            rec["paired"] = _paired_record(status="n/a", message=reason)
        else:
            run = _counted_run(problem, method, params, settings, x0, rec["f0"], paired=True)
            rec["paired"] = _paired_record(**{k: run[k] for k in _paired_record() if k in run})
    return rec


def _paired_record(**fields):
    """The ``paired`` part of a run record: defaults, updated with ``fields``."""
    rec = {"status": "n/a", "message": "", "evaluations": 0, "nit": None, "wall": None,
           "time_in_calls": None, "overhead": None, "f_final": None, "f_best": None,
           "warnings": [], "flags": [], "trace": []}
    rec.update(fields)
    return rec


def _counted_run(problem, method, params, settings, x0, f0, paired):
    """One counted, timed run of ``method`` from ``x0``; the fields of a record it determines."""
    out = {"status": "n/a", "message": "", "flags": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = None
        counter = Counter(problem, budget=settings.budget, paired=paired)
        t0 = time.perf_counter()
        try:
            try:
                res = method.solve(counter, x0.copy(), params, settings)
            finally:
                elapsed = time.perf_counter() - t0
            out["status"] = "converged" if res.get("success", False) else "stopped"
            out["message"] = str(res.get("message", ""))
        except BudgetExhausted as exc:
            out["status"], out["message"] = "budget", str(exc)
        except Exception as exc:  # noqa: BLE001 - one failing run must not end the benchmark
            out["status"], out["message"] = "error", f"{type(exc).__name__}: {exc}"
            out["flags"].append("error")
    out["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if out["warnings"]:
        out["flags"].append("warnings")
    wall = elapsed - counter.time_observing
    out.update(nfev=counter.nfev, njev=counter.njev, nhev=counter.nhev, calls=counter.calls,
               evaluations=counter.evaluations, wall=wall, time_in_calls=counter.time_in_calls,
               overhead=max(wall - counter.time_in_calls, 0.0), trace=list(counter.trace),
               nit=None)
    if res is not None and res.get("nit") is not None:
        out["nit"] = int(res["nit"])
    if res is not None and "x" in res:
        out["f_final"] = _value(problem.fun, res["x"])
    else:
        out["f_final"] = counter.best_f if np.isfinite(counter.best_f) else math.nan
    finite_best = [f for _, f in counter.trace] + [out["f_final"]]
    out["f_best"] = min((f for f in finite_best if np.isfinite(f)), default=math.nan)
    if not np.isfinite(out["f_final"]):
        out["flags"].append("nonfinite")
    elif np.isfinite(f0) and out["f_final"] > f0:
        out["flags"].append("above_f0")
    return out


_WARM = set()


def _warm_up(method, settings):
    """Run ``method`` once, untimed, on a tiny quadratic: lazy imports (torch, loading weights,
    SciPy's first-call set-up) are paid here and not charged to the first timed run."""
    if method.name in _WARM:
        return
    _WARM.add(method.name)
    from ..problems.classic import ellipsoid

    tiny = ellipsoid(4, 10.0)
    if method.applies(tiny, settings) is None:
        for paired in (False, method.applies_paired() is None):
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                try:
                    method.solve(Counter(tiny, budget=50, paired=paired), np.array(tiny.x0),
                                 method.prepare(tiny, settings), settings)
                except Exception:  # noqa: BLE001 - the timed run will report the failure
                    pass


def _task(suite, problem_name, method_spec, settings):
    method = resolve_method(method_spec)
    _warm_up(method, settings)
    return run_one(get_problem(suite, problem_name), method, settings, suite)


#: Environment of the worker processes: one thread each for BLAS, OpenMP and torch. Threaded
#: BLAS on small matrices (BFGS at n = 100) is up to ten times slower on a shared machine and
#: makes the timings meaningless.
SINGLE_THREAD_ENV = {var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                                           "NUMEXPR_NUM_THREADS")}


@contextlib.contextmanager
def worker_pool(jobs):
    """A pool of ``jobs`` fresh single-threaded worker processes.

    Workers are started with ``spawn`` (a fresh interpreter, nothing forked from a parent that may
    hold BLAS or torch threads), with :data:`SINGLE_THREAD_ENV` in their environment (set only
    while the workers start: BLAS reads it when numpy is first imported).
    """
    import multiprocessing

    saved = {var: os.environ.get(var) for var in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)
    try:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        # Start every worker now, while the environment is set (a spawn pool starts one worker
        # per submitted task until it has ``jobs``).
        for future in [pool.submit(os.getpid) for _ in range(jobs)]:
            future.result()
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    with pool:
        yield pool


def run_tasks(tasks, settings, jobs=1, progress=None, processes=True):
    """Run ``tasks`` = ``[(suite, problem name, method spec), ...]``; records in task order.

    Parameters
    ----------
    tasks : list of tuple
    settings : Settings
    jobs : int
        Number of worker processes (see :func:`worker_pool`). Workers rebuild problems and
        methods from their names, so nothing unpicklable crosses a process boundary.
    progress : callable, optional
        ``progress(done, total, record)`` after each run.
    processes : bool
        ``False`` runs everything in this process (for tests; timings then depend on this
        process's thread settings).
    """
    records = [None] * len(tasks)
    if not processes:
        for i, task in enumerate(tasks):
            records[i] = _task(*task, settings)
            if progress:
                progress(i + 1, len(tasks), records[i])
        return records
    with worker_pool(jobs) as pool:
        futures = {pool.submit(_task, *task, settings): i for i, task in enumerate(tasks)}
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            records[i] = future.result()
            if progress:
                progress(done, len(tasks), records[i])
    return records


class ProgressReport:
    """Where a benchmark is, on ``stream`` (stderr): a tqdm bar on a terminal when tqdm is
    installed, else a line rewritten in place on a terminal, else a few plain lines (one per
    third of the runs). Use as ``with ProgressReport(total) as report: run_tasks(...,
    progress=report)``.

    Parameters
    ----------
    total : int
        Runs to come.
    stream : file, optional
        Where to write (default ``sys.stderr``).
    label : str
        What the runs are, for the first plain line (``"100 runs (10 problems x 10 methods)"``).
    """

    def __init__(self, total, stream=None, label=None):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.label = label or f"{total} runs"
        self.start = time.perf_counter()
        self.done = 0
        self.next_line = max(1, math.ceil(total / 3))
        self.bar = None
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if self.tty:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, file=self.stream, unit="run", desc="benchmark",
                                leave=False, dynamic_ncols=True)
        if not self.tty:
            self._write(f"benchmark: {self.label}...\n")

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def __call__(self, done, total, record=None):
        """Record that ``done`` of ``total`` runs have finished (``run_tasks``'s callback)."""
        step, self.done = done - self.done, done
        if self.bar is not None:
            self.bar.update(step)
            return
        seconds = time.perf_counter() - self.start
        line = f"benchmark: {done} of {total} runs done ({100 * done // total} %, {seconds:.0f} s)"
        if self.tty:
            self._write(f"\r\033[K{line}")
        elif done >= self.next_line or done == total:
            self._write(line + "\n")
            while self.next_line <= done:
                self.next_line += max(1, math.ceil(total / 3))

    def close(self):
        """Take the bar (or the rewritten line) off the screen before the tables are printed."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.tty:
            self._write("\r\033[K")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
