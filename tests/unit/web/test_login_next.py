"""Where a browser goes after signing in: a path of bridge's own, never another site, whatever
the `next` a link carried (fuzzed)."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.web.login import HOME, safe_next

BASE = "https://bridge.example/"


@pytest.mark.parametrize(
    ("asked", "landed"),
    [
        ("/incidents/4", "/incidents/4"),
        ("/?status=open&priority=P1", "/?status=open&priority=P1"),
        (None, HOME),
        ("", HOME),
        ("//evil.example", HOME),
        ("/\\evil.example", HOME),
        ("https://evil.example/", HOME),
        ("javascript:alert(1)", HOME),
        ("/\t/evil.example", HOME),  # browsers drop the tab: "//evil.example"
        ("incidents/4", HOME),
    ],
)
def test_next_is_a_path_of_this_site(asked: str | None, landed: str) -> None:
    assert safe_next(asked) == landed


@given(st.text(max_size=60))
def test_whatever_next_says_the_browser_stays_on_this_site(asked: str) -> None:
    target = safe_next(asked)
    # what a browser does with the Location header: drop tabs and newlines, resolve against the page
    resolved = urljoin(BASE, target.replace("\t", "").replace("\n", "").replace("\r", ""))
    assert resolved.startswith(BASE)
