"""analyze / analyze_many: acts and episodes of reflection, the answer trajectory, and the
over/underthinking figures."""

from __future__ import annotations

import bisect
import contextlib
import gc
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.thinking import is_truncated, split_think
from evalkit.trace._answers import Candidate, answer_section, normalize, readings
from evalkit.trace._acts import Act, Episode, episodes, model_acts, rule_acts
from evalkit.trace._markers import format_tags, rule_hits, scan_sentences
from evalkit.trace._rules import KINDS, Rule, compiled
from evalkit.trace._stats import TraceStats

if TYPE_CHECKING:
    from evalkit.trace._model import ReflectionModel

# Act detectors (see _acts.py): `model` (the sentence classifier, the default) or `rules` (the rule
# table read literally). `learned`, the name of an earlier version's model detector, means `model`.
DETECTORS = ("model", "rules")
DETECTOR_ALIASES = {"learned": "model"}

# A batch verifier: [(candidate answer text, gold), ...] -> [True / False / None, ...] in order.
BatchVerifier = Callable[[list[tuple[str, Any]]], list["bool | None"]]


@dataclass(frozen=True)
class _Parsed:
    """Everything found in one completion before any verification."""

    gold: Any
    truncated: bool
    has_think: bool
    think_start: int  # where the think block's text starts (after `<think>`, or 0)
    think_end: int  # where the think block's text ends (the `</think>` offset, or len when unclosed)
    answer_start: int
    answer_end: int  # where the answer text ends (before an answer-close marker such as `<|return|>`)
    markers: tuple[Act, ...]
    episodes: tuple[Episode, ...]
    thoughts: int  # new lines of thought (switch and `thought` rows)
    candidates: tuple[Candidate, ...]
    final: str | None  # the final answer text for a batch-callable verifier (None: no answer)


@contextmanager
def _collector_paused():
    """Pause the cyclic garbage collector while the acts of many traces are built and kept: each of its
    full passes walks every object built so far, which made unpickling a worker's results four times
    slower. Nothing built here forms a cycle, so reference counting frees it as before."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_held: list = []  # in a forked worker: the completions of its analyze_many call (see `_hold`)
_held_model: list = [None]  # in a worker: the reflection model of its analyze_many call


def _hold(items: list, model: Any) -> None:
    """A worker's initializer: keep the completions it inherited (forked: passed without pickling)
    and the reflection model the call resolved (so every worker reads with the same weights)."""
    _held[:] = items
    _held_model[0] = model
    # a forked worker inherits the CLI's handlers: SIGTERM raised Terminated in it, a traceback on stderr each
    # time the pool shut down. A signal to the process group (Ctrl-C, `timeout`, `kill -- -PGID`) is the parent's to
    # handle: it stops the pool. Killed by it as well, workers were started again by the pool, whose shutdown then
    # waited on them for ever; in a group of their own they are not sent it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.setpgrp()


def _parse_chunk(args: tuple) -> list[_Parsed]:
    rules, detector, items, think_format, model = args
    if isinstance(items, tuple):  # (start, end) of the completions a forked worker holds
        items = _held[items[0]:items[1]]
    model = model if model is not None else _held_model[0]
    table = compiled(rules)
    with _collector_paused():
        return [_parse(c, g, o, f, table, detector, think_format, model) for c, g, o, f in items]


def _parse(completion: str, gold: Any, think_open: bool, finish_reason: str | None, rules, detector: str,
           think_format: Any = None, model: Any = None) -> _Parsed:
    text = completion or ""
    split = split_think(text, think_open, think_format)
    truncated = is_truncated(text, finish_reason, think_open, think_format)
    think_end = _think_end(text, split)
    found, first_step = readings(text)
    candidates = tuple(found)
    # No think block: the whole text is the answer, and any reflection in it is still reflection.
    think_start = split.think_start if split.has_think else 0
    stop = think_end if split.has_think else len(text)
    sents, hits = _sentences(text, think_start, stop, rules, format_tags(think_format))
    acts, at, thoughts = rule_acts(text, sents, hits)
    if detector == "model":
        from evalkit.trace._model import LABELS, sentence_features

        feats = sentence_features(text, sents, hits, first_step, stop)
        # rows the model was fitted with are its features; only rows it never saw are left to the table
        acts, at = model_acts(text, sents, hits, model.probabilities(feats), model.threshold, LABELS, (acts, at),
                              model.known_rows)
    final = None
    if not truncated:
        # The final answer: the last one stated after the think block (the whole text when there is none),
        # else a short answer text as it is.
        in_answer = answer_section(text, split.answer_start) if split.answer.strip() else []
        if in_answer:
            final = in_answer[-1].answer
        elif split.answer.strip() and len(split.answer.strip()) <= 200:
            final = split.answer.strip()
    return _Parsed(gold, truncated, split.has_think, think_start, think_end, split.answer_start,
                   split.answer_start + len(split.answer), tuple(acts), tuple(episodes(acts, at)), thoughts,
                   candidates, final)


def _think_end(text: str, split) -> int:
    """Where the thinking's text ends: its last close marker, the end when it never closes, 0 without one."""
    if not split.has_think:
        return 0
    return split.think_end if split.closed else len(text)


def _sentences(text: str, start: int, stop: int, rules, tags: tuple[str, ...] = ()) -> tuple[list, list[dict]]:
    """The sentences of `text[start:stop]` (the thinking; cut at the think format's markers `tags` too)
    and, per sentence, the rule rows that fired on it by role."""
    scan = scan_sentences(text, rules, start, stop, tags)
    return scan.sents, rule_hits(scan)


def reflection_features(completion: str, think_open: bool = False, rules: Iterable[Rule] | None = None,
                        think_format: Any = None):
    """(sentences, (own, ctx) feature names) of one completion exactly as the `model` detector sees
    them (`_model.sentence_features`); `bench/trace/train_reflection.py` fits the model on these."""
    from evalkit.trace._model import sentence_features

    text = completion or ""
    split = split_think(text, think_open, think_format)
    start, stop = (split.think_start, _think_end(text, split)) if split.has_think else (0, len(text))
    sents, hits = _sentences(text, start, stop, compiled(rules), format_tags(think_format))
    return sents, sentence_features(text, sents, hits, _first_step(text), stop)


def _first_step(text: str) -> int | None:
    """Where the first stated answer or concluding step ends, read as the reflection model was fitted
    (every "So … = N", `find_candidates(steps="all")`); None without one."""
    return readings(text)[1]


def _positions(text: str, tokenizer: Any) -> tuple[str, Callable[[int], int]]:
    """The length unit and a map from character offset to position in that unit."""
    if tokenizer is None:
        return "chars", lambda i: i
    try:
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        starts = [a for a, _ in enc["offset_mapping"]]
        return "tokens", lambda i: bisect.bisect_left(starts, i) if i < len(text) else len(starts)
    except (TypeError, KeyError, NotImplementedError, ValueError):
        pass
    # A plain callable text -> tokens (or a slow tokenizer): scale characters to its token count.
    encode = getattr(tokenizer, "encode", tokenizer)
    n = len(encode(text))
    scale = n / len(text) if text else 0.0
    return "tokens", lambda i: n if i >= len(text) else int(round(i * scale))


def _resolve(verifier: Any) -> tuple[BatchVerifier | None, Any]:
    """(the batch callable that checks candidate answers, the registered verifier that judges whole
    completions: None for a batch callable, which is given the final answer's text instead)."""
    if verifier is None:
        return None, None
    if callable(verifier) and not isinstance(verifier, str):
        return verifier, None
    from evalkit.run.loop import _candidate_checker
    from evalkit.verifiers import get_verifier

    # a bare candidate is boxed so the verifier reads exactly it; a tuple gold is several accepted answers
    built = get_verifier(verifier)
    return _candidate_checker(built), built


def _judge_completions(verifier: Any, items: list[tuple[str, Any, bool, str | None]], think_format: Any
                       ) -> list[bool | None]:
    """The verifier's verdict on each whole completion (completion, gold, think_open, finish_reason),
    read as a run reads it (and `evalkit verify --completion`): its answer after the thinking."""
    from evalkit.run.loop import verify_any
    from evalkit.verifiers.base import VerifyItem

    rows = [(VerifyItem(text, None, finish, opened, think_format=think_format), gold)
            for text, gold, opened, finish in items]
    return [v.correct for v in verify_any(verifier, rows)]


def _gold_key(gold: Any) -> Any:
    try:
        hash(gold)
        return gold
    except TypeError:
        return repr(gold)


def analyze_many(
    completions: Sequence[str],
    golds: Sequence[Any] | None = None,
    verifier: str | BatchVerifier | None = "math",
    *,
    think_open: bool | Sequence[bool] = False,
    finish_reasons: Sequence[str | None] | None = None,
    correct: Sequence[bool | None] | None = None,
    tokenizer: Any = None,
    rules: Iterable[Rule] | None = None,
    detector: str = "model",
    workers: int = 1,
    think_format: Any = None,
    reflection_model: str | Path | ReflectionModel | None = None,
) -> list[TraceStats]:
    """Analyze many completions; every candidate answer of all of them is verified in one batch,
    each distinct (answer, gold) pair once.

    completions: the model's texts (think block included, as stored in samples.jsonl).
    golds: the gold answers, one per completion (None: nothing is verified; correctness fields are None).
    verifier: a registered verifier name (`math`), a batch callable
        `[(candidate, gold), ...] -> [bool | None, ...]`, or None for no verification. A named
        verifier checks the candidates and judges each whole completion without a known verdict (as a
        run and `evalkit verify --completion` do); a batch callable is given the final answer's text.
    think_open: the prompt opened the think block (one value, or one per completion).
    finish_reasons: the backends' finish reasons (`length` = truncated), one per completion.
    correct: the samples' verdicts when already known (the pipeline's), one per completion; where
        given (not None) the final answer is not re-verified, elsewhere it is verified (see `verifier`).
    tokenizer: a Hugging Face tokenizer (or a callable text -> tokens) to measure lengths in tokens;
        None measures in characters. Every length and position says its unit in `unit`.
    rules: the marker rules (default the built-in table, after the rows a `reflection_model` was fitted
        with; see `load_rules`).
    detector: `model` (default): the sentence classifier fitted on sentences labelled under
        traces/REFLECTION_RUBRIC.md (leave-one-trace-out F1 in bench/trace/results/reflection_f1.md);
        `rules`: the rule table read literally (every row that fires is an act). A user's own rows
        feed the model as features by their role and kind; unless the model was fitted with them
        (`fit_detector(rules=...)`), a sentence they fire on is left to the rows.
    workers: processes to find markers and candidates in (verification is the verifier's business).
    think_format: how the completions think (an evalkit.thinking row or its name; None is r1): markers
        are read in the thinking only; the answer is what follows it.
    reflection_model: with detector `model`, a model file to use instead of the shipped weights (one
        `fit_detector` wrote, adapted to a model's own labelled traces; InputError if it is none), or
        the model itself (`load_model`), as a run pins the one whose sha256 it records.
    """
    if isinstance(completions, (str, bytes)):  # its characters would be n completions
        raise TypeError("analyze_many: completions must be a list of texts, got one text (use analyze())")
    completions = [_text_of(c, i) for i, c in enumerate(completions)]
    n = len(completions)
    golds = list(golds) if golds is not None else [None] * n
    finish_reasons = list(finish_reasons) if finish_reasons is not None else [None] * n
    if isinstance(think_open, bool) or type(think_open).__name__ == "bool_":  # numpy's too
        opens = [bool(think_open)] * n
    elif hasattr(think_open, "__iter__") and not isinstance(think_open, (str, bytes, dict)):
        opens = list(think_open)
    else:
        raise TypeError(f"analyze_many: think_open must be true or false (or one per completion), got "
                        f"{think_open!r:.40}")
    if not (len(golds) == len(finish_reasons) == len(opens) == n) or (correct is not None and len(correct) != n):
        raise ValueError("analyze_many: completions, golds, finish_reasons, think_open and correct must have one entry each")
    detector = DETECTOR_ALIASES.get(detector, detector)
    if detector not in DETECTORS:
        raise ValueError(f"analyze_many: detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    rules = tuple(rules) if rules is not None else None
    model = None
    if detector == "model":
        from evalkit.trace._model import model_of, table_of

        # read once here (a bad file fails now); every worker reads with this one. A model fitted with a
        # user's rows reads them wherever it is used.
        model = model_of(reflection_model)
        rules = table_of(model, rules)
    items = list(zip(completions, golds, opens, finish_reasons))
    if workers > 1 and n > 1:
        import multiprocessing as mp

        size = max(1, min(256, n // (workers * 4) or 1))
        if "fork" in mp.get_all_start_methods():
            # Forked workers already hold the completions: a chunk names its range, not its texts.
            pool = mp.get_context("fork").Pool(workers, initializer=_hold, initargs=(items, model))
            chunks = [(rules, detector, (k, k + size), think_format, None) for k in range(0, n, size)]
        else:  # the model is pickled once per worker, the completions once per chunk
            pool = mp.get_context("spawn").Pool(workers, initializer=_hold, initargs=([], model))
            chunks = [(rules, detector, items[k:k + size], think_format, None) for k in range(0, n, size)]
        with pool, _collector_paused():
            parsed = [p for part in pool.imap(_parse_chunk, chunks) for p in part]
    else:
        parsed = _parse_chunk((rules, detector, items, think_format, model))

    batch, judge = _resolve(verifier)
    verdicts: dict[tuple[str, Any], bool | None] = {}
    finals: list[bool | None] = [None] * n
    unknown = [i for i, p in enumerate(parsed) if batch is not None and p.gold is not None
               and (correct is None or correct[i] is None)]  # the completions whose verdict is to be found
    if batch is not None:
        pairs: dict[tuple[str, Any], tuple[str, Any]] = {}
        for p in parsed:
            if p.gold is None:
                continue
            for c in p.candidates:
                pairs.setdefault((normalize(c.answer), _gold_key(p.gold)), (c.answer, p.gold))
        if judge is None:
            for i in unknown:
                final = parsed[i].final
                if final is not None:
                    pairs.setdefault((normalize(final), _gold_key(parsed[i].gold)), (final, parsed[i].gold))
        keys = list(pairs)
        results = batch([pairs[k] for k in keys]) if keys else []
        if len(results) != len(keys):
            raise ValueError(f"verifier returned {len(results)} results for {len(keys)} answers")
        verdicts = dict(zip(keys, results))
    if judge is not None:
        found = _judge_completions(judge, [(completions[i] or "", parsed[i].gold, opens[i], finish_reasons[i])
                                           for i in unknown], think_format)
        for i, ok in zip(unknown, found):
            finals[i] = ok
    for i, p in enumerate(parsed):
        if correct is not None and correct[i] is not None:
            finals[i] = correct[i]
        elif judge is not None or batch is None or p.gold is None:
            continue  # judged above, or not judged
        elif p.truncated or p.final is None:
            finals[i] = False  # the model's fault: no answer (docs/trace.md: never None)
        else:
            finals[i] = verdicts.get((normalize(p.final), _gold_key(p.gold)))
    with _collector_paused():
        return [_stats(completions[i] or "", p, verdicts, finals[i], tokenizer, batch is not None)
                for i, p in enumerate(parsed)]


def _text_of(completion: Any, i: int) -> str:
    """A completion's text: a string, or chat messages (their assistant messages' text, as the rewards read
    them); TypeError naming the completion for anything else (a number would fail deep inside)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple, dict)):
        from evalkit.rewards._inputs import completion_text

        return completion_text(completion)
    raise TypeError(f"completion {i}: expected a string or chat messages, got {type(completion).__name__} "
                    f"{completion!r:.40}")


def analyze(
    completion: str,
    gold: Any = None,
    verifier: str | BatchVerifier | None = "math",
    *,
    think_open: bool = False,
    finish_reason: str | None = None,
    correct: bool | None = None,
    tokenizer: Any = None,
    rules: Iterable[Rule] | None = None,
    detector: str = "model",
    think_format: Any = None,
    reflection_model: str | Path | ReflectionModel | None = None,
) -> TraceStats:
    """Analyze one completion (see `analyze_many` for the arguments; batches verify faster)."""
    return analyze_many(
        [completion], [gold], verifier, think_open=think_open, finish_reasons=[finish_reason],
        correct=None if correct is None else [correct], tokenizer=tokenizer, rules=rules,
        detector=detector, think_format=think_format, reflection_model=reflection_model,
    )[0]


def _stats(text: str, p: _Parsed, verdicts: dict, final_correct: bool | None, tokenizer: Any, verified: bool) -> TraceStats:
    unit, pos = _positions(text, tokenizer)
    length = pos(len(text))
    think_length = pos(p.think_end) - pos(p.think_start) if p.has_think else 0
    answer_length = pos(p.answer_end) - pos(p.answer_start) if p.answer_end > p.answer_start else 0

    trajectory = []
    for c in p.candidates:
        ok = verdicts.get((normalize(c.answer), _gold_key(p.gold))) if verified and p.gold is not None else None
        trajectory.append({"position": pos(c.end), "answer": c.answer, "correct": ok, "rule": c.rule})
    first_correct = next((t["position"] for t in trajectory if t["correct"] is True), None)

    changes = {"wrong_to_right": 0, "right_to_wrong": 0, "wrong_to_wrong": 0}
    judged = [t["correct"] for t in trajectory if t["correct"] is not None]
    for a, b in zip(judged, judged[1:]):
        if a is False and b is True:
            changes["wrong_to_right"] += 1
        elif a is True and b is False:
            changes["right_to_wrong"] += 1
        elif a is False and b is False:
            changes["wrong_to_wrong"] += 1

    counts = {k: 0 for k in KINDS}
    for m in p.markers:
        counts[m.kind] = counts.get(m.kind, 0) + 1
    counts["aha"] = sum(m.aha for m in p.markers)
    covered = sum(e.end - e.start for e in p.episodes)
    think_chars = p.think_end - p.think_start if p.has_think else len(text)

    overthinking = outcome_eff = ut = None
    if first_correct is not None and length:
        overthinking = round((length - first_correct) / length, 4)
    if final_correct is True and length:
        # Chen et al. 2024: tokens up to the first correct answer over all tokens (all needed when
        # no earlier candidate was recognised as correct).
        outcome_eff = round((first_correct if first_correct is not None else length) / length, 4)
    elif final_correct is False:
        outcome_eff = 0.0
        if first_correct is not None and length:
            # Wang et al. 2025: a right thought was reached, then abandoned.
            ut = round(1 - first_correct / length, 4)
    reflective = bool(p.markers)
    return TraceStats(
        unit=unit,
        length=length,
        think_length=think_length,
        answer_length=answer_length,
        has_think=p.has_think,
        truncated=p.truncated,
        markers=p.markers,
        episodes=p.episodes,
        marker_counts=counts,
        markers_per_1k=round(1000 * len(p.markers) / length, 3) if length else 0.0,
        reflection_share=round(covered / think_chars, 4) if think_chars else 0.0,
        trajectory=tuple(trajectory),
        first_correct_position=first_correct,
        final_correct=final_correct,
        self_corrections=changes,
        overthinking_share=overthinking,
        outcome_efficiency=outcome_eff,
        thought_switches=p.thoughts,
        ut_score=ut,
        superficial_reflection=None if final_correct is None else (reflective and final_correct is False),
    )
