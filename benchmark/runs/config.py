"""Run profiles: TOML files validated into dataclasses, with command-line overrides.

A profile has a ``[run]`` section (:class:`RunConfig`), a ``[dataset]`` section (the
data set's own options, validated by the data set) and ``[options.<group>]`` /
``[options.<method>]`` sections (validated by the methods that read them). Unknown keys
are errors that name the key and the file.

A profile may start with ``extends = "<profile or file>"``: it then holds only what
differs from that base. Tables merge key by key; any other value (a list such as
``[run] methods`` included) replaces the base's.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from benchmark.evaluation.protocol import PROTOCOLS
from methods.core.errors import ConfigError
from methods.core.options import check_types, merge_tables

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROFILE_NAMES = ("smoke", "quick", "paper", "paper-corrected", "ablation")
DEFAULT_PROFILE = "quick"
_SECTIONS = ("run", "dataset", "options", "cluster", "statistics")
SINGLE_SHOT_RULES = ("draw-then-drop", "exclude-then-draw")


@dataclass
class RunConfig:
    """The ``[run]`` section: what to run and how to evaluate it."""

    dataset: str = "synthetic"
    methods: list[str] = field(default_factory=lambda: ["pixels-euclidean"])
    folds: int = 3
    trials: int = 10
    seed: int = 0
    image_size: list[int] = field(default_factory=lambda: [128, 64])
    device: str = "auto"
    protocol: str = "paper"
    authors_bug: bool = False
    single_shot: str = "draw-then-drop"
    seeds: int = 1

    def validate(self, source: str) -> None:
        def fail(message: str) -> None:
            raise ConfigError(f"{source}: [run] {message}")

        if not isinstance(self.methods, list) or not self.methods:
            fail("methods must be a non-empty list of method names")
        if self.folds < 1:
            fail(f"folds must be >= 1, got {self.folds}")
        if self.trials < 1:
            fail(f"trials must be >= 1, got {self.trials}")
        if self.seeds < 1:
            fail(f"seeds must be >= 1 (training seeds per task), got {self.seeds}")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            fail(f"image_size must be [height, width] >= 8 pixels, got {self.image_size}")
        if self.device not in ("auto", "cpu", "cuda"):
            fail(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.protocol not in PROTOCOLS:
            fail(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if self.single_shot not in SINGLE_SHOT_RULES:
            fail(f"single_shot must be one of {', '.join(SINGLE_SHOT_RULES)}, got "
                 f"{self.single_shot!r}")


@dataclass
class StatisticsConfig:
    """The ``[statistics]`` section: intervals and paired tests of the tables.

    It changes no record, only what ``tables`` and ``compare`` compute from them.
    """

    resamples: int = 2000          # cluster-bootstrap resamples of the test identities
    permutations: int = 10000      # sign flips of the paired test (exact when 2^n is fewer)
    confidence: float = 0.95       # of the percentile intervals
    alpha: float = 0.05            # family-wise level of the Holm-corrected marks
    seed: int = 0

    def validate(self, source: str) -> None:
        def fail(message: str) -> None:
            raise ConfigError(f"{source}: [statistics] {message}")

        if self.resamples < 100 or self.permutations < 100:
            fail("resamples and permutations must be >= 100")
        if not 0.5 <= self.confidence < 1:
            fail(f"confidence must be in [0.5, 1), got {self.confidence}")
        if not 0 < self.alpha < 0.5:
            fail(f"alpha must be in (0, 0.5), got {self.alpha}")


@dataclass
class Profile:
    """A validated run profile."""

    name: str
    source: str
    run: RunConfig
    dataset: dict[str, Any] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
    statistics: StatisticsConfig = field(default_factory=StatisticsConfig)
    changes: list[str] = field(default_factory=list)

    def method_options(self, method: str, group: str | tuple[str, ...] | None,
                       taken: Callable[[dict[str, Any]], dict[str, Any]] | None = None
                       ) -> dict[str, Any]:
        """The options a method receives: its groups' sections in order, then its own,
        merged key by key (an option section such as ``network`` merges field by field).
        ``taken`` keeps the part of the groups' sections the method declares (a group
        offers fields to all its methods); the method's own section is given whole."""
        groups = (group,) if isinstance(group, str) else tuple(group or ())
        merged: dict[str, Any] = {}
        for name in groups:
            merged = merge_tables(merged, self.options.get(name, {}))
        if taken is not None:
            merged = taken(merged)
        return merge_tables(merged, self.options.get(method, {}))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "run": dataclasses.asdict(self.run),
                "dataset": self.dataset, "options": self.options, "cluster": self.cluster,
                "statistics": dataclasses.asdict(self.statistics)}


def _profile_text(name_or_path: str) -> tuple[str, str, str]:
    """(profile name, source description, TOML text) of a built-in name or a file path."""
    if name_or_path in PROFILE_NAMES:
        text = resources.files("benchmark.profiles").joinpath(f"{name_or_path}.toml")
        return name_or_path, f"built-in profile {name_or_path!r}", text.read_text()
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"profile {name_or_path!r} is neither a built-in profile "
                          f"({', '.join(PROFILE_NAMES)}) nor an existing TOML file")
    return path.stem, str(path), path.read_text()


def _profile_data(name_or_path: str, chain: tuple[str, ...] = ()
                  ) -> tuple[str, str, dict[str, Any]]:
    """(name, source, TOML data) of a profile, with its ``extends`` chain merged in."""
    name, source, text = _profile_text(name_or_path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML ({error})") from error
    base = data.pop("extends", None)
    if base is None:
        return name, source, data
    if not isinstance(base, str):
        raise ConfigError(f"{source}: extends must be a profile name or a file path")
    named = base
    if base not in PROFILE_NAMES and not Path(base).is_absolute() \
            and name_or_path not in PROFILE_NAMES:
        base = str(Path(name_or_path).parent / base)
    if base not in PROFILE_NAMES and not Path(base).is_file():
        raise ConfigError(f"{source}: extends = {named!r}, but {base} is neither a built-in "
                          f"profile ({', '.join(PROFILE_NAMES)}) nor an existing TOML file "
                          f"(a path is relative to the profile that names it)")
    identity = name_or_path if name_or_path in PROFILE_NAMES \
        else str(Path(name_or_path).resolve())
    if identity in chain:
        raise ConfigError(f"{source}: profiles extend each other in a cycle")
    _, _, base_data = _profile_data(base, (*chain, identity))
    return name, source, merge_tables(base_data, data)


def parse_override(assignment: str) -> tuple[list[str], Any]:
    """``section.key=value`` -> (["section", "key"], value parsed as TOML, else a string)."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} must look like section.key=value")
    dotted, raw = assignment.split("=", 1)
    keys = [k.strip().strip('"') for k in dotted.split(".")]
    if len(keys) < 2 or not all(keys):
        raise ConfigError(f"override {assignment!r}: give the section, e.g. run.folds=1")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return keys, value


@dataclass(frozen=True)
class ProfileText:
    """A profile as read from its file(s): name, source description, TOML data with its
    ``extends`` chain merged in. :meth:`build` makes validated profiles of it, so one
    reading serves a profile with and without command-line overrides."""

    name: str
    source: str
    data: dict[str, Any]

    def build(self, overrides: list[str] | None = None) -> Profile:
        """The validated profile with ``overrides`` (``section.key=value``) applied."""
        return _built(self.name, self.source, copy.deepcopy(self.data), overrides)


def read_profile(name_or_path: str = DEFAULT_PROFILE) -> ProfileText:
    """Read a built-in profile or a TOML file (and the profiles it extends)."""
    return ProfileText(*_profile_data(name_or_path))


def load_profile(name_or_path: str = DEFAULT_PROFILE, overrides: list[str] | None = None
                 ) -> Profile:
    """Read, override and validate a profile."""
    return read_profile(name_or_path).build(overrides)


def _built(name: str, source: str, data: dict[str, Any], overrides: list[str] | None
           ) -> Profile:
    """The validated profile of TOML ``data`` (changed in place) with ``overrides``."""
    for assignment in overrides or []:
        keys, value = parse_override(assignment)
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"override {assignment!r}: {key!r} is not a section")
        target[keys[-1]] = value
        source_suffix = " (with overrides)"
        if not source.endswith(source_suffix):
            source += source_suffix
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; known: {list(_SECTIONS)}")
    run = _section(RunConfig, data.get("run", {}), source, "run")
    options = data.get("options", {})
    if not all(isinstance(v, dict) for v in options.values()):
        raise ConfigError(f"{source}: [options] must only hold sub-tables like [options.deep]")
    statistics = _section(StatisticsConfig, data.get("statistics", {}), source, "statistics")
    return Profile(name=name, source=source, run=run, dataset=data.get("dataset", {}),
                   options=options, cluster=data.get("cluster", {}), statistics=statistics)


def _section(cls: type, values: dict[str, Any], source: str, name: str) -> Any:
    """A dataclass section read from its TOML table: unknown keys and bad types are errors."""
    known = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(values) - known)
    if bad:
        raise ConfigError(f"{source}: unknown key(s) {bad} in [{name}]; known: {sorted(known)}")
    check_types(cls, values, f"{source}: [{name}]")
    section = cls(**values)
    section.validate(source)
    return section
