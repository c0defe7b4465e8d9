"""Toil ratios per team and on-call load (pages per 12-hour shift, off-hours share)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest

from reliability import frames
from reliability.config import BusinessHours
from reliability.metrics import oncall, toil
from reliability.period import Month

NOVEMBER = Month(2026, 11)  # 30 days in UTC: 720 hours, 60 shifts of 12 hours
TEAMS = {"checkout": "payments", "search": "discovery", "ledger": "payments", "docs": "idle"}


def worklog(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """A canonical work log from (team, category, hours) rows, all on 2026-11-02."""
    return pd.DataFrame(
        {
            "team": pd.Series([r[0] for r in rows], dtype="string"),
            "date": pd.Series(pd.Timestamp("2026-11-02"), index=range(len(rows))),
            "category": pd.Series([r[1] for r in rows], dtype="string"),
            "hours": pd.Series([r[2] for r in rows], dtype="float64"),
            "person": pd.Series(pd.NA, index=range(len(rows)), dtype="string"),
        }
    )


def page_frame(
    services: list[str],
    created: list[str],
    severities: list[str] | None = None,
    urgencies: list[str | None] | None = None,
) -> pd.DataFrame:
    """A canonical incidents frame: one incident per service, created at the given UTC times."""
    n = len(services)
    return pd.DataFrame(
        {
            "id": pd.Series([f"i{k}" for k in range(n)], dtype="string"),
            "service": pd.Series(services, dtype="string"),
            "severity": pd.Series(severities or ["SEV1"] * n, dtype="string"),
            "created_at": pd.to_datetime(pd.Series(created), utc=True).astype(
                "datetime64[ns, UTC]"
            ),
            "resolved_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
            "title": pd.Series(pd.NA, index=range(n), dtype="string"),
            "acknowledged_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
            "started_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
            "urgency": pd.Series(urgencies or [None] * n, dtype="string"),
            "caused_by": pd.Series(pd.NA, index=range(n), dtype="string"),
            "postmortem_url": pd.Series(pd.NA, index=range(n), dtype="string"),
        }
    )


# --- toil ----------------------------------------------------------------------------------


def test_toil_ratios_per_team_and_the_cap():
    log = worklog(
        [
            ("sre", "toil", 30.0),
            ("sre", "oncall", 25.0),
            ("sre", "project", 40.0),
            ("sre", "overhead", 5.0),
            ("platform", "toil", 20.0),
            ("platform", "toil", 40.0),
            ("platform", "project", 40.0),
            ("data", "project", 10.0),
            ("edge", "toil", 25.0),
            ("edge", "project", 25.0),
        ]
    )
    result = toil.toil_summary(log, ["sre", "ghost", "platform"])
    nan = np.nan
    expected = pd.DataFrame(
        {
            "team": pd.Series(["sre", "ghost", "platform", "data", "edge"], dtype="string"),
            "toil_hours": [30.0, nan, 60.0, 0.0, 25.0],
            "oncall_hours": [25.0, nan, 0.0, 0.0, 0.0],
            "project_hours": [40.0, nan, 40.0, 10.0, 25.0],
            "overhead_hours": [5.0, nan, 0.0, 0.0, 0.0],
            "total_hours": [100.0, nan, 100.0, 10.0, 50.0],
            "toil_ratio": [0.3, nan, 0.6, 0.0, 0.5],
            "operational_ratio": [0.55, nan, 0.6, 0.0, 0.5],
            # over the cap means strictly above 50%: edge sits exactly on it
            "over_cap": pd.Series([True, pd.NA, True, False, False], dtype="boolean"),
            "toil_over_cap": pd.Series([False, pd.NA, True, False, False], dtype="boolean"),
        }
    )
    tm.assert_frame_equal(result, expected)
    assert toil.TOIL_CAP == 0.5


def test_toil_of_a_team_that_logged_zero_hours_is_unknown():
    result = toil.toil_summary(worklog([("sre", "toil", 0.0)]))
    assert result.loc[0, "total_hours"] == 0.0
    assert np.isnan(result.loc[0, "toil_ratio"])
    assert result.loc[0, "over_cap"] is pd.NA


def test_toil_of_an_empty_work_log():
    empty = frames.empty(frames.WORKLOG)
    result = toil.toil_summary(empty)
    assert result.empty
    assert list(result.columns) == toil.TOIL_COLUMNS
    listed = toil.toil_summary(empty, ["sre"])
    assert listed["team"].tolist() == ["sre"]
    assert listed[["toil_hours", "total_hours", "toil_ratio"]].isna().all().all()


# --- on-call -------------------------------------------------------------------------------


def test_pages_per_shift_over_a_30_day_month():
    monday_10 = "2026-11-02T10:00Z"  # inside business hours in UTC
    services = ["checkout"] * 100 + ["ledger"] * 21 + ["search"] * 120
    frame = page_frame(services, [monday_10] * len(services))
    # not pages: low urgency, or no urgency and a third-level severity
    not_pages = page_frame(
        ["checkout", "checkout"], [monday_10] * 2, ["SEV1", "SEV3"], ["low", None]
    )
    incidents = pd.concat([frame, not_pages], ignore_index=True)
    result = oncall.oncall_load(
        incidents, TEAMS, NOVEMBER, "UTC", BusinessHours(), ["SEV1", "SEV2", "SEV3"]
    )
    expected = pd.DataFrame(
        {
            "team": pd.Series(["payments", "discovery", "idle"], dtype="string"),
            "pages": [121, 120, 0],
            "shifts": [60.0, 60.0, 60.0],
            "pages_per_shift": [121 / 60, 2.0, 0.0],
            "off_hours_pages": [0, 0, 0],
            "off_hours_share": [0.0, 0.0, np.nan],
            # the ceiling is two per shift: exactly two is not over it
            "over_limit": pd.Series([True, False, False], dtype="boolean"),
        }
    )
    tm.assert_frame_equal(result, expected)
    assert oncall.PAGES_PER_SHIFT_LIMIT == 2


def test_off_hours_share_in_new_york_including_a_weekend_page():
    new_york = Month(2026, 11, "America/New_York")  # DST ends 1 November: 721 hours
    created = [
        "2026-11-02T13:00Z",  # Monday 08:00 EST: before 9, off hours (13:00 in UTC)
        "2026-11-02T15:00Z",  # Monday 10:00 EST: business hours
        "2026-11-07T15:00Z",  # Saturday 10:00 EST: weekend, off hours
        "2026-11-04T21:59Z",  # Wednesday 16:59 EST: business hours
        "2026-11-04T22:00Z",  # Wednesday 17:00 EST: the end hour is excluded, off hours
        "2026-11-06T03:00Z",  # Thursday 22:00 EST (Friday in UTC): off hours
    ]
    frame = page_frame(["search"] * len(created), created)
    result = oncall.oncall_load(
        frame, {"search": "discovery"}, new_york, "America/New_York", BusinessHours(), None
    )
    row = result.iloc[0]
    assert row["team"] == "discovery"
    assert (row["pages"], row["off_hours_pages"]) == (6, 4)
    assert row["off_hours_share"] == 4 / 6
    assert row["shifts"] == 721 / 12
    assert row["pages_per_shift"] == 6 / (721 / 12)

    result = oncall.off_hours(frame["created_at"], "America/New_York", BusinessHours()).tolist()
    assert result == [True, False, True, False, True, True]
    # the same instants read in UTC: Monday 13:00 and 15:00 are inside, 21:59 is not
    result = oncall.off_hours(frame["created_at"], "UTC", BusinessHours()).tolist()
    assert result == [False, False, True, True, True, True]


def test_business_hours_come_from_the_config():
    created = ["2026-11-02T13:00Z", "2026-11-07T15:00Z"]  # Monday 08:00, Saturday 10:00 EST
    frame = page_frame(["search", "search"], created)
    six_days_from_8 = BusinessHours(start=8, end=18, weekdays=[0, 1, 2, 3, 4, 5])
    result = oncall.oncall_load(
        frame, {"search": "discovery"}, NOVEMBER, "America/New_York", six_days_from_8, None
    )
    assert result.loc[0, "off_hours_pages"] == 0
    assert result.loc[0, "off_hours_share"] == 0.0


def test_incidents_of_services_without_a_team_are_unassigned():
    frame = page_frame(["checkout", "mystery"], ["2026-11-02T10:00Z", "2026-11-03T02:00Z"])
    result = oncall.oncall_load(
        frame, {"checkout": "payments"}, NOVEMBER, "UTC", BusinessHours(), None
    )
    assert result["team"].tolist() == ["payments", "(unassigned)"]
    assert result["pages"].tolist() == [1, 1]
    assert result["off_hours_share"].tolist() == [0.0, 1.0]


def test_oncall_load_without_incidents():
    result = oncall.oncall_load(
        frames.empty(frames.INCIDENTS), TEAMS, NOVEMBER, "UTC", BusinessHours(), ["SEV1"]
    )
    assert result["team"].tolist() == ["payments", "discovery", "idle"]
    assert result["pages"].tolist() == [0, 0, 0]
    assert result["pages_per_shift"].tolist() == [0.0, 0.0, 0.0]
    assert result["off_hours_share"].isna().all()
    assert not result["over_limit"].any()


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_off_hours_pages_never_exceed_pages(timezone):
    hours = pd.date_range("2026-11-01", "2026-11-08", freq="37min", tz="UTC", inclusive="left")
    frame = page_frame(["search"] * len(hours), [t.isoformat() for t in hours])
    result = oncall.oncall_load(frame, {"search": "d"}, NOVEMBER, timezone, BusinessHours(), None)
    assert 0 < result.loc[0, "off_hours_pages"] < result.loc[0, "pages"] == len(hours)
