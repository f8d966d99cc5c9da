"""The report of a judged run, in a real headless Chromium: the flipped samples can be filtered, and
the judge's reply is shown beside the answer it judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from _judge_server import ScriptedJudge
from evalkit.run import evaluate
from test_judge import _words_task

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        browser.close()
        assert not errors


def test_report_filters_flipped_samples_and_shows_the_reply(tmp_path, monkeypatch, page):
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "user-cache"))
    task, replay = _words_task(tmp_path)
    with ScriptedJudge(lambda b: "VERDICT: CORRECT" if b and "Evelyn" in b else "VERDICT: INCORRECT") as judge:
        result = evaluate([str(task)], completions=replay, judge=judge.model, judge_base_url=judge.url,
                          out=tmp_path / "run", progress=False)
    page.goto(result.report.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert "flipped 1 to correct" in page.locator("#summary").inner_text()
    page.check("#f-flipped")
    assert page.locator("#sample-count").inner_text().startswith("1 of 4 samples")
    row = page.locator("#samples-table tbody tr").first
    assert "Evelyn has the greatest average speed." in row.inner_text()
    assert "judge: VERDICT: CORRECT" in row.locator(".judge-reply").inner_text()
    row.click()
    view = page.locator("#sample-view")
    view.locator("h2").wait_for()
    facts = view.locator(".verdict").inner_text()
    assert "judge (evalkit-judge-v1), flipped the rule to correct" in facts and "VERDICT: CORRECT" in facts
    page.keyboard.press("Escape")
    page.locator("#f-flipped").uncheck()
    assert page.locator("#sample-count").inner_text().startswith("4 of 4 samples")
    assert page.locator("#samples-table .judge-reply").count() == 2  # both answers the judge was asked about
