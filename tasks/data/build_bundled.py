"""Rebuild the bundled offline copies in this folder from ../shared/data (a maintainer's tool).

Each copy keeps the hub dataset's column names, so one task spec's field map serves both the hub
and the bundled copy. Run from the repository root: `python tasks/data/build_bundled.py`.
Sources and licenses: tasks/data/README.md.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent.parent / "shared" / "data"


def read(name: str) -> list[dict]:
    with open(SHARED / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write(name: str, rows: list[dict]) -> None:
    with open(HERE / name, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)} rows")


def as_list(value):
    return ast.literal_eval(value) if isinstance(value, str) else list(value)


def none(value):
    return None if value in ("None", "", None) else value


def main() -> None:
    b = "benchmarks/"
    # HuggingFaceH4/MATH-500: problem, solution, answer, subject, level (int), unique_id
    math500 = [{**r, "level": int(r["level"])} for r in read(b + "math500.jsonl")]
    write("math500.jsonl", math500)
    # HuggingFaceH4/aime_2024: id, problem, solution, answer, url
    write("aime24.jsonl", [{k: r[k] for k in ("id", "problem", "solution", "answer", "url")} for r in read(b + "aime24.jsonl")])
    # QwQ's AIME 2025 copy: prompt (instruction included), answer
    write("aime25.jsonl", [{"id": str(i), "prompt": r["prompt"], "answer": str(r["answer"])} for i, r in enumerate(read(b + "aime25.jsonl"))])
    # AMC 2023 (40): id, problem, answer (float, as published), url
    write("amc23.jsonl", [{k: r[k] for k in ("id", "problem", "answer", "url")} for r in read(b + "amc23.jsonl")])
    # openai/gsm8k (main): question, answer
    write("gsm8k.jsonl", [{"question": r["question"], "answer": r["answer"]} for r in read(b + "gsm8k_test.jsonl")])
    # Minerva math: problem, solution (gold is its last \boxed{}), type
    write("minerva_math.jsonl", [{k: r[k] for k in ("problem", "solution", "type")} for r in read(b + "minerva_math.jsonl")])
    # Hothan/OlympiadBench (OE_TO_maths_en_COMP): lists and booleans as the hub stores them
    olymp = []
    for r in read(b + "olympiadbench.jsonl"):
        olymp.append({
            "id": int(r["id"]), "question": r["question"], "solution": as_list(r["solution"]),
            "final_answer": as_list(r["final_answer"]), "context": none(r["context"]),
            "is_multiple_answer": r["is_multiple_answer"] in ("True", True), "unit": none(r["unit"]),
            "answer_type": r["answer_type"], "subfield": r["subfield"], "error": none(r["error"]),
        })
    write("olympiadbench.jsonl", olymp)
    build_demo(math500)


def build_demo(math500: list[dict]) -> None:
    """The demo: real reasoning traces of several models, replayed and scored offline."""
    by_problem = {r["problem"].strip(): r for r in math500}
    problems: dict[str, dict] = {}
    completions: list[dict] = []
    t = "traces/"
    files = [("math500_deepseek_reasoner.jsonl", 0), ("math500_deepseek_reasoner_b.jsonl", 1),
             ("math500_r1distill_llama8b.jsonl", 0), ("math500_r1distill_qwen7b.jsonl", 0)]
    for name, sample in files:
        for r in read(t + name):
            row = by_problem[r["problem"].strip()]
            pid = row["unique_id"]
            problems[pid] = {"id": pid, "problem": row["problem"], "answer": row["answer"],
                             "level": str(row["level"]), "subject": row["subject"], "source": "MATH-500"}
            text = r["full_response"]
            completions.append({
                "problem_id": pid, "sample": sample, "model": r["model_name"], "completion": text,
                # distill chat templates open the think block in the prompt
                "think_open": "<think>" not in text,
                "prompt_tokens": int(r["prompt_tokens"]), "completion_tokens": int(r["total_generated_tokens"]),
            })
    for r in read(t + "r1distill_math_labeled.jsonl"):
        pid = "MATH/" + r["problem_id"]
        problems[pid] = {"id": pid, "problem": r["problem"], "answer": r["gt_answer"],
                         "level": r["level"].replace("Level ", ""), "subject": r["type"], "source": "MATH (hard)"}
        completions.append({
            "problem_id": pid, "sample": 0 if "/correct_base_solution/" in r["source"] else 1,
            "model": r["model"], "completion": r["response"], "think_open": True,
        })
    write("demo/problems.jsonl", list(problems.values()))
    write("demo/completions.jsonl", completions)


if __name__ == "__main__":
    main()
