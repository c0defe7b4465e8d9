"""Six-month trends: every figure the trend charts draw, and gaps (never zeros) for months
without the data for it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from reliability.metrics.incidents import DurationStats, ResponseSummary
from reliability.metrics.trends import trend_frame
from reliability.period import Month
from reliability.report import figures
from reliability.results import MonthlyMetrics


def _stats(median: float) -> DurationStats:
    return DurationStats(n=4, median=median, p90=median * 2, mean=median, ci_low=None, ci_high=None)


def _full_month(month: int) -> MonthlyMetrics:
    slos = pd.DataFrame(
        {
            "service": ["checkout", "checkout", "search"],
            "slo": ["availability", "latency", "availability"],
            "status": ["met", "missed", "at_risk"],
            "budget_remaining": [0.8, -0.2, 0.1],
            "budget_consumed": [0.2, 1.2, 0.9],  # as every month's SLO rows carry both
        }
    )
    response = ResponseSummary(
        count=4,
        unresolved=0,
        mtta=_stats(6.0),
        mttr=_stats(90.0),
        by_severity=pd.DataFrame(),
        by_service=pd.DataFrame(),
    )
    toil = pd.DataFrame({"team": ["payments"], "total_hours": [100.0], "toil_hours": [30.0]})
    fleet = {
        "deployments": 40,
        "deployments_per_week": 40 / (30 / 7),
        "lead_time_median_hours": 5.5,
        "change_failure_rate": 0.1,
        "recovery_median_minutes": 45.0,
    }
    return MonthlyMetrics(
        period=Month(2026, month), slos=slos, response=response, fleet_delivery=fleet, toil=toil
    )


def test_a_month_with_every_input_fills_every_trend_figure():
    (row,) = trend_frame([_full_month(9)]).to_dict(orient="records")
    assert row["month"] == "2026-09"
    assert row["slos_met"] == 2  # met and at risk both kept the objective
    assert row["slos_with_data"] == 3
    assert row["mtta_median_minutes"] == 6.0
    assert row["mttr_median_minutes"] == 90.0
    assert row["deployments_per_week"] == pytest.approx(9.333, abs=1e-3)
    assert row["lead_time_median_hours"] == 5.5
    assert row["change_failure_rate"] == 0.1
    assert row["recovery_median_minutes"] == 45.0
    assert row["toil_ratio"] == pytest.approx(0.3)


def test_a_month_without_incident_delivery_or_toil_data_is_a_gap_not_zero():
    empty = MonthlyMetrics(period=Month(2026, 8))
    frame = trend_frame([empty, _full_month(9)])
    gap = frame.iloc[0]
    for column in (
        "slos_met",
        "incidents",
        "mtta_median_minutes",
        "mttr_median_minutes",
        "deployments_per_week",
        "lead_time_median_hours",
        "change_failure_rate",
        "recovery_median_minutes",
        "toil_ratio",
    ):
        assert gap[column] is None or math.isnan(gap[column]), column
    figure = figures.trends(frame)
    for trace in figure.data:
        assert trace.y[0] is None
        assert trace.y[1] is not None


def test_a_month_whose_slos_have_no_data_is_unknown_not_none_met():
    month = _full_month(9)
    month.slos = month.slos.assign(status="no_data")
    row = trend_frame([month]).iloc[0]
    assert row["slos_met"] is None
    assert row["slos_with_data"] is None
