"""Training and inference on an NVIDIA GPU, with the same interface as the CPU engine.

:class:`CudaTrainer` keeps the training data, the parameters, the optimizer
state and every scratch buffer on the device for the whole fit. The training
rows are copied once and each epoch's permutation (8 bytes a row) is copied
in. The minibatches are gathered on the device. Two numbers come back per
epoch: the loss sum, and a flag set when a parameter stopped being finite.

Every regularised variant of the CPU's ``train_epoch`` trains here too: row
weights, gradient clipping, input corruption, dropout, tied weights and the
code penalties. Each follows the CPU's order of operations, so the two
devices agree up to floating-point rounding, and the random masks agree bit
for bit.
"""

import contextlib
import math
import warnings

import numpy as np
from numba import cuda

from .._engine import OptimizerState
from .._kernels.activations import IDENTITY
from .._kernels.epoch import (
    ACTIVATION,
    ALPHA,
    BETA_1,
    BETA_2,
    BIAS_OFFSET,
    CODE_L1,
    CONTRACTIVE,
    DROPOUT,
    EPSILON,
    FAN_IN,
    FAN_OUT,
    LEARNING_RATE,
    MASK_FRACTION,
    MAX_GRAD_NORM,
    MOMENTUM,
    NOISE_STD,
    SEED,
    SPARSITY_TARGET,
    SPARSITY_WEIGHT,
    TRANSPOSED,
    WEIGHT_OFFSET,
)
from .._kernels.losses import BINARY_CROSSENTROPY
from . import kernels


@contextlib.contextmanager
def _quiet_small_launches():
    # numba-cuda warns about launches of few blocks. The flag, reset and
    # small-batch kernels are meant to be that small.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*low occupancy")
        yield


def is_device_array(X):
    """Return True when ``X`` is a GPU array, a simulated one included."""
    return hasattr(X, "__cuda_array_interface__") or cuda.devicearray.is_cuda_ndarray(X)


def as_device_array(X):
    """Return the GPU array ``X`` as a Numba device array, without a copy."""
    if cuda.devicearray.is_cuda_ndarray(X):
        return X
    # Other libraries' arrays (CuPy, PyTorch) through __cuda_array_interface__.
    return cuda.as_cuda_array(X)


class Transfers:
    """Counts and sizes of the copies between host and device."""

    def __init__(self):
        self.to_device = 0
        self.to_device_bytes = 0
        self.to_host = 0
        self.to_host_bytes = 0

    def copy_to_device(self, array):
        array = np.ascontiguousarray(array)
        self.to_device += 1
        self.to_device_bytes += array.nbytes
        return cuda.to_device(array)

    def copy_to_host(self, device_array):
        self.to_host += 1
        self.to_host_bytes += device_array.nbytes
        return device_array.copy_to_host()

    def __str__(self):
        return (
            f"{self.to_device} copies to the GPU ({self.to_device_bytes:,} bytes), "
            f"{self.to_host} back ({self.to_host_bytes:,} bytes)"
        )


class CudaTrainer:
    """Run epochs of one network on the GPU; the CPU ``Trainer``'s interface.

    ``params`` and ``optimizer_state`` are copied to the device, so the
    caller's arrays stay unchanged; :attr:`params` and :attr:`state` copy the
    results back. ``train_weights`` and ``validation_weights`` weight the
    rows of the training and validation data, or are empty for unit weights;
    each is copied to the device once. ``draws_random`` states whether each
    epoch needs a seed, in ``hyper[SEED]``, for input corruption or dropout.
    """

    device = "cuda"

    def __init__(
        self,
        params,
        layout,
        *,
        loss,
        solver,
        nesterov,
        hyper,
        batch_size,
        optimizer_state,
    ):
        self.transfers = Transfers()
        self.layout = layout
        self.loss = loss
        self.solver = solver
        self.nesterov = nesterov
        self.hyper = np.asarray(hyper, dtype=np.float64)
        self.batch_size = batch_size
        self.dtype = params.dtype
        self.n_weights = int(layout[0, BIAS_OFFSET])
        self.step = optimizer_state.step.copy()
        self.train_weights = self.validation_weights = np.zeros(0)
        self.draws_random = bool(
            self.hyper[NOISE_STD] > 0
            or self.hyper[MASK_FRACTION] > 0
            or self.hyper[DROPOUT] > 0
        )
        n_layers = len(layout)
        self._code_layer = n_layers // 2 - 1
        self._transposed = [bool(t) for t in layout[:, TRANSPOSED]]
        # With tied weights, each encoder layer adds its gradient to the one
        # that its mirror decoder layer, run first, wrote.
        self._accumulates = [
            bool(layout[-1, TRANSPOSED]) and k <= self._code_layer
            for k in range(n_layers)
        ]
        # The CPU's _drops_units: hidden layers except the code layer.
        self._dropout_layers = (
            {k for k in range(n_layers - 1) if k != self._code_layer}
            if self.hyper[DROPOUT] > 0
            else set()
        )

        copy = self.transfers.copy_to_device
        self._params = copy(params)
        self._grads = cuda.device_array(params.size, dtype=self.dtype)
        self._state_a = copy(optimizer_state.state_a)
        self._state_b = copy(optimizer_state.state_b)
        self._weights = [_weights(self._params, layout, k) for k in range(len(layout))]
        self._biases = [_bias(self._params, layout, k) for k in range(len(layout))]
        self._weight_grads = [
            _weights(self._grads, layout, k) for k in range(len(layout))
        ]
        self._bias_grads = [_bias(self._grads, layout, k) for k in range(len(layout))]

        rows = batch_size
        n_features = int(layout[0, FAN_IN])
        self._inputs = cuda.device_array((rows, n_features), self.dtype)
        # The clean rows, the loss target when the inputs are corrupted.
        self._targets = None
        if self.hyper[NOISE_STD] > 0 or self.hyper[MASK_FRACTION] > 0:
            self._targets = cuda.device_array((rows, n_features), self.dtype)
        widths = [int(w) for w in layout[:, FAN_OUT]]
        self._outputs = [cuda.device_array((rows, w), self.dtype) for w in widths]
        self._deltas = [cuda.device_array((rows, w), self.dtype) for w in widths]
        # Per-unit scratch of the code penalties: the sparsity penalty's
        # column sums and gradients, and the contractive penalty's column
        # norms and slopes.
        code_width = widths[self._code_layer]
        self._code_scratch = [
            cuda.device_array(code_width, self.dtype) for _ in range(4)
        ]
        self._clip_partials = None
        # The loss sum of an epoch, and a flag for non-finite parameters.
        self._status = cuda.device_array(1, dtype=np.float64)
        self._flag = cuda.device_array(1, dtype=np.int32)
        self._X = None
        self._X_device = None
        self._evaluated = None
        self._evaluated_device = None
        self._weights_device = {}

    # The CPU engine splits minibatches across threads; the GPU has no parts.
    n_parts = 1

    def largest_product(self):
        """Return the multiply-adds of the largest layer product for one minibatch."""
        return self.batch_size * int(np.max(self.layout[:, 0] * self.layout[:, 1]))

    def _activations(self):
        codes = [int(a) for a in self.layout[:, ACTIVATION]]
        if self.loss == BINARY_CROSSENTROPY:
            codes[-1] = IDENTITY
        return codes

    def _device_data(self, X, slot):
        # The training and validation sets are copied once per fit, the first
        # time each is seen.
        if slot == "train":
            if self._X is not X:
                self._X, self._X_device = X, self.transfers.copy_to_device(X)
            return self._X_device
        if self._evaluated is not X:
            device = self.transfers.copy_to_device(X)
            rows = self.transfers.copy_to_device(np.arange(X.shape[0]))
            self._evaluated, self._evaluated_device = X, (device, rows)
        return self._evaluated_device

    def _device_weights(self, weights, slot):
        """Return the row weights on the device, or None for unit weights."""
        if weights.size == 0:
            return None
        cached = self._weights_device.get(slot)
        if cached is None or cached[0] is not weights:
            cached = (weights, self.transfers.copy_to_device(weights))
            self._weights_device[slot] = cached
        return cached[1]

    def _seed(self):
        return int(self.hyper[SEED])

    def _forward(self, inputs, n_rows, order=None, start=0):
        """Run every layer, and with ``order`` apply dropout to the training rows."""
        layer_in = inputs
        for k, activation in enumerate(self._activations()):
            layer_out = self._outputs[k][:n_rows]
            kernels.dense_forward(
                layer_in,
                self._weights[k],
                self._biases[k],
                activation,
                layer_out,
                transpose_w=self._transposed[k],
            )
            if order is not None and k in self._dropout_layers:
                kernels.drop_units(
                    layer_out, order, start, self._seed(), k, self.hyper[DROPOUT]
                )
            layer_in = layer_out
        return layer_in

    def _backward(self, inputs, n_rows, order, start):
        activations = self._activations()
        for k in range(len(activations) - 1, -1, -1):
            delta = self._deltas[k][:n_rows]
            layer_in = inputs if k == 0 else self._outputs[k - 1][:n_rows]
            if self._transposed[k]:
                # The block is (fan_out, fan_in), so its gradient is delta.T @ in.
                kernels.matmul(delta, layer_in, self._weight_grads[k], transpose_a=True)
            else:
                kernels.matmul(
                    layer_in,
                    delta,
                    self._weight_grads[k],
                    transpose_a=True,
                    epilogue=kernels.ACCUMULATE
                    if self._accumulates[k]
                    else kernels.PLAIN,
                )
            kernels.column_sums(delta, self._bias_grads[k])
            if k == 0 and self.hyper[CONTRACTIVE] > 0:
                kernels.contractive_weight_gradient(
                    self._weights[0],
                    self._weight_grads[0],
                    self._code_scratch[3],
                    self.hyper[CONTRACTIVE],
                    1.0 / n_rows,
                )
            if k > 0:
                self._input_gradient(k, n_rows, activations[k - 1], order, start)

    def _input_gradient(self, k, n_rows, activation, order, start):
        """Write ``dL/dz`` of layer ``k - 1`` from ``dL/dz`` of layer ``k``.

        The product gives ``dL/d(out)`` of layer ``k - 1``. A layer with
        dropout, and the code layer with penalties, then go through a kernel
        of their own that turns it into ``dL/dz``. For the other layers the
        product's epilogue multiplies by ``f'``.
        """
        below = k - 1
        out = self._outputs[below][:n_rows]
        grad = self._deltas[below][:n_rows]
        hyper = self.hyper
        penalised = below == self._code_layer and (
            hyper[CODE_L1] > 0 or hyper[SPARSITY_WEIGHT] > 0 or hyper[CONTRACTIVE] > 0
        )
        own_kernel = below in self._dropout_layers or penalised
        kernels.matmul(
            self._deltas[k][:n_rows],
            self._weights[k],
            grad,
            transpose_b=not self._transposed[k],
            epilogue=kernels.PLAIN if own_kernel else kernels.DERIVATIVE,
            activation=activation,
            aux=out,
        )
        if below in self._dropout_layers:
            kernels.dropout_backward(
                grad, out, order, start, self._seed(), below, hyper[DROPOUT], activation
            )
        elif penalised:
            self._code_penalties(out, grad, activation, 1.0 / n_rows)

    def _code_penalties(self, code, grad, activation, scale):
        """Add the code penalties to the loss and their gradients to ``grad``."""
        hyper = self.hyper
        sums, coefficients, norms, slopes = self._code_scratch
        if hyper[SPARSITY_WEIGHT] > 0:
            kernels.sparsity_penalty(
                code,
                hyper[SPARSITY_WEIGHT],
                hyper[SPARSITY_TARGET],
                scale,
                sums,
                coefficients,
                self._status,
            )
        if hyper[CONTRACTIVE] > 0:
            kernels.contractive_penalty(
                self._weights[0],
                code,
                activation,
                hyper[CONTRACTIVE],
                norms,
                slopes,
                self._status,
            )
        kernels.code_gradient(
            code,
            grad,
            activation,
            scale,
            self._status,
            l1=hyper[CODE_L1],
            coefficients=coefficients if hyper[SPARSITY_WEIGHT] > 0 else None,
            contractive=hyper[CONTRACTIVE],
            norms=norms,
        )

    def _clip_gradient(self):
        size = kernels.clip_partials(self._grads.size)
        if self._clip_partials is None or self._clip_partials.size < size:
            self._clip_partials = cuda.device_array(size, dtype=np.float64)
        kernels.clip_norm(self._grads, self.hyper[MAX_GRAD_NORM], self._clip_partials)

    def _update(self, n_rows):
        hyper = self.hyper
        l2 = hyper[ALPHA] / n_rows
        if self.solver == "adam":
            self.step[0] += 1
            kernels.adam_update(
                self._params,
                self._grads,
                self._state_a,
                self._state_b,
                self.n_weights,
                hyper[LEARNING_RATE],
                hyper[BETA_1],
                hyper[BETA_2],
                hyper[EPSILON],
                int(self.step[0]),
                l2,
            )
        else:
            kernels.sgd_update(
                self._params,
                self._grads,
                self._state_a,
                self.n_weights,
                hyper[LEARNING_RATE],
                hyper[MOMENTUM],
                self.nesterov,
                l2,
            )

    def _reset_status(self):
        kernels.fill_zero(self._status)
        kernels.fill_zero(self._flag)

    def _read_status(self):
        kernels.flag_non_finite(self._params, self._flag)
        kernels.flag_non_finite(self._state_a, self._flag)
        kernels.flag_non_finite(self._state_b, self._flag)
        total = float(self.transfers.copy_to_host(self._status)[0])
        if self.transfers.copy_to_host(self._flag)[0] and math.isfinite(total):
            # The loss is finite but a parameter is not.
            return math.nan
        return total

    def _train_batch(self, X_device, order_device, weights, start, n_rows):
        """Train on one minibatch: its loss sum goes to the status."""
        inputs = self._inputs[:n_rows]
        target = inputs
        if self._targets is None:
            kernels.gather(X_device, order_device, start, inputs)
        else:
            target = self._targets[:n_rows]
            kernels.gather_corrupted(
                X_device,
                order_device,
                start,
                inputs,
                target,
                self._seed(),
                self.hyper[NOISE_STD],
                self.hyper[MASK_FRACTION],
            )
        outputs = self._forward(inputs, n_rows, order_device, start)
        kernels.loss_gradient(
            self.loss,
            outputs,
            target,
            int(self._activations()[-1]),
            1.0 / n_rows,
            self._deltas[-1][:n_rows],
            self._status,
            weights,
            order_device,
            start,
        )
        self._backward(inputs, n_rows, order_device, start)
        if self.hyper[MAX_GRAD_NORM] > 0:
            self._clip_gradient()
        self._update(n_rows)

    @_quiet_small_launches()
    def run_epoch(self, X, order):
        """Train on ``X[order]`` and return the mean loss per element."""
        X_device = self._device_data(X, "train")
        weights = self._device_weights(self.train_weights, "train")
        order_device = self.transfers.copy_to_device(order)
        self._reset_status()
        for start in range(0, order.size, self.batch_size):
            n_rows = min(self.batch_size, order.size - start)
            self._train_batch(X_device, order_device, weights, start, n_rows)
        return self._read_status() / (order.size * X.shape[1])

    @_quiet_small_launches()
    def evaluate(self, X, params=None):
        """Return the mean loss per element of the network on ``X``.

        Rows are weighted by ``validation_weights``. Dropout, input corruption
        and the penalties do not apply.
        """
        if params is not None:
            raise ValueError(
                "CudaTrainer.evaluate takes no params: it evaluates the "
                "parameters on the GPU."
            )
        X_device, order_device = self._device_data(X, "evaluate")
        weights = self._device_weights(self.validation_weights, "evaluate")
        self._reset_status()
        for start in range(0, X.shape[0], self.batch_size):
            n_rows = min(self.batch_size, X.shape[0] - start)
            inputs = self._inputs[:n_rows]
            kernels.gather(X_device, order_device, start, inputs)
            outputs = self._forward(inputs, n_rows)
            # The gradient goes to scratch space and is not used.
            kernels.loss_gradient(
                self.loss,
                outputs,
                inputs,
                int(self._activations()[-1]),
                0.0,
                self._deltas[-1][:n_rows],
                self._status,
                weights,
                order_device,
                start,
            )
        total = float(self.transfers.copy_to_host(self._status)[0])
        return total / X.size

    def parameters_finite(self):
        """Return True: :meth:`run_epoch` already returns NaN when they are not."""
        return True

    def params_copy(self):
        """Return a host copy of the parameters."""
        return self.transfers.copy_to_host(self._params)

    @property
    def params(self):
        """The parameters, copied to the host."""
        return self.params_copy()

    @property
    def state(self):
        """The optimizer state, copied to the host as an ``OptimizerState``."""
        state = OptimizerState.__new__(OptimizerState)
        state.solver = self.solver
        state.state_a = self.transfers.copy_to_host(self._state_a)
        state.state_b = (
            self.transfers.copy_to_host(self._state_b)
            if self._state_b.size
            else np.zeros(0, dtype=self.dtype)
        )
        state.step = self.step.copy()
        return state


def _weights(params, layout, layer):
    """Return the layer's weight block: ``(fan_in, fan_out)``, or its transpose's."""
    offset = int(layout[layer, WEIGHT_OFFSET])
    fan_in, fan_out = int(layout[layer, FAN_IN]), int(layout[layer, FAN_OUT])
    shape = (fan_out, fan_in) if layout[layer, TRANSPOSED] else (fan_in, fan_out)
    return params[offset : offset + fan_in * fan_out].reshape(shape)


def _bias(params, layout, layer):
    offset = int(layout[layer, BIAS_OFFSET])
    return params[offset : offset + int(layout[layer, FAN_OUT])]


@_quiet_small_launches()
def forward(X, coefs, intercepts, activations, transfers=None):
    """Run the dense layers on the GPU; the CUDA twin of ``fastae._engine.forward``.

    ``X`` is a host or a device array. Returns the output, on the device when
    ``X`` was there and on the host otherwise, and whether the first layer's
    pre-activation and the output were finite.
    """
    transfers = Transfers() if transfers is None else transfers
    on_device = is_device_array(X)
    out = as_device_array(X) if on_device else transfers.copy_to_device(X)
    flag = cuda.device_array(1, dtype=np.int32)
    kernels.fill_zero(flag)
    for layer, (W, b, activation) in enumerate(zip(coefs, intercepts, activations)):
        layer_out = cuda.device_array((out.shape[0], W.shape[1]), dtype=out.dtype)
        kernels.dense_forward(
            out,
            transfers.copy_to_device(W),
            transfers.copy_to_device(b),
            int(activation),
            layer_out,
            flag if layer == 0 else None,
        )
        out = layer_out
    first_finite = not transfers.copy_to_host(flag)[0]
    output_flag = cuda.device_array(1, dtype=np.int32)
    kernels.fill_zero(output_flag)
    kernels.flag_non_finite(out.reshape(out.size), output_flag)
    output_finite = not transfers.copy_to_host(output_flag)[0]
    if not on_device:
        out = transfers.copy_to_host(out)
    return out, first_finite, output_finite


def scores(X, reconstruction):
    """Return ``-mean((X - reconstruction) ** 2, axis=1)`` for device arrays."""
    result = cuda.device_array(X.shape[0], dtype=reconstruction.dtype)
    kernels.row_scores(as_device_array(X), reconstruction, result)
    return result
