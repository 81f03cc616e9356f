"""One iteration, one implementation: ``init`` and ``step`` over an immutable, batched state.

Every driver runs this code: the SciPy method (:func:`learnedmin.loop.run`, numpy, one row),
:func:`learnedmin.minimize_batch` (numpy or torch, many rows) and the training unroll
(:mod:`learnedmin.training.unroll`, torch, differentiable in the network). One iteration
(DESIGN section 2)::

    D_k, valid  = candidates(...)                 # directions.py
    s_k         = statistics(g_k, D_k, ...)       # statistics.py
    a_k, h_k    = policy(s_k, a_{k-1}, valid, h)  # the network (or fixed weights)
    p_k         = sum_i a_ki D_ki
    x_{k+1}     = safeguarded step along p_k      # search.py: proposal, fallback, reset

The safeguard tries the proposal first (``learned_maxls`` trial steps, with the progress test),
then the classical direction (``maxls`` trials: the second-order direction, or the scaled
gradient where that is not a descent direction), then, after resetting the quasi-Newton memory
and the network state, the scaled negative gradient. A row whose three searches fail stops with
status 2. A stall watch hands the iteration to the classical rule for ``stall_window`` iterations
when the network's steps do not halve the gradient norm in as many. A step cut short because
``f`` was not finite further along its line teaches the quasi-Newton memory a barrier there
(:func:`~learnedmin.directions.barrier_pair`), so that the next directions turn along the region instead of into it.

``init`` and ``step`` are generators: they yield :class:`~learnedmin.requests.Request` objects
(points to evaluate) and are sent the answers; they never call a user's function. Both are
written against the array API; rows are independent and a row that has stopped is never
evaluated again. Nothing is updated in place.
"""

from typing import NamedTuple

import numpy as np

from . import _status as st
from ._xp import any_true, array_namespace, col, dot, norm, safe_div, select, stop_gradient
from .directions import (
    N_SLOTS,
    SLOTS,
    barrier_pair,
    candidates,
    jacobi_diagonal,
    memory_push,
    memory_reset,
    newton_cg_products,
    quasi_newton_direction,
)
from .phases import Meter, global_search, global_steps, hand_over, restart_above_best
from .requests import Request
from .safeguard import REFINE_MAX, is_descent, reference_value
from .search import failed_search, line_search
from .state import Setup, State, StepInfo, _full, best_point, init
from .statistics import History, statistics

__all__ = ["Setup", "State", "StepInfo", "init", "step", "best_point", "global_steps", "LEARNED",
           "LEARNED_BACKTRACKED", "FALLBACK", "RESET", "CLASSICAL", "STALL_FACTOR", "SLOT"]

# Step sources, per row and iteration (``res.trace["source"]``).
LEARNED, LEARNED_BACKTRACKED, FALLBACK, RESET, CLASSICAL = 0, 1, 2, 3, 4
# Slot indices by name, in the order written into every weights archive.
SLOT = {name: i for i, name in enumerate(SLOTS)}
# The network's steps must reduce the gradient norm by this factor every `stall_window` iterations.
STALL_FACTOR = 0.5


def _stop_tests(state, setup, xp):
    """``(status, live, pg)``: the gradient and iteration-limit tests before an iteration."""
    opts = setup.opts
    running = state.status == st.RUNNING
    pg = setup.projected_gradient(state.x, state.g)
    converged = running & (xp.max(xp.abs(pg), axis=-1) <= state.gtol)
    maxiter = opts["maxiter"] if opts["maxiter"] is not None else 200 * state.x.shape[-1]
    limit = running & ~converged & (state.k >= maxiter)
    status = xp.where(converged, st.SUCCESS, state.status)
    status = xp.where(limit, st.MAXITER, status)
    if opts.get("budget") is not None:
        spent = running & ~converged & ~limit & (state.spent >= opts["budget"])
        status = xp.where(spent, st.BUDGET, status)
        limit = limit | spent
    return status, running & ~converged & ~limit, pg


def _second_order(state, setup, gr, free, live, xp):
    """The second-order direction (a generator): Newton-CG on ``"hessp"`` requests with a
    Hessian, else the quasi-Newton direction. Returns ``(direction, diagonal)``."""
    opts, n = setup.opts, gr.shape[-1]
    if not setup.has_hessian:
        return free(quasi_newton_direction(gr, state.memory)), state.diagonal
    diagonal, preconditioner = state.diagonal, None
    given = yield Request("hess", state.x, live)
    if opts["precondition"]:
        if given is None and diagonal is None and state.k == 0:
            # hessp only: the diagonal at x0 from products, kept for the whole run
            diagonal = yield from _diagonal(state.x, gr, live, opts["diagonal_max"], xp)
        preconditioner = jacobi_diagonal(given if given is not None else diagonal)
    solve = newton_cg_products(gr, state.g0_norm, opts["cg_maxiter"] or 20 * n,
                               diagonal=preconditioner, rows=live)
    try:
        p, rows = next(solve)
        while True:
            hp = yield Request("hessp", state.x, rows, v=free(p))
            p, rows = solve.send(free(hp))
    except StopIteration as done:
        return done.value[0], diagonal


# Above `diagonal_max` variables the Hessian diagonal at x0 is estimated from this many products.
DIAGONAL_PROBES = 32


def _diagonal(x, like, live, exact_max, xp):
    """The Hessian's diagonal at ``x`` from products (a generator): exactly, from ``n`` products
    with the unit vectors, where ``n <= exact_max``; else Hutchinson's estimate
    ``mean(v * H v)`` over ``DIAGONAL_PROBES`` random +-1 vectors (Bekas, Kokiopoulou & Saad
    2007), drawn from a fixed seed so that runs are reproducible."""
    n = like.shape[-1]
    if n <= exact_max:
        eye = xp.eye(n, dtype=like.dtype, device=like.device)
        columns = []
        for i in range(n):
            e_i = xp.zeros_like(like) + eye[i, :]
            columns.append((yield Request("hessp", x, live, v=e_i))[..., i])
        return xp.stack(columns, axis=-1)
    signs = np.random.default_rng(0).choice((-1.0, 1.0), size=(DIAGONAL_PROBES, n))
    total = xp.zeros_like(like)
    for probe in signs:
        v = xp.zeros_like(like) + xp.asarray(probe, dtype=like.dtype, device=like.device)
        total = total + v * (yield Request("hessp", x, live, v=v))
    return total / DIAGONAL_PROBES


def _stall_watch(state, setup, gnorm, live, xp):
    """``(progress_ref, progress_k, classical_until, stall)``: the network's steps must halve
    the gradient norm every ``stall_window`` iterations; if they do not, the classical rule runs
    alone for as long, from a reset hidden state."""
    k, window = float(state.k), float(setup.opts["stall_window"])
    gnorm = stop_gradient(gnorm)
    improved = live & (gnorm <= STALL_FACTOR * state.progress_ref)
    progress_ref = xp.where(improved, gnorm, state.progress_ref)
    progress_k = xp.where(improved, _full(xp, gnorm, k), state.progress_k)
    stall = live & (k >= state.classical_until) & (k - progress_k >= window)
    classical_until = xp.where(stall, _full(xp, gnorm, k + window), state.classical_until)
    progress_ref = xp.where(stall, gnorm, progress_ref)
    progress_k = xp.where(stall, classical_until, progress_k)
    return progress_ref, progress_k, classical_until, stall


def _propose(state, setup, stats, valid_f, h, asked, classical, one_hot, xp):
    """``(a, h_net)``: the policy's weights on the ``asked`` rows, the classical ones (the
    fallback slot) on ``classical`` rows. Rows not asked see zeros, so no stale value of a
    finished row reaches the network."""
    a = one_hot
    h_net = h
    if any_true(asked):
        a_net, h_net = setup.policy(select(asked, stats, xp.zeros_like(stats), xp),
                                    select(asked, state.a_prev, xp.zeros_like(state.a_prev), xp),
                                    valid_f, select(asked, h, xp.zeros_like(h), xp))
        a = select(asked, a_net, a, xp)
    return select(classical, one_hot, a, xp), h_net


def _safeguard(state, setup, gr, d, live, xp):
    """The three searches (a generator): the proposal, the classical direction, and the scaled
    gradient after a reset. Returns ``(learned, classical, reset, need_reset)``."""
    opts, rules, project = setup.opts, setup.rules(), setup.project
    if state.k == 0:  # the first trial of a run is a blind guess: lengthen it as far as needed
        rules = rules._replace(expand_max=REFINE_MAX)
    x, f, g, a, fallback, second_ok = state.x, state.f, state.g, d.weights, d.fallback, \
        d.second_ok
    p, proposal_ok, f_ref = d.proposal, d.proposal_ok, d.f_ref
    ones = xp.ones_like(f)
    maxls, learned_maxls = opts["maxls"], opts["learned_maxls"]
    # Progress test: an accepted proposal predicts at least `sufficient_progress` of the linear
    # decrease of the classical unit step. With the nonmonotone Armijo rule this makes every
    # learned step as good as a short classical one, which keeps the convergence guarantee of
    # the classical method (Grippo et al. 1986; compare the merit test of Safe-L2O, Heaton et
    # al. 2020).
    floor = opts["sufficient_progress"] * dot(gr, fallback, xp)
    tries = _full(xp, f, learned_maxls, xp.int64)
    learned = yield from line_search(x, f, g, p, f_ref, ones, tries, proposal_ok, state.f_start,
                                     project, rules, slope_floor=floor)
    need_fallback = live & ~learned.ok
    # A proposal that is a positive multiple of the fallback (the classical weights) has
    # already been searched along: keep backtracking where it stopped.
    g_slot, m_slot, s_slot = a[..., SLOT["gradient"]], a[..., SLOT["momentum"]], \
        a[..., SLOT["second_order"]]
    a_fallback = xp.where(second_ok, s_slot, g_slot)
    others_zero = xp.where(second_ok, (g_slot == 0) & (m_slot == 0), (m_slot == 0) & (s_slot == 0))
    resume = proposal_ok & (a_fallback > 0) & others_zero
    tries = xp.where(resume, _full(xp, tries, max(maxls - learned_maxls, 1)),
                     _full(xp, tries, maxls))
    classical = yield from line_search(x, f, g, fallback, f_ref,
                                       xp.where(resume, learned.alpha * a_fallback, ones), tries,
                                       need_fallback, state.f_start, project, rules)
    # resumed along the same line, the classical search is blocked where the proposal's was
    classical = classical._replace(blocked=classical.blocked | (resume & learned.blocked))
    need_reset = need_fallback & ~classical.ok
    reset = failed_search(x, f, g, ones)
    if any_true(need_reset):
        keep_length = safe_div(norm(state.s_prev, xp), norm(gr, xp), state.initial_scale, xp)
        scale = xp.where(state.has_prev, keep_length, state.initial_scale)
        reset = yield from line_search(x, f, g, -col(scale) * gr, f_ref, ones,
                                       _full(xp, tries, maxls), need_reset, state.f_start,
                                       project, rules)
    return learned, classical, reset, need_reset


def _combine(learned, classical, reset, xp):
    """The accepted search per row: proposal, else classical direction, else reset."""
    def pick(field):
        a, b, c = (getattr(s, field) for s in (learned, classical, reset))
        return select(learned.ok, a, select(classical.ok, b, c, xp), xp)

    return {field: pick(field)
            for field in ("x", "f", "g", "alpha", "slope", "approximate", "blocked")}


def _freeze(state, frozen, xp):
    """Rows in ``frozen`` enter the iteration detached from any autograd graph (torch)."""
    def cut(v):
        if v is None or isinstance(v, (int, float)):
            return v
        if isinstance(v, tuple):
            return type(v)(*map(cut, v)) if hasattr(v, "_fields") else tuple(map(cut, v))
        return select(frozen, stop_gradient(v), v, xp) if v.ndim else v

    return state._replace(**{name: cut(getattr(state, name)) for name in (
        "x", "f", "g", "memory", "s_prev", "y_prev", "a_prev", "h", "history", "x_best",
        "f_best", "g_best")})


class _Descent(NamedTuple):
    """The "which direction" half of one iteration (per row)."""

    directions: tuple
    valid: tuple
    stats: object
    weights: object        # the policy's weights (the classical ones where the rule runs alone)
    h_net: object          # the policy's next hidden state
    h0: object             # a reset hidden state
    proposal: object
    proposal_ok: object    # a descent direction the search tries first
    fallback: object       # the classical direction
    second_ok: object      # the fallback is the second-order direction (else the gradient)
    one_hot: object        # the classical weights of the fallback
    classical: object      # rows on which the stall watch runs the classical rule
    f_ref: object
    watch: tuple           # (progress_ref, progress_k, classical_until) for the next state


def _reduced(state, setup, xp):
    """``(g, free)``: the gradient with the variables held at a bound removed, and the map that
    removes them from any vector (the identity without bounds)."""
    if setup.lb is None:
        return state.g, (lambda v: v)
    x, g = state.x, state.g
    bound = ((x <= setup.lb) & (g > 0)) | ((x >= setup.ub) & (g < 0))

    def free(v):
        return xp.where(bound, 0.0, v)

    return free(g), free


def _descent(state, setup, gr, free, second, pg, live, xp):
    """Candidates, statistics, the policy's weights and the proposal (no requests)."""
    directions, valid = candidates(gr, state.s_prev, state.y_prev, state.has_prev, second,
                                   state.initial_scale)
    directions = tuple(free(d) for d in directions)
    valid_f = xp.astype(xp.stack(valid, axis=-1), gr.dtype)
    second_ok = is_descent(gr, second)  # the classical direction: second order, else gradient
    fallback = select(second_ok, directions[SLOT["second_order"]], directions[SLOT["gradient"]],
                      xp)
    eye = xp.eye(N_SLOTS, dtype=gr.dtype, device=gr.device)
    one_hot = xp.where(col(second_ok), eye[SLOT["second_order"], :], eye[SLOT["gradient"], :])
    progress_ref, progress_k, classical_until, stall = _stall_watch(
        state, setup, norm(pg, xp), live, xp)
    h0 = xp.zeros_like(state.h)
    h = select(stall, h0, state.h, xp)
    classical = live & (state.k < classical_until)
    if 0 < global_steps(setup.opts) <= state.k:  # the local phase after a global one
        classical = live
    budget = setup.opts.get("budget")
    stats = statistics(gr, directions, valid, state.history,
                       None if budget is None else state.spent / budget)
    a, h_net = _propose(state, setup, stats, valid_f, h, live & ~classical, classical, one_hot,
                        xp)
    p = sum(col(a[..., i]) * directions[i] for i in range(N_SLOTS))
    return _Descent(directions, valid, stats, a, h_net, h0, p,
                    live & ~classical & is_descent(gr, p), fallback, second_ok, one_hot,
                    classical, reference_value(state.window),
                    (progress_ref, progress_k, classical_until))


def step(state, setup):
    """One iteration for every running row (a generator over requests).

    Returns ``(state, info)``: the next state (rows that converge, reach ``maxiter`` or fail
    get their status and are frozen) and a :class:`StepInfo`, or ``None`` when no row ran.
    With the option ``budget``, every point at which ``f`` is asked for counts one evaluation
    (with its gradient); a row that has spent its budget is not evaluated again (its further
    trials read as non-finite values, which no search accepts) and stops with status
    ``BUDGET`` at the end of the iteration, at the last point it accepted.
    """
    budget = setup.opts.get("budget")
    if budget is None:
        return (yield from _step(state, setup))
    xp = array_namespace(state.x)
    meter = Meter(state.spent, float(budget), xp)
    new_state, info = yield from meter.run(_step(state, setup))
    failed = (new_state.status == st.PRECISION_LOSS) | (new_state.status == st.RUNNING)
    status = xp.where(failed & (meter.spent >= budget), st.BUDGET, new_state.status)
    return new_state._replace(spent=meter.spent, status=status), info


def _step(state, setup):
    """:func:`step` without the budget's accounting."""
    xp = array_namespace(state.x)
    if 0 < global_steps(setup.opts) == state.k:
        state = hand_over(state)
    state = restart_above_best(state, setup, xp)
    status, live, pg = _stop_tests(state, setup, xp)
    if not any_true(live):
        return state._replace(status=status), None
    if not bool(xp.all(live)):
        state = _freeze(state, ~live, xp)
    gr, free = _reduced(state, setup, xp)
    second, diagonal = yield from _second_order(state, setup, gr, free, live, xp)
    d = _descent(state, setup, gr, free, second, pg, live, xp)
    in_global = state.k < global_steps(setup.opts)
    if in_global:
        searches = yield from global_search(state, setup, d.proposal, live, xp)
    else:
        searches = yield from _safeguard(state, setup, gr, d, live, xp)
    return _advance(state, setup, status, live, gr, d, searches, diagonal, xp, in_global)


def _advance(state, setup, status, live, gr, d, searches, diagonal, xp, in_global=False):
    """``(next state, info)`` from the searches' outcome."""
    opts, x, f, g, k = setup.opts, state.x, state.f, state.g, state.k
    learned, fell_back, reset, need_reset = searches
    taken = learned.ok | fell_back.ok | reset.ok
    found = _combine(learned, fell_back, reset, xp)
    source = xp.where(fell_back.ok, xp.where(d.classical, CLASSICAL, FALLBACK),
                      _full(xp, status, RESET))
    source = xp.where(learned.ok, xp.where(learned.alpha != 1.0, LEARNED_BACKTRACKED, LEARNED),
                      source)
    alpha = xp.where(taken, found["alpha"], 0.0)
    # effective weights of the step taken, fed back to the network
    a_eff = xp.where(col(learned.ok), col(alpha) * d.weights,
                     xp.where(col(fell_back.ok), col(alpha) * d.one_hot, 0.0))
    counted = taken & ((source == FALLBACK) | (source == RESET))  # the stall watch's do not count
    overrides = xp.where(counted, state.overrides + 1, 0)
    too_many = overrides >= opts["reset_after"]
    overrides = xp.where(too_many, 0, overrides)
    h_new = select(need_reset | too_many | d.classical, d.h0, d.h_net, xp)
    x_new, f_new, g_new = found["x"], found["f"], found["g"]
    s, y = x_new - x, g_new - g
    memory = state.memory
    if not setup.has_hessian:
        memory = memory_push(memory_reset(memory, need_reset, state.initial_scale, xp), s,
                             barrier_pair(s, y, g_new, found["blocked"] & taken, xp),
                             opts["memory"])
    history = History(norm(gr, xp), f_new - f, found["slope"], dot(s, y, xp), alpha,
                      source >= FALLBACK, _full(xp, f, float(k + 1)))
    status = xp.where(live & ~taken, st.PRECISION_LOSS, status)
    xrtol = opts["xrtol"]
    if xrtol > 0 and not in_global:
        short = taken & (norm(s, xp) <= xrtol * (xrtol + norm(x, xp)))
        status = xp.where(short, st.SUCCESS, status)

    def keep(new, old):
        return select(taken, new, old, xp)

    better = taken & (f_new < state.f_best)

    new_state = State(
        x=keep(x_new, x), f=keep(f_new, f), g=keep(g_new, g),
        memory=memory,  # rows not taken have stopped for good: their memory is never read
        s_prev=keep(s, state.s_prev), y_prev=keep(y, state.y_prev),
        has_prev=state.has_prev | taken, a_prev=keep(a_eff, state.a_prev),
        h=keep(h_new, state.h),
        history=History(*(keep(new, old) for new, old in zip(history, state.history))),
        # the global phase may climb: the local phase's reference starts where it ends
        window=((keep(f_new, f),) if in_global
                else (state.window + (keep(f_new, f),))[-opts["nonmonotone"]:]),
        overrides=keep(overrides, state.overrides),
        progress_ref=d.watch[0], progress_k=d.watch[1], classical_until=d.watch[2],
        initial_scale=state.initial_scale, f_start=state.f_start, g0_norm=state.g0_norm,
        gtol=state.gtol, diagonal=diagonal, status=status,
        x_best=select(better, x_new, state.x_best, xp), f_best=xp.where(better, f_new, state.f_best),
        g_best=select(better, g_new, state.g_best, xp), spent=state.spent,
        nit=state.nit + xp.astype(taken, state.nit.dtype), k=k + 1,
    )
    info = StepInfo(taken, d.stats, d.weights, d.directions, d.proposal, source, alpha, d.f_ref,
                    found["slope"], a_eff, found["approximate"])
    return new_state, info
