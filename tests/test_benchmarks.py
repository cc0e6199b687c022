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
        ready = wl.adapt(name, args)
    except wl.Unavailable as exc:
        pytest.skip(str(exc))
    w.check(fn(*ready), w.python_loop(*args), name)


def test_realistic_set_covers_the_issue_kinds():
    """R1-R11: the per-example functions are ``def``s as scientists write them,
    with both two-mapped and unmapped arguments."""
    realistic = [wl.WORKLOADS[key] for key in wl.REALISTIC]
    assert len(realistic) >= 10
    assert all(w.py_func.__name__ != "<lambda>" and not w.python_level for w in realistic)
    assert {w.mapped for w in realistic} >= {(True,), (True, True), (True, False),
                                             (True, False, False)}
    assert wl.WORKLOADS["R1"].py_func is wl.normalize  # first_call.py's R1


def test_jax_times_jax_arrays_and_waits():
    """The main JAX column runs on JAX arrays made before timing and returns a
    JAX array it waited for; the other column takes and gives NumPy arrays."""
    jax = pytest.importorskip("jax")
    prepared = wl.prepare("R4", wl.JAX, "tiny")
    assert isinstance(prepared.run.args[0], jax.Array)
    assert isinstance(prepared.run(), jax.Array)
    numpy_io = wl.prepare("R4", wl.JAX_NUMPY_IO, "tiny")
    assert isinstance(numpy_io.run.args[0], np.ndarray)
    assert isinstance(numpy_io.run(), np.ndarray)


def test_explain_verdicts():
    assert wl.explain("W1") == "fused"
    assert wl.explain("R7") == "fused"  # LAPACK's getf2 and getrs written out
    assert wl.explain("W5") == (  # no source location
        "not fused: While statement `while n < MAX_ITER and z.real * z.real + z.imag * "
        "z.imag <= 4.0:`")


@pytest.mark.parametrize("key", list(wl.WORKLOADS))
def test_titles_format_at_every_size(key):
    w = wl.WORKLOADS[key]
    assert all(w.describe(size).startswith(f"{key}: ") for size in w.sizes)


def test_prepare_measure_and_first_call():
    """The path the asv suites and compare.py take: check, then time."""
    prepared = wl.prepare("W7", wl.HAND_LOOPS, "tiny")
    assert wl.measure(prepared, repeat=2, sample_time=0).median > 0
    sampled = wl.prepare("W5", wl.PYTHON_LOOP, "tiny")
    assert sampled.scale == 1.0  # the tiny grid is smaller than the sample
    assert wl.first_call_seconds("W7", "tiny") > 0


def test_w7_times_numbavmap_after_its_hot_entry_is_compiled():
    from numbavmap.targets.cpu_entry import HOT_CALLS

    assert f"after {HOT_CALLS:,} calls" in wl.WORKLOADS["W7"].title
    prepared = wl.prepare("W7", wl.NUMBAVMAP, "tiny")
    assert prepared.run.func._entry is not None


def test_timing_rounds_take_the_implementations_in_changing_orders(monkeypatch):
    monkeypatch.setitem(compare.SETTINGS, "quick", dict(repeat=7, sample_time=0))
    calls = []
    names = "abcde"
    prepared = {name: wl.Prepared("W7", name, lambda name=name: calls.append(name))
                for name in names}
    prepared["f"] = "n/a"
    times = compare.time_interleaved("W7", prepared, "quick")
    assert times["f"] == "n/a" and all(times[name].samples == 7 for name in names)
    rounds = ["".join(calls[start:start + 5]) for start in range(5, len(calls), 5)]
    assert len(rounds) == 7 and all(sorted(order) == list(names) for order in rounds)
    for name in names:  # whoever runs before it changes from round to round
        before = {order[order.index(name) - 1] for order in rounds if order[0] != name}
        assert len(before) > 1, (name, rounds)
    first = calls[5:]
    calls.clear()
    compare.time_interleaved("W7", prepared, "quick")
    assert calls[5:] == first  # the same orders in every run


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
    bodies = {key: "fused" for key in wl.WORKLOADS}
    bodies["R7"] = "not fused: call np.linalg.solve (workloads.py:1)"
    return times, first, bodies


def test_markdown_table():
    times, first, bodies = fake_results()
    table = compare.markdown("quick", times, first, load_before=0.5, bodies=bodies)
    assert "cores" in table and "numba" in table and "--quick" in table
    rows = [line for line in table.splitlines() if line.startswith(("| W", "| R"))]
    assert len(rows) == 3 * len(wl.WORKLOADS)  # a workload's other rows start "|  |"
    assert "| hand_loops | 3 ms | 2 ms | 1x |" in table
    assert "error: ValueError" in table and "n/a" in table
    # the summary: numbavmap 1 ms, jax 6 ms, hand_loops 3 ms
    assert "| R1 | fused | 1 ms | 6 ms | 0.17x | 3 ms | 0.33x |" in table
    assert "| R7 | not fused: call np.linalg.solve (workloads.py:1) | 1 ms |" in table


def test_bar_chart(tmp_path):
    pytest.importorskip("matplotlib")
    times, _, _ = fake_results()
    compare.bar_chart(times, tmp_path / "chart.png", "quick")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_variant_is_drawn_in_its_implementations_colour():
    names = ["numbavmap", "jax", "jax (NumPy in/out)", "numbavmap (fastmath=True)", "hand (x)"]
    assert [compare._variant_of(name, names) for name in names] == [
        None, None, "jax", "numbavmap", None]


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


def test_before_after_table_formats_both_sides():
    from asv_benchmarks import before_after

    reports = {
        "before": {"tree": "/old (a76bfb1)", "R2": {"fused": "not fused: dot", "samples": [4e-3]},
                   "R7": {"fused": "not fused: call", "error": "error: TypeError"}},
        "after": {"tree": "/new (abc)", "R2": {"fused": "fused", "samples": [1e-3, 2e-3, 3e-3]},
                  "R7": {"fused": "not fused: call", "samples": [1e-3]}},
    }
    table = before_after.markdown(reports, ["R2", "R7"], "quick", load_before=1.0)
    assert "| not fused: dot | fused | 4 ms | 2 ms | 0.50x |" in table
    assert "| error: TypeError | 1 ms |  |" in table and "a76bfb1" in table


def test_before_after_workers_time_both_trees(tmp_path, capsys):
    """``compare --before-after``: both sides in worker processes (here the
    same tree twice), sampled in turns, the table printed and saved."""
    import numbavmap

    saved = tmp_path / "before_after.md"
    argv = ["--before-after", str(ROOT), "--quick", "--workloads", "W7", "--markdown", str(saved)]
    assert compare.main(argv) == 0
    table = capsys.readouterr().out
    assert saved.read_text() + "\n" == table  # print() adds the last newline
    row = next(line for line in table.splitlines() if line.startswith("| W7"))
    assert row.split(" | ")[1:3] == ["fused", "fused"] and row.endswith("x |")
    assert f"Before: numbavmap from {ROOT} (" in table
    assert f"After: numbavmap from {Path(numbavmap.__file__).resolve().parents[1]} (" in table
