"""The safeguard: the *search* half of the method ("how far"), and its acceptance rule.

A proposal ``p`` is accepted at step ``alpha`` when the nonmonotone Armijo condition of
Grippo, Lampariello & Lucidi (1986) holds,

    f(x + alpha p) <= max(f_{k-M+1}, ..., f_k) + c1 * g' (x(alpha) - x),

with ``x(alpha)`` the trial point (projected onto the bounds when there are any). Learned
schedules accelerate through non-monotone transients (Takabe & Wadayama 2020), which a window of
``M > 1`` tolerates while keeping global convergence. Trial steps shrink by safeguarded quadratic
interpolation. The decision functions here are array-API generic so the batched training unroll
applies exactly the rule the SciPy method applies (they run the same step).
"""

from ._xp import array_namespace, norm, dot, safe_div

# A proposal must make at least this angle with -g (cosine) to count as a descent direction.
DESCENT_COS = 1e-10
# Approximate acceptance near convergence (Hager & Zhang 2005, approximate Wolfe conditions):
# when f(x + alpha p) differs from f(x) by less than APPROX_EPS * |f(x)|, rounding hides the
# decrease and the gradient decides instead.
APPROX_EPS = 1e-10
APPROX_SIGMA = 0.9   # curvature: slope_new >= sigma * slope
APPROX_DELTA = 0.1   # slope_new <= (2 delta - 1) * slope

# Expansion: a first trial that is accepted but still descends steeply at its end point
# (slope_new < WOLFE_C2 * slope, the weak Wolfe curvature test fails) was too short; the search
# then tries longer steps, EXPAND_MIN to EXPAND_MAX times the last, at most MAX_EXPANSIONS times.
WOLFE_C2 = 0.9
EXPAND_MIN = 2.0
EXPAND_MAX = 10.0
MAX_EXPANSIONS = 4

# Refinement: a first trial that passes the acceptance rule is compared with the minimiser
# t* alpha of the quadratic through f(x), the slope and f(x + alpha p). Where t* falls outside
# [1 / REFINE_BAND, REFINE_BAND] the function is evaluated there too (t* clipped to
# [REFINE_MIN, REFINE_MAX]; EXPAND_MAX where the quadratic has no minimiser) and the lower of the
# two acceptable points is kept. On a quadratic this is an exact line search for one function
# value and no gradient: quasi-Newton steps then keep the conjugacy that unit steps lose.
# REFINE_MAX is large because the first trial of a run is a blind guess (1 % of |x0|, or 0.01
# from the origin) that may be orders of magnitude too short; a far refined trial still has to
# pass the acceptance rule and beat the first.
REFINE_BAND = 1.1
REFINE_MIN = 0.1
REFINE_MAX = 1e6
# ... and only where the model's curvature term f(x + alpha p) - f(x) - slope exceeds
# REFINE_RESOLUTION |f(x)|: below it the rounding of f decides t (a relative error of about
# 2 eps |f| / curvature), and the refinement would follow rounding, not the function.
REFINE_RESOLUTION = 1e-8

# Interpolated trial steps are kept in [SHRINK_MIN, SHRINK_MAX] times the last trial.
SHRINK_MIN = 1e-2
SHRINK_MAX = 0.5
# After a trial at which f is not finite the next trial is this fraction of it. A value says
# nothing about where f stops being defined, so the step is cut by a fixed factor, as in Ipopt's
# line search after an evaluation error (Waechter & Biegler 2006, section 3.8); the factor is
# shorter than bisection because a first trial may overflow by orders of magnitude.
SHRINK_NONFINITE = 0.1


def reference_value(f_history):
    """The nonmonotone reference ``max`` over the window of accepted values (oldest first)."""
    xp = array_namespace(*f_history)
    return xp.max(xp.stack(f_history, axis=-1), axis=-1)


def is_descent(g, p):
    """``g'p < -DESCENT_COS |g| |p|`` and ``p`` finite: a usable descent direction."""
    xp = array_namespace(g, p)
    gp = dot(g, p, xp)
    finite = xp.all(xp.isfinite(p), axis=-1)
    return finite & (gp < -DESCENT_COS * norm(g, xp) * norm(p, xp))


def armijo(f_new, f_ref, slope, c1):
    """Sufficient decrease: ``f_new <= f_ref + c1 * slope`` with ``f_new`` finite and slope < 0.

    ``slope`` is ``g' (x_new - x)``, the predicted linear decrease of the actual step.
    """
    xp = array_namespace(f_new, f_ref, slope)
    return xp.isfinite(f_new) & (slope < 0) & (f_new <= f_ref + c1 * slope)


def next_step(alpha, f0, slope, f_alpha):
    """Next trial step after a rejected ``alpha`` (quadratic interpolation, Nocedal & Wright 3.57).

    ``slope`` is the directional derivative times ``alpha`` (``g'(x(alpha) - x)``), so the model
    is ``phi(t) = f0 + slope * t/alpha + c (t/alpha)^2`` fitted to ``f_alpha``. The minimiser is
    clipped to ``[SHRINK_MIN, SHRINK_MAX] * alpha``; where the model has no minimiser the shrink
    is the strongest, and a non-finite ``f_alpha`` gives ``SHRINK_NONFINITE * alpha``.
    """
    xp = array_namespace(alpha, f0, slope, f_alpha)
    finite = xp.isfinite(f_alpha)
    curvature = xp.where(finite, f_alpha, f0) - f0 - slope
    frac = safe_div(-slope, 2.0 * curvature, xp.full_like(alpha, SHRINK_MIN), xp)
    frac = xp.where(curvature > 0, frac, xp.full_like(alpha, SHRINK_MIN))
    frac = xp.where(finite, xp.clip(frac, SHRINK_MIN, SHRINK_MAX),
                    xp.full_like(alpha, SHRINK_NONFINITE))
    return alpha * frac


def approximately_acceptable(f_new, f, f_start, slope, slope_new):
    """Approximate acceptance for steps whose decrease is below the rounding level of ``f``.

    ``f_new`` is within ``APPROX_EPS * |f|`` of ``f`` and not above the starting value
    ``f_start`` (so no run ever ends above ``f(x0)``), and the slope along the step at the new
    point, ``slope_new = g_new'(x_new - x)``, satisfies
    ``sigma * slope <= slope_new <= (2 delta - 1) * slope`` (Hager & Zhang 2005, eq. 23).
    """
    xp = array_namespace(f_new, f, f_start, slope, slope_new)
    close = xp.abs(f_new - f) <= APPROX_EPS * xp.abs(f)
    curvature = (slope_new >= APPROX_SIGMA * slope) & (slope_new <= (2 * APPROX_DELTA - 1) * slope)
    return xp.isfinite(f_new) & (slope < 0) & close & (f_new <= f_start) & curvature


def secant_step(alpha, slope, slope_new):
    """Next trial from the slopes at both ends (zero of the linear model of ``phi'``).

    Used when rounding makes function values useless for interpolation; clipped like
    :func:`next_step`.
    """
    xp = array_namespace(alpha, slope, slope_new)
    frac = safe_div(-slope, slope_new - slope, xp.full_like(alpha, SHRINK_MIN), xp)
    frac = xp.where(xp.isfinite(frac) & (frac > 0), frac, xp.full_like(alpha, SHRINK_MIN))
    return alpha * xp.clip(frac, SHRINK_MIN, SHRINK_MAX)


def too_short(slope, slope_new):
    """The weak Wolfe curvature test fails: ``slope_new < WOLFE_C2 * slope`` (both along the step)."""
    return slope_new < WOLFE_C2 * slope


def expand_step(alpha, slope, slope_new, most=EXPAND_MAX):
    """A longer trial after an accepted but too short step (Nocedal & Wright, section 3.5).

    The zero of the linear model of the directional derivative through both slopes, clipped to
    ``[EXPAND_MIN, most] * alpha``; where the model has no such zero, ``EXPAND_MAX * alpha``.
    ``most`` is ``EXPAND_MAX``, except on a run's first iteration, whose first trial is a blind
    guess: there it is ``REFINE_MAX``, as for the refinement.
    """
    xp = array_namespace(alpha, slope, slope_new)
    frac = safe_div(slope, slope - slope_new, xp.full_like(alpha, EXPAND_MAX), xp)
    frac = xp.where(xp.isfinite(frac) & (slope_new > slope), frac, xp.full_like(alpha, EXPAND_MAX))
    return alpha * xp.clip(frac, EXPAND_MIN, most)


def refinement(f0, slope, f_alpha, band=REFINE_BAND):
    """``(t, wanted)``: the minimiser of the quadratic model as a fraction of the trial step,
    and whether it lies outside ``[1 / band, band]``, far enough from 1 to be worth a function
    value.

    ``slope`` is ``g'(x(alpha) - x)``; the model ``phi(t) = f0 + slope t + c t^2`` passes through
    ``f_alpha`` at ``t = 1``. ``t`` is clipped to ``[REFINE_MIN, REFINE_MAX]``; where ``c <= 0``
    the model has no minimiser and ``t`` is ``EXPAND_MAX``.
    """
    xp = array_namespace(f0, slope, f_alpha)
    finite = xp.isfinite(f_alpha)
    curvature = xp.where(finite, f_alpha, f0) - f0 - slope
    has_min = finite & (curvature > 0) & (slope < 0)
    resolved = xp.abs(curvature) > REFINE_RESOLUTION * xp.abs(f0)
    # the curvature is floored where t would exceed REFINE_MAX, and replaced by 1 where the model
    # has no minimiser, so that t and its derivative stay finite on every row (the unroll
    # differentiates through t and masks rows afterwards)
    c = xp.where(has_min, xp.maximum(curvature, -slope / (2.0 * REFINE_MAX)),
                 xp.ones_like(curvature))
    t = xp.where(has_min, -slope / (2.0 * c), xp.full_like(slope, EXPAND_MAX))
    t = xp.clip(t, REFINE_MIN, REFINE_MAX)
    wanted = finite & resolved & ((t < 1.0 / band) | (t > band))
    return t, wanted
