"""Fusing NumPy-style per-example code into loops over the kernel's arrays.

Numba allocates a new array for every NumPy temporary, once per example:
``np.sum(v ** 2)`` mapped over a million rows is a million allocations.
This pass rewrites the per-example function's body, for a documented subset
of NumPy, into scalar loops that read the mapped arguments in place and
write array results straight into the stacked outputs. For::

    def normalize(v):
        return v / np.sqrt(np.sum(v * v))

the kernel's per-example body becomes::

    sum_0 = 0
    for j0 in range(v.shape[1]):
        sum_0 += (v[i, j0] * v[i, j0])
    for j0 in range(v.shape[1]):
        out_0[i, j0] = (v[i, j0] / np.sqrt(sum_0))

Fused code cannot raise (arithmetic follows NumPy's error model), so the
kernel needs no ``try`` around it, which would cost vectorisation; the one
failure, ``min``/``max`` of an empty example, returns the RAISED status and
the caller re-runs the example to raise NumPy's error.

The subset: straight-line bodies (assignments, augmented assignments, one
final ``return`` of a value or a tuple; docstrings and ``print`` calls are
dropped) over per-example arrays of one shape and scalars; arithmetic,
comparisons, ``&``/``|``/``^``, NumPy ufuncs, ``np.where``, ``abs``; whole-example
reductions ``np.sum/prod/min/max/mean/any/all``, their method forms,
``np.dot`` / ``@`` of two vectors and ``np.linalg.norm`` of a vector.
Anything else (control flow, indexing, slicing, ``axis=``, containers,
broadcasting between different shapes, arithmetic on booleans) leaves the
function as it is: ``fuse`` returns None and the kernel calls it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import source

#: Elementwise NumPy functions, emitted as the same call on scalars.
UFUNCS = frozenset(
    "sqrt exp exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan sinh cosh "
    "tanh arcsinh arccosh arctanh floor ceil trunc rint square sign absolute abs negative "
    "maximum minimum fmax fmin arctan2 hypot power isnan isinf isfinite".split()
)
REDUCTIONS = frozenset("sum prod min max mean any all amin amax".split())
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Mod: "%", ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^"}
_LOGICAL = {"&", "|", "^"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
            ast.NotEq: "!="}


class Unsupported(Exception):
    """The function is outside the fusable subset."""


@dataclass(frozen=True)
class Scalar:
    """A per-example scalar: a Python expression, and its dtype kind."""

    expr: str
    kind: str


@dataclass(frozen=True)
class Array:
    """A per-example array: static shape, loop bounds, and its element expression."""

    shape: tuple
    dims: tuple
    kind: str
    element: Callable[[list], str]


@dataclass(frozen=True)
class Operand:
    """A kernel argument as the per-example function sees it."""

    shape: tuple
    dims: tuple
    kind: str
    element: Callable[[list | None], str]


@dataclass(frozen=True)
class Target:
    """An output leaf: its per-example shape and how to write one element."""

    path: tuple
    shape: tuple
    element: Callable[[list], str]


def _kind(dtype) -> str:
    return np.dtype(dtype).kind


class _Fuser:
    def __init__(self, py_func, operands: dict, targets: list, taken: set):
        self.globals = py_func.__globals__
        self.env = {}
        for name, operand in operands.items():
            if operand.shape:
                self.env[name] = Array(operand.shape, operand.dims, operand.kind,
                                       operand.element)
            else:
                self.env[name] = Scalar(operand.element(None), operand.kind)
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

    # statements -------------------------------------------------------
    def body(self, statements) -> list[str]:
        *init, last = statements
        for statement in init:
            self.statement(statement)
        if not isinstance(last, ast.Return) or last.value is None:
            raise Unsupported("the body must end with a return")
        self.output(last.value)
        return self.lines

    def statement(self, node) -> None:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return
        if isinstance(node, ast.Expr) and self._is_print(node.value):
            return
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AugAssign):
            target = node.target
            value = ast.BinOp(ast.Name(node.target.id, ast.Load()), node.op, node.value) \
                if isinstance(target, ast.Name) else None
        else:
            raise Unsupported(type(node).__name__)
        if not isinstance(target, ast.Name) or value is None:
            raise Unsupported("assignment to something other than a name")
        result = self.expr(value)
        if isinstance(result, Scalar):
            name = self.fresh(target.id)
            self.lines.append(f"{name} = {result.expr}")
            result = Scalar(name, result.kind)
        self.env[target.id] = result

    def _is_print(self, node) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "print" and "print" not in self.globals)

    def output(self, node) -> None:
        values = self._flatten_return(node)
        if len(values) != len(self.targets):
            raise Unsupported("result structure")
        for value, target in zip(values, self.targets):
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
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            raise Unsupported(type(node).__name__)
        return method(node)

    def expr_Name(self, node):
        if node.id in self.env:
            return self.env[node.id]
        value = self.globals.get(node.id)
        if type(value) in (int, float, bool):
            return Scalar(repr(value), _kind(type(value)))
        raise Unsupported(f"global {node.id}")

    def expr_Constant(self, node):
        if type(node.value) in (int, float, complex, bool):
            return Scalar(repr(node.value), _kind(type(node.value)))
        raise Unsupported("constant")

    def expr_UnaryOp(self, node):
        operand = self.expr(node.operand)
        if not isinstance(node.op, (ast.USub, ast.UAdd)) or operand.kind == "b":
            raise Unsupported("unary operator")
        symbol = "-" if isinstance(node.op, ast.USub) else "+"
        return self.elementwise([operand], lambda e: f"({symbol}{e[0]})", operand.kind)

    def expr_BinOp(self, node):
        symbol = _BINARY.get(type(node.op))
        if symbol is None:
            if isinstance(node.op, ast.MatMult):
                return self.reduce("dot", [self.expr(node.left), self.expr(node.right)])
            raise Unsupported("operator")
        left, right = self.expr(node.left), self.expr(node.right)
        if (symbol == "**" and isinstance(node.right, ast.Constant) and node.right.value == 2
                and left.kind != "b"):
            return self.elementwise([left], lambda e: f"({e[0]} * {e[0]})", left.kind)
        booleans = "b" in (left.kind, right.kind)
        if booleans and not (symbol in _LOGICAL and left.kind == right.kind == "b"):
            raise Unsupported("arithmetic on booleans")
        kind = "b" if booleans else max(left.kind, right.kind, key="biufc".index)
        if symbol == "/" and kind in "iu":
            kind = "f"
        return self.elementwise([left, right], lambda e: f"({e[0]} {symbol} {e[1]})", kind)

    def expr_Compare(self, node):
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise Unsupported("comparison")
        symbol = _COMPARE[type(node.ops[0])]
        operands = [self.expr(node.left), self.expr(node.comparators[0])]
        return self.elementwise(operands, lambda e: f"({e[0]} {symbol} {e[1]})", "b")

    def expr_Call(self, node):
        if node.keywords:
            raise Unsupported("keyword arguments")
        name = self._numpy_name(node.func)
        if isinstance(node.func, ast.Attribute) and name is None:
            method = node.func.attr
            if method in REDUCTIONS and not node.args:
                return self.reduce(method, [self.expr(node.func.value)])
            raise Unsupported(f"method {method}")
        if name is None and isinstance(node.func, ast.Name) and node.func.id == "abs" \
                and "abs" not in self.globals:
            name = "abs"
        args = [self.expr(arg) for arg in node.args]
        if name in ("linalg.norm", "dot") or name in REDUCTIONS and len(args) == 1:
            return self.reduce(name, args)
        if name == "where" and len(args) == 3:
            kind = max(args[1].kind, args[2].kind, key="biufc".index)
            return self.elementwise(args, lambda e: f"({e[1]} if {e[0]} else {e[2]})", kind)
        if name in UFUNCS and args:
            kind = _ufunc_kind(name, args)
            return self.elementwise(args, lambda e: f"np.{name}({', '.join(e)})", kind)
        if name == "abs":
            return self.elementwise(args, lambda e: f"abs({e[0]})", _ufunc_kind(name, args))
        raise Unsupported(f"call {ast.unparse(node.func)}")

    def _numpy_name(self, func) -> str | None:
        parts = []
        while isinstance(func, ast.Attribute):
            parts.insert(0, func.attr)
            func = func.value
        if isinstance(func, ast.Name) and parts and self.globals.get(func.id) is np:
            return ".".join(parts)
        return None

    # building blocks --------------------------------------------------
    def elementwise(self, operands, combine, kind):
        arrays = [operand for operand in operands if isinstance(operand, Array)]
        if not arrays:
            name = self.fresh("scalar")
            self.lines.append(f"{name} = {combine([operand.expr for operand in operands])}")
            return Scalar(name, kind)
        shape = arrays[0].shape
        if any(array.shape != shape for array in arrays):
            raise Unsupported("arrays of different shapes")

        def element(index):
            return combine([op.element(index) if isinstance(op, Array) else op.expr
                            for op in operands])

        return Array(shape, arrays[0].dims, kind, element)

    def reduce(self, name: str, args):
        name = {"amin": "min", "amax": "max"}.get(name, name)
        if name in ("dot", "linalg.norm"):
            if name == "dot":
                if len(args) != 2 or not all(isinstance(a, Array) and len(a.shape) == 1
                                             for a in args):
                    raise Unsupported("dot of non-vectors")
                value = self.elementwise(args, lambda e: f"({e[0]} * {e[1]})",
                                         max(args[0].kind, args[1].kind, key="biufc".index))
                return self.reduce("sum", [value])
            (vector,) = args
            if not isinstance(vector, Array) or len(vector.shape) != 1:
                raise Unsupported("norm of a non-vector")
            square = "({0} * {0})" if vector.kind in "iuf" else "(abs({0}) ** 2)"
            total = self.reduce("sum", [self.elementwise([vector],
                                                         lambda e: square.format(e[0]), "f")])
            return self.elementwise([total], lambda e: f"np.sqrt({e[0]})", "f")
        (value,) = args
        if isinstance(value, Scalar):
            return value if name != "mean" else Scalar(f"({value.expr} / 1)", "f")
        result = self.fresh(name)
        size = int(np.prod(value.shape))
        element = value.element
        if name in ("min", "max"):
            if size == 0:
                # NumPy raises here; the caller re-runs the example to raise it.
                self.lines.append("return RAISED")
                return Scalar("0", value.kind)
            first = element(["0"] * len(value.shape))
            self.lines.append(f"{result} = {first}")
            self.lines.extend(self.loop(value, lambda index: (
                f"{result} = np.{name}imum({result}, {element(index)})")))
            return Scalar(result, value.kind)
        initial, update, kind = {
            "sum": ("0", "{r} += {e}", "i" if value.kind in "bu" else value.kind),
            "mean": ("0", "{r} += {e}", "f" if value.kind in "biu" else value.kind),
            "prod": ("1", "{r} *= {e}", "i" if value.kind in "bu" else value.kind),
            "any": ("False", "{r} = {r} or bool({e})", "b"),
            "all": ("True", "{r} = {r} and bool({e})", "b"),
        }[name]
        self.lines.append(f"{result} = {initial}")
        self.lines.extend(self.loop(value, lambda index: update.format(r=result,
                                                                       e=element(index))))
        if name == "mean":
            count = " * ".join(value.dims)
            return Scalar(f"({result} / ({count}))", kind)
        return Scalar(result, kind)


def _ufunc_kind(name: str, args) -> str:
    kinds = [arg.kind for arg in args]
    if name in ("isnan", "isinf", "isfinite"):
        return "b"
    if name in ("abs", "absolute") and "c" in kinds:
        return "f"
    widest = max(kinds, key="biufc".index)
    if name in ("maximum", "minimum", "fmax", "fmin", "abs", "absolute", "negative", "sign",
                "square", "power") and widest != "b":
        return widest
    return "c" if widest == "c" else "f"


def fuse(py_func, operands: dict, targets: list, taken: set) -> list[str] | None:
    """Fused per-example body lines, or None when ``py_func`` is outside the subset.

    ``operands`` maps each parameter name to its ``Operand``; ``targets``
    lists the output leaves in result order; ``taken`` holds names the body
    must not assign.
    """
    definition = source.definition(py_func)
    if definition is None:
        return None
    params = definition.args
    if params.vararg or params.kwarg or params.kwonlyargs or params.posonlyargs:
        return None
    if [arg.arg for arg in params.args] != list(operands):
        return None
    try:
        return _Fuser(py_func, operands, targets, taken).body(definition.body)
    except Unsupported:
        return None
