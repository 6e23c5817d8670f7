"""fastae: fast autoencoders for scikit-learn, with Numba-compiled kernels."""

from ._engine import TrainingDivergedError
from ._estimator import AutoencoderTransformer

__all__ = ["AutoencoderTransformer", "TrainingDivergedError"]
__version__ = "0.1.0"
