"""Fused dense-layer kernels: ``out = f(X @ W + b)`` and its backward pass.

The matrix products go through BLAS (Numba's ``np.dot`` with an output array).
The bias, the activation and its derivative are applied in one pass over the
product. Shapes: ``X`` is ``(n, fan_in)``, ``W`` is ``(fan_in, fan_out)``,
``b`` is ``(fan_out,)`` and ``out`` is ``(n, fan_out)``. All arrays must be
C-contiguous and share one floating dtype.
"""

import numpy as np

from .._compile import jit
from .activations import (
    ELU,
    IDENTITY,
    LEAKY_RELU,
    RELU,
    SIGMOID,
    SOFTPLUS,
    TANH,
    activate,
    derivative,
)


@jit
def bias_activate(out, b, activation):
    """Replace ``out`` in place by ``f(out + b)``, row by row."""
    # Each branch passes a constant code, so the inlined loop contains one
    # activation's arithmetic and no branch on the code, and can vectorise.
    if activation == RELU:
        _bias_activate_rows(out, b, RELU)
    elif activation == LEAKY_RELU:
        _bias_activate_rows(out, b, LEAKY_RELU)
    elif activation == SIGMOID:
        _bias_activate_rows(out, b, SIGMOID)
    elif activation == TANH:
        _bias_activate_rows(out, b, TANH)
    elif activation == ELU:
        _bias_activate_rows(out, b, ELU)
    elif activation == SOFTPLUS:
        _bias_activate_rows(out, b, SOFTPLUS)
    else:
        _bias_activate_rows(out, b, IDENTITY)


@jit(inline=True)
def _bias_activate_rows(out, b, activation):
    n_rows, n_cols = out.shape
    for i in range(n_rows):
        for j in range(n_cols):
            out[i, j] = activate(activation, out[i, j] + b[j])


@jit
def dense_forward(X, W, b, activation, out):
    """Write ``f(X @ W + b)`` into ``out``.

    With ``activation`` set to identity, ``out`` contains the pre-activation,
    which is how the output layer keeps its logits for binary cross-entropy.
    """
    np.dot(X, W, out)
    bias_activate(out, b, activation)


@jit
def dense_forward_finite(X, W, b, activation, out):
    """Write ``f(X @ W + b)`` into ``out``; return whether ``X @ W + b`` is finite.

    An infinite or NaN input value makes the pre-activation of its whole row
    infinite or NaN, because every column's sum contains a term with it. The
    check therefore finds bad inputs by reading the narrow pre-activation
    instead of ``X``, before an activation such as relu can map ``-inf`` to 0.
    """
    np.dot(X, W, out)
    finite = _rows_finite(out, b)
    bias_activate(out, b, activation)
    return finite


@jit
def _rows_finite(out, b):
    n_rows, n_cols = out.shape
    infinity = np.inf
    bad = 0
    for i in range(n_rows):
        for j in range(n_cols):
            # False for NaN as well as for both infinities.
            bad |= not abs(out[i, j] + b[j]) < infinity
    return bad == 0


@jit
def activation_backward(grad_out, out, activation, grad_b):
    """Turn ``dL/d(out)`` into ``dL/dz`` in place and sum it into ``grad_b``.

    ``z`` is the pre-activation and ``out = f(z)``. ``grad_b`` receives the
    column sums of ``dL/dz``, which is the bias gradient.
    """
    grad_b[:] = 0.0
    if activation == RELU:
        _activation_backward_rows(grad_out, out, RELU, grad_b)
    elif activation == LEAKY_RELU:
        _activation_backward_rows(grad_out, out, LEAKY_RELU, grad_b)
    elif activation == SIGMOID:
        _activation_backward_rows(grad_out, out, SIGMOID, grad_b)
    elif activation == TANH:
        _activation_backward_rows(grad_out, out, TANH, grad_b)
    elif activation == ELU:
        _activation_backward_rows(grad_out, out, ELU, grad_b)
    elif activation == SOFTPLUS:
        _activation_backward_rows(grad_out, out, SOFTPLUS, grad_b)
    else:
        _activation_backward_rows(grad_out, out, IDENTITY, grad_b)


@jit(inline=True)
def _activation_backward_rows(grad_out, out, activation, grad_b):
    n_rows, n_cols = grad_out.shape
    for i in range(n_rows):
        for j in range(n_cols):
            g = grad_out[i, j] * derivative(activation, out[i, j])
            grad_out[i, j] = g
            grad_b[j] += g


@jit
def dense_backward(X, W, out, grad_out, activation, grad_W, grad_b, grad_X):
    """Compute the gradients of a dense layer from ``grad_out = dL/d(out)``.

    Writes ``dL/dW`` into ``grad_W``, ``dL/db`` into ``grad_b`` and, unless
    ``grad_X`` is None, ``dL/dX`` into ``grad_X``. Pass None for the first
    layer, whose input gradient nothing uses. ``grad_out`` is overwritten by
    ``dL/dz``, the gradient with respect to the pre-activation.
    """
    activation_backward(grad_out, out, activation, grad_b)
    np.dot(X.T, grad_out, grad_W)
    if grad_X is not None:
        np.dot(grad_out, W.T, grad_X)
