"""The ``sql`` source on a real PostgreSQL server holding the sample at ``--size`` times
(``make bench``; 100 = 900 services, 80 M minute rows).

Starts a throwaway PostgreSQL cluster on loopback (Debian's ``postgresql``), COPYs the
sample's October into a table ``sli``, and in fresh processes computes October
(``reliability compute --format json``) twice: from the database at a 5-minute step, the
per-step sums pushed down as ``GROUP BY``, and from a CSV file of the same 5-minute sums.
A relay on loopback counts the bytes the server sends. Figures: the bytes the pipeline
received against those the raw rows of the span would take fetched as the source fetches
(text values in the wire protocol's rows, worked out from ``COPY ... TO STDOUT``), wall time
of each run, and whether the SLO figures are identical. Targets: bytes at most 1/5 of the
raw rows', identical SLOs (``--check`` exits 1 when either is missed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_read import BASE_SERVICES, MONTH, run_json, write_month
from sql_databases import ByteCounter, PostgresServer  # the shared test helpers live in tests/

TARGET_RATIO = 0.2
URL_ENV = "RELIABILITY_BENCH_PG_URL"


def write_inputs(folder: Path, size: int) -> Path:
    """The sample's October at ``size`` times as CSV files, plus ``sli-5m.csv``: the same
    events summed per 5 minutes (by DuckDB); returns the config's path."""
    import duckdb

    config = folder / "reliability.yaml"
    if not config.is_file():
        config = write_month(folder, size)
    five = folder / "sli-5m.csv"
    if not five.is_file():
        duckdb.sql(
            f"""COPY (
                SELECT strftime(time_bucket(INTERVAL 5 MINUTE, "timestamp"::TIMESTAMPTZ
                       AT TIME ZONE 'UTC'), '%Y-%m-%dT%H:%M:%SZ') AS "timestamp",
                       service, slo, sum(good) AS good, sum(total) AS total
                FROM read_csv('{folder / "sli.csv"}', header = true)
                GROUP BY ALL ORDER BY service, slo, 1
            ) TO '{five}' (HEADER, DELIMITER ',')"""
        )
    return config


def load_postgres(server: PostgresServer, csv: Path) -> float:
    """COPY the CSV's rows into table ``sli``; returns the seconds it took."""
    started = time.perf_counter()
    with server.connect() as connection:
        connection.execute(
            'CREATE TABLE sli ("timestamp" timestamptz, service text, slo text,'
            " good bigint, total bigint)"
        )
        with (
            connection.cursor().copy(
                'COPY sli ("timestamp", service, slo, good, total) FROM STDIN (FORMAT csv, HEADER)'
            ) as copy,
            csv.open("rb") as handle,
        ):
            while block := handle.read(1 << 22):
                copy.write(block)
        connection.execute("ANALYZE sli")
    return time.perf_counter() - started


def variant(config: Path, name: str, metrics: dict) -> Path:
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    document["sources"]["metrics"] = metrics
    path = config.parent / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def compute(config: Path, env: dict[str, str]) -> tuple[dict, float]:
    """``reliability compute --format json`` of the month in a fresh process, and its wall
    time."""
    started = time.perf_counter()
    command = ["compute", "--config", str(config), "--month", MONTH, "--format", "json"]
    result = run_json([sys.executable, "-m", "reliability", *command], "compute", env)
    return result, time.perf_counter() - started


ROW_MESSAGE_BYTES = 7 + 4 * 5
"""What the wire protocol adds to each row of five text values (a DataRow: type, length and
field count, then a length before each value)."""


def raw_bytes(server: PostgresServer, config: Path) -> tuple[int, int]:
    """The span's raw rows as a client fetching them would receive them (text values, as the
    source asks for them), and their count: worked out from ``COPY ... TO STDOUT``, whose
    lines hold the same text values with a tab or line break after each."""
    from reliability import pipeline
    from reliability.period import Span

    cfg = pipeline.load_config(config)
    span = Span.of([pipeline.resolve_month(MONTH, cfg)], cfg.alert_lookback())
    text = rows = 0
    with server.connect() as connection:
        query = (
            'COPY (SELECT "timestamp", service, slo, good, total FROM sli WHERE "timestamp" >= '
            f"'{span.start.isoformat()}' AND \"timestamp\" < '{span.end.isoformat()}') TO STDOUT"
        )
        with connection.cursor().copy(query) as copy:
            for block in copy:
                text += len(block)
                rows += bytes(block).count(b"\n")
    return text - 5 * rows + ROW_MESSAGE_BYTES * rows, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=10, help="multiple of the sample")
    parser.add_argument("--data", help="folder to write the inputs to and reuse on later runs")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as scratch:
        folder = (Path(args.data) if args.data else Path(scratch)) / f"sql-x{args.size}"
        config = write_inputs(folder, args.size)
        server = PostgresServer()
        relay = None
        try:
            server.start()
            seconds = load_postgres(server, folder / "sli.csv")
            relay = ByteCounter(server.port)
            env = {**os.environ, URL_ENV: server.url(relay.port), "PYTHONPATH": root}
            metrics = {"kind": "sql", "url_env": URL_ENV, "table": "sli", "timeout": 600}
            sql = variant(config, "sql-5m", metrics)
            sql.write_text(sql.read_text().replace("table: sli", "table: sli\n    step: 5m"))
            csv = variant(config, "csv-5m", {"kind": "csv", "path": "sli-5m.csv"})
            relay.reset()
            from_sql, sql_seconds = compute(sql, env)
            received = relay.received
            from_csv, csv_seconds = compute(csv, env)
            raw, rows = raw_bytes(server, config)
        finally:
            if relay is not None:
                relay.close()
            server.stop()
    same = from_sql["slos"] == from_csv["slos"]
    ratio = received / raw
    print(
        f"{args.size}x: {BASE_SERVICES * args.size} services; PostgreSQL loaded in "
        f"{seconds:.0f} s; {len(from_sql['slos'])} SLOs"
    )
    print(
        f"  sql at 5m: {received / 1e6:.1f} MB received in {sql_seconds:.1f} s; the span's raw "
        f"rows ({rows:,}): {raw / 1e6:.1f} MB; ratio {ratio:.3f} (target <= {TARGET_RATIO})"
    )
    print(f"  csv of the same 5-minute sums: {csv_seconds:.1f} s; SLO figures identical: {same}")
    if args.check and (ratio > TARGET_RATIO or not same):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
