"""Building an options dataclass from profile keys, with unknown keys as errors."""

from __future__ import annotations

import dataclasses
from typing import Any

from benchmark.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of something that takes none."""


def build_options(options_class: type, options: dict[str, Any], owner: str) -> Any:
    """``options_class(**options)``; an unknown key is a :class:`ConfigError` naming ``owner``."""
    fields = {f.name for f in dataclasses.fields(options_class)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(f"{owner}: unknown option(s) {unknown}; known: {sorted(fields)}")
    return options_class(**options)
