"""`evalkit anytime --no-generate` on the bundled demo traces (real DeepSeek-R1 traces, replayed).

The demo's models cannot be loaded offline, so thinking is counted from each sample's recorded
completion_tokens (`--tokenizer recorded`): cut character = think start + int(B x characters / tokens).
The expected cuts and answers below were worked out by hand from the traces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import evalkit
from evalkit.anytime import anytime
from evalkit.budgets import DEFAULT_ANSWER_CUE
from evalkit.thinking import split_think

REASONER = "deepseek-reasoner"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    run = evalkit.evaluate(["demo"], out=tmp_path_factory.mktemp("demo") / "run", progress=False)
    return run.run_dir


def probes(run_dir: Path) -> dict:
    return {(p["model"], p["problem_id"], p["sample"], p["budget"]): p
            for p in map(json.loads, (run_dir / "anytime.jsonl").read_text().splitlines())}


def test_no_generate_cuts_at_hand_checked_points(demo_run):
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--no-generate",
                        "--budgets", "128,192,224,256", "--tokenizer", "recorded"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "deepseek-reasoner" in r.stdout and "avg@n" in r.stdout
    got = probes(demo_run)
    # f(-2)+f(-1)+f(0) = 14/3: 426 tokens, 801 characters, thinking = characters 7..382 (199 tokens).
    # 128 tokens end at character 7 + int(128 * 801/426) = 247, inside "= 5/3" of f(-1): no answer yet.
    a = ("deepseek-reasoner", "test/algebra/2584.json", 0)
    assert (got[a + (128,)]["cut_char"], got[a + (128,)]["answer"], got[a + (128,)]["correct"]) == (247, None, False)
    # 192 tokens end at character 368, just after "= 14/3." (the candidate ends at 354): answered, right
    assert (got[a + (192,)]["cut_char"], got[a + (192,)]["answer"], got[a + (192,)]["correct"]) == (368, "14/3", True)
    # at 224 and 256 its 199 tokens of thinking had ended: the sample's own verdict stands
    assert got[a + (224,)]["cut_char"] is None and got[a + (224,)]["source"] == "finished"
    assert got[a + (256,)]["correct"] is True and got[a + (256,)]["think_tokens"] == 199
    # divisors of 196 = 9: 353 tokens, 973 characters, thinking 7..745 (268 tokens); the "9" of
    # "= 3*3 = 9" ends at character 546
    b = ("deepseek-reasoner", "test/number_theory/572.json", 0)
    assert (got[b + (128,)]["cut_char"], got[b + (128,)]["answer"]) == (359, None)
    assert (got[b + (192,)]["cut_char"], got[b + (192,)]["answer"]) == (536, None)  # ten characters short
    assert (got[b + (224,)]["cut_char"], got[b + (224,)]["answer"], got[b + (224,)]["correct"]) == (624, "9", True)
    assert got[b + (256,)]["source"] == "trajectory"

    summary = json.loads((demo_run / "anytime.json").read_text())
    assert summary["budgets"] == [128, 192, 224, 256] and summary["generated"] is False
    assert "estimated" in summary["unit"]
    results = json.loads((demo_run / "results.json").read_text())["results"]
    reasoner = next(e for e in results if e["model"] == REASONER)
    rows = reasoner["anytime"]["budgets"]
    assert [row["budget"] for row in rows] == [128, 192, 224, 256]
    accs = [row["metrics"]["avg@n"]["value"] for row in rows]
    assert accs == sorted(accs) and accs[-1] <= reasoner["metrics"]["avg@n"]["value"]
    assert all(0 <= row["finished_share"] <= 1 and row["mean_thinking_tokens"] <= row["budget"] for row in rows)


def test_anytime_generate_on_a_replay_run_is_a_clear_error(demo_run, tmp_path):
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--budgets", "1024"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "use --no-generate" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # it said to give --backend and --base-url, which were then refused: a model would have continued the replay's
    # recorded prompt, the problem's bare text, with no chat template (probes of another question). It says so first
    assert "this run's prompts are not the text its model read (replay" in r.stderr, r.stderr
    usage = subprocess.run([sys.executable, "-m", "evalkit", "anytime", "--help"], capture_output=True, text=True)
    assert "--no-generate" in usage.stdout and "made by `evalkit run` with --backend vllm" in r.stderr
    for given in (["--backend", "vllm", "--model", str(tmp_path / "no-such-model")],
                  ["--base-url", "http://127.0.0.1:9/v1"]):
        r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--budgets", "1024", *given],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and "this run's prompts are not the text its model read (replay" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(tmp_path), "--no-generate"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "not an evalkit run directory" in r.stderr
    # the free estimate generates no answer: an answer's length or cue would change nothing
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--no-generate", "--answer-cue",
                        "Answer:"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == (
        "evalkit: error: --answer-cue shapes the probes' generated answers: it does nothing with --no-generate")
    assert "--answer-cue" in usage.stdout
    # nor does an engine's setting: --base-url was taken and ignored (exit 0)
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--no-generate", "--base-url",
                        "http://127.0.0.1:9/v1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("evalkit: error: --base-url sets up the engine that generates "
                                                     "the probes' answers: it does nothing with --no-generate"), r.stderr
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--no-generate", "--model", "m"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--tokenizer NAME picks what counts the thinking" in r.stderr, r.stderr


def test_a_replayed_trace_cut_off_without_a_finish_reason_is_cut_not_finished(demo_run, tmp_path):
    # a replay records no finish_reason: thinking that ran out of tokens counted as finished (100% at every
    # budget past it), with the sample's own truncated verdict
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    cut = [s for s in samples if s["reason"] == "truncated" and not split_think(s["completion"], s["think_open"]).closed]
    assert cut
    (run / "samples.jsonl").write_text("".join(json.dumps({**s, "finish_reason": None}) + "\n" for s in samples))
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate", "--budgets",
                        "1000000", "--tokenizer", "recorded"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = probes(run)
    for s in cut:
        probe = got[(s["model"], s["problem_id"], s["sample"], 1000000)]
        assert probe["source"] == "trajectory" and probe["cut_char"] is not None, probe


def test_a_trace_the_prompt_opened_is_cut_not_finished(demo_run):
    # R1-Distill-Qwen-7B on prealgebra/1139 is replayed with think_open: it thinks from its first
    # character and ran out at 32,768 tokens without closing; the run records that it was opened
    key = ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "test/prealgebra/1139.json", 0)
    sample = next(s for s in map(json.loads, (demo_run / "samples.jsonl").read_text().splitlines())
                  if (s["model"], s["problem_id"], s["sample"]) == key)
    assert sample["think_open"] is True and sample["reason"] == "truncated"
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--no-generate",
                        "--budgets", "512,4096", "--tokenizer", "recorded"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    got = probes(demo_run)
    for budget in (512, 4096):
        probe = got[key + (budget,)]
        assert probe["source"] != "finished" and probe["cut_char"] is not None
        assert probe["think_tokens"] == budget and probe["answer_tokens"] == 0


def test_anytime_reads_the_runs_think_format(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "What is 6*7?", "answer": "42"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    thought = "Let me think. So the answer is 41. " + "Hmm, checking again carefully. " * 12 + "So it is 42."
    completion = (f"<|begin_of_thought|>\n\n{thought}\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n"
                  "The answer is \\boxed{42}.<|end_of_solution|>")
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "m", "sample": 0, "completion": completion,
                                                  "completion_tokens": len(completion)}) + "\n")
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", str(tmp_path / "t.yaml"), "--completions",
                        str(tmp_path / "c.jsonl"), "--think-format", "sky", "--out", str(run), "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate", "--budgets",
                        "40,100000", "--tokenizer", "recorded"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = probes(run)
    start = len("<|begin_of_thought|>")  # the thinking is what the markers hold
    early = next(p for k, p in got.items() if k[-1] == 40)
    late = next(p for k, p in got.items() if k[-1] == 100000)
    # at 40 characters (one token each) the cut falls inside the thinking, after the guess of 41
    assert early["cut_char"] == start + 40 and early["answer"] == "41" and early["correct"] is False
    assert late["source"] == "finished" and late["think_tokens"] == len(thought) + 3 and late["correct"] is True


def test_a_model_without_recorded_token_counts_is_counted_in_characters_and_says_so(demo_run):
    # the demo's R1-Distill-Qwen-14B records no completion_tokens, and half of Llama-8B's lack them
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--no-generate", "--budgets",
                        "256,100000", "--tokenizer", "recorded"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    qwen14, llama8 = "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    said = {line.split(": ")[-1]: line for line in r.stdout.splitlines() if line.startswith("  ")}
    assert said[qwen14].strip().startswith("characters: no completion_tokens recorded")
    assert "20 of 40 samples without completion_tokens" in said[llama8]
    results = {e["model"]: e["anytime"] for e in json.loads((demo_run / "results.json").read_text())["results"]}
    assert results[qwen14]["unit"].startswith("characters") and results[REASONER]["unit"] == (
        "recorded tokens (estimated from characters)")
    # at a budget past every thinking, a 14B sample's thinking is its length in characters
    sample = next(s for s in map(json.loads, (demo_run / "samples.jsonl").read_text().splitlines())
                  if s["model"] == qwen14 and split_think(s["completion"], s["think_open"]).closed)
    probe = probes(demo_run)[(qwen14, sample["problem_id"], sample["sample"], 100000)]
    assert probe["think_tokens"] == len(split_think(sample["completion"], sample["think_open"]).think)
    # the report's budget table says characters where they were counted (its columns said tokens)
    import re

    page = (demo_run / "index.html").read_text(encoding="utf-8")
    heads = re.findall(r'<h3>demo · ([^<]*?) · anytime probes[^<]*(?:<span[^>]*>[^<]*</span>)?</h3>\s*<div class="scroll">'
                       r'\s*<table class="budget-table">\s*<thead><tr>(.*?)</tr>', page, re.S)
    columns = {model: re.sub(r"<[^>]+>", "|", cells) for model, cells in heads}
    assert "Thinking characters|" in columns[qwen14] and "Characters per correct" in columns[qwen14], columns
    assert "Thinking tokens|" in columns[REASONER] and "Tokens per correct" in columns[REASONER], columns


def test_a_cut_never_keeps_more_tokens_than_its_budget_where_a_character_is_several(tiny_model):
    # a byte-level tokenizer gives each byte token of `é` the whole character's span: the cut after token B fell after
    # the character, and the probe thought B+1 tokens (recorded as B), where a sweep keeps a token less
    from transformers import AutoTokenizer

    from evalkit.anytime import _Counter

    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    completion = "<think>\ncafé — naïve 日本 ok</think>\n\nx"
    sample = {"completion": completion, "completion_tokens": 400, "model": "m"}
    start, end = len("<think>\n"), completion.find("</think>")
    n, at = _Counter(tok, [sample]).think(sample, start, end)
    assert n == len(tok(completion[start:end], add_special_tokens=False)["input_ids"])
    split = 0
    for b in range(1, n + 1):
        kept = len(tok(completion[start:at(b)], add_special_tokens=False)["input_ids"])
        assert kept <= b, (b, completion[start:at(b)])
        split += kept < b
    assert split, "the text holds no character of several tokens: the test tests nothing"


def test_no_generate_on_a_run_stopped_before_it_checked_says_so(tmp_path):
    # a run stopped by SIGTERM writes the samples it has not checked as unjudged, without a trace: the error asked
    # whether the run was made with --no-trace, which it was not
    import json

    run = evalkit.evaluate(["demo"], out=tmp_path / "stopped", progress=False).run_dir
    lines = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for rec in lines[-20:]:
        rec.update(correct=None, score=None, reason="error", trace=None)
    (run / "samples.jsonl").write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate", "--budgets", "256",
                        "--tokenizer", "recorded"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "are unjudged, without a trace" in r.stderr and "was the run made with --no-trace?" not in r.stderr, r.stderr
    assert "rerun the run's `evalkit run` command" in r.stderr


def test_no_generate_on_a_run_without_traces_is_a_clear_error(tmp_path):
    run = evalkit.evaluate(["demo"], out=tmp_path / "untraced", progress=False, trace=False).run_dir
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate", "--budgets", "256",
                        "--tokenizer", "recorded"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "have no trace" in r.stderr and "--no-trace" in r.stderr and "with generation" in r.stderr
    # a budget past every trace's length still cuts the traces that ran out of tokens: refused too (it scored
    # them as no answer, exit 0)
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate", "--budgets", "1000000",
                        "--tokenizer", "recorded"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "have no trace" in r.stderr, r.stderr
    assert not (run / "anytime.jsonl").exists()


def test_the_tokenizer_is_found_or_given_up_at_once_offline(demo_run):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    # a replay of four models: no one tokenizer counts them all, and the hub is not asked
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--no-generate", "--budgets",
                        "256"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert "with recorded counts (4 models: no one tokenizer counts them all)" in r.stdout
    assert time.monotonic() - started < 30
    # a tokenizer asked for by name that is neither a folder nor cached, offline: one line, at once
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(demo_run), "--no-generate", "--budgets",
                        "256", "--tokenizer", "evalkit-test/no-such-tokenizer"], capture_output=True, text=True,
                       timeout=300, env={**env, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2 and r.stderr.strip() == ("evalkit: error: --tokenizer evalkit-test/no-such-tokenizer: "
                                                      "cannot load it (not in the hub cache, and HF_HUB_OFFLINE is set)")


@pytest.mark.slow
def test_a_generated_probe_spends_its_budget_on_thinking_only(vllm_engine, tmp_path):
    # a replayed run: its prompt holds no prefill, the model wrote `<think>` itself
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "What is 6*7?", "answer": "42"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    completion = "<think>\n" + "Let me think about it. " * 8 + "So it is 42.</think>\n\nThe answer is \\boxed{42}."
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "m", "sample": 0, "completion": completion}) + "\n")
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                           progress=False).run_dir
    sent = []

    class Recording:  # the engine, keeping what it was asked to continue
        tokenizer = vllm_engine.tokenizer

        def continue_tokens(self, prefixes):
            sent.extend(prefixes)
            return vllm_engine.continue_tokens(prefixes)

    anytime(run, "16", engine=Recording(), answer_tokens=4)
    tok = vllm_engine.tokenizer
    ids = list(sent[0].token_ids)
    thought = ids[ids.index(tok.convert_tokens_to_ids("<think>")) + 1:ids.index(tok.convert_tokens_to_ids("</think>"))]
    assert len(thought) == 16  # the open marker is not thinking: it does not spend the budget
    (probe,) = probes(run).values()
    assert probe["source"] == "generated" and probe["think_tokens"] == 16
    # the thinking the model was sent ends at the probe's cut, and its stored text starts there, at the close
    assert completion[:probe["cut_char"]] == "<think>" + tok.decode(thought)
    assert probe["completion"].startswith("</think>" + DEFAULT_ANSWER_CUE)
    # what the answers were given is on record beside the curve (it was only in the partial file's header)
    summary = json.loads((run / "anytime.json").read_text())
    assert (summary["answer_tokens"], summary["answer_cue"]) == (4, DEFAULT_ANSWER_CUE)


def test_anytime_probes_the_samples_the_runs_results_count(demo_run, tmp_path):
    # the run again with -n 1 --limit 2: samples.jsonl keeps every line, results.json counts 2 problems x 1
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    evalkit.evaluate(["demo"], out=run, n=1, limit=2, progress=False)
    results = json.loads((run / "results.json").read_text())["results"]
    assert {r["n_samples"] for r in results} == {2} and len((run / "samples.jsonl").read_text().splitlines()) > 6
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate",
                        "--budgets", "128,1000000", "--tokenizer", "recorded"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(probes(run)) == 3 * 2 * 2  # 3 models x 2 samples x 2 budgets
    curves = json.loads((run / "anytime.json").read_text())["results"]
    assert {b["n_samples"] for c in curves for b in c["budgets"]} == {2}
    # at a budget past every trace's thinking, each sample's own verdict stands: the run's avg@n
    for curve, result in zip(curves, sorted(results, key=lambda x: (x["task"], x["model"]))):
        assert curve["model"] == result["model"]
        assert curve["budgets"][-1]["metrics"]["avg@n"]["value"] == result["metrics"]["avg@n"]["value"]


def test_a_probe_is_right_when_any_accepted_answer_takes_it(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    # the dataset lists two accepted answers; the probe's answer is the second
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "2+3?", "answer": ["5", "five"]}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    completion = "<think>\n" + "Adding two and three. " * 4 + "So five.</think>\n\nThe answer is \\boxed{five}."
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "m", "sample": 0, "completion": completion}) + "\n")
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                           progress=False).run_dir

    class Answers:  # an engine whose model answers "five" after the cue
        tokenizer = AutoTokenizer.from_pretrained(tiny_model)

        def continue_tokens(self, prefixes):
            from evalkit.budgets import Continued

            ids = self.tokenizer.encode("\\boxed{five}", add_special_tokens=False)
            return [Continued(tuple(ids), "stop") for _ in prefixes]

    anytime(run, "8", engine=Answers(), answer_tokens=16)
    (probe,) = probes(run).values()
    assert probe["source"] == "generated" and probe["correct"] is True


def test_an_interrupted_anytime_keeps_the_probes_it_generated(tiny_model, tmp_path, monkeypatch):
    # the probes were kept in memory and written at the end: a kill (or a server that went away) after
    # hours of probes kept none, and the rerun asked for every one again
    import evalkit.anytime as module
    from transformers import AutoTokenizer

    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "2+3?", "answer": "5"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    rows = [{"problem_id": "m", "sample": s, "completion": "<think>\n" + "Adding two and three. " * 6
             + "So five.</think>\n\nThe answer is \\boxed{5}."} for s in range(3)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                           progress=False).run_dir
    asked = []

    class Answers:  # answers "5"; gives out after `left` calls
        tokenizer = AutoTokenizer.from_pretrained(tiny_model)
        left = 2

        def continue_tokens(self, prefixes):
            from evalkit.budgets import Continued

            if self.left == 0:
                raise ConnectionError("the server went away")
            self.left -= 1
            asked.extend(prefixes)
            return [Continued(tuple(self.tokenizer.encode("\\boxed{5}", add_special_tokens=False)), "stop")
                    for _ in prefixes]

    monkeypatch.setattr(module, "PROBE_CHUNK", 2)  # 6 probes (3 samples x 2 budgets): 3 calls
    with pytest.raises(ConnectionError):
        anytime(run, "4,8", engine=Answers(), answer_tokens=8)
    assert len(asked) == 4 and not (run / "anytime.jsonl").exists()
    engine = Answers()
    engine.left = 5
    anytime(run, "4,8", engine=engine, answer_tokens=8)
    assert len(asked) == 6  # the two the interrupted run had not generated
    got = probes(run)
    assert len(got) == 6 and all(p["source"] == "generated" and p["correct"] for p in got.values())
    # a rerun with one more budget asks only for that budget's probes (every probe was asked again)
    asked.clear()
    engine = Answers()
    engine.left = 5
    anytime(run, "4,8,16", engine=engine, answer_tokens=8)
    assert len(asked) == 3 and len(probes(run)) == 9
    # a probe made under other settings (another answer length) is not taken for one of these
    asked.clear()
    engine = Answers()
    engine.left = 5
    anytime(run, "4,8", engine=engine, answer_tokens=6)
    assert len(asked) == 6


def test_thinking_cut_by_the_token_limit_is_not_finished_past_its_end_and_answers_are_counted(tiny_model, tmp_path):
    # a trace that hit max_tokens while thinking was the sample's own `truncated` verdict at every budget
    # past its length, counted "finished": the curve fell from right to 0 as the budget grew. And a
    # sample without completion_tokens had 0 answer tokens, though its thinking was counted
    from transformers import AutoTokenizer

    from evalkit.budgets import Continued

    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "2+3?", "answer": "5"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    thinking = "<think>\n" + "Adding two and three gives five. " * 6
    rows = [{"problem_id": "m", "sample": 0, "completion": thinking, "finish_reason": "length"},
            {"problem_id": "m", "sample": 1, "completion": thinking + "</think>\n\nThe answer is \\boxed{5}.",
             "finish_reason": "stop"}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                           n=2, progress=False).run_dir
    tok = AutoTokenizer.from_pretrained(tiny_model)
    said = tuple(tok.encode("\\boxed{5}", add_special_tokens=False))

    class Answers:
        tokenizer = tok

        def continue_tokens(self, prefixes):
            return [Continued(said, "stop") for _ in prefixes]

    anytime(run, "4,100000", engine=Answers(), answer_tokens=8)
    got = probes(run)
    think_tokens = len(tok(thinking[len("<think>"):], add_special_tokens=False)["input_ids"])
    past = next(p for k, p in got.items() if k[2:] == (0, 100000))
    assert past["source"] == "generated" and past["correct"] is True
    assert past["cut_char"] == len(thinking) and past["think_tokens"] == think_tokens
    tail = len(tok.encode("</think>" + DEFAULT_ANSWER_CUE, add_special_tokens=False))
    # the close and cue count, and the end of sequence the engine stopped on, as in a budget sweep
    assert past["answer_tokens"] == tail + len(said) + 1
    done = next(p for k, p in got.items() if k[2:] == (1, 100000))
    # all it wrote but its thinking: the open marker, the close and the answer
    answer = len(tok("<think>", add_special_tokens=False)["input_ids"]) + len(
        tok("</think>\n\nThe answer is \\boxed{5}.", add_special_tokens=False)["input_ids"])
    assert done["source"] == "finished" and done["answer_tokens"] == answer
    (curve,) = json.loads((run / "anytime.json").read_text())["results"]
    last = curve["budgets"][-1]
    assert last["finished_share"] == 0.5 and last["metrics"]["avg@n"]["value"] == 1.0


def test_thinking_that_re_encodes_to_more_tokens_than_the_model_drew_counts_as_the_model_did(tiny_model, tmp_path,
                                                                                            capfd):
    # the tokenizer's count of the thinking (here characters it splits into several tokens each) passed the
    # sample's own completion_tokens: a finished sample had 0 answer tokens, and budgets cut thinking it never had
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "2+3?", "answer": "5"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    row = {"problem_id": "m", "sample": 0, "completion": "<think>\n" + "ünïcödé ✓ " * 6 + "</think>\n\\boxed{5}",
           "finish_reason": "stop", "completion_tokens": 20}
    (tmp_path / "c.jsonl").write_text(json.dumps(row) + "\n")
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                           progress=False).run_dir
    anytime(run, "8,20,1000", generate=False, tokenizer=str(tiny_model))
    got = {k[3]: p for k, p in probes(run).items()}
    assert got[1000]["source"] == got[20]["source"] == "finished", got
    assert got[1000]["think_tokens"] + got[1000]["answer_tokens"] == 20 and got[1000]["answer_tokens"] > 0
    assert got[8]["source"] != "finished" and got[8]["think_tokens"] <= 8
    # a damaged probe file is named as such when a rerun cannot carry the curves (it named anytime.json)
    with open(run / "anytime.jsonl", "a") as f:
        f.write('{"broken\n')
    evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=run, progress=False)
    assert f"{run / 'anytime.jsonl'}:4 cannot be read (JSONDecodeError)" in capfd.readouterr().err


@pytest.mark.parametrize("edit, says", [
    (lambda s: {**s, "completion_tokens": "12"}, "field 'completion_tokens': expected a whole number >= 0, got '12'"),
    (lambda s: {**s, "completion_tokens": -5}, "field 'completion_tokens': expected a whole number >= 0, got -5"),
    (lambda s: {**s, "trace": {**s["trace"], "trajectory": [{"answer": "1"}]}},
     "field 'trace.trajectory': each entry needs a whole-number 'position'"),
    (lambda s: {**s, "budget": 64}, "a --think-budget sweep; anytime reads an ordinary run's samples"),
    # an entry without its answer was a KeyError traceback
    (lambda s: {**s, "trace": {**s["trace"], "trajectory": [{"position": 5, "answer": 7}]}},
     "field 'trace.trajectory': each entry's 'answer' is text or null"),
    (lambda s: {**s, "trace": {**s["trace"], "trajectory": "abc"}}, "field 'trace.trajectory': expected a list"),
])
def test_anytime_refuses_samples_it_cannot_count_in_one_line(demo_run, tmp_path, edit, says):
    # a count as text or a trajectory without positions was a traceback (exit 1); a negative count was used
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    edited = [edit(s) for s in samples] if "budget" in says else [edit(samples[0])] + samples[1:]
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in edited))
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate", "--budgets", "64,256"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr, r.stderr


@pytest.mark.parametrize("content, says", [
    (b'[1, 2]\n', "anytime.jsonl:1: expected a probe record (an object with a whole-number budget), got a list"),
    (b'{"budget": 64}\n{"budget": "128"}\n', "anytime.jsonl:2: expected a probe record (an object with a whole-number "
                                             "budget), its budget is '128'"),
    (b'{"budget": 64}\n{"budget": 12\n', "anytime.jsonl:2: not JSON"),
    (b'\xff\xfe{}\n', "anytime.jsonl: not UTF-8 text"),
])
def test_the_report_names_a_damaged_probe_line_instead_of_a_traceback(demo_run, tmp_path, content, says):
    # a hand-edited anytime.jsonl was an AttributeError / TypeError / UnicodeDecodeError traceback, exit 1
    import shutil

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    (run / "anytime.jsonl").write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "evalkit", "report", str(run)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr, r.stderr
    assert "fix or remove it" in r.stderr


def test_the_command_line_s_answer_length_and_cue_shape_the_probes_a_server_generates(tiny_model, tmp_path):
    from _http import JSONHandler, serve
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    said = tok.encode(" \\boxed{2}", add_special_tokens=False)

    class Completions(JSONHandler):  # a run's reply (a text prompt), then the probes' answers (token ids)
        def do_GET(self):  # noqa: N802
            self._send({"data": [{"id": str(tiny_model)}]})

        def do_POST(self):  # noqa: N802
            body = self.read_body()
            if isinstance(body["prompt"], str):
                text = "<think>\n" + "one plus one is two. " * 8 + "</think> \\boxed{2}"
                choice = {"index": 0, "text": text, "finish_reason": "stop"}
            else:
                choice = {"index": 0, "text": " \\boxed{2}", "token_ids": said, "finish_reason": "stop"}
            self._send({"choices": [choice], "usage": {"prompt_tokens": 10, "completion_tokens": 60}})

    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "two", "problem": "What is 1+1?", "answer": "2"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n"
                                     "generation: {n: 1, temperature: 0.6, top_p: 0.95, max_tokens: 200}\n")
    with serve(Completions) as (url, seen):
        run = evalkit.evaluate([str(tmp_path / "t.yaml")], backend="openai", model=str(tiny_model), base_url=url,
                               backend_options={"endpoint": "completions"}, out=tmp_path / "run", progress=False,
                               trace=False).run_dir
        r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--budgets", "8", "--base-url", url,
                            "--model", str(tiny_model), "--answer-tokens", "3", "--answer-cue", "\nANSWER:"],
                           capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    [probe] = [b for b in seen if isinstance(b["prompt"], list)]
    tail = tok.encode("</think>\nANSWER:", add_special_tokens=False)
    assert probe["prompt"][-len(tail):] == tail and probe["max_tokens"] == 3
    summary = json.loads((run / "anytime.json").read_text())
    assert (summary["answer_tokens"], summary["answer_cue"]) == (3, "\nANSWER:")
    [p] = probes(run).values()
    assert p["source"] == "generated" and p["correct"] is True, p


def test_the_default_budgets_reach_the_longest_thinking():
    # the defaults stopped at 32768: thinking of 40,000 tokens got no budget at its whole length
    from evalkit.anytime import default_budgets

    assert default_budgets(1) == (512,)
    assert default_budgets(1000) == (512, 1024)
    assert default_budgets(32768)[-1] == 32768
    assert default_budgets(40000) == (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


def test_a_generated_probe_cuts_where_the_counter_cuts_when_the_text_re_encodes_to_more(tiny_model, tmp_path):
    # the counter scaled the re-encoding to the model's own count, but a generated probe kept B tokens of the
    # re-encoding: less thinking than the model's first B, and at a budget past the end more thinking tokens
    # (the re-encoding's) than the model's whole reply
    from transformers import AutoTokenizer

    from evalkit.budgets import Continued

    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "2+3?", "answer": "5"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    row = {"problem_id": "m", "sample": 0, "completion": "<think>\n" + "ünïcödé ✓ " * 6, "finish_reason": "length",
           "completion_tokens": 20}
    (tmp_path / "c.jsonl").write_text(json.dumps(row) + "\n")
    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert len(tok.encode(row["completion"], add_special_tokens=False)) > 2 * 20  # the premise: it re-encodes to more
    seen = []

    class Answers:
        tokenizer = tok

        def continue_tokens(self, prefixes):
            seen.extend(prefixes)
            return [Continued(tuple(tok.encode("\\boxed{5}", add_special_tokens=False)), "stop") for _ in prefixes]

    runs = {}
    for generate in (False, True):
        runs[generate] = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl",
                                          out=tmp_path / f"run{generate}", progress=False).run_dir
        anytime(runs[generate], "8,1000", generate=generate, tokenizer=str(tiny_model),
                **({"engine": Answers(), "answer_tokens": 8} if generate else {}))
    counted, generated = ({k[3]: p for k, p in probes(runs[g]).items()} for g in (False, True))
    for b in (8, 1000):
        assert generated[b]["source"] == "generated" and generated[b]["cut_char"] == counted[b]["cut_char"], b
        assert generated[b]["think_tokens"] == counted[b]["think_tokens"] <= min(b, 20), (generated, counted)
    assert counted[1000]["cut_char"] == len(row["completion"])
    # what the model was given to go on from is its thinking up to the cut
    assert tok.decode(list(seen[0].token_ids)).endswith(row["completion"][:counted[8]["cut_char"]] + "</think>"
                                                   + DEFAULT_ANSWER_CUE)
    # probes an older evalkit kept (their header has no `cut`) are made again, not kept with its cut
    kept = runs[True] / "anytime.generated.jsonl"
    lines = [json.loads(line) for line in kept.read_text().splitlines()]
    del lines[0]["header"]["cut"]
    kept.write_text("".join(json.dumps(line) + "\n" for line in lines))
    asked = len(seen)
    anytime(runs[True], "8,1000", tokenizer=str(tiny_model), engine=Answers(), answer_tokens=8)
    assert len(seen) == asked + 2


def test_a_base_url_alone_means_the_openai_backend_as_for_run(monkeypatch, tmp_path):
    # `anytime RUN --base-url URL` on a vLLM run was "the vllm backend has no option 'base_url'"; `evalkit run`
    # takes a server's URL for the openai backend
    import evalkit.anytime as module
    from click.testing import CliRunner

    from evalkit.cli import main
    from evalkit.errors import InputError

    given = {}

    def taken(run_dir, budgets, **options):  # what the command hands on, then a stop
        given.update(options)
        raise InputError("stop here")

    monkeypatch.setattr(module, "anytime", taken)
    r = CliRunner().invoke(main, ["anytime", str(tmp_path), "--base-url", "http://127.0.0.1:9/v1", "--model", "M"])
    assert r.exit_code == 2 and "stop here" in r.output, r.output
    assert given["backend_options"]["backend"] == "openai" and given["backend_options"]["endpoint"] == "completions"
    r = CliRunner().invoke(main, ["anytime", str(tmp_path), "--base-url", "http://h/v1", "--backend", "vllm"])
    assert given["backend_options"]["backend"] == "vllm"  # named, it is what was named (and refuses a URL)


def _replayed_run(tmp_path: Path, spec: str, rows: list[dict], replay: list[dict]) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "t.yaml").write_text(spec)
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in replay))
    return evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                            progress=False).run_dir


def test_a_problem_the_run_could_not_judge_is_unjudged_at_every_budget(tmp_path):
    # p4's gold is empty: the run leaves its samples unjudged (avg@n over p1 alone); a budget that cuts its
    # thinking once counted its candidate as wrong, a curve over two problems at 100 and over one past it
    thought = "So the answer is 7. " + "Let me check that again carefully. " * 10
    replay = [{"problem_id": p, "sample": 0, "completion": f"<think>{thought}</think>\n\n$\\boxed{{7}}$",
               "completion_tokens": len(thought) + 30} for p in ("p1", "p4")]
    run = _replayed_run(tmp_path, "name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n",
                        [{"id": "p1", "problem": "3+4?", "answer": "7"}, {"id": "p4", "problem": "1+1?", "answer": ""}],
                        replay)
    [headline] = json.loads((run / "results.json").read_text())["results"]
    assert headline["metrics"]["avg@n"]["n_problems"] == 1
    summary = anytime(run, budgets=[100, 100000], generate=False, tokenizer="recorded")
    rows = {row["budget"]: row for row in summary["results"][0]["budgets"]}
    assert rows[100]["metrics"]["avg@n"]["n_problems"] == 1 and rows[100]["metrics"]["avg@n"]["value"] == 1.0
    assert rows[100000]["metrics"]["avg@n"]["n_problems"] == 1
    cut = probes(run)[(summary["results"][0]["model"], "p4", 0, 100)]
    assert cut["source"] == "trajectory" and cut["correct"] is None


def test_anytime_curves_report_the_metrics_the_run_reports(tmp_path):
    # a task that asks for avg@n alone, and a code task (programs do not vote): the curves once carried the
    # default metrics, maj@k over program texts included, wherever the run's own results did not
    think = "<think>" + "Let me write the function carefully. " * 8 + "</think>\n"
    program = "```python\ndef add(a, b):\n    return a + b\n```"
    rows = [{"id": "add", "problem": "Write add(a, b).",
             "tests": {"style": "call", "entry_point": "add", "cases": [{"input": [1, 2], "output": 3}]}}]
    replay = [{"problem_id": "add", "sample": i, "completion": think + program.replace("a + b", ["a + b", "b + a"][i]),
               "completion_tokens": 120} for i in range(2)]
    code = _replayed_run(tmp_path / "code", "name: c\ndataset: {local: p.jsonl}\nfields: {id: id, tests: tests}\n"
                         "verifier: code\ngeneration: {n: 2}\n", rows, replay)
    [own] = json.loads((code / "results.json").read_text())["results"]
    summary = anytime(code, budgets=[40, 100000], generate=False, tokenizer="recorded")
    for row in summary["results"][0]["budgets"]:
        assert sorted(row["metrics"]) == sorted(own["metrics"]), row["metrics"]
        assert not any(k.startswith("maj@") for k in row["metrics"])
    answer = "<think>" + "So it is 7. " * 12 + "</think>\n\n$\\boxed{7}$"
    math = _replayed_run(tmp_path / "math", "name: m\ndataset: {local: p.jsonl}\nfields: {id: id}\nmetrics: [avg@n]\n"
                         "generation: {n: 2}\n", [{"id": "p1", "problem": "3+4?", "answer": "7"}],
                         [{"problem_id": "p1", "sample": i, "completion": answer, "completion_tokens": 60}
                          for i in range(2)])
    summary = anytime(math, budgets=[20, 100000], generate=False, tokenizer="recorded")
    assert [sorted(row["metrics"]) for row in summary["results"][0]["budgets"]] == [["avg@n"], ["avg@n"]]


def test_a_problem_the_run_could_not_judge_is_unjudged_at_every_generated_budget(tiny_model, tmp_path):
    # a verifier fault left p4 unjudged (a sandbox that could not start, for code): its generated probes got
    # verdicts of their own, a curve over two problems at a cut budget and over one past it
    from transformers import AutoTokenizer

    thought = "So the answer is 7. " + "Let me check that again carefully. " * 10
    replay = [{"problem_id": p, "sample": 0, "completion": f"<think>{thought}</think>\n\n$\\boxed{{7}}$"}
              for p in ("p1", "p4")]
    run = _replayed_run(tmp_path, "name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n",
                        [{"id": "p1", "problem": "3+4?", "answer": "7"}, {"id": "p4", "problem": "3+4?", "answer": "7"}],
                        replay)
    lines = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for s in lines:
        if s["problem_id"] == "p4":
            s.update(correct=None, score=None, reason="error", detail="the sandbox could not start")
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in lines))

    class Answers:  # an engine whose model answers 7 after the cue
        tokenizer = AutoTokenizer.from_pretrained(tiny_model)

        def continue_tokens(self, prefixes):
            from evalkit.budgets import Continued

            ids = self.tokenizer.encode("\\boxed{7}", add_special_tokens=False)
            return [Continued(tuple(ids), "stop") for _ in prefixes]

    summary = anytime(run, "4,100000", engine=Answers(), answer_tokens=8)
    rows = {row["budget"]: row["metrics"]["avg@n"] for row in summary["results"][0]["budgets"]}
    assert rows[4]["n_problems"] == rows[100000]["n_problems"] == 1 and rows[4]["value"] == 1.0, rows
    cut = probes(run)[(summary["results"][0]["model"], "p4", 0, 4)]
    assert cut["source"] == "generated" and cut["correct"] is None


def test_a_sample_without_a_token_count_counts_its_answer_as_one_with_a_count_does(tmp_path):
    # with a count, the answer was the count less the thinking (the <think> the model wrote included);
    # without one, only the close and what followed: the answer column mixed two footings
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "m", "problem": "What is 6*7?", "answer": "42"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    completion = "<think>\nSo the answer is 42. Let me check: 6*7 = 42.\n</think>\n\nThe answer is \\boxed{42}."
    rows = [{"problem_id": "m", "sample": 0, "completion": completion, "completion_tokens": len(completion)},
            {"problem_id": "m", "sample": 1, "completion": completion}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", str(tmp_path / "t.yaml"), "--completions",
                        str(tmp_path / "c.jsonl"), "--out", str(run), "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate", "--budgets",
                        "10,100000", "--tokenizer", "recorded"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = probes(run)
    by_sample = {k[2]: p for k, p in got.items() if k[-1] == 100000}
    # one token per character, the model's mean, so both count the same text the same: every character but
    # the thinking's
    assert by_sample[0]["think_tokens"] == by_sample[1]["think_tokens"]
    assert by_sample[0]["answer_tokens"] == by_sample[1]["answer_tokens"] == (
        len(completion) - by_sample[0]["think_tokens"])


def test_probes_are_judged_with_the_specs_api_key_that_config_json_leaves_out(tmp_path):
    # config.json records a judge's options without its api_key: the probes' judge was built without it
    from _judge_server import ScriptedJudge

    import evalkit
    from evalkit.anytime import recorded_options

    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p", "problem": "2+2?", "answer": "4"}) + "\n")
    (tmp_path / "r.jsonl").write_text(json.dumps({"problem_id": "p", "sample": 0, "completion": "<think>x</think>"
                                                  "\\boxed{4}"}) + "\n")
    with ScriptedJudge(lambda b: "VERDICT: INCORRECT") as judge:
        judged = {"model": judge.model, "base_url": judge.url, "user_cache": False}
        options = json.dumps({"require_box": True, "judge": {**judged, "api_key": "sk-SPEC"}})
        (tmp_path / "t.yaml").write_text("name: sums\ndataset: {local: p.jsonl}\nfields: {id: id}\n"
                                         f"verifier: math+judge\nverifier_options: {options}\n")
        run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=str(tmp_path / "r.jsonl"), out=tmp_path / "run",
                               progress=False).run_dir
    (task,) = json.loads((run / "config.json").read_text())["tasks"]
    assert task["verifier_options"] == {"require_box": True, "judge": judged}
    assert recorded_options(task) == {"require_box": True, "judge": {**judged, "api_key": "sk-SPEC"}}
    # a spec edited since (other options) is not read back: the run's own record stands
    spec = (tmp_path / "t.yaml").read_text()
    (tmp_path / "t.yaml").write_text(spec.replace('"require_box": true', '"require_box": false'))
    assert recorded_options(task) == task["verifier_options"]
