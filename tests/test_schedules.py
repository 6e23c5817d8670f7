"""Learning-rate schedules: the rate of every epoch, warm starts and stopping."""

import math
import warnings
from itertools import pairwise

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer
from fastae._engine import MIN_ADAPTIVE_RATE


def model(**params):
    settings = {
        "hidden_layer_sizes": (4,),
        "max_iter": 4,
        "batch_size": 10,
        "random_state": 0,
        "tol": 0.0,
        "learning_rate_init": 0.01,
    }
    settings.update(params)
    return AutoencoderTransformer(**settings)


def fit_quietly(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X)


@pytest.fixture
def X(rng):
    return rng.random((40, 6))


def test_constant_is_the_default(X):
    default = fit_quietly(model(), X)
    constant = fit_quietly(model(learning_rate="constant"), X)
    assert default._history.learning_rates == [0.01] * 4
    for a, b in zip(default.coefs_, constant.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_invscaling_rates(solver, X):
    fitted = fit_quietly(
        model(learning_rate="invscaling", power_t=0.25, solver=solver), X
    )
    expected = [0.01 / (40 * epoch + 1) ** 0.25 for epoch in range(4)]
    np.testing.assert_allclose(fitted._history.learning_rates, expected, rtol=1e-15)


def test_cosine_rates_restart_with_each_fit(X):
    estimator = model(learning_rate="cosine")
    expected = [0.01 * (1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in range(4)]
    fit_quietly(estimator, X)
    np.testing.assert_allclose(estimator._history.learning_rates, expected)
    fit_quietly(estimator.set_params(warm_start=True), X)
    np.testing.assert_allclose(estimator._history.learning_rates, expected * 2)


def test_cosine_keeps_last_rate_after_max_iter(X):
    estimator = model(learning_rate="cosine", max_iter=2)
    for _ in range(4):
        estimator.partial_fit(X)
    last = 0.01 * (1 + math.cos(math.pi / 2)) / 2
    np.testing.assert_allclose(estimator._history.learning_rates, [0.01] + [last] * 3)


def test_schedule_changes_training(X):
    constant = fit_quietly(model(), X)
    cosine = fit_quietly(model(learning_rate="cosine"), X)
    assert constant.loss_curve_[0] == cosine.loss_curve_[0]
    assert not np.array_equal(constant.coefs_[0], cosine.coefs_[0])


def test_adaptive_divides_rate_instead_of_stopping(X):
    # With an enormous tol no epoch counts as an improvement after the first,
    # so every second epoch past the third ends a patience of one epoch.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fitted = model(
            learning_rate="adaptive", tol=1e9, n_iter_no_change=1, max_iter=50
        ).fit(X)
    rates = fitted._history.learning_rates
    drops = [later / earlier for earlier, later in pairwise(rates)]
    assert rates[:3] == [0.01] * 3
    assert set(np.round(drops, 12)) == {1.0, 0.2}
    assert rates[-1] <= MIN_ADAPTIVE_RATE < rates[-1] * 5
    assert fitted.n_iter_ == len(rates) < 50


def test_adaptive_rate_survives_warm_start(X):
    estimator = model(learning_rate="adaptive", tol=1e9, n_iter_no_change=1, max_iter=6)
    fit_quietly(estimator, X)
    reduced = estimator._history.adaptive_rate
    assert reduced < 0.01
    fit_quietly(estimator.set_params(warm_start=True, max_iter=1), X)
    assert estimator._history.learning_rates[-1] == reduced
    fit_quietly(estimator.set_params(learning_rate_init=0.02), X)
    assert estimator._history.learning_rates[-1] == 0.02


def test_invalid_schedule_raises(X):
    with pytest.raises(ValueError, match="learning_rate"):
        model(learning_rate="step").fit(X)
    with pytest.raises(ValueError, match="power_t"):
        model(power_t=-1.0).fit(X)
