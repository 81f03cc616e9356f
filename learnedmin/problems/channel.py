r"""Specular-path channel estimation: a sum of complex exponentials on a frequency grid.

The radio channel is observed on ``M`` subcarriers ``f_m`` as a frequency response made of ``P``
specular paths (Richter 2005, ch. 2 and 3, restricted to the delay dimension):

.. math::

    y_m = s_m(\theta) + w_m, \qquad
    s_m(\theta) = \sum_{p=1}^{P} \gamma_p \, a_m(\tau_p), \qquad
    a_m(\tau) = e^{-j 2\pi f_m \tau},

with circular complex white Gaussian noise, :math:`\mathrm{E}|w_m|^2 = \sigma^2` (real and
imaginary parts each of variance :math:`\sigma^2/2`). The real parameter vector is

.. math::

    \theta = [\tau_1, \dots, \tau_P,\;
              \operatorname{Re}\gamma_1, \dots, \operatorname{Re}\gamma_P,\;
              \operatorname{Im}\gamma_1, \dots, \operatorname{Im}\gamma_P] \in \mathbb{R}^{3P}.

The maximum-likelihood estimate minimises the cost :math:`c(\theta) = \lVert y - s(\theta)
\rVert^2 = \lVert r \rVert^2`, where :math:`r = [\operatorname{Re}(y - s);
\operatorname{Im}(y - s)] \in \mathbb{R}^{2M}` is the stacked real residual. With the complex
model derivative :math:`D = \partial s / \partial \theta^{\mathsf T}` (``M x 3P``),

.. math::

    \frac{\partial s_m}{\partial \tau_p} = -j 2\pi f_m \gamma_p a_m(\tau_p), \quad
    \frac{\partial s_m}{\partial \operatorname{Re}\gamma_p} = a_m(\tau_p), \quad
    \frac{\partial s_m}{\partial \operatorname{Im}\gamma_p} = j a_m(\tau_p),

the residual Jacobian is :math:`J = -[\operatorname{Re} D; \operatorname{Im} D]`
(``2M x 3P``), the gradient :math:`\nabla c = 2 J^{\mathsf T} r = -2\operatorname{Re}\{D^{\mathsf
H}(y - s)\}`, the Gauss-Newton Hessian :math:`2 J^{\mathsf T} J = 2\operatorname{Re}\{D^{\mathsf
H} D\}`, and the Fisher information in white noise (Richter 2005, sec. 3.2)
:math:`F = (2/\sigma^2)\operatorname{Re}\{D^{\mathsf H} D\} = (2/\sigma^2) J^{\mathsf T} J`, whose
inverse is the Cramér-Rao bound.

Units
-----
The model only depends on the products :math:`f_m \tau_p`, so a choice of units is a choice of
the frequency grid (:func:`frequency_grid`); the weights are plain complex numbers in every case.

=========  ===================  ===============================  ===============  ============
units      ``f_m``              ``tau``                          resolution cell  unambiguous
=========  ===================  ===============================  ===============  ============
natural    ``m``                fraction of the unambiguous      ``1/M``          ``1``
                                range ``1/Δf``, in ``[0, 1)``
scaled     ``m / M``            resolution cells (natural * M)   ``1``            ``M``
physical   ``m Δf`` (Hz)        seconds                          ``1/(M Δf)``     ``1/Δf``
=========  ===================  ===============================  ===============  ============

(``m = 0..M-1``, or ``m - (M-1)/2`` on a centred grid.) In natural units the curvature of the cost
along a delay is about :math:`4\pi^2 |\gamma|^2 M^3/3` and along a weight about :math:`2M`: the
ratio, some :math:`10^4` to :math:`10^5` for ``M = 64``, is the hard case on which plain gradient
methods and L-BFGS stall while Levenberg-Marquardt (affine-invariant Gauss-Newton) does not. The
scaled units remove most of that disparity.

Backends
--------
:func:`model`, :func:`residual`, :func:`cost`, :func:`gradient`, :func:`jacobian`,
:func:`gauss_newton_hessp`, :func:`linear_weights`, :func:`fisher_information` and :func:`crb` are
written once against the array API (:func:`array_api_compat.array_namespace`): numpy arrays for
the benchmark, torch tensors (float64, any leading batch dimensions, differentiable, nothing
updated in place) for training. The observation ``y`` is either complex (``(..., M)``) or the
stacked real vector ``[Re y; Im y]`` (``(..., 2M)``); ``freqs`` is ``(M,)`` or ``(..., M)`` and
is converted to ``theta``'s namespace, device and dtype, so numpy frequencies may be used with
torch parameters.

:func:`sample` draws random ground truths with numpy (``batch=`` stacks them); the training code
converts them with :func:`torch.from_numpy`. :class:`ChannelProblem` wraps one instance for
:func:`scipy.optimize.minimize` and :func:`scipy.optimize.least_squares`, and
:func:`bench_problems` builds the benchmark's ``channel`` suite.

References
----------
.. [1] A. Richter, *Estimation of Radio Channel Parameters: Models and Algorithms*, PhD thesis,
   Technische Universität Ilmenau, 2005 (the RIMAX estimator).
.. [2] D. C. Rife and R. R. Boorstyn, "Single-tone parameter estimation from discrete-time
   observations", *IEEE Trans. Inf. Theory* 20(5), 591-598, 1974 (the single-tone bound).

Examples
--------
>>> import numpy as np
>>> from scipy.optimize import least_squares
>>> from learnedmin.problems.channel import ChannelProblem
>>> prob = ChannelProblem.random(np.random.default_rng(1), P=2, M=32, snr_db=20.0)
>>> res = least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm")
>>> prob.delays_resolved(res.x)
True
"""

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Optional

import numpy as np
from array_api_compat import array_namespace

from . import _paths
from . import _specular as sp
from ._specular import UNITS

__all__ = ["UNITS", "frequency_grid", "model", "residual", "cost", "gradient", "jacobian",
           "gauss_newton_hessp", "linear_weights", "fisher_information", "crb", "ChannelSample",
           "sample", "ChannelProblem", "BenchProblem", "bench_problems"]

# The model's one grid axis: the delays, observed on the M subcarrier frequencies.
DELAY_AXIS = sp.Axis("delay", "M", "freqs", "frequencies", "cell", "period", "tau", 1.0)
AXES = (DELAY_AXIS,)

ChannelSample = _paths.sample_type(
    "ChannelSample", AXES, "One (or a stack of) random channel-estimation instance(s) drawn by "
    ":func:`sample`.", __name__)


# --------------------------------------------------------------------------------------------
# The frequency grid


def frequency_grid(M, units="natural", centred=False):
    """The subcarrier frequencies ``f_m`` in the given units.

    Parameters
    ----------
    M : int
        Number of subcarriers, ``M >= 2``.
    units : {"natural", "scaled"}
        ``"natural"``: ``f_m = m`` (multiples of the spacing Δf), delays as fractions of the
        unambiguous range ``1/Δf``. ``"scaled"``: ``f_m = m / M``, delays in resolution cells
        ``1/(M Δf)``.
    centred : bool
        Use ``m - (M-1)/2`` instead of ``m = 0..M-1`` (decouples delays from weight phases).

    Returns
    -------
    numpy.ndarray
        ``(M,)`` float64.

    Examples
    --------
    >>> frequency_grid(4)
    array([0., 1., 2., 3.])
    >>> frequency_grid(4, units="scaled", centred=True)
    array([-0.375, -0.125,  0.125,  0.375])
    """
    return sp.uniform_grid(DELAY_AXIS, M, units, centred)


# --------------------------------------------------------------------------------------------
# The model and its derivatives (array API, any leading batch dimensions)


def _n_paths(theta):
    """The number of paths of ``theta`` (``(..., 3P)``), or a ``ValueError``."""
    return sp.n_paths(theta, AXES)


def _freqs(freqs, theta, xp):
    return (sp.like(freqs, theta, xp, theta.dtype),)


def _observation(y, theta, xp, M):
    """``y`` as the stacked real vector ``[Re y; Im y]`` (``(..., 2M)``) in ``theta``'s dtype."""
    y = sp.like(y, theta, xp)
    if xp.isdtype(y.dtype, "complex floating"):
        if y.shape[-1] != M:
            raise ValueError(f"complex 'y' must have M = {M} entries on its last axis (one per "
                             f"frequency); got shape {tuple(y.shape)}")
    elif y.shape[-1] != 2 * M:
        raise ValueError(f"real 'y' must be the stacked [Re y; Im y] with 2M = {2 * M} entries "
                         f"on its last axis; got shape {tuple(y.shape)}")
    return sp.stacked(y, theta, xp, M)


def model(theta, freqs):
    r"""The noiseless frequency response :math:`s_m = \sum_p \gamma_p e^{-j 2\pi f_m \tau_p}`.

    Parameters
    ----------
    theta : array, shape (..., 3P)
        ``[tau_1..P, Re gamma_1..P, Im gamma_1..P]``, real.
    freqs : array, shape (M,) or (..., M)
        Subcarrier frequencies, in the units of ``1/tau`` (see :func:`frequency_grid`).

    Returns
    -------
    array, shape (..., M)
        Complex.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(model(np.array([0.25, 1.0, 0.0]), frequency_grid(2)), 12)
    array([1.+0.j, 0.-1.j])
    """
    xp = array_namespace(theta)
    _n_paths(theta)
    re, im = sp.model_re_im(theta, _freqs(freqs, theta, xp), xp)
    return re + 1j * im


def residual(theta, y, freqs):
    r"""The stacked real residual :math:`r = [\operatorname{Re}(y - s); \operatorname{Im}(y - s)]`.

    Parameters
    ----------
    theta : array, shape (..., 3P)
    y : array, shape (..., M) complex, or (..., 2M) real ``[Re y; Im y]``
    freqs : array, shape (M,) or (..., M)

    Returns
    -------
    array, shape (..., 2M)
        Real, in ``theta``'s dtype; ``cost == sum(r**2)``.
    """
    xp = array_namespace(theta)
    _n_paths(theta)
    grids = _freqs(freqs, theta, xp)
    return sp.residual(theta, _observation(y, theta, xp, grids[0].shape[-1]), grids, xp)


def cost(theta, y, freqs):
    r"""The least-squares cost :math:`c(\theta) = \lVert y - s(\theta) \rVert^2 = r^{\mathsf T} r`.

    Minus the log-likelihood times :math:`\sigma^2`, up to a constant (no factor ½).

    Returns
    -------
    array, shape (...)
        One real value per batch element.
    """
    r = residual(theta, y, freqs)
    xp = array_namespace(r)
    return xp.sum(r * r, axis=-1)


def cost_and_gradient(theta, y, freqs):
    r""":func:`cost` and :func:`gradient` together, from one evaluation of the phases.

    With :math:`r = [r_{re}; r_{im}]` the residual and :math:`\phi = 2\pi f_m \tau_p`,
    :math:`\partial c/\partial\alpha_p = -2\sum_m (r_{re} \cos\phi - r_{im} \sin\phi)`,
    :math:`\partial c/\partial\beta_p = -2\sum_m (r_{re} \sin\phi + r_{im} \cos\phi)` and
    :math:`\partial c/\partial\tau_p = -2\sum_m 2\pi f_m [r_{re}(\beta_p\cos\phi -
    \alpha_p\sin\phi) - r_{im}(\alpha_p\cos\phi + \beta_p\sin\phi)]`: the gradient
    without forming the Jacobian (the form a batched solver wants, ``jac=True``).

    Returns
    -------
    cost : array, shape (...)
    gradient : array, shape (..., 3P)
    """
    xp = array_namespace(theta)
    _n_paths(theta)
    grids = _freqs(freqs, theta, xp)
    return sp.cost_and_gradient(theta, _observation(y, theta, xp, grids[0].shape[-1]), grids, xp)


def jacobian(theta, freqs):
    r"""The Jacobian of :func:`residual`, :math:`J = -[\operatorname{Re} D; \operatorname{Im} D]`.

    Columns are ordered as ``theta``: for path ``p``, with :math:`\phi = 2\pi f_m \tau_p`,
    :math:`\partial s/\partial\tau_p = 2\pi f_m [(\beta c - \alpha s) - j(\alpha c + \beta s)]`,
    :math:`\partial s/\partial\alpha_p = c - j s`, :math:`\partial s/\partial\beta_p = s + j c`
    (:math:`c = \cos\phi`, :math:`s = \sin\phi`, :math:`\gamma_p = \alpha_p + j\beta_p`).

    Parameters
    ----------
    theta : array, shape (..., 3P)
    freqs : array, shape (M,) or (..., M)

    Returns
    -------
    array, shape (..., 2M, 3P)
        Real; independent of ``y`` (the model is linear in the residual).
    """
    xp = array_namespace(theta)
    _n_paths(theta)
    return sp.jacobian(theta, _freqs(freqs, theta, xp), xp)


def gradient(theta, y, freqs):
    r"""The gradient of :func:`cost`, :math:`2 J^{\mathsf T} r = -2\operatorname{Re}\{D^{\mathsf
    H}(y - s)\}`.

    Returns
    -------
    array, shape (..., 3P)
    """
    return sp.gradient(jacobian(theta, freqs), residual(theta, y, freqs), array_namespace(theta))


def gauss_newton_hessp(theta, v, freqs):
    r"""The Gauss-Newton Hessian-vector product :math:`2 J^{\mathsf T} (J v)`.

    The Gauss-Newton matrix :math:`2 J^{\mathsf T} J = 2\operatorname{Re}\{D^{\mathsf H} D\}` is
    scaled as :func:`cost` (the exact Hessian minus the term :math:`2\sum_i r_i \nabla^2 r_i`
    that vanishes at a noiseless fit); it is :math:`\sigma^2` times the Fisher information.

    Parameters
    ----------
    theta, v : array, shape (..., 3P)
    freqs : array, shape (M,) or (..., M)

    Returns
    -------
    array, shape (..., 3P)
    """
    xp = array_namespace(theta)
    return sp.gauss_newton_hessp(jacobian(theta, freqs), sp.like(v, theta, xp, theta.dtype), xp)


def linear_weights(tau, y, freqs):
    r"""Least-squares path weights for fixed delays (variable projection, Richter 2005 sec. 4).

    For fixed delays the model is linear in the weights, :math:`s = A(\tau)\gamma` with
    :math:`A_{mp} = e^{-j 2\pi f_m \tau_p}`, and :math:`\hat\gamma = (A^{\mathsf H} A)^{-1}
    A^{\mathsf H} y`, solved here in its real form (normal equations of ``[[c, s], [-s, c]]``
    acting on ``[Re gamma; Im gamma]``).

    Parameters
    ----------
    tau : array, shape (..., P)
        Delays (distinct modulo the unambiguous range).
    y : array, shape (..., M) complex, or (..., 2M) real
    freqs : array, shape (M,) or (..., M)

    Returns
    -------
    array, shape (..., 2P)
        ``[Re gamma_1..P, Im gamma_1..P]``: ``concat([tau, linear_weights(tau, y, freqs)])`` is
        a full ``theta``.
    """
    xp = array_namespace(tau)
    f = sp.like(freqs, tau, xp, tau.dtype)
    phase = (2 * math.pi) * f[..., :, None] * tau[..., None, :]
    c, s = xp.cos(phase), xp.sin(phase)
    # Rows [Re; Im] of the model, columns [alpha; beta]: Re = alpha c + beta s,
    # Im = -alpha s + beta c.
    A = xp.concat([xp.concat([c, s], axis=-1), xp.concat([-s, c], axis=-1)], axis=-2)
    b = _observation(y, tau, xp, f.shape[-1])
    return xp.linalg.solve(xp.matmul(xp.matrix_transpose(A), A), sp.rmatvec(A, b, xp)[..., None])[
        ..., 0]


def fisher_information(theta, freqs, sigma2):
    r"""The Fisher information :math:`F = (2/\sigma^2)\operatorname{Re}\{D^{\mathsf H} D\}`.

    For circular complex white Gaussian noise of variance :math:`\sigma^2` per sample (Richter
    2005, eq. for the FIM of the specular-path model with :math:`R = \sigma^2 I`); equal to
    :math:`(2/\sigma^2) J^{\mathsf T} J`.

    Parameters
    ----------
    theta : array, shape (..., 3P)
    freqs : array, shape (M,) or (..., M)
    sigma2 : float or array, shape (...)
        Noise variance :math:`\mathrm{E}|w_m|^2`.

    Returns
    -------
    array, shape (..., 3P, 3P)
    """
    xp = array_namespace(theta)
    return sp.fisher_information(jacobian(theta, freqs), sp.like(sigma2, theta, xp, theta.dtype),
                                 xp)


def crb(theta, freqs, sigma2):
    r"""The Cramér-Rao bound :math:`F^{-1}` on the covariance of unbiased estimates of ``theta``.

    The inverse is taken after symmetric diagonal equilibration,
    :math:`F^{-1} = S (S F S)^{-1} S` with :math:`S = \operatorname{diag}(F)^{-1/2}`, so the
    orders of magnitude between delay and weight entries (natural units) cost no accuracy.

    For one path on ``f_m = m Δf`` the delay entry is the classical single-tone bound
    (Rife & Boorstyn 1974) :math:`\operatorname{var}(\hat\tau) \ge 6 / ((2\pi\Delta f)^2\,
    \mathrm{SNR}\, M(M^2-1))` with :math:`\mathrm{SNR} = |\gamma|^2/\sigma^2`.

    Parameters
    ----------
    theta, freqs, sigma2 : array
        As :func:`fisher_information`.

    Returns
    -------
    array, shape (..., 3P, 3P)
    """
    return sp.equilibrated_inverse(fisher_information(theta, freqs, sigma2))


# --------------------------------------------------------------------------------------------
# Random ground truths and perturbed starts (numpy)


@sp.with_fragments(**_paths.SAMPLE_FRAGMENTS)
def sample(rng, P, M, snr_db, *, batch=None, units="natural", centred=False,
           min_separation=1.0, margin=1.0, spread_db=10.0, snr_reference="total",
           delay_perturbation=0.25, gain_perturbation_db=3.0, phase_perturbation=math.pi / 8):
    r"""Draw random ground truths, noisy observations and perturbed starts.

    The seed's recipe: "randomly generating ground truths which are then altered slightly".

    * **Delays**: ``P`` delays in ``[margin, M - margin]`` resolution cells, pairwise at least
      ``min_separation`` cells apart, uniformly distributed over all such configurations (draw
      ``P`` points on a shortened interval, sort them and add ``k * min_separation``); sorted
      ascending. The margin keeps them away from the wrap-around of the unambiguous range.
    * **Weights**: power uniform in dB over ``[-spread_db, 0]``, phase uniform over
      ``[-pi, pi)``.
    * **Noise**: circular complex Gaussian, :math:`\mathrm{E}|w_m|^2 = \sigma^2`, with
      :math:`\mathrm{SNR} = 10^{\mathrm{snr\_db}/10}` defined per subcarrier as

      - ``snr_reference="total"``: :math:`\sum_p |\gamma_p|^2 / \sigma^2` (the total path power;
        for one path the SNR of the single-tone Cramér-Rao bound), or
      - ``snr_reference="strongest"``: :math:`\max_p |\gamma_p|^2 / \sigma^2`.

    * **Start**: each delay moved by ``U(-1, 1) * delay_perturbation`` cells (with the defaults
      the order of the delays is kept), each weight scaled by ``U(-1, 1) * gain_perturbation_db``
      dB and rotated by ``U(-1, 1) * phase_perturbation`` radians.

    Parameters
    ----------
    {paths}
    M : int
        Number of subcarriers, ``M >= 2``.
    {options}
    delay_perturbation : float
        Largest delay error of the start, in resolution cells.
    {weights}

    Returns
    -------
    ChannelSample
        ``y, freqs, sigma2, theta_true, theta0, units, cell``; all numpy float64 / complex128.
        For torch: ``torch.from_numpy(s.theta0)`` and ``torch.from_numpy(s.y)`` (complex) or
        of the stacked real ``np.concatenate([s.y.real, s.y.imag], axis=-1)``.

    Examples
    --------
    >>> s = sample(0, P=3, M=64, snr_db=20.0, batch=8)
    >>> s.y.shape, s.theta0.shape, s.sigma2.shape, s.cell
    ((8, 64), (8, 9), (8,), 0.015625)
    """
    d = _paths.sample(rng, AXES, P, (M,), snr_db, batch=batch, units=units, centred=centred,
                      min_separation=min_separation, margin=margin, spread_db=spread_db,
                      snr_reference=snr_reference, perturbations=(delay_perturbation,),
                      gain_perturbation_db=gain_perturbation_db,
                      phase_perturbation=phase_perturbation)
    return ChannelSample(d.y, d.grids[0], d.sigma2, d.theta_true, d.theta0, units, d.cells[0])


# --------------------------------------------------------------------------------------------
# SciPy convenience


@sp.with_fragments(**sp.problem_fragments(AXES, "theta0", "(3P,)",
                                           "Start ``[tau, Re gamma, Im gamma]``."))
class ChannelProblem(sp.PathProblem):
    r"""One channel-estimation instance for :func:`scipy.optimize.minimize` / ``least_squares``.

    {instance}

    Examples
    --------
    >>> from scipy.optimize import minimize
    >>> prob = ChannelProblem.random(0, P=1, M=32, snr_db=20.0)
    >>> res = minimize(prob.fun, prob.x0, jac=prob.jac, hessp=prob.hessp, method="trust-ncg")
    >>> prob.delays_resolved(res.x)
    True
    """

    _axes, _label, _sample = AXES, "channel", staticmethod(sample)
    _model = SimpleNamespace(cost=cost, gradient=gradient, gauss_newton_hessp=gauss_newton_hessp,
                             residual=residual, jacobian=jacobian, crb=crb)

    def __init__(self, y, freqs, theta0, theta_true=None, sigma2=None, name="channel"):
        self._setup(y, (freqs,), theta0, theta_true, sigma2, name)

    @classmethod
    def random(cls, rng, P, M, snr_db, name=None, **options):
        """Draw an instance with :func:`sample` (``options`` as there, except ``batch``)."""
        return cls._random(rng, P, (M,), snr_db, name, options)

    def _errors(self, theta):
        """The delay errors in cells, as a list of one ``(P,)`` array.

        Estimated and true delays are both reduced modulo the unambiguous range ``1/Δf`` (on
        which the model is periodic up to a weight sign) and sorted; the ``k``-th estimate is
        matched to the ``k``-th true delay and compared by circular distance. Non-finite
        estimates give ``inf``.
        """
        if self._x_true is None:
            raise ValueError("path errors need 'theta_true'")
        x = sp.vector(theta, self.n)
        if not np.all(np.isfinite(x[: self.P])):
            return [np.full(self.P, np.inf)]
        est = np.sort(np.mod(x[: self.P], self.period))
        true = np.sort(np.mod(self._x_true[: self.P], self.period))
        return [sp.circular(est - true, self.period) / self.cell]

    def delays_resolved(self, theta, tol=0.5):
        """Whether every delay lies within ``tol`` resolution cells of the truth (:meth:`resolved`).

        The success test of the channel suite (paths matched as in :meth:`delay_errors`). With
        :func:`sample`'s default start (delays off by up to 0.25 cell) the start itself passes;
        a stricter test is ``delay_errors(x) <= k * crb_delay() / cell``.
        """
        return self.resolved(theta, tol)


@dataclass(frozen=True)
class BenchProblem:
    """A benchmark problem record (same fields as the benchmark's other suites)."""

    name: str
    n: int
    fun: Callable
    jac: Callable
    hessp: Optional[Callable]
    x0: Any
    f_star: Optional[float]
    x_star: Any


def bench_problems(seed=0):
    """The benchmark's ``channel`` suite: perturbed-truth starts on random channels.

    Two instances for each of ``P`` in (1, 3, 5) paths, ``M = 64`` subcarriers, 20 dB SNR (total
    path power), in natural units (the hard, badly scaled case) and in scaled units. ``f_star``
    is ``None`` (the noisy optimum is not known in closed form); ``x_star`` is the ground truth,
    which the optimum lies near (within a few CRB standard deviations). The methods are bound
    methods of a :class:`ChannelProblem`, so ``p.fun.__self__.delays_resolved(x)`` is the
    success test.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`; the suite is a pure function of it.

    Returns
    -------
    list of BenchProblem
    """
    rng = np.random.default_rng(seed)
    out = []
    for units in UNITS:
        for P in (1, 3, 5):
            for k in range(2):
                name = f"channel-P{P}-M64-20dB-{units}-{k}"
                prob = ChannelProblem.random(rng, P, 64, 20.0, name=name, units=units)
                out.append(BenchProblem(name, prob.n, prob.fun, prob.jac, prob.hessp, prob.x0,
                                        None, prob.x_true))
    return out
