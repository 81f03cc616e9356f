"""The user's ``fun``/``jac``/``hess``/``hessp`` behind one counted, checked interface.

Every call gets a fresh copy of ``x`` (user code may mutate its argument), every returned value is
checked for type and shape with a message that names the callable, and ``nfev``/``njev``/``nhev``
count as SciPy's methods do: ``nfev`` every call of ``fun`` (finite-difference calls included),
``njev`` every gradient (a call of ``jac``, or one finite-difference gradient).
"""

import numpy as np


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return f"{type(value).__name__} {value!r}"[:120]


def _as_real_scalar(value, name):
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"`{name}` must return a real scalar; got {_describe(value)}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - the user's object refused conversion
        raise TypeError(f"`{name}` must return a real scalar; got {_describe(value)}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must return a real scalar; got {_describe(value)}")
    if arr.size != 1:
        raise ValueError(f"`{name}` must return a scalar; got {_describe(arr)}")
    return float(arr.reshape(())), arr.dtype


def _as_real_vector(value, n, name):
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"`{name}` must return a real array of shape ({n},); got {_describe(value)}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - a ragged list, or an object refusing conversion
        raise TypeError(f"`{name}` must return a real array of shape ({n},); "
                        f"got {_describe(value)}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must return a real array of shape ({n},); got {_describe(arr)}")
    if arr.shape != (n,) and not (n == 1 and arr.size == 1):
        raise ValueError(
            f"`{name}` must return an array of shape ({n},) matching x0; got shape {arr.shape}"
        )
    return np.array(arr, dtype=np.float64).reshape(n)


def _steps_inside(x, h, lb, ub):
    """Forward-difference steps ``h > 0`` adjusted so that ``x + h`` stays in ``[lb, ub]``.

    As SciPy's ``approx_derivative`` with bounds (its one-sided scheme): a step that would leave
    the box is taken inward instead (a backward difference) where it fits; where it fits on
    neither side, the step is the whole distance to the farther bound.
    """
    lower, upper = x - lb, ub - x
    fits = h <= np.maximum(lower, upper)
    inward = (x + h > ub) & fits
    return np.where(fits, np.where(inward, -h, h), np.where(upper >= lower, upper, -lower))


class Objective:
    """Counted access to the user's callables.

    Parameters
    ----------
    fun, jac, hess, hessp : callables or None
        As passed by :func:`scipy.optimize.minimize` (``jac=None`` means finite differences).
    args : tuple
        Extra arguments for every callable.
    n : int
        Problem dimension.
    finite_diff_rel_step : float or None
        Relative forward-difference step; ``None`` picks ``sqrt(eps)`` of ``fun``'s output dtype.
    bounds : (lb, ub) pair of float arrays ``(n,)``, or None
        The box; finite differences evaluate ``fun`` only inside it.
    paired : bool
        ``fun`` returns ``(f, g)`` (SciPy's ``jac=True``): every call yields both, and a gradient
        asked for at a point where ``fun`` was called is taken from that call, never from a
        second one (the last few points are remembered).

    Attributes
    ----------
    nfev, njev, nhev : int
        Calls of ``fun`` (finite-difference calls included), gradients (calls of ``jac``, or
        finite-difference gradients: one each, as SciPy's methods count them; with ``paired``,
        gradients used, each from a call counted in ``nfev``) and calls of ``hess`` or
        ``hessp``. With ``paired``, ``nfev`` is the number of evaluations.
    """

    _REMEMBERED = 4  # points whose paired gradient is kept (a search compares at most two)

    def __init__(self, fun, jac, hess, hessp, args, n, finite_diff_rel_step=None, bounds=None,
                 paired=False):
        self.fun, self.jac, self.hess, self.hessp, self.args, self.n = fun, jac, hess, hessp, args, n
        self.rel_step = finite_diff_rel_step
        self.bounds = bounds
        self.paired = bool(paired)
        self.nfev = self.njev = self.nhev = 0
        self._fdtype = None
        self._gradients = {}  # x.tobytes() -> g, for paired calls

    def f(self, x):
        """``fun(x)`` as a float (non-finite values are returned, not raised)."""
        self.nfev += 1
        out = self.fun(x.copy(), *self.args)
        if self.paired:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("with jac=True `fun` must return a pair (f, g); got "
                                f"{_describe(out)}")
            out, gradient = out
            self._gradients[x.tobytes()] = _as_real_vector(gradient, self.n, "fun (its gradient)")
            while len(self._gradients) > self._REMEMBERED:
                del self._gradients[next(iter(self._gradients))]
        value, dtype = _as_real_scalar(out, "fun")
        if self._fdtype is None:
            self._fdtype = dtype
        return value

    def g(self, x, fx):
        """Gradient at ``x`` (``fx = f(x)`` is reused by forward differences)."""
        if self.paired:
            key = x.tobytes()
            if key not in self._gradients:
                self.f(x)
            self.njev += 1
            return self._gradients[key].copy()
        if self.jac is not None:
            self.njev += 1
            return _as_real_vector(self.jac(x.copy(), *self.args), self.n, "jac")
        return self._forward_difference(x, fx)

    def _forward_difference(self, x, fx):
        # The step follows the precision of fun's values: float32 values need a float32-sized
        # step, or the difference quotient is zero and the run stops at x0 (SciPy's BFGS does).
        eps = np.finfo(self._fdtype if self._fdtype is not None and
                       np.issubdtype(self._fdtype, np.floating) else np.float64).eps
        rel = np.sqrt(eps) if self.rel_step is None else self.rel_step
        typical = np.max(np.abs(x)) if x.size else 0.0
        floor = 1e-2 * typical if typical > 0 else 1.0
        # our arithmetic: an overflowing step gives inf or NaN, which the loop treats as a
        # non-finite gradient
        with np.errstate(over="ignore", invalid="ignore"):
            h = rel * np.maximum(np.abs(x), floor)
            if self.bounds is not None:
                h = _steps_inside(x, h, *self.bounds)
            trial = x + h
            if self.bounds is not None:  # x + (ub - x) may round past ub
                trial = np.clip(trial, *self.bounds)
            step = trial - x
        fixed = np.zeros(self.n, bool) if self.bounds is None else self.bounds[0] == self.bounds[1]
        self.njev += 1
        g = np.zeros(self.n)
        for i in np.flatnonzero(~fixed):  # a fixed variable's slope is never used
            xi = x.copy()
            xi[i] = trial[i]
            fi = self.f(xi)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                g[i] = (fi - fx) / step[i]
        return g

    @property
    def has_hessian(self):
        return self.hess is not None or self.hessp is not None

    def hessian(self, x):
        """``(product, diagonal)``: a function ``p -> H(x) p`` counting ``nhev`` (one ``hess``
        call, or one per product), and the diagonal of ``H(x)`` when ``hess`` returned a matrix
        (dense, or sparse with ``.diagonal()``), else ``None``."""
        if self.hess is not None:
            self.nhev += 1
            H = self.hess(x.copy(), *self.args)
            if isinstance(H, np.matrix):  # its products and diagonal are (1, n) matrices
                H = np.asarray(H)
            if getattr(H, "shape", None) != (self.n, self.n):
                raise ValueError(
                    f"`hess` must return a ({self.n}, {self.n}) matrix or linear operator; "
                    f"got {_describe(H)}"
                )

            def product(p):
                try:
                    Hp = H @ p
                except (TypeError, ValueError) as exc:
                    kind = TypeError if isinstance(exc, TypeError) else ValueError
                    raise kind(f"`hess` returned {_describe(H)}, which cannot multiply a "
                               f"real vector: {exc}") from exc
                return _as_real_vector(Hp, self.n, "hess(x) @ p")

            diagonal = None
            if isinstance(H, np.ndarray) or hasattr(H, "diagonal"):
                diagonal = _as_real_vector(H.diagonal(), self.n, "hess(x).diagonal()")
            return product, diagonal

        def product(p):
            self.nhev += 1
            return _as_real_vector(self.hessp(x.copy(), p.copy(), *self.args), self.n, "hessp")

        return product, None
