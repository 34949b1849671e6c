"""Production code (the relengotron package, the DAGs, the plugins) imports nothing of the sandbox's
distribution: it runs in the image, where relengotron_sandbox is not installed."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """The modules a Python file imports, at any depth (a function's own imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_production_code_imports_nothing_of_the_sandbox() -> None:
    files = [p for top in ("relengotron", "dags", "plugins") for p in sorted((REPO / top).rglob("*.py"))]
    assert len(files) > 50
    offending = {
        str(path.relative_to(REPO)): sorted(m for m in imported(path) if m.split(".")[0] == "relengotron_sandbox")
        for path in files
    }
    assert {path: modules for path, modules in offending.items() if modules} == {}
