"""Input validation shared by the reference modules: clear ValueErrors naming the argument."""
import numpy as np


def as_float(name, a, ndim):
    """Return `a` as a float64 array after checking that it has `ndim` dimensions."""
    a = np.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def expect_shape(name, a, shape, letters):
    """Raise a ValueError unless `a.shape == shape`; `letters` names the expected shape, e.g. '(N, H)'."""
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {letters} = {tuple(shape)}, got {tuple(a.shape)}")


def as_mask(mask, shape):
    """Return `mask` as a bool array of `shape` (N, T), or None."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask must have shape (N, T) = {tuple(shape)}, got {mask.shape}")
    return mask.astype(bool)


def positive_int(name, n):
    """`n` as an int when it is a whole number of at least 1 (an int, a numpy integer or a whole float; never
    a bool); else a ValueError naming the argument."""
    whole = (isinstance(n, (int, np.integer)) or (isinstance(n, (float, np.floating)) and np.isfinite(n)
                                                  and float(n).is_integer()))
    if isinstance(n, bool) or not whole or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)
