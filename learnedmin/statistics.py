"""Dimension-free statistics of the candidate directions: what the weighting network sees.

Only ratios enter, so every statistic is unchanged under ``f -> a*f + c`` (a > 0), under
``x -> Q x`` (Q orthogonal) and under ``x -> t*x``; the network cost is O(1) per iteration
whatever the dimension. The feature transform (signed log, clipping) is *not* applied here: it is
compiled into the network archive so that it can never drift from the trained weights.
"""

from typing import NamedTuple

from ._xp import any_true, array_namespace, safe_div

# Bump FEATURE_VERSION whenever the meaning or order of FEATURE_NAMES changes: archives trained for
# another version are refused at load time. A new feature is only ever appended: an archive lists
# the features its network reads (a prefix of FEATURE_NAMES, at least the first
# BASE_FEATURES), and the policy hands it those.
FEATURE_VERSION = 1
FEATURE_NAMES = (
    "cos_momentum",         # cos(d_mom, -g)
    "cos_second",           # cos(d_2nd, -g)
    "cos_momentum_second",  # cos(d_mom, d_2nd)
    "log_norm_gradient",    # log |d_gd| / |d_2nd|
    "log_norm_momentum",    # log |d_mom| / |d_2nd|
    "log_gradient_ratio",   # log |g_k| / |g_{k-1}|
    "decrease_ratio",       # (f_k - f_{k-1}) / (g_{k-1}' s_{k-1}): 1 linear, 1/2 exact quadratic
    "curvature_ratio",      # s'y / (-g_{k-1}' s): 1 after an exact line search
    "log_step_fraction",    # log of the accepted fraction of the last proposal
    "overridden",           # 1 when the safeguard replaced the last proposal
    "iteration",            # k / (k + 10), bounded
    "valid_gradient",
    "valid_momentum",
    "valid_second_order",
    "budget_spent",         # evaluations spent / option budget (0 without a budget)
)
N_FEATURES = len(FEATURE_NAMES)
BASE_FEATURES = 14  # the features of the first networks (before "budget_spent")

_TINY = 1e-300


class History(NamedTuple):
    """Scalars carried from the last iteration into the statistics (all batch-shaped arrays)."""

    g_norm: object         # |g_{k-1}|
    decrease: object       # f_k - f_{k-1}
    slope: object          # g_{k-1}' s_{k-1}
    curvature: object      # s_{k-1}' y_{k-1}
    step_fraction: object  # accepted fraction of the last proposal (1 for a full step)
    overridden: object     # bool: the safeguard replaced the last proposal
    iteration: object      # k, as a float


# Features that need a previous step; they are 0 at the first iteration.
_NEEDS_PREVIOUS = (True, False, True, False, True, True, True, True, True, False, False,
                   False, False, False, False)


def statistics(g, directions, valid, history, spent=None):
    """Feature vector ``(..., N_FEATURES)`` in the order of ``FEATURE_NAMES``.

    All inner products come from one Gram matrix of ``(-g, d_gd, d_mom, d_2nd)``, so the cost is
    one ``(4, n) x (n, 4)`` product plus O(1) work.

    Parameters
    ----------
    g : array (..., n)
        Current (reduced) gradient.
    directions, valid : tuples from :func:`learnedmin.directions.candidates`.
    history : History
        Scalars carried from the last iteration (see :class:`History`).
    spent : array (...), optional
        The fraction of the evaluation budget spent (``0`` without a budget).
    """
    xp = array_namespace(g, *directions)
    V = xp.stack((-g,) + tuple(directions), axis=-2)             # (..., 4, n)
    G = V @ xp.matrix_transpose(V)                               # (..., 4, 4)
    norms = xp.sqrt(xp.linalg.diagonal(G))                       # -g, d_gd, d_mom, d_2nd
    positive = norms > 0
    inverse = xp.where(positive, 1.0 / xp.where(positive, norms, 1.0), 0.0)  # 0 for a zero vector
    log_n = xp.log(xp.clip(norms, _TINY, None))
    per_slope = safe_div(1.0, history.slope, 0.0, xp)
    feats = xp.stack(
        (
            G[..., 2, 0] * inverse[..., 2] * inverse[..., 0],
            G[..., 3, 0] * inverse[..., 3] * inverse[..., 0],
            G[..., 2, 3] * inverse[..., 2] * inverse[..., 3],
            log_n[..., 1] - log_n[..., 3],
            log_n[..., 2] - log_n[..., 3],
            # log of the ratio, not a difference of logs: |g| and |g_prev| scale alike under
            # f -> a f, and for a power of two the ratio (unlike log a|g| - log a|g_prev|) is
            # unchanged bit for bit
            xp.log(xp.clip(norms[..., 0], _TINY, None) / xp.clip(history.g_norm, _TINY, None)),
            history.decrease * per_slope,
            -history.curvature * per_slope,
            xp.log(xp.clip(history.step_fraction, _TINY, None)),
            xp.astype(history.overridden, g.dtype),
            history.iteration / (history.iteration + 10.0),
        ) + tuple(xp.astype(v, g.dtype) for v in valid)
        + (xp.zeros_like(history.iteration) if spent is None else spent,),
        axis=-1,
    )
    first = ~valid[1]
    if not any_true(first):
        return feats
    needs_prev = xp.asarray(_NEEDS_PREVIOUS, device=g.device)
    return xp.where(xp.logical_and(needs_prev, first[..., None]), 0.0, feats)
