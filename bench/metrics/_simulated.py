"""What the simulated metric benches share: their command line and how they write a result."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Callable

HERE = Path(__file__).parent


def main(doc: str, name: str, run: Callable[[int], list[dict]], table: Callable[[list[dict], int], list[str]]) -> None:
    """Runs `run(repeats)` and writes its rows as results/{name}.json and the lines `table` makes of them as
    results/{name}.md (also printed)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1000)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    rows = run(args.repeats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(
        {"repeats": args.repeats, "python": platform.python_version(), "scenarios": rows}, indent=1) + "\n")
    lines = table(rows, args.repeats)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
