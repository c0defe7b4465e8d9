"""SLO corrections: planned maintenance left out of the SLI and the budget, pinned by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from slo_helpers import constant_traffic

from reliability.config import config_from_dict
from reliability.errors import InputError
from reliability.frames import Frames
from reliability.metrics.month import compute_month
from reliability.period import Month
from reliability.results import to_json

SEPTEMBER = Month(2026, 9)  # 30 days: 43,200 minutes, 4,320,000 events at 100 a minute
DAY = 1440
OUTAGE = 10 * DAY + 8 * 60  # 11 September 08:00
NOW = pd.Timestamp("2027-01-01", tz="UTC")


def at(minute: int) -> str:
    return (SEPTEMBER.start + pd.Timedelta(minutes=minute)).isoformat()


def config(corrections, budgeting: str = "occurrences"):
    slo = {"objective": 0.999, "budgeting": budgeting}
    if budgeting == "timeslices":
        slo["timeslice_target"] = 0.95
    services = [
        {
            "name": "checkout",
            "team": "payments",
            "slos": [{"name": "availability", **slo}, {"name": "latency", **slo}],
        }
    ]
    data = {"services": services, "corrections": corrections}
    return config_from_dict(data, "reliability.yaml", Path("."))


def month(cfg, bad_minutes=range(OUTAGE, OUTAGE + 30), bad=100):
    """30 minutes of full outage from 08:00 on 11 September, on both SLOs."""
    rows = pd.concat(
        [
            constant_traffic(SEPTEMBER, bad=dict.fromkeys(bad_minutes, bad), name=name)
            for name in ("availability", "latency")
        ],
        ignore_index=True,
    )
    return compute_month(cfg, Frames(sli=rows), SEPTEMBER, NOW)


def correction(start: int, end: int, **extra) -> dict:
    return {
        "start": at(start),
        "end": at(end),
        "service": "checkout",
        "slo": "availability",
        "reason": "database upgrade",
    } | extra


def test_a_correction_removes_its_events_from_sli_and_budget():
    """08:00-09:00 excluded: 6,000 events (3,000 bad) out of 4,320,000. Corrected SLI 1.0;
    uncorrected 1 - 3,000 / 4,320,000; set aside 3,000 / (0.001 * 4,320,000) = 0.694."""
    result = month(config([correction(OUTAGE, OUTAGE + 60)]))
    slos = result.slos.set_index("slo")
    fixed = slos.loc["availability"]
    assert fixed["sli"] == 1.0
    assert fixed["total"] == 4_320_000 - 6_000
    assert fixed["budget_consumed"] == 0.0
    assert fixed["uncorrected_sli"] == pytest.approx(1 - 3_000 / 4_320_000)
    assert fixed["budget_set_aside"] == pytest.approx(3_000 / 4_320)
    # The other SLO of the service is not corrected.
    other = slos.loc["latency"]
    assert other["sli"] == pytest.approx(1 - 3_000 / 4_320_000)
    assert other["uncorrected_sli"] == other["sli"]
    assert other["budget_set_aside"] == 0.0
    listed = result.corrections
    assert listed[["slo", "reason", "excluded_minutes"]].to_dict("records") == [
        {"slo": "availability", "reason": "database upgrade", "excluded_minutes": 60}
    ]
    assert listed["budget_set_aside"].iloc[0] == pytest.approx(3_000 / 4_320)


def test_the_alert_replay_ignores_corrections():
    """Production rules page during maintenance too: the replay still shows the outage."""
    corrected = month(config([correction(OUTAGE, OUTAGE + 60)])).alerts
    plain = month(config([])).alerts
    pd.testing.assert_frame_equal(corrected, plain)
    assert (corrected["slo"] == "availability").any()


def test_overlapping_corrections_exclude_a_minute_once():
    """08:00-08:40 and 08:20-09:00: the union is 60 minutes, as one correction. Each lists the
    bad events of its own window: 3,000 and 1,000 (08:20-08:30)."""
    result = month(config([correction(OUTAGE, OUTAGE + 40), correction(OUTAGE + 20, OUTAGE + 60)]))
    fixed = result.slos.set_index("slo").loc["availability"]
    assert fixed["total"] == 4_320_000 - 6_000
    assert fixed["budget_set_aside"] == pytest.approx(3_000 / 4_320)
    assert result.corrections["excluded_minutes"].tolist() == [40, 40]
    assert result.corrections["budget_set_aside"].tolist() == pytest.approx(
        [3_000 / 4_320, 1_000 / 4_320]
    )


def test_corrections_outside_the_month_are_clipped_or_left_out():
    before = {"start": "2026-08-10T00:00:00Z", "end": "2026-08-11T00:00:00Z"}
    across = {"start": "2026-08-31T23:00:00Z", "end": "2026-09-01T01:00:00Z"}
    result = month(config([correction(0, 1) | before, correction(0, 1) | across]))
    assert result.corrections["excluded_minutes"].tolist() == [60]
    assert result.corrections["start"].iloc[0] == pd.Timestamp("2026-08-31T23:00:00Z")
    fixed = result.slos.set_index("slo").loc["availability"]
    assert fixed["total"] == 4_320_000 - 6_000
    assert fixed["budget_set_aside"] == 0.0  # no bad events in the first hour


def test_a_correction_without_slo_covers_every_slo_of_its_service():
    entry = correction(OUTAGE, OUTAGE + 60)
    del entry["slo"]
    result = month(config([entry]))
    assert result.slos["sli"].tolist() == [1.0, 1.0]
    assert sorted(result.corrections["slo"]) == ["availability", "latency"]


def test_a_correction_removes_timeslices():
    """1-minute slices at target 0.95: the 30 bad slices lie inside the correction, so no
    slice of the month is bad; uncorrected, 30 of 43,200 are."""
    result = month(config([correction(OUTAGE, OUTAGE + 60)], budgeting="timeslices"))
    fixed = result.slos.set_index("slo").loc["availability"]
    assert fixed["sli"] == 1.0
    assert fixed["slices"] == 43_200 - 60
    assert fixed["uncorrected_sli"] == pytest.approx(1 - 30 / 43_200)
    assert fixed["budget_set_aside"] == pytest.approx(30 / 43.2)


def test_the_json_carries_both_slis_and_the_corrections():
    result = json.loads(json.dumps(to_json(month(config([correction(OUTAGE, OUTAGE + 60)])))))
    slo = next(s for s in result["slos"] if s["slo"] == "availability")
    assert slo["sli"] == 1.0
    assert slo["uncorrected_sli"] == pytest.approx(1 - 3_000 / 4_320_000)
    assert slo["budget_set_aside"] == pytest.approx(3_000 / 4_320)
    assert result["corrections"][0]["reason"] == "database upgrade"
    assert result["corrections"][0]["start"] == "2026-09-11T08:00:00+00:00"


@pytest.mark.parametrize("mark", ["", "\ufeff"])  # a byte-order mark, as Excel writes one
def test_corrections_from_a_csv(tmp_path, mark):
    (tmp_path / "maintenance.csv").write_text(
        f"{mark}start,end,service,slo,reason\n"
        f"{at(OUTAGE)},{at(OUTAGE + 60)},checkout,availability,database upgrade\n"
        f"{at(OUTAGE)},{at(OUTAGE + 60)},checkout,,network change\n"
    )
    services = [
        {"name": "checkout", "team": "payments",
         "slos": [{"name": "availability", "objective": 0.999}]},
    ]  # fmt: skip
    cfg = config_from_dict(
        {"services": services, "corrections": "maintenance.csv"}, "reliability.yaml", tmp_path
    )
    assert [c.reason for c in cfg.corrections] == ["database upgrade", "network change"]
    assert cfg.corrections[1].slo is None


def test_a_bad_corrections_csv_names_file_row_and_column(tmp_path):
    (tmp_path / "maintenance.csv").write_text(
        "start,end,service,slo,reason\n"
        "2026-09-10T08:00:00Z,2026-09-10T09:00:00Z,checkout,,ok\n"
        "yesterday,2026-09-10T09:00:00Z,checkout,,upgrade\n"
        "2026-09-10T08:00:00Z,2026-09-10T09:00:00Z,checkout,,\n"
    )
    with pytest.raises(InputError) as caught:
        config_from_dict({"corrections": "maintenance.csv"}, "reliability.yaml", tmp_path)
    lines = [str(p) for p in caught.value.problems]
    assert any("row 3: column start: expected an ISO 8601 instant" in line for line in lines)
    assert any("row 4: column reason" in line for line in lines)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"service": "search"}, r"corrections\[0\]\.service: unknown service 'search'"),
        ({"slo": "freshness"}, r"corrections\[0\]\.slo: checkout has no SLO 'freshness'"),
        ({"end": "2026-09-10T07:00:00Z"}, "end must be after start"),
        ({"start": "2026-09-10T07:00:00"}, "need a UTC offset"),
        ({"reason": ""}, r"corrections\[0\]\.reason"),
    ],
)
def test_bad_corrections_are_refused(entry, message):
    with pytest.raises(InputError, match=message):
        config([correction(OUTAGE, OUTAGE + 60) | entry])


def results_for(cfg, metrics):
    from reliability.metrics.trends import service_trend_frame, trend_frame
    from reliability.results import Results

    return Results(
        config=cfg,
        month=SEPTEMBER,
        history=[metrics],
        trend=trend_frame([metrics]),
        service_trend=service_trend_frame([metrics]),
        deployments=None,
        config_label="test",
    )


def test_the_report_lists_each_correction_with_its_reason_and_budget():
    from reliability.report import sections

    cfg = config([correction(OUTAGE, OUTAGE + 60, reason="database <upgrade>")])
    html = sections.corrections(results_for(cfg, month(cfg))).data
    assert "database &lt;upgrade&gt;" in html  # escaped, as every value from the data
    assert "11 Sep 08:00" in html
    assert "69.4%" in html  # 3,000 / 4,320 of the budget set aside
    assert "99.931%" in html  # the SLI without the correction
    empty = sections.corrections(results_for(config([]), month(config([])))).data
    assert "No planned maintenance" in empty


def test_the_report_shows_the_alert_policy_and_episode_tiers():
    from reliability.report import sections

    cfg = config([])
    html = sections.alert_policies(results_for(cfg, month(cfg))).data
    assert "workbook: 2 SLOs" in html
    assert "14.4" in html
    assert "P1" in html
    assert "Replayed alert episodes by tier" in html


def test_budget_attribution_and_the_daily_sli_leave_corrections_out():
    """An incident over the corrected hour burned no budget; that day's SLI is 1.0."""
    cfg = config([correction(OUTAGE, OUTAGE + 60)])
    rows = pd.concat(
        [
            constant_traffic(SEPTEMBER, bad=dict.fromkeys(range(OUTAGE, OUTAGE + 30), 100), name=n)
            for n in ("availability", "latency")
        ],
        ignore_index=True,
    )
    stamp = SEPTEMBER.start + pd.Timedelta(minutes=OUTAGE)
    incidents = pd.DataFrame(
        {
            "id": ["INC-1"],
            "service": pd.Series(["checkout"], dtype="string"),
            "severity": pd.Series(["SEV2"], dtype="string"),
            "title": pd.Series(["database upgrade"], dtype="string"),
            "created_at": [stamp],
            "started_at": [stamp],
            "acknowledged_at": [stamp],
            "resolved_at": [stamp + pd.Timedelta(minutes=30)],
        }
    )
    result = compute_month(cfg, Frames(sli=rows, incidents=incidents), SEPTEMBER, NOW)
    shares = result.attribution.set_index("slo")["budget_share"]
    assert shares["availability"] == 0.0
    assert shares["latency"] == pytest.approx(3_000 / 4_320)
    daily = result.daily_sli
    day = daily.loc[(daily["slo"] == "availability") & (daily["day"] == pd.Timestamp("2026-09-11"))]
    assert day["sli"].iloc[0] == 1.0
