"""The built-in sample organisation: deterministic, valid, realistic, and telling its story."""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from reliability import frames
from reliability.config import load_config
from reliability.period import Month, Span
from reliability.sources import files, load_frames, sample

MONTHS = [Month(2020, 1), Month(2024, 2), Month(2026, 10), Month(2030, 12)]
"""A long and a short month, a leap February, the design's example month, the far end."""
MONTH_IDS = [m.label for m in MONTHS]
SPECS = {
    "sli": frames.SLI,
    "incidents": frames.INCIDENTS,
    "deployments": frames.DEPLOYMENTS,
    "worklog": frames.WORKLOG,
}
ELEVATED = 0.10
"""A minute is part of an outage when more than this share of its events is bad."""


# Frames are compared with check_exact=True: exact is what the sample promises, and pandas'
# approximate comparison of categorical columns takes seconds on an SLI frame.


@functools.cache
def generated(label: str) -> dict[str, pd.DataFrame]:
    """One generated month per test session (the module's own cache keeps only a few SLIs)."""
    year, month = map(int, label.split("-"))
    return sample.generate(Month(year, month))


@pytest.fixture(params=MONTHS, ids=MONTH_IDS)
def month(request) -> Month:
    return request.param


@pytest.fixture
def data(month: Month) -> dict[str, pd.DataFrame]:
    return generated(month.label)


@functools.cache
def minute_grid(month: Month) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (service, slo) of the generated month: its SLI rows in time order, one per minute."""
    result = {}
    expected = minutes_of(month).to_numpy()
    sli = generated(month.label)["sli"]
    for (service, slo), group in sli.groupby(["service", "slo"], observed=True):
        group = group.sort_values("timestamp")
        assert (group["timestamp"].to_numpy() == expected).all(), (service, slo)
        result[(str(service), str(slo))] = group
    return result


def minutes_of(month: Month) -> pd.DatetimeIndex:
    return pd.date_range(month.start, month.end, freq="min", inclusive="left", unit="ns")


def elevated_minutes(month: Month) -> dict[str, np.ndarray]:
    """Per service: the minutes in which some SLO has more than ``ELEVATED`` bad events."""
    result: dict[str, np.ndarray] = {}
    for (service, _), group in minute_grid(month).items():
        total = group["total"].to_numpy()
        bad = total - group["good"].to_numpy()
        share = np.divide(bad, total, out=np.zeros(len(total)), where=total > 0)
        result[service] = result.get(service, np.zeros(len(total), dtype=bool)) | (share > ELEVATED)
    return result


def slo_values(month: Month) -> pd.DataFrame:
    """SLI and budget consumed per SLO, computed here from the definitions in DESIGN §4."""
    rows = []
    grid = minute_grid(month)
    for row in sample.sample_config().slo_table().itertuples():
        group = grid[(row.service, row.slo)]
        good, total = group["good"].to_numpy(), group["total"].to_numpy()
        if row.budgeting == "occurrences":
            sli = good.sum() / total.sum()
        else:
            slices = len(total) // row.timeslice_minutes
            slice_good = good.reshape(slices, row.timeslice_minutes).sum(axis=1)
            slice_total = total.reshape(slices, row.timeslice_minutes).sum(axis=1)
            ratio = slice_good[slice_total > 0] / slice_total[slice_total > 0]
            if row.budgeting == "timeslices":
                sli = np.mean(ratio >= row.timeslice_target)
            else:
                sli = ratio.mean()
        consumed = (1 - sli) / (1 - row.objective)
        rows.append(
            {
                "service": row.service,
                "slo": row.slo,
                "budgeting": row.budgeting,
                "sli": sli,
                "consumed": consumed,
                "met": sli >= row.objective,
            }
        )
    return pd.DataFrame(rows)


# -- the organisation ----------------------------------------------------------------------


def test_config_has_teams_services_and_two_slos_each():
    config = sample.sample_config()
    assert len(config.services) >= 8
    assert len(config.teams) >= 3
    assert config.timezone == "UTC"
    assert config.severities == ["SEV1", "SEV2", "SEV3"]
    for role in ("metrics", "incidents", "deployments", "worklog"):
        assert getattr(config.sources, role).kind == "sample"
    for service in config.services:
        slos = {slo.name: slo for slo in service.slos}
        assert set(slos) == {"availability", "latency"}
        assert slos["availability"].objective != slos["latency"].objective
        assert slos["availability"].indicator.kind == "ratio"
        assert slos["latency"].indicator.kind == "latency"
        assert slos["latency"].indicator.histogram
        assert slos["latency"].indicator.threshold_seconds > 0
    table = config.slo_table()
    assert table.groupby("slo")["objective"].nunique().min() >= 2
    assert set(table["budgeting"]) == {"occurrences", "timeslices", "ratio_timeslices"}
    assert (table["budgeting"] == "occurrences").mean() > 0.5
    timesliced = table[table["budgeting"] == "timeslices"]
    assert timesliced["timeslice_target"].notna().all()


def test_config_yaml_round_trips(tmp_path):
    config = sample.sample_config()
    path = tmp_path / "reliability.yaml"
    path.write_text(config.to_yaml())

    result = load_config(path)

    assert result.services == config.services
    assert result.sources == config.sources
    assert result.severities == config.severities
    assert result.timezone == config.timezone


# -- determinism and validity -----------------------------------------------------------


def test_same_month_gives_equal_frames():
    month = Month(2026, 10)
    expected = generated(month.label)
    sample._generated.cache_clear()
    sample._small.cache_clear()

    result = sample.generate(month)

    assert list(result) == ["sli", "incidents", "deployments", "worklog"]
    for key in expected:
        assert_frame_equal(result[key], expected[key], check_exact=True)


def test_generate_returns_copies():
    month = Month(2026, 10)
    first = sample.generate(month)
    first["incidents"].loc[0, "title"] = "changed by a caller"
    first["sli"].loc[0, "good"] = -1

    result = sample.generate(month)

    assert result["incidents"].loc[0, "title"] != "changed by a caller"
    assert result["sli"].loc[0, "good"] >= 0


def test_different_months_differ():
    first, second = generated("2026-10"), generated("2030-12")
    assert not first["incidents"]["title"].equals(second["incidents"]["title"])
    assert len(first["deployments"]) != len(second["deployments"]) or not first["deployments"][
        "deployed_at"
    ].dt.day.equals(second["deployments"]["deployed_at"].dt.day)
    first_total = first["sli"]["total"].to_numpy()[:1000]
    second_total = second["sli"]["total"].to_numpy()[:1000]
    assert not np.array_equal(first_total, second_total)


@pytest.mark.parametrize("key", list(SPECS))
def test_frames_are_canonical(data, key):
    expected = data[key]

    result = frames.validate(expected.copy(), SPECS[key], where="test", first_row=1)

    assert_frame_equal(result, expected, check_exact=True)
    assert list(expected.columns) == SPECS[key].column_names


def test_instants_are_utc_whole_seconds(data):
    for key, spec in SPECS.items():
        for column in spec.columns:
            if column.kind != "instant":
                continue
            values = data[key][column.name].dropna()
            assert str(values.dt.tz) == "UTC"
            assert (values == values.dt.floor("s")).all(), (key, column.name)


# -- SLI ---------------------------------------------------------------------------------


def test_every_minute_of_every_slo(data, month):
    sli = data["sli"]
    config = sample.sample_config()
    expected = minutes_of(month)
    grid = minute_grid(month)  # asserts each SLO's timestamps are exactly the minutes

    assert set(grid) == {(s.name, o.name) for s in config.services for o in s.slos}
    assert len(sli) == len(grid) * len(expected)
    assert not sli.duplicated(["timestamp", "service", "slo"]).any()
    assert (sli["good"] <= sli["total"]).all()
    assert (sli["good"] >= 0).all()


def test_traffic_has_daily_and_weekly_shape(data, month):
    sli = data["sli"]
    availability = sli[sli["slo"] == "availability"]
    stamps = availability["timestamp"]
    per_minute = availability.groupby("service", observed=True)["total"].mean()
    assert per_minute.max() > 1000
    assert 10 <= per_minute.min() < 100

    hour = stamps.dt.hour
    afternoon = availability.loc[hour.between(13, 17), "total"].mean()
    night = availability.loc[hour.between(1, 5), "total"].mean()
    assert afternoon > 2 * night
    weekend = stamps.dt.day_of_week >= 5
    assert availability.loc[weekend, "total"].mean() < availability.loc[~weekend, "total"].mean()


# -- incidents ---------------------------------------------------------------------------


def test_incident_windows_match_the_dips(data, month):
    elevated = elevated_minutes(month)
    incidents = data["incidents"]
    start = month.start
    covered = {service: np.zeros_like(mask) for service, mask in elevated.items()}
    impactful = 0
    for incident in incidents.itertuples():
        mask = elevated[incident.service]
        begin = incident.started_at if pd.notna(incident.started_at) else incident.created_at
        first = int((begin - start) // pd.Timedelta(minutes=1))
        after = int(np.ceil((incident.resolved_at - start) / pd.Timedelta(minutes=1)))
        window = mask[first:after]
        covered[incident.service][first:after] = True
        if not window.any():
            continue  # an internal incident: no customer impact
        impactful += 1
        assert window.all(), incident.id
        assert incident.started_at == incident.started_at.floor("min"), incident.id
        assert incident.resolved_at == incident.resolved_at.floor("min"), incident.id
        assert not mask[first - 1], f"{incident.id}: the dip starts before started_at"
        assert not mask[after], f"{incident.id}: the dip goes on after resolved_at"
    for service, mask in elevated.items():
        outside = mask & ~covered[service]
        assert not outside.any(), f"{service}: elevated minutes without an incident"
    assert impactful >= 8
    assert len(incidents) - impactful >= 2


def test_incident_fields_are_realistic(data, month):
    incidents = data["incidents"]
    label = month.label
    assert 15 <= len(incidents) <= 30
    assert incidents["id"].is_unique
    assert incidents["id"].str.fullmatch(rf"INC-{label}-\d{{3}}").all()
    assert set(incidents["severity"]) == {"SEV1", "SEV2", "SEV3"}
    assert set(incidents["urgency"]) == {"high", "low"}
    assert (incidents.loc[incidents["severity"] != "SEV3", "urgency"] == "high").all()
    assert incidents["service"].nunique() >= 5
    assert incidents["title"].notna().all()

    major = incidents["severity"].isin(["SEV1", "SEV2"])
    expected_urls = "https://wiki.example.com/postmortems/" + incidents["id"]
    assert (incidents.loc[major, "postmortem_url"] == expected_urls[major]).all()
    assert incidents.loc[~major, "postmortem_url"].isna().all()

    assert month.contains(incidents["created_at"]).all()
    assert month.contains(incidents["resolved_at"]).all()
    assert (incidents["resolved_at"] > incidents["created_at"]).all()
    detection = (incidents["created_at"] - incidents["started_at"]).dropna()
    assert (detection >= pd.Timedelta(0)).all()
    assert (detection <= pd.Timedelta(minutes=10)).all()
    response = (incidents["acknowledged_at"] - incidents["created_at"]).dropna()
    assert (response >= pd.Timedelta(minutes=1)).all()
    assert (response <= pd.Timedelta(minutes=30)).all()
    assert incidents["acknowledged_at"].isna().sum() >= 1
    assert incidents["started_at"].isna().any()
    assert incidents["resolved_at"].notna().all()


# -- deployments -------------------------------------------------------------------------


def test_deployments_have_cadence_lead_time_and_statuses(data, month):
    deployments = data["deployments"]
    assert deployments["id"].is_unique
    assert deployments["id"].str.fullmatch(rf"DEP-{month.label}-\d{{4}}").all()
    assert month.contains(deployments["deployed_at"]).all()
    assert (deployments["environment"] == "production").all()
    assert set(deployments["status"]) == set(frames.DEPLOYMENT_STATUSES)
    assert (deployments["status"] == "success").mean() > 0.8

    lead = deployments["deployed_at"] - deployments["commit_at"]
    assert (lead.dropna() >= pd.Timedelta(minutes=15)).all()
    assert (lead.dropna() <= pd.Timedelta(days=14)).all()
    assert lead.isna().sum() >= 1

    per_service = deployments.groupby("service").size()
    weeks = month.days / 7
    assert per_service["api-gateway"] / month.days > 2  # several a day: DORA elite
    assert per_service.min() >= 2
    assert per_service.min() / weeks < 1.5  # another ships a couple of times a month


def test_failed_deployments_cause_incidents(data):
    deployments = data["deployments"].set_index("id")
    incidents = data["incidents"]
    caused = incidents.dropna(subset=["caused_by"])
    assert len(caused) >= 4
    assert caused["caused_by"].isin(deployments.index).all()

    deployed = deployments.loc[caused["caused_by"], "deployed_at"].to_numpy()
    delay = caused["started_at"].to_numpy() - deployed
    assert (delay > np.timedelta64(0, "s")).all()
    assert (delay < np.timedelta64(30, "m")).all()

    status = deployments.loc[caused["caused_by"].unique(), "status"]
    assert status.isin(["failed", "rolled_back"]).sum() >= 2
    assert (status == "success").any()  # a bad change that was fixed forward
    named_twice = caused["caused_by"].value_counts()
    assert (named_twice >= 2).any()


# -- outcomes ----------------------------------------------------------------------------


def test_two_services_miss_an_slo_and_others_meet_all(data, month):
    values = slo_values(month)
    missed = values.loc[~values["met"], ["service", "slo"]]
    assert set(map(tuple, missed.to_numpy())) == set(sample.FRAGILE_TARGET)
    assert missed["service"].nunique() >= 2

    occurrences = values[values["budgeting"] == "occurrences"]
    assert (~occurrences["met"]).groupby(occurrences["service"]).any().sum() >= 2
    met_all = values.groupby("service")["met"].all()
    assert met_all.sum() >= 5
    healthy = values[values["met"]]
    assert (healthy["consumed"] <= sample.HEALTHY_LIMIT + 1e-9).all()
    overspent = values[~values["met"]]
    assert (overspent["consumed"] > 1.2).all()


def test_toil_shares_differ_by_team_and_one_is_over_the_cap(data, month):
    worklog = data["worklog"]
    assert set(worklog["team"]) == set(sample.sample_config().teams)
    assert (worklog["date"].dt.day_of_week < 5).all()
    first = month.start.tz_localize(None)
    after = month.end.tz_localize(None)
    assert ((worklog["date"] >= first) & (worklog["date"] < after)).all()
    assert ((worklog["hours"] * 4) % 1 == 0).all()
    assert set(worklog["category"]) == set(frames.WORK_CATEGORIES)
    day_hours = worklog.groupby(["person", "date"])["hours"].sum()
    assert day_hours.between(7, 9).all()
    assert worklog.groupby("team")["person"].nunique().min() >= 3

    team_hours = worklog.groupby("team")["hours"].sum()
    toil = worklog[worklog["category"] == "toil"].groupby("team")["hours"].sum() / team_hours
    assert toil.max() > 0.5
    assert toil.min() < 0.3
    assert toil.sort_values().diff().dropna().min() > 0.05


# -- loader and files --------------------------------------------------------------------


def test_load_concatenates_months_per_role():
    config = sample.sample_config()
    months = [Month(2026, 9), Month(2026, 10)]
    source = config.sources.metrics
    parts = [generated("2026-09"), generated("2026-10")]

    result = sample.load(source, config, "metrics", months)
    expected = frames.concat([p["sli"] for p in parts], frames.SLI)
    assert_frame_equal(result, expected, check_exact=True)
    assert isinstance(result["service"].dtype, pd.CategoricalDtype)

    for role in ("incidents", "deployments", "worklog"):
        result = sample.load(source, config, role, months)
        expected = frames.concat([p[role] for p in parts], SPECS[role])
        assert_frame_equal(result, expected, check_exact=True)


def test_load_frames_uses_the_sample_loader():
    config = sample.sample_config()
    month = Month(2026, 10)
    expected = generated(month.label)

    result = load_frames(config, Span.of([month]))

    assert_frame_equal(result.sli, expected["sli"], check_exact=True)
    assert_frame_equal(result.incidents, expected["incidents"], check_exact=True)
    assert_frame_equal(result.deployments, expected["deployments"], check_exact=True)
    assert_frame_equal(result.worklog, expected["worklog"], check_exact=True)


def test_write_sample_round_trips(tmp_path):
    month = Month(2024, 2)
    expected = generated(month.label)

    path = sample.write_sample(tmp_path / "out", month)

    assert path == tmp_path / "out" / "reliability.yaml"
    config = load_config(path)
    assert config.services == sample.sample_config().services
    assert config.severities == ["SEV1", "SEV2", "SEV3"]
    assert config.timezone == "UTC"
    for key in SPECS:
        source = getattr(config.sources, "metrics" if key == "sli" else key)
        assert source.kind == "csv"
        assert source.path == f"{key}.csv"
        result = files.read_table(files.source_paths(source.path, config, key), SPECS[key])
        assert_frame_equal(result, expected[key], check_exact=True)
    loaded = load_frames(config, Span.of([month]))
    assert_frame_equal(loaded.sli, expected["sli"], check_exact=True)


def test_written_files_use_canonical_text(tmp_path):
    path = sample.write_sample(tmp_path, Month(2026, 10))
    lines = {
        name: (path.parent / name).read_text().splitlines()
        for name in ("sli.csv", "incidents.csv", "deployments.csv", "worklog.csv")
    }
    assert lines["sli.csv"][0] == "timestamp,service,slo,good,total"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z,[a-z-]+,\w+,\d+,\d+", lines["sli.csv"][1])
    assert lines["worklog.csv"][0] == "team,date,category,hours,person"
    assert re.fullmatch(r"\w+,\d{4}-\d\d-\d\d,\w+,\d+\.\d+,\w+", lines["worklog.csv"][1])
    header = lines["incidents.csv"][0].split(",")
    assert header == frames.INCIDENTS.column_names
    assert any(",," in line for line in lines["incidents.csv"][1:])  # missing values are empty
    assert "+00:00" not in path.parent.joinpath("deployments.csv").read_text()
