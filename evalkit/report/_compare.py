"""Comparing runs: metrics side by side, paired bootstrap over shared problems, and the flips."""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from evalkit.metrics import BOOTSTRAP_SAMPLES, paired_bootstrap_ci, paired_sign_flip_p
from evalkit.report import charts as _charts
from evalkit.report._page import metric_cell, metric_names, stability_names, stop_text, task_window
from evalkit.report._run import RunData, entry_budget, headline_samples
from evalkit.table import coverage_note
from evalkit.taskspec import without_secrets

N_BOOT = BOOTSTRAP_SAMPLES
SOLVED_AT = 0.5  # a problem counts as solved when at least half its judged samples are correct
# below this many shared problems the bootstrap's interval is too coarse to call a difference (one problem
# gives a zero-width interval): the verdict says so instead
MIN_SHARED = 5
ALPHA = 0.05  # the sign-flip test's level for calling a difference real


@dataclass(frozen=True)
class System:
    """One (run, model) on one task: its results entry and its per-problem outcomes."""

    label: str
    run: RunData
    model: str
    entry: dict
    solved: dict[str, float]  # problem id -> fraction of judged samples correct
    judged: dict[str, int]  # problem id -> judged samples
    first: dict[tuple[str, bool], int]  # (problem id, correct) -> first such sample index


def sample_anchor(task, model, problem_id, sample, budget=None) -> str:
    """The URL fragment that opens one sample in a run's page (app.js reads it, and writes the same);
    a budget sweep's sample names its budget, else the page opens the first budget's."""
    keys = (task, model, problem_id, sample) + (() if budget is None else (budget,))
    return "sample=" + "|".join(quote(str(x), safe="") for x in keys)


def paired_bootstrap(a: list[float], b: list[float]):
    """Mean of b - a over paired problems and its 95% CI (evalkit.metrics); Nones when none are shared."""
    if not a:
        return None, None, None
    return paired_bootstrap_ci(a, b, samples=N_BOOT, seed=0)


def run_labels(runs: list[RunData]) -> list[str]:
    """One label per run: its directory's name, with as many parent folders as tell apart runs whose
    directories share a name (`a/demo`, `b/demo`); a directory given twice gets `#2`, `#3`."""
    parts = [run.path.resolve().parts[1:] or (str(run.path),) for run in runs]
    depth = [1] * len(runs)
    while True:
        labels = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        clash = [i for i, label in enumerate(labels) if depth[i] < len(parts[i]) and any(
            labels[j] == label and parts[j] != parts[i] for j in range(len(runs)))]
        if not clash:
            break
        for i in clash:
            depth[i] += 1
    seen: dict[str, int] = defaultdict(int)
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return out


def _systems(runs: list[RunData], titles: list[str]) -> dict[str, list[System]]:
    by_task: dict[str, list[System]] = defaultdict(list)
    for run, title in zip(runs, titles):
        models = {str(e.get("model")) for e in run.results}
        for entry in run.results:
            task, model = str(entry.get("task")), str(entry.get("model"))
            # the samples its figures count: a budget sweep's other budgets would pull the comparison
            # away from the headline it sits beside
            recs = headline_samples(entry, run.samples)
            per: dict[str, list[bool]] = defaultdict(list)
            first: dict[tuple[str, bool], int] = {}
            for i, s in recs:
                if s.get("correct") is None:
                    continue
                pid, ok = str(s.get("problem_id")), bool(s["correct"])
                per[pid].append(ok)
                first.setdefault((pid, ok), i)
            label = title if len(models) == 1 else f"{title} · {model}"
            by_task[task].append(System(label, run, model, entry, solved={p: sum(v) / len(v) for p, v in per.items()},
                                        judged={p: len(v) for p, v in per.items()}, first=first))
    return by_task


def _link(system: System, out_dir: Path, pid: str, correct: bool) -> str | None:
    i = system.first.get((pid, correct))
    if i is None:
        i = system.first.get((pid, not correct))
    if i is None:
        return None
    s = system.run.samples[i]
    anchor = sample_anchor(s.get("task"), s.get("model"), s.get("problem_id"), s.get("sample"), s.get("budget"))
    return f"{_page_href(system.run, out_dir)}#{anchor}"


def _page_href(run: RunData, out_dir: Path) -> str:
    """The URL of a run's index.html from `out_dir`. A directory name that is not UTF-8 (Python holds its odd
    bytes as surrogates) is quoted byte for byte, `%FE`, which the browser reads back as that file's name."""
    page = os.path.relpath(run.path / "index.html", out_dir).replace(os.sep, "/")
    return quote(page, errors="surrogateescape")


def _public(options: Any) -> Any:
    """A run's recorded verifier options without a judge's api_key (runs made before evalkit left it out hold one)."""
    return without_secrets(options) if isinstance(options, dict) else options or {}


def baselines(systems: list[System]) -> list[int | None]:
    """Each system's baseline, as an index into `systems`: the same model in the first run that has the
    task (a system of that run is its own), or, where that run and the system's each hold one model, the
    one of that run (a run of one model against a run of another). None when the baseline run lacks the
    model: a delta from another model of that run would be a difference of models, not of runs."""
    base_run = systems[0].run
    in_base = [i for i, s in enumerate(systems) if s.run is base_run]
    out = []
    for i, s in enumerate(systems):
        same = [j for j in in_base if systems[j].model == s.model]
        alone = len(in_base) == 1 and sum(o.run is s.run for o in systems) == 1
        out.append(i if s.run is base_run else same[0] if same else in_base[0] if alone else None)
    return out


def build(runs: list[RunData], out: Path) -> dict:
    """Everything the compare template needs: one section per task."""
    titles = run_labels(runs)
    sections = []
    for task, systems in _systems(runs, titles).items():
        entries = [s.entry for s in systems]
        names = metric_names(entries)
        # G-Pass@k and mG-Pass@k (the run page's Stability table) follow, compared as the other figures are
        stable = stability_names(entries)
        bases = baselines(systems)
        # the thinking budget each system's figures are of: a sweep's largest, None for a run without budgets
        budgets = [entry_budget(s.entry) for s in systems]
        # the systems measured from a baseline: those of the other runs
        others = [i for i, s in enumerate(systems) if s.run is not systems[0].run]
        # a figure over other problems than its baseline's (another --limit, problems unjudged in one run, a
        # metric covering fewer): its delta is shown apart, uncoloured and marked, beside a note; the paired
        # bootstrap below compares the problems both share
        # (a run of results.json alone has no problems to compare: its count, results.json's n_problems, is compared)
        different = [i for i in others if bases[i] is not None and (
            systems[i].entry.get("n_problems") != systems[bases[i]].entry.get("n_problems")
            if systems[i].run.no_samples or systems[bases[i]].run.no_samples
            else set(systems[i].solved) != set(systems[bases[i]].solved))]
        rows = []
        for name in names + stable:
            cells = [metric_cell((s.entry.get("metrics") or {}).get(name), s.entry.get("n_problems")) for s in systems]
            deltas = [None if i not in others or bases[i] is None or cells[i] is None or cells[bases[i]] is None
                      else cells[i]["value"] - cells[bases[i]]["value"] for i in range(len(systems))]
            # a figure over k samples covers the problems with k judged: two runs may cover as many problems as
            # each other, but others (sample 0 unjudged on problems 60-79 in one, 0-19 in the other)
            apart = [d is not None and (i in different or cells[i]["subset"] != cells[bases[i]]["subset"]
                                        or bool(cells[i]["subset"] or cells[bases[i]]["subset"])
                                        and not (systems[i].run.no_samples or systems[bases[i]].run.no_samples)
                                        and _covered(systems[i], name) != _covered(systems[bases[i]], name))
                     for i, d in enumerate(deltas)]
            rows.append({"name": name, "cells": cells, "deltas": deltas, "apart": apart, "stability": name in stable})
        paired, flips = [], []
        for i in others:
            if bases[i] is None:
                continue
            other, base = systems[i], systems[bases[i]]
            if other.run.no_samples or base.run.no_samples:  # no problems to pair (said in its note)
                continue
            shared = sorted(set(base.solved) & set(other.solved))
            a, b = [base.solved[p] for p in shared], [other.solved[p] for p in shared]
            mean, lo, hi = paired_bootstrap(a, b)
            p_value = paired_sign_flip_p(a, b) if shared else None
            excludes = lo is not None and (lo > 0 or hi < 0)
            # at other budgets a real difference may be the budgets' rather than the runs'
            budget_pair = None if str(budgets[i]) == str(budgets[bases[i]]) else {
                "base": _budget_text(budgets[bases[i]]), "other": _budget_text(budgets[i])}
            # real: the interval excludes 0 and the sign-flip test agrees (the bootstrap alone is too eager on few
            # problems: five problems that all flip one way give a CI of +50 to +100 pts, p = 0.06)
            paired.append({"label": other.label, "n_shared": len(shared), "delta": mean, "lo": lo, "hi": hi,
                           "few": 0 < len(shared) < MIN_SHARED, "p": p_value, "excludes": excludes,
                           "real": excludes and len(shared) >= MIN_SHARED and p_value < ALPHA,
                           "budgets": budget_pair})
            for p in shared:
                a_ok, b_ok = base.solved[p] >= SOLVED_AT, other.solved[p] >= SOLVED_AT
                if a_ok != b_ok:
                    flips.append({"problem_id": p, "a_label": base.label, "b_label": other.label,
                                  "a": base.solved[p], "b": other.solved[p],
                                  "winner": base.label if a_ok else other.label,
                                  "a_link": _link(base, out.parent, p, a_ok),
                                  "b_link": _link(other, out.parent, p, b_ok)})
        base_labels = {systems[bases[i]].label for i in others if bases[i] is not None}
        chart = _charts.pass_at_k(entries, [s.label for s in systems])
        thinking = _charts.accuracy_vs_thinking(entries, [s.label for s in systems])
        # --since/--until pick the problems: runs with other windows score other problems
        windows = [_window(s.run, task) for s in systems]
        data_note = _data_note(task, [s.label for s in systems], [_spec(s.run, task) for s in systems],
                               [s.run.config for s in systems])
        in_runs = [titles[i] for i, r in enumerate(runs) if any(s.run is r for s in systems)]
        base_title = in_runs[0]  # the first run that has the task
        sections.append({"task": task, "labels": [s.label for s in systems], "rows": rows, "stability": bool(stable),
                         # per system: whether it gets a delta column, and the label of what it is measured from
                         "measured": [i in others for i in range(len(systems))],
                         "bases": [None if b is None else systems[b].label for b in bases],
                         # the one baseline every delta is from, else None (each model against its own)
                         "base_label": base_labels.pop() if len(base_labels) == 1 else None,
                         "base_run": base_title,
                         "no_base": [{"label": systems[i].label, "model": systems[i].model}
                                     for i in others if bases[i] is None],
                         "different": [{"label": systems[i].label, "base": systems[bases[i]].label,
                                        "n": len(systems[i].solved), "n_base": len(systems[bases[i]].solved),
                                        "shared": len(set(systems[i].solved) & set(systems[bases[i]].solved))}
                                       for i in different
                                       if not (systems[i].run.no_samples or systems[bases[i]].run.no_samples)],
                         # those of a run of results.json alone: their counts differ, which problems is unknown
                         "different_counts": [{"label": systems[i].label, "base": systems[bases[i]].label,
                                               "n": systems[i].entry.get("n_problems"),
                                               "n_base": systems[bases[i]].entry.get("n_problems")}
                                              for i in different
                                              if systems[i].run.no_samples or systems[bases[i]].run.no_samples],
                         "paired": paired, "flips": flips, "chart": chart, "thinking_chart": thinking,
                         "windows": windows if any(windows) else None,
                         "data_note": data_note,  # the runs read other data or checked otherwise
                         # per system, the budget its figures are of; None when no run of the task has budgets
                         "budgets": [_budget_text(b) for b in budgets] if any(b is not None for b in budgets) else None,
                         "budget_note": _budget_note(task, [s.label for s in systems], budgets),
                         "coverage_note": coverage_note(entries),  # why figures marked * cover fewer problems
                         # the first run has no results for this task: its deltas are from another run
                         "other_baseline": systems[0].run is not runs[0],
                         "only": base_title if len(in_runs) == 1 else None,
                         # figures made from samples.jsonl (no results.json entry, or a stale one): plain avg@n
                         "from_samples": [{"label": s.label, "why": s.entry["from_samples"],
                                           "stopped": stop_text(s.run.stopped)} for s in systems
                                          if s.entry.get("from_samples")],
                         # runs of results.json alone: their figures stand, none of their problems are paired
                         "no_samples": list(dict.fromkeys(titles[runs.index(s.run)] for s in systems
                                                          if s.run.no_samples)),
                         "counts": [{"n_problems": s.entry.get("n_problems"),
                                     "n_samples": s.entry.get("n_samples"),
                                     "n_unjudged": s.entry.get("n_unjudged")} for s in systems]})
    runs_info = [{"title": title, "model": r.config.get("model"),
                  "link": _page_href(r, out.parent)}
                 for r, title in zip(runs, titles)]
    return {"title": " vs ".join(titles), "sections": sections, "runs": runs_info, "min_shared": MIN_SHARED,
            "shared": any(not s["only"] for s in sections),
            "solved_at": SOLVED_AT, "n_boot": N_BOOT}


def _spec(run: RunData, task: str) -> dict:
    """config.json's record of `task` in `run` ({} where it has none)."""
    tasks = run.config.get("tasks")
    for spec in tasks if isinstance(tasks, list) else []:
        if isinstance(spec, dict) and spec.get("name") == task:
            return spec
    return {}


def _window(run: RunData, task: str) -> str | None:
    spec = _spec(run, task)
    return task_window(spec) if spec else None


def _covered(system: System, metric: str) -> set[str]:
    """The problems a figure of `system` covers: those with a judged sample, and for a figure over k samples
    (pass@k, maj@k, G-Pass@k) those with k."""
    k = re.search(r"@(\d+)", metric)
    least = int(k.group(1)) if k and not metric.startswith("avg@") else 1
    return {p for p, n in system.judged.items() if n >= least}


def _budget_text(budget: int | None) -> str:
    return "none" if budget is None else str(budget)


def _budget_note(task: str, labels: list[str], budgets: list[int | None]) -> str | None:
    """A warning where the runs of `task` are compared at other thinking budgets (a sweep's figures are its
    largest budget's; a run without budgets has none): their differences are then partly the budgets'."""
    if len({str(b) for b in budgets}) < 2:
        return None
    told = ", ".join(f"{label}: {_budget_text(b)}" for label, b in zip(labels, budgets))
    none = ", none: a run without budgets, its thinking not cut" if None in budgets else ""
    return (f"These runs of {task} are compared at other thinking budgets ({told}; a budget sweep is compared at "
            f"its largest budget{none}). The deltas, the paired test and the flips measure the budgets as much as "
            "the runs; each run's page gives a sweep's figures at every budget.")


def _data_note(task: str, labels: list[str], specs: list[dict], configs: list[dict]) -> str | None:
    """A warning where the runs of `task` read other data (dataset revision) or checked answers otherwise (another
    verifier, other verifier options, another judge, another think format): problems are paired by id, so the same
    id may then be another question, or the same answer another verdict."""
    values = {
        "dataset revisions": [spec.get("dataset_revision") for spec in specs],
        "verifiers": [spec.get("verifier") for spec in specs],
        # without a judge's api_key, which runs made before evalkit left it out had recorded
        "verifier options": [json.dumps(_public(spec.get("verifier_options")), sort_keys=True, default=str)
                             if spec else None for spec in specs],
        "judges": [json.dumps((c.get("identity") or {}).get("judge") or c.get("judge") or "none", sort_keys=True)
                   for c in configs],
        "think formats": [(c.get("think_format") or {}).get("name") if isinstance(c.get("think_format"), dict)
                          else None for c in configs],
    }
    parts = []
    for what, column in values.items():
        if len({str(v) for v in column if v is not None}) > 1:
            parts.append(f"{what} " + ", ".join(f"{label}: {v}" for label, v in zip(labels, column) if v is not None))
    if not parts:
        return None
    return (f"These runs of {task} differ in their {'; and '.join(parts)}. Problems are paired by id, so a shared "
            "id may be another question or be checked otherwise: the deltas, the paired test and the flips may "
            "not compare like with like.")
