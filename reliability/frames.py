"""The canonical frames every source returns, and their validation at the boundary.

Each table is described once (``TableSpec``); ``validate`` turns a raw frame (strings from a
CSV, or typed columns from Parquet or a vendor API) into the canonical dtypes, or raises
``InputError`` with one line per problem naming the file, row and column. Downstream code
trusts the frames it gets and never re-checks them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals

from reliability.errors import InputError, Problem

ColumnKind = Literal["text", "instant", "count", "hours", "date", "choice", "money", "month"]

PROBLEMS_SHOWN_PER_CHECK = 10
"""Rows listed per (column, kind of problem); the rest are summarised in one more line."""

DEPLOYMENT_STATUSES = ("success", "failed", "rolled_back")
WORK_CATEGORIES = ("toil", "project", "oncall", "overhead")
URGENCIES = ("high", "low")

_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")
"""A time of day followed by ``Z`` or an offset (a bare date such as ``2026-10-02`` has none)."""
EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")
LATEST = pd.Timestamp("2200-01-01", tz="UTC")
"""Instants outside these are placeholders ("never", 0001-01-01, 9999-12-31), not times."""
MAX_COUNT = 2**53
"""Counts above this lose precision as floats (no real minute has that many events): refused,
compared exactly, never rounded into range."""
MAX_PERSON_DAY_HOURS = 24.0
"""A person logs at most this many hours on one day (all rows of one team, person and date)."""
MAX_TEAM_ROW_HOURS = 24.0 * 7 * 1000
"""A row without a person is a team's total (a day's or a week's): at most a thousand people
working around the clock for a week."""
_YEAR = re.compile(r"^\s*(\d{4})-\d{2}-\d{2}")
"""The year of a value shaped like an ISO 8601 date, to tell an out-of-range one from garbage."""
_IMPLAUSIBLE = "(before 1900 or after 2200)"


@dataclass(frozen=True)
class Column:
    """One canonical column: what it holds and whether it may be absent or empty."""

    name: str
    kind: ColumnKind
    required: bool = True
    nullable: bool = False
    choices: tuple[str, ...] = ()
    categorical: bool = False
    """Few distinct values on many rows (service, SLO names): validated per distinct value."""
    unit: str = "events"
    """What a count column counts, for its problems ("must be a whole number of events")."""


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns, and the columns whose combination must be unique."""

    name: str
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


SLI = TableSpec(
    "sli",
    (
        Column("timestamp", "instant"),
        Column("service", "text", categorical=True),
        Column("slo", "text", categorical=True),
        Column("good", "count"),
        Column("total", "count"),
    ),
    unique=("timestamp", "service", "slo"),
)
INCIDENTS = TableSpec(
    "incidents",
    (
        Column("id", "text"),
        Column("service", "text"),
        Column("severity", "text"),
        Column("created_at", "instant"),
        Column("resolved_at", "instant", nullable=True),
        Column("title", "text", required=False, nullable=True),
        Column("acknowledged_at", "instant", required=False, nullable=True),
        Column("started_at", "instant", required=False, nullable=True),
        Column("urgency", "choice", required=False, nullable=True, choices=URGENCIES),
        Column("caused_by", "text", required=False, nullable=True),
        Column("postmortem_url", "text", required=False, nullable=True),
        Column("postmortem_at", "instant", required=False, nullable=True),
        Column("action_items_open", "count", required=False, nullable=True, unit="action items"),
        Column("responder", "text", required=False, nullable=True),
    ),
    unique=("id",),
)
DEPLOYMENTS = TableSpec(
    "deployments",
    (
        Column("id", "text"),
        Column("service", "text"),
        Column("deployed_at", "instant"),
        Column("status", "choice", choices=DEPLOYMENT_STATUSES),
        Column("commit_at", "instant", required=False, nullable=True),
        Column("environment", "text", required=False, nullable=True),
    ),
    unique=("id",),
)
WORKLOG = TableSpec(
    "worklog",
    (
        Column("team", "text"),
        Column("date", "date"),
        Column("category", "choice", choices=WORK_CATEGORIES),
        Column("hours", "hours"),
        Column("person", "text", required=False, nullable=True),
    ),
)
COST = TableSpec(
    "cost",
    (
        Column("service", "text", nullable=True),
        Column("provider_service", "text", required=False, nullable=True),
        Column("month", "month", required=False, nullable=True),
        Column("start", "instant", required=False, nullable=True),
        Column("end", "instant", required=False, nullable=True),
        Column("amount", "money"),
        Column("currency", "text"),
    ),
)
"""Spend, one row per charge, whichever file format it came from: ``service`` is the value
that names the report's service (a FOCUS row's tag, a canonical row's ``service``),
``provider_service`` a FOCUS row's ``ServiceName``; a row is dated by ``month`` (YYYY-MM,
a whole month of the report's calendar) or by ``start`` and ``end`` (the charge period)."""
FOCUS_COST = TableSpec(
    "focus",
    (
        Column("BilledCost", "money"),
        Column("BillingCurrency", "text"),
        Column("ChargePeriodStart", "instant"),
        Column("ChargePeriodEnd", "instant"),
        Column("ServiceName", "text", nullable=True),
        Column("Tags", "text", required=False, nullable=True),
    ),
)
"""The columns of a FinOps FOCUS 1.x cost and usage export that the report reads (the rest
of the specification's columns are allowed and ignored)."""
FOCUS_MARKERS = ("BilledCost", "ChargePeriodStart")
"""Header names that make a cost file a FOCUS export (else it is a canonical ``cost.csv``)."""
CANONICAL_COST = TableSpec(
    "cost.csv",
    (
        Column("month", "month", required=False, nullable=True),
        Column("period_start", "instant", required=False, nullable=True),
        Column("period_end", "instant", required=False, nullable=True),
        Column("service", "text", nullable=True),
        Column("amount", "money"),
        Column("currency", "text"),
    ),
)
"""The plain cost file: ``month`` or ``period_start``/``period_end``, service, amount, currency."""
ALERTS = TableSpec(
    "alerts",
    (
        Column("alert", "text"),
        Column("service", "text"),
        Column("started_at", "instant"),
        Column("ended_at", "instant", nullable=True),
        Column("severity", "text", required=False, nullable=True),
        Column("runbook_url", "text", required=False, nullable=True),
        Column("incident_id", "text", required=False, nullable=True),
    ),
)
"""Firing episodes of real alerting rules (``ALERTS`` of Prometheus, PagerDuty alerts, an
export): the rule's name, its service, when it started and ended (empty: still firing), its
severity label, its runbook and the incident it became or joined."""
TABLES: dict[str, TableSpec] = {
    t.name: t for t in (SLI, INCIDENTS, DEPLOYMENTS, WORKLOG, COST, ALERTS)
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
"""An ISO 4217 currency code (``USD``, ``EUR``)."""
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass
class Frames:
    """The canonical inputs for a span of time; ``None`` where no source is configured."""

    sli: pd.DataFrame | None = None
    incidents: pd.DataFrame | None = None
    deployments: pd.DataFrame | None = None
    worklog: pd.DataFrame | None = None
    cost: pd.DataFrame | None = None
    """Spend per charge (``COST``), converted to no currency yet."""
    alerts: pd.DataFrame | None = None
    """Firing episodes of the team's real alerting rules (``ALERTS``)."""
    notes: list[str] = field(default_factory=list)
    """Data-quality findings reported by the sources themselves."""
    extents: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=dict)
    """Per input role, the instants it vouches for: the span a server answered for, or
    the first and last row of a file. A month inside an extent with no rows is a real zero."""
    left_out: dict[str, int] = field(default_factory=dict)
    """Per input role, the rows its files hold that the run did not keep (SLI rows outside
    the span or of services the config does not name)."""
    later: dict[str, int] = field(default_factory=dict)
    """Of those, per role, the rows dated at or after the span's end: for a month in progress,
    rows dated after now."""


class _Problems:
    """Collects problems for one file, listing the first few rows of each kind of problem."""

    def __init__(self, where: str, row_numbers: np.ndarray):
        self.where = where
        self.row_numbers = row_numbers
        self.items: list[Problem] = []

    def add(self, message: str, column: str | None = None) -> None:
        self.items.append(Problem(self.where, message, column=column))

    def add_rows(self, mask: np.ndarray | pd.Series, column: str, message: str | pd.Series) -> None:
        """Add one problem per row where ``mask`` holds (at most a few, then a summary)."""
        mask = np.asarray(mask, dtype=bool)
        positions = np.flatnonzero(mask)
        if positions.size == 0:
            return
        messages = message if isinstance(message, pd.Series) else None
        for pos in positions[:PROBLEMS_SHOWN_PER_CHECK]:
            text = str(messages.iloc[pos]) if messages is not None else message
            self.items.append(
                Problem(self.where, text, row=int(self.row_numbers[pos]), column=column)
            )
        hidden = positions.size - PROBLEMS_SHOWN_PER_CHECK
        if hidden > 0:
            self.items.append(
                Problem(self.where, f"{hidden} more rows with the same problem", column=column)
            )


def row_problems(
    where: str,
    row_numbers: np.ndarray,
    mask: np.ndarray | pd.Series,
    column: str,
    message: str | pd.Series,
) -> list[Problem]:
    """One problem per row where ``mask`` holds (the first few, then one summary line), for
    checks made outside ``validate`` (a file's column types, rows across several files)."""
    problems = _Problems(where, np.asarray(row_numbers))
    problems.add_rows(mask, column, message)
    return problems.items


def _as_text(values: pd.Series) -> pd.Series:
    """Values as stripped strings, with missing values as ``""``."""
    return values.astype("string").fillna("").str.strip()


def _categorical_text(values: pd.Series) -> pd.Series:
    """Stripped text as a categorical, working on the distinct values only; blanks as ``""``
    (a category only when some value is blank or missing)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    labels = pd.Series(values.cat.categories, dtype="string").str.strip().fillna("")
    codes = values.cat.codes.to_numpy()
    clean = labels.to_numpy(dtype=object) == values.cat.categories.to_numpy(dtype=object)
    clean &= (labels != "").to_numpy() & values.cat.categories.is_monotonic_increasing
    if clean.all() and (len(codes) == 0 or codes.min() >= 0):
        return values  # already stripped and sorted, none blank or missing (a generated frame)
    names, inverse = np.unique(np.append(labels.to_numpy(dtype=object), ""), return_inverse=True)
    blank_code = inverse[-1]
    mapped = np.where(codes >= 0, inverse[:-1][codes] if len(labels) else blank_code, blank_code)
    categorical = pd.Categorical.from_codes(mapped, categories=names, validate=False)
    return pd.Series(categorical, index=values.index)


def _is_categorical(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype)


def _is_blank(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):  # already stripped by _categorical_text
        if "" not in values.cat.categories:
            return values.isna().to_numpy()
        return values.cat.codes.to_numpy() == values.cat.categories.get_loc("")
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.isna().to_numpy()
    return (_as_text(values) == "").to_numpy()


def _far_year(text: pd.Series, candidates: np.ndarray) -> np.ndarray:
    """Which ``candidates`` (a mask of ``text``) are shaped like an ISO 8601 date whose year
    lies outside 1900 to 2199."""
    result = np.zeros(len(text), dtype=bool)
    if candidates.any():
        year = pd.to_numeric(text[candidates].str.extract(_YEAR, expand=False), errors="coerce")
        far = (year < EARLIEST.year) | (year >= LATEST.year)
        result[candidates] = far.to_numpy(dtype=bool, na_value=False)
    return result


def _parse_instants(values: pd.Series, column: str, problems: _Problems) -> pd.Series:
    """ISO 8601 instants with an offset, as UTC; naive, unparseable or implausible values (before
    1900 or after 2200, also beyond what a nanosecond timestamp holds) are problems."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC")
        implausible = ((values < EARLIEST) | (values > LATEST)).to_numpy()
        if implausible.any():  # quote the cells only when something is wrong
            message = f"implausible timestamp {_IMPLAUSIBLE}: " + _as_text(values)
            problems.add_rows(implausible, column, message)
        return values.mask(implausible).dt.as_unit("ns")
    if pd.api.types.is_datetime64_dtype(values):
        problems.add_rows(
            values.notna(), column, "timestamp has no time zone (give an offset or Z)"
        )
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    # Timestamps repeat heavily (one per minute for every series): parse each distinct one once.
    text: pd.Series | None = None
    if isinstance(values.dtype, pd.CategoricalDtype):  # a typed read: the distinct cells given
        categories = pd.Series(values.cat.categories.astype("string"), dtype="string")
        uniques = _as_text(pd.concat([categories, pd.Series([""], dtype="string")]))
        uniques = uniques.reset_index(drop=True)
        codes = values.cat.codes.to_numpy().astype(np.intp)
        codes = np.where(codes < 0, len(uniques) - 1, codes)
    else:
        text = _as_text(values)
        codes, uniques = pd.factorize(text)
        uniques = pd.Series(uniques, dtype="string")
    parsed = pd.to_datetime(uniques, format="ISO8601", utc=True, errors="coerce")
    blank = (uniques == "").to_numpy()
    failed = parsed.isna().to_numpy() & ~blank
    implausible = _far_year(uniques, failed)  # e.g. 0001-01-01 where nanoseconds are parsed
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        implausible |= ((parsed < EARLIEST) | (parsed > LATEST)).to_numpy()
    has_offset = uniques.str.contains(_OFFSET.pattern, case=False, regex=True)
    has_offset = has_offset.to_numpy(dtype=bool, na_value=False)
    naive = ~failed & ~has_offset & ~blank
    bad_unique = failed | naive | implausible
    if bad_unique.any():
        if text is None:
            text = pd.Series(uniques.array.take(codes), index=values.index)
        messages = pd.Series(
            np.select(
                [naive[codes], implausible[codes]],
                [
                    "timestamp has no time zone (give an offset or Z): " + text,
                    f"implausible timestamp {_IMPLAUSIBLE}: " + text,
                ],
                default="not an ISO 8601 timestamp: " + text,
            ),
            index=values.index,
        )
        problems.add_rows(bad_unique[codes], column, messages)
    if not isinstance(parsed.dtype, pd.DatetimeTZDtype):  # every value blank or unparseable
        parsed = pd.Series(pd.NaT, index=parsed.index, dtype="datetime64[ns, UTC]")
    parsed = parsed.dt.tz_convert("UTC").mask(pd.Series(bad_unique)).dt.as_unit("ns")
    return pd.Series(parsed.array.take(codes), index=values.index)


def _parse_numbers(
    values: pd.Series,
    column: str,
    problems: _Problems,
    integer: bool,
    unit: str = "events",
    signed: bool = False,
) -> pd.Series:
    """Finite, non-negative numbers (any sign when ``signed``: a credit is a negative amount);
    counts (``integer``) also whole and at most ``MAX_COUNT``, compared exactly (2^53 + 1 is
    refused, not rounded to 2^53). Bad cells come back as NaN."""
    original = values
    text = None
    unparseable = np.zeros(len(values), dtype=bool)
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        text = _as_text(values)
        # Blanks are reported as missing values; parsing them as 0 keeps whole numbers integers.
        filled = text.where(text != "", "0")
        values = _plain_counts(filled) if integer else None
        if values is None:
            values = pd.to_numeric(filled, errors="coerce")
        unparseable = values.isna().to_numpy()
    if pd.api.types.is_integer_dtype(values.dtype):
        values = values.fillna(0) if values.hasnans else values  # blanks: reported elsewhere
        negative = (values < 0).fillna(False).to_numpy(dtype=bool) & (not signed)
        too_large = (values > MAX_COUNT).fillna(False).to_numpy(dtype=bool) & integer
        non_finite = fractional = np.zeros(len(values), dtype=bool)
    else:
        array = values.to_numpy(dtype="float64", na_value=np.nan)
        finite = np.isfinite(array)
        non_finite = ~finite & ~np.isnan(array)
        negative = finite & (array < 0) & (not signed)
        fractional = finite & (np.floor(array) != array) & integer
        too_large = finite & (array > MAX_COUNT) & integer
        if integer and text is not None:
            too_large |= _exactly_above_max_count(text, array)
    checks = [
        (unparseable, "not a number: "),
        (non_finite, "not finite: "),
        (negative, "must not be negative: "),
        (fractional, f"must be a whole number of {unit}: "),
        (too_large, f"too large for a count of {unit} (at most 2^53 = {MAX_COUNT}): "),
    ]
    bad = np.zeros(len(values), dtype=bool)
    for mask, prefix in checks:
        if mask.any():  # quote the cells only when something is wrong: cheap on 44M rows
            problems.add_rows(mask & ~bad, column, prefix + _as_text(original))
            bad |= mask
    if integer and pd.api.types.is_integer_dtype(values.dtype) and not bad.any():
        return values.astype("int64")
    numbers = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
    return numbers.mask(bad) if bad.any() else numbers


def _plain_counts(text: pd.Series) -> pd.Series | None:
    """``text`` as int64 when every cell is plain digits (at most 18: they fit), parsed by
    Arrow, which is many times faster than ``pd.to_numeric`` on millions of cells; else None."""
    cells = pa.array(text, type=pa.string())
    if not pc.all(pc.match_substring_regex(cells, r"^[0-9]{1,18}$")).as_py():
        return None
    return pd.Series(pc.cast(cells, pa.int64()).to_numpy(), index=text.index)


def _exactly_above_max_count(text: pd.Series, parsed: np.ndarray) -> np.ndarray:
    """Cells whose float lies at ``MAX_COUNT`` but whose written value is above it.

    A float cannot tell 2^53 from 2^53 + 1, so the few distinct cells that parse to within a
    few units of the limit are compared exactly, as decimals.
    """
    near = np.isfinite(parsed) & (np.abs(parsed - MAX_COUNT) <= 4)
    result = np.zeros(len(parsed), dtype=bool)
    if near.any():
        candidates = text[near]
        over = [value for value in candidates.unique() if _decimal_above(value, MAX_COUNT)]
        result[near] = candidates.isin(over).to_numpy()
    return result


def _decimal_above(text: str, limit: int) -> bool:
    try:
        return Decimal(text) > limit
    except InvalidOperation:
        return False


def _check_choices(text: pd.Series, spec: Column, problems: _Problems) -> pd.Series:
    normalised = text.str.lower()
    unknown = ~normalised.isin(spec.choices) & (normalised != "")
    expected = ", ".join(spec.choices)
    problems.add_rows(
        unknown, spec.name, f"unknown {spec.name} (expected one of {expected}): " + text
    )
    return normalised


def column_problems(names: Sequence[str], spec: TableSpec, where: str) -> list[Problem]:
    """What is wrong with a table's columns alone, rows or none: a column of ``spec`` named
    twice, a required one missing."""
    problems = [
        Problem(where, f"{count} columns are named {name!r}; name each column once", column=name)
        for name, count in repeated_names(names, spec.column_names).items()
    ]
    named = {str(name).strip() for name in names}
    problems += [
        Problem(where, f"missing required column {name!r}", column=name)
        for name in spec.required_names
        if name not in named
    ]
    return problems


def validate(
    raw: pd.DataFrame, spec: TableSpec, where: str, first_row: int | None = 2
) -> pd.DataFrame:
    """Turn ``raw`` into the canonical frame for ``spec`` or raise ``InputError``.

    ``where`` names the input (a file path, or ``source/query``); ``first_row`` is the row
    number of the first data row as the user sees it (2 in a CSV with a header line), or
    ``None`` when ``raw``'s index already holds each row's number.
    """
    if first_row is None:
        row_numbers = raw.index.to_numpy(dtype=np.int64)
    else:
        row_numbers = np.arange(first_row, first_row + len(raw))
    raw = raw.reset_index(drop=True)
    problems = _Problems(where, row_numbers)
    raw.columns = [str(c).strip() for c in raw.columns]
    header = column_problems(list(raw.columns), spec, where)
    if header:
        raise InputError(header)
    if raw.empty:
        raise InputError(Problem(where, "no data rows"))

    out: dict[str, pd.Series] = {}
    given: dict[str, np.ndarray] = {}
    """Per column read, the rows with a value (a bad one included)."""
    for col in spec.columns:
        if col.name not in raw.columns:
            out[col.name] = _empty_column(col, len(raw))
            continue
        values = raw[col.name]
        # Categorical instants are a typed read's distinct cells: stripped once, parsed once.
        if col.categorical or (col.kind == "instant" and _is_categorical(values)):
            values = _categorical_text(values)
        blank = _is_blank(values)
        given[col.name] = ~blank
        if not col.nullable:
            problems.add_rows(blank, col.name, "missing value")
        if col.kind == "instant":
            out[col.name] = _parse_instants(values, col.name, problems)
        elif col.kind in ("count", "hours"):
            integer = col.kind == "count"
            numbers = _parse_numbers(values, col.name, problems, integer, col.unit)
            if col.nullable and blank.any():  # an empty cell is unknown, never 0
                numbers = numbers.astype("Int64" if col.kind == "count" else "float64")
                numbers = numbers.mask(blank)
            out[col.name] = numbers
        elif col.kind == "money":
            out[col.name] = _parse_numbers(values, col.name, problems, False, signed=True)
        elif col.kind == "date":
            out[col.name] = _parse_dates(values, col.name, problems)
        elif col.kind == "month":
            text = _as_text(values)
            bad = ~text.str.fullmatch(_MONTH.pattern) & (text != "")
            problems.add_rows(bad, col.name, "not a month (YYYY-MM): " + text)
            out[col.name] = text
        elif col.kind == "choice":
            out[col.name] = _check_choices(_as_text(values), col, problems)
        elif col.categorical:
            out[col.name] = values
        else:
            out[col.name] = _as_text(values)

    frame = pd.DataFrame(out)
    _check_table(frame, spec, problems, given)
    if problems.items:
        raise InputError(problems.items)
    return _finish(frame, spec)


def repeated_names(names: Sequence[object], used: Sequence[str] | None = None) -> dict[str, int]:
    """Column names (stripped, not blank) given more than once, and how often; only those in
    ``used`` when given (a repeated column the table ignores is harmless)."""
    counts = pd.Series([str(n).strip() for n in names], dtype="object").value_counts(sort=False)
    return {
        str(k): int(v)
        for k, v in counts.items()
        if v > 1 and k != "" and (used is None or k in used)
    }


def _empty_column(col: Column, length: int) -> pd.Series:
    if col.kind == "instant":
        return pd.Series(pd.NaT, index=range(length), dtype="datetime64[ns, UTC]")
    if col.kind == "count":
        return pd.Series(pd.NA, index=range(length), dtype="Int64")
    return pd.Series([""] * length, dtype="string")


def _parse_dates(values: pd.Series, column: str, problems: _Problems) -> pd.Series:
    """Calendar dates (``YYYY-MM-DD``) from 1900 to 2199, as midnight timestamps without a zone."""
    far = np.zeros(len(values), dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if values.dt.tz is not None else values
    else:
        text = _as_text(values)
        parsed = pd.to_datetime(text.replace("", None), format="%Y-%m-%d", errors="coerce")
        unparseable = (parsed.isna() & (text != "")).to_numpy()
        far = _far_year(text, unparseable)
        problems.add_rows(unparseable & ~far, column, "not a date (YYYY-MM-DD): " + text)
    first, after = EARLIEST.tz_localize(None), LATEST.tz_localize(None)
    implausible = far | ((parsed < first) | (parsed >= after)).to_numpy(dtype=bool)
    if implausible.any():
        message = f"implausible date {_IMPLAUSIBLE}: " + _as_text(values)
        problems.add_rows(implausible, column, message)
        parsed = parsed.mask(implausible)
    return parsed.dt.normalize().astype("datetime64[ns]")


def _check_table(
    frame: pd.DataFrame,
    spec: TableSpec,
    problems: _Problems,
    given: dict[str, np.ndarray] | None = None,
) -> None:
    """Checks across columns and rows: ordering of times, good <= total, a person's day,
    unique keys, how a cost row is dated (``given``: the cells with a value, bad or not)."""
    if spec is SLI:
        over = (frame["good"] > frame["total"]).to_numpy()
        if over.any():
            good, total = _number_text(frame["good"]), _number_text(frame["total"])
            problems.add_rows(over, "good", "good (" + good + ") exceeds total (" + total + ")")
        problems.add_rows(sli_sum_excess(frame), "total", SUM_EXCESS_MESSAGE)
    if spec is INCIDENTS:
        problems.add_rows(
            frame["resolved_at"] < frame["created_at"], "resolved_at", "resolved before created_at"
        )
        problems.add_rows(
            frame["acknowledged_at"] < frame["created_at"],
            "acknowledged_at",
            "acknowledged before created_at",
        )
        problems.add_rows(
            frame["postmortem_at"] < frame["created_at"],
            "postmortem_at",
            "postmortem dated before created_at",
        )
    if spec is ALERTS:
        problems.add_rows(
            frame["ended_at"] < frame["started_at"], "ended_at", "ended before started_at"
        )
    if spec is WORKLOG:
        hours = frame["hours"]
        team_row = (frame["person"].fillna("") == "").to_numpy()
        too_many = team_row & (hours > MAX_TEAM_ROW_HOURS).to_numpy()
        if too_many.any():
            message = f"more than {MAX_TEAM_ROW_HOURS:.0f} hours in one row without a person: "
            problems.add_rows(too_many, "hours", message + _number_text(hours))
        crossing, day_total = person_day_excess(frame)
        if crossing.any():
            problems.add_rows(crossing, "hours", person_day_messages(frame, day_total))
    if spec is FOCUS_COST:
        _check_charge(frame, problems, "ChargePeriodStart", "ChargePeriodEnd", "BillingCurrency")
        if "Tags" in frame:
            problems.add_rows(*_bad_tags(frame["Tags"]))
    if spec is CANONICAL_COST:
        _check_charge(frame, problems, "period_start", "period_end", "currency")
        nothing = np.zeros(len(frame), dtype=bool)
        cells = given or {}
        month = cells.get("month", nothing)
        start = cells.get("period_start", nothing)
        end = cells.get("period_end", nothing)
        problems.add_rows(
            month & (start | end), "month", "give either month or period_start and period_end"
        )
        problems.add_rows(
            ~month & ~start & ~end, "month", "missing value: give month or period_start and end"
        )
        problems.add_rows(~month & ~start & end, "period_start", "missing value (period_end given)")
        problems.add_rows(~month & start & ~end, "period_end", "missing value (period_start given)")
    if spec.unique:
        key = frame[list(spec.unique)]
        duplicated = _duplicated(key)
        if duplicated.any():
            # Keys a row problem already blanked (a bad timestamp, an empty id) are not duplicates.
            valid = key.notna().all(axis=1).to_numpy() & (key != "").all(axis=1).to_numpy()
            duplicated = duplicated & valid
            first_seen = key.drop_duplicates(keep="first")
            first_rows = pd.Series(problems.row_numbers[first_seen.index], index=first_seen.index)
            lookup = key.merge(
                first_seen.assign(_first=first_rows.to_numpy()), on=list(spec.unique), how="left"
            )["_first"]
            label = " + ".join(spec.unique)
            messages = pd.Series(
                "duplicate " + label + " (first seen in row " + lookup.astype("string") + ")",
                index=frame.index,
            )
            problems.add_rows(duplicated, spec.unique[0], messages)


def _check_charge(
    frame: pd.DataFrame, problems: _Problems, start: str, end: str, currency: str
) -> None:
    """A charge period that ends before it starts, and a currency that is no ISO 4217 code."""
    problems.add_rows(frame[end] < frame[start], end, f"{end} before {start}")
    code = frame[currency].astype("string").str.upper()
    wrong = ~code.str.fullmatch(_CURRENCY.pattern).fillna(False) & (code != "")
    problems.add_rows(wrong, currency, "not an ISO 4217 currency code (e.g. USD): " + code)
    frame[currency] = code


def _bad_tags(tags: pd.Series) -> tuple[np.ndarray, str, pd.Series]:
    """Which cells of a FOCUS ``Tags`` column are not a JSON object, for ``add_rows``."""
    text = _as_text(tags)
    codes, uniques = pd.factorize(text)
    bad = np.array([_tag_object(value) is None for value in uniques], dtype=bool)
    return bad[codes] if len(codes) else bad, "Tags", "not a JSON object of tags: " + text


def _tag_object(text: str) -> dict[str, object] | None:
    """One ``Tags`` cell as a dict (blank: no tags), or ``None`` when it is not a JSON object."""
    if text == "":
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def tag_values(tags: pd.Series, key: str) -> pd.Series:
    """The value of tag ``key`` in each cell of a validated ``Tags`` column (NA without it);
    each distinct cell is parsed once."""
    codes, uniques = pd.factorize(_as_text(tags))
    found = [(_tag_object(value) or {}).get(key) for value in uniques]
    labels = pd.Series([None if v is None else str(v).strip() for v in found], dtype="string")
    labels = labels.replace("", pd.NA)
    return pd.Series(labels.array.take(codes, allow_fill=True), index=tags.index, dtype="string")


def focus_cost(focus: pd.DataFrame, tag: str) -> pd.DataFrame:
    """A validated FOCUS export as the canonical ``COST`` frame: the service named by tag
    ``tag``, the charge period, ``BilledCost`` (what is invoiced) in ``BillingCurrency``."""
    tags = focus["Tags"] if "Tags" in focus else pd.Series(pd.NA, index=focus.index)
    return pd.DataFrame(
        {
            "service": tag_values(tags, tag),
            "provider_service": focus["ServiceName"].astype("string").replace("", pd.NA),
            "month": pd.Series(pd.NA, index=focus.index, dtype="string"),
            "start": focus["ChargePeriodStart"],
            "end": focus["ChargePeriodEnd"],
            "amount": focus["BilledCost"].astype("float64"),
            "currency": focus["BillingCurrency"].astype("string"),
        }
    )[COST.column_names]


def canonical_cost(table: pd.DataFrame) -> pd.DataFrame:
    """A validated canonical ``cost.csv`` as the ``COST`` frame."""
    return pd.DataFrame(
        {
            "service": table["service"].astype("string").replace("", pd.NA),
            "provider_service": pd.Series(pd.NA, index=table.index, dtype="string"),
            "month": table["month"].astype("string").replace("", pd.NA),
            "start": table["period_start"],
            "end": table["period_end"],
            "amount": table["amount"].astype("float64"),
            "currency": table["currency"].astype("string"),
        }
    )[COST.column_names]


def reporting_currency(cost: pd.DataFrame, configured: str | None) -> str | None:
    """The currency the report shows spend in: the configured one, else that of the first
    charge (``None`` with no charge at all)."""
    if configured:
        return configured.upper()
    return None if cost.empty else str(cost["currency"].iloc[0])


def unconvertible(
    cost: pd.DataFrame, currency: str | None, rates: Mapping[str, float]
) -> np.ndarray:
    """Rows whose currency is neither the report's nor one ``rates`` converts from."""
    known = {currency, *(c.upper() for c in rates)}
    return (~cost["currency"].isin([k for k in known if k])).to_numpy(dtype=bool)


SUM_EXCESS_MESSAGE = (
    f"with this row, the events of this service and SLO add up to more than 2^53 = {MAX_COUNT}:"
    " too many to sum exactly"
)


def sli_sum_excess(sli: pd.DataFrame) -> np.ndarray:
    """The row at which one SLO's ``total`` events, added up in row order, pass ``MAX_COUNT``
    (sums beyond it would be rounded). One pass over the column when, as always in practice,
    the whole column sums to far less."""
    total = sli["total"].fillna(0)
    # A float sum cannot overflow, and this far below the limit it cannot hide a crossing.
    if total.to_numpy(dtype="float64").sum() < MAX_COUNT / 2:
        return np.zeros(len(sli), dtype=bool)
    exact = total.astype("int64")  # each count is at most MAX_COUNT
    groups = [sli["service"], sli["slo"]]
    running = exact.groupby(groups, observed=True, sort=False).cumsum()
    # int64 sums are exact until 2^63, long after 2^53 is passed; only the first pass counts
    crossing = (running > MAX_COUNT) & (running - exact <= MAX_COUNT)
    first = crossing & (crossing.groupby(groups, observed=True, sort=False).cumsum() == 1)
    return first.to_numpy(dtype=bool)


def person_day_excess(worklog: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    """The rows at which one person's hours on one day (of one team) pass
    ``MAX_PERSON_DAY_HOURS``, and every row's day total. Rows without a person are a team's."""
    person = worklog["person"].fillna("")
    hours = worklog["hours"].fillna(0.0)
    days = hours.groupby([worklog["team"], person, worklog["date"]], sort=False)
    running = days.cumsum()
    limit = MAX_PERSON_DAY_HOURS + 1e-9  # sums of quarter hours are exact; others nearly
    crossing = (person != "").to_numpy() & (running > limit).to_numpy()
    crossing &= ((running - hours) <= limit).to_numpy()
    return crossing, days.transform("sum")


def person_day_messages(worklog: pd.DataFrame, day_total: pd.Series) -> pd.Series:
    """``ana's hours on 2026-10-01 add up to 26 (...)`` for every row of ``worklog``."""
    day = worklog["date"].dt.strftime("%Y-%m-%d").fillna("")
    return (
        worklog["person"].fillna("").astype("string")
        + "'s hours on "
        + day.astype("string")
        + " add up to "
        + _number_text(day_total)
        + f" (a person logs at most {MAX_PERSON_DAY_HOURS:g} hours a day)"
    )


def _duplicated(key: pd.DataFrame) -> np.ndarray:
    """``key.duplicated(keep="first")``, answered by one tally of the key's codes when its
    combinations are few (the usual case, with no duplicate at all)."""
    combined, combinations = np.zeros(len(key), dtype=np.int64), 1
    for name in key.columns:  # in place: one array of the key's length at a time
        column = key[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = drop_unused_categories(column)  # a block of a file names a few labels
            code, size = column.cat.codes.to_numpy(), len(column.cat.categories)
        elif isinstance(column.dtype, pd.DatetimeTZDtype):
            code, size = _instant_codes(column)
        else:
            code, uniques = pd.factorize(column)
            size = len(uniques)
        if len(code) and code.min() < 0:  # missing values get a code of their own
            code, size = code + 1, size + 1
        combinations *= max(size, 1)
        if combinations > 4 * len(key) + 1024:
            return key.duplicated(keep="first").to_numpy()
        combined *= max(size, 1)
        combined += code
    if np.bincount(combined).max(initial=0) <= 1:
        return np.zeros(len(key), dtype=bool)
    return key.duplicated(keep="first").to_numpy()


_COMMON_STEPS = (60_000_000_000, 1_000_000_000)
"""A minute and a second in nanoseconds: tried before the greatest common divisor."""


def _instant_codes(instants: pd.Series) -> tuple[np.ndarray, int]:
    """Codes for instants on a regular grid (a minute, a step): their index on the grid from the
    first one, with -1 for NaT; ``pd.factorize`` when the grid would be much larger than the
    column. Counting on the grid is linear, hashing instants a step apart is not always."""
    nanoseconds = instants.array.asi8
    present = instants.notna().to_numpy()
    if present.all() and len(present):  # the usual case: no copy of the column but one
        offsets = nanoseconds - nanoseconds.min()
        step = next((s for s in _COMMON_STEPS if not (offsets % s).any()), None)
        step = step or int(np.gcd.reduce(offsets)) or 1
        size = int(offsets.max()) // step + 1
        if size <= 4 * len(instants) + 1024:
            offsets //= step
            return offsets, size
    elif present.any():
        offsets = nanoseconds[present] - nanoseconds[present].min()
        step = (
            next((s for s in _COMMON_STEPS if not (offsets % s).any()), None)
            or int(np.gcd.reduce(offsets))
            or 1
        )
        size = int(offsets.max()) // step + 1
        if size <= 4 * len(instants) + 1024:
            code = np.full(len(instants), -1, dtype=np.int64)
            code[present] = offsets // step
            return code, size
    code, uniques = pd.factorize(instants)
    return code, len(uniques)


def _number_text(values: pd.Series) -> pd.Series:
    """Numbers as the user wrote them: ``101``, not ``101.0``."""
    return pd.Series(np.char.mod("%.15g", values.fillna(0).to_numpy()), index=values.index)


def _finish(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Final dtypes: counts as int64, labels as categories (SLI) or strings, blanks as NA."""
    for col in spec.columns:
        series = frame[col.name]
        if col.kind == "count":
            frame[col.name] = series.astype("Int64" if col.nullable else "int64")
        elif col.kind in ("text", "choice") and col.nullable:
            frame[col.name] = series.replace("", pd.NA).astype("string")
        elif col.categorical:  # drop labels no row uses (e.g. the blank one)
            frame[col.name] = drop_unused_categories(series)
    return frame[spec.column_names]


_COUNT_CHUNK = 1 << 20
"""Codes counted at a time by ``drop_unused_categories``."""


def drop_unused_categories(values: pd.Series) -> pd.Series:
    """``values.cat.remove_unused_categories()``, by counting codes instead of sorting them,
    a million at a time: a count converts its codes to 64-bit integers, which for a column of
    80 million rows would be more memory than the whole column."""
    codes = values.cat.codes.to_numpy()
    size = len(values.cat.categories) + 1
    used = np.zeros(size - 1, dtype=bool)
    for start in range(0, len(codes), _COUNT_CHUNK):  # a few chunks, not rows
        used |= np.bincount(codes[start : start + _COUNT_CHUNK] + 1, minlength=size)[1:] > 0
    if used.all():
        return values
    renumbered = np.append(np.cumsum(used) - 1, -1)  # code -1 (missing) stays -1
    categories = values.cat.categories[used]
    return pd.Series(
        pd.Categorical.from_codes(renumbered[codes], categories=categories, validate=False),
        index=values.index,
    )


def empty(spec: TableSpec) -> pd.DataFrame:
    """An empty canonical frame with the right columns and dtypes."""
    columns = {}
    for col in spec.columns:
        if col.kind == "instant":
            columns[col.name] = pd.Series([], dtype="datetime64[ns, UTC]")
        elif col.kind == "count":
            columns[col.name] = pd.Series([], dtype="Int64" if col.nullable else "int64")
        elif col.kind in ("hours", "money"):
            columns[col.name] = pd.Series([], dtype="float64")
        elif col.kind == "date":
            columns[col.name] = pd.Series([], dtype="datetime64[ns]")
        else:
            columns[col.name] = pd.Series([], dtype="string")
    return pd.DataFrame(columns)


def concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Combine validated frames of one table, keeping the canonical dtypes: a label column
    (service, SLO) stays categorical over the union of the parts' labels, never a column of
    Python strings on the way."""
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    return combine_columns({name: [part[name] for part in parts] for name in parts[0].columns})


def combine_columns(pieces: dict[str, list[pd.Series]]) -> pd.DataFrame:
    """One frame from each column's pieces, in order; each column's pieces are let go once it
    is combined (the lists are emptied), so a large table is not held twice over."""
    columns = {}
    for name, parts in pieces.items():
        if all(isinstance(part.dtype, pd.CategoricalDtype) for part in parts):
            union = union_categoricals(parts, sort_categories=True, ignore_order=True)
            columns[name] = drop_unused_categories(pd.Series(union))
        else:
            columns[name] = pd.concat(parts, ignore_index=True)
        parts.clear()
    return pd.DataFrame(columns, copy=False)


def parse_instant_cells(cells: pd.Series) -> pd.Series | None:
    """Distinct cells of an instant column parsed by ``validate``'s rules (UTC), or ``None``
    when any of them is bad: a typed read parses each distinct cell once for all its blocks,
    and leaves a bad one to the precise read that names its row."""
    problems = _Problems("", np.arange(len(cells)))
    parsed = _parse_instants(cells.reset_index(drop=True), "timestamp", problems)
    return None if problems.items or parsed.isna().any() else parsed


def has_repeated_keys(frame: pd.DataFrame, spec: TableSpec) -> bool:
    """Whether two rows of ``frame`` share ``spec``'s unique key (a tally, not a hash of every
    row, when the key's combinations are few)."""
    return bool(spec.unique) and bool(_duplicated(frame[list(spec.unique)]).any())
