"""Tests for the IDX and MNIST loaders in fastae.datasets."""

import gzip
import struct

import numpy as np
import pytest

from fastae.datasets import load_digits_data, load_idx, load_mnist

from .conftest import DEFAULT_MNIST_DIR, mnist_directory

# Type code of each dtype in the IDX format, with the big-endian dtype the
# file stores.
TYPE_CODES = {
    "uint8": (0x08, ">u1"),
    "int8": (0x09, ">i1"),
    "int16": (0x0B, ">i2"),
    "int32": (0x0C, ">i4"),
    "float32": (0x0D, ">f4"),
    "float64": (0x0E, ">f8"),
}

MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array):
    """Encode ``array`` as an IDX file, independently of the loader."""
    type_code, stored_dtype = TYPE_CODES[array.dtype.name]
    header = struct.pack(">HBB", 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(stored_dtype).tobytes(order="C")


def write_file(path, content, compress=False):
    if compress:
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


def sample_array(dtype, shape):
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", list(TYPE_CODES))
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)], ids=["1d", "3d"])
def test_load_idx_round_trip(tmp_path, dtype, shape, compress):
    expected = sample_array(dtype, shape)
    suffix = ".gz" if compress else ""
    path = write_file(tmp_path / f"data.idx{suffix}", idx_bytes(expected), compress)

    loaded = load_idx(path)

    assert loaded.shape == shape
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.dtype.isnative
    assert loaded.flags.writeable
    np.testing.assert_array_equal(loaded, expected)


def test_load_idx_big_endian_values(tmp_path):
    # Big-endian 0x0102 is stored as the bytes 01 02, which a little-endian
    # read would turn into 0x0201.
    content = struct.pack(">HBBI", 0, 0x0B, 1, 2) + b"\x01\x02\xff\xfe"
    path = write_file(tmp_path / "int16.idx", content)

    loaded = load_idx(path)

    np.testing.assert_array_equal(loaded, np.array([0x0102, -2], dtype=np.int16))


def test_load_idx_detects_gzip_by_magic(tmp_path):
    expected = np.arange(12, dtype=np.uint8).reshape(3, 4)
    compressed = write_file(tmp_path / "no-suffix", idx_bytes(expected), True)
    raw_with_suffix = write_file(tmp_path / "raw.gz", idx_bytes(expected))

    np.testing.assert_array_equal(load_idx(compressed), expected)
    np.testing.assert_array_equal(load_idx(raw_with_suffix), expected)


def test_load_idx_accepts_str_path(tmp_path):
    expected = np.arange(5, dtype=np.uint8)
    path = write_file(tmp_path / "labels.idx", idx_bytes(expected))

    np.testing.assert_array_equal(load_idx(str(path)), expected)


def test_load_idx_zero_size_dimension(tmp_path):
    path = write_file(tmp_path / "empty.idx", idx_bytes(np.zeros((0, 28, 28), "u1")))

    loaded = load_idx(path)

    assert loaded.shape == (0, 28, 28)
    assert loaded.dtype == np.uint8


def test_load_idx_missing_file(tmp_path):
    path = tmp_path / "missing.idx"

    with pytest.raises(FileNotFoundError, match="missing.idx"):
        load_idx(path)


INVALID_FILES = {
    "empty": (b"", r"expected a header of at least 4 bytes, found 0 bytes"),
    "short magic": (b"\x00\x00\x08", r"at least 4 bytes, found 3 bytes"),
    "short sizes": (
        struct.pack(">HBBI", 0, 0x08, 3, 10),
        r"expected a header of 16 bytes for 3 dimensions, found 8 bytes",
    ),
    "nonzero first bytes": (
        b"\x89PNG\r\n\x1a\n",
        r"Not an IDX file.*Expected the first two bytes to be zero, found 0x8950",
    ),
    "unknown type code": (
        struct.pack(">HBBI", 0, 0x0A, 1, 1) + b"\x00",
        r"unknown type code 0x0a, expected one of 0x08, 0x09, 0x0b",
    ),
    "zero dimensions": (
        struct.pack(">HBB", 0, 0x08, 0),
        r"expected at least one dimension, found 0",
    ),
    "truncated payload": (
        struct.pack(">HBBII", 0, 0x08, 2, 3, 4) + bytes(11),
        (
            r"payload truncated: expected 12 bytes for shape \(3, 4\) of uint8, "
            r"found 11 bytes"
        ),
    ),
    "trailing bytes": (
        struct.pack(">HBBI", 0, 0x0C, 1, 2) + bytes(9),
        (
            r"payload has trailing bytes: expected 8 bytes for shape \(2,\) of "
            r"int32, found 9 bytes"
        ),
    ),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize(
    ("content", "message"), INVALID_FILES.values(), ids=list(INVALID_FILES)
)
def test_load_idx_invalid_file(tmp_path, content, message, compress):
    path = write_file(tmp_path / "bad.idx", content, compress)

    with pytest.raises(ValueError, match=message) as info:
        load_idx(path)

    assert str(path) in str(info.value)


def test_load_idx_truncated_gzip(tmp_path):
    compressed = gzip.compress(idx_bytes(sample_array("uint8", (20, 28, 28))))
    path = write_file(tmp_path / "cut.idx.gz", compressed[: len(compressed) // 2])

    with pytest.raises(ValueError, match="Invalid gzip file.*cut.idx.gz") as info:
        load_idx(path)

    assert isinstance(info.value.__cause__, EOFError)


def test_load_idx_corrupt_gzip_body(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(sample_array("uint8", (50,)))))
    # Keep the 10-byte gzip header and overwrite the deflate stream.
    compressed[10:-8] = b"\xff" * (len(compressed) - 18)
    path = write_file(tmp_path / "garbage.idx.gz", bytes(compressed))

    with pytest.raises(ValueError, match="Invalid gzip file.*decompression failed"):
        load_idx(path)


def test_load_idx_bad_gzip_crc(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(sample_array("uint8", (50,)))))
    # The CRC-32 of the uncompressed data sits in the 8-byte trailer.
    compressed[-8] ^= 0xFF
    path = write_file(tmp_path / "crc.idx.gz", bytes(compressed))

    with pytest.raises(ValueError, match="Invalid gzip file.*CRC"):
        load_idx(path)


def write_fake_mnist(directory, prefix, n_images, compress, n_labels=None):
    """Write random 28x28 images and labels under MNIST's file names."""
    n_labels = n_images if n_labels is None else n_labels
    images = sample_array("uint8", (n_images, 28, 28))
    labels = (np.arange(n_labels) % 10).astype(np.uint8)
    suffix = ".gz" if compress else ""
    write_file(
        directory / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), compress
    )
    write_file(
        directory / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), compress
    )
    return images, labels


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize(("subset", "prefix"), [("train", "train"), ("test", "t10k")])
def test_load_mnist_fake_files(tmp_path, subset, prefix, compress):
    images, labels = write_fake_mnist(tmp_path, prefix, 6, compress)

    loaded_images, loaded_labels = load_mnist(tmp_path, subset)

    assert loaded_images.shape == (6, 784)
    assert loaded_images.dtype == np.uint8
    assert loaded_labels.dtype == np.uint8
    np.testing.assert_array_equal(loaded_images, images.reshape(6, 784))
    np.testing.assert_array_equal(loaded_labels, labels)


def test_load_mnist_prefers_uncompressed(tmp_path):
    raw_images, _ = write_fake_mnist(tmp_path, "train", 3, compress=False)
    write_fake_mnist(tmp_path, "train", 4, compress=True)

    images, labels = load_mnist(tmp_path)

    assert images.shape == (3, 784)
    assert labels.shape == (3,)
    np.testing.assert_array_equal(images, raw_images.reshape(3, 784))


def test_load_mnist_mixed_compression(tmp_path):
    write_fake_mnist(tmp_path, "t10k", 5, compress=True)
    labels_path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels_path.rename(tmp_path / "t10k-labels-idx1-ubyte.tmp")
    content = gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.tmp").read_bytes())
    write_file(tmp_path / "t10k-labels-idx1-ubyte", content)

    images, labels = load_mnist(tmp_path, "test")

    assert images.shape == (5, 784)
    assert labels.shape == (5,)


def test_load_mnist_missing_file(tmp_path):
    write_fake_mnist(tmp_path, "train", 3, compress=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, "train")

    message = str(info.value)
    assert "'train-labels-idx1-ubyte' or 'train-labels-idx1-ubyte.gz'" in message
    assert str(tmp_path) in message


def test_load_mnist_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST directory not found"):
        load_mnist(tmp_path / "absent")


def test_load_mnist_invalid_subset(tmp_path):
    with pytest.raises(ValueError, match="Invalid MNIST subset 'validation'"):
        load_mnist(tmp_path, "validation")


def test_load_mnist_count_mismatch(tmp_path):
    write_fake_mnist(tmp_path, "train", 4, compress=False, n_labels=5)

    with pytest.raises(ValueError, match="contains 4 images but .* contains 5 labels"):
        load_mnist(tmp_path)


def test_load_mnist_images_not_3d(tmp_path):
    write_fake_mnist(tmp_path, "train", 4, compress=False)
    write_file(
        tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((4, 784), "u1"))
    )

    with pytest.raises(ValueError, match=r"expected a 3-D uint8 array.*found 2-D"):
        load_mnist(tmp_path)


def test_load_mnist_labels_wrong_dtype(tmp_path):
    write_fake_mnist(tmp_path, "train", 4, compress=False)
    write_file(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.int32)))

    with pytest.raises(ValueError, match=r"expected a 1-D uint8 array.*int32"):
        load_mnist(tmp_path)


def test_load_digits_data_scaled():
    X, y = load_digits_data(np.float32)

    assert X.shape == (1797, 64)
    assert X.dtype == np.float32
    assert X.min() == 0.0
    assert X.max() == 1.0
    assert y.shape == (1797,)
    assert set(np.unique(y)) == set(range(10))


def test_load_mnist_real_files():
    directory = mnist_directory()
    if directory is None:
        pytest.skip(
            "no MNIST directory: set FASTAE_MNIST_DIR or put the files in "
            f"{DEFAULT_MNIST_DIR}"
        )

    train_images, train_labels = load_mnist(directory, "train")
    test_images, test_labels = load_mnist(directory, "test")

    assert train_images.shape == (60000, 784)
    assert train_labels.shape == (60000,)
    assert test_images.shape == (10000, 784)
    assert test_labels.shape == (10000,)
    for array in (train_images, train_labels, test_images, test_labels):
        assert array.dtype == np.uint8
    assert train_images.min() == 0
    assert train_images.max() == 255
    assert test_images.min() == 0
    assert test_images.max() == 255
    assert train_labels.max() == 9
    assert np.bincount(test_labels).tolist() == MNIST_TEST_LABEL_COUNTS
