"""Response against alert tiers (docs/metrics.md, "Operations review"): the share of incidents
acknowledged within their tier's response target.

Each incident gets a tier (P1, P2, ... as the alert policy names its tiers) from its severity,
else its urgency; each tier has a response target: a duration, the next business day, or
none. Response is MTTA's measure, ``acknowledged_at - created_at``; an incident never
acknowledged is left out of ``n`` (as it is of MTTA) and counted as unacknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from reliability.metrics.incidents import MINUTE, normalise_label

TargetKind = Literal["duration", "next_business_day", "none"]
NEXT_BUSINESS_DAY = "next_business_day"
NO_TARGET = "none"
DEFAULT_TARGETS: dict[str, str] = {"P1": "5m", "P2": "1h", "P3": NEXT_BUSINESS_DAY, "P4": NO_TARGET}
"""The default tiers and their response targets, most urgent first."""
FALLBACK_RANKS: dict[str, int] = {
    **dict.fromkeys(("sev0", "sev1", "p0", "p1", "critical"), 0),
    **dict.fromkeys(("sev2", "p2", "major", "high", "error"), 1),
    **dict.fromkeys(("sev3", "p3", "minor", "medium", "moderate", "warning"), 2),
}
"""Tier position of common severity labels when no ``severities`` are configured (compared as
``incidents.normalise_label`` does); any other label gets the last tier."""
WORST_MISSES = 10
"""How many late acknowledgements the report lists, latest first."""


@dataclass(frozen=True)
class ResponseTier:
    """One alert tier: its name, response target, and the labels that map to it."""

    name: str
    kind: TargetKind
    target: pd.Timedelta | None = None
    """The response target when ``kind`` is ``duration``."""
    severities: tuple[str, ...] = field(default_factory=tuple)
    urgencies: tuple[str, ...] = field(default_factory=tuple)

    @property
    def target_label(self) -> str:
        """The target in words: ``5 min``, ``1 h``, ``next business day``, ``none``."""
        if self.kind == "none":
            return "none"
        if self.kind == "next_business_day":
            return "next business day"
        minutes = int(self.target / MINUTE)
        if minutes % 1440 == 0:
            return f"{minutes // 1440} d"
        if minutes % 60 == 0:
            return f"{minutes // 60} h"
        return f"{minutes} min"


def _key(label: str) -> str:
    return str(normalise_label(pd.Series([label], dtype="string")).iloc[0])


def incident_tiers(
    incidents: pd.DataFrame, tiers: list[ResponseTier], severities: list[str] | None
) -> pd.Series:
    """The tier of each incident (NA: none).

    When some tier lists ``severities`` or ``urgencies``, those decide (severity first, then
    urgency; an incident matching neither has no tier). Otherwise tiers follow the severity
    order: the most severe configured level is the first tier, the next the second, and the
    last tier serves the rest (as ``policy.assign_tiers`` does for alert windows); without
    configured severities, common labels are ranked by ``FALLBACK_RANKS``.
    """
    names = [tier.name for tier in tiers]
    keys = normalise_label(incidents["severity"]).fillna("").astype(str)
    if any(tier.severities or tier.urgencies for tier in tiers):
        by_severity: dict[str, str] = {}
        by_urgency: dict[str, str] = {}
        for tier in tiers:
            for label in tier.severities:
                by_severity.setdefault(_key(label), tier.name)
            for label in tier.urgencies:
                by_urgency.setdefault(label.strip().casefold(), tier.name)
        urgency = (
            incidents["urgency"].astype("string").str.strip().str.casefold()
            if "urgency" in incidents
            else pd.Series(pd.NA, index=incidents.index, dtype="string")
        )
        chosen = keys.map(by_severity).astype("string")
        return chosen.fillna(urgency.map(by_urgency).astype("string")).rename("tier")
    if severities:
        ranks = {_key(label): i for i, label in reversed(list(enumerate(severities)))}
    else:
        ranks = FALLBACK_RANKS
    last = len(names) - 1
    position = keys.map(ranks).fillna(last).astype(int).clip(upper=last)
    picked = np.asarray(names, dtype=object)[position.to_numpy()]
    return pd.Series(picked, index=incidents.index, dtype="string", name="tier")


def next_business_day_end(
    instants: pd.Series, timezone: str, end: int, weekdays: list[int]
) -> pd.Series:
    """For each UTC instant: the end of business hours (``end`` o'clock) on the first business
    day after its local calendar day in ``timezone`` (weekdays 0 = Monday), as a UTC instant."""
    local = instants.dt.tz_convert(timezone)
    days = local.dt.tz_localize(None).dt.normalize().to_numpy().astype("datetime64[D]")
    mask = [day in weekdays for day in range(7)]
    if not any(mask):
        return pd.Series(pd.NaT, index=instants.index, dtype="datetime64[ns, UTC]")
    following = np.busday_offset(days + np.timedelta64(1, "D"), 0, roll="forward", weekmask=mask)
    closing = pd.to_datetime(following.astype("datetime64[ns]")) + pd.Timedelta(hours=end)
    zoned = pd.DatetimeIndex(closing).tz_localize(
        timezone, ambiguous="NaT", nonexistent="shift_forward"
    )
    return pd.Series(zoned.tz_convert("UTC"), index=instants.index)


def response_deadlines(
    incidents: pd.DataFrame,
    tier: pd.Series,
    tiers: list[ResponseTier],
    timezone: str,
    business_hours: tuple[int, list[int]],
) -> pd.Series:
    """The instant by which each incident should have been acknowledged (NaT: no target);
    ``business_hours`` is (closing hour, business weekdays)."""
    created = incidents["created_at"]
    result = pd.Series(pd.NaT, index=incidents.index, dtype="datetime64[ns, UTC]")
    business_day = next_business_day_end(created, timezone, *business_hours)
    for spec in tiers:
        chosen = (tier == spec.name).fillna(False).to_numpy(dtype=bool)
        if spec.kind == "duration":
            result = result.mask(chosen, created + spec.target)
        elif spec.kind == "next_business_day":
            result = result.mask(chosen, business_day)
    return result


TIER_COLUMNS = [
    "tier",
    "target",
    "target_minutes",
    "incidents",
    "n",
    "within_target",
    "missed",
    "within_target_share",
    "unacknowledged",
]
SERVICE_TIER_COLUMNS = ["service", "tier", "incidents", "n", "within_target", "within_target_share"]
MISS_COLUMNS = [
    "id",
    "service",
    "severity",
    "tier",
    "title",
    "created_at",
    "acknowledged_at",
    "deadline",
    "tta_minutes",
    "over_by_minutes",
]


@dataclass(frozen=True)
class TierResponseSummary:
    """Acknowledged within target, per tier and over every tier with a target."""

    n: int
    """Acknowledged incidents of tiers with a target."""
    within_target: int
    within_target_share: float | None
    by_tier: pd.DataFrame
    misses: pd.DataFrame
    """Every late acknowledgement, latest first (the report lists ``WORST_MISSES``)."""
    without_tier: int
    """Incidents whose severity and urgency map to no tier."""
    by_service: pd.DataFrame | None = None
    """Per service and tier with incidents (``SERVICE_TIER_COLUMNS``), for the service pages."""


def tier_response(
    incidents: pd.DataFrame,
    tiers: list[ResponseTier],
    severities: list[str] | None,
    timezone: str,
    business_hours: tuple[int, list[int]],
) -> TierResponseSummary:
    """The share of incidents acknowledged within their tier's target, with ``n``, per tier (in
    config order) and overall, and the incidents that missed it."""
    tier = incident_tiers(incidents, tiers, severities)
    deadline = response_deadlines(incidents, tier, tiers, timezone, business_hours)
    acknowledged = incidents["acknowledged_at"]
    has_target = deadline.notna()
    acked = acknowledged.notna()
    judged = has_target & acked
    late = judged & (acknowledged > deadline)
    within = judged & ~late
    frame = pd.DataFrame(
        {
            "incidents": tier.notna().astype(int),
            "acked": acked.astype(int),
            "judged": judged.astype(int),
            "within": within.astype(int),
            "late": late.astype(int),
        }
    )
    sums = frame.groupby(tier, sort=False).sum()
    sums = sums.reindex(pd.Index([s.name for s in tiers], dtype="string"), fill_value=0)
    with_target = pd.Series([s.kind != "none" for s in tiers], index=sums.index)
    n = sums["acked"]
    table = pd.DataFrame(
        {
            "tier": sums.index,
            "target": [s.target_label for s in tiers],
            "target_minutes": [
                float(s.target / MINUTE) if s.kind == "duration" else None for s in tiers
            ],
            "incidents": sums["incidents"].astype("int64").to_numpy(),
            "n": n.astype("int64").to_numpy(),
            "within_target": sums["within"].astype("Int64").mask(~with_target).array,
            "missed": sums["late"].astype("Int64").mask(~with_target).array,
            "within_target_share": (sums["within"] / n.where((n > 0) & with_target))
            .astype("float64")
            .to_numpy(),
            "unacknowledged": (sums["incidents"] - n).astype("int64").to_numpy(),
        },
        columns=TIER_COLUMNS,
    )
    tta = ((acknowledged - incidents["created_at"]) / MINUTE).astype(float)
    title = incidents["title"] if "title" in incidents else pd.Series(pd.NA, index=incidents.index)
    misses = incidents.assign(
        tier=tier,
        title=title,
        deadline=deadline,
        tta_minutes=tta,
        over_by_minutes=((acknowledged - deadline) / MINUTE).astype(float),
    ).loc[late.to_numpy(dtype=bool), MISS_COLUMNS]
    misses = misses.sort_values(["over_by_minutes", "id"], ascending=[False, True], kind="stable")
    keys = [incidents["service"].astype("string").rename("service"), tier.rename("tier")]
    per_service = frame.groupby(keys, sort=False, observed=True).sum().reset_index()
    target_of = {s.name: s.kind != "none" for s in tiers}
    judged_n = per_service["acked"].where(per_service["tier"].map(target_of).fillna(False))
    order = {s.name: position for position, s in enumerate(tiers)}
    by_service = (
        per_service.assign(
            n=per_service["acked"],
            within_target=per_service["within"].where(judged_n.notna()).astype("Int64"),
            within_target_share=(per_service["within"] / judged_n.where(judged_n > 0)).astype(
                "float64"
            ),
            rank=per_service["tier"].map(order),
        )
        .sort_values(["service", "rank"], kind="stable")
        .reset_index(drop=True)[SERVICE_TIER_COLUMNS]
    )
    total = int(judged.sum())
    return TierResponseSummary(
        n=total,
        within_target=int(within.sum()),
        within_target_share=float(within.sum() / total) if total else None,
        by_tier=table,
        misses=misses.reset_index(drop=True),
        without_tier=int(tier.isna().sum()),
        by_service=by_service,
    )
