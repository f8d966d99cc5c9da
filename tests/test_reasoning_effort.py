"""`--reasoning-effort low|medium|high`: rendered into a chat template that takes it, sent to an
OpenAI-compatible server as `reasoning_effort`, part of the run's identity, and the server's
`reasoning_tokens` recorded per sample.

The server is a small local OpenAI-compatible endpoint (no model that reasons by effort runs on this
machine); the backend, the template rendering with a real tokenizer, the run and its files are real.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from _http import JSONHandler, serve

import evalkit
from evalkit.backends.base import get_backend
from evalkit.cli import main
from evalkit.errors import InputError

REPLY = "<think>\n2+2=4.\n</think>\n\nThe answer is $\\boxed{4}$."
# a gpt-oss-like template line: the effort is a template variable (default medium)
EFFORT_TEMPLATE = ("{{ 'Reasoning: ' + (reasoning_effort | default('medium')) + '\\n' }}"
                   "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                   "<|im_start|>assistant\n")


class _Server(JSONHandler):
    def do_POST(self):  # noqa: N802
        self.read_body()
        usage = {"prompt_tokens": 20, "completion_tokens": 30, "completion_tokens_details": {"reasoning_tokens": 24}}
        if self.path.endswith("/chat/completions"):
            choice = {"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}
        else:  # the prompt ends with the <think> prefill
            choice = {"index": 0, "text": REPLY[len("<think>\n"):], "finish_reason": "stop"}
        self._send({"choices": [choice], "usage": usage})


@pytest.fixture
def server():
    with serve(_Server) as running:
        yield running


@pytest.fixture
def task(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "a", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: small\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    return str(tmp_path / "t.yaml")


@pytest.fixture
def effort_tokenizer(tmp_path, tiny_model):
    """The tiny model's tokenizer with a template that takes the effort (EFFORT_TEMPLATE): its folder."""
    from transformers import AutoTokenizer

    tok_dir = tmp_path / "tok"
    shutil.copytree(tiny_model, tok_dir)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    tok.chat_template = EFFORT_TEMPLATE
    tok.save_pretrained(tok_dir)
    return tok_dir


def _samples(run):
    return [json.loads(line) for line in (run.run_dir / "samples.jsonl").read_text().splitlines()]


def test_the_server_is_sent_the_effort_and_its_reasoning_tokens_are_recorded(server, task, tmp_path):
    url, seen = server
    run = evalkit.evaluate([task], model="m", backend="openai", base_url=url, reasoning_effort="high",
                           out=tmp_path / "run", progress=False)
    assert [b.get("reasoning_effort") for b in seen] == ["high"]
    assert "chat_template_kwargs" not in seen[0]  # the effort is the request's own field (OpenAI's API takes no other)
    [sample] = _samples(run)
    assert sample["reasoning_tokens"] == 24 and sample["reason"] == "correct"
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["identity"]["tasks"]["small"]["chat_template_kwargs"] == {"reasoning_effort": "high"}
    with pytest.raises(InputError, match="reasoning_effort"):  # another effort is another run
        evalkit.evaluate([task], model="m", backend="openai", base_url=url, reasoning_effort="low",
                         out=tmp_path / "run", progress=False)
    evalkit.evaluate([task], model="m", backend="openai", base_url=url, out=tmp_path / "plain", progress=False)
    assert "reasoning_effort" not in seen[-1]  # not set: not sent


def test_a_template_that_takes_the_effort_renders_it_both_ways(server, task, tmp_path, effort_tokenizer):
    url, seen = server
    tok_dir = effort_tokenizer
    prompts = {}
    for effort in ("low", "high"):
        run = evalkit.evaluate([task], model="m", backend="openai", base_url=url, reasoning_effort=effort,
                               backend_options={"endpoint": "completions", "tokenizer": str(tok_dir)},
                               out=tmp_path / effort, progress=False)
        [sample] = _samples(run)
        prompts[effort] = sample["prompt"]
        assert sample["reason"] == "correct" and sample["reasoning_tokens"] == 24
    assert prompts["low"].startswith("Reasoning: low\n") and prompts["high"].startswith("Reasoning: high\n")
    assert prompts["low"].replace("low", "high", 1) == prompts["high"]
    assert [b["prompt"] for b in seen] == [prompts["low"], prompts["high"]]  # what the server was given


def test_the_cli_takes_the_three_efforts_only(task):
    result = CliRunner().invoke(main, ["run", task, "--model", "m", "--reasoning-effort", "extreme"])
    assert result.exit_code == 2 and "'extreme' is not one of 'low', 'medium', 'high'" in result.output


def test_each_task_sends_its_own_template_options_and_a_reused_engine_forgets_them(server, tmp_path):
    # Qwen3 with and without thinking on the same problems, in one run: the same messages, two tasks
    url, seen = server
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "a", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    for name, options in (("think", "{enable_thinking: true}"), ("nothink", "{enable_thinking: false}"),
                          ("plain", "{}")):
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\ndataset: {{local: p.jsonl}}\nfields: {{id: id}}\n"
                                               f"chat_template_kwargs: {options}\n")
    tasks = [str(tmp_path / f"{name}.yaml") for name in ("think", "nothink", "plain")]
    evalkit.evaluate(tasks, model="m", backend="openai", base_url=url, out=tmp_path / "run", progress=False)
    sent = sorted(str(b.get("chat_template_kwargs")) for b in seen)
    assert sent == ["None", "{'enable_thinking': False}", "{'enable_thinking': True}"]

    engine = get_backend("openai", model="m", base_url=url)
    evalkit.evaluate([tasks[1]], engine=engine, reasoning_effort="high", out=tmp_path / "a", progress=False)
    assert (seen[-1].get("chat_template_kwargs"), seen[-1].get("reasoning_effort")) == ({"enable_thinking": False},
                                                                                        "high")
    evalkit.evaluate([tasks[2]], engine=engine, out=tmp_path / "b", progress=False)  # the next evaluation's own
    assert "chat_template_kwargs" not in seen[-1] and "reasoning_effort" not in seen[-1]


def test_the_completions_endpoint_renders_the_backends_effort_and_adds_no_second_bos(server, task, tmp_path,
                                                                                   effort_tokenizer):
    url, seen = server
    engine = get_backend("openai", model="m", base_url=url, endpoint="completions", tokenizer=str(effort_tokenizer),
                         reasoning_effort="high")
    evalkit.evaluate([task], engine=engine, out=tmp_path / "run", progress=False)
    assert seen[-1]["prompt"].startswith("Reasoning: high\n")
    # the template wrote the prompt's special tokens, as the in-process engines encode it (vLLM adds a BOS
    # by default: an R1-distill template's own BOS would be doubled)
    assert seen[-1]["add_special_tokens"] is False
