"""Parquet SLI data holding three months, one month reported (``make bench``).

Writes the sample organisation's October at ``--size`` times the sample (100 = 900
services, 80 M minute rows a month) and two earlier copies of it, shifted 31 and 62 days
back, into one Parquet file ordered by month (``--row-group`` rows a group), then loads and
computes October in a fresh process, as ``reliability compute`` does. The row groups of
July and August lie outside October and its lookback: their statistics say so and they are
never read. Figures (median of ``--runs``): rows in the file, rows kept, wall time, and the
load's peak memory against the bytes of the rows kept (the frame the pipeline computes on).
Target: load peak under 2x those bytes (``--check`` exits 1 when missed). The process's
own baseline (imports, the other inputs) is reported beside it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_read import BASE_SERVICES, run_child, summary, write_month

TARGET_RATIO = 2.0


def write_months(folder: Path, size: int, row_group: int, order: str) -> Path:
    """The sample's October at ``size`` times and two shifted copies, as one Parquet file
    (each copy's rows by time, or by series as the sample writes them), with the CSV config
    rewritten to read it; returns the config's path."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    config = write_month(folder, size)
    csv = folder / "sli.csv"
    october = pacsv.read_csv(
        csv,
        convert_options=pacsv.ConvertOptions(
            column_types={
                "timestamp": pa.timestamp("ns", tz="UTC"),
                "service": pa.dictionary(pa.int32(), pa.string()),
                "slo": pa.dictionary(pa.int32(), pa.string()),
            }
        ),
    )
    if order == "time":  # as an export appended minute by minute is
        october = october.sort_by("timestamp")
    stamps = october.column("timestamp")
    with pq.ParquetWriter(folder / "sli.parquet", october.schema) as writer:
        for days in (62, 31, 0):
            shifted = pa.array(stamps.to_pandas() - pd.Timedelta(days=days))
            at = october.schema.get_field_index("timestamp")
            writer.write_table(october.set_column(at, "timestamp", shifted), row_group)
    csv.unlink()
    text = config.read_text().replace("sli.csv", "sli.parquet")
    config.write_text(text)
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100, help="multiple of the sample")
    parser.add_argument("--row-group", type=int, default=1 << 20, help="rows a row group")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--order", choices=("time", "series"), default="time", help="the rows' order in the file"
    )
    parser.add_argument("--data", help="folder to write the inputs to and reuse on later runs")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--write", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        folder, size, row_group, order = args.write
        write_months(Path(folder), int(size), int(row_group), order)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-parquet-") as scratch:
        folder = Path(args.data) if args.data else Path(scratch)
        out = folder / f"parquet-x{args.size}-{args.order}"
        config = out / "reliability.yaml"
        if not (out / "sli.parquet").is_file():  # written last: a half-written folder is redone
            # In a process of its own: a child forked from a parent holding the data would
            # start with the parent's pages in its peak memory.
            command = [sys.executable, __file__, "--write", str(out), str(args.size)]
            command += [str(args.row_group), args.order]
            subprocess.run(command, check=True)
        run_child("typed", config)  # warm-up: the file in the page cache
        runs = [run_child("typed", config) for _ in range(args.runs)]
        first = runs[0]
        read = first["rows"] + first["left_out"]
        size = (out / "sli.parquet").stat().st_size
        print(
            f"{args.size}x: {BASE_SERVICES * args.size} services; sli.parquet by {args.order}, "
            f"{size / 1e9:.2f} GB, {read:,} rows in the file, {first['rows']:,} kept "
            f"(October and its lookback), {first['left_out']:,} left out"
        )
        print(
            f"  load {summary([r['load'] for r in runs])}, load + compute "
            f"{summary([r['compute'] for r in runs])}"
        )
        print(
            f"  load peak {summary([r['load_peak'] for r in runs], 1e9, 'GB')}, whole run "
            f"{summary([r['peak'] for r in runs], 1e9, 'GB')}"
        )
        kept = statistics.median(r["sli_bytes"] for r in runs)
        ratio = statistics.median(r["load_peak"] for r in runs) / kept
        print(
            f"  the kept rows hold {kept / 1e9:.2f} GB in memory; load peak / kept bytes "
            f"{ratio:.2f}x (target < {TARGET_RATIO:.0f}x)"
        )
    if ratio >= TARGET_RATIO and args.check:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
