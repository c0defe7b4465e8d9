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
from itertools import chain
from operator import itemgetter
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
    """A series' ``[[unix seconds, "value"], ...]`` (or ``(seconds, value)`` floats, as
    ``client.matrix_answer`` decodes them) as evaluation times (ns) and counts.

    Raises ``QueryProblem`` (naming ``title``, the SLO) when a value is not a count.
    """
    try:
        if values and isinstance(values[0], tuple):
            flat = np.fromiter(chain.from_iterable(values), np.float64, 2 * len(values))
            pairs = flat.reshape(len(values), 2)
            times, numbers = pairs[:, 0], pairs[:, 1]
        else:
            times = np.fromiter(map(itemgetter(0), values), np.float64, len(values))
            numbers = np.fromiter(map(float, map(itemgetter(1), values)), np.float64, len(values))
        stamps = np.round(times * 1000).astype(np.int64) * 1_000_000
    except (TypeError, ValueError, OverflowError, IndexError, KeyError):
        raise QueryProblem("returned a point that is not [time, number]", title) from None
    bad = ~np.isfinite(numbers) | (np.abs(numbers) >= frames.MAX_COUNT)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        when = pd.Timestamp(int(stamps[first]), unit="ns", tz="UTC")
        raise QueryProblem(
            f"returned {int(bad.sum())} value(s) that are not a count of events (first: "
            f"{_spelled(values[first][1])} at {when:%Y-%m-%dT%H:%M:%SZ}); a count must be a "
            "finite number below 2^53",
            title,
        )
    return stamps, numbers


def _spelled(value: Any) -> str:
    """A value as the server spells it (``NaN``, ``+Inf``), whether text or a decoded float."""
    if not isinstance(value, float):
        return str(value)
    if np.isnan(value):
        return "NaN"
    return {np.inf: "+Inf", -np.inf: "-Inf"}.get(value, repr(value))


def side_points(result: Result, service: str) -> tuple[np.ndarray, np.ndarray]:
    """One service's points of one query: sorted evaluation times (ns), each once, and values.

    A time answered twice (overlapping chunks) keeps its first value.
    """
    parts = result.series.get(service) or []
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    stamps = np.concatenate([p[0] for p in parts])
    numbers = np.concatenate([p[1] for p in parts])
    if len(stamps) < 2 or bool((stamps[1:] > stamps[:-1]).all()):
        return stamps, numbers  # chunks in time order, none overlapping: nothing to sort
    stamps, first = np.unique(stamps, return_index=True)
    return stamps, numbers[first]


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
    """Join each SLO's good and total points into canonical rows; gaps stay absent.

    The rows are built typed (the values were checked as they arrived), in one frame.
    """
    notes: list[str] = []
    sides: dict[tuple[str, str], dict[str, tuple[np.ndarray, np.ndarray]]] = {}
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
            sides[key][query.side] = side_points(result, target.service)

    none = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
    keys: list[tuple[str, str]] = []
    stamp_parts: list[np.ndarray] = []
    good_parts: list[np.ndarray] = []
    total_parts: list[np.ndarray] = []
    for key in order:
        service, slo = key
        good_stamps, good = sides[key].get("good", none)
        total_stamps, total = sides[key].get("total", none)
        if not len(good_stamps) and not len(total_stamps):
            notes.append(f"Prometheus returned no data for {service}/{slo} in the period.")
            continue
        if np.array_equal(good_stamps, total_stamps):
            stamps = good_stamps  # both sides answered every step: no join to make
        else:
            stamps, in_good, in_total = np.intersect1d(
                good_stamps, total_stamps, assume_unique=True, return_indices=True
            )
            good, total = good[in_good], total[in_total]
        one_sided = len(good_stamps) + len(total_stamps) - 2 * len(stamps)
        if one_sided:
            notes.append(
                f"{service}/{slo}: {one_sided} steps had only one of the good and total series; "
                "they are left out as gaps."
            )
        estimated = fractional(good) | fractional(total)
        if estimated.any():
            notes.append(
                f"{service}/{slo}: {int(estimated.sum())} of {len(stamps)} steps had fractional "
                f"counts ({engine.title} extrapolated increase(), as it does when samples do not "
                "sit on the step boundaries); they were rounded to whole events, so this SLO's "
                "counts are estimates."
            )
        good_values = np.rint(good)
        total_values = np.rint(total)
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
        keys.append(key)
        stamp_parts.append(stamps - step.value)
        good_parts.append(good_values.astype(np.int64))
        total_parts.append(total_values.astype(np.int64))
    if not keys:
        return frames.empty(frames.SLI), notes
    return _frame(keys, stamp_parts, good_parts, total_parts, options), notes


def _frame(
    keys: list[tuple[str, str]],
    stamps: list[np.ndarray],
    good: list[np.ndarray],
    total: list[np.ndarray],
    options: PrometheusOptions,
) -> pd.DataFrame:
    """The canonical SLI frame of every SLO's rows: labels as sorted categories, counts int64.

    Counts of one SLO that add up past 2^53 are an error, as for every source (``frames``).
    """
    lengths = np.array([len(part) for part in stamps])

    def labels(position: int) -> pd.Categorical:
        names, codes = np.unique(
            np.array([k[position] for k in keys], dtype=object), return_inverse=True
        )
        return pd.Categorical.from_codes(
            np.repeat(codes, lengths), categories=names, validate=False
        )

    frame = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(
                np.concatenate(stamps).astype("datetime64[ns]"), tz="UTC"
            ),
            "service": labels(0),
            "slo": labels(1),
            "good": np.concatenate(good),
            "total": np.concatenate(total),
        }
    )
    if frames.sli_sum_excess(frame).any():
        # the checks of every source, which name the row and say why
        raw = frame.astype({"service": str, "slo": str})
        return frames.validate(raw, frames.SLI, where=where(options), first_row=1)
    return frame


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
