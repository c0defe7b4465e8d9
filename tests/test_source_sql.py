"""``kind: sql``: the same rows read from DuckDB give the same
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
from sql_databases import duckdb_file

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
