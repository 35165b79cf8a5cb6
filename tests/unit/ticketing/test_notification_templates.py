"""Every notification template is shipped in every language: a Russian one for each English one,
with the same placeholders, so adding a message kind without its translation fails here."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, meta

import bridge.ticketing
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.roles import LOCALES

NOTIFICATIONS = Path(bridge.ticketing.__file__).parent / "templates" / "notifications"
OTHER_LANGUAGES = [locale for locale in LOCALES if locale != "en"]


def kinds(directory: Path) -> set[str]:
    """The message templates in `directory` (``_words.txt`` and the like are helpers, not messages)."""
    return {path.stem for path in directory.glob("*.txt") if not path.name.startswith("_")}


def placeholders(path: Path) -> set[str]:
    """The context variables a template reads (names it sets or imports itself are not among them)."""
    plain_text = Environment(autoescape=False)  # noqa: S701  (parsed, never rendered)
    return set(meta.find_undeclared_variables(plain_text.parse(path.read_text(encoding="utf-8"))))


def test_every_message_kind_has_an_english_template() -> None:
    assert kinds(NOTIFICATIONS) == {kind.value for kind in MessageKind}


def test_russian_is_shipped() -> None:
    assert OTHER_LANGUAGES == ["ru"]


def test_every_english_template_has_a_translation_and_nothing_else_does() -> None:
    for locale in OTHER_LANGUAGES:
        assert kinds(NOTIFICATIONS / locale) == kinds(NOTIFICATIONS), locale


def test_a_translation_reads_the_same_placeholders_as_the_english() -> None:
    for locale in OTHER_LANGUAGES:
        for kind in sorted(kinds(NOTIFICATIONS)):
            english = placeholders(NOTIFICATIONS / f"{kind}.txt")
            translated = placeholders(NOTIFICATIONS / locale / f"{kind}.txt")
            assert translated == english, f"{locale}/{kind}.txt: {sorted(translated ^ english)}"


def test_a_translation_is_in_its_language() -> None:
    for kind in sorted(kinds(NOTIFICATIONS)):
        text = (NOTIFICATIONS / "ru" / f"{kind}.txt").read_text(encoding="utf-8")
        first_line = text.splitlines()[0]
        assert any("а" <= letter <= "я" for letter in first_line.lower()), f"ru/{kind}.txt: {first_line}"  # noqa: RUF001
