"""What every source plugin is: its options model, the roles it serves, and its loader.

``Plugin.load`` is the one door between a source and the rest of the program: every error,
data-quality note and text column a source hands back passes ``secrets.scrub`` there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import pandas as pd

from reliability import frames
from reliability.config import Config
from reliability.errors import ReliabilityError
from reliability.period import Span
from reliability.source_options import SourceOptions, kind_of
from reliability.sources.secrets import scrub_all, scrub_error, scrub_frame

ROLES: dict[str, frames.TableSpec] = {
    "metrics": frames.SLI,
    "incidents": frames.INCIDENTS,
    "deployments": frames.DEPLOYMENTS,
    "worklog": frames.WORKLOG,
    "cost": frames.COST,
    "alerts": frames.ALERTS,
}
"""Each config source role and the canonical table it yields."""


@dataclass(frozen=True)
class LoadRequest:
    """What a loader is asked for: one role of the config, over one span of instants."""

    config: Config
    """Services, SLOs, time zone, ..."""
    role: str
    """``metrics``, ``incidents``, ``deployments``, ``worklog``, ``cost`` or ``alerts``."""
    span: Span
    """UTC instants ``[start, end)`` to load: the months plus a lookback before them, so
    ``start`` may fall inside a month."""

    @property
    def spec(self) -> frames.TableSpec:
        """The canonical table the role yields."""
        return ROLES[self.role]


@dataclass
class Loaded:
    """A loader's answer: the canonical frame and its data-quality findings."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    """Findings (server warnings, gaps, skipped records), one sentence each."""
    extent: tuple[pd.Timestamp, pd.Timestamp] | None = None
    """The first and last instant of the input's rows, where the loader kept fewer of them."""
    left_out: int = 0
    """Rows the input holds that the run does not need (outside the span, other services)."""
    later: int = 0
    """Of those, the rows dated at or after the span's end."""


OptionsT = TypeVar("OptionsT", bound=SourceOptions)


@dataclass(frozen=True)
class Plugin(Generic[OptionsT]):
    """A source kind: the model of its options (which names the roles it serves) and the
    function that loads a role's rows for a span."""

    Options: type[OptionsT]
    loader: Callable[[OptionsT, LoadRequest], Loaded]
    answers_for_span: bool = False
    """Whether the source answers for the whole span it is asked about (a server queried for
    it, the sample): then no row in a month means nothing happened, where a file's rows may
    simply end before the month."""

    @property
    def kind(self) -> str:
        return kind_of(self.Options)

    @property
    def roles(self) -> frozenset[str]:
        return self.Options.roles

    def load(self, options: OptionsT, request: LoadRequest) -> Loaded:
        """Load ``request``; what comes back (errors included) has every secret scrubbed."""
        try:
            loaded = self.loader(options, request)
        except ReliabilityError as exc:
            raise scrub_error(exc) from None
        return replace(loaded, frame=scrub_frame(loaded.frame), notes=scrub_all(loaded.notes))
