"""The training unroll: a batched, masked torch copy of the iteration in :mod:`learnedmin.loop`.

The shipped network only ever runs inside :func:`learnedmin.loop.run`; if training unrolled a
different loop the network would be out of distribution. So every decision here is the numpy
loop's, made with the same shared, array-API generic functions
(:func:`~learnedmin.directions.candidates`,
:func:`~learnedmin.directions.quasi_newton_direction`, :func:`~learnedmin.directions.memory_init`,
:func:`~learnedmin.directions.memory_push`, :func:`~learnedmin.statistics.statistics`,
:func:`~learnedmin.safeguard.armijo`, :func:`~learnedmin.safeguard.next_step`,
:func:`~learnedmin.safeguard.is_descent`, :func:`~learnedmin.safeguard.reference_value`) applied
to ``(B, n)`` tensors:

* the proposal is tried for ``learned_maxls`` trial steps (ended early by the progress test),
  then the second-order direction (or the scaled gradient when that is not a descent direction)
  for up to ``maxls`` trials (resuming the backtrack when the proposal is a positive multiple of
  that direction), then, after resetting the L-BFGS memory
  and the hidden state, the scaled gradient; a row whose three searches all fail stops with
  status 2, as the numpy loop does;
* the line search loops over trial steps with a mask of rows still searching, so each row gets
  exactly the trial steps the numpy loop would try, including the expansion of a first trial
  that is accepted but too short (weak Wolfe test);
* the second-order slot is dense BFGS when ``n <= dense_max`` and L-BFGS otherwise;
* the stall watch: a row whose gradient norm has not halved within ``stall_window``
  iterations runs the classical rule (source 4) for as many iterations, its hidden state reset;
* a numpy run that stops (gradient test) is a row that is frozen here (``done``).

Differentiation. Every accept/reject decision is a mask and carries no gradient; between
decisions the unroll is a smooth function of the network's outputs. The accepted step ``alpha``
is 1 for a first trial that passes (the common case), otherwise a smooth function of the trial
values (quadratic interpolation), and is differentiated as such; the accepted point is
``x + alpha * d`` with ``d = sum_i a_i d_i`` (or the fallback direction), and ``f``, ``g`` are
evaluated there with the graph kept. ``tests/test_training.py`` checks the meta-gradient against
central differences while no decision changes. What the gradient cannot see is a decision
flipping (a step rejected, a fallback taken): the loss is only piecewise smooth. With
``through_directions=False`` the searches run without gradients and the gradient, directions
and statistics are treated as data (a first-order meta-gradient). Nothing is updated in place;
every state is a :class:`UnrollState` record. Rows that are frozen see only detached inputs and
outputs (``torch.where`` never lets their NaN-prone backward reach the network).

L-BFGS memory reset. The numpy loop replaces the memory by an empty one; a batch cannot hold
memories of different lengths, so a reset row keeps its pairs with ``rho = 0`` and ``s = y = 0``,
which makes them exact no-ops in the two-loop recursion (the same direction, bit for bit).
"""

from typing import NamedTuple

import torch

from .. import _options
from ..directions import (
    N_SLOTS,
    DenseMemory,
    Memory,
    candidates,
    memory_init,
    memory_push,
    quasi_newton_direction,
)
from ..safeguard import (
    APPROX_EPS,
    MAX_EXPANSIONS,
    REFINE_BAND,
    approximately_acceptable,
    armijo,
    expand_step,
    is_descent,
    next_step,
    reference_value,
    refinement,
    secant_step,
    too_short,
)
from ..statistics import History, statistics
from ..loop import CLASSICAL, FALLBACK, LEARNED, LEARNED_BACKTRACKED, RESET, STALL_FACTOR

# Row status codes (the numpy loop's, see learnedmin._status); RUNNING for rows still iterating.
RUNNING, SUCCESS, PRECISION_LOSS, NONFINITE = -1, 0, 2, 3

__all__ = [
    "UnrollState", "StepInfo", "solver_options", "init_state", "step", "detach_state",
    "line_search", "unroll",
]


class UnrollState(NamedTuple):
    """Everything the numpy loop carries from one iteration to the next, batched.

    Tensors have a leading batch dimension ``B``; ``memory`` and ``window`` are tuples of such
    tensors, the same length for every row. ``k`` is the (shared) iteration counter.
    """

    x: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    memory: Memory
    s_prev: torch.Tensor
    y_prev: torch.Tensor
    has_prev: torch.Tensor
    a_prev: torch.Tensor
    h: torch.Tensor
    history: History
    window: tuple
    overrides: torch.Tensor
    progress_ref: torch.Tensor    # stall watch: gradient norm to halve,
    progress_k: torch.Tensor      # the iteration it was set at,
    classical_until: torch.Tensor  # and the end of a classical stretch (iterations, as floats)
    initial_scale: torch.Tensor
    f_start: torch.Tensor
    gtol: torch.Tensor
    done: torch.Tensor
    status: torch.Tensor
    k: int


class StepInfo(NamedTuple):
    """Diagnostics of one iteration, for the parity test and for logging (all batch-shaped).

    Rows that were frozen before the iteration have ``taken`` False and meaningless entries.
    """

    taken: torch.Tensor
    stats: torch.Tensor
    weights: torch.Tensor
    directions: tuple
    proposal: torch.Tensor
    source: torch.Tensor
    alpha: torch.Tensor
    f_ref: torch.Tensor
    slope: torch.Tensor
    a_eff: torch.Tensor


class _Search(NamedTuple):
    ok: torch.Tensor
    alpha: torch.Tensor
    f: torch.Tensor
    slope: torch.Tensor


def solver_options(**overrides):
    """The solver options of :mod:`learnedmin` with ``overrides``, validated (same table)."""
    opts = {**_options.DEFAULTS, **overrides}
    _options.validate(opts)
    return opts


def _col(v):
    return v[:, None]


def line_search(problem, x, f, g, d, f_ref, c1, alpha, tries, searching, f_start,
                slope_floor=None, refine=True, band=REFINE_BAND):
    """Batched backtracking along ``d``: the trial steps of ``learnedmin.loop._line_search``.

    Parameters
    ----------
    problem : Problem
        Supplies ``value`` and ``gradient`` on ``(B, n)`` points.
    x, f, g, d : tensors (B, n), (B,), (B, n), (B, n)
        Current point, value, gradient and search direction.
    f_ref : tensor (B,)
        Nonmonotone reference value.
    c1 : float
        Armijo constant.
    alpha : tensor (B,)
        First trial step per row.
    tries : tensor (B,) of int
        Number of trial steps per row.
    searching : tensor (B,) of bool
        Rows that search at all.
    f_start : tensor (B,)
        ``f(x0)``: an approximately accepted step never ends above it.
    slope_floor : tensor (B,), optional
        Progress test: a trial whose slope ``g'(x(alpha) - x)`` exceeds it ends the row's search
        unsuccessfully without evaluating ``f`` (default ``0``).
    refine : bool
        Compare a first trial that is accepted with the minimiser of the quadratic model through
        it (:func:`~learnedmin.safeguard.refinement`), as the numpy search does.
    band : float
        The refinement tries the model's minimiser where it lies outside ``[1 / band, band]``
        times the trial step.

    Returns
    -------
    _Search
        ``ok`` (accepted), ``alpha`` (accepted step, or the trial step the numpy search returns
        after a failure), ``f`` and ``slope`` of the accepted step.

    Under grad mode the accepted step is differentiable: between decisions it is a smooth
    function of the direction (quadratic interpolation of the trial values), and the returned
    ``alpha``, ``f`` and ``slope`` keep that dependence. A trial is accepted by the Armijo rule
    (its gradient must be finite), or, when rounding hides the decrease
    (``|f_new - f| <= APPROX_EPS |f|``), by
    :func:`~learnedmin.safeguard.approximately_acceptable`; in that case a rejected trial is
    followed by a secant step instead of the interpolated one.
    """
    floor = torch.zeros_like(f) if slope_floor is None else slope_floor
    ok = torch.zeros_like(searching)
    stopped = torch.zeros_like(searching)
    first = torch.zeros_like(searching)  # accepted by Armijo at the first trial
    f_acc, g_acc = f, g
    slope_acc = torch.zeros_like(f)
    nan = torch.full_like(f, float("nan"))
    for trial in range(int(tries.max()) if tries.numel() else 0):
        live = searching & ~ok & ~stopped & (trial < tries)
        if not bool(live.any()):
            break
        x_new = x + _col(alpha) * d
        step_vec = x_new - x
        slope = (g * step_vec).sum(-1)
        stop = live & (slope > floor)
        stopped = stopped | stop
        live = live & ~stop
        usable = (slope < 0) & torch.isfinite(x_new).all(-1)
        # evaluate unusable rows at x (finite) so that no inf or NaN enters a backward pass
        x_eval = _select(usable, x_new, x)
        f_new = torch.where(usable, problem.value(x_eval), nan)
        by_armijo = live & armijo(f_new, f_ref, slope, c1)
        if refine and trial == 0 and bool(by_armijo.any()):
            alpha, x_new, x_eval, step_vec, slope, f_new = _refine(
                problem, x, f, g, d, f_ref, c1, floor, by_armijo,
                alpha, x_new, x_eval, step_vec, slope, f_new, band)
        close = live & ~by_armijo & usable & ((f_new - f).abs() <= APPROX_EPS * f.abs())
        accept = by_armijo
        secant = torch.zeros_like(live)
        slope_new = slope
        if bool((by_armijo | close).any()):
            g_new = problem.gradient(x_eval)
            finite = torch.isfinite(g_new).all(-1)
            slope_new = torch.where(finite, (g_new * step_vec).sum(-1), slope)
            f_new = torch.where(by_armijo & ~finite, nan, f_new)
            approx = close & finite & approximately_acceptable(f_new, f, f_start, slope,
                                                               slope_new)
            secant = close & finite & ~approx
            accept = (by_armijo & finite) | approx
            g_acc = _select(accept, g_new, g_acc)
            if trial == 0:
                first = by_armijo & finite
        ok = ok | accept
        f_acc = torch.where(accept, f_new, f_acc)
        slope_acc = torch.where(accept, slope, slope_acc)
        # next_step shrinks by SHRINK_MIN where f_new is not finite; a finite stand-in with
        # negative curvature gives the same step and keeps NaN out of the backward pass
        stand_in = f + slope.detach() - (1.0 + f.detach().abs() + slope.detach().abs())
        f_interp = torch.where(torch.isfinite(f_new), f_new, stand_in)
        shrunk = torch.where(secant, secant_step(alpha, slope, slope_new),
                             next_step(alpha, f, slope, f_interp))
        alpha = torch.where(live & ~accept, shrunk, alpha)
    return _expand(problem, x, g, d, f_ref, c1, first,
                   _Search(ok, alpha, f_acc, slope_acc), g_acc)


def _refine(problem, x, f, g, d, f_ref, c1, floor, rows, alpha, x_new, x_eval, step_vec,
            slope, f_new, band):
    """``learnedmin.loop._refine`` for the ``rows`` accepted at their first trial: where the
    quadratic model's minimiser differs enough from the trial, try it and keep the lower of the
    two acceptable points. Returns the trial quantities with the refined rows replaced."""
    t, wanted = refinement(f, slope, f_new, band)
    rows = rows & wanted
    if not bool(rows.any()):
        return alpha, x_new, x_eval, step_vec, slope, f_new
    alpha_t = t * alpha
    x_t = x + _col(alpha_t) * d
    slope_t = (g * (x_t - x)).sum(-1)
    rows = rows & (slope_t < 0) & (slope_t <= floor) & torch.isfinite(x_t).all(-1)
    f_t = problem.value(_select(rows, x_t, x))
    better = rows & armijo(f_t, f_ref, slope_t, c1) & (f_t < f_new)
    return (torch.where(better, alpha_t, alpha), _select(better, x_t, x_new),
            _select(better, x_t, x_eval), _select(better, x_t - x, step_vec),
            torch.where(better, slope_t, slope), torch.where(better, f_t, f_new))


def _expand(problem, x, g, d, f_ref, c1, rows, found, g_found):
    """``learnedmin.loop._expand`` for the ``rows`` accepted at their first trial: lengthen a
    step that still descends steeply at its end (weak Wolfe test) while the longer trial passes
    the same acceptance rule."""
    alpha, f_acc, slope_acc = found.alpha, found.f, found.slope
    for _ in range(MAX_EXPANSIONS):
        if not bool(rows.any()):
            break
        slope_end = (g_found * ((x + _col(alpha) * d) - x)).sum(-1)
        rows = rows & too_short(slope_acc, slope_end)
        if not bool(rows.any()):
            break
        alpha_try = expand_step(alpha, slope_acc, slope_end)
        x_try = x + _col(alpha_try) * d
        slope = (g * (x_try - x)).sum(-1)
        rows = rows & (slope < 0) & torch.isfinite(x_try).all(-1)
        x_eval = _select(rows, x_try, x)
        f_try = problem.value(x_eval)
        rows = rows & armijo(f_try, f_ref, slope, c1)
        if not bool(rows.any()):
            break
        g_try = problem.gradient(x_eval)
        rows = rows & torch.isfinite(g_try).all(-1)
        alpha = torch.where(rows, alpha_try, alpha)
        f_acc = torch.where(rows, f_try, f_acc)
        slope_acc = torch.where(rows, slope, slope_acc)
        g_found = _select(rows, g_try, g_found)
    return _Search(found.ok, alpha, f_acc, slope_acc)


def init_state(problem, hidden, opts, gtol=None):
    """The state before the first iteration, as :func:`learnedmin.loop.run` sets it up.

    Parameters
    ----------
    problem : Problem
    hidden : int
        Width of the network's hidden state.
    opts : dict
        Solver options (:func:`solver_options`).
    gtol : tensor (B,), optional
        Per-row gradient tolerance; default ``opts["gtol"]`` for every row.
    """
    x = problem.x0
    f = problem.value(x)
    g = problem.gradient(x)
    batch, n = x.shape
    zeros = torch.zeros_like(f)
    g0_norm = torch.linalg.vector_norm(g, dim=-1)
    if opts["initial_step"] is not None:
        step0 = torch.full_like(f, float(opts["initial_step"]))
    else:
        x_scale = torch.linalg.vector_norm(x, dim=-1)  # 2-norm, as the numpy loop
        step0 = torch.where(x_scale > 0, 1e-2 * x_scale, torch.full_like(f, 1e-2))
    initial_scale = torch.where(g0_norm > 0, step0 / torch.where(g0_norm > 0, g0_norm, 1.0),
                                torch.ones_like(f))
    finite = torch.isfinite(f) & torch.isfinite(g).all(-1)
    false = torch.zeros(batch, dtype=torch.bool, device=x.device)
    history = History(g0_norm, zeros, torch.full_like(f, -1.0), zeros, torch.ones_like(f),
                      false, zeros)
    # dense BFGS for small problems, L-BFGS otherwise (as the numpy loop decides, per batch)
    memory = memory_init(initial_scale, g if n <= opts["dense_max"] else None)
    return UnrollState(
        x=x, f=f, g=g, memory=memory,
        s_prev=torch.zeros_like(x), y_prev=torch.zeros_like(x), has_prev=false,
        a_prev=torch.zeros(batch, N_SLOTS, dtype=x.dtype, device=x.device),
        h=torch.zeros(batch, hidden, dtype=x.dtype, device=x.device),
        history=history, window=(f,),
        overrides=torch.zeros(batch, dtype=torch.long, device=x.device),
        progress_ref=g0_norm.detach(), progress_k=zeros.detach(),
        classical_until=zeros.detach(),
        initial_scale=initial_scale, f_start=f,
        gtol=torch.full_like(f, float(opts["gtol"])) if gtol is None else gtol,
        done=~finite,
        status=torch.where(finite, RUNNING, NONFINITE),
        k=0,
    )


def _freeze(tensor, frozen):
    """Detached values on frozen rows, the tensor itself elsewhere."""
    mask = frozen.reshape(frozen.shape + (1,) * (tensor.dim() - 1))
    return torch.where(mask, tensor.detach(), tensor)


def _map_memory(memory, fn):
    """``fn`` applied to every tensor of an L-BFGS or dense BFGS memory."""
    if isinstance(memory, DenseMemory):
        return DenseMemory(fn(memory.H), fn(memory.started))
    return Memory(tuple(map(fn, memory.s)), tuple(map(fn, memory.y)), tuple(map(fn, memory.rho)),
                  fn(memory.gamma))


def _select(mask, new, old):
    """Row-wise ``new`` where ``mask`` else ``old`` (mask (B,), tensors (B, ...))."""
    return torch.where(mask.reshape(mask.shape + (1,) * (new.dim() - 1)), new, old)


def _reset_memory(memory, reset, initial_scale):
    """Rows in ``reset`` get an empty memory (L-BFGS pairs turned into exact no-ops; a dense
    BFGS matrix back to ``initial_scale * I``, not started)."""
    if isinstance(memory, DenseMemory):
        fresh = memory_init(initial_scale, memory.H[..., 0])
        return DenseMemory(_select(reset, fresh.H, memory.H),
                           _select(reset, fresh.started, memory.started))
    return Memory(
        tuple(_select(reset, torch.zeros_like(s), s) for s in memory.s),
        tuple(_select(reset, torch.zeros_like(y), y) for y in memory.y),
        tuple(_select(reset, torch.zeros_like(r), r) for r in memory.rho),
        _select(reset, initial_scale, memory.gamma),
    )


class _Decision(NamedTuple):
    """What the safeguard decided for each row (all computed without gradients)."""

    source: torch.Tensor       # LEARNED, LEARNED_BACKTRACKED, FALLBACK or RESET
    alpha: torch.Tensor        # accepted step (0 where no step is taken)
    slope: torch.Tensor        # g'(x_new - x) of the accepted step
    taken: torch.Tensor        # a step was accepted
    d_fallback: torch.Tensor   # the fallback direction
    scale_reset: torch.Tensor  # length scale of the scaled-gradient step after a reset


def _safeguard(problem, state, x, f, g, p, a, directions, second_slot, s_prev, f_ref, active,
               opts, classical):
    """The searches of ``loop.run``: proposal, then fallback, then reset (batched and masked).

    ``second_slot``: rows whose fallback is the second-order direction (else the gradient).
    Rows in ``classical`` (the stall watch) skip the proposal and search along the fallback.
    Decisions (masks) carry no gradient; the accepted step lengths do where grad mode is on.
    """
    c1, maxls, learned_maxls = opts["c1"], opts["maxls"], opts["learned_maxls"]
    ones = torch.ones_like(f)
    int_like = torch.ones_like(state.overrides)
    d_fallback = _select(second_slot, directions[2], directions[0])
    proposal_ok = active & ~classical & is_descent(g, p)
    # progress test: the proposal must predict a fraction of the classical step's decrease
    floor = opts["sufficient_progress"] * (g * d_fallback).sum(-1)
    search = {"refine": opts["refine"], "band": opts["refine_band"]}
    learned = line_search(problem, x, f, g, p, f_ref, c1, ones, int_like * learned_maxls,
                          proposal_ok, state.f_start, slope_floor=floor, **search)
    need_fallback = active & ~learned.ok
    # A proposal that is a positive multiple of the fallback (the classical weights) has
    # already been searched along: keep backtracking where it stopped.
    a_fallback = torch.where(second_slot, a[:, 2], a[:, 0])
    others_zero = torch.where(second_slot, (a[:, 0] == 0) & (a[:, 1] == 0),
                              (a[:, 1] == 0) & (a[:, 2] == 0))
    resume = proposal_ok & (a_fallback > 0) & others_zero
    fallback = line_search(
        problem, x, f, g, d_fallback, f_ref, c1,
        torch.where(resume, learned.alpha * a_fallback, ones),
        torch.where(resume, int_like * max(maxls - learned_maxls, 1), int_like * maxls),
        need_fallback, state.f_start, **search,
    )
    need_reset = need_fallback & ~fallback.ok
    scale_reset = state.initial_scale
    if bool(need_reset.any()):
        scale_reset = torch.where(
            state.has_prev,
            torch.linalg.vector_norm(s_prev, dim=-1) / torch.linalg.vector_norm(g, dim=-1),
            state.initial_scale,
        )
    reset = line_search(problem, x, f, g, -_col(scale_reset) * g, f_ref, c1, ones,
                        int_like * maxls, need_reset, state.f_start, **search)
    taken = active & ~(need_reset & ~reset.ok)
    source = torch.where(
        learned.ok, torch.where(learned.alpha != 1.0, LEARNED_BACKTRACKED, LEARNED),
        torch.where(fallback.ok, torch.where(classical, CLASSICAL, FALLBACK), RESET),
    )
    alpha = torch.where(learned.ok, learned.alpha,
                        torch.where(fallback.ok, fallback.alpha, reset.alpha))
    slope = torch.where(learned.ok, learned.slope,
                        torch.where(fallback.ok, fallback.slope, reset.slope))
    alpha = torch.where(taken, alpha, torch.zeros_like(alpha))
    return _Decision(source, alpha, slope, taken, d_fallback, scale_reset)


def step(net, problem, state, opts, through_directions=True):
    """One iteration of :func:`learnedmin.loop.run` for every running row.

    Parameters
    ----------
    net : learnedmin.network.WeightingNet
        The eager weighting network (the module that export scripts).
    problem : Problem
    state : UnrollState
    opts : dict
        Solver options (``c1``, ``memory``, ``maxls``, ``learned_maxls``, ``nonmonotone``,
        ``reset_after``).
    through_directions : bool
        Differentiate through the gradient, the candidate directions and the statistics (the
        full meta-gradient). With False they are treated as data: the meta-gradient flows only
        through the weights ``a`` into the iterates (and through the hidden state), which drops
        the curvature terms as Andrychowicz et al. (2016) drop second derivatives; cheaper and
        less chaotic over long unrolls. The forward computation is the same either way.

    Returns
    -------
    state : UnrollState
        The next state; rows that converge (``max|g| <= gtol``) or fail are frozen.
    info : StepInfo
    """
    x, f, g = state.x, state.f, state.g
    converged = ~state.done & (g.abs().amax(-1) <= state.gtol)
    frozen = state.done | converged
    active = ~frozen

    # Frozen rows only see detached values, so their (possibly degenerate) backward is cut off.
    x, f, g = _freeze(x, frozen), _freeze(f, frozen), _freeze(g, frozen)
    if not through_directions:
        g = g.detach()
    s_prev, y_prev = _freeze(state.s_prev, frozen), _freeze(state.y_prev, frozen)
    if not through_directions:
        s_prev, y_prev = s_prev.detach(), y_prev.detach()
    memory = _map_memory(state.memory, lambda v: _freeze(v, frozen))
    history = History(*(_freeze(v, frozen) for v in state.history))
    if not through_directions:
        memory = detach_state(memory)
        history = detach_state(history)
    h0 = torch.zeros_like(state.h)

    # Stall watch (loop.run): the gradient norm must halve every `stall_window` iterations; if it
    # does not, the classical rule runs alone for as long, from a reset hidden state.
    k, window_len = float(state.k), float(opts["stall_window"])
    with torch.no_grad():
        gnorm = torch.linalg.vector_norm(g, dim=-1)
        improved = active & (gnorm <= STALL_FACTOR * state.progress_ref)
        progress_ref = torch.where(improved, gnorm, state.progress_ref)
        progress_k = torch.where(improved, torch.full_like(gnorm, k), state.progress_k)
        stall = active & (k >= state.classical_until) & (k - progress_k >= window_len)
        classical_until = torch.where(stall, torch.full_like(gnorm, k + window_len),
                                      state.classical_until)
        progress_ref = torch.where(stall, gnorm, progress_ref)
        progress_k = torch.where(stall, classical_until, progress_k)
        classical = active & (k < classical_until)

    second = quasi_newton_direction(g, memory)
    directions, valid = candidates(g, s_prev, y_prev, state.has_prev, second,
                                   state.initial_scale)
    valid_f = torch.stack(valid, dim=-1).to(x.dtype)
    stats = statistics(g, directions, valid, history)
    a, h_net = net(stats, _freeze(state.a_prev, frozen), valid_f, _freeze(state.h, frozen))
    a = _freeze(a, frozen)
    h_net = _freeze(h_net, frozen)
    second_slot = is_descent(g, second)  # the fallback: second order, else the gradient
    one_hot = torch.where(
        _col(second_slot),
        torch.tensor([0.0, 0.0, 1.0], dtype=x.dtype, device=x.device),
        torch.tensor([1.0, 0.0, 0.0], dtype=x.dtype, device=x.device),
    )
    a = _select(classical, one_hot.detach(), a)
    p = _col(a[:, 0]) * directions[0] + _col(a[:, 1]) * directions[1] \
        + _col(a[:, 2]) * directions[2]
    f_ref = reference_value(state.window)

    # the accepted step lengths are differentiated only with the full meta-gradient
    with torch.set_grad_enabled(torch.is_grad_enabled() and through_directions):
        decision = _safeguard(problem, state, x, f, g, p, a, directions, second_slot, s_prev,
                              f_ref, active, opts, classical)
    source, alpha, slope, taken = decision.source, decision.alpha, decision.slope, decision.taken
    d_fallback = decision.d_fallback
    d_reset = -_col(decision.scale_reset) * g

    by_learned = _col(source <= LEARNED_BACKTRACKED)
    by_fallback = _col((source == FALLBACK) | (source == CLASSICAL))
    d_used = torch.where(by_learned, p, torch.where(by_fallback, d_fallback, d_reset))
    x_trial = x + _col(alpha) * d_used
    x_new = _select(taken, x_trial, x)
    f_new = _select(taken, problem.value(x_new), f)
    if through_directions:
        g_new = _select(taken, problem.gradient(x_new), g)
    else:
        with torch.no_grad():
            g_new = _select(taken, problem.gradient(x_new), g)

    # effective weights of the step taken, fed back to the network (loop.run: a_eff)
    a_eff = torch.where(by_learned, _col(alpha) * a,
                        torch.where(by_fallback, _col(alpha) * one_hot, torch.zeros_like(a)))
    overridden = source >= FALLBACK
    counted = (source == FALLBACK) | (source == RESET)  # the stall watch's steps do not count
    overrides = torch.where(counted, state.overrides + 1, torch.zeros_like(state.overrides))
    too_many = overrides >= opts["reset_after"]
    overrides = torch.where(too_many, torch.zeros_like(overrides), overrides)
    h_new = _select((source == RESET) | too_many | classical, h0, h_net)
    memory_new = _reset_memory(memory, source == RESET, state.initial_scale)

    s = x_new - x
    y = g_new - g
    memory_new = memory_push(memory_new, s, y, opts["memory"])
    history_new = History(
        torch.linalg.vector_norm(g, dim=-1), f_new - f, slope, (s * y).sum(-1), alpha,
        overridden, torch.full_like(f, float(state.k + 1)),
    )

    def keep(new, old):
        return _select(taken, new, old)

    failed = active & ~taken
    status = torch.where(converged, SUCCESS, torch.where(failed, PRECISION_LOSS,
                                                         state.status))
    new_state = UnrollState(
        x=x_new, f=f_new, g=g_new,
        memory=memory_new,  # rows not taken are frozen for good: their memory is unused
        s_prev=keep(s, s_prev), y_prev=keep(y, y_prev),
        has_prev=state.has_prev | taken,
        a_prev=keep(a_eff, state.a_prev), h=keep(h_new, state.h),
        history=History(*(keep(new, old) for new, old in zip(history_new, history))),
        window=(state.window + (f_new,))[-opts["nonmonotone"]:],
        overrides=keep(overrides, state.overrides),
        progress_ref=progress_ref, progress_k=progress_k, classical_until=classical_until,
        initial_scale=state.initial_scale, f_start=state.f_start, gtol=state.gtol,
        done=frozen | failed, status=status, k=state.k + 1,
    )
    info = StepInfo(taken, stats, a, directions, p, source, alpha, f_ref, slope, a_eff)
    return new_state, info


def detach_state(state):
    """The same state with every tensor detached (truncated backpropagation)."""

    def det(v):
        if isinstance(v, torch.Tensor):
            return v.detach()
        if isinstance(v, tuple):
            return type(v)(*map(det, v)) if hasattr(v, "_fields") else tuple(map(det, v))
        return v

    return det(state)


def unroll(net, problem, steps, opts, gtol=None, on_step=None, through_directions=True):
    """Run ``steps`` iterations from ``problem.x0``; return the final state and per-step values.

    Parameters
    ----------
    net : WeightingNet
    problem : Problem
    steps : int
    opts : dict
        Solver options.
    gtol : tensor (B,), optional
        Per-row gradient tolerance.
    on_step : callable, optional
        ``on_step(state, info)`` after every iteration.
    through_directions : bool
        See :func:`step`.

    Returns
    -------
    state : UnrollState
    values : list of tensors (B,)
        ``f`` after each iteration (index 0 is ``f(x0)``).
    """
    state = init_state(problem, net.hidden_size, opts, gtol)
    values = [state.f]
    for _ in range(steps):
        state, info = step(net, problem, state, opts, through_directions)
        values.append(state.f)
        if on_step is not None:
            on_step(state, info)
    return state, values
