"""Turn generated kernel source into a module of Numba dispatchers.

Without ``cache=True`` the source is executed in memory (and registered with
``linecache`` so tracebacks and ``inspect`` show it). With ``cache=True`` it is
written once to a file in the cache folder and imported under a stable module
name, because Numba's on-disk cache needs a real source file whose
modification time does not change, and re-imports it by name in the next
process. Callees (the per-example function, namedtuple classes) are module
globals set before the module body runs.
"""

from __future__ import annotations

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


def load_module(source: str, namespace: dict, fingerprint: str, on_disk: bool):
    """Execute ``source`` as a module whose globals start as ``namespace``."""
    name = module_name(source, fingerprint)
    if name in sys.modules:
        return sys.modules[name]
    if on_disk:
        return _load_from_file(name, source, namespace)
    filename = f"<numbavmap kernel {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__dict__.update(namespace)
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def _load_from_file(name: str, source: str, namespace: dict):
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if not path.exists():
        descriptor, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(descriptor, "w") as handle:
            handle.write(source)
        os.replace(temporary, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(namespace)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
