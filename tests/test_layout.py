"""The layout holds: imports run one way (harness -> methods -> shared base and features),
no import circle, no module over 500 lines, no two modules of one name, and every
package says what it holds in one line."""

from __future__ import annotations

import ast

from import_graph import ROOT, import_graph, imported_modules, project_modules

MAX_LINES = 500


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def arrows(source: str, target: str) -> list[tuple[str, str]]:
    """(importer, imported) for every import from a module under ``source`` to one under
    ``target``."""
    return sorted((a, b) for a, imported in import_graph().items() if in_package(a, source)
                  for b in imported if in_package(b, target))


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and modules
    that import themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                component.append(item)
                if item == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle() -> None:
    # Package __init__ files are empty, so a module importing its own package is no circle.
    graph = {a: {b for b in imported if not in_package(a, b)}
             for a, imported in import_graph().items()}
    assert circles(graph) == []


def test_the_circle_finder_finds_circles() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"a"}}) == [["a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_nothing_below_the_harness_imports_it() -> None:
    assert arrows("methods", "benchmark") == []
    assert arrows("features", "benchmark") == []
    assert arrows("features", "methods") == []


def test_the_shared_base_imports_no_method() -> None:
    above = [(a, b) for a, b in arrows("methods.core", "methods")
             if not in_package(b, "methods.core")]
    assert above == []


def test_the_harness_reaches_methods_through_the_registry_and_the_api_only() -> None:
    """The harness imports the shared base (whose registry names every method) and the
    public API; never a method family's modules."""
    stray = [(a, b) for a, b in arrows("benchmark", "methods")
             if not (in_package(b, "methods.core") or b == "methods.api")]
    assert stray == []


HARNESS_FLOORS = ("benchmark.reports", "benchmark.runs", "benchmark.datasets",
                  "benchmark.evaluation")  # top to bottom: a floor imports only floors below


def test_the_harness_floors_import_downwards_only() -> None:
    upward = [(a, b) for low, floor in enumerate(HARNESS_FLOORS)
              for high in HARNESS_FLOORS[:low] for a, b in arrows(floor, high)]
    assert upward == []


def test_method_families_do_not_import_each_other_sideways() -> None:
    """handcrafted and deep are independent families; teacher-student methods build on
    deep networks (through the API, or directly), never the other way round."""
    assert arrows("methods.handcrafted", "methods.deep") == []
    assert arrows("methods.deep", "methods.handcrafted") == []
    assert arrows("methods.deep", "methods.teacher_student") == []
    assert arrows("methods.handcrafted", "methods.teacher_student") == []


def test_the_import_reader_resolves_what_it_must() -> None:
    source = ("from methods import api\nfrom methods.core.errors import ConfigError\n"
              "def f():\n    import benchmark.runs.runner\n    from . import twins\n")
    assert imported_modules(source, "methods.core.context") == {
        "methods.api", "methods.core.errors", "benchmark.runs.runner", "methods.core.twins"}


def test_no_module_is_over_500_lines() -> None:
    long = {name: n for name, path in project_modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_two_modules_share_a_name() -> None:
    seen: dict[str, list[str]] = {}
    for name, path in project_modules().items():
        if path.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(path.stem, []).append(name)
    assert {stem: names for stem, names in seen.items() if len(names) > 1} == {}


def test_every_package_says_what_it_holds_in_one_line() -> None:
    for path in project_modules().values():
        if path.name != "__init__.py" or path.parent.name in ("data", "profiles"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert doc and "\n" not in doc.strip(), f"{path.relative_to(ROOT)}: {doc!r}"
