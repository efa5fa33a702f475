"""pyproject.toml metadata in the form current setuptools accepts without warnings.

setuptools 77 deprecated the ``license = {text = ...}`` table and ``License ::``
classifiers (PEP 639); each build then prints a screen of warnings (``make run`` showed
them on every fresh venv). The build itself is not run here (it needs the package index
for the isolated build environment); these are the rules it checks.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.licenses import canonicalize_license_expression
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_license_is_an_spdx_expression_without_licence_classifiers() -> None:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    project = data["project"]
    assert isinstance(project["license"], str), "use a PEP 639 SPDX string, not a table"
    assert canonicalize_license_expression(project["license"]) == project["license"]
    assert isinstance(project.get("license-files"), list)
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_the_build_asks_for_a_setuptools_that_reads_pep_639() -> None:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    setuptools = next(Requirement(r) for r in data["build-system"]["requires"]
                      if Requirement(r).name == "setuptools")
    assert not setuptools.specifier.contains(Version("76.9")), setuptools
