"""Tests for the ``fastae demo`` command line."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastae.__main__ import main

from .conftest import DEFAULT_MNIST_DIR, mnist_directory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPOSITORY = Path(__file__).resolve().parents[1]


def assert_results_table(output, data_name, n_test):
    assert f"Results on {n_test} held-out {data_name} rows:" in output
    assert "representation  features  test MSE  accuracy" in output
    assert "\nautoencoder " in output
    assert "\nPCA " in output
    assert "\nraw pixels " in output
    assert "Training time: " in output
    assert " per epoch" in output


def test_demo_digits_writes_table_and_png(tmp_path, capsys):
    output_path = tmp_path / "g.png"

    status = main(["demo", "--epochs", "3", "--output", str(output_path)])

    output = capsys.readouterr().out
    assert status == 0
    assert "Training a 64-128-16 autoencoder on 1347 training rows" in output
    assert "Epoch 3: loss " in output
    assert "Epoch 4:" not in output
    assert_results_table(output, "digits", 450)
    assert "logistic regression trained on all 1347 training rows" in output
    assert f"Wrote the reconstruction plot to {output_path}" in output
    assert output_path.read_bytes().startswith(PNG_SIGNATURE)


def test_demo_no_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    status = main(
        ["demo", "--epochs", "2", "--hidden", "32,8", "--limit", "300", "--no-plot"]
    )

    output = capsys.readouterr().out
    assert status == 0
    assert "64-32-8 autoencoder on 300 (--limit) of 1347 training rows" in output
    assert_results_table(output, "digits", 450)
    assert "Wrote the reconstruction plot" not in output
    assert list(tmp_path.iterdir()) == []


def test_demo_without_matplotlib(tmp_path, capsys, monkeypatch):
    # A None entry in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    output_path = tmp_path / "g.png"

    status = main(["demo", "--epochs", "1", "--output", str(output_path)])

    output = capsys.readouterr().out
    assert status == 0
    assert "Plot skipped: matplotlib is not installed." in output
    assert 'pip install "fastae[plot]"' in output
    assert not output_path.exists()


def test_demo_empty_data_directory(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--data", str(tmp_path), "--no-plot"])

    error = capsys.readouterr().err
    assert info.value.code == 2
    assert error.count("\n") == 1
    assert error.startswith("fastae demo: error: cannot read MNIST from --data")
    assert "'train-images-idx3-ubyte' or 'train-images-idx3-ubyte.gz'" in error


def test_demo_missing_data_directory(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--data", str(tmp_path / "absent"), "--no-plot"])

    error = capsys.readouterr().err
    assert info.value.code == 2
    assert error.count("\n") == 1
    assert "MNIST directory not found" in error


def test_demo_corrupt_data_file(tmp_path, capsys):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00")[:12])
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"")

    with pytest.raises(SystemExit) as info:
        main(["demo", "--data", str(tmp_path), "--no-plot"])

    error = capsys.readouterr().err
    assert info.value.code == 2
    assert error.count("\n") == 1
    assert "Invalid gzip file" in error


def test_demo_missing_output_directory(tmp_path, capsys):
    output_path = tmp_path / "absent" / "g.png"

    with pytest.raises(SystemExit) as info:
        main(["demo", "--output", str(output_path)])

    captured = capsys.readouterr()
    assert info.value.code == 2
    assert "output directory not found" in captured.err
    assert "Epoch" not in captured.out


def test_demo_output_directory_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--output", str(tmp_path)])

    captured = capsys.readouterr()
    assert info.value.code == 2
    assert "is a directory; give a file name" in captured.err
    assert "Epoch" not in captured.out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--hidden", "128,x"], "invalid layer widths '128,x'"),
        (["--epochs", "0"], "expected a positive integer, got 0"),
        (["--learning-rate", "nan"], "expected a positive finite number"),
        (["--output", "a.png", "--no-plot"], "not allowed with argument"),
        (["--random-state", "-1"], "expected an integer from 0 to 4294967295, got -1"),
        (["--random-state", "x"], "expected an integer, got 'x'"),
    ],
)
def test_demo_invalid_arguments(capsys, arguments, message):
    with pytest.raises(SystemExit) as info:
        main(["demo", *arguments])

    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_subcommand_prints_help(capsys):
    with pytest.raises(SystemExit) as info:
        main([])

    assert info.value.code == 2
    assert "usage: fastae" in capsys.readouterr().err


def test_demo_mnist_quick(capsys):
    directory = mnist_directory()
    if directory is None:
        pytest.skip(
            "no MNIST directory: set FASTAE_MNIST_DIR or put the files in "
            f"{DEFAULT_MNIST_DIR}"
        )

    status = main(
        [
            "demo",
            "--data",
            str(directory),
            "--limit",
            "2000",
            "--epochs",
            "1",
            "--no-plot",
        ]
    )

    output = capsys.readouterr().out
    assert status == 0
    assert "784-128 autoencoder on 2000 (--limit) of 60000 training rows" in output
    assert "batch size 256" in output
    assert_results_table(output, "MNIST", 10000)
    assert "logistic regression trained on all 2000 training rows" in output


def test_module_entry_point(tmp_path):
    # The repository comes first on the path, so the test runs this checkout
    # even where fastae is not installed.
    python_path = os.pathsep.join(
        filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])
    )
    environment = dict(os.environ, PYTHONPATH=python_path)

    completed = subprocess.run(
        [sys.executable, "-m", "fastae", "demo", "--epochs", "2", "--no-plot"],
        check=False,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    assert "Results on 450 held-out digits rows:" in completed.stdout
