"""Fusing NumPy-style per-example code: same results, no per-example allocation."""

import linecache
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from numba.core.runtime import _nrt_python, rtsys

from asv_benchmarks.workloads import distance, normalize, running_sum, sum_of_squares
from numbavmap import CompileError, vmap
from numbavmap.testing import assert_trees_close, loop_reference

WORKLOADS = {
    "W1": (vmap(sum_of_squares), lambda n: (np.random.default_rng(1).normal(size=(n, 3)),)),
    "W3": (vmap(distance, in_axes=(0, None)),
           lambda n: (np.random.default_rng(2).normal(size=(n, 8)), np.arange(8.0))),
    "W4": (vmap(normalize), lambda n: (np.random.default_rng(3).normal(size=(n, 64)),)),
}


def test_fused_kernel_reads_in_place_and_writes_the_output():
    source = WORKLOADS["W4"][0].inspect_kernel(np.ones((4, 64)))
    assert "normalize(" not in source.split("def normalize_kernel")[1]
    assert "part_0 += (v[i, k_0] * v[i, k_0])" in source
    assert "out_0[i, j0] = (v[i, j0] / scalar_0)" in source


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_allocations_do_not_grow_with_the_batch(name):
    f, make = WORKLOADS[name]
    _nrt_python.memsys_enable_stats()

    def allocations(n):
        args = make(n)
        f(*args)
        before = rtsys.get_allocation_stats().alloc
        f(*args)
        return rtsys.get_allocation_stats().alloc - before

    # Serial (small batches) and parallel (large) kernels each allocate a few
    # fixed buffers per call; neither count may depend on the batch size.
    serial = [allocations(n) for n in (10, 100)]
    parallel = [allocations(n) for n in (20_000, 200_000)]
    assert serial[0] == serial[1] < 10
    assert parallel[0] == parallel[1] < 10
    assert_trees_close(f(*make(50)), loop_reference(f.py_func, *make(50),
                                                    in_axes=f.in_axes), rtol=1e-12)


def reversed_running_sum(x):
    return np.cumsum(x)[::-1]


#: Serial bodies with scratch arrays: a stored ``np.cumsum``, a pairwise sum's stack.
SCRATCH = {
    "cumsum": (vmap(reversed_running_sum, parallel=False), 16),
    "sum of 300": (vmap(sum_of_squares, parallel=False), 300),
}


@pytest.mark.parametrize("name", sorted(SCRATCH))
def test_the_serial_loop_allocates_scratch_arrays_once(name):
    f, size = SCRATCH[name]
    _nrt_python.memsys_enable_stats()

    def allocations(x):
        f(x)
        before = rtsys.get_allocation_stats().alloc
        f(x)
        return rtsys.get_allocation_stats().alloc - before

    batches = [np.random.default_rng(n).normal(size=(n, size)) for n in (10, 100)]
    assert "np.empty" in f.inspect_kernel(batches[0])
    assert allocations(batches[0]) == allocations(batches[1]) < 10
    for x in batches:
        assert f(x).tobytes() == loop_reference(f.py_func, x).tobytes()


def running_sum_and_its_reverse(x):
    c = np.cumsum(x)
    return c, c[::-1] * 2.0


def running_sum_or_its_reverse(x):
    c = np.cumsum(x)
    if c[-1] > 0:
        return c
    return c[::-1]


def test_a_returned_scratch_array_is_the_output_itself():
    """A body's one ``return`` of a scratch array fills the output in place; an
    output read after that, or a second ``return``, still gives the loop's values."""
    x = np.random.default_rng(4).normal(size=(30, 16))
    cases = [(vmap(running_sum, out_axes=1), "buffer_0 = out_0[:, i]"),
             (vmap(running_sum_and_its_reverse), "buffer_0 = out_0[i, :]"),
             (vmap(running_sum_or_its_reverse), "buffer_0 = np.empty((16,), np.float64)")]
    for f, line in cases:
        assert line in f.inspect_kernel(x)
        assert_trees_close(f(x), loop_reference(f.py_func, x, out_axes=f.out_axes),
                           rtol=0.0)


def weighted_pair(pair, scale):
    a, b = pair
    return (a * scale[0] + b[::-1] * scale[1]) / len(pair)


def last_minus_first(values):
    return values[-1] - values[0] * 2.0


def by_name(point):
    return point.x * point[-1] + len(point)


def by_unknown_field(point):
    return point.z


Point = namedtuple("Point", "x y")


def test_tuple_list_and_namedtuple_arguments_are_fused_and_read_in_place():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)).astype(np.float32)
    scale = (2.0, np.int64(3))  # an unmapped tuple of scalars
    f = vmap(weighted_pair, in_axes=(0, None))
    assert "body: fused" in f.explain((x, y), scale)
    assert "weighted_pair(" not in f.inspect_kernel((x, y), scale).split("_kernel(")[1]
    got, want = f((x, y), scale), loop_reference(weighted_pair, (x, y), scale, in_axes=(0, None))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype == np.float64
    g = vmap(last_minus_first)
    for values in ([x, y, x], (y, x)):
        assert "body: fused" in g.explain(values)
        got, want = g(values), loop_reference(last_minus_first, values)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    h = vmap(by_name)
    point = Point(x, y)
    assert "body: fused" in h.explain(point)
    got, want = h(point), loop_reference(by_name, point)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype == np.float64
    with pytest.raises(AttributeError, match="no attribute 'z'"):
        vmap(by_unknown_field)(point)  # as in Python, from the trace


def test_unfusable_functions_still_run_by_call():
    def first_positive(v):
        k = 0
        while k < v.shape[0] and v[k] <= 0:
            k += 1
        return k

    f = vmap(first_positive, parallel=False)
    x = np.random.default_rng(0).normal(size=(20, 5))
    assert "result = first_positive(v[i])" in f.inspect_kernel(x)
    assert_trees_close(f(x), loop_reference(first_positive, x))


def test_min_of_empty_example_raises_like_numpy():
    f = vmap(lambda v: np.min(v) + 1.0, parallel=False)
    with pytest.raises(ValueError, match="zero-size array"):
        f(np.ones((3, 0)))


# Random functions built from the fusable subset --------------------------------

UNARY = ["np.sqrt(np.abs({}))", "np.exp(-np.abs({}))", "np.abs({})", "-{}", "np.tanh({})",
         "np.maximum({}, 0.5)", "np.where({} > 0, {}, 2.0)".replace("{}", "{0}")]
BINARY = ["({} + {})", "({} - {})", "({} * {})", "np.minimum({}, {})"]
REDUCE = ["np.sum({})", "np.max({})", "np.mean({})", "{}.sum()", "np.prod({} * 0.5)",
          "np.dot({}, b)", "np.linalg.norm({})"]


@st.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["a", "b", "s", "2.0"]))
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(st.sampled_from(UNARY)).format(draw(expressions(depth - 1)))
    if choice == 1:
        return draw(st.sampled_from(BINARY)).format(draw(expressions(depth - 1)),
                                                    draw(expressions(depth - 1)))
    return "({} + s)".format(draw(st.sampled_from(REDUCE)).format(
        f"(a + {draw(expressions(depth - 1))})"))


@st.composite
def functions(draw):
    array_expr = draw(expressions())
    scalar_expr = draw(st.sampled_from(REDUCE)).format(f"(a + {draw(expressions(2))})")
    source = (f"def f(a, b, s):\n    t = {array_expr}\n    r = {scalar_expr}\n"
              f"    return t * 1.0 + t * 0.5 + a * 0.0, r\n")  # t read twice: stored if heavy
    namespace = {"np": np}
    filename = f"<random function {abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return source, namespace["f"]


_FUSED = {}


# Each random function compiles twice (for its dtypes, then fused): half the
# profile's example count keeps CI fast.
@settings(max_examples=max(5, settings.default.max_examples // 2))
@given(fn=functions(), size=st.integers(0, 4), width=st.integers(0, 4),
       dtype=st.sampled_from([np.float64, np.float32, np.int64]), special=st.booleans())
def test_random_fused_functions_match_the_loop(fn, size, width, dtype, special):
    source, f = fn
    rng = np.random.default_rng(size * 10 + width)
    a = (rng.normal(size=(max(size, 1), width)) * 3).astype(dtype)
    b = (rng.normal(size=(max(size, 1), width)) * 3).astype(dtype)
    if special and dtype != np.int64 and a.size:
        a.flat[0] = np.nan
        b.flat[-1] = np.inf
    if source not in _FUSED:
        _FUSED[source] = vmap(f, in_axes=(0, 0, None), parallel=False)
    vmapped = _FUSED[source]
    with np.errstate(all="ignore"):
        try:
            expected = loop_reference(f, a, b, 1.5, in_axes=(0, 0, None))
        except ValueError:
            with pytest.raises(ValueError, match="zero-size array"):
                vmapped(a, b, 1.5)
            return
        try:
            actual = vmapped(a[:size], b[:size], 1.5)
        except CompileError:
            reject()  # Numba cannot compile it at all (np.dot of mixed dtypes, say)
    assert "= f(" not in vmapped.inspect_kernel(a, b, 1.5), "the subset must fuse"
    if size:
        tolerance = 1e-4 if dtype == np.float32 else 1e-9
        assert_trees_close(actual, expected, rtol=tolerance, atol=tolerance,
                           check_dtype=False)
