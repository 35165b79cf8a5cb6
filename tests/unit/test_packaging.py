"""pyproject.toml builds without a deprecation warning: `project.license` is an SPDX expression
(the `{text = ...}` table is deprecated from setuptools 77 and printed a warning box on every
`scripts/bootstrap`), and the build asks for a setuptools that reads that string."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STRING_LICENSE_SINCE = (77, 0)  # setuptools' own warning: "available on setuptools>=77.0.0"


def test_the_license_is_an_spdx_expression() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"


def test_the_build_needs_a_setuptools_that_reads_it() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    (setuptools,) = [r for r in requires if r.startswith("setuptools")]
    found = re.fullmatch(r"setuptools>=(\d+)(?:\.(\d+))?", setuptools.replace(" ", ""))
    assert found is not None, setuptools
    assert (int(found[1]), int(found[2] or 0)) >= STRING_LICENSE_SINCE
