"""Shared data, sizes and the end-of-run summary for the epoch benchmarks.

With benchmarking disabled (the default ``addopts`` in pyproject.toml) each
benchmark runs once on a small slice as a smoke test. With
``--benchmark-enable`` the data has the shape of the MNIST training set.
The environment variable ``FASTAE_BENCH_ROWS`` overrides the number of rows
in both modes.
"""

import os

import numpy as np
import pytest

N_FEATURES = 784
HIDDEN_WIDTH = 128
BATCH_SIZE = 256
FULL_ROWS = 60_000
SMOKE_ROWS = 512

# Medians in seconds per benchmark name, filled only when benchmarking is
# enabled and read back by pytest_terminal_summary.
_medians_key = pytest.StashKey[dict]()


def _rows_from_environment():
    text = os.environ.get("FASTAE_BENCH_ROWS", "").strip()
    if not text:
        return None
    try:
        rows = int(text)
    except ValueError:
        raise pytest.UsageError(
            f"FASTAE_BENCH_ROWS must be an integer number of rows; got {text!r}."
        ) from None
    if rows < BATCH_SIZE:
        raise pytest.UsageError(
            f"FASTAE_BENCH_ROWS must be at least the batch size {BATCH_SIZE}, so "
            f"every epoch has at least one full minibatch; got {rows}."
        )
    return rows


@pytest.fixture
def bench_rows(benchmark):
    """Number of training rows: the override, else the smoke or full size."""
    rows = _rows_from_environment()
    if rows is not None:
        return rows
    # benchmark.enabled follows pytest-benchmark's own rule (checked in 5.3):
    # --benchmark-enable overrides --benchmark-disable, and pytest-xdist runs
    # are disabled. The benchmark_disable option alone stays True under
    # --benchmark-enable, so it cannot pick the size.
    return FULL_ROWS if benchmark.enabled else SMOKE_ROWS


@pytest.fixture(scope="session")
def _data_by_rows():
    return {}


@pytest.fixture
def mnist_like(bench_rows, _data_by_rows):
    """Uniform float32 values in [0, 1) with MNIST's 784 features per row.

    The array is generated once per row count and shared by every benchmark.
    """
    if bench_rows not in _data_by_rows:
        rng = np.random.default_rng(0)
        shape = (bench_rows, N_FEATURES)
        _data_by_rows[bench_rows] = rng.random(shape, dtype=np.float32)
    return _data_by_rows[bench_rows]


@pytest.fixture
def record_median(request):
    """Store the median of a finished benchmark for the end-of-run ratios."""

    def record(benchmark):
        if not benchmark.enabled or benchmark.stats is None:
            return
        medians = request.config.stash.setdefault(_medians_key, {})
        medians[benchmark.name] = benchmark.stats.stats.median

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    medians = config.stash.get(_medians_key, {})
    if not medians:
        return
    write_line = terminalreporter.write_line
    terminalreporter.section("epoch 784-128-784: medians and ratios")
    for name, seconds in sorted(medians.items()):
        write_line(f"{name:40s} {seconds:8.3f} s")

    # A ratio above 1 means the fastae epoch is faster than scikit-learn's.
    sklearn_seconds = medians.get("test_sklearn_epoch")
    if sklearn_seconds is None:
        return
    for name, seconds in sorted(medians.items()):
        if name.startswith("test_fastae_epoch"):
            ratio = sklearn_seconds / seconds
            write_line(f"sklearn / {name}: {ratio:.2f}")
