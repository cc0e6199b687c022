"""The per-example function's source: its ``ast``, and rebuilding it after a rewrite.

``definition`` parses a function's own source (decorators dropped, line
numbers as in its file). ``rebuild`` compiles a rewritten definition into a
new function with the original's globals and closure values.
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
    """``py_func`` with its ``print`` / ``logging`` statements removed, or None without source."""
    node = definition(py_func)
    if node is None:
        return None
    namespace = dict(py_func.__globals__)
    cells = py_func.__closure__ or ()
    namespace.update(zip(py_func.__code__.co_freevars, (cell.cell_contents for cell in cells)))
    return rebuild(py_func, _DropSideEffects(namespace).visit(node))
