"""Where a running `bridge serve` is: the address it listens on (reached here, and named in
links), recorded next to its SQLite database while it runs and read by the commands on it."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from bridge.cli.address import Address, listening, record_path, recorded, recorded_address


@pytest.mark.parametrize(
    ("host", "port", "base_url", "expected"),
    [
        ("127.0.0.1", 9000, None, Address("http://127.0.0.1:9000", "http://127.0.0.1:9000")),
        ("localhost", 8080, None, Address("http://localhost:8080", "http://localhost:8080")),
        ("10.1.2.3", 8080, None, Address("http://10.1.2.3:8080", "http://10.1.2.3:8080")),
        ("::1", 9000, None, Address("http://[::1]:9000", "http://[::1]:9000")),
        (
            "127.0.0.1",
            9000,
            "https://bridge.desk.example",
            Address("http://127.0.0.1:9000", "https://bridge.desk.example"),
        ),
    ],
)
def test_the_address_of_a_server(host: str, port: int, base_url: str | None, expected: Address) -> None:
    assert listening(host, port, base_url) == expected


def test_a_server_on_every_interface_is_reached_on_the_loopback_and_linked_by_the_machine_name() -> None:
    name = platform.node() or "localhost"
    assert listening("0.0.0.0", 9000, None) == Address(  # noqa: S104 (an address named, not bound)
        "http://127.0.0.1:9000", f"http://{name}:9000"
    )
    assert listening("::", 9000, None) == Address("http://[::1]:9000", f"http://{name}:9000")


def test_serve_records_its_address_next_to_the_database_while_it_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    address = Address("http://127.0.0.1:9000", "https://bridge.desk.example")
    assert recorded_address(url) is None
    with recorded(url, address):
        assert record_path(url) == tmp_path / "bridge.db.serving"
        assert recorded_address(url) == address
    assert recorded_address(url) is None
    assert list(tmp_path.iterdir()) == []


def test_a_record_another_serve_took_over_is_left_to_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    mine, theirs = Address("http://127.0.0.1:9000", "x"), Address("http://127.0.0.1:9001", "y")
    with recorded(url, mine):
        (tmp_path / "bridge.db.serving").write_text(json.dumps({"url": theirs.url, "base_url": "y"}))
    assert recorded_address(url) == theirs


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"url": 9000}', '{"url": "http://x:1"}'])
def test_a_record_that_cannot_be_read_is_none(tmp_path: Path, text: str) -> None:
    (tmp_path / "bridge.db.serving").write_text(text)
    assert recorded_address(f"sqlite:///{tmp_path / 'bridge.db'}") is None


def test_nothing_is_recorded_for_postgresql() -> None:
    url = "postgresql+psycopg://bridge:secret@db/bridge"
    assert record_path(url) is None
    with recorded(url, Address("http://127.0.0.1:9000", "http://127.0.0.1:9000")):
        assert recorded_address(url) is None
