"""Hero load (docs/metrics.md, "Operations review"): per team, the share of incidents and of
off-hours pages handled by its top responder, flagged over a share.

"The same person always fixes production" is an on-call anti-pattern: the team depends on one
person's knowledge and sleep. An incident's responder is the person who handled it (the
``responder`` column: PagerDuty's first acknowledger, or a CSV's own column). Incidents
without a responder are left out of ``n``. The figures keep the responders' names; how the
report shows them and whether ``metrics.json`` carries them is the config's choice
(``responders``), carried on the summary for the report to follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from reliability.metrics.oncall import UNASSIGNED

HERO_SHARE = 0.5
"""Default share of a team's incidents (or off-hours pages) above which its top responder
carries the team: the flag's threshold when the config gives none."""
MIN_HANDLED = 5
"""Fewest incidents (or off-hours pages) with a responder for a team's share to be judged:
below it one person handling all of them is no pattern yet, and the flag is ``None``."""
Display = Literal["names", "initials", "hidden"]

HERO_COLUMNS = [
    "team",
    "incidents",
    "handled",
    "responders",
    "top_responder",
    "top_handled",
    "top_share",
    "off_hours_pages",
    "off_hours_top_responder",
    "off_hours_top_handled",
    "off_hours_top_share",
    "hero",
]
NAME_COLUMNS = ("top_responder", "off_hours_top_responder")
"""The columns that hold a person's name."""


@dataclass(frozen=True)
class HeroLoad:
    """Per team: how much of the month's response rested on one person."""

    table: pd.DataFrame
    """One row per team (``HERO_COLUMNS``), in the config's team order."""
    max_share: float
    display: Display = "initials"
    """How the report names responders: in full, by initials, or not at all."""
    names_in_json: bool = False
    """Whether ``metrics.json`` carries the responders' names."""
    reasons: dict[str, str] = field(default_factory=dict)


def _top(handled: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per ``group``: the responder who handled the most rows (ties: the first by name), their
    count, the group's count with a responder and its number of distinct responders."""
    counts = handled.groupby([group, "responder"], observed=True).size().rename("count")
    counts = counts.reset_index().sort_values(
        [group, "count", "responder"], ascending=[True, False, True], kind="stable"
    )
    first = counts.drop_duplicates(group).set_index(group)
    per_group = counts.groupby(group, observed=True)["count"]
    return pd.DataFrame(
        {
            "top": first["responder"],
            "top_count": first["count"],
            "n": per_group.sum(),
            "distinct": per_group.size(),
        }
    )


def _judged(top_count: pd.Series, n: pd.Series, max_share: float) -> pd.Series:
    """Whether the top share is over ``max_share``; ``NA`` below ``MIN_HANDLED``."""
    over = (top_count / n.where(n > 0)) > max_share
    return over.astype("boolean").where(n >= MIN_HANDLED, pd.NA)


def hero_load(
    incidents: pd.DataFrame,
    service_teams: dict[str, str],
    off_hours_page: pd.Series,
    max_share: float | None = None,
    display: Display = "initials",
    names_in_json: bool = False,
) -> HeroLoad:
    """Per team owning the incidents' services: the top responder's share of the incidents
    and of the off-hours pages that name a responder, and whether either is over
    ``max_share`` (``None``: ``HERO_SHARE``). ``off_hours_page`` marks the incidents that
    paged someone outside business hours (``metrics.oncall``). Teams follow
    ``service_teams``, then ``(unassigned)``."""
    max_share = HERO_SHARE if max_share is None else max_share
    team = incidents["service"].astype("string").map(service_teams).astype("string")
    team = team.fillna(UNASSIGNED)
    responder = incidents["responder"] if "responder" in incidents else None
    if responder is None:
        responder = pd.Series(pd.NA, index=incidents.index, dtype="string")
    responder = responder.astype("string").str.strip().replace("", pd.NA)
    off_page = off_hours_page.to_numpy(dtype=bool)
    frame = pd.DataFrame({"team": team, "responder": responder, "off_page": off_page})
    handled = frame.loc[frame["responder"].notna()]
    known = list(dict.fromkeys(service_teams.values()))
    order = pd.Index(known + sorted(set(team) - set(known)), dtype="string", name="team")

    everyone = _top(handled, "team").reindex(order)
    night = _top(handled.loc[handled["off_page"]], "team").reindex(order)
    n = everyone["n"].fillna(0).astype("int64")
    night_n = night["n"].fillna(0).astype("int64")
    by_incidents = _judged(everyone["top_count"], n, max_share)
    by_night = _judged(night["top_count"], night_n, max_share)
    # Over the share by either measure flags the team; judged by neither leaves it unknown.
    hero = (by_incidents.fillna(False) | by_night.fillna(False)).astype("boolean")
    hero = hero.where(by_incidents.notna() | by_night.notna(), pd.NA)

    table = pd.DataFrame(
        {
            "incidents": team.value_counts().reindex(order, fill_value=0).astype("int64"),
            "handled": n,
            "responders": everyone["distinct"].fillna(0).astype("int64"),
            "top_responder": everyone["top"].astype("string"),
            "top_handled": everyone["top_count"].astype("Int64"),
            "top_share": (everyone["top_count"] / n.where(n > 0)).astype("float64"),
            "off_hours_pages": night_n,
            "off_hours_top_responder": night["top"].astype("string"),
            "off_hours_top_handled": night["top_count"].astype("Int64"),
            "off_hours_top_share": (night["top_count"] / night_n.where(night_n > 0)).astype(
                "float64"
            ),
            "hero": hero,
        },
        index=order,
    )
    reasons = {}
    if handled.empty:
        reasons["hero"] = "no incident of the month names a responder"
    return HeroLoad(
        table=table.reset_index()[HERO_COLUMNS],
        max_share=max_share,
        display=display,
        names_in_json=names_in_json,
        reasons=reasons,
    )
