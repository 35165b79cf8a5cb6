"""Alertmanager's HTTP API v2, as bridge uses it: list alerts, create and expire silences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from bridge.errors import PermanentFailure
from bridge.settings import without_credentials
from bridge.timeutil import iso


class AlertmanagerClient:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        """`base_url` may carry ``user:password@``: sent as Basic auth, kept out of the URLs that
        error texts name."""
        url, credentials = without_credentials(base_url.rstrip("/"))
        self.base_url = url
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = credentials

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert Alertmanager holds now: active, silenced, inhibited and unprocessed."""
        response = self.session.get(
            f"{self.base_url}/api/v2/alerts",
            params={"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"},
            timeout=self.timeout,
        )
        response.raise_for_status()
        alerts = response.json()
        assert isinstance(alerts, list)
        return alerts

    def create_silence(
        self, labels: dict[str, str], starts_at: datetime, ends_at: datetime, created_by: str, comment: str
    ) -> str:
        """A silence matching exactly these labels; returns its id."""
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())
            ],
            "startsAt": iso(starts_at),
            "endsAt": iso(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        response = self.session.post(f"{self.base_url}/api/v2/silences", json=body, timeout=self.timeout)
        if response.status_code == 400:
            raise PermanentFailure(f"Alertmanager refused the silence: {response.text.strip()}")
        response.raise_for_status()
        return str(response.json()["silenceID"])

    def expire_silence(self, silence_id: str) -> bool:
        """Expire a silence; False when Alertmanager no longer has it (nothing left to do)."""
        response = self.session.delete(f"{self.base_url}/api/v2/silence/{silence_id}", timeout=self.timeout)
        if response.status_code == 404:
            return False
        if response.status_code == 500 and "already expired" in response.text:
            return False
        response.raise_for_status()
        return True
