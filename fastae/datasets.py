"""Loaders for IDX files (the MNIST format) and scikit-learn's digits.

An IDX file starts with two zero bytes, a type code byte, a byte with the
number of dimensions, then one big-endian uint32 size per dimension. The data
follows in C order, big-endian for multi-byte types. The MNIST distribution
stores each IDX file gzip-compressed.
"""

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

__all__ = ["load_digits_data", "load_idx", "load_mnist"]

# IDX type code -> dtype of the stored values (big-endian for multi-byte types).
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

# Two zero bytes, the type code and the number of dimensions.
_MAGIC_SIZE = 4

MNIST_SUBSETS = {"train": "train", "test": "t10k"}


def load_idx(path):
    """Read one IDX file, gzip-compressed or raw, into an array.

    A file that starts with the gzip magic bytes is decompressed, whatever its
    suffix.

    Parameters
    ----------
    path : str or os.PathLike
        Path of the IDX file.

    Returns
    -------
    data : ndarray
        Writable array with the shape stored in the header. Its dtype is the
        one of the type code, in native byte order: uint8 (0x08), int8 (0x09),
        int16 (0x0B), int32 (0x0C), float32 (0x0D) or float64 (0x0E).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a valid IDX file. The message names the file and
        the cause: a file shorter than its header, nonzero first two bytes,
        an unknown type code, zero dimensions, a payload longer or shorter
        than the shape and type require, or a corrupt gzip stream.
    """
    path = os.fspath(path)
    content = _read_decompressed(path)

    if len(content) < _MAGIC_SIZE:
        raise ValueError(
            f"Invalid IDX file {path!r}: expected a header of at least "
            f"{_MAGIC_SIZE} bytes, found {len(content)} bytes."
        )
    zero_bytes, type_code, n_dims = struct.unpack(">HBB", content[:_MAGIC_SIZE])
    if zero_bytes != 0:
        raise ValueError(
            f"Not an IDX file {path!r}. Expected the first two bytes to be "
            f"zero, found 0x{zero_bytes:04x}."
        )
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02x}" for code in IDX_DTYPES)
        raise ValueError(
            f"Invalid IDX file {path!r}: unknown type code 0x{type_code:02x}, "
            f"expected one of {known}."
        )
    if n_dims == 0:
        raise ValueError(
            f"Invalid IDX file {path!r}: expected at least one dimension, found 0."
        )

    header_size = _MAGIC_SIZE + 4 * n_dims
    if len(content) < header_size:
        raise ValueError(
            f"Invalid IDX file {path!r}: expected a header of {header_size} "
            f"bytes for {n_dims} dimensions, found {len(content)} bytes."
        )
    shape = struct.unpack(f">{n_dims}I", content[_MAGIC_SIZE:header_size])
    dtype = IDX_DTYPES[type_code]

    # math.prod on Python ints cannot overflow, so a corrupt header with huge
    # sizes fails this check instead of allocating.
    expected = math.prod(shape) * dtype.itemsize
    found = len(content) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"Invalid IDX file {path!r}: payload {problem}: expected "
            f"{expected} bytes for shape {shape} of {dtype.name}, found {found} "
            "bytes."
        )

    data = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    # frombuffer returns a read-only view of the bytes, so copy it, converting
    # big-endian values to native byte order on the way.
    return data.astype(dtype.newbyteorder("="), copy=True)


def _read_decompressed(path):
    """Return the bytes of ``path``, decompressed when it is gzip data."""
    with open(path, "rb") as file:
        if file.read(len(_GZIP_MAGIC)) != _GZIP_MAGIC:
            file.seek(0)
            return file.read()
        file.seek(0)
        try:
            with gzip.GzipFile(fileobj=file, mode="rb") as stream:
                return stream.read()
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise ValueError(
                f"Invalid gzip file {path!r}: expected a complete gzip stream, "
                f"decompression failed: {error}"
            ) from error


def load_mnist(directory, subset="train"):
    """Read the MNIST images and labels of one subset from a directory.

    The directory must contain the files of the MNIST distribution, each
    either gzip-compressed (``.gz``) or not. When both exist, the
    uncompressed file is read.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory with ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte``, each optionally with a ``.gz`` suffix.
        Only the two files of ``subset`` are needed.
    subset : {"train", "test"}, default="train"
        ``"train"`` reads the 60,000 training images, ``"test"`` the 10,000
        test images (the ``t10k`` files).

    Returns
    -------
    images : ndarray of shape (n_samples, 784), dtype uint8
        One flattened 28x28 image per row, 0 for background and 255 for full
        ink. Images of another size in the header give ``rows * columns``
        columns.
    labels : ndarray of shape (n_samples,), dtype uint8
        Digit of each image.

    Raises
    ------
    FileNotFoundError
        If ``directory`` or one of the two files is missing.
    ValueError
        If ``subset`` is invalid, a file is not a valid IDX file, the images
        are not a 3-D uint8 array, the labels are not a 1-D uint8 array, or
        the number of images and labels differ.
    """
    if subset not in MNIST_SUBSETS:
        raise ValueError(
            f"Invalid MNIST subset {subset!r}: expected 'train' or 'test'."
        )
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {str(directory)!r}.")

    prefix = MNIST_SUBSETS[subset]
    images_path = _find_file(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_file(directory, f"{prefix}-labels-idx1-ubyte")
    images = load_idx(images_path)
    labels = load_idx(labels_path)

    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"Invalid MNIST images file {str(images_path)!r}: expected a 3-D "
            f"uint8 array (images, rows, columns), found {images.ndim}-D "
            f"{images.dtype.name} with shape {images.shape}."
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(
            f"Invalid MNIST labels file {str(labels_path)!r}: expected a 1-D "
            f"uint8 array, found {labels.ndim}-D {labels.dtype.name} with "
            f"shape {labels.shape}."
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST {subset} files do not match: {str(images_path)!r} contains "
            f"{images.shape[0]} images but {str(labels_path)!r} contains "
            f"{labels.shape[0]} labels."
        )
    return images.reshape(images.shape[0], -1), labels


def _find_file(directory, name):
    """Return the path of ``name`` or ``name.gz`` in ``directory``."""
    candidates = [name, f"{name}.gz"]
    for candidate in candidates:
        path = directory / candidate
        if path.is_file():
            return path
    tried = " or ".join(repr(candidate) for candidate in candidates)
    raise FileNotFoundError(
        f"MNIST file not found: tried {tried} in {str(directory)!r}."
    )


def load_digits_data(dtype=np.float64):
    """Load scikit-learn's bundled 8x8 digits, scaled to [0, 1].

    Parameters
    ----------
    dtype : data-type, default=np.float64
        Data type of the returned images.

    Returns
    -------
    X : ndarray of shape (1797, 64)
        One flattened 8x8 image per row: the pixel counts 0..16 divided by 16.
    y : ndarray of shape (1797,)
        Digit of each image, 0 to 9.
    """
    digits = load_digits()
    X = (digits.data / 16.0).astype(dtype, copy=False)
    return X, digits.target
