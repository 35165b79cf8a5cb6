"""A mail to the desk, parsed into a request: who wrote, about what, in which thread, with which
attachments, whether it is automatic mail, and whether the receiving server vouched for the
sender. Pure: bytes in, a `MailRequest` (or a `MailRefused` with the reason) out.

Hostile mail is the normal case here: the parser never raises anything but `MailRefused`. Headers
are decoded leniently (an unknown charset or a broken encoded word is read as UTF-8 with
replacement characters), MIME structure is walked without recursion and to a bounded number of
parts, HTML is reduced to its text (scripts, styles and comments dropped; no markup survives), and
every text is cut to a bound and cleaned of what no database stores (NUL, lone surrogates).

What is trusted about the sender: the From address only when the receiving server's
`Authentication-Results` header (the topmost one carrying the configured authserv-id) reports a
DKIM pass for the From domain or a domain it belongs to, an SPF pass for an envelope sender in it,
or a DMARC pass for it; anything further down the message could have been written by the sender.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.utils
import hashlib
import re
from collections import deque
from dataclasses import dataclass
from html.parser import HTMLParser

from bridge.alert import TEXT_MAX, fit
from bridge.errors import MailRefused
from bridge.priority import Priority

MESSAGE_KEY_MAX = 200
"""The longest idempotency key of a mail (the Message-ID, else a hash of the whole message)."""
SUBJECT_MAX = 500
ADDRESS_MAX = 200
NAME_MAX = 200
FILENAME_MAX = 255
MAX_PARTS = 200
"""MIME parts looked at; a message of more is read up to there."""
_LOOP_HEADERS = ("list-id", "list-unsubscribe", "list-post", "list-help", "list-subscribe")
_TICKET = re.compile(r"\[#(\d{1,18})\]")
PRIORITY_TAG = re.compile(r"\[(P[1-5])\]", re.IGNORECASE)
"""A priority tag in a subject: ``[P1]`` .. ``[P5]``."""
_MESSAGE_ID = re.compile(rf"<([^<>\s]{{1,{MESSAGE_KEY_MAX - 2}}})>")
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[A-Za-z0-9.\-]+\.[A-Za-z0-9\-]+$")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class MailRequest:
    message_id: str
    """The idempotency key: the Message-ID without its brackets, else ``sha256:<hex>`` of the mail."""
    sender: str
    """The From address, lower-cased."""
    sender_name: str
    subject: str
    text: str
    references: tuple[str, ...]
    """Message-IDs of In-Reply-To and References, nearest first."""
    ticket: int | None
    """An incident number written as ``[#42]`` in the subject."""
    priority: Priority | None
    """A ``[P1]`` tag in the subject."""
    attachments: tuple[Attachment, ...]
    too_large: tuple[str, ...]
    """Attachments left out for their size, as ``name (N bytes)``."""
    authenticated: bool
    """The receiving server vouched for the From address (see the module's docstring)."""
    automatic: str | None
    """Why this is automatic mail that must not be answered (Auto-Submitted, bulk, a list), or None."""


@dataclass(frozen=True, slots=True)
class Limits:
    attachment_bytes: int = 5 * 1024 * 1024
    """The largest attachment kept; larger ones are listed as left out."""
    text_chars: int = TEXT_MAX


def message_key(raw: bytes) -> str:
    """The idempotency key of a raw mail, whatever it holds: its Message-ID when it has a usable
    one, else a hash of its bytes (the same mail fetched twice has the same key)."""
    head = raw[: 256 * 1024]
    headers = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    for match in re.finditer(rb"(?im)^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", headers):
        found = _MESSAGE_ID.search(match.group(1).decode("ascii", "replace"))
        if found and found.group(1).isascii() and found.group(1).isprintable():
            return found.group(1)  # the first usable one
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_mail(raw: bytes, authserv_id: str | None, limits: Limits | None = None) -> MailRequest:
    """Parse a raw mail; MailRefused when it has no sender address to answer or attribute."""
    limits = limits or Limits()
    try:
        message = email.message_from_bytes(raw)
    except Exception as exc:  # the parser is lenient; this is for what it still chokes on
        raise MailRefused(f"not a mail message: {exc.__class__.__name__}") from None
    sender_name, sender = _from(message)
    subject = clean(header_text(message, "subject"), SUBJECT_MAX, one_line=True)
    text, attachments, too_large = _body(message, limits)
    return MailRequest(
        message_id=message_key(raw),
        sender=sender,
        sender_name=sender_name,
        subject=subject,
        text=text,
        references=_references(message),
        ticket=ticket_of(subject),
        priority=priority_tag(subject),
        attachments=tuple(attachments),
        too_large=tuple(too_large),
        authenticated=authenticated(message, sender, authserv_id),
        automatic=automatic(message),
    )


def subject_of(raw: bytes) -> str:
    """The subject of a mail that may not parse, as far as it can be read ('' when not)."""
    try:
        message = email.message_from_bytes(raw[: 256 * 1024])
    except Exception:
        return ""
    return clean(header_text(message, "subject"), SUBJECT_MAX, one_line=True)


# -- headers -------------------------------------------------------------------------------------


def header_text(message: email.message.Message, name: str) -> str:
    """A header's decoded text ('' when absent); encoded words in unknown charsets are read as
    UTF-8 with replacement characters."""
    try:
        value: object = message.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    parts = []
    try:
        chunks = email.header.decode_header(str(value))
    except Exception:
        return str(value)
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        parts.append(_decode(chunk, charset))
    return "".join(parts)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):  # an unknown charset name
        return data.decode("utf-8", "replace")


def _from(message: email.message.Message) -> tuple[str, str]:
    raw = header_text(message, "from")
    if not raw.strip():
        raise MailRefused("no From address")
    try:
        found = email.utils.getaddresses([raw])
    except Exception:
        found = []
    addresses = [(name, address) for name, address in found if address]
    if len(addresses) != 1:
        raise MailRefused("the From header does not hold exactly one address")
    name, address = addresses[0]
    address = address.strip().lower()
    if len(address) > ADDRESS_MAX or not _ADDRESS.match(address) or not address.isascii():
        raise MailRefused("the From address is not an address bridge can answer")
    return clean(name, NAME_MAX, one_line=True), address


def _references(message: email.message.Message) -> tuple[str, ...]:
    found: list[str] = []
    for name in ("in-reply-to", "references"):
        text = header_text(message, name)
        ids = [m.group(1) for m in _MESSAGE_ID.finditer(text)]
        if name == "references":
            ids.reverse()  # the last is the nearest
        found.extend(i for i in ids if i.isascii() and i.isprintable() and i not in found)
    return tuple(found[:50])


def ticket_of(subject: str) -> int | None:
    match = _TICKET.search(subject)
    return int(match.group(1)) if match else None


def priority_tag(subject: str) -> Priority | None:
    match = PRIORITY_TAG.search(subject)
    return Priority(match.group(1).upper()) if match else None


def automatic(message: email.message.Message) -> str | None:
    """Why the mail is automatic (RFC 3834 Auto-Submitted, Precedence bulk/list/junk, a mailing
    list's List-* headers, an empty return path of a bounce), or None."""
    submitted = header_text(message, "auto-submitted").strip().lower()
    if submitted and submitted.split(";")[0].strip() != "no":
        return f"automatic mail (Auto-Submitted: {clean(submitted, 60, one_line=True)})"
    precedence = header_text(message, "precedence").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"automatic mail (Precedence: {precedence})"
    for name in _LOOP_HEADERS:
        if header_text(message, name):
            return f"mailing list mail ({name.title()})"
    if header_text(message, "x-autoreply") or header_text(message, "x-autorespond"):
        return "automatic mail (an auto-responder's header)"
    if header_text(message, "return-path").strip() == "<>":
        return "a bounce (empty Return-Path)"
    return None


def authenticated(message: email.message.Message, sender: str, authserv_id: str | None) -> bool:
    """Whether the topmost Authentication-Results of `authserv_id` vouches for `sender`'s domain."""
    if not authserv_id:
        return False
    domain = sender.rsplit("@", 1)[-1]
    try:
        headers = message.get_all("authentication-results") or []
    except Exception:
        return False
    for header in headers:
        text = " ".join(str(header).split()).lower()
        serv, _, rest = text.partition(";")
        if serv.strip().split(" ")[0] != authserv_id.lower():
            continue
        return _vouches(rest, domain)
    return False


def _vouches(results: str, domain: str) -> bool:
    for result in results.split(";"):
        words = result.strip().split()
        if not words or "=" not in words[0]:
            continue
        method, _, verdict = words[0].partition("=")
        if verdict != "pass":
            continue
        props = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if method == "dkim":
            signer = props.get("header.d") or props.get("header.i", "").rsplit("@", 1)[-1]
            if signer and _aligned(domain, signer):
                return True
        elif method == "spf":
            envelope = props.get("smtp.mailfrom", "").rsplit("@", 1)[-1]
            if envelope and _aligned(domain, envelope):
                return True
        elif method == "dmarc" and props.get("header.from", "") == domain:
            return True
    return False


def _aligned(domain: str, signer: str) -> bool:
    """`signer` is the From domain or a domain it belongs to (relaxed alignment, as DMARC's)."""
    signer = signer.strip(".").lower()
    return domain == signer or (domain.endswith("." + signer) and "." in signer)


# -- the body ------------------------------------------------------------------------------------


def _body(message: email.message.Message, limits: Limits) -> tuple[str, list[Attachment], list[str]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    too_large: list[str] = []
    queue: deque[email.message.Message] = deque([message])
    seen = 0
    while queue and seen < MAX_PARTS:
        part = queue.popleft()
        seen += 1
        try:
            if part.is_multipart():
                payload = part.get_payload()
                if isinstance(payload, list):
                    queue.extend(p for p in payload if isinstance(p, email.message.Message))
                continue
            content_type = part.get_content_type()
            disposition = (part.get_content_disposition() or "").lower()
            filename = part.get_filename()
            data = part.get_payload(decode=True)
        except Exception:  # noqa: S112  a header or payload the email package cannot read: skip the part
            continue
        if not isinstance(data, bytes):
            data = b""
        if disposition == "attachment" or filename or content_type not in ("text/plain", "text/html"):
            if content_type.startswith("multipart/"):
                continue
            name = clean(_decoded_filename(filename), FILENAME_MAX, one_line=True) or "attachment"
            if len(data) > limits.attachment_bytes:
                too_large.append(f"{name} ({len(data)} bytes)")
            else:
                attachments.append(Attachment(name, clean(content_type, 100, one_line=True), data))
            continue
        text = _decode(data, _charset(part))
        (html if content_type == "text/html" else plain).append(text)
    body = "\n\n".join(p for p in plain if p.strip())
    if not body:  # an HTML-only mail (or one whose text part is empty)
        body = "\n\n".join(html_to_text(h) for h in html)
    return clean(body, limits.text_chars), attachments, too_large


def _charset(part: email.message.Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _decoded_filename(filename: str | None) -> str:
    if not filename:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(filename)))
    except Exception:
        return filename


class _TextOnly(HTMLParser):
    """The text of an HTML document: no tags, no scripts, styles, heads or comments; block
    elements end lines. Character references are resolved (the result is text, to be escaped
    wherever it is shown, like any other)."""

    SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "iframe", "object"})
    BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML mail body, with no markup left in it."""
    parser = _TextOnly()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: S110  HTMLParser is lenient; whatever it still refuses leaves what it read
        pass
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def clean(text: str, limit: int, *, one_line: bool = False) -> str:
    """`text` fit to store and show: NUL and lone surrogates replaced, control characters dropped
    (with `one_line`, every line break too), CRLF made LF, cut to `limit` with a marker."""
    text = _UNSTORABLE.sub("\ufffd", text)
    if one_line:
        text = " ".join(_CONTROL.sub(" ", text).split())
    else:
        text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    return fit(text, limit)


# -- what the words say --------------------------------------------------------------------------


def is_request(subject: str, text: str, words: tuple[str, ...]) -> bool:
    """Whether the subject or the first lines name one of `words` (a service request rather than
    an incident)."""
    haystack = f"{subject}\n{text[:2000]}".lower()
    return any(re.search(rf"\b{re.escape(w.lower())}\b", haystack) for w in words if w.strip())


def verdict(text: str) -> str | None:
    """ "confirm" or "reject" when the first line of the reply (quoted lines skipped) starts with
    that word, else None."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(">"):
            continue
        word = re.split(r"[\s.,!:;]", stripped.lower(), maxsplit=1)[0]
        if word in ("confirm", "confirmed", "yes"):
            return "confirm"
        if word in ("reject", "rejected", "no"):
            return "reject"
        return None
    return None


def reply_text(text: str) -> str:
    """The new text of a reply: quoted lines and everything after an "On ... wrote:" line dropped."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith(">"):
            continue
        if re.match(r"^\s*(On .* wrote:|-----\s*Original Message\s*-----)\s*$", line):
            break
        kept.append(line)
    return "\n".join(kept).strip()
