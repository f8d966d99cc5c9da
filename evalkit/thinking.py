"""Think formats: how a model thinks out loud, as a table of named rows (docs/contracts.md, "Think formats").

A row says the text that opens thinking and the text that closes it, where the answer is (after the
close, or inside its own markers), what the think prefill writes, and what ends thinking when it has
to be cut short. Every reader of thinking takes a row: the verifiers (the answer is what follows the
thinking; a think block that never closes is truncated), the trace analyzer (it reads only the
thinking), the report (it folds the thinking), the rewards' format check, the backends' prefill and
the stitching of reasoning a server returns apart.

    r1         <think>…</think> answer                                 DeepSeek-R1, QwQ, Qwen3, R1 distills
    sky        <|begin_of_thought|>…<|end_of_thought|>
               <|begin_of_solution|> answer <|end_of_solution|>        Sky-T1, OpenThinker, Bespoke-Stratos
    magistral  [THINK]…[/THINK] answer                                 Magistral
    harmony    <|channel|>analysis<|message|>…<|end|>
               <|start|>assistant<|channel|>final<|message|> answer    gpt-oss
    seed       <seed:think>…</seed:think> answer                       Seed-OSS
    none       answer                                                  models that do not think

A user adds rows in YAML (a list of mappings with the ThinkFormat fields) and names one with
`--think-format FILE.yaml:NAME` (or `FILE.yaml` when it holds one row). `auto` decides from the chat
template and the tokenizer's special tokens, or for a replay from the markers in the completions
(`detect_from_tokenizer`, `detect_from_completions`); the run's config.json records the row and why.
"""

from __future__ import annotations

import bisect
import logging
import re
import unicodedata
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

from evalkit.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThinkFormat:
    """One way of thinking out loud.

    name: what users pass to --think-format.
    open / close: the text that opens and closes thinking ("" for `none`: no thinking).
    answer_open / answer_close: the answer's own markers when it has them (sky's solution block,
        harmony's final channel); "" when the answer is simply everything after `close`.
    answer_close_required: a finished answer always ends with answer_close (sky), so an answer block
        left open is a reply cut off, as a think block left open is.
    prefill: what the think prefill writes at the start of the reply to make the model think.
    stop_thinking: what ends thinking and starts the answer when thinking is cut short (a thinking
        budget) or stitched back from a server's separate reasoning.
    signals: texts whose presence in a chat template or a tokenizer's vocabulary betrays the format.
    description: one line for `--help` and the report.
    """

    name: str
    open: str
    close: str
    answer_open: str = ""
    answer_close: str = ""
    answer_close_required: bool = False
    prefill: str = ""
    stop_thinking: str = ""
    signals: tuple[str, ...] = ()
    description: str = ""

    @property
    def thinks(self) -> bool:
        return bool(self.open or self.close)

    def decoded_markers(self) -> tuple[str, str] | None:
        """(open, stop_thinking) as a trainer's decoding leaves them where their special tokens (`<|…|>`) are skipped
        (`skip_special_tokens=True`): harmony's `analysis` and `assistantfinal`; None where nothing is left to read
        (sky's markers vanish whole) or nothing was a special token (r1's `<think>` text)."""
        opened, ended = SPECIAL_TOKEN.sub("", self.open), SPECIAL_TOKEN.sub("", self.stop_thinking)
        return (opened, ended) if opened and ended and opened != self.open else None

    def markers(self) -> tuple[str, ...]:
        """The marker texts that betray the format in completions: its own, not a close that other models
        also end their turns with (harmony's `<|end|>` ends Phi's replies, whatever they think in)."""
        return tuple(m for m in (self.open, self.close, self.answer_open) if m and m not in TURN_ENDS)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "signals": list(self.signals)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "think format") -> "ThinkFormat":
        """A row from YAML / JSON; InputError names the bad field."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise InputError(f"{where}: field {key!r}: unknown (expected some of: {', '.join(sorted(known))})")
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise InputError(f"{where}: field 'name': expected a non-empty string")
        for key in ("open", "close"):
            if not isinstance(data.get(key), str):
                raise InputError(f"{where}: field {key!r}: expected a string (\"\" for no thinking)")
        for key in ("answer_open", "answer_close", "prefill", "stop_thinking", "description"):
            if key in data and not isinstance(data[key], str):
                raise InputError(f"{where}: field {key!r}: expected a string")
        if not isinstance(data.get("answer_close_required", False), bool):  # a quoted "false" is true to Python
            raise InputError(f"{where}: field 'answer_close_required': expected true or false (unquoted), "
                             f"got {data['answer_close_required']!r}")
        if bool(data["open"]) != bool(data["close"]):
            raise InputError(f"{where}: fields 'open' and 'close': give both, or neither for no thinking")
        if data["open"] and data["open"] == data["close"]:  # every open would read as a close: answers inside thinking
            raise InputError(f"{where}: field 'close': must differ from 'open' (both {data['open']!r}): thinking "
                             "could not be told from the answer")
        if data.get("answer_close_required") and not data.get("answer_close"):
            raise InputError(f"{where}: field 'answer_close_required': true needs 'answer_close' (the text that "
                             "ends every finished answer)")
        if not data["open"] and any(data.get(k) for k in ("answer_open", "answer_close")):
            raise InputError(f"{where}: fields 'answer_open' and 'answer_close' mark the answer after thinking; "
                             "a row without 'open' and 'close' does not think, so its whole reply is the answer")
        if data.get("stop_thinking") and data["close"] and data["close"] not in data["stop_thinking"]:
            # what evalkit writes to end thinking must end it as the model's own close does, or a cut
            # thinking would read as never closed
            raise InputError(f"{where}: field 'stop_thinking': must hold the close marker {data['close']!r} "
                             f"(it is what ends thinking), got {data['stop_thinking']!r}")
        signals = data.get("signals", [])
        if hasattr(signals, "tolist") and not isinstance(signals, str):  # a numpy array: a parquet row read by pandas
            signals = signals.tolist()
        if not isinstance(signals, (list, tuple)) or not all(isinstance(s, str) and s for s in signals):
            raise InputError(f"{where}: field 'signals': expected a list of strings")
        row = {**data, "signals": tuple(signals)}
        row.setdefault("prefill", data["open"] + ("\n" if data["open"] else ""))
        row.setdefault("stop_thinking", data["close"] + (data.get("answer_open") or ""))
        return cls(**row)


# A special token as chat templates spell them (`<|channel|>`, `<|end|>`), which a decoding that skips them drops.
SPECIAL_TOKEN = re.compile(r"<\|[^|<>\s]*\|>")
# End-of-turn tokens that several model families write (Phi-3/4 end every reply with `<|end|>`): no
# evidence of a think format on their own.
TURN_ENDS = frozenset({"<|end|>"})

# The built-in rows, in the order auto-detection tries them (the most specific markers first).
FORMATS: dict[str, ThinkFormat] = {f.name: f for f in (
    ThinkFormat("harmony", open="<|channel|>analysis<|message|>", close="<|end|>",
                answer_open="<|channel|>final<|message|>", answer_close="<|return|>",
                prefill="<|channel|>analysis<|message|>",
                stop_thinking="<|end|><|start|>assistant<|channel|>final<|message|>",
                signals=("<|channel|>",), description="gpt-oss: the analysis channel, then the final one"),
    ThinkFormat("seed", open="<seed:think>", close="</seed:think>", prefill="<seed:think>",
                stop_thinking="</seed:think>", signals=("<seed:think>",), description="Seed-OSS"),
    ThinkFormat("magistral", open="[THINK]", close="[/THINK]", prefill="[THINK]", stop_thinking="[/THINK]",
                signals=("[THINK]",), description="Magistral"),
    ThinkFormat("sky", open="<|begin_of_thought|>", close="<|end_of_thought|>",
                answer_open="<|begin_of_solution|>", answer_close="<|end_of_solution|>", answer_close_required=True,
                prefill="<|begin_of_thought|>\n\n",
                stop_thinking="\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n",
                signals=("<|begin_of_thought|>",), description="Sky-T1, OpenThinker, Bespoke-Stratos"),
    ThinkFormat("r1", open="<think>", close="</think>", prefill="<think>\n", stop_thinking="</think>",
                signals=("<think>",), description="DeepSeek-R1, QwQ, Qwen3 and the R1 distills"),
    ThinkFormat("none", open="", close="", description="no thinking: the whole reply is the answer"),
)}
R1 = FORMATS["r1"]
NONE = FORMATS["none"]
THINK_OPEN = R1.open  # kept for readers that predate think formats
THINK_CLOSE = R1.close


def get_format(spec: "str | ThinkFormat | None") -> ThinkFormat:
    """The row a name (`sky`), a user's YAML (`FILE.yaml:NAME`, or `FILE.yaml` with one row) or a row
    itself stands for; None is r1. InputError for an unknown name. (`auto` is decided by the caller.)"""
    if spec is None:
        return R1
    if isinstance(spec, ThinkFormat):
        return spec
    if isinstance(spec, dict):
        return ThinkFormat.from_dict(spec)
    name = str(spec).strip()
    if name in FORMATS:
        return FORMATS[name]
    suffix = next((ext for ext in (".yaml", ".yml") if ext + ":" in name), "")
    path, _, row = name.partition(suffix + ":") if suffix else (name, "", "")
    path += suffix
    if path.endswith((".yaml", ".yml")):
        rows = load_formats(path)
        if row:
            if row not in rows:
                raise InputError(f"{path}: no think format named {row!r} (it has: {', '.join(rows)})")
            return rows[row]
        if len(rows) != 1:
            raise InputError(f"{path}: holds {len(rows)} think formats; name one as {path}:NAME")
        return next(iter(rows.values()))
    raise InputError(f"unknown think format {name!r} (known: {', '.join(FORMATS)}, auto, or FILE.yaml[:NAME])")


def load_formats(path: str | Path) -> dict[str, ThinkFormat]:
    """A user's rows from YAML: a list of mappings (or {formats: [...]}) with ThinkFormat's fields."""
    from evalkit.yamlfile import key_lines, read_yaml  # yaml is imported only when a user's rows are read

    path = Path(path)
    data, node = read_yaml(path, "think formats")
    if isinstance(data, dict) and "formats" in data:
        data = data["formats"]
        node = next((v for k, v in node.value if k.value == "formats"), node)
    if isinstance(data, dict):
        data, node = [data], None
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}:1: expected a list of think formats (mappings with name, open, close, ...)")
    out: dict[str, ThinkFormat] = {}
    for i, row in enumerate(data):
        line = node.value[i].start_mark.line + 1 if node is not None and hasattr(node, "value") and \
            isinstance(node.value, list) and i < len(node.value) else 1
        if not isinstance(row, dict):
            raise InputError(f"{path}:{line}: a think format must be a mapping")
        try:
            fmt = ThinkFormat.from_dict(row, f"{path}:{line}")
        except InputError as e:  # point at the field's own line where the row's node tells it
            lines = key_lines(node.value[i]) if node is not None and i < len(node.value) else {}
            field = next((k for k in lines if f"field {k!r}" in str(e) or f"fields {k!r}" in str(e)), None)
            raise InputError(str(e).replace(f"{path}:{line}:", f"{path}:{lines[field]}:", 1) if field else str(e)) \
                from None
        if fmt.name in FORMATS:  # `--think-format r1` would name the built-in, and a resume would compare the two
            lines = key_lines(node.value[i]) if node is not None and i < len(node.value) else {}
            raise InputError(f"{path}:{lines.get('name', line)}: field 'name': {fmt.name!r} is a built-in think "
                             "format's name; give your row a name of its own")
        if fmt.name in out:
            raise InputError(f"{path}:{line}: think format {fmt.name!r} is given twice; give each row its own name")
        out[fmt.name] = fmt
    return out


# ------------------------------------------------------------------------------ reading completions


@dataclass(frozen=True)
class ThinkSplit:
    """A completion cut into its reasoning and its final answer.

    think: the text inside the think block(s) (empty when there is none).
    answer: the final answer: after the thinking, inside the answer markers where the format has them;
        the whole text when there is no thinking.
    has_think: a think block was present (by its marker, or opened by the prompt).
    closed: the think block was closed (True when there is no think block at all).
    answer_start: character offset of `answer` within the completion.
    think_start / think_end: where the thinking's text lies in the completion (0, 0 without one).
    answer_unfinished: the answer block opened but never closed, in a format whose answers must close.
    reopened: thinking opened again after the last close marker (outside a code fence) and never
        closed: `answer` stops where it reopened, and the completion did not finish.
    """

    think: str
    answer: str
    has_think: bool
    closed: bool
    answer_start: int
    think_start: int = 0
    think_end: int = 0
    answer_unfinished: bool = False
    reopened: bool = False


def split_think(completion: str, think_open: bool = False, think_format: "str | ThinkFormat | None" = None) -> ThinkSplit:
    """Split `completion` into thinking and answer by the format's markers (r1 when not given).

    think_open: the prompt opened thinking, so the completion starts inside it.
    The answer follows the last close marker (or the format's last answer marker); an opened block
    that never closes leaves the answer empty; a completion without any marker is all answer.
    """
    fmt = get_format(think_format)
    text = completion or ""
    if not fmt.thinks:
        return ThinkSplit("", text, False, True, 0)
    if fmt.answer_open:
        at = text.rfind(fmt.answer_open)
        if at >= 0:
            start = at + len(fmt.answer_open)
            end = text.find(fmt.answer_close, start) if fmt.answer_close else -1
            # thinking opened again after the answer, which never closed: the answer stops there
            again = _opened_again(text, fmt.open, start, end if end >= 0 else len(text))
            answer = text[start:again if again >= 0 else end if end >= 0 else len(text)]
            if again >= 0 and fmt.close and fmt.close in answer:  # harmony's `<|end|><|start|>assistant` before it
                answer = answer[:answer.find(fmt.close)]
            t0, t1 = _think_span(text, at, fmt, think_open, ends_at_limit=True)
            unfinished = fmt.answer_close_required and end < 0
            return ThinkSplit(text[t0:t1], answer, t1 > 0 or think_open or fmt.open in text[:at], True, start,
                              t0, t1, unfinished, reopened=again >= 0)
    close = last_close(text, fmt)
    if close >= 0:
        start = close + len(fmt.close)
        t0, t1 = _think_span(text, start, fmt, think_open)
        again = _reopened_at(text, start, fmt)
        return ThinkSplit(text[t0:t1], text[start:again if again >= 0 else len(text)], True, True, start, t0, t1,
                          reopened=again >= 0)
    open_at = text.find(fmt.open)
    if open_at >= 0:
        t0 = open_at + len(fmt.open)
        return ThinkSplit(text[t0:], "", True, False, len(text), t0, len(text))
    if think_open:
        return ThinkSplit(text, "", True, False, len(text), 0, len(text))
    return ThinkSplit("", text, False, True, 0)


def last_close(text: str, think_format: "str | ThinkFormat | None" = None) -> int:
    """Where the close marker that ends the thinking starts, or -1: read from the start, each close outside
    code (a fenced block, inline code) ends the thinking so far, and the fences count again from there; so
    `print('</think>')` or a transcript in the answer's code block is the answer's. Before any close has
    counted, one alone on its line counts even inside a fence (thinking that left a code block open). With
    every close in code, the last one."""
    fmt = get_format(think_format)
    close = text.rfind(fmt.close)
    if close < 0 or "`" not in text and "~~~" not in text:
        return close
    code = _Code(text)
    events = sorted([(at, fence) for fence, places in code.fences.items() for at in places]
                    + [(m.start(), "") for m in re.finditer(re.escape(fmt.close), text)])
    opened = {fence: False for fence in code.fences}
    found = -1
    for at, fence in events:
        if fence:
            opened[fence] = not opened[fence]
        elif not code.inline(at) and (not any(opened.values()) or found < 0 and code.alone(at, fmt.close)):
            found, opened = at, {fence: False for fence in code.fences}
    return found if found >= 0 else close


class _Code:
    """Where a text's code is: inside a fenced block (an odd number of ``` or ~~~ fences between a start and
    the place) or inline code (an odd number of other backticks before it on its line). Positions are found
    once, so asking about many markers stays linear."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.fences = {f: [m.start() for m in re.finditer(f, text)] for f in ("```", "~~~")}
        self.ticks = [m.start() for m in re.finditer("`", text)]
        self.lines = [m.start() for m in re.finditer("\n", text)]

    def _line_start(self, at: int) -> int:
        i = bisect.bisect_left(self.lines, at)
        return self.lines[i - 1] + 1 if i else 0

    def alone(self, at: int, marker: str) -> bool:
        """The marker at `at` is all its line holds (white space aside)."""
        before = self.text[self._line_start(at):at]
        i = bisect.bisect_left(self.lines, at + len(marker))
        after = self.text[at + len(marker):self.lines[i] if i < len(self.lines) else len(self.text)]
        return len(before) < 80 and len(after) < 80 and not before.strip() and not after.strip()

    def inline(self, at: int) -> bool:
        """Inside inline code: an odd number of backticks (fences aside) before `at` on its line."""
        line_start = self._line_start(at)
        ticks = bisect.bisect_left(self.ticks, at) - bisect.bisect_left(self.ticks, line_start)
        fenced = bisect.bisect_left(self.fences["```"], at) - bisect.bisect_left(self.fences["```"], line_start)
        return (ticks - 3 * fenced) % 2 == 1

    def holds(self, at: int, start: int = 0) -> bool:
        counts = [bisect.bisect_left(p, at) - bisect.bisect_left(p, start) for p in self.fences.values()]
        return any(n % 2 for n in counts) or self.inline(at)


def _opened_again(text: str, marker: str, start: int, end: int) -> int:
    """The first `marker` (thinking opening) in text[start:end] outside the answer's code (fences counted from
    `start`), or -1: a final channel that quotes the analysis channel's marker has not opened it."""
    at = text.find(marker, start, end) if marker else -1
    if at < 0 or "`" not in text and "~~~" not in text:
        return at
    code = _Code(text)
    while at >= 0 and code.holds(at, start):
        at = text.find(marker, at + len(marker), end)
    return at


def opened_vote(text: str, think_format: "str | ThinkFormat | None" = None, finish_reason: str | None = None,
                own_line: bool = False) -> int:
    """What one completion says of whether its prompt opened thinking: 1 when it closes thinking it never
    opened (an R1 distill's template opens it) with a close outside code (`print('</think>')` is none; with
    `own_line`, only one that starts or ends its line, not one a sentence mentions), -1 when it
    starts with the open marker, or shows no marker at all though it finished (`finish_reason` "stop": a model
    that does not think), 0 otherwise (cut off before closing, or nothing known). A batch's sum decides."""
    fmt = get_format(think_format)
    if not (fmt.thinks and fmt.open and fmt.close and isinstance(text, str)):
        return 0
    close, opens = text.find(fmt.close), text.find(fmt.open)
    # a close that starts or ends its line (R1's "\n</think>\n\n"), not one a sentence or code mentions
    if (close >= 0 and not 0 <= opens < close and ("`" not in text or not _Code(text).holds(close))
            and (not own_line or text[:close].rstrip(" \t").endswith("\n") or close == 0
                 or text[close + len(fmt.close):].lstrip(" \t")[:1] in ("\n", ""))):
        return 1
    if text.lstrip().startswith(fmt.open) or close < 0 and opens < 0 and finish_reason == "stop":
        return -1
    return 0


def shows_opened(completions: Sequence[tuple[str, str | None]],
                 think_format: "str | ThinkFormat | None" = None) -> bool:
    """Whether (text, finish reason) pairs of one model show that its prompt opened thinking (`opened_vote` summed,
    closes that start or end their line only): closing thinking they never opened outweighs finishing without any
    marker. With no format named, any built-in row's markers can show it."""
    rows = [get_format(think_format)] if think_format is not None else list(FORMATS.values())
    return any(sum(opened_vote(text, fmt, finish, own_line=True) for text, finish in completions) > 0 for fmt in rows)


def _reopened_at(text: str, start: int, fmt: ThinkFormat) -> int:
    """Where thinking opens again after `start` (the end of the last close marker), or -1: a model that
    writes `</think><think>\\boxed{4}` and stops has its answer inside thinking, not after it. Only a
    marker that starts a line (or follows the close at once) opens thinking; one inside a sentence
    ("models write `<think>` first") or a code fence (`print("<think>")`) is the text's."""
    at = text.find(fmt.open, start) if fmt.open else -1  # a format the template alone opens has no marker
    code = None  # where the answer's code is, found once
    while at >= 0:
        line_start = max(text.rfind("\n", start, at) + 1, start)
        if not text[line_start:at].strip():
            code = code or _Code(text)
            if not code.holds(at, start):
                return at
        at = text.find(fmt.open, at + len(fmt.open))
    return -1


def recorded_format(config: dict[str, Any]) -> ThinkFormat:
    """The think format a run's config.json records (r1 for a run made before runs recorded one)."""
    return get_format((config.get("think_format") or {}).get("row"))


def _think_span(text: str, limit: int, fmt: ThinkFormat, think_open: bool,
                ends_at_limit: bool = False) -> tuple[int, int]:
    """(start, end) of the thinking before offset `limit`: from after the first open marker (or the
    start, when the prompt opened it: then only a marker the reply repeats at its very start is
    skipped, and one the thinking mentions later is part of it) to the last close marker.
    ends_at_limit: `limit` is where the answer's own marker opens, so thinking that opened and never
    closed before it ends there (a harmony final channel after an analysis without `<|end|>`)."""
    end = text.rfind(fmt.close, 0, limit)
    if end < 0:
        if not (ends_at_limit and (think_open or fmt.open in text[:limit])):
            return (0, 0)
        end = limit
        # what the format writes between its close and the answer's marker (harmony's `<|start|>assistant`)
        # heads the answer's channel: not thinking, also where the close before it is missing
        answer_open = fmt.answer_open or ""
        header = fmt.stop_thinking[len(fmt.close):len(fmt.stop_thinking) - len(answer_open)]
        if (header.strip() and fmt.stop_thinking.startswith(fmt.close) and fmt.stop_thinking.endswith(answer_open)
                and text.endswith(header, 0, end)):
            end -= len(header)
    if think_open:
        lead = len(text) - len(text.lstrip())
        return (lead + len(fmt.open) if fmt.open and text.startswith(fmt.open, lead) and lead + len(fmt.open) <= end
                else 0, end)
    open_at = text.find(fmt.open, 0, end)
    return (open_at + len(fmt.open) if open_at >= 0 else 0, end)


# What other APIs call the two finish reasons a verdict reads (Anthropic's `max_tokens` and `end_turn`, Gemini's
# `MAX_TOKENS` and `STOP`, the Responses API's `max_output_tokens`, TGI's `eos_token`): a recorded completion
# cut off at its token limit is truncated whichever API it came from.
_FINISH_NAMES = {**dict.fromkeys(("length", "max_tokens", "max_output_tokens", "max_length", "model_length"),
                                 "length"),
                 **dict.fromkeys(("stop", "end_turn", "stop_sequence", "eos_token", "eos"), "stop")}


def finish_reason_of(value: str | None) -> str | None:
    """A recorded finish reason in OpenAI's words (`length`, `stop`); one evalkit does not know is kept as given."""
    return _FINISH_NAMES.get(value.lower(), value) if isinstance(value, str) else value


def is_truncated(completion: str, finish_reason: str | None = None, think_open: bool = False,
                 think_format: "str | ThinkFormat | None" = None) -> bool:
    """A completion is truncated when generation stopped at the token limit; when the finish reason is
    unknown, when thinking opened (by its marker or `think_open`) and never closed (also when it opened
    again after its close), or (formats whose answers must close, such as sky) when the answer block
    opened and never closed. Other APIs' words for the limit (`max_tokens`, ...) are `length` (finish_reason_of)."""
    if finish_reason is not None:
        return finish_reason_of(finish_reason) == "length"
    split = split_think(completion, think_open, think_format)
    return (split.has_think and not split.closed) or split.answer_unfinished or split.reopened


def well_formed(completion: str, think_format: "str | ThinkFormat | None" = None, think_open: bool = False) -> bool:
    """What the format reward checks: exactly one thinking block that opens at the start (or was opened
    by the prompt, then the completion holds no open marker), closes once, and is followed by a
    non-empty answer, inside exactly one answer block where the format has one (closed where it must)."""
    fmt = get_format(think_format)
    text = completion or ""
    if not fmt.thinks:
        return bool(text.strip())
    if text.count(fmt.close) != 1:
        return False
    opens = text.count(fmt.open)
    if think_open:
        if opens:
            return False
    elif opens != 1 or not text.lstrip().startswith(fmt.open) or text.find(fmt.open) > text.find(fmt.close):
        return False
    if fmt.answer_open and text.count(fmt.answer_open) != 1:
        return False
    split = split_think(text, think_open, fmt)
    if fmt.answer_open and split.answer_start < text.find(fmt.close):
        return False
    if fmt.answer_close_required and text.count(fmt.answer_close) != 1:
        return False
    return _visible(split.answer) and not split.answer_unfinished


# What shows nothing: a special token's text (`<|im_end|>`, DeepSeek's `<｜end▁of▁sentence｜>`, `</s>`, Gemma's
# `<end_of_turn>`), characters of no width (U+200B, U+2060, U+FEFF, a soft hyphen: Unicode's format category),
# marks that combine with nothing (a variation selector) and blank letters (Hangul fillers, the blank Braille cell),
# which str.strip() keeps. `<think>x</think>\u200b` was paid as a well-formed reply with an answer.
_SPECIAL_TOKEN = re.compile(r"<[|｜][^<>|｜\s]{1,40}[|｜]>|</?s>|<eos>|<pad>|<(?:start|end)_of_turn>")
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(answer: str) -> bool:
    text = _SPECIAL_TOKEN.sub("", answer) if "<" in answer else answer
    return any(not c.isspace() and c not in _BLANK and unicodedata.category(c) not in ("Cf", "Cc", "Mn", "Me")
               for c in text)


def stitch(reasoning: str | None, content: str | None, think_format: "str | ThinkFormat | None" = None) -> str:
    """One completion from thinking a server returned apart (`reasoning_content`) and the answer, in the
    format's own markers. `content` None means the server saw no end of thinking: the block stays
    open, so a reply cut off mid-thought still reads as truncated. `content` that already holds the
    thinking, before a close marker of its own, is the whole completion; a close marker in `content`
    alone (the model closed its thinking twice: the parser split at the first) keeps the thinking in
    front of it, and the answer is still what follows the last close."""
    fmt = get_format(think_format)
    if not reasoning or not fmt.thinks:  # a format without thinking keeps only the answer
        return content or ""
    if content is None:
        return f"{fmt.prefill}{reasoning}"
    if fmt.close in content and reasoning.strip() in content.rsplit(fmt.close, 1)[0]:
        return content  # the server sent the thinking in the answer too
    end = fmt.answer_close if fmt.answer_close_required and not content.rstrip().endswith(fmt.answer_close) else ""
    return f"{fmt.prefill}{reasoning}{fmt.stop_thinking}{content}{end}"


# ------------------------------------------------------------------------------ deciding `auto`


@dataclass(frozen=True)
class FormatDecision:
    """What `--think-format` resolved to and why (config.json records both)."""

    format: ThinkFormat
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.format.name, "decided_by": self.reason, "row": self.format.to_dict()}


def detect_from_tokenizer(tokenizer: Any) -> FormatDecision:
    """The row a model's chat template or its tokenizer's special tokens betray; `none` when neither
    knows a think marker. Rows are tried most specific first (harmony before r1)."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):
        template = "\n".join(str(v) for v in template.values())
    try:
        vocab = tokenizer.get_vocab()
    except Exception:
        vocab = {}
    for fmt in FORMATS.values():
        for signal in fmt.signals:
            if signal in template:
                return FormatDecision(fmt, f"the chat template writes {signal!r}")
            if signal in vocab:
                return FormatDecision(fmt, f"the tokenizer has the token {signal!r}")
    return FormatDecision(NONE, "neither the chat template nor the tokenizer knows a think marker")


def detect_from_completions(completions: Iterable[str], think_open: bool = False,
                            limit: int = 2000) -> FormatDecision:
    """The row whose markers appear in the most completions (the first `limit` are read).

    think_open: the prompts opened thinking; with no marker anywhere that still means r1-style
    thinking (cut off before it closed), not `none`.
    """
    texts = [c or "" for _, c in zip(range(limit), completions)]
    counts = {fmt: n for fmt, n in marker_counts(texts).items() if n}
    best_count = max(counts.values(), default=0)
    tied = [fmt for fmt, n in counts.items() if n == best_count]
    # Between rows found in as many completions, the one whose markers stand where a model writes them (the
    # reply's start first, then a line of their own) wins over one a sentence quotes ("gpt-oss writes
    # <|channel|>final…"), then r1, the most common.
    best = max(tied, key=lambda fmt: (sum(_marker_placed(t, fmt) for t in texts), fmt is R1), default=None)
    if best is not None:
        return FormatDecision(best, f"{best_count} of {len(texts)} completions hold one of its markers "
                                    f"({', '.join(repr(m) for m in best.markers())})")
    if think_open:
        return FormatDecision(R1, f"no think marker in {len(texts)} completions, but the prompt opens thinking")
    return FormatDecision(NONE, f"no think marker in {len(texts)} completions")


def _marker_placed(text: str, fmt: ThinkFormat) -> int:
    """2 when the row's open marker opens the reply, 1 when one of its markers stands at the start or end of a
    line, else 0 (a sentence quotes it)."""
    if fmt.open and text.lstrip().startswith(fmt.open):
        return 2
    for marker in fmt.markers():
        at = text.find(marker)
        while at >= 0:  # each look is bounded: a degenerate line of thousands of markers stays linear
            end = at + len(marker)
            head, tail = text[max(0, at - 64):at].rstrip(" \t\r"), text[end:end + 64].lstrip(" \t\r")
            if (head.endswith("\n") or not head and at <= 64
                    or tail.startswith("\n") or not tail and end + 64 >= len(text)):
                return 1
            at = text.find(marker, end)
    return 0


def marker_counts(texts: Sequence[str]) -> dict[ThinkFormat, int]:
    """Per built-in row (in the table's order), how many of `texts` hold one of its markers."""
    return {fmt: sum(any(m in t for m in fmt.markers()) for t in texts) for fmt in FORMATS.values()}


# A replay whose completions show a second format this often is not one format's: reading it with one
# would score the other's thinking as its answer (or its answers as unfinished thinking).
MIXED_SHARE = 0.1


def _mixed_formats(completions: Sequence[str], limit: int = 2000) -> None:
    """InputError when `completions` hold the markers of two or more formats, each in at least
    MIXED_SHARE of those that hold any (and in two completions at least)."""
    texts = [c or "" for _, c in zip(range(limit), completions)]
    counts = {fmt: n for fmt, n in marker_counts(texts).items() if n}
    marked = sum(any(m in t for fmt in counts for m in fmt.markers()) for t in texts)
    seen = sorted(((n, fmt.name) for fmt, n in counts.items() if n >= max(2, MIXED_SHARE * marked)), reverse=True)
    if len(seen) > 1:
        shown = ", ".join(f"{name}: {n}" for n, name in seen)
        raise InputError(f"the completions hold the markers of several think formats ({shown}, of {len(texts)}); "
                         "they are read with one: pass --think-format, or give each model's completions on their "
                         "own (a run, a file)")


def _warn_unlike(fmt: ThinkFormat, completions: Sequence[str], limit: int = 2000) -> None:
    """A warning when no completion holds the named format's markers and most hold another's: `--think-format
    harmony` on R1 completions reads their thinking as the answer."""
    texts = [c or "" for _, c in zip(range(limit), completions)]
    counts = marker_counts(texts)
    if any(m in t for m in fmt.markers() for t in texts):
        return
    other, n = max(((f, k) for f, k in counts.items() if f.name != fmt.name), key=lambda x: x[1], default=(None, 0))
    if other is not None and n >= 2 and n * 2 > len(texts):
        log.warning("evalkit: warning: --think-format %s: %s, and %d of %d hold %s's (%s): their thinking may be "
                    "read as the answer; is --think-format %s (or auto) meant?", fmt.name,
                    "no completion holds its markers" if fmt.markers() else "it reads no thinking",
                    n, len(texts), other.name, ", ".join(repr(m) for m in other.markers()), other.name)


DEFAULT_DECISION = "auto with no tokenizer or completions to read: the default r1"


def decide(choice: "str | ThinkFormat | None", *, tokenizer: Any = None,
           completions: Sequence[str] | None = None, think_open: bool = False) -> FormatDecision:
    """Resolve `--think-format`: a named row as given, or `auto` (None) from the completions when there
    are any (a replay), else from the tokenizer, else r1 (a server's chat endpoint shows neither).
    Completions that hold two formats' markers (two models' outputs in one file) are an InputError: read
    with one, the other's thinking would count as its answer."""
    if choice is not None and choice != "auto":
        fmt = get_format(choice)
        if completions:
            _warn_unlike(fmt, completions)
        return FormatDecision(fmt, "given" if isinstance(choice, ThinkFormat) else f"--think-format {choice}")
    if completions:
        _mixed_formats(completions)
        return detect_from_completions(completions, think_open)
    if tokenizer is not None:
        return detect_from_tokenizer(tokenizer)
    return FormatDecision(R1, DEFAULT_DECISION)


def decide_for_run(choice: "str | ThinkFormat | None", *, tokenizer: Any = None,
                   completions: Sequence[str] | None = None, think_open: bool = False,
                   previous: dict[str, Any] | None = None) -> FormatDecision:
    """The think format of a run: `decide`, except that a resumed run keeps the format its samples
    were scored with (config.json's `think_format`, given as `previous`) and refuses another one."""
    if previous and previous.get("row"):
        before = ThinkFormat.from_dict(previous["row"], "config.json think_format")
        if choice in (None, "auto"):
            said = str(previous.get("decided_by") or "recorded in config.json")
            return FormatDecision(before, said if said.startswith("resumed: ") else f"resumed: {said}")
        wanted = get_format(choice)
        differ = [f.name for f in fields(ThinkFormat) if f.name != "description"  # words, not scoring
                  and getattr(wanted, f.name) != getattr(before, f.name)]
        if differ:
            what = f"think format {before.name!r}" + (f" as it was then (another {', '.join(differ)})"
                                                       if wanted.name == before.name else "")
            raise InputError(f"this run's samples were scored with {what}; --think-format {choice} needs "
                             "--overwrite or another --out")
    return decide(choice, tokenizer=tokenizer, completions=completions, think_open=think_open)
