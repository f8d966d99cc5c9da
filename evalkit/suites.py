"""Suites: one task name that stands for several tasks (`aime` = every AIME year).

    name: aime
    description: Every AIME year built in.
    tasks: [aime24, aime25, aime26]

Built-in suites live in `tasks/suites/` beside the task specs; a user's suite is any YAML file with
a `tasks:` list. A suite runs as its tasks would run given one by one on the command line: each task
is reported on its own, and the run directory is named after the suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from evalkit.errors import InputError
from evalkit.taskspec import builtin_tasks_dir, names_a_file
from evalkit.yamlfile import key_lines, read_yaml

_SUITE_KEYS = {"name", "description", "tasks"}


@dataclass(frozen=True)
class Suite:
    """A named list of tasks.

    name: what a user types. tasks: built-in task names or YAML paths (relative to the suite's file).
    """

    name: str
    tasks: tuple[str, ...]
    description: str = ""
    path: Path | None = None


def suites_dir() -> Path:
    return builtin_tasks_dir() / "suites"


def list_suites() -> list[Suite]:
    """Every built-in suite, by name."""
    return [_parse_suite(p) for p in sorted(suites_dir().glob("*.yaml"))]


def find_suite(name: str) -> Suite | None:
    """The suite `name` stands for: a built-in suite's name, or a YAML file with a `tasks:` list."""
    path = Path(name)
    # a file given by path, whatever its case (`S.YML`) or suffix (`./mysuite`); a bare name is a built-in's first
    if names_a_file(name) and path.is_file():
        try:
            data, _ = read_yaml(path, "suite")
        except InputError:
            return None  # not readable as a suite: the task loader reports it as a task spec
        return _parse_suite(path) if isinstance(data, dict) and "tasks" in data else None
    builtin = suites_dir() / f"{name}.yaml"
    return _parse_suite(builtin) if builtin.is_file() else None


def expand_suites(names: Sequence[str], _within: tuple[str, ...] = ()) -> list[str]:
    """Task names with every suite replaced by its tasks, in order; a suite may list suites (a cycle is
    an InputError naming it); a task named twice runs once, a spec file too however its path is spelt
    (`t.yaml`, `./t.yaml`, a suite's absolute path)."""
    out: list[str] = []
    seen: set[str] = set()
    for name in map(str, names):
        suite = find_suite(name)
        if suite is None:
            tasks = [name]
        elif str(suite.path) in _within:
            chain = " -> ".join(Path(p).stem for p in (*_within, suite.path))
            raise InputError(f"{suite.path}: field 'tasks': the suite lists itself ({chain})")
        else:
            tasks = expand_suites(suite.tasks, (*_within, str(suite.path)))
        for t in tasks:
            if _task_key(t) not in seen:
                seen.add(_task_key(t))
                out.append(t)
    return out


def _task_key(task: str) -> str:
    """What names one task: a spec file's resolved path (a built-in's name too: `aime24` and the path of its spec are
    one task), else the name."""
    path = Path(task) if names_a_file(task) else builtin_tasks_dir() / f"{task}.yaml"
    if not names_a_file(task) and not path.is_file():
        return task
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return task


def _builtin(name: str) -> bool:
    return (builtin_tasks_dir() / f"{name}.yaml").is_file() or (suites_dir() / f"{name}.yaml").is_file()


def _parse_suite(path: Path) -> Suite:
    data, node = read_yaml(path, "suite")
    lines = key_lines(node)

    def err(key: str, msg: str) -> InputError:
        return InputError(f"{path}:{lines.get(key, 1)}: field '{key}': {msg}")

    if not isinstance(data, dict):
        raise InputError(f"{path}:1: a suite must be a YAML mapping with 'tasks'")
    for key in data:
        if key not in _SUITE_KEYS:
            raise err(str(key), f"unknown key (expected one of: {', '.join(sorted(_SUITE_KEYS))})")
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise err("tasks", "expected a non-empty list of task names or YAML paths")
    # a path in a user's suite is relative to the suite file, as a task spec's data paths are
    def beside(t: str) -> bool:  # a file next to the suite, named as a path: the suite's own, not a built-in
        return (t.lower().endswith((".yaml", ".yml"))
                or (names_a_file(t) or not _builtin(t)) and (path.parent / t).is_file())

    resolved = tuple(str((path.parent / t).resolve()) if beside(t) else t for t in tasks)
    for listed, task in zip(tasks, resolved):  # checked here, where the suite's file and line can be named
        if beside(listed) or task.lower().endswith((".yaml", ".yml")):
            if not Path(task).is_file():
                raise err("tasks", f"lists {listed!r}, which is no file ({task})")
        elif not _builtin(task):  # a file beside the suite is the branch above
            known = ", ".join(p.stem for p in sorted(builtin_tasks_dir().glob("*.yaml")))
            suites = ", ".join(p.stem for p in sorted(suites_dir().glob("*.yaml")))
            raise err("tasks", f"lists {listed!r}, which is not a built-in task (known: {known}), a built-in "
                               f"suite ({suites}) or a YAML file")
    return Suite(name=str(data.get("name") or path.stem), tasks=resolved,
                 description=str(data.get("description") or ""), path=path.resolve())
