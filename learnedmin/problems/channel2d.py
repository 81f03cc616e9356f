r"""Specular-path channel estimation in delay and angle: a 2-D sum of complex exponentials.

The radio channel is observed on ``M`` subcarriers ``f_m`` at the ``K`` antennas ``g_k`` of a
uniform linear array as a frequency response made of ``P`` specular paths (Richter 2005, ch. 2
and 3, restricted to delay and azimuth on a uniform linear array):

.. math::

    y_{km} = s_{km}(\theta) + w_{km}, \qquad
    s_{km}(\theta) = \sum_{p=1}^{P} \gamma_p \, a_m(\tau_p) \, b_k(\mu_p), \qquad
    a_m(\tau) = e^{-j 2\pi f_m \tau}, \quad b_k(\mu) = e^{-j 2\pi g_k \mu},

where :math:`\mu = \sin\varphi` is the spatial frequency of the azimuth :math:`\varphi` and
:math:`g_k` the position of antenna ``k`` in wavelengths; with half-wavelength spacing
:math:`g_k = k/2` and :math:`b_k(\mu) = e^{-j\pi k\mu}`. The noise is circular complex white
Gaussian, :math:`\mathrm{E}|w_{km}|^2 = \sigma^2`. The real parameter vector is

.. math::

    \theta = [\tau_1, \dots, \tau_P,\; \mu_1, \dots, \mu_P,\;
              \operatorname{Re}\gamma_1, \dots, \operatorname{Re}\gamma_P,\;
              \operatorname{Im}\gamma_1, \dots, \operatorname{Im}\gamma_P] \in \mathbb{R}^{4P}.

The observation is flattened row-major over ``(K, M)`` (index ``k M + m``) and the cost is
:math:`c(\theta) = \lVert y - s(\theta) \rVert^2 = \lVert r \rVert^2` with the stacked real
residual :math:`r = [\operatorname{Re}(y - s); \operatorname{Im}(y - s)] \in \mathbb{R}^{2KM}`.
With the complex model derivative :math:`D = \partial s / \partial \theta^{\mathsf T}`
(``KM x 4P``),

.. math::

    \frac{\partial s_{km}}{\partial \tau_p} = -j 2\pi f_m \gamma_p a_m b_k, \quad
    \frac{\partial s_{km}}{\partial \mu_p} = -j 2\pi g_k \gamma_p a_m b_k, \quad
    \frac{\partial s_{km}}{\partial \operatorname{Re}\gamma_p} = a_m b_k, \quad
    \frac{\partial s_{km}}{\partial \operatorname{Im}\gamma_p} = j a_m b_k

(:math:`a_m = a_m(\tau_p)`, :math:`b_k = b_k(\mu_p)`), the residual Jacobian is
:math:`J = -[\operatorname{Re} D; \operatorname{Im} D]` (``2KM x 4P``), the gradient
:math:`\nabla c = 2 J^{\mathsf T} r`, the Gauss-Newton Hessian :math:`2 J^{\mathsf T} J`, and the
Fisher information :math:`F = (2/\sigma^2) J^{\mathsf T} J`, whose inverse is the Cramér-Rao
bound. This is :mod:`learnedmin.problems.channel` with a second, spatial, frequency axis: for
``K = 1`` and ``g_0 = 0`` the two models coincide.

Units
-----
The model only depends on the products :math:`f_m \tau_p` and :math:`g_k \mu_p`, so a choice of
units is a choice of the grids (:func:`learnedmin.problems.channel.frequency_grid` and
:func:`antenna_grid`); the weights are plain complex numbers in every case.

========  ================  =====================  ================  =================
units     ``f_m``; ``g_k``  ``tau``; ``mu``        cells             unambiguous
========  ================  =====================  ================  =================
natural   ``m``; ``k/2``    fraction of ``1/Δf``;  ``1/M``; ``2/K``  ``1``; ``2``
                            ``sin(azimuth)``
scaled    ``m/M``; ``k/K``  resolution cells:      ``1``; ``1``      ``M``; ``K``
                            natural times ``M``;
                            natural times ``K/2``
physical  ``m Δf`` (Hz);    seconds;               ``1/(M Δf)``;     ``1/Δf``; ``λ/d``
          ``k d/λ``         ``sin(azimuth)``       ``λ/(K d)``
========  ================  =====================  ================  =================

Each entry gives the delay axis, then the angle axis (``m = 0..M-1`` and ``k = 0..K-1``, or
centred as ``m - (M-1)/2`` and ``k - (K-1)/2``; ``d`` is the antenna spacing, ``d = λ/2`` in
natural units). Delays lie in ``[0, 1)`` and angles in ``[-1, 1)`` in natural units, in
``[0, M)`` and ``[-K/2, K/2)`` cells in scaled units. As in one dimension, natural units are
badly scaled: the curvature of the cost is about :math:`8\pi^2 |\gamma|^2 K M^3/3` along a
delay, :math:`2\pi^2 |\gamma|^2 M K^3/3` along an angle and :math:`2KM` along a weight; scaled
units remove most of the disparity.

Backends
--------
:func:`model`, :func:`residual`, :func:`cost`, :func:`gradient`, :func:`jacobian`,
:func:`gauss_newton_hessp`, :func:`fisher_information`, :func:`crb` and :func:`crb_variances`
are written against the array API as in :mod:`learnedmin.problems.channel`: numpy for the
benchmark, torch (float64, any leading batch dimensions, differentiable, nothing updated in
place) for training. ``y`` is either complex (``(..., K, M)``) or the stacked real vector
``[Re y.ravel(); Im y.ravel()]`` (``(..., 2KM)``); ``freqs`` (``(M,)`` or ``(..., M)``) and
``positions`` (``(K,)`` or ``(..., K)``) are converted to ``theta``'s namespace, device and dtype.

:func:`sample` draws random instances with numpy; :class:`ChannelProblem2D` wraps one for
:func:`scipy.optimize.minimize` and :func:`scipy.optimize.least_squares`.

References
----------
.. [1] A. Richter, *Estimation of Radio Channel Parameters: Models and Algorithms*, PhD thesis,
   Technische Universität Ilmenau, 2005 (the RIMAX estimator).

Examples
--------
>>> import numpy as np
>>> from scipy.optimize import least_squares
>>> from learnedmin.problems.channel2d import ChannelProblem2D
>>> prob = ChannelProblem2D.random(np.random.default_rng(1), P=2, M=16, K=8, snr_db=20.0)
>>> res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
>>> prob.resolved(res.x)
True
"""

import math
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
from array_api_compat import array_namespace, device

from . import _specular as sp
from . import channel as _ch
from .channel import UNITS, frequency_grid

__all__ = [
    "UNITS",
    "frequency_grid",
    "antenna_grid",
    "model",
    "residual",
    "cost",
    "gradient",
    "jacobian",
    "gauss_newton_hessp",
    "fisher_information",
    "crb",
    "crb_variances",
    "ChannelSample2D",
    "sample",
    "ChannelProblem2D",
]


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"'{name}' must be an integer >= {minimum}; got {value!r}")
    return int(value)


def antenna_grid(K, units="natural", centred=False):
    """The antenna positions ``g_k`` of a half-wavelength uniform linear array, in ``units``.

    Parameters
    ----------
    K : int
        Number of antennas, ``K >= 2``.
    units : {"natural", "scaled"}
        ``"natural"``: ``g_k = k/2`` (wavelengths), angles as ``mu = sin(azimuth)`` in
        ``[-1, 1)``. ``"scaled"``: ``g_k = k/K``, angles in resolution cells ``2/K`` of ``mu``.
    centred : bool
        Use ``k - (K-1)/2`` instead of ``k = 0..K-1`` (decouples angles from weight phases).

    Returns
    -------
    numpy.ndarray
        ``(K,)`` float64.

    Examples
    --------
    >>> antenna_grid(4)
    array([0. , 0.5, 1. , 1.5])
    >>> antenna_grid(4, units="scaled", centred=True)
    array([-0.375, -0.125,  0.125,  0.375])
    """
    K = _check_int("K", K, 2)
    _ch._check_units(units)
    k = np.arange(K, dtype=np.float64)
    if centred:
        k = k - (K - 1) / 2
    return k / K if units == "scaled" else k / 2


# --------------------------------------------------------------------------------------------
# The model and its derivatives (array API, any leading batch dimensions)


def _n_paths(theta):
    n = theta.shape[-1]
    if n == 0 or n % 4:
        raise ValueError(
            "'theta' must hold [delays, angles, Re weights, Im weights]: its last axis must be "
            f"a positive multiple of 4; got length {n}"
        )
    return n // 4


def _grids(freqs, positions, theta, xp):
    """The grids of the model's axes, fastest first: frequencies, then antenna positions."""
    return sp.like(freqs, theta, xp, theta.dtype), sp.like(positions, theta, xp, theta.dtype)


def _observation(y, theta, xp, K, M):
    """``y`` as the stacked real vector ``(..., 2KM)`` in ``theta``'s dtype."""
    y = sp.like(y, theta, xp)
    if xp.isdtype(y.dtype, "complex floating"):
        if tuple(y.shape[-2:]) != (K, M):
            raise ValueError(f"complex 'y' must have shape (..., K, M) = (..., {K}, {M}) (one "
                             f"entry per antenna and frequency); got shape {tuple(y.shape)}")
        y = xp.reshape(y, tuple(y.shape[:-2]) + (K * M,))
    elif y.shape[-1] != 2 * K * M:
        raise ValueError(f"real 'y' must be the stacked [Re y; Im y] of the flattened (K, M) "
                         f"grid, with 2KM = {2 * K * M} entries on its last axis; got shape "
                         f"{tuple(y.shape)}")
    return sp.stacked(y, theta, xp, K * M)


def model(theta, freqs, positions):
    r"""The noiseless response :math:`s_{km} = \sum_p \gamma_p e^{-j 2\pi (f_m \tau_p + g_k
    \mu_p)}`.

    Parameters
    ----------
    theta : array, shape (..., 4P)
        ``[tau_1..P, mu_1..P, Re gamma_1..P, Im gamma_1..P]``, real.
    freqs : array, shape (M,) or (..., M)
        Subcarrier frequencies, in the units of ``1/tau``.
    positions : array, shape (K,) or (..., K)
        Antenna positions, in the units of ``1/mu`` (see :func:`antenna_grid`).

    Returns
    -------
    array, shape (..., K, M)
        Complex.

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.array([0.25, 0.5, 1.0, 0.0])
    >>> np.round(model(theta, frequency_grid(2), antenna_grid(2)), 12)
    array([[ 1.+0.j,  0.-1.j],
           [ 0.-1.j, -1.-0.j]])
    """
    xp = array_namespace(theta)
    _n_paths(theta)
    re, im = sp.model_re_im(theta, _grids(freqs, positions, theta, xp), xp)
    return re + 1j * im


def residual(theta, y, freqs, positions):
    r"""The stacked real residual :math:`r = [\operatorname{Re}(y - s); \operatorname{Im}(y - s)]`.

    Parameters
    ----------
    theta : array, shape (..., 4P)
    y : array, shape (..., K, M) complex, or (..., 2KM) real ``[Re y.ravel(); Im y.ravel()]``
    freqs : array, shape (M,) or (..., M)
    positions : array, shape (K,) or (..., K)

    Returns
    -------
    array, shape (..., 2KM)
        Real, in ``theta``'s dtype, row-major over ``(K, M)``; ``cost == sum(r**2)``.
    """
    xp = array_namespace(theta)
    _n_paths(theta)
    f, g = _grids(freqs, positions, theta, xp)
    y = _observation(y, theta, xp, g.shape[-1], f.shape[-1])
    return sp.residual(theta, y, (f, g), xp)


def cost(theta, y, freqs, positions):
    r"""The least-squares cost :math:`c(\theta) = \lVert y - s(\theta) \rVert^2 = r^{\mathsf T} r`.

    Minus the log-likelihood times :math:`\sigma^2`, up to a constant (no factor ½).

    Returns
    -------
    array, shape (...)
        One real value per batch element.
    """
    r = residual(theta, y, freqs, positions)
    xp = array_namespace(r)
    return xp.sum(r * r, axis=-1)


def jacobian(theta, freqs, positions):
    r"""The Jacobian of :func:`residual`, :math:`J = -[\operatorname{Re} D; \operatorname{Im} D]`.

    Columns are ordered as ``theta``: for path ``p``, with :math:`\phi = 2\pi(f_m\tau_p +
    g_k\mu_p)`, :math:`c = \cos\phi`, :math:`s = \sin\phi`, :math:`\gamma_p = \alpha_p +
    j\beta_p` and :math:`u = (\beta c - \alpha s) - j(\alpha c + \beta s) = -j\gamma_p e^{-j\phi}`,
    :math:`\partial s/\partial\tau_p = 2\pi f_m u`, :math:`\partial s/\partial\mu_p = 2\pi g_k
    u`, :math:`\partial s/\partial\alpha_p = c - j s`, :math:`\partial s/\partial\beta_p = s + j
    c`.

    Parameters
    ----------
    theta : array, shape (..., 4P)
    freqs : array, shape (M,) or (..., M)
    positions : array, shape (K,) or (..., K)

    Returns
    -------
    array, shape (..., 2KM, 4P)
        Real; independent of ``y``.
    """
    xp = array_namespace(theta)
    _n_paths(theta)
    return sp.jacobian(theta, _grids(freqs, positions, theta, xp), xp)


def gradient(theta, y, freqs, positions):
    r"""The gradient of :func:`cost`, :math:`2 J^{\mathsf T} r`.

    Returns
    -------
    array, shape (..., 4P)
    """
    return sp.gradient(jacobian(theta, freqs, positions), residual(theta, y, freqs, positions),
                       array_namespace(theta))


def gauss_newton_hessp(theta, v, freqs, positions):
    r"""The Gauss-Newton Hessian-vector product :math:`2 J^{\mathsf T} (J v)`.

    Scaled as :func:`cost`; :math:`\sigma^2` times the Fisher information applied to ``v``. The
    matrix :math:`J^{\mathsf T} J` is never formed.

    Parameters
    ----------
    theta, v : array, shape (..., 4P)
    freqs : array, shape (M,) or (..., M)
    positions : array, shape (K,) or (..., K)

    Returns
    -------
    array, shape (..., 4P)
    """
    xp = array_namespace(theta)
    return sp.gauss_newton_hessp(jacobian(theta, freqs, positions),
                                 sp.like(v, theta, xp, theta.dtype), xp)


def fisher_information(theta, freqs, positions, sigma2):
    r"""The Fisher information :math:`F = (2/\sigma^2) J^{\mathsf T} J` in white noise.

    Parameters
    ----------
    theta : array, shape (..., 4P)
    freqs : array, shape (M,) or (..., M)
    positions : array, shape (K,) or (..., K)
    sigma2 : float or array, shape (...)
        Noise variance :math:`\mathrm{E}|w_{km}|^2`.

    Returns
    -------
    array, shape (..., 4P, 4P)
    """
    xp = array_namespace(theta)
    return sp.fisher_information(jacobian(theta, freqs, positions),
                                 sp.like(sigma2, theta, xp, theta.dtype), xp)


def crb(theta, freqs, positions, sigma2):
    r"""The Cramér-Rao bound :math:`F^{-1}` on the covariance of unbiased estimates of ``theta``.

    Inverted after symmetric diagonal equilibration, as
    :func:`learnedmin.problems.channel.crb`. For one path the delay and angle entries are the
    single-tone bounds of each axis with the other axis' samples as repetitions,

    .. math::

        \operatorname{var}(\hat\tau) \ge \frac{6}{(2\pi\Delta f)^2\,\mathrm{SNR}\,K M (M^2-1)},
        \qquad
        \operatorname{var}(\hat\mu) \ge \frac{6}{(2\pi\Delta g)^2\,\mathrm{SNR}\,M K (K^2-1)},

    with :math:`\mathrm{SNR} = |\gamma|^2/\sigma^2` (:math:`2\pi\Delta g = \pi` in natural units).

    Parameters
    ----------
    theta : array, shape (..., 4P)
    freqs : array, shape (M,) or (..., M)
    positions : array, shape (K,) or (..., K)
    sigma2 : float or array, shape (...)

    Returns
    -------
    array, shape (..., 4P, 4P)
        Ordered as ``theta``; :func:`crb_variances` extracts the delay and angle variances.
    """
    return sp.equilibrated_inverse(fisher_information(theta, freqs, positions, sigma2))


def crb_variances(theta, freqs, positions, sigma2):
    """The delay and angle entries of the diagonal of :func:`crb`.

    Returns
    -------
    var_tau, var_mu : array, shape (..., P)
        Lower bounds on the variances of unbiased delay and angle estimates, in the units of
        ``theta``.
    """
    xp = array_namespace(theta)
    P = _n_paths(theta)
    C = crb(theta, freqs, positions, sigma2)
    diag = xp.sum(C * xp.eye(4 * P, dtype=C.dtype, device=device(C)), axis=-1)
    return diag[..., :P], diag[..., P:2 * P]


# --------------------------------------------------------------------------------------------
# Random ground truths and perturbed starts (numpy)


class ChannelSample2D(NamedTuple):
    """One (or a stack of) random delay-angle instance(s) drawn by :func:`sample`.

    Attributes
    ----------
    y : numpy.ndarray, shape (..., K, M), complex128
        Noisy observation.
    freqs : numpy.ndarray, shape (M,)
        Frequency grid in ``units`` (shared by the batch).
    positions : numpy.ndarray, shape (K,)
        Antenna grid in ``units`` (shared by the batch).
    sigma2 : numpy.ndarray, shape batch
        Noise variance :math:`\\mathrm{E}|w_{km}|^2`.
    theta_true : numpy.ndarray, shape (..., 4P)
        Ground truth, delays sorted ascending.
    theta0 : numpy.ndarray, shape (..., 4P)
        Start: the ground truth perturbed.
    units : str
        ``"natural"`` or ``"scaled"``.
    cell : float
        The delay resolution cell ``1/(M Δf)`` in ``units`` (``1/M`` natural, ``1`` scaled).
    angle_cell : float
        The angle resolution cell ``1/(K Δg)`` in ``units`` (``2/K`` natural, ``1`` scaled).
    """

    y: Any
    freqs: Any
    positions: Any
    sigma2: Any
    theta_true: Any
    theta0: Any
    units: str
    cell: float
    angle_cell: float


def _separated(tau, mu, min_separation):
    """Whether every pair of paths is ``min_separation`` apart in delay or in angle, ``(...)``."""
    d = np.maximum(np.abs(tau[..., :, None] - tau[..., None, :]),
                   np.abs(mu[..., :, None] - mu[..., None, :]))
    return np.all((d >= min_separation) | np.eye(tau.shape[-1], dtype=bool), axis=(-2, -1))


def _separate(rng, first, snr_db, K, min_separation, margin, options, tries=1000):
    """Angles for the instances of a 1-D sample ``first``, redrawing whole instances until the
    separation rule holds (so the result is uniform over the valid configurations).

    The 1-D sample carries the delays (drawn with no separation) and weights, and the start's
    delays and weights; angles in cells are uniform on ``[-K/2 + margin, K/2 - margin]``. Returns
    ``theta_true``, ``theta0`` (both ``[tau, Re gamma, Im gamma]``), ``sigma2`` and the angles in
    cells, flattened to one batch axis.
    """
    P = first.theta_true.shape[-1] // 3
    M = first.freqs.size
    true, start = first.theta_true.reshape(-1, 3 * P), first.theta0.reshape(-1, 3 * P)
    sigma2 = np.reshape(first.sigma2, -1)
    snr = np.broadcast_to(np.asarray(snr_db, dtype=np.float64), np.shape(first.sigma2)).ravel()
    mu = rng.uniform(-K / 2 + margin, K / 2 - margin, size=(sigma2.size, P))
    for _ in range(tries):
        bad = ~_separated(true[:, :P] / first.cell, mu, min_separation)
        n_bad = int(np.sum(bad))
        if n_bad == 0:
            return true, start, sigma2, mu
        redo = _ch.sample(rng, P, M, snr[bad], batch=n_bad, min_separation=0.0, margin=margin,
                          **options)
        true[bad], start[bad], sigma2[bad] = redo.theta_true, redo.theta0, redo.sigma2
        mu[bad] = rng.uniform(-K / 2 + margin, K / 2 - margin, size=(n_bad, P))
    raise ValueError(
        f"no configuration of {P} paths {min_separation} cells apart in delay or angle was found "
        f"in {tries} draws (M = {M}, K = {K}, margins of {margin} cells); lower 'P', "
        "'min_separation' or 'margin', or raise 'M' or 'K'"
    )


def sample(rng, P, M, K, snr_db, *, batch=None, units="natural", centred=False,
           min_separation=1.0, margin=1.0, spread_db=10.0, snr_reference="total",
           delay_perturbation=0.25, angle_perturbation=0.25, gain_perturbation_db=3.0,
           phase_perturbation=math.pi / 8):
    r"""Draw random ground truths, noisy observations and perturbed starts.

    * **Delays and weights** as :func:`learnedmin.problems.channel.sample` draws them with no
      delay separation: delays uniform in ``[margin, M - margin]`` cells and sorted, power
      uniform in dB over ``[-spread_db, 0]``, phase uniform.
    * **Angles**: uniform in ``[-K/2 + margin, K/2 - margin]`` cells (in natural units ``mu`` in
      ``[-1 + 2 margin/K, 1 - 2 margin/K]``, away from endfire where the angle wraps around).
    * **Separation rule**: every pair of paths is at least ``min_separation`` cells apart in
      delay *or* in angle (Chebyshev distance in cells). An instance that breaks the rule is
      drawn again whole, so the instances are uniform over the configurations that keep it; a
      ``ValueError`` says when the paths cannot fit, or no such configuration turned up in 1000
      draws.
    * **Noise**: circular complex Gaussian, :math:`\mathrm{E}|w_{km}|^2 = \sigma^2`, with the SNR
      per sample (antenna and subcarrier) :math:`\sum_p |\gamma_p|^2 / \sigma^2`
      (``snr_reference="total"``) or :math:`\max_p |\gamma_p|^2 / \sigma^2` (``"strongest"``).
    * **Start**: each delay moved by ``U(-1, 1) * delay_perturbation`` cells, each angle by
      ``U(-1, 1) * angle_perturbation`` cells, each weight scaled by ``U(-1, 1) *
      gain_perturbation_db`` dB and rotated by ``U(-1, 1) * phase_perturbation`` radians.

    Parameters
    ----------
    rng : numpy.random.Generator or int or None
        Passed through :func:`numpy.random.default_rng`.
    P : int
        Number of paths, ``P >= 1``.
    M, K : int
        Numbers of subcarriers and antennas, each ``>= 2``.
    snr_db : float or array_like
        SNR in dB; an array broadcasts against the batch shape.
    batch : int or tuple of int, optional
        Leading batch shape (``None``: one unbatched instance).
    units : {"natural", "scaled"}
        Units of the grids, delays and angles (see the module's table).
    centred : bool
        Centred frequency and antenna grids.
    min_separation, margin : float
        In resolution cells of each axis.
    spread_db : float
        Range of the path powers in dB.
    snr_reference : {"total", "strongest"}
    delay_perturbation, angle_perturbation : float
        Largest delay and angle errors of the start, in resolution cells.
    gain_perturbation_db, phase_perturbation : float
        Largest weight magnitude error (dB) and phase error (radians) of the start.

    Returns
    -------
    ChannelSample2D
        ``y, freqs, positions, sigma2, theta_true, theta0, units, cell, angle_cell``; numpy
        float64 / complex128.

    Examples
    --------
    >>> s = sample(0, P=3, M=16, K=8, snr_db=20.0, batch=5)
    >>> s.y.shape, s.theta0.shape, s.sigma2.shape, s.cell, s.angle_cell
    ((5, 8, 16), (5, 12), (5,), 0.0625, 0.25)
    """
    rng = np.random.default_rng(rng)
    K = _check_int("K", K, 2)
    sp.check_nonneg(min_separation=min_separation, angle_perturbation=angle_perturbation)
    options = dict(units=units, centred=centred, spread_db=spread_db,
                   snr_reference=snr_reference, delay_perturbation=delay_perturbation,
                   gain_perturbation_db=gain_perturbation_db,
                   phase_perturbation=phase_perturbation)
    # Also validates P, M, snr_db, batch and the shared options, with the 1-D messages.
    first = _ch.sample(rng, P, M, snr_db, batch=batch, min_separation=0.0, margin=margin,
                       **options)
    P, M, shape = int(P), int(M), np.shape(first.sigma2)
    if K < 2 * margin:
        raise ValueError(f"margins of {margin} cells do not fit in K = {K} angle cells: need "
                         "2*margin <= K")
    # At most floor(L / s) + 1 points s apart fit on a side of L cells.
    if min_separation > 0 and P > ((M - 2 * margin) // min_separation + 1) * (
            (K - 2 * margin) // min_separation + 1):
        raise ValueError(f"{P} paths {min_separation} cells apart in delay or angle do not fit "
                         f"in M x K = {M} x {K} cells with margins of {margin} cells")
    true, start, sigma2, mu_cells = _separate(rng, first, snr_db, K, min_separation, margin,
                                              options)
    angle_cell = 1.0 if units == "scaled" else 2.0 / K
    positions = antenna_grid(K, units, centred)
    d_cells = angle_perturbation * rng.uniform(-1.0, 1.0, size=mu_cells.shape)
    theta_true = np.concatenate([true[:, :P], mu_cells * angle_cell, true[:, P:]], axis=-1)
    theta0 = np.concatenate([start[:, :P], (mu_cells + d_cells) * angle_cell, start[:, P:]],
                            axis=-1)
    size = sigma2.shape + (K, M)
    noise = rng.standard_normal(size) + 1j * rng.standard_normal(size)
    y = model(theta_true, first.freqs, positions) + np.sqrt(sigma2 / 2)[:, None, None] * noise
    return ChannelSample2D(y.reshape(shape + (K, M)), first.freqs, positions,
                           sigma2.reshape(shape)[()], theta_true.reshape(shape + (4 * P,)),
                           theta0.reshape(shape + (4 * P,)), units, first.cell, angle_cell)


# --------------------------------------------------------------------------------------------
# SciPy convenience


def _grid(a, name):
    a = np.array(a, dtype=np.float64)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"'{name}' must be a 1-D grid of at least 2 entries; got shape {a.shape}")
    return a


class ChannelProblem2D(sp.BoundModel):
    r"""One delay-angle instance for :func:`scipy.optimize.minimize` / ``least_squares``.

    Parameters
    ----------
    y : array_like, shape (K, M), complex
        Observation.
    freqs : array_like, shape (M,)
        Uniform frequency grid (any units, see the module's table).
    positions : array_like, shape (K,)
        Uniform antenna grid.
    theta0 : array_like, shape (4P,)
        Start ``[tau, mu, Re gamma, Im gamma]``.
    theta_true : array_like, shape (4P,), optional
        Ground truth (needed by the error, resolution and CRB methods).
    sigma2 : float, optional
        Noise variance (needed by :meth:`crb_delay` and :meth:`crb_angle`).
    name : str
        A label.

    Attributes
    ----------
    P, M, K, n : int
        Paths, subcarriers, antennas, ``4P``.
    cell, angle_cell : float
        Resolution cells ``1/(M Δf)`` and ``1/(K Δg)``; ``period``, ``angle_period``: the
        unambiguous ranges ``1/Δf`` and ``1/Δg``.

    Examples
    --------
    >>> from scipy.optimize import minimize
    >>> prob = ChannelProblem2D.random(0, P=1, M=16, K=8, snr_db=20.0)
    >>> res = minimize(prob.fun, prob.x0, jac=prob.jac, hessp=prob.hessp, method="trust-ncg")
    >>> prob.resolved(res.x)
    True
    """

    _model = SimpleNamespace(cost=cost, gradient=gradient, gauss_newton_hessp=gauss_newton_hessp,
                             residual=residual, jacobian=jacobian)

    def __init__(self, y, freqs, positions, theta0, theta_true=None, sigma2=None,
                 name="channel2d"):
        self.freqs, self.positions = _grid(freqs, "freqs"), _grid(positions, "positions")
        self.M, self.K = self.freqs.size, self.positions.size
        y = np.asarray(y)
        if y.shape != (self.K, self.M):
            raise ValueError(f"'y' must have shape (K, M) = {(self.K, self.M)}; got {y.shape}")
        self.y = np.array(y, dtype=np.complex128)
        x0 = np.array(theta0, dtype=np.float64)
        if x0.ndim != 1:
            raise ValueError(f"'theta0' must be 1-D; got shape {x0.shape}")
        self.P = _n_paths(x0)
        self._instance(x0, theta_true, sigma2, name)
        self.angle_period = 1.0 / abs(float(sp.spacing(self.positions)))
        self.angle_cell = self.angle_period / self.K

    @classmethod
    def from_sample(cls, s, name="channel2d"):
        """The problem of an unbatched :class:`ChannelSample2D`."""
        if np.ndim(s.sigma2) != 0:
            raise ValueError("'from_sample' needs an unbatched sample (batch=None)")
        return cls(s.y, s.freqs, s.positions, s.theta0, s.theta_true, float(s.sigma2), name)

    @classmethod
    def random(cls, rng, P, M, K, snr_db, name=None, **options):
        """Draw an instance with :func:`sample` (``options`` as there, except ``batch``)."""
        if "batch" in options:
            raise TypeError("'batch' is not an option of ChannelProblem2D.random; use sample()")
        s = sample(rng, P, M, K, snr_db, **options)
        return cls.from_sample(s, name or f"channel2d-P{P}-M{M}-K{K}-{snr_db:g}dB-{s.units}")

    def __repr__(self):
        return f"ChannelProblem2D(name={self.name!r}, P={self.P}, M={self.M}, K={self.K})"

    @property
    def _grids(self):
        return (self.freqs, self.positions)

    def _crb_std(self):
        if self._x_true is None or self.sigma2 is None:
            raise ValueError("the CRB needs 'theta_true' and 'sigma2'")
        var_tau, var_mu = crb_variances(self._x_true, self.freqs, self.positions, self.sigma2)
        return np.sqrt(var_tau), np.sqrt(var_mu)

    def crb_delay(self):
        """Square roots of the Cramér-Rao bound on each delay at the ground truth, ``(P,)``."""
        return self._crb_std()[0]

    def crb_angle(self):
        """Square roots of the Cramér-Rao bound on each angle at the ground truth, ``(P,)``."""
        return self._crb_std()[1]

    def _errors(self, theta):
        """Delay and angle errors in cells of the estimated path matched to each true path.

        Both axes are compared by circular distance (the model is periodic in each up to a weight
        sign); estimates are matched to true paths by the assignment of least total Chebyshev
        distance in cells, which pairs every estimate with its own path whenever all lie within
        half the paths' separation of them.
        """
        from scipy.optimize import linear_sum_assignment

        if self._x_true is None:
            raise ValueError("path errors need 'theta_true'")
        x, t, P = sp.vector(theta, self.n), self._x_true, self.P
        if not np.all(np.isfinite(x[:2 * P])):
            return np.full(P, np.inf), np.full(P, np.inf)
        dt = sp.circular(x[:P, None] - t[None, :P], self.period) / self.cell
        dm = sp.circular(x[P:2 * P, None] - t[None, P:2 * P], self.angle_period) / self.angle_cell
        est, true = linear_sum_assignment(np.maximum(dt, dm))
        order = np.argsort(true)
        return dt[est, true][order], dm[est, true][order]

    def delay_errors(self, theta):
        """Absolute delay errors in resolution cells, one per true path, ``(P,)`` (``inf`` for a
        non-finite ``theta``)."""
        return self._errors(theta)[0]

    def angle_errors(self, theta):
        """Absolute angle errors in resolution cells, one per true path, ``(P,)``."""
        return self._errors(theta)[1]

    def resolved(self, theta, tol=0.5):
        """Whether every delay and every angle lies within ``tol`` cells of its true path.

        With :func:`sample`'s default start (errors up to 0.25 cell) the start itself passes; a
        stricter test compares :meth:`delay_errors` with ``k * crb_delay() / cell``.
        """
        if not (np.isfinite(tol) and tol > 0):
            raise ValueError(f"'tol' must be a positive number of cells; got {tol!r}")
        dt, dm = self._errors(theta)
        return bool(np.all(dt <= tol) and np.all(dm <= tol))
