"""A hash of what a per-example function computes: the on-disk key of ``cache=True``.

``function_fingerprint`` hashes the function's code (bytecode, constants,
names, defaults), its closure values, and every global its code names:
``@njit`` helpers and plain functions recursively (their code, closures and
globals); numbers, strings, tuples, lists and dicts by value; NumPy arrays and
scalars by dtype, shape and bytes; and, for a module of the user's code, the
attributes the code names (``config.SCALE``, ``helpers.scale``). Functions and
modules of NumPy, Numba and the standard library are named, not read: the
versions of Python, NumPy, Numba and numbavmap stand for them. Any other
object counts by its type and ``repr`` (one whose ``repr`` shows its address
gets new kernels in every process). Comments and line numbers are not part of
the hash.
"""

from __future__ import annotations

import hashlib
import sys
import types

import numba
import numpy as np
from numba.core.dispatcher import Dispatcher

from . import __version__

#: Top-level packages whose functions and modules are hashed by name only.
_LIBRARIES = frozenset({"numpy", "numba", "llvmlite", "numbavmap"}) | sys.stdlib_module_names

_SCALARS = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis))


def function_fingerprint(py_func) -> str:
    """The sha256 hex digest of ``py_func``'s code, closure values and the globals it uses."""
    hasher = _Hasher()
    hasher.add(sys.version, np.__version__, numba.__version__, __version__)
    hasher.function(py_func)
    return hasher.sha.hexdigest()


def _is_library(module_name) -> bool:
    return (module_name or "").partition(".")[0] in _LIBRARIES


def _code_names(code: types.CodeType) -> list[str]:
    """The global and attribute names ``code`` and the code nested in it use, in order."""
    names = dict.fromkeys(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(dict.fromkeys(_code_names(const)))
    return list(names)


class _Hasher:
    """Feeds functions and values into one sha256, each function and module once."""

    def __init__(self):
        self.sha = hashlib.sha256()
        self.seen: set[int] = set()

    def add(self, *parts):
        for part in parts:
            self.sha.update(part if isinstance(part, bytes) else repr(part).encode())
            self.sha.update(b"\0")

    def first_visit(self, value) -> bool:
        new = id(value) not in self.seen
        self.seen.add(id(value))
        return new

    def function(self, func):
        self.add("function", func.__module__, func.__qualname__)
        if not self.first_visit(func):
            return
        self.code(func.__code__)
        self.value(func.__defaults__)
        self.value(func.__kwdefaults__)
        for cell in func.__closure__ or ():
            try:
                self.value(cell.cell_contents)
            except ValueError:  # an empty cell
                self.add("empty cell")
        names = _code_names(func.__code__)
        for name in names:
            if name in func.__globals__:
                self.add("global", name)
                self.value(func.__globals__[name], names)

    def code(self, code: types.CodeType):
        self.add(code.co_code, code.co_names, code.co_varnames, code.co_freevars,
                 code.co_argcount, code.co_kwonlyargcount, code.co_flags)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self.value(const)

    def value(self, value, names=()):
        """Hash ``value``; ``names`` are the attribute names the code reads from modules."""
        kind = type(value)
        self.add(kind.__module__, kind.__qualname__)
        if isinstance(value, _SCALARS):
            self.add(value)
        elif isinstance(value, Dispatcher):
            self.add(sorted(value.targetoptions.items()))
            self.function(value.py_func)
        elif isinstance(value, types.FunctionType):
            if _is_library(value.__module__):
                self.add(value.__module__, value.__qualname__)
            else:
                self.function(value)
        elif isinstance(value, types.ModuleType):
            self.module(value, names)
        elif isinstance(value, (tuple, list)):
            for item in value:
                self.value(item, names)
        elif isinstance(value, dict):
            for item in value.items():
                self.value(item, names)
        elif isinstance(value, (set, frozenset)):
            self.add(sorted(map(repr, value)))
        elif isinstance(value, (np.ndarray, np.generic)):
            self.add(value.dtype.str, np.shape(value), np.ascontiguousarray(value).tobytes())
        elif isinstance(value, type):
            self.add(value.__module__, value.__qualname__)
        else:
            self.add(repr(value))
            if hasattr(value, "py_func"):  # a VmappedFunction
                self.value(value.py_func, names)

    def module(self, module: types.ModuleType, names):
        self.add(module.__name__)
        if _is_library(module.__name__) or not self.first_visit(module):
            return
        attributes = vars(module)
        for name in names:
            if name in attributes:
                self.add("attribute", name)
                self.value(attributes[name], names)
