"""The Prometheus source against a real, backfilled Prometheus (never skipped).

One session-scoped server holds January 2026 of three sample services (checkout and search over
HTTP, ledger over gRPC) as per-minute counters, plus two variants of checkout: one whose
counters reset mid-month and one missing an hour of samples. Counters are sampled on every
minute, so ``increase`` over a step-aligned window is exact and the source's numbers must equal,
to the event, those computed from the same events aggregated to the step.
"""

from __future__ import annotations

import gc
import itertools
import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from pandas.testing import assert_frame_equal
from prometheus_server import (
    PrometheusServer,
    Series,
    backfill,
    binaries,
    copy_tsdb,
    cumulative,
    free_port,
    write_openmetrics,
)

from reliability import frames
from reliability.cli import main
from reliability.config import SLO, Config, Indicator, Service, Source, Sources, config_from_dict
from reliability.errors import InputError, SourceError
from reliability.metrics.slo import alert_lookback
from reliability.period import Month, Span
from reliability.source_options import PrometheusOptions
from reliability.sources import Loaded, LoadRequest, prometheus
from reliability.sources.prometheus import planning
from reliability.sources.prometheus.client import PrometheusClient
from reliability.sources.prometheus.engine import identify
from reliability.sources.sample import load_span, sample_config

MONTH = Month(2026, 1)
"""A 31-day month: 44,640 one-minute points, more than four times Prometheus's 11,000 limit."""
HISTORY = Span.of([MONTH], lookback=alert_lookback())
"""The month and the days before it that its alert replay reads: what the server holds."""
LEAD = int((MONTH.start - HISTORY.start) // pd.Timedelta(minutes=1))
"""Minutes of that history before the month."""
SERVICES = ("checkout", "ledger", "search")
LE_LABELS = {"checkout": "0.30", "ledger": "1", "search": "0.4"}
"""The bucket label of each service's latency threshold, spelled as its client library would."""
RESET_MINUTE = 20_002
"""Minute whose sample comes from a restarted process (its counters start again from zero)."""
GAP = (20_000, 20_060)
"""Samples strictly between these minutes are missing: one hour, on 5-minute boundaries."""
TOKEN = "s3cr3t-t0ken-value"
WEIRD_MINUTE = 100
"""The minute at which each ``weird_requests`` series holds a value that is not a count."""
WEIRD = {
    "huge": 1e300,
    "infinite": math.inf,
    "nan": math.nan,
    "big": float(2**53 + 2),
}
"""Series (by ``job``) whose counts in one window cannot be counts of events."""


@dataclass
class Backfilled:
    """The shared server and the per-minute events it holds."""

    server: PrometheusServer
    data_dir: Path
    history: pd.DataFrame
    """The sample's canonical per-minute SLI rows of ``SERVICES`` over ``HISTORY``."""
    extra_good: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-minute counts of the month's extra ``le="0.3"`` bucket of search."""

    @property
    def sli(self) -> pd.DataFrame:
        """The rows of the month itself."""
        return self.history[self.history["timestamp"] >= MONTH.start].reset_index(drop=True)

    @property
    def url(self) -> str:
        return self.server.url


def per_minute(sli: pd.DataFrame, service: str, slo: str, column: str) -> np.ndarray:
    rows = sli[(sli["service"] == service) & (sli["slo"] == slo)].sort_values("timestamp")
    return rows[column].to_numpy(dtype=np.int64)


def counter(name: str, labels: dict[str, str], counts: np.ndarray, **kw) -> Series:
    """A counter over ``HISTORY``; ``reset_at`` and ``gap`` count minutes of the month."""
    if kw.get("reset_at") is not None:
        kw["reset_at"] += LEAD
    if kw.get("gap") is not None:
        kw["gap"] = (kw["gap"][0] + LEAD, kw["gap"][1] + LEAD)
    start = int(HISTORY.start.timestamp())
    return Series(name, labels, *cumulative(counts, start, **kw))


def weird_series() -> list[Series]:
    """A counter per ``WEIRD`` job: 10 events a minute, and at ``WEIRD_MINUTE`` a sample of
    1e300, +Inf or NaN, or a jump of more than 2^53 (a float then cannot hold the count)."""
    start = int(MONTH.start.timestamp())
    stamps = start + 60 * np.arange(0, 24 * 60, dtype=np.int64)
    series = []
    for job, odd in WEIRD.items():
        values = 10.0 * np.arange(len(stamps))
        if job == "big":
            values[WEIRD_MINUTE:] += odd
        else:
            values[WEIRD_MINUTE] = odd
        series.append(Series("weird_requests", {"job": job}, stamps, values))
    return series


def january(sli: pd.DataFrame) -> tuple[dict[str, tuple[str, list[Series]]], dict[str, np.ndarray]]:
    """The counter families of ``SERVICES`` over ``HISTORY`` (``{family: (type, series)}``,
    the checkout variants with a reset and a gap included) and the month's extra bucket."""
    requests_series: list[Series] = []
    histograms: dict[str, list[Series]] = {
        "http_request_duration_seconds": [],
        "grpc_server_handling_seconds": [],
    }
    grpc: list[Series] = []
    extra: dict[str, np.ndarray] = {}
    for service in SERVICES:
        total = per_minute(sli, service, "availability", "total")
        good = per_minute(sli, service, "availability", "good")
        fast = per_minute(sli, service, "latency", "good")
        assert (per_minute(sli, service, "latency", "total") == total).all()
        job = {"job": service}
        if service == "ledger":
            grpc.append(counter("grpc_server_handled_total", job | {"grpc_code": "OK"}, good))
            grpc.append(
                counter(
                    "grpc_server_handled_total", job | {"grpc_code": "Unavailable"}, total - good
                )
            )
            family = "grpc_server_handling_seconds"
        else:
            for variant, kw in (
                ("", {}),
                ("-reset", {"reset_at": RESET_MINUTE}),
                ("-gap", {"gap": GAP}),
            ):
                if variant and service != "checkout":
                    continue
                labels = {"job": service + variant}
                requests_series.append(
                    counter("http_requests_total", labels | {"code": "200"}, good, **kw)
                )
                requests_series.append(
                    counter("http_requests_total", labels | {"code": "503"}, total - good, **kw)
                )
            family = "http_request_duration_seconds"
        buckets = {LE_LABELS[service]: fast, "+Inf": total}
        if service == "checkout":
            buckets |= {"0.1": fast * 6 // 10, "1": fast + (total - fast) // 2}
        if service == "search":
            buckets["0.3"] = fast * 9 // 10
            extra["search"] = buckets["0.3"][LEAD:]
        for le, counts in buckets.items():
            histograms[family].append(counter(f"{family}_bucket", job | {"le": le}, counts))
        histograms[family].append(counter(f"{family}_count", job, total))
    families = {
        "http_requests": ("counter", requests_series),
        "grpc_server_handled": ("counter", grpc),
        **{name: ("histogram", series) for name, series in histograms.items()},
    }
    return families, extra


def history_sli() -> pd.DataFrame:
    """The sample's per-minute SLI rows of ``SERVICES`` over ``HISTORY``, labels as strings."""
    sli = load_span("metrics", HISTORY)
    sli = sli[sli["service"].isin(SERVICES)].reset_index(drop=True)
    sli["service"] = sli["service"].astype(str)
    sli["slo"] = sli["slo"].astype(str)
    return sli


@pytest.fixture(scope="session")
def backfilled(tmp_path_factory: pytest.TempPathFactory):
    """January 2026 of three sample services in a real Prometheus on loopback."""
    binaries()  # fail loudly, never skip, when Prometheus is not installed
    workdir = tmp_path_factory.mktemp("prometheus")
    sli = history_sli()
    families, extra = january(sli)
    text = write_openmetrics(
        workdir / "january.om", {**families, "weird_requests": ("gauge", weird_series())}
    )
    data_dir = workdir / "tsdb"
    backfill(text, data_dir)
    text.unlink()
    server = PrometheusServer(data_dir, workdir)
    try:
        server.start()
        yield Backfilled(server, data_dir, sli, extra)
    finally:
        server.stop()


# -- helpers --------------------------------------------------------------------------------


def config_for(services: list[Service], metrics: Source, base_dir: Path | None = None) -> Config:
    return Config(
        services=services, sources=Sources(metrics=metrics), base_dir=base_dir or Path(".")
    )


def sample_services(*names: str) -> list[Service]:
    chosen = {s.name: s for s in sample_config().services}
    return [chosen[name] for name in names]


def availability_of(name: str) -> list[Service]:
    """One sample service with only its availability SLO (a ratio of two counters)."""
    (service,) = sample_services(name)
    return [service.model_copy(update={"slos": service.slos[:1]})]


def prometheus_source(url: str, **options) -> PrometheusOptions:
    return Source(kind="prometheus", url=url, **options)


def load(source: PrometheusOptions, config: Config, span: Span | None = None) -> Loaded:
    """The plugin's load of the metrics role (of ``MONTH`` unless a span is given)."""
    request = LoadRequest(config, "metrics", span or Span.of([MONTH]))
    return prometheus.PLUGIN.load(source, request)


def write_config(path: Path, config: Config) -> Path:
    path.write_text(config.to_yaml(), encoding="utf-8")
    return path


def aggregate(sli: pd.DataFrame, step: str) -> pd.DataFrame:
    """Per-minute canonical rows summed into intervals of ``step`` (as Prometheus counts them)."""
    rows = sli.assign(timestamp=sli["timestamp"].dt.floor(step))
    rows = rows.groupby(["timestamp", "service", "slo"], as_index=False, observed=True)[
        ["good", "total"]
    ].sum()
    return rows


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order with plain string labels, for comparing frames."""
    out = frame.astype({"service": str, "slo": str})
    out["timestamp"] = out["timestamp"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    out = out.astype({"good": "int64", "total": "int64"})
    return out.sort_values(["service", "slo", "timestamp"], ignore_index=True)[
        ["timestamp", "service", "slo", "good", "total"]
    ]


def write_csv(path: Path, sli: pd.DataFrame) -> Path:
    text = sli.assign(timestamp=sli["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    text.to_csv(path, index=False)
    return path


def compute(config_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(
        ["compute", "--config", str(config_path), "--month", MONTH.label, "--format", "json"]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fetch(url: str, services: list[Service], **options) -> tuple[pd.DataFrame, list[str]]:
    source = prometheus_source(url, **options)
    return prometheus.fetch(source, config_for(services, source), Span.of([MONTH]))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every range query the source sends, one entry per HTTP request."""
    queries: list[str] = []
    original = PrometheusClient.query_range
    lock = threading.Lock()

    def spy(self, query, start, end, step):
        with lock:
            queries.append(query)
        return original(self, query, start, end, step)

    monkeypatch.setattr(PrometheusClient, "query_range", spy)
    return queries


# -- the source equals the same events read from a file ---------------------------------------


def test_compute_equals_csv_of_the_same_events(backfilled, tmp_path, capsys, sent):
    services = sample_services(*SERVICES)
    from_prometheus = write_config(
        tmp_path / "prometheus.yaml",
        config_for(services, prometheus_source(backfilled.url, step="5m")),
    )
    write_csv(tmp_path / "sli.csv", aggregate(backfilled.history, "5min"))
    from_csv = write_config(
        tmp_path / "csv.yaml", config_for(services, Source(kind="csv", path="sli.csv"))
    )

    code, out, err = compute(from_prometheus, capsys)
    assert code == 0, err
    result = json.loads(out)
    code, out, err = compute(from_csv, capsys)
    assert code == 0, err
    expected = json.loads(out)

    assert len(result["slos"]) == 6
    key = ["service", "slo", "good", "total", "sli"]
    assert [{k: s[k] for k in key} for s in result["slos"]] == [
        {k: s[k] for k in key} for s in expected["slos"]
    ]
    assert result["slos"] == expected["slos"]
    assert result["sli_coverage"] == expected["sli_coverage"]
    assert all(row["missing_minutes"] == 0 for row in result["sli_coverage"])
    # the exact counts, independently of the CSV path
    for row in result["slos"]:
        minutes = backfilled.sli[
            (backfilled.sli["service"] == row["service"]) & (backfilled.sli["slo"] == row["slo"])
        ]
        assert row["good"] == int(minutes["good"].sum())
        assert row["total"] == int(minutes["total"].sum())
    # one request per query: 6 SLOs x good and total, 8,928 points each
    assert len(sent) == 12
    assert all("[5m]" in q for q in sent)
    findings = [f["finding"] for f in result["data_quality"]]
    assert any("ledger/availability uses 1m timeslices" in f for f in findings)


def test_one_minute_step_splits_the_month_into_requests(backfilled, sent):
    services = sample_services("checkout", "ledger")

    result, notes = fetch(backfilled.url, services, step="1m")

    expected = backfilled.sli[backfilled.sli["service"].isin(["checkout", "ledger"])]
    assert_frame_equal(canonical(result), canonical(expected))
    assert len(result) == 4 * 44_640
    # 44,640 points per series: five requests of at most 11,000 points for each of 8 queries
    assert len(sent) == 8 * 5
    assert notes == []  # a 1m step fits every timeslice


def test_counter_reset_keeps_counts_exact(backfilled):
    indicator = Indicator(
        good='http_requests_total{job="checkout-reset",code!~"5.."}',
        total='http_requests_total{job="checkout-reset"}',
    )
    services = [
        Service(
            name="checkout-reset",
            team="payments",
            slos=[SLO(name="availability", objective=0.999, indicator=indicator)],
        )
    ]

    result, notes = fetch(backfilled.url, services)

    checkout = backfilled.sli[
        (backfilled.sli["service"] == "checkout") & (backfilled.sli["slo"] == "availability")
    ]
    expected = aggregate(checkout, "5min").assign(service="checkout-reset")
    assert_frame_equal(canonical(result), canonical(expected))
    assert notes == []


def test_missing_samples_are_gaps_not_zeros(backfilled, tmp_path, capsys):
    indicator = Indicator(
        good='http_requests_total{job="checkout-gap",code!~"5.."}',
        total='http_requests_total{job="checkout-gap"}',
    )
    services = [
        Service(
            name="checkout-gap",
            team="payments",
            slos=[SLO(name="availability", objective=0.999, indicator=indicator)],
        )
    ]
    path = write_config(
        tmp_path / "gap.yaml", config_for(services, prometheus_source(backfilled.url))
    )

    code, out, err = compute(path, capsys)

    assert code == 0, err
    result = json.loads(out)
    checkout = backfilled.sli[
        (backfilled.sli["service"] == "checkout") & (backfilled.sli["slo"] == "availability")
    ]
    minute = (checkout["timestamp"] - MONTH.start) // pd.Timedelta(minutes=1)
    kept = checkout[(minute < GAP[0]) | (minute >= GAP[1])]
    (slo,) = result["slos"]
    assert (slo["good"], slo["total"]) == (int(kept["good"].sum()), int(kept["total"].sum()))
    assert slo["total"] < int(checkout["total"].sum())
    (coverage,) = result["sli_coverage"]
    assert coverage["step_minutes"] == 5
    assert coverage["missing_minutes"] == 60
    assert coverage["gaps"] == 1
    assert coverage["longest_gap_minutes"] == 60
    assert any(
        f["finding"] == "SLI data gaps (availability)" and f["service"] == "checkout-gap"
        for f in result["data_quality"]
    )

    frame, _ = fetch(backfilled.url, services)
    gap_start = MONTH.start + pd.Timedelta(minutes=GAP[0])
    missing = pd.date_range(gap_start, periods=12, freq="5min")
    assert not frame["timestamp"].isin(missing).any()
    assert len(frame) == 8928 - 12


def test_latency_threshold_finds_the_bucket_spelled_0_30(backfilled, sent):
    (checkout,) = sample_services("checkout")
    latency = checkout.model_copy(update={"slos": checkout.slos[1:]})
    assert latency.slos[0].indicator.threshold_seconds == 0.3

    result, notes = fetch(backfilled.url, [latency])

    assert sent == [
        'sum(increase(http_request_duration_seconds_bucket{job="checkout", le="0.30"}[5m]))',
        'sum(increase(http_request_duration_seconds_count{job="checkout"}[5m]))',
    ]
    sli = backfilled.sli
    expected = aggregate(sli[(sli["service"] == "checkout") & (sli["slo"] == "latency")], "5min")
    assert_frame_equal(canonical(result), canonical(expected))
    assert notes == []


# -- fleets -----------------------------------------------------------------------------------


def test_templated_indicators_are_one_query_per_slo(backfilled, sent):
    availability = Indicator(
        good='http_requests_total{job="{service}",code!~"5.."}',
        total='http_requests_total{job="{service}"}',
    )
    latency = Indicator(
        kind="latency",
        histogram='http_request_duration_seconds{job="{service}"}',
        threshold_seconds=0.3,
    )
    services = [
        Service(
            name=name,
            team="t",
            slos=[
                SLO(name="availability", objective=0.999, indicator=availability),
                SLO(name="latency", objective=0.99, indicator=latency),
            ],
        )
        for name in ("checkout", "search", "no-such-service")
    ]

    result, notes = fetch(backfilled.url, services)

    # good and total of two SLOs: four requests for the whole fleet
    assert len(sent) == 4
    assert all(q.startswith("sum by (job) (increase(") for q in sent)
    assert any('le=~"0\\\\.3|0\\\\.30"' in q for q in sent)  # both spellings of the bucket
    sli = backfilled.sli
    http = sli[sli["service"].isin(["checkout", "search"])]
    expected = aggregate(http[http["slo"] == "availability"], "5min")
    search_latency = http[(http["service"] == "search") & (http["slo"] == "latency")]
    search_latency = search_latency.assign(good=backfilled.extra_good["search"])
    checkout_latency = http[(http["service"] == "checkout") & (http["slo"] == "latency")]
    expected = pd.concat(
        [expected, aggregate(checkout_latency, "5min"), aggregate(search_latency, "5min")]
    )
    assert_frame_equal(canonical(result), canonical(expected))
    assert "Prometheus returned no data for no-such-service/availability in the period." in notes


# -- errors -----------------------------------------------------------------------------------


def test_invalid_promql_is_an_input_error_with_the_servers_message(backfilled, tmp_path, capsys):
    broken = Indicator(
        good='http_requests_total{job="checkout",code!~"5.."',
        total='http_requests_total{job="checkout"}',
    )
    services = [
        Service(
            name="checkout",
            team="payments",
            slos=[SLO(name="availability", objective=0.999, indicator=broken)],
        )
    ]
    path = write_config(
        tmp_path / "bad.yaml", config_for(services, prometheus_source(backfilled.url))
    )

    code, out, err = compute(path, capsys)

    assert code == 2
    assert out == ""
    (line, summary) = err.strip().splitlines()
    assert line.startswith(f"error: prometheus {backfilled.url}: checkout/availability: ")
    assert "the server rejected the good query (bad_data)" in line
    assert "parse error" in line  # the server's own words
    assert "nothing was written" in summary
    assert "Traceback" not in err


def test_threshold_without_a_bucket_lists_the_buckets(backfilled, tmp_path, capsys):
    latency = Indicator(
        kind="latency",
        histogram='http_request_duration_seconds{job="checkout"}',
        threshold_seconds=0.25,
    )
    services = [
        Service(
            name="checkout",
            team="payments",
            slos=[SLO(name="latency", objective=0.99, indicator=latency)],
        )
    ]
    path = write_config(
        tmp_path / "le.yaml", config_for(services, prometheus_source(backfilled.url))
    )

    code, _, err = compute(path, capsys)

    assert code == 2
    line = err.splitlines()[0]
    assert "checkout/latency: no bucket of http_request_duration_seconds_bucket" in line
    assert "le = 0.25" in line
    assert line.endswith("buckets found: 0.1, 0.30, 1, +Inf")


def test_server_stopped_mid_run_fails_fast_with_exit_1(backfilled, tmp_path, capsys, monkeypatch):
    second = PrometheusServer(copy_tsdb(backfilled.data_dir, tmp_path / "tsdb"), tmp_path)
    monkeypatch.setenv("PROM_TOKEN", TOKEN)
    original = PrometheusClient.query_range

    stopped: list[float] = []

    def stop_after_first(self, *args):
        answer = original(self, *args)
        second.stop()
        stopped.append(time.monotonic())
        return answer

    monkeypatch.setattr(PrometheusClient, "query_range", stop_after_first)
    try:
        second.start()
        source = prometheus_source(
            second.url, token_env="PROM_TOKEN", retries=2, backoff=0.05, concurrency=1, timeout=30
        )
        path = write_config(
            tmp_path / "stopped.yaml", config_for(sample_services("checkout"), source)
        )
        code, out, err = compute(path, capsys)
        ended = time.monotonic()
    finally:
        second.stop()

    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        f"error: Prometheus: POST {second.url}/api/v1/query_range: cannot reach the server "
        "after 3 attempts (connection refused)"
    ]
    assert TOKEN not in err
    assert ended - stopped[0] < 15  # refused at once: well within one request's timeout


def test_unreachable_server_is_a_source_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PROM_TOKEN", TOKEN)
    url = f"http://127.0.0.1:{free_port()}"
    source = prometheus_source(url, token_env="PROM_TOKEN", retries=1, backoff=0)
    path = write_config(tmp_path / "down.yaml", config_for(sample_services("checkout"), source))

    code, out, err = compute(path, capsys)

    assert (code, out) == (1, "")
    (line,) = err.splitlines()
    assert line.startswith(f"error: Prometheus: GET {url}/api/v1/label/le/values")
    assert line.endswith("cannot reach the server after 2 attempts (connection refused)")
    assert TOKEN not in err


# -- the HTTP conversation (a scripted server, for what a real one will not do on demand) ------


def test_requests_carry_options_and_warnings_become_notes(httpserver, monkeypatch):
    monkeypatch.setenv("PROM_TOKEN", TOKEN)
    seen = []
    start = MONTH.start.timestamp()

    def answer(request):
        from werkzeug import Response

        seen.append(request)
        query = request.form["query"]
        value = "90" if "code" in query else "100"
        body = {
            "status": "success",
            "warnings": ["partial response: store eu-1 unreachable"],
            "data": {
                "resultType": "matrix",
                "result": [
                    {
                        "metric": {},
                        "values": [
                            [start + 300, value],
                            [start + 900, value],
                        ],
                    }
                ],
            },
        }
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/query_range", method="POST").respond_with_handler(answer)
    source = prometheus_source(
        httpserver.url_for("/").rstrip("/"),
        token_env="PROM_TOKEN",
        headers={"X-Scope-OrgID": "team-a"},
        params={"partial_response": False},
    )
    config = config_for(availability_of("checkout"), source)

    loaded = load(source, config)

    assert len(seen) == 2
    request = seen[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Scope-OrgID"] == "team-a"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form["partial_response"] == "false"
    assert request.form["step"] == "300"
    assert float(request.form["start"]) == start + 300
    assert float(request.form["end"]) == MONTH.end.timestamp()
    frame = loaded.frame
    assert list(frame["timestamp"]) == [MONTH.start, MONTH.start + pd.Timedelta(minutes=10)]
    assert list(frame["good"]) == [90, 90]
    assert list(frame["total"]) == [100, 100]
    assert loaded.notes == [
        "Prometheus warned about checkout/availability (good query): partial response: "
        "store eu-1 unreachable.",
        "Prometheus warned about checkout/availability (total query): partial response: "
        "store eu-1 unreachable.",
    ]


@pytest.mark.parametrize(
    ("url", "headers", "expected"),
    [
        ("http://127.0.0.1:9090", {}, "identity"),
        ("http://localhost:9090", {}, "identity"),
        ("http://[::1]:9090", {}, "identity"),
        ("http://prometheus.monitoring:9090", {}, None),
        ("http://10.0.0.7:9090", {}, None),
        ("http://127.0.0.1:9090", {"accept-encoding": "gzip"}, "gzip"),
    ],
)
def test_a_server_on_this_machine_is_asked_for_uncompressed_answers(url, headers, expected):
    client = PrometheusClient(prometheus_source(url, headers=headers))
    try:
        sent = {k.lower(): v for k, v in client.http.session.headers.items()}
    finally:
        client.close()
    # elsewhere, the compression requests asks for by default
    assert sent["accept-encoding"] == (
        expected or requests.utils.default_headers()["Accept-Encoding"]
    )


def test_the_loopback_answers_arrive_uncompressed(httpserver):
    seen = []

    def answer(request):
        from werkzeug import Response

        seen.append(request.headers.get("Accept-Encoding"))
        body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/query_range", method="POST").respond_with_handler(answer)
    source = prometheus_source(httpserver.url_for("/").rstrip("/"))
    load(source, config_for(availability_of("checkout"), source))
    assert seen == ["identity", "identity"]


def test_server_errors_and_throttling_are_retried(httpserver):
    calls = []

    def answer(request):
        from werkzeug import Response

        calls.append(request)
        if len(calls) == 1:
            return Response('{"status":"error","errorType":"unavailable","error":"busy"}', 503)
        if len(calls) == 2:
            return Response("slow down", 429, headers={"Retry-After": "0"})
        body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/query_range").respond_with_handler(answer)
    options = prometheus_source(httpserver.url_for("/").rstrip("/"), retries=3, backoff=0)
    client = PrometheusClient(options)
    try:
        answer_ = client.query_range("up", 0, 60, 60)
    finally:
        client.close()
    assert answer_.data["result"] == []
    assert len(calls) == 3


def test_credentials_refused(httpserver, monkeypatch):
    monkeypatch.setenv("PROM_TOKEN", TOKEN)
    httpserver.expect_request("/api/v1/query_range").respond_with_data("unauthorized", 401)
    source = prometheus_source(
        httpserver.url_for("/").rstrip("/"), token_env="PROM_TOKEN", retries=0
    )
    config = config_for(availability_of("checkout"), source)
    with pytest.raises(
        InputError, match=r"refused the credentials \(HTTP 401\); check the token in \$PROM_TOKEN"
    ) as caught:
        load(source, config)
    assert TOKEN not in str(caught.value)


# -- options ----------------------------------------------------------------------------------


def test_bad_options_are_listed_together(tmp_path, capsys):
    path = tmp_path / "opts.yaml"
    path.write_text(
        "sources:\n"
        "  metrics:\n"
        "    kind: prometheus\n"
        "    step: 7x\n"
        "    headers: {Authorization: Bearer oops}\n"
        "    timeout: 0\n"
        "    partial_response: false\n"
        "services: [{name: checkout, team: payments}]\n"
    )

    code, _, err = compute(path, capsys)

    assert code == 2
    lines = err.strip().splitlines()[:-1]
    assert lines == [
        f"error: {path}: sources.metrics.timeout: expected a positive number of seconds (at "
        "most 86400), e.g. 30",
        f"error: {path}: sources.metrics.url: required for kind prometheus, e.g. "
        "http://prometheus:9090",
        f"error: {path}: sources.metrics.step: expected a duration such as 30s, 5m, 1h or 1d, "
        "got '7x'",
        f"error: {path}: sources.metrics.headers: do not put credentials in the config (header "
        "Authorization); secrets are never read from the config file; put it in an environment "
        "variable and name that variable in token_env",
        f"error: {path}: sources.metrics.partial_response: unknown option for kind prometheus "
        "(known: token_env, url, step, headers, params, service_label, concurrency, "
        "alerts_step, alerts_service_label, timeout, deadline, retries, backoff)",
    ]


def test_credentials_stay_out_of_the_config(tmp_path):
    document = {"sources": {"metrics": {"kind": "prometheus", "url": "https://user:hunter2@p.x"}}}
    with pytest.raises(InputError) as caught:
        config_from_dict(document, "reliability.yaml", tmp_path)
    assert str(caught.value) == (
        "reliability.yaml: sources.metrics.url: do not put credentials in the url: secrets are "
        "never read from the config file; put it in an environment variable and name that "
        "variable in token_env"
    )
    assert "hunter2" not in str(caught.value)


def test_plain_http_with_a_token_only_to_this_machine(tmp_path):
    remote = {"kind": "prometheus", "url": "http://prometheus:9090", "token_env": "PROM_TOKEN"}
    with pytest.raises(InputError, match=r"sources.metrics.url: must start with https://"):
        config_from_dict({"sources": {"metrics": remote}}, "reliability.yaml", tmp_path)
    # no token on the wire: a plain-http Prometheus inside a cluster is fine, as is loopback
    without = {k: v for k, v in remote.items() if k != "token_env"}
    config_from_dict({"sources": {"metrics": without}}, "reliability.yaml", tmp_path)
    local = {**remote, "url": "http://127.0.0.1:9090"}
    config_from_dict({"sources": {"metrics": local}}, "reliability.yaml", tmp_path)


def test_indicators_the_source_cannot_query(tmp_path, capsys):
    services = [
        Service(
            name="checkout",
            team="payments",
            slos=[
                SLO(name="availability", objective=0.999),
                SLO(name="errors", objective=0.999, indicator=Indicator(good="a_total")),
                SLO(name="latency", objective=0.99, indicator=Indicator(kind="latency")),
            ],
        )
    ]
    source = prometheus_source("http://127.0.0.1:9")
    path = write_config(tmp_path / "ind.yaml", config_for(services, source))

    code, _, err = compute(path, capsys)

    assert code == 2
    assert err.splitlines()[:-1] == [
        "error: config: services[0].slos[0].indicator: required by kind prometheus "
        "(checkout/availability)",
        "error: config: services[0].slos[1].indicator.total: required, or total_query "
        "(checkout/errors)",
        "error: config: services[0].slos[2].indicator.histogram: required for latency "
        "(checkout/latency)",
        "error: config: services[0].slos[2].indicator.threshold_seconds: required for latency "
        "(checkout/latency)",
    ]


def test_template_matchers_become_one_regex():
    grouped = planning.group_selector(
        'http_requests_total{env="prod", job="{service}-api", code!~"5.."}',
        "job",
        ["checkout", "pay.ments"],
    )
    assert grouped == (
        'http_requests_total{env="prod", job=~"(?:checkout|pay\\\\.ments)-api", code!~"5.."}',
        {"checkout-api": "checkout", "pay.ments-api": "pay.ments"},
    )
    assert planning.group_selector('x{service="{service}"}', "job", ["a"]) is None


def test_missing_token_variable(monkeypatch):
    monkeypatch.delenv("PROM_TOKEN", raising=False)
    source = prometheus_source("http://127.0.0.1:9", token_env="PROM_TOKEN")
    with pytest.raises(InputError, match="environment variable PROM_TOKEN is not set"):
        load(source, config_for([], source))


def test_step_must_divide_the_month():
    source = prometheus_source("http://127.0.0.1:9", step="7m")
    with pytest.raises(InputError, match="7m does not divide 2026-01"):
        prometheus.fetch(source, config_for([], source), Span.of([MONTH]))


def test_chunks_cover_every_step_once():
    step = pd.Timedelta(minutes=1)
    ranges = planning.chunks(MONTH.start, MONTH.end, step)
    points = [(last - first) // step.value + 1 for first, last in ranges]
    assert points == [11_000, 11_000, 11_000, 11_000, 640]
    assert ranges[0][0] == (MONTH.start + step).value
    assert ranges[-1][1] == MONTH.end.value
    assert all(b[0] - a[1] == step.value for a, b in itertools.pairwise(ranges))


def test_a_grouped_query_of_many_services_is_split_in_time_into_requests():
    step = pd.Timedelta(minutes=5)
    slo = SLO(name="availability", objective=0.999)
    targets = [planning.Target(f"svc-{i}", slo) for i in range(200)]
    grouped = planning.Query("q", "good", targets, label="job")
    alone = planning.Query("q", "good", targets[:1])

    ranges = planning.query_ranges(grouped, MONTH.start, MONTH.end, step)

    # 200 series x 8,928 steps: four requests of at most 500,000 points each
    points = [(last - first) // step.value + 1 for first, last in ranges]
    assert points == [2232, 2232, 2232, 2232]
    assert 200 * max(points) <= planning.PIECE_POINTS
    assert ranges[0][0] == (MONTH.start + step).value
    assert ranges[-1][1] == MONTH.end.value
    assert all(b[0] - a[1] == step.value for a, b in itertools.pairwise(ranges))
    # one SLO's query, or a small group, keeps the whole month in one request
    assert planning.query_ranges(alone, MONTH.start, MONTH.end, step) == [
        (ranges[0][0], MONTH.end.value)
    ]
    small = planning.Query("q", "good", targets[:3], label="job")
    assert len(planning.query_ranges(small, MONTH.start, MONTH.end, step)) == 1


def test_the_collector_is_paused_while_answers_are_decoded_and_restored_after():
    assert gc.isenabled()
    with prometheus.collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), prometheus.collector_paused():
        raise RuntimeError("a fault while fetching")
    assert gc.isenabled()
    gc.disable()  # a caller that had turned it off keeps it off
    try:
        with prometheus.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_no_data_at_all_is_a_source_note_and_a_month_without_data(backfilled, tmp_path, capsys):
    indicator = Indicator(good='nothing_total{job="x"}', total='nothing_total{job="x"}')
    services = [
        Service(name="x", team="t", slos=[SLO(name="a", objective=0.99, indicator=indicator)])
    ]
    frame, notes = fetch(backfilled.url, services)
    assert frame.empty
    assert list(frame.columns) == frames.SLI.column_names
    assert notes == ["Prometheus returned no data for x/a in the period."]

    path = write_config(
        tmp_path / "x.yaml", config_for(services, prometheus_source(backfilled.url))
    )
    # The only input has no row in the month: the month without data, not a row of zeros.
    code, out, err = compute(path, capsys)
    assert (code, out) == (2, "")
    assert "no data at all for 2026-01 in any input (metrics: no rows)" in err


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (
            '{"status":"error","errorType":"internal","error":"store\\nfailed"}',
            "application/json",
            "/api/v1/query_range answered status 'error': internal: store failed",
        ),
        (
            "<html><title>Sign in</title>login</html>",
            "text/html",
            "returned an HTML page (Sign in) with HTTP 200 where JSON was expected; is the url "
            "option the API's address?",
        ),
    ],
)
def test_answers_that_are_not_a_success_are_source_errors(httpserver, body, content_type, message):
    httpserver.expect_request("/api/v1/query_range").respond_with_data(
        body, content_type=content_type
    )
    source = prometheus_source(httpserver.url_for("/").rstrip("/"), retries=0)
    with pytest.raises(SourceError) as caught:
        load(source, config_for(availability_of("checkout"), source))
    text = str(caught.value)
    assert text.endswith(message)
    assert source.base_url in text


@pytest.mark.parametrize("job", sorted(WEIRD))
def test_values_that_are_not_counts_exit_2_naming_source_slo_and_query(
    backfilled, tmp_path, capsys, job
):
    selector = f'weird_requests{{job="{job}"}}'
    indicator = Indicator(good=selector, total=selector)
    services = [
        Service(
            name=job, team="t", slos=[SLO(name="availability", objective=0.99, indicator=indicator)]
        )
    ]
    path = write_config(
        tmp_path / "weird.yaml", config_for(services, prometheus_source(backfilled.url))
    )

    code, out, err = compute(path, capsys)

    assert (code, out) == (2, "")
    lines = err.strip().splitlines()
    assert len(lines) == 3  # the good and the total query, and the summary
    for side, line in zip(("good", "total"), lines, strict=False):
        assert line.startswith(f"error: prometheus {backfilled.url}: {job}/availability: ")
        assert f"the {side} query returned " in line
        assert "that are not a count of events" in line
        assert line.endswith(f"; query: sum(increase({selector}[5m]))")
    assert "Traceback" not in err


def test_values_are_checked_as_the_server_spells_them():
    start = MONTH.start.timestamp()
    from reliability.sources.prometheus.assembly import points
    from reliability.sources.prometheus.client import QueryProblem

    stamps, numbers = points([[start + 300, "7"], [start + 600, "9007199254740991"]], "a/b")
    assert numbers.tolist() == [7.0, 2.0**53 - 1]
    assert stamps.tolist() == [int((start + 300) * 1e9), int((start + 600) * 1e9)]
    for odd in ("-Inf", "+Inf", "NaN", "1e300", "9007199254740993", "9007199254740992", "x"):
        with pytest.raises(QueryProblem) as caught:
            points([[start + 300, "1"], [start + 600, odd]], "a/b")
        assert caught.value.title == "a/b"


def test_a_range_answer_decodes_to_the_same_points_either_way():
    """The typed decoding of a range query's answer gives the points the general JSON
    decoding gives, to the last bit; what it cannot decode is left to the general way."""
    from reliability.sources.prometheus.assembly import points
    from reliability.sources.prometheus.client import QueryProblem, matrix_answer

    def answer(spelled: list[str]) -> dict:
        start = MONTH.start.timestamp()
        values = [[start + 300 * (i + 1), text] for i, text in enumerate(spelled)]
        series = [{"metric": {"job": "a"}, "values": values}]
        data = {"resultType": "matrix", "result": series}
        return {"status": "success", "data": data, "warnings": ["partial answer"]}

    rng = np.random.default_rng(5)
    spelled = ["0", "7", "9007199254740991", "3749.9999999999995", "1e-7", "-3"]
    spelled += [repr(float(x)) for x in rng.uniform(0, 1e6, 200)]
    spelled += [str(int(x)) for x in rng.integers(0, 2**53, 200)]
    body = answer(spelled)
    typed = matrix_answer(json.dumps(body).encode())
    assert typed is not None
    assert typed.warnings == ["partial answer"]
    (series,) = typed.data["result"]
    assert series["metric"] == {"job": "a"}
    general = body["data"]["result"][0]["values"]
    for fast, slow in zip(points(series["values"], "a/b"), points(general, "a/b"), strict=True):
        np.testing.assert_array_equal(fast, slow)

    for odd in ("NaN", "-Inf"):  # decoded, then refused as the server spells them
        typed = matrix_answer(json.dumps(answer(["1", odd])).encode())
        with pytest.raises(QueryProblem, match=f"not a count of events .first: {odd} at"):
            points(typed.data["result"][0]["values"], "a/b")
    for odd in ("+Inf", "x", ""):  # left to the general decoding, which names them
        assert matrix_answer(json.dumps(answer(["1", odd])).encode()) is None
    assert matrix_answer(b'{"status":"success","data":{"resultType":"vector","result":[]}}') is None
    assert matrix_answer(b"<html>") is None


def test_the_span_with_its_lookback_is_queried_from_its_first_step(httpserver):
    seen = []

    def answer(request):
        from werkzeug import Response

        seen.append(request.form.to_dict())
        body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/query_range").respond_with_handler(answer)
    source = prometheus_source(httpserver.url_for("/").rstrip("/"))
    span = Span.of([MONTH], lookback=pd.Timedelta(days=3))

    load(source, config_for(availability_of("checkout"), source), span)

    assert {(r["start"], r["end"], r["step"]) for r in seen} == {
        (
            str(int((MONTH.start - pd.Timedelta(days=3, minutes=-5)).timestamp())),
            str(int(MONTH.end.timestamp())),
            "300",
        )
    }


def test_the_step_must_divide_the_lookback_too():
    source = prometheus_source("http://127.0.0.1:9", step="7m")
    span = Span.of([MONTH], lookback=pd.Timedelta(days=3))
    problems = prometheus.step_problems(source, span)
    assert [p.message for p in problems] == [
        "sources.metrics.step: 7m does not divide the 3-day lookback before 2026-01 into whole "
        "steps; use e.g. 1m, 5m, 15m or 1h",
        "sources.metrics.step: 7m does not divide 2026-01 (31 days) into whole steps; use e.g. "
        "1m, 5m, 15m or 1h",
    ]
    assert prometheus.step_problems(prometheus_source("http://127.0.0.1:9", step="1h"), span) == []
    # a month in progress ends at "now": its rows stop at the last whole step
    in_progress = Span(MONTH.start, MONTH.start + pd.Timedelta(hours=5, minutes=3))
    assert prometheus.step_problems(source, in_progress) == []


# -- the engine behind the API ----------------------------------------------------------------


def test_the_real_server_is_identified_as_prometheus_2(backfilled):
    client = PrometheusClient(prometheus_source(backfilled.url))
    try:
        data = client.build_info()
    finally:
        client.close()
    engine = identify(data)
    assert engine.name == "Prometheus"
    assert engine.title.startswith("Prometheus 2.")
    assert not engine.left_open_extrapolating


@pytest.mark.parametrize(
    ("data", "title"),
    [
        ({}, "VictoriaMetrics"),  # VictoriaMetrics 1.79
        ({"version": "2.24.0"}, "VictoriaMetrics"),  # later VictoriaMetrics
        (
            {"version": "2.53.1", "revision": "x", "branch": "HEAD", "goVersion": "go1.22"},
            "Prometheus 2.53.1",
        ),
        (
            {"version": "0.35.1", "revision": "x", "branch": "HEAD", "goVersion": "go1.22"},
            "a Prometheus-compatible server 0.35.1",
        ),  # Thanos
        ({"application": "Grafana Mimir", "version": "2.14.0"}, "Grafana Mimir 2.14.0"),
        (None, "an unidentified server"),
    ],
)
def test_buildinfo_answers_name_the_engine(data, title):
    assert identify(data).title == title
    assert not identify(data).left_open_extrapolating


def scripted_prometheus(httpserver, version: str, value: str) -> str:
    """A scripted server whose buildinfo reports ``version`` and whose every step holds
    ``value`` good and total events."""
    start = MONTH.start.timestamp()
    build = {"version": version, "revision": "r", "branch": "HEAD", "goVersion": "go1.23"}
    httpserver.expect_request("/api/v1/status/buildinfo").respond_with_json(
        {"status": "success", "data": build}
    )
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[start + 300, value], [start + 600, "10"]]}],
        },
    }
    httpserver.expect_request("/api/v1/query_range").respond_with_json(body)
    return httpserver.url_for("/").rstrip("/")


def test_prometheus_3_is_refused_rather_than_rounded(httpserver, tmp_path, capsys):
    url = scripted_prometheus(httpserver, "3.1.0", "10")
    path = write_config(
        tmp_path / "p3.yaml", config_for(availability_of("checkout"), prometheus_source(url))
    )

    code, out, err = compute(path, capsys)

    assert (code, out) == (2, "")
    (line, _summary) = err.strip().splitlines()
    assert line == (
        f"error: prometheus {url}: Prometheus 3.1.0 evaluates increase() over left-open "
        "windows and extrapolates every step's count from the samples inside it, so the counts "
        "would be estimates, not the events that happened; read the SLOs from a server that "
        "counts exactly (Prometheus 2.x with samples on the step boundaries, or "
        'VictoriaMetrics), see docs/sources.md "Range selectors"'
    )
    assert out == ""  # no count of the estimate is printed


def test_fractional_counts_are_rounded_with_a_note_saying_so(httpserver):
    url = scripted_prometheus(httpserver, "2.42.0", "12.5")
    source = prometheus_source(url)

    loaded = load(source, config_for(availability_of("checkout"), source))

    assert loaded.frame["total"].tolist() == [12, 10]
    assert loaded.notes == [
        "checkout/availability: 1 of 2 steps had fractional counts (Prometheus 2.42.0 "
        "extrapolated increase(), as it does when samples do not sit on the step boundaries); "
        "they were rounded to whole events, so this SLO's counts are estimates."
    ]
