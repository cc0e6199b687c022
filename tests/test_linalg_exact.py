"""``np.linalg.solve(A, b)`` fused by default (``numbavmap.lower.linalg``):
LAPACK's ``getf2`` and ``getrs`` written out, bit for bit the compiled
``np.linalg.solve``, where ``linalg.exact_rounding`` finds a rounding that is on
this machine.

The reference is the unfused compiled function run example by example
(``njit``), and NumPy's own loop. Examples the fused code hands over (a zero,
subnormal or NaN pivot, NaN or infinity in the input) run again unfused: they
raise Numba's error with their index, or get LAPACK's values.
"""

import glob
import os
import platform
import threading

import numpy as np
import pytest
import scipy
from numba import njit
from numba.core import types

from numbavmap import vmap
from numbavmap.lower import linalg


def solve(A, b):
    return np.linalg.solve(A, b)


SOLVE = vmap(solve)
SOLVE_SERIAL = vmap(solve, parallel=False)
LAPACK = njit(solve)


def lapack_loop(A, b):
    """The unfused compiled function, example by example."""
    return np.stack([LAPACK(x, y) for x, y in zip(A, b)])


def bits(values):
    """Bit patterns, every NaN as one: LLVM does not keep NaN signs, so LAPACK's
    NaN and the fused code's may differ in that bit alone."""
    values = np.where(np.isnan(values), np.nan, values).astype(values.dtype)
    return values.view(f"u{values.dtype.itemsize}")


def systems(n, dtype, count=400, seed=0):
    """Normal, small-integer (signed zeros, pivot ties) and row-scaled systems
    that LAPACK solves (a zero pivot in its rounding: singular)."""
    rng = np.random.default_rng(seed)
    A = np.concatenate([
        rng.normal(size=(count, n, n)),
        rng.integers(-3, 4, size=(count, n, n)) * np.where(rng.random((count, n, n)) < .5,
                                                            -1.0, 1.0),
        rng.normal(size=(count, n, n)) * 10.0 ** rng.integers(-10, 11, size=(count, n, 1)),
    ]).astype(dtype)
    b = np.concatenate([rng.normal(size=(count, n)),
                        rng.integers(-3, 4, size=(count, n)) * -1.0,
                        rng.normal(size=(count, n))]).astype(dtype)
    keep = [k for k in range(len(A)) if solvable(A[k], b[k])]
    return np.ascontiguousarray(A[keep]), np.ascontiguousarray(b[keep])


def solvable(A, b) -> bool:
    try:
        LAPACK(A, b)
    except np.linalg.LinAlgError:
        return False
    return True


def scipy_bundles_openblas() -> bool:
    """Whether SciPy's LAPACK, which Numba calls, is the OpenBLAS its wheels bundle."""
    libs = os.path.join(os.path.dirname(scipy.__file__) + ".libs", "*openblas*")
    return bool(glob.glob(libs))


@pytest.mark.skipif(not (scipy_bundles_openblas() and platform.machine() == "x86_64"),
                    reason="the order written out is OpenBLAS's (SciPy's wheels on x86-64)")
@pytest.mark.parametrize("dtype", [types.float64, types.float32])
def test_openblas_getf2_order_is_exact_here(dtype):
    """So that the fused path cannot be lost silently where CI runs (float32 4x4
    alone rounds otherwise with OpenBLAS's AVX-512 kernels)."""
    sizes = (1, 2, 3, 4) if dtype == types.float64 else (1, 2, 3)
    assert all(linalg.exact_rounding(n, dtype) is not None for n in sizes)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_fused_solve_has_lapacks_bits(n, dtype):
    if linalg.exact_rounding(n, types.float64 if dtype == np.float64 else types.float32) is None:
        pytest.skip("this machine's LAPACK rounds otherwise")
    A, b = systems(n, dtype, seed=n)
    assert SOLVE.explain(A, b).splitlines()[1] == "body: fused"
    got = SOLVE(A, b)
    want = lapack_loop(A, b)
    assert got.dtype == want.dtype == dtype
    assert np.array_equal(bits(got), bits(want))
    if dtype == np.float64:  # NumPy's sgesv rounds otherwise than SciPy's, unfused too
        numpy_loop = np.stack([np.linalg.solve(x, y) for x, y in zip(A, b)])
        assert np.array_equal(bits(got), bits(numpy_loop))


#: The rounding of each line that depends on it, in a 3x3 float64 kernel.
ROUNDED_LINES = {
    linalg.SEPARATE: ["lu22_0 = lu22_0 - (0.0 + lu20_0 * lu02_0 + lu21_0 * lu12_0)",
                      "x1_0 = x1_0 - x0_0 * lu10_0"],
    linalg.FMA: ["lu22_0 = lu22_0 - (libm.fma(lu21_0, lu12_0, libm.fma(lu20_0, lu02_0, 0.0)))",
                 "x1_0 = libm.fma(-x0_0, lu10_0, x1_0)"],
}


@pytest.mark.parametrize("rounding", linalg.ROUNDINGS)
def test_kernel_reads_as_getf2_then_getrs(rounding, monkeypatch):
    monkeypatch.setattr(linalg, "_exact", {(3, "float64"): rounding})
    A, b = systems(3, np.float64, count=4)
    source = vmap(solve).inspect_kernel(A, b)
    assert "return RAISED" in source and "np.isfinite(" in source
    assert "if not abs(lu00_0) >= 2.2250738585072014e-308:  # zero, subnormal or NaN" in source
    assert "r0_0 = 1.0 / lu00_0" in source  # scaled by the reciprocal, as getf2
    assert all(line in source for line in ROUNDED_LINES[rounding]), source
    assert "x0_0 = x0_0 / lu00_0" in source  # divided, as trsv


@pytest.mark.parametrize("dtype, tiny", [(np.float64, 1e-310), (np.float32, 1e-40)])
def test_examples_with_subnormal_pivots_get_lapacks_values(dtype, tiny):
    """Every such example, not only the first, runs again unfused."""
    A, b = systems(3, dtype, count=20, seed=7)
    for index in (2, 5, len(A) - 1):
        A[index] = np.diag([tiny, 1.0, 3.0])[[1, 0, 2]] * (index + 1)
    got = SOLVE(A, b)
    assert np.array_equal(bits(got), bits(lapack_loop(A, b)))


def test_out_axes_and_an_unmapped_matrix_with_a_handed_over_example():
    A, b = systems(2, np.float64, count=10, seed=8)
    A[3] = [[0.0, 1e-310], [2.0, 0.0]]
    transposed = vmap(solve, out_axes=1)(A, b)
    assert np.array_equal(bits(transposed), bits(lapack_loop(A, b).T))
    one_matrix = vmap(solve, in_axes=(None, 0))(A[3], b)
    assert np.array_equal(bits(one_matrix), bits(lapack_loop([A[3]] * len(b), b)))


def test_singular_matrix_raises_numbas_error_with_its_index():
    A, b = systems(3, np.float64, count=5, seed=9)
    A[4] = [[1.0, 0.0, 2.0], [3.0, 0.0, 4.0], [5.0, 0.0, 7.0]]
    with pytest.raises(np.linalg.LinAlgError, match="singular.*example 4"):
        SOLVE(A, b)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["A", "b"])
def test_nan_or_infinity_raises_numbas_error_with_its_index(value, where):
    A, b = systems(2, np.float64, count=5, seed=10)
    (A if where == "A" else b)[3].flat[1] = value
    with pytest.raises(np.linalg.LinAlgError, match="infs or NaNs.*example 3"):
        SOLVE(A, b)


def test_entries_near_the_largest_float_are_exact():
    A = np.array([[[1e308, 1e308], [-1e308, 1e308]], [[1.0, 2.0], [3.0, 4.0]]])
    b = np.array([[1e308, 1e308], [1.0, 1.0]])
    assert np.array_equal(bits(SOLVE_SERIAL(A, b)), bits(lapack_loop(A, b)))


def test_matrix_right_hand_side_and_other_machines_keep_lapack(monkeypatch):
    A, b = systems(3, np.float64, count=4, seed=11)
    matrix_rhs = SOLVE.explain(A, b[..., None]).splitlines()[1]
    assert "matrix right-hand side calls LAPACK" in matrix_rhs
    monkeypatch.setattr(linalg, "_exact", {(3, "float64"): None})
    report = vmap(solve).explain(A, b).splitlines()[1]
    assert "LAPACK rounds otherwise than getf2 written out" in report
    assert np.array_equal(bits(vmap(solve)(A, b)), bits(lapack_loop(A, b)))


def test_concurrent_first_uses_probe_once(monkeypatch):
    calls = []
    monkeypatch.setattr(linalg, "_exact", {})
    monkeypatch.setattr(linalg, "_differences",
                        lambda A, b, rounding: calls.append(len(A)) or 0)
    threads = [threading.Thread(target=linalg.exact_rounding, args=(2, types.float64))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1


def test_a_probe_that_cannot_run_keeps_lapack(monkeypatch):
    def broken(A, b, rounding):
        raise RuntimeError("no LAPACK")

    monkeypatch.setattr(linalg, "_exact", {})
    monkeypatch.setattr(linalg, "_differences", broken)
    assert linalg.exact_rounding(2, types.float64) is None


def test_the_probe_tries_each_rounding_in_order(monkeypatch):
    tried = []
    monkeypatch.setattr(linalg, "_exact", {})
    monkeypatch.setattr(linalg, "_differences",
                        lambda A, b, rounding: tried.append(rounding) or len(tried) - 1)
    assert linalg.exact_rounding(2, types.float64) == linalg.ROUNDINGS[0]
    assert tried == [linalg.ROUNDINGS[0]]
    monkeypatch.setattr(linalg, "_exact", {})
    tried.clear()
    monkeypatch.setattr(linalg, "_differences",
                        lambda A, b, rounding: tried.append(rounding) or 2 - len(tried))
    assert linalg.exact_rounding(2, types.float64) == linalg.ROUNDINGS[1]
    assert tried == list(linalg.ROUNDINGS)


@pytest.mark.parametrize("rounding", linalg.ROUNDINGS)
def test_probe_runs_the_fused_kernel_and_counts_differences(rounding, monkeypatch):
    A, b = linalg.probe_systems(2, np.dtype(np.float64), count=50)
    differences = linalg._differences(A, b, rounding)
    assert (differences == 0) == (linalg.exact_rounding(2, types.float64) == rounding)
    lapack = linalg._lapack_solutions
    monkeypatch.setattr(linalg, "_lapack_solutions",
                        lambda A, b: (np.zeros_like(b), lapack(A, b)[1]))
    solutions, solvable = lapack(A, b)
    assert linalg._differences(A, b, rounding) == np.count_nonzero(
        np.any(bits(solutions[solvable]), axis=1))


def probe_compiling(started):
    """A probe that, as the real ones, compiles with Numba."""
    def probe(*args):
        started.set()
        njit(lambda: 1)()
        return 0
    return probe


@pytest.mark.parametrize("module", ["linalg", "libm"])
def test_a_probe_and_a_thread_compiling_an_njit_caller_do_not_deadlock(module, monkeypatch):
    """One thread holds Numba's compiler lock (compiling an ``@njit`` function
    that calls a vmap) when it needs the probe; another is probing, which
    compiles. A private lock taken before the compiler lock would deadlock."""
    from numba.core.compiler_lock import global_compiler_lock

    from numbavmap.lower import libm

    started = threading.Event()
    if module == "linalg":
        monkeypatch.setattr(linalg, "_exact", {})
        monkeypatch.setattr(linalg, "_differences", probe_compiling(started))
        ask = lambda: linalg.exact_rounding(2, types.float64)  # noqa: E731
    else:
        monkeypatch.setattr(libm, "_exact", {})
        monkeypatch.setattr(libm, "_PROBES", {"exp": probe_compiling(started)})
        ask = lambda: libm.is_exact("exp")  # noqa: E731

    def compiling_caller():
        with global_compiler_lock:
            started.wait(timeout=2)
            ask()

    threads = [threading.Thread(target=compiling_caller, daemon=True),
               threading.Thread(target=ask, daemon=True)]
    threads[0].start()
    threads[1].start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)


def test_nested_vmap_with_a_handed_over_example():
    """The outer example holding it runs again unfused: the inner vmap, whose own
    kernel hands the example over in turn."""
    A, b = systems(2, np.float64, count=12, seed=12)
    A, b = A[:12].reshape(3, 4, 2, 2), b[:12].reshape(3, 4, 2)
    A[1, 2] = [[0.0, 1e-310], [2.0, 0.0]]
    got = vmap(vmap(solve), out_axes=1)(A, b)
    want = np.stack([lapack_loop(x, y) for x, y in zip(A, b)], axis=1)
    assert np.array_equal(bits(got), bits(want))
