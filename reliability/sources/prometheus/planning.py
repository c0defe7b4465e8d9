"""Query planning: the PromQL the source sends for every SLO, and the ranges it asks for.

For every SLO the server itself counts the events of each step: an indicator's counter
selectors are sent as ``sum(increase(SELECTOR[step]))`` (or the indicator's own
``good_query``/``total_query`` with ``{{window}}`` set to the step). Indicators whose selectors
name ``{service}`` are templates: every service sharing one template and SLO name is fetched
with a single ``sum by (<service_label>)`` query. A latency indicator's bucket is found by
asking the server which ``le`` values its histogram has.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from reliability.config import SLO, Config, Indicator
from reliability.errors import Problem
from reliability.source_options import PrometheusOptions
from reliability.sources.prometheus.client import QueryRejected, where

MAX_POINTS = 11_000
"""Prometheus refuses a range query of more than 11,000 points per series."""
SERVICE_PLACEHOLDER = "{service}"
WINDOW_PLACEHOLDER = "{{window}}"
_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.DOTALL)
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")
_NAMES_SHOWN = 4

LabelLookup = Callable[[str, str], list[str]]
"""``(label, selector)`` -> the label's values on the series the selector picks in the span."""


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
class Histogram:
    """A latency indicator's histogram, split into metric name and matchers."""

    name: str
    matchers: str

    def selector(self, suffix: str, extra: str = "") -> str:
        parts = [p for p in (self.matchers.strip(), extra) if p]
        return f"{self.name}{suffix}{{{', '.join(parts)}}}"


def parse_histogram(text: str) -> Histogram | None:
    match = _SELECTOR.match(text)
    if match is None:
        return None
    name = match.group(1)
    for suffix in ("_bucket", "_count", "_sum"):
        name = name.removesuffix(suffix)
    return Histogram(name, (match.group(2) or "").strip().rstrip(","))


def _regex_escape(text: str) -> str:
    """``text`` as a literal in an RE2 regular expression."""
    return "".join(f"\\{c}" if c in _RE2_SPECIAL else c for c in text)


def _promql_string(text: str) -> str:
    """``text`` as the inside of a double-quoted PromQL string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _uses_template(indicator: Indicator) -> bool:
    fields = (indicator.good, indicator.total, indicator.good_query, indicator.total_query)
    return any(SERVICE_PLACEHOLDER in (text or "") for text in (*fields, indicator.histogram))


def check_indicator(target: Target, path: str) -> list[Problem]:
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
        elif parse_histogram(indicator.histogram) is None:
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


def group_selector(
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


class Planner:
    """Turns the configured SLOs into the queries to send, grouping templated indicators.

    ``lookup`` answers the bucket lookups of latency indicators (the server's ``le`` values).
    """

    def __init__(self, options: PrometheusOptions, lookup: LabelLookup):
        self.options = options
        self.lookup = lookup
        self.where = where(options)
        self.window = options.step
        self.queries: list[Query] = []
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.latency: list[LatencyLookup] = []

    def plan(self, config: Config) -> None:
        """Queries for every SLO of ``config``; problems and notes are collected, not raised."""
        groups: dict[tuple[str, Indicator], list[Target]] = {}
        for s_index, service in enumerate(config.services):
            for o_index, slo in enumerate(service.slos):
                target = Target(service.name, slo)
                found = check_indicator(target, f"services[{s_index}].slos[{o_index}]")
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
            grouped = group_selector(selector, label, [t.service for t in targets])
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
            grouped = group_selector(indicator.histogram, label, [t.service for t in targets])
        if grouped is not None:
            self.latency.append(LatencyLookup(grouped[0], targets, indicator, label, grouped[1]))
            return
        for target in targets:
            text = indicator.histogram.replace(SERVICE_PLACEHOLDER, target.service)
            self.latency.append(LatencyLookup(text, [target], indicator))

    def finish_latency(self) -> None:
        """Look up every histogram's ``le`` values (in parallel), then add its two queries."""
        if not self.latency:
            return

        def lookup(item: LatencyLookup) -> list[str] | QueryRejected:
            try:
                return self.lookup("le", item.buckets)
            except QueryRejected as exc:
                return exc

        workers = max(1, min(self.options.concurrency, len(self.latency)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prometheus") as pool:
            answers = list(pool.map(lookup, self.latency))
        for item, found in zip(self.latency, answers, strict=True):
            self.add_latency(item, found)

    def add_latency(self, item: LatencyLookup, found: list[str] | QueryRejected) -> None:
        title = Query("", "good", item.targets).title
        where = self.where
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
class LatencyLookup:
    """A latency indicator waiting for its bucket lookup: one SLO, or a template's group."""

    text: str
    targets: list[Target]
    indicator: Indicator
    label: str | None = None
    services: dict[str, str] = field(default_factory=dict)

    @property
    def histogram(self) -> Histogram:
        histogram = parse_histogram(self.text)
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


PIECE_POINTS = 500_000
"""Points (series x steps) a grouped query asks for in one request; a larger one is split in
time into requests that run at once, as the per-SLO queries of a fleet do."""


def chunks(
    start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta, max_points: int = MAX_POINTS
) -> list[tuple[int, int]]:
    """Evaluation ranges ``(first, last)`` in ns covering ``start + step .. end``, step-aligned.

    Each range holds at most ``max_points`` (at most ``MAX_POINTS``) points and starts one step
    after the previous one ends, so every interval ``(t - step, t]`` of ``[start, end)`` is
    evaluated exactly once.
    """
    max_points = max(1, min(max_points, MAX_POINTS))
    step_ns = step.value
    first = start.value + step_ns
    last = end.value
    ranges = []
    while first <= last:
        upto = min(first + (max_points - 1) * step_ns, last)
        ranges.append((first, upto))
        first = upto + step_ns
    return ranges


def query_ranges(
    query: Query, start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta
) -> list[tuple[int, int]]:
    """The requests of one query: ``chunks``, smaller for a grouped query of many services."""
    steps = (end.value - start.value) // step.value
    pieces = math.ceil(len(query.targets) * steps / PIECE_POINTS) if query.label else 1
    return chunks(start, end, step, math.ceil(steps / max(pieces, 1)))
