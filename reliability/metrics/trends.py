"""Six-month trends: the headline figures of each month side by side.

Computed once, here, for the report's trend charts, its trend table and the summary's
comparison with the month before; a month without the data for a figure shows a gap.
"""

from __future__ import annotations

import pandas as pd

from reliability.metrics.slo import MET_STATUSES
from reliability.metrics.toil import overall_toil_ratio
from reliability.results import MonthlyMetrics


def trend_frame(history: list[MonthlyMetrics], service: str | None = None) -> pd.DataFrame:
    """One row per month with the headline figures the trends and the summary compare.

    ``service`` narrows the SLO figures to one service; incident, delivery and toil figures
    are then left out (``None``): a service's page compares only its own SLOs.
    """
    rows = []
    for metrics in history:
        slos = metrics.slos
        if slos is not None and service is not None:
            slos = slos.loc[slos["service"] == service]
        with_data = None if slos is None else slos.loc[slos["status"] != "no_data"]
        if with_data is not None and with_data.empty:
            with_data = None  # no SLI data that month: unknown, not "0 met"
        met = share = median_remaining = median_used = None
        if with_data is not None:
            kept = with_data["status"].isin(MET_STATUSES)
            met, share = int(kept.sum()), float(kept.mean())
            median_remaining = float(with_data["budget_remaining"].median())
            median_used = float(with_data["budget_consumed"].median())
        fleet_wide = service is None
        response = metrics.response if fleet_wide else None
        fleet = (metrics.fleet_delivery or {}) if fleet_wide else {}
        rows.append(
            {
                "month": metrics.period.label,
                "slos_met": met,
                "slos_with_data": None if with_data is None else len(with_data),
                "slos_met_share": share,
                "median_budget_remaining": median_remaining,
                "median_budget_used": median_used,
                "incidents": None if response is None else response.count,
                "mttr_n": None if response is None else response.mttr.n,
                "mttr_median_minutes": None if response is None else response.mttr.median,
                "mtta_median_minutes": None if response is None else response.mtta.median,
                "deployments": fleet.get("deployments"),
                "deployments_per_week": fleet.get("deployments_per_week"),
                "lead_time_median_hours": fleet.get("lead_time_median_hours"),
                "change_failure_rate": fleet.get("change_failure_rate"),
                "recovery_median_minutes": fleet.get("recovery_median_minutes"),
                "toil_ratio": overall_toil_ratio(metrics.toil) if fleet_wide else None,
                **review_figures(metrics if fleet_wide else None),
                "spend": spend_of(metrics, service),
            }
        )
    return pd.DataFrame(rows).astype({"month": "string"})


def spend_of(metrics: MonthlyMetrics, service: str | None = None) -> float | None:
    """The month's spend: the fleet's (unattributed included), or one service's."""
    summary = metrics.cost
    if summary is None:
        return None
    if service is None:
        return summary.total
    rows = summary.by_service.loc[summary.by_service["service"] == service, "spend"]
    return None if rows.empty else float(rows.iloc[0])


def cost_trend_frame(history: list[MonthlyMetrics]) -> pd.DataFrame:
    """Per month and service (the unattributed line included): spend, in the month's currency;
    months without cost data are absent."""
    parts = [
        metrics.cost.by_service[["service", "spend"]].assign(
            month=metrics.period.label, currency=metrics.cost.currency
        )
        for metrics in history
        if metrics.cost is not None
    ]
    columns = ["month", "service", "spend", "currency"]
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True)[columns]
    return table.astype({"month": "string", "service": "string", "currency": "string"})


def review_figures(metrics: MonthlyMetrics | None) -> dict[str, float | int | None]:
    """The operations review's fleet-wide shares of one month, with their ``n``."""
    recovery = None if metrics is None else metrics.recovery
    tier = None if metrics is None else metrics.tier_response
    postmortem = None if metrics is None else metrics.postmortems
    return {
        "rto_n": None if recovery is None else recovery.n,
        "within_rto_share": None if recovery is None else recovery.within_rto_share,
        "response_n": None if tier is None else tier.n,
        "within_response_target_share": None if tier is None else tier.within_target_share,
        "postmortem_n": None if postmortem is None else postmortem.n,
        "postmortem_share": None if postmortem is None else postmortem.with_postmortem_share,
    }


def service_trend_frame(history: list[MonthlyMetrics]) -> pd.DataFrame:
    """Per month and service: SLOs met and SLOs with data (months without SLI data absent)."""
    parts = [
        metrics.slos.loc[metrics.slos["status"] != "no_data", ["service", "status"]].assign(
            month=metrics.period.label
        )
        for metrics in history
        if metrics.slos is not None
    ]
    columns = ["month", "service", "slos_met", "slos_with_data"]
    if not parts:
        return pd.DataFrame(columns=columns)
    slos = pd.concat(parts, ignore_index=True)
    grouped = slos.assign(met=slos["status"].isin(MET_STATUSES)).groupby(
        ["month", "service"], sort=True, observed=True
    )["met"]
    table = pd.DataFrame({"slos_met": grouped.sum(), "slos_with_data": grouped.size()})
    return table.astype("int64").reset_index()[columns].astype({"month": "string"})
