"""Think formats (evalkit.thinking): every built-in row with a finished and a cut-off trace each:
split, truncation, the format check, stitching of separate reasoning; `auto` for the tiny model's
template, other templates and tokenizers, and replays; a user's row in YAML.

The traces are faithful synthetic ones: each format's real markers around the same short thinking,
with a `\\boxed{4}` inside the cut-off thinking, so a reader that takes the wrong row (or none) would
score the cut-off trace as a finished right answer.
"""

from __future__ import annotations

import pytest

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


def test_auto_for_replays_of_each_format_and_its_fallbacks():
    for name, (finished, cut, _) in TRACES.items():
        assert detect_from_completions([finished, cut]).format.name == name
    assert decide("auto", completions=["no markers here"], think_open=True).format.name == "r1"
    assert decide("sky").reason == "--think-format sky"


def test_stitching_puts_separate_reasoning_back_in_each_formats_markers():
    for name in NAMES:
        text = stitch(THINKING, ANSWER, name)
        assert split_think(text, think_format=name).answer.strip() == ANSWER
        assert not is_truncated(text, think_format=name) and well_formed(text, name)
        if name != "none":
            assert is_truncated(stitch(THINKING, None, name), think_format=name)


def test_a_users_row_in_yaml(tmp_path):
    (tmp_path / "formats.yaml").write_text(
        "- name: reasoning_tags\n  open: '<reasoning>'\n  close: '</reasoning>'\n  signals: ['<reasoning>']\n")
    fmt = get_format(str(tmp_path / "formats.yaml"))
    assert (fmt.prefill, fmt.stop_thinking) == ("<reasoning>\n", "</reasoning>")
    split = split_think("<reasoning>hmm \\boxed{5}</reasoning>The answer is \\boxed{4}.", think_format=fmt)
    assert split.think == "hmm \\boxed{5}" and split.answer == "The answer is \\boxed{4}."
    assert get_format(f"{tmp_path / 'formats.yaml'}:reasoning_tags") == fmt
    (tmp_path / "bad.yaml").write_text("- name: x\n  open: '<a>'\n")
    with pytest.raises(InputError, match=r"bad.yaml:1: field 'close': expected a string"):
        load_formats(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="unknown think format 'qwen9'"):
        get_format("qwen9")
