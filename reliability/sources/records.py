"""Helpers for the records vendor APIs send: their timestamps, and validating them by id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from reliability import frames
from reliability.errors import InputError, Problem


def parse_instants(values: Sequence[Any]) -> list[pd.Timestamp | None]:
    """ISO 8601 strings as UTC timestamps (``None`` where missing or unreadable), in one pass."""
    text = pd.Series([v if isinstance(v, str) else None for v in values], dtype="object")
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    return [None if pd.isna(t) else t for t in parsed]


def iso(instant: pd.Timestamp) -> str:
    """``2026-10-01T00:00:00Z``: a UTC instant as the vendors' ISO 8601."""
    return instant.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_records(
    raw: pd.DataFrame, spec: frames.TableSpec, where: str, ids: Sequence[Any], noun: str
) -> pd.DataFrame:
    """``frames.validate`` with each problem naming the record (``incident PT4KHLK``) instead
    of a row number nobody can see."""
    if raw.empty:
        return frames.empty(spec)
    try:
        return frames.validate(raw, spec, where=where, first_row=1)
    except InputError as exc:
        problems = []
        for problem in exc.problems:
            if problem.row is None:
                problems.append(problem)
                continue
            record_id = ids[problem.row - 1]
            label = str(record_id) if record_id not in (None, "") else f"#{problem.row} (no id)"
            problems.append(
                Problem(f"{where}: {noun} {label}", problem.message, column=problem.column)
            )
        raise InputError(problems) from None
