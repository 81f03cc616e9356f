r"""The channel-estimation study: ``python -m learnedmin.bench channel``.

Random specular-path channels (:func:`learnedmin.problems.channel.sample`: ``P`` paths on
``M = 64`` subcarriers, noisy observation, start = the truth perturbed) are estimated by

=================  =================================================================================
``LM``             ``scipy.optimize.least_squares(method="lm")`` on the residual and its Jacobian
                   (MINPACK defaults: ``ftol = xtol = gtol = 1e-8``, ``x_scale="jac"``)
``BFGS``           ``minimize(method="BFGS")``, ``gtol``
``L-BFGS-B``       ``minimize(method="L-BFGS-B")``, ``gtol``, ``ftol=0`` (no relative-reduction
                   stop)
``Newton-CG``      ``minimize(method="Newton-CG")`` with the Gauss-Newton ``hessp``, ``xtol=1e-12``
                   (SciPy's Newton-CG has no gradient test)
``learned``        ``minimize(method=learned)`` with ``jac`` only, ``gtol``
``learned-xs``     as ``learned``, with ``x_scale`` one resolution cell for the delays and 1 for
                   the weights (the scales a user knows in any units); ``gtol`` relative to the
                   scaled gradient ``x_scale * grad c(x0)``
``learned-GN``     ``minimize(method=learned)`` with ``jac`` and the Gauss-Newton ``hessp``,
                   ``gtol``
``learned-GNH``    ``minimize(method=learned)`` with ``jac`` and the Gauss-Newton matrix
                   ``hess = 2 J^T J`` (one counted call per matrix, like LM's Jacobian), ``gtol``
``channel``        as ``learned``, with the bundled channel weights
                   (``LearnedMinimizer(weights="channel")``)
``channel-GN``     as ``learned-GN``, with the bundled channel weights
``LM-VP``          ``LM`` on the concentrated (variable projection) residual and Jacobian of
                   :class:`~learnedmin.problems.concentrated.ConcentratedProblem`: the delays
                   alone, the path weights eliminated
``classical-GNH``  ``LearnedMinimizer(weights=FixedWeights((0, 0, 1)))`` (the classical rule)
                   with the Gauss-Newton matrix ``hess``, ``gtol``
``classical-VP``   as ``classical-GNH``, on the concentrated form (its Gauss-Newton matrix)
``schedule-GNH``   as ``classical-GNH``, with a fixed-schedule global phase:
                   ``FixedWeights(SCHEDULE)`` for the first ``SCHEDULE_STEPS`` steps
                   (:data:`SCHEDULE`, :data:`SCHEDULE_STEPS`)
``schedule-VP``    as ``schedule-GNH``, on the concentrated form
``channel-GNH``    ``LearnedMinimizer(weights="channel")`` with the Gauss-Newton matrix ``hess``
                   (the archive's own global phase applies), ``gtol``
``channel-VP``     as ``channel-GNH``, on the concentrated form
=================  =================================================================================

where ``gtol = rel_gtol * max|grad c(x0)|`` is the same absolute gradient tolerance for every
method that has one (``rel_gtol = 1e-8`` by default; see :class:`StudyConfig` for why not
``1e-6``); the concentrated methods use the same relative tolerance on the concentrated gradient
at their start. Every callable is wrapped and counted; a run is cut off after ``budget`` calls.

The concentrated methods (``-VP``) solve the
:class:`~learnedmin.problems.concentrated.ConcentratedProblem` of the same instance (same
observation, truth and noise; start: the delays of the full start) and return delays; the study
scores the full parameter vector with the least-squares weights at those delays
(``full_theta``), so every method is scored the same way.
The concentrated cost equals the full cost at the least-squares weights, so the costs, the *at
best* test and the calls to the best cost compare across the two forms.

For each instance and method the study records the delay errors in resolution cells (paths
matched as in :meth:`~learnedmin.problems.channel.ChannelProblem.delay_errors`) and the final cost,
and for each setting (units, start, ``P``, SNR) and method it reports

* **resolved**: share of runs with every delay within half a cell of the truth (the suite's test;
  a ±0.25-cell start passes it before any iteration);
* **at best**: share of runs whose final cost is within ``cost_rtol`` (relative) of the lowest
  cost any method reached on that instance — did the optimiser find the estimate at all;
* **4√CRB**: share of runs with every delay within ``crb_k`` standard deviations of the
  Cramér-Rao bound of the truth (at low SNR even the exact maximum-likelihood estimate fails it);
* **RMSE/√CRB**: root-mean-square delay error over the *resolved* runs (all paths) divided by the
  root of the mean Cramér-Rao bound on the delays over *all* instances of the setting;
* **median calls**: over all runs, counting ``fun + jac + hessp`` (or ``hess``; for LM the
  residual and Jacobian evaluations, including the one SciPy makes after MINPACK returns);
* **median calls, f and g paired**: the same with ``f`` and its gradient counted as one call
  where a method evaluates them at the same points: ``max(nfev, njev) + nhev`` for the
  ``minimize`` methods, ``nfev + njev`` (as above) for LM;
* **median calls to the best cost**: the same count up to the first call at which the run saw a
  cost within ``cost_rtol`` of the lowest any method reached on the instance (the measure of
  Moré & Wild's data profiles; runs that never get there count as infinite). Unlike the calls to
  stop, it does not depend on each method's own stopping rule (MINPACK's relative-reduction tests
  stop LM earlier than a gradient tolerance stops the others); and the same with ``f`` and
  the gradient paired.

Instances are a pure function of ``(seed, P, M, SNR, trial)`` — not of the units or the start
width — so every method, both unit systems and both start widths see the same channels and the
same noise (the wider start moves each delay three times as far in the same direction).

A study of several start widths also draws the share of runs resolved against the start width
(:data:`SUCCESS_FIGURE`). ``--preset global`` is the comparison of global phases
(:data:`PRESETS`): :data:`GLOBAL_METHODS` in scaled units, ``P`` = 3 and 5, 10 and 30 dB, starts
of ±0.3, 1, 1.5 and 2 cells.

References
----------
.. [1] A. Richter, *Estimation of Radio Channel Parameters: Models and Algorithms*, PhD thesis,
   TU Ilmenau, 2005 (maximum likelihood as nonlinear least squares; Levenberg-Marquardt).
"""

import functools
import json
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, NamedTuple, Optional

import numpy as np

from .counting import BudgetExhausted, Counter

__all__ = ["METHODS", "CONCENTRATED_METHODS", "GLOBAL_METHODS", "SCHEDULE", "SCHEDULE_STEPS",
           "PRESETS", "StudyConfig", "instance", "concentrated", "run_instance", "run_study",
           "summarize", "check_targets", "markdown", "plot_rmse", "plot_success", "write_outputs",
           "add_arguments", "main"]

#: The methods of the study, in table order.
METHODS = ("LM", "BFGS", "L-BFGS-B", "Newton-CG", "learned", "learned-xs", "learned-GN",
           "learned-GNH", "channel", "channel-GN", "LM-VP", "classical-GNH", "classical-VP",
           "schedule-GNH", "schedule-VP", "channel-GNH", "channel-VP")
#: The methods that solve the concentrated (variable projection) form.
CONCENTRATED_METHODS = ("LM-VP", "classical-VP", "schedule-VP", "channel-VP")
#: The methods of the global-phase comparison (``--preset global``).
GLOBAL_METHODS = ("LM", "LM-VP", "classical-GNH", "classical-VP", "schedule-GNH", "schedule-VP",
                  "channel-GNH", "channel-VP")
#: The fixed schedule the study compares with: rows of weights (gradient, momentum,
#: second-order) taken one per step for the first ``SCHEDULE_STEPS`` steps (the last row
#: repeated), then the classical rule.
SCHEDULE = ((0.0, 0.0, 2.0),)
SCHEDULE_STEPS = 8
#: The issue's accuracy target: RMSE <= RMSE_FACTOR * sqrt(CRB) at SNR >= RMSE_MIN_SNR dB.
RMSE_FACTOR, RMSE_MIN_SNR = 1.1, 10.0
#: The issue's cost target for ``learned`` without ``hessp``, relative to L-BFGS-B.
LBFGS_CALLS_RATIO = 0.7
#: The issue's success target in natural units for ``P >= 3``.
NATURAL_SUCCESS = 0.9
#: The start widths (cells) of the global-phase targets: the widest, where the learned global
#: phase must beat the baselines by the most; a middle one; and a narrow one, where it must not
#: cost accuracy, success or calls.
GLOBAL_WIDE, GLOBAL_MID, GLOBAL_NARROW = 1.5, 1.0, 0.3
#: Margins of the global-phase targets: the resolved share over LM's (LM-VP's) at the wide and
#: middle widths, over the fixed schedule's at the wide width, the share it may lose at the
#: narrow width, and the paired calls to the best cost it may add there.
GLOBAL_GAIN, SCHEDULE_GAIN, NARROW_LOSS, NARROW_CALLS = 0.15, 0.10, 0.01, 3.0
DEFAULT_OUT = os.path.join("docs", "channel")
FIGURE = "rmse_P3.png"
#: The figure of success against start width (written when a study has several widths).
SUCCESS_FIGURE = "success_vs_start.png"
#: The methods drawn in :data:`SUCCESS_FIGURE` (those the study ran).
SUCCESS_METHODS = ("LM", "LM-VP", "classical-GNH", "classical-VP", "schedule-VP", "channel-GNH",
                   "channel-VP")


@dataclass(frozen=True)
class StudyConfig:
    """What every run of a study shares.

    Parameters
    ----------
    paths : tuple of int
        Numbers of paths ``P``.
    snr_db : tuple of float
        SNRs (total path power per subcarrier over the noise variance), dB.
    trials : int
        Random instances per ``(P, SNR)``.
    units : tuple of str
        ``"natural"`` (delays as fractions of the unambiguous range: the badly scaled case)
        and/or ``"scaled"`` (delays in resolution cells).
    start_cells : tuple of float
        Largest delay error of the start, in resolution cells (``sample``'s
        ``delay_perturbation``; weights are perturbed by up to 3 dB and pi/8 as there).
    M : int
        Subcarriers.
    seed : int
        Root seed of the instances.
    budget : int
        Counted calls a run may make.
    rel_gtol : float
        Gradient tolerance relative to ``max|grad c(x0)|``. ``1e-8`` rather than ``1e-6``: in
        natural units ``max|g|`` is set by the delays, whose curvature is ``10^4`` to ``10^5``
        times the weights', so ``1e-6`` lets gradient methods stop with a cost about ``1e-6``
        relative above the minimum, and the *at best* test would measure the stopping rule.
    cost_rtol : float
        Tolerance of the *at best* test.
    crb_k : float
        Multiple of ``sqrt(CRB)`` of the strict delay test.
    """

    paths: tuple = (1, 3, 5)
    snr_db: tuple = (0.0, 10.0, 20.0, 30.0)
    trials: int = 50
    units: tuple = ("natural", "scaled")
    start_cells: tuple = (0.25,)
    M: int = 64
    seed: int = 0
    budget: int = 5000
    rel_gtol: float = 1e-8
    cost_rtol: float = 1e-6
    crb_k: float = 4.0

    def __post_init__(self):
        from ..problems.channel import UNITS

        _check(self.paths, "paths", lambda v: _is_int(v) and v >= 1, "be integers >= 1")
        _check(self.snr_db, "snr_db", lambda v: _is_real(v) and math.isfinite(v),
               "be finite numbers")
        _check(self.units, "units", lambda v: v in UNITS, f"be one of {UNITS}")
        _check(self.start_cells, "start_cells", lambda v: _is_real(v) and 0 <= v < math.inf,
               "be finite numbers >= 0")
        for name in ("trials", "budget", "M"):
            value = getattr(self, name)
            if not (_is_int(value) and value >= (2 if name == "M" else 1)):
                raise ValueError(f"'{name}' must be an integer >= {2 if name == 'M' else 1}; "
                                 f"got {value!r}")
        if not (_is_int(self.seed) and self.seed >= 0):
            raise ValueError(f"'seed' must be an integer >= 0; got {self.seed!r}")
        for name in ("rel_gtol", "cost_rtol", "crb_k"):
            value = getattr(self, name)
            if not (_is_real(value) and 0 < value < math.inf):
                raise ValueError(f"'{name}' must be a positive number; got {value!r}")


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _check(values, name, ok, rule):
    if not isinstance(values, tuple) or not values:
        raise ValueError(f"'{name}' must be a non-empty tuple; got {values!r}")
    bad = [v for v in values if not ok(v)]
    if bad:
        raise ValueError(f"'{name}' must {rule}; got {bad[0]!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"'{name}' names a value twice: {values!r}")


# --------------------------------------------------------------------------------------------
# Instances and counted solves


def instance(config, units, start_cells, P, snr_db, trial):
    """The :class:`~learnedmin.problems.channel.ChannelProblem` of one trial.

    The random stream depends on ``(seed, P, M, snr_db, trial)`` only, so the units and the start
    width change the coordinates and the start offset, not the channel or the noise.
    """
    from ..problems.channel import ChannelProblem

    # SeedSequence entropy must be non-negative integers: the SNR enters in millibels + offset.
    key = [config.seed, P, config.M, int(round(1000 * (snr_db + 1000))), trial]
    name = f"channel-P{P}-M{config.M}-{snr_db:g}dB-{units}-start{start_cells:g}-{trial}"
    return ChannelProblem.random(np.random.default_rng(key), P, config.M, snr_db, name=name,
                                 units=units, delay_perturbation=start_cells)


def concentrated(problem):
    """The :class:`~learnedmin.problems.concentrated.ConcentratedProblem` of a channel instance:
    the same observation, frequencies, truth and noise variance; start: the start's delays."""
    from ..problems.concentrated import ConcentratedProblem

    P = problem.x0.size // 3
    return ConcentratedProblem(problem.y, problem.freqs, problem.x0[:P], problem.x_true,
                               problem.sigma2, name=f"{problem.name}-vp")


class _Counted(Counter):
    """:class:`Counter` (no observations) that also keeps the point of the lowest ``f`` and the
    calls with ``f`` and the gradient paired."""

    def __init__(self, problem, budget):
        super().__init__(problem, budget=budget, observe=False)
        self.best_x = None
        self.best_trace = []  # (calls, paired calls, f) at each new lowest f

    @property
    def calls_paired(self):
        """Calls with ``f`` and the gradient at a point counted once: ``max(nfev, njev) + nhev``."""
        return max(self.nfev, self.njev) + self.nhev

    def _record(self, f):
        before = self.best_f
        super()._record(f)
        if self.best_f < before:
            self.best_trace.append((self.calls, self.calls_paired, self.best_f))

    def fun(self, x, *args):
        before = self.best_f
        f = super().fun(x, *args)
        if self.best_f < before:
            self.best_x = np.array(x, dtype=np.float64)
        return f

    def hess(self, x):
        """Counted Gauss-Newton matrix (one call, counted with ``hessp``'s): the problem's
        ``hess`` where it has one, else ``2 J^T J`` from its ``jacobian``."""
        self._spend()
        t0 = time.perf_counter()
        self.nhev += 1
        x = np.array(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            if hasattr(self.problem, "hess"):
                H = np.asarray(self.problem.hess(x), dtype=np.float64)
            else:
                J = self.problem.jacobian(x)
                H = 2.0 * (J.T @ J)
        self.time_in_calls += time.perf_counter() - t0
        return H


class _CountedResidual:
    """Counted ``residual``/``jacobian`` for ``least_squares`` (budget over both together)."""

    def __init__(self, problem, budget):
        self.problem, self.budget = problem, budget
        self.nfev = self.njev = 0
        self.best_f, self.best_x = math.inf, None
        self.best_trace = []  # (calls, paired calls, f) at each new lowest cost

    @property
    def calls(self):
        return self.nfev + self.njev

    @property
    def calls_paired(self):
        """As :attr:`calls`: the residual and the Jacobian are separate calls."""
        return self.calls

    def _spend(self):
        if self.calls >= self.budget:
            raise BudgetExhausted(f"budget of {self.budget} calls exhausted")

    def residual(self, x):
        self._spend()
        self.nfev += 1
        with np.errstate(all="ignore"):
            r = self.problem.residual(np.array(x, dtype=np.float64))
        f = float(r @ r)
        if math.isfinite(f) and f < self.best_f:
            self.best_f, self.best_x = f, np.array(x, dtype=np.float64)
            self.best_trace.append((self.calls, self.calls_paired, f))
        return r

    def jacobian(self, x):
        self._spend()
        self.njev += 1
        with np.errstate(all="ignore"):
            return self.problem.jacobian(np.array(x, dtype=np.float64))


def _delay_scale(problem):
    """``x_scale`` of ``learned-xs``: one resolution cell for each delay, 1 for each weight."""
    P = problem.x0.size // 3
    return np.concatenate([np.full(P, problem.cell), np.ones(2 * P)])


def _solver(method):
    """The ``LearnedMinimizer`` of a ``learnedmin`` method of the study."""
    for kind in ("classical", "schedule", "channel"):
        if method.startswith(kind):
            return _minimizer(kind)
    return _minimizer("learned")


@functools.lru_cache(maxsize=None)
def _minimizer(kind):
    """One minimizer per kind and process: an archive is loaded once, not at every run (a run
    keeps no state in the minimizer)."""
    from learnedmin import FixedWeights, LearnedMinimizer, learned

    if kind == "classical":
        return LearnedMinimizer(weights=FixedWeights((0.0, 0.0, 1.0)))
    if kind == "schedule":
        return LearnedMinimizer(weights=FixedWeights(SCHEDULE), global_steps=SCHEDULE_STEPS)
    if kind == "channel":
        return LearnedMinimizer(weights="channel")
    return learned


def _minimize(method, counter, x0, gtol, budget, g0):
    from scipy.optimize import minimize

    if method == "BFGS":
        return minimize(counter.fun, x0, jac=counter.jac, method="BFGS",
                        options={"gtol": gtol, "maxiter": budget})
    if method == "L-BFGS-B":
        return minimize(counter.fun, x0, jac=counter.jac, method="L-BFGS-B",
                        options={"gtol": gtol, "ftol": 0.0, "maxiter": budget, "maxfun": budget})
    if method == "Newton-CG":
        return minimize(counter.fun, x0, jac=counter.jac, hessp=counter.hessp,
                        method="Newton-CG", options={"xtol": 1e-12, "maxiter": budget})
    hess = counter.hess if method.endswith(("-GNH", "-VP")) else None
    hessp = counter.hessp if method in ("learned-GN", "channel-GN") else None
    options = {"gtol": gtol, "maxiter": budget}
    if method == "learned-xs":
        # the same relative tolerance, on the gradient in the scaled variables
        scale = _delay_scale(counter.problem)
        options.update(x_scale=scale,
                       gtol=gtol * np.max(np.abs(scale * g0)) / np.max(np.abs(g0)))
    return minimize(counter.fun, x0, jac=counter.jac, hess=hess, hessp=hessp,
                    method=_solver(method), options=options)


def _solve(method, problem, gtol, budget, g0):
    """One counted run: ``(x, status, message, counts, warnings, trace)``.

    ``problem`` is the problem the method solves (the concentrated one for
    :data:`CONCENTRATED_METHODS`); ``g0`` is its gradient at the start (it scales the tolerance
    of ``learned-xs``); ``x`` is the method's answer, or the lowest-cost point seen when the run
    ends by exhausting the budget or by an error; ``trace`` lists ``(calls, paired calls, f)``
    at each new lowest cost.
    """
    from scipy.optimize import least_squares

    if method in ("LM", "LM-VP"):
        counter = _CountedResidual(problem, budget)

        def run():
            return least_squares(counter.residual, problem.x0, jac=counter.jacobian,
                                 method="lm")
    else:
        counter = _Counted(problem, budget)

        def run():
            return _minimize(method, counter, problem.x0, gtol, budget, g0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = run()
            x, status, message = res.x, ("converged" if res.success else "stopped"), res.message
        except BudgetExhausted as exc:
            x, status, message = counter.best_x, "budget", str(exc)
        except Exception as exc:  # noqa: BLE001 - one failing run must not end the study
            x, status, message = counter.best_x, "error", f"{type(exc).__name__}: {exc}"
    if x is None:
        x = problem.x0
    counts = {"nfev": counter.nfev, "njev": counter.njev, "nhev": getattr(counter, "nhev", 0),
              "calls": counter.calls, "calls_paired": counter.calls_paired}
    notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return np.array(x, dtype=np.float64), status, str(message), counts, notes, counter.best_trace


def run_instance(config, units, start_cells, P, snr_db, trial, methods=METHODS):
    """Run every method on one instance; a list of run records (plain dicts, JSON-ready).

    Each record holds the setting, ``method, status, message, nfev, njev, nhev, calls,
    calls_paired, wall, cost, delay_errors`` and ``crb`` (both in resolution cells, one per
    path), the three per-run tests ``resolved``, ``at_best`` (against the lowest cost of
    ``methods`` on this instance) and ``within_crb``, and ``calls_to_best`` and
    ``calls_paired_to_best``. The concentrated methods are scored on the full parameter vector
    of their delays (``full_theta``).
    """
    problem = instance(config, units, start_cells, P, snr_db, trial)
    crb_cells = problem.crb_delay() / problem.cell
    # set-up, not counted: the gradient at the start sets every method's tolerance
    forms = {False: (problem, problem.jac(problem.x0))}
    if any(m in CONCENTRATED_METHODS for m in methods):
        vp = concentrated(problem)
        forms[True] = (vp, vp.jac(vp.x0))
    records, traces = [], []
    for method in methods:
        form, g0 = forms[method in CONCENTRATED_METHODS]
        gtol = config.rel_gtol * float(np.max(np.abs(g0)))
        t0 = time.perf_counter()
        x, status, message, counts, notes, trace = _solve(method, form, gtol, config.budget, g0)
        wall = time.perf_counter() - t0
        if form is not problem:
            with np.errstate(all="ignore"):
                x = np.asarray(form.full_theta(x), dtype=np.float64)
        errors = problem.delay_errors(x)
        with np.errstate(all="ignore"):
            cost = problem.fun(x)
        records.append(dict(
            units=units, start_cells=float(start_cells), P=int(P), snr_db=float(snr_db),
            trial=int(trial), method=method, status=status, message=message, warnings=notes,
            wall=wall, cost=cost if math.isfinite(cost) else math.inf,
            delay_errors=[float(e) for e in errors], crb=[float(c) for c in crb_cells],
            resolved=bool(np.all(errors <= 0.5)),
            within_crb=bool(np.all(errors <= config.crb_k * crb_cells)), **counts))
        traces.append(trace)
    best = min(min(r["cost"] for r in records), min((f for t in traces for _, _, f in t),
                                                     default=math.inf))
    target = best + config.cost_rtol * abs(best)
    for r, trace in zip(records, traces):
        r["at_best"] = bool(r["cost"] <= target)
        # the trace lists (calls, paired calls, f) at each new lowest f: the first at the target
        first = next(((c, cp) for c, cp, f in trace if f <= target), (math.inf, math.inf))
        r["calls_to_best"], r["calls_paired_to_best"] = first
    return records


def _settings(config):
    return [(u, s, P, snr) for u in config.units for s in config.start_cells
            for P in config.paths for snr in config.snr_db]


def run_study(config, jobs=1, progress=None, methods=METHODS, processes=True):
    """Run the whole study; ``{"config", "methods", "records", "summary", "wall"}``.

    Parameters
    ----------
    config : StudyConfig
    jobs : int
        Worker processes (fresh, single-threaded: see :func:`learnedmin.bench.runner.worker_pool`;
        threaded BLAS makes L-BFGS-B several times slower on a shared machine).
    progress : callable, optional
        ``progress(done, total, label)`` after each setting.
    methods : tuple of str
        A subset of :data:`METHODS` (the *at best* test compares only these).
    processes : bool
        ``False`` runs everything in this process (for tests).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"'methods' must be a non-empty subset of {METHODS}; got {methods!r}")
    if not (_is_int(jobs) and jobs >= 1):
        raise ValueError(f"'jobs' must be an integer >= 1; got {jobs!r}")
    settings = _settings(config)
    tasks = [(config, *s, t, tuple(methods)) for s in settings for t in range(config.trials)]
    t0 = time.perf_counter()
    records = []
    if processes:
        from .runner import worker_pool

        with worker_pool(jobs) as pool:
            # map keeps the task order, so the records do not depend on the number of workers.
            for i, recs in enumerate(pool.map(_run_task, tasks, chunksize=1)):
                records += recs
                _tick(progress, i + 1, config.trials, len(settings), tasks[i])
    else:
        for i, task in enumerate(tasks):
            records += run_instance(*task)
            _tick(progress, i + 1, config.trials, len(settings), task)
    return {"config": asdict(config), "methods": list(methods), "records": records,
            "summary": summarize(records, methods), "wall": time.perf_counter() - t0}


def _run_task(task):
    return run_instance(*task)


def _tick(progress, i, trials, n_settings, task):
    """Report a setting once its last trial is done (tasks are ordered setting by setting)."""
    if progress is not None and i % trials == 0:
        _, units, start, P, snr, _, _ = task
        progress(i // trials, n_settings, f"{units}, start ±{start:g} cell, P = {P}, {snr:g} dB")


# --------------------------------------------------------------------------------------------
# Summary and the targets


def _setting_key(r):
    return (r["units"], r["start_cells"], r["P"], r["snr_db"])


def summarize(records, methods=METHODS):
    """One row per (units, start, P, SNR, method): rates, RMSE and median calls.

    Row keys: ``units, start_cells, P, snr_db, method, runs, resolved, at_best, within_crb``
    (shares), ``rmse`` (cells, over resolved runs; ``None`` if none), ``root_crb`` (root of the
    mean CRB on the delays over all instances of the setting, cells), ``rmse_ratio``,
    ``median_calls``, ``median_calls_to_best``, ``median_calls_paired``,
    ``median_calls_paired_to_best`` (``f`` and the gradient paired), ``statuses`` (counts).
    """
    groups = {}
    for r in records:
        groups.setdefault(_setting_key(r), {}).setdefault(r["method"], []).append(r)
    rows = []
    for key, by_method in groups.items():
        instances = by_method[methods[0]]
        root_crb = math.sqrt(float(np.mean([np.square(r["crb"]) for r in instances])))
        for m in methods:
            runs = by_method.get(m, [])
            ok = [r for r in runs if r["resolved"]]
            rmse = math.sqrt(float(np.mean([np.square(r["delay_errors"]) for r in ok]))) \
                if ok else None
            statuses = {}
            for r in runs:
                statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            rows.append(dict(
                units=key[0], start_cells=key[1], P=key[2], snr_db=key[3], method=m,
                runs=len(runs), resolved=_share(runs, "resolved"), at_best=_share(runs, "at_best"),
                within_crb=_share(runs, "within_crb"), rmse=rmse, root_crb=root_crb,
                rmse_ratio=None if rmse is None else rmse / root_crb,
                median_calls=_median(runs, "calls"),
                median_calls_to_best=_median(runs, "calls_to_best"),
                median_calls_paired=_median(runs, "calls_paired"),
                median_calls_paired_to_best=_median(runs, "calls_paired_to_best"),
                statuses=statuses))
    return rows


def _median(runs, key):
    return float(np.median([r[key] for r in runs])) if runs else None


def _share(runs, test):
    return sum(r[test] for r in runs) / len(runs) if runs else None


def _row(summary, units, start, P, snr, method):
    for r in summary:
        if (r["units"], r["start_cells"], r["P"], r["snr_db"], r["method"]) == (
                units, start, P, snr, method):
            return r
    return None


def check_targets(summary, methods=METHODS):
    """The issue's targets, evaluated on ``summary`` (nothing here is a recorded result).

    Targets: ``learned``, ``learned-xs``, ``learned-GN`` and ``learned-GNH`` (and the
    ``channel`` variants) succeed (resolved, and at best)
    at least as often as LM at every SNR and ``P``; their RMSE/√CRB is <= 1.1 at SNR >= 10 dB;
    they succeed in >= 90 % of the runs in natural units for ``P >= 3``; the median calls of
    ``learned-GN`` and ``learned-GNH`` are <= LM's and those of ``learned`` <= 0.7 x
    L-BFGS-B's.

    The global phase (judged only at the start widths named, where the study has them):
    ``channel-VP`` resolves a share at least 0.15 above ``LM-VP``'s and 0.10 above
    ``schedule-VP``'s at ±1.5 cells; ``channel-GNH`` one at least 0.15 above LM's at ±1 cell;
    at ±0.3 cell ``channel-GNH`` and ``channel-VP`` resolve a share at most 0.01 below LM's
    (``LM-VP``'s), their RMSE/√CRB is <= 1.1 at SNR >= 10 dB, and their median calls to the best
    cost with ``f`` and the gradient paired are at most LM's + 3 (:data:`GLOBAL_WIDE`,
    :data:`GLOBAL_GAIN` and the other constants).

    Targets that need a method missing from ``methods`` are left out, and so are targets with
    no setting to judge.

    Returns
    -------
    list of dict
        ``target, method, met, settings_met, settings`` and, at the setting with the smallest
        margin, ``worst`` (the margin: negative when missed), ``value``, ``limit``, ``where``.
    """
    settings = sorted({(r["units"], r["start_cells"], r["P"], r["snr_db"]) for r in summary})
    index = {(r["units"], r["start_cells"], r["P"], r["snr_db"], r["method"]): r
             for r in summary}
    hard = lambda s: s[0] == "natural" and s[2] >= 3  # noqa: E731
    specs = []
    for m in ("learned", "learned-xs", "learned-GN", "learned-GNH", "channel", "channel-GN"):
        specs += [(f"{t} >= LM's", m, t, "LM", 1.0, None, True, None)
                  for t in ("resolved", "at_best")]
        specs.append((f"RMSE/√CRB <= {RMSE_FACTOR:g} at SNR >= {RMSE_MIN_SNR:g} dB", m,
                      "rmse_ratio", None, None, RMSE_FACTOR, False,
                      lambda s: s[3] >= RMSE_MIN_SNR))
        specs += [(f"{t} >= {NATURAL_SUCCESS:.0%}, natural units, P >= 3", m, t, None, None,
                   NATURAL_SUCCESS, True, hard) for t in ("resolved", "at_best")]
    specs += [("median calls <= LM's", m, "median_calls", "LM", 1.0, None, False, None)
              for m in ("learned-GN", "learned-GNH", "channel-GN")]
    specs += [("median calls to the best cost <= LM's", m, "median_calls_to_best", "LM", 1.0,
               None, False, None) for m in ("learned-GN", "learned-GNH", "channel-GN")]
    specs += [(f"median calls <= {LBFGS_CALLS_RATIO:g} x L-BFGS-B's", m,
               "median_calls", "L-BFGS-B", LBFGS_CALLS_RATIO, None, False, None)
              for m in ("learned", "learned-xs", "channel")]
    specs = [_Target(*spec) for spec in specs] + _global_targets()
    out = []
    for label, m, metric, ref, factor, bound, higher, keep, offset in specs:
        if m not in methods or (ref is not None and ref not in methods):
            continue
        found, ratios = [], []
        for s in settings:
            if keep is not None and not keep(s):
                continue
            if (*s, m) not in index or (ref is not None and (*s, ref) not in index):
                continue
            value = index[(*s, m)][metric]
            limit = bound if ref is None else _scaled(index[(*s, ref)][metric], factor, offset)
            if value is None or limit is None:
                continue
            margin = value - limit if higher else limit - value
            found.append((margin, value, limit, s))
            if ref is not None and index[(*s, ref)][metric]:
                ratios.append(value / index[(*s, ref)][metric])
        if found:
            margin, value, limit, s = min(found, key=lambda f: f[0])
            # rates are ratios of small integers: allow for rounding in the comparison
            met = [f for f in found if f[0] >= -1e-12]
            out.append({"target": label, "method": m, "met": len(met) == len(found),
                        "settings_met": len(met), "settings": len(found), "worst": margin,
                        "value": value, "limit": limit, "where": _where(s),
                        "median_ratio": float(np.median(ratios)) if ratios else None})
    return out


class _Target(NamedTuple):
    """One target: ``value(method) >= limit`` (``higher``) or ``<=``, where the limit is
    ``bound``, or ``factor * value(ref) + offset``; judged at the settings ``keep`` accepts."""

    label: str
    method: str
    metric: str
    ref: Optional[str] = None
    factor: Optional[float] = 1.0
    bound: Optional[float] = None
    higher: bool = True
    keep: Optional[Callable] = None
    offset: float = 0.0


def _at_start(cells, min_snr=None):
    """Settings with start width ``cells`` (and SNR >= ``min_snr`` dB)."""
    return lambda s: math.isclose(s[1], cells) and (min_snr is None or s[3] >= min_snr)


def _global_targets():
    """The global-phase targets (see :func:`check_targets`)."""
    T = _Target
    wide, mid, narrow = GLOBAL_WIDE, GLOBAL_MID, GLOBAL_NARROW
    out = [T(f"resolved >= LM-VP's + {GLOBAL_GAIN:g} at ±{wide:g} cell", "channel-VP",
             "resolved", "LM-VP", keep=_at_start(wide), offset=GLOBAL_GAIN),
           T(f"resolved >= schedule-VP's + {SCHEDULE_GAIN:g} at ±{wide:g} cell", "channel-VP",
             "resolved", "schedule-VP", keep=_at_start(wide), offset=SCHEDULE_GAIN),
           T(f"resolved >= LM's + {GLOBAL_GAIN:g} at ±{mid:g} cell", "channel-GNH", "resolved",
             "LM", keep=_at_start(mid), offset=GLOBAL_GAIN)]
    for m, ref in (("channel-GNH", "LM"), ("channel-VP", "LM-VP")):
        out += [T(f"resolved >= {ref}'s − {NARROW_LOSS:g} at ±{narrow:g} cell", m, "resolved",
                  ref, keep=_at_start(narrow), offset=-NARROW_LOSS),
                T(f"RMSE/√CRB <= {RMSE_FACTOR:g} at SNR >= {RMSE_MIN_SNR:g} dB, "
                  f"±{narrow:g} cell", m, "rmse_ratio", None, None, RMSE_FACTOR, False,
                  _at_start(narrow, RMSE_MIN_SNR)),
                T(f"median calls to the best cost (f and g paired) <= LM's + "
                  f"{NARROW_CALLS:g} at ±{narrow:g} cell", m, "median_calls_paired_to_best",
                  "LM", higher=False, keep=_at_start(narrow), offset=NARROW_CALLS)]
    return out


def _scaled(x, factor, offset=0.0):
    return None if x is None else factor * x + offset


def _where(s):
    return f"{s[0]}, ±{s[1]:g} cell, P = {s[2]}, {s[3]:g} dB"


# --------------------------------------------------------------------------------------------
# Markdown, JSON, figure


def _pct(x):
    return "–" if x is None else f"{100 * x:.0f}"


def _num(x, spec=".2f"):
    return "–" if x is None else format(x, spec)


_COLUMNS = (
    ("resolved", "resolved (%): every delay within ½ cell", _pct),
    ("at_best", "at best (%): final cost within {cost_rtol:g} (relative) of the lowest any "
                "method reached", _pct),
    ("within_crb", "within {crb_k:g}√CRB (%): every delay within {crb_k:g} √CRB of the truth",
     _pct),
    ("rmse_ratio", "RMSE / √CRB: delay RMSE over the resolved runs / root of the mean CRB",
     _num),
    ("median_calls", "median calls (f + gradient + hessp or hess; LM: residual + Jacobian)",
     lambda x: _num(x, ".0f")),
    ("median_calls_to_best", "median calls to the best cost (counted as above, up to the "
                             "first cost within {cost_rtol:g} of the lowest any method reached)",
     lambda x: _num(x, ".0f")),
    ("median_calls_paired", "median calls, f and gradient paired (max(f, gradient) + hess or "
                            "hessp; LM: residual + Jacobian)", lambda x: _num(x, ".0f")),
    ("median_calls_paired_to_best", "median calls to the best cost, f and gradient paired",
     lambda x: _num(x, ".0f")),
)


def _metric_table(summary, methods, units, start, paths, snrs, key, fmt):
    head = "| P | method | " + " | ".join(f"{s:g} dB" for s in snrs) + " |"
    lines = [head, "|" + "---|" * (2 + len(snrs))]
    for P in paths:
        for m in methods:
            cells = [fmt(_value(_row(summary, units, start, P, s, m), key)) for s in snrs]
            lines.append(f"| {P} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _value(row, key):
    return None if row is None else row[key]


def markdown(results, command=None, figure=None, success_figure=None):
    """The study's Markdown report (headings from level 2, to be included in a page);
    ``figure`` and ``success_figure`` are the file names of the figures to show, if any."""
    cfg, summary, methods = results["config"], results["summary"], results["methods"]
    lines = []
    if command:
        lines += ["Generated by `learnedmin.bench.channel_study` (do not edit by hand):", "",
                  "```", command, "```", ""]
    n_inst = cfg["trials"] * len(cfg["paths"]) * len(cfg["snr_db"]) * len(cfg["units"]) \
        * len(cfg["start_cells"])
    lines += [
        f"{cfg['trials']} random channels per setting, M = {cfg['M']} subcarriers, seed "
        f"{cfg['seed']}; {n_inst} instances × {len(methods)} methods in "
        f"{results['wall'] / 60:.1f} min. Stopping: `gtol` = {cfg['rel_gtol']:g} × max|∇c(x0)| "
        f"for BFGS, L-BFGS-B (`ftol=0`) and `learned`; `xtol=1e-12` for Newton-CG; MINPACK's "
        f"defaults for LM; at most {cfg['budget']} counted calls per run.", ""]
    env = results.get("env")
    if env:
        lines += [f"learnedmin {env.get('learnedmin')}, SciPy {env.get('scipy')}, NumPy "
                  f"{env.get('numpy')}, torch {env.get('torch')}, Python {env.get('python')}; "
                  f"{env.get('date')}.", ""]
    targets = results.get("targets") or []
    if targets:
        lines += ["### The issue's targets", "",
                  "Evaluated from the tables below: *settings met* counts the settings (units, "
                  "start, P, SNR) where the target holds; *worst* is the setting with the "
                  "smallest margin, its value against the limit there (rates as fractions); "
                  "*median ratio* is the median over the settings of the method's value over "
                  "the reference method's.", "",
                  "| target | method | met | settings met | worst: value vs limit | where "
                  "| median ratio |",
                  "|---|---|---|---|---|---|---|"]
        for t in targets:
            ratio = t.get("median_ratio")
            lines.append(f"| {t['target']} | {t['method']} | {'yes' if t['met'] else '**no**'} "
                         f"| {t['settings_met']}/{t['settings']} | {t['value']:.3g} vs "
                         f"{t['limit']:.3g} | {t['where']} "
                         f"| {'–' if ratio is None else format(ratio, '.3g')} |")
        lines.append("")
    if figure:
        lines += [f"![Delay RMSE against SNR for P = 3]({figure})", ""]
    if success_figure:
        lines += [f"![Share of runs resolved against the start width]({success_figure})", ""]
    for units in cfg["units"]:
        for start in cfg["start_cells"]:
            lines += [f"### {units.capitalize()} units, start ±{start:g} cell", ""]
            for key, title, fmt in _COLUMNS:
                lines += [f"**{title.format(**cfg)}**", "",
                          _metric_table(summary, methods, units, start, cfg["paths"],
                                        cfg["snr_db"], key, fmt), ""]
    return "\n".join(lines)


def plot_rmse(path, summary, methods, P=3):
    """Delay RMSE (resolved runs) and share of runs at the best cost against SNR for ``P``
    paths, one column per (units, start), with the root of the mean CRB; saved as PNG.

    Returns ``False`` (and draws nothing) when the summary has no row for ``P``.
    """
    from .plots import _figure, _style

    configs = list(dict.fromkeys((r["units"], r["start_cells"]) for r in summary if r["P"] == P))
    if not configs:
        return False
    fig = _figure(3.6 * len(configs) + 0.6, 6.4)
    axes = fig.subplots(2, len(configs), squeeze=False, sharex=True, sharey="row")
    for col, (units, start) in enumerate(configs):
        rows = [r for r in summary if (r["units"], r["start_cells"], r["P"]) == (units, start, P)]
        snrs = sorted({r["snr_db"] for r in rows})
        top, bottom = axes[0][col], axes[1][col]
        for j, m in enumerate(methods):
            pts = [_row(rows, units, start, P, s, m) for s in snrs]
            style = dict(_style(j, m), marker="os^vDx"[j % 6], ms=4)
            rmse = [np.nan if r is None or r["rmse"] is None else r["rmse"] for r in pts]
            top.semilogy(snrs, rmse, label=m, **style)
            bottom.plot(snrs, [np.nan if r is None else r["at_best"] for r in pts], **style)
        crb = [_row(rows, units, start, P, s, methods[0])["root_crb"] for s in snrs]
        top.semilogy(snrs, crb, "k:", linewidth=2.0, label="√CRB (mean)")
        top.set_title(f"{units} units, start ±{start:g} cell", fontsize=9)
        top.set_ylabel("delay RMSE (cells)") if col == 0 else None
        bottom.set_ylabel("share at best cost") if col == 0 else None
        bottom.set_xlabel("SNR (dB)")
        bottom.set_ylim(-0.02, 1.02)
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"P = {P} paths: delay RMSE over resolved runs (top), share of runs reaching "
                 "the best cost (bottom)", fontsize=10)
    fig.savefig(path, metadata={"Software": None})
    return True


def plot_success(path, summary, methods):
    """Share of runs resolved against the start width, one panel per (units, P) row and SNR
    column, one line per method of :data:`SUCCESS_METHODS` in ``methods`` (all of ``methods``
    when it has none of them); saved as PNG.

    Returns ``False`` (and draws nothing) when the summary has fewer than two start widths.
    """
    from .plots import _figure, _style

    starts = sorted({r["start_cells"] for r in summary})
    if len(starts) < 2:
        return False
    drawn = [m for m in methods if m in SUCCESS_METHODS] or list(methods)
    rows = list(dict.fromkeys((r["units"], r["P"]) for r in summary))
    snrs = sorted({r["snr_db"] for r in summary})
    fig = _figure(3.4 * len(snrs) + 0.6, 2.8 * len(rows) + 0.8)
    axes = fig.subplots(len(rows), len(snrs), squeeze=False, sharex=True, sharey=True)
    for i, (units, P) in enumerate(rows):
        for k, snr in enumerate(snrs):
            ax = axes[i][k]
            for j, m in enumerate(drawn):
                pts = [_row(summary, units, s, P, snr, m) for s in starts]
                ax.plot(starts, [np.nan if r is None else r["resolved"] for r in pts],
                        label=m, **dict(_style(j, m), marker="os^vDx"[j % 6], ms=4))
            ax.set_title(f"{units} units, P = {P}, {snr:g} dB", fontsize=9)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, alpha=0.3)
            if k == 0:
                ax.set_ylabel("share resolved")
            if i == len(rows) - 1:
                ax.set_xlabel("start: largest delay error (cells)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Share of runs with every delay within ½ cell, against the start width",
                 fontsize=10)
    fig.savefig(path, metadata={"Software": None})
    return True


#: Columns of the runs table of ``results.json`` (one list per run, in this order).
RUN_COLUMNS = ("units", "start_cells", "P", "snr_db", "trial", "method", "status", "calls",
               "calls_to_best", "calls_paired", "calls_paired_to_best", "nfev", "njev", "nhev",
               "cost", "delay_errors", "crb", "resolved", "at_best", "within_crb", "message",
               "warnings")


def _rounded(v, digits=6):
    """Floats to ``digits`` significant digits (a smaller JSON file); lists element-wise to 4."""
    if isinstance(v, list):
        return [_rounded(x, 4) for x in v]
    return float(f"{v:.{digits}g}") if isinstance(v, float) and math.isfinite(v) else v


def _run_row(r):
    # the message of a converged run is always the method's success message: leave it out
    row = dict(r, message="" if r["status"] == "converged" else r["message"])
    return [_rounded(row[c]) for c in RUN_COLUMNS]


def _json_lines(data):
    """``data`` as JSON, its ``runs`` rows one per line (non-finite numbers already strings)."""
    head = json.dumps({k: v for k, v in data.items() if k != "runs"}, indent=1,
                      allow_nan=False, ensure_ascii=False)
    rows = ",\n".join("   " + json.dumps(r, allow_nan=False, ensure_ascii=False)
                       for r in data["runs"]["rows"])
    columns = json.dumps(data["runs"]["columns"])
    return (head[:-2] + f',\n "runs": {{\n  "columns": {columns},\n  "rows": [\n'
            + rows + "\n  ]\n }\n}\n")


def write_outputs(results, out, command=None, plots=True):
    """Write ``results.md``, ``results.json`` and (with matplotlib) ``rmse_P3.png`` and, for a
    study of several start widths, ``success_vs_start.png`` to ``out``.

    Returns the paths written.
    """
    from . import report

    os.makedirs(out, exist_ok=True)
    written = []
    figure = success_figure = None
    several = len(results["config"]["start_cells"]) > 1
    if plots and (3 in results["config"]["paths"] or several):
        from .plots import have_matplotlib

        if not have_matplotlib():
            print("matplotlib is not installed: skipping the plots", file=sys.stderr)
        else:
            path = os.path.join(out, FIGURE)
            if 3 in results["config"]["paths"] and plot_rmse(path, results["summary"],
                                                             results["methods"], P=3):
                figure, written = FIGURE, written + [path]
            path = os.path.join(out, SUCCESS_FIGURE)
            if several and plot_success(path, results["summary"], results["methods"]):
                success_figure, written = SUCCESS_FIGURE, written + [path]
    path = os.path.join(out, "results.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(markdown(results, command, figure, success_figure) + "\n")
    written.append(path)
    data = {k: v for k, v in results.items() if k != "records"}
    data = dict(data, command=command, figure=figure, success_figure=success_figure,
                runs={"columns": list(RUN_COLUMNS),
                      "rows": [_run_row(r) for r in results["records"]]})
    path = os.path.join(out, "results.json")
    with open(path, "w", encoding="utf-8") as fh:
        # one run per line: a diff of two studies stays readable
        fh.write(_json_lines(report._jsonable(data)))
    written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser):
    """The ``channel`` options of ``python -m learnedmin.bench`` (an argument group)."""
    g = parser.add_argument_group(
        "channel study", "options of 'python -m learnedmin.bench channel' (also --out, default "
        f"{DEFAULT_OUT}; --methods, default all of the study's, or the preset's; --jobs; "
        "--budget; --no-plots; --quiet). An option given overrides the preset's value")
    g.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="a named study: " + "; ".join(
                       f"{name}: {_describe(preset)}" for name, preset in PRESETS.items()))
    g.add_argument("--paths", default=None, metavar="P,...",
                   help="numbers of paths (default 1,3,5)")
    g.add_argument("--snr", default=None, metavar="DB,...",
                   help="SNRs in dB, total path power per subcarrier (default 0,10,20,30)")
    g.add_argument("--trials", type=int, default=None, metavar="N",
                   help=f"random channels per (P, SNR) (default {StudyConfig.trials})")
    g.add_argument("--units", default=None, metavar="UNITS",
                   help="natural and/or scaled, comma-separated (default natural,scaled)")
    g.add_argument("--start-cells", default=None, metavar="CELLS,...",
                   help="largest delay error of the start in resolution cells, comma-separated "
                        "(default 0.25)")
    g.add_argument("--seed", type=int, default=StudyConfig.seed,
                   help=f"root seed of the instances (default {StudyConfig.seed})")
    g.add_argument("--rel-gtol", type=float, default=StudyConfig.rel_gtol, metavar="TOL",
                   help="gradient tolerance relative to max|grad c(x0)| for BFGS, L-BFGS-B and "
                        f"learned (default {StudyConfig.rel_gtol:g})")


#: Named studies of the command line (``--preset``): :class:`StudyConfig` fields and
#: ``methods``; options given on the command line override them.
PRESETS = {
    "global": dict(units=("scaled",), paths=(3, 5), snr_db=(10.0, 30.0),
                   start_cells=(GLOBAL_NARROW, GLOBAL_MID, GLOBAL_WIDE, 2.0), trials=50,
                   methods=GLOBAL_METHODS),
}


def _describe(preset):
    def text(v):
        return ",".join(f"{x:g}" if _is_real(x) else str(x) for x in v) \
            if isinstance(v, tuple) else str(v)

    return " ".join(f"{k}={text(v)}" for k, v in preset.items())


def _tuple(parser, option, text, cast):
    try:
        return tuple(cast(t) for t in text.split(",") if t.strip())
    except ValueError:
        parser.error(f"{option}: expected comma-separated {cast.__name__}s; got {text!r}")


def _methods(parser, text, default):
    """The methods of ``--methods``: a comma-separated list, or one starting with '+' added to
    ``default``."""
    if text is None:
        return tuple(default)
    names = [t.strip() for t in text.lstrip("+").split(",") if t.strip()]
    if text.startswith("+"):
        names = list(default) + [m for m in names if m not in default]
    if not names:
        parser.error("--methods: no method given")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown channel-study method {unknown[0]!r}; known: "
                     f"{', '.join(METHODS)}")
    if len(set(names)) != len(names):
        parser.error("--methods: a method is named twice")
    return tuple(names)


def _study_options(parser, args):
    """``(StudyConfig keyword arguments, methods)``: the defaults, the preset's values, then the
    options given."""
    preset = dict(PRESETS[args.preset]) if getattr(args, "preset", None) else {}
    methods = _methods(parser, getattr(args, "methods", None), preset.pop("methods", METHODS))
    given = {"paths": (args.paths, "--paths", int), "snr_db": (args.snr, "--snr", float),
             "units": (args.units, "--units", str.strip),
             "start_cells": (args.start_cells, "--start-cells", float)}
    options = dict(preset)
    for field, (text, option, cast) in given.items():
        if text is not None:
            options[field] = _tuple(parser, option, text, cast)
    if args.trials is not None:
        options["trials"] = args.trials
    options.update(seed=args.seed, budget=args.budget, rel_gtol=args.rel_gtol)
    return options, methods


def main(parser, args):
    """Run the study from parsed command-line ``args``; the exit status."""
    from . import report

    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1; got {args.jobs}")
    options, methods = _study_options(parser, args)
    try:
        config = StudyConfig(**options)
    except ValueError as exc:
        parser.error(str(exc))
    progress = None if args.quiet else (
        lambda done, total, label: print(f"[{done}/{total}] {label}", file=sys.stderr,
                                         flush=True))
    results = run_study(config, jobs=args.jobs, progress=progress, methods=methods)
    results["env"] = report.environment()
    results["targets"] = check_targets(results["summary"], results["methods"])
    command = report.command_line()
    out = args.out or DEFAULT_OUT
    written = write_outputs(results, out, command, plots=not args.no_plots)
    print(markdown(results, command))
    print("wrote " + ", ".join(written), file=sys.stderr)
    return 0
