"""Fixtures shared by the test modules."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from slow_server import TricklingServer

SAMPLE_MONTH = "2026-10"


@pytest.fixture
def trickling_server() -> Iterator[Callable[..., TricklingServer]]:
    """Start loopback servers that answer one byte a second (``mode``: ``body`` or
    ``headers``); they are stopped when the test ends."""
    started: list[TricklingServer] = []

    def start(mode: str = "body", interval: float = 1.0) -> TricklingServer:
        server = TricklingServer(mode, interval).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class RealData:
    """The real public data the tests read, in ``tests/data/realdata`` (origins and licences
    in its README): nothing here was written by this project."""

    folder = Path(__file__).resolve().parent / "data" / "realdata"

    def path(self, relative: str) -> Path:
        """A file's path; a missing file is an error, never a skipped test."""
        found = self.folder / relative
        if not found.is_file():
            raise FileNotFoundError(f"real-data file {found} is missing from the repository")
        return found

    def json(self, relative: str) -> Any:
        """A JSON file, decoded."""
        return json.loads(self.path(relative).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def realdata() -> RealData:
    """The real public data files (GitHub status history, PagerDuty's API examples, ...)."""
    return RealData()


@pytest.fixture(scope="session")
def sample_report_month(tmp_path_factory, worker_id) -> Path:
    """``reliability report --pdf`` for the sample organisation, rendered once per test run:
    xdist's workers share it through a lock in the run's common temporary folder."""
    from reliability.cli import main

    root = tmp_path_factory.getbasetemp()
    root = root if worker_id == "master" else root.parent
    out = root / "sample-reports"
    done = out / SAMPLE_MONTH / f"reliability-report-{SAMPLE_MONTH}.pdf"
    with FileLock(str(out) + ".lock"):
        if not done.is_file():
            code = main(["report", "--month", SAMPLE_MONTH, "--out", str(out), "--pdf"])
            assert code == 0
    return out / SAMPLE_MONTH
