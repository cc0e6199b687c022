"""Any input layout works; inputs are never written; a failed call changes nothing."""

import numpy as np
import pytest

from numbavmap import vmap
from numbavmap.testing import assert_trees_close, loop_reference


def normalize(v):
    return v / np.sqrt(np.sum(v * v))


def first_positive(v):
    for k in range(v.shape[0]):
        if v[k] > 0:
            return v[k]
    return 0.0


NORMALIZE = vmap(normalize, parallel=False)
NORMALIZE_COLUMNS = vmap(normalize, in_axes=1, parallel=False)


def base():
    return np.arange(1.0, 49.0).reshape(8, 6)


LAYOUTS = {
    "C": lambda: base(),
    "Fortran": lambda: np.asfortranarray(base()),
    "strided": lambda: base()[::2, ::2],
    "negative strides": lambda: base()[::-1, ::-1],
    "transposed": lambda: base().T.copy().T,
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("f, in_axes", [(NORMALIZE, 0), (NORMALIZE_COLUMNS, 1)])
def test_layouts_match_the_loop(layout, f, in_axes):
    x = LAYOUTS[layout]()
    assert_trees_close(f(x), loop_reference(normalize, x, in_axes=in_axes))


def test_read_only_input():
    x = base()
    x.flags.writeable = False
    assert_trees_close(NORMALIZE(x), loop_reference(normalize, x))


def unaligned(x):
    """A copy of ``x`` whose data starts one byte past an aligned address."""
    buffer = np.empty(x.nbytes + 1, np.uint8)
    copy = np.ndarray(x.shape, x.dtype, buffer=buffer, offset=1)
    copy[...] = x
    return copy


def read_only(x):
    view = x.view()
    view.flags.writeable = False
    return view


@pytest.mark.parametrize("first", [lambda x: x, read_only], ids=["writable", "read-only"])
@pytest.mark.parametrize("function", [normalize, first_positive])
def test_flags_of_a_stored_plans_layout_keep_their_meaning(function, first):
    # Same shape, strides and dtype as the first call, so the same plan key,
    # but other flags (Numba types read-only arrays apart): each call still
    # gives the loop's result.
    f = vmap(function, parallel=False)
    x = base()
    for variant in (first(x), read_only(x), unaligned(x), x, unaligned(x), read_only(x)):
        assert variant.strides == x.strides
        assert_trees_close(f(variant), loop_reference(function, variant))


def test_inputs_are_not_written():
    x = base()
    before = x.copy()
    result = NORMALIZE(x)
    np.testing.assert_array_equal(x, before)
    assert x.flags.writeable
    assert not np.shares_memory(result, x)


def test_failed_call_changes_nothing():
    def fails_on_last(v):
        if v[0] > 40:
            raise ArithmeticError("too big")
        return v * 2

    x = base()
    before = x.copy()
    with pytest.raises(ArithmeticError, match="example 7"):
        vmap(fails_on_last, parallel=False)(x)
    np.testing.assert_array_equal(x, before)


def test_empty_batch_returns_typed_empty_outputs():
    def stats(v):
        return np.sum(v), v * 2

    f = vmap(stats, out_axes=(0, 1), parallel=False)
    total, doubled = f(np.empty((0, 3), np.float32))
    assert total.shape == (0,) and total.dtype == np.float32
    assert doubled.shape == (3, 0) and doubled.dtype == np.float32


def test_empty_batch_unmapped_output():
    f = vmap(lambda v, c: (np.sum(v), c + 1), in_axes=(0, None), out_axes=(0, None),
             parallel=False)
    total, constant = f(np.empty((0, 3)), np.arange(2))
    assert total.shape == (0,)
    np.testing.assert_array_equal(constant, np.arange(2) + 1)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                   np.uint16, np.uint32, np.uint64, np.float32, np.float64,
                                   np.complex64, np.complex128])
def test_every_dtype(dtype):
    f = vmap(lambda v: v[::-1], parallel=False)
    x = (np.arange(12) % 3).astype(dtype).reshape(4, 3)
    result = f(x)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, x[:, ::-1])
