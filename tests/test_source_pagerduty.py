"""The PagerDuty source against a local server replaying PagerDuty's documented responses."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from reliability.cli import main
from reliability.config import Source, config_from_dict
from reliability.errors import InputError, SourceError
from reliability.metrics.incidents import incident_durations
from reliability.period import Month, Span
from reliability.sources import LoadRequest
from reliability.sources import pagerduty as pd_source

TOKEN = "pd-test-token-0123456789"
OCTOBER = [Month(2026, 10)]
FAST = {"retries": 2, "backoff": 0.01}
"""Retry settings for tests that exhaust the retries: the source's own options."""


def incident(
    incident_id: str,
    created: str,
    *,
    status: str = "resolved",
    resolved: str | None = None,
    service: tuple[str, str] = ("PSVC001", "Checkout API"),
    priority: str | None = "P1",
    urgency: str = "high",
) -> dict[str, Any]:
    """An incident in the shape of ``GET /incidents`` (PagerDuty's OpenAPI example)."""
    if resolved is None:
        resolved = (pd.Timestamp(created) + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": incident_id,
        "type": "incident",
        "summary": f"[#{incident_id}] Checkout errors",
        "title": f"Checkout errors {incident_id}",
        "created_at": created,
        "status": status,
        "service": {"id": service[0], "type": "service_reference", "summary": service[1]},
        "priority": (
            None
            if priority is None
            else {"id": "PPRIO01", "type": "priority_reference", "summary": priority}
        ),
        "urgency": urgency,
        "resolved_at": resolved if status == "resolved" else None,
        "acknowledgements": [],
        "assignments": [],
    }


def log_entry(entry_type: str, created: str, incident_id: str) -> dict[str, Any]:
    """A log entry in the shape of ``GET /incidents/{id}/log_entries``."""
    return {
        "id": f"Q{abs(hash((entry_type, created))) % 10**8:08d}",
        "type": entry_type,
        "summary": entry_type.replace("_", " "),
        "created_at": created,
        "incident": {"id": incident_id, "type": "incident_reference"},
    }


class FakePagerDuty:
    """PagerDuty's REST API as far as the source uses it, enforcing the 10,000 cap."""

    def __init__(
        self,
        server: HTTPServer,
        incidents: list[dict[str, Any]],
        logs: dict[str, list[dict[str, Any]]] | None = None,
        *,
        total: bool = True,
        analytics: dict[str, Any] | None = None,
        alerts: dict[str, list[dict[str, Any]]] | None = None,
    ):
        self.incidents = incidents
        created = pd.to_datetime([i["created_at"] for i in incidents], utc=True)
        self.created = created.tz_convert(None).to_numpy()
        self.statuses = np.array([i["status"] for i in incidents], dtype=object)
        self.service_ids = np.array([i["service"]["id"] for i in incidents], dtype=object)
        self.logs = logs or {}
        self.total = total
        self.analytics = analytics
        self.alerts = alerts or {}
        self.requests: list[dict[str, Any]] = []
        server.expect_request("/incidents", method="GET").respond_with_handler(self.list)
        server.expect_request(
            re.compile(r"^/incidents/[^/]+/log_entries$"), method="GET"
        ).respond_with_handler(self.log_entries)
        server.expect_request(
            re.compile(r"^/incidents/[^/]+/alerts$"), method="GET"
        ).respond_with_handler(self.incident_alerts)
        server.expect_request("/analytics/raw/incidents", method="POST").respond_with_handler(
            self.raw_incidents
        )

    def _record(self, request: Request) -> dict[str, Any]:
        entry = {
            "path": request.path,
            "args": request.args.to_dict(flat=False),
            "authorization": request.headers.get("Authorization"),
            "accept": request.headers.get("Accept"),
            "body": request.get_json(silent=True),
        }
        self.requests.append(entry)
        return entry

    def list(self, request: Request) -> Response:
        self._record(request)
        args = request.args
        offset, limit = int(args.get("offset", 0)), int(args.get("limit", 25))
        if offset + limit > pd_source.PAGINATION_CAP:
            error = {"error": {"message": "Offset must be less than 10000", "code": 2001}}
            return Response(json.dumps(error), status=400, content_type="application/json")
        since = pd.Timestamp(args["since"]).tz_convert(None).to_datetime64()
        until = pd.Timestamp(args["until"]).tz_convert(None).to_datetime64()
        mask = (self.created >= since) & (self.created < until)
        mask &= np.isin(self.statuses, args.getlist("statuses[]"))
        if args.getlist("service_ids[]"):
            mask &= np.isin(self.service_ids, args.getlist("service_ids[]"))
        window = np.flatnonzero(mask)
        page = [self.incidents[k] for k in window[offset : offset + limit]]
        body = {
            "incidents": page,
            "limit": limit,
            "offset": offset,
            "more": offset + len(page) < len(window),
            "total": len(window) if self.total and args.get("total") == "true" else None,
        }
        return Response(json.dumps(body), content_type="application/json")

    def log_entries(self, request: Request) -> Response:
        self._record(request)
        incident_id = request.path.split("/")[2]
        entries = self.logs.get(incident_id, [])
        offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 25))
        page = entries[offset : offset + limit]
        body = {
            "log_entries": page,
            "limit": limit,
            "offset": offset,
            "more": offset + len(page) < len(entries),
        }
        return Response(json.dumps(body), content_type="application/json")

    def incident_alerts(self, request: Request) -> Response:
        self._record(request)
        alerts = self.alerts.get(request.path.split("/")[2], [])
        offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 25))
        page = alerts[offset : offset + limit]
        body = {
            "alerts": page,
            "limit": limit,
            "offset": offset,
            "more": offset + len(page) < len(alerts),
        }
        return Response(json.dumps(body), content_type="application/json")

    def raw_incidents(self, request: Request) -> Response:
        self._record(request)
        return Response(json.dumps(self.analytics or {"data": []}), content_type="application/json")

    def list_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/incidents"]


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PD_TEST_TOKEN", TOKEN)
    return TOKEN


def source_options(server: HTTPServer, **options: Any) -> dict[str, Any]:
    return {
        "kind": "pagerduty",
        "url": server.url_for("/").rstrip("/"),
        "token_env": "PD_TEST_TOKEN",
        "services": {"PSVC001": "checkout"},
        **options,
    }


def make_config(tmp_path: Path, options: dict[str, Any]) -> Path:
    document = {
        "sources": {"incidents": options},
        "services": [{"name": "checkout", "team": "payments"}],
        "severities": ["SEV1", "SEV2", "SEV3"],
    }
    path = tmp_path / "reliability.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def load(tmp_path: Path, options: dict[str, Any], months: list[Month] = OCTOBER):
    config = config_from_dict(
        {"sources": {"incidents": options}, "services": [{"name": "checkout", "team": "p"}]},
        "test",
        tmp_path,
    )
    source = config.sources.incidents
    return pd_source.PLUGIN.load(source, LoadRequest(config, "incidents", Span.of(months)))


def api_for(server: HTTPServer) -> pd_source.Api:
    options = Source(kind="pagerduty", url=server.url_for("/").rstrip("/"), token_env="PD_X")
    return pd_source.api_for(options, TOKEN)


# --- listing -------------------------------------------------------------------------------


def test_pagination_follows_more_and_asks_for_every_status_in_utc(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    incidents = [
        incident(f"PINC{n:04d}", f"2026-10-{1 + n % 28:02d}T10:{n % 60:02d}:00Z")
        for n in range(250)
    ]
    fake = FakePagerDuty(httpserver, incidents)

    loaded = load(tmp_path, source_options(httpserver))

    assert len(loaded.frame) == 250
    assert loaded.frame["id"].is_unique
    listing = fake.list_requests()
    assert [r["args"]["offset"] for r in listing] == [["0"], ["100"], ["200"]]
    first = listing[0]["args"]
    assert first["since"] == ["2026-10-01T00:00:00Z"]
    assert first["until"] == ["2026-11-01T00:00:00Z"]
    assert first["time_zone"] == ["UTC"]
    assert sorted(first["statuses[]"]) == ["acknowledged", "resolved", "triggered"]
    assert listing[0]["authorization"] == f"Token token={TOKEN}"
    assert "application/vnd.pagerduty+json;version=2" in listing[0]["accept"]


def test_a_window_reaching_the_cap_is_split_and_refetched(httpserver: HTTPServer) -> None:
    start = pd.Timestamp("2026-10-01T00:00:00Z")
    incidents = [
        incident(f"P{n:06d}", (start + pd.Timedelta(minutes=4 * n)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for n in range(10_050)
    ]
    fake = FakePagerDuty(httpserver, incidents, total=False)  # no total: paging finds the cap

    found = pd_source.list_incidents(
        api_for(httpserver),
        start,
        pd.Timestamp("2026-11-01T00:00:00Z"),
        {"statuses[]": ["resolved"]},
    )

    assert sorted(i["id"] for i in found) == sorted(i["id"] for i in incidents)
    listing = fake.list_requests()
    reach = [int(r["args"]["offset"][0]) + int(r["args"]["limit"][0]) for r in listing]
    assert max(reach) == pd_source.PAGINATION_CAP
    assert all(r <= pd_source.PAGINATION_CAP for r in reach)
    windows = {(r["args"]["since"][0], r["args"]["until"][0]) for r in listing}
    assert ("2026-10-01T00:00:00Z", "2026-10-16T12:00:00Z") in windows
    assert ("2026-10-16T12:00:00Z", "2026-11-01T00:00:00Z") in windows


def test_a_total_above_the_cap_splits_before_paging(httpserver: HTTPServer) -> None:
    start = pd.Timestamp("2026-10-01T00:00:00Z")
    incidents = [
        incident(f"P{n:06d}", (start + pd.Timedelta(minutes=4 * n)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for n in range(10_050)
    ]
    fake = FakePagerDuty(httpserver, incidents, total=True)

    found = pd_source.list_incidents(
        api_for(httpserver),
        start,
        pd.Timestamp("2026-11-01T00:00:00Z"),
        {"statuses[]": ["resolved"]},
    )

    assert len(found) == 10_050
    listing = fake.list_requests()
    reach = [int(r["args"]["offset"][0]) + int(r["args"]["limit"][0]) for r in listing]
    assert max(reach) < pd_source.PAGINATION_CAP
    first_half = sum(i["created_at"] < "2026-10-16T12:00:00Z" for i in incidents)
    pages = -(-first_half // 100) + -(-(len(incidents) - first_half) // 100)
    assert len(listing) == 1 + pages  # one page of the whole window, then both halves


def test_no_request_spans_more_than_six_months(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    fake = FakePagerDuty(httpserver, [incident("PONE", "2026-03-03T10:00:00Z")])
    months = Month(2026, 12).history(13)

    loaded = load(tmp_path, source_options(httpserver), months)

    assert list(loaded.frame["id"]) == ["PONE"]
    spans = [
        pd.Timestamp(r["args"]["until"][0]) - pd.Timestamp(r["args"]["since"][0])
        for r in fake.list_requests()
    ]
    assert len(spans) == 3
    assert all(s <= pd.Timedelta(days=180) for s in spans)
    assert sum(spans, pd.Timedelta(0)) == months[-1].end - months[0].start


def test_429_with_retry_after_is_waited_out(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    fake = FakePagerDuty(httpserver, [incident("PONE", "2026-10-03T10:00:00Z")])
    calls = []

    def limited(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return Response(
                json.dumps({"error": {"message": "Rate Limit Exceeded", "code": 2020}}),
                status=429,
                headers={"Retry-After": "1"},
                content_type="application/json",
            )
        return fake.list(request)

    httpserver.clear_all_handlers()
    httpserver.expect_request("/incidents", method="GET").respond_with_handler(limited)
    httpserver.expect_request(re.compile(r"^/incidents/.+/log_entries$")).respond_with_handler(
        fake.log_entries
    )

    loaded = load(tmp_path, source_options(httpserver))

    assert list(loaded.frame["id"]) == ["PONE"]
    assert len(calls) == 2
    assert 0.9 <= calls[1] - calls[0] < 10  # the 1 s asked, not the 60 s of the cap


def test_a_long_retry_after_fails_at_once_with_a_clear_error(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    httpserver.expect_request("/incidents").respond_with_response(
        Response("{}", status=429, headers={"Retry-After": "3600"})
    )
    started = time.monotonic()

    with pytest.raises(SourceError, match=r"rate limited \(HTTP 429, Retry-After 3600 s\)"):
        load(tmp_path, source_options(httpserver))
    assert time.monotonic() - started < 30  # not the 60 s of the cap, nor the hour asked


def test_server_errors_are_retried_then_reported(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    httpserver.expect_request("/incidents").respond_with_json(
        {"error": {"message": "Internal Server Error"}}, status=503
    )

    with pytest.raises(SourceError, match=r"answered HTTP 503: Internal Server Error"):
        load(tmp_path, source_options(httpserver, **FAST))
    assert len(httpserver.log) == FAST["retries"] + 1


def test_unreachable_server_is_a_source_error(tmp_path: Path, token: str) -> None:
    options = source_options(HTTPServer(), url="http://127.0.0.1:9", **FAST)

    with pytest.raises(SourceError, match=r"cannot reach the server .*connection refused"):
        load(tmp_path, options)


# --- acknowledgement and resolve times -----------------------------------------------------


def test_mtta_of_a_resolved_incident_comes_from_its_log(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    created = "2026-10-05T10:00:00Z"
    resolved_no_field = incident("PB", "2026-10-06T10:00:00Z")
    resolved_no_field["resolved_at"] = None
    open_incident = incident("PC", "2026-10-07T10:00:00Z", status="triggered")
    logs = {
        "PA": [
            log_entry("resolve_log_entry", "2026-10-05T11:00:00Z", "PA"),
            log_entry("acknowledge_log_entry", "2026-10-05T10:09:00Z", "PA"),
            log_entry("acknowledge_log_entry", "2026-10-05T10:04:30Z", "PA"),
            log_entry("trigger_log_entry", created, "PA"),
        ],
        "PB": [
            log_entry("trigger_log_entry", "2026-10-06T10:00:00Z", "PB"),
            log_entry("acknowledge_log_entry", "2026-10-06T10:01:00Z", "PB"),
            log_entry("resolve_log_entry", "2026-10-06T12:30:00Z", "PB"),
        ],
    }
    pa = incident("PA", created)
    assert pa["acknowledgements"] == []  # emptied once resolved: the log is the record
    FakePagerDuty(httpserver, [pa, resolved_no_field, open_incident], logs)

    frame = incident_durations(load(tmp_path, source_options(httpserver)).frame).set_index("id")

    assert frame.loc["PA", "acknowledged_at"] == pd.Timestamp("2026-10-05T10:04:30Z")
    assert frame.loc["PA", "tta_minutes"] == 4.5
    assert frame.loc["PA", "ttr_minutes"] == 60.0
    assert frame.loc["PB", "resolved_at"] == pd.Timestamp("2026-10-06T12:30:00Z")
    assert frame.loc["PB", "tta_minutes"] == 1.0
    assert pd.isna(frame.loc["PC", "resolved_at"])
    assert pd.isna(frame.loc["PC", "acknowledged_at"])
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"


def user(name: str) -> dict[str, Any]:
    """A ``user_reference`` as PagerDuty gives it in log entries and incidents."""
    return {"id": f"PU{len(name):05d}", "type": "user_reference", "summary": name}


def test_responder_is_the_first_person_to_acknowledge_else_assignee_else_last_changer(
    httpserver: HTTPServer, tmp_path: Path, token: str, realdata
) -> None:
    # PagerDuty's own example incident: resolved, no acknowledgements or assignments left,
    # resolved by Earline Greenholt (``last_status_change_by``).
    example = realdata.json("pagerduty/pd_openapi_GET_incidents_example.json")["incidents"][0]
    example = {**example, "created_at": "2026-10-04T09:00:00Z", "status": "resolved"}
    example["resolved_at"] = "2026-10-04T10:00:00Z"
    example["service"] = {"id": "PSVC001", "type": "service_reference", "summary": "Checkout"}
    first_ack = log_entry("acknowledge_log_entry", "2026-10-05T10:04:30Z", "PA")
    later_ack = log_entry("acknowledge_log_entry", "2026-10-05T10:09:00Z", "PA")
    by_service = log_entry("acknowledge_log_entry", "2026-10-05T10:01:00Z", "PA")
    logs = {
        "PA": [
            {**later_ack, "agent": user("Bruno Diaz")},
            {**by_service, "agent": {"id": "PS1", "type": "service_reference", "summary": "x"}},
            {**first_ack, "agent": user("Ana Silva")},
        ],
    }
    assigned = incident("PB", "2026-10-06T10:00:00Z", status="triggered")
    assigned["assignments"] = [{"at": "2026-10-06T10:00:00Z", "assignee": user("Chen Wu")}]
    nobody = incident("PC", "2026-10-07T10:00:00Z")
    FakePagerDuty(
        httpserver, [incident("PA", "2026-10-05T10:00:00Z"), assigned, nobody, example], logs
    )

    frame = load(tmp_path, source_options(httpserver)).frame.set_index("id")

    assert frame.loc["PA", "responder"] == "Ana Silva"  # the earliest acknowledgement by a person
    assert frame.loc["PB", "responder"] == "Chen Wu"
    assert pd.isna(frame.loc["PC", "responder"])
    assert frame.loc[example["id"], "responder"] == "Earline Greenholt"


def test_mtta_from_analytics_uses_seconds_to_first_ack_and_timestamps_win(
    httpserver: HTTPServer, tmp_path: Path, token: str, realdata
) -> None:
    analytics = realdata.json("pagerduty/pd_openapi_POST_analytics_raw_incidents_example.json")
    analytics["more"] = False
    october = incident("PYC0H08", "2023-05-31T10:05:00Z", resolved="2023-05-31T10:15:00Z")
    late = incident("PLATE01", "2023-05-31T23:59:00Z")  # not in the Analytics API yet
    fake = FakePagerDuty(httpserver, [october, late], analytics=analytics)

    loaded = load(tmp_path, source_options(httpserver, mtta_from="analytics"), [Month(2023, 5)])
    frame = incident_durations(loaded.frame).set_index("id")

    assert frame.loc["PYC0H08", "tta_minutes"] == pytest.approx(5 / 60)
    # seconds_to_resolve says 3305 s; the timestamps say 10 minutes, and timestamps win.
    assert frame.loc["PYC0H08", "ttr_minutes"] == 10.0
    assert pd.isna(frame.loc["PLATE01", "acknowledged_at"])
    assert any("not in the Analytics API yet" in note for note in loaded.notes)
    post = next(r for r in fake.requests if r["path"] == "/analytics/raw/incidents")
    assert post["body"]["filters"] == {
        "created_at_start": "2023-05-01T00:00:00Z",
        "created_at_end": "2023-06-01T00:00:00Z",
    }
    assert not [r for r in fake.requests if "log_entries" in r["path"]]


# --- PagerDuty's own OpenAPI examples ------------------------------------------------------


def test_openapi_incident_and_log_examples_load(
    httpserver: HTTPServer, tmp_path: Path, token: str, realdata
) -> None:
    listing = realdata.json("pagerduty/pd_openapi_GET_incidents_example.json")
    log = realdata.json("pagerduty/pd_openapi_GET_incident_log_entries_example.json")
    assert listing["more"] is True  # the example claims more pages; the next one is empty

    def incidents(request: Request) -> Response:
        body = listing if request.args.get("offset") == "0" else {"incidents": [], "more": False}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/incidents").respond_with_handler(incidents)
    httpserver.expect_request("/incidents/PT4KHLK/log_entries").respond_with_json(log)
    options = source_options(
        httpserver, services={"PIJ90N7": "checkout"}, priorities={"P2": "SEV2"}
    )

    frame = load(tmp_path, options, [Month(2015, 10)]).frame

    row = frame.iloc[0]
    assert len(frame) == 1
    assert (row["id"], row["service"], row["severity"], row["urgency"]) == (
        "PT4KHLK",
        "checkout",
        "SEV2",
        "high",
    )
    assert row["title"] == "The server is on fire."
    assert row["created_at"] == pd.Timestamp("2015-10-06T21:30:42Z")
    assert row["resolved_at"] == pd.Timestamp("2015-10-06T21:38:23Z")
    assert pd.isna(row["acknowledged_at"])  # the example's log holds only the trigger
    assert pd.isna(row["postmortem_url"])


def test_openapi_analytics_example_parses_with_its_quirks(realdata) -> None:
    payload = realdata.json("pagerduty/pd_openapi_POST_analytics_raw_incidents_example.json")
    assert 'total_interruptions"' in payload["data"][0]  # the misspelt key is really there

    records = pd_source.analytics_records(payload).set_index("id")

    assert list(records.index) == ["PYC0H08", "PCOOHCY"]
    assert records.loc["PYC0H08", "created_at"] == pd.Timestamp("2023-05-31T10:05:00Z")
    assert records.loc["PYC0H08", "seconds_to_first_ack"] == 5
    # timestamps as given, not created_at + seconds_to_resolve (3305 s)
    assert records.loc["PYC0H08", "resolved_at"] == pd.Timestamp("2023-05-31T10:15:00Z")
    assert records.loc["PCOOHCY", "seconds_to_first_ack"] == 48
    assert str(records["created_at"].dtype) == "datetime64[ns, UTC]"


def test_log_example_has_no_acknowledgement(realdata) -> None:
    entries = realdata.json("pagerduty/pd_openapi_GET_incident_log_entries_example.json")
    assert pd_source.first_of(entries["log_entries"], "acknowledge_log_entry") is None
    assert pd_source.first_of(entries["log_entries"], "trigger_log_entry") == "2015-11-07T00:14:20Z"


# --- mapping -------------------------------------------------------------------------------


def test_severity_from_priority_then_urgency_and_unmapped_services_kept_with_a_note(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    incidents = [
        incident("PA", "2026-10-02T10:00:00Z", priority="P1"),
        incident("PB", "2026-10-03T10:00:00Z", priority=None, urgency="low"),
        incident("PC", "2026-10-04T10:00:00Z", priority="P5", urgency="high"),
        incident("PD", "2026-10-05T10:00:00Z", priority="P9", service=("PSVC999", "Search")),
    ]
    FakePagerDuty(httpserver, incidents)
    options = source_options(
        httpserver, priorities={"P1": "SEV1"}, urgencies={"high": "SEV2", "low": "SEV3"}
    )

    loaded = load(tmp_path, options)
    frame = loaded.frame.set_index("id")

    assert frame["severity"].to_dict() == {"PA": "SEV1", "PB": "SEV3", "PC": "SEV2", "PD": "SEV2"}
    assert frame["service"].to_dict() == {
        "PA": "checkout",
        "PB": "checkout",
        "PC": "checkout",
        "PD": "Search",
    }
    assert frame.loc["PB", "urgency"] == "low"
    assert any("PSVC999 (Search)" in note for note in loaded.notes)


def test_unmapped_services_can_be_skipped(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    incidents = [
        incident("PA", "2026-10-02T10:00:00Z"),
        incident("PB", "2026-10-03T10:00:00Z", service=("PSVC999", "Search")),
        incident("PC", "2026-10-04T10:00:00Z", service=("PSVC777", "checkout")),
    ]
    FakePagerDuty(httpserver, incidents)

    loaded = load(tmp_path, source_options(httpserver, unmapped_services="skip"))

    # PC's PagerDuty service is named like a configured service: no mapping needed
    assert loaded.frame.set_index("id")["service"].to_dict() == {"PA": "checkout", "PC": "checkout"}
    assert any("1 incidents of services neither mapped nor configured" in n for n in loaded.notes)


# --- alerts --------------------------------------------------------------------------------


def alert(
    alert_id: str,
    incident_id: str,
    created: str,
    *,
    status: str = "resolved",
    summary: str = "Checkout error rate above 5%",
    details: dict[str, Any] | None = None,
    contexts: list[dict[str, Any]] | None = None,
    severity: str = "critical",
    service: tuple[str, str] = ("PSVC001", "Checkout API"),
    suppressed: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """An alert in the shape of ``GET /incidents/{id}/alerts`` (PagerDuty's OpenAPI)."""
    return {
        "id": alert_id,
        "type": "alert",
        "summary": summary,
        "created_at": created,
        "status": status,
        "alert_key": f"key-{alert_id}",
        "service": {"id": service[0], "type": "service_reference", "summary": service[1]},
        "body": {"type": "alert_body", "contexts": contexts or [], "details": details or {}},
        "incident": {"id": incident_id, "type": "incident_reference"},
        "suppressed": suppressed,
        "severity": severity,
        "integration": {"id": "PINT001", "type": "events_api_v2_inbound_integration_reference"},
        **extra,
    }


def alert_ids(alerts: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The ids of the alerts in the order the source lists them (incident by incident)."""
    return [a["id"] for listed in alerts.values() for a in listed]


def alert_rows(frame: pd.DataFrame) -> list[tuple]:
    """The rows as tuples, a missing value as ``None``."""
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


def load_alerts(tmp_path: Path, options: dict[str, Any], months: list[Month] = OCTOBER):
    config = config_from_dict(
        {"sources": {"alerts": options}, "services": [{"name": "checkout", "team": "p"}]},
        "test",
        tmp_path,
    )
    source = config.sources.alerts
    return pd_source.PLUGIN.load(source, LoadRequest(config, "alerts", Span.of(months)))


def test_alerts_of_the_months_incidents_paged_and_ended_by_their_incident(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    incidents = [
        incident("PA", "2026-10-02T10:00:00Z", resolved="2026-10-02T11:00:00Z"),
        incident("PB", "2026-10-03T10:00:00Z", status="triggered"),
        incident("PC", "2026-10-04T10:00:00Z"),
    ]
    incidents[2]["resolved_at"] = None  # resolved, but only its log says when
    alertmanager = alert(
        "AM1",
        "PA",
        "2026-10-02T10:00:00Z",
        details={"alertname": "HighErrorRate", "runbook_url": "https://runbooks.example/5xx"},
        resolved_at="2026-10-02T10:20:00Z",
    )
    disk = alert(
        "DISK",
        "PA",
        "2026-10-02T10:05:00Z",
        summary="Disk full on db-1",
        severity="warning",
        contexts=[
            {"type": "link", "href": "https://grafana.example/d/1", "text": "Dashboard"},
            {"type": "link", "href": "https://wiki.example/disk", "text": "Runbook: disk full"},
        ],
    )
    filler = [
        alert(f"F{n:03d}", "PA", "2026-10-02T10:30:00Z", status="triggered") for n in range(118)
    ]
    alerts = {
        "PA": [alertmanager, disk, *filler],
        "PB": [
            alert("OPEN", "PB", "2026-10-03T10:00:00Z", status="triggered", severity="error"),
            alert(
                "QUIET",
                "PB",
                "2026-10-03T10:01:00Z",
                suppressed=True,
                resolved_at="2026-10-03T10:03:00Z",
            ),
        ],
        "PC": [alert("LATE", "PC", "2026-10-04T10:00:00Z", details={"alertname": "Latency"})],
    }
    logs = {"PC": [log_entry("resolve_log_entry", "2026-10-04T12:30:00Z", "PC")]}
    fake = FakePagerDuty(httpserver, incidents, logs, alerts=alerts)

    loaded = load_alerts(tmp_path, source_options(httpserver))

    kept = [i for i in alert_ids(alerts) if i != "QUIET"]  # the suppressed one paged no one
    frame = loaded.frame.set_index(pd.Index(kept))
    assert len(frame) == 2 + 118 + 1 + 1
    t = pd.Timestamp
    assert alert_rows(frame.loc[["AM1", "DISK", "LATE"]]) == [
        # Alertmanager's alert: its alertname, its runbook, its own resolve time
        (
            "HighErrorRate",
            "checkout",
            t("2026-10-02T10:00:00Z"),
            t("2026-10-02T10:20:00Z"),
            "critical",
            "https://runbooks.example/5xx",
            "PA",
        ),
        # no resolve time of its own: ended when its incident was resolved; runbook link
        (
            "Disk full on db-1",
            "checkout",
            t("2026-10-02T10:05:00Z"),
            t("2026-10-02T11:00:00Z"),
            "warning",
            "https://wiki.example/disk",
            "PA",
        ),
        # its incident's resolve time comes from the incident's log
        (
            "Latency",
            "checkout",
            t("2026-10-04T10:00:00Z"),
            t("2026-10-04T12:30:00Z"),
            "critical",
            None,
            "PC",
        ),
    ]
    assert alert_rows(frame.loc[["OPEN", "F000"]]) == [
        # still triggered: no end
        (
            "Checkout error rate above 5%",
            "checkout",
            t("2026-10-03T10:00:00Z"),
            None,
            "error",
            None,
            "PB",
        ),
        # the suppressed alert of 10:01 paged no one: left out
        (
            "Checkout error rate above 5%",
            "checkout",
            t("2026-10-02T10:30:00Z"),
            None,
            "critical",
            None,
            "PA",
        ),
    ]
    assert frame["ended_at"].isna().sum() == 118 + 1
    assert loaded.notes == [
        "PagerDuty: 2 resolved alerts carry no resolve time; they end when their incident was "
        "resolved",
        "PagerDuty: 1 suppressed alerts (they paged no one) are left out",
    ]
    # the alerts are paged like the log entries; only PC's log is read (for its resolve time)
    pages = [r for r in fake.requests if r["path"].endswith("/alerts")]
    assert sorted((r["path"], r["args"]["offset"][0]) for r in pages) == [
        ("/incidents/PA/alerts", "0"),
        ("/incidents/PA/alerts", "100"),
        ("/incidents/PB/alerts", "0"),
        ("/incidents/PC/alerts", "0"),
    ]
    assert {r["args"]["limit"][0] for r in pages} == {"100"}
    assert [r["path"] for r in fake.requests if "log_entries" in r["path"]] == [
        "/incidents/PC/log_entries"
    ]


def test_openapi_alert_example_loads(
    httpserver: HTTPServer, tmp_path: Path, token: str, realdata
) -> None:
    listing = realdata.json("pagerduty/pd_openapi_GET_incidents_example.json")
    alerts = realdata.json("pagerduty/pd_openapi_GET_incident_alerts_example.json")
    assert alerts["more"] is True  # like the incidents example: the next page is empty

    def incidents(request: Request) -> Response:
        body = listing if request.args.get("offset") == "0" else {"incidents": [], "more": False}
        return Response(json.dumps(body), content_type="application/json")

    def incident_alerts(request: Request) -> Response:
        body = alerts if request.args.get("offset") == "0" else {"alerts": [], "more": False}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/incidents").respond_with_handler(incidents)
    httpserver.expect_request("/incidents/PT4KHLK/alerts").respond_with_handler(incident_alerts)
    options = source_options(httpserver, services={"PIJ90N7": "checkout"})

    loaded = load_alerts(tmp_path, options, [Month(2015, 10)])

    (row,) = alert_rows(loaded.frame)
    assert row == (
        "The server is on fire.",  # no alertname in its details: the summary
        "checkout",
        pd.Timestamp("2015-10-06T21:30:42Z"),
        pd.Timestamp("2015-10-06T21:38:23Z"),  # resolved: its incident's resolve time
        "critical",
        None,  # its one context is a link without an address
        "PT4KHLK",
    )


def test_an_alert_without_a_start_exits_2_naming_it(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    broken = alert("PBROKEN", "PA", "2026-10-02T10:00:00Z")
    del broken["created_at"]
    FakePagerDuty(
        httpserver,
        [incident("PA", "2026-10-02T10:00:00Z")],
        alerts={"PA": [broken, alert("PGOOD", "PA", "2026-10-02T10:00:00Z")]},
    )

    with pytest.raises(InputError) as caught:
        load_alerts(tmp_path, source_options(httpserver))

    assert str(caught.value) == "pagerduty: alert PBROKEN: column started_at: missing value"


# --- through the command line --------------------------------------------------------------


def test_html_where_json_was_expected_is_one_clear_line_and_exit_1(
    httpserver: HTTPServer, tmp_path: Path, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page = "<!DOCTYPE html><html><head><title>Sign in - Corp Proxy</title></head><body/></html>"
    httpserver.expect_request("/incidents").respond_with_data(page, content_type="text/html")
    config = make_config(tmp_path, source_options(httpserver))

    code = main(["compute", "--format", "json", "--config", str(config), "--month", "2026-10"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1
    assert "returned an HTML page (Sign in - Corp Proxy) with HTTP 200 where JSON" in err[0]
    assert httpserver.url_for("/incidents") in err[0]
    assert "Traceback" not in err[0]


def test_an_html_error_status_page_names_url_and_status(
    httpserver: HTTPServer, tmp_path: Path, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    page = "<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
    httpserver.expect_request("/incidents").respond_with_data(
        page, status=404, content_type="text/html"
    )
    config = make_config(tmp_path, source_options(httpserver))

    code = main(["compute", "--config", str(config), "--month", "2026-10"])

    err = capsys.readouterr().err
    assert code == 1
    assert "answered HTTP 404: an HTML page (404 Not Found)" in err
    assert "/incidents" in err


def test_missing_fields_exit_2_naming_the_incident(
    httpserver: HTTPServer, tmp_path: Path, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = incident("PBROKEN", "2026-10-02T10:00:00Z")
    del broken["service"]
    good = incident("PGOOD", "2026-10-03T10:00:00Z")
    no_severity = incident("PNOSEV", "2026-10-04T10:00:00Z", priority=None)
    del no_severity["urgency"]

    def handler(request: Request) -> Response:
        body = {"incidents": [broken, good, no_severity], "more": False, "limit": 100}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/incidents").respond_with_handler(handler)
    httpserver.expect_request(re.compile(r".*/log_entries$")).respond_with_json(
        {"log_entries": [], "more": False}
    )
    config = make_config(tmp_path, source_options(httpserver))

    code = main(["compute", "--config", str(config), "--month", "2026-10"])

    err = capsys.readouterr().err
    assert code == 2
    assert "pagerduty: incident PBROKEN: column service: missing value" in err
    assert "pagerduty: incident PNOSEV: column severity: missing value" in err
    assert "PGOOD" not in err


def test_the_token_comes_only_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PD_TEST_TOKEN", raising=False)
    server_less = {"kind": "pagerduty", "token_env": "PD_TEST_TOKEN"}
    with pytest.raises(InputError, match="environment variable PD_TEST_TOKEN is not set"):
        load(tmp_path, server_less)
    with pytest.raises(InputError, match="token_env: required"):
        load(tmp_path, {"kind": "pagerduty"})
    with pytest.raises(InputError, match="secrets are never read from the config") as caught:
        load(tmp_path, {**server_less, "token": "s3cr3t-in-config"})
    assert "s3cr3t-in-config" not in str(caught.value)


def test_plain_http_is_refused_except_to_this_machine(tmp_path: Path, token: str) -> None:
    with pytest.raises(InputError, match="url: must start with https://"):
        load(tmp_path, {"kind": "pagerduty", "token_env": "PD_TEST_TOKEN", "url": "http://pd.corp"})


def test_unknown_options_are_named(tmp_path: Path, token: str) -> None:
    with pytest.raises(InputError, match=r"sources.incidents.servces: unknown option"):
        load(tmp_path, {"kind": "pagerduty", "token_env": "PD_TEST_TOKEN", "servces": {}})


def test_a_redirect_is_reported_not_followed(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    httpserver.expect_request("/incidents").respond_with_response(
        Response("", status=301, headers={"Location": "https://login.example/sso"})
    )

    with pytest.raises(SourceError, match=r"redirected \(HTTP 301\) to https://login\.example/sso"):
        load(tmp_path, source_options(httpserver))
