"""AutoencoderTransformer: the scikit-learn estimator around the compiled engine."""

import copy
import numbers
import sys
import warnings
from typing import ClassVar

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import assert_all_finite
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)

from ._base import (
    CALLER_OF_FIT,
    FLOAT_DTYPES,
    MAX_LAYER_WIDTH,
    TrainingMixin,
    make_rng,
    to_model_dtype,
    writeable,
)
from ._callbacks import CallbackSupportMixin, EpochCallbacks
from ._dask import (
    DaskRows,
    dask_sample_weight,
    feature_source,
    is_dask_collection,
    map_model_blocks,
    row_chunked_array,
)
from ._engine import (
    History,
    LearningRateSchedule,
    OptimizerState,
    Trainer,
    forward,
    run_epochs,
)
from ._kernels.activations import ACTIVATION_CODES
from ._kernels.epoch import ACTIVATION, hyper_array
from ._kernels.losses import LOSS_CODES
from ._network import (
    build_layout,
    initial_parameters,
    layer_sizes,
    n_parameters,
    pack,
    unpack,
)


class AutoencoderTransformer(
    TrainingMixin,
    CallbackSupportMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Dense autoencoder whose encoder output is the transformed data.

    The encoder maps ``n_features`` inputs through ``hidden_layer_sizes``; the
    last entry is the code size. The decoder mirrors the encoder back to
    ``n_features`` outputs. Training minimises the reconstruction loss with
    minibatch Adam or SGD, each epoch running in Numba-compiled code.

    float32 input is trained and transformed in float32; any other numeric
    input (integers included) is converted to float64.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(128,)
        Widths of the encoder's layers. The last entry is the code size that
        ``transform`` returns; the decoder uses the same widths in reverse.
    activation : {"relu", "identity", "leaky_relu", "sigmoid", "tanh", "elu", \
"softplus"}, default="relu"
        Activation of every hidden layer, the code layer included unless
        ``code_activation`` is set.
    code_activation : {"relu", "identity", "leaky_relu", "sigmoid", "tanh", \
"elu", "softplus"} or None, default=None
        Activation of the code layer, the encoder's last; None means
        ``activation``. ``"identity"`` gives a linear code.
    tied_weights : bool, default=False
        Make each decoder layer use the transpose of its mirror encoder
        layer's weight matrix, which halves the number of weights. Biases stay
        separate. ``coefs_`` still lists one matrix per layer. A warm start
        that turns it on keeps the encoder's weights, whose transposes replace
        the decoder's.
    output_activation : {"auto", "identity", "sigmoid"}, default="auto"
        Activation of the reconstruction. ``"auto"`` is ``"sigmoid"`` for
        ``loss="binary_crossentropy"`` and ``"identity"`` otherwise.
    loss : {"squared_error", "binary_crossentropy"}, default="squared_error"
        Reconstruction loss. Binary cross-entropy needs every input value in
        [0, 1] and a sigmoid output; it is computed from the output logits.
    solver : {"adam", "sgd"}, default="adam"
        Optimizer for the weights.
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights (not the biases). As in
        scikit-learn's MLP, each minibatch adds ``alpha / batch_rows * W`` to
        the weight gradient.
    noise_std : float, default=0.0
        Denoising: standard deviation of the Gaussian noise added to every
        input value during training. The loss still compares the output with
        the clean input, and ``transform`` never adds noise.
    mask_fraction : float, default=0.0
        Denoising: fraction of the input values set to 0 during training, each
        value independently; in [0, 1). Combines with ``noise_std``: masked
        values get no noise.
    dropout : float, default=0.0
        Fraction of the units of every hidden layer except the code layer set
        to 0 during training, with the kept units scaled by
        ``1 / (1 - dropout)``; in [0, 1). It needs at least two values in
        ``hidden_layer_sizes``.
    code_l1 : float, default=0.0
        Strength of an L1 penalty on the code: ``code_l1 * sum(abs(code))``
        is added to each row's loss, which pushes code values to 0.
    sparsity_weight : float, default=0.0
        Strength of the sparsity penalty on the code: for each code unit, the
        Kullback-Leibler divergence between ``sparsity_target`` and the
        unit's mean activation over the minibatch, added to each row's loss.
        It needs a sigmoid code (``activation`` or ``code_activation`` set to
        ``"sigmoid"``) and trains each minibatch on one thread.
    sparsity_target : float, default=0.05
        Mean activation that the sparsity penalty aims at for each code unit,
        in (0, 1).
    contractive : float, default=0.0
        Strength of the contractive penalty: the squared Frobenius norm of the
        Jacobian of the code with respect to the input, added to each row's
        loss. It has a closed form for a one-layer encoder, so it needs a
        single value in ``hidden_layer_sizes``.
    max_grad_norm : float or None, default=None
        Rescale each minibatch's gradient (of the loss and penalties, before
        the L2 term) so that its Euclidean norm over all weights and biases
        is at most this value. None leaves gradients as they are.
    batch_size : int or "auto", default="auto"
        Rows per minibatch. ``"auto"`` means ``min(256, n_samples)``. A larger
        integer than the number of training rows is clipped with a warning.
    learning_rate : {"constant", "invscaling", "adaptive", "cosine"}, \
default="constant"
        Schedule of the step size, for both solvers (scikit-learn's MLP
        applies its schedules to SGD only). ``"constant"`` keeps
        ``learning_rate_init``. ``"invscaling"`` divides it by
        ``(samples_seen + 1) ** power_t`` at every epoch, counting the rows
        trained on so far. ``"adaptive"`` divides the current rate by 5
        whenever the watched loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, where ``fit`` would otherwise stop, and
        stops once the rate is at most 1e-6. ``"cosine"`` anneals it over
        ``max_iter`` epochs to ``learning_rate_init * (1 + cos(pi * epoch /
        max_iter)) / 2`` at epoch ``epoch`` (counted from 0).
    learning_rate_init : float, default=0.001
        Step size of the optimizer at the first epoch.
    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule.
    max_iter : int, default=200
        Maximum number of epochs for ``fit``.
    shuffle : bool, default=True
        Whether to shuffle the rows at every epoch.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the weight initialisation, the validation split and the
        shuffling. NumPy's global random generator is never used.
    tol : float, default=1e-4
        Minimum decrease of the watched loss that counts as an improvement.
    verbose : bool or int, default=False
        Report each epoch: its loss, validation loss, time and rows per
        second. ``1`` (or True) shows a progress bar when tqdm is installed
        and prints one line per epoch otherwise; ``2`` or more always prints
        lines.
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimizer state.
    momentum : float, default=0.9
        Momentum of SGD, in [0, 1].
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with SGD.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows, stop when their loss has
        not improved by ``tol`` for ``n_iter_no_change`` epochs, and restore
        the weights with the lowest validation loss. With a Dask ``X``, whole
        row chunks are held out, as many as cover that fraction, and their
        loss is computed one chunk at a time.
    validation_fraction : float, default=0.1
        Fraction of rows held out for early stopping, rounded down to a whole
        number of rows, which must be at least one.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
        Adam's term added to the denominator for numerical stability.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` after which ``fit`` stops.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where ``fit`` trains and ``transform``, ``inverse_transform`` and
        ``score_samples`` compute. ``"cuda"`` uses an NVIDIA GPU through
        numba-cuda (the ``cuda`` extra) and raises an error naming what is
        missing when that cannot work; ``"auto"`` uses the GPU when one is
        usable and the CPU otherwise. The fitted attributes are NumPy arrays
        whatever the device, so ``set_params(device=...)`` moves a fitted
        model. With the GPU, these methods also accept GPU arrays (objects with
        ``__cuda_array_interface__``, such as CuPy arrays) and return GPU
        arrays for them. The GPU trains every variant that the CPU trains
        (tied weights, denoising, dropout, the code penalties, gradient
        clipping and ``sample_weight``), with the same results up to
        floating-point rounding.

    Attributes
    ----------
    coefs_ : list of ndarray
        Weight matrix of each layer, of shape ``(fan_in, fan_out)``.
    intercepts_ : list of ndarray
        Bias vector of each layer.
    loss_ : float
        Training loss of the last epoch.
    loss_curve_ : list of float
        Training loss of every epoch: the mean over rows and features of the
        loss (half the squared error, or the binary cross-entropy), without
        the L2 penalty. With ``sample_weight`` each row's loss is weighted,
        and the code penalties are included, divided by ``n_features_in_``
        like the loss.
    validation_scores_ : list of float or None
        Validation loss of every epoch trained with ``early_stopping`` set, in
        the same unit as ``loss_curve_``; None when the last call did not use
        early stopping.
    best_loss_ : float
        Lowest watched loss: the validation loss with early stopping, the
        training loss without.
    n_iter_ : int
        Number of epochs run by the last call to ``fit`` or ``partial_fit``, as
        in scikit-learn's MLP. ``loss_curve_`` keeps the epochs of every call.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Feature names seen during ``fit``, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastae import AutoencoderTransformer
    >>> X = load_digits().data / 16.0
    >>> ae = AutoencoderTransformer(hidden_layer_sizes=(32, 8), max_iter=5,
    ...                             random_state=0)
    >>> ae.fit_transform(X).shape
    (1797, 8)
    """

    # Private attributes that carry training state between calls.
    _training_state = ("_layer_activations", "_optimizer_state", "_history", "_rng")

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATION_CODES))],
        "code_activation": [StrOptions(set(ACTIVATION_CODES)), None],
        "tied_weights": ["boolean"],
        "output_activation": [StrOptions({"auto", "identity", "sigmoid"})],
        "loss": [StrOptions(set(LOSS_CODES))],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "noise_std": [Interval(numbers.Real, 0, None, closed="left")],
        "mask_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "code_l1": [Interval(numbers.Real, 0, None, closed="left")],
        "sparsity_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "sparsity_target": [Interval(numbers.Real, 0, 1, closed="neither")],
        "contractive": [Interval(numbers.Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", "cosine"})],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state", np.random.Generator],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(128,),
        activation="relu",
        *,
        code_activation=None,
        tied_weights=False,
        output_activation="auto",
        loss="squared_error",
        solver="adam",
        alpha=0.0001,
        noise_std=0.0,
        mask_fraction=0.0,
        dropout=0.0,
        code_l1=0.0,
        sparsity_weight=0.0,
        sparsity_target=0.05,
        contractive=0.0,
        max_grad_norm=None,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        device="cpu",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.code_activation = code_activation
        self.tied_weights = tied_weights
        self.output_activation = output_activation
        self.loss = loss
        self.solver = solver
        self.alpha = alpha
        self.noise_std = noise_std
        self.mask_fraction = mask_fraction
        self.dropout = dropout
        self.code_l1 = code_l1
        self.sparsity_weight = sparsity_weight
        self.sparsity_target = sparsity_target
        self.contractive = contractive
        self.max_grad_norm = max_grad_norm
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.device = device

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the autoencoder on ``X`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, which is also the reconstruction target. A Dask
            array or DataFrame is trained on one row chunk at a time, in the
            calling process, and minibatches never cross a chunk boundary.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row's reconstruction loss. Each
            minibatch's gradient is the weighted sum over its rows divided by
            its number of rows, so unit weights train exactly as None does.
            With early stopping the validation loss is weighted too. With a
            Dask ``X`` it may be a Dask array.

        Returns
        -------
        self : AutoencoderTransformer
            The fitted estimator.
        """
        return self._fit_guarded(X, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Train for one epoch over ``X``, starting from the current weights.

        The first call initialises the network. Early stopping does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: an array, or a Dask array or DataFrame as in
            :meth:`fit`.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row's reconstruction loss, as in
            :meth:`fit`.

        Returns
        -------
        self : AutoencoderTransformer
            The updated estimator.
        """
        if self.early_stopping:
            warnings.warn(
                "partial_fit trains one epoch on all of X without a validation "
                "split: early_stopping=True applies to fit only.",
                UserWarning,
                stacklevel=3,  # partial_fit, scikit-learn's wrapper, the caller
            )
        return self._fit_guarded(X, sample_weight, incremental=True)

    def _fit(self, X, sample_weight, incremental):
        warm = hasattr(self, "coefs_") and (incremental or self.warm_start)
        if is_dask_collection(X):
            # DaskRows has the shape and dtype read from X below, and it
            # validates each chunk as it is computed during training.
            X, sample_weight = self._dask_training_rows(X, sample_weight, warm)
        else:
            X = validate_data(self, X, reset=not warm, dtype=FLOAT_DTYPES, order="C")
            if warm:
                X = to_model_dtype(X, self.coefs_[0].dtype)
            X = writeable(X)
            if sample_weight is not None:
                sample_weight = _check_sample_weight(
                    sample_weight, X, dtype=np.float64, ensure_non_negative=True
                )
            self._check_loss_domain(X)
        hidden = self._check_hidden_layer_sizes()
        output_activation = self._resolved_output_activation()
        self._check_variants(hidden)

        if incremental and hasattr(self, "_rng"):
            # A copy, so that a failed call leaves the stored generator as it was.
            rng = copy.deepcopy(self._rng)
        else:
            rng = make_rng(self.random_state)
        X_train, X_val, weights_train, weights_val = self._split_validation(
            X, sample_weight, rng, incremental
        )
        _check_total_weight(weights_train, "training")
        _check_total_weight(weights_val, "validation")
        batch_size = self._resolved_batch_size(X_train.shape[0])

        sizes = layer_sizes(X.shape[1], hidden)
        layout = build_layout(
            sizes,
            self.activation,
            output_activation,
            self.code_activation,
            self.tied_weights,
        )
        if warm:
            self._check_same_architecture(sizes, incremental)
            params = pack(self.coefs_, self.intercepts_, layout, X.dtype)
            history = copy.deepcopy(self._history)
        else:
            params = initial_parameters(layout, rng, X.dtype)
            history = History()
        if history.watches_validation != (X_val is not None):
            history.restart_watch(watches_validation=X_val is not None)
        state = getattr(self, "_optimizer_state", None) if warm else None
        if (
            state is None
            or state.solver != self.solver
            or state.state_a.dtype != X.dtype
            or state.state_a.size != params.size
        ):
            state = OptimizerState(self.solver, n_parameters(layout), X.dtype)

        trainer_class = Trainer
        if self._uses_gpu():
            from ._cuda.engine import CudaTrainer as trainer_class
        trainer = trainer_class(
            params,
            layout,
            loss=LOSS_CODES[self.loss],
            solver=self.solver,
            nesterov=self.nesterovs_momentum,
            hyper=self._hyper(),
            batch_size=batch_size,
            optimizer_state=state,
        )
        if weights_train is not None:
            trainer.train_weights = weights_train
            if weights_val is not None:
                trainer.validation_weights = weights_val
        epochs_before = history.n_iter
        n_epochs = 1 if incremental else self.max_iter
        callbacks = EpochCallbacks(self, X_train, n_epochs, layout)
        status = run_epochs(
            trainer,
            X_train,
            X_val,
            history,
            n_epochs=n_epochs,
            shuffle=self.shuffle,
            rng=rng,
            tol=self.tol,
            n_iter_no_change=None if incremental else self.n_iter_no_change,
            verbose=self.verbose,
            schedule=LearningRateSchedule(
                self.learning_rate,
                self.learning_rate_init,
                self.power_t,
                self.max_iter,
            ),
            first_schedule_epoch=0 if incremental else epochs_before,
            epoch_end=callbacks.epoch_end,
        )
        final = trainer.params
        if X_val is not None and history.best_params is not None:
            final = history.best_params
        self.coefs_, self.intercepts_ = unpack(final, layout)
        self._layer_activations = layout[:, ACTIVATION].copy()
        self._optimizer_state = trainer.state
        self._history = history
        self._rng = rng
        self.loss_curve_ = list(history.loss_curve)
        self.loss_ = history.loss_curve[-1]
        self.validation_scores_ = (
            list(history.validation_scores) if X_val is not None else None
        )
        self.best_loss_ = history.best_loss
        self.n_iter_ = history.n_iter - epochs_before
        if status == "max_iter" and not incremental:
            warnings.warn(
                f"AutoencoderTransformer stopped after max_iter={self.max_iter} "
                "epochs without converging: the watched loss still improved by "
                f"more than tol={self.tol} within the last n_iter_no_change="
                f"{self.n_iter_no_change} epochs. Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=CALLER_OF_FIT,
            )
        callbacks.finish()
        return self

    def _hyper(self):
        """Return the kernels' settings array for the current parameters."""
        return hyper_array(
            self.learning_rate_init,
            self.momentum,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.alpha,
            NOISE_STD=self.noise_std,
            MASK_FRACTION=self.mask_fraction,
            DROPOUT=self.dropout,
            CODE_L1=self.code_l1,
            SPARSITY_WEIGHT=self.sparsity_weight,
            SPARSITY_TARGET=self.sparsity_target,
            CONTRACTIVE=self.contractive,
            MAX_GRAD_NORM=0.0 if self.max_grad_norm is None else self.max_grad_norm,
        )

    def _check_variants(self, hidden):
        code_activation = self.code_activation or self.activation
        if self.sparsity_weight > 0 and code_activation != "sigmoid":
            raise ValueError(
                "sparsity_weight > 0 needs code values in (0, 1), that is a "
                f"sigmoid code; the code activation is {code_activation!r}. Set "
                "code_activation='sigmoid', or use code_l1 for a sparse code "
                "of any activation."
            )
        if self.contractive > 0 and len(hidden) != 1:
            raise ValueError(
                "contractive > 0 needs a one-layer encoder, whose Jacobian has a "
                f"closed form; got hidden_layer_sizes={self.hidden_layer_sizes!r}. "
                "Pass a single code size, for example (64,)."
            )
        if self.dropout > 0 and len(hidden) < 2:
            raise ValueError(
                "dropout applies to the hidden layers other than the code layer, "
                f"and hidden_layer_sizes={self.hidden_layer_sizes!r} has none. "
                "Add a layer, for example (256, 32), or corrupt the input with "
                "mask_fraction instead."
            )

    def _uses_gpu(self):
        """Return True for the GPU; raise when ``device="cuda"`` cannot work."""
        if self.device == "cpu":
            return False
        from ._cuda import unavailable_reason

        reason = unavailable_reason()
        if reason is None:
            return True
        if self.device == "auto":
            return False
        raise RuntimeError(f"device='cuda' cannot be used: {reason}.")

    def _check_hidden_layer_sizes(self):
        hidden = self._positive_widths("at least one layer width", "(128,)")
        if max(hidden) > MAX_LAYER_WIDTH:
            raise ValueError(
                f"hidden_layer_sizes contains a width above {MAX_LAYER_WIDTH}; got "
                f"{self.hidden_layer_sizes!r}."
            )
        return hidden

    def _dask_training_rows(self, X, sample_weight, warm):
        """Return a Dask collection as :class:`DaskRows`, and the sample weights.

        Feature names and counts are checked and set as for in-memory data.
        The values are checked one chunk at a time while training.
        """
        frame = X
        X = row_chunked_array(X, known_chunks=True)
        validate_data(
            self, feature_source(frame), reset=not warm, skip_check_array=True
        )
        if warm:
            dtype = self.coefs_[0].dtype
        else:
            dtype = np.float32 if X.dtype == np.float32 else np.float64
        if is_dask_collection(sample_weight):
            weights = dask_sample_weight(sample_weight, X)
        elif sample_weight is not None:
            # Validated whole here: one float64 per row is far smaller than X.
            weights = _check_sample_weight(
                sample_weight,
                np.empty((X.shape[0], 0)),
                dtype=np.float64,
                ensure_non_negative=True,
            )
        else:
            weights = None
        rows = DaskRows(
            X, weights, lambda chunk: self._checked_chunk(chunk, dtype), dtype
        )
        return rows, sample_weight

    def _checked_chunk(self, chunk, dtype):
        """Validate one computed chunk of Dask training data as ``fit`` does X."""
        chunk = check_array(chunk, dtype=FLOAT_DTYPES, order="C", input_name="X")
        chunk = writeable(to_model_dtype(chunk, dtype))
        self._check_loss_domain(chunk)
        return chunk

    def _split_validation(self, X, sample_weight, rng, incremental):
        """Return the training and validation rows, and their weights."""
        if isinstance(X, DaskRows):
            # The rows load their weights with each chunk, so none are returned.
            if not self.early_stopping or incremental:
                return X, None, None, None
            X_train, X_val = X.split_validation(self.validation_fraction, rng)
            return X_train, X_val, None, None
        if not self.early_stopping or incremental:
            return X, None, sample_weight, None
        return self._split_rows(X, sample_weight, rng)

    def _check_same_architecture(self, sizes, incremental):
        fitted = [self.coefs_[0].shape[0]] + [W.shape[1] for W in self.coefs_]
        if fitted != sizes:
            fix = (
                "Call fit to train a new network"
                if incremental
                else "Set warm_start=False to train a new network"
            )
            raise ValueError(
                f"The fitted network has layer widths {fitted}, but the current "
                f"parameters give {sizes}. {fix}, or restore hidden_layer_sizes."
            )

    # ------------------------------------------------------------ inference

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coefs_")

    @property
    def _n_encoder_layers(self):
        return len(self.coefs_) // 2

    @property
    def _n_features_out(self):
        return self.coefs_[self._n_encoder_layers - 1].shape[1]

    def _checked_input(self, X):
        check_is_fitted(self)
        if _is_device_array(X):
            return self._checked_device_input(X, self.n_features_in_, "features")
        X = validate_data(
            self,
            X,
            reset=False,
            dtype=FLOAT_DTYPES,
            order="C",
            ensure_all_finite=False,
        )
        return writeable(to_model_dtype(X, self.coefs_[0].dtype))

    def _checked_device_input(self, X, width, unit):
        """Return a GPU array as a Numba device array, without a copy, once checked."""
        if not self._uses_gpu():
            raise ValueError(
                f"X is a GPU array but this model computes on the CPU "
                f"(device={self.device!r}). Call set_params(device='cuda'), or "
                "copy X to the host first."
            )
        from ._cuda.engine import as_device_array

        X = as_device_array(X)
        shape = tuple(X.shape)
        if len(shape) != 2 or shape[1] != width:
            raise ValueError(
                f"X has shape {shape}, but this method expects 2-D input with "
                f"{width} {unit}."
            )
        if shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={shape}) while a minimum of "
                "1 is required."
            )
        dtype = self.coefs_[0].dtype
        if np.dtype(X.dtype) != dtype:
            raise ValueError(
                f"X is a GPU array of dtype {np.dtype(X.dtype)}, but the model "
                f"computes in {dtype}. Convert it on the GPU, for example with "
                f"X.astype('{dtype}')."
            )
        return X

    def _run_layers(self, X, layers):
        coefs = self.coefs_[layers]
        intercepts = self.intercepts_[layers]
        _check_layers(coefs, intercepts, X.dtype)
        activations = self._layer_activations[layers]
        if _is_device_array(X) or self._uses_gpu():
            from ._cuda.engine import forward as cuda_forward

            out, input_finite, output_finite = cuda_forward(
                X, coefs, intercepts, activations
            )
        else:
            out, input_finite = forward(X, coefs, intercepts, activations)
            output_finite = None
        # Infinite and NaN inputs are found from the first layer's narrow
        # pre-activation, which costs far less than a pass over X itself.
        if not input_finite:
            if _is_device_array(X):
                raise ValueError(
                    "Input X contains NaN or infinity, or values so large that "
                    "the first layer overflowed. Remove or scale them."
                )
            assert_all_finite(X, input_name="X")
        if output_finite is None:
            output_finite = bool(np.isfinite(out).all())
        if not (input_finite and output_finite):
            largest = ""
            if not _is_device_array(X):
                largest = f", whose largest magnitude is {float(np.max(np.abs(X)))!r}"
            raise ValueError(
                "The network's output overflowed to infinity or NaN for this "
                f"input{largest}. Scale the data the way the training data was "
                "scaled. If the input is in range, check that coefs_ and "
                "intercepts_ are finite."
            )
        return out

    def _map_dask_blocks(self, X, method):
        """Return ``method`` applied lazily to each row chunk of a Dask ``X``.

        Shapes and feature names are checked here, and values when a chunk is
        computed. The blocks share one copy of the model without its training
        state, so refitting this model later does not change the result.
        """
        check_is_fitted(self)
        frame = X
        X = row_chunked_array(X, known_chunks=False)
        if method != "inverse_transform":
            validate_data(
                self, feature_source(frame), reset=False, skip_check_array=True
            )
        elif X.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {X.shape[1]} features, but inverse_transform expects codes "
                f"of width {self._n_features_out}, the output width of transform."
            )
        widths = {
            "transform": self._n_features_out,
            "inverse_transform": self.n_features_in_,
            "score_samples": None,
            "reconstruction_errors": self.n_features_in_,
        }
        model = copy.copy(self)
        for name in ("_optimizer_state", "_history", "_rng"):
            vars(model).pop(name, None)
        model = copy.deepcopy(model)
        return map_model_blocks(model, X, method, widths[method], self.coefs_[0].dtype)

    def transform(self, X):
        """Encode ``X``: return the code layer's output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode. With ``device="cuda"`` it may be a GPU array. A
            Dask array or DataFrame gives a lazy Dask array, computed chunk by
            chunk.

        Returns
        -------
        ndarray of shape (n_samples, code_size)
            The codes, in the dtype the model was fitted with; a GPU array
            when ``X`` is one.
        """
        if is_dask_collection(X):
            return self._map_dask_blocks(X, "transform")
        X = self._checked_input(X)
        return self._run_layers(X, slice(0, self._n_encoder_layers))

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, code_size)
            Codes, as returned by ``transform``. With ``device="cuda"`` it may
            be a GPU array. A Dask array or DataFrame gives a lazy Dask array.

        Returns
        -------
        ndarray of shape (n_samples, ``n_features_in_``)
            The reconstructions; a GPU array when ``X`` is one.
        """
        if is_dask_collection(X):
            return self._map_dask_blocks(X, "inverse_transform")
        check_is_fitted(self)
        layers = slice(self._n_encoder_layers, None)
        if _is_device_array(X):
            Z = self._checked_device_input(X, self._n_features_out, "code values")
            return self._run_layers(Z, layers)
        dtype = self.coefs_[0].dtype
        Z = check_array(
            X, dtype=FLOAT_DTYPES, order="C", input_name="X", ensure_all_finite=False
        )
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects codes "
                f"of width {self._n_features_out}, the output width of transform."
            )
        Z = writeable(to_model_dtype(Z, dtype))
        return self._run_layers(Z, layers)

    def score_samples(self, X):
        """Return the negative mean squared reconstruction error of each row.

        Higher is more typical of the training data, as in scikit-learn's
        outlier detectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score. With ``device="cuda"`` it may be a GPU array. A
            Dask array or DataFrame gives a lazy Dask array.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``-mean((X - reconstruction) ** 2, axis=1)``; a GPU array when
            ``X`` is one.
        """
        if is_dask_collection(X):
            return self._map_dask_blocks(X, "score_samples")
        X = self._checked_input(X)
        reconstruction = self._run_layers(X, slice(None))
        if _is_device_array(X):
            from ._cuda.engine import scores

            return scores(X, reconstruction)
        return -np.mean(_squared_errors(X, reconstruction), axis=1)

    def reconstruction_errors(self, X):
        """Return the squared reconstruction error of every value of ``X``.

        Large entries show which features of which rows the model reconstructs
        badly, for example to explain why :meth:`score_samples` ranks a row as
        an outlier: each row's mean is ``-score_samples(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to reconstruct. With ``device="cuda"`` it may be a GPU array.
            A Dask array or DataFrame gives a lazy Dask array.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            ``(X - reconstruction) ** 2``, a NumPy array in the model's dtype.
        """
        if is_dask_collection(X):
            return self._map_dask_blocks(X, "reconstruction_errors")
        X = self._checked_input(X)
        reconstruction = self._run_layers(X, slice(None))
        if _is_device_array(X):
            X = X.copy_to_host()
            reconstruction = reconstruction.copy_to_host()
        return _squared_errors(X, reconstruction)

    def score(self, X, y=None):
        """Return the mean of :meth:`score_samples` over the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : None
            Ignored.

        Returns
        -------
        float
            Negative mean squared reconstruction error.
        """
        return float(np.mean(self.score_samples(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _check_total_weight(weights, rows):
    if weights is not None and not weights.sum() > 0:
        raise ValueError(
            f"sample_weight is 0 for every {rows} row, so the {rows} loss is 0 "
            "and cannot guide training. Give some of these rows a positive "
            "weight, or change random_state or validation_fraction to split "
            "the rows differently."
        )


def _squared_errors(X, reconstruction):
    """Return ``(X - reconstruction) ** 2``; raise ValueError if it overflows."""
    with np.errstate(over="ignore"):
        errors = np.square(X - reconstruction)
    if not np.isfinite(errors).all():
        raise ValueError(
            "The squared reconstruction error overflowed to infinity for this "
            f"input, whose largest magnitude is {float(np.max(np.abs(X)))!r}, "
            f"beyond what {errors.dtype} can hold. Scale the data the way the "
            "training data was scaled."
        )
    return errors


def _check_layers(coefs, intercepts, dtype):
    """Raise ValueError unless the layer arrays chain and share ``dtype``."""
    for layer, (W, b) in enumerate(zip(coefs, intercepts)):
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(
                f"coefs_[{layer}] has shape {W.shape} and intercepts_[{layer}] "
                f"has shape {b.shape}; expected a 2-D weight matrix and a bias "
                "of its column count. Refit the model."
            )
        if W.dtype != dtype or b.dtype != dtype:
            raise ValueError(
                f"coefs_[{layer}] and intercepts_[{layer}] have dtypes {W.dtype} "
                f"and {b.dtype}, but the model computes in {dtype}. Refit the model."
            )
    for layer in range(1, len(coefs)):
        if coefs[layer].shape[0] != coefs[layer - 1].shape[1]:
            raise ValueError(
                f"coefs_[{layer}] has {coefs[layer].shape[0]} rows, but layer "
                f"{layer - 1} outputs {coefs[layer - 1].shape[1]} values. Refit "
                "the model."
            )


def _is_device_array(X):
    # Numba's own device arrays are recognised by Numba, which covers those
    # of its CUDA simulator. Numba's CUDA module is not imported for this.
    if hasattr(X, "__cuda_array_interface__"):
        return True
    numba_cuda = sys.modules.get("numba.cuda")
    return numba_cuda is not None and numba_cuda.devicearray.is_cuda_ndarray(X)
