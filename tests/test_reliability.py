"""Inputs that broke other autoencoder and MLP libraries, each with the right behaviour."""

import warnings

import numba
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from fastae import AutoencoderTransformer, TrainingDivergedError


def quietly(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_unscaled_data_diverges_cleanly(early_stopping):
    X = np.random.default_rng(0).standard_normal((200, 8)) * 1e6
    model = AutoencoderTransformer(
        (4,),
        activation="identity",
        solver="sgd",
        learning_rate_init=1.0,
        max_iter=50,
        early_stopping=early_stopping,
        random_state=0,
    )
    with pytest.raises(TrainingDivergedError, match="diverged.*Scale the input data"):
        quietly(model.fit, X)
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_values_near_float64_max(solver, early_stopping):
    X = np.random.default_rng(0).uniform(0.5, 1.0, (40, 2)) * np.finfo(np.float64).max
    model = AutoencoderTransformer(
        (4,), solver=solver, max_iter=50, early_stopping=early_stopping, random_state=0
    )
    try:
        quietly(model.fit, X)
    except TrainingDivergedError as error:
        assert "learning_rate_init" in str(error)
        assert not hasattr(model, "coefs_")
        return
    # A model that fitted must be finite and beat predicting the column means.
    assert all(np.all(np.isfinite(W)) for W in model.coefs_)
    reconstruction = model.inverse_transform(model.transform(X))
    assert np.mean((X - reconstruction) ** 2) <= np.mean((X - X.mean(axis=0)) ** 2)


def test_too_few_rows_for_validation():
    rng = np.random.default_rng(0)
    model = AutoencoderTransformer(early_stopping=True, validation_fraction=0.1)
    with pytest.raises(ValueError, match="empty validation set.*validation_fraction"):
        model.fit(rng.random((2, 21)))
    quietly(model.set_params(max_iter=5).fit, rng.random((12, 21)))
    assert np.all(np.isfinite(model.validation_scores_))


def test_batch_larger_than_data():
    X = np.random.default_rng(0).random((5, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = AutoencoderTransformer(
            (2,), batch_size=200, max_iter=3, tol=1.0, n_iter_no_change=1
        ).fit(X)
    assert len(caught) == 1
    assert "using batch_size=5" in str(caught[0].message)
    assert model.n_iter_ >= 1
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        AutoencoderTransformer(batch_size=0).fit(X)
    single = quietly(AutoencoderTransformer((2,), max_iter=3).fit, X[:1])
    assert single.transform(X[:1]).shape == (1, 2)


def test_float32_and_float64_fits_agree():
    X = np.random.default_rng(0).standard_normal((256, 16))
    errors = {}
    for dtype in (np.float32, np.float64):
        model = AutoencoderTransformer(
            (32, 4), activation="tanh", max_iter=30, random_state=0
        )
        quietly(model.fit, X.astype(dtype))
        assert all(W.dtype == dtype for W in model.coefs_ + model.intercepts_)
        codes = model.transform(X.astype(dtype))
        assert codes.dtype == dtype
        assert model.inverse_transform(codes).dtype == dtype
        errors[dtype] = -model.score(X.astype(dtype))
    assert errors[np.float32] == pytest.approx(errors[np.float64], rel=1e-3)


def test_dataframe_names_survive_early_stopping():
    frame = pd.DataFrame(np.random.default_rng(0).random((10, 2)), columns=["a", "b"])
    model = AutoencoderTransformer(
        (2,), early_stopping=True, validation_fraction=0.2, max_iter=5
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        quietly(model.fit, frame)
        model.transform(frame)
    assert list(model.feature_names_in_) == ["a", "b"]
    codes = model.set_output(transform="pandas").transform(frame)
    assert list(codes.columns) == list(model.get_feature_names_out())


def test_crossentropy_domain_and_stability():
    rng = np.random.default_rng(0)
    model = AutoencoderTransformer(loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"requires every value of X in \[0, 1\]"):
        model.fit(rng.standard_normal((100, 6)))
    binary = (rng.random((100, 6)) > 0.5).astype(np.float64)
    model.set_params(learning_rate_init=0.5, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        quietly(model.fit, binary)
    assert all(np.isfinite(loss) and loss >= 0 for loss in model.loss_curve_)


def test_uint8_pixels_fit_like_floats():
    pixels = np.random.default_rng(0).integers(0, 256, (200, 16), dtype=np.uint8)
    params = {"hidden_layer_sizes": (8,), "max_iter": 5, "random_state": 0}
    from_pixels = quietly(AutoencoderTransformer(**params).fit, pixels)
    from_floats = quietly(
        AutoencoderTransformer(**params).fit, pixels.astype(np.float64)
    )
    assert from_pixels.coefs_[0].dtype == np.float64
    for a, b in zip(from_pixels.coefs_, from_floats.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad_value, message", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_and_inf_rejected(bad_value, message):
    rng = np.random.default_rng(0)
    X = rng.random((50, 4))
    X[7, 1] = bad_value
    with pytest.raises(ValueError, match=message):
        AutoencoderTransformer().fit(X)
    model = quietly(AutoencoderTransformer((2,), max_iter=3).fit, rng.random((50, 4)))
    with pytest.raises(ValueError, match=message):
        model.transform(X)
    codes = np.zeros((3, 2))
    codes[0, 0] = bad_value
    with pytest.raises(ValueError, match=message):
        model.inverse_transform(codes)


def test_list_parameters_and_cloning():
    model = AutoencoderTransformer(hidden_layer_sizes=[16, 8])
    assert clone(model).get_params()["hidden_layer_sizes"] == [16, 8]
    assert model.get_params()["hidden_layer_sizes"] == [16, 8]
    # An invalid value is accepted at construction and reported at fit.
    invalid = AutoencoderTransformer(activation="swish")
    with pytest.raises(ValueError, match="'activation' parameter"):
        invalid.fit(np.ones((4, 3)))

    rng = np.random.default_rng(0)
    X = rng.random((60, 10))
    y = X @ rng.random(10)
    search = GridSearchCV(
        make_pipeline(AutoencoderTransformer(max_iter=5, random_state=0), Ridge()),
        {"autoencodertransformer__hidden_layer_sizes": [(8,), [16, 8]]},
        cv=3,
    )
    quietly(search.fit, X, y)
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_changing_feature_count():
    rng = np.random.default_rng(0)
    X = rng.random((50, 6))
    model = quietly(AutoencoderTransformer((3,), max_iter=3).fit, X)
    expected = "X has 5 features, but AutoencoderTransformer is expecting 6"
    for method in (model.partial_fit, model.transform, model.score_samples):
        with pytest.raises(ValueError, match=expected):
            method(X[:, :5])
    model.set_params(warm_start=True)
    with pytest.raises(ValueError, match="X has 4 features"):
        model.fit(X[:, :4])


def test_partial_fit_after_early_stopping_warns():
    X = np.random.default_rng(0).random((50, 6))
    model = quietly(
        AutoencoderTransformer((3,), early_stopping=True, max_iter=3).fit, X
    )
    with pytest.warns(UserWarning, match="early_stopping=True applies to fit only"):
        model.partial_fit(X)


@numba.njit
def _compiled_draws(n):
    # Numba-compiled code has a generator of its own, apart from NumPy's.
    np.random.seed(7)
    return np.random.random(n)


def test_seeding_ignores_other_generators():
    X = np.random.default_rng(0).random((200, 10))

    def fit_with_noise_around(seed):
        np.random.seed(123)
        np.random.random(5)
        _compiled_draws(5)
        model = quietly(
            AutoencoderTransformer((4,), max_iter=3, random_state=seed).fit, X
        )
        np.random.random(5)
        _compiled_draws(5)
        return model

    first = fit_with_noise_around(0)
    second = fit_with_noise_around(0)
    other = fit_with_noise_around(1)
    for a, b in zip(first.coefs_, second.coefs_):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])

    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    quietly(AutoencoderTransformer((4,), max_iter=2, random_state=None).fit, X)
    np.testing.assert_array_equal(np.random.random(3), expected)
