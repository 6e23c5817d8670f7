"""One training epoch, start to finish, in compiled code.

The network is described by ``layout``, an int64 array with one row per layer:
``(fan_in, fan_out, weight_offset, bias_offset, activation)``. Offsets index
the flat parameter buffer, where a layer's weights are a C-ordered
``(fan_in, fan_out)`` block. The same offsets index the gradient buffer.

``work`` is one scratch buffer, allocated once per fit by
:func:`work_size`, that contains every layer's output for one minibatch followed
by two gradient buffers that alternate between layers.
"""

import math

import numpy as np

from .._compile import jit
from .activations import IDENTITY
from .dense import dense_backward, dense_forward
from .losses import BINARY_CROSSENTROPY, loss_and_gradient, loss_sum
from .optimizers import adam_update, sgd_update

SGD = 0
NESTEROV = 1
ADAM = 2

# Positions in the ``hyper`` array of float hyper-parameters.
LEARNING_RATE, MOMENTUM, BETA_1, BETA_2, EPSILON, ALPHA = range(6)

FAN_IN, FAN_OUT, WEIGHT_OFFSET, BIAS_OFFSET, ACTIVATION = range(5)


def work_size(layout, batch_size):
    """Return the length of the ``work`` buffer for ``layout`` and ``batch_size``."""
    widths = [int(layout[0, FAN_IN])] + [int(w) for w in layout[:, FAN_OUT]]
    return batch_size * (sum(widths) + 2 * max(widths))


@jit
def _layer_view(buffer, offset, n_rows, n_cols):
    return buffer[offset : offset + n_rows * n_cols].reshape((n_rows, n_cols))


@jit
def _weights(params, layout, layer):
    offset = layout[layer, WEIGHT_OFFSET]
    return _layer_view(params, offset, layout[layer, FAN_IN], layout[layer, FAN_OUT])


@jit
def _bias(params, layout, layer):
    offset = layout[layer, BIAS_OFFSET]
    return params[offset : offset + layout[layer, FAN_OUT]]


@jit
def _buffer_offsets(layout, batch_size):
    """Return where each layer's output and the two gradient buffers start in ``work``."""
    n_layers = layout.shape[0]
    offsets = np.empty(n_layers + 3, dtype=np.int64)
    offsets[0] = 0
    widest = layout[0, FAN_IN]
    end = batch_size * layout[0, FAN_IN]
    for layer in range(n_layers):
        offsets[layer + 1] = end
        end += batch_size * layout[layer, FAN_OUT]
        widest = max(widest, layout[layer, FAN_OUT])
    offsets[n_layers + 1] = end
    offsets[n_layers + 2] = end + batch_size * widest
    return offsets


@jit
def _forward_batch(params, layout, loss, work, offsets, n_rows):
    """Run every layer on the ``n_rows`` inputs already in ``work``.

    With cross-entropy the output layer keeps its logits.
    """
    n_layers = layout.shape[0]
    for layer in range(n_layers):
        activation = layout[layer, ACTIVATION]
        if layer == n_layers - 1 and loss == BINARY_CROSSENTROPY:
            activation = IDENTITY
        fan_in = layout[layer, FAN_IN]
        fan_out = layout[layer, FAN_OUT]
        layer_in = _layer_view(work, offsets[layer], n_rows, fan_in)
        layer_out = _layer_view(work, offsets[layer + 1], n_rows, fan_out)
        W = _weights(params, layout, layer)
        dense_forward(layer_in, W, _bias(params, layout, layer), activation, layer_out)


@jit
def _gather(X, rows, work):
    inputs = _layer_view(work, 0, rows.size, X.shape[1])
    for r in range(rows.size):
        inputs[r, :] = X[rows[r], :]
    return inputs


@jit
def _train_batch(
    X,
    rows,
    params,
    grads,
    state_a,
    state_b,
    layout,
    loss,
    optimizer,
    hyper,
    step,
    work,
    offsets,
):
    """Gather ``rows`` of ``X``, then run forward, loss, backward and update.

    Returns the batch loss summed over its elements.
    """
    n_layers = layout.shape[0]
    n_rows = rows.size
    n_features = X.shape[1]
    grad_offsets = (offsets[n_layers + 1], offsets[n_layers + 2])

    inputs = _gather(X, rows, work)
    _forward_batch(params, layout, loss, work, offsets, n_rows)

    # Loss gradient of the per-row summed loss, averaged over the batch rows.
    outputs = _layer_view(work, offsets[n_layers], n_rows, n_features)
    grad_out = _layer_view(work, grad_offsets[0], n_rows, n_features)
    batch_loss = loss_and_gradient(loss, outputs, inputs, 1.0 / n_rows, grad_out)
    if not math.isfinite(batch_loss):
        return batch_loss

    # Backward, alternating between the two gradient buffers.
    for layer in range(n_layers - 1, -1, -1):
        activation = layout[layer, ACTIVATION]
        if layer == n_layers - 1 and loss == BINARY_CROSSENTROPY:
            activation = IDENTITY
        fan_in = layout[layer, FAN_IN]
        fan_out = layout[layer, FAN_OUT]
        layer_in = _layer_view(work, offsets[layer], n_rows, fan_in)
        layer_out = _layer_view(work, offsets[layer + 1], n_rows, fan_out)
        grad_current = _layer_view(
            work, grad_offsets[(n_layers - 1 - layer) % 2], n_rows, fan_out
        )
        grad_W = _weights(grads, layout, layer)
        grad_b = _bias(grads, layout, layer)
        W = _weights(params, layout, layer)
        if layer > 0:
            grad_in = _layer_view(
                work, grad_offsets[(n_layers - layer) % 2], n_rows, fan_in
            )
            dense_backward(
                layer_in,
                W,
                layer_out,
                grad_current,
                activation,
                grad_W,
                grad_b,
                grad_in,
            )
        else:
            dense_backward(
                layer_in, W, layer_out, grad_current, activation, grad_W, grad_b, None
            )

    # Update every parameter in one fused pass.
    n_weights = layout[0, BIAS_OFFSET]
    l2 = hyper[ALPHA] / n_rows
    if optimizer == ADAM:
        step[0] += 1
        adam_update(
            params,
            grads,
            state_a,
            state_b,
            n_weights,
            hyper[LEARNING_RATE],
            hyper[BETA_1],
            hyper[BETA_2],
            hyper[EPSILON],
            step[0],
            l2,
        )
    else:
        sgd_update(
            params,
            grads,
            state_a,
            n_weights,
            hyper[LEARNING_RATE],
            hyper[MOMENTUM],
            optimizer == NESTEROV,
            l2,
        )
    return batch_loss


@jit
def train_epoch(
    X,
    order,
    batch_size,
    params,
    grads,
    state_a,
    state_b,
    layout,
    loss,
    optimizer,
    hyper,
    step,
    work,
):
    """Train on the rows of ``X`` in the order ``order``, ``batch_size`` at a time.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training data; the autoencoder's input and target.
    order : int64 ndarray of shape (n_rows,)
        Row indices into ``X``, in training order (a permutation when shuffling).
    batch_size : int
        Rows per minibatch; the last minibatch takes the remainder.
    params, grads : ndarray
        Flat parameter buffer (updated in place) and gradient scratch buffer.
    state_a, state_b : ndarray
        Optimizer state, updated in place: Adam's first and second moments, or
        the SGD velocity in ``state_a`` (``state_b`` unused).
    layout : int64 ndarray of shape (n_layers, 5)
        The network description, see the module docstring.
    loss, optimizer : int
        Loss code (see ``losses``) and optimizer code (``SGD``, ``NESTEROV``, ``ADAM``).
    hyper : float64 ndarray of shape (6,)
        Learning rate, momentum, beta_1, beta_2, epsilon and alpha.
    step : int64 ndarray of shape (1,)
        Adam's step counter, incremented once per minibatch.
    work : ndarray
        Scratch buffer of length ``work_size(layout, batch_size)``.

    Returns
    -------
    float
        The loss summed over every element of every row visited, or a
        non-finite value as soon as a minibatch's loss is not finite.
    """
    n_rows = order.size
    offsets = _buffer_offsets(layout, batch_size)
    total = 0.0
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        batch_loss = _train_batch(
            X,
            order[start:stop],
            params,
            grads,
            state_a,
            state_b,
            layout,
            loss,
            optimizer,
            hyper,
            step,
            work,
            offsets,
        )
        if not math.isfinite(batch_loss):
            return batch_loss
        total += batch_loss
    return total


@jit
def evaluate_loss(X, params, layout, loss, batch_size, work):
    """Return the loss of the network on ``X``, summed over all elements.

    Rows are processed ``batch_size`` at a time through ``work``, the buffer
    that training uses, so evaluation allocates nothing per row.
    """
    n_layers = layout.shape[0]
    offsets = _buffer_offsets(layout, batch_size)
    n_features = X.shape[1]
    total = 0.0
    for start in range(0, X.shape[0], batch_size):
        stop = min(start + batch_size, X.shape[0])
        inputs = _layer_view(work, 0, stop - start, n_features)
        inputs[:, :] = X[start:stop]
        _forward_batch(params, layout, loss, work, offsets, stop - start)
        outputs = _layer_view(work, offsets[n_layers], stop - start, n_features)
        total += loss_sum(loss, outputs, inputs)
    return total
