"""The "Inputs" contract: which arguments are accepted, converted or rejected,
the empty batch, and the options checked when ``vmap`` is called."""

import collections

import numpy as np
import pytest

from numbavmap import vmap
from numbavmap.testing import assert_vmap_matches_loop


def scale(x, c):
    return x * c


def total_and_constant(x, c):
    return np.sum(x), c * 2.0


def checked_total_and_constant(x, c):
    if x[0] == 0.0:
        raise ValueError("zero first element")
    return np.sum(x), c * 2.0


def pick(v):
    return v[int(v[0])]


SCALE = vmap(scale, in_axes=(0, None), parallel=False)
UNMAPPED_OUT = vmap(total_and_constant, in_axes=(0, None), out_axes=(0, None), parallel=False)
CHECKED_UNMAPPED_OUT = vmap(checked_total_and_constant, in_axes=(0, None), out_axes=(0, None),
                            parallel=False)
CHECKED_PICK = vmap(pick, boundscheck=True, parallel=False)


def assert_rejected_before_tracing(vmapped, error, match, *args):
    traces = vmapped.cache_info().traces
    with pytest.raises(error, match=match):
        vmapped(*args)
    assert vmapped.cache_info().traces == traces


# -- empty batch ---------------------------------------------------------------------


def test_empty_batch_unmapped_output_comes_from_this_call():
    c = np.array([1.0, 2.0])
    UNMAPPED_OUT(np.ones((3, 2)), c)
    _, constant = UNMAPPED_OUT(np.ones((0, 2)), c + 10.0)
    np.testing.assert_array_equal(constant, [22.0, 24.0])


def test_empty_batch_unmapped_output_is_never_the_input():
    def identity_c(x, c):
        return x, c

    c = np.array([1.0, 2.0])
    _, result = vmap(identity_c, in_axes=(0, None), out_axes=(0, None), parallel=False)(
        np.ones((0, 3)), c)
    assert result is not c and not np.shares_memory(result, c)
    np.testing.assert_array_equal(result, c)


def test_empty_batch_error_does_not_blame_example_0():
    with pytest.raises(ValueError, match="empty batch's output could not be determined") as info:
        vmap(checked_total_and_constant, in_axes=(0, None))(np.ones((0, 2)), 1.0)
    assert "example 0" not in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_empty_batch_error_when_rerun_for_an_unmapped_output():
    CHECKED_UNMAPPED_OUT(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="empty batch's output could not be determined") as info:
        CHECKED_UNMAPPED_OUT(np.ones((0, 2)), np.ones(2))
    assert "example 0" not in str(info.value)


# -- arrays: subclasses, byte order, dtypes -------------------------------------------


@pytest.mark.parametrize("value", [np.ma.masked_array([1.0, 2.0], mask=[False, True]),
                                   np.ones((1, 2)).view(np.matrix)])
def test_ndarray_subclass_is_a_type_error(value):
    match = f"argument x is a numpy.*{type(value).__name__}"
    assert_rejected_before_tracing(SCALE, TypeError, match, value, 2.0)


def test_memmap_is_a_plain_array(tmp_path):
    data = np.memmap(tmp_path / "data.bin", dtype=np.float64, mode="w+", shape=(3, 2))
    data[:] = 1.5
    np.testing.assert_array_equal(SCALE(data, 2.0), np.full((3, 2), 3.0))


def test_big_endian_arrays_are_converted_on_every_call():
    x = np.arange(6.0).reshape(3, 2).astype(">f8")
    for _ in range(2):  # the second call takes the cached fast path
        np.testing.assert_array_equal(SCALE(x, 2.0), 2.0 * np.arange(6.0).reshape(3, 2))
    assert x.dtype == np.dtype(">f8")


def test_big_endian_unmapped_and_in_containers():
    def weighted(pair, w):
        return pair[0] * w + pair[1]

    x = np.arange(6, dtype=">i4").reshape(3, 2)
    w = np.array([2, 3], dtype=">i8")
    assert_vmap_matches_loop(weighted, (x, x), w, in_axes=((0, 0), None))


@pytest.mark.parametrize("value", [np.ones(3, np.float16), np.ones(3, np.longdouble),
                                   np.ones(3, np.clongdouble)])
def test_unsupported_array_dtype_is_a_type_error(value):
    match = f"argument x is an array of dtype {value.dtype}"
    assert_rejected_before_tracing(SCALE, TypeError, match, value, 2.0)


@pytest.mark.parametrize("value", [np.float16(2.0), np.longdouble(2.0)])
def test_unsupported_scalar_dtype_is_a_type_error(value):
    assert_rejected_before_tracing(SCALE, TypeError,
                                   f"argument c is a NumPy scalar of dtype {value.dtype}",
                                   np.ones(3), value)


# -- Python ints beyond int64 -----------------------------------------------------------


@pytest.mark.parametrize("value", [2**70, 2**63, -(2**63) - 1])
def test_too_big_int_names_the_argument_on_every_call(value):
    SCALE(np.ones(3), 2)  # a cached plan for (array, int) exists
    for _ in range(2):
        assert_rejected_before_tracing(SCALE, OverflowError,
                                       "vmap\\(scale.*argument c is the Python int", np.ones(3),
                                       value)


def test_first_call_with_a_too_big_int_names_the_argument():
    fresh = vmap(scale, in_axes=(0, None), parallel=False)
    assert_rejected_before_tracing(fresh, OverflowError, "argument c .*does not fit in int64",
                                   np.ones(3), 2**70)


# -- namedtuples with the same name -------------------------------------------------------


def test_namedtuple_classes_with_the_same_name():
    first = collections.namedtuple("Point", "x y")
    second = collections.namedtuple("Point", "a b")

    def combine(p, q):
        total = p.x * q.a + p.y
        k = 0
        while k < 1:  # not fused: the kernel calls combine with both classes rebuilt
            k += 1
        return total - q.b

    p = first(np.arange(3.0), np.ones(3))
    q = second(np.full(3, 2.0), np.full(3, 5.0))
    assert_vmap_matches_loop(combine, p, q)
    source = vmap(combine).inspect_kernel(p, q)
    assert "Point(" in source and "Point_(" in source


# -- print without source -------------------------------------------------------------------


def test_print_keywords_in_a_function_without_source(capsys):
    namespace = {"np": np}
    exec("def chatty(v):\n"
         "    print('shape', v.shape, sep=': ', end='', flush=True)\n"
         "    return np.sum(v)\n", namespace)
    result = vmap(namespace["chatty"], parallel=False)(np.ones((4, 2)))
    np.testing.assert_array_equal(result, np.full(4, 2.0))
    assert capsys.readouterr().out == "shape: (2,)"


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("axis_size", [3.0, True, "3", np.float64(3.0)])
def test_axis_size_must_be_an_int(axis_size):
    with pytest.raises(TypeError, match="axis_size must be an int"):
        vmap(scale, axis_size=axis_size)


def test_axis_size_accepts_numpy_ints():
    assert vmap(scale, axis_size=np.int32(3)).axis_size == 3


@pytest.mark.parametrize("parallel", [0, 1, np.bool_(True), "Auto", None])
def test_parallel_must_be_auto_true_or_false(parallel):
    with pytest.raises(ValueError, match="parallel must be 'auto', True or False"):
        vmap(scale, parallel=parallel)


def test_boundscheck_must_be_none_or_bool():
    with pytest.raises(TypeError, match="boundscheck must be None, True or False"):
        vmap(scale, boundscheck="yes")


# -- boundscheck -------------------------------------------------------------------------------


def test_boundscheck_raises_index_error_with_the_example_index():
    x = np.zeros((4, 3))
    x[:, 0] = [1.0, 2.0, 7.0, 0.0]
    with pytest.raises(IndexError, match=r"\(in vmap example 2\)"):
        CHECKED_PICK(x)
    x[2, 0] = 2.0
    np.testing.assert_array_equal(CHECKED_PICK(x), [0.0, 0.0, 0.0, 0.0])
    assert "boundscheck=True" in CHECKED_PICK.inspect_kernel(x)


# -- testing helper ------------------------------------------------------------------------------


def test_assert_vmap_matches_loop_checks_dtypes():
    def double(v):
        return v * 2.0

    singles = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(AssertionError, match="dtype float64 != float32"):
        assert_vmap_matches_loop(double, singles)
    assert_vmap_matches_loop(double, singles, check_dtype=False)
