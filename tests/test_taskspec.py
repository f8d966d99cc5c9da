"""Task specs: the built-in benchmarks load offline with the hub's columns; bad specs say where."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from evalkit.errors import InputError
from evalkit.taskspec import list_tasks, load_problems, load_task

MATH_TASKS = {"math500": 500, "aime24": 30, "aime25": 30, "amc23": 40, "gsm8k": 1319, "minerva_math": 272,
              "olympiadbench": 675}


def test_every_builtin_math_task_loads_its_bundled_copy():
    names = {s.name for s in list_tasks()}
    assert set(MATH_TASKS) <= names and "demo" in names
    for name, count in MATH_TASKS.items():
        spec = load_task(name)
        assert spec.dataset.hub, f"{name} names its hub dataset"
        loaded = load_problems(spec)
        assert loaded.source == "local"  # HF_HUB_OFFLINE is set for the tests
        assert len(loaded.problems) == count
        assert all(p.answer for p in loaded.problems), f"{name}: every problem has a gold answer"
        assert len({p.id for p in loaded.problems}) == count


def test_field_expressions_give_the_gold_each_benchmark_defines():
    gsm = load_problems(load_task("gsm8k"), limit=1).problems[0]
    assert gsm.answer == "18"  # "#### 18" after the worked solution
    minerva = load_problems(load_task("minerva_math"), limit=1).problems[0]
    assert minerva.answer == "1.6"  # the solution's last \boxed{}
    math500 = load_problems(load_task("math500"), limit=1).problems[0]
    assert math500.id == "test/precalculus/807.json" and math500.meta == {"level": 2, "subject": "Precalculus"}
    olymp = [p for p in load_problems(load_task("olympiadbench")).problems if p.meta["is_multiple_answer"]]
    assert any(p.answer == "$69$,$84$" for p in olymp)
    aime25 = load_problems(load_task("aime25"), limit=1).problems[0]
    assert "Please reason step by step" in aime25.problem and aime25.answer == "70"


def test_a_users_yaml_and_jsonl_make_a_task(tmp_path):
    (tmp_path / "probs.jsonl").write_text(
        json.dumps({"qid": "a", "q": "1+1?", "sol": "so \\boxed{2}"}) + "\n"
        + json.dumps({"qid": "b", "q": "2+2?", "sol": "\\boxed{4}"}) + "\n")
    (tmp_path / "mine.yaml").write_text(
        "name: mine\ndataset: {local: probs.jsonl}\n"
        "fields: {id: qid, problem: q, answer: '{{ sol | last_boxed }}'}\n"
        "prompt: 'Q: {{ q }}'\ngeneration: {n: 3, temperature: 0.0}\n")
    spec = load_task(str(tmp_path / "mine.yaml"))
    assert spec.generation.n == 3 and spec.generation.top_p == 0.95
    problems = load_problems(spec).problems
    assert [(p.id, p.problem, p.answer) for p in problems] == [("a", "1+1?", "2"), ("b", "2+2?", "4")]


def test_csv_and_parquet_files_load_as_problems(tmp_path):
    import pandas as pd

    pd.DataFrame({"problem": ["x?"], "answer": ["3"]}).to_parquet(tmp_path / "d.parquet")
    pd.DataFrame({"problem": ["y?"], "answer": ["4"]}).to_csv(tmp_path / "d.csv", index=False)
    for name in ("d.parquet", "d.csv"):
        (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: {name}}}\n")
        problems = load_problems(load_task(str(tmp_path / "t.yaml"))).problems
        assert len(problems) == 1 and problems[0].id == "0"


def test_a_byte_order_mark_starts_no_field_name_in_any_text_format(tmp_path):
    # Windows tools write one at the start of a file; it is no part of the first column's name
    (tmp_path / "d.jsonl").write_text('{"id": "a", "problem": "x?", "answer": "3"}\n', encoding="utf-8-sig")
    (tmp_path / "d.csv").write_text("id,problem,answer\na,x?,3\n", encoding="utf-8-sig")
    for name in ("d.jsonl", "d.csv"):
        (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: {name}}}\nfields: {{id: id}}\n")
        [problem] = load_problems(load_task(str(tmp_path / "t.yaml"))).problems
        assert (problem.id, problem.answer) == ("a", "3"), name


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(InputError, match=r"unknown task 'math5000'.*math500"):
        load_task("math5000")


@pytest.mark.parametrize("text, where", [
    ("name: t\ndataset: {local: x.jsonl\nfields: {}\n", r"t\.yaml:\d+: malformed YAML"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration:\n  n: many\n", r"t\.yaml:4: field 'generation\.n': expected an integer"),
    ("name: t\ndataset: {local: x.jsonl}\nfeilds: {}\n", r"t\.yaml:3: field 'feilds': unknown key"),
    # a key YAML reads as null, a boolean or a number (`~:`, `yes:`) was named without its line
    ("name: t\ndataset: {local: x.jsonl}\n~: 2\n", r"t\.yaml:3: field 'None': unknown key"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration:\n  yes: 2\n", r"t\.yaml:4: field 'generation\.True': unknown key"),
    ("name: t\ndataset: {local: x.jsonl}\nprompt: '{{ problem '\n", r"t\.yaml:3: field 'prompt': bad jinja"),
    ("name: t\nfields: {}\n", r"t\.yaml: field 'dataset'"),
    # a key given twice would silently keep the last one
    ("name: t\ndataset: {local: x.jsonl}\nverifier: math\nverifier: choice\n",
     r"t\.yaml:4: field 'verifier' is given twice \(first on line 3\)"),
    ("name: t\ndataset: {local: x.jsonl}\nfields: {id: 5}\n", r"t\.yaml:3: field 'fields\.id': expected a column"),
    ("name: t\ndataset: {local: x.jsonl}\nfields:\n  problem: [question]\n",
     r"t\.yaml:4: field 'fields\.problem': expected a column"),
    ("name: t\ndataset: {local: 5}\n", r"t\.yaml:2: field 'dataset\.local': expected a string"),
    ("name: t\ndataset: {local: x.jsonl, format: xml}\n", r"t\.yaml:2: field 'dataset\.format': expected one of json"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration:\n  temperature: -3\n",
     r"t\.yaml:4: field 'generation\.temperature': expected a finite number >= 0"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {top_p: 7}\n", r"t\.yaml:3: field 'generation\.top_p'"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {max_tokens: 0}\n", r"t\.yaml:3: field 'generation\.max_tokens'"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {n: 0}\n", r"t\.yaml:3: field 'generation\.n'"),
    ("name: t\ndataset: {local: x.jsonl}\nreplay_fields: {completion: 5}\n",
     r"t\.yaml:3: field 'replay_fields\.completion': expected the name of a field"),
    # YAML's infinities and NaN are numbers, but no count of samples or tokens and no seed
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {n: .inf}\n", r"t\.yaml:3: field 'generation\.n': expected an integer, got inf"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {max_tokens: .inf}\n",
     r"t\.yaml:3: field 'generation\.max_tokens': expected an integer, got inf"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {n: .nan}\n", r"t\.yaml:3: field 'generation\.n': expected an integer, got nan"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {seed: .nan}\n", r"t\.yaml:3: field 'generation\.seed': expected an integer"),
    ("name: t\ndataset: {local: x.jsonl}\ncompletions: 5\n", r"t\.yaml:3: field 'completions': expected the path of a replay file"),
    ("name: t\ndataset: {local: x.jsonl}\ncompletions: [a]\n", r"t\.yaml:3: field 'completions': expected the path"),
    ("name: t\ndataset: {local: x.jsonl}\nprompt: null\n", r"t\.yaml:3: field 'prompt': expected a jinja2 template string, got null"),
    # a problem and a breakdown always read a column; null is not "leave it out"
    ("name: t\ndataset: {local: x.jsonl}\nfields: {problem: null}\n",
     r"t\.yaml:3: field 'fields\.problem': expected a column name or a jinja expression \(a string\), got null"),
    ("name: t\ndataset: {local: x.jsonl}\nfields: {meta: {level: null}}\n",
     r"t\.yaml:3: field 'fields\.meta\.level': expected a column name .*got null"),
    ("name: t\ndataset: {local: x.jsonl}\nfields:\n  id: id\n  meta: [level, {subject: subj}]\n",
     r"t\.yaml:5: field 'fields\.meta': expected a list of column names, got dict"),
    # a key one slip from a known one says which; a suite whose `tasks` is misspelt is read as a task spec
    ("name: t\ndataset: {local: x.jsonl}\npromt: hi\n", r"t\.yaml:3: field 'promt': unknown key; did you mean 'prompt'\?"),
    ("name: t\ntaks: [math500]\n", r"t\.yaml:2: field 'taks': unknown key; did you mean 'tasks'\? \(a suite lists"),
    ("name: t\ndataset: {locl: x.jsonl}\n", r"t\.yaml:2: field 'dataset\.locl': unknown key; did you mean 'local'\?"),
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {tempurature: 0.6}\n",
     r"t\.yaml:3: field 'generation\.tempurature': unknown key; did you mean 'temperature'\?"),
])
def test_malformed_specs_name_file_line_and_key(tmp_path, text, where):
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(InputError, match=where):
        load_task(str(tmp_path / "t.yaml"))


@pytest.mark.parametrize("text, where", [
    ("name: t\ndataset: {local: x.jsonl}\ngeneration: {n: 2} junk", "t.yaml:3: malformed YAML"),
    ("name: t\ndataset: {local: x.jsonl}\nmetrics: [avg@n", "t.yaml:3: malformed YAML"),  # left open: its line
])
def test_a_yaml_error_on_the_last_line_is_at_that_line_without_a_final_newline(tmp_path, text, where):
    (tmp_path / "t.yaml").write_text(text)
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "t.yaml", "--completions", "c.jsonl", "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith(f"evalkit: error: {where}"), r.stderr


LAUGHS = "".join(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 12))


@pytest.mark.parametrize("tail, where", [
    # ten lines that stand for 9^11 values: every walk of the tree expanded them (hours at 100% CPU)
    ("chat_template_kwargs:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + LAUGHS,
     "t.yaml:15: its aliases (*name) expand it by more than 100,000 values"),
    ("chat_template_kwargs: &x {a: *x}\n", "t.yaml:4: an alias (*name) refers to the value that holds it"),  # RecursionError
    ("verifier_options: " + "[" * 10000 + "]" * 10000 + "\n", "t.yaml: malformed YAML: nested more than"),
    ("verifier_options: " + "[" * 150 + "]" * 150 + "\n", "t.yaml:4: nested more than 100 levels deep"),
])
def test_yaml_that_aliases_or_nesting_make_huge_is_one_line(tmp_path, tail, where):
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nfields: {id: id}\n" + tail)
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "t.yaml", "--completions", "c.jsonl", "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith(f"evalkit: error: {where}"), r.stderr[-2000:]


@pytest.mark.parametrize("field", ["prompt", "system", "fields.answer"])
def test_a_template_cannot_reach_python_to_run_commands(tmp_path, field):
    # a downloaded spec's template ran `id` in a shell through jinja's globals (export exited 0)
    attack = "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}"
    (tmp_path / "d.jsonl").write_text(json.dumps({"id": "a", "problem": "1+1?", "answer": "2"}) + "\n")
    fields = {"id": "id", **({"answer": attack} if field == "fields.answer" else {})}
    spec = {"name": "t", "dataset": {"local": "d.jsonl"}, "fields": fields,
            **({field: attack} if field != "fields.answer" else {})}
    (tmp_path / "t.yaml").write_text(json.dumps(spec))
    r = subprocess.run([sys.executable, "-m", "evalkit", "export", "t.yaml", "--format", "trl", "--out", "x.jsonl"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "access to attribute '__init__' of 'type' object is unsafe" in r.stderr, r.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "x.jsonl").exists()


def test_a_template_may_build_its_own_list(tmp_path):
    # the immutable sandbox refused `.append` on the template's own list, which rendered before
    from evalkit.taskspec import prompt_messages

    (tmp_path / "d.jsonl").write_text(json.dumps({"id": "a", "problem": "q", "answer": "1", "opts": ["x", "y"]}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nfields: {id: id}\nprompt: \"{% set xs = [] %}"
                                     "{% for o in opts %}{% set _ = xs.append(o | upper) %}{% endfor %}"
                                     "{{ problem }} {{ xs | join(',') }}\"\n")
    spec = load_task(str(tmp_path / "t.yaml"))
    assert prompt_messages(spec, load_problems(spec).problems[0])[-1]["content"] == "q X,Y"


def test_a_long_yaml_file_without_aliases_is_read(tmp_path):
    # the alias guard counted every value: 55,000 keys and their values were refused as "its aliases expand ..."
    from evalkit.yamlfile import read_yaml

    (tmp_path / "s.yaml").write_text("".join(f"k{i}: v\n" for i in range(55_000)))
    data, _ = read_yaml(tmp_path / "s.yaml", "rules")
    assert len(data) == 55_000


def test_an_option_value_that_aliases_make_huge_is_refused_and_a_long_error_is_cut():
    laughs = "{a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol], " + ", ".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)) + "}"
    r = subprocess.run([sys.executable, "-m", "evalkit", "verify", "\\boxed{1}", "1", "--option", f"boxed={laughs}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--option boxed:1: its aliases (*name) expand it by more than" in r.stderr, r.stderr[:500]
    # a refusal that echoes a long value (here 40,000 characters) is cut to a screen; it printed 351 MB
    r = subprocess.run([sys.executable, "-m", "evalkit", "verify", "\\boxed{1}", "1", "--option",
                        f"boxed={'x' * 40000}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "option 'boxed': expected last or all" in r.stderr and len(r.stderr) < 2200
    assert "characters left out)" in r.stderr
    # the reason after a long echoed value is kept too ("the value is not YAML (...)")
    r = subprocess.run([sys.executable, "-m", "evalkit", "verify", "\\boxed{1}", "1", "--option",
                        "letters=[" + "a, " * 20000], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "the value is not YAML (" in r.stderr and len(r.stderr) < 2200, r.stderr[-300:]


@pytest.mark.parametrize("option", ["per_answer_s", "batch_deadline_s"])
def test_a_bad_limit_in_verifier_options_is_named_as_the_spec_writes_it(tmp_path, option):
    # the math verifier takes them as `timeout` / `deadline`, the names its error gave
    (tmp_path / "d.jsonl").write_text(json.dumps({"id": "a", "problem": "1+1?", "answer": "2"}) + "\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"problem_id": "a", "sample": 0, "completion": "\\boxed{2}"}) + "\n")
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: d.jsonl}}\nfields: {{id: id}}\n"
                                     f"verifier_options: {{{option}: '5'}}\n")
    r = subprocess.run([sys.executable, "-m", "evalkit", "run", "t.yaml", "--completions", "c.jsonl", "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 2, r.stderr
    assert (f"t.yaml:4: field 'verifier_options': option '{option}': expected a number of seconds > 0, got '5'"
            in r.stderr), r.stderr


def test_missing_column_is_named_with_the_available_ones(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"question": "q", "answer": "1"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nfields: {problem: problem}\n")
    with pytest.raises(InputError, match=r"column 'problem'.*available columns: question, answer"):
        load_problems(load_task(str(tmp_path / "t.yaml")))
    (tmp_path / "d.jsonl").write_text("{}\n")  # the list of columns was empty: "available columns: "
    with pytest.raises(InputError, match=r"column 'problem'.*available columns: none \(the row is an empty object\)$"):
        load_problems(load_task(str(tmp_path / "t.yaml")))


def test_corrupt_jsonl_line_is_reported_as_file_and_line(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"problem": "a", "answer": "1"}\n{"problem": "b", "ans\n')
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\n")
    with pytest.raises(InputError, match=r"d\.jsonl:2: corrupt JSON line"):
        load_problems(load_task(str(tmp_path / "t.yaml")))


@pytest.mark.parametrize("name, line, says", [
    ("d.jsonl", '{"problem": "q", "answer": ' + "9" * 5000 + "}", r"d\.jsonl:1: unreadable JSON line \(Exceeds the limit"),
    ("d.jsonl", '{"problem": "q", "answer": ' + "[" * 50000 + "]" * 50000 + "}",
     r"d\.jsonl:1: JSON line nested too deeply to read"),
    ("d.json", '[{"problem": "q", "answer": ' + "9" * 5000 + "}]", r"d\.json: cannot read as json \(Exceeds the limit"),
    ("d.json", '[{"problem": "q", "answer": ' + "[" * 50000 + "]" * 50000 + "}]",
     r"d\.json: cannot read as json \(nested too deeply\)"),
])
def test_json_python_will_not_read_is_an_input_error_naming_the_line(tmp_path, name, line, says):
    # a 5,000-digit integer (ValueError) or 50,000 nested lists (RecursionError) was a traceback, exit 1
    (tmp_path / name).write_text(line + "\n")
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: {name}}}\n")
    with pytest.raises(InputError, match=says):
        load_problems(load_task(str(tmp_path / "t.yaml")))


@pytest.mark.parametrize("value, says", [(True, "got bool True"), ([0], r"got list \[0\]"),
                                         ({"a": 1}, "got dict"), (" ", "got empty text")])
def test_an_id_that_is_not_text_or_a_number_is_refused(tmp_path, value, says):
    # they became the ids "True", "[0]", "{'a': 1}", or an id no one can name
    (tmp_path / "d.jsonl").write_text(json.dumps({"qid": value, "problem": "q", "answer": "1"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nfields: {id: qid}\n")
    with pytest.raises(InputError, match=rf"t\.yaml:3: field 'id' on row 0: expected text or a whole number, {says}"):
        load_problems(load_task(str(tmp_path / "t.yaml")))


@pytest.mark.parametrize("line, says", [
    ('name: "t\\ud800x"', r"t\.yaml:1: field 'name': expected text a file can hold.*got 't\\ud800x'"),
    ('name: "a\\nb"', r"t\.yaml:1: field 'name': expected text a file can hold"),
    ("description: [1, 2]", r"t\.yaml:1: field 'description': expected text, got list"),
])
def test_a_name_or_description_that_is_no_text_is_refused(tmp_path, line, says):
    # half an emoji in a name was a UnicodeEncodeError traceback at the first sample's seed; a list description
    # was kept as its repr
    (tmp_path / "t.yaml").write_text(line + "\ndataset: {local: d.jsonl}\n")
    with pytest.raises(InputError, match=says):
        load_task(str(tmp_path / "t.yaml"))


def test_errors_found_while_loading_name_the_spec_line(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"id": "a", "problem": "q", "answer": "1", "level": "x"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nfields:\n  id: id\n"
                                     "  answer: '{{ nothere }}'\n")
    with pytest.raises(InputError, match=r"t\.yaml:5: field 'answer'.*'nothere' is undefined"):
        load_problems(load_task(str(tmp_path / "t.yaml")))
    (tmp_path / "t.yaml").write_text("name: t\ndataset:\n  local: nope.jsonl\n")
    with pytest.raises(InputError, match=r"t\.yaml:3: field 'dataset\.local': file not found: .*nope\.jsonl"):
        load_problems(load_task(str(tmp_path / "t.yaml")))


def test_a_prompt_that_fails_on_a_rows_data_is_an_input_error(tmp_path):
    from evalkit.taskspec import prompt_messages

    (tmp_path / "d.jsonl").write_text(json.dumps({"problem": "q", "answer": "1", "level": "x"}) + "\n")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nprompt: '{{ level + 1 }}'\n")
    spec = load_task(str(tmp_path / "t.yaml"))
    problem = load_problems(spec).problems[0]
    with pytest.raises(InputError, match=r"t\.yaml:3: field 'prompt' on problem '0': TypeError"):
        prompt_messages(spec, problem)


@pytest.mark.parametrize("name, content", [("d.json", '{"a": [1, 2'), ("d.parquet", "not parquet"),
                                           ("d.csv", 'a,b\n"unclosed,2\n')])
def test_a_corrupt_local_file_is_an_input_error_naming_it(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: {name}}}\n")
    with pytest.raises(InputError, match=rf"{name}: cannot read as"):
        load_problems(load_task(str(tmp_path / "t.yaml")))


def _answers(tmp_path, answers: list, field: str = "answer") -> list:
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"id": str(i), "problem": "q", "answer": a}) + "\n"
                                              for i, a in enumerate(answers)))
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: d.jsonl}}\nfields: {{id: id, answer: '{field}'}}\n")
    return [p.answer for p in load_problems(load_task(str(tmp_path / "t.yaml"))).problems]


def test_a_null_answer_is_no_gold_through_a_jinja_field_as_through_its_column(tmp_path):
    assert _answers(tmp_path, ["2", None, ""]) == ["2", None, None]
    assert _answers(tmp_path, ["2", None, ""], "{{ answer }}") == ["2", None, None]  # not the text 'None'
    assert _answers(tmp_path, ["2", None], "{{ answer }}!") == ["2!", "!"]


def test_a_list_answer_is_several_accepted_answers_and_an_empty_one_is_no_gold(tmp_path):
    golds = _answers(tmp_path, [["5", "five"], [], ["7"], [3, [4.5]], {"x": 1}, 27.0, 0.10000000149011612])
    # the last: a float32 column's 0.1, as the dataset wrote it (it was that text, and \boxed{0.1} wrong)
    assert golds == [("5", "five"), None, ("7",), ("3", "4.5"), '{"x": 1}', "27.0", "0.1"]


def _load(tmp_path, data: str, name: str = "d.jsonl", extra: str = "fields: {id: id}\n") -> list:
    (tmp_path / name).write_text(data)
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: {name}}}\n{extra}")
    return load_problems(load_task(str(tmp_path / "t.yaml"))).problems


def test_a_bare_jinja_reference_reads_as_its_column_and_null_prints_nothing(tmp_path):
    # `{{ answer }}` is the column: an empty list and NaN are no gold, a list is several golds
    assert _answers(tmp_path, [[], ["7", "7.0"], float("nan")], "{{ answer }}") == [None, ("7", "7.0"), None]
    assert _answers(tmp_path, [float("nan"), None], "x{{ answer }}") == ["x", "x"]  # never 'xnan' or 'xNone'


@pytest.mark.parametrize("columns", [lambda d: json.dumps(d), lambda d: json.dumps(d, indent=2)])
def test_a_json_file_of_columns_is_one_problem_per_row(tmp_path, columns):
    # what `json.dump(ds.to_dict())` writes: an object of equal-length lists
    data = {"id": ["q1", "q2", "q3"], "problem": ["1+1?", "2+2?", "3+3?"], "answer": ["2", "4", "6"]}
    problems = _load(tmp_path, columns(data), "d.json")
    assert [(p.id, p.problem, p.answer) for p in problems] == [("q1", "1+1?", "2"), ("q2", "2+2?", "4"),
                                                               ("q3", "3+3?", "6")]


def test_values_load_as_the_file_writes_them(tmp_path):
    # CSV cells are text: no 0012 -> 12, 007 -> 7.0, 5 -> 5.0 beside an empty cell, NA -> null, 1.23e+17
    csv_text = ("id,problem,answer\n0012,What is 3+4?,007\n13,What is 2+3?,5\n14,Empty?,\n"
                "15,Symbol of sodium?,NA\n16,Solve,N/A\n17,Big,123456789012345678\n")
    problems = _load(tmp_path, csv_text, "d.csv")
    assert [(p.id, p.answer) for p in problems] == [("0012", "007"), ("13", "5"), ("14", None), ("15", "NA"),
                                                    ("16", "N/A"), ("17", "123456789012345678")]
    # JSON keeps 5 an integer beside 2.5 (arrow would widen the column to 5.0)
    rows = [{"id": 1, "problem": "p1", "answer": 5}, {"id": 2, "problem": "p2", "answer": 2.5}]
    assert [p.answer for p in _load(tmp_path, json.dumps(rows), "d.json")] == ["5", "2.5"]
    ndjson = "".join(json.dumps(r) + "\n" for r in rows)
    assert [p.answer for p in _load(tmp_path, ndjson, "d.ndjson")] == ["5", "2.5"]


def test_a_csv_row_short_of_cells_is_read_with_empty_cells_and_a_warning_naming_its_line(tmp_path, capsys):
    # a forgotten comma leaves the answer out: pandas reads it as empty without a word; the user sees where
    csv_text = "id,problem,answer\na,What is 3+4?,7\nb,What is 2+3?\nc,What is 1+1?\nd,What is 2+2?,4\n"
    problems = _load(tmp_path, csv_text, "d.csv")
    assert [(p.id, p.answer) for p in problems] == [("a", "7"), ("b", None), ("c", None), ("d", "4")]
    err = capsys.readouterr().err
    assert "d.csv:3: fewer cells than the header names (and 1 more rows); 'answer' read as empty" in err
    _load(tmp_path, "id,problem,answer\na,x?,3\n", "d.csv")  # every row whole: nothing said
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("row, says", [
    ({"id": "w", "problem": None}, r"t\.yaml:3: field 'problem' on row 0 \(id w\): expected the problem's text, got null"),
    ({"id": "x", "problem": ["a", "b"]}, r"field 'problem' on row 0 \(id x\): expected the problem's text, got list"),
    ({"id": "y", "problem": " "}, r"field 'problem' on row 0 \(id y\): expected the problem's text, got empty text"),
    ({"id": None, "problem": "p"}, r"t\.yaml:3: field 'id' on row 0: the id is null"),
])
def test_a_problem_must_be_text_and_have_an_id(tmp_path, row, says):
    with pytest.raises(InputError, match=says):
        _load(tmp_path, json.dumps({**row, "answer": "1"}) + "\n")
    with pytest.raises(InputError, match=says):  # the same from a JSON file of columns
        _load(tmp_path, json.dumps({k: [v] for k, v in {**row, "answer": "1"}.items()}), "d.json")


def test_a_null_value_in_a_prompt_prints_nothing(tmp_path):
    from evalkit.taskspec import prompt_messages

    problems = _load(tmp_path, json.dumps({"id": "a", "problem": "Find x.", "context": None, "answer": "1"}) + "\n",
                     extra="fields: {id: id}\nprompt: \"{{ context }}|{{ problem }}\"\nsystem: 'Topic: {{ context }}.'\n")
    spec = load_task(str(tmp_path / "t.yaml"))
    assert prompt_messages(spec, problems[0]) == [{"role": "system", "content": "Topic: ."},
                                                  {"role": "user", "content": "|Find x."}]


def test_an_empty_dataset_is_an_error_naming_the_spec_and_the_file(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: empty.jsonl}\n")
    with pytest.raises(InputError, match=r"t\.yaml:2: field 'dataset': no problems in .*empty\.jsonl"):
        load_problems(load_task(str(tmp_path / "t.yaml")))
    # an empty parquet file (its columns, no rows) said "cannot read as parquet (ArrowInvalid: BatchSize ...)"
    import pandas as pd

    pd.DataFrame({"id": pd.Series([], dtype=str), "problem": pd.Series([], dtype=str)}).to_parquet(
        tmp_path / "empty.parquet")
    (tmp_path / "p.yaml").write_text("name: p\ndataset: {local: empty.parquet}\n")
    with pytest.raises(InputError, match=r"p\.yaml:2: field 'dataset': no problems in .*empty\.parquet"):
        load_problems(load_task(str(tmp_path / "p.yaml")))


def test_a_directory_as_the_dataset_is_an_error_naming_the_spec_line(tmp_path):
    (tmp_path / "t.yaml").write_text("name: t\ndataset:\n  local: .\n")
    with pytest.raises(InputError, match=r"t\.yaml:3: field 'dataset\.local': .* is a directory; expected a data file"):
        load_problems(load_task(str(tmp_path / "t.yaml")))


def test_a_bad_row_is_found_in_the_data_file_by_its_record(tmp_path):
    # the error named the spec's line and a row counted from 0 (the id's default), not where the row is
    rows = [{"problem": "1+1", "answer": "2"}, {"problem": "2+2", "answer": "4"}, {"problem": None, "answer": "6"}]
    with pytest.raises(InputError) as e:
        _load(tmp_path, "".join(json.dumps(r) + "\n" for r in rows), extra="")
    assert str(e.value).endswith(f"field 'problem' on row 2 (id 2): expected the problem's text, got null "
                                 f"[row 2 counts from 0: record 3 of {tmp_path / 'd.jsonl'}]"), str(e.value)


@pytest.mark.parametrize("prompt", ['""', "'   '", '"\\n"'])
def test_an_empty_prompt_is_refused_at_load(tmp_path, prompt):
    # the model would get an empty user message, and an export empty training rows
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: x.jsonl}}\nprompt: {prompt}\n")
    with pytest.raises(InputError, match=r"t\.yaml:3: field 'prompt': expected a jinja2 template string, got empty"):
        load_task(str(tmp_path / "t.yaml"))


def test_a_prompt_that_renders_to_nothing_on_a_row_names_the_row(tmp_path):
    rows = [{"id": "a", "problem": "p", "answer": "1", "hint": "h"}, {"id": "b", "problem": "q", "answer": "2", "hint": None}]
    with pytest.raises(InputError) as e:
        _load(tmp_path, "".join(json.dumps(r) + "\n" for r in rows), extra="fields: {id: id}\nprompt: '{{ hint }}'\n")
    assert str(e.value).endswith("t.yaml:4: field 'prompt' on row 1 (id b): renders to empty text; the model would "
                                 f"be asked nothing [row 1 counts from 0: record 2 of {tmp_path / 'd.jsonl'}]"), e.value


def test_a_date_column_the_data_lacks_is_found_when_the_problems_load(tmp_path):
    # not only when a run gives --since/--until
    with pytest.raises(InputError, match=r"t\.yaml:3: field 'date' names column 'when', which the dataset does not"):
        _load(tmp_path, json.dumps({"id": "a", "problem": "p", "answer": "1"}) + "\n", extra="fields: {id: id, date: when}\n")
    # a row that leaves the key out is undated, as a null one is (JSON lines written with nulls dropped)
    rows = [{"id": "a", "problem": "p", "answer": "1", "when": "2025-01-02"}, {"id": "b", "problem": "q", "answer": "2"}]
    for date in ("when", "'{{ when }}'"):  # a bare reference reads as naming the column
        assert [p.id for p in _load(tmp_path, "".join(json.dumps(r) + "\n" for r in rows),
                                    extra=f"fields: {{id: id, date: {date}}}\n")] == ["a", "b"]


def test_a_column_missing_from_some_rows_names_the_row_that_lacks_it(tmp_path):
    rows = [{"id": "a", "question": "Q1", "answer": "2"}, {"id": "b", "answer": "5"}]
    with pytest.raises(InputError) as e:
        _load(tmp_path, "".join(json.dumps(r) + "\n" for r in rows), extra="fields: {id: id, problem: question}\n")
    assert str(e.value).endswith("t.yaml:3: field 'problem' names column 'question', which row 1 lacks (other rows "
                                 f"have it); its columns: id, answer [row 1 counts from 0: record 2 of "
                                 f"{tmp_path / 'd.jsonl'}]"), e.value


@pytest.mark.parametrize("text, where", [
    # found before the data is read (x.jsonl does not exist), not blamed on its row 0
    ("fields:\n  answer: '{{ solution | last_boxed '\n", r"t\.yaml:4: field 'fields\.answer': bad jinja template: unexpected end"),
    ("fields:\n  answer: '{{ solution | lastboxed }}'\n",
     r"t\.yaml:4: field 'fields\.answer': bad jinja template: No filter named 'lastboxed'.*last_boxed"),
    ("fields:\n  meta: {level: '{{ lvl | nope }}'}\n", r"t\.yaml:4: field 'fields\.meta\.level': bad jinja template: No filter"),
    ("prompt: '{{ question | upper_case }}'\n", r"t\.yaml:3: field 'prompt': bad jinja template: No filter named 'upper_case'"),
    ("system: '{{ x is nosuchtest }}'\n", r"t\.yaml:3: field 'system': bad jinja template: No test named 'nosuchtest'"),
])
def test_a_bad_jinja_expression_in_a_field_or_prompt_is_refused_at_load(tmp_path, text, where):
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: x.jsonl}}\n{text}")
    with pytest.raises(InputError, match=where):
        load_task(str(tmp_path / "t.yaml"))


@pytest.mark.parametrize("verifier, says", [
    ("math+", r"got 'math\+': a '\+' needs a verifier name on each side"),
    ("+judge", r"got '\+judge': a '\+' needs a verifier name on each side"),
    ("''", r"got ''"),
    ("'math + judge'", r"got 'math \+ judge': write it without spaces"),  # it was "unknown verifier 'math '"
])
def test_a_verifier_name_that_cannot_be_one_is_an_input_error(tmp_path, verifier, says):
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: x.jsonl}}\nverifier: {verifier}\n")
    with pytest.raises(InputError, match=r"t\.yaml:3: field 'verifier': expected a verifier name .*" + says):
        load_task(str(tmp_path / "t.yaml"))


def test_numbers_pyyaml_reads_as_text_are_numbers_and_counts_stay_whole(tmp_path):
    # YAML 1.1 wants a dot in a float: to PyYAML 6e-1 is a string, to the user a number
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: x.jsonl}\n"
                                     "generation: {temperature: 6e-1, top_p: 9.5e-1, max_tokens: 1e4, n: 2.0}\n")
    generation = load_task(str(tmp_path / "t.yaml")).generation
    assert (generation.temperature, generation.top_p, generation.max_tokens, generation.n) == (0.6, 0.95, 10000, 2)
    assert isinstance(generation.max_tokens, int)
    for value, says in [("1e30", "1e+30 (a whole number, but past 2**53"), ("1.0e+30", "1e+30 (a whole number"),
                        ("2.5e0", "2.5"), ("many", "'many'")]:
        (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: x.jsonl}}\ngeneration: {{max_tokens: {value}}}\n")
        with pytest.raises(InputError, match=rf"t\.yaml:3: field 'generation\.max_tokens': expected an integer, "
                                             rf"got {re.escape(says)}"):
            load_task(str(tmp_path / "t.yaml"))
    # a quoted whole number stays exact (through float it lost its last digit)
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: x.jsonl}\ngeneration: {seed: '9007199254740993'}\n")
    assert load_task(str(tmp_path / "t.yaml")).generation.seed == 9007199254740993
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: x.jsonl}\ngeneration: {temperature: -6e-1}\n")
    with pytest.raises(InputError, match=r"t\.yaml:3: field 'generation\.temperature': expected a finite number >= 0"):
        load_task(str(tmp_path / "t.yaml"))


def test_a_hub_only_dataset_with_the_hub_unreachable_is_read_from_its_cache_or_refused_at_once(tmp_path, monkeypatch):
    # it waited through five retries (half a minute, a warning line each) before its one-line error
    import evalkit.taskspec as taskspec

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(taskspec, "_hub_reachable", lambda: False)
    (tmp_path / "h.yaml").write_text("name: h\ndataset: {hub: someorg/somedata}\n")
    import datasets
    import huggingface_hub.constants as hub

    before = (datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE)
    with pytest.raises(InputError) as e:
        load_problems(load_task(str(tmp_path / "h.yaml")))
    assert str(e.value) == (f"{tmp_path / 'h.yaml'}:2: cannot load hub dataset 'someorg/somedata': the hub is "
                            "unreachable and the local hub cache does not hold it (add 'local', a copy of the data)")
    assert (datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE) == before  # the hub's own mode, as it was
    # offline by the environment: the cache is read too (it was refused unread)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # the variable set is the one named
    with pytest.raises(InputError, match=r"the hub is offline and the local hub cache does not hold it \(unset "
                                         r"HF_DATASETS_OFFLINE, or add"):
        load_problems(load_task(str(tmp_path / "h.yaml")))


@pytest.mark.parametrize("name, data, says", [
    ("p.csv", "id,problem,answer\np1,caf\xe9 costs 3,3\n".encode("latin-1"), r"p\.csv:2: not UTF-8 text \(byte 7 of"),
    ("p.json", '[{"id": "p1",\n "problem": "caf\xe9", "answer": "3"}]'.encode("latin-1"),
     r"p\.json:2: not UTF-8 text \(byte 17 of"),
])
def test_a_data_file_that_is_not_utf8_is_named_with_its_line(tmp_path, name, data, says):
    (tmp_path / name).write_bytes(data)
    (tmp_path / "t.yaml").write_text(f"name: t\ndataset: {{local: {name}}}\nfields: {{id: id}}\n")
    with pytest.raises(InputError, match=says):
        load_problems(load_task(str(tmp_path / "t.yaml")))


def test_a_task_spec_that_is_not_utf8_is_named_with_its_line(tmp_path):
    (tmp_path / "t.yaml").write_bytes("name: t\ndescription: caf\xe9\ndataset: {local: p.jsonl}\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"t\.yaml:2: not UTF-8 text \(byte 17 of the line: invalid"):
        load_task(str(tmp_path / "t.yaml"))


def test_a_number_with_an_exponent_and_no_point_is_a_number(tmp_path):
    # YAML 1.1 read `1e-3` as text: `verifier_options: {rel_tol: 1e-3}` was refused ("expected a number at least 0,
    # got '1e-3'"); generation's fields alone read such text as numbers
    from evalkit.taskspec import load_task

    (tmp_path / "d.jsonl").write_text('{"q": "1", "a": "1"}\n')
    (tmp_path / "t.yaml").write_text("name: t\ndataset: {local: d.jsonl}\nfields: {problem: q, answer: a}\n"
                                     "verifier: math\nverifier_options: {timeout: 1e1}\n")
    assert load_task(tmp_path / "t.yaml").verifier_options == {"timeout": 10.0}
