"""The reporting period: a calendar month in the configured time zone, as UTC instants."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from reliability.errors import InputError, Problem

_MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Month:
    """A calendar month ``[start, end)`` in time zone ``timezone``; ``start``/``end`` are UTC."""

    year: int
    month: int
    timezone: str = "UTC"

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> pd.Timestamp:
        return local_midnights([pd.Timestamp(self.year, self.month, 1)], self.timezone)[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.next().start

    @property
    def duration(self) -> pd.Timedelta:
        return self.end - self.start

    @property
    def days(self) -> float:
        """Length in days (a DST month in a local zone is not a whole number of days)."""
        return self.duration / pd.Timedelta(days=1)

    def next(self) -> Month:
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return Month(year, month, self.timezone)

    def previous(self) -> Month:
        year, month = (self.year - 1, 12) if self.month == 1 else (self.year, self.month - 1)
        return Month(year, month, self.timezone)

    def history(self, months: int) -> list[Month]:
        """This month and the ``months - 1`` before it, oldest first."""
        result = [self]
        for _ in range(months - 1):
            result.append(result[-1].previous())
        return result[::-1]

    def contains(self, instants: pd.Series) -> pd.Series:
        """Boolean mask of the UTC instants that fall inside the month."""
        return (instants >= self.start) & (instants < self.end)

    def elapsed_fraction(self, now: pd.Timestamp) -> float:
        """How much of the month lies before ``now`` (1.0 for a finished month)."""
        if now >= self.end:
            return 1.0
        if now <= self.start:
            return 0.0
        return (now - self.start) / self.duration

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class PartialMonth(Month):
    """A month in progress, cut at ``until``: rates (per week, per shift) divide by the part
    that has passed, not by the whole month."""

    until: pd.Timestamp | None = None

    @property
    def end(self) -> pd.Timestamp:
        full = self.next().start
        return full if self.until is None else min(full, max(self.until, self.start))


@dataclass(frozen=True)
class Span:
    """The instants ``[start, end)`` (UTC) that sources load: the report's months plus the
    lookback before them that the alert replay needs."""

    start: pd.Timestamp
    end: pd.Timestamp
    timezone: str = "UTC"

    @classmethod
    def of(cls, months: Sequence[Month], lookback: pd.Timedelta | None = None) -> Span:
        """Consecutive ``months`` (oldest first) and ``lookback`` before the first of them."""
        if not months:
            raise ValueError("at least one month is needed")
        start = months[0].start - (lookback if lookback is not None else pd.Timedelta(0))
        return cls(start, months[-1].end, months[0].timezone)

    @property
    def months(self) -> list[Month]:
        """The calendar months (in ``timezone``) that overlap the span, oldest first."""
        local = self.start.tz_convert(self.timezone)
        month = Month(local.year, local.month, self.timezone)
        result = []
        while month.start < self.end:
            result.append(month)
            month = month.next()
        return result

    def contains(self, instants: pd.Series) -> pd.Series:
        """Boolean mask of the UTC instants that fall inside the span."""
        return (instants >= self.start) & (instants < self.end)


def local_midnights(
    days: Sequence[pd.Timestamp] | pd.DatetimeIndex, timezone: str
) -> pd.DatetimeIndex:
    """The UTC instants at which each calendar day begins in ``timezone``.

    Where the clock skips midnight (a DST change at 00:00), the day begins at the first
    instant that exists; where midnight happens twice, at the first of them.
    """
    naive = pd.DatetimeIndex(days).as_unit("ns")
    local = naive.tz_localize(
        timezone, nonexistent="shift_forward", ambiguous=np.ones(len(naive), dtype=bool)
    )
    return local.tz_convert("UTC")


def check_timezone(name: str) -> str:
    """Return ``name`` if it is a known IANA time zone, else raise ``ValueError``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def parse_month(text: str, timezone: str = "UTC") -> Month:
    """Parse ``YYYY-MM``; a malformed value is a user error naming ``--month``."""
    match = _MONTH_PATTERN.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InputError(Problem("--month", f"expected YYYY-MM, got {text!r}"))
    if not 1900 <= int(match.group(1)) < 2200:
        raise InputError(Problem("--month", f"expected a year from 1900 to 2199, got {text!r}"))
    return Month(int(match.group(1)), int(match.group(2)), timezone)


def last_complete_month(timezone: str = "UTC", now: pd.Timestamp | None = None) -> Month:
    """The most recent month that has fully ended in ``timezone``."""
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    local = now.tz_convert(timezone)
    return Month(local.year, local.month, timezone).previous()
