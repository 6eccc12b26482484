"""The house rules of the code, checked on the source itself: rooms, import direction, no circles, small pieces,
names that say one thing (DESIGN.md "The rooms"; STYLE.md "ganlab as it stands")."""

from __future__ import annotations

import ast
import builtins
from collections import defaultdict
from pathlib import Path

import pytest

from pipeline.common.imports import imported_names
from tests.conftest import PROJECT

ROOMS = ("models", "analysis", "pipeline")
MAX_FILE_LINES, MAX_FUNCTION_LINES = 350, 50


def _modules() -> dict[str, Path]:
    found = {}
    for room in ROOMS:
        for path in sorted((PROJECT / room).rglob("*.py")):
            parts = path.relative_to(PROJECT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


#: Every project module → the project modules it imports, at any depth of its file (function-level imports count).
GRAPH = {module: (imported_names(path) & set(MODULES)) - {module} for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def _package(module: str) -> str:
    """``pipeline.training.loop`` → ``pipeline.training``; top-level modules (``pipeline.cli``) stand alone."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_module_imports_itself_in_a_circle():
    assert _cycles(GRAPH) == []


def test_no_circle_between_the_rooms_of_pipeline():
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        packages[_package(module)] |= {_package(t) for t in targets} - {_package(module)}
    assert _cycles(packages) == []


@pytest.mark.parametrize("room", ["models", "analysis"])
def test_models_and_analysis_never_import_pipeline(room):
    offenders = {m: sorted(t for t in targets if t.startswith("pipeline")) for m, targets in GRAPH.items()
                 if m.startswith(room) and any(t.startswith("pipeline") for t in targets)}
    assert offenders == {}
    if room == "models":
        assert not any(t.startswith("analysis") for m, targets in GRAPH.items() if m.startswith("models") for t in targets)


def test_pipeline_is_rooms_not_a_flat_folder():
    flat = sorted(p.name for p in (PROJECT / "pipeline").glob("*.py") if p.name not in ("__init__.py", "cli.py"))
    assert flat == [], "every stage or engine lives in its own sub-package"


def test_no_file_and_no_function_is_too_long():
    long_files = {str(p.relative_to(PROJECT)): n for p in MODULES.values()
                  if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert long_files == {}
    long_functions = {}
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions[f"{path.relative_to(PROJECT)}:{node.name}"] = length
    assert long_functions == {}


def _top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def test_no_builtin_is_shadowed():
    shadowing = {str(p.relative_to(PROJECT)): sorted(_top_level_names(p) & set(dir(builtins)))
                 for p in MODULES.values() if _top_level_names(p) & set(dir(builtins))}
    module_names = {m.rsplit(".", 1)[-1] for m in MODULES} & set(dir(builtins))
    assert shadowing == {} and module_names == set()


def test_no_function_name_is_defined_in_two_modules_of_pipeline():
    """A helper name means one thing: the same top-level function name in two modules is two meanings."""
    where: dict[str, list[str]] = defaultdict(list)
    for module, path in MODULES.items():
        if not module.startswith("pipeline"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where[node.name].append(module)
    assert {name: modules for name, modules in where.items() if len(modules) > 1} == {}
