"""Where the shared real-data files live: ``shared/realdata`` beside the repository.

In this workspace and in the CI clone the layout is ``<parent>/main`` (the repository) next to
``<parent>/shared/realdata``. A missing file fails the test with a clear message; it is never
skipped, because a silently skipped real-data test proves nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REALDATA = Path(
    os.environ.get("RELIABILITY_REALDATA")
    or Path(__file__).resolve().parents[2] / "shared" / "realdata"
)
"""The real-data folder (override with the ``RELIABILITY_REALDATA`` environment variable)."""


def realdata(relative: str) -> Path:
    """The path of a real-data file, failing the test when it is missing."""
    path = REALDATA / relative
    if not path.is_file():
        pytest.fail(
            f"real-data file {path} is missing: the tests expect the shared/realdata folder "
            "beside the repository (see shared/realdata/README.md), or RELIABILITY_REALDATA "
            "pointing at it",
            pytrace=False,
        )
    return path


def realdata_json(relative: str) -> Any:
    """A real-data JSON file, decoded."""
    return json.loads(realdata(relative).read_text(encoding="utf-8"))
