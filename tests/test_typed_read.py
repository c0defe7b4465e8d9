"""CSV files are read typed, by Arrow, with no line numbers; only a file with a problem is read
again the precise way, so every message names the same line as before."""

from __future__ import annotations

import decimal
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_inputs import GOOD_FILES, run, workspace  # noqa: F401 (the fixture)

from reliability import frames
from reliability.cli import main
from reliability.errors import InputError
from reliability.sources import files

SPECS = {
    "sli.csv": frames.SLI,
    "incidents.csv": frames.INCIDENTS,
    "deployments.csv": frames.DEPLOYMENTS,
    "worklog.csv": frames.WORKLOG,
}
AWKWARD = {
    "sli.csv": (
        "note, timestamp ,service,slo,good,total\n"
        'x," 2026-10-01T00:00:00Z",checkout , availability,99,100\n'
        "\n"
        "y,2026-10-01T00:01:00+00:00,checkout,availability,100,100\n"
        '"a\nb",2026-10-01T02:02:00+02:00,payments,latency,0,0\n'
    ),
    "incidents.csv": (
        "id,service,severity,created_at,resolved_at,title,action_items_open,urgency\n"
        'INC-1,checkout,SEV2,2026-10-01T00:00:00Z,,"Errors, ""cart""\nchange",3,High\n'
        "INC-2, checkout ,SEV3,2026-10-02T00:00:00Z,2026-10-02T01:00:00Z,,,\n"
    ),
}


def precise(path: Path, spec: frames.TableSpec) -> pd.DataFrame:
    raw, first_row = files.read_raw(path, spec)
    return frames.validate(raw, spec, str(path), first_row)


@pytest.mark.parametrize("name", sorted({*GOOD_FILES, *AWKWARD}))
def test_the_typed_read_gives_the_precise_frame(tmp_path, name):
    for text in (GOOD_FILES.get(name), AWKWARD.get(name)):
        if text is None:
            continue
        path = tmp_path / name
        path.write_text(text)
        typed = files._typed_table(path, SPECS[name])
        assert typed is not None, name
        pd.testing.assert_frame_equal(typed.frame, precise(path, SPECS[name]))


def test_a_good_file_computes_no_line_numbers(tmp_path, monkeypatch):
    def no_line_numbers(path):
        raise AssertionError("line numbers computed for a good file")

    monkeypatch.setattr(files, "_record_starts", no_line_numbers)
    paths = []
    for part, minute in (("a", 0), ("b", 1)):
        path = tmp_path / f"sli-{part}.csv"
        path.write_text(
            "timestamp,service,slo,good,total\n"
            f'2026-10-01T00:0{minute}:00Z,checkout,availability,99,"100"\n'
        )
        paths.append(path)
    assert len(files.read_table(paths, frames.SLI)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '2026-10-01T00:00:00Z,checkout,availability,1,1\n"  ",checkout,availability,1,1\n',
            "row 3: column timestamp: missing value",
        ),
        (
            "2026-10-01T00:00:00Z,checkout,availability,1,1\n"
            "2026-10-01T00:01:00Z,checkout,availability,9007199254740993,9007199254740993\n",
            "row 3: column good: too large for a count of events",
        ),
        (
            '"a\nb",checkout,availability,1,1\n2026-10-01T00:00:00Z,checkout,availability,1,1,1\n',
            "row 4: 6 cells where the header names 5",
        ),
        (
            '"2026-10-01T00:00:00Z\n",checkout,availability,1,1\n'
            "2026-10-01T00:00:00Z,checkout,availability,1,1\n",
            "row 4: column timestamp: duplicate timestamp + service + slo (first seen in row 2)",
        ),
    ],
)
def test_a_file_with_a_problem_names_its_line(workspace, capsys, text, expected):  # noqa: F811
    (workspace / "sli.csv").write_text("timestamp,service,slo,good,total\n" + text)
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"sli.csv: {expected}" in err, err


def test_running_out_of_memory_is_no_input_error(workspace, capsys, monkeypatch):  # noqa: F811
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(files.pacsv, "read_csv", exhausted)
    code, out, err = run(workspace, capsys)
    assert code == 1, err
    assert out == ""
    assert f"{workspace / 'sli.csv'}: not enough memory to read this file" in err
    assert "converting it to Parquet" in err
    assert "(kind: sql)" in err
    assert "problem(s) in the input" not in err
    assert "cannot read the file" not in err


def test_running_out_of_memory_on_the_precise_path_too(workspace, capsys, monkeypatch):  # noqa: F811
    (workspace / "sli.csv").write_text("timestamp,service,slo,good,total\nbad\n")

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(files.pd, "read_csv", exhausted)
    code, _, err = run(workspace, capsys)
    assert code == 1, err
    assert "sli.csv: not enough memory to read this file" in err


def sli_rows(start: str, count: int, service: str = "checkout") -> str:
    """``count`` minutes of one SLO from ``start``, 100 events a minute, one bad."""
    stamps = pd.date_range(start, periods=count, freq="min", tz="UTC")
    return "".join(f"{t:%Y-%m-%dT%H:%M:%SZ},{service},availability,99,100\n" for t in stamps)


def test_only_the_span_and_the_configured_services_are_kept(workspace, capsys):  # noqa: F811
    """Rows of June and of a service the config does not name are validated, counted and
    left out; the month's numbers are those of its own rows, and a wrong month still says
    where the file's rows are."""
    sli = workspace / "sli.csv"
    text = GOOD_FILES["sli.csv"]
    sli.write_text(text + sli_rows("2026-06-01", 4) + sli_rows("2026-10-02", 5, service="search"))
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert (json.loads(out)["slos"][0]["good"], json.loads(out)["slos"][0]["total"]) == (297, 300)

    config = str(workspace / "reliability.yaml")
    assert main(["validate", "--month", "2026-10", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "metrics: 3 rows (9 more outside 2026-10 and its lookback, or of other services)" in out

    assert main(["compute", "--month", "2026-12", "--config", config]) == 2
    err = capsys.readouterr().err
    assert "metrics: rows from 2026-06-01 00:00 to 2026-10-02 00:04 UTC" in err, err


def test_a_bad_row_outside_the_month_is_still_named(workspace, capsys):  # noqa: F811
    sli = workspace / "sli.csv"
    sli.write_text(GOOD_FILES["sli.csv"] + "2026-06-01T00:00:00Z,checkout,availability,101,100\n")
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "sli.csv: row 5: column good: good (101) exceeds total (100)" in err, err


def test_a_file_of_many_blocks_reads_as_one(tmp_path, monkeypatch):
    """Arrow's blocks are validated one by one and combined: the frame is the precise one,
    and a key repeated in a later block is named on its line."""
    monkeypatch.setattr(files, "_BLOCK_BYTES", 256)
    path = tmp_path / "sli.csv"
    header = "timestamp,service,slo,good,total\n"
    rows = sli_rows("2026-10-01", 40) + sli_rows("2026-10-01", 40, service="search")
    path.write_text(header + rows)
    kept = files._typed_table(path, frames.SLI)
    assert kept is not None
    pd.testing.assert_frame_equal(kept.frame, precise(path, frames.SLI))

    path.write_text(header + rows + "2026-10-01T00:03:00Z,checkout,availability,1,1\n")
    with pytest.raises(InputError) as raised:
        files.read_table([path], frames.SLI)
    assert [str(p) for p in raised.value.problems] == [
        f"{path}: row 82: column timestamp: duplicate timestamp + service + slo"
        " (first seen in row 5)"
    ]


def test_rows_left_out_keep_every_line_number(tmp_path):
    """A key repeated across files is named on its own line, whatever rows were left out
    before it."""
    header = "timestamp,service,slo,good,total\n"
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(header + sli_rows("2026-10-01", 3))
    second.write_text(
        header
        + sli_rows("2026-06-01", 5)
        + sli_rows("2026-10-01", 3, service="search")
        + "2026-10-01T00:02:00Z,checkout,availability,1,1\n"
    )
    keep = files.RowFilter(
        pd.Timestamp("2026-09-28", tz="UTC"),
        pd.Timestamp("2026-11-01", tz="UTC"),
        frozenset({"checkout"}),
    )
    with pytest.raises(InputError) as raised:
        files.read_kept([first, second], frames.SLI, keep)
    assert [str(p) for p in raised.value.problems] == [
        f"{second}: row 10: column timestamp: duplicate timestamp + service + slo"
        f" 2026-10-01 00:02:00+00:00, checkout, availability (first seen in {first} row 4)"
    ]
    second.write_text(header + sli_rows("2026-06-01", 5) + sli_rows("2026-10-02", 3))
    kept = files.read_kept([first, second], frames.SLI, keep)
    assert len(kept.frame) == 6
    assert kept.left_out == 5
    assert kept.extent == (
        pd.Timestamp("2026-06-01", tz="UTC"),
        pd.Timestamp("2026-10-02 00:02", tz="UTC"),
    )


def sli_frame(start: str, count: int, good: int = 99) -> pd.DataFrame:
    stamps = pd.date_range(start, periods=count, freq="min", tz="UTC")
    return pd.DataFrame(
        {"timestamp": stamps, "service": "checkout", "slo": "availability", "good": good}
    ).assign(total=100)


def parquet_months(path: Path, october: pd.DataFrame) -> None:
    """June in one row group (its last row bad: good above total), October in the next."""
    june = sli_frame("2026-06-01", 4)
    june.loc[3, "good"] = 101
    table = pa.Table.from_pandas(pd.concat([june, october], ignore_index=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=4)


def use_parquet(folder: Path, path: str) -> None:
    config = folder / "reliability.yaml"
    config.write_text(config.read_text().replace("path: sli.csv", f"path: {path}"))


def test_parquet_row_groups_outside_the_span_are_never_read(workspace, capsys):  # noqa: F811
    """The row groups' statistics say June lies outside the span: that group is counted but
    never read (its bad row goes unseen), and October's numbers are those of the CSV."""
    october = sli_frame("2026-10-01", 3)
    october["good"] = [99, 100, 98]
    parquet_months(workspace / "sli.parquet", october)
    use_parquet(workspace, "sli.parquet")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert (json.loads(out)["slos"][0]["good"], json.loads(out)["slos"][0]["total"]) == (297, 300)
    config = str(workspace / "reliability.yaml")
    assert main(["validate", "--month", "2026-10", "--config", config]) == 0
    assert "metrics: 3 rows (4 more outside 2026-10" in capsys.readouterr().out


def test_a_problem_in_a_parquet_row_group_read_names_its_row(workspace, capsys):  # noqa: F811
    october = sli_frame("2026-10-01", 3)
    october.loc[1, "good"] = 101
    parquet_months(workspace / "sli.parquet", october)
    use_parquet(workspace, "sli.parquet")
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "sli.parquet: row 6: column good: good (101) exceeds total (100)" in err, err


def test_a_hive_partitioned_folder_is_one_input(workspace, capsys):  # noqa: F811
    """A folder as ``path``: every CSV and Parquet file under it, writers' markers and
    hidden files skipped."""
    data = workspace / "sli"
    parquet_months(data / "month=2026-06" / "part-0.parquet", sli_frame("2026-09-30", 0))
    october = sli_frame("2026-10-01", 3)
    october["good"] = [99, 100, 98]
    (data / "month=2026-10").mkdir()
    october.to_parquet(data / "month=2026-10" / "part-0.parquet")
    (data / "_SUCCESS").write_text("")
    (data / ".part-1.parquet.crc").write_text("not a table")
    (data / "_temporary").mkdir()
    (data / "_temporary" / "part-9.parquet").write_text("half written")
    use_parquet(workspace, "sli")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert (json.loads(out)["slos"][0]["good"], json.loads(out)["slos"][0]["total"]) == (297, 300)

    (data / "month=2026-10" / "part-0.parquet").unlink()
    (data / "month=2026-06" / "part-0.parquet").unlink()
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{data}: no CSV or Parquet file in this folder" in err, err


def test_parquet_row_groups_are_read_in_runs(workspace, capsys, monkeypatch):  # noqa: F811
    """Consecutive row groups are read and validated together, a few rows at a time here: the
    month's figures are those of its rows, and a problem is named by its row in the file."""
    monkeypatch.setattr(files, "_PARQUET_BLOCK_ROWS", 5)
    october = sli_frame("2026-10-01", 12)
    october["good"] = [99, 100, 98, *([100] * 9)]
    path = workspace / "sli.parquet"
    pq.write_table(pa.Table.from_pandas(october), path, row_group_size=2)
    use_parquet(workspace, "sli.parquet")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    slo = json.loads(out)["slos"][0]
    assert (slo["good"], slo["total"]) == (1197, 1200)

    october.loc[10, "good"] = 101
    pq.write_table(pa.Table.from_pandas(october), path, row_group_size=2)
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "sli.parquet: row 11: column good: good (101) exceeds total (100)" in err, err


def test_a_parquet_file_outside_the_span_still_needs_its_columns(workspace, capsys):  # noqa: F811
    """A Parquet file whose row groups all lie outside the span is still refused when it
    lacks a required column, as the same file in CSV is."""
    data = workspace / "sli"
    data.mkdir()
    sli_frame("2026-10-01", 3).to_parquet(data / "october.parquet")
    sli_frame("2026-06-01", 4).drop(columns=["good"]).to_parquet(data / "june.parquet")
    use_parquet(workspace, "sli")
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{data / 'june.parquet'}: column good: missing required column 'good'" in err, err


def test_a_pattern_matching_folders_reads_each_as_a_dataset(workspace, capsys):  # noqa: F811
    """``path: sli/month=*`` names partition folders: each is read as a folder is, instead of
    being refused as a file that cannot be read."""
    data = workspace / "sli"
    october = sli_frame("2026-10-01", 3)
    october["good"] = [99, 100, 98]
    (data / "month=2026-10").mkdir(parents=True)
    october.to_parquet(data / "month=2026-10" / "part-0.parquet")
    (data / "month=2026-10" / "_SUCCESS").write_text("")
    (data / "month=2026-06").mkdir()
    sli_frame("2026-06-01", 4).to_parquet(data / "month=2026-06" / "part-0.parquet")
    use_parquet(workspace, "sli/month=*")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert (json.loads(out)["slos"][0]["good"], json.loads(out)["slos"][0]["total"]) == (297, 300)


def test_decimal_counts_stored_as_integers_are_read_outside_the_span(workspace, capsys):  # noqa: F811
    """A decimal count column is stored as integers (as Spark writes a precision up to 18),
    so its statistics' minimum and maximum say nothing of fractions: June's group is read,
    and its 1.50 is named as in a decimal column stored any other way."""
    june, october = sli_frame("2026-06-01", 4), sli_frame("2026-10-01", 3)
    rows = pd.concat([june, october], ignore_index=True)
    rows["good"] = [decimal.Decimal(v) for v in rows["good"]]
    rows["total"] = [decimal.Decimal(v) for v in rows["total"]]
    rows.loc[1, "good"] = decimal.Decimal("1.50")
    money = pa.decimal128(18, 2)
    schema = pa.schema(
        [
            ("timestamp", pa.timestamp("ns", tz="UTC")),
            ("service", pa.string()),
            ("slo", pa.string()),
            ("good", money),
            ("total", money),
        ]
    )
    table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
    pq.write_table(
        table, workspace / "sli.parquet", row_group_size=4, store_decimal_as_integer=True
    )
    use_parquet(workspace, "sli.parquet")
    code, _, err = run(workspace, capsys)
    assert code == 2, err
    assert "sli.parquet: row 2: column good: must be a whole number of events: 1.50" in err, err


def test_a_blank_label_in_a_binary_column_is_named_outside_the_span(workspace, capsys):  # noqa: F811
    """A label column written as binary, not text, has statistics of bytes (``b''`` for a
    blank cell), which cannot vouch for its labels: June's group is read and its blank
    service named."""
    table = pa.Table.from_pandas(
        pd.concat([sli_frame("2026-06-01", 4), sli_frame("2026-10-01", 3)], ignore_index=True)
    )
    services = [s.encode() for s in table.column("service").to_pylist()]
    services[1] = b""
    table = table.set_column(1, "service", pa.array(services, pa.binary()))
    pq.write_table(table, workspace / "sli.parquet", row_group_size=4)
    use_parquet(workspace, "sli.parquet")
    code, _, err = run(workspace, capsys)
    assert code == 2, err
    assert "sli.parquet: row 2: column service: missing value" in err, err


def test_running_out_of_memory_on_parquet_does_not_advise_parquet(workspace, capsys, monkeypatch):  # noqa: F811
    """Out of memory on a Parquet file points to splitting it and to the sql source, not to
    converting it to the format it already has."""
    parquet_months(workspace / "sli.parquet", sli_frame("2026-10-01", 3))
    use_parquet(workspace, "sli.parquet")

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(files.pq.ParquetFile, "read_row_groups", exhausted)
    code, _, err = run(workspace, capsys)
    assert code == 1, err
    assert "sli.parquet: not enough memory to read this file" in err
    assert "(kind: sql)" in err
    assert "Parquet" not in err.replace("sli.parquet", "")


def test_a_dangling_link_in_a_folder_is_named(workspace, capsys):  # noqa: F811
    """A file of the folder that is a link to nothing (a part moved or deleted) is named,
    not skipped: its rows would otherwise be missing without a word."""
    data = workspace / "sli"
    data.mkdir()
    sli_frame("2026-10-01", 3).to_parquet(data / "part-0.parquet")
    (data / "part-1.parquet").symlink_to(workspace / "gone.parquet")
    use_parquet(workspace, "sli")
    code, _, err = run(workspace, capsys)
    assert code == 2, err
    assert f"{data / 'part-1.parquet'}: file not found" in err, err


def test_a_compressed_csv_is_named_as_such(workspace, capsys):  # noqa: F811
    import gzip

    (workspace / "sli.csv.gz").write_bytes(gzip.compress(GOOD_FILES["sli.csv"].encode()))
    config = workspace / "reliability.yaml"
    config.write_text(config.read_text().replace("path: sli.csv", "path: sli.csv.gz"))
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "sli.csv.gz: a compressed file: decompress it first" in err, err
    assert "codec" not in err

    # in a dataset's folder too: each compressed part is named, never "no CSV file here"
    (workspace / "sli").mkdir()
    (workspace / "sli.csv.gz").rename(workspace / "sli" / "part-0.csv.gz")
    (workspace / "sli" / "notes.txt.gz").write_bytes(gzip.compress(b"not a table"))
    config.write_text(config.read_text().replace("path: sli.csv.gz", "path: sli"))
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "part-0.csv.gz: a compressed file: decompress it first" in err, err
    assert "notes.txt.gz" not in err, err
    assert "no CSV or Parquet file" not in err, err


def test_parquet_parts_without_rows_in_a_folder_are_passed_over(workspace, capsys):  # noqa: F811
    """A writer leaves a part without rows for an empty partition: it holds nothing, so the
    folder's figures are those of its other parts; a folder of nothing else says so."""
    data = workspace / "sli"
    data.mkdir()
    october = sli_frame("2026-10-01", 3)
    october["good"] = [99, 100, 98]
    october.to_parquet(data / "part-0.parquet")
    october.iloc[:0].to_parquet(data / "part-1.parquet")
    use_parquet(workspace, "sli")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    slo = json.loads(out)["slos"][0]
    assert (slo["good"], slo["total"]) == (297, 300)

    (data / "part-0.parquet").unlink()
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{data}: no rows in this folder: its only Parquet files hold none" in err, err


def test_partition_columns_are_read_from_the_folder_names(workspace, capsys):  # noqa: F811
    """A hive-partitioned dataset whose files leave out the partition column (as Spark and
    Arrow write them) reads it from the folder's name; a file holding the column keeps its
    own values; row groups of a service the config does not name are left unread."""
    data = workspace / "sli"
    october = sli_frame("2026-10-01", 3)
    october["good"] = [99, 100, 98]
    parquet_months(data / "service=checkout" / "part-0.parquet", october)
    search = sli_frame("2026-10-01", 5, good=101)  # never read: of another service
    parquet_months(data / "service=search" / "part-0.parquet", search)
    for part in data.glob("*/part-0.parquet"):  # as a writer leaves them: no service column
        pq.write_table(pq.read_table(part).drop_columns("service"), part, row_group_size=4)
    use_parquet(workspace, "sli")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert (json.loads(out)["slos"][0]["good"], json.loads(out)["slos"][0]["total"]) == (297, 300)
    config = str(workspace / "reliability.yaml")
    assert main(["validate", "--month", "2026-10", "--config", config]) == 0
    assert "metrics: 3 rows (13 more outside 2026-10" in capsys.readouterr().out

    # the file's own column wins over the folder's name
    (data / "service=search" / "part-0.parquet").unlink()
    parquet_months(data / "service=search" / "part-0.parquet", sli_frame("2026-10-02", 2))
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert json.loads(out)["slos"][0]["total"] == 500


def test_partition_columns_of_csv_parts_and_their_problems(workspace, capsys):  # noqa: F811
    """CSV parts read a partition column too; a problem names the part's line, and a null
    partition is a blank cell of that column."""
    data = workspace / "sli" / "service=checkout" / "month=2026-10"
    data.mkdir(parents=True)
    header = "timestamp,slo,good,total\n"
    rows = "".join(
        f"2026-10-01T00:0{m}:00Z,availability,{good},100\n" for m, good in enumerate((99, 100, 98))
    )
    (data / "part-0.csv").write_text(header + rows)
    use_parquet(workspace, "sli")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert (json.loads(out)["slos"][0]["good"], json.loads(out)["slos"][0]["total"]) == (297, 300)

    (data / "part-0.csv").write_text(header + rows.replace(",100,100", ",101,100"))
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{data / 'part-0.csv'}: row 3: column good: good (101) exceeds total" in err, err

    blank = workspace / "sli" / "service=__HIVE_DEFAULT_PARTITION__"
    data.rename(blank)
    (blank / "part-0.csv").write_text(header + rows)
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{blank / 'part-0.csv'}: row 2: column service:" in err, err


def test_partition_names_and_values_are_url_decoded(tmp_path):
    path = tmp_path / "date=2026-10-01" / "service=pay%3Dments" / "slo%20=x" / "part.parquet"
    assert files.hive_partitions(path, frames.SLI) == {"service": "pay=ments", "slo": "x"}
    assert files.hive_partitions(tmp_path / "service=" / "part.csv", frames.SLI) == {"service": ""}


def test_a_column_pandas_wrote_as_the_index_is_a_column(workspace, capsys):  # noqa: F811
    """``df.set_index("timestamp").to_parquet(...)``, as a time series is often kept, stores
    the index as a column of the file: it is read as that column, not refused as missing, in
    the incidents too."""
    october = sli_frame("2026-10-01", 3)
    october["good"] = [99, 100, 98]
    october.set_index("timestamp").to_parquet(workspace / "sli.parquet")
    use_parquet(workspace, "sli.parquet")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert (json.loads(out)["slos"][0]["good"], json.loads(out)["slos"][0]["total"]) == (297, 300)

    october.set_index(["service", "slo", "timestamp"]).to_parquet(workspace / "sli.parquet")
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert json.loads(out)["slos"][0]["good"] == 297

    incidents = pd.read_csv(workspace / "incidents.csv", dtype=str, keep_default_na=False)
    incidents.set_index("id").to_parquet(workspace / "incidents.parquet")
    config = workspace / "reliability.yaml"
    config.write_text(config.read_text().replace("path: incidents.csv", "path: incidents.parquet"))
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert json.loads(out)["incidents"]["count"] == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("gzip", "a compressed file (gzip): decompress it first"),
        ("zip", "a compressed file (zip): decompress it first"),
        ("parquet", "a Parquet file: name it .parquet to read it as one"),
        ("xlsx", "an Excel workbook, not CSV text: save it as CSV UTF-8"),
    ],
)
def test_a_file_that_is_no_text_says_what_it_is(workspace, capsys, content, message):  # noqa: F811
    """A CSV path whose file is compressed, Parquet or a workbook under another name (an
    export saved as sli.csv) says what the file is, not which of its bytes is no UTF-8."""
    import gzip
    import io
    import zipfile

    text = GOOD_FILES["sli.csv"].encode()
    if content == "gzip":
        data = gzip.compress(text)
    elif content == "parquet":
        sink = io.BytesIO()
        sli_frame("2026-10-01", 3).to_parquet(sink)
        data = sink.getvalue()
    else:
        sink = io.BytesIO()
        with zipfile.ZipFile(sink, "w") as archive:
            archive.writestr("xl/workbook.xml" if content == "xlsx" else "sli.csv", text)
        data = sink.getvalue()
    name = "sli.xlsx" if content == "xlsx" else "sli.csv"
    (workspace / name).write_bytes(data)
    use_parquet(workspace, name)
    code, _, err = run(workspace, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines[0].startswith(f"error: {workspace / name}: {message}"), err
    assert len(lines) == 2, err


def test_a_byte_order_mark_keeps_a_file_on_the_typed_read(tmp_path):
    """A file beginning with a byte-order mark (Excel's CSV UTF-8) is read the fast way like
    any other, not the precise way kept for files with problems."""
    path = tmp_path / "sli.csv"
    path.write_text("\ufeff" + GOOD_FILES["sli.csv"].replace("timestamp,", '"timestamp",'))
    typed = files._typed_table(path, frames.SLI)
    assert typed is not None
    pd.testing.assert_frame_equal(typed.frame, precise(path, frames.SLI))


def test_a_recursive_pattern_skips_writers_temporary_files(workspace, capsys):  # noqa: F811
    """``path: sli/**/*.parquet`` does not reach into a writer's ``_temporary/`` (the parts
    of a job not yet committed, or of one that failed), as a folder named alone does not;
    a pattern naming such a folder itself still reads it."""
    data = workspace / "sli"
    october = sli_frame("2026-10-01", 3)
    october["good"] = [99, 100, 98]
    (data / "month=2026-10").mkdir(parents=True)
    october.to_parquet(data / "month=2026-10" / "part-0.parquet")
    (data / "_temporary" / "0" / "month=2026-10").mkdir(parents=True)
    october.to_parquet(data / "_temporary" / "0" / "month=2026-10" / "part-0.parquet")
    use_parquet(workspace, '"sli/**/*.parquet"')
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert (json.loads(out)["slos"][0]["good"], json.loads(out)["slos"][0]["total"]) == (297, 300)

    (data / "month=2026-10" / "part-0.parquet").unlink()
    config = workspace / "reliability.yaml"
    config.write_text(config.read_text().replace("sli/**/*.parquet", "sli/_temporary/**/*.parquet"))
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    assert json.loads(out)["slos"][0]["good"] == 297
