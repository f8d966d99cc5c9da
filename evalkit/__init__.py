"""evalkit: evaluate reasoning language models, analyze how they reasoned, and train them on the same verifiers."""

from evalkit.types import CodeTests, Completion, Problem, Verdict

__version__ = "0.1.0"
__all__ = ["CodeTests", "Completion", "Problem", "Verdict", "__version__"]
