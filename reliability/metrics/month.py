"""One month's figures from the canonical frames: the pure core every command shares.

No I/O here: the pipeline loads and validates the frames and hands them over.
"""

from __future__ import annotations

import pandas as pd

from reliability.config import Config
from reliability.frames import Frames
from reliability.metrics import delivery, incidents, oncall, quality, slo, toil
from reliability.period import Month, PartialMonth
from reliability.results import MonthlyMetrics


def in_period(frame: pd.DataFrame | None, column: str, period: Month) -> pd.DataFrame | None:
    """Rows of ``frame`` whose instant ``column`` falls in ``period``."""
    if frame is None:
        return None
    return frame.loc[period.contains(frame[column])].reset_index(drop=True)


def worklog_in_period(worklog: pd.DataFrame | None, period: Month) -> pd.DataFrame | None:
    """Work-log rows whose calendar ``date`` is a day of ``period`` in its own time zone."""
    if worklog is None:
        return None
    first = period.start.tz_convert(period.timezone).tz_localize(None).normalize()
    after = period.end.tz_convert(period.timezone).tz_localize(None).normalize()
    mask = (worklog["date"] >= first) & (worklog["date"] < after)
    return worklog.loc[mask].reset_index(drop=True)


def compute_month(
    config: Config,
    frames: Frames,
    period: Month,
    now: pd.Timestamp | None = None,
    detail: bool = True,
) -> MonthlyMetrics:
    """All metrics of ``period``; ``now`` (default: the clock) marks a month still in progress.

    ``detail=False`` computes only what a trend needs: no alert replay, budget attribution,
    coverage or bootstrap intervals (the report's earlier months).
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    in_progress = period.start <= now < period.end
    result = MonthlyMetrics(period=period, in_progress=in_progress)
    # Deployments per week and pages per shift of a month in progress: per the elapsed part.
    elapsed = (
        PartialMonth(period.year, period.month, period.timezone, until=now)
        if in_progress
        else period
    )
    month_incidents = in_period(frames.incidents, "created_at", period)
    month_deployments = in_period(frames.deployments, "deployed_at", period)
    month_worklog = worklog_in_period(frames.worklog, period)

    if frames.sli is not None and config.services:
        grid = slo.build_grid(frames.sli, config.slo_table(), period)
        report = slo.slo_report(
            grid, period, now=now if in_progress else None, replay_alerts=detail
        )
        result.slos, result.burndown, result.alerts = report.table, report.burndown, report.alerts
        if month_incidents is not None and detail:
            pairs, per_slo = slo.budget_attribution(grid, report, month_incidents, period.end)
            result.attribution = pairs
            result.slos = result.slos.merge(per_slo, on=["service", "slo"], how="left")
        if detail:
            result.coverage = quality.sli_coverage(grid, until=now if in_progress else None)
    else:
        result.missing_inputs.append("metrics")

    if month_incidents is not None:
        result.incidents = incidents.incident_durations(month_incidents)
        result.response = incidents.response_summary(
            month_incidents, config.severities, confidence=detail
        )
        service_teams = {s.name: s.team for s in config.services}
        result.oncall = oncall.oncall_load(
            month_incidents,
            service_teams,
            elapsed,
            config.timezone,
            config.business_hours,
            config.severities,
        )
    else:
        result.missing_inputs.append("incidents")

    if month_deployments is not None:
        production = tuple(config.production_environments)
        # All loaded incidents: a deployment late in the month may cause one early in the next.
        result.delivery = delivery.delivery_summary(
            month_deployments, frames.incidents, elapsed, production
        )
        result.fleet_delivery = delivery.fleet_delivery(
            month_deployments, frames.incidents, elapsed, production
        )
    else:
        result.missing_inputs.append("deployments")

    if month_worklog is not None:
        result.toil = toil.toil_summary(month_worklog, config.teams or None)
    else:
        result.missing_inputs.append("worklog")
    findings = quality.data_quality_findings(
        result.coverage,
        month_incidents,
        month_deployments,
        severities=config.severities,
        production_environments=config.production_environments,
        known_deployments=None if frames.deployments is None else frames.deployments["id"],
    )
    notes = pd.DataFrame(
        {"finding": "Source: " + pd.Series(frames.notes, dtype="string"), "count": 1, "effect": ""}
    )
    result.data_quality = (
        pd.concat([findings, notes], ignore_index=True) if frames.notes else findings
    )
    return result
