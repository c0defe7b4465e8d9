"""The ``alerts`` role of ``kind: prometheus``: firing episodes read from the ``ALERTS`` series.

Prometheus writes ``ALERTS{alertname, alertstate, <rule labels>} = 1`` at every evaluation of a
rule while its alert is pending or firing. The source asks for
``timestamp(ALERTS{alertstate="firing"})`` over the span at ``alerts_step`` (in requests of at
most ``MAX_POINTS`` evaluations): each point's value is the time of the sample it saw, so the
distinct values of a series are its samples, read from the server without the five minutes of
lookback a plain selector would add after the last one. Samples at most one step apart are one
episode: it starts at its first sample and ends one step after its last (the resolution is one
step). An episode whose last sample lies within one step of now, in a span that reaches now,
is still firing (no end).

``service`` comes from the label ``alerts_service_label`` names (an alert without it is
skipped, counted in a note), ``severity`` from the label ``severity``, ``runbook_url`` from the
label ``runbook_url`` or else from the ``runbook_url`` annotation of the alerting rule of that
name that the server loads now (``GET /api/v1/rules?type=alert``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reliability import frames
from reliability.config import Config
from reliability.errors import InputError, Problem, SourceError
from reliability.source_options import PrometheusOptions
from reliability.sources.prometheus.client import PrometheusClient, QueryProblem, QueryRejected
from reliability.sources.prometheus.planning import chunks
from reliability.sources.records import validate_records

QUERY = 'timestamp(ALERTS{alertstate="firing"})'
"""The times of the firing samples of every alert, one series per alert."""
_TEMPLATE = re.compile(r"\{\{-?\s*(?:\$labels|\.Labels)\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}")
_NAMES_SHOWN = 5

Labels = tuple[tuple[str, str], ...]
"""An alert's labels, sorted: the identity of its series."""


@dataclass
class Episode:
    """One firing episode of one alert series."""

    labels: dict[str, str]
    start: pd.Timestamp
    end: pd.Timestamp | None


@dataclass
class Rule:
    """An alerting rule the server loads: its name, static labels and runbook annotation."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    runbook_url: str | None = None


def sample_times(
    client: PrometheusClient, ranges: list[tuple[int, int]], step: pd.Timedelta
) -> dict[Labels, np.ndarray]:
    """Per alert series, the sorted distinct times (ns) of its firing samples."""
    found: dict[Labels, list[np.ndarray]] = {}
    for first, last in ranges:
        answer = client.query_range(QUERY, first / 1e9, last / 1e9, step.total_seconds())
        for series in answer.data.get("result") or []:
            values = series.get("values") or []
            metric = series.get("metric") or {}
            key = tuple(sorted((str(k), str(v)) for k, v in metric.items() if k != "__name__"))
            try:
                seconds = np.array([float(v[1]) for v in values], dtype=np.float64)
            except (TypeError, ValueError, IndexError):
                raise QueryProblem("returned a point that is not [time, number]") from None
            if not np.isfinite(seconds).all():
                raise QueryProblem("returned a sample time that is not a finite number")
            found.setdefault(key, []).append(np.round(seconds * 1000).astype(np.int64) * 1_000_000)
    return {key: np.unique(np.concatenate(parts)) for key, parts in found.items()}


def episodes(
    labels: Labels,
    times: np.ndarray,
    step: pd.Timedelta,
    start: pd.Timestamp,
    live_until: pd.Timestamp | None,
) -> list[Episode]:
    """Samples at most one step apart are one episode, from its first sample to one step after
    its last; samples before ``start`` (seen through the lookback) are not the span's.

    ``live_until`` is now when the span reaches now: an episode whose last sample lies within
    one step of it is still firing.
    """
    times = times[times >= start.value]
    if not len(times):
        return []
    breaks = np.flatnonzero(np.diff(times) > step.value) + 1
    found = []
    for part in np.split(times, breaks):
        first = pd.Timestamp(int(part[0]), unit="ns", tz="UTC")
        last = pd.Timestamp(int(part[-1]), unit="ns", tz="UTC")
        firing = live_until is not None and last + step >= live_until
        found.append(Episode(dict(labels), first, None if firing else last + step))
    return found


def loaded_rules(client: PrometheusClient) -> list[Rule]:
    """The alerting rules of ``GET /api/v1/rules?type=alert``."""
    answer = client.call("GET", "/api/v1/rules", {**client.options.params, "type": "alert"})
    groups = answer.data.get("groups") if isinstance(answer.data, dict) else None
    rules = []
    for group in groups or []:
        for rule in (group or {}).get("rules") or []:
            if not isinstance(rule, dict) or rule.get("type", "alerting") != "alerting":
                continue
            annotations = rule.get("annotations") or {}
            runbook = annotations.get("runbook_url") if isinstance(annotations, dict) else None
            labels = rule.get("labels") if isinstance(rule.get("labels"), dict) else {}
            rules.append(
                Rule(
                    str(rule.get("name", "")),
                    {str(k): str(v) for k, v in labels.items()},
                    str(runbook) if runbook else None,
                )
            )
    return rules


def rule_runbook(rules: Sequence[Rule], labels: Mapping[str, str]) -> str | None:
    """The runbook of the rule behind an alert: the rules of its name whose static labels it
    carries (the first of them with a runbook), its ``{{ $labels.x }}`` filled in.

    A template the source cannot fill (anything but labels) gives no runbook.
    """
    name = labels.get("alertname")
    candidates = [r for r in rules if r.name == name and r.runbook_url]
    matching = [r for r in candidates if all(labels.get(k) == v for k, v in r.labels.items())]
    chosen = (matching or candidates or [None])[0]
    if chosen is None or chosen.runbook_url is None:
        return None
    text = _TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), chosen.runbook_url)
    return None if "{{" in text else text


def _names(names: set[str]) -> str:
    listed = sorted(names)
    shown = ", ".join(listed[:_NAMES_SHOWN])
    return shown + (", ..." if len(listed) > _NAMES_SHOWN else "")


FOLLOW_PAST_END = pd.Timedelta(days=1)
"""How long past the span's end an episode firing at it is followed to find its end."""


def fetch_alerts(
    options: PrometheusOptions,
    config: Config,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    token: str | None = None,
    now: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The canonical alerts frame of ``[start, end)`` and the source's notes."""
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    step = options.alerts_step_length
    # An episode still firing at the span's end is followed past it, so that its real end is
    # known (an alert of 23:57 that fires all night is not a 3-minute alert).
    upto = min(end + FOLLOW_PAST_END, now)
    live_until = now if upto >= now else None
    start = start.as_unit("ns")
    if upto < start:
        return frames.empty(frames.ALERTS), []
    # evaluations at start, start + step, ... up to ``upto``
    ranges = chunks(start - step, upto.as_unit("ns"), step)
    client = PrometheusClient(options, token)
    notes: list[str] = []
    try:
        try:
            times = sample_times(client, ranges, step)
        except QueryProblem as exc:
            if isinstance(exc, QueryRejected):
                kind = f" ({exc.error_type})" if exc.error_type else ""
                text = f"the server rejected the query{kind}: {exc.error}"
            else:
                text = f"the query {exc.error}"
            raise InputError(Problem(client.where, f"alerts: {text}; query: {QUERY}")) from None
        found = [
            episode
            for labels, stamps in times.items()
            for episode in episodes(labels, stamps, step, start, live_until)
            if episode.start < end
        ]
        rules: list[Rule] = []
        if any("runbook_url" not in e.labels for e in found):
            try:
                rules = loaded_rules(client)
            except (InputError, SourceError, QueryProblem) as exc:
                reason = exc.error if isinstance(exc, QueryProblem) else str(exc)
                notes.append(
                    f"Prometheus: the alerting rules could not be read (GET /api/v1/rules: "
                    f"{reason}), so runbooks come from alert labels only."
                )
    finally:
        client.close()
    frame, more = alerts_frame(found, rules, options, config, client.where)
    return frame, notes + more


def alerts_frame(
    found: Sequence[Episode],
    rules: Sequence[Rule],
    options: PrometheusOptions,
    config: Config,
    where: str,
) -> tuple[pd.DataFrame, list[str]]:
    """The episodes as canonical rows (validated), and notes on what was skipped."""
    label = options.alerts_service_label
    known = {s.name for s in config.services}
    rows, ids = [], []
    unlabelled: dict[str, int] = {}
    unknown: set[str] = set()
    for episode in sorted(found, key=lambda e: (e.start, sorted(e.labels.items()))):
        labels = episode.labels
        name = labels.get("alertname", "")
        service = labels.get(label)
        if not service:
            unlabelled[name] = unlabelled.get(name, 0) + 1
            continue
        if known and service not in known:
            unknown.add(service)
        rows.append(
            {
                "alert": name,
                "service": service,
                "started_at": episode.start,
                "ended_at": episode.end,
                "severity": labels.get("severity") or None,
                "runbook_url": labels.get("runbook_url") or rule_runbook(rules, labels),
                "incident_id": None,
            }
        )
        ids.append(f"{name} of {service} from {episode.start:%Y-%m-%dT%H:%M:%SZ}")
    notes = []
    if unlabelled:
        count = sum(unlabelled.values())
        notes.append(
            f"Prometheus: {count} alert episodes without a {label} label were skipped "
            f"({_names(set(unlabelled))}); set alerts_service_label to the label that names "
            "the service."
        )
    if unknown:
        notes.append(
            f"Prometheus: alerts of services that are not in the config were kept: "
            f"{_names(unknown)}."
        )
    raw = pd.DataFrame(rows, columns=frames.ALERTS.column_names, dtype=object)
    return validate_records(raw, frames.ALERTS, where, ids, "alert"), notes
