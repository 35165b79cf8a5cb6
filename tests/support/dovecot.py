"""A real IMAP server for the mail intake tests: Debian's Dovecot (dovecot-imapd, from
scripts/install-test-peers) as a throwaway instance on a free loopback port, with its own
configuration directory, a passwd-file user database and maildirs in a temporary directory.

Run as root, Dovecot drops to its packaged unprivileged users (`dovecot`, `dovenull`) for its
internal and login processes, and the mail user owns its files as the `dovecot` user: Dovecot
refuses mail access as root. Plain IMAP on loopback only, which bridge takes only when told so
(BRIDGE_IMAP_ALLOW_PLAIN)."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import free_port

USER = "desk"
PASSWORD = "desk-secret"


class Unavailable(Exception):
    pass


def binary() -> str | None:
    return shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
  default_fields = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service auth {{
  user = root
}}
protocol imap {{
  imap_max_line_length = 2M
}}
"""


@dataclass
class Dovecot:
    host: str
    port: int
    root: Path
    process: subprocess.Popen[bytes]
    tls_port: int = 0
    """With `tls`: the port of implicit TLS (imaps); the plain port then offers STARTTLS."""
    ca_file: Path | None = None
    """With `tls`: the self-signed certificate (for "localhost") a client must trust."""

    @property
    def url(self) -> str:
        """What BRIDGE_IMAP_URL says for this server (plain IMAP: loopback only)."""
        return f"imap://{USER}:{PASSWORD}@{self.host}:{self.port}"

    @contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(USER, PASSWORD)
            yield imap
        finally:
            with suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in a folder, as the mail server's delivery would."""
        with self.client() as imap:
            typ, data = imap.append(quoted(folder), None, None, raw)
            assert typ == "OK", data

    def messages(self, folder: str) -> list[bytes]:
        """Every message in `folder` ("bridge/refused": "/" is the hierarchy; empty when the
        folder does not exist)."""
        with self.client() as imap:
            typ, _ = imap.select(quoted(folder.replace("/", ".")), readonly=True)
            if typ != "OK":
                return []
            typ, data = imap.uid("SEARCH", "ALL")
            found: list[bytes] = []
            for uid in (data[0] or b"").split():
                typ, parts = imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                found.extend(part[1] for part in parts if isinstance(part, tuple))
            return found


def quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key (openssl), valid for a day."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def dovecot(tls: bool = False) -> Iterator[Dovecot]:
    """A running Dovecot with one user (USER / PASSWORD) and an empty INBOX; with `tls`, imaps on
    `tls_port` and STARTTLS on `port`, with a self-signed certificate for localhost."""
    found = binary()
    if found is None:
        raise Unavailable("dovecot is not installed (scripts/install-test-peers installs dovecot-imapd)")
    owner = pwd.getpwnam("dovecot")
    root = Path(tempfile.mkdtemp(prefix="bridge-dovecot-"))
    root.chmod(0o755)
    port, tls_port = free_port(), free_port() if tls else 0
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    for sub in ("mail", "home"):
        os.chown(root / sub, owner.pw_uid, owner.pw_gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    config = root / "dovecot.conf"
    ssl, ca_file = "ssl = no", None
    if tls:
        ca_file, key = self_signed(root)
        ssl = f"ssl = yes\nssl_cert = <{ca_file}\nssl_key = <{key}"
    config.write_text(
        CONFIG.format(root=root, uid=owner.pw_uid, gid=owner.pw_gid, port=port, tls_port=tls_port, ssl=ssl)
    )
    process = subprocess.Popen(
        [found, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise Unavailable(f"dovecot exited: {stderr}{log}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise Unavailable("dovecot did not answer within 20 s")
            time.sleep(0.1)
        yield Dovecot("127.0.0.1", port, root, process, tls_port, ca_file)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(root, ignore_errors=True)
