"""Thinking budgets and budget forcing, at the cost of about one run.

For a budget B (tokens of thinking) a sample is what a run with a hard stop at B would give:
thinking that has not ended by B tokens is cut there, the think block is closed with the think
format's close text, a short answer cue is appended, and the model writes its answer in at most
`answer_tokens` tokens. Thinking that ended before B is left alone: the model's own answer follows
its own close.

Cost: a sample's thinking is generated once, up to the largest budget; every smaller budget reuses
the first B tokens of it (the sample's seed makes them the same tokens a run stopped at B would
have drawn) and generates only its answer, with prompt + cut thinking as a prefix the engine has
cached. A sweep of m budgets generates about B_max + m·K tokens against B_max + K for the largest
budget alone (K = answer tokens); bench/budgets/ measures it.

Budget forcing (Muennighoff et al. 2025, s1): with `min_think` T, a close the model writes before T
tokens of thinking (or an end of its reply while still thinking) is dropped and `wait_text` appended
instead, and thinking goes on, at most `max_waits` times. A sample records how many waits were forced inside its budget.

A backend takes part by declaring `continue_tokens(prefixes) -> list[Continued]` (continue token
prefixes; see `Prefix`) and a `tokenizer`; the vLLM engine and an OpenAI-compatible completions
endpoint do.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Protocol, Sequence

from evalkit.errors import InputError
from evalkit.thinking import THINK_CLOSE
from evalkit.types import Completion, Request

DEFAULT_ANSWER_TOKENS = 256  # room for a final answer after the cue; a sweep's cost grows by this per budget
DEFAULT_ANSWER_CUE = "\n\n**Final Answer**\n"
DEFAULT_WAIT_TEXT = "Wait"
DEFAULT_MAX_WAITS = 2
# samples whose thinking is generated together before their answers are made and written
CHUNK = int(os.environ.get("EVALKIT_BUDGET_CHUNK", "64"))


def close_text(think_format: Any = None) -> str:
    """The text that ends thinking and starts the answer in `think_format` (a row of evalkit.thinking,
    its name, or None for r1): the row's `stop_thinking` (r1: `</think>`; harmony: the end of the
    analysis channel and the start of the final one). A row that does not think keeps r1's close.
    """
    from evalkit.thinking import get_format

    row = get_format(think_format)
    return row.stop_thinking or row.close or THINK_CLOSE


@dataclass(frozen=True)
class BudgetSettings:
    """How a run thinks under budgets.

    budgets: thinking budgets in tokens, ascending; empty when only `min_think` is used (thinking
        then runs to the run's max tokens, and the answer gets what is left).
    answer_tokens: most tokens of answer after a cut (and after a close when budgets are given).
    answer_cue: text appended after the close when evalkit cut the thinking.
    min_think: thinking closed before this many tokens is forced on (0: never).
    max_waits: most waits forced per sample.
    wait_text: what replaces a premature close.
    close: the text evalkit writes to end thinking and start the answer (the format's `stop_thinking`).
    think_close: the format's own close marker, where the model's own thinking ends: sky's model may
        write `<|end_of_thought|>` with other white space around it than `close` holds.
    """

    budgets: tuple[int, ...] = ()
    answer_tokens: int = DEFAULT_ANSWER_TOKENS
    answer_cue: str = DEFAULT_ANSWER_CUE
    min_think: int = 0
    max_waits: int = DEFAULT_MAX_WAITS
    wait_text: str = DEFAULT_WAIT_TEXT
    close: str = THINK_CLOSE
    think_close: str = THINK_CLOSE

    @property
    def stops(self) -> tuple[str, ...]:
        """What ends the model's own thinking: the format's close marker (`close` holds it: a think
        format's stop_thinking must)."""
        return (self.think_close,)

    @property
    def finish_text(self) -> str:
        """What follows thinking the model closed itself (its marker, the stop, is left out of the text
        it returns): `close` from the marker on (sky's marker, then `\n\n<|begin_of_solution|>\n\n`),
        so the white space the model wrote before its marker is not doubled by the `\n` `close` starts with."""
        at = self.close.find(self.think_close)
        return self.close[at:] if at >= 0 else self.close

    def identity(self) -> dict[str, Any]:
        """What makes a budget's samples what they are; the budget list itself may grow."""
        return {"answer_tokens": self.answer_tokens, "answer_cue": self.answer_cue, "min_think": self.min_think,
                "max_waits": self.max_waits if self.min_think else None,
                "wait_text": self.wait_text if self.min_think else None, "close": self.close}


def budget_settings(think_budget: Sequence[int] | str | None = None, answer_tokens: int | None = None,
                    min_think: int | None = None, max_waits: int | None = None, wait_text: str | None = None,
                    answer_cue: str | None = None, think_format: Any = None) -> BudgetSettings | None:
    """BudgetSettings from the run options, or None for an ordinary run. Bad values are InputErrors.

    think_budget: budgets as ints or as the CLI's comma-separated text ("1024,2048").
    """
    # an empty --think-budget "" is refused (by parse_budgets), not taken for an ordinary run
    budgets = parse_budgets(think_budget, "--think-budget") if think_budget is not None else ()
    # an option that would change nothing is refused, not ignored: only a budget cuts thinking (and so
    # shapes an answer after a cut), and only a --min-think above 0 forces waits
    if not budgets:
        for name, value in (("--answer-tokens", answer_tokens), ("--answer-cue", answer_cue)):
            if value is not None:
                raise InputError(f"{name} needs --think-budget: it shapes the answer after a budget's cut, and "
                                 "without a budget no thinking is cut")
    if not min_think:
        for name, value in (("--max-waits", max_waits), ("--wait-text", wait_text)):
            if value is not None:
                raise InputError(f"{name} needs a --min-think above 0: only that forces waits")
    if not budgets and not min_think:
        return None
    if answer_tokens is not None and answer_tokens < 1:
        raise InputError(f"--answer-tokens must be at least 1, got {answer_tokens}")
    if min_think is not None and min_think < 0:
        raise InputError(f"--min-think must be at least 0, got {min_think}")
    if max_waits is not None and max_waits < 0:
        raise InputError(f"--max-waits must be at least 0, got {max_waits}")
    if max_waits == 0 and min_think:  # forces nothing, yet would change the run's identity and its answers' seeds
        raise InputError("--max-waits 0 forces no wait: --min-think then changes nothing; drop --min-think, or give "
                         "--max-waits 1 or more")
    if wait_text is not None and not wait_text:
        raise InputError("--wait-text must not be empty")
    return BudgetSettings(
        budgets=budgets, answer_tokens=answer_tokens or DEFAULT_ANSWER_TOKENS,
        answer_cue=DEFAULT_ANSWER_CUE if answer_cue is None else answer_cue, min_think=min_think or 0,
        max_waits=DEFAULT_MAX_WAITS if max_waits is None else max_waits, wait_text=wait_text or DEFAULT_WAIT_TEXT,
        close=close_text(think_format), think_close=_close_marker(think_format))


def _close_marker(think_format: Any = None) -> str:
    from evalkit.thinking import get_format

    return get_format(think_format).close or THINK_CLOSE


def for_format(settings: BudgetSettings, think_format: Any) -> BudgetSettings:
    """The settings with the close text evalkit writes and the close marker it stops on of `think_format`."""
    return replace(settings, close=close_text(think_format), think_close=_close_marker(think_format))


def parse_budgets(value: Sequence[int] | str, option: str) -> tuple[int, ...]:
    """Budgets from "1024,2048" or a list of ints: positive, distinct, ascending."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    given = [str(item).strip() for item in items]
    for text in given:
        if not text:
            if any(given):  # `16,,40`: a budget left out by mistake is not passed over in silence
                raise InputError(f"{option}: an empty item in {str(value)[:80]!r} (expected e.g. 1024,2048)")
            continue
        # ASCII digits only: int() would also take `1_000` and other scripts' digits
        if not re.fullmatch(r"[+-]?[0-9]+", text):  # `+-5` passed a test of stripped signs, and int() failed
            raise InputError(f"{option}: {text!r} is not a whole number of tokens (expected e.g. 1024,2048)")
        b = int(text)
        if b < 1:
            raise InputError(f"{option}: budgets must be at least 1 token, got {b}")
        out.append(b)
    if not out:
        raise InputError(f"{option}: no budget given (expected e.g. 1024,2048)")
    return tuple(sorted(set(out)))


# ------------------------------------------------------------------------- the backend capability


@dataclass(frozen=True)
class Prefix:
    """A token prefix to continue.

    token_ids: the prompt and everything generated so far, as the engine's token ids.
    max_tokens, temperature, top_p, seed: sampling for this continuation.
    stop: texts that end the continuation (the think close); the matched text is not returned.
    """

    token_ids: tuple[int, ...]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Continued:
    """What a backend generated after a Prefix.

    token_ids: the new tokens (a matched stop text and the end-of-sequence token left out).
    finish_reason: `stop` or `length`. stopped_on: the stop text that ended it (None: end of sequence).
    cached_tokens: prefix tokens the engine took from its cache (None when it does not say).
    """

    token_ids: tuple[int, ...]
    finish_reason: str | None
    stopped_on: str | None = None
    cached_tokens: int | None = None


class PrefixBackend(Protocol):
    """A backend that can continue a token prefix (vLLM; an OpenAI-compatible completions endpoint)."""

    tokenizer: Any

    def continue_tokens(self, prefixes: Sequence[Prefix]) -> list[Continued]: ...


def continue_with_stops(tokenizer: Any, prefixes: Sequence[Prefix], run: Any, max_model_len: int | None = None,
                        ) -> list[Continued]:
    """Shared by engine backends: turn Prefixes into sampling kwargs, call `run(token_ids_list,
    kwargs_list)` -> [(token_ids, finish_reason, stop_reason, cached_tokens)], and normalise.

    A stop text that is one token (the think close of a tokenizer that knows it) stops on that token;
    others stop on the text.
    """
    kwargs_list, stop_ids = [], []
    for p in prefixes:
        by_id: dict[int, str] = {}
        texts: list[str] = []
        for text in p.stop:
            ids = tokenizer.encode(text, add_special_tokens=False)
            if len(ids) == 1:
                by_id[ids[0]] = text
            else:
                texts.append(text)
        room = p.max_tokens if not max_model_len else min(p.max_tokens, max_model_len - len(p.token_ids))
        kwargs_list.append(dict(temperature=p.temperature, top_p=p.top_p, seed=p.seed, max_tokens=max(1, room),
                                stop_token_ids=list(by_id) or None, stop=texts or None))
        stop_ids.append(by_id)
    # a prefix that fills the context cannot be continued: the engine would refuse the whole batch
    fits = [i for i, p in enumerate(prefixes) if not max_model_len or len(p.token_ids) < max_model_len]
    ran = dict(zip(fits, run([prefixes[i].token_ids for i in fits], [kwargs_list[i] for i in fits]) if fits else []))
    eos = getattr(tokenizer, "eos_token_id", None)
    out = []
    for i, (p, by_id) in enumerate(zip(prefixes, stop_ids)):
        if i not in ran:
            out.append(Continued((), "length", None, None))
            continue
        ids, finish, reason, cached = ran[i]
        ids = list(ids)
        stopped_on = None
        if finish == "stop" and reason is None and ids and eos is not None and ids[-1] == eos:
            ids.pop()  # the end of sequence is a fact (finish_reason), not text
        if isinstance(reason, int) and reason in by_id:
            stopped_on = by_id[reason]
            if ids and ids[-1] == reason:
                ids.pop()
        elif isinstance(reason, int):  # another end of sequence (vLLM stops on generation_config's too,
            if ids and ids[-1] == reason:  # Qwen3's <|endoftext|>) is a fact as the tokenizer's is, not text
                ids.pop()
        elif isinstance(reason, str) and reason in p.stop:
            stopped_on = reason
            ids = _without_stop_text(tokenizer, ids, reason)
        out.append(Continued(tuple(ids), finish, stopped_on, cached))
    return out


def _without_stop_text(tokenizer: Any, ids: list[int], stop: str) -> list[int]:
    """`ids` without the stop text the engine stopped on. vLLM returns the tokens up to the one that
    completed the stop text: those of `encode(stop)`, or others spelling it (other token boundaries, a
    first token that holds text before it, a last one that runs past it). Then the fewest last tokens
    whose text holds the stop are dropped, and the text before the stop among them is encoded again."""
    tail = tokenizer.encode(stop, add_special_tokens=False)
    if tail and ids[-len(tail):] == tail:
        return ids[:-len(tail)]
    # the stop's characters lie in its last few tokens (a character is at most 4 byte tokens, and one
    # token each side may hold other text): looking further back would decode the whole thinking again
    # and again where the text does not hold the stop as written
    for k in range(1, min(len(ids), 4 * len(stop) + 2) + 1):
        text = tokenizer.decode(ids[-k:], skip_special_tokens=False)
        at = text.find(stop)
        if at >= 0 and "\ufffd" not in text[:at]:  # the text before it starts on a whole character
            return ids[:-k] + (list(tokenizer.encode(text[:at], add_special_tokens=False)) if at else [])
    return ids


def can_continue(backend: Any) -> bool:
    return callable(getattr(backend, "continue_tokens", None)) and getattr(backend, "tokenizer", None) is not None


@dataclass
class TokenCounts:
    """Tokens a budget engine sent and got back: generated, and prefix tokens prefilled or cached."""

    generated: int = 0
    prompt: int = 0
    cached: int = 0
    calls: int = 0

    @property
    def prefilled(self) -> int:
        return self.prompt - self.cached


def derived_seed(seed: int, *parts: Any) -> int:
    """A continuation's own seed, derived from the sample's (so a resumed sample draws the same)."""
    digest = hashlib.sha256("\x1f".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# ------------------------------------------------------------------------------------ thinking


@dataclass
class Thought:
    """One sample's thinking, generated once up to its largest budget.

    ids: thinking tokens (forced waits included, the close left out).
    end: `close` (the model closed it), `eos` (the model stopped without closing), `cap` (it reached
        the cap and is still open).
    waits: token offsets at which a wait was forced.
    """

    prompt_ids: tuple[int, ...]
    ids: list[int] = field(default_factory=list)
    end: str = ""
    waits: list[int] = field(default_factory=list)


class BudgetEngine:
    """Wraps a PrefixBackend: `generate` turns each Request (with its `budget`) into its Completion.

    Requests of one sample (the same task, problem, sample and seed) at several budgets share one
    thinking; requests are yielded with their completions as each chunk of samples finishes.
    """

    def __init__(self, backend: Any, settings: BudgetSettings) -> None:
        if not can_continue(backend):
            raise InputError(f"the {getattr(backend, 'name', '?')} backend cannot continue a text prefix; "
                             "--think-budget and --min-think need the vllm backend or openai with --endpoint completions")
        self.backend = backend
        self.settings = settings
        self.name = backend.name
        self.model = backend.model
        self.tokenizer = backend.tokenizer
        self.counts = TokenCounts()
        self._close_ids = tuple(self._encode(settings.close))
        self._finish_ids = tuple(self._encode(settings.finish_text))
        self._cue_ids = tuple(self._encode(settings.answer_cue))
        self._wait_ids = tuple(self._encode(settings.wait_text))
        self._eos = getattr(self.tokenizer, "eos_token_id", None)

    # the wrapped backend renders prompts; the run loop calls these through us
    def render(self, *args: Any, **kwargs: Any):
        return self.backend.render(*args, **kwargs)

    def close(self) -> None:
        self.backend.close()

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False)) if text else []

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def _continue(self, prefixes: list[Prefix]) -> list[Continued]:
        if not prefixes:
            return []
        out = self.backend.continue_tokens(prefixes)
        self.counts.calls += 1
        for p, c in zip(prefixes, out):
            self.counts.prompt += len(p.token_ids)
            self.counts.cached += c.cached_tokens or 0
            self.counts.generated += len(c.token_ids) + (c.finish_reason == "stop" and c.stopped_on is None)
        return out

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion]]:
        groups: dict[tuple, list[Request]] = defaultdict(list)
        for r in requests:
            groups[(r.task, r.model, r.problem_id, r.sample, r.seed)].append(r)
        keys = list(groups)
        for start in range(0, len(keys), CHUNK):
            chunk = [groups[k] for k in keys[start:start + CHUNK]]
            thoughts = self._think(chunk)
            yield from self._answer(chunk, thoughts)

    def _cap(self, reqs: list[Request]) -> int:
        budgets = [r.budget for r in reqs if r.budget is not None]
        return max(budgets) if budgets else reqs[0].max_tokens

    def _think(self, chunk: list[list[Request]]) -> list[Thought]:
        """Generate every sample's thinking up to its cap, forcing waits where asked."""
        s = self.settings
        thoughts = [Thought(tuple(self._encode(reqs[0].prompt))) for reqs in chunk]
        active = list(range(len(chunk)))
        rounds = 0
        while active:
            prefixes = []
            for i in active:
                req, t = chunk[i][0], thoughts[i]
                # round 0 draws with the sample's own seed: the same tokens an ordinary run would start with
                seed = req.seed if rounds == 0 else derived_seed(req.seed, "wait", len(t.waits))
                prefixes.append(Prefix(t.prompt_ids + tuple(t.ids), self._cap(chunk[i]) - len(t.ids),
                                       req.temperature, req.top_p, seed, s.stops))
            still = []
            for i, c in zip(active, self._continue(prefixes)):
                t, cap = thoughts[i], self._cap(chunk[i])
                ids = list(c.token_ids)
                if c.stopped_on is None and ids and ids[-1] == self._eos:
                    ids.pop()
                t.ids += ids
                ended = c.finish_reason == "stop"  # closed, or the model ended its reply while thinking
                if ended and len(t.ids) < s.min_think and len(t.waits) < s.max_waits:
                    t.waits.append(len(t.ids))
                    t.ids += self._wait_ids
                    if len(t.ids) < cap:
                        still.append(i)
                        continue
                    del t.ids[cap:]
                    t.end = "cap"
                elif c.stopped_on is not None:
                    t.end = "close"
                elif c.finish_reason == "length" or len(t.ids) >= cap:
                    t.end = "cap"
                else:
                    t.end = "eos"
            active = still
            rounds += 1
        return thoughts

    def _cut(self, t: Thought, budget: int, full_text: str) -> int:
        """The token count to keep for `budget`: the budget, or a token or two less where the cut
        would split a character (so every budget's thinking text is a prefix of the largest's)."""
        b = min(budget, len(t.ids))
        while b > 0 and not full_text.startswith(self._decode(t.ids[:b])):
            b -= 1
        # at the end of what was generated the next token is unknown, so the test above cannot see a
        # split there (a resumed sweep generates only to its new smaller budget): a text that ends in
        # an unfinished character (decoded as U+FFFD) is moved back too
        while b > 0 and self._decode(t.ids[:b]).endswith("\ufffd"):
            b -= 1
        return b

    def _answer(self, chunk: list[list[Request]], thoughts: list[Thought]) -> Iterator[tuple[Request, Completion]]:
        s = self.settings
        # (sample index, kept thinking tokens, natural?) -> the answer's prefix; identical prefixes generate once
        plans: list[tuple[Request, int, Thought, int | None, bool, int]] = []
        prefixes: dict[tuple[int, int, bool], Prefix] = {}
        window = getattr(self.backend, "max_model_len", None)  # the context, where the engine says it
        for i, (reqs, t) in enumerate(zip(chunk, thoughts)):
            full_text = self._decode(t.ids)
            for req in reqs:
                limit = req.budget if req.budget is not None else req.max_tokens
                finished = t.end in ("close", "eos") and len(t.ids) < limit
                if finished and t.end == "eos":
                    plans.append((req, i, t, None, False, 0))  # the model stopped without an answer
                    continue
                if not finished and req.budget is None:
                    plans.append((req, i, t, None, False, 0))  # ran out of max tokens while thinking: truncated
                    continue
                if not t.ids and t.end == "cap":  # the prompt fills the window: nothing was generated, no answer
                    plans.append((req, i, t, None, False, 0))
                    continue
                kept = len(t.ids) if finished else self._cut(t, req.budget, full_text)
                fit = (window - len(t.prompt_ids) - len(self._close_ids) - len(self._cue_ids) - s.answer_tokens
                       if window and req.budget is not None else None)
                if fit is not None and kept > fit:  # thinking up to the context leaves no room to answer
                    kept, finished = self._cut(t, max(0, fit), full_text), False
                key = (i, kept, finished)
                tail = self._finish_ids if finished else self._close_ids + self._cue_ids
                room = max(1, self._room(req, kept, len(tail), finished))
                if window:
                    room = max(1, min(room, window - len(t.prompt_ids) - kept - len(tail)))
                plans.append((req, i, t, kept, finished, room))
                # budgets that share a prefix share its answer, drawn once with the most room of them (the
                # seed makes a shorter one its first tokens)
                if key not in prefixes or prefixes[key].max_tokens < room:
                    prefixes[key] = Prefix(t.prompt_ids + tuple(t.ids[:kept]) + tail, room, req.temperature,
                                           req.top_p, derived_seed(req.seed, "answer"))
        keys = list(prefixes)
        answers = dict(zip(keys, self._continue([prefixes[k] for k in keys])))
        for req, i, t, kept, finished, room in plans:
            answer = answers.get((i, kept, finished))
            # drawn with another budget's room (its end of sequence counts, as the engine counts it)
            if answer is not None and len(answer.token_ids) + (answer.finish_reason == "stop"
                                                               and answer.stopped_on is None) > room:
                answer = replace(answer, token_ids=tuple(answer.token_ids[:room]), finish_reason="length",
                                 stopped_on=None)
            yield req, self._completion(req, t, kept, finished, answer)

    def _room(self, req: Request, kept: int, tail: int, finished: bool) -> int:
        """The answer's most tokens: after a cut, `answer_tokens`; after thinking the model ended itself
        before its budget B, what a cut would have had in all (B + `answer_tokens`), so an R1 model's
        long answer after its own close is not cut short; in an ordinary run, what `max_tokens` leaves."""
        if req.budget is None:
            return req.max_tokens - kept - tail
        if not finished:
            return self.settings.answer_tokens
        return max(self.settings.answer_tokens, req.budget + self.settings.answer_tokens - kept - tail)

    def _completion(self, req: Request, t: Thought, kept: int | None, finished: bool,
                    answer: Continued | None) -> Completion:
        s = self.settings
        if kept is None:  # no answer phase: the thinking as generated
            text = req.prefill + self._decode(t.ids)
            reason = "length" if t.end == "cap" else "stop"
            return Completion(text=text, finish_reason=reason, prompt_tokens=len(t.prompt_ids),
                              completion_tokens=len(t.ids) + (t.end == "eos"), model=self.model,
                              reasoning_tokens=len(t.ids), forced_waits=len(t.waits))
        assert answer is not None
        tail = s.finish_text if finished else s.close + s.answer_cue
        tail_ids = self._finish_ids if finished else self._close_ids + self._cue_ids
        answer_ids = list(answer.token_ids)
        eos = answer.stopped_on is None and answer.finish_reason == "stop"
        text = req.prefill + self._decode(t.ids[:kept]) + tail + self._decode(answer_ids)
        return Completion(text=text, finish_reason=answer.finish_reason, prompt_tokens=len(t.prompt_ids),
                          completion_tokens=kept + len(tail_ids) + len(answer_ids) + eos, model=self.model,
                          reasoning_tokens=kept, forced_waits=sum(w < kept for w in t.waits))


def wrap(backend: Any, settings: BudgetSettings | None) -> Any:
    """The backend the run loop generates with: a BudgetEngine when the run has budget settings."""
    return backend if settings is None else BudgetEngine(backend, settings)


def with_budgets(requests: Sequence[Request], budgets: Sequence[int]) -> list[Request]:
    """Each request once per budget."""
    return [replace(r, budget=b) for r in requests for b in budgets]


# ------------------------------------------------------------------------------------ results

REACH = 0.95  # "the smallest budget reaching 95% of the largest budget's avg@n"
_TOLERANCE = 1e-9  # avg@n values are ratios of counts: 19/53 is 95% of 20/53 though the floats differ


def was_cut(record: dict[str, Any], close: str | None = None, answer_cue: str | None = None) -> bool:
    """Whether evalkit cut this budget sample's thinking (closed it and cued the answer), rather than the
    model ending its thinking before the budget.

    record: a sample record with `budget`, `reasoning_tokens` and `completion`. close, answer_cue: the
    run's (config.json `think_budgets`); None reads any built-in format's close and the default cue.
    A cut keeps B tokens, or fewer where token B would split a character or the context window is full,
    so past the token count the test is the text: the kept thinking is followed by the close and the cue.
    (A model whose own answer begins with exactly the cue reads as cut.)
    """
    budget, kept = record.get("budget"), record.get("reasoning_tokens")
    if budget is None:
        return False
    if kept is not None and kept >= budget:
        return True
    cue = DEFAULT_ANSWER_CUE if answer_cue is None else answer_cue
    if not cue:  # no cue: a cut looks like a close the model wrote; only the count tells
        return False
    text = record.get("completion") or ""
    for c in [close] if close else _known_closes():
        at = text.find(c)
        if at >= 0 and text.startswith(cue, at + len(c)):
            return True
    return False


def _known_closes() -> list[str]:
    from evalkit.thinking import FORMATS

    return list(dict.fromkeys(close_text(f) for f in FORMATS.values() if f.thinks))


def config_entry(settings: BudgetSettings, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json's `think_budgets`: the settings, with every budget this run has had (a sweep may grow)."""
    budgets = sorted(set(settings.budgets) | set((previous or {}).get("budgets") or ()))
    return {"budgets": budgets, **settings.identity()}


def headline_budget(counts: dict[Any, int]) -> Any:
    """The budget a sweep's headline figures are: the largest made on every sample it holds (counts: budget ->
    samples; None when empty). One an earlier invocation left on fewer problems (a sweep extended with --limit,
    a crash before a budget was resumed) is listed, not taken for the run's figures."""
    full = max(counts.values(), default=0)
    return max((b for b, n in counts.items() if n == full), default=None)


def headline_rows(samples: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[Any]]:
    """Of a run's samples, those its headline figures count: in a budget sweep, each task and model's headline
    budget's (`headline_budget`), as the report's charts and `curate` read a sweep, never the budgets pooled (a
    cut trace is a prefix of a longer one); every sample elsewhere. Returns them and the headline budgets."""
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for s in samples:
        if s.get("budget") is not None:
            counts[(s.get("task"), s.get("model"))][s["budget"]] += 1
    if not counts:
        return list(samples), set()
    heads = {key: headline_budget(c) for key, c in counts.items()}
    kept = [s for s in samples if s.get("budget") is None or s["budget"] == heads.get((s.get("task"), s.get("model")))]
    return kept, set(heads.values())


def budget_results(samples: Sequence[dict[str, Any]], summary_of: Any, close: str | None = None,
                   answer_cue: str | None = None) -> dict[str, Any]:
    """Metrics per budget for one task and model.

    samples: sample records with a `budget`. summary_of: records -> the run's summary dict (avg@n,
    pass@k, maj@k with CIs), so every budget is scored exactly as a run is.
    close, answer_cue: the run's, to tell a cut from a finished thinking (see `was_cut`); a record's
    own `finished` (anytime probes) wins.
    Returns {"largest", "smallest_reaching_95", "budgets": [per budget: budget, metrics,
    mean_thinking_tokens, mean_answer_tokens, tokens_per_correct, finished_share, mean_forced_waits,
    n_samples]}.
    """
    by_budget: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        if s.get("budget") is not None:
            by_budget[int(s["budget"])].append(s)
    rows = []
    for budget in sorted(by_budget):
        ss = by_budget[budget]
        summary = summary_of(ss)
        thinking = [s["reasoning_tokens"] for s in ss if s.get("reasoning_tokens") is not None]
        answers = [s["completion_tokens"] - s["reasoning_tokens"] for s in ss
                   if s.get("completion_tokens") is not None and s.get("reasoning_tokens") is not None]
        total = sum(s.get("completion_tokens") or 0 for s in ss)
        correct = sum(s.get("correct") is True for s in ss)
        rows.append({
            "budget": budget, "n_samples": len(ss), "metrics": summary["metrics"],
            "mean_thinking_tokens": _mean(thinking), "mean_answer_tokens": _mean(answers),
            "tokens_per_correct": total / correct if correct else None,
            # thinking that ended (closed, or the model stopped) before the budget cut it
            "finished_share": _mean([float(s["finished"] if s.get("finished") is not None
                                           else not was_cut(s, close, answer_cue)) for s in ss]),
            "mean_forced_waits": _mean([s["forced_waits"] for s in ss if s.get("forced_waits") is not None]),
        })
    largest = headline_budget({row["budget"]: row["n_samples"] for row in rows})
    full = max((row["n_samples"] for row in rows), default=0)
    for row in rows:
        if row["n_samples"] < full:
            row["partial"] = True
    complete = [row for row in rows if row["n_samples"] == full]
    return {"largest": largest, "smallest_reaching_95": smallest_reaching(complete, REACH), "budgets": rows}


def smallest_reaching(rows: Sequence[dict[str, Any]], share: float = REACH) -> int | None:
    """The smallest budget whose avg@n is at least `share` of the largest budget's (None when the
    largest scores 0: every budget would trivially reach it)."""
    if not rows:
        return None
    top = rows[-1]["metrics"].get("avg@n", {}).get("value")
    if not top:
        return None
    for row in rows:
        value = row["metrics"].get("avg@n", {}).get("value")
        if value is not None and value >= share * top - _TOLERANCE:
            return row["budget"]
    return None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def format_budget_table(results: Sequence[dict[str, Any]]) -> str:
    """One line per task, model and budget: avg@n with its CI, thinking tokens, share finished."""
    from evalkit.table import figure_text, short_names

    rows = [["task", "model", "budget", "avg@n [95% CI]", "thinking", "answer", "finished", "tok/correct"]]
    names = short_names([r["model"] for r in results])
    marked = partial = False
    for r in results:
        block = r.get("think_budgets", r)
        for row in block.get("budgets", []):
            stat = row["metrics"].get("avg@n") or {}
            value = stat.get("value")
            acc = "-" if value is None else figure_text(stat)
            mark = " *" if row["budget"] == block.get("smallest_reaching_95") else ""
            marked = marked or bool(mark)
            if row.get("partial"):
                mark += f" ({row['n_samples']} samples)"
                partial = True
            rows.append([r["task"], names[r["model"]], f"{row['budget']}{mark}", acc, _num(row["mean_thinking_tokens"]),
                         _num(row["mean_answer_tokens"]), _num(row["finished_share"], pct=True),
                         _num(row["tokens_per_correct"])])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if marked:  # a footnote to no mark (every budget at 0%) reads as a row left out
        lines.append(f"* the smallest budget reaching {REACH:.0%} of the largest budget's avg@n")
    if partial:
        lines.append("(N samples): a budget made on fewer samples than the others (rerun the sweep to complete it); "
                     "the headline is the largest budget made on all")
    return "\n".join(lines)


def _num(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.0f}%" if pct else f"{value:.0f}"
