"""Dense layer kernels against the NumPy reference and finite differences."""

import numpy as np
import pytest

from fastae._kernels.activations import ACTIVATION_CODES
from fastae._kernels.dense import dense_backward, dense_forward, dense_forward_finite

from . import reference
from .conftest import DTYPES, SHAPES, assert_close

NAMES = sorted(ACTIVATION_CODES)


def random_layer(rng, n_rows, fan_in, fan_out, dtype):
    X = rng.standard_normal((n_rows, fan_in)).astype(dtype)
    W = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(dtype)
    b = rng.standard_normal(fan_out).astype(dtype)
    return X, W, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_dense_forward_matches_reference(name, shape, dtype, rng):
    X, W, b = random_layer(rng, *shape, dtype)
    out = np.empty((shape[0], shape[2]), dtype=dtype)
    dense_forward(X, W, b, ACTIVATION_CODES[name], out)
    expected, z = reference.dense_forward(X, W, b, name)
    assert out.dtype == dtype
    assert_close(out, expected, dtype, scale=max(np.abs(z).max(), 1.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad_value", [None, np.nan, np.inf, -np.inf])
def test_dense_forward_finite_flags_bad_rows(bad_value, name, dtype, rng):
    X, W, b = random_layer(rng, 37, 11, 5, dtype)
    if bad_value is not None:
        X[rng.integers(37), rng.integers(11)] = bad_value
    out = np.empty((37, 5), dtype=dtype)
    finite = dense_forward_finite(X, W, b, ACTIVATION_CODES[name], out)
    with np.errstate(invalid="ignore"):
        expected, z = reference.dense_forward(X, W, b, name)
    assert finite == bool(np.isfinite(z).all())
    assert finite == (bad_value is None)
    rows = np.isfinite(z).all(axis=1)
    scale = max(np.abs(z[rows]).max(), 1.0)
    assert_close(out[rows], expected[rows], dtype, scale=scale)
    # The row with the bad value holds NaN where the reference does and the
    # activation's limits (0 or -1 for -inf, inf for inf) elsewhere.
    np.testing.assert_allclose(out[~rows], expected[~rows], rtol=1e-6)


def test_dense_forward_finite_flags_overflow():
    IDENTITY = ACTIVATION_CODES["identity"]
    X = np.full((2, 3), 3e38, dtype=np.float32)
    W = np.full((3, 2), -1.0, dtype=np.float32)
    out = np.empty((2, 2), dtype=np.float32)
    assert not dense_forward_finite(X, W, np.zeros(2, np.float32), IDENTITY, out)
    W[:] = 1e-3
    assert dense_forward_finite(X, W, np.zeros(2, np.float32), IDENTITY, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_dense_backward_matches_reference(name, shape, dtype, rng):
    X, W, b = random_layer(rng, *shape, dtype)
    n_rows, _, fan_out = shape
    code = ACTIVATION_CODES[name]
    out = np.empty((n_rows, fan_out), dtype=dtype)
    dense_forward(X, W, b, code, out)
    grad_out = rng.standard_normal((n_rows, fan_out)).astype(dtype)
    _, z = reference.dense_forward(X, W, b, name)
    expected_W, expected_b, expected_X = reference.dense_backward(
        X, W, z, grad_out, name
    )

    grad_W = np.empty_like(W)
    grad_b = np.empty_like(b)
    grad_X = np.empty_like(X)
    dense_backward(X, W, out, grad_out.copy(), code, grad_W, grad_b, grad_X)
    for actual, expected in [
        (grad_W, expected_W),
        (grad_b, expected_b),
        (grad_X, expected_X),
    ]:
        assert actual.dtype == dtype
        # Gradients are sums of n_rows (or fan_out) rounded products.
        scale = max(np.abs(grad_out).max() * max(n_rows, fan_out) * 4, 1.0)
        assert_close(actual, expected, dtype, scale=scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_backward_without_input_gradient(dtype, rng):
    X, W, b = random_layer(rng, 9, 4, 3, dtype)
    code = ACTIVATION_CODES["tanh"]
    out = np.empty((9, 3), dtype=dtype)
    dense_forward(X, W, b, code, out)
    grad_out = rng.standard_normal((9, 3)).astype(dtype)
    with_X = [np.empty_like(W), np.empty_like(b), np.empty_like(X)]
    dense_backward(X, W, out, grad_out.copy(), code, *with_X)
    grad_W = np.empty_like(W)
    grad_b = np.empty_like(b)
    dense_backward(X, W, out, grad_out.copy(), code, grad_W, grad_b, None)
    np.testing.assert_array_equal(grad_W, with_X[0])
    np.testing.assert_array_equal(grad_b, with_X[1])


@pytest.mark.parametrize("name", NAMES)
def test_dense_gradient_matches_finite_difference(name, rng):
    # L = sum(R * f(X @ W + b)) has dL/d(out) = R.
    X, W, b = random_layer(rng, 6, 5, 4, np.float64)
    X += 0.5  # moves pre-activations away from relu's kink at 0
    R = rng.standard_normal((6, 4))
    code = ACTIVATION_CODES[name]

    def objective(X, W, b):
        out = np.empty((6, 4))
        dense_forward(X, W, b, code, out)
        return float(np.sum(R * out))

    grad_W = np.empty_like(W)
    grad_b = np.empty_like(b)
    grad_X = np.empty_like(X)
    out = np.empty((6, 4))
    dense_forward(X, W, b, code, out)
    dense_backward(X, W, out, R.copy(), code, grad_W, grad_b, grad_X)

    h = 1e-6
    for array, analytic in [(W, grad_W), (b, grad_b), (X, grad_X)]:
        numeric = np.empty_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + h
            upper = objective(X, W, b)
            array[index] = saved - h
            lower = objective(X, W, b)
            array[index] = saved
            numeric[index] = (upper - lower) / (2 * h)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)
