"""One month's figures from the canonical frames: the pure core every command shares.

No I/O here: the pipeline loads and validates the frames and hands them over.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from reliability.config import Config
from reliability.frames import Frames, reporting_currency
from reliability.metrics import (
    alert_quality,
    alerts,
    cost,
    daily,
    delivery,
    headline,
    incidents,
    oncall,
    postmortems,
    quality,
    recovery,
    responders,
    slo,
    tiers,
    toil,
)
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


INPUT_TIMES: dict[str, tuple[str, str]] = {
    "metrics": ("sli", "timestamp"),
    "incidents": ("incidents", "created_at"),
    "deployments": ("deployments", "deployed_at"),
    "worklog": ("worklog", "date"),
    "alerts": ("alerts", "started_at"),
}
"""Each input role: its attribute of ``Frames`` and the column that dates its rows."""
LATER_INSTANTS = {
    "alerts": ("ended_at",),
    "incidents": ("acknowledged_at", "resolved_at", "postmortem_at"),
    "deployments": ("commit_at",),
}
"""Instants inside a row that have not happened yet when they lie after ``now``."""


def row_instants(frames: Frames, role: str, timezone: str) -> pd.Series | None:
    """The instant that dates each row of an input (a work-log date: its local midnight)."""
    attribute, column = INPUT_TIMES[role]
    frame = getattr(frames, attribute)
    if frame is None:
        return None
    if role == "worklog":
        return frame[column].dt.tz_localize(timezone, nonexistent="shift_forward", ambiguous=True)
    return frame[column]


def cut_at(frames: Frames, now: pd.Timestamp, timezone: str) -> tuple[Frames, dict[str, int]]:
    """``frames`` without rows dated after ``now``, and how many each input lost.

    An acknowledgement, resolution or commit time after ``now`` has not happened yet: it
    becomes unknown (an incident resolved "tomorrow" is still open).
    """
    result = replace(frames)
    dropped: dict[str, int] = {}
    for role, (attribute, _) in INPUT_TIMES.items():
        instants = row_instants(frames, role, timezone)
        if instants is None:
            continue
        later = (instants > now).to_numpy(dtype=bool)
        frame = getattr(frames, attribute)
        changed = {c: frame[c] > now for c in LATER_INSTANTS.get(role, ()) if c in frame}
        if not later.any() and not any(mask.any() for mask in changed.values()):
            continue
        dropped[role] = int(later.sum())
        kept = frame.assign(**{c: frame[c].mask(mask) for c, mask in changed.items()})
        setattr(result, attribute, kept.loc[~later].reset_index(drop=True))
    return result, dropped


def lies_outside(extent: tuple[pd.Timestamp, pd.Timestamp], period: Month) -> bool:
    """Whether an input's rows (their extent) lie wholly before or after ``period``: a file
    whose last row is the month's last minute, or whose last incident came before its end,
    still reaches into it."""
    return extent[1] < period.start or extent[0] >= period.end


def covers(extent: tuple[pd.Timestamp, pd.Timestamp] | None, period: Month) -> bool:
    """Whether an input vouches for ``period``: its extent (the instants it answered for, or
    its first and last row) reaches from before the month to its end."""
    return extent is not None and extent[0] <= period.start and extent[1] >= period.end


def compute_month(
    config: Config,
    frames: Frames,
    period: Month,
    now: pd.Timestamp | None = None,
    detail: bool = True,
) -> MonthlyMetrics:
    """All metrics of ``period``; ``now`` (default: the clock) marks a month still in progress.

    Rows dated after ``now`` are left out (and named in a data-quality finding). An input
    with no rows in the month gives ``None`` sections, with the reason in ``unavailable``,
    unless its extent covers the month (a server that answered for it, or a file with rows
    before and after it): then its zeros are real. ``detail=False`` computes only what a
    trend needs: no alert replay, budget attribution, coverage or bootstrap intervals.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    in_progress = period.start <= now < period.end
    future: dict[str, int] = {}
    if now < period.end:
        frames, future = cut_at(frames, now, period.timezone)
        # Rows a file held beyond the span (after the month, so after now) were never kept.
        future = {
            role: future.get(role, 0) + frames.later.get(role, 0)
            for role in INPUT_TIMES
            if future.get(role) or frames.later.get(role)
        }
    result = MonthlyMetrics(
        period=period, in_progress=in_progress, until=now if in_progress else None
    )
    # Deployments per week and pages per shift of a month in progress: per the elapsed part.
    elapsed = (
        PartialMonth(period.year, period.month, period.timezone, until=now)
        if in_progress
        else period
    )
    month_incidents = in_period(frames.incidents, "created_at", period)
    month_deployments = in_period(frames.deployments, "deployed_at", period)
    month_worklog = worklog_in_period(frames.worklog, period)
    month_rows = {
        "incidents": month_incidents,
        "deployments": month_deployments,
        "worklog": month_worklog,
        "alerts": in_period(frames.alerts, "started_at", period),
    }
    for role, rows in month_rows.items():
        if rows is None:
            result.missing_inputs.append(role)
        elif rows.empty and not covers(frames.extents.get(role), period):
            result.unavailable[role] = no_rows_reason(frames, role, period)
            month_rows[role] = None
    month_incidents = month_rows["incidents"]
    month_deployments = month_rows["deployments"]
    month_worklog = month_rows["worklog"]

    report = None
    if frames.sli is not None and config.services:
        lookback = config.alert_lookback() if detail else None
        grid = slo.build_grid(frames.sli, config.slo_table(), period, lookback)
        corrections = config.correction_table()
        report = slo.slo_report(
            grid,
            period,
            now=now if in_progress else None,
            replay_alerts=detail,
            policies=config.alert_policies_by_name,
            corrections=corrections,
        )
        # Budget figures (attribution, the SLI per day) leave corrected minutes out, as the
        # SLI does; the burn rates stay those the alert rules see.
        budget_grid = slo.apply_corrections(grid, corrections)
        result.slos, result.burndown, result.alerts = report.table, report.burndown, report.alerts
        result.corrections = report.corrections
        if "description" in grid.slos and "description" not in result.slos:
            # What each SLO measures, beside its name (``SLO.measures``).
            at = result.slos.columns.get_loc("slo") + 1
            result.slos.insert(at, "description", grid.slos["description"].to_numpy())
        if month_incidents is not None and detail:
            pairs, per_slo = slo.budget_attribution(
                budget_grid, report, month_incidents, period.end
            )
            result.attribution = pairs
            result.slos = result.slos.merge(per_slo, on=["service", "slo"], how="left")
        if detail:
            result.coverage = quality.sli_coverage(grid, until=now if in_progress else None)
            result.daily_sli = daily.daily_sli(budget_grid, period)
            result.burn_rates = daily.hourly_burn_rate(grid)
    else:
        result.missing_inputs.insert(0, "metrics")

    service_teams = {s.name: s.team for s in config.services}
    if month_incidents is not None:
        result.incidents = incidents.incident_durations(month_incidents)
        result.response = incidents.response_summary(
            month_incidents, config.severities, confidence=detail
        )
        result.oncall = oncall.oncall_load(
            month_incidents,
            service_teams,
            elapsed,
            config.timezone,
            config.business_hours,
            config.severities,
        )
        review_operations(result, config, frames.incidents, until=min(now, period.end))

    if month_deployments is not None:
        production = tuple(config.production_environments)
        # All loaded incidents: a deployment late in the month may cause one early in the next.
        result.delivery = delivery.delivery_summary(
            month_deployments, frames.incidents, elapsed, production
        )
        result.fleet_delivery = delivery.fleet_delivery(
            month_deployments, frames.incidents, elapsed, production
        )

    if month_worklog is not None:
        result.toil = toil.toil_summary(month_worklog, config.teams or None)
    review_cost(result, config, frames.cost, until=min(now, period.end))
    response = result.response
    result.headline = headline.headline_figures(
        result.slos,
        None if response is None else response.count,
        None if response is None else response.mttr.median,
        None if response is None else response.mttr.n,
        result.fleet_delivery,
        result.toil,
        result.oncall,
    )
    if detail:
        result.findings = headline.findings(
            result.slos, result.attribution, result.toil, result.oncall, service_teams
        )
    if report is not None and detail:
        review_alerts(result, report, grid, month_incidents, config, until=min(now, period.end))
    if month_rows["alerts"] is not None and detail:
        slo_services = None if report is None else set(grid.slos["service"].astype(str))
        # every loaded incident: one opened before the 1st (or just after the month's end)
        # may cover an alert of the month
        review_alert_history(
            result,
            config,
            month_rows["alerts"],
            frames.incidents,
            elapsed,
            min(now, period.end),
            slo_services,
        )
    result.data_quality = quality.data_quality_findings(
        result.coverage,
        month_incidents,
        month_deployments,
        slos=result.slos if detail else None,
        service_teams=service_teams,
        severities=config.severities,
        production_environments=config.production_environments,
        known_deployments=None if frames.deployments is None else frames.deployments["id"],
        future_rows=future,
        now=now,
        notes=frames.notes,
    )
    return result


def review_alerts(
    result: MonthlyMetrics,
    report: slo.SLOReport,
    grid: slo.SLIGrid,
    month_incidents: pd.DataFrame | None,
    config: Config,
    until: pd.Timestamp,
) -> None:
    """The replayed episodes with their peak burn rate and covering incident, the pages
    received that no page alert caught, and the section's counts (``metrics.alerts``)."""
    episodes = report.alerts.assign(
        peak_burn_rate=alerts.peak_burn_rates(grid, report.alerts),
        covered_by=alerts.cover_incidents(report.alerts, month_incidents, until),
    )
    services = set(grid.slos["service"].astype(str))
    missed = alerts.missed_detection(episodes, month_incidents, config.severities, services, until)
    result.alerts = episodes
    result.missed_detection = missed
    pages_received = None if result.headline is None else result.headline["pages_received"]
    result.alert_summary = alerts.alert_summary(episodes, missed, pages_received)


def review_alert_history(
    result: MonthlyMetrics,
    config: Config,
    month_alerts: pd.DataFrame,
    incidents: pd.DataFrame | None,
    elapsed: Month,
    until: pd.Timestamp,
    slo_services: set[str] | None,
) -> None:
    """The real alerts of the month, their quality and their agreement with the replayed
    page alerts (``metrics.alert_quality``)."""
    settings = config.alert_quality
    started = month_alerts["started_at"]
    result.alert_quality = alert_quality.alert_quality(
        month_alerts,
        incidents,
        {s.name: s.team for s in config.services},
        elapsed.duration,
        until,
        oncall.off_hours(started, config.timezone, config.business_hours).to_numpy(dtype=bool),
        alert_quality.in_local_hours(
            started, config.timezone, settings.sleep_hours.start, settings.sleep_hours.end
        ),
        tuple(settings.page_severities),
        settings.noise_minutes,
        replayed=result.alerts,
        slo_services=slo_services,
    )


def _given(loaded: pd.DataFrame | None, column: str) -> bool:
    """Whether any loaded incident fills an optional column (a blank column is one not given)."""
    return loaded is not None and column in loaded and bool(loaded[column].notna().any())


def review_operations(
    result: MonthlyMetrics, config: Config, loaded: pd.DataFrame | None, until: pd.Timestamp
) -> None:
    """Recovery targets, response against tiers, postmortems and hero load of the month's incidents
    (``result.incidents``); each is ``None`` with its reason in ``unavailable`` when the config
    or the input lacks what it needs (``loaded``: every incident the input gave)."""
    durations = result.incidents
    own, default = config.rto_minutes()
    if not own and not default:
        result.unavailable["recovery_targets"] = (
            "no RTO is configured (rto: per severity, for the fleet or per service)"
        )
    else:
        result.recovery = recovery.recovery_summary(
            durations,
            recovery.rto_minutes(durations, own, default),
            until,
            [s.name for s in config.services],
            config.rpo_minutes(),
        )
    response_tiers = config.response_tiers()
    if not _given(loaded, "acknowledged_at"):
        result.unavailable["response_tiers"] = "the incidents input has no acknowledged_at times"
    else:
        result.tier_response = tiers.tier_response(
            durations,
            response_tiers,
            config.severities,
            config.timezone,
            (config.business_hours.end, list(config.business_hours.weekdays)),
        )
    if not _given(loaded, "postmortem_url"):
        result.unavailable["postmortems"] = "the incidents input has no postmortem_url links"
    else:
        tier = tiers.incident_tiers(durations, response_tiers, config.severities)
        result.postmortems = postmortems.postmortem_summary(
            durations, tier, tuple(config.postmortems.tiers)
        )
    if not _given(loaded, "responder"):
        result.unavailable["hero_load"] = "the incidents input names no responders"
    else:
        chosen = config.responders
        off_hours_page = incidents.pages(durations, config.severities) & oncall.off_hours(
            durations["created_at"], config.timezone, config.business_hours
        )
        result.hero_load = responders.hero_load(
            durations,
            {s.name: s.team for s in config.services},
            off_hours_page,
            chosen.max_share,
            chosen.display,
            chosen.in_json,
        )


def review_cost(
    result: MonthlyMetrics, config: Config, charges: pd.DataFrame | None, until: pd.Timestamp
) -> None:
    """The month's spend beside its SLOs (``metrics.cost``): ``None`` with the input named in
    ``missing_inputs`` when no cost input is configured, or with its reason in
    ``unavailable`` when the input has no charge in the month."""
    if charges is None:
        result.missing_inputs.append("cost")
        return
    settings = config.cost
    currency = reporting_currency(charges, settings.currency)
    summary = None
    if currency is not None:
        summary = cost.cost_summary(
            charges,
            result.period,
            {s.name: s.team for s in config.services},
            currency,
            rates=settings.rates,
            mapping=settings.services,
            slos=result.slos,
            availability_slo=settings.availability_slo,
            until=until,
        )
    if summary is None:
        result.unavailable["cost"] = f"the cost input has no charges in {result.period.label}"
    result.cost = summary


def no_rows_reason(frames: Frames, role: str, period: Month) -> str:
    """Why an input's sections are empty: no row in the month, and where its rows are."""
    extent = frames.extents.get(role)
    if extent is None:
        return f"the {role} input has no rows"
    return (
        f"no {role} rows in {period.label}; the input's rows run from "
        f"{extent[0]:%Y-%m-%d %H:%M} to {extent[1]:%Y-%m-%d %H:%M} UTC"
    )
