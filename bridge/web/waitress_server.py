"""waitress serving the app (`bridge serve`), with its own error answers in JSON.

waitress answers a request it cannot parse (a malformed request line, headers larger than
`max_request_header_size`: 400, 431, 413, 501) before the app sees it, with a text/plain body of
its own. Its channel class names the task that writes that answer (`error_task_class`), and each
server the class of its channels (`channel_class`): a subclass of each makes the body
``{"error": "..."}`` like every other answer of bridge, without touching waitress itself.
"""

from __future__ import annotations

import json
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.server import create_server as waitress_server
from waitress.task import ErrorTask

from bridge.web.errors import error_body


class JsonErrorTask(ErrorTask):
    """waitress's error answer, with a JSON body."""

    def execute(self) -> None:
        parser: Any = self.request  # the request parser (its stubs say Error); its `error` is one
        error = parser.error
        body = json.dumps(error_body(error.code, f"{error.reason}: {error.body}")).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers = [*self.response_headers, ("Content-Type", "application/json")]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def create_server(app: Any, **adjustments: Any) -> BaseWSGIServer | MultiSocketServer:
    """`waitress.create_server(app, **adjustments)`, answering its own errors in JSON."""
    sockets: dict[int, Any] = {}
    server = waitress_server(app, map=sockets, **adjustments)
    for dispatcher in sockets.values():  # one server per address it listens on
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = JsonErrorChannel
    return server


def serve(app: Any, **adjustments: Any) -> None:
    """`waitress.serve(app, **adjustments)`, answering its own errors in JSON."""
    server = create_server(app, **adjustments)
    server.print_listen("Serving on http://{}:{}")
    server.run()
