"""The first screen's figures and the alert review, against hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from slo_helpers import constant_traffic, slo_table

from reliability.metrics import alerts, headline, slo
from reliability.period import Month

OCTOBER = Month(2026, 10, "UTC")


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"2026-10-05 {text}", tz="UTC")


def episode(service: str, start: str, end: str, severity: str = "page") -> dict:
    return {"service": service, "slo": "availability", "severity": severity,
            "start": at(start), "end": at(end)}  # fmt: skip


def incident(id_: str, service: str, created: str, resolved: str, **extra) -> dict:
    row = {"id": id_, "service": service, "severity": "SEV1", "title": id_,
           "created_at": at(created), "resolved_at": at(resolved), "urgency": "high"}  # fmt: skip
    return row | extra


def test_peak_burn_rate_of_a_ten_minute_outage():
    # 100 events a minute at 99.9%; minutes 600-609 fully bad. The 1-hour window holding all
    # ten bad minutes has 1000 bad of 6000: burn (1000/6000) / 0.001 = 166.67.
    sli = constant_traffic(OCTOBER, bad={m: 100 for m in range(600, 610)})
    grid = slo.build_grid(sli, slo_table({}), OCTOBER)
    report = slo.slo_report(grid, OCTOBER)
    pages = report.alerts.loc[report.alerts["severity"] == "page"]
    assert len(pages) == 1
    result = alerts.peak_burn_rates(grid, pages)
    assert result == pytest.approx([1000 / 6000 / 0.001])


def test_peak_burn_rate_reads_only_the_episode_minutes():
    sli = constant_traffic(OCTOBER, bad={600: 30, 2000: 60})
    grid = slo.build_grid(sli, slo_table({}), OCTOBER)
    first = OCTOBER.start + pd.Timedelta(minutes=600)
    episodes = pd.DataFrame(
        [
            {"service": "checkout", "slo": "availability", "start": first,
             "end": first + pd.Timedelta(minutes=5)},
            {"service": "checkout", "slo": "availability",
             "start": first + pd.Timedelta(minutes=1400),
             "end": first + pd.Timedelta(minutes=1401)},
            {"service": "unknown", "slo": "availability", "start": first, "end": first},
        ]
    )  # fmt: skip
    result = alerts.peak_burn_rates(grid, episodes)
    # 30 bad of 6000 events in the hour: 5.0; 60 bad of 6000: 10.0; no such SLO: NaN.
    assert result[:2] == pytest.approx([30 / 6000 / 0.001, 60 / 6000 / 0.001])
    assert math.isnan(result[2])


EPISODES = pd.DataFrame(
    [
        episode("checkout", "10:00", "10:40"),
        episode("checkout", "20:00", "20:10"),
        episode("search", "10:00", "10:30", "ticket"),
    ]
)
INCIDENTS = pd.DataFrame(
    [
        incident("A", "checkout", "11:05", "12:00"),  # opens 25 min after the episode ends
        incident("B", "search", "09:00", "09:20"),  # ended 40 min before: outside the grace
        incident("C", "payments", "10:10", "10:20"),  # another service
        incident("D", "checkout", "15:00", "15:30"),  # a page no alert caught
        incident("E", "checkout", "16:00", "16:30", urgency="low"),  # not a page received
        incident("F", "frontend", "16:00", "16:30"),  # a service without SLOs
    ]
)


def test_an_incident_covers_an_episode_of_its_service_within_the_grace():
    result = alerts.cover_incidents(EPISODES, INCIDENTS, OCTOBER.end)
    expected = pd.Series(["A", pd.NA, pd.NA], dtype="string")
    pd.testing.assert_series_equal(result, expected)


def test_cover_takes_the_first_incident_opened_and_unresolved_ones_last_to_the_end():
    rows = pd.DataFrame(
        [
            incident("late", "checkout", "10:30", "11:00"),
            incident("early", "checkout", "09:50", "10:05"),
            incident("open", "checkout", "19:00", "19:10", resolved_at=pd.NaT),
        ]
    )
    result = alerts.cover_incidents(EPISODES, rows, OCTOBER.end)
    expected = pd.Series(["early", "open", pd.NA], dtype="string")
    pd.testing.assert_series_equal(result, expected)


def test_no_incident_input_covers_nothing():
    result = alerts.cover_incidents(EPISODES, None, OCTOBER.end)
    assert result.isna().all()
    assert alerts.missed_detection(EPISODES, None, None, {"checkout"}, OCTOBER.end) is None


def test_missed_detection_lists_pages_received_that_no_page_alert_caught():
    services = {"checkout", "search", "payments"}
    result = alerts.missed_detection(EPISODES, INCIDENTS, ["SEV1", "SEV2"], services, OCTOBER.end)
    # A overlaps a page episode within the grace; B's only episode is a ticket, so it was not
    # caught by a page; C's service has no page; D: nothing fired; E was low urgency; F has
    # no SLO, so no replayed page could catch it.
    assert result["id"].tolist() == ["B", "C", "D"]


def test_alert_summary_counts_uncovered_pages_and_missed_detection():
    episodes = EPISODES.assign(covered_by=alerts.cover_incidents(EPISODES, INCIDENTS, OCTOBER.end))
    missed = alerts.missed_detection(
        episodes, INCIDENTS, ["SEV1"], {"checkout", "search"}, OCTOBER.end
    )
    result = alerts.alert_summary(episodes, missed, pages_received=5)
    assert result == {
        "page_alerts": 2,
        "ticket_alerts": 1,
        "uncovered_pages": 1,  # the 20:00 page
        "pages_received": 5,
        "missed_detection": 2,  # B and D
        "cover_grace_minutes": 30,
        "peak_window_minutes": 60,
    }
    unknown = alerts.alert_summary(episodes, None, None)
    assert unknown["uncovered_pages"] is None
    assert unknown["missed_detection"] is None


SLOS = pd.DataFrame(
    {
        "service": ["search", "checkout", "ledger", "auth", "catalog"],
        "slo": ["latency", "availability", "latency", "latency", "availability"],
        "objective": [0.99, 0.999, 0.99, 0.99, 0.999],
        "sli": [0.982, 0.9992, 0.9995, math.nan, 0.9991],
        "budget_consumed": [1.8, 0.8, 0.05, math.nan, 0.9],
        "status": ["missed", "at_risk", "met", "no_data", "at_risk"],
    }
)
TEAMS = {"search": "discovery", "catalog": "discovery", "checkout": "payments",
         "ledger": "payments", "auth": "platform"}  # fmt: skip


def test_headline_figures_of_a_month():
    toil = pd.DataFrame(
        {"team": ["a", "b"], "toil_hours": [10.0, 30.0], "total_hours": [100.0, 100.0],
         "over_cap": pd.array([False, pd.NA], dtype="boolean")}
    )  # fmt: skip
    oncall = pd.DataFrame(
        {"team": ["a", "b"], "pages": [3, 2], "off_hours_pages": [1, 2],
         "over_limit": pd.array([False, True], dtype="boolean")}
    )  # fmt: skip
    delivery = {"deployments": 40, "change_failure_rate": 0.1}
    result = headline.headline_figures(SLOS, 7, 31.5, 6, delivery, toil, oncall)
    assert result == {
        "slos_met": 3,  # at_risk is met; no_data is left out
        "slos_with_data": 4,
        "slos_over_budget": 1,
        "median_budget_used": pytest.approx(0.85),  # of 0.05, 0.8, 0.9, 1.8
        "incidents": 7,
        "mttr_median_minutes": 31.5,
        "mttr_n": 6,
        "deployments": 40,
        "change_failure_rate": 0.1,
        "toil_ratio": pytest.approx(0.2),  # 40 of 200 hours
        "teams_over_toil_cap": 0,
        "pages_received": 5,
        "off_hours_pages": 3,
        "teams_over_page_limit": 1,
    }


def test_headline_figures_without_inputs_are_null_not_zero():
    result = headline.headline_figures(None, None, None, None, None, None, None)
    assert set(result.values()) == {None}
    no_data = SLOS.assign(status="no_data")
    assert headline.headline_figures(no_data, 0, None, 0, None, None, None)["slos_met"] is None


def test_compare_with_last_month():
    now = {"slos_met": 16, "slos_with_data": 18, "slos_over_budget": 2,
           "median_budget_used": 0.20, "incidents": 20, "mttr_median_minutes": 23.0,
           "mttr_n": 20, "deployments": 221, "change_failure_rate": 0.077,
           "toil_ratio": 0.38, "pages_received": 12, "off_hours_pages": None}  # fmt: skip
    before = {"slos_met": 9, "slos_with_data": 9, "slos_over_budget": 2,
              "median_budget_used": 0.30, "incidents": 25, "mttr_median_minutes": 24.0,
              "mttr_n": 12, "deployments": 200, "change_failure_rate": 0.08,
              "toil_ratio": 0.36, "pages_received": 10, "off_hours_pages": 4}  # fmt: skip
    result = headline.compare(now, before)
    directions = {key: change.direction for key, change in result.items()}
    assert directions == {
        "slos_met": "worse",  # 16 of 18 (89%) after 9 of 9
        "slos_over_budget": "same",
        "median_budget_used": "better",
        "incidents": "better",
        "mttr_median_minutes": "same",  # 23 against 24 is within 10%
        "deployments": "better",
        "change_failure_rate": "same",  # 0.3 points apart
        "toil_ratio": "worse",  # 2 points more
        "pages_received": "worse",
        "off_hours_pages": None,
    }
    assert result["slos_met"].previous == 9
    assert result["slos_met"].delta == pytest.approx(16 / 18 - 1)
    assert result["incidents"].delta == -5
    assert result["off_hours_pages"] == headline.Change(4, None, "no_value")


def test_compare_withholds_direction_for_small_samples_and_missing_months():
    now = {"mttr_median_minutes": 40.0, "mttr_n": 9}
    before = {"mttr_median_minutes": 20.0, "mttr_n": 30}
    small = headline.compare(now, before)["mttr_median_minutes"]
    assert small == headline.Change(20.0, None, "small_sample", delta=20.0)
    first = headline.compare(now, None)["mttr_median_minutes"]
    assert first == headline.Change(None, None, "no_previous")


def test_findings_never_call_a_missed_slo_at_risk():
    result = headline.findings(SLOS, None, None, None, TEAMS)
    assert [(f.kind, f.service, f.team) for f in result] == [
        ("missed", "search", "discovery"),
        ("at_risk", "catalog", "discovery"),  # the met SLO that used most (90%)
    ]
    assert result[0].values["budget_used"] == 1.8


def test_findings_name_the_closest_slo_incident_toil_and_oncall_teams():
    slos = SLOS.assign(status=["met", "met", "met", "no_data", "met"],
                       budget_consumed=[0.3, 0.6, 0.05, math.nan, 0.2])  # fmt: skip
    attribution = pd.DataFrame(
        {"id": ["I1", "I2"], "service": ["checkout", "ledger"], "slo": ["availability"] * 2,
         "title": ["DB failover", None], "budget_share": [0.4, 0.5]}
    )  # fmt: skip
    toil = pd.DataFrame(
        {"team": ["payments", "platform"], "operational_ratio": [0.55, 0.7],
         "toil_ratio": [0.3, 0.6], "over_cap": pd.array([True, True], dtype="boolean")}
    )  # fmt: skip
    oncall = pd.DataFrame(
        {"team": ["payments", "platform"], "pages": [4, 4], "off_hours_pages": [1, 3],
         "pages_per_shift": [0.07, 0.07], "over_limit": pd.array([False, False])}
    )  # fmt: skip
    result = headline.findings(slos, attribution, toil, oncall, TEAMS)
    assert [(f.kind, f.service, f.team) for f in result] == [
        ("closest", "checkout", "payments"),  # no SLO at risk: the one nearest its limit
        ("incident", "ledger", "payments"),
        ("toil", "auth", "platform"),  # furthest over the cap
        ("oncall", "checkout, ledger", "payments"),  # most pages; ties by team name
    ]
    assert result[1].values == {"id": "I2", "title": None, "slo": "availability",
                                "budget_share": 0.5}  # fmt: skip
