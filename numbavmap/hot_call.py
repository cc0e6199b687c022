"""``HotCall``: the base of ``VmappedFunction`` that calls a compiled entry.

A plan that is called often gets a compiled entry (``targets.cpu_entry``),
stored as ``_entry``, that takes the call's arrays flattened. A call of plain
``np.ndarray`` arguments in the entry's form (``_entry_form``, see
:func:`call_form`: arrays positional, in tuples or lists, or by keyword)
goes straight to it; the entry returns None for a shape it was not made for,
and raises ``TypeError`` for other dtypes, ranks, layouts or flags, which
retires it. Every other call goes to the instance's ``_call_by_plan``.

That test and call is the whole cost numbavmap adds to a small hot call, so it
is written in C (``_hot_call.c``, built at install when a C compiler is
there): a Python ``__call__`` costs about 0.3 us more, a quarter of the time of
a call on a handful of examples. Without the extension, :class:`PythonHotCall`
does the same in Python. :data:`COMPILED` says which one is in use.
"""

from __future__ import annotations

import numpy as np


def call_form(args: tuple, kwargs: dict):
    """The form of a call whose every leaf is a plain ``np.ndarray``, which the
    entry takes flattened: None for positional arrays only; else ``(counts,
    names, total)``, per positional argument 0 for an array, ``n`` for a tuple
    of ``n`` arrays and ``-n`` for a list of ``n`` arrays, the keywords (each an
    array) in call order, and the number of arrays. False for any other call."""
    if not kwargs and all(type(value) is np.ndarray for value in args):
        return None
    counts = []
    for value in args:
        if type(value) is np.ndarray:
            counts.append(0)
        elif type(value) in (tuple, list) and value and _arrays(value):
            counts.append(len(value) if type(value) is tuple else -len(value))
        else:
            return False
    if not _arrays(kwargs.values()):
        return False
    return tuple(counts), tuple(kwargs), sum(map(abs, counts)) + counts.count(0) + len(kwargs)


def _arrays(values) -> bool:
    """Whether every one of ``values`` is a plain ``np.ndarray``."""
    return all(type(value) is np.ndarray for value in values)


def _leaves_in_form(form, args: tuple, kwargs: dict):
    """The arrays of a call in ``form`` (a tuple of :func:`call_form`), in the
    entry's order, or None for a call of another form."""
    if call_form(args, kwargs) != form:
        return None
    leaves = []
    for value in args:
        if type(value) is np.ndarray:
            leaves.append(value)
        else:
            leaves.extend(value)
    leaves.extend(kwargs.values())
    return leaves


class PythonHotCall:
    """The entry fast path in Python; ``_hot_call.HotCall`` is the same in C."""

    _entry = None
    _entry_form = None
    _entry_hits = 0

    def __call__(self, *args, **kwargs):
        entry, form = self._entry, self._entry_form
        leaves = None
        if entry is not None:
            if form is None:
                if not kwargs and all(type(value) is np.ndarray for value in args):
                    leaves = args
            else:
                leaves = _leaves_in_form(form, args, kwargs)
        if leaves is not None:
            try:
                output = entry(*leaves)
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
