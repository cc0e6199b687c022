"""``numbavmap.lower.vecmath`` against NumPy, and its use under ``fastmath=True``.

The bounds asserted here are the ones docs/user-guide/accuracy.md states;
``python -m asv_benchmarks.vecmath_accuracy`` runs the same regions with
10,000,000 samples each.
"""

import numpy as np
import pytest

from asv_benchmarks import vecmath_accuracy as accuracy
from asv_benchmarks import vecmath_speed
from numbavmap import vmap
from numbavmap.lower import libm, vecmath

#: The documented bound, in float64 ulps, of every function over every region.
BOUND = 1


@pytest.mark.parametrize("name", vecmath.__all__)
def test_within_one_ulp_of_numpy_over_the_whole_range(name):
    for region, x in accuracy.samples(name, 20_000, seed=1).items():
        assert accuracy.max_ulps(name, x) <= BOUND, region


@pytest.mark.parametrize("name", vecmath.__all__)
def test_special_values_are_numpys_bit_for_bit(name):
    assert accuracy.special_mismatches(name) == []


def test_ulps_counts_representable_values_between():
    one = np.array([1.0, 1.0, 0.0, -5e-324])
    assert accuracy.ulps(one, np.array([1.0, np.nextafter(1.0, 2.0), -0.0, 5e-324])).tolist() \
        == [0, 1, 0, 2]


def test_the_loop_over_vecmath_is_vectorised():
    loop = accuracy.LOOPS["tanh"]
    loop(np.ones(4))
    assert "x double>" in loop.inspect_llvm(loop.signatures[0])


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def transcendental(x):
    return np.log(x) + np.tanh(x) * np.exp(-x)


def test_default_keeps_the_c_librarys_values():
    f = vmap(transcendental)
    x = np.random.default_rng(2).uniform(0.1, 5.0, (50, 7))
    assert "vecmath" not in f.inspect_kernel(x)
    assert np.array_equal(f(x), np.stack([f.per_example(row) for row in x]))


@pytest.fixture
def without_exact_exp(monkeypatch):
    """Where the C library's ``exp`` is not ``libm.exp`` (another C library), as
    on a CUDA target, ``fastmath=True`` takes ``vecmath.exp``."""
    monkeypatch.setattr(libm, "is_exact", lambda name: False)


def test_fastmath_fuses_with_vecmath_within_the_bound(without_exact_exp):
    f = vmap(softmax, fastmath=True)
    x = np.random.default_rng(3).normal(0.0, 30.0, (50, 16))
    source = f.inspect_kernel(x)
    assert "from numbavmap.lower import vecmath" in source
    assert "vecmath.exp(" in source and "np.exp(" not in source
    want = np.stack([softmax(row) for row in x])
    assert np.allclose(f(x), want, rtol=1e-15, atol=0)


def test_fastmath_takes_vecmath_for_log_and_tanh_and_libm_for_exp_where_exact():
    source = vmap(transcendental, fastmath=True).inspect_kernel(np.ones((3, 4)))
    assert "vecmath.log(" in source and "vecmath.tanh(" in source
    if libm.is_exact("exp"):
        assert "libm.exp" in source and "vecmath.exp(" not in source


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def squash(x):
    return np.tanh(x)


def test_the_jit_entry_fuses_with_vecmath_under_fastmath_only():
    x = np.ones((3, 4))
    assert "vecmath.tanh(" in vmap(squash, fastmath=True).inspect_jit_kernel(x)
    assert "vecmath" not in vmap(squash).inspect_jit_kernel(x)


def exp(x):
    return np.exp(x)


def test_float32_is_computed_in_float64_and_stored_as_float32(without_exact_exp):
    f = vmap(exp, fastmath=True)
    x = np.linspace(-100.0, 80.0, 301, dtype=np.float32).reshape(7, 43)
    assert "np.float32(vecmath.exp(x[i, j0]))" in f.inspect_kernel(x)
    got, c_library = f(x), vmap(exp)(x)
    assert got.dtype == np.float32
    assert np.array_equal(got, np.exp(x.astype(np.float64)).astype(np.float32))
    float32_ulps = np.abs(got.view(np.int32).astype(np.int64) - c_library.view(np.int32))
    assert float32_ulps.max() <= BOUND


@pytest.mark.parametrize("name", vecmath.__all__)
def test_float32_is_float64_numpy_rounded_to_float32(name):
    assert accuracy.float32_max_ulps(name, 20_000, seed=4)["float64 rounded"] == 0


def test_speed_script_implementations_agree():
    x = np.random.default_rng(5).normal(size=(6, 5))
    runs = vecmath_speed._implementations(vecmath_speed.sigmoid, x)
    results = [np.asarray(run(arg)) for run, arg in runs.values()]
    assert all(np.allclose(result, sigmoid(x), rtol=1e-14, atol=0) for result in results)


def test_speed_table_shows_milliseconds_and_ratios_to_jax():
    medians = {"tanh": {"default": 0.3, "fastmath": 0.1, "jax": 0.2}}
    assert vecmath_speed.table(medians).splitlines()[-1] == \
        "| tanh | (200000, 64) | 300.0 ms | 100.0 ms | 200.0 ms | 1.50 | 0.50 |"
