"""NumPy functions as loops, with the types and order of operations Numba gives them.

Each rule takes the typed values of a call's arguments and returns a
``Scalar`` or an ``Array``. Types come from Numba (``values.typed``);
where Numba's own implementation is a loop (``argmax``, ``cumsum``,
``trace``, ``clip``, ``diff``, sums along an axis and of integers), the
rule writes the same loop, so values agree exactly. Whole-array float sums
(``np.sum``, ``np.mean``, ``np.var``, ``np.std``) are in NumPy's pairwise
order instead (``pairwise``), bitwise NumPy's on C-contiguous or 1-D data;
matrix products (BLAS in Numba) are sums in another order. ``RULES`` maps
each function name to its parameter names and its rule.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np
from numba.core import types

from ..numba_typing import constructor
from . import linalg
from .emit import Emitter, size_source
from .pairwise import pairwise_sum
from .shapes import along, literal_dims, offset_index, without
from .values import (
    Array,
    Scalar,
    Unsupported,
    cast,
    constant,
    convert,
    operand_dtype,
    scalar_type,
    static_int,
    stored,
    typed,
    typed_literal,
)

#: Elementwise NumPy functions, emitted as the same call on scalars.
UFUNCS = frozenset(
    "sqrt exp exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan sinh cosh "
    "tanh arcsinh arccosh arctanh floor ceil trunc rint square sign absolute abs negative "
    "maximum minimum fmax fmin arctan2 hypot power isnan isinf isfinite".split()
)
#: Elementwise functions costly enough to compute once per element (``Array.heavy``).
TRANSCENDENTAL = frozenset(
    "exp exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan sinh cosh tanh "
    "arcsinh arccosh arctanh arctan2 hypot power".split()
)
#: Terms of a matrix product that one pass over a row of the product adds
#: (``Rules.rows``). Measured on 2 cores (float64 and float32; (64, 32),
#: (66, 32), (16, 8), (256, 128) and (3, 3) matrices): 4 ran 1.1-2.5x faster
#: than 1, and as fast as or faster than 2 and 8.
ROW_TERMS = 4
#: Column counts of ``rows``' inner loop that keep their run-time bound (as
#: ``emit.KEEP_BOUND`` for elementwise loops, but its body is longer): with a
#: literal one LLVM unrolls the loop completely and leaves it scalar. Measured on
#: ``np.maximum(x @ W + b, 0)`` with W (64, m), AVX-512: m = 4-12 and 24-64 ran
#: 1.3-2.3x faster with a literal bound, m = 16 and 20 1.2-1.7x slower, 128 the same.
COLUMNS_KEEP_BOUND = range(16, 24)
#: Whole-array reductions that accumulate element by element.
FOLDS = {"sum": ("0", "{r} += {e}"), "prod": ("1", "{r} *= {e}"), "mean": ("0", "{r} += {e}"),
         "any": ("False", "{r} = {r} or bool({e})"), "all": ("True", "{r} = {r} and bool({e})")}


#: The shortest vector whose ``np.max`` / ``np.min`` runs in ``extrema``'s reductions.
_LANES_FROM = 16


class Rules(Emitter):
    """NumPy's functions, written as loops by the emitter."""

    #: Whether the vmap has ``fastmath=True``: approximate functions allowed.
    approximate = False
    #: Whether the body runs on the host CPU (not a CUDA device).
    host = True

    # elementwise ----------------------------------------------------------
    def apply(self, operands, combine, function, costly=False):
        """An elementwise operation, typed as Numba types ``function`` of the operands.

        On arrays, the element is the same operation on the operands' scalar
        expressions, as in Numba's array expressions; arrays of different
        shapes broadcast as in NumPy. A ``costly`` operation (a transcendental
        function) makes the result heavy.
        """
        arrays = [operand for operand in operands if isinstance(operand, Array)]
        result_type = typed(function, [operand.type for operand in operands])
        if not arrays:
            if isinstance(result_type, types.Array):
                raise Unsupported("a 0-d array result")
            value = _static(function, operands)
            if value is not None and result_type == types.int64:
                return constant(value)
            return self.scalar(combine([operand.expr for operand in operands]), result_type)
        shape, dims, placed = self.common(arrays)
        placed = iter(placed)
        operands = [next(placed) if isinstance(operand, Array) else operand
                    for operand in operands]

        def element(index):
            return combine([op.element(index) if isinstance(op, Array) else op.expr
                            for op in operands])

        if not isinstance(result_type, types.Array):  # Numba gives 0-d operations scalars
            return self.scalar(element([]), result_type)
        element_type = typed(function, [scalar_type(operand) for operand in operands])
        heavy = costly or any(operand.heavy for operand in arrays)
        return Array(shape, dims, result_type.dtype, element, element_type, heavy)

    def where(self, condition, x, y):
        """``np.where``: an array, 0-d when every argument is a scalar (as in Numba),
        which then broadcasts as one element."""
        args = [stored(arg) for arg in (condition, x, y)]
        numba_type = typed(np.where, [arg.type for arg in args])
        arrays = [arg for arg in args if isinstance(arg, Array)]
        shape, dims, placed = self.common(arrays) if arrays else ((), (), [])
        placed = iter(placed)
        args = [next(placed) if isinstance(arg, Array) else arg for arg in args]
        dtype = numba_type.dtype

        def element(index):
            c, a, b = (arg.element(index) if isinstance(arg, Array) else arg.expr
                       for arg in args)
            a = cast(a, operand_dtype(args[1]), dtype)
            b = cast(b, operand_dtype(args[2]), dtype)
            return f"({a} if {c} else {b})"

        return Array(shape, dims, dtype, element, heavy=any(arg.heavy for arg in arrays))

    def clip(self, a, a_min, a_max):
        """``np.clip`` as Numba writes it: ``min(max(a, a_min), a_max)`` stored in a's dtype."""
        a, a_min, a_max = (stored(arg) for arg in (a, a_min, a_max))
        if not isinstance(a, Array):
            raise Unsupported("np.clip of a scalar")
        numba_type = typed(np.clip, [arg.type for arg in (a, a_min, a_max)])
        if isinstance(a_min, Array) or isinstance(a_max, Array):
            raise Unsupported("np.clip with array bounds")
        bounded = typed(min, [typed(max, [a.dtype, a_min.type]), a_max.type])

        def element(index):
            return cast(f"min(max({a.element(index)}, {a_min.expr}), {a_max.expr})",
                        bounded, numba_type.dtype)

        return Array(a.shape, a.dims, numba_type.dtype, element, heavy=a.heavy)

    # reductions -----------------------------------------------------------
    def reduce(self, name: str, value, axis=None):
        """``np.<name>(value)`` over the whole array, or along a static ``axis``."""
        value = stored(value)
        if isinstance(value, Scalar):
            if axis is not None:
                raise Unsupported("axis of a scalar")
            return self.scalar(f"np.{name}({value.expr})", typed(getattr(np, name), [value.type]))
        if axis is not None:
            return self.reduce_axis(name, value, static_int(axis, "axis"))
        numba_type = typed(getattr(np, name), [value.type])
        if name in ("min", "max"):
            return self.extremum(name, value, numba_type)
        if name in ("argmin", "argmax"):
            return self.arg_extremum(name, self.flat(value), numba_type)
        if name in ("var", "std"):
            return self.variance(name, value, numba_type)
        initial, update = FOLDS[name]
        if name in ("sum", "mean") and isinstance(numba_type, types.Float):
            total = pairwise_sum(self, name, value, numba_type)
        else:
            if name in ("sum", "prod", "mean"):
                initial = typed_literal(int(initial), numba_type)
            total = self.accumulate(name, value, initial, update, numba_type)
        if name != "mean":
            return total
        mean = f"{total.expr} / {size_source(value)}"
        if typed(operator.truediv, [numba_type, types.intp]) != numba_type:
            mean = convert(mean, numba_type)
        return self.scalar(mean, numba_type)

    def reduce_axis(self, name: str, value: Array, axis: int):
        """``np.sum`` / ``np.argmax`` / ``np.argmin`` along ``axis`` (what Numba compiles)."""
        if not -len(value.shape) <= axis < len(value.shape):
            raise Unsupported("axis out of range")
        axis %= len(value.shape)
        function = getattr(np, name)
        numba_type = typed(function, [value.type, types.int64])
        if not isinstance(numba_type, types.Array):
            return self.reduce(name, value)
        dtype = numba_type.dtype
        if name == "sum":
            if typed(operator.add, [dtype, value.dtype]) != dtype:
                raise Unsupported("a sum whose accumulator changes type")

            def element(index):
                return self.accumulate("sum", along(value, axis, index),
                                       typed_literal(0, dtype), "{r} += {e}", dtype).expr
        elif name in ("argmax", "argmin"):
            def element(index):
                return self.arg_extremum(name, along(value, axis, index), dtype).expr
        else:
            raise Unsupported(f"np.{name} with axis")
        return Array(without(value.shape, axis), without(value.dims, axis), dtype, element,
                     heavy=True)

    def extremum(self, name: str, value: Array, numba_type) -> Scalar:
        if not all(value.shape):
            # NumPy raises here; the caller re-runs the example to raise it.
            self.emit("return RAISED")
            return Scalar(typed_literal(0, numba_type), numba_type)
        if self._in_reductions(value):
            vector = value if value.view is not None else self.buffer(value)
            result_name = self.fresh(name)
            self.emit(f"{result_name} = extrema.{name}imum({vector.view})")
            return Scalar(result_name, numba_type)
        result_name = self.fresh(name)
        self.emit(f"{result_name} = {value.element(['0'] * len(value.shape))}")
        self.loop(value.dims, lambda index: (
            f"{result_name} = np.{name}imum({result_name}, {value.element(index)})"))
        return Scalar(result_name, numba_type)

    def _in_reductions(self, value: Array) -> bool:
        """Whether ``np.max`` / ``np.min`` of ``value`` runs in ``extrema``'s reductions: a
        vector of at least 16 integers or floats, of a static size, that is an argument's row
        or can be stored (on the CPU: a device has no ``extrema``)."""
        size = value.shape[0] if len(value.shape) == 1 else 0
        return (isinstance(size, numbers.Integral) and size >= _LANES_FROM and self.host
                and isinstance(value.dtype, (types.Integer, types.Float))
                and (value.view is not None or self.storable(value.shape)))

    def flat(self, value: Array) -> Array:
        """A 1-D array as is; others are not flattened (Numba's flat order needs a counter)."""
        if len(value.shape) != 1:
            raise Unsupported("argmax/argmin of a multi-dimensional array without axis")
        return value

    def arg_extremum(self, name: str, vector: Array, numba_type) -> Scalar:
        """Numba's ``argmax``/``argmin`` loop: the first extreme, or the first NaN."""
        if not vector.shape[0]:
            self.emit("return RAISED")
            return Scalar("0", numba_type)
        if not isinstance(vector.dtype, (types.Integer, types.Float)):
            raise Unsupported(f"np.{name} of {vector.dtype}")
        best, index, item = self.fresh("best"), self.fresh(name), self.fresh("item")
        better = ">" if name == "argmax" else "<"
        self.emit(f"{index} = 0")
        self.emit(f"{best} = {vector.element(['0'])}")
        nan = isinstance(vector.dtype, types.Float)
        body: list[str] = []
        with self.capture(body):
            self.loop(vector.dims, lambda k: self._arg_step(k[0], vector.element(k), item, best,
                                                            index, better, nan))
        if nan:
            self.indented(f"if not np.isnan({best}):", body)
        else:
            self.sink.extend(body)
        return Scalar(index, numba_type)

    def _arg_step(self, k, element, item, best, index, better, nan) -> str:
        """One step of Numba's argmax loop; a NaN is the answer at once."""
        self.emit(f"{item} = {element}")
        if nan:
            self.emit(f"if np.isnan({item}):")
            self.emit(f"    {index} = {k}")
            self.emit("    break")
        self.emit(f"if {item} {better} {best}:")
        self.emit(f"    {index} = {k}")
        return f"    {best} = {item}"

    def variance(self, name: str, value: Array, numba_type) -> Scalar:
        """``var`` as NumPy computes it: the mean, then the float64 sum of squared
        deviations in NumPy's pairwise order (Numba's ``std`` is then ``var ** 0.5``)."""
        if isinstance(value.dtype, types.Complex) or numba_type != types.float64:
            raise Unsupported(f"np.{name} of {value.dtype}")
        mean = self.reduce("mean", value)
        deviation = typed(operator.sub, [value.dtype, mean.type])
        if typed(operator.add, [types.float64, typed(operator.mul, [deviation] * 2)]) \
                != types.float64:
            raise Unsupported(f"np.{name} of {value.dtype}")

        def square(index):
            item = self.fresh("deviation")
            self.emit(f"{item} = {value.element(index)} - {mean.expr}")
            return f"({item} * {item})"

        total = pairwise_sum(self, "ssd", Array(value.shape, value.dims, types.float64, square),
                             types.float64)
        var = self.scalar(f"{total.expr} / {size_source(value)}", types.float64)
        return var if name == "var" else self.scalar(f"{var.expr} ** 0.5", types.float64)

    def norm(self, vector):
        if not isinstance(vector, Array) or len(vector.shape) != 1:
            raise Unsupported("norm of a non-vector")
        vector = vector.materialized()
        numba_type = typed(np.linalg.norm, [vector.type])
        square = "(abs({0}) * abs({0}))" if isinstance(vector.dtype, types.Complex) \
            else "({0} * {0})"
        squares = Array(vector.shape, vector.dims, numba_type,
                        lambda index: square.format(vector.element(index)))
        total = self.accumulate("norm", squares, typed_literal(0, numba_type), "{r} += {e}",
                                numba_type)
        return self.scalar(f"np.sqrt({total.expr})", numba_type)

    # linear algebra ---------------------------------------------------------
    def matmul(self, left, right, function=operator.matmul):
        """``left @ right`` (or ``np.dot``) of vectors and matrices: one sum per element."""
        if not (isinstance(left, Array) and isinstance(right, Array)):
            raise Unsupported("a product with a scalar")
        left, right = stored(left), stored(right)
        if not (1 <= len(left.shape) <= 2 and 1 <= len(right.shape) <= 2):
            raise Unsupported("a product of arrays of more than two dimensions")
        numba_type = typed(function, [left.type, right.type])
        dtype = getattr(numba_type, "dtype", numba_type)
        product = typed(operator.mul, [left.dtype, right.dtype])
        if typed(operator.add, [dtype, product]) != dtype:
            raise Unsupported("a product whose accumulator changes type")
        inner = 0 if len(right.shape) == 1 else 1
        if left.shape[-1] != right.shape[-1 - inner]:
            raise Unsupported("shapes that do not multiply")
        free = len(left.shape) - 1
        contraction = literal_dims(left.shape[-1:], left.dims[-1:])

        def terms(index):
            return Array(left.shape[-1:], contraction, dtype, lambda k: (
                f"({left.element(list(index[:free]) + list(k))} * "
                f"{right.element(list(k) + list(index[free:]))})"))

        def element(index):
            return self.accumulate("dot", terms(index), typed_literal(0, dtype), "{r} += {e}",
                                   dtype).expr

        shape = left.shape[:-1] + right.shape[1:] if inner else left.shape[:-1]
        dims = left.dims[:-1] + right.dims[1:] if inner else left.dims[:-1]
        if inner and self.storable(shape):
            return self.rows(left, right, dtype)
        if not shape:
            return Scalar(element([]), dtype)
        return Array(shape, dims, dtype, element, heavy=True)

    def rows(self, left: Array, right: Array, dtype) -> Array:
        """``left @ right`` for a matrix ``right``, into a scratch array row by row:
        ``product[.., j] = product[.., j] + left[.., k] * right[k, j] + ...`` for
        ``ROW_TERMS`` consecutive ``k`` per pass (their left factors read once,
        into scalars), the inner loop over the contiguous ``j`` that LLVM
        vectorises; a last pass adds the ``k`` left over. Python adds from the
        left, so each element still sums its terms in ``k`` order from zero, as
        the dot product loop does: the values are those of one term per pass,
        with a quarter of the loads and stores of the row."""
        free = len(left.shape) - 1
        shape = left.shape[:-1] + right.shape[1:]
        name = self.fresh("product")
        sizes = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
        self.emit(f"{name} = np.zeros(({sizes}), {constructor(dtype)})")

        def add_terms(rows: list, ks: list) -> None:
            """``product[rows, j] += left[rows, k] * right[k, j]`` for each ``k`` of ``ks``."""
            factors = []
            for k in ks:
                factors.append(self.fresh("factor"))
                self.emit(f"{factors[-1]} = {left.element(rows + [k])}")

            def statement(column):
                element = f"{name}[{', '.join(rows + column)}]"
                terms = " + ".join(f"({factor} * {right.element([k] + column)})"
                                   for factor, k in zip(factors, ks))
                return f"{element} = {element} + {terms}"

            self.loop(column_bounds(right), statement)

        length = left.shape[-1]
        whole = length - length % ROW_TERMS
        if whole:
            self.loop(left.dims[:-1] + (f"0, {whole}, {ROW_TERMS}",), lambda index: add_terms(
                index[:free], [offset_index(step, 1, index[free]) for step in range(ROW_TERMS)]))
        if whole < length:
            self.loop(left.dims[:-1], lambda rows: add_terms(
                rows, [str(k) for k in range(whole, length)]))
        return Array(shape, left.dims[:-1] + right.dims[1:], dtype,
                     lambda index: f"{name}[{', '.join(index)}]")

    def outer(self, a, b):
        a, b = stored(a), stored(b)
        if not (isinstance(a, Array) and isinstance(b, Array)
                and len(a.shape) == len(b.shape) == 1):
            raise Unsupported("np.outer of non-vectors")
        dtype = typed(np.outer, [a.type, b.type]).dtype
        if typed(operator.mul, [a.dtype, b.dtype]) != dtype:
            raise Unsupported("np.outer whose product changes type")
        return Array(a.shape + b.shape, a.dims + b.dims, dtype,
                     lambda index: f"({a.element(index[:1])} * {b.element(index[1:])})",
                     heavy=a.heavy or b.heavy)

    def cross(self, a, b):
        """``np.cross`` of 3-vectors, as Numba computes each component."""
        a, b = stored(a), stored(b)
        if not all(isinstance(v, Array) and v.shape == (3,) for v in (a, b)):
            raise Unsupported("np.cross of other than two 3-vectors")
        dtype = typed(np.cross, [a.type, b.type]).dtype
        product = typed(operator.mul, [a.dtype, b.dtype])
        if typed(operator.sub, [product, product]) != dtype:
            raise Unsupported("np.cross whose arithmetic changes type")
        a, b = self._small(a), self._small(b)

        def element(index):
            (j,) = index
            first, second = f"(({j} + 1) % 3)", f"(({j} + 2) % 3)"
            return (f"({a.element([first])} * {b.element([second])} - "
                    f"{a.element([second])} * {b.element([first])})")

        return Array((3,), ("3",), dtype, element)

    def _small(self, value: Array) -> Array:
        """``value``, stored first when its elements are more than reads."""
        return self.buffer(value) if value.heavy else value

    def trace(self, matrix):
        matrix = stored(matrix)
        if not isinstance(matrix, Array) or len(matrix.shape) != 2:
            raise Unsupported("np.trace of a non-matrix")
        numba_type = typed(np.trace, [matrix.type])
        if typed(operator.add, [numba_type, matrix.dtype]) != numba_type:
            raise Unsupported("np.trace whose accumulator changes type")
        size = min(matrix.shape)
        diagonal = Array((size,), (str(size),), matrix.dtype,
                         lambda index: matrix.element([index[0], index[0]]))
        return self.accumulate("trace", diagonal, typed_literal(0, numba_type), "{r} += {e}",
                               numba_type)

    def linalg(self, name: str, a, b=None):
        """``np.linalg.solve``, ``inv`` and ``det`` of a small matrix (``fastmath=True``;
        ``solve`` of a vector also without it, where it gives LAPACK's bits)."""
        a = stored(a)
        n = linalg.checked_size(name, a, self.approximate)
        if name == "solve":
            return linalg.solve(self, a, b, n, exact=not self.approximate, host=self.host)
        return getattr(linalg, name)(self, a, n)

    # scans and differences --------------------------------------------------
    def cumulative(self, name: str, value):
        """``np.cumsum`` / ``np.cumprod`` of a vector, into a scratch array."""
        value = stored(value)
        if not isinstance(value, Array) or len(value.shape) != 1:
            raise Unsupported(f"np.{name} of other than a vector")
        dtype = typed(getattr(np, name), [value.type]).dtype
        symbol, step = ("+", operator.add) if name == "cumsum" else ("*", operator.mul)
        if typed(step, [dtype, value.dtype]) != dtype or dtype == types.boolean:
            raise Unsupported(f"np.{name} whose accumulator changes type")
        running = self.fresh(name)
        self.emit(f"{running} = {typed_literal(1 if symbol == '*' else 0, dtype)}")
        scan = Array(value.shape, value.dims, dtype, lambda index: self._scan_step(
            running, symbol, value.element(index)))
        return self.buffer(scan, scan=True)

    def _scan_step(self, running: str, symbol: str, element: str) -> str:
        self.emit(f"{running} {symbol}= {element}")
        return running

    def diff(self, value, n=None):
        """``np.diff`` along the last axis, each order stored in the array's dtype."""
        value = stored(value)
        order = 1 if n is None else static_int(n, "np.diff's n")
        if not isinstance(value, Array) or value.dtype == types.boolean or order < 0:
            raise Unsupported("np.diff of this argument")
        dtype = typed(np.diff, [value.type, types.int64]).dtype
        if dtype != value.dtype:
            raise Unsupported("np.diff that changes the dtype")
        for _ in range(order):
            value = self._difference(self._small(value) if order > 1 else value)
        return value

    def _difference(self, value: Array) -> Array:
        last = len(value.shape) - 1
        length = max(value.shape[last] - 1, 0)
        kind = typed(operator.sub, [value.dtype, value.dtype])

        def element(index):
            *rest, j = index
            return cast(f"({value.element([*rest, f'({j} + 1)'])} - "
                        f"{value.element([*rest, j])})", kind, value.dtype)

        return Array(value.shape[:last] + (length,), value.dims[:last] + (str(length),),
                     value.dtype, element, heavy=value.heavy)


def column_bounds(right: Array) -> tuple:
    """The bounds of ``rows``' inner loop over the columns of ``right``: literals
    where its shape is static, but for ``COLUMNS_KEEP_BOUND`` column counts."""
    columns = right.shape[-1] if len(right.shape) > 1 else None
    if isinstance(columns, numbers.Integral) and columns in COLUMNS_KEEP_BOUND:
        return right.dims[1:]
    return literal_dims(right.shape[1:], right.dims[1:])


#: Static values of int64 arithmetic (shapes, counters) computed when compiling.
_STATIC = {operator.add, operator.sub, operator.mul, operator.floordiv, operator.mod,
           operator.neg, operator.pos}


def _static(function, operands):
    values = [operand.value for operand in operands]
    if function in _STATIC and all(type(value) is int for value in values):
        try:
            value = function(*values)
        except ZeroDivisionError:
            return None
        return value if -(2**63) <= value < 2**63 else None
    return None


#: Function name -> (parameter names, Rules method, leading fixed arguments).
RULES = {
    **{name: (("a", "axis"), "reduce", (name,))
       for name in ("sum", "prod", "min", "max", "mean", "any", "all", "var", "std",
                    "argmax", "argmin")},
    "amin": (("a", "axis"), "reduce", ("min",)),
    "amax": (("a", "axis"), "reduce", ("max",)),
    "cumsum": (("a",), "cumulative", ("cumsum",)),
    "cumprod": (("a",), "cumulative", ("cumprod",)),
    "diff": (("a", "n"), "diff", ()),
    "clip": (("a", "a_min", "a_max"), "clip", ()),
    "where": (("condition", "x", "y"), "where", ()),
    "dot": (("a", "b"), "matmul", ()),
    "outer": (("a", "b"), "outer", ()),
    "cross": (("a", "b"), "cross", ()),
    "trace": (("a",), "trace", ()),
    "linalg.norm": (("x",), "norm", ()),
    "linalg.solve": (("a", "b"), "linalg", ("solve",)),
    "linalg.inv": (("a",), "linalg", ("inv",)),
    "linalg.det": (("a",), "linalg", ("det",)),
}
#: Parameters a call may leave out.
OPTIONAL = frozenset({"axis", "n"})
#: Array methods fused as the NumPy function of the same name.
METHODS = frozenset("sum prod min max mean any all var std argmax argmin cumsum cumprod dot "
                    "trace".split())
