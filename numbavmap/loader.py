"""Turn generated kernel source into a module of Numba dispatchers.

Without ``cache=True`` the source is executed in memory (and registered with
``linecache`` so tracebacks and ``inspect`` show it). With ``cache=True`` it is
written once to a file in the cache folder and imported under a module name
made from the source and the per-example function's fingerprint (see
``numbavmap.fingerprint``), because Numba's on-disk cache needs a real source
file whose modification time does not change, and finds its compiled code
again by file in the next process. Callees (the per-example function,
namedtuple classes) are module globals set before the module body runs; every
load makes a new module, so two functions never share one's globals.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import linecache
import os
import sys
import tempfile
import types
from pathlib import Path

import numba


def cache_folder() -> Path:
    """Where ``cache=True`` kernel modules live.

    ``$NUMBA_CACHE_DIR/numbavmap`` when Numba's cache directory is set,
    otherwise ``$XDG_CACHE_HOME/numbavmap`` (``~/.cache/numbavmap``).
    """
    if numba.config.CACHE_DIR:
        return Path(numba.config.CACHE_DIR) / "numbavmap"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "numbavmap"


def module_name(source: str, fingerprint: str) -> str:
    """A stable, importable module name for a kernel source and its callees."""
    digest = hashlib.sha256((source + "\0" + fingerprint).encode()).hexdigest()[:20]
    return f"numbavmap_kernel_{digest}"


def load_module(source: str, namespace: dict, fingerprint: str | None):
    """Execute ``source`` as a new module whose globals start as ``namespace``.

    With a ``fingerprint`` (``cache=True``) the module is a file in
    :func:`cache_folder`; with None it lives in memory.
    """
    if fingerprint is not None:
        return _load_from_file(module_name(source, fingerprint), source, namespace)
    name = module_name(source, "")
    filename = f"<numbavmap kernel {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__dict__.update(namespace)
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def _load_from_file(name: str, source: str, namespace: dict):
    path = cache_folder() / f"{name}.py"
    _write_once(path, source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(namespace)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _write_once(path: Path, source: str):
    """Create ``path`` holding ``source`` unless it exists; no reader sees a partial file.

    The file appears whole (a hard link to a finished temporary file), and the
    first process's file stays: its modification time is the stamp Numba's
    cache index records. The name encodes the contents, so any copy is right.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(source)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: replacing is atomic too
        os.replace(temporary, path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
