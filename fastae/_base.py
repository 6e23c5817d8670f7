"""Input rules, training settings and rollback shared by fastae's estimators.

``AutoencoderTransformer`` and ``VariationalAutoencoder`` follow the same rules
for dtypes, minibatch sizes, the loss's input range and the validation split,
and both roll a failed call back. :class:`TrainingMixin` contains those methods
once, and this module the functions and constants they use.
"""

import math
import numbers
import warnings

import numpy as np
from sklearn.utils import assert_all_finite
from sklearn.utils._param_validation import InvalidParameterError

# Input dtypes that are kept; every other numeric dtype becomes float64.
FLOAT_DTYPES = (np.float64, np.float32)

# Rows per minibatch when batch_size="auto" (capped at the number of rows).
AUTO_BATCH_SIZE = 256

# Stack level of a warning raised in _fit that points at the line that called
# fit or partial_fit: _fit, _fit_guarded, fit, scikit-learn's fit wrapper.
CALLER_OF_FIT = 5

# Widest layer accepted: offsets into the parameter buffer are 64-bit, and a
# weight matrix this wide already takes gigabytes.
MAX_LAYER_WIDTH = 2**31 - 1


class TrainingMixin:
    """Checks, settings and rollback shared by fastae's estimators.

    A subclass implements ``_fit`` and names the private attributes that carry
    training state between calls in ``_training_state``.
    """

    _training_state = ()

    def _is_state(self, name):
        return name.endswith("_") or name in self._training_state

    def _fit_guarded(self, *arguments, **keywords):
        """Call ``_fit``, rolling the estimator back if it fails."""
        # Every fitted attribute and the training state go back to what they
        # were when a call fails (a warning turned into an error included), so
        # a failed call never leaves a half-written model behind.
        saved = {key: value for key, value in vars(self).items() if self._is_state(key)}
        try:
            return self._fit(*arguments, **keywords)
        except BaseException:
            for key in [key for key in vars(self) if self._is_state(key)]:
                delattr(self, key)
            vars(self).update(saved)
            raise

    def _positive_widths(self, minimum, example):
        """Return ``hidden_layer_sizes`` as a list of ints, once checked.

        ``minimum`` describes what the list must contain at least, and ``example``
        is a valid value, both for the error message.
        """
        hidden = np.ravel(np.asarray(self.hidden_layer_sizes))
        if hidden.size == 0:
            raise ValueError(
                f"hidden_layer_sizes must contain {minimum}; got "
                f"{self.hidden_layer_sizes!r}. Pass for example {example}."
            )
        if not all(
            isinstance(w, numbers.Integral) and not isinstance(w, bool) and w >= 1
            for w in hidden.tolist()
        ):
            raise ValueError(
                "hidden_layer_sizes must contain positive integers; got "
                f"{self.hidden_layer_sizes!r}."
            )
        return [int(w) for w in hidden]

    def _resolved_output_activation(self):
        if self.output_activation == "auto":
            return "sigmoid" if self.loss == "binary_crossentropy" else "identity"
        if self.loss == "binary_crossentropy" and self.output_activation != "sigmoid":
            raise ValueError(
                "loss='binary_crossentropy' needs output_activation='sigmoid' (or "
                f"'auto'); got output_activation={self.output_activation!r}."
            )
        return self.output_activation

    def _check_loss_domain(self, X):
        if self.loss != "binary_crossentropy":
            return
        low, high = float(X.min()), float(X.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                "loss='binary_crossentropy' requires every value of X in [0, 1]; "
                f"X has values from {low!r} to {high!r}. Scale X to [0, 1] (for "
                "example with sklearn.preprocessing.MinMaxScaler) or use "
                "loss='squared_error'."
            )

    def _split_rows(self, X, sample_weight, rng):
        """Hold out ``floor(validation_fraction * n_samples)`` rows, drawn by ``rng``.

        Returns the training rows, the validation rows and their weights, which
        are None without ``sample_weight``. Both sets keep the rows' order.
        """
        n_samples = X.shape[0]
        n_val = math.floor(self.validation_fraction * n_samples)
        if n_val < 1:
            raise ValueError(
                "early_stopping=True with validation_fraction="
                f"{self.validation_fraction} leaves an empty validation set for "
                f"{n_samples} samples. Raise validation_fraction, pass more "
                "samples, or set early_stopping=False."
            )
        order = rng.permutation(n_samples)
        val_rows = np.sort(order[:n_val])
        train_rows = np.sort(order[n_val:])
        X_val = np.ascontiguousarray(X[val_rows])
        X_train = np.ascontiguousarray(X[train_rows])
        if sample_weight is None:
            return X_train, X_val, None, None
        return X_train, X_val, sample_weight[train_rows], sample_weight[val_rows]

    def _resolved_batch_size(self, n_rows):
        if isinstance(self.batch_size, bool):
            # scikit-learn's Interval constraint lets bool through as an int.
            raise InvalidParameterError(
                f"batch_size must be an int or 'auto'; got {self.batch_size!r}."
            )
        if self.batch_size == "auto":
            return min(AUTO_BATCH_SIZE, n_rows)
        if self.batch_size > n_rows:
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the {n_rows} training "
                f"rows; using batch_size={n_rows}.",
                UserWarning,
                stacklevel=CALLER_OF_FIT + 1,
            )
            return n_rows
        return self.batch_size


def to_model_dtype(X, dtype):
    """Return ``X`` in the model's ``dtype``, rejecting values it cannot hold."""
    if X.dtype == dtype:
        return X
    limit = np.finfo(dtype).max
    largest = np.abs(X).max(initial=0.0)
    if not np.isfinite(largest):
        assert_all_finite(X, input_name="X")
    if largest > limit:
        raise ValueError(
            f"X has values up to {float(np.abs(X).max())!r} in magnitude, beyond "
            f"the {dtype} range (+-{float(limit):.4g}) of this model, which was "
            f"fitted in {dtype}. Scale the data, or fit the model on float64 data."
        )
    return X.astype(dtype)


def writeable(X):
    # Compiled kernels are specialised on writeable arrays; a read-only input
    # (a memory map, for instance) is copied rather than compiled for again.
    return X if X.flags.writeable else X.copy()


def make_rng(random_state):
    """Return a NumPy Generator for ``random_state`` without touching the global one."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return np.random.default_rng(random_state)
