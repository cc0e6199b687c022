"""Specialization cache: counters, what re-traces, parallel modes, cache=True on disk."""

import os
import subprocess
import sys
import textwrap
from collections import namedtuple

import numba
import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

from numbavmap import execute, vmap
from numbavmap.api import compiled_entry
from numbavmap.testing import assert_trees_close, loop_reference


def sum_of_squares(v):
    return np.sum(v**2)


def test_new_batch_size_neither_traces_nor_compiles():
    f = vmap(sum_of_squares)
    f(np.ones((4, 3)))
    first = f.cache_info()
    assert (first.traces, first.hits, first.currsize) == (1, 0, 1)
    assert first.compilations >= 1
    f(np.ones((100_000, 3)))
    f(np.ones((7, 3)))
    second = f.cache_info()
    assert second.traces == 1
    assert second.compilations == first.compilations
    assert second.hits == 2


def test_new_shape_or_dtype_traces_again():
    f = vmap(sum_of_squares, parallel=False)
    f(np.ones((4, 3)))
    f(np.ones((4, 5)))
    f(np.ones((4, 5), np.float32))
    f(np.asfortranarray(np.ones((4, 5, 2))))
    info = f.cache_info()
    assert info.traces == 4 and info.currsize == 4 and info.hits == 0


@pytest.mark.parametrize("parallel", ["auto", True, False])
def test_parallel_modes_agree(parallel):
    x = np.random.default_rng(0).normal(size=(5000, 7))
    f = vmap(sum_of_squares, parallel=parallel)
    assert_trees_close(f(x), loop_reference(sum_of_squares, x), rtol=1e-12)
    assert_trees_close(f(x[:3]), loop_reference(sum_of_squares, x[:3]), rtol=1e-12)


Pair = namedtuple("Pair", "a b")
OtherPair = namedtuple("OtherPair", "a b")


def weighted(pair, scale=1.0):
    return np.sum(pair[0] * pair[1]) * scale


def _fails_if_called(*args, **kwargs):
    raise AssertionError("a stored plan's call bound its arguments again")


def test_keyword_and_container_calls_reuse_their_plan_and_keep_their_meaning():
    x = np.random.default_rng(1).normal(size=(6, 3))
    y = x[::-1].copy()
    mapped, scaled = vmap(weighted), vmap(weighted, in_axes=(0, None))
    calls = [
        (mapped, ((x, y),), {}), (mapped, ([x, y],), {}), (mapped, (Pair(x, y),), {}),
        (mapped, (OtherPair(x, y),), {}), (mapped, ((x, y),), {"scale": y}),
        (mapped, ((x, y), y), {}), (scaled, ((x, y), 2.0), {}), (scaled, ((x, y), 2), {}),
    ]
    expected = [loop_reference(weighted, *args, in_axes=f.in_axes, **kwargs)
                for f, args, kwargs in calls]
    for (f, args, kwargs), want in zip(calls, expected):
        assert_trees_close(f(*args, **kwargs), want, rtol=1e-12)
    for f in (mapped, scaled):  # the second round must not bind again: it finds its plan
        f._bind = _fails_if_called
    for (f, args, kwargs), want in zip(calls, expected):
        assert_trees_close(f(*args, **kwargs), want, rtol=1e-12)
    # Each container kind, keyword or scalar type is its own key.
    assert (mapped.cache_info().traces, mapped.cache_info().hits) == (6, 6)
    assert (scaled.cache_info().traces, scaled.cache_info().hits) == (2, 2)


def test_a_stored_plan_calls_the_compiled_kernel_without_numbas_dispatch():
    f = vmap(sum_of_squares, parallel=False)
    x = np.ones((4, 3))
    f(x)
    (plan,) = f._plans.values()
    (kernel,) = f._kernels.values()
    assert not isinstance(plan.kernel, Dispatcher)
    assert plan.kernel is kernel.overloads[kernel.signatures[0]].entry_point
    np.testing.assert_array_equal(f(x), np.full(4, 3.0))


def test_compiled_entry_is_the_dispatcher_for_arguments_it_converts():
    @numba.njit("int64(int64)")
    def double(value):
        return 2 * value

    assert compiled_entry(double, (np.int64(3),)) is double.overloads[(numba.int64,)].entry_point
    assert double(np.int32(3)) == 6 and len(double.signatures) == 1  # converted, not compiled
    assert compiled_entry(double, (np.int32(3),)) is double


def first_positive(v):
    for k in range(v.shape[0]):
        if v[k] > 0:
            return v[k]
    return 0.0


def test_a_stored_plan_of_a_call_into_user_code_makes_no_read_only_views(monkeypatch):
    # Its compiled function was typed for read-only views at the first call.
    f = vmap(first_positive, parallel=False)
    x = np.array([[-1.0, 2.0], [3.0, -4.0], [-5.0, -6.0]])
    f(x)
    monkeypatch.setattr(execute, "kernel_value", _fails_if_called)
    np.testing.assert_array_equal(f(x), [2.0, 3.0, 0.0])
    assert x.flags.writeable


def test_kernel_source_shows_the_loop():
    x = np.ones((4, 3))
    auto = vmap(first_positive).inspect_kernel(x)
    assert "for i in prange(n0):" in auto
    assert "for i in range(n0):" in auto
    assert "result = first_positive(v[i])" in auto
    assert "out_0[i] = result" in auto
    serial = vmap(first_positive, in_axes=1, out_axes=0, parallel=False).inspect_kernel(x)
    assert "prange(" not in serial.split("def first_positive_kernel")[1]
    assert "result = first_positive(v[:, i])" in serial


def test_call_path_compiles_the_example_function_once():
    """prange's index is unsigned: the kernel passes np.intp(i), so the example
    function compiles for one index type; the status array comes from the caller."""
    f = vmap(first_positive, parallel=True)
    x = np.random.default_rng(1).normal(size=(20_000, 3))
    assert_trees_close(f(x), loop_reference(first_positive, x))
    (kernel,) = f._kernels.values()
    assert len(kernel.py_func.__globals__["first_positive_example"].signatures) == 1
    assert "np.empty" not in f.inspect_kernel(x)


def test_fastmath_is_passed_to_numba():
    source = vmap(sum_of_squares, fastmath=True, parallel=False).inspect_kernel(np.ones((2, 2)))
    assert "fastmath=True" in source


SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from numbavmap import vmap
    from cached_function import sum_of_cubes

    f = vmap(sum_of_cubes, cache=True)
    print(f(np.arange(12.0).reshape(4, 3)).tolist())
    print(f.cache_info().compilations)
    """
)


def test_cache_true_persists_across_processes(tmp_path):
    (tmp_path / "cached_function.py").write_text(
        "import numpy as np\n\ndef sum_of_cubes(v):\n    return np.sum(v ** 3)\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba_cache"),
               PYTHONPATH=str(tmp_path))

    def run():
        done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path,
                              capture_output=True, text=True, check=True)
        values, compilations = done.stdout.strip().splitlines()
        return values, int(compilations)

    first_values, first_compilations = run()
    second_values, second_compilations = run()
    assert first_values == second_values == "[9.0, 216.0, 1071.0, 3060.0]"
    assert first_compilations >= 1
    assert second_compilations == 0
    assert list((tmp_path / "numba_cache" / "numbavmap").glob("numbavmap_kernel_*.py"))


def test_disk_cache_key_names_the_libraries_fused_code_reproduces(monkeypatch):
    """A SciPy (LAPACK) or C library upgrade must not load a specialization fused
    against the old one's bits: its file name changes with them."""
    from numbavmap import cache

    before = cache.spec_path("fingerprint", ("key",), [])
    monkeypatch.setattr(cache, "probed_libraries", lambda: (("glibc", "9.99"), "1.17.1"))
    assert cache.spec_path("fingerprint", ("key",), []) != before
