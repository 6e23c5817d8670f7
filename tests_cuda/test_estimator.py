"""The estimator with device="cuda": agreement with the CPU, GPU arrays, errors."""

import pickle
import warnings

import numpy as np
import pytest
from numba import cuda
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer, TrainingDivergedError
from fastae._cuda import kernels
from fastae._cuda.engine import CudaTrainer
from fastae._engine import OptimizerState
from fastae._network import build_layout, initial_parameters
from tests import reference
from tests.test_epoch import HYPER, hyper_array
from tests_cuda.conftest import SIMULATED

# Tolerances of a GPU fit against the same fit on the CPU: the two sum in
# different orders, so they agree to rounding, which a few epochs amplify.
FIT_RTOL = {np.float32: 2e-4, np.float64: 1e-9}


@pytest.fixture(autouse=True)
def simulated_launches(monkeypatch):
    # Each simulated block costs tens of milliseconds, so whole fits use
    # tiles that cover most of these small layers in one block. The kernel
    # tests cover products that span many tiles.
    if SIMULATED:
        monkeypatch.setattr(kernels, "TILE", 8)
        monkeypatch.setattr(kernels, "THREADS", 32)


def model(**params):
    settings = {
        "hidden_layer_sizes": (5, 3),
        "max_iter": 2,
        "batch_size": 12,
        "random_state": 0,
        "tol": 0.0,
    }
    settings.update(params)
    return AutoencoderTransformer(**settings)


def fit_quietly(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X)


@pytest.fixture
def X(rng):
    return rng.random((30, 7))


def assert_same_model(gpu, cpu, dtype):
    rtol = FIT_RTOL[dtype]
    for a, b in zip(gpu.coefs_ + gpu.intercepts_, cpu.coefs_ + cpu.intercepts_):
        assert isinstance(a, np.ndarray)
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=rtol)


@pytest.mark.parametrize(
    "params, dtype",
    [
        ({}, np.float32),
        ({}, np.float64),
        ({"loss": "binary_crossentropy", "activation": "sigmoid"}, np.float32),
        ({"solver": "sgd", "activation": "tanh"}, np.float64),
        (
            {"solver": "sgd", "nesterovs_momentum": False, "activation": "elu"},
            np.float32,
        ),
        ({"early_stopping": True, "validation_fraction": 0.25}, np.float64),
        ({"learning_rate": "invscaling", "solver": "sgd"}, np.float64),
    ],
    ids=[
        "adam-32",
        "adam-64",
        "crossentropy",
        "nesterov-tanh",
        "momentum-elu",
        "early",
        "invscaling",
    ],
)
def test_fit_matches_cpu(params, dtype, X):
    X = X.astype(dtype)
    gpu = fit_quietly(model(device="cuda", **params), X)
    cpu = fit_quietly(model(device="cpu", **params), X)
    assert_same_model(gpu, cpu, dtype)
    assert gpu.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(
        gpu.transform(X), cpu.transform(X), rtol=FIT_RTOL[dtype], atol=1e-6
    )


@pytest.mark.parametrize("solver", ["sgd", "nesterov", "adam"])
def test_epoch_matches_numpy_loop(solver, rng):
    sizes, names = [6, 4, 6], ["relu", "identity"]
    layout = build_layout(sizes, "relu", "identity")
    params = initial_parameters(layout, np.random.default_rng(1), np.float64)
    X = rng.random((21, 6))
    order = rng.permutation(21).astype(np.int64)

    state = OptimizerState(
        "adam" if solver == "adam" else "sgd", params.size, np.float64
    )
    trainer = CudaTrainer(
        params,
        layout,
        loss=0,
        solver="adam" if solver == "adam" else "sgd",
        nesterov=solver == "nesterov",
        hyper=hyper_array(),
        batch_size=8,
        optimizer_state=state,
    )
    mean_loss = trainer.run_epoch(X, order)
    expected, expected_state, total = reference.train_epoch(
        params,
        X,
        order,
        8,
        sizes,
        names,
        "squared_error",
        solver,
        HYPER,
        {"a": np.zeros(params.size), "b": np.zeros(params.size), "step": 0},
    )
    np.testing.assert_allclose(trainer.params, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(trainer.state.state_a, expected_state["a"], atol=1e-12)
    np.testing.assert_allclose(mean_loss, total / X.size, rtol=1e-10)


def test_partial_fit_and_warm_start_match_cpu(X):
    gpu, cpu = model(device="cuda"), model(device="cpu")
    for _ in range(3):
        gpu.partial_fit(X)
        cpu.partial_fit(X)
    assert_same_model(gpu, cpu, np.float64)
    fit_quietly(gpu.set_params(warm_start=True, max_iter=2), X)
    fit_quietly(cpu.set_params(warm_start=True, max_iter=2), X)
    assert_same_model(gpu, cpu, np.float64)


def test_device_arrays_in_and_out(X):
    # tanh codes are non-zero, unlike relu codes of a short fit.
    estimator = fit_quietly(
        model(device="cuda", activation="tanh"), X.astype(np.float32)
    )
    X32 = X.astype(np.float32)
    X_device = cuda.to_device(X32)

    codes = estimator.transform(X_device)
    assert cuda.devicearray.is_cuda_ndarray(codes)
    np.testing.assert_allclose(
        codes.copy_to_host(), estimator.transform(X32), rtol=1e-6
    )

    decoded = estimator.inverse_transform(codes)
    assert cuda.devicearray.is_cuda_ndarray(decoded)
    np.testing.assert_allclose(
        decoded.copy_to_host(),
        estimator.inverse_transform(codes.copy_to_host()),
        rtol=1e-6,
    )

    scores = estimator.score_samples(X_device)
    assert cuda.devicearray.is_cuda_ndarray(scores)
    np.testing.assert_allclose(
        scores.copy_to_host(), estimator.score_samples(X32), rtol=1e-5
    )


def test_gpu_model_moves_to_cpu(X):
    estimator = fit_quietly(model(device="cuda"), X)
    on_gpu = estimator.transform(X)
    restored = pickle.loads(pickle.dumps(estimator)).set_params(device="cpu")
    np.testing.assert_allclose(restored.transform(X), on_gpu, rtol=1e-12)


def test_device_array_errors(X):
    estimator = fit_quietly(model(device="cuda"), X.astype(np.float32))
    with pytest.raises(
        ValueError, match=r"dtype float64, but the model computes in float32"
    ):
        estimator.transform(cuda.to_device(X))
    with pytest.raises(ValueError, match=r"shape \(30, 6\), but .* 7 features"):
        estimator.transform(cuda.to_device(X[:, :6].astype(np.float32)))
    with pytest.raises(ValueError, match="3 code values"):
        estimator.inverse_transform(cuda.to_device(X.astype(np.float32)))
    with pytest.raises(ValueError, match=r"0 sample\(s\) \(shape=\(0, 7\)\)"):
        estimator.transform(cuda.to_device(np.zeros((0, 7), np.float32)))
    estimator.set_params(device="cpu")
    with pytest.raises(ValueError, match=r"device='cpu'\). Call set_params"):
        estimator.transform(cuda.to_device(X.astype(np.float32)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_overflow_and_divergence_match_cpu(X):
    X32 = X.astype(np.float32)
    estimator = fit_quietly(model(device="cuda", activation="identity"), X32)
    # A finite first layer whose positive outputs overflow the second.
    estimator.intercepts_[0][:] = 10
    estimator.coefs_[1][:] = 3e38
    with pytest.raises(ValueError, match=r"overflowed .* for this input\. Scale"):
        estimator.transform(cuda.to_device(X32))

    messages = []
    for device in ("cuda", "cpu"):
        with pytest.raises(TrainingDivergedError) as caught:
            model(device=device).fit(X32 * np.float32(1e20))
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_device_input_raises(X):
    estimator = fit_quietly(model(device="cuda"), X.astype(np.float32))
    bad = X.astype(np.float32)
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        estimator.transform(cuda.to_device(bad))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        estimator.transform(bad)


def test_verbose_reports_transfers(X, capsys):
    fit_quietly(model(device="cuda", verbose=True, max_iter=2), X)
    lines = capsys.readouterr().out.splitlines()
    # X (30 x 7), the 120 parameters and Adam's two buffers of 120 go to the
    # GPU once, then one permutation of the 30 rows per epoch. Per epoch, the
    # float64 loss sum and an int32 flag come back.
    to_device = 8 * (30 * 7 + 3 * 120 + 2 * 30)
    assert lines[-1] == (
        f"CUDA transfers during training: 6 copies to the GPU ({to_device:,} "
        f"bytes), 4 back ({2 * (8 + 4)} bytes)"
    )


class ForeignArray:
    """A GPU array of another library, such as CuPy, seen only through its interface."""

    def __init__(self, device_array):
        self._owner = device_array
        self.__cuda_array_interface__ = device_array.__cuda_array_interface__


@pytest.mark.gpu
def test_foreign_gpu_arrays_in_and_out(X):
    X32 = X.astype(np.float32)
    estimator = fit_quietly(model(device="cuda", activation="tanh"), X32)
    codes = estimator.transform(ForeignArray(cuda.to_device(X32)))
    assert cuda.devicearray.is_cuda_ndarray(codes)
    np.testing.assert_allclose(
        codes.copy_to_host(), estimator.transform(X32), rtol=1e-6
    )
    # A column slice is not contiguous; the kernels follow its strides.
    wide = cuda.to_device(np.hstack([X32, X32]))
    codes = estimator.transform(ForeignArray(wide[:, :7]))
    np.testing.assert_allclose(
        codes.copy_to_host(), estimator.transform(X32), rtol=1e-6
    )


@pytest.mark.gpu
def test_fit_matches_cpu_at_full_size(rng):
    # Real tiles and blocks: 16 x 16 and 256 threads.
    X = rng.random((3000, 300)).astype(np.float32)
    params = {"hidden_layer_sizes": (64,), "batch_size": 256, "max_iter": 2}
    gpu = fit_quietly(model(device="cuda", **params), X)
    cpu = fit_quietly(model(device="cpu", **params), X)
    assert_same_model(gpu, cpu, np.float32)
