"""Numba compilation settings shared by every CPU kernel.

Kernels are compiled lazily, on their first call, so ``import fastae`` compiles
nothing. Compiled machine code is cached on disk when Numba finds a writable
cache folder: the ``__pycache__`` folder next to the source, or else a per-user
cache folder. When neither is usable (a read-only install with no writable home
folder) the kernels are compiled in memory on each run instead of failing.
Setting the environment variable ``FASTAE_DISABLE_CACHE=1`` turns the on-disk
cache off.
"""

import hashlib
import logging
import os
from pathlib import Path

import numba
from numba.core import caching

logger = logging.getLogger("fastae")

# error_model="numpy" lets LLVM vectorise loops that contain a float division;
# Numba's default ("python") adds a zero-division check that blocks it.
# fastmath stays off: it would let the compiler drop the NaN and infinity
# checks that training relies on to detect divergence.
_OPTIONS = {"nogil": True, "error_model": "numpy"}


_PACKAGE_DIR = Path(__file__).resolve().parent


def _package_stamp():
    """Return a digest of the modification time and size of the kernel sources.

    Numba stamps a cached function with its own file only, but fastae's
    kernels inline functions from other files. Stamping every cache entry
    with all of the kernel sources (the ``_kernels`` package and this module)
    makes an edit to any of them recompile every kernel.
    """
    sources = [Path(__file__).resolve(), *(_PACKAGE_DIR / "_kernels").rglob("*.py")]
    entries = []
    for path in sorted(sources):
        status = path.stat()
        entries.append(
            (str(path.relative_to(_PACKAGE_DIR)), status.st_mtime_ns, status.st_size)
        )
    return hashlib.sha256(repr(entries).encode()).hexdigest()


def _package_locator(base):
    """Return a subclass of the Numba cache locator ``base`` for fastae's files."""

    class PackageLocator(base):
        @classmethod
        def from_function(cls, py_func, py_file):
            if not Path(py_file).resolve().is_relative_to(_PACKAGE_DIR):
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return _PACKAGE_STAMP

    PackageLocator.__name__ = f"Fastae{base.__name__.lstrip('_')}"
    return PackageLocator


def _install_package_locators():
    # Numba 0.60 names the locators with a leading underscore; later releases
    # without. Locators are tried in order, so these come first and claim
    # fastae's files before Numba's own do.
    bases = []
    for name in ("InTreeCacheLocator", "UserWideCacheLocator"):
        base = getattr(caching, name, None) or getattr(caching, f"_{name}", None)
        if base is not None:
            bases.append(base)
    ours = [_package_locator(base) for base in bases]
    caching.CacheImpl._locator_classes = [*ours, *caching.CacheImpl._locator_classes]


_PACKAGE_STAMP = _package_stamp()
_install_package_locators()


def _cache_enabled():
    return os.environ.get("FASTAE_DISABLE_CACHE", "") not in ("1", "true", "yes")


def jit(function=None, *, reassociate=False, inline=False, parallel=False):
    """Compile ``function`` in nopython mode, cached on disk where possible.

    ``reassociate=True`` lets LLVM reorder floating-point additions, which it
    needs to vectorise a sum. The order it picks is fixed at compile time, so
    results stay deterministic, and NaN and infinity keep their meaning.
    ``inline=True`` inlines the function into its callers before type
    inference, so a constant argument folds away the branches it selects.
    ``parallel=True`` runs the function's ``numba.prange`` loops on Numba's
    thread pool.
    """
    if function is None:
        return lambda function: jit(
            function, reassociate=reassociate, inline=inline, parallel=parallel
        )
    options = dict(_OPTIONS)
    if reassociate:
        options["fastmath"] = {"reassoc"}
    if inline:
        options["inline"] = "always"
    if parallel:
        options["parallel"] = True
    if _cache_enabled():
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError as error:
            # Numba raises RuntimeError("cannot cache function ...: no locator
            # available") when no cache folder is writable.
            logger.debug("compiling %s without a disk cache: %s", function, error)
    return numba.njit(cache=False, **options)(function)
