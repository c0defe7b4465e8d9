"""The SLI per day and the burn rate per hour, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reliability.metrics import daily, slo
from reliability.metrics.policy import WORKBOOK, AlertPolicy, AlertWindow
from reliability.period import Month
from tests.slo_helpers import constant_traffic, slo_table

FEBRUARY = Month(2026, 2)  # 28 days, UTC
DAY = 1440


def _grid(sli: pd.DataFrame, slos: pd.DataFrame, period: Month = FEBRUARY) -> slo.SLIGrid:
    return slo.build_grid(sli, slos, period)


def test_daily_sli_of_an_occurrences_slo_is_each_days_event_ratio():
    # 100 events a minute = 144,000 a day. Day 1: 144 bad -> 1 - 144/144000 = 0.999.
    # Day 3: 288 bad in one minute and 144 in another -> 1 - 432/144000 = 0.997.
    bad = {10: 144, 2 * DAY + 5: 288, 2 * DAY + 900: 144}
    sli = constant_traffic(FEBRUARY, bad=bad)
    frame = daily.daily_sli(_grid(sli, slo_table({})), FEBRUARY)
    assert len(frame) == 28
    assert list(frame.columns) == ["service", "slo", "day", "sli", "objective"]
    assert frame["day"].iloc[0] == pd.Timestamp("2026-02-01")
    assert frame["day"].iloc[-1] == pd.Timestamp("2026-02-28")
    assert frame["sli"].iloc[0] == pytest.approx(0.999)
    assert frame["sli"].iloc[1] == 1.0
    assert frame["sli"].iloc[2] == pytest.approx(0.997)
    assert (frame["objective"] == 0.999).all()


def test_daily_sli_of_a_timeslice_slo_is_each_days_share_of_good_slices():
    # 10-minute slices, target 0.95: 144 slices a day. Day 1: minutes 0 and 15 have 10 of
    # 100 events bad -> slices 0 and 1 have 990/1000 good (0.99, good); minute 30 has 100 bad
    # -> slice 3 has 900/1000 (bad). One bad slice of 144: 1 - 1/144.
    sli = constant_traffic(FEBRUARY, bad={0: 10, 15: 10, 30: 100})
    slos = slo_table({"budgeting": "timeslices", "timeslice_minutes": 10, "timeslice_target": 0.95})
    frame = daily.daily_sli(_grid(sli, slos), FEBRUARY)
    assert frame["sli"].iloc[0] == pytest.approx(1 - 1 / 144)
    assert frame["sli"].iloc[1] == 1.0


def test_daily_sli_agrees_with_the_months_sli_weighted_by_days():
    sli = constant_traffic(FEBRUARY, bad={7: 50, 3 * DAY: 20, 20 * DAY + 3: 100})
    grid = _grid(sli, slo_table({}))
    days = daily.daily_sli(grid, FEBRUARY)
    month = slo.slo_report(grid, FEBRUARY).table
    # Every day has the same events, so the month's SLI is the mean of the days'.
    assert days["sli"].mean() == pytest.approx(month["sli"].iloc[0])


def test_a_day_without_events_is_a_gap_not_a_perfect_day():
    # Data only for the first two days.
    sli = constant_traffic(FEBRUARY, bad={DAY + 1: 100}, minutes=2 * DAY)
    frame = daily.daily_sli(_grid(sli, slo_table({})), FEBRUARY)
    assert frame["sli"].iloc[0] == 1.0
    assert frame["sli"].iloc[1] == pytest.approx(1 - 100 / 144_000)
    assert frame["sli"].iloc[2:].isna().all()


def test_days_follow_the_configured_time_zone():
    # New York in March 2026: the clocks go forward on the 8th, so that day has 23 hours.
    period = Month(2026, 3, "America/New_York")
    sli = constant_traffic(period)
    frame = daily.daily_sli(_grid(sli, slo_table({}), period), period)
    assert len(frame) == 31
    assert frame["day"].iloc[7] == pd.Timestamp("2026-03-08")
    assert (frame["sli"] == 1.0).all()


def test_hourly_burn_rate_is_the_hours_bad_share_over_the_budget():
    # Objective 99.9%: budget 0.001. Hour 0: 60 bad of 6,000 -> 0.01 / 0.001 = 10.
    # Hour 5: 864 bad (minute 300) of 6,000 -> 0.144 / 0.001 = 144.
    sli = constant_traffic(FEBRUARY, bad={0: 30, 59: 30, 300: 864})
    frame = daily.hourly_burn_rate(_grid(sli, slo_table({})))
    assert len(frame) == 28 * 24
    assert list(frame.columns) == ["service", "slo", "hour", "burn_rate"]
    assert frame["hour"].iloc[0] == pd.Timestamp("2026-02-01", tz="UTC")
    assert frame["hour"].iloc[5] == pd.Timestamp("2026-02-01 05:00", tz="UTC")
    assert frame["burn_rate"].iloc[0] == pytest.approx(10.0)
    assert frame["burn_rate"].iloc[1] == 0.0
    assert frame["burn_rate"].iloc[5] == pytest.approx(144.0)


def test_hourly_burn_rate_matches_the_one_hour_window_at_each_hours_end():
    rng = np.random.default_rng(7)
    bad = {
        int(m): int(b)
        for m, b in zip(rng.integers(0, 28 * DAY, 300), rng.integers(1, 90, 300), strict=True)
    }
    grid = _grid(constant_traffic(FEBRUARY, bad=bad), slo_table({"objective": 0.99}))
    hourly = daily.hourly_burn_rate(grid)["burn_rate"].to_numpy()
    window = slo.burn_rate_series(grid, pd.Timedelta(hours=1))[0]
    np.testing.assert_allclose(hourly, window[59::60])


def test_an_hour_without_events_has_no_burn_rate():
    sli = constant_traffic(FEBRUARY, minutes=90)
    frame = daily.hourly_burn_rate(_grid(sli, slo_table({})))
    assert frame["burn_rate"].iloc[:2].tolist() == [0.0, 0.0]
    assert frame["burn_rate"].iloc[2:].isna().all()


def test_series_of_several_slos_come_one_after_the_other():
    slos = slo_table({}, {"service": "search", "objective": 0.99})
    sli = pd.concat(
        [
            constant_traffic(FEBRUARY, bad={0: 60}),
            constant_traffic(FEBRUARY, bad={0: 60}, service="search"),
        ],
        ignore_index=True,
    )
    grid = _grid(sli, slos)
    burn = daily.hourly_burn_rate(grid)
    first = burn.groupby("service")["burn_rate"].first()
    # 60 of 6,000 bad = 1%: 10x a 0.1% budget, 1x a 1% budget.
    assert first["checkout"] == pytest.approx(10.0)
    assert first["search"] == pytest.approx(1.0)
    days = daily.daily_sli(grid, FEBRUARY)
    assert days.groupby("service").size().tolist() == [28, 28]


def test_each_slo_gets_the_thresholds_of_its_alert_policy():
    fast = AlertPolicy(
        "fast",
        (
            AlertWindow("page", pd.Timedelta(minutes=30), pd.Timedelta(minutes=5), 20.0),
            AlertWindow("ticket", pd.Timedelta(hours=6), pd.Timedelta(minutes=30), 2.0),
        ),
    )
    slos = slo_table({}, {"service": "search"})
    table = daily.slo_thresholds(
        slos, lambda service, name: fast if service == "search" else WORKBOOK
    )
    checkout = table.loc[table["service"] == "checkout"]
    assert checkout["severity"].tolist() == ["page", "page", "ticket", "ticket"]
    assert checkout["factor"].tolist() == pytest.approx([14.4, 6.0, 3.0, 1.0])
    assert checkout["long_window"].iloc[0] == pd.Timedelta(hours=1)
    search = table.loc[table["service"] == "search"]
    assert search["factor"].tolist() == [20.0, 2.0]
    assert (search["slo"] == "availability").all()


def test_without_a_policy_every_slo_has_the_workbooks_thresholds():
    table = daily.slo_thresholds(slo_table({}))
    assert table["factor"].tolist() == pytest.approx([14.4, 6.0, 3.0, 1.0])
    assert all(math.isfinite(f) for f in table["factor"])
