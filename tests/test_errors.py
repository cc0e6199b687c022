"""Every error row of the contract: raised before compiling, naming the argument."""

import collections

import numpy as np
import pytest

from numbavmap import CompileError, vmap


def add(x, y):
    return x + y


ADD = vmap(add, parallel=False)


def python_helper(v):
    """A plain Python function: Numba cannot call it from compiled code."""
    return v.sum()


def test_in_axes_tuple_length_mismatch():
    with pytest.raises(ValueError, match="in_axes has 3 entries but the function was called with 2"):
        vmap(add, in_axes=(0, 0, 0))(np.ones(3), np.ones(3))


def test_axis_out_of_range_names_argument_shape_and_axis():
    with pytest.raises(ValueError) as info:
        vmap(add, in_axes=(0, 2))(np.ones((3, 2)), np.ones((3, 2)))
    message = str(info.value)
    assert "vmap(add, in_axes=(0, 2), out_axes=0)" in message
    assert "in_axes=2 is out of range for argument y of shape (3, 2)" in message


def test_mapped_scalar_is_an_error():
    with pytest.raises(ValueError, match="argument y of type float .*a scalar cannot be mapped"):
        ADD(np.ones(3), 2.0)


def test_inconsistent_sizes_list_every_argument():
    with pytest.raises(ValueError) as info:
        ADD(np.ones((3, 2)), np.ones((4, 2)))
    message = str(info.value)
    assert "argument x of shape (3, 2) has size 3 along axis 0" in message
    assert "argument y of shape (4, 2) has size 4 along axis 0" in message


def test_nothing_mapped_needs_axis_size():
    with pytest.raises(ValueError, match="needs axis_size"):
        vmap(add, in_axes=None)(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="needs axis_size"):
        vmap(lambda: 1.0)()


def test_in_axes_not_a_prefix():
    with pytest.raises(ValueError, match="tree prefix"):
        vmap(add, in_axes=((0, 0), 0))(np.ones(3), np.ones(3))


def test_out_axes_not_a_prefix():
    with pytest.raises(ValueError, match="out_axes specification must be a tree prefix"):
        vmap(add, out_axes=(0, 0))(np.ones(3), np.ones(3))


@pytest.mark.parametrize("value", [{"a": 1}, "text", None, np.array(["a", "b"]),
                                   np.array([object(), object()]), object()])
def test_unsupported_argument_type(value):
    with pytest.raises(TypeError, match="argument y"):
        vmap(add, in_axes=(0, None))(np.ones(3), value)


@pytest.mark.parametrize("spec", [1.0, "0", True, (0, 1.5)])
def test_bad_spec_leaf_is_a_type_error(spec):
    with pytest.raises(TypeError, match="in_axes must be an int, None"):
        vmap(add, in_axes=spec)


def test_bad_out_axes_leaf_is_a_type_error():
    with pytest.raises(TypeError, match="out_axes must be"):
        vmap(add, out_axes=False)


def test_bad_options():
    with pytest.raises(ValueError, match="parallel"):
        vmap(add, parallel="yes")
    with pytest.raises(ValueError, match="axis_size"):
        vmap(add, axis_size=-1)
    with pytest.raises(ValueError, match="target"):
        vmap(add, target="tpu")


def test_compile_error_names_function_file_and_reason():
    def calls_python(v):
        return python_helper(v)

    with pytest.raises(CompileError) as info:
        vmap(calls_python, parallel=False)(np.ones((3, 2)))
    message = str(info.value)
    assert message.startswith("calls_python (")
    assert "test_errors.py:" in message
    assert "Untyped global name 'python_helper'" in message
    assert isinstance(info.value, TypeError)
    assert "During:" not in message


def test_writing_to_an_input_is_a_compile_error_with_a_hint():
    def in_place(v):
        v[0] = 1.0
        return v

    x = np.zeros((3, 2))
    with pytest.raises(CompileError, match="read-only"):
        vmap(in_place, parallel=False)(x)
    assert not x.any()


def test_examples_returning_different_shapes():
    def positives(v):
        return v[v > 0]

    x = np.array([[1.0, 2.0], [1.0, -1.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="example 1 returned the output of shape \\(1,\\)"):
        vmap(positives, parallel=False)(x)


@pytest.mark.parametrize("parallel", [False, True])
def test_exception_in_an_example_is_reraised_with_its_index(parallel):
    def checked_sqrt(v):
        if v[0] < 0:
            raise ValueError("negative input")
        return np.sqrt(v)

    x = np.ones((200, 2))
    x[[37, 150], 0] = -1.0
    with pytest.raises(ValueError, match=r"negative input \(in vmap example 37\)"):
        vmap(checked_sqrt, parallel=parallel)(x)


def test_named_argument_in_container():
    Point = collections.namedtuple("Point", "x y")
    with pytest.raises(TypeError, match=r"argument p\[1\] has type str"):
        vmap(lambda p: p.x, parallel=False)(Point(np.ones(3), "no"))


def test_exception_in_the_trace_keeps_type_and_gets_index_0():
    class Custom(Exception):
        pass

    def fails(v):
        raise Custom("nope")

    with pytest.raises(Custom, match=r"nope \(in vmap example 0\)"):
        vmap(fails)(np.ones((2, 2)))
