"""`evalkit analyze --detector judge`: a scripted judge labels thinking sentences in chunks; the summary
compares its labels with the rules detector; noise replies leave chunks unlabelled and counted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from _judge_server import ScriptedJudge
from evalkit.trace.judge_detector import parse_labels, think_sentences

TRACE = ("<think>We need 17 times 23. That is 391. Wait, let me double-check that. 17 times 20 is 340 and "
         "17 times 3 is 51, so 391. Yes, that matches.\nSo the answer is 391.</think>\nThe answer is \\boxed{391}.")


def labeller(user: str) -> str:
    block = re.search(r"<sentences-(\w+)>\n(.*?)\n</sentences-\1>", user, re.S).group(2)
    out = []
    for line in block.splitlines():
        n, text = line.split(". ", 1)
        label = "doubt" if "Wait" in text else "check" if "check" in text else "verdict" if "matches" in text else "other"
        out.append(f"{n}: {label}")
    return "\n".join(out)


def analyze(judge, path, tmp_path):
    env = {**os.environ, "EVALKIT_CACHE_DIR": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "evalkit", "analyze", str(path), "--detector", "judge", "--judge",
                        judge.model, "--judge-base-url", judge.url], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_sentences_are_the_thinking_only():
    spans = think_sentences(TRACE)
    assert [TRACE[a:b] for a, b in spans][:2] == ["We need 17 times 23.", "That is 391."]
    assert all(b <= TRACE.index("</think>") for _, b in spans) and len(spans) == 6


def test_judge_labels_in_chunks_are_cached_and_compared_with_the_rules(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"completion": TRACE}) + "\n" + json.dumps({"completion": TRACE.replace("391", "392")}) + "\n")
    with ScriptedJudge(labeller, raw=True) as judge:
        summary = analyze(judge, path, tmp_path)
        assert judge.asked == 2
        assert summary["labels"] == {"doubt": 2, "check": 0, "verdict": 2, "other": 8}
        assert summary["labelled"] == summary["sentences"] == 12 and summary["unparsed_chunks"] == 0
        assert summary["judge_reflection"] == 4 and summary["rules_reflection"] >= 1
        assert 0.0 <= summary["agreement"] <= 1.0 and summary["kappa"] is not None
        again = analyze(judge, path, tmp_path)
        assert judge.asked == 2 and again == summary  # the chunks' replies came from the cache


def test_noise_replies_leave_sentences_unlabelled_and_are_counted(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"completion": TRACE}) + "\n")
    with ScriptedJudge(lambda user: "1: other\nall the rest: other", raw=True) as judge:
        summary = analyze(judge, path, tmp_path)
    assert summary["unparsed_chunks"] == 1 and summary["labelled"] == 0 and summary["agreement"] is None
    with ScriptedJudge(labeller, raw=True) as fixed:  # the judge fixed: the chunk it could not read is asked again
        again = analyze(fixed, path, tmp_path)
        assert fixed.asked == 1
    assert again["unparsed_chunks"] == 0 and again["labelled"] == 6
    assert parse_labels("1: doubt\n2: other", 2, ("doubt", "other")) == ["doubt", "other"]
    assert parse_labels("2: doubt\n1: other", 2, ("doubt", "other")) is None
    assert parse_labels("1: doubt\n2: maybe", 2, ("doubt", "other")) is None


MAGISTRAL = ("[THINK]We need 17 times 23. That is 391. Wait, let me double-check that. Yes, that matches.[/THINK]"
             "The answer is \\boxed{391}.")


def run_judge(judge, path, tmp_path, *options):
    env = {**os.environ, "EVALKIT_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "evalkit", "analyze", str(path), "--detector", "judge", "--judge",
                           judge.model, "--judge-base-url", judge.url, *options],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)


def test_the_judge_reads_the_thinking_of_the_files_think_format(tmp_path):
    path = tmp_path / "magistral.jsonl"
    path.write_text(json.dumps({"completion": MAGISTRAL}) + "\n")
    assert [MAGISTRAL[a:b] for a, b in think_sentences(MAGISTRAL, think_format="magistral")] == [
        "We need 17 times 23.", "That is 391.", "Wait, let me double-check that.", "Yes, that matches."]
    with ScriptedJudge(labeller, raw=True) as judge:
        for options in ((), ("--think-format", "magistral")):  # auto reads the file's markers
            r = run_judge(judge, path, tmp_path, *options)
            assert r.returncode == 0, r.stderr
            summary = json.loads(r.stdout)
            assert summary["think_format"]["name"] == "magistral"
            assert summary["sentences"] == summary["labelled"] == 4
            assert summary["labels"] == {"doubt": 1, "check": 0, "verdict": 1, "other": 2}
            assert summary["rules_reflection"] >= 2  # the rules read the same thinking
        assert judge.asked == 1  # the second time from the cache


def test_options_the_judge_has_no_use_for_are_refused_not_ignored(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"completion": TRACE}) + "\n")
    with ScriptedJudge(labeller, raw=True) as judge:
        r = run_judge(judge, path, tmp_path, "--out", "judged.jsonl", "--workers", "2")
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "--detector judge does not take --out, --workers" in r.stderr
        assert not (tmp_path / "judged.jsonl").exists() and judge.asked == 0
        ok = run_judge(judge, path, tmp_path, "--json", "--think-open")  # the summary is JSON either way
        assert ok.returncode == 0 and json.loads(ok.stdout)["sentences"] == 6, ok.stderr


@pytest.mark.parametrize("name, content, message", [
    ("missing.jsonl", None, "missing.jsonl: file not found"),
    ("latin1.jsonl", b"\xff\xfe{}\n", "latin1.jsonl:1: not UTF-8 text"),
    ("list.jsonl", b"[1, 2]\n", "list.jsonl:1: expected a JSON object, got list"),
    ("other.jsonl", b'{"text": "x"}\n', "other.jsonl:1: field 'completion' is missing"),
])
def test_bad_input_is_a_one_line_error_naming_file_and_line(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with ScriptedJudge(labeller, raw=True) as judge:
        r = run_judge(judge, name, tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert message in r.stderr


def test_a_judge_that_errs_is_a_fault_not_unparsed_and_its_thinking_is_dropped(tmp_path):
    # HTTP 404 on every question came out as unparsed_chunks, exit 0, nothing on stderr; a reasoning judge's
    # `<think>…</think>` before its labels made each reply unparsed
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"completion": TRACE}) + "\n")
    with ScriptedJudge(labeller, raw=True, busy=-1, busy_status=404) as judge:
        r = run_judge(judge, path, tmp_path)
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["failed_chunks"], summary["unparsed_chunks"], summary["labelled"]) == (1, 0, 0)
    assert "HTTP 404" in summary["judge_error"]
    assert "the judge gave no reply for 1 of 1 chunks (the first: judge server answered HTTP 404" in r.stderr
    with ScriptedJudge(lambda user: "<think>\nSentence 3 doubts.\n</think>\n" + labeller(user), raw=True) as judge:
        summary = analyze(judge, path, tmp_path)
    assert (summary["failed_chunks"], summary["unparsed_chunks"], summary["labelled"]) == (0, 0, 6)
    assert summary["judge_error"] is None


def test_the_judge_and_the_rules_read_the_same_sentences_in_chinese_thinking():
    # one line of Chinese thinking was one sentence for the judge and five for the rules detector
    text = "<think>我们需要计算17乘23。结果是391。等等，让我再检查一下。17乘20是340，17乘3是51。对，没错。</think>答案是391。"
    from evalkit.trace._markers import sentences

    spans = think_sentences(text)
    assert [(a, b) for a, b, _ in sentences(text, 7, text.index("</think>"))] == spans
    assert [text[a:b] for a, b in spans] == ["我们需要计算17乘23。", "结果是391。", "等等，让我再检查一下。",
                                             "17乘20是340，17乘3是51。", "对，没错。"]


def test_a_judge_named_without_the_judge_detector_is_refused_not_ignored(tmp_path):
    # `analyze FILE --judge X` ran the default detector and printed its summary: nothing said no judge was asked
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"completion": TRACE}) + "\n")
    for args, flag in ((["--judge", "j"], "--judge"), (["--judge-base-url", "http://127.0.0.1:9/v1"], "--judge-base-url"),
                       (["--detector", "rules", "--judge", "j"], "--judge")):
        r = subprocess.run([sys.executable, "-m", "evalkit", "analyze", str(path), *args], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert f"{flag} is for --detector judge" in r.stderr and "add --detector judge" in r.stderr, r.stderr
