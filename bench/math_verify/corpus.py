"""Build the math verifier's bench corpus: 500 MATH-500 problems x 16 R1-style completions.

Each completion is `<think>\n` + a 2k-20k character window cut from the shared R1-distill traces +
`\n</think>\n\nThe final answer is $\boxed{X}$`, where X is the gold answer 60% of the time and
otherwise one of two wrong answers fixed per problem (other problems' gold answers), as real
sampling repeats answers. Reads the shared data (../shared/data or /work/shared/data); never used
by tests.

    python bench/math_verify/corpus.py OUT.jsonl [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SAMPLES = 16
P_GOLD = 0.6


def shared_data() -> Path:
    here = Path(__file__).resolve()
    for cand in (here.parents[3] / "shared" / "data", Path("/work/shared/data")):
        if cand.is_dir():
            return cand
    raise SystemExit("shared data not found (../shared/data)")


def think_texts(data: Path) -> list[str]:
    """The reasoning of every shared trace (think block only), the material windows are cut from."""
    texts = []
    for f in sorted((data / "traces").glob("*.jsonl")):
        for line in f.open():
            r = json.loads(line)
            text = r.get("full_response") or r.get("response") or ""
            end = text.find("</think>")
            text = text[:end] if end >= 0 else text
            texts.append(text.replace("<think>", ""))
    return [t for t in texts if len(t) > 1000]


def build(out: Path, seed: int = 0) -> int:
    rng = random.Random(seed)
    data = shared_data()
    problems = [json.loads(line) for line in (data / "benchmarks" / "math500.jsonl").open()]
    corpus = "\n\n".join(think_texts(data))
    golds = [p["answer"] for p in problems]
    n = 0
    with out.open("w") as f:
        for p in problems:
            others = [g for g in golds if g != p["answer"]]
            wrong = rng.sample(others, 2)
            for s in range(SAMPLES):
                size = rng.randint(2000, 20000)
                start = rng.randrange(0, len(corpus) - size)
                answer = p["answer"] if rng.random() < P_GOLD else wrong[rng.randrange(2)]
                completion = (f"<think>\n{corpus[start:start + size]}\n</think>\n\n"
                              f"The final answer is $\\boxed{{{answer}}}$")
                f.write(json.dumps({"id": f"{p['unique_id']}#{s}", "completion": completion,
                                    "gold": p["answer"], "boxed": answer}) + "\n")
                n += 1
    return n


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(build(a.out, a.seed), "completions written to", a.out)
