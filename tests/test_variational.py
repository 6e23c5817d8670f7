"""VariationalAutoencoder: its compiled kernel against NumPy, and the estimator."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastae import VariationalAutoencoder
from fastae._kernels.epoch import ADAM, NESTEROV, SGD
from fastae._kernels.losses import LOSS_CODES
from fastae._kernels.random import CODE_SAMPLE_STREAM, normal
from fastae._kernels.variational import (
    LOG_VAR_MAX,
    LOG_VAR_MIN,
    N_HYPER,
    objective_rows,
    train_epoch,
    work_size,
)
from fastae._network import initial_parameters
from fastae._variational_engine import (
    initial_variational_parameters,
    variational_layout,
)

from . import reference
from .conftest import DTYPES, assert_close

SOLVERS = {"sgd": SGD, "nesterov": NESTEROV, "adam": ADAM}
HYPER = {
    "learning_rate": 0.01,
    "momentum": 0.9,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "epsilon": 1e-8,
    "alpha": 0.01,
}

# n_features, hidden_layer_sizes, hidden activation, output activation, loss
CASES = [
    (6, (5, 2), "relu", "sigmoid", "binary_crossentropy"),
    (6, (5, 2), "tanh", "identity", "squared_error"),
    (5, (3,), "elu", "identity", "squared_error"),
    (7, (6, 4, 3), "softplus", "sigmoid", "binary_crossentropy"),
]


def case_id(case):
    return f"{case[2]}-{case[4]}-{len(case[1])}"


# --------------------------------------------------- NumPy reference


class Network:
    """The layout, shapes and activation names of one variational autoencoder."""

    def __init__(self, n_features, hidden, activation, output_activation):
        self.layout = variational_layout(
            n_features, list(hidden), activation, output_activation
        )
        self.shapes = [(int(i), int(o)) for i, o in self.layout[:, :2]]
        self.n_encoder = len(self.shapes) // 2
        self.code_size = hidden[-1]
        names = [activation] * len(self.shapes)
        names[self.n_encoder - 1] = "identity"
        names[-1] = output_activation
        self.names = names
        self.n_weights = sum(i * o for i, o in self.shapes)

    def initial(self, dtype, seed=0):
        return initial_parameters(self.layout, np.random.default_rng(seed), dtype)

    def split(self, params):
        """Return the weight matrices and bias vectors of the flat ``params``."""
        coefs, intercepts = [], []
        start = 0
        for fan_in, fan_out in self.shapes:
            coefs.append(params[start : start + fan_in * fan_out].reshape(fan_in, -1))
            start += fan_in * fan_out
        for _, fan_out in self.shapes:
            intercepts.append(params[start : start + fan_out])
            start += fan_out
        return coefs, intercepts


def code_noise(seed, rows, code_size):
    """Return the standard normal noise the kernel draws for ``rows``."""
    return np.array(
        [
            [normal(seed, CODE_SAMPLE_STREAM, row, j) for j in range(code_size)]
            for row in rows
        ]
    ).reshape(len(rows), code_size)


def layer_name(network, loss, layer):
    """Return the activation of ``layer``, identity for cross-entropy logits."""
    if layer == len(network.shapes) - 1 and loss == "binary_crossentropy":
        return "identity"
    return network.names[layer]


def run_layers(network, coefs, intercepts, loss, X, layers):
    """Return each layer's input, then the last output, and each pre-activation."""
    inputs, pre = [X], []
    for layer in layers:
        name = layer_name(network, loss, layer)
        out, z = reference.dense_forward(
            inputs[-1], coefs[layer], intercepts[layer], name
        )
        inputs.append(out)
        pre.append(z)
    return inputs, pre


def backprop(network, coefs, loss, inputs, pre, layers, grad, grad_coefs, grad_b):
    """Backpropagate ``grad`` through ``layers``, and return the input gradient."""
    for position in range(len(layers) - 1, -1, -1):
        layer = layers[position]
        name = layer_name(network, loss, layer)
        grad_W, grad_bias, grad = reference.dense_backward(
            inputs[position], coefs[layer], pre[position], grad, name
        )
        grad_coefs[layer] = grad_W
        grad_b[layer] = grad_bias
    return grad


def vae_minibatch(network, params, X, eps, loss, beta):
    """Return the objective sum over the rows of ``X`` and its gradient's mean.

    ``eps`` is the noise of each row's code sample, of shape ``(n_rows, k)``.
    Everything is computed in float64.
    """
    coefs, intercepts = network.split(params.astype(np.float64))
    X = X.astype(np.float64)
    k = network.code_size
    encoder = list(range(network.n_encoder))
    decoder = list(range(network.n_encoder, len(network.shapes)))

    enc_inputs, enc_pre = run_layers(network, coefs, intercepts, loss, X, encoder)
    head = enc_inputs[-1]
    mu, raw = head[:, :k], head[:, k:]
    log_var = np.clip(raw, LOG_VAR_MIN, LOG_VAR_MAX)
    std = np.exp(log_var / 2)
    z = mu + std * eps
    dec_inputs, dec_pre = run_layers(network, coefs, intercepts, loss, z, decoder)
    out = dec_inputs[-1]

    kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1 - log_var)
    total = reference.loss_elements(loss, out, X).sum() + beta * kl

    n_rows = X.shape[0]
    grad_coefs = [None] * len(coefs)
    grad_b = [None] * len(coefs)
    grad = reference.loss_gradient(loss, out, X) / n_rows
    grad_z = backprop(
        network, coefs, loss, dec_inputs, dec_pre, decoder, grad, grad_coefs, grad_b
    )
    inside = (raw >= LOG_VAR_MIN) & (raw <= LOG_VAR_MAX)
    grad_mu = grad_z + beta * mu / n_rows
    grad_log_var = 0.5 * (grad_z * std * eps + beta * (np.exp(log_var) - 1) / n_rows)
    grad_head = np.hstack([grad_mu, np.where(inside, grad_log_var, 0.0)])
    backprop(
        network,
        coefs,
        loss,
        enc_inputs,
        enc_pre,
        encoder,
        grad_head,
        grad_coefs,
        grad_b,
    )
    return total, reference.flatten(grad_coefs, grad_b)


def vae_row_objectives(network, params, X, eps, loss, beta):
    """Return the objective of each row of ``X`` with the noise ``eps``."""
    return np.array(
        [
            vae_minibatch(network, params, X[r : r + 1], eps[r : r + 1], loss, beta)[0]
            for r in range(X.shape[0])
        ]
    )


def vae_train_epoch(
    network, params, X, order, batch_size, loss, solver, beta, seed, state
):
    """Run one epoch in NumPy, and return ``(params, state, objective_sum)``."""
    params = params.astype(np.float64)
    total = 0.0
    for start in range(0, order.size, batch_size):
        rows = order[start : start + batch_size]
        eps = code_noise(seed, rows, network.code_size)
        batch_total, grads = vae_minibatch(network, params, X[rows], eps, loss, beta)
        total += batch_total
        l2 = HYPER["alpha"] / rows.size
        if solver == "adam":
            state["step"] += 1
            params, state["a"], state["b"] = reference.adam_update(
                params,
                grads,
                state["a"],
                state["b"],
                network.n_weights,
                HYPER["learning_rate"],
                HYPER["beta_1"],
                HYPER["beta_2"],
                HYPER["epsilon"],
                state["step"],
                l2,
            )
        else:
            params, state["a"] = reference.sgd_update(
                params,
                grads,
                state["a"],
                network.n_weights,
                HYPER["learning_rate"],
                HYPER["momentum"],
                solver == "nesterov",
                l2,
            )
    return params, state, total


# ------------------------------------------------------ compiled kernel


def hyper_array(beta, **changes):
    settings = dict(HYPER, **changes)
    keys = ["learning_rate", "momentum", "beta_1", "beta_2", "epsilon", "alpha"]
    hyper = np.array([settings[key] for key in keys] + [beta])
    assert hyper.size == N_HYPER
    return hyper


def kernel_gradient(network, params, X, loss, beta, seed):
    """Return the kernel's objective sum and gradient over all rows of ``X``.

    One SGD step with learning rate 1 and no momentum or penalty leaves the
    gradient in the gradient buffer.
    """
    n_rows = X.shape[0]
    grads = np.zeros_like(params)
    total = train_epoch(
        X,
        np.arange(n_rows, dtype=np.int64),
        n_rows,
        params.copy(),
        grads,
        np.zeros_like(params),
        np.zeros(0, dtype=params.dtype),
        network.layout,
        LOSS_CODES[loss],
        SGD,
        hyper_array(beta, learning_rate=1.0, momentum=0.0, alpha=0.0),
        np.zeros(1, dtype=np.int64),
        seed,
        np.empty(work_size(network.layout, n_rows), dtype=params.dtype),
    )
    return total, grads


def kernel_objectives(network, params, X, loss, beta, seed, sample, batch_size=4):
    out = np.empty(X.shape[0])
    work = np.empty(work_size(network.layout, batch_size), dtype=params.dtype)
    objective_rows(
        X,
        params,
        network.layout,
        LOSS_CODES[loss],
        beta,
        seed,
        sample,
        batch_size,
        work,
        out,
    )
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_minibatch_gradient_matches_numpy(case, dtype, rng):
    n_features, hidden, activation, output, loss = case
    network = Network(n_features, hidden, activation, output)
    params = network.initial(dtype)
    X = rng.random((9, n_features)).astype(dtype)
    seed = 1234

    total, grads = kernel_gradient(network, params, X, loss, 0.7, seed)
    eps = code_noise(seed, range(9), network.code_size)
    expected_total, expected = vae_minibatch(network, params, X, eps, loss, 0.7)
    assert grads.dtype == dtype
    np.testing.assert_allclose(
        total, expected_total, rtol=1e-5 if dtype == np.float32 else 1e-11
    )
    assert_close(grads, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sample", [True, False])
@pytest.mark.parametrize("case", CASES[:2], ids=case_id)
def test_row_objectives_match_numpy(case, sample, dtype, rng):
    n_features, hidden, activation, output, loss = case
    network = Network(n_features, hidden, activation, output)
    params = network.initial(dtype, seed=3)
    X = rng.random((11, n_features)).astype(dtype)

    actual = kernel_objectives(network, params, X, loss, 2.0, 77, sample)
    eps = code_noise(77, range(11), network.code_size)
    if not sample:
        eps = np.zeros_like(eps)
    expected = vae_row_objectives(network, params, X, eps, loss, 2.0)
    np.testing.assert_allclose(
        actual, expected, rtol=1e-5 if dtype == np.float32 else 1e-11
    )


def finite_difference(objective, start, h=1e-6):
    numeric = np.empty_like(start)
    for i in range(start.size):
        shifted = start.copy()
        shifted[i] += h
        upper = objective(shifted)
        shifted[i] -= 2 * h
        lower = objective(shifted)
        numeric[i] = (upper - lower) / (2 * h)
    return numeric


@pytest.mark.parametrize("beta", [1.0, 0.3, 4.0])
@pytest.mark.parametrize("loss", sorted(LOSS_CODES))
def test_gradient_matches_finite_difference(loss, beta, rng):
    network = Network(5, (4, 3), "tanh", "sigmoid")
    params = network.initial(np.float64, seed=1)
    X = rng.random((7, 5))
    seed = 99

    _, grads = kernel_gradient(network, params, X, loss, beta, seed)

    def objective(p):
        return kernel_objectives(network, p, X, loss, beta, seed, True).sum() / 7

    numeric = finite_difference(objective, params)
    np.testing.assert_allclose(grads, numeric, rtol=1e-6, atol=1e-9)


def log_var_bias_indices(network, params):
    """Return the flat indices of the log-variance biases of the encoder's head."""
    head = network.n_encoder - 1
    start = network.n_weights + sum(o for _, o in network.shapes[:head])
    k = network.code_size
    return np.arange(start + k, start + 2 * k)


def log_var_weight_columns(network, params, unit):
    """Return the flat indices of the head's weights into log-variance ``unit``."""
    head = network.n_encoder - 1
    start = sum(i * o for i, o in network.shapes[:head])
    fan_in, fan_out = network.shapes[head]
    rows = np.arange(fan_in)
    return start + rows * fan_out + network.code_size + unit


def test_gradient_zero_where_log_variance_clamped(rng):
    network = Network(5, (4, 3), "tanh", "identity")
    params = network.initial(np.float64, seed=2)
    biases = log_var_bias_indices(network, params)
    # The head reads 4 tanh outputs in (-1, 1) through weights below 0.78, so
    # the pre-activations of units 0 and 1 stay within 3.1 of their biases:
    # above LOG_VAR_MAX and below LOG_VAR_MIN.
    params[biases[0]] = LOG_VAR_MAX + 5.0
    params[biases[1]] = LOG_VAR_MIN - 5.0
    X = rng.random((6, 5))

    _, grads = kernel_gradient(network, params, X, "squared_error", 1.5, 5)

    for unit in (0, 1):
        assert grads[biases[unit]] == 0.0
        assert np.all(grads[log_var_weight_columns(network, params, unit)] == 0.0)
    assert grads[biases[2]] != 0.0
    eps = code_noise(5, range(6), network.code_size)
    _, expected = vae_minibatch(network, params, X, eps, "squared_error", 1.5)
    np.testing.assert_allclose(grads, expected, rtol=1e-10, atol=1e-13)


def test_clamped_gradient_matches_finite_difference(rng):
    # Only the lower clamp: above LOG_VAR_MAX the KL term is about exp(20), too
    # large for a finite difference to resolve the other terms.
    network = Network(5, (4, 3), "tanh", "identity")
    params = network.initial(np.float64, seed=2)
    biases = log_var_bias_indices(network, params)
    params[biases[1]] = LOG_VAR_MIN - 5.0
    X = rng.random((6, 5))

    _, grads = kernel_gradient(network, params, X, "squared_error", 1.5, 5)

    def objective(p):
        return kernel_objectives(network, p, X, "squared_error", 1.5, 5, True).sum() / 6

    numeric = finite_difference(objective, params)
    assert grads[biases[1]] == 0.0
    np.testing.assert_allclose(grads, numeric, rtol=1e-6, atol=1e-9)


def test_huge_log_variance_stays_finite():
    network = Network(3, (2,), "relu", "identity")
    params = network.initial(np.float32)
    params[log_var_bias_indices(network, params)] = 1e30
    X = np.ones((4, 3), dtype=np.float32)
    out = kernel_objectives(network, params, X, "squared_error", 1.0, 1, True)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_train_epoch_matches_numpy_loop(case, solver, dtype, rng):
    n_features, hidden, activation, output, loss = case
    network = Network(n_features, hidden, activation, output)
    params = network.initial(dtype)
    X = rng.random((23, n_features)).astype(dtype)
    order = rng.permutation(23).astype(np.int64)
    batch_size = 5  # 23 rows: four full batches and one of 3
    beta = 0.5

    expected = params.astype(np.float64)
    state = {"a": np.zeros(params.size), "b": np.zeros(params.size), "step": 0}
    state_a = np.zeros_like(params)
    state_b = np.zeros_like(params) if solver == "adam" else np.zeros(0, dtype)
    step = np.zeros(1, dtype=np.int64)
    work = np.empty(work_size(network.layout, batch_size), dtype=dtype)
    for seed in (11, 12):
        expected, state, expected_total = vae_train_epoch(
            network, expected, X, order, batch_size, loss, solver, beta, seed, state
        )
        total = train_epoch(
            X,
            order,
            batch_size,
            params,
            np.zeros_like(params),
            state_a,
            state_b,
            network.layout,
            LOSS_CODES[loss],
            SOLVERS[solver],
            hyper_array(beta),
            step,
            seed,
            work,
        )
    assert params.dtype == dtype
    assert step[0] == (10 if solver == "adam" else 0)
    np.testing.assert_allclose(
        total, expected_total, rtol=1e-4 if dtype == np.float32 else 1e-10
    )
    assert_close(params, expected, dtype, scale=10.0)


def test_noise_depends_on_row_not_position(rng):
    # Rows trained in another order, or in other minibatches, get the same
    # noise, so one full-batch step is the same whatever the order.
    network = Network(4, (3, 2), "relu", "identity")
    X = rng.random((8, 4))
    results = []
    for order in (np.arange(8), np.arange(8)[::-1].copy()):
        params = network.initial(np.float64)
        grads = np.zeros_like(params)
        train_epoch(
            X,
            order.astype(np.int64),
            8,
            params,
            grads,
            np.zeros_like(params),
            np.zeros(0),
            network.layout,
            LOSS_CODES["squared_error"],
            SGD,
            hyper_array(1.0, momentum=0.0),
            np.zeros(1, dtype=np.int64),
            3,
            np.empty(work_size(network.layout, 8)),
        )
        results.append(grads)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-15)


def test_train_epoch_stops_on_non_finite_objective():
    network = Network(3, (2,), "identity", "identity")
    params = network.initial(np.float64)
    before = params.copy()
    X = np.full((6, 3), 1e300)
    total = train_epoch(
        X,
        np.arange(6, dtype=np.int64),
        3,
        params,
        np.zeros_like(params),
        np.zeros_like(params),
        np.zeros_like(params),
        network.layout,
        LOSS_CODES["squared_error"],
        ADAM,
        hyper_array(1.0),
        np.zeros(1, dtype=np.int64),
        0,
        np.empty(work_size(network.layout, 3)),
    )
    assert not np.isfinite(total)
    np.testing.assert_array_equal(params, before)


# ------------------------------------------------------------ estimator


@parametrize_with_checks(
    [
        VariationalAutoencoder(hidden_layer_sizes=(8, 2), max_iter=20),
        VariationalAutoencoder(
            hidden_layer_sizes=(4, 2),
            activation="tanh",
            solver="sgd",
            early_stopping=True,
            max_iter=10,
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Some checks call partial_fit on the early-stopping configuration.
        warnings.filterwarnings("ignore", "partial_fit trains one epoch", UserWarning)
        check(estimator)


def small_model(**params):
    settings = {
        "hidden_layer_sizes": (6, 2),
        "max_iter": 5,
        "random_state": 0,
        "tol": 0.0,
    }
    settings.update(params)
    return VariationalAutoencoder(**settings)


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.fixture
def X(rng):
    return rng.random((40, 8))


@pytest.fixture(scope="module")
def digits():
    return load_digits().data / 16.0


def test_fit_shapes_and_attributes(X):
    model = fit_quietly(small_model(), X)
    assert [W.shape for W in model.coefs_] == [(8, 6), (6, 4), (2, 6), (6, 8)]
    assert [b.shape for b in model.intercepts_] == [(6,), (4,), (6,), (8,)]
    assert model.transform(X).shape == (40, 2)
    assert model.inverse_transform(np.zeros((3, 2))).shape == (3, 8)
    assert model.score_samples(X).shape == (40,)
    assert model.n_features_in_ == 8
    assert model.n_iter_ == 5
    assert len(model.loss_curve_) == 5
    assert model.loss_ == model.loss_curve_[-1]
    assert model.validation_scores_ is None
    assert list(model.get_feature_names_out()) == [
        "variationalautoencoder0",
        "variationalautoencoder1",
    ]


def test_training_lowers_objective_on_digits(digits):
    model = VariationalAutoencoder(
        (32, 4),
        loss="binary_crossentropy",
        batch_size=64,
        learning_rate_init=0.003,
        max_iter=15,
        random_state=0,
    )
    untrained = model.set_params(max_iter=1).partial_fit(digits).score(digits)
    fit_quietly(model.set_params(max_iter=15), digits)
    # Measured: the first epoch's objective is 38.5 nats per digit, and the
    # fifteenth epoch's 25.2.
    assert model.loss_curve_[-1] < 0.8 * model.loss_curve_[0]
    assert model.score(digits) > untrained + 5.0
    assert np.all(np.diff(model.loss_curve_[:5]) < 0)


def test_score_samples_matches_reference(X):
    model = fit_quietly(small_model(beta=2.5), X)
    network = Network(8, (6, 2), "relu", "identity")
    params = reference.flatten(model.coefs_, model.intercepts_)
    expected = vae_row_objectives(
        network, params, X, np.zeros((40, 2)), "squared_error", 2.5
    )
    np.testing.assert_allclose(model.score_samples(X), -expected, rtol=1e-11)
    assert model.score(X) == pytest.approx(-expected.mean(), rel=1e-11)


def test_score_uses_fitted_objective(X):
    model = fit_quietly(small_model(beta=2.0), X)
    before = model.score_samples(X)
    model.set_params(beta=0.0, loss="binary_crossentropy")
    np.testing.assert_array_equal(model.score_samples(X), before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_shape_dtype_and_reproducibility(dtype, X):
    model = fit_quietly(small_model(), X.astype(dtype))
    first = model.sample(7, random_state=3)
    assert first.shape == (7, 8)
    assert first.dtype == dtype
    np.testing.assert_array_equal(model.sample(7, random_state=3), first)
    assert not np.array_equal(model.sample(7, random_state=4), first)
    assert model.sample().shape == (1, 8)


@pytest.mark.parametrize("random_state", [-1, "a", 1.5])
def test_sample_rejects_bad_random_state(random_state, X):
    model = fit_quietly(small_model(), X)
    with pytest.raises(ValueError, match="random_state must be None"):
        model.sample(3, random_state=random_state)


def test_sample_decodes_standard_normal_codes(X):
    model = fit_quietly(small_model(), X)
    codes = np.random.default_rng(5).standard_normal((4, 2))
    np.testing.assert_array_equal(
        model.sample(4, random_state=np.random.default_rng(5)),
        model.inverse_transform(codes),
    )


def test_sample_leaves_global_generator_alone(X):
    model = fit_quietly(small_model(), X)
    np.random.seed(0)
    expected = np.random.random_sample()
    np.random.seed(0)
    model.sample(3)
    model.sample(3, random_state=np.random.RandomState(2))
    assert np.random.random_sample() == expected


def test_crossentropy_outputs_are_probabilities(digits):
    model = fit_quietly(small_model(loss="binary_crossentropy"), digits[:200])
    samples = model.sample(50, random_state=0)
    assert samples.min() >= 0.0
    assert samples.max() <= 1.0
    reconstructions = model.inverse_transform(model.transform(digits[:20]))
    assert reconstructions.min() >= 0.0
    assert reconstructions.max() <= 1.0


def test_transform_is_deterministic(X):
    model = fit_quietly(small_model(), X)
    np.testing.assert_array_equal(model.transform(X), model.transform(X))
    head = X @ model.coefs_[0] + model.intercepts_[0]
    head = np.maximum(head, 0) @ model.coefs_[1] + model.intercepts_[1]
    np.testing.assert_allclose(model.transform(X), head[:, :2], rtol=1e-12)


def test_same_seed_gives_identical_fit(X):
    first = fit_quietly(small_model(), X)
    second = fit_quietly(small_model(), X)
    for W, V in zip(first.coefs_, second.coefs_):
        np.testing.assert_array_equal(W, V)
    other = fit_quietly(small_model(random_state=1), X)
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_preserved(dtype, X):
    model = fit_quietly(small_model(), X.astype(dtype))
    assert model.coefs_[0].dtype == dtype
    assert model.transform(X).dtype == dtype
    assert model.inverse_transform(np.zeros((2, 2))).dtype == dtype
    assert model.score_samples(X).dtype == np.float64


def test_float32_and_float64_fits_agree(X):
    single = fit_quietly(small_model(), X.astype(np.float32))
    double = fit_quietly(small_model(), X)
    np.testing.assert_allclose(single.loss_curve_, double.loss_curve_, rtol=1e-4)


def test_partial_fit_epochs_equal_fit(X):
    fitted = fit_quietly(small_model(max_iter=3), X)
    stepped = small_model()
    for _ in range(3):
        stepped.partial_fit(X)
    assert stepped.n_iter_ == 1
    np.testing.assert_allclose(stepped.loss_curve_, fitted.loss_curve_, rtol=1e-12)
    for W, V in zip(stepped.coefs_, fitted.coefs_):
        np.testing.assert_allclose(W, V, rtol=1e-12)


def test_warm_start_continues_training(X):
    model = fit_quietly(small_model(warm_start=True, max_iter=3), X)
    weights = model.coefs_[0].copy()
    fit_quietly(model, X)
    assert len(model.loss_curve_) == 6
    assert model.n_iter_ == 3
    assert not np.array_equal(model.coefs_[0], weights)


def test_early_stopping_keeps_best_validation(digits):
    model = fit_quietly(
        small_model(early_stopping=True, max_iter=8, batch_size=64), digits[:300]
    )
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_loss_ == min(model.validation_scores_)


def test_verbose_prints_one_line_per_epoch(X, capsys):
    fit_quietly(small_model(verbose=2, max_iter=3), X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1: loss ")


def test_pickle_round_trip(X):
    model = fit_quietly(small_model(), X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    np.testing.assert_array_equal(restored.score_samples(X), model.score_samples(X))
    np.testing.assert_array_equal(
        restored.sample(5, random_state=1), model.sample(5, random_state=1)
    )
    restored.partial_fit(X)
    model.partial_fit(X)
    np.testing.assert_array_equal(restored.coefs_[0], model.coefs_[0])


# ------------------------------------------------------------- bad input


def test_nan_input_raises(X):
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        small_model().fit(bad)
    model = fit_quietly(small_model(), X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.transform(bad)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.score_samples(bad)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.inverse_transform(np.array([[0.0, np.nan]]))


def test_wrong_width_raises(X):
    model = fit_quietly(small_model(), X)
    with pytest.raises(ValueError, match="X has 5 features, but .* expecting 8"):
        model.transform(X[:, :5])
    with pytest.raises(ValueError, match="inverse_transform expects codes of width 2"):
        model.inverse_transform(np.zeros((2, 3)))


@pytest.mark.parametrize("n_samples", [-3, 0, 2.5, True, "4"])
def test_invalid_n_samples_raises(n_samples, X):
    model = fit_quietly(small_model(), X)
    with pytest.raises(
        ValueError, match=rf"n_samples must be a positive integer; got {n_samples!r}"
    ):
        model.sample(n_samples)


def test_sample_before_fit_raises():
    with pytest.raises(NotFittedError):
        small_model().sample(2)


def test_crossentropy_outside_unit_interval_raises(X):
    X = X.copy()
    X[0, 0] = -0.5
    with pytest.raises(
        ValueError,
        match=r"requires every value of X in \[0, 1\]; X has values from "
        r"-0\.5 to .*MinMaxScaler",
    ):
        small_model(loss="binary_crossentropy").fit(X)


def test_crossentropy_with_identity_output_raises(X):
    with pytest.raises(ValueError, match="needs output_activation='sigmoid'"):
        small_model(loss="binary_crossentropy", output_activation="identity").fit(X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"beta": -1.0}, "'beta' parameter .* Got -1.0 instead"),
        ({"hidden_layer_sizes": ()}, "at least the code size"),
        ({"hidden_layer_sizes": (4, 0)}, "positive integers"),
        ({"batch_size": True}, "batch_size must be an int"),
        ({"hidden_layer_sizes": (2**30 + 1,)}, "layer wider than 2147483647"),
    ],
)
def test_invalid_parameters_raise(params, message, X):
    with pytest.raises(ValueError, match=message):
        small_model(**params).fit(X)


def test_overflow_hidden_by_relu_raises(X):
    model = fit_quietly(small_model(activation="relu"), X)
    model.coefs_[0][:, 0] = 1.0
    too_large = np.zeros((3, 8))
    too_large[1] = -1e308
    with pytest.raises(ValueError, match="encoder's output overflowed"):
        model.transform(too_large)
    with pytest.raises(ValueError, match="encoder's output overflowed"):
        model.score_samples(too_large)


def test_edited_weights_raise(X):
    model = fit_quietly(small_model(), X)
    model.coefs_[1] = model.coefs_[1][:, :2]
    with pytest.raises(ValueError, match=r"coefs_\[1\] has shape \(6, 2\)"):
        model.transform(X)


# --------------------------------------------------------- failed calls


def test_failed_fit_leaves_no_model(X):
    model = small_model(learning_rate_init=1e6, solver="sgd", alpha=1e300)
    with pytest.raises(ValueError, match="diverged"):
        model.fit(X)
    assert not hasattr(model, "coefs_")
    assert not hasattr(model, "n_features_in_")


def test_failed_warm_fit_keeps_previous_model(X):
    model = fit_quietly(small_model(warm_start=True, max_iter=2), X)
    weights = [W.copy() for W in model.coefs_]
    history = model._history
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning):
            model.fit(X)
    for W, saved in zip(model.coefs_, weights):
        np.testing.assert_array_equal(W, saved)
    assert model._history is history
    assert len(model.loss_curve_) == 2


def test_failed_fit_with_new_width_keeps_model(X):
    model = fit_quietly(small_model(), X)
    codes = model.transform(X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.fit(np.full((5, 3), np.nan))
    assert model.n_features_in_ == 8
    np.testing.assert_array_equal(model.transform(X), codes)


def test_failed_partial_fit_keeps_generator(X):
    model = small_model(solver="sgd", batch_size=5)
    model.partial_fit(X)
    twin = pickle.loads(pickle.dumps(model))
    model.set_params(alpha=1e300)
    with pytest.raises(ValueError, match="diverged"):
        model.partial_fit(X)
    model.set_params(alpha=0.0001)
    model.partial_fit(X)
    twin.partial_fit(X)
    np.testing.assert_array_equal(model.coefs_[0], twin.coefs_[0])


def test_log_variance_head_starts_at_zero():
    network = Network(8, (6, 2), "relu", "identity")
    start = initial_variational_parameters(
        network.layout, np.random.default_rng(0), np.float64
    )
    coefs, intercepts = network.split(start)
    assert np.all(coefs[1][:, 2:] == 0.0)
    assert np.all(intercepts[1][2:] == 0.0)
    assert np.all(coefs[1][:, :2] != 0.0)
    assert np.all(coefs[0] != 0.0)


def test_sgd_trains_on_unscaled_data(rng):
    # Drawn log-variance weights would start these rows with log-variances
    # from -14 to 21, and SGD with momentum then diverges at epoch 5.
    X = rng.normal(loc=10.0, size=(100, 4))
    model = fit_quietly(
        small_model(hidden_layer_sizes=(3,), solver="sgd", max_iter=10), X
    )
    assert np.all(np.isfinite(model.loss_curve_))
    assert model.loss_ < model.loss_curve_[0]
