"""The command line on the sample organisation: compute, sample round trip, formats, logs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from reliability.cli import main
from reliability.period import last_complete_month

MONTH = "2026-10"


@pytest.fixture(scope="module")
def sample_json() -> dict:
    """``compute --format json`` on the in-memory sample organisation."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["compute", "--month", MONTH, "--format", "json"]) == 0
    return json.loads(out.getvalue())


def test_sample_files_read_back_give_the_same_numbers(tmp_path, capsys, sample_json):
    assert main(["sample", "--out", str(tmp_path / "org"), "--month", MONTH]) == 0
    err = capsys.readouterr().err
    assert str(tmp_path / "org") in err.splitlines()[-1]
    config = tmp_path / "org" / "reliability.yaml"
    code = main(["compute", "--config", str(config), "--month", MONTH, "--format", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result == sample_json


def test_every_section_has_numbers(sample_json):
    result = sample_json
    assert result["month"] == MONTH
    assert result["start"] == "2026-10-01T00:00:00+00:00"
    assert result["end"] == "2026-11-01T00:00:00+00:00"
    assert result["missing_inputs"] == []
    assert len(result["slos"]) >= 16
    for slo in result["slos"]:
        for key in ("sli", "good", "total", "budget_consumed", "budget_remaining", "status"):
            assert slo[key] is not None, (slo["service"], slo["slo"], key)
        assert slo["budget_remaining"] == pytest.approx(1 - slo["budget_consumed"])
    incidents = result["incidents"]
    for key in ("count", "unresolved", "mtta_median_minutes", "mttr_median_minutes"):
        assert incidents[key] is not None
    assert incidents["mttr_p90_minutes"] >= incidents["mttr_median_minutes"]
    assert incidents["by_service"]
    assert incidents["by_severity"]
    for row in result["delivery"]:
        for key in ("deployments", "deployments_per_week", "change_failure_rate"):
            assert row[key] is not None
    assert any(row["lead_time_median_hours"] is not None for row in result["delivery"])
    assert any(row["recovery_median_minutes"] is not None for row in result["delivery"])
    for row in result["toil"]:
        assert row["toil_ratio"] is not None
    for row in result["oncall"]:
        assert row["pages_per_shift"] is not None
    assert result["alerts"]
    assert result["budget_attribution"]


def test_statuses_tell_a_story(sample_json):
    statuses = pd.DataFrame(sample_json["slos"])
    missed = statuses.loc[statuses["status"] == "missed", "service"].unique()
    assert len(missed) >= 2
    healthy = statuses.groupby("service")["status"].apply(lambda s: (s != "missed").all())
    assert healthy.any()


def test_default_month_is_the_last_complete_one(capsys):
    assert main(["compute", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["month"] == last_complete_month("UTC").label
    assert result["in_progress"] is False


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_text_formats(capsys, fmt):
    assert main(["compute", "--month", MONTH, "--format", fmt]) == 0
    out = capsys.readouterr().out
    for section in ("slos", "incidents", "delivery", "toil", "oncall"):
        assert section in out
    assert "checkout" in out


def test_json_log_lines(capsys):
    assert main(["--log-format", "json", "compute", "--month", MONTH, "--format", "json"]) == 0
    last = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert last["level"] == "info"
    assert last["month"] == MONTH
    assert last["seconds"] > 0


def test_validate_lists_what_it_found(capsys, tmp_path: Path):
    main(["sample", "--out", str(tmp_path), "--month", MONTH])
    capsys.readouterr()
    code = main(["validate", "--config", str(tmp_path / "reliability.yaml"), "--month", MONTH])
    out = capsys.readouterr().out
    assert code == 0
    assert "metrics:" in out
    assert "rows" in out
    assert re.search(r"^alerts: [\d,]+ rows$", out, re.M)  # listed like the other inputs


def test_rates_of_a_month_in_progress_divide_by_the_elapsed_part():
    """Ten days into October: deployments per week over 10 days, pages per shift over 20."""
    from reliability.metrics.month import compute_month
    from reliability.period import Month, Span
    from reliability.sources import load_frames
    from reliability.sources.sample import sample_config

    config = sample_config()
    october = Month(2026, 10)
    frames = load_frames(config, Span.of([october]))
    now = october.start + pd.Timedelta(days=10)
    so_far = frames.deployments.loc[frames.deployments["deployed_at"] < now]
    frames.deployments = so_far  # as a real source would have it ten days in
    result = compute_month(config, frames, october, now=now)
    fleet = result.fleet_delivery
    assert result.in_progress
    assert fleet["deployments"] == len(so_far)
    assert fleet["deployments_per_week"] == pytest.approx(len(so_far) / (10 / 7))
    assert (result.oncall["shifts"] == 20.0).all()


def test_a_closed_pipe_ends_the_run_quietly():
    """`reliability compute --format csv | head -c 100`: the reader leaves early.

    The pipe holds one page, far less than the output, so the run is still writing when the
    reader leaves, however the two processes are scheduled.
    """
    import fcntl
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    process = subprocess.Popen(
        [sys.executable, "-m", "reliability", "compute", "--month", MONTH, "--format", "csv"],
        stdout=write_end,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert len(reader.read(100)) == 100
    # the reader is closed, as head closes it once it has its bytes
    _, err = process.communicate(timeout=120)
    text = err.decode()
    assert process.returncode == 141
    assert "Traceback" not in text
    assert "BrokenPipe" not in text
    assert "Exception ignored" not in text


def test_global_options_are_accepted_after_the_subcommand(capsys):
    assert main(["compute", "--month", MONTH, "--format", "json", "--log-format", "json"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines
    assert all(json.loads(line)["level"] for line in lines)


def test_every_warning_of_a_json_run_is_a_json_line(capsys, monkeypatch):
    """Library log records (the PagerDuty client logs through `logging`) and Python
    warnings reach stderr as JSON objects like the tool's own lines."""
    import logging
    import warnings

    from reliability import pipeline

    real = pipeline.compute

    def noisy(*args, **kwargs):
        logging.getLogger("pagerduty").warning("rate limit nearly reached")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library changed its defaults", FutureWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "compute", noisy)
    assert main(["--log-format", "json", "compute", "--month", MONTH, "--format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    warnings_seen = [line for line in lines if line["level"] == "warning"]
    assert [line["source"] for line in warnings_seen] == ["pagerduty", "py.warnings"]
    assert "FutureWarning: a library changed its defaults" in warnings_seen[1]["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--log-format", "json", "compute", "--jobs", "3"],
            "reliability: unrecognized arguments: --jobs 3",
        ),
        (
            ["report", "--jobs", "0", "--log-format", "json"],
            "reliability report: argument --jobs: must be at least 1, got 0",
        ),
        (["--log-format=json"], "reliability: the following arguments are required: COMMAND"),
    ],
)
def test_a_usage_error_of_a_json_run_is_a_json_line(capsys, args, message):
    """A mistyped option is refused by argparse before any command runs; under
    ``--log-format json`` (before or after the subcommand) that line is JSON too."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert json.loads(line) == {"level": "error", "message": message, "where": "command line"}


def test_a_usage_error_of_a_text_run_stays_argparse_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compute", "--jobs", "3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: reliability")
    assert "error: unrecognized arguments: --jobs 3" in err
