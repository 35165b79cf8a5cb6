"""Rules reload: through the API, on file change, on SIGHUP; a bad reload keeps the last good rules,
a file being written is never read half-way, and a reload that drops every rule is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from bridge.services.live import SETTLE, FileWatcher, LiveRota, LiveRules
from bridge.worker.runtime import Runtime
from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN, RULES
from tests.support.files import FakeMonotonic, edit, reload_settled
from tests.support.paths import REPO_RULES
from tests.support.payloads import am_alert, am_notification
from tests.support.postgres import free_port

BROKEN = RULES + "  - name: broken\n    for: soon\n"
EXTRA = RULES + "  - name: extra\n    match: {name: Extra}\n    priority: P1\n"
DEFAULTS_ONLY = RULES[: RULES.index("rules:")]  # what a rules file cut short can parse as
WAIT = 30.0  # seconds: only ever reached when the awaited event never comes


def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.05)


def test_a_bad_reload_keeps_the_last_good_rules_and_says_why(api: Api, rules_dir: Path) -> None:
    first = api.get("/api/rules")
    assert [r["name"] for r in first["rules"]] == ["drop-info", "disk"]
    assert first["last_error"] is None
    edit(rules_dir / "rules.yaml", BROKEN)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    refused = api.client.post("/api/rules/reload", headers=headers)
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["version"] == first["version"]
    assert [r["name"] for r in body["rules"]] == ["drop-info", "disk"]
    line = BROKEN.splitlines().index("    for: soon") + 1
    assert body["last_error"] == [
        f"{rules_dir / 'rules.yaml'}:{line}: 'soon' is not a duration (examples: 30s, 10m, 1h30m, 2d)"
    ]
    assert body["last_error_at"] is not None
    edit(rules_dir / "rules.yaml", EXTRA)
    accepted = api.client.post("/api/rules/reload", headers=headers)
    assert accepted.status_code == 200
    body = accepted.get_json()
    assert body["version"] != first["version"]
    assert [r["name"] for r in body["rules"]] == ["drop-info", "disk", "extra"]
    assert body["last_error"] is None


def test_a_reload_that_would_drop_every_rule_is_refused_unless_the_files_say_so(
    api: Api, rules_dir: Path
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    first = api.get("/api/rules")
    edit(rules_dir / "rules.yaml", DEFAULTS_ONLY)
    refused = api.client.post("/api/rules/reload", headers=headers)
    assert refused.status_code == 422
    shown = api.get("/api/rules")  # remembered like any refused reload
    assert (shown["version"], [r["name"] for r in shown["rules"]]) == (
        first["version"],
        ["drop-info", "disk"],
    )
    assert shown["last_error"] == [
        f"{rules_dir}:0: no rules at all, where 2 are in force: refused, as a file cut short would be; "
        "write `rules: []` to mean it"
    ]
    assert shown["last_error_at"] is not None
    edit(rules_dir / "rules.yaml", DEFAULTS_ONLY + "rules: []\n")
    meant = api.client.post("/api/rules/reload", headers=headers)
    assert meant.status_code == 200
    assert (meant.get_json()["rules"], meant.get_json()["last_error"]) == ([], None)


def test_the_watcher_refuses_a_file_cut_short_to_no_rules(rules_dir: Path) -> None:
    """Even one that stayed cut short for longer than the settle time."""
    ticks = FakeMonotonic()
    live = LiveRules(rules_dir, monotonic=ticks)
    version = live.engine.rules.version
    (rules_dir / "rules.yaml").write_text("")
    assert reload_settled(live, ticks) is False
    assert live.engine.rules.version == version
    assert live.last_error is not None and "no rules at all" in str(live.last_error)
    assert live.reload_if_changed() is None  # refused once, not again and again
    (rules_dir / "other.yaml").write_text("rules: []\n")
    assert reload_settled(live, ticks) is True
    assert live.engine.rules.rules == ()


def test_reloaded_rules_decide_the_next_delivery(api: Api, runtime: Runtime, rules_dir: Path) -> None:
    edit(rules_dir / "rules.yaml", EXTRA)
    assert runtime.services.rules.reload("test") is True
    assert (
        api.alertmanager(
            am_notification(
                am_alert(
                    "Extra", starts_at=api.runtime.services.clock.now().isoformat(), instance="web-01:9100"
                )
            )
        ).status_code
        == 202
    )
    api.drain()
    (incident,) = api.incidents()
    assert (incident["rule"], incident["priority"]) == ("extra", "P1")


def test_file_changes_are_picked_up_by_the_watcher(rules_dir: Path) -> None:
    """Waits on what the watcher did (each reload tried wakes `wait`), never on how long it took."""
    live = LiveRules(rules_dir)
    version = live.engine.rules.version
    watcher = FileWatcher([live], timedelta(milliseconds=50))
    watcher.start()
    try:
        edit(rules_dir / "rules.yaml", BROKEN)
        assert live.wait(lambda: live.last_error is not None, WAIT)
        assert live.engine.rules.version == version  # refused: the last good rules stay
        edit(rules_dir / "rules.yaml", EXTRA)
        assert live.wait(lambda: "extra" in live.engine.rules.by_name, WAIT)
        assert live.last_error is None
        (rules_dir / "more.yaml").write_text("rules:\n  - name: more\n    match: {name: More}\n")
        assert live.wait(lambda: "more" in live.engine.rules.by_name, WAIT)
        assert live.attempts == 3  # the refused edit, EXTRA, more.yaml: nothing half-written
    finally:
        watcher.stop()


def test_a_file_written_in_two_halves_is_never_loaded_half_written(rules_dir: Path) -> None:
    """The first half is a valid file with fewer rules; the writer pauses, though for less than
    the settle time. The watcher runs for real; only the settle clock is the test's, so the
    outcome does not depend on the machine's load."""
    ticks = FakeMonotonic()
    live = LiveRules(rules_dir, monotonic=ticks)
    path = rules_dir / "rules.yaml"
    full = EXTRA + "  - name: last\n    match: {name: Last}\n"
    half = full[: full.index("  - name: extra")]  # RULES itself, the version in force

    def looked_again() -> None:
        """Wait until the watcher has looked at the files as they are now (a check that began
        before this call may have seen them as they were)."""
        seen = live.checks
        assert live.wait(lambda: live.checks >= seen + 2, WAIT)

    watcher = FileWatcher([live], timedelta(milliseconds=10))
    watcher.start()
    try:
        with path.open("w") as writer:  # truncates: an empty file first, then the first half
            writer.write(half)
            writer.flush()
            looked_again()
            assert live.settling
            ticks.advance(SETTLE.total_seconds() * 0.8)  # a slow writer, but not that slow
            looked_again()
            writer.write(full[len(half) :])
        looked_again()
        assert (live.attempts, live.last_error) == (0, None)  # neither empty nor half was read
        ticks.advance(SETTLE.total_seconds())
        assert live.wait(lambda: live.attempts > 0, WAIT)
    finally:
        watcher.stop()
    assert live.attempts == 1
    assert [r.name for r in live.engine.rules.rules] == ["drop-info", "disk", "extra", "last"]


def test_a_change_waits_to_settle_and_an_unchanged_directory_is_not_reloaded(rules_dir: Path) -> None:
    ticks = FakeMonotonic()
    live = LiveRules(rules_dir, monotonic=ticks)
    assert live.reload_if_changed() is None
    edit(rules_dir / "rules.yaml", BROKEN)
    assert live.reload_if_changed() is None  # seen: it may still be being written
    ticks.advance(SETTLE.total_seconds() - 0.01)
    assert (live.reload_if_changed(), live.settling) == (None, True)
    ticks.advance(0.01)
    assert live.reload_if_changed() is False
    assert live.reload_if_changed() is None  # the refused version is not tried again and again
    edit(rules_dir / "rules.yaml", EXTRA)
    assert reload_settled(live, ticks) is True
    assert (live.settling, live.attempts) == (False, 2)


def test_a_file_replaced_by_a_rename_with_the_same_times_and_size_is_seen(rules_dir: Path) -> None:
    """The inode is part of what is compared: an atomic replace is a change even when the new
    file carries the old one's size and times (`cp -p`, `rsync -t`)."""
    ticks = FakeMonotonic()
    live = LiveRules(rules_dir, monotonic=ticks)
    path = rules_dir / "rules.yaml"
    same_size = RULES.replace("for: 10m", "for: 20m")
    staged = rules_dir / ".rules.yaml.new"  # not a rules file: hidden and not .yaml
    staged.write_text(same_size)
    old = path.stat()
    os.utime(staged, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(staged, path)
    assert reload_settled(live, ticks) is True
    assert live.engine.rules.rule_named("disk").hold == timedelta(minutes=20)


def test_files_that_change_while_being_read_are_not_taken(rules_dir: Path) -> None:
    class Racing(LiveRules):
        """Someone saves again while bridge reads the directory."""

        racing = False

        def load(self) -> Any:
            value = super().load()
            if self.racing:
                self.racing = False
                edit(self.directory / "rules.yaml", EXTRA)
            return value

    ticks = FakeMonotonic()
    live = Racing(rules_dir, monotonic=ticks)
    edit(rules_dir / "rules.yaml", BROKEN.replace("for: soon", "for: 1m"))
    live.racing = True
    assert reload_settled(live, ticks) is False
    assert live.last_error is not None
    assert str(live.last_error) == f"{rules_dir}:0: the files changed while being read"
    assert "broken" not in live.engine.rules.by_name
    assert reload_settled(live, ticks) is True  # the watcher reads them again once settled
    assert "extra" in live.engine.rules.by_name


def test_the_rota_waits_for_its_file_to_settle_too(tmp_path: Path) -> None:
    example = (REPO_RULES / "rota.yaml").read_text()
    (tmp_path / "rota.yaml").write_text(example)
    ticks = FakeMonotonic()
    live = LiveRota(tmp_path, ZoneInfo("UTC"), monotonic=ticks)
    people = len(live.rota.people)
    edited = example.replace("Igor Petrov", "Igor P. Petrov")
    with (tmp_path / "rota.yaml").open("w") as writer:
        writer.write(edited[: len(edited) // 2])
        writer.flush()
        assert live.reload_if_changed() is None
        ticks.advance(SETTLE.total_seconds() / 2)
        assert live.reload_if_changed() is None
        writer.write(edited[len(edited) // 2 :])
    assert live.reload_if_changed() is None  # a new version: its settle time starts again
    ticks.advance(SETTLE.total_seconds() / 2)
    assert live.reload_if_changed() is None
    assert live.attempts == 0
    ticks.advance(SETTLE.total_seconds() / 2)
    assert live.reload_if_changed() is True
    assert (len(live.rota.people), live.rota.people["petrov"].name) == (people, "Igor P. Petrov")


def test_sighup_reloads_a_running_bridge_serve(tmp_path: Path, rules_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        BRIDGE_RULES_DIR=str(rules_dir),
        BRIDGE_RULES_WATCH="0",  # only the signal may reload here
        BRIDGE_ADMIN_TOKEN=ADMIN_TOKEN,
        BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'bridge.db'}",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api/rules"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def names() -> list[str] | None:
        try:
            return [r["name"] for r in requests.get(url, headers=headers, timeout=2).json()["rules"]]
        except requests.ConnectionError:
            assert server.poll() is None, "bridge serve exited"
            return None

    try:
        assert eventually(names, 30) == ["drop-info", "disk"]
        edit(rules_dir / "rules.yaml", EXTRA)
        time.sleep(0.3)
        assert names() == ["drop-info", "disk"]  # no watcher: nothing changes until the signal
        server.send_signal(signal.SIGHUP)
        assert eventually(lambda: names() == ["drop-info", "disk", "extra"])
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=15)
    assert server.returncode == 0, stderr
    assert "rules reloaded" in stderr
