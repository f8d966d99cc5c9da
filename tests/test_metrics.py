"""Metrics: pass@k against the closed form, maj@k against brute force, CIs that resample problems."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction
from math import comb

import pytest

from evalkit.metrics import (bootstrap_ci, g_pass_at_k, group_answers, maj_at_k, mg_pass_at_k, pass_at_k,
                             summarize)


@pytest.mark.parametrize("n, c, k", [(1, 0, 1), (1, 1, 1), (5, 2, 1), (5, 2, 3), (10, 3, 4), (16, 0, 8),
                                     (16, 16, 16), (64, 5, 32), (200, 7, 100)])
def test_pass_at_k_matches_the_closed_form(n, c, k):
    expected = 1 - Fraction(comb(n - c, k), comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(expected), abs=1e-12)


def test_pass_at_1_is_avg_at_n_to_the_last_bit():
    # 3 of 6: the product form gave 0.49999999999999994, so a run's pass@1 printed 18.7 beside avg@n's 18.8
    for n in range(1, 17):
        for c in range(n + 1):
            assert pass_at_k(n, c, 1) == c / n, (n, c)
    samples = [{"problem_id": f"p{j}", "sample": i, "correct": i < c, "answer": str(i)}
               for j, c in enumerate((0,) * 5 + (3,) * 3) for i in range(6)]
    metrics = summarize(samples, metrics=("avg@n", "pass@k"))["metrics"]
    assert metrics["pass@1"]["value"] == metrics["avg@n"]["value"] == 0.1875


def test_pass_at_k_rejects_k_above_n():
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def _maj_brute(classes, correct_class, k):
    total = Fraction(0)
    subsets = list(itertools.combinations(range(len(classes)), k))
    for subset in subsets:
        votes = Counter(classes[i] for i in subset if classes[i] is not None)
        if not votes:
            continue
        top = max(votes.values())
        winners = [c for c, v in votes.items() if v == top]
        if correct_class in winners:
            total += Fraction(1, len(winners))
    return float(total / len(subsets))


@pytest.mark.parametrize("classes, correct, k", [
    ([0, 0, 1, 1, 2], 0, 3),
    ([0, 1, 1, 2, 2, None, 0, 0], 0, 4),
    ([0, 1, 2, 3], 0, 2),           # every pair is a tie: half credit when the right answer is in it
    ([1, 1, 1, 0, None, None], 0, 3),
    ([0, 0, 1, 1, 2, 2, 3, None, 0, 1], 0, 5),
    ([0, 1], 0, 2),
])
def test_maj_at_k_is_the_exact_expectation_over_subsets(classes, correct, k):
    assert maj_at_k(classes, correct, k) == pytest.approx(_maj_brute(classes, correct, k), abs=1e-12)


def test_maj_at_n_tie_splits_the_credit():
    assert maj_at_k([0, 1], 0, 2) == 0.5
    assert maj_at_k([0, 0, 1], 0, 3) == 1.0
    assert maj_at_k([1, 1, 0], 0, 3) == 0.0


def _record(pid, sample, answer, correct, reason=None):
    return {"problem_id": pid, "sample": sample, "answer": answer, "correct": correct,
            "reason": reason or ("correct" if correct else "wrong"), "completion_tokens": 10}


def test_maj_groups_equivalent_but_different_strings_with_the_verifier():
    from evalkit.verifiers import get_verifier

    # gold is 3; three samples say one half in three spellings, two say 3 (correct)
    samples = [_record("p", 0, "\\frac{1}{2}", False), _record("p", 1, "0.5", False), _record("p", 2, "1/2", False),
               _record("p", 3, "3", True), _record("p", 4, "3.0", True)]
    by_text = summarize(samples)
    by_verifier = summarize(samples, equivalent=get_verifier("math").equivalent)
    assert by_text["metrics"]["maj@5"]["value"] == 1.0  # as strings, three singletons lose to the pair
    assert by_verifier["metrics"]["maj@5"]["value"] == 0.0  # as math, one half wins 3 to 2


def test_maj_groups_do_not_depend_on_the_order_of_the_samples():
    from evalkit.verifiers import get_verifier

    # gold is 7. math-verify's check is neither transitive (50\\% is 0.5 and 50, 0.5 is not 50) nor
    # symmetric: the groups are the linked answers, whichever sample came first
    same = get_verifier("math").equivalent
    wrong = ["0.5", "50\\%", "50"]
    values = set()
    for order in itertools.permutations(wrong):
        samples = [_record("p", 0, "7", True), _record("p", 1, "7", True)]
        samples += [_record("p", 2 + i, a, False) for i, a in enumerate(order)]
        values.add(summarize(samples, equivalent=same)["metrics"]["maj@5"]["value"])
    assert values == {0.0}  # one group of three outvotes the two sevens, in every order


def test_maj_groups_ask_each_pair_in_one_order_and_link_through_pairs():
    asked = []

    def one_way(a, b):  # a check that only reads its arguments one way round, and only these pairs
        asked.append((a, b))
        return (a, b) in {("a", "b"), ("b", "c")}

    for order in itertools.permutations(["c", "a", "b", "a"]):
        classes, _ = group_answers(list(order), [False] * 4, one_way)
        assert len(set(classes)) == 1, (order, classes)  # a-b and b-c: one group, though a and c differ
    assert all(a < b for a, b in asked)


def test_maj_at_k_past_a_thousand_samples_is_a_number_not_an_overflow():
    # the exact weights grow past the largest float (C(1040, 520) ~ 1e311) before they are divided
    assert maj_at_k([0] * 1040, 0, 512) == 1.0
    assert maj_at_k([0] * 1039 + [1], 0, 1040) == 1.0
    assert maj_at_k([0] * 520 + [1] * 520, 0, 1040) == 0.5  # a tie splits the credit
    small = [0] * 3 + [1] * 2 + [None]
    assert maj_at_k(small * 200, 0, 3) == pytest.approx(maj_at_k(small * 20, 0, 3), abs=5e-3)


def test_unjudged_samples_leave_their_problems_n_and_are_counted():
    samples = [_record("a", 0, "1", True), _record("a", 1, None, None, "error"), _record("b", 0, "2", False),
               _record("b", 1, "5", True)]
    result = summarize(samples)
    assert result["n_unjudged"] == 1
    assert result["metrics"]["avg@n"]["value"] == pytest.approx((1 / 1 + 1 / 2) / 2)


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_problems():
    few = [1, 0, 1, 1, 0, 1, 0, 1]
    lo, hi = bootstrap_ci(few)
    assert lo < sum(few) / len(few) < hi
    lo2, hi2 = bootstrap_ci(few * 50)
    assert hi2 - lo2 < hi - lo


def test_group_answers_puts_every_correct_sample_in_one_class():
    classes, correct_class = group_answers(["4", "2+2", "5", None, " 5 "], [True, True, False, False, False])
    assert classes[0] == classes[1] == correct_class
    assert classes[2] == classes[4] != correct_class and classes[3] is None


def test_breakdowns_by_meta_field():
    samples = [_record("a", 0, "1", True), _record("b", 0, "1", False), _record("c", 0, "1", True)]
    result = summarize(samples, {"a": {"level": 1}, "b": {"level": 2}, "c": {"level": 2}})
    assert result["breakdowns"]["level"]["1"]["avg@n"] == 1.0
    assert result["breakdowns"]["level"]["2"]["avg@n"] == 0.5


# G-Pass@k_τ and mG-Pass@k (Liu et al. 2024), worked by hand from the hypergeometric counts.
# n=5, c=3, k=2: C(5,2)=10 pairs; 9 hold a correct sample, 3 hold two.
# n=7, c=4, k=3: C(7,3)=35; by correct count j: 1, 12, 18, 4  -> P(>=1)=34/35, P(>=2)=22/35, P(>=3)=4/35.
# n=10, c=6, k=4: C(10,4)=210; by j: 1, 24, 90, 80, 15 -> P(>=1)=209, P(>=2)=185, P(>=3)=95, P(>=4)=15 (/210).
@pytest.mark.parametrize("n, c, k, by_tau, mg", [
    (5, 3, 2, {0.25: 9 / 10, 0.5: 9 / 10, 0.75: 3 / 10, 1.0: 3 / 10}, 3 / 10),
    (7, 4, 3, {0.25: 34 / 35, 0.5: 22 / 35, 0.75: 4 / 35, 1.0: 4 / 35}, (2 / 3) * (4 / 35)),
    (10, 6, 4, {0.25: 209 / 210, 0.5: 185 / 210, 0.75: 95 / 210, 1.0: 15 / 210}, (2 / 4) * (95 + 15) / 210),
    (6, 0, 4, {0.25: 0.0, 0.5: 0.0, 0.75: 0.0, 1.0: 0.0}, 0.0),
    (6, 6, 4, {0.25: 1.0, 0.5: 1.0, 0.75: 1.0, 1.0: 1.0}, 1.0),
])
def test_g_pass_at_k_matches_hand_computed_values(n, c, k, by_tau, mg):
    for tau, expected in by_tau.items():
        assert g_pass_at_k(n, c, k, tau) == pytest.approx(expected, abs=1e-12), tau
    assert mg_pass_at_k(n, c, k) == pytest.approx(mg, abs=1e-12)


def test_g_pass_at_k_near_zero_tau_is_pass_at_k_and_k_above_n_is_refused():
    assert g_pass_at_k(10, 6, 4, 0.0) == pytest.approx(pass_at_k(10, 6, 4))
    with pytest.raises(ValueError):
        g_pass_at_k(3, 1, 4, 0.5)
    with pytest.raises(ValueError):
        mg_pass_at_k(3, 1, 4)


def test_g_pass_is_in_results_with_cis_when_the_spec_asks_for_it():
    # two problems with n=5 samples (not a multiple of k=2 or k=4): 3 and 1 correct
    recs = [_record("a", i, "1", i < 3) for i in range(5)] + [_record("b", i, "1" if i == 0 else "2", i == 0)
                                                             for i in range(5)]
    out = summarize(recs, metrics=["avg@n", "g-pass@k", "mg-pass@k"])
    m = out["metrics"]
    assert set(m) == {"avg@n", *(f"G-Pass@{k}_{t}" for k in (2, 4, 5) for t in (0.25, 0.5, 0.75, 1.0)),
                      "mG-Pass@2", "mG-Pass@4", "mG-Pass@5"}
    # k=2: problem a as above (0.9 / 0.3); problem b, c=1: P(>=1) = 4/10, P(>=2) = 0
    assert m["G-Pass@2_0.5"]["value"] == pytest.approx((0.9 + 0.4) / 2)
    assert m["G-Pass@2_1.0"]["value"] == pytest.approx((0.3 + 0.0) / 2)
    # k=4 of 5, c=3: P(>=3) = C(3,3)C(2,1)/C(5,4) = 2/5; problem b can never have 3 -> mG = (2/4)(2/5 + 0)/2
    assert m["G-Pass@4_0.75"]["value"] == pytest.approx(0.2)
    assert m["mG-Pass@4"]["value"] == pytest.approx(0.5 * (2 / 5 + 0) / 2)
    lo, hi = m["G-Pass@2_0.5"]["ci_low"], m["G-Pass@2_0.5"]["ci_high"]
    assert lo <= m["G-Pass@2_0.5"]["value"] <= hi and m["G-Pass@2_0.5"]["n_problems"] == 2
    assert "pass@2" not in m and "maj@2" not in m  # only what the spec chose


def test_a_run_whose_spec_chooses_g_pass_shows_it_in_results_and_the_report(tmp_path):
    import html
    import json
    import re

    import evalkit

    (tmp_path / "p.jsonl").write_text('{"id": "a", "problem": "1+2?", "answer": "3"}\n'
                                      '{"id": "b", "problem": "2+2?", "answer": "4"}\n')
    (tmp_path / "t.yaml").write_text("name: stable\ndataset: {local: p.jsonl}\nfields: {id: id}\n"
                                     "metrics: [avg@n, pass@k, g-pass@k, mg-pass@k]\n")
    # 5 samples each (not a multiple of k = 2 or 4): a right 3 times, b once
    rows = [{"problem_id": pid, "sample": i, "completion": f"\\boxed{{{gold if i < right else 0}}}"}
            for pid, gold, right in (("a", 3, 3), ("b", 4, 1)) for i in range(5)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                           progress=False, trace=False)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())["results"][0]["metrics"]
    assert saved["G-Pass@2_0.5"]["value"] == pytest.approx((0.9 + 0.4) / 2)
    assert saved["mG-Pass@4"]["value"] == pytest.approx(0.1)
    assert "maj@2" not in saved and "pass@4" in saved
    page = (run.run_dir / "index.html").read_text()
    table = re.search(r'<table id="stability-table">(.*?)</table>', page, re.S).group(1)
    cells = [html.unescape(re.sub(r"<[^>]+>", " ", c)).split() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", table, re.S)]
    header = [" ".join(c) for c in cells[:8]]
    assert header == ["Task", "Model", "k", "G-Pass@k 0.25", "G-Pass@k 0.5", "G-Pass@k 0.75", "G-Pass@k 1.0",
                      "mG-Pass@k"]
    k2 = cells[8:16]  # the k = 2 row: 65.0% at tau 0.5, 15.0% at tau 1.0, each with its CI
    assert k2[2] == ["2"] and k2[4][0] == "65.0%" and k2[6][0] == "15.0%" and "CI" in k2[4]
    summary = re.search(r'<table id="summary-table">(.*?)</table>', page, re.S).group(1)
    assert "G-Pass" not in summary and "pass@4" in summary


def test_maj_at_k_is_the_same_in_two_processes_past_the_exact_budget():
    # n = 256 with 97 distinct wrong answers: past the exact budget from k = 64 on, maj@k samples subsets
    # with a per-problem seed, which must not come from Python's per-process salted hash()
    import json
    import os
    import subprocess
    import sys

    script = ("import json\nfrom evalkit.metrics import summarize\n"
              "samples = [{'problem_id': f'aime/{p}', 'sample': s, 'answer': str(s % 97) if s % 2 else '7',"
              " 'correct': s % 2 == 0, 'reason': 'x'} for p in range(3) for s in range(256)]\n"
              "m = summarize(samples)['metrics']\n"
              "print(json.dumps({k: v['value'] for k, v in m.items() if k.startswith('maj@')}))\n")
    outs = []
    for salt in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": salt}
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout))
    assert outs[0] == outs[1] and set(outs[0]) >= {"maj@4", "maj@128"}


@pytest.mark.parametrize("n_correct, k", [(16, 16), (32, 8), (1, 32)])
def test_maj_at_k_is_exact_at_n_64_with_every_wrong_answer_distinct(monkeypatch, n_correct, k):
    import evalkit.metrics as metrics

    classes = [0] * n_correct + list(range(1, 65 - n_correct))
    shipped = maj_at_k(classes, 0, k)
    monkeypatch.setattr(metrics, "_EXACT_MAJ_BUDGET", 10**15)  # no estimate, however long it takes
    assert shipped == maj_at_k(classes, 0, k)


def test_maj_at_k_exact_dp_agrees_with_brute_force_where_one_class_is_large():
    classes = [0, 0, 0, 1, 1, 1, 1, 2, 3, None, 0, 2]
    assert maj_at_k(classes, 0, 6) == pytest.approx(_maj_brute(classes, 0, 6), abs=1e-12)


def test_breakdown_values_sort_numbers_first_and_accept_any_text():
    samples = [_record(p, 0, "1", ok) for p, ok in (("a", True), ("b", False), ("c", True), ("d", True))]
    meta = {"a": {"level": "10"}, "b": {"level": "²"}, "c": {"level": "2"}, "d": {"level": "Level 3"}}
    assert list(summarize(samples, meta)["breakdowns"]["level"]) == ["2", "10", "Level 3", "²"]


def test_a_one_problem_figure_has_no_interval_rather_than_a_zero_width_one(tmp_path):
    # resampling one problem cannot vary: its bootstrap interval was [50.0, 50.0], which reads as certain
    import json
    import re

    import evalkit
    from evalkit.table import results_table

    (tmp_path / "p.jsonl").write_text('{"id": "a", "problem": "1+2?", "answer": "3", "level": 1}\n'
                                      '{"id": "b", "problem": "2+2?", "answer": "4", "level": 2}\n'
                                      '{"id": "c", "problem": "2+3?", "answer": "5", "level": 2}\n')
    (tmp_path / "one.jsonl").write_text('{"id": "a", "problem": "1+2?", "answer": "3", "level": 1}\n')
    for name, data in (("one", "one.jsonl"), ("three", "p.jsonl")):
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\ndataset: {{local: {data}}}\n"
                                               "fields: {id: id, meta: [level]}\n")
    rows = [{"task": task, "problem_id": pid, "sample": i, "completion": f"\\boxed{{{gold if i % 2 else 0}}}"}
            for task, pid, gold in (("one", "a", 3), ("three", "a", 3), ("three", "b", 4), ("three", "c", 5))
            for i in range(4)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = evalkit.evaluate([str(tmp_path / "one.yaml"), str(tmp_path / "three.yaml")], n=4,
                           completions=tmp_path / "c.jsonl", out=tmp_path / "run", progress=False, trace=False)
    saved = {r["task"]: r for r in json.loads((tmp_path / "run" / "results.json").read_text())["results"]}
    one = saved["one"]["metrics"]["avg@n"]
    assert one["value"] == 0.5 and one["ci_low"] is None and one["ci_high"] is None
    assert saved["three"]["metrics"]["avg@n"]["ci_low"] is not None  # three problems keep theirs
    level = saved["three"]["breakdowns"]["level"]
    assert level["1"]["ci_low"] is None and level["2"]["ci_low"] is not None
    table = results_table(list(saved.values()))
    one_row = next(line for line in table.splitlines() if line.startswith("one "))
    assert "50.0" in one_row and "[" not in one_row
    page = (run.run_dir / "index.html").read_text()
    summary = re.search(r'<table id="summary-table">(.*?)</table>', page, re.S).group(1)
    one_cells = re.search(r"<tr>\s*<td[^>]*>one</td>(.*?)</tr>", summary, re.S).group(1)
    assert "50.0%" in one_cells and "CI" not in one_cells


def test_a_model_run_on_one_level_keeps_its_level_beside_the_others():
    # the demo's Qwen-14B ran only Level 5: its results had no level breakdown, and the report's chart said
    # "No level breakdown for" it, while the others had a Level 5 bar
    from evalkit.report.charts import accuracy_by

    samples = [_record("a", 0, "1", True), _record("b", 0, "1", False)]
    one = summarize(samples, {"a": {"level": 5}, "b": {"level": 5}})
    assert one["breakdowns"]["level"] == {"5": {**one["breakdowns"]["level"]["5"], "avg@n": 0.5, "n_problems": 2}}
    two = summarize(samples, {"a": {"level": 4}, "b": {"level": 5}})
    entries = [{"model": "m1", "task": "t", **two}, {"model": "m2", "task": "t", **one}]
    [chart] = accuracy_by(entries)
    assert "No level breakdown" not in chart.note, chart.note
    [chart] = accuracy_by(entries + [{"model": "m3", "task": "t", **summarize(samples, {})}])
    assert chart.note.endswith("No level breakdown for m3."), chart.note  # a model whose problems have no level
    assert accuracy_by([{"model": "m2", "task": "t", **one}]) == []  # one model, one group: no chart of one bar


def test_a_figure_at_zero_or_where_every_problem_scored_alike_is_not_certain(tmp_path):
    # 0 of 30 AIME problems solved still allows a solve rate near 10%; the percentile bootstrap printed
    # `avg@n 0.0 [0.0, 0.0]`, and every problem at one of two samples right gave `50.0 [50.0, 50.0]`
    import json

    import evalkit
    from evalkit.table import results_table

    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "problem": f"{i}+1?", "answer": str(i + 1)}) + "\n"
                                              for i in range(30)))
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    for name, right in (("none", lambda i, s: False), ("half", lambda i, s: s == 1), ("all", lambda i, s: True)):
        rows = [{"problem_id": f"p{i}", "sample": s, "completion": f"\\boxed{{{i + 1 if right(i, s) else 0}}}"}
                for i in range(30) for s in range(2)]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        evalkit.evaluate([str(tmp_path / "t.yaml")], n=2, completions=tmp_path / f"{name}.jsonl",
                         out=tmp_path / name, progress=False, trace=False)
        saved = json.loads((tmp_path / name / "results.json").read_text())["results"]
        avg = saved[0]["metrics"]["avg@n"]
        value = {"none": 0.0, "half": 0.5, "all": 1.0}[name]
        assert avg["value"] == value
        assert avg["ci_low"] <= value <= avg["ci_high"] and avg["ci_high"] - avg["ci_low"] >= 0.05, (name, avg)
        if name == "none":
            assert avg["ci_low"] == 0.0 and 0.05 < avg["ci_high"] < 0.2, avg
            assert "0.0 [0.0, 0.0]" not in results_table(saved)
    # on hundreds of problems the interval is the plain bootstrap's, to the point
    from evalkit.metrics import bootstrap_ci, interval

    values = [i % 3 / 2 for i in range(600)]
    assert all(abs(a - b) < 0.01 for a, b in zip(interval(values), bootstrap_ci(values)))


def test_an_interval_does_not_depend_on_the_order_samples_were_written_in():
    # samples.jsonl is in the order replies came back (concurrency, a fleet, a resume): the same verdicts gave
    # other intervals when written in another order
    import random

    from evalkit.metrics import ProblemScores, score_problems

    problems = [ProblemScores(problem_id=f"p{i}", n=4, c=i % 5, classes=tuple(0 if s < i % 5 else 1 for s in range(4)),
                              correct_class=0) for i in range(12)]
    first = score_problems(problems)["metrics"]
    for seed in range(5):
        shuffled = problems[:]
        random.Random(seed).shuffle(shuffled)
        assert score_problems(shuffled)["metrics"] == first


def test_a_problem_without_a_meta_value_is_in_no_breakdown_group():
    # a CSV's empty cell (and a blank one) was a group named "", drawn as a bar with no label
    samples = [_record(p, 0, "1", ok) for p, ok in (("a", True), ("b", False), ("c", True), ("d", False))]
    meta = {"a": {"level": "1"}, "b": {"level": ""}, "c": {"level": " "}, "d": {"level": None}}
    assert summarize(samples, meta)["breakdowns"]["level"] == {
        "1": {"avg@n": 1.0, "n_problems": 1, "ci_low": None, "ci_high": None}}


def test_the_printed_table_shows_g_pass_where_a_task_asks_for_it(tmp_path):
    # a task whose `metrics:` asked for G-Pass only printed a row of dashes: its figures were in results.json alone
    import json

    import evalkit
    from evalkit.table import results_table

    (tmp_path / "p.jsonl").write_text('{"id": "a", "problem": "1+2?", "answer": "3"}\n'
                                      '{"id": "b", "problem": "2+2?", "answer": "4"}\n')
    rows = [{"task": task, "problem_id": pid, "sample": i, "completion": f"\\boxed{{{gold if i < right else 0}}}"}
            for task in ("gp", "mg", "plain") for pid, gold, right in (("a", 3, 4), ("b", 4, 1)) for i in range(4)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, metrics in (("gp", "[g-pass@k]"), ("mg", "[avg@n, mg-pass@k]"), ("plain", "[avg@n, pass@k]")):
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\ndataset: {{local: p.jsonl}}\nfields: {{id: id}}\n"
                                               f"metrics: {metrics}\n")
    run = evalkit.evaluate([str(tmp_path / f"{name}.yaml") for name in ("gp", "mg", "plain")], n=4,
                           completions=tmp_path / "c.jsonl", out=tmp_path / "run", progress=False, trace=False)
    saved = {r["task"]: r for r in json.loads((run.run_dir / "results.json").read_text())["results"]}
    table = results_table(list(saved.values())).splitlines()
    assert table[0].split()[7] == "G-Pass", table[0]
    shown = {line.split()[0]: line for line in table[2:5]}
    g = saved["gp"]["metrics"]["G-Pass@4_0.5"]["value"]  # problem a 4 of 4 right, b 1 of 4: (1 + 0) / 2
    assert g == 0.5 and f"@4_0.5 {100 * g:.1f}" in shown["gp"], shown
    mg = saved["mg"]["metrics"]["mG-Pass@4"]["value"]
    assert f"mG@4 {100 * mg:.1f}" in shown["mg"], shown
    assert shown["plain"][table[0].index("G-Pass")] == "-" and "G-Pass" not in results_table([saved["plain"]])
