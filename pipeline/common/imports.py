"""The static import graph of the project's code: what a module imports, read from its source (never by importing
it), and everything reachable from a set of modules.

One walk for everything that needs it: a run's key hashes the modules its family imports
(:mod:`pipeline.common.family_code`), and the house tests check the rooms, the circles and dvc.yaml's dependency
lists with it. Only static imports count: a registry that finds its modules with ``pkgutil`` at run time
(:mod:`models.families`) does not import them here, which is what keeps one family out of another's key.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, Iterable

from pipeline.common.digest import package_root


def imported_names(path: Path) -> set[str]:
    """Every dotted name the Python file ``path`` imports, at any depth of the file (function-level imports count):
    ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a`` and ``a.b`` (``b`` may be a module or a name in
    ``a``: the caller keeps the names that are modules). Relative imports are not used in the project."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def module_path(module: str) -> str | None:
    """``models.losses`` → ``models/losses.py`` (a package: its ``__init__.py``), relative to the folder that holds
    its top-level package wherever this process imports it from (as :func:`pipeline.common.digest.source_digest`
    reads paths); None when ``module`` is no module there (a name inside a module)."""
    relative = Path(*module.split("."))
    root = package_root(module.split(".")[0])
    for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
        if (root / candidate).is_file():
            return candidate.as_posix()
    return None


def module_imports(module: str) -> set[str]:
    """:func:`imported_names` of the module ``module`` (found as :func:`module_path` finds it)."""
    path = module_path(module)
    if path is None:
        raise ModuleNotFoundError(f"module {module!r} has no source file here")
    return imported_names(package_root(module.split(".")[0]) / path)


def path_module(path: str) -> str:
    """``models/losses.py`` → ``models.losses``; ``models/families/__init__.py`` → ``models.families``."""
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def reachable(roots: Iterable[str], imports: Callable[[str], Iterable[str]],
              follow: Callable[[str], bool] = lambda module: True) -> set[str]:
    """``roots`` and every module reached from them through ``imports`` (module → the modules it imports); a
    reached module is entered (its own imports walked) only when ``follow(module)``, the roots always."""
    seen: set[str] = set()
    todo = [(module, True) for module in roots]
    while todo:
        module, root = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        if root or follow(module):
            todo += [(target, False) for target in imports(module) if target not in seen]
    return seen
