"""The compiled entry of a hot call (``numbavmap.targets.cpu_entry``).

A plan called ``HOT_CALLS`` times gets an ``@njit`` entry that runs the whole
call. It must give what the plan gives for its own call shape, hand every
other call back to the plan path unchanged, and be compiled once per vmap,
from any number of threads. ``HOT_CALLS`` is lowered here so that a few
calls make a plan hot.
"""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from numbavmap import vmap
from numbavmap.targets import cpu_entry
from numbavmap.testing import loop_reference

HOT = 3


@pytest.fixture(autouse=True)
def few_hot_calls(monkeypatch):
    monkeypatch.setattr(cpu_entry, "HOT_CALLS", HOT)


def sum_of_squares(v):
    return np.sum(v * v)


def scaled(v, w):
    return v * w[0] + w[1]


def weighted(v, w):
    return v * w + 1.0


def rows(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def make_hot(f, *args, **kwargs):
    """Call ``f(*args, **kwargs)`` until its plan has an entry; the compilations it took."""
    before = f.cache_info().compilations
    for _ in range(HOT + 2):
        f(*args, **kwargs)
    return f.cache_info().compilations - before


def test_a_hot_call_is_compiled_once_and_gives_the_loop_s_values():
    f = vmap(sum_of_squares)
    x = rows((4, 3))
    f(x)  # the kernel
    assert make_hot(f, x) == 1
    assert f._entry is not None
    hits = f.cache_info().hits
    first, second = f(x), f(x)
    np.testing.assert_array_equal(first, loop_reference(sum_of_squares, x))
    assert first is not second and not np.shares_memory(first, second)
    assert first.dtype == np.float64 and first.shape == (4,)
    assert f.cache_info().hits == hits + 2
    assert make_hot(f, x) == 0


def test_other_shapes_and_strides_of_the_same_types_take_the_plan_path():
    f = vmap(scaled, in_axes=(0, None))
    x, w = rows((5, 6))[:, ::2], np.array([2.0, -1.0])  # Numba's 'A' layout
    make_hot(f, x, w)
    entry = f._entry
    assert entry is not None
    calls = [
        (rows((12, 6), seed=1)[:, ::2], w),  # another batch size
        (rows((5, 8), seed=2)[:, ::2], w),  # another example shape
        (rows((5, 9), seed=3)[:, ::3], w),  # other strides
        (rows((10, 6), seed=4)[::2, ::2], w),  # other batch strides
        (x, np.array([3.0, 0.5, 7.0])),  # the unmapped argument's shape
    ]
    for args in calls:
        np.testing.assert_array_equal(f(*args), loop_reference(scaled, *args, in_axes=(0, None)))
    assert f._entry is entry  # same types: the entry said "not mine" and stays
    np.testing.assert_array_equal(f(x, w), loop_reference(scaled, x, w, in_axes=(0, None)))


def test_a_call_of_other_types_retires_the_entry_and_takes_the_plan_path():
    f = vmap(sum_of_squares)
    x = rows((4, 3))
    make_hot(f, x)
    np.testing.assert_array_equal(f(np.asfortranarray(x)), loop_reference(sum_of_squares, x))
    assert f._entry is None  # another layout
    x32 = x.astype(np.float32)
    result = f(x32)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, loop_reference(sum_of_squares, x32))
    readonly = x.copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(f(readonly), loop_reference(sum_of_squares, x))
    assert make_hot(f, x32) == 0  # at most one entry per vmap


def test_keywords_subclasses_and_bad_calls_behave_as_without_an_entry():
    f = vmap(sum_of_squares)
    x = rows((4, 3))
    make_hot(f, x)
    np.testing.assert_array_equal(f(v=x), loop_reference(sum_of_squares, x))
    with pytest.raises(TypeError, match="ndarray subclass"):
        f(np.ma.masked_array(x))
    with pytest.raises(TypeError):
        f(x, x)


def test_a_hot_keyword_call_gets_an_entry_for_its_keywords_only():
    f = vmap(weighted)
    x, w = rows((4, 3)), rows((4, 3), seed=1)
    expected = loop_reference(weighted, x, w)
    f(x, w=w)
    assert make_hot(f, x, w=w) == 1
    assert f._entry_form == ((0,), ("w",), 2)
    hits = f._entry_hits
    np.testing.assert_array_equal(f(x, w=w), expected)
    assert f._entry_hits == hits + 1
    np.testing.assert_array_equal(f(x, w), expected)  # positional: the plan path
    np.testing.assert_array_equal(f(v=x, w=w), expected)
    x6, w6 = rows((6, 3), seed=2), rows((6, 3), seed=3)  # another shape: the entry declines
    np.testing.assert_array_equal(f(x6, w=w6), loop_reference(weighted, x6, w6))
    assert f._entry_hits == hits + 1 and f._entry is not None


def pair_sum(pair):
    a, b = pair
    return np.sum(a * b)


def test_a_hot_call_of_a_tuple_gets_an_entry_for_tuples_only():
    f = vmap(pair_sum)
    x, y = rows((4, 3)), rows((4, 3), seed=1)
    expected = loop_reference(pair_sum, (x, y))
    f((x, y))
    assert make_hot(f, (x, y)) == 1
    assert f._entry_form == ((2,), (), 2)
    hits = f._entry_hits
    np.testing.assert_array_equal(f((x, y)), expected)
    assert f._entry_hits == hits + 1
    np.testing.assert_array_equal(f([x, y]), expected)  # a list: the plan path
    assert f._entry_hits == hits + 1 and f._entry is not None


def test_parallel_launches_get_no_entry():
    f = vmap(sum_of_squares, parallel=True)
    x = rows((4, 3))
    f(x)
    assert make_hot(f, x) == 0
    assert f._entry is None


def test_a_failed_compile_warns_and_every_call_still_runs(monkeypatch):
    def broken(*args):
        raise RuntimeError("no compiler today")

    monkeypatch.setattr(cpu_entry, "compile_entry", broken)
    f = vmap(sum_of_squares)
    x = rows((4, 3))
    f(x)
    with pytest.warns(RuntimeWarning, match="no compiled entry for a hot call.*no compiler today"):
        for _ in range(HOT + 2):
            np.testing.assert_array_equal(f(x), loop_reference(sum_of_squares, x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(HOT + 2):
            f(x)  # warned once, never tried again


def test_threads_making_one_plan_hot_compile_one_entry():
    f = vmap(sum_of_squares)
    x = rows((4, 3))
    expected = loop_reference(sum_of_squares, x)
    f(x)
    before = f.cache_info().compilations
    start = threading.Barrier(8)

    def calls(_):
        start.wait()
        return all(np.array_equal(f(x), expected) for _ in range(50))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(calls, range(8)))
    assert f.cache_info().compilations - before == 1
    assert f._entry is not None


def test_the_entry_source_checks_shapes_and_strides_and_calls_the_kernel():
    f = vmap(sum_of_squares)
    x = rows((4, 3))
    f(x)
    plan = next(iter(f._plans.values()))
    source = cpu_entry.entry_source(plan, [x])
    assert "if v.shape != (4, 3) or v.strides != (24, 8):\n        return None" in source
    assert "out_0 = np.empty((4,), np.float64)" in source
    assert "sum_of_squares_kernel(v, out_0, np.int64(4), np.bool_(False))" in source
