"""Loss kernels against the NumPy reference and finite differences."""

import warnings

import numpy as np
import pytest

from fastae._kernels._scalar import exp_nonpositive_array, log1p_unit_kernel
from fastae._kernels.losses import LOSS_CODES, is_finite, loss_and_gradient, loss_sum

from . import reference
from .conftest import DTYPES, RTOL

LOSSES = sorted(LOSS_CODES)


def random_pair(rng, loss, shape, dtype):
    out = (rng.standard_normal(shape) * 3).astype(dtype)
    target = rng.random(shape).astype(dtype)
    if loss == "binary_crossentropy":
        target[target < 0.3] = 0.0
        target[target > 0.7] = 1.0
    return out, target


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (17, 1), (33, 65)])
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_matches_reference(loss, shape, dtype, rng):
    out, target = random_pair(rng, loss, shape, dtype)
    expected = reference.loss_elements(loss, out, target)
    total = loss_sum(LOSS_CODES[loss], out, target)
    np.testing.assert_allclose(total, expected.sum(), rtol=RTOL[dtype] * 10)

    grad = np.empty_like(out)
    total_with_grad = loss_and_gradient(LOSS_CODES[loss], out, target, 0.25, grad)
    assert grad.dtype == dtype
    # The fused kernel sums in a vectorised order, so only rounding differs.
    assert total_with_grad == pytest.approx(total, rel=RTOL[dtype])
    expected_grad = 0.25 * reference.loss_gradient(loss, out, target)
    np.testing.assert_allclose(
        grad, expected_grad, rtol=RTOL[dtype] * 10, atol=RTOL[dtype]
    )


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_gradient_matches_finite_difference(loss, rng):
    out, target = random_pair(rng, loss, (5, 7), np.float64)
    grad = np.empty_like(out)
    loss_and_gradient(LOSS_CODES[loss], out, target, 1.0, grad)
    h = 1e-6
    numeric = np.empty_like(out)
    for index in np.ndindex(out.shape):
        saved = out[index]
        out[index] = saved + h
        upper = loss_sum(LOSS_CODES[loss], out, target)
        out[index] = saved - h
        lower = loss_sum(LOSS_CODES[loss], out, target)
        out[index] = saved
        numeric[index] = (upper - lower) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_crossentropy_extreme_logits_finite(dtype):
    logits = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=dtype)
    for value in (0.0, 1.0):
        target = np.full_like(logits, value)
        grad = np.empty_like(logits)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            total = loss_and_gradient(
                LOSS_CODES["binary_crossentropy"], logits, target, 1.0, grad
            )
        expected = reference.loss_elements("binary_crossentropy", logits, target).sum()
        assert np.isfinite(total)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(total, expected, rtol=1e-6)


def test_crossentropy_of_perfect_prediction_is_zero():
    logits = np.array([[-1e4, 1e4]])
    target = np.array([[0.0, 1.0]])
    assert loss_sum(LOSS_CODES["binary_crossentropy"], logits, target) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_is_finite_detects_nan_and_inf(dtype):
    values = np.zeros(10, dtype=dtype)
    assert is_finite(values)
    values[3] = np.nan
    assert not is_finite(values)
    values[3] = -np.inf
    assert not is_finite(values)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log1p_series_matches_numpy(dtype):
    e = np.linspace(0.0, 1.0, 4001).astype(dtype)
    got = np.array([log1p_unit_kernel(value) for value in e])
    expected = np.log1p(e.astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(dtype).eps, atol=0)


def exp_reference_inputs(dtype):
    grid = -np.abs(np.linspace(-110.0, 110.0, 200_001))
    edges = [0.0, -0.0, -1e-45, -87.3, -87.4, -103.2, -103.9, -104.0, -150.0]
    return np.concatenate([grid, edges]).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_nonpositive_matches_float64(dtype):
    y = exp_reference_inputs(dtype)
    got = exp_nonpositive_array(y)
    assert got.dtype == dtype
    expected = np.exp(y.astype(np.float64))
    normal = expected >= np.finfo(dtype).tiny
    relative = np.abs(got[normal] - expected[normal]) / expected[normal]
    # libm's expf is within 1.2e-7; the vectorisable polynomial within 2e-7.
    # In float64 it is within about one rounding error of NumPy's exp.
    limit = 2e-7 if dtype == np.float32 else 2 * np.finfo(np.float64).eps
    assert relative.max() <= limit
    subnormal_error = np.abs(got[~normal] - expected[~normal])
    assert subnormal_error.max(initial=0.0) <= 2 * np.finfo(dtype).smallest_subnormal


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_nonpositive_special_values(dtype):
    y = np.array([np.nan, -np.inf, 0.0, -0.0], dtype=dtype)
    got = exp_nonpositive_array(y)
    assert np.isnan(got[0])
    assert got[1] == 0.0
    assert got[2] == 1.0
    assert got[3] == 1.0
