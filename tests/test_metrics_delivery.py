"""DORA delivery metrics: frequency, lead time, change failure rate, recovery, bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as tm
import pytest
from frame_helpers import canonical

from reliability import frames
from reliability.metrics import delivery as d
from reliability.period import Month

OCTOBER = Month(2026, 10)  # 31 days


def deployment(
    id: str,
    at: str,
    status: str = "success",
    *,
    service: str = "checkout",
    commit: str = "",
    environment: str = "",
) -> dict[str, str]:
    """One deployment row; ``at`` and ``commit`` as ``MM-DD HH:MM`` in October 2026, UTC."""
    return {
        "id": id,
        "service": service,
        "deployed_at": f"2026-{at}Z",
        "status": status,
        "commit_at": f"2026-{commit}Z" if commit else "",
        "environment": environment,
    }


def caused(id: str, by: str, resolved: str = "") -> dict[str, str]:
    """An incident naming deployment ``by``; ``resolved`` as ``MM-DD HH:MM`` or ``""``."""
    return {
        "id": id,
        "service": "checkout",
        "severity": "SEV2",
        "created_at": "2026-10-01T00:00Z",
        "resolved_at": f"2026-{resolved}Z" if resolved else "",
        "caused_by": by,
    }


def deployments(*rows: dict[str, str]) -> pd.DataFrame:
    return canonical(frames.DEPLOYMENTS, list(rows))


def incidents(*rows: dict[str, str]) -> pd.DataFrame:
    return canonical(frames.INCIDENTS, list(rows))


def only_row(table: pd.DataFrame) -> pd.Series:
    assert len(table) == 1
    return table.iloc[0]


# --- change failure rate -------------------------------------------------------------------


def test_a_deployment_named_by_two_incidents_fails_once():
    deploys = deployments(
        deployment("d1", "10-01 10:00"),
        deployment("d2", "10-02 10:00"),
        deployment("d3", "10-03 10:00"),
        deployment("d4", "10-04 10:00"),
    )
    named = incidents(caused("i1", "d1"), caused("i2", "d1"))
    row = only_row(d.delivery_summary(deploys, named, OCTOBER))
    assert row["failed_deployments"] == 1
    assert row["change_failure_rate"] == 0.25


def test_a_failed_deployment_also_named_by_an_incident_fails_once():
    deploys = deployments(
        deployment("d1", "10-01 10:00", "failed"),
        deployment("d2", "10-02 10:00"),
    )
    named = incidents(caused("i1", "d1"))
    row = only_row(d.delivery_summary(deploys, named, OCTOBER))
    assert row["failed_deployments"] == 1
    assert row["change_failure_rate"] == 0.5


def test_failed_and_rolled_back_statuses_fail_without_incidents():
    deploys = deployments(
        deployment("d1", "10-01 10:00", "failed"),
        deployment("d2", "10-02 10:00", "rolled_back"),
        deployment("d3", "10-03 10:00"),
        deployment("d4", "10-04 10:00"),
    )
    row = only_row(d.delivery_summary(deploys, None, OCTOBER))
    assert (row["failed_deployments"], row["change_failure_rate"]) == (2, 0.5)


# --- lead time -----------------------------------------------------------------------------


def test_lead_time_median_leaves_out_non_positive_and_missing_commits():
    deploys = deployments(
        deployment("d1", "10-05 12:00", commit="10-05 10:00"),  # 2 h
        deployment("d2", "10-06 12:00", commit="10-06 08:00"),  # 4 h
        deployment("d3", "10-07 12:00", commit="10-07 13:00"),  # -1 h: left out
        deployment("d4", "10-08 12:00", commit="10-08 12:00"),  # 0 h: left out
        deployment("d5", "10-09 12:00"),  # no commit_at
    )
    row = only_row(d.delivery_summary(deploys, None, OCTOBER))
    assert row["lead_time_n"] == 2
    assert row["lead_time_median_hours"] == 3.0
    assert row["lead_time_band"] == "elite"


# --- recovery ------------------------------------------------------------------------------


def test_recovery_from_linked_incident_else_next_successful_deployment():
    deploys = deployments(
        # failed, its incident resolved after 45 minutes (the 11:00 success does not matter)
        deployment("d1", "10-01 10:00", "failed"),
        deployment("d2", "10-01 11:00"),
        # rolled back, no incident: recovered by the next success of the same service at 14:30
        deployment("d3", "10-02 12:00", "rolled_back"),
        deployment("s1", "10-02 13:00", service="search"),  # another service: ignored
        deployment("d4", "10-02 13:30"),  # named by an incident, so not a success; resolved 13:40
        deployment("d5", "10-02 14:30"),
        # failed with nothing after it: no recovery time
        deployment("d6", "10-20 09:00", "failed"),
    )
    named = incidents(
        caused("i1", "d1", resolved="10-01 10:45"),
        caused("i2", "d4", resolved="10-02 13:40"),
        caused("i3", "d6", resolved="10-19 00:00"),  # resolved before the deployment: ignored
    )
    facts = d.deployment_facts(deploys, named).set_index("id")
    result = facts["recovery_minutes"]
    expected = pd.Series(
        [45.0, np.nan, 150.0, np.nan, 10.0, np.nan, np.nan],
        index=pd.Index(["d1", "d2", "d3", "s1", "d4", "d5", "d6"], dtype="string", name="id"),
        name="recovery_minutes",
    )
    tm.assert_series_equal(result, expected)

    summary = d.delivery_summary(deploys, named, OCTOBER).set_index("service")
    assert summary.loc["checkout", "failed_deployments"] == 4
    assert summary.loc["checkout", "recovery_n"] == 3
    assert summary.loc["checkout", "recovery_median_minutes"] == 45.0
    assert summary.loc["checkout", "recovery_band"] == "elite"
    assert summary.loc["search", "recovery_n"] == 0
    assert np.isnan(summary.loc["search", "recovery_median_minutes"])
    assert pd.isna(summary.loc["search", "recovery_band"])


def test_unresolved_linked_incident_falls_back_to_next_success():
    deploys = deployments(
        deployment("d1", "10-01 10:00"),
        deployment("d2", "10-01 12:00"),
    )
    named = incidents(caused("i1", "d1"))
    facts = d.deployment_facts(deploys, named)
    assert facts["recovery_minutes"].tolist()[0] == 120.0


# --- frequency, environments, summary shape ------------------------------------------------


def test_deployments_per_week_over_a_31_day_month():
    deploys = deployments(*[deployment(f"d{n}", f"10-{n + 1:02d} 12:00") for n in range(10)])
    row = only_row(d.delivery_summary(deploys, None, OCTOBER))
    assert row["deployments"] == 10
    assert row["deployments_per_week"] == 10 / (31 / 7)
    assert row["deployments_per_week"] == pytest.approx(2.2580645161)
    assert row["frequency_band"] == "high"


def test_non_production_deployments_are_ignored():
    deploys = deployments(
        deployment("d1", "10-01 10:00", environment="staging"),
        deployment("d2", "10-02 10:00", environment="PROD"),
        deployment("d3", "10-03 10:00", environment=""),
        deployment("d4", "10-04 10:00", "failed", environment="dev"),
        deployment("d5", "10-05 10:00", environment="production"),
    )
    row = only_row(d.delivery_summary(deploys, None, OCTOBER))
    assert (row["deployments"], row["failed_deployments"]) == (3, 0)
    custom = only_row(d.delivery_summary(deploys, None, OCTOBER, ("staging",)))
    assert custom["deployments"] == 2  # staging and the one without environment


def test_delivery_summary_table():
    deploys = deployments(
        deployment("a1", "10-01 10:00", service="search", commit="10-01 09:00"),
        deployment("a2", "10-02 10:00", "failed", service="search"),
        deployment("a3", "10-02 11:00", service="search"),
        deployment("b1", "10-03 10:00", commit="10-01 10:00"),
    )
    result = d.delivery_summary(deploys, None, OCTOBER)
    expected = pd.DataFrame(
        {
            "service": pd.Series(["checkout", "search"], dtype="string"),
            "deployments": [1, 3],
            "deployments_per_week": [1 / (31 / 7), 3 / (31 / 7)],
            "failed_deployments": [0, 1],
            "change_failure_rate": [0.0, 1 / 3],
            "lead_time_n": [1, 1],
            "lead_time_median_hours": [48.0, 1.0],
            "recovery_n": [0, 1],
            "recovery_from_next_deployment_n": [0, 1],
            "recovery_median_minutes": [np.nan, 60.0],
            # Fewer than 5 deployments each: no band, and the reason why.
            "frequency_band": pd.Series([pd.NA, pd.NA], dtype="string"),
            "lead_time_band": pd.Series([pd.NA, pd.NA], dtype="string"),
            "change_failure_band": pd.Series([pd.NA, pd.NA], dtype="string"),
            "recovery_band": pd.Series([pd.NA, pd.NA], dtype="string"),
            "band_withheld": pd.Series(["small_sample", "small_sample"], dtype="string"),
        }
    )
    tm.assert_frame_equal(result, expected)


def test_bands_from_five_deployments_on():
    """Five deployments of search in October, one failed and restored by an incident."""
    deploys = deployments(
        *[deployment(f"a{n}", f"10-0{n + 1} 10:00", service="search") for n in range(4)],
        deployment("a4", "10-06 10:00", "failed", service="search", commit="10-06 09:00"),
    )
    causes = incidents(caused("INC-1", by="a4", resolved="10-06 10:35"))
    result = only_row(d.delivery_summary(deploys, causes, OCTOBER))
    assert result["band_withheld"] is pd.NA
    assert result["frequency_band"] == "high"  # 5 in 31 days: at least weekly
    assert result["lead_time_band"] == "elite"  # 1 hour
    assert result["change_failure_band"] == "low"  # 20%
    assert result["recovery_band"] == "elite"  # 35 minutes, from its incident
    assert result["recovery_from_next_deployment_n"] == 0


def test_a_recovery_found_only_from_the_next_deployment_is_marked():
    deploys = deployments(
        deployment("a1", "10-01 10:00", "failed"),
        deployment("a2", "10-08 16:00"),  # a quiet week later: 174 hours
    )
    facts = d.deployment_facts(deploys, None)
    assert facts["recovery_minutes"].iloc[0] == 174 * 60
    assert facts["recovery_source"].iloc[0] == "next_deployment"
    assert facts["recovery_source"].isna().iloc[1]  # a success has no recovery
    result = only_row(d.delivery_summary(deploys, None, OCTOBER))
    assert result["recovery_from_next_deployment_n"] == 1


def test_delivery_summary_of_no_deployments_is_empty():
    result = d.delivery_summary(frames.empty(frames.DEPLOYMENTS), None, OCTOBER)
    assert result.empty
    assert list(result.columns) == ["service", *d.SUMMARY_COLUMNS]


def test_fleet_delivery_over_all_services():
    deploys = deployments(
        deployment("a1", "10-01 10:00", service="search", commit="10-01 09:00"),
        deployment("a2", "10-02 10:00", "failed", service="search"),
        deployment("a3", "10-02 11:00", service="search"),
        deployment("b1", "10-03 10:00", commit="10-01 10:00"),
        deployment("b2", "10-04 10:00", environment="staging"),
    )
    result = d.fleet_delivery(deploys, None, OCTOBER)
    expected = {
        "deployments": 4,
        "deployments_per_week": 4 / (31 / 7),
        "failed_deployments": 1,
        "change_failure_rate": 0.25,
        "lead_time_n": 2,
        "lead_time_median_hours": 24.5,
        "recovery_n": 1,
        "recovery_from_next_deployment_n": 1,
        "recovery_median_minutes": 60.0,
        "frequency_band": None,
        "lead_time_band": None,
        "change_failure_band": None,
        "recovery_band": None,
        "band_withheld": "small_sample",
    }
    assert result == expected


def test_fleet_delivery_of_no_deployments():
    result = d.fleet_delivery(
        frames.empty(frames.DEPLOYMENTS), frames.empty(frames.INCIDENTS), OCTOBER
    )
    assert result == {
        "deployments": 0,
        "deployments_per_week": 0.0,
        "failed_deployments": 0,
        "change_failure_rate": None,
        "lead_time_n": 0,
        "lead_time_median_hours": None,
        "recovery_n": 0,
        "recovery_from_next_deployment_n": 0,
        "recovery_median_minutes": None,
        "frequency_band": None,
        "lead_time_band": None,
        "change_failure_band": None,
        "recovery_band": None,
        "band_withheld": "small_sample",
    }


# --- DORA 2023 bands -----------------------------------------------------------------------


BOUNDARY_CASES = {
    # deployments per calendar day: at least daily, weekly, monthly (a month read as 31 days)
    "frequency": [
        (2.0, "elite"),
        (1.0, "elite"),
        (0.99, "high"),
        (1 / 7, "high"),
        (0.14, "medium"),
        (1 / 31, "medium"),
        (0.03, "low"),
        (0.0, "low"),
    ],
    # hours: under 1 day, under 1 week, under 30 days
    "lead_time": [
        (23.99, "elite"),
        (24.0, "high"),
        (167.9, "high"),
        (168.0, "medium"),
        (719.9, "medium"),
        (720.0, "low"),
    ],
    # fraction of deployments: at most 5%, 10%, 15%
    "change_failure": [
        (0.0, "elite"),
        (0.05, "elite"),
        (0.0501, "high"),
        (0.10, "high"),
        (0.15, "medium"),
        (0.1501, "low"),
        (0.64, "low"),
    ],
    # minutes: under 1 hour, under 1 day, under 1 week
    "recovery": [
        (59.9, "elite"),
        (60.0, "high"),
        (1439.0, "high"),
        (1440.0, "medium"),
        (10079.0, "medium"),
        (10080.0, "low"),
    ],
}


@pytest.mark.parametrize("metric", list(BOUNDARY_CASES))
def test_dora_bands_at_their_boundaries(metric):
    values, bands = zip(*BOUNDARY_CASES[metric], strict=True)
    result = d.dora_band(metric, pd.Series(values))
    expected = pd.Series(bands, dtype="string")
    tm.assert_series_equal(result, expected)


def test_change_failure_fractions_of_counts_hit_the_boundaries_exactly():
    rates = pd.Series([1 / 20, 2 / 20, 3 / 20])
    result = d.dora_band("change_failure", rates).tolist()
    assert result == ["elite", "high", "medium"]


def test_missing_values_have_no_band():
    result = d.dora_band("recovery", pd.Series([np.nan, 30.0]))
    expected = pd.Series([pd.NA, "elite"], dtype="string")
    tm.assert_series_equal(result, expected)


def test_unknown_band_metric():
    with pytest.raises(ValueError, match="unknown DORA metric 'mttr'"):
        d.dora_band("mttr", pd.Series([1.0]))


def test_frequency_band_counts_calendar_days():
    daily = deployments(*[deployment(f"d{n}", f"10-{n + 1:02d} 12:00") for n in range(31)])
    assert only_row(d.delivery_summary(daily, None, OCTOBER))["frequency_band"] == "elite"
    almost = deployments(*[deployment(f"d{n}", f"10-{n + 1:02d} 12:00") for n in range(30)])
    assert only_row(d.delivery_summary(almost, None, OCTOBER))["frequency_band"] == "high"
    # October in Berlin is 31 days and 1 hour long; a deployment every day is still daily
    berlin = Month(2026, 10, "Europe/Berlin")
    assert berlin.days > 31
    assert only_row(d.delivery_summary(daily, None, berlin))["frequency_band"] == "elite"
