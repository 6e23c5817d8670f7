"""
New digits from a variational autoencoder
=========================================

``VariationalAutoencoder`` learns a decoder that maps codes drawn from a
standard normal distribution to data. ``sample`` draws such codes and decodes them,
which generates digits that are in no data set. With a two-dimensional code,
decoding a grid of codes also shows how the digits change across the code
space.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

from fastae import VariationalAutoencoder
from fastae.datasets import load_digits_data

X, y = load_digits_data()

vae = VariationalAutoencoder(
    hidden_layer_sizes=(128, 2),
    loss="binary_crossentropy",
    batch_size=64,
    learning_rate_init=0.003,
    max_iter=300,
    random_state=0,
).fit(X)
print(f"trained for {vae.n_iter_} epochs, objective {vae.loss_:.1f} nats per digit")

# %%
# Samples
# -------
# Each call to ``sample`` with the same ``random_state`` returns the same
# digits. The values are pixel intensities in [0, 1], because the decoder's
# output is a sigmoid under the binary cross-entropy loss.

samples = vae.sample(24, random_state=1)
fig, axes = plt.subplots(3, 8, figsize=(8, 3.2))
for ax, image in zip(axes.ravel(), samples):
    ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
fig.suptitle("vae.sample(24, random_state=1)")
fig.tight_layout()

# %%
# The code space
# --------------
# ``inverse_transform`` decodes given codes. The grid below runs over the
# 5 % to 95 % quantiles of the standard normal distribution in both code
# dimensions, so it covers the codes that ``sample`` draws most often.

n_steps = 10
grid = norm.ppf(np.linspace(0.05, 0.95, n_steps))
codes = np.array([[first, second] for second in grid[::-1] for first in grid])
decoded = vae.inverse_transform(codes)

fig, ax = plt.subplots(figsize=(6, 6))
canvas = np.ones((n_steps * 9, n_steps * 9))
for index, image in enumerate(decoded):
    row, column = divmod(index, n_steps)
    canvas[row * 9 : row * 9 + 8, column * 9 : column * 9 + 8] = 1 - image.reshape(8, 8)
ax.imshow(canvas, cmap="gray", vmin=0, vmax=1)
ax.set_xlabel("first code value")
ax.set_ylabel("second code value")
ax.set_xticks([])
ax.set_yticks([])
plt.show()
