"""Measurements that bench/peers/compare.py runs, each in its own subprocess.

Every function takes the data ``X`` (float32, loaded from the driver's .npy
file) and the scenario's ``config``, and returns a dict for JSON. On success
the dict has ``value``: seconds, or bytes for the memory scenario. A worker
that fails raises, or returns a dict with ``error`` in place of ``value``.
The training workers of fastae, scikit-learn, PyTorch and the GEMM bound are
those of epoch.py.
"""

import gc
import os
import resource
import sys
import time
import tracemalloc
import warnings

import epoch
import numpy as np


def fit_quietly(model, X):
    """Fit ``model`` on ``X`` and ignore the ConvergenceWarning of a short fit."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


def make_fastae(config):
    """Return the fastae estimator of one scenario, set to train one epoch."""
    from fastae import AutoencoderTransformer

    return AutoencoderTransformer(
        hidden_layer_sizes=tuple(config["hidden"]),
        loss=config["loss"],
        batch_size=config["batch_size"],
        learning_rate_init=config["learning_rate"],
        max_iter=1,
        tol=0.0,
        random_state=0,
    )


# --------------------------------------------------------------------------
# Training: one epoch
# --------------------------------------------------------------------------


def run_training(name, X, config):
    """Time one training epoch of implementation ``name``."""
    if name == "fastae":
        result = epoch.run_fastae(X, config)
    elif name == "sklearn":
        result = epoch.run_sklearn(X, config)
    elif name == "torch-eager":
        result = epoch.run_torch(X, config, compiled=False)
    elif name == "torch-compile":
        result = epoch.run_torch(X, config, compiled=True)
    elif name == "keras":
        result = run_keras(X, config)
    elif name == epoch.HARDWARE_BOUND:
        result = epoch.run_gemm_bound(X.shape[0], config)
    else:
        raise ValueError(f"Unknown training implementation {name!r}.")
    if "epoch_s" in result:
        result["value"] = result["epoch_s"]
    return result


def run_keras(X, config):
    """Time one epoch of ``keras.Model.fit`` on the backend in KERAS_BACKEND.

    The model is a Sequential stack of Dense layers with the widths of
    epoch.layer_widths, ReLU on the hidden layers and a linear output, trained
    with Adam. Before the timed epoch an untimed fit runs the same warm-up
    minibatches as the PyTorch worker: full batches, then one of the epoch's
    last, partial size.
    """
    # NOTE: only the torch backend has been run. With TensorFlow the thread
    # count stays at TensorFlow's default.
    import keras

    backend = keras.backend.backend()
    result = {"backend": backend, "keras_version": keras.__version__}
    if backend == "torch":
        import torch

        torch.set_num_threads(epoch.TORCH_THREADS)
        result["threads"] = torch.get_num_threads()

    keras.utils.set_random_seed(0)
    widths = epoch.layer_widths(config["hidden"])
    layers = [keras.Input(shape=(widths[0],))]
    layers += [keras.layers.Dense(width, activation="relu") for width in widths[1:-1]]
    layers.append(keras.layers.Dense(widths[-1]))
    model = keras.Sequential(layers)
    if config["loss"] == "binary_crossentropy":
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
    else:
        loss = keras.losses.MeanSquaredError()
    optimizer = keras.optimizers.Adam(learning_rate=config["learning_rate"])
    model.compile(optimizer=optimizer, loss=loss)
    result["jit_compile"] = model.jit_compile

    batch_size = config["batch_size"]
    remainder = X.shape[0] % batch_size
    warmup = X[: min(X.shape[0], epoch.TORCH_WARMUP_BATCHES * batch_size) + remainder]
    start = time.perf_counter()
    model.fit(warmup, warmup, batch_size=batch_size, epochs=1, verbose=0)
    result["warmup_s"] = time.perf_counter() - start

    start = time.perf_counter()
    history = model.fit(X, X, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
    result["epoch_s"] = time.perf_counter() - start
    result["loss"] = float(history.history["loss"][-1])
    return result


# --------------------------------------------------------------------------
# transform: encode every row
# --------------------------------------------------------------------------


def run_transform(name, X, config):
    """Time the encoding of all rows of ``X`` to codes of width ``hidden[-1]``.

    One untimed call comes first, then ``config["repeats"]`` timed calls. The
    value is the fastest of them.
    """
    width = config["hidden"][-1]
    result = {}
    if name == "fastae":
        start = time.perf_counter()
        model = fit_quietly(make_fastae(config), X)
        result["fit_s"] = time.perf_counter() - start

        def encode():
            return model.transform(X)

    elif name == "sklearn-pca":
        from sklearn.decomposition import PCA

        start = time.perf_counter()
        pca = PCA(n_components=width, random_state=0).fit(X)
        result["fit_s"] = time.perf_counter() - start

        def encode():
            return pca.transform(X)

    elif name in ("numpy", epoch.HARDWARE_BOUND):
        rng = np.random.default_rng(0)
        weights = rng.standard_normal((X.shape[1], width), dtype=np.float32)
        bias = rng.standard_normal(width, dtype=np.float32)
        if name == "numpy":

            def encode():
                return np.maximum(X @ weights + bias, 0)

        else:
            # The matrix product alone, into a preallocated array. Every dense
            # encoder of this width computes it, so its time is a lower bound.
            codes = np.empty((X.shape[0], width), dtype=np.float32)

            def encode():
                return np.matmul(X, weights, out=codes)

    else:
        raise ValueError(f"Unknown transform implementation {name!r}.")

    output = encode()
    times = []
    for _ in range(config["repeats"]):
        start = time.perf_counter()
        encode()
        times.append(time.perf_counter() - start)
    result.update(
        value=min(times),
        repeat_s=times,
        output_dtype=str(output.dtype),
        output_shape=list(output.shape),
    )
    return result


# --------------------------------------------------------------------------
# startup: the first fit in a new process
# --------------------------------------------------------------------------


def run_first_fit(X, config):
    """Time the first one-epoch fit in this process and a second, identical one.

    The value is the first minus the second: the time to load the kernels
    from Numba's disk cache, or to compile them when FASTAE_DISABLE_CACHE=1.
    """
    from fastae import AutoencoderTransformer  # noqa: F401 - imported untimed

    start = time.perf_counter()
    fit_quietly(make_fastae(config), X)
    first_seconds = time.perf_counter() - start

    start = time.perf_counter()
    fit_quietly(make_fastae(config), X)
    steady_seconds = time.perf_counter() - start
    return {
        "value": first_seconds - steady_seconds,
        "first_fit_s": first_seconds,
        "steady_fit_s": steady_seconds,
        "FASTAE_DISABLE_CACHE": os.environ.get("FASTAE_DISABLE_CACHE"),
    }


# --------------------------------------------------------------------------
# memory: peak memory of one fit
# --------------------------------------------------------------------------


def max_rss_bytes():
    """Return this process's peak resident set size in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kibibytes, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes():
    """Return this process's resident set size now, or None without /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run_memory(name, X, config):
    """Measure the memory of one fit epoch on ``X`` beyond what exists before.

    ``rss`` returns the rise of the peak resident set size over the fit.
    Because ru_maxrss is a peak, memory that stays below the earlier peak of
    the process (the data load and the warm-up fit) does not count, and
    neither do allocated pages that the fit never touches.
    ``tracemalloc`` returns the peak of the memory traced during the fit:
    Python objects and NumPy arrays, but not memory that compiled code takes
    with malloc directly. An untimed fit on a few rows comes first, so that
    loading the kernels does not count.
    """
    fit_quietly(make_fastae(config), X[: epoch.warmup_rows(config)])
    gc.collect()
    result = {"data_bytes": int(X.nbytes)}
    if name == "rss":
        result["rss_before_bytes"] = current_rss_bytes()
        result["max_rss_before_bytes"] = max_rss_bytes()
        fit_quietly(make_fastae(config), X)
        result["max_rss_after_bytes"] = max_rss_bytes()
        result["value"] = result["max_rss_after_bytes"] - result["max_rss_before_bytes"]
        if result["rss_before_bytes"] is not None:
            result["peak_over_rss_before_bytes"] = (
                result["max_rss_after_bytes"] - result["rss_before_bytes"]
            )
    elif name == "tracemalloc":
        tracemalloc.start()
        fit_quietly(make_fastae(config), X)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result.update(value=peak, traced_after_fit_bytes=current)
    else:
        raise ValueError(f"Unknown memory measurement {name!r}.")
    return result


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------


def run(name, X, config):
    """Run measurement ``name`` of the scenario kind in ``config["kind"]``."""
    kind = config["kind"]
    if kind == "training":
        result = run_training(name, X, config)
    elif kind == "transform":
        result = run_transform(name, X, config)
    elif kind == "startup":
        result = run_first_fit(X, config)
    elif kind == "memory":
        result = run_memory(name, X, config)
    else:
        raise ValueError(f"Unknown scenario kind {kind!r}.")
    result["blas"] = epoch.blas_info()
    return result
