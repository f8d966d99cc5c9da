"""The report's thinking-budget views and rendered math, in a real headless Chromium.

The run is the bundled demo (real DeepSeek-R1 traces, replayed) probed with `evalkit anytime
--no-generate`; the cut points are the hand-checked ones of tests/test_anytime.py. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_budgets import ScriptedModel, write_task

import evalkit
from evalkit.report import write_compare, write_report

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("budget-report")
    run = evalkit.evaluate(["demo"], out=root / "demo", progress=False).run_dir
    r = subprocess.run([sys.executable, "-m", "evalkit", "anytime", str(run), "--no-generate", "--budgets",
                        "128,192,224,256,1024,4096", "--tokenizer", "recorded"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    write_report(run)
    other = root / "demo-again"
    shutil.copytree(run, other)
    write_report(other)
    return {"run": run, "compare": write_compare([run, other], root / "compare.html")}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    remote, errors = [], []
    # self-contained: KaTeX, its fonts and the charts come from the file itself
    pg.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert remote == [], f"the report fetched from outside the file: {remote}"
    assert errors == [], f"script errors on the page: {errors}"


def _shot(page, name: str, full: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full)


def test_budget_table_and_accuracy_against_thinking_curve(demo, page):
    page.goto((demo["run"] / "index.html").resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    tables = page.locator("#budgets table.budget-table")
    assert tables.count() == 4  # one per model of the demo
    reasoner = page.locator("#budgets h3", has_text="deepseek-reasoner")
    assert reasoner.is_visible() and "anytime probes, read from the trace (--no-generate)" in reasoner.inner_text()
    rows = page.locator("#budgets table.budget-table").nth(
        [t for t in page.locator("#budgets h3").all_inner_texts()].index(reasoner.inner_text())).locator("tbody tr")
    assert [r.split("\t")[0].split()[0] for r in rows.all_inner_texts()] == ["128", "192", "224", "256", "1,024",
                                                                             "4,096"]
    assert page.locator("#budgets tr.reaches").count() >= 1  # the smallest budget reaching 95%
    chart = page.locator("#chart-thinking svg")
    assert chart.is_visible() and "mean thinking tokens (log scale)" in chart.inner_html()
    page.locator("#budgets").scroll_into_view_if_needed()
    _shot(page, "budgets-table.png")
    page.locator("#chart-thinking").scroll_into_view_if_needed()
    _shot(page, "budgets-curve.png")


def test_sample_shows_every_budget_cut_and_renders_math_with_a_raw_toggle(demo, page):
    uri = (demo["run"] / "index.html").resolve().as_uri()
    page.goto(uri + "#sample=demo|deepseek-reasoner|test%2Falgebra%2F2584.json|0")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    view = page.locator("#sample-view")
    view.locator("table.cuts").wait_for()
    cuts = view.locator("table.cuts tbody tr").all_inner_texts()
    assert len(cuts) == 6
    assert "at character 247" in cuts[0] and "nothing" in cuts[0] and "wrong" in cuts[0]
    assert "at character 368" in cuts[1] and "correct" in cuts[1]
    assert all("thinking had finished" in c for c in cuts[2:])
    view.locator("details.think summary").click()
    assert view.locator("details.think .cut[data-budget='128']").is_visible()
    assert view.locator("details.think .cut[data-budget='192']").is_visible()
    # the answer's \( \frac{14}{3} \) is typeset by KaTeX, and so are the gold and the answers
    view.locator("pre.answer .katex").first.wait_for()
    assert view.locator("pre.answer .katex").count() >= 3
    assert view.locator("dl.verdict .katex").count() >= 2
    assert view.locator("table.cuts .katex").count() >= 1  # 14/3 at budget 192
    _shot(page, "budgets-sample-math.png")
    view.locator("#math-toggle").uncheck()
    view.locator("pre.answer").wait_for()
    assert view.locator(".katex").count() == 0
    assert "\\( \\frac{14}{3} \\)" in view.locator("pre.answer").inner_text()
    _shot(page, "budgets-sample-raw.png")


def test_compare_page_overlays_the_curves_of_every_run(demo, page):
    page.goto(demo["compare"].resolve().as_uri())
    figure = page.locator("figure#chart-thinking")
    assert figure.count() == 1 and figure.is_visible()
    svg = figure.inner_html()
    assert "demo-again" in svg and "demo · deepseek-reasoner" in svg  # a line per run and model
    figure.scroll_into_view_if_needed()
    _shot(page, "budgets-compare.png")


def test_compare_page_names_the_budget_each_run_is_compared_at_and_warns_when_they_differ(tmp_path, page):
    # one model swept to 1000 tokens and to 2: the page called the 2-token run's -100 pts "real" and never
    # said budget
    problems = {f"p{i}": "3" for i in range(6)}
    model = ScriptedModel({p: "π≈3.14, so 3." for p in problems}, {p: "The answer is \\boxed{3}." for p in problems})
    runs = {}
    for name, budgets in (("big", "2,1000"), ("small", "2"), ("big-again", "4,1000")):
        (tmp_path / name).mkdir()
        runs[name] = evalkit.evaluate([str(write_task(tmp_path / name, problems))], engine=model, think_budget=budgets,
                                      answer_tokens=64, out=tmp_path / name / "run", progress=False,
                                      think_format="r1").run_dir
    out = write_compare([runs["big"], runs["small"], runs["big-again"]], tmp_path / "compare.html")
    page.goto(out.resolve().as_uri())
    metrics = page.locator("table.compare-metrics")
    assert metrics.locator("tr.budget").inner_text().split("\t") == ["thinking budget (a sweep's largest)",
                                                                     "1000", "2", "", "1000", ""]
    assert "compared at other thinking budgets (big/run: 1000, small/run: 2, big-again/run: 1000;" in (
        page.locator("p.budgets-differ").inner_text())
    verdicts = dict(r.split("\t")[::4] for r in page.locator("table.paired tbody tr").all_inner_texts())
    assert verdicts["small/run"].startswith("real: ")
    assert "at thinking budget 2 against 1000: the difference may be the budgets'" in verdicts["small/run"]
    assert "budget" not in verdicts["big-again/run"]  # the same largest budget: no word


def test_thinking_axis_reads_as_token_counts(demo, page):
    # the log axis's default labels are mathtext source, shown raw as "$\\mathdefault{2^{8}}$"
    for index in (demo["run"] / "index.html", demo["compare"]):
        page.goto(index.resolve().as_uri())
        texts = page.locator("#chart-thinking svg text").all_text_contents()
        assert not [t for t in texts if "$" in t or "mathdefault" in t], texts
        assert {"256", "512", "1k"} <= set(texts), texts


def test_a_thinking_axis_within_a_factor_of_four_still_has_labels():
    # every point between two powers of two (300 to 450 tokens): the log axis had no tick, and no label
    import re

    from evalkit.report import charts

    def entry(xs):
        return {"think_budgets": {"budgets": [{"budget": int(x), "mean_thinking_tokens": x,
                                               "metrics": {"avg@n": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}}}
                                              for x in xs]}}

    for xs, some in (([300, 450], {"300", "450"}), ([5000, 7000], {"6,000"})):
        texts = set(re.findall(r">([^<>]{1,8})</text>", charts.accuracy_vs_thinking([entry(xs)], ["m"]).svg))
        assert some <= texts, texts


def test_a_report_without_results_takes_the_headline_from_the_largest_budget_over_every_sample():
    # an interrupted sweep: budget 250 on two of four samples. Without results.json the report took 250 (100%
    # over 2 problems) where the run's results take 100 (over all four)
    from evalkit.report._run import _from_samples

    recs = [{"problem_id": f"p{i}", "sample": 0, "budget": 100, "correct": i < 3} for i in range(4)]
    recs += [{"problem_id": f"p{i}", "sample": 0, "budget": 250, "correct": True} for i in range(2)]
    entry = _from_samples(("t", "m"), recs, "missing")
    assert entry["think_budgets"]["largest"] == 100 and entry["n_problems"] == 4, entry


def test_a_run_that_never_thinks_plots_no_point_at_its_budgets():
    # every budget's mean thinking is 0: the chart put its points at the budgets (100, 1k, 10k) instead
    from evalkit.report import charts

    rows = [{"budget": b, "mean_thinking_tokens": 0, "metrics": {"avg@n": {"value": 1.0}}} for b in (100, 1000, 10000)]
    assert charts.accuracy_vs_thinking([{"anytime": {"budgets": rows}}], ["m"]) is None
    rows[0]["mean_thinking_tokens"] = 50  # one that thinks is drawn where it thought, the others not at all
    one = charts.accuracy_vs_thinking([{"anytime": {"budgets": rows}}], ["m"]).svg
    for row in rows:
        row["mean_thinking_tokens"] = 50
    every = charts.accuracy_vs_thinking([{"anytime": {"budgets": rows}}], ["m"]).svg
    assert every.count("<circle") - one.count("<circle") == 2


def test_a_cut_is_told_in_characters_where_the_thinking_holds_emoji(tmp_path, page):
    # each emoji is two UTF-16 units: the sample view said "at character 117" for a cut at character 67
    import json

    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "e", "problem": "3+4?", "answer": "7"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: p.jsonl}\nfields: {id: id}\n")
    completion = "<think>" + "\U0001F600" * 50 + " so it is 7. " + "Let me check. " * 10 + "</think>\n\n$\\boxed{7}$"
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "e", "sample": 0, "completion": completion,
                                                  "completion_tokens": len(completion)}) + "\n")
    run = evalkit.evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "c.jsonl", out=tmp_path / "run",
                           progress=False).run_dir
    from evalkit.anytime import anytime

    anytime(run, budgets=[60], generate=False, tokenizer="recorded")
    [probe] = [json.loads(line) for line in (run / "anytime.jsonl").read_text().splitlines()]
    assert probe["cut_char"] == len("<think>") + 60
    write_report(run)
    page.goto((run / "index.html").resolve().as_uri() + "#sample=t|c|e|0")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    page.locator("#sample-view table.cuts").wait_for()
    [cut] = page.locator("#sample-view table.cuts tbody tr").all_inner_texts()
    assert f"at character {probe['cut_char']}" in cut, cut


@pytest.fixture(scope="module")
def sky_sweep(tmp_path_factory) -> Path:
    """A budget sweep in sky's think format, one byte a token: budget 2 cuts just after "π" (two bytes);
    budget 4 falls inside "≈" (three), so it is moved back there too; at 1000 the model finishes."""
    root = tmp_path_factory.mktemp("sky-sweep")
    model = ScriptedModel({"pi": "π≈3.14, so 3."}, {"pi": "The answer is \\boxed{3}.<|end_of_solution|>"}, "sky")
    return evalkit.evaluate([str(write_task(root, {"pi": "3"}))], engine=model, think_budget="2,4,1000", n=2,
                            answer_tokens=64, out=root / "run", progress=False, think_format="sky").run_dir


def test_a_cut_is_marked_where_it_fell_in_the_runs_think_format(sky_sweep, page):
    page.goto((sky_sweep / "index.html").resolve().as_uri() + "#sample=t|scripted|pi|0|1000")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    view = page.locator("#sample-view")
    view.locator("table.cuts").wait_for()
    cuts = view.locator("table.cuts tbody tr").all_inner_texts()
    # sky's thinking starts after its 22-character prefill; budgets 2 and 4 kept "π" and were closed there
    at = len("<|begin_of_thought|>\n\n") + 1
    assert [c.split("\t")[:2] for c in cuts] == [["2", f"at character {at}"], ["4", f"at character {at}"],
                                                ["1000", "thinking had finished"]]
    view.locator("details.think summary").click()
    assert view.locator("details.think .cut[data-budget='2']").is_visible()
    assert view.locator("details.think .cut[data-budget='4']").is_visible()


def test_problem_rows_are_per_budget(sky_sweep, page):
    page.goto((sky_sweep / "index.html").resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    rows = page.locator("#problems-table tbody tr")
    assert rows.count() == 3 and page.locator("#problem-count").inner_text() == "3 of 3 problems × budgets"
    head = page.locator("#problems-table thead th").all_inner_texts()
    cells = {r.get_attribute("data-budget"): dict(zip(head, r.inner_text().split("\t"))) for r in rows.all()}
    # the cut budget answered 0 both times, the finished one 3: not one pooled row, solved 50%, split vote
    assert {b: (c["Budget"], c["Samples"], c["Solved"], c["Majority answer"]) for b, c in cells.items()} == {
        "2": ("2", "2", "0.0%", "0"), "4": ("4", "2", "0.0%", "0"), "1000": ("1000", "2", "100.0%", "3")}


def test_sample_charts_count_the_headline_budgets_samples(sky_sweep, page):
    # pooled, the two cut budgets' wrong answers (4 samples) were counted beside the headline's 2 right ones
    page.goto((sky_sweep / "index.html").resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    legend = page.locator("#chart-length svg").text_content()
    assert "correct (2)" in legend and "wrong (0)" in legend, legend
    assert "headline budget's samples" in page.locator("#sweep-charts-note").inner_text()


def test_a_results_file_with_malformed_budget_rows_still_gets_its_report(demo, tmp_path, page):
    # results.json edited by hand or written by another tool: the report drew nothing and raised
    # (AttributeError on a row that is not a row, ValueError on "pass@x", OverflowError on an infinite mean)
    import json

    run = tmp_path / "edited"
    shutil.copytree(demo["run"], run)
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    entry = next(e for e in results["results"] if isinstance(e.get("anytime"), dict))
    rows = entry["anytime"]["budgets"]
    good = [r["budget"] for r in rows]
    rows[0]["metrics"]["pass@x"] = {"value": 0.5}
    rows[1]["mean_thinking_tokens"] = float("inf")
    rows[2]["metrics"]["avg@n"] = "0.5"
    entry["anytime"]["budgets"] = ["a row as text", None] + rows
    entry["pass_at_k_curve"] = [["one", 1.0], None] + entry["pass_at_k_curve"]
    entry["breakdowns"] = {"level": "not a table", **{k: v for k, v in entry["breakdowns"].items() if k != "level"}}
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    write_report(run)
    page.goto((run / "index.html").resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    title = f"{entry['task']} · {entry['model']} · anytime probes"
    table = page.locator("#budgets table.budget-table").nth(
        [t.startswith(title) for t in page.locator("#budgets h3").all_inner_texts()].index(True))
    budgets = [int(r.split("\t")[0].split()[0].replace(",", "")) for r in table.locator("tbody tr").all_inner_texts()]
    assert budgets == good  # every real row, none for the junk
    assert table.locator("tbody tr").nth(2).locator("td").nth(1).inner_text() == "–"  # its avg@n was text
    assert page.locator("#chart-thinking svg").count() == 1 and page.locator("#chart-pass-at-k svg").count() == 1
