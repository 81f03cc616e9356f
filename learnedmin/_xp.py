"""Small array-API helpers shared by the numpy (inference) and torch (training) backends.

Every function works on arrays with any number of leading batch dimensions; vectors live on the
last axis. Nothing here updates an array in place, so torch can differentiate through it.
"""

import numpy as np
from array_api_compat import array_namespace as _compat_namespace

__all__ = ["array_namespace", "dot", "norm", "col", "safe_div", "select", "stop_gradient", "any_true"]

# NumPy >= 2 implements the array API functions used here itself; calling it directly avoids the
# compatibility wrappers' per-call cost, which dominates at small n (tens of calls per iteration).
_NUMPY_IS_ARRAY_API = hasattr(np, "vecdot") and hasattr(np, "astype")
_NUMPY_TYPES = (np.ndarray, np.generic)


def array_namespace(*arrays):
    """The array-API namespace of ``arrays``: numpy itself for numpy >= 2, else array_api_compat."""
    if _NUMPY_IS_ARRAY_API:
        for a in arrays:
            if not isinstance(a, _NUMPY_TYPES):
                return _compat_namespace(*arrays)
        return np
    return _compat_namespace(*arrays)


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
    return a if a.ndim == 0 else a[..., None]


def safe_div(num, den, fallback, xp):
    """``num / den`` where ``den != 0``, else ``fallback`` (no division by zero is evaluated)."""
    if xp is np and np.ndim(den) == 0 and np.ndim(num) == 0 and np.ndim(fallback) == 0:
        return num / den if den != 0 else fallback  # unbatched numpy: same result, less overhead
    ok = den != 0
    return xp.where(ok, num / xp.where(ok, den, 1.0), fallback)


def select(mask, new, old, xp):
    """Row-wise ``new`` where ``mask`` else ``old`` (``mask`` (B,), arrays (B, ...))."""
    if xp is np and new.shape == old.shape and new.dtype == old.dtype:
        # numpy: a uniform mask picks a whole array (the common case of one row, and no copy)
        if mask.size == 1:
            return new if mask.item() else old
        if mask.all():
            return new
        if not mask.any():
            return old
    extra = new.ndim - mask.ndim
    return xp.where(mask[(...,) + (None,) * extra] if extra else mask, new, old)


def stop_gradient(a):
    """``a`` cut from the autograd graph (torch); numpy arrays pass through."""
    return a.detach() if hasattr(a, "detach") else a


def any_true(mask):
    """Whether any entry of a boolean array is true, as a Python bool."""
    if isinstance(mask, np.ndarray) and mask.size == 1:
        return bool(mask.item())
    return bool(mask.any()) if hasattr(mask, "any") else bool(mask)
