"""Many threads calling one VmappedFunction: every result and exception is the call's own.

In the numbagg style: a ``ThreadPoolExecutor`` runs many concurrent calls of
fused, call-path and ``parallel=True`` functions, some batches holding a
failing example, with a short switch interval to provoke interleavings.
"""

import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from numbavmap import vmap

THREADS = 8


def sum_of_squares(v):
    return np.sum(v * v)


def first_positive(v):
    for value in v:
        if value > 0:
            return value
    raise ValueError("no positive value")


@pytest.fixture
def short_switch_interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def batch(seed: int, size: int, failing: int | None):
    """Positive rows, except row ``failing`` (all negative) when given."""
    x = np.random.default_rng(seed).uniform(0.5, 2.0, size=(size, 4))
    if failing is not None:
        x[failing] = -1.0
    return x


def expected_first_positive(x):
    return x[:, 0]


def run_concurrently(task, jobs):
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(task, jobs))


@pytest.mark.parametrize("parallel", [False, True, "auto"])
def test_concurrent_calls_get_their_own_results_and_exceptions(parallel,
                                                               short_switch_interval):
    fused = vmap(sum_of_squares, parallel=parallel)
    called = vmap(first_positive, parallel=parallel)
    jobs = [(seed, 50 + 37 * seed, None if seed % 3 else (seed * 7) % (50 + 37 * seed))
            for seed in range(48)]

    def task(job):
        seed, size, failing = job
        x = batch(seed, size, failing)
        np.testing.assert_allclose(fused(x), np.sum(x * x, axis=1), rtol=1e-12)
        try:
            result = called(x)
        except ValueError as exc:
            return failing, str(exc)
        np.testing.assert_array_equal(result, expected_first_positive(x))
        return failing, None

    for failing, message in run_concurrently(task, jobs):
        if failing is None:
            assert message is None
        else:
            assert message == f"no positive value (in vmap example {failing})"


def test_concurrent_first_calls_trace_once_and_compile_once(short_switch_interval, capsys):
    def scaled_sum(v):
        print("traced")  # runs in the trace only
        return np.sum(v) * 2.0

    f = vmap(scaled_sum, parallel=False)
    barrier = threading.Barrier(THREADS)
    x = np.arange(12.0).reshape(4, 3)

    def task(_):
        barrier.wait()
        return f(x)

    for result in run_concurrently(task, range(THREADS)):
        np.testing.assert_array_equal(result, x.sum(axis=1) * 2.0)
    info = f.cache_info()
    assert capsys.readouterr().out == "traced\n"
    assert (info.traces, info.currsize) == (1, 1)


def test_concurrent_first_calls_of_a_call_path_function_compile_each_once():
    f = vmap(first_positive, parallel=False)
    x = batch(0, 10, None)
    barrier = threading.Barrier(THREADS)

    def task(_):
        barrier.wait()
        return f(x)

    for result in run_concurrently(task, range(THREADS)):
        np.testing.assert_array_equal(result, expected_first_positive(x))
    serial_call = vmap(first_positive, parallel=False)
    serial_call(x)
    assert f.cache_info().compilations == serial_call.cache_info().compilations


WORKQUEUE_SCRIPT = textwrap.dedent("""
    from concurrent.futures import ThreadPoolExecutor
    import numba
    import numpy as np
    from numbavmap import vmap

    def sum_of_squares(v):
        return np.sum(v * v)

    f = vmap(sum_of_squares, parallel=True)
    f(np.ones((4, 3)))
    x = np.random.default_rng(0).normal(size=(20_000, 8))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: f(x), range(64)))
    assert all(np.allclose(r, np.sum(x * x, axis=1)) for r in results)
    print(numba.threading_layer(), len(results))
""")


def test_parallel_calls_from_threads_never_abort_on_the_workqueue_layer(tmp_path):
    script = tmp_path / "workqueue_threads.py"
    script.write_text(WORKQUEUE_SCRIPT)
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_OPT="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["workqueue", "64"]
