"""``minimize_batch``: many problems of one size solved in lockstep by the method of ``learned``.

The driver answers the requests of :mod:`learnedmin.step` for a whole batch: each request names
the rows it needs, and the user's function sees exactly those rows of ``x`` and of every
argument in ``args``. A row that has stopped is never evaluated again. numpy arrays in give numpy
arrays out; torch tensors in (on any device) give torch tensors out on the same device.
"""

import copy

import numpy as np

from . import _options
from . import _status as st
from ._xp import array_namespace
from .policy import FixedWeights, ModulePolicy
from .requests import drive
from .step import Setup, best_point, init, step

__all__ = ["minimize_batch"]

_UNSUPPORTED = ("x_scale", "return_all", "disp")


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _standardize_x0(x0):
    if _is_torch(x0):
        import torch

        if x0.is_complex() or not (x0.is_floating_point() or x0.dtype in (
                torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
            raise TypeError(f"'x0' must be a real tensor; got dtype {x0.dtype}")
        x = x0.detach().to(torch.float64).clone()
        finite = bool(torch.isfinite(x).all())
    else:
        x = np.asarray(x0)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"'x0' must be a real array; got dtype {x.dtype}")
        x = np.array(x, dtype=np.float64)
        finite = bool(np.all(np.isfinite(x)))
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"'x0' must have shape (B, n) with B, n >= 1; got shape "
                         f"{tuple(x.shape)}")
    if not finite:
        raise ValueError("'x0' contains NaN or infinite values")
    return x


def _standardize_args(args, batch):
    if not isinstance(args, tuple):
        args = (args,)
    for i, a in enumerate(args):
        if getattr(a, "ndim", 0) < 1 or a.shape[0] != batch:
            raise ValueError(f"every entry of 'args' needs a leading batch dimension of {batch} "
                             f"(one row per problem); args[{i}] has shape "
                             f"{tuple(getattr(a, 'shape', ()))}")
    return args


def _standardize_bounds(bounds, x, xp):
    """``(lb, ub)`` as arrays of ``x``'s kind broadcast to its shape, or ``(None, None)``."""
    if bounds is None:
        return None, None
    from scipy.optimize import Bounds

    if isinstance(bounds, Bounds):
        pair = (bounds.lb, bounds.ub)
    else:
        try:
            pair = tuple(bounds)
        except TypeError as exc:
            raise TypeError("'bounds' must be a scipy.optimize.Bounds or a pair (lb, ub) of "
                            "arrays broadcastable to x0's shape") from exc
        if len(pair) != 2:
            raise ValueError("'bounds' must be a pair (lb, ub) of arrays broadcastable to x0's "
                             f"shape {tuple(x.shape)}; got {len(pair)} entries")
    out = []
    for name, side in zip(("lower", "upper"), pair):
        side = np.asarray(side.cpu() if _is_torch(side) else side, dtype=float)
        try:
            side = np.broadcast_to(side, tuple(x.shape))
        except ValueError as exc:
            raise ValueError(f"'bounds': the {name} bounds of shape {side.shape} do not "
                             f"broadcast to x0's shape {tuple(x.shape)}") from exc
        out.append(side)
    lb, ub = out
    if np.any(np.isnan(lb)) or np.any(np.isnan(ub)):
        raise ValueError("'bounds' contain NaN")
    if np.any(lb > ub):
        raise ValueError("'bounds' are infeasible: a lower bound exceeds its upper bound")
    if np.all(np.isneginf(lb)) and np.all(np.isposinf(ub)):
        return None, None
    return (xp.asarray(lb.copy(), device=x.device), xp.asarray(ub.copy(), device=x.device))


class _Answers:
    """Answers the iteration's requests from the user's batched callables, counting per row."""

    def __init__(self, fun, jac, hess, hessp, args, x, rel_step):
        self.fun, self.jac, self.hess, self.hessp, self.args = fun, jac, hess, hessp, args
        self.xp = array_namespace(x)
        self.like = x
        batch = x.shape[0]
        self.nfev = np.zeros(batch, dtype=np.int64)
        self.njev = np.zeros(batch, dtype=np.int64)
        self.nhev = np.zeros(batch, dtype=np.int64)
        self.rel_step = rel_step
        self._memo = None   # (index, x, g) of the last jac=True evaluation
        self._hessian = None  # (index, matrices) of the last "hess" request

    def _index(self, rows):
        rows = np.asarray(rows.cpu() if _is_torch(rows) else rows)
        return np.flatnonzero(rows)

    def _take(self, a, index):
        """Rows ``index`` of ``a`` (``a`` itself when every row is asked for: the user's own
        arguments go back unchanged, as SciPy passes ``args``; points are copied before a call)."""
        if len(index) == a.shape[0]:
            return a
        if _is_torch(a):
            import torch

            return a[torch.as_tensor(index, device=a.device)]
        return a[index]

    def _array(self, value, shape, name):
        xp = self.xp
        if _is_torch(self.like) and not _is_torch(value):
            value = np.asarray(value, dtype=np.float64)
        try:
            arr = xp.asarray(value, dtype=xp.float64, device=self.like.device)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"`{name}` must return a real array of shape {shape}; got "
                            f"{type(value).__name__}") from exc
        if tuple(arr.shape) != shape:
            raise ValueError(f"`{name}` must return an array of shape {shape} (one row per live "
                             f"problem); got shape {tuple(arr.shape)}")
        return arr

    def _scatter(self, index, values, shape):
        xp = self.xp
        full = xp.full(shape, float("nan"), dtype=xp.float64, device=self.like.device)
        if _is_torch(full):
            import torch

            return full.index_put((torch.as_tensor(index, device=full.device),), values)
        full[index] = values
        return full

    def _call_fun(self, x, index):
        self.nfev[index] += 1
        args = tuple(self._take(a, index) for a in self.args)
        out = self.fun(_copy(x), *args)
        m, n = x.shape
        if self.jac is True:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("with jac=True `fun` must return a pair (f, g)")
            self.njev[index] += 1
            f, g = self._array(out[0], (m,), "fun"), self._array(out[1], (m, n), "fun")
            self._memo = (index, x, g)
            return f
        return self._array(out, (m,), "fun")

    def _gradient(self, x, f, index):
        m, n = x.shape
        memo = self._memo
        if self.jac is True:
            if memo is not None and np.array_equal(memo[0], index) and _same(memo[1], x):
                return memo[2]
            self._call_fun(x, index)
            return self._memo[2]
        if callable(self.jac):
            self.njev[index] += 1
            args = tuple(self._take(a, index) for a in self.args)
            return self._array(self.jac(_copy(x), *args), (m, n), "jac")
        return self._forward_difference(x, f, index)

    def _forward_difference(self, x, f, index):
        xp = self.xp
        eps = float(np.finfo(np.float64).eps)
        rel = np.sqrt(eps) if self.rel_step is None else self.rel_step
        typical = xp.max(xp.abs(x), axis=-1)
        floor = xp.where(typical > 0, 1e-2 * typical, xp.ones_like(typical))
        h = rel * xp.maximum(xp.abs(x), floor[:, None])
        eye = xp.eye(x.shape[1], dtype=x.dtype, device=x.device)
        columns = []
        for i in range(x.shape[1]):
            x_i = x + h[:, i:i + 1] * eye[i, :]
            columns.append((self._call_fun(x_i, index) - f) / (x_i[:, i] - x[:, i]))
        self.njev[index] += 1
        return xp.stack(columns, axis=-1)

    def _product(self, x, v, index):
        m, n = x.shape
        if self._hessian is not None:
            H = self._take(self._hessian, index)
            return (H @ v[..., None])[..., 0]
        self.nhev[index] += 1
        args = tuple(self._take(a, index) for a in self.args)
        return self._array(self.hessp(_copy(x), _copy(v), *args), (m, n), "hessp")

    def __call__(self, request):
        kind = request.kind
        index = self._index(request.rows)
        x = self._take(request.x, index)
        shape_f, shape_g = tuple(request.x.shape[:1]), tuple(request.x.shape)
        if kind == "f":
            return self._scatter(index, self._call_fun(x, index), shape_f)
        if kind == "g":
            f = self._take(request.f, index)
            return self._scatter(index, self._gradient(x, f, index), shape_g)
        if kind == "fg":
            f = self._call_fun(x, index)
            g = self._gradient(x, f, index)
            return self._scatter(index, f, shape_f), self._scatter(index, g, shape_g)
        if kind == "hess":
            self._hessian = None
            if self.hess is None:
                return None
            m, n = x.shape
            self.nhev[index] += 1
            args = tuple(self._take(a, index) for a in self.args)
            H = self._array(self.hess(_copy(x), *args), (m, n, n), "hess")
            self._hessian = self._scatter(index, H, shape_g + (n,))
            diagonal = self.xp.stack([H[:, i, i] for i in range(n)], axis=-1)
            return self._scatter(index, diagonal, shape_g)
        if kind == "hessp":
            v = self._take(request.v, index)
            return self._scatter(index, self._product(x, v, index), shape_g)
        raise ValueError(f"unknown request {kind!r}")  # pragma: no cover - a programming error


def _copy(a):
    return a.clone() if _is_torch(a) else a.copy()


def _same(a, b):
    if _is_torch(a):
        import torch

        return a.shape == b.shape and bool(torch.equal(a, b))
    return a.shape == b.shape and bool(np.array_equal(a, b))


_TORCH_MODULES = {}  # (id of the module, device) -> the module on that device


def _torch_policy(policy, device):
    """``policy`` for torch tensors on ``device``: the network module itself (the numpy mirror
    is only for numpy)."""
    if isinstance(policy, FixedWeights):
        return policy
    module = policy.module
    if device.type != "cpu":
        key = (id(module), str(device))
        if key not in _TORCH_MODULES:
            _TORCH_MODULES[key] = copy.deepcopy(module).to(device)
        module = _TORCH_MODULES[key]
    return ModulePolicy(module, policy.hidden_size, policy.n_features)


_MINIMIZERS = {}  # bundled name or path -> LearnedMinimizer (its network, loaded once)


def _minimizer(weights):
    """The :class:`~learnedmin.LearnedMinimizer` whose network a batch uses (loaded once per
    archive and process)."""
    from .method import LearnedMinimizer

    if isinstance(weights, FixedWeights):
        return LearnedMinimizer(weights=weights)
    key = str(weights)
    if key not in _MINIMIZERS:
        _MINIMIZERS[key] = LearnedMinimizer(weights=weights)
    return _MINIMIZERS[key]


def _resolve(options):
    bad = sorted(set(options) & set(_UNSUPPORTED))
    if bad:
        raise ValueError(f"minimize_batch does not support the option(s) {', '.join(bad)}")
    return _options.resolve_options(_options.DEFAULTS, options, stacklevel=4)


def minimize_batch(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
                   weights="default", **options):
    """Minimise ``B`` problems of one size at once with the method of :data:`learnedmin.learned`.

    Every row runs the iteration ``minimize(fun_row, x0[i], method=learned)`` runs, in
    lockstep with the others: finished rows are frozen and never evaluated again.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> f``: ``x`` of shape (m, n) holds the rows still running (m <= B) and
        every argument the same rows of the corresponding entry of ``args``; ``f`` has shape
        (m,). With ``jac=True`` it returns the pair ``(f, g)`` with ``g`` of shape (m, n).
    x0 : array (B, n) or torch tensor (B, n)
        Starting points (copied; never modified). Torch tensors may live on any device.
    args : tuple of arrays
        Per-problem data, each with a leading batch dimension ``B``.
    jac : callable, True or None
        ``jac(x, *args) -> (m, n)``; ``True`` when ``fun`` returns the gradient too; ``None`` for
        forward differences (n extra evaluations per gradient, counted in ``nfev``).
    hess, hessp : callable, optional
        ``hess(x, *args) -> (m, n, n)`` or ``hessp(x, p, *args) -> (m, n)``: the second-order
        slot is then Newton-CG (Gauss-Newton with a Gauss-Newton product).
    bounds : scipy.optimize.Bounds or pair (lb, ub), optional
        Box bounds broadcastable to ``(B, n)``.
    weights : str, path or FixedWeights
        As for :class:`learnedmin.LearnedMinimizer` (``"default"``, ``"channel"``, ...).
    **options
        The options of ``learned`` (``gtol``, ``maxiter``, ``c1``, ...), validated with the same
        messages; ``x_scale``, ``return_all`` and ``disp`` are not supported here.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (B, n), ``fun``, ``nit``, ``nfev``, ``njev``, ``nhev``, ``status``, ``success``
        (each (B,)) and ``message`` (a list of B strings). numpy in gives numpy out; torch in
        gives torch tensors on ``x0``'s device.

    Examples
    --------
    >>> import numpy as np
    >>> from learnedmin import minimize_batch
    >>> centres = np.array([[1.0, 2.0], [-3.0, 0.5], [0.0, 4.0]])
    >>> def fg(x, c):
    ...     return 0.5 * ((x - c) ** 2).sum(-1), x - c
    >>> res = minimize_batch(fg, np.zeros((3, 2)), args=(centres,), jac=True)
    >>> bool(res.success.all()), bool(np.allclose(res.x, centres, atol=1e-5))
    (True, True)
    """
    if not callable(fun):
        raise TypeError(f"'fun' must be callable; got {type(fun).__name__}")
    for name, value in (("jac", jac), ("hess", hess), ("hessp", hessp)):
        if value is not None and not callable(value) and not (name == "jac" and value is True):
            raise TypeError(f"'{name}' must be a callable or None for minimize_batch; got "
                            f"{value!r}")
    x = _standardize_x0(x0)
    xp = array_namespace(x)
    args = _standardize_args(args, x.shape[0])
    opts = _resolve(options)
    minimizer = _minimizer(weights)
    has_hessian = hess is not None or hessp is not None
    policy, opts = minimizer._policy_for(has_hessian, opts)
    if _is_torch(x):
        policy = _torch_policy(policy, x.device)
    lb, ub = _standardize_bounds(bounds, x, xp)
    if lb is not None:
        x = xp.minimum(xp.maximum(x, lb), ub)
    answers = _Answers(fun, jac, hess, hessp, args, x, opts["finite_diff_rel_step"])
    setup = Setup(policy, opts, lb, ub, has_hessian, paired=jac is True)
    return _solve(x, setup, answers, xp)


def _solve(x, setup, answers, xp):
    """Iterate until no row runs; the batched result."""
    from scipy.optimize import OptimizeResult

    with _no_grad(x):
        state = drive(init(x, setup), answers, _quiet)
        while _any_running(state):
            state, info = drive(step(state, setup), answers, _quiet)
            if info is None:
                break
    status = np.asarray(state.status.cpu() if _is_torch(state.status) else state.status)
    counts = {name: xp.asarray(getattr(answers, name), device=x.device)
              for name in ("nfev", "njev", "nhev")}
    with _quiet():  # non-finite values are compared here
        x_out, f_out, _, _ = best_point(state)
    return OptimizeResult(
        x=x_out, fun=f_out, nit=state.nit, status=state.status,
        success=state.status == st.SUCCESS, message=[st.MESSAGES[int(s)] for s in status],
        **counts,
    )


def _any_running(state):
    return bool((state.status == st.RUNNING).any())


def _quiet():
    """numpy's floating-point warnings off in the iteration's own arithmetic (see loop.py)."""
    return np.errstate(all="ignore")


def _no_grad(x):
    if _is_torch(x):
        import torch

        return torch.no_grad()
    import contextlib

    return contextlib.nullcontext()
