"""Settings from the environment: defaults, URLs, mistakes named, unknown variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.settings import Settings, redacted, unknown_variables, without_credentials


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///bridge.db"
    assert settings.redis_url is None
    assert settings.rules_dir == Path("rules")
    assert settings.max_body_bytes == 5 * 1024 * 1024


def test_plain_postgresql_urls_work_as_is() -> None:
    for url in ("postgresql://u:p@db/bridge", "postgres://u:p@db/bridge"):
        assert (
            Settings.from_env({"BRIDGE_DATABASE_URL": url}).database_url
            == "postgresql+psycopg://u:p@db/bridge"
        )


def test_every_bad_value_is_named_and_secrets_are_hidden() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(
            {
                "BRIDGE_DATABASE_URL": "mysql://x",
                "BRIDGE_TIMEZONE": "Mars/Olympus",
                "BRIDGE_MAX_BODY_BYTES": "-1",
                "BRIDGE_BASE_URL": "ftp://x",
                "BRIDGE_REDIS_URL": "http://user:s3cret@cache",
            }
        )
    message = str(raised.value)
    assert "BRIDGE_DATABASE_URL='mysql://x': must be a sqlite:/// or postgresql:// URL" in message
    assert "BRIDGE_TIMEZONE='Mars/Olympus': not a known IANA time zone" in message
    assert "BRIDGE_MAX_BODY_BYTES='-1': must be greater than 0" in message
    assert "BRIDGE_BASE_URL='ftp://x': must be an http:// or https:// URL" in message
    assert "BRIDGE_REDIS_URL='http://user:***@cache': must be a redis://, rediss:// or unix:// URL" in message
    assert "s3cret" not in message


def test_unknown_variables_get_a_did_you_mean() -> None:
    assert unknown_variables(
        {"BRIDGE_DATABSE_URL": "x", "BRIDGE_TEST_DATABASE_URL": "y", "PATH": "/bin"}
    ) == ["unknown setting BRIDGE_DATABSE_URL (did you mean BRIDGE_DATABASE_URL?)"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("https://bridge:s3cret@zabbix.example/zabbix", "'https://bridge:***@zabbix.example/zabbix'"),
        ("http://am:p@ss:w@rd@am.example:9093", "'http://am:***@am.example:9093'"),
        ("http://:s3cret@am.example", "'http://:***@am.example'"),
        ("https://zabbix.example/zabbix", "'https://zabbix.example/zabbix'"),
        ("http://[::1/x", "(hidden)"),
        ("plain-token", "(hidden)"),
    ],
)
def test_redacted_masks_the_password_of_a_url(raw: str, shown: str) -> None:
    assert redacted(raw) == shown


def test_debug_loggers_are_names() -> None:
    settings = Settings.from_env({"BRIDGE_DEBUG_LOGGERS": " urllib3, pyzabbix ,"})
    assert settings.debug_loggers == ("urllib3", "pyzabbix")
    with pytest.raises(ConfigError, match="BRIDGE_DEBUG_LOGGERS='url lib': 'url lib' is not a logger name"):
        Settings.from_env({"BRIDGE_DEBUG_LOGGERS": "url lib"})


@pytest.mark.parametrize(
    ("url", "bare", "credentials"),
    [
        (
            "https://bridge:s%40cret@zabbix.example/zabbix",
            "https://zabbix.example/zabbix",
            ("bridge", "s@cret"),
        ),
        ("http://am@am.example:9093", "http://am.example:9093", ("am", "")),
        ("http://am.example:9093/", "http://am.example:9093/", None),
    ],
)
def test_without_credentials_moves_them_out_of_the_url(
    url: str, bare: str, credentials: tuple[str, str] | None
) -> None:
    assert without_credentials(url) == (bare, credentials)


def test_the_worker_niceness_is_0_to_19_and_10_by_default() -> None:
    assert Settings.from_env({}).worker_nice == 10
    assert Settings.from_env({"BRIDGE_WORKER_NICE": "0"}).worker_nice == 0
    assert Settings.from_env({"BRIDGE_WORKER_NICE": "19"}).worker_nice == 19
    for bad in ("20", "-5", "high"):
        with pytest.raises(
            ConfigError, match=f"BRIDGE_WORKER_NICE='{bad}': must be a whole number from 0 to 19"
        ):
            Settings.from_env({"BRIDGE_WORKER_NICE": bad})
