"""The detector fitted to a model's own traces: `evalkit label-sheet`, a person's corrections,
`evalkit fit-detector`, `evalkit analyze --reflection-model`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from evalkit.errors import InputError
from evalkit.trace import LabelledTrace, analyze, fit_detector
from evalkit.trace._fit import sentence_labels


# A habit the shipped detector never saw: this model announces a re-check as "Running the ledger
# again." and states its outcome as "Ledger balances."
HABIT = {"Running the ledger again.": "check", "Ledger balances.": "verdict"}


def _trace(a: int, b: int, lead: str) -> str:
    s, p = a + b, a * b
    return (f"<think>{lead} First, {a} + {b} = {s}. Running the ledger again. {b} + {a} = {s}. Ledger balances. "
            f"Wait, no, the problem asks for the product. {a} * {b} = {p}. So the answer is {p}.</think> "
            f"The answer is \\boxed{{{p}}}.")


def _evalkit(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _write(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _acts(path) -> list[tuple[str, str]]:
    row = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    return [(m["kind"], row["completion"][m["start"]:m["end"]]) for m in row["trace"]["markers"]]


def test_a_corrected_sheet_teaches_the_detector_a_model_s_own_habit_and_keeps_what_it_knew(tmp_path):
    leads = ["We need the sum of {a} and {b}.", "Add {a} and {b}, then think about the product.",
             "The question gives {a} and {b}."]
    pairs = [(3, 4), (5, 9), (12, 7), (8, 8), (21, 4), (6, 13), (2, 19), (14, 15)]
    _write(tmp_path / "mine.jsonl", [{"completion": _trace(a, b, leads[k % 3].format(a=a, b=b))}
                                     for k, (a, b) in enumerate(pairs)])
    _write(tmp_path / "new.jsonl", [{"completion": _trace(17, 3, "Multiply 17 and 3, but check the sum first.")}])

    r = _evalkit("label-sheet", "mine.jsonl", "--out", "sheet.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "8 traces" in r.stdout and "evalkit fit-detector sheet.jsonl" in r.stdout
    sheet = [json.loads(line) for line in (tmp_path / "sheet.jsonl").read_text().splitlines()]
    # The sheet lists every sentence of the thinking, with the shipped detector's guess: it knows the
    # doubt, not the habit.
    labels = {s["text"]: s["label"] for s in sheet[0]["sentences"]}
    assert labels["Wait, no, the problem asks for the product."] == "doubt"
    assert labels["Running the ledger again."] == labels["Ledger balances."] == "other"
    assert all(s["text"] == row["completion"][s["start"]:s["end"]] for row in sheet for s in row["sentences"])
    # The person corrects the habit's sentences.
    for row in sheet:
        for s in row["sentences"]:
            s["label"] = HABIT.get(s["text"], s["label"])
    _write(tmp_path / "sheet.jsonl", sheet)

    r = _evalkit("fit-detector", "sheet.jsonl", "--out", "ledger.json", "--cv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "check 8, verdict 8" in r.stdout and "adapted from the shipped weights" in r.stdout
    # Held out one at a time, the traces are read better by the fit than by the shipped weights.
    held = re.search(r"leave one trace out \(8 traces\): F1 ([\d.]+), the shipped weights ([\d.]+)\n", r.stdout)
    assert held and float(held[1]) > float(held[2]) + 0.2, r.stdout
    fitted = json.loads((tmp_path / "ledger.json").read_text())
    assert fitted["trained_on"]["traces"] == 8 and fitted["trained_on"]["adapted_from"]["traces"] == 98

    before = _evalkit("analyze", "new.jsonl", "--verifier", "none", "--out", "before.jsonl", cwd=tmp_path)
    after = _evalkit("analyze", "new.jsonl", "--verifier", "none", "--out", "after.jsonl",
                     "--reflection-model", "ledger.json", cwd=tmp_path)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    doubt = ("doubt", "Wait, no, the problem asks for the product.")
    assert _acts(tmp_path / "before.jsonl") == [doubt]
    # On a trace it was not fitted on: the habit is found, the doubt kept, the computations left alone.
    assert _acts(tmp_path / "after.jsonl") == [("check", "Running the ledger again."), ("verdict", "Ledger balances."), doubt]


def test_partly_labelled_traces_fit_only_their_labelled_sentences():
    sents = [(0, 10, False), (11, 20, False), (21, 30, False), (31, 40, False)]
    spans = [(0, 10, "other"), (11, 15, "other"), (14, 20, "check"), (21, 30, "verdict")]
    assert sentence_labels(sents, spans) == [0, 2, 3, None]
    # a span over several sentences labels each, the first reflective label a sentence meets wins, and sentences
    # out of order (found one by one) are labelled as those in order (found by bisection)
    spans = [(5, 25, "doubt"), (12, 18, "check"), (35, 36, "other")]
    assert sentence_labels(sents, spans) == [1, 1, 1, 0]
    assert sentence_labels(sents[::-1], spans) == [0, 1, 1, 1]
    # Nothing labelled is a clear error, not an empty model.
    with pytest.raises(Exception, match="no labelled sentence"):
        fit_detector([LabelledTrace("<think>Wait, 2 + 2 = 4.</think> 4", ())])


DEMO = Path(__file__).resolve().parents[1] / "tasks" / "data" / "demo" / "completions.jsonl"


@pytest.mark.parametrize("keep", [None, 12], ids=["one-whole-trace", "twelve-sentences"])
def test_a_small_sheet_moves_what_it_shows_and_leaves_the_other_kinds_as_shipped(tmp_path, keep):
    # one trace's sheet, its labels the shipped detector's own guesses (a whole trace; or, as docs/trace.md
    # allows, its first twelve sentences). Its biases were free: the adapted model found no doubt and no
    # check anywhere (one trace), or 4 acts where the shipped one finds 2,671 (twelve sentences)
    from evalkit.trace import analyze_many

    (tmp_path / "one.jsonl").write_text(DEMO.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    assert _evalkit("label-sheet", "one.jsonl", "--out", "sheet.jsonl", cwd=tmp_path).returncode == 0
    if keep:
        row = json.loads((tmp_path / "sheet.jsonl").read_text(encoding="utf-8"))
        row["sentences"] = row["sentences"][:keep]
        _write(tmp_path / "sheet.jsonl", [row])
    fit = _evalkit("fit-detector", "sheet.jsonl", "--out", "model.json", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    texts = [json.loads(line)["completion"] for line in DEMO.read_text(encoding="utf-8").splitlines()]
    counts = {}
    for name, model in (("shipped", None), ("adapted", str(tmp_path / "model.json"))):
        found = Counter(m.kind for t in analyze_many(texts, None, None, reflection_model=model) for m in t.markers)
        counts[name] = {kind: found[kind] for kind in ("doubt", "check", "verdict")}
    for kind, shipped in counts["shipped"].items():
        assert shipped > 100 and abs(counts["adapted"][kind] - shipped) <= 0.1 * shipped, counts


@pytest.mark.parametrize("line, message", [
    ({"completion": 3, "sentences": []}, "field 'completion' must be the trace's text"),
    ({"completion": "Wait.", "sentences": {}}, "field 'sentences' must be a list"),
    ({"completion": "Wait.", "sentences": [{"start": 0, "end": 9, "label": "doubt"}]},
     "sentences[0]: start and end must be offsets into completion with 0 <= start < end <= 5, got 0, 9"),
    ({"completion": "Wait.", "sentences": [{"start": 0, "end": 5, "label": "dobut"}]},
     "sentences[0].label: expected one of doubt, check, verdict, other; got 'dobut'"),
    ({"completion": "Wait.", "sentences": [{"start": 0, "end": 4, "text": "Wait.", "label": "doubt"}]},
     "sentences[0].text: is not completion[0:4]"),
    ({"completion": "Wait.", "think_format": "qwq9", "sentences": [{"start": 0, "end": 5, "label": "doubt"}]},
     "field 'think_format'"),
])
def test_a_malformed_sheet_is_refused_naming_file_line_and_field(tmp_path, line, message):
    good = {"completion": "<think>Hmm, is 2 + 2 = 4?</think> 4", "sentences": [{"start": 7, "end": 25, "label": "doubt"}]}
    _write(tmp_path / "sheet.jsonl", [good, line])
    r = _evalkit("fit-detector", "sheet.jsonl", "--out", "m.json", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "sheet.jsonl:2" in r.stderr and message in r.stderr, r.stderr
    assert not (tmp_path / "m.json").exists()


def test_a_file_that_is_not_a_model_is_refused_before_any_work(tmp_path):
    _write(tmp_path / "in.jsonl", [{"completion": "<think>Wait, no. 2 + 2 = 4.</think> 4"}])
    (tmp_path / "notes.json").write_text('{"weights": []}')
    for bad in ("notes.json", "missing.json"):
        r = _evalkit("analyze", "in.jsonl", "--reflection-model", bad, "--out", "out.jsonl", cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert f"{bad}: not a reflection model evalkit can read" in r.stderr
        assert not (tmp_path / "out.jsonl").exists()
    # The Python API says the same.
    with pytest.raises(Exception, match="not a reflection model"):
        analyze("<think>Wait, no.</think>", verifier=None, reflection_model=tmp_path / "notes.json")


@pytest.fixture(scope="module")
def ledger_model(tmp_path_factory):
    """A model file adapted to the ledger habit (through the API this time)."""
    from evalkit.trace import label_sheet, save_model

    root = tmp_path_factory.mktemp("ledger")
    rows = [{"completion": _trace(a, b, f"We need {a} and {b}.")} for a, b in [(3, 4), (5, 9), (12, 7), (8, 8), (21, 4)]]
    sheet = label_sheet(rows)
    traces = [LabelledTrace(row["completion"], tuple((s["start"], s["end"], HABIT.get(s["text"], s["label"]))
                                                     for s in row["sentences"])) for row in sheet]
    save_model(fit_detector(traces), root / "ledger.json")
    return root / "ledger.json"


def test_a_run_traces_its_samples_with_the_fitted_model_and_resumes_only_with_it(tmp_path, ledger_model):
    import shutil

    ledger_model = shutil.copy(ledger_model, tmp_path / "ledger.json")  # this test rewrites it at the end
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": f"q{k}", "problem": f"{a} times {b}?", "answer": a * b})
                                              + "\n" for k, (a, b) in enumerate([(17, 3), (6, 11)])))
    (tmp_path / "t.yaml").write_text("name: products\ndataset: {local: p.jsonl}\nfields: {id: id}\nverifier: math\n")
    _write(tmp_path / "theirs.jsonl", [{"problem_id": f"q{k}", "sample": 0, "completion": _trace(a, b, "Multiply.")}
                                       for k, (a, b) in enumerate([(17, 3), (6, 11)])])
    base = ("run", "t.yaml", "--completions", "theirs.jsonl", "--no-progress")

    r = _evalkit(*base, "--out", "mine", "--reflection-model", str(ledger_model), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _acts(tmp_path / "mine" / "samples.jsonl") == [
        ("check", "Running the ledger again."), ("verdict", "Ledger balances."),
        ("doubt", "Wait, no, the problem asks for the product.")]
    config = json.loads((tmp_path / "mine" / "config.json").read_text())
    assert config["reflection_model"]["file"] == str(ledger_model) and config["reflection_model"]["trained_on"]["traces"] == 5
    page = next((tmp_path / "mine").glob("*.html")).read_text(encoding="utf-8")
    assert f"{ledger_model} (sha256 {config['reflection_model']['sha256'][:12]}; fitted on 5 traces" in page
    # Analysing the run directory again reads it with the model it was made with, unless told otherwise.
    r = _evalkit("analyze", "mine", "--verifier", "none", "--out", "again.jsonl", cwd=tmp_path)
    assert r.returncode == 0 and f"the run's reflection model: {ledger_model}" in r.stderr, r.stderr
    assert _acts(tmp_path / "again.jsonl") == _acts(tmp_path / "mine" / "samples.jsonl")
    r = _evalkit("analyze", "mine/samples.jsonl", "--verifier", "none", "--out", "again2.jsonl", cwd=tmp_path)
    assert r.returncode == 0 and f"the run's reflection model: {ledger_model}" in r.stderr, r.stderr
    assert _acts(tmp_path / "again2.jsonl") == _acts(tmp_path / "mine" / "samples.jsonl")
    r = _evalkit("analyze", "mine", "--verifier", "none", "--detector", "rules", cwd=tmp_path)
    assert r.returncode == 0 and "reflection model" not in r.stderr, r.stderr  # the rules read no model
    r = _evalkit("analyze", "mine", "--verifier", "none", "--out", "shipped.jsonl", "--reflection-model", "shipped",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _acts(tmp_path / "shipped.jsonl") == [("doubt", "Wait, no, the problem asks for the product.")]

    # The same run without the model is another run: the shipped weights miss the habit.
    r = _evalkit(*base, "--out", "plain", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _acts(tmp_path / "plain" / "samples.jsonl") == [("doubt", "Wait, no, the problem asks for the product.")]
    r = _evalkit(*base, "--out", "plain", "--reflection-model", "shipped", cwd=tmp_path)  # the same detector
    assert r.returncode == 0 and "0 samples new, 2 reused" in r.stdout, r.stderr

    # A resume keeps one detector for all its samples: without the model it is refused, with it it resumes.
    r = _evalkit(*base, "--out", "mine", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"this run was made with --reflection-model {ledger_model}" in r.stderr, r.stderr
    r = _evalkit(*base, "--out", "mine", "--reflection-model", str(ledger_model), cwd=tmp_path)
    assert r.returncode == 0 and "0 samples new, 2 reused" in r.stdout, r.stderr
    # A resume that changes more than the model is told about all of it, as any other run.
    r = _evalkit(*base, "--out", "mine", "--temperature", "0.3", cwd=tmp_path)
    assert r.returncode == 2 and "holds a run with other settings" in r.stderr and "reflection_model" in r.stderr

    # A file that is not a model stops the run before anything is written.
    (tmp_path / "notes.json").write_text('{"weights": []}')
    r = _evalkit(*base, "--out", "bad", "--reflection-model", "notes.json", cwd=tmp_path)
    assert r.returncode == 2 and "notes.json: not a reflection model evalkit can read" in r.stderr
    assert not (tmp_path / "bad").exists()
    (tmp_path / "list.json").write_text("[]")
    r = _evalkit(*base, "--out", "bad", "--reflection-model", "list.json", cwd=tmp_path)
    assert r.returncode == 2 and "list.json: not a reflection model" in r.stderr and "Traceback" not in r.stderr

    # The run's model file rewritten (a new fit) or gone: re-analysing the run would read other acts
    # than its samples hold, so it is refused, naming the run and the file.
    from evalkit.trace._model import MODEL_PATH

    recorded = json.loads((tmp_path / "mine" / "config.json").read_text())["reflection_model"]["sha256"]
    shutil.copy(MODEL_PATH, ledger_model)
    r = _evalkit("analyze", "mine", "--verifier", "none", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"mine: the run was traced with reflection model {ledger_model} (sha256 {recorded[:12]})" in r.stderr
    assert "that file has changed since" in r.stderr and "--reflection-model shipped" in r.stderr
    (tmp_path / "ledger.json").unlink()
    r = _evalkit("label-sheet", "mine", "--out", "sheet.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and "which cannot be read now" in r.stderr and not (tmp_path / "sheet.jsonl").exists()
    r = _evalkit("analyze", "mine", "--verifier", "none", "--reflection-model", "shipped", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_a_model_file_rewritten_by_a_new_fit_is_read_anew_and_a_run_records_the_one_it_used(tmp_path, ledger_model):
    import shutil

    from evalkit import evaluate
    from evalkit.trace._model import MODEL_PATH

    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "q0", "problem": "17 times 3?", "answer": 51}) + "\n")
    (tmp_path / "t.yaml").write_text("name: products\ndataset: {local: p.jsonl}\nfields: {id: id}\nverifier: math\n")
    _write(tmp_path / "theirs.jsonl", [{"problem_id": "q0", "sample": 0, "completion": _trace(17, 3, "Multiply.")}])
    path = tmp_path / "m.json"

    def run(out: str) -> tuple[str, list[tuple[str, str]]]:
        evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "theirs.jsonl", out=tmp_path / out,
                 progress=False, reflection_model=path)
        return json.loads((tmp_path / out / "config.json").read_text())["reflection_model"]["sha256"], \
            _acts(tmp_path / out / "samples.jsonl")

    # In one process (a notebook refitting between evaluations): each run reads the file as it is then.
    shutil.copy(ledger_model, path)
    first = run("first")
    assert first[1] == [("check", "Running the ledger again."), ("verdict", "Ledger balances."),
                        ("doubt", "Wait, no, the problem asks for the product.")]
    shutil.copy(MODEL_PATH, path)
    second = run("second")
    assert second[0] != first[0]
    assert second[1] == [("doubt", "Wait, no, the problem asks for the product.")]
    # A run records a file and its sha256: a model read in Python is refused, saying so.
    from evalkit.trace import load_model

    with pytest.raises(InputError, match="reflection_model: give the model's file"):
        evaluate([str(tmp_path / "t.yaml")], completions=tmp_path / "theirs.jsonl", out=tmp_path / "third",
                 progress=False, reflection_model=load_model(path))
    assert not (tmp_path / "third").exists()


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_worker_processes_read_with_the_model_the_call_was_given(ledger_model, monkeypatch, start):
    import multiprocessing

    from evalkit.trace import analyze_many, load_model

    if start not in multiprocessing.get_all_start_methods():
        pytest.skip(f"this platform cannot start processes by {start}")
    # analyze_many uses fork where it can; left only `spawn`, it takes the other branch (macOS, Windows)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: [start])
    texts = [_trace(a, b, "Multiply.") for a, b in [(17, 3), (6, 11), (4, 9), (12, 12)]]

    def acts(**kw) -> list[list[str]]:
        return [[m.kind for m in s.markers] for s in analyze_many(texts, verifier=None, **kw)]

    mine = acts(reflection_model=ledger_model)
    assert mine == [["check", "verdict", "doubt"]] * 4
    assert acts(reflection_model=ledger_model, workers=2) == mine
    assert acts(reflection_model=load_model(ledger_model), workers=2) == mine
    assert acts(workers=2) == [["doubt"]] * 4  # the shipped weights, in the workers too


def test_a_samples_file_beside_another_tool_s_config_is_a_plain_file(tmp_path):
    (tmp_path / "theirs").mkdir()
    _write(tmp_path / "theirs" / "samples.jsonl", [{"completion": _trace(17, 3, "Multiply.")}])
    (tmp_path / "theirs" / "config.json").write_text('// harness settings\n{"model": "x"}\n')
    r = _evalkit("analyze", "theirs/samples.jsonl", "--verifier", "none", "--out", "out.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _acts(tmp_path / "out.jsonl") == [("doubt", "Wait, no, the problem asks for the product.")]


def test_a_model_fitted_with_a_user_s_rows_weighs_them_and_carries_them(tmp_path):
    from evalkit.trace import load_rules

    # The user's row is broad: "ledger" fires on the re-check and its verdict, and on a plain statement.
    (tmp_path / "rows.yaml").write_text('- {name: ledger, kind: check, pattern: "ledger", at: any}\n')
    table = load_rules(tmp_path / "rows.yaml")

    def trace(a: int, b: int) -> str:
        return _trace(a, b, f"The ledger holds {a} and {b}.")

    _write(tmp_path / "mine.jsonl", [{"completion": trace(a, b)} for a, b in [(3, 4), (5, 9), (12, 7), (8, 8), (21, 4)]])
    r = _evalkit("label-sheet", "mine.jsonl", "--out", "sheet.jsonl", "--rules", "rows.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sheet = [json.loads(line) for line in (tmp_path / "sheet.jsonl").read_text().splitlines()]
    # Read literally, the row makes every ledger sentence a check, the statement too.
    labels = {s["text"]: s["label"] for s in sheet[0]["sentences"]}
    assert labels["The ledger holds 3 and 4."] == labels["Running the ledger again."] == "check"
    for row in sheet:
        for s in row["sentences"]:
            s["label"] = HABIT.get(s["text"], "other" if s["text"].startswith("The ledger") else s["label"])
    _write(tmp_path / "sheet.jsonl", sheet)

    r = _evalkit("fit-detector", "sheet.jsonl", "--out", "ledger.json", "--rules", "rows.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "it carries 1 rule row of your own (ledger)" in r.stdout
    assert [row["name"] for row in json.loads((tmp_path / "ledger.json").read_text())["rules"]] == ["ledger"]

    new = trace(17, 3)
    doubt = ("doubt", "Wait, no, the problem asks for the product.")

    def acts(**kw) -> list[tuple[str, str]]:
        return [(m.kind, new[m.start:m.end]) for m in analyze(new, verifier=None, **kw).markers]

    # The shipped weights leave the user's row to the table: every sentence it fires on is a check.
    assert acts(rules=table) == [("check", "The ledger holds 17 and 3."), ("check", "Running the ledger again."),
                                 ("check", "Ledger balances."), doubt]
    # The fitted model reads the row as one feature among others, and brings it along unasked.
    assert acts(reflection_model=tmp_path / "ledger.json") == [
        ("check", "Running the ledger again."), ("verdict", "Ledger balances."), doubt]


def test_a_model_fitted_with_a_user_s_rows_alone_reads_traces_without_the_built_in_table(tmp_path):
    from evalkit.trace import label_sheet, load_rules, read_labelled, save_model

    (tmp_path / "rows.yaml").write_text('- {name: ledger, kind: check, pattern: "ledger", at: any}\n')
    alone = load_rules(tmp_path / "rows.yaml", extend=False)
    sheet = label_sheet([{"completion": _trace(a, b, f"We need {a} and {b}.")} for a, b in [(3, 4), (5, 9), (12, 7)]],
                        rules=alone)
    for row in sheet:
        for s in row["sentences"]:
            s["label"] = HABIT.get(s["text"], s["label"])
    _write(tmp_path / "sheet.jsonl", sheet)
    save_model(fit_detector(read_labelled(tmp_path / "sheet.jsonl"), rules=alone), tmp_path / "alone.json")
    assert json.loads((tmp_path / "alone.json").read_text())["builtin_rules"] is False

    new = _trace(17, 3, "Multiply 17 and 3.")

    def acts(**kw) -> list[tuple[str, str, str]]:
        return [(m.kind, m.rule, new[m.start:m.end]) for m in analyze(new, verifier=None, **kw).markers]

    # The file alone reads the trace with the table it was fitted with: the ledger row and no built-in
    # row, so the doubt is the model's own find, not the built-in `wait_no` row's.
    read = acts(reflection_model=tmp_path / "alone.json")
    assert read == acts(reflection_model=tmp_path / "alone.json", rules=alone)
    assert ("check", "ledger", "Running the ledger again.") in read
    assert ("doubt", "model", "Wait, no, the problem asks for the product.") in read
    assert ("doubt", "wait_no", "Wait, no, the problem asks for the product.") in acts(
        reflection_model=tmp_path / "alone.json", rules=load_rules(tmp_path / "rows.yaml"))


def test_a_model_file_with_a_malformed_row_is_refused(tmp_path):
    from evalkit.trace._model import MODEL_PATH

    data = json.loads(MODEL_PATH.read_text())
    data["rules"] = [{"name": "x", "kind": "check", "pattern": "(unclosed"}]
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match=r"m.json: not a reflection model .*field 'rules', row 1: field 'pattern'"):
        analyze("<think>Wait, no.</think>", verifier=None, reflection_model=tmp_path / "m.json")
    data = json.loads(MODEL_PATH.read_text())
    data["features"][0] = 1  # a feature name that is no string
    (tmp_path / "n.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"n.json: not a reflection model evalkit can read"):
        analyze("<think>Wait, no.</think>", verifier=None, reflection_model=tmp_path / "n.json")


@pytest.mark.parametrize("field, value, says", [
    ("rules", [{"name": "x", "kind": "doubt", "pattern": "(a+)+$"}], "field 'pattern' repeats a group that repeats"),
    ("rules", [{"name": "x", "kind": "doubt", "pattern": ".*"}], "field 'pattern' matches the empty text"),
    ("bias", [0, 0], "field 'bias': expected 4 numbers"),
    ("threshold", 5, "field 'threshold': expected a probability from 0 to 1"),
    ("threshold", -1, "field 'threshold': expected a probability from 0 to 1"),
])
def test_a_model_file_that_would_hang_or_misread_the_analysis_is_refused(tmp_path, field, value, says):
    # (a+)+$ carried in a model file hung `analyze` (the same row in YAML is refused); a bias of 2 was a numpy
    # traceback; threshold 5 made no act at all, -1 every sentence one
    from evalkit.trace._model import MODEL_PATH

    data = json.loads(MODEL_PATH.read_text())
    data[field] = value
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=rf"m.json: not a reflection model evalkit can read .*{re.escape(says)}"):
        analyze("<think>" + "a" * 40 + "b. Wait, wrong.</think> 1", verifier=None, reflection_model=tmp_path / "m.json")


def test_cross_validation_says_when_a_fit_is_not_worth_using(tmp_path):
    # Sheets that only repeat the shipped detector's guesses teach it nothing it can use on unseen traces.
    from evalkit.trace import label_sheet

    rows = [{"completion": _trace(a, b, f"We need {a} and {b}.")} for a, b in [(3, 4), (5, 9), (12, 7), (8, 8)]]
    _write(tmp_path / "sheet.jsonl", label_sheet(rows))
    r = _evalkit("fit-detector", "sheet.jsonl", "--out", "same.json", "--cv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "leave one trace out (4 traces)" in r.stdout
    assert "the fit reads unseen traces no better: keep the shipped weights, or label more traces" in r.stdout
    # The same figures at other thresholds: at the shipped one they are the figures above.
    from evalkit.trace import read_labelled
    from evalkit.trace._fit import cross_validate
    from evalkit.trace._model import load_model

    held = cross_validate(read_labelled(tmp_path / "sheet.jsonl"), thresholds=[0.05, load_model().threshold, 0.95])
    at = {row["threshold"]: row for row in held["by_threshold"]}
    assert at[load_model().threshold] == {"threshold": load_model().threshold, "fitted": held["fitted"]["f1"],
                                          "base": held["base"]["f1"]}
    assert set(at) == {0.05, load_model().threshold, 0.95}
    # One trace cannot be held out.
    _write(tmp_path / "one.jsonl", label_sheet(rows[:1]))
    r = _evalkit("fit-detector", "one.jsonl", "--out", "one.json", "--cv", cwd=tmp_path)
    assert r.returncode == 2 and "--cv holds out one trace at a time: it needs two traces at least" in r.stderr
    assert not (tmp_path / "one.json").exists()
    # Nor can two, when one of them has no labelled sentence: refused before the model is written.
    two = label_sheet(rows[:2])
    two[1]["sentences"] = []
    _write(tmp_path / "two.jsonl", two)
    r = _evalkit("fit-detector", "two.jsonl", "--out", "two.json", "--cv", cwd=tmp_path)
    assert r.returncode == 2 and "needs two traces with labelled sentences" in r.stderr, r.stderr
    assert not (tmp_path / "two.json").exists() and "wrote" not in r.stdout


def _small_run(tmp_path) -> None:
    """`tmp_path/run`: a replay run of two products, made in tmp_path."""
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": f"q{k}", "problem": f"{a} times {b}?", "answer": a * b})
                                              + "\n" for k, (a, b) in enumerate([(17, 3), (6, 11)])))
    (tmp_path / "t.yaml").write_text("name: products\ndataset: {local: p.jsonl}\nfields: {id: id}\nverifier: math\n")
    _write(tmp_path / "theirs.jsonl", [{"problem_id": f"q{k}", "sample": 0, "completion": _trace(a, b, "Multiply.")}
                                       for k, (a, b) in enumerate([(17, 3), (6, 11)])])
    r = _evalkit("run", "t.yaml", "--completions", "theirs.jsonl", "--no-progress", "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_label_sheet_and_fit_detector_never_write_over_what_they_read(tmp_path):
    _small_run(tmp_path)
    r = _evalkit("label-sheet", "run", "--out", "sheet.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "rows.yaml").write_text("- {name: ledger, kind: check, pattern: 'Running the ledger again'}\n")
    files = ["run/samples.jsonl", "run/results.json", "run/config.json", "theirs.jsonl", "sheet.jsonl", "rows.yaml"]
    before = {name: (tmp_path / name).read_bytes() for name in files}
    for args, says in ((("label-sheet", "run", "--out", "run/samples.jsonl"), "is the run's samples"),
                       (("label-sheet", "run/samples.jsonl", "--out", "run/results.json"), "is the run's results"),
                       (("label-sheet", "run", "--out", "theirs.jsonl"), "is the run's replay file"),
                       (("label-sheet", "run", "--out", "rows.yaml", "--rules", "rows.yaml"), "is the --rules file"),
                       (("analyze", "run", "--out", "run/config.json"), "is the run's config"),
                       (("fit-detector", "sheet.jsonl", "--out", "sheet.jsonl"), "is the input file"),
                       (("fit-detector", "sheet.jsonl", "--out", "rows.yaml", "--rules", "rows.yaml"),
                        "is the --rules file")):
        r = _evalkit(*args, cwd=tmp_path)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
        assert r.stderr.startswith("evalkit: error: --out ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert {name: (tmp_path / name).read_bytes() for name in files} == before


def test_a_sheet_with_no_reflective_label_is_refused_not_fitted(tmp_path):
    # a --blank sheet fitted before anyone labelled it wrote a detector that found 95% less reflection, exit 0
    _small_run(tmp_path)
    r = _evalkit("label-sheet", "run", "--blank", "--out", "blank.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for extra in ((), ("--cv",)):
        r = _evalkit("fit-detector", "blank.jsonl", "--out", "det.json", *extra, cwd=tmp_path)
        assert r.returncode == 2 and "labelled sentences is other, none doubt, check or verdict" in r.stderr, r.stderr
        assert not (tmp_path / "det.json").exists()
    r = _evalkit("label-sheet", "run", "--out", "guessed.jsonl", cwd=tmp_path)  # the detector's guesses: some acts
    assert _evalkit("fit-detector", "guessed.jsonl", "--out", "det.json", cwd=tmp_path).returncode == 0
    # the mirror case: a sheet that labels only its reflective sentences fitted a detector marking 3x the acts,
    # and --cv, scoring on such sheets, said F1 1.000
    rows = [json.loads(line) for line in (tmp_path / "guessed.jsonl").read_text().splitlines()]
    _write(tmp_path / "acts.jsonl", [{**row, "sentences": [s for s in row["sentences"] if s["label"] != "other"]}
                                     for row in rows])
    for extra in ((), ("--cv",)):
        r = _evalkit("fit-detector", "acts.jsonl", "--out", "det2.json", *extra, cwd=tmp_path)
        assert r.returncode == 2 and "none of the" in r.stderr and "labelled sentences is other" in r.stderr, r.stderr
        assert not (tmp_path / "det2.json").exists()


def test_cross_validation_over_many_traces_holds_out_folds_and_says_how_far_it_is(tmp_path, monkeypatch):
    # a hundred traces were a hundred fits: the README's command ran for over ten minutes, silent. Past
    # LEAVE_ONE_OUT_UP_TO traces (20; 3 here, to keep the test short) they are held out in FOLDS groups
    from click.testing import CliRunner

    import evalkit.trace._fit as fit
    from evalkit.cli import main
    from evalkit.trace import label_sheet

    monkeypatch.setattr(fit, "LEAVE_ONE_OUT_UP_TO", 3)
    monkeypatch.setattr(fit, "FOLDS", 2)
    rows = [{"completion": _trace(a, a + 1, f"We need {a} and {a + 1}.")} for a in range(5)]
    _write(tmp_path / "sheet.jsonl", label_sheet(rows))
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["fit-detector", "sheet.jsonl", "--out", "m.json", "--cv"])
    assert r.exit_code == 0, r.stderr
    assert "2 folds of whole traces (5 traces)" in r.stdout
    assert "evalkit: --cv: 2 of 2 held-out fits done" in r.stderr


def test_cross_validation_holds_out_copies_of_a_trace_together_and_refuses_a_sheet_given_twice(tmp_path, monkeypatch):
    # a repeated trace was held out alone, its copy left in the fit: --cv scored it as if unseen
    from click.testing import CliRunner

    from evalkit.cli import main
    from evalkit.trace import label_sheet, read_labelled
    from evalkit.trace._fit import cross_validate

    rows = [{"completion": _trace(a, a + 2, f"We need {a} and {a + 2}.")} for a in (3, 5, 8)]
    sheet = label_sheet(rows)
    _write(tmp_path / "sheet.jsonl", [*sheet, sheet[0]])
    held = cross_validate(read_labelled(tmp_path / "sheet.jsonl"))
    assert (held["traces"], held["distinct"], held["folds"]) == (4, 3, 3)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["fit-detector", "sheet.jsonl", "--out", "m.json", "--cv"])
    assert r.exit_code == 0, r.stderr
    assert "leave one trace out (4 traces; 1 repeating another one, held out with it): F1" in r.stdout
    # the same sheet twice (by another name) is refused before any fit, as is --base with --from-scratch
    r = CliRunner().invoke(main, ["fit-detector", "sheet.jsonl", "./sheet.jsonl", "--out", "twice.json", "--cv"])
    assert r.exit_code == 2 and "the sheet ./sheet.jsonl is given twice (first as sheet.jsonl)" in r.stderr
    # a renamed copy of it was fitted, its traces counted twice
    (tmp_path / "copy.jsonl").write_bytes((tmp_path / "sheet.jsonl").read_bytes())
    r = CliRunner().invoke(main, ["fit-detector", "sheet.jsonl", "copy.jsonl", "--out", "twice.json"])
    assert r.exit_code == 2 and "the sheets sheet.jsonl and copy.jsonl are the same, byte for byte" in r.stderr
    r = CliRunner().invoke(main, ["fit-detector", "sheet.jsonl", "--out", "new.json", "--from-scratch",
                                  "--base", "m.json"])
    assert r.exit_code == 2 and "--base m.json and --from-scratch exclude each other" in r.stderr
    assert not (tmp_path / "twice.json").exists() and not (tmp_path / "new.json").exists()


def test_the_rules_detector_refuses_a_reflection_model_rather_than_ignore_it(tmp_path):
    # it printed the rules' output, exit 0: a user believed they had analysed with their fitted model
    (tmp_path / "one.jsonl").write_text(DEMO.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    proc = _evalkit("analyze", "one.jsonl", "--verifier", "none", "--detector", "rules",
                    "--reflection-model", "my_detector.json", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--reflection-model my_detector.json: the rules detector reads the rule table alone" in proc.stderr


def test_a_model_says_how_many_traces_it_learned_from_not_how_many_lines_the_sheet_had(tmp_path):
    # four lines, two of them with no labelled sentence: the model file (and every run's config.json
    # through it) said 4 traces where --cv, on the same sheet, said 2
    lines = DEMO.read_text(encoding="utf-8").splitlines()[:4]
    (tmp_path / "four.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _evalkit("label-sheet", "four.jsonl", "--out", "sheet.jsonl", cwd=tmp_path).returncode == 0
    rows = [json.loads(line) for line in (tmp_path / "sheet.jsonl").read_text(encoding="utf-8").splitlines()]
    rows[1]["sentences"] = rows[3]["sentences"] = []
    _write(tmp_path / "sheet.jsonl", rows)
    fit = _evalkit("fit-detector", "sheet.jsonl", "--out", "model.json", "--cv", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert " of 2 traces (" in fit.stdout
    assert json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))["trained_on"]["traces"] == 2


def test_options_that_would_change_nothing_or_write_what_no_reader_takes_are_refused(tmp_path):
    # `--blank` with a detector of one's own, `--c inf` (written to the model as `Infinity`, which strict JSON
    # readers refuse), a directory for a sheet (it said "file not found"): each was taken, or unclear
    _write(tmp_path / "traces.jsonl", [{"completion": _trace(2, 3, "Let me see.")}])
    (tmp_path / "rows.yaml").write_text("- {name: ledger, kind: check, pattern: 'Running the ledger again'}\n")
    r = _evalkit("label-sheet", "traces.jsonl", "--out", "sheet.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for args, says in ((("label-sheet", "traces.jsonl", "--blank", "--rules", "rows.yaml", "--out", "b.jsonl"),
                        "--blank labels every sentence other: --rules would change nothing"),
                       (("label-sheet", "traces.jsonl", "--blank", "--reflection-model", "shipped", "--out", "b.jsonl"),
                        "--reflection-model would change nothing"),
                       (("fit-detector", "sheet.jsonl", "--c", "inf", "--out", "det.json"),
                        "--c must be a positive number, got inf"),
                       (("fit-detector", ".", "--out", "det.json"), ".: a directory, not a JSONL file")):
        r = _evalkit(*args, cwd=tmp_path)
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert not (tmp_path / "b.jsonl").exists() and not (tmp_path / "det.json").exists()


def test_label_sheet_warns_once_of_a_think_format_unlike_the_traces(tmp_path):
    _write(tmp_path / "traces.jsonl", [{"completion": _trace(a, 3, "Let me see.")} for a in range(2, 6)])
    r = _evalkit("label-sheet", "traces.jsonl", "--think-format", "none", "--out", "sheet.jsonl", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr.count("--think-format none: it reads no thinking") == 1, r.stderr
