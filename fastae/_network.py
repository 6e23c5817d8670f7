"""The flat parameter buffer of an autoencoder and its per-layer views.

Every weight matrix of the network is stored first, layer by layer, followed
by every bias vector, in one contiguous array. The optimizer updates that
array in one pass, and the L2 penalty covers exactly its first ``n_weights``
entries. With tied weights only the encoder's matrices are stored, and each
decoder layer uses the transpose of its mirror encoder layer's.
"""

import numpy as np

from ._kernels.activations import ACTIVATION_CODES
from ._kernels.epoch import (
    ACTIVATION,
    BIAS_OFFSET,
    FAN_IN,
    FAN_OUT,
    LAYOUT_COLUMNS,
    TRANSPOSED,
    WEIGHT_OFFSET,
)


def layer_sizes(n_features, hidden_layer_sizes):
    """Return the widths of every layer: the encoder, then its mirror image."""
    encoder = [n_features, *hidden_layer_sizes]
    return encoder + encoder[-2::-1]


def build_layout(
    sizes, activation, output_activation, code_activation=None, tied_weights=False
):
    """Return the int64 ``layout`` array describing a network of ``sizes``.

    Every layer uses ``activation`` except the output layer, which uses
    ``output_activation``, and the code layer (the last of the encoder), which
    uses ``code_activation`` unless it is None. With ``tied_weights`` each
    decoder layer shares the weight block of its mirror encoder layer.
    """
    n_layers = len(sizes) - 1
    layout = np.zeros((n_layers, LAYOUT_COLUMNS), dtype=np.int64)
    weight_offset = 0
    for layer in range(n_layers):
        layout[layer, FAN_IN] = sizes[layer]
        layout[layer, FAN_OUT] = sizes[layer + 1]
        mirror = n_layers - 1 - layer
        if tied_weights and layer >= n_layers // 2:
            layout[layer, WEIGHT_OFFSET] = layout[mirror, WEIGHT_OFFSET]
            layout[layer, TRANSPOSED] = 1
            continue
        layout[layer, WEIGHT_OFFSET] = weight_offset
        weight_offset += sizes[layer] * sizes[layer + 1]
    bias_offset = weight_offset
    for layer in range(n_layers):
        layout[layer, BIAS_OFFSET] = bias_offset
        bias_offset += sizes[layer + 1]
    layout[:, ACTIVATION] = ACTIVATION_CODES[activation]
    if code_activation is not None:
        layout[n_layers // 2 - 1, ACTIVATION] = ACTIVATION_CODES[code_activation]
    layout[-1, ACTIVATION] = ACTIVATION_CODES[output_activation]
    return layout


def n_parameters(layout):
    """Return the total number of weights and biases in ``layout``."""
    return int(layout[-1, BIAS_OFFSET] + layout[-1, FAN_OUT])


def initial_parameters(layout, rng, dtype):
    """Draw Glorot-uniform weights and biases, as scikit-learn's MLP does.

    Each layer's values are uniform in ``[-bound, bound]`` with
    ``bound = sqrt(factor / (fan_in + fan_out))``, where ``factor`` is 2 for a
    sigmoid layer and 6 otherwise. Values are drawn in float64 and then cast,
    so a float32 network starts from the rounded float64 one.
    """
    sigmoid = ACTIVATION_CODES["sigmoid"]
    params = np.empty(n_parameters(layout), dtype=dtype)
    for fan_in, fan_out, w_off, b_off, code, transposed in layout:
        factor = 2.0 if code == sigmoid else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        if not transposed:
            params[w_off : w_off + fan_in * fan_out] = rng.uniform(
                -bound, bound, fan_in * fan_out
            )
        params[b_off : b_off + fan_out] = rng.uniform(-bound, bound, fan_out)
    return params


def unpack(params, layout):
    """Return copies of the weight matrices and bias vectors in ``params``."""
    coefs = []
    intercepts = []
    for fan_in, fan_out, w_off, b_off, _, transposed in layout:
        block = params[w_off : w_off + fan_in * fan_out]
        if transposed:
            coefs.append(block.reshape(fan_out, fan_in).T.copy())
        else:
            coefs.append(block.reshape(fan_in, fan_out).copy())
        intercepts.append(params[b_off : b_off + fan_out].copy())
    return coefs, intercepts


def pack(coefs, intercepts, layout, dtype):
    """Return the flat parameter buffer holding ``coefs`` and ``intercepts``.

    With tied weights in ``layout`` the decoder layers' matrices are not read:
    the encoder's matrices are the shared ones.
    """
    params = np.empty(n_parameters(layout), dtype=dtype)
    for row, W, b in zip(layout, coefs, intercepts):
        fan_in, fan_out, w_off, b_off, _, transposed = row
        if not transposed:
            params[w_off : w_off + fan_in * fan_out] = np.ravel(W)
        params[b_off : b_off + fan_out] = b
    return params
