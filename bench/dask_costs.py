"""Time streamed training from a local Dask cluster, and a parameter round trip.

Run it with ``python -m bench.dask_costs`` after ``pip install '.[dask]'``. It
starts a ``distributed`` cluster of two worker processes on the loopback
interface and prints, for a 784-128-784 network in float32 with batch 256:

- the time to pull one chunk of 784 columns from the workers into this
  process, with the chunks held in the workers' memory (``persist``) and
  with each chunk generated again on request;
- the time to train one epoch on that chunk once it is in memory;
- one epoch of ``fit`` streamed from the cluster against one epoch of ``fit``
  on the same rows in memory;
- the time to send the parameter vector to both workers and receive a
  vector of the same size back from each, which is the least that one step of
  synchronous data-parallel training costs.

The workers and this process share the machine's cores, and the transfers
go over loopback TCP, so a network between machines only adds to these
times.
"""

import argparse
import statistics
import time
import warnings

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, wait
from sklearn.exceptions import ConvergenceWarning

from fastae import AutoencoderTransformer
from fastae._network import build_layout, layer_sizes, n_parameters

N_FEATURES = 784
HIDDEN = (128,)


def median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def echo(vector):
    """Return a new vector of the same size, as a worker's gradient would be."""
    return vector * 0.5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    rows = arguments.chunk_rows * arguments.chunks

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = Client(cluster)
    try:
        generated = da.random.default_rng(0).random(
            (rows, N_FEATURES), chunks=(arguments.chunk_rows, N_FEATURES)
        )
        generated = generated.astype(np.float32)
        persisted = generated.persist()
        wait(persisted)
        chunk_mb = arguments.chunk_rows * N_FEATURES * 4 / 1e6
        print(f"chunk: {arguments.chunk_rows} rows x {N_FEATURES}, {chunk_mb:.1f} MB")

        pull_persisted = median_seconds(
            lambda: dask.compute(persisted.blocks[1]), arguments.repeats
        )
        pull_generated = median_seconds(
            lambda: dask.compute(generated.blocks[1]), arguments.repeats
        )
        print(f"pull one chunk, persisted on a worker: {pull_persisted * 1e3:.1f} ms")
        print(f"pull one chunk, generated on request: {pull_generated * 1e3:.1f} ms")

        (chunk,) = dask.compute(persisted.blocks[1])
        model = AutoencoderTransformer(HIDDEN, batch_size=256, random_state=0)
        model.partial_fit(chunk)
        train = median_seconds(lambda: model.partial_fit(chunk), arguments.repeats)
        steps = -(-arguments.chunk_rows // 256)
        print(
            f"train one epoch on the chunk: {train * 1e3:.1f} ms "
            f"({train / steps * 1e3:.2f} ms per minibatch of 256)"
        )

        in_memory = persisted.compute()
        settings = {"hidden_layer_sizes": HIDDEN, "max_iter": 1, "random_state": 0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            AutoencoderTransformer(**settings).fit(in_memory[:512])
            fit_memory = median_seconds(
                lambda: AutoencoderTransformer(**settings).fit(in_memory), 3
            )
            fit_streamed = median_seconds(
                lambda: AutoencoderTransformer(**settings).fit(persisted), 3
            )
        print(
            f"one epoch of fit on {rows} rows: {fit_memory:.2f} s in memory, "
            f"{fit_streamed:.2f} s streamed from persisted chunks"
        )

        layout = build_layout(
            layer_sizes(N_FEATURES, list(HIDDEN)), "relu", "identity", None, False
        )
        size = n_parameters(layout)
        workers = list(client.scheduler_info()["workers"])
        for dtype in (np.float32, np.float64):
            params = np.ones(size, dtype=dtype)

            def round_trip(params=params):
                futures = [
                    client.submit(echo, params, workers=[worker], pure=False)
                    for worker in workers
                ]
                client.gather(futures)

            round_trip()
            seconds = median_seconds(round_trip, 4 * arguments.repeats)
            print(
                f"parameter round trip to {len(workers)} workers, {size} "
                f"{np.dtype(dtype).name} ({params.nbytes / 1e6:.1f} MB each way "
                f"per worker): {seconds * 1e3:.1f} ms"
            )
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
