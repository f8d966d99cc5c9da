"""The marker rules: a table of named rows, English and Chinese, extendable from YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal

from evalkit.errors import InputError

# Reflection-family kinds (DESIGN.md "Trace markers").
KINDS = ("verification", "hesitation", "backtracking", "switch", "aha")
# marker: opens an episode of `kind`; settle: a verdict that closes the open episode (kept inside it);
# step: a sentence that starts new work, so the open episode ends before it.
# thought: opens a new line of thought without doubting the last one ("Alternatively, I can ...");
# counted in `thought_switches`, not a marker (the labelled traces call these plans, not reflection).
ROLES = ("marker", "settle", "step", "thought")
Role = Literal["marker", "settle", "step", "thought"]


@dataclass(frozen=True)
class Rule:
    """One row of the table.

    name: shown in each marker's `rule`, so a report can say which row fired.
    kind: one of KINDS (for `settle` / `step` rows, the kinds they apply to are all of them).
    pattern: a case-insensitive regular expression.
    at: `start` — must match at the start of a sentence (after quotes, bullets, `**`);
        `any` — anywhere in the sentence.
    role: one of ROLES. A `settle` row outside any episode is a one-sentence verification marker
        (a verdict is the end of a check, even when the check was not announced).
    """

    name: str
    kind: str
    pattern: str
    at: Literal["start", "any"] = "start"
    role: Role = "marker"


def _r(name: str, kind: str, pattern: str, at: str = "start", role: str = "marker") -> Rule:
    return Rule(name, kind, pattern, at, role)  # type: ignore[arg-type]


# Order matters only for naming: the first row that fires on a sentence names its marker.
RULES: tuple[Rule, ...] = (
    # --- backtracking and correction ---
    _r("made_mistake", "backtracking", r"\b(?:i|we) (?:made|make|have made) (?:a |an )?(?:mistake|error)", "any"),
    _r("not_right", "backtracking", r"\bthat(?:'s| is| was) (?:not|n't) (?:right|correct|possible)|\bthat can(?:'t|not) be (?:right|correct)", "any"),
    _r("that_wrong", "backtracking", r"\b(?:that|this)(?:'s| is| was| seems| must be) (?:wrong|incorrect|a mistake)", "any"),
    _r("wait_no", "backtracking", r"(?:but )?wait,? no\b|no,? wait\b"),
    _r("actually", "backtracking", r"(?:but |wait,? |hmm,? |oh,? )?actually\b"),
    _r("correction", "backtracking", r"\b(?:i|we) (?:must|might|may) have (?:made|mis|been|done|gotten|counted|missed|overcounted|double)|\bmiscalculat|\bmiscount|\bmistakenly", "any"),
    # --- verification / reflection ---
    _r("let_me_check", "verification", r"(?:(?:but|so|wait|hmm|okay|ok|now|alternatively),? )*(?:let me|let's|let us|i(?:'ll| will| should| need to| can)) (?:just )?(?:double[- ]check|check|verify|confirm|re-?(?:check|examine|evaluate|calculate|compute|count|do|verify|think|consider)|make sure|test|cross[- ]verify|see if (?:that|this) (?:makes sense|works|is (?:right|correct)))"),
    _r("double_check", "verification", r"\b(?:double[- ]check|re-?check|re-?verif|cross[- ]check|sanity check|re-?examin|re-?evaluat)", "any"),
    _r("to_verify", "verification", r"(?:just )?to (?:verify|confirm|check|be (?:sure|safe|thorough))\b"),
    _r("verify_any", "verification", r"\b(?:verify|verifying|verification)\b", "any"),
    _r("is_that_right", "verification", r"\b(?:is that|is this|does that|does this|did i) (?:right|correct|make sense|work|hold|check out|get (?:it|that) right)\b", "any"),
    _r("make_sure", "verification", r"\bmake sure\b", "any"),
    _r("plug_back", "verification", r"\b(?:plug(?:ging)?|substitut(?:e|ing)) (?:it |them |this |that |these )?back\b", "any"),
    _r("again", "verification", r"\b(?:again|once more|one more time)\b", "any"),
    _r("revisit", "verification", r"\b(?:earlier|before|previously|above)\b[^.?!]{0,60}\b(?:i|we) (?:thought|got|had|found|calculated|computed|said|assumed|counted|considered)\b|\b(?:i|we) (?:thought|got|had|found|calculated|computed|said|assumed) (?:earlier|before|previously)\b", "any"),
    # --- hesitation / doubt ---
    _r("but_wait", "hesitation", r"(?:but|and|so|oh|hmm|okay),? wait\b"),
    # "Wait, in the figure ..." / "Wait, because ..." only connect; a doubt says what it doubts.
    _r("wait", "hesitation", r"wait\b(?![,.]? (?:in|the|looking|let's|because|so|if|when|for|since|first|now|then|\\|\d)\b)"),
    _r("let_me_think", "hesitation", r"(?:hmm,? |so,? |okay,? )?let me think(?: about (?:it|this|that))?[.:]?$"),
    _r("hold_on", "hesitation", r"\bhold on\b|\bwait a (?:minute|second|moment)\b", "any"),
    _r("hmm", "hesitation", r"(?:hmm+|hm+|uh+|um+)\b(?![,.]? (?:so,? )?(?:let me|let's|okay|ok|alright)\b)"),
    _r("not_sure", "hesitation", r"\b(?:i'm not|i am not|not) (?:entirely |quite |completely |so )?(?:sure|certain|convinced)\b|\bi'm (?:a bit |a little |getting )?(?:confused|stuck)\b|\bi(?:'m| am) (?:getting )?(?:confused|stuck)\b|\bconfusion\b", "any"),
    _r("which_is_it", "hesitation", r"(?:so|but|and|then),? (?:which|what)\b[^?]*\?$"),
    _r("but_question", "hesitation", r"(?:but|however),? [^?]{0,200}\?$"),
    _r("self_question", "hesitation", r"\b(?:right|correct|true|possible|valid|allowed|included|it|that|this|so|or|wrong)\?$|\b(?:is|does|did|was|can|could|should|would|are|am) (?:that|this|it|i|we)\b[^?]{0,80}\?$", "any"),
    _r("seems_off", "hesitation", r"\b(?:that|this|it) (?:seems|looks|feels|sounds) (?:off|odd|strange|weird|too|a bit|high|low|wrong|suspicious|inconsistent|contradict|counterintuitive)|\b(?:doesn't|does not|didn't|did not) (?:seem|make sense|add up|match|fit)", "any"),
    _r("contradiction", "hesitation", r"\b(?:contradict|inconsistent|inconsistency|discrepancy)", "any"),
    # --- switch of approach: abandoning a line, not merely adding one ---
    _r("another_way", "switch", r"\b(?:another|a different|an alternative|some other) (?:way|approach|method|strategy|idea)\b", "any"),
    _r("try_different", "switch", r"\b(?:let me|let's|i'll|maybe i should|i should) (?:try|use|think of|consider) (?:a different|another|something else)", "any"),
    _r("alternatively", "switch", r"(?:but |or,? |wait,? |so,? )?alternatively\b", role="thought"),
    # --- aha ---
    _r("aha", "aha", r"\b(?:aha|ah+a?|oh+)[!,.]|\bnow i (?:see|get it|understand)\b|\bthat'?s the key\b|\bi see now\b|\bthat explains\b|\bi (?:realize|realise)d?\b", "any"),
    # --- Chinese (R1-style models switch language mid-trace) ---
    _r("zh_wait", "hesitation", r"(?:等等|等一下|等一等|稍等|嗯+)"),
    _r("zh_check", "verification", r"(?:让我|我来|再)(?:检查|验证|核对|确认|算)(?:一下|一遍)?|检查一下|验证一下|验算", "any"),
    _r("zh_wrong", "backtracking", r"不对|错了|算错|有问题|不正确|搞错|其实", "any"),
    _r("zh_switch", "switch", r"(?:另一种(?:方法|思路)|换一种|换个(?:方法|思路))", "any"),
    _r("zh_or", "switch", r"或者", role="thought"),
    _r("zh_aha", "aha", r"原来如此|我明白了|啊哈|恍然大悟", "any"),
    # --- verdicts that settle an episode (kept inside it) ---
    _r("verdict_word", "verification", r"(?:so,? |okay,? |ok,? |and )?(?:yes|yep|yup|yeah|correct|right|perfect)\b(?! (?:triangle|angle|side|now|here|away|after|before|of|to|at|hand))", role="settle"),
    _r("verdict", "verification", r"\b(?:that|this|it|which|so)(?:'s| is| was| seems| looks| sounds)? (?:all |also |indeed |definitely |exactly )?(?:correct|right|consistent|confirmed|accurate|reassuring)\b|\b(?:checks out|adds up|works out|matches|confirms|is consistent|that works|it works)\b|\bsame (?:result|answer|as before)\b|\b(?:seems|looks|sounds) (?:right|correct|fine|ok|okay|good|reasonable|plausible|solid)\b|\bmakes sense\b(?! because)|\b(?:i'm|i am) (?:confident|sure)\b", "any", role="settle"),
    _r("zh_settle", "verification", r"(?:没错|对的|正确|是对的)", "any", role="settle"),
    # --- sentences that start new work, ending an open episode before them ---
    _r("now_next", "switch", r"(?:now|next|first|second|third|finally|then),? (?:let's|let me|i (?:need|will|'ll|should|can)|we (?:need|have|can))\b", role="step"),
    _r("move_on", "switch", r"(?:okay|ok|alright|so),? (?:now|next|moving on|let's move)\b", role="step"),
    _r("final_answer", "switch", r"(?:\*\*)?final answer|(?:so|therefore|thus|hence),? the (?:final )?answer (?:is|should be)\b", role="step"),
)


@lru_cache(maxsize=64)
def _compile(rules: tuple[Rule, ...]) -> "CompiledRules":
    return CompiledRules(rules)


class CompiledRules:
    """The rows of one table compiled once: one alternation per (role, at), named groups per row."""

    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules
        self._by_group: dict[str, Rule] = {}
        self.start: dict[str, re.Pattern | None] = {}
        self.any: dict[str, re.Pattern | None] = {}
        for role in ROLES:
            for at, store in (("start", self.start), ("any", self.any)):
                parts = []
                for i, rule in enumerate(rules):
                    if rule.role == role and rule.at == at:
                        group = f"r{i}"
                        self._by_group[group] = rule
                        parts.append(f"(?P<{group}>{rule.pattern})")
                if not parts:
                    store[role] = None
                    continue
                body = "|".join(parts)
                # Sentence starts may carry bullets, quotes, markdown emphasis or a list number.
                prefix = r"^[\s\"'*_>#\-–—(\[]*(?:\d+[.)]\s*)?(?:\*\*[^*]{0,40}\*\*:?\s*)?" if at == "start" else ""
                store[role] = re.compile(prefix + "(?:" + body + ")", re.IGNORECASE)

    def first(self, role: str, sentence: str) -> tuple[Rule, int, int] | None:
        """The first row of `role` firing on `sentence`: (rule, match start, match end), else None."""
        for store in (self.start, self.any):
            pattern = store[role]
            if pattern is None:
                continue
            m = pattern.search(sentence) if store is self.any else pattern.match(sentence)
            if m:
                group = m.lastgroup
                # lastgroup is the outermost named group that matched; inner groups are unnamed.
                return self._by_group[group], m.start(group), m.end(group)
        return None


def compiled(rules: Iterable[Rule] | None = None) -> CompiledRules:
    return _compile(tuple(RULES if rules is None else rules))


def load_rules(path: str | Path, *, extend: bool = True) -> tuple[Rule, ...]:
    """Rules from a YAML file: a list (or a mapping with key `rules`) of rows
    `{name, kind, pattern, at: start|any, role: marker|settle|step}`.

    extend: put the file's rows before the built-in table (True, the default; earlier rows name the
    marker when several fire), or use the file's rows alone (False).
    Bad rows raise InputError naming the file, the row and the field.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"{path}: cannot read rules: {e}") from None
    if isinstance(data, dict):
        data = data.get("rules")
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of rules (or a mapping with key 'rules')")
    rows = []
    for i, row in enumerate(data, 1):
        where = f"{path}: rule {i}"
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected a mapping with name, kind, pattern")
        for key in ("name", "kind", "pattern"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise InputError(f"{where}: field '{key}' is required (a non-empty string)")
        if row["kind"] not in KINDS:
            raise InputError(f"{where}: field 'kind' must be one of {', '.join(KINDS)}, got {row['kind']!r}")
        at, role = row.get("at", "any"), row.get("role", "marker")
        if at not in ("start", "any"):
            raise InputError(f"{where}: field 'at' must be start or any, got {at!r}")
        if role not in ROLES:
            raise InputError(f"{where}: field 'role' must be one of {', '.join(ROLES)}, got {role!r}")
        try:
            re.compile(row["pattern"])
        except re.error as e:
            raise InputError(f"{where}: field 'pattern' is not a valid regular expression: {e}") from None
        rows.append(Rule(row["name"], row["kind"], row["pattern"], at, role))
    return tuple(rows) + (RULES if extend else ())
