"""`python -m bridge` is the `bridge` command."""

from bridge.cli.main import main

main()
