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
The public modules validate their arguments and name them; the model functions here do not.

Each grid axis is described once, as an :class:`Axis` (its parameter, its grid, its cell), and
the rest is written over the axes: the argument checks, the uniform grids, the problem classes'
skeleton (:class:`Instance`, :class:`PathProblem`) and the numpydoc fragments they share. The
sampler is :mod:`learnedmin.problems._paths`.
"""

import math
import textwrap
from typing import NamedTuple

import numpy as np
from array_api_compat import array_namespace, device

from ..gauss_newton import LastPoint

UNITS = ("natural", "scaled")


class Axis(NamedTuple):
    """One grid axis of the model: how the sampler, the problem classes and messages name it."""

    name: str             # its parameter: "delay" or "angle"
    size: str             # the number of grid points: "M" or "K"
    grid: str             # the grid's argument and attribute: "freqs" or "positions"
    noun: str             # what the grid holds, in messages: "frequencies"
    cell: str             # the attribute of its resolution cell: "cell" or "angle_cell"
    period: str           # the attribute of its unambiguous range: "period" or "angle_period"
    symbol: str           # its parameter in the docs: "tau" or "mu"
    natural_range: float  # the unambiguous range in natural units: the grid is k / range


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


def uniform_grid(axis, N, units, centred):
    """The ``N`` points of ``axis``' grid in ``units``: ``k / natural_range`` in natural units,
    ``k / N`` in scaled units, ``k = 0..N-1`` or centred ``k - (N-1)/2`` (checked)."""
    N = check_int(axis.size, N, 2)
    check_units(units)
    k = np.arange(N, dtype=np.float64)
    if centred:
        k = k - (N - 1) / 2
    return k / N if units == "scaled" else k / axis.natural_range


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


def check_int(name, value, minimum):
    """``value`` as an ``int``, or a ``ValueError`` naming it if it is not an integer >=
    ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"'{name}' must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_units(units):
    """A ``ValueError`` unless ``units`` is one of :data:`UNITS`."""
    if units not in UNITS:
        raise ValueError(f"'units' must be one of {UNITS}; got {units!r}")


def n_paths(theta, axes):
    """The number of paths ``P`` of ``theta`` (last axis ``(D + 2) P``), or a ``ValueError``."""
    n, D = theta.shape[-1], len(axes)
    if n == 0 or n % (D + 2):
        raise ValueError(
            f"'theta' must hold [{', '.join(a.name + 's' for a in axes)}, Re weights, Im weights]: "
            f"its last axis must be a positive multiple of {D + 2}; got length {n}"
        )
    return n // (D + 2)


def with_fragments(**fragments):
    """Decorator: each docstring line ``{name}`` becomes the text ``fragments[name]``, indented as
    that line (so one parameter block serves several docstrings)."""
    def fill(obj):
        lines = []
        for line in obj.__doc__.splitlines():
            key = line.strip()[1:-1]
            if line.strip() == "{" + key + "}" and key in fragments:
                indent = line[:len(line) - len(line.lstrip())]
                text = textwrap.dedent(fragments[key]).strip("\n")
                lines += [indent + part if part else part for part in text.splitlines()]
            else:
                lines.append(line)
        obj.__doc__ = "\n".join(lines)
        return obj
    return fill


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


def problem_fragments(axes, start, start_shape, start_doc, truth="Ground truth", full=None):
    """The numpydoc sections ``Parameters`` and ``Attributes`` of a problem class on ``axes``
    (the fragment ``instance`` of :func:`with_fragments`), with the start argument ``start`` of
    shape ``start_shape``, and a ``See Also`` of the full problem class ``full``."""
    sizes = [a.size for a in reversed(axes)]
    layout = f"``[{', '.join(a.symbol for a in axes)}, Re gamma, Im gamma]``"
    crbs = " and ".join(f":meth:`crb_{a.name}`" for a in axes)
    parameters = [f"y : array_like, shape ({', '.join(sizes)}{',' * (len(sizes) == 1)}), complex",
                  "    Observation."]
    for a in axes:
        parameters += [f"{a.grid} : array_like, shape ({a.size},)",
                       f"    Uniform grid of the {a.noun} (any units; see the tables of units)."]
    parameters += [
        f"{start} : array_like, shape {start_shape}", f"    {start_doc}",
        f"theta_true : array_like, shape ({len(axes) + 2}P,), optional",
        f"    {truth} {layout}",
        "    (needed by the error, resolution and CRB methods).",
        "sigma2 : float, optional", f"    Noise variance (needed by {crbs}).",
        "name : str", "    A label."]
    attributes = [
        f"P, {', '.join(a.size for a in axes)}, n : int",
        f"    The numbers of paths, of {', of '.join(a.noun for a in axes)} and of unknowns.",
        f"{', '.join(a.cell for a in axes)} : float",
        "    The resolution cell of each grid, ``1/(N Δg)`` for ``N`` points spaced ``Δg``;",
        f"    {', '.join(f'``{a.period}``' for a in axes)}: the unambiguous ranges ``1/Δg``."]
    see_also = [] if full is None else [
        "", "See Also", "--------", f"{full} :",
        "    The full problem (with the weights), which measures the errors against the truth."]
    return dict(instance="\n".join(["Parameters", "----------", *parameters, "",
                                      "Attributes", "----------", *attributes, *see_also]))


class Instance:
    """What every channel problem class has: a name, grids, a sampler and measures on the paths.

    A subclass sets ``_axes`` (an :class:`Axis` per grid, fastest first), ``_label`` (its default
    name) and ``_sample`` (the sampler of its module), and defines ``_errors`` and ``_crb_std``
    (one ``(P,)`` array per axis).
    """

    _axes = ()
    _label = "channel"
    _sample = None

    @staticmethod
    def _start(theta0):
        """The start argument of the class' constructor in a sample's full start ``theta0``."""
        return theta0

    @property
    def _grids(self):
        return tuple(getattr(self, a.grid) for a in self._axes)

    @classmethod
    def from_sample(cls, s, name=None):
        """The problem of an unbatched sample drawn by the module's ``sample`` (``name``: by
        default the class' default name)."""
        if np.ndim(s.sigma2) != 0:
            raise ValueError("'from_sample' needs an unbatched sample (batch=None)")
        grids = [getattr(s, a.grid) for a in cls._axes]
        return cls(s.y, *grids, cls._start(s.theta0), s.theta_true, float(s.sigma2),
                   name or cls._label)

    @classmethod
    def _random(cls, rng, P, sizes, snr_db, name, options):
        """``random``: a sample of the grid ``sizes`` drawn with ``options`` (no ``batch``)."""
        if "batch" in options:
            raise TypeError(f"'batch' is not an option of {cls.__name__}.random; use "
                            f"{cls._sample.__module__}.sample()")
        s = cls._sample(rng, P, *sizes, snr_db, **options)
        grid = "".join(f"-{a.size}{n}" for a, n in zip(cls._axes, sizes))
        return cls.from_sample(s, name or f"{cls._label}-P{P}{grid}-{snr_db:g}dB-{s.units}")

    def __repr__(self):
        sizes = "".join(f", {a.size}={getattr(self, a.size)}" for a in self._axes)
        return f"{type(self).__name__}(name={self.name!r}, P={self.P}{sizes})"

    def crb_delay(self):
        """Square roots of the Cramér-Rao bound on each delay at the ground truth, ``(P,)``."""
        return self._crb_std()[0]

    def delay_errors(self, theta):
        """Absolute delay errors in resolution cells, one per true path, ``(P,)`` (``inf`` for a
        non-finite ``theta``; the paths matched as the class says)."""
        return self._errors(theta)[0]

    def resolved(self, theta, tol=0.5):
        """Whether every path lies within ``tol`` resolution cells of its true path on each axis.

        With the sampler's default start (errors up to 0.25 cell) the start itself passes; a
        stricter test compares :meth:`delay_errors` with ``k * crb_delay() / cell``.
        """
        if not (np.isfinite(tol) and tol > 0):
            raise ValueError(f"'tol' must be a positive number of cells; got {tol!r}")
        return all(bool(np.all(e <= tol)) for e in self._errors(theta))


class Angles:
    """The angle measures of a problem class whose second axis is the angle."""

    def crb_angle(self):
        """Square roots of the Cramér-Rao bound on each angle at the ground truth, ``(P,)``."""
        return self._crb_std()[1]

    def angle_errors(self, theta):
        """Absolute angle errors in resolution cells, one per true path, ``(P,)``."""
        return self._errors(theta)[1]


class PathProblem(Instance):
    """One instance of the full model (paths and weights) bound to SciPy's callables.

    Besides :class:`Instance`'s attributes a subclass sets ``_model`` (the module's ``cost``,
    ``gradient``, ``gauss_newton_hessp``, ``residual``, ``jacobian`` and ``crb`` as a namespace)
    and calls :meth:`_setup` from its ``__init__``.
    """

    _model = None

    def _setup(self, y, grids, theta0, theta_true, sigma2, name):
        """Check and keep the observation, the grids, the start, the truth and the noise."""
        for a, grid in zip(self._axes, grids):
            g = np.array(grid, dtype=np.float64)
            if g.ndim != 1 or g.size < 2:
                raise ValueError(f"'{a.grid}' must be a 1-D grid of at least 2 {a.noun}; got "
                                 f"shape {g.shape}")
            period = 1.0 / abs(float(spacing(g)))
            for attribute, value in ((a.grid, g), (a.size, g.size), (a.period, period),
                                     (a.cell, period / g.size)):
                setattr(self, attribute, value)
        shape = tuple(getattr(self, a.size) for a in reversed(self._axes))
        y = np.asarray(y)
        if y.shape != shape:
            names = ", ".join(a.size for a in reversed(self._axes)) + "," * (len(shape) == 1)
            raise ValueError(f"'y' must have shape ({names}) = {shape}; got {y.shape}")
        self.y = np.array(y, dtype=np.complex128)
        x0 = np.array(theta0, dtype=np.float64)
        if x0.ndim != 1:
            raise ValueError(f"'theta0' must be 1-D; got shape {x0.shape}")
        self.P, self.n, self._x0 = n_paths(x0, self._axes), x0.size, x0
        self._x_true = None if theta_true is None else np.array(
            vector(theta_true, self.n, "theta_true"))
        self.sigma2 = None if sigma2 is None else float(sigma2)
        self.name = name
        self._jacobian_at = LastPoint(self._model_jacobian)

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
        """Gauss-Newton product ``2 J^T J v`` (for ``minimize(..., hessp=...)``).

        The Jacobian of the last point is kept: the products of one inner solve, all at the same
        point, form it once (the values are those of the module's ``gauss_newton_hessp``)."""
        J = self._jacobian_at(vector(theta, self.n))
        return gauss_newton_hessp(J, vector(v, self.n, "v"), np)

    def residual(self, theta):
        """Stacked real residual ``[Re; Im]`` for ``least_squares`` (``fun == 2 * res.cost``)."""
        return self._model.residual(vector(theta, self.n), self.y, *self._grids)

    def jacobian(self, theta):
        """Jacobian of :meth:`residual`, shape ``(2 * observations, n)``."""
        return self._model.jacobian(vector(theta, self.n), *self._grids)

    def _model_jacobian(self, theta):
        """The model's Jacobian at a checked ``theta`` (what :meth:`hessp` keeps per point; not
        :meth:`jacobian`, which callers may wrap to count the Jacobians they ask for)."""
        return self._model.jacobian(theta, *self._grids)

    def _crb_std(self):
        """Square roots of the Cramér-Rao bound on each axis' parameters, one ``(P,)`` each."""
        if self._x_true is None or self.sigma2 is None:
            raise ValueError("the CRB needs 'theta_true' and 'sigma2'")
        var = np.diagonal(self._model.crb(self._x_true, *self._grids, self.sigma2))
        return [np.sqrt(var[d * self.P:(d + 1) * self.P]) for d in range(len(self._axes))]

    def _errors(self, theta):
        """Errors in cells on each axis of the estimated path matched to each true path.

        Every axis is compared by circular distance (the model is periodic in each up to a
        weight sign); estimates are matched to true paths by the assignment of least total
        Chebyshev distance in cells, which pairs every estimate with its own path whenever all
        lie within half the paths' separation of them.
        """
        from scipy.optimize import linear_sum_assignment

        if self._x_true is None:
            raise ValueError("path errors need 'theta_true'")
        x, t, P, D = vector(theta, self.n), self._x_true, self.P, len(self._axes)
        if not np.all(np.isfinite(x[:D * P])):
            return [np.full(P, np.inf) for _ in self._axes]
        d = [circular(x[i * P:(i + 1) * P, None] - t[None, i * P:(i + 1) * P],
                      getattr(self, a.period)) / getattr(self, a.cell)
             for i, a in enumerate(self._axes)]
        est, true = linear_sum_assignment(np.maximum.reduce(d))
        order = np.argsort(true)
        return [e[est, true][order] for e in d]
