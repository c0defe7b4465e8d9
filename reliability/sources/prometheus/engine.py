"""Which query engine answers, from ``/api/v1/status/buildinfo``, and whether its counts are exact.

``increase(x[step])`` is not computed the same way everywhere (docs/sources.md, "Range
selectors"):

* Prometheus 2.x takes the samples in ``[t - step, t]`` (both ends included) and extrapolates
  only when no sample sits on an edge: with samples on the step boundaries a step's count is
  the exact difference of two samples.
* Prometheus 3.x takes ``(t - step, t]`` (left-open): the sample at ``t - step`` is left out
  and the count is always extrapolated from the samples inside, so it is an estimate even on
  aligned samples. The source refuses such a server rather than print rounded estimates.
* VictoriaMetrics' MetricsQL ``increase`` subtracts the last sample before the window and
  never extrapolates: exact wherever the samples sit.

VictoriaMetrics answers ``buildinfo`` without Prometheus' build fields: ``{}`` (1.79) or only
``{"version": "2.24.0"}`` (the Prometheus API version it emulates). Thanos, Mimir and Cortex
embed Prometheus' engine and report their own version; which Prometheus version they embed is
not in the answer, so the source makes no claim about them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reliability.errors import Problem

PROMETHEUS_BUILD_FIELDS = ("revision", "branch", "goVersion")
"""Fields every Prometheus server (and Thanos) puts in its ``buildinfo`` answer."""
VICTORIAMETRICS_API_VERSION = "2.24.0"
"""The version VictoriaMetrics reports in ``buildinfo`` (that of the API it emulates)."""


@dataclass(frozen=True)
class Engine:
    """The server's query engine as far as ``buildinfo`` tells: name and version."""

    name: str
    version: str | None = None

    @property
    def title(self) -> str:
        """``Prometheus 2.42.0``, ``VictoriaMetrics``, ``an unidentified server``."""
        return f"{self.name} {self.version}" if self.version else self.name

    @property
    def major(self) -> int | None:
        found = re.match(r"v?(\d+)\.", self.version or "")
        return int(found.group(1)) if found else None

    @property
    def left_open_extrapolating(self) -> bool:
        """Whether every ``increase`` is extrapolated over a left-open window (Prometheus 3+)."""
        return self.name == "Prometheus" and (self.major or 0) >= 3


UNKNOWN = Engine("an unidentified server")


def identify(data: Any) -> Engine:
    """The engine a ``buildinfo`` answer's ``data`` stands for (``None``: no answer)."""
    if not isinstance(data, dict):
        return UNKNOWN
    version = data.get("version")
    version = str(version) if version is not None else None
    application = data.get("application")
    if application:
        return Engine(str(application), version)
    if not data or (set(data) == {"version"} and version == VICTORIAMETRICS_API_VERSION):
        return Engine("VictoriaMetrics")
    if all(name in data for name in PROMETHEUS_BUILD_FIELDS):
        engine = Engine("Prometheus", version)
        if engine.major is not None and engine.major >= 2:
            return engine
        return Engine("a Prometheus-compatible server", version)  # Thanos reports 0.x
    return Engine("a Prometheus-compatible server", version)


def refusal(engine: Engine, where: str) -> Problem | None:
    """Why the source will not count events on ``engine``, or ``None``."""
    if not engine.left_open_extrapolating:
        return None
    return Problem(
        where,
        f"{engine.title} evaluates increase() over left-open windows and extrapolates every "
        "step's count from the samples inside it, so the counts would be estimates, not the "
        "events that happened; read the SLOs from a server that counts exactly (Prometheus "
        "2.x with samples on the step boundaries, or VictoriaMetrics), see docs/sources.md "
        '"Range selectors"',
    )
