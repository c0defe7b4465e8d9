"""Real databases for the ``kind: sql`` tests: canonical frames written into a DuckDB file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

START_TIMEOUT_SECONDS = 60.0


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A canonical frame with plain column types a database takes: labels as text, dates as
    dates, instants as they are (timestamps with a time zone)."""
    out = {}
    for name in frame.columns:
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(
            values.dtype
        ):
            out[name] = values.astype(object).where(values.notna(), None)
        elif name == "date":
            out[name] = values.dt.date
        elif str(values.dtype) == "Int64":
            out[name] = values.astype("float64")  # NULL where missing; whole numbers stay so
        else:
            out[name] = values
    return pd.DataFrame(out)


def duckdb_file(path: Path, tables: Mapping[str, pd.DataFrame]) -> Path:
    """``tables`` (canonical frames) written into a new DuckDB file at ``path``."""
    import duckdb

    connection = duckdb.connect(str(path))
    try:
        for name, frame in tables.items():
            data = plain(frame)
            connection.register("incoming", data)
            casts = ", ".join(
                f'CAST("{c}" AS BIGINT) AS "{c}"' for c in data.columns if c == "action_items_open"
            )
            replace = f" REPLACE ({casts})" if casts else ""
            connection.execute(f'CREATE TABLE "{name}" AS SELECT *{replace} FROM incoming')
            connection.unregister("incoming")
    finally:
        connection.close()
    return path
