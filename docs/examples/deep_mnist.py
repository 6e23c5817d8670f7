"""Deep autoencoder against PCA on MNIST, in the metric of Hinton and Salakhutdinov.

Hinton and Salakhutdinov (Science, 2006) report the average squared
reconstruction error per MNIST test image: 3.00 for their 784-1000-500-250-30
autoencoder and 13.87 for PCA with 30 components. This script measures PCA's
figure with scikit-learn, trains fastae's autoencoder of the same layer sizes,
prints both figures with the training time, and draws test images above
their two reconstructions::

    python docs/examples/deep_mnist.py --data DIR

``DIR`` contains the four MNIST IDX files (``FASTAE_MNIST_DIR`` is the default).
The figure is written to ``docs/images/deep-mnist-reconstructions.png``.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer
from fastae.datasets import load_mnist

IMAGES = Path(__file__).resolve().parents[1] / "images"


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("FASTAE_MNIST_DIR"),
        help="folder with the MNIST IDX files (default: $FASTAE_MNIST_DIR)",
    )
    parser.add_argument("--epochs", type=int, default=49, help="default: 49")
    parser.add_argument(
        "--learning-rate", type=float, default=1.5e-3, help="default: 0.0015"
    )
    parser.add_argument("--batch-size", type=int, default=128, help="default: 128")
    parser.add_argument(
        "--figure", default=str(IMAGES / "deep-mnist-reconstructions.png")
    )
    arguments = parser.parse_args()
    if arguments.data is None:
        parser.error("name the MNIST folder with --data or FASTAE_MNIST_DIR")
    return arguments


def squared_error_per_image(X, reconstruction):
    """Return the sum of squared pixel errors of each image, averaged over images."""
    return float(np.mean(np.sum((X - reconstruction) ** 2, axis=1)))


def images(directory, subset):
    pixels, _ = load_mnist(directory, subset)
    return (pixels.reshape(len(pixels), -1) / np.float32(255)).astype(np.float32)


def main():
    arguments = parse_arguments()
    X_train = images(arguments.data, "train")
    X_test = images(arguments.data, "test")

    pca = PCA(30, random_state=0).fit(X_train)
    pca_test = pca.inverse_transform(pca.transform(X_test))

    autoencoder = AutoencoderTransformer(
        (1000, 500, 250, 30),
        activation="elu",
        code_activation="identity",
        loss="binary_crossentropy",
        batch_size=arguments.batch_size,
        learning_rate="cosine",
        learning_rate_init=arguments.learning_rate,
        max_iter=arguments.epochs,
        alpha=0.0,
        tol=0.0,
        random_state=0,
        verbose=2,
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        autoencoder.fit(X_train)
    seconds = time.perf_counter() - started
    autoencoder_test = autoencoder.inverse_transform(autoencoder.transform(X_test))

    print("| method | test squared error per image | training time |")
    print("|---|---|---|")
    print(f"| PCA, 30 components | {squared_error_per_image(X_test, pca_test):.3f} | |")
    print(
        f"| fastae 784-1000-500-250-30, {arguments.epochs} epochs | "
        f"{squared_error_per_image(X_test, autoencoder_test):.3f} | {seconds:.0f} s |"
    )
    draw(X_test[:10], autoencoder_test[:10], pca_test[:10], arguments.figure)


def draw(originals, autoencoder, pca, path):
    """Save test images above their autoencoder and PCA reconstructions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("test image", originals), ("autoencoder", autoencoder), ("PCA (30)", pca)]
    figure, axes = plt.subplots(3, len(originals), figsize=(len(originals), 3.3))
    for row, (label, pictures) in enumerate(rows):
        for column, picture in enumerate(pictures):
            axis = axes[row, column]
            axis.imshow(np.clip(picture, 0, 1).reshape(28, 28), cmap="gray_r")
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
