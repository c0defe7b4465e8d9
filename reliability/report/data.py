"""Everything one month's report shows: the month's metrics, the months before it, the frames.

Computed once (by ``reliability report`` in the parent process, or by a notebook run on its
own) and handed to the notebooks as a pickle, so every notebook shows the same numbers.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reliability.compute import MonthlyMetrics, compute_month, in_period, require_data
from reliability.config import Config
from reliability.frames import Frames
from reliability.period import Month, Span, last_complete_month, parse_month
from reliability.report.build import HISTORY_MONTHS
from reliability.sources import config_or_sample, load_frames
from reliability.sources.cache import MonthCache, fixed_inputs, month_keys

log = logging.getLogger(__name__)

_PREPARED: dict[tuple[str, float], ReportData] = {}
"""Prepared data already in this process: saved by it, or read once for several pages."""


@dataclass
class ReportData:
    """The report's month, its metrics, and the metrics of the months before it."""

    config: Config
    month: Month
    history: list[MonthlyMetrics]
    """Oldest first; the last one is the report's month."""
    incidents: pd.DataFrame | None
    """The month's incidents (created in it), with durations, for tables and markers."""
    deployments: pd.DataFrame | None
    config_label: str

    @property
    def current(self) -> MonthlyMetrics:
        return self.history[-1]

    @property
    def previous(self) -> MonthlyMetrics | None:
        return self.history[-2] if len(self.history) > 1 else None

    def service_names(self) -> list[str]:
        return [s.name for s in self.config.services]

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)


def compute_report_data(
    config: Config,
    month: Month,
    frames: Frames,
    history_months: int = HISTORY_MONTHS,
    now: pd.Timestamp | None = None,
    config_label: str = "built-in sample organisation",
    known: Mapping[Month, MonthlyMetrics] | None = None,
) -> ReportData:
    """Metrics for ``month`` and the ``history_months - 1`` months before it, from ``frames``.

    Earlier months found in ``known`` are taken from there instead of being computed.
    """
    months = month.history(history_months)
    known = known or {}
    # Earlier months feed the trends only: no alert replay, attribution or intervals there.
    history = [
        known[m] if m in known and m != month else compute_month(config, frames, m, now, m == month)
        for m in months
    ]
    current = history[-1]
    return ReportData(
        config=config,
        month=month,
        history=history,
        incidents=current.incidents,
        deployments=in_period(frames.deployments, "deployed_at", month),
        config_label=config_label,
    )


def prepare_report_data(
    config: Config,
    month: Month,
    history_months: int = HISTORY_MONTHS,
    *,
    config_label: str = "built-in sample organisation",
    cache: MonthCache | None = None,
    now: pd.Timestamp | None = None,
) -> ReportData:
    """Load the sources and compute the report's months, reusing earlier months from ``cache``.

    The report's own month is always loaded and computed; each earlier month is read from
    ``cache`` when it holds that month under the same inputs (``sources.cache``), and every
    complete month computed here is saved to it for the next report.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    months = month.history(history_months)
    keys = month_keys(config, months) if cache is not None else None
    known: dict[Month, MonthlyMetrics] = {}
    if cache is not None and keys is not None:
        for earlier in months[:-1]:
            hit = cache.get(earlier, keys[earlier])
            if isinstance(hit, MonthlyMetrics) and hit.period == earlier:
                known[earlier] = hit
    # Sources load a run of consecutive months: from the oldest one not in the cache.
    first = next(i for i, m in enumerate(months) if m not in known)
    frames = load_frames(config, Span.of(months[first:]))
    data = compute_report_data(
        config, month, frames, history_months, now=now, config_label=config_label, known=known
    )
    if cache is not None and keys is not None:
        for metrics in data.history[:-1]:
            if metrics.period not in known and metrics.period.end <= now:
                cache.put(metrics.period, keys[metrics.period], metrics)
        # The report's month is kept as the next report's trend month will read it: the
        # light computation, not this one with alert replay, attribution and intervals.
        # Only worth it when next month's inputs leave its key as it is (the sample); with
        # files, next month's rows change every key.
        if fixed_inputs(config) and month.end <= now and not cache.has(month, keys[month]):
            try:
                light = compute_month(config, frames, month, now, False)
            except Exception as exc:  # the report does not need it
                log.warning("could not prepare %s for the month cache: %s", month, exc)
            else:
                cache.put(month, keys[month], light)
    return data


def load_report_data(
    month: str | None = None,
    config: str | None = None,
    prepared: str | None = None,
    history_months: int = HISTORY_MONTHS,
) -> ReportData:
    """What a report notebook shows: from ``prepared`` (a saved ``ReportData``) when given,
    else computed from ``config`` (default: the sample organisation) for ``month``
    (default: the last complete month)."""
    if prepared:
        path = Path(prepared)
        key = _prepared_key(path)
        if key not in _PREPARED:
            _PREPARED.clear()  # one run at a time: keep only the latest
            with path.open("rb") as handle:
                _PREPARED[key] = pickle.load(handle)  # written by this package for this run
        return _PREPARED[key]
    cfg = config_or_sample(config)
    period = last_complete_month(cfg.timezone) if not month else parse_month(month, cfg.timezone)
    data = prepare_report_data(
        cfg,
        period,
        history_months,
        config_label=str(config) if config else "built-in sample organisation",
    )
    check_has_data(data)
    return data


def _prepared_key(path: Path) -> tuple[str, float]:
    return (str(path), path.stat().st_mtime)


def remember(path: Path, data: ReportData) -> None:
    """Keep ``data``, just saved to ``path``, for ``load_report_data(prepared=path)`` in this
    process and the processes it forks (they then skip reading it back)."""
    _PREPARED.clear()
    _PREPARED[_prepared_key(path)] = data


def forget_prepared() -> None:
    """Drop the prepared data kept by :func:`remember` or read by ``load_report_data``."""
    _PREPARED.clear()


def check_has_data(data: ReportData) -> None:
    """A month with no SLI events, incidents, deployments or work log is an error, not a report."""
    require_data(data.current, data.deployments, data.config_label)
