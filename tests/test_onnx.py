"""ONNX export: onnxruntime's output against transform and inverse_transform."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from fastae import AutoencoderTransformer, VariationalAutoencoder
from fastae._kernels.activations import ACTIVATION_CODES
from fastae.onnx import register_converters, to_onnx

skl2onnx = pytest.importorskip(
    "skl2onnx", reason="ONNX export needs skl2onnx (the onnx extra)"
)
onnxruntime = pytest.importorskip(
    "onnxruntime", reason="running exported graphs needs onnxruntime (the onnx extra)"
)

# Largest error allowed in onnxruntime's output, relative to the largest
# magnitude of fastae's output. bench/onnx_errors.py measured at most 4.9e-7
# in float32 and 7.8e-16 in float64 (onnxruntime 1.32, CPU provider).
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}

ACTIVATIONS = sorted(ACTIVATION_CODES)
LOSSES = ["squared_error", "binary_crossentropy"]
DTYPES = [np.float32, np.float64]


def training_data(rng, loss, dtype, n_rows=37, n_features=10):
    if loss == "binary_crossentropy":
        X = rng.random((n_rows, n_features))
    else:
        X = rng.standard_normal((n_rows, n_features))
    return X.astype(dtype)


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


def run_graph(model_proto, X):
    session = onnxruntime.InferenceSession(
        model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    assert len(session.get_inputs()) == 1
    return session.run(None, {session.get_inputs()[0].name: X})[0]


def assert_matches(actual, expected, dtype):
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(
        actual, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale
    )


def assert_exports_match(model, X, dtype):
    """Check the exported encoder and decoder of ``model`` on ``X``."""
    codes = model.transform(X)
    assert_matches(run_graph(to_onnx(model), X), codes, dtype)
    decoder = to_onnx(model, "inverse_transform")
    assert_matches(run_graph(decoder, codes), model.inverse_transform(codes), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_export_matches_each_activation(activation, loss, dtype, rng):
    X = training_data(rng, loss, dtype)
    model = AutoencoderTransformer(
        hidden_layer_sizes=(7, 3),
        activation=activation,
        loss=loss,
        max_iter=3,
        random_state=0,
    )
    fit_quietly(model, X)
    assert_exports_match(model, X, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "params",
    [
        {"activation": "tanh", "code_activation": "identity"},
        {"activation": "relu", "code_activation": "sigmoid"},
        {"activation": "elu", "tied_weights": True},
        {"activation": "leaky_relu", "output_activation": "sigmoid"},
        {"hidden_layer_sizes": (4,), "activation": "softplus", "tied_weights": True},
    ],
    ids=["linear-code", "sigmoid-code", "tied", "sigmoid-output", "one-layer-tied"],
)
def test_export_matches_variants(params, dtype, rng):
    X = training_data(rng, "squared_error", dtype)
    model = AutoencoderTransformer(
        **{"hidden_layer_sizes": (7, 3), "max_iter": 3, "random_state": 0, **params}
    )
    fit_quietly(model, X)
    assert_exports_match(model, X, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("activation", "loss"), [("relu", "squared_error"), ("tanh", "binary_crossentropy")]
)
def test_variational_export_matches(activation, loss, dtype, rng):
    X = training_data(rng, loss, dtype)
    model = VariationalAutoencoder(
        hidden_layer_sizes=(7, 3),
        activation=activation,
        loss=loss,
        max_iter=3,
        random_state=0,
    )
    fit_quietly(model, X)
    assert to_onnx(model).graph.output[0].type.tensor_type.shape.dim[1].dim_value == 3
    assert_exports_match(model, X, dtype)


@pytest.mark.parametrize("activation", ["softplus", "elu", "sigmoid", "tanh"])
def test_export_large_inputs_stay_finite(activation, rng):
    # Pre-activations far beyond 710, where exp overflows in float64.
    X = training_data(rng, "squared_error", np.float64)
    model = AutoencoderTransformer(
        hidden_layer_sizes=(5,), activation=activation, max_iter=2, random_state=0
    )
    fit_quietly(model, X)
    X_large = X * 1e4
    codes = model.transform(X_large)
    assert np.max(np.abs(X_large @ model.coefs_[0])) > 1e3
    assert_matches(run_graph(to_onnx(model), X_large), codes, np.float64)


def test_float64_model_exported_in_float32(rng):
    X = training_data(rng, "squared_error", np.float64)
    model = fit_quietly(
        AutoencoderTransformer(hidden_layer_sizes=(7, 3), max_iter=3, random_state=0),
        X,
    )
    codes = run_graph(to_onnx(model, dtype=np.float32), X.astype(np.float32))
    assert codes.dtype == np.float32
    assert_matches(codes.astype(np.float64), model.transform(X), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_skl2onnx_export_has_dynamic_batch(dtype, rng):
    register_converters()
    X = training_data(rng, "squared_error", dtype)
    model = fit_quietly(
        AutoencoderTransformer(hidden_layer_sizes=(6, 2), max_iter=3, random_state=0),
        X,
    )
    encoder = skl2onnx.to_onnx(model, X[:1])
    codes = model.transform(X)
    assert codes.shape[0] == 37
    assert_matches(run_graph(encoder, X), codes, dtype)

    decoder = skl2onnx.to_onnx(
        model, codes[:1], options={id(model): {"method": "inverse_transform"}}
    )
    assert_matches(run_graph(decoder, codes), model.inverse_transform(codes), dtype)


@pytest.mark.parametrize("estimator", [AutoencoderTransformer, VariationalAutoencoder])
def test_pipeline_with_scaler_exports(estimator, rng):
    register_converters()
    X = (rng.standard_normal((37, 10)) * 50 + 20).astype(np.float32)
    pipeline = make_pipeline(
        MinMaxScaler(),
        estimator(hidden_layer_sizes=(6, 2), max_iter=3, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(X)
    exported = skl2onnx.to_onnx(pipeline, X[:1])
    assert_matches(run_graph(exported, X), pipeline.transform(X), np.float32)


def test_unfitted_model_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        to_onnx(AutoencoderTransformer())
    register_converters()
    with pytest.raises(NotFittedError, match="not fitted"):
        skl2onnx.to_onnx(VariationalAutoencoder(), np.zeros((1, 4)))


def test_unsupported_method_raises(rng):
    X = training_data(rng, "squared_error", np.float64)
    model = fit_quietly(
        AutoencoderTransformer(hidden_layer_sizes=(3,), max_iter=1, random_state=0), X
    )
    with pytest.raises(ValueError, match="method must be one of.*'score_samples'"):
        to_onnx(model, "score_samples")
    register_converters()
    with pytest.raises(ValueError, match="option 'method'"):
        skl2onnx.to_onnx(model, X[:1], options={id(model): {"method": "score"}})


def test_invalid_arguments_raise(rng):
    X = training_data(rng, "squared_error", np.float64)
    model = fit_quietly(
        AutoencoderTransformer(hidden_layer_sizes=(3,), max_iter=1, random_state=0), X
    )
    with pytest.raises(ValueError, match="dtype must be numpy.float32"):
        to_onnx(model, dtype=np.int32)
    with pytest.raises(TypeError, match="got MinMaxScaler"):
        to_onnx(MinMaxScaler().fit(X))
    register_converters()
    with pytest.raises(ValueError, match="has 4 columns, but the model expects 10"):
        skl2onnx.to_onnx(model, X[:1, :4])
    with pytest.raises(ValueError, match="target_opset must be None or an int"):
        to_onnx(model, target_opset=1)
    with pytest.raises(ValueError, match="target_opset must be None or an int"):
        to_onnx(model, target_opset="x")


def test_inconsistent_weights_raise(rng):
    X = training_data(rng, "squared_error", np.float64)
    model = fit_quietly(
        AutoencoderTransformer(hidden_layer_sizes=(3,), max_iter=1, random_state=0), X
    )
    model.coefs_[0] = model.coefs_[0][:, :1]
    with pytest.raises(ValueError, match=r"coefs_\[0\] has shape"):
        to_onnx(model)


def test_import_fastae_does_not_import_skl2onnx():
    code = (
        "import sys, fastae, fastae.onnx; "
        "assert not {'skl2onnx', 'onnx', 'onnxruntime'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_skl2onnx_raises(rng, monkeypatch):
    X = training_data(rng, "squared_error", np.float64)
    model = fit_quietly(
        AutoencoderTransformer(hidden_layer_sizes=(3,), max_iter=1, random_state=0), X
    )
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'fastae\[onnx\]'"):
        to_onnx(model)
    with pytest.raises(ImportError, match=r"pip install 'fastae\[onnx\]'"):
        register_converters()
