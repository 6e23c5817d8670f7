"""
Reconstructions against PCA
===========================

A linear projection such as PCA keeps the directions of largest variance. An
autoencoder learns a nonlinear map to a code of the same size and back. This
example compresses scikit-learn's 8 x 8 digits to 8 numbers each, both ways,
and compares the reconstructions of held-out digits.
"""

# %%
# Data and models
# ---------------
# ``load_digits_data`` returns the 1,797 digits as rows of 64 pixels scaled to
# [0, 1], which suits a sigmoid output and the binary cross-entropy loss.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from fastae import AutoencoderTransformer
from fastae.datasets import load_digits_data

X, y = load_digits_data()
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

code_size = 8
autoencoder = AutoencoderTransformer(
    hidden_layer_sizes=(128, code_size),
    code_activation="identity",
    loss="binary_crossentropy",
    batch_size=64,
    learning_rate_init=0.003,
    max_iter=200,
    tol=1e-4,
    random_state=0,
).fit(X_train)
pca = PCA(n_components=code_size, random_state=0).fit(X_train)

# %%
# Reconstruction error
# --------------------
# ``inverse_transform(transform(X))`` encodes and decodes. The error below is
# the squared error summed over the 64 pixels of an image, averaged over the
# test images.

reconstructed = {
    "autoencoder": autoencoder.inverse_transform(autoencoder.transform(X_test)),
    "PCA": pca.inverse_transform(pca.transform(X_test)),
}
for name, X_hat in reconstructed.items():
    error = np.mean(np.sum((X_test - X_hat) ** 2, axis=1))
    print(f"{name:>11}: {error:.2f} squared error per image")
print(f"autoencoder trained for {autoencoder.n_iter_} epochs")

# %%
# Test digits (top row) above their reconstructions from 8 numbers each:

n_images = 10
rows = {"original": X_test, **reconstructed}
fig, axes = plt.subplots(len(rows), n_images, figsize=(n_images, 3.4))
for row_axes, (name, images) in zip(axes, rows.items()):
    row_axes[0].set_title(name, loc="left", fontsize=10)
    for ax, image in zip(row_axes, images):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_axis_off()
fig.tight_layout()
plt.show()
