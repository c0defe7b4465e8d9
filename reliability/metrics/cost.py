"""Spend beside reliability (docs/metrics.md, "Cost"): the month's spend per service and per
team, what it bought in SLOs met, and what each service spends per nine of availability.

A charge counts in a month in proportion to the time its charge period spends in it (a
charge of 1 to 31 October and 1 November splits 30 : 1 ... by the hour), up to the end of
what the month has seen (``until``); a row dated by ``month`` counts whole in that month.
A charge whose service is not one of the report's is "unattributed": its own line, never
dropped. Amounts are converted to the report's currency with the config's rates; the input
was refused at the boundary if a currency has no rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reliability.metrics.slo import MET_STATUSES
from reliability.period import Month

UNATTRIBUTED = "unattributed"
"""The line of the spend no tag, mapping or ``service`` column puts on a report's service."""
NO_COST_INPUT = "no cost input configured"
NO_SLI_INPUT = "no SLI input"
NO_SLO_DATA = "no SLO with data this month"
NO_SLO_MET = "no SLO met this month"
PERFECT = "availability 100%: no finite number of nines"
NO_NINES = "availability 0%: not a single nine"
RANKED = 5
"""How many services the report names among those that spend the most per nine."""

SERVICE_COLUMNS = [
    "service",
    "team",
    "spend",
    "share",
    "slos_met",
    "slos_with_data",
    "cost_per_slo_met",
    "cost_per_slo_met_reason",
    "availability",
    "nines",
    "spend_per_nine",
    "spend_per_nine_reason",
    "rank_per_nine",
]
TEAM_COLUMNS = ["team", "services", "spend", "share"]
LABEL_COLUMNS = ["label", "spend"]


@dataclass(frozen=True)
class CostSummary:
    """The month's spend: fleet-wide, per service (the unattributed line last), per team."""

    currency: str
    charges: int
    """Charges (rows) with a part of their period in the month."""
    total: float
    """Every charge's part in the month, unattributed spend included."""
    attributed: float
    unattributed: float
    by_service: pd.DataFrame
    by_team: pd.DataFrame
    unattributed_by_label: pd.DataFrame
    """The unattributed spend per tag value or ``ServiceName`` (what a mapping would fix)."""
    top_per_nine: list[str]
    """The services that spend the most per nine of availability, most first (``RANKED``)."""


def month_share(cost: pd.DataFrame, period: Month, until: pd.Timestamp | None = None) -> pd.Series:
    """The share of each charge that falls in ``period`` (up to ``until``): the part of its
    charge period inside the month over the whole period; a charge of no length counts whole
    where it starts; a row with ``month`` counts whole in that month."""
    end_of_seen = period.end if until is None else min(until, period.end)
    start, end = cost["start"], cost["end"]
    length = (end - start).dt.total_seconds()
    overlap = (end.clip(upper=end_of_seen) - start.clip(lower=period.start)).dt.total_seconds()
    timed = (overlap.clip(lower=0) / length.where(length > 0)).astype("float64")
    instant = ((start >= period.start) & (start < end_of_seen)).astype("float64")
    timed = timed.where(length > 0, instant)
    month = cost["month"].astype("string")
    whole = (month == period.label).astype("float64")
    if period.start > end_of_seen:
        whole = whole * 0.0
    return whole.where(month.notna(), timed).fillna(0.0).astype("float64")


def attribute(
    cost: pd.DataFrame, services: Sequence[str], mapping: Mapping[str, str]
) -> pd.DataFrame:
    """Each charge's report service (NA: unattributed) and the label it came by.

    The ``service`` value (a FOCUS tag's, a canonical row's) through ``mapping`` or as it is,
    else the FOCUS ``ServiceName`` through ``mapping``; a name that is not one of
    ``services`` leaves the charge unattributed.
    """
    known = list(services)
    tag = cost["service"].astype("string")
    provider = cost["provider_service"].astype("string")
    by_tag = tag.map(dict(mapping)).astype("string").fillna(tag)
    by_provider = provider.map(dict(mapping)).astype("string")
    chosen = by_tag.where(by_tag.isin(known)).fillna(by_provider.where(by_provider.isin(known)))
    label = tag.fillna(provider).fillna("(no service tag)")
    return pd.DataFrame({"service": chosen.astype("string"), "label": label.astype("string")})


def converted(cost: pd.DataFrame, currency: str, rates: Mapping[str, float]) -> pd.Series:
    """Each charge's amount in ``currency`` (``rates``: units of it per unit of another)."""
    factor = cost["currency"].astype("string").map({**dict(rates), currency: 1.0})
    return (cost["amount"] * factor.astype("float64")).astype("float64")


def nines(availability: pd.Series) -> pd.Series:
    """Nines of availability, ``-log10(1 - availability)``: 0.999 is 3 nines; NaN at 1."""
    unavailable = (1.0 - availability.astype("float64")).where(lambda x: x > 0)
    return (-np.log10(unavailable)).astype("float64")


def slo_figures(
    slos: pd.DataFrame | None, services: Sequence[str], availability_slo: str
) -> pd.DataFrame:
    """Per service: SLOs met, SLOs with data and the availability SLO's SLI (NaN unknown),
    with the reason for each figure that cannot be computed from them."""
    index = pd.Index(list(services), dtype="string", name="service")
    if slos is None:
        return pd.DataFrame(
            {
                "slos_met": pd.Series(pd.NA, index=index, dtype="Int64"),
                "slos_with_data": pd.Series(pd.NA, index=index, dtype="Int64"),
                "availability": pd.Series(np.nan, index=index, dtype="float64"),
                "per_slo_reason": NO_SLI_INPUT,
                "nine_reason": NO_SLI_INPUT,
            },
            index=index,
        )
    service = slos["service"].astype("string")
    with_data = slos["status"] != "no_data"
    grouped = pd.DataFrame(
        {"met": slos["status"].isin(MET_STATUSES) & with_data, "data": with_data}
    ).groupby(service, sort=False)
    counts = grouped.sum().reindex(index, fill_value=0).astype("int64")
    named = slos.loc[(slos["slo"].astype("string") == availability_slo).to_numpy()]
    has_slo = pd.Series(index.isin(named["service"].astype("string")), index=index)
    sli = named.loc[named["status"] != "no_data"].set_index(
        named.loc[named["status"] != "no_data", "service"].astype("string")
    )["sli"]
    availability = sli.astype("float64").reindex(index)
    per_slo = np.select(
        [counts["data"] == 0, counts["met"] == 0], [NO_SLO_DATA, NO_SLO_MET], default=""
    )
    nine = np.select(
        [~has_slo, availability.isna(), availability >= 1.0, availability <= 0.0],
        [
            f"no SLO named {availability_slo}",
            f"no {availability_slo} data this month",
            PERFECT,
            NO_NINES,
        ],
        default="",
    )
    return pd.DataFrame(
        {
            "slos_met": counts["met"].astype("Int64"),
            "slos_with_data": counts["data"].astype("Int64"),
            "availability": availability,
            "per_slo_reason": per_slo,
            "nine_reason": nine,
        },
        index=index,
    )


def cost_summary(
    cost: pd.DataFrame,
    period: Month,
    service_teams: Mapping[str, str],
    currency: str,
    *,
    rates: Mapping[str, float] | None = None,
    mapping: Mapping[str, str] | None = None,
    slos: pd.DataFrame | None = None,
    availability_slo: str = "availability",
    until: pd.Timestamp | None = None,
) -> CostSummary | None:
    """The month's spend per service (in ``service_teams``' order, the unattributed line
    last) and per team, cost per SLO met and spend per nine; ``None`` when no charge has a
    part in the month (no data, which is not a month that cost nothing)."""
    share = month_share(cost, period, until)
    in_month = (share > 0).to_numpy()
    if not in_month.any():
        return None
    services = list(service_teams)
    charges = cost.loc[in_month].reset_index(drop=True)
    spend = converted(charges, currency, rates or {}) * share[in_month].to_numpy()
    owner = attribute(charges, services, mapping or {})
    per_service = spend.groupby(owner["service"], sort=False).sum()
    index = pd.Index(services, dtype="string", name="service")
    table = pd.DataFrame({"spend": per_service.reindex(index, fill_value=0.0)}, index=index)
    figures = slo_figures(slos, services, availability_slo)
    table = table.join(figures)
    table["team"] = pd.Series(dict(service_teams), dtype="string").reindex(index)
    total = float(spend.sum())
    unattributed_mask = owner["service"].isna().to_numpy()
    unattributed = float(spend[unattributed_mask].sum())
    table["share"] = table["spend"] / total if total else np.nan
    met = table["slos_met"].astype("float64")
    table["cost_per_slo_met"] = (table["spend"] / met.where(met > 0)).astype("float64")
    table["cost_per_slo_met_reason"] = _reason(table.pop("per_slo_reason"))
    table["nines"] = nines(table["availability"])
    usable = table["nines"].where(table["nines"] > 0)
    table["spend_per_nine"] = (table["spend"] / usable).astype("float64")
    table["spend_per_nine_reason"] = _reason(table.pop("nine_reason"))
    table["rank_per_nine"] = (
        table["spend_per_nine"].rank(method="first", ascending=False).astype("Int64")
    )
    line = pd.DataFrame(
        {
            "team": pd.Series([pd.NA], dtype="string"),
            "spend": [unattributed],
            "share": [unattributed / total if total else np.nan],
            "cost_per_slo_met_reason": ["not a service of the report"],
            "spend_per_nine_reason": ["not a service of the report"],
        },
        index=pd.Index([UNATTRIBUTED], dtype="string", name="service"),
    )
    by_service = pd.concat([table, line]).reset_index()
    by_service = by_service.astype({"slos_met": "Int64", "slos_with_data": "Int64"})
    by_service = by_service.astype({"rank_per_nine": "Int64"})[SERVICE_COLUMNS]

    teams = table.groupby("team", sort=False).agg(
        services=("spend", "size"), spend=("spend", "sum")
    )
    order = list(dict.fromkeys(service_teams.values()))
    teams = teams.reindex(pd.Index(order, dtype="string", name="team"))
    teams.loc[UNATTRIBUTED] = [0, unattributed]
    teams["share"] = teams["spend"] / total if total else np.nan
    by_team = teams.reset_index().astype({"services": "int64"})[TEAM_COLUMNS]

    labels = spend[unattributed_mask].groupby(owner.loc[unattributed_mask, "label"]).sum()
    by_label = labels.rename("spend").rename_axis("label").reset_index()
    by_label = by_label.sort_values(["spend", "label"], ascending=[False, True], kind="stable")
    ranked = table.loc[table["rank_per_nine"].notna()].sort_values("rank_per_nine")
    return CostSummary(
        currency=currency,
        charges=len(charges),
        total=total,
        attributed=total - unattributed,
        unattributed=unattributed,
        by_service=by_service,
        by_team=by_team,
        unattributed_by_label=by_label.reset_index(drop=True)[LABEL_COLUMNS],
        top_per_nine=[str(s) for s in ranked.index[:RANKED]],
    )


def _reason(reasons: pd.Series) -> pd.Series:
    """Reasons as text, missing (``NA``) where the figure is known."""
    text = reasons.astype("string")
    return text.mask(text == "")
