"""Numba compilation settings shared by every CPU kernel.

Kernels are compiled lazily, on their first call, so ``import fastae`` compiles
nothing. Compiled machine code is cached on disk when Numba finds a writable
cache folder: the ``__pycache__`` folder next to the source, or else a per-user
cache folder. When neither is usable (a read-only install with no writable home
folder) the kernels are compiled in memory on each run instead of failing.
Setting the environment variable ``FASTAE_DISABLE_CACHE=1`` turns the on-disk
cache off.
"""

import logging
import os

import numba

logger = logging.getLogger("fastae")

# error_model="numpy" lets LLVM vectorise loops that contain a float division;
# Numba's default ("python") adds a zero-division check that blocks it.
# fastmath stays off: it would let the compiler drop the NaN and infinity
# checks that training relies on to detect divergence.
_OPTIONS = {"nogil": True, "error_model": "numpy"}


def _cache_enabled():
    return os.environ.get("FASTAE_DISABLE_CACHE", "") not in ("1", "true", "yes")


def jit(function=None, *, reassociate=False, inline=False):
    """Compile ``function`` in nopython mode, cached on disk where possible.

    ``reassociate=True`` lets LLVM reorder floating-point additions, which it
    needs to vectorise a sum. The order it picks is fixed at compile time, so
    results stay deterministic, and NaN and infinity keep their meaning.
    ``inline=True`` inlines the function into its callers before type
    inference, so a constant argument folds away the branches it selects.
    """
    if function is None:
        return lambda function: jit(function, reassociate=reassociate, inline=inline)
    options = dict(_OPTIONS)
    if reassociate:
        options["fastmath"] = {"reassoc"}
    if inline:
        options["inline"] = "always"
    if _cache_enabled():
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError as error:
            # Numba raises RuntimeError("cannot cache function ...: no locator
            # available") when no cache folder is writable.
            logger.debug("compiling %s without a disk cache: %s", function, error)
    return numba.njit(cache=False, **options)(function)
