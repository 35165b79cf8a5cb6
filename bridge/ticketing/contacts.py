"""Who writes to the desk for which client: the `contacts:` of rota.yaml as a lookup from a mail
address to a client and a person. Addresses are matched exactly (lower-cased), then their domain,
then the domains it belongs to (``ops.client.example`` is under ``client.example``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.priority import Priority


@dataclass(frozen=True, slots=True)
class Contact:
    """A known sender: the client, the person's name when the rota gives one, and the priority
    the client's mail opens with."""

    client: str
    address: str
    name: str | None
    priority: Priority | None


@dataclass(frozen=True, slots=True)
class ClientContacts:
    client: str
    addresses: Mapping[str, str | None]  # address -> name
    domains: tuple[str, ...]
    priority: Priority | None = None


@dataclass(frozen=True, slots=True)
class ContactBook:
    clients: Mapping[str, ClientContacts] = field(default_factory=dict)

    def find(self, address: str) -> Contact | None:
        """The contact `address` is, by its address or its domain; None for a stranger."""
        address = address.strip().lower()
        for contacts in self.clients.values():
            if address in contacts.addresses:
                return Contact(contacts.client, address, contacts.addresses[address], contacts.priority)
        domain = address.rsplit("@", 1)[-1]
        best: tuple[int, ClientContacts] | None = None
        for contacts in self.clients.values():
            for known in contacts.domains:
                if (domain == known or domain.endswith("." + known)) and (
                    best is None or len(known) > best[0]
                ):
                    best = (len(known), contacts)
        if best is None:
            return None
        return Contact(best[1].client, address, None, best[1].priority)

    def of_client(self, client: str | None, address: str) -> bool:
        """Whether `address` writes for `client`."""
        found = self.find(address)
        return found is not None and client is not None and found.client == client
