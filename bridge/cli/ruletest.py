"""`bridge rules test FILE...`: rule unit tests, like `promtool test rules` (see docs/rule-tests.md).

This module reads the files; parsing, running and reporting are pure (`bridge.dedup.ruletest`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bridge.dedup.loader import load_rules_dir
from bridge.dedup.rules import RuleSet
from bridge.dedup.ruletest import FileResult, exit_code, format_report, report_json, run_file
from bridge.dedup.ruletest_spec import parse_test_file
from bridge.errors import RulesError


def expand_paths(paths: tuple[Path, ...] | list[Path]) -> list[Path]:
    """The files given, with a directory standing for the YAML files directly in it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    return files


def run_paths(files: list[Path], rules_dir: Path | None = None) -> list[FileResult]:
    """Run every test file; `rules_dir` overrides each file's `rules:`. Rules load once per directory."""
    loaded: dict[Path, RuleSet | RulesError] = {}
    results = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            results.append(FileResult(str(path), (f"{path}: cannot read: {exc}",)))
            continue
        try:
            spec = parse_test_file(str(path), text)
        except RulesError as exc:
            results.append(FileResult(str(path), tuple(str(p) for p in exc.problems)))
            continue
        directory = rules_dir or spec.rules_dir
        key = directory.resolve()
        if key not in loaded:
            try:
                loaded[key] = load_rules_dir(directory)
            except RulesError as exc:
                loaded[key] = exc
        rules = loaded[key]
        if isinstance(rules, RulesError):
            said = f"{spec.file}:{spec.rules_line}: the rules in {directory} do not load:"
            results.append(FileResult(spec.file, ("\n".join([said, *(f"  {p}" for p in rules.problems)]),)))
            continue
        results.append(FileResult(spec.file, tests=run_file(spec, rules)))
    return results


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
    found = expand_paths(files)
    if not found:
        click.echo(f"no test files in {', '.join(str(p) for p in files)}", err=True)
        sys.exit(2)
    results = run_paths(found, rules_dir)
    if as_json:
        click.echo(json.dumps(report_json(results), indent=2, ensure_ascii=False))
    else:
        click.echo(format_report(results))
    sys.exit(exit_code(results))
