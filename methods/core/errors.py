"""Exceptions that the command line turns into one clear error line."""


class BenchmarkError(Exception):
    """Base class of every error the suite reports to a user (bad input, bad config)."""


class ConfigError(BenchmarkError):
    """A profile, option or name is invalid: unknown key, unknown method, bad value."""


class DatasetError(BenchmarkError):
    """A data set cannot be read: missing root, unreadable file, mismatched modalities."""


class NameClash(ConfigError):
    """Two items claim the same name in one registry (a method, a feature, a backbone)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
