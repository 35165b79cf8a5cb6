"""The token a request presents: a bearer token, or the password of Basic auth."""

from __future__ import annotations

import base64

import pytest

from bridge.web.auth import presented_token


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc", "abc"),
        ("Basic " + base64.b64encode(b"alertmanager:abc").decode(), "abc"),
        ("Basic " + base64.b64encode(b":abc").decode(), "abc"),
        ("Basic " + base64.b64encode(b"user-only").decode(), None),
        ("Basic !!!", None),
        ("Token abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_presented_token(header: str | None, token: str | None) -> None:
    assert presented_token(header) == token
