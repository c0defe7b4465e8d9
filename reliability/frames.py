"""The canonical frames every source returns, and their validation at the boundary.

Each table is described once (``TableSpec``); ``validate`` turns a raw frame (strings from a
CSV, or typed columns from Parquet or a vendor API) into the canonical dtypes, or raises
``InputError`` with one line per problem naming the file, row and column. Downstream code
trusts the frames it gets and never re-checks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from reliability.errors import InputError, Problem

ColumnKind = Literal["text", "instant", "count", "hours", "date", "choice"]

PROBLEMS_SHOWN_PER_CHECK = 10
"""Rows listed per (column, kind of problem); the rest are summarised in one more line."""

DEPLOYMENT_STATUSES = ("success", "failed", "rolled_back")
WORK_CATEGORIES = ("toil", "project", "oncall", "overhead")
URGENCIES = ("high", "low")

_OFFSET = re.compile(
    r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE
)
"""A time of day followed by ``Z`` or an offset (a bare date such as ``2026-10-02`` has none)."""
EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")
LATEST = pd.Timestamp("2200-01-01", tz="UTC")
"""Instants outside these are placeholders ("never", 0001-01-01, 9999-12-31), not times."""
MAX_COUNT = 2**53
"""Counts above this lose precision as floats: no real minute has that many events."""


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
TABLES: dict[str, TableSpec] = {t.name: t for t in (SLI, INCIDENTS, DEPLOYMENTS, WORKLOG)}


@dataclass
class Frames:
    """The canonical inputs for a span of time; ``None`` where no source is configured."""

    sli: pd.DataFrame | None = None
    incidents: pd.DataFrame | None = None
    deployments: pd.DataFrame | None = None
    worklog: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    """Data-quality findings reported by the sources themselves."""
    extents: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=dict)
    """Per input role, the instants it vouches for: the span a server answered for, or
    the first and last row of a file. A month inside an extent with no rows is a real zero."""


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


def _as_text(values: pd.Series) -> pd.Series:
    """Values as stripped strings, with missing values as ``""``."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").fillna("")
    else:
        text = values.astype("string").fillna("")
    return text.str.strip()


def _categorical_text(values: pd.Series) -> pd.Series:
    """Stripped text as a categorical, working on the distinct values only; blanks as ``""``."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    labels = pd.Series(values.cat.categories, dtype="string").str.strip().fillna("")
    codes = values.cat.codes.to_numpy()
    names, inverse = np.unique(np.append(labels.to_numpy(dtype=object), ""), return_inverse=True)
    blank_code = inverse[-1]
    mapped = np.where(codes >= 0, inverse[:-1][codes] if len(labels) else blank_code, blank_code)
    return pd.Series(pd.Categorical.from_codes(mapped, categories=names), index=values.index)


def _is_blank(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return (_categorical_text(values) == "").to_numpy()
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.isna().to_numpy()
    return (_as_text(values) == "").to_numpy()


def _parse_instants(values: pd.Series, column: str, problems: _Problems) -> pd.Series:
    """ISO 8601 instants with an offset, as UTC; naive or unparseable values are problems."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC")
        implausible = ((values < EARLIEST) | (values > LATEST)).to_numpy()
        if implausible.any():  # quote the cells only when something is wrong
            message = "implausible timestamp (before 1900 or after 2200): " + _as_text(values)
            problems.add_rows(implausible, column, message)
        return values.mask(implausible).dt.as_unit("ns")
    if pd.api.types.is_datetime64_dtype(values):
        problems.add_rows(
            values.notna(), column, "timestamp has no time zone (give an offset or Z)"
        )
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    text = _as_text(values)
    # Timestamps repeat heavily (one per minute for every series): parse each distinct one once.
    codes, uniques = pd.factorize(text)
    uniques = pd.Series(uniques, dtype="string")
    parsed = pd.to_datetime(uniques, format="ISO8601", utc=True, errors="coerce")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        implausible = (parsed < EARLIEST) | (parsed > LATEST)
    else:
        implausible = pd.Series(False, index=parsed.index)
    unparseable = parsed.isna() & (uniques != "")
    has_offset = uniques.str.contains(_OFFSET, regex=True)
    naive = ~unparseable & ~has_offset & (uniques != "")
    bad_unique = (unparseable | naive | implausible).to_numpy()
    if bad_unique.any():
        row_bad = bad_unique[codes]
        row_naive = naive.to_numpy()[codes]
        row_implausible = implausible.to_numpy()[codes]
        messages = pd.Series(
            np.select(
                [row_naive, row_implausible],
                [
                    "timestamp has no time zone (give an offset or Z): " + text,
                    "implausible timestamp (before 1900 or after 2200): " + text,
                ],
                default="not an ISO 8601 timestamp: " + text,
            ),
            index=values.index,
        )
        problems.add_rows(row_bad, column, messages)
    if not isinstance(parsed.dtype, pd.DatetimeTZDtype):  # every value blank or unparseable
        parsed = pd.Series(pd.NaT, index=parsed.index, dtype="datetime64[ns, UTC]")
    parsed = parsed.dt.tz_convert("UTC").mask(pd.Series(bad_unique)).dt.as_unit("ns")
    result = pd.Series(parsed.array.take(codes), index=values.index)
    return result


def _parse_numbers(values: pd.Series, column: str, problems: _Problems, integer: bool) -> pd.Series:
    """Non-negative numbers (whole numbers when ``integer``); anything else is a problem."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
        unparseable = np.zeros(len(values), dtype=bool)
    else:
        text = _as_text(values)
        numbers = pd.to_numeric(text.replace("", None), errors="coerce").astype("float64")
        unparseable = (numbers.isna() & (text != "")).to_numpy()
    array = numbers.to_numpy()
    finite = np.isfinite(array)
    checks = [
        (unparseable, "not a number: "),
        (~finite & ~unparseable & ~np.isnan(array), "not finite: "),
        (np.nan_to_num(array) < 0, "must not be negative: "),
    ]
    if integer:
        whole = np.nan_to_num(array)
        checks.append((finite & (np.floor(whole) != whole), "must be a whole number of events: "))
        checks.append((finite & (whole > MAX_COUNT), "too large for a count of events: "))
    for mask, prefix in checks:
        if mask.any():  # quote the cells only when something is wrong: cheap on 44M rows
            problems.add_rows(mask, column, prefix + _as_text(values))
    return numbers


def _check_choices(text: pd.Series, spec: Column, problems: _Problems) -> pd.Series:
    normalised = text.str.lower()
    unknown = ~normalised.isin(spec.choices) & (normalised != "")
    expected = ", ".join(spec.choices)
    problems.add_rows(
        unknown, spec.name, f"unknown {spec.name} (expected one of {expected}): " + text
    )
    return normalised


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
    missing = [name for name in spec.required_names if name not in raw.columns]
    for name in missing:
        problems.add(f"missing required column {name!r}", column=name)
    if missing:
        raise InputError(problems.items)
    if raw.empty:
        raise InputError(Problem(where, "no data rows"))

    out: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.name not in raw.columns:
            out[col.name] = _empty_column(col, len(raw))
            continue
        values = raw[col.name]
        if col.categorical:
            values = _categorical_text(values)
        blank = _is_blank(values)
        if not col.nullable:
            problems.add_rows(blank, col.name, "missing value")
        if col.kind == "instant":
            out[col.name] = _parse_instants(values, col.name, problems)
        elif col.kind in ("count", "hours"):
            numbers = _parse_numbers(values, col.name, problems, integer=col.kind == "count")
            out[col.name] = numbers
        elif col.kind == "date":
            out[col.name] = _parse_dates(values, col.name, problems)
        elif col.kind == "choice":
            out[col.name] = _check_choices(_as_text(values), col, problems)
        elif col.categorical:
            out[col.name] = _categorical_text(values)
        else:
            out[col.name] = _as_text(values)

    frame = pd.DataFrame(out)
    _check_table(frame, spec, problems)
    if problems.items:
        raise InputError(problems.items)
    return _finish(frame, spec)


def _empty_column(col: Column, length: int) -> pd.Series:
    if col.kind == "instant":
        return pd.Series(pd.NaT, index=range(length), dtype="datetime64[ns, UTC]")
    return pd.Series([""] * length, dtype="string")


def _parse_dates(values: pd.Series, column: str, problems: _Problems) -> pd.Series:
    """Calendar dates (``YYYY-MM-DD``) as midnight timestamps without a zone."""
    if pd.api.types.is_datetime64_any_dtype(values):
        values = values.dt.tz_localize(None) if values.dt.tz is not None else values
        return values.dt.normalize().dt.as_unit("ns")
    text = _as_text(values)
    parsed = pd.to_datetime(text.replace("", None), format="%Y-%m-%d", errors="coerce")
    problems.add_rows(parsed.isna() & (text != ""), column, "not a date (YYYY-MM-DD): " + text)
    return parsed.astype("datetime64[ns]")


def _check_table(frame: pd.DataFrame, spec: TableSpec, problems: _Problems) -> None:
    """Checks across columns and rows: ordering of times, good <= total, unique keys."""
    if spec is SLI:
        over = (frame["good"] > frame["total"]).to_numpy()
        if over.any():
            good, total = _number_text(frame["good"]), _number_text(frame["total"])
            problems.add_rows(over, "good", "good (" + good + ") exceeds total (" + total + ")")
    if spec is INCIDENTS:
        problems.add_rows(
            frame["resolved_at"] < frame["created_at"], "resolved_at", "resolved before created_at"
        )
        problems.add_rows(
            frame["acknowledged_at"] < frame["created_at"],
            "acknowledged_at",
            "acknowledged before created_at",
        )
    if spec.unique:
        key = frame[list(spec.unique)]
        # Keys a row problem already blanked (a bad timestamp, an empty id) are not duplicates.
        valid = key.notna().all(axis=1).to_numpy() & (key != "").all(axis=1).to_numpy()
        duplicated = key.duplicated(keep="first").to_numpy() & valid
        if duplicated.any():
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


def _number_text(values: pd.Series) -> pd.Series:
    """Numbers as the user wrote them: ``101``, not ``101.0``."""
    return pd.Series(np.char.mod("%.15g", values.fillna(0).to_numpy()), index=values.index)


def _finish(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Final dtypes: counts as int64, labels as categories (SLI) or strings, blanks as NA."""
    for col in spec.columns:
        series = frame[col.name]
        if col.kind == "count":
            frame[col.name] = series.astype("int64")
        elif col.kind in ("text", "choice") and col.nullable:
            frame[col.name] = series.replace("", pd.NA).astype("string")
    for col in spec.columns:
        if col.categorical:  # drop labels no row uses (e.g. the blank one)
            frame[col.name] = frame[col.name].cat.remove_unused_categories()
    return frame[spec.column_names]


def empty(spec: TableSpec) -> pd.DataFrame:
    """An empty canonical frame with the right columns and dtypes."""
    columns = {}
    for col in spec.columns:
        if col.kind == "instant":
            columns[col.name] = pd.Series([], dtype="datetime64[ns, UTC]")
        elif col.kind == "count":
            columns[col.name] = pd.Series([], dtype="int64")
        elif col.kind == "hours":
            columns[col.name] = pd.Series([], dtype="float64")
        elif col.kind == "date":
            columns[col.name] = pd.Series([], dtype="datetime64[ns]")
        else:
            columns[col.name] = pd.Series([], dtype="string")
    return pd.DataFrame(columns)


def concat(parts: list[pd.DataFrame], spec: TableSpec) -> pd.DataFrame:
    """Combine validated frames of one table, keeping the canonical dtypes."""
    combined = pd.concat(parts, ignore_index=True)
    if spec is SLI:
        combined["service"] = combined["service"].astype("category")
        combined["slo"] = combined["slo"].astype("category")
    return combined
