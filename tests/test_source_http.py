"""The shared HTTP stack: a slow or lost server ends a run within its deadline, with exit 1.

The servers are real sockets on loopback: one that answers one byte a second (its headers or
its body), one that keeps answering 503, one that asks to wait longer than a source waits.
The deadlines are the sources' own options, as a user would set them.

On a busy machine a run may take long to reach its first request, so the bound on how late a
run ends is counted from the first request the server saw (the source's clock starts before
it), and the bound on how early it ends from the start of the run (it can only be later).
"""

from __future__ import annotations

import importlib
import itertools
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class Run:
    """A ``compute`` run's exit code, stderr, and when it started and ended (monotonic)."""

    code: int
    err: str
    started: float
    ended: float

    def since(self, moment: float | None) -> float:
        """Seconds from ``moment`` (a first request) to the end of the run."""
        assert moment is not None, "the server saw no request"
        return self.ended - moment


def _run(config: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    started = time.monotonic()
    code = main(["compute", "--config", str(config), "--month", MONTH, "--format", "json"])
    return Run(code, capsys.readouterr().err, started, time.monotonic())


def _timed(answer: Response) -> tuple[list[float], Callable[[Any], Response]]:
    """A handler giving ``answer`` to every request, and the times the requests arrived."""
    arrived: list[float] = []

    def handler(request: Any) -> Response:
        arrived.append(time.monotonic())
        return answer

    return arrived, handler


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

    run = _run(config, capsys)

    (line,) = run.err.strip().splitlines()
    assert run.code == 1
    assert line.startswith("error: " + ("Prometheus" if kind == "prometheus" else "PagerDuty"))
    assert request_line.format(url=server.url) in line
    assert line.endswith(
        "no complete answer within 2 s (option timeout): the server is unreachable, stalled or "
        "too slow"
    )
    assert run.ended - run.started >= 2  # the timeout was waited out
    assert run.since(server.first_request) < 2 + 3  # and given up then
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

    run = _run(config, capsys)

    assert run.code == 1
    assert run.err.strip().endswith(
        "gave up when the source's deadline of 2 s passed (option deadline)"
    )
    assert run.ended - run.started >= 2
    assert run.since(server.first_request) < 2 + 3


@pytest.mark.parametrize("kind", ["prometheus", "pagerduty"])
def test_retries_stop_at_the_deadline(
    kind: str, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, body = {
        "prometheus": ("/api/v1/query_range", '{"status":"error","error":"busy"}'),
        "pagerduty": ("/incidents", '{"error":{"message":"busy"}}'),
    }[kind]
    arrived, handler = _timed(Response(body, status=503, headers={"Retry-After": "1"}))
    httpserver.expect_request(path).respond_with_handler(handler)
    url = httpserver.url_for("/").rstrip("/")
    config = _config(tmp_path, _source(kind, url, retries=20, deadline=2.5))

    run = _run(config, capsys)

    (line,) = run.err.strip().splitlines()
    assert run.code == 1
    attempts = re.search(r"answered HTTP 503, Retry-After 1 s after (\d+) attempts?;", line)
    assert attempts, line
    # Waits of 1 s leave room for 3 attempts in 2.5 s; a busy machine may leave room for fewer.
    assert 1 <= int(attempts.group(1)) <= 3
    assert line.endswith(
        "gave up when the source's deadline of 2.5 s passed (option deadline) before the next retry"
    )
    # It stopped when the next wait would pass the deadline (not before), and did not wait.
    assert run.ended - run.started >= 2.5 - 1
    assert run.since(arrived[0]) < 2.5 + 1
    if kind == "pagerduty":  # one request at a time (Prometheus sends two queries at once)
        assert len(arrived) == int(attempts.group(1))
        assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(arrived))


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

    done = subprocess.run(
        [*command, "--month", MONTH],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PD_TOKEN": "pd-http-test-token", "PATH": "/usr/bin:/bin"},
    )
    ended = time.monotonic()

    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().endswith("the server is unreachable, stalled or too slow")
    assert "Traceback" not in done.stderr
    # From its first request (Python's start-up comes before it): the deadline, and a margin
    # for the process to end.
    assert server.first_request is not None
    assert ended - server.first_request < 4 + 10


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
    assert time.monotonic() - started < 30  # not the 60 s of the cap, nor the 61 asked
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
    assert 0.9 <= calls[1] - calls[0] < 10  # the 1 s asked, not the 60 s of the cap


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
