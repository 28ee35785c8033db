"""config/README.md, the configuration page the Snakemake workflow catalog shows, covers the config's keys."""

from __future__ import annotations

import dataclasses

import yaml

from conftest import REPO
from jointdiff.config import YAML_META_KEYS
from jointdiff.workflow.resources import Resources

README = (REPO / "config" / "README.md").read_text()


def test_every_top_level_key_of_the_schema_is_described():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    missing = [key for key in schema["properties"] if f"| `{key}` |" not in README]
    assert not missing, f"config/README.md does not describe {missing}"
    assert "config/schema.yaml" in README and "config/config.yaml" in README


def test_every_key_of_an_experiment_file_that_is_not_a_setting_is_described():
    missing = [key for key in YAML_META_KEYS if f"`{key}:`" not in README]
    assert not missing, f"config/README.md does not describe {missing}"


def test_every_key_of_an_experiments_resources_block_is_described():
    keys = [f.name for f in dataclasses.fields(Resources)]
    assert keys and not [key for key in keys if f"`{key}`" not in README]
