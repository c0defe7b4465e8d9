"""The shared HTTP stack: a slow or lost server ends a run within its deadline, with exit 1.

The servers are real sockets on loopback: one that answers one byte a second (its headers or
its body), one that keeps answering 503, one that asks to wait longer than a source waits.
The deadlines are the sources' own options, as a user would set them.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from slow_server import TricklingServer
from werkzeug import Response

from reliability.cli import main
from reliability.errors import SourceError
from reliability.source_options import PrometheusOptions
from reliability.sources import http

MONTH = "2026-01"
SLO = {
    "name": "availability",
    "objective": 0.99,
    "indicator": {"good": 'up{job="checkout",ok="1"}', "total": 'up{job="checkout"}'},
}


def _source(kind: str, url: str, **options: Any) -> dict[str, Any]:
    """A ``prometheus`` metrics or ``pagerduty`` incidents source at ``url``."""
    if kind == "prometheus":
        return {"metrics": {"kind": "prometheus", "url": url, "concurrency": 1, **options}}
    return {"incidents": {"kind": "pagerduty", "url": url, "token_env": "PD_TOKEN", **options}}


def _config(tmp_path: Path, sources: dict[str, Any]) -> Path:
    document = {"sources": sources, "services": [{"name": "checkout", "team": "t", "slos": [SLO]}]}
    path = tmp_path / "reliability.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _run(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    code = main(["compute", "--config", str(config), "--month", MONTH, "--format", "json"])
    elapsed = time.monotonic() - started
    return code, capsys.readouterr().err, elapsed


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_TOKEN", "pd-http-test-token")


@pytest.fixture(scope="module", autouse=True)
def _imported() -> None:
    """What a run imports, imported before any run is timed."""
    importlib.import_module("reliability.pipeline")
    importlib.import_module("reliability.metrics.month")


@pytest.mark.parametrize("mode", ["headers", "body"])
@pytest.mark.parametrize(
    ("kind", "request_line"),
    [("prometheus", "POST {url}/api/v1/query_range:"), ("pagerduty", "GET {url}/incidents:")],
)
def test_a_server_trickling_one_byte_a_second_ends_the_run_at_the_timeout(
    kind: str,
    request_line: str,
    mode: str,
    trickling_server: Callable[..., TricklingServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = trickling_server(mode)
    config = _config(tmp_path, _source(kind, server.url, timeout=2, deadline=30, retries=3))

    code, err, elapsed = _run(config, capsys)

    (line,) = err.strip().splitlines()
    assert code == 1
    assert line.startswith("error: " + ("Prometheus" if kind == "prometheus" else "PagerDuty"))
    assert request_line.format(url=server.url) in line
    assert line.endswith(
        "no complete answer within 2 s (option timeout): the server is unreachable, stalled or "
        "too slow"
    )
    assert 2 <= elapsed < 2 + 3
    assert server.requests == 1  # a server that slow is not asked again


@pytest.mark.parametrize("kind", ["prometheus", "pagerduty"])
def test_the_source_deadline_bounds_a_request_that_is_still_within_its_timeout(
    kind: str,
    trickling_server: Callable[..., TricklingServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = trickling_server("body")
    config = _config(tmp_path, _source(kind, server.url, timeout=60, deadline=2))

    code, err, elapsed = _run(config, capsys)

    assert code == 1
    assert err.strip().endswith(
        "gave up when the source's deadline of 2 s passed (option deadline)"
    )
    assert 2 <= elapsed < 2 + 3


@pytest.mark.parametrize("kind", ["prometheus", "pagerduty"])
def test_retries_stop_at_the_deadline(
    kind: str, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/api/v1/query_range").respond_with_response(
        Response('{"status":"error","error":"busy"}', status=503, headers={"Retry-After": "1"})
    )
    httpserver.expect_request("/incidents").respond_with_response(
        Response('{"error":{"message":"busy"}}', status=503, headers={"Retry-After": "1"})
    )
    url = httpserver.url_for("/").rstrip("/")
    config = _config(tmp_path, _source(kind, url, retries=20, deadline=2.5))

    code, err, elapsed = _run(config, capsys)

    (line,) = err.strip().splitlines()
    assert code == 1
    assert "answered HTTP 503, Retry-After 1 s after 3 attempts" in line
    assert line.endswith(
        "gave up when the source's deadline of 2.5 s passed (option deadline) before the next retry"
    )
    assert elapsed < 2.5 + 1
    if kind == "pagerduty":  # one request at a time (Prometheus sends two queries at once)
        assert len(httpserver.log) == 3


def test_a_cron_run_that_loses_its_server_exits_1_within_the_deadline(
    trickling_server: Callable[..., TricklingServer], tmp_path: Path
) -> None:
    server = trickling_server("headers")
    sources = {
        **_source("prometheus", server.url, timeout=3, deadline=4),
        **_source("pagerduty", server.url, timeout=3, deadline=4),
    }
    config = _config(tmp_path, sources)
    command = [sys.executable, "-m", "reliability", "compute", "--config", str(config)]

    started = time.monotonic()
    done = subprocess.run(
        [*command, "--month", MONTH],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PD_TOKEN": "pd-http-test-token", "PATH": "/usr/bin:/bin"},
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().endswith("the server is unreachable, stalled or too slow")
    assert "Traceback" not in done.stderr
    assert elapsed < 4 + 30  # the deadline, and a margin for starting Python on a busy machine


def test_a_long_retry_after_fails_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/query").respond_with_response(
        Response("", status=429, headers={"Retry-After": "61"})
    )
    options = PrometheusOptions(kind="prometheus", url=httpserver.url_for("/"))
    client = http.Client("Prometheus", http.Policy.of(options))
    started = time.monotonic()

    with pytest.raises(SourceError) as caught:
        client.send("POST", httpserver.url_for("/api/v1/query"))

    assert str(caught.value).endswith(
        "is rate limited (HTTP 429, Retry-After 61 s): longer than the 60 s a source waits; "
        "try again later"
    )
    assert time.monotonic() - started < 2
    assert len(httpserver.log) == 1


def test_a_retry_after_within_the_cap_is_waited_out(httpserver: HTTPServer) -> None:
    answers = [Response("", status=503, headers={"Retry-After": "1"}), Response("{}", 200)]
    calls: list[float] = []

    def handler(request: Any) -> Response:
        calls.append(time.monotonic())
        return answers[min(len(calls), 2) - 1]

    httpserver.expect_request("/x").respond_with_handler(handler)
    client = http.Client("Test", http.Policy(retries=2, backoff=0))

    body, _ = client.get_json(httpserver.url_for("/x"))

    assert body == {}
    assert len(calls) == 2
    assert 0.9 <= calls[1] - calls[0] < 3


def test_html_where_json_was_expected_is_named() -> None:
    page = b"<!doctype html><html><head><title>Log in</title></head></html>"
    with pytest.raises(SourceError) as caught:
        http.decode_json(what="Test", method="GET", url="https://x.test/api", status=200, body=page)
    assert str(caught.value) == (
        "Test: GET https://x.test/api returned an HTML page (Log in) with HTTP 200 where JSON "
        "was expected; is the url option the API's address?"
    )
    assert json.loads(b"[1]") == http.decode_json(
        what="Test", method="GET", url="https://x.test/api", status=200, body=b"[1]"
    )
