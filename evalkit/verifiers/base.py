"""The Verifier protocol and the registry that task specs and plugins share."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Protocol, Sequence

from evalkit.types import Verdict


@dataclass(frozen=True)
class VerifyItem:
    """One thing to verify.

    completion: the model's whole text (think block included).
    gold: the gold answer (math / choice) or the code tests (CodeTests, dict or JSON text).
    finish_reason: the backend's finish reason, when known (`length` means truncated).
    think_open: the prompt opened the think block, so the completion starts inside it.
    problem: the problem statement, for verifiers that read it (a judge model); None when unknown.
    think_format: how the completion thinks (a evalkit.thinking row or its name; None is r1): where its
        thinking ends and its answer is.
    """

    completion: str | None
    gold: Any
    finish_reason: str | None = None
    think_open: bool = False
    problem: str | None = None
    think_format: Any = None


class Verifier(Protocol):
    """Text in, Verdict out; never raises. `verify_many` keeps input order."""

    name: str

    def verify_many(self, items: Sequence[VerifyItem]) -> list[Verdict]: ...


# name -> factory(**options) -> Verifier. Built-ins register where they are defined;
# plugins register through the `evalkit.verifiers` entry-point group.
VERIFIERS: dict[str, Callable[..., Verifier]] = {}


def register_verifier(name: str, factory: Callable[..., Verifier]) -> None:
    VERIFIERS[name] = factory


def get_verifier(name: str, **options: Any) -> Verifier:
    """The verifier registered as `name`, built with `options` (a task spec's verifier options).

    `INNER+OUTER` (e.g. `math+judge`) is a cascade: OUTER's factory gets the built INNER verifier as
    `inner=`, and its own options from the option named after it (`judge: {...}`); the rest of
    `options` build INNER. Any registered verifier whose factory takes `inner` can wrap another.
    """
    if "+" in name:
        inner_name, _, outer_name = name.rpartition("+")
        own = options.pop(outer_name, None) or {}
        if not isinstance(own, dict):
            raise ValueError(f"verifier {name!r}: option {outer_name!r} must be a mapping of its options")
        return get_verifier(outer_name, inner=get_verifier(inner_name, **options), **own)
    if name not in VERIFIERS:
        _load_builtin(name)
    if name not in VERIFIERS:
        for ep in entry_points(group="evalkit.verifiers"):
            if ep.name == name:
                register_verifier(name, ep.load())
    if name not in VERIFIERS:
        known = ", ".join(sorted(set(VERIFIERS) | {"math", "choice", "code", "judge"}))
        raise KeyError(f"unknown verifier {name!r} (known: {known})")
    return VERIFIERS[name](**options)


def _load_builtin(name: str) -> None:
    # Importing the module registers it; imports stay lazy so `import evalkit` stays light.
    module = {"math": "evalkit.verifiers.math", "choice": "evalkit.verifiers.choice",
              "code": "evalkit.verifiers.code", "judge": "evalkit.verifiers.judge"}.get(name)
    if module:
        try:
            __import__(module)
        except ImportError:
            pass
