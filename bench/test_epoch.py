"""Time one training epoch of a 784-128-784 autoencoder, fastae against sklearn.

Each timed call is a whole ``fit`` with ``max_iter=1``: input validation,
weight initialisation, the shuffle and one epoch of minibatch Adam with batch
size 256. Both libraries train in float32 on the same data.

Run ``python -m pytest bench --benchmark-enable -p no:cacheprovider`` for the
full 60,000-row timing. docs/benchmarks.md has the measured results.
"""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from fastae import AutoencoderTransformer

from .conftest import BATCH_SIZE, HIDDEN_WIDTH

ROUNDS = 7

# Rows of the untimed warm-up fit, which compiles fastae's Numba kernels (or
# loads them from the disk cache) before the timed rounds.
WARMUP_ROWS = 512

# max_iter=1 stops every fit before convergence, so both libraries emit
# ConvergenceWarning, which is expected here.
pytestmark = [
    pytest.mark.benchmark(group="epoch-784-128-784"),
    pytest.mark.filterwarnings("ignore", category=ConvergenceWarning),
]


def _make_fastae(loss):
    return AutoencoderTransformer(
        hidden_layer_sizes=(HIDDEN_WIDTH,),
        loss=loss,
        batch_size=BATCH_SIZE,
        max_iter=1,
        tol=0.0,
        random_state=0,
    )


def _make_sklearn():
    return MLPRegressor(
        hidden_layer_sizes=(HIDDEN_WIDTH,),
        activation="relu",
        solver="adam",
        batch_size=BATCH_SIZE,
        max_iter=1,
        shuffle=True,
        random_state=0,
    )


@pytest.mark.parametrize("loss", ["binary_crossentropy", "squared_error"])
def test_fastae_epoch(benchmark, record_median, mnist_like, loss):
    X = mnist_like
    _make_fastae(loss).fit(X[:WARMUP_ROWS])
    benchmark.extra_info.update(rows=X.shape[0], loss=loss)

    def fit_one_epoch():
        return _make_fastae(loss).fit(X)

    model = benchmark.pedantic(
        fit_one_epoch, rounds=ROUNDS, iterations=1, warmup_rounds=0
    )
    record_median(benchmark)

    assert model.n_iter_ == 1
    assert model.coefs_[0].dtype == np.float32
    assert np.isfinite(model.loss_)


def test_sklearn_epoch(benchmark, record_median, mnist_like):
    X = mnist_like
    # sklearn compiles nothing, so this fit only mirrors the fastae warm-up.
    _make_sklearn().fit(X[:WARMUP_ROWS], X[:WARMUP_ROWS])
    benchmark.extra_info.update(rows=X.shape[0], loss="squared_error")

    def fit_one_epoch():
        return _make_sklearn().fit(X, X)

    model = benchmark.pedantic(
        fit_one_epoch, rounds=ROUNDS, iterations=1, warmup_rounds=0
    )
    record_median(benchmark)

    assert model.n_iter_ == 1
    # A float64 fit would time a different computation from fastae's float32.
    assert model.coefs_[0].dtype == np.float32
    assert np.isfinite(model.loss_)
