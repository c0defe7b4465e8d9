"""The Prometheus source at fleet scale: one 31-day month of 200 SLOs from a real Prometheus.

100 synthetic services, each with an availability SLO (``http_requests_total`` by ``code``) and
a latency SLO (``http_request_duration_seconds`` bucket ``le="0.3"`` and ``_count``), sampled
every minute, are backfilled into a local Prometheus. The month is then pulled three ways:

* the source at ``step=5m``, one query per SLO and side (as a per-service config does);
* the source at ``step=5m`` with templated indicators (``job="{service}"``): one query per SLO;
* the raw 1-minute samples of the same series (instant queries with a ``[31d]`` range
  selector), which a client would have to difference and sum itself.

Printed: wall time, HTTP requests and bytes received (on the wire where the answer gives its
length, and as decoded JSON) for each way, with ratios against the raw pull; the three ways must
agree on every 5-minute count.
Not run by the tests: ``python bench/bench_prometheus.py`` (generation and backfill take about
a minute; ``--data-dir`` keeps the TSDB for the next run).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from prometheus_server import (  # the shared test helpers live in tests/
    PrometheusServer,
    Series,
    backfill,
    cumulative,
    write_openmetrics,
)

from reliability.config import SLO, Config, Indicator, Service, Source, Sources
from reliability.period import Month, Span
from reliability.sources import http, prometheus
from reliability.sources.prometheus.client import PrometheusClient

MONTH = Month(2026, 1)
THRESHOLD = 0.3
PATIENT = {"timeout": 600, "deadline": 3600}
"""A benchmark on a busy machine may take longer than a report's defaults allow."""


@dataclass
class Way:
    """One way of pulling the month, and what it cost."""

    name: str
    seconds: float
    requests: int
    wire_bytes: int
    body_bytes: int
    frame: pd.DataFrame


def service_names(count: int) -> list[str]:
    return [f"svc-{i:03d}" for i in range(count)]


def generate(path: Path, services: list[str]) -> None:
    """Per-minute counters of every service for the month, as one OpenMetrics file."""
    rng = np.random.default_rng(11)
    minutes = int(MONTH.duration / pd.Timedelta(minutes=1))
    start = int(MONTH.start.timestamp())
    hour = (np.arange(minutes) % 1440) / 60
    shape = 1.0 + 0.5 * np.cos(2 * np.pi * (hour - 15) / 24)
    requests_series, histogram = [], []
    for name in services:
        total = rng.poisson(rng.uniform(50, 3000) * shape).astype(np.int64)
        bad = rng.binomial(total, 0.001)
        slow = rng.binomial(total, 0.01)
        job = {"job": name}
        stamps, ok = cumulative(total - bad, start)
        requests_series.append(Series("http_requests_total", job | {"code": "200"}, stamps, ok))
        stamps, errors = cumulative(bad, start)
        requests_series.append(Series("http_requests_total", job | {"code": "500"}, stamps, errors))
        stamps, fast = cumulative(total - slow, start)
        histogram.append(
            Series("http_request_duration_seconds_bucket", job | {"le": "0.3"}, stamps, fast)
        )
        stamps, count = cumulative(total, start)
        histogram.append(Series("http_request_duration_seconds_count", job, stamps, count))
    write_openmetrics(
        path,
        {
            "http_requests": ("counter", requests_series),
            "http_request_duration_seconds": ("histogram", histogram),
        },
    )


def config(services: list[str], templated: bool, url: str) -> Config:
    """200 SLOs: availability and latency of every service."""

    def job(name: str) -> str:
        return "{service}" if templated else name

    return Config(
        sources=Sources(metrics=Source(kind="prometheus", url=url, step="5m", **PATIENT)),
        services=[
            Service(
                name=name,
                team="fleet",
                slos=[
                    SLO(
                        name="availability",
                        objective=0.999,
                        indicator=Indicator(
                            good=f'http_requests_total{{job="{job(name)}",code!~"5.."}}',
                            total=f'http_requests_total{{job="{job(name)}"}}',
                        ),
                    ),
                    SLO(
                        name="latency",
                        objective=0.99,
                        indicator=Indicator(
                            kind="latency",
                            histogram=f'http_request_duration_seconds{{job="{job(name)}"}}',
                            threshold_seconds=THRESHOLD,
                        ),
                    ),
                ],
            )
            for name in services
        ],
    )


def through_source(name: str, url: str, services: list[str], templated: bool) -> Way:
    cfg = config(services, templated, url)
    assert cfg.sources.metrics is not None
    traffic = http.Traffic()
    started = time.perf_counter()
    frame, notes = prometheus.fetch(cfg.sources.metrics, cfg, Span.of([MONTH]), traffic=traffic)
    seconds = time.perf_counter() - started
    assert not notes, notes
    return Way(name, seconds, traffic.requests, traffic.wire_bytes, traffic.bytes, frame)


def raw_samples(url: str, services: list[str], workers: int) -> Way:
    """The same month as raw 1-minute samples, differenced and summed to 5 minutes here."""
    options = Source(kind="prometheus", url=url, concurrency=workers, **PATIENT)
    traffic = http.Traffic()
    client = PrometheusClient(options, traffic=traffic)
    end = MONTH.end.timestamp()
    days = int(MONTH.days)

    def pull(name: str) -> list[dict[str, Any]]:
        rows = []
        availability = client.query(f'http_requests_total{{job="{name}"}}[{days}d]', end)
        good, total = 0, 0
        for series in availability.data["result"]:
            counts = _increments(series["values"])
            total = total + counts
            if not series["metric"].get("code", "").startswith("5"):
                good = good + counts
        rows.append(_rows(name, "availability", good, total))
        selector = (
            '{__name__=~"http_request_duration_seconds_(bucket|count)", '
            f'job="{name}", le=~"{THRESHOLD}|"}}'
        )
        latency = client.query(f"{selector}[{days}d]", end)
        sides = {}
        for series in latency.data["result"]:
            side = "good" if series["metric"]["__name__"].endswith("_bucket") else "total"
            sides[side] = _increments(series["values"])
        rows.append(_rows(name, "latency", sides["good"], sides["total"]))
        return rows

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = [row for rows in pool.map(pull, services) for row in rows]
    frame = pd.concat(parts, ignore_index=True)
    seconds = time.perf_counter() - started
    client.close()
    name = "raw 1m samples, [31d] per series"
    return Way(name, seconds, traffic.requests, traffic.wire_bytes, traffic.bytes, frame)


def _increments(values: list[list[Any]]) -> np.ndarray:
    """Per-minute increments of a counter (resets counted from zero), summed to 5 minutes."""
    numbers = np.array([float(v[1]) for v in values])
    diffs = np.diff(numbers)
    diffs = np.where(diffs < 0, numbers[1:], diffs)
    return diffs.reshape(-1, 5).sum(axis=1)


def _rows(service: str, slo: str, good: np.ndarray, total: np.ndarray) -> pd.DataFrame:
    stamps = pd.date_range(MONTH.start, MONTH.end, freq="5min", inclusive="left").as_unit("ns")
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "service": service,
            "slo": slo,
            "good": np.rint(good).astype(np.int64),
            "total": np.rint(total).astype(np.int64),
        }
    )


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.astype({"service": str, "slo": str})
    return out.sort_values(["service", "slo", "timestamp"], ignore_index=True)


def prepare(data_dir: Path, services: list[str]) -> None:
    """Generate and backfill the month into ``data_dir`` unless a previous run did."""
    marker = data_dir / f"bench-{MONTH.label}-{len(services)}.done"
    if marker.exists():
        print(f"reusing the TSDB in {data_dir}", file=sys.stderr)
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    text = data_dir.parent / f"{data_dir.name}.om"
    started = time.perf_counter()
    generate(text, services)
    size = text.stat().st_size
    print(
        f"generated {size / 1e6:,.0f} MB of OpenMetrics in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    started = time.perf_counter()
    backfill(text, data_dir)
    text.unlink()
    print(f"backfilled in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    marker.touch()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100, help="services (2 SLOs each)")
    parser.add_argument("--data-dir", type=Path, help="keep the TSDB here between runs")
    parser.add_argument("--workers", type=int, default=4, help="parallel requests, every way")
    args = parser.parse_args()
    services = service_names(args.services)
    scratch = None
    if args.data_dir is None:
        scratch = Path(tempfile.mkdtemp(prefix="bench-prometheus-"))
        data_dir = scratch / "tsdb"
    else:
        data_dir = args.data_dir.resolve()
    try:
        prepare(data_dir, services)
        with PrometheusServer(data_dir, data_dir.parent) as server:
            # one untimed pull warms the server's caches (and the page cache) for every way
            raw_samples(server.url, services[:2], args.workers)
            ways = [
                through_source("source, step 5m, query per SLO", server.url, services, False),
                through_source("source, step 5m, templated", server.url, services, True),
                raw_samples(server.url, services, args.workers),
            ]
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    expected = _sorted(ways[-1].frame)
    for way in ways[:-1]:
        pd.testing.assert_frame_equal(_sorted(way.frame), expected)
    slos = 2 * len(services)
    print(
        f"\n{slos} SLOs x {MONTH.label} ({len(expected):,} five-minute rows), "
        f"{args.workers} parallel requests; all three ways agree on every count\n"
    )
    raw = ways[-1]
    header = (
        f"{'way':<34} {'wall s':>7} {'requests':>9} {'wire MB':>9} {'JSON MB':>9}"
        f" {'x wall':>8} {'x req':>7} {'x wire':>8} {'x JSON':>8}"
    )
    print(header)
    print("-" * len(header))
    for way in ways:
        wire = f"{way.wire_bytes / raw.wire_bytes:>8.4f}" if raw.wire_bytes else f"{'-':>8}"
        print(
            f"{way.name:<34} {way.seconds:>7.2f} {way.requests:>9,} "
            f"{way.wire_bytes / 1e6:>9.2f} {way.body_bytes / 1e6:>9.2f} "
            f"{way.seconds / raw.seconds:>8.3f} {way.requests / raw.requests:>7.3f} "
            f"{wire} {way.body_bytes / raw.body_bytes:>8.4f}"
        )
    print(
        "\n(x = ratio to the raw pull; wire = bytes received, gzip, of the answers that give "
        "their length (a chunked answer counts 0); JSON = decoded body)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
