"""What a thinking-budget sweep costs: tokens generated and prefilled, against rerunning per budget.

On the vLLM CPU engine with the tiny offline model (evalkit.testing), through `evalkit.evaluate`:

- largest alone: `--think-budget B_max` (one thinking, one answer per sample);
- sweep: `--think-budget B1,...,B5` (one thinking up to B_max, then an answer per budget with prompt +
  cut thinking as a prefix vLLM has cached);
- the peer a user would otherwise run: one run per budget (each generates its own thinking), the
  way harnesses without budget reuse measure accuracy against thinking.

Budgets and answer tokens are the real defaults scaled down 16x (1024..16384 thinking tokens with 256
answer tokens become 64..1024 with 16), so the ratios carry over. Target: sweep / largest alone <= 1.3x
generated tokens. Every count is read from what the engine was sent and returned (vLLM's own
`num_cached_tokens` for the cached prefix); nothing is estimated.

    flock /tmp/heavy.lock python bench/budgets/bench_budgets.py

Writes bench/budgets/results/budgets.md and budgets.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import evalkit  # noqa: E402
from evalkit.budgets import Continued, Prefix  # noqa: E402
from evalkit.testing import build_tiny_model  # noqa: E402

BUDGETS = (64, 128, 256, 512, 1024)
ANSWER_TOKENS = 16


class Counting:
    """The vLLM backend, counting what budget generation sends it and gets back."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.model, self.tokenizer = engine, engine.name, engine.model, engine.tokenizer
        self.reset()

    def reset(self) -> None:
        self.generated = self.prompt = self.cached = self.requests = 0

    def render(self, *args, **kwargs):
        return self.engine.render(*args, **kwargs)

    def continue_tokens(self, prefixes: list[Prefix]) -> list[Continued]:
        out = self.engine.continue_tokens(prefixes)
        for p, c in zip(prefixes, out):
            self.requests += 1
            self.prompt += len(p.token_ids)
            self.cached += c.cached_tokens or 0
            # a stop on the close or on end-of-sequence is a generated token the record leaves out
            self.generated += len(c.token_ids) + (c.finish_reason == "stop")
        return out

    def close(self) -> None:
        pass


def measure(counting: Counting, budgets: tuple[int, ...], out: Path, args, **forcing) -> dict:
    counting.reset()
    counting.engine.llm.reset_prefix_cache()  # every run starts cold, as a separate run would
    t0 = time.perf_counter()
    run = evalkit.evaluate([args.task], engine=counting, n=args.n, limit=args.limit, think_budget=list(budgets),
                           answer_tokens=ANSWER_TOKENS, temperature=1.0, out=out, progress=False, trace=False,
                           **forcing)
    top = run.results[0]["think_budgets"]["budgets"][-1]
    return {"budgets": list(budgets), "samples": run.generated, "generated": counting.generated,
            "prompt": counting.prompt, "cached": counting.cached, "prefilled": counting.prompt - counting.cached,
            "requests": counting.requests, "mean_thinking_at_largest": top["mean_thinking_tokens"],
            "seconds": round(time.perf_counter() - t0, 2)}


def scenario(counting: Counting, tmp: Path, name: str, args, **forcing) -> dict:
    largest = measure(counting, BUDGETS[-1:], tmp / f"{name}-largest", args, **forcing)
    sweep = measure(counting, BUDGETS, tmp / f"{name}-sweep", args, **forcing)
    reruns = [measure(counting, (b,), tmp / f"{name}-rerun{b}", args, **forcing) for b in BUDGETS]
    rerun = {k: sum(r[k] for r in reruns) for k in ("samples", "generated", "prompt", "cached", "prefilled",
                                                    "requests", "seconds")}
    return {"largest": largest, "sweep": sweep, "reruns": reruns, "rerun_total": rerun,
            "ratio": sweep["generated"] / largest["generated"]}


def table(result: dict) -> list[str]:
    largest, sweep, rerun = result["largest"], result["sweep"], result["rerun_total"]
    base = largest["generated"]
    lines = ["| run | samples | generated tokens | x largest alone | prompt tokens sent | cached by vLLM | prefilled "
             "| seconds |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in (("largest budget alone", largest), ("sweep, 5 budgets (evalkit)", sweep),
                    ("one run per budget (peer)", rerun)):
        lines.append(f"| {name} | {r['samples']} | {r['generated']} | {r['generated'] / base:.3f}x | {r['prompt']} | "
                     f"{r['cached']} | {r['prefilled']} | {r['seconds']} |")
    lines += ["", f"Mean thinking tokens at the largest budget: {largest['mean_thinking_at_largest']:.0f}. "
              f"Sweep / largest alone: **{result['ratio']:.3f}x** generated tokens (target <= 1.3x); "
              f"the peer's reruns: {rerun['generated'] / base:.2f}x. Prefilled: sweep {sweep['prefilled']}, "
              f"largest alone {largest['prefilled']}, reruns {rerun['prefilled']}."]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="gsm8k")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("-n", type=int, default=2)
    args = ap.parse_args()
    from evalkit.backends.vllm import VLLMBackend

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny")
        engine = VLLMBackend(model=str(model), dtype="float32", max_model_len=2048, enforce_eager=True)
        counting = Counting(engine)
        try:
            free = scenario(counting, Path(tmp), "free", args)
            # the random model often ends its thinking early; forcing it on shows the cost when every
            # sample thinks to the largest budget (the worst case for the sweep)
            full = scenario(counting, Path(tmp), "full", args, min_think=BUDGETS[-1], max_waits=1000)
        finally:
            engine.close()
    bound = (BUDGETS[-1] + 5 * ANSWER_TOKENS) / (BUDGETS[-1] + ANSWER_TOKENS)
    lines = [
        "# Thinking-budget sweep cost",
        "",
        f"`flock /tmp/heavy.lock python bench/budgets/bench_budgets.py` — vLLM CPU engine (vllm "
        f"{_version('vllm')}, prefix caching on, its cache reset before each run), the tiny offline model, "
        f"{args.task} first {args.limit} problems x {args.n} samples, temperature 1.0, budgets "
        f"{','.join(map(str, BUDGETS))}, answer tokens {ANSWER_TOKENS}; {platform.machine()}, "
        f"Python {platform.python_version()}.",
        "",
        "## As the model thinks (it often ends early)",
        "",
        *table(free),
        "",
        f"## Every sample thinking to the largest budget (`--min-think {BUDGETS[-1]}`)",
        "",
        *table(full),
        "",
        f"When every sample thinks to B_max the sweep's bound is (B_max + 5K) / (B_max + K) = {bound:.3f}; "
        "forced waits add a few tokens of wait text. Generated tokens count every token the engine "
        "sampled (a stop token included); prefilled = prompt tokens sent minus those vLLM took from its "
        "prefix cache (`num_cached_tokens`). Seconds are wall time on a shared 2-core machine: indicative only.",
    ]
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "budgets.md").write_text("\n".join(lines) + "\n")
    (out_dir / "budgets.json").write_text(json.dumps({"free": free, "think_to_largest": full}, indent=1) + "\n")
    print("\n".join(lines))


def _version(pkg: str) -> str:
    import importlib

    return getattr(importlib.import_module(pkg), "__version__", "?")


if __name__ == "__main__":
    main()
