"""scikit-learn's callback API for fastae's estimators (scikit-learn 1.9 and later).

With scikit-learn 1.9 an estimator accepts callbacks through
``set_callbacks``, for example ``sklearn.callback.ProgressBar``. fastae's
``fit`` and ``partial_fit`` form one task whose subtasks are the epochs. After
each epoch a callback receives the loss and validation loss as metadata, can
ask for a fitted copy of the estimator with that epoch's weights, and can stop
training by returning True. With older scikit-learn versions the mixin is
empty and nothing is called.
"""

import numpy as np

from ._kernels.epoch import ACTIVATION
from ._network import unpack


def _sklearn_support():
    """Return scikit-learn's ``CallbackSupportMixin``, or None before 1.9."""
    try:
        from sklearn.callback import CallbackSupportMixin as support
    except ImportError:
        return None
    return support


class CallbackSupportMixin:
    """scikit-learn's callback support, imported when first used.

    ``sklearn.callback`` imports rich when it is installed, which would add
    about 20 ms to ``import fastae``. These methods call scikit-learn's own
    implementation, which they import on their first call.
    """

    def set_callbacks(self, *callbacks):
        """Set scikit-learn callbacks (scikit-learn 1.9 or later).

        Parameters
        ----------
        *callbacks : callback instances
            Callbacks of scikit-learn's ``FitCallback`` protocol, such as
            ``sklearn.callback.ProgressBar()``.

        Returns
        -------
        self : estimator instance
            The estimator.
        """
        support = _sklearn_support()
        if support is None:
            raise ImportError(
                "set_callbacks needs scikit-learn 1.9 or later, which has the "
                "callback API; upgrade scikit-learn to use callbacks."
            )
        return support.set_callbacks(self, *callbacks)

    def _init_callback_context(self, **arguments):
        return _sklearn_support()._init_callback_context(self, **arguments)


class EpochCallbacks:
    """Call the estimator's callbacks at the start and end of each epoch."""

    def __init__(self, estimator, X, n_epochs, layout):
        self.estimator = estimator
        self.layout = layout
        self.n_epochs = n_epochs
        self.epochs_begun = 0
        self.epoch_context = None
        self.context = None
        if _sklearn_support() is None:
            return
        # Data that are not a NumPy array (chunks streamed from Dask) are not
        # passed on, since a callback would have to load them whole.
        self.X = X if isinstance(X, np.ndarray) else None
        self.context = estimator._init_callback_context(max_subtasks=n_epochs)
        self.context.call_on_fit_task_begin(estimator=estimator, X=self.X)
        self._begin_epoch()

    def _begin_epoch(self):
        self.epoch_context = self.context.subcontext(task_name="epoch")
        self.epoch_context.call_on_fit_task_begin(estimator=self.estimator, X=self.X)
        self.epochs_begun += 1

    def epoch_end(self, epoch, loss, validation_loss, trainer):
        """End the epoch's task; return True when a callback requests a stop."""
        if self.context is None:
            return False
        context, self.epoch_context = self.epoch_context, None
        stop = context.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            metadata={
                "epoch": epoch,
                "loss": loss,
                "validation_loss": validation_loss,
            },
            reconstruction_attributes=lambda: self._fitted_attributes(trainer),
        )
        if not stop and self.epochs_begun < self.n_epochs:
            self._begin_epoch()
        return stop

    def _fitted_attributes(self, trainer):
        coefs, intercepts = unpack(trainer.params_copy(), self.layout)
        return {
            "coefs_": coefs,
            "intercepts_": intercepts,
            "_layer_activations": self.layout[:, ACTIVATION].copy(),
        }

    def finish(self):
        """End the open tasks, then tear the callbacks down.

        scikit-learn's ``fit`` wrapper tears callbacks down after ``fit``
        returns, outside the estimator's rollback. Tearing them down here,
        while a failure still rolls the estimator back, means that a callback
        that fails in ``teardown`` leaves the model as it was before the call.
        The wrapper then finds nothing left to tear down.
        """
        if self.context is None:
            return
        if self.epoch_context is not None:
            self.epoch_context.call_on_fit_task_end(estimator=self.estimator)
            self.epoch_context = None
        self.context.call_on_fit_task_end(estimator=self.estimator, X=self.X)
        estimator = self.estimator
        callbacks = vars(estimator).pop("_skl_callbacks_to_teardown", [])
        context = vars(estimator).pop("_callback_fit_ctx", self.context)
        # Every callback is torn down, as scikit-learn does, and the first
        # failure is raised afterwards.
        errors = []
        for callback in callbacks:
            try:
                callback.teardown(estimator=estimator, context=context)
            except Exception as error:  # noqa: BLE001 (raised below)
                errors.append(error)
        if errors:
            raise errors[0]
