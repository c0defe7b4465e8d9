"""Generated months kept in memory, and the spans of instants cut from them.

``load_span`` is what the sample source serves: the months a span overlaps are generated
(or taken from memory) and cut to the span, with nothing after ``now``, so a month in
progress has data only up to now.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache

import pandas as pd

from reliability import frames
from reliability.period import Month, Span
from reliability.sources.sample.generator import build_month, focus_export
from reliability.sources.sample.organisation import fleet

_MINUTE = pd.Timedelta(minutes=1)
_DAY = pd.Timedelta(days=1)
TABLES = {
    "metrics": ("sli", frames.SLI),
    "incidents": ("incidents", frames.INCIDENTS),
    "deployments": ("deployments", frames.DEPLOYMENTS),
    "worklog": ("worklog", frames.WORKLOG),
    "alerts": ("alerts", frames.ALERTS),
}
"""Each source role, the key of its frame in ``generate``'s result, and its canonical table."""
PLACED_BY = {
    "sli": "timestamp",
    "incidents": "created_at",
    "deployments": "deployed_at",
    "alerts": "started_at",
}
"""The instant that places a row in a span (a work-log row is placed by its ``date``)."""


class _RecentMonths:
    """The most recent generated months, kept while their SLI rows fit in ``rows`` (the newest
    is always kept): one month of a 200-service fleet is 18 million SLI rows."""

    def __init__(self, rows: int):
        self.rows = rows
        self.months: OrderedDict[tuple[int, int, int], dict[str, pd.DataFrame]] = OrderedDict()

    def __call__(self, year: int, month: int, size: int) -> dict[str, pd.DataFrame]:
        key = (year, month, size)
        if key in self.months:
            self.months.move_to_end(key)
            return self.months[key]
        result = self.months[key] = build_month(year, month, size)
        while len(self.months) > 1 and sum(len(m["sli"]) for m in self.months.values()) > self.rows:
            self.months.popitem(last=False)
        return result

    def cache_clear(self) -> None:
        self.months.clear()


_generated = _RecentMonths(rows=3 * 31 * 1440 * 18)
"""All four frames of recent months; few are kept, as the SLI frame is large."""


@lru_cache(maxsize=240)
def _small(year: int, month: int, size: int) -> dict[str, pd.DataFrame]:
    """Incidents, deployments and work log of one UTC month, kept for many months."""
    result = _generated(year, month, size)
    return {key: result[key] for key in ("incidents", "deployments", "worklog", "alerts")}


@lru_cache(maxsize=240)
def _focus(year: int, month: int, size: int) -> pd.DataFrame:
    """The FOCUS cost export of one UTC month, kept for many months."""
    return focus_export(year, month, size)


def clear_caches() -> None:
    """Forget every generated month (benchmarks time generation from scratch)."""
    _generated.cache_clear()
    _small.cache_clear()
    _focus.cache_clear()


def focus_span(
    span: Span, services: int | None = None, now: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The sample's FOCUS export rows (every cell text) whose charge period overlaps ``span``
    and has begun by ``now``; the month before the span is read too, for charges that run
    from it into the span."""
    size = fleet(services).size
    now = pd.Timestamp.now(tz="UTC") if now is None else _utc(now)
    first = _utc(span.start) - pd.offsets.MonthBegin(1)
    months = _utc_months(first, min(span.end, now))
    if not months:
        return focus_export(span.start.year, span.start.month, size).iloc[:0]
    export = pd.concat([_focus(y, m, size) for y, m in months], ignore_index=True)
    start = pd.to_datetime(export["ChargePeriodStart"], utc=True)
    end = pd.to_datetime(export["ChargePeriodEnd"], utc=True)
    keep = (start < span.end) & (end > span.start) & (start < now)
    return export.loc[keep.to_numpy()].reset_index(drop=True)


def load_cost(
    span: Span, services: int | None = None, now: pd.Timestamp | None = None, tag: str = "service"
) -> pd.DataFrame:
    """The sample's canonical ``COST`` frame over ``span``, read from its FOCUS export."""
    export = focus_span(span, services, now)
    if export.empty:
        return frames.empty(frames.COST)
    return frames.focus_cost(frames.validate(export, frames.FOCUS_COST, "sample"), tag)


def generate(month: Month, services: int | None = None) -> dict[str, pd.DataFrame]:
    """Canonical ``sli``, ``incidents``, ``deployments`` and ``worklog`` frames of one month of
    the sample (``services``: the fleet's size, see ``sample_config``), whole, whatever the clock.

    The month is taken as a UTC calendar month; the same month always gives equal frames.
    """
    result = _generated(month.year, month.month, fleet(services).size)
    return {key: frame.copy() for key, frame in result.items()}


def load_span(
    role: str, span: Span, services: int | None = None, now: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The sample's canonical frame of ``role`` for the UTC instants ``[span.start, span.end)``,
    with nothing after ``now`` (default: the clock).

    Rows are placed by ``timestamp``, ``created_at``, ``deployed_at`` or (work log) the
    midnight that starts their ``date``. Up to ``now``, only what has happened is there: SLI
    minutes that have ended, incidents created and deployments made before ``now`` (an
    acknowledgement or resolution at or after ``now`` is empty: not yet), work-log days that
    have ended.
    """
    if role not in TABLES:
        raise ValueError(f"unknown role {role!r} (expected one of {', '.join(TABLES)})")
    key, spec = TABLES[role]
    size = fleet(services).size
    now = pd.Timestamp.now(tz="UTC") if now is None else _utc(now)
    parts = []
    for year, month in _utc_months(span.start, min(span.end, now)):
        if key == "sli":
            _small(year, month, size)  # keep the small frames before the SLI is evicted
            parts.append(_generated(year, month, size)["sli"])
        else:
            parts.append(_small(year, month, size)[key])
    if not parts:
        return frames.empty(spec)
    frame = parts[0] if len(parts) == 1 else frames.concat(parts)
    return _happened(frame, key, span, now, copy=len(parts) == 1)


def _utc(instant: pd.Timestamp) -> pd.Timestamp:
    if instant.tzinfo is None:
        raise ValueError(f"now must be a time-zone aware instant, got {instant}")
    return instant.tz_convert("UTC")


def _utc_months(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[int, int]]:
    """The UTC calendar months that overlap ``[start, end)``."""
    if start >= end:
        return []
    first, last = _utc(start), _utc(end) - pd.Timedelta(nanoseconds=1)
    return [
        (year, month)
        for year in range(first.year, last.year + 1)
        for month in range(1, 13)
        if (first.year, first.month) <= (year, month) <= (last.year, last.month)
    ]


def _happened(
    frame: pd.DataFrame, key: str, span: Span, now: pd.Timestamp, copy: bool
) -> pd.DataFrame:
    """The rows of ``frame`` inside ``span`` that have happened by ``now``."""
    if key == "worklog":
        day = frame["date"]
        start, end = (_utc(t).tz_localize(None) for t in (span.start, span.end))
        keep = (day >= start) & (day < end) & (day + _DAY <= now.tz_localize(None))
    else:
        placed = frame[PLACED_BY[key]]
        keep = (placed >= span.start) & (placed < span.end)
        keep &= placed + _MINUTE <= now if key == "sli" else placed < now
    if keep.all():
        frame = frame.copy() if copy else frame
    else:
        frame = frame[keep.to_numpy()].reset_index(drop=True)
    if key == "incidents":
        for column in ("acknowledged_at", "resolved_at"):
            frame[column] = frame[column].where(frame[column] < now)
    if key == "alerts":
        frame["ended_at"] = frame["ended_at"].where(frame["ended_at"] < now)
    return frame
