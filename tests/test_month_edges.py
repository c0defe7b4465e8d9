"""The month's edges: a month in progress, a month without data, a future month, and
sections whose input says nothing about the month (docs/metrics.md, "Edges of the month")."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reliability import pipeline
from reliability.cli import main
from reliability.config import load_config
from reliability.errors import InputError
from reliability.metrics.slo import alert_lookback
from reliability.period import Month
from reliability.sources.sample import write_sample

OCTOBER = Month(2026, 10)
NOW = pd.Timestamp("2026-10-10T12:00:00Z")


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> Path:
    """The sample organisation's October as canonical CSV files, with its lookback (as
    ``reliability sample`` writes them)."""
    return write_sample(tmp_path_factory.mktemp("org"), OCTOBER, lookback=alert_lookback())


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_rows_dated_after_now_are_left_out_and_named(org):
    """Ten days into October, the whole month's files: only what has happened counts."""
    deployments = read(org.parent / "deployments.csv")
    stamps = pd.to_datetime(deployments["deployed_at"], utc=True)
    happened = int(((stamps >= OCTOBER.start) & (stamps <= NOW)).sum())
    later = int((stamps > NOW).sum())
    incidents = pd.to_datetime(read(org.parent / "incidents.csv")["created_at"], utc=True)
    later_incidents = int((incidents > NOW).sum())
    assert later > 0
    assert later_incidents > 0

    _, result = pipeline.compute(load_config(org), OCTOBER, now=NOW)
    assert result.in_progress
    assert result.until == NOW
    assert result.fleet_delivery["deployments"] == happened
    assert result.response.count == int(((incidents >= OCTOBER.start) & (incidents <= NOW)).sum())
    # Per week of the ten and a half days that have passed, not of the whole month.
    assert result.fleet_delivery["deployments_per_week"] == pytest.approx(happened / (9.5 / 7))
    findings = result.data_quality.set_index("finding")
    row = findings.loc["Rows dated after now left out"]
    assert pd.isna(row["service"])  # about the whole fleet
    assert f"{later_incidents} incidents" in row["effect"]
    assert f"{later} deployments" in row["effect"]


def test_sli_rows_after_the_month_still_count_as_dated_after_now(org, tmp_path):
    """A file holding November's minutes too, ten days into October: those rows lie beyond
    the span and are never kept, but they are dated after now like the rest of October's,
    and the finding counts both."""
    folder = tmp_path / "org"
    folder.mkdir()
    for path in org.parent.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    sli = read(folder / "sli.csv")
    november = sli.iloc[:3].assign(
        timestamp=["2026-11-02T00:00:00Z", "2026-11-02T00:01:00Z", "2026-11-02T00:02:00Z"]
    )
    pd.concat([sli, november]).to_csv(folder / "sli.csv", index=False)
    stamps = pd.to_datetime(sli["timestamp"], utc=True)
    later = int((stamps > NOW).sum()) + 3

    _, result = pipeline.compute(load_config(folder / "reliability.yaml"), OCTOBER, now=NOW)
    row = result.data_quality.set_index("finding").loc["Rows dated after now left out"]
    assert f"{later:,} SLI rows" in row["effect"], row["effect"]


def test_the_json_of_a_month_in_progress_says_until_when(org):
    from reliability.results import to_json

    _, result = pipeline.compute(load_config(org), OCTOBER, now=NOW)
    document = to_json(result)
    assert document["in_progress"] is True
    assert document["until"] == NOW.isoformat()


def test_a_month_without_data_exits_2_naming_where_the_data_ends(org, capsys):
    for command in ("compute", "validate"):
        code = main([command, "--config", str(org), "--month", "2026-03"])
        captured = capsys.readouterr()
        errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
        assert code == 2
        assert captured.out == ""  # nothing half-written, no "no problems found"
        assert "no data at all for 2026-03" in errors[0]
        assert "incidents: rows from 2026-09-28" in errors[0]
        assert "to 2026-10-31" in errors[0]
        assert "Traceback" not in captured.err


def test_a_future_month_exits_2_before_loading_anything(capsys):
    with pytest.raises(InputError, match="has not begun"):
        pipeline.compute(pipeline.load_config(None), Month(2027, 5), now=NOW)
    code = main(["compute", "--month", "2099-01"])
    assert code == 2
    assert "2099-01 has not begun yet" in capsys.readouterr().err


def test_sections_of_inputs_without_rows_in_the_month_are_null_with_a_reason(org, tmp_path):
    """November: one deployment, nothing else. Incidents, work log and alerts say nothing
    about November (their rows end in October), so their sections are null, never zeros, and no
    band is derived from one deployment."""
    folder = tmp_path / "org"
    folder.mkdir()
    for path in org.parent.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    deployments = read(folder / "deployments.csv")
    extra = deployments.iloc[[0]].assign(id="D-NOV", deployed_at="2026-11-02T10:00:00Z")
    pd.concat([deployments, extra]).to_csv(folder / "deployments.csv", index=False)
    now = pd.Timestamp("2026-12-01T00:00:00Z")
    _, result = pipeline.compute(load_config(folder / "reliability.yaml"), Month(2026, 11), now=now)
    assert result.response is None
    assert result.oncall is None
    assert result.toil is None
    assert set(result.unavailable) == {"incidents", "worklog", "alerts"}
    assert "no incidents rows in 2026-11" in result.unavailable["incidents"]
    assert result.fleet_delivery["deployments"] == 1
    assert result.fleet_delivery["frequency_band"] is None
    assert result.fleet_delivery["band_withheld"] == "small_sample"
    assert (result.slos["status"] == "no_data").all()
    assert result.slos["budget_remaining"].isna().all()


def test_validate_warns_when_the_month_lies_outside_the_data(org, tmp_path, capsys):
    folder = tmp_path / "org"
    folder.mkdir()
    for path in org.parent.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    worklog = read(folder / "worklog.csv")
    worklog.iloc[[0]].assign(date="2026-11-03").pipe(
        lambda extra: pd.concat([worklog, extra])
    ).to_csv(folder / "worklog.csv", index=False)
    code = main(["validate", "--config", str(folder / "reliability.yaml"), "--month", "2026-11"])
    captured = capsys.readouterr()
    assert code == 0
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert any("2026-11 lies outside the incidents input's rows" in w for w in warnings)
    assert "incidents: left out of 2026-11" in captured.out


def test_validate_does_not_warn_about_a_month_the_data_covers(org, capsys):
    """The sample's files run to the month's last minute (23:59) and its last incident: the
    month lies inside every input's rows."""
    code = main(["validate", "--config", str(org), "--month", "2026-10"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "lies outside" not in captured.err


def test_a_service_page_lists_only_its_own_and_fleet_wide_findings():
    from reliability.report import sections

    results = pipeline.report_results(
        pipeline.load_config(None), OCTOBER, now=pd.Timestamp("2026-11-15T00:00:00Z")
    )
    findings = results.current.data_quality
    scoped = findings.dropna(subset=["service"])
    teams = {s.name: s.team for s in results.config.services}
    assert (scoped["team"] == scoped["service"].map(teams)).all()
    services = set(scoped["service"])
    assert len(services) > 1
    for service in services:
        page = sections.data_quality(results, service).data
        others = services - {service}
        assert f">{service}</td>" in page
        assert not any(f">{other}</td>" in page for other in others)


def test_a_timeslice_slo_shows_its_share_of_good_events_beside_its_slices():
    """auth latency in the sample: every 1-minute slice good (100%) while 0.2% of requests
    were slow; the table shows both, and an SLO on events shows its SLI alone."""
    from reliability.report import sections

    slos = pd.DataFrame(
        {
            "sli": [1.0, 0.9993],
            "event_sli": [0.9979997, 0.9993],
            "budgeting": ["timeslices", "occurrences"],
        }
    )
    shown = sections.achieved(slos).tolist()
    assert shown == ["100.000% of slices (99.800% of events)", "99.930%"]
