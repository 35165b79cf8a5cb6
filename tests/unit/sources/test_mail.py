"""The mail parser: who wrote, the text (HTML reduced to text), the thread, the tags, loops, and
what the receiving server vouched for; and, fuzzed, that it never raises anything but MailRefused
and never lets a NUL, a lone surrogate or a line break in the subject through."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import MailRefused
from bridge.priority import Priority
from bridge.sources.mail import (
    Limits,
    html_to_text,
    is_request,
    message_key,
    parse_mail,
    reply_text,
    verdict,
)

MX = "mx.desk.example"


def build(**headers: str) -> EmailMessage:
    message = EmailMessage()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello")
    return message


def raw(**headers: str) -> bytes:
    return bytes(build(**headers))


def test_a_plain_mail_is_a_request() -> None:
    request = parse_mail(
        raw(From="Ivan Ivanov <Ivanov@Logistics.Example>", Subject="[P2] Labels [#42]", Message_ID="<a@b>"),
        MX,
    )
    assert (request.sender, request.sender_name) == ("ivanov@logistics.example", "Ivan Ivanov")
    assert (request.subject, request.text, request.message_id) == ("[P2] Labels [#42]", "Hello", "a@b")
    assert (request.ticket, request.priority) == (42, Priority.P2)
    assert request.automatic is None
    assert request.authenticated is False  # no Authentication-Results at all


@pytest.mark.parametrize(
    ("results", "vouched"),
    [
        (f"{MX}; dkim=pass header.d=logistics.example", True),
        (
            f"{MX}; dkim=pass header.i=@mail.logistics.example",
            False,
        ),  # a subdomain does not vouch for its parent
        (f"{MX}; spf=pass smtp.mailfrom=bounce@logistics.example", True),
        (f"{MX}; dmarc=pass header.from=logistics.example", True),
        (f"{MX}; dkim=fail header.d=logistics.example; spf=softfail smtp.mailfrom=logistics.example", False),
        (f"{MX}; dkim=pass header.d=example", False),  # a public suffix is no signer for it
        (f"{MX}; dkim=pass header.d=attacker.example", False),
        ("mx.attacker.example; dkim=pass header.d=logistics.example", False),
    ],
)
def test_the_sender_is_trusted_only_with_a_pass_from_the_desks_own_server(
    results: str, vouched: bool
) -> None:
    mail = raw(From="ivanov@logistics.example", Authentication_Results=results)
    assert parse_mail(mail, MX).authenticated is vouched


def test_only_the_topmost_verdict_of_the_desks_server_counts() -> None:
    """A sender can write an Authentication-Results of the desk's id into the mail; the desk's
    server adds its own on top, and that one decides."""
    message = EmailMessage()
    message["Authentication-Results"] = f"{MX}; dkim=fail header.d=logistics.example"
    message["Authentication-Results"] = f"{MX}; dkim=pass header.d=logistics.example"
    message["From"] = "ivanov@logistics.example"
    message.set_content("x")
    assert parse_mail(bytes(message), MX).authenticated is False
    assert parse_mail(bytes(message), None).authenticated is False


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Auto_Submitted": "auto-replied"}, "automatic mail (Auto-Submitted: auto-replied)"),
        ({"Precedence": "Bulk"}, "automatic mail (Precedence: bulk)"),
        ({"List_Unsubscribe": "<mailto:x@y>"}, "mailing list mail (List-Unsubscribe)"),
        ({"Return_Path": "<>"}, "a bounce (empty Return-Path)"),
        ({"Auto_Submitted": "no"}, None),
    ],
)
def test_automatic_mail_is_recognised(headers: dict[str, str], why: str | None) -> None:
    assert parse_mail(raw(From="a@b.example", **headers), MX).automatic == why


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        (None, "no From address"),
        ("a@b.example, c@d.example", "the From header does not hold exactly one address"),
        ("nobody", "the From address is not an address bridge can answer"),
        ("x@localhost", "the From address is not an address bridge can answer"),
    ],
)
def test_mail_without_one_answerable_sender_is_refused(sender: str | None, reason: str) -> None:
    mail = raw(**({"From": sender} if sender else {}), Subject="s")
    with pytest.raises(MailRefused) as refused:
        parse_mail(mail, MX)
    assert refused.value.reason == reason


def test_thread_references_nearest_first() -> None:
    request = parse_mail(raw(From="a@b.example", In_Reply_To="<r3@x>", References="<r1@x> <r2@x> <r3@x>"), MX)
    assert request.references == ("r3@x", "r2@x", "r1@x")


def test_html_is_reduced_to_its_text() -> None:
    html = (
        "<html><head><title>t</title><style>b{}</style></head><body><script>evil()</script>"
        "<p>Row &lt;7&gt; &amp; <b>more</b></p><div>next<br>line</div><!-- hidden --></body></html>"
    )
    assert html_to_text(html) == "Row <7> & more\n\nnext\nline"


def test_a_multipart_mail_keeps_text_and_attachments_within_the_limit() -> None:
    message = build(From="a@b.example", Subject="logs")
    message.add_alternative("<p>html</p>", subtype="html")
    message.add_attachment(b"small", maintype="text", subtype="plain", filename="a.txt")
    message.add_attachment(
        b"x" * 50, maintype="application", subtype="zip", filename="=?utf-8?b?0JvQvtCz?=.zip"
    )
    request = parse_mail(bytes(message), MX, Limits(attachment_bytes=10))
    assert request.text == "Hello"
    assert [(a.filename, a.content_type, a.data) for a in request.attachments] == [
        ("a.txt", "text/plain", b"small")
    ]
    assert request.too_large == ("Лог.zip (50 bytes)",)


def test_words_decide_request_or_incident_and_replies_confirm_or_reject() -> None:
    words = ("access", "password")
    assert is_request("Access for Anna", "", words)
    assert not is_request("Accessibility broken", "", words)
    assert verdict("> quoted\n\nConfirm, thanks") == "confirm"
    assert verdict("reject: still broken") == "reject"
    assert verdict("Not sure yet") is None
    assert reply_text("new words\n\nOn Mon, Ivan wrote:\n> old") == "new words"


def test_the_key_is_the_message_id_or_a_hash_of_the_mail() -> None:
    assert message_key(b"Message-ID: <a@b>\r\n\r\nx") == "a@b"
    assert message_key(b"Message-ID:\r\n <folded@b>\r\n\r\nx") == "folded@b"
    assert message_key(b"Message-ID: junk\r\nMessage-ID: <second@b>\r\n\r\nx") == "second@b"
    keyed = message_key(b"Subject: none\r\n\r\nx")
    assert keyed.startswith("sha256:") and keyed == message_key(b"Subject: none\r\n\r\nx")
    assert len(message_key(b"Message-ID: <" + b"a" * 500 + b">\r\n\r\n")) <= 200


_lines = st.lists(
    st.one_of(
        st.binary(max_size=120),
        st.sampled_from(
            [
                b"From: a@b.example",
                b"From: =?utf-8?b?0JjQstCw0L0=?= <ivanov@logistics.example>",
                b"Subject: =?x-nope?q?=FF?=",
                b"Content-Type: multipart/mixed; boundary=zz",
                b"Content-Type: text/html; charset=utf-16",
                b"Content-Transfer-Encoding: base64",
                b"Content-Disposition: attachment; filename*=utf-8''%FF%00",
                b"--zz",
                b"--zz--",
                b"",
                b"<script>alert(1)</script>",
                b"\x00\xff\xfe",
            ]
        ),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(_lines)
def test_any_bytes_parse_or_are_refused_and_what_comes_out_is_storable(lines: list[bytes]) -> None:
    mail = b"\r\n".join(lines)
    key = message_key(mail)
    assert 0 < len(key) <= 200
    try:
        request = parse_mail(mail, MX)
    except MailRefused as refused:
        assert refused.reason
        return
    for text in (request.subject, request.text, request.sender, request.sender_name, *request.references):
        assert "\x00" not in text
        assert not any("\ud800" <= c <= "\udfff" for c in text)
    assert "\n" not in request.subject and "\r" not in request.subject
    assert len(request.subject) <= 500
