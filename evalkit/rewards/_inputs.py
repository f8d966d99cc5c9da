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


def as_written(completions: Any, columns: dict[str, Any], think_format: Any = None) -> Any:
    """The completions with their think markers, where the trainer decoded them away: TRL decodes with
    `skip_special_tokens=True`, so a model whose markers are special tokens (the tiny test model's `<think>`,
    gpt-oss's channels, Magistral's `[THINK]`) reaches a reward without them, every reply read as unfinished
    thinking. With a `tokenizer` (bound with functools.partial; taken out of `columns`) and TRL's
    `completion_ids`, each completion is decoded again from its ids less the special tokens that are no part
    of a think format's text (end of turn, padding): those that are, in the built-in formats and the rows' own
    (`think_format`, else the `think_format` column), stay. Otherwise, or where the ids do not decode, the
    completions as given."""
    tokenizer = columns.pop("tokenizer", None)
    ids = columns.get("completion_ids")
    if tokenizer is None or ids is None or isinstance(completions, (str, bytes, dict)):
        return completions
    from evalkit.thinking import FORMATS, get_format

    try:
        rows = list(ids)
        if len(rows) != len(completions):
            return completions
        formats = list(FORMATS.values())
        named = think_format if think_format is not None else columns.get("think_format")
        for name in {v for v in per_row(named, len(rows)) if isinstance(v, str)} - {"auto"}:
            try:
                formats.append(get_format(name))
            except Exception:  # noqa: BLE001 - an unknown format: its rows are unjudged, said where they are read
                pass
        texts_of = [t for f in formats for t in (f.open, f.close, f.answer_open, f.answer_close, f.prefill,
                                                   f.stop_thinking) if t]
        special = {i: getattr(t, "content", str(t)) for i, t in
                   (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items() if getattr(t, "special", False)}
        for token, i in zip(getattr(tokenizer, "all_special_tokens", ()) or (),
                            getattr(tokenizer, "all_special_ids", ()) or ()):
            special.setdefault(i, token)
        # a special token inside a format's text (`<|channel|>` of harmony's `<|channel|>analysis<|message|>`) stays
        dropped = {i for i, token in special.items() if not any(token in text for text in texts_of)}
        return [tokenizer.decode([int(i) for i in row if int(i) not in dropped], skip_special_tokens=False)
                for row in rows]
    except Exception as e:  # noqa: BLE001 - a reward never raises: the trainer's texts are read as they are
        from evalkit.rewards._judge import say_once

        say_once(f"evalkit: the tokenizer given to the reward could not decode completion_ids ({type(e).__name__}: "
                 f"{e}); the completions are read as the trainer decoded them", logging.WARNING)
        return completions


def decoded_format(text: str) -> Any:
    """The built-in format whose markers a trainer's decoding left `text` with, or None: a reply that starts with a
    format's decoded open marker and holds its decoded close (ThinkFormat.decoded_markers: gpt-oss's
    `analysis…assistantfinal…`), and no special token."""
    from evalkit.thinking import FORMATS, SPECIAL_TOKEN

    body = text.lstrip()
    for fmt in FORMATS.values():
        decoded = fmt.decoded_markers()
        if decoded and body.startswith(decoded[0]) and decoded[1] in body and not SPECIAL_TOKEN.search(text):
            return fmt
    return None


def with_markers(texts: Sequence[str], formats: Sequence[Any]) -> list[str]:
    """`texts` with the think markers the trainer's decoding took away (TRL's and veRL's `skip_special_tokens=True`),
    where a row's format leaves them readable (ThinkFormat.decoded_markers): gpt-oss's `<|channel|>analysis
    <|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…` reaches a reward as `analysis…assistantfinal…`,
    its analysis read as the answer, a reply cut off inside it paid for the box it mused about. Without the decoded
    close the thinking never ended (truncated). A text that holds a special token was not decoded so: as it is."""
    from evalkit.thinking import SPECIAL_TOKEN

    out = []
    for text, fmt in zip(texts, formats):
        decoded = fmt.decoded_markers() if fmt is not None else None
        body = text.lstrip()
        if decoded is None or not body.startswith(decoded[0]) or SPECIAL_TOKEN.search(text):
            out.append(text)
            continue
        body = body[len(decoded[0]):]
        end = body.find(decoded[1])
        out.append(fmt.open + body if end < 0 else
                   fmt.open + body[:end] + fmt.stop_thinking + body[end + len(decoded[1]):])
    return out


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the assistant messages' contents joined.

    Accepts `"text"`, `[{"role": "assistant", "content": "..."}]`, a single message dict, and
    content given as a list of parts (`[{"type": "text", "text": "..."}]`). Anything else is "", and so
    is a list without an assistant message (a message without a role counts as one): a prompt's user
    message is no answer.
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        replies = [m for m in messages if m.get("role", "assistant") == "assistant"]
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


def think_formats(value: Any, completions: Sequence[str], default: Any = None, think_open: Any = None,
                  prompts: Any = None) -> list[Any]:
    """One think format per completion from a `think_format` keyword or dataset column: a row name
    (`sky`), `auto` (decided from that completion's own markers), or None (r1).

    An `auto` completion with no marker at all is thinking cut off before it closed, not an answer
    given without thinking, where its prompt opened thinking: its `think_open` (keyword or column)
    says so, or its text prompt ends in a format's open marker, or (chat prompts) the batch's other
    completions show a template that opened it (see think_open_rows). It then takes that format (the
    batch's, else r1), so its text is read as unfinished thinking, which holds no answer.

    Never raises: a row whose format is not known (`bogus`, `5`) gets None, so its reward can mark it
    unjudged; the first time a name is met, a warning names it and the known formats.
    """
    from evalkit.thinking import NONE, decide

    names = format_names(value, len(completions), default)
    resolved: dict[Any, Any] = {}
    out = []
    for name, text in zip(names, completions):
        if isinstance(name, str) and name == "auto":
            out.append(decide("auto", completions=[text]).format)
            continue
        key = name if isinstance(name, (str, type(None))) else id(name)
        if key not in resolved:
            resolved[key] = known_format(name)
        out.append(resolved[key])
    unmarked = [i for i, (name, fmt) in enumerate(zip(names, out)) if isinstance(name, str) and name == "auto"
                and fmt is NONE]
    # markers a trainer decoded away (`analysis…assistantfinal…`, with_markers): where one reply of the batch shows a
    # format's, each `auto` reply that starts as that format's does is that format's, a cut-off one too
    for fmt in {id(f): f for i in unmarked if (f := decoded_format(completions[i]))}.values():
        opened = fmt.decoded_markers()[0]
        for i in [i for i in unmarked if completions[i].lstrip().startswith(opened)]:
            out[i] = fmt
        unmarked = [i for i in unmarked if out[i] is NONE]
    if unmarked:
        for i, fmt in zip(unmarked, _opened_formats(unmarked, out, completions, think_open, prompts)):
            out[i] = fmt
    return out


def format_names(value: Any, n: int, default: Any = None) -> list[Any]:
    """Each row's think format name as given (a keyword or a column): a pyarrow scalar's value, `default` where the
    row has none (None, NaN, pandas' NA, blank text)."""
    return [default if _missing(name) else name.as_py() if hasattr(name, "as_py") else name
            for name in per_row(value, n, default)]


def _missing(value: Any) -> bool:
    """Whether a row's value is missing: None, NaN, pandas' NA, blank text, or a pyarrow scalar holding none (a
    column of pandas or pyarrow gives these where a list gives None)."""
    if hasattr(value, "as_py"):
        value = value.as_py()
    return (value is None or (isinstance(value, float) and value != value)
            or (isinstance(value, str) and not value.strip()) or type(value).__name__ in ("NAType", "NaTType"))


def _opened_formats(rows: Sequence[int], formats: Sequence[Any], completions: Sequence[str], think_open: Any,
                    prompts: Any) -> list[Any]:
    """For `auto` rows without a marker: the format whose thinking their prompt opened, else none."""
    from evalkit.thinking import NONE, R1

    n = len(formats)
    seen = [f for f in formats if f is not None and f.thinks]
    batch = max(seen, key=lambda f: sum(g is f for g in seen)) if seen else R1  # the batch's own format
    flags = None if think_open is None else [flag(v) for v in per_row(think_open, n)]  # a row's None: not given
    texts = per_row(prompts, n)
    by_template = _opened_by_template([(f, t) for i, (f, t) in enumerate(zip(formats, completions))
                                       if not isinstance(texts[i], str)])
    out = []
    for i in rows:
        if flags is not None and flags[i] is not None:
            out.append(batch if flags[i] else NONE)
        elif isinstance(texts[i], str):
            prompt = texts[i].rstrip()
            out.append(format_opened_by(prompt) or NONE)
        else:
            out.append(batch if by_template.get(batch.name) else NONE)
    return out


def format_opened_by(prompt: str) -> Any:
    """The built-in think format whose open marker ends `prompt` (trailing whitespace aside), or None."""
    from evalkit.thinking import FORMATS

    prompt = prompt.rstrip()
    return next((f for f in FORMATS.values() if f.thinks and f.open and prompt.endswith(f.open)), None)


def think_open_rows(value: Any, prompts: Any, formats: Sequence[Any], texts: Sequence[str] = ()) -> list[bool]:
    """Whether each row's prompt opened thinking: the `think_open` keyword or column where given (a
    row's None is not given: veRL's extra_info without the key, a nullable parquet column), else
    read off TRL's `prompts` where they are text (a template applied by the user, such as an
    R1-distill's, ends the prompt with `<think>\\n`), as a run reads its own prompts.

    Chat-message prompts (and rows without a prompt) are templated where the rewards cannot see it, in
    the trainer, and one trainer applies one template to its whole batch; so the batch's completions
    (`texts`) say it, per think format: one that closes thinking without opening it shows the template
    opened it, one that starts with the open marker shows it did not; the majority decides, and a batch
    that shows neither (every completion cut off before closing, or none thinking) reads as not opened.
    """
    n = len(formats)
    given = None if value is None else [flag(v) for v in per_row(value, n)]
    if given is not None and all(v is not None for v in given):
        return [bool(v) for v in given]
    rows = per_row(prompts, n)
    texts = per_row(list(texts), n, "")
    shown = _opened_by_template([(fmt, t) for p, fmt, t in zip(rows, formats, texts) if not isinstance(p, str)])
    read = [fmt is not None and fmt.thinks and (p.rstrip().endswith(fmt.open) if isinstance(p, str)
                                                else shown.get(fmt.name, False))
            for p, fmt in zip(rows, formats)]
    return read if given is None else [r if g is None else bool(g) for g, r in zip(given, read)]


_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


def flag(value: Any) -> bool | None:
    """A row's yes/no value (`think_open`) as a dataset holds it: None where it is not given (None, a float NaN:
    pandas' missing value, an empty or unknown text), else its truth; text reads as YAML and CSV write it
    ("false", "0" and "no" are False: `bool("false")` is True)."""
    if value is None:
        return None
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    try:
        if value != value:  # NaN, numpy's float32 too
            return None
        return bool(value)
    except (TypeError, ValueError):  # a numpy array of several values has no one truth
        return None


def _opened_by_template(rows: Sequence[tuple[Any, str]]) -> dict[str, bool]:
    """Per think format name, whether these completions show a template that opened thinking."""
    from evalkit.thinking import opened_vote

    votes: dict[str, int] = {}
    for fmt, text in rows:
        if fmt is not None:
            votes[fmt.name] = votes.get(fmt.name, 0) + opened_vote(text, fmt)
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
    if isinstance(value, (list, tuple)) or is_array(value):
        values = list(value)
        return (values + [default] * n)[:n]
    return [value] * n


def is_array(value: Any) -> bool:
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
        except RecursionError:  # an object nested too deeply to read: code's to refuse (unjudged), not math's
            return '"style"' in value
        return isinstance(parsed, dict) and "style" in parsed
    return False
