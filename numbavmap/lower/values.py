"""What the fuser computes with, and typed literals and conversions of generated source.

A per-example value is a ``Scalar`` (a Python expression and its Numba
type) or an ``Array`` (a static shape and a function from an index to the
element's expression). Arrays are lazy, as in Numba's array expressions: a
chain of elementwise operations is one scalar expression, converted to the
array's dtype where the array is stored (named, reduced or returned).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba.core import types

from ..numba_typing import NotTyped, array_type, constructor, result

#: Scalar conversions fused as the same call: ``np.float32(x)``.
CONVERSIONS = frozenset(
    "bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float32 float64 complex64 "
    "complex128".split()
)
#: Literal sources for accumulators of Python's own types.
_LITERAL = {types.int64: "{}", types.float64: "{}.0", types.complex128: "({}+0j)"}


class Unsupported(Exception):
    """The function is outside the fusable subset; ``line`` is where (in its file)."""

    line: int | None = None


@dataclass(frozen=True)
class Fusion:
    """The outcome of ``fuse``: the body's lines, or why the function was not fused."""

    lines: tuple[str, ...] | None
    reason: str | None = None


@dataclass(frozen=True)
class Scalar:
    """A per-example scalar: a Python expression and its Numba type.

    ``value`` is its Python value when known before run time (a literal, a
    shape, an unrolled loop's counter), which static indices and ranges need.
    """

    expr: str
    type: object
    value: object = None


class Unrolled(str):
    """A loop bound known when compiling whose loop is written out, one statement
    per index (``"0"``, ``"1"``...): a dimension of an array held in scalar
    variables, such as ``np.linalg.solve``'s result (``numbavmap.lower.linalg``)."""

    @property
    def size(self) -> int:
        return int(self)


@dataclass(frozen=True)
class Array:
    """A per-example array: static shape, loop bounds, dtype (a Numba type) and element.

    ``scalar_type`` is the type of the element expression when it is not yet
    ``dtype`` (an elementwise chain, typed by Numba's scalar rules);
    ``heavy`` marks an element costly to recompute: one that runs a loop of
    its own (a matrix product, an axis reduction) or calls a transcendental
    function (``np.exp``, ``math.log``...), which is stored before it is reused.
    ``view`` is the source of the same elements as a NumPy array (``x[i, :]``
    for an argument as it came in, ``buffer_0`` for a scratch array); None for
    anything computed and not stored.
    """

    shape: tuple
    dims: tuple
    dtype: object
    element: Callable[[list], str]
    scalar_type: object = None
    heavy: bool = False
    view: str | None = None

    @property
    def type(self):
        return array_type(self.dtype, len(self.shape))

    def materialized(self) -> Array:
        """The array as Numba stores it: each element converted to ``dtype``."""
        if self.scalar_type is None or self.scalar_type == self.dtype:
            return Array(self.shape, self.dims, self.dtype, self.element, heavy=self.heavy,
                         view=self.view)
        return Array(self.shape, self.dims, self.dtype,
                     lambda index: convert(self.element(index), self.dtype), heavy=self.heavy)


@dataclass(frozen=True)
class Operand:
    """A kernel argument as the per-example function sees it.

    ``dtype`` is Numba's type of one element (of the scalar, for a scalar).
    """

    shape: tuple
    dims: tuple
    dtype: object
    element: Callable[[list | None], str]


class Fields(tuple):
    """A namedtuple argument's items in order, with its field ``names`` (the
    body reads ``point.x`` as well as ``point[0]``)."""

    def __new__(cls, items, names: tuple):
        fields = super().__new__(cls, items)
        fields.names = names
        return fields


@dataclass(frozen=True)
class Target:
    """An output leaf: its per-example shape, dtype, and how to write one element."""

    path: tuple
    shape: tuple
    dtype: np.dtype
    element: Callable[[list], str]


def typed(function, arg_types):
    """Numba's result type of ``function`` on ``arg_types``; Unsupported if untyped."""
    try:
        return result(function, arg_types)
    except NotTyped as exc:
        raise Unsupported(str(exc)) from None


def cast(expr: str, from_type, to_type) -> str:
    """``expr`` converted to ``to_type``, leaving implicit what Numba's scalar
    arithmetic converts by itself (an integer into int64 or float64)."""
    implicit = from_type == to_type or isinstance(from_type, types.Integer) and (
        to_type == types.float64 or to_type == types.int64
        and (from_type.signed or from_type.bitwidth < 64))
    return expr if implicit else convert(expr, to_type)


def convert(expr: str, numba_type) -> str:
    """``np.<type>(expr)``, without doubling ``expr``'s own outer parentheses."""
    return f"{constructor(numba_type)}{expr if _parenthesized(expr) else f'({expr})'}"


def _parenthesized(expr: str) -> bool:
    """True when ``expr``'s first parenthesis closes at its end: ``(a + b)``."""
    if not expr.startswith("("):
        return False
    depth = 0
    for position, char in enumerate(expr):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return position == len(expr) - 1
    return False


def constant(value) -> Scalar:
    """A Python number as a source literal with the type Numba gives it."""
    if type(value) is bool:
        return Scalar(repr(value), types.boolean, value)
    if type(value) is int:
        if not -(2**63) <= value < 2**63:
            raise Unsupported("integer constant beyond int64")
        return Scalar(repr(value) if value >= 0 else f"({value})", types.int64, value)
    if type(value) is float:
        if math.isnan(value):
            return Scalar("np.nan", types.float64)
        if math.isinf(value):
            return Scalar("np.inf" if value > 0 else "(-np.inf)", types.float64)
        return Scalar(repr(value), types.float64)
    if type(value) is complex and all(map(math.isfinite, (value.real, value.imag))):
        return Scalar(repr(value), types.complex128)
    if isinstance(value, np.generic) and value.dtype.name in CONVERSIONS:
        inner = constant(value.item())
        numba_type = types.boolean if value.dtype.kind == "b" else getattr(types,
                                                                          value.dtype.name)
        return Scalar(f"{constructor(numba_type)}({inner.expr})", numba_type)
    raise Unsupported(f"constant of type {type(value).__name__}")


def typed_literal(value: int, numba_type) -> str:
    """Source for the number ``value`` with exactly ``numba_type``."""
    literal = _LITERAL.get(numba_type)
    if literal is not None:
        return literal.format(value)
    if numba_type == types.boolean:
        return repr(bool(value))
    return f"{constructor(numba_type)}({value})"


def stored(value):
    """``value`` as Numba holds it once named, reduced or returned."""
    return value.materialized() if isinstance(value, Array) else value


def scalar_type(value):
    """The type of ``value``'s element (or scalar) expression."""
    if isinstance(value, Scalar):
        return value.type
    return value.dtype if value.scalar_type is None else value.scalar_type


def operand_dtype(value):
    """The element type of an array, the type of a scalar."""
    return value.dtype if isinstance(value, Array) else value.type


def static_int(value, what: str) -> int:
    """The Python int a Scalar holds before run time (an axis, an index, a range)."""
    if not isinstance(value, Scalar) or type(value.value) is not int:
        raise Unsupported(f"{what} not known when compiling")
    return value.value


@contextlib.contextmanager
def located(node):
    """Give an ``Unsupported`` raised inside ``node`` the innermost node's line."""
    try:
        yield
    except Unsupported as exc:
        if exc.line is None:
            exc.line = getattr(node, "lineno", None)
        raise
