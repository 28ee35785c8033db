"""The experiment settings as command-line options, shared by every command that takes an experiment config.

Each ExperimentConfig field becomes `--<field>` (the seed README's spelling), kept as text so that
`config.load_config` does the typing and names a bad field; `--help` lists them all with their descriptions.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

FLAG_PREFIX = "flag_"


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One `--<field>` option per ExperimentConfig field, kept as text for `load_config` to type-check."""
    from jointdiff.config import ExperimentConfig

    group = parser.add_argument_group("experiment settings (the seed README's flags)")
    for f in fields(ExperimentConfig):
        group.add_argument(f"--{f.name}", dest=FLAG_PREFIX + f.name, default=argparse.SUPPRESS,
                           metavar=f.type.upper(), help=f"{f.metadata['help']} (default: {f.default})")


def flags_from_args(args: argparse.Namespace) -> list[str]:
    """The experiment flags given on the command line, as `--name value` tokens."""
    tokens = []
    for key, value in vars(args).items():
        if key.startswith(FLAG_PREFIX):
            tokens += [f"--{key[len(FLAG_PREFIX):]}", value]
    return tokens
