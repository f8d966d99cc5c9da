"""The marker rules: a table of named rows, English and Chinese, extendable from YAML."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from evalkit.errors import InputError

# The kinds of reflective acts (docs/trace.md "Trace markers"; traces/REFLECTION_RUBRIC.md): a doubt about
# earlier work, the announcement of a check, the verdict of one. `aha` is a flag on an act (see _acts.py).
KINDS = ("doubt", "check", "verdict")
# What a row of the table may name: an act's kind, `aha` (a realisation: flags the act it fires on) or
# `switch` (a change of approach: counted in thought_switches, never an act by itself).
RULE_KINDS = KINDS + ("aha", "switch")
# Kind names of earlier evalkit versions, still accepted in a user's YAML rows.
LEGACY_KINDS = {"verification": "check", "hesitation": "doubt", "backtracking": "doubt"}
# What a row says about the sentence it fires on (the `rules` detector reads them so; the `model`
# detector takes every role's hit as a feature):
# marker: an act of the row's kind (doubt, check); a `switch` row marks no act, it counts a thought.
# settle: a verdict ("Yes, that's right.").
# close: a verdict only right after a check or doubt (results agreeing: "which matches").
# query: a question or an intention to check; a sentence a `query` row fires on is never a verdict.
# step: a sentence that starts new work.
# thought: a new line of thought that doubts nothing ("Alternatively, I can ..."): counted in
#   `thought_switches`, not an act (the rubric calls it other).
# doubt: a hedged sentence ("maybe", "I think").
# aha: a realisation ("oh!", "now I see"): flags the act of its sentence.
ROLES = ("marker", "settle", "close", "query", "step", "thought", "doubt", "aha")
Role = Literal["marker", "settle", "close", "query", "step", "thought", "doubt", "aha"]


@dataclass(frozen=True)
class Rule:
    """One row of the table.

    name: shown in each marker's `rule`, so a report can say which row fired.
    kind: one of RULE_KINDS: the kind of act a `marker` row marks (doubt, check), `verdict` for the
        verdict rows, `aha` (flags the act), `switch` (a change of approach); `settle`, `close`, `query`,
        `step` and `doubt` rows apply whatever their kind.
    pattern: a case-insensitive regular expression.
    at: `start` — must match at the start of a sentence (after quotes, bullets, `**`);
        `any` — anywhere in the sentence.
    cues: for an `any` row, lowercase substrings one of which must be in a sentence for the row to
        fire (a fast pre-filter); None runs the pattern on every sentence.
    role: one of ROLES (see there); a row of kind `aha` always has role `aha`.
    """

    name: str
    kind: str
    pattern: str
    at: Literal["start", "any"] = "start"
    role: Role = "marker"
    cues: tuple[str, ...] | None = None


def _r(name: str, kind: str, pattern: str, at: str = "start", role: str = "marker") -> Rule:
    return Rule(name, kind, pattern, at, role)  # type: ignore[arg-type]


# "Wait, in the figure ..." / "But wait, since ..." / "Wait, maybe I can use ..." only connect or plan;
# a doubt says what it doubts.
_CONNECTS = r"(?![,.]? (?:in|the|looking|let's|because|so|if|when|for|since|first|now|then|(?:maybe|perhaps) (?:i|we) (?:can|could)|\\|\d)\b)"


# Order names the marker: of the rows that fire on a sentence, the first in this table names it.
RULES: tuple[Rule, ...] = (
    # --- backtracking and correction ---
    _r("made_mistake", "doubt", r"\b(?:i|we) (?:made|make|have made) (?:a |an )?(?:mistake|error)|\bthere (?:must|might|may|could) (?:be|have been) (?:a |an |some )?(?:mistake|error)|\beasy to make (?:a |an )?(?:mistake|error)", "any"),
    _r("not_right", "doubt", r"\bthat(?:'s| is| was) (?:not|n't) (?:right|correct|possible)|\b(?:that|this|it) can(?:'t|not) be\b", "any"),
    _r("that_wrong", "doubt", r"\b(?:that|this)(?:'s| is| was| seems| must be) (?:wrong|incorrect|a mistake)", "any"),
    _r("wait_no", "doubt", r"(?:but )?wait,? no\b|no,? wait\b"),
    _r("actually", "doubt", r"(?:but |wait,? |hmm,? |oh,? )?actually\b"),
    _r("correction", "doubt", r"\b(?:i|we) (?:must|might|may) have (?:made|mis|been|done|gotten|counted|missed|overcounted|double)|\bmiscalculat|\bmiscount|\bmistakenly|\bmessed up\b|\blet me correct\b|\b(?:do|redo|compute|calculate) (?:it|this|that) (?:properly|correctly)\b", "any"),
    # --- verification / reflection ---
    _r("let_me_check", "check", r"(?:(?:but|so|wait|hmm|okay|ok|now|alternatively),? )*(?:let me|let's|let us|i(?:'ll| will| should| need to| can)) (?:just )?(?:double[- ]check|check|verify|confirm|re-?(?:check|examine|evaluate|calculate|compute|count|do|verify|think|consider)|make sure|test|cross[- ]verify|see if (?:that|this) (?:makes sense|works|is (?:right|correct)))"),
    # a check written as a heading ("Check: 2220/30 = 74.", "But check: ..."), DeepSeek-R1's habit
    _r("check_colon", "check", r"(?:(?:actually|but|so|now|wait|quick|final),? )*(?:check|confirm(?:ation)?) ?:"),
    _r("double_check", "check", r"\b(?:double[- ]check|re-?check|re-?verif|cross[- ]check|cross[- ]verif|sanity check|re-?examin|re-?evaluat)|\b(?:another|a different|an alternative|other) (?:way|method|approach) to (?:check|verify|confirm)|\b(?:check|verify|confirm) (?:it |this |that )?(?:using|with|by|via) (?:another|a different|an alternative|a second)", "any"),
    # A second, more careful or independent pass announced ("to be absolutely sure", "compute it more
    # accurately", "check using another method").
    _r("be_sure", "check", r"\bto be (?:absolutely |completely |totally |extra |100% )?(?:sure|certain|safe|thorough)\b|\b(?:compute|calculate|do|count|redo) (?:it |this |that |them )?(?:[^.?!]{0,30} )?more (?:accurately|precisely|carefully)\b|\blet me go back\b", "any"),
    _r("to_verify", "check", r"(?:just )?to (?:verify|confirm|check)\b"),
    _r("verify_any", "check", r"\b(?:verify|verifying|verification)\b", "any"),
    _r("is_that_right", "check", r"\b(?:is that|is this|does that|does this|did i) (?:right|correct|make sense|work|hold|check out|get (?:it|that) right)\b", "any"),
    _r("whether_right", "check", r"\b(?:whether|if) (?:this|that|it|these|those|the \w+|everything|all|each|my \w+)\b[^.?!]{0,60}\b(?:makes? sense|(?:is|are) (?:correct|right|valid|accurate)|works?|holds?|checks? out)\b", "any"),
    _r("make_sure", "check", r"\bmake sure\b", "any"),
    # "Substituting back into our expression" is algebra; plugging an answer back in to test it is a check.
    _r("plug_back", "check", r"\b(?:let me|let's|let us|i(?:'ll| will| can| could| should)|if i|we can) (?:\w+ )?(?:plug(?:ging)?|substitut(?:e|ing)|put(?:ting)?) (?:[^.?!]{0,40} )?back\b", "any"),
    # "Again, I can use ..." means "likewise", not a re-check.
    _r("again", "check", r"\b(?:again|once more|one more time)\b(?!,)", "any"),
    _r("revisit", "check", r"\b(?:earlier|before|previously|above)\b[^.?!]{0,60}\b(?:i|we) (?:thought|got|had|found|calculated|computed|said|assumed|counted|considered)\b|(?<!\bas )\b(?:i|we) (?:thought|got|had|found|calculated|computed|said|assumed) (?:earlier|before|previously)\b", "any"),
    # --- hesitation / doubt ---
    _r("but_wait", "doubt", r"(?:but|and|so|oh|hmm|okay),? wait\b" + _CONNECTS),
    _r("wait", "doubt", r"wait\b" + _CONNECTS),
    _r("let_me_think", "doubt", r"(?:hmm,? |so,? |okay,? )?let me think(?: about (?:it|this|that))?[.:]?$"),
    _r("hold_on", "doubt", r"\bhold on\b|\bwait a (?:minute|second|moment)\b", "any"),
    _r("hmm", "doubt", r"(?:hmm+|hm+|uh+|um+)\b(?![,.]? (?:so,? )?(?:let me|let's|okay|ok|alright)\b)"),
    _r("not_sure", "doubt", r"\b(?:i'm not|i am not|not) (?:entirely |quite |completely |so |exactly |really |totally |100% )?(?:sure|certain|convinced)\b|\bi(?:'m| am) (?:a bit |a little |getting |still |really |so |very |now |totally |completely )?(?:confused|stuck)\b|\bconfusi(?:on|ng)\b|\bi (?:don't|do not) know\b|\bi wonder\b", "any"),
    _r("which_is_it", "doubt", r"(?:(?:so|but|and|then|hmm|wait|now|okay),? )+(?:which|what)\b[^?]*\?$"),
    _r("but_question", "doubt", r"(?:but|however),? [^?]{0,200}\?$"),
    _r("self_question", "doubt", r"\b(?:right|correct)\?$|\b\w+ or \w+\?$", "any"),
    # Questions to itself: "Is that always the case?", "Why does ... give 20 bits?"
    _r("doubt_question", "doubt", r"(?:(?:so|but|and|then|hmm|wait|now|therefore),? )*(?:is|does|did|are|was|were|can|could|should|would|do|am|why)\b[^?]*\?$"),
    # A doubt about the way ahead: "But that might be too tedious", "But I don't know p(5) yet".
    _r("but_hedge", "doubt", r"(?:but|however),? [^.?!]*?\b(?:might|may|maybe|perhaps|not sure|(?:don't|do not) know|wonder|tedious|complicated|messy|time-consuming|unclear|not clear)\b"),
    _r("too_hard", "doubt", r"\b(?:tedious|complicated|messy|time-consuming|cumbersome|(?:too|more|quite) involved)\b", "any"),
    # a reading of the problem put in doubt ("I must be misunderstanding the problem"), a bare "Not quite."
    _r("misread", "doubt", r"\b(?:misunderst|misinterpret|misread|mislabel)\w*|\bwrong understanding\b|\b(?:missed|missing|overlooked|overlooking) something\b", "any"),
    _r("not_quite", "doubt", r"not (?:exactly|quite)\b(?! (?:sure|certain|clear|the same as))"),
    _r("seems_off", "doubt", r"\b(?:that|this|it) (?:seems|looks|feels|sounds) (?:off|odd|strange|weird|too|a bit|high|low|wrong|suspicious|inconsistent|contradict|counterintuitive|different)|\b(?:doesn't|does not|didn't|did not) (?:seem|make sense|add up|match|fit)|\bnot (?:matching|a match)\b|\bno match\b", "any"),
    _r("contradiction", "doubt", r"\b(?:contradict|inconsistent|inconsistency|discrepancy|conflict)", "any"),
    # An outcome that rules out earlier work ("which is impossible", "that doesn't work"), a corrected
    # number ("3182, not 3183"), a flaw found ("I see the mistake", "I need to reconsider").
    _r("impossible", "doubt", r"\b(?:which|that|this|it)(?:'s| is| was| would be) (?:impossible|absurd|nonsense)\b(?! (?:to|for|unless)\b)|\b(?:doesn't|does not|didn't|did not|won't|wouldn't) work\b|\b(?:is|was|are|were) (?:invalid|not valid)\b", "any"),
    _r("not_that_number", "doubt", r"\d[\d,.]{0,20}, not \d[\d,.]{0,20}[.!]?$", "any"),
    _r("found_issue", "doubt", r"\b(?:i|we) (?:think i |now )?(?:see|found|spot|spotted|figured out) (?:the|my|where|what) (?:issue|problem|mistake|error|confusion|flaw|went wrong)|\b(?:went|go|going|gone) wrong\b|\b(?:need to|should|have to|must) (?:reconsider|rethink|be (?:more )?careful\b|adjust[.!]?$)", "any"),
    _r("overcomplicating", "doubt", r"\b(?:overcomplicat|overthink|overcount|undercount|double[- ]count)", "any"),
    # --- switch of approach: abandoning a line, not merely adding one ---
    _r("another_way", "switch", r"\b(?:another|a different|an alternative|some other) (?:way|approach|method|strategy|idea)\b", "any"),
    _r("try_different", "switch", r"\b(?:let me|let's|i'll|maybe i should|i should) (?:try|use|think of|consider) (?:a different|another|something else)", "any"),
    _r("alternatively", "switch", r"(?:but |or,? |wait,? |so,? )?alternatively\b", role="thought"),
    # --- aha ---
    _r("aha", "aha", r"\b(?:aha|ah+a?|oh+)[!,.]|\bnow i (?:see|get it|understand)\b|\bthat'?s the key\b|\bi see now\b|\bthat explains\b|\bi (?:realize|realise)d?\b", "any", role="aha"),
    # --- Chinese (R1-style models switch language mid-trace) ---
    # 嗯 ("hmm") as the English row reads it: not before "let me", "okay" or "right" (a verdict), nor before the
    # user's question restated (QwQ opens its thinking so)
    _r("zh_wait", "doubt", r"(?:等等|等一下|等一等|稍等|嗯+(?![，,、\s]*(?:让我|我们来|我来|好的|用户|题目|(?:好|行|对的?)(?=[，,。！!、\s]|$))))"),
    _r("zh_check", "check", r"(?:让我|我来|再)(?:检查|验证|核对|确认|算)(?:一下|一遍)?|检查一下|验证一下|验算", "any"),
    _r("zh_wrong", "doubt", r"不对|错了|算错|有问题|不正确|搞错|其实", "any"),
    _r("zh_switch", "switch", r"(?:另一种(?:方法|思路)|换一种|换个(?:方法|思路))", "any"),
    _r("zh_or", "switch", r"或者", role="thought"),
    _r("zh_aha", "aha", r"原来如此|我明白了|啊哈|恍然大悟", "any", role="aha"),
    # --- verdicts that settle an episode (kept inside it) ---
    _r("verdict_word", "verdict", r"(?:so,? |okay,? |ok,? |and )?(?:yes|yep|yup|yeah|correct|right|perfect|good|great|exactly|excellent)\b(?! (?:question|idea|triangle|angle|side|now|here|away|after|before|of|to|at|hand))", role="settle"),
    _r("verdict", "verdict", r"\b(?:that|this|it|which|so)(?:'s| is| was| seems| looks| sounds)? (?:all |also |indeed |definitely |exactly )?(?:correct|right|confirmed|accurate|reassuring)\b|\b(?:checks out|adds up|works out|that works|it works)\b|\b(?:seems|looks|sounds) (?:right|correct|fine|ok|okay|good|reasonable|plausible|solid)\b|\bmakes sense\b(?! because)|\b(?:is|are|was|were) (?:indeed |also |still |definitely )?(?:correct|right|accurate|valid|confirmed)\b|\b(?:don't|do not|can't|cannot) (?:see|find) any (?:errors?|mistakes?|problems?|issues?)\b", "any", role="settle"),
    # A verdict written as a mark after a re-done step ("= 13 ✓", "= -3/4 (correct)"), a stated confidence,
    # a rule or result that holds, and the corrected value after a doubt ("So the correct count is 2864").
    _r("verdict_mark", "verdict", r"[✓✔✅☑]|\((?:correct|checks? out|verified|confirmed|matches|ok|okay|yes|true|valid|right)[.!]?\)", "any", role="settle"),
    _r("confident", "verdict", r"\b(?:i'm|i am|i can be|i feel) (?:now |quite |fairly |pretty |very |reasonably )?(?:confident|sure|certain)\b|\bconfidently (?:say|conclude)\b|\bconvinced (?:myself|that)\b", "any", role="settle"),
    _r("holds", "verdict", r"\b(?:that|this|it|which) (?:also |still |indeed )?(?:works|holds)\b(?! (?:for all|for every|for any|whenever|if)\b)|\b(?:seems|appears) to (?:hold|work)\b|\b(?:that|this|it|which)(?:'s| is| seems| looks| sounds) (?:precise|solid|acceptable|reasonable|plausible|fine)\b|(?<!find )(?<!get )(?<!determine )(?<!compute )\bthe correct (?:answer|count|number|value|total|result|rate)\b[^.?!,]{0,40}? (?:is|was|should be|would be|must be)\b", "any", role="settle"),
    # Two results agreeing closes a re-check; alone it restates a result ("which matches the earlier one").
    _r("agreement", "verdict", r"\b(?:matches|confirms|(?:is|are|that's|it's|this is) (?:also |all )?consistent)\b|\bsame (?:result|answer|value|as before)\b|\bindeed\b|\bexactly what\b|\b(?:agree|agrees|coincide)\b|\b(?:all|both) (?:lead|point|give|gave|led) (?:to )?the same\b", "any", role="close"),
    _r("zh_settle", "verdict", r"(?:没错|对的|正确|是对的)", "any", role="settle"),
    # --- questions and intentions to check: never a verdict, whatever verdict words they hold ---
    _r("question", "doubt", r"[?？][\"')\]*]*$", "any", role="query"),
    _r("whether", "doubt", r"\b(?:whether|make sure|not sure if|(?:check|see|verify|confirm|think) if)\b|是否|对不对", "any", role="query"),
    # --- hedges that keep a doubt open until it is settled ---
    # "Maybe I can use ..." proposes a plan; "maybe that's off" keeps the doubt.
    _r("hedge", "doubt", r"\b(?:maybe|perhaps|possibly)\b(?! (?:i|we) (?:can|could|should|need|will|'ll|might)\b)|\b(?:unless|i think|i guess|not sure)\b|\?$", "any", role="doubt"),
    _r("hedge_start", "doubt", r"(?:but|however)\b", role="doubt"),
    # --- sentences that start new work, ending an open episode before them ---
    _r("now_next", "switch", r"(?:now|next|first|second|third|finally|then),? (?:let's|let me|i (?:need|will|'ll|should|can)|we (?:need|have|can))\b", role="step"),
    _r("move_on", "switch", r"(?:okay|ok|alright|so),? (?:now|next|moving on|let's move)\b", role="step"),
    _r("final_answer", "switch", r"(?:\*\*)?final answer|(?:so|therefore|thus|hence),? the (?:final )?answer (?:is|should be)\b", role="step"),
)


# Cheap cues for the built-in `any` rows: lowercase substrings, one of which a sentence must hold
# for the row to fire. A sentence with none is skipped without running the regex (most sentences:
# this is what makes 10,000 long traces fast). Rows without cues (a user's, unless given) always run.
CUES: dict[str, tuple[str, ...]] = {
    "made_mistake": ("mistake", "error"),
    "not_right": ("not right", "not correct", "not possible", "n't right", "n't correct", "n't possible", "n't be", "not be"),
    "that_wrong": ("wrong", "incorrect", "mistake"),
    "correction": ("must have", "might have", "may have", "miscalculat", "miscount", "mistaken", "messed up", "let me correct", "properly", "correctly"),
    "double_check": ("check", "verif", "examin", "evaluat", "confirm"),
    "verify_any": ("verif",),
    "is_that_right": ("is that", "is this", "does that", "does this", "did i"),
    "make_sure": ("make sure",),
    "be_sure": ("to be ", "more accurately", "more precisely", "more carefully", "go back"),
    "whether_right": ("whether", "if th", "if it", "if ev", "if all", "if each", "if my"),
    "plug_back": (" back",),
    "again": ("again", "once more", "one more time"),
    "revisit": ("earlier", "before", "previous", "above"),
    "hold_on": ("hold on", "wait a"),
    "not_sure": ("sure", "certain", "convinced", "confus", "stuck", "know", "wonder"),
    "impossible": ("impossible", "absurd", "nonsense", "n't work", "not work", "invalid", "not valid"),
    "not_that_number": (", not ",),
    "found_issue": ("i see", "we see", "now see", "found the", "found my", "found where", "found what", "spot", "figured out",
                    "wrong", "reconsider", "rethink", "adjust", "careful"),
    "too_hard": ("tedious", "complicated", "messy", "time-consuming", "cumbersome", "involved"),
    "self_question": ("?",),
    "misread": ("misunderst", "misinterpret", "misread", "mislabel", "wrong understanding", "missed something",
                "missing something", "overlooked something", "overlooking something"),
    "seems_off": ("seems", "looks", "feels", "sounds", "doesn't", "does not", "didn't", "did not", "not match", "not a match",
                  "no match"),
    "contradiction": ("contradict", "inconsisten", "discrepan", "conflict"),
    "overcomplicating": ("overcomplicat", "overthink", "overcount", "undercount", "double"),
    "another_way": ("way", "approach", "method", "strategy", "idea"),
    "try_different": ("different", "another", "something else"),
    "aha": ("ah", "oh", "now i", "key", "i see", "explains", "realiz", "realis"),
    "zh_check": ("检查", "验证", "核对", "确认", "算"),
    "zh_wrong": ("不对", "错了", "算错", "有问题", "不正确", "搞错", "其实"),
    "zh_switch": ("另一种", "换一种", "换个"),
    "zh_aha": ("原来如此", "我明白了", "啊哈", "恍然大悟"),
    "verdict": ("correct", "right", "confirm", "accurate", "reassuring", "checks out", "adds up",
                "works", "seems", "looks", "sounds", "makes sense", "valid", " any "),
    "verdict_mark": ("✓", "✔", "✅", "☑", "(correct", "(check", "(verified", "(confirm", "(match", "(ok", "(yes", "(true",
                     "(valid", "(right"),
    "confident": ("confident", "sure", "certain", "convinced"),
    "holds": ("works", "holds", "to hold", "to work", "precise", "solid", "acceptable", "reasonable", "plausible", " fine",
              "the correct"),
    "question": ("?", "？"),
    "whether": ("whether", "make sure", "sure if", "check if", "see if", "verify if", "confirm if", "think if", "是否", "对不对"),
    "agreement": ("matches", "confirms", "consistent", "same", "indeed", "exactly what", "agree", "coincide"),
    "zh_settle": ("没错", "对的", "正确"),
    "hedge": ("maybe", "perhaps", "possibly", "unless", "i think", "i guess", "not sure", "?"),
}

RULES = tuple(replace(r, cues=CUES.get(r.name)) if r.at == "any" else r for r in RULES)
BUILTIN = frozenset(RULES)  # the built-in rows, to tell a user's rows from them


@lru_cache(maxsize=64)
def _compile(rules: tuple[Rule, ...]) -> CompiledRules:
    return CompiledRules(rules)


# Sentence starts may carry bullets, quotes, markdown emphasis or a list number before a `start` row, up to
# _BACK_OFF characters of them (each role's alternation backtracked through all of a line of 20,000 `*`).
# (No `^`: patterns run on the whole text from the sentence's offset.)
_START_PREFIX = r"[\s\"'*_>#\-–—(\[]{0,64}(?:\d+[.)]\s*)?(?:\*\*[^*]{0,40}\*\*:?\s*)?"
_PREFIX = re.compile(_START_PREFIX)
_BACK_OFF = 64


def _joins_alternation(pattern: str) -> bool:
    """Whether a `start` row can be one branch of its role's alternation: not when it has groups of its
    own (a backreference would count the other rows' groups, a name may repeat) or global inline flags
    (`(?i)` must open the whole expression)."""
    try:
        re.compile(f"x|(?P<r0>{pattern})")
    except re.error:
        return False
    return re.compile(pattern).groups == 0


class CompiledRules:
    """The rows of one table compiled once: per role, one alternation of its `start` rows (an anchored
    match is cheap) and each `any` row alone, gated by its cues. A `start` row the alternation cannot
    hold as written (groups of its own, inline flags) is compiled alone and tried after the prefix."""

    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules
        self.order = {rule: i for i, rule in reversed(list(enumerate(rules)))}
        self._by_group: dict[str, Rule] = {}
        self.start: dict[str, re.Pattern | None] = {}
        # role -> [(rule, pattern)] of the `start` rows compiled alone, in table order
        self.alone: dict[str, list[tuple[Rule, re.Pattern]]] = {}
        # role -> [(rule, pattern)] in table order; role -> cue -> positions in that list
        self.any: dict[str, list[tuple[Rule, re.Pattern]]] = {}
        self.cues: dict[str, dict[str, list[int]]] = {}
        self.uncued: dict[str, list[int]] = {}
        for role in ROLES:
            parts = []
            self.any[role], self.cues[role], self.uncued[role], self.alone[role] = [], {}, [], []
            for i, rule in enumerate(rules):
                if rule.role != role:
                    continue
                if rule.at == "start":
                    if not _joins_alternation(rule.pattern):
                        self.alone[role].append((rule, re.compile(rule.pattern, re.IGNORECASE)))
                        continue
                    group = f"r{i}"
                    self._by_group[group] = rule
                    parts.append(f"(?P<{group}>{rule.pattern})")
                    continue
                k = len(self.any[role])
                self.any[role].append((rule, re.compile(rule.pattern, re.IGNORECASE)))
                if rule.cues is None:
                    self.uncued[role].append(k)
                for cue in rule.cues or ():
                    self.cues[role].setdefault(cue, []).append(k)
            self.start[role] = re.compile(_START_PREFIX + "(?:" + "|".join(parts) + ")", re.IGNORECASE) if parts else None
        self.all_cues = frozenset(cue for by_cue in self.cues.values() for cue in by_cue)
        self.cue_finder = _cue_finder(self.all_cues)

    def first_start(self, role: str, text: str, a: int, b: int) -> tuple[Rule, int, int] | None:
        """The first `start` row of `role` in table order matching at the start of `text[a:b]`:
        (rule, start, end) as offsets into `text`, else None."""
        found = None
        pattern = self.start[role]
        m = pattern.match(text, a, b) if pattern is not None else None
        if m is not None:
            group = m.lastgroup
            if group is None or group not in self._by_group:
                group = next(g for g, v in m.groupdict().items() if v is not None)
            found = (self._by_group[group], m.start(group), m.end(group))
        for rule, pat in self.alone[role]:
            if found is not None and self.order[rule] > self.order[found[0]]:
                break
            m = _after_prefix(pat, text, a, b)
            if m is not None:
                return rule, m.start(), m.end()
        return found

    def first(self, role: str, text: str, a: int, b: int, candidates: Iterable[int] | None = None) -> tuple[Rule, int, int] | None:
        """The first row of `role` in table order firing on the sentence `text[a:b]`:
        (rule, start, end) as offsets into `text`, else None.
        candidates: the positions of the `any` rows worth trying (their cues are in the sentence);
        None tries them all."""
        found = self.first_start(role, text, a, b)
        rows = self.any[role]
        for k in (range(len(rows)) if candidates is None else sorted(candidates)):
            rule, pat = rows[k]
            if found is not None and self.order[rule] > self.order[found[0]]:
                break
            m = pat.search(text, a, b)
            if m is not None:
                return rule, m.start(), m.end()
        return found


def _after_prefix(pattern: re.Pattern, text: str, a: int, b: int) -> re.Match | None:
    """`pattern` matched right after the start prefix of `text[a:b]`, trying the longest prefix first,
    as the alternation's backtracking does (at most _BACK_OFF characters back: a line of 10,000 dashes
    must not cost 10,000 tries)."""
    longest = _PREFIX.match(text, a, b).end()
    for p in range(longest, max(a, longest - _BACK_OFF) - 1, -1):
        if p == longest or _PREFIX.fullmatch(text, a, p):
            m = pattern.match(text, p, b)
            if m is not None:
                return m
    return None


def _cue_finder(cues: frozenset[str]):
    """An Aho-Corasick automaton finding every cue in one pass over a text (each a value of its own),
    or None without cues or without pyahocorasick (the scan then looks for each cue in turn)."""
    try:
        import ahocorasick
    except ImportError:
        return None
    if not cues:
        return None
    finder = ahocorasick.Automaton()
    for cue in cues:
        finder.add_word(cue, cue)
    finder.make_automaton()
    return finder


def compiled(rules: Iterable[Rule] | None = None) -> CompiledRules:
    return _compile(tuple(RULES if rules is None else rules))


def load_rules(path: str | Path, *, extend: bool = True) -> tuple[Rule, ...]:
    """Rules from a YAML file: a list (or a mapping with key `rules`) of rows
    `{name, kind, pattern, at: start|any, role: marker|settle|close|query|step|thought|doubt|aha, cues: [...]}`
    (`kind` one of doubt, check, verdict, aha, switch, or the older names verification, hesitation,
    backtracking; `at` defaults to any, `role` to marker, and for a `switch` row to thought, so that it
    counts a switch where no act fires rather than hiding one; `cues` is optional, see Rule).

    extend: put the file's rows before the built-in table (True, the default; earlier rows name the
    marker when several fire), or use the file's rows alone (False).
    Bad rows raise InputError naming the file, the row and the field.
    """
    import yaml

    from evalkit.yamlfile import read_yaml  # yaml is imported only when a user's rows are read

    path = Path(path)
    data, node = read_yaml(path, "rules")
    if isinstance(data, dict):
        data = data.get("rules")
        node = next((v for k, v in node.value if k.value == "rules"), None)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of rules (or a mapping with key 'rules')")
    lines = [item.start_mark.line + 1 for item in node.value] if isinstance(node, yaml.SequenceNode) else []
    wheres = [f"{path}:{lines[i - 1]}: rule {i}" if len(lines) == len(data) else f"{path}: rule {i}"
              for i in range(1, len(data) + 1)]
    rows = tuple(rule_from_dict(row, where) for row, where in zip(data, wheres))
    # a marker's `rule` names the row that fired: two rows of one name (or a row named as a built-in one it
    # is put before) could not be told apart
    taken = {r.name: "a built-in row's" for r in RULES} if extend else {}
    for i, (row, where) in enumerate(zip(rows, wheres), 1):
        if row.name in taken:
            raise InputError(f"{where}: field 'name' {row.name!r} is {taken[row.name]} name already; a marker's "
                             "`rule` names the row that fired, so each row needs a name of its own")
        taken[row.name] = f"rule {i}'s"
    return rows + (RULES if extend else ())


RULE_FIELDS = ("name", "kind", "pattern", "at", "role", "cues")


def rule_from_dict(row: object, where: str) -> Rule:
    """The row a mapping `{name, kind, pattern, at, role, cues}` spells (as `load_rules` reads it);
    InputError prefixed with `where` naming the bad field."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a mapping with name, kind, pattern")
    unknown = [str(k) for k in row if k not in RULE_FIELDS]
    if unknown:  # a misspelt `at` or `role` would change what the row fires on without a word
        raise InputError(f"{where}: field '{unknown[0]}' is unknown (a rule has {', '.join(RULE_FIELDS)})")
    for key in ("name", "kind", "pattern"):
        if key in row and row[key] is not None and not isinstance(row[key], str):
            raise InputError(f"{where}: field '{key}' must be a non-empty string, got {type(row[key]).__name__} "
                             f"{row[key]!r:.40}")
        if not isinstance(row.get(key), str) or not row[key]:
            raise InputError(f"{where}: field '{key}' is required (a non-empty string)")
    kind = LEGACY_KINDS.get(row["kind"], row["kind"])
    if kind not in RULE_KINDS:
        raise InputError(f"{where}: field 'kind' must be one of {', '.join(RULE_KINDS)}, got {row['kind']!r}")
    # a switch row counts a change of approach where no act fires: first in the table as a marker, it
    # would hide the built-in doubt or check of its sentence ("Wait, that's wrong, let me try another approach.")
    at, role = row.get("at", "any"), row.get("role", "thought" if kind == "switch" else "marker")
    if at not in ("start", "any"):
        raise InputError(f"{where}: field 'at' must be start or any, got {at!r}")
    if role not in ROLES:
        raise InputError(f"{where}: field 'role' must be one of {', '.join(ROLES)}, got {role!r}")
    if kind == "aha":
        role = "aha"  # a realisation flags the act of its sentence, whatever role the row names
    try:
        compiled = re.compile(row["pattern"], re.IGNORECASE)
    except re.error as e:
        raise InputError(f"{where}: field 'pattern' is not a valid regular expression: {e}") from None
    _check_cost(row["pattern"], compiled, where)
    cues = row.get("cues")
    if cues is not None and (not isinstance(cues, list) or not cues or not all(isinstance(c, str) and c for c in cues)):
        raise InputError(f"{where}: field 'cues' must be a non-empty list of non-empty strings (or left out)")
    return Rule(row["name"], kind, row["pattern"], at, role, None if cues is None else tuple(c.lower() for c in cues))


def _check_cost(pattern: str, compiled: re.Pattern, where: str) -> None:
    """InputError for a pattern that fires on every sentence or can take exponential time on one."""
    if compiled.search("") is not None:
        raise InputError(f"{where}: field 'pattern' matches the empty text ({pattern!r:.60}): it would fire on every "
                         "sentence")
    for probe in _PROBES:  # `\b`, `(?=x)`: no text is matched, and a marker with no text fires on every sentence
        m = compiled.search(probe)
        if m is not None and m.end() == m.start():
            raise InputError(f"{where}: field 'pattern' can match no text at all ({pattern!r:.60}): as in "
                             f"{probe!r}, it would fire on sentences without marking a word of them")
    if _nested_repeat(pattern):
        raise InputError(f"{where}: field 'pattern' repeats a group that repeats itself, as (a+)+ does "
                         f"({pattern!r:.60}): on some sentences that takes exponential time, and the analysis would hang; write it without "
                         "the nesting (a+ for (a+)+); a gap of words may repeat, 3 times at most, a group each part of "
                         "which takes a character ((?:\\w+\\W+){0,3})")


_PROBES = ("Wait, let me check this again: is 3 + 4 = 7 right?", "x", "等等，这里不对。")
_SMALL_REPEAT = 3  # an outer repeat of at most this many copies may hold repeats: "up to three words between"


def _nested_repeat(pattern: str) -> bool:
    """Whether `pattern` repeats a group holding a repeat that can take a varying number (above one) of
    copies, so that Python's regex engine, when the rest fails to match, backtracks through every split of
    a text among them: exponentially many for (a+)+ and (?:\\w+\\s+)*, and, for a fixed or small outer
    repeat, the outer count's power ((?:\\w+\\s?){10}). Allowed: an outer repeat of at most _SMALL_REPEAT copies,
    not itself inside another repeat, whose body takes at least one character in each part (a word gap,
    (?:\\w+\\W+){0,3}: the parts cannot swap characters), and a repeat of an atomic group ((?>a+)+b; inside
    one, the same rules hold). A heuristic on the parsed pattern (the classic star height), not a proof:
    (a|aa)*b passes; no built-in row is flagged. False where the pattern cannot be parsed here (another
    Python's parser)."""
    try:
        from re import _parser as parser  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse as parser
    try:
        repeats = {parser.MAX_REPEAT, parser.MIN_REPEAT}
        atomic = getattr(parser, "ATOMIC_GROUP", object())  # Python 3.11+

        def parts(av: object) -> Iterable:
            if isinstance(av, parser.SubPattern):
                yield av
            elif isinstance(av, (list, tuple)):
                for x in av:
                    yield from parts(x)

        def loose(body: object) -> bool:
            """Whether a part of a repeated body can take no character (copies of the rest may then touch)."""
            return any(parser.SubPattern(body.state, [item]).getwidth()[0] == 0 for item in body)

        def nested(items: object, copies: int, touching: bool) -> bool:
            """copies: how many times the enclosing repeats may take what `items` match (1 outside any);
            touching: whether copies of an enclosing repeat's parts may meet without a character between."""
            for op, av in items:
                if op in repeats:
                    lo, hi, body = av
                    if hi > 1 and hi != lo and copies > 1 and (copies > _SMALL_REPEAT or touching):
                        return True
                    inside = (min(copies * hi, 1 << 30), touching or copies > 1 or loose(body)) if hi > 1 \
                        else (copies, touching)
                    if nested(body, *inside):
                        return True
                elif op is atomic:  # no backtracking into it from outside: a scope of its own
                    if nested(av, 1, False):
                        return True
                elif any(nested(part, copies, touching) for part in parts(av)):
                    return True
            return False

        return nested(parser.parse(pattern), 1, False)
    except Exception:  # noqa: BLE001 - a parser that differs: no check, as before there was one
        return False


def rule_to_dict(rule: Rule) -> dict:
    """The mapping `rule_from_dict` reads back into `rule`."""
    return {"name": rule.name, "kind": rule.kind, "pattern": rule.pattern, "at": rule.at, "role": rule.role,
            "cues": None if rule.cues is None else list(rule.cues)}
