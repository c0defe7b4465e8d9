"""SLOs and error budgets (docs/metrics.md): budgeting methods, burn rates, alert replay, burn-down.

Events are laid on a dense grid, one row per SLO and one column per minute of the period (or
per step, for whole counts on one phase of a coarser step: ``SLIGrid``), so every figure is a
vectorised reduction over that grid. The three OpenSLO budgeting methods
reduce to one shape: per minute a *badness* ``b`` and a *weight* ``n`` with
``sli = 1 - sum(b) / sum(n)``:

* occurrences: ``b`` = bad events, ``n`` = all events;
* timeslices: per slice ``b`` = 1 when ``good/total < timeslice_target``, ``n`` = 1 when the
  slice has events;
* ratio_timeslices: per slice ``b`` = ``1 - good/total``, ``n`` = 1 when the slice has events;

(a slice's ``b`` and ``n`` are spread evenly over its minutes). Budget consumed, the daily
burn-down and incident attribution are then the same arithmetic for every method. Burn rates
and the alert replay use events, as the SRE Workbook defines them, whatever the method.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from reliability.metrics.policy import (
    DEFAULT_SLO_PERIOD,
    SEVERITIES,
    WORKBOOK,
    AlertPolicy,
    AlertWindow,
)
from reliability.period import Month, local_midnights

MINUTE = pd.Timedelta(minutes=1)
_MINUTE_NS = MINUTE.value
AT_RISK_REMAINING = 0.25
"""An SLO that is met with less than this share of its budget left is reported ``at_risk``."""
MET_STATUSES = ("met", "at_risk")
"""Statuses of an SLO that kept its objective (an ``at_risk`` SLO is still met)."""
ROWS_PER_CHUNK = 8
"""SLOs processed together: keeps temporaries small (8 x 44,640 minutes is 2.9 MB an array),
so that one step's arrays are still in the processor's cache for the next."""


ALERT_SEVERITIES: tuple[str, ...] = SEVERITIES
ALERT_SLO_PERIOD = DEFAULT_SLO_PERIOD
"""The SLO period the default policy's budget shares refer to (``metrics.policy``)."""


def alert_lookback(policies: Iterable[AlertPolicy] = (WORKBOOK,)) -> pd.Timedelta:
    """How much data before a month its replay needs: the longest window (plus its ``for``)
    of the policies in use."""
    return max(policy.lookback for policy in policies)


@dataclass(frozen=True)
class SLIGrid:
    """Good and total events per SLO (rows of ``slos``) per minute of a month, with the
    ``lead`` minutes before the month that the alert replay reads (its lookback).

    ``good``, ``total`` and ``present`` are the month's minutes (from ``start``);
    ``*_all`` hold the lookback and the month together.

    Data whose every point lies on one phase of a coarser step (whole counts only) is kept
    on that step: ``*_steps`` have one column per point of the lattice ``phase + k * step``
    (minutes from the lookback's start), and the per-minute arrays are laid out from them
    only when something asks for them (a minute off the lattice holds no events).
    """

    slos: pd.DataFrame
    """One row per SLO: service, slo, objective, budgeting, timeslice_minutes, timeslice_target."""
    start: pd.Timestamp
    good_steps: np.ndarray
    total_steps: np.ndarray
    present_steps: np.ndarray
    """Which columns have at least one row (for data gaps and the replay's history)."""
    lead: int = 0
    """Minutes of lookback before ``start`` at the front of the ``*_all`` arrays."""
    whole: bool = False
    """Every count is a non-negative whole number and all of them add up to at most 2^53
    (``whole_counts``), so every sum of them is exact in any order and in integers."""
    step: int = 1
    """Minutes between two columns of ``*_steps`` (1: they are the minutes themselves)."""
    phase: int = 0
    """The minute, from the lookback's start, of the first column of ``*_steps``."""
    span: int = 0
    """Minutes of the lookback and the month (0: as many as ``*_steps`` has columns)."""

    @property
    def span_minutes(self) -> int:
        """Minutes of the lookback and the month together."""
        return self.span or self.good_steps.shape[1]

    def columns_before(self, minute: int) -> int:
        """Columns of ``*_steps`` whose minute (from the lookback's start) is before ``minute``."""
        return len(range(self.phase, max(min(minute, self.span_minutes), 0), self.step))

    def minute_rows(self, values: np.ndarray) -> np.ndarray:
        """``values`` (rows of ``*_steps``) laid on every minute of the lookback and month."""
        if self.step == 1 and self.phase == 0:
            return values
        result = np.zeros((values.shape[0], self.span_minutes), dtype=values.dtype)
        result[:, self.phase :: self.step] = values
        return result

    @property
    def month_column(self) -> int:
        """The first column of ``*_steps`` inside the month."""
        return self.columns_before(self.lead)

    def columns_before_each(self, minutes: np.ndarray) -> np.ndarray:
        """``columns_before`` of each of ``minutes`` (from the lookback's start)."""
        minutes = np.clip(minutes, 0, self.span_minutes)
        return np.maximum(-((self.phase - minutes) // self.step), 0)

    def month_rows(self, values: np.ndarray) -> np.ndarray:
        """``values`` (rows of ``*_steps``) laid on every minute of the month."""
        if self.step == 1 and self.phase == 0:
            return values[:, self.lead :]
        return self.month_minutes(values[:, self.month_column :])

    def month_minutes(self, values: np.ndarray) -> np.ndarray:
        """``values`` of the month's columns of ``*_steps`` laid on every minute of the month
        (0 on the minutes between them)."""
        if self.step == 1 and self.phase == 0:
            return values
        result = np.zeros((values.shape[0], self.minutes), dtype=values.dtype)
        result[:, self.phase + self.month_column * self.step - self.lead :: self.step] = values
        return result

    @cached_property
    def budgeting(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each SLO's budgeting method, slice length in minutes (0 for events) and slice
        target (NaN where it has none), as arrays."""
        method = self.slos["budgeting"].to_numpy(dtype=object)
        length = pd.to_numeric(self.slos["timeslice_minutes"], errors="coerce").to_numpy(float)
        length = np.where((method == "occurrences") | np.isnan(length), 0, length).astype(int)
        target = pd.to_numeric(self.slos["timeslice_target"], errors="coerce").to_numpy(float)
        return method, length, target

    @cached_property
    def objectives(self) -> np.ndarray:
        """Each SLO's objective, read from ``slos`` once for every burn-rate series."""
        return self.slos["objective"].to_numpy()

    @cached_property
    def slices(self) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
        """Per slice length of the SLOs: the month minute each slice begins at, its length,
        the first column of ``*_steps`` at or after it, and whether each slice is exactly
        one column."""
        result = {}
        first = self.month_column
        month_columns = self.good_steps.shape[1] - first
        for length in np.unique(self.budgeting[1][self.budgeting[1] > 1]):
            edges = np.arange(0, self.minutes, int(length))
            lengths = np.diff(np.append(edges, self.minutes))
            columns = self.columns_before_each(self.lead + edges) - first
            one_each = bool(np.array_equal(columns, np.arange(month_columns)))
            result[int(length)] = (edges, lengths, columns, one_each)
        return result

    @cached_property
    def good_all(self) -> np.ndarray:
        """Good events per minute of the lookback and the month."""
        return self.minute_rows(self.good_steps)

    @cached_property
    def total_all(self) -> np.ndarray:
        """All events per minute of the lookback and the month."""
        return self.minute_rows(self.total_steps)

    @cached_property
    def present_all(self) -> np.ndarray:
        """Which minutes of the lookback and the month have at least one row."""
        return self.minute_rows(self.present_steps)

    @property
    def good(self) -> np.ndarray:
        return self.good_all[:, self.lead :]

    @property
    def total(self) -> np.ndarray:
        return self.total_all[:, self.lead :]

    @property
    def present(self) -> np.ndarray:
        return self.present_all[:, self.lead :]

    @property
    def minutes(self) -> int:
        return self.span_minutes - self.lead

    @property
    def times(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.minutes, freq="min")

    def minute_index(self, instants: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Month column of each instant, clipped to ``[0, minutes]`` (NaT gives ``minutes``)."""
        values = pd.DatetimeIndex(instants).tz_convert("UTC")
        offsets = (values - self.start) // MINUTE
        offsets = np.asarray(offsets.fillna(self.minutes), dtype=np.int64)
        return np.clip(offsets, 0, self.minutes)


MAX_STEP_MINUTES = 60
"""The coarsest step kept as it is (every local day then holds columns of its own)."""


def build_grid(
    sli: pd.DataFrame | None,
    slos: pd.DataFrame,
    period: Month,
    lookback: pd.Timedelta | None = None,
) -> SLIGrid:
    """Lay the SLI rows of ``period`` (and of ``lookback`` before it) on a per-minute grid.

    ``slos`` is ``Config.slo_table()`` (or any frame with the same columns); rows of unknown
    SLOs are ignored. Events are summed into the minute their interval starts in, so data at
    any step (1m, 5m, 30s) fits. Whole counts whose minutes all lie on one phase of a coarser
    step are kept on that step (``SLIGrid.step``).
    """
    slos = slos.reset_index(drop=True)
    lead = 0 if lookback is None else int(lookback // MINUTE)
    first = period.start - pd.Timedelta(minutes=lead)
    minutes = lead + int(period.duration // MINUTE)
    if sli is None or sli.empty or slos.empty:
        empty = np.zeros((len(slos), minutes))
        present = np.zeros((len(slos), minutes), dtype=bool)
        return SLIGrid(slos, period.start, empty, empty.copy(), present, lead, whole=True)
    # One flat grid index per event, built in place: these arrays are as long as the frame,
    # so the index takes four bytes a row when every cell of the grid can be numbered so.
    flat = _row_of_each_event(sli, slos, np.int32 if len(slos) * minutes < 2**31 else np.int64)
    known = flat >= 0
    stamps = sli["timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    minute = stamps - first.value
    minute //= _MINUTE_NS
    known &= minute.view(np.uint64) < minutes  # a negative minute is a huge unsigned one
    good, total = sli["good"].to_numpy(), sli["total"].to_numpy()
    whole = whole_counts(good, total)
    # Rows outside the span lie on the lattice too when the source has one.
    step, phase, column = _lattice(minute, flat.dtype) if whole else (1, 0, minute)
    del minute
    columns = len(range(phase, minutes, step))
    flat *= columns
    # In the index's own type: a minute of a row outside the span wraps, and is left out.
    np.add(flat, column, out=flat, dtype=flat.dtype, casting="unsafe")
    del column
    if not known.all():
        flat, good, total = flat[known], good[known], total[known]
    del known
    size = len(slos) * columns
    if whole and bool(np.all(flat[1:] > flat[:-1])):
        # Rows in grid order, one per cell (as a sorted file has them): each cell is its
        # row's count, what adding it to 0 gives.
        if flat.size == size:  # every cell: the columns are the grid
            good_grid, total_grid = good.astype(float), total.astype(float)
            present = np.ones(size, dtype=bool)
        else:
            good_grid, total_grid = np.zeros(size), np.zeros(size)
            good_grid[flat], total_grid[flat] = good, total
            present = np.zeros(size, dtype=bool)
            present[flat] = True
    else:
        # bincount of no events at all returns integers even with weights: ask for floats.
        good_grid = np.bincount(flat, weights=good, minlength=size).astype(float, copy=False)
        total_grid = np.bincount(flat, weights=total, minlength=size).astype(float, copy=False)
        present = np.zeros(size, dtype=bool)
        present[flat] = True
    shape = (len(slos), columns)
    return SLIGrid(
        slos,
        period.start,
        good_grid.reshape(shape),
        total_grid.reshape(shape),
        present.reshape(shape),
        lead,
        whole,
        step,
        phase,
        minutes,
    )


def _lattice(
    minute: np.ndarray, dtype: type[np.signedinteger], sample: int = 4096
) -> tuple[int, int, np.ndarray]:
    """The coarsest step (up to ``MAX_STEP_MINUTES``) and its phase on which every minute of
    ``minute`` lies, guessed from the first few and a spread of the others, and checked on
    all, with each minute's column on it (as ``dtype``); (1, 0, ``minute``) when none is.

    The check needs no remainder per row (a slow integer division): the column is the floor
    of ``(minute - phase) / step``, which the grid needs anyway, and the rest, below the
    step, is 0 exactly when it is 0 modulo 256, which one-byte arithmetic gives. A column
    too large for ``dtype`` (a row outside the span, left out later) wraps modulo 2^32 or
    2^64, which keeps it modulo 256.
    """
    spread = minute[:: max(len(minute) // sample, 1)]
    seen = np.unique(np.concatenate([minute[:sample], spread]))
    step = int(np.gcd.reduce(np.diff(seen))) if seen.size > 1 else 1
    if not 1 < step <= MAX_STEP_MINUTES:
        return 1, 0, minute
    phase = int(seen[0] % step)
    if phase:
        minute -= phase
    column = np.floor_divide(minute, step, out=np.empty(minute.shape, dtype), casting="unsafe")
    rest = np.multiply(column, step, out=np.empty(minute.shape, np.int8), casting="unsafe")
    np.subtract(rest, _low_bytes(minute), out=rest, casting="unsafe")  # minus the rest, mod 256
    if bool(rest.any()):
        if phase:
            minute += phase
        return 1, 0, minute
    return step, phase, column


def _low_bytes(values: np.ndarray) -> np.ndarray:
    """The low byte of each of ``values`` (integers), which is each modulo 256: a view of the
    array's bytes where it lies in memory as a row of native integers, else a copy."""
    if values.ndim != 1 or not values.flags.c_contiguous or not values.dtype.isnative:
        return values.astype(np.int8)
    size = values.dtype.itemsize
    return values.view(np.int8)[0 if sys.byteorder == "little" else size - 1 :: size]


def whole_counts(good: np.ndarray, total: np.ndarray) -> bool:
    """Whether ``good`` and ``total`` are non-negative integers that add up to at most 2^53
    even if each were the largest of them: then every partial sum of either, or of
    ``total - good``, is a whole number the float64 grid holds exactly.

    Read from the bitwise or of all of them, in one pass over each: its sign bit is set
    when a count is negative, and otherwise it is at least the largest count.
    """
    if good.dtype.kind not in "iu" or total.dtype.kind not in "iu":
        return False
    if good.size == 0:
        return True
    bits = int(np.bitwise_or.reduce(good)) | int(np.bitwise_or.reduce(total))
    return bits >= 0 and bits * (good.size + total.size) <= 2**53


def _row_of_each_event(
    sli: pd.DataFrame, slos: pd.DataFrame, dtype: type[np.signedinteger] = np.int64
) -> np.ndarray:
    """Index into ``slos`` of each SLI row (by category codes, not strings), or -1, as
    ``dtype`` (the grid's flat index is built in place from it)."""
    service, slo = (_categories(sli[column]) for column in ("service", "slo"))
    service_pos = {name: i for i, name in enumerate(service.categories)}
    slo_pos = {name: i for i, name in enumerate(slo.categories)}
    # Codes shifted by one: a missing name (code -1) reads row or column 0, which is no SLO.
    width = len(slo_pos) + 1
    lookup = np.full((len(service_pos) + 1, width), -1, dtype=dtype)
    for i, (svc, name) in enumerate(zip(slos["service"], slos["slo"], strict=True)):
        if svc in service_pos and name in slo_pos:
            lookup[service_pos[svc] + 1, slo_pos[name] + 1] = i
    index = np.add(service.codes, 1, dtype=np.int32 if lookup.size < 2**31 else np.int64)
    index *= width
    index += slo.codes
    index += 1
    return lookup.ravel().take(index)


def _categories(column: pd.Series) -> pd.Categorical:
    """``column`` as a categorical (as it is when it already is one)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array
    return column.astype("category").array


def _row_chunks(rows: int, size: int = ROWS_PER_CHUNK) -> Iterator[slice]:
    for first in range(0, rows, size):
        yield slice(first, min(first + size, rows))


STEP_CHUNK_FACTOR = 4
"""At most this many times ``ROWS_PER_CHUNK`` SLOs together on data kept on a coarser step."""


def _chunk_rows(grid: SLIGrid) -> int:
    """SLOs ``slo_report`` works on together: on data kept on its step each SLO's columns are
    ``step`` times fewer, so as many more SLOs keep the arrays of one step of the arithmetic
    as small, up to ``STEP_CHUNK_FACTOR`` times (time-slice fractions are still laid on
    minutes). Each SLO's arithmetic is the same whatever SLOs share its chunk."""
    return ROWS_PER_CHUNK * min(grid.step, STEP_CHUNK_FACTOR)


def budget_terms(grid: SLIGrid, rows: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-minute badness ``b`` and weight ``n`` of SLOs ``rows`` under their budgeting methods.

    On data kept on its step, a slice's events are summed over the columns it holds (whole
    counts: the same sums) and only ``b`` and ``n`` are laid on minutes.
    """
    first = grid.month_column
    good_c, total_c = grid.good_steps[rows, first:], grid.total_steps[rows, first:]
    methods = grid.budgeting[0][rows]
    if bool(np.all(methods == "occurrences")):  # events only
        badness = grid.month_minutes(total_c - good_c)
        return badness, grid.month_minutes(total_c.copy() if grid.step == 1 else total_c)
    # Every minute of a time-slice SLO's row is written below; those of events here.
    badness, weight = np.empty((len(methods), grid.minutes)), np.empty((len(methods), grid.minutes))
    events = np.flatnonzero(methods == "occurrences")
    if events.size:
        badness[events] = grid.month_minutes(total_c[events] - good_c[events])
        weight[events] = grid.month_minutes(total_c[events])
    for at, slice_bad, with_data, spread, _ in _slice_terms(grid, rows):
        badness[at] = spread(slice_bad)
        weight[at] = spread(with_data)
    return badness, weight


def _slice_terms(
    grid: SLIGrid, rows: slice | np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray], bool]]:
    """The time-slice SLOs of ``rows`` by method and slice length: their positions in
    ``rows``, each slice's badness and weight (a share of each of its minutes), what lays
    those on the month's minutes, and whether the slices are one minute long (their values
    are then per column of ``*_steps``, laid by ``grid.month_minutes``).

    On data kept on its step, a slice's events are summed over the columns it holds (whole
    counts: the same sums).
    """
    first = grid.month_column
    good_c, total_c = grid.good_steps[rows, first:], grid.total_steps[rows, first:]
    methods, slice_minutes, targets = (part[rows] for part in grid.budgeting)
    sliced = np.flatnonzero(methods != "occurrences")
    # The time-slice SLOs of one method and slice length are sliced together.
    kinds = dict.fromkeys(zip(methods[sliced], slice_minutes[sliced], strict=True))
    on_steps = grid.step > 1 and grid.whole
    good = total = None
    for method, length in kinds:
        at = np.flatnonzero((methods == method) & (slice_minutes == length))
        length = int(length)
        spread = grid.month_minutes
        if length == 1:  # a slice per minute (or column): nothing to sum or spread
            slice_good, slice_total = good_c[at], total_c[at]
        else:
            edges, lengths, columns, one_each = grid.slices[length]
            if on_steps and one_each:
                # A column a slice (the slice is the step): its events are the column's.
                slice_good, slice_total = good_c[at], total_c[at]
            elif on_steps and _every_segment_holds_a_column(columns, good_c.shape[1]):
                slice_good = np.add.reduceat(good_c[at], columns, axis=1)
                slice_total = np.add.reduceat(total_c[at], columns, axis=1)
            else:
                if good is None:
                    good, total = grid.month_minutes(good_c), grid.month_minutes(total_c)
                slice_good = np.add.reduceat(good[at], edges, axis=1)
                slice_total = np.add.reduceat(total[at], edges, axis=1)
            spread = _spreader(lengths)
        with_data = slice_total > 0
        # A slice without events has no ratio: what the division gives there is left out.
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.divide(slice_good, slice_total)
        if method == "timeslices":
            slice_bad = (with_data & (ratio < targets[at, None])).astype(float)
        else:
            slice_bad = np.where(with_data, 1.0 - ratio, 0.0)
        if length == 1:
            yield at, slice_bad, with_data, spread, True
        else:
            minutes = lengths.astype(float)  # the same quotients as by the whole numbers
            yield at, slice_bad / minutes, with_data / minutes, spread, False


def _slice_sums(
    grid: SLIGrid,
    rows: np.ndarray,
    edges: np.ndarray,
    sums: dict[str, np.ndarray],
    daily_badness: np.ndarray,
) -> None:
    """Add the month's and each day's (from ``edges``) badness, and the month's weight, of
    the time-slice SLOs ``rows`` into ``sums`` and ``daily_badness``, a method and slice
    length at a time (``_slice_terms``), without assembling the rows' minutes in one array.

    The fractions are summed over the minutes, as ``budget_terms`` lays them, for the rows
    that need it: a row without a bad slice sums zeros (0 for the month and each day), and
    the rows with events in every slice have the same weights, so the sum of one. The weight
    of one-minute slices (of ``ratio_timeslices``) is 0 or 1 a column: counted over the
    columns, which is the same whole number.
    """
    for at, slice_bad, with_data, spread, one_minute in _slice_terms(grid, rows):
        slos = rows[at]
        bad = slice_bad.any(axis=1)
        sums["badness"][slos[~bad]] = 0.0
        daily_badness[slos[~bad]] = 0.0
        if bad.any():
            badness = spread(slice_bad[bad])
            sums["badness"][slos[bad]] = badness.sum(axis=1)
            daily_badness[slos[bad]] = np.add.reduceat(badness, edges, axis=1)
        if one_minute:
            sums["weight"][slos] = with_data.sum(axis=1)
            continue
        full = with_data.all(axis=1)
        if full.any():
            one = np.flatnonzero(full)[:1]
            sums["weight"][slos[full]] = spread(with_data[one]).sum(axis=1)[0]
        if not full.all():
            sums["weight"][slos[~full]] = spread(with_data[~full]).sum(axis=1)


def _every_segment_holds_a_column(starts: np.ndarray, columns: int) -> bool:
    """Whether ``reduceat`` at ``starts`` sums every segment over columns of its own."""
    return bool(starts.size) and bool(np.all(np.diff(starts) > 0)) and starts[-1] < columns


def _spreader(lengths: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A slice's value spread over each of its ``lengths`` minutes."""
    return lambda values: np.repeat(values, lengths, axis=1)


def _on_columns(grid: SLIGrid) -> np.ndarray:
    """SLOs whose badness and weight are whole numbers (events; one-minute slices judged
    good or bad): their sums are exact in any order, so they may be taken per column."""
    method, length, _ = grid.budgeting
    return (method == "occurrences") | ((method == "timeslices") & (length == 1))


def _column_terms(
    grid: SLIGrid, rows: np.ndarray, good_sums: np.ndarray, total_sums: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``budget_terms``' badness of SLOs ``rows`` (``_on_columns``) on the month's columns of
    ``*_steps`` (the minutes off the lattice hold no events, so no badness and no weight),
    with the month's sums of badness and of weight.

    Those are whole numbers, so the sums are exact in any order: of events, the month's
    ``total_sums`` and ``total_sums - good_sums``; of one-minute slices, how many are bad
    and how many have events.
    """
    first = grid.month_column
    good, total = grid.good_steps[rows, first:], grid.total_steps[rows, first:]
    badness = total - good
    badness_sums, weight_sums = total_sums - good_sums, total_sums.copy()
    methods, _, targets = (part[rows] for part in grid.budgeting)
    sliced = np.flatnonzero(methods == "timeslices")
    if sliced.size:
        slice_good, slice_total = good[sliced], total[sliced]
        with_data = slice_total > 0
        ratio = np.divide(slice_good, slice_total, out=np.ones_like(slice_good), where=with_data)
        bad = with_data & (ratio < targets[sliced, None])
        badness[sliced] = bad
        badness_sums[sliced] = np.count_nonzero(bad, axis=1)
        weight_sums[sliced] = np.count_nonzero(with_data, axis=1)
    return badness, badness_sums, weight_sums


def _step_columns(phase: int, step_minutes: int, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """The first minute and the length of each column of the data's steps over ``minutes``:
    the minutes before the first point (at ``phase``) are one more, empty, column."""
    starts = np.arange(phase, minutes, step_minutes)
    if phase > 0:
        starts = np.concatenate([[0], starts])
    return starts, np.diff(np.append(starts, minutes))


def _by_step(policy: AlertPolicy, step: pd.Timedelta, phase: int | None) -> bool:
    """Whether the replay may sum its windows per step (``window_firing``)."""
    if phase is None or step <= MINUTE:
        return False
    return all(
        max(width, step) % step == pd.Timedelta(0)
        for window in policy.windows
        for width in (window.long_window, window.short_window)
    )


def window_firing(
    bad: np.ndarray,
    total: np.ndarray,
    objectives: np.ndarray,
    policy: AlertPolicy = WORKBOOK,
    step: pd.Timedelta = MINUTE,
    first_data: np.ndarray | None = None,
    phase: int | None = None,
    whole: bool = False,
) -> list[np.ndarray]:
    """Minutes at which each window of ``policy`` would fire (one array per window, in the
    policy's order), replaying the multi-window rules evaluated every minute.

    A window ending at minute ``t`` covers minutes ``t - w + 1 .. t``. ``burn > factor`` is
    tested as ``bad > factor * (1 - objective) * total`` so a window without events never
    fires. No window is shorter than the data's ``step`` (a 5m window over 15-minute data
    would be empty between points and split every episode). ``first_data`` (a column per
    row) is where each row's data begins: a rule is evaluated only where its long window
    lies wholly after it, so a window clipped by missing history never raises an alert. A
    window with a ``for`` fires once its condition has held at ``for`` minutes of
    consecutive evaluations after the first, as Prometheus' ``for`` does.

    ``phase`` (the minute, below the step, on which every row's data lies) lets the window
    sums run on the data's own step: when every window is a whole number of steps, a window
    sum changes only where a point enters or leaves it, so it is constant over each step
    that begins at a point, and the minutes are those steps repeated.

    ``whole`` (``SLIGrid.whole``: whole counts whose sums stay within 2^53) takes the running
    sums in integers: every float sum of such counts is exact, so they are the same numbers.
    """
    minutes = bad.shape[1]
    # The columns the window sums run on: minutes, or the data's steps, each ``lengths``
    # minutes long.
    lengths = None
    if _by_step(policy, step, phase):
        starts, lengths = _step_columns(phase, int(step // MINUTE), minutes)
        bad, total = np.add.reduceat(bad, starts, axis=1), np.add.reduceat(total, starts, axis=1)
    return _firing(bad, total, objectives, policy, step, first_data, lengths, whole)


def _firing(
    bad: np.ndarray,
    total: np.ndarray,
    objectives: np.ndarray,
    policy: AlertPolicy,
    step: pd.Timedelta,
    first_data: np.ndarray | None,
    lengths: np.ndarray | None,
    whole: bool,
) -> list[np.ndarray]:
    """``window_firing`` on columns of minutes (``lengths`` None) or of the data's steps,
    each ``lengths`` minutes long."""
    minutes = bad.shape[1] if lengths is None else int(lengths.sum())
    columns = np.arange(minutes)[None, :]
    mask = np.empty((bad.shape[0], minutes), dtype=bool)
    counts = held = None
    result = []
    unit = MINUTE if lengths is None else step
    for window, both in _window_columns(bad, total, objectives, policy, step, unit, whole):
        long_window = max(window.long_window, step)
        if lengths is not None:
            both = np.repeat(both, lengths, axis=1)
        if first_data is not None:
            # Only the columns before the latest row's history is ready can be cut.
            ready = first_data[:, None] + int(long_window // MINUTE) - 1
            cut = int(min(ready.max(initial=0), minutes))
            both[:, :cut] &= np.greater_equal(columns[:, :cut], ready, out=mask[:, :cut])
        hold = int(window.for_ // MINUTE)
        if hold > 0:
            # Consecutive firing minutes, counted exactly in integers.
            if counts is None:
                counts = np.zeros((bad.shape[0], minutes + 1), dtype=np.int32)
                held = np.empty((bad.shape[0], minutes), dtype=np.int32)
            np.cumsum(both, axis=1, dtype=np.int32, out=counts[:, 1:])
            _window_sum(counts, MINUTE * (hold + 1), out=held)
            both &= np.greater_equal(held, hold + 1, out=mask)
        result.append(both)
    return result


def _window_columns(
    bad: np.ndarray,
    total: np.ndarray,
    objectives: np.ndarray,
    policy: AlertPolicy,
    step: pd.Timedelta,
    unit: pd.Timedelta,
    whole: bool,
) -> Iterator[tuple[AlertWindow, np.ndarray]]:
    """Each window of ``policy`` with the columns (of ``unit`` minutes) at which both its
    burn rates exceed its factor, before its history and its ``for`` are applied.

    A window one column wide sums that column alone: for ``whole`` counts the difference of
    the exact running sums is the column's own count, so the columns are compared as they
    are (a 5m window on 5-minute data).
    """
    cum_bad = _cumulative(bad, whole)
    cum_total = _cumulative(total, whole)
    budget = (1.0 - objectives)[:, None]
    # One buffer per kind of temporary, reused by every window and width.
    bad_w, total_w = np.empty(bad.shape), np.empty(bad.shape)
    over = np.empty(bad.shape, dtype=bool)
    for window in policy.windows:
        threshold = window.factor * budget
        both = None
        for width in (max(window.long_window, step), max(window.short_window, step)):
            span = MINUTE * int(width // unit)  # the window in columns, as _window_sum counts
            if whole and span == MINUTE:
                sum_bad, sum_total = bad, total
            else:
                sum_bad = _window_sum(cum_bad, span, out=bad_w)
                sum_total = _window_sum(cum_total, span, out=total_w)
            np.multiply(sum_total, threshold, out=total_w)
            if both is None:
                both = np.greater(sum_bad, total_w)
            else:
                both &= np.greater(sum_bad, total_w, out=over)
        yield window, both


def _firing_runs(
    bad: np.ndarray,
    total: np.ndarray,
    objectives: np.ndarray,
    policy: AlertPolicy,
    step: pd.Timedelta,
    first_data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    whole: bool,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``window_firing`` on the columns of the data's steps (first minutes ``starts``, each
    ``lengths`` long), as runs of firing minutes per window: (row, first minute, minute after
    the last), in row then time order.

    The runs of the columns are those of the minutes the columns repeat to; a window's
    history cuts each run at the minute the window is ready, and its ``for`` drops the first
    ``for`` minutes of each run, as they do minute by minute.
    """
    bounds = np.append(starts, starts[-1] + lengths[-1]) if starts.size else np.zeros(1, int)
    result = []
    for window, (row, first, after) in _column_runs(bad, total, objectives, policy, step, whole):
        first, after = bounds[first], bounds[after]
        ready = first_data[row] + int(max(window.long_window, step) // MINUTE) - 1
        first = np.maximum(first, ready) + int(window.for_ // MINUTE)
        kept = first < after
        result.append((row[kept], first[kept], after[kept]))
    return result


DENSE_SHARE = 16
"""A window's first burn rate passing at more than one column in this many is followed by
its second over every column; at fewer, only at the columns that passed."""


def _column_runs(
    bad: np.ndarray,
    total: np.ndarray,
    objectives: np.ndarray,
    policy: AlertPolicy,
    step: pd.Timedelta,
    whole: bool,
) -> Iterator[tuple[AlertWindow, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Each window of ``policy`` with the runs of columns (of ``step``) at which both its burn
    rates exceed its factor (``_window_columns``): (row, first column, column after the
    last), in row then time order.

    The short window is tested at every column; the long one, where few columns passed, only
    at those, from the same running sums: the same numbers at the columns that decide.
    """
    columns = bad.shape[1]
    if whole and _fits_in_int32(bad, total):
        cum_bad, cum_total = _running_sums(bad, np.int32), _running_sums(total, np.int32)
    else:
        cum_bad, cum_total = _cumulative(bad, whole), _cumulative(total, whole)
    budget = (1.0 - objectives)[:, None]
    total_w = np.empty(bad.shape)
    bad_i, total_i = np.empty(bad.shape, cum_bad.dtype), np.empty(bad.shape, cum_total.dtype)
    over = np.empty(bad.shape, dtype=bool)
    for window in policy.windows:
        threshold = window.factor * budget
        short, long = (
            int(max(width, step) // step) for width in (window.short_window, window.long_window)
        )
        both = np.empty(bad.shape, dtype=bool)
        for at, span in enumerate((short, long)):
            if whole and span == 1:
                sum_bad, sum_total = bad, total
            else:
                sum_bad = _window_sum(cum_bad, MINUTE * span, out=bad_i)
                sum_total = _window_sum(cum_total, MINUTE * span, out=total_i)
            np.multiply(sum_total, threshold, out=total_w)
            if at == 0:
                np.greater(sum_bad, total_w, out=both)
                cells = np.flatnonzero(both)
                if cells.size * DENSE_SHARE <= both.size:
                    cells = cells[_over_at(cum_bad, cum_total, threshold, cells, columns, long)]
                    break
            else:
                both &= np.greater(sum_bad, total_w, out=over)
                cells = np.flatnonzero(both)
        yield window, _cell_runs(cells, columns)


def _fits_in_int32(bad: np.ndarray, total: np.ndarray) -> bool:
    """Whether every running sum along a row of ``bad`` and of ``total`` (whole numbers, the
    bad events no more than all of them) lies within four-byte integers."""
    if bad.size == 0:
        return True
    bound = max(float(total.max()), -float(bad.min()), 0.0) * bad.shape[1]
    return bound < 2**31


def _running_sums(values: np.ndarray, dtype: type[np.signedinteger]) -> np.ndarray:
    """``_cumulative`` of whole numbers as ``dtype`` (the sums fit in it): the same numbers."""
    result = np.empty((values.shape[0], values.shape[1] + 1), dtype=dtype)
    result[:, 0] = 0
    np.cumsum(values, axis=1, dtype=dtype, out=result[:, 1:])
    return result


def _over_at(
    cum_bad: np.ndarray,
    cum_total: np.ndarray,
    threshold: np.ndarray,
    cells: np.ndarray,
    columns: int,
    span: int,
) -> np.ndarray:
    """Whether the bad events over ``span`` columns exceed ``threshold`` times the events at
    each of ``cells`` (flat indices of a ``columns``-wide grid), from the running sums
    (``_cumulative``) as ``_window_sum`` takes them."""
    row = cells // columns
    high = cells + row + 1  # the running sums have a leading column
    low = high - np.minimum(cells - row * columns + 1, span)
    cum_bad, cum_total = cum_bad.ravel(), cum_total.ravel()
    sum_bad = cum_bad[high] - cum_bad[low]
    sum_total = cum_total[high] - cum_total[low]
    return sum_bad > sum_total * threshold.ravel()[row]


def _cell_runs(cells: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_episodes`` of a ``columns``-wide grid from the flat indices of its true cells
    (ascending): (row, first column, column after the last)."""
    row, column = np.divmod(cells, columns)
    new = np.ones(cells.shape, dtype=bool)
    new[1:] = (cells[1:] != cells[:-1] + 1) | (column[1:] == 0)
    heads = np.flatnonzero(new)
    last = np.empty_like(heads)
    last[:-1] = heads[1:] - 1
    last[-1:] = cells.size - 1
    return row[heads], column[heads], column[last] + 1


def _run_episodes(
    policy: AlertPolicy,
    runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    severity: str,
    lead: int,
    minutes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_severity_episodes`` from the windows' runs (``_firing_runs``) over ``minutes``
    replayed minutes: the union of the severity's runs, each merged with those it overlaps
    or touches, cut to the month."""
    indices = [i for i, w in enumerate(policy.windows) if w.severity == severity]
    indices.sort(key=lambda i: -policy.windows[i].factor)
    empty = np.array([], dtype=np.int64)
    if not indices:
        return empty, empty, empty, np.array([], dtype=object), np.array([], dtype=bool)
    row, first, after = (np.concatenate([runs[i][k] for i in indices]) for k in range(3))
    # Runs as offsets on one line, a row after another, merged where one begins at or
    # before the furthest end so far.
    line = minutes + 1
    order = np.lexsort((first, row))
    begin, end = row[order] * line + first[order], row[order] * line + after[order]
    reach = np.maximum.accumulate(end) if end.size else end
    new = np.ones(begin.shape, dtype=bool)
    new[1:] = begin[1:] > reach[:-1]
    heads = np.flatnonzero(new)
    tails = np.append(heads[1:], begin.size)[: heads.size] - 1
    row = row[order][heads]
    first, after = begin[heads] - row * line, reach[tails] - row * line
    inside = after > lead
    row, first, after = row[inside], first[inside], after[inside]
    ongoing = first < lead
    first = np.maximum(first, lead) - lead
    after = after - lead
    tier = np.full(row.shape, None, dtype=object)
    width = minutes - lead
    keys = row * width + first
    for i in reversed(indices):  # the fastest window last, so it wins
        run_row, run_first, run_after = runs[i]
        mine = run_after > lead
        at = run_row[mine] * width + np.maximum(run_first[mine], lead) - lead
        hit = np.zeros(row.shape, dtype=bool)
        hit[np.searchsorted(keys, at, side="right") - 1] = True
        tier[hit] = policy.windows[i].tier
    return row, first, after, tier, ongoing


def common_phase(present: np.ndarray, step: pd.Timedelta) -> int | None:
    """The minute below ``step`` on which every row's data lies (``None`` when some point lies
    off it, or the step is a minute): the replay may then sum windows per step."""
    step_minutes = int(step // MINUTE)
    if step_minutes <= 1:
        return None
    with_data = np.flatnonzero(present.any(axis=1))
    if with_data.size == 0:
        return None
    phase = int(np.argmax(present[with_data[0]])) % step_minutes
    off_phase = np.arange(present.shape[1]) % step_minutes != phase
    return None if bool(present[:, off_phase].any()) else phase


def alert_firing(
    bad: np.ndarray,
    total: np.ndarray,
    objectives: np.ndarray,
    policy: AlertPolicy = WORKBOOK,
    step: pd.Timedelta = MINUTE,
    first_data: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Minutes at which each alert severity would fire: some window of that severity fires
    (``window_firing``)."""
    firing = {severity: np.zeros(bad.shape, dtype=bool) for severity in ALERT_SEVERITIES}
    fired = window_firing(bad, total, objectives, policy, step, first_data)
    for window, minutes in zip(policy.windows, fired, strict=True):
        firing[window.severity] |= minutes
    return firing


def _cumulative(values: np.ndarray, whole: bool = False) -> np.ndarray:
    """Cumulative float sums along each row with a leading zero column (for window sums).

    For ``whole`` counts (``SLIGrid.whole``) they are summed in integers, which is quicker
    than a running float sum and gives the same numbers: every partial sum is exact.
    """
    result = np.zeros((values.shape[0], values.shape[1] + 1))
    if whole:
        result[:, 1:] = np.cumsum(values, axis=1, dtype=np.int64)
    else:
        np.cumsum(values, axis=1, out=result[:, 1:])
    return result


def _window_sum(
    cumulative: np.ndarray, window: pd.Timedelta, out: np.ndarray | None = None
) -> np.ndarray:
    """Trailing sums over ``window`` minutes for every minute, from a cumulative sum, written
    into ``out`` when given (the replay reuses one buffer for every window)."""
    width = int(window // MINUTE)
    minutes = cumulative.shape[1] - 1
    if out is None:
        out = np.empty((cumulative.shape[0], minutes), dtype=cumulative.dtype)
    if width < minutes:
        out[:, :width] = cumulative[:, 1 : width + 1]
        np.subtract(
            cumulative[:, width + 1 :], cumulative[:, 1 : minutes + 1 - width], out=out[:, width:]
        )
    else:
        out[:] = cumulative[:, 1:]
    return out


def burn_rate_series(grid: SLIGrid, window: pd.Timedelta, rows: slice = slice(None)) -> np.ndarray:
    """Burn rate over trailing ``window`` at every minute: ``(bad/total in w) / (1 - objective)``.

    NaN where the window holds no events. On data kept on its step (``SLIGrid.step``) and a
    window of whole steps, a window's sums change only where a point enters or leaves it, at
    the first minute of a step: they are taken per step and each repeated over its minutes.
    """
    steps = MINUTE * grid.step
    by_step = grid.step > 1 and window >= steps and window % steps == pd.Timedelta(0)
    lengths = None
    if by_step and grid.whole:
        return _step_burn_rates(grid, int(window // steps), rows)
    if by_step:
        first = grid.month_column
        phase = grid.phase + first * grid.step - grid.lead  # the month's first point
        _, lengths = _step_columns(phase, grid.step, grid.minutes)
        total = grid.total_steps[rows, first:]
        bad = np.subtract(total, grid.good_steps[rows, first:])
        if phase > 0:
            bad, total = (np.pad(part, ((0, 0), (1, 0))) for part in (bad, total))
        window = MINUTE * int(window // steps)  # in columns, as _window_sum counts
    else:
        total = grid.month_rows(grid.total_steps[rows])
        bad = np.subtract(total, grid.month_rows(grid.good_steps[rows]))
    cum_bad = _cumulative(bad, grid.whole)
    cum_total = _cumulative(total, grid.whole)
    del bad, total
    rate, total_w = _window_sum(cum_bad, window), _window_sum(cum_total, window)
    del cum_bad, cum_total
    objectives = grid.objectives[rows][:, None]
    with_events = np.greater(total_w, 0)
    np.divide(rate, total_w, out=rate, where=with_events)
    rate[~with_events] = np.nan
    rate /= 1.0 - objectives
    return rate if lengths is None else np.repeat(rate, lengths, axis=1)


def _step_burn_rates(grid: SLIGrid, width: int, rows: slice) -> np.ndarray:
    """``burn_rate_series`` over ``width`` columns of whole counts kept on their step: the
    window sums of events and of good events are differences of running sums in integers
    (of four bytes where they fit), the bad ones the difference of those (every such sum
    exact, so the same numbers as the bad events' own sums); a rate is divided as they are,
    then repeated over its minutes."""
    first = grid.month_column
    phase = grid.phase + first * grid.step - grid.lead  # the month's first point
    _, lengths = _step_columns(phase, grid.step, grid.minutes)
    lead = 2 if phase > 0 else 1  # with the empty column before the first point
    total, good = grid.total_steps[rows, first:], grid.good_steps[rows, first:]
    # Four bytes hold every running sum when no count times the columns reaches 2^31.
    biggest = max(float(total.max(initial=0)), float(good.max(initial=0)))
    dtype = np.int32 if biggest * total.shape[1] < 2**31 else np.int64
    sums = []
    for values in (total, good):
        running = np.empty((values.shape[0], values.shape[1] + lead), dtype=dtype)
        running[:, :lead] = 0
        np.cumsum(values, axis=1, dtype=dtype, out=running[:, lead:])
        sums.append(_window_sum(running, MINUTE * width))
    total_w, bad_w = sums
    np.subtract(total_w, bad_w, out=bad_w)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.divide(bad_w, total_w)
    rate[total_w == 0] = np.nan
    rate /= 1.0 - grid.objectives[rows][:, None]
    return np.repeat(rate, lengths, axis=1)


def data_step(grid: SLIGrid, sample_rows: int = 16) -> pd.Timedelta:
    """The data's step: the most common distance between minutes with rows (1m when unknown).

    Read from the first few SLOs with data, which share one source and so one step.
    """
    present = grid.present_steps[:, grid.month_column :]
    gaps = [
        np.diff(np.flatnonzero(present[row])) * grid.step
        for row in np.flatnonzero(present.any(axis=1))[:sample_rows]
    ]
    gaps = np.concatenate(gaps) if gaps else np.array([], dtype=np.int64)
    return MINUTE * (int(np.bincount(gaps).argmax()) if gaps.size else 1)


def _episodes(firing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of consecutive firing minutes: (row, first minute, minute after the last).

    A run starts and ends where a row changes (with no firing before and after the row), so
    each row's changes alternate start, end.
    """
    rows, minutes = firing.shape
    changes = np.empty((rows, minutes + 1), dtype=bool)
    changes[:, 0] = firing[:, 0] if minutes else False
    changes[:, -1] = firing[:, -1] if minutes else False
    np.not_equal(firing[:, 1:], firing[:, :-1], out=changes[:, 1:-1])
    row, column = np.divmod(np.flatnonzero(changes), minutes + 1)
    return row[0::2], column[0::2], column[1::2]


def day_edges(period: Month, start: pd.Timestamp) -> np.ndarray:
    """Grid column of each local midnight of the period (the first is 0)."""
    first = pd.Timestamp(period.year, period.month, 1)
    last = pd.Timestamp(period.next().year, period.next().month, 1)
    days = local_midnights(pd.date_range(first, last, freq="D", inclusive="left"), period.timezone)
    return np.asarray((days - start) // MINUTE, dtype=np.int64)


@dataclass(frozen=True)
class SLOReport:
    """Every SLO figure of one period."""

    table: pd.DataFrame
    """One row per SLO: sums, SLI, budget, status, alert episode counts, exhaustion dates."""
    burndown: pd.DataFrame
    """Per SLO and local day: share of the period's budget consumed by the end of that day."""
    alerts: pd.DataFrame
    """Replayed alert episodes: service, slo, severity, tier, alert_policy, start, end,
    minutes, ongoing_at_start."""
    corrections: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=[]))
    """The period's corrections per SLO: service, slo, start, end, reason, excluded_minutes,
    budget_set_aside."""


def slo_report(
    grid: SLIGrid,
    period: Month,
    now: pd.Timestamp | None = None,
    replay_alerts: bool = True,
    policies: Mapping[str, AlertPolicy] | None = None,
    corrections: pd.DataFrame | None = None,
) -> SLOReport:
    """All SLO numbers for ``period``; ``now`` inside the period marks a month in progress.

    For a month in progress the budget is projected from the events so far
    (``n_so_far / elapsed_fraction``) and the day the budget runs out at the current pace is
    given; for a finished month, the day it ran out, if it did. The alert replay runs over
    the grid's lookback and the month (up to ``now``) and reports the episodes firing inside
    the month; ``replay_alerts=False`` skips it (counts 0, no episodes). Each SLO is
    replayed under the policy its ``alert_policy`` column names in ``policies`` (default: the
    Workbook's, for every SLO).

    ``corrections`` (``Config.correction_table()``) are windows excluded from the SLI and the
    budget (their events and slices are left out), but not from the alert replay: the rules
    running in production raise their alerts during planned maintenance too.
    """
    policies = {WORKBOOK.name: WORKBOOK} if policies is None else policies
    replay = grid
    pairs = _correction_pairs(grid, corrections)
    if not pairs.empty:
        grid = _corrected(grid, pairs)
    policy_names = policy_column(grid.slos, policies)
    slos = grid.slos
    rows = len(slos)
    elapsed = 1.0 if now is None else period.elapsed_fraction(now)
    edges = day_edges(period, grid.start)
    objectives = slos["objective"].to_numpy(dtype=float)
    sums = {k: np.zeros(rows) for k in ("good", "total", "badness", "weight")}
    daily_badness = np.zeros((rows, len(edges)))
    episodes: list[tuple[np.ndarray, ...]] = []
    counts = {severity: np.zeros(rows, dtype=np.int64) for severity in ALERT_SEVERITIES}
    step = data_step(replay) if replay_alerts else MINUTE
    # A row covers its whole step: data that begins within the first step of the lookback
    # (the source's phase) is complete history.
    step_minutes = int(step // MINUTE)
    first_data = np.maximum(_first_data(grid) - (step_minutes - 1), 0)
    phase = _grid_phase(replay, step) if replay_alerts else None
    until = grid.lead + int(np.clip(np.ceil(elapsed * grid.minutes), 0, grid.minutes))
    # Data kept on its step (``SLIGrid.step``): whole sums are taken over its columns, the
    # other SLOs' budget terms are laid on minutes (their fractions sum in minute order).
    on_steps = grid.step > 1 and grid.whole
    month_column = grid.month_column
    day_columns = grid.columns_before_each(grid.lead + edges) - month_column
    exact = _on_columns(grid) if on_steps else np.zeros(rows, dtype=bool)
    replay_columns = None
    if on_steps and step_minutes == grid.step:
        replay_columns = _step_columns(grid.phase, step_minutes, until)
    per_step = {name: _by_step(policy, step, phase) for name, policy in policies.items()}
    step_runs: dict[str, list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]]] = {}
    for chunk in _row_chunks(rows, _chunk_rows(grid)):
        if on_steps:
            good, total = (
                grid.good_steps[chunk, month_column:],
                grid.total_steps[chunk, month_column:],
            )
        else:
            good, total = grid.good[chunk], grid.total[chunk]
        sums["good"][chunk] = good.sum(axis=1)
        sums["total"][chunk] = total.sum(axis=1)
        if on_steps:
            by_columns = chunk.start + np.flatnonzero(exact[chunk])
            by_minutes = chunk.start + np.flatnonzero(~exact[chunk])
            if by_columns.size:
                badness, sums["badness"][by_columns], sums["weight"][by_columns] = _column_terms(
                    grid, by_columns, sums["good"][by_columns], sums["total"][by_columns]
                )
                daily_badness[by_columns] = np.add.reduceat(badness, day_columns, axis=1)
            if by_minutes.size:
                _slice_sums(grid, by_minutes, edges, sums, daily_badness)
        else:
            badness, weight = budget_terms(grid, chunk)
            sums["badness"][chunk] = badness.sum(axis=1)
            sums["weight"][chunk] = weight.sum(axis=1)
            daily_badness[chunk] = np.add.reduceat(badness, edges, axis=1)
        if not replay_alerts:
            continue
        for name in dict.fromkeys(policy_names[chunk]):
            rows_of = chunk.start + np.flatnonzero(policy_names[chunk] == name)
            # One policy for the whole chunk reads the grid's rows in place.
            taken = chunk if len(rows_of) == chunk.stop - chunk.start else rows_of
            policy = policies[name]
            if replay_columns is not None and per_step[name]:
                runs = _firing_runs(
                    *_replay_columns(replay, taken, until),
                    objectives[rows_of],
                    policy,
                    step,
                    first_data[rows_of],
                    *replay_columns,
                    replay.whole,
                )
                # The runs of every chunk are made episodes together, after the last.
                step_runs.setdefault(name, []).append([(rows_of[r], f, a) for r, f, a in runs])
                continue
            else:
                total_all = replay.total_all[taken, :until]
                fired = window_firing(
                    np.subtract(total_all, replay.good_all[taken, :until]),
                    total_all,
                    objectives[rows_of],
                    policy,
                    step=step,
                    first_data=first_data[rows_of],
                    phase=phase,
                    whole=replay.whole,
                )
                found = [
                    _severity_episodes(policy, fired, severity, grid.lead)
                    for severity in ALERT_SEVERITIES
                ]
            for severity, (row, first, after, tier, ongoing) in zip(
                ALERT_SEVERITIES, found, strict=True
            ):
                counts[severity][rows_of] += np.bincount(row, minlength=len(rows_of))
                episodes.append((rows_of[row], first, after, severity, tier, name, ongoing))
    for name, chunks in step_runs.items():
        runs = [
            tuple(np.concatenate(parts) for parts in zip(*windows, strict=True))
            for windows in zip(*chunks, strict=True)
        ]
        for severity in ALERT_SEVERITIES:
            row, first, after, tier, ongoing = _run_episodes(
                policies[name], runs, severity, grid.lead, until
            )
            counts[severity] += np.bincount(row, minlength=rows)
            episodes.append((row, first, after, severity, tier, name, ongoing))

    with np.errstate(invalid="ignore", divide="ignore"):
        bad_share = np.where(sums["weight"] > 0, sums["badness"] / sums["weight"], np.nan)
        projected_weight = sums["weight"] / elapsed if elapsed > 0 else np.full(rows, np.nan)
        allowed = (1.0 - objectives) * projected_weight
        consumed_so_far = np.where(allowed > 0, sums["badness"] / allowed, np.nan)
        daily_consumed = np.cumsum(daily_badness, axis=1) / allowed[:, None]
        event_sli = np.where(sums["total"] > 0, sums["good"] / sums["total"], np.nan)
    sli = 1.0 - bad_share
    consumed = bad_share / (1.0 - objectives)
    remaining = 1.0 - consumed
    by_events = (slos["budgeting"] == "occurrences").to_numpy()
    with_data = sums["weight"] > 0

    table = slos[["service", "slo", "objective", "budgeting"]].copy()
    if "team" in slos:
        table.insert(1, "team", slos["team"])
    table["sli"] = sli
    table["good"] = sums["good"]
    table["total"] = sums["total"]
    table["bad"] = sums["total"] - sums["good"]
    table["event_sli"] = event_sli
    table["allowed_bad_events"] = np.where(
        by_events & with_data, (1.0 - objectives) * sums["total"], np.nan
    )
    table["slices"] = np.where(by_events, np.nan, sums["weight"])
    table["bad_slices"] = np.where(by_events, np.nan, sums["badness"])
    table["allowed_bad_slices"] = np.where(
        ~by_events & with_data, (1.0 - objectives) * sums["weight"], np.nan
    )
    table["budget_consumed"] = consumed
    table["budget_remaining"] = remaining
    table["status"] = _status(sli, remaining)
    table["page_alerts"] = counts["page"]
    table["ticket_alerts"] = counts["ticket"]
    table["alert_history_from"] = _history_from(first_data, grid, period)
    day_starts = grid.start + pd.to_timedelta(edges, "min")
    table["budget_exhausted_on"] = _first_day_over(daily_consumed, day_starts)
    table["projected_exhaustion_on"] = _projected_exhaustion(
        consumed_so_far, elapsed, period, in_progress=now is not None and elapsed < 1.0
    )
    burndown = _burndown_frame(slos, daily_consumed, day_starts, period)
    table["uncorrected_sli"] = sli
    table["budget_set_aside"] = np.where(with_data, 0.0, np.nan)
    listed = _correction_figures(replay, pairs, table)
    return SLOReport(
        table=table,
        burndown=burndown,
        alerts=_alerts_frame(slos, grid, episodes),
        corrections=listed,
    )


CORRECTION_COLUMNS = [
    "service",
    "slo",
    "start",
    "end",
    "reason",
    "excluded_minutes",
    "budget_set_aside",
]


def apply_corrections(grid: SLIGrid, corrections: pd.DataFrame | None) -> SLIGrid:
    """``grid`` without the events of the minutes ``corrections`` exclude (the grid itself
    when none of them touches its period)."""
    pairs = _correction_pairs(grid, corrections)
    return grid if pairs.empty else _corrected(grid, pairs)


def _correction_pairs(grid: SLIGrid, corrections: pd.DataFrame | None) -> pd.DataFrame:
    """Each correction of an SLO of the grid that overlaps its period: the SLO's row and the
    correction's month columns ``[first, after)`` (clipped to the period)."""
    columns = ["row", "first", "after", "correction", "service", "slo", "start", "end", "reason"]
    if corrections is None or corrections.empty:
        return pd.DataFrame(columns=columns)
    keys = grid.slos[["service", "slo"]].reset_index(names="row")
    pairs = corrections.merge(keys, on=["service", "slo"])
    pairs["first"] = grid.minute_index(pairs["start"])
    pairs["after"] = grid.minute_index(pairs["end"])
    pairs = pairs.loc[pairs["after"] > pairs["first"]]
    return pairs[columns].sort_values(["row", "start"], ignore_index=True)


def _excluded(grid: SLIGrid, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rows with corrections, and per such row which month minutes they exclude (the
    union of its corrections, so overlapping ones exclude a minute once)."""
    rows, position = np.unique(pairs["row"].to_numpy(dtype=np.int64), return_inverse=True)
    marks = np.zeros((len(rows), grid.minutes + 1), dtype=np.int64)
    np.add.at(marks, (position, pairs["first"].to_numpy(dtype=np.int64)), 1)
    np.add.at(marks, (position, pairs["after"].to_numpy(dtype=np.int64)), -1)
    return rows, np.cumsum(marks[:, :-1], axis=1) > 0


def _corrected(grid: SLIGrid, pairs: pd.DataFrame) -> SLIGrid:
    """``grid`` without the events of the corrected minutes (the lookback is left as it is)."""
    rows, excluded = _excluded(grid, pairs)
    first = grid.month_column
    # The excluded minutes on which the grid's columns lie.
    at = grid.phase + np.arange(first, grid.good_steps.shape[1]) * grid.step - grid.lead
    excluded = excluded[:, at]
    good, total = grid.good_steps.copy(), grid.total_steps.copy()
    good[rows, first:] = np.where(excluded, 0.0, good[rows, first:])
    total[rows, first:] = np.where(excluded, 0.0, total[rows, first:])
    return replace(grid, good_steps=good, total_steps=total)


def _correction_figures(grid: SLIGrid, pairs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Fill ``table``'s ``uncorrected_sli`` and ``budget_set_aside`` for the SLOs with
    corrections, from the uncorrected ``grid``; return the month's corrections, each with the
    minutes it excluded and the budget it set aside.

    Budget set aside: the bad events (or slices) inside the excluded minutes, as a share of the
    SLO's uncorrected budget for the period, ``(1 - objective) * sum(n)``. Per SLO it counts
    the union of its corrections; per correction, its own window.
    """
    if pairs.empty:
        return pd.DataFrame(columns=CORRECTION_COLUMNS)
    rows, excluded = _excluded(grid, pairs)
    objectives = table["objective"].to_numpy(dtype=float)
    shares = np.full(len(pairs), np.nan)
    for i, row in enumerate(rows):
        badness, weight = (part[0] for part in budget_terms(grid, slice(row, row + 1)))
        total_weight = weight.sum()
        if total_weight <= 0:
            continue
        allowed = (1.0 - objectives[row]) * total_weight
        table.loc[row, "uncorrected_sli"] = 1.0 - badness.sum() / total_weight
        table.loc[row, "budget_set_aside"] = badness[excluded[i]].sum() / allowed
        cumulative = np.concatenate([[0.0], np.cumsum(badness)])
        own = (pairs["row"] == row).to_numpy()
        first = pairs.loc[own, "first"].to_numpy(dtype=np.int64)
        after = pairs.loc[own, "after"].to_numpy(dtype=np.int64)
        shares[own] = (cumulative[after] - cumulative[first]) / allowed
    listed = pairs.assign(
        excluded_minutes=(pairs["after"] - pairs["first"]).astype(np.int64),
        budget_set_aside=shares,
    )
    return listed.sort_values(["start", "service", "slo"], ignore_index=True)[CORRECTION_COLUMNS]


def _replay_columns(
    grid: SLIGrid, rows: slice | np.ndarray, until: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bad and total events of ``rows`` per column of the grid's step up to minute ``until``
    (with the empty column before the first point, ``_step_columns``): what the replay's
    per-step sums of the same rows laid on minutes give."""
    columns = grid.columns_before(until)
    total = grid.total_steps[rows, :columns]
    bad = np.subtract(total, grid.good_steps[rows, :columns])
    if grid.phase > 0:
        bad, total = (np.pad(part, ((0, 0), (1, 0))) for part in (bad, total))
    return bad, total


def policy_column(slos: pd.DataFrame, policies: Mapping[str, AlertPolicy]) -> np.ndarray:
    """The alert policy name of each SLO: its ``alert_policy`` column, else the only (or
    first) policy of ``policies``."""
    default = next(iter(policies))
    if "alert_policy" not in slos:
        return np.full(len(slos), default, dtype=object)
    return slos["alert_policy"].fillna(default).to_numpy(dtype=object)


def _severity_episodes(
    policy: AlertPolicy, fired: list[np.ndarray], severity: str, lead: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Episodes of ``severity`` inside the month (``_month_episodes``) with their tier: that
    of the fastest window of the severity that fired during the episode."""
    indices = [i for i, w in enumerate(policy.windows) if w.severity == severity]
    indices.sort(key=lambda i: -policy.windows[i].factor)
    if not indices:
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty, np.array([], dtype=object), np.array([], dtype=bool)
    union = fired[indices[0]].copy()
    for i in indices[1:]:
        union |= fired[i]
    row, first, after, ongoing = _month_episodes(union, lead)
    tier = np.full(row.shape, None, dtype=object)
    # A window fired during an episode when one of its own runs lies in it: the episode
    # holding the run's first minute (episodes are in row, then time, order).
    width = union.shape[1] - lead
    keys = row * width + first
    for i in reversed(indices):  # the fastest window last, so it wins
        run_row, run_first, _ = _episodes(fired[i][:, lead:])
        hit = np.zeros(row.shape, dtype=bool)
        hit[np.searchsorted(keys, run_row * width + run_first, side="right") - 1] = True
        tier[hit] = policy.windows[i].tier
    return row, first, after, tier, ongoing


def _first_data(grid: SLIGrid) -> np.ndarray:
    """Each row's first minute with data, from the lookback's start (the span where none)."""
    present = grid.present_steps
    first = grid.phase + np.argmax(present, axis=1) * grid.step
    return np.where(present.any(axis=1), first, grid.span_minutes)


def _grid_phase(grid: SLIGrid, step: pd.Timedelta) -> int | None:
    """``common_phase`` of the grid's data: read from its lattice when ``step`` divides it."""
    step_minutes = int(step // MINUTE)
    if step_minutes <= 1:
        return None
    if grid.step % step_minutes == 0:
        return grid.phase % step_minutes if bool(grid.present_steps.any()) else None
    return common_phase(grid.present_all, step)


def _history_from(first_data: np.ndarray, grid: SLIGrid, period: Month) -> pd.Series:
    """Where the replay's history begins, for SLOs whose data starts after the lookback's
    first minute (NaT where the lookback is complete, or where there is no data at all)."""
    late = (first_data > 0) & (first_data < grid.span_minutes)
    first = grid.start + pd.to_timedelta(first_data - grid.lead, "min")
    return pd.Series(first.where(late), dtype="datetime64[ns, UTC]")


def _month_episodes(
    firing: np.ndarray, lead: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Episodes firing inside the month (columns from ``lead``), in month minutes: (row,
    first minute, minute after the last, whether it was already firing before the month)."""
    month = firing[:, lead:]
    row, first, after = _episodes(month)
    if lead == 0:
        return row, first, after, np.zeros(row.shape, dtype=bool)
    before = firing[:, lead - 1]
    ongoing = (first == 0) & before[row]
    return row, first, after, ongoing


def _status(sli: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    return np.select(
        [np.isnan(sli), remaining < 0, remaining < AT_RISK_REMAINING],
        ["no_data", "missed", "at_risk"],
        default="met",
    )


def _first_day_over(daily_consumed: np.ndarray, day_starts: pd.DatetimeIndex) -> pd.Series:
    """The local day (as its UTC start) by whose end the budget was used up, or NaT."""
    over = np.nan_to_num(daily_consumed, nan=0.0) >= 1.0
    first = np.argmax(over, axis=1)
    found = over.any(axis=1)
    values = np.where(found, day_starts.to_numpy()[first], np.datetime64("NaT"))
    return pd.Series(pd.to_datetime(values, utc=True))


def _projected_exhaustion(
    consumed_so_far: np.ndarray, elapsed: float, period: Month, *, in_progress: bool
) -> pd.Series:
    """At the pace so far, when the budget runs out, if before the period ends (else NaT)."""
    rows = len(consumed_so_far)
    if not in_progress:
        return pd.Series(pd.NaT, index=range(rows), dtype="datetime64[ns, UTC]")
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction_at_exhaustion = elapsed / consumed_so_far
    # Already spent: nothing to project (``budget_exhausted_on`` gives the day it ran out).
    within = (
        np.isfinite(fraction_at_exhaustion)
        & (fraction_at_exhaustion <= 1.0)
        & (consumed_so_far < 1.0)
    )
    offsets = pd.to_timedelta(np.where(within, fraction_at_exhaustion, np.nan) * period.days, "D")
    return pd.Series(period.start + offsets)


def _text_at(values: np.ndarray, at: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """``values[at]`` (``values`` a few, ``at`` many) as a frame built from them holds it:
    text is typed once from ``values`` and taken from there, instead of typing every value
    taken (the same type: text when all of them are, whichever are taken)."""
    typed = pd.Series(values, dtype=None if len(values) else object).array
    if at.size and isinstance(typed.dtype, pd.StringDtype):
        return typed.take(at)
    return values[at]


def _burndown_frame(
    slos: pd.DataFrame, daily_consumed: np.ndarray, day_starts: pd.DatetimeIndex, period: Month
) -> pd.DataFrame:
    days = len(day_starts)
    rows = len(slos)
    local_days = day_starts.tz_convert(period.timezone).tz_localize(None).normalize()
    day_ends = np.append(day_starts[1:], period.end)
    even = (pd.DatetimeIndex(day_ends) - period.start) / period.duration
    each = np.repeat(np.arange(rows), days)
    return pd.DataFrame(
        {
            "service": _text_at(slos["service"].to_numpy(), each),
            "slo": _text_at(slos["slo"].to_numpy(), each),
            "day": np.tile(local_days.to_numpy(), rows),
            "budget_consumed": daily_consumed.ravel(),
            "even_spend": np.tile(np.asarray(even, dtype=float), rows),
        }
    )


def _alerts_frame(slos: pd.DataFrame, grid: SLIGrid, episodes: list[tuple]) -> pd.DataFrame:
    """The episodes, each (rows, first minutes, minutes after the last, severity, tiers,
    policy name, whether ongoing at the month's start) for some SLOs, as one frame."""
    if episodes:
        row, first, after, tier, ongoing = (
            np.concatenate([part[k] for part in episodes]) for k in (0, 1, 2, 4, 6)
        )
        found = np.repeat(np.arange(len(episodes)), [part[0].size for part in episodes])
    else:
        row = first = after = found = np.array([], dtype=np.int64)
        tier = np.array([], dtype=object)
        ongoing = np.array([], dtype=bool)
    severity, policy = (np.array([part[k] for part in episodes], dtype=object) for k in (3, 5))
    tier_at, tiers = pd.factorize(tier, use_na_sentinel=False)
    service, name = slos["service"].to_numpy(), slos["slo"].to_numpy()
    # In order of start, service and slo (ties as found): the start is the month minute
    # ``first``, and each SLO's place among the sorted (service, slo) pairs is its rank.
    rank = pd.DataFrame({"service": service, "slo": name}).groupby(["service", "slo"]).ngroup()
    rank = rank.to_numpy(dtype=np.int64)
    order = np.argsort(first * (len(slos) + 1) + rank[row], kind="stable")
    row, first, after, found = row[order], first[order], after[order], found[order]
    return pd.DataFrame(
        {
            "service": _text_at(service, row),
            "slo": _text_at(name, row),
            "severity": _text_at(severity, found),
            "tier": _text_at(np.asarray(tiers, dtype=object), tier_at[order]),
            "alert_policy": _text_at(policy, found),
            "start": grid.start + pd.to_timedelta(first, "min"),
            "end": grid.start + pd.to_timedelta(after, "min"),
            "minutes": after - first,
            "ongoing_at_start": ongoing[order],
        }
    )


def budget_attribution(
    grid: SLIGrid, report: SLOReport, incidents: pd.DataFrame, period_end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which incidents burned how much of which SLO's period budget, and how much none explains.

    An incident's window is ``[started_at or created_at, resolved_at or period_end)``; it burns
    the budget of every SLO of its service. Shares are fractions of the SLO's budget for the
    period (so a share of 0.5 is half the month's budget). Returns the per (incident, SLO) frame
    and a per-SLO frame with ``attributed_budget`` (the union of all incident windows, so
    overlapping incidents are not counted twice) and ``unattributed_budget``.
    """
    slos = grid.slos
    pair_columns = ["id", "service", "slo", "severity", "title", "start", "end", "budget_share"]
    per_slo = slos[["service", "slo"]].copy()
    consumed = report.table["budget_consumed"].to_numpy()
    per_slo["attributed_budget"] = np.where(np.isnan(consumed), np.nan, 0.0)
    windows = incidents.assign(
        start=incidents["started_at"].fillna(incidents["created_at"]),
        end=incidents["resolved_at"].fillna(period_end),
    )
    pairs = windows.merge(
        slos[["service", "slo"]].reset_index(names="row").astype({"service": "string"}),
        on="service",
    )
    results = []
    for row, group in pairs.groupby("row", sort=True):
        badness, weight = budget_terms(grid, slice(row, row + 1))
        badness, weight = badness[0], weight[0]
        allowed = (1.0 - slos["objective"].iloc[row]) * weight.sum()
        cumulative = np.concatenate([[0.0], np.cumsum(badness)])
        first = grid.minute_index(group["start"])
        after = np.maximum(grid.minute_index(group["end"]), first)
        share = (cumulative[after] - cumulative[first]) / allowed if allowed > 0 else np.nan
        results.append(group.assign(budget_share=share))
        covered = np.zeros(grid.minutes + 1, dtype=np.int64)
        np.add.at(covered, first, 1)
        np.add.at(covered, after, -1)
        inside = np.cumsum(covered[:-1]) > 0
        if allowed > 0:
            per_slo.loc[row, "attributed_budget"] = badness[inside].sum() / allowed
    per_slo["unattributed_budget"] = consumed - per_slo["attributed_budget"]
    if results:
        attribution = pd.concat(results, ignore_index=True)[pair_columns]
        attribution = attribution.sort_values(["budget_share", "id"], ascending=[False, True])
    else:
        attribution = pd.DataFrame(columns=pair_columns)
    return attribution.reset_index(drop=True), per_slo
