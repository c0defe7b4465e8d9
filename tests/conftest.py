"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from slow_server import TricklingServer


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
