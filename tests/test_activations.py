"""Activations: values against NumPy, derivatives against finite differences."""

import warnings

import numpy as np
import pytest

from fastae._kernels.activations import ACTIVATION_CODES, activate, derivative
from fastae._kernels.dense import bias_activate

from . import reference
from .conftest import DTYPES, RTOL

NAMES = sorted(ACTIVATION_CODES)


def apply(name, z):
    out = np.ascontiguousarray(z).reshape(1, -1).copy()
    bias_activate(out, np.zeros(out.shape[1], dtype=out.dtype), ACTIVATION_CODES[name])
    return out.ravel()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_reference(name, dtype, rng):
    z = (rng.standard_normal(301) * 4).astype(dtype)
    out = apply(name, z)
    assert out.dtype == dtype
    expected = reference.activation(name, z)
    np.testing.assert_allclose(out, expected, rtol=RTOL[dtype] * 5, atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_activation_extreme_inputs_finite(name, dtype):
    z = np.array([-1e4, -710.0, -89.0, -30.0, 0.0, 30.0, 89.0, 710.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = apply(name, z)
        grad = np.array([derivative(ACTIVATION_CODES[name], a) for a in out])
    assert np.all(np.isfinite(out))
    assert np.all(np.isfinite(grad))
    expected = reference.activation(name, z)
    np.testing.assert_allclose(out, expected, rtol=RTOL[dtype] * 5, atol=RTOL[dtype])


def test_activation_extreme_values_exact():
    code = ACTIVATION_CODES
    assert activate(code["sigmoid"], -1e4) == 0.0
    assert activate(code["sigmoid"], 1e4) == 1.0
    assert activate(code["softplus"], 1e4) == 1e4
    assert activate(code["softplus"], -1e4) == 0.0
    assert activate(code["elu"], -1e4) == -1.0
    assert activate(code["tanh"], -1e4) == -1.0


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_finite_difference(name, rng):
    # Points stay clear of the kink at 0 of relu, leaky_relu and elu.
    z = rng.uniform(0.05, 4.0, 200) * rng.choice([-1.0, 1.0], 200)
    h = 1e-6
    numeric = (
        reference.activation(name, z + h) - reference.activation(name, z - h)
    ) / (2 * h)
    code = ACTIVATION_CODES[name]
    analytic = np.array([derivative(code, activate(code, value)) for value in z])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_from_output_matches_reference(name, rng):
    z = rng.uniform(-20.0, 20.0, 500)
    code = ACTIVATION_CODES[name]
    from_output = np.array([derivative(code, activate(code, value)) for value in z])
    np.testing.assert_allclose(
        from_output, reference.activation_derivative(name, z), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_activation_propagates_nan(name, dtype):
    out = apply(name, np.array([np.nan, 1.0], dtype=dtype))
    assert np.isnan(out[0])
    assert np.isfinite(out[1])
