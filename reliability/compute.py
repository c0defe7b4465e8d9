"""One month's numbers from canonical frames: the pure core behind ``reliability compute``.

No I/O here: the CLI loads the frames through ``sources`` and prints what this returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from reliability.config import Config
from reliability.errors import InputError, Problem
from reliability.frames import Frames
from reliability.metrics import delivery, incidents, oncall, quality, slo, toil
from reliability.period import Month, PartialMonth


@dataclass
class MonthlyMetrics:
    """Every figure of one reporting month; ``None`` where the input was not configured."""

    period: Month
    slos: pd.DataFrame | None = None
    burndown: pd.DataFrame | None = None
    alerts: pd.DataFrame | None = None
    attribution: pd.DataFrame | None = None
    incidents: pd.DataFrame | None = None
    response: incidents.ResponseSummary | None = None
    delivery: pd.DataFrame | None = None
    fleet_delivery: dict[str, Any] | None = None
    toil: pd.DataFrame | None = None
    oncall: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None
    data_quality: pd.DataFrame | None = None
    in_progress: bool = False
    missing_inputs: list[str] = field(default_factory=list)


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


def require_data(metrics: MonthlyMetrics, deployments: pd.DataFrame | None, where: str) -> None:
    """Raise InputError when the month has no SLI events, incidents, deployments or work log.

    Such a month is almost always a wrong ``--month`` or a source pointing at the wrong
    place; reporting it as zero incidents and no SLO data would read as a perfect month.
    """
    has_sli = metrics.slos is not None and bool((metrics.slos["total"] > 0).any())
    has_rows = any(
        frame is not None and not frame.empty for frame in (metrics.incidents, deployments)
    )
    if metrics.toil is not None and not metrics.toil.empty:
        has_rows = has_rows or bool((metrics.toil["total_hours"] > 0).any())
    if not has_sli and not has_rows:
        raise InputError(
            Problem(
                where,
                f"no data at all for {metrics.period} (no SLI events, incidents, deployments "
                "or work log): check --month and the sources",
            )
        )


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


def plain(value: Any) -> Any:
    """A JSON-safe Python value: NaN, NaT and NA become ``None``; instants ISO 8601 strings."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    """A frame as a list of JSON-safe dicts (``None`` for a missing frame)."""
    if frame is None:
        return None
    return [plain(row) for row in frame.to_dict(orient="records")]


def _stats(prefix: str, stats: incidents.DurationStats) -> dict[str, Any]:
    return {
        f"{prefix}_n": stats.n,
        f"{prefix}_median_minutes": stats.median,
        f"{prefix}_p90_minutes": stats.p90,
        f"{prefix}_mean_minutes": stats.mean,
        f"{prefix}_median_ci_low": stats.ci_low,
        f"{prefix}_median_ci_high": stats.ci_high,
    }


def to_json(result: MonthlyMetrics) -> dict[str, Any]:
    """The stable ``compute --format json`` document (DESIGN §3): fractions, ``null`` if unknown."""
    response = result.response
    incident_section = None
    if response is not None:
        incident_section = {
            "count": response.count,
            "unresolved": response.unresolved,
            **_stats("mtta", response.mtta),
            **_stats("mttr", response.mttr),
            "small_sample": incidents.too_small_for_trend(response.count),
            "by_service": records(response.by_service),
            "by_severity": records(response.by_severity),
        }
    document = {
        "month": result.period.label,
        "timezone": result.period.timezone,
        "start": result.period.start.isoformat(),
        "end": result.period.end.isoformat(),
        "in_progress": result.in_progress,
        "missing_inputs": result.missing_inputs,
        "slos": records(result.slos),
        "alerts": records(result.alerts),
        "budget_attribution": records(result.attribution),
        "incidents": incident_section,
        "delivery": records(result.delivery),
        "delivery_fleet": plain(result.fleet_delivery),
        "toil": records(result.toil),
        "oncall": records(result.oncall),
        "sli_coverage": records(result.coverage),
        "data_quality": records(result.data_quality),
    }
    return plain(document)


def to_tables(result: MonthlyMetrics) -> dict[str, pd.DataFrame]:
    """The sections as frames, for ``--format table`` and ``--format csv``."""
    tables: dict[str, pd.DataFrame] = {}
    if result.slos is not None:
        tables["slos"] = result.slos
    if result.response is not None:
        response = result.response
        summary = {"count": response.count, "unresolved": response.unresolved}
        summary |= _stats("mtta", response.mtta) | _stats("mttr", response.mttr)
        tables["incidents"] = pd.DataFrame([summary])
        tables["incidents_by_severity"] = response.by_severity
        tables["incidents_by_service"] = response.by_service
    if result.attribution is not None:
        tables["budget_attribution"] = result.attribution
    for name in ("delivery", "toil", "oncall", "data_quality"):
        frame = getattr(result, name)
        if frame is not None:
            tables[name] = frame
    return tables


def trend_frame(history: list[MonthlyMetrics]) -> pd.DataFrame:
    """One row per month with the headline figures the trends and the summary compare."""
    rows = []
    for metrics in history:
        slos = metrics.slos
        with_data = None if slos is None else slos.loc[slos["status"] != "no_data"]
        if with_data is not None and with_data.empty:
            with_data = None  # no SLI data that month: unknown, not "0 met"
        met = None
        median_remaining = None
        if with_data is not None and not with_data.empty:
            met = float(with_data["status"].isin(["met", "at_risk"]).mean())
            median_remaining = float(with_data["budget_remaining"].median())
        response = metrics.response
        toil_frame = metrics.toil
        toil_ratio = None
        if toil_frame is not None and toil_frame["total_hours"].sum() > 0:
            toil_ratio = float(toil_frame["toil_hours"].sum() / toil_frame["total_hours"].sum())
        fleet = metrics.fleet_delivery or {}
        rows.append(
            {
                "month": metrics.period.label,
                "slos_met": None
                if with_data is None
                else int(with_data["status"].isin(["met", "at_risk"]).sum()),
                "slos_with_data": None if with_data is None else len(with_data),
                "slos_met_share": met,
                "median_budget_remaining": median_remaining,
                "incidents": None if response is None else response.count,
                "mttr_n": None if response is None else response.mttr.n,
                "mttr_median_minutes": None if response is None else response.mttr.median,
                "mtta_median_minutes": None if response is None else response.mtta.median,
                "deployments": fleet.get("deployments"),
                "change_failure_rate": fleet.get("change_failure_rate"),
                "toil_ratio": toil_ratio,
            }
        )
    return pd.DataFrame(rows).astype({"month": "string"})
