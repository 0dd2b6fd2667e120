"""Errors a user can fix: the entry points print them as one line (what, why, how to fix) and
exit with code 2 instead of a traceback. Anything else is a bug and keeps its traceback."""


class UserError(Exception):
    """Bad input: a configuration, a path, a run directory in the wrong state."""


class ConfigError(UserError, ValueError):
    """A configuration that cannot run, found before any compute."""
