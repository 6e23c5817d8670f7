"""Dask input: streamed training, lazy prediction and dask-ml's wrappers.

Every test but the import check runs on one local ``distributed`` cluster of
two worker processes, which is the default scheduler while this module runs,
so chunks are computed by the workers and pulled into the test process.
"""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fastae import AutoencoderTransformer

da = pytest.importorskip(
    "dask.array", reason="dask[array] is not installed (the dask extra)"
)
dd = pytest.importorskip(
    "dask.dataframe", reason="dask[dataframe] is not installed (the dask extra)"
)
distributed = pytest.importorskip(
    "distributed", reason="distributed is not installed (the dask extra)"
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_ROWS, N_FEATURES = 600, 16


@pytest.fixture(scope="module", autouse=True)
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def low_rank_data(seed=0, dtype=np.float64):
    """Return rows near a 3-D subspace, with noise of standard deviation 0.1."""
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(N_ROWS, 3))
    X = codes @ rng.normal(size=(3, N_FEATURES)) / 2
    X += 0.1 * rng.normal(size=(N_ROWS, N_FEATURES))
    return X.astype(dtype)


def small_model(**params):
    settings = {
        "hidden_layer_sizes": (8, 3),
        "max_iter": 4,
        "batch_size": 32,
        "random_state": 0,
    }
    settings.update(params)
    return AutoencoderTransformer(**settings)


def assert_same_weights(model, other):
    for W, W_other in zip(model.coefs_, other.coefs_):
        np.testing.assert_array_equal(W, W_other)
    for b, b_other in zip(model.intercepts_, other.intercepts_):
        np.testing.assert_array_equal(b, b_other)


# ------------------------------------------------------------------ training


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", [{}, {"mask_fraction": 0.2, "noise_std": 0.1}])
def test_one_chunk_trains_as_in_memory(dtype, variant):
    X = low_rank_data(dtype=dtype)
    X_dask = da.from_array(X, chunks=(N_ROWS, N_FEATURES))

    in_memory = small_model(**variant).fit(X)
    streamed = small_model(**variant).fit(X_dask)

    assert streamed.coefs_[0].dtype == dtype
    assert_same_weights(streamed, in_memory)
    assert streamed.loss_curve_ == in_memory.loss_curve_
    assert streamed.n_features_in_ == N_FEATURES
    assert not hasattr(streamed, "feature_names_in_")


def test_partial_fit_one_chunk_as_in_memory():
    X = low_rank_data()
    X_dask = da.from_array(X, chunks=(N_ROWS, N_FEATURES))
    in_memory = small_model()
    streamed = small_model()

    for _ in range(2):
        in_memory.partial_fit(X)
        streamed.partial_fit(X_dask)

    assert_same_weights(streamed, in_memory)
    assert streamed.n_iter_ == 1
    assert len(streamed.loss_curve_) == 2


def test_several_chunks_reach_in_memory_loss():
    # A linear autoencoder converges towards the span of the top principal
    # components whatever the order of the minibatches, so the losses are
    # comparable. Measured with these settings, data seeds 0 to 5 and
    # random_state 0 to 2: the streamed loss over the in-memory loss ranged
    # from 0.960 to 1.015, and 0.9929 here (0.004636 against 0.004669, where
    # the noise alone gives 0.0041). The bound of 10 % allows 2.5 times the
    # largest measured deviation.
    X = low_rank_data(seed=0)
    settings = {
        "hidden_layer_sizes": (3,),
        "activation": "identity",
        "max_iter": 20,
        "learning_rate_init": 0.02,
    }
    # Five chunks of 120 rows, each split into three minibatches of 32 and
    # one of 24.
    X_dask = da.from_array(X, chunks=(120, N_FEATURES))

    in_memory = small_model(**settings).fit(X)
    streamed = small_model(**settings).fit(X_dask)

    in_memory_loss = -in_memory.score(X) / 2
    streamed_loss = -streamed.score(X) / 2
    assert abs(streamed_loss / in_memory_loss - 1) < 0.1
    assert streamed.loss_curve_ != in_memory.loss_curve_
    assert streamed.n_iter_ == 20


def test_several_chunks_deterministic():
    X_dask = da.from_array(low_rank_data(), chunks=(100, N_FEATURES))

    first = small_model(noise_std=0.1).fit(X_dask)
    second = small_model(noise_std=0.1).fit(X_dask)

    assert_same_weights(first, second)


def test_unknown_chunk_sizes_are_measured():
    X = low_rank_data()
    X_dask = da.from_array(X, chunks=(100, 4))
    positive_rows = X_dask[X_dask[:, 0] > 0]
    assert np.isnan(positive_rows.shape[0])

    model = small_model(max_iter=1).fit(positive_rows)

    assert model.n_features_in_ == N_FEATURES
    assert model._history.samples_seen == int(np.sum(X[:, 0] > 0))


def test_one_dimensional_array_raises():
    model = small_model()

    with pytest.raises(ValueError, match="Expected a 2-D Dask array, got a 1-D"):
        model.fit(da.zeros(10, chunks=5))
    assert not hasattr(model, "coefs_")


# ------------------------------------------------------------ early stopping


def test_early_stopping_holds_out_whole_chunks():
    X = low_rank_data()
    X_dask = da.from_array(X, chunks=(100, N_FEATURES))
    model = small_model(
        early_stopping=True, validation_fraction=0.3, max_iter=6, n_iter_no_change=2
    )

    model.fit(X_dask)

    # The split is the generator's first draw: a permutation of the 6 chunks,
    # whose first two cover the 180 rows of validation_fraction=0.3.
    held_out = np.sort(np.random.default_rng(0).permutation(6)[:2])
    X_val = np.concatenate([X[100 * chunk : 100 * (chunk + 1)] for chunk in held_out])
    assert len(model.validation_scores_) == len(model.loss_curve_)
    assert model.best_loss_ == min(model.validation_scores_)
    # The best weights are restored, and their loss on the held-out chunks is
    # the best validation loss: half the mean squared error.
    np.testing.assert_allclose(-model.score(X_val) / 2, model.best_loss_, rtol=1e-10)
    assert model._history.samples_seen == model.n_iter_ * (N_ROWS - 200)


def test_early_stopping_one_chunk_raises():
    X_dask = da.from_array(low_rank_data(), chunks=(N_ROWS, N_FEATURES))
    model = small_model(early_stopping=True)

    with pytest.raises(ValueError, match="holds out whole row chunks"):
        model.fit(X_dask)
    assert not hasattr(model, "coefs_")


# ------------------------------------------------------------ sample weights


def test_sample_weight_dask_one_chunk_as_in_memory(rng):
    X = low_rank_data()
    weights = rng.random(N_ROWS)

    in_memory = small_model().fit(X, sample_weight=weights)
    streamed = small_model().fit(
        da.from_array(X, chunks=(N_ROWS, N_FEATURES)),
        sample_weight=da.from_array(weights, chunks=250),
    )

    assert_same_weights(streamed, in_memory)


def test_sample_weight_numpy_and_dask_agree(rng):
    X_dask = da.from_array(low_rank_data(), chunks=(100, N_FEATURES))
    weights = rng.random(N_ROWS)
    weights[:100] = 0.0

    with_numpy = small_model().fit(X_dask, sample_weight=weights)
    with_dask = small_model().fit(
        X_dask, sample_weight=da.from_array(weights, chunks=150)
    )

    assert_same_weights(with_numpy, with_dask)


def test_negative_sample_weight_in_later_chunk_raises(rng):
    X_dask = da.from_array(low_rank_data(), chunks=(100, N_FEATURES))
    weights = rng.random(N_ROWS)
    weights[550] = -1.0
    model = small_model()

    with pytest.raises(ValueError, match="Negative values in data passed to"):
        model.fit(X_dask, sample_weight=da.from_array(weights, chunks=100))
    assert not hasattr(model, "coefs_")


def test_sample_weight_wrong_length_raises(rng):
    X_dask = da.from_array(low_rank_data(), chunks=(100, N_FEATURES))
    model = small_model()

    with pytest.raises(ValueError, match="sample_weight has 500 values"):
        model.fit(X_dask, sample_weight=da.ones(500, chunks=100))
    with pytest.raises(ValueError, match="expected"):
        model.fit(X_dask, sample_weight=np.ones(500))
    assert not hasattr(model, "coefs_")


# --------------------------------------------------------------- bad chunks


def test_nan_in_later_chunk_raises_and_leaves_unfitted():
    X = low_rank_data()
    X[530, 3] = np.nan
    model = small_model()

    with pytest.raises(ValueError, match="Input X contains NaN") as caught:
        model.fit(da.from_array(X, chunks=(100, N_FEATURES)))

    assert not hasattr(model, "coefs_")
    assert not hasattr(model, "n_iter_")
    assert "row chunk 5 (rows 500 to 599)" in caught.value.__notes__[0]


def test_nan_in_later_chunk_keeps_fitted_weights():
    X = low_rank_data()
    model = small_model().fit(X)
    before = [W.copy() for W in model.coefs_]
    X[599, 0] = np.inf

    with pytest.raises(ValueError, match="Input X contains infinity"):
        model.partial_fit(da.from_array(X, chunks=(100, N_FEATURES)))

    for W, W_before in zip(model.coefs_, before):
        np.testing.assert_array_equal(W, W_before)
    assert len(model.loss_curve_) == 4


def test_crossentropy_range_checked_per_chunk():
    X = np.random.default_rng(0).random((N_ROWS, N_FEATURES))
    X[450, 2] = 1.5
    model = small_model(loss="binary_crossentropy")

    with pytest.raises(ValueError, match="requires every value of X in"):
        model.fit(da.from_array(X, chunks=(100, N_FEATURES)))
    assert not hasattr(model, "coefs_")


# ---------------------------------------------------------------- DataFrames


def test_dataframe_sets_feature_names():
    X = low_rank_data()
    columns = [f"f{i}" for i in range(N_FEATURES)]
    frame = pd.DataFrame(X, columns=columns)

    in_memory = small_model().fit(frame)
    streamed = small_model().fit(dd.from_pandas(frame, npartitions=1))

    assert_same_weights(streamed, in_memory)
    assert list(streamed.feature_names_in_) == columns
    assert streamed.n_features_in_ == N_FEATURES
    codes = streamed.transform(dd.from_pandas(frame, npartitions=3))
    assert isinstance(codes, da.Array)
    np.testing.assert_allclose(codes.compute(), in_memory.transform(frame), rtol=1e-12)


def test_dataframe_wrong_columns_raise():
    frame = pd.DataFrame(low_rank_data(), columns=[f"f{i}" for i in range(16)])
    model = small_model().fit(dd.from_pandas(frame, npartitions=3))
    renamed = frame.rename(columns={"f0": "g0"})

    with pytest.raises(ValueError, match="feature names should match"):
        model.transform(dd.from_pandas(renamed, npartitions=3))


# ---------------------------------------------------------------- prediction


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lazy_methods_match_in_memory(dtype):
    X = low_rank_data(dtype=dtype)
    model = small_model().fit(X)
    X_dask = da.from_array(X, chunks=(70, 5))
    rtol = 1e-5 if dtype == np.float32 else 1e-12

    codes = model.transform(X_dask)
    cases = {
        "transform": (codes, model.transform(X)),
        "inverse_transform": (
            model.inverse_transform(codes),
            model.inverse_transform(model.transform(X)),
        ),
        "score_samples": (model.score_samples(X_dask), model.score_samples(X)),
        "reconstruction_errors": (
            model.reconstruction_errors(X_dask),
            model.reconstruction_errors(X),
        ),
    }
    for name, (lazy, expected) in cases.items():
        assert isinstance(lazy, da.Array), name
        assert lazy.dtype == dtype, name
        assert lazy.chunks[0] == X_dask.chunks[0], name
        assert lazy.chunks[1:] == tuple((size,) for size in expected.shape[1:]), name
        assert type(lazy._meta) is np.ndarray, name
        assert lazy._meta.dtype == dtype, name
        computed = lazy.compute()
        assert computed.dtype == dtype, name
        np.testing.assert_allclose(
            computed, expected, rtol=rtol, atol=rtol, err_msg=name
        )


def test_model_is_one_graph_key():
    model = small_model().fit(low_rank_data())
    X_dask = da.from_array(low_rank_data(seed=1), chunks=(100, N_FEATURES))

    codes = model.transform(X_dask)

    graph = dict(codes.__dask_graph__())
    model_keys = [
        key
        for key, task in graph.items()
        if isinstance(getattr(task, "value", None), AutoencoderTransformer)
    ]
    assert len(model_keys) == 1
    shipped = graph[model_keys[0]].value
    assert shipped is not model
    assert not hasattr(shipped, "_optimizer_state")
    block_tasks = [key for key in graph if key[0] == codes.name]
    assert len(block_tasks) == 6
    for key in block_tasks:
        assert model_keys[0] in graph[key].dependencies


def test_lazy_result_ignores_later_refit():
    X = low_rank_data()
    model = small_model().fit(X)
    expected = model.transform(X)

    codes = model.transform(da.from_array(X, chunks=(100, N_FEATURES)))
    model.set_params(random_state=1).fit(X)

    np.testing.assert_array_equal(codes.compute(), expected)


def test_wrong_width_raises():
    model = small_model().fit(low_rank_data())

    with pytest.raises(ValueError, match="X has 5 features, but .* expecting 16"):
        model.transform(da.zeros((10, 5), chunks=5))
    with pytest.raises(ValueError, match="inverse_transform expects codes of width 3"):
        model.inverse_transform(da.zeros((10, 5), chunks=5))


# ------------------------------------------------------------------- dask-ml


def test_incremental_calls_partial_fit_per_block():
    wrappers = pytest.importorskip(
        "dask_ml.wrappers", reason="dask-ml is not installed (the dask extra)"
    )
    X = low_rank_data()
    X_dask = da.from_array(X, chunks=(200, N_FEATURES))

    incremental = wrappers.Incremental(small_model(), shuffle_blocks=False)
    incremental.fit(X_dask)
    expected = small_model()
    for start in range(0, N_ROWS, 200):
        expected.partial_fit(X[start : start + 200])

    assert_same_weights(incremental.estimator_, expected)
    assert len(incremental.estimator_.loss_curve_) == 3


def test_parallel_post_fit_maps_transform():
    wrappers = pytest.importorskip(
        "dask_ml.wrappers", reason="dask-ml is not installed (the dask extra)"
    )
    X = low_rank_data()
    wrapped = wrappers.ParallelPostFit(small_model())
    wrapped.fit(X)

    codes = wrapped.transform(da.from_array(X, chunks=(100, N_FEATURES)))

    assert isinstance(codes, da.Array)
    # dask-ml 2025.1 declares the input's column chunks for the output, so
    # only the computed array has the code width.
    np.testing.assert_array_equal(codes.compute(), wrapped.estimator.transform(X))


# -------------------------------------------------------------------- import


def test_import_does_not_load_dask():
    code = (
        "import sys, numpy, fastae\n"
        "model = fastae.AutoencoderTransformer((2,), max_iter=1)\n"
        "model.fit(numpy.random.default_rng(0).random((20, 4))).transform(\n"
        "    numpy.zeros((3, 4)))\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'dask'))"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
