"""Fused optimizer updates against the NumPy reference."""

import numpy as np
import pytest

from fastae._kernels.optimizers import adam_update, sgd_update

from . import reference
from .conftest import DTYPES, assert_close


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_sgd_update_matches_reference(size, nesterov, dtype, rng):
    params = rng.standard_normal(size).astype(dtype)
    grads = rng.standard_normal(size).astype(dtype)
    velocity = rng.standard_normal(size).astype(dtype)
    n_weights = size // 2
    expected_params, expected_velocity = reference.sgd_update(
        params.astype(np.float64),
        grads,
        velocity.astype(np.float64),
        n_weights,
        0.05,
        0.9,
        nesterov,
        0.01,
    )
    sgd_update(params, grads, velocity, n_weights, 0.05, 0.9, nesterov, 0.01)
    assert params.dtype == dtype
    assert velocity.dtype == dtype
    assert_close(params, expected_params, dtype)
    assert_close(velocity, expected_velocity, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_adam_update_matches_reference(size, dtype, rng):
    params = rng.standard_normal(size).astype(dtype)
    m = np.zeros(size, dtype=dtype)
    v = np.zeros(size, dtype=dtype)
    expected = (params.astype(np.float64), np.zeros(size), np.zeros(size))
    n_weights = size - 1
    for step in range(1, 6):
        grads = rng.standard_normal(size).astype(dtype)
        expected = reference.adam_update(
            expected[0],
            grads,
            expected[1],
            expected[2],
            n_weights,
            1e-2,
            0.9,
            0.999,
            1e-8,
            step,
            1e-3,
        )
        adam_update(params, grads, m, v, n_weights, 1e-2, 0.9, 0.999, 1e-8, step, 1e-3)
    for actual, expected_array in zip((params, m, v), expected):
        assert actual.dtype == dtype
        assert_close(actual, expected_array, dtype)


def test_l2_penalty_skips_biases():
    params = np.ones(4)
    velocity = np.zeros(4)
    sgd_update(params, np.zeros(4), velocity, 2, 0.1, 0.0, False, 1.0)
    np.testing.assert_allclose(params, [0.9, 0.9, 1.0, 1.0])


def test_adam_first_step_moves_by_learning_rate():
    # With bias correction, the first Adam step is learning_rate * sign(g).
    params = np.zeros(3)
    grads = np.array([-5.0, 0.5, 2e-3])
    adam_update(
        params, grads, np.zeros(3), np.zeros(3), 3, 0.01, 0.9, 0.999, 1e-12, 1, 0.0
    )
    np.testing.assert_allclose(params, [0.01, -0.01, -0.01], rtol=1e-6)
