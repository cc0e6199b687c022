"""The kernel's description and the Python source generated from it.

``KernelDescription`` is everything the generator needs, and nothing about
NumPy values: the kernel's array arguments and the axis each is mapped over,
how they are put back together into the per-example call, and the outputs
with their ``out_axes``. ``generate_source`` turns it into a readable module.
For ``sum_of_squares(v)`` mapped over axis 0 it writes::

    @njit(fastmath=False, cache=False)
    def sum_of_squares_example(i, v, out_0):
        status = RAISED
        try:
            result = sum_of_squares(v[i])
            out_0[i] = result
            status = OK
        except Exception:
            pass
        return status

    @njit(parallel=True, fastmath=False, cache=False)
    def sum_of_squares_kernel(v, out_0, status):
        failures = 0
        for i in prange(status.shape[0]):
            status[i] = sum_of_squares_example(i, v, out_0)
            failures += status[i]
        return failures

The per-example body lives in its own function because Numba neither
parallelises a ``prange`` loop containing ``try`` nor reports exceptions
raised inside a ``prange`` body: the status codes carry failures out, and the
caller re-raises them with the failing example's index.
"""

from __future__ import annotations

from dataclasses import dataclass

from .trees import TreeDef

OK, RAISED, WRONG_SHAPE = 0, 1, 2
STATUS_NAMES = {"OK": OK, "RAISED": RAISED, "WRONG_SHAPE": WRONG_SHAPE}


@dataclass(frozen=True)
class KernelArg:
    """One array or scalar the kernel receives; ``axis`` None means unmapped."""

    name: str
    axis: int | None


@dataclass(frozen=True)
class CallArg:
    """One argument of the per-example call: its keyword (None if positional)
    and its tree of kernel arguments, consumed in order."""

    keyword: str | None
    tree: TreeDef


@dataclass(frozen=True)
class KernelOutput:
    """One stacked output: where it is in the result, its axis and per-example rank."""

    name: str
    path: tuple[int, ...]
    axis: int
    ndim: int


@dataclass(frozen=True)
class KernelDescription:
    """Everything the generator needs to write one kernel module."""

    function: str
    args: tuple[KernelArg, ...]
    call: tuple[CallArg, ...]
    outputs: tuple[KernelOutput, ...]
    namedtuples: tuple[str, ...] = ()
    parallel: bool | str = "auto"
    fastmath: bool = False
    cache: bool = False

    @property
    def example_name(self) -> str:
        return f"{self.function}_example"

    @property
    def kernel_name(self) -> str:
        return f"{self.function}_kernel"


def index_expression(name: str, axis: int | None, index: str = "i") -> str:
    """``x[i]`` for axis 0, ``x[:, i]`` for axis 1, ``x`` when unmapped."""
    if axis is None:
        return name
    return f"{name}[{', '.join([':'] * axis + [index])}]"


def _tree_expression(tree: TreeDef, leaves) -> str:
    if tree.is_leaf:
        return next(leaves)
    parts = [_tree_expression(child, leaves) for child in tree.children]
    if tree.kind == "namedtuple":
        return f"{tree.cls.__name__}({', '.join(parts)})"
    return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"


def call_expression(desc: KernelDescription) -> str:
    """The per-example call, e.g. ``f(x[i], (p_0, p_1[i]), scale=scale[i])``."""
    leaves = iter(index_expression(arg.name, arg.axis) for arg in desc.args)
    parts = []
    for call_arg in desc.call:
        expression = _tree_expression(call_arg.tree, leaves)
        parts.append(expression if call_arg.keyword is None else f"{call_arg.keyword}={expression}")
    return f"{desc.function}({', '.join(parts)})"


def _result_expression(path: tuple[int, ...]) -> str:
    return "result" + "".join(f"[{index}]" for index in path)


def _example_shape(output: KernelOutput) -> str:
    dims = [f"{output.name}.shape[{d}]" for d in range(output.ndim + 1) if d != output.axis]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def _copy_lines(output: KernelOutput, value: str) -> list[str]:
    """Element loops writing an array ``value`` into its slot of the stacked output."""
    indices = [f"j{d}" for d in range(output.ndim)]
    lines = [
        "    " * d + f"for {index} in range({value}.shape[{d}]):"
        for d, index in enumerate(indices)
    ]
    target = list(indices)
    target.insert(output.axis, "i")
    lines.append(
        "    " * output.ndim + f"{output.name}[{', '.join(target)}] = {value}[{', '.join(indices)}]"
    )
    return lines


def _output_lines(desc: KernelDescription) -> list[str]:
    """Name each result leaf, check array shapes, then write every leaf."""
    lines = []
    values = []
    for k, output in enumerate(desc.outputs):
        value = _result_expression(output.path)
        if output.path:
            lines.append(f"value_{k} = {value}")
            value = f"value_{k}"
        values.append(value)
    for output, value in zip(desc.outputs, values):
        if output.ndim > 0:
            lines.append(f"if {value}.shape != {_example_shape(output)}:")
            lines.append("    return WRONG_SHAPE")
    for output, value in zip(desc.outputs, values):
        if output.ndim == 0:
            lines.append(f"{index_expression(output.name, output.axis)} = {value}")
        else:
            lines.extend(_copy_lines(output, value))
    return lines


def generate_source(desc: KernelDescription) -> str:
    """The kernel module's Python source for ``desc``."""
    arg_names = [arg.name for arg in desc.args]
    out_names = [output.name for output in desc.outputs]
    example_params = ", ".join(["i"] + arg_names + out_names)
    extra = ["status", "parallel"] if desc.parallel == "auto" else ["status"]
    kernel_params = ", ".join(arg_names + out_names + extra)
    body = "\n".join(" " * 8 + line for line in _output_lines(desc))
    flags = f"fastmath={desc.fastmath}, cache={desc.cache}"
    globals_note = ", ".join((desc.function,) + desc.namedtuples)
    return f'''\
"""numbavmap kernel for {desc.function}: one call per example, stacked outputs.

Generated code. Globals provided by numbavmap: {globals_note}.
"""
from numba import njit, prange

OK, RAISED, WRONG_SHAPE = {OK}, {RAISED}, {WRONG_SHAPE}


@njit({flags})
def {desc.example_name}({example_params}):
    """Run example i, write its results into the outputs, return its status."""
    try:
        result = {call_expression(desc)}
{body}
    except Exception:
        return RAISED
    return OK


@njit(parallel={desc.parallel is not False}, {flags})
def {desc.kernel_name}({kernel_params}):
    """Run every example; status[i] is example i's status; return the failure count."""
    failures = 0
{_loops(desc.parallel, desc.example_name, example_params)}
    return failures
'''


def _loops(parallel, example_name: str, example_params: str) -> str:
    """The loop over examples: ``prange``, ``range``, or both behind ``if parallel``."""

    def loop(kind: str, indent: str) -> str:
        return (
            f"{indent}for i in {kind}(status.shape[0]):\n"
            f"{indent}    status[i] = {example_name}({example_params})\n"
            f"{indent}    failures += status[i]"
        )

    if parallel == "auto":
        return "\n".join(
            ["    if parallel:", loop("prange", " " * 8), "    else:", loop("range", " " * 8)]
        )
    return loop("prange" if parallel else "range", " " * 4)
