"""What ``VmappedFunction`` needs for Dask, importing no Dask.

``has_dask_array`` tells a call with a Dask array from any other; it reads
``sys.modules``, since no Dask array can exist before ``dask.array`` is
imported. ``reduce`` and ``token`` let a ``VmappedFunction`` travel to Dask's
workers: it pickles as its Python function plus its options (closures by
value with cloudpickle, as Dask pickles tasks), and its token is a hash of
what it computes. ``rebuild`` keeps one function per token in each process,
so that every task a worker runs shares one trace and one compile.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from dataclasses import asdict

from ..trees import flatten

#: Functions rebuilt from pickles in this process, by token.
_REBUILT: dict = {}
_MAX_REBUILT = 64
_REBUILT_LOCK = threading.Lock()


def has_dask_array(args: tuple, kwargs: dict) -> bool:
    """True when a leaf of the arguments is a ``dask.array.Array``."""
    module = sys.modules.get("dask.array")
    if module is None:
        return False
    leaves, _ = flatten((args, tuple(kwargs.values())))
    return any(isinstance(leaf, module.Array) for leaf in leaves)


def options(vmapped) -> dict:
    """The keyword arguments that rebuild ``vmapped`` from its ``py_func``."""
    return dict(in_axes=vmapped.in_axes, out_axes=vmapped.out_axes,
                axis_size=vmapped.axis_size, **asdict(vmapped.options))


def token(vmapped) -> str:
    """A deterministic hash of what ``vmapped`` computes: the innermost function's
    fingerprint (code, closure values, globals) and every level's options."""
    levels = " ".join(repr(sorted(options(level).items())) for level in vmapped.chain)
    return hashlib.sha256(f"{vmapped.fingerprint} {levels}".encode()).hexdigest()


def reduce(vmapped) -> tuple:
    """``__reduce__`` of a ``VmappedFunction``: its class, token, function and options."""
    return rebuild, (type(vmapped), token(vmapped), vmapped.py_func, options(vmapped))


def rebuild(cls, key: str, py_func, kwargs: dict):
    """This process's function for ``key``, made from ``py_func`` the first time."""
    with _REBUILT_LOCK:
        vmapped = _REBUILT.get(key)
        if vmapped is None:
            if len(_REBUILT) >= _MAX_REBUILT:
                _REBUILT.clear()
            vmapped = _REBUILT[key] = cls(py_func, **kwargs)
        return vmapped


def rebuilt_cache_info() -> dict:
    """``{name: cache_info()}`` of the functions this process rebuilt from pickles
    (run it on Dask workers, e.g. ``client.run(rebuilt_cache_info)``)."""
    with _REBUILT_LOCK:
        return {f"{vmapped.__name__}-{key[:8]}": tuple(vmapped.cache_info())
                for key, vmapped in _REBUILT.items()}
