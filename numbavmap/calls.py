"""Binding one call's arguments to ``in_axes``: leaves, axes, batch size, key.

``bind_call`` is the first step of every call. It flattens the positional and
keyword arguments into leaves, gives each leaf its mapped axis (or None),
checks types, axes and sizes, and computes the specialization key. Every
error a user can make with their arguments is raised here, before any
tracing or compiling, and names the argument, its shape and the axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .specs import normalize_in_axis, prefix_axes, split_in_axes
from .trees import LEAF, TreeDef, flatten, leaf_paths

#: The dtypes vmap accepts (in native byte order): those Numba compiles.
SUPPORTED_DTYPES = frozenset(np.dtype(name) for name in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "complex64", "complex128"))

#: Array types accepted as plain arrays: a memmap's values are its array's values.
PLAIN_ARRAY_TYPES = (np.ndarray, np.memmap)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class BoundCall:
    """One call's arguments, flattened and checked against ``in_axes``."""

    leaves: list
    names: list[str]
    axes: list
    trees: tuple[TreeDef, ...]
    keywords: tuple[str | None, ...]
    size: int
    key: tuple


def leaf_names(name: str, tree: TreeDef) -> list[str]:
    """``x`` for a leaf argument, ``x[0]``, ``x[1][0]``... for a container's leaves."""
    return [name + "".join(f"[{index}]" for index in path) for path in leaf_paths(tree)]


def _check_leaf(value, name: str) -> None:
    if isinstance(value, np.ndarray):
        if type(value) not in PLAIN_ARRAY_TYPES:
            raise TypeError(
                f"argument {name} is a {type(value).__module__}.{type(value).__name__}, an "
                "ndarray subclass whose meaning a plain array would lose (a mask, matrix "
                "semantics...): pass a plain np.ndarray, e.g. np.asarray(value)"
            )
        _check_dtype(value.dtype, f"argument {name} is an array of dtype {value.dtype}")
        return
    if isinstance(value, np.generic):
        _check_dtype(value.dtype, f"argument {name} is a NumPy scalar of dtype {value.dtype}")
        return
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        raise OverflowError(
            f"argument {name} is the Python int {value}, which does not fit in int64 (the "
            "type Numba gives Python ints): pass a float, or np.uint64 below 2**64"
        )
    if type(value) in (bool, int, float, complex):
        return
    raise TypeError(
        f"argument {name} has type {type(value).__name__}, which vmap does not accept: "
        "pass NumPy arrays, numbers, or tuples/lists/namedtuples of those"
    )


def _check_dtype(dtype: np.dtype, what: str) -> None:
    if dtype.newbyteorder("=") not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{what}, which Numba cannot compile; supported: bool, int8..int64, "
            "uint8..uint64, float32, float64, complex64, complex128"
        )


def _native(value):
    """``value`` in native byte order: big-endian arrays become native copies."""
    if isinstance(value, np.ndarray) and not value.dtype.isnative:
        return value.astype(value.dtype.newbyteorder("="))
    return value


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"of shape {value.shape}"
    return f"of type {type(value).__name__} (a scalar, shape ())"


def _leaf_key(value, axis):
    if isinstance(value, np.ndarray):
        shape = value.shape[:axis] + value.shape[axis + 1 :] if axis is not None else value.shape
        flags = value.flags
        layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
        return (axis, shape, value.dtype.str, layout)
    if isinstance(value, np.generic):
        return (None, (), value.dtype.str, "")
    return (None, (), type(value).__name__, "")


def bind_call(args: tuple, kwargs: dict, in_axes, param_names: list[str], axis_size) -> BoundCall:
    """Flatten, check and key one call (see the module docstring)."""
    specs = split_in_axes(in_axes, len(args))
    leaves: list = []
    names: list[str] = []
    axes: list = []
    trees = []
    keywords: list[str | None] = []
    arguments = [(name, value, spec, None) for name, value, spec in zip(param_names, args, specs)]
    arguments += [(name, value, 0, name) for name, value in kwargs.items()]
    for name, value, spec, keyword in arguments:
        if isinstance(value, np.ndarray):
            arg_leaves, tree = [value], LEAF
        else:
            arg_leaves, tree = flatten(value)
        arg_axes = prefix_axes(spec, tree, "in_axes", f"argument {name}")
        leaves += arg_leaves
        names += leaf_names(name, tree) if not tree.is_leaf else [name]
        axes += arg_axes
        trees.append(tree)
        keywords.append(keyword)
    for value, name in zip(leaves, names):
        _check_leaf(value, name)
    leaves = [_native(value) for value in leaves]
    axes = [_normalize(value, name, axis) for value, name, axis in zip(leaves, names, axes)]
    size = _batch_size(leaves, names, axes, axis_size)
    key = (
        tuple(_leaf_key(value, axis) for value, axis in zip(leaves, axes)),
        tuple(trees),
        tuple(keywords),
    )
    return BoundCall(leaves, names, axes, tuple(trees), tuple(keywords), size, key)


def _normalize(value, name: str, axis):
    if axis is None:
        return None
    ndim = np.ndim(value)
    normalized = normalize_in_axis(axis, ndim)
    if normalized is None:
        allowed = f"in [{-ndim}, {ndim - 1}]" if ndim else "None (a scalar cannot be mapped)"
        raise ValueError(
            f"in_axes={axis} is out of range for argument {name} {_describe(value)}: "
            f"it has {ndim} dimension{'s' if ndim != 1 else ''}, so its axis must be {allowed}"
        )
    return normalized


def _batch_size(leaves, names, axes, axis_size) -> int:
    sizes = [(value.shape[axis], name, value.shape, axis)
             for value, name, axis in zip(leaves, names, axes) if axis is not None]
    distinct = {size for size, *_ in sizes}
    if len(distinct) > 1:
        listing = "; ".join(
            f"argument {name} of shape {shape} has size {size} along axis {axis}"
            for size, name, shape, axis in sizes
        )
        raise ValueError(f"vmap got inconsistent sizes for the mapped axes: {listing}")
    if not sizes:
        if axis_size is None:
            raise ValueError(
                "vmap needs axis_size when nothing is mapped (every in_axes entry is None "
                "and there are no keyword arguments): it sets the number of examples"
            )
        return axis_size
    (size,) = distinct
    if axis_size is not None and axis_size != size:
        raise ValueError(
            f"axis_size={axis_size} disagrees with the mapped axes' size {size} "
            f"(argument {sizes[0][1]} of shape {sizes[0][2]}, axis {sizes[0][3]})"
        )
    return size
