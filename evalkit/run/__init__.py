"""The pipeline of `evalkit run`, split by job:

    planning.py   task specs → problems, the run's identity, what is still to make, the requests
    rundir.py     the run directory: the one reader and writer of config.json, samples.jsonl, results.json
    loop.py       generate → verify → trace → write
    results.py    metrics per task and model from samples.jsonl
    pipeline.py   `evaluate`, which strings them together (what `evalkit run` calls)

Names are imported on first use, so reading a run directory (`evalkit.run.rundir`) stays light.
"""

_WHERE = {
    "RunResult": "pipeline", "evaluate": "pipeline", "load_run": "pipeline",
    "TaskPlan": "planning", "run_dir_name": "planning",
    "compute_results": "results", "TaskResults": "results",
    "RunConfig": "rundir", "RunDir": "rundir", "read_samples": "rundir",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"evalkit.run.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'evalkit.run' has no attribute {name!r}")
