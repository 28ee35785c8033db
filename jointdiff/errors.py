"""User-facing errors: one line that names the bad flag, key or file and says what was expected.

Programmer invariants stay `assert`s; anything a user can cause raises one of these, and the command line
prints it as a single line and exits with status 2, before any expensive work starts where possible.
"""


class UserError(Exception):
    """A mistake in the user's input (flag, config key, file). Printed as one line, exit status 2."""


class ConfigError(UserError):
    """A bad value in an experiment config or command-line flag."""


class DatasetError(UserError):
    """A dataset that is unknown, missing, incomplete or corrupt."""


class CheckpointError(UserError):
    """A checkpoint or model file that is missing or unreadable."""
