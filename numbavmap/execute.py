"""Running a specialization's kernel: allocate, call, check, restack.

Outputs are allocated by NumPy (large allocations get huge pages; Numba's
allocator would page-fault every call) in their final ``out_axes`` layout
and written in place by the kernel. A failing example is reported with its
index; nothing partial is returned.
"""

from __future__ import annotations

import numpy as np

from .errors import with_example_index
from .kernel import RAISED, WRONG_SHAPE
from .specialize import Specialization, kernel_value
from .trace import call_with_leaves, example_leaves
from .trees import flatten, unflatten


def stacked_shape(shape: tuple, axis: int | None, size: int) -> tuple:
    """``shape`` with ``size`` inserted at ``axis`` (axis 0 for unmapped outputs)."""
    axis = 0 if axis is None else axis
    return shape[:axis] + (size,) + shape[axis:]


def run(spec: Specialization, call, parallel: bool):
    """Run the kernel over every example of ``call``; return the restacked result."""
    size = call.size
    outputs = [np.empty(stacked_shape(shape, axis, size), dtype)
               for shape, axis, dtype in zip(spec.out_shapes, spec.out_axes, spec.out_dtypes)]
    if size:
        status = np.zeros(size, np.uint8)
        arguments = [kernel_value(value) for value in call.leaves]
        extra = (parallel,) if spec.description.parallel == "auto" else ()
        if spec.kernel(*arguments, *outputs, status, *extra):
            raise_failure(spec, call, status)
    results = [_finish_unmapped(spec, k, out) if axis is None else out
               for k, (out, axis) in enumerate(zip(outputs, spec.out_axes))]
    return unflatten(spec.out_tree, results)


def _finish_unmapped(spec: Specialization, k: int, stacked: np.ndarray):
    """The single value of an ``out_axes=None`` output, after checking examples agree."""
    dtype = spec.out_dtypes[k]
    if stacked.shape[0] == 0:
        value = np.asarray(spec.traced[k], dtype=dtype)
    else:
        value = stacked[0]
        equal_nan = dtype.kind in "fc"
        for index in range(1, stacked.shape[0]):
            if not np.array_equal(stacked[index], value, equal_nan=equal_nan):
                raise ValueError(
                    f"out_axes=None for {spec.out_names[k]}, but it depends on the mapped "
                    f"inputs: example {index} returned a different value than example 0; "
                    "use an int out_axes to stack it"
                )
        value = value.copy()
    return value[()] if value.ndim == 0 else value


def raise_failure(spec: Specialization, call, status: np.ndarray):
    """Re-raise the first failing example's error with its index."""
    index = int(np.flatnonzero(status)[0])
    code = int(status[index])
    leaves = [kernel_value(value) for value in example_leaves(call, index)]
    if code == RAISED:
        try:
            call_with_leaves(spec.namespace[spec.description.function], call, leaves)
        except Exception as exc:  # noqa: BLE001 - re-raised with the same type
            raise with_example_index(exc, index) from None
        raise RuntimeError(f"example {index} raised inside the compiled kernel "
                           "but not when run again on its own")
    if code == WRONG_SHAPE:
        result_leaves, _ = flatten(call_with_leaves(spec.namespace[spec.description.function],
                                                    call, leaves))
        for k, value in enumerate(result_leaves):
            if np.shape(value) != spec.out_shapes[k]:
                raise ValueError(
                    f"examples return different shapes: example {index} returned "
                    f"{spec.out_names[k]} of shape {np.shape(value)}, but example 0 "
                    f"returned shape {spec.out_shapes[k]}"
                )
    raise RuntimeError(f"example {index} failed in the kernel with status {code}")
