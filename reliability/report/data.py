"""Everything one month's report shows: the month's metrics, the months before it, the frames.

Computed once (by ``reliability report`` in the parent process, or by a notebook run on its
own) and handed to the notebooks as a pickle, so every notebook shows the same numbers.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reliability.compute import MonthlyMetrics, compute_month, in_period
from reliability.config import Config
from reliability.errors import InputError, Problem
from reliability.period import Month, last_complete_month, parse_month
from reliability.report.build import HISTORY_MONTHS
from reliability.sources import Frames, config_or_sample, load_frames

_PREPARED: dict[tuple[str, float], ReportData] = {}
"""Prepared data already read in this process (a kernel renders several pages of one run)."""


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
) -> ReportData:
    """Metrics for ``month`` and the ``history_months - 1`` months before it, from ``frames``."""
    months = month.history(history_months)
    # Earlier months feed the trends only: no alert replay, attribution or intervals there.
    history = [compute_month(config, frames, m, now=now, detail=m == month) for m in months]
    current = history[-1]
    return ReportData(
        config=config,
        month=month,
        history=history,
        incidents=current.incidents,
        deployments=in_period(frames.deployments, "deployed_at", month),
        config_label=config_label,
    )


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
        key = (str(path), path.stat().st_mtime)
        if key not in _PREPARED:
            _PREPARED.clear()  # one run at a time: keep only the latest
            with path.open("rb") as handle:
                _PREPARED[key] = pickle.load(handle)  # written by this package for this run
        return _PREPARED[key]
    cfg = config_or_sample(config)
    period = last_complete_month(cfg.timezone) if not month else parse_month(month, cfg.timezone)
    months = period.history(history_months)
    frames = load_frames(cfg, months)
    data = compute_report_data(
        cfg,
        period,
        frames,
        history_months,
        config_label=str(config) if config else "built-in sample organisation",
    )
    check_has_data(data)
    return data


def check_has_data(data: ReportData) -> None:
    """A month with no SLI events, incidents, deployments or work log is an error, not a report."""
    current = data.current
    has_sli = current.slos is not None and (current.slos["total"] > 0).any()
    has_rows = any(
        frame is not None and not frame.empty for frame in (current.incidents, data.deployments)
    )
    if current.toil is not None and not current.toil.empty:
        has_rows = has_rows or bool((current.toil["total_hours"] > 0).any())
    if not has_sli and not has_rows:
        raise InputError(
            Problem(
                data.config_label,
                f"no data at all for {data.month} (no SLI events, incidents, deployments or "
                "work log): check --month and the sources",
            )
        )
