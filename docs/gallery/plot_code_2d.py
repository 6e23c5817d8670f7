"""
A two-dimensional code
======================

With a code of two numbers, ``transform`` maps every digit to a point in the
plane. The autoencoder trains without the labels, yet digits of the same
class land close together. Colouring the points by label shows how well the code
separates the classes, next to the first two principal components.
"""

import matplotlib.pyplot as plt
from sklearn.decomposition import PCA

from fastae import AutoencoderTransformer
from fastae.datasets import load_digits_data

X, y = load_digits_data()

# %%
# A linear code layer (``code_activation="identity"``) can take any real
# value, so the points are not squeezed against 0 as they would be by ReLU.
# The hidden layers use ELU, which is smooth and keeps a gradient for
# negative inputs.

autoencoder = AutoencoderTransformer(
    hidden_layer_sizes=(128, 32, 2),
    activation="elu",
    code_activation="identity",
    loss="binary_crossentropy",
    batch_size=64,
    learning_rate_init=0.003,
    max_iter=300,
    random_state=0,
)
codes = autoencoder.fit_transform(X)
components = PCA(n_components=2).fit_transform(X)
print(
    f"autoencoder trained for {autoencoder.n_iter_} epochs, loss {autoencoder.loss_:.4f}"
)

# %%
# Each point is one of the 1,797 digits, coloured by its label.

fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for ax, points, title in [
    (axes[0], codes, "autoencoder code"),
    (axes[1], components, "first two principal components"),
]:
    scatter = ax.scatter(points[:, 0], points[:, 1], c=y, cmap="tab10", s=6)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(scatter, ax=axes, ticks=range(10), label="digit")
plt.show()
