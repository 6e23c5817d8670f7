"""Train a variational autoencoder on scikit-learn's digits and draw new digits.

Prints the number of epochs and the final objective, and writes 20 sampled
digits to ``docs/images/variational-digits.png``::

    python docs/examples/variational_digits.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from fastae import VariationalAutoencoder

IMAGE = Path(__file__).resolve().parents[1] / "images" / "variational-digits.png"


def main():
    X = load_digits().data / 16.0  # 1797 images of 8 x 8 pixels, in [0, 1]
    vae = VariationalAutoencoder(
        hidden_layer_sizes=(128, 4),
        loss="binary_crossentropy",
        batch_size=64,
        max_iter=150,
        random_state=0,
    )
    vae.fit(X)
    print(f"{vae.n_iter_} epochs, objective {vae.loss_:.1f} nats per image")

    samples = vae.sample(20, random_state=1)
    figure, axes = plt.subplots(2, 10, figsize=(10, 2.2))
    for axis, image in zip(axes.ravel(), samples):
        axis.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axis.axis("off")
    figure.savefig(IMAGE, bbox_inches="tight")
    print(f"wrote {IMAGE}")


if __name__ == "__main__":
    main()
