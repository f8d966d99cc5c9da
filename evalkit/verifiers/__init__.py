"""Verifiers: text in, Verdict out. `math`, `choice` and `code` are built in; plugins register by name."""

from evalkit.verifiers.base import VERIFIERS, Verifier, VerifyItem, get_verifier, register_verifier

__all__ = ["VERIFIERS", "Verifier", "VerifyItem", "get_verifier", "register_verifier"]
