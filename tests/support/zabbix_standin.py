"""A local stand-in for the Zabbix JSON-RPC API, strict about how each version authenticates:
6.0 wants the token in the `auth` field, 6.4+ in an `Authorization: Bearer` header. It records
every call so tests can see exactly what bridge asked Zabbix to do."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.postgres import free_port

TOKEN = "zbx-api-token"
USER, PASSWORD = "bridge", "bridge-password"
SESSION = "session-from-user-login"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    auth_field: str | None
    bearer: str | None


@dataclass
class StandIn:
    version: str = "6.0.14"
    calls: list[Call] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # hostid -> host
    event_hosts: dict[str, list[str]] = field(default_factory=dict)  # eventid -> hostids
    manual_close: dict[str, bool] = field(default_factory=dict)  # eventid -> allowed
    macros: dict[str, str] = field(default_factory=dict)  # global macros the user may read
    failing: bool = False  # answer 500 to everything
    url: str = ""

    @property
    def bearer_style(self) -> bool:
        major, minor = (int(x) for x in self.version.split(".")[:2])
        return (major, minor) >= (6, 4)

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def answer(self, method: str, params: dict[str, Any], auth_field: str | None, bearer: str | None) -> Any:
        self.calls.append(Call(method, params, auth_field, bearer))
        if method == "apiinfo.version":
            return self.version
        if method == "user.login":
            name = params.get("username") or params.get("user")
            if (name, params.get("password")) != (USER, PASSWORD):
                raise PermissionError("Incorrect user name or password or account is temporarily blocked.")
            return SESSION
        presented = bearer if self.bearer_style else auth_field
        if self.bearer_style and auth_field is not None:
            raise PermissionError('Invalid parameter "/": unexpected parameter "auth".')
        if presented not in (TOKEN, SESSION):
            raise PermissionError("Not authorised.")
        if method == "event.acknowledge":
            return {"eventids": params["eventids"]}
        if method == "event.get":
            if "selectRelatedObject" in params:
                return [
                    {
                        "eventid": e,
                        "objectid": "1",
                        "relatedObject": {
                            "triggerid": "1",
                            "manual_close": "1" if self.manual_close.get(e) else "0",
                        },
                    }
                    for e in params["eventids"]
                ]
            return [
                {"eventid": e, "hosts": [{"hostid": h} for h in self.event_hosts.get(e, [])]}
                for e in params["eventids"]
            ]
        if method == "problem.get":
            return self.problems
        if method == "usermacro.get":
            wanted = (params.get("filter") or {}).get("macro")
            return [{"macro": m, "value": v} for m, v in self.macros.items() if m == wanted]
        if method == "host.get":
            key = "groups" if "selectGroups" in params else "hostgroups"
            return [
                {
                    "hostid": h,
                    "host": self.hosts[h]["host"],
                    "name": self.hosts[h]["name"],
                    key: [{"name": g} for g in self.hosts[h]["groups"]],
                }
                for h in params["hostids"]
                if h in self.hosts
            ]
        raise LookupError(f"method {method} not found")


@contextmanager
def zabbix_standin(version: str = "6.0.14") -> Iterator[StandIn]:
    standin = StandIn(version=version)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if standin.failing:
                self.send_response(500)
                self.end_headers()
                return
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            authorization = self.headers.get("Authorization") or ""
            bearer = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
            try:
                result = {
                    "result": standin.answer(
                        request["method"], request.get("params") or {}, request.get("auth"), bearer
                    )
                }
            except (PermissionError, LookupError) as exc:
                result = {"error": {"code": -32602, "message": "Invalid params.", "data": str(exc)}}
            body = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), **result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    standin.url = f"http://127.0.0.1:{server.server_port}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
