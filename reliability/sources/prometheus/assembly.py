"""Assembly: the server's answers become canonical SLI rows, each value checked first.

A point evaluated at ``t`` holds the events of ``(t - step, t]`` and becomes the canonical row
that starts at ``t - step``. A value that is not a count of events (``NaN``, ``±Inf``,
``1e300``, anything of 2^53 or more, which a float cannot hold exactly) is an error naming the
SLO and the query (exit 2), never a row; negative counts and more good than total events are
corrected with a note. Fractional counts (an engine extrapolated ``increase``) are rounded to
whole events and a note says, per SLO, that its counts are therefore estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reliability import frames
from reliability.config import Config
from reliability.source_options import PrometheusOptions
from reliability.sources.prometheus.client import QueryProblem, where
from reliability.sources.prometheus.engine import UNKNOWN, Engine
from reliability.sources.prometheus.planning import Query


@dataclass
class Result:
    """What came back for one query: per service, evaluation times (ns) and values."""

    series: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def points(values: Any, title: str) -> tuple[np.ndarray, np.ndarray]:
    """A series' ``[[unix seconds, "value"], ...]`` as evaluation times (ns) and counts.

    Raises ``QueryProblem`` (naming ``title``, the SLO) when a value is not a count.
    """
    table = np.array(values, dtype=object).reshape(-1, 2)
    try:
        stamps = np.round(table[:, 0].astype("float64") * 1000).astype(np.int64) * 1_000_000
        numbers = table[:, 1].astype("float64")
    except (TypeError, ValueError, OverflowError):
        raise QueryProblem("returned a point that is not [time, number]", title) from None
    bad = ~np.isfinite(numbers) | (np.abs(numbers) >= frames.MAX_COUNT)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        when = pd.Timestamp(int(stamps[first]), unit="ns", tz="UTC")
        raise QueryProblem(
            f"returned {int(bad.sum())} value(s) that are not a count of events (first: "
            f"{table[first, 1]} at {when:%Y-%m-%dT%H:%M:%SZ}); a count must be a finite number "
            "below 2^53",
            title,
        )
    return stamps, numbers


def side_series(result: Result, service: str) -> pd.Series:
    """One service's points of one query, indexed by evaluation time (ns)."""
    parts = result.series.get(service) or []
    if not parts:
        return pd.Series([], dtype="float64")
    stamps = np.concatenate([p[0] for p in parts])
    numbers = np.concatenate([p[1] for p in parts])
    return pd.Series(numbers, index=stamps)


FRACTION_TOLERANCE = 1e-6
"""How far from a whole number a count may be and still be a count (float noise of sums)."""


def fractional(values: np.ndarray) -> np.ndarray:
    """Which values are not whole numbers of events (an extrapolated ``increase``)."""
    return np.abs(values - np.rint(values)) > FRACTION_TOLERANCE


def assemble(
    queries: list[Query],
    results: list[Result],
    step: pd.Timedelta,
    options: PrometheusOptions,
    engine: Engine = UNKNOWN,
) -> tuple[pd.DataFrame, list[str]]:
    """Join each SLO's good and total points into canonical rows; gaps stay absent."""
    notes: list[str] = []
    sides: dict[tuple[str, str], dict[str, pd.Series]] = {}
    order: list[tuple[str, str]] = []
    for query, result in zip(queries, results, strict=True):
        for warning in result.warnings:
            sentence = warning.rstrip(".")
            notes.append(f"Prometheus warned about {query.title} ({query.side} query): {sentence}.")
        for target in query.targets:
            key = (target.service, target.slo.name)
            if key not in sides:
                sides[key] = {}
                order.append(key)
            sides[key][query.side] = side_series(result, target.service)

    parts: list[pd.DataFrame] = []
    step_ns = step.value
    for key in order:
        service, slo = key
        good = sides[key].get("good", pd.Series([], dtype="float64"))
        total = sides[key].get("total", pd.Series([], dtype="float64"))
        good = good[~good.index.duplicated()]
        total = total[~total.index.duplicated()]
        if good.empty and total.empty:
            notes.append(f"Prometheus returned no data for {service}/{slo} in the period.")
            continue
        both = pd.concat({"good": good, "total": total}, axis=1, join="inner").sort_index()
        one_sided = len(good) + len(total) - 2 * len(both)
        if one_sided:
            notes.append(
                f"{service}/{slo}: {one_sided} steps had only one of the good and total series; "
                "they are left out as gaps."
            )
        estimated = fractional(both["good"].to_numpy()) | fractional(both["total"].to_numpy())
        if estimated.any():
            notes.append(
                f"{service}/{slo}: {int(estimated.sum())} of {len(both)} steps had fractional "
                f"counts ({engine.title} extrapolated increase(), as it does when samples do not "
                "sit on the step boundaries); they were rounded to whole events, so this SLO's "
                "counts are estimates."
            )
        good_values = np.rint(both["good"].to_numpy())
        total_values = np.rint(both["total"].to_numpy())
        negative = (good_values < 0) | (total_values < 0)
        if negative.any():
            notes.append(
                f"{service}/{slo}: {int(negative.sum())} steps had negative counts (counted as 0)."
            )
            good_values = np.maximum(good_values, 0)
            total_values = np.maximum(total_values, 0)
        over = good_values > total_values
        if over.any():
            notes.append(
                f"{service}/{slo}: {int(over.sum())} steps had more good than total events "
                "(series scraped at different times); good was capped at total."
            )
            good_values = np.minimum(good_values, total_values)
        stamps = both.index.to_numpy(dtype=np.int64) - step_ns
        parts.append(
            pd.DataFrame(
                {
                    "timestamp": pd.to_datetime(stamps, unit="ns", utc=True).as_unit("ns"),
                    "service": service,
                    "slo": slo,
                    "good": good_values.astype(np.int64),
                    "total": total_values.astype(np.int64),
                }
            )
        )
    if not parts:
        return frames.empty(frames.SLI), notes
    raw = pd.concat(parts, ignore_index=True)
    return frames.validate(raw, frames.SLI, where=where(options), first_row=1), notes


def timeslice_notes(config: Config, options: PrometheusOptions) -> list[str]:
    """SLOs judged on timeslices shorter than the step see only whole steps of events."""
    notes = []
    for service in config.services:
        for slo in service.slos:
            if slo.budgeting != "occurrences" and slo.timeslice_length < options.step_length:
                notes.append(
                    f"{service.name}/{slo.name} uses {slo.timeslice} timeslices but the "
                    f"Prometheus step is {options.step}, so its slices are judged on "
                    f"{options.step} of events each."
                )
    return notes
