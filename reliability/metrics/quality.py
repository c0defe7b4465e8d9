"""Data quality: what is missing from the inputs and what that did to the numbers.

Pure functions over the SLI grid and the canonical frames; the report's data-quality section
and ``reliability validate`` show their findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from reliability.metrics.slo import SLIGrid


def sli_coverage(grid: SLIGrid, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per SLO: the data's step, points expected and present, and the gaps between them.

    The step is the most common distance between minutes that have rows (1 for per-minute
    data, 5 for a Prometheus step of 5m). A gap is a run of expected points with no row: its
    minutes count neither as good nor bad, so the SLI covers only the rest of the month.
    ``until`` (the clock, for a month in progress) ends the expected range early.
    """
    columns = [
        "service",
        "slo",
        "step_minutes",
        "expected_points",
        "points",
        "missing_minutes",
        "gaps",
        "longest_gap_minutes",
        "coverage",
    ]
    if grid.present_steps is None:
        return pd.DataFrame(columns=columns)
    horizon = grid.minutes
    if until is not None:
        horizon = int(np.clip((until - grid.start) // pd.Timedelta(minutes=1), 0, grid.minutes))
    rows = []
    for index, slo in enumerate(grid.slos.itertuples(index=False)):
        present = grid.month_rows(grid.present_steps[index : index + 1])[0]
        minutes = np.flatnonzero(present[:horizon])
        if minutes.size == 0:
            rows.append((slo.service, slo.slo, None, None, 0, horizon, 1, horizon, 0.0))
            continue
        steps = np.diff(minutes)
        step = int(np.bincount(steps).argmax()) if steps.size else 1
        # Expected points on the data's own phase, from the month's start to the horizon.
        phase = int(minutes[0] % step)
        expected = (horizon - phase + step - 1) // step
        edges = np.concatenate([[phase - step], minutes, [phase + expected * step]])
        missing_runs = (np.diff(edges) // step) - 1
        missing_runs = missing_runs[missing_runs > 0]
        missing = int(missing_runs.sum()) * step
        rows.append(
            (
                slo.service,
                slo.slo,
                step,
                int(expected),
                int(minutes.size),
                missing,
                int(missing_runs.size),
                int(missing_runs.max()) * step if missing_runs.size else 0,
                minutes.size / expected if expected else None,
            )
        )
    return pd.DataFrame(rows, columns=columns)


FINDING_COLUMNS = ["finding", "service", "team", "count", "effect"]
"""A finding names the service (and its team) it concerns; ``service`` is empty for a
finding about the whole fleet (a source's note, rows dated after now)."""


ROW_NOUNS = {
    "metrics": ("SLI row", "SLI rows"),
    "incidents": ("incident", "incidents"),
    "deployments": ("deployment", "deployments"),
    "worklog": ("work-log entry", "work-log entries"),
}
"""How one row, and several, of each input are called in a finding."""


def _rows_of(role: str, count: int) -> str:
    """``count`` rows of input ``role`` in words: "1 incident", "40 deployments"."""
    one, many = ROW_NOUNS.get(role, (f"{role} row", f"{role} rows"))
    return f"{count:,} {one if count == 1 else many}"


def data_quality_findings(
    coverage: pd.DataFrame | None,
    incidents: pd.DataFrame | None,
    deployments: pd.DataFrame | None,
    *,
    slos: pd.DataFrame | None = None,
    service_teams: Mapping[str, str] | None = None,
    severities: Sequence[str] | None = None,
    production_environments: Sequence[str] = ("production", "prod"),
    known_deployments: pd.Series | None = None,
    future_rows: Mapping[str, int] | None = None,
    now: pd.Timestamp | None = None,
    notes: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per kind of problem and service: what, how many, its effect on the numbers.

    ``slos`` is the month's SLO table (its ``alert_history_from`` says where an SLO's data
    began when the alert replay had less history than it needs); ``known_deployments`` are
    the ids an incident's ``caused_by`` may name (default: the ids in ``deployments``);
    ``future_rows`` counts, per input, the rows left out because they are dated after
    ``now``; ``notes`` are the sources' own findings, one sentence each.
    """
    found: list[dict] = []
    found += _link_findings(
        incidents, deployments, severities, production_environments, known_deployments
    )
    if coverage is not None and not coverage.empty:
        for row in coverage.loc[coverage["missing_minutes"] > 0].itertuples(index=False):
            found.append(
                _finding(
                    f"SLI data gaps ({row.slo})",
                    int(row.gaps),
                    f"{row.missing_minutes} minutes without data (longest gap "
                    f"{row.longest_gap_minutes} min) neither count as good nor bad; the SLI "
                    f"covers {row.coverage:.1%} of the month",
                    row.service,
                )
            )
    if slos is not None and "alert_history_from" in slos:
        late = slos.loc[slos["alert_history_from"].notna()]
        for row in late.itertuples(index=False):
            found.append(
                _finding(
                    f"Alert replay without the history it needs ({row.slo})",
                    1,
                    f"no data before {row.alert_history_from:%Y-%m-%d %H:%M} UTC: burn-rate "
                    "rules whose windows reach before it are not replayed there, so no alert "
                    "is raised from part of a window",
                    row.service,
                )
            )
    if incidents is not None and not incidents.empty:
        found += _per_service(
            incidents,
            incidents["acknowledged_at"].isna(),
            "Incidents without acknowledgement",
            "left out of MTTA (time to acknowledge)",
        )
        found += _per_service(
            incidents,
            incidents["resolved_at"].isna(),
            "Incidents without resolution",
            "counted as unresolved and left out of MTTR; their budget burn runs to the end "
            "of the month",
        )
    if deployments is not None and not deployments.empty:
        production = _in_production(deployments, production_environments)
        found += _per_service(
            deployments,
            production & deployments["commit_at"].isna().to_numpy(),
            "Deployments without commit time",
            "left out of lead time for changes (still counted in frequency and change failure "
            "rate)",
        )
    counted = {role: n for role, n in (future_rows or {}).items() if n}
    if counted:
        listed = ", ".join(_rows_of(role, n) for role, n in counted.items())
        when = f" ({now:%Y-%m-%d %H:%M} UTC)" if now is not None else ""
        found.append(
            _finding(
                "Rows dated after now left out",
                sum(counted.values()),
                f"{listed} dated after now{when} are not counted: the month is reported up to now",
            )
        )
    found += [_finding(f"Source: {note}", None, "") for note in notes]
    table = pd.DataFrame(found, columns=FINDING_COLUMNS)
    teams = pd.Series(dict(service_teams or {}), dtype="string")
    return table.assign(
        service=table["service"].astype("string"),
        team=table["service"].astype("string").map(teams).astype("string"),
        count=table["count"].astype("Int64"),
    )


def _finding(finding: str, count: int | None, effect: str, service: str | None = None) -> dict:
    return {"finding": finding, "service": service, "count": count, "effect": effect}


def _per_service(frame: pd.DataFrame, mask, finding: str, effect: str) -> list[dict]:
    """One finding per service that has rows where ``mask`` holds, with their count."""
    services = frame["service"].astype("string")[np.asarray(mask, dtype=bool)]
    counts = services.value_counts(dropna=False).sort_index()
    return [_finding(finding, int(n), effect, name) for name, n in counts.items()]


def _in_production(deployments: pd.DataFrame, production_environments: Sequence[str]) -> np.ndarray:
    """Deployments whose environment is empty or one of the production ones (any case)."""
    environment = deployments["environment"].astype("string").str.strip().str.casefold()
    production = {label.strip().casefold() for label in production_environments}
    return (environment.isna() | environment.isin(production)).to_numpy(dtype=bool)


def _link_findings(
    incidents: pd.DataFrame | None,
    deployments: pd.DataFrame | None,
    severities: Sequence[str] | None,
    production_environments: Sequence[str],
    known_deployments: pd.Series | None,
) -> list[dict]:
    """Records that reference what is not there, so a figure quietly leaves them out."""
    found: list[dict] = []
    if incidents is not None and not incidents.empty:
        known = known_deployments
        if known is None and deployments is not None:
            known = deployments["id"]
        if known is not None:
            named = incidents["caused_by"].notna() & ~incidents["caused_by"].isin(known)
            found += _per_service(
                incidents,
                named,
                "Incidents naming an unknown deployment (caused_by)",
                "no deployment is counted as failed for them",
            )
        if severities:
            configured = {label.strip().casefold() for label in severities}
            labels = incidents["severity"].astype("string").str.strip().str.casefold()
            found += _per_service(
                incidents,
                ~labels.isin(configured),
                "Incidents with a severity not in the configured list",
                "listed after the configured levels; a page only with urgency high",
            )
        found += _per_service(
            incidents,
            (incidents["acknowledged_at"] > incidents["resolved_at"]).fillna(False),
            "Incidents acknowledged after they were resolved",
            "their time to acknowledge is longer than their time to resolve",
        )
    if deployments is not None and not deployments.empty:
        found += _per_service(
            deployments,
            ~_in_production(deployments, production_environments),
            "Deployments outside production",
            "left out of every delivery figure (production_environments in the config)",
        )
    return found
