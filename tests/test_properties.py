"""Property tests: vmap equals the plain Python loop over examples.

Random per-example shapes (ranks 0-3, empty dimensions included), dtypes,
layouts, in_axes and out_axes. The loop reference (np.take per argument,
call, np.stack along out_axes) is the definition of correct.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numbavmap import vmap
from numbavmap.testing import assert_trees_close, loop_reference

DTYPES = [np.int32, np.int64, np.float32, np.float64, np.complex128]


def affine(a):
    return a * 2 + 1


def difference_and_dot(a, b):
    return a - b, np.sum(a * b)


# One VmappedFunction per (function, in_axes, out_axes): each keeps its
# compiled specializations across examples, as a user's would.
_CACHE = {}


def mapped(f, in_axes, out_axes):
    key = (f, in_axes, out_axes)
    if key not in _CACHE:
        _CACHE[key] = vmap(f, in_axes=in_axes, out_axes=out_axes, parallel=False)
    return _CACHE[key]


@st.composite
def examples(draw, rank=None):
    """(per-example shape, dtype) for one argument."""
    rank = draw(st.integers(0, 3)) if rank is None else rank
    shape = tuple(draw(st.lists(st.integers(0, 3), min_size=rank, max_size=rank)))
    return shape, draw(st.sampled_from(DTYPES))


@st.composite
def batched(draw, shape, dtype, size):
    """A batch of examples of ``shape`` stacked along a random axis, in a random layout."""
    axis = draw(st.integers(-(len(shape) + 1), len(shape)))
    full = list(shape)
    full.insert(axis % (len(shape) + 1), size)
    values = np.random.default_rng(draw(st.integers(0, 2**16))).integers(-5, 6, size=full)
    array = values.astype(dtype)
    layout = draw(st.sampled_from(["C", "F", "reversed", "strided"]))
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "reversed":
        array = array[::-1]
    elif layout == "strided":
        array = np.repeat(array, 2, axis=0)[::2]
    return array, axis


@given(data=st.data())
def test_elementwise_matches_loop(data):
    shape, dtype = data.draw(examples())
    size = data.draw(st.integers(1, 4))
    x, in_axis = data.draw(batched(shape, dtype, size))
    out_axis = data.draw(st.integers(-(len(shape) + 1), len(shape)))
    result = mapped(affine, in_axis, out_axis)(x)
    expected = loop_reference(affine, x, in_axes=in_axis, out_axes=out_axis)
    assert_trees_close(result, expected, rtol=1e-6, check_dtype=False)


@given(data=st.data())
def test_two_arguments_tuple_output_match_loop(data):
    shape, dtype = data.draw(examples())
    size = data.draw(st.integers(1, 4))
    a, a_axis = data.draw(batched(shape, dtype, size))
    if data.draw(st.booleans()):
        b, b_axis = data.draw(batched(shape, dtype, size))
    else:
        b, b_axis = np.arange(np.prod(shape), dtype=dtype).reshape(shape), None
    out_axes = (data.draw(st.integers(-(len(shape) + 1), len(shape))), 0)
    f = mapped(difference_and_dot, (a_axis, b_axis), out_axes)
    expected = loop_reference(difference_and_dot, a, b, in_axes=(a_axis, b_axis),
                              out_axes=out_axes)
    assert_trees_close(f(a, b), expected, rtol=1e-6, check_dtype=False)
