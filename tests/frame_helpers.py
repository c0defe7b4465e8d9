"""Canonical frames for metric tests, built from rows of strings (no validation)."""

from __future__ import annotations

import pandas as pd

from reliability import frames


def canonical(spec: frames.TableSpec, rows: list[dict[str, str]]) -> pd.DataFrame:
    """A frame with ``spec``'s canonical dtypes from rows of strings (``""`` is missing)."""
    raw = pd.DataFrame(rows, dtype="string")
    columns = {}
    for column in spec.columns:
        text = (
            raw[column.name] if column.name in raw else pd.Series([""] * len(raw), dtype="string")
        )
        text = text.replace("", pd.NA)
        if column.kind == "instant":
            columns[column.name] = pd.to_datetime(text, utc=True).astype("datetime64[ns, UTC]")
        else:
            columns[column.name] = text.astype("string")
    return pd.DataFrame(columns)
