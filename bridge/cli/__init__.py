"""The `bridge` command: a module per command group, shared helpers in `bridge.cli.common`."""

from bridge.cli.main import main

__all__ = ["main"]
