"""The `bridge` command as a newcomer meets it: every command that works on the database brings a
new SQLite database to the current schema as `bridge serve` does (and says in one line what to
run for a PostgreSQL that is behind), a failed command leaves no empty `bridge.db` behind,
`bridge demo` finds the running server, links in messages point at where serve listens, and the
actor of every change is a real name."""

from __future__ import annotations

import gc
import json
import re
import socket
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.clock import FakeClock
from bridge.db.migrate import head_revision, revision_of
from bridge.priority import Priority
from bridge.services.incidents import NewIncident
from bridge.ticketing.lifecycle import Change, IncidentAction, IncidentType
from tests.support.app import ADMIN_TOKEN, build_runtime, make_settings, write_rules
from tests.support.postgres import free_port, fresh_database
from tests.support.receivers import http_server
from tests.support.serve import clean_environment, run_bridge, serving

REPO = Path(__file__).resolve().parents[2]
DATABASE_COMMANDS = [
    ["incidents", "list"],
    ["oncall"],
    ["reports", "sla"],
    ["tokens", "rotate", "admin", "--as", "petrov"],
    ["intake", "retry", "--all", "--as", "petrov"],
]


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.output
    )
    return result.exit_code, result.stdout


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a command on a SQLite database that does not exist yet."""
    yield {
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'bridge.db'}",
        "BRIDGE_RULES_DIR": str(REPO / "rules"),
    }


# -- the database ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_a_command_on_a_new_sqlite_database_creates_and_upgrades_it(
    new_database: dict[str, str], command: list[str]
) -> None:
    code, _ = invoke(new_database, *command)
    assert code == 0
    assert revision_of(new_database["BRIDGE_DATABASE_URL"], timeout=2) == head_revision()


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (["incidents", "show", "1"], "Error: no incident 1"),
        (["incidents", "ack", "1", "--as", "petrov"], "Error: no incident 1"),
        (["oncall", "--schedule", "nights"], "Error: no schedule 'nights'"),
        (["reports", "sla", "--from", "9999-12-31T23:00:00"], "Error: from: must be before `to`"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_failed_command_leaves_no_database_behind(
    new_database: dict[str, str], tmp_path: Path, command: list[str], error: str
) -> None:
    result = CliRunner().invoke(main, command, env=new_database)
    assert result.exit_code in (1, 2)
    assert error in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command", [["intake", "export", "--since", "1d"], ["rules", "replay", "--since", "1d"]]
)
def test_reading_the_history_of_no_database_creates_none(
    new_database: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(main, command, env=new_database)
    assert (result.exit_code, result.output) == (
        1,
        f"Error: no database at {tmp_path / 'data' / 'bridge.db'}: nothing recorded to read (BRIDGE_DATABASE_URL)\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_asking_the_schema_revision_creates_no_database(new_database: dict[str, str], tmp_path: Path) -> None:
    assert invoke(new_database, "db", "current") == (0, f"empty (latest {head_revision()})\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command", [*DATABASE_COMMANDS, ["incidents", "ack", "1", "--as", "petrov"]], ids=" ".join
)
def test_a_command_on_a_postgresql_database_behind_says_what_to_run(
    postgres_server: str, command: list[str]
) -> None:
    with fresh_database(postgres_server) as url:
        result = CliRunner().invoke(main, command, env={"BRIDGE_DATABASE_URL": url})
        assert (result.exit_code, result.output) == (
            1,
            f"Error: the database schema is at nothing, bridge needs {head_revision()}: "
            "run `bridge db upgrade` first\n",
        )
        assert revision_of(url, timeout=2) is None


def test_a_database_that_cannot_be_reached_is_said_in_one_line() -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/bridge"
    result = CliRunner().invoke(main, ["incidents", "list"], env={"BRIDGE_DATABASE_URL": url})
    assert result.exit_code == 1
    assert re.fullmatch(r"Error: cannot use the database: connection .*\n", result.output)


# -- who acts ----------------------------------------------------------------------------------


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Four incidents on the example rota: two of logistics (one reassigned to belov, one a
    service request), one of retail, one of no client; the command environment."""
    clock = FakeClock(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    runtime = build_runtime(make_settings(database_url, REPO / "rules"), clock)
    try:
        incidents = runtime.services.incidents
        incidents.open(NewIncident(title="Invoices stuck", client="logistics"), "admin")
        clock.advance(timedelta(minutes=1))
        incidents.open(
            NewIncident(title="New printer", client="logistics", type=IncidentType.SERVICE_REQUEST), "admin"
        )
        clock.advance(timedelta(minutes=1))
        incidents.open(NewIncident(title="Tills offline", client="retail", priority=Priority.P2), "admin")
        clock.advance(timedelta(minutes=1))
        incidents.open(NewIncident(title="Backup failed on db-01"), "admin")
        incidents.act(1, IncidentAction.ASSIGN, "admin", "", Change(assignee="belov"))
    finally:
        runtime.close()
    yield {"BRIDGE_DATABASE_URL": database_url, "BRIDGE_RULES_DIR": str(REPO / "rules")}


def test_an_action_names_who_did_it(desk: dict[str, str]) -> None:
    assert invoke(desk, "incidents", "ack", "1", "-m", "on it", "--as", "belov") == (
        0,
        "incident 1 is acknowledged\n",
    )
    assert (
        invoke({**desk, "LOGNAME": "ivanov", "USER": "ivanov"}, "incidents", "comment", "1", "-m", "hi")[0]
        == 0
    )
    timeline = json.loads(invoke(desk, "incidents", "show", "1", "--json")[1])["timeline"]
    actors = [entry["actor"] for entry in timeline if entry["kind"] in ("acknowledged", "comment")]
    assert actors == ["cli:belov", "cli:ivanov"]


def test_a_name_that_is_no_name_stops_the_action(desk: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["incidents", "ack", "1", "--as", "a\nb"], env=desk)
    assert result.exit_code == 2
    assert "Invalid value for '--as': 'a\\nb' is not a name" in result.output
    assert json.loads(invoke(desk, "incidents", "show", "1", "--json")[1])["status"] == "open"


@pytest.mark.parametrize(
    ("options", "titles"),
    [
        ([], ["Backup failed on db-01", "Tills offline", "New printer", "Invoices stuck"]),
        (["--client", "logistics"], ["New printer", "Invoices stuck"]),
        (["--client", "logistics", "--client", "retail"], ["Tills offline", "New printer", "Invoices stuck"]),
        (["--assignee", "belov"], ["Invoices stuck"]),
        (["--priority", "p2"], ["Tills offline"]),
        (["--status", "OPEN", "--type", "service_request"], ["New printer"]),
        (["-q", "db-01"], ["Backup failed on db-01"]),
        (["--limit", "2", "--offset", "1"], ["Tills offline", "New printer"]),
        (["--offset", "4"], []),
    ],
)
def test_incidents_list_filters_as_the_api_does(
    desk: dict[str, str], options: list[str], titles: list[str]
) -> None:
    listed = json.loads(invoke(desk, "incidents", "list", "--json", *options)[1])
    assert [item["title"] for item in listed["items"]] == titles


def test_incidents_list_says_which_page_it_shows(desk: dict[str, str]) -> None:
    _, output = invoke(desk, "incidents", "list", "--limit", "2", "--offset", "1")
    assert output.splitlines()[-1] == "(2 of 4, after the first 1)"


def test_choices_are_shown_as_the_docs_spell_them(desk: dict[str, str]) -> None:
    runner = CliRunner()
    assert "NUMBER {P1|P2|P3|P4|P5}" in runner.invoke(main, ["incidents", "priority", "--help"]).output
    assert "[P1|P2|P3|P4|P5]" in runner.invoke(main, ["incidents", "list", "--help"]).output
    refused = runner.invoke(main, ["incidents", "list", "--priority", "p9"], env=desk)
    assert "'p9' is not one of 'P1', 'P2', 'P3', 'P4', 'P5'" in refused.output
    code, output = invoke(desk, "incidents", "priority", "4", "p2", "--as", "petrov")
    assert (code, output.splitlines()[0]) == (0, "incident 4 is open")
    assert output.splitlines()[1].startswith("  P2, responsible ")
    assert invoke(desk, "incidents", "assign", "4", "--line", "l2", "--as", "petrov")[1].endswith("line L2\n")


@pytest.mark.parametrize("number", ["0", "99999999999999999999", "\u0663", "\uff13", "1.0"])
def test_what_is_not_an_incident_number_is_refused(desk: dict[str, str], number: str) -> None:
    result = CliRunner().invoke(main, ["incidents", "show", number], env=desk)
    assert result.exit_code == 2
    assert "Invalid value for 'NUMBER'" in result.output


# -- the running server ------------------------------------------------------------------------


def test_serve_says_in_one_line_that_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with warnings.catch_warnings():
            # waitress leaves the socket and the wake-up pipe of a server that could not bind to
            # the garbage collector: the process would exit here, the test process goes on.
            warnings.simplefilter("ignore", ResourceWarning)
            result = CliRunner().invoke(
                main,
                ["serve", "--port", str(port)],
                env={
                    "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
                    "BRIDGE_RULES_DIR": str(REPO / "rules"),
                },
            )
            code, output = result.exit_code, result.output
            del result  # its traceback holds the server
            gc.collect()
    assert code == 1
    assert output.endswith(f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    assert "generated the" not in output  # no token shown once by a server that never ran


def test_demo_without_a_server_says_it_needs_one_or_url(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    env = {"BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}", "BRIDGE_BASE_URL": closed}
    result = CliRunner().invoke(main, ["demo"], env=env)
    assert (result.exit_code, result.output) == (
        1,
        f"Error: no bridge answers at {closed}: start `bridge serve`, or give --url (where it listens)\n",
    )
    assert list(tmp_path.iterdir()) == []  # no tokens minted, no database made


def test_demo_tries_where_serve_said_it_listens(tmp_path: Path) -> None:
    """A record left by a serve that was killed: tried, and named, never a silent :8080."""
    stale = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "bridge.db.serving").write_text(json.dumps({"url": stale, "base_url": stale}))
    result = CliRunner().invoke(
        main, ["demo"], env={"BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}"}
    )
    assert result.exit_code == 1
    assert (
        result.output
        == f"Error: no bridge answers at {stale}: start `bridge serve`, or give --url (where it listens)\n"
    )


def test_serve_and_demo_on_one_database_find_each_other_and_links_point_at_serve(tmp_path: Path) -> None:
    """`bridge serve --port P` in one directory, `bridge demo` elsewhere on the same database
    without --url; messages (queued by the server, and by a command) link to http://127.0.0.1:P."""
    port = free_port()
    with http_server() as (sink_url, sink):
        rules = write_rules(tmp_path / "rules")
        (rules / "rota.yaml").write_text(
            "timezone: UTC\n"
            f"people:\n  ann: {{name: Ann, role: operator, webhook: '{sink_url}/hooks/ann'}}\n"
            "responsible:\n  - person: ann\n"
            "escalation:\n"
            "  default:\n"
            "    steps:\n      - {notify: responsible, wait: 1h}\n      - {notify: {person: ann}, wait: 1h}\n"
            "default_policy: default\n"
        )
        database = f"sqlite:///{tmp_path / 'data' / 'bridge.db'}"
        env = clean_environment(
            BRIDGE_RULES_DIR=str(rules), BRIDGE_DATABASE_URL=database, BRIDGE_ADMIN_TOKEN=ADMIN_TOKEN
        )
        with serving(tmp_path, env, port) as served:
            assert json.loads((tmp_path / "data" / "bridge.db.serving").read_text()) == {
                "url": served.url,
                "base_url": served.url,
            }
            opened = requests.post(
                f"{served.url}/api/incidents",
                json={"title": "Printer on fire"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=10,
            )
            assert opened.status_code == 201, opened.text
            escalated = run_bridge(REPO, env, "incidents", "escalate", "1", "--as", "petrov")
            assert escalated.returncode == 0, escalated.stderr
            messages = sink.wait_for("/hooks/ann", lambda found: len(found) >= 2)
            demo = run_bridge(REPO, env, "demo")
            assert demo.returncode == 0, demo.stderr
            assert "sent 12 deliveries" in demo.stdout
        assert not (tmp_path / "data" / "bridge.db.serving").exists()
    assert served.returncode == 0, served.stderr
    assert [(m.body["kind"], m.body["incident"]) for m in messages] == [
        ("registration", 1),
        ("escalation", 1),
    ]
    for message in messages:
        assert message.body["text"].rstrip().endswith(f"http://127.0.0.1:{port}/incidents/1")
    assert f"links in messages to http://127.0.0.1:{port}" in served.stderr


def test_demo_on_another_database_than_the_server_s_says_so_and_leaves_none_behind(tmp_path: Path) -> None:
    """The newcomer's slip: `bridge serve` in one directory, `bridge demo` in another, each on
    its own ./bridge.db: the tokens demo mints are not the server's."""
    port = free_port()
    (tmp_path / "served").mkdir()
    (tmp_path / "elsewhere").mkdir()
    env = clean_environment(BRIDGE_RULES_DIR=str(REPO / "rules"))
    with serving(tmp_path / "served", env, port) as served:
        demo = run_bridge(tmp_path / "elsewhere", env, "demo", "--url", served.url)
    assert demo.returncode == 1
    assert demo.stderr.splitlines()[-1] == (
        f"Error: the bridge at {served.url} does not know the tokens minted in bridge.db: run the demo "
        "with the database that bridge uses (BRIDGE_DATABASE_URL), or give its tokens"
    )
    assert list((tmp_path / "elsewhere").iterdir()) == []  # the database it made for them is gone
