"""One training epoch, start to finish, in compiled code.

The network is described by ``layout``, an int64 array with one row per layer:
``(fan_in, fan_out, weight_offset, bias_offset, activation, transposed)``.
Offsets index the flat parameter buffer, where a layer's weights are a
C-ordered ``(fan_in, fan_out)`` block. A ``transposed`` layer (a decoder layer
with tied weights) has no block of its own: it uses the transpose of the
``(fan_out, fan_in)`` block of its encoder layer. The same offsets index the
gradient buffer.

``work`` is one scratch buffer, allocated once per fit by :func:`work_size`.
It contains every layer's output for one minibatch, two gradient buffers that
alternate between layers, the clean targets of a corrupted minibatch, two
vectors of the widest layer, and one weight block for tied weights.

The regularised variants read their strengths from ``hyper`` (see the
positions below); a strength of 0 turns a variant off:

- input corruption: Gaussian noise of standard deviation ``NOISE_STD`` added
  to the inputs, and a fraction ``MASK_FRACTION`` of the inputs set to 0,
  while the loss compares the output with the clean rows;
- dropout of a fraction ``DROPOUT`` of the units of every hidden layer except
  the code layer, with the kept units scaled by ``1 / (1 - DROPOUT)``;
- penalties on the code layer, added to the loss of every row: ``CODE_L1``
  times the sum of the absolute code values; ``SPARSITY_WEIGHT`` times the
  Kullback-Leibler divergence between ``SPARSITY_TARGET`` and each code
  unit's mean over the minibatch (counted once per row of the minibatch);
  and ``CONTRACTIVE`` times the squared Frobenius norm of the Jacobian of the
  code with respect to the input, for a network whose encoder is one layer;
- clipping of the gradient's Euclidean norm to ``MAX_GRAD_NORM``, before the
  L2 term is added.

Random values come from :mod:`fastae._kernels.random`, keyed by the epoch's
``SEED``, the row's index in ``X`` and the element, so they do not depend on
how a minibatch is split across threads. ``weights`` contains one weight per row
of ``X`` that multiplies that row's reconstruction loss, or is empty for unit
weights.
"""

import math

import numpy as np
from numba import prange

from .._compile import jit
from ._scalar import cast
from .activations import IDENTITY, derivative, second_derivative
from .dense import activation_backward, dense_backward, dense_forward
from .losses import BINARY_CROSSENTROPY, loss_and_gradient, loss_sum
from .optimizers import adam_update_slice, sgd_update_slice
from .random import (
    DROPOUT_STREAM,
    INPUT_MASK_STREAM,
    INPUT_NOISE_STREAM,
    normal,
    uniform,
)

SGD = 0
NESTEROV = 1
ADAM = 2

# Positions in the float64 ``hyper`` array: the optimizer's settings, the
# strengths of the variants (see the module docstring) and the epoch's seed,
# an integer below 2**52.
(
    LEARNING_RATE,
    MOMENTUM,
    BETA_1,
    BETA_2,
    EPSILON,
    ALPHA,
    NOISE_STD,
    MASK_FRACTION,
    DROPOUT,
    CODE_L1,
    SPARSITY_WEIGHT,
    SPARSITY_TARGET,
    CONTRACTIVE,
    MAX_GRAD_NORM,
    SEED,
) = range(15)
N_HYPER = 15
_NO_VARIANTS = np.zeros(N_HYPER)

FAN_IN, FAN_OUT, WEIGHT_OFFSET, BIAS_OFFSET, ACTIVATION, TRANSPOSED = range(6)
LAYOUT_COLUMNS = 6

# Mean code activations are kept this far inside (0, 1) in the sparsity
# penalty, so that its logarithms and quotients stay finite.
_SPARSITY_MARGIN = 1e-6


def hyper_array(learning_rate, momentum, beta_1, beta_2, epsilon, alpha, **variants):
    """Return the ``hyper`` array; ``variants`` maps names such as ``"DROPOUT"`` to values."""
    hyper = np.zeros(N_HYPER)
    hyper[:6] = learning_rate, momentum, beta_1, beta_2, epsilon, alpha
    for name, value in variants.items():
        hyper[globals()[name]] = value
    return hyper


def work_size(layout, batch_size):
    """Return the length of the ``work`` buffer for ``layout`` and ``batch_size``."""
    return int(_buffer_offsets(np.ascontiguousarray(layout), batch_size)[-1])


@jit
def _layer_view(buffer, offset, n_rows, n_cols):
    return buffer[offset : offset + n_rows * n_cols].reshape((n_rows, n_cols))


@jit
def _weights(params, layout, layer):
    """Return the layer's weight block: ``(fan_in, fan_out)``, or its transpose's."""
    offset = layout[layer, WEIGHT_OFFSET]
    fan_in, fan_out = layout[layer, FAN_IN], layout[layer, FAN_OUT]
    if layout[layer, TRANSPOSED]:
        return _layer_view(params, offset, fan_out, fan_in)
    return _layer_view(params, offset, fan_in, fan_out)


@jit
def _bias(params, layout, layer):
    offset = layout[layer, BIAS_OFFSET]
    return params[offset : offset + layout[layer, FAN_OUT]]


@jit
def _buffer_offsets(layout, batch_size):
    """Return where each region of ``work`` starts, and its total length last.

    The regions are the input, each layer's output, the two gradient buffers
    (at ``n_layers + 1`` and ``n_layers + 2``), the clean targets
    (``n_layers + 3``), two vectors of the widest layer (``n_layers + 4``)
    and the weight block for tied weights (``n_layers + 5``).
    """
    n_layers = layout.shape[0]
    n_features = layout[0, FAN_IN]
    offsets = np.empty(n_layers + 7, dtype=np.int64)
    offsets[0] = 0
    widest = n_features
    tied_block = 0
    end = batch_size * n_features
    for layer in range(n_layers):
        offsets[layer + 1] = end
        end += batch_size * layout[layer, FAN_OUT]
        widest = max(widest, layout[layer, FAN_OUT])
        if layout[layer, TRANSPOSED]:
            tied_block = max(tied_block, layout[layer, FAN_IN] * layout[layer, FAN_OUT])
    offsets[n_layers + 1] = end
    offsets[n_layers + 2] = offsets[n_layers + 1] + batch_size * widest
    offsets[n_layers + 3] = offsets[n_layers + 2] + batch_size * widest
    offsets[n_layers + 4] = offsets[n_layers + 3] + batch_size * n_features
    offsets[n_layers + 5] = offsets[n_layers + 4] + 2 * widest
    offsets[n_layers + 6] = offsets[n_layers + 5] + tied_block
    return offsets


@jit
def _forward_batch(params, layout, loss, work, offsets, rows, hyper, training):
    """Run every layer on the ``rows.size`` inputs already in ``work``.

    With cross-entropy the output layer keeps its logits. With ``training``
    set, dropout applies; ``rows`` contains the rows' indices in ``X``, which
    key the dropout masks.
    """
    n_layers = layout.shape[0]
    n_rows = rows.size
    dropout = hyper[DROPOUT] if training else 0.0
    for layer in range(n_layers):
        activation = layout[layer, ACTIVATION]
        if layer == n_layers - 1 and loss == BINARY_CROSSENTROPY:
            activation = IDENTITY
        fan_in = layout[layer, FAN_IN]
        fan_out = layout[layer, FAN_OUT]
        layer_in = _layer_view(work, offsets[layer], n_rows, fan_in)
        layer_out = _layer_view(work, offsets[layer + 1], n_rows, fan_out)
        W = _weights(params, layout, layer)
        b = _bias(params, layout, layer)
        if layout[layer, TRANSPOSED]:
            dense_forward(layer_in, W.T, b, activation, layer_out)
        else:
            dense_forward(layer_in, W, b, activation, layer_out)
        if dropout > 0.0 and _drops_units(layout, layer):
            _drop_units(layer_out, rows, hyper, layer)


@jit
def _drops_units(layout, layer):
    """Return True for the hidden layers that dropout applies to (not the code)."""
    n_layers = layout.shape[0]
    return layer < n_layers - 1 and layer != n_layers // 2 - 1


@jit
def _drop_units(out, rows, hyper, layer):
    rate = hyper[DROPOUT]
    seed = np.int64(hyper[SEED])
    keep_scale = cast(1.0 / (1.0 - rate), out)
    zero = cast(0.0, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            if uniform(seed, DROPOUT_STREAM + layer, rows[i], j) < rate:
                out[i, j] = zero
            else:
                out[i, j] *= keep_scale


@jit
def _undo_dropout(out, grad_out, rows, hyper, layer):
    """Pass ``grad_out`` back through dropout and restore the kept outputs.

    The activation derivative is computed from ``out``, so the kept units get
    their value before scaling back; dropped units get a zero gradient.
    """
    rate = hyper[DROPOUT]
    seed = np.int64(hyper[SEED])
    keep_scale = cast(1.0 / (1.0 - rate), out)
    keep = cast(1.0 - rate, out)
    zero = cast(0.0, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            if uniform(seed, DROPOUT_STREAM + layer, rows[i], j) < rate:
                grad_out[i, j] = zero
            else:
                grad_out[i, j] *= keep_scale
                out[i, j] *= keep


@jit
def _gather(X, rows, work):
    inputs = _layer_view(work, 0, rows.size, X.shape[1])
    for r in range(rows.size):
        inputs[r, :] = X[rows[r], :]
    return inputs


@jit
def _corrupt(inputs, rows, hyper):
    """Set a fraction of ``inputs`` to 0 and add Gaussian noise, at the strengths in ``hyper``."""
    fraction = hyper[MASK_FRACTION]
    noise_std = hyper[NOISE_STD]
    seed = np.int64(hyper[SEED])
    for i in range(inputs.shape[0]):
        row = rows[i]
        for j in range(inputs.shape[1]):
            if fraction > 0.0 and uniform(seed, INPUT_MASK_STREAM, row, j) < fraction:
                inputs[i, j] = 0.0
            elif noise_std > 0.0:
                inputs[i, j] += noise_std * normal(seed, INPUT_NOISE_STREAM, row, j)


@jit
def _weighted_loss(loss, outputs, target, rows, weights, scale, grad_out):
    """Return the loss of the rows, weighted by ``weights``, and write its gradient."""
    if weights.size == 0:
        return loss_and_gradient(loss, outputs, target, scale, grad_out)
    total = 0.0
    for i in range(rows.size):
        weight = weights[rows[i]]
        total += weight * loss_and_gradient(
            loss,
            outputs[i : i + 1],
            target[i : i + 1],
            scale * weight,
            grad_out[i : i + 1],
        )
    return total


@jit
def _code_penalties(code, grad_code, hyper, scale, scratch):
    """Add the L1 and sparsity penalties' gradients to ``grad_code``; return their sum.

    ``code`` contains the code layer's outputs for the rows, ``grad_code`` the
    gradient of the loss with respect to them, already multiplied by
    ``scale``. ``scratch`` needs the code width.
    """
    n_rows, width = code.shape
    total = 0.0
    l1 = hyper[CODE_L1]
    if l1 > 0.0:
        step = cast(l1 * scale, code)
        absolute = 0.0
        for i in range(n_rows):
            for j in range(width):
                h = code[i, j]
                absolute += abs(h)
                if h > 0:
                    grad_code[i, j] += step
                elif h < 0:
                    grad_code[i, j] -= step
        total += l1 * absolute
    weight = hyper[SPARSITY_WEIGHT]
    if weight > 0.0:
        target = hyper[SPARSITY_TARGET]
        mean = scratch[:width]
        mean[:] = 0.0
        for i in range(n_rows):
            for j in range(width):
                mean[j] += code[i, j]
        divergence = 0.0
        for j in range(width):
            rho = min(max(mean[j] / n_rows, _SPARSITY_MARGIN), 1.0 - _SPARSITY_MARGIN)
            divergence += target * math.log(target / rho) + (1.0 - target) * math.log(
                (1.0 - target) / (1.0 - rho)
            )
            # The gradient of the divergence with respect to each row's value.
            mean[j] = weight * scale * ((1.0 - target) / (1.0 - rho) - target / rho)
        for i in range(n_rows):
            for j in range(width):
                grad_code[i, j] += mean[j]
        total += weight * divergence * n_rows
    return total


@jit
def _contractive_penalty(W, code, grad_code, activation, hyper, scale, scratch):
    """Add the contractive penalty's gradient through the code; return the penalty.

    For a one-layer encoder ``h = f(x W + b)`` the Jacobian's squared
    Frobenius norm is ``sum_j f'(z_j)**2 * sum_i W[i, j]**2``. Its gradient
    with respect to ``z_j`` is ``2 f'(z_j) f''(z_j) sum_i W[i, j]**2``, which
    is added to ``grad_code`` divided by ``f'(z_j)`` because the backward pass
    multiplies it by ``f'(z_j)``. ``scratch[width:]`` receives the column sums
    of ``f'(z)**2`` that :func:`_contractive_weight_gradient` needs.
    """
    n_rows, width = code.shape
    strength = hyper[CONTRACTIVE]
    norms = scratch[:width]
    slopes = scratch[width : 2 * width]
    for j in range(width):
        norms[j] = 0.0
        slopes[j] = 0.0
    for i in range(W.shape[0]):
        for j in range(width):
            norms[j] += W[i, j] * W[i, j]
    step = cast(2.0 * strength * scale, code)
    total = 0.0
    for i in range(n_rows):
        for j in range(width):
            h = code[i, j]
            slope = derivative(activation, h)
            total += slope * slope * norms[j]
            slopes[j] += slope * slope
            grad_code[i, j] += step * second_derivative(activation, h) * norms[j]
    return strength * total


@jit
def _contractive_weight_gradient(W, grad_W, hyper, scale, scratch):
    """Add the penalty's direct gradient, ``2 W[i, j] sum_rows f'(z_j)**2``."""
    width = W.shape[1]
    slopes = scratch[width : 2 * width]
    step = 2.0 * hyper[CONTRACTIVE] * scale
    for i in range(W.shape[0]):
        for j in range(width):
            grad_W[i, j] += step * slopes[j] * W[i, j]


@jit
def _layer_backward(
    params,
    grads,
    layout,
    layer,
    activation,
    layer_in,
    layer_out,
    grad_current,
    grad_in,
    scratch,
):
    """Back-propagate through one layer, handling tied weights.

    ``grad_current`` contains ``dL/d(out)`` and is overwritten by ``dL/dz``.
    ``grad_in`` receives ``dL/d(in)`` unless ``layer`` is 0. With tied weights
    a decoder layer, which runs first, writes the shared block's gradient and
    its encoder layer adds to it through the ``scratch`` block.
    """
    W = _weights(params, layout, layer)
    grad_W = _weights(grads, layout, layer)
    grad_b = _bias(grads, layout, layer)
    n_layers = layout.shape[0]
    tied = layout[n_layers - 1, TRANSPOSED] != 0
    if not tied:
        if layer > 0:
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
        return
    activation_backward(grad_current, layer_out, activation, grad_b)
    if layout[layer, TRANSPOSED]:
        # The block is (fan_out, fan_in); its gradient is dL/dz.T @ in.
        np.dot(grad_current.T, layer_in, grad_W)
        if layer > 0:
            np.dot(grad_current, W, grad_in)
        return
    block = scratch[: W.size].reshape(W.shape)
    np.dot(layer_in.T, grad_current, block)
    _add_into(grad_W, block)
    if layer > 0:
        np.dot(grad_current, W.T, grad_in)


@jit
def _add_into(total, other):
    for i in range(total.shape[0]):
        for j in range(total.shape[1]):
            total[i, j] += other[i, j]


@jit
def _train_rows(
    X, rows, weights, params, grads, layout, loss, hyper, scale, work, offsets
):
    """Gather ``rows`` of ``X``, run forward and backward, and write ``grads``.

    ``grads`` receives ``scale`` times the gradient of the loss summed over
    ``rows``, penalties included. Returns that loss sum, or a non-finite
    value, in which case ``grads`` is not written.
    """
    n_layers = layout.shape[0]
    n_rows = rows.size
    n_features = X.shape[1]
    grad_offsets = (offsets[n_layers + 1], offsets[n_layers + 2])
    vectors = work[offsets[n_layers + 4] : offsets[n_layers + 5]]
    tied_block = work[offsets[n_layers + 5] : offsets[n_layers + 6]]
    code_layer = n_layers // 2 - 1

    inputs = _gather(X, rows, work)
    target = inputs
    if hyper[NOISE_STD] > 0.0 or hyper[MASK_FRACTION] > 0.0:
        target = _layer_view(work, offsets[n_layers + 3], n_rows, n_features)
        target[:, :] = inputs
        _corrupt(inputs, rows, hyper)
    _forward_batch(params, layout, loss, work, offsets, rows, hyper, True)

    outputs = _layer_view(work, offsets[n_layers], n_rows, n_features)
    grad_out = _layer_view(work, grad_offsets[0], n_rows, n_features)
    rows_loss = _weighted_loss(loss, outputs, target, rows, weights, scale, grad_out)
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
        grad_in = _layer_view(
            work, grad_offsets[(n_layers - layer) % 2], n_rows, fan_in
        )
        if hyper[DROPOUT] > 0.0 and _drops_units(layout, layer):
            _undo_dropout(layer_out, grad_current, rows, hyper, layer)
        if layer == code_layer:
            rows_loss += _code_penalties(layer_out, grad_current, hyper, scale, vectors)
            if hyper[CONTRACTIVE] > 0.0:
                rows_loss += _contractive_penalty(
                    _weights(params, layout, 0),
                    layer_out,
                    grad_current,
                    activation,
                    hyper,
                    scale,
                    vectors,
                )
        _layer_backward(
            params,
            grads,
            layout,
            layer,
            activation,
            layer_in,
            layer_out,
            grad_current,
            grad_in,
            tied_block,
        )
        if layer == 0 and hyper[CONTRACTIVE] > 0.0:
            _contractive_weight_gradient(
                _weights(params, layout, 0),
                _weights(grads, layout, 0),
                hyper,
                scale,
                vectors,
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
    weights,
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
    weights : float64 ndarray of shape (n_samples,) or (0,)
        Weight of each row's reconstruction loss; empty for unit weights.
    batch_size : int
        Rows per minibatch; the last minibatch takes the remainder.
    params, grads : ndarray
        Flat parameter buffer (updated in place) and gradient scratch buffer.
    state_a, state_b : ndarray
        Optimizer state, updated in place: Adam's first and second moments, or
        the SGD velocity in ``state_a`` (``state_b`` unused).
    layout : int64 ndarray of shape (n_layers, 6)
        The network description, see the module docstring.
    loss, optimizer : int
        Loss code (see ``losses``) and optimizer code (``SGD``, ``NESTEROV``, ``ADAM``).
    hyper : float64 ndarray of shape (N_HYPER,)
        The optimizer's settings, the variants' strengths and the epoch's
        seed, at the positions named at the top of this module.
    step : int64 ndarray of shape (1,)
        Adam's step counter, incremented once per minibatch.
    work : ndarray
        Scratch buffer of length ``work_size(layout, batch_size)``.

    Returns
    -------
    float
        The loss summed over every element of every row visited, weighted and
        with the penalties, or a non-finite value as soon as a minibatch's
        loss is not finite.
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
            weights,
            params,
            grads,
            layout,
            loss,
            hyper,
            1.0 / batch_rows,
            work,
            offsets,
        )
        if not math.isfinite(batch_loss):
            return batch_loss
        if hyper[MAX_GRAD_NORM] > 0.0:
            factor = _clip_factor(_squared_sum(grads, 0, grads.size), hyper)
            _scale_slice(grads, 0, grads.size, factor)
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


@jit
def _squared_sum(values, start, stop):
    total = 0.0
    for i in range(start, stop):
        total += values[i] * values[i]
    return total


@jit
def _clip_factor(squared_norm, hyper):
    """Return the factor that brings a gradient of this norm down to the limit."""
    norm = math.sqrt(squared_norm)
    limit = hyper[MAX_GRAD_NORM]
    return limit / norm if norm > limit else 1.0


@jit
def _scale_slice(values, start, stop, factor):
    if factor != 1.0:
        typed = cast(factor, values)
        for i in range(start, stop):
            values[i] *= typed


# Each thread's slice of the parameters starts on a multiple of this many
# elements (256 bytes of float32), so that no two threads write one cache line.
_SLICE_ALIGNMENT = 64


@jit(parallel=True)
def train_epoch_parallel(
    X,
    order,
    weights,
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
    Numba runs, so training is deterministic. The sparsity penalty needs the
    mean over the whole minibatch, so it must be trained with
    :func:`train_epoch`.

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
    clipping = hyper[MAX_GRAD_NORM] > 0.0
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
                    weights,
                    params,
                    grads[part],
                    layout,
                    loss,
                    hyper,
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
        factor = 1.0
        if clipping:
            # Sum the parts first, so that the norm covers the whole gradient.
            for part in prange(n_parts):
                slice_start = _aligned_bound(n_params, part, n_parts)
                slice_stop = _aligned_bound(n_params, part + 1, n_parts)
                _sum_parts(grads, slice_start, slice_stop)
                partial_losses[part] = _squared_sum(grads[0], slice_start, slice_stop)
            squared_norm = 0.0
            for part in range(n_parts):
                squared_norm += partial_losses[part]
            factor = _clip_factor(squared_norm, hyper)
        for part in prange(n_parts):
            slice_start = _aligned_bound(n_params, part, n_parts)
            slice_stop = _aligned_bound(n_params, part + 1, n_parts)
            if clipping:
                _scale_slice(grads[0], slice_start, slice_stop, factor)
            else:
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
def evaluate_loss(X, weights, params, layout, loss, batch_size, work):
    """Return the loss of the network on ``X``, summed over all elements.

    Rows are weighted by ``weights`` (empty for unit weights). Dropout, input
    corruption and penalties do not apply. Rows are processed ``batch_size``
    at a time through ``work``, the buffer that training uses, so evaluation
    allocates nothing per row.
    """
    n_layers = layout.shape[0]
    offsets = _buffer_offsets(layout, batch_size)
    n_features = X.shape[1]
    rows = np.arange(X.shape[0])
    total = 0.0
    for start in range(0, X.shape[0], batch_size):
        stop = min(start + batch_size, X.shape[0])
        inputs = _layer_view(work, 0, stop - start, n_features)
        inputs[:, :] = X[start:stop]
        _forward_batch(
            params, layout, loss, work, offsets, rows[start:stop], _NO_VARIANTS, False
        )
        outputs = _layer_view(work, offsets[n_layers], stop - start, n_features)
        if weights.size == 0:
            total += loss_sum(loss, outputs, inputs)
        else:
            for i in range(stop - start):
                total += weights[start + i] * loss_sum(
                    loss, outputs[i : i + 1], inputs[i : i + 1]
                )
    return total


@jit(parallel=True)
def start_thread_pool(values):
    """Write ``values[i] = i`` in parallel, which starts Numba's thread pool."""
    for i in prange(values.size):
        values[i] = i
