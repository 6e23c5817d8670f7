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

The kernels of the regularised variants (input corruption, dropout, the code
penalties and gradient clipping) repeat the arithmetic of their CPU twins in
:mod:`fastae._kernels.epoch`, in the same floating types, and draw their
random numbers from the same counter-based generator,
:mod:`fastae._kernels.random`, so a mask on the GPU equals the CPU's mask bit
for bit. Minibatch rows are identified by ``order[start + r]``, their index in
``X``, which keys those random numbers and selects the row weights.
"""

import functools
import math

import numpy as np
from numba import cuda, from_dtype
from numba.cuda.extending import overload

from .._kernels._scalar import cast, exp_nonpositive, log1p_unit
from .._kernels.activations import activate, derivative, second_derivative
from .._kernels.epoch import _SPARSITY_MARGIN
from .._kernels.losses import loss_derivative, loss_term
from .._kernels.random import (
    DROPOUT_STREAM,
    INPUT_MASK_STREAM,
    INPUT_NOISE_STREAM,
    normal,
    uniform,
)

# Side of the square tile of a matrix product: a block has TILE x TILE threads.
TILE = 16
# Threads per block of the elementwise kernels; a power of two for the sums.
THREADS = 256

# Epilogues of the matrix product, applied to each sum before its single write.
PLAIN = 0
ACTIVATE = 1
DERIVATIVE = 2
ACCUMULATE = 3


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
        #   ACCUMULATE: C[i, j] += sum
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
            elif epilogue == ACCUMULATE:
                C[i, j] += total
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


def dense_forward(X, W, b, activation, out, flag=None, transpose_w=False):
    """Write ``f(X @ W + b)`` into ``out``, all device arrays; see ``matmul``.

    With ``transpose_w``, ``W`` is the ``(fan_out, fan_in)`` block of a tied
    decoder layer and the product is ``X @ W.T``.
    """
    matmul(
        X,
        W,
        out,
        transpose_b=transpose_w,
        epilogue=ACTIVATE,
        activation=activation,
        b=b,
        flag=flag,
    )


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
    def loss_gradient(
        loss,
        out,
        target,
        activation,
        scale,
        grad,
        totals,
        weighted,
        weights,
        order,
        start,
    ):
        # grad = scale * dloss/dz for the output layer z, where out = f(z), and
        # totals[0] += the loss summed over the elements, in float64. With
        # weighted set, row r's loss and gradient are multiplied by
        # weights[order[start + r]]. Each block sums its terms in shared
        # memory and adds them with one atomic.
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
            row_scale = scale
            if weighted:
                weight = weights[order[start + r]]
                term *= weight
                row_scale = scale * weight
            gradient = loss_derivative(loss, a, x) * derivative(activation, a)
            grad[r, c] = cast(row_scale, grad) * gradient
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


def loss_gradient(
    loss,
    out,
    target,
    activation,
    scale,
    grad,
    totals,
    weights=None,
    order=None,
    start=0,
):
    """Write ``scale * dloss/dz`` into ``grad`` and add the loss sum to ``totals[0]``.

    ``out`` is the output layer's value: the logits for cross-entropy, for
    which ``activation`` must be identity, or ``f(z)`` for squared error.
    ``scale`` is rounded to the dtype of ``grad`` (after the row weight
    multiplies it). With ``weights``, a float64 device array of one weight
    per row of ``X``, row ``r`` of ``out`` is row ``order[start + r]`` of
    ``X``, and its loss and gradient are multiplied by that row's weight.
    """
    weighted = weights is not None
    if not weighted:
        weights = cuda.device_array(1, dtype=np.float64)
        order = cuda.device_array(1, dtype=np.int64)
    kernel = _loss_kernel(THREADS)
    kernel[_blocks(out.size), THREADS](
        loss,
        out,
        target,
        activation,
        float(scale),
        grad,
        totals,
        weighted,
        weights,
        order,
        start,
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


# ------------------------------------------------- the regularised variants


@cuda.jit(device=True)
def _block_sum(partial, threads):
    # Sum the block's shared ``partial[:threads]`` in a fixed order. Every
    # thread of the block must call this.
    tid = cuda.threadIdx.x
    cuda.syncthreads()
    step = threads // 2
    while step > 0:
        if tid < step:
            partial[tid] += partial[tid + step]
        cuda.syncthreads()
        step //= 2
    return partial[0]


@cuda.jit
def _gather_corrupted(X, order, start, batch, target, seed, noise_std, mask_fraction):
    # Like _gather, but writes the clean rows into target and the corrupted
    # ones into batch, as fastae._kernels.epoch._corrupt corrupts them.
    n_rows, n_cols = batch.shape
    index = cuda.grid(1)
    if index < n_rows * n_cols:
        r = index // n_cols
        c = index - r * n_cols
        row = order[start + r]
        value = X[row, c]
        target[r, c] = value
        if mask_fraction > 0.0 and uniform(seed, INPUT_MASK_STREAM, row, c) < (
            mask_fraction
        ):
            batch[r, c] = 0.0
        elif noise_std > 0.0:
            batch[r, c] = value + noise_std * normal(seed, INPUT_NOISE_STREAM, row, c)
        else:
            batch[r, c] = value


def gather_corrupted(X, order, start, batch, target, seed, noise_std, mask_fraction):
    """Gather the rows ``order[start:start + len(batch)]`` of ``X`` and corrupt them.

    ``target`` receives the clean rows and ``batch`` the network's input:
    each value is set to 0 with probability ``mask_fraction``, and each
    value not set to 0 gets Gaussian noise of standard deviation
    ``noise_std``. The random numbers are those of the CPU's ``_corrupt``
    for the integer ``seed``.
    """
    _gather_corrupted[_blocks(batch.size), THREADS](
        X, order, start, batch, target, seed, float(noise_std), float(mask_fraction)
    )


@cuda.jit
def _drop_units(out, order, start, seed, layer, rate, keep_scale):
    n_rows, n_cols = out.shape
    index = cuda.grid(1)
    if index < n_rows * n_cols:
        r = index // n_cols
        c = index - r * n_cols
        if uniform(seed, DROPOUT_STREAM + layer, order[start + r], c) < rate:
            out[r, c] = 0.0
        else:
            out[r, c] *= keep_scale


def drop_units(out, order, start, seed, layer, rate):
    """Apply dropout to the outputs ``out`` of ``layer``, in place.

    Each unit is set to 0 with probability ``rate`` and the kept units are
    multiplied by ``1 / (1 - rate)``, rounded to the dtype of ``out``. Row
    ``r`` is row ``order[start + r]`` of ``X``, whose index keys the masks
    as in the CPU's ``_drop_units``.
    """
    keep_scale = np.dtype(out.dtype).type(1.0 / (1.0 - rate))
    _drop_units[_blocks(out.size), THREADS](
        out, order, start, seed, layer, float(rate), keep_scale
    )


@cuda.jit
def _dropout_backward(
    grad, out, order, start, seed, layer, rate, keep_scale, keep, activation
):
    n_rows, n_cols = out.shape
    index = cuda.grid(1)
    if index < n_rows * n_cols:
        r = index // n_cols
        c = index - r * n_cols
        if uniform(seed, DROPOUT_STREAM + layer, order[start + r], c) < rate:
            grad[r, c] = 0.0
        else:
            # f' is taken at the output before dropout scaled it. The CPU
            # restores that output with the same rounded multiplication.
            restored = out[r, c] * keep
            grad[r, c] = (grad[r, c] * keep_scale) * derivative(activation, restored)


def dropout_backward(grad, out, order, start, seed, layer, rate, activation):
    """Turn ``dL/d(out)`` of a layer with dropout into ``dL/dz``, in place in ``grad``.

    ``out`` contains the layer's outputs after :func:`drop_units`. Dropped
    units get a zero gradient, and the kept ones ``dL/d(out)`` times
    ``1 / (1 - rate)`` times ``f'`` at the output before dropout, as the
    CPU's ``_undo_dropout`` followed by its activation backward computes.
    ``out`` is not written.
    """
    cast_to = np.dtype(out.dtype).type
    _dropout_backward[_blocks(out.size), THREADS](
        grad,
        out,
        order,
        start,
        seed,
        layer,
        float(rate),
        cast_to(1.0 / (1.0 - rate)),
        cast_to(1.0 - rate),
        activation,
    )


@functools.cache
def _squared_sums_kernel(threads):
    @cuda.jit
    def squared_sums(values, partials):
        # partials[block] = the sum of the block's squared values, in float64.
        partial = cuda.shared.array(threads, np.float64)
        i = cuda.grid(1)
        term = 0.0
        if i < values.size:
            value = values[i]
            term = float(value * value)
        partial[cuda.threadIdx.x] = term
        total = _block_sum(partial, threads)
        if cuda.threadIdx.x == 0:
            partials[cuda.blockIdx.x] = total

    return squared_sums


@functools.cache
def _sum_partials_kernel(threads):
    @cuda.jit
    def sum_partials(partials, n_partials):
        # partials[0] = sum(partials[:n_partials]), in one block and in an
        # order fixed by the block size.
        partial = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        term = 0.0
        for i in range(tid, n_partials, threads):
            term += partials[i]
        partial[tid] = term
        total = _block_sum(partial, threads)
        if tid == 0:
            partials[0] = total

    return sum_partials


@cuda.jit
def _clip(values, squared_norm, limit):
    i = cuda.grid(1)
    if i < values.size:
        norm = math.sqrt(squared_norm[0])
        if norm > limit:
            values[i] *= cast(limit / norm, values)


def clip_norm(values, limit, partials):
    """Scale the 1-D device array ``values`` so that its Euclidean norm is at most ``limit``.

    The norm is summed in float64 and the factor ``limit / norm`` rounded to
    the dtype of ``values``, as the CPU's ``train_epoch`` clips a gradient.
    A NaN norm leaves ``values`` unchanged. ``partials`` is a float64 device
    array of at least ``clip_partials(values.size)`` elements, overwritten.
    The sum's order depends only on the launch sizes, so the result is
    deterministic.
    """
    n_blocks = _blocks(values.size)
    _squared_sums_kernel(THREADS)[n_blocks, THREADS](values, partials)
    _sum_partials_kernel(THREADS)[1, THREADS](partials, n_blocks)
    _clip[n_blocks, THREADS](values, partials, float(limit))


def clip_partials(size):
    """Return the length of the ``partials`` scratch array of :func:`clip_norm`."""
    return _blocks(size)


@functools.cache
def _sparsity_kernel(threads):
    @cuda.jit
    def sparsity(sums, n_rows, weight, target, scale, coefficients, totals):
        # One block. coefficients[j] = the sparsity penalty's gradient with
        # respect to each row's code value j, and totals[0] += the penalty.
        partial = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        divergence = 0.0
        for j in range(tid, sums.size, threads):
            rho = min(max(sums[j] / n_rows, _SPARSITY_MARGIN), 1.0 - _SPARSITY_MARGIN)
            divergence += target * math.log(target / rho) + (1.0 - target) * math.log(
                (1.0 - target) / (1.0 - rho)
            )
            coefficients[j] = (
                weight * scale * ((1.0 - target) / (1.0 - rho) - target / rho)
            )
        partial[tid] = divergence
        total = _block_sum(partial, threads)
        if tid == 0:
            cuda.atomic.add(totals, 0, weight * total * n_rows)

    return sparsity


def sparsity_penalty(code, weight, target, scale, sums, coefficients, totals):
    """Compute the sparsity penalty of the sigmoid ``code`` of one minibatch.

    The penalty is ``weight`` times the Kullback-Leibler divergence between
    ``target`` and each code unit's mean over the minibatch, counted once per
    row, as in the CPU's ``_code_penalties``. Its sum is added to
    ``totals[0]``, and ``coefficients`` receives each unit's gradient with
    respect to every row's value, times ``scale``, for
    :func:`code_gradient`. ``sums`` is scratch of the code width.
    """
    column_sums(code, sums)
    _sparsity_kernel(THREADS)[1, THREADS](
        sums,
        code.shape[0],
        float(weight),
        float(target),
        float(scale),
        coefficients,
        totals,
    )


@functools.cache
def _contractive_kernel(threads):
    @cuda.jit
    def contractive(W, code, activation, strength, norms, slopes, totals):
        # One block. norms[j] = sum_i W[i, j]**2, slopes[j] = the sum over the
        # rows of f'(z_j)**2, and totals[0] += strength * sum_j slopes[j] *
        # norms[j], with each term rounded as the CPU rounds it.
        partial = cuda.shared.array(threads, np.float64)
        tid = cuda.threadIdx.x
        penalty = 0.0
        for j in range(tid, norms.size, threads):
            norm = cast(0.0, norms)
            for i in range(W.shape[0]):
                norm += W[i, j] * W[i, j]
            norms[j] = norm
            slope_sum = cast(0.0, slopes)
            for r in range(code.shape[0]):
                slope = derivative(activation, code[r, j])
                slope_sum += slope * slope
                penalty += slope * slope * norm
            slopes[j] = slope_sum
        partial[tid] = penalty
        total = _block_sum(partial, threads)
        if tid == 0:
            cuda.atomic.add(totals, 0, strength * total)

    return contractive


def contractive_penalty(W, code, activation, strength, norms, slopes, totals):
    """Compute the contractive penalty of a one-layer encoder ``f(X @ W + b)``.

    The penalty, ``strength`` times the squared Frobenius norm of the code's
    Jacobian summed over the rows, ``sum_j sum_rows f'(z_j)**2 sum_i
    W[i, j]**2``, is added to ``totals[0]``. ``norms`` receives the column
    norms ``sum_i W[i, j]**2`` for :func:`code_gradient` and ``slopes`` the
    column sums of ``f'(z)**2`` for :func:`contractive_weight_gradient`.
    """
    _contractive_kernel(THREADS)[1, THREADS](
        W, code, activation, float(strength), norms, slopes, totals
    )


@functools.cache
def _code_gradient_kernel(threads):
    @cuda.jit
    def code_gradient(
        code,
        grad,
        activation,
        l1,
        l1_step,
        sparsity,
        coefficients,
        contractive_step,
        norms,
        totals,
    ):
        partial = cuda.shared.array(threads, np.float64)
        n_rows, n_cols = code.shape
        index = cuda.grid(1)
        absolute = 0.0
        if index < n_rows * n_cols:
            r = index // n_cols
            c = index - r * n_cols
            h = code[r, c]
            g = grad[r, c]
            if l1 > 0.0:
                absolute = float(abs(h))
                if h > 0:
                    g += l1_step
                elif h < 0:
                    g -= l1_step
            if sparsity:
                g += coefficients[c]
            if contractive_step != 0:
                g += contractive_step * second_derivative(activation, h) * norms[c]
            grad[r, c] = g * derivative(activation, h)
        partial[cuda.threadIdx.x] = absolute
        total = _block_sum(partial, threads)
        if cuda.threadIdx.x == 0 and l1 > 0.0:
            cuda.atomic.add(totals, 0, l1 * total)

    return code_gradient


def code_gradient(
    code,
    grad,
    activation,
    scale,
    totals,
    *,
    l1=0.0,
    coefficients=None,
    contractive=0.0,
    norms=None,
):
    """Add the code penalties' gradients to ``grad`` and turn it into ``dL/dz``.

    ``grad`` contains ``dL/d(code)``, the loss gradient with respect to the
    code layer's outputs ``code``, times ``scale``. The L1 penalty ``l1 *
    sum(abs(code))`` is added to ``totals[0]`` and its gradient to ``grad``.
    So are the gradients of the sparsity penalty, ``coefficients`` from
    :func:`sparsity_penalty` (None without it), and of the contractive
    penalty of strength ``contractive``, from the ``norms`` of
    :func:`contractive_penalty`. ``grad`` is then multiplied by ``f'`` of the
    code's activation. The terms are added in the order and the dtype of the
    CPU's ``_code_penalties`` and ``_contractive_penalty``.
    """
    cast_to = np.dtype(code.dtype).type
    sparsity = coefficients is not None
    if coefficients is None:
        coefficients = cuda.device_array(1, dtype=code.dtype)
    if norms is None:
        norms = cuda.device_array(1, dtype=code.dtype)
    _code_gradient_kernel(THREADS)[_blocks(code.size), THREADS](
        code,
        grad,
        activation,
        float(l1),
        cast_to(l1 * scale),
        sparsity,
        coefficients,
        cast_to(2.0 * contractive * scale),
        norms,
        totals,
    )


@cuda.jit
def _contractive_weight_gradient(W, grad_W, slopes, step):
    index = cuda.grid(1)
    n_rows, n_cols = W.shape
    if index < n_rows * n_cols:
        i = index // n_cols
        j = index - i * n_cols
        grad_W[i, j] += step * slopes[j] * W[i, j]


def contractive_weight_gradient(W, grad_W, slopes, contractive, scale):
    """Add the contractive penalty's direct gradient to the encoder's ``grad_W``.

    That is ``2 * contractive * scale * W[i, j] * slopes[j]``, with
    ``slopes`` from :func:`contractive_penalty`, computed in float64 as in
    the CPU's ``_contractive_weight_gradient``.
    """
    _contractive_weight_gradient[_blocks(W.size), THREADS](
        W, grad_W, slopes, 2.0 * contractive * scale
    )
