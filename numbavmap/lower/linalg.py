"""``np.linalg.solve``, ``inv`` and ``det`` of small matrices, written out.

Numba computes them with LAPACK: ``getrf`` (``getf2`` for matrices this
small), then ``getrs`` or ``getri``. Fused here, for float32 and float64
matrices of at most ``MAX_SIZE`` x ``MAX_SIZE`` whose size is known when
compiling, the entries are loaded into scalar variables and factored in
OpenBLAS's ``getf2`` order: left-looking Gaussian elimination with partial
pivoting (the row with the largest absolute value in the column, the first
on ties, swaps with the pivot row), each column scaled by its pivot's
reciprocal; ``solve`` then substitutes as ``getrs`` does; ``inv`` solves
for the identity, ``det`` is the product of the pivots with the
permutation's sign.

By default only ``solve`` of a vector is fused, and only where it gives the
compiled ``np.linalg.solve``'s bits: ``exact_rounding`` compares the two once
per size and dtype on ``probe_systems``, as ``libm.is_exact`` does for
``exp``, with the products rounded one by one and, failing that, with fused
multiply-adds (SciPy's OpenBLAS on x86-64 matches: float32 and float64, 1x1
to 4x4, with separate roundings on the machines this was first measured on;
with fused multiply-adds on an AVX-512 AMD EPYC (Zen 4), whose kernels it
picks there, but for float32 4x4, which it rounds otherwise again; a NaN
result is NaN where LAPACK's is, its sign bit unspecified: LLVM does not
keep NaN signs). Elsewhere, and for ``inv``, ``det`` and matrix
right-hand sides, whose LAPACK routines round otherwise, fusing takes
``fastmath=True`` (docs/user-guide/accuracy.md). For ``np.linalg.solve(A, b)`` of 2x2
float64 examples the body is::

    x0_0 = b[i, 0]
    x1_0 = b[i, 1]
    lu00_0 = A[i, 0, 0]
    lu01_0 = A[i, 0, 1]
    lu10_0 = A[i, 1, 0]
    lu11_0 = A[i, 1, 1]
    finite0_0 = np.isfinite(lu00_0) & np.isfinite(lu01_0) & np.isfinite(x0_0)
    finite1_0 = np.isfinite(lu10_0) & np.isfinite(lu11_0) & np.isfinite(x1_0)
    if not (finite0_0 & finite1_0):  # NaN or infinity
        return RAISED
    if abs(lu10_0) > abs(lu00_0):
        lu00_0, lu10_0 = lu10_0, lu00_0
        lu01_0, lu11_0 = lu11_0, lu01_0
        x0_0, x1_0 = x1_0, x0_0
    if not abs(lu00_0) >= 2.2250738585072014e-308:  # zero, subnormal or NaN
        return RAISED
    r0_0 = 1.0 / lu00_0
    lu10_0 = lu10_0 * r0_0
    lu11_0 = lu11_0 - (0.0 + lu10_0 * lu01_0)
    if not abs(lu11_0) >= 2.2250738585072014e-308:  # zero, subnormal or NaN
        return RAISED
    x1_0 = x1_0 - x0_0 * lu10_0
    x1_0 = x1_0 / lu11_0
    x0_0 = x0_0 - x1_0 * lu01_0
    x0_0 = x0_0 / lu00_0
    out_0[i, 0] = x0_0
    out_0[i, 1] = x1_0

An example the written-out code does not finish returns the RAISED status,
and the caller runs it again unfused (``execute.rerun_failed``): a zero,
subnormal or NaN pivot (LAPACK divides by a subnormal one rather than
multiplying by its reciprocal, and raises ``LinAlgError`` for a zero one),
and, by default, NaN or infinity among the entries, which Numba's ``solve``
refuses with a ``LinAlgError`` (``&`` of the tests, not ``and``: no branch
per entry). Its values are then LAPACK's, or its error is raised. ``det`` never fails: of a
singular matrix it is ``0.0``, as LAPACK's. Under ``fastmath=True`` Numba
compiles its infinity and NaN check away, and none is written here.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit
from numba.core import types
from numba.core.compiler_lock import global_compiler_lock

from ..loader import load_module
from ..numba_typing import constructor
from .emit import Emitter
from .values import Array, Scalar, Unrolled, Unsupported, stored, typed, typed_literal

#: The largest matrix fused (4x4), and the most columns of ``solve``'s right-hand side.
MAX_SIZE = 4
#: How LAPACK's dot products and axpys round, as ``solve`` can write them out: each
#: product rounded, then added (OpenBLAS's AVX2 kernels), or fused multiply-adds
#: (its AVX-512 kernels); ``exact_rounding`` probes them in this order.
SEPARATE, FMA = "separate", "fma"
ROUNDINGS = (SEPARATE, FMA)


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
    if not approximate and name != "solve":
        raise Unsupported(f"np.linalg.{name} calls LAPACK, whose rounding fused code does "
                          "not reproduce; fastmath=True fuses it as Gaussian elimination "
                          "written out (docs/user-guide/accuracy.md)")
    return rows


def solve(emitter: Emitter, a: Array, b: Array, n: int, exact: bool,
          host: bool = True) -> Array:
    """``np.linalg.solve(a, b)`` for a vector or matrix ``b``; where ``exact``, only
    with LAPACK's bits (on the ``host`` CPU), or Unsupported."""
    if not isinstance(b, Array) or len(b.shape) not in (1, 2):
        raise Unsupported("np.linalg.solve with a right-hand side other than a vector "
                          "or a matrix")
    if b.dtype != a.dtype:  # Numba refuses it; its typing costs seconds, so is not asked
        raise Unsupported("np.linalg.solve of a matrix and a right-hand side of two dtypes")
    if not all(isinstance(size, numbers.Integral) for size in b.shape):
        raise Unsupported("np.linalg.solve of a right-hand side whose size is known only "
                          "at run time")
    if b.shape[0] != n:
        raise Unsupported("np.linalg.solve of shapes that do not match")
    columns = b.shape[1] if len(b.shape) == 2 else None
    if columns is not None and columns > MAX_SIZE:
        raise Unsupported(f"np.linalg.solve with a right-hand side of more than "
                          f"{MAX_SIZE} columns")
    rounding = _exact_here(n, a.dtype, columns, host) if exact else SEPARATE
    return _solved(emitter, a, b, n, columns, finite=exact, fma=rounding == FMA)


def _solved(emitter: Emitter, a: Array, b: Array, n: int, columns: int | None,
            finite: bool, fma: bool = False) -> Array:
    """The lines solving ``a x = b`` (``columns`` of ``b``, None for a vector), and
    ``x`` held in their scalar variables."""
    b = stored(b)
    if columns is None:
        rhs = [[_load(emitter, f"x{r}", b, [r])] for r in range(n)]
    else:
        rhs = [[_load(emitter, f"x{r}{c}", b, [r, c]) for c in range(columns)]
               for r in range(n)]
    _eliminate(emitter, a, n, rhs, finite=finite, fma=fma)
    return _grid(rhs if columns is not None else [row[0] for row in rhs], a.dtype)


def _exact_here(n: int, dtype, columns, host: bool) -> str:
    """The rounding in which ``solve`` written out gives LAPACK's bits here, or
    Unsupported: for a vector right-hand side (a matrix one goes through ``trsm``,
    another order), on the CPU, where ``exact_rounding`` found one."""
    if columns is not None:
        raise Unsupported("np.linalg.solve with a matrix right-hand side calls LAPACK, "
                          "whose rounding fused code does not reproduce; fastmath=True "
                          "fuses it (docs/user-guide/accuracy.md)")
    if not host:
        raise Unsupported("np.linalg.solve on a device (fastmath=True fuses it)")
    rounding = exact_rounding(n, dtype)
    if rounding is None:
        raise Unsupported(f"np.linalg.solve of {n}x{n} {dtype} matrices: this machine's "
                          "LAPACK rounds otherwise than getf2 written out; fastmath=True "
                          "fuses it (docs/user-guide/accuracy.md)")
    return rounding


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
               sign: str | None = None, finite: bool = False, fma: bool = False) -> list:
    """Factor ``a`` in scalar variables as OpenBLAS's ``getf2`` does, swapping the
    rows of ``rhs`` (names, updated in place) with those of ``a``; then, unless
    computing a determinant (``sign``, negated at each swap), solve for ``rhs``
    as ``getrs`` does. A pivot that is zero, subnormal or NaN returns RAISED,
    except for a determinant; so does, where ``finite``, a NaN or infinity among
    the entries (which Numba's ``solve`` refuses).

    ``getf2`` is left-looking: column ``j`` first takes the products of the
    columns before it (a dot product for its entries above the diagonal, in
    order, and one sum of products per entry from the diagonal down), then is
    pivoted and scaled by the pivot's reciprocal. ``getrs`` then substitutes
    forward with the unit lower factor and backward with the upper one, one
    column at a time (``x[k] = x[k] - x[j] * lu[k][j]``), dividing by each
    pivot. Eager swaps of whole rows give what its deferred swaps give. With
    ``fma`` the dot products and the substitutions' axpys are fused multiply-adds
    (``libm.fma``), as OpenBLAS's AVX-512 kernels compute them.
    """
    a = stored(a)
    lu = [[_load(emitter, f"lu{r}{c}", a, [r, c]) for c in range(n)] for r in range(n)]
    if finite:
        rows = []
        for r in range(n):
            rows.append(emitter.fresh(f"finite{r}"))
            tests = " & ".join(f"np.isfinite({name})" for name in lu[r] + rhs[r])
            emitter.emit(f"{rows[-1]} = {tests}")
        emitter.indented(f"if not ({' & '.join(rows)}):  # NaN or infinity", ["return RAISED"])
    for j in range(n):
        for r in range(1, n):
            if min(r, j):
                dot = _dot([(lu[r][k], lu[k][j]) for k in range(min(r, j))], a.dtype, fma)
                emitter.emit(f"{lu[r][j]} = {lu[r][j]} - ({dot})")
        _pivot(emitter, lu, rhs, j, sign)
        if sign is None:
            emitter.indented(f"if not abs({lu[j][j]}) >= {_smallest_normal(a.dtype)}:"
                             "  # zero, subnormal or NaN", ["return RAISED"])
        if j + 1 < n:
            reciprocal = emitter.fresh(f"r{j}")
            emitter.emit(f"{reciprocal} = {typed_literal(1, a.dtype)} / {lu[j][j]}")
            for r in range(j + 1, n):
                emitter.emit(f"{lu[r][j]} = {lu[r][j]} * {reciprocal}")
    if sign is None:
        for j in range(n):
            _subtract_column(emitter, lu, rhs, j, range(j + 1, n), fma)
        for j in reversed(range(n)):
            for c in range(len(rhs[j])):
                emitter.emit(f"{rhs[j][c]} = {rhs[j][c]} / {lu[j][j]}")
            _subtract_column(emitter, lu, rhs, j, range(j), fma)
    return lu


def _dot(pairs: list, dtype, fma: bool) -> str:
    """Source for the dot product of ``pairs`` of names, in order from zero: each
    product rounded, then added, or (``fma``) each added by a fused multiply-add."""
    total = typed_literal(0, dtype)
    if not fma:
        return total + "".join(f" + {left} * {right}" for left, right in pairs)
    for left, right in pairs:
        total = f"libm.fma({left}, {right}, {total})"
    return total


def _subtract_column(emitter: Emitter, lu: list, rhs: list, j: int, rows,
                     fma: bool = False) -> None:
    """``rhs[r] -= rhs[j] * lu[r][j]`` for each row ``r`` of ``rows`` (an axpy)."""
    for r in rows:
        for c in range(len(rhs[r])):
            update = (f"libm.fma(-{rhs[j][c]}, {lu[r][j]}, {rhs[r][c]})" if fma
                      else f"{rhs[r][c]} - {rhs[j][c]} * {lu[r][j]}")
            emitter.emit(f"{rhs[r][c]} = {update}")


def _smallest_normal(dtype) -> str:
    """Source for the smallest positive normal number of ``dtype``."""
    tiny = float(np.finfo(np.dtype(str(dtype))).tiny)
    return repr(tiny) if dtype == types.float64 else f"{constructor(dtype)}({tiny!r})"


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
    """Lines swapping rows ``k`` and ``r`` of ``lu`` and of ``rhs``."""
    pairs = [(lu[k][c], lu[r][c]) for c in range(len(lu))]
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


_exact: dict = {}


def exact_rounding(n: int, dtype) -> str | None:
    """The first of ``ROUNDINGS`` in which ``solve`` written out gives the compiled
    ``np.linalg.solve``'s bits for ``n x n`` systems of ``dtype`` on this machine,
    or None: compared once per process, on ``probe_systems(n, dtype)``, at first
    use, under Numba's compiler lock (as ``libm.is_exact``)."""
    key = (n, str(dtype))
    with global_compiler_lock:
        if key not in _exact:
            _exact[key] = next((rounding for rounding in ROUNDINGS
                                if _no_differences(n, dtype, rounding)), None)
        return _exact[key]


def _no_differences(n: int, dtype, rounding: str) -> bool:
    """Whether the probe finds no difference in ``rounding`` (a probe that cannot
    run finds none the same)."""
    try:
        return _differences(*probe_systems(n, np.dtype(str(dtype))), rounding) == 0
    except Exception:  # noqa: BLE001 - a probe that cannot run finds no match
        return False


def probe_systems(n: int, dtype: np.dtype, count: int = 1500):
    """Systems ``(A, b)`` on which ``exact_rounding`` compares: ``count`` each of normal
    entries, small integers with signed zeros (ties for the pivot, exact zeros in
    the factors) and rows scaled by powers of ten up to the square root of the
    dtype's range; a fixed seed."""
    rng = np.random.default_rng(20261128)
    normal = rng.normal(size=(count, n, n + 1))
    integers = rng.integers(-3, 4, size=(count, n, n + 1)).astype(np.float64)
    integers[rng.random(integers.shape) < 0.2] = -0.0
    exponent = int(np.log10(np.finfo(dtype).max)) // 2 - 4
    scales = 10.0 ** rng.integers(-exponent, exponent + 1, size=(count, n, 1))
    systems = np.concatenate([normal, integers, normal * scales]).astype(dtype)
    return np.ascontiguousarray(systems[..., :n]), np.ascontiguousarray(systems[..., n])


def _differences(A: np.ndarray, b: np.ndarray, rounding: str) -> int:
    """How many systems, of those LAPACK solves and the written-out code (in
    ``rounding``) does not hand over, get other bits written out than from LAPACK."""
    expected, solvable = _lapack_solutions(A, b)
    got = np.empty_like(b)
    status = np.empty(len(A), np.uint8)
    _probe_kernel(A.shape[-1], A.dtype, rounding)(A, b, got, status)
    compared = solvable & (status == 0)
    return int(np.count_nonzero(np.any(_bits(got[compared]) != _bits(expected[compared]),
                                       axis=1)))


def _probe_kernel(n: int, dtype: np.dtype, rounding: str):
    """``solve_each(A, b, out, status)``: ``solve`` written out in ``rounding`` for
    each ``n x n`` system, compiled as a fused body is (the kernel's loads and
    stores around the same lines)."""
    emitter = Emitter(set())
    numba_type = types.float64 if dtype == np.float64 else types.float32
    a = Array((n, n), (str(n),) * 2, numba_type, lambda index: f"A[i, {', '.join(index)}]")
    b = Array((n,), (str(n),), numba_type, lambda index: f"b[i, {index[0]}]")
    x = _solved(emitter, a, b, n, None, finite=True, fma=rounding == FMA)
    body = emitter.lines + [f"out[i, {r}] = {x.element([str(r)])}" for r in range(n)]
    source = "\n".join([
        "import numpy as np",
        "from numba import njit",
        "from numbavmap.lower import libm",
        "RAISED = 1",
        "@njit",
        "def solve_one(i, A, b, out):",
        *(f"    {line}" for line in "\n".join(body).splitlines()),
        "    return 0",
        "@njit",
        "def solve_each(A, b, out, status):",
        "    for i in range(A.shape[0]):",
        "        status[i] = solve_one(i, A, b, out)",
    ])
    return load_module(source, {}, None).solve_each


@njit(cache=True)
def _lapack_solutions(A, b):
    """Numba's ``np.linalg.solve`` of each system whose ``det`` is not zero (the
    others raise), and which those are."""
    solutions = np.zeros_like(b)
    solvable = np.zeros(A.shape[0], np.bool_)
    for i in range(A.shape[0]):
        if np.linalg.det(A[i]) != 0:
            solutions[i] = np.linalg.solve(A[i], b[i])
            solvable[i] = True
    return solutions, solvable


def _bits(values: np.ndarray) -> np.ndarray:
    """``values``' bit patterns, as unsigned integers of the same size."""
    return values.view(f"u{values.dtype.itemsize}")
