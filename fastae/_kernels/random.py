"""Counter-based random numbers for compiled kernels.

Each value is a hash of ``(seed, stream, row, column)``, so the value drawn for
one element of one minibatch does not depend on which thread computes it, on
how a minibatch is split across threads, or on the order of the rows. Training
with input noise, dropout or a sampled code is therefore as deterministic as
training without. The fit draws one ``seed`` per epoch from its own NumPy
generator, and each use (input noise, dropout of layer ``k``, a code sample)
takes its own ``stream``.

The mixing function is SplitMix64's finaliser (Steele, Lea and Flood, 2014),
applied twice to combine the four keys.
"""

import math

import numpy as np

from .._compile import jit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_ROW_KEY = np.uint64(0xD1B54A32D192ED03)
_STREAM_KEY = np.uint64(0x8CB92BA72F3D8DD7)
_SHIFT_30 = np.uint64(30)
_SHIFT_27 = np.uint64(27)
_SHIFT_31 = np.uint64(31)
_SHIFT_11 = np.uint64(11)

# Streams of the training kernels.
INPUT_NOISE_STREAM = 1
INPUT_MASK_STREAM = 2
CODE_SAMPLE_STREAM = 3
# Dropout of layer k uses stream DROPOUT_STREAM + k.
DROPOUT_STREAM = 16


@jit
def _mix(x):
    x = (x ^ (x >> _SHIFT_30)) * _MIX_1
    x = (x ^ (x >> _SHIFT_27)) * _MIX_2
    return x ^ (x >> _SHIFT_31)


@jit
def random_bits(seed, stream, row, column):
    """Return 64 random bits for ``(seed, stream, row, column)``, all non-negative ints."""
    key = np.uint64(seed) + np.uint64(stream) * _STREAM_KEY
    key = _mix(key + np.uint64(row) * _ROW_KEY)
    return _mix(key + np.uint64(column) * _GOLDEN + _GOLDEN)


@jit
def uniform(seed, stream, row, column):
    """Return a float64 uniform in the open interval (0, 1)."""
    bits = random_bits(seed, stream, row, column) >> _SHIFT_11
    return (float(bits) + 0.5) * 2.0**-53


@jit
def normal(seed, stream, row, column):
    """Return a float64 standard normal value (Box-Muller on two uniforms)."""
    u = uniform(seed, stream, row, 2 * column)
    v = uniform(seed, stream, row, 2 * column + 1)
    return math.sqrt(-2.0 * math.log(u)) * math.cos(2.0 * math.pi * v)
