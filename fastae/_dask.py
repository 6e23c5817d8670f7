"""Training on and predicting for Dask arrays and DataFrames.

Training streams over the row chunks of a Dask array: the training loop runs
in the calling process, computes one chunk at a time and trains on it, so
memory contains about one chunk besides the model. Prediction maps the fitted
model over the row chunks lazily.

dask is never imported here at module level, so ``import fastae`` works and
stays fast without it. A Dask collection is recognised through the dask
modules already imported, since a caller with such a collection has imported
them.
"""

import math
import sys

import numpy as np
from sklearn.utils.validation import check_array, check_non_negative

from ._engine import draw_seed


def is_dask_collection(X):
    """Return True when ``X`` is a Dask array, DataFrame or Series."""
    array = sys.modules.get("dask.array")
    if array is not None and isinstance(X, array.Array):
        return True
    frame = sys.modules.get("dask.dataframe")
    return frame is not None and isinstance(X, (frame.DataFrame, frame.Series))


def feature_source(X):
    """Return what scikit-learn reads feature names and counts from.

    scikit-learn does not read column names from a Dask DataFrame itself, so
    a DataFrame is represented by its empty pandas ``_meta`` frame, which has
    the same columns.
    """
    if hasattr(X, "to_dask_array"):
        return X._meta
    return X


def row_chunked_array(X, *, known_chunks):
    """Return ``X`` as a 2-D Dask array with all columns in one chunk.

    DataFrames are converted with ``to_dask_array``. With ``known_chunks``,
    row chunks of unknown size are measured, which computes ``X`` once.
    """
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True if known_chunks else None)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D Dask array, got a {X.ndim}-D one of shape "
            f"{X.shape}. Reshape it, for example with X.reshape(-1, 1) for a "
            "single feature."
        )
    if known_chunks and any(math.isnan(size) for size in X.chunks[0]):
        # compute_chunk_sizes changes the array in place, and X.copy() is a
        # new array object over the same graph.
        X = X.copy()
        X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def dask_sample_weight(sample_weight, X):
    """Return a Dask ``sample_weight`` chunked like the rows of ``X``."""
    if hasattr(sample_weight, "to_dask_array"):
        sample_weight = sample_weight.to_dask_array(lengths=True)
    if sample_weight.ndim != 1:
        raise ValueError(
            "Sample weights must be a 1-D array or a scalar, got a "
            f"{sample_weight.ndim}-D Dask array."
        )
    if math.isnan(sample_weight.shape[0]):
        sample_weight = sample_weight.copy()
        sample_weight.compute_chunk_sizes()
    if sample_weight.shape[0] != X.shape[0]:
        raise ValueError(
            f"sample_weight has {sample_weight.shape[0]} values, but X has "
            f"{X.shape[0]} rows. Pass one weight per row."
        )
    return sample_weight.rechunk((X.chunks[0],))


class DaskRows:
    """Training rows in the row chunks of a Dask array, computed one at a time.

    :func:`fastae._engine.run_epochs` takes this in place of an array. Each
    epoch visits the chunks in an order shuffled by the fit's generator, and
    the rows of each chunk in a shuffled order. Minibatches never cross a
    chunk boundary.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Data with all columns in one chunk and known row chunk sizes.
    sample_weight : ndarray, dask.array.Array or None
        Weight of each row of ``X``. A Dask array must be chunked like the
        rows of ``X``, and a NumPy array must be validated already.
    check_chunk : callable
        Validates one computed chunk and returns it as a C-ordered, writeable
        array of dtype ``dtype``; raises ValueError for invalid data.
    dtype : numpy.dtype
        Dtype of the training data and the model.
    chunk_ids : sequence of int or None, default=None
        Row chunks to train on; None means every non-empty chunk.
    """

    def __init__(self, X, sample_weight, check_chunk, dtype, chunk_ids=None):
        self.X = X
        self.sample_weight = sample_weight
        self.check_chunk = check_chunk
        self.dtype = np.dtype(dtype)
        sizes = X.chunks[0]
        if chunk_ids is None:
            chunk_ids = [i for i, size in enumerate(sizes) if size > 0]
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_rows = int(sum(sizes[i] for i in self.chunk_ids))
        self.shape = (self.n_rows, X.shape[1])
        if self.n_rows == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={self.shape}) while a "
                "minimum of 1 is required."
            )
        if X.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={self.shape}) while a "
                "minimum of 1 is required."
            )

    def subset(self, chunk_ids):
        """Return the rows of the chunks ``chunk_ids`` only."""
        return DaskRows(
            self.X, self.sample_weight, self.check_chunk, self.dtype, chunk_ids
        )

    def load(self, chunk):
        """Compute row chunk ``chunk`` and return it validated, with its weights."""
        import dask

        start, stop = self.offsets[chunk], self.offsets[chunk + 1]
        block = self.X.blocks[chunk]
        weights = self.sample_weight
        if is_dask_collection(weights):
            X, weights = dask.compute(block, weights.blocks[chunk])
        else:
            (X,) = dask.compute(block)
            if weights is not None:
                weights = weights[start:stop]
        try:
            X = self.check_chunk(X)
            if X.shape != (stop - start, self.shape[1]):
                raise ValueError(
                    f"Computed chunk has shape {X.shape}, but the Dask array "
                    f"declares {(int(stop - start), self.shape[1])}. Call "
                    "X.compute_chunk_sizes() or fix the graph that builds X."
                )
            if weights is not None:
                weights = _checked_chunk_weights(weights, X.shape[0])
        except ValueError as error:
            if hasattr(error, "add_note"):  # Python 3.11 and later
                error.add_note(
                    f"The error is in row chunk {chunk} (rows {start} to "
                    f"{stop - 1}) of the Dask array."
                )
            raise
        return X, weights

    def chunk_order(self, rng, shuffle):
        """Return the order of the chunks for one epoch."""
        if shuffle and self.chunk_ids.size > 1:
            return rng.permutation(self.chunk_ids)
        return self.chunk_ids

    def run_epoch(self, trainer, rng, shuffle):
        """Train one epoch, chunk by chunk; return the mean loss per element."""
        total = 0.0
        weight_found = False
        for chunk in self.chunk_order(rng, shuffle):
            X, weights = self.load(chunk)
            n_rows = X.shape[0]
            if shuffle:
                order = rng.permutation(n_rows).astype(np.int64, copy=False)
            else:
                order = np.arange(n_rows, dtype=np.int64)
            # Noise and dropout values are keyed by the row's index within X,
            # so every chunk needs its own seed.
            draw_seed(trainer, rng)
            if weights is not None:
                trainer.train_weights = weights
                weight_found = weight_found or bool(np.any(weights))
            # NOTE: with device="cuda" each chunk is copied to the GPU when it
            # is trained, a path not yet run on a GPU.
            total += trainer.run_epoch(X, order) * n_rows
        if self.sample_weight is not None and not weight_found:
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        return total / self.n_rows

    def evaluate(self, trainer):
        """Return the mean loss per element over the chunks, in chunk order.

        Each chunk goes through the trainer's own ``evaluate``, which takes
        one in-memory array and reads the row weights from
        ``trainer.validation_weights``.
        """
        total = 0.0
        for chunk in self.chunk_ids:
            X, weights = self.load(chunk)
            if weights is not None:
                trainer.validation_weights = weights
            total += trainer.evaluate(X) * X.size
        return total / (self.n_rows * self.shape[1])

    def split_validation(self, fraction, rng):
        """Return training and validation rows, holding out whole chunks.

        The generator shuffles the chunks, and the first ones in that order
        are held out until they cover ``floor(fraction * n_rows)`` rows, so
        the validation set is that size rounded up to whole chunks.
        """
        n_val = math.floor(fraction * self.n_rows)
        if n_val < 1:
            raise ValueError(
                f"early_stopping=True with validation_fraction={fraction} leaves "
                f"an empty validation set for {self.n_rows} samples. Raise "
                "validation_fraction, pass more samples, or set "
                "early_stopping=False."
            )
        order = rng.permutation(self.chunk_ids)
        covered = np.cumsum(np.asarray(self.X.chunks[0])[order])
        n_val_chunks = int(np.searchsorted(covered, n_val)) + 1
        if n_val_chunks >= order.size:
            raise ValueError(
                "early_stopping=True with Dask input holds out whole row chunks, "
                f"and validation_fraction={fraction} of the {self.n_rows} rows "
                f"needs {n_val_chunks} of the {order.size} non-empty chunks, "
                "which leaves none to train on. Split X into more row chunks "
                "(for example X.rechunk({0: 10_000})), lower "
                "validation_fraction, or set early_stopping=False."
            )
        validation = self.subset(np.sort(order[:n_val_chunks]))
        return self.subset(np.sort(order[n_val_chunks:])), validation


def _checked_chunk_weights(weights, n_rows):
    weights = check_array(
        weights,
        ensure_2d=False,
        dtype=np.float64,
        order="C",
        input_name="sample_weight",
    )
    if weights.shape != (n_rows,):
        raise ValueError(
            f"sample_weight.shape == {weights.shape}, expected {(n_rows,)}!"
        )
    check_non_negative(weights, "`sample_weight`")
    return weights


def map_model_blocks(model, X, method, width, dtype):
    """Apply ``getattr(model, method)`` lazily to each row chunk of ``X``.

    Parameters
    ----------
    model : AutoencoderTransformer
        Fitted model. It becomes one key of the graph, which each block's
        task depends on, so it is sent to each worker once, not once per
        block.
    X : dask.array.Array of shape (n_samples, n_columns)
        Input with all columns in one chunk.
    method : str
        Name of the model's method that maps a NumPy block.
    width : int or None
        Output columns per row; None for one value per row.
    dtype : numpy.dtype
        Dtype of the output.

    Returns
    -------
    dask.array.Array
        Of shape ``(n_samples, width)``, or ``(n_samples,)`` for ``width=None``,
        with the row chunks of ``X``.
    """
    import dask

    shipped = dask.delayed(model, pure=True)
    dtype = np.dtype(dtype)
    if width is None:
        empty_shape = (0,)
        chunks = (X.chunks[0],)
        dropped = {"drop_axis": 1}
    else:
        empty_shape = (0, width)
        chunks = (X.chunks[0], (width,))
        dropped = {}
    return X.map_blocks(
        _apply_method,
        shipped,
        method,
        empty_shape,
        dtype.str,
        dtype=dtype,
        chunks=chunks,
        meta=np.empty(empty_shape, dtype=dtype),
        token=method,
        **dropped,
    )


def _apply_method(block, model, method, empty_shape, dtype):
    # scikit-learn rejects empty input, but Dask arrays may have empty chunks.
    if block.shape[0] == 0:
        return np.empty(empty_shape, dtype=dtype)
    return getattr(model, method)(block)
