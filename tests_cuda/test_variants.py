"""The regularised variants on the GPU against the CPU's training kernel.

Each case trains one epoch with ``CudaTrainer`` and with the CPU ``Trainer``
from the same parameters, row order and seed, and the results must agree up
to rounding. Plain SGD with a large step is used because Adam's update hardly
depends on the gradient's scale, so it would hide an error in clipping or in
a penalty's strength. The random masks come from one counter-based generator
on both devices, so they are compared bit for bit.
"""

import warnings

import numpy as np
import pytest
from numba import cuda
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer
from fastae._cuda import kernels
from fastae._cuda.engine import CudaTrainer
from fastae._engine import OptimizerState, Trainer
from fastae._kernels import epoch
from fastae._kernels.activations import ACTIVATION_CODES
from fastae._kernels.dense import activation_backward
from fastae._kernels.epoch import _corrupt, _drop_units, _undo_dropout
from fastae._network import build_layout, initial_parameters
from tests_cuda.conftest import SIMULATED

SEED = 4242
# One epoch of SGD from the same start: the two devices sum in different
# orders, and the float32 error grows with each minibatch.
EPOCH_RTOL = {np.float32: 1e-4, np.float64: 1e-10}
FIT_RTOL = {np.float32: 2e-4, np.float64: 1e-9}

DEEP = [4, 3, 2, 3, 4]
SHALLOW = [4, 3, 4]

# name: (layer sizes, code activation, tied weights, weighted rows, variants)
CASES = {
    "sample_weight": (DEEP, None, False, True, {}),
    "max_grad_norm": (DEEP, None, False, False, {"MAX_GRAD_NORM": 0.05}),
    "corruption": (
        DEEP,
        None,
        False,
        False,
        {"NOISE_STD": 0.3, "MASK_FRACTION": 0.3},
    ),
    "dropout": (DEEP, None, False, False, {"DROPOUT": 0.3}),
    "tied_weights": (DEEP, None, True, False, {}),
    "code_l1": (DEEP, None, False, False, {"CODE_L1": 0.1}),
    "sparsity": (
        DEEP,
        "sigmoid",
        False,
        False,
        {"SPARSITY_WEIGHT": 0.5, "SPARSITY_TARGET": 0.1},
    ),
    "contractive": (SHALLOW, None, False, False, {"CONTRACTIVE": 0.5}),
    "all_deep": (
        DEEP,
        "sigmoid",
        True,
        True,
        {
            "NOISE_STD": 0.1,
            "MASK_FRACTION": 0.2,
            "DROPOUT": 0.2,
            "CODE_L1": 0.05,
            "SPARSITY_WEIGHT": 0.3,
            "SPARSITY_TARGET": 0.2,
            "MAX_GRAD_NORM": 0.5,
        },
    ),
    "all_shallow": (
        SHALLOW,
        "tanh",
        True,
        True,
        {"CONTRACTIVE": 0.3, "CODE_L1": 0.05, "MAX_GRAD_NORM": 0.5},
    ),
}


def hyper(**variants):
    # SGD without momentum at a large step: each update is the learning rate
    # times the gradient, plus a small L2 term.
    return epoch.hyper_array(0.5, 0.0, 0.9, 0.999, 1e-8, 1e-3, SEED=SEED, **variants)


def make_trainer(trainer_class, params, layout, variants, weights):
    trainer = trainer_class(
        params,
        layout,
        loss=0,
        solver="sgd",
        nesterov=False,
        hyper=hyper(**variants),
        batch_size=4,
        optimizer_state=OptimizerState("sgd", params.size, params.dtype),
    )
    if weights is not None:
        trainer.train_weights = trainer.validation_weights = weights
    return trainer


def train_one_epoch(case, dtype, device):
    """Return the trainer after one epoch of ``case`` on 7 rows, its loss and ``X``.

    The 7 rows make a minibatch of 4 and a last one of 3.
    """
    sizes, code_activation, tied, weighted, variants = case
    layout = build_layout(sizes, "tanh", "identity", code_activation, tied)
    params = initial_parameters(layout, np.random.default_rng(1), dtype)
    rng = np.random.default_rng(0)
    X = rng.random((7, sizes[0])).astype(dtype)
    order = rng.permutation(7).astype(np.int64)
    # Weights from 0 to 2: one row has weight 0, and the others differ.
    weights = np.linspace(0.0, 2.0, 7) if weighted else None
    trainer_class = CudaTrainer if device == "cuda" else Trainer
    trainer = make_trainer(trainer_class, params, layout, variants, weights)
    loss = trainer.run_epoch(X, order)
    return trainer, loss, X


@pytest.mark.parametrize(
    "name, dtype",
    [(name, np.float64) for name in CASES if name != "all_shallow"]
    + [("all_deep", np.float32), ("all_shallow", np.float32)],
)
def test_epoch_matches_cpu(name, dtype):
    gpu, gpu_loss, X = train_one_epoch(CASES[name], dtype, "cuda")
    cpu, cpu_loss, _ = train_one_epoch(CASES[name], dtype, "cpu")
    rtol = EPOCH_RTOL[dtype]
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=rtol)
    np.testing.assert_allclose(gpu.params, cpu.params, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gpu.evaluate(X), cpu.evaluate(X), rtol=rtol)


@pytest.mark.parametrize("name", CASES)
def test_variant_changes_cpu_epoch(name):
    # Guards the comparison above: each case's settings take effect.
    sizes, code_activation, _, _, _ = CASES[name]
    plain = (sizes, code_activation, False, False, {})
    _, varied_loss, _ = train_one_epoch(CASES[name], np.float64, "cpu")
    _, plain_loss, _ = train_one_epoch(plain, np.float64, "cpu")
    assert not np.isclose(varied_loss, plain_loss, rtol=1e-6)


def test_draws_random_matches_cpu():
    layout = build_layout(DEEP, "tanh", "identity")
    params = initial_parameters(layout, np.random.default_rng(1), np.float64)
    for variants in ({}, {"NOISE_STD": 0.1}, {"MASK_FRACTION": 0.1}, {"DROPOUT": 0.1}):
        gpu = make_trainer(CudaTrainer, params, layout, variants, None)
        cpu = make_trainer(Trainer, params, layout, variants, None)
        assert gpu.draws_random == cpu.draws_random == bool(variants)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_corruption_masks_match_cpu(dtype, rng):
    X = rng.random((9, 5)).astype(dtype)
    order = rng.permutation(9).astype(np.int64)
    start, n_rows = 3, 5
    settings = hyper(NOISE_STD=0.2, MASK_FRACTION=0.3)
    batch = cuda.device_array((n_rows, 5), dtype=dtype)
    target = cuda.device_array((n_rows, 5), dtype=dtype)
    kernels.gather_corrupted(
        cuda.to_device(X), cuda.to_device(order), start, batch, target, SEED, 0.2, 0.3
    )
    rows = order[start : start + n_rows]
    expected = X[rows].copy()
    _corrupt(expected, rows, settings)
    actual = batch.copy_to_host()
    np.testing.assert_array_equal(target.copy_to_host(), X[rows])
    np.testing.assert_array_equal(actual == 0, expected == 0)
    assert 0 < np.count_nonzero(expected == 0) < expected.size
    # The compiled kernels add the noise in float64 and round once. The
    # simulator adds in NumPy, which rounds the noise to float32 first, and
    # the GPU's libdevice may round log and cos differently from libm.
    atol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_matches_cpu(dtype, rng):
    order = rng.permutation(11).astype(np.int64)
    start, layer, rate = 4, 2, 0.4
    settings = hyper(DROPOUT=rate)
    rows = order[start : start + 6]
    out = np.tanh(rng.standard_normal((6, 7))).astype(dtype)
    grad = rng.standard_normal((6, 7)).astype(dtype)
    tanh = ACTIVATION_CODES["tanh"]

    dropped = cuda.to_device(out)
    order_device = cuda.to_device(order)
    kernels.drop_units(dropped, order_device, start, SEED, layer, rate)
    expected = out.copy()
    _drop_units(expected, rows, settings, layer)
    np.testing.assert_array_equal(dropped.copy_to_host(), expected)
    assert 0 < np.count_nonzero(expected == 0) < expected.size

    grad_device = cuda.to_device(grad)
    kernels.dropout_backward(
        grad_device, dropped, order_device, start, SEED, layer, rate, tanh
    )
    expected_grad = grad.copy()
    _undo_dropout(expected, expected_grad, rows, settings, layer)
    activation_backward(expected_grad, expected, tanh, np.zeros(7, dtype=dtype))
    actual = grad_device.copy_to_host()
    np.testing.assert_array_equal(actual == 0, expected_grad == 0)
    np.testing.assert_allclose(actual, expected_grad, rtol=EPOCH_RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_norm(dtype, rng):
    values = rng.standard_normal(37).astype(dtype)
    partials = cuda.device_array(kernels.clip_partials(37), dtype=np.float64)
    clipped = cuda.to_device(values)
    kernels.clip_norm(clipped, 0.5, partials)
    norm = np.linalg.norm(values.astype(np.float64))
    np.testing.assert_allclose(
        clipped.copy_to_host(), values * (0.5 / norm), rtol=EPOCH_RTOL[dtype]
    )
    # Under the limit, nothing changes.
    unchanged = cuda.to_device(values)
    kernels.clip_norm(unchanged, 2 * norm, partials)
    np.testing.assert_array_equal(unchanged.copy_to_host(), values)


# ------------------------------------------------------------- estimator


@pytest.fixture
def simulated_launches(monkeypatch):
    # As in test_estimator.py: tiles that cover these small layers in one
    # block, because each simulated block costs tens of milliseconds.
    if SIMULATED:
        monkeypatch.setattr(kernels, "TILE", 8)
        monkeypatch.setattr(kernels, "THREADS", 32)


def fit_model(device, X, sample_weight, params):
    settings = {
        "hidden_layer_sizes": (5, 3),
        "max_iter": 2,
        "batch_size": 8,
        "random_state": 0,
        "tol": 0.0,
        "solver": "sgd",
        "learning_rate_init": 0.2,
        "device": device,
    }
    settings.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return AutoencoderTransformer(**settings).fit(X, sample_weight=sample_weight)


FITS = {
    # Weighted training and validation rows, corruption, dropout, clipping.
    "weighted-denoising-dropout": (
        np.float64,
        True,
        {
            "noise_std": 0.1,
            "mask_fraction": 0.2,
            "dropout": 0.2,
            "max_grad_norm": 0.3,
            "early_stopping": True,
            "validation_fraction": 0.25,
        },
    ),
    "tied-l1-sparsity": (
        np.float32,
        False,
        {
            "tied_weights": True,
            "code_l1": 0.01,
            "sparsity_weight": 0.1,
            "code_activation": "sigmoid",
        },
    ),
    "contractive": (
        np.float64,
        False,
        {"contractive": 0.1, "hidden_layer_sizes": (3,), "activation": "tanh"},
    ),
}


@pytest.mark.usefixtures("simulated_launches")
@pytest.mark.parametrize("name", FITS)
def test_variant_fit_matches_cpu(name, rng):
    dtype, weighted, params = FITS[name]
    X = rng.random((20, 6)).astype(dtype)
    sample_weight = np.linspace(0.2, 1.8, 20) if weighted else None
    gpu = fit_model("cuda", X, sample_weight, params)
    cpu = fit_model("cpu", X, sample_weight, params)
    rtol = FIT_RTOL[dtype]
    for a, b in zip(gpu.coefs_ + gpu.intercepts_, cpu.coefs_ + cpu.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=rtol)
    if gpu.validation_scores_ is not None:
        np.testing.assert_allclose(
            gpu.validation_scores_, cpu.validation_scores_, rtol=rtol
        )
