"""The one orchestrator: config -> sources -> validated frames -> a month's results.

Every command, the report and the notebooks get their numbers from here, so they agree:

* ``load_config`` reads ``reliability.yaml`` (or gives the built-in sample organisation);
* ``compute`` loads the inputs of one month and computes it (``reliability compute`` and
  ``reliability validate``);
* ``report_results`` computes the report's month and the months before it for the trends,
  reading earlier months back from the month cache when their inputs are unchanged;
* ``notebook_results`` is what a report notebook calls: the results the report run prepared
  for it, or, opened by hand in Jupyter, the same results computed here.

Sources do the I/O (``reliability.sources``), ``reliability.metrics`` computes, and this
module only sequences them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from reliability.cache import MonthCache, fixed_inputs, month_keys
from reliability.config import Config
from reliability.errors import InputError, Problem
from reliability.frames import Frames
from reliability.metrics.cost import month_share
from reliability.metrics.headline import Change, compare
from reliability.metrics.month import (
    INPUT_TIMES,
    compute_month,
    in_period,
    lies_outside,
    row_instants,
)
from reliability.metrics.trends import cost_trend_frame, service_trend_frame, trend_frame
from reliability.period import Month, Span, last_complete_month, parse_month
from reliability.results import MonthlyMetrics, Results

log = logging.getLogger(__name__)

HISTORY_MONTHS = 6
"""Months computed for the trends, the report's month included."""
SAMPLE_LABEL = "built-in sample organisation"


def load_config(path: str | Path | None) -> Config:
    """The config at ``path``, or the built-in sample organisation when no path is given."""
    if path is not None and not str(path).strip():
        raise InputError(Problem("--config", "empty path (leave --config out for the sample)"))
    if path is None:
        from reliability.sources.sample import sample_config

        return sample_config()
    from reliability.config import load_config as read_config

    return read_config(path)


def config_label(path: str | Path | None) -> str:
    """How a report names its data: the config's path or the built-in sample."""
    return SAMPLE_LABEL if path is None else str(path)


def resolve_month(text: str | None, config: Config, now: pd.Timestamp | None = None) -> Month:
    """``--month`` as a Month of the config's calendar; the last complete month by default."""
    if text is None:
        return last_complete_month(config.timezone, now)
    return parse_month(text, config.timezone)


def _clock(now: pd.Timestamp | None) -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC") if now is None else now


def load_inputs(config: Config, months: list[Month]) -> Frames:
    """The validated canonical frames of consecutive ``months``, and of the lookback before
    them that the alert replay reads, from every configured source."""
    from reliability.sources import load_frames

    frames = load_frames(config, Span.of(months, lookback=config.alert_lookback()))
    frames.extents = input_extents(config, frames)
    return frames


def input_extents(config: Config, frames: Frames) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """Per input, the instants it vouches for (``Frames.extents``): the span a source
    answered for, widened to its first and last row."""
    extents = {}
    for role in INPUT_TIMES:
        instants = row_instants(frames, role, config.timezone)
        if instants is None:
            continue
        first, last = instants.min(), instants.max()  # NaT skipped, no copy of the column
        bounds = [] if pd.isna(first) else [first, last]
        bounds += list(frames.extents.get(role, ()))
        if bounds:
            extents[role] = (min(bounds), max(bounds))
    return extents


def compute(
    config: Config, month: Month, *, now: pd.Timestamp | None = None
) -> tuple[Frames, MonthlyMetrics]:
    """One month's inputs and figures, as ``reliability compute`` and ``validate`` show them."""
    now = _clock(now)
    require_started(month, now)
    frames = load_inputs(config, [month])
    result = compute_month(config, frames, month, now)
    require_data(config, frames, month, now)
    return frames, result


def require_started(month: Month, now: pd.Timestamp) -> None:
    """A month that has not begun has no figures: refuse it before loading anything."""
    if month.start > now:
        raise InputError(
            Problem("--month", f"{month} has not begun yet (it is now {now:%Y-%m-%d %H:%M} UTC)")
        )


def require_data(config: Config, frames: Frames, month: Month, now: pd.Timestamp) -> None:
    """Raise InputError when no input has a single row dated in ``month`` (up to ``now``).

    Such a month is almost always a wrong ``--month`` or a source pointing at the wrong
    place; reporting it as zero incidents and no SLO data would read as a perfect month.
    The one line says where each input's rows are.
    """
    seen = []
    for role in INPUT_TIMES:
        instants = row_instants(frames, role, config.timezone)
        if instants is None:
            continue
        if bool((month.contains(instants) & (instants <= now)).any()):
            return
        rows = instants.dropna()
        # Rows a file holds but the run left out (other months, other services) count too.
        extent = frames.extents.get(role) if role in frames.left_out else None
        if extent is None and not rows.empty:
            extent = (rows.min(), rows.max())
        where = (
            "no rows"
            if extent is None
            else f"rows from {extent[0]:%Y-%m-%d %H:%M} to {extent[1]:%Y-%m-%d %H:%M} UTC"
        )
        seen.append(f"{role}: {where}")
    if frames.cost is not None:
        if bool((month_share(frames.cost, month, min(now, month.end)) > 0).any()):
            return
        seen.append(f"cost: {len(frames.cost):,} charges, none in the month")
    found = "; ".join(seen) if seen else "no input is configured"
    raise InputError(
        Problem(
            "--month",
            f"no data at all for {month} in any input ({found}): check --month and the sources",
        )
    )


def outside_data(frames: Frames, month: Month) -> list[str]:
    """One sentence per input whose rows lie wholly outside ``month`` (for ``validate``)."""
    return [
        f"{month} lies outside the {role} input's rows "
        f"({extent[0]:%Y-%m-%d} to {extent[1]:%Y-%m-%d})"
        for role, extent in frames.extents.items()
        if lies_outside(extent, month)
    ]


def report_results(
    config: Config,
    month: Month,
    *,
    history_months: int = HISTORY_MONTHS,
    cache: MonthCache | None = None,
    now: pd.Timestamp | None = None,
    label: str = SAMPLE_LABEL,
) -> Results:
    """The report's month in full and the ``history_months - 1`` months before it for trends.

    The report's own month is always loaded and computed; each earlier month is read from
    ``cache`` when it holds that month under the same inputs (``reliability.cache``), and
    every complete month computed here is saved to it for the next report.
    """
    now = _clock(now)
    require_started(month, now)
    months = month.history(history_months)
    keys = month_keys(config, months) if cache is not None else None
    known: dict[Month, MonthlyMetrics] = {}
    if cache is not None and keys is not None:
        for earlier in months[:-1]:
            hit = cache.get(earlier, keys[earlier])
            if isinstance(hit, MonthlyMetrics) and hit.period == earlier:
                known[earlier] = hit
    # Sources load a run of consecutive months: from the oldest one not in the cache.
    first = next(i for i, m in enumerate(months) if m not in known)
    frames = load_inputs(config, months[first:])
    # Earlier months feed the trends only: no alert replay, attribution or intervals there.
    history = [
        known[m] if m in known else compute_month(config, frames, m, now, detail=m == month)
        for m in months
    ]
    results = Results(
        config=config,
        month=month,
        history=history,
        trend=trend_frame(history),
        service_trend=service_trend_frame(history),
        deployments=in_period(frames.deployments, "deployed_at", month),
        config_label=label,
        changes=compare_months(history),
        cost_trend=cost_trend_frame(history),
    )
    require_data(config, frames, month, now)
    if cache is not None and keys is not None:
        for metrics in history[:-1]:
            if metrics.period not in known and metrics.period.end <= now:
                cache.put(metrics.period, keys[metrics.period], metrics)
        # The report's month is kept as the next report's trend month will read it: the
        # light computation, not this one with alert replay, attribution and intervals.
        # Only worth it when next month's inputs leave its key as it is (the sample); with
        # files, next month's rows change every key.
        if fixed_inputs(config) and month.end <= now and not cache.has(month, keys[month]):
            try:
                light = compute_month(config, frames, month, now, detail=False)
            except Exception as exc:  # the report does not need it
                log.warning("could not prepare %s for the month cache: %s", month, exc)
            else:
                cache.put(month, keys[month], light)
    return results


def compare_months(history: list[MonthlyMetrics]) -> dict[str, Change]:
    """The report month's headline figures against the month before it (if any)."""
    current = history[-1].headline or {}
    previous = history[-2].headline if len(history) > 1 else None
    return compare(current, previous)


_PREPARED: dict[tuple[str, float], Results] = {}
"""Results a report run prepared, read once per kernel that renders several of its pages."""


def notebook_results(
    month: str | None = None, config: str | None = None, prepared: str | None = None
) -> Results:
    """What a report notebook shows: the results ``reliability report`` prepared for it
    (``prepared``, a file it wrote), else those of ``config`` (default: the sample
    organisation) for ``month`` (default: the last complete month), computed here."""
    if prepared:
        path = Path(prepared)
        key = (str(path.resolve()), path.stat().st_mtime)
        if key not in _PREPARED:
            _PREPARED.clear()  # one report at a time: keep only the latest
            _PREPARED[key] = Results.load(path)
        return _PREPARED[key]
    cfg = load_config(config)
    return report_results(cfg, resolve_month(month, cfg), label=config_label(config))
