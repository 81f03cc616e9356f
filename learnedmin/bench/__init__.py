"""The benchmark instrument: ``python -m learnedmin.bench`` (or ``learnedmin-bench``).

It runs :data:`learnedmin.learned`, its fixed-weight ablation, SciPy's minimizers and classical
baselines (heavy ball, Nesterov, Chebyshev steps) on named problem suites, counts the calls that
really reach each problem, and writes Markdown/JSON tables, Dolan-Moré performance profiles and
PNG plots. Modules, one per concept:

=============  =================================================================================
counting       counted, timed ``fun``/``jac``/``hessp`` and the best-so-far trace
suites         named problem suites, rebuilt from their names (fixed seeds)
data           logistic regression and MLP fits on generated data
methods        the methods compared, their options and applicability; ``module:callable``
baselines      heavy ball, Nesterov, Chebyshev steps as SciPy custom methods; their tuning
runner         one run per (problem, method); single-threaded worker processes
analysis       solved or not, calls to solve, performance profiles, summaries
report         Markdown and JSON
plots          PNG profiles and convergence curves (matplotlib, optional)
overhead       per-iteration overhead, wall-time ratio and peak memory at n = 10 and 10^6
headroom       how many of the classical rule's calls a better step rule could save (torch)
=============  =================================================================================

``import learnedmin`` never imports this subpackage.
"""

from .analysis import mark_solved, performance_profile, summarize
from .counting import BudgetExhausted, Counter
from .methods import Settings, resolve_method
from .runner import run_one, run_tasks

__all__ = ["Counter", "BudgetExhausted", "Settings", "resolve_method", "run_one", "run_tasks",
           "mark_solved", "performance_profile", "summarize"]
