"""The canonical CSV and Parquet files (DESIGN §3), one or many per input, read once."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from reliability import frames
from reliability.config import Config, Source
from reliability.errors import InputError, Problem
from reliability.period import Month

_PARQUET_SUFFIXES = (".parquet", ".pq")


def source_paths(source: Source, config: Config, role: str) -> list[Path]:
    """The files a source names: one path, a list, or glob patterns, relative to the config."""
    if source.path is None:
        raise InputError(Problem("config", f"sources.{role}.path: required for kind {source.kind}"))
    patterns = [source.path] if isinstance(source.path, str) else list(source.path)
    if not patterns or not all(str(p).strip() for p in patterns):
        raise InputError(Problem("config", f"sources.{role}.path: no file given"))
    paths: list[Path] = []
    problems = []
    for pattern in patterns:
        resolved = config.resolve(pattern)
        if glob.has_magic(str(resolved)):
            matches = sorted(Path(p) for p in glob.glob(str(resolved), recursive=True))
            if not matches:
                problems.append(Problem(str(resolved), "no file matches this pattern"))
            paths.extend(matches)
        elif not resolved.is_file():
            problems.append(Problem(str(resolved), "file not found"))
        else:
            paths.append(resolved)
    if problems:
        raise InputError(problems)
    return paths


def read_raw(path: Path) -> tuple[pd.DataFrame, int | None]:
    """One file as a raw frame (CSV cells as strings) and the row number of its first data row.

    For a CSV the frame's index is already each row's line in the file (``None`` is returned):
    blank lines are dropped but still counted, so a problem names the line an editor shows.
    """
    try:
        if path.suffix.lower() in _PARQUET_SUFFIXES:
            return pd.read_parquet(path), 1
        if path.stat().st_size == 0:
            raise InputError(Problem(str(path), "empty file"))
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False
        )
        raw.index = _record_lines(path, len(raw))
        if len(raw.columns):
            candidates = raw.index[raw.iloc[:, 0] == ""]
            blank = (raw.loc[candidates] == "").all(axis=1)
            raw = raw.drop(index=blank.index[blank])
        return raw, None
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(Problem(str(path), "empty file")) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(Problem(str(path), f"cannot read the file: {message}")) from None
    except Exception as exc:  # pyarrow raises its own types for a corrupt Parquet file
        raise InputError(Problem(str(path), f"cannot read the file: {exc}")) from None


def _record_lines(path: Path, rows: int) -> pd.Index:
    """The line of the file on which each of the ``rows`` data records starts.

    Usually line 2, 3, ... (line 1 is the header). A quoted cell may hold line breaks (a
    title or description exported with newlines), and then a record spans several lines:
    a line break ends a record only outside quotes, i.e. after an even number of ``"``
    (an escaped ``""`` counts twice and keeps the parity). If that count does not give
    as many records as the parser read, the simple numbering is used.
    """
    simple = pd.RangeIndex(2, 2 + rows)
    data = np.fromfile(path, dtype=np.uint8)
    quotes = data == ord('"')
    if not quotes.any():
        return simple
    breaks = np.flatnonzero(data == ord("\n"))
    inside = (np.cumsum(quotes)[breaks] % 2) == 1
    if not inside.any():
        return simple
    ends = breaks[~inside]
    # Record k + 1 starts after the k-th record-ending break: its line is 1 + the breaks before.
    starts = np.searchsorted(breaks, ends, side="right") + 1
    trailing = len(ends) == 0 or ends[-1] < len(data) - 1
    records = len(ends) + (1 if trailing else 0)
    if records - 1 < rows or len(starts) < rows:
        return simple
    return pd.Index(starts[:rows])


def read_table(paths: Sequence[Path], spec: frames.TableSpec) -> pd.DataFrame:
    """Read and validate every file of one input, then combine them into one canonical frame.

    Each file is validated on its own, so a problem names the file and row it is in; problems
    from all files are reported together. Keys must be unique across the files too.
    """
    parts = []
    rows = []
    problems: list[Problem] = []
    for path in paths:
        try:
            raw, first_row = read_raw(path)
            numbers = (
                raw.index.to_numpy(dtype=np.int64)
                if first_row is None
                else np.arange(first_row, first_row + len(raw))
            )
            parts.append(frames.validate(raw, spec, str(path), first_row))
            rows.append(numbers)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    if len(parts) == 1:
        return parts[0]
    combined = frames.concat(parts, spec)
    if spec.unique:
        _check_unique_across(combined, spec, paths, [len(p) for p in parts], rows)
    return combined


def _check_unique_across(
    combined: pd.DataFrame,
    spec: frames.TableSpec,
    paths: Sequence[Path],
    sizes: list[int],
    rows: list[np.ndarray],
) -> None:
    """Raise one problem per row (the first few) whose key another file already has.

    Each file was checked on its own, so every repeat here is across files; a problem
    names the row, its file, and the file and row where the key was first seen.
    """
    key = list(spec.unique)
    duplicated = combined.duplicated(key, keep="first").to_numpy()
    if not duplicated.any():
        return
    file_of = np.repeat(np.arange(len(paths)), sizes)
    row_of = np.concatenate(rows)
    keys = combined[key].reset_index(drop=True)
    first = keys.loc[~keys.duplicated(keep="first")]
    located = keys.merge(
        first.assign(_file=file_of[first.index], _row=row_of[first.index]), on=key, how="left"
    )
    positions = np.flatnonzero(duplicated)
    label = " + ".join(spec.unique)
    found = []
    for pos in positions[: frames.PROBLEMS_SHOWN_PER_CHECK]:
        value = ", ".join(str(keys.iloc[pos][k]) for k in key)
        origin = paths[int(located["_file"].iloc[pos])]
        found.append(
            Problem(
                str(paths[file_of[pos]]),
                f"duplicate {label} {value} (first seen in {origin} row "
                f"{int(located['_row'].iloc[pos])})",
                row=int(row_of[pos]),
                column=spec.unique[0],
            )
        )
    hidden = positions.size - len(found)
    if hidden > 0:
        found.append(
            Problem(
                " + ".join(str(p) for p in paths),
                f"{hidden} more rows repeat a key ({label}) found in another file",
            )
        )
    raise InputError(found)


def load(source: Source, config: Config, role: str, months: Sequence[Month]) -> pd.DataFrame:
    """Loader for ``kind: csv`` (and Parquet files, recognised by their suffix)."""
    from reliability.sources import ROLES

    return read_table(source_paths(source, config, role), ROLES[role])
