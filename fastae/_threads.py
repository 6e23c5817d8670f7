"""How many threads a fit uses, and the Numba side of that choice.

Large networks train with each minibatch split across Numba threads, each
calling BLAS on one thread (see ``train_epoch_parallel``), so OpenBLAS's own
thread pool stays idle. The number of parts is the smaller of Numba's thread
count and the BLAS thread count in force. A limit set by the caller, with
``threadpoolctl.threadpool_limits`` or by joblib in its worker processes,
therefore caps the threads of both pools.
"""

import contextlib
import os
import threading

import numba
import numpy as np
from threadpoolctl import threadpool_info

from ._kernels.epoch import start_thread_pool

# Below this many multiply-adds in a layer's minibatch matrix product, a
# minibatch is too small to split: starting the threads twice per minibatch
# costs more than the second core gains. The product 32 x 784 x 128 (MNIST at
# batch size 32) is above it and the 64 x 64 x 128 of the digits demo below.
PARALLEL_MIN_PRODUCT = 2**20

# Each part gets at least this many rows, since BLAS is inefficient on fewer.
MIN_PART_ROWS = 16

# Threading layers that accept parallel launches from several Python threads
# at once. Numba's "workqueue" layer aborts the process when that happens.
_THREADSAFE_LAYERS = ("tbb", "omp")

_layer_lock = threading.Lock()
_layer = None
_forked_after_start = False


def _threading_layer():
    """Return the name of Numba's threading layer, starting its thread pool once."""
    global _layer
    with _layer_lock:
        if _layer is None:
            start_thread_pool(np.zeros(2))
            _layer = numba.threading_layer()
        return _layer


def _mark_fork():
    global _forked_after_start
    _forked_after_start = _layer is not None


os.register_at_fork(after_in_child=_mark_fork)


def _blas_threads():
    counts = [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    ]
    return max(counts, default=1)


def training_parts(largest_product, batch_size):
    """Return how many parts to split each minibatch into (1: no split).

    ``largest_product`` is the multiply-add count of the largest layer product
    of one minibatch.
    """
    if largest_product < PARALLEL_MIN_PRODUCT:
        return 1
    parts = min(numba.get_num_threads(), _blas_threads(), batch_size // MIN_PART_ROWS)
    if parts < 2:
        return 1
    layer = _threading_layer()
    if layer not in _THREADSAFE_LAYERS:
        return 1
    if layer == "omp" and _forked_after_start:
        # GNU OpenMP's thread pool does not survive fork(), and Numba aborts
        # a child process that launches it. A child trains serially instead.
        return 1
    return parts


@contextlib.contextmanager
def numba_threads(count):
    """Run the block with Numba's thread count for the calling thread set to ``count``."""
    previous = numba.get_num_threads()
    numba.set_num_threads(count)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
