"""Scalar helpers for compiled kernels: dtype-preserving constants and log1p.

A float literal such as ``1.0`` is float64 in Numba, and one float64 operand
turns a float32 expression into float64 arithmetic, which is slower and calls
the double-precision ``exp`` and ``log1p``. :func:`cast` converts a constant
to the floating type of a scalar or array, so float32 kernels compute in
float32 throughout.
"""

import numpy as np
from numba import types
from numba.extending import overload

from .._compile import jit


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


# log1p(e) = 2 atanh(s) with s = e / (2 + e), and atanh(s) is the series
# s + s**3/3 + s**5/5 + ... For 0 <= e <= 1, s <= 1/3, so term k is at most
# 9**-k / (2k + 1) of the first: 8 terms reach float32's rounding error and
# 17 terms float64's. Unlike a call to libm's log1p, the polynomial lets LLVM
# vectorise the loop around it.
_LOG1P_TERMS = {types.float32: 8, types.float64: 17}


def log1p_unit(e):
    """Return ``log(1 + e)`` for ``0 <= e <= 1`` (compiled code only)."""
    return np.log1p(e)


@overload(log1p_unit)
def _log1p_unit_compiled(e):
    n_terms = _LOG1P_TERMS[e]

    def implementation(e):
        s = e / (cast(2.0, e) + e)
        s2 = s * s
        series = cast(1.0 / (2 * n_terms - 1), e)
        for k in range(n_terms - 2, -1, -1):
            series = series * s2 + cast(1.0 / (2 * k + 1), e)
        return cast(2.0, e) * s * series

    return implementation


@jit
def log1p_unit_kernel(e):
    """Compiled :func:`log1p_unit` for scalars, for the tests."""
    return log1p_unit(e)
