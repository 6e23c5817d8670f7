"""The on-disk kernel cache: used where writable, skipped where not, never fatal."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import pytest

import fastae
from fastae._kernels import activations, dense, epoch, losses, optimizers

# Compiles only the dense forward kernel, which inlines the activations from
# another file, so each run takes seconds.
KERNEL_SCRIPT = """
import numpy as np
import fastae
from fastae._kernels.dense import dense_forward
out = np.empty((2, 2))
dense_forward(np.ones((2, 3)), np.ones((3, 2)), np.zeros(2), 1, out)
print("package", fastae.__file__)
print("cache", type(dense_forward._cache).__name__)
print("hits", sum(dense_forward.stats.cache_hits.values()))
print("misses", sum(dense_forward.stats.cache_misses.values()))
print("out", out.tolist())
"""

# Trains and transforms, compiling every kernel a fit uses.
FIT_SCRIPT = """
import numpy as np
import fastae
from fastae._kernels.dense import dense_forward
X = np.random.default_rng(0).random((20, 3))
model = fastae.AutoencoderTransformer((2,), max_iter=2, random_state=0).fit(X)
print("package", fastae.__file__)
print("cache", type(dense_forward._cache).__name__)
print("codes", model.transform(X).shape)
"""


@pytest.fixture
def installed_copy(tmp_path):
    """Copy fastae to a folder whose ``__pycache__`` folders cannot be created."""
    site = tmp_path / "site"
    shutil.copytree(
        Path(fastae.__file__).parent,
        site / "fastae",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for package in [site / "fastae", site / "fastae" / "_kernels"]:
        # A regular file where the cache folder would go makes it unusable,
        # even for root, who ignores permission bits.
        (package / "__pycache__").write_text("")
    return site


def run_script(site, script=KERNEL_SCRIPT, **env_overrides):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("NUMBA_CACHE")
    }
    env["PYTHONPATH"] = str(site)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(env_overrides)
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"package {site / 'fastae' / '__init__.py'}" in result.stdout
    return result.stdout


def test_no_writable_cache_folder_falls_back(installed_copy, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    output = run_script(installed_copy, FIT_SCRIPT, XDG_CACHE_HOME=str(blocker))
    assert "cache NullCache" in output
    assert "codes (20, 2)" in output


def test_user_cache_folder_used_when_install_read_only(installed_copy, tmp_path):
    cache_home = tmp_path / "cache"
    output = run_script(installed_copy, XDG_CACHE_HOME=str(cache_home))
    assert "cache FunctionCache" in output
    assert "out [[3.0, 3.0], [3.0, 3.0]]" in output
    assert list((cache_home / "numba").rglob("*.nbi"))


def test_cache_can_be_disabled(installed_copy, tmp_path):
    output = run_script(
        installed_copy, FASTAE_DISABLE_CACHE="1", XDG_CACHE_HOME=str(tmp_path / "cache")
    )
    assert "cache NullCache" in output
    assert not (tmp_path / "cache").exists()


def test_editing_any_module_invalidates_cache(installed_copy, tmp_path):
    cache_home = str(tmp_path / "cache")
    first = run_script(installed_copy, XDG_CACHE_HOME=cache_home)
    assert "misses 0" not in first
    second = run_script(installed_copy, XDG_CACHE_HOME=cache_home)
    assert "misses 0" in second
    assert "hits 0" not in second
    # dense_forward inlines the activations from another file; Numba's own
    # stamp covers only the function's file.
    activations = installed_copy / "fastae" / "_kernels" / "activations.py"
    activations.write_text(activations.read_text() + "\n# edited\n")
    third = run_script(installed_copy, XDG_CACHE_HOME=cache_home)
    assert "misses 0" not in third


def test_no_kernel_assumes_finite_values():
    # fastmath's nnan and ninf flags would let LLVM delete the isfinite checks
    # that detect divergence; reassoc alone keeps NaN and infinity.
    dispatchers = [
        value
        for module in (activations, dense, epoch, losses, optimizers)
        for value in vars(module).values()
        if isinstance(value, numba.core.registry.CPUDispatcher)
    ]
    assert len(dispatchers) > 15
    for dispatcher in dispatchers:
        flags = dispatcher.targetoptions.get("fastmath", set())
        assert flags in (False, set(), {"reassoc"}), dispatcher
