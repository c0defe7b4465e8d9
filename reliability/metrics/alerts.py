"""The replayed alerts beside the incidents: how hard each episode burned, which incident
covers it, the replayed pages no incident covers (uncovered pages) and the pages received
that no replayed page caught (missed detection).

Two kinds of "page" meet here and are never mixed up: a *replayed page alert* is an episode of
the burn-rate page rules (``metrics.slo``); a *page received* is a high-urgency incident
(``metrics.incidents.pages``). Definitions in docs/metrics.md, "Alerts and incidents".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reliability.metrics.incidents import pages
from reliability.metrics.slo import MINUTE, SLIGrid

PEAK_WINDOW = pd.Timedelta(hours=1)
"""The burn rate at an episode's peak is the highest burn rate over this trailing window at
any minute of the episode (the Workbook's fastest page window, where 14.4 pages)."""
COVER_GRACE = pd.Timedelta(minutes=30)
"""An incident covers an alert episode when, widened by this much on both sides, its window
overlaps the episode: an alert often fires before an incident is opened, and keeps firing
for a while after it is resolved while the windows drain."""
ROWS_PER_CHUNK = 32
"""SLOs whose burn rates are computed together (keeps the temporaries small)."""

MISSED_COLUMNS = ["id", "service", "severity", "title", "created_at", "resolved_at"]


def peak_burn_rates(
    grid: SLIGrid, alerts: pd.DataFrame, window: pd.Timedelta = PEAK_WINDOW
) -> np.ndarray:
    """Per episode of ``alerts``: the highest ``window`` burn rate at any of its minutes.

    Windows reach into the grid's lookback, so an episode early on the 1st reads a full hour.
    NaN for an episode of an SLO not in the grid, or whose windows hold no events.

    On data kept on a coarser step that divides ``window``, a window's sums change only at
    the lattice's minutes, so the burn rate of every minute is that of the last lattice
    minute at or before it: it is computed once per step, from the same running sums (the
    minutes between add nothing to them), and each episode's minutes read their steps.
    """
    result = np.full(len(alerts), np.nan)
    if alerts.empty:
        return result
    rows = (
        alerts[["service", "slo"]]
        .astype(str)
        .merge(
            grid.slos[["service", "slo"]].astype(str).reset_index(names="row"),
            on=["service", "slo"],
            how="left",
        )["row"]
        .to_numpy(dtype=float)
    )
    first = grid.lead + ((alerts["start"] - grid.start) // MINUTE).to_numpy(dtype=np.int64)
    after = grid.lead + ((alerts["end"] - grid.start) // MINUTE).to_numpy(dtype=np.int64)
    after = np.maximum(after, first + 1)
    width = int(window // MINUTE)
    on_steps = width % grid.step == 0
    step, phase = (grid.step, grid.phase) if on_steps else (1, 0)
    columns = grid.good_steps.shape[1] if on_steps else grid.span_minutes
    span = width // step
    # Each episode's first and last minute as columns, shifted by one for the NaN pad in front
    # (a minute before the lattice's first reads no events).
    first_column = (first - phase) // step + 1
    last_column = (after - 1 - phase) // step + 1
    wanted = np.unique(rows[~np.isnan(rows)]).astype(np.int64)
    objectives = grid.slos["objective"].to_numpy(dtype=float)
    for start in range(0, len(wanted), ROWS_PER_CHUNK):
        chunk = wanted[start : start + ROWS_PER_CHUNK]
        if on_steps:
            good, total = grid.good_steps[chunk], grid.total_steps[chunk]
        else:  # only the rows with episodes are laid on minutes
            good = grid.minute_rows(grid.good_steps[chunk])
            total = grid.minute_rows(grid.total_steps[chunk])
        cum_bad = np.zeros((len(chunk), columns + 1))
        cum_total = np.zeros((len(chunk), columns + 1))
        np.cumsum(total - good, axis=1, out=cum_bad[:, 1:])
        np.cumsum(total, axis=1, out=cum_total[:, 1:])
        low = np.maximum(np.arange(columns) + 1 - span, 0)
        bad_w = cum_bad[:, 1:] - cum_bad[:, low]
        total_w = cum_total[:, 1:] - cum_total[:, low]
        # One flat array with a NaN pad before and after each row, so every episode's columns
        # are a range of indices.
        padded = np.full((len(chunk), columns + 2), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(bad_w, total_w, out=padded[:, 1:-1], where=total_w > 0)
        padded[:, 1:-1] /= (1.0 - objectives[chunk])[:, None]
        mine = np.flatnonzero(np.isin(rows, chunk))
        offset = np.searchsorted(chunk, rows[mine]) * (columns + 2)
        bounds = np.empty(2 * mine.size, dtype=np.int64)
        bounds[0::2] = offset + first_column[mine]
        bounds[1::2] = offset + last_column[mine] + 1
        result[mine] = np.fmax.reduceat(padded.ravel(), bounds)[0::2]
    return result


def _windows(incidents: pd.DataFrame, period_end: pd.Timestamp) -> pd.DataFrame:
    """Each incident's window, ``[started_at or created_at, resolved_at or period_end)``."""
    start = incidents["created_at"]
    if "started_at" in incidents:
        start = incidents["started_at"].fillna(start)
    return pd.DataFrame(
        {
            "incident": incidents["id"].astype("string"),
            "service": incidents["service"].astype("string"),
            "incident_start": start,
            "incident_end": incidents["resolved_at"].fillna(period_end),
            "created_at": incidents["created_at"],
        }
    )


def _overlaps(
    episodes: pd.DataFrame, incidents: pd.DataFrame, period_end: pd.Timestamp, grace: pd.Timedelta
) -> pd.DataFrame:
    """Every (episode, incident) pair of one service whose windows overlap, within ``grace``."""
    episodes = episodes.assign(episode=np.arange(len(episodes)))
    pairs = episodes[["episode", "service", "start", "end"]].astype({"service": "string"})
    pairs = pairs.merge(_windows(incidents, period_end), on="service")
    overlap = (pairs["incident_start"] - grace < pairs["end"]) & (
        pairs["incident_end"] + grace > pairs["start"]
    )
    return pairs.loc[overlap]


def cover_incidents(
    alerts: pd.DataFrame,
    incidents: pd.DataFrame | None,
    period_end: pd.Timestamp,
    grace: pd.Timedelta = COVER_GRACE,
) -> pd.Series:
    """Per episode, the id of the incident that covers it (first opened), or NA.

    An incident covers an episode when it is of the same service and its window widened by
    ``grace`` on both sides overlaps the episode. All NA when there is no incident input.
    """
    covered = pd.Series(pd.NA, index=alerts.index, dtype="string")
    if incidents is None or alerts.empty or incidents.empty:
        return covered
    pairs = _overlaps(alerts.reset_index(drop=True), incidents, period_end, grace)
    first = pairs.sort_values(["created_at", "incident"]).drop_duplicates("episode")
    values = covered.to_numpy(dtype=object)
    values[first["episode"].to_numpy()] = first["incident"].to_numpy()
    return pd.Series(values, index=alerts.index, dtype="string")


def missed_detection(
    alerts: pd.DataFrame,
    incidents: pd.DataFrame | None,
    severities: list[str] | None,
    slo_services: set[str],
    period_end: pd.Timestamp,
    grace: pd.Timedelta = COVER_GRACE,
) -> pd.DataFrame | None:
    """Pages received (high-urgency incidents) of services with SLOs that no replayed page
    alert caught: no page episode of the same service overlaps the incident within ``grace``.

    ``None`` without an incident input.
    """
    if incidents is None:
        return None
    received = incidents.loc[
        pages(incidents, severities).to_numpy(dtype=bool)
        & incidents["service"].astype("string").isin(sorted(slo_services)).to_numpy(dtype=bool)
    ]
    page_alerts = alerts.loc[alerts["severity"] == "page"].reset_index(drop=True)
    caught: set[str] = set()
    if not page_alerts.empty and not received.empty:
        caught = set(_overlaps(page_alerts, received, period_end, grace)["incident"])
    missed = received.loc[~received["id"].astype("string").isin(sorted(caught)).to_numpy()]
    columns = [c for c in MISSED_COLUMNS if c in missed]
    return missed[columns].sort_values(["created_at", "id"]).reset_index(drop=True)


def alert_summary(
    alerts: pd.DataFrame, missed: pd.DataFrame | None, pages_received: int | None
) -> dict[str, Any]:
    """Counts for the alert section: episodes per severity, uncovered pages and missed detection.

    ``uncovered_pages`` (replayed page alerts no incident covers) and ``missed_detection`` are
    ``None`` without an incident input, as is ``pages_received``.
    """
    page = alerts["severity"] == "page"
    known = missed is not None
    return {
        "page_alerts": int(page.sum()),
        "ticket_alerts": int((alerts["severity"] == "ticket").sum()),
        "uncovered_pages": int((page & alerts["covered_by"].isna()).sum()) if known else None,
        "pages_received": pages_received,
        "missed_detection": len(missed) if known else None,
        "cover_grace_minutes": int(COVER_GRACE // MINUTE),
        "peak_window_minutes": int(PEAK_WINDOW // MINUTE),
    }
