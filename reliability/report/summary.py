"""The executive summary: at most ten plain sentences a reader new to error budgets follows."""

from __future__ import annotations

import pandas as pd

from reliability.metrics.incidents import SMALL_SAMPLE
from reliability.results import MonthlyMetrics

MAX_LINES = 10


def _pct(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value * 100:.{digits}f}%"


def _minutes(value: float | None) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    value = round(float(value))
    return f"{value} min" if value < 120 else f"{value / 60:.1f} h"


def _quoted(title: object) -> str:
    """`` “title”`` after an incident id, or nothing for an untitled incident."""
    return "" if title is None or pd.isna(title) or not str(title) else f" \u201c{title}\u201d"


def executive_summary(
    history: list[MonthlyMetrics], trend: pd.DataFrame, service: str | None = None
) -> list[str]:
    """Sentences for the month (the last of ``history``), compared with the month before
    (the last two rows of ``trend``: the fleet's, or the service's own).

    Changes against the previous month are stated as plain differences; when either month has
    fewer than ``SMALL_SAMPLE`` incidents the text says the sample is too small for a trend.
    """
    current = history[-1]
    previous = history[-2] if len(history) > 1 else None
    lines: list[str] = []
    lines += _slo_lines(current, service)
    lines += _incident_lines(current, previous)
    lines += _delivery_lines(current)
    lines += _toil_lines(current)
    lines += _change_lines(trend)
    if current.missing_inputs:
        lines.append("Not covered for lack of data: " + ", ".join(current.missing_inputs) + ".")
    return lines[:MAX_LINES]


def _slo_lines(current: MonthlyMetrics, service: str | None) -> list[str]:
    slos = current.slos
    if slos is None or slos.empty:
        return ["No service level data was available this month."]
    scored = slos.loc[slos["status"] != "no_data"]
    if scored.empty:
        return [f"No SLO had any SLI data in {current.period.label}."]
    met = int(scored["status"].isin(["met", "at_risk"]).sum())
    lines = [
        f"{met} of {len(scored)} service level objectives (SLOs) were met in "
        f'{current.period.label}. An SLO is a promise such as "99.9% of requests succeed"; '
        "the error budget is the small share of failures that promise allows."
    ]
    ordered = scored.sort_values("budget_consumed", ascending=False)
    missed = ordered.loc[ordered["status"] == "missed"]
    at_risk = ordered.loc[ordered["status"] == "at_risk"]  # met: never one that missed
    for label, rows in (("Missed", missed), ("At risk", at_risk)):
        if not rows.empty:
            worst = [
                f"{row.service} {row.slo} ({_pct(row.budget_consumed)} of its budget used)"
                for row in rows.head(3).itertuples()
            ]
            lines.append(f"{label}: " + "; ".join(worst) + ".")
    if missed.empty and at_risk.empty:
        lines.append("Every SLO used less than three quarters of its error budget.")
    attribution = current.attribution
    if attribution is not None and not attribution.empty:
        top = attribution.loc[attribution["budget_share"] > 0.05].head(2)
        if not top.empty:
            burns = [
                f"{row.id}{_quoted(row.title)} used {_pct(row.budget_share)} of "
                f"{row.service} {row.slo}'s budget"
                for row in top.itertuples()
            ]
            lines.append("Biggest burns: " + "; ".join(burns) + ".")
    if "unattributed_budget" in slos:
        unexplained = slos.loc[slos["unattributed_budget"] > 0.25]
        if not unexplained.empty:
            names = ", ".join(f"{r.service} {r.slo}" for r in unexplained.head(3).itertuples())
            lines.append(
                f"Burn that no incident explains used over a quarter of the budget of {names}."
            )
    return lines


def _incident_lines(current: MonthlyMetrics, previous: MonthlyMetrics | None) -> list[str]:
    response = current.response
    if response is None:
        return []
    if response.count == 0:
        return ["There were no incidents."]
    by_severity = response.by_severity
    counts = ", ".join(f"{row.count} {row.severity}" for row in by_severity.itertuples())
    line = (
        f"{response.count} incidents ({counts}); half were acknowledged within "
        f"{_minutes(response.mtta.median)} (n={response.mtta.n}) and resolved within "
        f"{_minutes(response.mttr.median)} (n={response.mttr.n})."
    )
    if response.unresolved:
        line += f" {response.unresolved} still open."
    return [line]


def _delivery_lines(current: MonthlyMetrics) -> list[str]:
    fleet = current.fleet_delivery
    if not fleet or not fleet.get("deployments"):
        return []
    return [
        f"{fleet['deployments']} production deployments; {_pct(fleet['change_failure_rate'])} "
        f"of them failed or caused an incident (change failure rate, DORA band "
        f"{fleet.get('change_failure_band') or 'n/a'})."
    ]


def _toil_lines(current: MonthlyMetrics) -> list[str]:
    toil = current.toil
    if toil is None or toil["total_hours"].fillna(0).sum() == 0:
        return []
    logged = toil.loc[toil["total_hours"].fillna(0) > 0]
    overall = logged["toil_hours"].sum() / logged["total_hours"].sum()
    line = f"Toil (manual, repetitive operational work) took {_pct(overall)} of engineers' hours"
    # The SRE book's cap is on toil and on-call together: half of a team's time.
    over = logged.loc[logged["operational_ratio"] > 0.5]
    if over.empty:
        return [line + "; every team kept toil and on-call under half its time."]
    teams = ", ".join(f"{r.team} ({_pct(r.operational_ratio)})" for r in over.itertuples())
    return [line + f"; toil and on-call took more than half the time of: {teams}."]


def _change_lines(trend: pd.DataFrame | None) -> list[str]:
    if trend is None or len(trend) < 2:
        return []
    before, now = trend.iloc[-2], trend.iloc[-1]

    def both(column: str) -> bool:
        return pd.notna(before.get(column)) and pd.notna(now.get(column))

    parts = []
    if both("slos_met"):
        parts.append(f"SLOs met {int(before['slos_met'])} → {int(now['slos_met'])}")
    if both("change_failure_rate"):
        parts.append(
            f"change failure rate {_pct(before['change_failure_rate'])} → "
            f"{_pct(now['change_failure_rate'])}"
        )
    line = f"Against {before['month']}: " + "; ".join(parts) + "." if parts else ""
    if both("mttr_median_minutes"):
        small = any(n < SMALL_SAMPLE for n in (before["mttr_n"], now["mttr_n"]))
        mttr = (
            f" Median time to resolve {_minutes(before['mttr_median_minutes'])} → "
            f"{_minutes(now['mttr_median_minutes'])}"
        )
        if small:
            mttr += f", but with fewer than {SMALL_SAMPLE} incidents a month that is no trend."
        else:
            mttr += "."
        line += mttr
    return [line.strip()] if line.strip() else []
