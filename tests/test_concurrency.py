"""Tests of AutoencoderTransformer under threads and processes, and IDX fuzzing."""

import gzip
import math
import struct
import threading
import tracemalloc
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from fastae import AutoencoderTransformer
from fastae.datasets import load_idx

N_THREADS = 4

# Calls of each method per thread in the threaded inference tests.
CALLS_PER_THREAD = 25

# Big-endian dtype of each IDX type code, independent of fastae.datasets.
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:300] / 16.0


def fit_quietly(model, X):
    """Fit ``model`` on ``X``, ignoring the ConvergenceWarning of a short run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


# ------------------------------------------------------------ threaded inference


def run_in_threads(function, inputs, n_threads=N_THREADS):
    """Call ``function`` on every input from ``n_threads`` threads started together.

    Return the results in the order of ``inputs``.
    """
    barrier = threading.Barrier(n_threads)

    def worker(chunk):
        barrier.wait()
        return [function(X) for X in chunk]

    chunks = [inputs[i::n_threads] for i in range(n_threads)]
    with ThreadPoolExecutor(max_workers=n_threads) as executor:
        results = list(executor.map(worker, chunks))

    # Undo the round-robin split so results line up with inputs.
    ordered = [None] * len(inputs)
    for i, chunk_results in enumerate(results):
        ordered[i::n_threads] = chunk_results
    return ordered


@pytest.fixture(scope="module", params=[np.float32, np.float64])
def fitted_model(request, digits):
    X = digits.astype(request.param)
    model = AutoencoderTransformer((32, 8), max_iter=3, random_state=0)
    return fit_quietly(model, X), X


def row_blocks(X, n_blocks):
    """Return ``n_blocks`` different row blocks of ``X``, of varying sizes."""
    rng = np.random.default_rng(0)
    blocks = []
    for _ in range(n_blocks):
        start = int(rng.integers(0, X.shape[0] - 1))
        stop = int(rng.integers(start + 1, X.shape[0] + 1))
        blocks.append(X[start:stop])
    return blocks


@pytest.mark.parametrize("method", ["transform", "score_samples"])
def test_threaded_inference_matches_serial(fitted_model, method):
    model, X = fitted_model
    inputs = row_blocks(X, N_THREADS * CALLS_PER_THREAD)
    function = getattr(model, method)

    expected = [function(block) for block in inputs]
    actual = run_in_threads(function, inputs)

    for block_expected, block_actual in zip(expected, actual):
        assert block_actual.dtype == block_expected.dtype
        np.testing.assert_array_equal(block_actual, block_expected)


def test_threaded_inverse_transform_matches_serial(fitted_model):
    model, X = fitted_model
    inputs = [model.transform(block) for block in row_blocks(X, 100)]

    expected = [model.inverse_transform(codes) for codes in inputs]
    actual = run_in_threads(model.inverse_transform, inputs)

    for block_expected, block_actual in zip(expected, actual):
        assert block_actual.dtype == block_expected.dtype
        np.testing.assert_array_equal(block_actual, block_expected)


def test_threaded_transform_wide_network():
    # Products this large are likely to run on several OpenBLAS threads, so the
    # Python threads may also share BLAS's own worker threads.
    rng = np.random.default_rng(0)
    X = rng.random((2000, 200))
    model = fit_quietly(
        AutoencoderTransformer((256, 64), max_iter=1, random_state=0), X[:300]
    )
    inputs = row_blocks(X, 40)

    expected = [model.transform(block) for block in inputs]
    actual = run_in_threads(model.transform, inputs)

    for block_expected, block_actual in zip(expected, actual):
        np.testing.assert_array_equal(block_actual, block_expected)


# ---------------------------------------------------------------- grid search


def grid_search_scores(X, n_jobs):
    search = GridSearchCV(
        AutoencoderTransformer(max_iter=3, random_state=0),
        {"hidden_layer_sizes": [(4,), (8,)]},
        cv=3,
        n_jobs=n_jobs,
    )
    fit_quietly(search, X)
    return search.cv_results_["mean_test_score"]


@pytest.fixture(scope="module")
def serial_grid_scores(digits):
    return grid_search_scores(digits, n_jobs=1)


def test_grid_search_process_backend(digits, serial_grid_scores):
    scores = grid_search_scores(digits, n_jobs=2)

    assert scores.shape == (2,)
    assert np.all(scores < 0)
    np.testing.assert_array_equal(scores, serial_grid_scores)


def test_grid_search_threading_backend(digits, serial_grid_scores):
    with joblib.parallel_backend("threading"):
        scores = grid_search_scores(digits, n_jobs=2)

    np.testing.assert_array_equal(scores, serial_grid_scores)


# ---------------------------------------------------------------- threaded fit

FIT_PARAMS = [
    {"hidden_layer_sizes": (32, 8), "solver": "adam", "activation": "relu"},
    {"hidden_layer_sizes": (16,), "solver": "sgd", "activation": "tanh"},
]


# warnings.catch_warnings changes the process-wide filters, so it is not
# thread-safe, and this test sets its filter once, outside the threads.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_concurrent_fits_match_serial(digits):
    inputs = [digits, digits.astype(np.float32)]

    def fit(index):
        model = AutoencoderTransformer(**FIT_PARAMS[index], max_iter=20, random_state=1)
        return model.fit(inputs[index])

    serial = [fit(index) for index in range(2)]

    for _ in range(3):
        concurrent = run_in_threads(fit, [0, 1], n_threads=2)

        for expected, actual in zip(serial, concurrent):
            assert actual.loss_curve_ == expected.loss_curve_
            for W_expected, W_actual in zip(expected.coefs_, actual.coefs_):
                np.testing.assert_array_equal(W_actual, W_expected)
            for b_expected, b_actual in zip(expected.intercepts_, actual.intercepts_):
                np.testing.assert_array_equal(b_actual, b_expected)


# ---------------------------------------------------------------- IDX fuzzing


def idx_header(type_code, shape):
    header = struct.pack(">HBB", 0, type_code, len(shape))
    return header + struct.pack(f">{len(shape)}I", *shape)


def valid_idx_file():
    """Return the bytes of a valid 2 x 3 x 4 uint8 IDX file."""
    payload = np.arange(24, dtype=np.uint8).tobytes()
    return idx_header(0x08, (2, 3, 4)) + payload


def expected_array(content):
    """Decode ``content`` by the IDX format's rules, or return None when invalid."""
    if len(content) < 4:
        return None
    zero_bytes, type_code, n_dims = struct.unpack(">HBB", content[:4])
    if zero_bytes != 0 or type_code not in IDX_TYPES or n_dims == 0:
        return None
    header_size = 4 + 4 * n_dims
    if len(content) < header_size:
        return None
    shape = struct.unpack(f">{n_dims}I", content[4:header_size])
    dtype = IDX_TYPES[type_code]
    if len(content) - header_size != math.prod(shape) * dtype.itemsize:
        return None
    return np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)


def check_load_idx(path, content):
    """Assert that load_idx returns the decoded array or raises ValueError."""
    decoded = expected_array(content)
    if decoded is None:
        with pytest.raises(ValueError):
            load_idx(path)
        return

    loaded = load_idx(path)

    assert loaded.shape == decoded.shape
    assert loaded.size == math.prod(decoded.shape)
    assert loaded.nbytes == decoded.nbytes
    assert loaded.dtype == decoded.dtype.newbyteorder("=")
    np.testing.assert_array_equal(loaded, decoded)


@st.composite
def idx_like_bytes(draw):
    """Draw bytes with a plausible IDX header and a payload of any length."""
    type_code = draw(st.sampled_from([*IDX_TYPES, 0x00, 0x0A, 0xFF]))
    shape = draw(st.lists(st.integers(0, 6), min_size=0, max_size=4))
    payload = draw(st.binary(max_size=64))
    return idx_header(type_code, shape) + payload


@FUZZ_SETTINGS
@given(content=st.binary(max_size=64))
def test_load_idx_random_bytes(tmp_path, content):
    path = tmp_path / "random.idx"
    path.write_bytes(content)
    check_load_idx(path, content)


@FUZZ_SETTINGS
@given(content=idx_like_bytes())
def test_load_idx_random_payloads(tmp_path, content):
    path = tmp_path / "payload.idx"
    path.write_bytes(content)
    check_load_idx(path, content)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_load_idx_truncations(tmp_path, compress):
    content = valid_idx_file()
    stored = gzip.compress(content) if compress else content
    path = tmp_path / "truncated.idx"

    for length in range(len(stored) + 1):
        path.write_bytes(stored[:length])
        if compress and length < len(stored):
            # A gzip stream cut short anywhere fails to decompress.
            with pytest.raises(ValueError):
                load_idx(path)
        else:
            check_load_idx(path, content[:length])


@FUZZ_SETTINGS
@given(content=st.one_of(st.binary(max_size=64), idx_like_bytes()))
def test_load_idx_gzip_random_bytes(tmp_path, content):
    path = tmp_path / "random.idx.gz"
    path.write_bytes(gzip.compress(content))
    check_load_idx(path, content)


@FUZZ_SETTINGS
@given(tail=st.binary(max_size=64))
def test_load_idx_corrupt_gzip_stream(tmp_path, tail):
    # Bytes that start with the gzip magic number but are not a valid stream.
    content = b"\x1f\x8b" + tail
    path = tmp_path / "corrupt.idx.gz"
    path.write_bytes(content)

    with pytest.raises(ValueError):
        load_idx(path)


@pytest.mark.parametrize(
    "shape",
    [(2**31,), (2**31, 2**31), (2**32 - 1,) * 4],
    ids=["2^31", "2^31x2^31", "4x(2^32-1)"],
)
@pytest.mark.parametrize("type_code", [0x08, 0x0E])
def test_load_idx_huge_declared_size(tmp_path, shape, type_code):
    path = tmp_path / "huge.idx"
    path.write_bytes(idx_header(type_code, shape) + bytes(16))

    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="truncated"):
            load_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 1_000_000


@FUZZ_SETTINGS
@given(tail=st.binary(max_size=64))
def test_load_idx_gzip_trailing_bytes(tmp_path, tail):
    content = valid_idx_file()
    stored = gzip.compress(content) + tail
    path = tmp_path / "trailing.idx.gz"
    path.write_bytes(stored)

    # Python's gzip module skips zero padding and reads a concatenated member,
    # so its own result, or its error, is the expected outcome.
    try:
        decompressed = gzip.decompress(stored)
    except (gzip.BadGzipFile, EOFError, zlib.error):
        with pytest.raises(ValueError):
            load_idx(path)
        return
    check_load_idx(path, decompressed)
