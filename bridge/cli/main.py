"""The `bridge` command group; each subcommand lives in the module of its group, parses its
options, calls one service and prints. A subcommand's module is imported only when it runs."""

from __future__ import annotations

import click

from bridge.cli.lazy import LazyGroup

COMMANDS = {
    "serve": "bridge.cli.serve:serve",
    "worker": "bridge.cli.serve:worker",
    "db": "bridge.cli.db:db",
    "incidents": "bridge.cli.incidents:incidents",
    "intake": "bridge.cli.intake:intake",
    "tokens": "bridge.cli.tokens:tokens",
    "config": "bridge.cli.tokens:config",
    "demo": "bridge.cli.demo:demo",
    "oncall": "bridge.cli.oncall:oncall",
    "rota": "bridge.cli.rota:rota",
    "reports": "bridge.cli.reports:reports",
    "rules": "bridge.cli.rules:rules",
    "users": "bridge.cli.users:users",
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.version_option(package_name="bridge")
def main() -> None:
    """bridge: monitoring events in, incidents that people own out."""
