"""Builders for SLO tests: constant traffic with chosen bad minutes, as canonical frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reliability.metrics import slo
from reliability.period import Month


def slo_table(*rows: dict) -> pd.DataFrame:
    """An SLO table like ``Config.slo_table()``; each row overrides the defaults."""
    defaults = {
        "service": "checkout",
        "team": "payments",
        "slo": "availability",
        "objective": 0.999,
        "budgeting": "occurrences",
        "timeslice_minutes": 1,
        "timeslice_target": None,
    }
    return pd.DataFrame([defaults | row for row in rows])


def constant_traffic(
    period: Month,
    per_minute: int = 100,
    bad: dict[int, int] | None = None,
    service: str = "checkout",
    name: str = "availability",
    minutes: int | None = None,
) -> pd.DataFrame:
    """Canonical SLI rows: ``per_minute`` events each minute, ``bad[minute]`` of them bad."""
    count = int(period.duration / pd.Timedelta(minutes=1)) if minutes is None else minutes
    total = np.full(count, per_minute, dtype=np.int64)
    bad_events = np.zeros(count, dtype=np.int64)
    for minute, value in (bad or {}).items():
        bad_events[minute] = value
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(period.start, periods=count, freq="min").as_unit("ns"),
            "service": pd.Categorical([service] * count),
            "slo": pd.Categorical([name] * count),
            "good": total - bad_events,
            "total": total,
        }
    )


def report_for(sli: pd.DataFrame, slos: pd.DataFrame, period: Month, now=None) -> slo.SLOReport:
    return slo.slo_report(slo.build_grid(sli, slos, period), period, now=now)
