"""The ``reliability.yaml`` config as typed models; every error names its key path.

Relative paths resolve against the folder of the config file. Secrets never live here:
a source names the environment variable that holds its token.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reliability.errors import InputError, Problem
from reliability.period import check_timezone

BudgetingMethod = Literal["occurrences", "timeslices", "ratio_timeslices"]
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> pd.Timedelta:
    """Prometheus-style durations: ``30s``, ``5m``, ``1h``, ``1d``."""
    match = _DURATION.match(str(text).strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration such as 30s, 5m, 1h or 1d, got {text!r}")
    return pd.Timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Indicator(_Model):
    """How the Prometheus source finds an SLO's good and total events."""

    kind: Literal["ratio", "latency"] = "ratio"
    good: str | None = None
    total: str | None = None
    good_query: str | None = None
    total_query: str | None = None
    histogram: str | None = None
    threshold_seconds: float | None = Field(default=None, gt=0)


class SLO(_Model):
    """One service level objective."""

    name: str = Field(min_length=1)
    objective: float
    budgeting: BudgetingMethod = "occurrences"
    timeslice: str = "1m"
    timeslice_target: float | None = None
    description: str | None = None
    indicator: Indicator | None = None

    @field_validator("objective")
    @classmethod
    def _objective_in_range(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError("must be between 0 and 1 (exclusive), e.g. 0.999")
        return value

    @field_validator("timeslice_target")
    @classmethod
    def _target_in_range(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 1:
            raise ValueError("must be between 0 and 1")
        return value

    @field_validator("timeslice")
    @classmethod
    def _timeslice_is_duration(cls, value: str) -> str:
        slice_length = parse_duration(value)
        if slice_length < pd.Timedelta(minutes=1) or slice_length % pd.Timedelta(minutes=1):
            raise ValueError("must be a whole number of minutes, e.g. 1m or 5m")
        return value

    @model_validator(mode="after")
    def _timeslices_need_target(self) -> SLO:
        if self.budgeting == "timeslices" and self.timeslice_target is None:
            raise ValueError("timeslice_target is required when budgeting is timeslices")
        return self

    @property
    def timeslice_length(self) -> pd.Timedelta:
        return parse_duration(self.timeslice)


class Service(_Model):
    """A service, the team that owns it, and its SLOs."""

    name: str = Field(min_length=1)
    team: str = Field(min_length=1)
    slos: list[SLO] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_slo_names(self) -> Service:
        names = [s.name for s in self.slos]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate SLO name(s): {', '.join(duplicates)}")
        return self


class Source(BaseModel):
    """Where one kind of input comes from; fields beyond ``kind`` depend on the kind."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = Field(min_length=1)
    path: str | list[str] | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The kind-specific fields."""
        return dict(self.model_extra or {})


class Sources(_Model):
    """The four inputs; each is optional."""

    metrics: Source | None = None
    incidents: Source | None = None
    deployments: Source | None = None
    worklog: Source | None = None


class BusinessHours(_Model):
    """Working hours in the reporting time zone, for the off-hours share of pages."""

    start: int = Field(default=9, ge=0, le=23)
    end: int = Field(default=17, ge=1, le=24)
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if any(not 0 <= d <= 6 for d in self.weekdays):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return self


class Config(_Model):
    """The whole configuration."""

    timezone: str = "UTC"
    severities: list[str] | None = None
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    production_environments: list[str] = Field(default_factory=lambda: ["production", "prod"])
    sources: Sources = Field(default_factory=Sources)
    services: list[Service] = Field(default_factory=list)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @model_validator(mode="after")
    def _unique_service_names(self) -> Config:
        names = [s.name for s in self.services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate service name(s): {', '.join(duplicates)}")
        return self

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    @property
    def teams(self) -> list[str]:
        return list(dict.fromkeys(s.team for s in self.services))

    def slo_table(self) -> pd.DataFrame:
        """One row per configured SLO: service, team, slo and its budgeting settings."""
        rows = [
            {
                "service": svc.name,
                "team": svc.team,
                "slo": slo.name,
                "objective": slo.objective,
                "budgeting": slo.budgeting,
                "timeslice_minutes": int(slo.timeslice_length / pd.Timedelta(minutes=1)),
                "timeslice_target": slo.timeslice_target,
            }
            for svc in self.services
            for slo in svc.slos
        ]
        columns = [
            "service",
            "team",
            "slo",
            "objective",
            "budgeting",
            "timeslice_minutes",
            "timeslice_target",
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_yaml(self) -> str:
        """The config as YAML, leaving out values that equal their defaults."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
        return yaml.safe_dump(data, sort_keys=False)


def _key_path(location: tuple[Any, ...]) -> str:
    """``('services', 2, 'slos', 0, 'objective')`` -> ``services[2].slos[0].objective``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).startswith("function-") or part in ("str", "list[str]"):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _friendly(error: dict[str, Any]) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "unknown key"
    return message[:1].lower() + message[1:]


def config_from_dict(data: Any, where: str, base_dir: Path) -> Config:
    """Validate a parsed YAML document; raise ``InputError`` with one line per problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(Problem(where, "the config must be a mapping of keys to values"))
    try:
        return Config.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        seen: set[str] = set()
        problems = []
        for error in exc.errors():
            line = f"{_key_path(error['loc'])}: {_friendly(error)}"
            if line not in seen:
                seen.add(line)
                problems.append(Problem(where, line))
        raise InputError(problems) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> Config:
    """Read and validate ``reliability.yaml``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(Problem(str(path), "config file not found")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Problem(str(path), f"cannot read the config: {exc}")) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        reason = getattr(exc, "problem", None) or str(exc)
        raise InputError(Problem(str(path), f"not valid YAML ({where}): {reason}")) from None
    return config_from_dict(data, str(path), path.resolve().parent)
