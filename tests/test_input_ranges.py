"""Out-of-range values in input files are input errors: exit 2, one line naming file, row and
column; never an internal error, a rounded count or a silently accepted value."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reliability import frames
from reliability.cli import main
from reliability.errors import InputError

CONFIG = """
timezone: UTC
sources:
  {role}: {{kind: csv, path: {path}}}
services:
  - name: checkout
    team: payments
    slos:
      - {{name: availability, objective: 0.99}}
"""
SLI_HEADER = "timestamp,service,slo,good,total\n"
WORKLOG_HEADER = "team,date,category,hours,person\n"
TWO_TO_THE_53 = 2**53


class Run:
    """``reliability compute`` on a config whose only input is the files a test writes."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]):
        self.folder = folder
        self.capsys = capsys

    def __call__(self, role: str, files: dict[str, str | pa.Table]) -> tuple[int, str]:
        for name, content in files.items():
            if isinstance(content, pa.Table):
                pq.write_table(content, self.folder / name)
            else:
                (self.folder / name).write_text(content)
        paths = list(files)
        path = paths[0] if len(paths) == 1 else "[" + ", ".join(paths) + "]"
        config = self.folder / "reliability.yaml"
        config.write_text(CONFIG.format(role=role, path=path))
        code = main(["compute", "--month", "2026-10", "--config", str(config), "--format", "json"])
        captured = self.capsys.readouterr()
        assert "Traceback" not in captured.err
        if code != 0:
            assert captured.out == ""
        return code, captured.err

    def error_lines(self, err: str) -> list[str]:
        """The problem lines, with the folder left out of the file names."""
        prefix = f"error: {self.folder}/"
        return [line.replace(prefix, "") for line in err.splitlines() if line.startswith(prefix)]


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(tmp_path, capsys)


def sli_table(**columns: pa.Array | list) -> pa.Table:
    """A one-row Parquet SLI table, with ``columns`` replacing the good ones."""
    good = {
        "timestamp": pa.array(
            [dt.datetime(2026, 10, 1, tzinfo=dt.UTC)], pa.timestamp("s", tz="UTC")
        ),
        "service": ["checkout"],
        "slo": ["availability"],
        "good": [1],
        "total": [1],
    }
    return pa.table({**good, **columns})


def worklog_table(dates: pa.Array) -> pa.Table:
    rows = len(dates)
    return pa.table(
        {
            "team": ["payments"] * rows,
            "date": dates,
            "category": ["toil"] * rows,
            "hours": [3.0] * rows,
            "person": ["ana"] * rows,
        }
    )


# -- dates and instants --------------------------------------------------------------------


@pytest.mark.parametrize("date", ["0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"])
def test_worklog_dates_outside_1900_to_2199_are_input_errors(run, date):
    text = WORKLOG_HEADER + "payments,2026-10-01,toil,3,ana\n" + f"payments,{date},toil,3,ana\n"
    code, err = run("worklog", {"worklog.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        f"worklog.csv: row 3: column date: implausible date (before 1900 or after 2200): {date}"
    ]


def test_parquet_date32_work_log_dates_outside_the_range_are_input_errors(run):
    dates = pa.array([dt.date(2026, 10, 1), dt.date(1, 1, 1)], pa.date32())
    code, err = run("worklog", {"worklog.parquet": worklog_table(dates)})
    assert code == 2
    assert run.error_lines(err) == [
        "worklog.parquet: row 2: column date: implausible date (before 1900 or after 2200): "
        "0001-01-01"
    ]


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.timestamp("us"), "9999-12-31"),
        (pa.timestamp("ms", tz="UTC"), "9999-12-31 00:00:00+00:00"),
    ],
)
def test_parquet_timestamp_work_log_dates_beyond_nanoseconds_are_input_errors(
    run, arrow_type, expected
):
    dates = pa.array([dt.date(2026, 10, 1), dt.date(9999, 12, 31)], pa.date32()).cast(arrow_type)
    code, err = run("worklog", {"worklog.parquet": worklog_table(dates)})
    assert code == 2
    assert run.error_lines(err) == [
        f"worklog.parquet: row 2: column date: implausible date (before 1900 or after 2200): "
        f"{expected}"
    ]


def test_csv_instant_in_year_one_is_an_input_error(run):
    text = SLI_HEADER + "0001-01-01T00:00:00Z,checkout,availability,1,1\n"
    code, err = run("metrics", {"sli.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.csv: row 2: column timestamp: implausible timestamp (before 1900 or after 2200): "
        "0001-01-01T00:00:00Z"
    ]


def test_instant_in_year_one_beside_nanosecond_instants_is_still_implausible(run):
    # With nanoseconds in the column pandas parses every value in nanoseconds, and year 1
    # does not fit: the value must still be named as out of range, not as unparseable.
    text = (
        SLI_HEADER
        + "2026-10-01T00:00:00.000000001Z,checkout,availability,1,1\n"
        + "0001-01-01T00:00:00Z,checkout,availability,1,1\n"
    )
    code, err = run("metrics", {"sli.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.csv: row 3: column timestamp: implausible timestamp (before 1900 or after 2200): "
        "0001-01-01T00:00:00Z"
    ]


@pytest.mark.parametrize(
    ("instant", "unit", "expected"),
    [
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), "us", "0001-01-01 00:00:00+00:00"),
        (dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC), "ms", "9999-12-31 23:59:00+00:00"),
    ],
)
def test_parquet_instants_beyond_nanoseconds_are_input_errors(run, instant, unit, expected):
    table = sli_table(timestamp=pa.array([instant], pa.timestamp(unit, tz="UTC")))
    code, err = run("metrics", {"sli.parquet": table})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.parquet: row 1: column timestamp: implausible timestamp (before 1900 or after "
        f"2200): {expected}"
    ]


# -- hours ---------------------------------------------------------------------------------


def test_more_than_24_hours_in_one_persons_day_is_an_input_error(run):
    text = (
        WORKLOG_HEADER
        + "payments,2026-10-01,toil,20,ana\n"
        + "payments,2026-10-01,toil,4,bruno\n"
        + "payments,2026-10-01,project,4.5,ana\n"
        + "payments,2026-10-02,project,8,ana\n"
    )
    code, err = run("worklog", {"worklog.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "worklog.csv: row 4: column hours: ana's hours on 2026-10-01 add up to 24.5 "
        "(a person logs at most 24 hours a day)"
    ]


def test_one_row_of_more_than_24_hours_for_a_person_is_an_input_error(run):
    text = WORKLOG_HEADER + "payments,2026-10-01,oncall,25,ana\n"
    code, err = run("worklog", {"worklog.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "worklog.csv: row 2: column hours: ana's hours on 2026-10-01 add up to 25 "
        "(a person logs at most 24 hours a day)"
    ]


def test_exactly_24_hours_in_a_persons_day_is_accepted(run):
    text = WORKLOG_HEADER + "payments,2026-10-01,oncall,16,ana\npayments,2026-10-01,toil,8,ana\n"
    code, err = run("worklog", {"worklog.csv": text})
    assert code == 0, err


def test_a_persons_day_split_over_files_is_checked_over_all_of_them(run):
    files = {
        "worklog-a.csv": WORKLOG_HEADER + "payments,2026-10-01,oncall,20,ana\n",
        "worklog-b.csv": WORKLOG_HEADER + "payments,2026-10-01,toil,1,bruno\n"
        "payments,2026-10-01,toil,6,ana\n",
    }
    code, err = run("worklog", files)
    assert code == 2
    assert run.error_lines(err) == [
        "worklog-b.csv: row 3: column hours: ana's hours on 2026-10-01 add up to 26 "
        "(a person logs at most 24 hours a day), counting every file of the input"
    ]


def test_a_team_row_without_a_person_may_hold_a_weeks_hours(run):
    text = (
        "team,date,category,hours\npayments,2026-10-05,toil,310\npayments,2026-10-05,project,90\n"
    )
    code, err = run("worklog", {"worklog.csv": text})
    assert code == 0, err


def test_a_team_row_beyond_a_thousand_people_working_a_week_is_an_input_error(run):
    text = (
        "team,date,category,hours\n"
        + "payments,2026-10-05,toil,168000\n"
        + "payments,2026-10-05,toil,1e300\n"
    )
    code, err = run("worklog", {"worklog.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "worklog.csv: row 3: column hours: more than 168000 hours in one row without a person: "
        "1e+300"
    ]


@pytest.mark.parametrize("hours", ["inf", "-inf", "1e999", "nan"])
def test_infinite_or_nan_hours_are_input_errors(run, hours):
    text = (
        WORKLOG_HEADER
        + "payments,2026-10-01,toil,3,ana\n"
        + f"payments,2026-10-01,toil,{hours},ana\n"
    )
    code, err = run("worklog", {"worklog.csv": text})
    assert code == 2
    lines = run.error_lines(err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("worklog.csv: row 3: column hours: ")
    assert lines[0].endswith(f": {hours}")


# -- columns -------------------------------------------------------------------------------


def test_parquet_column_of_lists_is_an_input_error(run):
    table = pa.table(
        {
            "timestamp": pa.array(
                [
                    dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
                    dt.datetime(2026, 10, 1, 0, 1, tzinfo=dt.UTC),
                ],
                pa.timestamp("s", tz="UTC"),
            ),
            "service": pa.array([["checkout"], None], pa.list_(pa.string())),
            "slo": ["availability", "availability"],
            "good": [1, 1],
            "total": [1, 1],
        }
    )
    code, err = run("metrics", {"sli.parquet": table})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.parquet: row 1: column service: a list<element: string> value, not a single value"
    ]


def test_parquet_column_of_structs_is_an_input_error(run):
    table = sli_table(good=pa.array([{"events": 1}]))
    code, err = run("metrics", {"sli.parquet": table})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.parquet: row 1: column good: a struct<events: int64> value, not a single value"
    ]


def test_parquet_list_column_the_table_does_not_use_is_ignored(run):
    table = sli_table(labels=pa.array([["a", "b"]]))
    code, err = run("metrics", {"sli.parquet": table})
    assert code == 0, err


@pytest.mark.parametrize(
    "header", ["timestamp,service,slo,good,total,good", "timestamp,service,slo, good ,total,good"]
)
def test_csv_header_naming_a_column_twice_is_an_input_error(run, header):
    text = header + "\n2026-10-01T00:00:00Z,checkout,availability,1,1,1\n"
    code, err = run("metrics", {"sli.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.csv: row 1: column good: 2 columns are named 'good'; name each column once"
    ]


def test_parquet_file_naming_a_column_twice_is_an_input_error(run):
    one = sli_table()
    table = pa.Table.from_arrays([*one.columns, pa.array([2])], names=[*one.column_names, "total"])
    code, err = run("metrics", {"sli.parquet": table})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.parquet: column total: 2 columns are named 'total'; name each column once"
    ]


def test_any_source_naming_a_column_twice_is_an_input_error():
    raw = pd.DataFrame([["2026-10-01T00:00:00Z", "checkout", "availability", "1", "1", "2"]])
    raw.columns = ["timestamp", "service", "slo", "good", "total", "good "]
    with pytest.raises(InputError, match=r"column good: 2 columns are named 'good'"):
        frames.validate(raw, frames.SLI, "source/query")


# -- counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("other", "value"),
    [
        ("1", "9007199254740993"),  # a column of whole numbers: parsed as integers
        ("1e3", "9007199254740993"),  # one value in exponent form: every value as a float
        ("1", "9.007199254740993e15"),
        ("1", "9007199254740992.5"),
    ],
)
def test_counts_just_above_2_to_the_53_are_refused_not_rounded(run, other, value):
    text = (
        SLI_HEADER
        + f"2026-10-01T00:00:00Z,checkout,availability,1,{other}\n"
        + f"2026-10-01T00:01:00Z,checkout,availability,1,{value}\n"
    )
    code, err = run("metrics", {"sli.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.csv: row 3: column total: too large for a count of events "
        f"(at most 2^53 = 9007199254740992): {value}"
    ]


def test_a_count_of_exactly_2_to_the_53_is_kept_exactly():
    raw = pd.DataFrame(
        {
            "timestamp": ["2026-10-01T00:00:00Z"],
            "service": ["checkout"],
            "slo": ["availability"],
            "good": [str(TWO_TO_THE_53 - 1)],
            "total": [str(TWO_TO_THE_53)],
        }
    )
    result = frames.validate(raw, frames.SLI, "test")
    assert result["good"].dtype == "int64"
    assert int(result["good"].iloc[0]) == TWO_TO_THE_53 - 1
    assert int(result["total"].iloc[0]) == TWO_TO_THE_53


@pytest.mark.parametrize(
    ("arrow_type", "value"),
    [(pa.int64(), TWO_TO_THE_53 + 1), (pa.uint64(), 2**64 - 1), (pa.float64(), 1e300)],
)
def test_parquet_counts_above_2_to_the_53_are_refused(run, arrow_type, value):
    table = sli_table(total=pa.array([value], arrow_type))
    code, err = run("metrics", {"sli.parquet": table})
    assert code == 2
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    assert run.error_lines(err) == [
        "sli.parquet: row 1: column total: too large for a count of events "
        f"(at most 2^53 = 9007199254740992): {shown}"
    ]


def test_a_csv_count_of_1e300_is_refused(run):
    text = SLI_HEADER + "2026-10-01T00:00:00Z,checkout,availability,1,1e300\n"
    code, err = run("metrics", {"sli.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.csv: row 2: column total: too large for a count of events "
        "(at most 2^53 = 9007199254740992): 1e300"
    ]


def test_infinite_counts_mixed_with_numbers_are_refused_once_each(run):
    text = (
        SLI_HEADER
        + "2026-10-01T00:00:00Z,checkout,availability,1,5\n"
        + "2026-10-01T00:01:00Z,checkout,availability,1,inf\n"
        + "2026-10-01T00:02:00Z,checkout,availability,-inf,5\n"
    )
    code, err = run("metrics", {"sli.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.csv: row 4: column good: not finite: -inf",
        "sli.csv: row 3: column total: not finite: inf",
    ]


def test_parquet_infinite_counts_are_refused(run):
    table = pa.table(
        {
            "timestamp": pa.array(
                [dt.datetime(2026, 10, 1, 0, m, tzinfo=dt.UTC) for m in range(3)],
                pa.timestamp("s", tz="UTC"),
            ),
            "service": ["checkout"] * 3,
            "slo": ["availability"] * 3,
            "good": [1.0, 1.0, 1.0],
            "total": [5.0, float("inf"), float("-inf")],
        }
    )
    code, err = run("metrics", {"sli.parquet": table})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.parquet: row 2: column total: not finite: inf",
        "sli.parquet: row 3: column total: not finite: -inf",
    ]


def test_counts_whose_sum_passes_2_to_the_53_are_refused(run):
    text = (
        SLI_HEADER
        + f"2026-10-01T00:00:00Z,checkout,availability,1,{TWO_TO_THE_53 - 1}\n"
        + "2026-10-01T00:01:00Z,checkout,latency,1,2\n"
        + "2026-10-01T00:02:00Z,checkout,availability,1,1\n"
        + "2026-10-01T00:03:00Z,checkout,availability,1,1\n"
    )
    code, err = run("metrics", {"sli.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.csv: row 5: column total: with this row, the events of this service and SLO add up "
        "to more than 2^53 = 9007199254740992: too many to sum exactly"
    ]


def test_counts_whose_sum_passes_2_to_the_53_over_several_files_are_refused(run):
    files = {
        "sli-a.csv": SLI_HEADER + f"2026-10-01T00:00:00Z,checkout,availability,1,{TWO_TO_THE_53}\n",
        "sli-b.csv": SLI_HEADER + "2026-10-01T00:01:00Z,checkout,availability,1,1\n",
    }
    code, err = run("metrics", files)
    assert code == 2
    assert run.error_lines(err) == [
        "sli-b.csv: row 2: column total: with this row, the events of this service and SLO add "
        "up to more than 2^53 = 9007199254740992: too many to sum exactly, counting every file "
        "of the input"
    ]


# -- rows that do not fit the header ---------------------------------------------------------


def test_a_first_row_longer_than_the_header_is_an_input_error(run):
    text = "timestamp,service,slo,good\n2026-10-01T00:00:00Z,checkout,availability,1,1\n"
    code, err = run("metrics", {"sli.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "sli.csv: row 2: more cells than the header names (4)",
        "sli.csv: column total: missing required column 'total'",
    ]


def test_a_long_row_after_a_cell_with_line_breaks_is_named_by_its_line(run):
    text = (
        "id,service,severity,created_at,resolved_at,acknowledged_at,title,caused_by\n"
        'INC-1,checkout,SEV2,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,,"Checkout errors\n'
        'after the ""cart"" change,\nsee the postmortem",D-1\n'
        "\n"
        "INC-2,checkout,SEV3,2026-10-02T00:00:00Z,,,Slow pages,,one too many\n"
    )
    code, err = run("incidents", {"incidents.csv": text})
    assert code == 2
    assert run.error_lines(err) == ["incidents.csv: row 6: 9 cells where the header names 8"]


def test_rows_that_fit_keep_their_line_numbers_after_quoted_line_breaks(run):
    text = (
        "id,service,severity,created_at,resolved_at,acknowledged_at,title,caused_by\n"
        '"INC-1",checkout,SEV2,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,,"one\n\ntwo",\n'
        "INC-2,checkout,SEV3,0001-01-01T00:00:00Z,,,Slow pages,\n"
    )
    code, err = run("incidents", {"incidents.csv": text})
    assert code == 2
    assert run.error_lines(err) == [
        "incidents.csv: row 5: column created_at: implausible timestamp (before 1900 or after "
        "2200): 0001-01-01T00:00:00Z"
    ]
