"""Think blocks and truncation, as docs/contracts.md defines them; shared by verifiers, trace and rewards."""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class ThinkSplit:
    """A completion cut into its reasoning and its final answer.

    think: the text inside the think block(s) (empty when there is none).
    answer: the text after the last `</think>`; the whole text when there are no think tags.
    has_think: a think block was present (by tag, or opened by the prompt).
    closed: the think block was closed (True when there is no think block at all).
    answer_start: character offset of `answer` within the completion.
    """

    think: str
    answer: str
    has_think: bool
    closed: bool
    answer_start: int


def split_think(completion: str, think_open: bool = False) -> ThinkSplit:
    """Split `completion` at its last `</think>`.

    think_open: the prompt opened the think block, so the completion starts inside it.
    A completion with no think tags at all (and not `think_open`) is all answer. An opened block that
    never closes leaves the answer empty.
    """
    text = completion or ""
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        start = close + len(THINK_CLOSE)
        think = text[:close]
        open_at = think.find(THINK_OPEN)
        if open_at >= 0:
            think = think[open_at + len(THINK_OPEN):]
        return ThinkSplit(think, text[start:], True, True, start)
    open_at = text.find(THINK_OPEN)
    if open_at >= 0:
        return ThinkSplit(text[open_at + len(THINK_OPEN):], "", True, False, len(text))
    if think_open:
        return ThinkSplit(text, "", True, False, len(text))
    return ThinkSplit("", text, False, True, 0)


def is_truncated(completion: str, finish_reason: str | None = None, think_open: bool = False) -> bool:
    """A completion is truncated when generation stopped at the token limit; when the finish reason is
    unknown, when a think block is open (by tag or `think_open`) and never closes."""
    if finish_reason is not None:
        return finish_reason == "length"
    split = split_think(completion, think_open)
    return split.has_think and not split.closed
