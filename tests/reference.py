"""Plain NumPy versions of every compiled kernel, written for clarity, not speed.

Each function computes in float64 whatever the input dtype, so comparing a
kernel's float32 result against it measures the kernel's rounding error.
"""

from itertools import pairwise

import numpy as np

LEAKY_RELU_SLOPE = 0.01


def activation(name, z):
    """Return ``f(z)`` for the activation called ``name``."""
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_RELU_SLOPE * z)
    if name == "sigmoid":
        # exp(-|z|) never overflows; the two branches are the same function.
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if name == "tanh":
        return np.tanh(z)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    if name == "softplus":
        return np.logaddexp(0.0, z)
    raise ValueError(name)


def activation_derivative(name, z):
    """Return ``f'(z)`` computed from ``z`` (not from the output, unlike the kernels)."""
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_RELU_SLOPE)
    if name == "sigmoid":
        s = activation("sigmoid", z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))
    if name == "softplus":
        return activation("sigmoid", z)
    raise ValueError(name)


def dense_forward(X, W, b, name):
    """Return ``f(X @ W + b)`` and the pre-activation ``X @ W + b``."""
    z = X.astype(np.float64) @ W.astype(np.float64) + b.astype(np.float64)
    return activation(name, z), z


def dense_backward(X, W, z, grad_out, name):
    """Return ``(dL/dW, dL/db, dL/dX)`` of a dense layer given ``dL/d(out)``."""
    grad_z = grad_out.astype(np.float64) * activation_derivative(name, z)
    grad_W = X.astype(np.float64).T @ grad_z
    grad_b = grad_z.sum(axis=0)
    grad_X = grad_z @ W.astype(np.float64).T
    return grad_W, grad_b, grad_X


def loss_elements(loss, out, target):
    """Return the per-element loss. For cross-entropy ``out`` contains logits."""
    out = np.asarray(out, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if loss == "squared_error":
        return 0.5 * (out - target) ** 2
    # -x log(p) - (1 - x) log(1 - p) with p = sigmoid(z), written with
    # log(p) = -softplus(-z) and log(1 - p) = -softplus(z).
    return target * np.logaddexp(0.0, -out) + (1.0 - target) * np.logaddexp(0.0, out)


def loss_gradient(loss, out, target):
    """Return the per-element derivative of :func:`loss_elements` with respect to ``out``."""
    out = np.asarray(out, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if loss == "squared_error":
        return out - target
    return activation("sigmoid", out) - target


def sgd_update(params, grads, velocity, n_weights, lr, momentum, nesterov, l2):
    """Return new ``(params, velocity)`` after one SGD step, as scikit-learn's MLP."""
    g = grads.astype(np.float64).copy()
    g[:n_weights] += l2 * params[:n_weights]
    new_velocity = momentum * velocity - lr * g
    if nesterov:
        return params + momentum * new_velocity - lr * g, new_velocity
    return params + new_velocity, new_velocity


def adam_update(params, grads, m, v, n_weights, lr, beta_1, beta_2, eps, step, l2):
    """Return new ``(params, m, v)`` after Adam step ``step`` (counted from 1)."""
    g = grads.astype(np.float64).copy()
    g[:n_weights] += l2 * params[:n_weights]
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    step_size = lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
    return params - step_size * m / (np.sqrt(v) + eps), m, v


def network_gradient(params, X, sizes, names, loss):
    """Return ``(loss_sum, grads)`` of a network on ``X`` by plain backpropagation.

    ``params`` uses the flat layout of fastae: every weight matrix, then every
    bias vector. ``names`` contains one activation name per layer. With
    cross-entropy the output layer's sigmoid is folded into the loss.
    ``grads`` is the gradient of ``loss_sum / n_rows``.
    """
    coefs, intercepts = unflatten(params, sizes)
    n_layers = len(coefs)
    inputs = [X.astype(np.float64)]
    pre = []
    for layer in range(n_layers):
        name = names[layer]
        if layer == n_layers - 1 and loss == "binary_crossentropy":
            name = "identity"
        out, z = dense_forward(inputs[-1], coefs[layer], intercepts[layer], name)
        inputs.append(out)
        pre.append(z)
    total = loss_elements(loss, inputs[-1], X).sum()
    grad = loss_gradient(loss, inputs[-1], X) / X.shape[0]
    grad_coefs = [None] * n_layers
    grad_intercepts = [None] * n_layers
    for layer in range(n_layers - 1, -1, -1):
        name = names[layer]
        if layer == n_layers - 1 and loss == "binary_crossentropy":
            name = "identity"
        grad_W, grad_b, grad = dense_backward(
            inputs[layer], coefs[layer], pre[layer], grad, name
        )
        grad_coefs[layer] = grad_W
        grad_intercepts[layer] = grad_b
    return total, flatten(grad_coefs, grad_intercepts)


def flatten(coefs, intercepts):
    """Concatenate weight matrices, then bias vectors, into one vector."""
    return np.concatenate(
        [np.ravel(W) for W in coefs] + [np.ravel(b) for b in intercepts]
    )


def unflatten(params, sizes):
    """Split a flat parameter vector into weight matrices and bias vectors."""
    coefs = []
    start = 0
    for fan_in, fan_out in pairwise(sizes):
        coefs.append(params[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
    intercepts = []
    for fan_out in sizes[1:]:
        intercepts.append(params[start : start + fan_out])
        start += fan_out
    return coefs, intercepts


def train_epoch(params, X, order, batch_size, sizes, names, loss, solver, hyper, state):
    """Run one epoch of minibatch training in NumPy; return ``(params, state, loss_sum)``.

    ``solver`` is "sgd", "nesterov" or "adam". ``hyper`` is a dict with
    learning_rate, momentum, beta_1, beta_2, epsilon and alpha. ``state`` is a
    dict with "a", "b" (optimizer buffers) and "step".
    """
    params = params.astype(np.float64)
    n_weights = sum(i * o for i, o in pairwise(sizes))
    state = {
        "a": state["a"].astype(np.float64),
        "b": state["b"].astype(np.float64),
        "step": state["step"],
    }
    total = 0.0
    for start in range(0, order.size, batch_size):
        batch = X[order[start : start + batch_size]]
        batch_loss, grads = network_gradient(params, batch, sizes, names, loss)
        total += batch_loss
        l2 = hyper["alpha"] / batch.shape[0]
        if solver == "adam":
            state["step"] += 1
            params, state["a"], state["b"] = adam_update(
                params,
                grads,
                state["a"],
                state["b"],
                n_weights,
                hyper["learning_rate"],
                hyper["beta_1"],
                hyper["beta_2"],
                hyper["epsilon"],
                state["step"],
                l2,
            )
        else:
            params, state["a"] = sgd_update(
                params,
                grads,
                state["a"],
                n_weights,
                hyper["learning_rate"],
                hyper["momentum"],
                solver == "nesterov",
                l2,
            )
    return params, state, total
