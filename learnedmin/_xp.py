"""Small array-API helpers shared by the numpy (inference) and torch (training) backends.

Every function works on arrays with any number of leading batch dimensions; vectors live on the
last axis. Nothing here updates an array in place, so torch can differentiate through it.
"""

from array_api_compat import array_namespace

__all__ = ["array_namespace", "dot", "norm", "col", "safe_div"]


def dot(a, b, xp=None):
    """Inner product over the last axis."""
    if a.ndim == 1 and b.ndim == 1:
        return a @ b  # unbatched fast path (BLAS dot for numpy)
    xp = xp or array_namespace(a, b)
    return xp.vecdot(a, b, axis=-1)


def norm(a, xp=None):
    """Euclidean norm over the last axis."""
    xp = xp or array_namespace(a)
    return xp.sqrt(dot(a, a, xp))


def col(a):
    """A batch of scalars as a column that broadcasts against a batch of vectors."""
    return a[..., None]


def safe_div(num, den, fallback, xp):
    """``num / den`` where ``den != 0``, else ``fallback`` (no division by zero is evaluated)."""
    ok = den != 0
    return xp.where(ok, num / xp.where(ok, den, xp.ones_like(den)), fallback)
