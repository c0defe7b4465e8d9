"""Toil (docs/metrics.md): each team's share of logged hours spent on toil and on operational work.

The SRE book (ch. 5, "Eliminating Toil") caps toil at 50% of an SRE's time; its introduction
caps operational work (toil plus on-call) at 50% too. Both ratios are reported against *all*
logged hours, overhead included, as docs/metrics.md defines the toil ratio.
"""

from __future__ import annotations

import pandas as pd

from reliability.frames import WORK_CATEGORIES

TOIL_CAP = 0.5
"""Largest healthy share of time on toil, and on operational work (SRE book)."""

TOIL_COLUMNS = [
    "team",
    "toil_hours",
    "oncall_hours",
    "project_hours",
    "overhead_hours",
    "total_hours",
    "toil_ratio",
    "operational_ratio",
    "over_cap",
    "toil_over_cap",
]


def _over(ratio: pd.Series, cap: float) -> pd.Series:
    """``ratio > cap`` as a nullable boolean, NA where the ratio is unknown."""
    return (ratio > cap).astype("boolean").mask(ratio.isna())


def toil_summary(worklog: pd.DataFrame, teams: list[str] | None = None) -> pd.DataFrame:
    """Hours per category and toil / operational ratios per team, flagged against the 50% cap.

    Teams are listed in ``teams`` order, then other teams of the work log alphabetically; a
    listed team with no work-log rows has NaN hours and ratios (no data, not zero hours).
    """
    typed = worklog.astype({"team": "string", "category": "string"})
    hours = (
        typed.pivot_table(
            index="team",
            columns="category",
            values="hours",
            aggfunc="sum",
            fill_value=0.0,
            observed=True,
        )
        .reindex(columns=list(WORK_CATEGORIES), fill_value=0.0)
        .astype("float64")
    )
    listed = list(dict.fromkeys(teams or []))
    others = sorted(set(hours.index) - set(listed))
    hours = hours.reindex(pd.Index(listed + others, dtype="string", name="team"))
    total = hours.sum(axis=1, min_count=1)
    known_total = total.where(total > 0)
    toil_ratio = hours["toil"] / known_total
    operational_ratio = (hours["toil"] + hours["oncall"]) / known_total
    table = pd.DataFrame(
        {
            "toil_hours": hours["toil"],
            "oncall_hours": hours["oncall"],
            "project_hours": hours["project"],
            "overhead_hours": hours["overhead"],
            "total_hours": total,
            "toil_ratio": toil_ratio,
            "operational_ratio": operational_ratio,
            "over_cap": _over(operational_ratio, TOIL_CAP),
            "toil_over_cap": _over(toil_ratio, TOIL_CAP),
        },
        index=hours.index,
    )
    return table.reset_index()[TOIL_COLUMNS]


def overall_toil_ratio(toil: pd.DataFrame | None) -> float | None:
    """Toil hours over all logged hours of every team together; ``None`` without hours."""
    if toil is None:
        return None
    total = toil["total_hours"].sum()
    return float(toil["toil_hours"].sum() / total) if total > 0 else None
