"""The canonical CSV and Parquet files (docs/formats.md), one or many per input, read once."""

from __future__ import annotations

import codecs
import csv
import functools
import glob
import itertools as it
import mmap
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from reliability import frames
from reliability.config import Config, Source
from reliability.errors import InputError, OutOfMemoryError, Problem
from reliability.period import Month

_PARQUET_SUFFIXES = (".parquet", ".pq")
_TABLE_SUFFIXES = (".csv", *_PARQUET_SUFFIXES)
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
"""Compressed files, which are not read (a CSV is read as plain text, a Parquet file
compresses its own pages)."""
"""The files a folder named as a source's ``path`` contributes (markers like ``_SUCCESS``
and hidden files are skipped)."""
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
"""The folder name writers (Hive, Spark, Arrow) give a partition whose value is null."""
_BLOCK_BYTES = 16 << 20
"""How much of a CSV file Arrow parses at a time (fewer, larger blocks parse faster)."""
_PARQUET_BLOCK_ROWS = 1 << 22
"""How many rows of a Parquet file are read and validated at a time, at least (consecutive
row groups together): one block's arrays are then large enough to be handed back to the
system once validated, instead of leaving holes between the rows kept."""
_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
"""pandas' message for a row with more cells than the header; its line counts records."""


@dataclass(frozen=True)
class RowFilter:
    """The SLI rows a run needs: instants in ``[start, end)`` (the months, their lookback)
    of the configured ``services``. Every row read is validated, the others are not kept; of
    a Parquet file, row groups whose statistics lie wholly outside the span are not read."""

    start: pd.Timestamp
    end: pd.Timestamp
    services: frozenset[str]

    def misses(self, first: pd.Timestamp, last: pd.Timestamp) -> bool:
        """Whether rows from ``first`` to ``last`` lie wholly outside the span."""
        return last < self.start or first >= self.end

    def keeps(self, sli: pd.DataFrame) -> np.ndarray:
        """Which rows of a validated SLI frame the run needs."""
        stamps = sli["timestamp"]
        wanted = sli["service"].cat.categories.isin(list(self.services))
        return (
            (stamps >= self.start).to_numpy()
            & (stamps < self.end).to_numpy()
            & wanted[sli["service"].cat.codes.to_numpy()]
        )


@dataclass
class Kept:
    """An input read through a ``RowFilter``: the rows kept, how many were left out, and the
    first and last instant of all its rows (what the input holds, not only what was kept)."""

    frame: pd.DataFrame
    left_out: int = 0
    extent: tuple[pd.Timestamp, pd.Timestamp] | None = None
    positions: Callable[[], np.ndarray] | None = None
    """Each kept row's place among the file's data rows, worked out when a problem needs it
    (``None``: no row left out); held as one bit per row read."""
    later: int = 0
    """Of the rows left out, those dated at or after the span's end (for a month in progress:
    rows dated after now, which a data-quality finding names)."""


def _places(bits: np.ndarray, count: int) -> np.ndarray:
    """The places of the set bits among ``count`` packed bits."""
    return np.flatnonzero(np.unpackbits(bits, count=count))


def _block_places(blocks: list[tuple[int, int, Callable[[], np.ndarray] | None]]) -> np.ndarray:
    """The kept rows' places of every block read: its first row's place, its kept rows, and
    where they sit in it (``None``: all of them)."""
    return np.concatenate(
        [offset + (np.arange(kept) if at is None else at()) for offset, kept, at in blocks]
    )


def source_paths(paths: str | list[str] | None, config: Config, role: str) -> list[Path]:
    """The files a source's ``path`` option names: one path, a list, glob patterns, or a
    folder (every CSV and Parquet file under it), relative to the config's folder."""
    if paths is None:
        raise InputError(
            Problem(
                "config", f"sources.{role}.path: required: the file, files or glob patterns to read"
            )
        )
    patterns = [paths] if isinstance(paths, str) else list(paths)
    if not patterns or not all(str(p).strip() for p in patterns):
        raise InputError(Problem("config", f"sources.{role}.path: no file given"))
    found: list[Path] = []
    problems = []
    for pattern in patterns:
        resolved = config.resolve(pattern)
        if glob.has_magic(str(resolved)):
            matches = sorted(Path(p) for p in glob.glob(str(resolved), recursive=True))
            matches = [m for m in matches if not _marker_match(m, resolved)]
            # A folder the pattern matches (``sli/month=*``) is read as a folder named alone.
            matches = [f for m in matches for f in (_folder_files(m) if m.is_dir() else [m])]
            if not matches:
                problems.append(Problem(str(resolved), "no file matches this pattern"))
            found.extend(dict.fromkeys(matches))
        elif resolved.is_dir():  # a dataset's folder, hive-partitioned (month=2026-10/...) or not
            inside = _folder_files(resolved)
            if not inside:
                problems.append(Problem(str(resolved), _empty_folder(resolved)))
            found.extend(inside)
        elif not resolved.is_file():
            problems.append(Problem(str(resolved), "file not found"))
        else:
            found.append(resolved)
    # A file two patterns name (``[sli-*.csv, sli-extra.csv]``) is one file, read once.
    once: dict[Path, Path] = {}
    for path in found:  # files, not rows
        once.setdefault(path.resolve(), path)
    found = list(once.values())
    # A link to nothing (a part moved or deleted) is named, never skipped without a word.
    problems += [Problem(str(p), "file not found") for p in found if not p.exists()]
    if problems:
        raise InputError(problems)
    return found


def _marker_match(match: Path, pattern: Path) -> bool:
    """Whether a pattern's match lies in (or is) a writer's marker or temporary folder
    (``_temporary/``, ``_SUCCESS``) that the pattern's wildcards reached, not its own text."""
    root = Path(*[part for part in it.takewhile(lambda p: not glob.has_magic(p), pattern.parts)])
    named = set(pattern.parts)
    return any(part.startswith("_") and part not in named for part in match.relative_to(root).parts)


def _folder_files(folder: Path) -> list[Path]:
    """The CSV and Parquet files under a dataset's folder, in order of their paths; a
    Parquet part without rows (as a writer leaves for an empty partition) holds nothing."""
    return sorted(p for p in folder.rglob("*") if _dataset_file(p, folder) and not _empty_part(p))


def _empty_part(path: Path) -> bool:
    """Whether a file is a Parquet file whose footer says it holds no rows (an unreadable one
    is not: reading it names its problem)."""
    if path.suffix.lower() not in _PARQUET_SUFFIXES or not path.exists():
        return False
    try:
        return pq.read_metadata(path).num_rows == 0
    except Exception:  # pyarrow's own errors for a file that is no Parquet file
        return False


def _empty_folder(folder: Path) -> str:
    """Why a dataset's folder gives no file to read."""
    if any(_dataset_file(p, folder) for p in folder.rglob("*")):
        return "no rows in this folder: its only Parquet files hold none"
    return "no CSV or Parquet file in this folder"


def _dataset_file(path: Path, folder: Path) -> bool:
    """Whether a file under a dataset's folder is one of its tables: a CSV or Parquet file,
    not hidden, not a writer's marker or temporary file (``_SUCCESS``, ``.part-0.crc``)."""
    hidden = any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    return not hidden and _table_name(path) and not path.is_dir()


def _table_name(path: Path) -> bool:
    """Whether a name is a table's: a CSV or Parquet file, compressed or not (a compressed one
    is read only to be named as such)."""
    suffixes = [suffix.lower() for suffix in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in _TABLE_SUFFIXES


def hive_partitions(path: Path, spec: frames.TableSpec) -> dict[str, str]:
    """The columns of ``spec`` a hive-partitioned dataset's folders name for a file
    (``sli/service=checkout/month=2026-10/part-0.parquet``: ``service``), each with its value.

    A file without such a column reads it from the folder's name, as writers leave partition
    columns out of the files; names and values are URL-decoded (writers escape ``/``, ``=``
    and ``%``), and a null partition (``__HIVE_DEFAULT_PARTITION__``) is a blank cell.
    """
    found = {}
    for part in path.parent.parts:
        name, equals, value = part.partition("=")
        name = unquote(name).strip()
        if equals and name in spec.column_names:
            found[name] = "" if value == _HIVE_NULL else unquote(value)
    return found


def _absent_partitions(path: Path, spec: frames.TableSpec, names: Sequence[str]) -> dict[str, str]:
    """The partition columns of ``path`` that a file with columns ``names`` lacks."""
    present = {str(name).strip() for name in names}
    return {k: v for k, v in hive_partitions(path, spec).items() if k not in present}


def _with_partitions(raw: pd.DataFrame, path: Path, spec: frames.TableSpec) -> pd.DataFrame:
    """A file's raw frame with the partition columns it lacks, one value for every row (a
    label column as a category of that one value)."""
    absent = _absent_partitions(path, spec, raw.columns)
    if not absent:
        return raw
    columns = {column.name: column for column in spec.columns}
    for name, value in absent.items():
        if columns[name].categorical:
            codes = np.zeros(len(raw), dtype=np.int8)
            raw[name] = pd.Categorical.from_codes(codes, categories=[value], validate=False)
        else:
            raw[name] = value
    return raw


def read_raw(path: Path, spec: frames.TableSpec | None = None) -> tuple[pd.DataFrame, int | None]:
    """One file as a raw frame (CSV cells as strings) and the row number of its first data row.

    For a CSV the frame's index is already each row's line in the file (``None`` is returned):
    blank lines are dropped but still counted, so a problem names the line an editor shows.
    With ``spec``, only its columns are read of a Parquet file (and must hold plain values),
    and a CSV whose rows do not fit its header also names the required columns it lacks.
    """
    if path.suffix.lower() in _COMPRESSED_SUFFIXES:
        raise InputError(
            Problem(str(path), "a compressed file: decompress it first (gunzip, unzstd, ...)")
        )
    try:
        if path.suffix.lower() in _PARQUET_SUFFIXES:
            columns = None if spec is None else spec.column_names
            return _read_parquet(path, columns), 1
        if path.stat().st_size == 0:
            raise InputError(Problem(str(path), "empty file"))
        kind = _binary_kind(path)
        if kind is not None:
            raise InputError(Problem(str(path), kind))
        return _read_csv(path, spec), None
    except InputError:
        raise
    except MemoryError:  # pyarrow's ArrowMemoryError too
        raise out_of_memory(path) from None
    except pd.errors.EmptyDataError:
        raise InputError(Problem(str(path), "empty file")) from None
    except UnicodeDecodeError:
        raise InputError(_not_utf8(path)) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise InputError(_unreadable(path, exc)) from None
    except Exception as exc:  # pyarrow raises its own types for a corrupt Parquet file
        raise InputError(Problem(str(path), f"cannot read the file: {exc}")) from None


def out_of_memory(path: Path) -> OutOfMemoryError:
    """Running out of memory on ``path``: no fault of the input, and what to do about it."""
    try:
        size = f" ({path.stat().st_size / 1e9:.1f} GB)"
    except OSError:
        size = ""
    parquet = path.suffix.lower() in _PARQUET_SUFFIXES
    convert = "" if parquet else " converting it to Parquet,"
    return OutOfMemoryError(
        f"{path}: not enough memory to read this file{size}: read less at once, by splitting"
        f" the input into smaller files (a month each, named by a glob pattern),{convert} or"
        " loading it into a database read by the sql source (kind: sql), which sums the events"
        " per step before the report sees them"
    )


def _typed_table(path: Path, spec: frames.TableSpec, keep: RowFilter | None = None) -> Kept | None:
    """A CSV file read the fast way and validated, or ``None`` when it needs the precise way.

    Arrow reads only the table's columns, with their types: counts as int64, instants and
    labels as dictionaries of their distinct cells (each parsed once), text as strings; no
    line number is computed. An SLI file is validated block by block, each distinct instant
    parsed once for all blocks, and only the rows ``keep`` names are kept, so memory follows
    the rows kept rather than the file. Anything this reading refuses or validation finds
    wrong (a bad cell, a row of the wrong length, a repeated column or key) sends the file
    down the precise path, which names each problem's line exactly as before.
    """
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        return None
    try:
        if path.stat().st_size == 0:
            return None
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
        if frames.repeated_names(header, spec.column_names):
            return None
        columns = {c.name: c for c in spec.columns}
        chosen = {name: columns[name.strip()] for name in header if name.strip() in columns}
        present = {c.name for c in chosen.values()} | set(_absent_partitions(path, spec, header))
        if not set(spec.required_names) <= present:
            return None
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES),
            # Without a quote in the file no cell holds a line break: Arrow then splits the
            # file into blocks at any line break, about twice as fast.
            parse_options=pacsv.ParseOptions(newlines_in_values=_has_quotes(path)),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(chosen),
                column_types={name: _arrow_type(col) for name, col in chosen.items()},
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if spec is frames.SLI:
            blocks = _unified_blocks(table)
            del table  # each block is freed once validated
            return None if blocks is None else _sli_blocks(*blocks, path, keep)
        raw = _with_partitions(table.to_pandas(), path, spec)
        del table
        return Kept(frames.validate(raw, spec, str(path), 2))
    except MemoryError:
        raise
    except Exception:  # InputError or Arrow's refusal: the precise path says what is wrong
        return None


def _unified_blocks(table: pa.Table) -> tuple[pd.Series, list[pa.RecordBatch]] | None:
    """An SLI file's Arrow table as blocks sharing one dictionary per column, and the distinct
    instant cells of that dictionary; ``None`` when an instant is missing."""
    table = table.rename_columns([name.strip() for name in table.column_names])
    stamps = table.column("timestamp")
    if stamps.null_count or not stamps.num_chunks:
        return None
    table = table.unify_dictionaries()
    cells = table.column("timestamp").chunk(0).dictionary.to_pandas().astype("string")
    return cells, table.to_batches()


def _sli_blocks(
    cells: pd.Series, batches: list[pa.RecordBatch], path: Path, keep: RowFilter | None
) -> Kept | None:
    """An SLI file's Arrow blocks validated one at a time (each freed once validated) and
    cut to the rows ``keep`` names; ``None`` when a block needs the precise way. Every
    distinct instant (``cells``, the blocks' shared dictionary) is parsed once for the file.
    """
    parsed = frames.parse_instant_cells(cells)
    if parsed is None:
        return None
    instants = parsed.array

    def blocks() -> Iterator[tuple[int, pd.DataFrame]]:
        offset = 0
        while batches:
            batch = batches.pop(0)
            at = batch.schema.get_field_index("timestamp")
            codes = batch.column(at).indices.to_numpy(zero_copy_only=False)
            raw = batch.remove_column(at).to_pandas()
            del batch
            raw.insert(0, "timestamp", pd.Series(instants.take(codes), index=raw.index))
            yield offset, raw
            offset += len(raw)

    return _validated_blocks(blocks(), path, keep)


def _validated_blocks(
    blocks: Iterator[tuple[int, pd.DataFrame]],
    path: Path,
    keep: RowFilter | None,
    left_out: int = 0,
    bounds: Sequence[pd.Timestamp] = (),
    later: int = 0,
) -> Kept | None:
    """Blocks of an SLI file (each with the place of its first row among the file's data
    rows) validated one at a time and cut to the rows ``keep`` names, then combined and
    checked across blocks; ``None`` when anything needs the precise way. ``left_out`` rows
    were never read (``later`` of them after the span), and ``bounds`` are instants the file
    is known to hold."""
    pieces: dict[str, list[pd.Series]] = {name: [] for name in frames.SLI.column_names}
    places: list[tuple[int, int, Callable[[], np.ndarray] | None]] = []
    series: list[pd.DataFrame] = []
    seen, total = list(bounds), 0.0
    for offset, raw in blocks:
        if len(raw) == 0:
            continue
        raw = _with_partitions(raw, path, frames.SLI)
        part = _cut(frames.validate(raw, frames.SLI, str(path), 2 + offset), keep)
        del raw
        seen += [] if part.extent is None else list(part.extent)
        left_out += part.left_out
        later += part.later
        places.append((offset, len(part.frame), part.positions))
        series.append(_series_spans(part.frame))
        total += float(part.frame["total"].sum())
        for name, column in part.frame.items():
            # A column of its own, not a view of the block's good and total together: each
            # piece is then freed as soon as its column is combined.
            pieces[name].append(column.copy() if column.dtype.kind in "iu" else column)
        del part
    if not places:
        return None
    frame = frames.combine_columns(pieces)
    if _blocks_overlap(series) and frames.has_repeated_keys(frame, frames.SLI):
        return None
    if total >= frames.MAX_COUNT / 2 and frames.sli_sum_excess(frame).any():
        return None
    extent = (min(seen), max(seen)) if seen else None
    positions = functools.partial(_block_places, places) if left_out else None
    return Kept(frame, left_out, extent, positions, later)


def _series_spans(sli: pd.DataFrame) -> pd.DataFrame:
    """Each SLO's first and last instant in one block (columns service, slo, min, max):
    blocks can share a key only where the spans of one SLO overlap."""
    service, slo = sli["service"].cat, sli["slo"].cat
    slos = max(len(slo.categories), 1)
    code = service.codes.to_numpy().astype(np.int64) * slos + slo.codes.to_numpy()
    instants = sli["timestamp"].array.asi8
    size = max(len(service.categories), 1) * slos
    low = np.full(size, np.iinfo(np.int64).max)
    high = np.full(size, np.iinfo(np.int64).min)
    np.minimum.at(low, code, instants)
    np.maximum.at(high, code, instants)
    present = np.flatnonzero(low <= high)
    return pd.DataFrame(
        {
            "service": np.asarray(service.categories, dtype=object)[present // slos],
            "slo": np.asarray(slo.categories, dtype=object)[present % slos],
            "min": low[present],
            "max": high[present],
        }
    )


def _blocks_overlap(spans: list[pd.DataFrame]) -> bool:
    """Whether two blocks hold instants of one SLO within the same span of time (then a key
    may repeat across them and the whole frame is checked)."""
    if len(spans) < 2:
        return False
    key = ["service", "slo"]
    table = pd.concat(spans, ignore_index=True).sort_values([*key, "min"], ignore_index=True)
    same = (table[key] == table[key].shift()).all(axis=1)
    reach = table.groupby(key, sort=False)["max"].cummax().shift()
    return bool((same & (table["min"] <= reach)).any())


def _group_span(stats: dict[str, pq.Statistics | None]) -> tuple[pd.Timestamp, ...] | None:
    """The first and last instant of a Parquet row group, by its statistics (``None`` when
    they say nothing, or name an instant outside the supported range)."""
    found = stats.get("timestamp")
    if found is None or not found.has_min_max:
        return None
    low, high = found.min, found.max
    if not (frames.EARLIEST.to_pydatetime() <= low <= high <= frames.LATEST.to_pydatetime()):
        return None
    return tuple(pd.Timestamp(t).tz_convert("UTC") for t in (low, high))


def _plainly_valid(stats: dict[str, pq.Statistics | None]) -> bool:
    """Whether a row group's statistics vouch that none of its cells is empty, a negative or
    too large count, or a blank label: only such a group outside the span is left unread
    (any doubt, and it is read so that validation names the row)."""
    for name, found in stats.items():
        if found is None or not found.has_min_max or not found.has_null_count:
            return False
        if found.null_count:
            return False
        if name in ("good", "total"):
            if found.physical_type != "INT64" and found.physical_type != "INT32":
                return False
            if found.logical_type.type not in ("NONE", "INT"):  # a decimal's fractions
                return False
            if found.min < 0 or found.max > frames.MAX_COUNT:
                return False
        elif name in ("service", "slo"):
            if found.logical_type.type != "STRING" or not found.min.strip():  # bytes: a doubt
                return False
    return True


def _outside(keep: RowFilter, span: tuple[pd.Timestamp, ...], absent: dict[str, str]) -> bool:
    """Whether a row group from ``span[0]`` to ``span[1]`` holds no row the run needs, and
    may be left unread: wholly outside the span, or of a service partition the config does
    not name and wholly on one side of the span's end (so the rows after it are counted).
    Partition values of its file must vouch for themselves: labels that are not blank."""
    if any(name not in ("service", "slo") or not value.strip() for name, value in absent.items()):
        return False
    if keep.misses(*span):
        return True
    other = "service" in absent and absent["service"] not in keep.services
    return other and (span[0] >= keep.end or span[1] < keep.end)


def _runs(groups: list[int], starts: np.ndarray) -> list[list[int]]:
    """Consecutive row groups read together, about ``_PARQUET_BLOCK_ROWS`` rows at a time."""
    runs: list[list[int]] = []
    for group in groups:
        last = runs[-1] if runs else None
        rows = 0 if last is None else int(starts[last[-1] + 1] - starts[last[0]])
        if last is not None and last[-1] + 1 == group and rows < _PARQUET_BLOCK_ROWS:
            last.append(group)
        else:
            runs.append([group])
    return runs


def _parquet_span(path: Path, keep: RowFilter) -> Kept | None:
    """An SLI Parquet file read only where its row groups' statistics say it holds instants
    of the span: the others are never read (nor validated), only counted. ``None`` when the
    file needs the precise way (a required column missing, instants not zoned timestamps,
    nested columns, a problem)."""
    try:
        labels = [name for name in pq.read_schema(path).names if name in ("service", "slo")]
        file = pq.ParquetFile(path, read_dictionary=labels)  # a partition column is not there
        schema = file.schema_arrow
        names = [name.strip() for name in schema.names]
        if frames.repeated_names(schema.names, frames.SLI.column_names):
            return None
        chosen = [name for name in schema.names if name.strip() in frames.SLI.column_names]
        absent = _absent_partitions(path, frames.SLI, names)
        if not set(frames.SLI.required_names) <= {*names, *absent} or any(
            pa.types.is_nested(schema.field(name).type) for name in chosen
        ):
            return None
        stamp = schema.field(names.index("timestamp"))
        if not pa.types.is_timestamp(stamp.type) or stamp.type.tz is None:
            return None
        leaves = file.metadata.schema
        paths = [leaves.column(i).path for i in range(len(leaves))]
        columns = {name.strip(): paths.index(name) for name in chosen}
        starts = np.cumsum(
            [0] + [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)]
        )
        wanted, bounds, skipped, later = [], [], 0, 0
        for group in range(file.num_row_groups):  # a few groups a file, not rows
            meta = file.metadata.row_group(group)
            stats = {name: meta.column(leaf).statistics for name, leaf in columns.items()}
            span = _group_span(stats)
            if span is not None:
                bounds += list(span)
            if span is None or not _outside(keep, span, absent) or not _plainly_valid(stats):
                wanted.append(group)
            else:
                skipped += int(starts[group + 1] - starts[group])
                later += int(starts[group + 1] - starts[group]) if span[0] >= keep.end else 0

        def blocks() -> Iterator[tuple[int, pd.DataFrame]]:
            for groups in _runs(wanted, starts):
                raw = _parquet_frame(file.read_row_groups(groups, columns=chosen))
                raw.columns = [str(name).strip() for name in raw.columns]
                yield int(starts[groups[0]]), raw

        kept = _validated_blocks(blocks(), path, keep, skipped, bounds, later)
        if kept is None and not wanted:
            extent = (min(bounds), max(bounds))
            return Kept(frames.empty(frames.SLI), skipped, extent, later=later)
        return kept
    except MemoryError:
        raise
    except Exception:  # a problem: the precise path names its row
        return None


def _has_quotes(path: Path) -> bool:
    """Whether any ``"`` is in the file (searched in place, without reading it into memory)."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b'"') >= 0


def _arrow_type(column: frames.Column) -> pa.DataType:
    """How the fast reading types a column: counts as int64 (a nullable one as text, so that
    an empty cell stays distinct from a number), instants and labels as dictionaries."""
    if column.kind == "count" and not column.nullable:
        return pa.int64()
    if column.categorical or column.kind == "instant":
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


def _line_numbers(path: Path, spec: frames.TableSpec) -> np.ndarray:
    """The row number of each row of a file that was read the fast way: computed only when a
    check across files has something to name."""
    raw, first_row = read_raw(path, spec)
    return _row_numbers(raw, first_row)


def _row_numbers(raw: pd.DataFrame, first_row: int | None) -> np.ndarray:
    if first_row is None:
        return raw.index.to_numpy(dtype=np.int64)
    return np.arange(first_row, first_row + len(raw))


def _read_validated(
    path: Path, spec: frames.TableSpec, keep: RowFilter | None = None
) -> tuple[Kept, Callable[[], np.ndarray]]:
    """One file as its validated canonical frame (cut to ``keep``'s rows), and the function
    giving each kept row's number in the file."""
    try:
        kept = _typed_table(path, spec, keep)
        if kept is None and keep is not None and path.suffix.lower() in _PARQUET_SUFFIXES:
            kept = _parquet_span(path, keep)
        if kept is not None:
            numbers = functools.partial(_line_numbers, path, spec)
        else:
            raw, first_row = read_raw(path, spec)
            every = _row_numbers(raw, first_row)
            raw = _with_partitions(raw, path, spec)
            kept = _cut(frames.validate(raw, spec, str(path), first_row), keep)
            del raw
            numbers = functools.partial(lambda rows: rows, every)
        if kept.positions is None:
            return kept, numbers
        return kept, functools.partial(lambda rows, at: rows()[at()], numbers, kept.positions)
    except MemoryError:
        raise out_of_memory(path) from None


def _cut(sli: pd.DataFrame, keep: RowFilter | None) -> Kept:
    """A validated frame cut to the rows ``keep`` names (all rows without it)."""
    if keep is None or sli.empty:
        return Kept(sli)
    extent = (sli["timestamp"].min(), sli["timestamp"].max())
    wanted = keep.keeps(sli)
    if wanted.all():
        return Kept(sli, 0, extent)
    later = int((sli["timestamp"] >= keep.end).sum())
    frame = sli.loc[wanted].reset_index(drop=True)
    frame["service"] = frames.drop_unused_categories(frame["service"])
    frame["slo"] = frames.drop_unused_categories(frame["slo"])
    at = functools.partial(_places, np.packbits(wanted), len(wanted))
    return Kept(frame, int((~wanted).sum()), extent, at, later)


def _unreadable(path: Path, exc: Exception) -> Problem:
    """A reader's exception as one problem, naming the row when the reader said which."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    found = _FIELD_COUNT.search(message)
    if found:
        expected, record, seen = (int(g) for g in found.groups())
        row = _record_line(path, record)
        return Problem(str(path), f"{seen} cells where the header names {expected}", row=row)
    return Problem(str(path), f"cannot read the file: {message}")


_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"(\xb5/\xfd": "zstd",
    b"PK\x03\x04": "zip",
}
"""The first bytes of the compressed formats an export may hide under a .csv name."""


def _binary_kind(path: Path) -> str | None:
    """What a file read as CSV is when it is no text, told by its first bytes: compressed,
    Parquet, an Excel workbook (``None``: it may be text)."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PAR1"):
        return "a Parquet file: name it .parquet to read it as one"
    workbook = "an Excel workbook, not CSV text: save it as CSV UTF-8"
    if head.startswith(b"\xd0\xcf\x11\xe0") or (
        head.startswith(b"PK\x03\x04") and path.suffix.lower() in (".xlsx", ".xlsm")
    ):
        return workbook
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return f"a compressed file ({name}): decompress it first (gunzip, unzstd, ...)"
    return None


def _not_utf8(path: Path) -> Problem:
    """Where a CSV file stops being UTF-8 text, as Excel's plain "CSV" (the Windows code
    page) and "Unicode Text" (UTF-16) are not: the row and column of the first byte that is
    not UTF-8, and what to save instead."""
    advice = "save the file as UTF-8 (in Excel: CSV UTF-8)"
    with path.open("rb") as handle:
        if handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return Problem(str(path), f"UTF-16 text: {advice}")
        handle.seek(0)
        lines = 0
        while chunk := handle.read(_BLOCK_BYTES) + handle.readline():  # blocks, not rows
            try:
                chunk.decode("utf-8")  # a block ending at a line break splits no character
            except UnicodeDecodeError as exc:
                begins = chunk.rfind(b"\n", 0, exc.start) + 1
                ends = chunk.find(b"\n", exc.start)
                line = lines + chunk.count(b"\n", 0, exc.start) + 1
                text = chunk[begins : None if ends < 0 else ends].decode("utf-8", "replace")
                row, column = _bad_cell(path, line, text)
                message = f"not UTF-8 text (byte 0x{chunk[exc.start]:02x}): {advice}"
                return Problem(str(path), message, row=row, column=column)
            lines += chunk.count(b"\n")
    return Problem(str(path), f"not UTF-8 text: {advice}")


def _bad_cell(path: Path, line: int, text: str) -> tuple[int, str | None]:
    """The row (the line its record starts on) and the column of an undecodable character
    (U+FFFD in ``text``, the decoded ``line``); no column when the record spans lines."""
    starts = _record_starts(path)
    if starts is not None:
        at = int(np.searchsorted(starts, line, side="right")) - 1
        record = int(starts[at])
        if record != line or text.count('"') % 2:  # even quotes: the record ends on its line
            return record, None
    if line == 1:
        return line, None
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        header = [name.strip() for name in next(csv.reader(handle), [])]
    cells = next(csv.reader([text]), [])
    bad = [i for i, cell in enumerate(cells) if "\ufffd" in cell]  # a line's cells
    return line, header[bad[0]] if bad and bad[0] < len(header) else None


def _read_csv(path: Path, spec: frames.TableSpec | None) -> pd.DataFrame:
    """Every cell of a CSV file as text, indexed by the line each record starts on; a column
    of ``spec`` named twice in the header is refused (pandas would rename the second)."""
    used = None if spec is None else spec.column_names
    required = [] if spec is None else spec.required_names
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    separator = _other_separator(header, used)
    if separator is not None:
        shown = "\\t" if separator == "\t" else separator
        message = f"the columns are separated by '{shown}', not ',': save the file as CSV"
        raise InputError(Problem(str(path), f"{message} (comma delimited)", row=1))
    repeated = frames.repeated_names(header, used)
    if repeated:
        raise InputError(
            [
                Problem(
                    str(path), f"{count} columns are named {name!r}; name each column once", 1, name
                )
                for name, count in repeated.items()
            ]
        )
    with warnings.catch_warnings():
        # A first row longer than the header would silently lose its extra cells.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            raw = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                index_col=False,
            )
        except pd.errors.ParserWarning:  # only the first data row (record 2) raises it
            named = {name.strip() for name in header}
            named |= set() if spec is None else set(hive_partitions(path, spec))
            problems = [
                Problem(
                    str(path),
                    f"more cells than the header names ({len(header)})",
                    _record_line(path, 2),
                ),
                *(
                    Problem(str(path), f"missing required column {name!r}", column=name)
                    for name in required
                    if name not in named
                ),
            ]
            raise InputError(problems) from None
    raw.index = _record_lines(path, len(raw))
    if len(raw.columns):
        candidates = raw.index[raw.iloc[:, 0] == ""]
        blank = (raw.loc[candidates] == "").all(axis=1)
        raw = raw.drop(index=blank.index[blank])
    return raw


def _other_separator(header: list[str], names: Sequence[str] | None) -> str | None:
    """The character a header of one name is separated by, when not ``,`` (Excel in many
    locales writes ``;``): split by it, it names columns of the table."""
    if len(header) != 1:
        return None
    for separator in (";", "\t", "|"):
        parts = {part.strip() for part in header[0].split(separator)}
        if len(parts) > 1 and (names is None or parts & set(names)):
            return separator
    return None


def _read_parquet(path: Path, columns: Sequence[str] | None) -> pd.DataFrame:
    """The columns of a Parquet file that ``columns`` names (all when ``None``), refusing
    repeated names and columns of lists, structs or maps (one value per cell is expected)."""
    schema = pq.read_schema(path)
    repeated = frames.repeated_names(schema.names, columns)
    if repeated:
        raise InputError(
            [
                Problem(
                    str(path),
                    f"{count} columns are named {name!r}; name each column once",
                    None,
                    name,
                )
                for name, count in repeated.items()
            ]
        )
    wanted = None if columns is None else set(columns)
    chosen = [name for name in schema.names if wanted is None or name.strip() in wanted]
    table = pq.read_table(path, columns=chosen)
    problems = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_nested(field.type):
            present = column.is_valid().to_numpy(zero_copy_only=False)
            problems += frames.row_problems(
                str(path),
                np.arange(1, 1 + len(present)),
                present,
                field.name.strip(),
                f"a {field.type} value, not a single value",
            )
    if problems:
        raise InputError(problems)
    return _parquet_frame(table)


def _parquet_frame(table: pa.Table) -> pd.DataFrame:
    """A Parquet file's columns as a frame's: a column pandas wrote as the frame's index
    (``df.set_index("timestamp").to_parquet(...)``) stays a column."""
    frame = table.to_pandas()
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    return frame


def _record_starts(path: Path) -> np.ndarray | None:
    """The line on which each record of a CSV file starts (the header's is 1), or ``None``
    when no cell is quoted, so that every line is a record.

    A quoted cell may hold line breaks (a title or description exported with newlines), and
    then a record spans several lines: a line break ends a record only outside quotes, i.e.
    after an even number of ``"`` (an escaped ``""`` counts twice and keeps the parity). A
    blank line is a record of its own, as pandas counts it.
    """
    data = np.fromfile(path, dtype=np.uint8)
    quotes = data == ord('"')
    if not quotes.any():
        return None
    breaks = np.flatnonzero(data == ord("\n"))
    # The parity of the quotes before each break (a uint8 count wraps at 256, keeping it).
    ends = breaks[np.cumsum(quotes, dtype=np.uint8)[breaks] % 2 == 0]
    # Record k + 1 starts after the k-th record-ending break: its line is 1 + the breaks before.
    starts = np.concatenate([[1], np.searchsorted(breaks, ends, side="right") + 1])
    return starts[:-1] if len(ends) and ends[-1] == len(data) - 1 else starts


def _record_line(path: Path, record: int) -> int:
    """The line on which record ``record`` (1 for the header) starts."""
    starts = _record_starts(path)
    if starts is None:
        return record
    return int(starts[record - 1]) if record <= len(starts) else record


def _record_lines(path: Path, rows: int) -> pd.Index:
    """The line of the file on which each of the ``rows`` data records starts: line 2, 3, ...
    (line 1 is the header), later after a quoted cell with line breaks. If the count of
    records does not match what the parser read, the simple numbering is used."""
    simple = pd.RangeIndex(2, 2 + rows)
    starts = _record_starts(path)
    if starts is None or len(starts) - 1 < rows:
        return simple
    return pd.Index(starts[1 : 1 + rows])


def read_table(paths: Sequence[Path], spec: frames.TableSpec) -> pd.DataFrame:
    """Read and validate every file of one input, then combine them into one canonical frame."""
    return read_kept(paths, spec).frame


def read_kept(paths: Sequence[Path], spec: frames.TableSpec, keep: RowFilter | None = None) -> Kept:
    """Read and validate every file of one input, keep the rows ``keep`` names (SLI only),
    then combine them into one canonical frame.

    Each file is validated on its own, so a problem names the file and row it is in; problems
    from all files are reported together. Keys must be unique across the files too, and a
    person's day (work log) must stay within the hours a day has across them.
    """
    parts = []
    rows = []
    problems: list[Problem] = []
    left_out, later, extents = 0, 0, []
    for path in paths:
        try:
            kept, numbers = _read_validated(path, spec, keep)
            parts.append(kept.frame)
            rows.append(numbers)
            left_out += kept.left_out
            later += kept.later
            extents += [] if kept.extent is None else list(kept.extent)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    extent = (min(extents), max(extents)) if extents else None
    if len(parts) == 1:
        return Kept(parts[0], left_out, extent, later=later)
    combined = frames.concat(parts)
    origin = _Origin(paths, np.repeat(np.arange(len(paths)), [len(p) for p in parts]), rows)
    if spec.unique:
        _check_unique_across(combined, spec, origin)
    if spec is frames.WORKLOG:
        _check_person_days_across(combined, origin)
    if spec is frames.SLI:
        excess = np.flatnonzero(frames.sli_sum_excess(combined))
        if excess.size:
            message = f"{frames.SUM_EXCESS_MESSAGE}, counting every file of the input"
            summary = "{hidden} more SLOs whose events add up to more than 2^53 across the files"
            raise InputError(origin.problems(excess, "total", lambda pos: message, summary))
    return Kept(combined, left_out, extent, later=later)


class _Origin:
    """The file and row each row of a combined frame came from."""

    def __init__(
        self, paths: Sequence[Path], file_of: np.ndarray, rows: list[Callable[[], np.ndarray]]
    ):
        self.paths = paths
        self.file_of = file_of
        self.rows = rows

    @functools.cached_property
    def row_of(self) -> np.ndarray:
        """Each row's number in its file (asked only when there is a problem to name)."""
        return np.concatenate([numbers() for numbers in self.rows])

    def problems(
        self, positions: np.ndarray, column: str, message: Callable[[int], str], summary: str
    ) -> list[Problem]:
        """One problem per position (the first few), each naming its file and row, then
        ``summary`` for the rest (``{hidden}`` is their count)."""
        found = [
            Problem(
                str(self.paths[self.file_of[pos]]),
                message(pos),
                row=int(self.row_of[pos]),
                column=column,
            )
            for pos in positions[: frames.PROBLEMS_SHOWN_PER_CHECK]
        ]
        hidden = positions.size - len(found)
        if hidden > 0:
            where = " + ".join(str(p) for p in self.paths)
            found.append(Problem(where, summary.format(hidden=hidden)))
        return found


def _check_unique_across(combined: pd.DataFrame, spec: frames.TableSpec, origin: _Origin) -> None:
    """Raise one problem per row (the first few) whose key another file already has.

    Each file was checked on its own, so every repeat here is across files; a problem
    names the row, its file, and the file and row where the key was first seen.
    """
    if not frames.has_repeated_keys(combined, spec):
        return
    key = list(spec.unique)
    duplicated = combined.duplicated(key, keep="first").to_numpy()
    if not duplicated.any():
        return
    keys = combined[key].reset_index(drop=True)
    first = keys.loc[~keys.duplicated(keep="first")]
    located = keys.merge(
        first.assign(_file=origin.file_of[first.index], _row=origin.row_of[first.index]),
        on=key,
        how="left",
    )
    label = " + ".join(spec.unique)

    def message(pos: int) -> str:
        value = ", ".join(str(keys.iloc[pos][k]) for k in key)
        seen = origin.paths[int(located["_file"].iloc[pos])]
        return (
            f"duplicate {label} {value} (first seen in {seen} row {int(located['_row'].iloc[pos])})"
        )

    summary = f"{{hidden}} more rows repeat a key ({label}) found in another file"
    raise InputError(origin.problems(np.flatnonzero(duplicated), key[0], message, summary))


def _check_person_days_across(combined: pd.DataFrame, origin: _Origin) -> None:
    """Raise one problem per person's day whose hours pass the limit only when every file of
    the input is counted (each file on its own stayed within it)."""
    crossing, day_total = frames.person_day_excess(combined)
    if not crossing.any():
        return
    messages = frames.person_day_messages(combined, day_total)
    problems = origin.problems(
        np.flatnonzero(crossing),
        "hours",
        lambda pos: f"{messages.iloc[pos]}, counting every file of the input",
        "{hidden} more people's days with too many hours across the files",
    )
    raise InputError(problems)


def cost_format(path: Path) -> frames.TableSpec:
    """The format of one cost file, told by its header: a FOCUS export when it names
    ``BilledCost`` and ``ChargePeriodStart``, else the canonical ``cost.csv``."""
    try:
        if path.suffix.lower() in _PARQUET_SUFFIXES:
            names = pq.read_schema(path).names
        else:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                names = next(csv.reader(handle), [])
    except (OSError, ValueError):  # unreadable: read_raw names the problem
        return frames.CANONICAL_COST
    named = {str(name).strip() for name in names}
    return (
        frames.FOCUS_COST
        if all(m in named for m in frames.FOCUS_MARKERS)
        else frames.CANONICAL_COST
    )


def read_cost(paths: Sequence[Path], config: Config) -> pd.DataFrame:
    """Every cost file of the input (FOCUS exports or canonical files, told apart by their
    header) read, validated and combined into the canonical ``COST`` frame.

    Each row's currency must be the report's (``cost.currency``, else the first charge's) or
    one ``cost.rates`` converts from; every other row is a problem naming its file and row.
    """
    settings = config.cost
    parts, rows, columns, problems = [], [], [], []
    for path in paths:
        spec = cost_format(path)
        try:
            kept, numbers = _read_validated(path, spec)
            table = kept.frame
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        if spec is frames.FOCUS_COST:
            parts.append(frames.focus_cost(table, settings.tag))
            columns.append("BillingCurrency")
        else:
            parts.append(frames.canonical_cost(table))
            columns.append("currency")
        rows.append(numbers)
    if problems:
        raise InputError(problems)
    combined = frames.concat(parts) if parts else frames.empty(frames.COST)
    currency = frames.reporting_currency(combined, settings.currency)
    for path, part, numbers, column in zip(paths, parts, rows, columns, strict=True):
        wrong = frames.unconvertible(part, currency, settings.rates)
        if not wrong.any():
            continue
        message = (
            "currency "
            + part["currency"].fillna("")
            + f" is not the report's ({currency}) and cost.rates gives no rate for it"
        )
        problems += frames.row_problems(str(path), numbers(), wrong, column, message)
    if problems:
        raise InputError(problems)
    return combined.reset_index(drop=True)


def load(source: Source, config: Config, role: str, months: Sequence[Month]) -> pd.DataFrame:
    """Loader for ``kind: csv`` (and Parquet files, recognised by their suffix)."""
    from reliability.sources import ROLES

    return read_table(source_paths(source.path, config, role), ROLES[role])
