"""``kind: sql``: the same rows read from DuckDB and from a real PostgreSQL server give the same
report figures as the canonical CSV files, the database summing each step's events itself; a
table or column name from the config is quoted, never SQL; errors are one line, secrets
scrubbed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sql_databases import ByteCounter, PostgresServer, duckdb_file

from reliability.cli import main
from reliability.config import load_config
from reliability.errors import InputError
from reliability.metrics.slo import alert_lookback
from reliability.period import Month, Span
from reliability.sources import load_frames
from reliability.sources.sample import write_sample

pytestmark = pytest.mark.slow

MONTH = Month(2026, 10)
NOW = pd.Timestamp("2026-11-20T00:00:00Z")
ROLES = ("metrics", "incidents", "deployments", "worklog")
TABLES = {"metrics": "sli", "incidents": "incidents", "deployments": "deployments"}
TABLES["worklog"] = "worklog"


def aggregate(sli: pd.DataFrame, step: str) -> pd.DataFrame:
    """Per-minute rows summed into intervals of ``step``, as the database is asked to."""
    rows = sli.assign(timestamp=sli["timestamp"].dt.floor(step))
    return rows.groupby(["timestamp", "service", "slo"], as_index=False, observed=True)[
        ["good", "total"]
    ].sum()


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> dict[str, Any]:
    """The sample's October (with its lookback) as canonical CSV files, the canonical frames
    read from them, a DuckDB file holding the same rows and a CSV of 5-minute sums."""
    folder = tmp_path_factory.mktemp("org")
    config_path = write_sample(folder, MONTH, now=NOW, lookback=alert_lookback())
    config = load_config(config_path)
    loaded = load_frames(config, Span.of([MONTH], alert_lookback()))
    tables = {
        "sli": loaded.sli,
        "incidents": loaded.incidents,
        "deployments": loaded.deployments,
        "worklog": loaded.worklog,
    }
    duckdb_file(folder / "sample.duckdb", tables)
    five = aggregate(loaded.sli, "5min")
    five.assign(timestamp=five["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
        folder / "sli-5m.csv", index=False
    )
    return {"folder": folder, "config": config_path, "frames": tables}


def variant(org: dict[str, Any], name: str, sources: dict[str, dict[str, Any]]) -> Path:
    """The sample's config with some sources replaced, written beside its files."""
    document = yaml.safe_load(Path(org["config"]).read_text(encoding="utf-8"))
    document["sources"].update(sources)
    path = org["folder"] / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def compute(config: Path, capsys) -> tuple[int, dict[str, Any] | None, str]:
    code = main(["compute", "--config", str(config), "--month", MONTH.label, "--format", "json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


def sql_sources(connection: dict[str, Any], step: str | None = None) -> dict[str, Any]:
    sources = {role: {"kind": "sql", **connection, "table": TABLES[role]} for role in ROLES}
    if step is not None:
        sources["metrics"]["step"] = step
    return sources


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """The figures of a result (the data-quality findings name their source, which differs)."""
    return {k: v for k, v in result.items() if k != "data_quality"}


# -- DuckDB: the embedded default ------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "csv"), [("1m", "sli.csv"), ("5m", "sli-5m.csv")], ids=["1m", "5m"]
)
def test_duckdb_gives_the_figures_of_the_csv_files(org, capsys, step, csv):
    from_csv = variant(org, f"csv-{step}", {"metrics": {"kind": "csv", "path": csv}})
    from_sql = variant(org, f"duckdb-{step}", sql_sources({"url": "sample.duckdb"}, step))

    code, expected, err = compute(from_csv, capsys)
    assert code == 0, err
    code, result, err = compute(from_sql, capsys)
    assert code == 0, err

    assert len(result["slos"]) == 18
    assert result["slos"] == expected["slos"]
    assert comparable(result) == comparable(expected)
    assert result["incidents"] == expected["incidents"]


def test_duckdb_sums_each_step_in_the_database(org):
    """The SLI grid the source returns is the CSV's rows summed per 5 minutes, exactly."""
    from reliability.sources import LoadRequest, plugin

    path = variant(org, "duckdb-grid", sql_sources({"url": "sample.duckdb"}, "5m"))
    config = load_config(path)
    span = Span.of([MONTH], alert_lookback())
    loaded = plugin("sql").load(config.sources.metrics, LoadRequest(config, "metrics", span))
    got = loaded.frame.astype({"service": str, "slo": str})
    want = aggregate(org["frames"]["sli"], "5min").astype({"service": str, "slo": str})
    key = ["service", "slo", "timestamp"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)[got.columns]
    pd.testing.assert_frame_equal(got, want, check_categorical=False)
    assert len(got) * 5 == len(org["frames"]["sli"])


def test_incidents_deployments_and_worklog_read_from_duckdb_equal_the_files(org):
    from reliability.sources import LoadRequest, plugin

    path = variant(org, "duckdb-rows", sql_sources({"url": "duckdb:///sample.duckdb"}))
    config = load_config(path)
    span = Span.of([MONTH], alert_lookback())
    for role in ("incidents", "deployments", "worklog"):
        loaded = plugin("sql").load(getattr(config.sources, role), LoadRequest(config, role, span))
        want = org["frames"][TABLES[role]]
        got = loaded.frame
        key = "id" if "id" in want else ["team", "date", "category", "person"]
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True),
            want.sort_values(key).reset_index(drop=True),
        )


def test_a_query_and_a_column_mapping_read_the_same_rows(org, capsys):
    query = (
        'SELECT "timestamp" AS at, service AS svc, slo, good AS ok, total FROM sli '
        "WHERE slo = 'availability'"
    )
    sources = sql_sources({"url": "sample.duckdb"}, "5m")
    sources["metrics"] = {
        "kind": "sql",
        "url": "sample.duckdb",
        "query": query,
        "step": "5m",
        "columns": {"timestamp": "at", "service": "svc", "good": "ok"},
    }
    code, result, err = compute(variant(org, "duckdb-query", sources), capsys)
    assert code == 0, err
    code, expected, err = compute(
        variant(org, "csv-5m-q", {"metrics": {"kind": "csv", "path": "sli-5m.csv"}}), capsys
    )
    assert code == 0, err
    pick = [s for s in expected["slos"] if s["slo"] == "availability"]
    assert [s for s in result["slos"] if s["slo"] == "availability"] == pick
    assert all(s["total"] == 0 or s["slo"] == "availability" for s in result["slos"] if s["total"])


def test_duckdb_serves_parquet_files_through_a_view(org, tmp_path):
    """A DuckDB file holding only a view over ``read_parquet`` reads the files' rows."""
    import duckdb

    from reliability.sources import LoadRequest, plugin

    parquet = tmp_path / "sli.parquet"
    sli = org["frames"]["sli"]
    sli.astype({"service": str, "slo": str}).to_parquet(parquet)
    connection = duckdb.connect(str(tmp_path / "lake.duckdb"))
    connection.execute(f"CREATE VIEW sli AS SELECT * FROM read_parquet('{parquet}')")
    connection.close()
    path = variant(
        org,
        "duckdb-parquet",
        {"metrics": {"kind": "sql", "url": str(tmp_path / "lake.duckdb"), "table": "sli"}},
    )
    config = load_config(path)
    span = Span.of([MONTH], alert_lookback())
    frame = plugin("sql").load(config.sources.metrics, LoadRequest(config, "metrics", span)).frame
    key = ["service", "slo", "timestamp"]
    got = frame.astype({"service": str, "slo": str}).sort_values(key).reset_index(drop=True)
    want = sli.astype({"service": str, "slo": str}).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want[got.columns])


def _injection_database(path: Path) -> Path:
    import duckdb

    connection = duckdb.connect(str(path))
    connection.execute(
        """CREATE TABLE "x; DROP TABLE y" ("at's" TIMESTAMPTZ, service VARCHAR, slo VARCHAR, """
        """"good"" ; DROP TABLE y; --" BIGINT, total BIGINT)"""
    )
    connection.execute(
        'INSERT INTO "x; DROP TABLE y" VALUES '
        "('2026-10-01 00:00:30+00', 'checkout', 'availability', 3, 4), "
        "('2026-10-01 00:04:59+00', 'checkout', 'availability', 1, 1), "
        "('2026-10-01 00:05:00+00', 'checkout', 'availability', 2, 5)"
    )
    connection.execute("CREATE TABLE y (keep INTEGER)")
    connection.close()
    return path


def test_names_from_the_config_are_quoted_never_sql(tmp_path):
    import duckdb

    from reliability.config import config_from_dict
    from reliability.sources import LoadRequest, plugin

    database = _injection_database(tmp_path / "odd.duckdb")
    document = {
        "sources": {
            "metrics": {
                "kind": "sql",
                "url": str(database),
                "table": "x; DROP TABLE y",
                "step": "5m",
                "columns": {"timestamp": "at's", "good": 'good" ; DROP TABLE y; --'},
            }
        },
        "services": [
            {
                "name": "checkout",
                "team": "payments",
                "slos": [{"name": "availability", "objective": 0.99}],
            }
        ],
    }
    config = config_from_dict(document, "reliability.yaml", tmp_path)
    span = Span(pd.Timestamp("2026-10-01", tz="UTC"), pd.Timestamp("2026-10-01T00:10Z"))
    frame = plugin("sql").load(config.sources.metrics, LoadRequest(config, "metrics", span)).frame
    assert frame["good"].tolist() == [4, 2]
    assert frame["total"].tolist() == [5, 5]
    assert frame["timestamp"].tolist() == [span.start, span.start + pd.Timedelta("5min")]

    # a name that closes the quote and appends a statement is one (unknown) name
    hostile = 'sli"; DROP TABLE y; --'
    document["sources"]["metrics"]["table"] = hostile
    config = config_from_dict(document, "reliability.yaml", tmp_path)
    with pytest.raises(InputError) as raised:
        plugin("sql").load(config.sources.metrics, LoadRequest(config, "metrics", span))
    message = str(raised.value)
    assert len(message.splitlines()) == 1
    assert "sources.metrics (sql " in message
    assert "query: SELECT" in message
    assert '"sli""; DROP TABLE y; --"' in message
    connection = duckdb.connect(str(database), read_only=True)
    assert connection.execute("SELECT count(*) FROM y").fetchone() == (0,)
    connection.close()


def test_a_table_of_another_schema_is_named_with_schema(tmp_path):
    """``schema`` qualifies ``table``, both quoted as identifiers: a schema's name is never SQL."""
    import duckdb

    from reliability.config import config_from_dict
    from reliability.sources import LoadRequest, plugin

    database = tmp_path / "schemas.duckdb"
    connection = duckdb.connect(str(database))
    connection.execute('CREATE SCHEMA "ops team"')
    connection.execute(
        'CREATE TABLE "ops team".sli (timestamp TIMESTAMPTZ, service VARCHAR, slo VARCHAR, '
        "good BIGINT, total BIGINT)"
    )
    connection.execute(
        """INSERT INTO "ops team".sli VALUES """
        "('2026-10-01 00:00:30+00', 'checkout', 'availability', 3, 4), "
        "('2026-10-01 00:05:00+00', 'checkout', 'availability', 2, 5)"
    )
    connection.execute("CREATE TABLE sli (keep INTEGER)")  # the default schema's: not read
    connection.close()
    metrics = {"kind": "sql", "url": str(database), "table": "sli", "schema": "ops team"}
    metrics["step"] = "5m"
    document = {
        "sources": {"metrics": metrics},
        "services": [
            {
                "name": "checkout",
                "team": "payments",
                "slos": [{"name": "availability", "objective": 0.99}],
            }
        ],
    }
    span = Span(pd.Timestamp("2026-10-01", tz="UTC"), pd.Timestamp("2026-10-01T00:10Z"))

    def load(schema: str) -> pd.DataFrame:
        metrics["schema"] = schema
        config = config_from_dict(document, "reliability.yaml", tmp_path)
        request = LoadRequest(config, "metrics", span)
        return plugin("sql").load(config.sources.metrics, request).frame

    frame = load("ops team")
    assert (frame["good"].tolist(), frame["total"].tolist()) == ([3, 2], [4, 5])

    with pytest.raises(InputError) as raised:
        load('main"; DROP TABLE sli; --')
    message = str(raised.value)
    assert len(message.splitlines()) == 1
    assert 'FROM "main""; DROP TABLE sli; --"."sli" WHERE' in message
    connection = duckdb.connect(str(database), read_only=True)
    assert connection.execute("SELECT count(*) FROM sli").fetchone() == (0,)
    connection.close()


def test_database_errors_are_one_line_naming_source_and_query(org, capsys):
    unknown = sql_sources({"url": "sample.duckdb"})
    unknown["incidents"]["table"] = "no_such_table"
    code, _, err = compute(variant(org, "unknown-table", unknown), capsys)
    assert code == 2
    (line,) = [line for line in err.splitlines() if "no_such_table" in line]
    assert "sources.incidents (sql " in line
    assert 'query: SELECT * FROM "no_such_table" WHERE' in line

    bad = sql_sources({"url": "sample.duckdb"})
    bad["deployments"] = {"kind": "sql", "url": "sample.duckdb", "query": "SELECT nope FROM sli"}
    code, _, err = compute(variant(org, "bad-query", bad), capsys)
    assert code == 2
    assert any("sources.deployments (sql " in line and "nope" in line for line in err.splitlines())

    missing = sql_sources({"url": "missing.duckdb"})
    code, _, err = compute(variant(org, "missing-file", missing), capsys)
    assert code == 2
    assert "missing.duckdb" in err
    assert "file not found" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "postgresql://u:pw@db/x", "table": "t"}, "url_env"),
        ({"url": "duckdb:///:memory:", "table": "t"}, "DuckDB file"),
        ({"url": "a.duckdb"}, "either table or query"),
        ({"url": "a.duckdb", "table": "t", "url_env": "DB_URL"}, "either url_env"),
        ({"url": "a.duckdb", "query": "DELETE FROM t"}, "SELECT"),
        ({"url": "a.duckdb", "query": "SELECT 1; DROP TABLE t"}, "no ';'"),
        ({"url": "a.duckdb", "table": "t", "columns": {"when": "ts"}}, "not a canonical"),
        ({"url": "a.duckdb", "table": "t", "password": "x"}, "password"),
        ({"url": "a.duckdb", "query": "SELECT 1", "schema": "ops"}, "schema goes with table"),
    ],
)
def test_options_are_checked_when_the_config_is_read(tmp_path, capsys, options, message):
    path = tmp_path / "reliability.yaml"
    path.write_text(yaml.safe_dump({"sources": {"metrics": {"kind": "sql", **options}}}))
    code = main(["validate", "--config", str(path), "--month", MONTH.label])
    err = capsys.readouterr().err
    assert code == 2
    assert "sources.metrics" in err
    assert message in err
    assert "pw@" not in err


def test_an_unset_url_variable_is_a_config_error(org, capsys, monkeypatch):
    monkeypatch.delenv("RELIABILITY_TEST_DB_URL", raising=False)
    sources = {"metrics": {"kind": "sql", "url_env": "RELIABILITY_TEST_DB_URL", "table": "sli"}}
    code, _, err = compute(variant(org, "unset", sources), capsys)
    assert code == 2
    assert "sources.metrics.url_env: the environment variable RELIABILITY_TEST_DB_URL" in err


# -- PostgreSQL: a real server ---------------------------------------------------------------

PG_TYPES = {
    "timestamp": "timestamptz",
    "created_at": "timestamptz",
    "resolved_at": "timestamptz",
    "acknowledged_at": "timestamptz",
    "started_at": "timestamptz",
    "postmortem_at": "timestamptz",
    "deployed_at": "timestamptz",
    "commit_at": "timestamptz",
    "good": "bigint",
    "total": "bigint",
    "action_items_open": "bigint",
    "hours": "double precision",
    "date": "date",
}
PG_URL_ENV = "RELIABILITY_TEST_PG_URL"


@pytest.fixture(scope="module")
def postgres(org):
    """A throwaway PostgreSQL cluster holding the sample's rows, stopped after the tests."""
    server = PostgresServer()
    try:
        server.start()
        server.load(org["frames"], PG_TYPES)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("step", "csv"), [("1m", "sli.csv"), ("5m", "sli-5m.csv")], ids=["1m", "5m"]
)
def test_postgresql_gives_the_figures_of_the_csv_files(
    org, postgres, capsys, monkeypatch, step, csv
):
    monkeypatch.setenv(PG_URL_ENV, postgres.url())
    from_csv = variant(org, f"pg-csv-{step}", {"metrics": {"kind": "csv", "path": csv}})
    from_sql = variant(org, f"pg-{step}", sql_sources({"url_env": PG_URL_ENV}, step))

    code, expected, err = compute(from_csv, capsys)
    assert code == 0, err
    code, result, err = compute(from_sql, capsys)
    assert code == 0, err

    assert len(result["slos"]) == 18
    assert result["slos"] == expected["slos"]
    assert comparable(result) == comparable(expected)
    assert result["incidents"] == expected["incidents"]


def test_postgresql_sends_per_step_sums_not_raw_rows(org, postgres, monkeypatch):
    """Over the wire, the 5-minute sums are a small fraction of the raw events' bytes."""
    import psycopg

    from reliability.sources import LoadRequest, plugin

    relay = ByteCounter(postgres.port)
    try:
        monkeypatch.setenv(PG_URL_ENV, postgres.url(relay.port))
        config = load_config(variant(org, "pg-bytes", sql_sources({"url_env": PG_URL_ENV}, "5m")))
        span = Span.of([MONTH], alert_lookback())
        relay.reset()
        frame = plugin("sql").load(config.sources.metrics, LoadRequest(config, "metrics", span))
        pushed = relay.received
        relay.reset()
        with psycopg.connect(postgres.url(relay.port).replace("postgresql://", "postgres://")) as c:
            rows = c.execute(
                'SELECT "timestamp", service, slo, good, total FROM sli '
                'WHERE "timestamp" >= %s AND "timestamp" < %s',
                (span.start.to_pydatetime(), span.end.to_pydatetime()),
            ).fetchall()
        raw = relay.received
    finally:
        relay.close()
    assert len(rows) == len(org["frames"]["sli"]) == 5 * len(frame.frame)
    ratio = pushed / raw
    print(f"\nmetrics at 5m: {pushed:,} bytes; raw rows: {raw:,} bytes; ratio {ratio:.3f}")
    assert ratio < 0.25


def test_postgresql_reads_tables_of_another_schema(org, postgres, capsys, monkeypatch):
    monkeypatch.setenv(PG_URL_ENV, postgres.url())
    postgres.psql("CREATE SCHEMA IF NOT EXISTS sre")
    for role in ROLES:
        table = TABLES[role]
        postgres.psql(f'CREATE TABLE IF NOT EXISTS sre."{table}" AS SELECT * FROM "{table}"')
    default = sql_sources({"url_env": PG_URL_ENV}, "5m")
    qualified = sql_sources({"url_env": PG_URL_ENV, "schema": "sre"}, "5m")

    code, expected, err = compute(variant(org, "pg-public", default), capsys)
    assert code == 0, err
    code, result, err = compute(variant(org, "pg-schema", qualified), capsys)
    assert code == 0, err
    assert comparable(result) == comparable(expected)
    assert len(result["slos"]) == 18


def test_postgresql_errors_exit_1_or_2_without_the_url(org, postgres, capsys, monkeypatch):
    # a wrong password: the server refuses the login (a fault, exit 1); no secret shown
    wrong = postgres.url().replace(postgres.password, "Wr0ng-Pa55word")
    monkeypatch.setenv(PG_URL_ENV, wrong)
    code, _, err = compute(variant(org, "pg-login", sql_sources({"url_env": PG_URL_ENV})), capsys)
    assert code == 1
    assert "sources.metrics (sql RELIABILITY_TEST_PG_URL): cannot connect" in err
    assert "Wr0ng-Pa55word" not in err
    assert wrong not in err

    # an unknown table: exit 2, one line with the server's message and the statement
    monkeypatch.setenv(PG_URL_ENV, postgres.url())
    sources = sql_sources({"url_env": PG_URL_ENV})
    sources["incidents"]["table"] = 'incidents"; DROP TABLE sli; --'
    code, _, err = compute(variant(org, "pg-table", sources), capsys)
    assert code == 2
    (line,) = [line for line in err.splitlines() if "sources.incidents" in line]
    assert 'relation "incidents"; DROP TABLE sli; --" does not exist' in line
    assert 'query: SELECT * FROM "incidents""; DROP TABLE sli; --" WHERE' in line
    assert postgres.password not in err

    # a query that would write: the session is read-only
    sources = sql_sources({"url_env": PG_URL_ENV})
    sources["deployments"] = {
        "kind": "sql",
        "url_env": PG_URL_ENV,
        "query": "WITH gone AS (DELETE FROM deployments RETURNING *) SELECT * FROM gone",
    }
    code, _, err = compute(variant(org, "pg-write", sources), capsys)
    assert code == 2
    assert "data-modifying statement must be at the top level" in err
    postgres.psql("CREATE SEQUENCE IF NOT EXISTS deploy_numbers")
    query = "SELECT d.* FROM deployments d, (SELECT nextval('deploy_numbers')) n"
    sources["deployments"]["query"] = query
    code, _, err = compute(variant(org, "pg-write", sources), capsys)
    assert code == 2
    assert "read-only transaction" in err
    with postgres.connect() as connection:
        count = connection.execute("SELECT count(*) FROM deployments").fetchone()
        assert count == (len(org["frames"]["deployments"]),)
        assert connection.execute("SELECT count(*) FROM sli").fetchone()[0] > 0
        assert (
            connection.execute("SELECT last_value, is_called FROM deploy_numbers").fetchone()[1]
            is False
        )


def test_postgresql_statements_and_connections_are_bounded_in_time(org, postgres, monkeypatch):
    import socket
    import time

    from reliability.errors import SourceError
    from reliability.sources import LoadRequest, plugin

    span = Span.of([MONTH], alert_lookback())

    def load(role: str, options: dict[str, Any]) -> str:
        config = load_config(variant(org, f"pg-bounded-{role}", {role: options}))
        began = time.monotonic()
        with pytest.raises(SourceError) as raised:
            plugin("sql").load(getattr(config.sources, role), LoadRequest(config, role, span))
        assert time.monotonic() - began < 2 * options["timeout"] + 8
        return str(raised.value)

    monkeypatch.setenv(PG_URL_ENV, postgres.url())
    query = "SELECT d.* FROM deployments d, (SELECT pg_sleep(10)) s"
    message = load(
        "deployments", {"kind": "sql", "url_env": PG_URL_ENV, "query": query, "timeout": 1}
    )
    assert "statement timeout" in message
    assert "query: SELECT * FROM (SELECT d.* FROM deployments d" in message

    # a network that goes silent in the middle of the answer
    relay = ByteCounter(postgres.port, stall_after=16_384)
    try:
        monkeypatch.setenv(PG_URL_ENV, postgres.url(relay.port))
        metrics = {"kind": "sql", "url_env": PG_URL_ENV, "table": "sli", "timeout": 3}
        message = load("metrics", metrics)
        assert "no complete answer within 11 s" in message
        assert relay.received > 16_384
    finally:
        relay.close()

    # a server that accepts the connection and never answers
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        monkeypatch.setenv(PG_URL_ENV, postgres.url(silent.getsockname()[1]))
        message = load(
            "metrics", {"kind": "sql", "url_env": PG_URL_ENV, "table": "sli", "timeout": 2}
        )
        assert "cannot connect" in message
        assert postgres.password not in message
    finally:
        silent.close()


def test_timestamps_without_a_time_zone_are_read_as_utc(tmp_path):
    import duckdb

    from reliability.config import config_from_dict
    from reliability.sources import LoadRequest, plugin

    path = tmp_path / "naive.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute(
        "CREATE TABLE events (timestamp TIMESTAMP, service VARCHAR, slo VARCHAR, good BIGINT, "
        "total BIGINT)"
    )
    connection.execute(
        "INSERT INTO events VALUES ('2026-09-30 23:59:59', 'checkout', 'availability', 9, 9), "
        "('2026-10-01 00:00:00', 'checkout', 'availability', 1, 2), "
        "('2026-10-01 00:00:59', 'checkout', 'availability', 3, 3)"
    )
    connection.execute(
        "CREATE TABLE incidents (id VARCHAR, service VARCHAR, severity VARCHAR, "
        "created_at TIMESTAMP, resolved_at TIMESTAMP)"
    )
    connection.execute(
        "INSERT INTO incidents VALUES ('INC-1', 'checkout', 'SEV2', '2026-10-01 00:00:30', NULL)"
    )
    connection.close()
    document = {
        "sources": {
            "metrics": {"kind": "sql", "url": "naive.duckdb", "table": "events"},
            "incidents": {"kind": "sql", "url": "naive.duckdb", "table": "incidents"},
        },
        "services": [
            {
                "name": "checkout",
                "team": "payments",
                "slos": [{"name": "availability", "objective": 0.99}],
            }
        ],
    }
    config = config_from_dict(document, "reliability.yaml", tmp_path)
    span = Span(pd.Timestamp("2026-10-01", tz="UTC"), pd.Timestamp("2026-10-01T00:02Z"))
    sli = plugin("sql").load(config.sources.metrics, LoadRequest(config, "metrics", span)).frame
    assert sli["timestamp"].tolist() == [span.start]
    assert (sli["good"].tolist(), sli["total"].tolist()) == ([4], [5])
    incidents = (
        plugin("sql").load(config.sources.incidents, LoadRequest(config, "incidents", span)).frame
    )
    assert incidents["created_at"].tolist() == [pd.Timestamp("2026-10-01T00:00:30Z")]
    assert incidents["resolved_at"].isna().all()


def _small_database(path: Path, events: str, incidents: str = "") -> Path:
    """A DuckDB file holding an SLI table ``sli`` and an incidents table of the given rows."""
    import duckdb

    connection = duckdb.connect(str(path))
    connection.execute(
        'CREATE TABLE sli ("timestamp" TIMESTAMPTZ, service VARCHAR, slo VARCHAR, good DOUBLE, '
        "total DOUBLE)"
    )
    connection.execute(f"INSERT INTO sli VALUES {events}")
    connection.execute(
        "CREATE TABLE incidents (id VARCHAR, service VARCHAR, sev VARCHAR, "
        "created_at TIMESTAMPTZ, resolved_at TIMESTAMPTZ)"
    )
    if incidents:
        connection.execute(f"INSERT INTO incidents VALUES {incidents}")
    connection.close()
    return path


def _small_load(tmp_path: Path, role: str, options: dict[str, Any]) -> pd.DataFrame:
    from reliability.config import config_from_dict
    from reliability.sources import LoadRequest, plugin

    document = {
        "sources": {role: {"kind": "sql", "url": "small.duckdb", **options}},
        "services": [
            {
                "name": "checkout",
                "team": "payments",
                "slos": [{"name": "availability", "objective": 0.99}],
            }
        ],
    }
    config = config_from_dict(document, "reliability.yaml", tmp_path)
    span = Span(pd.Timestamp("2026-10-01", tz="UTC"), pd.Timestamp("2026-10-01T00:10Z"))
    source = getattr(config.sources, role)
    return plugin("sql").load(source, LoadRequest(config, role, span)).frame


GOOD_EVENTS = (
    "('2026-10-01 00:00:00+00', 'checkout', 'availability', 3, 4), "
    "('2026-10-01 00:01:00+00', 'checkout', 'availability', 1, 1)"
)


def test_a_query_ending_in_a_comment_is_read(tmp_path):
    """A SELECT pasted from an SQL editor may end in a ``--`` comment: it stays a comment of
    the query, not of the statement the source wraps around it."""
    _small_database(tmp_path / "small.duckdb", GOOD_EVENTS)
    query = "SELECT * FROM sli -- every SLO"
    frame = _small_load(tmp_path, "metrics", {"query": query, "step": "5m"})
    assert (frame["good"].tolist(), frame["total"].tolist()) == ([4], [5])


def test_an_empty_table_still_needs_its_columns(tmp_path):
    """A table without rows in the span is a real zero only when it is the table: one lacking
    a required column (``sev`` for ``severity``) is refused, as it is with rows, instead of
    reading as a month without incidents."""
    _small_database(tmp_path / "small.duckdb", GOOD_EVENTS)
    with pytest.raises(InputError) as raised:
        _small_load(tmp_path, "incidents", {"table": "incidents"})
    assert str(raised.value) == (
        f"sources.incidents (sql {tmp_path / 'small.duckdb'}): column severity: "
        "missing required column 'severity'"
    )
    mapped = {"table": "incidents", "columns": {"severity": "sev"}}
    assert _small_load(tmp_path, "incidents", mapped).empty


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("NULL, 5", "good", "missing value"),
        ("-2, 5", "good", "must not be negative"),
        ("0.5, 5", "good", "must be a whole number of events"),
        ("2, 2.5", "total", "must be a whole number of events"),
        ("2, 1", "good", "good exceeds total"),
    ],
)
def test_each_row_is_checked_before_the_database_sums_it(tmp_path, row, column, message):
    """A row's empty, negative or fractional count, or good above total, is named by its SLO
    and step, though the sums the database sends back would hide it: a sum leaves out an
    empty cell, a negative count lowers it, a fraction is rounded away."""
    events = f"{GOOD_EVENTS}, ('2026-10-01 00:02:00+00', 'checkout', 'availability', {row})"
    _small_database(tmp_path / "small.duckdb", events)
    with pytest.raises(InputError) as raised:
        _small_load(tmp_path, "metrics", {"table": "sli", "step": "5m"})
    assert str(raised.value) == (
        f"sources.metrics (sql {tmp_path / 'small.duckdb'}): column {column}: {message} (a row "
        "of checkout / availability in the step from 2026-10-01T00:00:00Z)"
    )


def test_many_flawed_steps_are_summed_up(tmp_path):
    events = ", ".join(
        f"('2026-10-01 00:0{minute}:00+00', 'checkout', 'availability', -1, 1)"
        for minute in range(10)
    )
    events += ", ('2026-10-01 00:00:30+00', 'checkout', 'availability', -1, 1)"
    _small_database(tmp_path / "small.duckdb", events)
    with pytest.raises(InputError) as raised:
        _small_load(tmp_path, "metrics", {"table": "sli", "step": "30s"})
    lines = str(raised.value).splitlines()
    assert len(lines) == 11
    assert lines[-1].endswith(": column good: 1 more steps with the same problem"), lines[-1]


def test_a_file_that_is_no_duckdb_database_is_bad_input(tmp_path):
    """``url`` naming a file that is no DuckDB database (the CSV export, a Parquet file) is
    the config's fault, exit 2 naming the file, not a database that cannot be reached."""
    (tmp_path / "small.duckdb").write_text(GOOD_FILES_SLI)
    with pytest.raises(InputError) as raised:
        _small_load(tmp_path, "metrics", {"table": "sli"})
    assert str(raised.value) == (
        f"{tmp_path / 'small.duckdb'}: sources.metrics.url: not a DuckDB database file"
    )


GOOD_FILES_SLI = (
    "timestamp,service,slo,good,total\n2026-10-01T00:00:00Z,checkout,availability,1,1\n"
)


@pytest.mark.parametrize("kind", ["TIMESTAMP_NS", "VARCHAR"])
def test_instants_of_any_column_type_are_read_in_the_span(tmp_path, kind):
    """A column of nanoseconds without a time zone (a view over a Parquet file pandas wrote)
    or of ISO text (a table loaded from CSV) is compared with the span as the instant it
    holds, for SLI events, incidents and work-log dates alike, instead of the database
    refusing to compare it with a timestamp."""
    import duckdb

    path = tmp_path / "small.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute(
        f'CREATE TABLE sli ("timestamp" {kind}, service VARCHAR, slo VARCHAR, good BIGINT, '
        "total BIGINT)"
    )
    connection.execute(
        "INSERT INTO sli VALUES ('2026-09-30 23:59:00', 'checkout', 'availability', 9, 9), "
        "('2026-10-01 00:00:00', 'checkout', 'availability', 1, 2), "
        "('2026-10-01 00:01:00', 'checkout', 'availability', 3, 3)"
    )
    stamp = kind if kind == "VARCHAR" else "TIMESTAMPTZ"
    connection.execute(
        f"CREATE TABLE incidents (id VARCHAR, service VARCHAR, severity VARCHAR, "
        f"created_at {stamp}, resolved_at {stamp})"
    )
    connection.execute(
        "INSERT INTO incidents VALUES ('INC-1', 'checkout', 'SEV2', '2026-10-01T00:00:30Z', NULL)"
    )
    connection.execute(
        "CREATE TABLE worklog (team VARCHAR, date VARCHAR, category VARCHAR, hours DOUBLE)"
    )
    connection.execute("INSERT INTO worklog VALUES ('payments', '2026-10-01', 'toil', 3)")
    connection.close()
    sli = _small_load(tmp_path, "metrics", {"table": "sli", "step": "5m"})
    assert (sli["good"].tolist(), sli["total"].tolist()) == ([4], [5])
    incidents = _small_load(tmp_path, "incidents", {"table": "incidents"})
    assert incidents["created_at"].tolist() == [pd.Timestamp("2026-10-01T00:00:30Z")]
    worklog = _small_load(tmp_path, "worklog", {"table": "worklog"})
    assert worklog["hours"].tolist() == [3]
