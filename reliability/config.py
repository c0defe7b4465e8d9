"""The ``reliability.yaml`` config as typed models; every error names its key path.

Relative paths resolve against the folder of the config file. Secrets never live here:
a source names the environment variable that holds its token. Each source's options are the
model of its ``kind`` (``reliability.source_options``); every problem of a config is listed in
one run. YAML anchors and aliases may repeat a block, within ``MAX_EXPANDED_SIZE``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from reliability.errors import InputError, Problem
from reliability.limits import MAX_EXPANDED_SIZE, expanded_size
from reliability.metrics.alert_quality import NOISE_MINUTES, PAGE_SEVERITIES, SLEEP_HOURS
from reliability.metrics.policy import AlertPolicy
from reliability.metrics.postmortems import DEFAULT_TIERS as POSTMORTEM_TIERS
from reliability.metrics.tiers import DEFAULT_TARGETS, NEXT_BUSINESS_DAY, NO_TARGET, ResponseTier
from reliability.openslo.reader import merge_openslo
from reliability.period import check_timezone
from reliability.policies import BUILTIN_NAMES, DEFAULT_POLICY, PolicySpec, builtin_spec, to_policy
from reliability.source_options import (
    MODELS_BY_KIND,
    TOKEN_ADVICE,
    HttpOptions,
    SourceConfig,
    SourceOptions,
    looks_secret,
    parse_duration,
    role_problem,
)

BudgetingMethod = Literal["occurrences", "timeslices", "ratio_timeslices"]
LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
"""A Prometheus label name."""
RESERVED_LABELS = frozenset({"severity", "tier", "alert_policy", "long_window", "short_window"})
"""Labels the generated alert rules set themselves (and every ``sloth_*`` one)."""
MAX_CONFIG_BYTES = 5_000_000
"""The largest config file read (a fleet of thousands of services fits in far less)."""


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
    alert_policy: str | None = Field(default=None, min_length=1)
    """The alert policy of this SLO; the config's ``alert_policy`` when not given."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels the generated rules and alerts of this SLO carry (e.g. the team to route to)."""
    runbook_url: str | None = Field(default=None, min_length=1)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(LABEL_NAME, name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a Prometheus label name")
            if name in RESERVED_LABELS or name.startswith("sloth_"):
                raise ValueError(f"{name!r} is set by the generated rules themselves")
        return value

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

    def measures(self) -> str:
        """What the SLO promises, in words: its ``description``, else one read from its
        indicator ("requests answered within 0.4 s"), so every SLO row says what it counts."""
        if self.description:
            return self.description
        indicator = self.indicator
        if indicator is not None and indicator.kind == "latency" and indicator.threshold_seconds:
            return f"Requests answered within {indicator.threshold_seconds:g} s"
        if indicator is not None and indicator.kind == "ratio":
            return "Requests answered without an error"
        return f"Good events of {self.name} among all its events"


def _durations(value: dict[str, str]) -> dict[str, str]:
    """Each value a duration (``30m``, ``4h``, ``1d``), for RTOs per severity."""
    for severity, text in value.items():
        try:
            parse_duration(text)
        except ValueError as exc:
            raise ValueError(f"{exc} (the RTO of {severity})") from None
    return value


def _duration(value: str) -> str:
    parse_duration(value)
    return value


RecoveryTimes = Annotated[dict[str, str], AfterValidator(_durations)]
"""Recovery time objectives per severity, each a duration."""
Duration = Annotated[str, AfterValidator(_duration)]
"""A duration such as ``15m``, kept as written."""


class Service(_Model):
    """A service, the team that owns it, its SLOs and its recovery targets."""

    name: str = Field(min_length=1)
    team: str = Field(min_length=1)
    slos: list[SLO] = Field(default_factory=list)
    rto: RecoveryTimes = Field(default_factory=dict)
    """Recovery time objective per severity (``SEV1: 1h``); the config's ``rto`` fills the rest."""
    rpo: Duration | None = None
    """Recovery point objective (``15m``), shown beside the RTO figures."""

    @model_validator(mode="after")
    def _unique_slo_names(self) -> Service:
        names = [s.name for s in self.slos]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate SLO name(s): {', '.join(duplicates)}")
        return self


_SOURCE = TypeAdapter(SourceConfig)


def Source(**options: Any) -> SourceOptions:
    """One source's options, validated as the model of its ``kind``:
    ``Source(kind="csv", path="sli.csv")`` is a ``CsvOptions``."""
    return _SOURCE.validate_python(options)


class Sources(_Model):
    """The six inputs; each is optional, and each kind may fill only the roles it serves."""

    metrics: SourceConfig | None = None
    incidents: SourceConfig | None = None
    deployments: SourceConfig | None = None
    worklog: SourceConfig | None = None
    cost: SourceConfig | None = None
    """Spend: FinOps FOCUS exports or canonical ``cost.csv`` files (docs/formats.md)."""
    alerts: SourceConfig | None = None
    """Firing episodes of the real alerting rules (docs/formats.md)."""

    @field_validator(
        "metrics", "incidents", "deployments", "worklog", "cost", "alerts", mode="wrap"
    )
    @classmethod
    def _kind_serves_role(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
        problem = role_problem(kind, str(info.field_name))
        if problem is not None:
            raise PydanticCustomError("source_role", "{problem}", {"problem": problem})
        return handler(value)


class Correction(_Model):
    """A planned-maintenance window excluded from the SLI and the budget of one service's SLOs
    (all of them, or the one named)."""

    start: datetime
    end: datetime
    service: str = Field(min_length=1)
    slo: str | None = Field(default=None, min_length=1)
    reason: str = Field(min_length=1)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> datetime:
        try:
            stamp = pd.Timestamp(value if isinstance(value, datetime) else str(value).strip())
        except (ValueError, TypeError):
            raise ValueError(
                f"expected an ISO 8601 instant such as 2026-10-12T02:00:00Z, got {value!r}"
            ) from None
        if pd.isna(stamp):
            raise ValueError("required: an ISO 8601 instant such as 2026-10-12T02:00:00Z")
        return stamp.to_pydatetime()

    @model_validator(mode="after")
    def _ordered(self) -> Correction:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset or Z (2026-10-12T02:00:00Z)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


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


class TierConfig(_Model):
    """One alert tier of incidents: its response target and the labels that map to it."""

    response: str | None = None
    """A duration (``5m``, ``1h``), ``next_business_day`` or ``none``; the default tiers'
    own target when left out (P1 5m, P2 1h, P3 next business day, P4 none)."""
    severities: list[str] = Field(default_factory=list)
    urgencies: list[Literal["high", "low"]] = Field(default_factory=list)

    @field_validator("response", mode="before")
    @classmethod
    def _target(cls, value: Any) -> Any:
        if value is None or str(value).strip().casefold() in (NO_TARGET, NEXT_BUSINESS_DAY):
            return None if value is None else str(value).strip().casefold()
        parse_duration(str(value))
        return str(value).strip()


class PostmortemConfig(_Model):
    """Which incidents need a postmortem: those of these tiers."""

    tiers: list[str] = Field(default_factory=lambda: list(POSTMORTEM_TIERS), min_length=1)


def _currency_code(value: str) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"expected an ISO 4217 currency code such as USD, got {value!r}")
    return code


class CostConfig(_Model):
    """How spend is read and shown (docs/metrics.md, "Cost"): the currency of the report, the
    rates that convert others to it, and how a charge finds its service."""

    currency: str | None = None
    """The report's currency (ISO 4217); by default that of the input's first charge."""
    rates: dict[str, float] = Field(default_factory=dict)
    """Units of ``currency`` one unit of each other currency is worth (``EUR: 1.08``)."""
    tag: str = Field(default="service", min_length=1)
    """The key of a FOCUS row's ``Tags`` that names its service."""
    services: dict[str, str] = Field(default_factory=dict)
    """A tag value or a FOCUS ``ServiceName`` -> the report's service it belongs to."""
    availability_slo: str = Field(default="availability", min_length=1)
    """The SLO whose SLI is a service's availability, for the spend per nine."""

    @field_validator("currency")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return None if value is None else _currency_code(value)

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        result = {}
        for code, rate in value.items():
            if not (rate > 0 and rate < float("inf")):
                raise ValueError(f"the rate of {code} must be a positive number")
            result[_currency_code(code)] = float(rate)
        return result

    @model_validator(mode="after")
    def _rates_need_currency(self) -> CostConfig:
        if self.rates and self.currency is None:
            raise ValueError("rates convert to the report's currency: give currency too")
        return self


class SleepHours(_Model):
    """Local hours when a page wakes someone: ``[start, end)``, across midnight when
    ``end <= start`` (the default, 22 to 7)."""

    start: int = Field(default=SLEEP_HOURS[0], ge=0, le=23)
    end: int = Field(default=SLEEP_HOURS[1], ge=0, le=23)

    @model_validator(mode="after")
    def _not_empty(self) -> SleepHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class AlertQualityConfig(_Model):
    """How the real alert history is judged (docs/metrics.md, "Alert quality")."""

    page_severities: list[str] = Field(default_factory=lambda: list(PAGE_SEVERITIES), min_length=1)
    """Severity labels of the alerts that page someone (an alert without one is a page)."""
    noise_minutes: float = Field(default=NOISE_MINUTES, gt=0, le=1440)
    """An alert page that ends within this many minutes and joins no incident is noise."""
    sleep_hours: SleepHours = Field(default_factory=SleepHours)


class ResponderConfig(_Model):
    """Hero load: how the report names the people who handled incidents, and the share of a
    team's incidents above which one person carries the team."""

    display: Literal["names", "initials", "hidden"] = "initials"
    """Responders in the report: full names, initials, or no names at all."""
    in_json: bool = False
    """Whether ``metrics.json`` carries responders' names (never, unless asked)."""
    max_share: float | None = Field(default=None, gt=0, lt=1)
    """The flag's threshold (``None``: ``metrics.responders.HERO_SHARE``, 50%)."""


class Config(_Model):
    """The whole configuration."""

    timezone: str = "UTC"
    severities: list[str] | None = None
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    production_environments: list[str] = Field(default_factory=lambda: ["production", "prod"])
    sources: Sources = Field(default_factory=Sources)
    services: list[Service] = Field(default_factory=list)
    alert_policy: str = Field(default=DEFAULT_POLICY, min_length=1)
    """The alert policy of every SLO that names none (docs/rules.md)."""
    alert_policies: dict[str, PolicySpec] = Field(default_factory=dict)
    """Policies of this config, beside the shipped ones (``workbook``, ``pyrra``)."""
    corrections: list[Correction] = Field(default_factory=list)
    """Planned maintenance excluded from SLIs and budgets (docs/metrics.md, "Corrections")."""
    alert_tiers: dict[Literal["page", "ticket"], list[str]] | None = None
    """Alert tier of each severity's windows, fastest first (default page: P1, P2; ticket:
    P3); a window's own ``tier`` wins."""
    rto: RecoveryTimes = Field(default_factory=dict)
    """Recovery time objective per severity for every service that gives none."""
    rpo: Duration | None = None
    """Recovery point objective of every service that gives none."""
    tiers: dict[str, TierConfig] | None = None
    """Incident tiers, most urgent first, with their response targets (docs/formats.md);
    default P1 5m, P2 1h, P3 next business day, P4 none, following ``severities``."""
    postmortems: PostmortemConfig = Field(default_factory=PostmortemConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    """Currency, rates and service mapping of the cost input."""
    responders: ResponderConfig = Field(default_factory=ResponderConfig)
    alert_quality: AlertQualityConfig = Field(default_factory=AlertQualityConfig)

    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("alert_tiers", mode="before")
    @classmethod
    def _tiers_as_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("alert_policies")
    @classmethod
    def _no_shadowing(cls, value: dict[str, PolicySpec]) -> dict[str, PolicySpec]:
        clash = sorted(set(value) & set(BUILTIN_NAMES))
        if clash:
            raise ValueError(
                f"{', '.join(clash)}: the name of a shipped policy; give yours another name"
            )
        return value

    @model_validator(mode="after")
    def _known_policies(self) -> Config:
        known = set(BUILTIN_NAMES) | set(self.alert_policies)
        wanted = [("alert_policy", self.alert_policy)] + [
            (f"services[{i}].slos[{j}].alert_policy", slo.alert_policy)
            for i, svc in enumerate(self.services)
            for j, slo in enumerate(svc.slos)
            if slo.alert_policy is not None
        ]
        unknown = [
            f"{where}: unknown policy {name!r}" for where, name in wanted if name not in known
        ]
        if unknown:
            choices = ", ".join(sorted(known))
            raise ValueError("; ".join(unknown) + f" (known: {choices})")
        if self.alert_tiers is not None and any(not v for v in self.alert_tiers.values()):
            raise ValueError("alert_tiers: each severity needs at least one tier")
        return self

    @model_validator(mode="after")
    def _cost_maps_to_known_services(self) -> Config:
        names = {s.name for s in self.services}
        wrong = [
            f"cost.services.{key}: unknown service {value!r}"
            for key, value in self.cost.services.items()
            if value not in names
        ]
        if wrong:
            raise ValueError("; ".join(wrong))
        return self

    @model_validator(mode="after")
    def _corrections_name_known_slos(self) -> Config:
        slos = {s.name: {o.name for o in s.slos} for s in self.services}
        wrong = []
        for i, fix in enumerate(self.corrections):
            if fix.service not in slos:
                wrong.append(f"corrections[{i}].service: unknown service {fix.service!r}")
            elif fix.slo is not None and fix.slo not in slos[fix.service]:
                wrong.append(f"corrections[{i}].slo: {fix.service} has no SLO {fix.slo!r}")
        if wrong:
            raise ValueError("; ".join(wrong))
        return self

    @model_validator(mode="after")
    def _known_tiers(self) -> Config:
        if self.tiers is not None and not self.tiers:
            raise ValueError("tiers: give at least one tier, e.g. {P1: {response: 5m}}")
        names = [tier.name for tier in self.response_tiers()]
        unknown = [name for name in self.postmortems.tiers if name not in names]
        if unknown:
            raise ValueError(
                f"postmortems.tiers: unknown tier(s) {', '.join(unknown)} (known: "
                f"{', '.join(names)})"
            )
        return self

    def response_tiers(self) -> list[ResponseTier]:
        """The incident tiers, most urgent first, with their response targets."""
        configured = self.tiers
        if configured is None:
            configured = {k: TierConfig(response=v) for k, v in DEFAULT_TARGETS.items()}
        result = []
        for name, tier in configured.items():
            target = tier.response or DEFAULT_TARGETS.get(name, NO_TARGET)
            kind = target if target in (NO_TARGET, NEXT_BUSINESS_DAY) else "duration"
            result.append(
                ResponseTier(
                    name=name,
                    kind=kind,
                    target=parse_duration(target) if kind == "duration" else None,
                    severities=tuple(tier.severities),
                    urgencies=tuple(tier.urgencies),
                )
            )
        return result

    def rto_minutes(self) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """RTOs in minutes: per service and severity, and the default per severity."""
        minutes = pd.Timedelta(minutes=1)
        own = {
            svc.name: {k: parse_duration(v) / minutes for k, v in svc.rto.items()}
            for svc in self.services
            if svc.rto
        }
        default = {k: parse_duration(v) / minutes for k, v in self.rto.items()}
        return own, default

    def rpo_minutes(self) -> dict[str, float]:
        """Each service's RPO in minutes (its own, else the config's), where one is set."""
        minutes = pd.Timedelta(minutes=1)
        chosen = {svc.name: svc.rpo or self.rpo for svc in self.services}
        return {k: parse_duration(v) / minutes for k, v in chosen.items() if v}

    def correction_table(self) -> pd.DataFrame:
        """One row per correction and SLO it applies to: service, slo, start, end (UTC), reason,
        and ``correction`` (its position in ``corrections``)."""
        rows = [
            {
                "correction": i,
                "service": fix.service,
                "slo": slo.name,
                "start": pd.Timestamp(fix.start).tz_convert("UTC"),
                "end": pd.Timestamp(fix.end).tz_convert("UTC"),
                "reason": fix.reason,
            }
            for i, fix in enumerate(self.corrections)
            for svc in self.services
            if svc.name == fix.service
            for slo in svc.slos
            if fix.slo in (None, slo.name)
        ]
        columns = ["correction", "service", "slo", "start", "end", "reason"]
        frame = pd.DataFrame(rows, columns=columns)
        for column in ("start", "end"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

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

    @cached_property
    def alert_policies_by_name(self) -> dict[str, AlertPolicy]:
        """Every policy in use (the default first), as the replay and the rules read them."""
        tiers = (
            None if self.alert_tiers is None else {k: tuple(v) for k, v in self.alert_tiers.items()}
        )
        names = [self.alert_policy] + [
            slo.alert_policy for svc in self.services for slo in svc.slos if slo.alert_policy
        ]
        result = {}
        for name in dict.fromkeys(names):
            spec = self.alert_policies.get(name) or builtin_spec(name)
            result[name] = to_policy(name, spec, tiers)
        return result

    def alert_policy_for(self, service: str, slo: str) -> AlertPolicy:
        """The alert policy of one SLO (the config's default when the SLO names none)."""
        svc = self.service(service)
        chosen = next((s.alert_policy for s in (svc.slos if svc else []) if s.name == slo), None)
        return self.alert_policies_by_name[chosen or self.alert_policy]

    def alert_lookback(self) -> pd.Timedelta:
        """History before a month the alert replay reads: the longest window in use."""
        return max(policy.lookback for policy in self.alert_policies_by_name.values())

    def slo_table(self) -> pd.DataFrame:
        """One row per configured SLO: service, team, slo, its budgeting settings and what
        it measures (``SLO.measures``)."""
        rows = [
            {
                "service": svc.name,
                "team": svc.team,
                "slo": slo.name,
                "objective": slo.objective,
                "budgeting": slo.budgeting,
                "timeslice_minutes": int(slo.timeslice_length / pd.Timedelta(minutes=1)),
                "timeslice_target": slo.timeslice_target,
                "alert_policy": slo.alert_policy or self.alert_policy,
                "description": slo.measures(),
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
            "alert_policy",
            "description",
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_yaml(self) -> str:
        """The config as YAML, leaving out values that equal their defaults."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude_none=True, by_alias=True)
        return yaml.safe_dump(data, sort_keys=False)


def _source_kind(location: tuple[Any, ...]) -> str | None:
    """The kind whose options an error location lies in (``sources.<role>.<kind>...``)."""
    if len(location) > 2 and location[0] == "sources" and location[2] in MODELS_BY_KIND:
        return str(location[2])
    return None


def _key_path(location: tuple[Any, ...]) -> str:
    """``('services', 2, 'slos', 0, 'objective')`` -> ``services[2].slos[0].objective``.

    The tag pydantic puts after a source's role (its kind) is left out:
    ``('sources', 'metrics', 'prometheus', 'step')`` -> ``sources.metrics.step``.
    """
    if _source_kind(location) is not None:
        location = location[:2] + location[3:]
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).startswith("function-") or part in ("str", "list[str]"):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _source_message(error: dict[str, Any], kind: str | None) -> tuple[str, str] | None:
    """``(key suffix, message)`` for the errors of a source's options, or ``None``."""
    kinds = ", ".join(sorted(MODELS_BY_KIND))
    if error["type"] == "source_role":
        return ".kind", str(error["msg"])
    if error["type"] == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        return ".kind", f"unknown kind {tag!r} ({kinds})"
    if error["type"] == "union_tag_not_found":
        return ".kind", f"required: one of {kinds}"
    if kind is None:
        return None
    model = MODELS_BY_KIND[kind]
    name = error["loc"][-1]
    if error["type"] == "extra_forbidden":
        if looks_secret(name):
            return "", TOKEN_ADVICE
        shared = SourceOptions.model_fields.keys() | HttpOptions.model_fields.keys()
        keys = {n: field.alias or n for n, field in model.model_fields.items()}
        own = [key for n, key in keys.items() if n not in shared]
        known = ", ".join(own + [key for n, key in keys.items() if n in shared and n != "kind"])
        if not known:
            return "", f"unknown option: kind {kind} takes no options"
        return "", f"unknown option for kind {kind} (known: {known})"
    if error["type"] == "missing" and len(error["loc"]) == 4:
        examples = model.model_fields[str(name)].examples or []
        example = f", e.g. {examples[0]}" if examples else ""
        return "", f"required for kind {kind}{example}"
    return None


def _problem_lines(exc: ValidationError) -> list[str]:
    """One ``key.path: message`` line per validation error, in order, without repeats."""
    lines: dict[str, None] = {}
    for error in exc.errors():
        location = tuple(error["loc"])
        path = _key_path(location)
        special = _source_message(error, _source_kind(location))
        if special is not None:
            suffix, message = special
            path += suffix
        else:
            message = str(error["msg"])
            for prefix in ("Value error, ", "Assertion failed, "):
                message = message.removeprefix(prefix)
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            elif error["type"] == "model_attributes_type" and location[:1] == ("sources",):
                message = "expected a mapping of options with a kind, e.g. {kind: csv, path: x.csv}"
            message = message[:1].lower() + message[1:]
        lines[f"{path}: {message}"] = None
    return list(lines)


def config_from_dict(data: Any, where: str, base_dir: Path) -> Config:
    """Validate a parsed YAML document; raise ``InputError`` with one line per problem.

    The services of the OpenSLO documents its ``openslo:`` key names are read first and
    join the config's own (``reliability.openslo.reader``).
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(Problem(where, "the config must be a mapping of keys to values"))
    data = merge_openslo(data, where, base_dir)
    if isinstance(data.get("corrections"), str):
        data = {**data, "corrections": read_corrections(data["corrections"], base_dir)}
    try:
        return Config.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise InputError([Problem(where, line) for line in _problem_lines(exc)]) from None


CORRECTION_COLUMNS = ("start", "end", "service", "slo", "reason")


def read_corrections(path: str, base_dir: Path) -> list[dict[str, Any]]:
    """The rows of a corrections CSV (``start,end,service,slo,reason``; ``slo`` may be empty),
    each validated, or an ``InputError`` naming file, row and column of every problem."""
    import csv

    file = Path(path).expanduser()
    file = file if file.is_absolute() else base_dir / file
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Problem(str(file), f"cannot read the corrections: {exc}")) from None
    missing = [c for c in CORRECTION_COLUMNS if c not in header and c != "slo"]
    if missing:
        raise InputError(Problem(str(file), f"missing column(s): {', '.join(missing)}"))
    problems, result = [], []
    for number, row in enumerate(rows, start=2):
        entry = {k: (row.get(k) or "").strip() for k in CORRECTION_COLUMNS}
        entry = {k: v for k, v in entry.items() if v or k != "slo"}
        try:
            Correction.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors():
                column = str(error["loc"][0]) if error["loc"] else None
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(Problem(str(file), message, row=number, column=column))
            continue
        result.append(entry)
    if problems:
        raise InputError(problems)
    return result


_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (it parses a fleet's config ten times
faster), the pure-Python one otherwise: the same documents, nodes and marks."""


class _ConfigLoader(_SAFE_LOADER):  # type: ignore[misc,valid-type]
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


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document ``text`` as Python data, or ``InputError`` naming the line.

    Anchors and aliases are allowed, but the document with every alias expanded may hold at
    most ``MAX_EXPANDED_SIZE`` values and characters.
    """
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node)
        if size < 0:
            raise InputError(Problem(where, "a YAML alias (*name) repeats a block that holds it"))
        if size > MAX_EXPANDED_SIZE:
            raise InputError(
                Problem(
                    where,
                    f"the config expands to more than {MAX_EXPANDED_SIZE:,} values and "
                    "characters once its YAML aliases (*name) are expanded; repeat fewer or "
                    "smaller blocks",
                )
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "?"
        reason = getattr(exc, "problem", None) or str(exc)
        raise InputError(Problem(where, f"not valid YAML ({line}): {reason}")) from None
    finally:
        loader.dispose()


def load_config(path: str | Path) -> Config:
    """Read and validate ``reliability.yaml``."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise InputError(
                Problem(str(path), f"the config is {size:,} bytes; at most {MAX_CONFIG_BYTES:,}")
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(Problem(str(path), "config file not found")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Problem(str(path), f"cannot read the config: {exc}")) from None
    data = parse_yaml(text, str(path))
    return config_from_dict(data, str(path), path.resolve().parent)
