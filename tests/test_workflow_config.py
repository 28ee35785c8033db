"""The workflow config as the library reads it: --config strings typed as the schema says, and the sampling block
as the sampler's settings (the flags every sampling rule passes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jointdiff.errors import ConfigError
from jointdiff.sample.settings import SamplingSettings
from jointdiff.workflow.workflow_config import coerce_to_schema, sampling_settings

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "schema.yaml").read_text())


def test_config_strings_get_the_schemas_types_and_unparsable_text_stays_for_the_schema_to_name():
    given = {"sampling": {"unconditional_samples": "1000", "eta": "0.5", "clip_x0": "True", "sampler": "ddim",
                          "guided_alphas": ["0", "10"]},
             "evaluation": {"fid_smoke": "false", "paper_fid_samples": "many"}}
    typed = coerce_to_schema(given, SCHEMA)
    assert typed["sampling"] == {"unconditional_samples": 1000, "eta": 0.5, "clip_x0": True, "sampler": "ddim",
                                 "guided_alphas": [0.0, 10.0]}
    assert typed["evaluation"] == {"fid_smoke": False, "paper_fid_samples": "many"}


def config(**sampling):
    return {"sampling": {"sampler": "ddim", "steps": 50, "head_t": "zero", "clip_x0": False, "batch_size": 250,
                         "unconditional_samples": 10, **sampling},
            "classic_guidance": {"clip_x0": True}}


def test_the_sampling_block_gives_the_settings_its_flags_read_back():
    settings = sampling_settings(config())
    assert (settings.sampler, settings.steps, settings.head_t, settings.clip_x0) == ("ddim", 50, "zero", False)
    assert settings.to_flags() == "--sampler ddim --steps 50 --head-t zero"


def test_classic_guidance_clips_as_its_block_says_and_has_no_head_t():
    settings = sampling_settings(config(), classic=True)
    assert settings.guidance == "classifier" and settings.clip_x0 is True
    assert settings.head_t == SamplingSettings().head_t


def test_a_bad_sampling_value_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="config key sampling: steps expects an integer, got 'fifty'"):
        sampling_settings(config(steps="fifty"))
