"""The cache of computed months: a report computes its own month, reads earlier ones back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

import reliability.pipeline as pipeline
from reliability.cache import MonthCache, month_keys
from reliability.cli import main
from reliability.config import Source, Sources, load_config
from reliability.period import Month
from reliability.results import to_json
from reliability.sources.sample import sample_config, write_sample

MONTH = Month(2026, 10)
AFTER = pd.Timestamp("2026-11-20T00:00:00Z")


@pytest.fixture
def computed(monkeypatch) -> list[str]:
    """The months compute_month is called for, in order."""
    calls: list[str] = []
    real = pipeline.compute_month

    def counting(config, frames, period, *args, **kwargs):
        calls.append(period.label)
        return real(config, frames, period, *args, **kwargs)

    monkeypatch.setattr(pipeline, "compute_month", counting)
    return calls


def as_json(data) -> list[str]:
    return [json.dumps(to_json(m), sort_keys=True, default=str) for m in data.history]


def entries(folder: Path) -> list[str]:
    return sorted(p.name[:7] for p in folder.glob("*.pickle"))


def test_a_second_report_computes_only_its_own_month(tmp_path, computed):
    config = sample_config()
    cache = MonthCache(tmp_path / "cache")
    first = pipeline.report_results(config, MONTH, cache=cache, now=AFTER)
    months = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    # the report's month once more, as a trend month is computed, for the cache
    assert computed == [*months, "2026-10"]
    assert entries(cache.folder) == months

    computed.clear()
    second = pipeline.report_results(config, MONTH, cache=cache, now=AFTER)
    assert computed == ["2026-10"]  # the report's own month is always computed
    assert as_json(second) == as_json(first)

    computed.clear()
    fresh = pipeline.report_results(config, MONTH, cache=None, now=AFTER)
    assert len(computed) == 6
    assert as_json(fresh) == as_json(first)


def test_a_cached_month_equals_one_computed_for_a_later_report(tmp_path):
    config = sample_config()
    cache = MonthCache(tmp_path / "cache")
    pipeline.report_results(config, Month(2026, 9), cache=cache, now=AFTER)  # September's report
    october = pipeline.report_results(config, MONTH, cache=cache, now=AFTER)  # reads September
    fresh = pipeline.report_results(config, MONTH, cache=None, now=AFTER)
    assert as_json(october) == as_json(fresh)  # no detail left over from September's report


def test_a_month_in_progress_is_not_kept(tmp_path, computed):
    cache = MonthCache(tmp_path / "cache")
    middle = pd.Timestamp("2026-10-15T12:00:00Z")
    data = pipeline.report_results(sample_config(), MONTH, cache=cache, now=middle)
    assert data.current.in_progress
    assert entries(cache.folder) == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09"]


def test_editing_an_input_file_recomputes_every_month(tmp_path, computed):
    config = load_config(write_sample(tmp_path / "org", MONTH))
    cache = MonthCache(tmp_path / "cache")
    pipeline.report_results(config, MONTH, cache=cache, now=AFTER)
    before = sorted(p.name for p in cache.folder.iterdir())
    # with files, next month's data changes every key: the report's month is not kept
    assert [name[:7] for name in before] == [m.label for m in MONTH.history(6)[:-1]]

    incidents = tmp_path / "org" / "incidents.csv"
    stat = incidents.stat()
    os.utime(incidents, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    computed.clear()
    pipeline.report_results(config, MONTH, cache=cache, now=AFTER)
    assert computed == ["2026-10"]  # a new time stamp alone changes nothing

    # the same size and time stamp, another severity: the content is what counts
    text = incidents.read_text()
    assert ",SEV2," in text
    incidents.write_text(text.replace(",SEV2,", ",SEV1,", 1))
    os.utime(incidents, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert incidents.stat().st_size == stat.st_size
    computed.clear()
    pipeline.report_results(config, MONTH, cache=cache, now=AFTER)
    assert computed == [m.label for m in MONTH.history(6)]
    after = sorted(p.name for p in cache.folder.iterdir())
    assert len(after) == 5  # one entry per month: the stale ones were replaced
    assert set(after).isdisjoint(before)


def test_keys_depend_on_config_and_month():
    config = sample_config()
    months = MONTH.history(2)
    keys = month_keys(config, months)
    assert keys is not None
    assert len(set(keys.values())) == 2
    stricter = config.model_copy(update={"timezone": "Europe/Berlin"})
    assert month_keys(stricter, months) != keys
    assert month_keys(config, months) == keys


def test_server_sources_are_never_cached():
    config = sample_config()
    remote = config.model_copy(
        update={
            "sources": Sources(
                metrics=Source(kind="prometheus", url="http://127.0.0.1:9"),
                incidents=config.sources.incidents,
            )
        }
    )
    assert month_keys(remote, [MONTH]) is None


def test_missing_input_files_are_not_cached(tmp_path):
    config = load_config(write_sample(tmp_path / "org", MONTH))
    (tmp_path / "org" / "worklog.csv").unlink()
    assert month_keys(config, [MONTH]) is None


def test_an_unreadable_entry_is_computed_again(tmp_path, computed):
    config = sample_config()
    cache = MonthCache(tmp_path / "cache")
    first = pipeline.report_results(config, MONTH, cache=cache, now=AFTER)
    broken = next(cache.folder.glob("2026-07-*.pickle"))
    broken.write_bytes(b"not a pickle")
    computed.clear()
    second = pipeline.report_results(config, MONTH, cache=cache, now=AFTER)
    assert computed == ["2026-07", "2026-10"]  # the others are still read back
    assert as_json(second) == as_json(first)
    assert broken.read_bytes() != b"not a pickle"


def test_a_cache_that_cannot_be_written_costs_only_time(tmp_path, caplog):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    data = pipeline.report_results(sample_config(), MONTH, cache=MonthCache(blocker), now=AFTER)
    assert len(data.history) == 6
    assert caplog.text.count("could not write the month cache") == 1


@pytest.mark.slow
def test_report_no_cache_writes_no_cache(tmp_path, capsys):
    out = tmp_path / "reports"
    assert main(["report", "--month", "2026-10", "--out", str(out), "--no-cache"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["2026-10"]
    capsys.readouterr()
    assert main(["report", "--month", "2026-10", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".cache", "2026-10"]
    assert len(list((out / ".cache" / "months").glob("*.pickle"))) == 6


@pytest.mark.slow
def test_a_cache_problem_is_one_warning_line_in_the_run_s_format(tmp_path, capsys):
    out = tmp_path / "reports"
    out.mkdir()
    (out / ".cache").write_text("a file where the cache folder should be")
    args = ["--log-format", "json", "report", "--month", "2026-10", "--out", str(out)]
    assert main(args) == 0
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]  # every stderr line is JSON
    warnings = [r for r in records if r["level"] == "warning"]
    assert [w["message"] for w in warnings] == [
        f"could not write the month cache {out / '.cache' / 'months'} (Not a directory): "
        "months are computed again next time"
    ]
    assert warnings[0]["source"] == "reliability.cache"
    assert (out / "2026-10" / "index.html").exists()
