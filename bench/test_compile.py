"""Measure the first-call cost of fastae: import, cache loading and compiling.

Each measurement runs in a fresh Python process, because a process compiles or
loads a kernel only once. The cases are:

- ``test_import``: the time of ``import fastae``. It also checks that the
  import compiles nothing, which is a deterministic assert in both modes.
- ``test_first_fit_warm_cache``: the first ``fit`` of a small model minus a
  second identical ``fit``, with every kernel in the on-disk cache. The
  difference is the time spent loading the kernels from the cache.
- ``test_cold_compile``: the compile time of every kernel, in float32 and in
  float64, with ``FASTAE_DISABLE_CACHE=1`` so that nothing comes from the
  disk. Each dtype took 35 to 45 s on a 2-core machine, so this case is
  marked ``full_only``: the smoke run deselects it (pytest reports it as
  deselected) and ``--benchmark-enable`` runs it.

pytest-benchmark times the whole subprocess (interpreter start, imports and
the work). The first-call figures are measured inside the subprocess, stored in
``extra_info`` and printed at the end of a timed run.
"""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer
from fastae._kernels.epoch import train_epoch

from .conftest import add_summary_line

REPOSITORY = Path(__file__).resolve().parents[1]

# Timed rounds of the subprocess cases that take seconds.
ROUNDS = 5

SUMMARY_SECTION = "first-call cost"

# Source of two helpers for the scripts. find_kernels returns every kernel of
# fastae._kernels by qualified name. It imports each module of the package, so
# it also finds a kernel that no import of fastae reaches. cache_counts sums
# the disk-cache hits and misses of the kernels.
_FIND_KERNELS = """
import importlib
import pkgutil

from numba.core.registry import CPUDispatcher

import fastae._kernels


def find_kernels():
    kernels = {}
    for info in pkgutil.iter_modules(fastae._kernels.__path__):
        module = importlib.import_module(f"fastae._kernels.{info.name}")
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                function = value.py_func
                kernels[f"{function.__module__}.{function.__qualname__}"] = value
    return kernels


def cache_counts(kernels):
    hits = sum(sum(k.stats.cache_hits.values()) for k in kernels.values())
    misses = sum(sum(k.stats.cache_misses.values()) for k in kernels.values())
    return hits, misses
"""

IMPORT_SCRIPT = (
    """
import json
import time

start = time.perf_counter()
import numba
import numpy
import sklearn.base
import sklearn.utils.validation
dependencies_imported = time.perf_counter()
import fastae
fastae_imported = time.perf_counter()
"""
    + _FIND_KERNELS
    + """
kernels = find_kernels()
compiled = sorted(name for name, kernel in kernels.items() if kernel.signatures)
print(json.dumps({
    "import_seconds": fastae_imported - start,
    "own_import_seconds": fastae_imported - dependencies_imported,
    "n_kernels": len(kernels),
    "compiled": compiled,
}))
"""
)

FIT_SCRIPT = (
    """
import json
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer
"""
    + _FIND_KERNELS
    + """
warnings.simplefilter("ignore", ConvergenceWarning)
X = np.random.default_rng(0).random((512, 64), dtype=np.float32)


def time_fit():
    model = AutoencoderTransformer((16,), max_iter=2, random_state=0)
    start = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - start


first = time_fit()
second = time_fit()
hits, misses = cache_counts(find_kernels())
print(json.dumps({
    "first_fit_seconds": first,
    "second_fit_seconds": second,
    "cache_hits": hits,
    "cache_misses": misses,
}))
"""
)

# Calls every kernel once on a small network, in an order where each kernel's
# callees that are kernels themselves come first, so each time is mostly that
# kernel's own code. The first call also contains Numba's one-time compiler
# set-up. The total is the cold compile time of every kernel.
COMPILE_SCRIPT = (
    """
import json
import sys
import time

import numpy as np

from fastae._kernels.activations import RELU
from fastae._kernels.dense import (
    activation_backward,
    bias_activate,
    dense_backward,
    dense_forward,
)
from fastae._kernels.epoch import (
    ADAM,
    evaluate_loss,
    hyper_array,
    train_epoch,
    train_epoch_parallel,
    work_size,
)
from fastae._kernels.losses import (
    BINARY_CROSSENTROPY,
    is_finite,
    loss_and_gradient,
    loss_sum,
)
from fastae._kernels.optimizers import adam_update, sgd_update
from fastae._network import build_layout, initial_parameters, unpack
"""
    + _FIND_KERNELS
    + """
dtype = np.dtype(sys.argv[1])
rng = np.random.default_rng(0)
layout = build_layout([6, 4, 6], "relu", "sigmoid")
params = initial_parameters(layout, rng, dtype)
(W, _), (b, _) = unpack(params, layout)
X = rng.random((8, 6)).astype(dtype)
out = np.empty((8, 4), dtype=dtype)
grad_out = np.ones_like(out)
grad_W = np.empty_like(W)
grad_b = np.empty_like(b)
grad_X = np.empty_like(X)
grads = np.zeros_like(params)
state_a = np.zeros_like(params)
state_b = np.zeros_like(params)
step = np.zeros(1, dtype=np.int64)
hyper = hyper_array(0.001, 0.9, 0.9, 0.999, 1e-8, 0.0001)
no_weights = np.zeros(0)
order = np.arange(8, dtype=np.int64)
work = np.empty(work_size(layout, 4), dtype=dtype)
part_grads = np.zeros((2, params.size), dtype=dtype)
part_work = np.empty((2, work_size(layout, 2)), dtype=dtype)
n_weights = int(layout[0, 3])
training = (
    X, order, no_weights, 4, params, grads, state_a, state_b, layout, BINARY_CROSSENTROPY,
    ADAM, hyper, step,
)

calls = [
    ("bias_activate", bias_activate, (out, b, RELU)),
    ("activation_backward", activation_backward, (grad_out, out, RELU, grad_b)),
    ("dense_forward", dense_forward, (X, W, b, RELU, out)),
    (
        "dense_backward, grad_X",
        dense_backward,
        (X, W, out, grad_out, RELU, grad_W, grad_b, grad_X),
    ),
    (
        "dense_backward, no grad_X",
        dense_backward,
        (X, W, out, grad_out, RELU, grad_W, grad_b, None),
    ),
    ("loss_sum", loss_sum, (BINARY_CROSSENTROPY, X, X)),
    (
        "loss_and_gradient",
        loss_and_gradient,
        (BINARY_CROSSENTROPY, X, X, 0.125, grad_X),
    ),
    (
        "adam_update",
        adam_update,
        (params, grads, state_a, state_b, n_weights, 0.001, 0.9, 0.999, 1e-8, 1, 0.0),
    ),
    (
        "sgd_update",
        sgd_update,
        (params, grads, state_a, n_weights, 0.001, 0.9, True, 0.0),
    ),
    ("is_finite", is_finite, (params,)),
    ("train_epoch", train_epoch, (*training, work)),
    (
        "train_epoch_parallel",
        train_epoch_parallel,
        (*training[:5], part_grads, *training[6:], part_work, np.zeros(2)),
    ),
    (
        "evaluate_loss",
        evaluate_loss,
        (X, no_weights, params, layout, BINARY_CROSSENTROPY, 4, work),
    ),
]

seconds = {}
for name, kernel, arguments in calls:
    start = time.perf_counter()
    kernel(*arguments)
    seconds[name] = time.perf_counter() - start
kernels = find_kernels()
hits, _ = cache_counts(kernels)
cache_types = sorted({type(kernel._cache).__name__ for kernel in kernels.values()})
compiled = sorted(name for name, kernel in kernels.items() if kernel.signatures)
print(json.dumps({
    "seconds": seconds,
    "cache_hits": hits,
    "cache_types": cache_types,
    "n_compiled": len(compiled),
}))
"""
)


def run_script(script, *arguments, **environment):
    """Run ``script`` in a fresh interpreter and return its last output line as JSON.

    The subprocess inherits this process's environment without
    ``FASTAE_DISABLE_CACHE``, updated by ``environment``.
    """
    env = {
        key: value for key, value in os.environ.items() if key != "FASTAE_DISABLE_CACHE"
    }
    env.update(environment)
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_rounds(benchmark, script, rounds, *arguments, **environment):
    """Benchmark ``script`` for ``rounds`` rounds (one in the smoke run).

    Returns the JSON output of every round.
    """
    outputs = []

    def run_once():
        outputs.append(run_script(script, *arguments, **environment))

    benchmark.pedantic(run_once, rounds=rounds, iterations=1, warmup_rounds=0)
    return outputs


def record_seconds(request, benchmark, name, values):
    """Store the median of ``values`` (seconds) and print it in a timed run."""
    median = statistics.median(values)
    benchmark.extra_info[f"{name}_median"] = median
    benchmark.extra_info[name] = values
    if benchmark.enabled:
        line = f"{benchmark.name:40s} {name:30s} {median:8.3f} s"
        line += f" (median of {len(values)})"
        add_summary_line(request.config, SUMMARY_SECTION, line)


@pytest.mark.benchmark(group="first-call")
def test_import(benchmark, request):
    outputs = run_rounds(benchmark, IMPORT_SCRIPT, ROUNDS)

    for output in outputs:
        # The walk must find the kernels, or the next check proves nothing.
        assert output["n_kernels"] > 15
        assert output["compiled"] == []
    record_seconds(
        request, benchmark, "import_seconds", [o["import_seconds"] for o in outputs]
    )
    record_seconds(
        request,
        benchmark,
        "own_import_seconds",
        [o["own_import_seconds"] for o in outputs],
    )


def fit_small_model():
    X = np.random.default_rng(0).random((512, 64), dtype=np.float32)
    AutoencoderTransformer((16,), max_iter=2, random_state=0).fit(X)


@pytest.mark.benchmark(group="first-call")
@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_first_fit_warm_cache(benchmark, request):
    # Fill the disk cache with the kernels that the script's fit uses. This
    # process writes them when it compiles them. When its own cache is off,
    # an untimed run of the script, whose cache is on, writes them instead.
    if type(train_epoch._cache).__name__ == "NullCache":
        run_script(FIT_SCRIPT)
    else:
        fit_small_model()

    outputs = run_rounds(benchmark, FIT_SCRIPT, ROUNDS)

    for output in outputs:
        # A miss means the subprocess compiled a kernel instead of loading it,
        # for example because a kernel source changed during the run.
        assert output["cache_misses"] == 0
        assert output["cache_hits"] > 0
    first = [o["first_fit_seconds"] for o in outputs]
    second = [o["second_fit_seconds"] for o in outputs]
    record_seconds(request, benchmark, "first_fit_seconds", first)
    record_seconds(request, benchmark, "second_fit_seconds", second)
    overhead = [a - b for a, b in zip(first, second)]
    record_seconds(request, benchmark, "first_fit_overhead_seconds", overhead)


@pytest.mark.full_only
@pytest.mark.benchmark(group="first-call")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cold_compile(benchmark, request, dtype):
    # One round, because each takes 35 to 45 s on a 2-core machine.
    (output,) = run_rounds(
        benchmark, COMPILE_SCRIPT, 1, dtype, FASTAE_DISABLE_CACHE="1"
    )

    assert output["cache_types"] == ["NullCache"]
    assert output["cache_hits"] == 0
    seconds = output["seconds"]
    benchmark.extra_info.update(kernel_seconds=seconds)
    benchmark.extra_info.update(n_compiled=output["n_compiled"])
    record_seconds(request, benchmark, "compile_seconds", [sum(seconds.values())])
    for name, kernel_seconds in seconds.items():
        line = f"    {name:40s} {kernel_seconds:8.3f} s"
        add_summary_line(request.config, SUMMARY_SECTION, line)
