"""evalkit: evaluate reasoning language models, analyze how they reasoned, and train them on the same verifiers."""

from evalkit.types import CodeTests, Completion, Problem, Verdict

__version__ = "0.1.0"
__all__ = ["CodeTests", "Completion", "Problem", "Verdict", "evaluate", "load_run", "__version__"]


def __getattr__(name: str):
    # the pipeline is imported on first use, so `import evalkit` stays light
    if name in ("evaluate", "load_run"):
        from evalkit import run

        return getattr(run, name)
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
