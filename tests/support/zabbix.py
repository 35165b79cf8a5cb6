"""A real Zabbix 6.0 for the tests, from Debian 12's packages: a server and its PHP frontend on
free ports, a fresh database on a given PostgreSQL server, torn down at the end.

    with zabbix_environment(postgres_server_url) as env:
        setup = configure_webhook(env, Path("contrib/zabbix/media_bridge.yaml"), {"{$BRIDGE.URL}": url})
        open_problem(env, setup, 95)   # a problem, delivered by the webhook

Zabbix quirks this module works around (found the hard way, see the comments where they bite):
- the Debian frontend reads its database settings only from /etc/zabbix/zabbix.conf.php, so that
  one file is shared by every environment on the machine: ours takes the settings from the PHP
  process's environment, and the last environment out restores whatever was there before;
- the server's trapper ListenPort must be in 1024-32767, below the kernel's ephemeral ports;
- a value sent for a host the server's configuration cache does not know yet is refused
  ("processed: 0; failed: 1"), so `send_value` reloads the cache and retries;
- webhooks run in the server's alerter processes with libcurl, which obeys http_proxy and
  friends from the server's environment, so the server is started without them.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import os
import random
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
import requests
import yaml
from pyzabbix.api import ZabbixAPI

from tests.support.postgres import Unavailable, free_port, fresh_database

# What the harness needs from Debian 12 (scripts/install-test-peers installs the same list).
# php8.2-cgi is not used: it satisfies the `php8.2` package's "libapache2-mod-php8.2 |
# php8.2-fpm | php8.2-cgi" dependency, which apt would otherwise fill with Apache's module.
DEBIAN_PACKAGES = (
    "zabbix-server-pgsql",
    "zabbix-frontend-php",
    "php-cli",
    "php8.2-cgi",
    "php-pgsql",
    "php-bcmath",
    "php-gd",
    "php-mbstring",
    "php-xml",
)

SERVER_BINARY = Path("/usr/sbin/zabbix_server")
SCHEMA_DIR = Path("/usr/share/zabbix-server-pgsql")
SCHEMA_FILES = ("schema.sql.gz", "images.sql.gz", "data.sql.gz")  # Debian splits upstream's create.sql
FRONTEND_DIR = Path("/usr/share/zabbix")
FRONTEND_CONF = Path("/etc/zabbix/zabbix.conf.php")  # hard-coded in the frontend's CConfigFile
ADMIN_USER, ADMIN_PASSWORD = "Admin", "zabbix"  # what data.sql creates

# PHP extensions the frontend needs, by the Debian package that brings each.
_PHP_EXTENSIONS = {
    "php-pgsql": "pgsql",
    "php-bcmath": "bcmath",
    "php-gd": "gd",
    "php-mbstring": "mbstring",
    "php-xml": "xmlreader",
}

T = TypeVar("T")


def packages_missing() -> list[str]:
    """The Debian packages (of DEBIAN_PACKAGES) whose files this harness needs but cannot find."""
    missing: list[str] = []
    if not SERVER_BINARY.exists() or not (SCHEMA_DIR / "data.sql.gz").exists():
        missing.append("zabbix-server-pgsql")
    if not (FRONTEND_DIR / "api_jsonrpc.php").exists():
        missing.append("zabbix-frontend-php")
    php = shutil.which("php")
    if php is None:
        return [*missing, "php-cli", *_PHP_EXTENSIONS]
    loaded = (
        subprocess.run(
            [php, "-r", 'echo implode("\\n", get_loaded_extensions());'],
            capture_output=True,
            text=True,
            check=False,
        )
        .stdout.lower()
        .split()
    )
    missing += [package for package, extension in _PHP_EXTENSIONS.items() if extension not in loaded]
    return missing


def _free_trapper_port() -> int:
    """A free port Zabbix accepts as ListenPort: it refuses anything above 32767, where the
    kernel's ephemeral ports (what binding port 0 hands out) usually are."""
    for _ in range(200):
        port = random.randint(20000, 32767)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32767")


@dataclass
class ZabbixEnv:
    url: str
    """The frontend's base URL; the API is at url + "/api_jsonrpc.php"."""
    api: ZabbixAPI
    """Logged in as Admin (a super admin)."""
    trapper_port: int
    config_file: Path
    log_file: Path
    frontend_log_file: Path
    database_url: str
    """libpq URL of Zabbix's own database, for tests that want to look inside."""

    def send_value(self, host: str, key: str, value: object, *, timeout: float = 30.0) -> None:
        """Send one value as zabbix_sender would; raise unless the server processed it.

        A refused value is not stored, so retrying is safe: the server refuses values for hosts
        and items its configuration cache does not know yet, which is what a retry waits out.
        """
        deadline = time.monotonic() + timeout
        reloaded = False
        while True:
            answer = self._send(
                {"request": "sender data", "data": [{"host": host, "key": key, "value": str(value)}]}
            )
            info = str(answer.get("info", ""))
            if answer.get("response") == "success" and "processed: 1;" in info:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Zabbix did not process {host}:{key}={value}: {answer}\n{self.log_tail()}"
                )
            if not reloaded:
                self.reload_config()
                reloaded = True
            time.sleep(0.5)

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(request).encode()
        # Zabbix protocol: "ZBXD", flags 0x01, payload length as 8 little-endian bytes, payload.
        with socket.create_connection(("127.0.0.1", self.trapper_port), timeout=10) as sock:
            sock.sendall(b"ZBXD\x01" + struct.pack("<Q", len(payload)) + payload)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        if not answer.startswith(b"ZBXD"):
            raise RuntimeError(f"not a Zabbix answer: {answer[:200]!r}")
        (length,) = struct.unpack("<Q", answer[5:13])
        result: dict[str, Any] = json.loads(answer[13 : 13 + length])
        return result

    def reload_config(self) -> None:
        """Have the server reread its configuration (hosts, items, triggers, actions) now rather
        than at the next CacheUpdateFrequency tick."""
        subprocess.run(
            [str(SERVER_BINARY), "-c", str(self.config_file), "-R", "config_cache_reload"],
            check=True,
            capture_output=True,
        )

    def server_log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        tail = "\n".join(self.server_log().splitlines()[-lines:])
        return f"--- zabbix_server.log (last {lines} lines) ---\n{tail}"

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 30.0, what: str | Callable[[], str] = ""
    ) -> T:
        """Poll `predicate` until it returns something truthy, and return that; on timeout raise
        TimeoutError with the server's log, which is where Zabbix says why nothing happened.
        `what` may be a function, called only on timeout: a diagnosis of the state then, not of
        the state when the wait began."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                described = what() if callable(what) else what
                raise TimeoutError(f"waited {timeout:.0f}s for {described or predicate!r}\n{self.log_tail()}")
            time.sleep(0.2)


@contextlib.contextmanager
def zabbix_environment(postgres_server_url: str) -> Iterator[ZabbixEnv]:
    """A running Zabbix 6.0 server and frontend on a fresh database of `postgres_server_url`'s
    server; stops both and removes everything afterwards. Raises Unavailable without packages."""
    missing = packages_missing()
    if missing:
        raise Unavailable(f"Zabbix needs Debian packages {' '.join(missing)} (scripts/install-test-peers)")
    with contextlib.ExitStack() as stack:
        base = Path(tempfile.mkdtemp(prefix="bridge-zbx-"))
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        database_url = stack.enter_context(fresh_database(postgres_server_url))
        database_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        _import_schema(database_url)

        port = _free_trapper_port()
        config_file = base / "zabbix_server.conf"
        log_file = base / "zabbix_server.log"
        config_file.write_text(_server_config(base, port, database_url))
        stack.enter_context(_running_server(config_file, base, port, log_file))

        frontend_log = base / "frontend.log"
        web_port = free_port()
        stack.enter_context(_frontend_config())
        stack.enter_context(_running_frontend(web_port, port, database_url, frontend_log))
        url = f"http://127.0.0.1:{web_port}"

        session = requests.Session()
        session.trust_env = False  # a proxy from the environment must not see 127.0.0.1
        stack.callback(session.close)
        api = ZabbixAPI(url, session=session, timeout=30)
        api.login(ADMIN_USER, ADMIN_PASSWORD)
        yield ZabbixEnv(
            url=url,
            api=api,
            trapper_port=port,
            config_file=config_file,
            log_file=log_file,
            frontend_log_file=frontend_log,
            database_url=database_url,
        )


def _import_schema(database_url: str) -> None:
    # data.sql (templates, mostly) is 32 MB of INSERTs: about 9 of the ~10 seconds this takes.
    with psycopg.connect(database_url, autocommit=True) as connection:
        for name in SCHEMA_FILES:
            with gzip.open(SCHEMA_DIR / name, "rt", encoding="utf-8") as sql:
                connection.execute(sql.read())  # trusted, packaged SQL: many statements, no parameters


def _database_settings(database_url: str) -> dict[str, str]:
    parts = urlsplit(database_url)
    return {
        "host": parts.hostname or "",
        "port": str(parts.port or 5432),
        "name": parts.path.lstrip("/"),
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
    }


def _server_config(base: Path, port: int, database_url: str) -> str:
    db = _database_settings(database_url)
    settings = {
        "ListenIP": "127.0.0.1",
        "ListenPort": port,
        "LogType": "file",
        "LogFile": base / "zabbix_server.log",
        "LogFileSize": 0,
        "PidFile": base / "zabbix_server.pid",
        "SocketDir": base,  # the runtime control socket (-R) lives here
        "TmpDir": base,
        "DBHost": db["host"],
        "DBPort": db["port"],
        "DBName": db["name"],
        "DBUser": db["user"],
        "DBPassword": db["password"],
        "AllowRoot": 1,  # tests run as root; the temp dir and log then need no chown
        # New hosts, items, triggers and actions reach the server through its configuration
        # cache; reload_config() forces a sync, this bounds the wait without it.
        "CacheUpdateFrequency": 2,
        # Only what trapper items, triggers, actions and webhooks need: fewer processes, fewer
        # database connections, and no polling of the "Zabbix server" host data.sql creates.
        "StartPollers": 0,
        "StartPollersUnreachable": 0,
        "StartIPMIPollers": 0,
        "StartPingers": 0,
        "StartDiscoverers": 0,
        "StartHTTPPollers": 0,
        "StartHistoryPollers": 0,
        "StartJavaPollers": 0,
        "StartVMwareCollectors": 0,
        "StartSNMPTrapper": 0,
        "StartProxyPollers": 0,
        "StartODBCPollers": 0,
        "StartReportWriters": 0,
        "StartTrappers": 3,
        "StartPreprocessors": 2,
        "StartDBSyncers": 2,
        "StartTimers": 1,
        "StartEscalators": 1,
        "StartAlerters": 3,  # webhooks run in alerters, one alert at a time each
        "StartLLDProcessors": 1,
        "HousekeepingFrequency": 0,
        "Timeout": 10,
        "FpingLocation": "/usr/bin/fping",
    }
    return "".join(f"{name}={value}\n" for name, value in settings.items())


def _server_environment() -> dict[str, str]:
    # Webhooks' HttpRequest is libcurl, which reads http_proxy/HTTPS_PROXY/ALL_PROXY from the
    # environment: with one set, a webhook to 127.0.0.1 would go to the proxy.
    return {name: value for name, value in os.environ.items() if not name.lower().endswith("_proxy")}


@contextlib.contextmanager
def _running_server(config_file: Path, base: Path, port: int, log_file: Path) -> Iterator[None]:
    output = open(base / "zabbix_server.out", "wb")  # noqa: SIM115  # closed below
    # -f keeps the server in the foreground as our child; its own session lets us stop the
    # whole process tree (it forks one process per worker) if the main one does not.
    process = subprocess.Popen(
        [str(SERVER_BINARY), "-f", "-c", str(config_file)],
        stdout=output,
        stderr=subprocess.STDOUT,
        env=_server_environment(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log = log_file.read_text(errors="replace") if log_file.exists() else ""
                out = (base / "zabbix_server.out").read_text(errors="replace")
                raise RuntimeError(
                    f"zabbix_server did not start (exit {process.poll()}):\n{out}\n{log[-4000:]}"
                )
            time.sleep(0.1)
        yield
    finally:
        _stop(process, grace=15)
        output.close()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    # Whatever of its process group is left (workers of a server that was killed, or PHP's
    # built-in server workers) goes too; the group id is the child's pid (start_new_session).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# The frontend's configuration, identical for every environment: each frontend process gets its
# own database and server in its environment. PHP's getenv() sees the built-in server's
# environment, whichever worker answers.
_FRONTEND_CONF_TEXT = """<?php
// Written by bridge's test harness (tests/support/zabbix.py), removed when its tests end.
$DB['TYPE'] = 'POSTGRESQL';
$DB['SERVER'] = getenv('ZBX_TEST_DB_HOST') ?: 'localhost';
$DB['PORT'] = getenv('ZBX_TEST_DB_PORT') ?: '0';
$DB['DATABASE'] = getenv('ZBX_TEST_DB_NAME') ?: 'zabbix';
$DB['USER'] = getenv('ZBX_TEST_DB_USER') ?: 'zabbix';
$DB['PASSWORD'] = getenv('ZBX_TEST_DB_PASSWORD') ?: '';
$DB['SCHEMA'] = '';
$DB['ENCRYPTION'] = false;
$DB['KEY_FILE'] = '';
$DB['CERT_FILE'] = '';
$DB['CA_FILE'] = '';
$DB['VERIFY_HOST'] = false;
$DB['CIPHER_LIST'] = '';
$DB['VAULT_URL'] = '';
$DB['VAULT_DB_PATH'] = '';
$DB['VAULT_TOKEN'] = '';
$DB['DOUBLE_IEEE754'] = true;
$ZBX_SERVER = '127.0.0.1';
$ZBX_SERVER_PORT = getenv('ZBX_TEST_SERVER_PORT') ?: '10051';
$ZBX_SERVER_NAME = 'bridge tests';
$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
"""


@contextlib.contextmanager
def _frontend_config() -> Iterator[None]:
    """Put our zabbix.conf.php in place for as long as any environment on this machine runs.

    Each environment holds a shared flock on a lock file while it lives; changes to the file are
    made under an exclusive one, so the last environment out (the only one that can get the
    exclusive lock without waiting) puts back what was there, or removes ours. A backup left by
    a killed run is restored by the next run's exit."""
    backup = FRONTEND_CONF.with_name(FRONTEND_CONF.name + ".bridge-backup")
    lock_path = Path(tempfile.gettempdir()) / "bridge-zabbix-frontend.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = FRONTEND_CONF.read_text(errors="replace") if FRONTEND_CONF.exists() else None
        if current != _FRONTEND_CONF_TEXT:
            if current is not None and not backup.exists():
                FRONTEND_CONF.replace(backup)
            FRONTEND_CONF.parent.mkdir(parents=True, exist_ok=True)
            FRONTEND_CONF.write_text(_FRONTEND_CONF_TEXT)
            FRONTEND_CONF.chmod(0o644)
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another environment still uses the file; it restores it when done
            else:
                if backup.exists():
                    backup.replace(FRONTEND_CONF)
                else:
                    FRONTEND_CONF.unlink(missing_ok=True)


@contextlib.contextmanager
def _running_frontend(port: int, server_port: int, database_url: str, log_file: Path) -> Iterator[None]:
    db = _database_settings(database_url)
    env = {
        **_server_environment(),
        "ZBX_TEST_DB_HOST": db["host"],
        "ZBX_TEST_DB_PORT": db["port"],
        "ZBX_TEST_DB_NAME": db["name"],
        "ZBX_TEST_DB_USER": db["user"],
        "ZBX_TEST_DB_PASSWORD": db["password"],
        "ZBX_TEST_SERVER_PORT": str(server_port),
        # The built-in server answers one request at a time unless it forks workers.
        "PHP_CLI_SERVER_WORKERS": "4",
    }
    output = open(log_file, "wb")  # noqa: SIM115  # closed below
    process = subprocess.Popen(
        [
            "php",
            "-S",
            f"127.0.0.1:{port}",
            "-t",
            str(FRONTEND_DIR),
            # What the frontend's own requirements check asks for (setup.php).
            "-d",
            "memory_limit=256M",
            "-d",
            "post_max_size=16M",
            "-d",
            "upload_max_filesize=2M",
            "-d",
            "max_execution_time=300",
            "-d",
            "max_input_time=300",
            "-d",
            "display_errors=0",
        ],
        stdout=output,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api_jsonrpc.php"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = requests.post(
                    url,
                    json={"jsonrpc": "2.0", "method": "apiinfo.version", "params": {}, "id": 1},
                    timeout=5,
                    proxies={"http": "", "https": ""},
                )
                if answer.ok and "result" in answer.json():
                    break
            except (requests.RequestException, ValueError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Zabbix frontend did not answer:\n{log_file.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.1)
        yield
    finally:
        _stop(process, grace=5)
        output.close()


@dataclass(frozen=True)
class WebhookSetup:
    """What configure_webhook created, by Zabbix id (strings, as the API returns them)."""

    mediatypeid: str
    groupid: str
    hostid: str
    itemid: str
    triggerid: str
    usrgrpid: str
    userid: str
    actionid: str
    host: str
    item_key: str
    username: str
    password: str
    """The webhook user's password: it can log in to the API and see and update the problems."""


def configure_webhook(
    env: ZabbixEnv,
    media_type_file: Path,
    macros: dict[str, str],
    *,
    host: str = "bridge-test-host",
    item_key: str = "bridge.test",
    username: str = "bridge-webhook",
    sendto: str = "bridge",
) -> WebhookSetup:
    """Import a media type export and wire it up so that one trapper value > 90 opens a problem
    whose problem, recovery and update notifications go out through that media type.

    Creates a host group, a host (no interfaces) with a numeric trapper item `item_key`, a
    trigger `last(...)>90` that may be closed manually, a user group with read-write rights on
    the host group, a user in it with the media type as media (all severities, always), and an
    action sending operations, recovery operations and update operations to that user. Global
    `macros` ({"{$NAME}": value}) are created or updated. The server's configuration cache is
    reloaded at the end; send_value waits out whatever is left of that. Names derive from `host`
    and `username`: call it again with other ones for a second, independent setup.
    """
    api = env.api
    source = media_type_file.read_text()
    export = yaml.safe_load(source)  # YAML or JSON exports (JSON is YAML)
    media_types = export["zabbix_export"]["media_types"]
    if len(media_types) != 1:
        raise ValueError(f"{media_type_file} holds {len(media_types)} media types, expected one")
    api.configuration["import"](
        format="json" if media_type_file.suffix == ".json" else "yaml",
        source=source,
        rules={"mediaTypes": {"createMissing": True, "updateExisting": True}},
    )
    mediatypeid = api.mediatype.get(filter={"name": media_types[0]["name"]}, output=["mediatypeid"])[0][
        "mediatypeid"
    ]

    for macro, value in macros.items():
        existing = api.usermacro.get(globalmacro=True, filter={"macro": macro}, output=["globalmacroid"])
        if existing:
            api.usermacro.updateglobal(globalmacroid=existing[0]["globalmacroid"], value=value)
        else:
            api.usermacro.createglobal(macro=macro, value=value)

    groupid = api.hostgroup.create(name=f"{host} group")["groupids"][0]
    # Zabbix notifies only users who may read the host; read-write also lets the user
    # acknowledge and close the problems through the API.
    usrgrpid = api.usergroup.create(
        name=f"{username} group",
        rights=[{"id": groupid, "permission": 3}],  # 3: read-write
    )["usrgrpids"][0]
    roleid = api.role.get(filter={"name": "User role"}, output=["roleid"])[0]["roleid"]
    # The default password policy (8+ characters, nothing easy to guess) rejects e.g. "zabbix".
    password = "Bridge-" + secrets.token_hex(8)
    userid = api.user.create(
        username=username,
        passwd=password,
        roleid=roleid,
        usrgrps=[{"usrgrpid": usrgrpid}],
        medias=[
            {
                "mediatypeid": mediatypeid,
                "sendto": sendto,
                "active": 0,  # 0 is enabled
                "severity": 63,  # bit mask: all six severities
                "period": "1-7,00:00-24:00",
            }
        ],
    )["userids"][0]

    def message() -> dict[str, Any]:
        # default_msg=1: subject and message come from the media type's message templates.
        return {
            "operationtype": 0,
            "opmessage": {"default_msg": 1, "mediatypeid": mediatypeid},
            "opmessage_usr": [{"userid": userid}],
        }

    actionid = api.action.create(
        name=f"{username} notifications",
        eventsource=0,  # triggers
        status=0,
        esc_period="1h",
        filter={
            "evaltype": 0,
            "conditions": [
                {"conditiontype": 0, "operator": 0, "value": groupid},  # host group equals
            ],
        },
        operations=[{**message(), "esc_step_from": 1, "esc_step_to": 1}],
        recovery_operations=[message()],
        update_operations=[message()],
    )["actionids"][0]

    # The host, its item and trigger come last, and the item is enabled last of all: the server's
    # configuration cache may sync at any moment, and a value it accepts before it knows the
    # trigger opens no problem, a problem it opens before it knows the action is never notified.
    # A disabled item refuses values, so send_value waits until all of it is known.
    hostid = api.host.create(host=host, groups=[{"groupid": groupid}])["hostids"][0]
    itemid = api.item.create(
        hostid=hostid,
        name="bridge test value",
        key_=item_key,
        type=2,  # Zabbix trapper
        value_type=0,  # numeric (float)
        status=1,  # disabled until the trigger exists
    )["itemids"][0]
    triggerid = api.trigger.create(
        description=f"{host} value is above 90",
        expression=f"last(/{host}/{item_key})>90",
        priority=4,  # high
        manual_close=1,
    )["triggerids"][0]
    api.item.update(itemid=itemid, status=0)

    env.reload_config()
    return WebhookSetup(
        mediatypeid=mediatypeid,
        groupid=groupid,
        hostid=hostid,
        itemid=itemid,
        triggerid=triggerid,
        usrgrpid=usrgrpid,
        userid=userid,
        actionid=actionid,
        host=host,
        item_key=item_key,
        username=username,
        password=password,
    )


def alerts(env: ZabbixEnv, actionid: str) -> list[dict[str, Any]]:
    """The alerts (notification attempts) of an action, with status and error, for assertions
    and failure messages: status 0 not sent yet, 1 sent, 2 failed, 3 new."""
    result: list[dict[str, Any]] = env.api.alert.get(
        actionids=[actionid],
        output=["alertid", "eventid", "status", "error", "retries", "p_eventid"],
        sortfield="alertid",
    )
    return result


def open_problem(env: ZabbixEnv, setup: WebhookSetup, value: object, *, timeout: float = 60.0) -> str:
    """Send a value over the setup's threshold and return the id of the problem event it opens.

    The server takes a value as soon as its configuration cache knows the item, and whether it
    then knew the trigger is not something the sender is told. A CI run once waited a minute
    for the incident of the first value after `configure_webhook` and never saw one (its
    diagnosis, taken when the wait began, could not say where the problem got lost). So this
    waits for the problem event itself and, while there is none, reloads the cache and sends
    again: a value that opened no problem leaves nothing a second one could duplicate."""
    deadline = time.monotonic() + timeout
    while True:
        env.send_value(setup.host, setup.item_key, value)
        try:
            events = env.wait_for(
                lambda: env.api.event.get(
                    objectids=[setup.triggerid], value=1, output=["eventid"], sortfield="eventid"
                ),
                min(15.0, max(deadline - time.monotonic(), 1.0)),
            )
        except TimeoutError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no problem opened by {setup.host}:{setup.item_key}={value} in {timeout:.0f}s\n"
                    f"{trace(env, setup)}\n{env.log_tail()}"
                ) from None
            env.reload_config()
            continue
        return str(events[-1]["eventid"])


def trace(env: ZabbixEnv, setup: WebhookSetup) -> str:
    """What Zabbix did with a setup's trigger, for a failure message: its events (value 1 a
    problem, 0 a recovery) and the action's notification attempts. An empty event list means
    the value opened no problem; events without alerts, that the action did not fire; failed
    alerts carry the webhook's error."""
    events = env.api.event.get(
        objectids=[setup.triggerid], output=["eventid", "value", "clock", "r_eventid"], sortfield="eventid"
    )
    return f"events: {events}\nalerts: {alerts(env, setup.actionid)}"


__all__ = [
    "DEBIAN_PACKAGES",
    "WebhookSetup",
    "ZabbixEnv",
    "alerts",
    "configure_webhook",
    "open_problem",
    "packages_missing",
    "trace",
    "zabbix_environment",
]
