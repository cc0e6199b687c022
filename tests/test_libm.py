"""``numbavmap.lower.libm.exp``: the C library's ``exp`` bit for bit, vectorised,
and its use by fused float64 bodies wherever the per-process probe finds it exact."""

import platform
import threading

import numpy as np
import pytest
from numba import njit

from numbavmap import vmap
from numbavmap.lower import libm


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


def test_exact_where_glibcs_fma_build_runs():
    if not GLIBC_FMA:
        pytest.skip("not x86-64 glibc >= 2.28 with FMA")
    assert libm.is_exact()


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


def test_is_exact_answers_the_same_from_many_threads():
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(libm.is_exact()))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [libm.is_exact()] * 4


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


@exact_here
@pytest.mark.parametrize("f", [softmax, sigmoid, logsumexp])
def test_fused_float64_exp_is_libm_and_numpys_loop_bit_for_bit(f):
    mapped = vmap(f)
    assert "libm.exp(" in mapped.inspect_kernel(BATCH)
    with np.errstate(all="ignore"):
        expected = np.stack([f(row) for row in BATCH])
        assert np.array_equal(mapped(BATCH), expected, equal_nan=True)


def test_float32_exp_stays_the_c_librarys_expf():
    with np.errstate(over="ignore"):
        source = vmap(sigmoid).inspect_kernel(BATCH.astype(np.float32))
    assert "libm." not in source and "np.exp(" in source


def test_without_an_exact_libm_exp_fused_code_calls_np_exp(monkeypatch):
    monkeypatch.setattr(libm, "is_exact", lambda: False)
    mapped = vmap(sigmoid)
    source = mapped.inspect_kernel(BATCH)
    assert "libm" not in source and "np.exp(" in source
    with np.errstate(all="ignore"):
        assert np.array_equal(mapped(BATCH), np.stack([sigmoid(row) for row in BATCH]),
                              equal_nan=True)


def test_fastmath_keeps_vecmath():
    assert "vecmath.exp(" in vmap(sigmoid, fastmath=True).inspect_kernel(BATCH)
