"""The report's first screen: the month's headline figures, how each compares with the month
before, and the few facts worth a sentence.

Pure functions over ``MonthlyMetrics``-shaped inputs (frames and plain values); the report only
words and colours what is decided here. Definitions in docs/metrics.md, "First screen".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from reliability.metrics.incidents import SMALL_SAMPLE
from reliability.metrics.oncall import PAGES_PER_SHIFT_LIMIT
from reliability.metrics.slo import AT_RISK_REMAINING, MET_STATUSES
from reliability.metrics.toil import TOIL_CAP, overall_toil_ratio

Direction = Literal["better", "worse", "same"]

HIGHER_IS_BETTER: dict[str, bool] = {
    "slos_met": True,
    "slos_over_budget": False,
    "median_budget_used": False,
    "incidents": False,
    "mttr_median_minutes": False,
    "deployments": True,
    "change_failure_rate": False,
    "toil_ratio": False,
    "pages_received": False,
    "off_hours_pages": False,
}
"""Each compared figure, and whether a higher value is the better month."""

SAME_WITHIN: dict[str, float] = {
    "median_budget_used": 0.01,
    "change_failure_rate": 0.01,
    "toil_ratio": 0.01,
}
"""Absolute differences (fractions) below which a ratio is "about the same" (under 1 point)."""
SAME_WITHIN_RELATIVE: dict[str, float] = {"mttr_median_minutes": 0.10}
"""Relative differences below which a duration is "about the same" (under 10%)."""

TILES: tuple[tuple[str, str, str | None], ...] = (
    ("slos", "slos_met", None),
    ("budget", "slos_over_budget", "median_budget_used"),
    ("incidents", "incidents", "mttr_median_minutes"),
    ("delivery", "deployments", "change_failure_rate"),
    ("toil", "toil_ratio", None),
    ("oncall", "pages_received", "off_hours_pages"),
)
"""The first screen's tiles in order: (tile, main figure, second figure)."""

AT_RISK_USED = 1.0 - AT_RISK_REMAINING
"""An SLO that was met but used more than this share of its budget is "at risk"."""


@dataclass(frozen=True)
class Change:
    """One headline figure against the month before."""

    previous: float | None
    """Last month's value (``None``: last month has no such figure)."""
    direction: Direction | None
    """Whether this month is better, worse or about the same; ``None`` with a ``reason``."""
    reason: str | None = None
    """Why no direction: ``no_previous``, ``no_value`` or ``small_sample``."""
    delta: float | None = None
    """This month minus last month, as compared (``SLOs met`` as a share): the arrow's way."""


def headline_figures(
    slos: pd.DataFrame | None,
    incident_count: int | None,
    mttr_median_minutes: float | None,
    mttr_n: int | None,
    fleet_delivery: dict[str, Any] | None,
    toil: pd.DataFrame | None,
    oncall: pd.DataFrame | None,
) -> dict[str, Any]:
    """The figures the tiles show, from one month's sections; ``None`` where a section is.

    ``slos_met`` counts ``met`` and ``at_risk`` SLOs among ``slos_with_data``;
    ``slos_over_budget`` those that used more than their whole budget (``missed``);
    ``median_budget_used`` the median of ``budget_consumed``; ``pages_received`` the
    high-urgency incidents (``oncall``), not the replayed page alerts.
    """
    scored = None if slos is None else slos.loc[slos["status"] != "no_data"]
    if scored is not None and scored.empty:
        scored = None
    delivery = fleet_delivery or {}
    return {
        "slos_met": None if scored is None else int(scored["status"].isin(MET_STATUSES).sum()),
        "slos_with_data": None if scored is None else len(scored),
        "slos_over_budget": None if scored is None else int((scored["status"] == "missed").sum()),
        "median_budget_used": None if scored is None else float(scored["budget_consumed"].median()),
        "incidents": incident_count,
        "mttr_median_minutes": mttr_median_minutes,
        "mttr_n": mttr_n,
        "deployments": delivery.get("deployments") if fleet_delivery is not None else None,
        "change_failure_rate": delivery.get("change_failure_rate"),
        "toil_ratio": overall_toil_ratio(toil),
        "teams_over_toil_cap": None if toil is None else int(toil["over_cap"].fillna(False).sum()),
        "pages_received": None if oncall is None else int(oncall["pages"].sum()),
        "off_hours_pages": None if oncall is None else int(oncall["off_hours_pages"].sum()),
        "teams_over_page_limit": None
        if oncall is None
        else int(oncall["over_limit"].fillna(False).sum()),
    }


def _comparable(figures: dict[str, Any], key: str) -> float | None:
    """The value a figure is compared by: ``slos_met`` as a share of SLOs with data."""
    value = figures.get(key)
    if value is None or pd.isna(value):
        return None
    if key == "slos_met":
        total = figures.get("slos_with_data")
        return None if not total else value / total
    return float(value)


def compare(now: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Change]:
    """Each figure of ``HIGHER_IS_BETTER`` against the month before.

    Counts compare exactly; ``SLOs met`` as a share of the SLOs with data (16 of 18 is worse
    than 9 of 9); ratios within ``SAME_WITHIN`` and durations within ``SAME_WITHIN_RELATIVE``
    are "about the same". The median time to resolve gets no direction when either month has
    fewer than ``SMALL_SAMPLE`` resolved incidents: that change is noise.
    """
    changes = {}
    for key, higher_better in HIGHER_IS_BETTER.items():
        previous = None if before is None else before.get(key)
        previous = None if previous is None or pd.isna(previous) else previous
        current, earlier = _comparable(now, key), _comparable(before or {}, key)
        if previous is None or earlier is None:
            changes[key] = Change(previous, None, "no_previous")
            continue
        if current is None:
            changes[key] = Change(previous, None, "no_value")
            continue
        difference = current - earlier
        if key == "mttr_median_minutes" and any(
            (m.get("mttr_n") or 0) < SMALL_SAMPLE for m in (now, before or {})
        ):
            changes[key] = Change(previous, None, "small_sample", difference)
            continue
        tolerance = SAME_WITHIN.get(key, 0.0)
        if key in SAME_WITHIN_RELATIVE:
            tolerance = SAME_WITHIN_RELATIVE[key] * abs(earlier)
        if abs(difference) <= tolerance and (difference == 0 or tolerance > 0):
            changes[key] = Change(previous, "same", delta=difference)
        else:
            better = (difference > 0) == higher_better
            changes[key] = Change(previous, "better" if better else "worse", delta=difference)
    return changes


def _team_services(service_teams: dict[str, str], team: str) -> str:
    """The services a team owns, comma-separated, in config order."""
    names = [service for service, owner in service_teams.items() if owner == team]
    return ", ".join(names)


@dataclass(frozen=True)
class Finding:
    """One fact worth a sentence on the first screen, about one service and its team."""

    kind: Literal["missed", "at_risk", "closest", "incident", "toil", "oncall"]
    service: str
    """The service (for a team's finding, the team's services, comma-separated)."""
    team: str
    values: dict[str, Any]


MAX_FINDINGS = 5
"""The first screen says at most this many sentences."""
MAX_MISSED = 2
"""Missed SLOs named one by one; the tiles count the rest."""
INCIDENT_SHARE = 0.25
"""An incident is named when it alone used more than this share of an SLO's budget."""


def findings(
    slos: pd.DataFrame | None,
    attribution: pd.DataFrame | None,
    toil: pd.DataFrame | None,
    oncall: pd.DataFrame | None,
    service_teams: dict[str, str],
) -> list[Finding]:
    """The facts the first screen puts into words, most urgent first, at most ``MAX_FINDINGS``.

    In order: the SLOs that missed (the ``MAX_MISSED`` that used most budget); SLOs at risk
    (met, with more than ``AT_RISK_USED`` of the budget used; never one that missed), else
    the met SLO that used most of its budget; the incident that used most of one SLO's budget,
    if more than ``INCIDENT_SHARE``; the team furthest over the toil cap; the team over the
    pages-per-shift ceiling, else the team that was paged most.
    """
    found: list[Finding] = []
    scored = None if slos is None else slos.loc[slos["status"] != "no_data"]
    if scored is not None and not scored.empty:
        ordered = scored.sort_values(["budget_consumed", "service", "slo"], ascending=False)
        missed = ordered.loc[ordered["status"] == "missed"]
        met = ordered.loc[ordered["status"].isin(MET_STATUSES)]
        for row in missed.head(MAX_MISSED).itertuples():
            found.append(_slo_finding("missed", row, service_teams))
        at_risk = met.loc[met["budget_consumed"] > AT_RISK_USED]
        if not at_risk.empty:
            found.append(_slo_finding("at_risk", next(at_risk.itertuples()), service_teams))
        elif not met.empty:
            found.append(_slo_finding("closest", next(met.itertuples()), service_teams))
    if attribution is not None and not attribution.empty:
        top = attribution.sort_values(["budget_share", "id"], ascending=[False, True]).iloc[0]
        if top["budget_share"] > INCIDENT_SHARE:
            found.append(
                Finding(
                    "incident",
                    str(top["service"]),
                    service_teams.get(str(top["service"]), ""),
                    {
                        "id": top["id"],
                        "title": None if pd.isna(top["title"]) else top["title"],
                        "slo": top["slo"],
                        "budget_share": float(top["budget_share"]),
                    },
                )
            )
    if toil is not None:
        over = toil.loc[toil["over_cap"].fillna(False).astype(bool)]
        if not over.empty:
            row = over.sort_values("operational_ratio", ascending=False).iloc[0]
            found.append(
                Finding(
                    "toil",
                    _team_services(service_teams, str(row["team"])),
                    str(row["team"]),
                    {
                        "operational_ratio": float(row["operational_ratio"]),
                        "toil_ratio": float(row["toil_ratio"]),
                        "cap": TOIL_CAP,
                    },
                )
            )
    if oncall is not None and int(oncall["pages"].sum()) > 0:
        row = oncall.sort_values(["pages", "team"], ascending=[False, True]).iloc[0]
        found.append(
            Finding(
                "oncall",
                _team_services(service_teams, str(row["team"])),
                str(row["team"]),
                {
                    "pages": int(row["pages"]),
                    "off_hours_pages": int(row["off_hours_pages"]),
                    "pages_per_shift": float(row["pages_per_shift"]),
                    "over_limit": bool(row["over_limit"]),
                    "limit": PAGES_PER_SHIFT_LIMIT,
                },
            )
        )
    return found[:MAX_FINDINGS]


def _slo_finding(kind: Any, row: Any, service_teams: dict[str, str]) -> Finding:
    return Finding(
        kind,
        str(row.service),
        service_teams.get(str(row.service), ""),
        {
            "slo": row.slo,
            "objective": float(row.objective),
            "sli": float(row.sli),
            "budget_used": float(row.budget_consumed),
        },
    )
