"""One specialization: the traced outputs, their axes and dtypes, the kernel.

``Specialization.build`` runs once per new key (in/out axes, per-example
shapes, dtypes and layouts): trace, match ``out_axes`` to the result,
compile the per-example function for Numba's result types, and describe the
kernel. The kernel module itself is generated and loaded on first use.
"""

from __future__ import annotations

import inspect
import keyword
import re
from dataclasses import dataclass, field, replace

import numba
import numpy as np
from numba.core import types
from numba.np.numpy_support import as_dtype

from . import example_function
from .calls import BoundCall
from .fuse import Fields, Fusion, Operand, Target, fuse
from .ir import CallArg, KernelArg, KernelDescription, KernelOutput
from .specs import normalize_out_axis, prefix_axes
from .trace import result_structure
from .trees import TreeDef, leaf_paths, namedtuple_classes

_RESERVED = {"i", "status", "parallel", "failures", "result", "njit", "prange", "np",
             "OK", "RAISED", "WRONG_SHAPE", "vecmath", "libm"}
_INTERNAL = re.compile(r"(i|j|n|value_|out_)[0-9]+")


def kernel_value(value):
    """What the kernel receives for a leaf: arrays as read-only views, scalars as is."""
    if isinstance(value, np.ndarray):
        value = value.view(np.ndarray)
        value.setflags(write=False)
    return value


def _numba_type(value):
    return numba.typeof(kernel_value(value))


def identifier(name: str, taken: set) -> str:
    """A valid, unused Python name for ``name`` that no generated code uses."""
    base = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "arg"
    candidate = base if not base[0].isdigit() else f"arg_{base}"
    while (candidate in taken or candidate in _RESERVED or keyword.iskeyword(candidate)
           or _INTERNAL.fullmatch(candidate)):
        candidate += "_"
    taken.add(candidate)
    return candidate


def leaf_types(result_type, tree: TreeDef) -> list:
    """Numba's type of each leaf of a result of structure ``tree``."""
    if tree.is_leaf:
        return [result_type]
    if not isinstance(result_type, types.BaseTuple) or len(result_type) != len(tree.children):
        raise TypeError(f"Numba's result type {result_type} does not match the traced structure")
    leaves = []
    for child_type, child in zip(result_type.types, tree.children):
        leaves += leaf_types(child_type, child)
    return leaves


def dtype_and_ndim(numba_type) -> tuple[np.dtype, int]:
    """The NumPy dtype and rank of a Numba array or scalar type."""
    if isinstance(numba_type, types.Array):
        return as_dtype(numba_type.dtype), numba_type.ndim
    return as_dtype(numba_type), 0


def _example_size(value, axes) -> int:
    """Elements in one innermost example of ``value``."""
    shape = np.shape(value)
    return int(np.prod([dim for d, dim in enumerate(shape) if d not in axes]))


def _compose_in_axes(calls: list) -> list[tuple]:
    """Per leaf, the whole-array dimension each level maps (None: unmapped)."""
    composed = []
    for leaf_index, value in enumerate(calls[0].leaves):
        remaining = list(range(np.ndim(value)))
        axes = []
        for call in calls:
            axis = call.axes[leaf_index]
            axes.append(None if axis is None else remaining.pop(axis))
        composed.append(tuple(axes))
    return composed


def _compose_out_axes(chain, out_tree: TreeDef, shapes, out_names) -> tuple[list, list]:
    """Per output leaf, the stacked array's dimension for each level, outermost first.

    Also returns which outputs are unmapped (``out_axes=None`` at the outer level).
    """
    positions = [[] for _ in shapes]
    ranks = [len(shape) for shape in shapes]
    unmapped = [False] * len(shapes)
    for depth, vmapped in enumerate(reversed(chain)):
        outermost = depth == len(chain) - 1
        spec_axes = prefix_axes(vmapped.out_axes_spec, out_tree, "out_axes", "the result")
        for k, axis in enumerate(spec_axes):
            if axis is None and not outermost:
                raise ValueError(f"out_axes=None for {out_names[k]} of an inner vmap is not "
                                 "supported: nest with an int out_axes")
            position = 0 if axis is None else normalize_out_axis(axis, ranks[k])
            if position is None:
                raise ValueError(
                    f"out_axes={axis} is out of range for {out_names[k]} of per-example shape "
                    f"{shapes[k]}: stacked it has {ranks[k] + 1} dimensions, so its axis "
                    f"must be in [{-ranks[k] - 1}, {ranks[k]}]"
                )
            positions[k] = [p + (p >= position) for p in positions[k]]
            positions[k].insert(0, position)
            ranks[k] += 1
            unmapped[k] = axis is None
    return [tuple(p) for p in positions], unmapped


@dataclass
class Specialization:
    """What one key's calls share: output layout and dtypes, and the kernel's description."""

    out_tree: TreeDef
    out_shapes: list
    out_dtypes: list
    out_positions: list
    unmapped: list
    inner_sizes: tuple
    out_names: list
    work: int
    description: KernelDescription
    #: Globals of the kernel module (the per-example function, namedtuple classes).
    namespace: dict = field(default_factory=dict)
    #: What re-runs a failing example: the per-example function or the inner vmap.
    rerun: object = None

    @classmethod
    def build(cls, chain, calls: list, result) -> Specialization:
        """Describe the kernel for ``calls`` (one per nesting level, outermost first)
        given the traced ``result``; type it with Numba."""
        vmapped, call = chain[0], calls[0]
        traced, out_tree = result_structure(result)
        shapes = [np.shape(value) for value in traced]
        out_names = [f"output{''.join(f'[{k}]' for k in path)}" if path else "the output"
                     for path in leaf_paths(out_tree)]
        positions, unmapped = _compose_out_axes(chain, out_tree, shapes, out_names)
        in_axes = _compose_in_axes(calls)
        dtypes = result_dtypes(vmapped.per_example, vmapped.innermost, call, in_axes,
                               out_tree, [len(s) for s in shapes])
        taken: set = set()
        function = identifier(vmapped.innermost.__name__, taken)
        args = tuple(KernelArg(identifier(name, taken), np.ndim(value), axes)
                     for name, value, axes in zip(call.names, call.leaves, in_axes))
        outputs = tuple(KernelOutput(f"out_{k}", path, len(shape), position)
                        for k, (path, shape, position)
                        in enumerate(zip(leaf_paths(out_tree), shapes, positions)))
        classes = tuple((cls, identifier(cls.__name__, taken))
                        for cls in namedtuple_classes(call.trees))
        host = vmapped.options.target != "cuda"
        fusion = _fusion(vmapped.innermost, call, args, outputs, shapes, dtypes,
                         vmapped.options.fastmath, host)
        description = KernelDescription(
            function=function,
            args=args,
            call=tuple(CallArg(kw, tree) for kw, tree in zip(call.keywords, call.trees)),
            outputs=outputs,
            levels=len(chain),
            namedtuples=classes,
            body=fusion.lines,
            not_fused=fusion.reason,
        )
        work = 1 + sum(_example_size(value, axes) for value, axes in zip(call.leaves, in_axes))
        inner_sizes = tuple(inner.size for inner in calls[1:])
        spec = cls(out_tree, shapes, dtypes, positions, unmapped, inner_sizes, out_names,
                   work * int(np.prod(inner_sizes)), description)
        return spec.attached(chain)

    def attached(self, chain) -> Specialization:
        """This specialization with the callables of ``chain`` (the vmaps from the
        outermost in) that this process's kernel and re-runs call."""
        namespace = {name: cls for cls, name in self.description.namedtuples}
        namespace[self.description.function] = chain[0].per_example
        rerun = chain[1] if len(chain) > 1 else chain[0].per_example
        return replace(self, namespace=namespace, rerun=rerun)

    def detached(self) -> Specialization:
        """This specialization without its callables: what ``numbavmap.cache`` stores."""
        return replace(self, namespace={}, rerun=None)

    def stacked_shape(self, k: int, size: int) -> tuple:
        """Output ``k``'s stacked shape for ``size`` outer examples."""
        sizes = (size,) + self.inner_sizes
        full = [None] * (len(self.out_shapes[k]) + len(sizes))
        for level, position in enumerate(self.out_positions[k]):
            full[position] = sizes[level]
        rest = iter(self.out_shapes[k])
        return tuple(dim if dim is not None else next(rest) for dim in full)



def _operand(arg: KernelArg, value) -> Operand | None:
    """What the fused body sees of one argument; None for an unmapped 0-d array
    (an array to Numba, which fused scalars would not reproduce)."""
    levels = {axis for axis in arg.axes if axis is not None}
    own = [d for d in range(arg.ndim) if d not in levels]
    if isinstance(value, np.ndarray):
        if not own and not levels:
            return None
        dtype = numba.from_dtype(value.dtype)
    else:
        dtype = numba.typeof(value)
    return Operand(
        shape=tuple(np.shape(value)[d] for d in own),
        dims=tuple(f"{arg.name}.shape[{d}]" for d in own),
        dtype=dtype,
        element=arg.element,
    )


def _structured(tree: TreeDef, leaves):
    """An argument's operand: the next of ``leaves`` for a leaf, a tuple of its
    children's operands for a tuple or a list (which the body only reads), the
    same as ``Fields`` for a namedtuple."""
    if tree.is_leaf:
        return next(leaves)
    items = tuple(_structured(child, leaves) for child in tree.children)
    return Fields(items, tree.cls._fields) if tree.kind == "namedtuple" else items


def _fusion(py_func, call: BoundCall, args, outputs, shapes, dtypes,
            approximate: bool, host: bool) -> Fusion:
    """The fused per-example body (see ``numbavmap.fuse``), or why the kernel calls
    the function instead; ``approximate`` is the vmap's ``fastmath``, ``host``
    whether the target is the CPU (which may allocate, and calls the C library)."""
    names = example_function.signature_names(py_func, call.keywords.count(None))
    names += [keyword for keyword in call.keywords if keyword is not None]
    leaves = [_operand(arg, value) for arg, value in zip(args, call.leaves)]
    if None in leaves:
        return Fusion(None, "an unmapped 0-d array argument")
    remaining = iter(leaves)
    operands = {name: _structured(tree, remaining) for name, tree in zip(names, call.trees)}
    order = list(inspect.signature(py_func).parameters)
    if sorted(operands) != sorted(order):
        return Fusion(None, "arguments passed by keyword or left to their defaults")
    operands = {name: operands[name] for name in order}
    targets = [Target(output.path, shape, dtype, output.element)
               for output, shape, dtype in zip(outputs, shapes, dtypes)]
    taken = {arg.name for arg in args} | {output.name for output in outputs} | _RESERVED
    return fuse(py_func, operands, targets, taken, approximate, host, host)


def result_dtypes(dispatcher, py_func, call: BoundCall, in_axes, out_tree: TreeDef,
                  ranks) -> list:
    """The dtype Numba gives each output leaf, checked against the traced ranks.

    ``in_axes`` are the composed axes of every level (see ``_compose_in_axes``).
    """
    example_types = [
        example_function.example_type(_numba_type(value), axes)
        for value, axes in zip(call.leaves, in_axes)
    ]
    positional, keyword = [], {}
    start = 0
    for tree, name in zip(call.trees, call.keywords):
        arg_type = example_function.tree_type(tree, example_types[start : start + tree.num_leaves])
        start += tree.num_leaves
        if name is None:
            positional.append(arg_type)
        else:
            keyword[name] = arg_type
    result_type = example_function.result_type(dispatcher, py_func, positional, keyword)
    dtypes = []
    for numba_type, rank in zip(leaf_types(result_type, out_tree), ranks):
        dtype, ndim = dtype_and_ndim(numba_type)
        if ndim != rank:
            raise TypeError(
                f"{example_function.source_location(py_func)} returns a {rank}-d value when "
                f"run by Python but a {ndim}-d {numba_type} when compiled by Numba"
            )
        dtypes.append(dtype)
    return dtypes
