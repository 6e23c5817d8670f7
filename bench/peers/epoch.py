"""Time one training epoch of a dense autoencoder: fastae against its peers.

Each implementation trains the same network (the encoder widths from
``--hidden``, the decoder mirroring them, ReLU on every hidden layer, a linear
output layer) with minibatch Adam for one epoch on the same float32 data. The
implementations are fastae, PyTorch in eager mode, PyTorch with
``torch.compile`` and, for squared error only, scikit-learn's MLPRegressor.

Every measurement runs in a fresh subprocess so that thread pools, allocators
and JIT caches of one library do not affect another. The rounds interleave the
implementations (a, b, c, then a, b, c again), so slow drift in machine load
spreads over all of them. A further subprocess times the matrix products of
one epoch with numpy's float32 matmul, a lower bound for any implementation
that runs them through the same BLAS.

Run ``python bench/peers/epoch.py --help`` for the options. This script times
one network and batch size at a time. bench/peers/compare.py reuses its workers
for every benchmark scenario, and docs/benchmarks.md is generated from the
results of compare.py.
"""

import argparse
import importlib.metadata
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

IMPLEMENTATIONS = ("fastae", "torch-eager", "torch-compile", "sklearn")
HARDWARE_BOUND = "gemm-bound"
LOSSES = ("binary_crossentropy", "squared_error")
N_FEATURES = 784
DEFAULT_ROWS = 60_000

# Rows of the untimed fit that compiles fastae's Numba kernels (or loads them
# from the disk cache) before the timed fit, raised to the batch size for larger
# batches. The sklearn worker runs the same warm-up fit so both libraries start
# equally warm.
WARMUP_ROWS = 512

# Full minibatches of the untimed PyTorch warm-up before the timed epoch. The
# warm-up also runs one minibatch of the epoch's last, partial size, so that
# torch.compile has compiled both batch shapes before the clock starts.
TORCH_WARMUP_BATCHES = 5

TORCH_THREADS = 2

# Minimum seconds per timing loop of one GEMM shape in the hardware bound.
GEMM_MIN_SECONDS = 0.2
PEAK_GEMM_SIZE = 2048


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------


def layer_widths(hidden):
    """Return every layer width: the input, the encoder, its mirror, the output."""
    return [N_FEATURES, *hidden, *reversed(hidden[:-1]), N_FEATURES]


def batch_sizes(rows, batch_size):
    """Return ``{rows_in_batch: count}`` for one epoch over ``rows`` rows."""
    sizes = {}
    full, remainder = divmod(rows, batch_size)
    if full:
        sizes[batch_size] = full
    if remainder:
        sizes[remainder] = 1
    return sizes


def warmup_rows(config):
    """Return the rows of the untimed warm-up fit: at least one full minibatch."""
    return max(WARMUP_ROWS, config["batch_size"])


def blas_info():
    """Return threadpoolctl's description of the thread pools loaded now."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "num_threads", "filepath")
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


# --------------------------------------------------------------------------
# Workers: each runs in its own subprocess and prints one JSON object
# --------------------------------------------------------------------------


def run_fastae(X, config):
    from sklearn.exceptions import ConvergenceWarning

    from fastae import AutoencoderTransformer

    def make_model():
        return AutoencoderTransformer(
            hidden_layer_sizes=tuple(config["hidden"]),
            loss=config["loss"],
            batch_size=config["batch_size"],
            max_iter=1,
            tol=0.0,
            random_state=0,
        )

    # max_iter=1 stops every fit before convergence, which is intended here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        make_model().fit(X[: warmup_rows(config)])
        warmup_seconds = time.perf_counter() - start

        start = time.perf_counter()
        model = make_model().fit(X)
        epoch_seconds = time.perf_counter() - start

    return {
        "epoch_s": epoch_seconds,
        "warmup_s": warmup_seconds,
        "loss": float(model.loss_),
        "dtype": str(model.coefs_[0].dtype),
    }


def run_sklearn(X, config):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    # MLPRegressor takes every hidden layer, so pass fastae's mirrored widths
    # to train the same network. For --hidden 128 this is (128,).
    hidden = layer_widths(config["hidden"])[1:-1]

    def make_model():
        return MLPRegressor(
            hidden_layer_sizes=tuple(hidden),
            activation="relu",
            solver="adam",
            batch_size=config["batch_size"],
            max_iter=1,
            shuffle=True,
            random_state=0,
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rows = warmup_rows(config)
        make_model().fit(X[:rows], X[:rows])

        start = time.perf_counter()
        model = make_model().fit(X, X)
        epoch_seconds = time.perf_counter() - start

    return {
        "epoch_s": epoch_seconds,
        "loss": float(model.loss_),
        "dtype": str(model.coefs_[0].dtype),
    }


def make_torch_model(torch, hidden):
    widths = layer_widths(hidden)
    layers = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if index < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def make_adam(torch, parameters):
    """Create Adam with ``fused=True``, else ``foreach=True`` if fused fails.

    Returns the optimizer and the name of the variant. The fused variant is
    tried with one step on zero gradients, because some builds only raise
    when the step runs.
    """
    parameters = list(parameters)
    try:
        optimizer = torch.optim.Adam(parameters, lr=1e-3, fused=True)
        for parameter in parameters:
            parameter.grad = torch.zeros_like(parameter)
        optimizer.step()
    except (RuntimeError, ValueError) as error:
        fused_error = f"{type(error).__name__}: {error}"
    else:
        # Start the timed training from fresh optimizer state and weights
        # that the test step did not move (zero gradients keep them).
        optimizer = torch.optim.Adam(parameters, lr=1e-3, fused=True)
        for parameter in parameters:
            parameter.grad = None
        return optimizer, "fused", None
    for parameter in parameters:
        parameter.grad = None
    optimizer = torch.optim.Adam(parameters, lr=1e-3, foreach=True)
    return optimizer, "foreach", fused_error


def train_torch_epoch(torch, model, optimizer, loss_fn, X, batch_size, generator):
    """Run one epoch over a fresh random permutation of the rows of ``X``."""
    permutation = torch.randperm(X.shape[0], generator=generator)
    for start in range(0, X.shape[0], batch_size):
        indices = permutation[start : start + batch_size]
        batch = X.index_select(0, indices)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(batch), batch)
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def torch_blas_name(torch):
    """Return the BLAS that this torch build links, from its build settings."""
    match = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return match.group(1) if match else "unknown"


def run_torch(X, config, compiled):
    import torch

    torch.set_num_threads(TORCH_THREADS)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    X = torch.from_numpy(X)
    batch_size = config["batch_size"]

    model = make_torch_model(torch, config["hidden"])
    optimizer, adam_variant, fused_error = make_adam(torch, model.parameters())
    # The scale of the loss does not change the time per step. MSELoss takes
    # the mean over all elements, fastae the sum over features and the mean
    # over rows.
    if config["loss"] == "binary_crossentropy":
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        loss_fn = torch.nn.MSELoss()

    result = {
        "adam": adam_variant,
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "torch_blas": torch_blas_name(torch),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if fused_error is not None:
        result["fused_adam_error"] = fused_error

    if compiled:
        try:
            model = torch.compile(model)
        except Exception as error:  # noqa: BLE001 - reported, not re-raised
            result["error"] = f"torch.compile failed: {type(error).__name__}: {error}"
            return result

    # Warm-up: full batches, then one batch of the epoch's last size, so that
    # the timed epoch meets no new shape. With torch.compile this compiles the
    # graphs, so its time is reported as the cold compile time.
    remainder = X.shape[0] % batch_size
    warmup_rows = min(X.shape[0], TORCH_WARMUP_BATCHES * batch_size) + remainder
    warmup_data = X[:warmup_rows]
    start = time.perf_counter()
    try:
        train_torch_epoch(
            torch, model, optimizer, loss_fn, warmup_data, batch_size, generator
        )
    except Exception as error:  # noqa: BLE001 - reported, not re-raised
        # torch.compile compiles lazily, so its errors surface on the first call.
        result["error"] = f"warm-up failed: {type(error).__name__}: {error}"
        return result
    result["warmup_s"] = time.perf_counter() - start

    start = time.perf_counter()
    result["loss"] = train_torch_epoch(
        torch, model, optimizer, loss_fn, X, batch_size, generator
    )
    result["epoch_s"] = time.perf_counter() - start
    return result


def time_matmul(a, b, out, min_seconds=GEMM_MIN_SECONDS):
    """Return the fastest mean seconds of ``a @ b`` over three timing loops.

    Each loop repeats the product for about ``min_seconds``.
    """
    np.matmul(a, b, out=out)
    start = time.perf_counter()
    np.matmul(a, b, out=out)
    once = max(time.perf_counter() - start, 1e-7)
    repeats = max(1, int(min_seconds / once))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            np.matmul(a, b, out=out)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def run_gemm_bound(rows, config):
    """Time the matrix products of one epoch with numpy's float32 matmul.

    Each layer has ``k`` inputs and ``n`` outputs, and each minibatch ``m``
    rows. Per layer and minibatch this times the forward product
    (m, k) @ (k, n) and the weight gradient (k, m) @ (m, n) from a transposed
    view, as in backpropagation. It also times the input gradient
    (m, n) @ (n, k) for every layer but the first, because backpropagation
    does not need the gradient of the data. Bias, activation,
    loss and optimizer work is left out, so the total is a lower bound for an
    epoch on this BLAS. ``config["gemm_min_s"]``, if present, sets the seconds
    of each timing loop.
    """
    min_seconds = config.get("gemm_min_s", GEMM_MIN_SECONDS)
    rng = np.random.default_rng(0)
    widths = layer_widths(config["hidden"])
    batches = batch_sizes(rows, config["batch_size"])

    def array(*shape):
        return rng.random(shape, dtype=np.float32)

    products = []
    for layer, (k, n) in enumerate(itertools.pairwise(widths)):
        for m, count in batches.items():
            x, w, dz = array(m, k), array(k, n), array(m, n)
            shapes = [
                ("forward", x, w, np.empty((m, n), np.float32)),
                ("weight-gradient", x.T, dz, np.empty((k, n), np.float32)),
            ]
            if layer > 0:
                shapes.append(("input-gradient", dz, w.T, np.empty((m, k), np.float32)))
            for kind, a, b, out in shapes:
                seconds = time_matmul(a, b, out, min_seconds)
                flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]
                products.append(
                    {
                        "layer": layer,
                        "kind": kind,
                        "shape": [a.shape[0], a.shape[1], b.shape[1]],
                        "count": count,
                        "call_s": seconds,
                        "flops": flops,
                    }
                )

    epoch_seconds = sum(p["call_s"] * p["count"] for p in products)
    epoch_flops = sum(p["flops"] * p["count"] for p in products)

    size = PEAK_GEMM_SIZE
    a, b = array(size, size), array(size, size)
    peak_seconds = time_matmul(a, b, np.empty((size, size), np.float32), min_seconds)
    return {
        "epoch_s": epoch_seconds,
        "epoch_flops": epoch_flops,
        "epoch_gflops_per_s": epoch_flops / epoch_seconds / 1e9,
        "peak_gflops_per_s": 2 * size**3 / peak_seconds / 1e9,
        "products": products,
    }


def run_worker(name, data_path, config):
    X = np.load(data_path)
    if name == HARDWARE_BOUND:
        result = run_gemm_bound(X.shape[0], config)
    elif name == "fastae":
        result = run_fastae(X, config)
    elif name == "sklearn":
        result = run_sklearn(X, config)
    elif name == "torch-eager":
        result = run_torch(X, config, compiled=False)
    elif name == "torch-compile":
        result = run_torch(X, config, compiled=True)
    else:
        raise ValueError(f"Unknown implementation {name!r}.")
    result["blas"] = blas_info()
    print(json.dumps(result))


# --------------------------------------------------------------------------
# Driver: machine facts, interleaved rounds, summary
# --------------------------------------------------------------------------


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def read_cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def read_loadavg():
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "unknown"


def read_cpu_times():
    """Return the aggregate CPU times from /proc/stat, or None if unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as file:
            fields = file.readline().split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...
    return [int(value) for value in fields[1:9]]


def describe_cpu_use(start, end):
    """Return the busy and steal shares of all CPU time between two samples."""
    if start is None or end is None:
        return "unknown"
    deltas = [after - before for before, after in zip(start, end)]
    total = sum(deltas) or 1
    idle = deltas[3] + deltas[4]
    return f"{1 - idle / total:.0%} busy, {deltas[7] / total:.1%} steal"


def machine_facts():
    import scipy.linalg  # noqa: F401 - loads the OpenBLAS that Numba calls
    import sklearn  # noqa: F401 - reports its OpenMP runtime

    return {
        "cpu_model": read_cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "versions": {
            name: package_version(name)
            for name in ("fastae", "numpy", "numba", "scipy", "torch", "scikit-learn")
        },
        "blas": blas_info(),
    }


def format_blas(pools):
    lines = []
    for pool in pools:
        lines.append(
            f"  {pool['internal_api']} {pool['version']} "
            f"({pool['user_api']}, {pool['num_threads']} threads) "
            f"{Path(pool['filepath']).name}"
        )
    return lines


def print_facts(facts):
    print(f"CPU: {facts['cpu_model']}, {facts['cpu_count']} cores", end="")
    print(f" ({facts['cpus_usable']} usable by this process)")
    print(f"Python {facts['python']}")
    print(", ".join(f"{name} {v}" for name, v in facts["versions"].items()))
    print("Thread pools in the driver process (numpy, scipy, scikit-learn):")
    for line in format_blas(facts["blas"]):
        print(line)
    print(f"/proc/loadavg at start: {facts['loadavg_start']}")


def run_subprocess(name, data_path, config, timeout):
    """Run one worker and return its JSON result, or ``{"error": ...}``."""
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
    # A fresh inductor cache per run, so each torch.compile warm-up is a cold
    # compile and no run reuses kernels compiled by an earlier one.
    cache_dir = tempfile.mkdtemp(prefix="peers-inductor-")
    environment["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
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
    finally:
        subprocess.run(["rm", "-rf", cache_dir], check=False)

    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-3:]
        return {"error": f"exit status {completed.returncode}: " + " | ".join(tail)}
    try:
        return json.loads(completed.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"no JSON result in the output: {completed.stdout[-300:]!r}"}


def load_data(args):
    if args.mnist is not None:
        from fastae.datasets import load_mnist

        images, _ = load_mnist(args.mnist)
        X = images.astype(np.float32) / np.float32(255)
        if args.rows is not None:
            if args.rows > X.shape[0]:
                raise SystemExit(
                    f"--rows {args.rows} is larger than the {X.shape[0]} MNIST "
                    "training images; pass at most that many."
                )
            X = X[: args.rows]
        return np.ascontiguousarray(X), f"MNIST training images from {args.mnist}"

    rows = DEFAULT_ROWS if args.rows is None else args.rows
    rng = np.random.default_rng(0)
    X = rng.random((rows, N_FEATURES), dtype=np.float32)
    return X, "uniform [0, 1) float32 from numpy.random.default_rng(0)"


def parse_hidden(text):
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --hidden {text!r}: expected comma-separated integers, "
            "for example 128 or 256,64"
        ) from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(
            f"invalid --hidden {text!r}: every width must be a positive integer"
        )
    return widths


def parse_only(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in IMPLEMENTATIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"invalid --only {text!r}: expected a comma list of "
            f"{', '.join(IMPLEMENTATIONS)}"
        )
    return names


def build_parser():
    parser = argparse.ArgumentParser(
        description=(
            "Time one training epoch of a dense autoencoder in fastae, PyTorch "
            "(eager and torch.compile) and scikit-learn, each in its own "
            "subprocess, in interleaved rounds. Also times the matrix products "
            "of one epoch with numpy as a hardware bound."
        )
    )
    parser.add_argument(
        "--hidden",
        type=parse_hidden,
        default=[128],
        help="encoder widths, comma-separated; the decoder mirrors them, so 128 "
        "trains 784-128-784 (default: 128)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="rows per minibatch (default: 256)"
    )
    parser.add_argument(
        "--loss",
        choices=LOSSES,
        default="binary_crossentropy",
        help="reconstruction loss; sklearn runs only with squared_error "
        "(default: binary_crossentropy)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (default: 3)"
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help=f"training rows (default: {DEFAULT_ROWS}, or all MNIST images)",
    )
    parser.add_argument(
        "--only",
        type=parse_only,
        default=None,
        help=f"comma list of implementations to run, from {', '.join(IMPLEMENTATIONS)} "
        "(default: all that support the loss)",
    )
    parser.add_argument(
        "--no-bound",
        action="store_true",
        help="skip the numpy GEMM hardware bound",
    )
    parser.add_argument(
        "--mnist",
        metavar="DIR",
        default=None,
        help="load the MNIST training images from DIR with "
        "fastae.datasets.load_mnist and scale them by 1/255, in place of "
        "random data",
    )
    parser.add_argument(
        "--json", metavar="PATH", default=None, help="write every raw time to PATH"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds before one subprocess is stopped (default: 900)",
    )
    # Internal: the driver starts each measurement as
    # ``epoch.py --worker NAME --data FILE.npy --config JSON``.
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    return parser


def select_implementations(args, parser):
    names = list(IMPLEMENTATIONS) if args.only is None else args.only
    if args.loss != "squared_error" and "sklearn" in names:
        if args.only is not None:
            parser.error(
                "sklearn has no binary cross-entropy loss; pass --loss "
                "squared_error or leave sklearn out of --only"
            )
        names.remove("sklearn")
    return names


def summarize(names, rounds, bound):
    """Print the medians and ratios and return them as a dict."""
    summary = {}
    for name in names:
        results = [round_results[name] for round_results in rounds]
        times = [r["epoch_s"] for r in results if "epoch_s" in r]
        errors = [r["error"] for r in results if "error" in r]
        entry = {"times_s": times, "errors": errors}
        if times:
            entry["median_s"] = statistics.median(times)
            entry["min_s"] = min(times)
            entry["max_s"] = max(times)
        warmups = [r["warmup_s"] for r in results if "warmup_s" in r]
        if name == "torch-compile" and warmups:
            entry["compile_median_s"] = statistics.median(warmups)
        summary[name] = entry

    torch_medians = [
        summary[name]["median_s"]
        for name in ("torch-eager", "torch-compile")
        if name in summary and "median_s" in summary[name]
    ]
    reference = min(torch_medians) if torch_medians else None

    print()
    print("Median of one epoch per implementation")
    header = f"{'implementation':16s} {'median s':>9s} {'min s':>8s} {'max s':>8s}"
    if reference is not None:
        header += f" {'/ fastest torch':>15s}"
    print(header)
    for name in names:
        entry = summary[name]
        if "median_s" not in entry:
            print(f"{name:16s} failed: {entry['errors'][0]}")
            continue
        line = (
            f"{name:16s} {entry['median_s']:9.3f} {entry['min_s']:8.3f} "
            f"{entry['max_s']:8.3f}"
        )
        if reference is not None:
            entry["ratio_to_fastest_torch"] = entry["median_s"] / reference
            line += f" {entry['ratio_to_fastest_torch']:15.2f}"
        print(line)
        if entry["errors"]:
            print(f"{'':16s} {len(entry['errors'])} runs failed: {entry['errors'][0]}")
        if "compile_median_s" in entry:
            print(
                f"{'':16s} cold compile and warm-up: median "
                f"{entry['compile_median_s']:.1f} s"
            )

    if bound is not None:
        print()
        if "error" in bound:
            print(f"GEMM bound failed: {bound['error']}")
        else:
            print(
                f"GEMM bound (numpy float32 matmul): {bound['epoch_s']:.3f} s per "
                f"epoch, {bound['epoch_flops'] / 1e9:.1f} GFLOP, "
                f"{bound['epoch_gflops_per_s']:.0f} GFLOP/s"
            )
            print(
                f"Peak of a {PEAK_GEMM_SIZE}^3 sgemm: "
                f"{bound['peak_gflops_per_s']:.0f} GFLOP/s"
            )
            if reference is not None:
                print(
                    f"GEMM bound / fastest torch median: "
                    f"{bound['epoch_s'] / reference:.2f}"
                )
            for name in names:
                if "median_s" in summary[name]:
                    share = bound["epoch_s"] / summary[name]["median_s"]
                    print(f"  GEMM bound / {name} median: {share:.2f}")
    return summary


def print_worker_details(names, rounds):
    """Print the thread pools and settings each worker reported once."""
    print()
    print("Per implementation (from its first successful subprocess):")
    for name in names:
        results = [r[name] for r in rounds if "epoch_s" in r[name]]
        if not results:
            continue
        first = results[0]
        details = []
        if "adam" in first:
            details.append(f"Adam {first['adam']}, {first['threads']} threads")
            details.append(
                f"torch BLAS {first['torch_blas']}, CPU capability "
                f"{first['cpu_capability']}"
            )
        if "fused_adam_error" in first:
            details.append(f"fused Adam failed: {first['fused_adam_error']}")
        if "dtype" in first:
            details.append(f"weights {first['dtype']}")
        print(f"{name}: " + "; ".join(details))
        for line in format_blas(first["blas"]):
            print(line)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.worker is not None:
        run_worker(args.worker, args.data, json.loads(args.config))
        return

    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; got {args.rounds}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1; got {args.batch_size}")
    names = select_implementations(args, parser)

    facts = machine_facts()
    facts["loadavg_start"] = read_loadavg()
    cpu_times_start = read_cpu_times()
    print_facts(facts)

    X, source = load_data(args)
    if X.shape[0] < max(args.batch_size, WARMUP_ROWS):
        parser.error(
            f"need at least max(batch size, {WARMUP_ROWS}) rows for the warm-up "
            f"fits; got {X.shape[0]}"
        )
    config = {"hidden": args.hidden, "batch_size": args.batch_size, "loss": args.loss}
    widths = "-".join(str(w) for w in layer_widths(args.hidden))
    print(
        f"Network {widths}, loss {args.loss}, batch size {args.batch_size}, "
        f"{X.shape[0]} rows of {source}"
    )
    print(f"{args.rounds} rounds of: {', '.join(names)}")

    with tempfile.TemporaryDirectory(prefix="peers-epoch-") as directory:
        data_path = os.path.join(directory, "X.npy")
        np.save(data_path, X)
        del X

        rounds = []
        for round_index in range(args.rounds):
            round_results = {}
            for name in names:
                result = run_subprocess(name, data_path, config, args.timeout)
                round_results[name] = result
                status_text = (
                    f"{result['epoch_s']:.3f} s"
                    if "epoch_s" in result
                    else f"failed: {result['error']}"
                )
                print(f"round {round_index + 1} {name:14s} {status_text}", flush=True)
            rounds.append(round_results)

        bound = None
        if not args.no_bound:
            bound = run_subprocess(HARDWARE_BOUND, data_path, config, args.timeout)

    print_worker_details(names, rounds)
    summary = summarize(names, rounds, bound)
    facts["loadavg_end"] = read_loadavg()
    facts["cpu_use"] = describe_cpu_use(cpu_times_start, read_cpu_times())
    print()
    print(f"/proc/loadavg at end: {facts['loadavg_end']}")
    print(f"CPU time during the run (/proc/stat, all processes): {facts['cpu_use']}")

    if args.json is not None:
        record = {
            "config": {**config, "rounds": args.rounds, "data": source},
            "machine": facts,
            "rounds": rounds,
            "summary": summary,
            "gemm_bound": bound,
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
        print(f"Raw times written to {args.json}")


if __name__ == "__main__":
    main()
