"""Layering: the engine clients in `relaychat/backends/` never import the relay core (issue 11)."""

from __future__ import annotations

import ast
from pathlib import Path

BACKENDS = Path(__file__).resolve().parents[2] / "relaychat" / "backends"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_backends_never_import_the_core() -> None:
    files = sorted(BACKENDS.glob("*.py"))
    assert files
    offenders = {
        f.name: sorted(n for n in _imports(f) if n == "relaychat.core" or n.startswith("relaychat.core."))
        for f in files
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}
