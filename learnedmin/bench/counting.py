"""Counted, timed access to a problem: the benchmark's only source of call counts.

Methods report ``nfev``/``njev`` themselves, and not always truthfully (SciPy counts a memoized
``fun`` once, a custom method may count nothing). The benchmark hands every method these wrappers
instead and counts the calls that really reach the problem. Each wrapper also times itself, so the
time a method spends *outside* the problem (its overhead) is ``wall - time_in_calls``.

Two cost models. A *call* is one call of ``fun``, ``jac`` or ``hessp`` (what a user with separate
callables pays). An *evaluation* is one point at which ``f`` and ``g`` were computed together:
one call of :meth:`Counter.fun_and_jac`, the ``(f, g)`` function a user passes with
``jac=True`` (a Hessian-vector product is one evaluation as well). A counter made with
``paired=True`` hands methods that function, and its trace and budget count evaluations.

Gradient-only methods (heavy ball, Chebyshev steps) never evaluate ``f``; to draw their
convergence curves the counter *observes* ``f`` at every gradient point that was not just
evaluated. Observations are neither counted nor included in any reported time.
"""

import time

import numpy as np

__all__ = ["BudgetExhausted", "Counter"]


class BudgetExhausted(Exception):
    """Raised by a counted call once the run's budget of calls is spent."""


class Counter:
    """Wraps ``fun``/``jac``/``hessp`` of a problem; counts calls, times them, tracks the best ``f``.

    Parameters
    ----------
    problem : Problem
        Anything with ``fun``, ``jac`` and (optionally) ``hessp`` attributes.
    budget : int or None
        Maximum cost of a run: counted calls (``f``, gradient and Hessian-vector products
        together), or with ``paired`` evaluations; the call after the last allowed one raises
        :class:`BudgetExhausted`.
    observe : bool
        Evaluate ``f`` (uncounted, untimed) at gradient points where it is not known, so that the
        trace of gradient-only methods is complete.
    paired : bool
        Count in evaluations: :meth:`callables` gives ``(fun_and_jac, True)``, the way a user
        whose function returns ``(f, g)`` calls :func:`scipy.optimize.minimize`.

    Attributes
    ----------
    nfev, njev, nhev : int
        Calls that reached ``fun``, ``jac`` and ``hessp``.
    nfgev : int
        Calls of :meth:`fun_and_jac`: points where ``f`` and ``g`` were computed together.
    time_in_calls : float
        Seconds spent inside the counted wrappers (the problem's own cost plus bookkeeping).
    time_observing : float
        Seconds spent on uncounted observations (to be removed from a method's wall time).
    trace : list of (int, float)
        ``(cost so far, f)`` each time a new lowest finite ``f`` is seen; the cost is
        :attr:`calls`, or with ``paired`` :attr:`evaluations`.

    Examples
    --------
    >>> from learnedmin.problems.classic import rosenbrock
    >>> c = Counter(rosenbrock())
    >>> _ = c.fun(c.problem.x0.copy()); _ = c.jac(c.problem.x0.copy())
    >>> c.nfev, c.njev, c.calls, c.trace
    (1, 1, 2, [(1, 24.199999999999996)])

    With ``paired=True`` every call of ``fun_and_jac`` is one evaluation:

    >>> c = Counter(rosenbrock(), paired=True)
    >>> fun, jac = c.callables()
    >>> f, g = fun(c.problem.x0.copy())
    >>> jac, c.nfgev, c.evaluations, c.calls
    (True, 1, 1, 0)
    """

    def __init__(self, problem, budget=None, observe=True, paired=False):
        self.problem = problem
        self.budget = budget
        self.observe = observe
        self.paired = bool(paired)
        self.nfev = self.njev = self.nhev = self.nfgev = 0
        self.time_in_calls = 0.0
        self.time_observing = 0.0
        self.trace = []
        self.best_f = np.inf
        self._last_x = None

    @property
    def calls(self):
        """All counted calls: ``nfev + njev + nhev``."""
        return self.nfev + self.njev + self.nhev

    @property
    def evaluations(self):
        """Points where ``f`` and ``g`` were computed together, plus Hessian-vector products:
        ``nfgev + nhev``."""
        return self.nfgev + self.nhev

    @property
    def cost(self):
        """What the budget and the trace count: :attr:`evaluations` if ``paired``, else
        :attr:`calls`."""
        return self.evaluations if self.paired else self.calls

    def callables(self):
        """``(fun, jac)`` for :func:`scipy.optimize.minimize`: the counted ``fun`` and ``jac``,
        or with ``paired`` the counted ``fun_and_jac`` and ``True``."""
        return (self.fun_and_jac, True) if self.paired else (self.fun, self.jac)

    def _spend(self):
        if self.budget is not None and self.cost >= self.budget:
            unit = "evaluations" if self.paired else "calls"
            raise BudgetExhausted(f"budget of {self.budget} {unit} exhausted")

    def _record(self, f):
        if np.isfinite(f) and f < self.best_f:
            self.best_f = f
            self.trace.append((self.cost, f))

    def fun(self, x, *args):
        """Counted ``problem.fun(x)``."""
        self._spend()
        t0 = time.perf_counter()
        self.nfev += 1
        x = np.array(x, dtype=np.float64)
        # Overflow far from the solution is a value (inf), which the benchmark flags, not an error.
        with np.errstate(all="ignore"):
            f = float(self.problem.fun(x.copy(), *args))
        self._record(f)
        self._last_x = x
        self.time_in_calls += time.perf_counter() - t0
        return f

    def jac(self, x, *args):
        """Counted ``problem.jac(x)``; may observe ``f`` at ``x`` (uncounted)."""
        self._spend()
        t0 = time.perf_counter()
        self.njev += 1
        x = np.array(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            g = np.asarray(self.problem.jac(x.copy(), *args), dtype=np.float64)
        t1 = time.perf_counter()
        self.time_in_calls += t1 - t0
        if self.observe and not (self._last_x is not None and np.array_equal(x, self._last_x)):
            with np.errstate(all="ignore"):
                self._record(float(self.problem.fun(x.copy(), *args)))
            self._last_x = x
            self.time_observing += time.perf_counter() - t1
        return g

    def fun_and_jac(self, x, *args):
        """Counted ``(problem.fun(x), problem.jac(x))``: one evaluation."""
        self._spend()
        t0 = time.perf_counter()
        self.nfgev += 1
        x = np.array(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            f = float(self.problem.fun(x.copy(), *args))
            g = np.asarray(self.problem.jac(x.copy(), *args), dtype=np.float64)
        self._record(f)
        self._last_x = x
        self.time_in_calls += time.perf_counter() - t0
        return f, g

    def hessp(self, x, v, *args):
        """Counted ``problem.hessp(x, v)`` (one call, and one evaluation, per product)."""
        self._spend()
        t0 = time.perf_counter()
        self.nhev += 1
        with np.errstate(all="ignore"):
            hv = np.asarray(self.problem.hessp(np.array(x, dtype=np.float64),
                                               np.array(v, dtype=np.float64), *args),
                            dtype=np.float64)
        self.time_in_calls += time.perf_counter() - t0
        return hv
