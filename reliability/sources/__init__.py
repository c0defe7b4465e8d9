"""Sources: the only code that reads files or talks to servers. Each returns canonical frames.

A source kind is a loader in ``LOADERS``; adding one never touches ``metrics/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reliability import frames
from reliability.config import Config, Source, load_config
from reliability.errors import InputError, Problem
from reliability.frames import Frames
from reliability.period import Month, Span

ROLES: dict[str, frames.TableSpec] = {
    "metrics": frames.SLI,
    "incidents": frames.INCIDENTS,
    "deployments": frames.DEPLOYMENTS,
    "worklog": frames.WORKLOG,
}
"""Each config source role and the canonical table it yields."""


@dataclass
class Loaded:
    """What a loader returns when it has findings to report beside its frame."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    """Data-quality findings (server warnings, gaps, skipped records), one sentence each."""


Loader = Callable[[Source, Config, str, Sequence[Month]], "pd.DataFrame | Loaded"]


def _lazy(module: str) -> Loader:
    """A loader imported on first use, so a source's client library loads only when used."""

    def load(source: Source, config: Config, role: str, months: Sequence[Month]):
        from importlib import import_module

        return import_module(f"reliability.sources.{module}").load(source, config, role, months)

    return load


LOADERS: dict[str, Loader] = {
    "csv": _lazy("files"),
    "parquet": _lazy("files"),
    "sample": _lazy("sample"),
    "prometheus": _lazy("prometheus"),
    "pagerduty": _lazy("pagerduty"),
    "statuspage": _lazy("statuspage"),
    "github_deployments": _lazy("github"),
}
"""Every source kind the config may name, and its loader."""


def load_frames(config: Config, span: Span) -> Frames:
    """Load every configured source for ``span`` (rows outside it may come back too).

    Problems from all sources are gathered and raised together, so one run lists them all.
    """
    loaders = LOADERS
    result = Frames()
    problems: list[Problem] = []
    attribute = {"metrics": "sli"}
    for role in ROLES:
        source: Source | None = getattr(config.sources, role)
        if source is None:
            continue
        loader = loaders.get(source.kind)
        if loader is None:
            known = ", ".join(sorted(loaders))
            problems.append(
                Problem("config", f"sources.{role}.kind: unknown kind {source.kind!r} ({known})")
            )
            continue
        try:
            loaded = loader(source, config, role, span if source.kind == "sample" else span.months)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        if isinstance(loaded, Loaded):
            result.notes.extend(loaded.notes)
            loaded = loaded.frame
        setattr(result, attribute.get(role, role), loaded)
    if problems:
        raise InputError(problems)
    return result


def config_or_sample(path: str | Path | None) -> Config:
    """The config at ``path``, or the built-in sample organisation when no path is given."""
    if path is not None and not str(path).strip():
        raise InputError(Problem("--config", "empty path (leave --config out for the sample)"))
    if path is None:
        from reliability.sources.sample import sample_config

        return sample_config()
    return load_config(path)
