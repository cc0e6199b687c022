"""The per-example function's source: its ``ast``, and rebuilding it after a rewrite.

``definition`` parses a function's own source (decorators dropped, line
numbers as in its file); a lambda becomes a ``def`` returning its
expression, found in its file by where its code's instructions are.
``rebuild`` compiles a rewritten definition into a new function with the
original's globals and closure values.
``without_side_effects`` is the rewrite the kernel needs: ``print`` and
``logging`` calls removed, since they belong to the trace, not to every
example.
"""

from __future__ import annotations

import ast
import inspect
import logging
import textwrap


def definition(py_func) -> ast.FunctionDef | None:
    """``py_func``'s ``def`` statement as an ``ast`` node, or None without source."""
    if py_func.__name__ == "<lambda>":
        return _lambda_definition(py_func)
    try:
        lines, first = inspect.getsourcelines(py_func)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    if not tree.body or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    node = tree.body[0]
    if node.name != py_func.__name__:
        return None
    ast.increment_lineno(tree, first - 1)
    node.decorator_list = []
    return node


def _lambda_definition(py_func) -> ast.FunctionDef | None:
    """A lambda as ``def <lambda>(args): return body``, or None without source.

    Several lambdas may share a line: the one meant is the innermost whose
    body spans every source position of the code's instructions.
    """
    code = py_func.__code__
    spans = [(line, column, end_line, end_column)
             for line, end_line, column, end_column in code.co_positions()
             if line is not None and column is not None
             and (line, column) != (end_line, end_column)]
    try:
        lines, _ = inspect.findsource(py_func)
        tree = ast.parse("".join(lines))
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    if not spans:
        return None
    start = min((line, column) for line, column, _, _ in spans)
    end = max((end_line, end_column) for _, _, end_line, end_column in spans)
    parameters = list(code.co_varnames[:code.co_argcount])
    candidates = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)
                  and (node.body.lineno, node.body.col_offset) <= start
                  and end <= (node.body.end_lineno, node.body.end_col_offset)
                  and [arg.arg for arg in node.args.args] == parameters]
    if not candidates:
        return None
    node = max(candidates, key=lambda lam: (lam.body.lineno, lam.body.col_offset))
    if not _compiles_like(node, code):
        return None  # the file changed since the lambda was defined
    function = ast.FunctionDef(name=py_func.__name__, args=node.args,
                               body=[ast.copy_location(ast.Return(node.body), node.body)],
                               decorator_list=[], returns=None, type_comment=None)
    return ast.copy_location(function, node)


def _compiles_like(node: ast.Lambda, code) -> bool:
    """Whether ``node`` compiles to code of ``code``'s names and constants
    (compiled alone, its closure variables are globals)."""
    compiled = compile(ast.Expression(node), code.co_filename, "eval")
    (alone,) = [const for const in compiled.co_consts if hasattr(const, "co_code")]

    def constants(function_code):
        return [const for const in function_code.co_consts if not hasattr(const, "co_code")]

    return (set(alone.co_names) == set(code.co_names) | set(code.co_freevars)
            and constants(alone) == constants(code))


def rebuild(py_func, node: ast.FunctionDef):
    """Compile ``node`` into a function sharing ``py_func``'s globals, closure and defaults."""
    free = py_func.__code__.co_freevars
    factory = ast.FunctionDef(
        name="_numbavmap_factory",
        args=ast.arguments(posonlyargs=[], args=[ast.arg(name) for name in free],
                           kwonlyargs=[], kw_defaults=[], defaults=[]),
        body=[node, ast.Return(ast.Name(node.name, ast.Load()))],
        decorator_list=[],
    )
    module = ast.fix_missing_locations(ast.Module(body=[factory], type_ignores=[]))
    namespace = dict(py_func.__globals__)
    exec(compile(module, py_func.__code__.co_filename, "exec"), namespace)
    cells = [cell.cell_contents for cell in py_func.__closure__ or ()]
    function = namespace["_numbavmap_factory"](*cells)
    function.__defaults__ = py_func.__defaults__
    function.__kwdefaults__ = py_func.__kwdefaults__
    return function


class _DropSideEffects(ast.NodeTransformer):
    def __init__(self, namespace: dict):
        self.namespace = namespace

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Call) and self._side_effect(node.value.func):
            return ast.copy_location(ast.Pass(), node)
        return node

    def _side_effect(self, func) -> bool:
        if isinstance(func, ast.Name):
            return func.id == "print" and "print" not in self.namespace
        root = func
        while isinstance(root, (ast.Attribute, ast.Call)):
            root = root.value if isinstance(root, ast.Attribute) else root.func
        if root is func or not isinstance(root, ast.Name):
            return False
        owner = self.namespace.get(root.id)
        return owner is logging or isinstance(owner, logging.Logger)


def without_side_effects(py_func):
    """``py_func`` with its ``print`` / ``logging`` statements removed, or None
    without source or statements (a lambda)."""
    node = None if py_func.__name__ == "<lambda>" else definition(py_func)
    if node is None:
        return None
    namespace = dict(py_func.__globals__)
    cells = py_func.__closure__ or ()
    namespace.update(zip(py_func.__code__.co_freevars, (cell.cell_contents for cell in cells)))
    return rebuild(py_func, _DropSideEffects(namespace).visit(node))
