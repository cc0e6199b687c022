"""``np.linalg.solve``, ``inv`` and ``det`` of small matrices, written out.

Numba computes them with LAPACK (``getrf``, then ``getrs`` or ``getri``),
whose rounding fused code cannot reproduce: they are fused only under
``fastmath=True`` (docs/user-guide/accuracy.md), for float32 and float64
matrices of at most ``MAX_SIZE`` x ``MAX_SIZE`` whose size is known when
compiling. The entries are loaded into scalar variables and factored as
``getrf`` factors them: Gaussian elimination with partial pivoting (the row
with the largest absolute value in the column, the first on ties, swaps
with the pivot row), applied to the right-hand side as it goes (the
identity for ``inv``), then back substitution; ``det`` is the product of
the pivots with the permutation's sign. For ``np.linalg.solve(A, b)`` of
2x2 float64 examples the body is::

    lu00_0 = A[i, 0, 0]
    lu01_0 = A[i, 0, 1]
    lu10_0 = A[i, 1, 0]
    lu11_0 = A[i, 1, 1]
    x0_0 = b[i, 0]
    x1_0 = b[i, 1]
    if abs(lu10_0) > abs(lu00_0):
        lu00_0, lu10_0 = lu10_0, lu00_0
        lu01_0, lu11_0 = lu11_0, lu01_0
        x0_0, x1_0 = x1_0, x0_0
    if lu00_0 == 0.0:
        return RAISED
    l10_0 = lu10_0 / lu00_0
    lu11_0 = lu11_0 - l10_0 * lu01_0
    x1_0 = x1_0 - l10_0 * x0_0
    if lu11_0 == 0.0:
        return RAISED
    x1_0 = x1_0 / lu11_0
    x0_0 = (x0_0 - lu01_0 * x1_0) / lu00_0
    out_0[i, 0] = x0_0
    out_0[i, 1] = x1_0

An exactly singular matrix (a zero pivot) returns the RAISED status: the
caller re-runs the example unfused, and Numba's ``np.linalg.solve`` raises
its ``LinAlgError``. ``det`` of a singular matrix is ``0.0``, as LAPACK's
is. Numba's check that the matrix holds no infinity or NaN is compiled
away under ``fastmath=True`` (which assumes there are none), so no such
check is written here either.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba.core import types

from .emit import Emitter
from .values import Array, Scalar, Unrolled, Unsupported, stored, typed, typed_literal

#: The largest matrix fused (4x4), and the most columns of ``solve``'s right-hand side.
MAX_SIZE = 4


def checked_size(name: str, a, approximate: bool) -> int:
    """The size ``n`` of the ``n x n`` matrix ``a``, or Unsupported saying why
    ``np.linalg.<name>(a)`` is not fused."""
    if not isinstance(a, Array) or len(a.shape) != 2:
        raise Unsupported(f"np.linalg.{name} of other than a matrix")
    if a.dtype not in (types.float32, types.float64):
        raise Unsupported(f"np.linalg.{name} of {a.dtype} (fused for float32 and float64)")
    if not all(isinstance(size, numbers.Integral) for size in a.shape):
        raise Unsupported(f"np.linalg.{name} of a matrix whose size is known only at run time")
    rows, columns = a.shape
    if rows != columns or rows == 0:
        raise Unsupported(f"np.linalg.{name} of a {rows}x{columns} matrix")
    if rows > MAX_SIZE:
        raise Unsupported(f"np.linalg.{name} of a {rows}x{rows} matrix "
                          f"(fused up to {MAX_SIZE}x{MAX_SIZE})")
    if not approximate:
        raise Unsupported(f"np.linalg.{name} calls LAPACK, whose rounding fused code does "
                          "not reproduce; fastmath=True fuses it as Gaussian elimination "
                          "written out (docs/user-guide/accuracy.md)")
    return rows


def solve(emitter: Emitter, a: Array, b: Array, n: int) -> Array:
    """``np.linalg.solve(a, b)`` for a vector or matrix ``b``."""
    if not isinstance(b, Array) or len(b.shape) not in (1, 2):
        raise Unsupported("np.linalg.solve with a right-hand side other than a vector "
                          "or a matrix")
    typed(np.linalg.solve, [a.type, b.type])
    if not all(isinstance(size, numbers.Integral) for size in b.shape):
        raise Unsupported("np.linalg.solve of a right-hand side whose size is known only "
                          "at run time")
    if b.shape[0] != n:
        raise Unsupported("np.linalg.solve of shapes that do not match")
    columns = b.shape[1] if len(b.shape) == 2 else None
    if columns is not None and columns > MAX_SIZE:
        raise Unsupported(f"np.linalg.solve with a right-hand side of more than "
                          f"{MAX_SIZE} columns")
    b = stored(b)
    if columns is None:
        rhs = [[_load(emitter, f"x{r}", b, [r])] for r in range(n)]
    else:
        rhs = [[_load(emitter, f"x{r}{c}", b, [r, c]) for c in range(columns)]
               for r in range(n)]
    _eliminate(emitter, a, n, rhs)
    return _grid(rhs if columns is not None else [row[0] for row in rhs], a.dtype)


def inv(emitter: Emitter, a: Array, n: int) -> Array:
    """``np.linalg.inv(a)``: ``a`` solved for the identity."""
    rhs = []
    for r in range(n):
        row = []
        for c in range(n):
            name = emitter.fresh(f"x{r}{c}")
            emitter.emit(f"{name} = {typed_literal(int(r == c), a.dtype)}")
            row.append(name)
        rhs.append(row)
    _eliminate(emitter, a, n, rhs)
    return _grid(rhs, a.dtype)


def det(emitter: Emitter, a: Array, n: int):
    """``np.linalg.det(a)``: the pivots' product with the permutation's sign, 0.0
    for a singular matrix; in Numba's type (float64 for float32 matrices too)."""
    numba_type = typed(np.linalg.det, [a.type])
    sign = emitter.fresh("sign")
    emitter.emit(f"{sign} = {typed_literal(1, numba_type)}")
    lu = _eliminate(emitter, a, n, [[] for _ in range(n)], sign=sign)
    pivots = [lu[k][k] for k in range(n)]
    name = emitter.fresh("det")
    emitter.emit(f"{name} = {typed_literal(0, numba_type)}")
    emitter.indented(f"if {' and '.join(f'{p} != 0.0' for p in pivots)}:",
                     [f"{name} = {' * '.join([sign, *pivots])}"])
    return Scalar(name, numba_type)


def _load(emitter: Emitter, base: str, value: Array, index: list) -> str:
    name = emitter.fresh(base)
    emitter.emit(f"{name} = {value.element([str(k) for k in index])}")
    return name


def _eliminate(emitter: Emitter, a: Array, n: int, rhs: list,
               sign: str | None = None) -> list:
    """Factor ``a`` in scalar variables, as ``getrf``, applying each row operation to
    the rows of ``rhs`` (names, updated in place); then, unless computing a
    determinant (``sign``, negated at each swap), solve for ``rhs`` by back
    substitution. A zero pivot returns RAISED, except for a determinant."""
    a = stored(a)
    lu = [[_load(emitter, f"lu{r}{c}", a, [r, c]) for c in range(n)] for r in range(n)]
    for k in range(n):
        _pivot(emitter, lu, rhs, k, sign)
        if sign is None:
            emitter.indented(f"if {lu[k][k]} == 0.0:", ["return RAISED"])
        for r in range(k + 1, n):
            factor = emitter.fresh(f"l{r}{k}")
            emitter.emit(f"{factor} = {lu[r][k]} / {lu[k][k]}")
            for row in (lu, rhs):
                for c in range(k + 1 if row is lu else 0, len(row[r])):
                    emitter.emit(f"{row[r][c]} = {row[r][c]} - {factor} * {row[k][c]}")
    if sign is None:
        for k in reversed(range(n)):
            for c in range(len(rhs[k])):
                terms = "".join(f" - {lu[k][j]} * {rhs[j][c]}" for j in range(k + 1, n))
                numerator = f"({rhs[k][c]}{terms})" if terms else rhs[k][c]
                emitter.emit(f"{rhs[k][c]} = {numerator} / {lu[k][k]}")
    return lu


def _pivot(emitter: Emitter, lu: list, rhs: list, k: int, sign: str | None) -> None:
    """Swap into row ``k`` the row, from ``k`` on, of the largest ``abs`` in column
    ``k`` (the first of equals), as LAPACK's ``i?amax`` picks it."""
    n = len(lu)
    candidates = range(k + 1, n)
    if not candidates:
        return
    if len(candidates) == 1:
        emitter.indented(f"if abs({lu[k + 1][k]}) > abs({lu[k][k]}):",
                         _swap(lu, rhs, k, k + 1, sign))
        return
    pivot, largest = emitter.fresh("pivot"), emitter.fresh("largest")
    emitter.emit(f"{pivot} = {k}")
    emitter.emit(f"{largest} = abs({lu[k][k]})")
    for r in candidates:
        update = [f"{pivot} = {r}"]
        if r != n - 1:
            update.append(f"{largest} = abs({lu[r][k]})")
        emitter.indented(f"if abs({lu[r][k]}) > {largest}:", update)
    for r in candidates:
        keyword = "if" if r == k + 1 else "elif"
        emitter.indented(f"{keyword} {pivot} == {r}:", _swap(lu, rhs, k, r, sign))


def _swap(lu: list, rhs: list, k: int, r: int, sign: str | None) -> list[str]:
    """Lines swapping rows ``k`` and ``r`` (of ``lu`` from column ``k`` on, of ``rhs``)."""
    pairs = [(lu[k][c], lu[r][c]) for c in range(k, len(lu))]
    pairs += [(rhs[k][c], rhs[r][c]) for c in range(len(rhs[k]))]
    lines = [f"{first}, {second} = {second}, {first}" for first, second in pairs]
    return lines + ([f"{sign} = -{sign}"] if sign else [])


def _grid(names: list, dtype) -> Array:
    """An array whose elements are the scalar variables ``names`` (nested lists)."""
    shape = []
    level = names
    while isinstance(level, list):
        shape.append(len(level))
        level = level[0]
    return Array(tuple(shape), tuple(Unrolled(size) for size in shape), dtype,
                 lambda index: _entry(names, list(index)))


def _entry(names, index: list) -> str:
    """The variable at ``index``: literal positions select it, a position known
    only at run time selects among the candidates with conditional expressions."""
    if not index:
        return names
    position, rest = index[0], index[1:]
    if position.isdigit():
        return _entry(names[int(position)], rest)
    options = [_entry(item, rest) for item in names]
    test = position if position.isidentifier() else f"({position})"
    expression = options[-1]
    for k in reversed(range(len(options) - 1)):
        expression = f"({options[k]} if {test} == {k} else {expression})"
    return expression
