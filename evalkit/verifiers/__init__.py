"""Verifiers: text in, Verdict out. `math`, `choice` and `code` are built in; plugins register by name
(entry-point group `evalkit.verifiers`) and declare what they can do as `Capabilities`."""

from evalkit.verifiers.base import (
    VERIFIERS,
    Capabilities,
    Verifier,
    VerifyItem,
    capabilities,
    check_verifier,
    get_verifier,
    register_verifier,
    verifier_names,
)

__all__ = ["VERIFIERS", "Capabilities", "Verifier", "VerifyItem", "capabilities", "check_verifier", "get_verifier",
           "register_verifier", "verifier_names"]
