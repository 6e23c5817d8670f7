"""CUDA kernels against the NumPy references and tolerances of the CPU kernels."""

import numpy as np
import pytest
from numba import cuda

from fastae._cuda import kernels
from fastae._kernels.activations import ACTIVATION_CODES
from fastae._kernels.losses import LOSS_CODES
from tests import reference
from tests.conftest import DTYPES, RTOL, assert_close

NAMES = sorted(ACTIVATION_CODES)
# (rows, inner, columns): with 4 x 4 tiles these span several tiles, end in
# partial ones, and include a single row and a single column.
SHAPES = [(1, 3, 1), (9, 7, 5), (13, 17, 6)]


def operand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def run_matmul(rng, shape, transpose_a, transpose_b, dtype):
    """Return the GPU's ``op(A) @ op(B)`` for random operands and NumPy's in float64."""
    n_rows, inner, n_cols = shape
    A = operand(rng, (inner, n_rows) if transpose_a else (n_rows, inner), dtype)
    B = operand(rng, (n_cols, inner) if transpose_b else (inner, n_cols), dtype)
    C = cuda.device_array((n_rows, n_cols), dtype=dtype)
    kernels.matmul(
        cuda.to_device(A),
        cuda.to_device(B),
        C,
        transpose_a=transpose_a,
        transpose_b=transpose_b,
    )
    expected = (A.T if transpose_a else A).astype(np.float64) @ (
        B.T if transpose_b else B
    ).astype(np.float64)
    return C.copy_to_host(), expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_matches_numpy(transpose_a, transpose_b, shape, dtype, rng):
    actual, expected = run_matmul(rng, shape, transpose_a, transpose_b, dtype)
    assert_close(actual, expected, dtype, scale=max(shape[1], 1))


@pytest.mark.gpu
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_at_full_size(transpose_a, transpose_b, rng):
    # The real 16 x 16 tiles, on sizes that divide no tile.
    shape = (300, 785, 129)
    actual, expected = run_matmul(rng, shape, transpose_a, transpose_b, np.float32)
    assert_close(actual, expected, np.float32, scale=np.sqrt(shape[1]) * 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_dense_forward_matches_reference(name, dtype, rng):
    X, W = operand(rng, (13, 17), dtype), operand(rng, (17, 6), dtype) / 4
    b = operand(rng, 6, dtype)
    out = cuda.device_array((13, 6), dtype=dtype)
    flag = cuda.to_device(np.zeros(1, dtype=np.int32))
    kernels.dense_forward(
        cuda.to_device(X),
        cuda.to_device(W),
        cuda.to_device(b),
        ACTIVATION_CODES[name],
        out,
        flag,
    )
    expected, z = reference.dense_forward(X, W, b, name)
    assert_close(out.copy_to_host(), expected, dtype, scale=max(np.abs(z).max(), 1))
    assert flag.copy_to_host()[0] == 0


# The simulator computes in NumPy, which warns about inf * 0.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_dense_forward_flags_bad_input(bad_value, rng):
    X = operand(rng, (9, 7), np.float32)
    X[4, 2] = bad_value
    W, b = operand(rng, (7, 5), np.float32), np.zeros(5, np.float32)
    out = cuda.device_array((9, 5), dtype=np.float32)
    flag = cuda.to_device(np.zeros(1, dtype=np.int32))
    kernels.dense_forward(
        cuda.to_device(X),
        cuda.to_device(W),
        cuda.to_device(b),
        ACTIVATION_CODES["relu"],
        out,
        flag,
    )
    assert flag.copy_to_host()[0] == 1
    assert np.isfinite(np.delete(out.copy_to_host(), 4, axis=0)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_input_gradient_epilogue_matches_reference(name, dtype, rng):
    # The product delta @ W.T times f'(z) of the layer below, where the layer
    # below's output is a = f(z).
    z = operand(rng, (9, 7), dtype)
    a = reference.activation(name, z).astype(dtype)
    delta, W = operand(rng, (9, 5), dtype), operand(rng, (7, 5), dtype)
    out = cuda.device_array((9, 7), dtype=dtype)
    kernels.matmul(
        cuda.to_device(delta),
        cuda.to_device(W),
        out,
        transpose_b=True,
        epilogue=kernels.DERIVATIVE,
        activation=ACTIVATION_CODES[name],
        aux=cuda.to_device(a),
    )
    expected = (delta.astype(np.float64) @ W.T) * reference.activation_derivative(
        name, z
    )
    assert_close(out.copy_to_host(), expected, dtype, scale=10.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "loss, output",
    # Cross-entropy is computed from the logits, so its output is identity.
    [
        ("squared_error", "identity"),
        ("squared_error", "sigmoid"),
        ("binary_crossentropy", "identity"),
    ],
)
def test_loss_gradient_matches_reference(loss, output, dtype, rng):
    z = operand(rng, (7, 9), dtype) * 3
    out = reference.activation(output, z).astype(dtype)
    target = rng.random((7, 9)).astype(dtype)
    grad = cuda.device_array((7, 9), dtype=dtype)
    totals = cuda.to_device(np.zeros(1))
    scale = dtype(1 / 7)
    kernels.loss_gradient(
        LOSS_CODES[loss],
        cuda.to_device(out),
        cuda.to_device(target),
        ACTIVATION_CODES[output],
        scale,
        grad,
        totals,
    )
    expected_loss = reference.loss_elements(loss, out, target).sum()
    expected_grad = (
        reference.loss_gradient(loss, out, target)
        * reference.activation_derivative(output, z)
        / 7
    )
    np.testing.assert_allclose(totals.copy_to_host()[0], expected_loss, rtol=1e-5)
    assert_close(grad.copy_to_host(), expected_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_column_sums_and_gather(dtype, rng):
    values = operand(rng, (11, 6), dtype)
    sums = cuda.device_array(6, dtype=dtype)
    kernels.column_sums(cuda.to_device(values), sums)
    assert_close(sums.copy_to_host(), values.astype(np.float64).sum(axis=0), dtype)

    order = rng.permutation(11).astype(np.int64)
    batch = cuda.device_array((5, 6), dtype=dtype)
    kernels.gather(cuda.to_device(values), cuda.to_device(order), 3, batch)
    np.testing.assert_array_equal(batch.copy_to_host(), values[order[3:8]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_update_matches_reference(nesterov, dtype, rng):
    params, grads, velocity = (operand(rng, 23, dtype) for _ in range(3))
    device = [cuda.to_device(a) for a in (params, grads, velocity)]
    kernels.sgd_update(*device, 15, 0.1, 0.9, nesterov, 0.01)
    expected_params, expected_velocity = reference.sgd_update(
        params, grads, velocity, 15, 0.1, 0.9, nesterov, 0.01
    )
    assert_close(device[0].copy_to_host(), expected_params, dtype)
    assert_close(device[2].copy_to_host(), expected_velocity, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("step", [1, 7])
def test_adam_update_matches_reference(step, dtype, rng):
    params, grads, m = (operand(rng, 23, dtype) for _ in range(3))
    v = rng.random(23).astype(dtype)
    device = [cuda.to_device(a) for a in (params, grads, m, v)]
    kernels.adam_update(*device, 15, 0.01, 0.9, 0.999, 1e-8, step, 0.01)
    expected = reference.adam_update(
        params, grads, m, v, 15, 0.01, 0.9, 0.999, 1e-8, step, 0.01
    )
    for actual, reference_value in zip(device[0:1] + device[2:], expected):
        # Adam divides by sqrt(v), which magnifies float32 rounding.
        np.testing.assert_allclose(
            actual.copy_to_host(), reference_value, rtol=RTOL[dtype] * 100, atol=1e-6
        )


@pytest.mark.parametrize("bad_value", [None, np.nan, np.inf])
def test_flag_non_finite(bad_value, rng):
    values = operand(rng, 19, np.float32)
    if bad_value is not None:
        values[17] = bad_value
    flag = cuda.to_device(np.zeros(1, dtype=np.int32))
    kernels.flag_non_finite(cuda.to_device(values), flag)
    assert flag.copy_to_host()[0] == (bad_value is not None)


def test_row_scores_and_fill_zero(rng):
    X, reconstruction = (
        operand(rng, (9, 5), np.float64),
        operand(rng, (9, 5), np.float64),
    )
    scores = cuda.device_array(9, dtype=np.float64)
    kernels.row_scores(cuda.to_device(X), cuda.to_device(reconstruction), scores)
    expected = -np.mean((X - reconstruction) ** 2, axis=1)
    np.testing.assert_allclose(scores.copy_to_host(), expected, rtol=1e-12)

    kernels.fill_zero(scores)
    np.testing.assert_array_equal(scores.copy_to_host(), np.zeros(9))
