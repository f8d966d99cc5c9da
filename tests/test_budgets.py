"""Thinking budgets and budget forcing, for real on the vLLM CPU engine with the tiny model.

The tiny model's text is gibberish; what is checked is what a user relies on: a budget's thinking is
exactly what a run stopped at B tokens draws, it is closed and cued, smaller budgets reuse the
largest's thinking, forced waits land where the model closed, and a killed sweep resumes whole.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _http import JSONHandler, serve

import evalkit
from evalkit.budgets import DEFAULT_ANSWER_CUE, format_budget_table, smallest_reaching
from evalkit.errors import InputError
from evalkit.thinking import THINK_CLOSE

pytestmark = pytest.mark.slow
PREFILL = "<think>\n"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def thinking(s: dict) -> str:
    """The thinking text of a budget sample: after the prefill, up to the (first) close."""
    assert s["completion"].startswith(PREFILL)
    return s["completion"][len(PREFILL):].split(THINK_CLOSE)[0]


def test_budget_sweep_cuts_closes_cues_and_reuses_the_largest_thinking(vllm_engine, tmp_path):
    sweep = evalkit.evaluate(["math500"], engine=vllm_engine, n=2, limit=3, think_budget="16,64,256",
                             answer_tokens=12, out=tmp_path / "sweep", progress=False)
    samples = lines(sweep.samples_path)
    assert len(samples) == 3 * 2 * 3 and sweep.generated == 18
    by = {(s["problem_id"], s["sample"], s["budget"]): s for s in samples}
    # what a plain run stopped at 16 tokens draws, with the same per-sample seeds
    plain16 = {(s["problem_id"], s["sample"]): s for s in lines(evalkit.evaluate(
        ["math500"], engine=vllm_engine, n=2, limit=3, max_tokens=16, out=tmp_path / "plain16",
        progress=False).samples_path)}
    cut = 0
    for (pid, sample, budget), s in by.items():
        assert s["reasoning_tokens"] <= budget and s["forced_waits"] == 0
        if s["reasoning_tokens"] == budget:  # evalkit cut it: closed, then the cue, then the answer
            cut += 1
            assert s["completion"].startswith(PREFILL + thinking(s) + THINK_CLOSE + DEFAULT_ANSWER_CUE)
            assert s["completion_tokens"] <= budget + 12 + 16  # thinking, close and cue, answer
        largest = by[(pid, sample, 256)]
        assert thinking(largest).startswith(thinking(s))  # the smaller budgets reuse the largest's thinking
        if budget == 16 and s["reasoning_tokens"] == 16:
            plain = plain16[(pid, sample)]
            # the same 16 tokens; vLLM holds back a last character that is not finished yet
            assert plain["finish_reason"] == "length"
            assert plain["completion"].rstrip("\ufffd") == (PREFILL + thinking(s)).rstrip("\ufffd")
    assert cut >= 6  # the random model seldom closes within 16 tokens

    result = sweep.results[0]
    rows = result["think_budgets"]["budgets"]
    assert [r["budget"] for r in rows] == [16, 64, 256] and result["think_budgets"]["largest"] == 256
    for r in rows:
        assert r["n_samples"] == 6 and "avg@n" in r["metrics"] and "pass@2" in r["metrics"]
        assert r["mean_thinking_tokens"] <= r["budget"] and 0.0 <= r["finished_share"] <= 1.0
        assert r["metrics"]["avg@n"]["ci_low"] <= r["metrics"]["avg@n"]["value"] <= r["metrics"]["avg@n"]["ci_high"]
    assert result["n_samples"] == 6  # the headline figures are the largest budget's
    assert json.loads((sweep.run_dir / "config.json").read_text())["think_budgets"]["budgets"] == [16, 64, 256]

    # a sweep can gain budgets later: only the new budget's samples are made, and nothing else changes
    grown = evalkit.evaluate(["math500"], engine=vllm_engine, n=2, limit=3, think_budget="16,32,64,256",
                             answer_tokens=12, out=tmp_path / "sweep", progress=False)
    assert (grown.generated, grown.reused) == (6, 18)
    after = {(s["problem_id"], s["sample"], s["budget"]): s for s in lines(grown.samples_path)}
    assert all(after[k]["completion"] == v["completion"] for k, v in by.items())
    assert all(thinking(after[(p, i, 256)]).startswith(thinking(after[(p, i, 32)])) for p, i, b in by)


def test_budget_forcing_replaces_an_early_close_with_the_wait_text(vllm_engine, tmp_path):
    common = dict(engine=vllm_engine, n=4, limit=4, think_budget="480", answer_tokens=8, progress=False)
    free = {(s["problem_id"], s["sample"]): s
            for s in lines(evalkit.evaluate(["math500"], out=tmp_path / "free", **common).samples_path)}
    forced = {(s["problem_id"], s["sample"]): s for s in lines(evalkit.evaluate(
        ["math500"], out=tmp_path / "forced", min_think=400, max_waits=3, wait_text=" WAITFORCED",
        **common).samples_path)}
    # thinking that ended (closed, or the reply ended) before 400 tokens; the rest were cut at 480
    early = [k for k, s in free.items() if s["reasoning_tokens"] < 400]
    assert early, "no sample closed its thinking early; the test needs one"
    for k in early:
        f = forced[k]
        assert f["forced_waits"] >= 1
        # where the model ended its thinking, the wait text stands instead, and thinking went on
        assert thinking(f).startswith(thinking(free[k]) + " WAITFORCED")
        assert thinking(f).count("WAITFORCED") == f["forced_waits"]
    for k, s in free.items():
        if k not in early:
            assert forced[k]["forced_waits"] == 0 and forced[k]["completion"] == s["completion"]
    assert json.loads((tmp_path / "forced" / "config.json").read_text())["identity"]["thinking"]["min_think"] == 400


def test_a_forcing_run_that_recorded_an_answer_length_still_resumes(vllm_engine, tmp_path):
    # --answer-tokens beside --min-think alone shaped nothing and is refused now; a run made when it was taken
    # recorded it, and must still resume, not be told its settings differ (nor need the option it may not pass)
    common = dict(engine=vllm_engine, limit=2, max_tokens=48, min_think=16, max_waits=1, progress=False, trace=False)
    first = evalkit.evaluate(["math500"], n=1, out=tmp_path / "run", **common)
    config_path = first.run_dir / "config.json"
    config = json.loads(config_path.read_text())
    assert config["identity"]["thinking"]["answer_tokens"] == 256
    config["identity"]["thinking"]["answer_tokens"] = 64  # as `--min-think 16 --answer-tokens 64` recorded it
    config_path.write_text(json.dumps(config))
    again = evalkit.evaluate(["math500"], n=2, out=tmp_path / "run", **common)
    assert (again.generated, again.reused) == (2, 2)
    assert json.loads(config_path.read_text())["identity"]["thinking"]["answer_tokens"] == 64


def test_sigkill_mid_sweep_then_resume_loses_nothing(tiny_model, vllm_engine, tmp_path):
    args = [sys.executable, "-m", "evalkit", "run", "gsm8k", "--model", str(tiny_model), "--dtype", "float32",
            "--max-model-len", "1024", "--enforce-eager", "-n", "4", "--limit", "10", "--think-budget", "8,64",
            "--answer-tokens", "8", "--no-progress", "--no-trace"]
    env = {**os.environ, "EVALKIT_BUDGET_CHUNK": "4"}  # small chunks, so the sweep is written as it goes
    out = tmp_path / "killed"
    # its own process group, so the kill below takes vLLM's engine processes too (a SIGKILL of the
    # parent alone leaves them running, holding memory and cores, long after the test)
    proc = subprocess.Popen(args + ["--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    samples = out / "samples.jsonl"
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None:
        if samples.is_file() and samples.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = samples.read_text().count("\n")
    assert 3 <= kept < 80
    # resumed on the session's engine (the same model and settings; one engine start fewer)
    same = dict(n=4, limit=10, think_budget="8,64", answer_tokens=8, progress=False, trace=False)
    resumed = evalkit.evaluate(["gsm8k"], engine=vllm_engine, out=out, **same)
    assert (resumed.generated, resumed.reused) == (80 - kept, kept)
    final = lines(samples)
    keys = [(s["problem_id"], s["sample"], s["budget"]) for s in final]
    assert len(keys) == len(set(keys)) == 80
    straight = evalkit.evaluate(["gsm8k"], engine=vllm_engine, out=tmp_path / "straight", **same)
    a = {(s["problem_id"], s["sample"], s["budget"]): s["completion"] for s in final}
    b = {(s["problem_id"], s["sample"], s["budget"]): s["completion"] for s in lines(straight.samples_path)}
    assert a == b


def test_budget_options_without_a_continuing_backend_are_one_line_errors(tmp_path):
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "evalkit", "run", "demo", "--out", str(tmp_path / "x"), *extra],
                              capture_output=True, text=True, timeout=120)

    r = run("--think-budget", "1024,2k")
    assert r.returncode == 2 and r.stderr.strip() == (
        "evalkit: error: --think-budget: '2k' is not a whole number of tokens (expected e.g. 1024,2048)")
    r = run("--answer-tokens", "64")
    assert r.returncode == 2 and "--answer-tokens needs --think-budget" in r.stderr
    # forcing waits cuts nothing: an answer cue or an answer length would change nothing, so they are refused
    r = run("--min-think", "512", "--answer-cue", "Answer:")
    assert r.returncode == 2 and r.stderr.strip() == (
        "evalkit: error: --answer-cue needs --think-budget: it shapes the answer after a budget's cut, and without "
        "a budget no thinking is cut")
    r = run("--min-think", "0", "--max-waits", "3")  # --min-think was given, but 0 forces no wait
    assert r.returncode == 2 and r.stderr.strip() == (
        "evalkit: error: --max-waits needs a --min-think above 0: only that forces waits")
    r = run("--min-think", "50", "--max-waits", "0")  # no wait allowed: the minimum forces nothing (it was accepted)
    assert r.returncode == 2 and "--max-waits 0 forces no wait: --min-think then changes nothing" in r.stderr
    r = run("--think-budget", "1024", "--wait-text", "Hmm")  # a budget alone forces no wait either
    assert r.returncode == 2 and "--wait-text needs a --min-think above 0" in r.stderr
    r = run("--think-budget", "1024")
    assert r.returncode == 2 and "the replay backend cannot continue a text prefix" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_a_budget_sweep_on_replicas_is_refused_before_any_engine_starts(tiny_model, tmp_path):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "aime24", "--backend", "transformers", "--model",
                        str(tiny_model), "--dp", "2", "--think-budget", "64", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "EVALKIT_RAY_LOGS": "0"})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.strip() == ("evalkit: error: --think-budget and --min-think run on one engine: they do not run "
                                "on --dp replicas or a Ray cluster yet; use --dp 1 without --ray-address")
    assert time.monotonic() - t0 < 30 and not (tmp_path / "x").exists()  # no Ray, no replica, no engine


def test_anytime_probes_recorded_traces_with_the_engine(vllm_engine, tmp_path):
    from evalkit.anytime import anytime

    run = evalkit.evaluate(["math500"], engine=vllm_engine, n=2, limit=3, max_tokens=96, out=tmp_path / "run",
                           progress=False)
    samples = {(s["problem_id"], s["sample"]): s for s in lines(run.samples_path)}
    summary = anytime(run.run_dir, "16,48", engine=vllm_engine, answer_tokens=8)
    assert summary["generated"] is True and summary["unit"] == "tokens"
    probes = [json.loads(x) for x in (run.run_dir / "anytime.jsonl").read_text().splitlines()]
    assert len(probes) == 12
    generated = [p for p in probes if p["source"] == "generated"]
    assert generated
    tail = len(vllm_engine.tokenizer.encode(THINK_CLOSE + DEFAULT_ANSWER_CUE, add_special_tokens=False))
    for p in generated:
        original = samples[(p["problem_id"], p["sample"])]["completion"]
        # cut inside the recorded thinking (or where a recording cut by max_tokens ends), closed, cued,
        # answered in at most 8 tokens; the answer counts the close and cue, as a sweep's does
        assert original[:p["cut_char"]] and p["think_tokens"] <= p["budget"] and p["answer_tokens"] <= tail + 8
        assert p["think_tokens"] == p["budget"] or p["cut_char"] == len(original)
        assert p["completion"].startswith(THINK_CLOSE + DEFAULT_ANSWER_CUE)
    rows = json.loads((run.run_dir / "results.json").read_text())["results"][0]["anytime"]["budgets"]
    assert [r["budget"] for r in rows] == [16, 48]


def test_a_budget_past_the_context_window_is_cut_to_leave_room_for_the_answer(vllm_engine, tmp_path):
    window = vllm_engine.max_model_len
    sweep = evalkit.evaluate(["math500"], engine=vllm_engine, n=1, limit=2, think_budget=f"8,{window}",
                             answer_tokens=8, out=tmp_path / "sweep", progress=False)
    samples = lines(sweep.samples_path)
    assert len(samples) == 4 and {s["budget"] for s in samples} == {8, window}
    for s in samples:
        assert s["prompt_tokens"] + s["completion_tokens"] <= window
        if s["budget"] == window and s["reasoning_tokens"] > 8:
            # the thinking that filled the context was cut where the close, the cue and 8 answer tokens fit
            assert THINK_CLOSE + DEFAULT_ANSWER_CUE in s["completion"] or s["finish_reason"] == "stop"


def test_continued_text_leaves_out_the_end_of_sequence_and_skips_a_full_prefix():
    from evalkit.budgets import Prefix, continue_with_stops

    class Tok:
        eos_token_id = 2

        def encode(self, text, add_special_tokens=False):
            return [7]

    sent = []

    def run(token_ids, kwargs_list):
        sent.extend(token_ids)
        return [((5, 6, 2), "stop", None, 0) for _ in token_ids]

    fits, full = Prefix((1,) * 10, 8, 0.6, 0.95, 0), Prefix((1,) * 16, 8, 0.6, 0.95, 0)
    out = continue_with_stops(Tok(), [fits, full], run, max_model_len=16)
    assert sent == [fits.token_ids]  # the engine never sees a prefix with no room left
    assert out[0].token_ids == (5, 6) and out[0].finish_reason == "stop" and out[0].stopped_on is None
    assert out[1].token_ids == () and out[1].finish_reason == "length"


def test_a_stop_the_engine_spelled_otherwise_and_another_end_of_sequence_leave_no_tokens_behind():
    # vLLM returns the tokens up to the one that completed a stop text, which need not be encode(stop):
    # a first token holding text before it, a last one running past it. They were kept as thinking
    # (the close written twice, its tokens counted). A generation_config end of sequence that is not
    # the tokenizer's (Qwen3's <|endoftext|>) comes back as an int stop_reason: it is no text either.
    from evalkit.budgets import Prefix, continue_with_stops

    class Pieces:
        eos_token_id = 0
        vocab = {1: "abc ", 2: "x", 3: "</think>", 4: "x</th", 5: "ink>\n", 9: "<|endoftext|>", 10: " 42"}

        def encode(self, text, add_special_tokens=False):
            return {"</think>": [3], "x": [2], "<|other|>": [11, 12]}[text]

        def decode(self, ids, skip_special_tokens=False):
            return "".join(self.vocab[i] for i in ids)

    replies = iter([((1, 4, 5), "stop", "</think>", 0), ((10, 9), "stop", 9, 0), ((1, 3), "stop", "</think>", 0)])
    out = continue_with_stops(Pieces(), [Prefix((7,), 50, 0.6, 0.95, 0, ("</think>", "<|other|>"))] * 3,
                              lambda ids, kwargs: [next(replies) for _ in ids])
    assert [(c.token_ids, c.stopped_on) for c in out] == [((1, 2), "</think>"), ((10,), None), ((1,), "</think>")]


# ------------------------------------------------------------- a scripted model, one byte a token

EOS = 256


class ByteTokenizer:
    """One token per UTF-8 byte (what byte-level BPE falls back to for CJK, emoji and math symbols)."""

    eos_token_id = EOS
    chat_template = None

    def encode(self, text, add_special_tokens=False):
        return list(text.encode("utf-8"))

    def decode(self, ids, skip_special_tokens=False):
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def get_vocab(self):  # it knows the think markers, so the think prefill is used
        return {"<think>": 300, "<|begin_of_thought|>": 301}


class ScriptedModel:
    """A backend that can continue a prefix (as vLLM does) whose model writes, for each problem, a fixed
    reply in the run's think format: thinking, the close, and its answer. After a close evalkit made,
    it answers `\\boxed{0}`."""

    name = "scripted"

    def __init__(self, thinking: dict[str, str], answers: dict[str, str], think_format: str = "r1") -> None:
        from evalkit.thinking import get_format

        self.model, self.tokenizer, self.max_model_len = "scripted", ByteTokenizer(), None
        self.thinking, self.answers, self.format = thinking, answers, get_format(think_format)

    def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
        from evalkit.backends.base import render_with_tokenizer

        return render_with_tokenizer(self.tokenizer, messages, think_prefill, chat_template_kwargs, think_format)

    def close(self):
        pass

    def _reply(self, text: str) -> str:
        from evalkit.budgets import close_text

        key = next(k for k in self.thinking if k in text)
        written = text[text.rindex(self.format.prefill) + len(self.format.prefill):]
        script = self.thinking[key] + close_text(self.format) + self.answers[key]
        return script[len(written):] if script.startswith(written) else "\\boxed{0}"

    def continue_tokens(self, prefixes):
        from evalkit.budgets import continue_with_stops

        def run(token_ids, kwargs_list):
            out = []
            for ids, kw in zip(token_ids, kwargs_list):
                reply, got = self.tokenizer.encode(self._reply(self.tokenizer.decode(ids))) + [EOS], []
                for t in reply[:kw["max_tokens"]]:
                    got.append(t)
                    hit = next((s for s in kw["stop"] or () if self.tokenizer.decode(got).endswith(s)), None)
                    if hit or t == EOS:
                        out.append((got, "stop", hit, 0))
                        break
                else:
                    out.append((got, "length", None, 0))
            return out

        return continue_with_stops(self.tokenizer, prefixes, run, self.max_model_len)


def write_task(root: Path, problems: dict[str, str]) -> Path:
    """A task of one problem per (id -> gold), asking 'What is <id>?'."""
    (root / "p.jsonl").write_text("".join(json.dumps({"id": pid, "problem": f"What is {pid}?", "answer": gold}) + "\n"
                                          for pid, gold in problems.items()))
    (root / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n"
                                 "generation: {n: 1, temperature: 0.6, top_p: 0.95, max_tokens: 400}\n")
    return root / "t.yaml"


def test_a_cut_moved_back_off_a_split_character_is_a_cut_not_a_finished_thinking(tmp_path):
    # "π" is two bytes and "≈" three: budget 1 splits π (kept: 0 tokens), budget 4 splits ≈ (kept: 2)
    model = ScriptedModel({"pi": "π≈3.14, so 3."}, {"pi": " \\boxed{3}"})
    sweep = evalkit.evaluate([str(write_task(tmp_path, {"pi": "3"}))], engine=model, think_budget="1,4,1000",
                             answer_tokens=16, out=tmp_path / "run", progress=False, think_format="r1")
    by = {s["budget"]: s for s in lines(sweep.samples_path)}
    assert (by[1]["reasoning_tokens"], by[4]["reasoning_tokens"]) == (0, 2)
    assert by[4]["completion"] == PREFILL + "π" + THINK_CLOSE + DEFAULT_ANSWER_CUE + "\\boxed{0}"
    rows = {r["budget"]: r for r in sweep.results[0]["think_budgets"]["budgets"]}
    # evalkit cut, closed and cued both: neither had finished its thinking; at 1000 the model had
    assert [rows[b]["finished_share"] for b in (1, 4, 1000)] == [0.0, 0.0, 1.0]
    table = format_budget_table(sweep.results).splitlines()  # what `evalkit run` prints
    at = table[0].index("finished")
    assert {line.split()[2]: line[at:].split()[0] for line in table[2:-1]} == {"1": "0%", "4": "0%", "1000": "100%"}


def test_an_answer_after_the_models_own_close_may_be_longer_than_answer_tokens(tmp_path):
    # a model that ended its thinking itself and then wrote a long solution had that answer cut at
    # --answer-tokens: every budget, the largest included, scored it truncated (an ordinary run: correct)
    solution = " We add the parts carefully." * 4 + " So the answer is \\boxed{3}."  # about 140 tokens (bytes)
    model = ScriptedModel({"pi": "quick: it is 3."}, {"pi": solution})
    sweep = evalkit.evaluate([str(write_task(tmp_path, {"pi": "3"}))], engine=model, think_budget="8,100,1000",
                             answer_tokens=16, out=tmp_path / "run", progress=False, think_format="r1")
    by = {s["budget"]: s for s in lines(sweep.samples_path)}
    # cut at 8: evalkit's close and cue, then at most 16 answer tokens
    assert by[8]["reasoning_tokens"] == 8 and by[8]["completion"].endswith(DEFAULT_ANSWER_CUE + "\\boxed{0}")
    # finished at 1000: the whole solution, as an ordinary run writes it
    assert (by[1000]["reason"], by[1000]["completion"].endswith(solution)) == ("correct", True)
    # finished at 100: at most 100 + 16 tokens in all, so its answer is cut where a cut sample's would end
    assert by[100]["reason"] == "truncated" and by[100]["completion_tokens"] <= 100 + 16
    assert by[1000]["completion"].startswith(by[100]["completion"])


def test_a_prompt_too_long_for_the_window_gets_nothing_at_every_budget(tmp_path):
    # the sweep wrote a close and a cue after no thinking and counted them (15 tokens no model saw), with
    # no word that the prompt did not fit
    long = "x" * 300
    model = ScriptedModel({"pi": "3.14, so 3.", long: "hm"}, {"pi": " \\boxed{3}", long: " \\boxed{1}"})
    model.max_model_len = 200  # bytes: "What is pi?" fits, the long problem does not
    sweep = evalkit.evaluate([str(write_task(tmp_path, {"pi": "3", long: "1"}))], engine=model, think_budget="4,1000",
                             answer_tokens=16, out=tmp_path / "run", progress=False, think_format="r1")
    by = {(s["problem_id"], s["budget"]): s for s in lines(sweep.samples_path)}
    for budget in (4, 1000):
        cut = by[(long, budget)]
        assert (cut["completion_tokens"], cut["reasoning_tokens"], cut["reason"]) == (0, 0, "truncated"), cut
        assert "does not fit the model's context window: nothing was generated" in cut["detail"]
    assert by[("pi", 1000)]["correct"] is True


def test_budgets_with_a_think_format_that_does_not_think_are_refused(tmp_path):
    # the answer was cut at each budget and r1's close written into it, as if it were thinking
    model = ScriptedModel({"pi": "3.14"}, {"pi": " \\boxed{3}"})
    with pytest.raises(InputError, match="the think format 'none' does not think"):
        evalkit.evaluate([str(write_task(tmp_path, {"pi": "3"}))], engine=model, think_budget="4,1000",
                         out=tmp_path / "run", progress=False, think_format="none")


def test_a_budget_a_resumed_sweep_gains_is_cut_as_a_fresh_sweep_cuts_it(tmp_path):
    # the resumed sweep thinks only up to its new budget, 4, which ends inside "≈": it kept "π" plus
    # half a character (4 tokens), where a fresh sweep moves the cut back to "π" (2 tokens)
    task = str(write_task(tmp_path, {"pi": "3"}))
    model = ScriptedModel({"pi": "π≈3.14, so 3."}, {"pi": " \\boxed{3}"})
    options = dict(engine=model, answer_tokens=16, progress=False, think_format="r1")
    fresh = evalkit.evaluate([task], think_budget="4,1000", out=tmp_path / "fresh", **options)
    evalkit.evaluate([task], think_budget="1000", out=tmp_path / "grown", **options)
    grown = evalkit.evaluate([task], think_budget="4,1000", out=tmp_path / "grown", **options)
    assert grown.generated == 1  # budget 4 alone
    want = {s["budget"]: (s["completion"], s["reasoning_tokens"]) for s in lines(fresh.samples_path)}
    assert {s["budget"]: (s["completion"], s["reasoning_tokens"]) for s in lines(grown.samples_path)} == want
    assert want[4][1] == 2 and "\ufffd" not in want[4][0]


def test_a_sweep_ends_thinking_at_the_models_own_close_however_it_spaces_it(tmp_path):
    # sky's close as evalkit writes it ends in two newlines; this model writes one. The sweep stopped only
    # on evalkit's whole text, so it read the model's answer as thinking and cut into it, closing twice
    own_close = "\n<|end_of_thought|>\n\n<|begin_of_solution|>\n"

    class OwnClose(ScriptedModel):
        def _reply(self, text):
            from evalkit.budgets import close_text

            key = next(k for k in self.thinking if k in text)
            written = text[text.rindex(self.format.prefill) + len(self.format.prefill):]
            script = self.thinking[key] + own_close + self.answers[key]
            if script.startswith(written):
                return script[len(written):]
            finished = written.startswith(self.thinking[key]) and written.endswith(close_text(self.format))
            return self.answers[key] if finished else "\\boxed{0}<|end_of_solution|>"

    thought = "So it is 3."
    model = OwnClose({"pi": thought}, {"pi": "The answer is \\boxed{3}.<|end_of_solution|>"}, think_format="sky")
    sweep = evalkit.evaluate([str(write_task(tmp_path, {"pi": "3"}))], engine=model, think_budget="40,1000",
                             answer_tokens=64, out=tmp_path / "run", progress=False, think_format="sky")
    by = {s["budget"]: s for s in lines(sweep.samples_path)}
    for budget in (40, 1000):  # both budgets outlast its thinking and close: it finished on its own
        assert by[budget]["completion"].count("<|end_of_thought|>") == 1, by[budget]
        assert by[budget]["reasoning_tokens"] == len(thought) + 1  # and the newline before its close
        assert by[budget]["correct"] is True
    rows = {r["budget"]: r for r in sweep.results[0]["think_budgets"]["budgets"]}
    assert [rows[b]["finished_share"] for b in (40, 1000)] == [1.0, 1.0]


def test_results_tell_a_cut_with_the_runs_own_answer_cue(tmp_path):
    model = ScriptedModel({"pi": "π≈3.14, so 3."}, {"pi": " \\boxed{3}"})
    sweep = evalkit.evaluate([str(write_task(tmp_path, {"pi": "3"}))], engine=model, think_budget="4,1000",
                             answer_tokens=16, answer_cue="\n\nFinal: ", out=tmp_path / "run", progress=False,
                             think_format="r1")
    rows = {r["budget"]: r for r in sweep.results[0]["think_budgets"]["budgets"]}
    assert [rows[b]["finished_share"] for b in (4, 1000)] == [0.0, 1.0]


def test_the_smallest_budget_reaching_95_percent_is_found_at_exactly_95_percent():
    # 19/53 is exactly 95% of 20/53, though the two floats say otherwise
    rows = [{"budget": 1024, "metrics": {"avg@n": {"value": 19 / 53}}},
            {"budget": 2048, "metrics": {"avg@n": {"value": 20 / 53}}}]
    assert 19 / 53 < 0.95 * (20 / 53)  # the float rounding the answer must not depend on
    assert smallest_reaching(rows) == 1024


WINDOW = 96  # the scripted server's context window


def _window_server(model: str, letter: int, refuse_first: int = 0, sglang: bool = False):
    """An OpenAI-compatible completions server with a WINDOW-token context that, as vLLM does, says its
    window on /models and refuses a request whose prompt and max_tokens do not fit in it (`sglang`: also one
    that fills it exactly, in SGLang's words). Its model never closes its thinking: it writes `letter`
    tokens until max_tokens. Its first `refuse_first` requests are answered 503, as a gateway in front of
    a restarting server does."""

    class Server(JSONHandler):
        def do_GET(self):  # noqa: N802
            self._send({"data": [{"id": model, "max_model_len": WINDOW}]})

        def do_POST(self):  # noqa: N802
            body = self.read_body()
            if len(type(self).seen) <= refuse_first:
                self._send({"error": {"message": "upstream restarting"}}, status=503)
                return
            prompt, most = len(body["prompt"]), body["max_tokens"]
            if prompt + most > WINDOW - sglang:
                message = (f"Requested token count exceeds the model's maximum context length of {WINDOW} tokens. "
                           f"You requested a total of {prompt + most} tokens: {prompt} tokens from the input "
                           f"messages and {most} tokens for the completion." if sglang else
                           f"maximum context length is {WINDOW} tokens")
                data = json.dumps({"error": {"message": message}}).encode()
                self.send_response(400)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            ids = [letter] * body["max_tokens"]
            self._send({"choices": [{"index": 0, "text": "", "token_ids": ids, "finish_reason": "length",
                                     "stop_reason": None}], "usage": {"prompt_tokens": len(body["prompt"])}})

    return serve(Server)


def test_the_openai_backend_fits_budgets_in_the_servers_context_window(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    letter = AutoTokenizer.from_pretrained(tiny_model).encode("a", add_special_tokens=False)[0]
    task = str(write_task(tmp_path, {"x": "1"}))
    with _window_server(str(tiny_model), letter) as (url, seen):
        common = dict(model=str(tiny_model), backend="openai", base_url=url, backend_options={"endpoint": "completions"},
                      think_budget=f"16,{10 * WINDOW}", answer_tokens=8, progress=False, trace=False)
        # the window read off the server's /models
        run = evalkit.evaluate([task], out=tmp_path / "read", **common)
        # and one given (--max-model-len), smaller than the server's
        small = evalkit.evaluate([task], out=tmp_path / "given", max_model_len=80, **common)
    assert all(len(body["prompt"]) + body["max_tokens"] <= WINDOW for body in seen)  # the server refused none
    for result, window in ((run, WINDOW), (small, 80)):
        by = {s["budget"]: s for s in lines(result.samples_path)}
        assert by[16]["reasoning_tokens"] == 16
        big = by[10 * WINDOW]  # thinking that would fill the window is cut where the close, cue and answer fit
        assert big["prompt_tokens"] + big["completion_tokens"] <= window
        assert big["completion"].endswith(THINK_CLOSE + DEFAULT_ANSWER_CUE + "a" * 8)


def test_a_continuation_sglang_refuses_for_filling_the_window_is_asked_one_token_short(tiny_model):
    from evalkit.backends.openai import OpenAIBackend
    from evalkit.budgets import Prefix

    with _window_server("m", 5, sglang=True) as (url, seen):
        engine = OpenAIBackend("m", url, endpoint="completions", tokenizer=str(tiny_model))
        assert engine.max_model_len == WINDOW
        room, full = engine.continue_tokens([Prefix(tuple(range(10, 20)), 1000, 0.6, 0.95, 1),
                                             Prefix(tuple([7] * (WINDOW - 1)), 1000, 0.6, 0.95, 2)])
    # it used to stop the run: "refused a prefix of 10 tokens as too long"
    assert (len(room.token_ids), room.finish_reason) == (WINDOW - 10 - 1, "length")
    assert (full.token_ids, full.finish_reason) == ((), "length")  # nothing fits after it
    asked = sorted((len(b["prompt"]), b["max_tokens"]) for b in seen)
    assert asked == [(10, WINDOW - 10 - 1), (10, WINDOW - 10), (WINDOW - 1, 1)]


def test_a_budget_sweep_over_a_fleet_retries_its_continuations_on_a_server_that_refuses(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    letter = AutoTokenizer.from_pretrained(tiny_model).encode("a", add_special_tokens=False)[0]
    task = str(write_task(tmp_path, {"x": "1", "y": "2"}))
    # one request in flight per server, so both servers get some of so few
    common = dict(model=str(tiny_model), backend="openai", backend_options={"endpoint": "completions", "concurrency": 1},
                  think_budget="8,16", answer_tokens=4, progress=False, trace=False)
    with _window_server(str(tiny_model), letter, refuse_first=0) as (clean, _):
        straight = evalkit.evaluate([task], out=tmp_path / "straight", base_url=clean, **common)
    with _window_server(str(tiny_model), letter, refuse_first=3) as (flaky, seen_alone):
        alone = evalkit.evaluate([task], out=tmp_path / "alone", base_url=flaky, **common)
    with _window_server(str(tiny_model), letter, refuse_first=3) as (flaky, seen_flaky), \
            _window_server(str(tiny_model), letter, refuse_first=0) as (steady, seen_steady):
        fleet = evalkit.evaluate([task], out=tmp_path / "fleet", base_url=[flaky, steady], **common)
    # every continuation answered: on one server, by trying the refused ones again; over a fleet, each refused
    # one elsewhere; and continuations (token-id prompts) went to both servers, not only the first URL
    key = lambda s: (s["problem_id"], s["budget"])  # noqa: E731
    a, b, c = ({key(s): s for s in lines(r.samples_path)} for r in (straight, alone, fleet))
    assert a.keys() == b.keys() == c.keys() and len(a) == 4
    assert all(a[k]["completion"] == b[k]["completion"] == c[k]["completion"] for k in a)
    assert all(a[k]["completion"].endswith(THINK_CLOSE + DEFAULT_ANSWER_CUE + "a" * 4) for k in a)
    assert len(seen_alone) > 3 and seen_flaky and seen_steady
    assert all(isinstance(body["prompt"], list) for body in seen_alone + seen_flaky + seen_steady)


def test_tables_tell_apart_checkpoints_whose_names_end_alike():
    # two checkpoints of one run: the last 40 characters of their paths are the same
    tail = "/checkpoint-1000/merged-with-the-base-model"
    models = ["/runs/grpo-a" + tail, "/runs/grpo-b" + tail, "Qwen/Qwen3-0.6B"]
    row = {"budget": 512, "metrics": {"avg@n": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}},
           "mean_thinking_tokens": 300.0, "mean_answer_tokens": 20.0, "finished_share": 0.5, "tokens_per_correct": 9.0}
    results = [{"task": "t", "model": m, "n_problems": 1, "samples_per_problem": 1, "metrics": {},
                "think_budgets": {"budgets": [row], "smallest_reaching_95": 512}} for m in models]
    from evalkit.table import results_table

    for table in (format_budget_table(results), results_table(results)):
        shown = [line.split()[1] for line in table.splitlines()[2:5]]
        assert shown == models, table
    long_one = "/very/long/path/of/a/single/model/that/is/far/wider/than/the/column"
    [shown] = [line.split()[1] for line in results_table([{**results[0], "model": long_one}]).splitlines()[2:]]
    assert shown == "…" + long_one[-39:]


@pytest.mark.parametrize("value", ["", " , ", "1_000", "٥١٢", "0x200", "+-5", "--5", "16,,40", "16,40,"])
def test_an_empty_or_loosely_written_budget_list_is_refused(value):
    # `--think-budget ""` ran an ordinary run without a word, and int() took `1_000` and Arabic-Indic digits; `+-5`
    # and `--5` were a traceback, and `16,,40` ran 16 and 40 without a word of the budget left out
    from evalkit.budgets import budget_settings
    from evalkit.errors import InputError

    with pytest.raises(InputError, match="--think-budget: (no budget given|.* is not a whole number of tokens|an empty "
                                         "item in)"):
        budget_settings(value)


def test_what_follows_a_close_the_model_wrote_itself_reads_as_closed_in_every_format(tmp_path):
    # the model stops on its format's close marker (the server leaves a stop out of its text), and what
    # evalkit writes back must close its thinking; a user format whose stop_thinking omits the marker
    # would have its cuts read as never closed, so it is refused as it is read
    from evalkit.budgets import budget_settings
    from evalkit.errors import InputError
    from evalkit.thinking import get_format, split_think

    (tmp_path / "mine.yaml").write_text("- name: mine\n  open: '<reasoning>'\n  close: '</reasoning>'\n"
                                        "  stop_thinking: '</reasoning>\\nFinal answer:'\n")
    for fmt in ("r1", "sky", "harmony", "seed", "magistral", str(tmp_path / "mine.yaml")):
        settings = budget_settings("64", think_format=fmt)
        for tail in (settings.finish_text, settings.close + settings.answer_cue):  # closed by it, cut by evalkit
            text = get_format(fmt).prefill + "It is 2." + tail + "The answer is \\boxed{2}."
            split = split_think(text, think_format=fmt)
            assert split.closed and split.think.strip() == "It is 2." and "\\boxed{2}" in split.answer, (fmt, tail)
    assert budget_settings("64", think_format="sky").finish_text == "<|end_of_thought|>\n\n<|begin_of_solution|>\n\n"
    (tmp_path / "bad.yaml").write_text("- name: bad\n  open: '<reasoning>'\n  close: '</reasoning>'\n"
                                       "  stop_thinking: 'Final answer:'\n")
    with pytest.raises(InputError, match="field 'stop_thinking': must hold the close marker '</reasoning>'"):
        get_format(str(tmp_path / "bad.yaml"))


def test_the_budget_table_explains_its_mark_only_where_a_row_has_it():
    # every budget at 0%: no row marked, and the footnote to the mark read as a row left out
    def row(budget, value):
        return {"budget": budget, "metrics": {"avg@n": {"value": value, "ci_low": 0.0, "ci_high": value}},
                "mean_thinking_tokens": 10.0, "mean_answer_tokens": 5.0, "finished_share": 1.0,
                "tokens_per_correct": None}

    none = {"task": "t", "model": "m", "think_budgets": {"budgets": [row(8, 0.0), row(16, 0.0)],
                                                         "smallest_reaching_95": None}}
    table = format_budget_table([none])
    assert "*" not in table and len(table.splitlines()) == 4
    some = {"task": "t", "model": "m", "think_budgets": {"budgets": [row(8, 0.5), row(16, 0.5)],
                                                         "smallest_reaching_95": 8}}
    lines = format_budget_table([some]).splitlines()
    assert "8 *" in lines[2] and lines[-1].startswith("* the smallest budget reaching 95%")


def test_a_budget_made_on_fewer_samples_is_listed_but_not_the_headline(tmp_path):
    # a sweep at 10,1000 on 1 problem, extended to 3 problems at 10 alone: budget 1000 (one problem, solved)
    # became the headline, the 95% mark and curate's default, while the run covered three
    problems = {"pa": "1", "pb": "2", "pc": "3"}
    model = ScriptedModel({p: f"thinking about {p}, so it is {g}." for p, g in problems.items()},
                          {"pa": " \\boxed{1}", "pb": " \\boxed{9}", "pc": " \\boxed{9}"})
    task = write_task(tmp_path, problems)
    options = dict(engine=model, answer_tokens=16, out=tmp_path / "run", progress=False, think_format="r1")
    evalkit.evaluate([str(task)], think_budget="10,1000", limit=1, **options)
    run = evalkit.evaluate([str(task)], think_budget="10", limit=3, **options)
    [entry] = run.results
    assert entry["think_budgets"]["largest"] == 10 and entry["n_problems"] == 3
    rows = {r["budget"]: r for r in entry["think_budgets"]["budgets"]}
    assert (rows[10]["n_samples"], rows[1000]["n_samples"], rows[1000].get("partial")) == (3, 1, True)
    table = format_budget_table(run.results)
    assert "1000 (1 samples)" in table and "the headline is the largest budget made on all" in table, table

    from evalkit.curate import curate

    result = curate(tmp_path / "run", "0:1", "trl", tmp_path / "train.jsonl")
    assert result.budget == 10 and result.headline_budget == 10
    page = (tmp_path / "run" / "index.html").read_text(encoding="utf-8")
    assert "not the headline\">1 samples</span>" in page
    # the page's settings say what the sweep did (they replace max_tokens)
    assert "budgets 10, 1000 (answer_tokens=16, answer_cue=" in page


def test_analyze_and_label_sheet_read_a_sweeps_headline_budget_not_every_budget_pooled(tmp_path):
    # a sweep at 10,1000: analyze pooled both budgets' samples (a cut trace is a prefix of the longer one), so
    # its counts, truncated rate and mean length matched no figure of the run, and label-sheet wrote each trace twice
    from click.testing import CliRunner

    from evalkit.cli import main

    problems = {"pa": "1", "pb": "2", "pc": "3"}
    model = ScriptedModel({p: f"thinking about {p}. Wait, is it {g}? Let me check. Yes, so it is {g}."
                           for p, g in problems.items()}, {p: f" \\boxed{{{g}}}" for p, g in problems.items()})
    task = write_task(tmp_path, problems)
    evalkit.evaluate([str(task)], think_budget="10,1000", engine=model, answer_tokens=16, out=tmp_path / "run",
                     progress=False, think_format="r1")
    assert len(lines(tmp_path / "run" / "samples.jsonl")) == 6
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "run"), "--out", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 0, res.output
    assert "the traces of its headline budget (1000" in res.output
    analysed = lines(tmp_path / "a.jsonl")
    assert len(analysed) == 3 and {row["budget"] for row in analysed} == {1000}
    res = CliRunner().invoke(main, ["label-sheet", str(tmp_path / "run"), "--out", str(tmp_path / "sheet.jsonl")])
    assert res.exit_code == 0, res.output
    assert len(lines(tmp_path / "sheet.jsonl")) == 3
