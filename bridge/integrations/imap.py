"""The desk's mailbox over IMAP (the standard library's imaplib): list the mail in a folder, fetch
one, move it to another folder, or put a copy somewhere with a header added.

Only over TLS: ``imaps://`` (implicit TLS, port 993) or ``imap://...?starttls=true``; a plain
``imap://`` is for a server on a loopback address, and only when the settings say so (they check
it). Folder names are printable ASCII (the settings check that too) and are always quoted; a
``/`` in them separates levels and is sent as the server's own hierarchy delimiter. Every
failure of the server or the connection is raised as `MailboxError`, with no password in it.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from bridge.errors import MailboxError

TIMEOUT = 30.0
"""Seconds any one IMAP exchange may take."""
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_DELIMITER = re.compile(rb'\) "(.)" ')


@dataclass(frozen=True, slots=True)
class MailboxAddress:
    host: str
    port: int
    user: str
    password: str
    tls: bool
    starttls: bool

    @classmethod
    def from_url(cls, url: str) -> MailboxAddress:
        parts = urlsplit(url)
        tls = parts.scheme == "imaps"
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (993 if tls else 143),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            tls=tls,
            starttls=query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes"),
        )


def quoted(folder: str) -> str:
    """A folder name as an IMAP command takes it."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mailbox:
    """One IMAP session: ``with Mailbox(address) as box: ...``."""

    def __init__(self, address: MailboxAddress, timeout: float = TIMEOUT) -> None:
        self.address = address
        self.timeout = timeout
        self.imap: imaplib.IMAP4 | None = None
        self.selected: str | None = None
        self._can_move = False
        self.delimiter = "/"

    def __enter__(self) -> Mailbox:
        address = self.address
        context = ssl.create_default_context()
        try:
            if address.tls:
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    address.host, address.port, ssl_context=context, timeout=self.timeout
                )
            else:
                imap = imaplib.IMAP4(address.host, address.port, timeout=self.timeout)
                if address.starttls:
                    imap.starttls(ssl_context=context)
            imap.login(address.user, address.password)
        except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
            raise MailboxError(f"cannot log in to {address.host}:{address.port}: {_said(exc)}") from None
        self.imap = imap
        self._can_move = "MOVE" in imap.capabilities
        self.delimiter = self._delimiter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.imap is None:
            return
        try:
            if self.selected is not None:
                self.imap.close()
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
        self.imap = None

    def _delimiter(self) -> str:
        """The server's hierarchy delimiter (``LIST "" ""``): Dovecot's maildir says ".", most "/"."""
        _, data = self._call("list", '""', '""')
        for item in data:
            if isinstance(item, bytes) and (match := _DELIMITER.search(item)):
                return match.group(1).decode("ascii")
        return "/"

    def name(self, folder: str) -> str:
        """A folder as the server names it, quoted for a command."""
        return quoted(folder.replace("/", self.delimiter))

    # -- folders --------------------------------------------------------------------------------

    def ensure(self, folder: str) -> None:
        """Create `folder` unless it exists."""
        typ, data = self._call("list", '""', self.name(folder))
        if typ == "OK" and any(item for item in data if item):
            return
        typ, data = self._call("create", self.name(folder))
        if typ != "OK":
            raise MailboxError(f"cannot create folder {folder!r}: {_text(data)}")

    def select(self, folder: str) -> None:
        if self.selected == folder:
            return
        typ, data = self._call("select", self.name(folder))
        if typ != "OK":
            raise MailboxError(f"cannot open folder {folder!r}: {_text(data)}")
        self.selected = folder

    # -- messages of the selected folder --------------------------------------------------------

    def uids(self, limit: int) -> list[str]:
        """The first `limit` messages' UIDs, oldest first; deleted ones (a move half done) left out."""
        typ, data = self._uid("SEARCH", "UNDELETED")
        if typ != "OK":
            raise MailboxError(f"cannot list the folder: {_text(data)}")
        first = data[0] if data else b""
        found = first.split() if isinstance(first, bytes) else []
        return [uid.decode("ascii") for uid in found[:limit]]

    def size(self, uid: str) -> int | None:
        """The message's size in bytes; None when it is gone."""
        typ, data = self._uid("FETCH", uid, "(RFC822.SIZE)")
        if typ != "OK":
            raise MailboxError(f"cannot fetch message {uid}: {_text(data)}")
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes) and (match := _SIZE.search(line)):
                return int(match.group(1))
        return None

    def fetch(self, uid: str, headers_only: bool = False) -> bytes | None:
        """The raw message (or its header section), not marking it seen; None when it is gone."""
        what = "(BODY.PEEK[HEADER])" if headers_only else "(BODY.PEEK[])"
        typ, data = self._uid("FETCH", uid, what)
        if typ != "OK":
            raise MailboxError(f"cannot fetch message {uid}: {_text(data)}")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def holds(self, folder: str, message_id: str) -> bool:
        """Whether `folder` has a message with this Message-ID (the folder selected before stays)."""
        back = self.selected
        self.select(folder)
        try:
            typ, data = self._uid("SEARCH", "HEADER", "Message-ID", quoted(f"<{message_id}>"))
        finally:
            if back is not None:
                self.select(back)
        first = data[0] if typ == "OK" and data else b""
        return isinstance(first, bytes) and bool(first.split())

    def move(self, uid: str, folder: str) -> None:
        """Move a message to `folder` (MOVE, else COPY, flag deleted and expunge)."""
        if self._can_move:
            typ, data = self._uid("MOVE", uid, self.name(folder))
            if typ != "OK":
                raise MailboxError(f"cannot move message {uid} to {folder!r}: {_text(data)}")
            return
        typ, data = self._uid("COPY", uid, self.name(folder))
        if typ != "OK":
            raise MailboxError(f"cannot copy message {uid} to {folder!r}: {_text(data)}")
        self.delete(uid)

    def delete(self, uid: str) -> None:
        typ, data = self._uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        if typ != "OK":
            raise MailboxError(f"cannot delete message {uid}: {_text(data)}")
        self._expunge(uid)

    def append(self, folder: str, raw: bytes) -> None:
        """Put a message into `folder`."""
        assert self.imap is not None
        try:
            typ, data = self.imap.append(self.name(folder), None, None, raw)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"cannot store a message in {folder!r}: {_said(exc)}") from None
        if typ != "OK":
            raise MailboxError(f"cannot store a message in {folder!r}: {_text(data)}")

    # -- the wire -------------------------------------------------------------------------------

    def _expunge(self, uid: str) -> None:
        assert self.imap is not None
        if "UIDPLUS" in self.imap.capabilities:
            self._uid("EXPUNGE", uid)
        else:
            self._call("expunge")

    def _uid(self, command: str, *args: str) -> tuple[str, list[object]]:
        assert self.imap is not None
        try:
            typ, data = self.imap.uid(command, *args)
        except (TimeoutError, imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"IMAP UID {command} failed: {_said(exc)}") from None
        return typ, list(data)

    def _call(self, command: str, *args: str) -> tuple[str, list[object]]:
        """One of imaplib's commands by its method's name (list, create, select, expunge)."""
        assert self.imap is not None
        try:
            typ, data = getattr(self.imap, command)(*args)
        except (TimeoutError, imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"IMAP {command} failed: {_said(exc)}") from None
        return typ, list(data)


def _said(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {str(exc)[:300]}"


def _text(data: Sequence[object]) -> str:
    return " ".join(
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in data
    )[:300]
