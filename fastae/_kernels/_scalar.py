"""Dtype-preserving constants for compiled kernels.

A float literal such as ``1.0`` is float64 in Numba, and one float64 operand
turns a float32 expression into float64 arithmetic, which is slower and calls
the double-precision ``exp`` and ``log1p``. :func:`cast` converts a constant
to the floating type of a scalar or array, so float32 kernels compute in
float32 throughout.
"""

import numpy as np
from numba import types
from numba.extending import overload


def cast(value, like):
    """Return ``value`` converted to the float type of ``like`` (a scalar or array)."""
    dtype = like.dtype if isinstance(like, np.ndarray) else type(like)
    return dtype(value)


@overload(cast)
def _cast_compiled(value, like):
    float_type = like.dtype if isinstance(like, types.Array) else like
    if float_type == types.float32:
        return lambda value, like: np.float32(value)
    return lambda value, like: np.float64(value)
