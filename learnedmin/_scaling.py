"""The option ``x_scale``: the method works in ``z = x / x_scale`` (``D = diag(x_scale)``).

The user's callables, callback, bounds and start are carried into ``z``, and the result back to
``x``; ``fun``, ``jac``, the callback and the result see only the user's units.
"""

import numpy as np

__all__ = ["x_scale", "quiet", "to_user_units", "scaled_problem", "scaled_start",
           "unscaled_result"]


def x_scale(value, n):
    """The option ``x_scale`` as a float array ``(n,)``, or ``None``."""
    if value is None:
        return None
    scale = np.asarray(value, dtype=float)
    if scale.size == 1:
        return np.full(n, float(scale.reshape(())))
    if scale.shape != (n,):
        raise ValueError(f"'x_scale' must hold one value or one per variable ({n}); "
                         f"got shape {scale.shape}")
    return scale.copy()


class _ScaledOperator:
    """``D H D`` for a Hessian given as an operator (``D = diag(scale)``)."""

    def __init__(self, H, scale):
        self.H, self.scale, self.shape = H, scale, H.shape

    def __matmul__(self, p):
        return self.scale * np.asarray(self.H @ (self.scale * p)).reshape(-1)


def quiet():
    """Overflow in the scaling arithmetic (never around user calls) gives inf, which the loop
    treats as any non-finite value."""
    return np.errstate(over="ignore", invalid="ignore")


def to_user_units(scale, lb, ub):
    """``z -> D z``, kept in the user's box ``[lb, ub]``: ``(ub / s) * s`` can round past ``ub``."""

    def to_x(z):
        with quiet():
            x = z * scale
        return x if lb is None else np.clip(x, lb, ub)

    return to_x


def scaled_problem(to_x, scale, fun, jac, hess, hessp, notify, paired=False):
    """The callables in the variables ``z = x / scale``: ``f(D z)``, ``D g``, ``D H D``; the
    notifier gets the user's ``x = D z`` and gradient ``D^-1 g`` (``to_x`` maps ``z`` to ``x``)."""

    def times_scale(value):
        # a value of the wrong type or shape goes through unchanged, for the checks of
        # _objective to name the callable
        try:
            arr = np.asarray(value)
        except Exception:  # noqa: BLE001 - a ragged list, or an object refusing conversion
            return value
        if arr.dtype.kind not in "biuf" or arr.shape != scale.shape:
            return value
        with quiet():
            return arr * scale

    def fun_z(z, *args):
        out = fun(to_x(z), *args)
        if paired and isinstance(out, tuple) and len(out) == 2:
            return out[0], times_scale(out[1])
        return out

    def jac_z(z, *args):
        return times_scale(jac(to_x(z), *args))

    def hessp_z(z, p, *args):
        with quiet():
            p_x = scale * p
        return times_scale(hessp(to_x(z), p_x, *args))

    def hess_z(z, *args):
        H = hess(to_x(z), *args)
        if getattr(H, "shape", None) != (scale.size, scale.size):
            return H  # for the checks of _objective to name `hess`
        if isinstance(H, np.ndarray):
            H = np.asarray(H)  # an np.matrix would take `*` for a matrix product
            if H.dtype.kind not in "biuf":
                return H
            with quiet():
                return scale[:, None] * H * scale[None, :]
        from scipy import sparse

        if sparse.issparse(H):
            D = sparse.diags(scale)
            return D @ H @ D
        return _ScaledOperator(H, scale)

    def notify_z(z, f, g, nit):
        with quiet():
            g_x = g / scale
        return notify(to_x(z), f, g_x, nit)

    return (fun_z, None if jac is None else jac_z, None if hess is None else hess_z,
            None if hessp is None else hessp_z, None if notify is None else notify_z)


def scaled_start(x, lb, ub, scale):
    """``(z0, lb_z, ub_z)``: the start and the bounds in ``z = x / scale``."""
    with quiet():  # x is checked below; a bound may become infinite
        x = x / scale
        lb, ub = (None, None) if lb is None else (lb / scale, ub / scale)
    if not np.all(np.isfinite(x)):
        raise ValueError("'x0' / 'x_scale' overflows: x0 is too large for its scale")
    return x, lb, ub


def unscaled_result(fields, scale, to_x):
    """The loop's result ``fields`` (updated) in the user's units: ``x = D z``, ``jac = D^-1 g``,
    and every iterate of ``allvecs``."""
    with quiet():
        fields["x"], fields["jac"] = to_x(fields["x"]), fields["jac"] / scale
    if "allvecs" in fields:
        fields["allvecs"] = [to_x(v) for v in fields["allvecs"]]
    return fields
