"""The package's modules import each other without a cycle, at module level or inside a
function (a lazy import is still an import running back up); imports for types only
(``if TYPE_CHECKING:``) do not count. Issue 22: every module one concept, none reaching
back into one that builds on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "packetnetworking"


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


class _Imports(ast.NodeVisitor):
    """The modules a module's source imports (``package``: the one it is in)."""

    def __init__(self, package: str, modules: dict[str, Path]) -> None:
        self.package, self.modules = package, modules
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            parts = self.package.split(".")
            base = parts[: len(parts) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            self.found.add(full if full in self.modules else module)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)


def graph(root: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (not under TYPE_CHECKING)."""
    modules = _modules(root)
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        visitor = _Imports(package, modules)
        visitor.visit(ast.parse(path.read_text()))
        edges[name] = {m for m in visitor.found if m in modules and m != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every module that can reach itself, with one path that does."""
    out = []
    for start in sorted(edges):
        seen, stack = {start}, [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    out.append([*path, start])
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return out


def test_no_import_cycle():
    assert cycles(graph(PACKAGE)) == []


def test_the_finder_sees_a_lazy_cycle(tmp_path: Path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from ..a import x\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
    )
    assert cycles(graph(pkg)) == [
        ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"],
        ["pkg.b", "pkg.sub.c", "pkg.a", "pkg.b"],
        ["pkg.sub.c", "pkg.a", "pkg.b", "pkg.sub.c"],
    ]
