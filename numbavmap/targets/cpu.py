"""The CPU target: a kernel description printed as a Numba ``prange`` module.

``generate_source`` turns a ``KernelDescription`` (``numbavmap.ir``) and the
``Options`` into a readable module; ``CPU`` compiles and launches it.
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
    def first_positive_kernel(v, out_0, status, n0):
        for i in prange(n0):
            status[i] = first_positive_example(np.intp(i), v, out_0)
        for i in range(n0):
            if status[i] != OK:
                return i
        return -1

With ``parallel="auto"`` the kernel takes a ``parallel`` flag and holds the
``prange`` loop and a ``range`` loop behind ``if parallel:``; nested vmaps add
``for i1 in range(n1):`` loops inside the example function. The ``range``
loop allocates a fused body's scratch arrays once, before it; Numba hoists
them out of a ``prange`` loop itself. A fused body
(``numbavmap.fuse``) replaces the call and needs no ``try``; one that cannot
fail runs inline in the loop, with no example function and no status. The
first failure is found by a serial scan after the loop: a ``prange``
reduction would cost more to compile than the scan costs to run.

The per-example body lives in its own function because Numba neither
parallelises a ``prange`` loop containing ``try`` nor reports exceptions
raised inside a ``prange`` body: the status codes carry failures out, and the
caller re-runs the first failing example to re-raise its error with its
index. Each call has its own status array, allocated by the caller with the
outputs (a ``np.empty`` inside the kernel would compile an allocator each
first call), and the kernel releases the GIL (``nogil``): calls from many
threads run at once and never see each other's failures. The example index
is passed as ``np.intp(i)``: ``prange``'s own index is unsigned, and a
second index type would compile the example function twice.
"""

from __future__ import annotations

import re
import threading

import numba
import numpy as np

from ..ir import KernelDescription, KernelOutput, loop_index, tree_expression
from ..loader import load_module
from ..options import Options
from .slp import compiling_with_slp

OK, RAISED, WRONG_SHAPE = 0, 1, 2

#: Modules of ``numbavmap.lower`` a fused body may call: ``extrema`` (``np.max`` and
#: ``np.min`` as integer reductions), ``libm`` (the C library's ``exp``) and ``vecmath`` (``exp``
#: and the like under ``fastmath=True``).
_LOWER_MODULES = ("extrema", "libm", "vecmath")

#: A fused body's scratch array (a stored value, a pairwise sum's stack): every
#: example writes each element before reading it. One that is the output row
#: (``buffer_0 = out_0[i, :]``) does not match, and stays in the loop.
_SCRATCH = re.compile(r"\s*\w+ = np\.empty\(")

#: Below this much work (examples x (1 + elements per example)) ``parallel="auto"``
#: runs the serial loop: starting the thread pool costs more than it saves.
#: Measured on 2 cores (numba 0.68, omp layer), serial vs parallel broke even
#: between 4_096 and 16_384 for both a fused sum of squares and a scalar
#: ``while`` loop, over (n, 3) and (n, 64) batches; at 65_536 parallel was
#: 1.5-2x faster.
PARALLEL_THRESHOLD = 2**13


def auto_parallel(examples: int, work_per_example: int) -> bool:
    """``parallel="auto"``'s rule: run the ``prange`` loop for this much work.

    ``work_per_example`` is 1 + the elements one example reads. Python calls
    it as is; the ``@njit`` entry calls a compiled copy, so both paths decide
    alike.
    """
    return examples * work_per_example >= PARALLEL_THRESHOLD


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


def generate_source(desc: KernelDescription, options: Options) -> str:
    """The kernel module's Python source for ``desc`` compiled with ``options``."""
    data = [arg.name for arg in desc.args] + [output.name for output in desc.outputs]
    names = data + list(desc.sizes)
    status = ["status"] if desc.can_fail else []
    extra = ["n0", "parallel"] if options.parallel == "auto" else ["n0"]
    kernel_params = ", ".join(data + status + list(desc.sizes) + extra)
    body = example_body(desc)
    flags = options.numba_flags()
    fused_flags = flags + (", error_model='numpy'" if desc.body is not None else "")
    globals_note = ", ".join([desc.function] + [name for _, name in desc.namedtuples])
    header = f'''\
"""numbavmap kernel for {desc.function}: {_body_kind(desc)}, stacked outputs.

Generated code. Globals provided by numbavmap: {globals_note}.
"""
{imports(desc)}from numba import njit, prange
'''
    kernel = f"@njit(parallel={options.parallel is not False}, {{flags}}, nogil=True)\n" \
             f"def {desc.kernel_name}({kernel_params}):\n"
    if not desc.can_fail:  # fused code runs inline: no example function, no status
        return f'''{header}

{kernel.format(flags=fused_flags)}\
    """Run all n0 examples (fused code cannot fail: returns -1)."""
{_loops(options.parallel, body)}
    return -1
'''
    example_params = ", ".join(["i"] + names)
    example_args = ", ".join(["np.intp(i)"] + names)
    return f'''{header}
OK, RAISED, WRONG_SHAPE = {OK}, {RAISED}, {WRONG_SHAPE}


@njit({fused_flags})
def {desc.example_name}({example_params}):
    """Run example i, write its results into the outputs, return its status."""
{_guarded(body) if desc.body is None else _indent(body, 1)}
    return OK


{kernel.format(flags=flags)}\
    """Run all n0 examples, each writing its status; return the index of the
    first that failed, or -1 (np.intp(i): one index type, one compile)."""
{_loops(options.parallel, [f"status[i] = {desc.example_name}({example_args})"])}
    for i in range(n0):
        if status[i] != OK:
            return i
    return -1
'''


def imports(desc: KernelDescription) -> str:
    """The module's imports of the modules its code names: NumPy, and ``math``
    and ``numbavmap.lower``'s modules where the fused body calls them."""
    def called(module: str) -> bool:
        return desc.body is not None and any(re.search(rf"\b{module}\.", line)
                                             for line in desc.body)

    lower = [module for module in _LOWER_MODULES if called(module)]
    return ("import math\n" if called("math") else "") + "import numpy as np\n" + "".join(
        f"from numbavmap.lower import {module}\n" for module in lower)


def _body_kind(desc: KernelDescription) -> str:
    """How the kernel runs one example, for its docstring."""
    if desc.body is not None:
        return "fused loops per example"
    return "one call per example (not fused: see explain())"


def _loops(parallel, body: list[str]) -> str:
    """The loop over examples around ``body``: ``prange``, ``range``, or both
    behind ``if parallel:``."""

    def loop(kind: str, depth: int) -> str:
        if kind == "range":
            return _indent(_serial_loop(body), depth)
        return "    " * depth + f"for i in {kind}(n0):\n" + _indent(body, depth + 1)

    if parallel == "auto":
        return "\n".join(["    if parallel:", loop("prange", 2), "    else:", loop("range", 2)])
    return loop("prange" if parallel else "range", 1)


def _serial_loop(body: list[str]) -> list[str]:
    """The ``range`` loop's lines: the body's scratch arrays allocated once, before
    the loop (Numba hoists them out of a ``prange`` loop itself), then the loop."""
    scratch = [f"{line.strip()}  # scratch: each example overwrites it"
               for line in body if _SCRATCH.match(line)]
    rest = [f"    {line}" for line in body if not _SCRATCH.match(line)]
    return [*scratch, "for i in range(n0):", *rest]


class _CPU:
    """The CPU target: Numba ``prange`` kernels over NumPy arrays (see the module)."""

    name = "cpu"
    #: Outputs are allocated by NumPy: large allocations get huge pages, where
    #: Numba's allocator would page-fault every call.
    allocate = staticmethod(np.empty)

    def emit(self, description: KernelDescription, options: Options) -> str:
        """The kernel module's source."""
        return generate_source(description, options)

    def compile(self, source: str, namespace: dict, description: KernelDescription,
                cache_key: str | None):
        """The module's kernel dispatcher (Numba compiles it at its first call, with
        LLVM's SLP vectoriser: ``targets.slp``)."""
        module = load_module(source, namespace, cache_key)
        return compiling_with_slp(getattr(module, description.kernel_name))

    def launcher(self, kernel, parallel: bool):
        """``kernel``, or for a parallel launch one that takes turns on ``workqueue``."""
        if not parallel:
            return kernel

        def launch(*args):
            if serial_threading_layer():
                with _WORKQUEUE_LOCK:
                    return kernel(*args)
            return kernel(*args)

        return launch

    def runs_parallel(self, options: Options, examples: int, work_per_example: int) -> bool:
        """``options.parallel``, or ``"auto"``'s work rule."""
        if options.parallel == "auto":
            return auto_parallel(examples, work_per_example)
        return options.parallel


#: The CPU target.
CPU = _CPU()

#: Numba's ``workqueue`` threading layer aborts the process when two threads
#: launch parallel kernels at once; with it, parallel calls take turns.
_WORKQUEUE_LOCK = threading.Lock()
_threading_layer = None


def serial_threading_layer() -> bool:
    """True while Numba's threading layer is ``workqueue`` or not chosen yet
    (Numba chooses at the first parallel launch)."""
    global _threading_layer
    if _threading_layer is None:
        try:
            _threading_layer = numba.threading_layer()
        except ValueError:
            return True
    return _threading_layer == "workqueue"
