"""Settings for the CUDA tests, which run on a GPU or in numba-cuda's simulator.

Run them in a process of their own, with ``NUMBA_ENABLE_CUDASIM=1`` set before
Numba is imported when there is no GPU:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests_cuda

Under the simulator the launch sizes are shrunk, so that the small test arrays
span several blocks and tiles. Tests marked ``gpu`` need a real device.
"""

import numpy as np
import pytest

from fastae._cuda import kernels, simulated, unavailable_reason

# Without a GPU or the simulator nothing here can run, and pytest reports
# that no tests ran.
if unavailable_reason() is not None:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config):
    reason = unavailable_reason()
    if reason is not None:
        return (
            f"CUDA tests not collected: {reason}. Set NUMBA_ENABLE_CUDASIM=1 to "
            "run them in numba-cuda's simulator."
        )
    return "CUDA tests run in numba-cuda's simulator" if simulated() else None


SIMULATED = simulated()


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a real NVIDIA GPU")


def pytest_collection_modifyitems(config, items):
    if not SIMULATED:
        return
    skip = pytest.mark.skip(reason="needs a real NVIDIA GPU, not the simulator")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def small_launches(monkeypatch):
    """Shrink tiles and blocks under the simulator, where threads are slow."""
    if SIMULATED:
        monkeypatch.setattr(kernels, "TILE", 4)
        monkeypatch.setattr(kernels, "THREADS", 8)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
