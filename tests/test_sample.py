"""The built-in sample organisation: deterministic, valid, realistic, and telling its story."""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from reliability import frames
from reliability.cli import main
from reliability.config import load_config
from reliability.errors import InputError
from reliability.metrics.slo import alert_lookback
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
    """SLI and budget consumed per SLO, computed here from the definitions in docs/metrics.md."""
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
    sample.clear_caches()

    result = sample.generate(month)

    assert list(result) == ["sli", "incidents", "deployments", "worklog", "alerts"]
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
    written = incidents["postmortem_url"].notna()
    assert (incidents.loc[written, "postmortem_url"] == expected_urls[written]).all()
    assert not (written & ~major).any()
    assert (major & ~written).sum() == 1  # one postmortem still to write, for the report
    assert incidents.loc[written, "postmortem_at"].notna().all()
    delay = (incidents["postmortem_at"] - incidents["resolved_at"]).dropna()
    assert (delay >= pd.Timedelta(hours=18)).all()
    assert incidents["postmortem_at"].notna().eq(written).all()
    assert incidents["action_items_open"].notna().eq(written).all()
    assert incidents["action_items_open"].dropna().between(0, 3).all()

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
    months = [Month(2026, 9), Month(2026, 10)]
    parts = [generated("2026-09"), generated("2026-10")]

    result = sample.load_span("metrics", Span.of(months))
    expected = frames.concat([p["sli"] for p in parts])
    assert_frame_equal(result, expected, check_exact=True)
    assert isinstance(result["service"].dtype, pd.CategoricalDtype)

    for role in ("incidents", "deployments", "worklog"):
        result = sample.load_span(role, Span.of(months))
        expected = frames.concat([p[role] for p in parts])
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
    # The month and the lookback before it that its alert replay reads.
    span = Span.of([month], lookback=alert_lookback())
    expected = {key: sample.load_span("metrics" if key == "sli" else key, span) for key in SPECS}

    path = sample.write_sample(tmp_path / "out", month, lookback=alert_lookback())

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
    loaded = load_frames(config, span)
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


# -- a larger fleet ------------------------------------------------------------------------

FLEET = 20
"""Three blocks of the organisation, the last one cut after its first two services."""


@functools.cache
def fleet_month(label: str) -> dict[str, pd.DataFrame]:
    year, month = map(int, label.split("-"))
    return sample.generate(Month(year, month), services=FLEET)


def test_fleet_config_has_the_services_asked_for_in_teams_of_three():
    config = sample.sample_config(200)
    builtin = sample.sample_config()

    assert len(config.services) == 200
    assert len({s.name for s in config.services}) == 200
    assert config.services[:9] == builtin.services
    team_sizes = pd.Series([s.team for s in config.services]).value_counts()
    assert team_sizes.max() == 3
    assert (team_sizes == 3).sum() == 66
    assert len(config.teams) == 67
    kinds = {(o.name, o.budgeting, o.indicator.kind) for s in config.services for o in s.slos}
    assert kinds == {
        (o.name, o.budgeting, o.indicator.kind) for s in builtin.services for o in s.slos
    }
    assert config.sources.metrics.kind == "sample"
    assert config.sources.metrics.services == 200
    assert config.severities == builtin.severities


@pytest.mark.parametrize("services", [0, -3, True, 2.5])
def test_a_fleet_needs_a_whole_number_of_services(services):
    with pytest.raises(ValueError, match="at least 1 service"):
        sample.sample_config(services)


@pytest.mark.parametrize("label", ["2026-10", "2024-02"])
def test_fleet_keeps_the_builtin_services_and_their_data_exactly(label):
    expected = generated(label)
    fleet = fleet_month(label)
    for key in SPECS:
        column = "team" if key == "worklog" else "service"
        names = set(expected[key][column].astype(str))
        result = fleet[key][fleet[key][column].astype(str).isin(names)].reset_index(drop=True)
        if key == "sli":
            result["service"] = result["service"].cat.remove_unused_categories()
        assert_frame_equal(result, expected[key], check_exact=True)


def test_fleet_frames_are_canonical_and_cover_every_service():
    month = Month(2026, 10)
    fleet = fleet_month(month.label)
    config = sample.sample_config(FLEET)
    names = {s.name for s in config.services}
    for key, spec in SPECS.items():
        result = frames.validate(fleet[key].copy(), spec, "test", 1)
        assert_frame_equal(result, fleet[key], check_exact=True)
    sli = fleet["sli"]
    assert len(sli) == FLEET * 2 * len(minutes_of(month))
    assert set(sli["service"].astype(str)) == names
    assert not sli.duplicated(["timestamp", "service", "slo"]).any()
    assert set(fleet["worklog"]["team"]) == set(config.teams)
    for key in ("incidents", "deployments"):
        assert fleet[key]["id"].is_unique
        assert set(fleet[key]["service"]) <= names
    causes = fleet["incidents"]["caused_by"].dropna()
    assert causes.isin(fleet["deployments"]["id"]).all()
    assert fleet["incidents"]["id"].str.fullmatch(r"INC-2026-10-\d{3}(-[23])?").all()


def test_every_whole_block_of_the_fleet_overspends_its_two_fragile_slos():
    sli = fleet_month("2026-10")["sli"]
    table = sample.sample_config(FLEET).slo_table().set_index(["service", "slo"])
    sums = sli.groupby(["service", "slo"], observed=True)[["good", "total"]].sum()
    occurrences = table[table["budgeting"] == "occurrences"].index
    missed = {
        key
        for key in occurrences
        if sums.loc[key, "good"] / sums.loc[key, "total"] < table.loc[key, "objective"]
    }
    fragile = {
        (service + suffix, slo) for service, slo in sample.FRAGILE_TARGET for suffix in ("", "-2")
    }
    assert missed == fragile


def test_fleet_is_deterministic():
    expected = fleet_month("2026-10")
    sample.clear_caches()

    result = sample.generate(Month(2026, 10), services=FLEET)

    for key in SPECS:
        assert_frame_equal(result[key], expected[key], check_exact=True)


def test_a_fleet_smaller_than_the_builtin_drops_causes_it_does_not_hold():
    result = sample.generate(Month(2026, 10), services=1)
    assert [s.name for s in sample.sample_config(1).services] == ["checkout"]
    for key in ("incidents", "deployments"):
        assert set(result[key]["service"]) == {"checkout"}
    assert set(result["worklog"]["team"]) == {"payments"}
    builtin = generated("2026-10")["incidents"]
    checkout = builtin[builtin["service"] == "checkout"].reset_index(drop=True)
    foreign = (
        ~checkout["caused_by"].isin(result["deployments"]["id"]) & checkout["caused_by"].notna()
    )
    assert foreign.any()  # checkout's outage after the payments-api release
    expected = checkout.assign(caused_by=checkout["caused_by"].mask(foreign))
    assert_frame_equal(result["incidents"], expected, check_exact=True)


def test_load_takes_the_fleet_size_from_the_source():
    config = sample.sample_config(12)
    assert config.sources.incidents.services == 12
    result = load_frames(config, Span.of([Month(2026, 10)])).incidents
    assert set(result["service"]) <= {s.name for s in config.services}
    assert "checkout-2" in set(result["service"])


# -- spans and now -------------------------------------------------------------------------

MID_OCTOBER = pd.Timestamp("2026-10-15T13:37:20Z")


def test_load_span_cuts_the_months_it_overlaps():
    span = Span(pd.Timestamp("2026-09-28T12:00:00Z"), pd.Timestamp("2026-10-02T00:00:00Z"))
    parts = [generated("2026-09"), generated("2026-10")]
    for role, key, column in [
        ("metrics", "sli", "timestamp"),
        ("incidents", "incidents", "created_at"),
        ("deployments", "deployments", "deployed_at"),
    ]:
        both = frames.concat([p[key] for p in parts])
        expected = both[span.contains(both[column]).to_numpy()].reset_index(drop=True)

        result = sample.load_span(role, span, now=MID_OCTOBER)

        assert_frame_equal(result, expected, check_exact=True)
        assert not result.empty
    worklog = sample.load_span("worklog", span, now=MID_OCTOBER)
    assert sorted(worklog["date"].dt.day.unique()) == [1, 29, 30]


def test_load_span_has_nothing_after_now():
    month = Month(2026, 10)
    full = generated(month.label)
    incidents = full["incidents"]
    ongoing = incidents.iloc[len(incidents) // 2]
    now = ongoing["created_at"] + pd.Timedelta(seconds=1)
    span = Span(month.start, month.end)

    sli = sample.load_span("metrics", span, now=now)
    assert sli["timestamp"].max() == now.floor("min") - pd.Timedelta(minutes=1)
    expected = full["sli"][(full["sli"]["timestamp"] + pd.Timedelta(minutes=1) <= now).to_numpy()]
    assert_frame_equal(sli, expected.reset_index(drop=True), check_exact=True)

    result = sample.load_span("incidents", span, now=now)
    assert (result["created_at"] < now).all()
    assert result["id"].iloc[-1] == ongoing["id"]
    assert pd.isna(result["resolved_at"].iloc[-1])  # not yet
    assert pd.isna(result["acknowledged_at"].iloc[-1])
    before = incidents[incidents["created_at"] < now].reset_index(drop=True)
    for column in ("acknowledged_at", "resolved_at"):
        before[column] = before[column].where(before[column] < now)
    assert_frame_equal(result, before, check_exact=True)

    deployments = sample.load_span("deployments", span, now=now)
    assert (deployments["deployed_at"] < now).all()
    assert len(deployments) == (full["deployments"]["deployed_at"] < now).sum()

    worklog = sample.load_span("worklog", span, now=now)
    assert (worklog["date"] + pd.Timedelta(days=1) <= now.tz_localize(None)).all()
    assert worklog["date"].max() == now.tz_localize(None).normalize() - pd.Timedelta(days=1)


def test_load_span_after_now_is_empty_and_canonical():
    span = Span(Month(2030, 12).start, Month(2030, 12).end)
    for role, key in [("metrics", "sli"), ("incidents", "incidents"), ("worklog", "worklog")]:
        result = sample.load_span(role, span, now=MID_OCTOBER)
        assert_frame_equal(result, frames.empty(SPECS[key]))


def test_load_span_needs_an_aware_now():
    with pytest.raises(ValueError, match="time-zone aware"):
        sample.load_span("metrics", Span.of([Month(2026, 10)]), now=pd.Timestamp("2026-10-15"))


INSTANT_COLUMNS = {
    "sli.csv": ["timestamp"],
    "incidents.csv": ["created_at", "resolved_at", "acknowledged_at", "started_at"],
    "deployments.csv": ["deployed_at", "commit_at"],
}


def latest_written(folder) -> pd.Timestamp:
    """The latest instant any written file holds (a work-log date counts as its day's end)."""
    latest = []
    for name, columns in INSTANT_COLUMNS.items():
        if (folder / name).exists():
            table = pd.read_csv(folder / name, usecols=columns)
            for column in columns:
                latest.append(pd.to_datetime(table[column], utc=True, format="ISO8601").max())
    if (folder / "worklog.csv").exists():
        dates = pd.to_datetime(pd.read_csv(folder / "worklog.csv")["date"])
        latest.append((dates.max() + pd.Timedelta(days=1)).tz_localize("UTC"))
    return max(t for t in latest if pd.notna(t))


def test_the_current_month_writes_no_timestamp_after_now(tmp_path):
    now = pd.Timestamp.now(tz="UTC")
    current = Month(now.year, now.month)
    if now - current.start < pd.Timedelta(minutes=1):  # not a minute of data yet
        with pytest.raises(InputError, match="has no sample data yet"):
            sample.write_sample(tmp_path, current)
        return

    path = sample.write_sample(tmp_path, current)

    assert latest_written(path.parent) <= pd.Timestamp.now(tz="UTC")
    assert "The month is in progress" in path.read_text()


def test_a_month_in_progress_writes_only_what_has_happened(tmp_path):
    month = Month(2026, 10)

    path = sample.write_sample(tmp_path, month, now=MID_OCTOBER)

    assert latest_written(tmp_path) <= MID_OCTOBER
    config = load_config(path)
    loaded = load_frames(config, Span.of([month]))
    expected = sample.load_span("metrics", Span.of([month]), now=MID_OCTOBER)
    assert_frame_equal(loaded.sli, expected, check_exact=True)
    assert_frame_equal(
        loaded.incidents, sample.load_span("incidents", Span.of([month]), now=MID_OCTOBER)
    )
    assert f"data up to {MID_OCTOBER.isoformat()}" in path.read_text()


def test_early_in_a_month_inputs_without_rows_get_no_file_and_no_source(tmp_path):
    month = Month(2026, 10)
    now = month.start + pd.Timedelta(minutes=30)

    path = sample.write_sample(tmp_path, month, now=now)

    # Charges that began by then (the month's, and one running on from September) are billed.
    names = ["focus-cost.csv", "reliability.yaml", "sli.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    config = load_config(path)
    assert config.sources.metrics.path == "sli.csv"
    assert config.sources.cost.path == "focus-cost.csv"
    assert config.sources.incidents is None
    assert config.sources.worklog is None
    assert len(pd.read_csv(tmp_path / "sli.csv")) == 30 * 18
    assert "# Nothing yet for: incidents, deployments, worklog, alerts." in path.read_text()


def test_a_month_that_has_not_begun_writes_nothing(tmp_path):
    with pytest.raises(InputError, match="--month: 2026-11 has no sample data yet"):
        sample.write_sample(tmp_path / "out", Month(2026, 11), now=MID_OCTOBER)
    assert not (tmp_path / "out").exists()


def test_sample_command_writes_a_fleet(tmp_path, capsys):
    out = tmp_path / "fleet"

    code = main(["sample", "--out", str(out), "--month", "2026-10", "--services", "12"])

    assert code == 0, capsys.readouterr().err
    assert "(12 services)" in capsys.readouterr().err
    config = load_config(out / "reliability.yaml")
    assert [s.name for s in config.services] == [s.name for s in sample.sample_config(12).services]
    deployments = files.read_table([out / "deployments.csv"], frames.DEPLOYMENTS)
    assert set(deployments["service"]) == {s.name for s in config.services}
    with (out / "sli.csv").open() as handle:
        assert sum(1 for _ in handle) == 1 + 12 * 2 * (3 + 31) * 1440  # the lookback too
