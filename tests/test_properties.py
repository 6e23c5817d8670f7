"""Property-based tests of AutoencoderTransformer over random data and parameters."""

import warnings

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer, TrainingDivergedError

ACTIVATIONS = [
    "identity",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "elu",
    "softplus",
]

# Input dtypes: float32 trains in float32, every other numeric dtype in float64.
INPUT_DTYPES = [np.float32, np.float64, np.int64, np.uint8]

# Tolerance of transform on a subset of rows against the same rows of transform
# on all rows. BLAS may block a matrix product differently for another row
# count, so the results can differ by rounding but not more.
SUBSET_TOLERANCE = {
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6},
    np.dtype(np.float64): {"rtol": 1e-12, "atol": 1e-14},
}

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def fit_cases(draw):
    """Draw a small finite data set ``X`` and estimator parameters ``params``."""
    loss = draw(st.sampled_from(["squared_error", "binary_crossentropy"]))
    dtype = draw(st.sampled_from(INPUT_DTYPES))
    n_samples = draw(st.integers(1, 40))
    n_features = draw(st.integers(1, 12))
    shape = (n_samples, n_features)

    binary = loss == "binary_crossentropy"
    if np.dtype(dtype).kind == "f":
        low, high = (0.0, 1.0) if binary else (-10.0, 10.0)
        width = 32 if dtype == np.float32 else 64
        elements = st.floats(low, high, width=width)
    elif dtype == np.uint8:
        elements = st.integers(0, 1 if binary else 10)
    else:
        elements = st.integers(0, 1) if binary else st.integers(-10, 10)
    X = draw(arrays(dtype, shape, elements=elements))

    params = {
        "hidden_layer_sizes": tuple(
            draw(st.lists(st.integers(1, 16), min_size=1, max_size=3))
        ),
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "solver": draw(st.sampled_from(["adam", "sgd"])),
        "batch_size": draw(st.one_of(st.just("auto"), st.integers(1, 64))),
        "loss": loss,
        "early_stopping": draw(st.booleans()),
        "max_iter": draw(st.integers(1, 5)),
        "random_state": 0,
    }
    return X, params


def fitted_dtype(X):
    return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)


def fit_or_error(X, params):
    """Fit a model on ``X`` and return it, or the ValueError or TypeError of fit.

    ConvergenceWarning is expected after a few epochs, and a batch_size above
    the row count warns that it is clipped, so both are ignored. Every other
    warning keeps the filter of the test run, which turns RuntimeWarning
    into an error.
    """
    model = AutoencoderTransformer(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings(
            "ignore", message="batch_size=.* is larger than", category=UserWarning
        )
        try:
            return model.fit(X)
        except (ValueError, TypeError) as error:
            return error


@PROPERTY_SETTINGS
@given(case=fit_cases())
def test_fit_outputs_shapes_dtypes_finite(case):
    X, params = case
    result = fit_or_error(X, params)
    event(f"fit result: {type(result).__name__}")

    n_val = int(np.floor(0.1 * X.shape[0]))
    if params["early_stopping"] and n_val < 1:
        assert isinstance(result, ValueError)
        assert "validation_fraction" in str(result)
        return
    if isinstance(result, TrainingDivergedError):
        # SGD with momentum can diverge on unscaled data within one epoch, and
        # scikit-learn's MLPRegressor diverges on some of the same inputs.
        return
    assert not isinstance(result, Exception), f"fit raised {result!r}"

    model = result
    dtype = fitted_dtype(X)
    n_samples, n_features = X.shape
    code_size = params["hidden_layer_sizes"][-1]

    for W in model.coefs_:
        assert W.dtype == dtype
        assert np.isfinite(W).all()
    for b in model.intercepts_:
        assert b.dtype == dtype
        assert np.isfinite(b).all()

    codes = model.transform(X)
    assert codes.shape == (n_samples, code_size)
    assert codes.dtype == dtype
    assert np.isfinite(codes).all()

    reconstruction = model.inverse_transform(codes)
    assert reconstruction.shape == (n_samples, n_features)
    assert reconstruction.dtype == dtype
    assert np.isfinite(reconstruction).all()

    scores = model.score_samples(X)
    assert scores.shape == (n_samples,)
    assert np.isfinite(scores).all()


@PROPERTY_SETTINGS
@given(case=fit_cases(), data=st.data())
def test_transform_of_row_subset_matches(case, data):
    X, params = case
    params = {**params, "early_stopping": False}
    result = fit_or_error(X, params)
    if isinstance(result, TrainingDivergedError):
        return
    assert not isinstance(result, Exception), f"fit raised {result!r}"
    model = result

    rows = data.draw(
        st.lists(st.integers(0, X.shape[0] - 1), min_size=1, max_size=X.shape[0]),
        label="rows",
    )
    rows = np.array(rows, dtype=np.intp)

    all_codes = model.transform(X)
    subset_codes = model.transform(X[rows])

    tolerance = SUBSET_TOLERANCE[fitted_dtype(X)]
    np.testing.assert_allclose(subset_codes, all_codes[rows], **tolerance)
