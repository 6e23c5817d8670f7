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
            "numba-cuda found no usable NVIDIA GPU and driver (numba.cuda.detect() "
            "prints what it found). Use device='cpu', or run on a machine with "
            "a GPU"
        )
    return None


def simulated():
    """Return True when numba-cuda runs its simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", False))
