"""Training epoch and objective of a variational autoencoder, in compiled code.

The network uses the flat parameter buffer and the ``layout`` rows of
:mod:`.epoch`, of which this module reads ``fan_in``, ``fan_out``,
``weight_offset``, ``bias_offset`` and ``activation``, so every layer needs a
``(fan_in, fan_out)`` weight block of its own. The first half of the layers
is the encoder and the second half the decoder. The encoder's last layer (the
head) must be linear with ``2 * k`` outputs, where ``k`` is the code size:
columns ``0..k-1`` are the code means ``mu`` and columns ``k..2k-1`` the
log-variances ``v``. The decoder's first layer reads the code sample

    z = mu + exp(v / 2) * eps,

where ``eps`` is a standard normal value from :func:`.random.normal` keyed by
the epoch's seed, ``CODE_SAMPLE_STREAM``, the row's index in ``X`` and the code
unit. The log-variances are clamped to ``[LOG_VAR_MIN, LOG_VAR_MAX]`` before
use, and the gradient is zero for a raw value outside that range.

The objective of one row is its reconstruction loss summed over features (as
defined in :mod:`.losses`) plus ``beta`` times the Kullback-Leibler divergence
of ``N(mu, exp(v))`` from ``N(0, I)``:

    KL = 0.5 * sum_j (mu_j**2 + exp(v_j) - 1 - v_j).

``work`` is one scratch buffer of length :func:`work_size`, allocated once per
fit. It contains the minibatch's inputs, every layer's output, the code sample
``z``, the noise ``eps`` and two gradient buffers that alternate between
layers.
"""

import math

import numpy as np

from .._compile import jit
from ._scalar import cast
from .activations import IDENTITY
from .dense import dense_backward, dense_forward
from .epoch import (
    ACTIVATION,
    ADAM,
    ALPHA,
    BETA_1,
    BETA_2,
    BIAS_OFFSET,
    EPSILON,
    FAN_IN,
    FAN_OUT,
    LEARNING_RATE,
    MOMENTUM,
    NESTEROV,
    WEIGHT_OFFSET,
)
from .losses import BINARY_CROSSENTROPY, loss_and_gradient, loss_sum
from .optimizers import adam_update_slice, sgd_update_slice
from .random import CODE_SAMPLE_STREAM, normal

# Range of the log-variances. exp(20) = 4.9e8 and its square root stay far
# from float32's overflow at 3.4e38, and exp(-30) = 9.4e-14 is a standard
# deviation of 3e-7, already negligible next to any code mean.
LOG_VAR_MIN = -30.0
LOG_VAR_MAX = 20.0

# Position of beta, the weight of the KL term, in the ``hyper`` array. The
# positions before it are those of :mod:`.epoch`.
BETA = 6
N_HYPER = 7


def work_size(layout, batch_size):
    """Return the length of the ``work`` buffer for ``layout`` and ``batch_size``."""
    n_features = int(layout[0, FAN_IN])
    fan_outs = [int(w) for w in layout[:, FAN_OUT]]
    code_size = int(layout[layout.shape[0] // 2, FAN_IN])
    widest = max(n_features, *fan_outs)
    return batch_size * (n_features + sum(fan_outs) + 2 * code_size + 2 * widest)


@jit
def _view(buffer, offset, n_rows, n_cols):
    return buffer[offset : offset + n_rows * n_cols].reshape((n_rows, n_cols))


@jit
def _weights(params, layout, layer):
    offset = layout[layer, WEIGHT_OFFSET]
    return _view(params, offset, layout[layer, FAN_IN], layout[layer, FAN_OUT])


@jit
def _bias(params, layout, layer):
    offset = layout[layer, BIAS_OFFSET]
    return params[offset : offset + layout[layer, FAN_OUT]]


@jit
def _buffer_offsets(layout, batch_size):
    """Return where each part of ``work`` starts.

    Entry 0 is the inputs, entry ``l + 1`` the output of layer ``l``, and the
    last four entries are ``z``, ``eps`` and the two gradient buffers.
    """
    n_layers = layout.shape[0]
    code_size = layout[n_layers // 2, FAN_IN]
    offsets = np.empty(n_layers + 5, dtype=np.int64)
    offsets[0] = 0
    end = batch_size * layout[0, FAN_IN]
    widest = layout[0, FAN_IN]
    for layer in range(n_layers):
        offsets[layer + 1] = end
        end += batch_size * layout[layer, FAN_OUT]
        widest = max(widest, layout[layer, FAN_OUT])
    offsets[n_layers + 1] = end
    offsets[n_layers + 2] = end + batch_size * code_size
    offsets[n_layers + 3] = end + 2 * batch_size * code_size
    offsets[n_layers + 4] = offsets[n_layers + 3] + batch_size * widest
    return offsets


@jit
def _input_offset(offsets, n_layers, layer):
    """Return where the input of ``layer`` starts: the decoder's first reads ``z``."""
    if layer == n_layers // 2:
        return offsets[n_layers + 1]
    return offsets[layer]


@jit
def _layer_activation(layout, loss, layer):
    """Return the activation code of ``layer``, identity for cross-entropy logits."""
    if layer == layout.shape[0] - 1 and loss == BINARY_CROSSENTROPY:
        return IDENTITY
    return layout[layer, ACTIVATION]


@jit
def _gather(X, rows, work):
    inputs = _view(work, 0, rows.size, X.shape[1])
    for r in range(rows.size):
        inputs[r, :] = X[rows[r], :]
    return inputs


@jit
def _forward_layers(params, layout, loss, work, offsets, n_rows, first, stop):
    """Run layers ``first`` to ``stop - 1`` on the ``n_rows`` rows in ``work``."""
    n_layers = layout.shape[0]
    for layer in range(first, stop):
        layer_in = _view(
            work,
            _input_offset(offsets, n_layers, layer),
            n_rows,
            layout[layer, FAN_IN],
        )
        layer_out = _view(work, offsets[layer + 1], n_rows, layout[layer, FAN_OUT])
        dense_forward(
            layer_in,
            _weights(params, layout, layer),
            _bias(params, layout, layer),
            _layer_activation(layout, loss, layer),
            layer_out,
        )


@jit
def clamp_log_var(value):
    """Return ``value`` clamped to ``[LOG_VAR_MIN, LOG_VAR_MAX]``. NaN stays NaN."""
    low = cast(LOG_VAR_MIN, value)
    high = cast(LOG_VAR_MAX, value)
    if value < low:
        return low
    if value > high:
        return high
    return value


@jit
def _sample_code_row(head, z, eps, seed, row, sample):
    """Write one row's noise ``eps`` and code sample ``z``, and return its KL term.

    ``head`` is the row's ``2 * k`` encoder outputs. Without ``sample``,
    ``eps`` is zero and ``z`` is the mean code. The KL term is summed in
    float64.
    """
    code_size = z.size
    half = cast(0.5, z)
    kl = 0.0
    for j in range(code_size):
        mu = head[j]
        log_var = clamp_log_var(head[code_size + j])
        noise = cast(0.0, z)
        if sample:
            noise = cast(normal(seed, CODE_SAMPLE_STREAM, row, j), z)
        eps[j] = noise
        z[j] = mu + math.exp(log_var * half) * noise
        mean = float(mu)
        log_variance = float(log_var)
        kl += 0.5 * (mean * mean + math.exp(log_variance) - 1.0 - log_variance)
    return kl


@jit
def _sample_codes(work, offsets, layout, rows, seed):
    """Sample the code of every row in ``work``, and return the sum of the KL terms."""
    n_layers = layout.shape[0]
    n_rows = rows.size
    code_size = layout[n_layers // 2, FAN_IN]
    head = _view(work, offsets[n_layers // 2], n_rows, 2 * code_size)
    z = _view(work, offsets[n_layers + 1], n_rows, code_size)
    eps = _view(work, offsets[n_layers + 2], n_rows, code_size)
    kl = 0.0
    for r in range(n_rows):
        kl += _sample_code_row(head[r], z[r], eps[r], seed, rows[r], True)
    return kl


@jit
def _code_gradient(head, eps, grad_z, kl_scale, grad_head):
    """Write the gradient with respect to the head's outputs into ``grad_head``.

    ``grad_z`` is the gradient of the scaled reconstruction loss with respect
    to ``z``. ``kl_scale`` is ``beta`` times the minibatch's scale. With
    ``s = exp(v / 2)``: ``d/dmu = grad_z + kl_scale * mu`` and ``d/dv =
    grad_z * s * eps / 2 + kl_scale * (exp(v) - 1) / 2`` inside the clamp
    range, 0 outside it.
    """
    n_rows, code_size = grad_z.shape
    half = cast(0.5, head)
    one = cast(1.0, head)
    weight = cast(kl_scale, head)
    low = cast(LOG_VAR_MIN, head)
    high = cast(LOG_VAR_MAX, head)
    for r in range(n_rows):
        for j in range(code_size):
            mu = head[r, j]
            raw = head[r, code_size + j]
            grad_head[r, j] = grad_z[r, j] + weight * mu
            if low <= raw <= high:
                std = math.exp(raw * half)
                grad_head[r, code_size + j] = half * (
                    grad_z[r, j] * std * eps[r, j] + weight * (math.exp(raw) - one)
                )
            else:
                grad_head[r, code_size + j] = cast(0.0, head)


@jit
def _backward_layers(
    params, grads, layout, loss, work, offsets, n_rows, first, stop, side
):
    """Backpropagate through layers ``stop - 1`` down to ``first``.

    The gradient with respect to the output of layer ``stop - 1`` is in
    gradient buffer ``side`` (0 or 1). Writes every layer's weight and bias
    gradients into ``grads``, and returns the side that contains the gradient
    with respect to the input of layer ``first``, which is not computed for
    layer 0.
    """
    n_layers = layout.shape[0]
    for layer in range(stop - 1, first - 1, -1):
        fan_in = layout[layer, FAN_IN]
        fan_out = layout[layer, FAN_OUT]
        layer_in = _view(work, _input_offset(offsets, n_layers, layer), n_rows, fan_in)
        layer_out = _view(work, offsets[layer + 1], n_rows, fan_out)
        grad_out = _view(work, offsets[n_layers + 3 + side], n_rows, fan_out)
        activation = _layer_activation(layout, loss, layer)
        W = _weights(params, layout, layer)
        grad_W = _weights(grads, layout, layer)
        grad_b = _bias(grads, layout, layer)
        if layer > 0:
            side = 1 - side
            grad_in = _view(work, offsets[n_layers + 3 + side], n_rows, fan_in)
            dense_backward(
                layer_in, W, layer_out, grad_out, activation, grad_W, grad_b, grad_in
            )
        else:
            dense_backward(
                layer_in, W, layer_out, grad_out, activation, grad_W, grad_b, None
            )
    return side


@jit
def _train_rows(X, rows, params, grads, layout, loss, beta, seed, scale, work, offsets):
    """Gather ``rows`` of ``X``, run forward and backward, and write ``grads``.

    ``grads`` receives ``scale`` times the gradient of the objective summed
    over ``rows``. Returns that objective sum, or a non-finite value, in which
    case ``grads`` is not written.
    """
    n_layers = layout.shape[0]
    n_encoder = n_layers // 2
    n_rows = rows.size
    code_size = layout[n_encoder, FAN_IN]

    inputs = _gather(X, rows, work)
    _forward_layers(params, layout, loss, work, offsets, n_rows, 0, n_encoder)
    kl = _sample_codes(work, offsets, layout, rows, seed)
    _forward_layers(params, layout, loss, work, offsets, n_rows, n_encoder, n_layers)

    outputs = _view(work, offsets[n_layers], n_rows, X.shape[1])
    grad_out = _view(work, offsets[n_layers + 3], n_rows, X.shape[1])
    total = loss_and_gradient(loss, outputs, inputs, scale, grad_out) + beta * kl
    if not math.isfinite(total):
        return total

    side = _backward_layers(
        params, grads, layout, loss, work, offsets, n_rows, n_encoder, n_layers, 0
    )
    head = _view(work, offsets[n_encoder], n_rows, 2 * code_size)
    eps = _view(work, offsets[n_layers + 2], n_rows, code_size)
    grad_z = _view(work, offsets[n_layers + 3 + side], n_rows, code_size)
    grad_head = _view(work, offsets[n_layers + 4 - side], n_rows, 2 * code_size)
    _code_gradient(head, eps, grad_z, beta * scale, grad_head)

    _backward_layers(
        params, grads, layout, loss, work, offsets, n_rows, 0, n_encoder, 1 - side
    )
    return total


@jit
def _update(params, grads, state_a, state_b, layout, optimizer, hyper, step, l2):
    """Apply one optimizer step to every parameter."""
    n_weights = layout[0, BIAS_OFFSET]
    if optimizer == ADAM:
        adam_update_slice(
            params,
            grads,
            state_a,
            state_b,
            0,
            params.size,
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
            0,
            params.size,
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
    seed,
    work,
):
    """Train on the rows of ``X`` in the order ``order``, ``batch_size`` at a time.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training data, which is both the input and the reconstruction target.
    order : int64 ndarray of shape (n_rows,)
        Row indices into ``X``, in training order. A row's noise depends on its
        index, not on its position in ``order``.
    batch_size : int
        Rows per minibatch. The last minibatch takes the remainder.
    params, grads : ndarray
        Flat parameter buffer (updated in place) and gradient scratch buffer,
        both in the dtype of ``X``.
    state_a, state_b : ndarray
        Optimizer state, updated in place: Adam's first and second moments, or
        the SGD velocity in ``state_a`` (``state_b`` unused).
    layout : int64 ndarray of shape (n_layers, 5)
        The network, encoder then decoder, see the module docstring.
    loss, optimizer : int
        Loss code (see ``losses``) and optimizer code (``epoch.SGD``,
        ``epoch.NESTEROV``, ``epoch.ADAM``).
    hyper : float64 ndarray of shape (7,)
        Learning rate, momentum, beta_1, beta_2, epsilon, alpha and beta, at
        the positions named in ``epoch`` and ``BETA``.
    step : int64 ndarray of shape (1,)
        Adam's step counter, incremented once per minibatch.
    seed : int
        Seed of the epoch's code noise, in ``[0, 2**63)``.
    work : ndarray
        Scratch buffer of length ``work_size(layout, batch_size)``.

    Returns
    -------
    float
        The objective summed over every row visited, without the L2 penalty,
        or a non-finite value as soon as a minibatch's objective is not finite.
        Each minibatch's gradient is the mean over its rows, and the L2
        penalty adds ``alpha / batch_rows * W`` to the weight gradients.
    """
    offsets = _buffer_offsets(layout, batch_size)
    beta = hyper[BETA]
    total = 0.0
    for start in range(0, order.size, batch_size):
        stop = min(start + batch_size, order.size)
        batch_rows = stop - start
        batch_total = _train_rows(
            X,
            order[start:stop],
            params,
            grads,
            layout,
            loss,
            beta,
            seed,
            1.0 / batch_rows,
            work,
            offsets,
        )
        if not math.isfinite(batch_total):
            return batch_total

        if optimizer == ADAM:
            step[0] += 1
        l2 = hyper[ALPHA] / batch_rows
        _update(params, grads, state_a, state_b, layout, optimizer, hyper, step[0], l2)
        total += batch_total
    return total


@jit
def objective_rows(X, params, layout, loss, beta, seed, sample, batch_size, work, out):
    """Write the objective of each row of ``X`` into ``out``, without training.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data, in the dtype of ``params``.
    params, layout
        The network, as in :func:`train_epoch`.
    loss : int
        Loss code.
    beta : float
        Weight of the KL term.
    seed : int
        Seed of the code noise, used only with ``sample``.
    sample : bool
        Decode a code sample keyed by ``seed`` and the row's index in ``X``
        when True, or the mean code ``mu`` when False.
    batch_size : int
        Rows processed at a time through ``work``.
    work : ndarray
        Scratch buffer of length ``work_size(layout, batch_size)``.
    out : float64 ndarray of shape (n_samples,)
        Receives each row's reconstruction loss plus ``beta`` times its KL term.
    """
    n_layers = layout.shape[0]
    n_encoder = n_layers // 2
    n_features = X.shape[1]
    code_size = layout[n_encoder, FAN_IN]
    offsets = _buffer_offsets(layout, batch_size)
    rows = np.arange(X.shape[0])
    for start in range(0, X.shape[0], batch_size):
        stop = min(start + batch_size, X.shape[0])
        n_rows = stop - start
        inputs = _gather(X, rows[start:stop], work)
        _forward_layers(params, layout, loss, work, offsets, n_rows, 0, n_encoder)

        head = _view(work, offsets[n_encoder], n_rows, 2 * code_size)
        z = _view(work, offsets[n_layers + 1], n_rows, code_size)
        eps = _view(work, offsets[n_layers + 2], n_rows, code_size)
        for r in range(n_rows):
            kl = _sample_code_row(head[r], z[r], eps[r], seed, start + r, sample)
            out[start + r] = beta * kl

        _forward_layers(
            params, layout, loss, work, offsets, n_rows, n_encoder, n_layers
        )
        outputs = _view(work, offsets[n_layers], n_rows, n_features)
        for r in range(n_rows):
            out[start + r] += loss_sum(loss, outputs[r : r + 1], inputs[r : r + 1])
