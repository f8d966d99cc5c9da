"""LiveCodeBench by release and contest-date window, on a local copy in the hub's file layout
(tests/data/livecodebench_hub: test.jsonl = release_v1, test2.jsonl = what release_v2 adds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from evalkit.errors import InputError
from evalkit.taskspec import builtin_tasks_dir, load_problems, load_task
from evalkit.windows import apply_dataset_choices, make_window

HUB_COPY = Path(__file__).parent / "data" / "livecodebench_hub"


def _spec():
    spec = load_task("livecodebench")
    return replace(spec, dataset=replace(spec.dataset, local=HUB_COPY))


def _ids(spec) -> list[str]:
    return [p.id for p in load_problems(spec, source="local").problems]


def test_a_release_loads_its_files_and_names_itself_in_the_revision():
    v1 = apply_dataset_choices(_spec(), release="release_v1")
    assert _ids(v1) == ["1873_A", "2727"]
    assert _ids(apply_dataset_choices(_spec(), release="release_v2")) == ["1873_A", "2727", "abc301_a"]
    assert _ids(apply_dataset_choices(_spec(), release="v2")) == ["abc301_a"]  # only what v2 added
    assert load_problems(v1, source="local").revision.endswith(":release_v1")
    with pytest.raises(InputError, match="no release 'release_v9'.*known: release_v1"):
        apply_dataset_choices(_spec(), release="release_v9")
    with pytest.raises(InputError, match="task 'aime24' is not published in releases"):
        apply_dataset_choices(load_task("aime24"), release="release_v1")


@pytest.mark.parametrize("since, until, expected", [
    ("2024-01-01", None, ["2727", "abc301_a"]),
    (None, "2023-12-31", ["1873_A"]),
    ("2024-02-03", "2024-02-03", ["2727"]),  # both ends included
    (None, None, ["1873_A", "2727", "abc301_a"]),
])
def test_since_and_until_keep_the_problems_dated_inside(since, until, expected):
    spec = apply_dataset_choices(_spec(), make_window(since, until), "release_v2")
    assert _ids(spec) == expected


def test_bad_windows_are_one_line_errors():
    with pytest.raises(InputError, match="--since: expected a date such as 2025-01-31, got 'last week'"):
        make_window("last week", None)
    with pytest.raises(InputError, match="--since 2025-02-01 is after --until 2025-01-01"):
        make_window("2025-02-01", "2025-01-01")
    with pytest.raises(InputError, match="task 'aime24' names no date column"):
        apply_dataset_choices(load_task("aime24"), make_window("2025-01-01", None))
    with pytest.raises(InputError, match=r"no problem's 'contest_date' falls on or after 2030-01-01 \(2 rows read\)"):
        load_problems(apply_dataset_choices(_spec(), make_window("2030-01-01", None), "v1"), source="local")


def test_the_window_and_release_are_in_the_runs_identity(tmp_path):
    spec = yaml.safe_load((builtin_tasks_dir() / "livecodebench.yaml").read_text())
    spec["dataset"]["local"] = str(HUB_COPY)
    task = tmp_path / "lcb_local.yaml"
    task.write_text(yaml.safe_dump(spec))
    rows = [{"problem_id": pid, "sample": 0, "completion": "<think>\nno idea\n</think>\nSorry."}
            for pid in ("1873_A", "2727", "abc301_a")]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "evalkit", "run", str(task), "--completions", str(tmp_path / "c.jsonl"),
                               "--out", str(tmp_path / "run"), "--no-progress", "--no-trace", *extra],
                              capture_output=True, text=True, env=env, timeout=300)

    first = run("--since", "2024-01-01", "--release", "release_v2")
    assert first.returncode == 0, first.stderr
    # the record of a problem the window left out is said to be so, not to match no problem of the run
    assert "1 replayed problem(s) lie outside the run's date window (or have no date) and are not scored " \
           "(problem ids such as 1873_A)" in first.stderr and "match no problem" not in first.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    task_config = config["tasks"][0]
    assert task_config["window"] == {"since": "2024-01-01", "until": None}
    assert task_config["dataset"]["config"] == "release_v2"
    assert config["identity"]["tasks"]["livecodebench"]["window"] == {"since": "2024-01-01", "until": None}
    assert config["identity"]["tasks"]["livecodebench"]["dataset_revision"].endswith(":release_v2")
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert sorted(s["problem_id"] for s in samples) == ["2727", "abc301_a"]

    other_window = run("--since", "2023-01-01", "--release", "release_v2")
    assert other_window.returncode == 2 and "window" in other_window.stderr
    other_release = run("--since", "2024-01-01", "--release", "release_v1")
    assert other_release.returncode == 2 and "release_v1" in other_release.stderr


@pytest.mark.parametrize("cell, says", [
    (1740787200000, "got int 1740787200000 (an epoch number is ambiguous: write dates in ISO form)"),
    ("2025/03/01", "got '2025/03/01'"),
    ("March 1, 2025", "got 'March 1, 2025'"),
    ("2025-03-01 to 2025-06-30", "got '2025-03-01 to 2025-06-30'"),
])
def test_a_date_that_cannot_be_read_is_an_error_naming_the_row_not_a_problem_left_out(tmp_path, cell, says):
    # such a row used to fall outside every window without a word, shrinking the run
    rows = [{"id": "a", "problem": "1+1?", "answer": "2", "when": "2025-03-01"},
            {"id": "b", "problem": "2+2?", "answer": "4", "when": cell},
            {"id": "c", "problem": "3+3?", "answer": "6", "when": None}]  # undated: in no window, as documented
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "t.yaml").write_text("name: dated\ndataset: {local: p.jsonl}\nfields: {id: id, date: when}\n")
    spec = apply_dataset_choices(load_task(str(tmp_path / "t.yaml")), make_window("2025-02-01", "2025-04-30"))
    with pytest.raises(InputError) as e:
        load_problems(spec)
    assert str(e.value) == (f"{tmp_path / 't.yaml'}:3: field 'date' on row 1: expected a date such as 2025-01-31, {says} "
                            f"[row 1 counts from 0: record 2 of {tmp_path / 'p.jsonl'}]")
    rows[1]["when"] = "2025-03-02T10:00:00Z"
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [p.id for p in load_problems(spec).problems] == ["a", "b"]


@pytest.mark.parametrize("value", ["2025-03-01 to 2025-06-30", "2025-03-01oops", "2025/03/01"])
def test_a_window_option_with_text_after_its_date_is_refused(value):
    # `2025-03-01oops` was read as 2025-03-01 from its first ten characters
    with pytest.raises(InputError, match=f"--until: expected a date such as 2025-01-31, got '{value}'"):
        make_window(None, value)


def test_export_takes_the_same_window_and_release_as_a_run(tmp_path):
    # a LiveCodeBench window to train on, beside the one evaluated on: export had no --since/--until/--release
    spec = yaml.safe_load((builtin_tasks_dir() / "livecodebench.yaml").read_text())
    spec["dataset"]["local"] = str(HUB_COPY)
    task = tmp_path / "lcb_local.yaml"
    task.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def export(out, *extra):
        return subprocess.run([sys.executable, "-m", "evalkit", "export", str(task), "--format", "trl",
                               "--out", str(tmp_path / out), *extra], capture_output=True, text=True, env=env, timeout=300)

    done = export("train.jsonl", "--until", "2024-02-03", "--release", "release_v2")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(x) for x in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert [r["problem_id"] for r in rows] == ["1873_A", "2727"]
    assert export("all.jsonl", "--release", "release_v2").returncode == 0
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 3
    bad = export("x.jsonl", "--since", "2024-03-01", "--until", "2024-01-01")
    assert bad.returncode == 2 and bad.stderr.strip() == "evalkit: error: --since 2024-03-01 is after --until 2024-01-01"
    empty = export("y.jsonl", "--since", "2030-01-01", "--release", "release_v1")
    assert empty.returncode == 2 and "no problem's 'contest_date' falls on or after 2030-01-01" in empty.stderr
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "y.jsonl").exists()


@pytest.mark.parametrize("value", ["2025-02-01T12:00", "2025-02-28T00:00:00Z", "2025-02-01 23:59"])
def test_a_window_option_with_a_time_of_day_is_refused_not_read_as_its_day(value):
    # `--since 2025-02-01T12:00` kept a problem dated 2025-02-01 (midnight): the time was dropped without a word
    with pytest.raises(InputError) as e:
        make_window(value, None)
    assert str(e.value) == (f"--since: expected a date such as 2025-01-31, got {value!r} (a day, without a time: "
                            "both ends of a window are whole days)")
    # the Python API's date objects are days, as before
    import datetime as dt

    assert make_window(dt.date(2025, 2, 1), " 2025-02-28 ").to_dict() == {"since": "2025-02-01", "until": "2025-02-28"}
