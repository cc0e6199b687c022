"""The benchmarks stay runnable and right; nothing here asserts a timing.

* asv accepts the suites (``asv check``, as CI runs it);
* every implementation of every workload agrees with a plain Python loop over
  the per-example function, on tiny inputs (compiled functions are shared
  across tests by ``workloads``' caches: Numba compiles are slow);
* the comparison script's table and chart build from a result set.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asv_benchmarks import compare, gpu
from asv_benchmarks import workloads as wl

ROOT = Path(__file__).resolve().parents[1]

CASES = [(key, name) for key, w in wl.WORKLOADS.items() for name in w.implementations]


def test_asv_check(tmp_path):
    """``asv check`` imports every suite and checks its signatures. It needs no
    machine file (``asv run`` does: ``asv machine --yes``); a temporary HOME
    and no stdin make sure it neither writes nor asks anything outside."""
    pytest.importorskip("asv")
    env = {**os.environ, "HOME": str(tmp_path), "CI": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "asv", "check", "--python=same"],
        cwd=ROOT / "asv_benchmarks",
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


@pytest.mark.parametrize("key", list(wl.WORKLOADS))
def test_reference_is_the_python_loop(key):
    w = wl.WORKLOADS[key]
    w.check(wl.reference(key, "tiny"), w.python_loop(*wl.inputs(key, "tiny")), "reference")


@pytest.mark.parametrize(("key", "name"), CASES)
def test_implementation_agrees_with_python_loop(key, name):
    w = wl.WORKLOADS[key]
    args = wl.inputs(key, "tiny")
    try:
        fn = wl.implementation(key, name)
    except wl.Unavailable as exc:
        pytest.skip(str(exc))
    w.check(fn(*args), w.python_loop(*args), name)


def test_prepare_measure_and_first_call():
    """The path the asv suites and compare.py take: check, then time."""
    prepared = wl.prepare("W7", wl.HAND_LOOPS, "tiny")
    assert wl.measure(prepared, repeat=2, sample_time=0).median > 0
    sampled = wl.prepare("W5", wl.PYTHON_LOOP, "tiny")
    assert sampled.scale == 1.0  # the tiny grid is smaller than the sample
    assert wl.first_call_seconds("W7", "tiny") > 0


def test_unavailable_is_a_skip_for_asv():
    assert issubclass(wl.Unavailable, NotImplementedError)
    with pytest.raises(wl.Unavailable):
        wl.implementation("W1", wl.CDIST)


def fake_results():
    times = {
        key: {
            name: wl.Timing(1e-3 * (i + 1), 1e-3 * i, 7, 1)
            for i, name in enumerate(w.implementations)
        }
        for key, w in wl.WORKLOADS.items()
    }
    times["W1"][wl.JAX] = "n/a"
    times["W2"][wl.NUMBAVMAP] = "error: ValueError"
    first = {key: 2.0 for key in wl.WORKLOADS}
    return times, first


def test_markdown_table():
    times, first = fake_results()
    table = compare.markdown("quick", times, first, load_before=0.5)
    assert "cores" in table and "numba" in table and "--quick" in table
    rows = [line for line in table.splitlines() if line.startswith("| W")]
    assert len(rows) == 2 * len(wl.WORKLOADS)  # a workload's other rows start "|  |"
    assert "| hand_loops | 3 ms | 2 ms | 1x |" in table
    assert "error: ValueError" in table and "n/a" in table


def test_bar_chart(tmp_path):
    pytest.importorskip("matplotlib")
    times, _ = fake_results()
    compare.bar_chart(times, tmp_path / "chart.png", "quick")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fmt_time_units():
    assert compare.fmt_time(2.5) == "2.5 s"
    assert compare.fmt_time(0.0123) == "12.3 ms"
    assert compare.fmt_time(7e-7) == "0.7 us"
    assert compare.fmt_time(np.float64(1.0).item()) == "1 s"


def test_first_call_in_fresh_processes_cold_then_warm():
    from asv_benchmarks import first_call

    cold, warm = first_call.cold_and_warm("W1", "numbavmap", repeat=1)
    assert cold > 0 and warm > 0
    assert first_call._seconds(None) == "-" and first_call._ratio(2.0, 1.0) == "2.00x"


def test_gpu_table_and_skip_line():
    assert "skipped, no CUDA GPU" in gpu.markdown(None, "no CUDA GPU")
    fast, slow = wl.Timing(0.001, 0.001, 3, 1), wl.Timing(0.004, 0.004, 3, 1)
    table = gpu.markdown({"W1 case": {"numbavmap": fast, "hand_cuda": slow, "jax": "n/a (x)",
                                      "numbavmap first call": 1.5}})
    assert "| W1 case | numbavmap | 1 ms | 0.25x |  |" in table
    assert "|  | jax | n/a (x) |  |  |" in table and "1.5 s" in table


def test_dask_table_builds_from_results():
    from asv_benchmarks import dask_workload

    table = dask_workload.markdown(1_000, [("cluster", 0.1, 0.2), ("per task", 2e-3, 1e-3)])
    assert "| cluster | 100 ms | 200 ms | 0.5x |" in table
    assert "| per task | 2 ms | 1 ms | 2x |" in table
