"""The per-example function as Numba compiles it.

``compile_per_example`` makes the Numba dispatcher the kernel calls: the
user's function with ``print`` made a no-op (prints happen once, in the
trace, never once per example). ``result_type`` types it for the exact
argument types the kernel will pass (Numba's pipeline up to type inference,
without compiling) and returns Numba's result type, from which the outputs'
dtypes come. Numba's failures become ``CompileError``.
"""

from __future__ import annotations

import inspect
import operator
import re
import types as pytypes
import weakref

import numba
from numba.core import types
from numba.core.compiler import (
    CompilerBase,
    DefaultPassBuilder,
    Flags,
    _EarlyPipelineCompletion,
    compile_extra,
)
from numba.core.compiler_lock import global_compiler_lock
from numba.core.compiler_machinery import FunctionPass, register_pass
from numba.core.imputils import lower_builtin
from numba.core.registry import cpu_target
from numba.core.typed_passes import NopythonTypeInference
from numba.core.typing.templates import AbstractTemplate, infer_global, signature

from . import source
from .errors import CompileError


def _no_print(*args, sep=" ", end="\n", file=None, flush=False):
    """Stands in for ``print`` in per-example functions whose source is unavailable.

    Compiled code may call it with any arguments and ``print``'s keywords; it
    does nothing (see ``_NoPrintTemplate``).
    """


@infer_global(_no_print)
class _NoPrintTemplate(AbstractTemplate):
    """Types ``_no_print(*args, **keywords)`` as returning None, whatever the arguments."""

    def generic(self, args, kws):
        names = [f"arg{k}" for k in range(len(args))] + list(kws)
        parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                      for name in names]
        return signature(types.none, *args, *kws.values()).replace(
            pysig=inspect.Signature(parameters))


@lower_builtin(_no_print, types.VarArg(types.Any))
def _lower_no_print(context, builder, sig, args):
    return context.get_dummy_value()


def source_location(py_func) -> str:
    """``name (file:line)`` of a Python function, for messages."""
    code = py_func.__code__
    return f"{py_func.__name__} ({code.co_filename}:{code.co_firstlineno})"


def compile_per_example(py_func, *, fastmath: bool, boundscheck: bool | None,
                        cache_key: str | None):
    """A Numba dispatcher for ``py_func`` without its ``print`` / ``logging`` calls.

    The calls are removed from the source; without source, ``print`` becomes a
    no-op. Scalar arithmetic follows NumPy's error model (``1.0 / 0.0`` is
    inf), as array arithmetic does. ``fastmath`` and ``boundscheck`` are
    Numba's options (``boundscheck=None``: Numba's default). With a
    ``cache_key`` (the function's fingerprint) Numba caches the dispatcher on
    disk under a name that carries it: Numba's own key misses helpers in
    other files and module constants.
    """
    silent = source.without_side_effects(py_func)
    if silent is None:
        silent = pytypes.FunctionType(
            py_func.__code__,
            dict(py_func.__globals__, print=_no_print),
            py_func.__name__,
            py_func.__defaults__,
            py_func.__closure__,
        )
        silent.__kwdefaults__ = py_func.__kwdefaults__
    digest = f"_{cache_key[:16]}" if cache_key else ""
    silent.__qualname__ = f"{py_func.__qualname__}__numbavmap{digest}"
    silent.__module__ = py_func.__module__
    return numba.njit(fastmath=fastmath, boundscheck=boundscheck, cache=cache_key is not None,
                      error_model="numpy")(silent)


def example_type(value_type, axes: tuple):
    """Numba's type for one example of a value of type ``value_type``.

    ``axes`` holds the dimension each loop level indexes (None: unmapped);
    the index is the kernel's, e.g. ``x[i, :, i1]``.
    """
    mapped = [axis for axis in axes if axis is not None]
    if not mapped:
        return value_type
    index = [types.slice2_type] * (max(mapped) + 1)
    for axis in mapped:
        index[axis] = types.intp
    index_type = types.Tuple(index) if len(index) > 1 else index[0]
    context = cpu_target.typing_context
    context.refresh()
    signature = context.resolve_function_type(operator.getitem, (value_type, index_type), {})
    return signature.return_type


def tree_type(tree, leaf_types):
    """Numba's type for a tuple/list/namedtuple tree with the given leaf types."""
    iterator = iter(leaf_types)

    def build(node):
        if node.is_leaf:
            return next(iterator)
        children = [build(child) for child in node.children]
        pyclass = node.cls if node.kind == "namedtuple" else tuple
        return types.BaseTuple.from_types(children, pyclass)

    return build(tree)


def result_type(dispatcher, py_func, arg_types: list, kwarg_types: dict):
    """Numba's result type of ``dispatcher`` for these per-example argument types.

    Numba's own pipeline runs up to type inference and stops: nothing is
    lowered or compiled (a fused kernel never calls the function). Where
    that pipeline fails, the full compile runs, to report Numba's error as a
    ``CompileError``.
    """
    try:
        _, folded = dispatcher.fold_argument_types(tuple(arg_types), kwarg_types)
        return _typed_only(dispatcher, tuple(folded))
    except Exception:  # noqa: BLE001 - the full compile below reports it
        pass
    try:
        _, _, folded, _ = dispatcher.get_call_template(tuple(arg_types), kwarg_types)
        return dispatcher.overloads[tuple(folded)].signature.return_type
    except Exception as exc:  # noqa: BLE001 - every Numba failure becomes a CompileError
        raise compile_error(py_func, exc) from None


@register_pass(mutates_CFG=False, analysis_only=True)
class _StopAfterTyping(FunctionPass):
    """Ends a pipeline once types are inferred, with the return type as its result."""

    _name = "numbavmap_stop_after_typing"

    def __init__(self):
        FunctionPass.__init__(self)

    def run_pass(self, state):
        raise _EarlyPipelineCompletion(state)


class _TypingPipeline(CompilerBase):
    """Numba's nopython pipeline up to and including type inference."""

    def define_pipelines(self):
        manager = DefaultPassBuilder.define_untyped_pipeline(self.state)
        manager.add_pass(NopythonTypeInference, "nopython frontend")
        manager.add_pass(_StopAfterTyping, "stop after typing")
        manager.finalize()
        return [manager]


@global_compiler_lock
def _typed_only(dispatcher, arg_types: tuple):
    """The return type Numba infers for ``dispatcher`` on ``arg_types``, compiling nothing."""
    if arg_types in dispatcher.overloads:
        return dispatcher.overloads[arg_types].signature.return_type
    target = dispatcher.targetdescr
    flags = Flags()
    target.options.parse_as_flags(flags, dispatcher.targetoptions)
    target.typing_context.refresh()
    target.target_context.refresh()
    state = compile_extra(target.typing_context, target.target_context, dispatcher.py_func,
                          args=arg_types, return_type=None, flags=flags,
                          locals=dispatcher.locals, pipeline_class=_TypingPipeline)
    _TYPED_IR.setdefault(dispatcher, {})[arg_types] = (state.func_ir.blocks, state.typemap)
    return state.return_type


#: The typed IR of per-example functions typed without compiling.
_TYPED_IR: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def typed_blocks(dispatcher) -> list[tuple[dict, dict]]:
    """``(blocks, typemap)`` of every typing of ``dispatcher``: its compiled
    overloads and the typings ``result_type`` did without compiling."""
    found = [(overload.type_annotation.blocks, overload.type_annotation.typemap)
             for overload in dispatcher.overloads.values()]
    return found + list(_TYPED_IR.get(dispatcher, {}).values())


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def numba_reason(exc: BaseException) -> str:
    """Numba's message without colour codes or its ``During: ...`` compiler trail."""
    lines = _ANSI.sub("", str(exc)).strip().splitlines()
    kept = [line for line in lines if not line.startswith("During:")]
    return "\n".join(kept).strip()


def compile_error(py_func, exc: BaseException) -> CompileError:
    """A ``CompileError`` naming the function, its file:line and Numba's reason."""
    hint = ""
    reason = str(exc)
    if "readonly" in reason and ("setitem" in reason or "Cannot modify" in reason):
        hint = (
            "\nnumbavmap passes inputs read-only (inputs are never written to): "
            "copy an argument before changing it in place."
        )
    return CompileError(
        f"{source_location(py_func)} cannot be compiled by Numba in nopython mode:\n"
        f"{numba_reason(exc)}{hint}"
    )


def signature_names(py_func, num_positional: int) -> list[str]:
    """Names for the positional arguments of a call: parameter names, then ``args_k``."""
    names = []
    star = None
    for param in inspect.signature(py_func).parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(param.name)
        elif param.kind == param.VAR_POSITIONAL:
            star = param.name
    if num_positional > len(names):
        star = star or "arg"
        names += [f"{star}_{k}" for k in range(num_positional - len(names))]
    return names[:num_positional]
