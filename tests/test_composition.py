"""Composition: containers, nested vmap as one loop nest, calls from @njit, the test helper."""

import collections
import linecache

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numbavmap import vmap
from numbavmap.testing import assert_trees_close, assert_vmap_matches_loop, loop_reference

Params = collections.namedtuple("Params", "weights bias")


def affine(x, params):
    return np.sum(x * params.weights) + params.bias


def test_namedtuple_argument_stays_a_namedtuple(capsys):
    def named(x, params):
        print(type(params).__name__)
        return np.sum(x * params.weights) + params.bias  # field access: a namedtuple

    x = np.arange(12.0).reshape(4, 3)
    params = Params(np.arange(12.0).reshape(4, 3), np.arange(4.0))
    result = vmap(named, parallel=False)(x, params)
    assert capsys.readouterr().out == "Params\n"
    assert_trees_close(result, loop_reference(affine, x, params))


def test_prefix_in_axes_inside_a_container():
    x = np.arange(12.0).reshape(4, 3)
    params = Params(np.array([1.0, 2.0, 3.0]), np.arange(4.0))
    in_axes = (0, Params(None, 0))
    result = vmap(affine, in_axes=in_axes, parallel=False)(x, params)
    assert_trees_close(result, loop_reference(affine, x, params, in_axes=in_axes))


def test_list_argument_arrives_as_a_tuple(capsys):
    def first_plus_second(pair):
        print(type(pair).__name__)
        return pair[0] + pair[1]

    x = np.arange(6.0).reshape(3, 2)
    result = vmap(first_plus_second, parallel=False)([x, x * 2])
    assert capsys.readouterr().out == "list\n"  # the trace gets the list itself;
    assert_trees_close(result, x * 3)  # the compiled kernel a tuple (documented)


def test_nested_result_with_prefix_out_axes():
    def stats(v):
        return (np.sum(v), (v * 2, np.max(v)))

    x = np.arange(12.0).reshape(4, 3)
    out_axes = (0, (1, 0))
    result = vmap(stats, out_axes=out_axes, parallel=False)(x)
    assert_trees_close(result, loop_reference(stats, x, out_axes=out_axes))


def test_namedtuple_result():
    Stats = collections.namedtuple("Stats", "total peak")
    f = vmap(lambda v: Stats(np.sum(v), np.max(v)), parallel=False)
    result = f(np.arange(6.0).reshape(2, 3))
    assert isinstance(result, Stats)
    assert_trees_close(result.total, np.array([3.0, 12.0]))


def test_structure_mismatch_shows_spec_and_structure():
    with pytest.raises(ValueError, match=r"in_axes=\(0, \(0, 0, 0\)\).*structure Params\(\*, \*\)"):
        vmap(affine, in_axes=(0, (0, 0, 0)))(np.ones((2, 3)), Params(np.ones((2, 3)), 1.0))


@st.composite
def trees(draw, depth=2):
    """A random container of small float arrays (leading axis 3) and its in_axes prefix."""
    if depth == 0 or draw(st.booleans()):
        if draw(st.booleans()):
            return np.arange(6.0).reshape(3, 2) + draw(st.integers(0, 5)), 0
        return np.arange(2.0) + draw(st.integers(0, 5)), None
    kind = draw(st.sampled_from(["tuple", "list", "namedtuple"]))
    children = [draw(trees(depth - 1)) for _ in range(2)]
    values = [value for value, _ in children]
    specs = tuple(spec for _, spec in children)
    if kind == "list":
        values = list(values)
    elif kind == "namedtuple":
        values = Params(*values)
    if draw(st.booleans()) and all(spec == 0 for spec in specs):
        specs = 0  # a prefix: one int for the whole container
    return values, specs


def _leaf_paths(value, prefix=""):
    """Each leaf's path: ``[k]`` into tuples and lists, ``.field`` into namedtuples."""
    if isinstance(value, Params):
        return [path for field, child in zip(Params._fields, value)
                for path in _leaf_paths(child, f"{prefix}.{field}")]
    if isinstance(value, (tuple, list)):
        return [path for k, child in enumerate(value)
                for path in _leaf_paths(child, f"{prefix}[{k}]")]
    return [prefix]


_TREE_FUNCTIONS = {}


def tree_function(value):
    """``f(x, t) = x + sum of every leaf's sum``, written out for this structure
    (its source registered, so that it is fused)."""
    terms = " + ".join(f"np.sum(t{path})" for path in _leaf_paths(value))
    source = f"def f(x, t):\n    return x + {terms}\n"
    if source not in _TREE_FUNCTIONS:
        namespace = {"np": np}
        filename = f"<tree function {len(_TREE_FUNCTIONS)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)
        _TREE_FUNCTIONS[source] = namespace["f"]
    return _TREE_FUNCTIONS[source]


_VMAPPED = {}


@given(tree=trees())
def test_random_containers_match_the_loop(tree):
    value, spec = tree
    f = tree_function(value)
    in_axes = (0, spec)
    key = (f, repr(in_axes))
    if key not in _VMAPPED:
        _VMAPPED[key] = vmap(f, in_axes=in_axes, parallel=False)
    x = np.arange(3.0)
    assert "body: fused" in _VMAPPED[key].explain(x, value)
    assert_trees_close(_VMAPPED[key](x, value), loop_reference(f, x, value, in_axes=in_axes))


def dist(a, b):
    return np.sqrt(np.sum((a - b) ** 2))


PAIRWISE = vmap(vmap(dist, in_axes=(None, 0)), in_axes=(0, None))


def test_pairwise_distances_one_kernel_one_trace():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3))
    result = PAIRWISE(x, y)
    expected = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(result, expected, rtol=1e-12)
    assert PAIRWISE.cache_info().traces == 1
    source = PAIRWISE.inspect_kernel(x, y)
    assert source.count("@njit(") == 1  # fused: the body runs inline in the kernel
    assert "for i1 in range(n1):" in source
    assert "for i in prange(n0):" in source


def test_nested_axes_compose_like_jax():
    def pair(a, b):
        return a * b, a + b

    inner = vmap(pair, in_axes=(0, None), out_axes=(1, 0))
    outer = vmap(inner, in_axes=(None, 1), out_axes=(0, 2), parallel=False)
    a, b = np.arange(12.0).reshape(4, 3), np.arange(15.0).reshape(3, 5)

    def inner_loop(a_, b_):
        return loop_reference(pair, a_, b_, in_axes=(0, None), out_axes=(1, 0))

    expected = loop_reference(inner_loop, a, b, in_axes=(None, 1), out_axes=(0, 2))
    assert_trees_close(outer(a, b), expected)


def test_nested_inner_error_reports_both_indices():
    def checked(a, b):
        if a > 5:
            raise ValueError("too large")
        return a + b

    f = vmap(vmap(checked, in_axes=(0, None)), in_axes=(0, None), parallel=False)
    with pytest.raises(ValueError, match=r"too large \(in vmap example 1\) \(in vmap example 1\)"):
        f(np.arange(6.0).reshape(2, 3) + np.array([[0.0], [2.0]]), 1.0)


NORMALIZE = vmap(lambda v: v / np.sqrt(np.sum(v * v)))


@numba.njit
def simulation_step(x):
    unit = NORMALIZE(x * 2.0)
    return unit.sum(axis=1)


def test_vmapped_function_called_from_njit():
    x = np.random.default_rng(1).normal(size=(50, 3)) + 5.0
    np.testing.assert_allclose(simulation_step(x), NORMALIZE(x * 2.0).sum(axis=1), rtol=1e-12)


def test_njit_caller_gets_the_example_error():
    @vmap
    def strict(v):
        if v[0] < 0:
            raise ValueError("negative")
        return v[0]

    @numba.njit
    def caller(x):
        return strict(x)

    x = np.ones((4, 2))
    np.testing.assert_allclose(caller(x), np.ones(4))
    x[2, 0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        caller(x)
    assert caller(np.ones((0, 2))).shape == (0,)


def test_assert_vmap_matches_loop_passes_and_reports_the_first_difference():
    assert_vmap_matches_loop(dist, np.ones((3, 2)), np.zeros(2), in_axes=(0, None))

    def fortieth_power(v):
        # Python's ints are exact; Numba's int64 wraps around past 2**63.
        return float(int(v[0]) ** 40)

    with pytest.raises(AssertionError, match="differs from the Python loop at example 2"):
        assert_vmap_matches_loop(fortieth_power, np.array([[0.0], [1.0], [3.0]]))


def centered(v):
    return v - np.mean(v)


CENTERED = vmap(centered, in_axes=0, out_axes=1)
DIFFERENCE = vmap(lambda a, b: a - b)


@numba.njit
def centered_then_difference(x, y):
    return CENTERED(x), DIFFERENCE(x, y)


def test_njit_caller_runs_the_fused_kernel_with_the_python_paths_auto_rule():
    x = np.random.default_rng(2).normal(size=(20, 4))
    wrapper = CENTERED.inspect_jit_kernel(x)
    assert "fused loops per example" in wrapper
    assert "first = " not in wrapper  # outputs are sized from the arguments, not example 0
    assert "auto_parallel(n, work)" in wrapper and "work = 1 + v.shape[1]" in wrapper
    assert "fused loops per example" in CENTERED.inspect_kernel(x)
    centered_out, difference = centered_then_difference(x, x[:, :1])
    np.testing.assert_array_equal(centered_out, CENTERED(x))
    np.testing.assert_array_equal(difference, DIFFERENCE(x, x[:, :1]))


def test_njit_caller_does_not_fuse_what_depends_on_run_time_shapes():
    # a - b broadcasts (4,) against (1,) here: the fused loop would assume equal shapes.
    x = np.ones((3, 4))
    wrapper = DIFFERENCE.inspect_jit_kernel(x, x[:, :1])
    assert "not fused" in wrapper and "first = " in wrapper
