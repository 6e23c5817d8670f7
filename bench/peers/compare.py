"""Compare fastae with its peers over every benchmark scenario.

The scenarios train dense autoencoders for one epoch on float32 data of 784
features (60,000 rows by default), encode all rows with ``transform``, time
fastae's import and first fit, and measure the peak memory of one fit. Each
scenario runs fastae and every installed peer: PyTorch in eager mode and with
``torch.compile``, Keras, scikit-learn, NumPy, and a GEMM bound that times
only the matrix products with numpy's float32 matmul.

Every measurement runs in a fresh subprocess. The rounds interleave all
scenarios and implementations (round 1 runs each once, then round 2, ...), so
slow drift in machine load spreads over all of them. The script prints the
medians across rounds, the ratio of each median to the fastest peer's and the
fraction of the GEMM bound, and writes the raw results, machine facts,
library versions, thread pools and command line as JSON. bench/peers/report.py
turns that JSON into docs/benchmarks.md.

Run ``python bench/peers/compare.py --help`` for the options.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import epoch
import numpy as np
import workers

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "compare.json"

FASTAE = "fastae"
BOUND = epoch.HARDWARE_BOUND
BCE = "binary_crossentropy"
SQUARED = "squared_error"
TRAINING_PEERS = ("torch-eager", "torch-compile", "keras")

# Adam's step size in every implementation. fastae's and scikit-learn's
# default learning_rate_init is this value, and epoch.make_adam uses it.
LEARNING_RATE = 1e-3
CODE_WIDTH = 128
DEFAULT_REPEATS = 5
# Memory that one fit may take on top of its training data before the memory
# scenario reports it as over the limit.
MEMORY_MARGIN_BYTES = 64_000_000

KIND_UNITS = {"training": "s", "transform": "s", "startup": "s", "memory": "bytes"}

# Module that each peer imports. A peer whose module is not installed is skipped.
REQUIRED_MODULES = {
    "torch-eager": "torch",
    "torch-compile": "torch",
    "keras": "keras",
}

# Packages whose versions the JSON records. An absent one is recorded as
# "not installed".
VERSIONED_PACKAGES = (
    "fastae",
    "numpy",
    "numba",
    "llvmlite",
    "scipy",
    "scikit-learn",
    "threadpoolctl",
    "torch",
    "keras",
    "tensorflow",
    "matplotlib",
)


def training(hidden, loss, batch_size, peers, description):
    return {
        "kind": "training",
        "description": description,
        "hidden": list(hidden),
        "loss": loss,
        "batch_size": batch_size,
        "implementations": [FASTAE, *peers, BOUND],
    }


BCE_TEXT = "ReLU hidden layer, sigmoid output, binary cross-entropy from logits"

SCENARIOS = {
    "bce-b256": training(
        [128], BCE, 256, TRAINING_PEERS, f"One epoch, 784-128-784, {BCE_TEXT}"
    ),
    "bce-b32": training(
        [128], BCE, 32, TRAINING_PEERS, f"One epoch, 784-128-784, {BCE_TEXT}"
    ),
    "bce-b1024": training(
        [128], BCE, 1024, TRAINING_PEERS, f"One epoch, 784-128-784, {BCE_TEXT}"
    ),
    "deep-b256": training(
        [256, 64],
        BCE,
        256,
        TRAINING_PEERS,
        "One epoch, 784-256-64-256-784, ReLU hidden layers, sigmoid output, "
        "binary cross-entropy from logits",
    ),
    "squared-b256": training(
        [128],
        SQUARED,
        256,
        ("sklearn", *TRAINING_PEERS),
        "One epoch, 784-128-784, ReLU hidden layer, identity output, squared error",
    ),
    "transform": {
        "kind": "transform",
        "description": "Encode every row to a code of width 128",
        "hidden": [CODE_WIDTH],
        "loss": BCE,
        "batch_size": 256,
        "implementations": [FASTAE, "sklearn-pca", "numpy", BOUND],
    },
    "startup": {
        "kind": "startup",
        "description": "Import time and the first fit in a new process",
        "hidden": [128],
        "loss": BCE,
        "batch_size": 256,
        "implementations": ["import", "first-fit-warm-cache", "first-fit-cold-compile"],
    },
    "memory": {
        "kind": "memory",
        "description": "Peak memory of one fit epoch of fastae, 784-128-784",
        "hidden": [128],
        "loss": BCE,
        "batch_size": 256,
        "implementations": ["rss", "tracemalloc"],
    },
}

ALL_IMPLEMENTATIONS = tuple(
    dict.fromkeys(
        name for spec in SCENARIOS.values() for name in spec["implementations"]
    )
)

# Code run by a bare interpreter to time one import statement.
IMPORT_TIMER = """\
import time
start = time.perf_counter()
import {modules}
print(time.perf_counter() - start)
"""
IMPORT_BASELINE = "sklearn.base, numba"


# --------------------------------------------------------------------------
# Subprocesses
# --------------------------------------------------------------------------


def run_command(command, environment, timeout):
    """Run ``command`` and return the JSON object on its last output line.

    Returns ``{"error": ...}`` when it times out, exits non-zero or prints no
    JSON. The result also records the subprocess's wall time.
    """
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    wall_seconds = time.perf_counter() - start

    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-3:]
        return {"error": f"exit status {completed.returncode}: " + " | ".join(tail)}
    try:
        result = json.loads(completed.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"no JSON result in the output: {completed.stdout[-300:]!r}"}
    if not isinstance(result, dict):
        result = {"value": result}
    result["subprocess_s"] = wall_seconds
    return result


def keras_backend():
    """Return the Keras backend to use: KERAS_BACKEND, else TensorFlow or torch."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    if importlib.util.find_spec("tensorflow") is not None:
        return "tensorflow"
    return "torch"


def run_worker_subprocess(name, data_path, config, timeout):
    """Run one measurement of this script's worker in a fresh interpreter."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        name,
        "--data",
        data_path,
        "--config",
        json.dumps(config),
    ]
    environment = dict(os.environ)
    cache_dir = None
    if name == "torch-compile":
        # A fresh inductor cache per run, so each warm-up is a cold compile.
        cache_dir = tempfile.mkdtemp(prefix="peers-inductor-")
        environment["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
    elif name == "keras":
        environment["KERAS_BACKEND"] = keras_backend()
    elif name == "first-fit-warm-cache":
        environment.pop("FASTAE_DISABLE_CACHE", None)
    elif name == "first-fit-cold-compile":
        environment["FASTAE_DISABLE_CACHE"] = "1"
    try:
        return run_command(command, environment, timeout)
    finally:
        if cache_dir is not None:
            shutil.rmtree(cache_dir, ignore_errors=True)


def time_import(modules, timeout):
    """Return the seconds of ``import modules`` in a bare interpreter."""
    command = [sys.executable, "-c", IMPORT_TIMER.format(modules=modules)]
    return run_command(command, dict(os.environ), timeout)


def measure_import(timeout):
    """Time ``import fastae`` less ``import sklearn.base, numba``.

    Each import runs in its own fresh interpreter. fastae imports both, so the
    difference is the time of fastae's own modules and of the scikit-learn
    modules it adds.
    """
    baseline = time_import(IMPORT_BASELINE, timeout)
    fastae = time_import("fastae", timeout)
    for label, result in (("import fastae", fastae), ("baseline", baseline)):
        if "error" in result:
            return {"error": f"{label}: {result['error']}"}
    return {
        "value": fastae["value"] - baseline["value"],
        "import_fastae_s": fastae["value"],
        "import_baseline_s": baseline["value"],
        "baseline": f"import {IMPORT_BASELINE}",
    }


def measure(name, data_path, config, timeout):
    if name == "import":
        return measure_import(timeout)
    return run_worker_subprocess(name, data_path, config, timeout)


def run_worker(name, data_path, config):
    X = np.load(data_path)
    print(json.dumps(workers.run(name, X, config)))


# --------------------------------------------------------------------------
# Plan, rounds and summary
# --------------------------------------------------------------------------


def plan_statuses(scenario_names, skip):
    """Return ``{scenario: {implementation: status}}`` before any run.

    The status is "run", "skipped: not installed" or "skipped: --skip".
    """
    statuses = {}
    for scenario in scenario_names:
        statuses[scenario] = {}
        for name in SCENARIOS[scenario]["implementations"]:
            module = REQUIRED_MODULES.get(name)
            if name in skip:
                status = "skipped: --skip"
            elif module is not None and importlib.util.find_spec(module) is None:
                status = "skipped: not installed"
            else:
                status = "run"
            statuses[scenario][name] = status
    return statuses


def measurement_config(scenario, args):
    spec = SCENARIOS[scenario]
    config = {key: value for key, value in spec.items() if key != "implementations"}
    config.update(
        learning_rate=LEARNING_RATE,
        repeats=args.repeats,
        gemm_min_s=args.gemm_min_seconds,
    )
    return config


def format_value(value, unit):
    if unit == "bytes":
        return f"{value / 1e6:.1f} MB"
    return f"{value:.3f} s"


def run_rounds(statuses, data_path, args):
    """Run every planned measurement once per round and return the raw runs.

    Returns ``{scenario: {implementation: [result of each round]}}``.
    """
    runs = {
        scenario: {name: [] for name, status in names.items() if status == "run"}
        for scenario, names in statuses.items()
    }
    for round_index in range(args.rounds):
        for scenario, names in runs.items():
            config = measurement_config(scenario, args)
            unit = KIND_UNITS[config["kind"]]
            for name, results in names.items():
                result = measure(name, data_path, config, args.timeout)
                results.append(result)
                if "value" in result:
                    text = format_value(result["value"], unit)
                else:
                    text = f"failed: {result.get('error', 'no value in the result')}"
                print(
                    f"round {round_index + 1}/{args.rounds} {scenario:13s} "
                    f"{name:22s} {text}",
                    flush=True,
                )
    return runs


def summarize_implementation(status, results):
    if status != "run":
        return {"status": status, "runs": []}
    values = [r["value"] for r in results if "value" in r]
    errors = [
        r.get("error", "no value in the result") for r in results if "value" not in r
    ]
    entry = {
        "status": "ok" if values else "failed",
        "values": values,
        "errors": errors,
        "runs": results,
    }
    if values:
        entry.update(median=statistics.median(values), min=min(values), max=max(values))
    return entry


def summarize_scenario(scenario, statuses, runs, rows, data_bytes):
    """Return the medians, ratios and bound fractions of one scenario."""
    spec = SCENARIOS[scenario]
    entries = {
        name: summarize_implementation(status, runs[scenario].get(name, []))
        for name, status in statuses[scenario].items()
    }
    summary = {
        **{key: value for key, value in spec.items() if key != "implementations"},
        "unit": KIND_UNITS[spec["kind"]],
        "implementations": entries,
    }
    if spec["kind"] == "memory":
        summary["data_bytes"] = data_bytes
        summary["margin_bytes"] = MEMORY_MARGIN_BYTES
        summary["limit_bytes"] = data_bytes + MEMORY_MARGIN_BYTES
        for entry in entries.values():
            if "median" in entry:
                entry["within_limit"] = entry["median"] <= summary["limit_bytes"]
    if spec["kind"] not in ("training", "transform"):
        return summary

    peers = {
        name: entry["median"]
        for name, entry in entries.items()
        if name not in (FASTAE, BOUND) and "median" in entry
    }
    best_peer = min(peers, key=peers.get) if peers else None
    bound = entries.get(BOUND, {}).get("median")
    summary["rows"] = rows
    summary["best_peer"] = best_peer
    for entry in entries.values():
        if "median" not in entry:
            continue
        entry["samples_per_s"] = rows / entry["median"]
        if best_peer is not None:
            entry["ratio_to_best_peer"] = entry["median"] / peers[best_peer]
        if bound is not None:
            entry["gemm_bound_fraction"] = bound / entry["median"]
    fastae_entry = entries.get(FASTAE, {})
    summary["fastae_ratio_to_best_peer"] = fastae_entry.get("ratio_to_best_peer")
    return summary


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------


def describe_failure(entry):
    if entry["status"].startswith("skipped"):
        return entry["status"]
    return f"failed: {entry['errors'][0]}"


def table_header(summary):
    """Return the column header of one scenario's printed table."""
    if summary["unit"] == "bytes":
        return f"{'measurement':24s} {'median MB':>10s} {'min MB':>9s} {'max MB':>9s}"
    if summary["kind"] == "startup":
        return f"{'measurement':24s} {'median s':>10s} {'min s':>9s} {'max s':>9s}"
    return (
        f"{'implementation':24s} {'median s':>10s} {'min s':>9s} {'max s':>9s} "
        f"{'samples/s':>11s} {'/ best peer':>11s} {'bound / this':>12s}"
    )


def table_line(implementation, entry, scale):
    """Return the printed table line of one implementation with a median."""
    line = (
        f"{implementation:24s} {entry['median'] / scale:10.3f} "
        f"{entry['min'] / scale:9.3f} {entry['max'] / scale:9.3f}"
    )
    if "samples_per_s" in entry:
        ratio = entry.get("ratio_to_best_peer")
        fraction = entry.get("gemm_bound_fraction")
        line += f" {entry['samples_per_s']:11.0f}"
        line += f" {ratio:11.2f}" if ratio is not None else f" {'-':>11s}"
        line += f" {fraction:12.2f}" if fraction is not None else f" {'-':>12s}"
    if "within_limit" in entry:
        line += "  within the limit" if entry["within_limit"] else "  over the limit"
    return line


def print_scenario(name, summary):
    print()
    print(f"{name}: {summary['description']}")
    if summary["unit"] == "bytes":
        print(
            f"Limit: data {summary['data_bytes'] / 1e6:.1f} MB + margin "
            f"{summary['margin_bytes'] / 1e6:.0f} MB = "
            f"{summary['limit_bytes'] / 1e6:.1f} MB"
        )
    print(table_header(summary))

    scale = 1e6 if summary["unit"] == "bytes" else 1.0
    for implementation, entry in summary["implementations"].items():
        if "median" not in entry:
            print(f"{implementation:24s} {describe_failure(entry)}")
            continue
        print(table_line(implementation, entry, scale))
        if entry["errors"]:
            print(f"{'':24s} {len(entry['errors'])} runs failed: {entry['errors'][0]}")

    if summary["kind"] not in ("training", "transform"):
        return
    if summary["best_peer"] is None:
        print("fastae / best peer: no peer measured")
        return
    ratio = summary["fastae_ratio_to_best_peer"]
    text = f"{ratio:.2f}" if ratio is not None else "no fastae result"
    print(f"fastae / best peer ({summary['best_peer']}): {text}")


# --------------------------------------------------------------------------
# Machine facts and command line
# --------------------------------------------------------------------------


def machine_facts():
    import numba

    facts = epoch.machine_facts()
    facts["platform"] = platform.platform()
    facts["versions"] = {
        name: epoch.package_version(name) for name in VERSIONED_PACKAGES
    }
    facts["numba_num_threads"] = numba.config.NUMBA_NUM_THREADS
    facts["numba_using_svml"] = bool(getattr(numba.config, "USING_SVML", False))
    facts["keras_backend"] = (
        keras_backend() if importlib.util.find_spec("keras") is not None else None
    )
    facts["environment"] = {
        name: os.environ.get(name)
        for name in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMBA_NUM_THREADS",
            "FASTAE_DISABLE_CACHE",
            "KERAS_BACKEND",
        )
        if name in os.environ
    }
    return facts


def command_line():
    """Return the command that started this process, as a list and a string."""
    argv = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    return {"argv": argv, "line": shlex.join(argv), "cwd": os.getcwd()}


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def parse_names(text, known, option):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"invalid {option} {text!r}: expected a comma-separated list of "
            f"{', '.join(known)}"
        )
    return names


def build_parser():
    parser = argparse.ArgumentParser(
        description=(
            "Time fastae and its installed peers in every benchmark scenario, "
            "each measurement in a fresh subprocess, in interleaved rounds, and "
            "write the results as JSON."
        )
    )
    parser.add_argument(
        "--scenarios",
        type=lambda text: parse_names(text, tuple(SCENARIOS), "--scenarios"),
        default=list(SCENARIOS),
        help=f"comma-separated scenarios to run, from {', '.join(SCENARIOS)} "
        "(default: all)",
    )
    parser.add_argument(
        "--skip",
        type=lambda text: parse_names(text, ALL_IMPLEMENTATIONS, "--skip"),
        default=[],
        help="comma-separated implementations or measurements to leave out, "
        "for example torch-compile,keras; the results list them as skipped",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (default: 3)"
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help=f"rows of data (default: {epoch.DEFAULT_ROWS}, or all MNIST images)",
    )
    parser.add_argument(
        "--mnist",
        metavar="DIR",
        default=None,
        help="load the MNIST training images from DIR with "
        "fastae.datasets.load_mnist and scale them by 1/255, in place of "
        "uniform random data",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="timed calls per transform measurement, after one untimed call; "
        f"the fastest counts (default: {DEFAULT_REPEATS})",
    )
    parser.add_argument(
        "--gemm-min-seconds",
        type=float,
        default=epoch.GEMM_MIN_SECONDS,
        help="seconds of each timing loop of one matrix shape in the GEMM bound "
        f"(default: {epoch.GEMM_MIN_SECONDS})",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        default=str(DEFAULT_JSON),
        help="where to write the results (default: bench/results/compare.json "
        "in the repository)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds before one subprocess is stopped (default: 900)",
    )
    # Internal: the driver starts each measurement as
    # ``compare.py --worker NAME --data FILE.npy --config JSON``.
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    return parser


def check_arguments(args, parser):
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; got {args.rounds}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}")
    if args.gemm_min_seconds <= 0:
        parser.error(
            f"--gemm-min-seconds must be positive; got {args.gemm_min_seconds}"
        )
    if args.rows is not None and args.rows < 1:
        parser.error(f"--rows must be at least 1; got {args.rows}")


def minimum_rows(scenario_names):
    """Return the fewest rows that the chosen scenarios accept.

    Training needs one full minibatch and PCA needs as many rows as
    components.
    """
    needed = 1
    for scenario in scenario_names:
        spec = SCENARIOS[scenario]
        if spec["kind"] == "transform":
            needed = max(needed, spec["hidden"][-1])
        else:
            needed = max(needed, spec["batch_size"])
    return needed


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.worker is not None:
        run_worker(args.worker, args.data, json.loads(args.config))
        return

    check_arguments(args, parser)
    started = utc_now()
    wall_start = time.perf_counter()
    facts = machine_facts()
    facts["loadavg_start"] = epoch.read_loadavg()
    cpu_times_start = epoch.read_cpu_times()
    epoch.print_facts(facts)

    X, source = epoch.load_data(args)
    needed = minimum_rows(args.scenarios)
    if X.shape[0] < needed:
        parser.error(
            f"the chosen scenarios need at least {needed} rows; got {X.shape[0]}"
        )
    rows, data_bytes = X.shape[0], int(X.nbytes)
    print(f"Data: {rows} x {X.shape[1]} float32, {source}")
    statuses = plan_statuses(args.scenarios, set(args.skip))
    print(f"{args.rounds} rounds of: {', '.join(args.scenarios)}")

    cache_warmup = None
    with tempfile.TemporaryDirectory(prefix="peers-compare-") as directory:
        data_path = os.path.join(directory, "X.npy")
        np.save(data_path, X)
        del X

        if statuses.get("startup", {}).get("first-fit-warm-cache") == "run":
            # Fill Numba's disk cache in a separate process, so that the first
            # fit of every timed run loads the kernels from it.
            print("Filling the Numba disk cache for the startup scenario", flush=True)
            cache_warmup = run_worker_subprocess(
                "first-fit-warm-cache",
                data_path,
                measurement_config("startup", args),
                args.timeout,
            )
        runs = run_rounds(statuses, data_path, args)

    scenarios = {
        scenario: summarize_scenario(scenario, statuses, runs, rows, data_bytes)
        for scenario in args.scenarios
    }
    for scenario, summary in scenarios.items():
        print_scenario(scenario, summary)

    facts["loadavg_end"] = epoch.read_loadavg()
    facts["cpu_use"] = epoch.describe_cpu_use(cpu_times_start, epoch.read_cpu_times())
    print()
    print(f"/proc/loadavg at end: {facts['loadavg_end']}")
    print(f"CPU time during the run (/proc/stat, all processes): {facts['cpu_use']}")

    record = {
        "format": 1,
        "command": command_line(),
        "started_utc": started,
        "finished_utc": utc_now(),
        "elapsed_s": time.perf_counter() - wall_start,
        "data": {"source": source, "rows": rows, "features": epoch.N_FEATURES},
        "settings": {
            "rounds": args.rounds,
            "scenarios": args.scenarios,
            "skip": args.skip,
            "learning_rate": LEARNING_RATE,
            "transform_repeats": args.repeats,
            "gemm_min_s": args.gemm_min_seconds,
            "peak_gemm_size": epoch.PEAK_GEMM_SIZE,
            "warmup_rows": epoch.WARMUP_ROWS,
            "torch_warmup_batches": epoch.TORCH_WARMUP_BATCHES,
            "torch_threads": epoch.TORCH_THREADS,
            "timeout_s": args.timeout,
        },
        "machine": facts,
        "cache_warmup": cache_warmup,
        "scenarios": scenarios,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"Results written to {path}")


if __name__ == "__main__":
    main()
