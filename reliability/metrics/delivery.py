"""Delivery (DORA): deployment frequency, lead time, change failure rate, recovery.

Only production deployments count: those whose ``environment`` is empty or one of the
configured production environments (case-insensitive). A deployment *failed* when its status is
``failed`` or ``rolled_back`` or some incident names it in ``caused_by``; the change failure rate
is counted per deployment, never per incident (fourkeys counts a deployment once per incident
that names it, which can push the rate above 100%).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from reliability.period import Month

HOUR = pd.Timedelta(hours=1)
MINUTE = pd.Timedelta(minutes=1)
FAILED_STATUSES = ("failed", "rolled_back")
DEFAULT_PRODUCTION = ("production", "prod")

DORA_2023_BANDS: dict[str, tuple[Callable[[Any, float], Any], tuple[tuple[str, float], ...]]] = {
    # metric: (value qualifies for a band when `compare(value, limit)`, bands best first).
    # A value that qualifies for none is "low"; a missing value has no band.
    "frequency": (operator.ge, (("elite", 1.0), ("high", 1 / 7), ("medium", 1 / 31))),
    # ^ deployments per calendar day: daily, weekly, monthly (a month read as 31 days, so one
    #   deployment in any calendar month is "medium").
    "lead_time": (operator.lt, (("elite", 24.0), ("high", 7 * 24.0), ("medium", 30 * 24.0))),
    # ^ hours: under a day, a week, a month (30 days).
    "change_failure": (operator.le, (("elite", 0.05), ("high", 0.10), ("medium", 0.15))),
    # ^ fraction of deployments: the 2023 cluster values 5%, 10%, 15% (low: 64%).
    "recovery": (operator.lt, (("elite", 60.0), ("high", 24 * 60.0), ("medium", 7 * 24 * 60.0))),
    # ^ minutes: under an hour, a day, a week.
}
"""DORA 2023 performance levels read as thresholds (the report describes clusters; see
docs/metrics.md for why reading them as thresholds is our choice)."""
BANDS = ("elite", "high", "medium", "low")
MIN_DEPLOYMENTS_FOR_BAND = 5
"""Below this many production deployments no DORA band is given (``small_sample``): one
deployment more or less would move it."""
SMALL_SAMPLE = "small_sample"
RECOVERY_SOURCES = ("incident", "next_deployment")
"""How a failed deployment's recovery was found: its incident's resolution, or only the
next successful deployment of the service (which can be days later on a quiet service)."""

SUMMARY_COLUMNS = [
    "deployments",
    "deployments_per_week",
    "failed_deployments",
    "change_failure_rate",
    "lead_time_n",
    "lead_time_median_hours",
    "recovery_n",
    "recovery_from_next_deployment_n",
    "recovery_median_minutes",
    "frequency_band",
    "lead_time_band",
    "change_failure_band",
    "recovery_band",
    "band_withheld",
]


def dora_band(metric: str, values: pd.Series) -> pd.Series:
    """The DORA 2023 band of each value of ``metric`` (a key of ``DORA_2023_BANDS``); NA if NaN."""
    if metric not in DORA_2023_BANDS:
        known = ", ".join(DORA_2023_BANDS)
        raise ValueError(f"unknown DORA metric {metric!r} (expected one of {known})")
    compare, levels = DORA_2023_BANDS[metric]
    numbers = pd.Series(values, dtype="float64")
    conditions = [np.asarray(compare(numbers, limit), dtype=bool) for _, limit in levels]
    labels = np.select(conditions, [band for band, _ in levels], default="low")
    return pd.Series(labels, index=numbers.index, dtype="string").mask(numbers.isna())


def production_deployments(
    deployments: pd.DataFrame, production_environments: Iterable[str] = DEFAULT_PRODUCTION
) -> pd.DataFrame:
    """Deployments with no ``environment`` or one of ``production_environments`` (any case)."""
    if "environment" not in deployments.columns:
        return deployments.reset_index(drop=True)
    wanted = [name.strip().casefold() for name in production_environments]
    environment = deployments["environment"].astype("string").fillna("").str.strip().str.casefold()
    keep = (environment == "") | environment.isin(wanted)
    return deployments.loc[keep.to_numpy(dtype=bool)].reset_index(drop=True)


def deployment_facts(
    deployments: pd.DataFrame,
    incidents: pd.DataFrame | None,
    production_environments: Iterable[str] = DEFAULT_PRODUCTION,
) -> pd.DataFrame:
    """One row per production deployment: ``failed``, ``lead_time_hours``, ``recovery_minutes``
    and ``recovery_source``.

    Recovery of a failed deployment ends at the earliest ``resolved_at`` (not before the
    deployment) of the incidents naming it (source ``incident``), else at the next
    successful, not itself failed, deployment of the same service (``next_deployment``);
    NaN when neither is known.
    """
    prod = production_deployments(deployments, production_environments)
    prod = prod.assign(id=prod["id"].astype("string"), service=prod["service"].astype("string"))
    deployed = prod["deployed_at"]

    if incidents is not None and "caused_by" in incidents.columns:
        causes = incidents.loc[incidents["caused_by"].notna(), ["caused_by", "resolved_at"]]
        causes = causes.assign(caused_by=causes["caused_by"].astype("string").str.strip())
    else:
        causes = pd.DataFrame(
            {
                "caused_by": pd.Series([], dtype="string"),
                "resolved_at": pd.Series([], dtype="datetime64[ns, UTC]"),
            }
        )
    named = prod["id"].isin(causes["caused_by"]).to_numpy(dtype=bool)
    failed = prod["status"].astype("string").isin(FAILED_STATUSES).to_numpy(dtype=bool) | named

    linked = prod[["id", "deployed_at"]].merge(causes, left_on="id", right_on="caused_by")
    linked = linked.loc[linked["resolved_at"] >= linked["deployed_at"]]
    first_resolved = linked.groupby("id")["resolved_at"].min()
    resolved_end = pd.Series(
        first_resolved.reindex(prod["id"].to_numpy()).to_numpy(),
        index=prod.index,
        dtype="datetime64[ns, UTC]",
    )

    successes = prod.loc[(prod["status"] == "success").to_numpy(dtype=bool) & ~failed]
    successes = successes[["service", "deployed_at"]].rename(columns={"deployed_at": "next_at"})
    ordered = prod[["service", "deployed_at"]].reset_index(names="row")
    following = pd.merge_asof(
        ordered.sort_values("deployed_at", kind="stable"),
        successes.sort_values("next_at", kind="stable"),
        left_on="deployed_at",
        right_on="next_at",
        by="service",
        direction="forward",
        allow_exact_matches=False,
    ).set_index("row")["next_at"]
    next_success = following.reindex(prod.index).astype("datetime64[ns, UTC]")

    recovery = (resolved_end.fillna(next_success) - deployed) / MINUTE
    source = pd.Series(
        np.select(
            [resolved_end.notna().to_numpy(), next_success.notna().to_numpy()],
            list(RECOVERY_SOURCES),
            default="",
        ),
        index=prod.index,
        dtype="string",
    )
    source = source.mask((source == "") | ~pd.Series(failed, index=prod.index))
    lead = (deployed - prod["commit_at"]) / HOUR if "commit_at" in prod.columns else np.nan
    lead = pd.Series(lead, index=prod.index, dtype="float64")
    return pd.DataFrame(
        {
            "id": prod["id"],
            "service": prod["service"],
            "deployed_at": deployed,
            "status": prod["status"].astype("string"),
            "failed": failed,
            "lead_time_hours": lead.where(lead > 0),
            "recovery_minutes": recovery.astype("float64").where(failed),
            "recovery_source": source,
        }
    )


def _summarise(facts: pd.DataFrame, keys: pd.Series, month: Month) -> pd.DataFrame:
    """The delivery figures of each group of deployments that share a key."""
    grouped = facts.groupby(keys, sort=True)
    count = grouped.size()
    failed = grouped["failed"].sum().astype("int64")
    table = pd.DataFrame(
        {
            "deployments": count.astype("int64"),
            "deployments_per_week": count / (month.days / 7),
            "failed_deployments": failed,
            "change_failure_rate": failed / count,
            "lead_time_n": grouped["lead_time_hours"].count().astype("int64"),
            "lead_time_median_hours": grouped["lead_time_hours"].median(),
            "recovery_n": grouped["recovery_minutes"].count().astype("int64"),
            "recovery_from_next_deployment_n": (
                (facts["recovery_source"] == "next_deployment")
                .fillna(False)
                .groupby(keys, sort=True)
                .sum()
                .astype("int64")
            ),
            "recovery_median_minutes": grouped["recovery_minutes"].median(),
        }
    )
    # Bands count per calendar day, so a DST hour never moves a service across a band.
    per_calendar_day = table["deployments"] / max(1, round(month.days))
    small = table["deployments"] < MIN_DEPLOYMENTS_FOR_BAND
    bands = {
        "frequency_band": dora_band("frequency", per_calendar_day),
        "lead_time_band": dora_band("lead_time", table["lead_time_median_hours"]),
        "change_failure_band": dora_band("change_failure", table["change_failure_rate"]),
        "recovery_band": dora_band("recovery", table["recovery_median_minutes"]),
    }
    withheld = pd.Series(SMALL_SAMPLE, index=table.index, dtype="string").where(small)
    return table.assign(
        **{name: band.mask(small) for name, band in bands.items()}, band_withheld=withheld
    )[SUMMARY_COLUMNS]


def delivery_summary(
    deployments: pd.DataFrame,
    incidents: pd.DataFrame | None,
    month: Month,
    production_environments: Iterable[str] = DEFAULT_PRODUCTION,
) -> pd.DataFrame:
    """DORA figures and bands per service with production deployments in ``month``."""
    facts = deployment_facts(deployments, incidents, production_environments)
    table = _summarise(facts, facts["service"].rename("service"), month)
    table.index = table.index.astype("string")
    return table.rename_axis("service").reset_index()


def fleet_delivery(
    deployments: pd.DataFrame,
    incidents: pd.DataFrame | None,
    month: Month,
    production_environments: Iterable[str] = DEFAULT_PRODUCTION,
) -> dict[str, Any]:
    """The same DORA figures over all production deployments, as plain values (None if unknown).

    With no deployments the counts are 0, the rate per week is 0.0, every other figure is
    ``None`` and no band is given (``small_sample``).
    """
    facts = deployment_facts(deployments, incidents, production_environments)
    table = _summarise(facts, pd.Series("all", index=facts.index, dtype="string"), month)
    if table.empty:
        table = _empty_fleet(month)
    row = table.iloc[0]
    return {name: _plain(row[name]) for name in SUMMARY_COLUMNS}


def _empty_fleet(month: Month) -> pd.DataFrame:
    """The fleet row of a month without production deployments."""
    counts = dict.fromkeys(
        ("deployments", "failed_deployments", "lead_time_n", "recovery_n"), 0
    ) | {"recovery_from_next_deployment_n": 0}
    row = {name: counts.get(name, np.nan) for name in SUMMARY_COLUMNS}
    row["deployments_per_week"] = 0.0
    row["band_withheld"] = SMALL_SAMPLE
    return pd.DataFrame([row], columns=SUMMARY_COLUMNS)


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as a plain Python value; NaN and NA as ``None``."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and np.isnan(value) else value
    return value
