"""Progress output under verbose, and scikit-learn's callback API."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import fastae._progress
from fastae import AutoencoderTransformer


@pytest.fixture(scope="module")
def digits():
    return load_digits().data / 16.0


def fit(X, **params):
    settings = {"hidden_layer_sizes": (16,), "max_iter": 4, "random_state": 0}
    settings.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return AutoencoderTransformer(**settings).fit(X)


# ------------------------------------------------------------------ verbose


def test_verbose_one_shows_tqdm_bar(digits, capsys):
    pytest.importorskip("tqdm")
    fit(digits, verbose=1, early_stopping=True)
    output = capsys.readouterr()
    assert output.out == ""
    assert "4/4" in output.err
    assert "val_loss=" in output.err
    assert "rows/s=" in output.err


def test_verbose_without_tqdm_prints_lines(digits, capsys, monkeypatch):
    monkeypatch.setattr(fastae._progress, "_tqdm_class", lambda: None)
    fit(digits, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("Epoch 1: loss ")
    assert lines[0].endswith(" rows/s")


def test_stop_message_keeps_bar(digits, capsys):
    pytest.importorskip("tqdm")
    fit(digits, verbose=1, max_iter=50, tol=10.0, n_iter_no_change=2)
    output = capsys.readouterr()
    assert "stopping." in output.err
    assert output.out == ""


def test_quiet_fit_prints_nothing(digits, capsys):
    fit(digits)
    output = capsys.readouterr()
    assert output.out == ""
    assert output.err == ""


# ---------------------------------------------------------------- callbacks


@pytest.fixture
def callback_api():
    return pytest.importorskip(
        "sklearn.callback", reason="scikit-learn before 1.9 has no callback API"
    )


class Recorder:
    """A callback that records each epoch and stops after ``stop_after`` epochs."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.epochs = []
        self.events = []

    def setup(self, estimator, context):
        self.events.append("setup")

    def teardown(self, estimator, context):
        self.events.append("teardown")

    def on_fit_task_begin(self, estimator, context):
        self.events.append(f"begin {context.task_name}")

    def on_fit_task_end(self, estimator, context, *, metadata, fitted_estimator):
        self.events.append(f"end {context.task_name}")
        if metadata is None or "epoch" not in metadata:
            return False
        self.epochs.append((metadata, fitted_estimator))
        return self.stop_after is not None and metadata["epoch"] >= self.stop_after


def test_callback_sees_every_epoch(digits, callback_api):
    recorder = Recorder()
    model = AutoencoderTransformer((16,), max_iter=4, random_state=0)
    model.set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(digits)
    losses = [metadata["loss"] for metadata, _ in recorder.epochs]
    assert losses == model.loss_curve_
    assert recorder.events[0] == "setup"
    assert recorder.events[-1] == "teardown"
    assert recorder.events.count("begin epoch") == 4
    assert recorder.events.count("end epoch") == 4
    last = recorder.epochs[-1][1]
    np.testing.assert_array_equal(last.transform(digits), model.transform(digits))


def test_callback_can_stop_training(digits, callback_api):
    recorder = Recorder(stop_after=2)
    model = AutoencoderTransformer((16,), max_iter=10, random_state=0)
    model.set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(digits)
    assert model.n_iter_ == 2
    # The fitted copy of epoch 1 has that epoch's weights, not the final ones.
    first = recorder.epochs[0][1]
    assert not np.array_equal(first.coefs_[0], model.coefs_[0])


def test_callbacks_with_partial_fit(digits, callback_api):
    recorder = Recorder()
    model = AutoencoderTransformer((16,), random_state=0).set_callbacks(recorder)
    model.partial_fit(digits)
    model.partial_fit(digits)
    assert [metadata["epoch"] for metadata, _ in recorder.epochs] == [1, 2]
    assert recorder.events.count("teardown") == 2


def test_scikit_learn_progress_bar_runs(digits, callback_api):
    pytest.importorskip("rich")
    model = AutoencoderTransformer((16,), max_iter=3, random_state=0)
    model.set_callbacks(callback_api.ProgressBar())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(digits)
    assert model.n_iter_ == 3


class FailingTeardown(Recorder):
    def teardown(self, estimator, context):
        raise RuntimeError("teardown failed")


@pytest.mark.parametrize("warm", [False, True])
def test_failing_teardown_rolls_back(digits, callback_api, warm):
    model = AutoencoderTransformer((16,), max_iter=2, random_state=0)
    if warm:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(digits)
        model.set_params(warm_start=True)
    before = {key: value for key, value in vars(model).items() if key.endswith("_")}
    model.set_callbacks(FailingTeardown())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(RuntimeError, match="teardown failed"):
            model.fit(digits)
    after = {key: value for key, value in vars(model).items() if key.endswith("_")}
    assert after.keys() == before.keys()
    if warm:
        np.testing.assert_array_equal(after["coefs_"][0], before["coefs_"][0])
    assert not hasattr(model, "_callback_fit_ctx")
