"""The Statuspage source: GitHub's real status-page responses, from a file and a local server."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from reliability.cli import main
from reliability.config import config_from_dict
from reliability.errors import InputError, SourceError
from reliability.metrics.incidents import duration_stats, incident_durations
from reliability.period import Month, Span
from reliability.sources import LoadRequest
from reliability.sources import statuspage as sp

SEPTEMBER_2024 = [Month(2024, 9)]
HISTORY = "statuspage/github_incidents_2022-2026.json"
VERBATIM = "statuspage/github_incidents_2024-09-16.json"


def load(
    tmp_path: Path,
    options: dict[str, Any],
    months: list[Month] = SEPTEMBER_2024,
    services: tuple[str, ...] = ("actions", "pages"),
):
    document = {
        "sources": {"incidents": options},
        "services": [{"name": name, "team": "platform"} for name in services],
    }
    config = config_from_dict(document, "test", tmp_path)
    request = LoadRequest(config, "incidents", Span.of(months))
    return sp.PLUGIN.load(config.sources.incidents, request)


def write(tmp_path: Path, payload: Any, name: str = "incidents.json") -> str:
    (tmp_path / name).write_text(json.dumps(payload))
    return name


# --- GitHub's verbatim response -------------------------------------------------------------


def test_verbatim_github_response_gives_its_two_incidents(tmp_path: Path, realdata) -> None:
    options = {
        "kind": "statuspage",
        "path": str(realdata.path(VERBATIM)),
        "components": {"Actions": "actions", "Pages": "pages"},
    }

    loaded = load(tmp_path, options)
    frame = incident_durations(loaded.frame).set_index("id")

    assert list(frame.index) == ["69sb0f8lydp4", "r3x7x31k7nn1"]
    assert frame["ttr_minutes"].round(1).to_dict() == {"69sb0f8lydp4": 37.6, "r3x7x31k7nn1": 58.3}
    first = frame.loc["69sb0f8lydp4"]
    # components listed Actions then Pages: the first mapped one names the service
    assert (first["service"], first["severity"]) == ("actions", "SEV2")
    assert first["title"] == "Incident with Pages and Actions"
    assert first["postmortem_url"] == "https://stspg.io/mc6sr407p78b"
    assert first["started_at"] == pd.Timestamp("2024-09-16T21:31:02.713Z")
    assert pd.isna(first["acknowledged_at"])  # no "identified" update
    second = frame.loc["r3x7x31k7nn1"]
    assert (second["service"], second["severity"]) == ("GitHub", "SEV3")  # no component
    assert any("1 incidents name no component" in note for note in loaded.notes)
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"


def test_the_same_response_served_over_http(
    httpserver: HTTPServer, tmp_path: Path, realdata
) -> None:
    payload = realdata.json(VERBATIM)
    httpserver.expect_request(sp.API_PATH).respond_with_json(payload)
    options = {
        "kind": "statuspage",
        "url": httpserver.url_for("/"),
        "components": {"Actions": "actions"},
        "default_service": "pages",
    }

    frame = load(tmp_path, options).frame

    assert frame["service"].tolist() == ["actions", "pages"]
    assert frame["severity"].tolist() == ["SEV2", "SEV3"]


def test_github_history_excluding_maintenance_gives_801_incidents(tmp_path: Path, realdata) -> None:
    months = Month(2026, 8).history(12 * 4 + 6)  # 2022-03 .. 2026-08
    assert months[0].label == "2022-03"
    options = {"kind": "statuspage", "path": str(realdata.path(HISTORY))}

    loaded = load(tmp_path, options, months, services=())
    stats = duration_stats(incident_durations(loaded.frame)["ttr_minutes"])

    assert len(loaded.frame) == 801
    assert loaded.frame["id"].is_unique
    assert (stats.n, stats.median, stats.p90) == (801, 65.0, 263.0)
    assert any("18 maintenance (planned work)" in note for note in loaded.notes)
    assert set(loaded.frame["severity"]) == {"SEV1", "SEV2", "SEV3", "SEV4"}


def test_maintenance_can_be_kept(tmp_path: Path, realdata) -> None:
    months = Month(2026, 8).history(12 * 4 + 6)
    options = {
        "kind": "statuspage",
        "path": str(realdata.path(HISTORY)),
        "include_maintenance": True,
    }

    frame = load(tmp_path, options, months, services=()).frame

    assert len(frame) == 819
    assert (frame["severity"] == "maintenance").sum() == 18


def test_only_the_months_asked_for_are_returned(tmp_path: Path, realdata) -> None:
    options = {"kind": "statuspage", "path": str(realdata.path(HISTORY))}
    history = realdata.json(HISTORY)["incidents"]
    expected = sum(
        i["created_at"].startswith("2025-01") and i["impact"] != "maintenance" for i in history
    )

    frame = load(tmp_path, options, [Month(2025, 1)], services=()).frame

    assert len(frame) == expected > 0
    assert frame["created_at"].between("2025-01-01", "2025-02-01", inclusive="left").all()


# --- mapping rules --------------------------------------------------------------------------


def synthetic(**changes: Any) -> dict[str, Any]:
    """One incident in the public API's shape."""
    incident = {
        "id": "abc123",
        "name": "Degraded Git operations",
        "status": "resolved",
        "created_at": "2024-09-10T10:00:00Z",
        "resolved_at": "2024-09-10T11:30:00Z",
        "impact": "critical",
        "shortlink": "https://stspg.io/abc",
        "incident_updates": [
            {"status": "resolved", "created_at": "2024-09-10T11:30:00Z", "body": "Fixed."},
            {"status": "identified", "created_at": "2024-09-10T10:20:00Z", "body": "Found."},
            {"status": "identified", "created_at": "2024-09-10T10:40:00Z", "body": "Still."},
            {"status": "investigating", "created_at": "2024-09-10T10:00:05Z", "body": "Hm."},
        ],
        "components": [{"name": "Webhooks"}, {"name": "Git Operations"}],
    }
    incident.update(changes)
    return incident


def test_identified_update_is_the_acknowledgement_and_mapped_component_wins(
    tmp_path: Path,
) -> None:
    payload = {"page": {"name": "Example"}, "incidents": [synthetic()]}
    options = {
        "kind": "statuspage",
        "path": write(tmp_path, payload),
        "components": {"Git Operations": "git"},
        "impacts": {"critical": "P0"},
    }

    row = load(tmp_path, options, services=("git",)).frame.iloc[0]

    assert row["service"] == "git"  # the first *mapped* component, not the first listed
    assert row["severity"] == "P0"
    assert row["acknowledged_at"] == pd.Timestamp("2024-09-10T10:20:00Z")
    assert row["started_at"] == pd.Timestamp("2024-09-10T10:00:05Z")  # no started_at field


def test_unmapped_component_is_its_own_service_with_a_note(tmp_path: Path) -> None:
    payload = {"incidents": [synthetic(impact="none")]}
    options = {"kind": "statuspage", "path": write(tmp_path, payload)}

    loaded = load(tmp_path, options, services=("git",))

    assert loaded.frame.iloc[0]["service"] == "Webhooks"
    assert loaded.frame.iloc[0]["severity"] == "SEV4"
    assert any("not configured" in note and "Webhooks" in note for note in loaded.notes)


def test_an_open_incident_has_no_resolve_time(tmp_path: Path) -> None:
    payload = {"incidents": [synthetic(status="investigating", resolved_at=None)]}
    options = {"kind": "statuspage", "path": write(tmp_path, payload)}

    frame = load(tmp_path, options).frame

    assert pd.isna(frame.iloc[0]["resolved_at"])


def test_the_api_limit_of_50_incidents_is_noted(httpserver: HTTPServer, tmp_path: Path) -> None:
    incidents = []
    for n in range(50):
        when = pd.Timestamp("2024-09-30T12:00:00Z") - pd.Timedelta(hours=n)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        incidents.append(synthetic(id=f"i{n}", created_at=stamp, resolved_at=stamp))
    httpserver.expect_request(sp.API_PATH).respond_with_json({"incidents": incidents})
    options = {"kind": "statuspage", "url": httpserver.url_for(sp.API_PATH)}

    loaded = load(tmp_path, options)

    assert len(loaded.frame) == 50
    assert any("only the 50 most recent incidents" in note for note in loaded.notes)


def test_429_with_retry_after_is_honoured(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    payload = {"incidents": [synthetic()]}

    def handler(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response(json.dumps(payload), content_type="application/json")

    httpserver.expect_request(sp.API_PATH).respond_with_handler(handler)

    frame = load(tmp_path, {"kind": "statuspage", "url": httpserver.url_for("/")}).frame

    assert len(frame) == 1
    assert len(calls) == 2
    assert 0.9 <= calls[1] - calls[0] < 10  # the 1 s asked, not the 60 s of the cap


# --- errors ---------------------------------------------------------------------------------


def test_missing_fields_exit_2_naming_the_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = synthetic(id="nocreated")
    del broken["created_at"]
    unknown = synthetic(id="noimpact", impact=None)
    payload = {"incidents": [synthetic(id="fine"), broken, unknown]}
    write(tmp_path, payload)
    document = {
        "sources": {"incidents": {"kind": "statuspage", "path": "incidents.json"}},
        "services": [{"name": "git", "team": "t"}],
    }
    (tmp_path / "reliability.yaml").write_text(yaml.safe_dump(document))

    code = main(["compute", "--config", str(tmp_path / "reliability.yaml"), "--month", "2024-09"])

    err = capsys.readouterr().err
    assert code == 2
    where = str(tmp_path / "incidents.json")
    assert f"{where}: incident nocreated: column created_at: missing value" in err
    assert f"{where}: incident noimpact: column severity: missing value" in err
    assert "incident fine" not in err


def test_html_where_json_was_expected_exits_1(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request(sp.API_PATH).respond_with_data(
        "<html><head><title>Status - Maintenance</title></head></html>",
        content_type="text/html; charset=utf-8",
    )
    document = {"sources": {"incidents": {"kind": "statuspage", "url": httpserver.url_for("/")}}}
    (tmp_path / "reliability.yaml").write_text(yaml.safe_dump(document))

    code = main(["compute", "--config", str(tmp_path / "reliability.yaml"), "--month", "2024-09"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1
    assert "returned an HTML page (Status - Maintenance) with HTTP 200" in err[0]
    assert httpserver.url_for(sp.API_PATH) in err[0]


def test_server_errors_are_retried_then_named(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(sp.API_PATH).respond_with_data("upstream down", status=502)
    options = {"kind": "statuspage", "url": httpserver.url_for("/"), "retries": 2, "backoff": 0.01}

    with pytest.raises(SourceError, match=r"answered HTTP 502: upstream down"):
        load(tmp_path, options)
    assert len(httpserver.log) == 3


def test_url_or_path_but_not_both(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="either url or path"):
        load(tmp_path, {"kind": "statuspage"})
    with pytest.raises(InputError, match="either url or path"):
        load(tmp_path, {"kind": "statuspage", "url": "https://x.test", "path": "a.json"})


def test_a_file_that_is_not_an_incidents_response(tmp_path: Path, realdata) -> None:
    components = copy.deepcopy(realdata.json("statuspage/github_components.json"))
    name = write(tmp_path, components)

    with pytest.raises(InputError, match=r"not a Statuspage incidents\.json response"):
        load(tmp_path, {"kind": "statuspage", "path": name})


def test_incidents_url_accepts_a_page_or_the_api_address() -> None:
    assert sp.incidents_url("https://www.githubstatus.com") == (
        "https://www.githubstatus.com/api/v2/incidents.json"
    )
    assert sp.incidents_url("https://status.example.com/api/v2/incidents.json") == (
        "https://status.example.com/api/v2/incidents.json"
    )


def test_a_long_retry_after_stops_at_once(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(sp.API_PATH).respond_with_response(
        Response("busy", status=429, headers={"Retry-After": "86400"})
    )
    started = time.monotonic()

    with pytest.raises(SourceError, match=r"rate limited \(HTTP 429, Retry-After 86400 s\)"):
        load(tmp_path, {"kind": "statuspage", "url": httpserver.url_for("/")})
    assert time.monotonic() - started < 30  # not the 60 s of the cap, nor the day asked
    assert len(httpserver.log) == 1
