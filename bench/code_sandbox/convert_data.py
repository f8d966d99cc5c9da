"""Rebuild tasks/data/{humaneval.jsonl.gz,mbpp.jsonl,livecodebench.jsonl} from ../shared/data/benchmarks.

Each copy keeps the hub dataset's column names (openai/openai_humaneval, google-research-datasets/mbpp
`full`, livecodebench/code_generation_lite), so one task spec serves both. Run from the repository
root: `python bench/code_sandbox/convert_data.py [SHARED_BENCHMARKS_DIR]`. Sources: tasks/data/README.md.
"""

from __future__ import annotations

import base64
import json
import pickle
import re
import shutil
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "benchmarks"
DST = ROOT / "tasks" / "data"


def main() -> None:
    shutil.copyfile(SRC / "humaneval.jsonl.gz", DST / "humaneval.jsonl.gz")  # already the hub's columns
    with open(DST / "mbpp.jsonl", "w") as out:  # evalchemy's (prompt, test, code) -> the hub's names
        for line in open(SRC / "mbpp_test.jsonl"):
            d = json.loads(line)
            out.write(json.dumps({"task_id": d["task_id"], "text": d["prompt"], "code": d["code"],
                                  "test_list": d["test"], "test_setup_code": "", "challenge_test_list": []}) + "\n")
    with open(DST / "livecodebench.jsonl", "w") as out:  # SandboxFusion's sample -> code_generation_lite
        for line in open(SRC / "livecodebench_sample3.jsonl"):
            d = json.loads(line)
            p = d["prompt"]
            question = p[p.index("### Question:\n") + len("### Question:\n"):p.index("### Format")].strip()
            m = re.search(r"```python\n(.*?)```", p[p.index("### Format"):], re.S)
            starter = m.group(1) if m and "YOUR CODE HERE" not in m.group(1) else ""
            fn = d["tests"].get("fn_name")
            kind = "functional" if fn else "stdin"
            cases = [{"input": i, "output": o, "testtype": kind} for i, o in zip(d["tests"]["inputs"], d["tests"]["outputs"])]
            # the hub stores private tests as base64(zlib(pickle(json text))); keep that form
            private = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases[1:])))).decode()
            platform, qid = d["task_id"].split("/")
            out.write(json.dumps({
                "question_title": d["task_id"], "question_content": question, "platform": platform,
                "question_id": qid, "contest_id": qid.split("_")[0], "contest_date": "", "starter_code": starter,
                "difficulty": d["difficulty"], "public_test_cases": json.dumps(cases[:1]),
                "private_test_cases": private, "metadata": json.dumps({"func_name": fn} if fn else {})}) + "\n")


if __name__ == "__main__":
    main()
