"""The console's catalogs are shipped complete and compiled: every string the code and templates
mark is in messages.pot, every one of them has a Russian translation, the committed .mo says what
its .po says (an install compiles nothing), and pyproject ships them with the package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parents[3]
TRANSLATIONS = REPO / "bridge" / "web" / "translations"
LANGUAGES = ("ru",)


def ids(catalog: object) -> set[str]:
    return {str(m.id) for m in catalog if m.id}  # type: ignore[attr-defined]


def test_the_template_holds_every_marked_string(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
         "--no-location", "--omit-header", "-o", str(fresh), "."],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    with fresh.open("rb") as extracted, (TRANSLATIONS / "messages.pot").open("rb") as committed:
        assert ids(read_po(extracted)) == ids(read_po(committed)), "run scripts/translations"


def test_every_string_is_translated_and_compiled() -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as template:
        wanted = ids(read_po(template))
    for language in LANGUAGES:
        folder = TRANSLATIONS / language / "LC_MESSAGES"
        with (folder / "messages.po").open("rb") as po, (folder / "messages.mo").open("rb") as mo:
            source, compiled = read_po(po), read_mo(mo)
        untranslated = sorted(m.id for m in source if m.id and (not m.string or m.fuzzy))
        assert untranslated == [], f"{language}: translate these in messages.po"
        assert wanted <= ids(source), f"{language}: run scripts/translations"
        assert {m.id: m.string for m in source if m.id} == {m.id: m.string for m in compiled if m.id}, (
            f"{language}: messages.mo is older than messages.po: run scripts/translations"
        )


def test_placeholders_survive_translation() -> None:
    with (TRANSLATIONS / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        for message in read_po(po):
            if message.id:
                for name in ("%(action)s", "%(name)s", "%(owner)s", "%(night)s"):
                    assert (name in str(message.id)) == (name in str(message.string)), message.id


def test_the_package_ships_catalogs_templates_and_static_files() -> None:
    shipped = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "bridge"
    ]
    for pattern in ("web/translations/*/LC_MESSAGES/*.mo", "web/templates/console/*.html", "web/static/*"):
        assert pattern in shipped
    assert (REPO / "bridge" / "web" / "static" / "console.js").is_file()
