"""The package's modules import each other without cycles (read from the AST)."""

import ast
from pathlib import Path

import numbavmap

PACKAGE = Path(numbavmap.__file__).parent


def internal_imports(path: Path) -> set[str]:
    """The numbavmap modules that ``path`` imports at module level or inside functions."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [alias.name for alias in node.names]
            imported.update(name.split(".")[0] for name in names)
    return imported & {module.stem for module in PACKAGE.glob("*.py")}


def test_no_import_cycles():
    graph = {path.stem: internal_imports(path) for path in PACKAGE.glob("*.py")}
    graph["__init__"] = set()  # the package's public names, imported by nothing inside

    def reaches(start, goal, seen):
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(module for module in graph if reaches(module, module, {module}))
    assert not cycles, f"modules on an import cycle: {cycles}"
