"""A folder of computed months, so a report does not recompute the months before its own.

A report shows six months of trends; only its own month is new. Each complete month a
report computes is saved here (as computed for a trend: without the detail only the
report's own month shows, such as alert replay) under a key made of what its numbers
depend on:

* this package's code (every ``.py`` file of ``reliability``), the versions of Python and
  of the libraries that compute or parse (pandas, numpy, pyarrow, pydantic, tzdata);
* the whole config (services, SLOs, time zone, sources), and the system's rules for its
  time zone;
* the month;
* each input: for ``csv`` and ``parquet`` sources, every file's path and a hash of its
  content; the ``sample`` source is fixed by the code.

A month is read back only under the same key, so an edited or added file, a changed config
or an upgrade means it is computed afresh. With file sources that is also the case when
next month's data is appended to a file or added as a new file matching a glob: the cache
then only spares re-runs of a month, which is all it promises. Sources on servers
(Prometheus, PagerDuty, Statuspage, GitHub) cannot be fingerprinted without fetching them,
so a config that uses one is never cached. The report's own month is always computed from
the sources.

File loaders read whole files, so a month computed in one report saw the same rows as it
would in another; a loader that fetched only the months asked for would have to keep that
true before its kind is cached. Entries are pickles written by this package; one per month
is kept (a newer key replaces the older one).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import pickle
import re
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reliability.config import Config
from reliability.errors import InputError
from reliability.period import Month

__all__ = ["MonthCache", "fixed_inputs", "month_keys"]

log = logging.getLogger(__name__)

FILE_KINDS = frozenset({"csv", "parquet"})
FIXED_KINDS = frozenset({"sample"})
"""Source kinds whose data depends on the code alone."""
ROLE_NAMES = ("metrics", "incidents", "deployments", "worklog", "cost")
CACHE_DIR = Path(".cache") / "months"
"""Where computed months are kept, inside the reports folder."""
_ENTRY = re.compile(r"^(\d{4}-\d{2})-[0-9a-f]{64}\.pickle$")


VERSIONED = ("pandas", "numpy", "pyarrow", "pydantic", "tzdata")
"""Libraries whose version can change a computed month (or how it unpickles)."""
STALE_TEMPORARY_SECONDS = 3600


@functools.cache
def code_fingerprint() -> str:
    """A hash of every module of this package and of the versions of what it computes with.

    Only files that can be read count (an editor's lock file is a dangling symlink named
    ``.#x.py``); a symlinked module counts like any other.
    """
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(sys.version.encode())
    for name in VERSIONED:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}={version};".encode())
    for path in sorted(root.rglob("*.py")):
        if not path.is_file():
            continue
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _content_hash(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "blake2b").hexdigest()


def _source_fingerprint(config: Config, role: str) -> Any:
    """What a source's data depends on beyond the code, or raise LookupError if unknown."""
    source = getattr(config.sources, role)
    if source is None:
        return None
    if source.kind in FIXED_KINDS:
        return source.kind
    if source.kind not in FILE_KINDS:
        raise LookupError(f"{source.kind} sources are not cached")
    from reliability.sources.local import table_paths

    try:
        paths = table_paths(source, config, role)
    except InputError as exc:  # reported when the month is loaded
        raise LookupError("the source's files are missing") from exc
    return [[str(path.resolve()), _content_hash(path)] for path in paths]


def _zone_fingerprint(name: str) -> str:
    """The system's rules for time zone ``name`` (Python reads them before tzdata's)."""
    for root in zoneinfo.TZPATH:
        path = Path(root) / name
        if path.is_file():
            return _content_hash(path)
    return "tzdata"


def fixed_inputs(config: Config) -> bool:
    """Whether every configured source gives the same data for a month run after run (the
    sample), so that the next report will read this report's month back from the cache."""
    sources = [getattr(config.sources, role) for role in ROLE_NAMES]
    return all(source is None or source.kind in FIXED_KINDS for source in sources)


def month_keys(config: Config, months: Sequence[Month]) -> dict[Month, str] | None:
    """The cache key of each month under ``config``, or None if its inputs cannot be pinned."""
    try:
        inputs = {role: _source_fingerprint(config, role) for role in ROLE_NAMES}
    except (LookupError, OSError):
        return None
    try:
        identity = {
            "code": code_fingerprint(),
            "config": config.model_dump(mode="json"),
            "zone": _zone_fingerprint(config.timezone),
            "inputs": inputs,
        }
    except OSError:  # the package's own files could not be read
        return None
    keys = {}
    for month in months:
        text = json.dumps({**identity, "month": [month.label, month.timezone]}, sort_keys=True)
        keys[month] = hashlib.sha256(text.encode()).hexdigest()
    return keys


class MonthCache:
    """Computed months in ``folder`` (created when first written)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.unwritable = False

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

    def has(self, month: Month, key: str) -> bool:
        """Whether an entry for ``month`` under ``key`` exists (it may still be unreadable)."""
        return self._path(month, key).is_file()

    def put(self, month: Month, key: str, value: Any) -> None:
        """Save ``value`` for ``month`` atomically and drop older entries of that month.

        A cache that cannot be written only costs time later, so the first error is logged
        (once per run, not once per month) and nothing more is tried.
        """
        if self.unwritable:
            return
        path = self._path(month, key)
        temporary: Path | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            temporary = Path(name)
            with os.fdopen(handle, "wb") as file:
                pickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
            temporary = None
            self._remove_older(month, path)
        except OSError as exc:
            self.unwritable = True
            log.warning(
                "could not write the month cache %s (%s): months are computed again next time",
                self.folder,
                exc.strerror or exc,
            )
            if temporary is not None:
                with contextlib.suppress(OSError):
                    temporary.unlink(missing_ok=True)

    def _remove_older(self, month: Month, kept: Path) -> None:
        """Other entries of ``month``, and temporary files of writers that were killed."""
        now = time.time()
        for entry in self.folder.iterdir():
            match = _ENTRY.match(entry.name)
            if match and match.group(1) == month.label and entry != kept:
                entry.unlink(missing_ok=True)
            elif entry.name.startswith(".") and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                        entry.unlink()
