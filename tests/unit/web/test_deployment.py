"""The deployment files: docker-compose.yml is valid Compose (checked by the Compose tool itself
when installed) and describes the stack the README promises; the image and gunicorn settings
point at code that exists."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from gunicorn.workers.gthread import ThreadWorker

from tests.conftest import unavailable

REPO = Path(__file__).resolve().parents[3]


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def example_env() -> dict[str, str]:
    pairs = {}
    for line in (REPO / "contrib/compose/env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def compose_command() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], check=False, capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.parametrize("profile", [None, "demo"])
def test_the_compose_tool_validates_the_file(profile: str | None) -> None:
    command = compose_command()
    if command is None:
        unavailable(
            "neither `docker compose` nor `docker-compose` is installed (scripts/bootstrap --dev installs it)"
        )
        return
    args = [*command, "--file", str(REPO / "docker-compose.yml")]
    if profile:
        args += ["--profile", profile]
    env = {**os.environ, **example_env()}
    result = subprocess.run(
        [*args, "config", "--services"], check=False, capture_output=True, text=True, env=env, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {"postgres", "redis", "migrate", "web", "worker"} <= services
    if profile:
        assert {"prometheus", "alertmanager"} <= services
    # (docker-compose 1.x lists the profile's services either way; Compose v2 only with it.)


def test_compose_refuses_to_start_without_the_secrets() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no Compose tool: the structure is checked below")
    env = {k: v for k, v in os.environ.items() if k not in example_env()}
    result = subprocess.run(
        [*command, "--file", str(REPO / "docker-compose.yml"), "config", "-q"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr or "set BRIDGE_" in result.stderr


def test_every_service_has_a_health_check_and_the_worker_can_be_scaled() -> None:
    services = compose()["services"]
    assert {name for name, service in services.items() if "healthcheck" not in service} == set()
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N needs neither
    assert worker["command"][:2] == ["bridge", "worker"]
    assert services["migrate"]["command"] == ["bridge", "db", "upgrade"]
    for tier in ("web", "worker"):
        assert services[tier]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["prometheus"]["profiles"] == ["demo"] and services["alertmanager"]["profiles"] == ["demo"]


def test_the_web_command_names_a_config_and_an_app_factory_that_exist() -> None:
    web = compose()["services"]["web"]["command"]
    assert web[0] == "gunicorn"
    config = importlib.import_module(web[web.index("--config") + 1].removeprefix("python:"))
    worker_module, _, worker_name = config.worker_class.rpartition(".")
    worker_class = getattr(importlib.import_module(worker_module), worker_name)
    assert issubclass(worker_class, ThreadWorker) and config.timeout > 0  # gthread, JSON errors
    module, _, factory = web[-1].partition(":")
    assert callable(getattr(importlib.import_module(module), factory.removesuffix("()")))
    dockerfile = (REPO / "Dockerfile").read_text()
    assert (
        'CMD ["gunicorn", "--config", "python:bridge.web.gunicorn_config", "bridge.web.wsgi:create()"]'
        in dockerfile
    )


def test_files_the_compose_file_mounts_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"


def test_the_demo_alertmanager_configuration_is_valid_for_alertmanager() -> None:
    if shutil.which("amtool") is None:
        pytest.skip(
            "amtool (Debian's prometheus-alertmanager, from scripts/install-test-peers) is not installed"
        )
    result = subprocess.run(
        ["amtool", "check-config", str(REPO / "contrib/compose/alertmanager.yml")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
