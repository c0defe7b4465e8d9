"""The metrics source for Prometheus-compatible HTTP APIs (Thanos, Mimir, VictoriaMetrics too).

For every SLO the server itself counts the events of each step: an indicator's counter
selectors are sent as ``sum(increase(SELECTOR[step]))`` range queries at that step (or the
indicator's own ``good_query``/``total_query`` with ``{{window}}`` set to the step), so a point
evaluated at ``t`` holds the events of ``(t - step, t]`` and becomes the canonical row that
starts at ``t - step``. Queries run from ``start + step`` to ``end`` in step-aligned chunks of
at most ``MAX_POINTS`` points, so every interval of the month is counted exactly once.

Indicators whose selectors name ``{service}`` are templates: every service sharing one template
and SLO name is fetched with a single ``sum by (<service_label>)`` query.

Errors: a query the server rejects is an ``InputError`` naming the SLO, the query and the
server's message (exit 2); a server that cannot be reached after the retries is a
``SourceError`` naming the URL (exit 1). The bearer token is read from the environment variable
``token_env`` names, and never appears in a message.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import requests

from reliability import frames
from reliability.config import SLO, Config, Indicator, Source, parse_duration
from reliability.errors import InputError, Problem, SourceError
from reliability.period import Month
from reliability.sources import Loaded, http

MAX_POINTS = 11_000
"""Prometheus refuses a range query of more than 11,000 points per series."""
RETRY_STATUSES = http.RETRY_STATUSES
"""Answers that are retried (with backoff, honouring ``Retry-After``)."""
MAX_RETRY_AFTER = 60.0
"""Longest wait, in seconds, that a server's ``Retry-After`` may ask for between attempts."""
SERVICE_PLACEHOLDER = "{service}"
WINDOW_PLACEHOLDER = "{{window}}"
DEFAULTS: dict[str, Any] = {
    "headers": {},
    "token_env": None,
    "step": "5m",
    "timeout": 60.0,
    "params": {},
    "retries": 4,
    "backoff": 0.5,
    "service_label": "job",
    "concurrency": 4,
}
"""Every option besides ``url``, with its default."""
_RESERVED_PARAMS = {"query", "start", "end", "step", "time", "match[]"}
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.DOTALL)
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")
_NAMES_SHOWN = 4


@dataclass(frozen=True)
class Options:
    """The ``kind: prometheus`` source options, checked."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    token_env: str | None = None
    step: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(minutes=5))
    step_text: str = "5m"
    timeout: float = 60.0
    params: dict[str, str | list[str]] = field(default_factory=dict)
    retries: int = 4
    backoff: float = 0.5
    service_label: str = "job"
    concurrency: int = 4

    @property
    def display_url(self) -> str:
        """The URL without any user name or password in it."""
        return _without_credentials(self.url)

    @property
    def where(self) -> str:
        return f"prometheus {self.display_url}"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def parse_options(source: Source, role: str = "metrics") -> Options:
    """Check a source's options; every problem is one line of the ``InputError``."""
    key = f"sources.{role}"
    problems: list[Problem] = []

    def bad(option: str, message: str) -> None:
        problems.append(Problem("config", f"{key}.{option}: {message}"))

    raw = source.options
    if source.path is not None:
        bad("path", "not used by kind prometheus (give url)")
    for unknown in sorted(set(raw) - set(DEFAULTS) - {"url"}):
        bad(unknown, f"unknown option for kind prometheus ({', '.join(['url', *DEFAULTS])})")
    values = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}

    url = str(values.get("url") or "").strip().rstrip("/")
    if not url:
        bad("url", "required for kind prometheus, e.g. http://prometheus:9090")
    elif urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        bad("url", f"expected an http:// or https:// URL, got {_without_credentials(url)!r}")
    elif urlsplit(url).username is not None or urlsplit(url).password is not None:
        bad(
            "url",
            "do not put credentials in the url: name the environment variable that holds a "
            "bearer token in token_env",
        )

    headers: dict[str, str] = {}
    if not isinstance(values["headers"], dict):
        bad("headers", "expected a mapping of header names to values")
    else:
        for name, value in values["headers"].items():
            if str(name).lower() == "authorization":
                bad(
                    "headers",
                    "do not put credentials in the config: name the environment variable that "
                    "holds the token in token_env",
                )
            elif isinstance(value, dict | list) or value is None:
                bad(f"headers.{name}", "expected a single value")
            else:
                headers[str(name)] = _param_text(value)

    token_env = values["token_env"]
    if token_env is not None and (not isinstance(token_env, str) or not token_env.strip()):
        bad("token_env", "expected the name of an environment variable")
        token_env = None

    step = pd.Timedelta(minutes=5)
    step_text = str(values["step"]).strip()
    try:
        step = parse_duration(step_text)
    except ValueError as exc:
        bad("step", str(exc))

    timeout = _number(values["timeout"])
    if timeout is None or timeout <= 0:
        bad("timeout", "expected a positive number of seconds")
        timeout = DEFAULTS["timeout"]

    params: dict[str, str | list[str]] = {}
    if not isinstance(values["params"], dict):
        bad("params", "expected a mapping of query parameters to values")
    else:
        for name, value in values["params"].items():
            if str(name) in _RESERVED_PARAMS:
                bad(f"params.{name}", "set by the source itself")
            elif isinstance(value, list):
                params[str(name)] = [_param_text(v) for v in value]
            elif isinstance(value, dict) or value is None:
                bad(f"params.{name}", "expected a value or a list of values")
            else:
                params[str(name)] = _param_text(value)

    retries = values["retries"]
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        bad("retries", "expected a whole number of retries (0 or more)")
        retries = DEFAULTS["retries"]
    backoff = _number(values["backoff"])
    if backoff is None or backoff < 0:
        bad("backoff", "expected a number of seconds (0 or more)")
        backoff = DEFAULTS["backoff"]
    service_label = str(values["service_label"])
    if not _LABEL_NAME.match(service_label):
        bad("service_label", f"not a Prometheus label name: {service_label!r}")
    concurrency = values["concurrency"]
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        bad("concurrency", "expected a whole number of parallel requests (1 or more)")
        concurrency = DEFAULTS["concurrency"]

    if problems:
        raise InputError(problems)
    return Options(
        url=url,
        headers=headers,
        token_env=token_env,
        step=step,
        step_text=step_text,
        timeout=float(timeout),
        params=params,
        retries=retries,
        backoff=float(backoff),
        service_label=service_label,
        concurrency=min(concurrency, 32),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    try:
        return parse_duration(str(value)).total_seconds()
    except ValueError:
        return None


def _param_text(value: Any) -> str:
    """YAML values as HTTP parameter text: ``false`` -> ``false``, ``1`` -> ``1``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_token(options: Options, role: str = "metrics") -> str | None:
    """The bearer token from the environment variable ``token_env`` names (``None`` if unset)."""
    if options.token_env is None:
        return None
    token = os.environ.get(options.token_env, "").strip()
    if not token:
        raise InputError(
            Problem(
                "config",
                f"sources.{role}.token_env: the environment variable {options.token_env} "
                "is not set or empty",
            )
        )
    return token


# -- HTTP -----------------------------------------------------------------------------------


class QueryProblem(Exception):
    """A query that cannot give an SLO's counts: the user's PromQL is wrong."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


class QueryRejected(QueryProblem):
    """The server refused a query as invalid (HTTP 400 or 422)."""

    def __init__(self, error_type: str, error: str):
        super().__init__(error)
        self.error_type = error_type


@dataclass
class Answer:
    """The ``data`` of a successful API answer and the warnings that came with it."""

    data: Any
    warnings: list[str] = field(default_factory=list)


def make_session(
    options: Options, token: str | None, session: requests.Session | None = None
) -> requests.Session:
    """A session (``session`` or a new one) that retries connection errors, timeouts, 429, 5xx.

    Backoff between attempts grows as ``backoff * 2 ** n`` seconds; ``Retry-After`` is honoured
    up to ``MAX_RETRY_AFTER``. Range queries are read-only, so their POSTs are retried too.
    """
    policy = http.RetryPolicy(
        attempts=options.retries,
        backoff_factor=options.backoff,
        statuses=RETRY_STATUSES,
        max_retry_after=MAX_RETRY_AFTER,
    )
    session = session if session is not None else requests.Session()
    http.mount_retries(
        session, policy, methods=("GET", "POST"), pool_size=max(options.concurrency, 4)
    )
    session.headers.update(options.headers)
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


class PrometheusClient:
    """The few HTTP API calls the source makes; no message it raises contains the token.

    A ``session`` given here is used as it is (see ``make_session`` to add the retries).
    """

    def __init__(
        self, options: Options, token: str | None = None, session: requests.Session | None = None
    ):
        self.options = options
        self.token = token
        self.session = session if session is not None else make_session(options, token)

    def close(self) -> None:
        self.session.close()

    def scrub(self, text: str) -> str:
        """``text`` on one line, with the token (if any) blanked out."""
        if self.token:
            text = text.replace(self.token, "***")
        return " ".join(text.split())

    def query_range(self, query: str, start: float, end: float, step: float) -> Answer:
        """``/api/v1/query_range`` as a form-encoded POST; ``data.result`` is a matrix."""
        form = {"query": query, "start": _seconds(start), "end": _seconds(end)}
        form["step"] = _seconds(step)
        answer = self.call("POST", "/api/v1/query_range", {**self.options.params, **form})
        if not isinstance(answer.data, dict) or answer.data.get("resultType") != "matrix":
            raise SourceError(
                f"{self.options.where}: /api/v1/query_range did not answer with a matrix"
            )
        return answer

    def query(self, query: str, time: float) -> Answer:
        """``/api/v1/query`` (an instant query) as a form-encoded POST."""
        form = {"query": query, "time": _seconds(time)}
        return self.call("POST", "/api/v1/query", {**self.options.params, **form})

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        """Values of ``label`` on the series ``match`` selects between ``start`` and ``end``."""
        params = {"match[]": match, "start": _seconds(start), "end": _seconds(end)}
        answer = self.call(
            "GET", f"/api/v1/label/{label}/values", {**self.options.params, **params}
        )
        return [str(v) for v in answer.data or []]

    def call(self, method: str, path: str, payload: dict[str, Any]) -> Answer:
        """One API call with the session's retries; maps every failure to a clear error."""
        url = self.options.url + path
        where = self.options.where
        try:
            if method == "POST":
                response = self.session.post(url, data=payload, timeout=self.options.timeout)
            else:
                response = self.session.get(url, params=payload, timeout=self.options.timeout)
        except requests.exceptions.RequestException as exc:
            tries = self.options.retries + 1
            raise SourceError(
                self.scrub(f"{where}: no answer after {tries} attempts ({_reason(exc)})")
            ) from None
        status = response.status_code
        body = _json(response)
        error = ""
        if isinstance(body, dict):
            error = f"{body.get('errorType', '')}: {body.get('error', '')}".strip(": ")
        if status in (400, 422) and isinstance(body, dict) and "error" in body:
            raise QueryRejected(str(body.get("errorType", "")), self.scrub(str(body["error"])))
        if status in (401, 403):
            hint = (
                f"check the token in ${self.options.token_env}"
                if self.options.token_env
                else "set token_env (or headers) for this server"
            )
            raise InputError(
                Problem(where, f"the server refused the credentials (HTTP {status}); {hint}")
            )
        if status == 404:
            raise InputError(
                Problem(
                    where,
                    f"no Prometheus HTTP API here (HTTP 404 for {path}); the url should be the "
                    "server's base URL, e.g. http://prometheus:9090",
                )
            )
        if status != 200:
            detail = f": {error}" if error else ""
            retried = f" after {self.options.retries} retries" if status in RETRY_STATUSES else ""
            raise SourceError(
                self.scrub(f"{where}: HTTP {status} for {path}{retried}{detail}"[:500])
            )
        if not isinstance(body, dict):
            kind = response.headers.get("Content-Type", "unknown content")
            raise SourceError(f"{where}: {path} answered with {kind}, not the Prometheus API")
        if body.get("status") != "success":
            detail = f": {error}" if error else ""
            raise SourceError(
                self.scrub(f"{where}: {path} answered status {body.get('status')!r}{detail}")
            )
        notes = [str(w) for w in body.get("warnings") or []]
        notes += [str(i) for i in body.get("infos") or []]
        return Answer(body.get("data"), [self.scrub(n) for n in notes])


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    """A short cause for a failed request: ``connection refused``, ``read timed out``, ..."""
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    inner: BaseException = exc
    seen = 0
    while seen < 10:
        seen += 1
        following = getattr(inner, "reason", None) or (inner.args[0] if inner.args else None)
        if isinstance(following, BaseException) and following is not inner:
            inner = following
        else:
            break
    text = str(inner)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "timed out" in text.lower():
        return "timed out"
    text = re.sub(r"<[^>]*>", "", text).strip(" :")
    return text.rsplit(": ", 1)[-1][:200] or type(exc).__name__


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


# -- queries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One SLO of one service that the source fetches."""

    service: str
    slo: SLO


@dataclass
class Query:
    """One PromQL expression for the good or total side of one SLO (or a template's group)."""

    expr: str
    side: str
    """``good`` or ``total``."""
    targets: list[Target]
    label: str | None = None
    """For a grouped template query: the label whose value tells the service."""
    services: dict[str, str] = field(default_factory=dict)
    """Grouped query: label value -> service name."""

    @property
    def title(self) -> str:
        """The SLO(s) the query is for, as a reader of an error line would name them."""
        first = self.targets[0]
        if len(self.targets) == 1:
            return f"{first.service}/{first.slo.name}"
        names = [t.service for t in self.targets]
        shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > _NAMES_SHOWN else "")
        return f"{first.slo.name} of {len(names)} services ({shown})"


@dataclass
class _Histogram:
    """A latency indicator's histogram, split into metric name and matchers."""

    name: str
    matchers: str

    def selector(self, suffix: str, extra: str = "") -> str:
        parts = [p for p in (self.matchers.strip(), extra) if p]
        return f"{self.name}{suffix}{{{', '.join(parts)}}}"


def _histogram(text: str) -> _Histogram | None:
    match = _SELECTOR.match(text)
    if match is None:
        return None
    name = match.group(1)
    for suffix in ("_bucket", "_count", "_sum"):
        name = name.removesuffix(suffix)
    return _Histogram(name, (match.group(2) or "").strip().rstrip(","))


def _regex_escape(text: str) -> str:
    """``text`` as a literal in an RE2 regular expression."""
    return "".join(f"\\{c}" if c in _RE2_SPECIAL else c for c in text)


def _promql_string(text: str) -> str:
    """``text`` as the inside of a double-quoted PromQL string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _uses_template(indicator: Indicator) -> bool:
    fields = (indicator.good, indicator.total, indicator.good_query, indicator.total_query)
    return any(SERVICE_PLACEHOLDER in (text or "") for text in (*fields, indicator.histogram))


def _check_indicator(target: Target, path: str) -> list[Problem]:
    """Problems that keep an SLO's indicator from being queried (``path`` is its config key)."""
    indicator = target.slo.indicator
    name = f"{target.service}/{target.slo.name}"
    if indicator is None:
        return [Problem("config", f"{path}.indicator: required by kind prometheus ({name})")]
    key = f"{path}.indicator"
    problems = []
    if indicator.kind == "latency":
        if not indicator.histogram:
            problems.append(Problem("config", f"{key}.histogram: required for latency ({name})"))
        elif _histogram(indicator.histogram) is None:
            problems.append(
                Problem(
                    "config",
                    f"{key}.histogram: expected a metric name with optional matchers, e.g. "
                    f'http_request_duration_seconds{{job="checkout"}} ({name})',
                )
            )
        if indicator.threshold_seconds is None:
            problems.append(
                Problem("config", f"{key}.threshold_seconds: required for latency ({name})")
            )
        return problems
    for side in ("good", "total"):
        selector = getattr(indicator, side)
        query = getattr(indicator, f"{side}_query")
        if selector and query:
            problems.append(
                Problem("config", f"{key}: give {side} or {side}_query, not both ({name})")
            )
        elif not selector and not query:
            problems.append(Problem("config", f"{key}.{side}: required, or {side}_query ({name})"))
    return problems


def _group_selector(
    selector: str, label: str, services: list[str]
) -> tuple[str, dict[str, str]] | None:
    """A template selector with ``label="...{service}..."`` turned into a regex matcher.

    Returns the grouped selector and the label value of each service, or ``None`` when the
    template cannot be grouped (``{service}`` elsewhere, or more than once).
    """
    if selector.count(SERVICE_PLACEHOLDER) != 1:
        return None
    pattern = re.compile(rf'\b{re.escape(label)}\s*=\s*"([^"\\]*)\{{service\}}([^"\\]*)"')
    match = pattern.search(selector)
    if match is None:
        return None
    before, after = match.group(1), match.group(2)
    values = {before + name + after: name for name in services}
    alternatives = "|".join(_regex_escape(name) for name in services)
    regex = f"{_regex_escape(before)}(?:{alternatives}){_regex_escape(after)}"
    grouped = (
        f'{selector[: match.start()]}{label}=~"{_promql_string(regex)}"{selector[match.end() :]}'
    )
    return grouped, values


class _Planner:
    """Turns the configured SLOs into the queries to send, grouping templated indicators."""

    def __init__(self, client: PrometheusClient, start: float, end: float):
        self.client = client
        self.options = client.options
        self.start, self.end = start, end
        self.window = self.options.step_text
        self.queries: list[Query] = []
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.latency: list[_Latency] = []

    def plan(self, config: Config) -> None:
        """Queries for every SLO of ``config``; problems and notes are collected, not raised."""
        groups: dict[tuple[str, Indicator], list[Target]] = {}
        for s_index, service in enumerate(config.services):
            for o_index, slo in enumerate(service.slos):
                target = Target(service.name, slo)
                found = _check_indicator(target, f"services[{s_index}].slos[{o_index}]")
                if found:
                    self.problems.extend(found)
                    continue
                assert slo.indicator is not None
                if _uses_template(slo.indicator):
                    groups.setdefault((slo.name, slo.indicator), []).append(target)
                else:
                    self.plan_targets([target], slo.indicator, None)
        for (_, indicator), targets in groups.items():
            self.plan_targets(targets, indicator, self.options.service_label)
        self.finish_latency()

    def plan_targets(self, targets: list[Target], indicator: Indicator, label: str | None) -> None:
        """Queries for one SLO, or for a template shared by ``targets`` (grouped if possible)."""
        if indicator.kind == "latency":
            self.plan_latency(targets, indicator, label)
            return
        for side in ("good", "total"):
            selector = getattr(indicator, side)
            query = getattr(indicator, f"{side}_query")
            if selector:
                self.add_selector(selector, side, targets, label)
            else:
                for target in targets:
                    expr = query.replace(WINDOW_PLACEHOLDER, self.window)
                    expr = expr.replace(SERVICE_PLACEHOLDER, target.service)
                    self.queries.append(Query(expr, side, [target]))

    def add_selector(
        self, selector: str, side: str, targets: list[Target], label: str | None
    ) -> None:
        window = self.window
        if label is not None:
            grouped = _group_selector(selector, label, [t.service for t in targets])
            if grouped is not None:
                text, values = grouped
                expr = f"sum by ({label}) (increase({text}[{window}]))"
                self.queries.append(Query(expr, side, targets, label=label, services=values))
                return
        for target in targets:
            text = selector.replace(SERVICE_PLACEHOLDER, target.service)
            self.queries.append(Query(f"sum(increase({text}[{window}]))", side, [target]))

    def plan_latency(self, targets: list[Target], indicator: Indicator, label: str | None) -> None:
        """Queue the histogram's bucket lookup; ``finish_latency`` builds the queries."""
        assert indicator.histogram is not None
        grouped = None
        if label is not None:
            grouped = _group_selector(indicator.histogram, label, [t.service for t in targets])
        if grouped is not None:
            self.latency.append(_Latency(grouped[0], targets, indicator, label, grouped[1]))
            return
        for target in targets:
            text = indicator.histogram.replace(SERVICE_PLACEHOLDER, target.service)
            self.latency.append(_Latency(text, [target], indicator))

    def finish_latency(self) -> None:
        """Look up every histogram's ``le`` values (in parallel), then add its two queries."""
        if not self.latency:
            return

        def lookup(item: _Latency) -> list[str] | QueryRejected:
            try:
                return self.client.label_values("le", item.buckets, self.start, self.end)
            except QueryRejected as exc:
                return exc

        workers = max(1, min(self.options.concurrency, len(self.latency)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prometheus") as pool:
            answers = list(pool.map(lookup, self.latency))
        for item, found in zip(self.latency, answers, strict=True):
            self.add_latency(item, found)

    def add_latency(self, item: _Latency, found: list[str] | QueryRejected) -> None:
        title = Query("", "good", item.targets).title
        where = self.options.where
        if isinstance(found, QueryRejected):
            self.problems.append(
                Problem(
                    where,
                    f"{title}: the server rejected the histogram selector {item.buckets} "
                    f"({found.error_type}): {found.error}",
                )
            )
            return
        if not found:
            self.notes.append(
                f"No series match {item.buckets} in the period, so {title} has no data."
            )
            return
        threshold = float(item.indicator.threshold_seconds or 0)
        matching = [v for v in found if _le_value(v) == threshold]
        if not matching:
            listed = ", ".join(sorted(found, key=lambda v: (_le_value(v), v)))
            self.problems.append(
                Problem(
                    where,
                    f"{title}: no bucket of {item.buckets} has le = {threshold:g} "
                    f"(threshold_seconds); buckets found: {listed}",
                )
            )
            return
        if len(matching) == 1:
            le = f'le="{_promql_string(matching[0])}"'
        else:
            le = 'le=~"' + "|".join(_promql_string(_regex_escape(v)) for v in matching) + '"'
        sides = (
            ("good", item.histogram.selector("_bucket", le)),
            ("total", item.histogram.selector("_count")),
        )
        for side, text in sides:
            if item.label is None:
                expr = f"sum(increase({text}[{self.window}]))"
                self.queries.append(Query(expr, side, item.targets))
            else:
                expr = f"sum by ({item.label}) (increase({text}[{self.window}]))"
                self.queries.append(
                    Query(expr, side, item.targets, label=item.label, services=item.services)
                )


@dataclass
class _Latency:
    """A latency indicator waiting for its bucket lookup: one SLO, or a template's group."""

    text: str
    targets: list[Target]
    indicator: Indicator
    label: str | None = None
    services: dict[str, str] = field(default_factory=dict)

    @property
    def histogram(self) -> _Histogram:
        histogram = _histogram(self.text)
        assert histogram is not None  # checked with the config
        return histogram

    @property
    def buckets(self) -> str:
        return self.histogram.selector("_bucket")


def _le_value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


# -- fetching ---------------------------------------------------------------------------------


def chunks(start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta) -> list[tuple[int, int]]:
    """Evaluation ranges ``(first, last)`` in ns covering ``start + step .. end``, step-aligned.

    Each range holds at most ``MAX_POINTS`` points and starts one step after the previous one
    ends, so every interval ``(t - step, t]`` of ``[start, end)`` is evaluated exactly once.
    """
    step_ns = step.value
    first = start.value + step_ns
    last = end.value
    ranges = []
    while first <= last:
        upto = min(first + (MAX_POINTS - 1) * step_ns, last)
        ranges.append((first, upto))
        first = upto + step_ns
    return ranges


@dataclass
class _Result:
    """What came back for one query: per service, evaluation times (ns) and values."""

    series: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _run_query(
    client: PrometheusClient, query: Query, ranges: list[tuple[int, int]], step: pd.Timedelta
) -> _Result:
    result = _Result()
    step_seconds = step.total_seconds()
    for first, last in ranges:
        answer = client.query_range(query.expr, first / 1e9, last / 1e9, step_seconds)
        result.warnings.extend(w for w in answer.warnings if w not in result.warnings)
        matrix = [s for s in answer.data.get("result") or [] if s.get("values")]
        if query.label is None and len(matrix) > 1:
            raise QueryProblem(
                f"returned {len(matrix)} series where one was expected "
                "(aggregate it, e.g. wrap it in sum(...))"
            )
        for series in matrix:
            if query.label is None:
                service = query.targets[0].service
            else:
                value = (series.get("metric") or {}).get(query.label)
                service = query.services.get(value) if value is not None else None
                if service is None:
                    continue
            table = np.array(series["values"], dtype=object)
            stamps = np.round(table[:, 0].astype("float64") * 1000).astype(np.int64) * 1_000_000
            numbers = table[:, 1].astype("float64")
            result.series.setdefault(service, []).append((stamps, numbers))
    return result


def _side_series(result: _Result, service: str) -> pd.Series:
    parts = result.series.get(service) or []
    if not parts:
        return pd.Series([], dtype="float64")
    stamps = np.concatenate([p[0] for p in parts])
    numbers = np.concatenate([p[1] for p in parts])
    return pd.Series(numbers, index=stamps)


def fetch(
    options: Options,
    config: Config,
    months: Sequence[Month],
    *,
    token: str | None = None,
    session: requests.Session | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The canonical SLI frame of ``months`` for every configured SLO, and the source's notes.

    ``session`` (left open) replaces the source's own; a benchmark counts requests through it.
    """
    if not months:
        return frames.empty(frames.SLI), []
    step = options.step
    problems: list[Problem] = []
    for month in months:
        if month.duration % step != pd.Timedelta(0) or step > month.duration:
            problems.append(
                Problem(
                    "config",
                    f"sources.metrics.step: {options.step_text} does not divide {month} "
                    f"({month.days:g} days) into whole steps; use e.g. 1m, 5m, 15m or 1h",
                )
            )
    if problems:
        raise InputError(problems)
    start, end = months[0].start.as_unit("ns"), months[-1].end.as_unit("ns")
    ranges = chunks(start, end, step)
    client = PrometheusClient(options, token, session)
    try:
        planner = _Planner(client, start.value / 1e9, end.value / 1e9)
        planner.plan(config)
        if planner.problems:
            raise InputError(planner.problems)
        results = _run_all(client, planner.queries, ranges, step)
    finally:
        if session is None:
            client.close()
    notes = list(planner.notes)
    frame, assembly_notes = _assemble(planner.queries, results, step, options)
    notes.extend(assembly_notes)
    notes.extend(_timeslice_notes(config, options))
    return frame, list(dict.fromkeys(notes))


def _run_all(
    client: PrometheusClient,
    queries: list[Query],
    ranges: list[tuple[int, int]],
    step: pd.Timedelta,
) -> list[_Result]:
    """Every query (in parallel); rejected queries are gathered into one ``InputError``."""

    def run(query: Query) -> _Result:
        return _run_query(client, query, ranges, step)

    problems: list[tuple[int, Problem]] = []
    workers = max(1, min(client.options.concurrency, len(queries)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prometheus") as pool:
        futures: dict[Future[_Result], int] = {
            pool.submit(run, q): i for i, q in enumerate(queries)
        }
        for future in as_completed(futures):
            error = future.exception()
            if error is None:
                continue
            if not isinstance(error, QueryProblem):
                for other in futures:
                    other.cancel()
                raise error
            query = queries[futures[future]]
            if isinstance(error, QueryRejected):
                kind = f" ({error.error_type})" if error.error_type else ""
                text = f"the server rejected the {query.side} query{kind}: {error.error}"
            else:
                text = f"the {query.side} query {error.error}"
            problem = Problem(client.options.where, f"{query.title}: {text}; query: {query.expr}")
            problems.append((futures[future], problem))
    if problems:
        raise InputError([problem for _, problem in sorted(problems, key=lambda p: p[0])])
    return [future.result() for future in futures]


def _assemble(
    queries: list[Query], results: list[_Result], step: pd.Timedelta, options: Options
) -> tuple[pd.DataFrame, list[str]]:
    """Join each SLO's good and total points into canonical rows; gaps stay absent."""
    notes: list[str] = []
    sides: dict[tuple[str, str], dict[str, pd.Series]] = {}
    order: list[tuple[str, str]] = []
    for query, result in zip(queries, results, strict=True):
        for warning in result.warnings:
            sentence = warning.rstrip(".")
            notes.append(f"Prometheus warned about {query.title} ({query.side} query): {sentence}.")
        for target in query.targets:
            key = (target.service, target.slo.name)
            if key not in sides:
                sides[key] = {}
                order.append(key)
            sides[key][query.side] = _side_series(result, target.service)

    parts: list[pd.DataFrame] = []
    step_ns = step.value
    for key in order:
        service, slo = key
        good = sides[key].get("good", pd.Series([], dtype="float64"))
        total = sides[key].get("total", pd.Series([], dtype="float64"))
        good = good[np.isfinite(good.to_numpy())]
        total = total[np.isfinite(total.to_numpy())]
        good = good[~good.index.duplicated()]
        total = total[~total.index.duplicated()]
        if good.empty and total.empty:
            notes.append(f"Prometheus returned no data for {service}/{slo} in the period.")
            continue
        both = pd.concat({"good": good, "total": total}, axis=1, join="inner").sort_index()
        one_sided = len(good) + len(total) - 2 * len(both)
        if one_sided:
            notes.append(
                f"{service}/{slo}: {one_sided} steps had only one of the good and total series; "
                "they are left out as gaps."
            )
        good_values = np.rint(both["good"].to_numpy())
        total_values = np.rint(both["total"].to_numpy())
        negative = (good_values < 0) | (total_values < 0)
        if negative.any():
            notes.append(
                f"{service}/{slo}: {int(negative.sum())} steps had negative counts (counted as 0)."
            )
            good_values = np.maximum(good_values, 0)
            total_values = np.maximum(total_values, 0)
        over = good_values > total_values
        if over.any():
            notes.append(
                f"{service}/{slo}: {int(over.sum())} steps had more good than total events "
                "(series scraped at different times); good was capped at total."
            )
            good_values = np.minimum(good_values, total_values)
        stamps = both.index.to_numpy(dtype=np.int64) - step_ns
        parts.append(
            pd.DataFrame(
                {
                    "timestamp": pd.to_datetime(stamps, unit="ns", utc=True).as_unit("ns"),
                    "service": service,
                    "slo": slo,
                    "good": good_values.astype(np.int64),
                    "total": total_values.astype(np.int64),
                }
            )
        )
    if not parts:
        return frames.empty(frames.SLI), notes
    raw = pd.concat(parts, ignore_index=True)
    return frames.validate(raw, frames.SLI, where=options.where, first_row=1), notes


def _timeslice_notes(config: Config, options: Options) -> list[str]:
    """SLOs judged on timeslices shorter than the step see only whole steps of events."""
    notes = []
    for service in config.services:
        for slo in service.slos:
            if slo.budgeting != "occurrences" and slo.timeslice_length < options.step:
                notes.append(
                    f"{service.name}/{slo.name} uses {slo.timeslice} timeslices but the "
                    f"Prometheus step is {options.step_text}, so its slices are judged on "
                    f"{options.step_text} of events each."
                )
    return notes


def load(source: Source, config: Config, role: str, months: Sequence[Month]) -> Loaded:
    """Loader for ``kind: prometheus`` (role ``metrics`` only)."""
    if role != "metrics":
        raise InputError(
            Problem("config", f"sources.{role}.kind: prometheus can only provide metrics")
        )
    options = parse_options(source, role)
    token = read_token(options, role)
    frame, notes = fetch(options, config, months, token=token)
    return Loaded(frame, notes)
