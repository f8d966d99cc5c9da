"""Reasoning-trace analysis: reflection episodes, the answer trajectory, over- and underthinking.

    from evalkit.trace import analyze, analyze_many, summarize
    stats = analyze(completion, gold="90", think_open=True)        # one TraceStats
    stats.to_dict()                                                 # what samples.jsonl `trace` holds

`TraceStats.to_dict()` keys (stable; the report and the pipeline read them):

- `unit`: "tokens" (a tokenizer was given) or "chars"; every length and position below is in it.
- `length`, `think_length`, `answer_length`: the whole completion, the think block's text, the final
  answer's text (`split_think`'s `answer`: after the thinking, without the format's answer markers;
  0 when the block never closes).
- `has_think`, `truncated` (docs/contracts.md "Truncation": finish reason `length`, or, where the finish reason is
  unknown, a think block that never closes; one that never closes and stopped is an answer-less completion).
- `markers`: acts of reflection, one per sentence that judges earlier work (traces/REFLECTION_RUBRIC.md),
  in order, never overlapping: `{kind, rule, start, end, text, confidence, aha}`; `kind` is doubt
  (flags a doubt or an error), check (announces a verification) or verdict (states its outcome);
  `rule` the row of the rule table that fired on the sentence (`model` when the model detector marked
  a sentence no row fired on); `start`/`end` CHARACTER offsets of the sentence in the completion;
  `text` the words that fired (else the sentence's opening words); `confidence` the model's
  probability that the sentence is reflection (1.0 under `detector="rules"`); `aha` whether a
  realisation cue ("oh!", "now I see", "I realize") fired on it too.
- `episodes`: spans built from the acts, `{kind, start, end, acts, settled}`: a check from its
  announcement over the recomputation to its verdict, a doubt to what settles it (`kind` check or
  doubt; `acts` indexes `markers`; `settled`: it reached a verdict). Character offsets.
- `marker_counts`: {doubt, check, verdict, aha: count} (0 included; aha counts flagged acts);
  `markers_per_1k`: acts per 1000 units of `length`; `reflection_share`: share of the think text's
  characters inside episodes.
- `trajectory`: candidate answers stated in the trace, in order, restatements merged:
  `{position, answer, correct, rule}`; position = where the answer ends (in `unit`); correct is
  True / False, or None when not verified; rule is boxed, answer_is, final_zh, or conclusion_eq /
  conclusion_is for a concluding "So … = N" / "Therefore, … is N" whose N the trace states as an answer somewhere
  (a box, "the answer is"): other concluding steps are a computation's results, not answers.
- `first_correct_position`: position of the first correct candidate, or None.
- `final_correct`: the final answer's correctness: the sample's verdict when given, else the
  verifier's verdict on the whole completion (as `evalkit verify --completion` gives it); None unverified.
- `self_corrections`: {wrong_to_right, right_to_wrong, wrong_to_wrong}, counted over consecutive
  judged candidates of the trajectory.
- `overthinking_share`: share of `length` after the first correct candidate (None without one).
- `outcome_efficiency`: Chen et al. 2024 — first-correct position / length when the final answer is
  correct (1.0 when no earlier candidate was recognised), 0.0 when wrong, None when unverified.
- `thought_switches`: switches of approach (`switch` and `thought` rows; Wang et al. 2025's thoughts, minus one).
- `ut_score`: Wang et al. 2025's underthinking score, 1 - first-correct position / length, for a wrong
  final answer that passed a correct candidate on the way; None otherwise.
- `superficial_reflection`: oat-zero's sense — the trace has an act of reflection, and the final
  answer is still wrong; None when unverified. The summary's `superficial_reflection_rate` (top level
  and in each `by_outcome` group) is the share of the reflecting judged samples that are still wrong.

`summarize(stats_list, correct_list)` gives the run-level figures (see its docstring). Acts come from
the `model` detector by default (a sentence classifier over the rule hits, the words, the neighbours
and the numbers computed before; see `_model.py`), or from `detector="rules"`, the rule table read
literally. Rules are a table (`RULES`); add rows from YAML with `load_rules(path)` and pass `rules=`.
Figures: bench/trace/results/reflection_f1.md.

Your own model's traces: `label_sheet` lists every sentence of the thinking with the detector's label;
corrected by a person, `read_labelled` + `fit_detector` adapt the shipped weights to them, `save_model`
writes the result, and `analyze(..., reflection_model=path)` uses it (bench/trace/results/adapt_reflection.md
measures what a few labelled traces gain). `load_model(path)` reads a model file once, for many calls
(`reflection_model=` takes the model too); its `sha256` names the bytes it was read from.
"""

from evalkit.trace._analyze import analyze, analyze_many
from evalkit.trace._file import analyze_file
from evalkit.trace._acts import Act, Episode, Marker
from evalkit.trace._fit import LabelledTrace, fit_detector, label_sheet, read_labelled, save_model
from evalkit.trace._model import ReflectionModel, load_model
from evalkit.trace._rules import KINDS, RULES, Rule, load_rules
from evalkit.trace._stats import TraceStats, format_summary, summarize

__all__ = [
    "KINDS", "RULES", "Act", "Episode", "LabelledTrace", "Marker", "ReflectionModel", "Rule", "TraceStats",
    "analyze", "analyze_file", "analyze_many", "fit_detector", "format_summary", "label_sheet", "load_model",
    "load_rules", "read_labelled", "save_model", "summarize",
]  # fmt: skip
