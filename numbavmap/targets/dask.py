"""Dask arrays in, Dask arrays out: a vmapped call as a lazy blockwise map.

``dask_call`` runs on the client when an argument is a Dask array, and
computes nothing:

1. bind the call on stand-ins of the Dask arrays (zero-strided arrays of
   their shapes and dtypes), so that every contract error is raised now, with
   the same message as for NumPy arguments;
2. trace once, on an empty batch of zero-filled stand-ins: the outputs'
   structure, per-example shapes and dtypes, with no block computed;
3. build the graph: one task per block of the mapped axis calls the function
   on that block (the other axes of mapped arguments whole; each unmapped
   array one graph key that every task reads); each output is a Dask array
   taken from the blocks' results along its ``out_axes``, and an
   ``out_axes=None`` output is one task that checks the blocks agree.

Tasks run the serial kernel where ``parallel="auto"``: Dask runs blocks in
parallel already, and a serial kernel is safe on every Numba threading
layer. ``parallel=True`` is kept (parallel launches take turns on the
``workqueue`` layer; see ``numbavmap.execute``).
"""

from __future__ import annotations

import operator
import threading
import weakref

import dask
import dask.array as da
import numpy as np
from dask.layers import ArrayValuesDep

from ..errors import shift_example_index
from ..trees import flatten, unflatten
from .dask_hook import options, token

#: The Dask config key that lets vmap rechunk mapped arguments whose other
#: axes are split: ``dask.config.set({"numbavmap.allow_rechunk": True})``.
ALLOW_RECHUNK = "numbavmap.allow_rechunk"
BATCH = "batch"

_BLOCK_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BLOCK_FUNCTIONS_LOCK = threading.Lock()


def dask_call(vmapped, args: tuple, kwargs: dict):
    """``vmapped(*args, **kwargs)`` for arguments with Dask arrays, as Dask arrays."""
    leaves, tree = flatten((tuple(args), tuple(kwargs.values())))
    keywords = tuple(kwargs)
    lazy = {j for j, leaf in enumerate(leaves) if isinstance(leaf, da.Array)}
    for j in lazy:
        _check_known_shape(leaves[j], vmapped)
    stand_ins = [_stand_in(leaf) if j in lazy else leaf for j, leaf in enumerate(leaves)]
    call = vmapped._bind(*_arguments(tree, keywords, stand_ins))
    for j in lazy:
        _check_numpy_blocks(leaves[j], call.names[j], vmapped)
    mapped = any(axis is not None for axis in call.axes)
    function = _block_function(vmapped, mapped)
    placeholders = [_placeholder(leaves[j], axis) if j in lazy or axis is not None else value
                    for j, (value, axis) in enumerate(zip(call.leaves, call.axes))]
    spec = function._specialization(function._bind(*_arguments(tree, keywords, placeholders)))
    chunks = _batch_chunks(leaves, call, lazy)
    values = [leaves[j] if j in lazy else value for j, value in enumerate(call.leaves)]
    block_args, depths = _block_arguments(values, call, chunks, vmapped)
    offsets = tuple(int(o) for o in np.cumsum((0,) + chunks[:-1]))
    task = _Block(function, tree, keywords, depths, _output_checks(spec), vmapped._error_prefix())
    results = da.blockwise(
        task, (BATCH,), _offsets(offsets, chunks), (BATCH,),
        *block_args, dtype=object, meta=np.empty((0,), object), align_arrays=False,
        adjust_chunks={BATCH: chunks},
        name=f"vmap-{vmapped.__name__}-{dask.base.tokenize(task, offsets, *block_args)}")
    outputs = [_unmapped_output(results, spec, k, offsets, chunks, vmapped)
               if spec.unmapped[k] else _mapped_output(results, spec, k, call.size)
               for k in range(len(spec.out_dtypes))]
    return outputs[0] if spec.out_tree.is_leaf else unflatten(spec.out_tree, outputs)


def _offsets(offsets: tuple, chunks: tuple) -> ArrayValuesDep:
    """Each block's first example, handed to its task as ``map_blocks`` hands
    ``block_info`` (no task of its own)."""
    return ArrayValuesDep((chunks,), np.array(offsets, np.int64))


def _arguments(tree, keywords: tuple, leaves: list) -> tuple[list, dict]:
    """The positional and keyword arguments with ``leaves`` put back in place."""
    positional, keyword_values = unflatten(tree, leaves)
    return list(positional), dict(zip(keywords, keyword_values))


def _stand_in(array: da.Array) -> np.ndarray:
    """A zero-strided array of ``array``'s shape and (native) dtype: costs no memory."""
    return np.broadcast_to(np.zeros((), array.dtype.newbyteorder("=")), array.shape)


def _placeholder(array, axis) -> np.ndarray:
    """The trace's zero-filled stand-in: an empty batch along a mapped axis, or the
    whole (lazily allocated) shape for an unmapped Dask array."""
    shape = array.shape if axis is None else array.shape[:axis] + (0,) + array.shape[axis + 1:]
    return np.zeros(shape, array.dtype.newbyteorder("="))


def _check_known_shape(array: da.Array, vmapped) -> None:
    if any(np.isnan(dim) for dim in array.shape):
        raise ValueError(
            f"{vmapped._error_prefix()}: a Dask array argument of shape {array.shape} has "
            "unknown chunk sizes; call .compute_chunk_sizes() on it first")


def _check_numpy_blocks(array: da.Array, name: str, vmapped) -> None:
    meta = getattr(array, "_meta", None)
    if type(meta) is not np.ndarray:
        raise TypeError(
            f"{vmapped._error_prefix()}: argument {name} is a Dask array of "
            f"{type(meta).__module__}.{type(meta).__name__} blocks; vmap runs on NumPy "
            "blocks (convert with .map_blocks(np.asarray))")


def _block_function(vmapped, mapped: bool):
    """What each block calls: ``vmapped`` with a serial kernel for ``parallel="auto"``
    and, where something is mapped, no ``axis_size`` (a block is part of the batch).

    A clone counts its traces and compilations in ``vmapped.cache_info()``.
    """
    changes = {}
    if vmapped.options.parallel == "auto":
        changes["parallel"] = False
    if mapped and vmapped.axis_size is not None:
        changes["axis_size"] = None
    if not changes:
        return vmapped
    key = tuple(sorted(changes.items()))
    with _BLOCK_FUNCTIONS_LOCK:
        clones = _BLOCK_FUNCTIONS.setdefault(vmapped, {})
        if key not in clones:
            clone = type(vmapped)(vmapped.py_func, **{**options(vmapped), **changes})
            clone._counts = vmapped._counts
            clones[key] = clone
        return clones[key]


def _batch_chunks(leaves: list, call, lazy: set) -> tuple:
    """The blocks of the batch: the mapped Dask arrays' chunks (their common
    refinement where they differ), one block when only NumPy arrays are mapped."""
    chunkings = {leaves[j].chunks[call.axes[j]] for j in lazy if call.axes[j] is not None}
    if not chunkings:
        return (call.size,)
    if len(chunkings) == 1:
        return chunkings.pop()
    bounds = sorted({int(b) for c in chunkings for b in np.cumsum((0,) + c)})
    return tuple(int(size) for size in np.diff(bounds))


def _block_arguments(values: list, call, chunks: tuple, vmapped) -> tuple[list, list]:
    """``blockwise``'s ``(argument, index)`` pairs, and per leaf the axes it
    holds whole (``blockwise`` hands their single blocks in nested lists)."""
    pairs, depths = [], []
    for j, (value, axis, name) in enumerate(zip(values, call.axes, call.names)):
        if axis is not None:
            array = _mapped_array(value, axis, name, chunks, vmapped)
            pairs += [array, tuple(BATCH if d == axis else f"{j}.{d}" for d in range(array.ndim))]
            depths.append(array.ndim - 1)
        elif isinstance(value, (da.Array, np.ndarray)):
            pairs += [_one_key(value), None]
            depths.append(0)
        else:
            pairs += [value, None]
            depths.append(0)
    return pairs, depths


def _mapped_array(value, axis: int, name: str, chunks: tuple, vmapped) -> da.Array:
    """A mapped argument as a Dask array with the batch's chunks along ``axis`` and
    one chunk along every other axis (rechunking those only when allowed)."""
    if isinstance(value, np.ndarray):
        return da.from_array(value, chunks=tuple(
            chunks if d == axis else size for d, size in enumerate(value.shape)))
    split = [d for d in range(value.ndim) if d != axis and len(value.chunks[d]) > 1]
    if split and not dask.config.get(ALLOW_RECHUNK, False):
        d = split[0]
        raise ValueError(
            f"{vmapped._error_prefix()}: argument {name} of shape {value.shape} has "
            f"{len(value.chunks[d])} chunks {value.chunks[d]} along axis {d}, which is not "
            f"mapped (the mapped axis is {axis}): every block must hold whole examples. "
            f"Rechunk it first, {name}.rechunk({{{d}: -1}}), or let vmap rechunk with "
            f"dask.config.set({{'{ALLOW_RECHUNK}': True}}) (more memory per task and "
            "more communication)")
    if split:
        value = value.rechunk({d: -1 for d in split})
    if value.chunks[axis] != chunks:
        value = value.rechunk({axis: chunks})
    return value


def _one_key(value):
    """An unmapped array as one graph key (not copied into every task)."""
    if isinstance(value, np.ndarray):
        return dask.delayed(value, pure=True)
    if int(np.prod(value.numblocks)) > 1:
        value = value.rechunk(-1)
    return value.to_delayed(optimize_graph=False).ravel()[0]


def _output_checks(spec) -> list:
    """Per output leaf: its name, its batch axis (None: unmapped) and its
    stacked shape for a block of 0 examples."""
    return [(name, None if unmapped else positions[0], spec.stacked_shape(k, 0))
            for k, (name, unmapped, positions)
            in enumerate(zip(spec.out_names, spec.unmapped, spec.out_positions))]


def _mapped_output(results: da.Array, spec, k: int, size: int) -> da.Array:
    """Output ``k``, taken from each block's results, its batch along ``out_axes``."""
    position = spec.out_positions[k][0]
    shape = spec.stacked_shape(k, size)
    index = tuple(BATCH if d == position else f"out{k}.{d}" for d in range(len(shape)))
    dtype = spec.out_dtypes[k]
    return da.blockwise(
        operator.getitem, index, results, (BATCH,), k, None, dtype=dtype,
        new_axes={index[d]: shape[d] for d in range(len(shape)) if d != position},
        meta=np.empty((0,) * len(shape), dtype),
        name=f"{results.name.rsplit('-', 1)[0]}-{k}-{dask.base.tokenize(results.name, k)}")


def _unmapped_output(results: da.Array, spec, k: int, offsets, chunks, vmapped) -> da.Array:
    """Output ``k`` (``out_axes=None``): one task, after the blocks agree."""
    parts = [block[k] for block in results.to_delayed(optimize_graph=False).ravel()]
    agreed = _Agreed(spec.out_names[k], spec.out_dtypes[k], vmapped._error_prefix())
    value = dask.delayed(agreed, pure=True)(offsets, chunks, parts)
    shape = spec.out_shapes[k]
    dtype = spec.out_dtypes[k]
    return da.from_delayed(value, shape=shape, dtype=dtype,
                           meta=np.empty((0,) * len(shape), dtype))


def _unwrap(value, depth: int):
    """A block handed in ``depth`` levels of one-element lists."""
    for _ in range(depth):
        (value,) = value
    return value


class _Block:
    """One task: the function on one block of the batch.

    An example's error is re-raised with its index in the whole batch; an
    output whose per-example shape differs from the client's trace is an error.
    """

    def __init__(self, function, tree, keywords, depths, outputs, prefix):
        self.function = function
        self.tree = tree
        self.keywords = keywords
        self.depths = depths
        self.outputs = outputs
        self.prefix = prefix

    def __dask_tokenize__(self):
        return (token(self.function), repr(self.tree), self.keywords, self.depths,
                repr(self.outputs))

    def __call__(self, offset, *leaves):
        offset = int(offset)
        leaves = [_unwrap(value, depth) for value, depth in zip(leaves, self.depths)]
        args, kwargs = _arguments(self.tree, self.keywords, leaves)
        try:
            result = self.function(*args, **kwargs)
        except Exception as exc:
            shifted = shift_example_index(exc, offset)
            if shifted is exc:
                raise
            raise shifted from None
        values, _ = flatten(result)
        for value, (name, position, shape) in zip(values, self.outputs):
            if position is not None and not _same_shape(np.shape(value), shape, position):
                raise ValueError(
                    f"{self.prefix}: examples return different shapes: the block of examples "
                    f"from {offset} returned {name} of shape {np.shape(value)}, but the "
                    f"trace (on a zero-filled example) gave {shape} for 0 examples; on Dask "
                    "arrays a result's shape must not depend on the values")
        return tuple(values)


def _same_shape(got: tuple, empty: tuple, position: int) -> bool:
    """``got`` is ``empty`` (a block of 0 examples) but for the batch axis."""
    return len(got) == len(empty) and all(
        g == e for d, (g, e) in enumerate(zip(got, empty)) if d != position)


class _Agreed:
    """An ``out_axes=None`` output's task: the value every non-empty block returned."""

    def __init__(self, name, dtype, prefix):
        self.name = name
        self.dtype = dtype
        self.prefix = prefix

    def __dask_tokenize__(self):
        return (self.name, str(self.dtype), self.prefix)

    def __call__(self, offsets, sizes, values):
        blocks = [(o, v) for o, s, v in zip(offsets, sizes, values) if s] or [(0, values[0])]
        first_offset, first = blocks[0]
        for offset, value in blocks[1:]:
            if not np.array_equal(value, first, equal_nan=self.dtype.kind in "fc"):
                raise ValueError(
                    f"{self.prefix}: out_axes=None for {self.name}, but it depends on the "
                    f"mapped inputs: example {offset} returned a different value than "
                    f"example {first_offset}; use an int out_axes to stack it")
        return first
