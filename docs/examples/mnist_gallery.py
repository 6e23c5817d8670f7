"""Figures of fastae on MNIST: a 2-D code, loss curves and generated digits.

The script trains three models on the 60,000 MNIST training images (pixels
scaled to [0, 1]) and draws one figure for each::

    python docs/examples/mnist_gallery.py --data DIR

- ``mnist-code-2d.png``: the 2-D code of a 784-512-128-2 autoencoder for the
  10,000 test images, coloured by digit. No label is used in training.
- ``mnist-loss-curves.png``: the training and validation loss per epoch of
  that autoencoder, with and without input masking.
- ``mnist-vae-samples.png``: digits decoded from codes drawn from the prior of
  a variational autoencoder with a 16-value code.

``DIR`` contains the four MNIST IDX files (``FASTAE_MNIST_DIR`` is the
default). The figures are written to ``docs/images``. Each model prints its
training time.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer, VariationalAutoencoder
from fastae.datasets import load_mnist

IMAGES = Path(__file__).resolve().parents[1] / "images"


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("FASTAE_MNIST_DIR"),
        help="folder with the MNIST IDX files (default: $FASTAE_MNIST_DIR)",
    )
    parser.add_argument("--epochs", type=int, default=30, help="default: 30")
    parser.add_argument("--output", default=str(IMAGES), help="figure folder")
    arguments = parser.parse_args()
    if arguments.data is None:
        parser.error("name the MNIST folder with --data or FASTAE_MNIST_DIR")
    return arguments


def images(directory, subset):
    pixels, labels = load_mnist(directory, subset)
    X = (pixels.reshape(len(pixels), -1) / np.float32(255)).astype(np.float32)
    return X, labels


def timed_fit(label, model, X):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    print(f"{label}: {time.perf_counter() - started:.0f} s of training")
    return model


def code_2d_models(X_train, epochs):
    settings = {
        "hidden_layer_sizes": (512, 128, 2),
        "code_activation": "identity",
        "loss": "binary_crossentropy",
        "early_stopping": True,
        "n_iter_no_change": epochs,
        "max_iter": epochs,
        "random_state": 0,
    }
    plain = timed_fit("2-D autoencoder", AutoencoderTransformer(**settings), X_train)
    masked = timed_fit(
        "2-D autoencoder, 20 % of inputs masked",
        AutoencoderTransformer(mask_fraction=0.2, **settings),
        X_train,
    )
    return plain, masked


def variational_model(X_train, epochs):
    model = VariationalAutoencoder(
        hidden_layer_sizes=(512, 16),
        loss="binary_crossentropy",
        max_iter=epochs,
        random_state=0,
    )
    return timed_fit("variational autoencoder, 16-value code", model, X_train)


def main():
    arguments = parse_arguments()
    X_train, _ = images(arguments.data, "train")
    X_test, y_test = images(arguments.data, "test")
    output = Path(arguments.output)
    plain, masked = code_2d_models(X_train, arguments.epochs)
    variational = variational_model(X_train, arguments.epochs)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    draw_codes(plt, plain.transform(X_test), y_test, output / "mnist-code-2d.png")
    draw_loss_curves(
        plt,
        {"plain": plain, "20 % masked": masked},
        output / "mnist-loss-curves.png",
    )
    samples = variational.sample(64, random_state=0)
    draw_samples(plt, samples, output / "mnist-vae-samples.png")


def draw_codes(plt, codes, labels, path):
    figure, axis = plt.subplots(figsize=(6, 5.4))
    points = axis.scatter(
        codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6
    )
    legend = figure.colorbar(points, ticks=range(10))
    legend.set_label("digit")
    axis.set_xlabel("code 1")
    axis.set_ylabel("code 2")
    axis.set_title("2-D code of the 10,000 MNIST test images")
    save(figure, path)


def draw_loss_curves(plt, models, path):
    figure, axis = plt.subplots(figsize=(6, 4))
    for (label, model), colour in zip(models.items(), ["C0", "C1"]):
        epochs = np.arange(1, len(model.loss_curve_) + 1)
        axis.plot(epochs, model.loss_curve_, color=colour, label=f"{label}, training")
        axis.plot(
            epochs,
            model.validation_scores_,
            color=colour,
            linestyle="--",
            label=f"{label}, validation",
        )
    axis.set_xlabel("epoch")
    axis.set_ylabel("binary cross-entropy per pixel")
    axis.set_title("784-512-128-2 autoencoder on MNIST")
    axis.legend()
    save(figure, path)


def draw_samples(plt, samples, path):
    figure, axes = plt.subplots(8, 8, figsize=(6, 6))
    for axis, sample in zip(axes.ravel(), samples):
        axis.imshow(sample.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("Digits decoded from codes drawn from the prior")
    save(figure, path)


def save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
