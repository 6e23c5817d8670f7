"""The compiled training epoch against a NumPy training loop, and its gradient."""

import numba
import numpy as np
import pytest

from fastae._kernels import epoch
from fastae._kernels.activations import ACTIVATION_CODES
from fastae._kernels.epoch import (
    ADAM,
    NESTEROV,
    SGD,
    _aligned_bound,
    evaluate_loss,
    train_epoch,
    train_epoch_parallel,
    work_size,
)
from fastae._kernels.losses import LOSS_CODES
from fastae._network import build_layout, initial_parameters
from fastae._threads import numba_threads

from . import reference
from .conftest import DTYPES, assert_close

UNIT_WEIGHTS = np.zeros(0)
SOLVERS = {"sgd": SGD, "nesterov": NESTEROV, "adam": ADAM}
HYPER = {
    "learning_rate": 0.01,
    "momentum": 0.9,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-8,
    "alpha": 0.01,
}


def hyper_array(**variants):
    keys = ["learning_rate", "momentum", "beta_1", "beta_2", "epsilon", "alpha"]
    return epoch.hyper_array(*[HYPER[key] for key in keys], **variants)


def network(sizes, hidden, output, dtype, seed=0):
    layout = build_layout(sizes, hidden, output)
    params = initial_parameters(layout, np.random.default_rng(seed), dtype)
    names = [hidden] * (len(sizes) - 2) + [output]
    return layout, params, names


CASES = [
    # sizes, hidden activation, output activation, loss
    ([6, 3, 6], "relu", "sigmoid", "binary_crossentropy"),
    ([6, 3, 6], "tanh", "identity", "squared_error"),
    ([5, 4, 2, 4, 5], "elu", "sigmoid", "squared_error"),
    ([5, 4, 2, 4, 5], "softplus", "sigmoid", "binary_crossentropy"),
    ([7, 1, 7], "leaky_relu", "identity", "squared_error"),
    ([4, 3, 4], "sigmoid", "identity", "squared_error"),
    ([4, 3, 4], "identity", "identity", "squared_error"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize(
    "case", CASES, ids=lambda case: f"{case[1]}-{case[3]}-{len(case[0])}"
)
def test_train_epoch_matches_numpy_loop(case, solver, dtype, rng):
    sizes, hidden, output, loss = case
    layout, params, names = network(sizes, hidden, output, dtype)
    X = rng.random((23, sizes[0])).astype(dtype)
    order = rng.permutation(23).astype(np.int64)
    batch_size = 5  # 23 rows: four full batches and one of 3

    expected_params = params.astype(np.float64)
    expected_state = {"a": np.zeros(params.size), "b": np.zeros(params.size), "step": 0}
    state_a = np.zeros_like(params)
    state_b = np.zeros_like(params)
    step = np.zeros(1, dtype=np.int64)
    work = np.empty(work_size(layout, batch_size), dtype=dtype)
    for _ in range(2):
        expected_params, expected_state, expected_total = reference.train_epoch(
            expected_params,
            X,
            order,
            batch_size,
            sizes,
            names,
            loss,
            solver,
            HYPER,
            expected_state,
        )
        total = train_epoch(
            X,
            order,
            UNIT_WEIGHTS,
            batch_size,
            params,
            np.zeros_like(params),
            state_a,
            state_b,
            layout,
            LOSS_CODES[loss],
            SOLVERS[solver],
            hyper_array(),
            step,
            work,
        )
    assert params.dtype == dtype
    assert step[0] == (10 if solver == "adam" else 0)
    np.testing.assert_allclose(
        total, expected_total, rtol=1e-4 if dtype == np.float32 else 1e-10
    )
    assert_close(params, expected_params, dtype, scale=10.0)


@pytest.mark.parametrize("loss", sorted(LOSS_CODES))
def test_network_gradient_matches_finite_difference(loss, rng):
    sizes = [5, 4, 2, 4, 5]
    layout, params, names = network(sizes, "tanh", "sigmoid", np.float64)
    X = rng.random((7, 5))
    n_rows = X.shape[0]
    order = np.arange(n_rows, dtype=np.int64)

    # One SGD step over all rows with learning rate 1 and no momentum or
    # penalty leaves the gradient in the gradient buffer.
    grads = np.zeros_like(params)
    hyper = epoch.hyper_array(1.0, 0.0, 0.9, 0.999, 1e-8, 0.0)
    work = np.empty(work_size(layout, n_rows), dtype=np.float64)
    start = params.copy()
    train_epoch(
        X,
        order,
        UNIT_WEIGHTS,
        n_rows,
        params,
        grads,
        np.zeros_like(params),
        np.zeros(0),
        layout,
        LOSS_CODES[loss],
        SGD,
        hyper,
        np.zeros(1, dtype=np.int64),
        work,
    )
    np.testing.assert_allclose(start - params, grads, rtol=1e-9, atol=1e-15)

    def objective(p):
        return (
            evaluate_loss(X, UNIT_WEIGHTS, p, layout, LOSS_CODES[loss], n_rows, work)
            / n_rows
        )

    h = 1e-6
    numeric = np.empty_like(start)
    for i in range(start.size):
        shifted = start.copy()
        shifted[i] += h
        upper = objective(shifted)
        shifted[i] -= 2 * h
        lower = objective(shifted)
        numeric[i] = (upper - lower) / (2 * h)
    np.testing.assert_allclose(grads, numeric, rtol=1e-6, atol=1e-9)

    _, expected = reference.network_gradient(start, X, sizes, names, loss)
    np.testing.assert_allclose(grads, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_evaluate_loss_matches_reference(dtype, rng):
    sizes = [6, 4, 6]
    layout, params, names = network(sizes, "relu", "sigmoid", dtype)
    X = rng.random((11, 6)).astype(dtype)
    work = np.empty(work_size(layout, 4), dtype=dtype)
    total = evaluate_loss(
        X, UNIT_WEIGHTS, params, layout, LOSS_CODES["binary_crossentropy"], 4, work
    )
    expected, _ = reference.network_gradient(
        params.astype(np.float64), X, sizes, names, "binary_crossentropy"
    )
    np.testing.assert_allclose(
        total, expected, rtol=1e-5 if dtype == np.float32 else 1e-12
    )


def test_train_epoch_stops_on_non_finite_loss():
    sizes = [3, 2, 3]
    layout, params, _ = network(sizes, "identity", "identity", np.float64)
    X = np.full((8, 3), 1e300)
    work = np.empty(work_size(layout, 2), dtype=np.float64)
    total = train_epoch(
        X,
        np.arange(8, dtype=np.int64),
        UNIT_WEIGHTS,
        2,
        params,
        np.zeros_like(params),
        np.zeros_like(params),
        np.zeros_like(params),
        layout,
        LOSS_CODES["squared_error"],
        ADAM,
        hyper_array(),
        np.zeros(1, dtype=np.int64),
        work,
    )
    assert not np.isfinite(total)


def test_activation_codes_cover_layout():
    layout = build_layout([4, 3, 2, 3, 4], "elu", "sigmoid")
    assert list(layout[:, 4]) == [ACTIVATION_CODES["elu"]] * 3 + [
        ACTIVATION_CODES["sigmoid"]
    ]


def run_parallel_epoch(
    X, order, batch_size, layout, params, state, loss, solver, n_parts
):
    """Run one epoch of ``train_epoch_parallel``; return its loss sum."""
    work_length = work_size(layout, -(-batch_size // n_parts))
    return train_epoch_parallel(
        X,
        order,
        UNIT_WEIGHTS,
        batch_size,
        params,
        np.zeros((n_parts, params.size), dtype=params.dtype),
        state["a"],
        state["b"],
        layout,
        LOSS_CODES[loss],
        SOLVERS[solver],
        hyper_array(),
        state["step"],
        np.empty((n_parts, work_length), dtype=params.dtype),
        np.zeros(n_parts),
    )


def zero_state(params):
    return {
        "a": np.zeros_like(params),
        "b": np.zeros_like(params),
        "step": np.zeros(1, dtype=np.int64),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("n_parts", [1, 2, 4])
@pytest.mark.parametrize(
    "case", CASES[:4], ids=lambda case: f"{case[1]}-{case[3]}-{len(case[0])}"
)
def test_parallel_epoch_matches_numpy_loop(case, n_parts, solver, dtype, rng):
    sizes, hidden, output, loss = case
    layout, params, names = network(sizes, hidden, output, dtype)
    X = rng.random((23, sizes[0])).astype(dtype)
    order = rng.permutation(23).astype(np.int64)
    # Batches of 5 rows split into 4 parts give parts of 1 and 2 rows, and
    # the last batch of 3 rows leaves one part empty.
    batch_size = 5

    expected_params = params.astype(np.float64)
    expected_state = {"a": np.zeros(params.size), "b": np.zeros(params.size), "step": 0}
    state = zero_state(params)
    for _ in range(2):
        expected_params, expected_state, expected_total = reference.train_epoch(
            expected_params,
            X,
            order,
            batch_size,
            sizes,
            names,
            loss,
            solver,
            HYPER,
            expected_state,
        )
        total = run_parallel_epoch(
            X, order, batch_size, layout, params, state, loss, solver, n_parts
        )
    assert params.dtype == dtype
    assert state["step"][0] == (10 if solver == "adam" else 0)
    np.testing.assert_allclose(
        total, expected_total, rtol=1e-4 if dtype == np.float32 else 1e-10
    )
    assert_close(params, expected_params, dtype, scale=10.0)


def test_parallel_epoch_independent_of_thread_count(rng):
    layout, start, _ = network([40, 16, 40], "relu", "sigmoid", np.float32)
    X = rng.random((300, 40)).astype(np.float32)
    order = rng.permutation(300).astype(np.int64)
    results = []
    for n_threads in [1, numba.config.NUMBA_NUM_THREADS, 1]:
        params = start.copy()
        state = zero_state(params)
        with numba_threads(n_threads):
            total = run_parallel_epoch(
                X, order, 64, layout, params, state, "binary_crossentropy", "adam", 3
            )
        results.append((total, params))
    for total, params in results[1:]:
        assert total == results[0][0]
        np.testing.assert_array_equal(params, results[0][1])


def test_parallel_epoch_stops_on_non_finite_loss():
    layout, params, _ = network([3, 2, 3], "identity", "identity", np.float64)
    X = np.full((8, 3), 1e300)
    before = params.copy()
    total = run_parallel_epoch(
        X,
        np.arange(8, dtype=np.int64),
        4,
        layout,
        params,
        zero_state(params),
        "squared_error",
        "adam",
        2,
    )
    assert not np.isfinite(total)
    np.testing.assert_array_equal(params, before)


@pytest.mark.parametrize("size", [0, 1, 63, 64, 1000, 100_353])
@pytest.mark.parametrize("n_parts", [1, 2, 3, 16])
def test_parameter_slices_partition_buffer(size, n_parts):
    bounds = [_aligned_bound(size, part, n_parts) for part in range(n_parts + 1)]
    assert bounds[0] == 0
    assert bounds[-1] == size
    assert bounds == sorted(bounds)
    assert all(bound % 64 == 0 for bound in bounds[:-1])
