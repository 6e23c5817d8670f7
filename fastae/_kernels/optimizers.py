"""Fused in-place optimizer updates over the flat parameter buffer.

``params`` contains every weight of the network first and every bias after them,
so the L2 penalty applies to ``params[:n_weights]`` only. ``l2`` is the
coefficient of that penalty's gradient, ``alpha / batch_rows`` in the
convention of scikit-learn's MLP. Optimizer state arrays have the shape of
``params`` and are updated in place. Each update is one pass over memory, in
the dtype of ``params``.
"""

import math

from .._compile import jit
from ._scalar import cast


@jit
def sgd_update(
    params, grads, velocity, n_weights, learning_rate, momentum, nesterov, l2
):
    """Apply one SGD step with (optionally Nesterov) momentum.

    ``v <- momentum * v - learning_rate * g``, then ``p <- p + v``, or with
    Nesterov momentum ``p <- p + momentum * v - learning_rate * g``.
    """
    sgd_update_slice(
        params,
        grads,
        velocity,
        0,
        params.size,
        n_weights,
        learning_rate,
        momentum,
        nesterov,
        l2,
    )


@jit
def sgd_update_slice(
    params,
    grads,
    velocity,
    start,
    stop,
    n_weights,
    learning_rate,
    momentum,
    nesterov,
    l2,
):
    """Apply :func:`sgd_update` to the parameters ``start:stop`` only."""
    lr = cast(learning_rate, params)
    mu = cast(momentum, params)
    penalty = cast(l2, params)
    # Weights and biases get separate loops, without a branch on the index,
    # so that both vectorise.
    split = min(max(n_weights, start), stop)
    _sgd_loop(params, grads, velocity, start, split, lr, mu, nesterov, penalty)
    _sgd_loop(params, grads, velocity, split, stop, lr, mu, nesterov, cast(0.0, params))


@jit(inline=True)
def _sgd_loop(params, grads, velocity, start, stop, lr, mu, nesterov, penalty):
    # Indexing views from 0 lets LLVM prove every index is non-negative and
    # drop Numba's negative-index wraparound, which would block vectorisation.
    params = params[start:stop]
    grads = grads[start:stop]
    velocity = velocity[start:stop]
    for i in range(params.size):
        g = grads[i] + penalty * params[i]
        v = mu * velocity[i] - lr * g
        velocity[i] = v
        if nesterov:
            params[i] += mu * v - lr * g
        else:
            params[i] += v


@jit
def adam_update(
    params, grads, m, v, n_weights, learning_rate, beta_1, beta_2, epsilon, step, l2
):
    """Apply Adam step number ``step`` (counted from 1) with bias correction.

    ``m`` and ``v`` are the first and second moment estimates. The step size is
    ``learning_rate * sqrt(1 - beta_2**step) / (1 - beta_1**step)``, as in
    Kingma and Ba (2015), Algorithm 1, with epsilon added outside the square
    root.
    """
    adam_update_slice(
        params,
        grads,
        m,
        v,
        0,
        params.size,
        n_weights,
        learning_rate,
        beta_1,
        beta_2,
        epsilon,
        step,
        l2,
    )


@jit
def adam_update_slice(
    params,
    grads,
    m,
    v,
    start,
    stop,
    n_weights,
    learning_rate,
    beta_1,
    beta_2,
    epsilon,
    step,
    l2,
):
    """Apply :func:`adam_update` to the parameters ``start:stop`` only."""
    step_size = cast(
        learning_rate * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step), params
    )
    b1 = cast(beta_1, params)
    b2 = cast(beta_2, params)
    c1 = cast(1.0 - beta_1, params)
    c2 = cast(1.0 - beta_2, params)
    eps = cast(epsilon, params)
    penalty = cast(l2, params)
    split = min(max(n_weights, start), stop)
    _adam_loop(
        params, grads, m, v, start, split, step_size, b1, b2, c1, c2, eps, penalty
    )
    zero = cast(0.0, params)
    _adam_loop(params, grads, m, v, split, stop, step_size, b1, b2, c1, c2, eps, zero)


@jit(inline=True)
def _adam_loop(
    params, grads, m, v, start, stop, step_size, b1, b2, c1, c2, eps, penalty
):
    # Views indexed from 0 vectorise, see _sgd_loop.
    params = params[start:stop]
    grads = grads[start:stop]
    m = m[start:stop]
    v = v[start:stop]
    for i in range(params.size):
        g = grads[i] + penalty * params[i]
        m_i = b1 * m[i] + c1 * g
        v_i = b2 * v[i] + c2 * (g * g)
        m[i] = m_i
        v[i] = v_i
        params[i] -= step_size * m_i / (math.sqrt(v_i) + eps)
