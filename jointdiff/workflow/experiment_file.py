"""One experiment file, `config/experiments/<name>.yaml`, read once into all that the workflow and `jointdiff
experiments` take from it: the training settings (typed and checked by `jointdiff.config`), the `resources:`,
`outputs:` and `noised_classifier:` blocks, and the `description:` and `source:` that people read.

Every error names the experiment and what is wrong, the file and the key where the file is at fault; a top-level
key that is none of these is refused, never ignored.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from jointdiff.config import (WORKFLOW_KEYS, YAML_META_KEYS, ExperimentConfig, parse_value, read_yaml_file,
                              yaml_settings)
from jointdiff.errors import ConfigError, UserError
from jointdiff.noised_classifier.settings import NoisedClassifierSettings
from jointdiff.workflow.resources import Resources

# Which evaluations an experiment gets (`outputs:`, default all that apply to its model): accuracy (a head),
# generation (unconditional samples and FID; a denoiser), guidance (guided samples and counterfactuals; both).
OUTPUT_GROUPS = ("accuracy", "generation", "guidance")


@dataclass(frozen=True)
class ExperimentFile:
    name: str
    path: Path
    cfg: ExperimentConfig
    resources: Resources
    outputs: frozenset[str]
    noised_classifier: NoisedClassifierSettings
    description: str
    source: str


assert set(YAML_META_KEYS) - {"flags"} <= {f.name for f in fields(ExperimentFile)}, "each meta key has its reader"


def read_experiment(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentFile:
    """The experiment file at `path` (its name: the file's stem), its settings under `overrides` (any setting, as
    text or typed)."""
    path = Path(path)
    try:
        return _read(path, overrides or {})
    except UserError as err:
        raise type(err)(f"experiment {path.stem!r}: {err}") from None


def read_experiments(directory: str | Path, names: list[str], overrides: dict[str, Any],
                     dataroot: str) -> dict[str, ExperimentFile]:
    """The workflow's experiments (its config key experiments), each from <directory>/<name>.yaml under the
    config's overrides, with its data root and its name."""
    found = {}
    for name in names:
        path = Path(directory) / f"{name}.yaml"
        if not path.is_file():
            raise UserError(f"config key experiments: no experiment file {path} for {name!r}")
        found[name] = read_experiment(path, {**overrides, "dataroot": dataroot, "experiment_name": name})
    return found


def _read(path: Path, overrides: dict[str, Any]) -> ExperimentFile:
    data = read_yaml_file(path)
    # Workflow blocks count as known here: yaml_settings refuses them by name.
    known = [*(f.name for f in fields(ExperimentConfig)), *YAML_META_KEYS, *WORKFLOW_KEYS]
    for key in data:
        if key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1)
            raise ConfigError(f"{path}: unknown key {key}" + (f" (did you mean {hint[0]}?)" if hint else
                              f"; an experiment file holds settings (`jointdiff train --help` lists them) and "
                              f"{', '.join(YAML_META_KEYS)}"))
    settings = yaml_settings(data, path)
    settings.update((key, parse_value(key, raw)) for key, raw in overrides.items())
    cfg = ExperimentConfig(**settings)
    noised_classifier = NoisedClassifierSettings.from_mapping(data.get("noised_classifier"), str(path))
    outputs = data.get("outputs", list(OUTPUT_GROUPS))
    if not isinstance(outputs, list) or not all(group in OUTPUT_GROUPS for group in outputs):
        raise ConfigError(f"{path}: outputs must be a list of {', '.join(OUTPUT_GROUPS)}, got {outputs!r}")
    return ExperimentFile(name=path.stem, path=path, cfg=cfg,
                          resources=Resources.from_mapping(data.get("resources"), str(path)),
                          outputs=frozenset(outputs), noised_classifier=noised_classifier,
                          description=str(data.get("description") or ""), source=str(data.get("source") or ""))
