"""Memory used by fit: no copy of X, no float64 copy, no allocation per minibatch.

The fit runs in a fresh process, so the traced peak contains no allocations
of other tests. NumPy reports its array buffers to tracemalloc, but memory that
Numba's runtime allocates inside compiled code is invisible to it, so the
allocations of the compiled kernels are counted with Numba's runtime
statistics (``NUMBA_NRT_STATS=1``) instead.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]

MAX_PEAK_BYTES = 64 * 2**20

FIT_SCRIPT = """
import json
import tracemalloc
import warnings

import numpy as np
from numba.core.runtime import rtsys
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer

warnings.simplefilter("ignore", ConvergenceWarning)


def make_model():
    return AutoencoderTransformer(
        hidden_layer_sizes=(128,),
        loss="binary_crossentropy",
        max_iter=1,
        batch_size=256,
        random_state=0,
    )


def allocation_count():
    return rtsys.get_allocation_stats().alloc


X = np.random.default_rng(0).random((20_000, 784), dtype=np.float32)
# Loads the kernels from the disk cache (or compiles them) before tracing.
make_model().fit(X[:512])

tracemalloc.start()
before = allocation_count()
model = make_model().fit(X)
allocations_79_batches = allocation_count() - before
_, peak = tracemalloc.get_traced_memory()
snapshot = tracemalloc.take_snapshot()
tracemalloc.stop()

before = allocation_count()
make_model().fit(X[:512])
allocations_2_batches = allocation_count() - before

print(json.dumps({
    "data_bytes": X.nbytes,
    "peak_bytes": peak,
    "top_allocations": [str(s) for s in snapshot.statistics("lineno")[:5]],
    "coefs_dtype": str(model.coefs_[0].dtype),
    "allocations_2_batches": allocations_2_batches,
    "allocations_79_batches": allocations_79_batches,
}))
"""


def test_fit_float32_memory():
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    result = subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])

    # A copy of X, or a float64 copy, would take at least the data's size.
    # The peak covers the parameters, the optimizer state and the minibatch
    # buffers, which depend on the network and the batch size only, and the
    # shuffled row order (8 bytes per row).
    peak = output["peak_bytes"]
    details = (
        f"peak {peak} bytes, data {output['data_bytes']} bytes; largest "
        "allocations still held after the fit:\n" + "\n".join(output["top_allocations"])
    )
    assert peak < output["data_bytes"], details
    assert peak < MAX_PEAK_BYTES, details
    assert output["coefs_dtype"] == "float32"
    # Compiled code allocates as many arrays for 79 minibatches as for 2, so
    # it allocates none per minibatch.
    assert output["allocations_79_batches"] == output["allocations_2_batches"]
