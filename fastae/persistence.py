"""Safe persistence of fastae models in the skops format.

``skops.io.dump(model, path)`` saves a fitted or unfitted model, or a
scikit-learn pipeline that contains one, without pickle. Loading a skops file
builds only objects of trusted types. skops trusts NumPy arrays, built-in
containers and scalars, NumPy's random generators and scikit-learn's own
estimators by default, and :func:`trusted_types` lists the fastae types that a
fastae model adds. :func:`load` trusts exactly those.

skops is an optional dependency (the ``skops`` extra) and this module imports
it only when :func:`load` is called, so ``import fastae`` never does.
"""

__all__ = ["load", "trusted_types"]

_MISSING_SKOPS = (
    "Loading skops files needs the skops package, which is not installed. "
    "Install it with pip install 'fastae[skops]'."
)


def trusted_types():
    """Return the full names of the fastae types in skops files of fastae models.

    They are the two estimators and the two containers of their training
    state. For a fitted :class:`~fastae.AutoencoderTransformer` or
    :class:`~fastae.VariationalAutoencoder`, ``skops.io.get_untrusted_types``
    reports the estimator's name and the names of both containers. skops
    creates an object of one of these types with ``cls.__new__`` and then
    sets its attributes, through ``__setstate__`` where the class defines
    one. For these types that runs only the ``__setstate__`` methods of
    fastae's ``History`` and of scikit-learn's ``BaseEstimator``, which
    assign attributes. Every other object in such a file, such as an array,
    a list or the random generator, is of a type that skops trusts by default.

    Returns
    -------
    list of str
        The names, to pass as ``trusted`` to ``skops.io.load``.

    Examples
    --------
    >>> from fastae.persistence import trusted_types
    >>> trusted_types()  # doctest: +NORMALIZE_WHITESPACE
    ['fastae._estimator.AutoencoderTransformer',
     'fastae._variational.VariationalAutoencoder',
     'fastae._engine.History',
     'fastae._engine.OptimizerState']
    """
    from ._engine import History, OptimizerState
    from ._estimator import AutoencoderTransformer
    from ._variational import VariationalAutoencoder

    types = (AutoencoderTransformer, VariationalAutoencoder, History, OptimizerState)
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in types]


def load(file, *, trusted=()):
    """Load an object that ``skops.io.dump`` saved, trusting fastae's types.

    Parameters
    ----------
    file : str, path-like or binary file object
        The skops file.
    trusted : sequence of str or type, default=()
        Further types to trust, for example those of your own transformers in
        a pipeline. Review the output of ``skops.io.get_untrusted_types``
        before you add a type here.

    Returns
    -------
    object
        The loaded model or pipeline.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        When the file contains an object of a type that neither skops,
        :func:`trusted_types` nor ``trusted`` trusts.
    ImportError
        When skops is not installed.
    """
    try:
        import skops.io
    except ImportError as error:
        raise ImportError(_MISSING_SKOPS) from error
    return skops.io.load(file, trusted=[*trusted_types(), *trusted])
