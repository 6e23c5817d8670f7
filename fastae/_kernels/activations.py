"""Activation functions and their derivatives, written once as scalar code.

Each activation is identified by an integer code so that a compiled loop can
select it at run time. Every derivative is written in terms of the activation's
output ``a = f(z)``, not its input ``z``, so the backward pass needs only the
layer outputs that the forward pass already stored. All functions are safe for
inputs of any finite magnitude: none overflows to inf or returns NaN.
"""

import math

from .._compile import jit

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
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@jit
def softplus(z):
    """Return ``log(1 + exp(z))`` without overflow for large ``|z|``."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@jit
def activate(code, z):
    """Apply the activation ``code`` to the scalar pre-activation ``z``."""
    if code == RELU:
        return z if z > 0 else 0.0
    if code == LEAKY_RELU:
        return z if z > 0 else LEAKY_RELU_SLOPE * z
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return math.tanh(z)
    if code == ELU:
        return z if z > 0 else math.expm1(z)
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
    if code == RELU:
        return 1.0 if a > 0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if a > 0 else LEAKY_RELU_SLOPE
    if code == SIGMOID:
        return a * (1.0 - a)
    if code == TANH:
        return 1.0 - a * a
    if code == ELU:
        return 1.0 if a > 0 else a + 1.0
    if code == SOFTPLUS:
        return -math.expm1(-a)
    return 1.0
