"""Data kept on its own step (``SLIGrid.step``): hand-checked values, and every figure equal,
to the last bit, to the one the same data laid on minutes gives."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from slo_helpers import slo_table

from reliability.config import config_from_dict
from reliability.metrics import alerts, daily, quality, slo
from reliability.metrics.policy import WORKBOOK
from reliability.period import Month

SEPTEMBER = Month(2026, 9)
PYRRA = config_from_dict({"alert_policy": "pyrra"}, "x", Path(".")).alert_policies_by_name["pyrra"]
POLICIES = {"workbook": WORKBOOK, "pyrra": PYRRA}


def points(
    start: pd.Timestamp, count: int, step: int, total, bad, name: str = "availability"
) -> pd.DataFrame:
    """Canonical SLI rows every ``step`` minutes from ``start``."""
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=count, freq=f"{step}min").as_unit("ns"),
            "service": pd.Categorical(["checkout"] * count),
            "slo": pd.Categorical([name] * count),
            "good": np.asarray(total) - np.asarray(bad),
            "total": np.asarray(total),
        }
    )


def test_five_minute_points_on_a_phase_by_hand():
    """Points at 00:03, 00:08, ... of September: one column per point, laid on minutes 3, 8,
    ... when asked; the first point lies in column 0, minute 3."""
    start = SEPTEMBER.start + pd.Timedelta(minutes=3)
    sli = points(start, 4, 5, [100, 200, 300, 400], [0, 10, 0, 40])
    grid = slo.build_grid(sli, slo_table({}), SEPTEMBER)
    assert (grid.step, grid.phase, grid.whole) == (5, 3, True)
    assert grid.good_steps.shape == (1, len(range(3, 30 * 1440, 5)))
    assert grid.good_steps[0, :5].tolist() == [100, 190, 300, 360, 0]
    assert grid.columns_before(3) == 0
    assert grid.columns_before(4) == 1
    assert grid.columns_before(8) == 1
    assert grid.columns_before(9) == 2
    assert np.flatnonzero(grid.present[0]).tolist() == [3, 8, 13, 18]
    assert grid.total[0, 8] == 200
    assert grid.total[0, 9] == 0
    assert slo.data_step(grid) == pd.Timedelta(minutes=5)


@pytest.mark.parametrize(
    ("budgeting", "minutes", "expected"),
    [
        ("occurrences", 1, 1 - 50 / 1000),
        # one-minute slices: 4 of them have events, the one with 40 of 400 bad is bad
        ("timeslices", 1, 0.75),
        # five-minute slices, one point each: 1 - (0 + 0.05 + 0 + 0.1) / 4
        ("ratio_timeslices", 5, 1 - 0.15 / 4),
    ],
)
def test_the_sli_of_five_minute_points_by_hand(budgeting, minutes, expected):
    sli = points(SEPTEMBER.start, 4, 5, [100, 200, 300, 400], [0, 10, 0, 40])
    table = slo_table(
        {"budgeting": budgeting, "timeslice_minutes": minutes, "timeslice_target": 0.91}
    )
    grid = slo.build_grid(sli, table, SEPTEMBER)
    assert grid.step == 5
    result = slo.slo_report(grid, SEPTEMBER).table.iloc[0]
    assert result["sli"] == pytest.approx(expected)


def test_points_off_one_phase_or_fractional_counts_stay_on_minutes():
    sli = points(SEPTEMBER.start, 4, 5, [100] * 4, [0] * 4)
    other = points(SEPTEMBER.start + pd.Timedelta(minutes=2), 4, 5, [100] * 4, [0] * 4, "latency")
    table = slo_table({}, {"slo": "latency"})
    assert slo.build_grid(pd.concat([sli, other]), table, SEPTEMBER).step == 1
    assert slo.build_grid(sli.astype({"good": float}), slo_table({}), SEPTEMBER).step == 1
    hourly = points(SEPTEMBER.start, 4, 120, [100] * 4, [0] * 4)
    assert slo.build_grid(hourly, slo_table({}), SEPTEMBER).step == 1  # coarser than an hour


def fleet(step: int, phase: int, seed: int, gaps: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Twelve SLOs of every budgeting method and both policies, on ``step`` from ``phase``
    (minutes from the lookback's start), with outages, gaps and an SLO starting late (with
    ``gaps=False``, events at every point of the span, and SLOs without outages)."""
    rng = np.random.default_rng(seed)
    lookback = slo.alert_lookback(POLICIES.values())
    first = SEPTEMBER.start - lookback
    span = int((SEPTEMBER.end - first) // pd.Timedelta(minutes=1))
    methods = ["occurrences", "timeslices", "ratio_timeslices"]
    table = slo_table(
        *(
            {
                "slo": f"slo-{i}",
                "objective": [0.99, 0.999, 0.9995][i % 3],
                "budgeting": methods[i % 3],
                "timeslice_minutes": [1, 5, 15, 60][i % 4],
                "timeslice_target": 0.95,
                "alert_policy": ["workbook", "pyrra"][i % 2],
            }
            for i in range(12)
        )
    )
    columns = np.arange(phase, span, step)
    total = rng.integers(0 if gaps else 1, 600, (12, len(columns)))
    bad = rng.binomial(total, 0.001)
    for row in range(12 if gaps else 6):
        at = rng.integers(0, len(columns) - 100)
        outage = slice(at, at + rng.integers(5, 100))
        bad[row, outage] = total[row, outage] // 2
    keep = rng.random((12, len(columns))) > (0.01 if gaps else -1)
    if gaps:
        keep[4, : len(columns) // 2] = False  # data from mid-month only
    rows, at = np.nonzero(keep)
    stamps = first + pd.to_timedelta(columns[at], "min")
    frame = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(stamps).as_unit("ns"),
            "service": pd.Categorical(["checkout"] * len(rows)),
            "slo": pd.Categorical(table["slo"].to_numpy()[rows]),
            "good": (total - bad)[rows, at],
            "total": total[rows, at],
        }
    )
    return frame, table


def on_minutes(grid: slo.SLIGrid) -> slo.SLIGrid:
    """The same data laid on every minute."""
    return slo.SLIGrid(
        grid.slos, grid.start, grid.good_all, grid.total_all, grid.present_all, grid.lead, True
    )


def assert_same(got, expected) -> None:
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    else:
        np.testing.assert_array_equal(got, expected, strict=True)


@pytest.mark.parametrize(
    ("step", "phase", "gaps"),
    [(5, 0, True), (5, 3, True), (15, 14, True), (10, 4, True), (7, 2, True), (5, 0, False)],
)
def test_every_figure_on_the_step_equals_the_minute_grid(step, phase, gaps):
    """Both shipped policies, the three budgeting methods, corrections, a month in progress,
    attribution, the daily SLI, burn rates, coverage: on the step, the same numbers (with
    gaps, or with events at every point and time slices never bad for some SLOs)."""
    frame, table = fleet(step, phase, seed=step * 10 + phase, gaps=gaps)
    lookback = slo.alert_lookback(POLICIES.values())
    grid = slo.build_grid(frame, table, SEPTEMBER, lookback)
    assert grid.step == step
    minutes = on_minutes(grid)
    corrections = pd.DataFrame(
        {
            "service": ["checkout", "checkout"],
            "slo": ["slo-0", "slo-2"],
            "start": pd.to_datetime(["2026-09-03 10:02", "2026-08-31 23:00"], utc=True),
            "end": pd.to_datetime(["2026-09-03 13:17", "2026-09-01 01:01"], utc=True),
            "reason": ["maintenance", "migration"],
            "correction": ["a", "b"],
        }
    )
    incidents = pd.DataFrame(
        {
            "id": ["i1", "i2"],
            "service": ["checkout", "checkout"],
            "severity": "SEV2",
            "title": "outage",
            "created_at": pd.to_datetime(["2026-09-02 01:01", "2026-09-20 11:11"], utc=True),
            "started_at": pd.to_datetime(["2026-09-02 00:57", None], utc=True),
            "resolved_at": pd.to_datetime(["2026-09-02 05:03", None], utc=True),
        }
    )
    for now in (None, SEPTEMBER.start + pd.Timedelta(days=17, minutes=33)):
        reports = [
            slo.slo_report(g, SEPTEMBER, now=now, policies=POLICIES, corrections=corrections)
            for g in (grid, minutes)
        ]
        for part in ("table", "burndown", "alerts", "corrections"):
            assert_same(getattr(reports[0], part), getattr(reports[1], part))
    assert not reports[1].alerts.empty
    assert set(reports[1].alerts["alert_policy"]) == {"workbook", "pyrra"}
    budget = [slo.apply_corrections(g, corrections) for g in (grid, minutes)]
    for got, expected in zip(
        slo.budget_attribution(budget[0], reports[0], incidents, SEPTEMBER.end),
        slo.budget_attribution(budget[1], reports[1], incidents, SEPTEMBER.end),
        strict=True,
    ):
        assert_same(got, expected)
    assert_same(daily.daily_sli(budget[0], SEPTEMBER), daily.daily_sli(budget[1], SEPTEMBER))
    assert_same(daily.hourly_burn_rate(grid), daily.hourly_burn_rate(minutes))
    assert_same(quality.sli_coverage(grid), quality.sli_coverage(minutes))
    assert_same(
        alerts.peak_burn_rates(grid, reports[0].alerts),
        alerts.peak_burn_rates(minutes, reports[1].alerts),
    )
    for window in (pd.Timedelta(minutes=5), pd.Timedelta(hours=1), pd.Timedelta(minutes=75)):
        assert_same(
            slo.burn_rate_series(grid, window, slice(2, 9)),
            slo.burn_rate_series(minutes, window, slice(2, 9)),
        )
    assert slo.data_step(grid) == slo.data_step(minutes)


def test_rows_outside_the_span_or_of_unknown_slos_are_left_out_on_the_step():
    start = SEPTEMBER.start - pd.Timedelta(minutes=10)
    sli = points(start, 6, 5, [100] * 6, [0, 50, 0, 0, 0, 10])  # two rows before September
    stranger = points(SEPTEMBER.start, 2, 5, [7, 7], [7, 7], "unknown")
    grid = slo.build_grid(pd.concat([sli, stranger]), slo_table({}), SEPTEMBER)
    assert grid.step == 5
    assert grid.good_steps[0, :4].tolist() == [100, 100, 100, 90]
    assert slo.slo_report(grid, SEPTEMBER).table["sli"].iloc[0] == pytest.approx(1 - 10 / 400)


def test_episodes_from_runs_by_hand():
    """Workbook page windows over 2 minutes of lookback and 10 of the month: runs that touch
    merge into one episode, which takes the tier of its fastest window; a run from the
    lookback is ongoing at the month's start; a severity without runs has no episode."""
    empty = np.array([], dtype=np.int64)
    runs = [
        (np.array([0]), np.array([5]), np.array([7])),  # 1h & 5m: P1
        (np.array([0, 0, 1]), np.array([3, 9, 0]), np.array([5, 12, 4])),  # 6h & 30m: P2
        (empty, empty, empty),
        (empty, empty, empty),
    ]
    row, first, after, tier, ongoing = slo._run_episodes(WORKBOOK, runs, "page", 2, 12)
    assert row.tolist() == [0, 0, 1]
    assert first.tolist() == [1, 7, 0]
    assert after.tolist() == [5, 10, 2]
    assert tier.tolist() == ["P1", "P2", "P2"]
    assert ongoing.tolist() == [False, False, True]
    tickets = slo._run_episodes(WORKBOOK, runs, "ticket", 2, 12)
    assert [part.size for part in tickets] == [0, 0, 0, 0, 0]


def test_the_lattice_and_each_minutes_column_by_hand():
    """Minutes 3, 8, 13 and 10**12 + 3 (a row far outside the span) lie on 5 minutes from
    minute 3: columns 0, 1, 2 and 2 * 10**11, which four bytes hold modulo 2^32; a minute
    off the lattice after the rows the guess reads (minute 24, the fifth of five with a
    guess of four) keeps the minutes as they are."""
    minute = np.array([3, 8, 13, 10**12 + 3], dtype=np.int64)
    step, phase, column = slo._lattice(minute.copy(), np.int64)
    assert (step, phase, column.tolist()) == (5, 3, [0, 1, 2, 2 * 10**11])
    step, phase, column = slo._lattice(minute.copy(), np.int32)
    assert (step, phase, column.dtype) == (5, 3, np.int32)
    assert column.tolist() == [0, 1, 2, np.int64(2 * 10**11).astype(np.int32)]
    off = np.array([3, 8, 13, 18, 24], dtype=np.int64)
    step, phase, column = slo._lattice(off.copy(), np.int32, sample=4)
    assert (step, phase, column.tolist()) == (1, 0, [3, 8, 13, 18, 24])
    assert slo._lattice(np.array([-7, -2, 3]), np.int32)[2].tolist() == [-2, -1, 0]


def test_the_low_byte_of_each_integer_is_it_modulo_256():
    """Read from the array's bytes, or copied where it is strided or in the other byte
    order: what casting to one byte gives."""
    values = np.array([0, 1, 255, 256, -1, -256, 10**9 + 7, -(10**12) - 3], dtype=np.int64)
    for dtype in (np.int64, np.int32):
        cast = values.astype(dtype)
        for form in (cast, cast[::3], cast.astype(cast.dtype.newbyteorder(">"))):
            np.testing.assert_array_equal(slo._low_bytes(form), form.astype(np.int8))


def test_a_one_column_window_is_its_column_by_hand():
    """Workbook's 1h & 5m page window (factor 14.4, objective 0.99: over 0.144 of the events)
    on 5-minute columns: the 5m sum is the column itself, whole counts or not."""
    bad = np.array([[0.0] * 12 + [15.0, 14.0, 20.0]])
    total = np.full((1, 15), 100.0)
    objectives = np.array([0.99])
    step = pd.Timedelta(minutes=5)
    window = slo._window_columns(bad, total, objectives, WORKBOOK, step, step, True)
    _, both = next(window)
    # 5m: 15, 14, 20 of 100 pass at 12 and 14; the 1h (12 columns) there, 15 and 49 of
    # 1200, does not.
    assert both.tolist() == [[False] * 15]
    heavy = np.array([[0.0] * 3 + [100.0, 10.0, 100.0] + [0.0] * 9])
    for whole in (True, False):
        _, both = next(slo._window_columns(heavy, total, objectives, WORKBOOK, step, step, whole))
        # 1h: 100 of 400, 110 of 500, 210 of 600 ... 210 of 1200 (over 0.144 up to column
        # 11); 5m: the columns of 100 bad events alone.
        assert np.flatnonzero(both[0]).tolist() == [3, 5]


def test_one_minute_ratio_slices_on_five_minute_points_by_hand():
    """``ratio_timeslices`` of one minute on 5-minute points: a slice per point with events
    (its weight counted per column), badness its bad share; the days and the month alike."""
    sli = points(SEPTEMBER.start, 4, 5, [100, 200, 0, 400], [0, 10, 0, 40])
    sli = pd.concat([sli, points(SEPTEMBER.start + pd.Timedelta(days=1), 1, 5, [50], [25])])
    table = slo_table({"budgeting": "ratio_timeslices", "timeslice_minutes": 1})
    grid = slo.build_grid(sli, table, SEPTEMBER)
    assert grid.step == 5
    report = slo.slo_report(grid, SEPTEMBER)
    row = report.table.iloc[0]
    assert (row["slices"], row["bad_slices"]) == (4.0, 0.05 + 0.1 + 0.5)
    assert row["sli"] == 1 - (0.05 + 0.1 + 0.5) / 4
    allowed = (1 - 0.999) * 4
    consumed = report.burndown["budget_consumed"].to_numpy()[:2]
    assert consumed.tolist() == [(0.05 + 0.1) / allowed, (0.05 + 0.1 + 0.5) / allowed]


def test_a_step_grid_works_on_more_slos_at_a_time_with_the_same_figures(monkeypatch):
    """8 SLOs a chunk on minutes, 8 x the step on a step (up to 32); each SLO's figures are
    the same whichever SLOs share its chunk."""
    frame, table = fleet(5, 3, seed=11)
    grid = slo.build_grid(frame, table, SEPTEMBER, slo.alert_lookback(POLICIES.values()))
    assert [slo._chunk_rows(replace(grid, step=s)) for s in (1, 2, 5, 60)] == [8, 16, 32, 32]
    together = slo.slo_report(grid, SEPTEMBER, policies=POLICIES)
    monkeypatch.setattr(slo, "STEP_CHUNK_FACTOR", 1)
    assert slo._chunk_rows(grid) == 8
    apart = slo.slo_report(grid, SEPTEMBER, policies=POLICIES)
    for part in ("table", "burndown", "alerts"):
        assert_same(getattr(together, part), getattr(apart, part))


@pytest.mark.parametrize("dense_share", [1, 16, 10**9])
@pytest.mark.parametrize(("whole", "scale"), [(True, 1), (True, 10**6), (False, 1)])
def test_runs_of_columns_test_the_long_window_where_the_short_one_passed(
    monkeypatch, dense_share, whole, scale
):
    """Every column or only those the short window passed (``DENSE_SHARE``), running sums
    in four or eight bytes (``scale``): the runs of every window are those of both burn
    rates tested at every column on float sums."""
    rng = np.random.default_rng(5)
    rows, columns = 9, 3 * 288 + 7
    total = rng.integers(0, 900, (rows, columns)).astype(float) * scale
    total[2, 100:400] = 0  # no events: no window fires
    bad = np.floor(total * np.where(rng.random(total.shape) < 0.05, rng.random(total.shape), 0))
    bad[4, 50:90] = total[4, 50:90]  # an outage
    bad[:, -1] = total[:, -1]  # a run ending at the row's last column
    objectives = np.array([0.99, 0.999, 0.9995] * 3)
    step = pd.Timedelta(minutes=5)
    assert slo._fits_in_int32(bad, total) == (scale == 1)
    monkeypatch.setattr(slo, "DENSE_SHARE", dense_share)
    for policy in POLICIES.values():
        expected = slo._window_columns(bad, total, objectives, policy, step, step, False)
        got = slo._column_runs(bad, total, objectives, policy, step, whole)
        for (window, both), (same, runs) in zip(expected, got, strict=True):
            assert same == window
            for part, wanted in zip(runs, slo._episodes(both), strict=True):
                np.testing.assert_array_equal(part, wanted, strict=True)
        assert any(
            runs[0].size
            for _, runs in slo._column_runs(bad, total, objectives, policy, step, whole)
        )


@pytest.mark.parametrize("events", [500, 10**7])
def test_burn_rates_on_the_step_in_four_or_eight_bytes_are_those_of_the_minutes(events):
    """Running sums that fit in four bytes, or not (10^7 events a point over a month of
    5-minute points pass 2^31): the same rates as the minute grid's."""
    rng = np.random.default_rng(9)
    count = 30 * 288
    total = rng.integers(1, events, (3, count))
    bad = rng.binomial(total, 0.002)
    sli = pd.concat(
        points(SEPTEMBER.start, count, 5, total[i], bad[i], f"slo-{i}") for i in range(3)
    )
    table = slo_table(*({"slo": f"slo-{i}"} for i in range(3)))
    grid = slo.build_grid(sli, table, SEPTEMBER)
    assert grid.step == 5
    for window in (pd.Timedelta(minutes=5), pd.Timedelta(hours=1), pd.Timedelta(days=40)):
        assert_same(
            slo.burn_rate_series(grid, window), slo.burn_rate_series(on_minutes(grid), window)
        )
