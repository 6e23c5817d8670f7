"""The regularised variants through AutoencoderTransformer, on the digits data.

The kernel tests (``test_variants.py``) check each variant's objective and
gradient exactly. These tests check the behaviour a user relies on: the parameters take
effect in the direction they promise, the fitted attributes keep their shapes,
results are reproducible, and invalid combinations are refused with a message
that names the fix.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer, TrainingDivergedError


@pytest.fixture(scope="module")
def digits():
    return load_digits().data / 16.0


def fit(X, sample_weight=None, **params):
    settings = {"hidden_layer_sizes": (16,), "max_iter": 20, "random_state": 0}
    settings.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return AutoencoderTransformer(**settings).fit(X, sample_weight=sample_weight)


def jacobian_norm(model, X, h=1e-4):
    """Return the mean squared Frobenius norm of d(code)/d(input), numerically."""
    base = model.transform(X)
    total = np.zeros(X.shape[0])
    for j in range(X.shape[1]):
        shifted = X.copy()
        shifted[:, j] += h
        total += (((model.transform(shifted) - base) / h) ** 2).sum(axis=1)
    return total.mean()


# ------------------------------------------------------------ tied weights


def test_tied_weights_share_transposed_matrices(digits):
    model = fit(digits, hidden_layer_sizes=(32, 8), tied_weights=True)
    coefs = model.coefs_
    assert [W.shape for W in coefs] == [(64, 32), (32, 8), (8, 32), (32, 64)]
    np.testing.assert_array_equal(coefs[3], coefs[0].T)
    np.testing.assert_array_equal(coefs[2], coefs[1].T)
    assert (
        model.score(digits)
        > fit(digits, hidden_layer_sizes=(32, 8)).score(digits) - 0.02
    )


def test_warm_start_can_untie_weights(digits):
    model = fit(digits, tied_weights=True, max_iter=3)
    model.set_params(tied_weights=False, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(digits)
    assert model._optimizer_state.state_a.size == sum(
        W.size + b.size for W, b in zip(model.coefs_, model.intercepts_)
    )
    assert not np.array_equal(model.coefs_[1], model.coefs_[0].T)


def test_tied_model_pickles(digits):
    model = fit(digits, tied_weights=True, max_iter=2)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.transform(digits), model.transform(digits))


# -------------------------------------------------------------- denoising


def test_masking_helps_reconstruct_masked_input(digits):
    masked = digits * (np.random.default_rng(1).random(digits.shape) >= 0.3)
    plain = fit(digits, hidden_layer_sizes=(64,), max_iter=40)
    denoising = fit(digits, hidden_layer_sizes=(64,), max_iter=40, mask_fraction=0.3)

    def error(model):
        return np.mean((model.inverse_transform(model.transform(masked)) - digits) ** 2)

    assert error(denoising) < 0.8 * error(plain)


@pytest.mark.parametrize(
    "params",
    [
        {"noise_std": 0.2},
        {"mask_fraction": 0.2},
        {"hidden_layer_sizes": (32, 8), "dropout": 0.3},
    ],
    ids=["noise", "mask", "dropout"],
)
def test_random_variants_are_reproducible(params, digits):
    first = fit(digits, max_iter=3, **params)
    second = fit(digits, max_iter=3, **params)
    random_key = list(params)[-1]
    plain = fit(digits, max_iter=3, **{**params, random_key: 0.0})
    np.testing.assert_array_equal(first.coefs_[0], second.coefs_[0])
    assert not np.allclose(first.coefs_[0], plain.coefs_[0])
    # Inference never adds noise or drops units.
    np.testing.assert_array_equal(first.transform(digits), first.transform(digits))


def test_partial_fit_draws_new_noise_each_epoch(digits):
    model = AutoencoderTransformer((16,), mask_fraction=0.3, random_state=0)
    model.partial_fit(digits)
    model.partial_fit(digits)
    twice = fit(digits, max_iter=2, mask_fraction=0.3, tol=0.0)
    np.testing.assert_allclose(model.coefs_[0], twice.coefs_[0], rtol=1e-12)


# ---------------------------------------------------------------- penalties


def test_code_l1_shrinks_code(digits):
    plain = np.abs(fit(digits, hidden_layer_sizes=(32,)).transform(digits)).mean()
    sparse = fit(digits, hidden_layer_sizes=(32,), code_l1=0.01).transform(digits)
    assert np.abs(sparse).mean() < 0.95 * plain


def test_sparsity_pulls_mean_activation_to_target(digits):
    model = fit(
        digits,
        hidden_layer_sizes=(64,),
        code_activation="sigmoid",
        sparsity_weight=1.0,
        sparsity_target=0.05,
        max_iter=30,
    )
    plain = fit(digits, hidden_layer_sizes=(64,), code_activation="sigmoid")
    assert model.transform(digits).mean() < 0.15
    assert plain.transform(digits).mean() > 0.3


def test_contractive_penalty_flattens_encoder(digits):
    plain = fit(digits, activation="sigmoid", max_iter=30)
    contractive = fit(digits, activation="sigmoid", max_iter=30, contractive=0.1)
    assert jacobian_norm(contractive, digits[:200]) < 0.8 * jacobian_norm(
        plain, digits[:200]
    )


def test_penalties_enter_the_reported_loss(digits):
    plain = fit(digits, max_iter=1)
    penalised = fit(digits, max_iter=1, code_l1=0.5)
    assert penalised.loss_curve_[0] > plain.loss_curve_[0]


# ----------------------------------------------------------------- clipping


def test_clipping_keeps_a_large_step_finite():
    X = load_digits().data  # unscaled, values up to 16
    params = {
        "solver": "sgd",
        "learning_rate_init": 0.5,
        "activation": "identity",
        "hidden_layer_sizes": (32,),
        "max_iter": 10,
    }
    with pytest.raises(TrainingDivergedError):
        fit(X, **params)
    model = fit(X, max_grad_norm=1.0, **params)
    assert model.loss_ < 20.0


# ----------------------------------------------------------- sample weights


def test_unit_weights_equal_no_weights(digits):
    weighted = fit(digits, sample_weight=np.ones(len(digits)), max_iter=3)
    plain = fit(digits, max_iter=3)
    np.testing.assert_array_equal(weighted.coefs_[0], plain.coefs_[0])
    assert weighted.loss_curve_ == plain.loss_curve_


def test_weighted_rows_are_reconstructed_better(digits):
    zeros = load_digits().target == 0
    weights = np.where(zeros, 20.0, 1.0)
    weighted = fit(digits, sample_weight=weights, hidden_layer_sizes=(8,))
    plain = fit(digits, hidden_layer_sizes=(8,))
    weighted_error = -weighted.score_samples(digits[zeros]).mean()
    plain_error = -plain.score_samples(digits[zeros]).mean()
    assert weighted_error < 0.8 * plain_error


def test_validation_loss_is_weighted(digits):
    weights = np.random.default_rng(0).uniform(0.0, 3.0, len(digits))
    params = {"early_stopping": True, "max_iter": 3}
    weighted = fit(digits, sample_weight=weights, **params)
    plain = fit(digits, **params)
    assert weighted.validation_scores_ != plain.validation_scores_


def test_partial_fit_takes_weights(digits):
    model = AutoencoderTransformer((16,), random_state=0)
    model.partial_fit(digits, sample_weight=np.full(len(digits), 2.0))
    assert model.n_iter_ == 1


@pytest.mark.parametrize(
    "weights, message",
    [
        (-np.ones(1797), "Negative values"),
        (np.ones(5), "sample_weight.shape"),
        (np.full(1797, np.nan), "NaN"),
    ],
    ids=["negative", "length", "nan"],
)
def test_bad_weights_raise(weights, message, digits):
    model = AutoencoderTransformer((16,), max_iter=2)
    with pytest.raises(ValueError, match=message):
        model.fit(digits, sample_weight=weights)
    assert not hasattr(model, "coefs_")


# ------------------------------------------------- per-feature errors


def test_reconstruction_errors_explain_scores(digits):
    model = fit(digits, max_iter=5)
    errors = model.reconstruction_errors(digits[:50])
    assert errors.shape == (50, 64)
    assert (errors >= 0).all()
    np.testing.assert_allclose(
        -errors.mean(axis=1), model.score_samples(digits[:50]), rtol=1e-12
    )


def test_reconstruction_errors_point_at_a_corrupted_pixel(digits):
    model = fit(digits, hidden_layer_sizes=(32,), max_iter=40)
    row = digits[:1].copy()
    row[0, 27] = 1.0 - row[0, 27] + 3.0
    assert np.argmax(model.reconstruction_errors(row)[0]) == 27


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "params, message",
    [
        ({"sparsity_weight": 0.1}, "code_activation='sigmoid'"),
        ({"contractive": 0.1, "hidden_layer_sizes": (8, 4)}, "one-layer encoder"),
        ({"dropout": 0.2}, "Add a layer"),
        ({"dropout": 1.0}, "dropout"),
        ({"mask_fraction": 1.0}, "mask_fraction"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"sparsity_target": 1.0}, "sparsity_target"),
        ({"noise_std": -1.0}, "noise_std"),
    ],
)
def test_invalid_variant_settings_raise(params, message, digits):
    model = AutoencoderTransformer(**{"hidden_layer_sizes": (8,), **params})
    with pytest.raises(ValueError, match=message):
        model.fit(digits)


# Every variant trains on the GPU. tests_cuda checks each against the CPU.
GPU_VARIANTS = {
    "tied": {"tied_weights": True},
    "denoising": {"noise_std": 0.1, "mask_fraction": 0.1},
    "dropout": {"dropout": 0.2, "hidden_layer_sizes": (8, 4)},
    "code_l1": {"code_l1": 0.01},
    "sparsity": {"sparsity_weight": 0.1, "code_activation": "sigmoid"},
    "contractive": {"contractive": 0.1},
    "clipping": {"max_grad_norm": 1.0},
    "sample_weight": {},
}


@pytest.mark.parametrize("name", GPU_VARIANTS)
def test_gpu_accepts_variant_settings(name, digits):
    from fastae._cuda import unavailable_reason

    params = {"hidden_layer_sizes": (8,), "max_iter": 1, "device": "cuda"}
    params.update(GPU_VARIANTS[name])
    model = AutoencoderTransformer(**params)
    X = digits[:20]
    sample_weight = np.linspace(0.5, 1.5, 20) if name == "sample_weight" else None
    if unavailable_reason() is not None:
        # Only the missing GPU stops the fit, not the variant.
        with pytest.raises(RuntimeError, match="device='cuda' cannot be used"):
            model.fit(X, sample_weight=sample_weight)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, sample_weight=sample_weight)
    assert model.n_iter_ == 1


def test_auto_device_trains_variants(digits):
    model = fit(digits, device="auto", tied_weights=True, max_iter=2)
    assert model.n_iter_ == 2


# ------------------------------------------------- review of edge cases


@pytest.mark.parametrize("dtype, value", [(np.float32, 1e30), (np.float64, 1e155)])
def test_overflowing_scores_raise(dtype, value, digits):
    model = fit(digits.astype(dtype), max_iter=2)
    X = np.full((2, 64), value)
    with pytest.raises(ValueError, match="squared reconstruction error overflowed"):
        model.score_samples(X)
    with pytest.raises(ValueError, match="squared reconstruction error overflowed"):
        model.reconstruction_errors(X)


@pytest.mark.parametrize("split", ["training", "validation"])
def test_zero_total_weight_in_split_raises(split, digits):
    model = AutoencoderTransformer(
        (8,), early_stopping=True, validation_fraction=0.5, random_state=0
    )
    # The validation rows are drawn by random_state; find them first.
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits))
    validation = np.zeros(len(digits), dtype=bool)
    validation[order[: len(digits) // 2]] = True
    weights = np.where(validation, 1.0, 0.0)
    if split == "validation":
        weights = 1.0 - weights
    with pytest.raises(ValueError, match=f"0 for every {split} row"):
        model.fit(digits, sample_weight=weights)
    assert not hasattr(model, "coefs_")


def test_large_power_t_trains_without_overflow(digits):
    model = fit(digits, learning_rate="invscaling", power_t=200.0, max_iter=3)
    assert model._history.learning_rates[-1] == 0.0


def test_divergence_with_finite_loss_names_other_causes(digits):
    with pytest.raises(TrainingDivergedError, match="while the loss was still"):
        fit(digits, hidden_layer_sizes=(8, 3), alpha=1e300)
