"""
A denoising autoencoder
=======================

With ``mask_fraction=p``, every training epoch sets a fraction ``p`` of the
input values to 0 at random, while the loss still compares the output with
the clean input. The network thus learns to fill in missing pixels. This
example trains a plain and a denoising autoencoder of the same size and
feeds both test digits with a third of their pixels set to 0.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from fastae import AutoencoderTransformer
from fastae.datasets import load_digits_data

X, y = load_digits_data()
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

settings = {
    "hidden_layer_sizes": (128, 32),
    "loss": "binary_crossentropy",
    "batch_size": 64,
    "learning_rate_init": 0.003,
    "max_iter": 300,
    "random_state": 0,
}
models = {
    "plain": AutoencoderTransformer(**settings).fit(X_train),
    "denoising": AutoencoderTransformer(mask_fraction=0.3, **settings).fit(X_train),
}

# %%
# The masks of the test digits come from their own generator, so they share
# nothing with the masks drawn during training.

rng = np.random.default_rng(1)
X_masked = np.where(rng.random(X_test.shape) < 1 / 3, 0.0, X_test)


def squared_error_per_digit(model, X_input):
    """Return the mean over the digits of the squared error summed over pixels."""
    X_hat = model.inverse_transform(model.transform(X_input))
    return np.mean(np.sum((X_hat - X_test) ** 2, axis=1))


print("squared error per test digit, against the clean digit:")
for name, model in models.items():
    clean_error = squared_error_per_digit(model, X_test)
    masked_error = squared_error_per_digit(model, X_masked)
    print(
        f"{name:>9}: {clean_error:.2f} from clean input, "
        f"{masked_error:.2f} from masked input, after {model.n_iter_} epochs"
    )

# %%
# Both errors compare the reconstruction with the clean digit, summed over
# its 64 pixels. On clean input the plain autoencoder is the more accurate,
# because reconstructing clean input is all it trained for. On masked input
# the denoising autoencoder fills in most of the strokes, while the plain one
# reproduces many of the holes.

n_images = 8
reconstructions = {
    name: model.inverse_transform(model.transform(X_masked))
    for name, model in models.items()
}
rows = {"clean": X_test, "masked input": X_masked, **reconstructions}
fig, axes = plt.subplots(len(rows), n_images, figsize=(n_images, 4.6))
for row_axes, (name, images) in zip(axes, rows.items()):
    row_axes[0].set_title(name, loc="left", fontsize=10)
    for ax, image in zip(row_axes, images):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_axis_off()
fig.tight_layout()
plt.show()
