"""The training loop: epochs, early stopping, progress lines and Ctrl-C.

Python runs once per epoch here; each epoch runs entirely in compiled code,
:func:`~fastae._kernels.epoch.train_epoch`, or for large networks
:func:`~fastae._kernels.epoch.train_epoch_parallel`. The engine never touches
the estimator: it receives arrays and settings and returns arrays and history.
"""

import contextlib
import math
import threading
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from ._kernels.dense import dense_forward, dense_forward_finite
from ._kernels.epoch import (
    ADAM,
    DROPOUT,
    LEARNING_RATE,
    MASK_FRACTION,
    NESTEROV,
    NOISE_STD,
    SEED,
    SGD,
    SPARSITY_WEIGHT,
    evaluate_loss,
    train_epoch,
    train_epoch_parallel,
    work_size,
)
from ._kernels.losses import is_finite
from ._progress import EpochReport
from ._threads import numba_threads, training_parts

# Unit weights for every row: the kernels take an empty weight array.
_UNIT_WEIGHTS = np.zeros(0)

# Seeds of the kernels' random numbers are drawn below this bound, which
# float64 represents exactly.
_SEED_BOUND = 2**52


class TrainingDivergedError(ValueError):
    """Raised when the loss or the parameters stop being finite during training."""


def optimizer_code(solver, nesterov):
    """Return the kernels' optimizer code for ``solver`` and ``nesterov``."""
    if solver == "adam":
        return ADAM
    return NESTEROV if nesterov else SGD


class OptimizerState:
    """Optimizer buffers kept between calls to ``fit`` with ``warm_start`` or ``partial_fit``.

    ``state_a`` and ``state_b`` hold Adam's first and second moments, or the
    SGD velocity in ``state_a``. ``step`` counts Adam's minibatch steps.
    """

    def __init__(self, solver, size, dtype):
        self.solver = solver
        self.state_a = np.zeros(size, dtype=dtype)
        self.state_b = np.zeros(size if solver == "adam" else 0, dtype=dtype)
        self.step = np.zeros(1, dtype=np.int64)

    def copy(self):
        other = OptimizerState.__new__(OptimizerState)
        other.solver = self.solver
        other.state_a = self.state_a.copy()
        other.state_b = self.state_b.copy()
        other.step = self.step.copy()
        return other


class Trainer:
    """Run epochs of one network with buffers allocated once.

    ``params`` and ``optimizer_state`` are copied, so the caller's arrays stay
    unchanged until it reads the results back after a successful run.
    ``hyper`` is the kernels' float64 settings array (see
    :func:`fastae._kernels.epoch.hyper_array`). ``train_weights`` and
    ``validation_weights`` weight the rows of the training and validation
    data, or are empty for unit weights. ``splits_batches`` states whether
    :func:`run_epochs` may split a minibatch across threads, which the
    sparsity penalty forbids, and ``draws_random`` whether each epoch needs
    a seed for noise or dropout.
    """

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
        self.layout = layout
        self.loss = loss
        self.params = params.copy()
        self.grads = np.zeros_like(self.params)
        self.state = optimizer_state.copy()
        self.optimizer = optimizer_code(solver, nesterov)
        self.hyper = np.array(hyper, dtype=np.float64)
        self.batch_size = batch_size
        self.train_weights = self.validation_weights = _UNIT_WEIGHTS
        self.splits_batches = not self.hyper[SPARSITY_WEIGHT] > 0
        self.draws_random = bool(
            self.hyper[NOISE_STD] > 0
            or self.hyper[MASK_FRACTION] > 0
            or self.hyper[DROPOUT] > 0
        )
        self.work = np.empty(work_size(layout, batch_size), dtype=params.dtype)
        self.split_into(1)

    def split_into(self, n_parts):
        """Split each minibatch into ``n_parts`` parts trained in parallel from now on.

        With one part, training runs serially and BLAS may use its own threads.
        With more, BLAS must be limited to one thread while training runs.
        """
        self.n_parts = n_parts
        if n_parts == 1:
            # Serial training uses self.grads and self.work.
            self.part_grads = self.part_work = self.partial_losses = None
            return
        part_rows = -(-self.batch_size // n_parts)
        length = work_size(self.layout, part_rows)
        dtype = self.params.dtype
        self.part_grads = np.zeros((n_parts, self.params.size), dtype=dtype)
        self.part_work = np.empty((n_parts, length), dtype=dtype)
        self.partial_losses = np.zeros(n_parts)

    def run_epoch(self, X, order):
        """Train on ``X[order]`` and return the mean loss per element."""
        arguments = (
            X,
            order,
            self.train_weights,
            self.batch_size,
            self.params,
            self.grads if self.n_parts == 1 else self.part_grads,
            self.state.state_a,
            self.state.state_b,
            self.layout,
            self.loss,
            self.optimizer,
            self.hyper,
            self.state.step,
        )
        if self.n_parts == 1:
            total = train_epoch(*arguments, self.work)
        else:
            total = train_epoch_parallel(
                *arguments, self.part_work, self.partial_losses
            )
        return total / (order.size * X.shape[1])

    def params_copy(self):
        """Return a copy of the parameters."""
        return self.params.copy()

    def evaluate(self, X, params=None):
        """Return the mean loss per element of the network on ``X``."""
        params = self.params if params is None else params
        total = evaluate_loss(
            X,
            self.validation_weights,
            params,
            self.layout,
            self.loss,
            self.batch_size,
            self.work,
        )
        return total / X.size

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


def forward(X, coefs, intercepts, activations):
    """Run the dense layers ``coefs``/``intercepts`` on ``X``.

    ``activations`` contains one activation code per layer. Returns the output,
    in the dtype of ``X`` (which must match the dtype of the weights), and
    whether the first layer's pre-activation was finite, which is False when
    ``X`` contains an infinite or NaN value or the first product overflowed.
    """
    out = X
    first_finite = True
    for layer, (W, b, activation) in enumerate(zip(coefs, intercepts, activations)):
        layer_out = np.empty((out.shape[0], W.shape[1]), dtype=X.dtype)
        if layer == 0:
            first_finite = dense_forward_finite(out, W, b, activation, layer_out)
        else:
            dense_forward(out, W, b, activation, layer_out)
        out = layer_out
    return out, first_finite


# The adaptive schedule stops training once its rate falls to this value.
MIN_ADAPTIVE_RATE = 1e-6


class LearningRateSchedule:
    """The learning rate of each epoch, under scikit-learn's names and cosine.

    - ``constant``: ``initial`` throughout.
    - ``invscaling``: ``initial / (samples_seen + 1) ** power_t``, where
      ``samples_seen`` counts the rows trained on before the epoch, as in
      scikit-learn's MLP.
    - ``adaptive``: ``initial`` until the watched loss has not improved by
      ``tol`` for ``n_iter_no_change`` epochs, then a fifth of the rate each
      time that happens again, instead of stopping. Training stops once the
      rate is at most ``MIN_ADAPTIVE_RATE``.
    - ``cosine``: ``initial * (1 + cos(pi * epoch / n_epochs)) / 2`` for the
      epochs ``0 .. n_epochs - 1`` of the fit, and the last of these rates
      afterwards.
    """

    def __init__(self, kind, initial, power_t, n_epochs):
        self.kind = kind
        self.initial = initial
        self.power_t = power_t
        self.n_epochs = n_epochs

    def rate(self, epoch, history):
        """Return the rate of ``epoch``, counted from 0 within the fit."""
        if self.kind == "invscaling":
            # Through the logarithm a large power_t gives a rate that
            # underflows to 0 instead of an OverflowError.
            exponent = -self.power_t * math.log(history.samples_seen + 1)
            return self.initial * math.exp(exponent)
        if self.kind == "adaptive":
            return history.adaptive_rate
        if self.kind == "cosine":
            epoch = min(epoch, self.n_epochs - 1)
            return self.initial * (1 + math.cos(math.pi * epoch / self.n_epochs)) / 2
        return self.initial

    def start(self, history):
        """Restart the adaptive rate unless a warm start continues the same schedule."""
        key = (self.kind, self.initial)
        if history.schedule != key:
            history.schedule = key
            history.adaptive_rate = self.initial


class History:
    """Loss curves and early-stopping bookkeeping carried across epochs."""

    def __init__(self):
        self.loss_curve = []
        self.validation_scores = []
        self.learning_rates = []
        self.n_iter = 0
        self.samples_seen = 0
        self.schedule = None
        self.adaptive_rate = None
        self.watches_validation = False
        self.restart_watch(watches_validation=False)

    def __setstate__(self, state):
        # Histories pickled before the schedule fields existed lack them.
        self.learning_rates = []
        self.samples_seen = 0
        self.schedule = None
        self.adaptive_rate = None
        self.__dict__.update(state)

    def restart_watch(self, watches_validation):
        """Forget the best loss so far, which is needed when the watched loss changes.

        A warm start that turns early stopping on or off switches between the
        training and the validation loss, which are not comparable.
        """
        self.watches_validation = watches_validation
        self.best_loss = np.inf
        self.best_params = None
        self.no_improvement_count = 0

    def update(self, loss, validation_loss, params_copy, tol):
        """Record one epoch; return True when the watched loss improved.

        ``params_copy`` returns a copy of the parameters, taken only when the
        validation loss improved.
        """
        self.loss_curve.append(loss)
        self.n_iter += 1
        watched = loss if validation_loss is None else validation_loss
        if validation_loss is not None:
            self.validation_scores.append(validation_loss)
        if watched > self.best_loss - tol:
            self.no_improvement_count += 1
        else:
            self.no_improvement_count = 0
        if watched < self.best_loss:
            self.best_loss = watched
            if validation_loss is not None:
                self.best_params = params_copy()
            return True
        return False


class InMemoryRows:
    """Training rows in one array, which each epoch visits in one pass.

    :func:`run_epochs` accepts any object with ``n_rows`` and this
    ``run_epoch`` method in place of an array, which is how data that arrive
    in chunks train. Validation data in chunks also need an
    ``evaluate(trainer)`` method.
    """

    def __init__(self, X):
        self.X = X
        self.n_rows = X.shape[0]

    def run_epoch(self, trainer, rng, shuffle):
        """Train one epoch on the rows, shuffled with ``rng``; return the mean loss."""
        if shuffle:
            order = rng.permutation(self.n_rows).astype(np.int64, copy=False)
        else:
            order = np.arange(self.n_rows, dtype=np.int64)
        draw_seed(trainer, rng)
        return trainer.run_epoch(self.X, order)


def _validation_loss(trainer, X_val):
    """Return the validation loss, or None without validation data.

    Data that arrive in chunks evaluate themselves through their own
    ``evaluate(trainer)`` method.
    """
    if X_val is None:
        return None
    if hasattr(X_val, "evaluate"):
        return X_val.evaluate(trainer)
    return trainer.evaluate(X_val)


def draw_seed(trainer, rng):
    """Give the trainer a new seed for noise and dropout, if it draws any."""
    if getattr(trainer, "draws_random", False):
        trainer.hyper[SEED] = rng.integers(_SEED_BOUND)


def _diverged_error(epoch, loss, learning_rate):
    if math.isfinite(loss):
        cause = (
            "the parameters or the optimizer state stopped being finite while "
            f"the loss was still {loss}"
        )
    else:
        cause = f"the loss became {loss}"
    return TrainingDivergedError(
        f"Training diverged at epoch {epoch}: {cause}. Scale the input data "
        "(for example with sklearn.preprocessing.StandardScaler or "
        "MinMaxScaler), lower learning_rate_init (currently "
        f"{learning_rate}), or lower alpha, the penalties or the sample "
        "weights if they are large."
    )


# Below this many multiply-adds in a layer's minibatch matrix product, serial
# training runs BLAS on one thread. OpenBLAS's idle workers spin through the
# serial elementwise passes between products, and on small products that costs
# more than the second thread gains. With another busy process on a 2-core
# machine, two threads made a digits-sized epoch (64 x 64 x 128 products) 150
# times slower (measured with this engine and OpenBLAS 0.3.30).
SMALL_PRODUCT_SIZE = 2**22


def run_epochs(trainer, X_train, X_val, history, **settings):
    """Train for up to ``n_epochs`` epochs, stopping early when converged.

    Returns ``"converged"``, ``"max_iter"``, ``"interrupted"`` or
    ``"stopped"``, the last when ``epoch_end(epoch, loss, validation_loss,
    trainer)``, called after each epoch, returns True. Raises
    :class:`TrainingDivergedError` when training stops being finite.
    With ``n_iter_no_change=None`` every epoch runs (the ``partial_fit`` mode).

    Threads: a network large enough to gain splits each minibatch across
    Numba threads, as many as the BLAS thread count in force allows, with
    BLAS on one thread (see :mod:`fastae._threads`). Otherwise training is
    serial: small networks run BLAS on one thread, and larger ones keep the
    BLAS thread count in force.
    """
    if getattr(trainer, "device", "cpu") == "cuda":
        try:
            return _run_epochs(trainer, X_train, X_val, history, **settings)
        finally:
            if settings["verbose"]:
                print(
                    f"CUDA transfers during training: {trainer.transfers}", flush=True
                )
    largest = trainer.largest_product()
    n_parts = 1
    if getattr(trainer, "splits_batches", True):
        n_parts = training_parts(largest, trainer.batch_size)
    if trainer.n_parts != n_parts:
        trainer.split_into(n_parts)
    with contextlib.ExitStack() as stack:
        if n_parts > 1:
            stack.enter_context(_one_blas_thread())
            stack.enter_context(numba_threads(n_parts))
        elif largest < SMALL_PRODUCT_SIZE:
            stack.enter_context(_one_blas_thread())
        return _run_epochs(trainer, X_train, X_val, history, **settings)


# BLAS thread counts are process-wide, so concurrent fits in several Python
# threads share one limit: the first to start sets it and the last to finish
# restores the count found by the first.
_blas_limit_lock = threading.Lock()
_blas_limit_users = 0
_blas_limiter = None


@contextlib.contextmanager
def _one_blas_thread():
    global _blas_limit_users, _blas_limiter
    with _blas_limit_lock:
        if _blas_limit_users == 0:
            _blas_limiter = threadpool_limits(limits=1, user_api="blas")
        _blas_limit_users += 1
    try:
        yield
    finally:
        with _blas_limit_lock:
            _blas_limit_users -= 1
            if _blas_limit_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def _run_epochs(
    trainer,
    X_train,
    X_val,
    history,
    *,
    n_epochs,
    shuffle,
    rng,
    tol,
    n_iter_no_change,
    verbose,
    schedule,
    first_schedule_epoch,
    epoch_end=None,
):
    report = EpochReport(verbose, n_epochs)
    try:
        return _train_epochs(
            trainer,
            X_train,
            X_val,
            history,
            report,
            epoch_end,
            n_epochs=n_epochs,
            shuffle=shuffle,
            rng=rng,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            schedule=schedule,
            first_schedule_epoch=first_schedule_epoch,
        )
    finally:
        report.close()


def _train_epochs(
    trainer,
    X_train,
    X_val,
    history,
    report,
    epoch_end,
    *,
    n_epochs,
    shuffle,
    rng,
    tol,
    n_iter_no_change,
    schedule,
    first_schedule_epoch,
):
    data = X_train if hasattr(X_train, "run_epoch") else InMemoryRows(X_train)
    n_rows = data.n_rows
    first_epoch = history.n_iter
    schedule.start(history)
    for _ in range(n_epochs):
        try:
            start = time.perf_counter()
            rate = schedule.rate(history.n_iter - first_schedule_epoch, history)
            trainer.hyper[LEARNING_RATE] = rate
            loss = data.run_epoch(trainer, rng, shuffle)
            epoch = history.n_iter + 1
            if not np.isfinite(loss) or not trainer.parameters_finite():
                raise _diverged_error(epoch, loss, schedule.initial)
            validation_loss = _validation_loss(trainer, X_val)
            history.update(loss, validation_loss, trainer.params_copy, tol)
            history.learning_rates.append(rate)
            history.samples_seen += n_rows
            seconds = time.perf_counter() - start
            report.epoch(epoch, loss, validation_loss, seconds, n_rows)
            if epoch_end is not None and epoch_end(
                epoch, loss, validation_loss, trainer
            ):
                report.message(f"A callback stopped training after epoch {epoch}.")
                return "stopped"
        except KeyboardInterrupt:
            if history.n_iter == first_epoch:
                # Nothing was trained in this call: let the caller see the
                # interrupt, and the estimator roll back to its previous state.
                raise
            warnings.warn(
                f"Training interrupted after {history.n_iter - first_epoch} epochs; keeping the "
                "best weights found so far.",
                UserWarning,
                # _train_epochs, _run_epochs, run_epochs, then the
                # estimator's four levels down from the caller of fit.
                stacklevel=8,
            )
            return "interrupted"
        if (
            n_iter_no_change is not None
            and history.no_improvement_count > n_iter_no_change
        ):
            if (
                schedule.kind == "adaptive"
                and history.adaptive_rate > MIN_ADAPTIVE_RATE
            ):
                history.adaptive_rate /= 5
                history.no_improvement_count = 0
                report.message(
                    f"No improvement of at least tol={tol} for "
                    f"{n_iter_no_change} epochs; learning rate now "
                    f"{history.adaptive_rate:.3g}."
                )
                continue
            report.message(
                f"No improvement of at least tol={tol} for {n_iter_no_change} "
                "epochs; stopping."
            )
            return "converged"
    return "max_iter"
