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
from numba import prange

from .._compile import jit
from .activations import IDENTITY
from .dense import dense_backward, dense_forward
from .losses import BINARY_CROSSENTROPY, loss_and_gradient, loss_sum
from .optimizers import adam_update_slice, sgd_update_slice

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
def _train_rows(X, rows, params, grads, layout, loss, scale, work, offsets):
    """Gather ``rows`` of ``X``, run forward and backward, and write ``grads``.

    ``grads`` receives ``scale`` times the gradient of the loss summed over
    ``rows``. Returns that loss sum, or a non-finite value, in which case
    ``grads`` is not written.
    """
    n_layers = layout.shape[0]
    n_rows = rows.size
    n_features = X.shape[1]
    grad_offsets = (offsets[n_layers + 1], offsets[n_layers + 2])

    inputs = _gather(X, rows, work)
    _forward_batch(params, layout, loss, work, offsets, n_rows)

    outputs = _layer_view(work, offsets[n_layers], n_rows, n_features)
    grad_out = _layer_view(work, grad_offsets[0], n_rows, n_features)
    rows_loss = loss_and_gradient(loss, outputs, inputs, scale, grad_out)
    if not math.isfinite(rows_loss):
        return rows_loss

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
    return rows_loss


@jit
def _update_slice(
    params, grads, state_a, state_b, layout, optimizer, hyper, step, l2, start, stop
):
    """Apply the optimizer step to the parameters ``start:stop``."""
    n_weights = layout[0, BIAS_OFFSET]
    if optimizer == ADAM:
        adam_update_slice(
            params,
            grads,
            state_a,
            state_b,
            start,
            stop,
            n_weights,
            hyper[LEARNING_RATE],
            hyper[BETA_1],
            hyper[BETA_2],
            hyper[EPSILON],
            step,
            l2,
        )
    else:
        sgd_update_slice(
            params,
            grads,
            state_a,
            start,
            stop,
            n_weights,
            hyper[LEARNING_RATE],
            hyper[MOMENTUM],
            optimizer == NESTEROV,
            l2,
        )


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
        batch_rows = stop - start
        batch_loss = _train_rows(
            X,
            order[start:stop],
            params,
            grads,
            layout,
            loss,
            1.0 / batch_rows,
            work,
            offsets,
        )
        if not math.isfinite(batch_loss):
            return batch_loss
        if optimizer == ADAM:
            step[0] += 1
        _update_slice(
            params,
            grads,
            state_a,
            state_b,
            layout,
            optimizer,
            hyper,
            step[0],
            hyper[ALPHA] / batch_rows,
            0,
            params.size,
        )
        total += batch_loss
    return total


# Each thread's slice of the parameters starts on a multiple of this many
# elements (256 bytes of float32), so that no two threads write one cache line.
_SLICE_ALIGNMENT = 64


@jit(parallel=True)
def train_epoch_parallel(
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
    partial_losses,
):
    """Run :func:`train_epoch` with each minibatch split across threads.

    The rows of each minibatch are divided into ``n_parts = grads.shape[0]``
    contiguous parts. Part ``t`` runs its forward and backward pass with its
    own scratch buffer ``work[t]`` and writes its gradient into ``grads[t]``.
    The parts' gradients are then summed, in order, and the optimizer updates
    the parameters, with the parameter buffer split across the threads.
    BLAS must run on one thread, because each part calls it from its own
    thread.

    The result depends on ``n_parts`` only through the order of floating-point
    sums, and for a given ``n_parts`` it does not depend on how many threads
    Numba runs, so training is deterministic.

    Parameters are those of :func:`train_epoch`, except for ``grads`` of shape
    ``(n_parts, n_params)``, ``work`` of shape ``(n_parts, work_length)`` with
    ``work_length = work_size(layout, ceil(batch_size / n_parts))``, and
    ``partial_losses``, a float64 scratch array of length ``n_parts``.
    """
    n_rows = order.size
    n_parts = grads.shape[0]
    n_params = params.size
    part_rows = -(-batch_size // n_parts)
    offsets = _buffer_offsets(layout, part_rows)
    total = 0.0
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        batch_rows = stop - start
        for part in prange(n_parts):
            part_start = start + batch_rows * part // n_parts
            part_stop = start + batch_rows * (part + 1) // n_parts
            if part_stop > part_start:
                partial_losses[part] = _train_rows(
                    X,
                    order[part_start:part_stop],
                    params,
                    grads[part],
                    layout,
                    loss,
                    1.0 / batch_rows,
                    work[part],
                    offsets,
                )
            else:
                grads[part, :] = 0.0
                partial_losses[part] = 0.0
        batch_loss = 0.0
        for part in range(n_parts):
            batch_loss += partial_losses[part]
        if not math.isfinite(batch_loss):
            return batch_loss
        if optimizer == ADAM:
            step[0] += 1
        current_step = step[0]
        l2 = hyper[ALPHA] / batch_rows
        for part in prange(n_parts):
            slice_start = _aligned_bound(n_params, part, n_parts)
            slice_stop = _aligned_bound(n_params, part + 1, n_parts)
            _sum_parts(grads, slice_start, slice_stop)
            _update_slice(
                params,
                grads[0],
                state_a,
                state_b,
                layout,
                optimizer,
                hyper,
                current_step,
                l2,
                slice_start,
                slice_stop,
            )
        total += batch_loss
    return total


@jit
def _aligned_bound(size, part, n_parts):
    """Return where slice ``part`` of ``n_parts`` of ``range(size)`` starts."""
    if part == n_parts:
        return size
    bound = size * part // n_parts
    return min(size, bound - bound % _SLICE_ALIGNMENT)


@jit
def _sum_parts(grads, start, stop):
    """Add ``grads[1:, start:stop]`` into ``grads[0, start:stop]``, in order."""
    # Views indexed from 0 vectorise, see optimizers._sgd_loop.
    total = grads[0, start:stop]
    for part in range(1, grads.shape[0]):
        other = grads[part, start:stop]
        for i in range(total.size):
            total[i] += other[i]


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


@jit(parallel=True)
def start_thread_pool(values):
    """Write ``values[i] = i`` in parallel, which starts Numba's thread pool."""
    for i in prange(values.size):
        values[i] = i
