"""The trace analyzer's third detector: a judge model labels each sentence of the thinking.

    evalkit analyze traces.jsonl --detector judge --judge MODEL --judge-base-url URL

The thinking is cut into sentences, and the sentences into chunks; each chunk is one question to the
judge under the shipped taxonomy prompt (`judge_taxonomy.yaml`: doubt, check, verdict, other). The
reply (after the judge's own `<think>…</think>`, which is dropped) must be exactly one `N: label` line
per sentence, in order; a chunk whose reply does not parse leaves its sentences unlabelled and is
counted (`unparsed_chunks`), apart from a chunk that got no reply at all (the server erred, refused or
did not answer: `failed_chunks`, with the first `judge_error`). The sentences are the ones the rules
detector reads (`_markers.sentences`: Chinese and other full stops, the think format's tags). Replies are cached (user cache, keyed by judge model,
taxonomy version and the chunk's text). The summary reports how far the judge agrees with the rules
detector sentence by sentence (a sentence is reflection for the rules when one of their markers
overlaps it, as docs/trace.md measures detectors): agreement and Cohen's kappa.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence


from evalkit.errors import InputError
from evalkit.thinking import split_think
from evalkit.trace._markers import format_tags, sentences
from evalkit.verifiers._judge_cache import ReplyCache, cache_key, user_cache_dir
from evalkit.verifiers._judge_client import JudgeClient

TAXONOMY_FILE = Path(__file__).with_name("judge_taxonomy.yaml")
CHUNK_SENTENCES = 24  # sentences per question: enough context, a reply short enough to parse


@dataclass(frozen=True)
class Taxonomy:
    """version: keys the cache. labels: the allowed labels. system, user: the prompt ({tag}, {sentences})."""

    version: str
    labels: tuple[str, ...]
    system: str
    user: str


@lru_cache(maxsize=4)
def load_taxonomy(path: str | None = None) -> Taxonomy:
    from evalkit.yamlfile import read_yaml

    where = Path(path) if path else TAXONOMY_FILE
    data, _ = read_yaml(where, "the judge's taxonomy")
    return Taxonomy(str(data["version"]), tuple(data["labels"]), data["system"].strip(), data["user"])


def think_sentences(completion: str, think_open: bool = False, think_format: Any = None) -> list[tuple[int, int]]:
    """(start, end) character offsets, into the completion, of the sentences of its thinking, as the
    rules detector cuts them. think_format: how it thinks (an evalkit.thinking row or its name; None is r1)."""
    split = split_think(completion, think_open, think_format)
    if not split.has_think:
        return []
    end = split.think_end if split.closed else len(completion)
    return [(a, b) for a, b, _ in sentences(completion, split.think_start, end, format_tags(think_format))]


def _messages(tax: Taxonomy, sentences: Sequence[str]) -> list[dict[str, str]]:
    numbered = "\n".join(f"{i + 1}. " + " ".join(s.split()).replace("<sentences-", "‹sentences-") for i, s in enumerate(sentences))
    tag = hashlib.sha256(numbered.encode()).hexdigest()[:16]
    user = re.sub(r"\{(tag|sentences)\}", lambda m: tag if m.group(1) == "tag" else numbered, tax.user)
    return [{"role": "system", "content": tax.system}, {"role": "user", "content": user}]


def parse_labels(reply: str | None, n: int, labels: Sequence[str]) -> list[str] | None:
    """The n labels of a reply `1: label` … `n: label` (exactly those lines, in order, after the judge's
    own thinking, which is dropped; a judge that never closes its thinking did not reply), else None."""
    if reply is None:
        return None
    split = split_think(reply)
    if split.has_think and not split.closed:
        return None
    lines = [line.strip() for line in split.answer.strip().splitlines() if line.strip()]
    if len(lines) != n:
        return None
    out = []
    for i, line in enumerate(lines, 1):
        m = re.fullmatch(r"(\d+)\s*[:.]\s*([a-z_]+)", line, re.I)
        if not m or int(m.group(1)) != i or m.group(2).lower() not in labels:
            return None
        out.append(m.group(2).lower())
    return out


class JudgeDetector:
    """Labels thinking sentences with a judge model.

    model, base_url: the judge and its OpenAI-compatible URL. taxonomy: a prompt YAML (default shipped).
    chunk: sentences per question. concurrency: questions in flight. max_tokens: the longest reply.
    """

    def __init__(self, model: str, base_url: str, taxonomy: str | None = None, chunk: int = CHUNK_SENTENCES,
                 concurrency: int = 4, max_tokens: int = 1024, timeout_s: float = 120.0):
        self.model = model
        self.tax = load_taxonomy(taxonomy)
        self.chunk = chunk
        self.client = JudgeClient(base_url, model, timeout_s=timeout_s, max_tokens=max_tokens, concurrency=concurrency)
        self.cache = ReplyCache([user_cache_dir() / "trace-judge" / f"{cache_key(model, self.tax.version, '', '', '')[:16]}.jsonl"])
        self.unparsed_chunks = 0
        self.failed_chunks = 0  # no reply at all: the judge's fault, not its reply's form
        self.first_error: str | None = None
        self.chunks = 0

    def label(self, sentences: Sequence[str]) -> list[str | None]:
        """One label per sentence (None where its chunk's reply did not parse or never came)."""
        groups = [list(sentences[i:i + self.chunk]) for i in range(0, len(sentences), self.chunk)]
        keys = [cache_key(self.model, self.tax.version, "", "", json.dumps(g)) for g in groups]
        replies: dict[int, str | None] = {}
        failed: set[int] = set()
        whole: set[int] = set()  # asked now, and the reply came whole: kept if it parses
        ask = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key)
            if hit is not None:
                replies[i] = hit
            else:
                ask.append(i)
        for i, reply in zip(ask, self.client.ask_many([_messages(self.tax, groups[i]) for i in ask])):
            replies[i] = reply.text if reply.error is None else None
            if reply.error is not None:
                failed.add(i)
                self.first_error = self.first_error or reply.error
            elif reply.text is not None and reply.cut is None:
                whole.add(i)
        out: list[str | None] = []
        for i, group in enumerate(groups):
            labels = parse_labels(replies[i], len(group), self.tax.labels)
            if i in whole and labels is not None:  # a reply that does not parse is asked again
                self.cache.put(keys[i], replies[i], model=self.model, rubric=self.tax.version)
            self.chunks += 1
            self.failed_chunks += i in failed
            self.unparsed_chunks += labels is None and i not in failed
            out += labels if labels is not None else [None] * len(group)
        return out

    def close(self) -> None:
        self.client.close()


def judge_detect_file(path: str | Path, model: str, base_url: str, completion_field: str = "completion",
                      think_open: bool = False, chunk: int = CHUNK_SENTENCES, think_format: Any = "auto") -> dict[str, Any]:
    """Label every trace of a JSON-lines file (or of a run directory: the samples its results count) with
    the judge and compare with the rules detector.

    think_open: the default for lines without their own `think_open`. think_format: how the completions
    think (a name, a row, or `auto`: for a run, the row its config.json records, else from their
    markers); the summary's `think_format` says what was used and why. Bad input (no such file, not
    UTF-8, a line that is not an object with the completion field) is an InputError naming the file
    and line.

    Returns the summary: traces, sentences, labelled sentences, unparsed chunks, chunks the judge gave
    no reply for (failed_chunks, and the first such error: judge_error), per-label counts,
    how many sentences each detector marks as reflection, their agreement and Cohen's kappa (over the
    sentences the judge labelled).
    """
    from evalkit.trace import analyze
    from evalkit.trace._file import _read, file_format

    rows = _read(Path(path), completion_field, None)
    opens = [bool(row.get("think_open", think_open)) for row in rows]
    decision = file_format(path, think_format, [row[completion_field] for row in rows], any(opens))
    fmt = decision.format
    detector = JudgeDetector(model, base_url, chunk=chunk)
    problem = detector.client.check()
    if problem:
        detector.close()
        raise InputError(f"--judge {model}: {problem}")
    counts = {label: 0 for label in detector.tax.labels}
    both = [[0, 0], [0, 0]]  # [rules][judge] over labelled sentences
    n_sentences = 0
    try:
        for row, opened in zip(rows, opens):
            text = row[completion_field]
            spans = think_sentences(text, opened, fmt)
            labels = detector.label([text[a:b] for a, b in spans])
            markers = analyze(text, None, None, think_open=opened, detector="rules", think_format=fmt).markers
            n_sentences += len(spans)
            for (a, b), label in zip(spans, labels):
                if label is None:
                    continue
                counts[label] += 1
                rule = any(m.start < b and a < m.end for m in markers)
                both[int(rule)][int(label != "other")] += 1
    finally:
        detector.close()
    labelled = sum(map(sum, both))
    agree = both[0][0] + both[1][1]
    p_rule, p_judge = (sum(both[1]) / labelled, (both[0][1] + both[1][1]) / labelled) if labelled else (0.0, 0.0)
    chance = p_rule * p_judge + (1 - p_rule) * (1 - p_judge)
    return {"detector": "judge", "model": model, "taxonomy": detector.tax.version, "traces": len(rows),
            "sentences": n_sentences, "labelled": labelled, "chunks": detector.chunks,
            "unparsed_chunks": detector.unparsed_chunks, "failed_chunks": detector.failed_chunks,
            "judge_error": detector.first_error, "labels": counts,
            "judge_reflection": both[0][1] + both[1][1], "rules_reflection": sum(both[1]),
            "agreement": agree / labelled if labelled else None,
            "kappa": (agree / labelled - chance) / (1 - chance) if labelled and chance < 1 else None,
            "think_format": {"name": fmt.name, "decided_by": decision.reason}}
