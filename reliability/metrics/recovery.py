"""Recovery targets (docs/metrics.md, "Operations review"): the share of incidents restored
within the RTO of their service and severity, the worst misses, and each service's RPO.

Restore time is measured from impact start (``started_at``, else ``created_at``) to
``resolved_at`` (``incidents.incident_durations``). An incident still open at the end of what
the month has seen (its end, or ``now``) counts as a miss once its impact has lasted longer
than its RTO, and is left out while it is still within it. Incidents of a severity without an
RTO are left out and counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reliability.metrics.incidents import MINUTE, normalise_label

WORST_MISSES = 5
"""How many misses the report lists, longest overrun first."""

SERVICE_COLUMNS = [
    "service",
    "incidents",
    "with_rto",
    "n",
    "within_rto",
    "missed",
    "within_rto_share",
    "open_within_rto",
    "rpo_minutes",
]
MISS_COLUMNS = [
    "id",
    "service",
    "severity",
    "title",
    "impact_start",
    "resolved_at",
    "restore_minutes",
    "rto_minutes",
    "over_by_minutes",
    "still_open",
]


@dataclass(frozen=True)
class RecoverySummary:
    """Incidents restored within their RTO: fleet-wide, per service, and the worst misses."""

    incidents: int
    """Incidents of the month."""
    with_rto: int
    """Those whose service and severity have an RTO."""
    n: int
    """Those judged: resolved, or open and already past their RTO."""
    within_rto: int
    within_rto_share: float | None
    by_service: pd.DataFrame
    worst_misses: pd.DataFrame
    misses: int


def _label_key(label: str) -> str:
    return str(normalise_label(pd.Series([label], dtype="string")).iloc[0])


def rto_minutes(
    incidents: pd.DataFrame, targets: dict[str, dict[str, float]], default: dict[str, float]
) -> pd.Series:
    """Each incident's RTO in minutes (NaN without one): its service's target for its severity,
    else the default for that severity; severities compare like ``SEV-1`` and ``sev1``."""
    keys = normalise_label(incidents["severity"]).fillna("").astype(str)
    general = keys.map({_label_key(k): m for k, m in default.items()}).astype("float64")
    pairs = {(s, _label_key(k)): m for s, chosen in targets.items() for k, m in chosen.items()}
    own = pd.Series(pairs, dtype="float64")
    if own.empty:
        return general
    index = pd.MultiIndex.from_arrays([incidents["service"].astype(str), keys])
    chosen = pd.Series(own.reindex(index).to_numpy(), index=incidents.index)
    return chosen.fillna(general)


def recovery_summary(
    durations: pd.DataFrame,
    rto: pd.Series,
    until: pd.Timestamp,
    services: list[str],
    rpo: dict[str, float] | None = None,
) -> RecoverySummary:
    """Share of incidents restored within their RTO, per service (``services`` first, in order,
    then any other), fleet-wide, and the ``WORST_MISSES`` longest overruns.

    ``durations`` is ``incidents.incident_durations``; ``rto`` its RTO in minutes (NaN: none);
    ``until`` the instant open incidents are measured to.
    """
    impact_start = durations["started_at"].fillna(durations["created_at"])
    still_open = durations["resolved_at"].isna()
    open_minutes = ((until - impact_start) / MINUTE).astype(float)
    restore = durations["restore_minutes"].where(~still_open, open_minutes)
    has_rto = rto.notna()
    over = restore - rto
    missed = has_rto & (over > 0)
    open_within = has_rto & still_open & ~missed
    judged = has_rto & restore.notna() & ~open_within
    within = judged & ~missed
    service = durations["service"].astype("string")
    grouped = (
        pd.DataFrame(
            {
                "incidents": 1,
                "with_rto": has_rto.astype(int),
                "n": judged.astype(int),
                "within_rto": within.astype(int),
                "missed": missed.astype(int),
                "open_within_rto": open_within.astype(int),
            }
        )
        .groupby(service, sort=False)
        .sum()
    )
    order = list(dict.fromkeys([*services, *sorted(grouped.index)]))
    table = grouped.reindex(pd.Index(order, dtype="string", name="service"), fill_value=0)
    table = table.astype("int64")
    table["within_rto_share"] = (table["within_rto"] / table["n"].where(table["n"] > 0)).astype(
        "float64"
    )
    table["rpo_minutes"] = pd.Series(rpo or {}, dtype="float64").reindex(table.index)
    table = table.reset_index()[SERVICE_COLUMNS]

    misses = durations.assign(
        impact_start=impact_start,
        restore_minutes=restore,
        rto_minutes=rto,
        over_by_minutes=over,
        still_open=still_open,
    ).loc[missed]
    misses = misses.sort_values(["over_by_minutes", "id"], ascending=[False, True], kind="stable")
    title = misses["title"] if "title" in misses else pd.Series(pd.NA, index=misses.index)
    worst = misses.assign(title=title)[MISS_COLUMNS].head(WORST_MISSES).reset_index(drop=True)
    n = int(judged.sum())
    return RecoverySummary(
        incidents=len(durations),
        with_rto=int(has_rto.sum()),
        n=n,
        within_rto=int(within.sum()),
        within_rto_share=float(within.sum() / n) if n else None,
        by_service=table,
        worst_misses=worst,
        misses=int(missed.sum()),
    )
