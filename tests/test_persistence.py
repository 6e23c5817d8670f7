"""Saving and loading fastae models in the skops format."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from fastae import AutoencoderTransformer, VariationalAutoencoder
from fastae.persistence import load, trusted_types

skops_io = pytest.importorskip(
    "skops.io", reason="skops persistence needs skops (the skops extra)"
)
from skops.io.exceptions import UntrustedTypesFoundException

AUTOENCODER = "fastae._estimator.AutoencoderTransformer"
VARIATIONAL = "fastae._variational.VariationalAutoencoder"
STATE_TYPES = ["fastae._engine.History", "fastae._engine.OptimizerState"]

ESTIMATORS = {
    "autoencoder": AutoencoderTransformer,
    "variational": VariationalAutoencoder,
}


class UnlistedType:
    """A type that neither skops nor fastae trusts."""


def small_model(kind, **params):
    settings = {"hidden_layer_sizes": (6, 3), "max_iter": 3, "random_state": 0}
    settings.update(params)
    return ESTIMATORS[kind](**settings)


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


def round_trip(model, tmp_path):
    path = tmp_path / "model.skops"
    skops_io.dump(model, path)
    return load(path)


def assert_same_weights(actual, expected):
    assert len(actual.coefs_) == len(expected.coefs_)
    for a, b in zip(
        actual.coefs_ + actual.intercepts_, expected.coefs_ + expected.intercepts_
    ):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def X(rng):
    return rng.random((40, 8))


def test_trusted_types_lists_fastae_types():
    assert trusted_types() == [AUTOENCODER, VARIATIONAL, *STATE_TYPES]


@pytest.mark.parametrize(
    ("kind", "estimator_name"),
    [("autoencoder", AUTOENCODER), ("variational", VARIATIONAL)],
)
def test_untrusted_types_of_fitted_model(kind, estimator_name, X, tmp_path):
    path = tmp_path / "model.skops"
    skops_io.dump(fit_quietly(small_model(kind, early_stopping=True), X), path)
    untrusted = skops_io.get_untrusted_types(file=path)
    assert sorted(untrusted) == sorted([estimator_name, *STATE_TYPES])
    # skops trusts none of fastae's types by default.
    with pytest.raises(UntrustedTypesFoundException):
        skops_io.load(path)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["autoencoder", "variational"])
def test_round_trip_identical_output(kind, dtype, X, tmp_path):
    X = X.astype(dtype)
    model = fit_quietly(small_model(kind), X)
    restored = round_trip(model, tmp_path)
    codes = model.transform(X)
    assert restored.get_params() == model.get_params()
    assert restored.coefs_[0].dtype == dtype
    np.testing.assert_array_equal(restored.transform(X), codes)
    np.testing.assert_array_equal(
        restored.inverse_transform(codes), model.inverse_transform(codes)
    )
    np.testing.assert_array_equal(restored.score_samples(X), model.score_samples(X))
    if kind == "variational":
        np.testing.assert_array_equal(
            restored.sample(4, random_state=1), model.sample(4, random_state=1)
        )


@pytest.mark.parametrize("kind", ["autoencoder", "variational"])
def test_loaded_model_continues_partial_fit(kind, X, tmp_path):
    model = small_model(kind)
    model.partial_fit(X)
    model.partial_fit(X)
    restored = round_trip(model, tmp_path)
    model.partial_fit(X)
    restored.partial_fit(X)
    assert_same_weights(restored, model)
    assert restored.loss_curve_ == model.loss_curve_
    assert restored._rng.bit_generator.state == model._rng.bit_generator.state
    np.testing.assert_array_equal(
        restored._optimizer_state.state_a, model._optimizer_state.state_a
    )
    np.testing.assert_array_equal(
        restored._optimizer_state.step, model._optimizer_state.step
    )


@pytest.mark.parametrize("kind", ["autoencoder", "variational"])
def test_loaded_model_continues_warm_start(kind, X, tmp_path):
    # The adaptive schedule and early stopping carry their state in the
    # training history, which a warm start continues from.
    model = small_model(
        kind,
        warm_start=True,
        early_stopping=True,
        learning_rate="adaptive",
        n_iter_no_change=1,
        tol=1.0,
        solver="sgd",
        max_iter=4,
    )
    fit_quietly(model, X)
    # With tol=1.0 no epoch after the first improves, so the rate was cut.
    assert model._history.adaptive_rate < model.learning_rate_init
    restored = round_trip(model, tmp_path)
    fit_quietly(model, X)
    fit_quietly(restored, X)
    assert_same_weights(restored, model)
    assert restored.loss_curve_ == model.loss_curve_
    assert restored.validation_scores_ == model.validation_scores_
    assert restored._history.adaptive_rate == model._history.adaptive_rate


def test_unfitted_model_round_trip(tmp_path):
    model = AutoencoderTransformer(hidden_layer_sizes=(5, 2), tied_weights=True)
    restored = round_trip(model, tmp_path)
    assert restored.get_params() == model.get_params()
    assert not hasattr(restored, "coefs_")


def test_pipeline_round_trip(X, tmp_path):
    pipeline = make_pipeline(
        MinMaxScaler(),
        AutoencoderTransformer(hidden_layer_sizes=(4,), max_iter=2, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(X * 10)
    restored = round_trip(pipeline, tmp_path)
    np.testing.assert_array_equal(restored.transform(X), pipeline.transform(X))


def test_load_rejects_unlisted_type(X, tmp_path):
    model = fit_quietly(small_model("autoencoder"), X)
    model.extra_ = UnlistedType()
    path = tmp_path / "model.skops"
    skops_io.dump(model, path)
    with pytest.raises(UntrustedTypesFoundException, match="UnlistedType"):
        load(path)
    restored = load(path, trusted=[UnlistedType])
    assert isinstance(restored.extra_, UnlistedType)


def test_import_fastae_does_not_import_skops():
    code = (
        "import sys, fastae, fastae.persistence; "
        "assert 'skops' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_without_skops_raises(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(ImportError, match=r"pip install 'fastae\[skops\]'"):
        load(tmp_path / "model.skops")
