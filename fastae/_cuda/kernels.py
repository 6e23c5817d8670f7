"""CUDA kernels, the GPU twins of :mod:`fastae._kernels`, compiled by numba-cuda.

The scalar maths (activations, their derivatives and the loss terms) are the
CPU kernels' own functions: numba-cuda compiles them again as device
functions, so the two targets share one definition. Only ``exp`` and ``log1p``
differ: the CPU's vectorisable polynomials are replaced here by CUDA's
libdevice functions.

Shapes and layouts follow the CPU kernels: ``X`` is ``(n, fan_in)``, ``W`` is
``(fan_in, fan_out)``, and every array is C-contiguous with one floating
dtype. Launch sizes are module constants read at launch time, so the tests can
shrink them until small arrays span several blocks.
"""

import functools
import math

import numpy as np
from numba import cuda, from_dtype
from numba.cuda.extending import overload

from .._kernels._scalar import cast, exp_nonpositive, log1p_unit
from .._kernels.activations import activate, derivative
from .._kernels.losses import loss_derivative, loss_term

# Side of the square tile of a matrix product: a block has TILE x TILE threads.
TILE = 16
# Threads per block of the elementwise kernels; a power of two for the sums.
THREADS = 256

# Epilogues of the matrix product, applied to each sum before its single write.
PLAIN = 0
ACTIVATE = 1
DERIVATIVE = 2


@overload(exp_nonpositive, target="cuda")
def _exp_nonpositive_cuda(y):
    return lambda y: math.exp(y)


@overload(log1p_unit, target="cuda")
def _log1p_unit_cuda(e):
    return lambda e: math.log1p(e)


# NOTE: this product has not yet run or been timed on a real GPU. It has no
# register blocking, and transposed operands are loaded uncoalesced.
@functools.cache
def _matmul_kernel(tile, dtype):
    element = from_dtype(np.dtype(dtype))

    @cuda.jit
    def matmul(A, B, C, transpose_a, transpose_b, epilogue, activation, b, aux, flag):
        # C = op(A) @ op(B), where op transposes when its flag is set, followed
        # by the epilogue:
        #   PLAIN:      C[i, j] = sum
        #   ACTIVATE:   C[i, j] = f(sum + b[j]), and flag[0] = 1 if sum + b[j]
        #               is infinite or NaN
        #   DERIVATIVE: C[i, j] = sum * f'(aux[i, j]), with aux the output of f
        a_tile = cuda.shared.array((tile, tile), element)
        b_tile = cuda.shared.array((tile, tile), element)

        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        i = cuda.blockIdx.y * tile + ty
        j = cuda.blockIdx.x * tile + tx
        n_rows, n_cols = C.shape
        inner = A.shape[0] if transpose_a else A.shape[1]
        zero = cast(0.0, C)
        total = zero

        for k0 in range(0, inner, tile):
            k = k0 + tx
            if i < n_rows and k < inner:
                a_tile[ty, tx] = A[k, i] if transpose_a else A[i, k]
            else:
                a_tile[ty, tx] = zero
            k = k0 + ty
            if k < inner and j < n_cols:
                b_tile[ty, tx] = B[j, k] if transpose_b else B[k, j]
            else:
                b_tile[ty, tx] = zero
            cuda.syncthreads()
            for kk in range(tile):
                total += a_tile[ty, kk] * b_tile[kk, tx]
            cuda.syncthreads()

        if i < n_rows and j < n_cols:
            if epilogue == ACTIVATE:
                z = total + b[j]
                if not abs(z) < math.inf:
                    flag[0] = 1
                C[i, j] = activate(activation, z)
            elif epilogue == DERIVATIVE:
                C[i, j] = total * derivative(activation, aux[i, j])
            else:
                C[i, j] = total

    return matmul


def _placeholder_matrix(dtype):
    return cuda.device_array((1, 1), dtype=dtype)


def matmul(
    A,
    B,
    C,
    *,
    transpose_a=False,
    transpose_b=False,
    epilogue=PLAIN,
    activation=0,
    b=None,
    aux=None,
    flag=None,
):
    """Write ``op(A) @ op(B)``, through ``epilogue``, into the device array ``C``.

    ``b`` is the bias of ``ACTIVATE`` and ``aux`` the activation output of
    ``DERIVATIVE``. ``flag`` is an int32 device array of length 1 that
    ``ACTIVATE`` sets to 1 when a pre-activation is infinite or NaN.
    """
    dtype = C.dtype
    if b is None:
        b = cuda.device_array(1, dtype=dtype)
    if aux is None:
        aux = _placeholder_matrix(dtype)
    if flag is None:
        flag = cuda.device_array(1, dtype=np.int32)
    n_rows, n_cols = C.shape
    grid = (-(-n_cols // TILE), -(-n_rows // TILE))
    kernel = _matmul_kernel(TILE, np.dtype(dtype).type)
    kernel[grid, (TILE, TILE)](
        A, B, C, transpose_a, transpose_b, epilogue, activation, b, aux, flag
    )


def dense_forward(X, W, b, activation, out, flag=None):
    """Write ``f(X @ W + b)`` into ``out``, all device arrays; see ``matmul``."""
    matmul(X, W, out, epilogue=ACTIVATE, activation=activation, b=b, flag=flag)


def _blocks(size):
    return max(1, -(-size // THREADS))


@cuda.jit
def _gather(X, order, start, batch):
    # batch[r, :] = X[order[start + r], :], one thread per element.
    n_rows, n_cols = batch.shape
    index = cuda.grid(1)
    if index < n_rows * n_cols:
        r = index // n_cols
        c = index - r * n_cols
        batch[r, c] = X[order[start + r], c]


def gather(X, order, start, batch):
    """Copy the rows ``order[start:start + len(batch)]`` of ``X`` into ``batch``."""
    _gather[_blocks(batch.size), THREADS](X, order, start, batch)


@functools.cache
def _loss_kernel(threads):
    @cuda.jit
    def loss_gradient(loss, out, target, activation, scale, grad, totals):
        # grad = scale * dloss/dz for the output layer z, where out = f(z), and
        # totals[0] += the loss summed over the elements, in float64. Each
        # block sums its terms in shared memory and adds them with one atomic.
        partial = cuda.shared.array(threads, np.float64)
        n_rows, n_cols = out.shape
        index = cuda.grid(1)
        tid = cuda.threadIdx.x
        term = 0.0
        if index < n_rows * n_cols:
            r = index // n_cols
            c = index - r * n_cols
            a = out[r, c]
            x = target[r, c]
            term = float(loss_term(loss, a, x))
            gradient = loss_derivative(loss, a, x) * derivative(activation, a)
            grad[r, c] = scale * gradient
        partial[tid] = term
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if tid < step:
                partial[tid] += partial[tid + step]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            cuda.atomic.add(totals, 0, partial[0])

    return loss_gradient


def loss_gradient(loss, out, target, activation, scale, grad, totals):
    """Write ``scale * dloss/dz`` into ``grad`` and add the loss sum to ``totals[0]``.

    ``out`` is the output layer's value: the logits for cross-entropy, for
    which ``activation`` must be identity, or ``f(z)`` for squared error.
    """
    kernel = _loss_kernel(THREADS)
    kernel[_blocks(out.size), THREADS](
        loss, out, target, activation, scale, grad, totals
    )


@cuda.jit
def _column_sums(values, sums):
    j = cuda.grid(1)
    if j < sums.size:
        total = cast(0.0, sums)
        for i in range(values.shape[0]):
            total += values[i, j]
        sums[j] = total


def column_sums(values, sums):
    """Write the column sums of the 2-D device array ``values`` into ``sums``."""
    _column_sums[_blocks(sums.size), THREADS](values, sums)


@cuda.jit
def _adam(params, grads, m, v, n_weights, step_size, b1, b2, c1, c2, eps, penalty):
    # The update of fastae._kernels.optimizers.adam_update_slice, one thread
    # per parameter. The L2 penalty applies to the weights, which come first.
    i = cuda.grid(1)
    if i < params.size:
        g = grads[i]
        if i < n_weights:
            g += penalty * params[i]
        m_i = b1 * m[i] + c1 * g
        v_i = b2 * v[i] + c2 * (g * g)
        m[i] = m_i
        v[i] = v_i
        params[i] -= step_size * m_i / (math.sqrt(v_i) + eps)


def adam_update(
    params, grads, m, v, n_weights, learning_rate, beta_1, beta_2, epsilon, step, l2
):
    """Apply Adam step number ``step`` to device arrays, in one launch.

    The arguments and the arithmetic are those of
    :func:`fastae._kernels.optimizers.adam_update`.
    """
    cast_to = np.dtype(params.dtype).type
    step_size = learning_rate * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
    _adam[_blocks(params.size), THREADS](
        params,
        grads,
        m,
        v,
        n_weights,
        cast_to(step_size),
        cast_to(beta_1),
        cast_to(beta_2),
        cast_to(1.0 - beta_1),
        cast_to(1.0 - beta_2),
        cast_to(epsilon),
        cast_to(l2),
    )


@cuda.jit
def _sgd(params, grads, velocity, n_weights, lr, mu, nesterov, penalty):
    # The update of fastae._kernels.optimizers.sgd_update_slice.
    i = cuda.grid(1)
    if i < params.size:
        g = grads[i]
        if i < n_weights:
            g += penalty * params[i]
        v = mu * velocity[i] - lr * g
        velocity[i] = v
        if nesterov:
            params[i] += mu * v - lr * g
        else:
            params[i] += v


def sgd_update(
    params, grads, velocity, n_weights, learning_rate, momentum, nesterov, l2
):
    """Apply one SGD step to device arrays, in one launch.

    The arguments and the arithmetic are those of
    :func:`fastae._kernels.optimizers.sgd_update`.
    """
    cast_to = np.dtype(params.dtype).type
    _sgd[_blocks(params.size), THREADS](
        params,
        grads,
        velocity,
        n_weights,
        cast_to(learning_rate),
        cast_to(momentum),
        nesterov,
        cast_to(l2),
    )


@cuda.jit
def _flag_non_finite(values, flag):
    i = cuda.grid(1)
    if i < values.size and not abs(values[i]) < math.inf:
        flag[0] = 1


def flag_non_finite(values, flag):
    """Set ``flag[0]`` to 1 when the 1-D device array ``values`` is not all finite."""
    if values.size:
        _flag_non_finite[_blocks(values.size), THREADS](values, flag)


@cuda.jit
def _row_scores(X, reconstruction, scores):
    r = cuda.grid(1)
    if r < scores.size:
        total = cast(0.0, scores)
        for c in range(X.shape[1]):
            difference = X[r, c] - reconstruction[r, c]
            total += difference * difference
        scores[r] = -total / X.shape[1]


def row_scores(X, reconstruction, scores):
    """Write ``-mean((X - reconstruction) ** 2, axis=1)`` into the device array ``scores``."""
    _row_scores[_blocks(scores.size), THREADS](X, reconstruction, scores)


@cuda.jit
def _fill_zero(values):
    i = cuda.grid(1)
    if i < values.size:
        values[i] = 0


def fill_zero(values):
    """Set every element of the 1-D device array ``values`` to zero, on the device."""
    _fill_zero[_blocks(values.size), THREADS](values)
