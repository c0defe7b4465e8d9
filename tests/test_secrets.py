"""API tokens never leak: not to stdout, stderr, logs or any file a run writes.

Sentinel tokens sit in the environment variables the sources name; local servers answer
normally, reject the token (401) or fail with a 500 page that echoes the request's
``Authorization`` header back, as some proxies and debug pages do. Each command in ``COMMANDS``
runs once per scenario; a command that writes files (``report --out ...``) is covered by adding
it there: every file under the run's folder is searched too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer
from test_source_github import REPO, FakeGitHub, deployment, status
from test_source_pagerduty import FakePagerDuty, incident, log_entry
from werkzeug import Request, Response

from reliability.cli import main
from reliability.sources import http

PD_SENTINEL = "pd-sentinel-7f3a9c1e-do-not-print-Zq9X"
GH_SENTINEL = "gh-sentinel-0b8d52aa-do-not-print-Wk4J"
SENTINELS = (PD_SENTINEL, GH_SENTINEL, "Zq9X", "Wk4J")
"""The tokens, and their last four characters (what clients print as a "truncated" key)."""

COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "compute-json": lambda folder: ["compute", "--format", "json"],
    "compute-json-logs": lambda folder: ["--log-format", "json", "compute", "--format", "json"],
    "report": lambda folder: ["report", "--out", str(folder / "reports")],
}
SCENARIOS = ["ok", "pagerduty-401", "pagerduty-500-echo", "github-401", "github-500-echo"]


def _echo(request: Request, status_code: int) -> Response:
    """An error page that reflects the request headers, token included."""
    body = {
        "error": {"message": f"failed; you sent {request.headers.get('Authorization')}"},
        "message": f"failed for {request.headers.get('Authorization')}",
    }
    return Response(json.dumps(body), status=status_code, content_type="application/json")


def _serve(scenario: str, pd_server: HTTPServer, gh_server: HTTPServer) -> None:
    if scenario == "pagerduty-401":
        pd_server.expect_request("/incidents").respond_with_handler(lambda r: _echo(r, 401))
    elif scenario == "pagerduty-500-echo":
        pd_server.expect_request("/incidents").respond_with_handler(lambda r: _echo(r, 500))
    else:
        FakePagerDuty(
            pd_server,
            [incident("PSECRET", "2026-10-03T10:00:00Z")],
            {"PSECRET": [log_entry("acknowledge_log_entry", "2026-10-03T10:02:00Z", "PSECRET")]},
        )
    if scenario == "github-401":
        gh_server.expect_request(f"/repos/{REPO}/deployments").respond_with_handler(
            lambda r: _echo(r, 401)
        )
    elif scenario == "github-500-echo":
        gh_server.expect_request(f"/repos/{REPO}/deployments").respond_with_handler(
            lambda r: _echo(r, 500)
        )
    else:
        FakeGitHub(
            gh_server,
            [deployment(1, "2026-10-02T12:00:00Z", "abc")],
            {1: [status("success", "2026-10-02T12:05:00Z")]},
            {"abc": "2026-10-02T11:00:00Z"},
        )


@pytest.fixture(scope="module")
def _second_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gh_server(_second_server: HTTPServer) -> Iterator[HTTPServer]:
    """A second local server, standing in for GitHub while ``httpserver`` plays PagerDuty."""
    _second_server.clear()
    yield _second_server
    _second_server.clear()


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_tokens_appear_in_no_output_log_or_file(
    scenario: str,
    command: str,
    httpserver: HTTPServer,
    gh_server: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PD_SECRET_TOKEN", PD_SENTINEL)
    monkeypatch.setenv("GH_SECRET_TOKEN", GH_SENTINEL)
    monkeypatch.setattr(http, "DEFAULT_POLICY", http.RetryPolicy(attempts=1, backoff_factor=0.01))
    caplog.set_level(logging.DEBUG)
    _serve(scenario, httpserver, gh_server)
    document = {
        "sources": {
            "incidents": {
                "kind": "pagerduty",
                "url": httpserver.url_for("/").rstrip("/"),
                "token_env": "PD_SECRET_TOKEN",
                "services": {"PSVC001": "checkout"},
            },
            "deployments": {
                "kind": "github_deployments",
                "url": gh_server.url_for("/").rstrip("/"),
                "repository": REPO,
                "service": "checkout",
                "token_env": "GH_SECRET_TOKEN",
            },
        },
        "services": [{"name": "checkout", "team": "payments"}],
    }
    config = tmp_path / "reliability.yaml"
    config.write_text(yaml.safe_dump(document))

    code = main([*COMMANDS[command](tmp_path), "--config", str(config), "--month", "2026-10"])

    out, err = capsys.readouterr()
    assert code == (0 if scenario == "ok" else 1), err
    if command == "report" and scenario == "ok":  # the rendered pages are searched too
        assert (tmp_path / "reports" / "2026-10" / "index.html").is_file()
    texts = {"stdout": out, "stderr": err, "logs": caplog.text}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != config:
            texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    for where, text in texts.items():
        for secret in SENTINELS:
            assert secret not in text, f"{secret!r} leaked into {where}"
    # The tokens were really sent, so the test is not vacuous.
    sent = [r.headers.get("Authorization") for r, _ in httpserver.log]
    sent += [r.headers.get("Authorization") for r, _ in gh_server.log]
    assert f"Token token={PD_SENTINEL}" in sent
    if scenario.startswith("github") or scenario == "ok":
        assert f"Bearer {GH_SENTINEL}" in sent
    if scenario != "ok":
        assert "answered HTTP" in err
