"""W1 on Dask arrays: numbavmap's blockwise map against the Dask NumPy expression.

    python -m asv_benchmarks.compare --dask [--dask-rows 100_000_000]

Three measurements, each the median of a few runs (``persist`` and wait,
so that no result travels back to the client):

* ``cluster``: W1 (``np.sum(v**2)`` per row of 3) on ``rows`` rows in 100
  blocks, on a ``LocalCluster`` of 2 worker processes of 1 thread each, as
  ``vmap(sum_of_squares)(x)`` and as ``(x**2).sum(axis=1)``; the data are
  generated and persisted on the workers first (``rows * 24`` bytes);
* ``per task``: the same on small blocks (100 rows each), the time divided
  by the number of blocks: the overhead of one task;
* ``threads``: the threaded scheduler (2 threads, one process), the serial
  kernel that ``parallel="auto"`` runs in Dask tasks against
  ``parallel=True`` kernels launched from every task.
"""

from __future__ import annotations

import os
import time

import numpy as np

from asv_benchmarks import workloads as wl

BLOCKS = 100
SMALL_BLOCK_ROWS = 100
SMALL_BLOCKS = 400
REPEAT = 5


def _median_seconds(*runs, repeat=REPEAT) -> list[float]:
    """Median seconds of each of ``runs``, after a warm-up (compiling on every
    worker), its samples taken in turns so that other load hits them alike."""
    for run in runs:
        run()
    samples = [[] for _ in runs]
    for _ in range(repeat):
        for run, times in zip(runs, samples):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return [float(np.median(times)) for times in samples]


def _rows(rows: int, blocks: int):
    import dask.array as da

    rng = da.random.default_rng(wl.SEED)
    return rng.standard_normal((rows, 3), chunks=(max(1, rows // blocks), 3))


def _persisted(collection, scheduler):
    """Run ``persist`` and wait for it; nothing comes back to the client."""
    import distributed

    if isinstance(scheduler, distributed.Client):
        result = scheduler.persist(collection)
        distributed.wait(result)
    else:
        result = collection.persist(scheduler=scheduler)
    return result


def _pair(x, scheduler, vmapped):
    """Median seconds of numbavmap and of the NumPy expression on ``x``."""
    return _median_seconds(lambda: _persisted(vmapped(x), scheduler),
                           lambda: _persisted((x**2).sum(axis=1), scheduler))


def run(rows: int, progress=print) -> list[tuple[str, float, float]]:
    """``[(what, numbavmap seconds, Dask NumPy seconds), ...]`` (see the module docstring)."""
    import distributed

    vmap = wl._import_vmap()
    vmapped = vmap(wl.sum_of_squares)
    results = []
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, host="127.0.0.1") as cluster, \
            distributed.Client(cluster) as client:
        progress(f"  dask: {rows:_} rows in {BLOCKS} blocks on 2 worker processes")
        x = _persisted(_rows(rows, BLOCKS), client)
        check = client.compute(vmapped(x[:1000])).result()
        wl.WORKLOADS["W1"].check(check, client.compute(x[:1000]).result() ** 2 @ np.ones(3),
                                 "numbavmap on Dask")
        results.append((f"cluster, {rows:_} rows in {BLOCKS} blocks",
                        *_pair(x, client, vmapped)))
        del x
        small = SMALL_BLOCK_ROWS * SMALL_BLOCKS
        progress(f"  dask: {SMALL_BLOCKS} blocks of {SMALL_BLOCK_ROWS} rows (per task)")
        x = _persisted(_rows(small, SMALL_BLOCKS), client)
        seconds = _pair(x, client, vmapped)
        results.append((f"cluster, per task ({SMALL_BLOCK_ROWS} rows a block)",
                        *(s / SMALL_BLOCKS for s in seconds)))
    progress("  dask: threaded scheduler, serial kernels against parallel=True")
    x = _persisted(_rows(rows, BLOCKS), "threads")
    parallel = vmap(wl.sum_of_squares, parallel=True)
    results.append(("threads: parallel='auto' (serial in tasks) vs parallel=True",
                    *_median_seconds(lambda: _persisted(vmapped(x), "threads"),
                                     lambda: _persisted(parallel(x), "threads"))))
    return results


def markdown(rows: int, results) -> str:
    """The table ``compare --dask`` prints."""
    lines = [
        f"W1 (`np.sum(v**2)`, rows of 3) on Dask arrays, {rows:_} rows; median of "
        f"{REPEAT} runs of persist-and-wait after a warm-up, taken in turns; load average "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "| measurement | numbavmap | other | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for what, ours, other in results:
        lines.append(f"| {what} | {ours * 1e3:.3g} ms | {other * 1e3:.3g} ms "
                     f"| {ours / other:.2g}x |")
    lines.append("")
    lines.append("other: the Dask NumPy expression `(x**2).sum(axis=1)` on the cluster; "
                 "`parallel=True` kernels in the threads row.")
    return "\n".join(lines) + "\n"
