"""What trainers hand a reward function, turned into plain per-completion values.

TRL passes completions as strings (standard datasets) or as chat messages (conversational ones),
and every dataset column as a keyword list aligned with the completions. These helpers never raise:
a value of the wrong shape reads as empty, and the caller scores it like any other bad answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Sequence

log = logging.getLogger("evalkit.rewards")


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the assistant messages' contents joined.

    Accepts `"text"`, `[{"role": "assistant", "content": "..."}]`, a single message dict, and
    content given as a list of parts (`[{"type": "text", "text": "..."}]`). Anything else is "".
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        replies = [m for m in messages if m.get("role", "assistant") == "assistant"] or messages
        return "".join(_content(m.get("content")) for m in replies)
    return ""


def _content(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):  # content parts
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def think_formats(value: Any, completions: Sequence[str], default: Any = None) -> list[Any]:
    """One think format per completion from a `think_format` keyword or dataset column: a row name
    (`sky`), `auto` (decided from that completion's own markers), or None (r1).

    Never raises: a row whose format is not known (`bogus`, `5`) gets None, so its reward can mark it
    unjudged; the first time a name is met, a warning names it and the known formats.
    """
    from evalkit.thinking import decide

    names = per_row(value, len(completions), default)
    resolved: dict[Any, Any] = {}
    out = []
    for name, text in zip(names, completions):
        if name == "auto":
            out.append(decide("auto", completions=[text]).format)
            continue
        key = name if isinstance(name, (str, type(None))) else id(name)
        if key not in resolved:
            resolved[key] = known_format(name)
        out.append(resolved[key])
    return out


def think_open_rows(value: Any, prompts: Any, formats: Sequence[Any], texts: Sequence[str] = ()) -> list[bool]:
    """Whether each row's prompt opened thinking: the `think_open` keyword or column when given, else
    read off TRL's `prompts` where they are text (a template applied by the user, such as an
    R1-distill's, ends the prompt with `<think>\\n`), as a run reads its own prompts.

    Chat-message prompts (and rows without a prompt) are templated where the rewards cannot see it, in
    the trainer, and one trainer applies one template to its whole batch; so the batch's completions
    (`texts`) say it, per think format: one that closes thinking without opening it shows the template
    opened it, one that starts with the open marker shows it did not; the majority decides, and a batch
    that shows neither (every completion cut off before closing, or none thinking) reads as not opened.
    """
    n = len(formats)
    if value is not None:
        return [bool(v) for v in per_row(value, n, False)]
    rows = per_row(prompts, n)
    texts = per_row(list(texts), n, "")
    shown = _opened_by_template([(fmt, t) for p, fmt, t in zip(rows, formats, texts) if not isinstance(p, str)])
    return [fmt is not None and fmt.thinks and (p.rstrip().endswith(fmt.open) if isinstance(p, str)
                                                else shown.get(fmt.name, False))
            for p, fmt in zip(rows, formats)]


def _opened_by_template(rows: Sequence[tuple[Any, str]]) -> dict[str, bool]:
    """Per think format name, whether these completions show a template that opened thinking."""
    votes: dict[str, int] = {}
    for fmt, text in rows:
        if fmt is None or not fmt.thinks or not isinstance(text, str):
            continue
        close = text.find(fmt.close)
        opens = text.find(fmt.open)
        if close >= 0 and not 0 <= opens < close:
            votes[fmt.name] = votes.get(fmt.name, 0) + 1
        elif text.lstrip().startswith(fmt.open):
            votes[fmt.name] = votes.get(fmt.name, 0) - 1
    return {name: vote > 0 for name, vote in votes.items()}


_warned: set[str] = set()  # unknown think formats already named in the log


def known_format(name: Any) -> Any:
    """The think format `name` stands for (evalkit.thinking.get_format), or None when it is not one;
    the first time an unknown name is met, a warning says why."""
    from evalkit.errors import InputError
    from evalkit.thinking import get_format

    try:
        return get_format(name)
    except (InputError, ValueError, TypeError) as e:
        if repr(name) not in _warned:
            _warned.add(repr(name))
            log.warning("evalkit: %s; rows with this think format are unjudged", e)
        return None


def per_row(value: Any, n: int, default: Any = None) -> list[Any]:
    """`value` as a list of length `n`: a list is padded or cut, a scalar is repeated."""
    if value is None:
        return [default] * n
    if isinstance(value, (list, tuple)) or _is_array(value):
        values = list(value)
        return (values + [default] * n)[:n]
    return [value] * n


def _is_array(value: Any) -> bool:
    # numpy / torch / pyarrow sequences, without importing them
    return hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes, dict))


def find_column(columns: dict[str, Any], names: Sequence[str]) -> tuple[str | None, Any]:
    """The first of `names` present (not None) in `columns`, as (name, value)."""
    for name in names:
        if columns.get(name) is not None:
            return name, columns[name]
    return None, None


def token_length(ids: Any, text: str) -> int:
    """A completion's length in tokens: len(completion_ids) when given, else its whitespace words."""
    if ids is not None:
        try:
            return len(ids)
        except TypeError:
            pass
    return len(text.split())


def is_code_tests(value: Any) -> bool:
    """True for docs/contracts.md's code-test JSON (a dict, or its JSON text, with a `style` key)."""
    if isinstance(value, dict):
        return "style" in value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except (ValueError, TypeError):
            return False
        return isinstance(parsed, dict) and "style" in parsed
    return False
