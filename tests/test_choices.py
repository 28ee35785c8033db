"""The choice lists are declared once (jointdiff/choices.py); the workflow schema offers exactly the same."""

from __future__ import annotations

from pathlib import Path

import yaml

from jointdiff import choices

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "schema.yaml").read_text())


def schema_enum(*path: str) -> tuple:
    node = SCHEMA
    for key in path:
        node = node["properties"][key]
    return tuple(node.get("enum") or node["items"]["enum"])


def test_schema_enums_are_the_library_choices():
    assert schema_enum("sampling", "sampler") == choices.SAMPLERS
    assert schema_enum("train", "trackers") == choices.TRACKERS
    assert schema_enum("train", "wandb_mode") == choices.WANDB_MODES
    assert schema_enum("sampling", "variance") == choices.VARIANCES
    assert schema_enum("sampling", "head_t") == choices.HEAD_T
    assert schema_enum("sampling", "guidance") == choices.GUIDANCE_METHODS
    assert schema_enum("evaluation", "accuracy_head_t") == choices.HEAD_T
    assert set(schema_enum("evaluation", "fid_weights")) == set(choices.WEIGHTS)

