"""The Prometheus source's ``alerts`` role against a real Prometheus (never skipped).

A session-scoped server holds January 2026 of an ``ALERTS`` series backfilled with promtool, one
sample a minute on the minute as a rule evaluated every minute writes it, and loads a rule file
(never firing itself) whose annotations name runbooks. The same series imported into a real
VictoriaMetrics gives the same episodes.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from prometheus_server import PrometheusServer, Series, backfill, binaries, write_openmetrics
from pytest_httpserver import HTTPServer
from victoriametrics_server import VictoriaMetricsServer, binary

from reliability.cli import main
from reliability.config import config_from_dict
from reliability.errors import InputError
from reliability.period import Month, Span
from reliability.sources import LoadRequest, prometheus
from reliability.sources.prometheus import alerts as alerts_source
from reliability.sources.prometheus.client import PrometheusClient

MONTH = Month(2026, 1)
MINUTES = 31 * 24 * 60
RULES = """\
groups:
  - name: reliability
    rules:
      - alert: HighErrorRate
        expr: vector(1) == 0
        labels: {severity: page}
        annotations:
          runbook_url: "https://runbooks.example.com/{{ $labels.service }}/errors"
      - alert: HighLatency
        expr: vector(1) == 0
        annotations: {runbook_url: "https://runbooks.example.com/latency"}
"""
EPISODES: list[tuple[dict[str, str], list[tuple[int, int]]]] = [
    # labels, then the minutes of the month (first, last) that have a sample
    (
        {"alertname": "HighErrorRate", "alertstate": "pending", "service": "checkout"},
        [(95, 99), (195, 199)],
    ),
    (
        {"alertname": "HighErrorRate", "alertstate": "firing", "service": "checkout"},
        [(100, 130), (200, 209)],
    ),
    (
        {"alertname": "HighErrorRate", "alertstate": "firing", "service": "search"},
        [(300, 304)],
    ),
    (
        {
            "alertname": "HighLatency",
            "alertstate": "firing",
            "service": "search",
            "severity": "warning",
            "runbook_url": "https://wiki.example.com/search-latency",
        },
        [(10_990, 11_010)],  # across the boundary of the first two requests
    ),
    ({"alertname": "Watchdog", "alertstate": "firing", "severity": "none"}, [(500, 510)]),
    (
        {"alertname": "DiskFull", "alertstate": "firing", "service": "ledger"},
        [(MINUTES - 10, MINUTES - 1)],  # firing when the month ends
    ),
]


def minute(k: float) -> pd.Timestamp:
    return MONTH.start + pd.Timedelta(minutes=k)


def alerts_series() -> list[Series]:
    series = []
    for labels, runs in EPISODES:
        if labels["alertstate"] == "firing" and labels["alertname"] == "HighErrorRate":
            labels = {**labels, "severity": "page"}
        minutes = np.concatenate([np.arange(a, b + 1) for a, b in runs])
        stamps = int(MONTH.start.timestamp()) + 60 * minutes.astype(np.int64)
        series.append(Series("ALERTS", labels, stamps, np.ones(len(stamps), dtype=np.int64)))
    return series


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    binaries()  # fail loudly, never skip, when Prometheus is not installed
    workdir = tmp_path_factory.mktemp("prometheus-alerts")
    text = write_openmetrics(workdir / "alerts.om", {"ALERTS": ("gauge", alerts_series())})
    backfill(text, workdir / "tsdb")
    with PrometheusServer(workdir / "tsdb", workdir, rules=RULES) as running:
        yield running


@pytest.fixture(scope="session")
def victoriametrics(tmp_path_factory: pytest.TempPathFactory):
    binary()  # fail loudly, never skip, when VictoriaMetrics is not installed
    with VictoriaMetricsServer(tmp_path_factory.mktemp("victoria-metrics-alerts")) as running:
        running.import_series(alerts_series())
        yield running


def config(url: str, **options):
    return config_from_dict(
        {
            "sources": {"alerts": {"kind": "prometheus", "url": url, **options}},
            "services": [
                {"name": name, "team": "payments"} for name in ("checkout", "search", "ledger")
            ],
        },
        "reliability.yaml",
        Path("."),
    )


def rows(frame: pd.DataFrame) -> list[tuple]:
    return [
        (
            r.alert,
            r.service,
            r.started_at,
            None if pd.isna(r.ended_at) else r.ended_at,
            None if pd.isna(r.severity) else r.severity,
            None if pd.isna(r.runbook_url) else r.runbook_url,
        )
        for r in frame.itertuples()
    ]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, float, float]]:
    """Every range query the source sends."""
    queries: list[tuple[str, float, float, float]] = []
    original = PrometheusClient.query_range
    lock = threading.Lock()

    def spy(self, query, start, end, step):
        with lock:
            queries.append((query, start, end, step))
        return original(self, query, start, end, step)

    monkeypatch.setattr(PrometheusClient, "query_range", spy)
    return queries


def test_the_months_firing_episodes_with_exact_starts_and_ends(server, sent):
    cfg = config(server.url)

    loaded = prometheus.PLUGIN.load(
        cfg.sources.alerts, LoadRequest(cfg, "alerts", Span.of([MONTH]))
    )

    checkout_errors = "https://runbooks.example.com/checkout/errors"
    assert rows(loaded.frame) == [
        # two episodes of one rule, apart by a gap; pending samples are not firing
        ("HighErrorRate", "checkout", minute(100), minute(131), "page", checkout_errors),
        ("HighErrorRate", "checkout", minute(200), minute(210), "page", checkout_errors),
        # the same rule on another service: the rule's runbook template filled in
        (
            "HighErrorRate",
            "search",
            minute(300),
            minute(305),
            "page",
            "https://runbooks.example.com/search/errors",
        ),
        # the alert's own runbook_url label wins over the rule's annotation
        (
            "HighLatency",
            "search",
            minute(10_990),
            minute(11_011),
            "warning",
            "https://wiki.example.com/search-latency",
        ),
        # firing at the end of a month long past: ended one step after its last sample
        ("DiskFull", "ledger", minute(MINUTES - 10), MONTH.end, None, None),
    ]
    assert loaded.frame["incident_id"].isna().all()
    assert loaded.notes == [
        "Prometheus: 1 alert episodes without a service label were skipped (Watchdog); set "
        "alerts_service_label to the label that names the service."
    ]
    # 46,081 evaluations at 1m (the month, and a day past it to see where an alert firing at
    # its end stops), in requests of at most 11,000 points
    assert [q[0] for q in sent] == ['timestamp(ALERTS{alertstate="firing"})'] * 5
    assert {q[3] for q in sent} == {60.0}
    assert sent[0][1] == MONTH.start.timestamp()
    assert sent[-1][2] == (MONTH.end + alerts_source.FOLLOW_PAST_END).timestamp()


def test_an_alert_firing_across_the_span_s_end_keeps_its_real_end():
    """An alert of 23:57 on the month's last day that fires until 02:00: 123 minutes, not 3."""
    from reliability.sources.prometheus.alerts import episodes

    step = pd.Timedelta(minutes=1)
    start = MONTH.end - pd.Timedelta(minutes=3)
    times = pd.date_range(start, MONTH.end + pd.Timedelta(hours=2), freq="1min", inclusive="left")
    found = episodes({"alertname": "X"}, times.asi8, step, MONTH.start, None)
    assert [(e.start, e.end) for e in found] == [(start, MONTH.end + pd.Timedelta(hours=2))]


def test_an_episode_reaching_now_is_still_firing(server):
    cfg = config(server.url)
    now = minute(205.5)

    frame, notes = alerts_source.fetch_alerts(
        cfg.sources.alerts, cfg, MONTH.start, MONTH.end, now=now
    )

    runbook = "https://runbooks.example.com/checkout/errors"
    assert rows(frame) == [
        ("HighErrorRate", "checkout", minute(100), minute(131), "page", runbook),
        ("HighErrorRate", "checkout", minute(200), None, "page", runbook),
    ]
    assert notes == []


def test_a_span_starting_inside_an_episode_starts_it_at_the_span(server):
    cfg = config(server.url, alerts_service_label="service")

    frame, _ = alerts_source.fetch_alerts(cfg.sources.alerts, cfg, minute(110), minute(150))

    assert [(r[1], r[2], r[3]) for r in rows(frame)] == [("checkout", minute(110), minute(131))]


def test_a_coarser_step_resolves_episodes_to_that_step(server):
    cfg = config(server.url, alerts_step="5m")

    frame, _ = alerts_source.fetch_alerts(cfg.sources.alerts, cfg, MONTH.start, minute(400))

    # the samples the 5-minute evaluations see: 100, 105, ..., 130; 200, 205, 209; 300, 304
    assert [(r[1], r[2], r[3]) for r in rows(frame)] == [
        ("checkout", minute(100), minute(135)),
        ("checkout", minute(200), minute(214)),
        ("search", minute(300), minute(309)),
    ]


def test_rules_that_cannot_be_read_leave_runbooks_to_labels_with_a_note(httpserver: HTTPServer):
    start = MONTH.start.timestamp()
    matrix = {
        "resultType": "matrix",
        "result": [
            {
                "metric": {"alertname": "HighErrorRate", "service": "checkout"},
                "values": [[start + 60 * k, str(start + 60 * k)] for k in range(3)],
            }
        ],
    }
    httpserver.expect_request("/api/v1/query_range", method="POST").respond_with_json(
        {"status": "success", "data": matrix}
    )
    httpserver.expect_request("/api/v1/rules").respond_with_json(
        {"status": "error", "errorType": "unavailable", "error": "no rules here"}, status=503
    )
    cfg = config(httpserver.url_for("/").rstrip("/"), retries=0)

    frame, notes = alerts_source.fetch_alerts(cfg.sources.alerts, cfg, MONTH.start, minute(10))

    assert rows(frame) == [("HighErrorRate", "checkout", minute(0), minute(3), None, None)]
    assert len(notes) == 1
    assert notes[0].startswith("Prometheus: the alerting rules could not be read")
    assert notes[0].endswith("so runbooks come from alert labels only.")


def test_a_rejected_query_names_the_source_and_the_query(httpserver: HTTPServer):
    httpserver.expect_request("/api/v1/query_range", method="POST").respond_with_json(
        {"status": "error", "errorType": "bad_data", "error": "unknown function"}, status=400
    )
    url = httpserver.url_for("/").rstrip("/")
    cfg = config(url)

    with pytest.raises(InputError) as caught:
        alerts_source.fetch_alerts(cfg.sources.alerts, cfg, MONTH.start, minute(10))

    assert str(caught.value) == (
        f"prometheus {url}: alerts: the server rejected the query (bad_data): unknown "
        'function; query: timestamp(ALERTS{alertstate="firing"})'
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alerts_step": "1x"}, "sources.alerts.alerts_step: expected a duration"),
        ({"alerts_service_label": "a-b"}, "sources.alerts.alerts_service_label: not a"),
        ({"alert_step": "1m"}, "sources.alerts.alert_step: unknown option for kind prometheus"),
    ],
)
def test_alert_options_are_checked(options, message):
    with pytest.raises(InputError, match=message):
        config("http://prometheus:9090", **options)


def test_victoriametrics_gives_the_same_episodes(victoriametrics, server):
    cfg = config(victoriametrics.url)
    span = Span.of([MONTH])
    on_prometheus = prometheus.PLUGIN.load(
        config(server.url).sources.alerts, LoadRequest(config(server.url), "alerts", span)
    )

    loaded = prometheus.PLUGIN.load(cfg.sources.alerts, LoadRequest(cfg, "alerts", span))
    live, _ = alerts_source.fetch_alerts(
        cfg.sources.alerts, cfg, MONTH.start, MONTH.end, now=minute(205.5)
    )

    # VictoriaMetrics (single node) serves no alerting rules: runbooks come from labels only
    expected = [
        (*r[:5], r[5] if r[0] == "HighLatency" else None) for r in rows(on_prometheus.frame)
    ]
    assert rows(loaded.frame) == expected
    assert loaded.notes == on_prometheus.notes
    assert [r[2:4] for r in rows(live)] == [(minute(100), minute(131)), (minute(200), None)]


def test_compute_judges_the_alert_history_read_from_the_server(server, tmp_path, capsys):
    document = {
        "sources": {"alerts": {"kind": "prometheus", "url": server.url}},
        "services": [{"name": n, "team": "payments"} for n in ("checkout", "search", "ledger")],
    }
    path = tmp_path / "reliability.yaml"
    path.write_text(yaml.safe_dump(document))
    code = main(["compute", "--config", str(path), "--month", "2026-01", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    section = json.loads(captured.out)["alert_quality"]
    # 5 episodes (Watchdog has no service); HighErrorRate (page) x3 and DiskFull (no severity)
    # page; search's 5-minute HighErrorRate ended by itself: noise; DiskFull has no runbook.
    assert (section["alerts"], section["alert_pages"], section["noise"]) == (5, 4, 1)
    assert section["rules_without_runbook"] == ["DiskFull"]
    assert section["by_rule"][0]["alert"] == "HighErrorRate"
