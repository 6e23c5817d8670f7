"""Smoke tests of bench/peers/compare.py and report.py on 1,024 rows.

The comparison runs one round of two scenarios with the PyTorch and Keras
peers skipped, because each of their subprocesses took 10 to 20 s on a
loaded 2-core machine. The report turns the JSON into a page and a plot in a
temporary folder. The tests check the structure of the output, never a time.
"""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PEERS = Path(__file__).resolve().parent / "peers"
SCENARIOS = ("bce-b256", "transform")
SKIPPED = ("torch-eager", "torch-compile", "keras")
# Heading of the page section that contains each scenario's results table.
SECTIONS = {"bce-b256": "### `bce-b256`", "transform": "## transform"}
IMPLEMENTATIONS = {
    "bce-b256": ("fastae", "torch-eager", "torch-compile", "keras", "gemm-bound"),
    "transform": ("fastae", "sklearn-pca", "numpy", "gemm-bound"),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_script(name, *arguments):
    command = [sys.executable, str(PEERS / name), *arguments]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False
    )


def expected_status(implementation):
    return "skipped: --skip" if implementation in SKIPPED else "ok"


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """Run compare.py once and return its JSON path, parsed record and output."""
    results = tmp_path_factory.mktemp("compare") / "compare.json"
    completed = run_script(
        "compare.py",
        "--rows",
        "1024",
        "--rounds",
        "1",
        "--scenarios",
        ",".join(SCENARIOS),
        "--skip",
        ",".join(SKIPPED),
        "--repeats",
        "1",
        "--gemm-min-seconds",
        "0.001",
        "--timeout",
        "240",
        "--json",
        str(results),
    )
    assert completed.returncode == 0, completed.stderr
    return results, json.loads(results.read_text()), completed.stdout


def write_report(json_path, folder):
    output = folder / "docs" / "benchmarks.md"
    image = folder / "docs" / "images" / "samples-per-second.png"
    completed = run_script(
        "report.py",
        "--json",
        str(json_path),
        "--output",
        str(output),
        "--image",
        str(image),
    )
    assert completed.returncode == 0, completed.stderr
    return output.read_text(), image


def result_row(page, scenario, implementation):
    """Return the results table row of one implementation in one scenario.

    The section of the scenario may also have a table that describes each
    implementation in one column. Only the results table has seven columns.
    """
    heading = SECTIONS[scenario]
    lines = page.splitlines()
    start = lines.index(heading) + 1
    for line in lines[start:]:
        if line.startswith("#"):
            break
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        if len(cells) == 7 and cells[0].strip() == f"`{implementation}`":
            return line
    raise AssertionError(f"no result row for {implementation} under {heading}")


def test_compare_records_every_implementation(comparison):
    _, record, _ = comparison
    assert list(record["scenarios"]) == list(SCENARIOS)
    for scenario, names in IMPLEMENTATIONS.items():
        entries = record["scenarios"][scenario]["implementations"]
        assert tuple(entries) == names
        for name in names:
            assert entries[name]["status"] == expected_status(name), (scenario, name)


def test_compare_records_values(comparison):
    _, record, _ = comparison
    for scenario in SCENARIOS:
        summary = record["scenarios"][scenario]
        fastae = summary["implementations"]["fastae"]
        assert len(fastae["values"]) == 1
        assert fastae["median"] > 0
        assert fastae["samples_per_s"] > 0
        assert summary["implementations"]["gemm-bound"]["gemm_bound_fraction"] == 1


def test_compare_picks_fastest_peer(comparison):
    _, record, _ = comparison
    transform = record["scenarios"]["transform"]
    entries = transform["implementations"]
    peer = transform["best_peer"]
    assert peer in ("sklearn-pca", "numpy")
    assert entries[peer]["ratio_to_best_peer"] == 1
    expected = entries["fastae"]["median"] / entries[peer]["median"]
    assert transform["fastae_ratio_to_best_peer"] == pytest.approx(expected)


def test_compare_without_peers_has_no_ratio(comparison):
    _, record, _ = comparison
    training = record["scenarios"]["bce-b256"]
    assert training["best_peer"] is None
    assert training["fastae_ratio_to_best_peer"] is None


def test_compare_records_run_facts(comparison):
    _, record, _ = comparison
    assert "compare.py" in record["command"]["line"]
    assert "--rows 1024" in record["command"]["line"]
    assert record["data"]["rows"] == 1024
    assert record["machine"]["versions"]["numpy"] != "not installed"
    assert record["machine"]["blas"], "no thread pools recorded"


def test_compare_prints_every_implementation(comparison):
    _, _, output = comparison
    lines = output.splitlines()
    for names in IMPLEMENTATIONS.values():
        for name in names:
            assert any(line.startswith(f"{name} ") for line in lines), name
    assert "torch-compile            skipped: --skip" in output
    assert "fastae / best peer" in output


def test_report_lists_every_implementation(comparison, tmp_path):
    json_path, _, _ = comparison
    page, image = write_report(json_path, tmp_path)
    assert page.startswith("# Benchmarks\n")
    assert "generated by `bench/peers/report.py`" in page
    assert "](images/samples-per-second.png)" in page
    for scenario, names in IMPLEMENTATIONS.items():
        for name in names:
            row = result_row(page, scenario, name)
            if expected_status(name).startswith("skipped"):
                assert expected_status(name) in row
    assert image.read_bytes().startswith(PNG_SIGNATURE)


def test_report_shows_failed_runs(comparison, tmp_path):
    record = copy.deepcopy(comparison[1])
    fastae = record["scenarios"]["bce-b256"]["implementations"]["fastae"]
    fastae.update(
        status="failed",
        values=[],
        errors=["exit status 1: ValueError | bad input"],
        runs=[{"error": "exit status 1: ValueError | bad input"}],
    )
    for key in ("median", "min", "max", "samples_per_s", "ratio_to_best_peer"):
        fastae.pop(key, None)
    record["scenarios"]["transform"]["implementations"]["numpy"] = {
        "status": "skipped: not installed",
        "runs": [],
    }
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(record))

    page, image = write_report(broken, tmp_path)
    row = result_row(page, "bce-b256", "fastae")
    assert "failed: exit status 1: ValueError \\| bad input" in row
    assert "skipped: not installed" in result_row(page, "transform", "numpy")
    assert image.read_bytes().startswith(PNG_SIGNATURE)
