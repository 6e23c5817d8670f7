"""The regularised variants of the training kernel against a NumPy reference.

Each variant (tied weights, input corruption, dropout, the code penalties,
row weights and gradient clipping) is checked the same way. The compiled
minibatch pass ``_train_rows`` must return the objective that a plain NumPy
forward pass computes. Its gradient must match central finite differences of
that NumPy objective. The random masks and noise are drawn once, from the
same counter-based generator as the kernel, because they are inputs of the
objective and do not depend on the parameters.
"""

import numpy as np
import pytest

from fastae._kernels import epoch
from fastae._kernels.activations import ACTIVATION_CODES, second_derivative
from fastae._kernels.epoch import (
    _buffer_offsets,
    _train_rows,
    train_epoch,
    train_epoch_parallel,
    work_size,
)
from fastae._kernels.losses import LOSS_CODES
from fastae._kernels.random import (
    DROPOUT_STREAM,
    INPUT_MASK_STREAM,
    INPUT_NOISE_STREAM,
    normal,
    uniform,
)
from fastae._network import build_layout, initial_parameters

from . import reference
from .conftest import DTYPES

NAMES = {code: name for name, code in ACTIVATION_CODES.items()}
SEED = 12345
UNIT_WEIGHTS = np.zeros(0)


def hyper(**variants):
    return epoch.hyper_array(0.01, 0.9, 0.9, 0.999, 1e-8, 0.0, SEED=SEED, **variants)


# ---------------------------------------------------------------- reference


def layer_weights(params, layout, layer):
    """Return the ``(fan_in, fan_out)`` weights of ``layer`` read from ``params``."""
    fan_in, fan_out, offset, _, _, transposed = layout[layer]
    block = params[offset : offset + fan_in * fan_out]
    if transposed:
        return block.reshape(fan_out, fan_in).T
    return block.reshape(fan_in, fan_out)


def layer_bias(params, layout, layer):
    _, fan_out, _, offset, _, _ = layout[layer]
    return params[offset : offset + fan_out]


def draw_randomness(rows, layout, settings):
    """Return the input mask, input noise and dropout masks the kernel uses."""
    n_features = layout[0, 0]
    grid = [(i, row, j) for i, row in enumerate(rows) for j in range(n_features)]
    shape = (len(rows), n_features)
    keep_input = np.ones(shape)
    noise = np.zeros(shape)
    for i, row, j in grid:
        keep_input[i, j] = uniform(SEED, INPUT_MASK_STREAM, row, j) >= settings.get(
            "MASK_FRACTION", 0.0
        )
        noise[i, j] = normal(SEED, INPUT_NOISE_STREAM, row, j)
    dropout_keep = []
    for layer in range(len(layout)):
        width = layout[layer, 1]
        keep = np.empty((len(rows), width))
        for i, row in enumerate(rows):
            for j in range(width):
                u = uniform(SEED, DROPOUT_STREAM + layer, row, j)
                keep[i, j] = u >= settings.get("DROPOUT", 0.0)
        dropout_keep.append(keep)
    return keep_input, noise, dropout_keep


def reference_objective(params, X, rows, weights, layout, loss, settings, randomness):
    """Return the loss summed over ``rows`` with the penalties, in float64."""
    keep_input, noise, dropout_keep = randomness
    n_layers = len(layout)
    code_layer = n_layers // 2 - 1
    target = X[rows].astype(np.float64)
    inputs = target * keep_input
    inputs = inputs + settings.get("NOISE_STD", 0.0) * noise * keep_input
    rate = settings.get("DROPOUT", 0.0)

    a = inputs
    for layer in range(n_layers):
        name = NAMES[layout[layer, 4]]
        if layer == n_layers - 1 and loss == "binary_crossentropy":
            name = "identity"
        W = layer_weights(params, layout, layer)
        z = a @ W + layer_bias(params, layout, layer)
        a = reference.activation(name, z)
        if layer == code_layer:
            code, code_z, code_name = a, z, name
        if rate > 0 and layer < n_layers - 1 and layer != code_layer:
            a = a * dropout_keep[layer] / (1 - rate)

    row_losses = reference.loss_elements(loss, a, target).sum(axis=1)
    if weights.size:
        row_losses = row_losses * weights[rows]
    total = row_losses.sum()
    total += settings.get("CODE_L1", 0.0) * np.abs(code).sum()
    if settings.get("SPARSITY_WEIGHT", 0.0) > 0:
        rho = settings["SPARSITY_TARGET"]
        mean = code.mean(axis=0)
        divergence = rho * np.log(rho / mean) + (1 - rho) * np.log(
            (1 - rho) / (1 - mean)
        )
        total += settings["SPARSITY_WEIGHT"] * divergence.sum() * len(rows)
    if settings.get("CONTRACTIVE", 0.0) > 0:
        slopes = reference.activation_derivative(code_name, code_z)
        norms = (layer_weights(params, layout, 0) ** 2).sum(axis=0)
        total += settings["CONTRACTIVE"] * (slopes**2 * norms).sum()
    return total


def numeric_gradient(objective, params, h=1e-6):
    gradient = np.empty_like(params)
    for i in range(params.size):
        shifted = params.copy()
        shifted[i] += h
        upper = objective(shifted)
        shifted[i] -= 2 * h
        gradient[i] = (upper - objective(shifted)) / (2 * h)
    return gradient


def compiled_pass(params, X, rows, weights, layout, loss, hyper_values):
    """Return the compiled loss sum and gradient (scaled by 1 / rows) of one pass."""
    grads = np.zeros_like(params)
    work = np.empty(work_size(layout, rows.size), dtype=params.dtype)
    total = _train_rows(
        X,
        rows,
        weights,
        params,
        grads,
        layout,
        LOSS_CODES[loss],
        hyper_values,
        1.0 / rows.size,
        work,
        _buffer_offsets(layout, rows.size),
    )
    return total, grads


# Each case: hidden widths, activation, code activation, loss, tied, settings.
CASES = {
    "tied-3": ([3], "tanh", None, "squared_error", True, {}),
    "tied-5": ([4, 2], "elu", None, "binary_crossentropy", True, {}),
    "noise": ([3], "tanh", None, "squared_error", False, {"NOISE_STD": 0.3}),
    "mask": (
        [3],
        "sigmoid",
        None,
        "binary_crossentropy",
        False,
        {"MASK_FRACTION": 0.4},
    ),
    "mask-noise": (
        [3],
        "tanh",
        None,
        "squared_error",
        False,
        {"MASK_FRACTION": 0.3, "NOISE_STD": 0.2},
    ),
    "dropout": ([6, 2], "tanh", None, "squared_error", False, {"DROPOUT": 0.3}),
    "dropout-tied": ([6, 4, 2], "elu", None, "squared_error", True, {"DROPOUT": 0.5}),
    "l1": ([4, 3], "tanh", None, "squared_error", False, {"CODE_L1": 0.05}),
    "sparsity": (
        [4, 3],
        "tanh",
        "sigmoid",
        "binary_crossentropy",
        False,
        {"SPARSITY_WEIGHT": 0.3, "SPARSITY_TARGET": 0.1},
    ),
    "contractive-sigmoid": (
        [3],
        "sigmoid",
        None,
        "squared_error",
        False,
        {"CONTRACTIVE": 0.2},
    ),
    "contractive-tanh-tied": (
        [3],
        "tanh",
        None,
        "squared_error",
        True,
        {"CONTRACTIVE": 0.2},
    ),
    "contractive-elu": ([3], "elu", None, "squared_error", False, {"CONTRACTIVE": 0.2}),
    "contractive-softplus": (
        [3],
        "softplus",
        None,
        "binary_crossentropy",
        False,
        {"CONTRACTIVE": 0.2},
    ),
    "weights": ([3], "tanh", None, "squared_error", False, {"weights": True}),
    "everything": (
        [5, 3],
        "tanh",
        "sigmoid",
        "binary_crossentropy",
        True,
        {
            "weights": True,
            "MASK_FRACTION": 0.2,
            "NOISE_STD": 0.1,
            "DROPOUT": 0.2,
            "CODE_L1": 0.01,
            "SPARSITY_WEIGHT": 0.1,
            "SPARSITY_TARGET": 0.2,
        },
    ),
}


def setup_case(name, dtype, rng, n_features=5, n_samples=11):
    hidden, activation, code_activation, loss, tied, settings = CASES[name]
    settings = dict(settings)
    use_weights = settings.pop("weights", False)
    sizes = [n_features, *hidden, *hidden[-2::-1], n_features]
    output = "sigmoid" if loss == "binary_crossentropy" else "identity"
    layout = build_layout(sizes, activation, output, code_activation, tied)
    params = initial_parameters(layout, np.random.default_rng(1), np.float64)
    X = rng.random((n_samples, n_features)).astype(dtype)
    weights = rng.uniform(0.2, 3.0, n_samples) if use_weights else UNIT_WEIGHTS
    rows = np.array([7, 2, 9, 0, 4, 5, 10], dtype=np.int64)
    return layout, params, X, weights, rows, loss, settings


@pytest.mark.parametrize("name", sorted(CASES))
def test_objective_and_gradient_match_reference(name, rng):
    layout, params, X, weights, rows, loss, settings = setup_case(name, np.float64, rng)
    randomness = draw_randomness(rows, layout, settings)

    def objective(p):
        return reference_objective(
            p, X, rows, weights, layout, loss, settings, randomness
        )

    total, grads = compiled_pass(
        params, X, rows, weights, layout, loss, hyper(**settings)
    )
    np.testing.assert_allclose(total, objective(params), rtol=1e-10)
    expected = numeric_gradient(objective, params) / rows.size
    np.testing.assert_allclose(grads, expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["tied-5", "mask-noise", "dropout-tied", "everything"])
def test_float32_pass_matches_float64(name, rng):
    layout, params, X, weights, rows, loss, settings = setup_case(name, np.float32, rng)
    values = hyper(**settings)
    total32, grads32 = compiled_pass(
        params.astype(np.float32), X, rows, weights, layout, loss, values
    )
    total64, grads64 = compiled_pass(
        params, X.astype(np.float64), rows, weights, layout, loss, values
    )
    np.testing.assert_allclose(total32, total64, rtol=1e-5)
    scale = np.max(np.abs(grads64))
    np.testing.assert_allclose(grads32, grads64, rtol=0, atol=1e-5 * scale)


def test_tied_layout_shares_blocks():
    layout = build_layout([6, 4, 2, 4, 6], "relu", "identity", tied_weights=True)
    untied = build_layout([6, 4, 2, 4, 6], "relu", "identity")
    assert list(layout[:, 5]) == [0, 0, 1, 1]
    assert layout[3, 2] == layout[0, 2]
    assert layout[2, 2] == layout[1, 2]
    n_tied = int(layout[-1, 3] + layout[-1, 1])
    n_untied = int(untied[-1, 3] + untied[-1, 1])
    assert n_untied - n_tied == 6 * 4 + 4 * 2


@pytest.mark.parametrize("name", sorted(ACTIVATION_CODES))
def test_second_derivative_matches_finite_difference(name):
    code = ACTIVATION_CODES[name]
    z = np.array([-2.5, -0.7, -0.1, 0.3, 0.9, 3.0])
    h = 1e-5
    slope_up = reference.activation_derivative(name, z + h)
    slope_down = reference.activation_derivative(name, z - h)
    expected = (slope_up - slope_down) / (2 * h)
    outputs = reference.activation(name, z)
    actual = np.array([second_derivative(code, a) for a in outputs])
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-8)


# ------------------------------------------------------------ whole epochs


def run_epoch(layout, params, X, order, weights, batch_size, values, n_parts=None):
    """Run one SGD epoch, serial or split into ``n_parts``; return the loss sum."""
    state = np.zeros_like(params)
    arguments = (
        X,
        order,
        weights,
        batch_size,
        params,
        None,
        state,
        np.zeros(0, dtype=params.dtype),
        layout,
        LOSS_CODES["squared_error"],
        epoch.SGD,
        values,
        np.zeros(1, dtype=np.int64),
    )
    if n_parts is None:
        work = np.empty(work_size(layout, batch_size), dtype=params.dtype)
        arguments = (*arguments[:5], np.zeros_like(params), *arguments[6:])
        return train_epoch(*arguments, work)
    length = work_size(layout, -(-batch_size // n_parts))
    grads = np.zeros((n_parts, params.size), dtype=params.dtype)
    work = np.empty((n_parts, length), dtype=params.dtype)
    arguments = (*arguments[:5], grads, *arguments[6:])
    return train_epoch_parallel(*arguments, work, np.zeros(n_parts))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "settings",
    [
        {"NOISE_STD": 0.2, "MASK_FRACTION": 0.1},
        {"DROPOUT": 0.3},
        {"CODE_L1": 0.01},
        {"MAX_GRAD_NORM": 0.05},
    ],
    ids=["noise", "dropout", "l1", "clip"],
)
@pytest.mark.parametrize("tied", [False, True])
def test_split_minibatches_match_serial(settings, tied, dtype, rng):
    # Random values are keyed by row, so splitting a minibatch across parts
    # changes only the order of floating-point sums.
    layout = build_layout([8, 6, 3, 6, 8], "tanh", "identity", tied_weights=tied)
    start = initial_parameters(layout, np.random.default_rng(0), dtype)
    X = rng.random((29, 8)).astype(dtype)
    order = rng.permutation(29).astype(np.int64)
    weights = rng.uniform(0.5, 2.0, 29)
    values = hyper(**settings)
    serial = start.copy()
    total = run_epoch(layout, serial, X, order, weights, 6, values)
    for n_parts in (2, 3):
        split = start.copy()
        split_total = run_epoch(layout, split, X, order, weights, 6, values, n_parts)
        tolerance = 1e-4 if dtype == np.float32 else 1e-11
        np.testing.assert_allclose(split_total, total, rtol=tolerance)
        np.testing.assert_allclose(split, serial, rtol=0, atol=tolerance)


@pytest.mark.parametrize("n_parts", [None, 2])
def test_clipping_rescales_each_minibatch_gradient(n_parts, rng):
    layout = build_layout([5, 3, 5], "tanh", "identity")
    start = initial_parameters(layout, np.random.default_rng(0), np.float64)
    X = 10 * rng.random((8, 5))
    rows = np.arange(8, dtype=np.int64)
    _, gradient = compiled_pass(
        start, X, rows, UNIT_WEIGHTS, layout, "squared_error", hyper()
    )
    norm = np.linalg.norm(gradient)
    for limit in (norm / 10, norm * 2):
        params = start.copy()
        # One SGD step (learning rate 0.01, no momentum) over one minibatch.
        values = hyper(MAX_GRAD_NORM=limit)
        values[epoch.MOMENTUM] = 0.0
        run_epoch(layout, params, X, rows, UNIT_WEIGHTS, 8, values, n_parts)
        expected = gradient * min(1.0, limit / norm)
        np.testing.assert_allclose((start - params) / 0.01, expected, rtol=1e-9)


def test_zero_weight_rows_do_not_train(rng):
    layout = build_layout([5, 3, 5], "tanh", "identity")
    params = initial_parameters(layout, np.random.default_rng(0), np.float64)
    X = rng.random((6, 5))
    rows = np.arange(6, dtype=np.int64)
    weights = np.array([1.0, 0.0, 2.0, 0.0, 1.0, 0.5])
    total, grads = compiled_pass(
        params, X, rows, weights, layout, "squared_error", hyper()
    )
    weighted_rows = rows[weights > 0]
    partial, partial_grads = compiled_pass(
        params, X, weighted_rows, weights, layout, "squared_error", hyper()
    )
    np.testing.assert_allclose(total, partial, rtol=1e-12)
    # The full pass divides by six rows, the partial one by four.
    np.testing.assert_allclose(grads * 6, partial_grads * 4, rtol=1e-10, atol=1e-14)
