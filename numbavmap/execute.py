"""Running a specialization's kernel: allocate, call, check, restack.

Outputs are allocated by the target (NumPy on the CPU) in their final
``out_axes`` layout and written in place by the kernel. A failing example is
reported with its index; nothing partial is returned.

``CallPlan`` is the hot path: for a call whose arguments have exactly the
shapes, strides and dtypes of an earlier call, everything but the kernel
call itself is precomputed, and the kernel is the compiled function Numba
chose at the first call, called without Numba's type dispatch
(``api.compiled_entry``).
"""

from __future__ import annotations

from copy import copy
from dataclasses import replace

import numpy as np

from .calls import INT64_MAX, INT64_MIN
from .errors import with_example_index
from .options import Options
from .specialize import Specialization, kernel_value
from .trace import call_with_leaves, example_leaves, run_on_placeholder, zero_example_leaves
from .trees import flatten, is_namedtuple_class, unflatten

_PLAIN_SCALARS = (bool, int, float, complex)


def plan_key(args: tuple, kwargs: dict):
    """A cheap key and the flattened leaves of a call, or ``(None, None)`` to take
    the full path.

    Calls of plain arrays and scalars, positional or keyword, and of
    tuples, lists and namedtuples of those get a key: each array's shape,
    strides and dtype, each scalar's type, each container's type and length,
    and the keywords in order. The leaves come in ``bind_call``'s order
    (positional arguments, then keywords, containers depth-first). No key for
    Python ints outside int64 and other types. A key does not promise that
    ``bind_call`` passes the leaves on unchanged (it converts arrays in
    non-native byte order): the caller stores a plan only for calls whose
    leaves it kept.
    """
    key = []
    for value in args:  # the common case first, inline: positional arrays are the leaves
        if type(value) is not np.ndarray:
            break
        key.append((value.shape, value.strides, value.dtype))
    else:
        if not kwargs:
            return tuple(key), args
    leaves = list(args[:len(key)])
    for value in args[len(key):]:
        if not _add_to_key(value, key, leaves):
            return None, None
    if kwargs:
        key.append(tuple(kwargs))
        for value in kwargs.values():
            if not _add_to_key(value, key, leaves):
                return None, None
    return tuple(key), leaves


def _add_to_key(value, key: list, leaves: list) -> bool:
    """Append ``value``'s key and leaves; False where the full path must bind it."""
    cls = type(value)
    if cls is np.ndarray:
        key.append((value.shape, value.strides, value.dtype))
        leaves.append(value)
        return True
    if cls is int and not INT64_MIN <= value <= INT64_MAX:
        return False
    if cls in _PLAIN_SCALARS:
        key.append(cls)
        leaves.append(value)
        return True
    if cls is tuple or cls is list or (isinstance(value, tuple) and is_namedtuple_class(cls)):
        key.append((cls, len(value)))
        for child in value:
            if not _add_to_key(child, key, leaves):
                return False
        return True
    return False


def plan_for(spec: Specialization, call, target, kernel, options: Options,
             parallel: bool) -> CallPlan:
    """The plan for ``call``: an ``ArrayPlan`` where it fits, else a ``CallPlan``."""
    fits = (call.size > 0 and spec.out_tree.is_leaf and not spec.unmapped[0]
            and not spec.description.can_fail)
    return (ArrayPlan if fits else CallPlan)(spec, call, target, kernel, options, parallel)


class CallPlan:
    """A specialization bound to one batch size and argument layout.

    A plan holds nothing a call writes to but its countdown to a compiled
    entry (``targets.cpu_entry``; a lost decrement only delays it): many
    threads may run it at once.
    """

    #: Calls left before the caller compiles this plan's entry; -1: never.
    calls_until_entry = -1
    #: The kernel's Numba dispatcher, set on plans that may get an entry.
    dispatcher = None
    #: The form of the calls that entry would take (``hot_call.call_form``).
    entry_form = None

    def __init__(self, spec: Specialization, call, target, kernel, options: Options,
                 parallel: bool):
        self.spec = spec
        self.target = target
        self.parallel = parallel
        self.kernel = target.launcher(kernel, parallel) if kernel is not None else None
        self.allocate = target.allocate
        self.call = replace(call, leaves=[])
        self.size = call.size
        self.allocations = [(spec.stacked_shape(k, call.size), dtype)
                            for k, dtype in enumerate(spec.out_dtypes)]
        extra = (parallel,) if options.parallel == "auto" else ()
        self.tail = (*spec.inner_sizes, call.size, *extra)
        self.status = spec.description.can_fail
        self.plain = not any(spec.unmapped)
        self.single = spec.out_tree.is_leaf
        # Fused code is ours and never writes its inputs: only a call into the
        # user's function needs read-only views to guarantee that.
        self.protect = spec.description.body is None

    def with_kernel(self, kernel, typed: bool) -> CallPlan:
        """This plan running ``kernel``, once compiled: the bare dispatcher, or where
        ``typed`` the compiled function itself, whose argument types (read-only
        views of the inputs included) were fixed at its first call, so that it
        takes the inputs as they are."""
        plan = copy(self)
        plan.kernel = self.target.launcher(kernel, self.parallel)
        plan.protect = self.protect and not typed
        return plan

    def run(self, leaves):
        """Run the kernel on ``leaves`` (the call's flattened arguments)."""
        spec = self.spec
        outputs = [self.allocate(shape, dtype) for shape, dtype in self.allocations]
        arguments = map(kernel_value, leaves) if self.protect else leaves
        if self.size:
            status = (self.allocate(self.size, np.uint8),) if self.status else ()
            failed = self.kernel(*arguments, *outputs, *status, *self.tail)
            if failed >= 0:
                rerun_failed(spec, replace(self.call, leaves=leaves), outputs, *status,
                             first=int(failed))
        if not self.plain:
            outputs = _finish_unmapped(spec, outputs, self.call, leaves)
        return outputs[0] if self.single else unflatten(spec.out_tree, outputs)


class ArrayPlan(CallPlan):
    """The common case's plan, with fewer steps: one stacked array out, a kernel
    that cannot fail (fused code: no status array, no read-only views), examples
    to run."""

    def __init__(self, *args):
        super().__init__(*args)
        ((self.shape, self.dtype),) = self.allocations

    def run(self, leaves):
        """Run the kernel on ``leaves`` (the call's flattened arguments)."""
        output = self.allocate(self.shape, self.dtype)
        failed = self.kernel(*leaves, output, *self.tail)
        if failed >= 0:  # never for a kernel that cannot fail; checked all the same
            rerun_failed(self.spec, replace(self.call, leaves=leaves), [output],
                         first=int(failed))
        return output


def _finish_unmapped(spec: Specialization, outputs: list, call, leaves: list) -> list:
    """``outputs`` with each ``out_axes=None`` output replaced by its single value.

    An empty batch has no example to take it from: it comes from running the
    compiled function on this call's placeholder example (its own unmapped
    inputs), never from an earlier call.
    """
    if call.size == 0:
        call = replace(call, leaves=leaves)
        placeholder = [kernel_value(value) for value in zero_example_leaves(call)]
        values, _ = flatten(run_on_placeholder(spec.rerun, call, placeholder))
        return [_single(np.array(value, dtype=spec.out_dtypes[k])) if spec.unmapped[k] else out
                for k, (out, value) in enumerate(zip(outputs, values))]
    return [_agreed_value(spec, k, out) if spec.unmapped[k] else out
            for k, out in enumerate(outputs)]


def _agreed_value(spec: Specialization, k: int, stacked: np.ndarray):
    """The single value of an ``out_axes=None`` output, after checking examples agree."""
    value = stacked[0]
    equal_nan = spec.out_dtypes[k].kind in "fc"
    for index in range(1, stacked.shape[0]):
        if not np.array_equal(stacked[index], value, equal_nan=equal_nan):
            raise ValueError(
                f"out_axes=None for {spec.out_names[k]}, but it depends on the mapped "
                f"inputs: example {index} returned a different value than example 0; "
                "use an int out_axes to stack it"
            )
    return _single(value.copy())


def _single(value: np.ndarray):
    """A 0-d result as a NumPy scalar, any other as the array itself."""
    return value[()] if value.ndim == 0 else value


def rerun_failed(spec: Specialization, call, outputs: list, status=None, *, first: int):
    """Run the examples that failed in the kernel again, one by one and unfused:
    raise the error of the first that raises, with its index, and write the
    results of the others into ``outputs``.

    Those are examples the fused body hands over (``numbavmap.lower.linalg``:
    a pivot that is zero, subnormal or NaN in a fused ``np.linalg.solve`` or
    ``inv``), whose value then is the unfused function's, LAPACK's. ``status``
    holds every example's (0: OK), ``first`` is the first not OK.
    """
    indices = [first] if status is None else first + np.flatnonzero(status[first:])
    for index in indices:
        index = int(index)
        error, result = example_rerun(spec, call, index)
        if error is not None:
            raise error from None
        if spec.description.body is None:
            raise RuntimeError(f"example {index} failed inside the compiled kernel "
                               "but not when run again on its own")
        for k, value in enumerate(flatten(result)[0]):
            np.moveaxis(outputs[k], spec.out_positions[k][0], 0)[index] = value


def raise_failure(spec: Specialization, call, index: int):
    """Re-raise the error of example ``index``, the first that failed on a device,
    with its index.

    The example runs again on its own: it raises its exception (RAISED), or
    returns a result of another shape than example 0's (WRONG_SHAPE). A fused
    body fails where the function does not in one case only: under
    fastmath=True, ``np.linalg.solve`` / ``inv`` written out
    (``numbavmap.lower.linalg``) found a zero pivot where LAPACK's rounding
    found none; that is the ``LinAlgError`` LAPACK gives a singular matrix.
    """
    error = example_failure(spec, call, index)
    if error is None and spec.description.body is not None:
        error = with_example_index(np.linalg.LinAlgError(
            "Matrix is singular to machine precision: a zero pivot in the fused "
            "np.linalg.solve / np.linalg.inv of fastmath=True, where LAPACK's rounding "
            "found none (see docs/user-guide/accuracy.md)"), index)
    if error is None:
        raise RuntimeError(f"example {index} failed inside the compiled kernel "
                           "but not when run again on its own")
    raise error from None


def example_failure(spec: Specialization, call, index: int) -> Exception | None:
    """The error example ``index`` gives when run again on its own, with its index,
    or None when it succeeds with example 0's shapes."""
    return example_rerun(spec, call, index)[0]


def example_rerun(spec: Specialization, call, index: int):
    """Example ``index`` run again on its own: ``(error, None)`` with the error it
    gives, with its index, or ``(None, result)`` when it returns example 0's
    shapes."""
    leaves = [kernel_value(value) for value in example_leaves(call, index)]
    try:
        result = call_with_leaves(spec.rerun, call, leaves)
    except Exception as exc:  # noqa: BLE001 - the user's exception, returned to be raised
        return with_example_index(exc, index), None
    result_leaves, _ = flatten(result)
    for k, value in enumerate(result_leaves):
        if np.shape(value) != _example_shape(spec, k):
            return ValueError(
                f"examples return different shapes: example {index} returned "
                f"{spec.out_names[k]} of shape {np.shape(value)}, but example 0 "
                f"returned shape {_example_shape(spec, k)}"
            ), None
    return None, result


def _example_shape(spec: Specialization, k: int) -> tuple:
    """The shape of output ``k`` for one outer example: the per-example shape,
    with the inner vmaps' batch axes where nested."""
    shape = list(spec.stacked_shape(k, 1))
    del shape[spec.out_positions[k][0]]
    return tuple(shape)
