"""Bad input: exit code 2, one line per problem naming file, row and column, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from reliability.cli import main

GOOD_FILES = {
    "sli.csv": (
        "timestamp,service,slo,good,total\n"
        "2026-10-01T00:00:00Z,checkout,availability,99,100\n"
        "2026-10-01T00:01:00+00:00,checkout,availability,100,100\n"
        "2026-10-01T02:02:00+02:00,checkout,availability,98,100\n"
    ),
    "incidents.csv": (
        "id,service,severity,created_at,resolved_at,acknowledged_at,title,caused_by\n"
        "INC-1,checkout,SEV2,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,"
        "2026-10-01T00:05:00Z,Checkout errors,D-1\n"
        "INC-2,checkout,SEV3,2026-10-02T00:00:00Z,,,Slow pages,\n"
    ),
    "deployments.csv": (
        "id,service,deployed_at,status,commit_at\n"
        "D-1,checkout,2026-09-30T23:50:00Z,failed,2026-09-30T20:00:00Z\n"
        "D-2,checkout,2026-10-01T02:00:00Z,success,2026-10-01T01:00:00Z\n"
    ),
    "worklog.csv": (
        "team,date,category,hours,person\n"
        "payments,2026-10-01,toil,3,ana\n"
        "payments,2026-10-01,project,5,ana\n"
    ),
}
CONFIG = """
timezone: UTC
sources:
  metrics: {kind: csv, path: sli.csv}
  incidents: {kind: csv, path: incidents.csv}
  deployments: {kind: csv, path: deployments.csv}
  worklog: {kind: csv, path: worklog.csv}
services:
  - name: checkout
    team: payments
    slos:
      - {name: availability, objective: 0.99}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    for name, text in GOOD_FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "reliability.yaml").write_text(CONFIG)
    return tmp_path


def run(workspace: Path, capsys, *extra: str) -> tuple[int, str, str]:
    config = str(workspace / "reliability.yaml")
    code = main(["compute", "--month", "2026-10", "--config", config, "--format", "json", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_good_files_compute(workspace, capsys):
    code, out, err = run(workspace, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["slos"][0]["good"] == 297
    assert result["slos"][0]["total"] == 300
    assert result["incidents"]["count"] == 2
    assert result["incidents"]["unresolved"] == 1


def replace_line(workspace: Path, name: str, line_number: int, text: str) -> None:
    path = workspace / name
    lines = path.read_text().splitlines()
    lines[line_number - 1] = text
    path.write_text("\n".join(lines) + "\n")


BAD_CASES = {
    "missing column": (
        "sli.csv",
        1,
        "timestamp,service,slo,good",
        ["sli.csv: column total: missing required column 'total'"],
    ),
    "unparseable timestamp": (
        "sli.csv",
        3,
        "yesterday,checkout,availability,100,100",
        ["sli.csv: row 3: column timestamp: not an ISO 8601 timestamp: yesterday"],
    ),
    "naive timestamp": (
        "sli.csv",
        2,
        "2026-10-01T00:00:00,checkout,availability,99,100",
        ["sli.csv: row 2: column timestamp: timestamp has no time zone"],
    ),
    "negative count": (
        "sli.csv",
        4,
        "2026-10-01T02:02:00+02:00,checkout,availability,-1,100",
        ["sli.csv: row 4: column good: must not be negative: -1"],
    ),
    "non-integer count": (
        "sli.csv",
        2,
        "2026-10-01T00:00:00Z,checkout,availability,99,100.5",
        ["sli.csv: row 2: column total: must be a whole number of events: 100.5"],
    ),
    "not a number": (
        "sli.csv",
        2,
        "2026-10-01T00:00:00Z,checkout,availability,ninety,100",
        ["sli.csv: row 2: column good: not a number: ninety"],
    ),
    "good above total": (
        "sli.csv",
        3,
        "2026-10-01T00:01:00Z,checkout,availability,101,100",
        ["sli.csv: row 3: column good: good (101) exceeds total (100)"],
    ),
    "resolved before created": (
        "incidents.csv",
        2,
        "INC-1,checkout,SEV2,2026-10-01T02:00:00Z,2026-10-01T01:00:00Z,,Checkout errors,",
        ["incidents.csv: row 2: column resolved_at: resolved before created_at"],
    ),
    "unknown status": (
        "deployments.csv",
        3,
        "D-2,checkout,2026-10-01T02:00:00Z,succeeded,",
        ["deployments.csv: row 3: column status: unknown status", "succeeded"],
    ),
    "unknown category": (
        "worklog.csv",
        3,
        "payments,2026-10-01,meetings,5,ana",
        ["worklog.csv: row 3: column category: unknown category", "meetings"],
    ),
    "duplicate id": (
        "deployments.csv",
        3,
        "D-1,checkout,2026-10-01T02:00:00Z,success,",
        ["deployments.csv: row 3: column id: duplicate id (first seen in row 2)"],
    ),
    "missing value": (
        "incidents.csv",
        3,
        "INC-2,,SEV3,2026-10-02T00:00:00Z,,,Slow pages,",
        ["incidents.csv: row 3: column service: missing value"],
    ),
    "date without a time": (
        "incidents.csv",
        3,
        "INC-2,checkout,SEV3,2026-10-02,,,Slow pages,",
        ["incidents.csv: row 3: column created_at: timestamp has no time zone"],
    ),
    "placeholder date": (
        "incidents.csv",
        2,
        "INC-1,checkout,SEV2,2026-10-01T00:00:00Z,9999-12-31T23:59:59Z,,Checkout errors,",
        ["incidents.csv: row 2: column resolved_at: implausible timestamp"],
    ),
    "count beyond int64": (
        "sli.csv",
        2,
        "2026-10-01T00:00:00Z,checkout,availability,1,99999999999999999999",
        ["sli.csv: row 2: column total: too large for a count of events"],
    ),
    "bad date": (
        "worklog.csv",
        2,
        "payments,01/10/2026,toil,3,ana",
        ["worklog.csv: row 2: column date: not a date (YYYY-MM-DD): 01/10/2026"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_row_and_column(workspace, capsys, case):
    name, line_number, text, expected_parts = BAD_CASES[case]
    replace_line(workspace, name, line_number, text)
    code, out, err = run(workspace, capsys)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    problem_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert any(all(part in line for part in expected_parts) for line in problem_lines), err
    assert str(workspace / name) in err


def test_empty_file(workspace, capsys):
    (workspace / "incidents.csv").write_text("")
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{workspace / 'incidents.csv'}: empty file" in err


def test_header_only_file(workspace, capsys):
    (workspace / "worklog.csv").write_text("team,date,category,hours\n")
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{workspace / 'worklog.csv'}: no data rows" in err


def test_every_problem_of_every_file_in_one_run(workspace, capsys):
    replace_line(workspace, "sli.csv", 2, "2026-10-01T00:00:00,checkout,availability,99,100")
    replace_line(workspace, "sli.csv", 3, "2026-10-01T00:01:00Z,checkout,availability,-5,100")
    replace_line(workspace, "worklog.csv", 2, "payments,2026-10-01,toil,-3,ana")
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "sli.csv: row 2: column timestamp" in err
    assert "sli.csv: row 3: column good: must not be negative" in err
    assert "worklog.csv: row 2: column hours: must not be negative" in err


def test_many_bad_rows_are_summarised(workspace, capsys):
    rows = "".join(f"2026-10-01T00:{m:02d}:00,checkout,availability,1,1\n" for m in range(0, 40))
    (workspace / "sli.csv").write_text("timestamp,service,slo,good,total\n" + rows)
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "30 more rows with the same problem" in err
    assert len(err.splitlines()) < 15


def test_missing_file(workspace, capsys):
    (workspace / "deployments.csv").unlink()
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{workspace / 'deployments.csv'}: file not found" in err


def test_parquet_input_with_naive_timestamps(workspace, capsys):
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2026-10-01 00:00"]),
            "service": ["checkout"],
            "slo": ["availability"],
            "good": [1],
            "total": [1],
        }
    )
    frame.to_parquet(workspace / "sli.parquet")
    config = (workspace / "reliability.yaml").read_text().replace("sli.csv", "sli.parquet")
    (workspace / "reliability.yaml").write_text(config)
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "sli.parquet: row 1: column timestamp: timestamp has no time zone" in err


def test_parquet_input_equals_csv(workspace, capsys):
    code, expected, _ = run(workspace, capsys)
    assert code == 0
    csv = pd.read_csv(workspace / "sli.csv")
    csv["timestamp"] = pd.to_datetime(csv["timestamp"], utc=True, format="ISO8601")
    csv.to_parquet(workspace / "sli.parquet")
    config = (workspace / "reliability.yaml").read_text().replace("sli.csv", "sli.parquet")
    (workspace / "reliability.yaml").write_text(config)
    code, result, _ = run(workspace, capsys)
    assert code == 0
    assert json.loads(result)["slos"] == json.loads(expected)["slos"]


def test_split_files_read_together_change_nothing(workspace, capsys):
    code, expected, _ = run(workspace, capsys)
    lines = (workspace / "sli.csv").read_text().splitlines()
    (workspace / "sli-a.csv").write_text("\n".join([lines[0], lines[1]]) + "\n")
    (workspace / "sli-b.csv").write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    config = (
        (workspace / "reliability.yaml").read_text().replace("path: sli.csv", "path: sli-*.csv")
    )
    (workspace / "reliability.yaml").write_text(config)
    code, result, _ = run(workspace, capsys)
    assert code == 0
    assert json.loads(result) == json.loads(expected)


def test_rows_repeated_across_files_are_an_error(workspace, capsys):
    (workspace / "sli-copy.csv").write_text(GOOD_FILES["sli.csv"])
    config = (workspace / "reliability.yaml").read_text()
    config = config.replace("path: sli.csv", "path: [sli.csv, sli-copy.csv]")
    (workspace / "reliability.yaml").write_text(config)
    code, _, err = run(workspace, capsys)
    assert code == 2
    original, copy = workspace / "sli.csv", workspace / "sli-copy.csv"
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines[-1] == "error: 3 problem(s) in the input; nothing was written"
    assert lines[:-1] == [
        f"error: {copy}: row {row}: column timestamp: duplicate timestamp + service + slo "
        f"{stamp}, checkout, availability (first seen in {original} row {row})"
        for row, stamp in [
            (2, "2026-10-01 00:00:00+00:00"),
            (3, "2026-10-01 00:01:00+00:00"),
            (4, "2026-10-01 00:02:00+00:00"),
        ]
    ]


def test_many_rows_repeated_across_files_are_summarised(workspace, capsys):
    header = "id,service,severity,created_at,resolved_at,acknowledged_at,title,caused_by\n"
    body = "".join(
        f"INC-{i},checkout,SEV3,2026-10-02T00:{i:02d}:00Z,,,Slow pages,\n" for i in range(15)
    )
    (workspace / "incidents.csv").write_text(header + body)
    (workspace / "incidents-2.csv").write_text(header + body)
    config = (workspace / "reliability.yaml").read_text()
    config = config.replace("path: incidents.csv", "path: incidents*.csv")
    (workspace / "reliability.yaml").write_text(config)
    code, _, err = run(workspace, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 12  # ten rows, the rest summed up, the total
    assert lines[0] == (
        f"error: {workspace / 'incidents.csv'}: row 2: column id: duplicate id INC-0 "
        f"(first seen in {workspace / 'incidents-2.csv'} row 2)"
    )
    assert lines[-2].endswith(": 5 more rows repeat a key (id) found in another file")


CONFIG_CASES = {
    "objective out of range": (
        CONFIG.replace("objective: 0.99", "objective: 99.9"),
        "services[0].slos[0].objective: must be between 0 and 1",
    ),
    "unknown budgeting": (
        CONFIG.replace("objective: 0.99}", "objective: 0.99, budgeting: events}"),
        "services[0].slos[0].budgeting: input should be 'occurrences'",
    ),
    "timeslices without target": (
        CONFIG.replace("objective: 0.99}", "objective: 0.99, budgeting: timeslices}"),
        "services[0].slos[0]: timeslice_target is required when budgeting is timeslices",
    ),
    "unknown key": (CONFIG + "colour: blue\n", "colour: unknown key"),
    "unknown time zone": (
        CONFIG.replace("timezone: UTC", "timezone: Europe/Atlantis"),
        "timezone: unknown time zone 'Europe/Atlantis'",
    ),
    "not yaml": ("services: [\n", "not valid YAML"),
    "unknown source kind": (
        CONFIG.replace("{kind: csv, path: worklog.csv}", "{kind: jira}"),
        "sources.worklog.kind: unknown kind 'jira'",
    ),
    "duplicate key": (CONFIG + "timezone: UTC\n", "key 'timezone' appears twice"),
    "no file given": (
        CONFIG.replace("{kind: csv, path: worklog.csv}", "{kind: csv, path: []}"),
        "sources.worklog.path: no file given",
    ),
    "bad timeslice": (
        CONFIG.replace("objective: 0.99}", "objective: 0.99, timeslice: 90s}"),
        "services[0].slos[0].timeslice: must be a whole number of minutes",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_names_the_key_path(workspace, capsys, case):
    text, expected = CONFIG_CASES[case]
    (workspace / "reliability.yaml").write_text(text)
    code, out, err = run(workspace, capsys)
    assert code == 2
    assert out == ""
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--month", "0206-10"], "--month: expected a year from 1900 to 2199"),
        (["--config", ""], "--config: empty path"),
    ],
)
def test_bad_command_line_values(capsys, args, expected):
    code = main(["compute", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err


def test_bad_month(workspace, capsys):
    config = str(workspace / "reliability.yaml")
    code = main(["compute", "--month", "2026-13", "--config", config])
    err = capsys.readouterr().err
    assert code == 2
    assert "--month: expected YYYY-MM, got '2026-13'" in err


def test_command_line_process_exit_code_and_no_traceback(workspace):
    replace_line(workspace, "sli.csv", 3, "2026-10-01T00:01:00Z,checkout,availability,101,100")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reliability",
            "compute",
            "--config",
            str(workspace / "reliability.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "row 3: column good: good (101) exceeds total (100)" in result.stderr
    assert result.stdout == ""


def test_validate_lists_every_problem_of_a_broken_config_in_one_run(workspace, capsys):
    broken = (
        CONFIG.replace("objective: 0.99}", "objective: 1.5, budgeting: timeslice}")
        .replace("timezone: UTC", "timezone: Mars/Olympus")
        .replace("team: payments", "team: ''")
    )
    (workspace / "reliability.yaml").write_text(broken)
    code = main(["validate", "--config", str(workspace / "reliability.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "timezone: unknown time zone 'Mars/Olympus'" in err
    assert "services[0].team: string should have at least 1 character" in err
    assert "services[0].slos[0].objective: must be between 0 and 1" in err
    assert "services[0].slos[0].budgeting: input should be" in err


def test_validate_lists_every_problem_of_every_input_in_one_run(workspace, capsys):
    replace_line(workspace, "sli.csv", 2, "2026-10-01T00:00:00Z,checkout,availability,101,100")
    replace_line(workspace, "deployments.csv", 2, "D-1,checkout,not-a-time,failed,")
    (workspace / "worklog.csv").write_text("")
    config = workspace / "reliability.yaml"
    code = main(["validate", "--config", str(config), "--month", "2026-10"])
    err = capsys.readouterr().err
    assert code == 2
    assert "sli.csv: row 2: column good: good (101) exceeds total (100)" in err
    assert "deployments.csv: row 2: column deployed_at: not an ISO 8601 timestamp" in err
    assert "worklog.csv: empty file" in err


def test_validate_summarises_a_good_config(workspace, capsys):
    code = main(["validate", "--config", str(workspace / "reliability.yaml"), "--month", "2026-10"])
    out = capsys.readouterr().out
    assert code == 0
    assert "metrics: 3 rows" in out
    assert "incidents: 2 rows" in out
    assert "finding: Incidents without acknowledgement (checkout, 1)" in out
    assert "finding: Incidents without resolution (checkout, 1)" in out


def test_blank_lines_still_count_in_row_numbers(workspace, capsys):
    lines = (workspace / "worklog.csv").read_text().splitlines()
    (workspace / "worklog.csv").write_text(
        "\n".join([lines[0], "", lines[1], "", "", "payments,2026-10-01,toil,-2,ana"]) + "\n"
    )
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "worklog.csv: row 6: column hours: must not be negative: -2" in err


def test_rows_after_a_cell_with_line_breaks_keep_their_line_numbers(workspace, capsys):
    (workspace / "incidents.csv").write_text(
        "id,service,severity,created_at,resolved_at,acknowledged_at,title,caused_by\n"
        'INC-1,checkout,SEV2,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,,"Checkout errors\n'
        'after the ""cart"" change,\nsee the postmortem",D-1\n'
        "\n"
        "INC-2,checkout,SEV3,2026-10-02T00:00:00Z,not-a-time,,Slow pages,\n"
    )
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert "incidents.csv: row 6: column resolved_at: " in err, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--jobs", "0"], "argument --jobs: must be at least 1, got 0"),
        (["--cell-timeout", "-1"], "argument --cell-timeout: must be from 0 (no limit) to"),
        (["--cell-timeout", "soon"], "argument --cell-timeout: 'soon' is not a number"),
        (["--cell-timeout", "nan"], "argument --cell-timeout: must be from 0 (no limit) to"),
        (["--cell-timeout", "1e10"], "argument --cell-timeout: must be from 0 (no limit) to"),
    ],
)
def test_bad_report_options(capsys, args, expected):
    with pytest.raises(SystemExit) as exited:
        main(["report", *args])
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err


def test_a_file_named_by_two_patterns_is_read_once(workspace, capsys):
    """``path: [sli*.csv, sli.csv]`` names sli.csv twice: it is one file of the input, read
    once, not a copy of itself whose every row repeats a key."""
    code, expected, _ = run(workspace, capsys)
    config = (workspace / "reliability.yaml").read_text()
    config = config.replace("path: sli.csv", "path: [sli*.csv, ./sli.csv, sli.csv]")
    (workspace / "reliability.yaml").write_text(config)
    code, result, err = run(workspace, capsys)
    assert code == 0, err
    assert json.loads(result) == json.loads(expected)


def test_a_file_not_in_utf8_names_its_row_and_column(workspace, capsys):
    """Excel's plain "CSV" is the Windows code page, its "Unicode Text" UTF-16: the line and
    column of the first byte that is not UTF-8 are named, with what to save instead, not
    the decoder's byte position."""
    text = GOOD_FILES["incidents.csv"].replace("Slow pages", "Café pages slow")
    (workspace / "incidents.csv").write_bytes(text.encode("cp1252"))
    code, _, err = run(workspace, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines[0] == (
        f"error: {workspace / 'incidents.csv'}: row 3: column title: not UTF-8 text (byte "
        "0xe9): save the file as UTF-8 (in Excel: CSV UTF-8)"
    ), err
    assert "position" not in err

    (workspace / "incidents.csv").write_bytes(GOOD_FILES["incidents.csv"].encode("utf-16"))
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{workspace / 'incidents.csv'}: UTF-16 text: save the file as UTF-8" in err, err


def test_a_byte_not_in_utf8_after_a_cell_with_line_breaks(workspace, capsys):
    text = (
        "id,service,severity,created_at,resolved_at,title\n"
        'INC-1,checkout,SEV2,2026-10-01T00:00:00Z,,"Two\nlines"\n'
        'INC-2,checkout,SEV3,2026-10-02T00:00:00Z,,"Café"\n'
        'INC-3,checkout,SEV3,2026-10-03T00:00:00Z,,"Déjà\nvu"\n'
    )
    (workspace / "incidents.csv").write_bytes(text.encode("cp1252"))
    code, _, err = run(workspace, capsys)
    assert code == 2
    assert f"{workspace / 'incidents.csv'}: row 4: column title: not UTF-8 text (byte 0xe9)" in err
    (workspace / "incidents.csv").write_bytes(text.replace("Café", "Cafe").encode("cp1252"))
    code, _, err = run(workspace, capsys)
    assert f"{workspace / 'incidents.csv'}: row 5: not UTF-8 text (byte 0xe9)" in err, err


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_file_separated_by_another_character_says_so(workspace, capsys, separator):
    """Excel in many locales saves "CSV" separated by ';' (and "Text" by tabs): the header is
    then one name, and the file is named once for it rather than for every column missing."""
    text = GOOD_FILES["deployments.csv"].replace(",", separator)
    (workspace / "deployments.csv").write_text(text)
    code, _, err = run(workspace, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    shown = "\\t" if separator == "\t" else separator
    assert lines == [
        f"error: {workspace / 'deployments.csv'}: row 1: the columns are separated by "
        f"'{shown}', not ',': save the file as CSV (comma delimited)",
        "error: 1 problem(s) in the input; nothing was written",
    ], err
