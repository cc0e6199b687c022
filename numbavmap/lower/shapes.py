"""Index maps that cost nothing at run time: broadcasting, static indexing, transposes.

Shapes are static per specialization, so each of these is a new ``Array``
whose element reads another array's element at a rewritten index.
"""

from __future__ import annotations

import numbers

import numpy as np

from .values import Array, Unrolled, Unsupported


def broadcast_shape(arrays) -> tuple[tuple, tuple]:
    """``(shape, dims)`` of NumPy's broadcast of ``arrays``' shapes.

    Each dimension keeps the loop bound of an array that has it at full
    size (its ``shape[d]`` expression), else the literal size. Arrays of one
    shape (0-d ones broadcast to any) need no arithmetic on it: sizes known
    only at run time (``numbavmap.targets.cpu_jit.RuntimeDim``) fuse there.
    """
    shaped = [array for array in arrays if array.shape]
    if shaped and all(array.shape == shaped[0].shape for array in shaped):
        written_out = [array for array in shaped
                       if any(isinstance(dim, Unrolled) for dim in array.dims)]
        return shaped[0].shape, (written_out or shaped)[0].dims
    if not shaped:
        return (), ()
    try:
        shape = np.broadcast_shapes(*(array.shape for array in arrays))
    except ValueError:
        raise Unsupported("shapes that do not broadcast") from None
    dims = []
    for d, size in enumerate(shape):
        bound = str(size)
        for array in arrays:
            k = d - (len(shape) - len(array.shape))
            if k >= 0 and array.shape[k] == size:
                bound = array.dims[k]
                break
        dims.append(bound)
    return tuple(shape), tuple(dims)


def broadcast_to(array: Array, shape: tuple, dims: tuple) -> Array:
    """``array`` read as NumPy broadcasts it to ``shape``."""
    if array.shape == shape:
        return array
    offset = len(shape) - len(array.shape)
    fixed = [size == 1 and shape[offset + k] != 1 for k, size in enumerate(array.shape)]

    def element(index):
        return array.element(["0" if stretched else index[offset + k]
                              for k, stretched in enumerate(fixed)])

    return Array(shape, dims, array.dtype, element, array.scalar_type, array.heavy)


def literal_dims(shape: tuple, dims: tuple) -> tuple:
    """Loop bounds as literals where sizes are known when compiling, so that LLVM
    unrolls short loops (a 3-term dot product); run-time sizes and written-out
    (``Unrolled``) dimensions keep their bound."""
    return tuple(str(size) if isinstance(size, numbers.Integral)
                 and not isinstance(dim, Unrolled) else dim for size, dim in zip(shape, dims))


def offset_index(start: int, step: int, index: str) -> str:
    """Source for ``start + step * index``, simplified (a number for a literal index)."""
    if index.isdigit():
        return str(start + step * int(index))
    if step == 1:
        return index if start == 0 else f"({index} + {start})"
    if step == -1:
        return f"({start} - {index})"
    return f"({start} + {step} * {index})" if start else f"({step} * {index})"


def subscript(array: Array, items: list) -> tuple[Array | None, list | None]:
    """``array[items]`` for static ints and slices.

    Returns ``(array, None)`` for a view (some dimension left) or
    ``(None, index)``: the element index of a single element.
    """
    if len(items) > len(array.shape):
        raise Unsupported("too many indices for the array")
    items = list(items) + [slice(None)] * (len(array.shape) - len(items))
    shape, dims, maps = [], [], []
    for size, dim, item in zip(array.shape, array.dims, items):
        if isinstance(item, int):
            position = item + size if item < 0 else item
            if not 0 <= position < size:
                raise Unsupported(f"index {item} out of range for size {size}")
            maps.append(str(position))
            continue
        start, stop, step = item.indices(size)
        length = len(range(start, stop, step))
        whole = (start, step, length) == (0, 1, size)
        shape.append(length)
        dims.append(dim if whole else Unrolled(length) if isinstance(dim, Unrolled)
                    else str(length))
        maps.append((start, step))
    if not shape:
        return None, maps

    def element(index):
        rest = iter(index)
        return array.element([m if isinstance(m, str) else offset_index(*m, next(rest))
                              for m in maps])

    return Array(tuple(shape), tuple(dims), array.dtype, element, array.scalar_type,
                 array.heavy), None


def transpose(array: Array) -> Array:
    """``array.T``: dimensions reversed."""
    return Array(array.shape[::-1], array.dims[::-1], array.dtype,
                 lambda index: array.element(list(index)[::-1]), array.scalar_type, array.heavy)


def along(array: Array, axis: int, index: list) -> Array:
    """The 1-D line of ``array`` along ``axis`` through the other dims' ``index``."""
    def element(k):
        return array.element(list(index[:axis]) + list(k) + list(index[axis:]))

    return Array((array.shape[axis],), (array.dims[axis],), array.dtype, element,
                 array.scalar_type, array.heavy)


def without(values: tuple, axis: int) -> tuple:
    """``values`` with entry ``axis`` left out."""
    return values[:axis] + values[axis + 1:]
