"""GitHub deployments (``kind: github_deployments``) of one repository, as canonical deployments.

* ``GET /repos/{owner}/{repo}/deployments`` (optionally ``?environment=``), following the
  ``Link: <...>; rel="next"`` header (same origin only, so the token never leaves the API);
  listing stops once a whole page is older than the span.
* Each deployment's outcome is its newest status that is not ``inactive`` (GitHub marks a
  deployment inactive when a later one replaces it, so a success stays a success):
  ``success`` → success, ``failure``/``error`` → failed, at that status's time
  (``deployed_at``). Deployments still pending/queued/in progress, or with no status, are left
  out with a note. GitHub has no rollback state: ``rolled_back`` is never produced.
* ``commit_at``: ``commit.committer.date`` of the deployed ``sha``
  (``GET /repos/{owner}/{repo}/commits/{sha}``), unless ``commit_times: false``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pandas as pd

from reliability import frames
from reliability.errors import SourceError
from reliability.source_options import GitHubDeploymentsOptions
from reliability.sources import http
from reliability.sources.base import Loaded, LoadRequest, Plugin
from reliability.sources.http import safe_url
from reliability.sources.records import parse_instants, validate_records

WHAT = "GitHub"
PAGE_SIZE = 100
LISTING_MARGIN = pd.Timedelta(days=1)
"""Deployments created this long before the span are still examined: one created just before
the month may have finished inside it."""
WORKERS = 4
COLUMNS = ["id", "service", "deployed_at", "status", "commit_at", "environment"]


@dataclass
class Api:
    """GitHub's REST API for one repository, through one source's HTTP client."""

    base: str
    repository: str
    client: http.Client
    token_env: str | None = None

    @property
    def hints(self) -> dict[int, str]:
        """Advice added to the errors of some HTTP statuses."""
        token = (
            f"check the token in the environment variable {self.token_env}"
            if self.token_env
            else "without a token GitHub allows 60 requests an hour; set token_env"
        )
        return {
            401: f"check the token in the environment variable {self.token_env}",
            403: f"no access to {self.repository}, or the API rate limit is exhausted; {token}",
            404: f"repository {self.repository} not found (or private and the token cannot see it)",
        }

    def url(self, path: str) -> str:
        """The API URL of a path under the repository."""
        return f"{self.base}/repos/{self.repository}{path}"

    def pages(self, url: str, params: Mapping[str, Any]) -> Any:
        """Yield each page (a JSON list) of a listing, following ``rel="next"`` links."""
        next_url: str | None = url
        query: Mapping[str, Any] | None = params
        while next_url:
            body, response = self.client.get_json(next_url, params=query, hints=self.hints)
            if not isinstance(body, list):
                raise SourceError(f"{WHAT}: GET {safe_url(next_url)} did not answer with a list")
            yield [item for item in body if isinstance(item, dict)]
            next_url = response.links.get("next", {}).get("url")
            query = None
            if next_url and not _same_origin(next_url, self.base):
                raise SourceError(
                    f"{WHAT}: the next page is on another server ({safe_url(next_url)}); "
                    "refusing to send the token there"
                )

    def commit_time(self, sha: str) -> str | None:
        """``commit.committer.date`` of a commit, or ``None`` when GitHub no longer has it."""
        body, _ = self.client.get_json(
            self.url(f"/commits/{quote(sha, safe='')}"), hints=self.hints, absent=(404, 422)
        )
        if not isinstance(body, dict):
            return None
        committer = (body.get("commit") or {}).get("committer") or {}
        date = committer.get("date") if isinstance(committer, dict) else None
        return str(date) if date else None


def _same_origin(url: str, base: str) -> bool:
    """Whether two URLs share scheme, host and port."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def outcome(statuses: Sequence[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """``(status, time)`` from a deployment's statuses, or ``(None, reason)`` if unfinished.

    The newest status that is not ``inactive`` decides: success, or failed for ``failure`` and
    ``error``; a newer pending/queued/in-progress status means the deployment is still running.
    """
    dated = []
    times = parse_instants([s.get("created_at") for s in statuses])
    for position, (status, when) in enumerate(zip(statuses, times, strict=True)):
        dated.append((float("-inf") if when is None else when.value, -position, status))
    # Newest first; GitHub lists newest first, so equal times keep the listing's order.
    dated.sort(key=lambda item: (item[0], item[1]), reverse=True)
    for _, _, status in dated:
        state = str(status.get("state") or "").lower()
        if state == "inactive":
            continue
        if state == "success":
            return "success", status.get("created_at")
        if state in ("failure", "error"):
            return "failed", status.get("created_at")
        return None, "running"
    return None, "no status" if not statuses else "inactive"


def list_deployments(
    api: Api, environment: str | None, start: pd.Timestamp, end: pd.Timestamp
) -> list[dict]:
    """Deployments created in ``[start - LISTING_MARGIN, end)``."""
    params: dict[str, Any] = {"per_page": PAGE_SIZE}
    if environment:
        params["environment"] = environment
    earliest = start - LISTING_MARGIN
    found = []
    for page in api.pages(api.url("/deployments"), params):
        times = parse_instants([d.get("created_at") for d in page])
        for deployment, created in zip(page, times, strict=True):
            if created is None or earliest <= created < end:
                found.append(deployment)
        if page and all(t is not None and t < earliest for t in times):
            break
    return found


def _statuses(api: Api, deployment_id: Any) -> list[dict]:
    """Every status of one deployment, newest first as GitHub lists them."""
    url = api.url(f"/deployments/{quote(str(deployment_id), safe='')}/statuses")
    statuses: list[dict] = []
    for page in api.pages(url, {"per_page": PAGE_SIZE}):
        statuses.extend(page)
    return statuses


def _parallel(function: Any, items: Sequence[Any]) -> list[Any]:
    """``[function(item) ...]`` on a few threads; the first error cancels the rest."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def deployments_frame(
    deployments: Sequence[Mapping[str, Any]],
    statuses: Sequence[Sequence[Mapping[str, Any]]],
    commit_times: Mapping[str, str | None],
    service: str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> Loaded:
    """Canonical deployments finished in ``[start, end)`` and notes on those left out."""
    rows, ids = [], []
    unfinished = 0
    missing_commits = 0
    outcomes = [outcome(history) for history in statuses]
    deployed_times = parse_instants([when for _, when in outcomes])
    for deployment, (status, when), deployed in zip(
        deployments, outcomes, deployed_times, strict=True
    ):
        if status is None:
            unfinished += 1
            continue
        if deployed is not None and (
            (start is not None and deployed < start) or (end is not None and deployed >= end)
        ):
            continue
        sha = deployment.get("sha")
        commit_at = commit_times.get(str(sha)) if sha else None
        if sha and str(sha) in commit_times and commit_at is None:
            missing_commits += 1
        rows.append(
            {
                "id": deployment.get("id"),
                "service": service,
                "deployed_at": when,
                "status": status,
                "commit_at": commit_at,
                "environment": deployment.get("environment"),
            }
        )
        ids.append(deployment.get("id"))
    raw = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    raw["id"] = raw["id"].map(lambda v: None if v is None else str(v))
    frame = validate_records(raw, frames.DEPLOYMENTS, "github_deployments", ids, "deployment")
    notes = []
    if unfinished:
        notes.append(
            f"GitHub: {unfinished} deployments still running or without a success/failure "
            "status were left out"
        )
    if missing_commits:
        notes.append(
            f"GitHub: the commits of {missing_commits} deployments are gone from the "
            "repository; they have no lead time"
        )
    return Loaded(frame, notes)


def _load(options: GitHubDeploymentsOptions, request: LoadRequest) -> Loaded:
    """Loader for ``kind: github_deployments``: deployments finished in the span."""
    token = http.read_token(options.token_env, request.role)
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    start, end = request.span.start, request.span.end
    service = options.service_name
    with http.Client(WHAT, http.Policy.of(options), headers=headers) as client:
        api = Api(options.base_url, options.repository, client, options.token_env)
        deployments = list_deployments(api, options.environment, start, end)
        statuses = _parallel(lambda d: _statuses(api, d.get("id")), deployments)
        commit_times: dict[str, str | None] = {}
        if options.commit_times:
            finished = [
                str(d["sha"])
                for d, history in zip(deployments, statuses, strict=True)
                if d.get("sha") and outcome(history)[0] is not None
            ]
            shas = list(dict.fromkeys(finished))
            commit_times = dict(zip(shas, _parallel(api.commit_time, shas), strict=True))
    loaded = deployments_frame(deployments, statuses, commit_times, service, start, end)
    known = {s.name for s in request.config.services}
    if known and service not in known:
        loaded.notes.append(
            f"GitHub: deployments of {options.repository} count under service {service!r}, "
            "which is not configured; set the service option"
        )
    return loaded


PLUGIN = Plugin(GitHubDeploymentsOptions, _load, answers_for_span=True)
