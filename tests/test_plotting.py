"""fastae.plotting draws on real Matplotlib figures (Agg backend)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from fastae import AutoencoderTransformer, VariationalAutoencoder, plotting

matplotlib = pytest.importorskip("matplotlib", reason="the plot extra is not installed")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="module")
def model(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return AutoencoderTransformer(
            (16, 2), max_iter=5, early_stopping=True, random_state=0
        ).fit(digits[0])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_reconstructions_grid(model, digits):
    figure = plotting.plot_reconstructions(model, digits[0], n_images=6)
    assert len(figure.axes) == 12
    first = figure.axes[0].images[0].get_array()
    assert first.shape == (8, 8)
    np.testing.assert_allclose(first, digits[0][0].reshape(8, 8))


def test_reconstructions_of_non_square_rows(model, digits):
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_reconstructions(model, digits[0], image_shape=(4, 4))
    figure = plotting.plot_reconstructions(model, digits[0], image_shape=(4, 16))
    assert figure.axes[0].images[0].get_array().shape == (4, 16)


def test_loss_curves_show_validation(model):
    ax = plotting.plot_loss_curves(model)
    training, validation = ax.get_lines()
    np.testing.assert_allclose(training.get_ydata(), model.loss_curve_)
    np.testing.assert_allclose(validation.get_ydata(), model.validation_scores_)


def test_codes_coloured_by_label(model, digits):
    X, y = digits
    ax = plotting.plot_codes(model, X, y)
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets, model.transform(X))
    assert len(ax.figure.axes) == 2  # the scatter and its colour bar


def test_codes_reject_missing_dimension(model, digits):
    with pytest.raises(ValueError, match="outside"):
        plotting.plot_codes(model, digits[0], dimensions=(0, 2))
    with pytest.raises(ValueError, match="labels has shape"):
        plotting.plot_codes(model, digits[0], digits[1][:5])


def test_anomaly_histogram_with_threshold(model, digits):
    X = digits[0]
    threshold = float(np.quantile(-model.score_samples(X), 0.9))
    ax = plotting.plot_anomaly_scores(model, X, threshold=threshold, bins=20)
    counts = [patch.get_height() for patch in ax.patches]
    assert sum(counts) == len(X)
    assert "180 of 1797 above" in ax.get_legend().get_texts()[0].get_text()


def test_variational_model_plots(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae = VariationalAutoencoder((16, 2), max_iter=2, random_state=0).fit(digits[0])
    plotting.plot_codes(vae, digits[0], digits[1])
    plotting.plot_reconstructions(vae, digits[0], n_images=3)
    plotting.plot_anomaly_scores(vae, digits[0])


def test_unfitted_model_raises(digits):
    with pytest.raises(NotFittedError):
        plotting.plot_loss_curves(AutoencoderTransformer())


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"n_images": -1}, "n_images"),
        ({"n_images": 2.5}, "n_images"),
        ({"image_shape": (4, 4, 4)}, "two positive ints"),
        ({"image_shape": (-8, -8)}, "two positive ints"),
    ],
)
def test_reconstructions_reject_bad_arguments(arguments, message, model, digits):
    with pytest.raises(ValueError, match=message):
        plotting.plot_reconstructions(model, digits[0], **arguments)


def test_plots_reject_wrong_width(model, digits):
    with pytest.raises(ValueError, match="10 features"):
        plotting.plot_reconstructions(model, digits[0][:, :10])


@pytest.mark.parametrize("dimensions", [(0, 1, 2), (0.5, 1)])
def test_codes_reject_bad_dimensions(dimensions, model, digits):
    with pytest.raises(ValueError, match="dimensions must be two ints"):
        plotting.plot_codes(model, digits[0], dimensions=dimensions)


def test_anomaly_threshold_must_be_number(model, digits):
    with pytest.raises(ValueError, match="threshold must be a number"):
        plotting.plot_anomaly_scores(model, digits[0], threshold="x")
