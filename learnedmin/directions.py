"""Candidate directions: the *descent* half of the method ("which direction").

Three slots, in a fixed order that is written into every weights archive:

==============  ================================================  ==============================
slot            direction                                         natural scale
==============  ================================================  ==============================
gradient        ``-g``                                            Barzilai-Borwein ``s's / s'y``
momentum        ``s = x_k - x_{k-1}``                             itself (a heavy-ball weight)
second_order    BFGS (dense, for ``n <= dense_max``) or L-BFGS    itself (the unit step)
                two-loop; Newton-CG when ``hess`` or ``hessp``
                is given (Gauss-Newton for a Gauss-Newton
                product)
==============  ================================================  ==============================

Each scaled direction is invariant under ``f -> a*f + c`` (a > 0) and equivariant under
``x -> Q x`` for orthogonal ``Q``: the network sees the same numbers on a problem and on its
rescaled or rotated twin.

All functions are written once against the array API and accept any leading batch dimensions, so
the one batched iteration (:mod:`learnedmin.step`) runs them on numpy and torch alike.
"""

from typing import NamedTuple

from ._xp import any_true, array_namespace, col, dot, norm, safe_div, select

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


class DenseMemory(NamedTuple):
    """Immutable dense BFGS state: the inverse-Hessian approximation ``H`` (..., n, n).

    Used for small problems (``n <= dense_max``), where keeping every curvature pair is cheap and
    makes the direction independent of how the variables are scaled once enough pairs are known
    (L-BFGS forgets pairs older than ``m``, which costs many iterations on badly scaled
    problems). ``started`` is false until the first pair has been accepted.
    """

    H: object
    started: object


def memory_init(gamma, like=None):
    """An empty quasi-Newton memory with initial inverse-Hessian scale ``gamma``.

    With ``like`` (a gradient, shape (..., n)) the memory is a dense BFGS matrix ``gamma * I``;
    without it, an empty L-BFGS memory.
    """
    if like is None:
        return Memory((), (), (), gamma)
    xp = array_namespace(like)
    n = like.shape[-1]
    eye = xp.eye(n, dtype=like.dtype, device=like.device)
    H = col(col(gamma)) * eye if gamma.ndim else gamma * eye
    H = H + xp.zeros(like.shape[:-1] + (n, n), dtype=like.dtype, device=like.device)
    return DenseMemory(H, xp.zeros(like.shape[:-1], dtype=xp.bool, device=like.device))


def _dense_push(memory, s, y):
    """BFGS update of the inverse Hessian (Nocedal & Wright eq. 6.17); a pair without positive
    curvature leaves ``H`` as is.

    ``H`` is scaled by ``s'y / y'y`` before the first update (eq. 6.20), and before each later
    update it is scaled *up* by ``tau = s'y / y'H y`` where ``tau > 1`` (Oren & Luenberger's
    self-scaling, restricted to growing ``H``). BFGS corrects an ``H`` that is too large within a
    few steps but one that is too small only slowly (Byrd, Nocedal & Yuan 1987); the first scale
    comes from the stiffest directions, so on badly scaled problems (delays and amplitudes, a
    rescaled feature) ``H`` starts too small in all the others. ``tau`` is invariant under
    ``f -> a f`` and ``x -> Q x``, so the direction keeps both invariances.
    """
    xp = array_namespace(s, y)
    sy = dot(s, y, xp)
    yy = dot(y, y, xp)
    ok = sy > CURVATURE_EPS * xp.sqrt(dot(s, s, xp) * yy)
    started = memory.started | ok
    if not any_true(ok):  # no row learns anything
        return DenseMemory(memory.H, started)
    H = memory.H
    first = ok & ~memory.started
    if any_true(first):
        eye = xp.eye(s.shape[-1], dtype=s.dtype, device=s.device)
        H = xp.where(col(col(first)), col(col(safe_div(sy, yy, 1.0, xp))) * eye, H)
    rho = xp.where(ok, safe_div(1.0, sy, 0.0, xp), 0.0)
    Hy = (H @ y[..., None])[..., 0]
    yHy = dot(y, Hy, xp)
    grow = ok & memory.started & (sy > yHy)
    if any_true(grow):  # tau = 1 elsewhere: skipping the scaling changes no bit
        tau = xp.where(grow, safe_div(sy, yHy, 1.0, xp), 1.0)
        H, Hy, yHy = col(col(tau)) * H, col(tau) * Hy, tau * yHy
    cross = Hy[..., :, None] * s[..., None, :]
    H_new = (H - col(col(rho)) * (cross + xp.matrix_transpose(cross))
             + col(col(rho * rho * yHy + rho)) * (s[..., :, None] * s[..., None, :]))
    return DenseMemory(select(ok, H_new, H, xp), started)


def memory_push(memory, s, y, m):
    """Return ``memory`` updated with the pair ``(s, y)``: for L-BFGS, appended with only the
    newest ``m`` pairs kept; for dense BFGS, the BFGS update."""
    if isinstance(memory, DenseMemory):
        return _dense_push(memory, s, y)
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


def memory_reset(memory, rows, initial_scale, xp):
    """Rows in ``rows`` get an empty memory: L-BFGS pairs turned into exact no-ops (``rho = 0``,
    ``s = y = 0``: a batch keeps one memory length), a dense BFGS matrix back to
    ``initial_scale * I``."""
    if isinstance(memory, DenseMemory):
        fresh = memory_init(initial_scale, memory.H[..., 0])
        return DenseMemory(select(rows, fresh.H, memory.H, xp),
                           select(rows, fresh.started, memory.started, xp))
    return Memory(
        tuple(select(rows, xp.zeros_like(s), s, xp) for s in memory.s),
        tuple(select(rows, xp.zeros_like(y), y, xp) for y in memory.y),
        tuple(select(rows, xp.zeros_like(r), r, xp) for r in memory.rho),
        select(rows, initial_scale, memory.gamma, xp),
    )


def barrier_pair(s, y, g_new, blocked, xp):
    """The gradient change the quasi-Newton memory learns from: ``y``, except on ``blocked`` rows,
    where ``f`` was not finite a little beyond the step taken and the step ends still descending
    (``g_new's < 0``). There the line is read as ending at a barrier: ``y`` gains the multiple of
    ``s`` that makes ``s'y = -g's``, the curvature of the quadratic model whose minimiser along
    ``s`` is the point reached. Without it the memory keeps pointing the direction across the
    barrier, every later step is cut short by the same non-finite region, and the iterates jam
    against it; with it the next direction turns along the barrier, as a direction conjugate to
    ``s`` after an exact line search would. The pair keeps positive curvature."""
    push = dot(g_new, s, xp)
    bend = blocked & (push < 0)
    if not any_true(bend):
        return y
    extra = safe_div(-push, dot(s, s, xp), xp.zeros_like(push), xp)
    return select(bend, y + col(extra) * s, y, xp)


def quasi_newton_direction(g, memory):
    """``-H_k g`` for either memory: dense BFGS, or the L-BFGS two-loop recursion."""
    if isinstance(memory, DenseMemory):
        return -(memory.H @ g[..., None])[..., 0]
    return lbfgs_direction(g, memory)


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


def newton_cg_products(g, g0_norm, maxiter, diagonal=None, rows=None):
    """Truncated conjugate gradients on ``H d = -g`` (Nocedal & Wright, Algorithm 7.1), with a
    Jacobi preconditioner when ``diagonal`` is given.

    The inner iteration stops by the quadratic-model test of Nash & Sofer (1990): after CG step
    ``i`` the model ``q(d) = g'd + d'Hd/2`` has decreased by ``Q_i`` in all and by ``dq_i`` in
    that step, and the iteration ends when ``i * dq_i <= eta * Q_i``. Model values are in units
    of ``f``, so the test, unlike a residual norm, does not depend on the units of the
    variables. The forcing term ``eta = min(0.5, sqrt(|g| / |g_0|))`` tightens as the run
    converges. On negative curvature the iterate so far is returned, or, on the first CG step,
    the (preconditioned) steepest-descent direction scaled by the magnitude of its curvature
    (a Cauchy-like step).

    Plain CG iterates depend on the units of the variables: stopped early on a badly scaled
    problem (delays and amplitudes, say) they point almost along the gradient of the stiffest
    variables. Preconditioned by ``diag(H)`` (``diagonal``, positive, (..., n)) the iterates, and
    so the truncated direction, are the same in any diagonal rescaling of the variables.

    A generator: it yields ``(p, rows)``, the vectors ``p`` (..., n) whose products ``H p`` it
    needs and the rows that need them, and is sent the products back, so that the caller decides
    how they are computed. ``rows`` (bool, (...)) restricts the solve to those rows; the others
    keep ``d = 0``. Returns ``(d, n_products)``.
    """
    xp = array_namespace(g)
    gnorm = norm(g, xp)
    eta = xp.minimum(xp.full_like(gnorm, 0.5), xp.sqrt(safe_div(gnorm, g0_norm, gnorm, xp)))

    def solve(r):
        return r if diagonal is None else r / diagonal

    d = xp.zeros_like(g)
    r = -g
    z = solve(r)
    p = z
    rz = dot(r, z, xp)
    decrease = xp.zeros_like(rz)  # Q_i: total decrease of the quadratic model
    active = gnorm > 0 if rows is None else (gnorm > 0) & rows
    calls = 0
    for i in range(maxiter if bool(xp.any(active)) else 0):
        hp = yield p, active
        calls += 1
        if rows is not None:  # rows not asked may come back as NaN: keep them out of the sums
            hp = xp.where(col(active), hp, 0.0)
        curv = dot(p, hp, xp)
        pp = dot(p, p, xp)
        bad = active & (curv <= 1e-14 * pp * safe_div(norm(hp, xp), xp.sqrt(pp), pp, xp))
        if i == 0:
            # on negative curvature at the first step: z = M^-1 (-g) scaled by |r'z / z'Hz|
            first = col(safe_div(rz, xp.abs(curv), xp.ones_like(rz), xp)) * z
            d = xp.where(col(bad), first, d)
        active = active & ~bad
        alpha = xp.where(active, safe_div(rz, curv, xp.zeros_like(rz), xp), xp.zeros_like(rz))
        d = d + col(alpha) * p
        r = r - col(alpha) * hp
        z = solve(r)
        rz_new = dot(r, z, xp)
        step_decrease = 0.5 * alpha * rz  # q_{i-1} - q_i for a (preconditioned) CG step
        decrease = decrease + step_decrease
        active = active & (rz_new > 0) & ((i + 1) * step_decrease > eta * decrease)
        if not bool(xp.any(active)):
            break
        beta = safe_div(rz_new, rz, xp.zeros_like(rz), xp)
        p = xp.where(col(active), z + col(beta) * p, p)
        rz = xp.where(active, rz_new, rz)
    return d, calls


def newton_cg_direction(g, hessp, g0_norm, maxiter, diagonal=None):
    """:func:`newton_cg_products` with the products computed by ``hessp(p)``.

    Returns ``(d, n_products)`` with ``n_products`` the number of ``hessp`` calls made.
    """
    solve = newton_cg_products(g, g0_norm, maxiter, diagonal)
    try:
        p, _ = next(solve)
        while True:
            p, _ = solve.send(hessp(p))
    except StopIteration as done:
        return done.value


def jacobi_diagonal(diag, floor=1e-12):
    """A positive Jacobi preconditioner from Hessian diagonals (..., n): ``|diag|``, raised to at
    least ``floor * max|diag|`` per row; ones on a row whose diagonal is zero or not finite, and
    ``None`` when that holds for every row (no preconditioning).
    """
    if diag is None or diag.shape[-1] == 0:
        return None
    xp = array_namespace(diag)
    mag = xp.abs(diag)
    top = xp.max(mag, axis=-1)
    usable = xp.all(xp.isfinite(mag), axis=-1) & (top > 0)
    if not bool(xp.any(usable)):
        return None
    return xp.where(col(usable), xp.maximum(mag, col(floor * top)), xp.ones_like(mag))


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
    if any_true(has_prev):
        keep_length = safe_div(norm(s_prev, xp), norm(g, xp), initial_scale, xp)
        fallback = xp.where(has_prev, keep_length, initial_scale)
        alpha = xp.where(has_prev, gradient_scale(s_prev, y_prev, fallback), initial_scale)
        d_mom = select(has_prev, s_prev, xp.zeros_like(s_prev), xp)
    else:  # the first iteration of every row
        alpha, d_mom = initial_scale, xp.zeros_like(s_prev)
    d_gd = -col(alpha) * g
    true = xp.ones_like(has_prev)
    return (d_gd, d_mom, second), (true, has_prev, true)
