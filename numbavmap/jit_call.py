"""Calling a ``VmappedFunction`` from code compiled with ``numba.njit``.

Numba types a ``VmappedFunction`` global as the dispatcher of a small entry
function (``typeof_impl`` below). When the caller is compiled, the entry's
overload sees the argument *types* (not values, so there is no Python
trace): it describes the kernel from Numba's result type, and generates a
wrapper that sizes the outputs from example 0, runs the kernel and returns
the stacked result::

    def sum_of_squares_call(*args):
        v, = args
        n = v.shape[0]
        if n > 0:
            first = sum_of_squares(v[0])
        else:
            first = sum_of_squares(np.zeros(v.shape[:0] + v.shape[1:], v.dtype))
        out_0 = np.empty((n,), np.float64)
        i = sum_of_squares_kernel(v, out_0, n, n >= PARALLEL_THRESHOLD)
        if i >= 0:
            sum_of_squares(v[i])  # raises that example's error
            raise ValueError("vmap(sum_of_squares): examples return different shapes")
        return out_0

A failing example's exception reaches the caller with its type and message
(Numba cannot add the index to it, as the Python path does).

Supported here: one level of vmap over arrays and scalars (no containers,
no keyword arguments, no nesting), int ``out_axes``. Anything else is a
Numba typing error that says so.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from . import example_function
from .kernel import (
    PARALLEL_THRESHOLD,
    CallArg,
    KernelArg,
    KernelDescription,
    KernelOutput,
    generate_source,
    tree_expression,
)
from .loader import load_module
from .specialize import dtype_and_ndim, identifier
from .specialize import leaf_types as specialized_leaf_types
from .specs import normalize_in_axis, normalize_out_axis, prefix_axes, split_in_axes
from .trees import LEAF, TreeDef, leaf_paths, namedtuple_classes


def _numba_tree(numba_type) -> TreeDef:
    if isinstance(numba_type, types.BaseTuple):
        children = tuple(_numba_tree(child) for child in numba_type.types)
        if isinstance(numba_type, types.BaseNamedTuple):
            return TreeDef("namedtuple", children, numba_type.instance_class)
        return TreeDef("tuple", children)
    return LEAF


def _rank(numba_type) -> int:
    return numba_type.ndim if isinstance(numba_type, types.Array) else 0


def _dtype_name(numba_type) -> str:
    name = dtype_and_ndim(numba_type)[0].name
    return "bool_" if name == "bool" else name


def _fail(vmapped, message: str):
    raise numba.core.errors.TypingError(f"vmap({vmapped.__name__}) in compiled code: {message}")


def wrapper_source(vmapped, arg_types) -> tuple:
    """The wrapper's source, the kernel it calls, the wrapper's name, namedtuple classes."""
    if len(vmapped.chain) > 1:
        _fail(vmapped, "nested vmaps can be called from Python only")
    if any(isinstance(t, types.BaseTuple) for t in arg_types):
        _fail(vmapped, "containers as arguments can be passed from Python only")
    taken = {"n", "first", "args", "i", "status"}
    function = identifier(vmapped.innermost.__name__, taken)
    names = [identifier(name, taken) for name in
             example_function.signature_names(vmapped.innermost, len(arg_types))]
    specs = split_in_axes(vmapped.in_axes_spec, len(arg_types))
    axes = []
    for name, spec, arg_type in zip(names, specs, arg_types):
        ndim = _rank(arg_type)
        axis = None if spec is None else normalize_in_axis(spec, ndim)
        if spec is not None and axis is None:
            _fail(vmapped, f"in_axes={spec} is out of range for argument {name} of {ndim} dims")
        axes.append(axis)
    mapped = [(name, axis) for name, axis in zip(names, axes) if axis is not None]
    if not mapped:
        _fail(vmapped, "at least one argument must be mapped")
    example_types = [example_function.example_type(t, (axis,))
                     for t, axis in zip(arg_types, axes)]
    result_type = example_function.result_type(vmapped.per_example, vmapped.innermost,
                                               example_types, {})
    tree = _numba_tree(result_type)
    leaf_types = specialized_leaf_types(result_type, tree)
    out_axes = prefix_axes(vmapped.out_axes_spec, tree, "out_axes", "the result")
    outputs = []
    for k, (path, leaf_type, axis) in enumerate(zip(leaf_paths(tree), leaf_types, out_axes)):
        position = None if axis is None else normalize_out_axis(axis, _rank(leaf_type))
        if position is None:
            _fail(vmapped, f"out_axes={axis} is not supported for output {k}")
        outputs.append(KernelOutput(f"out_{k}", path, _rank(leaf_type), (position,)))
    description = KernelDescription(
        function=function,
        args=tuple(KernelArg(name, _rank(t), (axis,))
                   for name, t, axis in zip(names, arg_types, axes)),
        call=tuple(CallArg(None, LEAF) for _ in arg_types),
        outputs=tuple(outputs),
        parallel="auto" if vmapped.parallel == "auto" else vmapped.parallel,
        fastmath=vmapped.fastmath,
        boundscheck=vmapped.boundscheck,
    )
    first_name, first_axis = mapped[0]
    label = f"vmap({function})"
    lines = [f"def {function}_call(*args):",
             f"    {', '.join(names)}, = args",
             f"    n = {first_name}.shape[{first_axis}]"]
    for name, axis in mapped[1:]:
        lines += [f"    if {name}.shape[{axis}] != n:",
                  f"        raise ValueError(\"{label}: mapped axes have different sizes\")"]
    lines += ["    if n > 0:",
              f"        first = {_example_call(description, '0')}",
              "    else:",
              f"        first = {_example_call(description, None)}"]
    for output, leaf_type in zip(outputs, leaf_types):
        value = "first" + "".join(f"[{index}]" for index in output.path)
        shape = (f"{value}.shape[:{output.axes[0]}] + (n,) + {value}.shape[{output.axes[0]}:]"
                 if output.ndim else "(n,)")
        lines.append(f"    {output.name} = np.empty({shape}, np.{_dtype_name(leaf_type)})")
    flag = ", n >= PARALLEL_THRESHOLD" if description.parallel == "auto" else ""
    out_names = [output.name for output in outputs]
    class_names = {cls: identifier(cls.__name__, taken) for cls in namedtuple_classes([tree])}
    lines += [f"    i = {description.kernel_name}({', '.join(names + out_names)}, n{flag})",
              "    if i >= 0:",
              f"        {_example_call(description, 'i')}  # raises that example's error",
              f"        raise ValueError(\"{label}: examples return different shapes\")",
              f"    return {tree_expression(tree, iter(out_names), class_names)}"]
    classes = {name: cls for cls, name in class_names.items()}
    return "\n".join(lines) + "\n", description, f"{function}_call", classes


def _example_call(description: KernelDescription, index: str | None) -> str:
    """The per-example call on example ``index``, or on a zero example when None."""
    parts = []
    for arg in description.args:
        axis = arg.axes[0]
        if axis is None:
            parts.append(arg.name)
        elif index is None:
            shape = f"{arg.name}.shape[:{axis}] + {arg.name}.shape[{axis + 1}:]"
            parts.append(f"np.zeros({shape}, {arg.name}.dtype)")
        else:
            parts.append(f"{arg.name}[{', '.join([':'] * axis + [index])}]")
    return f"{description.function}({', '.join(parts)})"


def jit_entry(vmapped):
    """A Numba dispatcher that runs ``vmapped`` when called from compiled code."""

    def stub(*args):
        raise NotImplementedError("only called from compiled code")

    @overload(stub, jit_options={"fastmath": vmapped.fastmath})
    def _stub_overload(*args):
        source, description, name, classes = wrapper_source(vmapped, list(args))
        namespace = {description.function: vmapped.per_example,
                     "PARALLEL_THRESHOLD": PARALLEL_THRESHOLD, **classes}
        kernel = load_module(generate_source(description), namespace, None)
        namespace.update(np=np, **{description.kernel_name:
                                   getattr(kernel, description.kernel_name)})
        return getattr(load_module(source, namespace, None), name)

    @numba.njit
    def entry(*args):
        return stub(*args)

    return entry
