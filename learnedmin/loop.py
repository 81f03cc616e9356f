"""The numpy iteration: candidates -> statistics -> network weights -> safeguarded step.

One iteration (DESIGN section 2)::

    D_k, valid  = candidates(...)                 # directions.py
    s_k         = statistics(g_k, D_k, ...)       # statistics.py
    a_k, h_k    = policy(s_k, a_{k-1}, valid, h)  # the network (or fixed weights)
    p_k         = sum_i a_ki D_ki
    x_{k+1}     = safeguarded step along p_k      # safeguard.py, with fallbacks

The safeguard tries the proposal first (``learned_maxls`` trial steps), then the second-order
direction (``maxls`` trial steps; the steepest-descent slot if the second-order direction is not a
descent direction), then, after resetting the quasi-Newton memory and the network state, the
scaled negative gradient. Only when all three fail does the run stop, with status 2.
"""

from typing import NamedTuple

import numpy as np

from . import _status as st
from .directions import (
    N_SLOTS,
    candidates,
    jacobi_diagonal,
    memory_init,
    memory_push,
    newton_cg_direction,
    quasi_newton_direction,
)
from .safeguard import (
    APPROX_EPS,
    MAX_EXPANSIONS,
    REFINE_BAND,
    approximately_acceptable,
    armijo,
    is_descent,
    next_step,
    reference_value,
    refinement,
    secant_step,
    expand_step,
    too_short,
)
from .statistics import History, statistics

def _quiet():
    """Silence numpy's floating-point warnings in *our* arithmetic (never around user calls):
    overflow to inf or NaN is detected explicitly and handled by the safeguard."""
    return np.errstate(all="ignore")


# The learned steps must reduce the gradient norm by this factor every `stall_window` iterations.
STALL_FACTOR = 0.5

# Step sources recorded in ``res.trace["source"]``.
LEARNED, LEARNED_BACKTRACKED, FALLBACK, RESET, CLASSICAL = 0, 1, 2, 3, 4


class _Search(NamedTuple):
    ok: bool
    x: object
    f: float
    g: object
    alpha: float
    slope: float
    approximate: bool  # accepted by the approximate (rounding-level) rule


def _line_search(obj, x, f, g, p, f_ref, c1, alpha, tries, project, f_start, slope_floor=0.0,
                 refine=True, band=REFINE_BAND):
    """Backtrack along ``p`` from ``alpha`` until the acceptance rule holds (``tries`` trials).

    With ``refine``, a first trial that is accepted is compared with the minimiser of the
    quadratic model through its value where that lies outside ``[1 / band, band]`` times the
    trial step (:func:`~learnedmin.safeguard.refinement`).

    A trial whose gradient is not finite is rejected like one that fails the Armijo test. A
    trial whose predicted decrease ``-g'(x(alpha) - x)`` falls short of ``-slope_floor`` ends
    the search unsuccessfully without evaluating ``fun`` (the progress test for proposals).
    """
    f_ref = np.float64(f_ref)
    for trial in range(tries):
        with _quiet():
            x_new = project(x + alpha * p)
            slope = np.float64(g @ (x_new - x))
        if slope > slope_floor:
            break
        usable = slope < 0 and np.all(np.isfinite(x_new))
        f_new = np.float64(obj.f(x_new)) if usable else np.float64(np.nan)
        accepted = armijo(f_new, f_ref, slope, c1)
        if accepted and refine and trial == 0:  # a refined trial passes the same rule
            x_new, f_new, slope, alpha = _refine(obj, x, f, g, p, f_ref, c1, project, slope_floor,
                                                 x_new, f_new, slope, alpha, band)
        if accepted:
            g_new = obj.g(x_new, float(f_new))
            if np.all(np.isfinite(g_new)):
                found = _Search(True, x_new, float(f_new), g_new, alpha, float(slope), False)
                return _expand(obj, x, g, p, f_ref, c1, found, project) if trial == 0 else found
            f_new = np.float64(np.nan)
        elif usable and abs(f_new - f) <= APPROX_EPS * abs(f):
            # rounding hides the decrease: let the gradient at the trial point decide
            g_new = obj.g(x_new, float(f_new))
            with _quiet():
                slope_new = np.float64(g_new @ (x_new - x))
            if np.all(np.isfinite(g_new)):
                if approximately_acceptable(f_new, np.float64(f), f_start, slope, slope_new):
                    return _Search(True, x_new, float(f_new), g_new, alpha, float(slope), True)
                with _quiet():
                    alpha = float(secant_step(np.float64(alpha), slope, slope_new))
                continue
        with _quiet():
            alpha = float(next_step(np.float64(alpha), np.float64(f), slope, f_new))
    return _Search(False, x, f, g, alpha, 0.0, False)


def _refine(obj, x, f, g, p, f_ref, c1, project, slope_floor, x_trial, f_trial, slope_trial,
            alpha_trial, band):
    """``(x, f, slope, alpha)`` of the better of an accepted first trial and the minimiser of
    the quadratic model through it; the second is tried only where it differs enough."""
    keep = (x_trial, f_trial, slope_trial, alpha_trial)
    with _quiet():
        t, wanted = refinement(np.float64(f), slope_trial, f_trial, band)
    if not wanted:
        return keep
    alpha = float(t) * alpha_trial
    with _quiet():
        x_new = project(x + alpha * p)
        slope = np.float64(g @ (x_new - x))
    if not (slope < 0 and slope <= slope_floor and np.all(np.isfinite(x_new))):
        return keep
    f_new = np.float64(obj.f(x_new))
    if armijo(f_new, f_ref, slope, c1) and f_new < f_trial:
        return x_new, f_new, slope, alpha
    return keep


def _expand(obj, x, g, p, f_ref, c1, found, project):
    """Lengthen a first trial that was accepted but is too short (weak Wolfe test fails).

    Every longer trial must pass the same acceptance rule; the last one that does is returned.
    """
    for _ in range(MAX_EXPANSIONS):
        with _quiet():
            slope_new = np.float64(found.g @ (found.x - x))
        if not too_short(np.float64(found.slope), slope_new):
            break
        with _quiet():
            alpha = float(expand_step(np.float64(found.alpha), np.float64(found.slope), slope_new))
            x_new = project(x + alpha * p)
            slope = np.float64(g @ (x_new - x))
        if not (slope < 0 and np.all(np.isfinite(x_new))):
            break
        f_new = np.float64(obj.f(x_new))
        if not armijo(f_new, f_ref, slope, c1):
            break
        g_new = obj.g(x_new, float(f_new))
        if not np.all(np.isfinite(g_new)):
            break
        found = _Search(True, x_new, float(f_new), g_new, alpha, float(slope), False)
    return found


def _bounds_tools(lb, ub):
    if lb is None:
        return (lambda z: z), (lambda x, g: None)

    def project(z):
        return np.clip(z, lb, ub)

    def active(x, g):
        return ((x <= lb) & (g > 0)) | ((x >= ub) & (g < 0))

    return project, active


def run(obj, x0, policy, opts, lb=None, ub=None, callback=None):
    """Minimise from ``x0`` (float64, inside the bounds). Returns a dict of result fields.

    ``callback(x, f, g, k)`` is called after every accepted step; ``StopIteration`` ends the run.
    """
    n = x0.size
    maxiter = 200 * n if opts["maxiter"] is None else opts["maxiter"]
    c1, m = opts["c1"], opts["memory"]
    project, active_set = _bounds_tools(lb, ub)

    x = x0.copy()
    f = obj.f(x)
    g = obj.g(x, f) if np.isfinite(f) else np.full(n, np.nan)
    weights = []  # the network's output per iteration (res.step_weights)
    trace = {"source": [], "alpha": [], "f_ref": [], "slope": [], "approximate": [], "fun": [f]}
    allvecs = [x.copy()] if opts["return_all"] else None

    def finish(status, message=None):
        res = {
            "x": x, "fun": f, "jac": g, "nit": k, "nfev": obj.nfev, "njev": obj.njev,
            "nhev": obj.nhev, "status": status, "success": status == st.SUCCESS,
            "message": message or st.MESSAGES[status],
            "step_weights": np.array(weights).reshape(-1, N_SLOTS),
            "overridden": np.array(trace["source"], dtype=int) >= FALLBACK,
            "trace": {key: np.array(val) for key, val in trace.items()},
        }
        if allvecs is not None:
            res["allvecs"] = allvecs
        return res

    k = 0
    if not (np.isfinite(f) and np.all(np.isfinite(g))):
        return finish(st.NONFINITE)

    g0_norm = np.linalg.norm(g)
    f_start = np.float64(f)
    x_scale = np.linalg.norm(x)  # 2-norm: the first step is rotation invariant
    if opts["initial_step"] is not None:
        step0 = opts["initial_step"]
    else:
        # A first step of 1% of the starting point's size (or 0.01 from the origin); the
        # Barzilai-Borwein scale takes over from the second iteration on.
        step0 = 1e-2 * x_scale if x_scale > 0 else 1e-2
    initial_scale = np.float64(step0 / g0_norm) if g0_norm > 0 else np.float64(1.0)
    cg_maxiter = opts["cg_maxiter"] or 20 * n
    search_opts = {"refine": opts["refine"], "band": opts["refine_band"]}
    x0_diagonal = None  # Jacobi preconditioner from hessp products at x0 (small n only)

    # Dense BFGS for small problems, L-BFGS otherwise (DESIGN section 2, second-order slot).
    dense_like = g if n <= opts["dense_max"] else None
    memory = memory_init(initial_scale, dense_like)
    zeros = np.zeros(n)
    s_prev, y_prev, has_prev = zeros, zeros, np.bool_(False)
    a_prev = np.zeros(N_SLOTS)
    h = policy.initial_state()
    history = History(
        np.float64(g0_norm), np.float64(0), np.float64(-1), np.float64(0), np.float64(1),
        np.bool_(False), np.float64(0),
    )
    window = (np.float64(f),)
    consecutive_overrides = 0
    progress_ref, progress_k, classical_until = np.linalg.norm(g), 0, 0

    while True:
        with _quiet():
            active = active_set(x, g)
            pg = g if lb is None else x - project(x - g)
        if np.max(np.abs(pg), initial=0.0) <= opts["gtol"]:
            return finish(st.SUCCESS)
        if k >= maxiter:
            return finish(st.MAXITER)
        gr = g if active is None else np.where(active, 0.0, g)

        def free(v):
            return v if active is None else np.where(active, 0.0, v)

        if obj.has_hessian:
            hessp, diagonal = obj.hessian(x)  # user code: hessp is called inside, outside _quiet
            preconditioner = None
            if opts["precondition"]:
                if diagonal is None and k == 0 and n <= opts["dense_max"]:
                    # hessp only: the diagonal at x0 from n products, kept for the whole run
                    x0_diagonal = np.array([hessp(e)[i] for i, e in enumerate(np.eye(n))])
                with _quiet():
                    preconditioner = jacobi_diagonal(
                        diagonal if diagonal is not None else x0_diagonal)
            second, _ = newton_cg_direction(
                gr, lambda v: free(hessp(free(v))), np.float64(g0_norm), cg_maxiter,
                diagonal=preconditioner,
            )
        else:
            with _quiet():
                second = free(quasi_newton_direction(gr, memory))
        with _quiet():
            directions, valid = candidates(gr, s_prev, y_prev, has_prev, second, initial_scale)
            directions = tuple(free(d) for d in directions)
            valid_f = np.array(valid, dtype=np.float64)
            f_ref = reference_value(window)
            # The classical direction the safeguard falls back to.
            fb_slot = 2 if is_descent(gr, second) else 0
            fallback = directions[fb_slot]
            # Stall watch: the learned steps must halve the gradient norm every `stall_window`
            # iterations; if they do not, the classical rule runs alone for as long.
            gnorm = np.linalg.norm(pg)
            if gnorm <= STALL_FACTOR * progress_ref:
                progress_ref, progress_k = gnorm, k
            if k >= classical_until and k - progress_k >= opts["stall_window"]:
                classical_until = k + opts["stall_window"]
                progress_ref, progress_k = gnorm, classical_until
                h = policy.initial_state()
            if k < classical_until:
                a = np.zeros(N_SLOTS)
                a[fb_slot] = 1.0
                proposal_is_descent = False
            else:
                stats = statistics(gr, directions, valid, history)
                a, h = policy(stats, a_prev, valid_f, h)
                p = a[0] * directions[0] + a[1] * directions[1] + a[2] * directions[2]
                proposal_is_descent = bool(is_descent(gr, p))
        source, found = (CLASSICAL if k < classical_until else LEARNED), None
        if proposal_is_descent:
            # Progress test: an accepted proposal predicts at least ``sufficient_progress`` of
            # the linear decrease of the classical unit step. With the nonmonotone Armijo rule
            # this makes every learned step as good as a short classical one, which keeps the
            # convergence guarantee of the classical method (Grippo et al. 1986; compare the
            # merit test of Safe-L2O, Heaton et al. 2020).
            with _quiet():
                floor = opts["sufficient_progress"] * float(gr @ fallback)
            found = _line_search(obj, x, f, g, p, f_ref, c1, 1.0, opts["learned_maxls"], project,
                                 f_start, slope_floor=floor, **search_opts)
        if found is None or not found.ok:
            source = max(source, FALLBACK)
            # A proposal that is a positive multiple of the fallback (the classical weights) has
            # already been searched along: keep backtracking where it stopped.
            others = np.delete(a, fb_slot)
            resume = found is not None and a[fb_slot] > 0 and not np.any(others)
            d_used = fallback
            alpha0, tries = (found.alpha * a[fb_slot], opts["maxls"] - opts["learned_maxls"]) \
                if resume else (1.0, opts["maxls"])
            found = _line_search(obj, x, f, g, d_used, f_ref, c1, alpha0, max(tries, 1), project,
                                 f_start, **search_opts)
        if not found.ok:
            source = RESET
            memory = memory_init(initial_scale, dense_like)
            h = policy.initial_state()
            with _quiet():
                scale = np.linalg.norm(s_prev) / np.linalg.norm(gr) if has_prev else initial_scale
                d_used = -scale * gr
            found = _line_search(obj, x, f, g, d_used, f_ref, c1, 1.0, opts["maxls"], project,
                                 f_start, **search_opts)
        if not found.ok:
            return finish(st.PRECISION_LOSS)
        if source == LEARNED and found.alpha != 1.0:
            source = LEARNED_BACKTRACKED

        # effective weights of the step taken, fed back to the network
        if source <= LEARNED_BACKTRACKED:
            a_eff = found.alpha * a
        else:
            a_eff = np.zeros(N_SLOTS)
            if source in (FALLBACK, CLASSICAL):
                a_eff[fb_slot] = found.alpha
        consecutive_overrides = consecutive_overrides + 1 if source in (FALLBACK, RESET) else 0
        if consecutive_overrides >= opts["reset_after"]:
            h, consecutive_overrides = policy.initial_state(), 0

        with _quiet():
            s = found.x - x
            y = found.g - g
            if not obj.has_hessian:
                memory = memory_push(memory, s, y, m)
            history = History(
                np.linalg.norm(gr), np.float64(found.f - f), np.float64(found.slope),
                np.float64(s @ y), np.float64(found.alpha), np.bool_(source >= FALLBACK),
                np.float64(k + 1),
            )
        weights.append(a)
        trace["source"].append(source)
        trace["alpha"].append(found.alpha)
        trace["f_ref"].append(float(f_ref))
        trace["slope"].append(found.slope)
        trace["approximate"].append(found.approximate)
        trace["fun"].append(found.f)
        with _quiet():
            x_old_norm = np.linalg.norm(x)
        x, f, g = found.x, found.f, found.g
        s_prev, y_prev, has_prev, a_prev = s, y, np.bool_(True), a_eff
        window = (window + (np.float64(f),))[-opts["nonmonotone"]:]
        k += 1
        if allvecs is not None:
            allvecs.append(x.copy())
        if callback is not None:
            try:
                callback(x, f, g, k)
            except StopIteration:
                return finish(st.CALLBACK_STOP)
        xrtol = opts["xrtol"]
        if xrtol > 0 and np.linalg.norm(s) <= xrtol * (xrtol + x_old_norm):
            return finish(st.SUCCESS)

