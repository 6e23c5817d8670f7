"""The CUDA target, imported only when a model is asked to use the GPU.

``import fastae`` never imports this package, so it never touches CUDA.
"""


def unavailable_reason():
    """Return why the GPU cannot be used, or None when it can."""
    try:
        # numba-cuda, the maintained CUDA target, installs the numba_cuda
        # package. Without it, numba.cuda is Numba's deprecated built-in one.
        import numba_cuda  # noqa: F401
        from numba import cuda
    except ImportError as error:
        return (
            f"numba-cuda is not installed ({error}). Install fastae's 'cuda' "
            "extra: pip install 'fastae[cuda]'"
        )
    if not cuda.is_available():
        return (
            f"numba-cuda found no usable NVIDIA GPU and driver ({_driver_error()}). "
            "Use device='cpu', or run on a machine with a GPU"
        )
    return None


def _driver_error():
    from numba.cuda.cudadrv.driver import driver

    error = getattr(driver, "initialization_error", None)
    return " ".join(str(error).split()) if error else "no device found"


def simulated():
    """Return True when numba-cuda runs its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", False))
