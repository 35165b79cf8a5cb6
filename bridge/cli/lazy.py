"""Command groups whose subcommands are imported when one is used: `bridge rules check` reads
rules files in a tenth of a second instead of first importing the web app, the queue and the
migrations it never touches. Subcommands are named as "module:attribute" strings, which
tests/unit/test_layers.py reads as imports like any other."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        """`lazy` maps subcommand names to "bridge.cli.module:command"."""
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            return load_command(self.lazy[cmd_name])
        return super().get_command(ctx, cmd_name)


def load_command(path: str) -> click.Command:
    """The command that "module:attribute" names."""
    module, _, attribute = path.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    if not isinstance(found, click.Command):
        raise TypeError(f"{path} is not a click command")
    return found
