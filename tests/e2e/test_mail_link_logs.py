"""The token of a mail link is a credential until it is used or expires: the production web tier
(gunicorn with bridge's config) logs each request, but never the token."""

from __future__ import annotations

import shutil
from pathlib import Path

import requests

from bridge.services.mail_links import hide_link_tokens
from tests.support.app import gunicorn_serving
from tests.support.postgres import free_port

TOKEN = "eyJsIjoiU0VDUkVUIn0.c2lnbmF0dXJlLXNlY3JldA"


def test_the_access_log_masks_the_token_and_keeps_the_rest(
    tmp_path: Path, sqlite_template: Path, rules_dir: Path
) -> None:
    database = tmp_path / "bridge.db"
    shutil.copy(sqlite_template, database)
    log = tmp_path / "web.log"
    with gunicorn_serving(f"sqlite:///{database}", rules_dir, free_port(), log) as url:
        assert requests.get(f"{url}/mail-link/{TOKEN}", timeout=10).status_code == 404  # links are off here
        requests.post(f"{url}/mail-link/{TOKEN}?x=1", timeout=10)
        assert requests.get(f"{url}/healthz", timeout=10).ok
    text = log.read_text(errors="replace")
    assert TOKEN not in text
    assert '"GET /mail-link/*** HTTP/1.1" 404' in text
    assert '"POST /mail-link/***?x=1 HTTP/1.1"' in text
    assert '"GET /healthz HTTP/1.1" 200' in text


def test_only_the_token_is_masked() -> None:
    assert hide_link_tokens("GET /mail-link/abc.def HTTP/1.1") == "GET /mail-link/*** HTTP/1.1"
    assert hide_link_tokens("/incidents/42") == "/incidents/42"
    assert hide_link_tokens("/mail-link/a/b") == "/mail-link/***/b"
