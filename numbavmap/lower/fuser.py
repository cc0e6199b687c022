"""The walk over a per-example function's statements and expressions.

Statements: assignments (also to tuples of names), augmented assignments
to scalars, ``if``/``else`` on scalars (a ``return`` in a branch makes the
rest of the body the other branch; names bound by both branches join with
Numba's unified type), ``for`` over a static ``range`` or the first axis of
an array (unrolled; a scalar changing type in it takes Numba's unified type
from the first iteration), and ``return``; docstrings and ``print`` calls
are dropped. Expressions: conditional expressions on scalars, arithmetic,
comparisons, NumPy ufuncs and
the functions of ``rules.RULES``, ``math`` functions of scalars, static
indexing and slicing, ``.T``, ``.shape``, ``.size``, ``.ndim``, ``len``, and
the scalar builtins ``abs``, ``min``, ``max``, ``float``, ``int``. Names resolve as Python resolves
them: locals, then closure variables, then globals.
"""

from __future__ import annotations

import ast
import builtins
import math
import operator
import types as pytypes

import numpy as np
from numba.core import types
from numba.np import numpy_support

from ..numba_typing import unified
from . import libm, vecmath
from .emit import UNROLL_LIMIT, bounds
from .rules import METHODS, OPTIONAL, RULES, TRANSCENDENTAL, UFUNCS, Rules
from .shapes import subscript, transpose
from .values import (
    CONVERSIONS,
    Array,
    Fields,
    Scalar,
    Unsupported,
    cast,
    constant,
    convert,
    located,
    operand_dtype,
    scalar_type,
    static_int,
    stored,
    typed,
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
#: Builtins fused as the same call on scalars.
_SCALAR_BUILTINS = {"abs": abs, "min": min, "max": max, "float": float, "int": int}

_MISSING = object()
#: Most times a loop is lowered again because a scalar's type widened in it.
_WIDENINGS = 4
#: A name bound by one branch of an ``if`` only: Numba cannot read it after.
_ONE_BRANCH = object()


class Fuser(Rules):
    """Lowers one function's body, given its operands and output targets."""

    def __init__(self, py_func, operands: dict, targets: list, taken: set,
                 approximate: bool = False, scratch: bool = True, host: bool = True):
        super().__init__(taken, scratch)
        self.approximate = approximate
        #: Whether the body runs on the CPU, where ``np.exp`` is the C library's and
        #: ``np.linalg.solve`` LAPACK's.
        self.host = host
        self.globals = py_func.__globals__
        cells = py_func.__closure__ or ()
        self.closure = dict(zip(py_func.__code__.co_freevars,
                                (cell.cell_contents for cell in cells)))
        self.env = {name: _bound(operand) for name, operand in operands.items()}
        self.targets = targets
        self.loads: dict = {}
        #: How many ``return`` statements the body has.
        self.returns = 0
        #: How many ``if`` branches enclose the statement being lowered.
        self.branching = 0

    def lookup(self, name: str):
        """A free name's value, resolved as Python does: closure, globals, builtins."""
        if name in self.closure:
            return self.closure[name]
        if name in self.globals:
            return self.globals[name]
        return getattr(builtins, name, _MISSING)

    # statements -------------------------------------------------------
    def body(self, statements) -> list[str]:
        for node in ast.walk(ast.Module(statements, [])):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self.loads[node.id] = self.loads.get(node.id, 0) + 1
            self.returns += isinstance(node, ast.Return)
        if not self.block(statements):
            raise Unsupported("the body must end with a return")
        return self.lines

    def block(self, statements) -> bool:
        """Lower ``statements``; True when they end in a ``return``."""
        for position, node in enumerate(statements):
            with located(node):
                if isinstance(node, ast.Return):
                    if node.value is None:
                        raise Unsupported("a return without a value")
                    self.output(node.value)
                    return True
                if isinstance(node, ast.If) and (_returns(node.body) or _returns(node.orelse)):
                    rest = statements[position + 1:]
                    if not self.branches(node, _falling(node.body, rest),
                                         _falling(node.orelse, rest)):
                        raise Unsupported("a path through the body without a return")
                    return True
                if isinstance(node, ast.If):
                    self.branches(node, node.body, node.orelse)
                elif isinstance(node, ast.For):
                    self.unroll(node)
                else:
                    self.statement(node)
        return False

    def statement(self, node) -> None:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return
        if isinstance(node, ast.Expr) and self._is_builtin_call(node.value, "print"):
            return
        if isinstance(node, ast.Pass):
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
        self.assign(target, self.expr(value))

    def assign(self, target, value) -> None:
        if isinstance(target, ast.Tuple) and isinstance(value, tuple):
            if len(target.elts) != len(value):
                raise Unsupported("unpacking of another length")
            for name, item in zip(target.elts, value):
                self.assign(name, item)
            return
        if not isinstance(target, ast.Name):
            raise Unsupported("assignment to something other than a name")
        value = stored(value)
        if isinstance(value, Scalar) and value.value is not None:
            self.env[target.id] = value
            return
        if isinstance(value, Scalar):
            name = self.fresh(target.id)
            self.emit(f"{name} = {value.expr}")
            value = Scalar(name, value.type, value.value)
        elif isinstance(value, Array) and self.loads.get(target.id, 0) > 1:
            value = self.reused(value)
        self.env[target.id] = value

    def branches(self, node: ast.If, body, orelse) -> bool:
        """``if``/``else`` on a scalar; a name bound by both branches joins (see
        ``joined``), one bound by one branch only cannot be read after the ``if``.

        True when both branches return."""
        test = self.condition(node.test, "if")
        if test.value is not None:
            taken, untaken = (body, orelse) if test.value else (orelse, body)
            before = dict(self.env)
            untaken_env = self._lowered_aside(lambda: self.block(untaken))
            self.env = dict(before)
            ended = self.block(taken)
            if untaken_env is not None and not ended:
                for name in self.env.keys() & untaken_env.keys():
                    _same_type_both_ways(name, self.env[name], untaken_env[name])
            return ended
        before = dict(self.env)
        results = []
        self.branching += 1
        try:
            for statements in (body, orelse):
                self.env = dict(before)
                lines: list[str] = []
                with self.capture(lines):
                    ended = self.block(statements)
                results.append((lines, dict(self.env), ended))
        finally:
            self.branching -= 1
        (body_lines, body_env, body_ended), (else_lines, else_env, else_ended) = results
        self.env = before
        if body_ended != else_ended:
            raise Unsupported("a branch that neither returns nor falls through")
        if not body_ended:
            for name in body_env.keys() | else_env.keys():
                first, second = body_env.get(name), else_env.get(name)
                if first is None or second is None:
                    self.env[name] = _ONE_BRANCH
                elif first is not second:
                    self.env[name] = self.joined(name, first, second, body_lines, else_lines)
        self.indented(f"if {test.expr}:", body_lines)
        self.indented("else:", else_lines)
        return body_ended

    def _lowered_aside(self, lower) -> dict | None:
        """The names ``lower()`` binds (or the dict it returns), its lines thrown
        away and the names restored: a branch that a condition known when
        compiling never takes, lowered for its types. None where it cannot be."""
        before = dict(self.env)
        try:
            with self.capture([]):
                returned = lower()
            return returned if isinstance(returned, dict) else dict(self.env)
        except Unsupported:
            return None
        finally:
            self.env = before

    def condition(self, node, what: str) -> Scalar:
        """The scalar test of an ``if`` or a conditional expression."""
        test = stored(self.expr(node))
        if not isinstance(test, Scalar):
            raise Unsupported(f"{what} on an array")
        return test

    def joined(self, name: str, first, second, body_lines: list, else_lines: list):
        """One variable holding ``first`` where the branch of ``body_lines`` ran and
        ``second`` where that of ``else_lines`` did: scalars of the type Numba
        unifies them to; arrays of one shape and dtype in a scratch array both
        branches fill."""
        first, second = stored(first), stored(second)
        if isinstance(first, Scalar) and isinstance(second, Scalar):
            numba_type = unified(first.type, second.type)
            if numba_type is None:
                raise Unsupported(f"`{name}` of types {first.type} and {second.type} "
                                  "after an if")
            variable = self.fresh(name)
            body_lines.append(f"{variable} = {cast(first.expr, first.type, numba_type)}")
            else_lines.append(f"{variable} = {cast(second.expr, second.type, numba_type)}")
            return Scalar(variable, numba_type)
        if not (isinstance(first, Array) and isinstance(second, Array)
                and first.shape == second.shape and first.dtype == second.dtype):
            raise Unsupported(f"`{name}` bound differently by the branches of an if")
        buffer, array = self.scratch_array(first)
        for lines, value in ((body_lines, first), (else_lines, second)):
            with self.capture(lines):
                self.store(buffer, value)
        return array

    def unroll(self, node: ast.For) -> None:
        """A ``for`` over a static range (or an array's first axis), unrolled.

        A scalar that changes type in the loop has, at the head of every
        iteration and after the loop, the type Numba unifies its values to
        (the loop's phi): lowered again with that type until types settle.
        """
        if node.orelse or any(isinstance(n, (ast.Break, ast.Continue, ast.Return))
                              for n in ast.walk(ast.Module(node.body, []))):
            raise Unsupported("for loop with break, continue, return or else")
        items = self.iteration(node.iter)
        if len(items) > UNROLL_LIMIT:
            raise Unsupported(f"for loop of more than {UNROLL_LIMIT} iterations")
        carried = {name: value.type for name, value in self.env.items()
                   if isinstance(value, Scalar)}
        for _ in range(_WIDENINGS):
            start, env = len(self.sink), dict(self.env)
            widened = self._iterations(node, items, carried)
            if not widened:
                return
            del self.sink[start:]
            self.env = env
            carried.update(widened)
        raise Unsupported("types in the loop do not settle")

    def _iterations(self, node: ast.For, items: list, carried: dict) -> dict:
        """Lower the loop with each scalar of ``carried`` (name: type) of that
        type at the head of each iteration and after the loop. Returns the
        carried scalars whose type an iteration widens, with their unified
        types, after lowering no further; empty once lowered."""
        first_types: dict = {}
        for item in items:
            self._convert_carried(carried)
            self.assign(node.target, item)
            if self.block(node.body):
                raise Unsupported("a return inside a for loop")
            widened = {}
            for name, value in self.env.items():
                numba_type = getattr(value, "type", None)
                if name in carried:
                    joined = unified(carried[name], numba_type) \
                        if isinstance(value, Scalar) else None
                    if joined is None:
                        raise Unsupported(f"`{name}` changes type in the loop")
                    if joined != carried[name]:
                        widened[name] = joined
                elif first_types.setdefault(name, numba_type) != numba_type:
                    raise Unsupported(f"`{name}` changes type in the loop")
            if widened:
                return widened
        self._convert_carried(carried)
        return {}

    def _convert_carried(self, carried: dict) -> None:
        for name, numba_type in carried.items():
            value = self.env[name]
            if value.type != numba_type:
                self.env[name] = Scalar(convert(value.expr, numba_type), numba_type)

    def iteration(self, node) -> list:
        """The values a ``for`` loop binds, known when compiling."""
        if self._is_builtin_call(node, "range") and not node.keywords:
            bounds = [static_int(self.expr(arg), "range bound") for arg in node.args]
            return [constant(k) for k in range(*bounds)]
        value = stored(self.expr(node))
        if isinstance(value, Array):
            return [self.index(value, [k]) for k in range(value.shape[0])]
        raise Unsupported("for loop over other than a static range or an array")

    def _is_builtin_call(self, node, name: str) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == name and node.func.id not in self.env
                and self.lookup(name) is getattr(builtins, name))

    def output(self, node) -> None:
        values = self._flatten_return(node)
        if len(values) != len(self.targets):
            raise Unsupported("result structure")
        for value, target in zip(values, self.targets):
            value = self.returned(stored(value), target)
            if isinstance(value, Scalar):
                if target.shape:
                    raise Unsupported("scalar for an array output")
                self.emit(f"{target.element([])} = {value.expr}")
                continue
            if value.shape != target.shape:
                raise Unsupported("array output of another shape")
            if self.returns == 1 and self.filled_in_place(
                    value, target.element([":"] * len(target.shape))):
                continue
            self.writing_loop(bounds(value), lambda index, v=value, t=target:
                              f"{t.element(index)} = {v.element(index)}")

    def returned(self, value, target):
        """``value`` as the output ``target`` holds it. A scalar returned inside an
        ``if`` takes the type Numba unifies the function's returns to."""
        dtype = operand_dtype(value)
        if str(dtype) == target.dtype.name:
            return value
        numba_type = numpy_support.from_dtype(target.dtype)
        if isinstance(value, Scalar) and self.branching and \
                unified(dtype, numba_type) == numba_type:
            return Scalar(cast(value.expr, dtype, numba_type), numba_type)
        raise Unsupported(f"fused type {dtype} differs from Numba's {target.dtype}")

    def _flatten_return(self, node) -> list:
        if isinstance(node, ast.Tuple):
            return [leaf for element in node.elts for leaf in self._flatten_return(element)]
        value = self.expr(node)
        if isinstance(value, tuple):
            raise Unsupported("a tuple of static values as a result")
        return [value]

    # expressions ------------------------------------------------------
    def expr(self, node):
        with located(node):
            method = getattr(self, f"expr_{type(node).__name__}", None)
            if method is None:
                raise Unsupported(f"{type(node).__name__} `{ast.unparse(node)}`")
            return method(node)

    def expr_Name(self, node):
        if node.id in self.env:
            value = self.env[node.id]
            if value is _ONE_BRANCH:
                raise Unsupported(f"`{node.id}` bound by one branch of an if only")
            return value
        return constant(self.lookup(node.id))

    def expr_IfExp(self, node):
        test = self.condition(node.test, "a conditional expression")
        if test.value is not None:
            taken, untaken = (node.body, node.orelse) if test.value else (node.orelse, node.body)
            other = self._lowered_aside(lambda: {"choice": self.expr(untaken)})
            value = self.expr(taken)
            if other is not None:
                _same_type_both_ways("the conditional expression", value, other["choice"])
            return value
        sides = []
        for side in (node.body, node.orelse):
            lines: list[str] = []
            with self.capture(lines):
                sides.append((lines, self.expr(side)))
        (body_lines, first), (else_lines, second) = sides
        value = self.joined("choice", first, second, body_lines, else_lines)
        self.indented(f"if {test.expr}:", body_lines)
        self.indented("else:", else_lines)
        return value

    def expr_Constant(self, node):
        return constant(node.value)

    def expr_Tuple(self, node):
        return tuple(self.expr(element) for element in node.elts)

    def expr_Attribute(self, node):
        module = self._module(node.value)
        if module is not None:
            return constant(getattr(module, node.attr, None))
        value = self.expr(node.value)
        if isinstance(value, Fields) and node.attr in value.names:
            return value[value.names.index(node.attr)]
        if not isinstance(value, Array):
            raise Unsupported(f"attribute {node.attr} of a scalar or container")
        if node.attr == "T":
            return transpose(stored(value))
        if node.attr == "shape":
            return tuple(constant(size) for size in value.shape)
        if node.attr in ("size", "ndim"):
            return constant(int(np.prod(value.shape)) if node.attr == "size"
                            else len(value.shape))
        raise Unsupported(f"attribute {node.attr}")

    def expr_Subscript(self, node):
        value = self.expr(node.value)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        keys = [self.key(item) for item in items]
        if isinstance(value, tuple):
            if len(keys) != 1:
                raise Unsupported("a tuple indexed by more than one key")
            return value[keys[0]]
        if not isinstance(value, Array):
            raise Unsupported("indexing a scalar")
        return self.index(stored(value), keys)

    def key(self, node):
        """A static int or slice."""
        if isinstance(node, ast.Slice):
            parts = [None if part is None else static_int(self.expr(part), "slice bound")
                     for part in (node.lower, node.upper, node.step)]
            if parts[2] == 0:
                raise Unsupported("slice step of zero")
            return slice(*parts)
        return static_int(self.expr(node), "index")

    def index(self, value: Array, keys: list):
        view, element_index = subscript(value, keys)
        if view is not None:
            return view
        return self.scalar(value.element(element_index), value.dtype)

    def expr_UnaryOp(self, node):
        if type(node.op) not in _UNARY:
            raise Unsupported("unary operator")
        operand = self.expr(node.operand)
        if operand_dtype(operand) == types.boolean:
            raise Unsupported("arithmetic on booleans")
        symbol, python_op = _UNARY[type(node.op)]
        return self.apply([operand], lambda e: f"({symbol}{e[0]})", python_op)

    def expr_BinOp(self, node):
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.MatMult):
            return self.matmul(left, right)
        if type(node.op) not in _BINARY:
            raise Unsupported("operator")
        symbol, python_op = _BINARY[type(node.op)]
        dtypes = (operand_dtype(left), operand_dtype(right))
        if types.boolean in dtypes and not (symbol in _LOGICAL and set(dtypes) == {types.boolean}):
            raise Unsupported("arithmetic on booleans")
        if symbol == "**" and _squares_alike(left, node.right):
            return self.apply([left, right], lambda e: f"({e[0]} * {e[0]})", python_op)
        return self.apply([left, right], lambda e: f"({e[0]} {symbol} {e[1]})", python_op,
                          costly=symbol == "**")

    def expr_Compare(self, node):
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise Unsupported("comparison")
        symbol, python_op = _COMPARE[type(node.ops[0])]
        operands = [self.expr(node.left), self.expr(node.comparators[0])]
        return self.apply(operands, lambda e: f"({e[0]} {symbol} {e[1]})", python_op)

    def expr_Call(self, node):
        if isinstance(node.func, ast.Attribute) and self._module(node.func.value) is math:
            return self.math_call(node)
        name = self._numpy_name(node.func)
        if isinstance(node.func, ast.Attribute) and name is None and \
                self._module(node.func.value) is None:
            method = node.func.attr
            if method not in METHODS:
                raise Unsupported(f"method {method}")
            receiver = ast.Call(ast.Name("np", ast.Load()), [node.func.value, *node.args],
                                node.keywords)
            return self.numpy_call(method, receiver)
        if self._is_builtin_call(node, "len") and len(node.args) == 1:
            value = self.expr(node.args[0])
            if isinstance(value, tuple):  # a tuple or list argument, or a shape
                return constant(len(value))
            if not isinstance(value, Array):
                raise Unsupported("len of a scalar")
            return constant(value.shape[0])
        if isinstance(node.func, ast.Name) and node.func.id in _SCALAR_BUILTINS \
                and self._is_builtin_call(node, node.func.id):
            return self.builtin(node)
        if name is not None:
            return self.numpy_call(name, node)
        raise Unsupported(f"call {ast.unparse(node.func)}")

    def builtin(self, node):
        if node.keywords:
            raise Unsupported("keyword arguments")
        args = [stored(self.expr(arg)) for arg in node.args]
        if any(not isinstance(arg, Scalar) for arg in args):
            raise Unsupported(f"{node.func.id} of an array (Numba has only np.{node.func.id})")
        function = _SCALAR_BUILTINS[node.func.id]
        return self.scalar(f"{node.func.id}({', '.join(arg.expr for arg in args)})",
                           typed(function, [arg.type for arg in args]))

    def math_call(self, node):
        """``math.<name>(...)`` of scalars: the same call, of the type Numba gives it."""
        name = node.func.attr
        if node.keywords:
            raise Unsupported("keyword arguments")
        args = [stored(self.expr(arg)) for arg in node.args]
        if any(not isinstance(arg, Scalar) for arg in args):
            raise Unsupported(f"math.{name} of an array")
        numba_type = typed(getattr(math, name, None), [arg.type for arg in args])
        if not isinstance(numba_type, (types.Number, types.Boolean)):
            raise Unsupported(f"math.{name} returning {numba_type}")
        return self.scalar(f"math.{name}({', '.join(arg.expr for arg in args)})", numba_type)

    def numpy_call(self, name: str, node):
        """``np.<name>(...)``: a ufunc, a conversion, or a rule of ``rules.RULES``."""
        if name in UFUNCS or name in CONVERSIONS:
            if node.keywords:
                raise Unsupported("keyword arguments")
            args = [self.expr(arg) for arg in node.args]
            if name in CONVERSIONS and not (len(args) == 1 and isinstance(args[0], Scalar)):
                raise Unsupported(f"np.{name} of an array")
            return self.apply(args, self.ufunc_call(name, args), getattr(np, name),
                              costly=name in TRANSCENDENTAL)
        if name not in RULES:
            raise Unsupported(f"call np.{name}")
        params, method, fixed = RULES[name]
        if len(node.args) > len(params):
            raise Unsupported(f"np.{name} with more arguments than fused")
        bound = dict(zip(params, node.args))
        for keyword in node.keywords:
            if keyword.arg not in params or keyword.arg in bound:
                raise Unsupported(f"np.{name} with keyword {keyword.arg}")
            bound[keyword.arg] = keyword.value
        missing = [param for param in params if param not in bound and param not in OPTIONAL]
        if missing:
            raise Unsupported(f"np.{name} without {', '.join(missing)}")
        values = [None if param not in bound else self.expr(bound[param]) for param in params]
        return getattr(self, method)(*fixed, *values)

    def ufunc_call(self, name: str, args):
        """How ``np.<name>`` of ``args`` combines their element expressions: for a
        float64 or float32 ``np.exp`` on the CPU, ``libm.exp`` or ``libm.expf``
        where ``libm.is_exact`` (the C library's bits, vectorisable, and faster
        than ``vecmath.exp``: under ``approximate`` too); else under
        ``approximate`` the vectorisable ``vecmath.<name>`` on a float64 or
        float32 element (computed in float64, stored back); else the same call."""
        element = scalar_type(args[0]) if len(args) == 1 else None
        floats = (types.float64, types.float32)
        exact = {types.float64: "exp", types.float32: "expf"}.get(element)
        if name == "exp" and exact and self.host and libm.is_exact(exact):
            return lambda e: f"libm.{exact}({e[0]})"
        if self.approximate and name in vecmath.__all__ and element in floats:
            return lambda e: cast(f"vecmath.{name}({e[0]})", types.float64, element)
        return lambda e: f"np.{name}({', '.join(e)})"

    def _module(self, node):
        """The module a name refers to (``np``, ``math``), or None."""
        if isinstance(node, ast.Name) and node.id not in self.env:
            value = self.lookup(node.id)
            if isinstance(value, pytypes.ModuleType):
                return value
        return None

    def _numpy_name(self, func) -> str | None:
        parts = []
        while isinstance(func, ast.Attribute):
            parts.insert(0, func.attr)
            func = func.value
        if (isinstance(func, ast.Name) and parts and func.id not in self.env
                and self.lookup(func.id) is np):
            return ".".join(parts)
        return None


def _bound(operand):
    """What the body sees of a parameter: an ``Array`` or ``Scalar`` for an
    ``Operand``, a tuple of those for a tuple of operands (a container), and
    ``Fields`` of those for ``Fields`` (a namedtuple)."""
    if isinstance(operand, Fields):
        return Fields(tuple(_bound(item) for item in operand), operand.names)
    if isinstance(operand, tuple):
        return tuple(_bound(item) for item in operand)
    if operand.shape:
        return Array(operand.shape, operand.dims, operand.dtype, operand.element,
                     view=operand.element([":"] * len(operand.shape)))
    return Scalar(operand.element(None), operand.dtype)


def _same_type_both_ways(name: str, taken, untaken) -> None:
    """Numba types both branches of a condition it does not know: where the one
    not taken would give ``name`` another type, Numba would unify them."""
    if taken is untaken or taken is _ONE_BRANCH or untaken is _ONE_BRANCH:
        return
    if getattr(stored(taken), "type", None) != getattr(stored(untaken), "type", None):
        raise Unsupported(f"`{name}` of another type in the branch not taken of a condition "
                          "known when compiling (Numba unifies them)")


def _returns(statements) -> bool:
    """True when ``statements`` contain a ``return`` at this level or in an if."""
    return any(isinstance(node, ast.Return) or isinstance(node, ast.If)
               and (_returns(node.body) or _returns(node.orelse)) for node in statements)


def _ends(statements) -> bool:
    """True when every path through ``statements`` ends in a ``return``."""
    if not statements:
        return False
    last = statements[-1]
    return isinstance(last, ast.Return) or isinstance(last, ast.If) and \
        _ends(last.body) and _ends(last.orelse)


def _falling(statements, rest) -> list:
    """A branch followed, when it does not return, by the statements after the if."""
    return list(statements) if _ends(statements) else list(statements) + list(rest)


def _squares_alike(base, exponent_node) -> bool:
    """True when ``base ** 2`` may be written ``base * base``: an integer 2 and the
    same type either way (Numba's integer power of a float multiplies)."""
    if not (isinstance(exponent_node, ast.Constant) and type(exponent_node.value) is int
            and exponent_node.value == 2):
        return False
    base_type = scalar_type(base)
    if isinstance(base_type, types.Complex):
        return False
    return typed(operator.mul, [base_type, base_type]) == typed(operator.pow,
                                                                [base_type, types.int64])

