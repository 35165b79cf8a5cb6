"""The `contacts:` section of rota.yaml: per client, the addresses (``Ivan Ivanov
<ivanov@client.example>`` or a bare address) and whole domains whose mail is that client's, and the
priority its mail opens with. Checked like the rest of the file (``file:line: reason``): unknown
clients, addresses that are none, an address or a domain claimed by two clients."""

from __future__ import annotations

import email.utils
import re
from typing import Any

from bridge.priority import Priority
from bridge.ticketing.contacts import ClientContacts, ContactBook
from bridge.ticketing.rota_fields import RotaValues
from bridge.yamldoc import Path_, did_you_mean

CONTACTS_KEY = "contacts"
CONTACT_KEYS = ("addresses", "domains", "priority")
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[a-z0-9.\-]+\.[a-z0-9\-]+$")
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z0-9\-]{2,63}$")


def read_contacts(doc: RotaValues, value: Any, clients: tuple[str, ...]) -> ContactBook:
    """The contact book of the section's `value`, every problem reported into `doc`."""
    root: Path_ = (CONTACTS_KEY,)
    book: dict[str, ClientContacts] = {}
    owner_of: dict[str, str] = {}
    for client, item, path in doc._named(root, value, "contacts"):
        if client not in clients:
            doc.problem(path, f"unknown client {client!r}{did_you_mean(client, list(clients))}", at_key=True)
            continue
        if not isinstance(item, dict):
            doc.problem(path, "a client's contacts are {addresses: [...], domains: [...], priority: P3}")
            continue
        doc.check_keys(path, item, CONTACT_KEYS, "contacts key")
        addresses: dict[str, str | None] = {}
        for _i, entry, where in _items(doc, (*path, "addresses"), item.get("addresses"), "addresses"):
            name, address = email.utils.parseaddr(str(entry))
            address = address.strip().lower()
            if not _ADDRESS.match(address) or not address.isascii():
                doc.problem(where, f"{entry!r} is not an e-mail address")
                continue
            if _claimed(doc, where, address, client, owner_of):
                addresses[address] = name.strip() or None
        domains: list[str] = []
        for _i, entry, where in _items(doc, (*path, "domains"), item.get("domains"), "domains"):
            domain = str(entry).strip().lower().lstrip("@")
            if not _DOMAIN.match(domain):
                doc.problem(where, f"{entry!r} is not a domain name (client.example)")
                continue
            if _claimed(doc, where, "@" + domain, client, owner_of):
                domains.append(domain)
        priority = _priority(doc, (*path, "priority"), item.get("priority"))
        book[client] = ClientContacts(client, addresses, tuple(domains), priority)
    return ContactBook(book)


def _items(doc: RotaValues, path: Path_, value: Any, what: str) -> list[tuple[int, Any, Path_]]:
    if value is None:
        return []
    if not isinstance(value, list):
        doc.problem(path, f"{what} must be a list")
        return []
    return [(i, entry, (*path, i)) for i, entry in enumerate(value)]


def _claimed(doc: RotaValues, where: Path_, key: str, client: str, owner_of: dict[str, str]) -> bool:
    owner = owner_of.setdefault(key, client)
    if owner != client:
        doc.problem(where, f"{key.lstrip('@')!r} is already a contact of client {owner!r}")
        return False
    return True


def _priority(doc: RotaValues, path: Path_, value: Any) -> Priority | None:
    if value is None:
        return None
    try:
        return Priority(str(value).upper())
    except ValueError:
        doc.problem(path, f"{value!r} is not a priority (P1..P5)")
        return None
