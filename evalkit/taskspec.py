"""TaskSpec: a YAML file that says where a benchmark's problems come from and how to ask them.

    name: math500
    dataset: {hub: HuggingFaceH4/MATH-500, split: test, local: data/math500.jsonl}
    fields: {id: unique_id, problem: problem, answer: answer, meta: {level: level, subject: subject}}
    prompt: "{{ problem }}\\nPlease reason step by step, and put your final answer within \\\\boxed{}."
    verifier: math

A field is a column name or a jinja expression over the row (`{{ solution | last_boxed }}`).
Built-in specs live in `tasks/` (a checkout) or inside the installed package; any YAML path is a task.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import jinja2

from evalkit.choices import shuffled_gold, shuffled_options
from evalkit.codetests import CONVERTERS
from evalkit.errors import InputError
from evalkit.jsonl import loads as json_loads, read_jsonl, read_utf8
from evalkit.latex import after_hashes, float_text, last_boxed
from evalkit.types import CodeTests, GenerationSettings, Problem
from evalkit.windows import DateWindow, parse_day
from evalkit.yamlfile import key_lines, read_yaml

DEFAULT_PROMPT = "{{ problem }}\nPlease reason step by step, and put your final answer within \\boxed{}."
DEFAULT_GENERATION = GenerationSettings()
DEFAULT_METRICS = ("avg@n", "pass@k", "maj@k")

# Jinja filters field expressions and prompts may use (a user's code may add rows before loading).
FILTERS: dict[str, Callable[..., Any]] = {"last_boxed": last_boxed, "after_hashes": after_hashes,
                                          "tojson": lambda v: json.dumps(v),
                                          "shuffled_options": shuffled_options, "shuffled_gold": shuffled_gold,
                                          **CONVERTERS}

_SPEC_KEYS = {"name", "description", "dataset", "fields", "prompt", "system", "verifier", "verifier_options",
              "generation", "metrics", "completions", "think_open", "chat_template_kwargs", "replay_fields"}
_DATASET_KEYS = {"hub", "config", "split", "revision", "local", "format", "config_files"}
_FIELD_KEYS = {"id", "problem", "answer", "tests", "meta", "date"}
_GEN_KEYS = set(DEFAULT_GENERATION.to_dict())
_FORMATS = ("json", "parquet", "csv")


@dataclass(frozen=True)
class DatasetSpec:
    hub: str | None = None
    config: str | None = None
    split: str = "test"
    revision: str | None = None
    local: Path | None = None  # the bundled copy, resolved against the spec file's folder
    format: str | None = None  # json | parquet | csv; guessed from the suffix when None
    # a dataset published in releases (LiveCodeBench): the data files of each release; `config` picks one
    config_files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    release_chosen: bool = False  # the run named the release (--release), so a copy without releases will not do


@dataclass(frozen=True)
class FieldMap:
    id: str | None = None
    problem: str = "problem"
    answer: str | None = "answer"
    tests: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    date: str | None = None  # the column that dates a problem, for --since/--until


SECRET_OPTIONS = frozenset({"api_key"})


def without_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """`options` less every `api_key`, at any depth of mappings (a cascade's `judge` holds one)."""
    return {k: without_secrets(v) if isinstance(v, dict) else v for k, v in options.items() if k not in SECRET_OPTIONS}


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dataset: DatasetSpec
    fields: FieldMap = field(default_factory=FieldMap)
    prompt: str = DEFAULT_PROMPT
    system: str | None = None
    verifier: str = "math"
    verifier_options: dict[str, Any] = field(default_factory=dict)
    generation: GenerationSettings = DEFAULT_GENERATION
    metrics: tuple[str, ...] = DEFAULT_METRICS
    completions: Path | None = None  # a bundled replay file: makes this a replay task
    think_open: bool = False
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    replay_fields: dict[str, str] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None
    window: DateWindow | None = None  # the run's --since/--until (evalkit.windows)
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)  # key path -> line in `path`

    def public_options(self) -> dict[str, Any]:
        """`verifier_options` as written to a run's files and exported rows: without a judge's `api_key` (a
        secret in a spec is for this machine's requests, not for config.json or a dataset pushed to a hub)."""
        return without_secrets(self.verifier_options)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec, for config.json."""
        return {
            "name": self.name, "path": str(self.path) if self.path else None,
            "dataset": {"hub": self.dataset.hub, "config": self.dataset.config, "split": self.dataset.split,
                        "revision": self.dataset.revision,
                        "local": str(self.dataset.local) if self.dataset.local else None},
            "fields": {"id": self.fields.id, "problem": self.fields.problem, "answer": self.fields.answer,
                       "tests": self.fields.tests, "meta": dict(self.fields.meta)},
            "prompt": self.prompt, "system": self.system, "verifier": self.verifier,
            "verifier_options": self.public_options(), "generation": self.generation.to_dict(),
            "metrics": list(self.metrics), "think_open": self.think_open,
            "chat_template_kwargs": dict(self.chat_template_kwargs),
            "completions": str(self.completions) if self.completions else None,
            **({"date_field": self.fields.date} if self.fields.date else {}),
            **({"window": self.window.to_dict()} if self.window else {}),
        }


# ---------------------------------------------------------------- finding and parsing specs


def builtin_tasks_dir() -> Path:
    """Where the built-in specs are: `evalkit/tasks` in a wheel, top-level `tasks/` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "tasks", here.parent / "tasks"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return here / "tasks"


def list_tasks() -> list[TaskSpec]:
    """Every built-in task spec, by name."""
    return [load_task(p) for p in sorted(builtin_tasks_dir().glob("*.yaml"))]


def names_a_file(text: str) -> bool:
    """Whether a task or suite argument is a path (a YAML name in any case, or anything with a folder in it) rather
    than a built-in's name."""
    return text.lower().endswith((".yaml", ".yml")) or "/" in text


def load_task(name_or_path: str | os.PathLike) -> TaskSpec:
    """A built-in task by name, or a user's YAML file by path. Raises InputError with file and line."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        path = builtin_tasks_dir() / f"{text}.yaml"
        if not path.is_file():
            suite = builtin_tasks_dir() / "suites" / f"{text}.yaml"
            if suite.is_file():  # a command that takes one task was given a suite (`export aime`)
                from evalkit.suites import find_suite

                members = ", ".join(find_suite(text).tasks)
                raise InputError(f"{text!r} is a suite of several tasks ({members}), and this takes one task: "
                                 "name one of them")
            known = ", ".join(p.stem for p in sorted(builtin_tasks_dir().glob("*.yaml")))
            raise InputError(f"unknown task {text!r}: not a built-in task (known: {known}) and not a YAML file")
    if not path.is_file():
        raise InputError(f"{path}: task spec file not found")
    if path.name.lower().endswith(_DATA_SUFFIXES):  # a problems file where a task goes: its YAML error would mislead
        raise InputError(f"{path}: a data file, not a task spec (a built-in task name or a YAML file); a task "
                         "reads such a file through its spec's dataset.local")
    return _parse_spec(path)


_DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet", ".csv", ".tsv", ".arrow")


def _parse_spec(path: Path) -> TaskSpec:
    data, node = read_yaml(path, "task spec")
    lines = key_lines(node)

    def err(key: str, msg: str) -> InputError:
        while key not in lines and "." in key:  # an item of a list (`fields.meta.5`): the list's line
            key = key.rsplit(".", 1)[0]
        line = lines.get(key)
        return InputError(f"{path}{':' + str(line) if line else ''}: field '{key}': {msg}")

    if not isinstance(data, dict):
        raise InputError(f"{path}:1: a task spec must be a YAML mapping")
    for key in data:
        if key == "tasks":  # a suite file given to a command that takes one task (`export my_suite.yaml`)
            raise err("tasks", "this file is a suite of several tasks, and this takes one task: name one of them")
        if key not in _SPEC_KEYS:
            raise err(str(key), _unknown_key(key, _SPEC_KEYS, also={"tasks"}))
    if "name" in data and not isinstance(data["name"], str):
        raise err("name", "expected a string")
    name = data.get("name") or path.stem
    if not name.strip() or any("\ud800" <= c <= "\udfff" or c < " " for c in name):
        # it keys every sample, seed and file name: half an emoji (YAML's "\ud800") was a traceback at the first seed
        raise err("name", f"expected text a file can hold, without control characters or half an emoji, got {name!r}")

    ds = data.get("dataset")
    if not isinstance(ds, dict):
        raise err("dataset", "expected a mapping with 'hub' and/or 'local'")
    for key in ds:
        if key not in _DATASET_KEYS:
            raise err(f"dataset.{key}", _unknown_key(key, _DATASET_KEYS))
        if key != "config_files" and ds[key] is not None and not isinstance(ds[key], str):
            raise err(f"dataset.{key}", f"expected a string, got {type(ds[key]).__name__} {ds[key]!r}")
    if ds.get("format") not in (None, *_FORMATS):
        raise err("dataset.format", f"expected one of {', '.join(_FORMATS)}, got {ds['format']!r}")
    if not ds.get("hub") and not ds.get("local"):
        raise err("dataset", "needs 'hub' (a hub dataset id) or 'local' (a file path)")
    local = Path(ds["local"]) if ds.get("local") else None
    if local is not None and not local.is_absolute():
        local = (path.parent / local).resolve()
    files = ds.get("config_files") or {}
    if not isinstance(files, dict) or not all(isinstance(v, list) and v for v in files.values()):
        raise err("dataset.config_files", "expected a mapping of release name to a list of data files")
    if files and ds.get("config") not in files:
        raise err("dataset.config", f"expected one of the releases in config_files ({', '.join(files)})")
    dataset = DatasetSpec(hub=ds.get("hub"), config=ds.get("config"), split=str(ds.get("split") or "test"),
                          revision=ds.get("revision"), local=local, format=ds.get("format"),
                          config_files={str(k): tuple(str(f) for f in v) for k, v in files.items()})

    fm = data.get("fields") or {}
    if not isinstance(fm, dict):
        raise err("fields", "expected a mapping of field name to column or jinja expression")
    for key in fm:
        if key not in _FIELD_KEYS:
            raise err(f"fields.{key}", f"unknown field (expected one of: {', '.join(sorted(_FIELD_KEYS))})")
    meta = fm.get("meta") or {}
    if isinstance(meta, list):
        for column in meta:
            if not isinstance(column, str):
                raise err("fields.meta", f"expected a list of column names, got {type(column).__name__} {column!r} "
                                         "in it (a mapping of name to column goes in place of the list)")
        meta = {m: m for m in meta}
    if not isinstance(meta, dict):
        raise err("fields.meta", "expected a mapping of name to column, or a list of columns")
    for key, value in [(k, v) for k, v in fm.items() if k != "meta"] + [(f"meta.{k}", v) for k, v in meta.items()]:
        # null leaves out an optional field (no id: the row index; no answer: no gold); a problem and a
        # breakdown always read something
        if value is None and (key == "problem" or key.startswith("meta.")):
            hint = " (leave `problem` out for the column 'problem')" if key == "problem" else ""
            raise err(f"fields.{key}", f"expected a column name or a jinja expression (a string), got null{hint}")
        if value is not None and not isinstance(value, str):
            raise err(f"fields.{key}", "expected a column name or a jinja expression (a string), "
                                       f"got {type(value).__name__} {value!r}")
        wrong = _template_problem(value) if value is not None and _is_expression(value) else None
        if wrong:  # found now, before the data is read, not blamed on its first row
            raise err(f"fields.{key}", wrong)
    fields = FieldMap(id=fm.get("id"), problem=fm.get("problem", "problem"),
                      answer=fm.get("answer", "answer" if "tests" not in fm else None),
                      tests=fm.get("tests"), meta={str(k): str(v) for k, v in meta.items()}, date=fm.get("date"))

    gen = data.get("generation") or {}
    if not isinstance(gen, dict):
        raise err("generation", "expected a mapping")
    numbers: dict[str, int | float] = {}
    for key, value in gen.items():
        if key not in _GEN_KEYS:
            raise err(f"generation.{key}", _unknown_key(key, _GEN_KEYS))
        number = _yaml_number(value)
        if key in ("temperature", "top_p"):
            # YAML's .inf and .nan are floats: refused here, as out of every range
            if number is None or (isinstance(number, float) and not math.isfinite(number)):
                raise err(f"generation.{key}", f"expected a number, got {value!r}")
        # 2.0 and 1e4 are whole numbers; 1e30 is past what a float holds exactly, so no count of anything
        elif not (isinstance(number, int) or (isinstance(number, float) and number.is_integer()
                                              and abs(number) <= 2 ** 53)):
            huge = isinstance(number, float) and number.is_integer()
            raise err(f"generation.{key}", f"expected an integer, got {value!r}"
                                           + (" (a whole number, but past 2**53: no exact count)" if huge else ""))
        numbers[key] = number
    generation = DEFAULT_GENERATION.given(**{k: (float(v) if k in ("temperature", "top_p") else int(v))
                                             for k, v in numbers.items()})
    problem = generation_problem(**{k: v for k, v in numbers.items() if k != "seed"})
    if problem:
        raise err(f"generation.{problem[0]}", problem[1])

    prompt = data.get("prompt", DEFAULT_PROMPT)
    if prompt is None:  # `system: null` means no system message; a task always asks something
        raise err("prompt", "expected a jinja2 template string, got null (leave `prompt` out for the default)")
    if isinstance(prompt, str) and not prompt.strip():  # the model would get an empty user message
        raise err("prompt", f"expected a jinja2 template string, got empty text {prompt!r} "
                            "(leave `prompt` out for the default)")
    for key in ("prompt", "system"):
        if data.get(key) is not None:
            if not isinstance(data[key], str):
                raise err(key, "expected a jinja2 template string")
            wrong = _template_problem(data[key])
            if wrong:
                raise err(key, wrong)
    completions = data.get("completions")
    if completions is not None:
        if not isinstance(completions, str) or not completions:
            raise err("completions", f"expected the path of a replay file, got {type(completions).__name__} "
                                     f"{completions!r}")
        completions = Path(completions)
        if not completions.is_absolute():
            completions = (path.parent / completions).resolve()
    verifier = data.get("verifier", "math")
    if not isinstance(verifier, str):
        raise err("verifier", "expected a verifier name (math, choice, code or a plugin)")
    wrong = _verifier_name_problem(verifier)
    if wrong:
        raise err("verifier", wrong)
    metrics = data.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not metrics:  # an empty list would report nothing
        raise err("metrics", "expected a list of at least one metric, such as [avg@n, pass@k, maj@k]")
    from evalkit.metrics import METRIC_FAMILIES

    for m in metrics:
        if not isinstance(m, str) or m.lower() not in METRIC_FAMILIES:
            raise err("metrics", f"unknown metric {m!r} (expected some of: {', '.join(METRIC_FAMILIES)})")
    mappings = {}
    for key in ("verifier_options", "chat_template_kwargs", "replay_fields"):
        value = data.get(key)
        if value is not None and not isinstance(value, dict):
            raise err(key, f"expected a mapping of name to value, got {type(value).__name__} {value!r}")
        mappings[key] = dict(value or {})
    judge = mappings["verifier_options"].get("judge")
    if isinstance(judge, dict) and isinstance(judge.get("rubric"), str) and judge["rubric"] \
            and not Path(judge["rubric"]).is_absolute():  # as dataset.local and completions: from the spec's folder
        mappings["verifier_options"]["judge"] = {**judge, "rubric": str((path.parent / judge["rubric"]).resolve())}
    from evalkit.backends.replay import OPTIONAL, REQUIRED

    for key, value in mappings["replay_fields"].items():
        if key not in REQUIRED + OPTIONAL:
            raise err(f"replay_fields.{key}", f"unknown record field (expected some of: {', '.join(REQUIRED + OPTIONAL)})")
        if not isinstance(value, str):
            raise err(f"replay_fields.{key}", f"expected the name of a field in the replay file, got {value!r}")
    think_open = data.get("think_open", False)
    if not isinstance(think_open, bool):  # a quoted "false" is a non-empty string: true to Python
        raise err("think_open", f"expected true or false (unquoted), got {think_open!r}")
    return TaskSpec(
        name=name, dataset=dataset, fields=fields, prompt=prompt, system=data.get("system"),
        verifier=verifier, verifier_options=mappings["verifier_options"],
        generation=generation, metrics=tuple(metrics), completions=completions, think_open=think_open,
        chat_template_kwargs=mappings["chat_template_kwargs"], replay_fields=mappings["replay_fields"],
        description=_description(data.get("description"), err), path=path.resolve(), lines=lines,
    )


def generation_problem(n: Any = None, temperature: Any = None, top_p: Any = None,
                       max_tokens: Any = None) -> tuple[str, str] | None:
    """(setting, what is wrong) for a sampling setting out of range, else None (None settings are not given).

    temperature >= 0, 0 < top_p <= 1, max_tokens >= 1, n >= 1: what every backend accepts, checked
    before a model is loaded.
    """
    if n is not None and n < 1:
        return "n", f"expected at least 1 sample per problem, got {n}"
    if temperature is not None and not 0 <= temperature < math.inf:  # `not <=` also refuses NaN
        return "temperature", f"expected a finite number >= 0, got {temperature}"
    if top_p is not None and not 0 < top_p <= 1:
        return "top_p", f"expected a number in (0, 1], got {top_p}"
    if max_tokens is not None and max_tokens < 1:
        return "max_tokens", f"expected at least 1 token, got {max_tokens}"
    return None


def _unknown_key(key: Any, known: set[str], also: frozenset[str] | set[str] = frozenset()) -> str:
    """The error for a key that is not one of `known`: `did you mean 'prompt'?` where it is one slip away from
    one (`promt`), or from one of `also`, keys a user may have meant for another file (a suite's `tasks`: a suite
    whose `tasks` is misspelt is read as a task spec, and says so)."""
    import difflib

    close = difflib.get_close_matches(str(key), sorted(known | also), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if close and close[0] == "tasks":
        hint += " (a suite lists its `tasks`)"
    return f"unknown key{hint} (expected one of: {', '.join(sorted(known))})"


def _verifier_name_problem(name: str) -> str | None:
    """What is wrong with the spelling of a spec's verifier name, else None: a name, or INNER+OUTER
    (`math+judge`) with a name on each side of every '+'. Loading a task imports no verifier: an unknown
    name, or an OUTER that wraps nothing, is reported when the verifier is built."""
    parts = name.split("+")
    expected = "expected a verifier name (math, choice, code or a plugin) or INNER+OUTER such as math+judge"
    if any(not part.strip() for part in parts):
        return f"{expected}, got {name!r}" + (": a '+' needs a verifier name on each side" if "+" in name else "")
    if any(part != part.strip() for part in parts):
        return f"{expected}, got {name!r}: write it without spaces"
    return None


def _yaml_number(value: Any) -> int | float | None:
    """A number a spec gives, or None: YAML's ints and floats, and the text PyYAML leaves unread as
    a number (its YAML 1.1 wants a dot: `6e-1` and `1e4` are strings to it, numbers to the user)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        for read in (int, float):  # int first: a quoted seed of 2**53 + 1 stays that number
            try:
                return read(value)
            except ValueError:
                pass
    return None


# ---------------------------------------------------------------- templates and fields


def _is_expression(expr: str) -> bool:
    """Whether a field is a jinja expression over the row, not a column name."""
    return "{{" in expr or "{%" in expr


def _template_problem(source: str) -> str | None:
    """Why a prompt or field expression cannot be compiled (bad syntax, a filter or test no one
    registered), else None."""
    try:
        _template(source)
    except jinja2.TemplateSyntaxError as e:  # TemplateAssertionError, an unknown filter, is one too
        known = f" (evalkit's filters: {', '.join(FILTERS)}; and jinja's own)" if "No filter named" in e.message else ""
        return f"bad jinja template: {e.message}{known}"
    return None


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """The jinja environment of prompts and field expressions, where a null value (None, NaN) prints
    as nothing: not the text "None" or "nan", which would become a gold answer or a prompt's words.

    Sandboxed, as transformers renders a model's chat template: a task spec is downloaded and shared, and
    `{{ cycler.__init__.__globals__.os.popen('id').read() }}` in a plain environment ran a shell command. No
    attribute starting with `_` and no unsafe call (SecurityError); a template may still build its own list
    (`{% set xs = [] %}{% set _ = xs.append(c) %}`), which the immutable sandbox refused."""
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False,
                               finalize=lambda v: "" if _is_null(v) else v)
    env.filters.update(FILTERS)
    return env


@lru_cache(maxsize=512)
def _template(source: str) -> jinja2.Template:
    env = _env()
    env.filters.update(FILTERS)  # filters registered after the first call still count
    return env.from_string(source)


@lru_cache(maxsize=512)
def _bare_name(expr: str) -> str | None:
    """The variable a field expression is, when it is one bare reference (`{{ answer }}`), else None."""
    try:
        body = _env().parse(expr).body
    except jinja2.TemplateSyntaxError:
        return None  # rendering reports it
    if len(body) == 1 and isinstance(body[0], jinja2.nodes.Output) and len(body[0].nodes) == 1:
        node = body[0].nodes[0]
        return node.name if isinstance(node, jinja2.nodes.Name) else None
    return None


def render(template: str, row: dict[str, Any], **extra: Any) -> str:
    """Render a jinja2 template over a dataset row (`row` is also available as a variable)."""
    return _template(template).render({**row, "row": row, **extra})


def prompt_messages(spec: TaskSpec, problem: Problem, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The chat messages a problem is asked with: what `evalkit run` sends and `evalkit export`
    writes, so a training prompt is byte for byte the evaluation prompt.

    spec: the task; its `prompt` and `system` templates see the row's columns, `row`, `problem` (the
        resolved problem text) and `id` (the problem id).
    system_prompt: a system prompt that replaces the task's own (`--system-prompt`); "" means none.
    Raises InputError naming the task file, the field and the problem when a template fails.
    """
    extra = {"problem": problem.problem, "id": problem.id}
    field_name = "prompt"
    try:
        user = render(spec.prompt, problem.row, **extra)
        field_name = "system"
        system = system_prompt if system_prompt is not None else (
            render(spec.system, problem.row, **extra) if spec.system else None)
    except jinja2.TemplateError as e:
        raise InputError(f"{spec_location(spec, field_name)}: field '{field_name}' on problem {problem.id!r}: {e}; "
                         f"available columns: {', '.join(problem.row)}") from None
    except Exception as e:  # the template ran and failed on this row's data (`{{ level + 1 }}` on a string)
        raise InputError(f"{spec_location(spec, field_name)}: field '{field_name}' on problem {problem.id!r}: "
                         f"{type(e).__name__}: {e}") from None
    if not user.strip():  # load_problems refuses these by row; a Problem built in Python arrives here
        raise InputError(f"{spec_location(spec, 'prompt')}: field 'prompt' on problem {problem.id!r}: renders to "
                         "empty text; the model would be asked nothing")
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


@lru_cache(maxsize=64)
def _always_asks(source: str) -> bool:
    """Whether a prompt holds text of its own outside any block (`{{ problem }}\nPlease reason...`): it never
    renders blank, so no row needs rendering to know."""
    try:
        body = _env().parse(source).body
    except jinja2.TemplateSyntaxError:
        return False
    return any(isinstance(node, jinja2.nodes.Output) and any(
        isinstance(part, jinja2.nodes.TemplateData) and part.data.strip() for part in node.nodes) for node in body)


def _asks_nothing(spec: TaskSpec, problem: Problem) -> bool:
    """Whether the task's prompt renders to blank text for this problem (`{{ hint }}` over a null
    column). A prompt that fails to render is not judged here: prompt_messages reports it when asked."""
    if _always_asks(spec.prompt):
        return False
    try:
        return not render(spec.prompt, problem.row, problem=problem.problem, id=problem.id).strip()
    except Exception:  # noqa: BLE001 - any failure is prompt_messages' to report, in its words
        return False


def _columns(row: dict[str, Any]) -> str:
    """A row's columns, for an error that names a missing one (a row of `{}` has none, and says so)."""
    return ", ".join(map(str, row)) or "none (the row is an empty object)"


def resolve_field(expr: str, row: dict[str, Any], spec: TaskSpec, field_name: str, index: int) -> Any:
    """A column name or a jinja expression, evaluated on `row`; InputError names the missing column.

    An expression that is one bare reference (`{{ answer }}`) is that column's value, as naming the
    column is: a list stays several answers, null and NaN stay no value (rendered, they would be the
    texts "[...]", "" and "nan")."""
    if _is_expression(expr):
        context = {**row, "row": row}
        name = _bare_name(expr)
        if name is not None and name in context:
            return context[name]
        try:
            return _template(expr).render(context)
        except jinja2.UndefinedError as e:
            raise InputError(f"{spec_location(spec, 'fields.' + field_name)}: field '{field_name}' ({expr!r}) on row "
                             f"{index}: {e.message}; available columns: {_columns(row)}") from None
        except Exception as e:  # a filter failed on this row's data
            missing = isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str)
            why = f"no key {e.args[0]!r} in the row or a value of it (the row's columns: {_columns(row)})" \
                if missing else f"KeyError: {e}" if isinstance(e, KeyError) else str(e)
            raise InputError(f"{spec_location(spec, 'fields.' + field_name)}: field '{field_name}' ({expr!r}) on row "
                             f"{index}: {why}") from None
    if expr not in row:
        raise _MissingColumn(f"{spec_location(spec, 'fields.' + field_name)}: field '{field_name}' names column "
                             f"{expr!r}, which the dataset does not have; available columns: {_columns(row)}",
                             field_name=field_name, column=expr)
    return row[expr]


class _MissingColumn(InputError):
    """A field's column missing from a row: the dataset's fault when no row has it, else that row's."""

    def __init__(self, message: str, field_name: str, column: str):
        super().__init__(message)
        self.field_name = field_name
        self.column = column


def spec_location(spec: TaskSpec, key: str | None = None) -> str:
    """The spec's file (or name), with the line of `key` ('fields.answer', 'prompt') where it is known."""
    where = str(spec.path) if spec.path else spec.name
    while key and key not in spec.lines and "." in key:  # `fields.meta.level` of a meta list: its list
        key = key.rsplit(".", 1)[0]
    line = spec.lines.get(key) if key else None
    return f"{where}:{line}" if line else where


# ---------------------------------------------------------------- loading problems


@dataclass(frozen=True)
class LoadedDataset:
    problems: list[Problem]
    source: str  # "hub" or "local"
    revision: str  # the hub revision, or "local:<sha256 prefix>" of the file
    outside: frozenset[str] = frozenset()  # ids of the problems the date window left out (or undated)


def load_problems(spec: TaskSpec, limit: int | None = None, source: str = "auto") -> LoadedDataset:
    """The task's problems, in dataset order.

    source: `hub`, `local` (the bundled copy) or `auto`: the hub unless HF_HUB_OFFLINE /
    HF_DATASETS_OFFLINE is set or the spec names no hub id; the bundled copy when the hub is unreachable.
    """
    rows, used, revision = _load_rows(spec, source)
    column = _date_column(spec.fields.date) if spec.fields.date else None
    if column is not None and rows and not any(column in row for row in rows):
        # a date column the data lacks, found whether or not the run asks for --since/--until
        resolve_field(spec.fields.date, rows[0], spec, "date", 0)
    problems: list[Problem] = []
    seen: set[str] = set()
    outside: set[str] = set()
    for index, row in enumerate(rows):
        if limit is not None and len(problems) >= limit:
            break
        try:
            if spec.window is not None and not _in_window(spec, row, index):
                outside.update(_id_or_none(spec, row, index))
                continue
            problem = _problem(spec, row, index)
            if problem.id in seen:
                raise InputError(f"{spec_location(spec, 'fields.id')}: field 'id' gives {problem.id!r} to more than "
                                 f"one row (row {index})")
        except _MissingColumn as e:
            if not any(e.column in other for other in rows):  # a column the dataset lacks: no row's fault
                raise
            raise InputError(f"{spec_location(spec, 'fields.' + e.field_name)}: field '{e.field_name}' names column "
                             f"{e.column!r}, which row {index} lacks (other rows have it); its columns: "
                             f"{', '.join(row)} {_record(spec, used, index)}") from None
        except InputError as e:  # the spec's line names the field; a row named is found in the data by its count
            if f"row {index}" not in str(e):
                raise
            raise InputError(f"{e} {_record(spec, used, index)}") from None
        seen.add(problem.id)
        problems.append(problem)
    if not rows:
        where = spec.dataset.hub if used == "hub" else spec.dataset.local
        raise InputError(f"{spec_location(spec, 'dataset')}: field 'dataset': no problems in {where}")
    if spec.window is not None and not problems:
        w = spec.window.to_dict()
        when = (f"between {w['since']} and {w['until']}" if w["since"] and w["until"] else
                f"on or after {w['since']}" if w["since"] else f"on or before {w['until']}")
        raise InputError(f"{spec_location(spec, 'fields.date')}: no problem's {spec.fields.date!r} falls {when} "
                         f"({len(rows)} rows read)")
    return LoadedDataset(problems, used, revision, frozenset(outside))


def _record(spec: TaskSpec, used: str, index: int) -> str:
    """Where row `index` is in the data, for an error that names it."""
    where = spec.dataset.hub if used == "hub" else spec.dataset.local
    return f"[row {index} counts from 0: record {index + 1} of {where}]"


def _id_or_none(spec: TaskSpec, row: dict[str, Any], index: int) -> tuple[str, ...]:
    """The id of a row left out (a row that would not load yields none: it is not the run's to judge)."""
    try:
        return (_problem(spec, row, index).id,)
    except InputError:
        return ()


def _in_window(spec: TaskSpec, row: dict[str, Any], index: int) -> bool:
    """Whether the row's date is inside the run's window; an undated row is in no window, and a date
    that cannot be read is an InputError naming the row (left out unseen, it would shrink the run)."""
    try:
        day = parse_day(_date_of(spec, row, index))
    except ValueError as e:
        raise InputError(f"{spec_location(spec, 'fields.date')}: field 'date' on row {index}: {e}") from None
    return day is not None and spec.window.contains(day)


def _date_of(spec: TaskSpec, row: dict[str, Any], index: int) -> Any:
    """The row's date field; a row that leaves out a date column other rows have is undated, as a null one is
    (JSON lines written with nulls dropped). A column no row has is an error naming it (load_problems)."""
    column = _date_column(spec.fields.date)
    return None if column is not None and column not in row else resolve_field(spec.fields.date, row, spec, "date",
                                                                               index)


def _date_column(date: str) -> str | None:
    """The column a date field names: itself, or the one a bare `{{ col }}` is; None for another expression."""
    return date if not _is_expression(date) else _bare_name(date)


def _description(value: Any, err: Callable[[str, str], InputError]) -> str:
    if value is not None and not isinstance(value, str):  # `description: [1, 2]` was taken as its repr
        raise err("description", f"expected text, got {type(value).__name__}")
    return value or ""


def _problem(spec: TaskSpec, row: dict[str, Any], index: int) -> Problem:
    f = spec.fields
    pid = str(index)
    if f.id:
        value = resolve_field(f.id, row, spec, "id", index)
        if _is_null(value):  # str() would make it the id "None" (or "nan")
            raise InputError(f"{spec_location(spec, 'fields.id')}: field 'id' on row {index}: the id is null; "
                             "every problem needs one")
        if isinstance(value, (bool, list, tuple, dict)) or (isinstance(value, str) and not value.strip()):
            # str() made ids of them: "True", "[0]", "{'a': 1}", or an empty id no one can name
            got = "empty text" if isinstance(value, str) else f"{type(value).__name__} {str(value)[:60]}"
            raise InputError(f"{spec_location(spec, 'fields.id')}: field 'id' on row {index}: expected text or a "
                             f"whole number, got {got}")
        pid = str(value)
    text = resolve_field(f.problem, row, spec, "problem", index)
    if not isinstance(text, str) or not text.strip():  # str() would send "None" or a list's repr as the problem
        got = "null" if _is_null(text) else "empty text" if isinstance(text, str) else \
            f"{type(text).__name__} {str(text)[:60]}"
        raise InputError(f"{spec_location(spec, 'fields.problem')}: field 'problem' on row {index} (id {pid}): "
                         f"expected the problem's text, got {got}")
    answer = resolve_field(f.answer, row, spec, "answer", index) if f.answer else None
    tests = None
    if f.tests:
        raw = resolve_field(f.tests, row, spec, "tests", index)
        try:
            tests = CodeTests.from_any(raw)
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{spec_location(spec, 'fields.tests')}: field 'tests' on row {index} (id {pid}): {e}") from None
    meta = {k: resolve_field(v, row, spec, f"meta.{k}", index) for k, v in f.meta.items()}
    if f.date:  # a date expression that fails is found now, not only when a run asks for --since/--until
        _date_of(spec, row, index)
    problem = Problem(id=pid, problem=text, answer=gold_answer(answer), tests=tests, meta=meta, row=row)
    if _asks_nothing(spec, problem):
        raise InputError(f"{spec_location(spec, 'prompt')}: field 'prompt' on row {index} (id {pid}): renders to "
                         "empty text; the model would be asked nothing")
    return problem


def gold_answer(value: Any) -> str | tuple[str, ...] | None:
    """A dataset's answer value as a run's gold: text, or for a list (or array) of accepted answers
    a tuple of their texts, any of which is right (as `evalkit.rewards` reads a list:
    verifiers.base.golds_for). No answer (null, "", NaN, an empty list) is None: the sample is unjudged.
    A mapping is its JSON text."""
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays and scalars from parquet
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        golds = tuple(g for v in value if (g := gold_answer(v)) is not None)
        flat = tuple(g for gold in golds for g in (gold if isinstance(gold, tuple) else (gold,)))
        return flat or None  # one accepted answer stays a list: a column of lists exports as lists
    if value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not (value.is_integer() and abs(value) <= 2 ** 53):
        return float_text(value)  # a float32 column's 0.1, or 6.02e23, as written (27.0 stays 27.0)
    return str(value)


_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in _OFFLINE_VARIABLES)


@lru_cache(maxsize=1)
def _hub_reachable() -> bool:
    """One quick TCP probe, so an offline machine falls back at once instead of after minutes of retries."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=3).close()
        return True
    except OSError:
        return False


def _load_rows(spec: TaskSpec, source: str) -> tuple[list[dict[str, Any]], str, str]:
    ds = spec.dataset
    want_hub = ds.hub and (source == "hub" or (source == "auto" and not _offline()))
    if want_hub and source == "auto" and ds.local is not None and not _hub_reachable():
        print(f"evalkit: the hub is unreachable; {spec.name} uses its bundled copy", file=sys.stderr)
        want_hub = False
    # no bundled copy, and the hub offline (HF_HUB_OFFLINE) or unreachable: its cache may still hold the dataset
    cache_only = bool(ds.hub and source == "auto" and ds.local is None and (_offline() or not _hub_reachable()))
    want_hub = want_hub or cache_only
    if want_hub:
        try:
            # a release is part of what was loaded: `main:release_v5`
            release = f":{ds.config}" if ds.config_files else ""
            with _hub_cache_only(cache_only):
                rows = _load_hub(ds)
            return rows, "hub", (ds.revision or "main") + release
        except InputError:
            raise
        except Exception as e:  # no network, no such dataset, ...
            if cache_only:
                offline = [v for v in _OFFLINE_VARIABLES if os.environ.get(v, "").lower() in ("1", "true", "yes")]
                why, fix = ("offline", f"unset {' and '.join(offline)}, or ") if offline else ("unreachable", "")
                raise InputError(f"{spec_location(spec, 'dataset.hub')}: cannot load hub dataset {ds.hub!r}: the hub "
                                 f"is {why} and the local hub cache does not hold it ({fix}add 'local', a copy of "
                                 "the data)") from None
            if source == "hub" or ds.local is None:
                raise InputError(f"{spec_location(spec, 'dataset.hub')}: cannot load hub dataset {ds.hub!r}: "
                                 f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
            print(f"evalkit: hub dataset {ds.hub} unavailable ({type(e).__name__}); using the bundled copy",
                  file=sys.stderr)
    if ds.local is None:
        raise InputError(f"{spec_location(spec, 'dataset')}: field 'dataset': no local copy and the hub is offline "
                         "(unset HF_HUB_OFFLINE or add 'local')")
    if not ds.local.exists():
        raise InputError(f"{spec_location(spec, 'dataset.local')}: field 'dataset.local': file not found: {ds.local}")
    if ds.local.is_dir() and not ds.config_files:  # a folder is a downloaded hub repository of releases only
        raise InputError(f"{spec_location(spec, 'dataset.local')}: field 'dataset.local': {ds.local} is a directory; "
                         "expected a data file (jsonl, json, parquet or csv)")
    if ds.config_files and not ds.local.is_dir() and (ds.release_chosen or spec.window is not None):
        asked = " and ".join(a for a, given in (("--release", ds.release_chosen), ("--since/--until", spec.window))
                             if given)
        raise InputError(f"{asked}: {spec.name}'s bundled copy ({ds.local.name}) is a sample without releases or "
                         "contest dates, and the hub is not used (offline or unreachable); run with the hub, "
                         "or point `dataset.local` at a downloaded copy of the hub repository")
    if ds.local.is_dir() and ds.config_files:  # a downloaded copy of the hub repository: the release's files
        paths = [ds.local / name for name in ds.config_files[ds.config]]
        rows = [row for p in paths for row in load_local_rows(p, ds.format)]
        digest = hashlib.sha256("".join(_file_digest(p) for p in paths).encode()).hexdigest()[:12]
        return rows, "local", f"local:{digest}:{ds.config}"
    return load_local_rows(ds.local, ds.format), "local", "local:" + _file_digest(ds.local)


@contextlib.contextmanager
def _hub_cache_only(cache_only: bool):
    """When `cache_only`, the hub's libraries read their local cache and ask the network nothing: their
    HF_HUB_OFFLINE mode, set for this load (it is read when they are imported, so the flags are set where
    they look), instead of five retries over half a minute, a warning each."""
    if not cache_only:
        yield
        return
    import datasets
    import huggingface_hub.constants as hub

    saved = (datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, hub.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, hub.HF_HUB_OFFLINE = saved


def _load_hub(ds: DatasetSpec) -> list[dict[str, Any]]:
    import datasets

    if ds.config_files:
        # a release is a list of files in the hub repository, read as they are (LiveCodeBench's own
        # loading script is not run: current `datasets` refuses scripts)
        at = f"@{ds.revision}" if ds.revision else ""
        files = [f"hf://datasets/{ds.hub}{at}/{name}" for name in ds.config_files[ds.config]]
        data = datasets.load_dataset("json", data_files=files, split="train")
    else:
        data = datasets.load_dataset(ds.hub, ds.config, split=ds.split, revision=ds.revision)
    return [dict(r) for r in data]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def load_local_rows(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """Rows of a local jsonl / json / parquet / csv file (gzip jsonl too), with values as the file
    writes them: no column is widened or guessed, so an id `0012` or a gold `5` stays what it is.

    JSON (Python's json): JSON lines (a corrupt line is reported as file:line), a list of objects, or
    columns, an object of equal-length lists (what `json.dump(ds.to_dict())` writes). CSV: every
    cell is its text (`NA` is not null; an empty cell is empty: no gold). Parquet: through `datasets`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: dataset file not found")
    name = path.name.lower()
    fmt = fmt or ("parquet" if name.endswith(".parquet") else "csv" if name.endswith(".csv") else "json")
    if fmt == "json" and (".jsonl" in name or ".ndjson" in name or name.endswith(".gz")):
        return list(read_jsonl(path))
    if fmt == "json":
        return _json_rows(path)
    if fmt == "csv":
        return _csv_rows(path)
    if fmt == "parquet" and _parquet_rows(path) == 0:  # datasets refuses it in arrow's words ("BatchSize must be ...")
        return []
    import datasets

    datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its log of a bad file would repeat our error
    try:
        data = datasets.load_dataset(fmt, data_files=str(path), split="train")
    except Exception as e:  # not that format, or a corrupt file: arrow and datasets say why, in their words
        cause = e.__cause__ or e.__context__ or e
        detail = str(cause).strip().splitlines()[0][:300] if str(cause).strip() else type(cause).__name__
        raise InputError(f"{path}: cannot read as {fmt} ({type(cause).__name__}: {detail})") from None
    finally:
        datasets.logging.set_verbosity(verbosity)
    return [dict(r) for r in data]


def _parquet_rows(path: Path) -> int | None:
    """How many rows a parquet file's footer says it holds (None when it cannot be read: datasets says why)."""
    try:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # noqa: BLE001 - not parquet, or corrupt: the reader after this names the cause
        return None


def _json_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON file: a list of objects, an object of equal-length lists (columns), one
    object (one row), or JSON lines under a .json name."""
    text = read_utf8(path)
    if not text.strip():
        return []
    try:
        data = json_loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # one object per line
            return list(read_jsonl(path))
        raise InputError(f"{path}: cannot read as json ({e.msg}: line {e.lineno} column {e.colno})") from None
    except ValueError as e:  # an integer of more than 4,300 digits
        raise InputError(f"{path}: cannot read as json ({str(e)[:200]})") from None
    except RecursionError:
        raise InputError(f"{path}: cannot read as json (nested too deeply)") from None
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lengths = {column: len(values) for column, values in data.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{column!r} {n}" for column, n in lengths.items())
            raise InputError(f"{path}: cannot read as json: columns of different lengths ({shown}); expected a "
                             "list of rows or columns of equal length")
        return [dict(zip(data, values)) for values in zip(*data.values())]
    rows = [data] if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise InputError(f"{path}: cannot read as json: expected a list of rows (objects) or columns (an object "
                         f"of lists), got {type(data).__name__}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"{path}: cannot read as json: row {index} is {type(row).__name__} {str(row)[:60]}, "
                             "not an object")
    return rows


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file with a header line, every cell its text as written (a short row's
    missing cells are empty, with a warning naming the first such line)."""
    reader = None
    try:
        with io.StringIO(read_utf8(path), newline="") as f:  # not UTF-8: the error names its line
            reader = csv.reader(f, strict=True)
            header = next(reader, [])
            repeated = sorted({c for c in header if header.count(c) > 1})
            if repeated:
                raise InputError(f"{path}:1: cannot read as csv: column {repeated[0]!r} is named twice in the header")
            rows, short = [], []
            for cells in reader:
                if not cells:  # a blank line
                    continue
                if len(cells) > len(header):
                    raise InputError(f"{path}:{reader.line_num}: cannot read as csv: {len(cells)} cells, but the "
                                     f"header names {len(header)} columns")
                if len(cells) < len(header):
                    short.append((reader.line_num, header[len(cells):]))
                rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)))))
    except csv.Error as e:
        raise InputError(f"{path}: cannot read as csv ({e} at line {reader.line_num if reader else 1})") from None
    if short:  # as pandas reads them, but a forgotten comma should not pass unseen
        line, missing = short[0]
        more = f" (and {len(short) - 1} more rows)" if len(short) > 1 else ""
        print(f"evalkit: warning: {path}:{line}: fewer cells than the header names{more}; "
              f"{', '.join(map(repr, missing))} read as empty", file=sys.stderr)
    return rows
