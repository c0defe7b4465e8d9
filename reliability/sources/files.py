"""The canonical CSV and Parquet files (DESIGN §3), one or many per input, read once."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

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
        raw.index = pd.RangeIndex(2, 2 + len(raw))  # line 1 is the header
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


def read_table(paths: Sequence[Path], spec: frames.TableSpec) -> pd.DataFrame:
    """Read and validate every file of one input, then combine them into one canonical frame.

    Each file is validated on its own, so a problem names the file and row it is in; problems
    from all files are reported together. Keys must be unique across the files too.
    """
    parts = []
    problems: list[Problem] = []
    for path in paths:
        try:
            raw, first_row = read_raw(path)
            parts.append(frames.validate(raw, spec, str(path), first_row))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    if len(parts) == 1:
        return parts[0]
    combined = frames.concat(parts, spec)
    if spec.unique:
        duplicated = combined.duplicated(list(spec.unique))
        if duplicated.any():
            where = " + ".join(str(p) for p in paths)
            first = combined.loc[duplicated, list(spec.unique)].iloc[0].to_dict()
            raise InputError(
                Problem(
                    where,
                    f"{int(duplicated.sum())} rows repeat a {' + '.join(spec.unique)} "
                    f"found in another file, e.g. {first}",
                )
            )
    return combined


def load(source: Source, config: Config, role: str, months: Sequence[Month]) -> pd.DataFrame:
    """Loader for ``kind: csv`` (and Parquet files, recognised by their suffix)."""
    from reliability.sources import ROLES

    return read_table(source_paths(source, config, role), ROLES[role])
