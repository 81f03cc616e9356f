r"""The specular-path model on any number of grid axes: what the channel problems share.

:mod:`learnedmin.problems.channel` (delay: one axis, the frequencies) and
:mod:`learnedmin.problems.channel2d` (delay and angle: the frequencies and the antenna
positions) are this model with one and with two axes (Richter 2005, ch. 2 and 3). With grids
:math:`g^{(0)}, \dots, g^{(D-1)}` and per path one parameter on each axis,

.. math::

    s(\theta) = \sum_{p=1}^{P} \gamma_p \, e^{-j 2\pi \sum_d g^{(d)} \tau^{(d)}_p},
    \qquad
    \theta = [\tau^{(0)}_{1..P}, \dots, \tau^{(D-1)}_{1..P},
              \operatorname{Re}\gamma_{1..P}, \operatorname{Im}\gamma_{1..P}],

observed on the outer product of the grids, the last axis (``g^{(0)}``) varying fastest. The
cost, its gradient, the Gauss-Newton product and the Fisher information all follow from the
stacked real residual :math:`r = [\operatorname{Re}(y - s); \operatorname{Im}(y - s)]` and its
Jacobian :math:`J = -[\operatorname{Re} D; \operatorname{Im} D]`: :math:`c = r^{\mathsf T} r`,
:math:`\nabla c = 2 J^{\mathsf T} r`, :math:`2 J^{\mathsf T} J v` and :math:`F = (2/\sigma^2)
J^{\mathsf T} J`. Everything is written against the array API, for any leading batch dimensions.
The public modules validate their arguments and name them; the functions here do not.
"""

import math

import numpy as np
from array_api_compat import array_namespace, device

# --------------------------------------------------------------------------------------------
# Arrays


def like(a, theta, xp, dtype=None):
    """``a`` as an array of ``theta``'s namespace and device (numpy inputs are converted)."""
    try:
        same = array_namespace(a) is xp
    except TypeError:
        same = False
    if not same:
        # Give the dtype at conversion: torch would otherwise read a Python float as float32.
        a = xp.asarray(a, device=device(theta)) if dtype is None else xp.asarray(
            a, dtype=dtype, device=device(theta))
    if dtype is not None and a.dtype != dtype:
        a = xp.astype(a, dtype)
    return a


def matvec(A, v, xp):
    """``A v`` over leading batch dimensions."""
    return xp.matmul(A, v[..., None])[..., 0]


def rmatvec(A, v, xp):
    """``A' v`` over leading batch dimensions."""
    return xp.matmul(xp.matrix_transpose(A), v[..., None])[..., 0]


def stacked(y, theta, xp, n):
    """The flat complex ``y`` (``(..., n)``) or stacked real ``y`` as ``[Re y; Im y]``
    (``(..., 2n)``) in ``theta``'s dtype; the caller has checked the shape."""
    y = like(y, theta, xp)
    if xp.isdtype(y.dtype, "complex floating"):
        y = xp.concat([xp.real(y), xp.imag(y)], axis=-1)
    return xp.astype(y, theta.dtype) if y.dtype != theta.dtype else y


# --------------------------------------------------------------------------------------------
# The model and its derivatives


def _parts(theta, grids, xp):
    """Per-axis angular grids ``2 pi g`` and weights, ``cos``/``sin`` of the phases
    ``2 pi sum_d g_d tau_d``, all broadcast to ``(..., N_{D-1}, ..., N_0, P)``."""
    D = len(grids)
    P = theta.shape[-1] // (D + 2)

    def block(i):  # the i-th block of P parameters, over the grid axes
        return theta[(Ellipsis,) + (None,) * D + (slice(i * P, (i + 1) * P),)]

    # grid d lies on axis -(d + 2): outside it the axes of the grids after it, inside those before
    omega = [(2 * math.pi) * g[(Ellipsis,) + (None,) * (D - 1 - d) + (slice(None),)
                               + (None,) * (d + 1)] for d, g in enumerate(grids)]
    phase = sum(w * block(d) for d, w in enumerate(omega))
    return omega, block(D), block(D + 1), xp.cos(phase), xp.sin(phase)


def model_re_im(theta, grids, xp):
    """Real and imaginary parts of the noiseless response, ``(..., N_{D-1}, ..., N_0)``."""
    # gamma e^{-j phi} = (alpha + j beta)(cos - j sin) = (alpha c + beta s) + j (beta c - alpha s)
    _, alpha, beta, c, s = _parts(theta, grids, xp)
    return xp.sum(alpha * c + beta * s, axis=-1), xp.sum(beta * c - alpha * s, axis=-1)


def _flat(a, D, xp, trailing=0):
    """Merge the ``D`` grid axes of ``a`` (before ``trailing`` further axes) into one."""
    if D == 1:
        return a
    lead = len(a.shape) - D - trailing
    size = math.prod(a.shape[lead:lead + D])
    return xp.reshape(a, tuple(a.shape[:lead]) + (size,) + tuple(a.shape[lead + D:]))


def residual(theta, y, grids, xp):
    """Stacked real residual ``(..., 2N)`` for the stacked real observation ``y``."""
    re, im = model_re_im(theta, grids, xp)
    D = len(grids)
    return y - xp.concat([_flat(re, D, xp), _flat(im, D, xp)], axis=-1)


def jacobian(theta, grids, xp):
    r"""``J = -[Re D; Im D]`` (``(..., 2N, (D + 2) P)``): with :math:`u = -j\gamma_p e^{-j\phi}
    = (\beta c - \alpha s) - j(\alpha c + \beta s)`, :math:`\partial s/\partial\tau^{(d)}_p =
    2\pi g^{(d)} u`, :math:`\partial s/\partial\alpha_p = c - js`,
    :math:`\partial s/\partial\beta_p = s + jc`."""
    omega, alpha, beta, c, s = _parts(theta, grids, xp)
    u_re, u_im = beta * c - alpha * s, -(alpha * c + beta * s)
    d_re = xp.concat([w * u_re for w in omega] + [c, s], axis=-1)
    d_im = xp.concat([w * u_im for w in omega] + [-s, c], axis=-1)
    D = len(grids)
    return -xp.concat([_flat(d_re, D, xp, 1), _flat(d_im, D, xp, 1)], axis=-2)


def cost_and_gradient(theta, y, grids, xp):
    r"""``(c, 2 J' r)`` from one evaluation of the phases, without forming ``J``: with the
    residual :math:`r = [r_{re}; r_{im}]`, :math:`\partial c/\partial\tau^{(d)}_p = -2\sum 2\pi
    g^{(d)} (r_{re} \operatorname{Re} u + r_{im} \operatorname{Im} u)`,
    :math:`\partial c/\partial\alpha_p = -2\sum (r_{re} c - r_{im} s)` and
    :math:`\partial c/\partial\beta_p = -2\sum (r_{re} s + r_{im} c)`."""
    omega, alpha, beta, c, s = _parts(theta, grids, xp)
    D = len(grids)
    n = y.shape[-1] // 2
    shape = tuple(c.shape[-D - 1:-1])
    r_re = xp.reshape(y[..., :n], tuple(y.shape[:-1]) + shape) - xp.sum(alpha * c + beta * s,
                                                                         axis=-1)
    r_im = xp.reshape(y[..., n:], tuple(y.shape[:-1]) + shape) - xp.sum(beta * c - alpha * s,
                                                                         axis=-1)
    grid_axes = tuple(range(-D - 1, -1))
    value = xp.sum(_flat(r_re * r_re, D, xp), axis=-1) + xp.sum(_flat(r_im * r_im, D, xp),
                                                                  axis=-1)
    rr, ri = r_re[..., None], r_im[..., None]
    along_u = rr * (beta * c - alpha * s) - ri * (alpha * c + beta * s)
    g_axes = [xp.sum(w * along_u, axis=grid_axes) for w in omega]
    g_alpha = xp.sum(rr * c - ri * s, axis=grid_axes)
    g_beta = xp.sum(rr * s + ri * c, axis=grid_axes)
    return value, -2 * xp.concat(g_axes + [g_alpha, g_beta], axis=-1)


def gradient(J, r, xp):
    """``2 J' r``."""
    return 2 * rmatvec(J, r, xp)


def gauss_newton_hessp(J, v, xp):
    """``2 J' (J v)``; the matrix ``J' J`` is never formed."""
    return 2 * rmatvec(J, matvec(J, v, xp), xp)


def fisher_information(J, sigma2, xp):
    """``(2 / sigma2) J' J`` in circular complex white Gaussian noise of variance ``sigma2``."""
    return (2 / sigma2)[..., None, None] * xp.matmul(xp.matrix_transpose(J), J)


def equilibrated_inverse(F):
    """``F^{-1}`` of symmetric positive definite ``F`` (..., n, n) as ``S (S F S)^{-1} S``,
    ``S = diag(F)^{-1/2}``: entries of very different magnitudes cost no accuracy."""
    xp = array_namespace(F)
    n = F.shape[-1]
    scale = 1 / xp.sqrt(xp.sum(F * xp.eye(n, dtype=F.dtype, device=device(F)), axis=-1))
    S = scale[..., :, None] * scale[..., None, :]
    return S * xp.linalg.inv(S * F)


# --------------------------------------------------------------------------------------------
# Grids and arguments (numpy)


def spacing(grid):
    """Spacing of a uniform numpy grid (last axis)."""
    g = np.asarray(grid, dtype=np.float64)
    return (g[..., -1] - g[..., 0]) / (g.shape[-1] - 1)


def vector(theta, n, name="theta"):
    """``theta`` as a float64 vector of length ``n``, or a ``ValueError`` naming it."""
    x = np.asarray(theta, dtype=np.float64)
    if x.shape != (n,):
        raise ValueError(f"'{name}' must have shape ({n},); got {x.shape}")
    return x


def check_nonneg(**values):
    """A ``ValueError`` naming the first value that is not a finite number >= 0."""
    for name, value in values.items():
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"'{name}' must be a finite number >= 0; got {value!r}")


def circular(d, period):
    """``|d|`` reduced to the nearest multiple of ``period``: the distance on a circle."""
    return np.abs(np.mod(d + period / 2, period) - period / 2)


# --------------------------------------------------------------------------------------------
# One instance for SciPy


class BoundModel:
    """The model's functions bound to one instance: what the channel problem classes share.

    A subclass sets ``_model`` (the module-level functions ``cost``, ``gradient``,
    ``gauss_newton_hessp``, ``residual``, ``jacobian`` as a namespace) and ``_grids`` (the grid
    arguments that follow ``theta`` and ``y``), and calls :meth:`_instance`.
    """

    _model = None

    @property
    def _grids(self):
        return (self.freqs,)

    def _instance(self, x0, theta_true, sigma2, name):
        """Set the start, the truth, the noise variance and the name (all checked)."""
        self.n = x0.size
        self._x0 = x0
        self._x_true = None if theta_true is None else np.array(
            vector(theta_true, self.n, "theta_true"))
        self.sigma2 = None if sigma2 is None else float(sigma2)
        self.name = name
        self.period = 1.0 / abs(float(spacing(self.freqs)))
        self.cell = self.period / self.M

    @property
    def x0(self):
        """The start (a fresh copy)."""
        return self._x0.copy()

    @property
    def x_true(self):
        """The ground truth (a fresh copy), or ``None``."""
        return None if self._x_true is None else self._x_true.copy()

    def fun(self, theta):
        """Cost ``||y - s(theta)||^2`` (a Python float)."""
        return float(self._model.cost(vector(theta, self.n), self.y, *self._grids))

    def jac(self, theta):
        """Gradient of :meth:`fun`, shape ``(n,)``."""
        return self._model.gradient(vector(theta, self.n), self.y, *self._grids)

    def hessp(self, theta, v):
        """Gauss-Newton product ``2 J^T J v`` (for ``minimize(..., hessp=...)``)."""
        return self._model.gauss_newton_hessp(vector(theta, self.n), vector(v, self.n, "v"),
                                              *self._grids)

    def residual(self, theta):
        """Stacked real residual ``[Re; Im]`` for ``least_squares`` (``fun == 2 * res.cost``)."""
        return self._model.residual(vector(theta, self.n), self.y, *self._grids)

    def jacobian(self, theta):
        """Jacobian of :meth:`residual`, shape ``(2 * observations, n)``."""
        return self._model.jacobian(vector(theta, self.n), *self._grids)
