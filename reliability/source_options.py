"""The options of every source kind, as pydantic models: one discriminated union on ``kind``.

This module holds data only (no I/O, nothing from ``reliability.sources``), so that the config
can validate every source's options, and list every problem of a config in one run, without
importing the loaders. Each model declares the roles its kind can fill; the loader of each kind
is a plugin in ``reliability.sources`` that points at its model here.

Checks written once for every kind: unknown options are refused (``extra="forbid"``), an HTTP
source's ``url`` is https (plain http only to this machine when a token is sent, see
``check_url``), ``token_env`` names an environment variable, and durations read the same way.
"""

from __future__ import annotations

import math
import re
from functools import partial
from ipaddress import ip_address
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit

import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

ALL_ROLES = frozenset({"metrics", "incidents", "deployments", "worklog", "cost", "alerts"})
MAX_SECONDS = 86_400.0
"""Longest timeout or deadline a source accepts (a day)."""
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SECRET_WORDS = (
    "token",
    "password",
    "passwd",
    "secret",
    "apikey",
    "api_key",
    "authorization",
    "credential",
    "credentials",
    "private_key",
    "access_key",
    "cookie",
)
TOKEN_ADVICE = (
    "secrets are never read from the config file; put it in an environment variable and "
    "name that variable in token_env"
)


def parse_duration(text: str) -> pd.Timedelta:
    """Prometheus-style durations: ``30s``, ``5m``, ``1h``, ``1d``."""
    match = _DURATION.match(str(text).strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration such as 30s, 5m, 1h or 1d, got {text!r}")
    return pd.Timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def looks_secret(name: object) -> bool:
    """Whether an option or header name would hold a secret (``token``, ``X-Api-Key``, ...)."""
    key = str(name).strip().lower().replace("-", "_")
    return any(key == word or key.endswith("_" + word) for word in _SECRET_WORDS)


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (a local test or mock server)."""
    try:
        host = (urlsplit(url).hostname or "").strip("[]")
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` removed, fit for a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=netloc).geturl()


def check_url(url: str, *, sends_token: bool) -> None:
    """Refuse an HTTP source's base URL unless it is http(s) with a host and no credentials in
    it; plain http only to this machine when a token travels with the requests (a token must
    not cross a network in clear)."""
    try:
        parts = urlsplit(str(url).strip())
        host = parts.hostname
        has_credentials = parts.username is not None or parts.password is not None
    except ValueError:
        raise ValueError(f"not a URL: {without_credentials(url)!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"expected an https:// URL, got {without_credentials(url)!r}")
    if has_credentials:
        raise ValueError(f"do not put credentials in the url: {TOKEN_ADVICE}")
    if parts.scheme == "http" and sends_token and not is_loopback(url):
        raise ValueError(
            "must start with https:// when a token is sent (plain http only to this machine, "
            "for a local test server)"
        )


def _seconds(value: Any, *, allow_zero: bool) -> float:
    """A number of seconds, or a duration such as ``90s``; finite and at most a day."""
    if isinstance(value, bool):
        number = math.nan
    elif isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = parse_duration(str(value)).total_seconds()
        except ValueError:
            number = math.nan
    low_ok = number >= 0 if allow_zero else number > 0
    if not (math.isfinite(number) and low_ok and number <= MAX_SECONDS):
        least = "0 or more" if allow_zero else "a positive number of"
        raise ValueError(f"expected {least} seconds (at most {MAX_SECONDS:.0f}), e.g. 30")
    return number


def _whole(low: int, high: int, what: str) -> Any:
    """A before-validator for a whole number from ``low`` to ``high``."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number of {what} ({low} to {high})")
        return value

    return BeforeValidator(check)


def _env_name(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not _ENV_NAME.match(text):
        raise ValueError("expected the name of an environment variable, e.g. PAGERDUTY_TOKEN")
    return text


def _duration_text(value: Any) -> str:
    text = str(value).strip()
    parse_duration(text)
    return text


def _text(value: Any) -> str:
    """A YAML scalar as text: ``false`` -> ``false``, ``1`` -> ``1``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, dict | list):
        raise ValueError("expected a single value")
    return str(value)


def _non_empty(value: Any) -> str:
    text = _text(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _mapping(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping such as {A: B}")
    return value


def _param_value(value: Any) -> str | list[str]:
    if isinstance(value, list):
        return [_text(v) for v in value]
    return _text(value)


def _paths(value: Any) -> str | list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(p, str) for p in items):
        raise ValueError("expected a file name, a list of them, or glob patterns")
    if not items or not all(p.strip() for p in items):
        raise ValueError("no file given")
    return value


Seconds = Annotated[float, BeforeValidator(partial(_seconds, allow_zero=False))]
"""Seconds: a positive number, or a duration such as ``90s``."""
SecondsOrZero = Annotated[float, BeforeValidator(partial(_seconds, allow_zero=True))]
EnvName = Annotated[str, BeforeValidator(_env_name)]
DurationText = Annotated[str, BeforeValidator(_duration_text)]
Text = Annotated[str, BeforeValidator(_text)]
NonEmpty = Annotated[str, BeforeValidator(_non_empty)]
LabelMap = Annotated[dict[Text, NonEmpty], BeforeValidator(_mapping)]
"""A mapping of labels to labels (``{P1: SEV1}``), keys and values as text."""
PathOption = Annotated[str | list[str], BeforeValidator(_paths)]
"""One file, a list of files, or glob patterns, relative to the config's folder."""


class SourceOptions(BaseModel):
    """What every source kind's options share: ``kind``, and no key the kind does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    roles: ClassVar[frozenset[str]] = frozenset()
    """The inputs (``metrics``, ``incidents``, ...) this kind can provide."""


class HttpOptions(SourceOptions):
    """Options every HTTP source has: how long and how often to try, and its ``url`` checked.

    Each kind declares ``url`` itself, after ``token_env`` when it has one, so that the URL
    check knows whether a token travels with the requests.
    """

    timeout: Seconds = 30.0
    """Seconds for one whole answer (connection, headers and body); then it is given up."""
    deadline: Seconds = 300.0
    """Seconds for the whole source, retries and waits included."""
    retries: Annotated[int, _whole(0, 20, "retries")] = 4
    """Retries of one request after a connection error, HTTP 429 or 5xx."""
    backoff: SecondsOrZero = 0.5
    """Backoff factor: waits 0, 2x, 4x, ... this many seconds between retries."""

    token_required: ClassVar[bool] = False
    """Whether every request carries a token (else only when ``token_env`` is set)."""

    @property
    def base_url(self) -> str:
        """``url`` without surrounding spaces or a trailing slash."""
        return str(getattr(self, "url", "") or "").strip().rstrip("/")

    @field_validator("url", check_fields=False)
    @classmethod
    def _url_is_safe(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            sends_token = cls.token_required or info.data.get("token_env") is not None
            check_url(value, sends_token=sends_token)
        return value


class CsvOptions(SourceOptions):
    """``kind: csv``: canonical CSV (or Parquet, by suffix) files."""

    kind: Literal["csv"]
    path: PathOption
    roles: ClassVar[frozenset[str]] = ALL_ROLES


class ParquetOptions(SourceOptions):
    """``kind: parquet``: canonical Parquet files."""

    kind: Literal["parquet"]
    path: PathOption
    roles: ClassVar[frozenset[str]] = ALL_ROLES


class SampleOptions(SourceOptions):
    """``kind: sample``: the built-in sample organisation."""

    kind: Literal["sample"]
    roles: ClassVar[frozenset[str]] = ALL_ROLES
    services: int | None = Field(default=None, ge=1, strict=True)
    """The fleet's size: the built-in 9 services when absent, more for scale tests."""


_RESERVED_PARAMS = frozenset({"query", "start", "end", "step", "time", "match[]"})


def _headers(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if looks_secret(name):
            raise ValueError(
                f"do not put credentials in the config (header {name}); {TOKEN_ADVICE}"
            )
    return value


def _params(value: dict[str, Any]) -> dict[str, Any]:
    for name in value:
        if name in _RESERVED_PARAMS:
            raise ValueError(f"{name} is set by the source itself")
        if looks_secret(name):
            raise ValueError(
                f"do not put credentials in the config (parameter {name}); {TOKEN_ADVICE}"
            )
    return value


def _label_name(value: Any) -> str:
    if not isinstance(value, str) or not _LABEL_NAME.match(value):
        raise ValueError(f"not a Prometheus label name: {value!r}")
    return value


class PrometheusOptions(HttpOptions):
    """``kind: prometheus``: a Prometheus-compatible HTTP API (Thanos, Mimir, VictoriaMetrics)."""

    kind: Literal["prometheus"]
    token_env: EnvName | None = None
    url: str = Field(examples=["http://prometheus:9090"])
    step: DurationText = "5m"
    headers: Annotated[dict[Text, Text], BeforeValidator(_mapping), AfterValidator(_headers)] = (
        Field(default_factory=dict)
    )
    params: Annotated[
        dict[Text, Annotated[str | list[str], BeforeValidator(_param_value)]],
        BeforeValidator(_mapping),
        AfterValidator(_params),
    ] = Field(default_factory=dict)
    timeout: Seconds = 60.0
    service_label: Annotated[str, BeforeValidator(_label_name)] = "job"
    concurrency: Annotated[int, _whole(1, 32, "parallel requests")] = 4
    alerts_step: DurationText = "1m"
    """Resolution of the alert episodes read from ``ALERTS`` (role ``alerts``)."""
    alerts_service_label: Annotated[str, BeforeValidator(_label_name)] = "service"
    """The alert label that names the service (role ``alerts``)."""
    roles: ClassVar[frozenset[str]] = frozenset({"metrics", "alerts"})

    @property
    def step_length(self) -> pd.Timedelta:
        return parse_duration(self.step)

    @property
    def alerts_step_length(self) -> pd.Timedelta:
        return parse_duration(self.alerts_step)


class PagerDutyOptions(HttpOptions):
    """``kind: pagerduty``: PagerDuty's REST API v2."""

    kind: Literal["pagerduty"]
    token_env: EnvName = Field(examples=["PAGERDUTY_TOKEN"])
    url: str = "https://api.pagerduty.com"
    auth: Literal["token", "bearer"] = "token"
    services: LabelMap = Field(default_factory=dict)
    unmapped_services: Literal["keep", "skip"] = "keep"
    priorities: LabelMap = Field(default_factory=dict)
    urgencies: LabelMap = Field(default_factory=dict)
    mtta_from: Literal["log_entries", "analytics"] = "log_entries"
    roles: ClassVar[frozenset[str]] = frozenset({"incidents", "alerts"})
    token_required: ClassVar[bool] = True


class StatuspageOptions(HttpOptions):
    """``kind: statuspage``: an Atlassian Statuspage ``incidents.json``, live (url) or saved
    (path)."""

    kind: Literal["statuspage"]
    url: str | None = Field(None, examples=["https://www.githubstatus.com"])
    path: PathOption | None = None
    impacts: LabelMap = Field(default_factory=dict)
    components: LabelMap = Field(default_factory=dict)
    include_maintenance: StrictBool = False
    default_service: NonEmpty | None = None
    roles: ClassVar[frozenset[str]] = frozenset({"incidents"})

    @model_validator(mode="after")
    def _url_or_path(self) -> StatuspageOptions:
        if (self.url is None) == (self.path is None):
            raise ValueError("give either url or path for kind statuspage")
        return self


def _repository(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not _REPOSITORY.match(text):
        raise ValueError("expected owner/name, e.g. octo/shop")
    return text


class GitHubDeploymentsOptions(HttpOptions):
    """``kind: github_deployments``: GitHub's deployments of one repository."""

    kind: Literal["github_deployments"]
    token_env: EnvName | None = None
    url: str = "https://api.github.com"
    repository: Annotated[str, BeforeValidator(_repository)] = Field(examples=["octo/shop"])
    environment: NonEmpty | None = None
    service: NonEmpty | None = None
    commit_times: StrictBool = True
    roles: ClassVar[frozenset[str]] = frozenset({"deployments"})

    @property
    def service_name(self) -> str:
        """The service the deployments count under (default: the repository's name)."""
        return self.service or self.repository.split("/", 1)[1]


SQL_ROLES = frozenset({"metrics", "incidents", "deployments", "worklog"})
SQL_COLUMNS = {
    "metrics": ("timestamp", "service", "slo", "good", "total"),
    "incidents": (
        "id",
        "service",
        "severity",
        "created_at",
        "resolved_at",
        "title",
        "acknowledged_at",
        "started_at",
        "urgency",
        "caused_by",
        "postmortem_url",
        "postmortem_at",
        "action_items_open",
        "responder",
    ),
    "deployments": ("id", "service", "deployed_at", "status", "commit_at", "environment"),
    "worklog": ("team", "date", "category", "hours", "person"),
}
"""The canonical columns of each role a ``sql`` source serves (``frames`` owns their types)."""
_QUERY_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_SQL_URL_ADVICE = (
    "only an embedded DuckDB file may be named in url (a path, or duckdb:///path); a database "
    "server's URL holds its credentials: put it in an environment variable and name that "
    "variable in url_env"
)


def _duckdb_url(value: Any) -> str:
    """``url`` of a ``sql`` source: a DuckDB file's path, or ``duckdb:///path``; nothing that
    could carry a password."""
    text = _non_empty(value)
    if "://" in text or text.startswith("duckdb:"):
        scheme, _, rest = text.partition(":///")
        if scheme != "duckdb" or not rest.strip() or rest.startswith(":memory:"):
            raise ValueError(_SQL_URL_ADVICE)
        if "?" in rest or "@" in rest.split("/", 1)[0]:
            raise ValueError(_SQL_URL_ADVICE)
    return text


def _select(value: Any) -> str:
    """``query`` of a ``sql`` source: one SELECT (or WITH ... SELECT), a trailing ``;`` allowed."""
    text = _non_empty(value).rstrip().rstrip(";").rstrip()
    if not _QUERY_START.match(text):
        raise ValueError("expected one SELECT statement (or WITH ... SELECT)")
    if ";" in text:
        raise ValueError("expected one SELECT statement: no ';' inside it")
    return text


class SqlOptions(SourceOptions):
    """``kind: sql``: tables or SELECTs of a database read through SQLAlchemy (DuckDB,
    PostgreSQL); for ``metrics`` the database counts each step's events itself."""

    kind: Literal["sql"]
    url_env: EnvName | None = None
    """The environment variable holding the SQLAlchemy URL (a secret: it holds credentials)."""
    url: Annotated[str, BeforeValidator(_duckdb_url)] | None = None
    """An embedded DuckDB file (no secret): a path relative to the config, or duckdb:///path."""
    table: NonEmpty | None = None
    table_schema: NonEmpty | None = Field(default=None, alias="schema")
    """The schema (PostgreSQL, DuckDB) ``table`` lives in, when not the connection's default."""
    query: Annotated[str, BeforeValidator(_select)] | None = None
    columns: Annotated[dict[Text, NonEmpty], BeforeValidator(_mapping)] = Field(
        default_factory=dict
    )
    """Canonical column name -> the database's column name, where they differ."""
    step: DurationText = "1m"
    """Role ``metrics``: the resolution the database sums events to."""
    timeout: Seconds = 30.0
    """Seconds to connect, and for the statement (PostgreSQL)."""
    roles: ClassVar[frozenset[str]] = SQL_ROLES

    @model_validator(mode="after")
    def _one_of_each(self) -> SqlOptions:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give either url_env (a database server) or url (a DuckDB file)")
        if (self.table is None) == (self.query is None):
            raise ValueError("give either table or query for kind sql")
        if self.table_schema is not None and self.table is None:
            raise ValueError("schema goes with table: a query names its own tables (schema.table)")
        known = {name for names in SQL_COLUMNS.values() for name in names}
        unknown = sorted(set(self.columns) - known)
        if unknown:
            raise ValueError(
                f"columns: {', '.join(unknown)} is not a canonical column (see docs/formats.md)"
            )
        return self

    @property
    def step_length(self) -> pd.Timedelta:
        return parse_duration(self.step)


OPTION_MODELS: tuple[type[SourceOptions], ...] = (
    CsvOptions,
    ParquetOptions,
    SampleOptions,
    PrometheusOptions,
    PagerDutyOptions,
    StatuspageOptions,
    GitHubDeploymentsOptions,
    SqlOptions,
)
SourceConfig = Annotated[
    CsvOptions
    | ParquetOptions
    | SampleOptions
    | PrometheusOptions
    | PagerDutyOptions
    | StatuspageOptions
    | GitHubDeploymentsOptions
    | SqlOptions,
    Field(discriminator="kind"),
]
"""One source's options: the model of its ``kind``."""


def kind_of(model: type[SourceOptions]) -> str:
    """The ``kind`` a model stands for (the value of its ``Literal``)."""
    return get_args(model.model_fields["kind"].annotation)[0]


MODELS_BY_KIND: dict[str, type[SourceOptions]] = {kind_of(m): m for m in OPTION_MODELS}


def role_problem(kind: object, role: str) -> str | None:
    """Why ``kind`` cannot provide ``role``, or ``None`` when it can (or is unknown)."""
    model = MODELS_BY_KIND.get(str(kind))
    if model is None or role in model.roles:
        return None
    serves = " and ".join(sorted(model.roles))
    others = ", ".join(k for k, m in sorted(MODELS_BY_KIND.items()) if role in m.roles)
    return f"{kind} provides {serves} only (for {role}: {others})"
