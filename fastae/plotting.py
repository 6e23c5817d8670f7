"""Plots of fitted autoencoders: reconstructions, loss curves, codes and scores.

Every function draws on a Matplotlib ``Axes`` (a new figure when ``ax`` is
None) and returns what it drew on, so a plot can be combined with others or
saved with ``figure.savefig``. Matplotlib is imported on the first call; it is
an optional dependency, installed with the ``plot`` extra.
"""

import math
import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "fastae.plotting needs Matplotlib, which is not installed. Install "
            "it with: python -m pip install 'fastae[plot]'"
        ) from error
    return plt


def _axes(ax, figsize):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize)
    return ax


def _check_width(model, X):
    if X.shape[1] != model.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but the model was fitted on "
            f"{model.n_features_in_}."
        )


def _image_shape(n_features, image_shape):
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"Rows of {n_features} values are not square images; pass "
                "image_shape, for example image_shape=(height, width)."
            )
        return side, side
    if (
        len(image_shape) != 2
        or not all(isinstance(size, numbers.Integral) for size in image_shape)
        or min(image_shape) < 1
    ):
        raise ValueError(
            "image_shape must be two positive ints, (height, width); got "
            f"{image_shape!r}."
        )
    if math.prod(image_shape) != n_features:
        raise ValueError(
            f"image_shape={tuple(image_shape)} has {math.prod(image_shape)} "
            f"values, but the rows have {n_features}."
        )
    return tuple(image_shape)


def plot_reconstructions(model, X, *, n_images=10, image_shape=None, cmap="gray_r"):
    """Draw images of ``X`` above their reconstructions by ``model``.

    Parameters
    ----------
    model : fitted AutoencoderTransformer or VariationalAutoencoder
        The model whose ``transform`` and ``inverse_transform`` reconstruct.
    X : array-like of shape (n_samples, n_features)
        Images, one per row. The first ``n_images`` rows are drawn.
    n_images : int, default=10
        Number of images to draw.
    image_shape : tuple of int or None, default=None
        Height and width of an image; None means square images.
    cmap : str, default="gray_r"
        Matplotlib colour map.

    Returns
    -------
    matplotlib.figure.Figure
        A figure with two rows of ``n_images`` axes.
    """
    check_is_fitted(model)
    if (
        not isinstance(n_images, numbers.Integral)
        or isinstance(n_images, bool)
        or n_images < 1
    ):
        raise ValueError(f"n_images must be a positive int; got {n_images!r}.")
    X = np.asarray(X)[:n_images]
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(
            f"X must be a non-empty 2-D array of images, one per row; got shape "
            f"{X.shape}."
        )
    _check_width(model, X)
    shape = _image_shape(X.shape[1], image_shape)
    reconstructions = model.inverse_transform(model.transform(X))
    plt = _pyplot()
    figure, axes = plt.subplots(2, len(X), figsize=(len(X), 2.2), squeeze=False)
    low, high = float(np.min(X)), float(np.max(X))
    for row, (label, images) in enumerate(
        [("input", X), ("reconstruction", reconstructions)]
    ):
        for column, image in enumerate(images):
            axis = axes[row, column]
            axis.imshow(image.reshape(shape), cmap=cmap, vmin=low, vmax=high)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=8)
    figure.tight_layout()
    return figure


def plot_loss_curves(model, *, ax=None):
    """Draw the training loss per epoch, and the validation loss when recorded.

    Parameters
    ----------
    model : fitted AutoencoderTransformer or VariationalAutoencoder
        The model whose ``loss_curve_`` and ``validation_scores_`` are drawn.
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; None creates a figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    check_is_fitted(model)
    ax = _axes(ax, (6, 4))
    epochs = np.arange(1, len(model.loss_curve_) + 1)
    ax.plot(epochs, model.loss_curve_, label="training")
    validation = getattr(model, "validation_scores_", None)
    if validation:
        # Validation covers the last epochs trained with early stopping.
        ax.plot(epochs[-len(validation) :], validation, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return ax


def plot_codes(model, X, labels=None, *, dimensions=(0, 1), ax=None, **scatter):
    """Draw two dimensions of the codes of ``X`` as a scatter plot.

    Parameters
    ----------
    model : fitted AutoencoderTransformer or VariationalAutoencoder
        The model whose ``transform`` gives the codes.
    X : array-like of shape (n_samples, n_features)
        Data to encode.
    labels : array-like of shape (n_samples,) or None, default=None
        Integer classes that colour the points, with a colour bar.
    dimensions : tuple of two int, default=(0, 1)
        The code values on the horizontal and vertical axes.
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; None creates a figure.
    **scatter
        Further arguments of ``Axes.scatter``, such as ``s`` or ``alpha``.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    check_is_fitted(model)
    codes = model.transform(X)
    if len(dimensions) != 2 or not all(
        isinstance(dimension, numbers.Integral) for dimension in dimensions
    ):
        raise ValueError(
            f"dimensions must be two ints, the code values to plot; got {dimensions!r}."
        )
    first, second = dimensions
    for dimension in dimensions:
        if not 0 <= dimension < codes.shape[1]:
            raise ValueError(
                f"dimensions={tuple(dimensions)} names a code value outside the "
                f"model's {codes.shape[1]} code values."
            )
    ax = _axes(ax, (6, 5))
    settings = {"s": 3, "alpha": 0.7}
    settings.update(scatter)
    if labels is None:
        ax.scatter(codes[:, first], codes[:, second], **settings)
    else:
        labels = np.asarray(labels)
        if labels.shape != (codes.shape[0],):
            raise ValueError(
                f"labels has shape {labels.shape}, but X has {codes.shape[0]} rows."
            )
        points = ax.scatter(
            codes[:, first], codes[:, second], c=labels, cmap="tab10", **settings
        )
        ax.figure.colorbar(points, ax=ax, ticks=np.unique(labels))
    ax.set_xlabel(f"code {first + 1}")
    ax.set_ylabel(f"code {second + 1}")
    return ax


def plot_anomaly_scores(model, X, *, threshold=None, bins=50, ax=None):
    """Draw a histogram of ``-model.score_samples(X)``, where outliers lie to the right.

    For an autoencoder this is each row's mean squared reconstruction error,
    and for a variational autoencoder each row's objective.

    Parameters
    ----------
    model : fitted AutoencoderTransformer or VariationalAutoencoder
        The model whose ``score_samples`` rates the rows.
    X : array-like of shape (n_samples, n_features)
        Data to score.
    threshold : float or None, default=None
        Error above which a row counts as an outlier, drawn as a vertical line
        with the number of rows above it.
    bins : int, default=50
        Number of histogram bins.
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; None creates a figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    check_is_fitted(model)
    if threshold is not None and not isinstance(threshold, numbers.Real):
        raise ValueError(f"threshold must be a number or None; got {threshold!r}.")
    errors = -np.asarray(model.score_samples(X))
    ax = _axes(ax, (6, 4))
    ax.hist(errors, bins=bins)
    if threshold is not None:
        n_above = int(np.sum(errors > threshold))
        ax.axvline(
            threshold, color="C3", label=f"threshold: {n_above} of {errors.size} above"
        )
        ax.legend()
    ax.set_xlabel("-score_samples")
    ax.set_ylabel("rows")
    return ax
