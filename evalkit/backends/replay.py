"""The `replay` backend: completions made elsewhere (another harness, an API, a past run), scored here.

A replay file is JSON lines with `problem_id`, `sample` (int) and `completion`; optional
`finish_reason`, `prompt_tokens`, `completion_tokens`, `model`, `think_open`, `task`. Field names can
be remapped (`fields={"completion": "response"}`). Records of several models make one run that
reports each model separately.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from evalkit.backends.base import BackendCapabilities
from evalkit.errors import InputError
from evalkit.jsonl import read_jsonl_numbered
from evalkit.thinking import finish_reason_of
from evalkit.types import Completion, Request

log = logging.getLogger(__name__)

REQUIRED = ("problem_id", "sample", "completion")
OPTIONAL = ("finish_reason", "prompt_tokens", "completion_tokens", "model", "think_open", "task")


@dataclass(frozen=True)
class ReplayRecord:
    task: str | None
    model: str
    problem_id: str
    sample: int
    completion: Completion


_DATA_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jl")


def replay_name(path: str | Path) -> str:
    """The model a replay file names by default: its name without `.jsonl` (or `.json`; and `.gz`), so
    `Qwen2.5-7B.jsonl` is Qwen2.5-7B and `model.v1.jsonl` model.v1. A name that is not UTF-8 names the
    model by its bytes written out ("rep\\xff"), so it can be written down."""
    name = Path(path).name
    name = name[:-3] if name.endswith(".gz") and len(name) > 3 else name
    name = next((name[:-len(x)] for x in _DATA_SUFFIXES if name.endswith(x) and len(name) > len(x)), name)
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def legacy_replay_name(path: str | Path) -> str:
    """The name before the first dot, which runs made before replay_name recorded (Qwen2.5-7B.jsonl: Qwen2)."""
    return os.fsencode(Path(path).name.split(".")[0]).decode("utf-8", "backslashreplace")


def load_replay(path: str | Path, fields: dict[str, str] | None = None,
                default_model: str | None = None) -> list[ReplayRecord]:
    """Read and check a replay file; InputError names file:line and field."""
    path = Path(path)
    names = {k: (fields or {}).get(k, k) for k in REQUIRED + OPTIONAL}
    default_model = default_model or replay_name(path)
    records: list[ReplayRecord] = []
    seen: dict[tuple, Any] = {}  # each record's key, and its budget (a sweep's records differ in it alone)
    stated: set[str] = set()  # models whose records say whether the prompt opened thinking (think_open)
    unstated: set[str] = set()
    model_of = lambda obj: str(obj.get(names["model"]) or default_model)
    if not path.is_file():
        raise InputError(f"{path}: completions file not found")
    for line, obj in read_jsonl_numbered(path):
        for key in REQUIRED:
            if names[key] not in obj:
                raise InputError(f"{path}:{line}: field '{names[key]}' is missing "
                                 f"(a replay record needs {', '.join(names[k] for k in REQUIRED)})")
        sample = obj[names["sample"]]
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
            raise InputError(f"{path}:{line}: field '{names['sample']}': expected an integer >= 0, got {sample!r}")
        text = obj[names["completion"]]
        if text is None:  # read as "" it would be scored as the model's empty answer
            raise InputError(f"{path}:{line}: field '{names['completion']}' is null: a failed request recorded as "
                             "null is not an answer to score; drop the line or generate that completion again")
        if not isinstance(text, str):
            raise InputError(f"{path}:{line}: field '{names['completion']}': expected a string, got {type(text).__name__}")
        finish_reason = obj.get(names["finish_reason"])
        if finish_reason is not None and not isinstance(finish_reason, str):
            raise InputError(f"{path}:{line}: field '{names['finish_reason']}': expected a string "
                             f"(\"stop\", \"length\") or null, got {finish_reason!r}")
        for key in ("prompt_tokens", "completion_tokens"):
            v = obj.get(names[key])
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise InputError(f"{path}:{line}: field '{names[key]}': expected a whole number >= 0 or null, "
                                 f"got {v!r}")
        named = obj.get(names["model"])
        if named is not None and not isinstance(named, str):  # str() would make ["m"] the model "['m']"
            raise InputError(f"{path}:{line}: field '{names['model']}': expected a model name, got "
                             f"{json.dumps(named)[:60]}")
        (stated if names["think_open"] in obj else unstated).add(model_of(obj))
        think_open = obj.get(names["think_open"]) or False
        if not isinstance(think_open, bool):  # a quoted "false" would read as true
            raise InputError(f"{path}:{line}: field '{names['think_open']}': expected true or false, got {think_open!r}")
        task = obj.get(names["task"])
        if task is not None and not isinstance(task, str):
            raise InputError(f"{path}:{line}: field '{names['task']}': expected a task name, got {task!r}")
        model = model_of(obj)
        pid = obj[names["problem_id"]]
        if pid is None or isinstance(pid, (bool, list, dict)) or (isinstance(pid, float) and pid != pid):
            # str() would make null the id "None", matching no problem, without its line
            raise InputError(f"{path}:{line}: field '{names['problem_id']}': expected a problem id (text or a "
                             f"number), got {json.dumps(pid)[:60]}")
        key = (task or None, model, str(pid), sample)
        if key in seen:
            # records of several tasks (a suite's years share ids such as "1") are told apart by `task`
            hint = "" if task else (f"; if the file holds records of several tasks, each needs a "
                                    f"'{names['task']}' field naming its task")
            if obj.get("budget") != seen[key]:  # a thinking-budget sweep's samples.jsonl: one record per budget
                hint = (f" (its budget {obj['budget']!r}: a thinking-budget sweep's samples.jsonl holds a record per "
                        "budget, and a replay reads one per sample: keep the records of one budget)")
            raise InputError(f"{path}:{line}: duplicate record for "
                             f"{'task ' + repr(task) + ', ' if task else ''}model {model!r}, problem "
                             f"{key[2]!r}, sample {sample}{hint}")
        seen[key] = obj.get("budget")
        records.append(ReplayRecord(
            task=key[0], model=model, problem_id=key[2], sample=sample,
            completion=Completion(text=text, finish_reason=finish_reason_of(finish_reason),
                                  prompt_tokens=obj.get(names["prompt_tokens"]),
                                  completion_tokens=obj.get(names["completion_tokens"]),
                                  model=model, think_open=think_open)))
    if not records:
        raise InputError(f"{path}: no replay records")
    _numbered_from_zero(records, path, names["sample"])
    return _think_open_shown(records, unstated - stated, path, names["think_open"])


def _numbered_from_zero(records: list[ReplayRecord], path: Path, field: str) -> None:
    """A warning when no record holds sample 0: a file numbering its samples from 1 loses each problem's last
    sample to -n (or asks for one more than it holds), and nothing else would say so. Not refused: a file whose
    every sample 0 failed and was dropped is numbered from 0 too."""
    low = min(r.sample for r in records)
    if low > 0:
        log.warning("evalkit: warning: %s: no record has sample 0 (the samples start at %d); a problem's first "
                    "sample is 0: if the file numbers them from %d, renumber them (%s - %d), or each problem's "
                    "last sample is left out under -n", path, low, low, field, low)


def _think_open_shown(records: list[ReplayRecord], models: set[str], path: Path, field: str) -> list[ReplayRecord]:
    """Records of `models` (those whose records never say `think_open`) read as opened by the prompt where
    that model's completions show it (`opened_vote`, as the rewards read a batch: closing thinking they never
    opened outweighs finishing without any marker): one cut off before closing is unfinished thinking."""
    from dataclasses import replace

    from evalkit.thinking import shows_opened

    opened = {model for model in models
              if shows_opened([(r.completion.text, r.completion.finish_reason) for r in records if r.model == model])}
    if not opened:
        return records
    log.warning("evalkit: %s: the completions of %s close thinking they never open: read as opened by the prompt "
                "(think_open), so one that never closes is truncated; give '%s' in the file to say otherwise",
                path, ", ".join(sorted(opened)), field)
    return [replace(r, completion=replace(r.completion, think_open=True))
            if r.model in opened else r for r in records]


class ReplayBackend:
    """Serves each request the completion its replay record holds.

    records: the replay file's records (`load_replay`). model: the model id of records without one.
    """

    name = "replay"
    capabilities = BackendCapabilities(replays=True)

    def __init__(self, records: Sequence[ReplayRecord], model: str) -> None:
        self.model = model
        # a record naming its task serves only that task (a suite's tasks share ids such as "1")
        self._by_key = {(r.task, r.model, r.problem_id, r.sample): r.completion for r in records}

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        return "\n\n".join(m["content"] for m in messages), "", False

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        for req in requests:
            key = (req.model, req.problem_id, req.sample)
            yield req, self._by_key.get((req.task, *key)) or self._by_key[(None, *key)]

    def close(self) -> None:
        pass

