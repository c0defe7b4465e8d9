"""The GitHub deployments source against a local server replaying GitHub's REST shapes."""

from __future__ import annotations

import json
import re
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
from reliability.period import Month, Span
from reliability.sources import LoadRequest
from reliability.sources import github as gh

REPO = "octo/shop"
TOKEN = "ghp_sentinel_github_token_42"
OCTOBER = [Month(2026, 10)]


def deployment(deployment_id: int, created: str, sha: str, environment: str = "production"):
    """A deployment in the shape of ``GET /repos/{owner}/{repo}/deployments``."""
    return {
        "url": f"https://api.github.com/repos/{REPO}/deployments/{deployment_id}",
        "id": deployment_id,
        "node_id": f"DE_{deployment_id}",
        "sha": sha,
        "ref": "main",
        "task": "deploy",
        "payload": {},
        "environment": environment,
        "description": None,
        "creator": {"login": "octocat", "id": 1},
        "created_at": created,
        "updated_at": created,
        "statuses_url": f"https://api.github.com/repos/{REPO}/deployments/{deployment_id}/statuses",
    }


def status(state: str, created: str) -> dict[str, Any]:
    """A deployment status in the shape of ``.../deployments/{id}/statuses``."""
    return {"id": abs(hash((state, created))) % 10**6, "state": state, "created_at": created}


class FakeGitHub:
    """GitHub's REST API as far as the source uses it, paginating with Link headers."""

    def __init__(
        self,
        server: HTTPServer,
        deployments: list[dict[str, Any]],
        statuses: dict[int, list[dict[str, Any]]],
        commits: dict[str, str],
        per_page: int = 2,
    ):
        self.server = server
        self.deployments = deployments
        self.statuses = statuses
        self.commits = commits
        self.per_page = per_page
        self.requests: list[Request] = []
        base = f"/repos/{REPO}"
        server.expect_request(f"{base}/deployments").respond_with_handler(self.list)
        server.expect_request(
            re.compile(rf"^{base}/deployments/\d+/statuses$")
        ).respond_with_handler(self.list_statuses)
        server.expect_request(re.compile(rf"^{base}/commits/\w+$")).respond_with_handler(
            self.commit
        )

    def list(self, request: Request) -> Response:
        self.requests.append(request)
        wanted = request.args.get("environment")
        items = [d for d in self.deployments if not wanted or d["environment"] == wanted]
        page = int(request.args.get("page", 1))
        chunk = items[(page - 1) * self.per_page : page * self.per_page]
        headers = {}
        if page * self.per_page < len(items):
            query = f"page={page + 1}&per_page={self.per_page}"
            if wanted:
                query += f"&environment={wanted}"
            headers["Link"] = (
                f'<{self.server.url_for(request.path)}?{query}>; rel="next", '
                f'<{self.server.url_for(request.path)}?page=99>; rel="last"'
            )
        return Response(json.dumps(chunk), headers=headers, content_type="application/json")

    def list_statuses(self, request: Request) -> Response:
        self.requests.append(request)
        deployment_id = int(request.path.split("/")[-2])
        return Response(
            json.dumps(self.statuses.get(deployment_id, [])), content_type="application/json"
        )

    def commit(self, request: Request) -> Response:
        self.requests.append(request)
        sha = request.path.rsplit("/", 1)[-1]
        if sha not in self.commits:
            body = {"message": "No commit found for SHA: " + sha, "status": "422"}
            return Response(json.dumps(body), status=422, content_type="application/json")
        body = {
            "sha": sha,
            "commit": {
                "author": {"name": "A", "date": "2000-01-01T00:00:00Z"},
                "committer": {"name": "GitHub", "date": self.commits[sha]},
                "message": "Ship it",
            },
        }
        return Response(json.dumps(body), content_type="application/json")


def options(server: HTTPServer, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "github_deployments",
        "url": server.url_for("/").rstrip("/"),
        "repository": REPO,
        "environment": "production",
        "service": "shop",
        "token_env": "GH_TEST_TOKEN",
        **extra,
    }


def load(tmp_path: Path, source: dict[str, Any], months: list[Month] = OCTOBER):
    document = {
        "sources": {"deployments": source},
        "services": [{"name": "shop", "team": "web"}],
    }
    config = config_from_dict(document, "test", tmp_path)
    request = LoadRequest(config, "deployments", Span.of(months))
    return gh.PLUGIN.load(config.sources.deployments, request)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GH_TEST_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def shop(httpserver: HTTPServer) -> FakeGitHub:
    """Five production deployments in October (newest first) and four older ones."""
    deployments = [
        deployment(6, "2026-10-20T12:00:00Z", "fff"),
        deployment(5, "2026-10-15T12:00:00Z", "eee"),
        deployment(4, "2026-10-10T12:00:00Z", "ddd"),
        deployment(3, "2026-10-05T12:00:00Z", "ccc"),
        deployment(2, "2026-10-02T12:00:00Z", "bbb"),
        deployment(1, "2026-08-01T12:00:00Z", "aaa"),
        deployment(7, "2026-07-15T12:00:00Z", "a77"),
        deployment(8, "2026-07-01T12:00:00Z", "a88"),
        deployment(9, "2026-06-01T12:00:00Z", "a99"),
    ]
    statuses = {
        6: [
            status("in_progress", "2026-10-20T12:01:00Z"),
            status("queued", "2026-10-20T12:00:10Z"),
        ],
        5: [status("error", "2026-10-15T12:09:00Z"), status("pending", "2026-10-15T12:00:05Z")],
        4: [
            status("inactive", "2026-10-15T12:09:00Z"),  # replaced by a later deployment
            status("success", "2026-10-10T12:05:00Z"),
            status("in_progress", "2026-10-10T12:01:00Z"),
        ],
        3: [status("failure", "2026-10-05T12:07:00Z"), status("pending", "2026-10-05T12:00:01Z")],
        2: [status("success", "2026-10-02T12:03:00Z")],
        1: [status("success", "2026-08-01T12:03:00Z")],
    }
    commits = {
        "bbb": "2026-10-02T09:00:00Z",
        "ccc": "2026-10-05T11:00:00Z",
        "ddd": "2026-10-09T12:00:00Z",
        # eee was force-pushed away: GitHub answers 422
    }
    return FakeGitHub(httpserver, deployments, statuses, commits)


def test_deployments_statuses_and_commit_times(
    httpserver: HTTPServer, tmp_path: Path, token: str, shop: FakeGitHub
) -> None:
    loaded = load(tmp_path, options(httpserver))
    frame = loaded.frame.set_index("id")

    assert sorted(frame.index) == ["2", "3", "4", "5"]
    assert frame["status"].to_dict() == {
        "2": "success",
        "3": "failed",
        "4": "success",  # inactive after success stays a success
        "5": "failed",  # error counts as failed
    }
    assert frame.loc["4", "deployed_at"] == pd.Timestamp("2026-10-10T12:05:00Z")
    assert frame.loc["2", "commit_at"] == pd.Timestamp("2026-10-02T09:00:00Z")
    assert pd.isna(frame.loc["5", "commit_at"])
    assert set(frame["service"]) == {"shop"}
    assert set(frame["environment"]) == {"production"}
    assert str(frame["deployed_at"].dtype) == "datetime64[ns, UTC]"
    assert any("1 deployments still running" in note for note in loaded.notes)
    assert any("commits of 1 deployments are gone" in note for note in loaded.notes)


def test_listing_follows_link_headers_and_stops_before_old_pages(
    httpserver: HTTPServer, tmp_path: Path, token: str, shop: FakeGitHub
) -> None:
    load(tmp_path, options(httpserver))

    listing = [r for r in shop.requests if r.path.endswith("/deployments")]
    # pages of two: [6, 5] [4, 3] [2, 1] [7, 8] [9]; the fourth is all older than October
    assert [r.args.get("page") for r in listing] == [None, "2", "3", "4"]
    assert listing[0].args["environment"] == "production"
    assert listing[0].args["per_page"] == "100"
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in shop.requests)
    assert listing[0].headers["X-GitHub-Api-Version"] == "2022-11-28"
    statuses = {r.path for r in shop.requests if r.path.endswith("/statuses")}
    assert f"/repos/{REPO}/deployments/1/statuses" not in statuses  # August: never looked at


def test_without_a_token_no_authorization_is_sent(
    httpserver: HTTPServer, tmp_path: Path, shop: FakeGitHub
) -> None:
    source = options(httpserver)
    del source["token_env"]

    frame = load(tmp_path, source).frame

    assert len(frame) == 4
    assert all("Authorization" not in r.headers for r in shop.requests)


def test_commit_times_can_be_skipped(
    httpserver: HTTPServer, tmp_path: Path, token: str, shop: FakeGitHub
) -> None:
    frame = load(tmp_path, options(httpserver, commit_times=False)).frame

    assert frame["commit_at"].isna().all()
    assert not [r for r in shop.requests if "/commits/" in r.path]


def test_a_next_link_to_another_server_is_refused(
    httpserver: HTTPServer, tmp_path: Path, token: str
) -> None:
    httpserver.expect_request(f"/repos/{REPO}/deployments").respond_with_response(
        Response(
            json.dumps([deployment(9, "2026-10-02T12:00:00Z", "abc")]),
            headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'},
            content_type="application/json",
        )
    )

    with pytest.raises(SourceError, match="refusing to send the token there"):
        load(tmp_path, options(httpserver))


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["success"], "success"),
        (["inactive", "success"], "success"),
        (["failure", "in_progress"], "failed"),
        (["error"], "failed"),
        (["in_progress", "success"], None),
        (["inactive"], None),
        ([], None),
    ],
)
def test_outcome_is_the_newest_status_that_is_not_inactive(
    states: list[str], expected: str | None
) -> None:
    statuses = [
        status(state, f"2026-10-01T12:{59 - n:02d}:00Z") for n, state in enumerate(states)
    ]  # listed newest first, as GitHub does

    assert gh.outcome(statuses)[0] == expected


def test_a_missing_repository_is_a_clear_error(
    httpserver: HTTPServer, tmp_path: Path, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request(f"/repos/{REPO}/deployments").respond_with_json(
        {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, status=404
    )
    (tmp_path / "reliability.yaml").write_text(
        yaml.safe_dump({"sources": {"deployments": options(httpserver)}})
    )

    code = main(["compute", "--config", str(tmp_path / "reliability.yaml"), "--month", "2026-10"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1
    assert "answered HTTP 404: Not Found; repository octo/shop not found" in err[0]


def test_bad_records_exit_2_naming_the_deployment(
    httpserver: HTTPServer, tmp_path: Path, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = deployment(77, "2026-10-02T12:00:00Z", "abc")
    httpserver.expect_request(f"/repos/{REPO}/deployments").respond_with_json([odd])
    httpserver.expect_request(f"/repos/{REPO}/deployments/77/statuses").respond_with_json(
        [status("success", "yesterday-ish")]
    )
    source = options(httpserver, commit_times=False)
    (tmp_path / "reliability.yaml").write_text(yaml.safe_dump({"sources": {"deployments": source}}))

    code = main(["compute", "--config", str(tmp_path / "reliability.yaml"), "--month", "2026-10"])

    err = capsys.readouterr().err
    assert code == 2
    assert "github_deployments: deployment 77: column deployed_at: not an ISO 8601" in err


def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="repository: expected owner/name"):
        load(tmp_path, {"kind": "github_deployments", "repository": "shop"})
    document = {"sources": {"incidents": {"kind": "github_deployments", "repository": "o/r"}}}
    with pytest.raises(
        InputError, match=r"incidents\.kind: github_deployments provides deployments"
    ):
        config_from_dict(document, "test", tmp_path)
