"""Shared fixtures and tolerances for the test suite."""

import os
from pathlib import Path

# scikit-learn's check_array_api_input runs only when SciPy's array API support
# is switched on, which must happen before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest

# Relative tolerance of a kernel against its float64 NumPy reference.
RTOL = {np.float32: 2e-5, np.float64: 1e-11}

# Shapes (rows, fan_in, fan_out) that include one row, one column and sizes
# that divide no block size.
SHAPES = [(1, 1, 1), (1, 7, 3), (13, 1, 5), (37, 19, 1), (65, 33, 17), (200, 64, 31)]

DTYPES = [np.float32, np.float64]


def assert_close(actual, expected, dtype, scale=None):
    """Assert ``actual`` matches the float64 ``expected`` within the dtype's tolerance.

    Errors are measured relative to ``scale`` (by default the largest
    magnitude in ``expected``), which is how a sum of rounded products errs.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if scale is None:
        scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=RTOL[dtype] * scale * 10)


# MNIST's folder when FASTAE_MNIST_DIR is unset: shared/data/mnist in the
# folder that contains the repository.
DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def mnist_directory():
    """Return the MNIST folder from ``FASTAE_MNIST_DIR`` or the default, or None."""
    candidates = []
    if os.environ.get("FASTAE_MNIST_DIR"):
        candidates.append(Path(os.environ["FASTAE_MNIST_DIR"]))
    candidates.append(DEFAULT_MNIST_DIR)
    for path in candidates:
        if path.is_dir() and any(path.glob("t10k-images-idx3-ubyte*")):
            return path
    return None


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
