"""`bridge users` on a real database and the example rota: adding (linked to the rota, or
warned), listing, disabling, passwords, and tokens that are printed once and work against the
app until revoked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.clock import FakeClock
from bridge.web.app import create_app
from tests.conftest import START
from tests.support.app import build_runtime, make_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BRIDGE_RULES_DIR": str(REPO / "rules"),
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None, code: int = 0) -> tuple[str, str]:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin)
    assert result.exit_code == code, (result.output, result.stderr)
    return result.stdout, result.stderr


def test_the_first_admin_is_a_rota_handle_with_the_rota_s_name(env: dict[str, str]) -> None:
    out, err = run(
        env, "users", "add", "volkov", "--role", "admin", "--password-stdin", stdin="a long password\n"
    )
    assert out == "added volkov (Viktor Volkov), admin\n"
    assert "warning" not in err
    (user,) = json.loads(run(env, "users", "list", "--json")[0])
    assert (user["handle"], user["name"], user["role"], user["password"]) == (
        "volkov",
        "Viktor Volkov",
        "admin",
        True,
    )


def test_a_handle_not_in_the_rota_is_added_with_a_warning(env: dict[str, str]) -> None:
    out, err = run(env, "users", "add", "shop1", "--role", "viewer", "--client", "retail", "--no-password")
    assert out == "added shop1 (shop1), viewer for client retail\n"
    assert "warning: shop1 is not in the rota" in err and "never assigned or paged" in err


def test_the_password_is_asked_twice_without_echo(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main,
        ["users", "add", "volkov", "--role", "operator"],
        env=env,
        input="a long password\na long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long password" not in result.output
    short = CliRunner().invoke(
        main, ["users", "passwd", "volkov", "--password-stdin"], env=env, input="short\n"
    )
    assert short.exit_code == 1 and "password: at least 10 characters" in short.output


def test_refusals_are_one_line(env: dict[str, str]) -> None:
    _, err = run(env, "users", "add", "volkov", "--role", "viewer", "--no-password", code=1)
    assert "client: a viewer represents one client: name it" in err
    _, err = run(env, "users", "disable", "nobody", code=1)
    assert "no user 'nobody'" in err
    run(env, "users", "add", "volkov", "--no-password")
    _, err = run(env, "users", "add", "volkov", "--no-password", code=1)
    assert "there already is a user 'volkov'" in err


def test_a_token_is_printed_once_works_and_stops_when_revoked(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "users", "add", "volkov", "--role", "operator", "--no-password")
    out, err = run(env, "users", "token", "create", "volkov", "--name", "grafana")
    token = out.strip()
    assert token.startswith("bridge_pat_") and "shown once" in err
    listed, _ = run(env, "users", "token", "list", "volkov")
    assert "grafana" in listed and token not in listed and "never used" in listed
    settings = make_settings(env["BRIDGE_DATABASE_URL"], REPO / "rules")
    runtime = build_runtime(settings, FakeClock(START))
    try:
        client = create_app(runtime=runtime).test_client()
        me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert (me.status_code, me.get_json()["name"]) == (200, "Viktor Volkov")
        out, _ = run(env, "users", "token", "revoke", "1")
        assert out == "revoked token 1 (grafana) of volkov\n"
        assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    finally:
        runtime.close()


def test_disabling_a_user_is_listed(env: dict[str, str]) -> None:
    run(env, "users", "add", "volkov", "--no-password")
    assert run(env, "users", "disable", "volkov")[0] == "disabled volkov\n"
    assert "disabled 20" in run(env, "users", "list")[0]
    run(env, "users", "enable", "volkov")
    assert run(env, "users", "list")[0].rstrip().endswith("active")
