"""
Anomaly scores and per-pixel errors
===================================

An autoencoder trained on normal data reconstructs such data well and unusual
rows badly. ``score_samples`` returns minus each row's mean squared
reconstruction error, so lower scores mark rows that look less like the
training data. ``reconstruction_errors`` returns the squared error of every
value, which shows where in a row the reconstruction failed.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from fastae import AutoencoderTransformer
from fastae.datasets import load_digits_data

X, y = load_digits_data()
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

autoencoder = AutoencoderTransformer(
    hidden_layer_sizes=(64, 12),
    loss="binary_crossentropy",
    batch_size=64,
    learning_rate_init=0.003,
    max_iter=400,
    random_state=0,
).fit(X_train)

# %%
# Anomalies
# ---------
# Thirty test digits get a corruption that the training set never shows: a
# solid bar of four pixels in a random row. The other test digits stay as
# they are.

rng = np.random.default_rng(0)
corrupted = rng.choice(len(X_test), size=30, replace=False)
X_scored = X_test.copy()
for index in corrupted:
    image = X_scored[index].reshape(8, 8)  # a view: edits change X_scored
    row, column = rng.integers(0, 8), rng.integers(0, 5)
    image[row, column : column + 4] = 1.0
is_corrupted = np.zeros(len(X_test), dtype=bool)
is_corrupted[corrupted] = True

scores = autoencoder.score_samples(X_scored)

# %%
# The corrupted digits score lower than most clean ones, so a threshold on
# the score flags them. Here the threshold is the score of the lowest 5 % of
# the training digits.

threshold = np.percentile(autoencoder.score_samples(X_train), 5)
flagged = scores < threshold
print(f"corrupted digits flagged: {np.sum(flagged & is_corrupted)} of {len(corrupted)}")
print(
    f"clean digits flagged: {np.sum(flagged & ~is_corrupted)} of {np.sum(~is_corrupted)}"
)

fig, ax = plt.subplots(figsize=(7, 3.5))
bins = np.linspace(scores.min(), scores.max(), 40)
ax.hist(scores[~is_corrupted], bins=bins, label="clean test digits")
ax.hist(scores[is_corrupted], bins=bins, label="with a bar added", alpha=0.8)
ax.axvline(threshold, color="black", linestyle="--", label="threshold")
ax.set_xlabel("score_samples (minus the mean squared error)")
ax.set_ylabel("digits")
ax.legend()
fig.tight_layout()

# %%
# Where the reconstruction fails
# ------------------------------
# For the four lowest-scoring digits, the per-pixel squared errors from
# ``reconstruction_errors`` point at the pixels that made each an outlier.
# The mean of a row of these errors is minus its score.

errors = autoencoder.reconstruction_errors(X_scored)
assert np.allclose(errors.mean(axis=1), -scores)

worst = np.argsort(scores)[:4]
reconstructions = autoencoder.inverse_transform(autoencoder.transform(X_scored[worst]))
fig, axes = plt.subplots(3, len(worst), figsize=(7, 5.6))
rows = [
    ("input", X_scored[worst], "gray_r"),
    ("reconstruction", reconstructions, "gray_r"),
    ("squared error", errors[worst], "Reds"),
]
for row_axes, (name, images, cmap) in zip(axes, rows):
    row_axes[0].set_title(name, loc="left", fontsize=10)
    for ax, image in zip(row_axes, images):
        ax.imshow(image.reshape(8, 8), cmap=cmap, vmin=0, vmax=1)
        ax.set_axis_off()
fig.tight_layout()
plt.show()
