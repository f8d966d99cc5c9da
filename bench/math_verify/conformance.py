"""Conformance: math-verify's own parametrised test cases, run through evalkit's math verifier.

Downloads math-verify's source distribution at bench time (nothing of it is kept in the project),
reads the `@pytest.mark.parametrize(...)` case lists of its tests (by parsing, never importing them),
runs every (gold, pred) case through `evalkit.verifiers.math.verify_many`, and writes every
disagreement with its justification to results/conformance.{json,md}. A disagreement without a
justification below is reported as UNEXPLAINED.

    python bench/math_verify/conformance.py [--version 0.9.0] [--sdist PATH]
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (test function, gold, pred) -> why evalkit's verdict differs from math-verify's expected one.
# Filled by reading each disagreement; the categories are the documented fixes and choices.
_MULTI_BOX_GOLD = ("evalkit reads a gold with several boxes as a multi-part answer (every part needed, "
                   "as OlympiadBench's multi-answers); math-verify keeps only one of them")
JUSTIFIED: dict[tuple[str, str, str], str] = {
    ("test_number_extraction", "1,22", "1.22"):
        "evalkit reads a comma in a gold answer as a list separator (OlympiadBench's `1,3`), never as a "
        "decimal comma",
    ("test_open_thoughts", "\\boxed{1} no no no no no \\boxed{2}", "$\\boxed{1,2}$"): _MULTI_BOX_GOLD,
    ("test_string_extraction", "$1 - \\frac{1}{\\mathrm{e}}$", "$1 + \\frac{1}{\\mathrm{e}}$"):
        "a fix: 1 - 1/e (0.632) is not 1 + 1/e (1.368); math-verify calls them equal, evalkit's value "
        "check refuses numbers that clearly differ",
    ("test_string_extraction", "B", "Because B is valid"):
        "evalkit's choice verifier reads a letter only from a statement ('the answer is B', 'it's B', "
        "'(B)', a box, or a reply that is just the letter), never a capital letter inside prose",
}
# Whole classes, matched on the test's parameters: (param, value) -> why.
PARAM_JUSTIFIED = {
    ("match_types", ("expr",)): "the case restricts math-verify to plain-expression extraction; evalkit always reads LaTeX too",
    ("strict", False): "non-strict mode (variables matched by position, sets vs tuples) is not an evalkit option; evalkit is strict",
    ("allow_set_relation_comp", False): "evalkit compares a relation chain with an interval (`1 < x \\le 4` = `(1,4]`, "
                                        "math-verify's allow_set_relation_comp=True): graders that read answers whole "
                                        "accept both ways of writing one set",
    ("precision", 2): "the case lowers math-verify's float rounding to 2 digits; evalkit keeps the default 6",
}


def math_verify_itself(case: dict) -> bool:
    """The verdict math-verify's own release gives for a case, called as its tests call it."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    kinds = case.get("match_types", ["latex", "expr"])
    boxed_first = case["test"] != "test_string_extraction"  # test_yujianll calls plain parse()
    targets = [(LatexExtractionConfig(boxed_match_priority=0) if boxed_first else LatexExtractionConfig())
               if k == "latex" else ExprExtractionConfig() for k in kinds if k in ("latex", "expr")]
    gold, pred = parse(case["gold"], targets), parse(case["pred"], targets)
    return bool(verify(gold, pred, float_rounding=case.get("precision", 6), strict=case.get("strict", True),
                       allow_set_relation_comp=case.get("allow_set_relation_comp", False)))


def fetch(version: str | None, dest: Path) -> Path:
    spec = f"math-verify=={version}" if version else "math-verify"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-q",
                    "-d", str(dest), spec], check=True)
    return next(dest.glob("math_verify-*.tar.gz"))


def cases_from(source: str, filename: str) -> tuple[list[dict], int]:
    """Every literal parametrised case with gold, pred and expected; and how many were not literal."""
    out, skipped = [], 0
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                continue
            try:
                names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
            except (ValueError, SyntaxError, AttributeError):
                continue
            names = ["expected" if n == "result" else n for n in names]
            if not {"pred", "expected"} <= set(names) or not isinstance(dec.args[1], (ast.List, ast.Tuple)):
                continue
            for elt in dec.args[1].elts:
                row = {}
                for name, value in zip(names, getattr(elt, "elts", [])):
                    try:
                        row[name] = ast.literal_eval(value)
                    except ValueError:  # a config object: kept as its source text
                        row[name] = ast.unparse(value)
                if len(row) != len(names):
                    skipped += 1
                    continue
                kind = "math" if "gold" in row else "choice"
                out.append({"file": filename, "test": node.name, "line": elt.lineno, "kind": kind, **row})
    return out, skipped


def justification(case: dict) -> str | None:
    key = (case["test"], case["gold"], case["pred"])
    if key in JUSTIFIED:
        return JUSTIFIED[key]
    for name, value in PARAM_JUSTIFIED:
        if name in case and (tuple(case[name]) if isinstance(case[name], list) else case[name]) == value:
            return PARAM_JUSTIFIED[(name, value)]
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="0.9.0")
    ap.add_argument("--sdist", type=Path, help="use this sdist instead of downloading")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    a = ap.parse_args()
    from evalkit.verifiers.math import verify_many

    with tempfile.TemporaryDirectory() as d:
        sdist = a.sdist or fetch(a.version, Path(d))
        cases, skipped = [], 0
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                if "/tests/" in member.name and member.name.endswith(".py"):
                    src = tar.extractfile(member).read().decode()
                    got, n = cases_from(src, member.name.split("/tests/", 1)[1])
                    cases += got
                    skipped += n
    from evalkit.verifiers.choice import verify_choice

    math_cases = [c for c in cases if c["kind"] == "math"]
    verdicts = dict(zip(map(id, math_cases), verify_many([(c["pred"], c["gold"]) for c in math_cases], timeout=10.0)))
    rows = []
    for c in cases:
        if c["kind"] == "choice":  # StringExtractionConfig cases: the letter math-verify extracts
            want = c["expected"][1] if c["expected"] else None
            letters = "".join(re.findall(r"'([A-Z])'", c.get("config", ""))) or "ABCDEFGHIJ"
            got = verify_choice(c["pred"], want or "A", letters=letters)
            if got.answer == want:
                continue
            rows.append({"where": f"{c['file']}:{c['line']} {c['test']}", "gold": f"letter {want}", "pred": c["pred"],
                         "math_verify": want, "math_verify_release": want, "evalkit": got.answer,
                         "evalkit_reason": got.reason, "evalkit_answer": got.answer, "params": {"config": c.get("config")},
                         "justification": JUSTIFIED.get((c["test"], str(want), c["pred"]), "UNEXPLAINED")})
            continue
        v = verdicts[id(c)]
        expected = bool(c["expected"])
        if v.correct is expected:
            continue
        extra = {k: c[k] for k in c if k not in ("file", "test", "line", "gold", "pred", "expected")}
        actual = math_verify_itself(c)
        why = justification(c)
        if why is None and actual is v.correct:
            why = (f"math-verify {a.version} itself returns {actual} here: its test expectation is not "
                   "met by its own release, and evalkit agrees with the release")
        rows.append({"where": f"{c['file']}:{c['line']} {c['test']}", "gold": c["gold"], "pred": c["pred"],
                     "math_verify": expected, "math_verify_release": actual, "evalkit": v.correct,
                     "evalkit_reason": v.reason, "evalkit_answer": v.answer, "params": extra,
                     "justification": why or "UNEXPLAINED"})
    summary = {"sdist": Path(sdist).name, "cases": len(cases), "not_literal_skipped": skipped,
               "agree": len(cases) - len(rows), "disagree": len(rows),
               "unexplained": sum(r["justification"] == "UNEXPLAINED" for r in rows),
               "by_justification": dict(Counter(r["justification"] for r in rows).most_common())}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "conformance.json").write_text(json.dumps({"summary": summary, "disagreements": rows},
                                                       indent=2, ensure_ascii=False) + "\n")
    md = [f"# Conformance: math-verify {a.version} test cases through evalkit", "",
          f"{summary['cases']} literal parametrised cases ({skipped} non-literal skipped): "
          f"{summary['agree']} agree, {summary['disagree']} disagree, {summary['unexplained']} unexplained.", "",
          "`math-verify` is the case's expected verdict; `release` is what math-verify's released code "
          "actually returns for it.", "",
          "| where | gold | pred | math-verify | release | evalkit | why |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")[:80]
        md.append(f"| {r['where']} | `{cell(r['gold'])}` | `{cell(r['pred'])}` | {r['math_verify']} | "
                  f"{r['math_verify_release']} | "
                  f"{r['evalkit']} ({r['evalkit_reason']}) | {cell(r['justification'])} |")
    (a.out / "conformance.md").write_text("\n".join(md) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
