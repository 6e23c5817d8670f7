"""Command-line interface: ``fastae demo`` or ``python -m fastae demo``.

The demo trains an AutoencoderTransformer on scikit-learn's 8x8 digits or on
MNIST, compares it with PCA on held-out rows and plots reconstructions.
"""

import argparse
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import AutoencoderTransformer, TrainingDivergedError
from ._kernels.activations import ACTIVATION_CODES
from ._kernels.losses import LOSS_CODES
from .datasets import load_digits_data, load_mnist

# Settings that differ between the two data sets when not given on the command
# line. MNIST has 28x28 = 784 pixels and 60,000 training rows, so it gets a
# single hidden layer, fewer epochs and larger minibatches.
DEMO_DEFAULTS = {
    "digits": {"hidden": (128, 16), "epochs": 300, "batch_size": 64},
    "mnist": {"hidden": (128,), "epochs": 50, "batch_size": 256},
}

# Fraction of the digits held out for evaluation. MNIST has its own test set.
DIGITS_TEST_SIZE = 0.25

# The logistic regressions train on at most this many rows, a stratified
# sample, so that the raw MNIST pixels (60,000 x 784) take seconds, not
# minutes.
LOGISTIC_MAX_ROWS = 10_000
LOGISTIC_MAX_ITER = 300

N_PLOTTED_IMAGES = 10

# Exit status for invalid command-line input, as argparse uses.
EXIT_USAGE = 2
EXIT_TRAINING_FAILED = 1


@dataclass
class DemoData:
    """Training and held-out rows of one data set, with pixels in [0, 1]."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_train_available: int


@dataclass
class ResultRow:
    """Scores of one representation on the held-out rows."""

    name: str
    n_features: int
    mse: float | None
    accuracy: float
    converged: bool


def main(argv=None):
    """Run the ``fastae`` command line.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments without the program name. ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success.

    Raises
    ------
    SystemExit
        With status 2 for invalid arguments, a missing subcommand or a missing
        or invalid data directory, and with status 1 when training diverges.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        raise SystemExit(EXIT_USAGE)
    return args.run(args)


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="fastae",
        description="Fast autoencoders for scikit-learn, with Numba kernels.",
    )
    subparsers = parser.add_subparsers(dest="command", title="commands")
    demo = subparsers.add_parser(
        "demo",
        help="train an autoencoder on digits or MNIST and compare it with PCA",
        description=(
            "Train an AutoencoderTransformer on scikit-learn's 8x8 digits (or "
            "on MNIST with --data), then print the reconstruction MSE and the "
            "accuracy of a logistic regression on held-out rows, next to PCA "
            "and the raw pixels, and plot reconstructions."
        ),
    )
    _add_data_arguments(demo)
    _add_model_arguments(demo)
    _add_output_arguments(demo)
    demo.set_defaults(run=_run_demo)
    return parser


def _add_data_arguments(demo):
    demo.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help=(
            "directory with the MNIST files train-images-idx3-ubyte, "
            "t10k-images-idx3-ubyte and their label files, each optionally .gz "
            "(default: scikit-learn's digits, with 25%% of them held out)"
        ),
    )
    demo.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        help=(
            "train on a stratified sample of N training rows instead of all of "
            "them (the held-out rows stay complete)"
        ),
    )
    demo.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        help="seed for the split, the sampling and the weights (default: 0)",
    )


def _add_model_arguments(demo):
    demo.add_argument(
        "--hidden",
        type=_layer_sizes,
        metavar="WIDTHS",
        help=(
            "comma-separated widths of the encoder layers, the last one being "
            "the code size (default: 128,16 for digits, 128 for MNIST)"
        ),
    )
    demo.add_argument(
        "--loss",
        choices=sorted(LOSS_CODES),
        default="binary_crossentropy",
        help="reconstruction loss (default: %(default)s)",
    )
    demo.add_argument(
        "--activation",
        choices=sorted(ACTIVATION_CODES),
        default="relu",
        help="activation of the hidden layers (default: %(default)s)",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        help="number of training epochs (default: 300 for digits, 50 for MNIST)",
    )
    demo.add_argument(
        "--batch-size",
        type=_positive_int,
        help="rows per minibatch (default: 64 for digits, 256 for MNIST)",
    )
    demo.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=1e-3,
        help="Adam step size (default: %(default)g)",
    )
    demo.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="floating-point type for training (default: %(default)s)",
    )


def _add_output_arguments(demo):
    plot = demo.add_mutually_exclusive_group()
    plot.add_argument(
        "--output",
        type=Path,
        default=Path("fastae-demo.png"),
        metavar="PNG",
        help=(
            "path of the PNG with original and reconstructed held-out images "
            "(default: %(default)s)"
        ),
    )
    plot.add_argument(
        "--no-plot",
        action="store_true",
        help="do not write the PNG",
    )


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to 4294967295, got {value}"
        )
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(
            f"expected a positive finite number, got {text!r}"
        )
    return value


def _layer_sizes(text):
    try:
        return tuple(_positive_int(part.strip()) for part in text.split(","))
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(
            f"invalid layer widths {text!r} ({error}). Expected positive "
            "integers separated by commas, such as 128,16."
        ) from None


def _exit_with_error(message, status=EXIT_USAGE):
    print(f"fastae demo: error: {message}", file=sys.stderr)
    raise SystemExit(status)


def _run_demo(args):
    dataset = "mnist" if args.data is not None else "digits"
    defaults = DEMO_DEFAULTS[dataset]
    hidden = args.hidden or defaults["hidden"]
    epochs = args.epochs or defaults["epochs"]
    batch_size = args.batch_size or defaults["batch_size"]
    dtype = np.dtype(args.dtype)

    # Check the output folder before training, so that a typo does not cost
    # the whole run.
    if not args.no_plot and not args.output.parent.is_dir():
        _exit_with_error(
            f"output directory not found: {str(args.output.parent)!r}. Create "
            "it or choose another --output path."
        )
    if not args.no_plot and args.output.is_dir():
        _exit_with_error(
            f"--output {str(args.output)!r} is a directory; give a file name "
            "such as fastae-demo.png."
        )

    data = _load_data(args.data, dtype, args.random_state)
    if args.limit is not None and args.limit < data.X_train.shape[0]:
        try:
            data.X_train, data.y_train = _stratified_sample(
                data.X_train, data.y_train, args.limit, args.random_state
            )
        except ValueError as error:
            _exit_with_error(f"--limit {args.limit} is too small. {error}")

    autoencoder = AutoencoderTransformer(
        hidden_layer_sizes=hidden,
        activation=args.activation,
        loss=args.loss,
        batch_size=batch_size,
        learning_rate_init=args.learning_rate,
        max_iter=epochs,
        # tol=0 with n_iter_no_change=epochs disables early stopping, so that
        # every run trains for exactly --epochs epochs.
        tol=0.0,
        n_iter_no_change=epochs,
        verbose=2,  # one line per epoch, also when tqdm is installed
        random_state=args.random_state,
    )
    layers = "-".join(str(width) for width in (data.X_train.shape[1], *hidden))
    print(
        f"Training a {layers} autoencoder on {_count_rows(data)} of {data.name} "
        f"({args.loss}, {epochs} epoch{'' if epochs == 1 else 's'}, batch size {batch_size}, learning rate "
        f"{args.learning_rate:g}, {dtype.name})",
        flush=True,
    )
    seconds = _fit_autoencoder(autoencoder, data.X_train)

    rows, logistic_rows = _evaluate(autoencoder, data, args.random_state)
    _print_results(rows, data, logistic_rows, seconds, autoencoder.n_iter_)
    if not args.no_plot:
        _plot_reconstructions(autoencoder, data, args.output)
    return 0


def _load_data(directory, dtype, random_state):
    if directory is None:
        X, y = load_digits_data(dtype)
        X_train, X_test, y_train, y_test = train_test_split(
            X,
            y,
            test_size=DIGITS_TEST_SIZE,
            stratify=y,
            random_state=random_state,
        )
        return DemoData("digits", X_train, y_train, X_test, y_test, len(X_train))

    try:
        train_images, y_train = load_mnist(directory, "train")
        test_images, y_test = load_mnist(directory, "test")
    except (OSError, ValueError) as error:
        reason = str(error).rstrip(".")
        _exit_with_error(
            f"cannot read MNIST from --data {str(directory)!r}: {reason}. --data "
            "must name a directory with the MNIST training and test files."
        )
    X_train = _scale_pixels(train_images, dtype)
    X_test = _scale_pixels(test_images, dtype)
    return DemoData("MNIST", X_train, y_train, X_test, y_test, len(X_train))


def _scale_pixels(images, dtype):
    """Map uint8 pixels 0..255 to [0, 1]."""
    X = images.astype(dtype)
    X /= 255
    return X


def _stratified_sample(X, y, n_rows, random_state):
    """Return ``n_rows`` rows of ``(X, y)`` with the class proportions of ``y``."""
    X_sample, _, y_sample, _ = train_test_split(
        X, y, train_size=n_rows, stratify=y, random_state=random_state
    )
    return X_sample, y_sample


def _count_rows(data):
    n_train = data.X_train.shape[0]
    if n_train < data.n_train_available:
        return f"{n_train} (--limit) of {data.n_train_available} training rows"
    return f"{n_train} training rows"


def _fit_autoencoder(autoencoder, X_train):
    """Fit ``autoencoder`` and return the training time in seconds."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # Early stopping is off, so every run reaches max_iter and the
            # estimator's ConvergenceWarning would only be noise.
            warnings.simplefilter("ignore", ConvergenceWarning)
            autoencoder.fit(X_train)
    except TrainingDivergedError as error:
        _exit_with_error(str(error), EXIT_TRAINING_FAILED)
    return time.perf_counter() - start


def _evaluate(autoencoder, data, random_state):
    """Score the codes, PCA and the raw pixels on the held-out rows.

    Returns the result rows and the number of training rows that the logistic
    regressions used.
    """
    X_train, X_test = data.X_train, data.X_test
    code_size = autoencoder.hidden_layer_sizes[-1]
    # PCA cannot have more components than training rows or pixels, which
    # only matters for a tiny --limit.
    pca = PCA(
        n_components=min(code_size, *X_train.shape), random_state=random_state
    ).fit(X_train)

    X_logistic, y_logistic = X_train, data.y_train
    if X_train.shape[0] > LOGISTIC_MAX_ROWS:
        X_logistic, y_logistic = _stratified_sample(
            X_train, data.y_train, LOGISTIC_MAX_ROWS, random_state
        )

    representations = [
        ("autoencoder", autoencoder),
        ("PCA", pca),
        ("raw pixels", None),
    ]
    rows = []
    for name, model in representations:
        if model is None:
            train_features, test_features, mse = X_logistic, X_test, None
        else:
            train_features = model.transform(X_logistic)
            test_features = model.transform(X_test)
            reconstruction = model.inverse_transform(test_features)
            mse = _mean_squared_error(X_test, reconstruction)
        accuracy, converged = _logistic_accuracy(
            train_features, y_logistic, test_features, data.y_test
        )
        rows.append(ResultRow(name, test_features.shape[1], mse, accuracy, converged))
    return rows, X_logistic.shape[0]


def _mean_squared_error(X, reconstruction):
    """Return the mean over rows and pixels of the squared error, in float64."""
    difference = np.asarray(reconstruction, dtype=np.float64) - X
    return float(np.mean(difference**2))


def _logistic_accuracy(X_train, y_train, X_test, y_test):
    """Return the held-out accuracy and whether lbfgs converged."""
    classifier = LogisticRegression(max_iter=LOGISTIC_MAX_ITER)
    model = make_pipeline(StandardScaler(), classifier)
    with warnings.catch_warnings():
        # The table marks an unconverged fit instead.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    converged = int(np.max(classifier.n_iter_)) < LOGISTIC_MAX_ITER
    return float(model.score(X_test, y_test)), converged


def _print_results(rows, data, logistic_rows, seconds, n_epochs):
    n_test = data.X_test.shape[0]
    n_train = data.X_train.shape[0]
    print()
    print(f"Results on {n_test} held-out {data.name} rows:")
    if logistic_rows < n_train:
        print(
            f"(accuracy: logistic regression trained on a stratified sample of "
            f"{logistic_rows} of the {n_train} training rows)"
        )
    else:
        print(f"(accuracy: logistic regression trained on all {n_train} training rows)")

    header = ("representation", "features", "test MSE", "accuracy")
    table = [header]
    for row in rows:
        mse = "-" if row.mse is None else f"{row.mse:.4f}"
        accuracy = f"{row.accuracy:.4f}" + ("" if row.converged else "*")
        table.append((row.name, str(row.n_features), mse, accuracy))
    widths = [max(len(line[column]) for line in table) for column in range(4)]
    for line in table:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])]
        print("  ".join(cells).rstrip())
    if not all(row.converged for row in rows):
        print(f"* lbfgs stopped at max_iter={LOGISTIC_MAX_ITER} before converging.")

    per_epoch = seconds / n_epochs
    if per_epoch < 1:
        per_epoch_text = f"{1000 * per_epoch:.1f} ms"
    else:
        per_epoch_text = f"{per_epoch:.2f} s"
    print(
        f"Training time: {seconds:.2f} s for {n_epochs} "
        f"epoch{'' if n_epochs == 1 else 's'}, {per_epoch_text} per epoch"
    )
    print("(the first epoch includes compiling or loading the Numba kernels)")


def _plot_reconstructions(autoencoder, data, path):
    """Write originals above reconstructions of held-out images as a PNG."""
    try:
        # Figure without pyplot renders with Agg and leaves the global
        # matplotlib backend alone, which matters when main() runs in-process.
        from matplotlib.figure import Figure
    except ImportError:
        print(
            "Plot skipped: matplotlib is not installed. Install it with "
            'pip install "fastae[plot]".'
        )
        return

    n_pixels = data.X_test.shape[1]
    side = math.isqrt(n_pixels)
    if side * side != n_pixels:
        print(f"Plot skipped: {n_pixels} pixels per row is not a square image.")
        return

    indices = _plotted_indices(data.y_test)
    originals = data.X_test[indices]
    reconstructions = autoencoder.inverse_transform(autoencoder.transform(originals))

    figure = Figure(figsize=(1.2 * len(indices), 2.8), layout="constrained")
    axes = figure.subplots(2, len(indices), squeeze=False)
    for column, index in enumerate(indices):
        for row, images in enumerate((originals, reconstructions)):
            axis = axes[row, column]
            axis.imshow(
                images[column].reshape(side, side), cmap="gray", vmin=0.0, vmax=1.0
            )
            axis.set_xticks([])
            axis.set_yticks([])
        axes[0, column].set_title(str(data.y_test[index]))
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("reconstruction")
    figure.suptitle(f"{data.name}: held-out images and their reconstructions")
    try:
        figure.savefig(path, format="png", dpi=100)
    except OSError as error:
        _exit_with_error(f"cannot write the plot to {str(path)!r}: {error}")
    print(f"Wrote the reconstruction plot to {path}")


def _plotted_indices(labels):
    """Pick the first held-out row of each class, then fill up in row order."""
    # np.unique sorts the classes, so the plot shows them in label order.
    _, first_rows = np.unique(labels, return_index=True)
    indices = [int(index) for index in first_rows[:N_PLOTTED_IMAGES]]
    for index in range(len(labels)):
        if len(indices) >= N_PLOTTED_IMAGES:
            break
        if index not in indices:
            indices.append(index)
    return indices


if __name__ == "__main__":
    sys.exit(main())
