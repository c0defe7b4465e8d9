"""PagerDuty incidents (``kind: pagerduty``) through PagerDuty's REST API v2.

* ``GET /incidents`` with ``since``/``until`` (UTC, ``time_zone=UTC``) and every status, in
  windows of at most ``MAX_WINDOW`` (PagerDuty allows at most 6 months per request). Classic
  pagination (``offset``/``limit``, ``more``) stops at 10,000 records: a window whose results
  would need ``offset + limit`` beyond that is split in half and fetched again.
* Time to acknowledge comes from the first ``acknowledge_log_entry`` of the incident's log
  (an incident's ``acknowledgements`` list is emptied once it is resolved), or with
  ``mtta_from: analytics`` from the Analytics API's ``seconds_to_first_ack``.
* ``resolved_at`` is the incident's ``resolved_at`` field, else its ``resolve_log_entry``.
* The ``alerts`` role: ``GET /incidents/{id}/alerts`` of every incident of the span (paged like
  the log entries, four incidents at a time); an alert without a resolve time of its own ends
  when its incident was resolved.

Requests go through the shared HTTP stack (``reliability.sources.http``: one retry policy,
``Retry-After`` honoured, the source's timeout and deadline), with the headers PagerDuty's own
client sends. The token comes only from the environment variable named by ``token_env``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pandas as pd

from reliability import frames
from reliability.config import Config
from reliability.errors import SourceError
from reliability.source_options import PagerDutyOptions
from reliability.sources import http
from reliability.sources.base import Loaded, LoadRequest, Plugin
from reliability.sources.records import iso, parse_instants, validate_records

WHAT = "PagerDuty"
ACCEPT = "application/vnd.pagerduty+json;version=2"
PAGE_SIZE = 100
"""The largest ``limit`` ``GET /incidents`` accepts."""
PAGINATION_CAP = 10_000
"""Classic pagination refuses ``offset + limit`` above this."""
MAX_WINDOW = pd.Timedelta(days=180)
"""Longest ``since``..``until`` per request: PagerDuty's maximum is "6 months", which is at
least 181 days however it is counted."""
ANALYTICS_PAGE_SIZE = 1000
STATUSES = ("triggered", "acknowledged", "resolved")
USER_TYPES = ("user", "user_reference")
"""Reference types that name a person (an incident's responder)."""
LOG_WORKERS = 4
"""Incident logs fetched in parallel (well inside the REST API's rate limit)."""
_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
"""A time of day followed by ``Z`` or a UTC offset."""


# --- the API -------------------------------------------------------------------------------


@dataclass
class Api:
    """PagerDuty's REST API at ``base``, through one source's HTTP client."""

    client: http.Client
    base: str
    token_env: str | None = None

    @property
    def hints(self) -> dict[int, str]:
        """Advice added to the errors of some HTTP statuses."""
        variable = self.token_env or "the token_env variable"
        return {
            401: f"check the API token in the environment variable {variable}",
            403: "the token may lack access to this endpoint (the Analytics API needs a plan "
            "that includes it)",
            404: "is url the REST API's address (https://api.pagerduty.com or "
            "https://api.eu.pagerduty.com)?",
        }

    def call(
        self, method: str, path: str, *, params: dict | None = None, body: dict | None = None
    ) -> Any:
        """The decoded JSON of one request."""
        decoded, _ = self.client.request_json(
            method, self.base + path, params=params, json=body, hints=self.hints
        )
        return decoded


def api_for(options: PagerDutyOptions, token: str) -> Api:
    """The API the options name, authenticated with ``token`` (redirects are not followed)."""
    scheme = "Bearer " if options.auth == "bearer" else "Token token="
    headers = {"Authorization": scheme + token, "Accept": ACCEPT}
    client = http.Client(
        WHAT, http.Policy.of(options), headers=headers, follow=False, pool_size=LOG_WORKERS + 2
    )
    return Api(client, options.base_url, options.token_env)


def _expect_list(body: Any, key: str, where: str) -> list[dict]:
    """The list under ``key`` in a response, or ``SourceError``."""
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise SourceError(f"{WHAT}: {where} answered without a {key!r} list")
    return [item for item in items if isinstance(item, dict)]


# --- incidents, in windows under the pagination cap ----------------------------------------


def windows(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """``[start, end)`` cut into consecutive windows no longer than ``MAX_WINDOW``."""
    result = []
    cursor = start
    while cursor < end:
        upper = min(cursor + MAX_WINDOW, end)
        result.append((cursor, upper))
        cursor = upper
    return result


def _list_window(
    api: Api, since: pd.Timestamp, until: pd.Timestamp, params: Mapping[str, Any]
) -> list[dict] | None:
    """Every incident of one window, or ``None`` when they would pass the pagination cap."""
    found: list[dict] = []
    offset = 0
    while True:
        limit = min(PAGE_SIZE, PAGINATION_CAP - offset)
        if limit <= 0:
            return None
        query = {
            **params,
            "since": iso(since),
            "until": iso(until),
            "limit": limit,
            "offset": offset,
            "total": "true" if offset == 0 else "false",
        }
        body = api.call("GET", "/incidents", params=query)
        page = _expect_list(body, "incidents", "GET /incidents")
        total = body.get("total")
        if offset == 0 and isinstance(total, int) and total > PAGINATION_CAP:
            return None
        found.extend(page)
        if not body.get("more"):
            return found
        if not page:
            raise SourceError(f"{WHAT}: GET /incidents said more=true but sent an empty page")
        offset += len(page)


def list_incidents(
    api: Api, start: pd.Timestamp, end: pd.Timestamp, params: Mapping[str, Any]
) -> list[dict]:
    """Incidents created in ``[start, end)``, one per id, never paging past the 10,000 cap."""
    pending = windows(start, end)[::-1]
    by_id: dict[str, dict] = {}
    unnamed: list[dict] = []
    while pending:
        since, until = pending.pop()
        found = _list_window(api, since, until, params)
        if found is None:
            if until - since <= pd.Timedelta(seconds=1):
                raise SourceError(
                    f"{WHAT}: more than {PAGINATION_CAP:,} incidents were created in the second "
                    f"from {iso(since)}; they cannot be listed"
                )
            middle = (since + (until - since) / 2).floor("s")
            pending.extend([(middle, until), (since, middle)])
            continue
        for incident in found:
            if incident.get("id") in (None, ""):
                unnamed.append(incident)
            else:
                by_id.setdefault(str(incident["id"]), incident)
    incidents = list(by_id.values()) + unnamed
    created = parse_instants([i.get("created_at") for i in incidents])
    # An unreadable created_at is kept, for validation to report with the incident's id.
    return [i for i, t in zip(incidents, created, strict=True) if t is None or start <= t < end]


# --- acknowledgement and resolve times -----------------------------------------------------


def first_of(
    log_entries: Sequence[Mapping[str, Any]], entry_type: str, last: bool = False
) -> str | None:
    """``created_at`` of the earliest (or latest) log entry of ``entry_type``, as given."""
    chosen_entries = [e for e in log_entries if e.get("type") == entry_type]
    parsed = parse_instants([e.get("created_at") for e in chosen_entries])
    times = [(t, e.get("created_at")) for t, e in zip(parsed, chosen_entries, strict=True) if t]
    if not times:
        return None
    chosen = max(times) if last else min(times)
    return str(chosen[1])


def _person(reference: Any) -> str | None:
    """The name of a user reference (``{"type": "user_reference", "summary": ...}``); ``None``
    for a service, an integration or anything else that is not a person."""
    if not isinstance(reference, dict) or reference.get("type") not in USER_TYPES:
        return None
    name = reference.get("summary") or reference.get("name")
    return str(name) if name else None


def first_acknowledger(log_entries: Sequence[Mapping[str, Any]]) -> str | None:
    """The person behind the earliest ``acknowledge_log_entry`` made by a person."""
    entries = [e for e in log_entries if e.get("type") == "acknowledge_log_entry"]
    parsed = parse_instants([e.get("created_at") for e in entries])
    people = [
        (t, _person(e.get("agent"))) for t, e in zip(parsed, entries, strict=True) if t is not None
    ]
    people = [(t, name) for t, name in people if name]
    return min(people)[1] if people else None


def incident_log(api: Api, incident_id: str) -> list[dict]:
    """Every log entry of one incident (``GET /incidents/{id}/log_entries``)."""
    entries: list[dict] = []
    offset = 0
    path = f"/incidents/{quote(incident_id, safe='')}/log_entries"
    while offset < PAGINATION_CAP:
        limit = min(PAGE_SIZE, PAGINATION_CAP - offset)
        query = {"time_zone": "UTC", "limit": limit, "offset": offset}
        body = api.call("GET", path, params=query)
        page = _expect_list(body, "log_entries", f"GET {path}")
        entries.extend(page)
        if not body.get("more") or not page:
            break
        offset += len(page)
    return entries


@dataclass
class Times:
    """Acknowledge and resolve instants found outside the incident record, by incident id."""

    acknowledged: dict[str, str | None] = field(default_factory=dict)
    resolved: dict[str, str | None] = field(default_factory=dict)
    acknowledgers: dict[str, str | None] = field(default_factory=dict)
    not_in_analytics: int = 0


def times_from_logs(api: Api, incidents: Sequence[Mapping[str, Any]], only_resolve: bool) -> Times:
    """First acknowledgement (and resolve, when the incident lacks it) from each incident's log.

    With ``only_resolve`` only incidents that are resolved but have no ``resolved_at`` are
    looked up (the acknowledgement comes from elsewhere).
    """
    wanted = [
        str(i["id"])
        for i in incidents
        if i.get("id") not in (None, "") and (not only_resolve or _needs_resolve_time(i))
    ]
    result = Times()
    if not wanted:
        return result
    with ThreadPoolExecutor(max_workers=LOG_WORKERS) as pool:
        futures = {
            incident_id: pool.submit(incident_log, api, incident_id) for incident_id in wanted
        }
        try:
            logs = {incident_id: future.result() for incident_id, future in futures.items()}
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    for incident_id, entries in logs.items():
        if not only_resolve:
            result.acknowledged[incident_id] = first_of(entries, "acknowledge_log_entry")
            result.acknowledgers[incident_id] = first_acknowledger(entries)
        result.resolved[incident_id] = first_of(entries, "resolve_log_entry", last=True)
    return result


def _needs_resolve_time(incident: Mapping[str, Any]) -> bool:
    """Whether an incident is resolved but does not say when."""
    return incident.get("status") == "resolved" and not incident.get("resolved_at")


def analytics_records(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Rows of a ``POST /analytics/raw/incidents`` page: id, times and seconds to first ack.

    Its times carry no offset; they are in the payload's ``time_zone`` (default UTC). The
    timestamps are kept as given: ``seconds_to_resolve`` is not used (PagerDuty's own examples
    disagree with their timestamps). Unknown keys are ignored.
    """
    zone = str(payload.get("time_zone") or "UTC")
    rows = [
        {
            "id": record.get("id"),
            "created_at": record.get("created_at"),
            "resolved_at": record.get("resolved_at"),
            "seconds_to_first_ack": record.get("seconds_to_first_ack"),
            "service_id": record.get("service_id"),
            "urgency": record.get("urgency"),
            "priority_name": record.get("priority_name"),
        }
        for record in payload.get("data") or []
        if isinstance(record, dict)
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "id",
            "created_at",
            "resolved_at",
            "seconds_to_first_ack",
            "service_id",
            "urgency",
            "priority_name",
        ],
    )
    for column in ("created_at", "resolved_at"):
        frame[column] = _local_instants(frame[column], zone)
    frame["seconds_to_first_ack"] = pd.to_numeric(frame["seconds_to_first_ack"], errors="coerce")
    return frame


def _local_instants(values: pd.Series, zone: str) -> pd.Series:
    """Times without an offset read in ``zone``; times with one kept; as UTC."""
    text = values.astype("string")
    offset = text.str.contains(_OFFSET, regex=True).fillna(False).to_numpy(bool)
    aware = pd.to_datetime(text.where(offset), utc=True, errors="coerce", format="ISO8601")
    naive = pd.to_datetime(text.where(~offset), errors="coerce", format="ISO8601")
    local = naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    result = aware.where(offset, local)
    return result.astype("datetime64[ns, UTC]")


def times_from_analytics(
    api: Api, incidents: Sequence[Mapping[str, Any]], start: pd.Timestamp, end: pd.Timestamp
) -> Times:
    """Acknowledgement instants: ``created_at`` of the incident plus ``seconds_to_first_ack``."""
    seconds: dict[str, float | None] = {}
    for since, until in windows(start, end):
        last = None
        while True:
            body: dict[str, Any] = {
                "filters": {"created_at_start": iso(since), "created_at_end": iso(until)},
                "limit": ANALYTICS_PAGE_SIZE,
                "order": "asc",
                "order_by": "created_at",
                "time_zone": "Etc/UTC",
            }
            if last is not None:
                body["starting_after"] = last
            page = api.call("POST", "/analytics/raw/incidents", body=body)
            _expect_list(page, "data", "POST /analytics/raw/incidents")
            records = analytics_records(page)
            for record_id, value in zip(
                records["id"], records["seconds_to_first_ack"], strict=True
            ):
                seconds[str(record_id)] = None if pd.isna(value) else float(value)
            last = page.get("last")
            if not page.get("more") or not last or records.empty:
                break
    result = Times()
    created_times = parse_instants([i.get("created_at") for i in incidents])
    for incident, created in zip(incidents, created_times, strict=True):
        incident_id = str(incident.get("id"))
        if incident_id not in seconds:
            result.not_in_analytics += 1
            continue
        value = seconds[incident_id]
        if value is not None and created is not None:
            result.acknowledged[incident_id] = iso_precise(created + pd.Timedelta(seconds=value))
    return result


def iso_precise(instant: pd.Timestamp) -> str:
    """An instant as ISO 8601 in UTC, keeping fractions of a second."""
    return instant.tz_convert("UTC").isoformat()


# --- turning incidents into the canonical frame --------------------------------------------


@dataclass(frozen=True)
class Labels:
    """How PagerDuty's services, priorities and urgencies become the config's labels."""

    services: dict[str, str] = field(default_factory=dict)
    keep_unmapped: bool = True
    priorities: dict[str, str] = field(default_factory=dict)
    urgencies: dict[str, str] = field(default_factory=dict)
    known_services: frozenset[str] = frozenset()


def _priority_name(incident: Mapping[str, Any]) -> str | None:
    """The name of an incident's priority (``P1``), if it has one."""
    priority = incident.get("priority")
    if isinstance(priority, dict):
        name = priority.get("summary") or priority.get("name")
        return str(name) if name else None
    return None


def responder(incident: Mapping[str, Any], acknowledger: str | None) -> str | None:
    """Who handled an incident: its first acknowledger (from the log), else the first person
    in its ``acknowledgements`` or ``assignments``, else the person who last changed its status
    (a resolved incident keeps neither list)."""
    candidates = [acknowledger]
    for key, role in (("acknowledgements", "acknowledger"), ("assignments", "assignee")):
        entries = incident.get(key)
        if isinstance(entries, list):
            candidates += [_person(e.get(role)) for e in entries if isinstance(e, dict)]
    candidates.append(_person(incident.get("last_status_change_by")))
    return next((name for name in candidates if name), None)


def _service(incident: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(id, name)`` of an incident's PagerDuty service."""
    service = incident.get("service")
    if not isinstance(service, dict):
        return None, None
    return service.get("id"), service.get("summary") or service.get("name")


def map_service(
    record: Mapping[str, Any], mapping: Labels, unmapped: dict[str, str]
) -> tuple[bool, str | None]:
    """``(kept, service)`` of an incident or alert: its service id mapped through
    ``services``, else the PagerDuty service's name when a configured service has it, else
    that name as is (recorded in ``unmapped``) or, with ``unmapped_services: skip``, not kept."""
    service_id, service_name = _service(record)
    service = mapping.services.get(str(service_id)) if service_id else None
    if service is None and service_name in mapping.known_services:
        service = service_name  # a PagerDuty service named like a configured one
    if service is None:
        if not mapping.keep_unmapped:
            return False, None
        if service_name and (mapping.services or mapping.known_services):
            unmapped[str(service_id)] = str(service_name)
        service = service_name
    return True, service


def incidents_frame(
    incidents: Sequence[Mapping[str, Any]], times: Times, mapping: Labels
) -> Loaded:
    """The canonical incidents frame (validated) and notes on what was skipped or unmapped."""
    rows = []
    ids = []
    unmapped_services: dict[str, str] = {}
    unmapped_labels: set[str] = set()
    skipped = 0
    no_resolve_time = 0
    for incident in incidents:
        incident_id = incident.get("id")
        key = str(incident_id) if incident_id not in (None, "") else ""
        kept, service = map_service(incident, mapping, unmapped_services)
        if not kept:
            skipped += 1
            continue
        priority = _priority_name(incident)
        urgency = incident.get("urgency")
        severity, mapped = _severity(priority, urgency, mapping)
        if not mapped and (mapping.priorities or mapping.urgencies) and severity:
            unmapped_labels.add(severity)
        resolved = incident.get("resolved_at") or times.resolved.get(key)
        if incident.get("status") == "resolved" and not resolved:
            no_resolve_time += 1
        rows.append(
            {
                "id": incident_id,
                "service": service,
                "severity": severity,
                "created_at": incident.get("created_at"),
                "resolved_at": resolved,
                "title": incident.get("title") or incident.get("summary"),
                "acknowledged_at": times.acknowledged.get(key),
                "urgency": urgency,
                "postmortem_url": None,
                "responder": responder(incident, times.acknowledgers.get(key)),
            }
        )
        ids.append(incident_id)
    raw = pd.DataFrame(rows, columns=frames.INCIDENTS.column_names, dtype=object)
    frame = validate_records(raw, frames.INCIDENTS, "pagerduty", ids, "incident")
    notes = _notes(unmapped_services, mapping, skipped, unmapped_labels, no_resolve_time, times)
    return Loaded(frame, notes)


def _severity(
    priority: str | None, urgency: str | None, mapping: Labels
) -> tuple[str | None, bool]:
    """Severity from the priority's name, else the urgency; ``(label, found in a mapping)``."""
    if priority and priority in mapping.priorities:
        return mapping.priorities[priority], True
    if urgency and urgency in mapping.urgencies:
        return mapping.urgencies[urgency], True
    return (priority or urgency), False


def _notes(
    unmapped: dict[str, str],
    mapping: Labels,
    skipped: int,
    labels: set[str],
    no_resolve_time: int,
    times: Times,
) -> list[str]:
    """One sentence per data-quality finding, for the report."""
    notes = []
    if unmapped:
        listed = ", ".join(f"{sid} ({name})" for sid, name in sorted(unmapped.items()))
        notes.append(
            f"PagerDuty: incidents of services not mapped to a configured service were kept "
            f"under their PagerDuty name: {listed}; map them with the services option"
        )
    if skipped:
        notes.append(
            f"PagerDuty: {skipped} incidents of services neither mapped nor configured were "
            "skipped (unmapped_services: skip)"
        )
    if labels:
        notes.append(
            "PagerDuty: priority or urgency labels not in the priorities/urgencies options "
            f"were used as severities as they are: {', '.join(sorted(labels))}"
        )
    if no_resolve_time:
        notes.append(
            f"PagerDuty: {no_resolve_time} resolved incidents had no resolve time and count as "
            "unresolved"
        )
    if times.not_in_analytics:
        notes.append(
            f"PagerDuty: {times.not_in_analytics} incidents are not in the Analytics API yet "
            "(it lags behind by up to a day); they have no time to acknowledge"
        )
    return notes


# --- the alerts of the incidents ----------------------------------------------------------


def incident_alerts(api: Api, incident_id: str) -> list[dict]:
    """Every alert of one incident (``GET /incidents/{id}/alerts``)."""
    alerts: list[dict] = []
    offset = 0
    path = f"/incidents/{quote(incident_id, safe='')}/alerts"
    while offset < PAGINATION_CAP:
        limit = min(PAGE_SIZE, PAGINATION_CAP - offset)
        body = api.call("GET", path, params={"limit": limit, "offset": offset})
        page = _expect_list(body, "alerts", f"GET {path}")
        alerts.extend(page)
        if not body.get("more") or not page:
            break
        offset += len(page)
    return alerts


def alerts_of(api: Api, incidents: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict]]:
    """``(incident id, alert)`` for every alert of ``incidents``, each alert once, fetched
    ``LOG_WORKERS`` incidents at a time."""
    wanted = list(dict.fromkeys(str(i["id"]) for i in incidents if i.get("id") not in (None, "")))
    if not wanted:
        return []
    with ThreadPoolExecutor(max_workers=LOG_WORKERS) as pool:
        futures = {key: pool.submit(incident_alerts, api, key) for key in wanted}
        try:
            found = {key: future.result() for key, future in futures.items()}
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    seen: set[str] = set()
    result = []
    for incident_id, alerts in found.items():
        for alert in alerts:
            alert_id = str(alert.get("id") or "")
            if alert_id and alert_id in seen:
                continue
            seen.add(alert_id)
            result.append((incident_id, alert))
    return result


def _without_resolve_time(
    incidents: Sequence[Mapping[str, Any]], alerts: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Mapping[str, Any]]:
    """The resolved incidents without ``resolved_at`` that hold a resolved alert without one:
    the only ones whose log is read."""
    needed = {
        key
        for key, alert in alerts
        if alert.get("status") == "resolved" and not alert.get("resolved_at")
    }
    return [i for i in incidents if str(i.get("id")) in needed and _needs_resolve_time(i)]


def _details(alert: Mapping[str, Any]) -> dict[str, Any]:
    body = alert.get("body")
    details = body.get("details") if isinstance(body, dict) else None
    return details if isinstance(details, dict) else {}


def alert_name(alert: Mapping[str, Any]) -> str | None:
    """``body.details.alertname`` (Alertmanager's integration sends it), else the summary."""
    name = _details(alert).get("alertname")
    if isinstance(name, str | int | float) and str(name).strip():
        return str(name)
    summary = alert.get("summary")
    return str(summary) if summary else None


def runbook(alert: Mapping[str, Any]) -> str | None:
    """``body.details.runbook_url``, else the first ``body.contexts`` link whose text says
    runbook."""
    url = _details(alert).get("runbook_url")
    if isinstance(url, str) and url.strip():
        return url.strip()
    body = alert.get("body")
    contexts = body.get("contexts") if isinstance(body, dict) else None
    for context in contexts if isinstance(contexts, list) else []:
        if not isinstance(context, dict) or context.get("type") != "link":
            continue
        href, text = context.get("href"), context.get("text")
        if isinstance(href, str) and href and "runbook" in str(text or "").lower():
            return href
    return None


def alerts_frame(
    alerts: Sequence[tuple[str, Mapping[str, Any]]],
    incidents: Sequence[Mapping[str, Any]],
    times: Times,
    mapping: Labels,
) -> Loaded:
    """The canonical alerts frame (validated) and notes on what was skipped or approximated.

    A resolved alert ends at its ``resolved_at`` when the record has one, else when its
    incident was resolved; a suppressed alert paged no one and is left out, with a count.
    """
    resolved_incidents = {
        str(i.get("id")): i.get("resolved_at") or times.resolved.get(str(i.get("id")))
        for i in incidents
    }
    rows, ids = [], []
    unmapped: dict[str, str] = {}
    skipped = suppressed = from_incident = no_end = 0
    for incident_id, alert in alerts:
        kept, service = map_service(alert, mapping, unmapped)
        if not kept:
            skipped += 1
            continue
        reference = alert.get("incident")
        joined = reference.get("id") if isinstance(reference, dict) else None
        joined = str(joined) if joined else incident_id
        ended = alert.get("resolved_at")
        if not ended and alert.get("status") == "resolved":
            ended = resolved_incidents.get(joined) or resolved_incidents.get(incident_id)
            if ended:
                from_incident += 1
            else:
                no_end += 1
        if alert.get("suppressed") is True:
            suppressed += 1  # it paged no one: not an alert page, nor night or noise
            continue
        rows.append(
            {
                "alert": alert_name(alert),
                "service": service,
                "started_at": alert.get("created_at"),
                "ended_at": ended or None,
                "severity": alert.get("severity") or None,
                "runbook_url": runbook(alert),
                "incident_id": joined,
            }
        )
        ids.append(alert.get("id"))
    raw = pd.DataFrame(rows, columns=frames.ALERTS.column_names, dtype=object)
    frame = validate_records(raw, frames.ALERTS, "pagerduty", ids, "alert")
    notes = []
    if unmapped:
        listed = ", ".join(f"{sid} ({name})" for sid, name in sorted(unmapped.items()))
        notes.append(
            f"PagerDuty: alerts of services not mapped to a configured service were kept under "
            f"their PagerDuty name: {listed}; map them with the services option"
        )
    if skipped:
        notes.append(
            f"PagerDuty: {skipped} alerts of services neither mapped nor configured were skipped "
            "(unmapped_services: skip)"
        )
    if from_incident:
        notes.append(
            f"PagerDuty: {from_incident} resolved alerts carry no resolve time; they end when "
            "their incident was resolved"
        )
    if no_end:
        notes.append(
            f"PagerDuty: {no_end} resolved alerts had no resolve time, nor their incident, and "
            "count as still firing"
        )
    if suppressed:
        notes.append(f"PagerDuty: {suppressed} suppressed alerts (they paged no one) are left out")
    return Loaded(frame, notes)


# --- the loader ----------------------------------------------------------------------------


def labels(options: PagerDutyOptions, config: Config) -> Labels:
    """How the options map PagerDuty's services, priorities and urgencies."""
    return Labels(
        services=dict(options.services),
        keep_unmapped=options.unmapped_services == "keep",
        priorities=dict(options.priorities),
        urgencies=dict(options.urgencies),
        known_services=frozenset(s.name for s in config.services),
    )


def _load(options: PagerDutyOptions, request: LoadRequest) -> Loaded:
    """Loader for ``kind: pagerduty``: the incidents created in the span, or their alerts."""
    token = http.read_token(options.token_env, request.role)
    assert token is not None
    start, end = request.span.start, request.span.end
    params: dict[str, Any] = {"time_zone": "UTC", "statuses[]": list(STATUSES)}
    api = api_for(options, token)
    if request.role == "alerts":
        try:
            incidents = list_incidents(api, start, end, params)
            alerts = alerts_of(api, incidents)
            resolve = times_from_logs(api, _without_resolve_time(incidents, alerts), True)
        finally:
            api.client.close()
        return alerts_frame(alerts, incidents, resolve, labels(options, request.config))
    try:
        incidents = list_incidents(api, start, end, params)
        if options.mtta_from == "analytics":
            times = times_from_analytics(api, incidents, start, end)
            resolve = times_from_logs(api, incidents, only_resolve=True)
            times.resolved.update(resolve.resolved)
        else:
            times = times_from_logs(api, incidents, only_resolve=False)
    finally:
        api.client.close()
    return incidents_frame(incidents, times, labels(options, request.config))


PLUGIN = Plugin(PagerDutyOptions, _load, answers_for_span=True)
