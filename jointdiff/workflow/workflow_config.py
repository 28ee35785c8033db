"""The workflow config (config/config.yaml, documented in config/schema.yaml) as the library reads it: values typed
the schema's way, and its `sampling:` block as the sampler's settings.

Torch-free: `rules/common.smk` calls it when the workflow parses.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from jointdiff.sample.settings import SamplingSettings


def coerce_to_schema(value: Any, schema: dict[str, Any]) -> Any:
    """`value` with strings turned into the schema's integer, number and boolean types.

    Snakemake 9 hands nested --config values over as strings ('sampling={unconditional_samples: 1000}' gives
    '1000'), which the schema would refuse; text that does not parse stays as it is, for the schema to name.
    """
    kind = schema.get("type")
    if isinstance(value, dict):
        return {k: coerce_to_schema(v, schema.get("properties", {}).get(k, {})) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce_to_schema(v, schema.get("items", {})) for v in value]
    if not isinstance(value, str):
        return value
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return int(value) if kind == "integer" else float(value) if kind == "number" else value
    except ValueError:
        return value


def sampling_settings(config: dict[str, Any], classic: bool = False) -> SamplingSettings:
    """The keys of the `sampling:` block that are SamplingSettings fields, as settings (a ConfigError names the
    key). Classic guidance (by a noised classifier) has no joint head, so no head_t, and clips x0 as
    classic_guidance.clip_x0 says (the authors' classifier_sample.py: yes)."""
    values = {f.name: config["sampling"][f.name] for f in fields(SamplingSettings) if f.name in config["sampling"]}
    if classic:
        values = {**values, "guidance": "classifier", "clip_x0": config["classic_guidance"]["clip_x0"]}
        values.pop("head_t", None)
    return SamplingSettings.from_mapping(values, "config key sampling")
