"""scikit-learn's own estimator checks, and use inside Pipeline and GridSearchCV."""

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastae import AutoencoderTransformer


def expected_failures(estimator):
    # Minibatch training visits the rows in a shuffled order, a fixed number
    # of minibatches per epoch. A row repeated twice lands in two minibatches
    # and changes how many steps an epoch takes, while a weight of 2 doubles
    # its gradient within one minibatch, so the two fits differ although each
    # minimises the same weighted loss.
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "minibatch SGD: a weight of k is not the same as k copies of a row"
        )
    }


@parametrize_with_checks(
    [
        AutoencoderTransformer(),
        AutoencoderTransformer(
            hidden_layer_sizes=(16, 4), activation="tanh", solver="sgd", max_iter=50
        ),
        AutoencoderTransformer(
            hidden_layer_sizes=(8,), early_stopping=True, max_iter=30
        ),
        AutoencoderTransformer(
            hidden_layer_sizes=(8, 4),
            tied_weights=True,
            mask_fraction=0.1,
            dropout=0.1,
            code_l1=1e-3,
            max_grad_norm=1.0,
            max_iter=30,
        ),
    ],
    expected_failed_checks=expected_failures,
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Some checks call partial_fit on the early-stopping configuration.
        warnings.filterwarnings("ignore", "partial_fit trains one epoch", UserWarning)
        check(estimator)


def test_pipeline_with_classifier():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    pipeline = make_pipeline(
        MinMaxScaler(),
        AutoencoderTransformer(
            (64, 16),
            loss="binary_crossentropy",
            batch_size=64,
            max_iter=60,
            random_state=0,
        ),
        LogisticRegression(max_iter=2000),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(X_train, y_train)
    assert pipeline.score(X_test, y_test) > 0.85


def test_grid_search_picks_wider_code():
    X = load_digits().data / 16.0
    search = GridSearchCV(
        AutoencoderTransformer(max_iter=30, batch_size=64, random_state=0),
        {"hidden_layer_sizes": [(2,), (16,)]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X)
    # score is the negative reconstruction error, so a 16-wide code wins.
    assert search.best_params_ == {"hidden_layer_sizes": (16,)}
    assert np.all(search.cv_results_["mean_test_score"] < 0)
