"""Progress output of training under ``verbose``: a tqdm bar or one line per epoch.

``verbose=1`` (or True) shows a tqdm progress bar over the epochs when tqdm is
installed, with the loss, the validation loss and the rows trained per second.
Without tqdm, and with ``verbose=2`` or more, each epoch prints one line. Other
messages of the training loop go through :meth:`EpochReport.message`, which
keeps the bar intact.
"""

import sys


def _tqdm_class():
    """Return ``tqdm.tqdm``, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class EpochReport:
    """Report the epochs of one call to ``fit`` or ``partial_fit``."""

    def __init__(self, verbose, n_epochs):
        self.verbose = int(verbose)
        self.bar = None
        tqdm = _tqdm_class() if self.verbose == 1 else None
        if tqdm is not None:
            self.bar = tqdm(total=n_epochs, unit="epoch", file=sys.stderr)

    def epoch(self, epoch, loss, validation_loss, seconds, n_rows):
        """Report one finished epoch that trained ``n_rows`` rows in ``seconds``."""
        if not self.verbose:
            return
        rate = n_rows / seconds if seconds > 0 else float("inf")
        if self.bar is not None:
            values = {"loss": f"{loss:.6f}"}
            if validation_loss is not None:
                values["val_loss"] = f"{validation_loss:.6f}"
            values["rows/s"] = f"{rate:.0f}"
            self.bar.set_postfix(values, refresh=False)
            self.bar.update(1)
            return
        line = f"Epoch {epoch}: loss {loss:.6f}"
        if validation_loss is not None:
            line += f", validation loss {validation_loss:.6f}"
        print(f"{line}, {seconds:.2f} s, {rate:.0f} rows/s", flush=True)

    def message(self, text):
        """Print a message of the training loop, below the bar if there is one."""
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
