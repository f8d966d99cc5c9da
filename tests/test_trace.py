"""The trace analyzer on real R1-distill traces (tests/data/traces) and a few made-up ones where an
exact expectation is needed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalkit.cli import main
from evalkit.errors import InputError
from evalkit.trace import KINDS, analyze, analyze_many, load_rules, summarize
from evalkit.trace._model import ReflectionModel

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "traces"
LABELLED = [json.loads(line) for line in (DATA / "r1distill_math_labeled.jsonl").read_text("utf-8").splitlines()]
QWEN7B = [json.loads(line) for line in (DATA / "math500_r1distill_qwen7b_sample.jsonl").read_text("utf-8").splitlines()]

TRACE_KEYS = {
    "unit", "length", "think_length", "answer_length", "has_think", "truncated", "markers", "episodes", "marker_counts",
    "markers_per_1k", "reflection_share", "trajectory", "first_correct_position", "final_correct",
    "self_corrections", "overthinking_share", "outcome_efficiency", "thought_switches", "ut_score",
    "superficial_reflection",
}


def exact(pairs):
    """A stand-in batch verifier: the candidate equals the gold, spaces and $ aside."""
    def clean(s):
        return re.sub(r"[\s$]", "", str(s)).replace("\\dfrac", "\\frac")
    return [clean(c) == clean(g) for c, g in pairs]


def labelled(model: str, problem: str, correct: bool) -> dict:
    return next(r for r in LABELLED if model in r["model"] and r["problem_id"] == problem and r["is_correct"] == correct)


def test_known_self_correction_on_a_real_trace_is_found_and_classified():
    # Qwen-14B on "how many bits" concludes 19 (right), then 20, then 19, then says "the answer is" 20, 19 and
    # settles on 20 (wrong); tests/data/traces/candidate_labels.jsonl marks each of these as an answer.
    row = labelled("Qwen-14B", "problem_4682", False)
    stats = analyze(row["response"], row["gt_answer"], exact, think_open=True)
    assert [t["answer"] for t in stats.trajectory] == ["19", "20", "19", "20", "19", "20"]
    assert [t["correct"] for t in stats.trajectory] == [True, False, True, False, True, False]
    assert stats.self_corrections == {"wrong_to_right": 2, "right_to_wrong": 3, "wrong_to_wrong": 0}
    assert stats.final_correct is False
    assert stats.superficial_reflection is True
    first = stats.trajectory[0]["position"]
    assert row["response"][:first].endswith("Therefore, the number of bits required is 19")
    assert stats.first_correct_position == first
    # Underthinking: it had the right answer and abandoned it.
    assert stats.ut_score == round(1 - first / len(row["response"]), 4)
    assert stats.outcome_efficiency == 0.0


def test_a_recheck_is_acts_on_its_announcement_and_verdict_and_one_episode_over_the_recomputation():
    row = labelled("Qwen-14B", "problem_2236", True)
    text = row["response"]
    check = "Wait, let me double-check that."
    verdict = "Yep, that seems right."
    for detector in ("model", "rules"):
        stats = analyze(text, think_open=True, verifier=None, detector=detector)
        acts = {text[m.start:m.end]: m for m in stats.markers}
        # sentence-precise: the announcement and the verdict are acts, the recomputation between is not
        assert (acts[check].kind, acts[check].rule, acts[check].text) == ("check", "let_me_check", "Wait, let me double-check")
        assert (acts[verdict].kind, acts[verdict].rule) == ("verdict", "verdict_word")
        assert not any("49+50=99" in sentence for sentence in acts)
        episode = next(e for e in stats.episodes if text[e.start:e.end].startswith(check))
        assert text[episode.start:episode.end].endswith(verdict) and "49+50=99, 99+89=188." in text[episode.start:episode.end]
        assert (episode.kind, episode.settled) == ("check", True)
        assert [stats.markers[k] for k in episode.acts] == [acts[check], acts[verdict]]
        # Acts never overlap; episodes neither; the trajectory is not verified without a verifier.
        assert all(a.end <= b.start for a, b in zip(stats.markers, stats.markers[1:]))
        assert all(a.end <= b.start for a, b in zip(stats.episodes, stats.episodes[1:]))
        assert stats.final_correct is None and all(t["correct"] is None for t in stats.trajectory)
    assert acts[check].confidence == 1.0  # the rules detector has no probability
    model = {text[m.start:m.end]: m for m in analyze(text, think_open=True, verifier=None).markers}
    assert 0.9 < model[check].confidence <= 1.0


def test_episodes_chain_verdicts_and_questions_do_not_settle_them():
    text = ("<think>\nSo the total is 49 + 50 + 89 = 188.\nLet me recount the 4's: units place 49.\n"
            "Correct. Tens place: 5 blocks of 10.\nThat's 50.\nCorrect. Hundreds place: 400-488 is 89.\nCorrect.\n\n"
            "Now, let's count the 8's.\nThat gives 98, which matches the earlier count.\n"
            "But expanding that might be too tedious.\n\nNow, let's subtract: 188 - 98 = 90.\nWait, 90 seems high.\n"
            "So, which one is correct?\nYes, 90 is right.\n\nThe answer is 90.\n</think>\n\\boxed{90}")
    stats = analyze(text, verifier=None, detector="rules")
    got = [(m.kind, m.rule, text[m.start:m.end]) for m in stats.markers]
    assert got == [
        ("check", "let_me_check", "Let me recount the 4's: units place 49."),
        ("verdict", "verdict_word", "Correct."), ("verdict", "verdict_word", "Correct."), ("verdict", "verdict_word", "Correct."),
        # results agreeing right after a check is a verdict
        ("verdict", "agreement", "That gives 98, which matches the earlier count."),
        ("doubt", "but_hedge", "But expanding that might be too tedious."),
        ("doubt", "wait", "Wait, 90 seems high."),
        ("doubt", "which_is_it", "So, which one is correct?"),  # a question is never a verdict
        ("verdict", "verdict_word", "Yes, 90 is right."),
    ]
    spans = [(e.kind, text[e.start:e.end], e.acts, e.settled) for e in stats.episodes]
    assert spans == [
        # a re-check of several items is one episode, to its last verdict
        ("check", text[text.index("Let me recount"):text.index("That gives 98") + len("That gives 98, which matches the earlier count.")],
         (0, 1, 2, 3, 4), True),
        # a doubt runs to what settles it
        ("doubt", text[text.index("But expanding"):text.index("Yes, 90 is right.") + len("Yes, 90 is right.")], (5, 6, 7, 8), True),
    ]
    assert stats.marker_counts == {"doubt": 3, "check": 1, "verdict": 5, "aha": 0}
    assert stats.markers[5].text == "But expanding that might"


def test_a_truncated_trace_is_handled():
    row = next(r for r in QWEN7B if "</think>" not in r["full_response"])  # 75k characters, never closes
    text = row["full_response"]
    for finish in (None, "length"):
        stats = analyze(text, row["ground_truth"], exact, think_open=True, finish_reason=finish)
        assert stats.truncated is True
        assert stats.answer_length == 0 and stats.think_length == stats.length == len(text)
        assert stats.final_correct is False  # no answer is the model's fault, never None
        assert stats.markers and stats.marker_counts["doubt"] > 0 and stats.episodes
        assert stats.ut_score is None or 0 <= stats.ut_score <= 1
    json.dumps(stats.to_dict())


def test_overthinking_and_underthinking_match_hand_computation():
    right = ("<think>\nThe answer is 5.\nWait, that's wrong. Let me recompute: 3 + 4 = 7. So the answer is 7.\n"
             "</think>\nThe answer is \\boxed{7}.")
    wrong = right.replace("\\boxed{7}", "\\boxed{9}")
    first = right.index("So the answer is 7") + len("So the answer is 7")
    a, b = analyze_many([right, wrong], ["7", "7"], exact)
    assert [t["answer"] for t in a.trajectory] == ["5", "7"]  # the boxed 7 restates 7
    assert a.first_correct_position == first
    assert a.overthinking_share == round((len(right) - first) / len(right), 4)
    assert a.outcome_efficiency == round(first / len(right), 4)
    assert a.ut_score is None and a.final_correct is True
    assert a.self_corrections == {"wrong_to_right": 1, "right_to_wrong": 0, "wrong_to_wrong": 0}
    # the doubt, then the re-do it announces ("Let me recompute:" is a check under the rubric)
    assert [(m.kind, m.rule) for m in a.markers] == [("doubt", "that_wrong"), ("check", "let_me_check")]

    assert [t["answer"] for t in b.trajectory] == ["5", "7", "9"]
    assert b.final_correct is False and b.outcome_efficiency == 0.0
    assert b.ut_score == round(1 - first / len(wrong), 4)
    assert b.self_corrections == {"wrong_to_right": 1, "right_to_wrong": 1, "wrong_to_wrong": 0}
    assert b.superficial_reflection is True


def test_chinese_cues_are_acts_under_either_detector():
    # The model was fitted on English traces: on Chinese sentences it defers to the rule rows.
    text = "<think>\n先算一下：2+3=5。等等，让我检查一下。2+3=5，没错。或者换个方法：5-3=2。\n</think>\n答案是 5"
    for detector in ("model", "rules"):
        stats = analyze(text, "5", exact, detector=detector)
        doubt, verdict = stats.markers
        assert (doubt.kind, doubt.rule, text[doubt.start:doubt.end]) == ("doubt", "zh_wait", "等等，让我检查一下。")
        assert (verdict.kind, verdict.rule, text[verdict.start:verdict.end]) == ("verdict", "zh_settle", "2+3=5，没错。")
        assert [(e.kind, e.settled, text[e.start:e.end]) for e in stats.episodes] == [("doubt", True, "等等，让我检查一下。2+3=5，没错。")]
        # a switch of approach is a new line of thought, not an act
        assert stats.final_correct is True and stats.thought_switches == 1


def test_written_verdict_marks_and_a_corrected_number_are_acts_under_either_detector():
    # R1 models mark a re-done step as checked with a tick or "(correct)"; the rubric calls that a
    # verdict. "3182, not 3183" corrects an earlier number: a doubt row (the model weighs it with the
    # rest of the sentence). The plain step stays other.
    text = ("<think>\nThe count is 3183. Let me recheck the layers.\nLayer 1: 1 + 3 = 4\nLayer 2: 1 + 3*4 = 13 ✔️\n"
            "Subtract Eq1 from Eq2: 7a + 3b + c = -3/4 (correct)\nSo the upper limit is 3182, not 3183.\n</think>\n3182")
    for detector in ("model", "rules"):
        stats = analyze(text, "3182", exact, detector=detector)
        acts = [(m.kind, text[m.start:m.end]) for m in stats.markers]
        assert ("verdict", "Layer 2: 1 + 3*4 = 13 ✔️") in acts, (detector, acts)
        assert ("verdict", "Subtract Eq1 from Eq2: 7a + 3b + c = -3/4 (correct)") in acts, (detector, acts)
        if detector == "rules":
            assert ("doubt", "So the upper limit is 3182, not 3183.") in acts, acts
        assert not any("Layer 1" in span for _, span in acts), (detector, acts)


def test_no_think_block_is_all_answer():
    stats = analyze("So 2 + 2 = 4. Let me verify: 2 + 2 = 4. Yes, that's right. The answer is 4.", "4", exact)
    assert not stats.has_think and stats.think_length == 0 and stats.answer_length == stats.length
    assert [m.kind for m in stats.markers] == ["check", "verdict"] and stats.final_correct is True


def test_lengths_in_tokens_when_a_tokenizer_is_given():
    text = "<think>\nSo 1 + 2 = 3.\nWait, is that right?\nYes, the answer is 3.\n</think>\n\\boxed{3}"
    stats = analyze(text, "3", exact, tokenizer=str.split)
    assert stats.unit == "tokens" and stats.length == len(text.split())
    assert 0 < stats.trajectory[0]["position"] <= stats.length
    # Marker offsets stay characters into the completion.
    assert text[stats.markers[0].start:stats.markers[0].end] == "Wait, is that right?"


def test_to_dict_is_json_with_the_documented_keys():
    row = labelled("Llama-8B", "problem_2238", False)
    d = analyze(row["response"], row["gt_answer"], exact, think_open=True).to_dict()
    assert set(d) == TRACE_KEYS
    assert set(d["marker_counts"]) == set(KINDS) | {"aha"}
    assert d["markers"] and all(set(m) == {"kind", "rule", "start", "end", "text", "confidence", "aha"} for m in d["markers"])
    assert d["episodes"] and all(set(e) == {"kind", "start", "end", "acts", "settled"} for e in d["episodes"])
    assert all(set(t) == {"position", "answer", "correct", "rule"} for t in d["trajectory"])
    assert json.loads(json.dumps(d)) == d


def test_candidates_are_verified_once_in_one_batch():
    calls = []

    def recording(pairs):
        calls.append(list(pairs))
        return exact(pairs)

    texts = ["<think>So the answer is 7.</think> \\boxed{7}", "<think>The answer is 7. Wait, no: 8.</think> \\boxed{8}"]
    stats = analyze_many(texts, ["7", "7"], recording)
    assert len(calls) == 1
    assert sorted(calls[0]) == [("7", "7"), ("8", "7")]
    assert [s.final_correct for s in stats] == [True, False]
    # A known verdict is used as it is: the final answer is not verified again.
    calls.clear()
    stats = analyze_many(texts, ["7", "7"], recording, correct=[False, None])
    assert stats[0].final_correct is False and stats[1].final_correct is False


def test_the_registered_math_verifier_judges_candidates():
    from evalkit.verifiers import get_verifier

    try:
        get_verifier("math")
    except KeyError:
        pytest.skip("the math verifier is not registered in this checkout")
    row = labelled("Llama-8B", "problem_3448", True)  # states -1/4027 several ways, then boxes -\dfrac{1}{4027}
    stats = analyze(row["response"], row["gt_answer"], "math", think_open=True)
    assert stats.final_correct is True
    # the boxed `-\dfrac{1}{4027}` restates `\( -1/4027 \)`, stated first, which the verifier finds equal to the gold
    assert [(t["answer"], t["correct"]) for t in stats.trajectory] == [("\\( -1/4027 \\)", True)]
    # the steps on the way ("So, ... k = 2014", "= -1") are no answers: no wrong-to-right correction (there was one)
    assert stats.self_corrections == {"wrong_to_right": 0, "right_to_wrong": 0, "wrong_to_wrong": 0}


def test_rules_from_yaml(tmp_path):
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text("rules:\n  - {name: eureka, kind: aha, pattern: 'eureka', at: any, cues: [eureka]}\n"
                          "  - {name: sanity, kind: verification, pattern: 'sanity time'}\n")  # an older kind name
    rules = load_rules(rules_file)
    text = "<think>Eureka! It is 3. Sanity time: 1 + 2 = 3.</think> 3"
    for detector in ("model", "rules"):  # the model never saw a user's rows: they decide their sentences
        stats = analyze(text, verifier=None, rules=rules, detector=detector)
        assert [(m.kind, m.rule, m.aha) for m in stats.markers] == [("doubt", "eureka", True), ("check", "sanity", False)]
        assert stats.marker_counts["aha"] == 1

    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: x, kind: joy, pattern: 'x'}\n")
    with pytest.raises(InputError, match=r"bad\.yaml:1: rule 1: field 'kind'"):
        load_rules(bad)


def test_a_users_switch_row_counts_switches_and_hides_no_act(tmp_path):
    # user rows come first, and a switch row (a marker by default) took the sentence from the built-in
    # doubt: adding a cue for a change of approach removed reflection acts
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text("rules:\n  - {name: new_approach, kind: switch, pattern: 'another approach|different tack', at: any}\n")
    rules = load_rules(rules_file)
    text = ("<think>\nSo x = 5. Wait, that's wrong, let me try another approach. Then x = 6.\n"
            "Let me take a different tack. x = 6.\n</think>\n6")
    for detector in ("model", "rules"):
        plain = analyze(text, verifier=None, detector=detector)
        stats = analyze(text, verifier=None, rules=rules, detector=detector)
        doubt = [(m.kind, m.rule) for m in plain.markers if m.kind == "doubt"][:1]
        assert doubt == [("doubt", "that_wrong")]
        assert [(m.kind, m.rule) for m in stats.markers][:1] == doubt, detector
        assert stats.thought_switches == plain.thought_switches + 1  # the sentence without an act


@pytest.mark.parametrize("text, says", [
    # a misspelt key made an `any` row of a start row (it fired inside "We add them, so 2+3 = 5."), silently
    ("rules:\n  - {name: a, kind: check, pattern: x}\n  - {name: so, kind: verdict, pattern: so, att: start}\n",
     r"rules\.yaml:3: rule 2: field 'att' is unknown \(a rule has name, kind, pattern, at, role, cues\)"),
    ("- {name: sanity, kind: check, pattern: sanity, cues: []}\n",  # a row that could never fire
     r"rules\.yaml:1: rule 1: field 'cues' must be a non-empty list"),
    (b"- {name: v, kind: check, pattern: 'v\xe9rifions'}\n",  # Latin-1: a UnicodeDecodeError traceback
     r"rules\.yaml:1: not UTF-8 text \(byte 37 of the line: invalid continuation byte\)"),
    ("- {name: x, kind: check, pattern: 'foo'\n",  # a seven-line PyYAML dump without the line
     r"rules\.yaml:1: malformed YAML: expected ',' or '}'"),
    # a nested repeat hung `evalkit analyze` (40 a's and a b ran for minutes); one matching the empty text made
    # every sentence an act; two rows of one name could not be told apart in a marker's `rule`
    ("- {name: x, kind: check, pattern: '(a+)+$'}\n", r"rules\.yaml:1: rule 1: field 'pattern' repeats a group "
     r"that repeats itself, as \(a\+\)\+ does \('\(a\+\)\+\$'\): on some sentences that takes exponential time"),
    ("- {name: x, kind: check, pattern: '(?:\\w+\\s?){0,3}done'}\n", r"field 'pattern' repeats a group"),
    ("- {name: x, kind: check, pattern: '(?>(a+)+b)'}\n", r"field 'pattern' repeats a group"),
    ("- {name: x, kind: check, pattern: '(?:(?:\\w+\\W*){0,3}){0,3}x'}\n", r"field 'pattern' repeats a group"),
    ("- {name: x, kind: check, pattern: '.*'}\n", r"rule 1: field 'pattern' matches the empty text \('\.\*'\): it "
     r"would fire on every sentence"),
    # `\b` loaded and marked every sentence a check with no text
    ("- {name: x, kind: check, pattern: '\\b'}\n", r"rule 1: field 'pattern' can match no text at all \('\\\\b'\): as in "),
    ("- {name: x, kind: check, pattern: '(?=x)'}\n", r"rule 1: field 'pattern' can match no text at all"),
    ("- {name: x, kind: check, pattern: a}\n- {name: x, kind: doubt, pattern: b}\n",
     r"rules\.yaml:2: rule 2: field 'name' 'x' is rule 1's name already"),
    ("- {name: let_me_check, kind: doubt, pattern: hmm}\n", r"field 'name' 'let_me_check' is a built-in row's name"),
    ("- {name: x, kind: check, pattern: 123}\n", r"rule 1: field 'pattern' must be a non-empty string, got int 123"),
])
def test_a_bad_rules_file_is_one_line_naming_file_line_and_field(tmp_path, text, says):
    path = tmp_path / "rules.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError, match=says) as e:
        load_rules(path)
    assert "\n" not in str(e.value)


def test_a_users_word_gap_and_atomic_groups_load_and_fire(tmp_path):
    # the nested-repeat check refused "up to three words between", the most common way to write a gap
    path = tmp_path / "rules.yaml"
    path.write_text("- {name: gap, kind: doubt, pattern: '\\bnot\\W+(?:\\w+\\W+){0,3}right\\b'}\n"
                    "- {name: atom, kind: check, pattern: '(?>re)+-?check'}\n")
    rules = load_rules(path)
    stats = analyze("<think>So x = 4. Hmm, that is not quite right. Let me recheck the sum.</think> 4",
                    detector="rules", rules=rules, verifier=None)
    assert [m.rule for m in stats.markers][:2] == ["gap", "atom"], stats.markers


def test_a_users_start_rows_with_groups_flags_or_shared_group_names_fire_as_written(tmp_path):
    # A `start` row the table's shared alternation could not hold as written: a backreference (which there
    # would count the other rows' groups), an inline flag (which must open a whole expression), a group
    # name two rows share. `load_rules` accepts each; each must mark what it matches on its own.
    (tmp_path / "rows.yaml").write_text(
        "rules:\n"
        "  - {name: oops, kind: doubt, pattern: 'oops', at: start}\n"
        "  - {name: stutter, kind: doubt, pattern: '(\\w+) \\1\\b', at: start}\n"
        "  - {name: eureka, kind: check, pattern: '(?i)eureka', at: start}\n"
        "  - {name: hum, kind: doubt, pattern: '(?P<w>hum+)', at: start}\n"
        "  - {name: er, kind: doubt, pattern: '(?P<w>err+)', at: start}\n")
    text = "<think>\nThe the answer is 5.\n- EUREKA, it holds.\nHumm, 5 it is.\nErr, 5.\n</think>\n\\boxed{5}"
    (tmp_path / "in.jsonl").write_text(json.dumps({"completion": text, "gold": "5"}) + "\n")
    for detector in ("rules", "model"):
        out = tmp_path / f"{detector}.jsonl"
        result = CliRunner().invoke(main, ["analyze", str(tmp_path / "in.jsonl"), "--rules", str(tmp_path / "rows.yaml"),
                                           "--detector", detector, "--out", str(out)])
        assert result.exit_code == 0, result.output
        markers = json.loads(out.read_text())["trace"]["markers"]
        assert [(m["kind"], m["rule"], text[m["start"]:m["end"]]) for m in markers] == [
            ("doubt", "stutter", "The the answer is 5."), ("check", "eureka", "- EUREKA, it holds."),
            ("doubt", "hum", "Humm, 5 it is."), ("doubt", "er", "Err, 5.")], detector
        assert [m["text"] for m in markers] == ["The the", "EUREKA", "Humm", "Err"]


def test_summary_splits_by_outcome_and_relates_behaviour_to_accuracy():
    texts = [
        "<think>The answer is 5. Wait, that's wrong. So the answer is 7.</think> \\boxed{7}",
        "<think>Let me check. The answer is 7.</think> \\boxed{7}",
        "<think>So the answer is 4.</think> \\boxed{4}",
        "<think>So the answer is 7.</think> \\boxed{7}",
    ]
    stats = analyze_many(texts, ["7"] * 4, exact)
    s = summarize(stats, [st.final_correct for st in stats])
    assert (s["n"], s["n_correct"], s["n_wrong"], s["accuracy"]) == (4, 3, 1, 0.75)
    assert s["by_outcome"]["correct"]["n"] == 3 and s["by_outcome"]["wrong"]["mean_self_corrections"]["wrong_to_right"] == 0
    refl = s["behaviours"]["reflection"]
    assert (refl["n_with"], refl["accuracy_with"], refl["accuracy_without"], refl["lift"]) == (2, 1.0, 0.5, 0.5)
    # The stored dicts summarize the same as the dataclasses.
    assert summarize([st.to_dict() for st in stats]) == s


def test_a_model_fitted_on_one_model_s_traces_beats_the_rules_on_the_other_s():
    # A held-out check that runs in a test: fitted on the 20 Qwen-14B traces only, scored on the 20
    # Llama-8B ones (the full leave-one-trace-out figure is bench/trace/results/reflection_f1.md).
    sys.path.insert(0, str(REPO / "bench/trace"))
    from reflection_f1 import load_labelled, method_acts, score_acts
    from train_reflection import fit, predicted_acts, trace_item

    items = [trace_item(row) for row in load_labelled()]
    qwen = [it for it in items if "Qwen-14B" in it["model"]]
    llama = [it for it in items if "Llama-8B" in it["model"]]
    model = fit(qwen)
    threshold = json.loads((REPO / "evalkit/trace/reflection_model.json").read_text())["threshold"]
    fitted = score_acts(llama, [predicted_acts(it, model.probabilities(it["pair"]), threshold) for it in llama])
    rules = score_acts(llama, [[(m.start, m.end, m.kind) for m in analyze(it["text"], think_open=True, verifier=None,
                                                                         detector="rules").markers] for it in llama])
    words = score_acts(llama, [method_acts(row, [s for s, _ in it["gold"]])["R1 ten words"]
                               for row, it in zip((r for r in load_labelled() if "Llama-8B" in r["model"]), llama)])
    assert words["reflection"]["f1"] < 0.6 < rules["reflection"]["f1"]
    # The model reads the rule rows as features, so a row added lifts both: here 0.80 against 0.75.
    assert fitted["reflection"]["f1"] >= 0.78 and fitted["reflection"]["f1"] > rules["reflection"]["f1"] + 0.03
    for kind in ("doubt", "check", "verdict"):
        assert fitted[kind]["f1"] > rules[kind]["f1"], kind


def test_a_model_fitted_on_the_gold_traces_beats_the_rules_on_problems_and_a_model_it_never_saw():
    # The agent-labelled demo traces are other problems (MATH-500) and, for a third of them, another
    # model (DeepSeek-R1 itself): a held-out check of the 40 gold traces' fit, against labels made
    # apart from it (bench/trace/results/reflection_f1.md has the full table).
    sys.path.insert(0, str(REPO / "bench/trace"))
    from reflection_f1 import load_agent_labelled, load_labelled, score_acts
    from train_reflection import agent_item, fit, predicted_acts, trace_item

    model = fit([trace_item(row) for row in load_labelled()])
    rows = load_agent_labelled()
    items = [agent_item(row) for row in rows]
    assert len(items) == 58 and {it["model"] for it in items} >= {"deepseek-reasoner"}
    threshold = json.loads((REPO / "evalkit/trace/reflection_model.json").read_text())["threshold"]
    fitted = score_acts(items, [predicted_acts(it, model.probabilities(it["pair"]), threshold) for it in items])
    rules = score_acts(items, [[(m.start, m.end, m.kind) for m in analyze(row["text"], think_open=row["think_open"],
                                                                        verifier=None, detector="rules").markers]
                               for row in rows])
    assert fitted["reflection"]["f1"] >= 0.70 and fitted["reflection"]["f1"] > rules["reflection"]["f1"] + 0.05
    assert fitted["reflection"]["precision"] > rules["reflection"]["precision"] + 0.1


def test_agent_labels_refuse_a_text_that_is_not_the_one_labelled(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "bench/trace"))
    import reflection_f1

    data = tmp_path / "traces"
    data.mkdir()
    lines = (REPO / "tests/data/traces/agent_reflection.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["sha256"] = "0" * 64
    (data / "agent_reflection.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setattr(reflection_f1, "DATA", data)
    with pytest.raises(ValueError, match=r"agent_reflection.jsonl line 1: tasks/data/demo/completions.jsonl line \d+ "
                                         r"is not the text that was labelled"):
        reflection_f1.load_agent_labelled()


def test_model_acts_are_sentences_named_by_the_rule_that_fired_or_model():
    row = labelled("Llama-8B", "problem_2236", True)
    text = row["response"]
    stats = analyze(text, think_open=True, verifier=None)
    threshold = json.loads((REPO / "evalkit/trace/reflection_model.json").read_text())["threshold"]
    assert stats.markers and all(a.end <= b.start for a, b in zip(stats.markers, stats.markers[1:]))
    assert all(threshold < m.confidence <= 1 and m.kind in KINDS for m in stats.markers)
    # "Hmm, okay, that seems consistent." is a verdict no rule row fires on
    sentence = "Hmm, okay, that seems consistent."
    at = text.index(sentence)
    act = next(m for m in stats.markers if m.start == at)
    assert (act.kind, act.rule, act.end, act.text) == ("verdict", "model", at + len(sentence), "Hmm, okay, that seems consistent.")
    assert not any(m.start <= at < m.end for m in analyze(text, think_open=True, verifier=None, detector="rules").markers)


def test_the_shipped_reflection_model_is_what_the_training_script_fits(tmp_path):
    # Guards the weights against hand edits and against feature or rule changes that were not retrained.
    out = tmp_path / "model.json"
    subprocess.run([sys.executable, str(REPO / "bench/trace/train_reflection.py"), "--no-loto", "--out", str(out)],
                   check=True, capture_output=True, timeout=600)
    fitted, shipped = json.loads(out.read_text()), json.loads((REPO / "evalkit/trace/reflection_model.json").read_text())
    assert fitted["features"] == shipped["features"] and fitted["threshold"] == shipped["threshold"]
    assert (fitted["trained_on"]["gold_traces"], fitted["trained_on"]["agent_traces"]) == (40, 58)
    # L-BFGS stops a little apart on another CPU's BLAS kernels (measured: bias 1.6e-3, weights 5e-4 apart);
    # a rule or feature change that was not retrained moves them by far more (and the feature list above)
    assert np.allclose(fitted["bias"], shipped["bias"], atol=1e-2)
    assert np.allclose(fitted["weights"], shipped["weights"], atol=5e-3)


def test_a_model_with_other_labels_is_refused():
    data = json.loads((REPO / "evalkit/trace/reflection_model.json").read_text())
    data["labels"] = data["labels"][:-1]
    with pytest.raises(ValueError, match="retrain it with bench/trace/train_reflection.py"):
        ReflectionModel(data)
    with pytest.raises(ValueError, match="detector must be one of model, rules"):
        analyze("Wait, 2 + 2 = 4.", detector="judge")


def test_cli_analyze_writes_one_line_per_input_and_prints_a_summary(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [labelled("Qwen-14B", "problem_4682", ok) for ok in (True, False)]
    src.write_text("".join(json.dumps({"id": r["problem_id"], "text": r["response"], "answer": r["gt_answer"],
                                       "think_open": True}) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["analyze", str(src), "--completion-field", "text", "--gold-field", "answer",
                                       "--verifier", "none", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 completions: 0 correct, 0 wrong, 2 unjudged" in result.output
    assert "markers per 1k chars" in result.output and "mean episodes" in result.output
    assert "accuracy with / without" not in result.output  # nothing judged: no heading over no rows
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["problem_4682"] * 2 and all(set(line["trace"]) == TRACE_KEYS for line in lines)

    rule_markers = [line["trace"]["markers"] for line in lines]  # the default: the model
    result = CliRunner().invoke(main, ["analyze", str(src), "--completion-field", "text", "--gold-field", "answer",
                                       "--verifier", "none", "--detector", "rules", "--out", str(out)])
    assert result.exit_code == 0, result.output
    by_rules = [json.loads(line)["trace"]["markers"] for line in out.read_text().splitlines()]
    assert all(by_rules) and by_rules != rule_markers
    assert {m["rule"] for line in rule_markers for m in line} >= {"model"} and all(m["confidence"] == 1.0 for line in by_rules for m in line)

    result = CliRunner().invoke(main, ["analyze", str(src), "--out", str(out)])
    assert result.exit_code == 2
    assert f"{src}:1: field 'completion' is missing" in result.output
    result = CliRunner().invoke(main, ["analyze", str(src), "--completion-field", "text", "--gold-field", "answer",
                                       "--verifier", "nope"])
    assert result.exit_code == 2 and "unknown verifier 'nope'" in result.output


def test_analyze_in_python_reads_chat_messages_and_names_what_it_cannot_read():
    # analyze() took "no" for a list of think_open values (an error about lengths), and chat messages or a number
    # failed deep inside with AttributeError: 'list' object has no attribute 'rfind'
    text = "<think>2 + 2 = 4. Wait, let me check: 4 - 2 = 2. Yes, that matches.</think> \\boxed{4}"
    chat = analyze([{"role": "assistant", "content": text}], "4")
    assert chat == analyze(text, "4") and chat.final_correct is True
    with pytest.raises(TypeError, match=r"think_open must be true or false \(or one per completion\), got 'no'"):
        analyze(text, think_open="no")
    with pytest.raises(TypeError, match=r"completion 0: expected a string or chat messages, got int 123"):
        analyze(123)
    with pytest.raises(TypeError, match=r"completions must be a list of texts, got one text"):
        analyze_many(text)
    # a list holding only the prompt's user message is no answer (its text was read as the completion)
    assert analyze([{"role": "user", "content": text}], "4").final_correct is False


def test_cli_analyze_reads_chat_message_completions_as_the_rewards_do(tmp_path):
    # TRL's conversational completions, saved as they come: refused as "a list, not text (choose it with
    # --completion-field)", though no other field would do and the rewards read them
    text = "<think>2 + 2 = 4. Wait, let me check: 4 - 2 = 2. Yes, that matches.</think> \\boxed{4}"
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"completion": [{"role": "assistant", "content": text}], "answer": "4"}) + "\n"
                   + json.dumps({"completion": text, "answer": "4"}) + "\n"
                   + json.dumps({"completion": {"role": "assistant", "content": text}, "answer": "4"}) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["analyze", str(src), "--gold-field", "answer", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 completions: 3 correct" in result.output
    first, second, third = [json.loads(line) for line in out.read_text().splitlines()]
    assert first["completion"] == third["completion"] == text and first["trace"] == second["trace"] == third["trace"]
    # a tool call's turn has no content: empty text, not "a list, not text"
    src.write_text(json.dumps({"completion": [{"role": "assistant"}]}) + "\n")
    assert CliRunner().invoke(main, ["analyze", str(src)]).exit_code == 0
    # what is not text is named in JSON's words (it said "is a int", "is a NoneType")
    for value, says in ((5, "is a number (5), not text"), (None, "is null, not text"), ([1], "is a list, not text")):
        src.write_text(json.dumps({"completion": value}) + "\n")
        result = CliRunner().invoke(main, ["analyze", str(src)])
        assert result.exit_code == 2 and f"field 'completion' {says}" in result.output, result.output
    # a message whose content is no text: `5` was read as the answer 5 and judged correct
    for content, says in ((5, "a number (5)"), ({"x": 1}, "an object")):
        src.write_text(json.dumps({"completion": [{"role": "assistant", "content": content}], "gold": "5"}) + "\n")
        result = CliRunner().invoke(main, ["analyze", str(src)])
        assert result.exit_code == 2 and f"in.jsonl:1: field 'completion': a message's content is {says}, not text" \
            in result.output, result.output
    src.write_text((json.dumps({"completion": text, "answer": "4"}) + "\n") * 3)
    # a misspelt --gold-field left every line unjudged without a word
    result = CliRunner().invoke(main, ["analyze", str(src), "--gold-field", "answr"])
    assert result.exit_code == 0 and "3 unjudged" in result.output
    assert "warning: no line has a field 'answr' (--gold-field): nothing was verified" in result.output


def test_worker_processes_give_the_same_stats():
    texts = [r["response"] for r in LABELLED[:6]]
    golds = [r["gt_answer"] for r in LABELLED[:6]]
    one = analyze_many(texts, golds, exact, think_open=True)
    two = analyze_many(texts, golds, exact, think_open=True, workers=2)
    assert [s.to_dict() for s in one] == [s.to_dict() for s in two]


def test_one_pass_for_all_cues_finds_what_a_search_for_each_cue_finds():
    # The scan finds every rule cue in one Aho-Corasick pass (pyahocorasick); without it, it looks for
    # each cue in turn. Both must tell each row the same sentences, on real traces and on Chinese cues.
    import copy

    from evalkit.trace._markers import cue_sentences, sentences
    from evalkit.trace._rules import compiled

    rules = compiled(None)
    assert rules.cue_finder is not None, "pyahocorasick is a dependency of evalkit"
    one_by_one = copy.copy(rules)
    one_by_one.cue_finder = None
    texts = [r["response"] for r in LABELLED] + [r["full_response"] for r in QWEN7B] + [
        "等等，我算错了。让我检查一下：2+3=5。没错！ Wait, is that right? ✓ Yes.",
        "Let me verify if x = 2 works. Hmm, not sure\nmake sure. (correct)"]
    found = 0
    for text in texts:
        low, sents = text.lower(), sentences(text)
        assert cue_sentences(low, sents, rules) == cue_sentences(low, sents, one_by_one)
        found += sum(map(len, cue_sentences(low, sents, rules).values()))
    assert found > 1000
    zh = texts[-2]
    assert set(cue_sentences(zh.lower(), sentences(zh), rules)) >= {"算错", "检查", "没错", "✓"}


def test_the_model_adds_the_weights_its_feature_names_say():
    # Words and word pairs are scored as numbers, not names: the scores must be the weights of every
    # name `feature_names` lists (what the model was fitted on).
    from evalkit.trace._analyze import reflection_features
    from evalkit.trace._model import LABELS, feature_names, load_model, softmax

    model = load_model()
    for text in [r["response"] for r in LABELLED[:8]] + [r["full_response"] for r in QWEN7B[:2]]:
        _, feats = reflection_features(text, think_open=True)
        names = feature_names(feats)
        assert any(n.startswith("b:") and n in model.index for n in names[3])
        z = np.array([sum((model.weights[model.index[n]] for n in fs if n in model.index), np.zeros(len(LABELS)))
                      for fs in names]) + model.bias
        assert np.allclose(model.probabilities(feats), softmax(z), atol=1e-12)


def test_analyze_uses_the_cpus_for_a_large_file_and_writes_what_one_process_writes(tmp_path, monkeypatch):
    import evalkit.trace._file as file_mod
    from evalkit.trace._file import AUTO_MIN_LINES, _auto_workers

    assert _auto_workers(AUTO_MIN_LINES - 1) == 1  # a small file is not worth the processes
    # Three CPUs this process may run on, whatever the machine has: the default must use them.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    used = []
    real = file_mod.analyze_many
    monkeypatch.setattr(file_mod, "analyze_many", lambda *a, **kw: used.append(kw["workers"]) or real(*a, **kw))
    texts = [r["response"][:3000] for r in LABELLED]
    lines = [{"completion": f"<think>{texts[k % len(texts)]}</think> The answer is \\boxed{{{k}}}.", "gold": str(k)}
             for k in range(AUTO_MIN_LINES + 44)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    auto = CliRunner().invoke(main, ["analyze", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "auto.jsonl")])
    one = CliRunner().invoke(main, ["analyze", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "one.jsonl"),
                                    "--workers", "1"])
    assert auto.exit_code == one.exit_code == 0, auto.output + one.output
    assert used == [3, 1]
    assert auto.output == one.output
    assert (tmp_path / "auto.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()
    bad = CliRunner().invoke(main, ["analyze", str(tmp_path / "in.jsonl"), "--workers", "0"])
    assert bad.exit_code == 2 and "--workers" in bad.output


def test_a_lone_surrogate_escape_is_read_as_a_replacement_character(tmp_path):
    # A JS harness that cuts an emoji in half writes valid JSON no UTF-8 text can hold: read as U+FFFD,
    # one character for one, so the offsets of what follows stay where they were.
    src = tmp_path / "in.jsonl"
    src.write_text('{"completion": "<think>\\nWait, that is wrong \\ud83d. The answer is 5.\\n</think>\\n\\\\boxed{5}", '
                   '"gold": "5", "note": "cut \\udc00"}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["analyze", str(src), "--out", str(out), "--detector", "rules"])
    assert result.exit_code == 0, result.output
    assert "1 completions: 1 correct" in result.output
    [line] = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    text = line["completion"]
    assert text == "<think>\nWait, that is wrong \ufffd. The answer is 5.\n</think>\n\\boxed{5}" and line["note"] == "cut \ufffd"
    assert [(m["kind"], text[m["start"]:m["end"]]) for m in line["trace"]["markers"]] == [
        ("doubt", "Wait, that is wrong \ufffd.")]
    # a caller's own string with half an emoji is read as it is
    stats = analyze("<think>Wait, that is wrong \ud83d. The answer is 5.</think> \\boxed{5}", "5", exact)
    assert [m.kind for m in stats.markers] == ["doubt"] and stats.final_correct is True


def test_boxes_a_repetition_loop_opens_and_never_closes_are_no_answers():
    # A truncated loop opens a box per repetition and closes none: no box of it has content (its
    # content is unknown), and a box closed after it is found. (The time this takes, linear in the
    # text, is bench/'s business, not a test's.)
    from evalkit.latex import find_boxed
    from evalkit.trace._answers import find_candidates

    unit = "So the answer is \\boxed{\\frac{1}{2}"
    loop = unit * (200_000 // len(unit) + 1)
    assert len(loop) > 200_000 and find_boxed(loop) == []
    closed = loop + " \\boxed{7}"
    assert find_boxed(closed) == [(len(loop) + 1, len(closed), "7")]
    assert [c.answer for c in find_candidates(closed)] == ["7"]
    stats = analyze("<think>\n" + loop, "1/2", exact, detector="rules")
    assert stats.truncated and stats.trajectory == () and stats.final_correct is False
    # balanced, nested and escaped braces read as before
    text = "\\boxed{a\\}b} x \\fbox {\\boxed{5}} \\boxed{\\{1\\}} \\boxed{"
    assert [c for _, _, c in find_boxed(text)] == ["a\\}b", "\\boxed{5}", "5", "\\{1\\}"]


@pytest.mark.parametrize("stated, candidate", [
    ("So the answer is 3\\sqrt{2}.", None),  # its `3` was a wrong candidate: a false wrong-to-right correction
    ("So the answer is 2^{10}.", None),
    ("The answer is 1 + 1 + 1 = 3.", None),
    ("The answer is 3.5x here.", None),
    ("The answer is 3 - \\sqrt{2}.", None),  # the first term of an expression is not the answer
    ("The answer is 2 * \\pi.", None),
    ("The answer is 2**10 = 1024.", None),
    ("答案是3\\sqrt{2}。", None),
    ("So the answer is 42.", "42"),
    ("So the answer is **3**.", "3"),  # bold, a dash and a numbered list after it end the value
    ("Thus the answer is 12 - let me double-check.", "12"),
    ("So the answer is 2\n3. Check the other case.", "2"),
    ("The answer is 7 -> done.", "7"),
    ("So the answer is 42 cm, I think.", "42"),
    ("The answer is 12 (in cm).", "12"),
    ("The answer is $3\\sqrt{2}$.", "$3\\sqrt{2}$"),
    ("答案是3。", "3"),
])
def test_a_stated_answer_is_its_whole_value_or_none(stated, candidate):
    from evalkit.trace._answers import find_candidates

    assert [c.answer for c in find_candidates(stated)] == ([candidate] if candidate else [])


def test_a_root_stated_before_its_box_is_no_self_correction():
    stats = analyze("<think>The diagonal is 3 times sqrt 2. So the answer is 3\\sqrt{2}. Let me double-check. Yes."
                    "</think>The diagonal is \\boxed{3\\sqrt{2}}.", "3\\sqrt{2}", exact, detector="rules")
    assert stats.final_correct is True and stats.self_corrections["wrong_to_right"] == 0
    assert [c["answer"] for c in stats.trajectory] == ["3\\sqrt{2}"]


def test_a_step_result_is_no_answer_and_a_concluded_answer_counts_where_it_is_reached():
    # "So, c = -755/288." is a step's result, not a change of mind: read as an answer it made a wrong-to-wrong and a
    # wrong-to-right correction of a trace that never stated a wrong answer (bench/trace/results/candidates.md)
    text = ("<think>\nSo, a = -25/288.\n\nThus, c = -755/288.\n\nSo, p(5) = -120/288 = -5/12.\n\n"
            "Wait, let me check the arithmetic again. Yes, that holds.\n\nTherefore, the answer is -5/12.\n"
            "</think>\n\\boxed{-5/12}")
    stats = analyze(text, "-5/12", exact, detector="rules")
    assert [(t["answer"], t["rule"]) for t in stats.trajectory] == [("-5/12", "conclusion_eq")]
    reached = text.index("= -5/12") + len("= -5/12")
    assert stats.first_correct_position == reached  # where it was reached, not where it was boxed
    assert stats.self_corrections == {"wrong_to_right": 0, "right_to_wrong": 0, "wrong_to_wrong": 0}
    # a concluded value the trace states as its answer elsewhere is a change of mind, "is" as much as "="
    flip = ("<think>\nTherefore, the number of bits is 20.\n\nWait, leading zeros do not count.\n\n"
            "So the answer is 19.\n\nHmm, but each hex digit is 4 bits, so the answer is 20.\n</think>\n\\boxed{20}")
    stats = analyze(flip, "19", exact, detector="rules")
    assert [(t["answer"], t["correct"]) for t in stats.trajectory] == [("20", False), ("19", True), ("20", False)]
    assert stats.trajectory[0]["rule"] == "conclusion_is"
    assert stats.self_corrections == {"wrong_to_right": 1, "right_to_wrong": 1, "wrong_to_wrong": 0}


@pytest.mark.parametrize("text, expected", [
    # the value inside inline math after "is": read whole, `6 \\times 20 = 120` was no stated answer, and the
    # `= 120` inside it was never tried
    ("So, the coefficient is \\(6 \\times 20 = 120\\). Thus \\boxed{120}.", [("120", "conclusion_eq")]),
    ("So the root is $x = 5$. The answer is 5.", [("5", "conclusion_eq")]),
    # the stated answer spelled another way
    ("So, the total is 14/3. Then \\boxed{\\dfrac{14}{3}}.", [("14/3", "conclusion_is")]),
    ("Thus the rate is 6.07%. \\boxed{6.07}", [("6.07%", "conclusion_is")]),
    # a verb inside a word is no verb
    ("So, this 5. \\boxed{6}", [("6", "boxed")]),
])
def test_a_concluding_step_is_read_inside_inline_math_and_in_other_spellings(text, expected):
    from evalkit.trace._answers import find_candidates

    assert [(c.answer, c.rule) for c in find_candidates(text)] == expected
    with pytest.raises(ValueError, match="steps: expected 'answers' or 'all'"):
        find_candidates(text, steps="final")


def test_a_concluding_answer_after_the_thinking_is_the_final_answer():
    # "Therefore, x = 7." after the thinking, no box: the final answer is 7 (it read the whole sentence, wrong,
    # where no box or "the answer is" stated 7: its value is no stated answer of the answer's text)
    calls = []

    def verifier(pairs):
        calls.extend(pairs)
        return [a.strip("$ ") == g for a, g in pairs]

    for answer in ("Therefore, x = 7.", "So the total is 7.", "Answer: 7", "As computed.\nFinal answer: 7"):
        calls.clear()
        stats = analyze(f"<think>\nx + 3 = 10.\n</think>\n{answer}", "7", verifier)
        assert stats.final_correct is True and ("7", "7") in calls, (answer, calls)


@pytest.fixture
def small_run(tmp_path) -> Path:
    """A replay run of three problems, each answered right, traced: `tmp_path/run`."""
    import evalkit

    problems = [("q0", "2 times 3?", "6"), ("q1", "4 times 5?", "20"), ("q2", "7 times 8?", "56")]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": i, "problem": p, "answer": a}) + "\n"
                                              for i, p, a in problems))
    (tmp_path / "t.yaml").write_text("name: products\ndataset: {local: p.jsonl}\nfields: {id: id}\nverifier: math\n")
    (tmp_path / "theirs.jsonl").write_text("".join(json.dumps(
        {"problem_id": i, "sample": 0, "completion": f"<think>Multiply. Wait, check it: {a}.</think> \\boxed{{{a}}}"})
        + "\n" for i, _, a in problems))
    evalkit.evaluate([str(tmp_path / "t.yaml")], completions=str(tmp_path / "theirs.jsonl"), out=tmp_path / "run",
                     progress=False)
    return tmp_path / "run"


def _rewrite(path: Path, edit) -> None:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in edit(records)), encoding="utf-8")


def test_analyze_keeps_a_runs_unjudged_samples_unjudged(small_run, tmp_path):
    # a verifier fault left q1 unjudged (correct null): analyze must not judge it with its own --verifier
    def fault(records):
        records[1].update(correct=None, score=None, reason="error", detail="verifier crashed")
        return records
    _rewrite(small_run / "samples.jsonl", fault)
    res = CliRunner().invoke(main, ["analyze", str(small_run), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    assert (summary["n"], summary["n_correct"], summary["n_unjudged"]) == (3, 2, 1)
    # a plain file of completions without verdicts is verified here
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps({"completion": r["completion"], "gold": r["gold"]}) + "\n"
                             for r in map(json.loads, (small_run / "samples.jsonl").read_text().splitlines())))
    res = CliRunner().invoke(main, ["analyze", str(plain), "--json"])
    summary = json.loads(res.output[res.output.index("{"):])
    assert (summary["n"], summary["n_correct"], summary["n_unjudged"]) == (3, 3, 0)


@pytest.mark.parametrize("value", ['"false"', "1", "null"])
def test_analyze_and_label_sheet_refuse_a_think_open_that_is_not_true_or_false(tmp_path, value):
    lines = ['{"completion": "<think>Hmm.</think> 4", "think_open": false}',
             '{"completion": "Hmm.</think> 4", "think_open": %s}' % value]
    (tmp_path / "x.jsonl").write_text("\n".join(lines) + "\n")
    for args in (["analyze", str(tmp_path / "x.jsonl")],
                 ["label-sheet", str(tmp_path / "x.jsonl"), "--out", str(tmp_path / "sheet.jsonl")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, res.output
        assert f"{tmp_path / 'x.jsonl'}:2: field 'think_open' must be true or false" in res.output, res.output
    assert not (tmp_path / "sheet.jsonl").exists()


def test_analyze_and_label_sheet_read_a_killed_runs_samples_as_the_report_does(small_run, tmp_path):
    samples = small_run / "samples.jsonl"
    whole = samples.read_text(encoding="utf-8")
    samples.write_text(whole + whole.splitlines()[0][:60], encoding="utf-8")  # a kill mid-write: no newline
    res = CliRunner().invoke(main, ["analyze", str(small_run), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output[res.output.index("{"):])["n"] == 3
    res = CliRunner().invoke(main, ["label-sheet", str(small_run), "--out", str(tmp_path / "sheet.jsonl")])
    assert res.exit_code == 0 and "3 traces" in res.output, res.output
    assert CliRunner().invoke(main, ["report", str(small_run)]).exit_code == 0
    # a corrupt line elsewhere is still an error naming the file and line
    lines = whole.splitlines(keepends=True)
    samples.write_text(lines[0] + lines[1][:60] + "\n" + lines[2], encoding="utf-8")
    for args in (["analyze", str(small_run)], ["label-sheet", str(small_run), "--out", str(tmp_path / "s2.jsonl")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and f"{samples}: line 2: not valid JSON" in res.output, res.output


def test_analyze_and_label_sheet_read_a_run_in_the_think_format_it_recorded(tmp_path):
    # a run in a user's format: its completions show no built-in marker, so `auto` from them would say
    # `none` and read the whole text as thinking; every reader of the run reads the row it recorded
    import evalkit

    text = ("<reasoning>Let me compute 2+2 = 4.\nWait, that can't be right.\nLet me double-check.\nYes, that matches.\n"
            "</reasoning>Hmm, that's not right in general, but here the answer is \\boxed{4}.")
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p1", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: sums\ndataset: {local: p.jsonl}\nfields: {id: id}\nverifier: math\n")
    (tmp_path / "theirs.jsonl").write_text(json.dumps({"problem_id": "p1", "sample": 0, "completion": text}) + "\n")
    (tmp_path / "formats.yaml").write_text('- {name: reasoning, open: "<reasoning>", close: "</reasoning>"}\n')
    run = tmp_path / "run"
    evalkit.evaluate([str(tmp_path / "t.yaml")], completions=str(tmp_path / "theirs.jsonl"), out=run,
                     think_format=str(tmp_path / "formats.yaml"), progress=False)
    recorded = json.loads((run / "samples.jsonl").read_text().splitlines()[0])["trace"]
    assert recorded["has_think"] and [text[m["start"]:m["end"]] for m in recorded["markers"]] == [
        "Wait, that can't be right.", "Let me double-check.", "Yes, that matches."]

    for given in (run, run / "samples.jsonl"):
        res = CliRunner().invoke(main, ["analyze", str(given), "--out", str(tmp_path / "a.jsonl")])
        assert res.exit_code == 0, res.output
        assert "think format: reasoning (the run's config.json: --think-format" in res.output
        assert json.loads((tmp_path / "a.jsonl").read_text())["trace"] == recorded
    # a format named on the command line still wins
    res = CliRunner().invoke(main, ["analyze", str(run), "--think-format", "none", "--out", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 0 and "think format: none (--think-format none)" in res.output, res.output
    assert json.loads((tmp_path / "a.jsonl").read_text())["trace"]["has_think"] is False

    sheet = tmp_path / "sheet.jsonl"
    res = CliRunner().invoke(main, ["label-sheet", str(run), "--out", str(sheet)])
    assert res.exit_code == 0, res.output
    line = json.loads(sheet.read_text())
    assert [(s["text"], s["label"]) for s in line["sentences"]] == [
        ("Let me compute 2+2 = 4.", "other"), ("Wait, that can't be right.", "doubt"),
        ("Let me double-check.", "check"), ("Yes, that matches.", "verdict")]
    assert line["think_format"]["name"] == "reasoning"  # a user's row is written whole: fit-detector reads it
    res = CliRunner().invoke(main, ["fit-detector", str(sheet), "--out", str(tmp_path / "mine.json")])
    assert res.exit_code == 0, res.output


def test_a_line_without_a_verdict_is_judged_by_the_verifier_as_evalkit_verify_judges_it(tmp_path):
    # short final answers the analyzer's own pick of the last candidate misread ("9**", a bare "\(...\)")
    lines = [("<think>\n196 = 2^2 * 7^2, so (2+1)(2+1) divisors.\n</think>\n"
              "Thus, 196 has **9** positive whole-number divisors.", "9"),
             ("<think>\nr = 3, theta = pi/2.\n</think>\nThus, the point in polar coordinates is \\((3, \\frac{\\pi}{2})\\).",
              "\\left( 3, \\frac{\\pi}{2} \\right)")]
    for completion, gold in lines:
        res = CliRunner().invoke(main, ["verify", "--completion", completion, gold, "--json"])
        assert json.loads(res.output)["correct"] is True, res.output
        assert analyze(completion, gold).final_correct is True  # verifier="math", as `evalkit analyze` uses
    src = tmp_path / "lines.jsonl"
    src.write_text("".join(json.dumps({"completion": c, "gold": g}) + "\n" for c, g in lines))
    res = CliRunner().invoke(main, ["analyze", str(src)])
    assert res.exit_code == 0 and "2 completions: 2 correct, 0 wrong, 0 unjudged" in res.output, res.output


def test_text_before_the_think_block_is_not_thinking():
    text = ("Wait, that can't be right. Let me double-check. Yes, that matches.\n<think>\nOK. Wait, is 2 + 2 = 4? "
            "Yes, that's right.\n</think>\nThe answer is 4.")
    for detector in ("rules", "model"):
        stats = analyze(text, verifier=None, detector=detector)
        assert all(m.start > text.index("<think>") for m in stats.markers) and stats.markers, detector
        assert [text[m.start:m.end] for m in stats.markers] == ["Wait, is 2 + 2 = 4?", "Yes, that's right."], detector
        assert 0 < stats.reflection_share <= 1, detector


def test_superficial_reflection_rate_is_one_figure_in_every_group():
    # oat-zero's rate: of the samples that reflect, the share still wrong; the same in every group
    texts = ["<think>\nWait, that can't be right.\n</think>\nThe answer is \\boxed{5}.",  # reflects, wrong
             "<think>\nWait, that can't be right.\n</think>\nThe answer is \\boxed{4}.",  # reflects, right
             "<think>\n2+2 = 4\n</think>\nThe answer is \\boxed{4}.",
             "<think>\n2+2 = 4\n</think>\nThe answer is \\boxed{4}."]
    s = summarize(analyze_many(texts, ["4"] * 4, exact, detector="rules"))
    assert s["superficial_reflection_rate"] == 0.5
    by = s["by_outcome"]
    assert (by["all"]["superficial_reflection_rate"], by["correct"]["superficial_reflection_rate"],
            by["wrong"]["superficial_reflection_rate"]) == (0.5, 0.0, 1.0)
    assert summarize(analyze_many(texts[2:], ["4"] * 2, exact))["by_outcome"]["all"]["superficial_reflection_rate"] is None


@pytest.mark.parametrize("fmt, text", [
    ("r1", "<think>Let me compute 2+2 = 4.\n</think>The answer is \\boxed{4}."),
    ("harmony", "<|channel|>analysis<|message|>Let me compute 2+2 = 4.\n<|end|><|start|>assistant<|channel|>final"
                "<|message|>The answer is \\boxed{4}.<|return|>"),
    ("sky", "<|begin_of_thought|>Let me compute 2+2 = 4.\n<|end_of_thought|><|begin_of_solution|>The answer is "
            "\\boxed{4}.<|end_of_solution|>"),
])
def test_answer_length_is_the_answer_s_text_without_its_close_marker(fmt, text):
    stats = analyze(text, verifier=None, think_format=fmt, detector="rules")
    assert (stats.think_length, stats.answer_length) == (len("Let me compute 2+2 = 4.\n"), len("The answer is \\boxed{4}."))


def test_crlf_line_ends_read_as_lf_line_ends():
    from evalkit.trace._markers import sentences

    assert sentences("First line.\r\n\r\nWait, no.") == [(0, 11, False), (15, 24, True)]  # after a blank line
    row = [json.loads(line) for line in (REPO / "tasks/data/demo/completions.jsonl").read_text("utf-8").splitlines()][11]
    text, crlf = row["completion"], row["completion"].replace("\n", "\r\n")
    lf_acts = analyze(text, verifier=None, think_open=bool(row.get("think_open"))).markers
    crlf_acts = analyze(crlf, verifier=None, think_open=bool(row.get("think_open"))).markers
    assert [(m.kind, text[m.start:m.end]) for m in lf_acts] == [(m.kind, crlf[m.start:m.end]) for m in crlf_acts]


def test_the_printed_summary_writes_every_figure_as_a_number():
    from evalkit.trace import format_summary

    printed = format_summary(summarize(analyze_many(["x" * 999, "x" * 1000], None, None)))
    assert re.search(r"mean length \(chars\) +1,000 +- +-", printed), printed
    assert "e+" not in printed
    # a figure of ten characters or more ran into the next ("57,000,02457,000,024")
    summary = summarize(analyze_many(["x" * 999, "x" * 1000], None, None))
    for group in summary["by_outcome"].values():
        group.update(n=2, mean_length=57_000_024.0)
    assert re.search(r"mean length \(chars\) +57,000,024 57,000,024 57,000,024\n", format_summary(summary))


def test_a_trace_saved_with_crlf_line_ends_gets_the_acts_and_confidences_of_its_lf_twin():
    # docs/trace.md reads \r\n as \n; the model's position and length features counted each \r, so a
    # trace saved on Windows lost acts (two doubts of one demo trace) and changed confidences
    demo = Path(__file__).resolve().parents[1] / "tasks" / "data" / "demo" / "completions.jsonl"
    lf = [json.loads(line)["completion"] for line in demo.read_text(encoding="utf-8").splitlines()]
    crlf = [text.replace("\n", "\r\n") for text in lf]
    for detector in ("model", "rules"):
        read = []
        for texts in (lf, crlf):
            read.append([[(m.kind, text[m.start:m.end].replace("\r\n", "\n"), m.confidence) for m in stats.markers]
                         for text, stats in zip(texts, analyze_many(texts, None, None, detector=detector))])
        assert sum(map(len, read[0])) > 1000
        assert read[1] == read[0], detector


@pytest.mark.parametrize("text", [
    # `x = 5` and a run of spaces before a word: four touching runs of white space backtracked in every combination
    # (34 s at 500 spaces, minutes at 1,000; `evalkit run` analyses every sample)
    "<think>\nSo x = 5" + " " * 1000 + "(checked)\n</think>\n5",
    "<think>\nSo x = 5" + "\t" * 1000 + "(checked)\n</think>\n5",
    "<think>\nThe answer is" + " " * 20_000 + "y\n</think>\n5",
    # a trace cut off while repeating one mark: each mark of the run was tried as a sentence end (8.5 s at 20,000)
    "<think>\nSo the sum is 12. Hmm" + "?" * 20_000,
    "<think>\n" + "!" * 20_000 + "</think>\n12",
    "<think>\n" + "*" * 20_000 + "\n</think>\n12",
])
def test_a_degenerate_trace_is_analysed_without_stalling(text):
    # in a process of its own: a regex stuck in backtracking holds the interpreter and cannot be stopped from a thread
    script = ("import sys; from evalkit.trace import analyze; text = sys.stdin.read()\n"
              "for detector in ('model', 'rules'):\n"
              "    print(detector, analyze(text, verifier=None, detector=detector).length)")
    try:
        r = subprocess.run([sys.executable, "-c", script], input=text, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    except subprocess.TimeoutExpired:
        pytest.fail("the analysis of one 20,000-character trace ran past 60 s")
    assert r.stdout.split() == ["model", str(len(text)), "rules", str(len(text))], r.stderr[-2000:]


def test_a_rare_case_mapping_leaves_the_acts_as_they_were():
    # `İ` lowers to two characters: the cue pre-filter was dropped for the whole trace; the acts must not change
    text = "<think>\nSo x = 5. Wait, that's wrong. Let me check: 2 + 3 = 5. Yes, that's right.\n</think>\n5"
    plain = analyze(text, verifier=None, detector="rules")
    dotted = analyze(text.replace("So x", "İ say x"), verifier=None, detector="rules")
    assert [(m.kind, m.rule) for m in dotted.markers] == [(m.kind, m.rule) for m in plain.markers]
    assert [m.kind for m in plain.markers] == ["doubt", "check", "verdict"]


@pytest.mark.parametrize("sentence, kind", [
    # 嗯 ("hmm") read as the English row reads it: QwQ opens its thinking with "嗯，用户问的是…" (the user asks…)
    ("嗯，用户问的是一个积分问题。", None),
    ("嗯，对的。", "verdict"),  # "hmm, right."
    ("嗯，让我再想想。", None),  # "hmm, let me think again": a plan
    ("嗯，这好像有问题。", "doubt"),  # "hmm, this seems to have a problem"
    ("嗯……这个结果有点奇怪。", "doubt"),  # "hmm... this result is a bit odd"
    # 好像 ("seems"), 行不通 ("doesn't work"), 对于 ("regarding") are no "okay", "fine" or "right"
    ("嗯，好像漏掉了一种情况。", "doubt"), ("嗯，行不通。", "doubt"), ("嗯，对于第二步，我不太确定。", "doubt"),
])
def test_a_chinese_hmm_is_a_doubt_as_the_english_one_is(sentence, kind):
    text = f"<think>\n首先计算。\n{sentence}\n所以答案是5。\n</think>\n5"
    at = text.index(sentence)
    stats = analyze(text, verifier=None, detector="rules")
    assert [m.kind for m in stats.markers if at <= m.start < at + len(sentence)] == ([kind] if kind else []), stats.markers


def test_an_empty_or_nan_gold_is_no_gold_in_analyzes_count(tmp_path):
    # as in a task's data, "", [] and NaN are no gold: the lines came out unjudged yet counted in lines_with_gold
    from evalkit.trace import analyze_file

    path = tmp_path / "c.jsonl"
    path.write_text("".join(f'{{"completion": "<think>x</think> \\\\boxed{{3}}", "gold": {g}}}\n'
                            for g in ('""', "[]", "NaN", '"3"')), encoding="utf-8")
    summary = analyze_file(path)
    assert summary["lines_with_gold"] == 1


def test_a_boxed_restatement_of_the_answer_is_no_change_of_mind():
    # `$\boxed{15}$` after "So the answer is 15." was a second answer: wrong -> wrong counted where nothing changed
    stats = analyze("<think>\nSo the answer is 15.\n</think>\nThe answer is $\\boxed{15}$.", "12", exact)
    assert [t["answer"] for t in stats.trajectory] == ["15"]
    assert stats.self_corrections == {"wrong_to_right": 0, "right_to_wrong": 0, "wrong_to_wrong": 0}
    stats = analyze("<think>\nSo the answer is 15.\n</think>\nSo \\(\\boxed{16}\\).", "16", exact)
    assert [t["answer"] for t in stats.trajectory] == ["15", "16"]  # a boxed change of mind still is one
    assert stats.self_corrections["wrong_to_right"] == 1


def test_worker_processes_shut_down_without_a_traceback_and_a_missing_default_gold_is_said(tmp_path):
    # forked workers inherited the CLI's SIGTERM handler: "Process ForkPoolWorker-N: Traceback ... Terminated"
    # on stderr in about 2 runs of 5 with --workers 2 (exit 0, right figures)
    src = tmp_path / "in.jsonl"
    text = "<think>2 + 2 = 4. Wait, let me check: 4 - 2 = 2. Yes.</think> \\boxed{4}"
    src.write_text((json.dumps({"completion": text, "answer": "4"}) + "\n") * 40)
    for _ in range(5):
        run = subprocess.run([sys.executable, "-m", "evalkit", "analyze", str(src), "--workers", "2",
                              "--gold-field", "answer"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    # the default --gold-field (gold) that no line has left every line unjudged without a word
    run = subprocess.run([sys.executable, "-m", "evalkit", "analyze", str(src)], capture_output=True, text=True,
                         timeout=120)
    assert "no line has a field 'gold' (--gold-field, its default): nothing was verified" in run.stderr, run.stderr


def test_analyze_with_workers_stops_at_once_on_a_signal_to_its_process_group(tmp_path):
    # SIGTERM to the group (`timeout`, a job killed) killed the workers too; the pool started others, and its
    # shutdown waited on them for ever (5 hangs in 8 tries on a large file)
    import signal
    import time

    src = tmp_path / "big.jsonl"
    body = " ".join(["Let me compute the sum.", "Wait, that is wrong.", "So x = 5.", "Let me verify: 3*4 = 12."] * 40)
    src.write_text((json.dumps({"completion": f"<think>{body}</think>The answer is \\boxed{{5}}.", "gold": "5"})
                    + "\n") * 6000)
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, "-m", "evalkit", "analyze", str(src), "--workers", "2", "--detector",
                                 "rules", "--verifier", "none"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True, text=True)
        time.sleep(3)
        os.killpg(proc.pid, sig)
        try:
            err = proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"analyze did not stop within 30 s of {sig.name}")
        assert proc.returncode in (130, 143) and "Traceback" not in err, (proc.returncode, err)
