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
>>> from scipy.optimize import least_squares
>>> from learnedmin.problems.channel2d import ChannelProblem2D
>>> prob = ChannelProblem2D.random(1, P=2, M=16, K=8, snr_db=20.0)
>>> res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
>>> prob.resolved(res.x), prob.angle_errors(res.x).shape
(True, (2,))
"""

import math
from types import SimpleNamespace

from array_api_compat import array_namespace, device

from . import _paths
from . import _specular as sp
from . import channel as _ch
from .channel import UNITS, frequency_grid

__all__ = ["UNITS", "frequency_grid", "antenna_grid", "model", "residual", "cost", "gradient",
           "jacobian", "gauss_newton_hessp", "fisher_information", "crb", "crb_variances",
           "ChannelSample2D", "sample", "ChannelProblem2D"]


# The model's two grid axes: the delays (on the subcarrier frequencies, the faster axis of
# the observation) and the angles (on the K antenna positions).
ANGLE_AXIS = sp.Axis("angle", "K", "positions", "antenna positions", "angle_cell", "angle_period",
                     "mu", 2.0)
AXES = (_ch.DELAY_AXIS, ANGLE_AXIS)

ChannelSample2D = _paths.sample_type(
    "ChannelSample2D", AXES, "One (or a stack of) random delay-angle instance(s) drawn by "
    ":func:`sample`.", __name__)


def antenna_grid(K, units="natural", centred=False):
    """The antenna positions ``g_k`` of a half-wavelength uniform linear array, in ``units``.

    The angle axis' :func:`~learnedmin.problems.channel.frequency_grid`, ``(K,)`` float64: in
    natural units ``g_k = k/2`` (wavelengths), with the angles as ``mu = sin(azimuth)`` in
    ``[-1, 1)``; in scaled units ``g_k = k/K``, with the angles in resolution cells ``2/K`` of
    ``mu``. A centred grid uses ``k - (K-1)/2`` instead of ``k = 0..K-1`` (which decouples the
    angles from the weight phases).

    Parameters
    ----------
    K : int
        Number of antennas, ``K >= 2``.
    units : {"natural", "scaled"}
    centred : bool

    Examples
    --------
    >>> antenna_grid(4)
    array([0. , 0.5, 1. , 1.5])
    >>> antenna_grid(4, "scaled", centred=True)
    array([-0.375, -0.125,  0.125,  0.375])
    """
    return sp.uniform_grid(ANGLE_AXIS, K, units, centred)


# --------------------------------------------------------------------------------------------
# The model and its derivatives (array API, any leading batch dimensions)


def _n_paths(theta):
    """The number of paths of ``theta`` (``(..., 4P)``), or a ``ValueError``."""
    return sp.n_paths(theta, AXES)


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
    r"""The least-squares cost :math:`c(\theta) = r^{\mathsf T} r`, ``(...)``: one real value per
    batch element, as :func:`learnedmin.problems.channel.cost`."""
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
    theta, freqs, positions, sigma2 : array
        As :func:`fisher_information`.

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


@sp.with_fragments(**_paths.SAMPLE_FRAGMENTS)
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
    {paths}
    M, K : int
        Numbers of subcarriers and antennas, each ``>= 2``.
    {options}
    delay_perturbation, angle_perturbation : float
        Largest delay and angle errors of the start, in resolution cells.
    {weights}

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
    d = _paths.sample(rng, AXES, P, (M, K), snr_db, batch=batch, units=units, centred=centred,
                      min_separation=min_separation, margin=margin, spread_db=spread_db,
                      snr_reference=snr_reference,
                      perturbations=(delay_perturbation, angle_perturbation),
                      gain_perturbation_db=gain_perturbation_db,
                      phase_perturbation=phase_perturbation)
    return ChannelSample2D(d.y, *d.grids, d.sigma2, d.theta_true, d.theta0, units, *d.cells)


# --------------------------------------------------------------------------------------------
# SciPy convenience


@sp.with_fragments(**sp.problem_fragments(AXES, "theta0", "(4P,)",
                                           "Start ``[tau, mu, Re gamma, Im gamma]``."))
class ChannelProblem2D(sp.Angles, sp.PathProblem):
    r"""One delay-angle instance for :func:`scipy.optimize.minimize` / ``least_squares``.

    The error measures match each true path with an estimated one as a whole: by the assignment
    of least total Chebyshev distance in cells, with circular distances on each axis (the model
    is periodic in each up to a weight sign).

    {instance}

    Examples
    --------
    >>> from scipy.optimize import minimize
    >>> prob = ChannelProblem2D.random(0, P=1, M=16, K=8, snr_db=20.0)
    >>> res = minimize(prob.fun, prob.x0, jac=prob.jac, hessp=prob.hessp, method="trust-ncg")
    >>> prob.resolved(res.x), prob.delay_errors(res.x).shape
    (True, (1,))
    """

    _axes, _label, _sample = AXES, "channel2d", staticmethod(sample)
    _model = SimpleNamespace(cost=cost, gradient=gradient, gauss_newton_hessp=gauss_newton_hessp,
                             residual=residual, jacobian=jacobian, crb=crb)

    def __init__(self, y, freqs, positions, theta0, theta_true=None, sigma2=None,
                 name="channel2d"):
        self._setup(y, (freqs, positions), theta0, theta_true, sigma2, name)

    @classmethod
    def random(cls, rng, P, M, K, snr_db, name=None, **options):
        """Draw an instance with :func:`sample` (``options`` as there, except ``batch``)."""
        return cls._random(rng, P, (M, K), snr_db, name, options)
