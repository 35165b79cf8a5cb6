"""Thin helpers over a test client of the HTTP app: post webhooks, call the API, process what was
stored (the worker is not a thread in these tests: `drain()` runs one round)."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridge.worker.runtime import Runtime
from tests.support.app import ADMIN_TOKEN, AM_TOKEN, ZBX_TOKEN


class Api:
    """Thin helpers over the test client: post webhooks, call the API, process what was stored."""

    def __init__(self, client: FlaskClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime

    def alertmanager(
        self, body: bytes | dict[str, Any], token: str = AM_TOKEN, **headers: str
    ) -> TestResponse:
        return self._post("/webhooks/alertmanager", body, token, headers)

    def zabbix(self, body: bytes | dict[str, Any], token: str = ZBX_TOKEN, **headers: str) -> TestResponse:
        return self._post("/webhooks/zabbix", body, token, headers)

    def _post(
        self, path: str, body: bytes | dict[str, Any], token: str, headers: dict[str, str]
    ) -> TestResponse:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {token}", **headers}
        return self.client.post(path, data=data, headers={k: v for k, v in sent.items() if v})

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(
            path, query_string=params, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def act(self, number: int, action: str, comment: str | None = None) -> TestResponse:
        body = {} if comment is None else {"comment": comment}
        return self.client.post(
            f"/api/incidents/{number}/{action}", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )

    def drain(self) -> int:
        return self.runtime.runner.drain()

    def incidents(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.get("/api/incidents", **params)["items"])

    def incident(self, number: int) -> dict[str, Any]:
        return dict(self.get(f"/api/incidents/{number}"))
