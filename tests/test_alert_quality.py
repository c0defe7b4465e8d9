"""Alert quality from the real alert history: pages, actionable and noisy alerts, runbooks,
night pages and the agreement with the replayed burn-rate pages, pinned by hand-computed
values; the input's validation and its ``null``s."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reliability import frames
from reliability.cli import main
from reliability.config import BusinessHours, config_from_dict
from reliability.errors import InputError
from reliability.frames import Frames
from reliability.metrics import alert_quality as aq
from reliability.metrics.month import compute_month
from reliability.metrics.oncall import off_hours
from reliability.period import Month
from reliability.results import to_json

MONDAY = pd.Timestamp("2026-10-05T00:00Z")
"""Minute 0: Monday 5 October 2026, 00:00 UTC."""
RUNBOOK = "https://runbooks.example.com/"


def at(minute: float) -> str:
    return (MONDAY + pd.Timedelta(minutes=minute)).isoformat()


def alerts_frame(rows: list[tuple]) -> pd.DataFrame:
    """Validated alerts from ``(alert, service, severity, start, end, runbook, incident)``."""
    frame = pd.DataFrame(
        [
            {
                "alert": alert,
                "service": service,
                "severity": severity or "",
                "started_at": at(start),
                "ended_at": "" if end is None else at(end),
                "runbook_url": RUNBOOK + alert if runbook else "",
                "incident_id": incident or "",
            }
            for alert, service, severity, start, end, runbook, incident in rows
        ]
    )
    return frames.validate(frame, frames.ALERTS, "alerts.csv")


ROWS = [
    # 02:00, 3 minutes, no incident: noise, at night
    ("HighErrorRate", "checkout", "critical", 120, 123, True, None),
    # 10:00 to 10:45, INC-1 opened at 10:05 covers it: actionable, in business hours
    ("HighErrorRate", "checkout", "critical", 600, 645, True, None),
    # 23:00, 2 minutes: noise, at night
    ("HighErrorRate", "checkout", "critical", 1380, 1382, True, None),
    # a warning does not page; no runbook
    ("DiskFull", "ledger", "warning", 720, 780, False, None),
    # 03:00 for 20 minutes, names its incident: actionable, at night
    ("SlowSearch", "search", "page", 180, 200, True, "INC-9"),
    # no severity label: a page; 18:00, 4 minutes: noise, off hours but not asleep; no runbook
    ("Flapper", "search", None, 1080, 1084, False, None),
]
INCIDENTS = frames.validate(
    pd.DataFrame(
        [
            {
                "id": "INC-1",
                "service": "checkout",
                "severity": "SEV2",
                "created_at": at(605),
                "resolved_at": at(640),
            }
        ]
    ),
    frames.INCIDENTS,
    "incidents.csv",
)
TEAMS = {"checkout": "payments", "ledger": "payments", "search": "discovery"}
OCTOBER = Month(2026, 10)
REPLAYED = pd.DataFrame(
    {
        "service": ["checkout", "search", "search"],
        "slo": ["availability", "latency", "latency"],
        "severity": ["page", "page", "ticket"],
        "start": pd.to_datetime([at(110), at(1440 + 480), at(180)]),
        "end": pd.to_datetime([at(150), at(1440 + 540), at(200)]),
    }
)


def quality(rows=ROWS, incidents=INCIDENTS, replayed=REPLAYED, **kw) -> aq.AlertQuality:
    frame = alerts_frame(rows)
    started = frame["started_at"]
    return aq.alert_quality(
        frame,
        incidents,
        TEAMS,
        OCTOBER.duration,
        OCTOBER.end,
        off_hours(started, "UTC", BusinessHours()).to_numpy(dtype=bool),
        aq.in_local_hours(started, "UTC", 22, 7),
        replayed=replayed,
        slo_services={"checkout", "search"},
        **kw,
    )


def test_pages_actionable_noise_runbooks_and_night_pages():
    result = quality()
    assert (result.alerts, result.pages) == (6, 5)
    assert (result.actionable, result.actionable_share) == (2, 2 / 5)
    assert (result.noise, result.noise_share, result.noise_minutes) == (3, 3 / 5, 5.0)
    assert result.without_runbook == 2
    assert result.rules_without_runbook == ["DiskFull", "Flapper"]
    assert (result.off_hours_pages, result.sleep_hours_pages) == (4, 3)
    history = result.history
    assert pd.isna(history.loc[0, "incident"])
    assert history.loc[1, "incident"] == "INC-1"
    assert history.loc[4, "incident"] == "INC-9"
    assert result.reasons == {}


def test_rules_noisiest_first():
    rules = quality().by_rule
    assert rules["alert"].tolist() == ["HighErrorRate", "Flapper", "SlowSearch", "DiskFull"]
    first = rules.iloc[0]
    assert (first["alerts"], first["pages"], first["actionable"], first["noise"]) == (3, 3, 1, 2)
    assert first["noise_share"] == pytest.approx(2 / 3)
    assert first["median_minutes"] == 3.0
    disk = rules.set_index("alert").loc["DiskFull"]
    assert (disk["pages"], disk["without_runbook"], disk["median_minutes"]) == (0, 1, 60.0)
    assert pd.isna(disk["noise_share"])


def test_alert_pages_per_shift_per_team():
    teams = quality().by_team.set_index("team")
    assert teams.index.tolist() == ["payments", "discovery"]
    assert teams.loc["payments", "shifts"] == 62.0  # 31 days of two 12-hour shifts
    assert teams.loc["payments", "alert_pages"] == 3
    assert teams.loc["payments", "alert_pages_per_shift"] == pytest.approx(3 / 62)
    assert (
        teams.loc["payments", "off_hours_pages"],
        teams.loc["payments", "sleep_hours_pages"],
    ) == (2, 2)
    assert (teams.loc["discovery", "alert_pages"], teams.loc["discovery", "sleep_hours_pages"]) == (
        2,
        1,
    )


def test_real_pages_beside_the_replayed_ones():
    result = quality()
    # Of the 5 alert pages on services with SLOs, the 02:00 checkout page overlaps the replayed
    # checkout page (01:50 to 02:30); the replayed search page of Tuesday 08:00 reached no one.
    assert (result.explained, result.explainable, result.explained_share) == (1, 5, 0.2)
    assert result.unreached[["service", "slo"]].values.tolist() == [["search", "latency"]]
    assert result.unreached["start"].tolist() == [pd.Timestamp(at(1920))]


def test_noise_threshold_is_configurable_and_an_open_alert_is_not_noise():
    assert quality(noise_minutes=2.5).noise == 1  # only the 2-minute page
    still = quality(rows=[("HighErrorRate", "checkout", "critical", 120, None, True, None)])
    assert (still.pages, still.noise) == (1, 0)
    assert still.history.loc[0, "minutes"] == (OCTOBER.end - MONDAY) / pd.Timedelta(minutes=1) - 120


def test_page_severities_are_configurable():
    result = quality(page_severities=("critical", "warning"))
    assert result.pages == 5  # DiskFull now pages, SlowSearch's "page" no longer does


def test_without_incidents_or_replay_the_figures_say_what_they_could_not_judge():
    result = quality(incidents=None, replayed=None)
    assert result.actionable == 1  # only the alert naming its incident
    assert "no incident input" in result.reasons["actionable"]
    assert result.explained is None
    assert result.reasons["explained"] == "no SLI input: no burn-rate alerts were replayed"


def test_sleep_hours_across_midnight_and_within_a_day():
    instants = pd.Series(
        pd.to_datetime([at(21 * 60 + 59), at(22 * 60), at(6 * 60 + 59), at(7 * 60)])
    )
    assert aq.in_local_hours(instants, "UTC", 22, 7).tolist() == [False, True, True, False]
    assert aq.in_local_hours(instants, "UTC", 0, 7).tolist() == [False, False, True, False]
    # Berlin is UTC+2 (CEST) on 5 October: 23:59, 00:00, 08:59 and 09:00 there
    assert aq.in_local_hours(instants, "Europe/Berlin", 22, 7).tolist() == [
        True,
        True,
        False,
        False,
    ]


# --- the month, the config, the input ---------------------------------------------------------


def config(**extra):
    return config_from_dict(
        {"services": [{"name": s, "team": t} for s, t in TEAMS.items()], **extra},
        "reliability.yaml",
        Path("."),
    )


def test_the_month_carries_the_section_and_null_without_the_input():
    extent = (MONDAY - pd.Timedelta(days=9), MONDAY + pd.Timedelta(days=40))
    loaded = Frames(alerts=alerts_frame(ROWS), incidents=INCIDENTS, extents={"alerts": extent})
    now = pd.Timestamp("2026-12-01T00:00Z")
    document = to_json(compute_month(config(), loaded, OCTOBER, now=now))
    section = document["alert_quality"]
    assert (section["alert_pages"], section["noise"], section["actionable"]) == (5, 3, 2)
    assert section["by_rule"][0]["alert"] == "HighErrorRate"
    assert section["explained_by_slos"] is None  # no SLI input
    bare = to_json(compute_month(config(), Frames(incidents=INCIDENTS), OCTOBER, now=now))
    assert bare["alert_quality"] is None
    assert "alerts" in bare["missing_inputs"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"alert_quality": {"noise_minutes": 0}}, "alert_quality.noise_minutes"),
        ({"alert_quality": {"sleep_hours": {"start": 7, "end": 7}}}, "alert_quality.sleep_hours"),
        ({"alert_quality": {"page_severities": []}}, "alert_quality.page_severities"),
        ({"alert_quality": {"pages": ["x"]}}, "alert_quality.pages"),
    ],
)
def test_bad_alert_quality_config_names_the_key(extra, expected):
    with pytest.raises(InputError) as caught:
        config(**extra)
    assert any(expected in str(problem) for problem in caught.value.problems), caught.value


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("started_at", "yesterday", "not an ISO 8601 timestamp: yesterday"),
        ("ended_at", "2026-10-01T00:00:00Z", "ended before started_at"),
        ("alert", "", "missing value"),
    ],
)
def test_validate_names_file_row_and_column_of_a_bad_alert(
    tmp_path, capsys, column, value, message
):
    cells = {"alert": "HighErrorRate", "started_at": "2026-10-05T00:00:00Z", "ended_at": ""}
    cells[column] = value
    (tmp_path / "alerts.csv").write_text(
        "alert,service,severity,started_at,ended_at\n"
        "HighErrorRate,checkout,critical,2026-10-02T00:00:00Z,2026-10-02T00:05:00Z\n"
        f"{cells['alert']},checkout,critical,{cells['started_at']},{cells['ended_at']}\n"
    )
    (tmp_path / "reliability.yaml").write_text(
        "services: [{name: checkout, team: payments}]\n"
        "sources:\n  alerts: {kind: csv, path: alerts.csv}\n"
    )
    code = main(["validate", "--config", str(tmp_path / "reliability.yaml"), "--month", "2026-10"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ") and " row " in line]
    assert len(lines) == 1, err
    assert str(tmp_path / "alerts.csv") in lines[0]
    assert f"row 3: column {column}: {message}" in lines[0]


def test_compute_reads_an_alerts_csv(tmp_path, capsys):
    (tmp_path / "alerts.csv").write_text(
        "alert,service,severity,started_at,ended_at,runbook_url\n"
        "HighErrorRate,checkout,critical,2026-10-02T00:00:00Z,2026-10-02T00:03:00Z,\n"
        "HighErrorRate,checkout,critical,2026-10-09T00:00:00Z,2026-10-09T01:00:00Z,https://rb/1\n"
    )
    (tmp_path / "reliability.yaml").write_text(
        "services: [{name: checkout, team: payments}]\n"
        "sources:\n  alerts: {kind: csv, path: alerts.csv}\n"
    )
    args = ["--config", str(tmp_path / "reliability.yaml"), "--month", "2026-10"]
    assert main(["compute", *args, "--format", "json"]) == 0
    section = json.loads(capsys.readouterr().out)["alert_quality"]
    assert (section["alerts"], section["alert_pages"], section["noise"]) == (2, 2, 1)
    assert section["without_runbook"] == 1


def test_an_incident_opened_before_the_first_covers_an_alert_of_the_month():
    """Opened on 30 September at 23:50 and still open: the alert of 1 October 00:05 to 00:08
    joined it, so it is actionable, not noise."""
    incident = frames.validate(
        pd.DataFrame(
            [
                {
                    "id": "INC-0",
                    "service": "checkout",
                    "severity": "SEV1",
                    "created_at": "2026-09-30T23:50:00Z",
                    "resolved_at": "",
                }
            ]
        ),
        frames.INCIDENTS,
        "incidents.csv",
    )
    first = pd.Timestamp("2026-10-01T00:05:00Z")
    alert = alerts_frame([("HighErrorRate", "checkout", "critical", 0, 3, True, None)])
    alert["started_at"], alert["ended_at"] = first, first + pd.Timedelta(minutes=3)
    extent = (OCTOBER.start - pd.Timedelta(days=9), OCTOBER.end + pd.Timedelta(days=9))
    loaded = Frames(
        alerts=alert, incidents=incident, extents={"alerts": extent, "incidents": extent}
    )
    result = compute_month(config(), loaded, OCTOBER, now=pd.Timestamp("2026-12-01T00:00Z"))
    quality = result.alert_quality
    assert (quality.pages, quality.actionable, quality.noise) == (1, 1, 0)
    assert quality.history.loc[0, "incident"] == "INC-0"
