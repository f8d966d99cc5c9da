"""The trace analyzer on real R1-distill traces (tests/data/traces) and a few made-up ones where an
exact expectation is needed."""

from __future__ import annotations

import json
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
from evalkit.trace._learned import ReflectionModel

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "traces"
LABELLED = [json.loads(line) for line in (DATA / "r1distill_math_labeled.jsonl").read_text("utf-8").splitlines()]
QWEN7B = [json.loads(line) for line in (DATA / "math500_r1distill_qwen7b_sample.jsonl").read_text("utf-8").splitlines()]

TRACE_KEYS = {
    "unit", "length", "think_length", "answer_length", "has_think", "truncated", "markers", "marker_counts",
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
    # Qwen-14B on "how many bits" says 19 (right), then 20, then 19, then settles on 20 (wrong).
    row = labelled("Qwen-14B", "problem_4682", False)
    stats = analyze(row["response"], row["gt_answer"], exact, think_open=True)
    assert [t["answer"] for t in stats.trajectory] == ["19", "20", "19", "20"]
    assert [t["correct"] for t in stats.trajectory] == [True, False, True, False]
    assert stats.self_corrections == {"wrong_to_right": 1, "right_to_wrong": 2, "wrong_to_wrong": 0}
    assert stats.final_correct is False
    assert stats.superficial_reflection is True
    first = stats.trajectory[0]["position"]
    assert row["response"][:first].endswith("the answer should be 19")
    assert stats.first_correct_position == first
    # Underthinking: it had the right answer and abandoned it.
    assert stats.ut_score == round(1 - first / len(row["response"]), 4)
    assert stats.outcome_efficiency == 0.0


def test_a_recheck_is_one_marker_from_its_announcement_to_its_verdict():
    row = labelled("Qwen-14B", "problem_2236", True)
    text = row["response"]
    stats = analyze(text, think_open=True, verifier=None)
    spans = [text[m.start:m.end] for m in stats.markers]
    recheck = next(s for s in spans if s.startswith("Wait, let me double-check that."))
    assert "49+50=99, 99+89=188." in recheck and recheck.endswith("Yep, that seems right.")
    m = stats.markers[spans.index(recheck)]
    assert (m.kind, m.rule, m.text) == ("verification", "let_me_check", "Wait, let me double-check")
    # Markers never overlap, and the trajectory is not verified without a verifier.
    assert all(a.end <= b.start for a, b in zip(stats.markers, stats.markers[1:]))
    assert stats.final_correct is None and all(t["correct"] is None for t in stats.trajectory)


def test_episodes_run_over_verdicts_in_a_row_and_questions_do_not_settle_them():
    text = ("<think>\nSo the total is 49 + 50 + 89 = 188.\nLet me recount the 4's: units place 49.\n"
            "Correct. Tens place: 5 blocks of 10.\nThat's 50.\nCorrect. Hundreds place: 400-488 is 89.\nCorrect.\n\n"
            "Now, let's count the 8's.\nThat gives 98, which matches the earlier count.\n"
            "But expanding that might be too tedious.\n\nNow, let's subtract: 188 - 98 = 90.\nWait, 90 seems high.\n"
            "So, which one is correct?\nYes, 90 is right.\n\nThe answer is 90.\n</think>\n\\boxed{90}")
    stats = analyze(text, verifier=None)
    got = [(m.kind, m.rule, text[m.start:m.end]) for m in stats.markers]
    assert got == [
        # a re-check of several items is one episode, to its last verdict (the plain "That's 50." too)
        ("verification", "let_me_check", ("Let me recount the 4's: units place 49.\nCorrect. Tens place: 5 blocks of 10.\n"
                                          "That's 50.\nCorrect. Hundreds place: 400-488 is 89.\nCorrect.")),
        # a doubt about the way ahead; "which matches the earlier count" alone restates a result
        ("hesitation", "but_hedge", "But expanding that might be too tedious."),
        # the question is no verdict: the doubt runs on until "Yes, ... right"
        ("hesitation", "wait", "Wait, 90 seems high.\nSo, which one is correct?\nYes, 90 is right."),
    ]
    assert stats.markers[1].text == "But expanding that might"


def test_a_truncated_trace_is_handled():
    row = next(r for r in QWEN7B if "</think>" not in r["full_response"])  # 75k characters, never closes
    text = row["full_response"]
    for finish in (None, "length"):
        stats = analyze(text, row["ground_truth"], exact, think_open=True, finish_reason=finish)
        assert stats.truncated is True
        assert stats.answer_length == 0 and stats.think_length == stats.length == len(text)
        assert stats.final_correct is False  # no answer is the model's fault, never None
        assert stats.markers and stats.marker_counts["hesitation"] > 0
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
    assert [(m.kind, m.rule) for m in a.markers] == [("backtracking", "that_wrong"), ("verification", "let_me_check")]

    assert [t["answer"] for t in b.trajectory] == ["5", "7", "9"]
    assert b.final_correct is False and b.outcome_efficiency == 0.0
    assert b.ut_score == round(1 - first / len(wrong), 4)
    assert b.self_corrections == {"wrong_to_right": 1, "right_to_wrong": 1, "wrong_to_wrong": 0}
    assert b.superficial_reflection is True


def test_chinese_markers():
    text = "<think>\n先算一下：2+3=5。等等，让我检查一下。2+3=5，没错。或者换个方法：5-3=2。\n</think>\n答案是 5"
    stats = analyze(text, "5", exact)
    doubt, switch = stats.markers
    assert (doubt.kind, doubt.rule) == ("hesitation", "zh_wait")
    assert text[doubt.start:doubt.end] == "等等，让我检查一下。2+3=5，没错。"  # runs to the verdict
    assert (switch.kind, switch.text) == ("switch", "换个方法")
    assert stats.final_correct is True and stats.thought_switches == 1


def test_no_think_block_is_all_answer():
    stats = analyze("Let me verify: 2 + 2 = 4. The answer is 4.", "4", exact)
    assert not stats.has_think and stats.think_length == 0 and stats.answer_length == stats.length
    assert stats.markers[0].kind == "verification" and stats.final_correct is True


def test_lengths_in_tokens_when_a_tokenizer_is_given():
    text = "<think>\nHmm, wait. The answer is 3.\n</think>\n\\boxed{3}"
    stats = analyze(text, "3", exact, tokenizer=str.split)
    assert stats.unit == "tokens" and stats.length == len(text.split())
    assert 0 < stats.trajectory[0]["position"] <= stats.length
    # Marker offsets stay characters into the completion.
    assert text[stats.markers[0].start:stats.markers[0].end].startswith("Hmm")


def test_to_dict_is_json_with_the_documented_keys():
    row = labelled("Llama-8B", "problem_2238", False)
    d = analyze(row["response"], row["gt_answer"], exact, think_open=True).to_dict()
    assert set(d) == TRACE_KEYS
    assert set(d["marker_counts"]) == set(KINDS)
    assert all(set(m) == {"kind", "rule", "start", "end", "text"} for m in d["markers"])
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
    assert stats.trajectory[-1]["correct"] is True and stats.trajectory[0]["correct"] is False
    assert stats.self_corrections["wrong_to_right"] >= 1


def test_rules_from_yaml(tmp_path):
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text("rules:\n  - {name: eureka, kind: aha, pattern: 'eureka', at: any, cues: [eureka]}\n")
    rules = load_rules(rules_file)
    stats = analyze("<think>Eureka! It is 3.</think> 3", verifier=None, rules=rules)
    assert [(m.kind, m.rule) for m in stats.markers] == [("aha", "eureka")]

    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: x, kind: joy, pattern: 'x'}\n")
    with pytest.raises(InputError, match=r"bad\.yaml: rule 1: field 'kind'"):
        load_rules(bad)


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


def _spans(text: str, chunks: list[dict]):
    keep = [i for i, c in enumerate(text) if not c.isspace()]
    squeezed, pos = "".join(text[i] for i in keep), 0
    for ch in chunks:
        key = "".join(ch["text"].split())
        at = squeezed.find(key, pos) if key else -1
        if at >= 0:
            pos = at + len(key)
            yield ch, (keep[at], keep[at + len(key) - 1] + 1)


def _held_out_f1() -> dict[str, float]:
    """Chunk-level reflection F1 on the held-out Llama-8B traces: both detectors and the R1 word list."""
    r1 = re.compile(r"\b(?:wait|mistake|however|but|retry|error|verify|wrong|evaluate|check)\b", re.IGNORECASE)
    counts = {k: {"tp": 0, "fp": 0, "fn": 0} for k in ("rules", "learned", "r1")}
    for row in (r for r in LABELLED if "Llama-8B" in r["model"]):
        found = {d: analyze(row["response"], think_open=True, verifier=None, detector=d).markers for d in ("rules", "learned")}
        for ch, (a, b) in _spans(row["response"], row["chunks"]):
            gold = bool({"uncertainty_management", "self_checking"} & set(ch["function_tags"]))
            preds = {d: any(m.start < b and a < m.end for m in found[d]) for d in found}
            preds["r1"] = bool(r1.search(ch["text"]))
            for k, pred in preds.items():
                if pred or gold:
                    counts[k]["tp" if pred and gold else "fp" if pred else "fn"] += 1
    return {k: 2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]) for k, c in counts.items()}


def test_detects_reflection_better_than_the_r1_word_list_on_held_out_traces():
    # The Llama-8B traces were never used to tune the rules or fit the model (bench/trace/reflection_f1.py).
    f1 = _held_out_f1()
    assert f1["rules"] >= 0.60 and f1["rules"] > f1["r1"] + 0.08
    # the learned detector agrees with the held-out labels better still
    assert f1["learned"] >= 0.64 and f1["learned"] > f1["rules"] + 0.02


def test_learned_markers_are_runs_named_by_the_rule_inside_or_learned():
    row = labelled("Llama-8B", "problem_2236", True)
    text = row["response"]
    rules = analyze(text, think_open=True, verifier=None).markers
    learned = analyze(text, think_open=True, verifier=None, detector="learned").markers
    assert learned and all(a.end <= b.start for a, b in zip(learned, learned[1:]))
    for m in learned:
        inside = [r for r in rules if r.start < m.end and m.start < r.end]
        if inside:
            assert (m.kind, m.rule, m.text) == (inside[0].kind, inside[0].rule, inside[0].text)
        else:  # no rule fired: a verdict or a recomputation the model scores as reflection
            assert (m.kind, m.rule) == ("verification", "learned") and text[m.start:m.end].startswith(m.text)
    # "Hmm, okay, that seems consistent." is labelled self-checking; no rule row fires on it
    sentence = "Hmm, okay, that seems consistent."
    at = text.index(sentence)
    assert not any(r.start < at + len(sentence) and at < r.end for r in rules)
    assert any(m.rule == "learned" and m.start <= at < m.end for m in learned)


def test_the_shipped_reflection_model_is_what_the_training_script_fits(tmp_path):
    # Guards the weights against hand edits and against feature or rule changes that were not retrained.
    out = tmp_path / "model.json"
    subprocess.run([sys.executable, str(REPO / "bench/trace/train_reflection.py"), "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    fitted, shipped = json.loads(out.read_text()), json.loads((REPO / "evalkit/trace/reflection_model.json").read_text())
    assert fitted["features"] == shipped["features"] and fitted["threshold"] == shipped["threshold"]
    assert fitted["trained_on"]["model"].endswith("Qwen-14B")  # never the held-out Llama-8B traces
    for stage in ("stage1", "stage2"):
        for key in ("weights", "bias"):
            assert np.allclose(fitted[stage][key], shipped[stage][key], atol=1e-5), (stage, key)


def test_a_model_fitted_on_other_features_is_refused():
    data = json.loads((REPO / "evalkit/trace/reflection_model.json").read_text())
    data["features"] = data["features"][:-1]
    with pytest.raises(ValueError, match="retrain it with bench/trace/train_reflection.py"):
        ReflectionModel(data)
    with pytest.raises(ValueError, match="detector must be one of rules, learned"):
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
    assert "markers per 1k chars" in result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["problem_4682"] * 2 and all(set(line["trace"]) == TRACE_KEYS for line in lines)

    rule_markers = [line["trace"]["markers"] for line in lines]
    result = CliRunner().invoke(main, ["analyze", str(src), "--completion-field", "text", "--gold-field", "answer",
                                       "--verifier", "none", "--detector", "learned", "--out", str(out)])
    assert result.exit_code == 0, result.output
    learned = [json.loads(line)["trace"]["markers"] for line in out.read_text().splitlines()]
    assert all(learned) and learned != rule_markers

    result = CliRunner().invoke(main, ["analyze", str(src), "--out", str(out)])
    assert result.exit_code == 2
    assert f"{src}:1: field 'completion' is missing" in result.output
    result = CliRunner().invoke(main, ["analyze", str(src), "--completion-field", "text", "--gold-field", "answer",
                                       "--verifier", "nope"])
    assert result.exit_code == 2 and "unknown verifier 'nope'" in result.output


def test_worker_processes_give_the_same_stats():
    texts = [r["response"] for r in LABELLED[:6]]
    golds = [r["gt_answer"] for r in LABELLED[:6]]
    one = analyze_many(texts, golds, exact, think_open=True)
    two = analyze_many(texts, golds, exact, think_open=True, workers=2)
    assert [s.to_dict() for s in one] == [s.to_dict() for s in two]
