"""The decorator's spellings, attributes, in_axes / out_axes and result kinds."""

import numpy as np
import pytest

from numbavmap import VmappedFunction, vmap
from numbavmap.testing import assert_trees_close, loop_reference


def sum_of_squares(v):
    """Sum of squares of one vector."""
    return np.sum(v**2)


def scale_and_total(x, c):
    return x * c, np.sum(x) + c[0]


SUM = vmap(sum_of_squares)
SCALE = vmap(scale_and_total, in_axes=(1, None), out_axes=(0, -1), parallel=False)


def test_four_spellings_agree():
    batch = np.arange(12.0).reshape(4, 3)
    expected = loop_reference(sum_of_squares, batch)

    @vmap
    def decorated(v):
        return np.sum(v**2)

    @vmap(in_axes=0, out_axes=0, parallel=False)
    def decorated_factory(v):
        return np.sum(v**2)

    for f in (SUM, vmap(sum_of_squares, in_axes=(0,), parallel=False), decorated, decorated_factory):
        assert isinstance(f, VmappedFunction)
        assert_trees_close(f(batch), expected)


def test_wraps_the_function():
    assert SUM.__name__ == "sum_of_squares"
    assert SUM.__doc__ == "Sum of squares of one vector."
    assert SUM.__wrapped__ is sum_of_squares
    assert SUM.py_func is sum_of_squares
    assert (SCALE.in_axes, SCALE.out_axes) == ((1, None), (0, -1))


def test_list_in_axes_is_a_tuple():
    f = vmap(scale_and_total, in_axes=[1, None], out_axes=(0, -1), parallel=False)
    x, c = np.arange(15.0).reshape(3, 5), np.arange(3.0)
    assert_trees_close(f(x, c), SCALE(x, c))


def test_tuple_result_with_per_output_axes():
    x, c = np.arange(15.0).reshape(3, 5), np.array([2.0, 3.0, 4.0])
    expected = loop_reference(scale_and_total, x, c, in_axes=(1, None), out_axes=(0, -1))
    result = SCALE(x, c)
    assert isinstance(result, tuple)
    assert result[0].shape == (5, 3)
    assert_trees_close(result, expected)


@pytest.mark.parametrize("out_axes", [0, 1, 2, -1, -2, -3])
def test_array_result_out_axes(out_axes):
    def outer(a):
        return np.outer(a, a[:2])

    x = np.arange(12.0).reshape(4, 3)
    result = vmap(outer, out_axes=out_axes, parallel=False)(x)
    assert_trees_close(result, loop_reference(outer, x, out_axes=out_axes))


def test_negative_in_axis():
    x = np.arange(24.0).reshape(2, 3, 4)
    assert_trees_close(vmap(sum_of_squares, in_axes=-1, parallel=False)(x),
                       loop_reference(sum_of_squares, x, in_axes=-1))


def test_numpy_integer_in_axes():
    x = np.arange(6.0).reshape(2, 3)
    assert_trees_close(vmap(sum_of_squares, in_axes=np.int64(1), parallel=False)(x),
                       loop_reference(sum_of_squares, x, in_axes=1))


def test_keyword_arguments_are_mapped_over_axis_0():
    def weighted(x, w):
        return np.sum(x * w)

    x, w = np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3) + 1
    f = vmap(weighted, in_axes=(None,), parallel=False)
    assert_trees_close(f(x[0], w=w), loop_reference(weighted, x[0], in_axes=(None,), w=w))


def test_scalar_arguments_unmapped():
    def affine(x, a, b):
        return a * x + b

    x = np.arange(6.0).reshape(3, 2)
    f = vmap(affine, in_axes=(0, None, None), parallel=False)
    for a, b in [(2, 1.5), (np.float32(2.0), True)]:
        assert_trees_close(f(x, a, b), loop_reference(affine, x, a, b, in_axes=(0, None, None)))


def test_axis_size_when_nothing_is_mapped():
    def constant(x):
        return x * 2.0

    result = vmap(constant, in_axes=None, axis_size=3, parallel=False)(np.arange(2.0))
    assert_trees_close(result, np.tile(np.arange(2.0) * 2, (3, 1)))


def test_axis_size_with_no_arguments():
    result = vmap(lambda: 7, axis_size=4, parallel=False)()
    assert_trees_close(result, np.full(4, 7, dtype=np.int64))


def test_axis_size_must_agree():
    with pytest.raises(ValueError, match="axis_size=5 disagrees"):
        vmap(sum_of_squares, axis_size=5)(np.ones((4, 3)))


def test_unmapped_output_returned_once():
    def with_constant(x, c):
        return np.sum(x), c * 2

    f = vmap(with_constant, in_axes=(0, None), out_axes=(0, None), parallel=False)
    total, doubled = f(np.ones((4, 3)), np.arange(3.0))
    assert_trees_close(total, np.full(4, 3.0))
    assert_trees_close(doubled, np.arange(3.0) * 2)


def test_unmapped_output_that_varies_is_an_error():
    f = vmap(lambda x: x * 2, out_axes=None, parallel=False)
    with pytest.raises(ValueError, match="example 1 returned a different value"):
        f(np.arange(3.0))


def test_batch_independent_output_is_broadcast():
    f = vmap(lambda x, c: c + 1.0, in_axes=(0, None), parallel=False)
    assert_trees_close(f(np.ones((3, 2)), np.arange(2.0)), np.tile(np.arange(2.0) + 1, (3, 1)))


def test_dtype_is_numbas_result_dtype():
    assert vmap(lambda v: np.sum(v), parallel=False)(np.ones((3, 2), np.int32)).dtype == np.int64
    assert vmap(lambda v: v * 2, parallel=False)(np.ones((3, 2), np.float32)).dtype == np.float32
    assert vmap(lambda v: v[0] > 0, parallel=False)(np.ones((3, 2))).dtype == np.bool_


def test_identity_returns_a_copy():
    x = np.arange(6.0).reshape(3, 2)
    result = vmap(lambda v: v, parallel=False)(x)
    assert not np.shares_memory(result, x)
    result[0, 0] = 100.0
    assert x[0, 0] == 0.0


def test_print_happens_once_per_specialization(capsys):
    def noisy(v):
        print("tracing", v.shape)
        return np.sum(v)

    f = vmap(noisy, parallel=False)
    f(np.ones((50, 3)))
    f(np.ones((70, 3)))
    assert capsys.readouterr().out == "tracing (3,)\n"
    f(np.ones((5, 4)))
    assert capsys.readouterr().out == "tracing (4,)\n"


def test_side_effects_run_once_in_the_trace(capsys, caplog):
    import logging

    def chatty(v):
        print(f"first value {v[0]:.1f}")
        logging.getLogger("numbavmap.tests").warning("tracing")
        return np.sum(v) + 1.0 / v[1]

    result = vmap(chatty, parallel=False)(np.array([[1.0, 2.0], [3.0, 0.0], [5.0, 4.0]]))
    assert capsys.readouterr().out == "first value 1.0\n"
    assert [record.message for record in caplog.records] == ["tracing"]
    np.testing.assert_allclose(result, [3.5, np.inf, 9.25])


def test_closures_are_compiled_with_their_values():
    scale = 3.0

    def scaled_max(v):
        return (v * scale).max()

    x = np.arange(6.0).reshape(3, 2)
    assert_trees_close(vmap(scaled_max, parallel=False)(x), loop_reference(scaled_max, x))


def test_partial_is_rejected_clearly():
    import functools

    with pytest.raises(TypeError, match="functools.partial"):
        vmap(functools.partial(scale_and_total, c=np.ones(3)))


def test_inspect_kernel_is_not_a_cache_hit():
    f = vmap(sum_of_squares, parallel=False)
    x = np.ones((3, 2))
    f.inspect_kernel(x)
    f.inspect_kernel(x)
    assert f.cache_info().hits == 0 and f.cache_info().traces == 1
