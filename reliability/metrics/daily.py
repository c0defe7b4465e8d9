"""Series over the month for the SLO charts: the SLI per day and the burn rate per hour.

Both are reductions of the per-minute grid (``slo.SLIGrid``), so they agree with the month's
SLI, budget and alert replay: a day's SLI uses the SLO's budgeting method like the month's,
an hour's burn rate uses events like the alert rules. Days and hours without data are NaN
(a gap in the chart), never 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from reliability.metrics import slo
from reliability.metrics.policy import WORKBOOK, AlertPolicy, burn_rate_thresholds
from reliability.period import Month

HOUR_MINUTES = 60


def daily_sli(grid: slo.SLIGrid, period: Month) -> pd.DataFrame:
    """Per SLO and local day: the SLI of that day's events, ``1 - sum(b) / sum(n)``.

    ``b`` and ``n`` are the budgeting method's badness and weight (``slo.budget_terms``), so
    the days of an occurrences SLO are event ratios and those of a time-slice SLO are shares
    of good slices. Columns: service, slo, day (local date, naive), sli, objective; NaN where
    the day has no events.
    """
    slos = grid.slos
    edges = slo.day_edges(period, grid.start)
    rows, days = len(slos), len(edges)
    badness = np.zeros((rows, days))
    weight = np.zeros((rows, days))
    if grid.minutes and rows:
        for first in range(0, rows, slo.ROWS_PER_CHUNK):
            chunk = slice(first, min(first + slo.ROWS_PER_CHUNK, rows))
            bad, n = slo.budget_terms(grid, chunk)
            badness[chunk] = np.add.reduceat(bad, edges, axis=1)
            weight[chunk] = np.add.reduceat(n, edges, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sli = np.where(weight > 0, 1.0 - badness / weight, np.nan)
    day_starts = grid.start + pd.to_timedelta(edges, "min")
    local_days = day_starts.tz_convert(period.timezone).tz_localize(None).normalize()
    return pd.DataFrame(
        {
            **_slo_labels(slos, days),
            "day": np.tile(local_days.to_numpy(), rows),
            "sli": sli.ravel(),
            "objective": np.repeat(slos["objective"].to_numpy(dtype=float), days),
        }
    )


def hourly_burn_rate(grid: slo.SLIGrid) -> pd.DataFrame:
    """Per SLO and hour of the month: ``(bad / total in the hour) / (1 - objective)``.

    The burn rate over the one-hour window that ends with each hour (the page rule's long
    window, read at whole hours from the month's start). Columns: service, slo, hour (its
    UTC start), burn_rate; NaN where the hour has no events.
    """
    slos = grid.slos
    edges = np.arange(0, grid.minutes, HOUR_MINUTES)
    rows, hours = len(slos), len(edges)
    if hours and rows and grid.step > 1 and grid.whole:
        # Data kept on its step (whole counts, at most an hour apart): every hour holds
        # columns, and sums of whole counts are exact in any order.
        first = grid.month_column
        columns = grid.columns_before_each(grid.lead + edges) - first
        good = np.add.reduceat(grid.good_steps[:, first:], columns, axis=1)
        total = np.add.reduceat(grid.total_steps[:, first:], columns, axis=1)
    elif hours and rows:
        good = np.add.reduceat(grid.good, edges, axis=1)
        total = np.add.reduceat(grid.total, edges, axis=1)
    else:
        good = total = np.zeros((rows, hours))
    budget = 1.0 - slos["objective"].to_numpy(dtype=float)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, (total - good) / total, np.nan) / budget
    starts = (grid.start + pd.to_timedelta(edges, "min")).as_unit("ns").tz_convert(None)
    return pd.DataFrame(
        {
            **_slo_labels(slos, hours),
            "hour": pd.DatetimeIndex(np.tile(starts.to_numpy(), rows)).tz_localize("UTC"),
            "burn_rate": rate.ravel(),
        }
    )


def _slo_labels(slos: pd.DataFrame, times: int) -> dict[str, pd.Series]:
    """Each SLO's service and slo repeated ``times`` (a row per SLO and day or hour), in the
    columns' own dtype: no Python string is made per row."""
    at = np.repeat(np.arange(len(slos)), times)
    return {name: slos[name].take(at).reset_index(drop=True) for name in ("service", "slo")}


def slo_thresholds(
    slos: pd.DataFrame, policy_of: Callable[[str, str], AlertPolicy] | None = None
) -> pd.DataFrame:
    """The burn-rate thresholds of each SLO's alert policy, for the charts' threshold lines.

    ``policy_of(service, slo)`` gives an SLO's policy (``Config.alert_policy_for``; default:
    the Workbook's for every SLO). Columns: service, slo and those of
    ``policy.burn_rate_thresholds`` (severity, long_window, factor, ...), fastest first.
    """
    parts = [
        burn_rate_thresholds(WORKBOOK if policy_of is None else policy_of(service, name)).assign(
            service=service, slo=name
        )
        for service, name in slos[["service", "slo"]].drop_duplicates().itertuples(index=False)
    ]
    if not parts:
        return burn_rate_thresholds(WORKBOOK).iloc[:0].assign(service="", slo="")
    return pd.concat(parts, ignore_index=True)
