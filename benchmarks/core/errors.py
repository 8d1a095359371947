"""The error every command turns into one line and exit code 2."""


class ConfigError(ValueError):
    """A configuration value that cannot be used; the CLI prints it on one line and exits 2."""
