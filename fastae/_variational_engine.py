"""The variational autoencoder's network layout, trainer and inference passes.

:class:`VariationalTrainer` has the interface of :class:`fastae._engine.Trainer`,
so :func:`fastae._engine.run_epochs` drives it: each epoch runs in
:func:`fastae._kernels.variational.train_epoch`. Like the engine, this module
never touches the estimator.
"""

from itertools import pairwise

import numpy as np

from ._engine import forward, optimizer_code
from ._kernels.activations import ACTIVATION_CODES, IDENTITY
from ._kernels.epoch import (
    ACTIVATION,
    BIAS_OFFSET,
    FAN_IN,
    FAN_OUT,
    LAYOUT_COLUMNS,
    WEIGHT_OFFSET,
)
from ._kernels.losses import is_finite
from ._kernels.variational import BETA, N_HYPER, objective_rows, train_epoch, work_size
from ._network import initial_parameters

# Seed of the code noise when the trainer evaluates the validation rows. A
# fixed seed gives every epoch the same noise, so the validation objective
# changes only with the weights.
VALIDATION_SEED = 0

# Rows per pass of the inference kernels.
INFERENCE_BATCH_SIZE = 256


def variational_layout(n_features, hidden_layer_sizes, activation, output_activation):
    """Return the int64 ``layout`` of a variational autoencoder.

    The encoder maps ``n_features`` through ``hidden_layer_sizes[:-1]`` to a
    linear head of ``2 * k`` outputs, where ``k = hidden_layer_sizes[-1]``.
    The decoder maps ``k`` through the reversed hidden widths to
    ``n_features``. Weights come first in the parameter buffer, layer by
    layer, then biases, as in :mod:`fastae._network`, and no layer shares
    another's weights.
    """
    code_size = hidden_layer_sizes[-1]
    hidden = list(hidden_layer_sizes[:-1])
    encoder = [n_features, *hidden, 2 * code_size]
    decoder = [code_size, *hidden[::-1], n_features]
    shapes = list(pairwise(encoder)) + list(pairwise(decoder))

    layout = np.zeros((len(shapes), LAYOUT_COLUMNS), dtype=np.int64)
    offset = 0
    for layer, (fan_in, fan_out) in enumerate(shapes):
        layout[layer, FAN_IN] = fan_in
        layout[layer, FAN_OUT] = fan_out
        layout[layer, WEIGHT_OFFSET] = offset
        offset += fan_in * fan_out
    for layer, (_, fan_out) in enumerate(shapes):
        layout[layer, BIAS_OFFSET] = offset
        offset += fan_out

    layout[:, ACTIVATION] = ACTIVATION_CODES[activation]
    layout[len(shapes) // 2 - 1, ACTIVATION] = IDENTITY
    layout[-1, ACTIVATION] = ACTIVATION_CODES[output_activation]
    return layout


def initial_variational_parameters(layout, rng, dtype):
    """Draw the initial parameters: Glorot-uniform, but a zero log-variance head.

    Every layer is drawn as :func:`fastae._network.initial_parameters` draws
    it, and then the weights and biases of the head's log-variance columns are
    set to 0. Each code unit then starts with unit variance whatever the
    scale of the input. With drawn weights, unscaled data would start with
    log-variances in the tens, whose noise can make training diverge.
    """
    params = initial_parameters(layout, rng, dtype)
    head = layout.shape[0] // 2 - 1
    fan_in, fan_out = int(layout[head, FAN_IN]), int(layout[head, FAN_OUT])
    code_size = fan_out // 2
    weights = layout[head, WEIGHT_OFFSET]
    params[weights : weights + fan_in * fan_out].reshape(fan_in, fan_out)[
        :, code_size:
    ] = 0.0
    biases = layout[head, BIAS_OFFSET]
    params[biases + code_size : biases + fan_out] = 0.0
    return params


class VariationalTrainer:
    """Run epochs of one variational autoencoder with buffers allocated once.

    Has the interface that :func:`fastae._engine.run_epochs` expects of
    :class:`fastae._engine.Trainer`. ``params`` and ``optimizer_state`` are
    copied, so the caller's arrays stay unchanged until it reads the results
    back. Each epoch draws its noise seed from ``rng``, the generator that
    :func:`~fastae._engine.run_epochs` also shuffles with.
    """

    # Minibatches are trained serially, but BLAS may still use its threads.
    splits_batches = False
    # run_epoch draws the epoch's noise seed itself, so run_epochs must not
    # write one into ``hyper``, which has no seed position here.
    draws_random = False

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
        rng,
    ):
        if len(hyper) != N_HYPER:
            raise ValueError(f"hyper must have {N_HYPER} entries; got {len(hyper)}.")
        self.layout = layout
        self.loss = loss
        self.params = params.copy()
        self.grads = np.zeros_like(self.params)
        self.state = optimizer_state.copy()
        self.optimizer = optimizer_code(solver, nesterov)
        self.hyper = np.asarray(hyper, dtype=np.float64)
        self.batch_size = batch_size
        self.rng = rng
        self.work = np.empty(work_size(layout, batch_size), dtype=params.dtype)
        self.n_parts = 1

    def split_into(self, n_parts):
        """Accept one part only: minibatches are never split across threads."""
        if n_parts != 1:
            raise ValueError(
                f"VariationalTrainer trains serially; got n_parts={n_parts}."
            )

    def run_epoch(self, X, order):
        """Train on ``X[order]`` and return the mean objective per row."""
        seed = int(self.rng.integers(np.iinfo(np.int64).max))
        total = train_epoch(
            X,
            order,
            self.batch_size,
            self.params,
            self.grads,
            self.state.state_a,
            self.state.state_b,
            self.layout,
            self.loss,
            self.optimizer,
            self.hyper,
            self.state.step,
            seed,
            self.work,
        )
        return total / order.size

    def params_copy(self):
        """Return a copy of the parameters."""
        return self.params.copy()

    def evaluate(self, X, params=None):
        """Return the mean objective per row on ``X``, with fixed code noise."""
        params = self.params if params is None else params
        out = np.empty(X.shape[0])
        objective_rows(
            X,
            params,
            self.layout,
            self.loss,
            self.hyper[BETA],
            VALIDATION_SEED,
            True,
            self.batch_size,
            self.work,
            out,
        )
        return float(out.sum()) / X.shape[0]

    def largest_product(self):
        """Return the multiply-adds of the largest layer product for one minibatch."""
        return self.batch_size * int(np.max(self.layout[:, 0] * self.layout[:, 1]))

    def parameters_finite(self):
        """Return True when the parameters and the optimizer state are all finite."""
        state = self.state
        return (
            is_finite(self.params)
            and is_finite(state.state_a)
            and is_finite(state.state_b)
        )


def row_objectives(X, params, layout, loss, beta):
    """Return the objective of each row of ``X`` with the mean code, in float64."""
    batch_size = min(INFERENCE_BATCH_SIZE, X.shape[0])
    work = np.empty(work_size(layout, batch_size), dtype=params.dtype)
    out = np.empty(X.shape[0])
    objective_rows(X, params, layout, loss, beta, 0, False, batch_size, work, out)
    return out


def encode(X, coefs, intercepts, layout):
    """Return the encoder's head outputs on ``X`` and whether layer 0 stayed finite.

    The head's outputs are ``mu`` then the raw log-variances. The flag is False
    when the first layer's pre-activation overflowed, which an activation such
    as relu could otherwise hide.
    """
    n_encoder = layout.shape[0] // 2
    activations = layout[:n_encoder, ACTIVATION]
    return forward(X, coefs[:n_encoder], intercepts[:n_encoder], activations)


def decode(Z, coefs, intercepts, layout):
    """Return the decoder's output on the codes ``Z``, output activation applied."""
    n_encoder = layout.shape[0] // 2
    activations = layout[n_encoder:, ACTIVATION]
    out, _ = forward(Z, coefs[n_encoder:], intercepts[n_encoder:], activations)
    return out
