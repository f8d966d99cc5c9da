"""The judge cascade against a real OpenAI-compatible vLLM server on the CPU, the tiny random model as
the judge. Its replies are noise: the cascade must survive them — every reply recorded, counted as
unparsed, no flip, no crash — and so must the doctor. (A real verifier model's quality is not
measured here: no GPU and no weights on this machine.)"""

from __future__ import annotations

import pytest

from evalkit.verifiers import VerifyItem, get_verifier
from evalkit.verifiers.judge import judge_doctor

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_judge(plain_vllm_server):
    return plain_vllm_server


def test_noise_from_a_real_judge_is_counted_unparsed_and_never_flips(tiny_judge, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "user-cache"))
    judge = get_verifier("math+judge", judge={"model": "tiny", "base_url": tiny_judge, "max_tokens": 24})
    judge.attach(tmp_path / "run")
    items = [VerifyItem("<think>x</think> \\boxed{4}", "4", problem="2+2?"),
             VerifyItem("<think>x</think> \\boxed{5}", "4", problem="2+2?"),
             VerifyItem("<think>x</think> Evelyn is the fastest.", "\\text{Evelyn}", problem="Who is fastest?"),
             VerifyItem("<think>x", "4", finish_reason="length", problem="2+2?")]
    verdicts = judge.verify_many(items)
    assert [v.reason for v in verdicts] == ["correct", "wrong", "no_answer", "truncated"]
    consulted = [v.judge for v in verdicts if v.judge is not None]
    assert len(consulted) == 2
    for record in consulted:
        assert record.error is None and isinstance(record.reply, str)  # a real reply came back ...
        assert record.says is None and not record.flipped  # ... and it was noise, so the rule stands
    # asked again, a whole reply comes from the run directory; one cut at max_tokens (noise mostly runs on
    # to it) was never kept, so it is asked again
    cut = ["cut at max_tokens (24)" in v.detail for v in verdicts if v.judge]
    again = get_verifier("math+judge", judge={"model": "tiny", "base_url": tiny_judge, "max_tokens": 24})
    again.attach(tmp_path / "run")
    assert [(v.judge.cached, v.judge.says) for v in again.verify_many(items) if v.judge] == \
        [(not was_cut, None) for was_cut in cut]


def test_doctor_survives_a_noisy_judge(tiny_judge):
    lines: list[str] = []
    result = judge_doctor("tiny", tiny_judge, max_tokens=24, echo=lines.append)
    assert result.faults == 0 and len(result.rows) == 10
    assert "attacks flipped the judge" in lines[-1]
