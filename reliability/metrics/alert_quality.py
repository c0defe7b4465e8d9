"""Alert quality from the real alert history (docs/metrics.md, "Alert quality"): which alerts
paged, how many became or joined an incident (actionable), how many resolved by themselves
within minutes (noise), the noisiest rules, alerts without a runbook, pages at night, and how
the real pages compare with the replayed burn-rate pages.

Three kinds of "page" meet in the report and are named apart: *alert pages* are real alerts of
a paging severity (this module); *pages received* are high-urgency incidents
(``metrics.incidents.pages``); *replayed page alerts* are episodes of the burn-rate rules
(``metrics.slo``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reliability.metrics.alerts import COVER_GRACE, cover_incidents

PAGE_SEVERITIES = ("critical", "page")
"""Severity labels of the alerts that page someone, when the config names none."""
NOISE_MINUTES = 5.0
"""An alert page that ends within this many minutes and joins no incident resolved by itself:
noise, when the config gives no other threshold."""
SLEEP_HOURS = (22, 7)
"""Local hours ``[start, end)`` when a page wakes someone, when the config gives none."""
NOISIEST_RULES = 5
"""Rules the report names as the noisiest."""
SHIFT = pd.Timedelta(hours=12)
MINUTE = pd.Timedelta(minutes=1)
UNASSIGNED = "(unassigned)"

RULE_COLUMNS = [
    "alert",
    "alerts",
    "pages",
    "actionable",
    "noise",
    "noise_share",
    "without_runbook",
    "median_minutes",
]
TEAM_COLUMNS = [
    "team",
    "alert_pages",
    "shifts",
    "alert_pages_per_shift",
    "off_hours_pages",
    "sleep_hours_pages",
]
UNREACHED_COLUMNS = ["service", "slo", "start", "end"]


@dataclass(frozen=True)
class AlertQuality:
    """The month's real alerts, their quality and their agreement with the replay."""

    alerts: int
    pages: int
    actionable: int
    """Alert pages that became or joined an incident."""
    actionable_share: float | None
    noise: int
    """Alert pages that ended within ``noise_minutes`` and joined no incident."""
    noise_share: float | None
    noise_minutes: float
    without_runbook: int
    """Alerts (of any severity) without a runbook URL."""
    rules_without_runbook: list[str]
    off_hours_pages: int
    sleep_hours_pages: int
    by_rule: pd.DataFrame
    """Per rule, noisiest first (``RULE_COLUMNS``)."""
    by_team: pd.DataFrame
    """Per team owning the alerts' services (``TEAM_COLUMNS``)."""
    explained: int | None = None
    """Alert pages on services with SLOs that a replayed page episode of the service overlaps."""
    explainable: int | None = None
    """Alert pages on services with SLOs (the ``explained`` share's ``n``)."""
    explained_share: float | None = None
    unreached: pd.DataFrame | None = None
    """Replayed page episodes that no real alert page of the service overlaps."""
    history: pd.DataFrame | None = None
    """Every alert of the month with what the figures decided about it."""
    reasons: dict[str, str] = field(default_factory=dict)


def in_local_hours(instants: pd.Series, timezone: str, start: int, end: int) -> np.ndarray:
    """Whether each UTC instant falls in the local hours ``[start, end)`` (wrapping midnight
    when ``end <= start``: 22 to 7 is the night)."""
    hour = instants.dt.tz_convert(timezone).dt.hour.to_numpy()
    if start < end:
        return (hour >= start) & (hour < end)
    return (hour >= start) | (hour < end)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def alert_quality(
    alerts: pd.DataFrame,
    incidents: pd.DataFrame | None,
    service_teams: dict[str, str],
    period_duration: pd.Timedelta,
    until: pd.Timestamp,
    off_hours: np.ndarray,
    sleep_hours: np.ndarray,
    page_severities: tuple[str, ...] = PAGE_SEVERITIES,
    noise_minutes: float = NOISE_MINUTES,
    replayed: pd.DataFrame | None = None,
    slo_services: set[str] | None = None,
) -> AlertQuality:
    """The figures of the month's ``alerts`` (``frames.ALERTS`` rows started in the month).

    ``off_hours`` and ``sleep_hours`` mark, per alert, a start outside business hours and in
    the sleeping hours; ``until`` ends an alert still firing; ``replayed`` is the burn-rate
    replay's episodes (``None``: no SLI input), ``slo_services`` the services with SLOs.
    """
    reasons: dict[str, str] = {}
    severity = alerts["severity"] if "severity" in alerts else pd.Series(pd.NA, index=alerts.index)
    label = severity.astype("string").str.strip().str.casefold()
    wanted = [s.casefold() for s in page_severities]
    # An alert without a severity label is a page: nothing says it may wait.
    page = (label.isin(wanted) | label.isna()).fillna(True).to_numpy(dtype=bool)
    end = alerts["ended_at"].fillna(until)
    minutes = ((end - alerts["started_at"]) / MINUTE).to_numpy(dtype=float)
    episodes = pd.DataFrame(
        {"service": alerts["service"].astype("string"), "start": alerts["started_at"], "end": end}
    )
    given = alerts["incident_id"] if "incident_id" in alerts else None
    given = (
        pd.Series(pd.NA, index=alerts.index, dtype="string")
        if given is None
        else given.astype("string").str.strip().replace("", pd.NA)
    )
    covering = cover_incidents(episodes, incidents, until)
    incident = given.fillna(covering)
    actionable = incident.notna().to_numpy(dtype=bool)
    ended = alerts["ended_at"].notna().to_numpy(dtype=bool)
    noise = page & ~actionable & ended & (minutes <= noise_minutes)
    runbook = alerts["runbook_url"] if "runbook_url" in alerts else None
    has_runbook = (
        np.zeros(len(alerts), dtype=bool)
        if runbook is None
        else (runbook.astype("string").str.strip().fillna("") != "").to_numpy(dtype=bool)
    )
    if incidents is None:
        reasons["actionable"] = (
            "no incident input: only alerts that name their incident count as actionable"
        )
    team = alerts["service"].astype("string").map(service_teams).astype("string")
    team = team.fillna(UNASSIGNED)

    history = pd.DataFrame(
        {
            "alert": alerts["alert"].astype("string"),
            "service": alerts["service"].astype("string"),
            "team": team,
            "severity": severity.astype("string"),
            "started_at": alerts["started_at"],
            "ended_at": alerts["ended_at"],
            "minutes": minutes,
            "ended_minutes": np.where(alerts["ended_at"].notna().to_numpy(), minutes, np.nan),
            "page": page,
            "incident": incident,
            "actionable": actionable,
            "noise": noise,
            "has_runbook": has_runbook,
            "actionable_page": page & actionable,
            "without_runbook": ~has_runbook,
            "off_hours": off_hours & page,
            "sleep_hours": sleep_hours & page,
        }
    ).reset_index(drop=True)

    by_rule = history.groupby("alert", observed=True).agg(
        alerts=("alert", "size"),
        pages=("page", "sum"),
        actionable=("actionable_page", "sum"),
        noise=("noise", "sum"),
        without_runbook=("without_runbook", "sum"),
        median_minutes=("ended_minutes", "median"),
    )
    by_rule["noise_share"] = by_rule["noise"] / by_rule["pages"].where(by_rule["pages"] > 0)
    by_rule = (
        by_rule.reset_index()
        .sort_values(["noise", "pages", "alert"], ascending=[False, False, True], kind="stable")
        .reset_index(drop=True)[RULE_COLUMNS]
    )

    known = list(dict.fromkeys(service_teams.values()))
    order = pd.Index(known + sorted(set(team) - set(known)), dtype="string", name="team")
    pages_only = history.loc[history["page"]]
    per_team = pages_only.groupby("team", observed=True).agg(
        alert_pages=("page", "size"),
        off_hours_pages=("off_hours", "sum"),
        sleep_hours_pages=("sleep_hours", "sum"),
    )
    per_team = per_team.reindex(order, fill_value=0).astype("int64")
    shifts = float(period_duration / SHIFT)
    per_team["shifts"] = shifts
    per_team["alert_pages_per_shift"] = per_team["alert_pages"] / shifts
    by_team = per_team.reset_index()[TEAM_COLUMNS]

    pages = int(page.sum())
    result = dict(
        alerts=len(history),
        pages=pages,
        actionable=int((page & actionable).sum()),
        actionable_share=_share(int((page & actionable).sum()), pages),
        noise=int(noise.sum()),
        noise_share=_share(int(noise.sum()), pages),
        noise_minutes=float(noise_minutes),
        without_runbook=int((~has_runbook).sum()),
        rules_without_runbook=sorted(set(history.loc[~has_runbook, "alert"])),
        off_hours_pages=int(history["off_hours"].sum()),
        sleep_hours_pages=int(history["sleep_hours"].sum()),
        by_rule=by_rule,
        by_team=by_team,
        history=history,
    )
    if replayed is None:
        reasons["explained"] = "no SLI input: no burn-rate alerts were replayed"
        return AlertQuality(**result, reasons=reasons)

    services = sorted(slo_services or set())
    replayed_pages = replayed.loc[replayed["severity"] == "page"].reset_index(drop=True)
    on_slo = page & history["service"].isin(services).fillna(False).to_numpy(dtype=bool)
    real = episodes.loc[on_slo].reset_index(drop=True)
    as_incidents = _as_windows(replayed_pages)
    explained = cover_incidents(real, as_incidents, until, COVER_GRACE).notna()
    real_windows = _as_windows(real)
    reached = cover_incidents(replayed_pages, real_windows, until, COVER_GRACE).notna()
    unreached = replayed_pages.loc[~reached.to_numpy(dtype=bool), UNREACHED_COLUMNS]
    return AlertQuality(
        **result,
        explained=int(explained.sum()),
        explainable=len(real),
        explained_share=_share(int(explained.sum()), len(real)),
        unreached=unreached.reset_index(drop=True),
        reasons=reasons,
    )


def _as_windows(episodes: pd.DataFrame) -> pd.DataFrame:
    """Episodes in the shape of incidents (id, service, window), so that the cover rule of
    ``metrics.alerts`` matches episodes against episodes."""
    episodes = episodes.reset_index(drop=True)
    return pd.DataFrame(
        {
            "id": pd.Series(np.arange(len(episodes)).astype(str), dtype="string"),
            "service": episodes["service"].astype("string"),
            "created_at": episodes["start"],
            "resolved_at": episodes["end"],
        }
    )
