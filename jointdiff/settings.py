"""Settings classes: typed dataclasses whose fields make their command-line options, read mappings and write flags.

A settings class is a dataclass on the `Settings` mixin whose fields are `setting(default, help, ...)`. From the
fields alone come its argparse options (`add_arguments`), its reading from a mapping such as a YAML block, a
workflow config section or parsed flags (`from_mapping`: types coerced, the bad key named, a close match offered
for an unknown one) and its flags (`to_flags`, which its options read back to an equal object). Two spellings:

- "dash" (`--clip-x0 --head-t zero`): typed options with the fields' defaults; a boolean is a switch,
  `--clip-x0` / `--no-clip-x0`.
- "seed", the seed README's (`--num_channels 128 --learn_sigma False`): every option takes a value, booleans
  True or False; the options keep their text and reach the namespace only when given, since they layer over an
  experiment file, and `from_mapping` types them, naming a bad one in one line.

Torch-free: the workflow imports the settings classes when it parses.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
from dataclasses import Field, asdict, field, fields
from typing import Any

from jointdiff.errors import ConfigError, UserError

SPELLINGS = ("dash", "seed")
KIND_NAMES = {"bool": "True or False", "int": "an integer", "float": "a number", "str": "text"}
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def setting(default: Any, help: str, choices: tuple | None = None, metavar: str | None = None) -> Any:
    """A settings field: its default, the help line of its option, the values it allows (argparse's choices; the
    class's validation checks them) and the option's placeholder."""
    return field(default=default, metadata={"help": help, "choices": choices, "metavar": metavar})


def flag(name: str, spelling: str = "dash") -> str:
    """A field's option without its dashes: `clip-x0` (dash spelling), `num_channels` (seed)."""
    assert spelling in SPELLINGS, spelling
    return name.replace("_", "-") if spelling == "dash" else name


def kind(f: Field) -> str:
    """A field's type as its name (the annotations are strings under `from __future__ import annotations`)."""
    return f.type if isinstance(f.type, str) else f.type.__name__


def typed(kind_name: str, raw: Any) -> Any:
    """`raw` (text, or a value from YAML) as a value of type `kind_name`; ValueError or TypeError when it is none.
    Integers may be written as 1e3 or 2.0 but not 1.5; a list becomes comma text ([16, 8] -> "16,8")."""
    if kind_name == "bool":
        text = str(raw).strip().lower()
        if not isinstance(raw, bool) and text not in TRUE + FALSE:
            raise ValueError(raw)
        return raw if isinstance(raw, bool) else text in TRUE
    if isinstance(raw, bool):
        raise ValueError(raw)  # not a number, nor text meant as one
    if kind_name == "int":
        number = float(raw)
        if not number.is_integer():
            raise ValueError(raw)
        return int(number)
    if kind_name == "float":
        return float(raw)
    if isinstance(raw, (list, tuple)):
        return ",".join(str(r) for r in raw)
    return str(raw)


def option_type(kind_name: str):
    """`typed` for argparse, whose message names the type by the function's name ("invalid int value: '1.5'")."""
    def convert(text: str) -> Any:
        return typed(kind_name, text)

    convert.__name__ = kind_name
    return convert


class Settings:
    """The methods a settings dataclass gets from its fields; SPELLING is how its options are written."""

    SPELLING = "dash"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_flags(self, only_changed: bool = True) -> str:
        """The settings as options (by default only those that differ from the fields' defaults), which the
        options of `add_arguments` read back to an equal object."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if only_changed and value == f.default:
                continue
            name = flag(f.name, self.SPELLING)
            if kind(f) == "bool" and self.SPELLING == "dash":
                parts.append(f"--{name}" if value else f"--no-{name}")
            else:
                parts.append(f"--{name} {shlex.quote(str(value))}")
        return " ".join(parts)

    @classmethod
    def value_of(cls, name: str, raw: Any, block: str = "") -> Any:
        """`raw` as the value of field `name`; ConfigError naming the key (`block.name` inside a block) when there
        is no such field, with the closest field name, or when the value is not of the field's type."""
        kinds = {f.name: kind(f) for f in fields(cls)}
        label = f"{block}.{name}" if block else name
        if name not in kinds:
            close = difflib.get_close_matches(name, kinds, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(kinds)}"
            raise ConfigError(f"unknown key {label}{hint}")
        try:
            return typed(kinds[name], raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{label} expects {KIND_NAMES[kinds[name]]}, got {raw!r}") from None

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None, where: str = "", block: str = ""):
        """The settings from a mapping of field names to values (None: the defaults), typed and validated; an
        error starts with `where` (a file, a config key) and names the key."""
        try:
            if not isinstance(values or {}, dict):
                raise ConfigError(f"{block or cls.__name__} must be a mapping of "
                                  f"{', '.join(f.name for f in fields(cls))}, got {values!r}")
            return cls(**{name: cls.value_of(name, raw, block) for name, raw in (values or {}).items()})
        except UserError as err:
            if not where:
                raise
            raise type(err)(f"{where}: {err}") from None

    @classmethod
    def from_args(cls, args: argparse.Namespace):
        """The settings from the namespace of a parser that has the options of `add_arguments`."""
        return cls.from_mapping({f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, title: str, defaults: dict[str, Any] | None = None):
        """One option per field, in a group `title`; `defaults` replaces some fields' defaults as the options'."""
        group = parser.add_argument_group(title)
        for f in fields(cls):
            option, meta = f"--{flag(f.name, cls.SPELLING)}", f.metadata
            default = (defaults or {}).get(f.name, f.default)
            if cls.SPELLING == "seed":
                group.add_argument(option, default=argparse.SUPPRESS, metavar=kind(f).upper(),
                                   help=f"{meta['help']} (default: {default})")
            elif kind(f) == "bool":
                group.add_argument(option, action=argparse.BooleanOptionalAction, default=default, help=meta["help"])
            else:
                group.add_argument(option, type=option_type(kind(f)), default=default, choices=meta["choices"],
                                   metavar=meta["metavar"], help=meta["help"])
