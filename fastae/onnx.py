"""Export fitted fastae models to ONNX through skl2onnx.

:func:`to_onnx` exports the encoder (``transform``) or the decoder
(``inverse_transform``) of an :class:`~fastae.AutoencoderTransformer` or a
:class:`~fastae.VariationalAutoencoder`. :func:`register_converters` registers
both estimators with skl2onnx, after which ``skl2onnx.to_onnx`` exports them
on their own or inside a scikit-learn pipeline. Each dense layer becomes a
``MatMul`` and an ``Add`` node followed by the nodes of its activation, and the
graph's first dimension is dynamic, so it runs on any number of rows.

skl2onnx and onnx are optional dependencies (the ``onnx`` extra, which also
installs onnxruntime to run the exported graphs). This module imports them
only when one of its functions is called, so ``import fastae`` never does.
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._estimator import AutoencoderTransformer, _check_layers
from ._kernels.activations import (
    ACTIVATION_CODES,
    ELU,
    IDENTITY,
    LEAKY_RELU,
    LEAKY_RELU_SLOPE,
    RELU,
    SIGMOID,
    SOFTPLUS,
    TANH,
)
from ._kernels.epoch import ACTIVATION
from ._variational import VariationalAutoencoder

__all__ = ["register_converters", "to_onnx"]

# The estimator methods that an exported graph can compute.
_METHODS = ("transform", "inverse_transform")

# Names of the graph's output for each method, as to_onnx writes them.
_OUTPUT_NAMES = {"transform": "code", "inverse_transform": "reconstruction"}

# The skl2onnx alias of each estimator type.
_ALIASES = {
    AutoencoderTransformer: "FastaeAutoencoderTransformer",
    VariationalAutoencoder: "FastaeVariationalAutoencoder",
}

# ONNX operators that compute an activation in a single node.
_SINGLE_NODE_ACTIVATIONS = {RELU: "Relu", SIGMOID: "Sigmoid", TANH: "Tanh"}

_ACTIVATION_NAMES = {code: name for name, code in ACTIVATION_CODES.items()}


def register_converters():
    """Register the shape calculator and converter of both estimators with skl2onnx.

    After this call ``skl2onnx.to_onnx`` converts an
    :class:`~fastae.AutoencoderTransformer` or a
    :class:`~fastae.VariationalAutoencoder`, alone or as a step of a
    pipeline, to the graph of its ``transform``. The option ``method`` selects
    ``"inverse_transform"`` instead, for example
    ``options={id(model): {"method": "inverse_transform"}}``. Calling it again
    replaces the registration with an identical one.

    Raises
    ------
    ImportError
        When skl2onnx or onnx is not installed.
    """
    skl2onnx = _import_skl2onnx()
    for estimator_type, alias in _ALIASES.items():
        skl2onnx.update_registered_converter(
            estimator_type,
            alias,
            _calculate_output_shape,
            _convert,
            options={"method": list(_METHODS)},
        )


def to_onnx(model, method="transform", *, dtype=None, target_opset=None):
    """Export the encoder or the decoder of a fitted model as an ONNX graph.

    The graph has one input, ``"X"``, and one output: ``"code"`` for
    ``transform`` and ``"reconstruction"`` for ``inverse_transform``. Both
    have a dynamic number of rows. The graph computes what the method
    computes, but without the method's input checks, so it raises no error
    for NaN or infinite values.

    Parameters
    ----------
    model : AutoencoderTransformer or VariationalAutoencoder
        A fitted model.
    method : {"transform", "inverse_transform"}, default="transform"
        The method to export. ``"transform"`` maps data to codes (the code
        means ``mu`` for a :class:`~fastae.VariationalAutoencoder`), and
        ``"inverse_transform"`` maps codes to reconstructions, with the output
        activation applied (a sigmoid for ``loss="binary_crossentropy"``).
    dtype : {numpy.float32, numpy.float64} or None, default=None
        Element type of the graph's input, output and weights. None uses the
        dtype the model was fitted with. Weights are rounded when a float64
        model is exported in float32.
    target_opset : int or None, default=None
        ONNX opset of the graph; None lets skl2onnx choose its latest.

    Returns
    -------
    onnx.ModelProto
        The graph, ready for ``onnxruntime.InferenceSession`` after
        ``SerializeToString()``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When ``model`` is not fitted.
    ValueError
        When ``method`` or ``dtype`` is not supported.
    TypeError
        When ``model`` is not a fastae estimator.
    ImportError
        When skl2onnx or onnx is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> from fastae import AutoencoderTransformer
    >>> from fastae.onnx import to_onnx
    >>> X = np.random.default_rng(0).random((100, 8), dtype=np.float32)
    >>> model = AutoencoderTransformer((4,), max_iter=20, random_state=0).fit(X)
    >>> session = onnxruntime.InferenceSession(to_onnx(model).SerializeToString())
    >>> session.run(None, {"X": X})[0].shape
    (100, 4)
    """
    if method not in _METHODS:
        raise ValueError(
            f"method must be one of {list(_METHODS)}; got {method!r}. Other "
            "methods cannot be exported to ONNX."
        )
    if type(model) not in _ALIASES:
        raise TypeError(
            "to_onnx exports an AutoencoderTransformer or a "
            f"VariationalAutoencoder; got {type(model).__name__}. Export "
            "pipelines with skl2onnx.to_onnx after calling register_converters()."
        )
    check_is_fitted(model)
    dtype = _export_dtype(model, dtype)
    _check_target_opset(target_opset)

    skl2onnx = _import_skl2onnx()
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    register_converters()
    tensor_type = FloatTensorType if dtype == np.float32 else DoubleTensorType
    layers = _exported_layers(model, method)
    n_inputs = layers[0][0].shape[0]
    n_outputs = layers[-1][0].shape[1]
    return skl2onnx.convert_sklearn(
        model,
        initial_types=[("X", tensor_type([None, n_inputs]))],
        final_types=[(_OUTPUT_NAMES[method], tensor_type([None, n_outputs]))],
        options={id(model): {"method": method}},
        target_opset=target_opset,
    )


# Oldest opset accepted: its versions of MatMul, Add, Max, Min, Exp and Log
# take float and double tensors, and onnxruntime runs them.
_MIN_OPSET = 13


def _check_target_opset(target_opset):
    if target_opset is None:
        return
    if (
        not isinstance(target_opset, numbers.Integral)
        or isinstance(target_opset, bool)
        or target_opset < _MIN_OPSET
    ):
        raise ValueError(
            f"target_opset must be None or an int of at least {_MIN_OPSET}; got "
            f"{target_opset!r}. None picks the newest opset skl2onnx supports."
        )


def _export_dtype(model, dtype):
    if dtype is None:
        return model.coefs_[0].dtype
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.float32, np.float64):
        raise ValueError(
            f"dtype must be numpy.float32, numpy.float64 or None; got {dtype!r}."
        )
    return resolved


def _import_skl2onnx():
    try:
        import onnx  # noqa: F401
        import skl2onnx
    except ImportError as error:
        raise ImportError(
            "ONNX export needs the skl2onnx and onnx packages, which are not "
            "installed. Install them with pip install 'fastae[onnx]'."
        ) from error
    return skl2onnx


def _exported_layers(model, method):
    """Return ``(weights, bias, activation code)`` of each layer that ``method`` runs.

    Raises NotFittedError for an unfitted model. For the variational model's
    ``transform`` the last encoder layer keeps only the columns of the code
    means, the first half of its linear head.
    """
    check_is_fitted(model)
    if isinstance(model, VariationalAutoencoder):
        model._check_weights()
    else:
        _check_layers(model.coefs_, model.intercepts_, model.coefs_[0].dtype)
    if isinstance(model, VariationalAutoencoder):
        activations = model._layout[:, ACTIVATION]
        n_encoder = model._layout.shape[0] // 2
    else:
        activations = model._layer_activations
        n_encoder = model._n_encoder_layers
    layers = list(zip(model.coefs_, model.intercepts_, activations.tolist()))
    if method == "inverse_transform":
        return layers[n_encoder:]

    encoder = layers[:n_encoder]
    if isinstance(model, VariationalAutoencoder):
        code_size = model._n_features_out
        weights, bias, activation = encoder[-1]
        encoder[-1] = (weights[:, :code_size], bias[:code_size], activation)
    return encoder


def _method_option(options_source, model):
    """Return the ``method`` option of ``model`` from a skl2onnx scope or container."""
    return options_source.get_options(model, {"method": "transform"})["method"]


def _calculate_output_shape(operator):
    """Check the input of ``operator`` and set the type and shape of its output."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from skl2onnx.common.utils import (
        check_input_and_output_numbers,
        check_input_and_output_types,
    )

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(
        operator, good_input_types=[FloatTensorType, DoubleTensorType]
    )
    model = operator.raw_operator
    method = _method_option(operator.scope_inst, model)
    layers = _exported_layers(model, method)

    input_type = operator.inputs[0].type
    expected_width = layers[0][0].shape[0]
    width = input_type.shape[1] if len(input_type.shape) == 2 else None
    if width is not None and width != expected_width:
        raise ValueError(
            f"The input of {type(model).__name__}.{method} has {width} columns, "
            f"but the model expects {expected_width}. Export it with input of "
            f"shape (n_rows, {expected_width})."
        )
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = type(input_type)([n_rows, layers[-1][0].shape[1]])


def _convert(scope, operator, container):
    """Write the nodes and initializers of ``operator``'s dense layers."""
    from skl2onnx.common.data_types import FloatTensorType

    model = operator.raw_operator
    method = _method_option(container, model)
    is_float32 = isinstance(operator.inputs[0].type, FloatTensorType)
    dtype = np.float32 if is_float32 else np.float64

    current = operator.inputs[0].full_name
    for weights, bias, activation in _exported_layers(model, method):
        weights_name = _add_constant(scope, container, "coef", weights.astype(dtype))
        bias_name = _add_constant(scope, container, "intercept", bias.astype(dtype))
        product = _add_node(scope, container, "MatMul", [current, weights_name])
        pre_activation = _add_node(scope, container, "Add", [product, bias_name])
        current = _add_activation(scope, container, activation, pre_activation, dtype)
    container.add_node(
        "Identity",
        [current],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Identity"),
    )


def _add_constant(scope, container, prefix, value):
    """Add ``value`` as an initializer and return its name."""
    from onnx.numpy_helper import from_array

    name = scope.get_unique_variable_name(prefix)
    container.add_initializer(
        name, None, None, from_array(np.ascontiguousarray(value), name)
    )
    return name


def _add_node(scope, container, op_type, inputs, **attributes):
    """Add a node with one output and return the output's name."""
    output = scope.get_unique_variable_name(op_type.lower())
    container.add_node(
        op_type,
        inputs,
        [output],
        name=scope.get_unique_operator_name(op_type),
        **attributes,
    )
    return output


def _add_activation(scope, container, code, z, dtype):
    """Add the nodes of activation ``code`` applied to ``z`` and return their output.

    The formulas are those of :mod:`fastae._kernels.activations`.
    """
    if code == IDENTITY:
        return z
    if code in _SINGLE_NODE_ACTIVATIONS:
        return _add_node(scope, container, _SINGLE_NODE_ACTIVATIONS[code], [z])
    if code == LEAKY_RELU:
        # max(z, slope * z), which is leaky_relu for a slope below 1. The
        # LeakyRelu operator takes its slope as a float32 attribute, which
        # rounds 0.01 in float64 graphs, and onnxruntime 1.32 has no float64
        # kernel of PRelu from opset 16 on.
        slope = _add_constant(
            scope, container, "slope", np.array([LEAKY_RELU_SLOPE], dtype=dtype)
        )
        scaled = _add_node(scope, container, "Mul", [z, slope])
        return _add_node(scope, container, "Max", [z, scaled])
    if code == ELU:
        return _add_elu(scope, container, z, dtype)
    if code == SOFTPLUS:
        return _add_softplus(scope, container, z, dtype)
    raise ValueError(
        f"Activation {_ACTIVATION_NAMES.get(code, code)!r} has no ONNX export."
    )


def _add_elu(scope, container, z, dtype):
    """Add ``max(z, 0) + exp(min(z, 0)) - 1``, elu with alpha 1.

    onnxruntime 1.32 has no float64 kernel of the Elu operator from opset 22
    on, which skl2onnx 1.20 picks by default.
    """
    zero_constant = _add_constant(
        scope, container, "zero", np.array([0.0], dtype=dtype)
    )
    one_constant = _add_constant(scope, container, "one", np.array([1.0], dtype=dtype))
    negative_part = _add_node(scope, container, "Min", [z, zero_constant])
    growth = _add_node(scope, container, "Exp", [negative_part])
    shifted = _add_node(scope, container, "Sub", [growth, one_constant])
    positive_part = _add_node(scope, container, "Relu", [z])
    return _add_node(scope, container, "Add", [positive_part, shifted])


def _add_softplus(scope, container, z, dtype):
    """Add ``max(z, 0) + log(1 + exp(-|z|))``, which cannot overflow.

    onnxruntime's Softplus operator returns inf for float64 inputs above
    about 710 (measured with onnxruntime 1.32), where this form returns ``z``.
    """
    one_constant = _add_constant(scope, container, "one", np.array([1.0], dtype=dtype))
    magnitude = _add_node(scope, container, "Abs", [z])
    negative = _add_node(scope, container, "Neg", [magnitude])
    decay = _add_node(scope, container, "Exp", [negative])
    shifted = _add_node(scope, container, "Add", [decay, one_constant])
    log_term = _add_node(scope, container, "Log", [shifted])
    positive_part = _add_node(scope, container, "Relu", [z])
    return _add_node(scope, container, "Add", [positive_part, log_term])
