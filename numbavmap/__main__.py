"""``python -m numbavmap``: the seed walk-through, then a small speed table.

``--quick`` skips the speed table (the tests use it).
"""

from __future__ import annotations

import argparse
import platform
import time

import numba
import numpy as np

from . import vmap


def sum_of_squares(v):
    """The seed's per-example function: one vector in, one number out."""
    print("Running sum_of_squares for a vector of shape:", v.shape)
    return np.sum(v**2)


def quiet_sum_of_squares(v):
    """``sum_of_squares`` without the print, for timing."""
    return np.sum(v**2)


def walk_through() -> None:
    """The seed walk-through: trace once, print once, stacked result."""
    batch = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.0, 0.0, 0.0]])
    print(">>> batch.shape")
    print(batch.shape)
    print(">>> vmap(sum_of_squares)(batch)")
    print(vmap(sum_of_squares)(batch))


@numba.njit(parallel=True)
def hand_kernel(batch):
    """What ``vmap(quiet_sum_of_squares)`` replaces: a hand-written ``prange`` kernel."""
    out = np.empty(batch.shape[0])
    for i in numba.prange(batch.shape[0]):
        acc = 0.0
        for j in range(batch.shape[1]):
            acc += batch[i, j] * batch[i, j]
        out[i] = acc
    return out


def _first_call_seconds(function, batch) -> float:
    start = time.perf_counter()
    function(batch)
    return time.perf_counter() - start


def _median_seconds(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def speed_table(size: int = 1_000_000) -> None:
    """Python loop vs vmap on a (size, 3) batch; the loop is timed on a slice and scaled."""
    batch = np.random.default_rng(0).normal(size=(size, 3))
    vmapped = vmap(quiet_sum_of_squares)
    first_call = _first_call_seconds(vmapped, batch)
    hand_first_call = _first_call_seconds(hand_kernel, batch)
    expected_head = np.array([quiet_sum_of_squares(v) for v in batch[:10]])
    np.testing.assert_allclose(vmapped(batch)[:10], expected_head)
    np.testing.assert_allclose(hand_kernel(batch), vmapped(batch))
    sample = batch[: max(1, size // 20)]
    loop = _median_seconds(lambda: np.array([quiet_sum_of_squares(v) for v in sample]), 3)
    loop *= size / len(sample)
    compiled = _median_seconds(lambda: vmapped(batch), 20)
    print()
    print(f"Speed on a ({size:_}, 3) float64 batch, {numba.get_num_threads()} threads, "
          f"Python {platform.python_version()}, numba {numba.__version__}, "
          f"numpy {np.__version__}:")
    print()
    print("| implementation | median time | speed-up |")
    print("| --- | ---: | ---: |")
    print(f"| Python loop (timed on {len(sample):_} rows, scaled) | {loop * 1e3:,.1f} ms | 1x |")
    print(f"| vmap(sum_of_squares) | {compiled * 1e3:,.2f} ms | {loop / compiled:,.0f}x |")
    print()
    print(f"First call, which compiles: vmap {first_call:.2f} s (trace, type, compile, run); "
          f"the same loop written by hand as an @njit(parallel=True) kernel "
          f"{hand_first_call:.2f} s ({first_call / hand_first_call:.1f}x).")


def main(argv=None) -> None:
    """Run the walk-through and, unless ``--quick``, the speed table."""
    parser = argparse.ArgumentParser(prog="python -m numbavmap", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the speed table")
    args = parser.parse_args(argv)
    walk_through()
    if not args.quick:
        speed_table()


if __name__ == "__main__":
    main()
