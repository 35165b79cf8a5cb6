"""Tokens are kept only as their SHA-256."""

from __future__ import annotations

from bridge.services.tokens import digest


def test_tokens_are_stored_as_sha256() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
