"""The sample written out: one month as canonical CSV files plus a ``reliability.yaml`` that
reads them, the starting point ``reliability sample --out DIR`` gives a new user."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from reliability import frames
from reliability.config import Source, Sources, load_config
from reliability.errors import InputError, Problem
from reliability.period import Month, Span
from reliability.sources.sample.organisation import sample_config
from reliability.sources.sample.spans import TABLES, focus_span, load_span

SAMPLE_FILES = {
    "metrics": "sli.csv",
    "incidents": "incidents.csv",
    "deployments": "deployments.csv",
    "worklog": "worklog.csv",
    "cost": "focus-cost.csv",
    "alerts": "alerts.csv",
}
_INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_QUOTED = re.compile(r'[,"\r\n]')
"""Characters that make a CSV cell need quotes."""


def _csv_text(frame: pd.DataFrame, spec: frames.TableSpec) -> pd.DataFrame:
    """A canonical frame as CSV cells: instants ISO 8601 with ``Z``, dates ``YYYY-MM-DD``."""
    out = {}
    for col in spec.columns:
        values = frame[col.name]
        if col.kind == "instant":
            # one string per distinct instant, not per row (an SLI has one per minute)
            codes, uniques = pd.factorize(values)
            labels = pd.DatetimeIndex(uniques).strftime(_INSTANT_FORMAT).to_numpy(dtype=object)
            out[col.name] = np.append(labels, None)[codes]  # code -1 (NaT) takes the None
        elif col.kind == "date":
            out[col.name] = values.dt.strftime("%Y-%m-%d")
        else:
            out[col.name] = values
    return pd.DataFrame(out)


def _plain_names(sli: pd.DataFrame) -> bool:
    """Whether no service or SLO name needs quoting in a CSV cell."""
    names = [*sli["service"].cat.categories, *sli["slo"].cat.categories]
    return not any(_QUOTED.search(str(name)) for name in names)


def _write_sli(sli: pd.DataFrame, path: Path) -> None:
    """The SLI frame (millions of rows for a large fleet) as CSV through Arrow's writer, cell
    for cell what ``_csv_text(...).to_csv`` writes; no cell needs quoting."""
    codes, uniques = pd.factorize(sli["timestamp"])
    labels = pa.array(pd.DatetimeIndex(uniques).strftime(_INSTANT_FORMAT).to_numpy(dtype=object))
    table = pa.table(
        {
            "timestamp": labels.take(pa.array(codes)),
            "service": pa.array(sli["service"]).cast(pa.string()),
            "slo": pa.array(sli["slo"]).cast(pa.string()),
            "good": pa.array(sli["good"].to_numpy()),
            "total": pa.array(sli["total"].to_numpy()),
        }
    )
    with path.open("wb") as handle:
        handle.write((",".join(table.column_names) + "\n").encode())
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        pa_csv.write_csv(table, handle, options)


def write_sample(
    out_dir: Path,
    month: Month,
    services: int | None = None,
    now: pd.Timestamp | None = None,
    lookback: pd.Timedelta | None = None,
) -> Path:
    """Write one month of the sample as canonical CSV files plus a config that reads them, with
    nothing after ``now`` (default: the clock) when the month is in progress.

    ``lookback`` adds that much before the month (the history its alert replay reads, which
    ``reliability sample`` includes), so the files give the same numbers as the sample itself.
    An input with no row yet (early in a month) gets no file and no source. Returns the path
    of the written ``reliability.yaml``; a month that has not begun by ``now`` is an
    ``InputError``.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    span = Span.of([month], lookback=lookback)
    written = {role: load_span(role, span, services, now) for role in TABLES}
    if all(frame.empty for frame in written.values()):
        raise InputError(
            Problem(
                "--month", f"{month.label} has no sample data yet: the sample has none after {now}"
            )
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for role, frame in written.items():
        if frame.empty:
            continue
        if role == "metrics" and _plain_names(frame):
            _write_sli(frame, out_dir / SAMPLE_FILES[role])
        else:
            text = _csv_text(frame, TABLES[role][1])
            text.to_csv(out_dir / SAMPLE_FILES[role], index=False, na_rep="")
    export = focus_span(span, services, now)
    if not export.empty:  # the FOCUS export as a cloud provider writes it
        export.to_csv(out_dir / SAMPLE_FILES["cost"], index=False)
        written["cost"] = export
    config = sample_config(services)
    files = config.model_copy(
        update={
            "sources": Sources(
                **{
                    role: Source(kind="csv", path=SAMPLE_FILES[role])
                    for role, frame in written.items()
                    if not frame.empty
                }
            )
        }
    )
    path = out_dir / "reliability.yaml"
    header = [
        f"# The sample organisation for {month.label}, written by `reliability sample`.",
        "# Edit the services and SLOs, or point the sources at your own files.",
    ]
    if now < month.end:
        header.append(f"# The month is in progress: data up to {now.isoformat()}.")
        empty = [role for role, frame in written.items() if frame.empty]
        if empty:
            header.append(f"# Nothing yet for: {', '.join(empty)}.")
    text = files.to_yaml()
    if not text.startswith("timezone:"):  # ``to_yaml`` leaves out defaults; show it all the same
        text = f"timezone: {files.timezone}\n" + text
    path.write_text("\n".join(header) + "\n" + text, encoding="utf-8")
    read_back = load_config(path)
    if read_back.services != config.services or read_back.severities != config.severities:
        raise RuntimeError(f"{path} does not read back as the sample config")
    return path
