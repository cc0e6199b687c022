"""Float sums in NumPy's pairwise order, as loops of 8 independent partial sums.

NumPy's ``np.add.reduce`` (``pairwise_sum`` in ``loops_utils.h.src``) adds
an array of ``n`` elements in C order as follows: a range of at most 128
elements is a *block*, summed in 8 independent partial sums (element ``k``
into partial ``k % 8``) that are then added as a balanced tree, the last
``n % 8`` elements one after another; a longer range splits in two at half
its length rounded down to a multiple of 8, and the sums of the halves are
added. The result is ``0.0 + `` that sum.

The emitted code follows that order exactly. A sum of at most 128
elements is one block. A longer one walks NumPy's tree: every leaf of it
lies at depth ``d`` or ``d + 1`` (``d`` counted along the leftmost path),
so the loop visits the ``2 ** (d + 1)`` ranges at depth ``d + 1``, where a
block of depth ``d`` is its own left half and an empty right half, and
adds them as a binary counter does, through a stack of ``d + 2`` partial
sums. Where the size is known and every leaf is at depth ``d`` (1,000
elements: 8 blocks of 124 to 128), the loop visits just those ``2 ** d``.
Partials start at ``+0.0`` rather than at the first elements: that changes
at most the sign of a zero along the way, and NumPy's final ``0.0 + ``
removes that too, so the result is the same bits.

The 8 partials of a block do not wait on one another, so a block runs at
the processor's throughput rather than at the latency of one addition;
LLVM's SLP vectorizer (off in Numba, on for numbavmap's kernels:
``targets/slp.py``) packs them into vector additions, without fastmath.
"""

from __future__ import annotations

import numbers

from ..numba_typing import constructor
from .emit import Emitter, elements, size_source
from .values import Array, Scalar, typed_literal

#: The most elements NumPy sums as one block, and how many partial sums a block keeps.
BLOCK, LANES = 128, 8


def pairwise_sum(emitter: Emitter, name: str, value: Array, numba_type) -> Scalar:
    """A scalar ``name_k`` of float ``numba_type``: ``value``'s elements, in C
    order, summed in NumPy's pairwise order."""
    zero = typed_literal(0, numba_type)
    static = all(isinstance(size, numbers.Integral) for size in value.shape)
    size = elements(value.shape) if static else None
    if static and size < LANES or not (static and size <= BLOCK or emitter.scratch):
        # NumPy adds fewer than 8 elements one after another; longer sums on a
        # device, which cannot allocate the tree's stack, add as Numba does.
        return emitter.accumulate(name, value, zero, "{r} += {e}", numba_type)
    if value.heavy and emitter.storable(value.shape):
        # computed first in a loop of its own, which LLVM vectorises (libm.exp):
        # a block's 8 statements per step are not vectorised as a loop
        value = emitter.buffer(value)
    total = emitter.fresh(name)
    if static and size <= BLOCK:
        _block(emitter, value, total, zero, "0", str(size))
    else:
        _tree(emitter, value, total, numba_type, size)
    return Scalar(total, numba_type)


def _tree(emitter: Emitter, value: Array, total: str, numba_type, size) -> None:
    """The ranges at depth ``d + 1`` of NumPy's tree, each a block, added in its order."""
    zero = typed_literal(0, numba_type)
    stack, block, level = (emitter.fresh(base) for base in ("stack", "block", "level"))
    start, length, half = (emitter.fresh(base) for base in ("start", "size", "half"))
    if size is None:
        size = size_source(value)
        depth = emitter.fresh("depth")
        emitter.emit(f"{depth}, {length} = 0, {size}")
        emitter.indented(f"while {length} > {BLOCK}:",
                         [f"{length} = {length} // 2 - {length} // 2 % {LANES}",
                          f"{depth} += 1"])
        blocks, levels, last_level, stack_size = f"2 << {depth}", f"{depth} + 1", depth, "64"
    else:
        depth = leftmost_depth(size)
        if rightmost_depth(size) == depth:  # every leaf at depth d: visit just those
            depth -= 1
        blocks, levels, last_level, stack_size = (str(2 << depth), str(depth + 1), str(depth),
                                                  str(depth + 2))
    emitter.emit(f"{stack} = np.empty({stack_size}, {constructor(numba_type)})")
    emitter.emit(f"for {block} in range({blocks}):  # NumPy's ranges at depth {levels}")
    body: list[str] = []
    with emitter.capture(body):
        emitter.emit(f"{start}, {length} = 0, {size}")
        emitter.indented(f"for {level} in range({levels}):  # halve as NumPy does", [
            f"{half} = {length} // 2 - {length} // 2 % {LANES} if {length} > {BLOCK} "
            f"else {length}",
            f"if {block} >> ({last_level} - {level}) & 1:",
            f"    {start} += {half}",
            f"    {length} -= {half}",
            "else:",
            f"    {length} = {half}",
        ])
        _block(emitter, value, total, zero, start, length)
        emitter.emit(f"{level} = 0  # add to the sums of the ranges on its left")
        emitter.indented(f"while {block} >> {level} & 1:",
                         [f"{total} = {stack}[{level}] + {total}", f"{level} += 1"])
        emitter.emit(f"{stack}[{level}] = {total}")
    for line in body:
        emitter.emit(f"    {line}")
    emitter.emit(f"{total} = {stack}[{levels}]")


def _block(emitter: Emitter, value: Array, total: str, zero: str, first: str,
           count: str) -> None:
    """``total``: the ``count`` elements from ``first`` on, as one NumPy block."""
    lanes = [emitter.fresh("part") for _ in range(LANES)]
    emitter.emit(f"{' = '.join(lanes)} = {zero}")
    if count.isdigit():
        stop, last = str(int(count) - int(count) % LANES), count
    else:
        stop, last = emitter.fresh("stop"), f"{first} + {count}"
        emitter.emit(f"{stop} = {last} - {count} % {LANES}")
    index = emitter.fresh("k")
    _loop(emitter, index, f"range({first}, {stop}, {LANES})",
          lambda: _lanes(emitter, value, lanes, index))
    pairs = lanes
    while len(pairs) > 1:
        pairs = [f"({a} + {b})" for a, b in zip(pairs[::2], pairs[1::2])]
    emitter.emit(f"{total} = {pairs[0][1:-1]}")
    if stop == last:  # a static count, a multiple of LANES: no elements left over
        return
    index = emitter.fresh("k")
    _loop(emitter, index, f"range({stop}, {last})",
          lambda: [f"{total} += {flat(value, index)}"])


def _lanes(emitter: Emitter, value: Array, lanes: list, index: str) -> list:
    """The updates of the 8 partials by the elements from C-order position ``index``
    on. Where rows have at least 8 elements, their row and column are found once:
    the 8 elements then lie in that row and at most the next one."""
    columns = value.shape[-1]
    if len(value.shape) == 1 or not isinstance(columns, numbers.Integral) or columns < LANES:
        return [f"{lane} += {flat(value, _plus(index, offset))}"
                for offset, lane in enumerate(lanes)]
    row, column = emitter.fresh("row"), emitter.fresh("column")
    emitter.emit(f"{row} = {index} // {columns}")
    emitter.emit(f"{column} = {index} % {columns}")
    here = _unravel(value.shape[:-1], value.dims[:-1], row)
    below = _unravel(value.shape[:-1], value.dims[:-1], f"{row} + 1")
    updates = []
    for offset, lane in enumerate(lanes):
        element = value.element([*here, _plus(column, offset)])
        if columns % LANES and offset:
            wrapped = value.element([*below, f"{column} - {columns - offset}"])
            element = f"({element} if {column} + {offset} < {columns} else {wrapped})"
        updates.append(f"{lane} += {element}")
    return updates


def _loop(emitter: Emitter, index: str, header_range: str, statements) -> None:
    """``for index in header_range:`` around ``statements()``; lines the elements
    emit go inside the loop, before the statement that uses them."""
    body: list[str] = []
    emitter.depth += 1
    try:
        with emitter.capture(body):
            for statement in statements():
                emitter.emit(statement)
    finally:
        emitter.depth -= 1
    emitter.indented(f"for {index} in {header_range}:", body)


def flat(value: Array, index: str) -> str:
    """``value``'s element at C-order position ``index`` (source for an integer)."""
    if len(value.shape) == 1:
        return value.element([index])
    return value.element(_unravel(value.shape, value.dims, index))


def _unravel(shape: tuple, dims: tuple, index: str) -> list:
    """The index of C-order position ``index`` in an array of ``shape``."""
    if len(shape) == 1:
        return [index]
    sizes = [str(size) if isinstance(size, numbers.Integral) else dim
             for size, dim in zip(shape, dims)]
    position = []
    index = index if index.isidentifier() else f"({index})"
    for axis in range(len(sizes)):
        inner = " * ".join(sizes[axis + 1:])
        divisor = f"({inner})" if "*" in inner else inner
        term = f"{index} // {divisor}" if inner else index
        position.append(f"{term} % {sizes[axis]}" if axis else term)
    return position


def _plus(index: str, offset: int) -> str:
    return f"{index} + {offset}" if offset else index


def rightmost_depth(size: int) -> int:
    """How many times NumPy halves ``size`` elements before the rightmost range,
    the largest at each depth, is a block: the depth of the deepest leaf."""
    depth = 0
    while size > BLOCK:
        size -= size // 2 - size // 2 % LANES
        depth += 1
    return depth


def leftmost_depth(size: int) -> int:
    """How many times NumPy halves ``size`` elements before the leftmost range is a block."""
    depth = 0
    while size > BLOCK:
        size = size // 2 - size // 2 % LANES
        depth += 1
    return depth
