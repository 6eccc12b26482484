"""A params file's text → the mapping it holds, refusing what PyYAML would accept silently or report in many lines.

A key given twice in one mapping is refused naming it and its line, as DVC refuses such a file (PyYAML keeps
the last value); a syntax error is one line with the file, line, column and problem instead of PyYAML's caret
diagram. Merge keys (``<<: *anchor``) are not duplicates: the keys beside them override the merged ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.config.rules import ConfigError, printable

_MERGE = "tag:yaml.org,2002:merge"


def read_yaml(path: Path) -> Any:
    """The data of the YAML file ``path`` (as ``yaml.safe_load``); :class:`ConfigError` on a file that is not
    UTF-8, not valid YAML or that gives a key twice in one mapping, naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8") from None
    try:
        return _construct(text, path)
    except yaml.reader.ReaderError as err:
        line, column = text.count("\n", 0, err.position) + 1, err.position - text.rfind("\n", 0, err.position)
        raise ConfigError(f"{path}, line {line}, column {column}: not valid YAML: {err.reason} "
                          f"(character #x{err.character:04x}); delete it") from None
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_problem(path, err)) from None


def _construct(text: str, path: Path) -> Any:
    """``yaml.safe_load(text)``, with a key given twice refused (:class:`ConfigError`)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicates(node, loader, path, "", set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_duplicates(node: yaml.Node, loader: yaml.SafeLoader, path: Path, where: str, seen: set[int]) -> None:
    """Raise :class:`ConfigError` at the second of two equal keys of any mapping under ``node`` (at ``where``)."""
    if id(node) in seen:  # an alias of a node already checked (and the end of a recursive structure)
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicates(item, loader, path, f"{where}[{index}]", seen)
    if not isinstance(node, yaml.MappingNode):
        return
    first_lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        name = where
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
            key, line = loader.construct_object(key_node), key_node.start_mark.line + 1
            name = f"{where}.{printable(key)}" if where else printable(key)
            if key in first_lines:
                raise ConfigError(f"{path}, line {line}: duplicate key {name} (also on line {first_lines[key]}); "
                                  "merge or delete one of them: DVC refuses a params file with a duplicate key")
            first_lines[key] = line
        _refuse_duplicates(value_node, loader, path, name, seen)


def _yaml_problem(path: Path, err: yaml.YAMLError) -> str:
    """A YAML error as one line: the file, the line and column of the problem, what is wrong and where the
    construct it breaks began (PyYAML's own message spans several lines, with a caret diagram)."""
    mark, context = getattr(err, "problem_mark", None), getattr(err, "context", None)
    if mark is None:
        return f"{path} is not valid YAML ({' '.join(str(err).split())}); fix it"
    problem = " ".join(str(getattr(err, "problem", None) or err).split())
    begun = getattr(err, "context_mark", None)
    if context and begun is not None:
        context = f"{context} at line {begun.line + 1}, column {begun.column + 1}"
    detail = f" ({' '.join(context.split())})" if context else ""
    return (f"{path}, line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}{detail}; "
            "fix the YAML there (indent with spaces, close brackets and quotes)")
