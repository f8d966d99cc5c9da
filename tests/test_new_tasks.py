"""The 2025-2026 competitions (AIME 2026, HMMT, BRUMO, CMIMC) and the suites that group them run offline
from their bundled copies, with replayed completions, and `evalkit tasks` lists them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.errors import InputError
from evalkit.suites import expand_suites
from evalkit.taskspec import builtin_tasks_dir, load_problems, load_task

NEW = {"aime26": 30, "hmmt_feb25": 30, "hmmt_feb26": 33, "hmmt_nov25": 30, "brumo25": 30, "cmimc25": 40}
MATHARENA = ["aime25", "aime26", "hmmt_feb25", "hmmt_feb26", "hmmt_nov25", "brumo25", "cmimc25"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_tasks_lists_the_new_competitions_and_the_suites():
    r = cli("tasks")
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    for name in NEW:
        assert name in lines and "MathArena/" in lines[name]
    assert "aime24 + aime25 + aime26" in lines["aime"] and "suite" in lines["aime"]
    assert " + ".join(MATHARENA) in lines["matharena"]


@pytest.mark.parametrize("name, rows", sorted(NEW.items()))
def test_each_new_task_loads_its_bundled_copy_with_the_hubs_ids(name, rows):
    spec = load_task(name)
    assert spec.dataset.hub.startswith("MathArena/") and spec.dataset.local.parent.name == "matharena"
    loaded = load_problems(spec, source="local")
    assert loaded.source == "local" and loaded.revision.startswith("local:")
    assert [p.id for p in loaded.problems] == [str(i) for i in range(1, rows + 1)]
    assert all(p.answer and p.problem for p in loaded.problems)


def test_the_cc_by_nc_sa_data_sits_apart_with_its_license_and_attribution():
    folder = builtin_tasks_dir() / "data" / "matharena"
    license_text = (folder / "LICENSE.md").read_text()
    assert "CC BY-NC-SA 4.0" in license_text and "MathArena" in license_text
    for name in NEW:
        rows = [json.loads(line) for line in (folder / f"{name}.jsonl").read_text().splitlines()]
        assert {r["license"] for r in rows} == {"CC-BY-NC-SA-4.0"}
        assert name in (folder / "README.md").read_text()


def test_suites_expand_to_their_tasks_once_each():
    assert expand_suites(["aime"]) == ["aime24", "aime25", "aime26"]
    assert expand_suites(["aime", "matharena"]) == ["aime24", "aime25", "aime26", *MATHARENA[2:]]
    assert expand_suites(["math500"]) == ["math500"]


def test_a_suite_runs_every_task_from_replayed_completions(tmp_path):
    # sample 0 gives each problem's gold (written differently where the verifier should see through it),
    # sample 1 a wrong answer
    rewrite = {("hmmt_feb25", "3"): "1/576", ("hmmt_nov25", "9"): "\\frac{1}{91}", ("brumo25", "2"): "1/9"}
    rows = []
    for task in MATHARENA:
        for p in load_problems(load_task(task), source="local").problems:
            gold = rewrite.get((task, p.id), p.answer)
            rows.append({"task": task, "problem_id": p.id, "sample": 0,
                         "completion": f"<think>\nworking\n</think>\nThe answer is $\\boxed{{{gold}}}$."})
            rows.append({"task": task, "problem_id": p.id, "sample": 1,
                         "completion": "<think>\nworking\n</think>\nThe answer is $\\boxed{-123457}$."})
    replay = tmp_path / "arena.jsonl"
    replay.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli("run", "matharena", "--completions", str(replay), "--no-progress", "--no-trace", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "reports" / "matharena--arena"
    results = {e["task"]: e for e in json.loads((run_dir / "results.json").read_text())["results"]}
    assert sorted(results) == sorted(MATHARENA)
    for task, e in results.items():
        assert e["metrics"]["avg@n"]["value"] == pytest.approx(0.5), task
        assert e["metrics"]["pass@2"]["value"] == pytest.approx(1.0), task
    config = json.loads((run_dir / "config.json").read_text())
    assert {t["name"] for t in config["tasks"]} == set(MATHARENA)
    assert all(t["dataset_source"] == "local" for t in config["tasks"])


def test_a_users_suite_file_and_its_bad_input(tmp_path):
    (tmp_path / "mine.yaml").write_text("name: mine\ntasks: [aime26, hmmt_feb26]\n")
    assert expand_suites([str(tmp_path / "mine.yaml")]) == ["aime26", "hmmt_feb26"]
    (tmp_path / "bad.yaml").write_text("name: bad\ntasks: aime26\n")
    with pytest.raises(InputError, match=r"bad.yaml:2: field 'tasks': expected a non-empty list"):
        expand_suites([str(tmp_path / "bad.yaml")])
    # a misspelt member was an "unknown task" error that named neither the suite nor its line
    (tmp_path / "typo.yaml").write_text("name: typo\ndescription: mine\ntasks:\n  - aime24\n  - aime2025\n")
    with pytest.raises(InputError, match=r"typo.yaml:3: field 'tasks': lists 'aime2025', which is not a built-in "
                                         r"task \(known: aime24, .*\), a built-in suite \(aime, matharena\) or a YAML file"):
        expand_suites([str(tmp_path / "typo.yaml")])
    (tmp_path / "gone.yaml").write_text("name: gone\ntasks: [missing.yaml]\n")
    with pytest.raises(InputError, match=r"gone.yaml:2: field 'tasks': lists 'missing.yaml', which is no file"):
        expand_suites([str(tmp_path / "gone.yaml")])


def test_a_suite_where_one_task_is_wanted_says_so_and_decontamination_takes_its_tasks():
    from evalkit.contamination import NgramIndex

    # `evalkit export aime` and `curate --decontaminate aime` said "unknown task 'aime'", though `tasks` lists it
    with pytest.raises(InputError, match=r"'aime' is a suite of several tasks \(aime24, aime25, aime26\), and this "
                                         r"takes one task: name one of them"):
        load_task("aime")
    index = NgramIndex.from_tasks(["aime"])
    assert index.tasks == ["aime24", "aime25", "aime26"] and len(index) == 90


def test_a_users_suite_file_where_one_task_is_wanted_says_so(tmp_path):
    # it said "field 'tasks': unknown key; did you mean 'tasks'?"
    (tmp_path / "mine.yaml").write_text("name: mine\ndescription: two\ntasks: [aime24, aime25]\n")
    with pytest.raises(InputError, match=r"mine\.yaml:3: field 'tasks': this file is a suite of several tasks, and "
                                         r"this takes one task: name one of them"):
        load_task(str(tmp_path / "mine.yaml"))


def test_a_spec_path_without_a_yaml_suffix_runs_into_the_out_folder(tmp_path):
    # `evalkit run ../specs/t` (no suffix, or T.YAML) put the run at reports/../specs/t--c, beside the spec
    (tmp_path / "specs").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "specs" / "p.jsonl").write_text(json.dumps({"id": "p1", "problem": "1+1?", "answer": "2"}) + "\n")
    for name in ("t", "U.YAML"):
        (tmp_path / "specs" / name).write_text(f"name: {name.lower()}\ndataset: {{local: p.jsonl}}\n"
                                               "fields: {id: id}\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "p1", "sample": 0, "completion": "\\boxed{2}"}) + "\n")
    for name, folder in (("t", "t--c"), ("U.YAML", "U--c")):
        r = cli("run", f"../specs/{name}", "--completions", "../c.jsonl", "--no-progress", cwd=tmp_path / "work")
        assert r.returncode == 0, r.stderr
        assert f"run directory: reports/{folder}" in r.stdout
        assert (tmp_path / "work" / "reports" / folder / "results.json").is_file()


def test_one_spec_file_however_spelt_runs_once_and_two_specs_of_one_name_are_named(tmp_path):
    # `t.yaml ./t.yaml`, or `t.yaml` and a suite listing it, was refused as "the same task is given twice"
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "p1", "problem": "1+1?", "answer": "2"}) + "\n")
    spec = "name: {}\ndataset: {{local: p.jsonl}}\nfields: {{id: id}}\n"
    (tmp_path / "t.yaml").write_text(spec.format("t"))
    (tmp_path / "suite.yaml").write_text("name: s\ntasks: [t.yaml]\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "p1", "sample": 0, "completion": "\\boxed{2}"}) + "\n")
    assert expand_suites([str(tmp_path / "t.yaml"), str(tmp_path / "." / "t.yaml"), str(tmp_path / "suite.yaml")]) \
        == [str(tmp_path / "t.yaml")]
    for i, tasks in enumerate((["t.yaml", "./t.yaml"], ["t.yaml", "suite.yaml"])):
        r = cli("run", *tasks, "--completions", "c.jsonl", "--out", f"r{i}", "--no-progress", cwd=tmp_path)
        assert r.returncode == 0 and "1 samples new" in r.stdout, r.stderr
    (tmp_path / "other.yaml").write_text(spec.format("t"))  # another spec, the same name: one line naming both
    r = cli("run", "t.yaml", "other.yaml", "--completions", "c.jsonl", "--out", "r9", cwd=tmp_path)
    assert r.returncode == 2 and "two task specs are both named 't'" in r.stderr and "other.yaml" in r.stderr, r.stderr


def test_a_builtin_task_given_by_name_and_by_its_spec_path_runs_once(tmp_path):
    # `run aime24 tasks/aime24.yaml` said "two task specs are both named 'aime24'", naming one path twice
    from evalkit.taskspec import builtin_tasks_dir

    path = str(builtin_tasks_dir() / "aime24.yaml")
    assert expand_suites(["aime24", path, "aime"]) == ["aime24", "aime25", "aime26"]
    assert expand_suites([path, "aime24"]) == [path]
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "60", "sample": 0, "completion": "\\boxed{2}"}) + "\n")
    r = cli("run", "aime24", path, "--completions", "c.jsonl", "--limit", "1", "--out", "r", "--no-progress",
            "--no-trace", cwd=tmp_path)
    assert r.returncode == 0 and "1 samples new" in r.stdout, r.stderr


def test_a_users_suite_may_list_suites_but_not_itself(tmp_path):
    (tmp_path / "mine.yaml").write_text("name: mine\ntasks: [aime, math500, aime24]\n")
    assert expand_suites([str(tmp_path / "mine.yaml")]) == ["aime24", "aime25", "aime26", "math500"]
    (tmp_path / "a.yaml").write_text("name: loop\ntasks: [b.yaml]\n")  # the chain names files (it said b -> loop)
    (tmp_path / "b.yaml").write_text("name: b\ntasks: [aime24, a.yaml]\n")
    r = cli("run", str(tmp_path / "a.yaml"), "--completions", str(tmp_path / "none.jsonl"), cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().endswith("field 'tasks': the suite lists itself (a -> b -> a)")


def test_a_release_or_window_is_refused_when_only_the_bundled_sample_can_load(tmp_path):
    # offline, LiveCodeBench's bundled copy is a 3-problem sample: no release, no contest dates
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "2727", "sample": 0, "completion": "x"}) + "\n")
    for option in (["--release", "v5"], ["--since", "2024-01-01"]):
        r = cli("run", "livecodebench", *option, "--completions", str(tmp_path / "c.jsonl"), "--out",
                str(tmp_path / "run"), cwd=tmp_path)
        assert r.returncode == 2 and "bundled copy (livecodebench.jsonl) is a sample without releases" in r.stderr
        assert not (tmp_path / "run").exists()


def test_a_suite_file_is_read_whatever_its_suffix(tmp_path):
    # `evalkit run S.YML` or `run ./mysuite` said "this takes one task", though run takes suites
    for name in ("S.YML", "mysuite"):
        (tmp_path / name).write_text("name: s\ntasks: [aime24, aime25]\n")
        assert expand_suites([str(tmp_path / name)]) == ["aime24", "aime25"]


def test_a_file_named_like_a_built_in_suite_does_not_hide_it_and_a_suites_own_files_are_its(tmp_path, monkeypatch):
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "aime").write_text("not a suite\n")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "outer.yaml").write_text("tasks: [inner, aime26]\n")
    (tmp_path / "s" / "inner").write_text("tasks: [aime24]\n")  # a suite beside it, named without a suffix
    monkeypatch.chdir(tmp_path / "cwd")
    assert expand_suites(["aime"]) == ["aime24", "aime25", "aime26"]
    assert expand_suites(["../s/outer.yaml"]) == ["aime24", "aime26"]
