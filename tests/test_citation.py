"""LICENSE and CITATION.cff: present, and saying the same as pyproject.toml (licence, version)."""

from __future__ import annotations

import tomllib

import yaml

from conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_the_licence_file_is_the_one_pyproject_names():
    assert PYPROJECT["license"] == {"text": "MIT"}
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "Copyright (c) 2026 the jointdiff authors" in text


def test_citation_file_has_what_citation_file_format_1_2_requires():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    # Required at the top (CFF 1.2.0): cff-version, message, title, authors; each author a person or an entity.
    assert cff["cff-version"] == "1.2.0" and cff["message"] and cff["title"] and cff["type"] == "software"
    assert all(a.get("name") or a.get("family-names") for a in cff["authors"])
    assert (cff["version"], cff["license"]) == (PYPROJECT["version"], PYPROJECT["license"]["text"])
    paper = cff["preferred-citation"]  # required there: type, title, authors
    assert paper["type"] == "conference-paper" and paper["title"] == ("Learning Data Representations with Joint "
                                                                      "Diffusion Models")
    assert [a["family-names"] for a in paper["authors"]] == ["Deja", "Trzciński", "Tomczak"]
    assert paper["year"] == 2023 and "ECML PKDD 2023" in paper["collection-title"]
    assert paper["doi"] == "10.48550/arXiv.2301.13622" and paper["url"].endswith("2301.13622")
