"""What one run's page holds: the summary rows, the run's settings, the problem and sample tables
(as one compressed index) and the per-sample text (as compressed chunks, opened on demand)."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass

from evalkit.errors import InputError
from evalkit.report import charts as _charts
from evalkit.report._pack import pack, page_json
from evalkit.report._run import RunData, answer_spread, headline_samples, is_truncated
from evalkit.table import coverage_note
from evalkit.thinking import is_truncated as completion_truncated
from evalkit.thinking import split_think

CHUNK_BYTES = 512 * 1024  # raw JSON per chunk: opening a sample inflates at most this much
METRIC_ORDER = ["avg@n", "pass@1"]

# Marker kinds the trace analyzer emits; any other kind gets a colour from the spare list.
KIND_COLORS = {
    "doubt": "#ffcc80", "check": "#aed581", "verdict": "#90caf9",
    # kinds of earlier evalkit versions, still in older runs' samples
    "reflection": "#fff176", "verification": "#aed581", "hesitation": "#ffcc80",
    "backtracking": "#ef9a9a", "switch": "#90caf9", "aha": "#ce93d8",
}
SPARE_COLORS = ["#80cbc4", "#f48fb1", "#bcaaa4", "#b0bec5", "#e6ee9c", "#9fa8da"]


@dataclass(frozen=True)
class Blob:
    """A packed blob: the 7-bit text and the deflate byte count the browser needs to cut it."""

    text: str
    n_bytes: int


def json_for_script(obj) -> str:
    """JSON safe inside <script type="application/json"> ("<" escaped, so no "</script" or "<!--")."""
    return page_json(obj).replace("<", "\\u003c")


def _num(x):
    """x when it is a finite number (results.json may hold NaN for an empty group), else None."""
    try:
        ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    except OverflowError:  # a JSON integer of 400 digits
        return None
    return x if ok else None


_PASS_AT = re.compile(r"^pass@(\d+)$")
# G-Pass@k_τ and mG-Pass@k get their own table (one row per k), not a column each in the summary
_STABILITY = re.compile(r"^(?:G-Pass@(\d+)_([\d.]+)|mG-Pass@(\d+))$")


def metric_names(entries: list[dict]) -> list[str]:
    names: list[str] = []
    for e in entries:
        for name in (e.get("metrics") or {}):
            if name not in names and not _STABILITY.match(name):
                names.append(name)
    first = [n for n in METRIC_ORDER if n in names]
    return first + [n for n in names if n not in first]


def stability_names(entries: list[dict]) -> list[str]:
    """The G-Pass@k_τ and mG-Pass@k names the entries hold, as the run page's Stability table orders them:
    by k, then τ, mG-Pass@k after its k's G-Pass."""
    def order(name: str) -> tuple:
        hit = _STABILITY.match(name)
        return (int(hit.group(1) or hit.group(3)), hit.group(2) is None, float(hit.group(2) or 0))

    names = {name for e in entries for name in (e.get("metrics") or {}) if _STABILITY.match(name)}
    return sorted(names, key=order)


def metric_cell(m, n_problems=None) -> dict | None:
    """{value, lo, hi, subset} from a metric that is either a number or {value, ci_low, ci_high, n_problems}.

    n_problems: the problems of its row (results entry or budget); when the metric covers fewer
    (every figure leaves out problems with no judged sample; pass@k, maj@k and G-Pass@k also those
    with fewer than k), `subset` is (covered, n_problems), which the page marks with `*` as the
    terminal table does (evalkit.table.coverage_note says why).
    """
    if isinstance(m, dict):
        v = _num(m.get("value"))
        if v is None:
            return None
        covered = _num(m.get("n_problems"))
        total = _num(n_problems)
        subset = (int(covered), int(total)) if covered is not None and total is not None and covered < total else None
        return {"value": v, "lo": _num(m.get("ci_low")), "hi": _num(m.get("ci_high")), "subset": subset}
    v = _num(m)
    return None if v is None else {"value": v, "lo": None, "hi": None, "subset": None}


def summary_rows(entries: list[dict], names: list[str]) -> list[dict]:
    rows = []
    for e in entries:
        n = _num(e.get("n_samples")) or 0
        rows.append({
            "task": e.get("task"), "model": e.get("model"),
            "metrics": [metric_cell((e.get("metrics") or {}).get(name), e.get("n_problems")) for name in names],
            "n_problems": _num(e.get("n_problems")), "n_samples": _num(e.get("n_samples")),
            "n_unjudged": _num(e.get("n_unjudged")), "n_timeout": _num(e.get("n_timeout")),
            "n_truncated": _num(e.get("n_truncated")),
            "truncation_rate": (_num(e.get("n_truncated")) or 0) / n if n else None,
            "mean_completion_tokens": _num(e.get("mean_completion_tokens")),
            # a mean over some samples only says so ("of 1 sample"); a run before this count says nothing
            "tokens_of": _num(e.get("n_with_tokens")) if _num(e.get("n_with_tokens")) not in (None, n) else None,
            "from_samples": e.get("from_samples") or None,  # why: "missing" or "stale"
            "judge": e.get("judge") if isinstance(e.get("judge"), dict) else None,
        })
    return rows


def stability_rows(entries: list[dict]) -> tuple[list[str], list[dict]]:
    """The G-Pass@k table: its τ columns, and one row per (task, model, k) with a cell per τ and mG-Pass@k."""
    taus: list[str] = []
    rows: dict[tuple, dict] = {}
    for e in entries:
        for name, m in (e.get("metrics") or {}).items():
            hit = _STABILITY.match(name)
            if not hit:
                continue
            k = int(hit.group(1) or hit.group(3))
            row = rows.setdefault((e.get("task"), e.get("model"), k),
                                  {"task": e.get("task"), "model": e.get("model"), "k": k, "g": {}, "mg": None})
            if hit.group(2):
                row["g"][hit.group(2)] = metric_cell(m, e.get("n_problems"))
                if hit.group(2) not in taus:
                    taus.append(hit.group(2))
            else:
                row["mg"] = metric_cell(m, e.get("n_problems"))
    taus.sort(key=float)
    return taus, [{**r, "g": [r["g"].get(t) for t in taus]} for r in rows.values()]


def task_window(spec: dict) -> str | None:
    """A task's --since/--until window as config.json records it ("since=2025-01-01, until=…"),
    or None when the run took every problem. It is part of the run's identity."""
    window = spec.get("window") if isinstance(spec, dict) else None
    if not isinstance(window, dict):
        return None
    ends = [f"{k}={window[k]}" for k in ("since", "until") if window.get(k)]
    return ", ".join(ends) or None


def settings(config: dict, models: list[str] | None = None) -> list[tuple[str, str]]:
    """The run's identity as (label, text) rows: model, backend, sampling, tasks, versions, sandbox.

    models: the models the run's results and samples hold. Where they are not config.json's `model` alone (a
    replay whose records name their own: its `model` is the file's stem), the rows name them, and config.json's
    `model` is shown as what it is, the name of records that give none.
    """
    def flat(d) -> str:
        if isinstance(d, dict):
            if d and all(isinstance(v, dict) for v in d.values()):  # per task: {"demo": {...}}
                return "; ".join(f"{k}: {flat(v)}" for k, v in d.items())
            return ", ".join(f"{k}={v}" for k, v in d.items() if v is not None)
        if isinstance(d, list):
            return ", ".join(str(x) for x in d)
        return "" if d is None else str(d)

    rows = []
    default = None if config.get("model") is None else flat(config["model"])
    held = [m for m in models or [] if m != "None"]
    if held and held != [default]:
        rows.append(("Models" if len(held) > 1 else "Model", ", ".join(held)))
        if default is not None and default not in held:
            rows.append(("Default model", f"{default} (the name of records without their own model; none here)"))
    elif default is not None:
        rows.append(("Model", default))
    if config.get("backend") is not None:
        rows.append(("Backend", flat(config["backend"])))
    if config.get("sampling"):
        rows.append(("Sampling", flat(config["sampling"])))
    think = config.get("think_format")
    if isinstance(think, dict) and think.get("name"):
        rows.append(("Think format", f"{think['name']} ({think.get('decided_by') or 'recorded'})"))
    detector = config.get("reflection_model")
    if isinstance(detector, dict) and detector.get("file"):
        fitted = detector.get("trained_on") or {}
        bits = [f"sha256 {str(detector.get('sha256'))[:12]}"]
        if fitted.get("traces"):
            bits.append(f"fitted on {fitted['traces']} traces, {fitted.get('sentences', '?')} sentences"
                        + (", adapted from a base model" if fitted.get("adapted_from") else ", from scratch"))
        rows.append(("Reflection model", f"{detector['file']} ({'; '.join(bits)})"))
    sweep = config.get("think_budgets")
    if isinstance(sweep, dict):  # they replace max_tokens, and forcing changes every sample: shown with sampling
        bits = []
        if sweep.get("budgets"):
            bits.append("budgets " + ", ".join(str(b) for b in sweep["budgets"] if isinstance(b, int))
                        + f" (answer_tokens={sweep.get('answer_tokens')}, answer_cue={sweep.get('answer_cue')!r})")
        if sweep.get("min_think"):
            bits.append(f"budget forcing: min_think={sweep['min_think']}, max_waits={sweep.get('max_waits')}, "
                        f"wait_text={sweep.get('wait_text')!r}")
        if bits:
            rows.append(("Thinking", "; ".join(bits)))
    for spec in config.get("tasks") or []:
        if isinstance(spec, dict):
            ds = spec.get("dataset") or {}
            bits = [f"verifier={spec.get('verifier')}" if spec.get("verifier") else ""]
            if isinstance(ds, dict):
                bits += [f"{k}={ds[k]}" for k in ("hub", "config", "split", "revision", "local") if ds.get(k)]
            if spec.get("dataset_revision"):
                bits.append(f"dataset_revision={spec['dataset_revision']}")
            bits.append(task_window(spec) or "")
            if spec.get("think_open"):
                bits.append("think_open")
            rows.append((f"Task {spec.get('name', '?')}", ", ".join(b for b in bits if b)))
    if config.get("engine"):
        rows.append(("Engine", flat(config["engine"])))
    if config.get("versions"):
        rows.append(("Versions", flat(config["versions"])))
    layers = config.get("sandbox_layers")
    if layers is not None or "sandbox_layers" in config:
        rows.append(("Sandbox layers", flat(layers) if layers else "none (no code tasks, or not recorded)"))
    known = {"tasks", "model", "backend", "sampling", "versions", "sandbox_layers", "engine", "think_format",
             "reflection_model", "think_budgets"}
    for k, v in config.items():
        if k not in known and isinstance(v, (str, int, float, bool)):
            rows.append((k, str(v)))
    return rows


def _utf16(text: str):
    """Map code-point offsets to UTF-16 offsets (what JavaScript strings count)."""
    if text.isascii() or len(text.encode("utf-16-le")) == 2 * len(text):  # no astral characters
        return lambda i: i
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + (2 if ch > "\uffff" else 1))
    return lambda i: prefix[max(0, min(int(i), len(text)))]


def _sample_text(rec: dict, think_open: bool, kinds: dict[str, int], think_format=None) -> dict:
    """The per-sample part that is shown only when the sample is opened; the thinking (folded) is what
    precedes the answer in the run's think format."""
    completion = rec.get("completion") or ""
    to16 = _utf16(completion)
    split = split_think(completion, think_open, think_format)
    trace = rec.get("trace") if isinstance(rec.get("trace"), dict) else {}
    markers = []
    for m in trace.get("markers") or []:
        if not isinstance(m, dict) or _num(m.get("start")) is None or _num(m.get("end")) is None:
            continue
        kind = str(m.get("kind") or "marker")
        kinds.setdefault(kind, len(kinds))
        markers.append([kinds[kind], to16(m["start"]), to16(m["end"]), m.get("rule")])
    # Episodes (spans built from the acts) are drawn under the acts: [kind, start, end, settled].
    episodes = []
    for e in trace.get("episodes") or []:
        if isinstance(e, dict) and _num(e.get("start")) is not None and _num(e.get("end")) is not None:
            episodes.append([str(e.get("kind") or "episode"), to16(e["start"]), to16(e["end"]), bool(e.get("settled"))])
    # The marker texts repeat the completion; everything else of the trace is small.
    trace_rest = {k: v for k, v in trace.items() if k not in ("markers", "episodes")}
    out = {"c": completion, "a": to16(split.answer_start) if split.has_think else 0,
           "open": split.has_think and not split.closed}
    answer_end = split.answer_start + len(split.answer)
    if answer_end < len(completion) and completion[split.answer_start:answer_end] == split.answer:
        out["ae"] = to16(answer_end)  # what follows the answer (harmony's `<|return|>`) is shown apart from it
    if out["open"]:  # truncated only where the generation was cut, or its finish reason is unknown (DESIGN.md)
        out["cut"] = is_truncated(rec) or completion_truncated(completion, rec.get("finish_reason"), think_open,
                                                               think_format)
    if split.has_think:  # the thinking's length: the trace's (in its unit), else its characters, tags left out
        n, unit = _num(trace.get("think_length")), str(trace.get("unit") or trace.get("length_unit") or "chars")
        use_trace = n is not None and trace.get("has_think") is not False
        out["tl"] = [int(n), "tokens" if unit.startswith("token") else "characters"] if use_trace else \
            [len(split.think), "characters"]
    if markers:
        out["mk"] = markers
    if episodes:
        out["ep"] = episodes
    if trace_rest:
        out["tr"] = trace_rest
    for key, short in (("tests", "tests"), ("detail", "d"), ("gold", "g"), ("finish_reason", "fr"),
                       ("seed", "seed"), ("ms", "ms"), ("prompt_tokens", "pt")):
        if rec.get(key) not in (None, "", []):
            out[short] = gold_text(rec[key]) if key == "gold" else rec[key]
    return out


def gold_text(gold: object) -> str:
    """A sample's gold as shown: its text, or for several accepted answers each of them (`5 or five`)."""
    return " or ".join(str(g) for g in gold) if isinstance(gold, (list, tuple)) else str(gold)


def _n_acts(trace: dict) -> int:
    """The acts of reflection in a trace: its markers, else the sum of `marker_counts` less `aha`
    (a flag on acts already counted under their kind, docs/trace.md)."""
    if isinstance(trace.get("markers"), list):
        return len(trace["markers"])
    counts = trace.get("marker_counts")
    if not isinstance(counts, dict):
        return 0
    return int(sum(v for k, v in counts.items() if k != "aha" and _num(v)))


def budget_cuts(run: RunData) -> dict[tuple, list[dict]]:
    """Where each thinking budget cut a sample's trace and what was answered there, per
    (task, model, problem id, sample): from a sweep's records (a record cut at B closes its thinking
    at B; the smaller budgets' thinking is a prefix of the largest's) and from anytime probes."""
    from evalkit.budgets import close_text, was_cut

    cuts: dict[tuple, list[dict]] = defaultdict(list)
    settings = run.config.get("think_budgets") if isinstance(run.config.get("think_budgets"), dict) else {}
    close = settings.get("close") or close_text(run.think_format)  # the run's own close, in its think format
    cue = settings.get("answer_cue")
    for r in run.samples:
        b = r.get("budget")
        if b is None:
            continue
        cut = _num(r.get("reasoning_tokens")) is not None and was_cut(r, close, cue)
        at = (r.get("completion") or "").find(close) if cut else -1
        cuts[_key(r)].append({"budget": b, "at": at if at >= 0 else None, "answer": r.get("answer"),
                              "correct": r.get("correct"), "source": "sweep"})
    probes = run.path / "anytime.jsonl"
    if probes.is_file():
        fix = "fix or remove it (`evalkit anytime` writes the file again)"
        try:
            text = probes.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{probes}: not UTF-8 text ({e.reason} at byte {e.start}); {fix}") from None
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                p = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{probes}:{n}: not JSON ({e.msg}); {fix}") from None
            budget = p.get("budget") if isinstance(p, dict) else None
            if isinstance(budget, bool) or not isinstance(budget, int):
                got = f"got a {type(p).__name__}" if not isinstance(p, dict) else f"its budget is {budget!r}"
                raise InputError(f"{probes}:{n}: expected a probe record (an object with a whole-number budget), "
                                 f"{got}; {fix}")
            cuts[_key(p)].append({"budget": budget, "at": p.get("cut_char"), "answer": p.get("answer"),
                                  "correct": p.get("correct"), "source": p.get("source")})
    for v in cuts.values():
        v.sort(key=lambda c: c["budget"] or 0)
    return cuts


def _key(r: dict) -> tuple:
    return (str(r.get("task")), str(r.get("model")), str(r.get("problem_id")), r.get("sample"))


def budget_tables(entries: list[dict]) -> list[dict]:
    """One table per task, model and source (sweep or anytime): a row per budget."""
    tables = []
    for e in entries:
        for name, block in _charts.budget_curves(e):
            rows = []
            for row in block["budgets"]:
                metrics = row.get("metrics") if isinstance(row.get("metrics"), dict) else {}
                ks = sorted(int(m.group(1)) for m in map(_PASS_AT.match, metrics) if m)
                k = ks[-1] if ks else None
                avg = metrics.get("avg@n")
                judged = avg.get("n_problems") if isinstance(avg, dict) else None  # the budget's problems
                rows.append({"budget": _num(row.get("budget")), "avg": metric_cell(avg),
                             "k": k, "pass": metric_cell(metrics.get(f"pass@{k}"), judged) if k else None,
                             "maj": metric_cell(metrics.get(f"maj@{k}"), judged) if k else None,
                             "thinking": _num(row.get("mean_thinking_tokens")),
                             "answer": _num(row.get("mean_answer_tokens")),
                             "per_correct": _num(row.get("tokens_per_correct")),
                             "finished": _num(row.get("finished_share")),
                             "waits": _num(row.get("mean_forced_waits")),
                             "reaches": row.get("budget") == block.get("smallest_reaching_95"),
                             "partial": _num(row.get("n_samples")) if row.get("partial") else None})
            tables.append({"task": e.get("task"), "model": e.get("model"), "source": name,
                           "unit": block.get("unit"), "rows": rows,
                           "from_trajectory": name == "anytime" and block.get("generated") is False})
    return tables


def build(run: RunData) -> dict:
    """Everything the run template needs."""
    entries = run.results
    cuts_of = budget_cuts(run)
    names = metric_names(entries)
    tasks = list(dict.fromkeys(str(s.get("task")) for s in run.samples))
    models = list(dict.fromkeys(str(s.get("model")) for s in run.samples))
    t_idx = {t: i for i, t in enumerate(tasks)}
    m_idx = {m: i for i, m in enumerate(models)}

    # Problems: one row per (task, model, problem id, budget), in first-seen order; a sweep's budgets
    # are apart, as its summary is (pooled, a cut budget's answers would outvote the headline's).
    by_problem: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(run.samples):
        by_problem[(str(s.get("task")), str(s.get("model")), str(s.get("problem_id")), s.get("budget"))].append(i)
    problems = {k: [] for k in ("t", "m", "id", "b", "gold", "n", "judged", "solved", "maj", "majs", "spread",
                                "ntr")}
    p_of_sample = [0] * len(run.samples)
    for p, ((task, model, pid, budget), idxs) in enumerate(by_problem.items()):
        recs = [run.samples[i] for i in idxs]
        judged = [r for r in recs if r.get("correct") is not None]
        maj, share, spread = answer_spread(recs)
        for i in idxs:
            p_of_sample[i] = p
        gold = next((r.get("gold") for r in recs if r.get("gold") is not None), None)
        row = {"t": t_idx[task], "m": m_idx[model], "id": pid, "b": budget,
               "gold": None if gold is None else gold_text(gold), "n": len(recs), "judged": len(judged),
               "solved": sum(bool(r["correct"]) for r in judged) / len(judged) if judged else None,
               # no answer: no share; a share as exact as the solved rate, so 13/16 reads 81.3% in both columns
               "maj": maj, "majs": None if maj is None else share, "spread": spread,
               "ntr": sum(is_truncated(r) for r in recs)}
        for k, v in row.items():
            problems[k].append(v)

    # Samples: small columns in the index; the text in chunks.
    cols = {k: [] for k in ("p", "s", "c", "r", "a", "tok", "len", "tr", "mk", "nm", "w2r", "r2w", "sc", "ch", "ci",
                            "j", "b")}
    kinds: dict[str, int] = {}
    chunks: list[Blob] = []
    chunk: list[dict] = []
    prompts: list[str] = []
    prompt_at: dict[str, int] = {}
    size = 0

    def flush():
        nonlocal chunk, prompts, prompt_at, size
        if chunk:
            text, n = pack({"prompts": prompts, "samples": chunk})
            chunks.append(Blob(text, n))
        chunk, prompts, prompt_at, size = [], [], {}, 0

    fmt = run.think_format
    for i, s in enumerate(run.samples):
        trace = s.get("trace") if isinstance(s.get("trace"), dict) else {}
        # the sample's own think_open (replay records carry it per line), else its task's
        think_open = s["think_open"] if isinstance(s.get("think_open"), bool) else run.think_open(str(s.get("task")))
        item = _sample_text(s, think_open, kinds, fmt)
        prompt = s.get("prompt")
        if isinstance(prompt, list):  # chat messages
            prompt = "\n\n".join(f"[{m.get('role')}] {m.get('content')}" for m in prompt if isinstance(m, dict))
        prompt = "" if prompt is None else str(prompt)
        if prompt not in prompt_at:
            prompt_at[prompt] = len(prompts)
            prompts.append(prompt)
            size += len(prompt)
        item["pi"] = prompt_at[prompt]
        if cuts_of.get(_key(s)):
            to16 = _utf16(item["c"])
            item["cuts"] = [[c["budget"], None if c["at"] is None else to16(c["at"]), c["answer"],
                             None if c["correct"] is None else int(bool(c["correct"])), c["source"]]
                            for c in cuts_of[_key(s)]]
        if s.get("forced_waits"):
            item["fw"] = s["forced_waits"]
        judge = s.get("judge") if isinstance(s.get("judge"), dict) else None
        if judge:
            item["j"] = judge
        counts = trace.get("marker_counts")
        if not isinstance(counts, dict) and item.get("mk"):
            counts = defaultdict(int)
            for k, *_ in item["mk"]:
                counts[k] += 1
        elif isinstance(counts, dict):
            for k in counts:
                kinds.setdefault(str(k), len(kinds))
            counts = {kinds[str(k)]: v for k, v in counts.items() if _num(v)}
        n_acts = _n_acts(trace)
        sc = trace.get("self_corrections") if isinstance(trace.get("self_corrections"), dict) else {}
        correct = s.get("correct")
        row = {"p": p_of_sample[i], "s": s.get("sample"), "c": None if correct is None else int(bool(correct)),
               "r": s.get("reason"), "a": None if s.get("answer") is None else str(s["answer"]),
               "tok": _num(s.get("completion_tokens")), "len": len(item["c"]), "tr": int(is_truncated(s)),
               "mk": dict(counts) if counts else None, "nm": n_acts, "w2r": _num(sc.get("wrong_to_right")),
               "r2w": _num(sc.get("right_to_wrong")), "sc": _num(s.get("score")),
               "ch": len(chunks), "ci": len(chunk), "b": s.get("budget"),
               # a judged sample: flipped, and the judge's reply to show beside the answer
               "j": None if judge is None else {"f": int(bool(judge.get("flipped"))),
                                                "y": str(judge.get("reply") or judge.get("error") or "")[:300]}}
        for k, v in row.items():
            cols[k].append(v)
        chunk.append(item)
        size += len(item["c"]) + 200
        if size >= CHUNK_BYTES:
            flush()
    flush()

    kind_names = sorted(kinds, key=kinds.get)
    colors = {}
    spare = iter(SPARE_COLORS * 10)
    for k in kind_names:
        colors[k] = KIND_COLORS.get(k) or next(spare)
    verifier_of = {str(e.get("task")): e.get("verifier") for e in entries if e.get("verifier")}
    for spec in run.config.get("tasks") or []:  # the run's own record of its task specs, where results lack it
        if isinstance(spec, dict) and spec.get("name") is not None:
            verifier_of.setdefault(str(spec["name"]), spec.get("verifier"))
    programs = [i for i, t in enumerate(tasks) if _answers_are_programs(verifier_of.get(t))]
    index_text, index_n = pack({"tasks": tasks, "models": models, "problems": problems, "samples": cols,
                                "kinds": kind_names, "programs": programs})
    # the per-sample charts count what the summary counts: in a budget sweep, the headline budget's samples
    # (pooled, a cut budget's answers would outvote it)
    headline = sorted({i for e in entries for i, _ in headline_samples(e, run.samples)})
    chart_list, missing = _charts.run_charts(entries, [run.samples[i] for i in headline])
    summary = summary_rows(entries, names)
    taus, stability = stability_rows(entries)
    budgets = budget_tables(entries)
    return {
        "title": run.title,
        "metric_names": names,
        "summary": summary,
        "stability": {"taus": taus, "rows": stability},
        "coverage_note": coverage_note(entries),  # why figures marked * cover fewer problems
        "budget_subset": any(c and c["subset"] for t in budgets for r in t["rows"] for c in (r["pass"], r["maj"])),
        "settings": settings(run.config, list(dict.fromkeys([str(e.get("model")) for e in entries] + models))),
        "stopped": stop_text(run.stopped),  # why rows are made from samples.jsonl: the run was stopped
        "no_samples": run.no_samples,  # results.json alone: no problems, samples or traces to show
        "charts": chart_list,
        "budget_tables": budgets,
        "missing_charts": missing,
        "sweep_charts": any(isinstance(e.get("think_budgets"), dict) for e in entries),
        "kinds": [(k, colors[k]) for k in kind_names],
        "meta": {"title": run.title, "n_samples": len(run.samples), "n_chunks": len(chunks),
                 "kind_colors": colors},
        "index": Blob(index_text, index_n),
        "chunks": chunks,
    }


def stop_text(why: str | None) -> str | None:
    """What stopped a run, as the pages put it after "the run was stopped" ("by SIGTERM", "by Ctrl-C",
    "(ValueError: …)"); None where invocations.jsonl records no stop."""
    if why is None:
        return None
    return {"SIGTERM": "by SIGTERM", "interrupted": "by Ctrl-C"}.get(why, f"({why})")


def _answers_are_programs(verifier: object) -> bool:
    """Whether a task's answers (and golds) are programs and tests, shown as text, not typeset as math:
    a verifier whose answers do not vote (code's); False where the verifier cannot be loaded."""
    from evalkit.verifiers.base import capabilities, verifier_factory

    try:
        return isinstance(verifier, str) and not capabilities(verifier_factory(verifier)).votes
    except Exception:  # noqa: BLE001 - a plugin that is gone: its answers shown as the others are
        return False


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"
