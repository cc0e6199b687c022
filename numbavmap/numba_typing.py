"""Numba's typing of NumPy operations, asked of Numba itself.

Fused code (``numbavmap.fuse``) rewrites array expressions into scalar
loops. To give the dtypes and values the unfused compiled function gives,
every fused operation takes its types from Numba's own rules: ``result``
types a call (on arrays or on scalars) as Numba types it in the
per-example function. Typing happens under Numba's compiler lock: its
typing context is not thread-safe.
"""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import cpu_target


class NotTyped(Exception):
    """Numba has no typing for this operation on these types."""


def array_type(dtype, ndim: int) -> types.Array:
    """The Numba type of a C-contiguous array of ``dtype`` and ``ndim``."""
    return types.Array(dtype, ndim, "C")


@global_compiler_lock
def result(function, arg_types: tuple):
    """The type Numba gives ``function(*args)`` for arguments of ``arg_types``."""
    context = cpu_target.typing_context
    cpu_target.target_context.refresh()
    context.refresh()
    try:
        signature = context.resolve_function_type(
            context.resolve_value_type(function), tuple(arg_types), {})
    except Exception as exc:  # noqa: BLE001 - any typing failure means "not this way"
        raise NotTyped(str(exc)) from None
    if signature is None:
        raise NotTyped(f"{function} of {arg_types}")
    return signature.return_type


@global_compiler_lock
def unified(first, second):
    """The type Numba gives a variable bound to values of both types, or None."""
    context = cpu_target.typing_context
    context.refresh()
    return context.unify_pairs(first, second)


def constructor(numba_type) -> str:
    """Source that converts a scalar to ``numba_type``: ``np.int8``, ``np.float32``..."""
    if numba_type == types.boolean:
        return "np.bool_"
    return f"np.{np.dtype(str(numba_type)).name}"
