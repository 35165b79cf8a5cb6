"""gunicorn's threaded worker, with gunicorn's own error answers in JSON.

gunicorn answers a request it cannot parse (a malformed request line: 400, a request line over
`limit_request_line`: 414, headers over `limit_request_fields` / `limit_request_field_size`:
431 ...) before the app sees it, with an HTML page written by `gunicorn.util.write_error`. The
worker's `handle_error` decides status and reason; this subclass lets it, keeps only its status
line, and writes a ``{"error": "..."}`` body instead (`bridge.web.gunicorn_config` names it as
the worker class).
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from bridge.web.errors import error_body


class _StatusLine:
    """Stands in for the client's socket while gunicorn writes its own error page."""

    def __init__(self) -> None:
        self.written = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.written += data

    def status(self) -> tuple[int, str]:
        """The status code and reason gunicorn chose."""
        line = self.written.split(b"\r\n", 1)[0].decode("latin-1")
        _, code, reason = [*line.split(" ", 2), "", ""][:3]
        return (int(code), reason) if code.isascii() and code.isdigit() else (500, "Internal Server Error")


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no type hints
    """`gthread`, answering what gunicorn itself refuses with ``{"error": "<reason>: <why>"}``."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        page = _StatusLine()
        super().handle_error(req, page, addr, exc)  # logs it and picks the status
        code, reason = page.status()
        message = reason if code == 500 else f"{reason}: {exc}"  # a 500 is ours: say no more
        body = json.dumps(error_body(code, message)).encode()
        head = (
            f"HTTP/1.1 {code} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except Exception:  # the client is gone; gunicorn does the same
            self.log.debug("Failed to send error message.")
