"""The WSGI servers' own answers are JSON too: what waitress (`bridge serve`) and gunicorn (the
production web tier) refuse before the app sees it (a malformed request line, headers over their
limits) gets ``{"error": "..."}`` with the server's status, like every answer of bridge's app."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.web.app import create_app
from bridge.web.errors import CODES
from bridge.worker.runtime import Runtime
from tests.support.app import gunicorn_serving, serving
from tests.support.postgres import free_port


def exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer; its status, headers and body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


def assert_json_error(answer: tuple[int, dict[str, str], bytes], status: int, starts: str) -> None:
    code, headers, body = answer
    assert code == status, body
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error.startswith(starts), error
    assert json.loads(body)["detail"]["code"] == CODES[status]  # the same shape as the app's errors


MALFORMED = b"GARBAGE\r\n\r\n"


def header_line(size: int) -> bytes:
    return b"X-Big: " + b"a" * size + b"\r\n"


@pytest.fixture
def waitress_url(runtime: Runtime) -> Iterator[str]:
    # A header limit below one read of waitress (8 KiB), so that it has read the whole request
    # when it answers: a socket closed with unread bytes is reset, and the answer may be lost.
    with serving(create_app(runtime=runtime), free_port(), max_request_header_size=4096) as url:
        yield url


def test_waitress_answers_its_own_errors_in_json(waitress_url: str) -> None:
    assert_json_error(exchange(waitress_url, MALFORMED), 400, "Bad Request: ")
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header_line(5000) + b"\r\n"
    assert_json_error(exchange(waitress_url, big), 431, "Request Header Fields Too Large: ")
    chunked = b"POST /webhooks/zabbix HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
    assert_json_error(exchange(waitress_url, chunked), 501, "Not Implemented: ")
    length = b"POST /webhooks/zabbix HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"
    assert_json_error(exchange(waitress_url, length), 400, "Bad Request: ")
    code, _, body = exchange(waitress_url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (code, json.loads(body)) == (200, {"status": "ok"})  # and the app still answers


@pytest.fixture
def gunicorn_url(tmp_path: Path, sqlite_template: Path, rules_dir: Path) -> Iterator[str]:
    database = tmp_path / "bridge.db"
    shutil.copy(sqlite_template, database)
    with gunicorn_serving(f"sqlite:///{database}", rules_dir, free_port(), tmp_path / "web.log") as url:
        yield url


def test_gunicorn_answers_its_own_errors_in_json(gunicorn_url: str) -> None:
    assert_json_error(exchange(gunicorn_url, MALFORMED), 400, "Bad Request: Invalid HTTP request line")
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header_line(9000) + b"\r\n"  # > 8190
    assert_json_error(exchange(gunicorn_url, big), 431, "Request Header Fields Too Large: ")
    many = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(120)) + b"\r\n"
    )
    assert_json_error(exchange(gunicorn_url, many), 431, "Request Header Fields Too Large: ")
    long_line = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert_json_error(exchange(gunicorn_url, long_line), 414, "URI Too Long: ")
    length = b"POST /webhooks/zabbix HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"
    assert_json_error(exchange(gunicorn_url, length), 400, "Bad Request: ")
    code, _, body = exchange(gunicorn_url, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (code, json.loads(body)) == (404, {"error": "no such endpoint", "detail": {"code": "not_found"}})
