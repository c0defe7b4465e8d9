"""The sources that need no server: canonical CSV and Parquet files, and the built-in sample
organisation (``kind: csv``, ``parquet`` and ``sample``)."""

from __future__ import annotations

from pathlib import Path

import reliability.sources.files as files
from reliability.config import Config
from reliability.source_options import CsvOptions, ParquetOptions, SampleOptions
from reliability.sources.base import Loaded, LoadRequest, Plugin


def table_paths(options: CsvOptions | ParquetOptions, config: Config, role: str) -> list[Path]:
    """The files a ``csv``/``parquet`` source names (globs expanded, relative to the config)."""
    return files.source_paths(options.path, config, role)


def _load_tables(options: CsvOptions | ParquetOptions, request: LoadRequest) -> Loaded:
    """Every file of the source, read and validated; of the SLI rows only the span's, of the
    configured services, are kept (the caller cuts the other inputs to the months)."""
    paths = table_paths(options, request.config, request.role)
    if request.role == "cost":
        return Loaded(files.read_cost(paths, request.config))
    keep = None
    if request.role == "metrics":
        services = frozenset(service.name for service in request.config.services)
        keep = files.RowFilter(request.span.start, request.span.end, services)
    kept = files.read_kept(paths, request.spec, keep)
    return Loaded(kept.frame, extent=kept.extent, left_out=kept.left_out, later=kept.later)


def _load_sample(options: SampleOptions, request: LoadRequest) -> Loaded:
    """The sample organisation's rows of the role over the span, up to now."""
    from reliability.sources.sample import load_span

    if request.role == "cost":
        from reliability.sources.sample import load_cost

        return Loaded(load_cost(request.span, options.services, tag=request.config.cost.tag))
    return Loaded(load_span(request.role, request.span, options.services))


PLUGINS: dict[str, Plugin] = {
    "csv": Plugin(CsvOptions, _load_tables),
    "parquet": Plugin(ParquetOptions, _load_tables),
    "sample": Plugin(SampleOptions, _load_sample, answers_for_span=True),
}
