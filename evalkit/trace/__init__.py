"""Reasoning-trace analysis: reflection episodes, the answer trajectory, over- and underthinking.

    from evalkit.trace import analyze, analyze_many, summarize
    stats = analyze(completion, gold="90", think_open=True)        # one TraceStats
    stats.to_dict()                                                 # what samples.jsonl `trace` holds

`TraceStats.to_dict()` keys (stable; the report and the pipeline read them):

- `unit`: "tokens" (a tokenizer was given) or "chars"; every length and position below is in it.
- `length`, `think_length`, `answer_length`: the whole completion, the think block's text, the text
  after the last `</think>` (0 when the block never closes).
- `has_think`, `truncated` (DESIGN.md: finish reason `length`, or an open think block that never closes).
- `markers`: reflection-family episodes, each `{kind, rule, start, end, text}`; `kind` is one of
  verification, hesitation, backtracking, switch, aha; `rule` the row of the rules table that fired
  (`learned` for a run the learned detector marked where no row fired);
  `start`/`end` CHARACTER offsets into the completion spanning the whole episode (announcement,
  recomputation, verdict); `text` the words that fired. Markers never overlap.
- `marker_counts`: {kind: count} for every kind (0 included); `markers_per_1k`: markers per 1000
  units of `length`; `reflection_share`: share of the think text's characters inside markers.
- `trajectory`: candidate answers stated in the trace, in order, restatements merged:
  `{position, answer, correct, rule}`; position = where the answer ends (in `unit`); correct is
  True / False, or None when not verified; rule is boxed, answer_is, conclusion_eq or final_zh.
- `first_correct_position`: position of the first correct candidate, or None.
- `final_correct`: the final answer's correctness (the sample's verdict when given); None unverified.
- `self_corrections`: {wrong_to_right, right_to_wrong, wrong_to_wrong}, counted over consecutive
  judged candidates of the trajectory.
- `overthinking_share`: share of `length` after the first correct candidate (None without one).
- `outcome_efficiency`: Chen et al. 2024 — first-correct position / length when the final answer is
  correct (1.0 when no earlier candidate was recognised), 0.0 when wrong, None when unverified.
- `thought_switches`: switch-of-approach markers (Wang et al. 2025's thoughts, minus one).
- `ut_score`: Wang et al. 2025's underthinking score, 1 - first-correct position / length, for a wrong
  final answer that passed a correct candidate on the way; None otherwise.
- `superficial_reflection`: oat-zero's sense — the trace verifies, doubts or backtracks, and the final
  answer is still wrong; None when unverified.

`summarize(stats_list, correct_list)` gives the run-level figures (see its docstring). Rules are a
table (`RULES`); add rows from YAML with `load_rules(path)` and pass `rules=` to analyze.
`detector="learned"` marks the runs of sentences a fitted model scores as reflection instead of the
rule episodes (see `analyze_many` and bench/trace/results/reflection_f1.md).
"""

from evalkit.trace._analyze import analyze, analyze_many
from evalkit.trace._file import analyze_file
from evalkit.trace._markers import Marker
from evalkit.trace._rules import KINDS, RULES, Rule, load_rules
from evalkit.trace._stats import TraceStats, format_summary, summarize

__all__ = [
    "KINDS", "RULES", "Marker", "Rule", "TraceStats",
    "analyze", "analyze_file", "analyze_many", "format_summary", "load_rules", "summarize",
]  # fmt: skip
