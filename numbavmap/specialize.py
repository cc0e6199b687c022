"""One specialization: the traced outputs, their axes and dtypes, the kernel.

``Specialization.build`` runs once per new key (in/out axes, per-example
shapes, dtypes and layouts): trace, match ``out_axes`` to the result,
compile the per-example function for Numba's result types, and describe the
kernel. The kernel module itself is generated and loaded on first use.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

import numba
import numpy as np
from numba.core import types
from numba.np.numpy_support import as_dtype

from . import example_function
from .calls import BoundCall
from .kernel import CallArg, KernelArg, KernelDescription, KernelOutput, generate_source
from .specs import normalize_out_axis, prefix_axes
from .trace import result_structure
from .trees import TreeDef, leaf_paths

_RESERVED = {"i", "status", "parallel", "failures", "result", "njit", "prange",
             "OK", "RAISED", "WRONG_SHAPE"}
_INTERNAL = re.compile(r"(j|value_|out_)[0-9]+")


def kernel_value(value):
    """What the kernel receives for a leaf: arrays as read-only views, scalars as is."""
    if isinstance(value, np.ndarray) and value.flags.writeable:
        value = value.view()
        value.flags.writeable = False
    return value


def _numba_type(value):
    return numba.typeof(kernel_value(value))


def _identifier(name: str, taken: set) -> str:
    base = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "arg"
    candidate = base if not base[0].isdigit() else f"arg_{base}"
    while (candidate in taken or candidate in _RESERVED or keyword.iskeyword(candidate)
           or _INTERNAL.fullmatch(candidate)):
        candidate += "_"
    taken.add(candidate)
    return candidate


def _leaf_types(result_type, tree: TreeDef) -> list:
    if tree.is_leaf:
        return [result_type]
    if not isinstance(result_type, types.BaseTuple) or len(result_type) != len(tree.children):
        raise TypeError(f"Numba's result type {result_type} does not match the traced structure")
    leaves = []
    for child_type, child in zip(result_type.types, tree.children):
        leaves += _leaf_types(child_type, child)
    return leaves


def _dtype_and_ndim(numba_type) -> tuple[np.dtype, int]:
    if isinstance(numba_type, types.Array):
        return as_dtype(numba_type.dtype), numba_type.ndim
    return as_dtype(numba_type), 0


def _namedtuple_classes(trees) -> dict:
    classes = {}
    stack = list(trees)
    while stack:
        tree = stack.pop()
        if tree.kind == "namedtuple":
            classes[tree.cls.__name__] = tree.cls
        stack.extend(tree.children)
    return classes


@dataclass
class Specialization:
    """What one key's calls share: output layout, dtypes and the kernel."""

    out_tree: TreeDef
    out_shapes: list
    out_dtypes: list
    out_axes: list
    out_names: list
    traced: list
    work: int
    description: KernelDescription
    namespace: dict
    kernel: object = None

    @classmethod
    def build(cls, vmapped, call: BoundCall, result) -> Specialization:
        """Describe the kernel for ``call`` given its traced ``result``; type it with Numba."""
        traced, out_tree = result_structure(result)
        shapes = [np.shape(value) for value in traced]
        out_names = [f"output{''.join(f'[{k}]' for k in path)}" if path else "the output"
                     for path in leaf_paths(out_tree)]
        raw_axes = prefix_axes(vmapped.out_axes_spec, out_tree, "out_axes", "the result")
        out_axes = []
        for axis, shape, name in zip(raw_axes, shapes, out_names):
            normalized = None if axis is None else normalize_out_axis(axis, len(shape))
            if axis is not None and normalized is None:
                raise ValueError(
                    f"out_axes={axis} is out of range for {name} of per-example shape "
                    f"{shape}: stacked it has {len(shape) + 1} dimensions, so its axis "
                    f"must be in [{-len(shape) - 1}, {len(shape)}]"
                )
            out_axes.append(normalized)
        dtypes = vmapped.result_dtypes(call, out_tree, [len(s) for s in shapes])
        taken: set = set()
        function = _identifier(vmapped.py_func.__name__, taken)
        args = tuple(KernelArg(_identifier(name, taken), axis)
                     for name, axis in zip(call.names, call.axes))
        outputs = tuple(
            KernelOutput(f"out_{k}", path, 0 if axis is None else axis,
                         len(shape))
            for k, (path, axis, shape) in enumerate(zip(leaf_paths(out_tree), out_axes, shapes))
        )
        classes = _namedtuple_classes(call.trees)
        description = KernelDescription(
            function=function,
            args=args,
            call=tuple(CallArg(kw, tree) for kw, tree in zip(call.keywords, call.trees)),
            outputs=outputs,
            namedtuples=tuple(sorted(classes)),
            parallel=vmapped.parallel,
            fastmath=vmapped.fastmath,
            cache=vmapped.cache,
        )
        work = 1
        for value, axis in zip(call.leaves, call.axes):
            if axis is not None:
                work += max(1, value.size // max(1, value.shape[axis]))
        namespace = dict(classes)
        namespace[function] = vmapped.per_example
        return cls(out_tree, shapes, dtypes, out_axes, out_names, traced, work,
                   description, namespace)

    def source(self) -> str:
        """The generated kernel module's source."""
        return generate_source(self.description)


def result_dtypes(dispatcher, py_func, call: BoundCall, out_tree: TreeDef, ranks) -> list:
    """The dtype Numba gives each output leaf, checked against the traced ranks."""
    leaf_types = [
        example_function.example_type(_numba_type(value), axis)
        for value, axis in zip(call.leaves, call.axes)
    ]
    positional, keyword = [], {}
    start = 0
    for tree, name in zip(call.trees, call.keywords):
        arg_type = example_function.tree_type(tree, leaf_types[start : start + tree.num_leaves])
        start += tree.num_leaves
        if name is None:
            positional.append(arg_type)
        else:
            keyword[name] = arg_type
    result_type = example_function.result_type(dispatcher, py_func, positional, keyword)
    dtypes = []
    for numba_type, rank in zip(_leaf_types(result_type, out_tree), ranks):
        dtype, ndim = _dtype_and_ndim(numba_type)
        if ndim != rank:
            raise TypeError(
                f"{example_function.source_location(py_func)} returns a {rank}-d value when "
                f"run by Python but a {ndim}-d {numba_type} when compiled by Numba"
            )
        dtypes.append(dtype)
    return dtypes
