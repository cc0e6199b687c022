"""Specializations on disk, for ``cache=True``: a warm process neither traces nor types.

A specialization (output structure, shapes, dtypes, axes and the kernel's
description) is what the trace and Numba's typing produce for one key. With
``cache=True`` it is stored next to the kernel modules (``loader.cache_folder``)
under a name that hashes everything it depends on: the per-example function's
fingerprint (code, closure values, globals, helpers, compile options), the
specialization key, every nesting level's axes, the versions of
numbavmap, Numba and NumPy, and the libraries whose bits fused code
reproduces once a probe finds it does (``numbavmap.lower.libm``,
``numbavmap.lower.linalg``): the C library's and SciPy's version, which
ships the LAPACK Numba calls. A new process finds it there, loads the
kernel module, and Numba loads the compiled kernel from its own cache.

Files are written whole (a temporary file renamed into place); a file that
cannot be read is ignored and rebuilt. Specializations that involve
namedtuple classes stay in memory: a class is not part of the fingerprint.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import pickle
import platform
import tempfile
from pathlib import Path

import numba
import numpy as np

from . import __version__
from .loader import cache_folder
from .trees import TreeDef


@functools.cache
def probed_libraries() -> tuple:
    """What fused ``np.exp`` and ``np.linalg.solve`` were checked against: the C
    library and SciPy's version (None without SciPy)."""
    try:
        scipy = importlib.metadata.version("scipy")
    except importlib.metadata.PackageNotFoundError:
        scipy = None
    return platform.libc_ver(), scipy


def spec_path(fingerprint: str, key: tuple, levels: list[tuple]) -> Path:
    """The file of the specialization for ``key`` (``levels``: each nesting level's
    ``(in_axes, out_axes)`` specs, outermost first)."""
    text = repr((fingerprint, key, levels, __version__, numba.__version__, np.__version__,
                 probed_libraries()))
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return cache_folder() / f"numbavmap_spec_{digest}.pickle"


def storable(key: tuple, out_tree: TreeDef) -> bool:
    """Whether a specialization can be stored: no namedtuple classes in or out."""
    return "namedtuple" not in repr(key) and not _has_namedtuple(out_tree)


def load(path: Path):
    """The stored value at ``path``, or None if there is none or it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except Exception:  # noqa: BLE001 - a missing, partial or stale file is rebuilt
        return None


def store(path: Path, value) -> None:
    """Write ``value`` to ``path`` whole; failing to write only costs the next process time."""
    with contextlib.suppress(OSError, pickle.PicklingError, AttributeError, TypeError):
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _has_namedtuple(tree: TreeDef) -> bool:
    return tree.kind == "namedtuple" or any(_has_namedtuple(child) for child in tree.children)
