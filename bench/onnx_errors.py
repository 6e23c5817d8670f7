"""Measure how far onnxruntime's output of exported models is from fastae's.

For every activation, loss, dtype and estimator, a (16, 4) network is trained
for 20 epochs on 200 random rows of 20 features, and its exported encoder and
decoder run in onnxruntime on the same rows. The printed error is the largest
absolute difference divided by the largest magnitude of fastae's output,
maximised over the random seeds. Run it with
``python -m bench.onnx_errors [--seeds N]``; it needs the ``onnx`` extra.
"""

import argparse
import warnings

import numpy as np
import onnxruntime
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer, VariationalAutoencoder
from fastae._kernels.activations import ACTIVATION_CODES
from fastae.onnx import to_onnx

LOSSES = ("squared_error", "binary_crossentropy")


def run_graph(model_proto, X):
    session = onnxruntime.InferenceSession(
        model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {"X": X})[0]


def relative_error(actual, expected):
    expected = expected.astype(np.float64)
    difference = np.abs(actual.astype(np.float64) - expected)
    return float(np.max(difference) / np.max(np.abs(expected)))


def method_errors(model, X, export_dtype):
    """Return the errors of the exported encoder and decoder on ``X``."""
    codes = model.transform(X)
    X_export = X.astype(export_dtype)
    encoder = to_onnx(model, dtype=export_dtype)
    decoder = to_onnx(model, "inverse_transform", dtype=export_dtype)
    return {
        "transform": relative_error(run_graph(encoder, X_export), codes),
        "inverse_transform": relative_error(
            run_graph(decoder, codes.astype(export_dtype)),
            model.inverse_transform(codes),
        ),
    }


def measure(n_seeds):
    """Return the largest error per estimator, model dtype, graph dtype and method."""
    largest = {}
    cases = [
        (estimator, np.dtype(dtype), np.dtype(export))
        for estimator in (AutoencoderTransformer, VariationalAutoencoder)
        for dtype, export in ((np.float32, np.float32), (np.float64, np.float64))
    ]
    cases.append((AutoencoderTransformer, np.dtype(np.float64), np.dtype(np.float32)))
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        for estimator, dtype, export_dtype in cases:
            for activation in ACTIVATION_CODES:
                for loss in LOSSES:
                    if loss == "binary_crossentropy":
                        X = rng.random((200, 20)).astype(dtype)
                    else:
                        X = rng.standard_normal((200, 20)).astype(dtype)
                    model = estimator(
                        hidden_layer_sizes=(16, 4),
                        activation=activation,
                        loss=loss,
                        max_iter=20,
                        random_state=seed,
                    )
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        model.fit(X)
                    errors = method_errors(model, X, export_dtype)
                    for method, error in errors.items():
                        key = (
                            estimator.__name__,
                            dtype.name,
                            export_dtype.name,
                            method,
                        )
                        largest[key] = max(largest.get(key, 0.0), error)
    return largest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=int, default=5, help="number of random seeds (default: 5)"
    )
    args = parser.parse_args()
    print("estimator               model    graph    method             error")
    for key, error in sorted(measure(args.seeds).items()):
        estimator, dtype, export_dtype, method = key
        print(f"{estimator:23} {dtype:8} {export_dtype:8} {method:18} {error:.1e}")


if __name__ == "__main__":
    main()
