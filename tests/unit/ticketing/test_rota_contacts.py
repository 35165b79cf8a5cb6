"""rota.yaml's `contacts:`: who mails the desk for which client, checked like the rest of the file."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.errors import RulesError
from bridge.priority import Priority
from bridge.ticketing.rota_loader import load_rota_file, load_rota_text

EXAMPLE = Path(__file__).parents[3] / "rules" / "rota.yaml"
UTC = ZoneInfo("UTC")
BASE = """\
people:
  ann: {name: Ann, role: engineer}
clients:
  acme: {engineer: ann}
  globex: {engineer: ann}
"""


def test_the_example_knows_its_clients_people_and_domains() -> None:
    contacts = load_rota_file(EXAMPLE, UTC).contacts
    ivanov = contacts.find("Ivanov@Logistics.Example")
    assert ivanov is not None
    assert (ivanov.client, ivanov.name, ivanov.priority) == ("logistics", "Ivan Ivanov", Priority.P3)
    anyone = contacts.find("night-shift@logistics.example")
    assert anyone is not None and (anyone.client, anyone.name) == ("logistics", None)
    assert contacts.find("x@ops.bank.example") is not None  # a subdomain of a whole domain
    assert contacts.find("x@notbank.example") is None
    assert contacts.find("x@bank.example.evil") is None


def test_the_closest_domain_wins() -> None:
    text = BASE + "contacts:\n  acme: {domains: [example.com]}\n  globex: {domains: [ops.example.com]}\n"
    contacts = load_rota_text("rota.yaml", text, UTC).contacts
    found = contacts.find("a@ops.example.com")
    assert found is not None and found.client == "globex"
    other = contacts.find("a@example.com")
    assert other is not None and other.client == "acme"


def test_mistakes_are_reported_with_their_lines() -> None:
    text = BASE + (
        "contacts:\n"
        "  acme:\n"
        "    addresses: [not-an-address, 'Bob <bob@acme.example>']\n"
        "    domains: [acme.example, 'bad domain']\n"
        "    priority: P9\n"
        "    colour: red\n"
        "  globex:\n"
        "    addresses: [bob@acme.example]\n"
        "    domains: [acme.example]\n"
        "  initech: {domains: [initech.example]}\n"
    )
    with pytest.raises(RulesError) as raised:
        load_rota_text("rota.yaml", text, UTC)
    assert [str(p) for p in raised.value.problems] == [
        "rota.yaml:11: unknown contacts key 'colour' (allowed: addresses, domains, priority)",
        "rota.yaml:8: 'not-an-address' is not an e-mail address",
        "rota.yaml:9: 'bad domain' is not a domain name (client.example)",
        "rota.yaml:10: 'P9' is not a priority (P1..P5)",
        "rota.yaml:13: 'bob@acme.example' is already a contact of client 'acme'",
        "rota.yaml:14: 'acme.example' is already a contact of client 'acme'",
        "rota.yaml:15: unknown client 'initech' (allowed: acme, globex)",
    ]
