"""Atlassian Statuspage incidents (``kind: statuspage``): the public ``/api/v2/incidents.json``.

From option ``url`` (a status page such as ``https://www.githubstatus.com``, or the full
``.../api/v2/incidents.json`` address) or ``path`` (saved responses, relative to the config).

* severity: ``impact`` through option ``impacts`` (over the defaults critical→SEV1, major→SEV2,
  minor→SEV3, none→SEV4); ``maintenance`` (planned work) is left out unless
  ``include_maintenance: true``.
* service: the first of the incident's components named in option ``components``
  (``{"Git Operations": git}``), else its first component's own name, else option
  ``default_service`` (default: the page's name). One row per incident.
* times: ``created_at``, ``resolved_at`` (else the latest ``resolved`` update); ``started_at``
  is the incident's ``started_at`` field (the impact start an admin may backdate) or, when the
  response lacks it, the earliest update; ``acknowledged_at`` is the first ``identified``
  update, if any. ``shortlink`` becomes ``postmortem_url``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from reliability import frames
from reliability.config import Config
from reliability.errors import InputError, Problem, SourceError
from reliability.source_options import StatuspageOptions
from reliability.sources import http
from reliability.sources.base import Loaded, LoadRequest, Plugin
from reliability.sources.records import parse_instants, validate_records

WHAT = "Statuspage"
DEFAULT_IMPACTS = {"critical": "SEV1", "major": "SEV2", "minor": "SEV3", "none": "SEV4"}
MAINTENANCE = "maintenance"
API_PATH = "/api/v2/incidents.json"
API_INCIDENT_LIMIT = 50
"""``incidents.json`` lists only the most recent 50 incidents."""
RESOLVED_STATUSES = ("resolved", "postmortem")
COLUMNS = frames.INCIDENTS.column_names


@dataclass(frozen=True)
class Settings:
    """How impacts and components become the config's severities and services."""

    impacts: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_IMPACTS))
    components: dict[str, str] = field(default_factory=dict)
    include_maintenance: bool = False
    default_service: str | None = None
    known_services: frozenset[str] = frozenset()


def incidents_url(url: str) -> str:
    """The ``incidents.json`` address for a status page's URL (or that address itself)."""
    url = url.strip()
    if urlsplit(url).path.endswith(".json"):
        return url
    return url.rstrip("/") + API_PATH


Clock = dict[str, pd.Timestamp | None]
"""Every timestamp string of a response, parsed once."""


def _clock(incidents: Sequence[Mapping[str, Any]]) -> Clock:
    """Every timestamp string of the incidents and their updates, parsed in one pass."""
    texts = set()
    for incident in incidents:
        texts.add(incident.get("created_at"))
        for update in incident.get("incident_updates") or []:
            if isinstance(update, dict):
                texts.add(update.get("created_at"))
    strings = sorted(t for t in texts if isinstance(t, str))
    return dict(zip(strings, parse_instants(strings), strict=True))


def _updates(incident: Mapping[str, Any], clock: Clock) -> list[tuple[pd.Timestamp, str, Any]]:
    """``(time, status, raw created_at)`` of each readable update, oldest first."""
    found = []
    for update in incident.get("incident_updates") or []:
        if not isinstance(update, dict):
            continue
        when = clock.get(update.get("created_at"))
        if when is not None:
            found.append((when, str(update.get("status") or ""), update.get("created_at")))
    return sorted(found, key=lambda item: item[0])


@dataclass
class _Tally:
    """Counts of what was skipped or unmapped, for the notes."""

    maintenance: int = 0
    unknown_impacts: set[str] = field(default_factory=set)
    unknown_services: set[str] = field(default_factory=set)
    no_component: int = 0
    early_acknowledgement: int = 0


def _row(
    incident: Mapping[str, Any], settings: Settings, page_name: str, tally: _Tally, clock: Clock
) -> dict[str, Any] | None:
    """One canonical row from one Statuspage incident, or ``None`` for skipped maintenance."""
    impact = str(incident.get("impact") or "").strip().lower()
    if impact == MAINTENANCE and not settings.include_maintenance:
        tally.maintenance += 1
        return None
    severity = settings.impacts.get(impact)
    if severity is None and impact:
        severity = MAINTENANCE if impact == MAINTENANCE else impact
        if impact != MAINTENANCE:
            tally.unknown_impacts.add(impact)
    names = [
        str(c.get("name"))
        for c in incident.get("components") or []
        if isinstance(c, dict) and c.get("name")
    ]
    mapped = [settings.components[n] for n in names if n in settings.components]
    if mapped:
        service = mapped[0]
    elif names:
        service = names[0]
    else:
        tally.no_component += 1
        service = settings.default_service or page_name
    if settings.known_services and service not in settings.known_services:
        tally.unknown_services.add(service)
    updates = _updates(incident, clock)
    created = clock.get(incident.get("created_at"))
    resolved = incident.get("resolved_at")
    if not resolved and str(incident.get("status")) in RESOLVED_STATUSES:
        resolved_updates = [raw for _, status, raw in updates if status == "resolved"]
        resolved = resolved_updates[-1] if resolved_updates else None
    started = incident.get("started_at") or (updates[0][2] if updates else None)
    identified = [(when, raw) for when, status, raw in updates if status == "identified"]
    acknowledged = identified[0][1] if identified else None
    if identified and created is not None and identified[0][0] < created:
        tally.early_acknowledgement += 1
        acknowledged = None
    return {
        "id": incident.get("id"),
        "service": service,
        "severity": severity,
        "created_at": incident.get("created_at"),
        "resolved_at": resolved,
        "title": incident.get("name"),
        "acknowledged_at": acknowledged,
        "started_at": started,
        "postmortem_url": incident.get("shortlink"),
    }


def incidents_frame(
    payloads: Sequence[tuple[str, Mapping[str, Any]]],
    settings: Settings,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    *,
    from_api: bool = False,
) -> Loaded:
    """Canonical incidents created in ``[start, end)`` from ``(where, response)`` payloads.

    An incident found in several payloads keeps its last version.
    """
    tally = _Tally()
    parts = []
    oldest: pd.Timestamp | None = None
    listed = 0
    for where, payload in payloads:
        incidents = [i for i in payload.get("incidents") or [] if isinstance(i, dict)]
        listed = max(listed, len(incidents))
        page = payload.get("page")
        page_name = str(page.get("name")) if isinstance(page, dict) and page.get("name") else WHAT
        rows, ids = [], []
        clock = _clock(incidents)
        for incident in incidents:
            created = clock.get(incident.get("created_at"))
            if created is not None:
                oldest = created if oldest is None else min(oldest, created)
                if (start is not None and created < start) or (end is not None and created >= end):
                    continue
            row = _row(incident, settings, page_name, tally, clock)
            if row is not None:
                rows.append(row)
                ids.append(incident.get("id"))
        raw = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
        parts.append(validate_records(raw, frames.INCIDENTS, where, ids, "incident"))
    frame = frames.concat(parts) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        frame = frame.drop_duplicates("id", keep="last").reset_index(drop=True)
    notes = _notes(tally, settings)
    if from_api and listed >= API_INCIDENT_LIMIT and oldest is not None and start is not None:
        if oldest > start:
            notes.append(
                f"Statuspage: the API lists only the {API_INCIDENT_LIMIT} most recent incidents "
                f"(the oldest from {oldest:%Y-%m-%d}); months before that are incomplete. Save "
                "responses over time and read them with path"
            )
    return Loaded(frame, notes)


def _notes(tally: _Tally, settings: Settings) -> list[str]:
    """One sentence per data-quality finding, for the report."""
    notes = []
    if tally.maintenance:
        notes.append(
            f"Statuspage: {tally.maintenance} maintenance (planned work) entries were left out; "
            "include_maintenance: true keeps them"
        )
    if tally.unknown_impacts:
        notes.append(
            "Statuspage: impacts not in the impacts option were used as severities as they "
            f"are: {', '.join(sorted(tally.unknown_impacts))}"
        )
    if tally.no_component:
        target = settings.default_service or "the page's name"
        notes.append(
            f"Statuspage: {tally.no_component} incidents name no component; they count under "
            f"{target} (option default_service)"
        )
    if tally.unknown_services:
        notes.append(
            "Statuspage: incidents were kept under services that are not configured (map the "
            f"components with the components option): {', '.join(sorted(tally.unknown_services))}"
        )
    if tally.early_acknowledgement:
        notes.append(
            f"Statuspage: {tally.early_acknowledgement} incidents were 'identified' before they "
            "were created; their acknowledgement time was left out"
        )
    return notes


def settings(options: StatuspageOptions, config: Config) -> Settings:
    """How the options map impacts and components (over the impact defaults)."""
    impacts = dict(DEFAULT_IMPACTS)
    impacts.update({k.lower(): v for k, v in options.impacts.items()})
    return Settings(
        impacts=impacts,
        components=dict(options.components),
        include_maintenance=options.include_maintenance,
        default_service=options.default_service,
        known_services=frozenset(s.name for s in config.services),
    )


def _read_file(path: Path) -> dict[str, Any]:
    """A saved ``incidents.json`` response."""
    if not path.is_file():
        raise InputError(Problem(str(path), "file not found"))
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Problem(str(path), f"cannot read the file: {exc}")) from None
    except ValueError as exc:
        raise InputError(Problem(str(path), f"not JSON: {exc}")) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("incidents"), list):
        raise InputError(
            Problem(str(path), "not a Statuspage incidents.json response (no 'incidents' list)")
        )
    return payload


def _fetch(options: StatuspageOptions, url: str) -> dict[str, Any]:
    """The ``incidents.json`` response at ``url``."""
    headers = {"Accept": "application/json"}
    with http.Client(WHAT, http.Policy.of(options), headers=headers) as client:
        payload, _ = client.get_json(url)
    if not isinstance(payload, dict) or not isinstance(payload.get("incidents"), list):
        raise SourceError(
            f"{WHAT}: {http.safe_url(url)} did not answer with an incidents.json response (no "
            "'incidents' list)"
        )
    return payload


def _load(options: StatuspageOptions, request: LoadRequest) -> Loaded:
    """Loader for ``kind: statuspage``: incidents created in the span."""
    mapping = settings(options, request.config)
    start, end = request.span.start, request.span.end
    if options.url is not None:
        payloads = [(WHAT.lower(), _fetch(options, incidents_url(options.base_url)))]
        return incidents_frame(payloads, mapping, start, end, from_api=True)
    paths = [options.path] if isinstance(options.path, str) else list(options.path or [])
    payloads = []
    problems = []
    for name in paths:
        resolved = request.config.resolve(name)
        try:
            payloads.append((str(resolved), _read_file(resolved)))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return incidents_frame(payloads, mapping, start, end)


PLUGIN = Plugin(StatuspageOptions, _load)
