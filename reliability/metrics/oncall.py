"""On-call load: pages per 12-hour shift and the share of pages outside business hours.

The SRE book (ch. 11, "Being On-Call") sets a ceiling of two incidents per 12-hour on-call
shift. A team is assumed to run one rotation covering the whole month, so the month holds
``hours / 12`` shifts and the figure is the month's average; a month under the ceiling on
average can still have had bad shifts.
"""

from __future__ import annotations

import pandas as pd

from reliability.config import BusinessHours
from reliability.metrics.incidents import pages
from reliability.period import Month

PAGES_PER_SHIFT_LIMIT = 2
"""The SRE book's ceiling: at most two incidents per 12-hour shift."""
SHIFT = pd.Timedelta(hours=12)
UNASSIGNED = "(unassigned)"
"""The team of incidents whose service no configured team owns."""

ONCALL_COLUMNS = [
    "team",
    "pages",
    "shifts",
    "pages_per_shift",
    "off_hours_pages",
    "off_hours_share",
    "over_limit",
]


def off_hours(instants: pd.Series, timezone: str, business_hours: BusinessHours) -> pd.Series:
    """Whether each UTC instant falls outside business hours in ``timezone``."""
    local = instants.dt.tz_convert(timezone)
    hour = local.dt.hour
    working = (
        local.dt.day_of_week.isin(business_hours.weekdays)
        & (hour >= business_hours.start)
        & (hour < business_hours.end)
    )
    return ~working.astype(bool)


def oncall_load(
    incidents: pd.DataFrame,
    service_teams: dict[str, str],
    month: Month,
    timezone: str,
    business_hours: BusinessHours,
    severities: list[str] | None,
) -> pd.DataFrame:
    """Pages per 12-hour shift and off-hours share of pages, per team owning the services.

    Every team of ``service_teams`` appears (0 pages is a real figure when incidents are
    known), then ``(unassigned)`` when some incident's service has no team. The off-hours
    share is NaN for a team without pages.
    """
    is_page = pages(incidents, severities).to_numpy(dtype=bool)
    team = incidents["service"].astype("string").map(service_teams).astype("string")
    team = team.fillna(UNASSIGNED)
    off = off_hours(incidents["created_at"], timezone, business_hours).to_numpy(dtype=bool)
    page_count = pd.Series(is_page, index=incidents.index).groupby(team).sum()
    off_count = pd.Series(is_page & off, index=incidents.index).groupby(team).sum()

    known = list(dict.fromkeys(service_teams.values()))
    extra = sorted(set(team) - set(known))
    order = pd.Index(known + extra, dtype="string", name="team")
    page_count = page_count.reindex(order, fill_value=0).astype("int64")
    off_count = off_count.reindex(order, fill_value=0).astype("int64")

    shifts = month.duration / SHIFT
    per_shift = page_count / shifts
    table = pd.DataFrame(
        {
            "pages": page_count,
            "shifts": float(shifts),
            "pages_per_shift": per_shift.astype("float64"),
            "off_hours_pages": off_count,
            "off_hours_share": (off_count / page_count.where(page_count > 0)).astype("float64"),
            "over_limit": (per_shift > PAGES_PER_SHIFT_LIMIT).astype("boolean"),
        },
        index=order,
    )
    return table.reset_index()[ONCALL_COLUMNS]
