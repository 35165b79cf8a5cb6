"""The examples in docs/rules.md are valid rules: documentation that does not load is a bug."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.dedup.loader import load_rules_texts

DOC = Path(__file__).resolve().parents[3] / "docs" / "rules.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def loadable(block: str) -> str | None:
    """A block that is a whole file, or a list of rules shown without the `rules:` line."""
    if block.startswith(("rules:", "maintenance:", "defaults:")):
        return block
    if block.startswith("  - name:"):
        return "rules:\n" + block
    return None  # a fragment showing one key's forms


EXAMPLES = [text for block in BLOCKS if (text := loadable(block)) is not None]


def test_the_doc_has_examples_to_check() -> None:
    assert len(EXAMPLES) >= 12


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_example_in_the_rules_doc_loads(text: str) -> None:
    ruleset = load_rules_texts({"rules.md": text})
    named = len(re.findall(r"^  - name:", text, flags=re.MULTILINE))  # rules and windows alike
    assert len(ruleset.rules) + len(ruleset.maintenance) == named
