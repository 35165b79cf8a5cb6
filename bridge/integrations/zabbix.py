"""The Zabbix API, as bridge uses it: acknowledge, message and close problems; list problems.

pyzabbix puts the token in the JSON-RPC `auth` field before 6.4 and in an `Authorization:
Bearer` header from 6.4 on, after asking the server its version. A failed call raises; the
outbox retries it, so a Zabbix outage never blocks bridge.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from pyzabbix.api import ZabbixAPI, ZabbixAPIException

from bridge.errors import PermanentFailure
from bridge.settings import Settings, without_credentials
from bridge.timeutil import from_unix

# event.acknowledge action bits (Zabbix 6.0)
CLOSE, ACKNOWLEDGE, MESSAGE, SEVERITY, UNACKNOWLEDGE = 1, 2, 4, 8, 16


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """One update of a problem (problem.get's `acknowledges`): what was done, when, with what message."""

    at: datetime
    action: int
    message: str


@dataclass(frozen=True, slots=True)
class Problem:
    """An open (or recently resolved) Zabbix problem, as reconciliation needs it."""

    event_id: str
    name: str
    nseverity: int
    started_at: datetime
    acknowledged: bool
    tags: list[dict[str, str]]
    trigger_id: str
    host: str
    host_name: str
    host_groups: list[str]
    recovery_event_id: str | None
    resolved_at: datetime | None
    acknowledges: tuple[Acknowledgement, ...] = ()
    """Its updates, oldest first."""


class ZabbixClient:
    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        assert settings.zabbix_url is not None
        self.settings = settings
        self.timeout = timeout
        self._api: ZabbixAPI | None = None
        self._lock = threading.Lock()

    def _connect(self) -> ZabbixAPI:
        with self._lock:
            if self._api is None:
                # A frontend behind Basic auth: user:password go in the session, not in the URL
                # that pyzabbix logs and requests names in its errors.
                url, credentials = without_credentials(self.settings.zabbix_url or "")
                session = requests.Session()
                session.auth = credentials
                api = ZabbixAPI(url, session=session, timeout=self.timeout)
                if self.settings.zabbix_api_token:
                    api.login(api_token=self.settings.zabbix_api_token)
                else:
                    api.login(self.settings.zabbix_user or "", self.settings.zabbix_password or "")
                self._api = api
            return self._api

    def call(self, method: str, **params: Any) -> Any:
        """One API call; a session that expired is renewed once."""
        for attempt in range(2):
            api = self._connect()
            try:
                return api.do_request(method, params)["result"]
            except ZabbixAPIException as exc:
                text = str(exc)
                if attempt == 0 and (
                    "re-login" in text or "Session terminated" in text or "Not authorised" in text
                ):
                    with self._lock:
                        self._api = None
                    continue
                if "No permissions" in text or "Invalid params" in text or "Incorrect" in text:
                    raise PermanentFailure(f"Zabbix refused {method}: {text}") from None
                raise
            except requests.HTTPError as exc:
                if exc.response is not None and 400 <= exc.response.status_code < 500:
                    raise PermanentFailure(
                        f"Zabbix answered {exc.response.status_code} to {method}"
                    ) from None
                raise
        raise AssertionError("unreachable")

    @property
    def version(self) -> str:
        api = self._connect()
        return str(api.version) if api.version else "?"

    def acknowledge(
        self, event_ids: list[str], message: str, *, acknowledge: bool = False, close: bool = False
    ) -> None:
        action = MESSAGE | (ACKNOWLEDGE if acknowledge else 0) | (CLOSE if close else 0)
        self.call("event.acknowledge", eventids=event_ids, action=action, message=message[:2048])

    def global_macro(self, macro: str) -> str | None:
        """A global macro's value; None when it is not set. Raises when the user may not read it."""
        found = self.call("usermacro.get", globalmacro=True, filter={"macro": macro}, output=["value"])
        return str(found[0].get("value", "")) if found else None

    def manual_close_allowed(self, event_ids: list[str]) -> dict[str, bool]:
        """Which problems' triggers allow closing them by hand."""
        events = self.call(
            "event.get",
            eventids=event_ids,
            output=["eventid", "objectid"],
            selectRelatedObject=["triggerid", "manual_close"],
        )
        return {
            e["eventid"]: str((e.get("relatedObject") or {}).get("manual_close", "0")) == "1" for e in events
        }

    def problems(self) -> list[Problem]:
        """Trigger problems that are open now, and recently resolved ones (`recent`)."""
        found = self.call(
            "problem.get",
            output="extend",
            source=0,
            object=0,
            recent=True,
            selectTags="extend",
            selectAcknowledges=["clock", "action", "message"],
        )
        if not found:
            return []
        event_ids = [p["eventid"] for p in found]
        hosts_by_event: dict[str, list[dict[str, Any]]] = {}
        for event in self.call("event.get", eventids=event_ids, output=["eventid"], selectHosts=["hostid"]):
            hosts_by_event[event["eventid"]] = event.get("hosts") or []
        host_ids = sorted({h["hostid"] for hosts in hosts_by_event.values() for h in hosts})
        groups_param = "selectGroups" if self._before("6.2") else "selectHostGroups"
        hosts = {}
        if host_ids:
            for host in self.call(
                "host.get", hostids=host_ids, output=["hostid", "host", "name"], **{groups_param: ["name"]}
            ):
                hosts[host["hostid"]] = host
        result = []
        for p in found:
            host_list = [
                hosts[h["hostid"]] for h in hosts_by_event.get(p["eventid"], []) if h["hostid"] in hosts
            ]
            first = host_list[0] if host_list else {}
            groups = sorted(
                {g["name"] for h in host_list for g in (h.get("groups") or h.get("hostgroups") or [])}
            )
            recovery = p.get("r_eventid") or "0"
            result.append(
                Problem(
                    event_id=p["eventid"],
                    name=p.get("name", ""),
                    nseverity=int(p.get("severity", 0)),
                    started_at=from_unix(int(p["clock"])),
                    acknowledged=str(p.get("acknowledged", "0")) == "1",
                    tags=[{"tag": t["tag"], "value": t.get("value", "")} for t in p.get("tags", [])],
                    trigger_id=p.get("objectid", ""),
                    host=first.get("host", ""),
                    host_name=first.get("name", ""),
                    host_groups=groups,
                    recovery_event_id=None if recovery == "0" else recovery,
                    resolved_at=from_unix(int(p["r_clock"]))
                    if recovery != "0" and p.get("r_clock")
                    else None,
                    acknowledges=tuple(
                        sorted(
                            (
                                Acknowledgement(
                                    from_unix(int(a["clock"])), int(a.get("action", 0)), a.get("message", "")
                                )
                                for a in p.get("acknowledges") or []
                            ),
                            key=lambda a: a.at,
                        )
                    ),
                )
            )
        return result

    def _before(self, version: str) -> bool:
        api = self._connect()
        if api.version is None:
            return False
        major, minor = (int(x) for x in version.split("."))
        return bool((api.version.major, api.version.minor) < (major, minor))
