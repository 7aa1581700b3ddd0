"""A fingerprint of the code an object runs, so that editing it makes its results stale.

The fingerprint of a class or function is a hash over the source of every definition it
can reach: its own, the functions, classes and module-level constants its body names,
and theirs in turn, within the project's packages (``benchmark``, ``methods``,
``features``) and the root package of the object itself (a plugin's). Each definition
is normalised through its syntax tree (``ast.unparse`` with docstrings removed), so
comments, docstrings and formatting do not count. Names are resolved statically, module
by module (a ``from x import y`` inside a function counts as well), so a registry filled
at run time contributes its literal (``{}``), never its contents.

What a fingerprint cannot see: code reached only through a value computed at run time
(``getattr(module, name)``), data files, and third-party packages (their versions are in
a record's provenance). A class sets ``version`` for what it must invalidate by hand.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

PROJECT_PACKAGES = ("benchmark", "methods", "features")

Node = tuple[str, str]  # (module, top-level name)


@dataclass(frozen=True)
class _Module:
    """One module's top-level bindings: name -> statement, and its imports."""

    bindings: dict[str, ast.stmt]
    imports: dict[str, tuple[str, str | None]]  # alias -> (module, name or None for a module)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(
                    body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _import_targets(node: ast.AST, module: str) -> dict[str, tuple[str, str | None]]:
    """alias -> (module, name) of the imports in ``node`` (relative ones resolved)."""
    found: dict[str, tuple[str, str | None]] = {}
    for item in ast.walk(node):
        if isinstance(item, ast.Import):
            for alias in item.names:
                if alias.asname:
                    found[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    found[top] = (top, None)
        elif isinstance(item, ast.ImportFrom):
            source = item.module or ""
            if item.level:
                base = module.rsplit(".", item.level)[0]
                source = f"{base}.{source}" if source else base
            for alias in item.names:
                found[alias.asname or alias.name] = (source, alias.name)
    return found


@functools.cache
def _module(name: str) -> _Module | None:
    """The parsed top level of module ``name``; ``None`` when it has no readable source."""
    try:
        module = sys.modules.get(name) or importlib.import_module(name)
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            return None
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    bindings: dict[str, ast.stmt] = {}

    def bind(statements: Iterable[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bindings[statement.name] = statement
            elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = (statement.targets if isinstance(statement, ast.Assign)
                           else [statement.target])
                for target in targets:
                    for item in ast.walk(target):
                        if isinstance(item, ast.Name):
                            bindings[item.id] = statement
            elif isinstance(statement, (ast.If, ast.Try)):
                bind(statement.body)
                bind(getattr(statement, "orelse", []))

    bind(tree.body)
    top_imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom, ast.If,
                                                          ast.Try))]
    imports: dict[str, tuple[str, str | None]] = {}
    for statement in top_imports:
        imports.update(_import_targets(statement, name))
    return _Module(bindings, imports)


@functools.cache
def _definition(node: Node) -> tuple[str, tuple[tuple[str, ...], ...],
                                     dict[str, tuple[str, str | None]]]:
    """(normalised text, referenced name chains, local imports) of one top-level binding."""
    module = _module(node[0])
    statement = module.bindings[node[1]]
    tree = _strip_docstrings(ast.parse(ast.unparse(statement)))
    text = ast.unparse(tree)
    chains: set[tuple[str, ...]] = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Attribute):
            parts: list[str] = [item.attr]
            base: ast.AST = item.value
            while isinstance(base, ast.Attribute):
                parts.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name):
                chains.add((base.id, *reversed(parts)))
        elif isinstance(item, ast.Name):
            chains.add((item.id,))
    return text, tuple(sorted(chains)), _import_targets(tree, node[0])


def _tracked(module: str, roots: frozenset[str]) -> bool:
    return module.split(".")[0] in roots


def _resolve(module: str, chain: tuple[str, ...], local: dict[str, tuple[str, str | None]],
             roots: frozenset[str], depth: int = 0) -> Node | None:
    """The top-level binding a name chain used in ``module`` refers to, if tracked."""
    if depth > 20 or not _tracked(module, roots):
        return None
    parsed = _module(module)
    if parsed is None:
        return None
    head, rest = chain[0], chain[1:]
    if head in local:
        target = local[head]
    elif head in parsed.bindings:
        return (module, head)
    elif head in parsed.imports:
        target = parsed.imports[head]
    else:
        return None
    source, name = target
    if name is not None:
        submodule = f"{source}.{name}"
        if _tracked(submodule, roots) and _module(submodule) is not None:
            return _resolve(submodule, rest, {}, roots, depth + 1) if rest else None
        return _resolve(source, (name, *rest), {}, roots, depth + 1)
    for index in range(len(rest), -1, -1):  # longest module prefix of the chain
        candidate = ".".join((source, *rest[:index]))
        if index and _module(candidate) is None:
            continue
        remaining = rest[index:]
        return _resolve(candidate, remaining, {}, roots, depth + 1) if remaining else None
    return None


def _root_node(obj: Any) -> Node | None:
    """The top-level binding that defines ``obj`` (a function or class)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", "")
    parsed = _module(module) if module else None
    if parsed is None:
        return None
    top = qualname.split(".<locals>")[0].split(".")[0]
    if top in parsed.bindings:
        return (module, top)
    namespace = vars(sys.modules[module])
    for name, value in namespace.items():  # bound under another name or in a container
        values = value.values() if isinstance(value, dict) else (
            value if isinstance(value, (tuple, list)) else (value,))
        if name in parsed.bindings and any(v is obj for v in values):
            return (module, name)
    return None


def reachable(objects: Iterable[Any], skip: Callable[[Any], bool] = lambda obj: False
              ) -> dict[Node, str]:
    """Every definition the ``objects`` reach (see the module docstring), with its text.

    ``skip(value)`` leaves out a definition whose value it accepts (the harness skips
    other registered methods: their code runs in their own tasks).
    """
    objects = list(objects)
    roots = frozenset(PROJECT_PACKAGES) | {
        str(getattr(o, "__module__", "")).split(".")[0] for o in objects}
    queue: list[Node] = []
    texts: dict[Node, str] = {}
    for obj in objects:
        node = _root_node(obj)
        if node is None:
            module = sys.modules.get(getattr(obj, "__module__", ""), None)
            texts[(getattr(obj, "__module__", "?"), "<module>")] = _module_text(module)
            continue
        queue.append(node)
    while queue:
        node = queue.pop()
        if node in texts:
            continue
        text, chains, local_imports = _definition(node)
        texts[node] = text
        for chain in chains:
            found = _resolve(node[0], chain, local_imports, roots)
            if found is None or found in texts:
                continue
            value = getattr(sys.modules.get(found[0]), found[1], None)
            if value is not None and skip(value):
                continue
            queue.append(found)
    return texts


def _module_text(module: Any) -> str:
    try:
        with open(module.__file__, encoding="utf-8") as handle:
            return ast.unparse(_strip_docstrings(ast.parse(handle.read())))
    except (AttributeError, OSError, SyntaxError, TypeError):
        return repr(module)


def code_digest(*objects: Any, skip: Callable[[Any], bool] = lambda obj: False) -> str:
    """A short hash of the code ``objects`` run (see the module docstring)."""
    digest = hashlib.sha256()
    for (module, name), text in sorted(reachable(objects, skip).items()):
        digest.update(f"{module}:{name}\n{text}\n".encode())
    for obj in objects:
        digest.update(repr(getattr(obj, "version", "")).encode())
    return digest.hexdigest()[:16]
