"""Check and time fastae's CUDA kernels on an NVIDIA GPU, and print a table.

Run it on a machine with a GPU after ``pip install '.[cuda]'`` (and PyTorch
for its column)::

    python bench/gpu.py

It first checks the GPU against the CPU on fresh random data: the fused forward
product, and one epoch of training from the same weights. It then times, with
CUDA events after a warm-up: the forward kernel, one epoch of 784-128-784 with
binary cross-entropy and Adam at batch 256 and 4096 on 60,000 rows, and
``transform`` of 1,000,000 rows. GFLOP/s are compared with the GPU's float32
rate without tensor cores, computed from its multiprocessor count and clock.
The whole run, compilation included, is sized to take under 5 minutes.

``--scale`` shrinks every size, which lets the script run under numba-cuda's
simulator (``NUMBA_ENABLE_CUDASIM=1``) as a check of the script itself.
"""

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastae import AutoencoderTransformer
from fastae._cuda import simulated, unavailable_reason
from fastae._engine import OptimizerState, Trainer
from fastae._kernels.activations import ACTIVATION_CODES
from fastae._kernels.losses import LOSS_CODES
from fastae._network import build_layout, initial_parameters

# Float32 lanes per streaming multiprocessor, by compute capability; others
# are counted as 128.
_LANES = {(7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 9): 128, (9, 0): 128}

HYPER = [1e-3, 0.9, 0.9, 0.999, 1e-8, 1e-4]  # lr, momentum, beta_1, beta_2, eps, alpha


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every row count and width by this (default: 1)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of each measurement"
    )
    return parser.parse_args()


def peak_gflops(device):
    """Return the float32 rate without tensor cores, from the device's attributes."""
    capability = tuple(device.compute_capability)
    lanes = _LANES.get(capability, 128)
    clock_ghz = device.CLOCK_RATE / 1e6  # the attribute is in kHz
    return device.MULTIPROCESSOR_COUNT * lanes * 2 * clock_ghz


def time_events(function, repeats):
    """Return the median milliseconds of ``function`` between two CUDA events."""
    from numba import cuda

    function()  # warm-up, compilation included
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = cuda.event(), cuda.event()
        start.record()
        function()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return float(np.median(times))


def check_against_cpu(rows, width, code, rng):
    """Compare the GPU with the CPU on fresh random data; return the largest errors."""
    from numba import cuda

    from fastae._cuda import kernels
    from fastae._cuda.engine import CudaTrainer
    from fastae._kernels.dense import dense_forward

    X = rng.random((rows, width), dtype=np.float32)
    W = (rng.standard_normal((width, code)) / math.sqrt(width)).astype(np.float32)
    b = rng.standard_normal(code).astype(np.float32)
    expected = np.empty((rows, code), np.float32)
    dense_forward(X, W, b, ACTIVATION_CODES["relu"], expected)
    out = cuda.device_array((rows, code), np.float32)
    kernels.dense_forward(
        cuda.to_device(X), cuda.to_device(W), cuda.to_device(b), 1, out
    )
    forward_error = float(np.max(np.abs(out.copy_to_host() - expected)))

    layout = build_layout([width, code, width], "relu", "sigmoid")
    params = initial_parameters(layout, rng, np.float32)
    order = rng.permutation(rows).astype(np.int64)
    settings = {
        "loss": LOSS_CODES["binary_crossentropy"],
        "solver": "adam",
        "nesterov": False,
        "hyper": HYPER,
        "batch_size": 256,
    }
    trainers = []
    for trainer_class in (Trainer, CudaTrainer):
        state = OptimizerState("adam", params.size, np.float32)
        trainer = trainer_class(params, layout, optimizer_state=state, **settings)
        trainer.run_epoch(X, order)
        trainers.append(trainer)
    # Relative to how far the epoch moved the parameters: Adam's normalised
    # steps turn rounding differences in tiny gradients into whole steps.
    moved = float(np.max(np.abs(trainers[0].params - params)))
    epoch_error = float(np.max(np.abs(trainers[0].params - trainers[1].params)))
    return forward_error, epoch_error / moved


def main():
    arguments = parse_arguments()
    reason = unavailable_reason()
    if reason is not None:
        sys.exit(f"No GPU to benchmark: {reason}.")
    from numba import cuda

    from fastae._cuda import kernels
    from fastae._cuda.engine import CudaTrainer

    def scaled(n):
        return max(4, int(n * arguments.scale))

    if simulated():
        # Simulated threads are slow: small tiles and blocks, as in the tests.
        kernels.TILE, kernels.THREADS = 4, 8

    rng = np.random.default_rng(0)
    width, code = scaled(784), scaled(128)
    rows = scaled(60_000)
    repeats = arguments.repeats
    device = cuda.get_current_device()
    name = getattr(device, "name", "numba-cuda's simulator")
    name = name.decode() if isinstance(name, bytes) else str(name)
    peak = peak_gflops(device) if not simulated() else float("nan")
    print(f"GPU: {name}, float32 rate without tensor cores {peak:,.0f} GFLOP/s")

    started = time.perf_counter()
    forward_error, epoch_error = check_against_cpu(scaled(4096), width, code, rng)
    print(
        f"Against the CPU: forward max error {forward_error:.2e}; after one epoch "
        f"the parameters differ by {epoch_error:.2e} of their largest change"
    )
    if forward_error > 1e-4 or epoch_error > 0.1:
        sys.exit("The GPU disagrees with the CPU; not timing it.")

    table = []

    # The fused forward product alone.
    forward_rows = scaled(65_536)
    X = cuda.to_device(rng.random((forward_rows, width), dtype=np.float32))
    W = cuda.to_device(
        (rng.standard_normal((width, code)) / math.sqrt(width)).astype(np.float32)
    )
    b = cuda.to_device(np.zeros(code, np.float32))
    out = cuda.device_array((forward_rows, code), np.float32)
    ms = time_events(lambda: kernels.dense_forward(X, W, b, 1, out), repeats)
    flops = 2 * forward_rows * width * code
    table.append((f"forward {forward_rows}x{width}x{code}, relu", ms, flops))

    # One epoch of 784-128-784 at two batch sizes.
    X_host = rng.random((rows, width), dtype=np.float32)
    layout = build_layout([width, code, width], "relu", "sigmoid")
    params = initial_parameters(layout, rng, np.float32)
    # Two forward and three backward products per row (the first layer's
    # input gradient is not needed).
    epoch_flops = 5 * 2 * rows * width * code
    for batch in (256, 4096):
        trainer = CudaTrainer(
            params,
            layout,
            loss=LOSS_CODES["binary_crossentropy"],
            solver="adam",
            nesterov=False,
            hyper=HYPER,
            batch_size=min(batch, rows),
            optimizer_state=OptimizerState("adam", params.size, np.float32),
        )
        order = rng.permutation(rows).astype(np.int64)
        ms = time_events(lambda t=trainer, o=order: t.run_epoch(X_host, o), repeats)
        table.append((f"epoch, {rows} rows, batch {batch}", ms, epoch_flops))

    # transform of a million rows that are already on the GPU.
    transform_rows = scaled(1_000_000)
    model = AutoencoderTransformer((code,), max_iter=1, device="cuda", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_host[: scaled(2048)])
    X_big = cuda.to_device(rng.random((transform_rows, width), dtype=np.float32))
    ms = time_events(lambda: model.transform(X_big), repeats)
    table.append(
        (f"transform, {transform_rows} rows", ms, 2 * transform_rows * width * code)
    )

    torch_times, torch_missing = time_torch(rows, width, code, X_host, repeats)

    print()
    print("| measurement | fastae ms | GFLOP/s | of float32 rate | PyTorch ms |")
    print("|---|---|---|---|---|")
    for (label, ms, flops), torch_ms in zip(table, torch_times):
        gflops = flops / ms / 1e6
        torch_cell = torch_missing if torch_ms is None else f"{torch_ms:.2f}"
        print(
            f"| {label} | {ms:.2f} | {gflops:,.0f} | {gflops / peak:.2f} | {torch_cell} |"
        )
    print(f"\nTotal time, compilation included: {time.perf_counter() - started:.0f} s")


def time_torch(rows, width, code, X_host, repeats):
    """Time the same measurements in PyTorch on the same GPU.

    Returns the four times in milliseconds and None, or four Nones and the
    reason PyTorch could not run.
    """
    try:
        import torch
    except ImportError:
        return [None] * 4, "not installed"
    if not torch.cuda.is_available():
        return [None] * 4, "no CUDA in this PyTorch"
    device = torch.device("cuda")

    def timed(function):
        function()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            function()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        return float(np.median(times))

    # TF32 would use tensor cores at reduced precision; fastae computes in
    # float32, so PyTorch does too.
    torch.backends.cuda.matmul.allow_tf32 = False
    forward_rows = min(65_536, rows * 2)
    X = torch.rand(forward_rows, width, device=device)
    layer = torch.nn.Linear(width, code).to(device)
    with torch.no_grad():
        forward = timed(lambda: torch.relu(layer(X)))

    data = torch.from_numpy(X_host).to(device)
    epochs = []
    for batch in (256, 4096):
        network = torch.nn.Sequential(
            torch.nn.Linear(width, code), torch.nn.ReLU(), torch.nn.Linear(code, width)
        ).to(device)
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-3, fused=True)
        loss_function = torch.nn.BCEWithLogitsLoss()

        def epoch(
            network=network,
            optimizer=optimizer,
            loss_function=loss_function,
            batch=batch,
        ):
            order = torch.randperm(rows, device=device)
            for start in range(0, rows, batch):
                inputs = data[order[start : start + batch]]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_function(network(inputs), inputs)
                loss.backward()
                optimizer.step()

        epochs.append(timed(epoch))

    big = torch.rand(1_000_000 if rows >= 60_000 else rows, width, device=device)
    with torch.no_grad():
        transform = timed(lambda: torch.relu(layer(big)))
    return [forward, *epochs, transform], None


if __name__ == "__main__":
    main()
