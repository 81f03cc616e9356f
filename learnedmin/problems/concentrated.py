r"""The channel problems with the path weights eliminated: variable projection.

The specular-path models of :mod:`learnedmin.problems.channel` and
:mod:`learnedmin.problems.channel2d` are linear in the complex path weights. For fixed delays
(and angles) :math:`x` the model is :math:`s = A(x)\gamma`, and the weights that minimise the
cost are the linear least-squares solution :math:`\hat\gamma(x) = A^{+} y`. Substituting them
leaves the *concentrated* (variable-projection) cost of the nonlinear parameters alone (Golub &
Pereyra 1973; Richter 2005, sec. 4):

.. math::

    c(x) = \lVert y - A(x)\hat\gamma(x) \rVert^2 = \lVert P^{\perp}(x)\, y \rVert^2,
    \qquad P^{\perp} = I - A A^{+},

with :math:`x = [\tau_{1..P}]` on one axis (``P`` parameters) and :math:`x = [\tau_{1..P},
\mu_{1..P}]` on two (``2P``). Its minimisers are the delays (and angles) of the minimisers of
the full cost, and the Cramér-Rao bound of the concentrated estimator is the corresponding block
of the full bound.

Everything is written in the real form of the channel modules: the observation is the stacked
real vector :math:`b = [\operatorname{Re} y; \operatorname{Im} y]` (``2N`` entries, ``N = M``
or ``KM``), and :math:`A` acts on the stacked weights :math:`[\operatorname{Re}\gamma;
\operatorname{Im}\gamma]` as the ``2N x 2P`` matrix :math:`A_r = [[C, S], [-S, C]]`
(:math:`C = \cos\phi`, :math:`S = \sin\phi`, :math:`\phi = 2\pi\sum_d g^{(d)}\tau^{(d)}_p`).
The weights solve the ``2P x 2P`` normal equations :math:`G\hat w = A_r^{\mathsf T} b`,
:math:`G = A_r^{\mathsf T} A_r` (as :func:`learnedmin.problems.channel.linear_weights`; the
columns all have the norm :math:`\sqrt{N}`, and paths half a resolution cell apart still leave
:math:`G` well conditioned), and the residual is :math:`r = P^{\perp} b = b - A_r\hat w`.

The Jacobian
------------
The derivative of the projector along a parameter :math:`x_i` is :math:`\partial P^{\perp} =
-P^{\perp}\,\partial A_r\, A_r^{+} - (A_r^{+})^{\mathsf T}\,\partial A_r^{\mathsf T} P^{\perp}`,
so the exact (Golub-Pereyra) Jacobian of :math:`r = P^{\perp} b` has the columns

.. math::

    \frac{\partial r}{\partial x_i}
    = -\bigl(P^{\perp}\,\partial_i A_r\,\hat w + (A_r^{+})^{\mathsf T}\,
      \partial_i A_r^{\mathsf T}\, r\bigr)
    = -\bigl(d_i - A_r G^{-1}(A_r^{\mathsf T} d_i - e_i)\bigr),

where :math:`d_i = \partial_i A_r\,\hat w` is the delay (or angle) column of the full model
derivative at :math:`[x, \hat w]` (minus the full Jacobian's column) and :math:`e_i =
\partial_i A_r^{\mathsf T} r`, nonzero only in the two entries of the path that :math:`x_i`
belongs to. One solve with :math:`G` for all columns gives :math:`J`.

Since :math:`A_r^{\mathsf T} r = 0` (the normal equations), :math:`\nabla c = 2J^{\mathsf T} r =
-2 d^{\mathsf T} r` is the nonlinear part of the full gradient at :math:`[x, \hat w]`. The
Gauss-Newton matrix :math:`2 J^{\mathsf T} J` is scaled as the cost, as in the channel modules.

Backends
--------
The functions are written against the array API (:func:`array_api_compat.array_namespace`):
numpy arrays, or torch tensors (float64, any leading batch dimensions, differentiable, nothing
updated in place). The observation ``y`` is complex (``(..., M)``; ``(..., K, M)`` on two axes)
or stacked real (``(..., 2M)``; ``(..., 2KM)``), as in the channel modules; the grids are
converted to the parameters' namespace, device and dtype.

==========================  ==============================  ===============================
quantity                    delay (one axis)                delay and angle (two axes)
==========================  ==============================  ===============================
parameters                  ``tau`` ``(..., P)``            ``x = [tau, mu]`` ``(..., 2P)``
residual, Jacobian          :func:`residual`,               :func:`residual2d`,
                            :func:`jacobian`                :func:`jacobian2d`
cost, gradient              :func:`cost`, :func:`gradient`  :func:`cost2d`, :func:`gradient2d`
Gauss-Newton                :func:`gauss_newton`,           :func:`gauss_newton2d`,
                            :func:`gauss_newton_hessp`      :func:`gauss_newton_hessp2d`
Cramér-Rao bound            :func:`crb`                     :func:`crb2d`
full parameter vector       :func:`full_theta`              :func:`full_theta2d`
one instance for SciPy      :class:`ConcentratedProblem`    :class:`ConcentratedProblem2D`
==========================  ==============================  ===============================

References
----------
.. [1] G. H. Golub and V. Pereyra, "The differentiation of pseudo-inverses and nonlinear least
   squares problems whose variables separate", *SIAM J. Numer. Anal.* 10(2), 413-432, 1973.
.. [2] A. Richter, *Estimation of Radio Channel Parameters: Models and Algorithms*, PhD thesis,
   Technische Universität Ilmenau, 2005 (the RIMAX estimator).

Examples
--------
Levenberg-Marquardt on the delays alone:

>>> import numpy as np
>>> from scipy.optimize import least_squares
>>> from learnedmin.problems.concentrated import ConcentratedProblem
>>> prob = ConcentratedProblem.random(np.random.default_rng(1), P=3, M=32, snr_db=20.0)
>>> prob.n, prob.x0.shape
(3, (3,))
>>> res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
>>> prob.delays_resolved(res.x), prob.full_theta(res.x).shape
(True, (9,))
"""

import math
from types import SimpleNamespace

import numpy as np
from array_api_compat import array_namespace, device

from . import _specular as sp
from . import channel as _ch
from . import channel2d as _ch2

__all__ = [
    "residual",
    "jacobian",
    "cost",
    "gradient",
    "gauss_newton",
    "gauss_newton_hessp",
    "crb",
    "full_theta",
    "residual2d",
    "jacobian2d",
    "cost2d",
    "gradient2d",
    "gauss_newton2d",
    "gauss_newton_hessp2d",
    "crb2d",
    "full_theta2d",
    "ConcentratedProblem",
    "ConcentratedProblem2D",
]


# --------------------------------------------------------------------------------------------
# The projection on any number of grid axes (array API; arguments already checked)


def _flat(a, D, xp):
    """Merge the ``D`` grid axes before the last axis of ``a`` into one."""
    if D == 1:
        return a
    lead = len(a.shape) - D - 1
    size = math.prod(a.shape[lead:lead + D])
    return xp.reshape(a, tuple(a.shape[:lead]) + (size, a.shape[-1]))


def _basis(x, grids, xp):
    """``cos``/``sin`` of the phases and, per axis, ``2 pi g`` times each: all ``(..., N, P)``,
    the grids flattened as in :mod:`learnedmin.problems._specular` (the first axis fastest)."""
    D = len(grids)
    P = x.shape[-1] // D
    omega = [(2 * math.pi) * g[(Ellipsis,) + (None,) * (D - 1 - d) + (slice(None),)
                               + (None,) * (d + 1)] for d, g in enumerate(grids)]
    phase = sum(w * x[(Ellipsis,) + (None,) * D + (slice(d * P, (d + 1) * P),)]
                for d, w in enumerate(omega))
    c, s = xp.cos(phase), xp.sin(phase)
    wc = [_flat(w * c, D, xp) for w in omega]
    ws = [_flat(w * s, D, xp) for w in omega]
    return _flat(c, D, xp), _flat(s, D, xp), wc, ws


def _design(c, s, xp):
    """The real model matrix ``A_r = [[C, S], [-S, C]]`` ``(..., 2N, 2P)`` acting on
    ``[Re gamma; Im gamma]``."""
    return xp.concat([xp.concat([c, s], axis=-1), xp.concat([-s, c], axis=-1)], axis=-2)


# Relative ridge added to the Gram matrix of the model (see _projection).
RIDGE = 1e-13


def _gram(A, xp):
    """``A^T A`` plus a ridge at its rounding level, which keeps the projection defined where
    two paths meet (equal delays make ``A^T A`` singular; the projected residual has a limit
    there)."""
    G = xp.matmul(xp.matrix_transpose(A), A)
    size = G.shape[-1]
    scale = xp.sum(xp.linalg.diagonal(G), axis=-1) / size
    return G + (RIDGE * scale)[..., None, None] * xp.eye(size, dtype=G.dtype, device=G.device)


def _solve(G, B, xp):
    """``G^{-1} B`` for a matrix ``B`` ``(..., 2P, k)``, broadcasting the batch dimensions."""
    shape = tuple(np.broadcast_shapes(tuple(G.shape[:-2]), tuple(B.shape[:-2])))
    G = xp.broadcast_to(G, shape + tuple(G.shape[-2:]))
    B = xp.broadcast_to(B, shape + tuple(B.shape[-2:]))
    return xp.linalg.solve(G, B)


def _projection(x, b, grids, xp):
    """``(A_r, G, w, r)``: the model matrix, its Gram matrix, the least-squares weights
    ``[Re gamma; Im gamma]`` and the projected residual ``b - A_r w``."""
    c, s, _, _ = _basis(x, grids, xp)
    A = _design(c, s, xp)
    G = _gram(A, xp)
    w = _solve(G, sp.rmatvec(A, b, xp)[..., None], xp)[..., 0]
    return A, G, w, b - sp.matvec(A, w, xp)


def _weights(x, b, grids, xp):
    """The least-squares weights ``[Re gamma; Im gamma]`` ``(..., 2P)``."""
    return _projection(x, b, grids, xp)[2]


def _residual(x, b, grids, xp):
    return _projection(x, b, grids, xp)[3]


def _diag(u, xp):
    """``diag(u)`` ``(..., P, P)`` of ``u`` ``(..., P)``, without in-place updates."""
    P = u.shape[-1]
    return u[..., None, :] * xp.eye(P, dtype=u.dtype, device=device(u))


def _residual_and_jacobian(x, b, grids, xp):
    """``(r, J)``: the projected residual and its Golub-Pereyra Jacobian ``(..., 2N, DP)``."""
    c, s, wc, ws = _basis(x, grids, xp)
    P = c.shape[-1]
    A = _design(c, s, xp)
    At = xp.matrix_transpose(A)
    G = _gram(A, xp)
    w = _solve(G, sp.rmatvec(A, b, xp)[..., None], xp)[..., 0]
    r = b - sp.matvec(A, w, xp)
    alpha, beta = w[..., None, :P], w[..., None, P:]
    n = r.shape[-1] // 2
    r_re, r_im = r[..., :n, None], r[..., n:, None]
    d_cols, e_rows = [], []
    for wcd, wsd in zip(wc, ws):
        # d = dA w: Re = omega (beta C - alpha S), Im = -omega (alpha C + beta S).
        d_cols.append(xp.concat([beta * wcd - alpha * wsd, -(alpha * wcd + beta * wsd)],
                                axis=-2))
        # e = dA' r: the alpha column [C; -S] and the beta column [S; C] differentiated.
        e_alpha = xp.sum(-wsd * r_re - wcd * r_im, axis=-2)
        e_beta = xp.sum(wcd * r_re - wsd * r_im, axis=-2)
        e_rows.append(xp.concat([_diag(e_alpha, xp), _diag(e_beta, xp)], axis=-2))
    d = xp.concat(d_cols, axis=-1)
    e = xp.concat(e_rows, axis=-1)
    z = _solve(G, xp.matmul(At, d) - e, xp)
    return r, xp.matmul(A, z) - d


def _full(x, w, xp):
    """``concat([x, w])`` broadcast over the batch dimensions of both."""
    shape = tuple(np.broadcast_shapes(tuple(x.shape[:-1]), tuple(w.shape[:-1])))
    x = xp.broadcast_to(x, shape + (x.shape[-1],))
    w = xp.broadcast_to(w, shape + (w.shape[-1],))
    return xp.concat([x, w], axis=-1)


def _projected_fisher(theta, grids, sigma2, xp):
    r"""The Fisher information of the nonlinear parameters with the weights unknown: the Schur
    complement :math:`(2/\sigma^2)(P^{\perp} d)^{\mathsf T}(P^{\perp} d)` of the full
    information, ``d`` the model derivative along them at the (full) ``theta``."""
    D = len(grids)
    P = theta.shape[-1] // (D + 2)
    x = theta[..., :D * P]
    alpha, beta = theta[..., None, D * P:(D + 1) * P], theta[..., None, (D + 1) * P:]
    c, s, wc, ws = _basis(x, grids, xp)
    A = _design(c, s, xp)
    At = xp.matrix_transpose(A)
    d = xp.concat([xp.concat([beta * wcd - alpha * wsd, -(alpha * wcd + beta * wsd)], axis=-2)
                   for wcd, wsd in zip(wc, ws)], axis=-1)
    pd = d - xp.matmul(A, _solve(xp.matmul(At, A), xp.matmul(At, d), xp))
    return (2 / sigma2)[..., None, None] * xp.matmul(xp.matrix_transpose(pd), pd)


# --------------------------------------------------------------------------------------------
# Arguments


def _paths(x, D, name):
    """Number of paths of the nonlinear parameters ``x`` (``D`` per path), or a ValueError."""
    n = x.shape[-1] if len(x.shape) else 0
    if n == 0 or n % D:
        what = "[delays]" if D == 1 else "[delays, angles]"
        rule = "a positive length" if D == 1 else f"a positive multiple of {D}"
        raise ValueError(f"'{name}' must hold {what}: its last axis must have {rule}; got shape "
                         f"{tuple(x.shape)}")
    return n // D


def _fits(P, N, name, what):
    if P > N:
        raise ValueError(f"'{name}' holds {P} paths but only {N} {what} observe them: the "
                         "weights of more paths than observations are not determined")


def _args(tau, y, freqs):
    """``(xp, grids, b)`` of a 1-D call, every argument checked."""
    xp = array_namespace(tau)
    P = _paths(tau, 1, "tau")
    f = sp.like(freqs, tau, xp, tau.dtype)
    if len(f.shape) < 1:
        raise ValueError(f"'freqs' must have shape (M,) or (..., M); got {tuple(f.shape)}")
    _fits(P, f.shape[-1], "tau", "frequencies")
    return xp, (f,), _ch._observation(y, tau, xp, f.shape[-1])


def _args2d(x, y, freqs, positions):
    """``(xp, grids, b)`` of a 2-D call, every argument checked."""
    xp = array_namespace(x)
    P = _paths(x, 2, "x")
    f, g = _ch2._grids(freqs, positions, x, xp)
    for name, a in (("freqs", f), ("positions", g)):
        if len(a.shape) < 1:
            raise ValueError(f"'{name}' must be 1-D or batched 1-D; got {tuple(a.shape)}")
    _fits(P, f.shape[-1] * g.shape[-1], "x", "samples (antennas x frequencies)")
    return xp, (f, g), _ch2._observation(y, x, xp, g.shape[-1], f.shape[-1])


def _direction(v, x, xp, name="v"):
    v = sp.like(v, x, xp, x.dtype)
    if len(v.shape) < 1 or v.shape[-1] != x.shape[-1]:
        raise ValueError(f"'{name}' must have {x.shape[-1]} entries on its last axis like the "
                         f"parameters; got shape {tuple(v.shape)}")
    return v


def _theta(theta, D):
    """The full truth ``theta`` and its number of paths, or a ValueError naming it."""
    xp = array_namespace(theta)
    n = theta.shape[-1] if len(theta.shape) else 0
    if n == 0 or n % (D + 2):
        layout = ("[delays, Re weights, Im weights]" if D == 1
                  else "[delays, angles, Re weights, Im weights]")
        raise ValueError(f"'theta' must hold {layout}: its last axis must be a positive "
                         f"multiple of {D + 2}; got shape {tuple(theta.shape)}")
    return xp, n // (D + 2)


# --------------------------------------------------------------------------------------------
# Delay (one axis)


def residual(tau, y, freqs):
    r"""The projected residual :math:`r = P^{\perp}(\tau)\,[\operatorname{Re} y;
    \operatorname{Im} y]`.

    Parameters
    ----------
    tau : array, shape (..., P)
        Delays (distinct modulo the unambiguous range), in the units of ``1/freqs``.
    y : array, shape (..., M) complex, or (..., 2M) real ``[Re y; Im y]``
    freqs : array, shape (M,) or (..., M)

    Returns
    -------
    array, shape (..., 2M)
        Real, in ``tau``'s dtype; the full residual at ``full_theta(tau, y, freqs)``.
    """
    xp, grids, b = _args(tau, y, freqs)
    return _residual(tau, b, grids, xp)


def jacobian(tau, y, freqs):
    r"""The exact (Golub-Pereyra) Jacobian of :func:`residual`, :math:`\partial r/\partial\tau`.

    Column ``p`` is :math:`-(P^{\perp}\partial_p A\,\hat\gamma + (A^{+})^{\mathsf T}\partial_p
    A^{\mathsf T} r)` in the real form (see the module's derivation); unlike the full Jacobian it
    depends on ``y``.

    Parameters
    ----------
    tau : array, shape (..., P)
    y : array, shape (..., M) complex, or (..., 2M) real
    freqs : array, shape (M,) or (..., M)

    Returns
    -------
    array, shape (..., 2M, P)
    """
    xp, grids, b = _args(tau, y, freqs)
    return _residual_and_jacobian(tau, b, grids, xp)[1]


def cost(tau, y, freqs):
    r"""The concentrated cost :math:`c(\tau) = \lVert P^{\perp}(\tau) y \rVert^2 = \min_\gamma
    \lVert y - A(\tau)\gamma \rVert^2`.

    Returns
    -------
    array, shape (...)
        Equal to :func:`learnedmin.problems.channel.cost` at :func:`full_theta`.
    """
    r = residual(tau, y, freqs)
    xp = array_namespace(r)
    return xp.sum(r * r, axis=-1)


def gradient(tau, y, freqs):
    r"""The gradient of :func:`cost`, :math:`2 J^{\mathsf T} r`.

    Equal to the delay part of :func:`learnedmin.problems.channel.gradient` at
    :func:`full_theta` (the weights' part vanishes there).

    Returns
    -------
    array, shape (..., P)
    """
    xp, grids, b = _args(tau, y, freqs)
    r, J = _residual_and_jacobian(tau, b, grids, xp)
    return sp.gradient(J, r, xp)


def gauss_newton(tau, y, freqs):
    r"""The Gauss-Newton matrix :math:`2 J^{\mathsf T} J` of :func:`cost`, ``(..., P, P)``.

    Scaled as the cost (no factor ½), as the channel modules' Gauss-Newton products.
    """
    J = jacobian(tau, y, freqs)
    xp = array_namespace(J)
    return 2 * xp.matmul(xp.matrix_transpose(J), J)


def gauss_newton_hessp(tau, v, y, freqs):
    r"""The Gauss-Newton product :math:`2 J^{\mathsf T}(J v)` (the matrix is not formed).

    Parameters
    ----------
    tau, v : array, shape (..., P)
    y : array, shape (..., M) complex, or (..., 2M) real
    freqs : array, shape (M,) or (..., M)

    Returns
    -------
    array, shape (..., P)
    """
    xp = array_namespace(tau)
    v = _direction(v, tau, xp)
    return sp.gauss_newton_hessp(jacobian(tau, y, freqs), v, xp)


def full_theta(tau, y, freqs):
    """The full parameter vector ``[tau, Re gamma, Im gamma]`` with the least-squares weights.

    Returns
    -------
    array, shape (..., 3P)
        ``concat([tau, linear_weights(tau, y, freqs)])`` (see
        :func:`learnedmin.problems.channel.linear_weights`).
    """
    xp, grids, b = _args(tau, y, freqs)
    return _full(tau, _weights(tau, b, grids, xp), xp)


def crb(theta, freqs, sigma2):
    r"""The Cramér-Rao bound on the delays with the weights unknown, ``(..., P, P)``.

    The delay block of :func:`learnedmin.problems.channel.crb`, computed as the inverse of the
    Schur complement :math:`(2/\sigma^2)\,d^{\mathsf T} P^{\perp} d` of the full Fisher
    information (``d``: the model derivative along the delays): the bound of the concentrated
    estimator.

    Parameters
    ----------
    theta : array, shape (..., 3P)
        The full ground truth ``[tau, Re gamma, Im gamma]``.
    freqs : array, shape (M,) or (..., M)
    sigma2 : float or array, shape (...)
        Noise variance :math:`\mathrm{E}|w_m|^2`.

    Returns
    -------
    array, shape (..., P, P)
    """
    xp, P = _theta(theta, 1)
    f = sp.like(freqs, theta, xp, theta.dtype)
    _fits(P, f.shape[-1], "theta", "frequencies")
    F = _projected_fisher(theta, (f,), sp.like(sigma2, theta, xp, theta.dtype), xp)
    return sp.equilibrated_inverse(F)


# --------------------------------------------------------------------------------------------
# Delay and angle (two axes)


def residual2d(x, y, freqs, positions):
    r"""The projected residual of the delay-angle model, :math:`P^{\perp}(\tau, \mu)\,b`.

    Parameters
    ----------
    x : array, shape (..., 2P)
        ``[tau_1..P, mu_1..P]``: delays and angles (spatial frequencies), in the units of
        ``1/freqs`` and ``1/positions``.
    y, freqs, positions : array
        The observation and the grids, as :func:`learnedmin.problems.channel2d.residual` takes
        them.

    Returns
    -------
    array, shape (..., 2KM)
        Real, row-major over ``(K, M)`` as :func:`learnedmin.problems.channel2d.residual`.
    """
    xp, grids, b = _args2d(x, y, freqs, positions)
    return _residual(x, b, grids, xp)


def jacobian2d(x, y, freqs, positions):
    """The exact (Golub-Pereyra) Jacobian of :func:`residual2d`, ``(..., 2KM, 2P)``."""
    xp, grids, b = _args2d(x, y, freqs, positions)
    return _residual_and_jacobian(x, b, grids, xp)[1]


def cost2d(x, y, freqs, positions):
    r"""The concentrated delay-angle cost :math:`\min_\gamma \lVert y - A(\tau, \mu)\gamma
    \rVert^2`, ``(...)``."""
    r = residual2d(x, y, freqs, positions)
    xp = array_namespace(r)
    return xp.sum(r * r, axis=-1)


def gradient2d(x, y, freqs, positions):
    r"""The gradient of :func:`cost2d`, :math:`2 J^{\mathsf T} r`, ``(..., 2P)``: the delay and
    angle part of :func:`learnedmin.problems.channel2d.gradient` at :func:`full_theta2d`."""
    xp, grids, b = _args2d(x, y, freqs, positions)
    r, J = _residual_and_jacobian(x, b, grids, xp)
    return sp.gradient(J, r, xp)


def gauss_newton2d(x, y, freqs, positions):
    r"""The Gauss-Newton matrix :math:`2 J^{\mathsf T} J` of :func:`cost2d`, ``(..., 2P, 2P)``."""
    J = jacobian2d(x, y, freqs, positions)
    xp = array_namespace(J)
    return 2 * xp.matmul(xp.matrix_transpose(J), J)


def gauss_newton_hessp2d(x, v, y, freqs, positions):
    r"""The Gauss-Newton product :math:`2 J^{\mathsf T}(J v)` of :func:`cost2d`, ``(..., 2P)``."""
    xp = array_namespace(x)
    v = _direction(v, x, xp)
    return sp.gauss_newton_hessp(jacobian2d(x, y, freqs, positions), v, xp)


def full_theta2d(x, y, freqs, positions):
    """The full delay-angle parameter vector ``[tau, mu, Re gamma, Im gamma]``, ``(..., 4P)``,
    with the least-squares weights."""
    xp, grids, b = _args2d(x, y, freqs, positions)
    return _full(x, _weights(x, b, grids, xp), xp)


def crb2d(theta, freqs, positions, sigma2):
    r"""The Cramér-Rao bound on ``[tau, mu]`` with the weights unknown, ``(..., 2P, 2P)``.

    The ``[tau, mu]`` block of :func:`learnedmin.problems.channel2d.crb`, as the inverse of the
    Schur complement of the full Fisher information (see :func:`crb`).

    Parameters
    ----------
    theta : array, shape (..., 4P)
        The full ground truth ``[tau, mu, Re gamma, Im gamma]``.
    freqs : array, shape (M,) or (..., M)
    positions : array, shape (K,) or (..., K)
    sigma2 : float or array, shape (...)
    """
    xp, P = _theta(theta, 2)
    grids = _ch2._grids(freqs, positions, theta, xp)
    _fits(P, grids[0].shape[-1] * grids[1].shape[-1], "theta", "samples")
    F = _projected_fisher(theta, grids, sp.like(sigma2, theta, xp, theta.dtype), xp)
    return sp.equilibrated_inverse(F)


# --------------------------------------------------------------------------------------------
# SciPy convenience


class _Concentrated(sp.Instance):
    """One concentrated instance: the functions bound to it, and the full problem (a
    :class:`~learnedmin.problems.channel.ChannelProblem` or
    :class:`~learnedmin.problems.channel2d.ChannelProblem2D`) for the truth-based measures."""

    @classmethod
    def _start(cls, theta0):
        """The delays (and angles) of a sample's full start ``theta0``."""
        D = len(cls._axes)
        return theta0[:D * (theta0.shape[-1] // (D + 2))]

    def _bind(self, full, x0):
        """Keep the full problem ``full`` (its start is irrelevant) and the start ``x0``."""
        self._problem = full
        self.y, self.sigma2, self.name = full.y, full.sigma2, full.name
        self.P = full.P
        self.n = len(self._axes) * self.P
        for a in self._axes:
            for attribute in (a.grid, a.size, a.cell, a.period):
                setattr(self, attribute, getattr(full, attribute))
        self._x0 = np.array(x0)

    @property
    def x0(self):
        """The start (a fresh copy)."""
        return self._x0.copy()

    @property
    def theta_true(self):
        """The full ground truth (a fresh copy), or ``None``."""
        return self._problem.x_true

    @property
    def x_true(self):
        """The nonlinear parameters of the ground truth (a fresh copy), or ``None``."""
        t = self._problem.x_true
        return None if t is None else t[:self.n]

    def _x(self, x, name="x"):
        return sp.vector(x, self.n, name)

    def _padded(self, x):
        """``x`` with zero weights: enough for the full problem's delay and angle measures."""
        return np.concatenate([self._x(x), np.zeros(2 * self.P)])

    def _errors(self, x):
        """The full problem's errors on each axis (its path matching)."""
        return self._problem._errors(self._padded(x))

    def _crb_std(self):
        """The full problem's bounds: the concentrated estimator's are the same block."""
        return self._problem._crb_std()

    def fun(self, x):
        """Concentrated cost (a Python float)."""
        return float(self._f.cost(self._x(x), self.y, *self._grids))

    def jac(self, x):
        """Gradient of :meth:`fun`, shape ``(n,)``."""
        return self._f.gradient(self._x(x), self.y, *self._grids)

    def hess(self, x):
        """Gauss-Newton matrix ``2 J^T J``, shape ``(n, n)`` (for ``minimize(..., hess=...)``)."""
        return self._f.gauss_newton(self._x(x), self.y, *self._grids)

    def hessp(self, x, v):
        """Gauss-Newton product ``2 J^T J v`` (for ``minimize(..., hessp=...)``)."""
        return self._f.gauss_newton_hessp(self._x(x), self._x(v, "v"), self.y, *self._grids)

    def residual(self, x):
        """Projected residual for ``least_squares`` (``fun == 2 * res.cost``)."""
        return self._f.residual(self._x(x), self.y, *self._grids)

    def jacobian(self, x):
        """Jacobian of :meth:`residual`, shape ``(2 * observations, n)``."""
        return self._f.jacobian(self._x(x), self.y, *self._grids)

    def full_theta(self, x):
        """The full parameter vector with the least-squares weights at ``x``."""
        return self._f.full_theta(self._x(x), self.y, *self._grids)


_FUNCTIONS_1D = SimpleNamespace(
    residual=residual, jacobian=jacobian, cost=cost, gradient=gradient, gauss_newton=gauss_newton,
    gauss_newton_hessp=gauss_newton_hessp, full_theta=full_theta)

_FUNCTIONS_2D = SimpleNamespace(
    residual=residual2d, jacobian=jacobian2d, cost=cost2d, gradient=gradient2d,
    gauss_newton=gauss_newton2d, gauss_newton_hessp=gauss_newton_hessp2d,
    full_theta=full_theta2d)


def _start(x0, D, name):
    """The start ``x0`` as a float64 vector of ``D`` parameters per path, or a ValueError."""
    x = np.array(x0, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"'{name}' must be 1-D; got shape {x.shape}")
    _paths(x, D, name)
    return x


@sp.with_fragments(**sp.problem_fragments(_ch.AXES, "tau0", "(P,)", "Start delays.",
                                           truth="The *full* ground truth",
                                           full="learnedmin.problems.channel.ChannelProblem"))
class ConcentratedProblem(_Concentrated):
    r"""One concentrated delay instance for :func:`scipy.optimize.minimize` / ``least_squares``.

    The unknowns are the ``P`` delays; the weights are eliminated (:func:`cost`).

    {instance}

    Examples
    --------
    A trust-region Newton method with the Gauss-Newton matrix, then the weights at its delays:

    >>> from scipy.optimize import minimize
    >>> prob = ConcentratedProblem.random(0, P=2, M=32, snr_db=20.0)
    >>> res = minimize(prob.fun, prob.x0, jac=prob.jac, hess=prob.hess, method="trust-exact")
    >>> prob.delays_resolved(res.x), prob.full_theta(res.x).shape
    (True, (6,))
    """

    _axes, _label, _sample = _ch.AXES, "concentrated", staticmethod(_ch.sample)
    _f = _FUNCTIONS_1D

    def __init__(self, y, freqs, tau0, theta_true=None, sigma2=None, name="concentrated"):
        x0 = _start(tau0, 1, "tau0")
        P = x0.size
        # The full problem checks y, freqs, theta_true and sigma2 (its start is not used).
        full = _ch.ChannelProblem(y, freqs, np.concatenate([x0, np.zeros(2 * P)]), theta_true,
                                  sigma2, name)
        _fits(P, full.M, "tau0", "frequencies")
        self._bind(full, x0)

    @classmethod
    def random(cls, rng, P, M, snr_db, name=None, **options):
        """Draw an instance with :func:`learnedmin.problems.channel.sample` (``options`` as
        there, except ``batch``)."""
        return cls._random(rng, P, (M,), snr_db, name, options)

    def delays_resolved(self, x, tol=0.5):
        """Whether every delay lies within ``tol`` resolution cells of the truth (matched as
        :meth:`learnedmin.problems.channel.ChannelProblem.delays_resolved`)."""
        return self.resolved(x, tol)


@sp.with_fragments(**sp.problem_fragments(_ch2.AXES, "x0", "(2P,)", "Start ``[tau, mu]``.",
                                           truth="The *full* ground truth",
                                           full="learnedmin.problems.channel2d.ChannelProblem2D"))
class ConcentratedProblem2D(sp.Angles, _Concentrated):
    r"""One concentrated delay-angle instance for :func:`scipy.optimize.minimize` /
    ``least_squares``.

    The unknowns are ``x = [tau_1..P, mu_1..P]``; the weights are eliminated (:func:`cost2d`).
    Paths are matched as by :meth:`learnedmin.problems.channel2d.ChannelProblem2D.resolved`.

    {instance}

    Examples
    --------
    >>> from scipy.optimize import least_squares
    >>> prob = ConcentratedProblem2D.random(1, P=2, M=16, K=8, snr_db=20.0)
    >>> res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
    >>> prob.resolved(res.x)
    True
    """

    _axes, _label, _sample = _ch2.AXES, "concentrated2d", staticmethod(_ch2.sample)
    _f = _FUNCTIONS_2D

    def __init__(self, y, freqs, positions, x0, theta_true=None, sigma2=None,
                 name="concentrated2d"):
        x0 = _start(x0, 2, "x0")
        P = x0.size // 2
        full = _ch2.ChannelProblem2D(y, freqs, positions, np.concatenate([x0, np.zeros(2 * P)]),
                                     theta_true, sigma2, name)
        _fits(P, full.M * full.K, "x0", "samples (antennas x frequencies)")
        self._bind(full, x0)

    @classmethod
    def random(cls, rng, P, M, K, snr_db, name=None, **options):
        """Draw an instance with :func:`learnedmin.problems.channel2d.sample` (``options`` as
        there, except ``batch``)."""
        return cls._random(rng, P, (M, K), snr_db, name, options)
