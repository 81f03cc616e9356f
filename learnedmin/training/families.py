"""Problem families: batched torch objectives with known ground truth, and their registry.

A *family* samples a batch of problem instances that share one dimension ``n``; the batch is a
:class:`Problem`, which evaluates ``f`` and its gradient on a ``(B, n)`` tensor of points and
carries the ground truth: the minimiser ``x_star`` (where it is unique, ``x_star_known``) and the
minimum ``f_star``. Everything is float64 and drawn from an explicit :class:`torch.Generator`, so a
seed fixes the instances. Values and gradients are differentiable in ``x`` (analytic gradients
are written with differentiable operations; :func:`autograd_gradient` builds one with
``create_graph=True``), so meta-gradients flow through the unroll.

Built-in families (``FAMILIES``):

``quadratic``
    ``1/2 (x - x*)' Q (x - x*) + f*`` with ``Q = U diag(lambda) U'``, ``U`` Haar-random orthogonal,
    eigenvalues log-uniform in ``[1, kappa]`` (both ends included) and ``log10 kappa`` uniform in
    ``[0, 4]``.
``least_squares``
    ``|W x - y|^2`` with a Gaussian ``W`` (``m >= n`` rows, columns scaled over up to 1.5
    decades) and a noisy ``y``; ``x*`` from the normal equations, refined once.
``logistic``
    L2-regularised logistic regression on synthetic, partly mislabelled data. ``x*`` and ``f*``
    come from damped Newton steps from the origin (the objective is strongly convex, so the
    minimiser is unique and 40 steps reach it to machine precision; the gradient norm left is
    checked).
``rosenbrock``
    Chained Rosenbrock valleys ``sum b (z_{i+1} - z_i^2)^2 + (1 - z_i)^2``, ``z = x - x* + 1``,
    valley steepness ``b`` log-uniform in ``[1, 100]``; ``f* = 0``.
``mlp_fit``
    Teacher-student fit of a one-hidden-layer tanh network (mean squared error). The targets come
    from a teacher of the same architecture, so ``f* = 0`` exactly; the minimiser is not unique
    (hidden-unit symmetries), so ``x_star_known`` is False and only the unsupervised loss applies.
``channel``
    Specular-path delay/weight estimation built on :mod:`learnedmin.problems.channel` (registered
    only when that module is importable, as the two below).
``channel_concentrated``
    The same instances with the weights eliminated by variable projection
    (:mod:`learnedmin.problems.concentrated`): ``x`` is the delays alone.
``channel2d_concentrated``
    Delay-angle estimation (:mod:`learnedmin.problems.channel2d`) with the weights eliminated:
    ``x`` is the delays and angles.

Every problem can be rescaled (:func:`rescale`): ``F(x) = c f(x / t)``, ``x0 -> t x0``,
``x* -> t x*``, ``f* -> c f*``; training draws ``c`` and ``t`` log-uniformly so the network learns
the scale-free rule the statistics allow.

Registering a family of your own
--------------------------------
A family is any object with a ``name`` and a ``sample(generator, batch)`` method returning a
:class:`Problem`; :func:`register_family` makes it available to configs by name:

>>> import torch
>>> from learnedmin.training.families import Family, Problem, register_family, get_family
>>> class Sphere(Family):
...     name = "sphere"
...     def value(self, data, x):
...         (center,) = data
...         return 0.5 * ((x - center) ** 2).sum(-1)
...     def gradient(self, data, x):
...         (center,) = data
...         return x - center
...     def sample(self, generator, batch):
...         center = torch.randn(batch, 3, generator=generator, dtype=torch.float64)
...         x0 = center + torch.randn(batch, 3, generator=generator, dtype=torch.float64)
...         return self.problem((center,), x0, center, torch.zeros(batch, dtype=torch.float64))
>>> _ = register_family(Sphere(), replace=True)
>>> p = get_family("sphere").sample(torch.Generator().manual_seed(0), 4)
>>> tuple(p.x0.shape), float(p.value(p.x_star).abs().max())
((4, 3), 0.0)

``value`` and ``gradient`` receive the problem's ``data`` tuple (tensors with a leading batch
dimension) and points ``x`` of shape ``(B, n)``; a family that only writes ``value`` may set
``gradient = autograd_gradient_method``.
"""

import math
from typing import NamedTuple

import numpy as np
import torch

DTYPE = torch.float64

__all__ = [
    "Problem", "Family", "FAMILIES", "register_family", "get_family", "rescale",
    "autograd_gradient", "autograd_gradient_method", "family_names", "numpy_instance",
]


class Problem(NamedTuple):
    """A batch of ``B`` instances of one family, all of dimension ``n``.

    Attributes
    ----------
    family : Family
        Provides ``value(data, z)`` and ``gradient(data, z)`` in the unscaled coordinates ``z``.
    data : tuple of tensors
        Instance data, each with leading batch dimension ``B``.
    x0 : tensor (B, n)
        Starting points.
    x_star : tensor (B, n)
        A minimiser (meaningful for the supervised loss only where ``x_star_known``).
    f_star : tensor (B,)
        The minimum value.
    x_star_known : bool
        Whether ``x_star`` is *the* (unique) minimiser.
    f_scale, x_scale : tensor (B,)
        ``F(x) = f_scale * f(x / x_scale)`` (see :func:`rescale`).
    """

    family: object
    data: tuple
    x0: torch.Tensor
    x_star: torch.Tensor
    f_star: torch.Tensor
    x_star_known: bool
    f_scale: torch.Tensor
    x_scale: torch.Tensor

    @property
    def batch(self):
        """Number of instances."""
        return self.x0.shape[0]

    @property
    def dim(self):
        """Dimension ``n`` of every instance."""
        return self.x0.shape[-1]

    def value(self, x):
        """``f`` at the points ``x`` (B, n): a tensor (B,)."""
        t = self.x_scale[:, None]
        return self.f_scale * self.family.value(self.data, x / t)

    def gradient(self, x):
        """Gradient of ``f`` at ``x`` (B, n), differentiable in ``x`` when grad mode is on."""
        t = self.x_scale[:, None]
        return (self.f_scale / self.x_scale)[:, None] * self.family.gradient(self.data, x / t)

    def hessian_product(self, x, v):
        """``H(x) v`` at ``x`` (B, n): ``F = c f(x / t)`` has ``H_F = (c / t^2) H_f(x / t)``."""
        t = self.x_scale[:, None]
        return (self.f_scale / self.x_scale ** 2)[:, None] * self.family.hessian_product(
            self.data, x / t, v)

    def select(self, index):
        """The sub-batch ``index`` (a list or tensor of row indices)."""
        idx = torch.as_tensor(index, dtype=torch.long, device=self.x0.device)
        return self._replace(
            data=tuple(d[idx] for d in self.data), x0=self.x0[idx], x_star=self.x_star[idx],
            f_star=self.f_star[idx], f_scale=self.f_scale[idx], x_scale=self.x_scale[idx],
        )

    def to(self, device):
        """The same problem with every tensor on ``device``."""
        return self._replace(
            data=tuple(d.to(device) for d in self.data), x0=self.x0.to(device),
            x_star=self.x_star.to(device), f_star=self.f_star.to(device),
            f_scale=self.f_scale.to(device), x_scale=self.x_scale.to(device),
        )


def numpy_instance(problem, index):
    """``(fun, jac, x0, x_star, f_star)``: row ``index`` of ``problem`` as numpy callables, the
    form :func:`scipy.optimize.minimize` takes."""
    sub = problem.select([index])

    def fun(x):
        with torch.no_grad():
            return float(sub.value(torch.from_numpy(np.asarray(x, dtype=np.float64))[None])[0])

    def jac(x):
        with torch.no_grad():
            return sub.gradient(torch.from_numpy(np.asarray(x, dtype=np.float64))[None])[0].numpy()

    return fun, jac, sub.x0[0].numpy().copy(), sub.x_star[0].numpy(), float(sub.f_star[0])


def rescale(problem, f_scale, x_scale):
    """``F(x) = c f(x / t)``: multiply ``f`` by ``f_scale`` and stretch ``x`` by ``x_scale``.

    Scales compose with any already applied. Minimisers and starts move with ``x``.
    """
    c = torch.as_tensor(f_scale, dtype=DTYPE, device=problem.x0.device).expand(problem.batch)
    t = torch.as_tensor(x_scale, dtype=DTYPE, device=problem.x0.device).expand(problem.batch)
    return problem._replace(
        x0=problem.x0 * t[:, None], x_star=problem.x_star * t[:, None],
        f_star=problem.f_star * c, f_scale=problem.f_scale * c, x_scale=problem.x_scale * t,
    )


def autograd_gradient(value, data, x):
    """Gradient of ``value(data, x).sum()`` in ``x``, keeping the graph when grad mode is on.

    Under :func:`torch.no_grad` (the line search) the result is a plain tensor; otherwise it is
    built with ``create_graph=True`` so that meta-gradients flow through it.
    """
    keep = torch.is_grad_enabled() and x.requires_grad
    with torch.enable_grad():
        z = x if keep else x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(value(data, z).sum(), z, create_graph=keep)
    return g if keep else g.detach()


def autograd_gradient_method(self, data, x):
    """A ``Family.gradient`` implementation through :func:`autograd_gradient`."""
    return autograd_gradient(self.value, data, x)


class Family:
    """Base class of a problem family (see the module docstring for the protocol)."""

    name = "family"

    def value(self, data, x):  # pragma: no cover - abstract
        """Objective values ``(B,)`` at points ``x`` ``(B, n)``."""
        raise NotImplementedError

    def gradient(self, data, x):
        """Gradient ``(B, n)``; the default differentiates :meth:`value` with autograd."""
        return autograd_gradient(self.value, data, x)

    def hessian_product(self, data, x, v):
        """Hessian-vector products ``(B, n)``; the default differentiates :meth:`gradient` along
        ``v`` with autograd (keeping the graph when grad mode is on, as :meth:`gradient`)."""
        keep = torch.is_grad_enabled() and (x.requires_grad or v.requires_grad)
        with torch.enable_grad():
            z = x if keep else x.detach().requires_grad_(True)
            (hv,) = torch.autograd.grad((self.gradient(data, z) * v).sum(), z, create_graph=keep)
        return hv if keep else hv.detach()

    def sample(self, generator, batch):  # pragma: no cover - abstract
        """Draw ``batch`` instances of one random dimension as a :class:`Problem`."""
        raise NotImplementedError

    def problem(self, data, x0, x_star, f_star, x_star_known=True):
        """Assemble a :class:`Problem` with unit scales."""
        ones = torch.ones(x0.shape[0], dtype=DTYPE, device=x0.device)
        return Problem(self, tuple(data), x0, x_star, f_star, bool(x_star_known), ones, ones)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def _randint(generator, low, high):
    """An integer uniform in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def _uniform(generator, shape, low, high):
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=DTYPE)


def _randn(generator, *shape):
    return torch.randn(*shape, generator=generator, dtype=DTYPE)


def _orthogonal(generator, batch, n):
    """Haar-random orthogonal matrices (QR of a Gaussian with the sign fix of Mezzadri 2007)."""
    q, r = torch.linalg.qr(_randn(generator, batch, n, n))
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]


class Quadratic(Family):
    """Random convex quadratics with a chosen range of condition numbers."""

    name = "quadratic"

    def __init__(self, dims=(2, 48), log10_cond=(0.0, 4.0)):
        self.dims, self.log10_cond = tuple(dims), tuple(log10_cond)

    def value(self, data, x):
        q, x_star, f_star = data
        e = x - x_star
        return 0.5 * (e * (q @ e[..., None])[..., 0]).sum(-1) + f_star

    def gradient(self, data, x):
        q, x_star, _ = data
        return (q @ (x - x_star)[..., None])[..., 0]

    def sample(self, generator, batch):
        n = _randint(generator, *self.dims)
        log_kappa = _uniform(generator, (batch, 1), *self.log10_cond) * math.log(10.0)
        inner = torch.rand(batch, n, generator=generator, dtype=DTYPE)
        if n >= 2:  # include both ends of the spectrum so the condition number is exact
            inner = torch.cat([torch.zeros(batch, 1, dtype=DTYPE), inner[:, 2:],
                               torch.ones(batch, 1, dtype=DTYPE)], dim=1)
        lam = torch.exp(inner * log_kappa)
        u = _orthogonal(generator, batch, n)
        q = (u * lam[:, None, :]) @ u.transpose(-1, -2)
        q = 0.5 * (q + q.transpose(-1, -2))
        x_star = _randn(generator, batch, n)
        f_star = _randn(generator, batch)
        x0 = x_star + _randn(generator, batch, n)
        return self.problem((q, x_star, f_star), x0, x_star, f_star)


def _least_squares_solution(w, y):
    """``argmin |w x - y|`` by the normal equations and one step of iterative refinement.

    Not ``torch.linalg.lstsq``: its result depends on how its inputs happen to be aligned in
    memory (in the last bits), which would make training runs differ from process to process.
    """
    w, y = w.clone(), y.clone()  # fresh (aligned) storage: matmul's last bits depend on it too
    wt = w.transpose(-1, -2)
    gram = wt @ w
    x = torch.linalg.solve(gram, (wt @ y[..., None]))
    r = y[..., None] - w @ x
    return (x + torch.linalg.solve(gram, wt @ r))[..., 0]


class LeastSquares(Family):
    """``|W x - y|^2`` with Gaussian ``W`` (``m`` rows, ``n <= m``) and noisy targets."""

    name = "least_squares"

    def __init__(self, dims=(2, 48), column_decades=1.5, noise=0.1):
        self.dims, self.column_decades, self.noise = tuple(dims), column_decades, noise

    def value(self, data, x):
        w, y = data
        r = (w @ x[..., None])[..., 0] - y
        return (r * r).sum(-1)

    def gradient(self, data, x):
        w, y = data
        r = (w @ x[..., None])[..., 0] - y
        return 2.0 * (w.transpose(-1, -2) @ r[..., None])[..., 0]

    def sample(self, generator, batch):
        n = _randint(generator, *self.dims)
        m = n + _randint(generator, 1, 2 * n)
        cols = torch.pow(10.0, _uniform(generator, (batch, 1, n), 0.0, self.column_decades))
        w = _randn(generator, batch, m, n) / math.sqrt(m) * cols
        x_true = _randn(generator, batch, n)
        y = (w @ x_true[..., None])[..., 0] + self.noise * _randn(generator, batch, m)
        x_star = _least_squares_solution(w, y)
        x0 = _randn(generator, batch, n)
        f_star = self.value((w, y), x_star)
        return self.problem((w, y), x0, x_star, f_star)


class GaussianLeastSquares(Family):
    """Takabe & Wadayama's setting: ``1/2 |A x - b|^2`` with ``A`` ``m x n`` of i.i.d. standard
    Gaussian entries (``600 x 300``: condition number about 32), ``x* ~ N(0, I)``, ``b = A x*``
    and ``x0 = 0`` (the seed of deep-unfolded gradient descent; ``ANCHORS.md`` section 1).

    Every instance has the same dimension; only ``A`` and ``x*`` change. ``x*`` is the unique
    minimiser and ``f* = 0``.
    """

    name = "gaussian_least_squares"

    def __init__(self, m=600, n=300):
        if not (isinstance(m, int) and isinstance(n, int) and 1 <= n <= m):
            raise ValueError(f"need integers 1 <= n <= m; got m={m!r}, n={n!r}")
        self.m, self.n = m, n

    def value(self, data, x):
        a, b = data
        r = (a @ x[..., None])[..., 0] - b
        return 0.5 * (r * r).sum(-1)

    def gradient(self, data, x):
        a, b = data
        r = (a @ x[..., None])[..., 0] - b
        return (a.transpose(-1, -2) @ r[..., None])[..., 0]

    def hessian_product(self, data, x, v):
        a, _ = data
        return (a.transpose(-1, -2) @ (a @ v[..., None]))[..., 0]

    def sample(self, generator, batch):
        a = _randn(generator, batch, self.m, self.n)
        x_star = _randn(generator, batch, self.n)
        b = (a @ x_star[..., None])[..., 0]
        return self.problem((a, b), torch.zeros_like(x_star), x_star,
                            torch.zeros(batch, dtype=DTYPE))


class Logistic(Family):
    """L2-regularised logistic regression on synthetic data (labels partly flipped)."""

    name = "logistic"
    newton_steps = 40

    def __init__(self, dims=(2, 32), samples_per_dim=(2, 8), lam=(1e-3, 1e-1), flip=0.1):
        self.dims, self.samples_per_dim = tuple(dims), tuple(samples_per_dim)
        self.lam, self.flip = tuple(lam), flip

    def value(self, data, x):
        z, lam = data  # z: label-signed features (B, N, n)
        margin = (z @ x[..., None])[..., 0]
        return torch.nn.functional.softplus(-margin).mean(-1) + 0.5 * lam * (x * x).sum(-1)

    def gradient(self, data, x):
        z, lam = data
        margin = (z @ x[..., None])[..., 0]
        weight = torch.sigmoid(-margin) / z.shape[-2]
        return -(z.transpose(-1, -2) @ weight[..., None])[..., 0] + lam[:, None] * x

    def _newton(self, data, n):
        """Damped Newton from the origin (halving until the value does not increase)."""
        z, lam = data
        batch = z.shape[0]
        x = torch.zeros(batch, n, dtype=DTYPE)
        eye = torch.eye(n, dtype=DTYPE)
        f = self.value(data, x)
        for _ in range(self.newton_steps):
            g = self.gradient(data, x)
            s = torch.sigmoid((z @ x[..., None])[..., 0])
            curv = (s * (1 - s) / z.shape[-2])[..., None] * z
            h = z.transpose(-1, -2) @ curv + lam[:, None, None] * eye
            step = torch.linalg.solve(h, -g[..., None])[..., 0]
            t = torch.ones(batch, dtype=DTYPE)
            for _ in range(30):
                f_new = self.value(data, x + t[:, None] * step)
                bad = f_new > f + 1e-13 * f.abs()  # round-off near the minimum
                if not bool(bad.any()):
                    break
                t = torch.where(bad, 0.5 * t, t)
            x = x + t[:, None] * step
            f = self.value(data, x)
        return x, f

    def sample(self, generator, batch):
        n = _randint(generator, *self.dims)
        count = n * _randint(generator, *self.samples_per_dim)
        features = _randn(generator, batch, count, n)
        teacher = 2.0 * _randn(generator, batch, n)
        labels = torch.sign((features @ teacher[..., None])[..., 0])
        labels = torch.where(labels == 0, torch.ones_like(labels), labels)
        flips = torch.rand(batch, count, generator=generator, dtype=DTYPE) < self.flip
        labels = torch.where(flips, -labels, labels)
        lam = torch.exp(_uniform(generator, (batch,), math.log(self.lam[0]), math.log(self.lam[1])))
        data = (features * labels[..., None], lam)
        x_star, f_star = self._newton(data, n)
        x0 = x_star + _randn(generator, batch, n)
        return self.problem(data, x0, x_star, f_star)


class Rosenbrock(Family):
    """Chained Rosenbrock valleys with random steepness and a shifted minimiser."""

    name = "rosenbrock"

    def __init__(self, dims=(2, 12), steepness=(1.0, 100.0), start_spread=(0.3, 1.0)):
        self.dims, self.steepness, self.start_spread = tuple(dims), tuple(steepness), start_spread

    def value(self, data, x):
        shift, b = data
        z = x - shift + 1.0
        head, tail = z[..., :-1], z[..., 1:]
        return (b[:, None] * (tail - head * head) ** 2 + (1.0 - head) ** 2).sum(-1)

    def gradient(self, data, x):
        shift, b = data
        z = x - shift + 1.0
        head, tail = z[..., :-1], z[..., 1:]
        valley = b[:, None] * (tail - head * head)
        d_head = -4.0 * valley * head - 2.0 * (1.0 - head)
        d_tail = 2.0 * valley
        zero = torch.zeros_like(z[..., :1])
        return torch.cat([d_head, zero], -1) + torch.cat([zero, d_tail], -1)

    def sample(self, generator, batch):
        n = _randint(generator, *self.dims)
        lo, hi = (math.log(v) for v in self.steepness)
        b = torch.exp(_uniform(generator, (batch,), lo, hi))
        x_star = _randn(generator, batch, n)
        spread = _uniform(generator, (batch, 1), *self.start_spread)
        x0 = x_star + spread * _randn(generator, batch, n)
        f_star = torch.zeros(batch, dtype=DTYPE)
        return self.problem((x_star, b), x0, x_star, f_star)


class MLPFit(Family):
    """Teacher-student regression with a one-hidden-layer tanh network (``f* = 0``)."""

    name = "mlp_fit"

    def __init__(self, inputs=(1, 3), hidden=(2, 6), samples=32, start_spread=(0.2, 1.0)):
        self.inputs, self.hidden = tuple(inputs), tuple(hidden)
        self.samples, self.start_spread = samples, tuple(start_spread)

    @staticmethod
    def _predict(inputs, theta, d, h):
        """Network outputs (B, N) for parameters theta = [W1 (h*d), b1 (h), w2 (h), b2]."""
        batch = theta.shape[0]
        w1 = theta[:, : h * d].reshape(batch, h, d)
        b1 = theta[:, h * d: h * d + h]
        w2 = theta[:, h * d + h: h * d + 2 * h]
        b2 = theta[:, -1:]
        hidden = torch.tanh(inputs @ w1.transpose(-1, -2) + b1[:, None, :])
        return (hidden @ w2[..., None])[..., 0] + b2

    def value(self, data, x):
        inputs, targets = data
        d = inputs.shape[-1]
        h = (x.shape[-1] - 1) // (d + 2)
        r = self._predict(inputs, x, d, h) - targets
        return (r * r).mean(-1)

    gradient = autograd_gradient_method

    def sample(self, generator, batch):
        d = _randint(generator, *self.inputs)
        h = _randint(generator, *self.hidden)
        n = h * (d + 2) + 1
        inputs = _randn(generator, batch, self.samples, d)
        teacher = _randn(generator, batch, n)
        targets = self._predict(inputs, teacher, d, h)
        spread = _uniform(generator, (batch, 1), *self.start_spread)
        x0 = teacher + spread * _randn(generator, batch, n)
        f_star = torch.zeros(batch, dtype=DTYPE)
        return self.problem((inputs, targets), x0, teacher, f_star, x_star_known=False)


def _width_range(name, value):
    """``value`` as a ``(low, high)`` pair with ``0 <= low <= high``, or a ValueError naming it."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be a pair (low, high) of numbers; got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low <= high):
        raise ValueError(f"'{name}' must satisfy 0 <= low <= high (finite); got {value!r}")
    return low, high


def _width(generator, bounds):
    """One width uniform in ``bounds``; a degenerate range draws nothing (so configs written
    before the range existed draw the same instances)."""
    low, high = bounds
    return low if low == high else float(_uniform(generator, (), low, high))


def _levenberg_marquardt(value, residual, jacobian, x, steps):
    """Levenberg-Marquardt from ``x`` (B, n): Gauss-Newton with Marquardt's diagonal damping,
    batched; a step is kept only if it lowers ``value``. Returns the point and its value."""
    mu = torch.full((x.shape[0],), 1e-3, dtype=DTYPE)
    f = value(x)
    for _ in range(steps):
        jac = jacobian(x)
        r = residual(x)
        jtj = jac.transpose(-1, -2) @ jac
        damp = mu[:, None, None] * torch.diag_embed(torch.diagonal(jtj, dim1=-2, dim2=-1))
        step = torch.linalg.solve(jtj + damp, -(jac.transpose(-1, -2) @ r[..., None]))[..., 0]
        f_new = value(x + step)
        better = torch.isfinite(f_new) & (f_new <= f + 1e-13 * f.abs())
        x = torch.where(better[:, None], x + step, x)
        f = torch.where(better, f_new, f)
        mu = torch.where(better, mu / 3.0, mu * 4.0).clamp(1e-12, 1e12)
    return x, f


def _stacked(y, batch):
    """A complex numpy observation ``(B, ...)`` as the stacked real tensor ``(B, 2N)``."""
    y = y.reshape(batch, -1)
    return torch.cat([torch.from_numpy(y.real.copy()), torch.from_numpy(y.imag.copy())], dim=-1)


def _grid(values, batch):
    """A numpy grid ``(N,)`` repeated over the batch, ``(B, N)``."""
    return torch.from_numpy(values).expand(batch, values.size).clone()


class Channel(Family):
    """Specular-path delay and weight estimation (:mod:`learnedmin.problems.channel`).

    ``theta = [tau_1..P, Re gamma_1..P, Im gamma_1..P]``, cost ``|y - s(theta)|^2`` on ``M``
    subcarriers, starts made by perturbing the ground truth (that module's :func:`sample`). The
    minimiser is the maximum-likelihood estimate next to the truth, found by Levenberg-Marquardt
    (Gauss-Newton with Marquardt's diagonal damping, 50 steps) started at the ground truth; it
    differs from the truth by the noise. Half the batches use natural units (delays as fractions
    of the unambiguous range, where delay and weight curvatures differ by 10^4 and more), half
    the scaled units (delays in resolution cells).

    Parameters
    ----------
    paths, subcarriers : (int, int)
        Ranges (both ends included) of the number of paths ``P`` and subcarriers ``M``, one of
        each drawn per batch.
    snr_db : (float, float)
        Range of the SNR in dB, one drawn per instance.
    perturbation : (float, float)
        Range of the largest delay error of the start, in resolution cells: one width drawn
        uniformly per batch and passed to :func:`~learnedmin.problems.channel.sample` as
        ``delay_perturbation``. A degenerate range (the default, 0.25 cell) draws nothing, so the
        instances are those drawn before the range existed.

    :meth:`hessian_product` is the Gauss-Newton product ``2 J^T J v`` of
    :func:`~learnedmin.problems.channel.gauss_newton_hessp`, scaled as the cost ``|r|^2``.
    """

    name = "channel"
    lm_steps = 50

    def __init__(self, paths=(1, 3), subcarriers=(16, 64), snr_db=(10.0, 30.0),
                 perturbation=(0.25, 0.25)):
        self.paths, self.subcarriers, self.snr_db = tuple(paths), tuple(subcarriers), snr_db
        self.perturbation = _width_range("perturbation", perturbation)

    @staticmethod
    def _module():
        from ..problems import channel

        return channel

    def value(self, data, x):
        y, freqs = data
        return self._module().cost(x, y, freqs)

    def gradient(self, data, x):
        y, freqs = data
        return self._module().gradient(x, y, freqs)

    def hessian_product(self, data, x, v):
        """Gauss-Newton products ``2 J^T J v`` ``(B, n)`` (the exact Hessian less the term
        ``2 sum_i r_i H(r_i)``, which vanishes at a noiseless fit)."""
        _, freqs = data
        return self._module().gauss_newton_hessp(x, v, freqs)

    def _maximum_likelihood(self, data, theta):
        """Levenberg-Marquardt from ``theta`` (batched; a step is kept only if it lowers f)."""
        ch = self._module()
        y, freqs = data
        return _levenberg_marquardt(lambda t: self.value(data, t),
                                    lambda t: ch.residual(t, y, freqs),
                                    lambda t: ch.jacobian(t, freqs), theta, self.lm_steps)

    def _draw(self, generator, batch):
        """One batch of :func:`~learnedmin.problems.channel.sample` from the generator."""
        P = _randint(generator, *self.paths)
        M = _randint(generator, *self.subcarriers)
        units = "natural" if _randint(generator, 0, 1) == 0 else "scaled"
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        snr = _uniform(generator, (batch,), *self.snr_db).numpy()
        width = _width(generator, self.perturbation)
        return self._module().sample(seed, P, M, snr, batch=batch, units=units,
                                     delay_perturbation=width)

    def sample(self, generator, batch):
        s = self._draw(generator, batch)
        data = (_stacked(s.y, batch), _grid(s.freqs, batch))
        x_star, f_star = self._maximum_likelihood(data, torch.from_numpy(s.theta_true))
        return self.problem(data, torch.from_numpy(s.theta0), x_star, f_star)


class ConcentratedChannel(Channel):
    """Delay estimation with the path weights eliminated (:mod:`learnedmin.problems.concentrated`).

    The instances of :class:`Channel` (the same constructor arguments and draws) with ``x = tau``,
    the ``P`` delays, and the concentrated cost ``min_gamma |y - A(tau) gamma|^2`` (variable
    projection). The start is the delays of :class:`Channel`'s start; the minimiser is the
    delays of the maximum-likelihood estimate, found by Levenberg-Marquardt on the concentrated
    residual (with its exact Golub-Pereyra Jacobian) started at the true delays, and ``f_star``
    is its cost. :meth:`hessian_product` is the concentrated Gauss-Newton product ``2 J^T J v``.
    """

    name = "channel_concentrated"
    lm_steps = 30

    @staticmethod
    def _concentrated():
        from ..problems import concentrated

        return concentrated

    def value(self, data, x):
        y, freqs = data
        return self._concentrated().cost(x, y, freqs)

    def gradient(self, data, x):
        y, freqs = data
        return self._concentrated().gradient(x, y, freqs)

    def hessian_product(self, data, x, v):
        """Concentrated Gauss-Newton products ``2 J^T J v`` ``(B, P)``."""
        y, freqs = data
        return self._concentrated().gauss_newton_hessp(x, v, y, freqs)

    def _maximum_likelihood(self, data, tau):
        vp = self._concentrated()
        y, freqs = data
        return _levenberg_marquardt(lambda t: self.value(data, t),
                                    lambda t: vp.residual(t, y, freqs),
                                    lambda t: vp.jacobian(t, y, freqs), tau, self.lm_steps)

    def sample(self, generator, batch):
        s = self._draw(generator, batch)
        P = s.theta_true.shape[-1] // 3
        data = (_stacked(s.y, batch), _grid(s.freqs, batch))
        x_star, f_star = self._maximum_likelihood(data, torch.from_numpy(s.theta_true[:, :P]))
        return self.problem(data, torch.from_numpy(s.theta0[:, :P].copy()), x_star, f_star)


class ConcentratedChannel2D(Family):
    """Delay-angle estimation with the path weights eliminated
    (:mod:`learnedmin.problems.concentrated` on :mod:`learnedmin.problems.channel2d`).

    ``x = [tau_1..P, mu_1..P]``, the concentrated cost ``min_gamma |y - A(tau, mu) gamma|^2`` on
    ``K`` antennas by ``M`` subcarriers; instances and starts from
    :func:`learnedmin.problems.channel2d.sample`, half the batches in natural, half in scaled
    units. The minimiser is the delays and angles of the maximum-likelihood estimate, found by
    Levenberg-Marquardt on the concentrated residual started at the truth.

    Parameters
    ----------
    paths, subcarriers, antennas : (int, int)
        Ranges (both ends included) of ``P``, ``M`` and ``K``, one of each drawn per batch.
    snr_db : (float, float)
        Range of the SNR in dB, one drawn per instance.
    perturbation, angle_perturbation : (float, float)
        Ranges of the largest delay and angle errors of the start, in resolution cells; one width
        of each drawn per batch (nothing is drawn for a degenerate range).
    """

    name = "channel2d_concentrated"
    lm_steps = 30

    def __init__(self, paths=(1, 3), subcarriers=(16, 32), antennas=(4, 8), snr_db=(10.0, 30.0),
                 perturbation=(0.25, 0.25), angle_perturbation=(0.25, 0.25)):
        self.paths, self.subcarriers = tuple(paths), tuple(subcarriers)
        self.antennas, self.snr_db = tuple(antennas), snr_db
        self.perturbation = _width_range("perturbation", perturbation)
        self.angle_perturbation = _width_range("angle_perturbation", angle_perturbation)

    @staticmethod
    def _concentrated():
        from ..problems import concentrated

        return concentrated

    def value(self, data, x):
        return self._concentrated().cost2d(x, *data)

    def gradient(self, data, x):
        return self._concentrated().gradient2d(x, *data)

    def hessian_product(self, data, x, v):
        """Concentrated Gauss-Newton products ``2 J^T J v`` ``(B, 2P)``."""
        return self._concentrated().gauss_newton_hessp2d(x, v, *data)

    def _maximum_likelihood(self, data, x):
        vp = self._concentrated()
        return _levenberg_marquardt(lambda t: self.value(data, t),
                                    lambda t: vp.residual2d(t, *data),
                                    lambda t: vp.jacobian2d(t, *data), x, self.lm_steps)

    def sample(self, generator, batch):
        from ..problems import channel2d

        P = _randint(generator, *self.paths)
        M = _randint(generator, *self.subcarriers)
        K = _randint(generator, *self.antennas)
        units = "natural" if _randint(generator, 0, 1) == 0 else "scaled"
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        snr = _uniform(generator, (batch,), *self.snr_db).numpy()
        delay_width = _width(generator, self.perturbation)
        angle_width = _width(generator, self.angle_perturbation)
        s = channel2d.sample(seed, P, M, K, snr, batch=batch, units=units,
                             delay_perturbation=delay_width, angle_perturbation=angle_width)
        data = (_stacked(s.y, batch), _grid(s.freqs, batch), _grid(s.positions, batch))
        x_star, f_star = self._maximum_likelihood(
            data, torch.from_numpy(s.theta_true[:, :2 * P].copy()))
        return self.problem(data, torch.from_numpy(s.theta0[:, :2 * P].copy()), x_star, f_star)


FAMILIES = {}


def register_family(family, replace=False):
    """Make ``family`` available by ``family.name`` (configs list families by name).

    Raises
    ------
    ValueError
        If the name is taken and ``replace`` is False.
    """
    name = getattr(family, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError("a family needs a non-empty string attribute 'name'")
    if not callable(getattr(family, "sample", None)):
        raise ValueError(f"family {name!r} needs a method sample(generator, batch)")
    if name in FAMILIES and not replace:
        raise ValueError(f"a family named {name!r} is already registered; pass replace=True")
    FAMILIES[name] = family
    return family


def get_family(name):
    """The registered family called ``name``."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown problem family {name!r}; registered: {', '.join(sorted(FAMILIES))}"
        ) from None


def family_names():
    """Names of the registered families, sorted."""
    return sorted(FAMILIES)


for _family in (Quadratic(), LeastSquares(), Logistic(), Rosenbrock(), MLPFit(),
                GaussianLeastSquares()):
    register_family(_family)


def _channel_available():
    try:
        from ..problems import channel  # noqa: F401
    except ImportError:
        return False
    return True


def _named(family, name):
    """``family`` registered under another name (the same class with other ranges)."""
    family.name = name
    return family


# Wide starts: the delays off by up to 0.3 to 2 resolution cells (one width per batch), beyond
# the basin of Levenberg-Marquardt (about one cell): the families the global phase of the
# bundled 'channel' network is trained on (configs/channel.toml), and the delay x angle family
# of the retraining guide.
WIDE_STARTS = (0.3, 2.0)

if _channel_available():
    for _family in (
        Channel(), ConcentratedChannel(), ConcentratedChannel2D(),
        _named(Channel(paths=(2, 5), subcarriers=(32, 64), perturbation=WIDE_STARTS),
               "channel_wide"),
        _named(ConcentratedChannel(paths=(2, 5), subcarriers=(32, 64),
                                   perturbation=WIDE_STARTS), "channel_concentrated_wide"),
        _named(ConcentratedChannel2D(paths=(2, 3), perturbation=WIDE_STARTS,
                                     angle_perturbation=WIDE_STARTS),
               "channel2d_concentrated_wide"),
    ):
        register_family(_family)
