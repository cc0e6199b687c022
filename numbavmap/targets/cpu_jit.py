"""The CPU target called from compiled code: a ``VmappedFunction`` inside ``numba.njit``.

Numba types a ``VmappedFunction`` global as the dispatcher of a small entry
function (``typeof_impl`` in ``api``). When the caller is compiled, the
entry's overload sees the argument *types* (not values, so there is no
Python trace): it describes the kernel from Numba's result type, fuses the
body as the Python path does (argument shapes are ``RuntimeDim``: known only
when the code runs), and generates a wrapper that sizes the outputs, takes
the same ``parallel="auto"`` decision (``targets.cpu.auto_parallel``), runs the
kernel and returns the stacked result. For the fused ``sum_of_squares``::

    def sum_of_squares_call(*args):
        v, = args
        n = v.shape[0]
        out_0 = np.empty((n,), np.float64)
        work = 1 + v.shape[1]
        i = sum_of_squares_kernel(v, out_0, n, auto_parallel(n, work))
        if i >= 0:
            sum_of_squares(v[i])  # raises that example's error
            raise ValueError("vmap(sum_of_squares, in_axes=0, out_axes=0): examples return "
                             "different shapes")
        return out_0

A body that is not fused sizes its outputs from example 0 (``first =
sum_of_squares(v[0])``) and passes the kernel a status array. A failing
example's exception reaches the caller with its type and message (Numba
cannot add the index to it, as the Python path does).
``VmappedFunction.inspect_jit_kernel`` shows both sources.

Supported here: one level of vmap over arrays and scalars (no containers,
no keyword arguments, no nesting), int ``out_axes``. Anything else is a
Numba typing error that says so.
"""

from __future__ import annotations

from dataclasses import replace

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from .. import example_function
from ..errors import prefix
from ..fuse import Fusion, Operand, Target, Unsupported, fuse
from ..ir import CallArg, KernelArg, KernelDescription, KernelOutput, tree_expression, tuple_source
from ..loader import load_module
from ..specialize import dtype_and_ndim, identifier
from ..specialize import leaf_types as specialized_leaf_types
from ..specs import normalize_in_axis, normalize_out_axis, prefix_axes, split_in_axes
from ..trees import LEAF, TreeDef, leaf_paths, namedtuple_classes
from .cpu import auto_parallel, generate_source
from .slp import compiling_with_slp


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
    raise numba.core.errors.TypingError(f"{_prefix(vmapped)} in compiled code: {message}")


def _prefix(vmapped) -> str:
    return prefix(vmapped.__name__, vmapped.in_axes, vmapped.out_axes)


class RuntimeDim:
    """A per-example dimension that compiled code knows only when it runs: ``x.shape[1]``.

    Fusion from ``@njit`` sees argument shapes as these. A dimension equals
    only itself, so arrays of different arguments never count as the same
    shape, and any arithmetic or truth test on one stops fusion: what the
    fuser cannot prove from types alone is left to the per-example call.
    """

    def __init__(self, expr: str):
        self.expr = expr

    def __eq__(self, other):
        return self.expr == other.expr if isinstance(other, RuntimeDim) else NotImplemented

    def __hash__(self):
        return hash(self.expr)

    def __repr__(self):
        return self.expr

    def _unknown(self, *args):
        raise Unsupported(f"{self.expr}, a size known only at run time (called from @njit)")

    __bool__ = __index__ = __int__ = __lt__ = __le__ = __gt__ = __ge__ = _unknown
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _unknown
    __floordiv__ = __rfloordiv__ = __mod__ = __neg__ = _unknown


class _OutputDim:
    """An output's dimension, bound by fusion to the value written into it."""

    def __init__(self):
        self.bound = None

    def __eq__(self, other):
        if self.bound is None:
            self.bound = other
            return True
        return self.bound == other

    __hash__ = None

    def expr(self) -> str:
        return self.bound.expr if isinstance(self.bound, RuntimeDim) else str(self.bound)


def _arg_axes(vmapped, names, arg_types) -> list:
    """The mapped axis of each argument (None: unmapped), checked against its rank."""
    specs = split_in_axes(vmapped.in_axes_spec, len(arg_types))
    axes = []
    for name, spec, arg_type in zip(names, specs, arg_types):
        ndim = _rank(arg_type)
        axis = None if spec is None else normalize_in_axis(spec, ndim)
        if spec is not None and axis is None:
            _fail(vmapped, f"in_axes={spec} is out of range for argument {name} of {ndim} dims")
        axes.append(axis)
    if all(axis is None for axis in axes):
        _fail(vmapped, "at least one argument must be mapped")
    return axes


def _example_dims(arg: KernelArg) -> list[str]:
    """One example's dimensions of a kernel argument, as source."""
    return [f"{arg.name}.shape[{d}]" for d in range(arg.ndim) if d not in arg.axes]


def _fusion(vmapped, args, arg_types, outputs, leaf_types, taken) -> Fusion:
    """The fused body for these argument types, and each output's per-example dims."""
    operands = {}
    for arg, arg_type in zip(args, arg_types):
        dims = _example_dims(arg)
        if isinstance(arg_type, types.Array) and arg.ndim == 0:
            return Fusion(None, "an unmapped 0-d array argument"), None
        dtype = arg_type.dtype if isinstance(arg_type, types.Array) else arg_type
        operands[arg.name] = Operand(tuple(RuntimeDim(dim) for dim in dims), tuple(dims),
                                     dtype, arg.element)
    shapes = [tuple(_OutputDim() for _ in range(output.ndim)) for output in outputs]
    targets = [Target(output.path, shape, dtype_and_ndim(leaf_type)[0], output.element)
               for output, shape, leaf_type in zip(outputs, shapes, leaf_types)]
    names = example_function.signature_names(vmapped.innermost, len(args))
    try:
        fusion = fuse(vmapped.innermost, dict(zip(names, operands.values())), targets,
                      taken | {arg.name for arg in args} | {out.name for out in outputs},
                      vmapped.options.fastmath)
    except Exception as exc:  # noqa: BLE001 - a rule that needs static sizes: not fused
        return Fusion(None, f"{type(exc).__name__}: {exc} (sizes known only at run time)"), None
    return fusion, [[dim.expr() for dim in shape] for shape in shapes]


def wrapper_source(vmapped, arg_types) -> tuple:
    """The wrapper's source, the kernel's description, the wrapper's name and its
    namedtuple classes."""
    if len(vmapped.chain) > 1:
        _fail(vmapped, "nested vmaps can be called from Python only")
    if any(isinstance(t, types.BaseTuple) for t in arg_types):
        _fail(vmapped, "containers as arguments can be passed from Python only")
    taken = {"n", "first", "args", "i", "status", "work", "auto_parallel"}
    function = identifier(vmapped.innermost.__name__, taken)
    names = [identifier(name, taken) for name in
             example_function.signature_names(vmapped.innermost, len(arg_types))]
    axes = _arg_axes(vmapped, names, arg_types)
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
    args = tuple(KernelArg(name, _rank(t), (axis,))
                 for name, t, axis in zip(names, arg_types, axes))
    fusion, out_dims = _fusion(vmapped, args, arg_types, outputs, leaf_types, taken)
    description = KernelDescription(
        function=function,
        args=args,
        call=tuple(CallArg(None, LEAF) for _ in arg_types),
        outputs=tuple(outputs),
        body=fusion.lines,
        not_fused=fusion.reason,
    )
    first_name, first_axis = next((arg.name, arg.axes[0]) for arg in args
                                  if arg.axes[0] is not None)
    label = _prefix(vmapped).replace('"', "'")
    lines = [f"def {function}_call(*args):",
             f"    {', '.join(names)}, = args",
             f"    n = {first_name}.shape[{first_axis}]"]
    for arg in args[1:]:
        if arg.axes[0] is not None and arg.name != first_name:
            lines += [f"    if {arg.name}.shape[{arg.axes[0]}] != n:",
                      f"        raise ValueError(\"{label}: mapped axes have different sizes\")"]
    if fusion.lines is None:
        lines += ["    if n > 0:",
                  f"        first = {_example_call(description, '0')}",
                  "    else:",
                  f"        first = {_example_call(description, None)}"]
    for k, (output, leaf_type) in enumerate(zip(outputs, leaf_types)):
        position = output.axes[0]
        if fusion.lines is not None:
            dims = out_dims[k]
            shape = tuple_source(dims[:position] + ["n"] + dims[position:])
        elif output.ndim:
            value = "first" + "".join(f"[{index}]" for index in output.path)
            shape = f"{value}.shape[:{position}] + (n,) + {value}.shape[{position}:]"
        else:
            shape = "(n,)"
        lines.append(f"    {output.name} = np.empty({shape}, np.{_dtype_name(leaf_type)})")
    flag = ""
    if vmapped.options.parallel == "auto":
        work = " + ".join(["1"] + [" * ".join(_example_dims(arg)) or "1" for arg in args])
        lines.append(f"    work = {work}")
        flag = ", auto_parallel(n, work)"
    out_names = [output.name for output in outputs]
    class_names = {cls: identifier(cls.__name__, taken) for cls in namedtuple_classes([tree])}
    kernel_args = names + out_names
    if description.can_fail:
        lines.append("    status = np.empty(n, np.uint8)")
        kernel_args.append("status")
    lines += [f"    i = {description.kernel_name}({', '.join(kernel_args)}, n{flag})",
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


#: ``parallel="auto"``'s rule, compiled, for the wrapper to call.
_AUTO_PARALLEL = numba.njit(auto_parallel)


def jit_sources(vmapped, arg_types) -> tuple[str, str]:
    """The wrapper's and the kernel's source for a call from compiled code with
    arguments of Numba types ``arg_types``."""
    wrapper, description, _, _ = wrapper_source(vmapped, list(arg_types))
    return wrapper, generate_source(description, _jit_options(vmapped))


def _jit_options(vmapped):
    """The vmap's options for kernels loaded from memory (never cached on disk)."""
    return replace(vmapped.options, cache=False)


def jit_entry(vmapped):
    """A Numba dispatcher that runs ``vmapped`` when called from compiled code."""

    def stub(*args):
        raise NotImplementedError("only called from compiled code")

    @overload(stub, jit_options={"fastmath": vmapped.options.fastmath})
    def _stub_overload(*args):
        source, description, name, classes = wrapper_source(vmapped, list(args))
        namespace = {description.function: vmapped.per_example, **classes}
        kernel = load_module(generate_source(description, _jit_options(vmapped)), namespace,
                             None)
        dispatcher = compiling_with_slp(getattr(kernel, description.kernel_name))
        namespace.update(np=np, auto_parallel=_AUTO_PARALLEL,
                         **{description.kernel_name: dispatcher})
        return getattr(load_module(source, namespace, None), name)

    @numba.njit
    def entry(*args):
        return stub(*args)

    return entry


