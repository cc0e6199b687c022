"""Tracing: run the Python function once, on one example, to learn its result.

The trace gives the result's structure and per-example shapes; Python side
effects (``print``) happen here and only here. Dtypes come from Numba (see
``example_function.result_type``), so they are the dtypes the kernel writes.
"""

from __future__ import annotations

import numpy as np

from .calls import BoundCall
from .errors import for_empty_batch, with_example_index
from .trees import flatten, unflatten


def example_leaves(call: BoundCall, index: int) -> list:
    """Example ``index`` of every leaf: a copy along its mapped axis, or the whole value."""
    return [
        value if axis is None else np.take(value, index, axis=axis)
        for value, axis in zip(call.leaves, call.axes)
    ]


def zero_example_leaves(call: BoundCall) -> list:
    """A zero-filled example, for tracing an empty batch."""
    return [
        value if axis is None
        else np.zeros(value.shape[:axis] + value.shape[axis + 1 :], value.dtype)
        for value, axis in zip(call.leaves, call.axes)
    ]


def call_with_leaves(function, call: BoundCall, leaves: list):
    """Call ``function`` with ``leaves`` put back into the call's argument structure."""
    positional, keyword = [], {}
    start = 0
    for tree, name in zip(call.trees, call.keywords):
        value = unflatten(tree, leaves[start : start + tree.num_leaves])
        start += tree.num_leaves
        if name is None:
            positional.append(value)
        else:
            keyword[name] = value
    return function(*positional, **keyword)


def _check_result_leaf(value, name: str) -> None:
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return
    if isinstance(value, (np.bool_, np.number)) or type(value) in (bool, int, float, complex):
        return
    raise TypeError(
        f"the function returned {name} of type {type(value).__name__}: vmap stacks "
        "numbers and numeric arrays, or tuples/namedtuples of those"
    )


def trace(py_func, call: BoundCall):
    """Run ``py_func`` in Python on example 0 (a zero example for an empty batch).

    An exception from the function comes back with the example's index added
    (for an empty batch: saying its output could not be determined).
    """
    if not call.size:
        return run_on_placeholder(py_func, call, zero_example_leaves(call))
    try:
        return call_with_leaves(py_func, call, example_leaves(call, 0))
    except Exception as exc:
        raise with_example_index(exc, 0) from None


def run_on_placeholder(function, call: BoundCall, leaves: list):
    """``function`` on an empty batch's zero-filled example ``leaves``; see ``for_empty_batch``."""
    try:
        return call_with_leaves(function, call, leaves)
    except Exception as exc:
        raise for_empty_batch(exc)  # noqa: B904 - its __cause__ is exc


def result_structure(result):
    """``(leaves, tree)`` of a traced result, checked to be stackable."""
    result_leaves, tree = flatten(result)
    if tree.kind == "list" or any(node.kind == "list" for node in _nodes(tree)):
        raise TypeError(
            "the function returned a list: return a tuple instead (Numba compiles "
            "tuples of arrays, not lists)"
        )
    for index, value in enumerate(result_leaves):
        _check_result_leaf(value, "its result" if tree.is_leaf else f"result leaf {index}")
    return result_leaves, tree


def _nodes(tree):
    for child in tree.children:
        yield child
        yield from _nodes(child)
