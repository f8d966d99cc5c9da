"""The HTML report, driven in a real headless Chromium (Playwright with Debian's chromium).

The run directories are written here from real traces (tests/data/report, see its README), in the
formats DESIGN.md fixes: config.json, samples.jsonl, results.json. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

import evalkit
from evalkit.cli import main
from evalkit.report import write_compare, write_report

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "report" / "traces.jsonl"
ARTIFACTS = REPO / "test-artifacts"
MODEL_A, MODEL_B = "deepseek-reasoner", "DeepSeek-R1-Distill-Qwen-7B"

# A stand-in for the trace analyzer's output (its own module is tested elsewhere): rows of
# (kind, rule, pattern), so the report has markers, counts and self-corrections to show.
MARKER_ROWS = [
    ("reflection", "wait", r"\bWait\b[^.\n]*"),
    ("verification", "check", r"\b(?:[Ll]et me (?:double-)?check|[Vv]erify)\b[^.\n]*"),
    ("hesitation", "hmm", r"\bHmm\b[^.\n]*"),
    ("switch", "alternatively", r"\bAlternatively\b[^.\n]*"),
]
CODE_COMPLETION = (
    "<think>\nReverse the words. Wait, the tests also pass \"</script><!--\" through 🙂.\n</think>\n"
    "```python\ndef reverse_words(s):\n    return ' '.join(reversed(s.split()))\n```")


def _trace(completion: str, correct: bool | None) -> dict:
    markers = []
    for kind, rule, pattern in MARKER_ROWS:
        for m in re.finditer(pattern, completion):
            markers.append({"kind": kind, "rule": rule, "start": m.start(), "end": m.end(), "text": m.group()})
    markers.sort(key=lambda m: m["start"])
    counts: dict[str, int] = defaultdict(int)
    for m in markers:
        counts[m["kind"]] += 1
    n_tokens = max(1, len(completion) // 4)
    return {"length_unit": "token", "think_length": n_tokens, "markers": markers, "marker_counts": dict(counts),
            "markers_per_1k": 1000 * len(markers) / n_tokens,
            "self_corrections": {"wrong_to_right": int(bool(correct) and len(markers) > 3),
                                 "right_to_wrong": int(correct is False and len(markers) > 0),
                                 "wrong_to_wrong": 0},
            "overthinking_share": (len(markers) % 7) / 7 if correct else None}


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


def _results(samples: list[dict]) -> dict:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for s in samples:
        groups[(s["task"], s["model"])].append(s)
    out = []
    for (task, model), recs in groups.items():
        per = defaultdict(list)
        levels = defaultdict(lambda: defaultdict(list))
        for s in recs:
            if s["correct"] is not None:
                per[s["problem_id"]].append(s["correct"])
                levels[str(s.get("level", "?"))][s["problem_id"]].append(s["correct"])
        avg = _mean([_mean(v) for v in per.values()])
        pass_k = _mean([float(any(v)) for v in per.values()])
        out.append({
            "task": task, "model": model, "n_problems": len(per), "n_samples": len(recs),
            "n_unjudged": sum(s["correct"] is None for s in recs),
            "n_truncated": sum(s["finish_reason"] == "length" for s in recs),
            "n_timeout": 0, "mean_completion_tokens": _mean([s["completion_tokens"] for s in recs]),
            "metrics": {"avg@n": {"value": avg, "ci_low": max(0.0, avg - 0.1), "ci_high": min(1.0, avg + 0.1)},
                        "pass@2": {"value": pass_k, "ci_low": None, "ci_high": None}},
            "pass_at_k_curve": [[1, avg], [2, pass_k]],
            "breakdowns": {"level": {lv: {"n_problems": len(ps), "avg@n": _mean([_mean(v) for v in ps.values()])}
                                     for lv, ps in levels.items()}},
        })
    return {"results": out}


def write_run(run_dir: Path, model: str, think_open: bool, with_code: bool = False) -> Path:
    """A small, realistic run directory for `model` from the bundled traces."""
    run_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for rec in map(json.loads, DATA.read_text(encoding="utf-8").splitlines()):
        if rec["model"] != model:
            continue
        samples.append({
            "task": "math500", "problem_id": rec["item_id"], "sample": rec["sample"], "seed": 1000 + rec["sample"],
            "model": model, "prompt": rec["problem"] + "\nPut your final answer within \\boxed{}.",
            "completion": rec["completion"], "finish_reason": rec["finish_reason"],
            "prompt_tokens": rec["prompt_tokens"], "completion_tokens": rec["completion_tokens"],
            "gold": rec["ground_truth"], "correct": rec["correct"], "score": float(bool(rec["correct"])),
            "answer": rec["answer"], "reason": rec["reason"], "detail": "", "ms": 3.0, "tests": None,
            "trace": _trace(rec["completion"], rec["correct"]), "level": rec["level"]})
    if with_code:
        samples.append({
            "task": "mbpp", "problem_id": "11", "sample": 0, "seed": 7, "model": model,
            "prompt": "Write reverse_words(s).", "completion": CODE_COMPLETION, "finish_reason": "stop",
            "prompt_tokens": 12, "completion_tokens": 60, "gold": None, "correct": False, "score": 0.5,
            "answer": "def reverse_words(s): ...", "reason": "wrong", "detail": "1 of 2 tests failed", "ms": 40.0,
            "tests": [{"passed": True, "reason": "passed"}, {"passed": False, "reason": "AssertionError"}],
            "trace": _trace(CODE_COMPLETION, False)})
    with (run_dir / "samples.jsonl").open("w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps({k: v for k, v in s.items() if k != "level"}, ensure_ascii=False) + "\n")
    (run_dir / "results.json").write_text(json.dumps(_results(samples)), encoding="utf-8")
    tasks = [{"name": "math500", "verifier": "math", "think_open": think_open,
              "dataset": {"hub": "HuggingFaceH4/MATH-500", "split": "test", "revision": "ff5b202"}}]
    if with_code:
        tasks.append({"name": "mbpp", "verifier": "code", "dataset": {"local": "mbpp_test.jsonl"}})
    config = {"tasks": tasks, "model": model, "backend": "replay",
              "sampling": {"n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768, "seed": 0},
              "versions": {"evalkit": "0.1.0", "math-verify": "0.9"},
              "sandbox_layers": {"bwrap": True, "seccomp": True} if with_code else None}
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    a = write_run(root / "math500--deepseek-reasoner", MODEL_A, think_open=False, with_code=True)
    b = write_run(root / "math500--qwen7b", MODEL_B, think_open=True)
    write_report(a)
    write_report(b)
    return {"a": a, "b": b, "root": root}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    remote = []
    # The page must be self-contained: any request that is not the file itself is a failure.
    pg.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert remote == [], f"the report fetched from outside the file: {remote}"
    assert errors == [], f"script errors on the page: {errors}"


def _open(page, path: Path):
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=False)


def test_summary_shows_metrics_counts_and_settings(runs, page):
    _open(page, runs["a"] / "index.html")
    summary = page.locator("#summary-table")
    assert summary.is_visible()
    row = summary.locator("tbody tr", has_text="math500")
    # deepseek-reasoner: 9 problems x 2 samples, problem 0004 wrong twice -> avg@n 8/9.
    assert "88.9%" in row.inner_text()
    assert "95% CI 78.9% – 98.9%" in row.inner_text()
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "math500" and cells[1] == MODEL_A
    assert "18" in cells  # samples
    headers = summary.locator("thead th").all_inner_texts()
    assert headers[:4] == ["Task", "Model", "avg@n", "pass@2"]
    settings = page.locator("#settings").inner_text()
    assert "replay" in settings and "temperature=0.6" in settings and "revision=ff5b202" in settings
    assert "bwrap=True" in settings  # sandbox layers
    _shot(page, "report-summary.png")


def test_charts_are_inline_svg(runs, page):
    _open(page, runs["a"] / "index.html")
    for chart in ("#chart-pass-at-k", "#chart-by-level", "#chart-length", "#chart-markers",
                  "#chart-self-corrections", "#chart-overthinking"):
        fig = page.locator(chart)
        assert fig.locator("svg").count() == 1, chart
        assert fig.locator("svg").bounding_box()["height"] > 100, chart
    assert "pass@k" in page.locator("#chart-pass-at-k").inner_text()
    html = (runs["a"] / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_filter_wrong_then_open_sample_with_highlighted_marker(runs, page):
    _open(page, runs["a"] / "index.html")
    page.check("#f-wrong")
    rows = page.locator("#samples-table tbody tr")
    assert page.locator("#sample-count").inner_text().startswith("3 of 19 samples")
    problems = sorted(rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count()))
    assert problems == ["11", "math500_0004", "math500_0004"]
    rows.filter(has_text="math500_0004").first.click()
    view = page.locator("#sample-view")
    view.locator("h2").wait_for()
    assert "math500_0004 · sample 0" in view.locator("h2").inner_text()
    assert view.locator(".verdict .badge").inner_text() == "wrong"
    assert "0.21" in view.locator(".verdict").inner_text()  # the extracted answer
    # the gold (its TeX stays in the page whether KaTeX has typeset it yet or not)
    assert "\\text{Evelyn}" in view.locator(".verdict").inner_html()
    assert page.url.endswith("#sample=math500|deepseek-reasoner|math500_0004|0")
    page.keyboard.press("Escape")
    assert view.is_hidden()
    rows.filter(has_text="mbpp").first.click()
    view.locator("h2", has_text="11 · sample 0").wait_for()
    think = view.locator("details.think")
    assert think.get_attribute("open") is None  # the think block starts folded
    assert "1 marker" in think.locator("summary").inner_text()
    think.locator("summary").click()
    mark = think.locator("mark.mk").first
    assert mark.is_visible()
    assert mark.get_attribute("data-kind") == "reflection"
    assert mark.inner_text().startswith("Wait, the tests also pass")
    assert view.locator(".legend [data-kind='reflection']").inner_text() == "reflection (1)"
    _shot(page, "report-sample.png")


def test_truncated_selfcorrected_marker_kind_and_text_search(runs, page):
    _open(page, runs["b"] / "index.html")
    count = page.locator("#sample-count")
    page.check("#f-truncated")
    assert count.inner_text().startswith("1 of 10 samples")
    page.locator("#samples-table tbody tr").first.click()
    view = page.locator("#sample-view")
    assert "never closed (truncated)" in view.locator("details.think summary").inner_text()
    assert view.locator(".verdict .badge").inner_text() == "truncated"
    page.keyboard.press("Escape")
    page.uncheck("#f-truncated")
    page.check("#f-selfcorr")
    n_sc = int(count.inner_text().split()[0])
    assert 0 < n_sc < 10
    page.uncheck("#f-selfcorr")
    page.select_option("#f-kind", label="switch")
    n_switch = int(count.inner_text().split()[0])
    assert 0 < n_switch < 10
    page.select_option("#f-kind", value="")
    # A phrase found only inside one completion: matched after Enter searches the text.
    box = page.locator("#f-text")
    box.fill("evelyn")
    assert count.inner_text().startswith("1 of 10")  # answers and gold first: problem 0004
    box.fill("compounded")
    assert count.inner_text().startswith("0 of 10")
    box.fill("distance formula")
    box.press("Enter")
    page.wait_for_function("document.querySelector('#sample-count').textContent.includes('completions searched')")
    hits = page.locator("#samples-table tbody tr td:nth-child(1)").all_inner_texts()
    assert "math500_0000" in hits and 0 < len(hits) < 10
    box.fill("")  # cleared: every sample again, and no claim that completions were searched
    assert count.inner_text() == "10 of 10 samples"


def test_problems_table_sorts_and_filters(runs, page):
    _open(page, runs["a"] / "index.html")
    table = page.locator("#problems-table")
    assert page.locator("#problem-count").inner_text() == "10 of 10 problems"
    page.locator("#problems-table th[data-key='solved']").click()
    first = table.locator("tbody tr").first.inner_text()
    assert "math500_0004" in first and "0.0%" in first  # unsolved first when sorted ascending
    assert "0.21" in first  # its majority answer
    page.select_option("#problem-solved", "all")
    assert page.locator("#problem-count").inner_text() == "8 of 10 problems"
    page.fill("#problem-filter", "sqrt")
    assert table.locator("tbody tr").count() == 1 and "math500_0008" in table.inner_text()
    table.locator("tbody tr").first.click()
    assert "problem math500_0008" in page.locator("#f-problem").inner_text()
    assert page.locator("#sample-count").inner_text().startswith("2 of 19")


def test_code_sample_shows_each_test_and_text_survives_exactly(runs, page):
    _open(page, runs["a"] / "index.html")
    page.goto((runs["a"] / "index.html").resolve().as_uri() + "#sample=mbpp|deepseek-reasoner|11|0")
    page.reload()
    view = page.locator("#sample-view")
    view.locator("ul.tests").wait_for()
    assert "Tests (1/2 passed)" in view.inner_text()
    # the extracted program is text: it was typeset as math (spaces and newlines lost, `_` a subscript)
    assert view.locator("pre.program").first.text_content() == "def reverse_words(s): ..."
    assert view.locator("pre.program .katex").count() == 0 and page.locator("#math-toggle").is_checked()
    assert view.locator("ul.tests li.fail").inner_text() == "test 2: AssertionError"
    # Every completion comes back from the compressed chunks character for character.
    got = page.evaluate("""async () => {
        const out = [];
        for (const node of document.querySelectorAll('script[id^="ek-c"]')) {
          const un = (t, n) => { const o = new Uint8Array(n); let a = 0, b = 0, k = 0; const U = [0, 13, 60];
            const p = v => { a = (a << 7) | v; b += 7; if (b >= 8) { b -= 8; if (k < n) o[k++] = (a >> b) & 255; a &= (1 << b) - 1; } };
            for (let i = 0; i < t.length && k < n; i++) { const c = t.charCodeAt(i); if (c < 128) p(c); else { const d = c - 256; p(U[d >> 7]); p(d & 127); } }
            return o; };
          const s = new Blob([un(node.textContent, +node.dataset.n)]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
          out.push(...JSON.parse(await new Response(s).text()).samples.map(x => x.c));
        }
        return out; }""")
    want = [json.loads(line)["completion"] for line in (runs["a"] / "samples.jsonl").read_text("utf-8").splitlines()]
    assert got == want
    # "</script><!--" and the emoji are shown as text: the folded think block plus the answer.
    shown = view.locator("details.think pre").text_content() + view.locator("pre.answer").text_content()
    assert shown == CODE_COMPLETION


def test_compare_shows_deltas_paired_ci_and_flips_linking_both_traces(runs, page):
    out = runs["root"] / "compare.html"
    write_compare([runs["a"], runs["b"]], out)
    _open_static(page, out)
    section = page.locator("section.task[data-task='math500']")
    metrics = section.locator("table.compare-metrics").inner_text()
    assert "math500--deepseek-reasoner" in metrics and "math500--qwen7b" in metrics
    # avg@n: 8/9 vs 9/10 -> +1.1 points.
    assert "+1.1 pts" in metrics
    paired = section.locator("table.paired tbody tr").first.inner_text()
    assert "9" in paired.split("\t")[1]  # the 9 problems both judged (0009 only in run b)
    assert "+11.1 pts" in paired and "not significant" in paired
    flips = section.locator("table.flips tbody tr")
    assert flips.count() == 1 and "math500_0004" in flips.first.inner_text()
    assert "math500--qwen7b" in flips.first.locator("td").nth(1).inner_text()  # solved by run b
    _shot(page, "report-compare.png")
    flips.first.locator("a.trace-b").click()
    page.wait_for_selector("body[data-ready='1']")
    view = page.locator("#sample-view")
    view.locator("h2").wait_for()
    assert "math500_0004 · sample 0" in view.locator("h2").inner_text()
    assert view.locator(".verdict .badge").inner_text() == "correct"
    page.go_back()
    page.locator("table.flips a.trace-a").click()
    page.locator("#sample-view h2").wait_for()
    assert page.locator("#sample-view .verdict .badge").inner_text() == "wrong"


def _open_static(page, path: Path):
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("main")


def test_run_in_progress_renders_from_samples(runs, page, tmp_path):
    run = tmp_path / "partial"
    shutil.copytree(runs["b"], run)
    (run / "results.json").unlink()
    (run / "index.html").unlink()
    with (run / "samples.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"task": "math500", "problem_id": "math500_0011", "sam')  # a line cut mid-write
    write_report(run)
    _open(page, run / "index.html")
    row = page.locator("#summary-table tbody tr").first.inner_text()
    assert "90.0%" in row and "CI" not in row
    assert "computed from samples.jsonl" in page.locator("#summary").inner_text()


def test_cli_report_renders_one_run_or_compares_several(runs, tmp_path):
    (runs["b"] / "index.html").unlink()
    res = CliRunner().invoke(main, ["report", str(runs["b"])])
    assert res.exit_code == 0, res.output
    assert (runs["b"] / "index.html").exists() and str(runs["b"] / "index.html") in res.output
    out = tmp_path / "cmp.html"
    res = CliRunner().invoke(main, ["report", str(runs["a"]), str(runs["b"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Problems that flip" in out.read_text(encoding="utf-8")
    res = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "not a run directory" in res.output and "Traceback" not in res.output
    broken = tmp_path / "broken"
    shutil.copytree(runs["b"], broken)
    lines = (broken / "samples.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1][:40] + "\n"  # a corrupt line in the middle, not a run still writing
    (broken / "samples.jsonl").write_text("".join(lines), encoding="utf-8")
    res = CliRunner().invoke(main, ["report", str(broken)])
    assert res.exit_code == 2
    assert f"{broken / 'samples.jsonl'}: line 2: not valid JSON" in res.output
    # json's message and its column, once ("Unterminated string starting at at column"), and no advice to resume
    assert re.search(r"not valid JSON \([A-Za-z ]+[a-z] at column \d+\); fix or remove that line", res.output), res.output
    assert " at at " not in res.output and "resume" not in res.output
    # JSON that Python will not read: a 5,000-digit integer, nesting past the recursion limit (tracebacks, exit 1)
    for bad, says in (('{"sample": ' + "9" * 5000 + "}", "unreadable JSON (Exceeds the limit"),
                      ('{"sample": ' + "[" * 50000 + "]" * 50000 + "}", "unreadable JSON (nested too deeply)")):
        lines[1] = bad + "\n"
        (broken / "samples.jsonl").write_text("".join(lines), encoding="utf-8")
        res = CliRunner().invoke(main, ["report", str(broken)])
        assert res.exit_code == 2 and f"{broken / 'samples.jsonl'}: line 2: {says}" in res.output, res.output[-500:]



@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small file system that fills up")
def test_a_report_on_a_full_disk_is_one_line_and_leaves_no_temp_file(runs, tmp_path):
    # a traceback ending in "OSError: [Errno 28] No space left on device", exit 1, and index.html.tmp left
    # behind, keeping the disk full
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]
    if subprocess.run(mount, capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (disk / "filler").write_bytes(bytes(60 * 1024))
        for args, out in (([str(runs["b"])], disk / "index.html"),
                          ([str(runs["a"]), str(runs["b"])], disk / "cmp.html")):
            before = {p.name: p.stat().st_mtime_ns for p in runs["b"].iterdir()}
            res = CliRunner().invoke(main, ["report", *args, "--out", str(out)])
            assert res.exit_code == 2 and "Traceback" not in res.output, res.output
            assert res.output == (f"evalkit: error: {out}: No space left on device (the run's files are unchanged "
                                  f"and {out.name} is as it was)\n")
            assert [p.name for p in disk.iterdir()] == ["filler"]  # no temp file keeps the disk full
            assert {p.name: p.stat().st_mtime_ns for p in runs["b"].iterdir()} == before
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_report_of_a_real_demo_run_highlights_the_analyzers_markers(page, tmp_path):
    if "run" not in main.commands:
        pytest.skip("`evalkit run` is not there yet")
    run = tmp_path / "demo"
    res = CliRunner().invoke(main, ["run", "demo", "--out", str(run)])
    assert res.exit_code == 0, res.output
    _open(page, run / "index.html")
    models = page.locator("#summary-table tbody td:nth-child(2)").all_inner_texts()
    assert "deepseek-reasoner" in models and len(models) >= 2
    page.select_option("#f-kind", label="doubt")
    n = int(page.locator("#sample-count").inner_text().split()[0])
    assert n > 0
    page.locator("#samples-table tbody tr").first.click()
    think = page.locator("#sample-view details.think")
    think.locator("summary").click()
    mark = think.locator("mark.mk[data-kind='doubt']").first
    assert mark.is_visible()
    assert page.locator("#sample-view .legend [data-kind='doubt']").is_visible()
    # episodes are drawn as spans holding their acts
    episode = think.locator("span.ep").first
    assert episode.is_visible() and episode.locator("mark.mk").count() >= 1


# ---- review 12: what the page shows must match the run ----

def _replay_run(tmp_path: Path, problems: list[dict], completions: list[dict], n: int = 1,
                fields: str = "{id: id, problem: problem, answer: answer}") -> Path:
    """A real `evaluate` of a local task replaying `completions`; returns the run directory."""
    import evalkit

    (tmp_path / "problems.jsonl").write_text("".join(json.dumps(p) + "\n" for p in problems), encoding="utf-8")
    (tmp_path / "task.yaml").write_text(
        f"name: review\ndataset: {{local: problems.jsonl}}\nfields: {fields}\nprompt: '{{{{ problem }}}}'\n"
        f"verifier: math\ngeneration: {{n: {n}}}\n", encoding="utf-8")
    (tmp_path / "replay.jsonl").write_text("".join(json.dumps(c) + "\n" for c in completions), encoding="utf-8")
    return evalkit.evaluate([str(tmp_path / "task.yaml")], completions=tmp_path / "replay.jsonl",
                            out=tmp_path / "run", progress=False).run_dir


def _mini_run(run_dir: Path, samples: list[dict], results: list[dict] | None = None,
              config: dict | None = None) -> Path:
    """A run directory from hand-made records (the report reads only what DESIGN.md fixes)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    base = {"task": "math500", "model": MODEL_A, "prompt": "?", "finish_reason": "stop", "gold": "1",
            "reason": None, "answer": "1", "trace": None}
    with (run_dir / "samples.jsonl").open("w", encoding="utf-8") as f:
        for i, s in enumerate(samples):
            rec = {**base, "problem_id": f"p{i}", "sample": 0, **s}
            rec["reason"] = rec["reason"] or ("correct" if rec.get("correct") else "wrong")
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    if results is not None:
        (run_dir / "results.json").write_text(json.dumps({"results": results}), encoding="utf-8")
    if config is not None:
        (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_report(run_dir)
    return run_dir / "index.html"


def _open_sample(page, index: Path, rec: dict):
    anchor = "|".join(quote(str(rec[k]), safe="") for k in ("task", "model", "problem_id", "sample"))
    page.goto(index.resolve().as_uri() + "#sample=" + anchor)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    view = page.locator("#sample-view")
    view.locator("h2").wait_for()
    return view


def test_a_breakdown_value_with_tex_is_drawn_as_its_text(tmp_path, page):
    # mathtext cannot parse \lvert: the run used to end without a report
    topic = "Absolute value $\\lvert x \\rvert$"
    run = _replay_run(tmp_path, [{"id": "a", "problem": "|x| = 2, x > 0?", "answer": "2", "topic": topic},
                                 {"id": "b", "problem": "2+2", "answer": "4", "topic": "Arithmetic"}],
                      [{"problem_id": "a", "sample": 0, "completion": "<think>x=2</think>\\boxed{2}"},
                       {"problem_id": "b", "sample": 0, "completion": "<think>4</think>\\boxed{4}"}],
                      fields="{id: id, problem: problem, answer: answer, meta: {topic: topic}}")
    assert (run / "index.html").exists()
    _open(page, run / "index.html")
    assert topic in page.locator("#chart-by-topic svg").text_content()
    res = CliRunner().invoke(main, ["report", str(run)])
    assert res.exit_code == 0, res.output


def test_chart_names_from_the_data_are_escaped_and_bars_are_drawn_to_scale():
    import xml.etree.ElementTree as ET

    from evalkit.report.charts import accuracy_by

    long = "Counting & Probability <hard>, a group whose name is far longer than its axis has room for"
    entries = [{"model": "m<1>", "task": "t", "breakdowns": {"topic": {long: {"avg@n": {"value": 0.5}},
                                                                        "b&c": {"avg@n": {"value": 1.0}}}}},
               {"model": "m2", "task": "t", "breakdowns": {"topic": {"b&c": {"avg@n": {"value": 0.25}}}}}]
    [chart] = accuracy_by(entries)
    svg = ET.fromstring(chart.svg)  # "<" and "&" in a name would otherwise break the page's markup
    ns = "{http://www.w3.org/2000/svg}"
    texts = {"".join(t.itertext()) for t in svg.iter(f"{ns}text")}
    assert {"m<1>", "m2", "b&c", "n/a"} <= texts, texts
    [cut] = [t for t in svg.iter(f"{ns}text") if t.find(f"{ns}title") is not None]
    assert cut.find(f"{ns}title").text == long and "".join(cut.itertext()).endswith("…")  # hover shows it whole
    # the bars, not the legend's keys (those are drawn translucent)
    widths = sorted(float(r.get("width")) for r in svg.iter(f"{ns}rect") if r.get("fill-opacity") is None)
    assert len(widths) == 3 and widths[1] == pytest.approx(2 * widths[0], abs=0.02)
    assert widths[2] == pytest.approx(4 * widths[0], abs=0.02)


def test_a_samples_own_think_open_folds_its_thinking(tmp_path, page):
    # the task's prompt does not open thinking; this replay record says its prompt did
    run = _replay_run(tmp_path, [{"id": "sum", "problem": "What is 2+2?", "answer": "4"}],
                      [{"problem_id": "sum", "sample": 0, "think_open": True, "finish_reason": "length",
                        "completion": "2+2 is 4. Wait, is it? Let me check: 2+2"}])
    rec = json.loads((run / "samples.jsonl").read_text(encoding="utf-8"))
    assert rec["think_open"] is True and rec["trace"]["has_think"] is True
    view = _open_sample(page, run / "index.html", rec)
    assert view.locator("details.think").count() == 1
    assert "never closed (truncated)" in view.locator("details.think summary").inner_text()
    assert view.locator("pre.answer").count() == 0


def test_markers_column_counts_acts_not_the_aha_flag(tmp_path, page):
    text = "Oh, I see, I made a mistake. Let me check: 2. Yes, correct."
    trace = {"unit": "chars", "length": len(text), "markers": [
        {"kind": "doubt", "rule": "aha", "start": 0, "end": 28, "text": "Oh, I see", "aha": True},
        {"kind": "verdict", "rule": "yes", "start": 46, "end": len(text), "text": "Yes", "aha": False}],
        "marker_counts": {"doubt": 1, "check": 0, "verdict": 1, "aha": 1}, "markers_per_1k": 33.0}
    index = _mini_run(tmp_path / "run", [{"completion": text, "correct": True, "trace": trace}])
    _open(page, index)
    head = page.locator("#samples-table thead th").all_inner_texts()
    row = page.locator("#samples-table tbody tr").first.locator("td").all_inner_texts()
    assert row[head.index("Markers")] == "2"


def test_marker_chart_keeps_samples_of_equal_rate_in_one_bin(tmp_path, page):
    samples = [{"correct": i % 2 == 0, "trace": {"unit": "chars", "markers_per_1k": 0.0}} for i in range(36)]
    samples += [{"correct": i % 3 != 0, "trace": {"unit": "chars", "markers_per_1k": 2.0 + i / 6}} for i in range(24)]
    _open(page, _mini_run(tmp_path / "run", samples))
    counts = re.findall(r"n=(\d+)", page.locator("#chart-markers svg").text_content())
    assert counts[0] == "36"  # every sample without a marker, at one point
    assert sum(map(int, counts)) == 60 and len(counts) == 6


def test_samples_with_nan_or_infinite_numbers_still_get_their_charts(tmp_path, page):
    # samples.jsonl written by another tool or edited by hand: json reads NaN and Infinity, and the
    # histograms raised on them (no report) or drew every point at "nan" (an empty chart)
    nan, inf = float("nan"), float("inf")
    samples = [{"correct": i % 2 == 0, "completion_tokens": 100 + 10 * i,
                "trace": {"unit": "tokens", "markers_per_1k": float(i % 4), "overthinking_share": i / 20,
                          "self_corrections": {"wrong_to_right": 1, "right_to_wrong": 0, "wrong_to_wrong": 0}}}
               for i in range(12)]
    samples[0]["completion_tokens"] = nan
    samples[1]["trace"] = {**samples[1]["trace"], "markers_per_1k": inf, "overthinking_share": nan,
                           "self_corrections": {"wrong_to_right": nan, "right_to_wrong": inf, "wrong_to_wrong": 2}}
    _open(page, _mini_run(tmp_path / "run", samples))
    for chart, texts in (("#chart-length", ["correct (6)", "wrong (6)", "completion characters"]),
                         ("#chart-markers", ["n="]), ("#chart-overthinking", []), ("#chart-self-corrections", ["11"])):
        svg = page.locator(f"{chart} svg")
        assert svg.count() == 1 and "nan" not in svg.inner_html().replace("dominant", ""), chart
        assert all(t in svg.text_content() for t in texts), (chart, svg.text_content())
    assert "11 samples with a correct intermediate answer" in page.locator("#chart-overthinking").inner_text()
    assert "1 of the 12 judged samples have no token count" in page.locator("#chart-length").inner_text()


def test_pass_at_k_over_fewer_problems_is_marked(runs, page, tmp_path):
    run = tmp_path / "subset"
    shutil.copytree(runs["a"], run)
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    entry = next(e for e in results["results"] if e["task"] == "math500")
    entry["metrics"]["pass@2"]["n_problems"] = 5  # 4 of the 9 problems had one judged sample
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    write_report(run)
    _open(page, run / "index.html")
    row = page.locator("#summary-table tbody tr", has_text="math500")
    head = page.locator("#summary-table thead th").all_inner_texts()
    cells = row.locator("td").all_inner_texts()
    assert "over 5 of 9 problems*" in cells[head.index("pass@2")]
    assert "over" not in cells[head.index("avg@n")]
    assert "at least k judged samples" in page.locator("#subset-note").inner_text()
    assert "k=2: 5 of 9 problems" in page.locator("#chart-pass-at-k figcaption").inner_text()
    out = tmp_path / "cmp.html"
    write_compare([run, runs["b"]], out)
    _open_static(page, out)
    metrics = page.locator("section.task[data-task='math500'] table.compare-metrics")
    assert "over 5 of 9 problems*" in metrics.locator("tr", has_text="pass@2").inner_text()


def test_length_chart_counts_samples_without_token_counts(runs, page, tmp_path):
    run = tmp_path / "mixed"
    shutil.copytree(runs["a"], run)
    recs = [json.loads(line) for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    for rec in recs[:8]:  # e.g. a replay file whose records of one model have no token counts
        rec["completion_tokens"] = None
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    write_report(run)
    _open(page, run / "index.html")
    judged = [r for r in recs if r["correct"] is not None]
    chart = page.locator("#chart-length")
    svg = chart.locator("svg").text_content()
    assert f"correct ({sum(r['correct'] for r in judged)})" in svg
    assert f"wrong ({sum(not r['correct'] for r in judged)})" in svg
    assert "completion characters" in svg
    assert f"8 of the {len(judged)} judged samples have no token count" in chart.locator("figcaption").inner_text()


def test_a_thinking_with_more_math_than_is_typeset_unfolds_at_once_and_says_so(tmp_path, page):
    # a looping trace of 44,000 inline expressions held the tab 10-16 s when unfolded: every one was typeset
    # when the sample opened
    text = "<think>\n" + "So $x_1 = 2$ again. " * 3000 + "\n</think>\nThe answer is $\\boxed{2}$."
    index = _mini_run(tmp_path / "run", [{"completion": text, "correct": True, "answer": "2", "gold": "2"}])
    view = _open_sample(page, index, {"task": "math500", "model": MODEL_A, "problem_id": "p0", "sample": 0})
    page.wait_for_function("document.querySelector('#sample-view').dataset.math === '1'")
    assert view.locator("pre.answer .katex").count() == 1  # the answer is typeset as it opens
    view.locator("details.think summary").click()
    view.locator("details.think pre[data-math='1']").wait_for(state="attached")
    assert view.locator("details.think .katex").count() == 0
    assert "about 3,000 expressions are more than the 2,000 typeset" in view.locator("details.think p.note").inner_text()


@pytest.mark.parametrize("completion", [
    "<think>\nshort\n</think>\n" + "So $x_1 = 2$ again. " * 3000 + "\\boxed{2}",  # loops after closing its thinking
    "So $\\frac{a}{b}$ again. " * 3000 + "\\boxed{2}",  # no think block: all of it is the answer
], ids=["after-thinking", "no-think-block"])
def test_an_answer_with_more_math_than_is_typeset_opens_at_once_and_says_so(tmp_path, page, completion):
    # a reply looping on 20,000 expressions after its thinking held the tab 11-21 s as it opened: the thinking's
    # cap did not reach the answer
    index = _mini_run(tmp_path / "run", [{"completion": completion, "correct": True, "answer": "2", "gold": "2",
                                          "finish_reason": "length"}])
    view = _open_sample(page, index, {"task": "math500", "model": MODEL_A, "problem_id": "p0", "sample": 0})
    page.wait_for_function("document.querySelector('#sample-view').dataset.math === '1'")
    assert view.locator("pre.answer .katex").count() == 0
    assert view.locator("p.math-skipped").inner_text() == (
        "Math in this answer is shown as written: about 3,000 expressions are more than the 2,000 typeset.")
    assert view.locator("dd .katex").count() == 2  # the extracted answer and the gold are typeset still


def test_dollar_amounts_read_as_text_while_math_renders(tmp_path, page):
    text = ("<think>\nShe sells each for $2, so she makes 9 * $2 = $18 a day. The area is $x^2$.\n</think>\n"
            "Janet makes 9 × $2 = $18 every day, and $5 + $10 = $15$ is wrong. \\boxed{18}")
    index = _mini_run(tmp_path / "run", [{"completion": text, "correct": True, "answer": "18", "gold": "18"}])
    view = _open_sample(page, index, {"task": "math500", "model": MODEL_A, "problem_id": "p0", "sample": 0})
    page.wait_for_function("document.querySelector('#sample-view').dataset.math === '1'")
    view.locator("details.think summary").click()
    view.locator("details.think pre[data-math='1']").wait_for(state="attached")  # typeset as it unfolds
    maths = view.locator("pre .katex-mathml annotation").all_text_contents()
    assert maths == ["x^2", "15"]  # "$15$" is math; no price is
    shown = view.locator("details.think pre").inner_text() + view.locator("pre.answer").inner_text()
    assert "She sells each for $2, so she makes 9 * $2 = $18 a day." in shown
    assert "Janet makes 9 × $2 = $18 every day" in shown


def test_majority_answer_groups_correct_answers_and_says_maj_at_k_may_differ(tmp_path, page):
    run = _replay_run(tmp_path, [{"id": "half", "problem": "What is one half?", "answer": "\\frac{1}{2}"}],
                      [{"problem_id": "half", "sample": 0, "completion": "<think>guess</think>\n\\boxed{3}"},
                       {"problem_id": "half", "sample": 1, "completion": "<think>half</think>\n\\boxed{\\frac{1}{2}}"},
                       {"problem_id": "half", "sample": 2, "completion": "<think>half</think>\n\\boxed{0.5}"}], n=3)
    assert json.loads((run / "results.json").read_text())["results"][0]["metrics"]["maj@3"]["value"] == 1.0
    _open(page, run / "index.html")
    head = page.locator("#problems-table thead th").all_inner_texts()
    row = dict(zip(head, page.locator("#problems-table tbody tr").first.locator("td").all_inner_texts()))
    assert row["Majority answer"] == "\\frac{1}{2}"
    assert row["Majority share of answered"] == "66.7%" and row["Distinct answers"] == "2"
    # wrong answers are told apart by their text here, and the note says maj@k's vote can differ
    assert "so its vote can differ from the majority shown here" in page.locator("#answers-note").inner_text()


def test_solved_and_majority_share_of_one_fraction_read_alike(tmp_path, page):
    # 13 of 16 right, all with one answer: Solved said 81.3% and Majority share 81.2% (0.8125 rounded to even)
    replies = [{"problem_id": "q", "sample": i, "completion": "<think>x</think>\n\\boxed{" + ("7" if i < 13 else f"{i}") + "}"}
               for i in range(16)]
    run = _replay_run(tmp_path, [{"id": "q", "problem": "3+4?", "answer": "7"}], replies, n=16)
    _open(page, run / "index.html")
    head = page.locator("#problems-table thead th").all_inner_texts()
    row = dict(zip(head, page.locator("#problems-table tbody tr").first.locator("td").all_inner_texts()))
    assert row["Majority share of answered"] == "81.3%" and row["Solved"].startswith("81.3%"), row


def test_compare_tells_apart_runs_whose_directories_share_a_name(runs, page, tmp_path):
    a, b = tmp_path / "a" / "run", tmp_path / "b" / "run"
    shutil.copytree(runs["a"], a)
    shutil.copytree(runs["b"], b)
    out = tmp_path / "cmp.html"
    write_compare([a, b], out)
    _open_static(page, out)
    assert "Baseline: a/run" in page.locator("#runs").inner_text()
    assert "Other runs: b/run" in page.locator("#runs").inner_text()
    head = page.locator("section.task[data-task='math500'] table.compare-metrics thead th").all_inner_texts()
    assert head == ["Metric", "a/run", "b/run", "Δ vs a/run"]
    assert page.locator("table.paired tbody tr").first.locator("td").first.inner_text() == "b/run"
    # the same directory twice is one run compared with itself: refused (it read "run #1" against "run #2", p = 1.000)
    from evalkit.errors import InputError

    with pytest.raises(InputError, match="given twice"):
        write_compare([a, a], out)


def test_compare_says_when_runs_share_no_task(runs, page, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs["b"], other)
    for name in ("samples.jsonl", "results.json"):
        path = other / name
        path.write_text(path.read_text(encoding="utf-8").replace('"math500"', '"aime24"'), encoding="utf-8")
    out = tmp_path / "cmp.html"
    write_compare([runs["b"], other], out)
    _open_static(page, out)
    assert page.locator("#runs").inner_text().endswith("These runs share no task.")
    assert "Only other has this task." in page.locator("section.task[data-task='aime24']").inner_text()


def test_accuracy_by_marks_a_group_without_problems_not_zero(tmp_path, page):
    def entry(model, groups):
        return {"task": "math500", "model": model, "n_problems": 1, "n_samples": 1,
                "metrics": {"avg@n": {"value": 0.5}},
                "breakdowns": {"subject": {g: {"n_problems": 1, "avg@n": v} for g, v in groups.items()}}}
    index = _mini_run(tmp_path / "run", [{"correct": True}, {"correct": False, "model": MODEL_B}],
                      results=[entry(MODEL_A, {"Algebra": 1.0, "Geometry": 0.0}), entry(MODEL_B, {"Algebra": 0.5})])
    _open(page, index)
    chart = page.locator("#chart-by-subject")
    assert chart.locator("svg").text_content().count("n/a") == 1  # Geometry of MODEL_B, not a 0% bar
    assert "no problems of that group" in chart.locator("figcaption").inner_text()


def test_thinking_label_is_the_traces_think_length(tmp_path, page):
    run = _replay_run(tmp_path, [{"id": "sum", "problem": "What is 2+2?", "answer": "4"}],
                      [{"problem_id": "sum", "sample": 0,
                        "completion": "<think>\n2+2 is 4 🙂. Wait, is it? Yes, that's right.\n</think>\n\\boxed{4}"}])
    rec = json.loads((run / "samples.jsonl").read_text(encoding="utf-8"))
    trace = rec["trace"]
    assert trace["unit"] == "chars"
    view = _open_sample(page, run / "index.html", rec)
    label = view.locator("details.think summary").inner_text()
    assert label.startswith(f"Thinking: {trace['think_length']} characters,")


def test_settings_and_compare_show_the_runs_window(runs, page, tmp_path):
    run = tmp_path / "dated"
    shutil.copytree(runs["b"], run)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    config["tasks"][0]["window"] = {"since": "2025-02-01", "until": "2025-02-15"}
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_report(run)
    _open(page, run / "index.html")
    assert "since=2025-02-01, until=2025-02-15" in page.locator("#settings").inner_text()
    out = tmp_path / "cmp.html"
    write_compare([runs["b"], run], out)
    _open_static(page, out)
    assert page.locator("table.compare-metrics tr.window").count() == 1
    window = page.locator("table.compare-metrics tr.window").inner_text()
    assert "all problems" in window and "since=2025-02-01, until=2025-02-15" in window


def test_report_never_writes_over_a_runs_own_files(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["b"], run)
    # samples.jsonl may be a link to where the samples are kept: writing over the link loses them too
    (tmp_path / "kept.jsonl").write_bytes((run / "samples.jsonl").read_bytes())
    (run / "samples.jsonl").unlink()
    (run / "samples.jsonl").symlink_to(tmp_path / "kept.jsonl")
    before = {p: p.read_bytes() for p in (tmp_path / "kept.jsonl", run / "results.json", run / "config.json")}
    for args, says in ((["report", str(run), "--out", str(run / "samples.jsonl")], "is the run's samples"),
                       (["report", str(run), "--out", str(tmp_path / "kept.jsonl")], "is the run's samples"),
                       (["report", str(run), "--out", str(run / "results.json")], "is the run's results"),
                       (["report", str(runs["a"]), str(run), "--out", str(run / "config.json")], "is the run's config"),
                       (["report", str(run), str(runs["a"]), "--out", str(run / "samples.jsonl")],
                        "is the run's samples")):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and says in res.output, res.output
        assert res.output.startswith("evalkit: error: --out ") and "Traceback" not in res.output, res.output
    assert {p: p.read_bytes() for p in before} == before and (run / "samples.jsonl").is_symlink()


def test_a_gold_of_several_accepted_answers_shows_each(tmp_path, page):
    run = _replay_run(tmp_path, [{"id": "p", "problem": "2+3?", "answer": ["5", "five"]}],
                      [{"problem_id": "p", "sample": 0, "completion": "<think>2+3</think> \\boxed{five}"}])
    _open(page, run / "index.html")
    row = page.locator("#problems-table tbody tr").first.inner_text()
    assert "5 or five" in row and "['5'" not in row
    view = _open_sample(page, run / "index.html", {"task": "review", "model": "replay", "problem_id": "p", "sample": 0})
    assert "5 or five" in view.text_content()  # drawn as math: the TeX it was drawn from



# ---- QA: the figures beside each other must be counted alike ----

def _page_index(index: Path) -> dict:
    """The columns the page's problem and sample tables are drawn from (its packed index)."""
    from evalkit.report._pack import unpack

    n_bytes, text = re.search(r'id="ek-index" data-n="(\d+)">(.*?)</script>',
                              index.read_text(encoding="utf-8"), re.S).groups()
    return unpack(text, int(n_bytes))


def _text(html: str, start: str, end: str = "</table>") -> str:
    """The text from `start` to `end` in html, without tags and runs of white space."""
    i = html.index(start)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[i:html.index(end, i)])).strip()


def test_compare_pairs_a_budget_sweep_on_its_headline_budget(tmp_path):
    from evalkit.run.results import compute_results
    from evalkit.run.rundir import RunDir

    (tmp_path / "a").mkdir()
    a = _replay_run(tmp_path / "a", [{"id": pid, "problem": "1+2?", "answer": "3"} for pid in ("p1", "p2", "p3")],
                    [{"problem_id": pid, "sample": s, "completion": f"<think>x</think>\\boxed{{{ans}}}"}
                     for pid, answers in (("p1", (3, 3)), ("p2", (3, 4)), ("p3", (4, 4)))
                     for s, ans in enumerate(answers)], n=2)
    # b: the same samples at budget 200, and a wrong one per sample at budget 100; its headline figures
    # are the largest budget's, so they and everything compared with them equal a's
    b = tmp_path / "b"
    b.mkdir()
    config = json.loads((a / "config.json").read_text(encoding="utf-8"))
    (b / "config.json").write_text(json.dumps({**config, "think_budgets": {"budgets": [100, 200]}}), encoding="utf-8")
    samples = [json.loads(line) for line in (a / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    (b / "samples.jsonl").write_text("".join(
        json.dumps(rec) + "\n" for s in samples
        for rec in ({**s, "budget": 100, "correct": False, "answer": "0", "reason": "wrong", "score": 0.0},
                    {**s, "budget": 200})), encoding="utf-8")
    RunDir(b).write_results([r.to_dict() for r in compute_results(b)])
    out = tmp_path / "cmp.html"
    write_compare([a, b], out)
    html = out.read_text(encoding="utf-8")
    assert "avg@n 50.0% 10.0% – 90.0% 50.0% 10.0% – 90.0% +0.0 pts" in _text(html, '<table class="compare-metrics">')
    paired = _text(html, '<table class="paired">')
    assert "b 3 +0.0 pts +0.0 to +0.0 pts" in paired, paired
    assert "Problems that flip (0)" in html


def test_truncated_counts_on_the_page_are_results_jsons(tmp_path):
    # cut off at the token limit: `truncated` where there is a gold; where there is none, unjudged, as
    # results.json, the terminal table and the summary count it, so the problem table must too
    cut = {"completion": "<think>and so on", "finish_reason": "length"}
    run = _replay_run(tmp_path, [{"id": "p1", "problem": "q1", "answer": None}, {"id": "p2", "problem": "q2", "answer": "3"}],
                      [{"problem_id": "p1", "sample": 0, **cut},
                       {"problem_id": "p1", "sample": 1, "completion": "<think>x</think>\\boxed{3}"},
                       {"problem_id": "p2", "sample": 0, **cut},
                       {"problem_id": "p2", "sample": 1, "completion": "<think>x</think>\\boxed{3}"}], n=2)
    [entry] = json.loads((run / "results.json").read_text(encoding="utf-8"))["results"]
    assert entry["n_truncated"] == 1 and entry["n_unjudged"] == 2
    index = _page_index(run / "index.html")
    truncated = dict(zip(index["problems"]["id"], index["problems"]["ntr"]))
    assert truncated == {"p1": 0, "p2": 1}
    assert sum(index["samples"]["tr"]) == 1  # what the samples table's `truncated` filter keeps


def test_compare_does_not_call_a_difference_real_over_too_few_shared_problems(tmp_path):
    # b solves both problems, a neither: every resample gives +100 pts, a zero-width interval that
    # says nothing about a difference between the models
    runs = []
    for name, answer in (("a", 4), ("b", 3)):
        (tmp_path / name).mkdir()
        runs.append(_replay_run(tmp_path / name, [{"id": pid, "problem": "1+2?", "answer": "3"} for pid in ("p1", "p2")],
                                [{"problem_id": pid, "sample": 0, "completion": f"<think>x</think>\\boxed{{{answer}}}"}
                                 for pid in ("p1", "p2")], n=1))
    write_compare(runs, tmp_path / "cmp.html")
    paired = _text((tmp_path / "cmp.html").read_text(encoding="utf-8"), '<table class="paired">')
    assert "b/run 2 +100.0 pts +100.0 to +100.0 pts too few shared problems to tell (under 5)" in paired, paired
    assert "real" not in paired


def test_compare_calls_a_difference_real_only_where_the_sign_flip_test_agrees(tmp_path):
    # b solves five of six problems a misses: every bootstrap resample is positive (a CI of about +50 to +100 pts,
    # "real"), yet five problems that all flip one way happen 1 time in 16 when the runs are alike (p = 0.0625);
    # with nine such problems of eleven, p = 2/512
    for n_won, n_all, verdict in ((5, 6, "not significant: sign-flip p = 0.062, though the CI excludes 0"),
                                  (9, 11, "real: the CI excludes 0, sign-flip p = 0.004")):
        runs = []
        for name in ("a", "b"):
            (tmp_path / str(n_all) / name).mkdir(parents=True)
            pids = [f"p{i}" for i in range(n_all)]
            answers = {pid: 3 if name == "b" and i < n_won else 4 for i, pid in enumerate(pids)}
            runs.append(_replay_run(tmp_path / str(n_all) / name,
                                    [{"id": pid, "problem": "1+2?", "answer": "3"} for pid in pids],
                                    [{"problem_id": pid, "sample": 0,
                                      "completion": f"<think>x</think>\\boxed{{{answers[pid]}}}"} for pid in pids], n=1))
        write_compare(runs, tmp_path / f"cmp{n_all}.html")
        paired = _text((tmp_path / f"cmp{n_all}.html").read_text(encoding="utf-8"), '<table class="paired">')
        assert f"b/run {n_all} +{100 * n_won / n_all:.1f} pts" in paired and verdict in paired, paired


def test_compare_of_runs_sharing_only_unjudged_problems_says_so(tmp_path):
    # both runs hold p2, which has no gold: the page said "no shared problems"
    runs = []
    for name, pids in (("a", ("p1", "p2")), ("b", ("p2", "p3"))):
        (tmp_path / name).mkdir()
        problems = [{"id": pid, "problem": "1+2?", "answer": None if pid == "p2" else "3"} for pid in pids]
        runs.append(_replay_run(tmp_path / name, problems,
                                [{"problem_id": pid, "sample": 0, "completion": "<think>x</think>\\boxed{3}"}
                                 for pid in pids], n=1))
    write_compare(runs, tmp_path / "cmp.html")
    paired = _text((tmp_path / "cmp.html").read_text(encoding="utf-8"), '<table class="paired">')
    assert "b/run 0 – – no problem judged in both runs" in paired, paired


def test_a_flips_link_opens_the_headline_budgets_sample(tmp_path):
    # the link named no budget, so the run's page opened the sweep's first (smallest) budget's sample,
    # with another verdict than the one the flip table reports
    from evalkit.run.results import compute_results
    from evalkit.run.rundir import RunDir

    (tmp_path / "a").mkdir()
    a = _replay_run(tmp_path / "a", [{"id": "p1", "problem": "1+2?", "answer": "3"}],
                    [{"problem_id": "p1", "sample": 0, "completion": "<think>x</think>\\boxed{4}"}])
    b = tmp_path / "b"
    b.mkdir()
    config = json.loads((a / "config.json").read_text(encoding="utf-8"))
    (b / "config.json").write_text(json.dumps({**config, "think_budgets": {"budgets": [100, 200]}}), encoding="utf-8")
    [s] = [json.loads(line) for line in (a / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    (b / "samples.jsonl").write_text("".join(json.dumps(rec) + "\n" for rec in (
        {**s, "budget": 100}, {**s, "budget": 200, "correct": True, "answer": "3", "reason": "correct", "score": 1.0})),
        encoding="utf-8")
    RunDir(b).write_results([r.to_dict() for r in compute_results(b)])
    write_compare([a, b], tmp_path / "cmp.html")
    html = (tmp_path / "cmp.html").read_text(encoding="utf-8")
    assert "Problems that flip (1)" in html
    assert 'href="b/index.html#sample=review|' in html and "|p1|0|200\"" in html, re.findall(r'href="[^"]*"', html)


def test_a_breakdown_value_of_unicode_digits_and_a_nan_field_still_make_a_readable_page(tmp_path):
    # "²" is a digit to str.isdigit, not to int: the run ended without a page, `evalkit report` with a
    # traceback; a NaN in a sample line (a hand-edited or another tool's file) made the page's JSON.parse
    # fail for every sample packed beside it
    run = _replay_run(tmp_path, [{"id": "a", "problem": "q", "answer": "1", "lvl": "1"},
                                 {"id": "b", "problem": "q", "answer": "1", "lvl": "10²"}],
                      [{"problem_id": p, "sample": 0, "completion": "\\boxed{1}"} for p in ("a", "b")],
                      fields="{id: id, problem: problem, answer: answer, meta: {level: lvl}}")
    assert (run / "index.html").exists()
    lines = [json.loads(line) for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    lines[0]["ms"] = float("nan")
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    res = CliRunner().invoke(main, ["report", str(run)])
    assert res.exit_code == 0, res.output
    from evalkit.report._pack import decode7

    html = (run / "index.html").read_text(encoding="utf-8")
    blobs = re.findall(r'<script type="application/x-evalkit" id="ek-c\d+" data-n="(\d+)">(.*?)</script>', html, re.S)
    assert blobs
    for n, text in blobs:  # as strict as the browser's JSON.parse
        raw = zlib.decompress(decode7(text, int(n)), -15).decode("utf-8")
        json.loads(raw, parse_constant=lambda c: pytest.fail(f"{c} in the page's JSON"))


# ---- QA: each figure is measured from what it claims to be measured from ----

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    """The bundled demo run (four models), as `evalkit run demo` writes it."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    res = CliRunner().invoke(main, ["run", "demo", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _drop_model(run: Path, model: str) -> None:
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples if s["model"] != model),
                                       encoding="utf-8")
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    results["results"] = [e for e in results["results"] if e["model"] != model]
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")


def test_compare_of_multi_model_runs_measures_each_model_from_the_same_model(demo_run, tmp_path):
    # b is a copy of a, plus a model a lacks: every delta is 0, nothing flips, and the extra model is
    # measured from nothing (it was measured from a's first model, as were a's other models)
    llama = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    a, b = tmp_path / "a" / "demo", tmp_path / "b" / "demo"
    shutil.copytree(demo_run, a)
    shutil.copytree(demo_run, b)
    _drop_model(a, llama)
    write_compare([a, b], tmp_path / "cmp.html")
    html = (tmp_path / "cmp.html").read_text(encoding="utf-8")
    metrics = _text(html, '<table class="compare-metrics">')
    assert set(re.findall(r"[+-]\d+\.\d pts", metrics)) == {"+0.0 pts"}, metrics
    assert f"b/demo · {llama} Δ (no baseline)" in metrics
    assert "Δ vs a/demo · deepseek-reasoner" in metrics
    assert "Problems that flip (0)" in html
    paired = _text(html, '<table class="paired">')
    assert paired.startswith("Against the same model in a/demo Shared problems")
    assert paired.count("+0.0 pts +0.0 to +0.0 pts") == 3 and llama not in paired, paired
    note = _text(html, '<p class="note no-baseline">', "</p>")
    assert f"a/demo has no results for {llama} on this task, so b/demo · {llama} has no delta" in note


def test_a_results_json_behind_the_samples_is_not_the_summary(tmp_path):
    # a run resumed with a larger -n and killed before it rewrote results.json: the summary was the
    # old one (n=1: 100%, 2 samples) beside problems drawn from the new samples (50% each, 4 samples)
    import evalkit

    run = _replay_run(tmp_path, [{"id": pid, "problem": "1+2?", "answer": "3"} for pid in ("p1", "p2")],
                      [{"problem_id": pid, "sample": s, "completion": f"<think>x</think>\\boxed{{{3 + s}}}"}
                       for pid in ("p1", "p2") for s in (0, 1)], n=2)
    # the results.json the run had at -n 1, before it was resumed
    first = evalkit.evaluate([str(tmp_path / "task.yaml")], completions=tmp_path / "replay.jsonl",
                             out=tmp_path / "first", n=1, progress=False).run_dir
    shutil.copy(first / "results.json", run / "results.json")
    write_report(run)
    html = (run / "index.html").read_text(encoding="utf-8")
    summary = _text(html, '<table id="summary-table">')
    assert "review replay 50.0% 2 4" in summary and "CI" not in summary, summary
    note = _text(html, '<p class="note" id="stale-note">', "</p>")
    assert "computed from samples.jsonl because results.json counts other samples" in note
    assert note.endswith("review · replay.")


def test_a_model_whose_samples_are_all_gone_shows_no_figures_from_the_old_results(demo_run, tmp_path):
    # every deepseek-reasoner line removed from samples.jsonl: its row still showed results.json's 90.0%
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    kept = [line for line in (run / "samples.jsonl").read_text().splitlines()
            if json.loads(line)["model"] != "deepseek-reasoner"]
    (run / "samples.jsonl").write_text("".join(line + "\n" for line in kept))
    write_report(run)
    html = (run / "index.html").read_text(encoding="utf-8")
    summary = _text(html, '<table id="summary-table">')
    row = re.search(r"demo deepseek-reasoner (.*?)(?: demo |$)", summary).group(1)
    assert "%" not in row and "90.0" not in row, summary
    note = _text(html, '<p class="note" id="stale-note">', "</p>")
    assert "computed from samples.jsonl because results.json counts other samples" in note
    assert "deepseek-reasoner" in note


def test_a_run_directory_of_results_json_alone_shows_its_figures(demo_run, tmp_path):
    # samples.jsonl not copied with results.json: every figure was a dash, and the note said results.json counted
    # other samples than samples.jsonl holds; a compare said the run "scored other problems (0 against 30)"
    run = tmp_path / "results_only"
    shutil.copytree(demo_run, run)
    (run / "samples.jsonl").unlink()
    (run / "index.html").unlink()
    results = json.loads((run / "results.json").read_text())["results"]
    write_report(run)
    html = (run / "index.html").read_text(encoding="utf-8")
    summary = _text(html, '<table id="summary-table">')
    for entry in results:
        shown = f"{100 * entry['metrics']['avg@n']['value']:.1f}%"
        assert re.search(rf"demo {re.escape(entry['model'])} {re.escape(shown)}", summary), (shown, summary)
    assert "id=\"stale-note\"" not in html
    assert "has no samples.jsonl: the figures are results.json's" in _text(html, 'id="no-samples-note">', "</p>")
    write_compare([demo_run, run], tmp_path / "cmp.html")
    page = (tmp_path / "cmp.html").read_text(encoding="utf-8")
    assert "scored other problems" not in page and "counts other samples" not in page
    assert "results_only: its run directory has no samples.jsonl" in _text(page, '<p class="note no-samples">', "</p>")
    metrics = _text(page, '<table class="compare-metrics">')
    assert "†" not in metrics, metrics  # the same problems, by results.json's count: no delta marked apart
    # a run of results.json alone over fewer problems: its deltas are marked and the note says why
    fewer = tmp_path / "fewer"
    shutil.copytree(run, fewer)
    data = json.loads((fewer / "results.json").read_text())
    for entry in data["results"]:
        entry["n_problems"] = 5
    (fewer / "results.json").write_text(json.dumps(data))
    write_compare([demo_run, fewer], tmp_path / "cmp2.html")
    page = (tmp_path / "cmp2.html").read_text(encoding="utf-8")
    assert "†" in _text(page, '<table class="compare-metrics">')
    assert "counts other problems than" in page and "(5 against 30;" in page


def test_a_compare_of_runs_that_read_other_data_for_a_task_says_so(tmp_path):
    # two files under one task name, ids q1..q6 in both: the page called 4 flips between different questions
    # "real: the CI excludes 0" and never said the data differed
    runs = []
    for tag, op in (("a", "+"), ("b", "*")):
        (tmp_path / tag).mkdir()
        problems = [{"id": f"q{i}", "problem": f"What is {i}{op}{i}?", "answer": str(eval(f"{i}{op}{i}"))}
                    for i in range(1, 7)]
        runs.append(_replay_run(tmp_path / tag, problems, [
            {"problem_id": p["id"], "sample": 0, "completion": f"<think>x</think>\\boxed{{{p['answer']}}}"}
            for p in problems]))
    write_compare(runs, tmp_path / "cmp.html")
    note = _text((tmp_path / "cmp.html").read_text(encoding="utf-8"), '<p class="note data-differs">', "</p>")
    assert note.startswith("These runs of review differ in their dataset revisions a/run: local:"), note
    assert "a shared id may be another question" in note
    shutil.copytree(runs[0], tmp_path / "a2")
    write_compare([runs[0], tmp_path / "a2"], tmp_path / "same.html")  # the same data: no such note
    assert "data-differs" not in (tmp_path / "same.html").read_text(encoding="utf-8")


def test_a_breakdown_names_every_model_with_a_bar_even_on_one_source(demo_run, page):
    # Llama-8B's problems come from two sources, each other model's from one: those had no breakdown, and the
    # caption said "No source breakdown for" them beside Llama-8B's bars
    _open(page, demo_run / "index.html")
    chart = page.locator("#chart-by-source")
    svg = chart.locator("svg").text_content()
    for model in ("Llama-8B", "Qwen-14B", "Qwen-7B"):
        assert f"deepseek-ai/DeepSeek-R1-Distill-{model}" in svg
    assert "deepseek-reasoner" in svg
    assert chart.locator("figcaption").inner_text() == "n/a: no problems of that group in that series."


def test_unclosed_thinking_of_a_reply_that_stopped_is_not_called_truncated(tmp_path, page):
    # the prompt opened thinking and the model stopped without closing it: judged no_answer, not
    # truncated (the finish reason is known), so the page must not call it truncated either
    run = _replay_run(tmp_path, [{"id": "q3", "problem": "3+3?", "answer": "6"}],
                      [{"problem_id": "q3", "sample": 0, "think_open": True, "finish_reason": "stop",
                        "completion": "Wait, let me double-check that. \\boxed{6}"}])
    rec = json.loads((run / "samples.jsonl").read_text(encoding="utf-8"))
    assert rec["reason"] == "no_answer"
    view = _open_sample(page, run / "index.html", rec)
    label = view.locator("details.think summary").inner_text()
    assert "never closed" in label and "truncated" not in label and "finish reason stop" in label, label


def test_a_bad_field_in_one_runs_config_names_that_runs_file(runs, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(runs["b"], bad)
    (bad / "config.json").write_text(json.dumps({"tasks": "abc"}), encoding="utf-8")
    res = CliRunner().invoke(main, ["report", str(runs["a"]), str(bad), "--out", str(tmp_path / "cmp.html")])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert f"evalkit: error: {bad / 'config.json'}: field 'tasks': expected a list" in res.output, res.output


def test_compare_marks_deltas_over_other_problems_as_no_difference(tmp_path):
    # the same completions scored on 1 problem (--limit 1) and on 3: avg@n showed a red "-33.3 pts", while the
    # paired bootstrap said +0.0 on the one shared problem
    problems = [{"id": pid, "problem": "1+2?", "answer": "3"} for pid in ("p1", "p2", "p3")]
    replies = [{"problem_id": pid, "sample": 0, "completion": f"<think>x</think>\\boxed{{{a}}}"}
               for pid, a in (("p1", 3), ("p2", 4), ("p3", 4))]
    runs = []
    for name, limit in (("one", 1), ("all", 3)):
        (tmp_path / name).mkdir()
        runs.append(_replay_run(tmp_path / name, problems[:limit], replies[:limit]))
    write_compare(runs, tmp_path / "cmp.html")
    html = (tmp_path / "cmp.html").read_text(encoding="utf-8")
    assert "scored other problems than" in html and "(3 against 1 with a judged sample, 1 shared)" in html
    metrics = _text(html, '<table class="compare-metrics">')
    assert "-66.7 pts†" in metrics, metrics
    assert 'class="delta down"' not in html and 'class="delta apart"' in html
    assert "+0.0 pts" in _text(html, '<table class="paired">')


def test_a_problem_without_answers_shows_no_majority_share(tmp_path, page):
    # every sample unanswered: the share read "0.0%", as if a majority of none had been counted
    run = _replay_run(tmp_path, [{"id": "q", "problem": "1+2?", "answer": "3"}],
                      [{"problem_id": "q", "sample": 0, "completion": "<think>x</think>no idea"}])
    _open(page, run / "index.html")
    head = page.locator("#problems-table thead th").all_inner_texts()
    row = dict(zip(head, page.locator("#problems-table tbody tr").first.locator("td").all_inner_texts()))
    assert row["Majority share of answered"] == "–" and row["Distinct answers"] == "0", row


def test_the_majority_share_says_it_counts_the_answered_samples(tmp_path, page):
    # 1 right of 4, the other 3 cut off: the column read "Majority share 100.0%", and nothing said of what
    run = _replay_run(tmp_path, [{"id": "q", "problem": "1+2?", "answer": "3"}],
                      [{"problem_id": "q", "sample": 0, "completion": "<think>x</think>\\boxed{3}"}]
                      + [{"problem_id": "q", "sample": i, "completion": "<think>still thinking"} for i in (1, 2, 3)], n=4)
    _open(page, run / "index.html")
    head = page.locator("#problems-table thead th").all_inner_texts()
    row = dict(zip(head, page.locator("#problems-table tbody tr").first.locator("td").all_inner_texts()))
    assert row["Majority share of answered"] == "100.0%" and row["Solved"].startswith("25.0%"), row
    assert "its share of the samples that gave an answer" in page.locator("#answers-note").inner_text()


def test_a_harmony_answer_is_shown_without_the_end_marker_after_it(tmp_path, page):
    # the answer pane showed `The answer is \boxed{9}.<|return|>`, though the marker is no part of the answer
    completion = ("<|channel|>analysis<|message|>So x = 9.<|end|><|start|>assistant<|channel|>final<|message|>"
                  "The answer is \\boxed{9}.<|return|>")
    run = _replay_run(tmp_path, [{"id": "p1", "problem": "x?", "answer": "9"}],
                      [{"problem_id": "p1", "sample": 0, "completion": completion}])
    [rec] = [json.loads(line) for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rec["correct"] is True
    view = _open_sample(page, run / "index.html", rec)
    answer = view.locator("pre.answer").inner_text()
    assert "The answer is" in answer and "<|return|>" not in answer, answer
    assert view.locator("pre.after-answer").inner_text() == "<|return|>"


def test_a_run_with_no_judged_sample_draws_no_self_correction_chart():
    # with no gold, every sample is unjudged and its trace has no right or wrong answers: three zero bars were
    # drawn as if the model never changed its answer, while the other charts of samples said "not drawn"
    from evalkit.report.charts import run_charts

    trace = {"self_corrections": {"wrong_to_right": 0, "right_to_wrong": 0, "wrong_to_wrong": 0}}
    unjudged = [{"correct": None, "trace": trace, "completion": "x"} for _ in range(3)]
    charts, missing = run_charts([], unjudged)
    assert "Self-correction outcomes" in missing and not any(c.title == "Self-correction outcomes" for c in charts)
    judged = [{**s, "correct": i == 0, "trace": {"self_corrections": {"wrong_to_right": 1, "right_to_wrong": 0,
                                                                       "wrong_to_wrong": 0}}}
              for i, s in enumerate(unjudged)]
    charts, missing = run_charts([], judged + unjudged)
    [chart] = [c for c in charts if c.title == "Self-correction outcomes"]
    assert ">3<" in chart.svg, chart.svg  # the judged samples' changes alone


def test_a_long_answer_wraps_in_its_cell_and_a_bad_sample_link_says_so(tmp_path, page):
    # a 3,000-character answer made the page 27,000 px wide (tables and the sample's rendered answer); a link
    # with a stray `%` threw URIError and left the last sample on screen
    long = "+".join(["x_{%d}" % i for i in range(400)])
    index = _mini_run(tmp_path / "run", [{"completion": f"<think>sum</think>\\boxed{{{long}}}", "answer": long,
                                          "correct": False, "gold": "1"},
                                         {"completion": "<think>one</think>\\boxed{1}", "correct": True}])
    width = page.viewport_size["width"]
    view = _open_sample(page, index, {"task": "math500", "model": MODEL_A, "problem_id": "p0", "sample": 0})
    page.wait_for_function("document.querySelector('#sample-view').dataset.math === '1'")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("document.querySelector('#sample-view').scrollWidth") <= width
    assert page.locator("#samples-table").evaluate("t => t.scrollWidth") <= width
    assert page.locator("#problems-table").evaluate("t => t.scrollWidth") <= width
    page.evaluate("location.hash = '#sample=math500|' + encodeURIComponent(%s) + '|100%%|0'" % json.dumps(MODEL_A))
    page.wait_for_function("document.querySelector('#sample-view').textContent.includes('No such sample')")
    assert view.locator("h2").count() == 0


def _unjudge(run: Path, problem_id: str) -> None:
    """Sample 0 of `problem_id` unjudged (a verifier fault), and results.json made again from the samples."""
    from evalkit.run.results import compute_results
    from evalkit.run.rundir import RunDir

    recs = [json.loads(line) for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    for r in recs:
        if r["problem_id"] == problem_id and r["sample"] == 0:
            r.update(correct=None, score=None, reason="error", detail="a fault")
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    RunDir(run).write_results([r.to_dict() if hasattr(r, "to_dict") else r for r in compute_results(run)])


def test_compare_marks_a_pass_at_k_over_as_many_but_other_problems(tmp_path):
    # each run left one problem with fewer than 2 judged samples, another in each: pass@2 read "over 5 of 6
    # problems" in both, and their difference was shown as a plain coloured delta, not one over other problems
    problems = [{"id": f"p{i}", "problem": f"{i}+{i}?", "answer": str(2 * i)} for i in range(6)]
    runs = []
    for name, gone, wrong in (("x", "p0", {"p5"}), ("y", "p5", set())):
        (tmp_path / name).mkdir()
        replies = [{"problem_id": p["id"], "sample": k,
                    "completion": f"<think>x</think>\\boxed{{{p['answer'] + ('1' if p['id'] in wrong else '')}}}"}
                   for p in problems for k in range(2)]
        run = _replay_run(tmp_path / name, problems, replies, n=2)
        _unjudge(run, gone)
        runs.append(run)
    write_compare(runs, tmp_path / "cmp.html")
    metrics = _text((tmp_path / "cmp.html").read_text(encoding="utf-8"), '<table class="compare-metrics">')
    row = metrics[metrics.index("pass@2"):]
    assert "over 5 of 6 problems*" in row and "+20.0 pts†" in row, row


def test_compare_says_when_runs_checked_answers_otherwise_and_refuses_one_run_twice(tmp_path):
    # the same completions checked with require_box and without: "-50.0 pts, real", and no word that the verifier
    # options differed; nor for another think format; one run given twice compared with itself (p = 1.000)
    from evalkit.errors import InputError

    problems = [{"id": f"p{i}", "problem": f"{i}+{i}?", "answer": str(2 * i)} for i in range(6)]
    replies = [{"problem_id": p["id"], "sample": 0, "completion": f"<think>x</think>The answer is {p['answer']}."}
               for p in problems]
    runs = []
    for name, options in (("plain", ""), ("boxed", "verifier_options: {require_box: true}\n")):
        (tmp_path / name).mkdir()
        run = _replay_run(tmp_path / name, problems, replies)
        task = tmp_path / name / "task.yaml"
        task.write_text(task.read_text(encoding="utf-8") + options, encoding="utf-8")
        runs.append(evalkit.evaluate([str(task)], completions=tmp_path / name / "replay.jsonl", out=run,
                                     progress=False, overwrite=True).run_dir)
    write_compare(runs, tmp_path / "cmp.html")
    note = _text((tmp_path / "cmp.html").read_text(encoding="utf-8"), '<p class="note data-differs">', "</p>")
    assert 'verifier options plain/run: {}, boxed/run: {&#34;require_box&#34;: true}' in note, note
    (tmp_path / "none").mkdir()
    other = evalkit.evaluate([str(tmp_path / "plain" / "task.yaml")], completions=tmp_path / "plain" / "replay.jsonl",
                             out=tmp_path / "none" / "run", progress=False, think_format="none").run_dir
    write_compare([runs[0], other], tmp_path / "fmt.html")
    note = _text((tmp_path / "fmt.html").read_text(encoding="utf-8"), '<p class="note data-differs">', "</p>")
    assert "think formats plain/run: r1, none/run: none" in note, note
    with pytest.raises(InputError, match="the same run as .*, given twice"):
        write_compare([runs[0], tmp_path / "plain" / ".." / "plain" / "run"], tmp_path / "twice.html")
    # a config whose identity is null (allowed) made the data note raise AttributeError
    config = json.loads((runs[1] / "config.json").read_text(encoding="utf-8"))
    (runs[1] / "config.json").write_text(json.dumps({**config, "identity": None}), encoding="utf-8")
    write_compare(runs, tmp_path / "null.html")
    assert "verifier options" in (tmp_path / "null.html").read_text(encoding="utf-8")
    # a run made before evalkit left a judge's api_key out of config.json: the page printed it, and called the
    # same judge other verifier options
    for run, key in zip(runs, ({"api_key": "sk-OLD-SECRET"}, {})):
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
        for spec in config["tasks"]:
            spec["verifier_options"] = {"judge": {"model": "m", **key}}
        (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_compare(runs, tmp_path / "old.html")
    page = (tmp_path / "old.html").read_text(encoding="utf-8")
    assert "sk-OLD-SECRET" not in page and "verifier options" not in page


# ---- QA s45: the compare page ----

def test_compare_of_a_run_whose_directory_name_is_not_utf8_links_to_it(runs, tmp_path):
    # `evalkit report RUN_A RUN_B --out x.html` ended in a UnicodeEncodeError traceback (exit 1) where a run's
    # directory name was not UTF-8 (`printf 'runx\xfe'`), though `evalkit run` and its own report handle it
    from urllib.parse import unquote

    odd = tmp_path / os.fsdecode(b"runx\xfe")
    shutil.copytree(runs["b"], odd)
    (odd / "index.html").unlink()
    out = tmp_path / "cmp.html"
    res = subprocess.run([sys.executable, "-m", "evalkit", "report", str(runs["a"]), str(odd), "--out", str(out)],
                         capture_output=True, text=True, errors="replace", env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-2000:]
    html = out.read_text(encoding="utf-8")
    links = re.findall(r'href="([^"#]*index\.html)(?:#[^"]*)?"', html)
    assert any("%FE" in link for link in links) and "Problems that flip" in html
    for link in set(links):  # each opens its run's page: the odd byte quoted as the file's own
        assert (tmp_path / unquote(link, errors="surrogateescape")).is_file(), link


def test_compare_shows_each_runs_g_pass_at_k_and_mg_pass_at_k_with_deltas(tmp_path):
    # runs whose spec asks for g-pass@k and mg-pass@k: their page has a Stability table, the compare page had no
    # G-Pass anywhere
    problems = [{"id": f"p{i}", "problem": f"{i}+{i}?", "answer": str(2 * i)} for i in range(6)]
    runs = []
    for name, wrong, metrics in (("x", {(0, 1), (1, 2), (2, 0), (2, 3)}, "[avg@n, pass@k, g-pass@k, mg-pass@k]"),
                                 ("y", {(3, 0)}, "[avg@n, pass@k, g-pass@k, mg-pass@k]"), ("z", set(), "[avg@n]")):
        (tmp_path / name).mkdir()
        replies = [{"problem_id": p["id"], "sample": k, "completion": "<think>x</think>\\boxed{%s}" % (
                    p["answer"] + ("1" if (i, k) in wrong else ""))} for i, p in enumerate(problems) for k in range(4)]
        run = _replay_run(tmp_path / name, problems, replies, n=4)
        task = tmp_path / name / "task.yaml"
        task.write_text(task.read_text(encoding="utf-8") + f"metrics: {metrics}\n", encoding="utf-8")
        runs.append(evalkit.evaluate([str(task)], completions=tmp_path / name / "replay.jsonl", out=run,
                                     progress=False, overwrite=True).run_dir)
    write_compare(runs, tmp_path / "cmp.html")
    html = (tmp_path / "cmp.html").read_text(encoding="utf-8")
    figures = [json.loads((run / "results.json").read_text(encoding="utf-8"))["results"][0]["metrics"]
               for run in runs]
    names = [n for n in figures[0] if "G-Pass" in n]
    assert "mG-Pass@4" in names and "G-Pass@4_1.0" in names
    rows = dict(re.findall(r'<tr class="stability"><td>([^<]+)</td>(.*?)</tr>', html, re.S))
    assert sorted(rows) == sorted(names)
    for name in names:
        # x, y against x, z against x: a figure each, and a delta beside each but the baseline's
        x, y, dy, z, dz = (re.sub(r"<[^>]+>|\s+", " ", c).split() for c in
                           re.findall(r'<td class="num">(.*?)</td>', rows[name], re.S))
        value = [figures[0][name]["value"], figures[1][name]["value"]]
        assert x[0] == f"{100 * value[0]:.1f}%" and y[0] == f"{100 * value[1]:.1f}%", (name, x, y)
        assert dy[0] == f"{100 * (value[1] - value[0]):+.1f}" and dy[1] == "pts", (name, dy)
        assert z == ["–"] and dz == ["–"], (name, z, dz)  # z has no G-Pass: a dash, and no delta


def test_a_row_from_samples_over_fewer_problems_is_marked_and_says_what_stopped_the_run(runs, tmp_path):
    # an interrupted run (no results.json) with a problem left unjudged: its avg@n covered fewer problems than the
    # row's without "over X of Y problems*", and the note asked "a run still in progress?" of a run SIGTERM stopped
    run = tmp_path / "stopped"
    shutil.copytree(runs["b"], run)
    (run / "results.json").unlink()
    recs = [json.loads(line) for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    gone = recs[0]["problem_id"]
    for r in recs:
        if r["problem_id"] == gone:
            r.update(correct=None, score=None, reason="error", detail="a fault")
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    n = len({r["problem_id"] for r in recs})
    write_report(run)
    html = (run / "index.html").read_text(encoding="utf-8")
    summary = _text(html, 'id="summary"', "</section>")
    assert f"over {n - 1} of {n} problems*" in summary, summary
    assert "a run still in progress?" in summary  # no invocations.jsonl: nothing says it stopped
    (run / "invocations.jsonl").write_text(json.dumps({"started": 1.0, "pending": 9}) + "\n"
                                           + json.dumps({"stopped": 2.0, "why": "SIGTERM", "saved": 3}) + "\n",
                                           encoding="utf-8")
    write_report(run)
    summary = _text((run / "index.html").read_text(encoding="utf-8"), 'id="summary"', "</section>")
    assert "the run was stopped by SIGTERM before it wrote results.json" in summary and "in progress" not in summary


def test_a_long_model_name_and_problem_id_wrap_instead_of_widening_the_page(tmp_path, page):
    # a 5,000-character model name (one word) made the run page 61,000 px wide
    model, pid = "M" * 5000, "id" + "9" * 3000
    width = page.viewport_size["width"]
    samples = [{"model": m, "problem_id": p, "completion": "<think>x</think>\\boxed{1}", "correct": ok}
               for m in (model, MODEL_A) for p, ok in ((pid, True), ("p1", False))]
    pages = [_mini_run(tmp_path / name, samples) for name in ("one", "two")]
    write_compare([p.parent for p in pages], tmp_path / "cmp.html")
    view = _open_sample(page, pages[0], {"task": "math500", "model": model, "problem_id": pid, "sample": 0})
    assert pid in view.locator("h2").inner_text() and model in view.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 2
    assert page.evaluate("document.querySelector('#sample-view').scrollWidth") <= width + 2
    view.locator(".close").click()
    for table in ("#summary-table", "#problems-table", "#samples-table"):
        assert page.locator(table).evaluate("t => t.scrollWidth") <= width + 2, table
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 2
    _open_static(page, tmp_path / "cmp.html")
    assert model in page.locator("table.compare-metrics").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 2


def test_settings_name_the_models_a_replay_run_holds_not_the_replay_files_stem(demo_run, tmp_path):
    # `evalkit run demo` replays records that name four models; the settings' Model row said `completions` (the
    # replay file's stem, config.json's `model`) as if it were the model evaluated
    out = write_report(demo_run, tmp_path / "page.html")
    settings = dict(re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>",
                               _text_html(out.read_text(encoding="utf-8"), 'id="settings"', "</dl>")))
    held = sorted({json.loads(line)["model"] for line in (demo_run / "samples.jsonl").read_text().splitlines()})
    assert len(held) == 4 and "completions" not in held
    assert sorted(settings["Models"].split(", ")) == held and "Model" not in settings
    assert settings["Default model"].startswith("completions (the name of records without their own model")


def _text_html(html: str, start: str, end: str) -> str:
    i = html.index(start)
    return html[i:html.index(end, i)]
