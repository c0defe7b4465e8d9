"""Postmortem follow-through (docs/metrics.md, "Operations review"): for the incidents of the tiers
that require one (P1 and P2 by default), the share with a postmortem, the time from
resolution to it, and the action items still open.

A postmortem is due once an incident is resolved: open incidents are left out of ``n``. A
postmortem dated before the resolution (written while a long incident was still being
mitigated) counts as 0 hours. Each figure whose optional column no incident fills is
``None``, with its reason in ``reasons``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from reliability.metrics.incidents import DurationStats, duration_stats

DEFAULT_TIERS = ("P1", "P2")
"""Tiers whose incidents need a postmortem when the config names none."""
HOUR = pd.Timedelta(hours=1)
MISSING_COLUMNS = ["id", "service", "severity", "tier", "title", "resolved_at"]


@dataclass(frozen=True)
class PostmortemSummary:
    """Postmortems of the incidents that require one."""

    tiers: tuple[str, ...]
    required: int
    """Incidents of those tiers in the month."""
    n: int
    """Of them, those resolved (a postmortem is due)."""
    with_postmortem: int
    with_postmortem_share: float | None
    time_to_postmortem: DurationStats | None
    """Hours from ``resolved_at`` to ``postmortem_at``."""
    action_items_n: int | None
    """Postmortems that give ``action_items_open``."""
    action_items_open: int | None
    incidents_with_open_items: int | None
    missing: pd.DataFrame
    """The resolved incidents without a postmortem, in order of resolution."""
    reasons: dict[str, str] = field(default_factory=dict)


def postmortem_summary(
    incidents: pd.DataFrame, tier: pd.Series, tiers: tuple[str, ...] = DEFAULT_TIERS
) -> PostmortemSummary:
    """The postmortem figures of the incidents whose ``tier`` is one of ``tiers``."""
    required = tier.isin(list(tiers)).fillna(False).to_numpy(dtype=bool)
    chosen = incidents.loc[required].assign(tier=tier[required])
    due = chosen.loc[chosen["resolved_at"].notna()]
    url = due["postmortem_url"] if "postmortem_url" in due else pd.Series(pd.NA, index=due.index)
    has = url.astype("string").str.strip().fillna("") != ""
    reasons: dict[str, str] = {}
    written = due.loc[has]

    stats = None
    published = written["postmortem_at"] if "postmortem_at" in written else None
    if published is None or published.isna().all():
        reasons["time_to_postmortem"] = "no postmortem in the input gives postmortem_at"
    else:
        hours = ((published - written["resolved_at"]) / HOUR).astype(float).clip(lower=0)
        stats = duration_stats(hours, confidence=False)

    items_n = items_open = with_items = None
    counts = written["action_items_open"] if "action_items_open" in written else None
    if counts is None or counts.isna().all():
        reasons["action_items_open"] = "no postmortem in the input gives action_items_open"
    else:
        known = counts.dropna()
        items_n, items_open, with_items = len(known), int(known.sum()), int((known > 0).sum())

    title = due["title"] if "title" in due else pd.Series(pd.NA, index=due.index)
    missing = due.assign(title=title).loc[~has.to_numpy(dtype=bool), MISSING_COLUMNS]
    missing = missing.sort_values(["resolved_at", "id"], kind="stable").reset_index(drop=True)
    n = len(due)
    return PostmortemSummary(
        tiers=tuple(tiers),
        required=len(chosen),
        n=n,
        with_postmortem=int(has.sum()),
        with_postmortem_share=float(has.sum() / n) if n else None,
        time_to_postmortem=stats,
        action_items_n=items_n,
        action_items_open=items_open,
        incidents_with_open_items=with_items,
        missing=missing,
        reasons=reasons,
    )
