"""The search: how far to go along a direction, for a batch of rows at once.

:func:`line_search` is the one line search of learnedmin. It is a generator over
:class:`~learnedmin.requests.Request` objects, written against the array API, so the SciPy
method (numpy, one row), :func:`learnedmin.minimize_batch` (numpy or torch, many rows) and the
training unroll (torch, differentiable) all run it. Every row gets exactly the trials it would
get alone: rows whose search has ended are masked and never evaluated again.

Per row: trial steps along ``d`` from ``alpha`` (projected onto the bounds), accepted by the
nonmonotone Armijo rule (:func:`~learnedmin.safeguard.armijo`) with a finite gradient, or, where
rounding hides the decrease, by the approximate rule of Hager & Zhang
(:func:`~learnedmin.safeguard.approximately_acceptable`); a rejected trial is followed by a
shorter one (quadratic interpolation, or a secant step on the slopes where function values are
at the rounding level). A first trial that is accepted is refined (the minimiser of the quadratic
model through its value, :func:`~learnedmin.safeguard.refinement`) and then lengthened while it
is too short (the weak Wolfe test, :func:`~learnedmin.safeguard.too_short`). A trial whose
predicted decrease falls short of ``-slope_floor`` ends the row's search unsuccessfully without
evaluating ``f`` (the progress test for proposals).

A trial at which ``f`` (or, for an accepted value, ``g``) is not finite is followed by a trial
``SHRINK_NONFINITE`` times as long, and marks the row's line as *blocked*: the function is not
defined a little beyond the step taken, which the iteration reads as a barrier there (see
:func:`learnedmin.step.step`).

Differentiation (torch): every decision is a mask; the accepted step is a smooth function of the
trial values between decisions, and is differentiated as such unless ``step_gradient`` is False.
"""

from typing import NamedTuple

from ._xp import any_true, array_namespace, col, dot, select, stop_gradient
from .requests import Request
from .safeguard import (
    APPROX_EPS,
    EXPAND_MAX,
    MAX_EXPANSIONS,
    REFINE_BAND,
    SHRINK_NONFINITE,
    approximately_acceptable,
    armijo,
    expand_step,
    next_step,
    refinement,
    secant_step,
    too_short,
)

__all__ = ["Search", "SearchRules", "line_search", "failed_search"]


class SearchRules(NamedTuple):
    """The settings of the search (from the solver options)."""

    c1: float = 1e-4
    refine: bool = True
    band: float = REFINE_BAND
    step_gradient: bool = True  # differentiate through the accepted step length (torch)
    paired: bool = False  # f and g come together: every trial asks for both ("fg")
    expand_max: float = EXPAND_MAX  # longest lengthening of an accepted trial, per expansion


class Search(NamedTuple):
    """Outcome per row. Where ``ok`` is false, ``x``, ``f``, ``g`` are the start's and ``alpha``
    is the last trial step (a later search along the same line may resume from it)."""

    ok: object
    x: object
    f: object
    g: object
    alpha: object
    slope: object
    approximate: object  # accepted by the rounding-level rule
    blocked: object  # a longer trial along the line had a non-finite value


def failed_search(x, f, g, alpha):
    """A search in which no row found a step."""
    xp = array_namespace(x)
    no = xp.zeros(f.shape, dtype=xp.bool, device=x.device)
    return Search(no, x, f, g, alpha, xp.zeros_like(f), no, no)


def _finite_rows(v, xp):
    return xp.all(xp.isfinite(v), axis=-1)


def line_search(x, f, g, d, f_ref, alpha, tries, rows, f_start, project, rules,
                slope_floor=None):
    """Backtracking line search along ``d`` on ``rows`` (a generator; see the module docs).

    Parameters
    ----------
    x, f, g, d : arrays (B, n), (B,), (B, n), (B, n)
        Current points, values, gradients and search directions.
    f_ref : array (B,)
        Nonmonotone reference values.
    alpha : array (B,)
        First trial step per row.
    tries : array (B,) of int
        Trial steps allowed per row.
    rows : bool array (B,)
        Rows that search.
    f_start : array (B,)
        ``f(x0)``: an approximately accepted step never ends above it.
    project : callable
        Projection onto the bounds (the identity without bounds).
    rules : SearchRules
    slope_floor : array (B,), optional
        The progress test (default ``0``).

    Returns
    -------
    Search
    """
    xp = array_namespace(x)
    floor = xp.zeros_like(f) if slope_floor is None else slope_floor
    nan = float("nan")
    no = xp.zeros(f.shape, dtype=xp.bool, device=x.device)
    ok, stopped, first, approx, blocked = no, no, no, no, no
    x_acc, f_acc, g_acc, slope_acc = x, f, g, xp.zeros_like(f)
    for trial in range(int(xp.max(tries)) if any_true(rows) else 0):
        live = rows & ~ok & ~stopped & (trial < tries)
        if not any_true(live):
            break
        step_alpha = alpha if rules.step_gradient else stop_gradient(alpha)
        x_new = project(x + col(step_alpha) * d)
        slope = dot(g, x_new - x, xp)
        stop = live & (slope > floor)
        stopped = stopped | stop
        live = live & ~stop
        usable = live & (slope < 0) & _finite_rows(x_new, xp)
        f_new, g_new = xp.full_like(f, nan), None
        if any_true(usable):
            f_new, g_new = yield from _evaluate(x_new, usable, rules)
            f_new = xp.where(usable, f_new, nan)
        by_armijo = live & armijo(f_new, f_ref, slope, rules.c1)
        if rules.refine and trial == 0 and any_true(by_armijo):
            alpha, x_new, slope, f_new, g_new, beyond = yield from _refine(
                x, f, g, d, f_ref, floor, by_armijo, alpha, x_new, slope, f_new, g_new, project,
                rules)
            blocked = blocked | beyond
        accept, near, secant, g_new, slope_new = yield from _decide(
            x, f, f_start, live, usable, by_armijo, x_new, f_new, g_new, slope)
        f_new = xp.where(by_armijo & ~accept, nan, f_new)  # a non-finite gradient rejects
        blocked = blocked | (live & (slope < 0) & ~xp.isfinite(f_new))
        approx = approx | near
        if g_new is not None:
            g_acc = select(accept, g_new, g_acc, xp)
        if trial == 0:
            first = by_armijo & accept
        ok = ok | accept
        x_acc = select(accept, x_new, x_acc, xp)
        f_acc = xp.where(accept, f_new, f_acc)
        slope_acc = xp.where(accept, slope, slope_acc)
        retry = live & ~accept
        if any_true(retry):
            alpha = xp.where(retry, _shorter(alpha, f, slope, f_new, secant, slope_new), alpha)
    found = Search(ok, x_acc, f_acc, g_acc, alpha, slope_acc, approx, blocked)
    if any_true(first):
        found = yield from _expand(x, g, d, f_ref, first, found, project, rules)
    return found


def _shorter(alpha, f, slope, f_new, secant, slope_new):
    """The next trial step after a rejected one: quadratic interpolation, or a secant step on
    the slopes where function values are at the rounding level."""
    xp = array_namespace(alpha)
    # where f_new is not finite the next trial is SHRINK_NONFINITE times as long; feeding
    # next_step f instead keeps NaN out of a backward pass through the other branch
    finite = xp.isfinite(f_new)
    shorter = xp.where(finite, next_step(alpha, f, slope, xp.where(finite, f_new, f)),
                       SHRINK_NONFINITE * alpha)
    if any_true(secant):
        shorter = xp.where(secant, secant_step(alpha, slope, slope_new), shorter)
    return shorter


def _decide(x, f, f_start, live, usable, by_armijo, x_new, f_new, g_new, slope):
    """Acceptance of the trials (a generator): ``(accept, near, secant, g_new, slope_new)``.

    A trial that passes Armijo is accepted when its gradient is finite; one whose value is
    within rounding of ``f`` (``APPROX_EPS``) is judged by its gradient (the approximate rule),
    and a trial rejected there is followed by a secant step. ``g_new`` is the trials' gradient
    where it was asked for (zeros elsewhere), ``None`` when no row needed it.
    """
    xp = array_namespace(x)
    close = live & ~by_armijo & usable & (xp.abs(f_new - f) <= APPROX_EPS * xp.abs(f))
    no = xp.zeros_like(live)
    need_g = by_armijo | close
    if not any_true(need_g):
        return no, no, no, g_new, slope
    if g_new is None:
        g_new = yield Request("g", x_new, need_g, f=f_new)
    finite = need_g & _finite_rows(g_new, xp)
    # rows without a finite gradient take no part below; zeros keep their NaN out of a backward
    # pass through the slope
    g_new = select(finite, g_new, xp.zeros_like(g_new), xp)
    slope_new = xp.where(finite, dot(g_new, x_new - x, xp), slope)
    near = close & finite
    if any_true(near):
        near = near & approximately_acceptable(f_new, f, f_start, slope, slope_new)
    return (by_armijo & finite) | near, near, close & finite & ~near, g_new, slope_new


def _evaluate(x, rows, rules):
    """``(f, g)`` at ``x`` on ``rows`` (a generator): ``g`` is ``None`` unless f and g come
    together, when asking for ``f`` alone would cost as much as both."""
    if rules.paired:
        f, g = yield Request("fg", x, rows)
        return f, g
    return (yield Request("f", x, rows)), None


def _refine(x, f, g, d, f_ref, floor, rows, alpha, x_new, slope, f_new, g_new, project, rules):
    """On ``rows`` (accepted at their first trial): where the quadratic model's minimiser differs
    enough from the trial, evaluate it and keep the lower of the two acceptable points. Returns
    ``(alpha, x_new, slope, f_new, g_new, blocked)`` with the refined rows replaced (``g_new`` is
    ``None`` unless f and g come together; ``blocked``: a longer refined trial was not finite)."""
    xp = array_namespace(x)
    no = xp.zeros_like(rows)
    t, wanted = refinement(f, slope, f_new, rules.band)
    rows = rows & wanted
    if not any_true(rows):
        return alpha, x_new, slope, f_new, g_new, no
    alpha_t = t * alpha
    step_alpha = alpha_t if rules.step_gradient else stop_gradient(alpha_t)
    x_t = project(x + col(step_alpha) * d)
    slope_t = dot(g, x_t - x, xp)
    rows = rows & (slope_t < 0) & (slope_t <= floor) & _finite_rows(x_t, xp)
    if not any_true(rows):
        return alpha, x_new, slope, f_new, g_new, no
    f_t, g_t = yield from _evaluate(x_t, rows, rules)
    better = rows & armijo(f_t, f_ref, slope_t, rules.c1) & (f_t < f_new)
    if g_new is not None:
        g_new = select(better, g_t, g_new, xp)
    beyond = rows & (t > 1.0) & ~xp.isfinite(f_t)
    return (xp.where(better, alpha_t, alpha), select(better, x_t, x_new, xp),
            xp.where(better, slope_t, slope), xp.where(better, f_t, f_new), g_new, beyond)


def _expand(x, g, d, f_ref, rows, found, project, rules):
    """On ``rows`` (accepted at their first trial): lengthen a step that still descends steeply at
    its end (weak Wolfe test) while the longer trial passes the same acceptance rule."""
    xp = array_namespace(x)
    for _ in range(MAX_EXPANSIONS):
        slope_end = dot(found.g, found.x - x, xp)
        rows = rows & too_short(found.slope, slope_end)
        if not any_true(rows):
            break
        alpha = expand_step(found.alpha, found.slope, slope_end, rules.expand_max)
        step_alpha = alpha if rules.step_gradient else stop_gradient(alpha)
        x_try = project(x + col(step_alpha) * d)
        slope = dot(g, x_try - x, xp)
        rows = rows & (slope < 0) & _finite_rows(x_try, xp)
        if not any_true(rows):
            break
        f_try, g_try = yield from _evaluate(x_try, rows, rules)
        found = found._replace(blocked=found.blocked | (rows & ~xp.isfinite(f_try)))
        rows = rows & armijo(f_try, f_ref, slope, rules.c1)
        if not any_true(rows):
            break
        if g_try is None:
            g_try = yield Request("g", x_try, rows, f=f_try)
        finite = _finite_rows(g_try, xp)
        found = found._replace(blocked=found.blocked | (rows & ~finite))
        rows = rows & finite
        found = Search(found.ok, select(rows, x_try, found.x, xp), xp.where(rows, f_try, found.f),
                       select(rows, g_try, found.g, xp), xp.where(rows, alpha, found.alpha),
                       xp.where(rows, slope, found.slope), found.approximate, found.blocked)
    return found
