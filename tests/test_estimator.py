"""AutoencoderTransformer: parameters, errors, dtypes, determinism and persistence."""

import pickle
import signal
import threading
import warnings

import joblib
import numba
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from threadpoolctl import threadpool_info, threadpool_limits

import fastae._engine
from fastae import AutoencoderTransformer, TrainingDivergedError
from fastae._engine import Trainer, _one_blas_thread
from fastae._threads import PARALLEL_MIN_PRODUCT


def small_model(**params):
    settings = {
        "hidden_layer_sizes": (6, 3),
        "max_iter": 5,
        "random_state": 0,
        "tol": 0.0,
    }
    settings.update(params)
    return AutoencoderTransformer(**settings)


@pytest.fixture
def X(rng):
    return rng.random((40, 8))


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


# ------------------------------------------------------------------ shapes


def test_fit_transform_shapes(X):
    model = fit_quietly(small_model(), X)
    codes = model.transform(X)
    assert codes.shape == (40, 3)
    assert model.inverse_transform(codes).shape == (40, 8)
    assert model.score_samples(X).shape == (40,)
    assert [W.shape for W in model.coefs_] == [(8, 6), (6, 3), (3, 6), (6, 8)]
    assert [b.shape for b in model.intercepts_] == [(6,), (3,), (6,), (8,)]
    assert model.n_features_in_ == 8
    assert model.n_iter_ == 5
    assert len(model.loss_curve_) == 5
    assert model.loss_ == model.loss_curve_[-1]
    assert model.validation_scores_ is None


def test_score_is_negative_reconstruction_error(X):
    model = fit_quietly(small_model(), X)
    reconstruction = model.inverse_transform(model.transform(X))
    expected = -np.mean((X - reconstruction) ** 2, axis=1)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-12)
    assert model.score(X) == pytest.approx(expected.mean())


def test_feature_names_out(X):
    model = fit_quietly(small_model(), X)
    names = model.get_feature_names_out()
    assert list(names) == [f"autoencodertransformer{i}" for i in range(3)]


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_everywhere(dtype, X):
    model = fit_quietly(small_model(), X.astype(dtype))
    assert all(W.dtype == dtype for W in model.coefs_)
    assert all(b.dtype == dtype for b in model.intercepts_)
    codes = model.transform(X.astype(dtype))
    assert codes.dtype == dtype
    assert model.inverse_transform(codes).dtype == dtype
    assert model.score_samples(X.astype(dtype)).dtype == dtype
    assert model._optimizer_state.state_a.dtype == dtype


def test_float32_and_float64_fits_agree(rng):
    X = rng.standard_normal((256, 16))
    params = {"hidden_layer_sizes": (32, 4), "activation": "tanh", "max_iter": 20}
    model64 = fit_quietly(small_model(**params), X)
    model32 = fit_quietly(small_model(**params), X.astype(np.float32))
    error64 = -model64.score(X)
    error32 = -model32.score(X.astype(np.float32))
    assert error32 == pytest.approx(error64, rel=1e-3)


def test_uint8_input_equals_float64_fit(rng):
    pixels = rng.integers(0, 256, size=(60, 16), dtype=np.uint8)
    model_int = fit_quietly(small_model(), pixels)
    model_float = fit_quietly(small_model(), pixels.astype(np.float64))
    assert model_int.coefs_[0].dtype == np.float64
    for a, b in zip(model_int.coefs_, model_float.coefs_):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ determinism


def test_same_seed_gives_identical_weights(X):
    first = fit_quietly(small_model(), X)
    second = fit_quietly(small_model(), X)
    for a, b in zip(
        first.coefs_ + first.intercepts_, second.coefs_ + second.intercepts_
    ):
        np.testing.assert_array_equal(a, b)


def test_different_seed_gives_different_weights(X):
    first = fit_quietly(small_model(random_state=0), X)
    second = fit_quietly(small_model(random_state=1), X)
    assert not np.array_equal(first.coefs_[0], second.coefs_[0])


@pytest.mark.parametrize("random_state", [None, 3, np.random.RandomState(3)])
def test_global_random_state_untouched(random_state, X):
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    position = np.random.get_state()[2]
    fit_quietly(small_model(random_state=random_state, early_stopping=True), X)
    after = np.random.get_state()
    np.testing.assert_array_equal(after[1], before)
    assert after[2] == position


def test_partial_fit_epochs_equal_fit(X):
    fitted = fit_quietly(small_model(max_iter=3), X)
    incremental = small_model()
    for _ in range(3):
        incremental.partial_fit(X)
    assert incremental.n_iter_ == 1
    assert len(incremental.loss_curve_) == 3
    for a, b in zip(fitted.coefs_, incremental.coefs_):
        np.testing.assert_array_equal(a, b)


def test_warm_start_continues_training(X):
    model = fit_quietly(small_model(max_iter=3, warm_start=True), X)
    first_weights = model.coefs_[0].copy()
    fit_quietly(model, X)
    assert model.n_iter_ == 3
    assert len(model.loss_curve_) == 6
    assert not np.array_equal(model.coefs_[0], first_weights)


def test_warm_start_with_new_architecture_raises(X):
    model = fit_quietly(small_model(warm_start=True), X)
    model.set_params(hidden_layer_sizes=(5,))
    with pytest.raises(
        ValueError, match=r"layer widths \[8, 6, 3, 6, 8\].*warm_start=False"
    ):
        model.fit(X)


# ------------------------------------------------------------- persistence


def test_pickle_round_trip_identical_output(X):
    model = fit_quietly(small_model(), X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    np.testing.assert_array_equal(restored.score_samples(X), model.score_samples(X))


def test_joblib_round_trip_identical_output(X, tmp_path):
    model = fit_quietly(small_model(), X.astype(np.float32))
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    restored = joblib.load(path)
    codes = model.transform(X.astype(np.float32))
    np.testing.assert_array_equal(restored.transform(X.astype(np.float32)), codes)
    np.testing.assert_array_equal(
        restored.inverse_transform(codes), model.inverse_transform(codes)
    )


def test_pickled_model_continues_with_partial_fit(X):
    model = small_model()
    model.partial_fit(X)
    restored = pickle.loads(pickle.dumps(model))
    model.partial_fit(X)
    restored.partial_fit(X)
    np.testing.assert_array_equal(restored.coefs_[0], model.coefs_[0])


# --------------------------------------------------------- training control


def test_verbose_prints_one_line_per_epoch(X, capsys):
    fit_quietly(small_model(verbose=2, max_iter=4, early_stopping=True), X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("Epoch 1: loss ")
    assert "validation loss" in lines[0]
    assert lines[0].endswith(" rows/s")


def test_max_iter_without_convergence_warns(X):
    with pytest.warns(ConvergenceWarning, match="max_iter=5") as record:
        small_model().fit(X)
    assert record[0].filename == __file__


def test_convergence_stops_before_max_iter(X):
    model = small_model(max_iter=500, tol=1.0, n_iter_no_change=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X)
    # As in scikit-learn, training stops once n_iter_no_change epochs in a row
    # have been counted without improvement and one more fails too: the first
    # epoch sets the baseline, then 2 + 1 epochs fail to improve by tol.
    assert model.n_iter_ == 4


def test_early_stopping_restores_best_weights(X):
    model = fit_quietly(
        small_model(
            early_stopping=True,
            max_iter=30,
            n_iter_no_change=3,
            learning_rate_init=0.05,
        ),
        X,
    )
    assert len(model.validation_scores_) == model.n_iter_
    assert np.all(np.isfinite(model.validation_scores_))
    assert model.best_loss_ == min(model.validation_scores_)
    assert np.argmin(model.validation_scores_) < model.n_iter_ - 1
    # Recompute the validation loss of the restored weights on the same split:
    # the split is the first draw from the generator seeded by random_state.
    n_val = int(0.1 * X.shape[0])
    rng = np.random.default_rng(0)
    validation = X[np.sort(rng.permutation(X.shape[0])[:n_val])]
    reconstruction = model.inverse_transform(model.transform(validation))
    assert 0.5 * np.mean((validation - reconstruction) ** 2) == pytest.approx(
        model.best_loss_, rel=1e-10
    )


def test_keyboard_interrupt_keeps_weights(X, monkeypatch):
    calls = []
    original = Trainer.run_epoch

    def run_then_interrupt(self, X, order):
        loss = original(self, X, order)
        calls.append(loss)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return loss

    monkeypatch.setattr(Trainer, "run_epoch", run_then_interrupt)
    model = small_model(max_iter=10)
    with pytest.warns(UserWarning, match="interrupted after 2 epochs") as record:
        model.fit(X)
    assert record[0].filename == __file__
    assert model.n_iter_ == 2
    assert all(np.all(np.isfinite(W)) for W in model.coefs_)


def test_batch_larger_than_data_is_clipped(X):
    message = "batch_size=500 is larger than the 40 training rows"
    with pytest.warns(UserWarning, match=message) as record:
        small_model(batch_size=500, tol=1.0, n_iter_no_change=1).fit(X)
    assert record[0].filename == __file__


def test_single_row_fits(rng):
    model = fit_quietly(small_model(), rng.random((1, 5)))
    assert model.transform(rng.random((2, 5))).shape == (2, 3)


def test_early_stopping_with_twelve_rows(rng):
    model = fit_quietly(
        small_model(early_stopping=True, validation_fraction=0.1), rng.random((12, 21))
    )
    assert np.all(np.isfinite(model.validation_scores_))


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "bad_value, message",
    [
        (np.nan, "Input X contains NaN"),
        (np.inf, "Input X contains infinity"),
        (-np.inf, "Input X contains infinity"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_input_raises(bad_value, message, dtype, rng):
    X = rng.random((50, 4)).astype(dtype)
    X[10, 2] = bad_value
    with pytest.raises(ValueError, match=message):
        small_model().fit(X)
    # The relu encoder would map a pre-activation of -inf to a finite 0, so
    # the check must not rely on the output alone.
    model = fit_quietly(small_model(activation="relu"), rng.random((50, 4)))
    with pytest.raises(ValueError, match=message):
        model.transform(X)
    with pytest.raises(ValueError, match=message):
        model.score_samples(X)
    float32_model = fit_quietly(small_model(), rng.random((50, 4)).astype(np.float32))
    with pytest.raises(ValueError, match=message):
        float32_model.transform(X.astype(np.float64))
    codes = model.transform(rng.random((5, 4)))
    codes[0, 0] = bad_value
    with pytest.raises(ValueError, match=message):
        model.inverse_transform(codes)


def test_empty_input_raises():
    with pytest.raises(ValueError, match="0 sample"):
        small_model().fit(np.empty((0, 4)))


def test_one_dimensional_input_raises():
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        small_model().fit(np.arange(10.0))


def test_non_numeric_columns_raise():
    frame = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": ["x", "y", "z"]})
    with pytest.raises(ValueError, match="could not convert string to float: 'x'"):
        small_model().fit(frame)


def test_feature_count_mismatch_raises(X):
    model = fit_quietly(small_model(), X)
    with pytest.raises(
        ValueError, match="X has 5 features, but AutoencoderTransformer is expecting 8"
    ):
        model.transform(X[:, :5])
    with pytest.raises(
        ValueError,
        match="X has 5 features, but inverse_transform expects codes of width 3",
    ):
        model.inverse_transform(X[:, :5])


def test_crossentropy_outside_unit_interval_raises(rng):
    X = rng.standard_normal((100, 6))
    with pytest.raises(
        ValueError, match=r"requires every value of X in \[0, 1\].*MinMaxScaler"
    ):
        small_model(loss="binary_crossentropy").fit(X)


def test_crossentropy_with_identity_output_raises(X):
    with pytest.raises(ValueError, match="needs output_activation='sigmoid'"):
        small_model(loss="binary_crossentropy", output_activation="identity").fit(X)


def test_crossentropy_on_binary_data_stays_finite(rng):
    X = (rng.random((200, 12)) > 0.5).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = fit_quietly(
            small_model(
                loss="binary_crossentropy", learning_rate_init=0.5, max_iter=20
            ),
            X,
        )
    assert all(np.isfinite(loss) and loss >= 0 for loss in model.loss_curve_)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_size": 0}, "'batch_size' parameter .* Got 0 instead"),
        (
            {"learning_rate_init": -1.0},
            "'learning_rate_init' parameter .* Got -1.0 instead",
        ),
        ({"activation": "swish"}, "'activation' parameter .* Got 'swish' instead"),
        ({"loss": "mae"}, "'loss' parameter .* Got 'mae' instead"),
        (
            {"validation_fraction": 1.0},
            "'validation_fraction' parameter .* Got 1.0 instead",
        ),
        ({"hidden_layer_sizes": ()}, "hidden_layer_sizes must contain at least one"),
        ({"batch_size": True}, "batch_size must be an int or 'auto'; got True"),
        (
            {"hidden_layer_sizes": (4, 0)},
            "hidden_layer_sizes must contain positive integers",
        ),
    ],
)
def test_invalid_parameters_raise(params, message, X):
    with pytest.raises(ValueError, match=message):
        small_model(**params).fit(X)


def test_unfitted_model_raises(X):
    model = small_model()
    for method in (model.transform, model.inverse_transform, model.score_samples):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method(X)


def test_empty_validation_set_raises(rng):
    model = small_model(early_stopping=True, validation_fraction=0.1)
    with pytest.raises(
        ValueError, match="empty validation set for 2 samples.*validation_fraction"
    ):
        model.fit(rng.random((2, 21)))


def test_divergence_raises_and_leaves_no_model(rng):
    X = rng.standard_normal((200, 8)) * 1e6
    model = small_model(
        hidden_layer_sizes=(4,),
        activation="identity",
        solver="sgd",
        learning_rate_init=1.0,
        max_iter=50,
    )
    with pytest.raises(
        TrainingDivergedError,
        match="diverged.*Scale the input data.*learning_rate_init",
    ):
        model.fit(X)
    assert not hasattr(model, "coefs_")
    assert not hasattr(model, "n_features_in_")
    with pytest.raises(NotFittedError):
        model.transform(X)


def test_divergence_keeps_previous_fit(rng):
    X = rng.random((50, 8))
    model = fit_quietly(small_model(solver="sgd", warm_start=True), X)
    weights = [W.copy() for W in model.coefs_]
    model.set_params(learning_rate_init=1e6)
    with pytest.raises(TrainingDivergedError):
        model.fit(X * 1e6)
    for before, after in zip(weights, model.coefs_):
        np.testing.assert_array_equal(before, after)
    assert model.n_iter_ == 5


# ------------------------------------------------------------ pandas


def test_dataframe_keeps_feature_names(rng):
    frame = pd.DataFrame(rng.random((10, 2)), columns=["a", "b"])
    model = small_model(
        hidden_layer_sizes=(2,), early_stopping=True, validation_fraction=0.2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame)
        model.transform(frame)
    assert list(model.feature_names_in_) == ["a", "b"]
    model.set_output(transform="pandas")
    codes = model.transform(frame)
    assert isinstance(codes, pd.DataFrame)
    assert list(codes.columns) == list(model.get_feature_names_out())


# ------------------------------------------------------------ threads


def blas_threads_during_fit(monkeypatch, model, X):
    seen = []
    original = Trainer.run_epoch

    def run_and_record(self, X, order):
        seen.append(
            {
                info["num_threads"]
                for info in threadpool_info()
                if info["user_api"] == "blas"
            }
        )
        return original(self, X, order)

    monkeypatch.setattr(Trainer, "run_epoch", run_and_record)
    fit_quietly(model, X)
    return seen


def test_small_network_trains_on_one_blas_thread(X, monkeypatch):
    with threadpool_limits(limits=2, user_api="blas"):
        seen = blas_threads_during_fit(monkeypatch, small_model(max_iter=2), X)
    assert seen == [{1}, {1}]


def threads_during_fit(monkeypatch, model, X):
    seen = []
    original = Trainer.run_epoch

    def run_and_record(self, X, order):
        blas = {
            info["num_threads"]
            for info in threadpool_info()
            if info["user_api"] == "blas"
        }
        seen.append((self.n_parts, numba.get_num_threads(), blas))
        return original(self, X, order)

    monkeypatch.setattr(Trainer, "run_epoch", run_and_record)
    fit_quietly(model, X)
    return seen


def test_large_network_threads_within_caller_limit(rng, monkeypatch):
    X = rng.random((300, 300))
    model = small_model(hidden_layer_sizes=(256,), batch_size=256, max_iter=1)
    assert model.batch_size * 300 * 256 >= PARALLEL_MIN_PRODUCT
    # A caller's limit of one thread keeps training serial.
    with threadpool_limits(limits=1, user_api="blas"):
        seen = threads_during_fit(monkeypatch, model, X)
    assert seen == [(1, numba.get_num_threads(), {1})]
    # With two threads allowed, each minibatch is split in two parts on two
    # Numba threads, and BLAS runs on one thread inside each.
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has a single thread on this machine")
    with threadpool_limits(limits=2, user_api="blas"):
        seen = threads_during_fit(monkeypatch, model, X)
        assert set(blas_thread_counts()) == {2}
    assert seen == [(2, 2, {1})]


def test_parallel_fit_is_deterministic(rng):
    X = rng.random((600, 300)).astype(np.float32)

    def fit_parallel():
        model = small_model(hidden_layer_sizes=(256,), batch_size=256, max_iter=3)
        with threadpool_limits(limits=2, user_api="blas"):
            return fit_quietly(model, X)

    first = fit_parallel()
    second = fit_parallel()
    for a, b in zip(
        first.coefs_ + first.intercepts_, second.coefs_ + second.intercepts_
    ):
        np.testing.assert_array_equal(a, b)
    with threadpool_limits(limits=1, user_api="blas"):
        serial = fit_quietly(
            small_model(hidden_layer_sizes=(256,), batch_size=256, max_iter=3), X
        )
    # One thread sums the gradient in another order: close, not identical.
    np.testing.assert_allclose(serial.coefs_[0], first.coefs_[0], atol=1e-5)


def test_numba_thread_count_restored_after_fit(rng):
    X = rng.random((300, 300))
    model = small_model(hidden_layer_sizes=(256,), batch_size=256, max_iter=1)
    before = numba.get_num_threads()
    with threadpool_limits(limits=2, user_api="blas"):
        fit_quietly(model, X)
    assert numba.get_num_threads() == before


def blas_thread_counts():
    return [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    ]


def test_overlapping_blas_limits_restore_once():
    # Two fits in different threads overlap like this: the first sets the
    # limit, the last one out restores the count the first one found.
    with threadpool_limits(limits=2, user_api="blas"):
        with _one_blas_thread():
            assert set(blas_thread_counts()) == {1}
            with _one_blas_thread():
                assert set(blas_thread_counts()) == {1}
            assert set(blas_thread_counts()) == {1}
        assert set(blas_thread_counts()) == {2}


def test_concurrent_fits_match_sequential_fits(rng):
    X = rng.random((2000, 8))
    # tol=1 converges after a few epochs, so no thread emits a warning
    # (warning filters are not thread-safe).
    settings = {"max_iter": 30, "tol": 1.0, "n_iter_no_change": 2}
    models = [small_model(random_state=seed, **settings) for seed in range(4)]
    threads = [threading.Thread(target=model.fit, args=(X,)) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fastae._engine._blas_limit_users == 0
    assert fastae._engine._blas_limiter is None
    for seed, model in enumerate(models):
        sequential = small_model(random_state=seed, **settings).fit(X)
        np.testing.assert_array_equal(model.coefs_[0], sequential.coefs_[0])


# --------------------------------------------------------- failed calls


def test_interrupt_in_first_epoch_propagates(X, monkeypatch):
    def interrupt(self, X, order):
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(Trainer, "run_epoch", interrupt)
    model = small_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    assert not hasattr(model, "coefs_")
    assert not hasattr(model, "n_features_in_")


def test_failed_warm_fit_leaves_history(rng):
    X = rng.random((50, 8))
    model = fit_quietly(small_model(solver="sgd", warm_start=True, max_iter=4), X)
    model.set_params(learning_rate_init=1e6)
    with pytest.raises(TrainingDivergedError):
        model.fit(X * 1e6)
    model.set_params(learning_rate_init=0.001, max_iter=1)
    fit_quietly(model, X)
    assert model.n_iter_ == 1
    assert len(model.loss_curve_) == 5


def test_failed_partial_fit_keeps_generator(rng):
    X = rng.random((50, 8))
    model = small_model(solver="sgd", batch_size=5)
    model.partial_fit(X)
    twin = pickle.loads(pickle.dumps(model))
    model.set_params(learning_rate_init=1e6)
    with pytest.raises(TrainingDivergedError):
        model.partial_fit(X * 1e6)
    model.set_params(learning_rate_init=0.001)
    model.partial_fit(X)
    twin.partial_fit(X)
    np.testing.assert_array_equal(model.coefs_[0], twin.coefs_[0])


def test_huge_penalty_diverges(X):
    with pytest.raises(TrainingDivergedError, match="diverged"):
        small_model(alpha=1e300).fit(X)


def test_float32_model_rejects_float64_overflow(X):
    model = fit_quietly(small_model(), X.astype(np.float32))
    too_large = X.copy()
    too_large[0, 0] = 1e39
    with pytest.raises(
        ValueError, match=r"beyond the float32 range .* fitted in float32"
    ):
        model.transform(too_large)
    codes = np.zeros((2, 3))
    codes[1, 2] = -1e39
    with pytest.raises(ValueError, match="beyond the float32 range"):
        model.inverse_transform(codes)


def test_overflowing_output_raises(X):
    model = fit_quietly(small_model(), X)
    with pytest.raises(ValueError, match="output overflowed .* Scale the data"):
        model.transform(np.full((5, 8), 1.7e308))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_overflow_hidden_by_relu_raises(X, sign):
    # Large finite inputs can overflow the first product to -inf, which relu
    # turns into a finite 0; that must still be reported.
    model = fit_quietly(small_model(activation="relu"), X)
    model.coefs_[0][:, 0] = 1.0
    too_large = np.zeros((3, 8))
    too_large[1] = sign * 1e308
    with pytest.raises(ValueError, match="output overflowed .* Scale the data"):
        model.transform(too_large)


def test_edited_intercept_shape_raises(X):
    model = fit_quietly(small_model(), X)
    model.intercepts_[0] = model.intercepts_[0][:2]
    with pytest.raises(ValueError, match=r"intercepts_\[0\] has shape \(2,\)"):
        model.transform(X)


def test_crossentropy_message_shows_exact_value(rng):
    X = rng.random((20, 3))
    X[0, 0] = 1 + 1e-12
    with pytest.raises(ValueError, match=r"to 1\.000000000001\b"):
        small_model(loss="binary_crossentropy").fit(X)


def test_huge_layer_width_raises(X):
    with pytest.raises(ValueError, match="width above 2147483647"):
        small_model(hidden_layer_sizes=(2**63,)).fit(X)


def test_partial_fit_new_architecture_message(X):
    model = small_model()
    model.partial_fit(X)
    model.set_params(hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="Call fit to train a new network"):
        model.partial_fit(X)


def test_convergence_warning_as_error_rolls_back(X):
    model = fit_quietly(small_model(warm_start=True, max_iter=2), X)
    weights = model.coefs_[0].copy()
    history = model._history
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning):
            model.fit(X)
    np.testing.assert_array_equal(model.coefs_[0], weights)
    assert model._history is history
    assert len(model.loss_curve_) == 2


def test_warm_start_switching_early_stopping_restarts_watch(X):
    model = fit_quietly(small_model(warm_start=True, max_iter=3), X)
    training_best = model.best_loss_
    model.set_params(early_stopping=True)
    fit_quietly(model, X)
    assert model.best_loss_ == min(model.validation_scores_)
    assert model.best_loss_ != training_best
    assert len(model.validation_scores_) == 3
    assert len(model.loss_curve_) == 6


# ------------------------------------------------------------- code layer


def test_code_activation_sets_code_layer(X):
    relu = fit_quietly(small_model(activation="relu"), X)
    linear = fit_quietly(small_model(activation="relu", code_activation="identity"), X)
    assert list(relu._layer_activations) == [1, 1, 1, 0]
    assert list(linear._layer_activations) == [1, 0, 1, 0]
    hidden = np.maximum(X @ linear.coefs_[0] + linear.intercepts_[0], 0)
    codes = hidden @ linear.coefs_[1] + linear.intercepts_[1]
    np.testing.assert_allclose(linear.transform(X), codes, rtol=1e-12)
    assert (linear.transform(X) < 0).any()


def test_code_activation_none_means_activation(X):
    default = fit_quietly(small_model(activation="tanh"), X)
    same = fit_quietly(small_model(activation="tanh", code_activation="tanh"), X)
    for a, b in zip(default.coefs_, same.coefs_):
        np.testing.assert_array_equal(a, b)
