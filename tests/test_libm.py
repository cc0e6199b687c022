"""``numbavmap.lower.libm.exp``: the C library's ``exp`` bit for bit, vectorised,
and its use by fused float64 bodies wherever the per-process probe finds it exact."""

import platform
import threading
import warnings

import numpy as np
import pytest
from numba import njit

from numbavmap import vmap
from numbavmap.lower import libm
from numbavmap.lower.emit import exp_arguments


#: Where glibc's FMA build of ``exp`` runs (x86-64 Linux, glibc 2.28 or later, a CPU
#: with FMA): there ``libm.exp`` must be exact, or the fast path is silently lost.
def _glibc_fma() -> bool:
    libc, version = platform.libc_ver()
    if platform.machine() != "x86_64" or libc != "glibc":
        return False
    with open("/proc/cpuinfo") as cpuinfo:
        return " fma " in cpuinfo.read() and tuple(map(int, version.split("."))) >= (2, 28)


GLIBC_FMA = _glibc_fma()

exact_here = pytest.mark.skipif(not libm.is_exact(), reason="libm.exp is not this C library's exp")


@njit(error_model="numpy")
def _libm_exp_loop(x, out):
    for j in range(x.shape[0]):
        out[j] = libm.exp(x[j])


@njit(error_model="numpy")
def _numba_exp_loop(x, out):
    for j in range(x.shape[0]):
        out[j] = np.exp(x[j])


def _bits_differing(x):
    ours, theirs = np.empty_like(x), np.empty_like(x)
    _libm_exp_loop(x, ours)
    _numba_exp_loop(x, theirs)
    return x[ours.view(np.int64) != theirs.view(np.int64)]


def compiled_loop(f, batch):
    """``njit(f)`` of each row of ``batch``, stacked: the unfused compiled function."""
    compiled = njit(error_model="numpy")(f)
    with np.errstate(all="ignore"):
        results = [compiled(row) for row in batch]
    if isinstance(results[0], tuple):
        return [np.stack(column) for column in zip(*results)]
    return np.stack(results)


def _numpy_exp_is_the_c_librarys() -> bool:
    """Whether NumPy's float64 ``np.exp`` calls the C library's here: on an AVX-512
    CPU it runs its own vectorised ``exp`` instead, which rounds otherwise."""
    x = np.concatenate([regions(2_000)[name] for name in ("whole range", "ordinary")])
    compiled = np.empty_like(x)
    _numba_exp_loop(x, compiled)
    with np.errstate(all="ignore"):
        return np.array_equal(np.exp(x), compiled)


def numpy_loop_where_it_is_the_c_librarys(f, batch, expected):
    """Check ``expected`` against NumPy's loop too, where NumPy's ``exp`` is the
    C library's (the values then are those of three implementations)."""
    if NUMPY_EXP_IS_THE_C_LIBRARYS:
        with np.errstate(all="ignore"):
            assert np.array_equal(np.stack([f(row) for row in batch]), expected,
                                  equal_nan=True)


def regions(n, seed=0):
    """Arguments over every case of the algorithm, ``n`` per region."""
    rng = np.random.default_rng(seed)
    return {
        "whole range": rng.uniform(-1100.0, 1100.0, n),
        "ordinary": rng.uniform(-20.0, 20.0, n),
        "near zero": rng.uniform(-1e-15, 1e-15, n),
        "overflow edge": rng.uniform(709.0, 710.0, n),
        "subnormal results": rng.uniform(-746.0, -708.0, n),
        "rescaled, x > 0": rng.uniform(512.0, 1024.0, n),
        "rescaled, x < 0": rng.uniform(-1024.0, -512.0, n),
        "any bits": rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64),
        "special": libm.probe_arguments()[:19],
    }


NUMPY_EXP_IS_THE_C_LIBRARYS = _numpy_exp_is_the_c_librarys()


def test_exact_where_glibcs_fma_build_runs():
    if not GLIBC_FMA:
        pytest.skip("not x86-64 glibc >= 2.28 with FMA")
    assert libm.is_exact("exp") and libm.is_exact("expf")


@exact_here
@pytest.mark.parametrize("region", sorted(regions(1)))
def test_exp_is_the_c_librarys_bit_for_bit(region):
    assert _bits_differing(regions(1_000_000)[region]).size == 0


@exact_here
def test_nan_payloads_and_signed_zeros_are_kept():
    x = np.array([np.nan, -np.nan, np.float64(np.uint64(0x7FF8DEAD00000000).view(np.float64)),
                  0.0, -0.0, -np.inf, np.inf])
    assert _bits_differing(x).size == 0


def test_the_probe_tells_glibcs_unfused_build_apart():
    """The same algorithm without fused multiply-adds (glibc's build for CPUs
    without FMA) differs on many probe arguments, so ``is_exact`` would say no."""
    x = libm.probe_arguments()
    ours, unfused = np.empty_like(x), np.empty_like(x)
    _libm_exp_loop(x, ours)
    _without_fma_loop(x, unfused)
    ordinary = np.abs(x) < 500
    assert np.count_nonzero(ours[ordinary] != unfused[ordinary]) > 10


@njit(error_model="numpy")
def _without_fma_loop(x, out):
    """glibc's exp without fused multiply-adds, for ``|x| < 512`` only."""
    for j in range(x.shape[0]):
        v = x[j]
        shifted = v * libm._INV_LN2_N + libm._SHIFT
        k = libm._bits(shifted)
        kd = shifted - libm._SHIFT
        r = v + kd * libm._NEG_LN2_HI_N + kd * libm._NEG_LN2_LO_N
        index = k & 127
        scale = libm._from_bits(libm._SCALE_BITS[index] + (k << 45))
        r2 = r * r
        tmp = (libm._TAIL[index] + r + r2 * (libm._C2 + r * libm._C3)
               + r2 * r2 * (libm._C4 + r * libm._C5))
        out[j] = scale + scale * tmp


def test_the_loop_over_libm_exp_is_vectorised():
    if platform.machine() != "x86_64":
        pytest.skip("vector width asserted for x86-64")
    assert "x double>" in _libm_exp_loop.inspect_llvm(_libm_exp_loop.signatures[0])


def test_is_exact_probes_once_when_many_threads_ask_first(monkeypatch):
    monkeypatch.setattr(libm, "_exact", {})
    probes = []
    probe = libm._PROBES["exp"]
    monkeypatch.setitem(libm._PROBES, "exp", lambda x: probes.append(1) or probe(x))
    start = threading.Barrier(4)
    answers = []

    def ask():
        start.wait()
        answers.append(libm.is_exact("exp"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [answers[0]] * 4 and len(probes) == 1


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


#: Spread wide enough to reach every case: exp of -1000 .. 0 after the max.
BATCH = np.random.default_rng(5).normal(size=(40, 70)) * 300.0
BATCH[3, 5], BATCH[7, 1], BATCH[9, 2] = np.nan, np.inf, -np.inf


def test_the_batch_reaches_exps_rescaled_case():
    finite = BATCH[np.isfinite(BATCH).all(axis=1)]
    rescaled = np.abs(finite - finite.max(axis=1, keepdims=True))
    assert np.any((rescaled >= 512) & (rescaled < 1024))


@exact_here
@pytest.mark.parametrize("region", sorted(regions(1)))
def test_exp_common_is_exp_but_where_uncommon(region):
    x = regions(100_000)[region]
    common, full = np.empty_like(x), np.empty_like(x)
    _exp_common_loop(x, common)
    _libm_exp_loop(x, full)
    flagged = np.array([libm.uncommon(v) for v in x[:2000]])
    with np.errstate(invalid="ignore"):
        assert np.array_equal(flagged, ~(np.abs(x[:2000]) < 512))
        ordinary = np.abs(x) < 512
    assert np.array_equal(common[ordinary].view(np.int64), full[ordinary].view(np.int64))


@exact_here
def test_exp_common_is_exp_where_x_is_tiny():
    """Below ``2**-54`` ``exp`` returns ``1 + x``; ``exp_common`` has no such case."""
    rng = np.random.default_rng(7)
    x = np.ldexp(rng.uniform(0.5, 1.0, 200_000), rng.integers(-1074, -53, 200_000))
    x = np.concatenate([x, -x, [0.0, -0.0, 2.0**-54, -(2.0**-54), 2.0**-53, -(2.0**-53)]])
    common, full = np.empty_like(x), np.empty_like(x)
    _exp_common_loop(x, common)
    _libm_exp_loop(x, full)
    assert np.array_equal(common.view(np.int64), full.view(np.int64))


@njit(error_model="numpy")
def _exp_common_loop(x, out):
    for j in range(x.shape[0]):
        out[j] = libm.exp_common(x[j])


def test_writing_loops_run_exp_common_and_again_with_exp_where_uncommon():
    source = vmap(sigmoid).inspect_kernel(BATCH)
    if "libm." not in source:
        pytest.skip("libm.exp is not this C library's exp")
    assert "out_0[i, j0] = (1.0 / (1.0 + libm.exp_common((-x[i, j0]))))" in source
    assert "uncommon_0 |= libm.uncommon((-x[i, j0]))" in source
    assert "if uncommon_0:" in source
    assert "out_0[i, j0] = (1.0 / (1.0 + libm.exp((-x[i, j0]))))" in source


def test_exp_arguments_finds_calls_inside_arguments():
    line = "out[j] = libm.exp_common((libm.exp_common(x[i, j]) * 2.0)) + f(y)"
    assert exp_arguments(line) == ["(libm.exp_common(x[i, j]) * 2.0)", "x[i, j]"]


def nested_exp(x):
    return np.exp(np.exp(x) * 200.0)


@exact_here
def test_an_exp_of_an_exp_checks_both_arguments():
    x = np.random.default_rng(6).normal(size=(30, 9)) * 300.0
    with np.errstate(all="ignore"):
        got = vmap(nested_exp)(x)
    assert np.array_equal(got, compiled_loop(nested_exp, x), equal_nan=True)
    numpy_loop_where_it_is_the_c_librarys(nested_exp, x, got)


def running_exp_sum(x):
    return np.cumsum(np.exp(x)), np.cumprod(np.exp(x * 1e-3))


@exact_here
def test_a_scan_of_exp_is_not_run_twice():
    """A scan's loop updates its running value: run again for an uncommon
    argument, it would add every term twice. It keeps ``libm.exp``, one pass."""
    x = np.array([[-600.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0], [700.0, -520.0, 1.0, 0.5]])
    mapped = vmap(running_exp_sum)
    source = mapped.inspect_kernel(x)
    assert "libm.exp(" in source and "exp_common" not in source
    with np.errstate(all="ignore"):
        got = mapped(x)
    for column, want in zip(got, compiled_loop(running_exp_sum, x)):
        assert np.array_equal(column, want)
    if NUMPY_EXP_IS_THE_C_LIBRARYS:
        with np.errstate(all="ignore"):
            numpy = [np.stack(column) for column in zip(*(running_exp_sum(row) for row in x))]
        assert all(np.array_equal(a, b) for a, b in zip(got, numpy))


@exact_here
@pytest.mark.parametrize("f", [softmax, sigmoid, logsumexp])
def test_fused_float64_exp_is_libm_and_the_compiled_loop_bit_for_bit(f):
    mapped = vmap(f)
    assert "libm.exp(" in mapped.inspect_kernel(BATCH)
    with np.errstate(all="ignore"):
        got = mapped(BATCH)
    assert np.array_equal(got, compiled_loop(f, BATCH), equal_nan=True)
    numpy_loop_where_it_is_the_c_librarys(f, BATCH, got)


@njit(error_model="numpy")
def _libm_expf_loop(x, out):
    for j in range(x.shape[0]):
        out[j] = libm.expf(x[j])


def float32_regions(n, seed=0):
    """float32 arguments over every case of ``expf``, ``n`` per region."""
    rng = np.random.default_rng(seed)
    return {
        "any bits": rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32),
        "whole range": rng.uniform(-110.0, 95.0, n).astype(np.float32),
        "ordinary": rng.uniform(-1.0, 1.0, n).astype(np.float32),
        "special": libm.probe_arguments()[:25].astype(np.float32),
    }


@pytest.mark.skipif(not libm.is_exact("expf"), reason="libm.expf is not this C library's expf")
@pytest.mark.parametrize("region", sorted(float32_regions(1)))
def test_expf_is_the_c_librarys_bit_for_bit(region):
    x = float32_regions(1_000_000)[region]
    ours, theirs = np.empty_like(x), np.empty_like(x)
    with np.errstate(all="ignore"):
        _libm_expf_loop(x, ours)
        _numba_exp_loop(x, theirs)
    assert np.array_equal(ours.view(np.int32), theirs.view(np.int32))


@pytest.mark.skipif(not libm.is_exact("expf"), reason="libm.expf is not this C library's expf")
def test_fused_float32_exp_is_libm_expf_and_numpys_loop_bit_for_bit():
    x = BATCH.astype(np.float32)
    mapped = vmap(sigmoid)
    with np.errstate(all="ignore"):
        assert "libm.expf(" in mapped.inspect_kernel(x)
        result = mapped(x)
        expected = np.stack([mapped.per_example(row) for row in x])
    assert result.dtype == expected.dtype
    assert np.array_equal(result, expected, equal_nan=True)


def test_without_an_exact_libm_exp_fused_code_calls_np_exp(monkeypatch):
    monkeypatch.setattr(libm, "is_exact", lambda name: False)
    mapped = vmap(sigmoid)
    source = mapped.inspect_kernel(BATCH)
    assert "libm" not in source and "np.exp(" in source
    with np.errstate(all="ignore"):
        got = mapped(BATCH)
    assert np.array_equal(got, compiled_loop(sigmoid, BATCH), equal_nan=True)
    numpy_loop_where_it_is_the_c_librarys(sigmoid, BATCH, got)


@exact_here
def test_fastmath_takes_libm_exp_too():
    """``libm.exp`` is faster than ``vecmath.exp`` and has the C library's bits."""
    finite = np.where(np.isfinite(BATCH), BATCH, 0.0)  # fastmath assumes no inf or NaN
    mapped = vmap(sigmoid, fastmath=True)
    source = mapped.inspect_kernel(finite)
    assert "libm.exp_common(" in source and "vecmath" not in source
    with np.errstate(all="ignore"):
        got = mapped(finite)
    assert np.allclose(got, compiled_loop(sigmoid, finite), rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", ["exp", "expf"])
def test_the_probe_warns_about_nothing(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        libm._PROBES[name](libm.probe_arguments())
