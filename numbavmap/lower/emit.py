"""The emitter of a fused body's lines: fresh names, loops, scalars, accumulations.

Lines go to the current *sink*: the body itself, or the body of the loop
being written, so that an element needing statements of its own (the inner
loop of a matrix product, say) emits them just before the statement that
uses it, at the right depth.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable

from ..numba_typing import constructor
from .shapes import broadcast_shape, broadcast_to, literal_dims
from .values import Array, Scalar, Unrolled, Unsupported, stored

#: Most elements a heavy array may have before it is stored rather than
#: recomputed, and most iterations a ``for`` loop is unrolled.
UNROLL_LIMIT = 64
#: Most elements of a value whose loops take literal bounds, which LLVM unrolls
#: completely (W1's 3-element sum: 1.4x faster than with ``v.shape[1]``).
SHORT = 8
#: Element counts of a static value whose loops keep their run-time bound: LLVM
#: unrolls them completely and leaves them scalar (R8's 16-element rows: 2-3x
#: slower with a literal bound). From 24 on a literal bound is vectorised without
#: a remainder loop or a trip-count check (R1's 64-element rows: 0.56x, W4 0.81x,
#: parallel; the same serially).
KEEP_BOUND = range(SHORT + 1, 24)


class Emitter:
    """Writes a body's lines, naming every variable it introduces afresh."""

    def __init__(self, taken: set, scratch: bool = True):
        self.taken = set(taken)
        #: Whether the body may allocate scratch arrays (device code cannot).
        self.scratch = scratch
        self.lines: list[str] = []
        self.sink = self.lines
        self.depth = 0
        #: Each scratch array's allocating line, by the array's name.
        self.allocations: dict[str, str] = {}

    def fresh(self, base: str) -> str:
        counter = 0
        while f"{base}_{counter}" in self.taken:
            counter += 1
        name = f"{base}_{counter}"
        self.taken.add(name)
        return name

    def emit(self, line: str) -> None:
        self.sink.append(line)

    @contextlib.contextmanager
    def capture(self, lines: list):
        """Send emitted lines to ``lines`` for the duration."""
        outer, self.sink = self.sink, lines
        try:
            yield lines
        finally:
            self.sink = outer

    def indented(self, header: str, lines: list) -> None:
        """``header`` followed by ``lines`` one level deeper (``pass`` if none)."""
        self.emit(header)
        for line in lines or ["pass"]:
            self.emit(f"    {line}")

    def scalar(self, expr: str, numba_type, value=None) -> Scalar:
        """A new scalar variable holding ``expr``."""
        name = self.fresh("scalar")
        self.emit(f"{name} = {expr}")
        return Scalar(name, numba_type, value)

    def loop(self, dims, statement: Callable[[list], str | None]) -> None:
        """Nested loops over ``dims`` around ``statement(indices)``.

        Each dim is the source of a loop's ``range`` arguments: a bound
        (``64``, ``W.shape[1]``) or ``start, stop, step``. The body's own
        loops count ``j0, j1...``; loops inside an element take fresh names.
        Lines an element (or a ``statement`` that returns None) emits go
        inside the loop. An ``Unrolled`` dimension is written out: the
        statement once per index, with that index as a literal.
        """
        if self.depth == 0:
            indices = [f"j{d}" for d in range(len(dims))]
        else:
            indices = [self.fresh("k") for _ in dims]
        self.depth += 1
        try:
            self._nest(list(zip(indices, dims)), [], statement)
        finally:
            self.depth -= 1

    def _nest(self, levels: list, index: list, statement) -> None:
        if not levels:
            lines: list[str] = []
            with self.capture(lines):
                line = statement(index)
                if line is not None:
                    lines.append(line)
            self.sink.extend(lines)
            return
        (name, dim), rest = levels[0], levels[1:]
        if isinstance(dim, Unrolled):
            for position in range(dim.size):
                self._nest(rest, [*index, str(position)], statement)
            return
        body: list[str] = []
        with self.capture(body):
            self._nest(rest, [*index, name], statement)
        self.indented(f"for {name} in range({dim}):", body)

    def accumulate(self, name: str, value: Array, initial: str, update: str,
                   numba_type) -> Scalar:
        """A scalar ``name_k`` of ``numba_type``, starting at ``initial``, updated once
        per element (Numba's scalar rules, as its reductions' loops)."""
        result_name = self.fresh(name)
        self.emit(f"{result_name} = {initial}")
        self.loop(bounds(value), lambda index: update.format(r=result_name,
                                                             e=value.element(index)))
        return Scalar(result_name, numba_type)

    def buffer(self, value: Array, scan: bool = False) -> Array:
        """``value`` computed once into a scratch array of its shape and dtype; a
        ``scan`` (each element updates a running value) in one plain loop."""
        value = stored(value)
        name, array = self.scratch_array(value)
        self.store(name, value, scan)
        return array

    def scratch_array(self, like: Array) -> tuple[str, Array]:
        """A new per-example scratch array of ``like``'s shape and dtype, unfilled:
        its name, and its elements as an Array."""
        if not self.storable(like.shape):
            raise Unsupported("a temporary array too large to store per example, or on a "
                              "device, which cannot allocate")
        name = self.fresh("buffer")
        shape = ", ".join(map(str, like.shape)) + ("," if len(like.shape) == 1 else "")
        self.allocations[name] = f"{name} = np.empty(({shape}), {constructor(like.dtype)})"
        self.emit(self.allocations[name])
        return name, Array(like.shape, like.dims, like.dtype,
                           lambda index: f"{name}[{', '.join(index)}]", view=name)

    def filled_in_place(self, value: Array, destination: str) -> bool:
        """Whether ``value`` is a scratch array allocated in the body's own lines
        (not in a branch), which now names ``destination`` (a view of an output of
        its shape and dtype) instead: the loops that fill it write the output,
        and nothing is copied. The caller's to know that nothing writes to
        ``destination`` otherwise (the body's one ``return``)."""
        allocation = self.allocations.pop(value.view, None) if value.view else None
        if allocation not in self.lines:
            return False
        self.lines[self.lines.index(allocation)] = f"{value.view} = {destination}  # the output"
        return True

    def store(self, name: str, value: Array, scan: bool = False) -> None:
        """Loops writing every element of ``value`` into the array ``name``: writing
        loops, but for a ``scan``, which would not write the same twice."""
        loop = self.loop if scan else self.writing_loop
        loop(bounds(value), lambda index: f"{name}[{', '.join(index)}] = "
                                          f"{value.element(index)}")

    def writing_loop(self, dims, statement) -> None:
        """``loop``, for loops that only write elements of arrays (so that running
        them twice writes the same). Where they call ``libm.exp``, they call
        ``libm.exp_common`` instead (no rescaling, no special cases), and note
        whether any argument is ``libm.uncommon``; if one is (``|x| >= 512``,
        infinite or NaN: rare), the loops run again with ``libm.exp``, for its bits."""
        lines: list[str] = []
        with self.capture(lines):
            self.loop(dims, statement)
        if not any(_EXP in line for line in lines):
            self.sink.extend(lines)
            return
        flag = self.fresh("uncommon")
        self.emit(f"{flag} = False")
        for line in lines:
            common = line.replace(_EXP, _EXP_COMMON)
            self.emit(common)
            arguments = exp_arguments(common)
            if arguments:
                indent = common[:len(common) - len(common.lstrip())]
                checks = " | ".join(f"libm.uncommon({argument})" for argument in arguments)
                self.emit(f"{indent}{flag} |= {checks}")
        self.indented(f"if {flag}:  # exp of |x| >= 512, inf or NaN: its full case", lines)

    def reused(self, value: Array) -> Array:
        """An array read more than once: a heavy one is computed once into a
        scratch array where its size is known and small, else recomputed where
        it is read. (Measured: one allocation per example costs less than a
        second ``np.exp`` of 4 elements.)
        """
        if not value.heavy or not self.storable(value.shape):
            return value
        return self.buffer(value)

    def storable(self, shape) -> bool:
        """Whether this body may store an array of ``shape`` in a scratch array."""
        return self.scratch and storable(shape)

    def common(self, arrays) -> tuple[tuple, tuple, list]:
        """The broadcast shape and dims of ``arrays`` and each array as broadcast to
        it; a heavy array that broadcasting would recompute is stored first."""
        shape, dims = broadcast_shape(arrays)
        placed = [broadcast_to(self.buffer(array) if array.heavy and array.shape != shape
                               else array, shape, dims) for array in arrays]
        return shape, dims, placed


_EXP, _EXP_COMMON = "libm.exp(", "libm.exp_common("


def exp_arguments(line: str) -> list[str]:
    """The argument of each ``libm.exp_common(...)`` call in a line of source."""
    arguments = []
    start = line.find(_EXP_COMMON)
    while start >= 0:
        first = position = start + len(_EXP_COMMON)
        depth = 1
        while depth:
            depth += {"(": 1, ")": -1}.get(line[position], 0)
            position += 1
        arguments.append(line[first:position - 1])
        start = line.find(_EXP_COMMON, first)  # calls inside the argument too
    return arguments


def bounds(value: Array) -> tuple:
    """The loop bounds over ``value``: literals where its size is known, but for
    ``KEEP_BOUND`` sizes; else its dims."""
    static = all(isinstance(size, numbers.Integral) for size in value.shape)
    if static and elements(value.shape) not in KEEP_BOUND:
        return literal_dims(value.shape, value.dims)
    return value.dims


def size_source(value: Array) -> str:
    """Source for how many elements ``value`` has: a literal where its shape is
    known, else the product of its loop bounds (sizes known only at run time)."""
    if all(isinstance(size, numbers.Integral) for size in value.shape):
        return str(elements(value.shape))
    return f"({' * '.join(value.dims)})"


def storable(shape) -> bool:
    """Whether an array of ``shape`` has sizes known when compiling and few
    enough elements to be stored in a scratch array per example."""
    return all(isinstance(size, numbers.Integral) for size in shape) and \
        elements(shape) <= UNROLL_LIMIT**2


def elements(shape) -> int:
    """How many elements an array of ``shape`` has."""
    total = 1
    for size in shape:
        total *= size
    return total
