"""The Prometheus source against a real VictoriaMetrics single-node server (never skipped).

The server holds the same January 2026 counters as the Prometheus tests (three sample services,
a checkout whose counters reset mid-month and one missing an hour of samples), imported
through its ``/api/v1/import`` API. MetricsQL ``increase`` subtracts the last sample before
each window and never extrapolates, so the counts must equal, to the event, those of the CSV
source reading the same events; across the gap it keeps every event (docs/sources.md, "Range
selectors").
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from prometheus_server import Series
from test_prometheus import (
    GAP,
    MONTH,
    SERVICES,
    aggregate,
    canonical,
    compute,
    config_for,
    history_sli,
    january,
    prometheus_source,
    sample_services,
    write_config,
    write_csv,
)
from victoriametrics_server import VictoriaMetricsServer, binary

from reliability.config import SLO, Indicator, Service, Source
from reliability.period import Span
from reliability.sources import prometheus
from reliability.sources.prometheus.client import PrometheusClient
from reliability.sources.prometheus.engine import identify

JITTER_SECONDS = 17
"""Seconds after each minute at which the ``jittered`` counter is sampled (off the steps)."""


class Imported:
    """The shared server and the per-minute events it holds."""

    def __init__(self, server: VictoriaMetricsServer, history: pd.DataFrame, extra, jittered):
        self.server = server
        self.history = history
        self.extra_good = extra
        self.jittered = jittered

    @property
    def sli(self) -> pd.DataFrame:
        return self.history[self.history["timestamp"] >= MONTH.start].reset_index(drop=True)

    @property
    def url(self) -> str:
        return self.server.url


def jittered_series() -> Series:
    """A counter of 0, 1, 2, ... events in successive minutes of the month's first day,
    sampled ``JITTER_SECONDS`` after each minute (as real scrapes are)."""
    start = int(MONTH.start.timestamp())
    minutes = 24 * 60
    stamps = start + JITTER_SECONDS + 60 * np.arange(-1, minutes, dtype=np.int64)
    values = 500 + np.concatenate([[0], np.cumsum(np.arange(minutes))])
    return Series("jittered_total", {"job": "jittered"}, stamps, values)


@pytest.fixture(scope="session")
def imported(tmp_path_factory: pytest.TempPathFactory):
    """January 2026 of three sample services in a real VictoriaMetrics on loopback."""
    binary()  # fail loudly, never skip, when VictoriaMetrics is not installed
    sli = history_sli()
    families, extra = january(sli)
    jittered = jittered_series()
    server = VictoriaMetricsServer(tmp_path_factory.mktemp("victoria-metrics"))
    try:
        server.start()
        server.import_series(
            [*(one for _, series in families.values() for one in series), jittered]
        )
        yield Imported(server, sli, extra, jittered)
    finally:
        server.stop()


def fetch(url: str, services: list[Service], **options) -> tuple[pd.DataFrame, list[str]]:
    source = prometheus_source(url, **options)
    return prometheus.fetch(source, config_for(services, source), Span.of([MONTH]))


def one_slo(name: str, good: str, total: str) -> list[Service]:
    indicator = Indicator(good=good, total=total)
    return [
        Service(
            name=name,
            team="payments",
            slos=[SLO(name="availability", objective=0.999, indicator=indicator)],
        )
    ]


def test_compute_equals_csv_of_the_same_events(imported, tmp_path, capsys):
    services = sample_services(*SERVICES)
    from_vm = write_config(
        tmp_path / "vm.yaml", config_for(services, prometheus_source(imported.url, step="5m"))
    )
    write_csv(tmp_path / "sli.csv", aggregate(imported.history, "5min"))
    from_csv = write_config(
        tmp_path / "csv.yaml", config_for(services, Source(kind="csv", path="sli.csv"))
    )

    code, out, err = compute(from_vm, capsys)
    assert code == 0, err
    result = json.loads(out)
    code, out, err = compute(from_csv, capsys)
    assert code == 0, err
    expected = json.loads(out)

    assert len(result["slos"]) == 6
    assert result["slos"] == expected["slos"]
    assert result["sli_coverage"] == expected["sli_coverage"]
    for row in result["slos"]:
        minutes = imported.sli[
            (imported.sli["service"] == row["service"]) & (imported.sli["slo"] == row["slo"])
        ]
        assert row["good"] == int(minutes["good"].sum())
        assert row["total"] == int(minutes["total"].sum())


def test_one_minute_step_in_requests_of_11000_points(imported):
    services = sample_services("checkout", "ledger")

    result, notes = fetch(imported.url, services, step="1m")

    expected = imported.sli[imported.sli["service"].isin(["checkout", "ledger"])]
    assert_frame_equal(canonical(result), canonical(expected))
    assert len(result) == 4 * 44_640
    assert notes == []


def test_counter_reset_keeps_counts_exact(imported):
    services = one_slo(
        "checkout-reset",
        'http_requests_total{job="checkout-reset",code!~"5.."}',
        'http_requests_total{job="checkout-reset"}',
    )

    result, notes = fetch(imported.url, services)

    checkout = imported.sli[
        (imported.sli["service"] == "checkout") & (imported.sli["slo"] == "availability")
    ]
    expected = aggregate(checkout, "5min").assign(service="checkout-reset")
    assert_frame_equal(canonical(result), canonical(expected))
    assert notes == []


def test_a_gap_keeps_every_event_in_the_step_where_the_counter_reappears(
    imported, tmp_path, capsys
):
    services = one_slo(
        "checkout-gap",
        'http_requests_total{job="checkout-gap",code!~"5.."}',
        'http_requests_total{job="checkout-gap"}',
    )
    checkout = imported.sli[
        (imported.sli["service"] == "checkout") & (imported.sli["slo"] == "availability")
    ]
    write_csv(tmp_path / "sli.csv", checkout.assign(service="checkout-gap"))
    from_csv = write_config(
        tmp_path / "csv.yaml", config_for(services, Source(kind="csv", path="sli.csv"))
    )
    from_vm = write_config(
        tmp_path / "vm.yaml", config_for(services, prometheus_source(imported.url))
    )

    code, out, err = compute(from_vm, capsys)
    assert code == 0, err
    (slo,) = json.loads(out)["slos"]
    (coverage,) = json.loads(out)["sli_coverage"]
    code, out, err = compute(from_csv, capsys)
    assert code == 0, err
    (expected,) = json.loads(out)["slos"]

    # every event of the month, those of the missing hour included
    assert (slo["good"], slo["total"]) == (expected["good"], expected["total"])
    assert (slo["good"], slo["total"]) == (
        int(checkout["good"].sum()),
        int(checkout["total"].sum()),
    )
    # the first step of the gap still has its opening sample (0 events); the next ten steps
    # have no sample at all; the last one ends on the sample after the gap and holds the hour
    assert coverage["missing_minutes"] == 50
    frame, _ = fetch(imported.url, services)
    gap_start = MONTH.start + pd.Timedelta(minutes=GAP[0])
    rows = frame.set_index("timestamp")
    assert (rows.loc[gap_start, "good"], rows.loc[gap_start, "total"]) == (0, 0)
    minute = (checkout["timestamp"] - MONTH.start) // pd.Timedelta(minutes=1)
    hour = checkout[(minute >= GAP[0]) & (minute < GAP[1])]
    last = gap_start + pd.Timedelta(minutes=55)
    assert rows.loc[last, "total"] == int(hour["total"].sum())
    assert rows.loc[last, "good"] == int(hour["good"].sum())
    assert len(frame) == 8928 - 10


def test_samples_off_the_step_boundaries_still_count_exactly(imported):
    services = one_slo("jittered", "jittered_total", "jittered_total")

    result, notes = fetch(imported.url, services)

    # a step (t - 5m, t] counts the counter's rise from its last sample at or before t - 5m
    # to its last sample at or before t: here the minutes whose sample falls in the step
    series = imported.jittered
    ends = MONTH.start.timestamp() + 300 * np.arange(1, 24 * 12 + 1)
    at = series.values[np.searchsorted(series.timestamps, ends, side="right") - 1]
    before = series.values[np.searchsorted(series.timestamps, ends - 300, side="right") - 1]
    assert result["total"].tolist() == (at - before).tolist()
    assert int(result["total"].sum()) == int(series.values[-1] - series.values[0])
    assert notes == []


def test_the_server_is_identified_as_victoriametrics(imported):
    client = PrometheusClient(prometheus_source(imported.url))
    try:
        data = client.build_info()
    finally:
        client.close()
    assert data == {}  # 1.79 answers no version at all
    assert identify(data).title == "VictoriaMetrics"


def test_latency_thresholds_and_templates_match_prometheus(imported):
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
        for name in ("checkout", "search")
    ]

    result, notes = fetch(imported.url, services)

    sli = imported.sli
    http = sli[sli["service"].isin(["checkout", "search"])]
    search_latency = http[(http["service"] == "search") & (http["slo"] == "latency")]
    search_latency = search_latency.assign(good=imported.extra_good["search"])
    checkout_latency = http[(http["service"] == "checkout") & (http["slo"] == "latency")]
    expected = pd.concat(
        [
            aggregate(http[http["slo"] == "availability"], "5min"),
            aggregate(checkout_latency, "5min"),
            aggregate(search_latency, "5min"),
        ]
    )
    assert_frame_equal(canonical(result), canonical(expected))
    assert notes == []
