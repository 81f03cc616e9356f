"""Candidate directions: the *descent* half of the method ("which direction").

Three slots, in a fixed order that is written into every weights archive:

==============  ================================================  ==============================
slot            direction                                         natural scale
==============  ================================================  ==============================
gradient        ``-g``                                            Barzilai-Borwein ``s's / s'y``
momentum        ``s = x_k - x_{k-1}``                             itself (a heavy-ball weight)
second_order    L-BFGS two-loop, or Newton-CG when ``hess`` or    itself (the unit step)
                ``hessp`` is given (Gauss-Newton for a
                Gauss-Newton product)
==============  ================================================  ==============================

Each scaled direction is invariant under ``f -> a*f + c`` (a > 0) and equivariant under
``x -> Q x`` for orthogonal ``Q``: the network sees the same numbers on a problem and on its
rescaled or rotated twin.

All functions are written once against the array API and accept any leading batch dimensions, so
the numpy loop and the batched torch training unroll share them.
"""

from typing import NamedTuple

from ._xp import array_namespace, col, dot, norm, safe_div

SLOTS = ("gradient", "momentum", "second_order")
N_SLOTS = len(SLOTS)

# A curvature pair (s, y) is kept only when s'y > CURVATURE_EPS * |s| |y| (Nocedal & Wright
# eq. 7.18 ff.: the two-loop recursion needs s'y > 0 to give a descent direction).
CURVATURE_EPS = 1e-10


class Memory(NamedTuple):
    """Immutable L-BFGS memory: the newest ``m`` pairs, oldest first.

    ``rho`` is ``1 / s'y`` for a kept pair and ``0`` for a rejected one, so a rejected pair is an
    exact no-op in the two-loop recursion while every batch element keeps the same tuple length.
    ``gamma`` is the initial inverse-Hessian scale ``s'y / y'y`` of the newest kept pair.
    """

    s: tuple
    y: tuple
    rho: tuple
    gamma: object


def memory_init(gamma):
    """An empty memory whose initial inverse-Hessian scale is ``gamma``."""
    return Memory((), (), (), gamma)


def memory_push(memory, s, y, m):
    """Return ``memory`` with the pair ``(s, y)`` appended and only the newest ``m`` pairs kept."""
    xp = array_namespace(s, y)
    sy = dot(s, y, xp)
    yy = dot(y, y, xp)
    ok = sy > CURVATURE_EPS * xp.sqrt(dot(s, s, xp) * yy)
    zero = xp.zeros_like(sy)
    rho = xp.where(ok, safe_div(xp.ones_like(sy), sy, zero, xp), zero)
    gamma = xp.where(ok, safe_div(sy, yy, memory.gamma, xp), memory.gamma)
    return Memory(
        (memory.s + (s,))[-m:], (memory.y + (y,))[-m:], (memory.rho + (rho,))[-m:], gamma
    )


def lbfgs_direction(g, memory):
    """L-BFGS two-loop recursion: ``-H_k g`` (Nocedal & Wright, Algorithm 7.4)."""
    xp = array_namespace(g)
    q = g
    alphas = []
    for s, y, rho in zip(reversed(memory.s), reversed(memory.y), reversed(memory.rho)):
        a = rho * dot(s, q, xp)
        alphas.append(a)
        q = q - col(a) * y
    r = col(memory.gamma) * q
    for s, y, rho, a in zip(memory.s, memory.y, memory.rho, reversed(alphas)):
        b = rho * dot(y, r, xp)
        r = r + col(a - b) * s
    return -r


def newton_cg_direction(g, hessp, g0_norm, maxiter):
    """Truncated conjugate gradients on ``H d = -g`` (Nocedal & Wright, Algorithm 7.1).

    The forcing term ``eta = min(0.5, sqrt(|g| / |g_0|))`` is relative, so the direction does not
    change when ``f`` is scaled. On negative curvature the iterate so far is returned, or, on the
    first CG step, ``-g`` scaled by the magnitude of its curvature (a Cauchy-like step).

    Returns ``(d, n_products)`` with ``n_products`` the number of ``hessp`` calls made.
    """
    xp = array_namespace(g)
    gnorm = norm(g, xp)
    eta = xp.minimum(xp.full_like(gnorm, 0.5), xp.sqrt(safe_div(gnorm, g0_norm, gnorm, xp)))
    tol = eta * gnorm
    d = xp.zeros_like(g)
    r = -g
    p = r
    rr = dot(r, r, xp)
    active = gnorm > 0
    calls = 0
    for i in range(maxiter):
        hp = hessp(p)
        calls += 1
        curv = dot(p, hp, xp)
        pp = dot(p, p, xp)
        bad = active & (curv <= 1e-14 * pp * safe_div(norm(hp, xp), xp.sqrt(pp), pp, xp))
        if i == 0:
            # -g scaled by |g'g / g'Hg| on negative curvature at the first step
            first = col(safe_div(rr, xp.abs(curv), xp.ones_like(rr), xp)) * r
            d = xp.where(col(bad), first, d)
        active = active & ~bad
        alpha = xp.where(active, safe_div(rr, curv, xp.zeros_like(rr), xp), xp.zeros_like(rr))
        d = d + col(alpha) * p
        r = r - col(alpha) * hp
        rr_new = dot(r, r, xp)
        active = active & (xp.sqrt(rr_new) > tol)
        if not bool(xp.any(active)):
            break
        beta = safe_div(rr_new, rr, xp.zeros_like(rr), xp)
        p = xp.where(col(active), r + col(beta) * p, p)
        rr = xp.where(active, rr_new, rr)
    return d, calls


def gradient_scale(s, y, fallback):
    """Barzilai-Borwein step length ``s's / s'y`` (BB1); ``fallback`` where ``s'y <= 0``."""
    xp = array_namespace(s, y)
    sy = dot(s, y, xp)
    bb = safe_div(dot(s, s, xp), sy, fallback, xp)
    return xp.where(sy > 0, bb, fallback)


def candidates(g, s_prev, y_prev, has_prev, second, initial_scale):
    """Scaled candidate directions in slot order and their validity flags.

    Parameters
    ----------
    g : array (..., n)
        Gradient at the current point (already reduced to the free variables under bounds).
    s_prev, y_prev : array (..., n)
        Last step and gradient change (zeros before the first step).
    has_prev : bool array (...)
        Whether a previous step exists.
    second : array (..., n)
        The second-order direction (L-BFGS or Newton-CG), already computed.
    initial_scale : array (...)
        Gradient step length used when no curvature is known (the first iteration, or s'y <= 0).

    Returns
    -------
    directions : tuple of three arrays (..., n)
    valid : tuple of three bool arrays (...)
    """
    xp = array_namespace(g, second)
    # Without positive curvature along the last step, keep the previous step's length.
    keep_length = safe_div(norm(s_prev, xp), norm(g, xp), initial_scale, xp)
    fallback = xp.where(has_prev, keep_length, initial_scale)
    alpha = xp.where(has_prev, gradient_scale(s_prev, y_prev, fallback), initial_scale)
    d_gd = -col(alpha) * g
    d_mom = xp.where(col(has_prev), s_prev, xp.zeros_like(s_prev))
    true = xp.ones_like(has_prev)
    return (d_gd, d_mom, second), (true, has_prev, true)
