"""Activation functions and their derivatives, written once as scalar code.

Each activation is identified by an integer code so that a compiled loop can
select it at run time. Every derivative is written in terms of the activation's
output ``a = f(z)``, not its input ``z``, so the backward pass needs only the
layer outputs that the forward pass already stored. All functions are safe for
inputs of any finite magnitude: none overflows to inf or returns NaN. A NaN
input gives a NaN output, so overflow upstream is never hidden. Each returns
the float type of its argument.
"""

import math

from .._compile import jit
from ._scalar import cast, exp_nonpositive, log1p_unit

IDENTITY = 0
RELU = 1
LEAKY_RELU = 2
SIGMOID = 3
TANH = 4
ELU = 5
SOFTPLUS = 6

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "elu": ELU,
    "softplus": SOFTPLUS,
}

# Slope of leaky_relu for negative inputs, the common default (PyTorch, Keras).
LEAKY_RELU_SLOPE = 0.01


@jit
def sigmoid(z):
    """Return ``1 / (1 + exp(-z))`` without overflow for large ``|z|``."""
    e = exp_nonpositive(-abs(z))
    s = cast(1.0, z) / (cast(1.0, z) + e)
    return s if z >= 0 else e * s


@jit
def softplus(z):
    """Return ``log(1 + exp(z))`` without overflow for large ``|z|``."""
    return max(z, cast(0.0, z)) + log1p_unit(exp_nonpositive(-abs(z)))


@jit
def activate(code, z):
    """Apply the activation ``code`` to the scalar pre-activation ``z``."""
    # The comparisons are written as "z <= 0" so that NaN, for which every
    # comparison is false, passes through instead of turning into 0.
    if code == RELU:
        return cast(0.0, z) if z <= 0 else z
    if code == LEAKY_RELU:
        return cast(LEAKY_RELU_SLOPE, z) * z if z <= 0 else z
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return math.tanh(z)
    if code == ELU:
        return math.expm1(z) if z <= 0 else z
    if code == SOFTPLUS:
        return softplus(z)
    return z


@jit
def derivative(code, a):
    """Return ``f'(z)`` for the activation ``code`` from its output ``a = f(z)``.

    The identities used are relu: ``a > 0``; leaky_relu: 1 or the slope;
    sigmoid: ``a (1 - a)``; tanh: ``1 - a**2``; elu: 1 or ``a + 1`` (which is
    ``exp(z)`` for ``z <= 0``); softplus: ``1 - exp(-a)`` (which is
    ``sigmoid(z)``). At ``z = 0`` relu and leaky_relu take the derivative of
    their negative side.
    """
    one = cast(1.0, a)
    if code == RELU:
        return one if a > 0 else cast(0.0, a)
    if code == LEAKY_RELU:
        return one if a > 0 else cast(LEAKY_RELU_SLOPE, a)
    if code == SIGMOID:
        return a * (one - a)
    if code == TANH:
        return one - a * a
    if code == ELU:
        return one if a > 0 else a + one
    if code == SOFTPLUS:
        return -math.expm1(-a)
    return one


@jit
def second_derivative(code, a):
    """Return ``f''(z)`` for the activation ``code`` from its output ``a = f(z)``.

    The identities used are sigmoid: ``a (1 - a) (1 - 2 a)``; tanh:
    ``-2 a (1 - a**2)``; elu: ``a + 1`` for ``a <= 0`` and 0 otherwise;
    softplus: ``s (1 - s)`` with ``s = 1 - exp(-a)``. The piecewise linear
    activations and identity have 0.
    """
    one = cast(1.0, a)
    zero = cast(0.0, a)
    if code == SIGMOID:
        return a * (one - a) * (one - cast(2.0, a) * a)
    if code == TANH:
        return cast(-2.0, a) * a * (one - a * a)
    if code == ELU:
        return a + one if a <= 0 else zero
    if code == SOFTPLUS:
        s = -math.expm1(-a)
        return s * (one - s)
    return zero
