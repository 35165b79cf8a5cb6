"""The `bridge` command group; each subcommand lives in the module of its group, parses its
options, calls one service and prints."""

from __future__ import annotations

import click

from bridge.cli.db import db
from bridge.cli.demo import demo
from bridge.cli.incidents import incidents
from bridge.cli.intake import intake
from bridge.cli.oncall import oncall, reports, rota
from bridge.cli.rules import rules
from bridge.cli.serve import serve, worker
from bridge.cli.tokens import config, tokens


@click.group()
@click.version_option(package_name="bridge")
def main() -> None:
    """bridge: monitoring events in, incidents that people own out."""


for _command in (serve, worker, db, incidents, intake, tokens, config, demo, oncall, rota, reports, rules):
    main.add_command(_command)
