"""The desk's mailbox over TLS: implicit TLS (imaps) and STARTTLS against a real Dovecot with a
certificate for localhost, and a certificate bridge does not trust refused before any password is
sent. The database does not matter here: SQLite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.clock import FakeClock
from bridge.errors import MailboxError
from tests.support.duty import msk
from tests.support.mail import mail, mail_desk


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path, clock: FakeClock) -> Iterator[str]:
    clock.set(msk("2026-12-07 10:00"))
    shutil.copy(sqlite_template, tmp_path / "bridge.db")
    yield f"sqlite:///{tmp_path / 'bridge.db'}"


@pytest.mark.parametrize("tls", ["imaps", "starttls"])
def test_the_mailbox_is_read_over_tls(sqlite_url: str, tmp_path: Path, clock: FakeClock, tls: str) -> None:
    with mail_desk(sqlite_url, tmp_path, clock, tls=tls) as desk:
        assert not desk.settings.imap_allow_plain
        desk.send(mail("ivanov@logistics.example", "Over TLS", message_id=f"tls-{tls}@logistics.example"))
        desk.poll()
        assert [i["title"] for i in desk.incidents()] == ["Over TLS"]
        assert desk.imap.messages("INBOX") == []


def test_a_certificate_bridge_does_not_trust_is_refused(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with mail_desk(sqlite_url, tmp_path, clock, tls="imaps", trust=False) as desk:
        desk.send(mail("ivanov@logistics.example", "Intercepted?", message_id="mitm@logistics.example"))
        intake = desk.desk.runtime.services.mail_intake
        assert intake is not None
        with pytest.raises(MailboxError) as refused:
            intake.poll()
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
        assert "desk-secret" not in str(refused.value)
        assert desk.incidents() == []
        assert len(desk.imap.messages("INBOX")) == 1
