"""SLO arithmetic pinned against hand-computed values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slo_helpers import constant_traffic, report_for, slo_table

from reliability.metrics import slo
from reliability.metrics.policy import WORKBOOK, factor_from_share
from reliability.period import Month

SEPTEMBER = Month(2026, 9)  # 30 days
OCTOBER = Month(2026, 10)  # 31 days
FEBRUARY = Month(2026, 2)  # 28 days
DAY = 1440


def worked_example_rows(name: str) -> pd.DataFrame:
    """Four 1-minute slices with total/bad 1000/0, 1000/30, 10/5, 990/0."""
    totals, bads = [1000, 1000, 10, 990], [0, 30, 5, 0]
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(OCTOBER.start, periods=4, freq="min").as_unit("ns"),
            "service": pd.Categorical(["checkout"] * 4),
            "slo": pd.Categorical([name] * 4),
            "good": np.subtract(totals, bads),
            "total": totals,
        }
    )


@pytest.mark.parametrize(
    ("budgeting", "expected"),
    [("occurrences", 2965 / 3000), ("timeslices", 0.75), ("ratio_timeslices", 0.8675)],
)
def test_worked_example(budgeting, expected):
    slos = slo_table({"slo": budgeting, "budgeting": budgeting, "timeslice_target": 0.95})
    result = report_for(worked_example_rows(budgeting), slos, OCTOBER).table.iloc[0]
    assert result["sli"] == pytest.approx(expected, rel=1e-12)
    assert result["good"] == 2965
    assert result["total"] == 3000
    assert result["budget_consumed"] == pytest.approx((1 - expected) / 0.001)
    assert result["budget_remaining"] == pytest.approx(1 - (1 - expected) / 0.001)
    assert result["status"] == "missed"


def test_occurrences_worked_example_value():
    slos = slo_table({"slo": "occurrences"})
    result = report_for(worked_example_rows("occurrences"), slos, OCTOBER).table.iloc[0]
    assert result["sli"] == pytest.approx(0.9883333333333333)


@pytest.mark.parametrize(("period", "minutes"), [(SEPTEMBER, 43.2), (OCTOBER, 44.64)])
def test_allowed_full_outage_minutes_at_three_nines(period, minutes):
    result = report_for(constant_traffic(period, per_minute=100), slo_table({}), period).table
    assert result["allowed_bad_events"].iloc[0] / 100 == pytest.approx(minutes)
    assert np.isnan(result["allowed_bad_slices"].iloc[0])


def test_outage_of_the_whole_allowance_spends_the_budget_exactly():
    # 43.2 minutes of full outage in 30 days: 43 whole minutes and a fifth of the 44th.
    bad = dict.fromkeys(range(600, 643), 100) | {643: 20}
    result = report_for(constant_traffic(SEPTEMBER, bad=bad), slo_table({}), SEPTEMBER).table
    assert result["budget_consumed"].iloc[0] == pytest.approx(1.0)
    assert result["budget_remaining"].iloc[0] == pytest.approx(0.0)
    assert result["sli"].iloc[0] == pytest.approx(0.999)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (30, [14.4, 6.0, 3.0, 1.0]),
        (28, [13.44, 5.6, 2.8, 0.9333333]),
        (31, [14.88, 6.2, 3.1, 1.0333333]),
    ],
)
def test_burn_rate_factors(days, expected):
    windows = WORKBOOK.windows
    result = [
        factor_from_share(w.budget_share, pd.Timedelta(days=days), w.long_window) for w in windows
    ]
    assert result == pytest.approx(expected, rel=1e-6)
    assert [w.severity for w in windows] == ["page", "page", "ticket", "ticket"]


def test_alert_thresholds_do_not_change_with_the_length_of_the_month():
    """The replay raises what fixed production rules raise: 30-day factors in February too.

    1,000 events a minute at 99.9%, 14 bad a minute for 65 minutes on 5 February: a burn
    rate of 14, over February's own 1h factor (13.44) but under the rules' 14.4, so no page.
    """
    assert FEBRUARY.duration == pd.Timedelta(days=28)
    t0 = 5 * DAY
    bad = dict.fromkeys(range(t0, t0 + 65), 14)
    sli = constant_traffic(FEBRUARY, per_minute=1000, bad=bad, minutes=7 * DAY)
    result = report_for(sli, slo_table({}), FEBRUARY)
    assert result.alerts.empty
    assert WORKBOOK.windows[0].factor == 14.4


def test_burn_rate_series_by_hand():
    # 100 events a minute at 99.9%: one minute with 10 bad events.
    sli = constant_traffic(SEPTEMBER, bad={120: 10}, minutes=240)
    grid = slo.build_grid(sli, slo_table({}), SEPTEMBER)
    result = slo.burn_rate_series(grid, pd.Timedelta(minutes=5))[0]
    # Window ending at minute 120..124 holds 10 bad of 500 events: 0.02 / 0.001 = 20.
    assert result[119] == pytest.approx(0.0)
    assert result[120:125] == pytest.approx([20.0] * 5)
    assert result[125] == pytest.approx(0.0)
    # The first window of the data is clipped at its start: 1 minute, 100 events.
    assert result[0] == pytest.approx(0.0)
    assert np.isnan(result[300])  # no events after minute 240


def test_alert_replay_ten_minute_full_outage():
    """Hand-worked: 100 events/min, 99.9%, 30 days, full outage in minutes t0..t0+9.

    Page: 1h&5m fire from t0 (1 bad minute: 1/60/0.001 = 16.7 > 14.4) until the 5m window
    is clear (t0+14); 6h&30m keep firing while the 30m window holds a bad minute, up to
    t0+38: one episode of 39 minutes. Ticket: 1d needs 5 bad minutes (5/1440/0.001 = 3.47
    > 3), so from t0+4, until the 6h window is clear at t0+369: 365 minutes.
    """
    t0 = 10 * DAY
    bad = dict.fromkeys(range(t0, t0 + 10), 100)
    result = report_for(constant_traffic(SEPTEMBER, bad=bad), slo_table({}), SEPTEMBER)
    alerts = result.alerts.set_index("severity")
    start = SEPTEMBER.start + pd.Timedelta(days=10)
    assert alerts.loc["page", "start"] == start
    assert alerts.loc["page", "minutes"] == 39
    assert alerts.loc["ticket", "start"] == start + pd.Timedelta(minutes=4)
    assert alerts.loc["ticket", "minutes"] == 365
    assert result.table["page_alerts"].iloc[0] == 1
    assert result.table["ticket_alerts"].iloc[0] == 1


def test_no_alert_without_bad_events_or_without_traffic():
    sli = constant_traffic(SEPTEMBER, minutes=3 * DAY)
    result = report_for(sli, slo_table({}), SEPTEMBER)
    assert result.alerts.empty
    assert result.table["page_alerts"].iloc[0] == 0


def test_burndown_ends_at_budget_consumed_and_even_spend_is_linear():
    bad = {5 * DAY + 10: 100, 20 * DAY: 50}
    result = report_for(constant_traffic(SEPTEMBER, bad=bad), slo_table({}), SEPTEMBER)
    burndown = result.burndown
    assert len(burndown) == 30
    allowed = 0.001 * 100 * 30 * DAY
    assert burndown["budget_consumed"].iloc[4] == pytest.approx(0.0)
    assert burndown["budget_consumed"].iloc[5] == pytest.approx(100 / allowed)
    assert burndown["budget_consumed"].iloc[-1] == pytest.approx(150 / allowed)
    assert burndown["budget_consumed"].iloc[-1] == pytest.approx(
        result.table["budget_consumed"].iloc[0]
    )
    assert burndown["even_spend"].iloc[0] == pytest.approx(1 / 30)
    assert burndown["even_spend"].iloc[-1] == pytest.approx(1.0)
    assert burndown["day"].iloc[0] == pd.Timestamp("2026-09-01")


def test_burndown_days_follow_the_reporting_time_zone():
    period = Month(2026, 9, "America/New_York")
    result = report_for(constant_traffic(period, minutes=2 * DAY), slo_table({}), period)
    assert result.burndown["day"].iloc[0] == pd.Timestamp("2026-09-01")
    assert period.start == pd.Timestamp("2026-09-01 04:00", tz="UTC")


def test_budget_exhausted_on_the_day_it_ran_out():
    bad = dict.fromkeys(range(12 * DAY, 12 * DAY + 60), 100)  # 60 full minutes > 43.2
    result = report_for(constant_traffic(SEPTEMBER, bad=bad), slo_table({}), SEPTEMBER).table
    assert result["budget_exhausted_on"].iloc[0] == pd.Timestamp("2026-09-13", tz="UTC")
    assert result["status"].iloc[0] == "missed"
    assert pd.isna(result["projected_exhaustion_on"].iloc[0])


def test_projected_exhaustion_for_a_month_in_progress():
    # 10 of 30 days elapsed: budget projected as 3x the events so far. Burning half of that
    # in 10 days runs out at day 20 at the same pace.
    so_far = 10 * DAY
    total_so_far = 100 * so_far
    bad_events = int(0.5 * 0.001 * total_so_far * 3)  # 2160
    bad = dict.fromkeys(range(100, 100 + bad_events // 10), 10)
    sli = constant_traffic(SEPTEMBER, bad=bad, minutes=so_far)
    now = SEPTEMBER.start + pd.Timedelta(days=10)
    result = report_for(sli, slo_table({}), SEPTEMBER, now=now).table
    assert result["projected_exhaustion_on"].iloc[0] == SEPTEMBER.start + pd.Timedelta(days=20)


def test_no_projection_when_the_pace_lasts_the_month():
    sli = constant_traffic(SEPTEMBER, bad={100: 10}, minutes=10 * DAY)
    now = SEPTEMBER.start + pd.Timedelta(days=10)
    result = report_for(sli, slo_table({}), SEPTEMBER, now=now).table
    assert pd.isna(result["projected_exhaustion_on"].iloc[0])


def test_status_levels():
    slos = slo_table({"slo": "a"}, {"slo": "b"}, {"slo": "c"}, {"slo": "d"})
    sli = pd.concat(
        [
            constant_traffic(SEPTEMBER, name="a", minutes=DAY),  # nothing bad: met
            constant_traffic(SEPTEMBER, name="b", bad={0: 130}, minutes=DAY),  # 90% used
            constant_traffic(SEPTEMBER, name="c", bad={0: 100, 1: 100}, minutes=DAY),  # over
        ]
    )
    sli["slo"] = sli["slo"].astype("category")
    result = report_for(sli, slos, SEPTEMBER).table.set_index("slo")
    assert result.loc["a", "status"] == "met"
    assert result.loc["b", "status"] == "at_risk"
    assert result.loc["c", "status"] == "missed"
    assert result.loc["d", "status"] == "no_data"
    assert np.isnan(result.loc["d", "sli"])


def test_rows_of_unconfigured_slos_are_ignored():
    sli = pd.concat(
        [
            constant_traffic(SEPTEMBER, minutes=DAY),
            constant_traffic(SEPTEMBER, name="unknown", bad={0: 100}, minutes=DAY),
        ]
    )
    sli["slo"] = sli["slo"].astype("category")
    result = report_for(sli, slo_table({}), SEPTEMBER).table
    assert len(result) == 1
    assert result["total"].iloc[0] == 100 * DAY


@pytest.mark.parametrize("budgeting", ["occurrences", "timeslices", "ratio_timeslices"])
def test_rows_outside_the_month_are_ignored(budgeting):
    sli = constant_traffic(Month(2026, 8), bad={0: 100})
    slos = slo_table({"budgeting": budgeting, "timeslice_target": 0.9})
    result = report_for(sli, slos, SEPTEMBER).table
    assert result["status"].iloc[0] == "no_data"
    assert np.isnan(result["sli"].iloc[0])


def test_five_minute_steps_and_five_minute_timeslices():
    # Data every 5 minutes (a Prometheus step): 500 events each, one step 40% bad.
    stamps = pd.date_range(SEPTEMBER.start, periods=12, freq="5min").as_unit("ns")
    good = np.full(12, 500)
    good[3] = 300
    sli = pd.DataFrame(
        {
            "timestamp": stamps,
            "service": pd.Categorical(["checkout"] * 12),
            "slo": pd.Categorical(["availability"] * 12),
            "good": good,
            "total": 500,
        }
    )
    slos = slo_table({"budgeting": "timeslices", "timeslice_minutes": 5, "timeslice_target": 0.9})
    result = report_for(sli, slos, SEPTEMBER).table.iloc[0]
    assert result["sli"] == pytest.approx(11 / 12)
    assert result["allowed_bad_slices"] == pytest.approx(0.001 * 12)
    assert result["slices"] == 12
    assert result["bad_slices"] == 1
    assert np.isnan(result["allowed_bad_events"])
    # The request ratio beside the slice ratio: 200 slow requests out of 6,000.
    assert result["event_sli"] == pytest.approx(5800 / 6000)


def incident(**fields) -> dict:
    base = {
        "id": "INC-1",
        "service": "checkout",
        "severity": "SEV2",
        "title": "outage",
        "created_at": pd.NaT,
        "resolved_at": pd.NaT,
        "started_at": pd.NaT,
    }
    return base | fields


def incident_frame(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for column in ("created_at", "resolved_at", "started_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    return frame


def test_budget_attribution_by_hand():
    start = SEPTEMBER.start
    bad = dict.fromkeys(range(100, 110), 100) | dict.fromkeys(range(500, 505), 100)
    bad |= {2000: 50}  # burn no incident explains
    sli = constant_traffic(SEPTEMBER, bad=bad)
    grid = slo.build_grid(sli, slo_table({}), SEPTEMBER)
    report = slo.slo_report(grid, SEPTEMBER)
    incidents = incident_frame(
        incident(  # impact start given: its window is minutes 100..109
            id="INC-1",
            started_at=start + pd.Timedelta(minutes=100),
            created_at=start + pd.Timedelta(minutes=104),
            resolved_at=start + pd.Timedelta(minutes=110),
        ),
        incident(  # no started_at: window from created_at, so minutes 502..504 only
            id="INC-2",
            created_at=start + pd.Timedelta(minutes=502),
            resolved_at=start + pd.Timedelta(minutes=520),
        ),
        incident(  # overlaps INC-1 completely: counted once in the SLO's attributed total
            id="INC-3",
            created_at=start + pd.Timedelta(minutes=90),
            resolved_at=start + pd.Timedelta(minutes=120),
        ),
        incident(id="INC-4", service="search", created_at=start, resolved_at=start),
    )
    pairs, per_slo = slo.budget_attribution(grid, report, incidents, SEPTEMBER.end)
    allowed = 0.001 * 100 * 30 * DAY  # 4320 events
    shares = pairs.set_index("id")["budget_share"]
    assert shares["INC-1"] == pytest.approx(1000 / allowed)
    assert shares["INC-2"] == pytest.approx(300 / allowed)
    assert shares["INC-3"] == pytest.approx(1000 / allowed)
    assert "INC-4" not in shares  # search has no SLO here
    assert per_slo["attributed_budget"].iloc[0] == pytest.approx(1300 / allowed)
    assert per_slo["unattributed_budget"].iloc[0] == pytest.approx(250 / allowed)
    assert report.table["budget_consumed"].iloc[0] == pytest.approx(1550 / allowed)


def test_unresolved_incident_burns_until_the_end_of_the_period():
    start = SEPTEMBER.start
    sli = constant_traffic(SEPTEMBER, bad={40000: 100})
    grid = slo.build_grid(sli, slo_table({}), SEPTEMBER)
    report = slo.slo_report(grid, SEPTEMBER)
    incidents = incident_frame(incident(created_at=start + pd.Timedelta(minutes=30000)))
    pairs, _ = slo.budget_attribution(grid, report, incidents, SEPTEMBER.end)
    assert pairs["budget_share"].iloc[0] == pytest.approx(100 / 4320)


# Property tests: invariants that hold for any counts.

counts = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(lambda t: (max(t), min(t))),
    min_size=1,
    max_size=60,
)
methods = st.sampled_from(["occurrences", "timeslices", "ratio_timeslices"])


def frame_from_counts(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    total = np.array([p[0] for p in pairs])
    good = np.array([p[1] for p in pairs])
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(SEPTEMBER.start, periods=len(pairs), freq="min").as_unit(
                "ns"
            ),
            "service": pd.Categorical(["checkout"] * len(pairs)),
            "slo": pd.Categorical(["availability"] * len(pairs)),
            "good": good,
            "total": total,
        }
    )


def method_table(method: str) -> pd.DataFrame:
    return slo_table({"budgeting": method, "timeslice_target": 0.95, "timeslice_minutes": 1})


@settings(max_examples=40, deadline=None)
@given(pairs=counts, method=methods)
def test_sli_in_unit_interval_and_budget_identity(pairs, method):
    result = report_for(frame_from_counts(pairs), method_table(method), SEPTEMBER).table.iloc[0]
    if result["status"] == "no_data":
        assert np.isnan(result["sli"])
        return
    assert 0.0 <= result["sli"] <= 1.0
    assert result["budget_remaining"] == pytest.approx(1.0 - result["budget_consumed"])


@settings(max_examples=40, deadline=None)
@given(pairs=counts, method=methods, data=st.data())
def test_turning_a_bad_event_good_never_lowers_the_sli(pairs, method, data):
    bad_minutes = [i for i, (total, good) in enumerate(pairs) if good < total]
    if not bad_minutes:
        return
    minute = data.draw(st.sampled_from(bad_minutes))
    better = list(pairs)
    better[minute] = (pairs[minute][0], pairs[minute][1] + 1)
    before = report_for(frame_from_counts(pairs), method_table(method), SEPTEMBER).table
    after = report_for(frame_from_counts(better), method_table(method), SEPTEMBER).table
    assert after["sli"].iloc[0] >= before["sli"].iloc[0] - 1e-12


@settings(max_examples=25, deadline=None)
@given(pairs=counts, method=methods, seed=st.integers(0, 2**32 - 1))
def test_shuffling_rows_changes_nothing(pairs, method, seed):
    frame = frame_from_counts(pairs)
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    expected = report_for(frame, method_table(method), SEPTEMBER)
    result = report_for(shuffled, method_table(method), SEPTEMBER)
    pd.testing.assert_frame_equal(result.table, expected.table)
    pd.testing.assert_frame_equal(result.burndown, expected.burndown)
    pd.testing.assert_frame_equal(result.alerts, expected.alerts)


@pytest.mark.parametrize("step", [1, 5, 10, 15])
def test_alert_replay_does_not_split_episodes_at_coarse_steps(step):
    """A one-hour burn at rate 20 raises one page whatever the data's step."""
    stamps = pd.date_range(
        SEPTEMBER.start, SEPTEMBER.start + pd.Timedelta(days=2), freq=f"{step}min"
    )
    stamps = stamps[:-1].as_unit("ns")
    per_row = 100 * step
    minute = ((stamps - SEPTEMBER.start) // pd.Timedelta(minutes=1)).to_numpy()
    in_burn = (minute >= DAY) & (minute < DAY + 60)
    bad = np.where(in_burn, per_row * 20 // 1000, 0)
    sli = pd.DataFrame(
        {
            "timestamp": stamps,
            "service": pd.Categorical(["checkout"] * len(stamps)),
            "slo": pd.Categorical(["availability"] * len(stamps)),
            "good": per_row - bad,
            "total": per_row,
        }
    )
    result = report_for(sli, slo_table({}), SEPTEMBER)
    assert result.table["page_alerts"].iloc[0] == 1


def test_timezone_whose_clock_skips_midnight():
    """America/Santiago skips 00:00 on 6 September 2026: days still begin once each."""
    period = Month(2026, 9, "America/Santiago")
    result = report_for(constant_traffic(period, minutes=DAY), slo_table({}), period)
    assert len(result.burndown) == 30
    assert result.burndown["day"].iloc[5] == pd.Timestamp("2026-09-06")


def test_no_data_has_no_allowance():
    result = report_for(constant_traffic(Month(2026, 8)), slo_table({}), SEPTEMBER).table
    assert np.isnan(result["allowed_bad_events"].iloc[0])


def test_no_projection_once_the_budget_is_spent():
    bad = dict.fromkeys(range(100, 200), 100)  # 100 full minutes: over 3x a 10-day budget
    sli = constant_traffic(SEPTEMBER, bad=bad, minutes=10 * DAY)
    now = SEPTEMBER.start + pd.Timedelta(days=10)
    result = report_for(sli, slo_table({}), SEPTEMBER, now=now).table
    assert pd.isna(result["projected_exhaustion_on"].iloc[0])
    assert result["budget_exhausted_on"].iloc[0] == SEPTEMBER.start


# -- the alert replay reads the lookback before the month -----------------------------------

LOOKBACK = slo.alert_lookback()


def traffic(start: pd.Timestamp, minutes: int, per_minute: int = 745, bad=None) -> pd.DataFrame:
    """Canonical SLI rows from ``start``: ``per_minute`` events, ``bad[minute]`` of them bad."""
    bad_events = np.zeros(minutes, dtype=np.int64)
    for minute, value in (bad or {}).items():
        bad_events[minute] = value
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=minutes, freq="min").as_unit("ns"),
            "service": pd.Categorical(["checkout"] * minutes),
            "slo": pd.Categorical(["availability"] * minutes),
            "good": per_minute - bad_events,
            "total": np.full(minutes, per_minute, dtype=np.int64),
        }
    )


def replay(sli: pd.DataFrame, period: Month) -> slo.SLOReport:
    grid = slo.build_grid(sli, slo_table({}), period, lookback=LOOKBACK)
    return slo.slo_report(grid, period)


def test_the_lookback_is_the_longest_alert_window():
    assert LOOKBACK == pd.Timedelta(days=3)


def test_a_quiet_month_after_a_quiet_month_replays_no_alert():
    """2 bad requests of 745 in the first minute of October: a ticket over a window clipped
    at 00:00 (2/745/0.001 = 2.7 > 1 on the 3d and 6h windows), none with the lookback."""
    start = OCTOBER.start - LOOKBACK
    sli = traffic(start, int((OCTOBER.end - start) // pd.Timedelta(minutes=1)), bad={4320: 2})
    result = replay(sli, OCTOBER)
    assert result.alerts.empty
    assert result.table["ticket_alerts"].iloc[0] == 0
    assert pd.isna(result.table["alert_history_from"].iloc[0])


def test_a_new_slo_without_history_invents_no_alert_and_says_so():
    """The same two bad requests with no data before October: the windows reaching before
    the data are not evaluated, and the table says where the history begins."""
    sli = traffic(OCTOBER.start, 2 * DAY, bad={0: 2})
    result = replay(sli, OCTOBER)
    assert result.alerts.empty
    assert result.table["alert_history_from"].iloc[0] == OCTOBER.start


def test_an_outage_before_midnight_pages_from_the_first_minute_of_the_month():
    """A full outage from 23:50 on 30 September: the page began before October and is
    reported as firing from 00:00 on the 1st, marked as ongoing."""
    start = OCTOBER.start - LOOKBACK
    outage = {LOOKBACK // pd.Timedelta(minutes=1) - 10 + i: 745 for i in range(20)}
    sli = traffic(start, 4 * DAY, bad=outage)
    alerts = replay(sli, OCTOBER).alerts
    pages = alerts.loc[alerts["severity"] == "page"]
    assert len(pages) == 1
    assert pages["start"].iloc[0] == OCTOBER.start
    assert bool(pages["ongoing_at_start"].iloc[0])
    september = replay(sli, SEPTEMBER).alerts
    before = september.loc[september["severity"] == "page"]
    assert before["end"].iloc[0] == SEPTEMBER.end  # cut at the month's end, not resolved


def firing_minutes(alerts: pd.DataFrame, severity: str) -> set[pd.Timestamp]:
    """Every minute at which an episode of ``severity`` fires."""
    minutes: set[pd.Timestamp] = set()
    for row in alerts.loc[alerts["severity"] == severity].itertuples():
        minutes.update(pd.date_range(row.start, row.end, freq="min", inclusive="left"))
    return minutes


def one_replay(sli: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, severity: str):
    """The replay over ``[start, end)`` in one go, with the lookback before ``start``."""
    first = start - LOOKBACK
    columns = int((end - first) // pd.Timedelta(minutes=1))
    rows = sli.set_index("timestamp").reindex(
        pd.date_range(first, end, freq="min", inclusive="left")
    )
    total = rows["total"].fillna(0).to_numpy()[None, :columns]
    bad = (rows["total"] - rows["good"]).fillna(0).to_numpy()[None, :columns]
    present = rows["total"].notna().to_numpy()
    fired = slo.alert_firing(
        bad, total, np.array([0.999]), first_data=np.array([int(np.argmax(present))])
    )[severity][0]
    lead = int(LOOKBACK // pd.Timedelta(minutes=1))
    stamps = pd.date_range(first, periods=columns, freq="min")
    return set(stamps[lead:][fired[lead:]])


@settings(max_examples=25, deadline=None)
@given(
    outages=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=(61 + 3) * DAY - 1),  # start minute
            st.integers(min_value=1, max_value=600),  # length in minutes
            st.integers(min_value=1, max_value=745),  # bad requests a minute
        ),
        max_size=4,
    )
)
def test_two_adjacent_months_replay_as_one(outages):
    """Random outages anywhere in September and October (and the lookback before them):
    the alert minutes of the two months' replays together equal one replay over both."""
    start = SEPTEMBER.start - LOOKBACK
    minutes = int((OCTOBER.end - start) // pd.Timedelta(minutes=1))
    bad: dict[int, int] = {}
    for first, length, per_minute in outages:
        for minute in range(first, min(first + length, minutes)):
            bad[minute] = per_minute
    sli = traffic(start, minutes, bad=bad)
    september, october = replay(sli, SEPTEMBER).alerts, replay(sli, OCTOBER).alerts
    for severity in slo.ALERT_SEVERITIES:
        result = firing_minutes(september, severity) | firing_minutes(october, severity)
        expected = one_replay(sli, SEPTEMBER.start, OCTOBER.end, severity)
        assert result == expected


@pytest.mark.parametrize("step_minutes", [5, 10, 15, 30])
@pytest.mark.parametrize("policy_name", ["workbook", "pyrra"])
def test_the_replay_on_the_data_s_step_fires_at_the_same_minutes(step_minutes, policy_name):
    """Data on every ``step`` minutes from a phase: the window sums taken per step give, minute
    for minute, the firing of the sums taken per minute (the ``for`` of pyrra's windows too)."""
    from reliability.config import config_from_dict

    config = config_from_dict({"alert_policy": policy_name}, "x", Path("."))
    policy = config.alert_policies_by_name[policy_name]
    rng = np.random.default_rng(step_minutes)
    rows, minutes = 6, 5 * 1440 + 37
    for phase in (0, step_minutes - 1, step_minutes // 2):
        total = np.zeros((rows, minutes))
        bad = np.zeros((rows, minutes))
        columns = np.arange(phase, minutes, step_minutes)
        total[:, columns] = rng.integers(0, 400, (rows, len(columns)))
        burst = rng.random((rows, len(columns))) < 0.05
        bad[:, columns] = np.where(
            burst,
            np.floor(total[:, columns] * rng.random((rows, len(columns)))),
            rng.binomial(total[:, columns].astype(np.int64), 0.001),
        )
        objectives = rng.choice([0.99, 0.999, 0.9995], rows)
        first = np.maximum(np.argmax(total > 0, axis=1) - (step_minutes - 1), 0)
        step = pd.Timedelta(minutes=step_minutes)
        assert slo.common_phase(total > 0, step) == phase
        by_minute = slo.window_firing(bad, total, objectives, policy, step, first)
        by_step = slo.window_firing(bad, total, objectives, policy, step, first, phase=phase)
        assert any(fired.any() for fired in by_minute)
        for expected, got in zip(by_minute, by_step, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_data_off_its_step_has_no_common_phase():
    present = np.zeros((2, 60), dtype=bool)
    present[0, ::5] = True
    present[1, 2::5] = True  # another phase
    assert slo.common_phase(present, pd.Timedelta(minutes=5)) is None
    assert slo.common_phase(present[:1], pd.Timedelta(minutes=5)) == 0
    assert slo.common_phase(present[:1], pd.Timedelta(minutes=1)) is None


def test_firing_runs_by_hand():
    """Runs touching either end of a row, one-minute runs, and a row that never fires."""
    firing = np.array(
        [
            [1, 1, 0, 0, 1, 0, 1, 1],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 1, 1, 1, 1, 1, 1, 1],
        ],
        dtype=bool,
    )
    row, first, after = slo._episodes(firing)
    assert row.tolist() == [0, 0, 0, 2]
    assert first.tolist() == [0, 4, 6, 1]
    assert after.tolist() == [2, 5, 8, 8]
    empty = slo._episodes(np.zeros((2, 0), dtype=bool))
    assert [part.size for part in empty] == [0, 0, 0]


def test_an_episode_takes_the_tier_of_its_fastest_window_by_hand():
    """Page windows of the Workbook: 1h&5m is P1, 6h&30m is P2. Two minutes of lookback;
    row 0 has a P2-only episode (minutes 0-2 of the month) and one where 1h&5m fires inside
    it (3-7); row 1 has an episode begun in the lookback where only 1h&5m fires."""
    lead, minutes = 2, 10
    fast = np.zeros((2, lead + minutes), dtype=bool)
    slow = np.zeros((2, lead + minutes), dtype=bool)
    slow[0, lead + 0 : lead + 3] = True
    slow[0, lead + 3 : lead + 8] = True  # contiguous with the first: one episode 0..8
    fast[0, lead + 5] = True
    slow[0, lead + 9] = True  # a second episode, P2 only
    fast[1, 0 : lead + 4] = True
    ticket = np.zeros((2, lead + minutes), dtype=bool)
    fired = [fast, slow, ticket, ticket]
    row, first, after, tier, ongoing = slo._severity_episodes(WORKBOOK, fired, "page", lead)
    assert row.tolist() == [0, 0, 1]
    assert first.tolist() == [0, 9, 0]
    assert after.tolist() == [8, 10, 4]
    assert tier.tolist() == ["P1", "P2", "P1"]
    assert ongoing.tolist() == [False, False, True]


def test_whole_counts_by_hand():
    counts = np.array([0, 3, 7], dtype=np.int64)
    assert slo.whole_counts(counts, counts)
    assert slo.whole_counts(counts[:0], counts[:0])
    assert not slo.whole_counts(counts.astype(float), counts)  # a float column may hold 0.5
    assert not slo.whole_counts(counts - 1, counts)  # a negative count
    huge = np.array([2**51 + 1, 1], dtype=np.int64)
    assert slo.whole_counts(huge[:1], huge[:1])  # (2^51 + 1) * 2 values <= 2^53
    assert not slo.whole_counts(huge, huge)  # (2^51 + 1) * 4 values > 2^53


def test_a_grid_of_whole_counts_says_so():
    sli = constant_traffic(SEPTEMBER, bad={3: 2}, minutes=60)
    assert slo.build_grid(sli, slo_table({}), SEPTEMBER).whole
    fractional = sli.astype({"good": float, "total": float})
    assert not slo.build_grid(fractional, slo_table({}), SEPTEMBER).whole


@pytest.mark.parametrize("step_minutes", [1, 5, 15])
@pytest.mark.parametrize("policy_name", ["workbook", "pyrra"])
def test_window_sums_in_integers_fire_at_the_same_minutes(step_minutes, policy_name):
    """Whole counts: the running sums taken in integers give the firing of the float sums,
    minute for minute, per minute and per step, with and without a history start."""
    from reliability.config import config_from_dict

    config = config_from_dict({"alert_policy": policy_name}, "x", Path("."))
    policy = config.alert_policies_by_name[policy_name]
    rng = np.random.default_rng(step_minutes + 100)
    rows, minutes = 5, 5 * 1440 + 11
    total = np.zeros((rows, minutes))
    columns = np.arange(2 % step_minutes, minutes, step_minutes)
    total[:, columns] = rng.integers(0, 2000, (rows, len(columns)))
    bad = np.floor(total * np.where(rng.random(total.shape) < 0.03, rng.random(total.shape), 0))
    objectives = rng.choice([0.99, 0.999, 0.9995], rows)
    step = pd.Timedelta(minutes=step_minutes)
    phase = slo.common_phase(total > 0, step)
    first = np.array([0, 0, 700, 3000, minutes])
    for first_data in (None, first):
        floats = slo.window_firing(bad, total, objectives, policy, step, first_data, phase)
        integers = slo.window_firing(
            bad, total, objectives, policy, step, first_data, phase, whole=True
        )
        assert any(fired.any() for fired in floats)
        for expected, got in zip(floats, integers, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_burn_rates_of_whole_counts_are_the_float_sums():
    rng = np.random.default_rng(3)
    rows, minutes = 4, 3 * 1440
    total = rng.integers(0, 500, (rows, minutes))
    total[:, 100:400] = 0  # hours without events: NaN
    bad = rng.binomial(total, 0.01)
    stamps = pd.date_range(SEPTEMBER.start, periods=minutes, freq="min").as_unit("ns")
    names = [f"s{i}" for i in range(rows)]
    sli = pd.DataFrame(
        {
            "timestamp": np.tile(stamps, rows),
            "service": pd.Categorical(np.repeat(names, minutes)),
            "slo": pd.Categorical(["availability"] * (rows * minutes)),
            "good": (total - bad).ravel(),
            "total": total.ravel(),
        }
    )
    grid = slo.build_grid(sli, slo_table(*({"service": name} for name in names)), SEPTEMBER)
    assert grid.whole
    floats = dataclasses.replace(grid, whole=False)
    for window in (pd.Timedelta(minutes=5), pd.Timedelta(hours=1), pd.Timedelta(days=40)):
        expected = slo.burn_rate_series(floats, window)
        np.testing.assert_array_equal(slo.burn_rate_series(grid, window), expected)
        assert np.isnan(expected[:, 399]).all() == (window <= pd.Timedelta(minutes=300))


def test_rows_in_grid_order_shuffled_or_sharing_a_minute_give_the_same_grid():
    """A sorted file, one row per minute (every cell, or with gaps), lays its counts as they
    are; shuffled rows, or two rows in one minute, are summed: the same grid either way."""
    dense = constant_traffic(SEPTEMBER, bad={3: 2, 7: 100})
    gaps = dense.drop(index=[5, 6, 100]).reset_index(drop=True)
    for sli in (dense, gaps):
        grid = slo.build_grid(sli, slo_table({}), SEPTEMBER)
        shuffled = slo.build_grid(sli.sample(frac=1.0, random_state=1), slo_table({}), SEPTEMBER)
        for part in ("good_all", "total_all", "present_all"):
            np.testing.assert_array_equal(getattr(grid, part), getattr(shuffled, part), strict=True)
    grid = slo.build_grid(gaps, slo_table({}), SEPTEMBER)
    assert grid.total[0, 4:8].tolist() == [100, 0, 0, 100]
    assert grid.present[0, 4:8].tolist() == [True, False, False, True]
    assert grid.good[0, 7] == 0
    split = pd.concat([dense.iloc[:10], dense.iloc[[7]]])
    assert slo.build_grid(split, slo_table({}), SEPTEMBER).total[0, 7] == 200


def test_each_event_finds_its_slo_by_name_by_hand():
    """Categorical or plain names; an unknown SLO, an unknown service and a missing name
    find no row."""
    table = slo_table({}, {"slo": "latency"}, {"service": "search"})
    names = {
        "service": ["checkout", "checkout", "search", "search", "billing", None],
        "slo": ["latency", "availability", "availability", "latency", "availability", "x"],
    }
    plain = pd.DataFrame(names)
    expected = [1, 0, 2, -1, -1, -1]
    assert slo._row_of_each_event(plain, table).tolist() == expected
    categorical = plain.astype({"service": "category", "slo": "category"})
    assert slo._row_of_each_event(categorical, table).tolist() == expected


def test_alert_episodes_are_listed_by_start_service_and_slo():
    """Episodes found in any order (each severity and policy a batch of its own) are listed
    by start, then service and slo as text (not the table's order: "b" after "a", "x10"
    before "x9"), ties in the order found: the frame of the episodes as found, sorted by
    those columns; a tier no window gave is missing."""
    table = pd.DataFrame(
        {"service": ["b", "a", "b", "a"], "slo": ["x9", "x9", "x10", "x10"], "objective": 0.999}
    )
    grid = slo.SLIGrid(table, SEPTEMBER.start, *(np.zeros((4, 10)),) * 2, np.zeros((4, 10), bool))
    rng = np.random.default_rng(1)
    batches = []
    kinds = [("page", "workbook", 150), ("ticket", "pyrra", 0), ("ticket", "workbook", 150)]
    for severity, policy, count in [*kinds, ("page", "pyrra", 100)]:
        row, first = rng.integers(0, 4, count), rng.integers(0, 6, count)
        tier = rng.choice(np.array(["P1", "P2", "P3", None], dtype=object), count)
        ongoing = rng.random(count) < 0.5
        batches.append(
            (row, first, first + rng.integers(1, 4, count), severity, tier, policy, ongoing)
        )
    row, first, after, tier, ongoing = (
        np.concatenate([batch[k] for batch in batches]) for k in (0, 1, 2, 4, 6)
    )
    labels = [np.concatenate([[b[k]] * b[0].size for b in batches]).astype(object) for k in (3, 5)]
    found = pd.DataFrame(
        {
            "service": table["service"].to_numpy()[row],
            "slo": table["slo"].to_numpy()[row],
            "severity": labels[0],
            "tier": tier,
            "alert_policy": labels[1],
            "start": SEPTEMBER.start + pd.to_timedelta(first, "min"),
            "end": SEPTEMBER.start + pd.to_timedelta(after, "min"),
            "minutes": after - first,
            "ongoing_at_start": ongoing,
        }
    )
    expected = found.sort_values(["start", "service", "slo"], ignore_index=True)
    listed = slo._alerts_frame(table, grid, batches)
    pd.testing.assert_frame_equal(listed, expected, check_exact=True)
    assert (listed["service"].iloc[0], listed["slo"].iloc[0]) == ("a", "x10")
    assert listed["tier"].isna().any()
    empty = slo._alerts_frame(table, grid, [])
    assert empty.empty
    assert list(empty.columns) == list(expected.columns)
