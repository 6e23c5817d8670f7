"""The CUDA target where no GPU is present: errors, fallback, and real PTX.

The kernels' behaviour is tested in ``tests_cuda`` under numba-cuda's
simulator, which runs kernels as Python and accepts code that the CUDA
compiler rejects. Here every kernel is compiled to PTX by NVVM, the compiler
a GPU run uses, which needs numba-cuda's ``cu13`` extra but no GPU.
"""

import subprocess
import sys

import numpy as np
import pytest

from fastae import AutoencoderTransformer


def test_import_does_not_load_cuda():
    code = "import sys, fastae; print('numba.cuda' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def gpu_missing():
    from fastae._cuda import unavailable_reason

    return unavailable_reason()


needs_no_gpu = pytest.mark.skipif(
    "gpu_missing() is None", reason="a GPU is present, so device='cuda' works"
)


@needs_no_gpu
def test_cuda_without_gpu_raises_and_leaves_model_unfitted(rng):
    model = AutoencoderTransformer((3,), max_iter=2, device="cuda")
    with pytest.raises(
        RuntimeError, match="device='cuda' cannot be used: .*device='cpu'"
    ):
        model.fit(rng.random((20, 4)))
    assert not hasattr(model, "coefs_")


@needs_no_gpu
def test_auto_falls_back_to_cpu(rng):
    X = rng.random((20, 4))
    auto = AutoencoderTransformer((3,), max_iter=2, device="auto", random_state=0)
    cpu = AutoencoderTransformer((3,), max_iter=2, device="cpu", random_state=0)
    with pytest.warns(Warning):
        auto.fit(X)
    with pytest.warns(Warning):
        cpu.fit(X)
    np.testing.assert_array_equal(auto.transform(X), cpu.transform(X))
    with pytest.raises(RuntimeError, match="device='cuda' cannot be used"):
        auto.set_params(device="cuda").transform(X)


def test_missing_numba_cuda_is_named(monkeypatch):
    # None in sys.modules makes the import fail as if the package were absent.
    from fastae._cuda import unavailable_reason

    monkeypatch.setitem(sys.modules, "numba_cuda", None)
    assert "numba-cuda is not installed" in unavailable_reason()
    assert "fastae[cuda]" in unavailable_reason()


# ----------------------------------------------------------- PTX from NVVM

try:
    from numba import cuda, types
    from numba.cuda.cudadrv.nvvm import NVVM

    NVVM()
except (ImportError, RuntimeError) as error:  # no numba-cuda, or no NVVM library
    NVVM_MISSING = (
        f"numba-cuda with NVVM is not installed ({error}): pip install '.[cuda]'"
    )
else:
    NVVM_MISSING = None


@pytest.fixture
def compile_without_gpu(monkeypatch):
    """Compile device functions for compute capability 9.0 with no GPU present.

    numba-cuda queries the current GPU for its compute capability when it
    compiles a device function called from a kernel, even for
    ``compile_ptx``. This stand-in returns that of the H100 and H200.
    """
    from numba.cuda import dispatcher

    class Hopper:
        compute_capability = (9, 0)

    monkeypatch.setattr(dispatcher, "get_current_device", Hopper)


def kernel_signatures(dtype):
    element = types.float32 if dtype == np.float32 else types.float64
    matrix = types.Array(element, 2, "C")
    vector = types.Array(element, 1, "C")
    int32s = types.Array(types.int32, 1, "C")
    float64s = types.Array(types.float64, 1, "C")
    indices = types.Array(types.int64, 1, "C")
    integer, flag, real = types.int64, types.boolean, types.float64
    from fastae._cuda import kernels

    return {
        "matmul": (
            kernels._matmul_kernel(16, dtype),
            (
                matrix,
                matrix,
                matrix,
                flag,
                flag,
                integer,
                integer,
                vector,
                matrix,
                int32s,
            ),
        ),
        "gather": (kernels._gather, (matrix, indices, integer, matrix)),
        "loss_gradient": (
            kernels._loss_kernel(256),
            (
                integer,
                matrix,
                matrix,
                integer,
                real,
                matrix,
                float64s,
                flag,
                float64s,
                indices,
                integer,
            ),
        ),
        "column_sums": (kernels._column_sums, (matrix, vector)),
        "adam": (kernels._adam, (vector,) * 4 + (integer,) + (element,) * 7),
        "sgd": (
            kernels._sgd,
            (vector,) * 3 + (integer, element, element, flag, element),
        ),
        "flag_non_finite": (kernels._flag_non_finite, (vector, int32s)),
        "row_scores": (kernels._row_scores, (matrix, matrix, vector)),
        "fill_zero": (kernels._fill_zero, (vector,)),
        "gather_corrupted": (
            kernels._gather_corrupted,
            (matrix, indices, integer, matrix, matrix, integer, real, real),
        ),
        "drop_units": (
            kernels._drop_units,
            (matrix, indices, integer, integer, integer, real, element),
        ),
        "dropout_backward": (
            kernels._dropout_backward,
            (matrix, matrix, indices, integer, integer, integer, real)
            + (element, element, integer),
        ),
        "squared_sums": (kernels._squared_sums_kernel(256), (vector, float64s)),
        "sum_partials": (kernels._sum_partials_kernel(256), (float64s, integer)),
        "clip": (kernels._clip, (vector, float64s, real)),
        "sparsity": (
            kernels._sparsity_kernel(256),
            (vector, integer, real, real, real, vector, float64s),
        ),
        "contractive": (
            kernels._contractive_kernel(256),
            (matrix, matrix, integer, real, vector, vector, float64s),
        ),
        "code_gradient": (
            kernels._code_gradient_kernel(256),
            (matrix, matrix, integer, real, element, flag, vector, element, vector)
            + (float64s,),
        ),
        "contractive_weight_gradient": (
            kernels._contractive_weight_gradient,
            (matrix, matrix, vector, real),
        ),
    }


@pytest.mark.skipif(NVVM_MISSING is not None, reason=str(NVVM_MISSING))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name",
    [
        "matmul",
        "gather",
        "loss_gradient",
        "column_sums",
        "adam",
        "sgd",
        "flag_non_finite",
        "row_scores",
        "fill_zero",
        "gather_corrupted",
        "drop_units",
        "dropout_backward",
        "squared_sums",
        "sum_partials",
        "clip",
        "sparsity",
        "contractive",
        "code_gradient",
        "contractive_weight_gradient",
    ],
)
def test_kernel_compiles_to_ptx(name, dtype, compile_without_gpu):
    kernel, signature = kernel_signatures(dtype)[name]
    ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(9, 0))
    assert ".target sm_90" in ptx
    assert ".entry" in ptx
