"""Scalar helpers for compiled kernels: dtype-preserving constants, exp and log1p.

A float literal such as ``1.0`` is float64 in Numba, and one float64 operand
turns a float32 expression into float64 arithmetic, which is slower and calls
the double-precision ``exp`` and ``log1p``. :func:`cast` converts a constant
to the floating type of a scalar or array, so float32 kernels compute in
float32 throughout.
"""

import math

import numpy as np
from llvmlite import ir
from numba import literal_unroll, types
from numba.extending import intrinsic, overload

from .._compile import jit


def cast(value, like):
    """Return ``value`` converted to the float type of ``like`` (a scalar or array)."""
    # Arrays of any kind (the CUDA simulator's included) and NumPy scalars
    # have a dtype; Python floats do not.
    dtype = getattr(like, "dtype", None)
    return type(like)(value) if dtype is None else np.dtype(dtype).type(value)


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


@overload(log1p_unit, target="cpu")
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


@intrinsic
def _round_to_integer(typingctx, x):
    """Round ``x`` to the nearest integer, ties to even, as a float (``llvm.rint``)."""

    def codegen(context, builder, signature, args):
        function = builder.module.declare_intrinsic("llvm.rint", [args[0].type])
        return builder.call(function, args)

    return x(x), codegen


@intrinsic
def _power_of_two(typingctx, n):
    """Return ``2.0**n`` for a float ``n`` holding an integer in the normal range.

    That is [-126, 127] for float32 and [-1022, 1023] for float64. The result
    is built from its exponent bits, which vectorises where ``ldexp`` does not.
    """
    if n == types.float32:
        width, bias, mantissa_bits, float_type = 32, 127, 23, ir.FloatType()
    else:
        width, bias, mantissa_bits, float_type = 64, 1023, 52, ir.DoubleType()

    def codegen(context, builder, signature, args):
        integer = ir.IntType(width)
        exponent = builder.add(
            builder.fptosi(args[0], integer), ir.Constant(integer, bias)
        )
        bits = builder.shl(exponent, ir.Constant(integer, mantissa_bits))
        return builder.bitcast(bits, float_type)

    return n(n), codegen


# ln 2 split in two (Cody and Waite): the high part has trailing zero bits, so
# n * high is exact for the n used here. The float64 pair is fdlibm's.
_LOG2_E = 1.4426950408889634
_LN2_HIGH_32 = 0.693145751953125
_LN2_LOW_32 = 1.428606765330187e-06
_LN2_HIGH_64 = 6.93147180369123816490e-01
_LN2_LOW_64 = 1.90821492927058770002e-10

# 1 / k! for k = 0..13, the Taylor coefficients of exp.
_INVERSE_FACTORIALS = tuple(1.0 / math.factorial(k) for k in range(14))
_REVERSED_FACTORIALS = _INVERSE_FACTORIALS[12::-1]


def exp_nonpositive(y):
    """Return ``exp(y)`` for ``y <= 0`` (compiled code only)."""
    return np.exp(y)


@overload(exp_nonpositive, target="cpu")
def _exp_nonpositive_compiled(y):
    if y == types.float32:
        return lambda y: _exp_nonpositive_float32(y)
    return lambda y: _exp_nonpositive_float64(y)


@jit
def _exp_nonpositive_float32(y):
    # libm's exp and expf are scalar calls that keep LLVM from vectorising
    # the loop around them, and they dominate a cross-entropy pass. This
    # polynomial vectorises. exp(y) = 2**n * exp(r) with n = round(y / ln 2) and
    # |r| <= ln(2) / 2, where a degree-7 Taylor polynomial is within 1e-7 of
    # exp(r). The relative error is under 2e-7 for results above float32's
    # smallest normal number (libm's expf: 1.2e-7). Below it, the result is
    # subnormal with an absolute error under 2e-45, and it reaches 0 near
    # y = -104. NaN stays NaN and -inf gives 0.
    y_clamped = max(y, np.float32(-104.0))
    n = _round_to_integer(y_clamped * np.float32(_LOG2_E))
    r = (y_clamped - n * np.float32(_LN2_HIGH_32)) - n * np.float32(_LN2_LOW_32)
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    # 2**n for n down to -150 is below float32's normal range, so it is applied
    # as two normal factors and the product rounds to a subnormal.
    n_high = max(n, np.float32(-63.0))
    result = p * _power_of_two(n_high) * _power_of_two(n - n_high)
    return y if math.isnan(y) else result


@jit
def _exp_nonpositive_float64(y):
    # The float64 twin of _exp_nonpositive_float32, with a degree-13 Taylor
    # polynomial (truncation error 5e-18 for |r| <= ln(2) / 2). Results below
    # float64's smallest normal number are subnormal, and exp reaches 0 near
    # y = -746.
    y_clamped = max(y, -746.0)
    n = _round_to_integer(y_clamped * _LOG2_E)
    r = (y_clamped - n * _LN2_HIGH_64) - n * _LN2_LOW_64
    p = _INVERSE_FACTORIALS[13]
    for k in literal_unroll(_REVERSED_FACTORIALS):
        p = p * r + k
    n_high = max(n, -537.0)
    result = p * _power_of_two(n_high) * _power_of_two(n - n_high)
    return y if math.isnan(y) else result


@jit
def exp_nonpositive_array(values):
    """Return :func:`exp_nonpositive` of each element of ``values``, for the tests.

    The loop is the same shape as the loss kernels' loops, so LLVM vectorises
    it as it does them.
    """
    out = np.empty_like(values)
    for i in range(values.size):
        out[i] = exp_nonpositive(values[i])
    return out
