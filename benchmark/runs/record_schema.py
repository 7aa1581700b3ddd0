"""The fields of a record that tables, figures and reruns read, checked where records
are read, so that a hand-edited or damaged record is named in one line instead of
failing deep inside a table.

Only the fields something reads are checked, with their types and ranges; any other
field (timings, counts, references to side files added later) is accepted as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

METRIC_FIELDS = ("rank1", "rank5", "rank10", "mAP")


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fraction(value: Any) -> bool:
    return (_integer(value) or isinstance(value, float)) and math.isfinite(value) \
        and 0.0 <= value <= 1.0


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _integers(value: Any) -> bool:
    return isinstance(value, list) and all(map(_integer, value))


Check = tuple[Callable[[Any], bool], str]
TOP_LEVEL: dict[str, Check] = {
    "dataset": (_text, "a non-empty string"),
    "method": (_text, "a non-empty string"),
    "fold": (lambda v: _integer(v) and v >= 0, "an integer >= 0"),
    "results": (lambda v: isinstance(v, dict) and len(v) > 0,
                "an object with one entry per 'query->gallery' setting"),
}
OPTIONAL: dict[str, Check] = {
    "task_hash": (_text, "a string"),
    "settings_key": (lambda v: isinstance(v, str), "a string"),
    "config": (lambda v: isinstance(v, dict), "an object"),
    "provenance": (lambda v: isinstance(v, dict), "an object"),
    "method_config": (lambda v: isinstance(v, dict), "an object"),
    "examples": (lambda v: isinstance(v, dict), "an object"),
    "config.trials": (lambda v: _integer(v) and v > 0, "an integer > 0"),
    "config.seed": (_integer, "an integer"),
    "config.protocol": (_text, "a string"),
    "provenance.commit": (lambda v: isinstance(v, str), "a string"),
    "provenance.date": (lambda v: isinstance(v, str), "a string"),
}
EXAMPLE_FIELDS: dict[str, Check] = {
    "query_frame": (_integer, "an integer"), "query_pid": (_integer, "an integer"),
    "gallery_frames": (_integers, "a list of integers"),
    "gallery_pids": (_integers, "a list of integers"),
}


def _lookup(record: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _setting(name: str) -> bool:
    parts = name.split("->")
    return len(parts) == 2 and all(parts)


def missing_fields(record: Any) -> list[str]:
    """The required top-level fields ``record`` lacks (all of them for a non-object)."""
    return [f for f in TOP_LEVEL if not isinstance(record, dict) or f not in record]


def record_problem(record: dict[str, Any]) -> str | None:
    """The first field of a complete ``record`` (see :func:`missing_fields`) that tables
    or reruns cannot use, as ``"<field> must be <what>, got <value>"``; ``None`` when
    the record is usable."""
    for field, (valid, what) in TOP_LEVEL.items():
        if not valid(record[field]):
            return f"{field} must be {what}, got {record[field]!r}"
    for field, (valid, what) in OPTIONAL.items():
        present, value = _lookup(record, field)
        if present and not valid(value):
            return f"{field} must be {what}, got {value!r}"
    for setting, result in record["results"].items():
        if not _setting(setting):
            return f"results has a setting {setting!r}; settings look like 'rgb->depth'"
        if not isinstance(result, dict):
            return f"results.{setting} must be an object, got {result!r}"
        for metric in METRIC_FIELDS:
            if not _fraction(result.get(metric)):
                return (f"results.{setting}.{metric} must be a number in [0, 1], got "
                        f"{result.get(metric)!r}")
    for setting, items in (record.get("examples") or {}).items():
        if not _setting(setting) or not isinstance(items, list):
            return f"examples.{setting} must be a list under a 'query->gallery' setting"
        for number, item in enumerate(items):
            for field, (valid, what) in EXAMPLE_FIELDS.items():
                value = item.get(field) if isinstance(item, dict) else None
                if not valid(value):
                    return f"examples.{setting}[{number}].{field} must be {what}, got {value!r}"
    return None
