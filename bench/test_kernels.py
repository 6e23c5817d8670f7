"""Time each compiled kernel on one minibatch of a 784-128-784 autoencoder.

The shapes are those of MNIST training with batch size 256: the encoder layer
is 784 -> 128 with ReLU and the decoder layer 128 -> 784 with a linear output
that keeps the logits, as training with binary cross-entropy does. Arrays are
float32, and the loss kernels also run in float64. The inputs come from a real
forward and backward pass of a Glorot-initialised network on uniform data, so
activations and gradients have realistic values.

Rates count a matrix product of ``n x k`` by ``k x m`` as ``2 n k m`` flops
and ignore the bias and activation passes. Byte rates count each array element
read or written once. Both are stored in ``extra_info`` and printed at the end
of a timed run.

The full shapes take a few milliseconds per call, so the smoke run uses them
too. Run ``python -m pytest bench --benchmark-enable -k kernels`` to time them.
"""

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from fastae._kernels.activations import IDENTITY, RELU
from fastae._kernels.dense import dense_backward, dense_forward
from fastae._kernels.epoch import (
    ADAM,
    _gather,
    hyper_array,
    train_epoch,
    train_epoch_parallel,
    work_size,
)
from fastae._kernels.losses import (
    BINARY_CROSSENTROPY,
    LOSS_CODES,
    loss_and_gradient,
)
from fastae._kernels.optimizers import adam_update, sgd_update
from fastae._network import build_layout, initial_parameters, layer_sizes, unpack
from fastae._threads import numba_threads

from .conftest import BATCH_SIZE, HIDDEN_WIDTH, N_FEATURES

# Hyper-parameters in the order of the ``hyper`` array of train_epoch:
# learning rate, momentum, beta_1, beta_2, epsilon and alpha (the defaults of
# AutoencoderTransformer).
HYPER = (0.001, 0.9, 0.9, 0.999, 1e-8, 0.0001)

# Parts of each minibatch in train_epoch_parallel, as the engine picks on a
# machine with two cores.
N_PARTS = 2


class Minibatch:
    """Arrays of one forward and backward pass of the 784-128-784 network."""

    def __init__(self, dtype):
        rng = np.random.default_rng(0)
        self.sizes = layer_sizes(N_FEATURES, (HIDDEN_WIDTH,))
        self.layout = build_layout(self.sizes, "relu", "sigmoid")
        self.params = initial_parameters(self.layout, rng, dtype)
        (self.W1, self.W2), (self.b1, self.b2) = unpack(self.params, self.layout)
        self.n_weights = int(self.W1.size + self.W2.size)

        self.X = rng.random((BATCH_SIZE, N_FEATURES), dtype=dtype)
        self.hidden = np.empty((BATCH_SIZE, HIDDEN_WIDTH), dtype=dtype)
        dense_forward(self.X, self.W1, self.b1, RELU, self.hidden)
        self.logits = np.empty((BATCH_SIZE, N_FEATURES), dtype=dtype)
        dense_forward(self.hidden, self.W2, self.b2, IDENTITY, self.logits)

        self.grad_logits = np.empty_like(self.logits)
        loss_and_gradient(
            BINARY_CROSSENTROPY, self.logits, self.X, 1.0 / BATCH_SIZE, self.grad_logits
        )
        self.grad_hidden = np.empty_like(self.hidden)
        self.grad_W1 = np.empty_like(self.W1)
        self.grad_b1 = np.empty_like(self.b1)
        self.grad_W2 = np.empty_like(self.W2)
        self.grad_b2 = np.empty_like(self.b2)
        self.grad_X = np.empty_like(self.X)
        dense_backward(
            self.hidden,
            self.W2,
            self.logits,
            self.grad_logits,
            IDENTITY,
            self.grad_W2,
            self.grad_b2,
            self.grad_hidden,
        )
        dense_backward(
            self.X,
            self.W1,
            self.hidden,
            self.grad_hidden,
            RELU,
            self.grad_W1,
            self.grad_b1,
            None,
        )
        # The flat gradient buffer has the layout of ``params``: every weight
        # matrix, then every bias vector.
        self.grads = np.concatenate(
            [self.grad_W1.ravel(), self.grad_W2.ravel(), self.grad_b1, self.grad_b2]
        )

    def layer(self, name):
        """Return ``(X, W, b, activation, out, grad_out, grad_W, grad_b, grad_X)``."""
        if name == "encoder":
            return (
                self.X,
                self.W1,
                self.b1,
                RELU,
                self.hidden,
                self.grad_hidden,
                self.grad_W1,
                self.grad_b1,
                self.grad_X,
            )
        return (
            self.hidden,
            self.W2,
            self.b2,
            IDENTITY,
            self.logits,
            self.grad_logits,
            self.grad_W2,
            self.grad_b2,
            self.grad_hidden,
        )


@pytest.fixture(scope="module")
def minibatches():
    return {dtype: Minibatch(dtype) for dtype in (np.float32, np.float64)}


def product_flops(n_rows, fan_in, fan_out):
    return 2 * n_rows * fan_in * fan_out


def blas_threads():
    counts = [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    ]
    return max(counts, default=1)


def time_kernel(benchmark, kernel, *args):
    """Benchmark ``kernel(*args)`` after one untimed call when timing.

    The untimed call loads the kernel from the disk cache or compiles it, which
    would otherwise fall into pytest-benchmark's calibration round.
    """
    if benchmark.enabled:
        kernel(*args)
    return benchmark(kernel, *args)


LAYERS = ["encoder", "decoder"]


@pytest.mark.benchmark(group="dense_forward")
@pytest.mark.parametrize("layer", LAYERS)
def test_dense_forward(benchmark, record_rate, minibatches, layer):
    batch = minibatches[np.float32]
    X, W, b, activation, out, *_ = batch.layer(layer)
    expected = out.copy()
    benchmark.extra_info.update(layer=layer, blas_threads=blas_threads())

    time_kernel(benchmark, dense_forward, X, W, b, activation, out)
    record_rate(benchmark, product_flops(X.shape[0], *W.shape), "flop")

    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.benchmark(group="dense_backward")
@pytest.mark.parametrize("input_gradient", [True, False], ids=["grad_X", "no_grad_X"])
@pytest.mark.parametrize("layer", LAYERS)
def test_dense_backward(benchmark, record_rate, minibatches, layer, input_gradient):
    batch = minibatches[np.float32]
    X, W, _, activation, out, grad_out, grad_W, grad_b, grad_X = batch.layer(layer)
    # dense_backward turns grad_out into dL/dz in place. That is idempotent for
    # ReLU and identity, so every round does the same work. The copy keeps the
    # shared arrays unchanged.
    grad_out = grad_out.copy()
    grad_X = np.empty_like(grad_X) if input_gradient else None
    n_products = 2 if input_gradient else 1
    benchmark.extra_info.update(layer=layer, blas_threads=blas_threads())

    time_kernel(
        benchmark,
        dense_backward,
        X,
        W,
        out,
        grad_out,
        activation,
        grad_W,
        grad_b,
        grad_X,
    )
    flops = n_products * product_flops(X.shape[0], *W.shape)
    record_rate(benchmark, flops, "flop")

    assert np.isfinite(grad_W).all()
    if input_gradient:
        assert np.isfinite(grad_X).all()


@pytest.mark.benchmark(group="loss_and_gradient")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("loss", list(LOSS_CODES))
def test_loss_and_gradient(benchmark, record_rate, minibatches, loss, dtype):
    batch = minibatches[dtype]
    grad = np.empty_like(batch.logits)
    benchmark.extra_info.update(loss=loss, dtype=np.dtype(dtype).name)

    total = time_kernel(
        benchmark,
        loss_and_gradient,
        LOSS_CODES[loss],
        batch.logits,
        batch.X,
        1.0 / BATCH_SIZE,
        grad,
    )
    # Reads the outputs and the targets, writes the gradient.
    record_rate(benchmark, 3 * batch.logits.nbytes, "byte")

    assert np.isfinite(total)
    assert np.isfinite(grad).all()


@pytest.mark.benchmark(group="optimizer")
def test_adam_update(benchmark, record_rate, minibatches):
    batch = minibatches[np.float32]
    params = batch.params.copy()
    m = np.zeros_like(params)
    v = np.zeros_like(params)
    learning_rate, _, beta_1, beta_2, epsilon, alpha = HYPER
    benchmark.extra_info.update(n_params=params.size)

    time_kernel(
        benchmark,
        adam_update,
        params,
        batch.grads,
        m,
        v,
        batch.n_weights,
        learning_rate,
        beta_1,
        beta_2,
        epsilon,
        10,
        alpha / BATCH_SIZE,
    )
    # Reads the parameters, gradients and both moments, writes the parameters
    # and both moments.
    record_rate(benchmark, 7 * params.nbytes, "byte")

    assert np.isfinite(params).all()


@pytest.mark.benchmark(group="optimizer")
@pytest.mark.parametrize("nesterov", [True, False], ids=["nesterov", "momentum"])
def test_sgd_update(benchmark, record_rate, minibatches, nesterov):
    batch = minibatches[np.float32]
    params = batch.params.copy()
    velocity = np.zeros_like(params)
    learning_rate, momentum, *_, alpha = HYPER
    benchmark.extra_info.update(n_params=params.size)

    time_kernel(
        benchmark,
        sgd_update,
        params,
        batch.grads,
        velocity,
        batch.n_weights,
        learning_rate,
        momentum,
        nesterov,
        alpha / BATCH_SIZE,
    )
    # Reads the parameters, gradients and velocity, writes the parameters and
    # the velocity.
    record_rate(benchmark, 5 * params.nbytes, "byte")

    assert np.isfinite(params).all()


def random_rows(n_rows, seed=0):
    """Return ``BATCH_SIZE`` distinct row indices below ``n_rows``, as int64."""
    rng = np.random.default_rng(seed)
    return rng.choice(n_rows, BATCH_SIZE, replace=False).astype(np.int64)


@pytest.mark.benchmark(group="minibatch")
def test_gather(benchmark, record_rate, minibatches, mnist_like):
    batch = minibatches[np.float32]
    X = mnist_like
    rows = random_rows(X.shape[0])
    work = np.empty(work_size(batch.layout, BATCH_SIZE), dtype=X.dtype)
    benchmark.extra_info.update(rows=X.shape[0])

    inputs = time_kernel(benchmark, _gather, X, rows, work)
    # Reads each row and its index, writes the row into the work buffer.
    record_rate(benchmark, 2 * inputs.nbytes + rows.nbytes, "byte")

    np.testing.assert_array_equal(inputs, X[rows])


def minibatch_flops():
    # Forward: two products. Backward: the decoder's weight and input
    # gradients and the encoder's weight gradient.
    return 5 * product_flops(BATCH_SIZE, N_FEATURES, HIDDEN_WIDTH)


def training_state(batch):
    """Return fresh copies of the buffers that train_epoch updates."""
    params = batch.params.copy()
    state_a = np.zeros_like(params)
    state_b = np.zeros_like(params)
    step = np.zeros(1, dtype=np.int64)
    return params, state_a, state_b, step


@pytest.mark.benchmark(group="minibatch")
def test_train_epoch(benchmark, record_rate, minibatches, mnist_like):
    batch = minibatches[np.float32]
    X = mnist_like
    params, state_a, state_b, step = training_state(batch)
    grads = np.empty_like(params)
    work = np.empty(work_size(batch.layout, BATCH_SIZE), dtype=X.dtype)
    hyper = hyper_array(*HYPER)
    # The engine trains a network of this size serially with the BLAS thread
    # count in force, which this benchmark keeps.
    benchmark.extra_info.update(rows=X.shape[0], blas_threads=blas_threads())

    total = time_kernel(
        benchmark,
        train_epoch,
        X,
        random_rows(X.shape[0]),
        np.zeros(0),
        BATCH_SIZE,
        params,
        grads,
        state_a,
        state_b,
        batch.layout,
        BINARY_CROSSENTROPY,
        ADAM,
        hyper,
        step,
        work,
    )
    record_rate(benchmark, minibatch_flops(), "flop")

    assert np.isfinite(total)
    assert step[0] >= 1


@pytest.mark.benchmark(group="minibatch")
def test_train_epoch_parallel(benchmark, record_rate, minibatches, mnist_like):
    batch = minibatches[np.float32]
    X = mnist_like
    params, state_a, state_b, step = training_state(batch)
    grads = np.empty((N_PARTS, params.size), dtype=params.dtype)
    part_rows = -(-BATCH_SIZE // N_PARTS)
    work = np.empty((N_PARTS, work_size(batch.layout, part_rows)), dtype=X.dtype)
    partial_losses = np.zeros(N_PARTS)
    hyper = hyper_array(*HYPER)
    # As in the engine: each part calls BLAS from its own Numba thread, so
    # BLAS runs on one thread. With fewer Numba threads than parts, the parts
    # share the threads there are.
    threads = min(N_PARTS, numba.config.NUMBA_NUM_THREADS)
    benchmark.extra_info.update(
        rows=X.shape[0], n_parts=N_PARTS, numba_threads=threads, blas_threads=1
    )

    with threadpool_limits(limits=1, user_api="blas"), numba_threads(threads):
        total = time_kernel(
            benchmark,
            train_epoch_parallel,
            X,
            random_rows(X.shape[0]),
            np.zeros(0),
            BATCH_SIZE,
            params,
            grads,
            state_a,
            state_b,
            batch.layout,
            BINARY_CROSSENTROPY,
            ADAM,
            hyper,
            step,
            work,
            partial_losses,
        )
    record_rate(benchmark, minibatch_flops(), "flop")

    assert np.isfinite(total)
    assert step[0] >= 1
