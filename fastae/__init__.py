"""fastae: fast autoencoders for scikit-learn, with Numba-compiled kernels."""

from ._engine import TrainingDivergedError
from ._estimator import AutoencoderTransformer
from ._variational import VariationalAutoencoder

__all__ = ["AutoencoderTransformer", "TrainingDivergedError", "VariationalAutoencoder"]
__version__ = "0.1.0"
