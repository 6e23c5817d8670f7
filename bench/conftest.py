"""Shared data, sizes and the end-of-run summaries for the benchmarks.

With benchmarking disabled (the default ``addopts`` in pyproject.toml) each
benchmark runs once on a small slice as a smoke test. With
``--benchmark-enable`` the data has the shape of the MNIST training set.
The environment variable ``FASTAE_BENCH_ROWS`` overrides the number of rows
in both modes.

Tests marked ``full_only`` take too long for the smoke run, so they are
deselected unless benchmarking is enabled, and pytest reports them as
deselected.
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

# Lines of text per summary section title, printed by pytest_terminal_summary.
_summary_key = pytest.StashKey[dict]()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "full_only: run only with --benchmark-enable, because the case takes too "
        "long for the smoke run",
    )


def benchmarks_enabled(config):
    """Return True when pytest-benchmark times benchmarks in this run."""
    # pytest-benchmark (checked in 5.3) stores its session on the config in its
    # pytest_configure hook. The session's flag also covers pytest-xdist runs,
    # which it always disables.
    session = getattr(config, "_benchmarksession", None)
    if session is not None:
        return not session.disabled
    return config.getoption("benchmark_enable") or not config.getoption(
        "benchmark_disable"
    )


def pytest_collection_modifyitems(config, items):
    if benchmarks_enabled(config):
        return
    selected = []
    deselected = []
    for item in items:
        if item.get_closest_marker("full_only") is None:
            selected.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def add_summary_line(config, section, line):
    """Store ``line`` to be printed under ``section`` at the end of the run."""
    config.stash.setdefault(_summary_key, {}).setdefault(section, []).append(line)


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


# Display unit and extra_info key of the rate for each unit of work.
_RATE_UNITS = {"flop": ("GFLOP/s", "gflop_per_s"), "byte": ("GB/s", "gb_per_s")}


@pytest.fixture
def record_rate(request):
    """Store a benchmark's work per call and, when timed, its rate at the median.

    ``unit`` is ``"flop"`` (reported in GFLOP/s) or ``"byte"`` (GB/s). In the
    smoke run only the work per call is stored.
    """

    def record(benchmark, amount, unit):
        if unit not in _RATE_UNITS:
            raise ValueError(f"unit must be 'flop' or 'byte'; got {unit!r}.")
        benchmark.extra_info[f"{unit}s_per_call"] = amount
        if not benchmark.enabled or benchmark.stats is None:
            return
        median = benchmark.stats.stats.median
        rate = amount / median / 1e9
        label, key = _RATE_UNITS[unit]
        benchmark.extra_info[key] = rate
        line = f"{benchmark.name:60s} {median * 1e3:9.3f} ms {rate:8.2f} {label}"
        add_summary_line(request.config, "kernels: medians and rates", line)

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    write_line = terminalreporter.write_line
    for section, lines in config.stash.get(_summary_key, {}).items():
        terminalreporter.section(section)
        for line in lines:
            write_line(line)

    medians = config.stash.get(_medians_key, {})
    if not medians:
        return
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
