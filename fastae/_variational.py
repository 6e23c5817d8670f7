"""VariationalAutoencoder: a scikit-learn estimator that generates new samples."""

import copy
import numbers
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
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._base import (
    CALLER_OF_FIT,
    FLOAT_DTYPES,
    MAX_LAYER_WIDTH,
    TrainingMixin,
    make_rng,
    to_model_dtype,
    writeable,
)
from ._engine import History, LearningRateSchedule, OptimizerState, run_epochs
from ._kernels.activations import ACTIVATION_CODES
from ._kernels.epoch import FAN_IN, FAN_OUT
from ._kernels.losses import LOSS_CODES
from ._network import n_parameters, pack, unpack
from ._variational_engine import (
    VariationalTrainer,
    decode,
    encode,
    initial_variational_parameters,
    row_objectives,
    variational_layout,
)


class VariationalAutoencoder(
    TrainingMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Variational autoencoder that encodes data and generates new samples.

    The encoder maps ``n_features`` inputs through ``hidden_layer_sizes[:-1]``
    to a linear layer of ``2 * k`` outputs, where ``k = hidden_layer_sizes[-1]``
    is the code size: the means ``mu`` and the log-variances ``log_var`` of a
    diagonal Gaussian over the code. Training decodes the sample
    ``z = mu + exp(log_var / 2) * eps`` with standard normal ``eps`` and
    minimises, per row, the reconstruction loss summed over features plus
    ``beta * 0.5 * sum(mu**2 + exp(log_var) - 1 - log_var)``, the
    Kullback-Leibler divergence of the code distribution from ``N(0, I)``.
    The log-variances are clamped to [-30, 20] so that ``exp`` cannot
    overflow, and their weights and biases start at 0, so every code unit
    starts with unit variance. ``sample`` decodes draws from ``N(0, I)``.

    Training uses minibatch Adam or SGD, each epoch in Numba-compiled code,
    and runs on the CPU only: there is no ``device`` parameter. float32 input
    is trained and transformed in float32, and any other numeric input
    (integers included) is converted to float64.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(256, 2)
        Widths of the encoder's hidden layers, then the code size ``k``. The
        decoder uses the hidden widths in reverse.
    activation : {"relu", "identity", "leaky_relu", "sigmoid", "tanh", "elu", \
"softplus"}, default="relu"
        Activation of every hidden layer of the encoder and the decoder.
    loss : {"squared_error", "binary_crossentropy"}, default="squared_error"
        Reconstruction loss, summed over features: half the squared error, or
        the binary cross-entropy computed from the output logits. Binary
        cross-entropy needs every input value in [0, 1] and a sigmoid output.
    output_activation : {"auto", "identity", "sigmoid"}, default="auto"
        Activation of the decoder's output. ``"auto"`` is ``"sigmoid"`` for
        ``loss="binary_crossentropy"`` and ``"identity"`` otherwise.
    beta : float, default=1.0
        Weight of the Kullback-Leibler term. Larger values pull the codes
        towards ``N(0, I)``, which makes samples more typical and
        reconstructions blurrier. 0 trains a plain autoencoder with noisy codes.
    solver : {"adam", "sgd"}, default="adam"
        Optimizer for the weights.
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights (not the biases). As in
        scikit-learn's MLP, each minibatch adds ``alpha / batch_rows * W`` to
        the weight gradient.
    batch_size : int or "auto", default="auto"
        Rows per minibatch. ``"auto"`` means ``min(256, n_samples)``. A larger
        integer than the number of training rows is clipped with a warning.
    learning_rate : {"constant", "invscaling", "adaptive", "cosine"}, \
default="constant"
        Schedule of the step size, for both solvers, as in
        :class:`AutoencoderTransformer`.
    learning_rate_init : float, default=0.001
        Step size of the optimizer at the first epoch.
    power_t : float, default=0.5
        Exponent of the ``"invscaling"`` schedule.
    max_iter : int, default=200
        Maximum number of epochs for ``fit``.
    shuffle : bool, default=True
        Whether to shuffle the rows at every epoch.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the weight initialisation, the validation split, the shuffling
        and the code noise of training. NumPy's global random generator is
        never used.
    tol : float, default=1e-4
        Minimum decrease of the watched objective that counts as an
        improvement.
    verbose : bool or int, default=False
        Print one line per epoch: the objective, the validation objective and
        the time.
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimizer state.
    momentum : float, default=0.9
        Momentum of SGD, in [0, 1].
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with SGD.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows, stop when their objective
        has not improved by ``tol`` for ``n_iter_no_change`` epochs, and restore
        the weights with the lowest validation objective. The validation rows
        get the same code noise at every epoch.
    validation_fraction : float, default=0.1
        Fraction of rows held out for early stopping, rounded down to a whole
        number of rows, which must be at least one.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
        Adam's term added to the denominator for numerical stability.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` after which ``fit`` stops.

    Attributes
    ----------
    coefs_ : list of ndarray
        Weight matrix of each layer, of shape ``(fan_in, fan_out)``: the
        encoder's layers, whose last has ``2 * k`` columns, then the decoder's.
    intercepts_ : list of ndarray
        Bias vector of each layer.
    loss_ : float
        Mean objective per row of the last epoch.
    loss_curve_ : list of float
        Mean objective per row of every epoch, with the code noise of that
        epoch and without the L2 penalty.
    validation_scores_ : list of float or None
        Validation objective of every epoch trained with ``early_stopping`` set,
        in the unit of ``loss_curve_``. None when the last call did not use
        early stopping.
    best_loss_ : float
        Lowest watched objective: the validation objective with early
        stopping, the training objective without.
    n_iter_ : int
        Number of epochs run by the last call to ``fit`` or ``partial_fit``.
        ``loss_curve_`` keeps the epochs of every call.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Feature names seen during ``fit``, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastae import VariationalAutoencoder
    >>> X = load_digits().data / 16.0
    >>> vae = VariationalAutoencoder(hidden_layer_sizes=(64, 4),
    ...                              loss="binary_crossentropy", max_iter=5,
    ...                              random_state=0)
    >>> vae.fit_transform(X).shape
    (1797, 4)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)
    """

    # Private attributes that carry training state between calls.
    _training_state = (
        "_layout",
        "_loss_code",
        "_beta",
        "_optimizer_state",
        "_history",
        "_rng",
    )

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATION_CODES))],
        "loss": [StrOptions(set(LOSS_CODES))],
        "output_activation": [StrOptions({"auto", "identity", "sigmoid"})],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
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
    }

    def __init__(
        self,
        hidden_layer_sizes=(256, 2),
        activation="relu",
        *,
        loss="squared_error",
        output_activation="auto",
        beta=1.0,
        solver="adam",
        alpha=0.0001,
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
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.output_activation = output_activation
        self.beta = beta
        self.solver = solver
        self.alpha = alpha
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

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the model on ``X`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, which is also the reconstruction target.
        y : None
            Ignored.

        Returns
        -------
        self : VariationalAutoencoder
            The fitted estimator.
        """
        return self._fit_guarded(X, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train for one epoch over ``X``, starting from the current weights.

        The first call initialises the network. Early stopping does not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : VariationalAutoencoder
            The updated estimator.
        """
        if self.early_stopping:
            warnings.warn(
                "partial_fit trains one epoch on all of X without a validation "
                "split: early_stopping=True applies to fit only.",
                UserWarning,
                stacklevel=3,  # partial_fit, scikit-learn's wrapper, the caller
            )
        return self._fit_guarded(X, incremental=True)

    def _fit(self, X, incremental):
        warm = hasattr(self, "coefs_") and (incremental or self.warm_start)
        X = validate_data(self, X, reset=not warm, dtype=FLOAT_DTYPES, order="C")
        if warm:
            X = to_model_dtype(X, self.coefs_[0].dtype)
        X = writeable(X)
        hidden = self._check_hidden_layer_sizes()
        output_activation = self._resolved_output_activation()
        self._check_loss_domain(X)

        if incremental and hasattr(self, "_rng"):
            # A copy, so that a failed call leaves the stored generator as it was.
            rng = copy.deepcopy(self._rng)
        else:
            rng = make_rng(self.random_state)
        X_train, X_val = self._split_validation(X, rng, incremental)
        batch_size = self._resolved_batch_size(X_train.shape[0])

        layout = variational_layout(
            X.shape[1], hidden, self.activation, output_activation
        )
        if warm:
            self._check_same_architecture(layout, incremental)
            params = pack(self.coefs_, self.intercepts_, layout, X.dtype)
            history = copy.deepcopy(self._history)
        else:
            params = initial_variational_parameters(layout, rng, X.dtype)
            history = History()
        if history.watches_validation != (X_val is not None):
            history.restart_watch(watches_validation=X_val is not None)
        state = self._optimizer_state_for(warm, n_parameters(layout), X.dtype)

        trainer = VariationalTrainer(
            params,
            layout,
            loss=LOSS_CODES[self.loss],
            solver=self.solver,
            nesterov=self.nesterovs_momentum,
            hyper=[
                self.learning_rate_init,
                self.momentum,
                self.beta_1,
                self.beta_2,
                self.epsilon,
                self.alpha,
                self.beta,
            ],
            batch_size=batch_size,
            optimizer_state=state,
            rng=rng,
        )
        epochs_before = history.n_iter
        status = run_epochs(
            trainer,
            X_train,
            X_val,
            history,
            n_epochs=1 if incremental else self.max_iter,
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
        )

        final = trainer.params
        if X_val is not None and history.best_params is not None:
            final = history.best_params
        self.coefs_, self.intercepts_ = unpack(final, layout)
        self._layout = layout
        self._loss_code = LOSS_CODES[self.loss]
        self._beta = float(self.beta)
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
                f"VariationalAutoencoder stopped after max_iter={self.max_iter} "
                "epochs without converging: the watched objective still improved "
                f"by more than tol={self.tol} within the last n_iter_no_change="
                f"{self.n_iter_no_change} epochs. Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=CALLER_OF_FIT,
            )
        return self

    def _optimizer_state_for(self, warm, size, dtype):
        """Return the previous optimizer state when it still fits, else a new one."""
        state = getattr(self, "_optimizer_state", None) if warm else None
        if state is None or state.solver != self.solver or state.state_a.dtype != dtype:
            state = OptimizerState(self.solver, size, dtype)
        return state

    def _check_hidden_layer_sizes(self):
        hidden = self._positive_widths("at least the code size", "(256, 2)")
        # The encoder's last layer is twice the code size wide.
        widths = [*hidden[:-1], 2 * hidden[-1]]
        if max(widths) > MAX_LAYER_WIDTH:
            raise ValueError(
                f"hidden_layer_sizes gives a layer wider than {MAX_LAYER_WIDTH} "
                f"(the code layer is twice the code size wide); got "
                f"{self.hidden_layer_sizes!r}."
            )
        return hidden

    def _split_validation(self, X, rng, incremental):
        if not self.early_stopping or incremental:
            return X, None
        X_train, X_val, _, _ = self._split_rows(X, None, rng)
        return X_train, X_val

    def _check_same_architecture(self, layout, incremental):
        fitted = [W.shape for W in self.coefs_]
        current = [(int(fan_in), int(fan_out)) for fan_in, fan_out in layout[:, :2]]
        if fitted != current:
            fix = (
                "Call fit to train a new network"
                if incremental
                else "Set warm_start=False to train a new network"
            )
            raise ValueError(
                f"The fitted network has weight shapes {fitted}, but the current "
                f"parameters give {current}. {fix}, or restore hidden_layer_sizes."
            )

    # ------------------------------------------------------------ inference

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coefs_")

    @property
    def _n_features_out(self):
        """Code size ``k``: the input width of the decoder's first layer."""
        return int(self._layout[self._layout.shape[0] // 2, FAN_IN])

    def _checked_input(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES, order="C")
        X = writeable(to_model_dtype(X, self.coefs_[0].dtype))
        self._check_weights()
        return X

    def _check_weights(self):
        """Raise ValueError unless the fitted arrays match the fitted layout."""
        dtype = self.coefs_[0].dtype
        for layer, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            shape = (
                int(self._layout[layer, FAN_IN]),
                int(self._layout[layer, FAN_OUT]),
            )
            if W.shape != shape or b.shape != shape[1:]:
                raise ValueError(
                    f"coefs_[{layer}] has shape {W.shape} and intercepts_[{layer}] "
                    f"has shape {b.shape}; the fitted network expects {shape} and "
                    f"{shape[1:]}. Refit the model."
                )
            if W.dtype != dtype or b.dtype != dtype:
                raise ValueError(
                    f"coefs_[{layer}] and intercepts_[{layer}] have dtypes "
                    f"{W.dtype} and {b.dtype}, but the model computes in {dtype}. "
                    "Refit the model."
                )

    def _decode(self, Z):
        out = decode(Z, self.coefs_, self.intercepts_, self._layout)
        if not np.isfinite(out).all():
            raise ValueError(
                "The decoder's output overflowed to infinity or NaN for codes "
                f"whose largest magnitude is {float(np.max(np.abs(Z)))!r}. Pass "
                "codes on the scale that transform returns."
            )
        return out

    def _encode(self, X):
        """Return the encoder's head outputs on ``X``, raising on overflow."""
        head, first_finite = encode(X, self.coefs_, self.intercepts_, self._layout)
        if not (first_finite and np.isfinite(head).all()):
            raise ValueError(
                "The encoder's output overflowed to infinity or NaN for this "
                f"input, whose largest magnitude is {float(np.max(np.abs(X)))!r}. "
                "Scale the data the way the training data was scaled."
            )
        return head

    def transform(self, X):
        """Encode ``X``: return the code means ``mu``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        ndarray of shape (n_samples, k)
            The code means, in the dtype the model was fitted with.
        """
        X = self._checked_input(X)
        head = self._encode(X)
        return np.ascontiguousarray(head[:, : self._n_features_out])

    def inverse_transform(self, X):
        """Decode codes back to the data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, k)
            Codes, such as the means that ``transform`` returns.

        Returns
        -------
        ndarray of shape (n_samples, ``n_features_in_``)
            The decoder's output with the output activation applied, so
            probabilities with ``loss="binary_crossentropy"``.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=FLOAT_DTYPES, order="C", input_name="X")
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects codes "
                f"of width {self._n_features_out}, the output width of transform."
            )
        self._check_weights()
        Z = writeable(to_model_dtype(Z, self.coefs_[0].dtype))
        return self._decode(Z)

    def sample(self, n_samples=1, random_state=None):
        """Generate new samples by decoding codes drawn from ``N(0, I)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate, at least 1.
        random_state : int, RandomState instance, Generator or None, default=None
            Seeds the codes. None draws fresh entropy from the operating system,
            and a Generator is advanced. NumPy's global generator is never used.

        Returns
        -------
        ndarray of shape (n_samples, ``n_features_in_``)
            The decoded samples, in the dtype the model was fitted with, with
            the output activation applied.
        """
        check_is_fitted(self)
        if (
            not isinstance(n_samples, numbers.Integral)
            or isinstance(n_samples, bool)
            or n_samples < 1
        ):
            raise ValueError(
                f"n_samples must be a positive integer; got {n_samples!r}. Pass "
                "the number of samples to generate, for example n_samples=10."
            )
        self._check_weights()
        try:
            rng = make_rng(random_state)
        except (TypeError, ValueError) as error:
            raise ValueError(
                "random_state must be None, a non-negative int, a "
                "numpy.random.RandomState or a numpy.random.Generator; got "
                f"{random_state!r}."
            ) from error
        codes = rng.standard_normal((int(n_samples), self._n_features_out))
        return self._decode(codes.astype(self.coefs_[0].dtype))

    def score_samples(self, X):
        """Return the negative objective of each row, with the mean code.

        Each row's score is minus its reconstruction loss from the mean code
        ``mu`` (summed over features, in the unit of ``loss``) and minus
        ``beta`` times the Kullback-Leibler term of its code distribution. It
        is the objective that training minimises with the code noise set to 0,
        with the ``loss`` and ``beta`` of the last fit.
        Higher is more typical of the training data, as in scikit-learn's
        outlier detectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        ndarray of shape (n_samples,)
            The scores, in float64.
        """
        X = self._checked_input(X)
        # The compiled objective cannot tell an overflow that relu turned into
        # 0 from a real 0, so the encoder runs once more here to check.
        self._encode(X)
        params = pack(self.coefs_, self.intercepts_, self._layout, X.dtype)
        objectives = row_objectives(
            X, params, self._layout, self._loss_code, self._beta
        )
        if not np.isfinite(objectives).all():
            raise ValueError(
                "The objective overflowed to infinity or NaN for this input, "
                f"whose largest magnitude is {float(np.max(np.abs(X)))!r}. Scale "
                "the data the way the training data was scaled."
            )
        return -objectives

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
            Negative mean objective per row, with the mean code.
        """
        return float(np.mean(self.score_samples(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
