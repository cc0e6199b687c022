"""``HotCall``: the base of ``VmappedFunction`` that calls a compiled entry.

A plan that is called often gets a compiled entry (``targets.cpu_entry``),
stored as ``_entry``. A call of positional plain ``np.ndarray`` arguments goes
straight to it; the entry returns None for a shape it was not made for, and
raises ``TypeError`` for other dtypes, ranks, layouts or flags, which retires
it. Every other call goes to the instance's ``_call_by_plan``.

That test and call is the whole cost numbavmap adds to a small hot call, so it
is written in C (``_hot_call.c``, built at install when a C compiler is
there): a Python ``__call__`` costs about 0.3 us more, a quarter of the time of
a call on a handful of examples. Without the extension, :class:`PythonHotCall`
does the same in Python. :data:`COMPILED` says which one is in use.
"""

from __future__ import annotations

import numpy as np


class PythonHotCall:
    """The entry fast path in Python; ``_hot_call.HotCall`` is the same in C."""

    _entry = None
    _entry_hits = 0

    def __call__(self, *args, **kwargs):
        entry = self._entry
        if entry is not None and not kwargs:
            for value in args:
                if type(value) is not np.ndarray:
                    break
            else:
                try:
                    output = entry(*args)
                except TypeError:  # other dtypes, ranks, layouts or flags: retire it
                    self._entry = output = None
                if output is not None:
                    self._entry_hits += 1
                    return output
        return self._call_by_plan(*args, **kwargs)


try:
    from ._hot_call import HotCall
except ImportError:  # built without a C compiler
    HotCall = PythonHotCall

#: Whether calls use the C ``HotCall`` (else :class:`PythonHotCall`).
COMPILED = HotCall is not PythonHotCall
