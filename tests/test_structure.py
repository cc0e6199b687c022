"""The package's rooms import downwards only, without cycles (read from the AST).

``ROOMS`` lists the pipeline's rooms from the bottom up (see
docs/architecture.md); a subpackage is one room. Every module must be in a
room, so a new module is placed on purpose.
"""

import ast
import importlib.util
import re
from pathlib import Path

import numbavmap

PACKAGE = Path(numbavmap.__file__).parent

ROOMS = [
    # foundations: trees, axis specs, messages, options, source and Numba typing, the cache
    {"trees", "specs", "errors", "options", "source", "numba_typing", "loader", "fingerprint",
     "cache"},
    # the front end: bind a call, the per-example function, the Python trace
    {"calls", "example_function", "trace"},
    # the kernel IR and lowering a body into fused loops
    {"ir", "fuse", "lower"},
    # describe: one specialization's kernel description
    {"specialize"},
    # execute: allocate, launch, check, restack; the hot call's fast path
    {"execute", "hot_call"},
    # the targets that print, compile and launch a description
    {"targets"},
    # the public entry points
    {"api", "testing", "__main__", "__init__"},
]


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name relative to it (``targets.cpu``)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        names[".".join(parts)] = path
    return names


def internal_imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules that module ``name`` imports (module level or in functions)."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    if name == "__init__":
        package = []
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
        stem = base + (node.module.split(".") if node.module else [])
        for alias in node.names:
            candidate = ".".join(stem + [alias.name])
            target = candidate if candidate in modules else ".".join(stem)
            if target in modules and target != name:
                imported.add(target)
    return imported


def room(module: str) -> int:
    top = module.split(".")[0]
    for level, names in enumerate(ROOMS):
        if module in names or top in names:
            return level
    raise AssertionError(f"numbavmap.{module} is in no room: add it to ROOMS")


GRAPH = {name: internal_imports(name, path, set(module_names()))
         for name, path in module_names().items()}


def test_every_module_has_a_room_and_imports_only_rooms_below_or_its_own():
    upward = [f"{module} (room {room(module)}) imports {other} (room {room(other)})"
              for module, imports in GRAPH.items() for other in imports
              if room(other) > room(module)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = dict(GRAPH, __init__=set())  # the public names, imported by nothing inside

    def reaches(start, goal, seen):
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(module for module in graph if reaches(module, module, {module}))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_the_import_reader_sees_package_relative_imports():
    assert {"ir", "loader", "options"} <= GRAPH["targets.cpu"]
    assert {"specialize", "targets.cpu"} <= GRAPH["targets.cpu_jit"]


def test_the_pipeline_picture_names_existing_modules():
    spec = importlib.util.spec_from_file_location(
        "pipeline_diagram", PACKAGE.parent / "docs" / "_data" / "pipeline_diagram.py")
    diagram = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(diagram)
    text = " ".join(str(part) for row in diagram.STEPS + diagram.SIDE for part in row)
    named = set(re.findall(r"([\w/]+)\.py", text))
    missing = sorted(name for name in named if not (PACKAGE / f"{name}.py").exists())
    assert named and not missing, f"docs/_data/pipeline_diagram.py names missing modules: {missing}"
