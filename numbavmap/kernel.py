"""The kernel's description and the Python source generated from it.

``KernelDescription`` is everything the generator needs, and nothing about
NumPy values: the kernel's array arguments and the axis each is mapped over,
how they are put back together into the per-example call, and the outputs
with their ``out_axes``. ``generate_source`` turns it into a readable module.
For a function outside the fusable subset, ``first_positive(v)`` mapped
over axis 0 with ``parallel=True``, it writes (docstrings left out)::

    @njit(fastmath=False, cache=False)
    def first_positive_example(i, v, out_0):
        try:
            result = first_positive(v[i])
            out_0[i] = result
        except Exception:
            return RAISED
        return OK

    @njit(parallel=True, fastmath=False, cache=False, nogil=True)
    def first_positive_kernel(v, out_0, n0):
        status = np.empty(n0, np.uint8)
        failures = 0
        for i in prange(n0):
            status[i] = first_positive_example(i, v, out_0)
            failures += status[i]
        return np.flatnonzero(status)[0] if failures else -1

With ``parallel="auto"`` the kernel takes a ``parallel`` flag and holds the
``prange`` loop and a ``range`` loop behind ``if parallel:``; nested vmaps add
``for i1 in range(n1):`` loops inside the example function; a fused body
(``numbavmap.fuse``) replaces the call and needs no ``try``.

The per-example body lives in its own function because Numba neither
parallelises a ``prange`` loop containing ``try`` nor reports exceptions
raised inside a ``prange`` body: the status codes carry failures out, and the
caller re-runs the first failing example to re-raise its error with its
index. Each call has its own status array, allocated by the kernel, and the
kernel releases the GIL (``nogil``): calls from many threads run at once and
never see each other's failures.
"""

from __future__ import annotations

from dataclasses import dataclass

from .trees import TreeDef

OK, RAISED, WRONG_SHAPE = 0, 1, 2

#: Below this much work (examples x (1 + elements per example)) ``parallel="auto"``
#: runs the serial loop: starting the thread pool costs more than it saves.
#: Measured on 2 cores (numba 0.68, omp layer), serial vs parallel broke even
#: between 4_096 and 16_384 for both a fused sum of squares and a scalar
#: ``while`` loop, over (n, 3) and (n, 64) batches; at 65_536 parallel was
#: 1.5-2x faster.
PARALLEL_THRESHOLD = 2**13


def loop_index(level: int) -> str:
    """The loop variable of nesting level ``level``: ``i``, then ``i1``, ``i2``..."""
    return "i" if level == 0 else f"i{level}"


@dataclass(frozen=True)
class KernelArg:
    """One array or scalar the kernel receives.

    ``axes[k]`` is the dimension of the whole array that loop level ``k``
    indexes (None: unmapped at that level); ``ndim`` is the array's rank.
    """

    name: str
    ndim: int
    axes: tuple[int | None, ...]

    @property
    def example_ndim(self) -> int:
        return self.ndim - sum(axis is not None for axis in self.axes)

    def element(self, elements) -> str:
        """The expression for one example, with ``elements`` indexing its own dims.

        ``elements`` None gives the example itself: ``x[i]``, ``x[:, i]``, ``x``.
        """
        positions = [None] * self.ndim
        for level, axis in enumerate(self.axes):
            if axis is not None:
                positions[axis] = loop_index(level)
        rest = iter(elements if elements is not None else [":"] * self.example_ndim)
        parts = [position if position is not None else next(rest) for position in positions]
        while parts and parts[-1] == ":":
            parts.pop()
        return f"{self.name}[{', '.join(parts)}]" if parts else self.name


@dataclass(frozen=True)
class CallArg:
    """One argument of the per-example call: its keyword (None if positional)
    and its tree of kernel arguments, consumed in order."""

    keyword: str | None
    tree: TreeDef


@dataclass(frozen=True)
class KernelOutput:
    """One stacked output: its path in the result, per-example rank, and the
    dimension of the stacked array each loop level writes."""

    name: str
    path: tuple[int, ...]
    ndim: int
    axes: tuple[int, ...]

    def element(self, elements) -> str:
        """The stacked output's element for the current example and ``elements``."""
        positions = [None] * (self.ndim + len(self.axes))
        for level, axis in enumerate(self.axes):
            positions[axis] = loop_index(level)
        rest = iter(elements)
        return f"{self.name}[{', '.join(p if p is not None else next(rest) for p in positions)}]"

    def example_shape(self) -> str:
        """The per-example shape as read from the stacked output array."""
        dims = [f"{self.name}.shape[{d}]" for d in range(self.ndim + len(self.axes))
                if d not in self.axes]
        return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


@dataclass(frozen=True)
class KernelDescription:
    """Everything the generator needs to write one kernel module.

    ``body``, when set, replaces the per-example call and output writes with
    fused code (see ``numbavmap.rewrite``). ``namedtuples`` pairs each
    namedtuple class in the call with its (unique) global name in the module.
    """

    function: str
    args: tuple[KernelArg, ...]
    call: tuple[CallArg, ...]
    outputs: tuple[KernelOutput, ...]
    levels: int = 1
    namedtuples: tuple[tuple[type, str], ...] = ()
    parallel: bool | str = "auto"
    fastmath: bool = False
    boundscheck: bool | None = None
    cache: bool = False
    body: tuple[str, ...] | None = None

    @property
    def example_name(self) -> str:
        return f"{self.function}_example"

    @property
    def kernel_name(self) -> str:
        return f"{self.function}_kernel"

    @property
    def sizes(self) -> list[str]:
        """Parameters holding the inner loop levels' sizes."""
        return [f"n{level}" for level in range(1, self.levels)]


def tree_expression(tree: TreeDef, leaves, class_names: dict) -> str:
    """Source building ``tree`` from ``leaves`` (expressions, consumed in order).

    ``class_names`` gives each namedtuple class's name in the generated module.
    """
    if tree.is_leaf:
        return next(leaves)
    parts = [tree_expression(child, leaves, class_names) for child in tree.children]
    if tree.kind == "namedtuple":
        return f"{class_names[tree.cls]}({', '.join(parts)})"
    return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"


def call_expression(desc: KernelDescription) -> str:
    """The per-example call, e.g. ``f(x[i], (p_0, p_1[i]), scale=scale[i])``."""
    leaves = iter(arg.element(None) for arg in desc.args)
    class_names = dict(desc.namedtuples)
    parts = []
    for call_arg in desc.call:
        expression = tree_expression(call_arg.tree, leaves, class_names)
        parts.append(expression if call_arg.keyword is None else f"{call_arg.keyword}={expression}")
    return f"{desc.function}({', '.join(parts)})"


def _result_expression(path: tuple[int, ...]) -> str:
    return "result" + "".join(f"[{index}]" for index in path)


def write_lines(output: KernelOutput, value: str, element) -> list[str]:
    """Element loops writing ``element(indices)`` of an array into the stacked output."""
    indices = [f"j{d}" for d in range(output.ndim)]
    lines = [
        "    " * d + f"for {index} in range({value}.shape[{d}]):"
        for d, index in enumerate(indices)
    ]
    lines.append("    " * output.ndim + f"{output.element(indices)} = {element(indices)}")
    return lines


def call_lines(desc: KernelDescription) -> list[str]:
    """Call the per-example function, check array shapes, write every result leaf."""
    lines = [f"result = {call_expression(desc)}"]
    values = []
    for k, output in enumerate(desc.outputs):
        value = _result_expression(output.path)
        if output.path:
            lines.append(f"value_{k} = {value}")
            value = f"value_{k}"
        values.append(value)
    for output, value in zip(desc.outputs, values):
        if output.ndim > 0:
            lines.append(f"if {value}.shape != {output.example_shape()}:")
            lines.append("    return WRONG_SHAPE")
    for output, value in zip(desc.outputs, values):
        if output.ndim == 0:
            lines.append(f"{output.element([])} = {value}")
        else:
            lines.extend(write_lines(output, value,
                                     lambda indices, v=value: f"{v}[{', '.join(indices)}]"))
    return lines


def example_body(desc: KernelDescription) -> list[str]:
    """The per-example function's body before ``return OK``: the inner levels'
    loops around the fused lines or the call (without its ``try``)."""
    inner = [f"for {loop_index(level)} in range(n{level}):" for level in range(1, desc.levels)]
    per_example = list(desc.body) if desc.body is not None else call_lines(desc)
    body = [" " * 4 * depth + line for depth, line in enumerate(inner)]
    return body + ["    " * len(inner) + line for line in per_example]


def _indent(lines, depth: int) -> str:
    return "\n".join("    " * depth + line for line in lines)


def _guarded(body) -> str:
    """``body`` inside ``try``: a call to user code may raise."""
    return f"    try:\n{_indent(body, 2)}\n    except Exception:\n        return RAISED"


def generate_source(desc: KernelDescription) -> str:
    """The kernel module's Python source for ``desc``."""
    names = [arg.name for arg in desc.args] + [output.name for output in desc.outputs]
    names += desc.sizes
    example_params = ", ".join(["i"] + names)
    extra = ["n0", "parallel"] if desc.parallel == "auto" else ["n0"]
    kernel_params = ", ".join(names + extra)
    body = example_body(desc)
    flags = f"fastmath={desc.fastmath}, cache={desc.cache}"
    if desc.boundscheck is not None:
        flags += f", boundscheck={desc.boundscheck}"
    example_flags = flags + (", error_model='numpy'" if desc.body is not None else "")
    globals_note = ", ".join([desc.function] + [name for _, name in desc.namedtuples])
    return f'''\
"""numbavmap kernel for {desc.function}: {_body_kind(desc)}, stacked outputs.

Generated code. Globals provided by numbavmap: {globals_note}.
"""
import numpy as np
from numba import njit, prange

OK, RAISED, WRONG_SHAPE = {OK}, {RAISED}, {WRONG_SHAPE}


@njit({example_flags})
def {desc.example_name}({example_params}):
    """Run example i, write its results into the outputs, return its status."""
{_guarded(body) if desc.body is None else _indent(body, 1)}
    return OK


@njit(parallel={desc.parallel is not False}, {flags}, nogil=True)
def {desc.kernel_name}({kernel_params}):
    """Run all n0 examples; return the index of the first that failed, or -1."""
    status = np.empty(n0, np.uint8)
    failures = 0
{_loops(desc.parallel, desc.example_name, example_params)}
    return np.flatnonzero(status)[0] if failures else -1
'''


def _body_kind(desc: KernelDescription) -> str:
    """How the kernel runs one example, for its docstring."""
    if desc.body is not None:
        return "fused loops per example"
    return "one call per example (not fused: see explain())"


def _loops(parallel, example_name: str, example_params: str) -> str:
    """The loop over examples: ``prange``, ``range``, or both behind ``if parallel``."""

    def loop(kind: str, indent: str) -> str:
        return (
            f"{indent}for i in {kind}(n0):\n"
            f"{indent}    status[i] = {example_name}({example_params})\n"
            f"{indent}    failures += status[i]"
        )

    if parallel == "auto":
        return "\n".join(
            ["    if parallel:", loop("prange", " " * 8), "    else:", loop("range", " " * 8)]
        )
    return loop("prange" if parallel else "range", " " * 4)
