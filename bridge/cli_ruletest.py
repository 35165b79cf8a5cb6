"""`bridge rules test FILE...`: rule unit tests, like `promtool test rules` (see docs/rule-tests.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _test_files(paths: tuple[Path, ...]) -> list[Path]:
    """The files given, with a directory standing for the YAML files directly in it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    return files


@click.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Rules directory for every file, instead of each file's `rules:`.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON document.")
def rules_test(files: tuple[Path, ...], rules_dir: Path | None, as_json: bool) -> None:
    """Run rule unit tests: alerts over simulated time, expected incidents and dispositions.

    FILES are test files, or directories whose *.yaml files are test files. Exit 0 when every
    test passes, 1 when one fails, 2 when a file cannot be read, parsed or run."""
    from bridge.dedup.ruletest import exit_code, format_report, report_json, run_paths

    found = _test_files(files)
    if not found:
        click.echo(f"no test files in {', '.join(str(p) for p in files)}", err=True)
        sys.exit(2)
    results = run_paths(found, rules_dir)
    if as_json:
        click.echo(json.dumps(report_json(results), indent=2, ensure_ascii=False))
    else:
        click.echo(format_report(results))
    sys.exit(exit_code(results))
