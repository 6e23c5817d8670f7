"""Model quality on real data: the linear autoencoder against PCA, digits bounds."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from fastae import AutoencoderTransformer


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


def pca_error(X_train, X_eval, n_components):
    pca = PCA(n_components).fit(X_train)
    return float(np.mean((X_eval - pca.inverse_transform(pca.transform(X_eval))) ** 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_autoencoder_matches_pca(digits, dtype):
    # A linear autoencoder trained on squared error spans the same subspace
    # as PCA, so its training error approaches PCA's, which is optimal.
    X = digits[0].astype(dtype)
    model = AutoencoderTransformer(
        (8,),
        activation="identity",
        alpha=0.0,
        learning_rate_init=0.01,
        batch_size=64,
        max_iter=200,
        tol=0.0,
        random_state=0,
    )
    fit_quietly(model, X)
    ratio = -model.score(X) / pca_error(X, X, 8)
    assert 1.0 - 1e-3 < ratio < 1.03


def test_digits_nonlinear_beats_pca(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    model = AutoencoderTransformer(
        (128, 16),
        loss="binary_crossentropy",
        batch_size=64,
        max_iter=150,
        tol=0.0,
        random_state=0,
    )
    fit_quietly(model, X_train)
    error = -model.score(X_test)
    # Measured: 0.0083 to 0.0104 over seeds 0-2 (float64); PCA(16): 0.0115.
    assert error < 0.0105
    assert error < pca_error(X_train, X_test, 16)

    classifier = LogisticRegression(max_iter=3000).fit(
        model.transform(X_train), y_train
    )
    # Measured: 0.95 to 0.965 over seeds 0-2.
    assert classifier.score(model.transform(X_test), y_test) > 0.93
