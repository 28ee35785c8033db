"""The experiment settings as command-line options, shared by every command that takes an experiment config.

Each ExperimentConfig field becomes `--<field>` (the seed README's spelling), kept as text so that
`config.load_config` does the typing and names a bad field; `--help` lists them all with their descriptions.
"""

from __future__ import annotations

import argparse
from dataclasses import fields


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One `--<field>` option per ExperimentConfig field, present in the namespace only when given."""
    from jointdiff.config import ExperimentConfig

    ExperimentConfig.add_arguments(parser, "experiment settings (the seed README's flags)")


def flags_from_args(args: argparse.Namespace) -> list[str]:
    """The experiment flags given on the command line, as `--name value` tokens."""
    from jointdiff.config import ExperimentConfig

    given = vars(args)
    return [token for f in fields(ExperimentConfig) if f.name in given for token in (f"--{f.name}", given[f.name])]
