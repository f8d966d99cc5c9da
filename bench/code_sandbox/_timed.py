"""The timed part of the sandbox bench, alone so a normal user's virtualenv (evalkit and pyseccomp
only) can import it too: `workers` sandbox servers, warmed, then the 164 runs and `repeat` x 164."""

from __future__ import annotations

import time

from evalkit.sandbox import Sandbox, SandboxConfig


def time_runs(jobs: list, repeat: int, workers: int) -> dict:
    """Runs per second over `jobs` ((program, tests) pairs) and `repeat` copies of them, with the
    sandbox layers that were in force."""
    out = {}
    with Sandbox(SandboxConfig(workers=workers, timeout_s=6)) as box:
        layers = box.layers()
        box.run_many(jobs[:workers * 2])  # warm: servers started
        for name, batch in (("164", jobs), (f"{repeat}x164", jobs * repeat)):
            t = time.perf_counter()
            results = box.run_many(batch)
            dt = time.perf_counter() - t
            out[name] = {"runs": len(batch), "seconds": round(dt, 3), "runs_per_s": round(len(batch) / dt, 1),
                         "passed": sum(1 for r in results if r.tests and r.passed == len(r.tests)),
                         "errors": sum(1 for r in results if r.error)}
    out["layers_in_force"], out["layers_missing"] = layers["in_force"], layers["missing"]
    return out
