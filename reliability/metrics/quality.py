"""Data quality: what is missing from the inputs and what that did to the numbers.

Pure functions over the SLI grid and the canonical frames; the report's data-quality section
and ``reliability validate`` show their findings.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    if grid.present is None:
        return pd.DataFrame(columns=columns)
    horizon = grid.minutes
    if until is not None:
        horizon = int(np.clip((until - grid.start) // pd.Timedelta(minutes=1), 0, grid.minutes))
    rows = []
    for index, slo in enumerate(grid.slos.itertuples(index=False)):
        minutes = np.flatnonzero(grid.present[index, :horizon])
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


def data_quality_findings(
    coverage: pd.DataFrame | None,
    incidents: pd.DataFrame | None,
    deployments: pd.DataFrame | None,
    *,
    severities: Sequence[str] | None = None,
    production_environments: Sequence[str] = ("production", "prod"),
    known_deployments: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per kind of problem found: what, how many, and its effect on the numbers.

    ``known_deployments`` are the ids an incident's ``caused_by`` may name (default: the
    ids in ``deployments``).
    """
    findings: list[tuple[str, int, str]] = []
    findings += _link_findings(
        incidents, deployments, severities, production_environments, known_deployments
    )
    if coverage is not None and not coverage.empty:
        gappy = coverage[coverage["missing_minutes"] > 0]
        for row in gappy.itertuples(index=False):
            findings.append(
                (
                    f"SLI data gaps: {row.service} / {row.slo}",
                    int(row.gaps),
                    f"{row.missing_minutes} minutes without data (longest gap "
                    f"{row.longest_gap_minutes} min) neither count as good nor bad; the SLI "
                    f"covers {row.coverage:.1%} of the month",
                )
            )
    if incidents is not None and not incidents.empty:
        no_ack = int(incidents["acknowledged_at"].isna().sum())
        if no_ack:
            findings.append(
                (
                    "Incidents without acknowledgement",
                    no_ack,
                    "left out of MTTA (time to acknowledge)",
                )
            )
        open_incidents = int(incidents["resolved_at"].isna().sum())
        if open_incidents:
            findings.append(
                (
                    "Incidents without resolution",
                    open_incidents,
                    "counted as unresolved and left out of MTTR; their budget burn runs to the "
                    "end of the month",
                )
            )
    if deployments is not None and not deployments.empty:
        no_commit = int(deployments["commit_at"].isna().sum())
        if no_commit:
            findings.append(
                (
                    "Deployments without commit time",
                    no_commit,
                    "left out of lead time for changes (still counted in frequency and change "
                    "failure rate)",
                )
            )
    return pd.DataFrame(findings, columns=["finding", "count", "effect"])


def _link_findings(
    incidents: pd.DataFrame | None,
    deployments: pd.DataFrame | None,
    severities: Sequence[str] | None,
    production_environments: Sequence[str],
    known_deployments: pd.Series | None,
) -> list[tuple[str, int, str]]:
    """Records that reference what is not there, so a figure quietly leaves them out."""
    findings: list[tuple[str, int, str]] = []
    if incidents is not None and not incidents.empty:
        known = known_deployments
        if known is None and deployments is not None:
            known = deployments["id"]
        named = incidents["caused_by"].dropna()
        if known is not None:
            unknown = int((~named.isin(known)).sum())
            if unknown:
                findings.append(
                    (
                        "Incidents naming an unknown deployment (caused_by)",
                        unknown,
                        "no deployment is counted as failed for them",
                    )
                )
        if severities:
            configured = {label.strip().casefold() for label in severities}
            labels = incidents["severity"].astype("string").str.strip().str.casefold()
            other = int((~labels.isin(configured)).sum())
            if other:
                findings.append(
                    (
                        "Incidents with a severity not in the configured list",
                        other,
                        "listed after the configured levels; a page only with urgency high",
                    )
                )
        late = int((incidents["acknowledged_at"] > incidents["resolved_at"]).sum())
        if late:
            findings.append(
                (
                    "Incidents acknowledged after they were resolved",
                    late,
                    "their time to acknowledge is longer than their time to resolve",
                )
            )
    if deployments is not None and not deployments.empty:
        environment = deployments["environment"].astype("string").str.strip().str.casefold()
        production = {label.strip().casefold() for label in production_environments}
        elsewhere = int((environment.notna() & ~environment.isin(production)).sum())
        if elsewhere:
            findings.append(
                (
                    "Deployments outside production",
                    elsewhere,
                    "left out of every delivery figure (production_environments in the config)",
                )
            )
    return findings
