"""Incident response metrics: durations, MTTA/MTTR statistics, bootstrap CI, pages."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest
from frame_helpers import canonical
from hypothesis import given, settings
from hypothesis import strategies as st

from reliability import frames
from reliability.metrics import incidents as m


def make_incidents(rows: list[dict[str, str]]) -> pd.DataFrame:
    """A canonical incidents frame from rows of strings."""
    return canonical(frames.INCIDENTS, rows)


def incident(
    id: str,
    created: str,
    resolved: str = "",
    acked: str = "",
    *,
    service: str = "checkout",
    severity: str = "SEV2",
    started: str = "",
    urgency: str = "",
) -> dict[str, str]:
    """One incident row; times are minutes past 2026-10-05 00:00 UTC, or ``""``."""

    def at(minute: str) -> str:
        if minute == "":
            return ""
        return (pd.Timestamp("2026-10-05T00:00Z") + pd.Timedelta(minutes=int(minute))).isoformat()

    return {
        "id": id,
        "service": service,
        "severity": severity,
        "created_at": at(created),
        "resolved_at": at(resolved),
        "acknowledged_at": at(acked),
        "started_at": at(started),
        "urgency": urgency,
    }


# --- durations -----------------------------------------------------------------------------


def test_incident_durations_minutes_with_missing_values():
    frame = make_incidents(
        [
            incident("a", "0", resolved="90", acked="5", started="-30"),
            incident("b", "100", resolved="", acked="104"),
            incident("c", "200", resolved="245", acked=""),
        ]
    )
    result = m.incident_durations(frame)[["id", "tta_minutes", "ttr_minutes", "restore_minutes"]]
    expected = pd.DataFrame(
        {
            "id": pd.Series(["a", "b", "c"], dtype="string"),
            "tta_minutes": [5.0, 4.0, np.nan],
            "ttr_minutes": [90.0, np.nan, 45.0],
            # a: from impact start 30 minutes before creation; c: no started_at, from created_at
            "restore_minutes": [120.0, np.nan, 45.0],
        }
    )
    tm.assert_frame_equal(result, expected)


def test_incident_durations_keeps_the_incident_columns():
    frame = make_incidents([incident("a", "0", resolved="10")])
    result = m.incident_durations(frame)
    assert list(result.columns) == [
        *frames.INCIDENTS.column_names,
        "tta_minutes",
        "ttr_minutes",
        "restore_minutes",
    ]
    tm.assert_frame_equal(result[frames.INCIDENTS.column_names], frame)


# --- duration statistics -------------------------------------------------------------------


def test_p90_uses_linear_interpolation():
    result = m.duration_stats(pd.Series([10.0, 20.0, 30.0, 40.0, 50.0]))
    # position 0.9 * (5 - 1) = 3.6: 40 + 0.6 * (50 - 40)
    assert result.n == 5
    assert result.median == 30.0
    assert result.p90 == 46.0
    assert result.mean == 30.0


def test_duration_stats_drops_nan():
    result = m.duration_stats(pd.Series([np.nan, 10.0, 20.0, np.nan]))
    assert (result.n, result.median, result.p90, result.mean) == (2, 15.0, 19.0, 15.0)


def test_duration_stats_empty_is_all_none_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = m.duration_stats(pd.Series([], dtype="float64"))
        all_nan = m.duration_stats(pd.Series([np.nan, np.nan]))
    expected = m.DurationStats(n=0, median=None, p90=None, mean=None, ci_low=None, ci_high=None)
    assert result == expected
    assert all_nan == expected


def test_duration_stats_single_value_has_no_ci_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = m.duration_stats(pd.Series([42.0]))
    expected = m.DurationStats(n=1, median=42.0, p90=42.0, mean=42.0, ci_low=None, ci_high=None)
    assert result == expected


def test_duration_stats_identical_values_give_a_point_ci_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = m.duration_stats(pd.Series([7.0, 7.0, 7.0]))
    expected = m.DurationStats(n=3, median=7.0, p90=7.0, mean=7.0, ci_low=7.0, ci_high=7.0)
    assert result == expected


def test_bootstrap_ci_contains_the_median_and_is_deterministic():
    minutes = pd.Series([12.0, 15.0, 20.0, 31.0, 45.0, 60.0, 90.0, 120.0, 240.0, 600.0])
    result = m.duration_stats(minutes)
    again = m.duration_stats(minutes.sample(frac=1.0, random_state=3))
    assert result.median == 52.5
    assert result.ci_low is not None
    assert result.ci_high is not None
    assert 12.0 <= result.ci_low <= result.median <= result.ci_high <= 600.0
    assert result.ci_low < result.ci_high
    assert again == result


def test_small_sample_threshold():
    assert m.SMALL_SAMPLE == 10
    assert m.too_small_for_trend(0)
    assert m.too_small_for_trend(9)
    assert not m.too_small_for_trend(10)


# --- response summary ----------------------------------------------------------------------


def test_mtta_mttr_leave_out_missing_ack_and_unresolved_and_count_them():
    frame = make_incidents(
        [
            incident("a", "0", resolved="60", acked="2"),
            incident("b", "10", resolved="", acked="14"),  # unresolved: no MTTR
            incident("c", "20", resolved="50", acked=""),  # no ack: no MTTA
            incident("d", "30", resolved="150", acked="36"),
        ]
    )
    result = m.response_summary(frame)
    assert result.count == 4
    assert result.unresolved == 1
    # MTTA over a, b, d: 2, 4, 6 minutes
    assert (result.mtta.n, result.mtta.median, result.mtta.p90, result.mtta.mean) == (
        3,
        4.0,
        5.6,
        4.0,
    )
    # MTTR over a, c, d: 60, 30, 120 minutes; p90 at position 1.8 of [30, 60, 120] = 108
    assert (result.mttr.n, result.mttr.median, result.mttr.p90, result.mttr.mean) == (
        3,
        60.0,
        108.0,
        70.0,
    )


def test_by_severity_follows_the_configured_order():
    frame = make_incidents(
        [
            incident("a", "0", resolved="10", acked="1", severity="SEV2"),
            incident("b", "0", resolved="30", acked="3", severity="P3"),
            incident("c", "0", resolved="", acked="", severity="SEV1"),
            incident("d", "0", resolved="20", acked="2", severity="ALPHA"),
            incident("e", "0", resolved="10", acked="5", severity="SEV2"),
        ]
    )
    result = m.response_summary(frame, ["SEV1", "SEV2", "SEV3"]).by_severity
    nan = np.nan
    expected = pd.DataFrame(
        {
            "severity": pd.Series(["SEV1", "SEV2", "SEV3", "ALPHA", "P3"], dtype="string"),
            "count": [1, 2, 0, 1, 1],
            "unresolved": [1, 0, 0, 0, 0],
            "mtta_n": [0, 2, 0, 1, 1],
            "mtta_median_minutes": [nan, 3.0, nan, 2.0, 3.0],
            "mtta_p90_minutes": [nan, 4.6, nan, 2.0, 3.0],
            "mtta_mean_minutes": [nan, 3.0, nan, 2.0, 3.0],
            "mttr_n": [0, 2, 0, 1, 1],
            "mttr_median_minutes": [nan, 10.0, nan, 20.0, 30.0],
            "mttr_p90_minutes": [nan, 10.0, nan, 20.0, 30.0],
            "mttr_mean_minutes": [nan, 10.0, nan, 20.0, 30.0],
            # SEV2's two resolve times are equal, so its interval is a point
            "mttr_median_ci_low": [nan, 10.0, nan, nan, nan],
            "mttr_median_ci_high": [nan, 10.0, nan, nan, nan],
        }
    )
    tm.assert_frame_equal(result, expected)


def test_by_severity_without_configuration_is_alphabetical():
    frame = make_incidents(
        [
            incident("a", "0", resolved="10", severity="SEV2"),
            incident("b", "0", resolved="10", severity="SEV1"),
        ]
    )
    result = m.response_summary(frame).by_severity["severity"].tolist()
    assert result == ["SEV1", "SEV2"]


def test_by_service_is_alphabetical_with_ci_of_the_median():
    frame = make_incidents(
        [
            incident("a", "0", resolved="10", service="search"),
            incident("b", "0", resolved="20", service="checkout"),
            incident("c", "0", resolved="40", service="checkout"),
        ]
    )
    result = m.response_summary(frame).by_service
    assert result["service"].tolist() == ["checkout", "search"]
    assert result["count"].tolist() == [2, 1]
    assert result["mttr_median_minutes"].tolist() == [30.0, 10.0]
    checkout_ci = m.duration_stats(pd.Series([20.0, 40.0]))
    assert result.loc[0, "mttr_median_ci_low"] == checkout_ci.ci_low
    assert result.loc[0, "mttr_median_ci_high"] == checkout_ci.ci_high
    assert np.isnan(result.loc[1, "mttr_median_ci_low"])


def test_response_summary_of_no_incidents():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = m.response_summary(frames.empty(frames.INCIDENTS), ["SEV1"])
    assert (result.count, result.unresolved) == (0, 0)
    assert result.mtta == m.DurationStats(0, None, None, None, None, None)
    assert result.mttr == m.DurationStats(0, None, None, None, None, None)
    assert result.by_service.empty
    assert list(result.by_service.columns) == ["service", *m.GROUP_COLUMNS]
    assert result.by_severity["severity"].tolist() == ["SEV1"]
    assert result.by_severity["count"].tolist() == [0]
    assert result.by_severity["mttr_median_minutes"].isna().all()


# --- pages ---------------------------------------------------------------------------------


def test_pages_use_urgency_then_the_two_most_severe_levels():
    frame = make_incidents(
        [
            incident("a", "0", severity="SEV3", urgency="high"),  # urgency wins
            incident("b", "0", severity="SEV1", urgency="low"),  # urgency wins
            incident("c", "0", severity="SEV1"),
            incident("d", "0", severity="SEV2"),
            incident("e", "0", severity="SEV3"),
            incident("f", "0", severity="sev2"),  # labels compare case-insensitively
        ]
    )
    result = m.pages(frame, ["SEV1", "SEV2", "SEV3"])
    expected = pd.Series([True, False, True, True, False, True], name="page")
    tm.assert_series_equal(result, expected)


def test_pages_without_configured_severities_use_recognised_names():
    frame = make_incidents(
        [
            incident("a", "0", severity="SEV-1"),
            incident("b", "0", severity="P2"),
            incident("c", "0", severity="critical"),
            incident("d", "0", severity="SEV3"),
            incident("e", "0", severity="minor"),
        ]
    )
    result = m.pages(frame, None).tolist()
    assert result == [True, True, True, False, False]


def test_pages_of_no_incidents():
    result = m.pages(frames.empty(frames.INCIDENTS), ["SEV1"])
    assert result.empty
    assert result.dtype == bool


# --- invariants ----------------------------------------------------------------------------

incident_rows = st.lists(
    st.tuples(
        st.sampled_from(["checkout", "search", "login"]),
        st.sampled_from(["SEV1", "SEV2", "SEV3", "P4"]),
        st.integers(0, 10_000),  # created, minutes into the month
        st.one_of(st.none(), st.integers(0, 120)),  # minutes to acknowledge
        st.one_of(st.none(), st.integers(0, 2_000)),  # minutes to resolve
    ),
    min_size=0,
    max_size=25,
)


def typed_incidents(rows: list[tuple]) -> pd.DataFrame:
    """A canonical incidents frame straight from generated tuples."""
    start = pd.Timestamp("2026-10-01T00:00Z")
    created = pd.Series(
        [start + pd.Timedelta(minutes=r[2]) for r in rows], dtype="datetime64[ns, UTC]"
    )

    def offsets(index: int) -> pd.Series:
        minutes = pd.Series([r[index] for r in rows], dtype="float64")
        return created + pd.to_timedelta(minutes, unit="min")

    frame = frames.empty(frames.INCIDENTS).reindex(range(len(rows)))
    frame["id"] = pd.Series([f"i{n}" for n in range(len(rows))], dtype="string")
    frame["service"] = pd.Series([r[0] for r in rows], dtype="string")
    frame["severity"] = pd.Series([r[1] for r in rows], dtype="string")
    frame["created_at"] = created
    frame["acknowledged_at"] = offsets(3)
    frame["resolved_at"] = offsets(4)
    return frame


@settings(max_examples=40, deadline=None)
@given(rows=incident_rows, seed=st.integers(0, 1_000))
def test_shuffling_incident_rows_changes_nothing(rows, seed):
    frame = typed_incidents(rows)
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    result = m.response_summary(shuffled, ["SEV1", "SEV2"])
    expected = m.response_summary(frame, ["SEV1", "SEV2"])
    assert (result.count, result.unresolved) == (expected.count, expected.unresolved)
    assert result.mtta == expected.mtta
    assert result.mttr == expected.mttr
    tm.assert_frame_equal(result.by_severity, expected.by_severity)
    tm.assert_frame_equal(result.by_service, expected.by_service)


@settings(max_examples=60, deadline=None)
@given(minutes=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_median_and_its_ci_lie_between_min_and_max(minutes):
    result = m.duration_stats(pd.Series(minutes))
    assert result.n == len(minutes)
    assert min(minutes) <= result.median <= result.p90 <= max(minutes)
    if result.n >= 2:
        assert min(minutes) <= result.ci_low <= result.ci_high <= max(minutes)
    else:
        assert result.ci_low is None


@pytest.mark.parametrize(
    "values",
    [
        [10.0, 20.0, 30.0, 40.0, 50.0],
        [3.0, 3.0, 4.0],
        [1.5, 240.0, 7.25, 7.25, 90.0, 12.0, 600.0, 33.0],
        [1505.0 / 60, 5000.0 / 60],
        list(np.random.default_rng(3).exponential(45.0, 301)),
    ],
    ids=["five", "three", "eight", "two", "301"],
)
def test_the_median_interval_is_scipys_percentile_bootstrap(values):
    """The interval, drawn in numpy, is scipy.stats.bootstrap's for the same resamples (the
    reference; scipy is a test dependency only) to the last bit or two: where both order
    statistics around a quantile are the same value, numpy's interpolation gives that value
    and scipy's may land one unit in the last place beside it."""
    from scipy import stats

    result = m.duration_stats(pd.Series(values))
    sample = np.sort(np.asarray(values))
    reference = stats.bootstrap(
        (sample,),
        np.median,
        n_resamples=m.BOOTSTRAP_RESAMPLES,
        vectorized=True,
        method="percentile",
        confidence_level=m.CONFIDENCE_LEVEL,
        rng=np.random.default_rng(0),
    ).confidence_interval
    for ours, theirs in ((result.ci_low, reference.low), (result.ci_high, reference.high)):
        theirs = float(np.clip(theirs, sample[0], sample[-1]))
        assert abs(ours - theirs) <= 2 * math.ulp(theirs)


def test_two_values_give_the_smaller_and_larger_as_the_interval():
    """Resampling two values gives medians a, (a + b) / 2 or b, a quarter of them a and a
    quarter b: the 2.5% and 97.5% quantiles are the two values themselves, exactly."""
    low, high = 1505.0 / 60, 5000.0 / 60
    result = m.duration_stats(pd.Series([high, low]))
    assert (result.ci_low, result.ci_high) == (low, high)
