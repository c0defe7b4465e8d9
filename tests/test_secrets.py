"""API tokens never leak: not to stdout, stderr, logs or any file a run writes.

Tokens sit in the environment variables the sources name: plain sentinels, and tokens with
the bytes that defeat a naive scrubber (quotes, backslashes, ``%``, non-ASCII letters,
spaces). Local servers answer normally, reject the token (401), fail with a 500 page that
echoes the request's ``Authorization`` header back (as some proxies and debug pages do), or
echo it in a 200 answer: in a response header (``Content-Type``), in the records themselves
(an incident's title, a Prometheus warning) and in a query error. Each command in
``COMMANDS`` runs once per scenario; every file under the run's folder is searched too, for
the token as sent and in the spellings a file would hold it in (JSON- and HTML-escaped,
URL-encoded), and for fragments of it.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
import yaml
from pytest_httpserver import HTTPServer
from test_source_github import REPO, FakeGitHub, deployment, status
from test_source_pagerduty import FakePagerDuty, incident, log_entry
from werkzeug import Request, Response

from reliability.cli import main
from reliability.period import Month

TOKENS = {
    "plain": {
        "pd": "pd-sentinel-7f3a9c1e-do-not-print-Zq9X",
        "gh": "gh-sentinel-0b8d52aa-do-not-print-Wk4J",
        "prom": "prom-sentinel-5c2e77d1-do-not-print-Pv3M",
    },
    "odd": {
        "pd": 'pd "7f3a9c1f" \\odd\\ 100%25 tök\'en Zq9Y',
        "gh": "gh 'q' \\0b8d52ab\\ %2F ünï \"Wk4K\"",
        "prom": 'p%20r "5c2e77d2" \\ ø\'Pv3N',
    },
}
"""The tokens of each run; each holds a distinctive fragment that survives any escaping."""
FRAGMENTS = {
    "plain": ("7f3a9c1e", "0b8d52aa", "5c2e77d1", "Zq9X", "Wk4J", "Pv3M"),
    "odd": ("7f3a9c1f", "0b8d52ab", "5c2e77d2", "Zq9Y", "Wk4K", "Pv3N"),
}
"""Parts of the tokens (the last four characters are what some clients print as a
"truncated" key): none may show, whatever the spelling around them."""
MONTH = Month(2026, 10)

COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "compute-json": lambda folder: ["compute", "--format", "json"],
    "compute-json-logs": lambda folder: ["--log-format", "json", "compute", "--format", "json"],
    "report": lambda folder: ["report", "--out", str(folder / "reports")],
}
SCENARIOS = {
    "ok": 0,
    "echo-in-answers": 0,
    "pagerduty-401": 1,
    "pagerduty-500-echo": 1,
    "pagerduty-html-echo": 1,
    "github-401": 1,
    "github-500-echo": 1,
    "prometheus-400-echo": 2,
}
"""Each scenario and the exit code it ends with."""
RUNS = [
    (tokens, scenario, command)
    for tokens in TOKENS
    for scenario in SCENARIOS
    for command in COMMANDS
    if command != "report" or scenario == "echo-in-answers"
]
"""Reports only where they get written (an error stops a run before it renders anything), and
there with the servers echoing the tokens inside their answers, the case where a token could
reach a page."""


def spellings(token: str) -> set[str]:
    """The token as sent and as a file or page would hold it."""
    return {
        token,
        json.dumps(token)[1:-1],
        json.dumps(token, ensure_ascii=False)[1:-1],
        html.escape(token),
        html.escape(token, quote=False),
        quote(token, safe=""),
    }


def _echo(request: Request, status_code: int) -> Response:
    """An error answer that reflects the request's Authorization header, in body and header."""
    sent = request.headers.get("Authorization", "")
    body = {"error": {"message": f"failed; you sent {sent}"}, "message": f"failed for {sent}"}
    return Response(
        json.dumps(body),
        status=status_code,
        headers={"Content-Type": f"application/json; echo={sent}", "X-Echo": sent},
    )


def _html_echo(request: Request) -> Response:
    sent = request.headers.get("Authorization", "")
    page = f"<html><head><title>Denied: {html.escape(sent)}</title></head><body>{sent}</body>"
    return Response(page, status=403, headers={"Content-Type": f"text/html; who={sent}"})


def _echoing(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """``handler``'s answer with the Authorization header echoed in its records and headers."""

    def answer(request: Request) -> Response:
        sent = request.headers.get("Authorization", "")
        response = handler(request)
        body = json.loads(response.get_data())
        for item in body.get("incidents", []):
            item["title"] = f"{item['title']} (you sent {sent})"
        response.set_data(json.dumps(body))
        response.headers["Content-Type"] = f"application/json; echo={sent}"
        response.headers["X-Echo"] = sent
        return response

    return answer


def _prometheus(request: Request, echo: bool, status_code: int = 200) -> Response:
    """A range query answer: one point per side, with a warning echoing the token if asked."""
    sent = request.headers.get("Authorization", "")
    if status_code == 400:
        error = {"status": "error", "errorType": "bad_data", "error": f"bad token {sent}"}
        return Response(json.dumps(error), status=400, content_type="application/json")
    start = MONTH.start.timestamp()
    value = "9" if "code" in request.form["query"] else "10"
    body = {
        "status": "success",
        "warnings": [f"partial response for {sent}"] if echo else [],
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[start + 300, value]]}],
        },
    }
    headers = {"X-Echo": sent} if echo else {}
    return Response(json.dumps(body), headers=headers, content_type="application/json")


def _serve(
    scenario: str, pd_server: HTTPServer, gh_server: HTTPServer, prom_server: HTTPServer
) -> None:
    echo = scenario == "echo-in-answers"
    if scenario == "pagerduty-401":
        pd_server.expect_request("/incidents").respond_with_handler(lambda r: _echo(r, 401))
    elif scenario == "pagerduty-500-echo":
        pd_server.expect_request("/incidents").respond_with_handler(lambda r: _echo(r, 500))
    elif scenario == "pagerduty-html-echo":
        pd_server.expect_request("/incidents").respond_with_handler(_html_echo)
    else:
        fake = FakePagerDuty(
            pd_server,
            [incident("PSECRET", "2026-10-03T10:00:00Z")],
            {"PSECRET": [log_entry("acknowledge_log_entry", "2026-10-03T10:02:00Z", "PSECRET")]},
        )
        if echo:
            pd_server.clear_all_handlers()
            pd_server.expect_request("/incidents").respond_with_handler(_echoing(fake.list))
            pd_server.expect_request("/incidents/PSECRET/log_entries").respond_with_handler(
                fake.log_entries
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
    code = 400 if scenario == "prometheus-400-echo" else 200
    prom_server.expect_request("/api/v1/query_range").respond_with_handler(
        lambda r: _prometheus(r, echo, code)
    )


@pytest.fixture(scope="module")
def _servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    servers = (HTTPServer(host="127.0.0.1"), HTTPServer(host="127.0.0.1"))
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def gh_server(_servers: tuple[HTTPServer, HTTPServer]) -> Iterator[HTTPServer]:
    """A second local server, standing in for GitHub while ``httpserver`` plays PagerDuty."""
    _servers[0].clear()
    yield _servers[0]
    _servers[0].clear()


@pytest.fixture
def prom_server(_servers: tuple[HTTPServer, HTTPServer]) -> Iterator[HTTPServer]:
    """A third local server, standing in for Prometheus."""
    _servers[1].clear()
    yield _servers[1]
    _servers[1].clear()


def _config(folder: Path, pd_url: str, gh_url: str, prom_url: str) -> Path:
    one_try = {"retries": 1, "backoff": 0.01}
    document = {
        "sources": {
            "metrics": {
                "kind": "prometheus",
                "url": prom_url,
                "token_env": "PROM_SECRET_TOKEN",
                **one_try,
            },
            "incidents": {
                "kind": "pagerduty",
                "url": pd_url,
                "token_env": "PD_SECRET_TOKEN",
                "services": {"PSVC001": "checkout"},
                **one_try,
            },
            "deployments": {
                "kind": "github_deployments",
                "url": gh_url,
                "repository": REPO,
                "service": "checkout",
                "token_env": "GH_SECRET_TOKEN",
                **one_try,
            },
        },
        "services": [
            {
                "name": "checkout",
                "team": "payments",
                "slos": [
                    {
                        "name": "availability",
                        "objective": 0.99,
                        "indicator": {
                            "good": 'http_requests_total{job="checkout",code!~"5.."}',
                            "total": 'http_requests_total{job="checkout"}',
                        },
                    }
                ],
            }
        ],
    }
    path = folder / "reliability.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(("tokens", "scenario", "command"), RUNS)
def test_tokens_appear_in_no_output_log_or_file(
    tokens: str,
    scenario: str,
    command: str,
    httpserver: HTTPServer,
    gh_server: HTTPServer,
    prom_server: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = TOKENS[tokens]
    monkeypatch.setenv("PD_SECRET_TOKEN", secrets["pd"])
    monkeypatch.setenv("GH_SECRET_TOKEN", secrets["gh"])
    monkeypatch.setenv("PROM_SECRET_TOKEN", secrets["prom"])
    caplog.set_level(logging.DEBUG)
    _serve(scenario, httpserver, gh_server, prom_server)
    urls = [s.url_for("/").rstrip("/") for s in (httpserver, gh_server, prom_server)]
    config = _config(tmp_path, *urls)

    code = main([*COMMANDS[command](tmp_path), "--config", str(config), "--month", MONTH.label])

    out, err = capsys.readouterr()
    assert code == SCENARIOS[scenario], err
    if command == "report":  # the rendered pages and metrics.json are searched too
        assert (tmp_path / "reports" / MONTH.label / "index.html").is_file()
    texts = {"stdout": out, "stderr": err, "logs": caplog.text}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != config:
            texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    forbidden = {form for token in secrets.values() for form in spellings(token)}
    forbidden |= set(FRAGMENTS[tokens])
    for where, text in texts.items():
        for secret in forbidden:
            assert secret not in text, f"{secret!r} leaked into {where}"
    # The tokens were really sent (and echoed), so the test is not vacuous.
    sent = [r.headers.get("Authorization") for r, _ in httpserver.log]
    assert f"Token token={secrets['pd']}" in sent
    if scenario.startswith("github") or scenario in ("ok", "echo-in-answers"):
        sent = [r.headers.get("Authorization") for r, _ in gh_server.log]
        assert f"Bearer {secrets['gh']}" in sent
    sent = [r.headers.get("Authorization") for r, _ in prom_server.log]
    assert f"Bearer {secrets['prom']}" in sent
    if scenario.endswith("echo"):
        assert "***" in err
    if scenario == "echo-in-answers" and command != "report":
        result = json.loads(out)
        findings = " ".join(f["finding"] for f in result["data_quality"])
        assert "partial response for Bearer ***" in findings


def test_a_token_whose_bytes_are_not_utf8_is_a_config_error_that_does_not_show_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An environment variable holds bytes: ``\\xff\\xfe`` reach Python as lone surrogates,
    which no spelling of the token may trip over, and a header cannot carry as text."""
    token = b"pd-\xff\xfe-7f3a9c20-Zq9Z"
    monkeypatch.setenv("PD_SECRET_TOKEN", token.decode("utf-8", "surrogateescape"))
    document = yaml.safe_load(_config(tmp_path, "", "", "").read_text())
    source = document["sources"]["incidents"]
    source["url"] = "http://127.0.0.1:9"  # the token is refused before any request is made
    document["sources"] = {"incidents": source}
    config = tmp_path / "reliability.yaml"
    config.write_text(yaml.safe_dump(document))

    code = main(["compute", "--config", str(config), "--month", MONTH.label])

    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert "the token in PD_SECRET_TOKEN holds a character an HTTP header cannot carry" in err
    for fragment in ("7f3a9c20", "Zq9Z", token.decode("latin-1")):
        assert fragment not in err


def test_a_non_utf8_token_does_not_stop_later_frames_from_being_scrubbed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The registry outlives the run that read the token: a later frame's text columns are
    still searched, not an internal error over the token's lone surrogates."""
    from reliability.sources import secrets

    monkeypatch.setattr(secrets, "_secrets", set())
    monkeypatch.setattr(secrets, "_forms", ())
    monkeypatch.setattr(secrets, "_pattern", None)
    secrets.register_secret(b"pd-\xff\xfe-7f3a9c20-Zq9Z".decode("utf-8", "surrogateescape"))
    frame = pd.DataFrame(
        {"title": pd.Series(["db down", "echo pd-\xff\xfe-7f3a9c20-Zq9Z"], dtype="string")}
    )

    cleaned = secrets.scrub_frame(frame)

    assert cleaned["title"].tolist() == ["db down", "echo ***"]
