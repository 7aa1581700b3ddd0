"""The project's import statements, read from source: what each module imports of ours."""

from __future__ import annotations

import ast
from pathlib import Path

OURS = ("benchmark", "methods", "features")
ROOT = Path(__file__).resolve().parents[1]


def imported_modules(source: str, module: str = "") -> set[str]:
    """Every module an ``import`` or ``from ... import`` of ``source`` names, at any depth
    (inside functions and ``if TYPE_CHECKING:`` blocks too). A ``from`` names the imported
    module where one is imported (``from methods import api`` gives ``methods.api``), else
    the module imported from; a relative import is resolved against ``module`` (a
    plugin's own modules give ``.``-names outside ours)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.rsplit(".", node.level)[0] if module else "."
                base = f"{package}.{base}" if base else package
            submodules = {f"{base}.{alias.name}" for alias in node.names}
            known = {name for name in submodules if module_path(name) is not None}
            found |= known or {base}
    return found


def module_path(name: str) -> Path | None:
    """The file of module ``name`` of ours, ``None`` for another package's."""
    if name.split(".")[0] not in OURS:
        return None
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def project_modules() -> dict[str, Path]:
    """Every module of ``benchmark``, ``methods`` and ``features`` by dotted name."""
    found = {}
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (package ``__init__`` files included)."""
    modules = project_modules()
    return {name: {m for m in imported_modules(path.read_text(), name) if m in modules}
            for name, path in modules.items()}
