"""Think formats: every built-in row, with a finished and a cut-off trace each, through the verifier,
the trace analyzer, the rewards (functions and HTTP server), `evalkit verify`/`analyze` and a replay
run; `auto` for the tiny model's template, for other templates and tokenizers, and for replays; a
gpt-oss (harmony) reply from an OpenAI-compatible server that returns `reasoning_content`.

The traces are faithful synthetic ones: each format's real markers around the same short thinking,
with a `\\boxed{4}` inside the cut-off thinking, so a reader that takes the wrong row (or none) would
score the cut-off trace as a finished right answer.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from _http import JSONHandler, serve

import evalkit
from evalkit.cli import main
from evalkit.errors import InputError
from evalkit.thinking import (FORMATS, decide, detect_from_completions, detect_from_tokenizer, get_format,
                              is_truncated, load_formats, split_think, stitch, well_formed)

THINKING = "Let me compute 2+2. Wait, let me check that again: 2+2=4."
CUT_THINKING = "Let me compute 2+2. Hmm, maybe it is \\boxed{4}? Wait, let me check"
ANSWER = "The answer is $\\boxed{4}$."

# name -> (finished trace, cut-off trace, finish_reason of the cut-off one when only it can tell)
TRACES = {
    "r1": (f"<think>\n{THINKING}\n</think>\n\n{ANSWER}", f"<think>\n{CUT_THINKING}", None),
    "sky": (f"<|begin_of_thought|>\n\n{THINKING}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n"
            f"Wait, to sum up: {ANSWER}\n\n<|end_of_solution|>",
            f"<|begin_of_thought|>\n\n{CUT_THINKING}", None),
    "magistral": (f"[THINK]{THINKING}[/THINK]{ANSWER}", f"[THINK]{CUT_THINKING}", None),
    "harmony": (f"<|channel|>analysis<|message|>{THINKING}<|end|><|start|>assistant<|channel|>final<|message|>"
                f"{ANSWER}<|return|>", f"<|channel|>analysis<|message|>{CUT_THINKING}", None),
    "seed": (f"<seed:think>{THINKING}</seed:think>{ANSWER}", f"<seed:think>{CUT_THINKING}", None),
    "none": (f"2+2=4. {ANSWER}", "2+2 is, let me see, \\boxed{4", "length"),
}
NAMES = sorted(TRACES)


def test_the_table_has_every_row_the_design_names():
    assert set(FORMATS) == {"r1", "sky", "magistral", "harmony", "seed", "none"}
    for fmt in FORMATS.values():
        assert fmt.thinks == (fmt.name != "none")
        if fmt.thinks:  # the prefill opens thinking; stopping it closes thinking (and opens the answer)
            assert fmt.prefill.startswith(fmt.open) and fmt.close in fmt.stop_thinking
            assert fmt.answer_open in fmt.stop_thinking


@pytest.mark.parametrize("name", NAMES)
def test_each_format_splits_and_judges_truncation_by_its_own_markers(name):
    finished, cut, cut_reason = TRACES[name]
    done = split_think(finished, think_format=name)
    assert done.answer.strip().startswith(("The answer", "Wait, to sum up", "2+2=4"))
    assert (done.think.strip() == THINKING) == (name != "none")
    assert not is_truncated(finished, think_format=name)
    assert is_truncated(cut, cut_reason, think_format=name)
    assert well_formed(finished, name)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("r1", "none")])
def test_the_analyzer_reads_the_same_acts_at_the_same_places_in_every_format(name):
    # The open marker ends no sentence of its own in r1 alone: elsewhere it was glued to the first one,
    # so a start-anchored row ("Actually, ...") could not fire on it and an act's span held the tag.
    from evalkit.trace import analyze

    thinking = "Actually, 3*4 is 12. Wait, no, 3*4 is 12, not 13. Let me double-check that. Yes, that matches."
    r1 = f"<think>{thinking}</think>The answer is \\boxed{{12}}."
    fmt = FORMATS[name]
    text = f"{fmt.open}{thinking}{fmt.close}{fmt.answer_open}The answer is \\boxed{{12}}.{fmt.answer_close}"
    for detector in ("rules", "model"):
        want = [(m.kind, m.rule, r1[m.start:m.end], m.start - r1.index(thinking)) for m in
                analyze(r1, "12", think_format="r1", detector=detector).markers]
        got = [(m.kind, m.rule, text[m.start:m.end], m.start - text.index(thinking)) for m in
               analyze(text, "12", think_format=name, detector=detector).markers]
        assert got == want and want, (detector, got)
        assert all(fmt.open not in span for _, _, span, _ in got)
        if detector == "rules":
            assert want[0] == ("doubt", "actually", "Actually, 3*4 is 12.", 0)


def test_a_sky_trace_cut_mid_thought_read_as_r1_would_pass_as_a_finished_right_answer():
    _, cut, _ = TRACES["sky"]
    from evalkit.verifiers.math import verify_math

    assert verify_math(cut, "4").reason == "correct"  # the old reading: no </think>, all answer
    assert verify_math(cut, "4", think_format="sky").reason == "truncated"


@pytest.mark.parametrize("name", NAMES)
def test_verify_analyze_and_rewards_read_each_format(name):
    from evalkit.rewards import math_reward, think_format_reward
    from evalkit.trace import analyze
    from evalkit.verifiers.math import verify_math

    finished, cut, cut_reason = TRACES[name]
    assert verify_math(finished, "4", think_format=name).reason == "correct"
    assert verify_math(cut, "4", finish_reason=cut_reason, think_format=name).reason == "truncated"

    stats = analyze(finished, "4", think_format=name)
    assert not stats.truncated and stats.final_correct is True
    assert stats.has_think == (name != "none")
    split = split_think(finished, think_format=name)
    if name != "none":
        assert finished[split.think_start:split.think_end].strip() == THINKING
        assert stats.unit == "chars" and stats.think_length == split.think_end - split.think_start
        # the analyzer reads only the thinking: the sky solution's own "Wait" is not a marker
        assert stats.markers and all(m.end <= split.think_end for m in stats.markers)
    assert analyze(cut, "4", finish_reason=cut_reason, think_format=name).truncated

    rewards = math_reward([finished, cut], answer=["4", "4"], finish_reason=[None, cut_reason], think_format=name)
    assert rewards == [1.0, 0.0]
    shaped = think_format_reward([finished, cut], think_format=name)
    assert shaped == ([1.0, 1.0] if name == "none" else [1.0, 0.0])  # `none`: any non-empty reply is well formed
    # the dataset column `auto` reads each completion's own markers
    assert math_reward([finished, cut], answer=["4", "4"], finish_reason=[None, cut_reason],
                       think_format=["auto", "auto"]) == [1.0, 0.0]


@pytest.mark.parametrize("name", NAMES)
def test_cli_verify_pairs_and_analyze_decide_auto_from_the_file(name, tmp_path):
    finished, cut, cut_reason = TRACES[name]
    rows = [{"id": "done", "completion": finished, "gold": "4"},
            {"id": "cut", "completion": cut, "gold": "4", "finish_reason": cut_reason}]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runner = CliRunner()
    out = runner.invoke(main, ["verify", "--pairs", str(pairs)])
    assert out.exit_code == 0, out.output
    got = {json.loads(line)["id"]: json.loads(line)["reason"] for line in out.output.splitlines()}
    assert got == {"done": "correct", "cut": "truncated"}
    analyzed = runner.invoke(main, ["analyze", str(pairs)])
    assert analyzed.exit_code == 0, analyzed.output
    assert f"think format: {name} (" in analyzed.output and "2 completions" in analyzed.output


@pytest.mark.parametrize("name", NAMES)
def test_a_replay_run_decides_the_format_from_the_completions_and_records_why(name, tmp_path):
    finished, cut, cut_reason = TRACES[name]
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p1", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: twoplustwo\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    rows = [{"problem_id": "p1", "sample": 0, "completion": finished},
            {"problem_id": "p1", "sample": 1, "completion": cut, "finish_reason": cut_reason}]
    replay = tmp_path / f"{name}.jsonl"
    replay.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=replay, out=tmp_path / "run", progress=False)
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["think_format"]["name"] == name
    assert ("completions hold one of its markers" if name != "none" else "no think marker") in config["think_format"]["decided_by"]
    samples = {s["sample"]: s for s in map(json.loads, (run.run_dir / "samples.jsonl").read_text().splitlines())}
    assert (samples[0]["reason"], samples[1]["reason"]) == ("correct", "truncated")
    assert samples[0]["trace"]["has_think"] == (name != "none")
    html = (run.run_dir / "index.html").read_text()
    assert "Think format" in html and f"{name} (" in html
    # a resumed run keeps its format; another one is refused
    with pytest.raises(InputError, match="scored with think format"):
        evalkit.evaluate([str(tmp_path / "t.yaml")], completions=replay, out=tmp_path / "run", progress=False,
                         think_format="magistral" if name != "magistral" else "seed")


def test_a_replay_of_two_formats_is_refused_under_auto_and_read_as_told(tmp_path):
    # one model cut off mid-thought in r1, another finished in harmony: read as harmony (the tie's first row),
    # the cut r1 thinking would be scored as an answer
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p1", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: twoplustwo\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    cut = "<think>I guess \\boxed{4} but wait"
    harmony = TRACES["harmony"][0]
    rows = [{"model": m, "problem_id": "p1", "sample": i, "completion": text, "finish_reason": "length" if m == "r"
             else "stop"} for m, text in (("r", cut), ("h", harmony)) for i in range(3)]
    replay = tmp_path / "mixed.jsonl"
    replay.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = CliRunner().invoke(main, ["run", str(tmp_path / "t.yaml"), "--completions", str(replay),
                                  "--out", str(tmp_path / "run"), "--no-progress"])
    assert r.exit_code == 2, r.output
    assert "several think formats (r1: 3, harmony: 3, of 6)" in r.output and "--think-format" in r.output
    assert not (tmp_path / "run" / "samples.jsonl").exists()
    # named, the run reads that one format: the cut r1 thinking is no answer under r1
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=replay, out=tmp_path / "r1", progress=False,
                           think_format="r1")
    samples = [json.loads(line) for line in (run.run_dir / "samples.jsonl").read_text().splitlines()]
    assert [s["reason"] for s in samples if s["model"] == "r"] == ["truncated"] * 3


def test_r1_replies_that_end_with_phi_s_end_of_turn_token_are_one_format_under_auto(tmp_path):
    # Phi-4-reasoning thinks in <think> and ends its turn with <|end|>, harmony's close: a replay whose
    # decoding kept that token was refused as a mix of r1 and harmony
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p1", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: twoplustwo\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    rows = [{"problem_id": "p1", "sample": i, "completion": "<think>2+2 is 4.</think>The answer is \\boxed{4}."
             + ("<|end|>" if i % 2 else "")} for i in range(4)]
    replay = tmp_path / "phi.jsonl"
    replay.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = CliRunner().invoke(main, ["run", str(tmp_path / "t.yaml"), "--completions", str(replay),
                                  "--out", str(tmp_path / "run"), "--no-progress"])
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["think_format"]["name"] == "r1"
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert [s["correct"] for s in samples] == [True] * 4


def test_analyze_and_verify_refuse_a_file_of_two_formats_under_auto_as_run_does(tmp_path):
    # analyze read the harmony lines under r1 (the first row of the tie) as all answer, no thinking, exit 0
    cut, harmony = "<think>I guess \\boxed{4} but wait", TRACES["harmony"][0]
    rows = [{"model": m, "completion": text, "gold": "4"} for m, text in (("r", cut), ("h", harmony)) for _ in range(3)]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for args in (["analyze", str(mixed), "--out", str(tmp_path / "a.jsonl")],
                 ["verify", "--pairs", str(mixed), "--out", str(tmp_path / "v.jsonl")]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, r.output
        assert "mixed.jsonl: the completions hold the markers of several think formats (r1: 3, harmony: 3, of 6)" \
            in r.output and "--think-format" in r.output
        assert not (tmp_path / "a.jsonl").exists() and not (tmp_path / "v.jsonl").exists()
    # a pairs line that names its own format is read with it, and leaves the others to decide theirs
    named = tmp_path / "named.jsonl"
    named.write_text("".join(json.dumps({**r, "think_format": "harmony" if r["model"] == "h" else "r1"}) + "\n"
                             for r in rows))
    r = CliRunner().invoke(main, ["verify", "--pairs", str(named), "--out", str(tmp_path / "v.jsonl")])
    assert r.exit_code == 0, r.output
    verdicts = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [v["reason"] for v in verdicts][:3] == ["truncated"] * 3 and all(v["correct"] for v in verdicts[3:])


def test_a_resume_under_a_row_changed_only_in_its_description_goes_on(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p1", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: twoplustwo\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    replay = tmp_path / "c.jsonl"
    replay.write_text(json.dumps({"problem_id": "p1", "sample": 0, "completion": "<r>2+2</r>\\boxed{4}"}) + "\n")
    row = "- name: my\n  open: '<r>'\n  close: '</r>'\n  description: {}\n"
    (tmp_path / "f.yaml").write_text(row.format("mine"))
    common = dict(completions=replay, out=tmp_path / "run", progress=False, think_format=str(tmp_path / "f.yaml"))
    evalkit.evaluate([str(tmp_path / "t.yaml")], **common)
    (tmp_path / "f.yaml").write_text(row.format("mine, described better"))  # words only: the samples stand
    assert evalkit.evaluate([str(tmp_path / "t.yaml")], **common).generated == 0
    (tmp_path / "f.yaml").write_text(row.format("mine").replace("</r>", "</R>"))  # what scores them: refused
    with pytest.raises(InputError, match=r"scored with think format 'my' as it was then \(another close"):
        evalkit.evaluate([str(tmp_path / "t.yaml")], **common)


def test_auto_reads_the_tiny_models_template_and_other_tokenizers(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    decision = detect_from_tokenizer(tok)
    assert decision.format.name == "r1" and decision.reason == "the tokenizer has the token '<think>'"
    # a gpt-oss-like template (harmony channels), a Magistral-like special token, a model with neither
    tok.chat_template = "{% for m in messages %}<|start|>{{ m.role }}<|message|>{{ m.content }}<|end|>{% endfor %}" \
                        "<|start|>assistant<|channel|>analysis<|message|>"
    assert detect_from_tokenizer(tok).format.name == "harmony"
    plain = AutoTokenizer.from_pretrained(tiny_model)
    plain.add_tokens(["[THINK]", "[/THINK]"], special_tokens=True)
    assert detect_from_tokenizer(plain).format.name == "magistral"  # rows are tried most specific first
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    bare = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")))
    bare.add_tokens(["[THINK]", "[/THINK]"], special_tokens=True)
    assert detect_from_tokenizer(bare).format.name == "magistral"
    none = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")))
    assert detect_from_tokenizer(none).format.name == "none"


def test_the_prefill_writes_the_formats_open_text(tiny_model):
    from transformers import AutoTokenizer

    from evalkit.backends.base import render_with_tokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    messages = [{"role": "user", "content": "What is 2+2?"}]
    prompt, prefill, opened = render_with_tokenizer(tok, messages, True, {}, "r1")
    assert prefill == "<think>\n" and prompt.endswith("<|im_start|>assistant\n<think>\n") and not opened
    tok.add_tokens(["<|begin_of_thought|>", "<|end_of_thought|>"], special_tokens=True)
    prompt, prefill, _ = render_with_tokenizer(tok, messages, True, {}, "sky")
    assert prefill == "<|begin_of_thought|>\n\n" and prompt.endswith("assistant\n<|begin_of_thought|>\n\n")
    assert render_with_tokenizer(tok, messages, True, {}, "none")[1] == ""
    assert render_with_tokenizer(tok, messages, True, {}, "magistral")[1] == ""  # the tokenizer cannot think so


QWEN3_LIKE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
              "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
              "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}"
              "{% endif %}{% endif %}")


def test_a_template_that_closed_thinking_gets_no_prefill(tiny_model, tmp_path):
    # Qwen3's template answers enable_thinking: false with an empty, closed think block; the prefill
    # must not open thinking again after it: the reply is all answer
    import shutil

    model = tmp_path / "qwen3-like"
    shutil.copytree(tiny_model, model)
    (model / "chat_template.jinja").write_text(QWEN3_LIKE)
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "1", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id, problem: problem, "
                                     "answer: answer}\nprompt: '{{ problem }}'\nverifier: math\n")
    common = dict(backend="transformers", model=str(model), dtype="float32", n=1, max_tokens=4, progress=False,
                  trace=False)
    off = evalkit.evaluate([str(tmp_path / "t.yaml")], out=tmp_path / "off",
                           chat_template_kwargs={"enable_thinking": False}, **common)
    sample = json.loads(off.samples_path.read_text().split("\n")[0])
    assert sample["prompt"].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert not sample["completion"].startswith("<think>") and sample["think_open"] is False
    on = evalkit.evaluate([str(tmp_path / "t.yaml")], out=tmp_path / "on", **common)  # thinking: forced open
    assert json.loads(on.samples_path.read_text().split("\n")[0])["prompt"].endswith("assistant\n<think>\n")


def test_auto_for_replays_of_each_format_and_its_fallbacks():
    for name, (finished, cut, _) in TRACES.items():
        assert detect_from_completions([finished, cut]).format.name == name
    assert decide("auto", completions=["no markers here"], think_open=True).format.name == "r1"
    assert decide("sky").reason == "--think-format sky"


def test_a_users_row_in_yaml(tmp_path):
    (tmp_path / "formats.yaml").write_text(
        "- name: reasoning_tags\n  open: '<reasoning>'\n  close: '</reasoning>'\n  signals: ['<reasoning>']\n")
    fmt = get_format(str(tmp_path / "formats.yaml"))
    assert (fmt.prefill, fmt.stop_thinking) == ("<reasoning>\n", "</reasoning>")
    text = "<reasoning>hmm \\boxed{5}</reasoning>The answer is \\boxed{4}."
    from evalkit.verifiers.math import verify_math

    assert verify_math(text, "4", think_format=fmt).reason == "correct"
    assert get_format(f"{tmp_path / 'formats.yaml'}:reasoning_tags") == fmt
    (tmp_path / "bad.yaml").write_text("- name: x\n  open: '<a>'\n- name: y\n  open: '<b>'\n  close: '</b>'\n  colour: red\n")
    with pytest.raises(InputError, match=r"bad.yaml:1: field 'close': expected a string"):
        load_formats(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="unknown think format 'qwen9'"):
        get_format("qwen9")


def test_a_users_yaml_with_a_slip_is_refused_at_its_line(tmp_path):
    # two rows with one name: the file is not a one-row file whose second row silently wins
    (tmp_path / "dup.yaml").write_text("- name: mine\n  open: '<r>'\n  close: '</r>'\n"
                                       "- name: mine\n  open: '<t>'\n  close: '</t>'\n")
    with pytest.raises(InputError, match=r"dup.yaml:4: think format 'mine' is given twice"):
        get_format(str(tmp_path / "dup.yaml"))
    # a quoted "false" is a non-empty string: true to Python, so every unclosed answer would be truncated
    (tmp_path / "quoted.yaml").write_text("- name: sol\n  open: '<t>'\n  close: '</t>'\n  answer_open: '<a>'\n"
                                          "  answer_close: '</a>'\n  answer_close_required: 'false'\n")
    with pytest.raises(InputError, match=r"quoted.yaml:6: field 'answer_close_required': expected true or false"):
        get_format(str(tmp_path / "quoted.yaml"))
    # a misspelt field is named at its own line, not the row's
    (tmp_path / "typo.yaml").write_text("- name: t\n  open: '<t>'\n  close: '</t>'\n  stop_thinkng: '</t>'\n")
    with pytest.raises(InputError, match=r"typo.yaml:4: field 'stop_thinkng': unknown"):
        get_format(str(tmp_path / "typo.yaml"))
    # rows whose fields disagree: an answer close required but never named (every answer would be truncated);
    # answer markers on a row that does not think (its whole reply is the answer)
    (tmp_path / "req.yaml").write_text("- name: my\n  open: '<r>'\n  close: '</r>'\n  answer_open: '<a>'\n"
                                       "  answer_close_required: true\n")
    with pytest.raises(InputError, match=r"req.yaml:5: field 'answer_close_required': true needs 'answer_close'"):
        get_format(str(tmp_path / "req.yaml"))
    # one marker for both: an unfinished `<r>I guess \\boxed{5}` was read as closed thinking and scored correct
    (tmp_path / "same.yaml").write_text("- name: same\n  open: '<r>'\n  close: '<r>'\n")
    with pytest.raises(InputError, match=r"same.yaml:3: field 'close': must differ from 'open' \(both '<r>'\)"):
        get_format(str(tmp_path / "same.yaml"))
    (tmp_path / "flat.yaml").write_text("- name: flat\n  open: ''\n  close: ''\n  answer_open: '<a>'\n")
    with pytest.raises(InputError, match=r"flat.yaml:\d+: fields 'answer_open' and 'answer_close' mark the answer"):
        get_format(str(tmp_path / "flat.yaml"))
    # FILE.yml:NAME as FILE.yaml:NAME
    (tmp_path / "rows.yml").write_text("- name: a\n  open: '<a>'\n  close: '</a>'\n- name: b\n  open: '<b>'\n"
                                       "  close: '</b>'\n")
    assert get_format(f"{tmp_path / 'rows.yml'}:b").open == "<b>"


def test_stitching_puts_separate_reasoning_back_in_each_formats_markers():
    for name in NAMES:
        text = stitch(THINKING, ANSWER, name)
        assert split_think(text, think_format=name).answer.strip() == ANSWER
        assert not is_truncated(text, think_format=name) and well_formed(text, name)
        if name != "none":
            assert is_truncated(stitch(THINKING, None, name), think_format=name)


def test_stitching_keeps_the_thinking_when_the_answer_closes_thinking_again():
    # the model wrote `</think>` twice; vLLM's parser splits at the first, so the content holds the second
    text = stitch("Let me add 2 and 2.", "Wait, 2+2 is 4.</think>\nThe answer is \\boxed{4}.", "r1")
    assert text.startswith("<think>\nLet me add 2 and 2.</think>")
    assert split_think(text, think_format="r1").answer.strip() == "The answer is \\boxed{4}."
    # a server that sends the thinking in the content as well: the content is the completion, thinking once
    whole = "<think>\nLet me add 2 and 2.</think>\n\\boxed{4}"
    assert stitch("Let me add 2 and 2.", whole, "r1") == whole


def test_the_reward_server_reads_its_think_format():
    from evalkit.rewards.server import RewardServer

    finished, cut, _ = TRACES["sky"]
    prompt = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    server = RewardServer("127.0.0.1", 0, think_format="sky")
    try:
        status, reply = server.handle(json.dumps({"query": [prompt + finished, prompt + cut],
                                                  "prompts": [prompt, prompt], "labels": ["4", "4"]}).encode())
        assert status == 200 and reply["rewards"] == [1.0, 0.0]
        # the same cut-off trace read as r1 (the request says so) passes as an answer
        status, reply = server.handle(json.dumps({"query": [prompt + cut], "prompts": [prompt], "labels": ["4"],
                                                  "think_format": "r1"}).encode())
        assert reply["rewards"] == [1.0]
    finally:
        server.close()


class _HarmonyServer(JSONHandler):
    """An OpenAI-compatible chat endpoint answering as vLLM serves gpt-oss with its harmony reasoning
    parser: the analysis channel in `reasoning_content`, the final channel in `content` (None when the
    reply was cut off mid-thought). gpt-oss itself cannot run on this machine, so the replies are the
    parser's documented shape for this prompt; the backend, stitching, verification are real."""

    def do_GET(self):  # noqa: N802 - /v1/models
        self._send({"data": [{"id": "openai/gpt-oss-20b"}]})

    def do_POST(self):  # noqa: N802
        question = self.read_body()["messages"][-1]["content"]
        if "2+2" in question:
            message, finish = {"role": "assistant", "reasoning_content": THINKING, "content": ANSWER}, "stop"
        else:
            message, finish = {"role": "assistant", "reasoning_content": CUT_THINKING, "content": None}, "length"
        self._send({"choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 30,
                              "completion_tokens_details": {"reasoning_tokens": 24}}})


@pytest.fixture
def harmony_server():
    with serve(_HarmonyServer) as server:
        yield server


def test_a_harmony_reply_with_reasoning_content_is_stitched_in_harmony_markers(harmony_server, tmp_path):
    url, _ = harmony_server
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "a", "problem": "What is 2+2?", "answer": "4"}) + "\n" +
                                      json.dumps({"id": "b", "problem": "What is 3+1?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: small\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], model="openai/gpt-oss-20b", backend="openai", base_url=url,
                           think_format="harmony", out=tmp_path / "run", progress=False)
    samples = {s["problem_id"]: s for s in map(json.loads, (run.run_dir / "samples.jsonl").read_text().splitlines())}
    assert samples["a"]["completion"] == (f"<|channel|>analysis<|message|>{THINKING}<|end|><|start|>assistant"
                                          f"<|channel|>final<|message|>{ANSWER}")
    assert samples["a"]["reason"] == "correct"
    assert samples["b"]["completion"] == f"<|channel|>analysis<|message|>{CUT_THINKING}"
    assert samples["b"]["reason"] == "truncated"
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["think_format"] == {**config["think_format"], "name": "harmony", "decided_by": "--think-format harmony"}


def test_budget_forcing_closes_thinking_with_the_formats_own_text():
    from evalkit.budgets import budget_settings, close_text

    assert close_text(None) == close_text("r1") == "</think>"
    assert close_text("harmony") == "<|end|><|start|>assistant<|channel|>final<|message|>"
    assert close_text("sky").strip().endswith("<|begin_of_solution|>")
    settings = budget_settings("64", think_format="magistral")
    assert settings.close == "[/THINK]" and settings.identity()["close"] == "[/THINK]"


@pytest.mark.parametrize("name", ["r1", "magistral", "seed"])
def test_thinking_the_prompt_opened_keeps_a_later_mention_of_the_open_marker(name):
    fmt = get_format(name)
    thinking = f"First, recall that the format uses a {fmt.open} tag. Then 2+2=4."
    split = split_think(f"{thinking}{fmt.close}\\boxed{{4}}", think_open=True, think_format=name)
    assert (split.think, split.answer) == (thinking, "\\boxed{4}")
    # a reply that repeats the open marker at its start: the marker is not thinking
    split = split_think(f"{fmt.open}\n{thinking}{fmt.close}\\boxed{{4}}", think_open=True, think_format=name)
    assert split.think == f"\n{thinking}"


@pytest.mark.parametrize("name", ["harmony", "sky"])
def test_thinking_left_open_before_the_answers_own_marker_ends_at_that_marker(name):
    # gpt-oss can go from its analysis to its final channel without <|end|>; the thinking is still
    # thinking (it read as none: trace statistics, lengths and budgets saw a reply without thought)
    fmt = get_format(name)
    thinking = "Wait, 6*7 is 42. Let me check: 7*6 = 42. Yes."
    for text, opened in ((f"{fmt.open}{thinking}{fmt.answer_open}\\boxed{{42}}{fmt.answer_close}", False),
                         (f"{thinking}{fmt.answer_open}\\boxed{{42}}{fmt.answer_close}", True)):
        split = split_think(text, think_open=opened, think_format=name)
        assert (split.think, split.answer, split.has_think) == (thinking, "\\boxed{42}", True)
    # no thinking opened before the answer marker: nothing is thinking
    split = split_think(f"Sure.{fmt.answer_open}\\boxed{{42}}{fmt.answer_close}", think_format=name)
    assert (split.think, split.has_think) == ("", False)
    if name == "harmony":  # the header that opens the final channel is not thinking: it was read as such,
        # and the last act's span ran on into it ("Yes.<|start|>assistant")
        text = f"{fmt.open}{thinking}<|start|>assistant{fmt.answer_open}\\boxed{{42}}{fmt.answer_close}"
        assert split_think(text, think_format=name).think == thinking
        from evalkit.trace import analyze

        stats = analyze(text, verifier=None, think_format=name)
        assert stats.think_length == len(thinking)
        assert text[stats.markers[-1].start:stats.markers[-1].end] == "Yes."



@pytest.mark.parametrize("completion, gold", [
    ("<think>\nw\n</think>\nThe answer is \\boxed{4}.\n```python\nprint('</think>')\n```", "4"),  # was no_answer
    ("<think>\nw\n</think>\n\\boxed{15}. Note: models end thinking with `</think>` tags.", "15"),
    ("<think>\nw \\boxed{3}\n</think>\n<think>\nmore\n</think>\n\\boxed{8}", "8"),  # thinking opened again: its close
    ("<think>\nw\n</think>\n\\boxed{3}\n</think>\n\\boxed{8}", "8"),  # a close of its own: the last wins
    # the last close outside code ends thinking, mid-line or after a quote, whatever the thinking mentioned
    ("<think>\nThe grader splits at </think>. Maybe \\boxed{4}? No. It's 5.</think>The answer is \\boxed{5}.", "5"),
    ("<think>\nLooks like 4.\n</think>\n\nSo \\boxed{4}.\n\nWait, I made an error: 2+3 = 5.</think>Final answer: \\boxed{5}", "5"),
    ("<think>\nIn the tag '</think>' ... first guess \\boxed{4}. Hmm, final: 'five'</think>\n\nThe answer is \\boxed{5}.", "5"),
    ("<think>\n```\ns.split('</think>')\n```\nso \\boxed{3}</think>\n\\boxed{8}", "8"),
    # a fence the thinking left open does not turn the answer's code into prose
    ("<think>Let me code it:\n```python\ndef f(x):\n    return x*2\n</think>\nHere:\n```python\nprint('</think>')\n```\n"
     "The answer is \\boxed{5}.", "5"),
    ("<think>\nw\n</think>\nThe answer is \\boxed{6}.\n~~~python\nprint('</think>')\n~~~", "6"),
    # a transcript in the answer's code block, its close alone on its line
    ("<think>\nCompute 2+3.\n</think>\nThe answer is $\\boxed{5}$.\nA raw output looks like\n```\n<think>\n...\n"
     "</think>\nfinal answer\n```\n", "5"),
])
def test_a_close_marker_the_answer_only_mentions_does_not_end_thinking(completion, gold):
    from evalkit.verifiers.math import verify_math

    v = verify_math(completion, gold, finish_reason="stop")
    assert (v.correct, v.answer) == (True, gold), v


def test_a_program_that_mentions_the_close_marker_is_still_graded():
    from evalkit.verifiers.code import extract_code

    program = "def f():\n    # models end thinking with </think>\n    return 1\n"
    assert extract_code(f"<think>\nw\n</think>\n```python\n{program}```") == program


def test_harmony_thinking_opened_again_after_the_final_channel_ends_the_answer():
    # the reopened analysis channel's guess was read as the answer
    from evalkit.verifiers.math import verify_math

    reopened = ("<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>\\boxed{5}"
                "<|end|><|start|>assistant<|channel|>analysis<|message|>hmm, maybe \\boxed{4}")
    split = split_think(reopened, think_format="harmony")
    assert (split.answer, split.reopened) == ("\\boxed{5}", True)
    assert verify_math(reopened, "4", think_format="harmony", finish_reason="stop").answer == "5"
    assert verify_math(reopened, "5", think_format="harmony").reason == "truncated"
    # a final channel that quotes the analysis marker has not opened it again
    quoted = ("<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>final<|message|>The analysis "
              "channel starts with `<|channel|>analysis<|message|>`. The answer is \\boxed{5}.")
    assert verify_math(quoted, "5", think_format="harmony").correct is True
    # and one whose analysis left a fence open still opens it again
    fence = ("<|channel|>analysis<|message|>Check with code: ```python\nprint(0+1)<|end|><|start|>assistant<|channel|>"
             "final<|message|>The answer is \\boxed{1}.<|start|>assistant<|channel|>analysis<|message|>maybe \\boxed{2}")
    assert verify_math(fence, "1", think_format="harmony", finish_reason="stop").correct is True


def test_a_completion_with_thousands_of_mentioned_markers_is_split():
    # each marker looked back over the whole text: 2 MB with 10,000 mentions took 35 s (the suite's timeout
    # catches a return of that; the time itself is measured in the closing note, not asserted here)
    text = "<think>w</think>\n" + "tags `<think>` and `</think>` here\n```\n<think>\n```\n" * 20_000
    split = split_think(text)
    assert split.answer.startswith("\ntags") and not split.reopened


@pytest.mark.parametrize("named, says", [
    ("harmony", "--think-format harmony: no completion holds its markers, and 3 of 3 hold r1's"),
    ("none", "--think-format none: it reads no thinking, and 3 of 3 hold r1's"),
])
def test_a_named_think_format_the_completions_do_not_use_is_warned(tmp_path, named, says):
    # an R1 completion whose thinking ends without an answer scored correct under harmony or none, silently
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": i, "problem": "?", "answer": "7"}) + "\n"
                                              for i in ("p1", "p2", "p3")))
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id, answer: answer}\n"
                                     "verifier: math\n")
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"problem_id": p, "sample": 0, "completion": c,
                                                          "finish_reason": "stop"}) + "\n" for p, c in (
        ("p1", "<think>x</think>\\boxed{7}"), ("p2", "<think>y</think>\\boxed{7}"),
        ("p3", "<think>maybe \\boxed{7}? Let me keep thinking"))))
    def run(name: str, out: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "evalkit", "run", str(tmp_path / "t.yaml"), "--completions",
                               str(tmp_path / "c.jsonl"), "--think-format", name, "--out", str(tmp_path / out),
                               "--no-progress"], capture_output=True, text=True, timeout=300)

    r = run(named, "run")
    assert r.returncode == 0 and says in r.stderr, r.stderr
    r = run("r1", "run2")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_another_think_format_on_resume_is_refused_before_the_backend_starts(tmp_path):
    # the refusal came only once the engine had loaded (minutes for a large model on vLLM)
    from evalkit.backends import register_backend
    from evalkit.backends.base import BACKENDS
    from evalkit.types import Completion

    started = []

    class Counting:
        name = "counting"

        def __init__(self, model):
            started.append(model)

        def render(self, messages, think_prefill, chat_template_kwargs):
            return messages[-1]["content"], "", False

        def generate(self, requests):
            for req in requests:
                yield req, Completion(text="<think>2+2</think> \\boxed{4}", finish_reason="stop", model="m")

        def close(self):
            pass

    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p1", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: twoplustwo\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    register_backend("counting", Counting)
    try:
        evalkit.evaluate([str(tmp_path / "t.yaml")], model="m", backend="counting", n=1, think_format="r1",
                         out=tmp_path / "run", progress=False)
        assert started == ["m"]
        with pytest.raises(InputError, match="scored with think format 'r1'; --think-format harmony needs"):
            evalkit.evaluate([str(tmp_path / "t.yaml")], model="m", backend="counting", n=2, think_format="harmony",
                             out=tmp_path / "run", progress=False)
        assert started == ["m"]  # refused before a second start
    finally:
        BACKENDS.pop("counting", None)


def test_the_documented_think_format_file_loads_and_reads_a_trace(tmp_path):
    # docs/contracts.md's example of a user's row (the file's fields were documented nowhere but in a docstring)
    from pathlib import Path

    from evalkit.thinking import get_format, split_think

    doc = (Path(__file__).resolve().parents[1] / "docs" / "contracts.md").read_text(encoding="utf-8")
    block = doc.split("A file of one's own rows", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "mine.yaml").write_text(block, encoding="utf-8")
    fmt = get_format(f"{tmp_path / 'mine.yaml'}:mythink")
    assert (fmt.open, fmt.close, fmt.stop_thinking) == ("<reasoning>", "</reasoning>", "\n</reasoning>\n\n")
    split = split_think("<reasoning>2+2</reasoning> 4", think_format=fmt)
    assert (split.think, split.answer.strip()) == ("2+2", "4")


class _PlainChatServer(JSONHandler):
    """A chat endpoint with no reasoning parser, answering as vLLM serves the model's text as it is: an R1
    distill's (its template opens thinking, so the replies close it and never open it) or a Magistral's
    (`[THINK]…[/THINK]` in the content). No such model runs here; the replies are scripted per question (a
    list: one per call, the last repeated)."""

    replies: dict = {}
    calls: dict = {}

    def do_POST(self):  # noqa: N802
        question = self.read_body()["messages"][-1]["content"].split("\n")[0]  # the problem, before the instruction
        scripted = self.replies[question] if isinstance(self.replies[question], list) else [self.replies[question]]
        k = self.calls[question] = self.calls.get(question, -1) + 1
        content = scripted[min(k, len(scripted) - 1)]
        # a dict is the message's fields: `reasoning_content` apart, as a server with a reasoning parser sends it
        message = {"role": "assistant", **content} if isinstance(content, dict) else {"role": "assistant",
                                                                                      "content": content}
        self._send({"choices": [{"index": 0, "message": message,
                                 "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 9}})


def _plain_chat_run(tmp_path, replies: dict, out: str = "run", n: int = 1, **options):
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": q, "problem": q, "answer": gold}) + "\n"
                                              for q, (gold, _) in replies.items()))
    (tmp_path / "t.yaml").write_text("name: small\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    handler = type("Server", (_PlainChatServer,), {"replies": {q: text for q, (_, text) in replies.items()},
                                                   "calls": {}})
    with serve(handler) as (url, _):
        run = evalkit.evaluate([str(tmp_path / "t.yaml")], model="m", backend="openai", base_url=url, n=n,
                               out=tmp_path / out, progress=False, **options)
    samples = {(s["problem_id"], s["sample"]) if n > 1 else s["problem_id"]: s
               for s in map(json.loads, (run.run_dir / "samples.jsonl").read_text().splitlines())}
    return run, samples, json.loads((run.run_dir / "config.json").read_text())


def test_a_chat_reply_that_never_closes_thinking_the_template_opened_is_not_an_answer(tmp_path, capfd):
    replies = {"q1": ("4", "2+2 is 4.\n</think>\n\n\\boxed{4}"), "q2": ("2", "1+1 is 2.\n</think>\n\n\\boxed{2}"),
               "q3": ("7", "3+4: maybe \\boxed{7}? I am going around in circles")}
    run, samples, _ = _plain_chat_run(tmp_path, replies)
    assert [samples[q]["reason"] for q in ("q1", "q2", "q3")] == ["correct", "correct", "no_answer"]
    assert samples["q3"]["trace"]["has_think"]
    # every reply is read as opened by the template, as a replay of the same file reads them (curate exports it)
    assert [samples[q]["think_open"] for q in ("q1", "q2", "q3")] == [True] * 3
    assert run.results[0]["metrics"]["avg@n"]["value"] == pytest.approx(2 / 3)
    assert "1 that never close are read as unfinished thinking" in capfd.readouterr().err
    # a resume reads them the same, and has nothing to do
    again = evalkit.evaluate([str(tmp_path / "t.yaml")], model="m", backend="openai", base_url="http://127.0.0.1:9/v1",
                             n=1, out=tmp_path / "run", progress=False)
    assert again.generated == 0 and again.results[0]["metrics"]["avg@n"]["value"] == pytest.approx(2 / 3)


def test_auto_reads_the_think_format_of_a_chat_endpoints_replies(tmp_path, capfd):
    replies = {"q1": ("4", "[THINK]2+2 is \\boxed{4}.[/THINK]I believe it is 5."),
               "q2": ("7", "[THINK]3+4 = 7, \\boxed{7}. Let me go on"),
               "q3": ("2", "[THINK]1+1=2[/THINK]\\boxed{2}")}
    run, samples, config = _plain_chat_run(tmp_path, replies)
    assert [samples[q]["reason"] for q in ("q1", "q2", "q3")] == ["wrong", "no_answer", "correct"]
    assert config["think_format"]["name"] == "magistral"
    assert config["think_format"]["decided_by"].startswith("auto, from the replies")
    assert "the replies hold the markers of the think format 'magistral'" in capfd.readouterr().err
    # the run keeps the format it scored with: another one named is refused on a resume
    with pytest.raises(InputError, match="scored with think format 'magistral'"):
        evalkit.evaluate([str(tmp_path / "t.yaml")], model="m", backend="openai", base_url="http://127.0.0.1:9/v1",
                         n=1, out=tmp_path / "run", progress=False, think_format="r1")
    # named, the format is the user's: the replies are read with it as they are
    (tmp_path / "named").mkdir()
    _, named, config = _plain_chat_run(tmp_path / "named", replies, think_format="r1")
    assert config["think_format"]["name"] == "r1" and named["q1"]["reason"] == "correct"


def test_a_reply_whose_thinking_came_apart_is_read_in_the_format_the_other_replies_show(tmp_path, capfd):
    # a fleet with and without a reasoning parser: q4's thinking came as reasoning_content (joined in r1's markers,
    # the format known before any reply), the others inline in magistral's; read as magistral, q4's musing was its
    # answer and scored correct
    replies = {f"m{i}": (str(2 * i), f"[THINK]{i}+{i}={2 * i}[/THINK]\\boxed{{{2 * i}}}") for i in range(20)}
    replies["q4"] = ("8", {"reasoning_content": "I guess \\boxed{8} but let me check", "content": None})
    # not stitched: a reply that quotes r1's tag stays as sent (the text before the tag was lost)
    replies["q7"] = ("5", "R1 models open their reasoning with <think>, and 2+3 is \\boxed{5}")
    run, samples, config = _plain_chat_run(tmp_path, replies)
    assert config["think_format"]["name"] == "magistral"
    assert (samples["q4"]["reason"], samples["q7"]["reason"]) == ("no_answer", "correct")
    assert {samples[f"m{i}"]["reason"] for i in range(20)} == {"correct"}
    assert samples["q4"]["completion"] == "[THINK]I guess \\boxed{8} but let me check"
    assert samples["q7"]["completion"] == replies["q7"][1]
    assert "1 replies hold the markers of 'r1' and none of 'magistral'" in capfd.readouterr().err
    assert run.results[0]["metrics"]["avg@n"]["value"] == pytest.approx(21 / 22)
    # (two formats' markers each in a tenth of the replies or more are a warning, and one format is read: named)


def test_a_named_format_the_replies_do_not_use_is_warned_about_live_as_in_a_replay(tmp_path, caplog):
    # --think-format harmony on R1 replies scored 0% live in silence; the replay of the same samples warned
    replies = {f"q{i}": (str(i), f"<think>\nmaybe \\boxed{{{i + 1}}}? no.\n</think>\n\nThe answer is {i}.")
               for i in range(1, 4)}
    _, samples, _ = _plain_chat_run(tmp_path, replies, think_format="harmony")
    assert {s["reason"] for s in samples.values()} == {"wrong"}
    assert "--think-format harmony: no completion holds its markers, and 3 of 3 hold r1's" in caplog.text


@pytest.mark.parametrize("quoted", ["gpt-oss would write <|channel|>final<|message|> then \\boxed{4}.",
                                    "Mistral models write [THINK] first, and \\boxed{4}.",
                                    "Sky's answers open with <|begin_of_solution|>: \\boxed{4}."])
def test_auto_is_not_swayed_by_another_formats_marker_quoted_in_the_thinking(quoted):
    from evalkit.rewards import math_reward

    text = f"<think>\n{quoted} I am unsure.\n</think>\n\nI could not solve this."
    assert detect_from_completions([text]).format.name == "r1"
    assert math_reward([text], answer=["4"], think_format="auto") == [0.0]
    result = CliRunner().invoke(main, ["verify", "--completion", text, "4"])
    assert result.output.startswith("no_answer: answer (none) vs gold 4"), result.output


def test_verify_pairs_reads_completions_the_prompt_opened_as_a_replay_does(tmp_path):
    lines = [{"id": 1, "completion": "2+2 is 4.\n</think>\n\n\\boxed{4}", "gold": "4"},
             {"id": 2, "completion": "1+1 is 2.\n</think>\n\n\\boxed{2}", "gold": "2"},
             {"id": 3, "completion": "3+4 so maybe \\boxed{7} but let me", "gold": "7", "finish_reason": "length"},
             {"id": 4, "completion": "3+4 so maybe \\boxed{7} and I stop", "gold": "7"}]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(main, ["verify", "--pairs", str(path)])
    reasons = [json.loads(line)["reason"] for line in result.output.splitlines() if line.startswith("{")]
    assert reasons == ["correct", "correct", "truncated", "truncated"]
    # a file that says how its prompts were rendered is read as it says
    path.write_text("".join(json.dumps({**line, "think_open": False}) + "\n" for line in lines))
    result = CliRunner().invoke(main, ["verify", "--pairs", str(path)])
    reasons = [json.loads(line)["reason"] for line in result.output.splitlines() if line.startswith("{")]
    assert reasons == ["correct", "correct", "truncated", "correct"]


@pytest.mark.parametrize("finish", ["max_tokens", "MAX_TOKENS", "max_output_tokens"])
def test_a_recorded_completion_cut_off_in_another_apis_words_is_truncated(tmp_path, finish):
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "a", "problem": "What is 3+4?", "answer": "7"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: small\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    replay = tmp_path / "replay.jsonl"
    replay.write_text(json.dumps({"problem_id": "a", "sample": 0, "model": "m", "finish_reason": finish,
                                  "completion": "<think>\n3+4=7\n</think>\n\nSo it is \\boxed{7"}) + "\n")
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=replay, out=tmp_path / "run", progress=False)
    sample = json.loads((run.run_dir / "samples.jsonl").read_text())
    assert sample["reason"] == "truncated" and sample["finish_reason"] == "length"
    assert run.results[0]["n_truncated"] == 1


def test_a_users_think_format_may_not_take_a_built_in_name(tmp_path):
    path = tmp_path / "fmts.yaml"
    path.write_text("- open: <r>\n  close: </r>\n  name: r1\n")
    with pytest.raises(InputError, match=r"fmts\.yaml:3: field 'name': 'r1' is a built-in think format's name"):
        load_formats(path)


_DISTILL = {"q1": ("4", "2+2 is 4.\n</think>\n\n\\boxed{4}"), "q2": ("2", "1+1 is 2.\n</think>\n\n\\boxed{2}"),
            "q3": ("7", "3+4: maybe \\boxed{7}? I am going around in circles")}
_MAGISTRAL = {"q1": ("4", "[THINK]2+2 is \\boxed{4}.[/THINK]I believe it is 5."),
              "q2": ("7", "[THINK]3+4 = 7, \\boxed{7}. Let me go on"), "q3": ("2", "[THINK]1+1=2[/THINK]\\boxed{2}")}


@pytest.mark.parametrize("replies, reasons", [(_DISTILL, ["correct", "correct", "no_answer"]),
                                              (_MAGISTRAL, ["wrong", "no_answer", "correct"])],
                         ids=["distill", "magistral"])
def test_a_chat_run_stopped_before_its_replies_were_read_reads_them_on_the_resume(tmp_path, monkeypatch, replies,
                                                                                  reasons):
    # Ctrl-C after the samples were written, before the replies were read: the resume, with nothing left to
    # generate, read them as r1 and unopened (0.75 for the Magistral run that a fresh run scores 0.25)
    from evalkit.run import pipeline

    real = pipeline.read_replies

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "read_replies", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _plain_chat_run(tmp_path, replies)
    monkeypatch.setattr(pipeline, "read_replies", real)
    run, samples, config = _plain_chat_run(tmp_path, replies)
    assert run.generated == 0
    assert [samples[q]["reason"] for q in ("q1", "q2", "q3")] == reasons
    assert config["think_format"]["name"] == ("magistral" if replies is _MAGISTRAL else "r1")


def test_a_chat_runs_reading_is_the_same_however_its_samples_were_made(tmp_path):
    # the first call per question: three replies close thinking they never opened, two finish without a marker;
    # every later call finishes without a marker. -n 1 then -n 2 scored two samples unlike the fresh -n 2 run.
    replies = {f"q{i}": ("4", ["x\n</think>\n\n\\boxed{4}" if i < 3 else "\\boxed{4}", "\\boxed{4}"])
               for i in range(5)}
    (tmp_path / "fresh").mkdir()
    _, fresh, _ = _plain_chat_run(tmp_path / "fresh", replies, n=2)
    (tmp_path / "resumed").mkdir()
    _plain_chat_run(tmp_path / "resumed", replies, n=1)
    # the resume's server (a new one) answers each question as the first server's later calls did
    _, resumed, _ = _plain_chat_run(tmp_path / "resumed", {q: (g, texts[1:]) for q, (g, texts) in replies.items()},
                                    n=2)
    assert {k: (s["reason"], s["think_open"]) for k, s in resumed.items()} == \
        {k: (s["reason"], s["think_open"]) for k, s in fresh.items()}
    assert all(s["reason"] == "correct" for s in fresh.values())


def test_auto_prefers_the_format_that_opens_the_reply_to_a_marker_on_a_line():
    text = ("<|channel|>analysis<|message|>R1 models end with\n</think>\nand I might say \\boxed{5}; no, 4.<|end|>"
            "<|start|>assistant<|channel|>final<|message|>The answer is 4.")
    assert detect_from_completions([text]).format.name == "harmony"
    result = CliRunner().invoke(main, ["verify", "--completion", text, "4"])
    assert result.output.startswith("correct: answer 4"), result.output


def test_verify_pairs_reads_opened_completions_with_the_format_given(tmp_path):
    lines = [{"completion": "The tag is\n</think>\nanswer \\boxed{4}", "gold": "4"},
             {"completion": "x\n</think>\n\\boxed{2}", "gold": "2"}, {"completion": "So \\boxed{7}", "gold": "7"}]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(main, ["verify", "--pairs", str(path), "--think-format", "magistral"])
    reasons = [json.loads(line)["reason"] for line in result.output.splitlines() if line.startswith("{")]
    assert reasons == ["correct", "correct", "correct"]


def test_a_judge_that_is_down_when_the_replies_are_read_leaves_the_samples_and_the_run_finishes(tmp_path, monkeypatch,
                                                                                                capfd):
    # the samples to read anew need the run's verifiers, built again on a resume: a judge that is down then
    # failed the whole run (no results.json), and every resume after it
    from evalkit.run import pipeline

    real = pipeline.read_replies
    monkeypatch.setattr(pipeline, "read_replies", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        _plain_chat_run(tmp_path, _DISTILL)
    monkeypatch.setattr(pipeline, "read_replies", real)

    def judge_down(*args, **kwargs):
        raise InputError("the judge judge: judge server http://127.0.0.1:9/v1 unreachable")

    monkeypatch.setattr(pipeline, "task_verifiers", judge_down)
    run, samples, _ = _plain_chat_run(tmp_path, _DISTILL)
    assert run.generated == 0 and (run.run_dir / "results.json").is_file()
    assert samples["q3"]["reason"] == "correct"  # as it was read; the next run reads it anew
    assert "1 samples are not read anew as the replies show: the judge judge" in capfd.readouterr().err
    monkeypatch.undo()
    _, samples, _ = _plain_chat_run(tmp_path, _DISTILL)
    assert samples["q3"]["reason"] == "no_answer"
