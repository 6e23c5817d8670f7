"""Write docs/benchmarks.md and its plot from the JSON of bench/peers/compare.py.

Every number on the generated page is read from the JSON: the results, the
machine, the versions and the settings of the run. Skipped implementations and
failed runs appear as such in the tables.

Run ``python bench/peers/report.py --help`` for the options.
"""

import argparse
import json
import os
import shlex
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "compare.json"
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
DEFAULT_IMAGE = REPO_ROOT / "docs" / "images" / "samples-per-second.png"

FASTAE = "fastae"
BOUND = "gemm-bound"
PLOTTED_SCENARIOS = ("bce-b32", "bce-b256", "bce-b1024")
LOSS_NAMES = {
    "binary_crossentropy": "binary cross-entropy",
    "squared_error": "squared error",
}


# --------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------


def display_path(path):
    """Return ``path`` relative to the repository root if it is inside it."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def cell(text):
    """Return ``text`` on one line, shortened, with ``|`` escaped for a table."""
    text = " ".join(str(text).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return text.replace("|", "\\|")


def seconds(value):
    return f"{value:.4g}"


def megabytes(value):
    return f"{value / 1e6:.1f}"


def ratio(value):
    return "-" if value is None else f"{value:.2f}"


def plural(count, noun):
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def duration(value):
    """Return ``value`` seconds as seconds below two minutes, else as minutes."""
    if value < 120:
        return plural(round(value), "second")
    return plural(round(value / 60), "minute")


def network(features, hidden):
    widths = [features, *hidden, *reversed(hidden[:-1]), features]
    return "-".join(str(width) for width in widths)


def first_success(entry):
    """Return the first run of an implementation that has a value, or None."""
    for run in entry.get("runs", []):
        if "value" in run:
            return run
    return None


def median_of(entry, key):
    """Return the median of ``key`` over the successful runs, or None."""
    values = sorted(run[key] for run in entry.get("runs", []) if key in run)
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def not_measured(entry):
    """Return why an implementation has no median: skipped or failed."""
    status = entry.get("status", "failed")
    if status.startswith("skipped"):
        return status
    errors = entry.get("errors") or ["no result"]
    return f"failed: {errors[0]}"


def failure_note(name, entry):
    errors = entry.get("errors") or []
    if not errors or "median" not in entry:
        return None
    total = len(entry.get("runs", []))
    return f"{len(errors)} of {total} runs of `{name}` failed: {cell(errors[0])}"


# --------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------


def write_plot(record, image_path):
    """Plot samples per second against batch size for the bce scenarios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = record.get("scenarios", {})
    present = [name for name in PLOTTED_SCENARIOS if name in scenarios]
    lines = {}
    for scenario in present:
        summary = scenarios[scenario]
        for name, entry in summary["implementations"].items():
            if "samples_per_s" in entry:
                points = lines.setdefault(name, [])
                points.append((summary["batch_size"], entry["samples_per_s"]))

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, points in lines.items():
        points.sort()
        batch_sizes = [batch for batch, _ in points]
        rates = [rate for _, rate in points]
        style = {"linestyle": "--", "color": "0.4"} if name == BOUND else {}
        axes.plot(batch_sizes, rates, marker="o", label=name, **style)
    if lines:
        axes.legend()
    else:
        axes.text(
            0.5,
            0.5,
            "no results for the bce scenarios",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
    batch_sizes = sorted(scenarios[name]["batch_size"] for name in present)
    axes.set_xscale("log")
    if batch_sizes:
        axes.set_xticks(batch_sizes, [str(size) for size in batch_sizes])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("batch size")
    axes.set_ylabel("samples per second (one epoch)")
    data = record.get("data", {})
    if present:
        widths = network(data.get("features", "?"), scenarios[present[0]]["hidden"])
        axes.set_title(
            f"{widths}, binary cross-entropy, {data.get('rows', '?')} rows",
            fontsize="medium",
        )
    axes.grid(True, which="major", alpha=0.3)
    figure.tight_layout()
    image_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(image_path, dpi=120)
    plt.close(figure)


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def header_section(record, json_path, regenerate):
    command = record["command"]
    if Path(command["cwd"]).resolve() == REPO_ROOT:
        place = "the repository root"
    else:
        place = f"`{command['cwd']}`"
    lines = [
        "# Benchmarks",
        "",
        (
            f"This page is generated by `bench/peers/report.py` from "
            f"`{display_path(json_path)}`. Do not edit it by hand: rerun the "
            f"comparison, then regenerate the page with `{regenerate}`."
        ),
        "",
        (
            f"The results come from this command, run in {place} from "
            f"{record['started_utc']} to {record['finished_utc']} "
            f"({duration(record['elapsed_s'])}):"
        ),
        "",
        "```sh",
        command["line"],
        "```",
        "",
    ]
    return lines


def summary_section(record):
    lines = [
        "## Summary",
        "",
        (
            "Median of each scenario for fastae and the fastest peer. A ratio "
            "below 1 means that fastae took less time than that peer."
        ),
        "",
        (
            "| Scenario | fastae median (s) | Fastest peer | Peer median (s) "
            "| fastae / fastest peer |"
        ),
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for name, summary in record["scenarios"].items():
        if summary["kind"] not in ("training", "transform"):
            continue
        entries = summary["implementations"]
        fastae = entries.get(FASTAE, {})
        fastae_text = seconds(fastae["median"]) if "median" in fastae else "-"
        peer = summary.get("best_peer")
        peer_entry = entries.get(peer, {}) if peer else {}
        if "median" in peer_entry:
            peer_name = f"`{peer}`"
            peer_text = seconds(peer_entry["median"])
        else:
            peer_name, peer_text = "none measured", "-"
        fastae_ratio = ratio(summary.get("fastae_ratio_to_best_peer"))
        lines.append(
            f"| `{name}` | {fastae_text} | {peer_name} | {peer_text} | {fastae_ratio} |"
        )
    lines.append("")
    return lines


def data_description(source):
    """Return the JSON's data source without the local folder it was read from.

    The folder is specific to the machine of the run, and the command line
    above the tables already shows it.
    """
    return source.split(" from ", 1)[0] if source.startswith("MNIST") else source


def method_section(record):
    settings = record["settings"]
    data = record["data"]
    lines = [
        "## How it measures",
        "",
        (
            f"The data is {data['rows']} rows of {data['features']} float32 values: "
            f"{data_description(data['source'])}. Every measurement runs in a fresh subprocess, so no "
            "library's thread pools, allocator or JIT cache affect another. The "
            f"run had {plural(settings['rounds'], 'round')}. Rounds interleave all "
            "scenarios and implementations: round 1 runs each of them once, then "
            "round 2 does, and so on, so slow drift in machine load spreads over "
            "all of them. Each table gives the median, minimum and maximum over "
            "the rounds."
        ),
        "",
        "- *Samples/s* is the number of rows divided by the median.",
        (
            "- *Median / fastest peer* divides each median by the smallest median "
            "of the peers, the implementations other than fastae and the GEMM "
            "bound. Below 1 is faster than every peer."
        ),
        (
            "- *GEMM bound / median* is the GEMM bound's median divided by the "
            "implementation's median: the share of the time that the matrix "
            "products alone would take on numpy's BLAS."
        ),
        "",
    ]
    return lines


def keras_backend(record):
    """Return the Keras backend that the runs reported, else the planned one."""
    for summary in record["scenarios"].values():
        run = first_success(summary["implementations"].get("keras", {}))
        if run is not None and "backend" in run:
            return run["backend"]
    return record["machine"].get("keras_backend") or "none"


def training_method_lines(record):
    settings = record["settings"]
    warmup = settings["warmup_rows"]
    torch_batches = settings["torch_warmup_batches"]
    threads = settings["torch_threads"]
    learning_rate = settings["learning_rate"]
    peak = settings["peak_gemm_size"]
    backend = keras_backend(record)
    return [
        (
            "Each training scenario trains the same dense autoencoder in every "
            "implementation for one epoch of minibatch Adam with learning rate "
            f"{learning_rate:g}. The network has the encoder widths of the "
            "scenario, a decoder mirroring them, ReLU on every hidden layer and a "
            "linear output layer whose logits feed the loss."
        ),
        "",
        "| Name | What one measurement times |",
        "| --- | --- |",
        (
            "| `fastae` | `AutoencoderTransformer(hidden_layer_sizes=..., loss=..., "
            "batch_size=..., max_iter=1, tol=0.0, random_state=0).fit(X)`, after an "
            f"untimed fit on {warmup} rows (or one minibatch, if larger) that "
            "compiles the Numba kernels or loads them from the disk cache |"
        ),
        (
            "| `sklearn` | `MLPRegressor(hidden_layer_sizes=..., "
            'activation="relu", solver="adam", batch_size=..., max_iter=1, '
            "shuffle=True, random_state=0).fit(X, X)` on float32 data, with every "
            "hidden width of the network, after the same untimed warm-up fit. "
            "Only in `squared-b256`, because it has no binary cross-entropy |"
        ),
        (
            "| `torch-eager` | One epoch of an `nn.Sequential` of `Linear` and "
            "`ReLU` layers: a `randperm` of the rows, `index_select` per "
            "minibatch, forward, `BCEWithLogitsLoss` or `MSELoss`, backward and "
            f"`Adam(fused=True)`, with `torch.set_num_threads({threads})`, after "
            f"an untimed warm-up of {torch_batches} full minibatches and one of the "
            "epoch's last, partial size |"
        ),
        (
            "| `torch-compile` | The same with the model wrapped in "
            "`torch.compile`. The warm-up compiles both batch shapes in an empty "
            "inductor cache, so every compile is cold, and its time is reported "
            "below the table. The loss and the optimizer step stay eager |"
        ),
        (
            "| `keras` | `Sequential(...).fit(X, X, batch_size=..., epochs=1, "
            "shuffle=True)` with `Dense` layers, `BinaryCrossentropy(from_logits="
            "True)` or `MeanSquaredError` and `Adam`, after an untimed fit on the "
            f"same warm-up minibatches as PyTorch. Backend of this run: `{backend}` "
            "(the `KERAS_BACKEND` variable, else TensorFlow when installed, else "
            "torch) |"
        ),
        (
            "| `gemm-bound` | Every matrix product of one epoch, timed with "
            "numpy's float32 `matmul`: per layer and minibatch the forward "
            "product, the weight gradient and, except for the first layer, the "
            "input gradient. It leaves out bias, activation, loss and optimizer "
            f"work, so it is a lower bound for an epoch on this BLAS. A {peak}^3 "
            "sgemm gives the BLAS's peak rate |"
        ),
        "",
        (
            "The fastae, scikit-learn and Keras times are whole `fit` calls, so "
            "they include input checks and the shuffle as well as the epoch, and "
            "fastae and scikit-learn also include weight initialisation. The "
            "PyTorch times cover the epoch loop only, with the model and optimizer "
            "built beforehand. fastae and scikit-learn add their default L2 "
            "penalty `alpha`, and the PyTorch and Keras models have no weight "
            "decay."
        ),
        "",
    ]


def training_scenario_lines(name, summary, features):
    entries = summary["implementations"]
    lines = [
        f"### `{name}`",
        "",
        (
            f"{summary['description']}, batch size {summary['batch_size']}, "
            f"{summary['rows']} rows."
        ),
        "",
    ]
    lines += result_table(summary)
    bound = first_success(entries.get(BOUND, {}))
    notes = []
    compile_seconds = median_of(entries.get("torch-compile", {}), "warmup_s")
    if compile_seconds is not None:
        notes.append(
            f"`torch.compile` took a median of {seconds(compile_seconds)} s to "
            "compile and warm up."
        )
    if bound is not None:
        epoch_rate = median_of(entries[BOUND], "epoch_gflops_per_s")
        peak_rate = median_of(entries[BOUND], "peak_gflops_per_s")
        notes.append(
            f"The GEMM bound counts {bound['epoch_flops'] / 1e9:.1f} GFLOP per "
            f"epoch. Its median rate was {epoch_rate:.0f} GFLOP/s for these "
            f"products and {peak_rate:.0f} GFLOP/s for the peak sgemm."
        )
    lines += notes_lines(notes, entries)
    return lines


def result_table(summary):
    lines = [
        (
            "| Implementation | Median (s) | Min (s) | Max (s) | Samples/s "
            "| Median / fastest peer | GEMM bound / median |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, entry in summary["implementations"].items():
        if "median" not in entry:
            lines.append(f"| `{name}` | {cell(not_measured(entry))} | | | | | |")
            continue
        lines.append(
            f"| `{name}` | {seconds(entry['median'])} | {seconds(entry['min'])} "
            f"| {seconds(entry['max'])} | {entry['samples_per_s']:,.0f} "
            f"| {ratio(entry.get('ratio_to_best_peer'))} "
            f"| {ratio(entry.get('gemm_bound_fraction'))} |"
        )
    lines.append("")
    return lines


def notes_lines(notes, entries):
    for name, entry in entries.items():
        note = failure_note(name, entry)
        if note is not None:
            notes.append(note + ".")
    if not notes:
        return []
    return [" ".join(notes), ""]


def training_section(record, image_markdown):
    scenarios = {
        name: summary
        for name, summary in record["scenarios"].items()
        if summary["kind"] == "training"
    }
    if not scenarios:
        return []
    lines = ["## Training: one epoch", ""]
    lines += training_method_lines(record)
    if any(name in scenarios for name in PLOTTED_SCENARIOS):
        lines += [
            (
                "Samples per second against batch size, from the `bce-b32`, "
                "`bce-b256` and `bce-b1024` scenarios:"
            ),
            "",
            image_markdown,
            "",
        ]
    for name, summary in scenarios.items():
        lines += training_scenario_lines(name, summary, record["data"]["features"])
    return lines


def transform_section(record):
    summary = record["scenarios"].get("transform")
    if summary is None:
        return []
    repeats = record["settings"]["transform_repeats"]
    width = summary["hidden"][-1]
    lines = [
        "## transform",
        "",
        (
            f"Each measurement encodes all {summary['rows']} rows to codes of width "
            f"{width}: one untimed call, then {repeats} timed calls, of which the "
            "fastest counts. The table gives the median of that time over the "
            "rounds."
        ),
        "",
        "| Name | What one measurement times |",
        "| --- | --- |",
        (
            f"| `fastae` | `transform(X)` of an `AutoencoderTransformer"
            f"(hidden_layer_sizes=({width},))` fitted for one epoch |"
        ),
        (
            f"| `sklearn-pca` | `transform(X)` of `sklearn.decomposition.PCA"
            f"({width})` fitted on the same data |"
        ),
        "| `numpy` | `np.maximum(X @ W + b, 0)` with float32 `W` and `b` |",
        (
            "| `gemm-bound` | `np.matmul(X, W, out=codes)` alone, into a "
            "preallocated array |"
        ),
        "",
    ]
    lines += result_table(summary)
    lines += notes_lines([], summary["implementations"])
    return lines


def startup_section(record):
    summary = record["scenarios"].get("startup")
    if summary is None:
        return []
    entries = summary["implementations"]
    descriptions = {
        "import": "`import fastae` minus `import sklearn.base, numba`, each "
        "timed with `time.perf_counter` in its own fresh interpreter",
        "first-fit-warm-cache": "The first one-epoch fit in a new process minus "
        "a second, identical fit in that process, with Numba's disk cache "
        "filled beforehand: loading the kernels from the cache",
        "first-fit-cold-compile": "The same with `FASTAE_DISABLE_CACHE=1`, so "
        "the first fit compiles every kernel in memory",
    }
    component_keys = {
        "import": ("import_fastae_s", "import_baseline_s"),
        "first-fit-warm-cache": ("first_fit_s", "steady_fit_s"),
        "first-fit-cold-compile": ("first_fit_s", "steady_fit_s"),
    }
    lines = [
        "## Start-up",
        "",
        (
            f"The fits train {network(record['data']['features'], summary['hidden'])} "
            f"with {LOSS_NAMES.get(summary['loss'], summary['loss'])} and batch size "
            f"{summary['batch_size']} on all {record['data']['rows']} rows."
        ),
        "",
        (
            "| Measurement | Median (s) | Min (s) | Max (s) | Median of the parts (s) "
            "| What it times |"
        ),
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for name, entry in entries.items():
        description = descriptions.get(name, "")
        if "median" not in entry:
            lines.append(
                f"| `{name}` | {cell(not_measured(entry))} | | | | {description} |"
            )
            continue
        first_key, second_key = component_keys.get(name, (None, None))
        first, second = median_of(entry, first_key), median_of(entry, second_key)
        parts = "-"
        if first is not None and second is not None:
            parts = f"{seconds(first)} - {seconds(second)}"
        lines.append(
            f"| `{name}` | {seconds(entry['median'])} | {seconds(entry['min'])} "
            f"| {seconds(entry['max'])} | {parts} | {description} |"
        )
    lines.append("")
    lines += notes_lines([], entries)
    return lines


def memory_section(record):
    summary = record["scenarios"].get("memory")
    if summary is None:
        return []
    entries = summary["implementations"]
    lines = [
        "## Memory",
        "",
        (
            f"Peak memory of one fit epoch of "
            f"{network(record['data']['features'], summary['hidden'])} with batch "
            f"size {summary['batch_size']} on all {record['data']['rows']} rows, "
            "measured in a fresh process after the data is loaded and an untimed "
            "fit on a few rows has loaded the kernels. The limit is the data's own "
            f"size ({megabytes(summary['data_bytes'])} MB) plus "
            f"{megabytes(summary['margin_bytes'])} MB."
        ),
        "",
        (
            "- `rss`: the rise of the peak resident set size "
            "(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) over the fit. It counts "
            "only memory beyond the process's earlier peak, and only pages that "
            "the fit touched."
        ),
        (
            "- `tracemalloc`: the peak of the memory that `tracemalloc` traced "
            "during the fit. NumPy reports its arrays to `tracemalloc`, but memory "
            "that compiled Numba code allocates itself is not traced."
        ),
        "",
        (
            "| Measurement | Median (MB) | Min (MB) | Max (MB) | Limit (MB) "
            "| Within the limit |"
        ),
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    limit = megabytes(summary["limit_bytes"])
    for name, entry in entries.items():
        if "median" not in entry:
            lines.append(f"| `{name}` | {cell(not_measured(entry))} | | | {limit} | |")
            continue
        within = "yes" if entry.get("within_limit") else "no"
        lines.append(
            f"| `{name}` | {megabytes(entry['median'])} | {megabytes(entry['min'])} "
            f"| {megabytes(entry['max'])} | {limit} | {within} |"
        )
    lines.append("")
    notes = []
    over_current = median_of(entries.get("rss", {}), "peak_over_rss_before_bytes")
    if over_current is not None:
        notes.append(
            "Measured from the resident set size just before the fit instead of "
            f"the earlier peak, the `rss` rise had a median of "
            f"{megabytes(over_current)} MB."
        )
    lines += notes_lines(notes, entries)
    return lines


def format_pools(pools):
    lines = []
    for pool in pools:
        name = pool.get("internal_api")
        if pool.get("version"):
            name = f"{name} {pool['version']}"
        lines.append(
            f"  - {name} ({pool.get('user_api')}, {pool.get('num_threads')} "
            f"threads), `{Path(pool.get('filepath') or '?').name}`"
        )
    return lines


def machine_section(record):
    machine = record["machine"]
    lines = [
        "## Machine and libraries",
        "",
        (
            f"- CPU: {machine['cpu_model']} (from /proc/cpuinfo), "
            f"{machine['cpu_count']} cores, {machine['cpus_usable']} usable by the "
            "benchmark"
        ),
        f"- Platform: {machine.get('platform', 'unknown')}, Python {machine['python']}",
        (
            f"- Numba: {machine.get('numba_num_threads')} threads, SVML "
            f"{'used' if machine.get('numba_using_svml') else 'not available'}"
        ),
        (
            f"- `/proc/loadavg` at the start: {machine.get('loadavg_start')}, at the "
            f"end: {machine.get('loadavg_end')}"
        ),
        (
            f"- CPU time during the run (`/proc/stat`, all processes): "
            f"{machine.get('cpu_use')}"
        ),
    ]
    environment = machine.get("environment") or {}
    if environment:
        settings = ", ".join(f"`{key}={value}`" for key, value in environment.items())
        lines.append(f"- Environment: {settings}")
    lines += ["", "| Package | Version |", "| --- | --- |"]
    for name, version in machine["versions"].items():
        lines.append(f"| {name} | {version} |")
    lines += [
        "",
        (
            "Thread pools as threadpoolctl reports them, first in the driver "
            "process (numpy, scipy and scikit-learn loaded), then in the first "
            "successful run of each implementation after its measurement:"
        ),
        "",
        "- driver",
        *format_pools(machine.get("blas", [])),
    ]
    seen = set()
    for summary in record["scenarios"].values():
        for name, entry in summary["implementations"].items():
            run = first_success(entry)
            if name in seen or run is None or "blas" not in run:
                continue
            seen.add(name)
            extras = []
            if "threads" in run:
                extras.append(f"{run['threads']} torch threads")
            if "adam" in run:
                extras.append(f"Adam {run['adam']}")
            if "torch_blas" in run:
                extras.append(
                    f"torch BLAS {run['torch_blas']}, CPU capability "
                    f"{run['cpu_capability']}"
                )
            if "backend" in run:
                extras.append(f"Keras backend {run['backend']}")
            suffix = f" ({'; '.join(extras)})" if extras else ""
            lines.append(f"- `{name}`{suffix}")
            lines += format_pools(run["blas"])
    lines.append("")
    return lines


def other_benchmarks_section(compare_command):
    return [
        "## Running the benchmarks",
        "",
        (
            "The comparison needs the optional peers, which are no dependencies of "
            'fastae: `python -m pip install -e ".[bench]"` installs the pinned '
            "PyTorch and Keras. A peer that is not installed is listed as skipped. "
            "Then:"
        ),
        "",
        "```sh",
        compare_command,
        "python bench/peers/report.py",
        "```",
        "",
        (
            "`--mnist DIR` uses the MNIST training images in place of random data, "
            "`--scenarios` and `--skip` choose what runs, and `--rounds` sets the "
            "number of rounds. Check that `/proc/loadavg` is near 0 before a run, "
            "because every implementation uses all cores. Treat small differences "
            "between two runs as noise, and use more rounds to narrow them."
        ),
        "",
        "Two more scripts time single configurations:",
        "",
        (
            "- `bench/peers/epoch.py` times one training epoch of fastae, PyTorch "
            "and scikit-learn for one network, loss and batch size of your choice "
            "(`--hidden`, `--loss`, `--batch-size`)."
        ),
        (
            "- `bench/test_epoch.py` times one epoch of fastae and scikit-learn's "
            "`MLPRegressor` with pytest-benchmark: `python -m pytest bench "
            "--benchmark-enable -p no:cacheprovider`. Without `--benchmark-enable` "
            "it runs once on a small slice as a smoke test, and the environment "
            "variable `FASTAE_BENCH_ROWS` sets the number of rows."
        ),
        "",
    ]


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def render(record, json_path, image_markdown, regenerate):
    """Return the Markdown page for the comparison results in ``record``."""
    lines = header_section(record, json_path, regenerate)
    lines += summary_section(record)
    lines += method_section(record)
    lines += training_section(record, image_markdown)
    lines += transform_section(record)
    lines += startup_section(record)
    lines += memory_section(record)
    lines += machine_section(record)
    lines += other_benchmarks_section("python bench/peers/compare.py")
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def build_parser():
    parser = argparse.ArgumentParser(
        description=(
            "Write the benchmark page and its samples-per-second plot from the "
            "JSON that bench/peers/compare.py wrote."
        )
    )
    parser.add_argument(
        "--json",
        default=str(DEFAULT_JSON),
        help="results of compare.py (default: bench/results/compare.json)",
    )
    parser.add_argument(
        "--output",
        default=str(DEFAULT_OUTPUT),
        help="Markdown page to write (default: docs/benchmarks.md)",
    )
    parser.add_argument(
        "--image",
        default=str(DEFAULT_IMAGE),
        help="PNG plot to write (default: docs/images/samples-per-second.png)",
    )
    return parser


def regenerate_command(args):
    """Return the command line that writes the page again with these paths."""
    argv = ["python", "bench/peers/report.py"]
    for option, value, default in (
        ("--json", args.json, DEFAULT_JSON),
        ("--output", args.output, DEFAULT_OUTPUT),
        ("--image", args.image, DEFAULT_IMAGE),
    ):
        if Path(value).resolve() != default:
            argv += [option, display_path(value)]
    return shlex.join(argv)


def main(argv=None):
    args = build_parser().parse_args(argv)
    json_path = Path(args.json)
    try:
        record = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise SystemExit(
            f"{json_path} not found. Run bench/peers/compare.py first, or pass "
            "--json PATH."
        ) from None
    output = Path(args.output)
    image = Path(args.image)
    write_plot(record, image)
    image_link = Path(os.path.relpath(image.resolve(), output.resolve().parent))
    image_markdown = (
        f"![Samples per second against batch size]({image_link.as_posix()})"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        render(record, json_path, image_markdown, regenerate_command(args))
    )
    print(f"Wrote {output} and {image}")


if __name__ == "__main__":
    main()
