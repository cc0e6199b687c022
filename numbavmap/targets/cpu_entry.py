"""A compiled entry for a hot call: the whole call, not only the kernel, in Numba.

A call that hits a stored plan (``execute.ArrayPlan``) still spends about a
microsecond in Python: it builds the plan key, allocates the output and
calls the kernel's compiled function, twice the cost of calling a bare
``@njit`` loop. For small batches called in a loop that is most of the time.
So a plan that is called :data:`HOT_CALLS` times gets an entry: an ``@njit``
function that checks the arguments' shapes and strides against the plan's,
allocates the output and calls the kernel, and that Numba's own dispatcher
calls (it checks dtypes, ranks, layouts and the read-only flag). It returns
None for any other shape; then the call takes the plan path as before.
``hot_call.HotCall`` makes the call (in C when built).

Only plans that need nothing more get one: plain ``np.ndarray`` arguments,
positional, in tuples or lists, or by keyword (``hot_call.call_form``; no subclass:
Numba would take a masked array as its data), one
stacked output, fused code (it cannot fail), and a serial launch (parallel
launches may take turns on the ``workqueue`` layer, and are long enough that
the microsecond does not count). The entry compiles once, for the types of
the call that made the plan hot, and then never again: a call with other
types gets Numba's ``TypeError``, and the caller retires the entry.

Compiling it takes about 0.2 s, about as long as the :data:`HOT_CALLS` calls
before it took together (2 us each on a 2-core test machine): a loop of
calls spends at most about twice its time on them, and the entry has paid
for itself some 300,000 calls later (0.7 us saved per call).
"""

from __future__ import annotations

import numpy as np

from ..execute import ArrayPlan
from ..loader import load_module

#: Calls of one plan after which it gets a compiled entry.
HOT_CALLS = 100_000


def wants_entry(plan) -> bool:
    """Whether ``plan`` (stored for a call of plain arrays) may get an entry."""
    return type(plan) is ArrayPlan and not plan.parallel


def entry_source(plan, leaves) -> str:
    """The entry's source for ``plan`` and a call's ``leaves`` (its arrays)."""
    desc = plan.spec.description
    names = [arg.name for arg in desc.args]
    output = desc.outputs[0].name
    checks = " or ".join(f"{name}.shape != {value.shape!r} or {name}.strides != {value.strides!r}"
                         for name, value in zip(names, leaves))
    shapes = ", ".join(f"{name} {value.shape}" for name, value in zip(names, leaves))
    tail = ", ".join(_typed_constant(value) for value in plan.tail)
    return f'''\
"""numbavmap entry for {desc.function}: one hot call shape, compiled after {HOT_CALLS:,} calls.

Generated code. Globals provided by numbavmap: {desc.kernel_name}.
"""
import numpy as np
from numba import njit


@njit(nogil=True)
def {desc.function}_entry({", ".join(names)}):
    """Run the call of {shapes} (these strides); None for any other shape."""
    if {checks}:
        return None
    {output} = np.empty({plan.shape!r}, np.{plan.dtype.type.__name__})
    {desc.kernel_name}({", ".join(names)}, {output}, {tail})
    return {output}
'''


def _typed_constant(value) -> str:
    """``value`` (a size or the parallel flag) as the type the kernel was compiled
    for: a bare literal would compile the kernel again for literal types."""
    return f"np.bool_({value})" if isinstance(value, (bool, np.bool_)) else f"np.int64({value})"


def compile_entry(plan, kernel, leaves):
    """``plan``'s entry, compiled for ``leaves``' Numba types (by running it once on
    them) and closed to any other types."""
    desc = plan.spec.description
    module = load_module(entry_source(plan, leaves), {desc.kernel_name: kernel}, None)
    entry = getattr(module, f"{desc.function}_entry")
    entry(*leaves)
    entry.disable_compile()
    return entry

