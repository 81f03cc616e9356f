"""The phases of a run and its budget, around the one iteration of :mod:`learnedmin.step`.

* **Global phase** (option ``global_steps``): the first iterations take the policy's step as it
  is (:func:`global_search`), so that a run can leave the basin it starts in; at the hand-over
  (:func:`hand_over`) the state moves to the best point accepted, and the classical rule runs
  from there behind the safeguard.
* **Restart** (:func:`restart_above_best`): a row that meets the gradient test clearly above a
  point it accepted goes on from that point.
* **Budget** (option ``budget``): :class:`Meter` counts the evaluations of an iteration per row
  and refuses those beyond the budget.

All are written against the array API on the batched :class:`~learnedmin.state.State`, like the
iteration itself.
"""

from . import _status as st
from ._xp import any_true, col, dot, select
from .requests import Request
from .safeguard import SHRINK_NONFINITE
from .search import Search, failed_search
from .state import climbed

__all__ = ["Meter", "global_steps", "global_search", "hand_over", "restart_above_best"]


def global_steps(opts):
    """The length of the global phase (option ``global_steps``; ``None`` is no global phase)."""
    return opts.get("global_steps") or 0


def restart_above_best(state, setup, xp):
    """Rows that meet the gradient test at a point above one they accepted before (the
    nonmonotone search, or a global phase, may climb into a higher basin) go on from that
    better point instead of stopping, with the nonmonotone reference restarted there; every
    point accepted from then on lies below it, so a row restarts at most once for each time it
    climbs. A run therefore ends at a stationary point no higher than any point it accepted."""
    rows = (state.status == st.RUNNING) & climbed(state.f, state.f_best, xp)
    if not any_true(rows):  # the common case: no row above its best, no gradient test here
        return state
    pg = setup.projected_gradient(state.x, state.g)
    rows = rows & (xp.max(xp.abs(pg), axis=-1) <= state.gtol)
    if not any_true(rows):
        return state
    return state._replace(x=select(rows, state.x_best, state.x, xp),
                          f=xp.where(rows, state.f_best, state.f),
                          g=select(rows, state.g_best, state.g, xp),
                          window=tuple(xp.where(rows, state.f_best, w) for w in state.window))


def hand_over(state):
    """The state the local phase starts from: the best point the global phase accepted (its
    last point may lie higher), with the nonmonotone reference restarted there."""
    return state._replace(x=state.x_best, f=state.f_best, g=state.g_best,
                          window=(state.f_best,))


def global_search(state, setup, p, live, xp):
    """The global phase's step (a generator): the network's step ``x + p`` is taken whatever
    its value, so that a run can leave the basin it starts in; only a point where ``f`` or ``g``
    is not finite is refused, for one ``SHRINK_NONFINITE`` times as long (at most ``maxls``
    trials). A row that finds no finite point stays where it is (``alpha = 0``). Returns the
    searches as :func:`_safeguard` does, the proposal's taken on every live row."""
    x, f, g = state.x, state.f, state.g
    alpha = xp.ones_like(f)
    found = xp.zeros_like(live)
    x_acc, f_acc, g_acc = x, f, g
    for _ in range(setup.opts["maxls"]):
        rows = live & ~found
        if not any_true(rows):
            break
        x_new = setup.project(x + col(alpha) * p)
        rows = rows & xp.all(xp.isfinite(x_new), axis=-1)
        if any_true(rows):
            f_new, g_new = yield Request("fg", x_new, rows)
            good = rows & xp.isfinite(f_new) & xp.all(xp.isfinite(g_new), axis=-1)
            x_acc = select(good, x_new, x_acc, xp)
            f_acc = xp.where(good, f_new, f_acc)
            g_acc = select(good, g_new, g_acc, xp)
            found = found | good
        alpha = xp.where(found, alpha, SHRINK_NONFINITE * alpha)
    alpha = xp.where(found, alpha, 0.0)
    no = xp.zeros_like(live)
    taken = Search(live, x_acc, f_acc, g_acc, alpha, dot(g, x_acc - x, xp), no, no)
    none = failed_search(x, f, g, xp.ones_like(f))
    return taken, none, none, no


class Meter:
    """Counts the evaluations of one iteration per row and refuses those beyond the budget."""

    def __init__(self, spent, budget, xp):
        self.spent, self.budget, self.xp = spent, budget, xp

    def run(self, generator):
        """``generator``'s requests passed on (a generator), with ``"f"``/``"fg"`` rows over
        the budget taken out and answered with NaN; returns ``generator``'s value."""
        xp, answer = self.xp, None
        try:
            while True:
                request = generator.send(answer)
                if request.kind not in ("f", "fg"):
                    answer = yield request
                    continue
                allowed = request.rows & (self.spent < self.budget)
                self.spent = self.spent + xp.astype(allowed, self.spent.dtype)
                refused = request.rows & ~allowed
                if not any_true(refused):
                    answer = yield request
                    continue
                answer = (yield request._replace(rows=allowed)) if any_true(allowed) else None
                answer = self._refuse(request, refused, answer)
        except StopIteration as done:
            return done.value

    def _refuse(self, request, refused, answer):
        xp, x = self.xp, request.x
        nan_f = xp.full(x.shape[:-1], float("nan"), dtype=x.dtype, device=x.device)
        nan_g = xp.full(x.shape, float("nan"), dtype=x.dtype, device=x.device)
        if request.kind == "f":
            return nan_f if answer is None else xp.where(refused, nan_f, answer)
        if answer is None:
            return nan_f, nan_g
        f, g = answer
        return xp.where(refused, nan_f, f), select(refused, nan_g, g, xp)
