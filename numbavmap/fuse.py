"""Fusing NumPy-style per-example code into loops over the kernel's arrays.

Numba allocates a new array for every NumPy temporary, once per example:
``np.sum(v ** 2)`` mapped over a million rows is a million allocations.
This pass rewrites the per-example function's body, for a documented subset
of NumPy, into scalar loops that read the mapped arguments in place and
write array results straight into the stacked outputs. For::

    def normalize(v):
        return v / np.sqrt(np.sum(v * v))

the kernel's per-example body becomes (float64 ``v``)::

    sum_0 = 0.0
    for j0 in range(v.shape[1]):
        sum_0 += (v[i, j0] * v[i, j0])
    scalar_0 = np.sqrt(sum_0)
    for j0 in range(v.shape[1]):
        out_0[i, j0] = (v[i, j0] / scalar_0)

Fusion never changes a result: every fused value carries the Numba type
the unfused compiled function gives it (``numbavmap.numba_typing`` asks
Numba). As in Numba's own array expressions, a chain of elementwise
operations is computed by Numba's scalar rules and converted to the
array's dtype where the array is stored: named, reduced or returned
(``np.sum(v + v)`` on int8 sums ``np.int8(v[i, j0] + v[i, j0])``, which
wraps as NumPy does). Reductions accumulate in Numba's accumulator type. The
one difference allowed is the order of float sums. A body whose result
types do not come out as Numba's is not fused.

Fused code cannot raise (arithmetic follows NumPy's error model), so the
kernel needs no ``try`` around it, which would cost vectorisation; the one
failure, ``min``/``max`` of an empty example, returns the RAISED status and
the caller re-runs the example to raise NumPy's error.

The subset: straight-line bodies (assignments, augmented assignments to
scalars, one final ``return`` of a value or a tuple; docstrings and
``print`` calls are dropped) over per-example arrays of one shape and
scalars; arithmetic, comparisons, ``&``/``|``/``^``, NumPy ufuncs,
``np.where``, ``abs`` of scalars, scalar conversions (``np.float32(x)``);
whole-example reductions ``np.sum/prod/min/max/mean/any/all``, their method
forms, ``np.dot`` / ``@`` of two vectors and ``np.linalg.norm`` of a
vector. Names resolve as Python resolves them: locals, then closure
variables, then globals. Anything else (control flow, indexing, slicing,
``axis=``, containers, broadcasting between different shapes, arithmetic on
booleans) leaves the function as it is: ``fuse`` returns None and the
kernel calls it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba.core import types

from . import source
from .numba_typing import NotTyped, array_type, constructor, result

#: Elementwise NumPy functions, emitted as the same call on scalars.
UFUNCS = frozenset(
    "sqrt exp exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan sinh cosh "
    "tanh arcsinh arccosh arctanh floor ceil trunc rint square sign absolute abs negative "
    "maximum minimum fmax fmin arctan2 hypot power isnan isinf isfinite".split()
)
REDUCTIONS = frozenset("sum prod min max mean any all amin amax".split())
#: Scalar conversions fused as the same call: ``np.float32(x)``.
CONVERSIONS = frozenset(
    "bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float32 float64 complex64 "
    "complex128".split()
)
#: Operator node -> (source symbol, Python operator).
_BINARY = {
    ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv), ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod), ast.Pow: ("**", operator.pow),
    ast.BitAnd: ("&", operator.and_), ast.BitOr: ("|", operator.or_),
    ast.BitXor: ("^", operator.xor),
}
_LOGICAL = {"&", "|", "^"}
_COMPARE = {
    ast.Lt: ("<", operator.lt), ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge), ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne),
}
_UNARY = {ast.USub: ("-", operator.neg), ast.UAdd: ("+", operator.pos)}
#: Literal sources for accumulators of Python's own types.
_LITERAL_ZERO = {types.int64: "{}", types.float64: "{}.0", types.complex128: "{}j"}


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
    """A per-example scalar: a Python expression and its Numba type."""

    expr: str
    type: object


@dataclass(frozen=True)
class Array:
    """A per-example array: static shape, loop bounds, dtype (a Numba type) and element.

    Like Numba's array expressions, a chain of elementwise operations is one
    scalar expression typed by Numba's scalar rules (``scalar_type``, None
    when it is ``dtype``): it takes the array's ``dtype`` where the array is
    stored, that is, named, reduced or returned (``materialized``).
    """

    shape: tuple
    dims: tuple
    dtype: object
    element: Callable[[list], str]
    scalar_type: object = None

    @property
    def type(self):
        return array_type(self.dtype, len(self.shape))

    def materialized(self) -> Array:
        """The array as Numba stores it: each element converted to ``dtype``."""
        if self.scalar_type is None or self.scalar_type == self.dtype:
            return Array(self.shape, self.dims, self.dtype, self.element)
        return Array(self.shape, self.dims, self.dtype,
                     lambda index: _convert(self.element(index), self.dtype))


@dataclass(frozen=True)
class Operand:
    """A kernel argument as the per-example function sees it.

    ``dtype`` is Numba's type of one element (of the scalar, for a scalar).
    """

    shape: tuple
    dims: tuple
    dtype: object
    element: Callable[[list | None], str]


@dataclass(frozen=True)
class Target:
    """An output leaf: its per-example shape, dtype, and how to write one element."""

    path: tuple
    shape: tuple
    dtype: np.dtype
    element: Callable[[list], str]


def _typed(function, arg_types):
    try:
        return result(function, arg_types)
    except NotTyped as exc:
        raise Unsupported(str(exc)) from None


def _cast(expr: str, from_type, to_type) -> str:
    """``expr`` converted to ``to_type``, leaving implicit what Numba's scalar
    arithmetic converts by itself (an integer into int64 or float64)."""
    implicit = from_type == to_type or isinstance(from_type, types.Integer) and (
        to_type == types.float64 or to_type == types.int64
        and (from_type.signed or from_type.bitwidth < 64))
    return expr if implicit else _convert(expr, to_type)


def _convert(expr: str, numba_type) -> str:
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


def _constant(value) -> Scalar:
    """A Python number as a source literal with the type Numba gives it."""
    if type(value) is bool:
        return Scalar(repr(value), types.boolean)
    if type(value) is int:
        if not -(2**63) <= value < 2**63:
            raise Unsupported("integer constant beyond int64")
        return Scalar(repr(value), types.int64)
    if type(value) is float:
        if math.isnan(value):
            return Scalar("np.nan", types.float64)
        if math.isinf(value):
            return Scalar("np.inf" if value > 0 else "(-np.inf)", types.float64)
        return Scalar(repr(value), types.float64)
    if type(value) is complex and all(map(math.isfinite, (value.real, value.imag))):
        return Scalar(repr(value), types.complex128)
    if isinstance(value, np.generic) and value.dtype.name in CONVERSIONS:
        inner = _constant(value.item())
        numba_type = types.boolean if value.dtype.kind == "b" else getattr(types,
                                                                          value.dtype.name)
        return Scalar(f"{constructor(numba_type)}({inner.expr})", numba_type)
    raise Unsupported(f"constant of type {type(value).__name__}")


_MISSING = object()


class _Fuser:
    def __init__(self, py_func, operands: dict, targets: list, taken: set):
        self.globals = py_func.__globals__
        cells = py_func.__closure__ or ()
        self.closure = dict(zip(py_func.__code__.co_freevars,
                                (cell.cell_contents for cell in cells)))
        self.env = {}
        for name, operand in operands.items():
            if operand.shape:
                self.env[name] = Array(operand.shape, operand.dims, operand.dtype,
                                       operand.element)
            else:
                self.env[name] = Scalar(operand.element(None), operand.dtype)
        self.targets = targets
        self.taken = set(taken)
        self.lines: list[str] = []

    def fresh(self, base: str) -> str:
        counter = 0
        while f"{base}_{counter}" in self.taken:
            counter += 1
        name = f"{base}_{counter}"
        self.taken.add(name)
        return name

    def lookup(self, name: str):
        """A free name's value, resolved as Python does: closure, globals, builtins."""
        if name in self.closure:
            return self.closure[name]
        if name in self.globals:
            return self.globals[name]
        return getattr(builtins, name, _MISSING)

    # statements -------------------------------------------------------
    def body(self, statements) -> list[str]:
        *init, last = statements
        for statement in init:
            with _located(statement):
                self.statement(statement)
        with _located(last):
            if not isinstance(last, ast.Return) or last.value is None:
                raise Unsupported("the body must end with a return")
            self.output(last.value)
        return self.lines

    def statement(self, node) -> None:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return
        if isinstance(node, ast.Expr) and self._is_builtin_call(node.value, "print"):
            return
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            target = node.target
            if not isinstance(self.env.get(target.id), Scalar):
                raise Unsupported("augmented assignment to an array (in place in Numba)")
            value = ast.BinOp(ast.Name(target.id, ast.Load()), node.op, node.value)
        else:
            first_line = ast.unparse(node).splitlines()[0]
            raise Unsupported(f"{type(node).__name__} statement `{first_line}`")
        if not isinstance(target, ast.Name):
            raise Unsupported("assignment to something other than a name")
        value = _stored(self.expr(value))
        if isinstance(value, Scalar):
            name = self.fresh(target.id)
            self.lines.append(f"{name} = {value.expr}")
            value = Scalar(name, value.type)
        self.env[target.id] = value

    def _is_builtin_call(self, node, name: str) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == name and node.func.id not in self.env
                and self.lookup(name) is getattr(builtins, name))

    def output(self, node) -> None:
        values = self._flatten_return(node)
        if len(values) != len(self.targets):
            raise Unsupported("result structure")
        for value, target in zip(values, self.targets):
            value = _stored(value)
            dtype = operand_dtype(value)
            if str(dtype) != target.dtype.name:
                raise Unsupported(f"fused type {dtype} differs from Numba's {target.dtype}")
            if isinstance(value, Scalar):
                if target.shape:
                    raise Unsupported("scalar for an array output")
                self.lines.append(f"{target.element([])} = {value.expr}")
                continue
            if value.shape != target.shape:
                raise Unsupported("array output of another shape")
            self.lines.extend(self.loop(value, lambda index, v=value, t=target:
                                        f"{t.element(index)} = {v.element(index)}"))

    def _flatten_return(self, node) -> list:
        if isinstance(node, ast.Tuple):
            return [leaf for element in node.elts for leaf in self._flatten_return(element)]
        return [self.expr(node)]

    def loop(self, value: Array, statement: Callable[[list], str]) -> list[str]:
        indices = [f"j{d}" for d in range(len(value.shape))]
        lines = [f"{'    ' * d}for {j} in range({dim}):"
                 for d, (j, dim) in enumerate(zip(indices, value.dims))]
        lines.append("    " * len(indices) + statement(indices))
        return lines

    # expressions ------------------------------------------------------
    def expr(self, node):
        with _located(node):
            method = getattr(self, f"expr_{type(node).__name__}", None)
            if method is None:
                raise Unsupported(f"{type(node).__name__} `{ast.unparse(node)}`")
            return method(node)

    def expr_Name(self, node):
        if node.id in self.env:
            return self.env[node.id]
        return _constant(self.lookup(node.id))

    def expr_Constant(self, node):
        return _constant(node.value)

    def expr_UnaryOp(self, node):
        if type(node.op) not in _UNARY:
            raise Unsupported("unary operator")
        operand = self.expr(node.operand)
        if operand_dtype(operand) == types.boolean:
            raise Unsupported("arithmetic on booleans")
        symbol, python_op = _UNARY[type(node.op)]
        return self.apply([operand], lambda e: f"({symbol}{e[0]})", python_op)

    def expr_BinOp(self, node):
        if isinstance(node.op, ast.MatMult):
            return self.reduce("dot", [self.expr(node.left), self.expr(node.right)])
        if type(node.op) not in _BINARY:
            raise Unsupported("operator")
        symbol, python_op = _BINARY[type(node.op)]
        left, right = self.expr(node.left), self.expr(node.right)
        dtypes = (operand_dtype(left), operand_dtype(right))
        if types.boolean in dtypes and not (symbol in _LOGICAL and set(dtypes) == {types.boolean}):
            raise Unsupported("arithmetic on booleans")
        if symbol == "**" and _squares_alike(left, node.right):
            return self.apply([left, right], lambda e: f"({e[0]} * {e[0]})", python_op)
        return self.apply([left, right], lambda e: f"({e[0]} {symbol} {e[1]})", python_op)

    def expr_Compare(self, node):
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise Unsupported("comparison")
        symbol, python_op = _COMPARE[type(node.ops[0])]
        operands = [self.expr(node.left), self.expr(node.comparators[0])]
        return self.apply(operands, lambda e: f"({e[0]} {symbol} {e[1]})", python_op)

    def expr_Call(self, node):
        if node.keywords:
            raise Unsupported("keyword arguments")
        name = self._numpy_name(node.func)
        if isinstance(node.func, ast.Attribute) and name is None:
            method = node.func.attr
            if method in REDUCTIONS and not node.args:
                return self.reduce(method, [self.expr(node.func.value)])
            raise Unsupported(f"method {method}")
        args = [self.expr(arg) for arg in node.args]
        if self._is_builtin_call(node, "abs") and len(args) == 1:
            if isinstance(args[0], Array):
                raise Unsupported("abs of an array (Numba types only np.abs)")
            return self.scalar(f"abs({args[0].expr})", _typed(abs, [args[0].type]))
        if name in ("linalg.norm", "dot") or name in REDUCTIONS and len(args) == 1:
            return self.reduce(name, args)
        if name == "where" and len(args) == 3:
            return self.where(args)
        if name in CONVERSIONS and len(args) == 1 and isinstance(args[0], Scalar):
            function = getattr(np, name)
            return self.scalar(f"np.{name}({args[0].expr})", _typed(function, [args[0].type]))
        if name in UFUNCS and args:
            ufunc = getattr(np, name)
            return self.apply(args, lambda e: f"np.{name}({', '.join(e)})", ufunc)
        raise Unsupported(f"call {ast.unparse(node.func)}")

    def _numpy_name(self, func) -> str | None:
        parts = []
        while isinstance(func, ast.Attribute):
            parts.insert(0, func.attr)
            func = func.value
        if (isinstance(func, ast.Name) and parts and func.id not in self.env
                and self.lookup(func.id) is np):
            return ".".join(parts)
        return None

    # building blocks --------------------------------------------------
    def scalar(self, expr: str, numba_type) -> Scalar:
        """A new scalar variable holding ``expr``."""
        name = self.fresh("scalar")
        self.lines.append(f"{name} = {expr}")
        return Scalar(name, numba_type)

    def apply(self, operands, combine, function):
        """An elementwise operation, typed as Numba types ``function`` of the operands.

        On arrays, the element is the same operation on the operands' scalar
        expressions, as in Numba's array expressions.
        """
        arrays = [operand for operand in operands if isinstance(operand, Array)]
        if not arrays:
            numba_type = _typed(function, [operand.type for operand in operands])
            if isinstance(numba_type, types.Array):
                raise Unsupported("a 0-d array result")
            return self.scalar(combine([operand.expr for operand in operands]), numba_type)
        shape, dims = _common_shape(arrays)
        result_type = _typed(function, [operand.type for operand in operands])

        def element(index):
            return combine([op.element(index) if isinstance(op, Array) else op.expr
                            for op in operands])

        if not isinstance(result_type, types.Array):  # Numba gives 0-d operations scalars
            return self.scalar(element([]), result_type)
        scalar_type = _typed(function, [_scalar_type(operand) for operand in operands])

        return Array(shape, dims, result_type.dtype, element, scalar_type)

    def where(self, args):
        """``np.where``: an array, 0-d when every argument is a scalar (as in Numba)."""
        args = [_stored(arg) for arg in args]
        condition, *branches = args
        shape, dims = _common_shape([arg for arg in args if isinstance(arg, Array)])
        numba_type = _typed(np.where, [arg.type for arg in args])
        dtype = numba_type.dtype

        def element(index):
            c, a, b = (arg.element(index) if isinstance(arg, Array) else arg.expr
                       for arg in args)
            a = _cast(a, operand_dtype(branches[0]), dtype)
            b = _cast(b, operand_dtype(branches[1]), dtype)
            return f"({a} if {c} else {b})"

        return Array(shape, dims, dtype, element)

    def reduce(self, name: str, args):
        name = {"amin": "min", "amax": "max"}.get(name, name)
        if name == "dot":
            return self.dot(args)
        if name == "linalg.norm":
            return self.norm(args)
        value = _stored(args[0])
        function = getattr(np, name)
        numba_type = _typed(function, [value.type])
        if isinstance(value, Scalar):
            return self.scalar(f"np.{name}({value.expr})", numba_type)
        if name in ("min", "max"):
            return self.extremum(name, value, numba_type)
        if name in ("any", "all"):
            initial, update = {"any": ("False", "{r} = {r} or bool({e})"),
                               "all": ("True", "{r} = {r} and bool({e})")}[name]
            return self.accumulate(name, value, initial, update, numba_type)
        initial = _typed_literal(1 if name == "prod" else 0, numba_type)
        update = "{r} *= {e}" if name == "prod" else "{r} += {e}"
        total = self.accumulate(name, value, initial, update, numba_type)
        if name != "mean":
            return total
        mean = f"{total.expr} / ({' * '.join(value.dims) or 1})"
        if _typed(operator.truediv, [numba_type, types.intp]) != numba_type:
            mean = _convert(mean, numba_type)
        return self.scalar(mean, numba_type)

    def accumulate(self, name: str, value: Array, initial: str, update: str, numba_type):
        """A scalar ``name_k`` of ``numba_type``, starting at ``initial``, updated once
        per element (Numba's scalar rules, as its reductions' loops)."""
        result_name = self.fresh(name)
        self.lines.append(f"{result_name} = {initial}")
        self.lines.extend(self.loop(value, lambda index: update.format(
            r=result_name, e=value.element(index))))
        return Scalar(result_name, numba_type)

    def extremum(self, name: str, value: Array, numba_type) -> Scalar:
        if not all(value.shape):
            # NumPy raises here; the caller re-runs the example to raise it.
            self.lines.append("return RAISED")
            return Scalar(_typed_literal(0, numba_type), numba_type)
        result_name = self.fresh(name)
        self.lines.append(f"{result_name} = {value.element(['0'] * len(value.shape))}")
        self.lines.extend(self.loop(value, lambda index: (
            f"{result_name} = np.{name}imum({result_name}, {value.element(index)})")))
        return Scalar(result_name, numba_type)

    def dot(self, args) -> Scalar:
        if len(args) != 2 or not all(isinstance(a, Array) and len(a.shape) == 1 for a in args):
            raise Unsupported("dot of non-vectors")
        left, right = args = [arg.materialized() for arg in args]
        numba_type = _typed(np.dot, [arg.type for arg in args])
        if left.shape != right.shape:
            raise Unsupported("arrays of different shapes")

        def element(index):
            return f"({left.element(index)} * {right.element(index)})"

        product = Array(left.shape, left.dims, numba_type, element)
        return self.accumulate("dot", product, _typed_literal(0, numba_type), "{r} += {e}",
                               numba_type)

    def norm(self, args) -> Scalar:
        (vector,) = args
        if not isinstance(vector, Array) or len(vector.shape) != 1:
            raise Unsupported("norm of a non-vector")
        vector = vector.materialized()
        numba_type = _typed(np.linalg.norm, [vector.type])
        if isinstance(vector.dtype, types.Complex):
            square = "(abs({0}) * abs({0}))"
        else:
            square = "({0} * {0})"

        def element(index):
            return square.format(vector.element(index))

        squares = Array(vector.shape, vector.dims, numba_type, element)
        total = self.accumulate("norm", squares, _typed_literal(0, numba_type), "{r} += {e}",
                                numba_type)
        return self.scalar(f"np.sqrt({total.expr})", numba_type)


def _stored(value):
    """``value`` as Numba holds it once named, reduced or returned."""
    return value.materialized() if isinstance(value, Array) else value


def _scalar_type(value):
    """The type of ``value``'s element (or scalar) expression."""
    if isinstance(value, Scalar):
        return value.type
    return value.dtype if value.scalar_type is None else value.scalar_type


def _squares_alike(base, exponent_node) -> bool:
    """True when ``base ** 2`` may be written ``base * base``: an integer 2 and the
    same type either way (Numba's integer power of a float multiplies)."""
    if not (isinstance(exponent_node, ast.Constant) and type(exponent_node.value) is int
            and exponent_node.value == 2):
        return False
    base_type = _scalar_type(base)
    if isinstance(base_type, types.Complex):
        return False
    return _typed(operator.mul, [base_type, base_type]) == _typed(operator.pow,
                                                                  [base_type, types.int64])


def _common_shape(arrays) -> tuple[tuple, tuple]:
    """``(shape, dims)`` of arrays of one shape; 0-d arrays broadcast to any."""
    shaped: dict = {}
    for array in arrays:
        if array.shape:
            shaped.setdefault(array.shape, array.dims)
    if len(shaped) > 1:
        raise Unsupported("arrays of different shapes")
    return next(iter(shaped.items()), ((), ()))


def operand_dtype(value):
    """The element type of an array, the type of a scalar."""
    return value.dtype if isinstance(value, Array) else value.type


def _typed_literal(value: int, numba_type) -> str:
    """Source for the number ``value`` with exactly ``numba_type``."""
    literal = _LITERAL_ZERO.get(numba_type)
    if literal is not None:
        return literal.format(value)
    if numba_type == types.boolean:
        return repr(bool(value))
    return f"{constructor(numba_type)}({value})"


@contextlib.contextmanager
def _located(node):
    """Give an ``Unsupported`` raised inside ``node`` the innermost node's line."""
    try:
        yield
    except Unsupported as exc:
        if exc.line is None:
            exc.line = node.lineno
        raise


def fuse(py_func, operands: dict, targets: list, taken: set) -> Fusion:
    """The fused per-example body of ``py_func``, or the reason it is outside the subset.

    ``operands`` maps each parameter name to its ``Operand``; ``targets``
    lists the output leaves in result order; ``taken`` holds names the body
    must not assign.
    """
    definition = source.definition(py_func)
    if definition is None:
        return Fusion(None, "no source code to read (a lambda, or a function defined "
                            "by exec or at the interactive prompt)")
    params = definition.args
    if params.vararg or params.kwarg or params.kwonlyargs or params.posonlyargs:
        return Fusion(None, "*args, **kwargs or keyword-only parameters")
    if [arg.arg for arg in params.args] != list(operands):
        return Fusion(None, "arguments passed by keyword or left to their defaults")
    try:
        return Fusion(tuple(_Fuser(py_func, operands, targets, taken).body(definition.body)))
    except Unsupported as exc:
        where = f"{py_func.__code__.co_filename}:{exc.line or definition.lineno}"
        return Fusion(None, f"{exc} ({where})")
