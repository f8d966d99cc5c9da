"""Reading a user's YAML file with errors that name the file and line, and the line of every key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import InputError
from evalkit.jsonl import read_utf8


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but `1e-3` (an exponent and no point) is a number, as YAML 1.2 and JSON read it:
    YAML 1.1 made it text, so `rel_tol: 1e-3` was refused as "not a number"."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"),
                              list("-+0123456789."))


def load(text: str, where: str = "YAML") -> Any:
    """`text` read as YAML, with `_Loader` (a task spec's, or a command-line option's value). where: what `text`
    is, for the InputError when its aliases expand it past MAX_VALUES or it nests past MAX_DEPTH."""
    try:
        _refuse_expansion(where, yaml.compose(text))
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except RecursionError:
        raise InputError(f"{where}: malformed YAML: nested more than Python can read") from None


def read_yaml(path: Path, what: str) -> tuple[Any, Any]:
    """(data, node) of the YAML file at `path`; `node` is its composed tree, for the lines of keys.

    what: what the file is ("task spec", "suite", …), for the error when it cannot be read.
    Raises InputError naming the file (and the line, for malformed YAML or a key given twice: YAML
    would silently keep the last one).
    """
    try:
        source = read_utf8(path, bom=False)  # not UTF-8: an InputError naming the line
    except OSError as e:
        raise InputError(f"{path}: cannot read {what} ({e})") from None
    try:
        node = yaml.compose(source)
        _refuse_expansion(str(path), node)  # before the loader builds it: aliases of aliases, or one that holds itself
        data = yaml.load(source, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except RecursionError:
        raise InputError(f"{path}: malformed YAML: nested more than Python can read") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if mark is not None and mark.index >= len(source) and getattr(e, "context_mark", None):
            mark = e.context_mark  # "unexpected end of file": point at what was left open
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if getattr(e, "context", None):
            problem = f"{problem} ({e.context})"
        raise InputError(f"{path}{where}: malformed YAML: {problem}") from None
    _refuse_repeated_keys(path, node)
    return data, node


MAX_VALUES = 100_000  # values aliases may add to a file once expanded; a task spec holds hundreds in all
MAX_DEPTH = 100  # levels of nesting


def _refuse_expansion(where: str, root: Any) -> None:
    """InputError for a tree that its aliases make huge (a "billion laughs": ten lines that stand for 9^10 values,
    which every walk and every copy of the data would expand), that holds itself (`&x {a: *x}`) or that is nested
    deeper than MAX_DEPTH. Each node is sized once (its aliases share it), so the check is linear in the file; a
    file without aliases is never refused for its size."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    reused: list[Any] = []  # nodes an alias reaches again, in the order met
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            on_path.discard(id(node))
            size[id(node)] = 1 + sum(size[id(child)] for child in _children(node))
            continue
        if id(node) in size:
            reused.append(node)
            continue
        if id(node) in on_path:
            raise InputError(f"{where}:{node.start_mark.line + 1}: an alias (*name) refers to the value that holds it")
        on_path.add(id(node))
        if len(on_path) > MAX_DEPTH:
            raise InputError(f"{where}:{node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    added = size[id(root)] - len(size)  # the values aliases add to those written
    if added > MAX_VALUES:
        line = max(reused, key=lambda n: size[id(n)]).start_mark.line + 1  # the anchor that weighs most
        raise InputError(f"{where}:{line}: its aliases (*name) expand it by more than {MAX_VALUES:,} values; write "
                         "the values out, or fewer aliases of aliases")


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _refuse_repeated_keys(path: Path, node: Any, prefix: str = "") -> None:
    """InputError at the second occurrence of a key in any mapping of the tree."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_repeated_keys(path, item, prefix)
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[str, int] = {}
    for k, v in node.value:
        name = f"{prefix}{k.value}"
        if isinstance(k, yaml.ScalarNode) and k.value in first:
            raise InputError(f"{path}:{k.start_mark.line + 1}: field '{name}' is given twice "
                             f"(first on line {first[k.value]}); keep one")
        first[k.value] = k.start_mark.line + 1
        _refuse_repeated_keys(path, v, name + ".")


def key_lines(node: Any, prefix: str = "") -> dict[str, int]:
    """Map 'a.b' key paths to 1-based line numbers, for error messages."""
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}{k.value}"
            out[key] = k.start_mark.line + 1
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:str":  # `~:`, `yes:`, `1.0:` are
                # read as None, True, 1.0: an error names the key as the loaded mapping holds it
                try:
                    out.setdefault(f"{prefix}{yaml.SafeLoader('').construct_object(k)}", k.start_mark.line + 1)
                except yaml.YAMLError:
                    pass
            out.update(key_lines(v, key + "."))
    return out
