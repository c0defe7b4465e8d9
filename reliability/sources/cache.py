"""A folder of computed months, so a report does not recompute the months before its own.

A report shows six months of trends; only its own month is new. Each complete month a
report computes is saved here under a key made of everything its numbers depend on:

* this package's code (every ``.py`` file of ``reliability``) and the pandas version;
* the whole config (services, SLOs, time zone, sources);
* the month;
* each input: for ``csv`` and ``parquet`` sources, every file's path, size and
  modification time; the ``sample`` source is fixed by the code.

A month is read back only under the same key, so an edited file, config or upgrade means
it is computed afresh. Sources on servers (Prometheus, PagerDuty, Statuspage, GitHub)
cannot be fingerprinted without fetching them, so a config that uses one is never cached.
The report's own month is always computed from the sources. Entries are pickles written
by this package; one per month is kept (a newer key replaces the older one).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from reliability.config import Config
from reliability.errors import InputError
from reliability.period import Month

__all__ = ["MonthCache", "month_keys"]

log = logging.getLogger(__name__)

FILE_KINDS = frozenset({"csv", "parquet"})
FIXED_KINDS = frozenset({"sample"})
"""Source kinds whose data depends on the code alone."""
_ENTRY = re.compile(r"^(\d{4}-\d{2})-[0-9a-f]{64}\.pickle$")


@functools.cache
def code_fingerprint() -> str:
    """A hash of every module of this package, and the pandas version it pickles with."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(pd.__version__.encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _source_fingerprint(config: Config, role: str) -> Any:
    """What a source's data depends on beyond the code, or raise LookupError if unknown."""
    source = getattr(config.sources, role)
    if source is None:
        return None
    if source.kind in FIXED_KINDS:
        return source.kind
    if source.kind not in FILE_KINDS:
        raise LookupError(f"{source.kind} sources are not cached")
    from reliability.sources.files import source_paths

    try:
        paths = source_paths(source, config, role)
    except InputError as exc:  # reported when the month is loaded
        raise LookupError("the source's files are missing") from exc
    found = []
    for path in paths:
        stat = path.stat()
        found.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return found


def month_keys(config: Config, months: Sequence[Month]) -> dict[Month, str] | None:
    """The cache key of each month under ``config``, or None if its inputs cannot be pinned."""
    try:
        inputs = {
            role: _source_fingerprint(config, role)
            for role in ("metrics", "incidents", "deployments", "worklog")
        }
    except (LookupError, OSError):
        return None
    identity = {
        "code": code_fingerprint(),
        "config": config.model_dump(mode="json"),
        "base_dir": str(Path(config.base_dir).resolve()),
        "inputs": inputs,
    }
    keys = {}
    for month in months:
        text = json.dumps({**identity, "month": [month.label, month.timezone]}, sort_keys=True)
        keys[month] = hashlib.sha256(text.encode()).hexdigest()
    return keys


class MonthCache:
    """Computed months in ``folder`` (created when first written)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, month: Month, key: str) -> Path:
        return self.folder / f"{month.label}-{key}.pickle"

    def get(self, month: Month, key: str) -> Any | None:
        """The month saved under ``key``, or None (also when the entry is unreadable)."""
        path = self._path(month, key)
        try:
            with path.open("rb") as handle:
                return pickle.load(handle)  # written by put() below, under a full key
        except FileNotFoundError:
            return None
        except Exception as exc:  # a truncated or foreign file: compute the month again
            log.debug("ignoring unreadable cache entry %s: %s", path, exc)
            return None

    def put(self, month: Month, key: str, value: Any) -> None:
        """Save ``value`` for ``month`` atomically and drop older entries of that month.

        A cache that cannot be written only costs time later, so errors are logged, not raised.
        """
        path = self._path(month, key)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
            for entry in self.folder.iterdir():
                match = _ENTRY.match(entry.name)
                if match and match.group(1) == month.label and entry != path:
                    entry.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not save %s to the month cache %s: %s", month, self.folder, exc)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
