"""Alert policies as YAML: the format's models and the policies that ship with the package.

``workbook.yaml`` (the default: the SRE Workbook's four window pairs) and ``pyrra.yaml`` (Pyrra's
windows, each with its ``for``) live beside this module; a config may define more under
``alert_policies:`` in the same format (docs/rules.md). ``to_policy`` turns a validated
document into the ``metrics.policy.AlertPolicy`` the replay and the rules use.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reliability.metrics.policy import (
    DEFAULT_SLO_PERIOD,
    AlertPolicy,
    AlertWindow,
    assign_tiers,
    factor_from_share,
)
from reliability.source_options import parse_duration

BUILTIN_NAMES: tuple[str, ...] = ("workbook", "pyrra")
"""The policies shipped as ``reliability/policies/<name>.yaml``; the first is the default."""
DEFAULT_POLICY = BUILTIN_NAMES[0]
MINUTE = pd.Timedelta(minutes=1)


def _whole_minutes(text: str) -> str:
    value = parse_duration(text)
    if value % MINUTE:
        raise ValueError("must be a whole number of minutes, e.g. 5m or 1h")
    return text


class WindowSpec(BaseModel):
    """One window of a policy document."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    severity: Literal["page", "ticket"]
    long_window: str
    short_window: str
    budget_share: float | None = Field(default=None, gt=0, le=1)
    factor: float | None = Field(default=None, gt=0)
    for_: str | None = Field(default=None, alias="for")
    tier: str | None = Field(default=None, min_length=1)

    @field_validator("long_window", "short_window", "for_", mode="before")
    @classmethod
    def _durations(cls, value: object) -> str | None:
        return None if value is None else _whole_minutes(str(value))

    @model_validator(mode="after")
    def _one_threshold(self) -> WindowSpec:
        if (self.budget_share is None) == (self.factor is None):
            raise ValueError("give either budget_share or factor (one of them)")
        if parse_duration(self.short_window) >= parse_duration(self.long_window):
            raise ValueError("short_window must be shorter than long_window")
        return self


class PolicySpec(BaseModel):
    """A policy document: its windows and the SLO period budget shares refer to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    description: str = ""
    slo_period: str = "30d"
    windows: list[WindowSpec] = Field(min_length=1)

    @field_validator("slo_period", mode="before")
    @classmethod
    def _period(cls, value: object) -> str:
        return _whole_minutes(str(value))


def to_policy(
    name: str, spec: PolicySpec, tiers: dict[str, tuple[str, ...]] | None = None
) -> AlertPolicy:
    """The ``AlertPolicy`` a validated document describes, tiers filled from ``tiers``."""
    period = parse_duration(spec.slo_period) if spec.slo_period else DEFAULT_SLO_PERIOD
    windows = []
    for window in spec.windows:
        long_window = parse_duration(window.long_window)
        factor = (
            float(window.factor)
            if window.factor is not None
            else factor_from_share(float(window.budget_share or 0), period, long_window)
        )
        windows.append(
            AlertWindow(
                severity=window.severity,
                long_window=long_window,
                short_window=parse_duration(window.short_window),
                factor=factor,
                for_=parse_duration(window.for_) if window.for_ else pd.Timedelta(0),
                tier=window.tier or "",
                budget_share=window.budget_share,
            )
        )
    return AlertPolicy(
        name=name,
        windows=assign_tiers(tuple(windows), tiers),
        slo_period=period,
        description=spec.description.strip(),
    )


@cache
def builtin_spec(name: str) -> PolicySpec:
    """The shipped policy document ``name`` (one of ``BUILTIN_NAMES``)."""
    text = files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return PolicySpec.model_validate(yaml.safe_load(text))


def builtin_policy(name: str = DEFAULT_POLICY) -> AlertPolicy:
    """A shipped policy with the default tiers."""
    return to_policy(name, builtin_spec(name))
