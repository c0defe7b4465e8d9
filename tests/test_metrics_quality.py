"""Data-quality findings: gaps in SLI data and what incomplete records do to the numbers."""

from __future__ import annotations

import pandas as pd
import pytest
from slo_helpers import constant_traffic, slo_table

from reliability.metrics import quality, slo
from reliability.period import Month

SEPTEMBER = Month(2026, 9)
MINUTES = 30 * 1440


def test_per_minute_data_with_one_gap():
    sli = constant_traffic(SEPTEMBER)
    sli = sli.drop(index=range(1000, 1020)).reset_index(drop=True)  # 20 minutes missing
    grid = slo.build_grid(sli, slo_table({}), SEPTEMBER)
    result = quality.sli_coverage(grid).iloc[0]
    assert result["step_minutes"] == 1
    assert result["expected_points"] == MINUTES
    assert result["points"] == MINUTES - 20
    assert result["missing_minutes"] == 20
    assert result["gaps"] == 1
    assert result["longest_gap_minutes"] == 20
    assert result["coverage"] == pytest.approx((MINUTES - 20) / MINUTES)


def test_five_minute_steps_missing_at_the_end_and_in_the_middle():
    stamps = pd.date_range(SEPTEMBER.start, SEPTEMBER.end, freq="5min", inclusive="left")
    keep = [i for i in range(len(stamps)) if i not in (10, 11, 12) and i < len(stamps) - 2]
    sli = pd.DataFrame(
        {
            "timestamp": stamps[keep].as_unit("ns"),
            "service": pd.Categorical(["checkout"] * len(keep)),
            "slo": pd.Categorical(["availability"] * len(keep)),
            "good": 10,
            "total": 10,
        }
    )
    grid = slo.build_grid(sli, slo_table({}), SEPTEMBER)
    result = quality.sli_coverage(grid).iloc[0]
    assert result["step_minutes"] == 5
    assert result["expected_points"] == MINUTES // 5
    assert result["missing_minutes"] == 25
    assert result["gaps"] == 2
    assert result["longest_gap_minutes"] == 15


def test_an_slo_without_data_is_one_gap_the_length_of_the_month():
    grid = slo.build_grid(
        constant_traffic(SEPTEMBER, minutes=10), slo_table({"slo": "x"}), SEPTEMBER
    )
    result = quality.sli_coverage(grid).iloc[0]
    assert result["points"] == 0
    assert result["missing_minutes"] == MINUTES
    assert result["coverage"] == 0.0


def test_a_month_in_progress_expects_data_only_until_now():
    sli = constant_traffic(SEPTEMBER, minutes=1440)
    grid = slo.build_grid(sli, slo_table({}), SEPTEMBER)
    now = SEPTEMBER.start + pd.Timedelta(days=1)
    result = quality.sli_coverage(grid, until=now).iloc[0]
    assert result["missing_minutes"] == 0
    assert result["coverage"] == 1.0


def test_findings_name_each_kind_of_gap_and_its_effect():
    coverage = pd.DataFrame(
        [
            {
                "service": "a",
                "slo": "x",
                "missing_minutes": 20,
                "gaps": 1,
                "longest_gap_minutes": 20,
                "coverage": 0.99,
            },
            {
                "service": "b",
                "slo": "x",
                "missing_minutes": 0,
                "gaps": 0,
                "longest_gap_minutes": 0,
                "coverage": 1.0,
            },
        ]
    )
    incidents = pd.DataFrame(
        {
            "service": pd.Series(["a", "a", "b"], dtype="string"),
            "acknowledged_at": pd.to_datetime([None, "2026-09-01T00:00Z", None], utc=True),
            "resolved_at": pd.to_datetime(
                ["2026-09-01T00:00Z", None, "2026-09-01T00:00Z"], utc=True
            ),
            "severity": pd.Series(["SEV1", "SEV2", "SEV2"], dtype="string"),
            "caused_by": pd.Series([None, "D-1", None], dtype="string"),
        }
    )
    deployments = pd.DataFrame(
        {
            "id": pd.Series(["D-1", "D-2", "D-3"], dtype="string"),
            "service": pd.Series(["a", "b", "b"], dtype="string"),
            "commit_at": pd.to_datetime([None, None, None], utc=True),
            "environment": pd.Series([None, "production", "staging"], dtype="string"),
        }
    )
    result = quality.data_quality_findings(
        coverage, incidents, deployments, service_teams={"a": "payments", "b": "search"}
    ).set_index(["finding", "service"])
    assert result.loc[("SLI data gaps (x)", "a"), "count"] == 1
    assert result.loc[("SLI data gaps (x)", "a"), "team"] == "payments"
    assert "covers 99.0% of the month" in result.loc[("SLI data gaps (x)", "a"), "effect"]
    assert ("SLI data gaps (x)", "b") not in result.index
    assert result.loc[("Incidents without acknowledgement", "a"), "count"] == 1
    assert result.loc[("Incidents without acknowledgement", "b"), "count"] == 1
    assert result.loc[("Incidents without resolution", "a"), "count"] == 1
    # Production deployments only: the staging one has no lead time to lose.
    assert result.loc[("Deployments without commit time", "a"), "count"] == 1
    assert result.loc[("Deployments without commit time", "b"), "count"] == 1
    assert "lead time" in result.loc[("Deployments without commit time", "b"), "effect"]


def test_findings_for_records_that_reference_what_is_not_there():
    incidents = pd.DataFrame(
        {
            "service": pd.Series(["a", "b"], dtype="string"),
            "acknowledged_at": pd.to_datetime(["2026-09-01T02:00Z", None], utc=True),
            "resolved_at": pd.to_datetime(["2026-09-01T01:00Z", None], utc=True),
            "severity": pd.Series(["SEV1", "P1"], dtype="string"),
            "caused_by": pd.Series(["D-9", "D-1"], dtype="string"),
        }
    )
    deployments = pd.DataFrame(
        {
            "id": pd.Series(["D-1", "D-2", "D-3"], dtype="string"),
            "service": pd.Series(["a", "a", "b"], dtype="string"),
            "commit_at": pd.to_datetime(["2026-09-01T00:00Z"] * 3, utc=True),
            "environment": pd.Series(["Production", "staging", None], dtype="string"),
        }
    )
    result = quality.data_quality_findings(
        None, incidents, deployments, severities=["SEV1", "SEV2"]
    ).set_index(["finding", "service"])["count"]
    assert result[("Incidents naming an unknown deployment (caused_by)", "a")] == 1
    assert result[("Incidents with a severity not in the configured list", "b")] == 1
    assert result[("Incidents acknowledged after they were resolved", "a")] == 1
    assert result[("Deployments outside production", "a")] == 1


def test_fleet_wide_findings_have_no_service_and_notes_no_count():
    now = pd.Timestamp("2026-10-10T12:00Z")
    result = quality.data_quality_findings(
        None,
        None,
        None,
        future_rows={"incidents": 3, "deployments": 40, "worklog": 0, "metrics": 1},
        now=now,
        notes=["Prometheus warned about a slow query."],
    )
    assert result["service"].isna().all()
    future = result.loc[result["finding"] == "Rows dated after now left out"].iloc[0]
    assert future["count"] == 44
    assert future["effect"].startswith("3 incidents, 40 deployments, 1 SLI row dated after now")
    note = result.loc[result["finding"].str.startswith("Source: ")].iloc[0]
    assert pd.isna(note["count"])
