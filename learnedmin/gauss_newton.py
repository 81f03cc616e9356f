r"""A least-squares problem as :func:`scipy.optimize.minimize` wants it, one Jacobian per point.

Estimation code has a residual :math:`r(x) \in \mathbb R^m` and its Jacobian :math:`J(x)`, as
:func:`scipy.optimize.least_squares` takes them. :class:`GaussNewton` turns the pair into the
cost :math:`f = \tfrac12 r^{\mathsf T} r`, its gradient :math:`J^{\mathsf T} r` and the
Gauss-Newton matrix :math:`J^{\mathsf T} J` (as ``hess``) or its product
:math:`J^{\mathsf T} (J v)` (as ``hessp``), and forms the Jacobian once per point: the gradient
at a point, the Hessian-vector products of the inner conjugate-gradient solve there, and the
matrix all reuse it, as Levenberg-Marquardt does. A value-only trial of the line search costs one
residual and no Jacobian.
"""

import numpy as np

__all__ = ["GaussNewton"]


class LastPoint:
    """``function(x, *args)`` at the last point it was asked for (a one-entry cache): a call at
    the same point returns the kept value; ``calls`` counts the real calls. The function gets a
    copy of ``x``, and the kept point is never handed out."""

    def __init__(self, function, args=()):
        self.function, self.args = function, args
        self.x = None
        self.value = None
        self.calls = 0

    def __call__(self, x):
        if self.x is None or not np.array_equal(x, self.x):
            x = np.array(x, dtype=float, copy=True)
            # the user's function gets its own copy: the cache key is never handed out
            self.value = self.function(x.copy(), *self.args)
            self.x = x
            self.calls += 1
        return self.value


class GaussNewton:
    r"""``fun``, ``jac``, ``hess`` and ``hessp`` of :math:`\tfrac12\|r(x)\|^2` for
    :func:`scipy.optimize.minimize`, from a residual and its Jacobian.

    Parameters
    ----------
    residual : callable
        ``residual(x, *args) -> array, shape (m,)``.
    jacobian : callable
        ``jacobian(x, *args)``: the Jacobian of ``residual``, shape ``(m, n)``. A numpy array, or
        anything with ``@`` and ``.T`` (a sparse matrix, a
        :class:`~scipy.sparse.linalg.LinearOperator`) for :meth:`jac` and :meth:`hessp`;
        :meth:`hess` needs a numpy array.
    args : tuple, optional
        Extra arguments of both callables (give them here, not to ``minimize``).

    Attributes
    ----------
    nres, njac : int
        The calls of ``residual`` and ``jacobian`` so far (one per distinct point each).

    Examples
    --------
    Fit :math:`y = a e^{-b t}`, with the Gauss-Newton product as ``hessp``:

    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> from learnedmin import GaussNewton, learned
    >>> t = np.linspace(0.0, 3.0, 20)
    >>> y = 2.0 * np.exp(-1.5 * t)
    >>> def residual(p):
    ...     return p[0] * np.exp(-p[1] * t) - y
    >>> def jacobian(p):
    ...     e = np.exp(-p[1] * t)
    ...     return np.stack([e, -p[0] * t * e], axis=1)
    >>> gn = GaussNewton(residual, jacobian)
    >>> res = minimize(gn.fun, [1.0, 1.0], jac=gn.jac, hessp=gn.hessp, method=learned)
    >>> np.round(res.x, 6)
    array([2. , 1.5])
    >>> gn.njac <= res.njev
    True
    """

    def __init__(self, residual, jacobian, args=()):
        for name, value in (("residual", residual), ("jacobian", jacobian)):
            if not callable(value):
                raise TypeError(f"'{name}' must be callable; got {type(value).__name__}")
        if not isinstance(args, tuple):
            args = (args,)
        self._residual = LastPoint(residual, args)
        self._jacobian = LastPoint(jacobian, args)

    @property
    def nres(self):
        return self._residual.calls

    @property
    def njac(self):
        return self._jacobian.calls

    def _r(self, x):
        r = np.asarray(self._residual(x), dtype=float)
        if r.ndim != 1:
            raise ValueError(f"'residual' must return a 1-D array; got shape {r.shape}")
        return r

    def _J(self, x, m):
        J = self._jacobian(x)
        shape = getattr(J, "shape", None)
        n = np.size(x)
        if shape is None or tuple(shape) != (m, n):
            raise ValueError(f"'jacobian' must return shape (m, n) = ({m}, {n}) for a residual "
                             f"of length {m} and x of length {n}; got {shape}")
        return J

    def fun(self, x):
        """The cost :math:`\\tfrac12 r^{\\mathsf T} r` (one residual per point)."""
        r = self._r(x)
        return 0.5 * float(r @ r)

    def jac(self, x):
        """The gradient :math:`J^{\\mathsf T} r`."""
        r = self._r(x)
        return np.asarray(self._J(x, r.size).T @ r, dtype=float)

    def fun_and_jac(self, x):
        """``(fun(x), jac(x))``, for ``jac=True``."""
        return self.fun(x), self.jac(x)

    def hessp(self, x, v):
        """The Gauss-Newton product :math:`J^{\\mathsf T} (J v)`, with the Jacobian at ``x``
        formed once for every product there."""
        J = self._J(x, self._r(x).size)
        return np.asarray(J.T @ (J @ np.asarray(v, dtype=float)), dtype=float)

    def hess(self, x):
        """The Gauss-Newton matrix :math:`J^{\\mathsf T} J` (needs a dense Jacobian)."""
        J = self._J(x, self._r(x).size)
        if not isinstance(J, np.ndarray):
            raise TypeError("GaussNewton.hess needs the Jacobian as a numpy array; got "
                            f"{type(J).__name__} (use hessp with a sparse or operator Jacobian)")
        return J.T @ J
