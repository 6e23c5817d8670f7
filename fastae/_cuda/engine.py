"""Training and inference on an NVIDIA GPU, with the same interface as the CPU engine.

:class:`CudaTrainer` keeps the training data, the parameters, the optimizer
state and every scratch buffer on the device for the whole fit. The training
rows are copied once and each epoch's permutation (8 bytes a row) is copied
in. The minibatches are gathered on the device. Two numbers come back per
epoch: the loss sum, and a flag set when a parameter stopped being finite.
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
    EPSILON,
    FAN_IN,
    FAN_OUT,
    LEARNING_RATE,
    MOMENTUM,
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
    results back.
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
        self._inputs = cuda.device_array((rows, int(layout[0, FAN_IN])), self.dtype)
        widths = [int(w) for w in layout[:, FAN_OUT]]
        self._outputs = [cuda.device_array((rows, w), self.dtype) for w in widths]
        self._deltas = [cuda.device_array((rows, w), self.dtype) for w in widths]
        # The loss sum of an epoch, and a flag for non-finite parameters.
        self._status = cuda.device_array(1, dtype=np.float64)
        self._flag = cuda.device_array(1, dtype=np.int32)
        self._X = None
        self._X_device = None
        self._evaluated = None
        self._evaluated_device = None

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

    def _forward(self, inputs, n_rows):
        layer_in = inputs
        for k, activation in enumerate(self._activations()):
            layer_out = self._outputs[k][:n_rows]
            kernels.dense_forward(
                layer_in, self._weights[k], self._biases[k], activation, layer_out
            )
            layer_in = layer_out
        return layer_in

    def _backward(self, inputs, n_rows):
        activations = self._activations()
        for k in range(len(activations) - 1, -1, -1):
            delta = self._deltas[k][:n_rows]
            layer_in = inputs if k == 0 else self._outputs[k - 1][:n_rows]
            kernels.matmul(layer_in, delta, self._weight_grads[k], transpose_a=True)
            kernels.column_sums(delta, self._bias_grads[k])
            if k > 0:
                kernels.matmul(
                    delta,
                    self._weights[k],
                    self._deltas[k - 1][:n_rows],
                    transpose_b=True,
                    epilogue=kernels.DERIVATIVE,
                    activation=activations[k - 1],
                    aux=self._outputs[k - 1][:n_rows],
                )

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

    def _batch_loss(self, X_device, order_device, start, n_rows, train):
        """Gather one minibatch, run it forward and add its loss to the status.

        With ``train``, the output layer's gradient is scaled by ``1 / n_rows``
        for the backward pass; otherwise it is written into scratch space and
        not used.
        """
        inputs = self._inputs[:n_rows]
        kernels.gather(X_device, order_device, start, inputs)
        outputs = self._forward(inputs, n_rows)
        scale = 1.0 / n_rows if train else 0.0
        kernels.loss_gradient(
            self.loss,
            outputs,
            inputs,
            int(self._activations()[-1]),
            np.dtype(self.dtype).type(scale),
            self._deltas[-1][:n_rows],
            self._status,
        )
        return inputs

    @_quiet_small_launches()
    def run_epoch(self, X, order):
        """Train on ``X[order]`` and return the mean loss per element."""
        X_device = self._device_data(X, "train")
        order_device = self.transfers.copy_to_device(order)
        self._reset_status()
        for start in range(0, order.size, self.batch_size):
            n_rows = min(self.batch_size, order.size - start)
            inputs = self._batch_loss(X_device, order_device, start, n_rows, True)
            self._backward(inputs, n_rows)
            self._update(n_rows)
        return self._read_status() / (order.size * X.shape[1])

    @_quiet_small_launches()
    def evaluate(self, X, params=None):
        """Return the mean loss per element of the network on ``X``."""
        if params is not None:
            raise ValueError(
                "CudaTrainer.evaluate takes no params: it evaluates the "
                "parameters on the GPU."
            )
        X_device, order_device = self._device_data(X, "evaluate")
        self._reset_status()
        for start in range(0, X.shape[0], self.batch_size):
            n_rows = min(self.batch_size, X.shape[0] - start)
            self._batch_loss(X_device, order_device, start, n_rows, False)
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
    offset = int(layout[layer, WEIGHT_OFFSET])
    fan_in, fan_out = int(layout[layer, FAN_IN]), int(layout[layer, FAN_OUT])
    return params[offset : offset + fan_in * fan_out].reshape((fan_in, fan_out))


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
