"""The real public data the tests read: ``tests/data/realdata`` (origins in its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REALDATA = Path(__file__).resolve().parent / "data" / "realdata"
"""The real-data folder inside the repository."""


def realdata(relative: str) -> Path:
    """The path of a real-data file (a missing one is an error, never a skip)."""
    path = REALDATA / relative
    if not path.is_file():
        raise FileNotFoundError(f"real-data file {path} is missing from the repository")
    return path


def realdata_json(relative: str) -> Any:
    """A real-data JSON file, decoded."""
    return json.loads(realdata(relative).read_text(encoding="utf-8"))
