"""Where the repository's own files are: the example rules, the fixtures."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPO_RULES = REPO / "rules"
