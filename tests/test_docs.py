"""The documentation site builds without warnings and documents every public name."""

import importlib
import inspect
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastae

DOCS = Path(__file__).resolve().parents[1] / "docs"
API_INDEX = DOCS / "api" / "index.rst"

# The packages of the docs extra, by import name.
DOCS_PACKAGES = (
    "sphinx",
    "myst_parser",
    "numpydoc",
    "sphinx_gallery",
    "pydata_sphinx_theme",
)

# Files and folders that a build writes into the source folder, which the
# copy leaves out.
GENERATED = (
    "_build",
    "auto_examples",
    "generated",
    "backreferences",
    "sg_execution_times.rst",
)

# A clean build took 15 s on a 2-core x86-64 machine with the Numba cache
# filled, and 64 s with FASTAE_DISABLE_CACHE=1, when the gallery compiles
# every kernel. The limit leaves room for a busy or slower machine.
BUILD_TIMEOUT_S = 600


def _missing_docs_packages():
    missing = []
    for name in DOCS_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _documented_names():
    """Return the full names listed in autosummary tables of the API page."""
    names = set()
    module = None
    in_autosummary = False
    for line in API_INDEX.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = match.group(1)
        elif line.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary and re.match(r"   [A-Za-z_]\w*$", line):
            names.add(f"{module}.{line.strip()}")
        elif in_autosummary and line and not line.startswith(" "):
            in_autosummary = False
    return names


def _public_names():
    """Return ``fastae.__all__`` and the public names of the public submodules."""
    names = {f"fastae.{name}" for name in fastae.__all__}
    for info in pkgutil.iter_modules(fastae.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"fastae.{info.name}")
        public = getattr(module, "__all__", None)
        if public is None:
            public = [
                name
                for name, value in vars(module).items()
                if not name.startswith("_")
                and (inspect.isfunction(value) or inspect.isclass(value))
                and value.__module__ == module.__name__
            ]
        names.update(f"{module.__name__}.{name}" for name in public)
    return names


def test_api_page_lists_public_names():
    documented = _documented_names()
    public = _public_names()
    assert public - documented == set(), f"add these to {API_INDEX}"
    assert documented - public == set(), f"not public, remove from {API_INDEX}"


def test_site_builds_without_warnings(tmp_path):
    missing = _missing_docs_packages()
    if missing:
        pytest.skip(
            f"the docs extra is not installed (missing {', '.join(missing)}): "
            "install it with python -m pip install '.[docs]'"
        )
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns(*GENERATED))
    command = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
        "-b", "html", str(source), str(tmp_path / "html"),
    ]  # fmt: skip
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "html" / "index.html").is_file()
    assert (tmp_path / "html" / "auto_examples" / "index.html").is_file()
