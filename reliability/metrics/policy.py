"""Alert policies as data: the multi-window burn-rate conditions an SLO is alerted on.

One ``AlertPolicy`` drives the alert replay (``metrics.slo``), the report's burn-rate
thresholds and the Prometheus rules ``reliability rules`` writes, so what the report replays
is what production pages on. A policy is a list of windows, each (severity, long window,
short window, burn-rate factor, optional ``for``, alert tier). Policies are read from YAML
(``reliability.policies``: the SRE Workbook's four pairs and a Pyrra-style set ship with the
package); this module holds only the data and the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import pandas as pd

Severity = Literal["page", "ticket"]
SEVERITIES: tuple[Severity, ...] = ("page", "ticket")
"""Alert severities, most urgent first: a page wakes someone up, a ticket waits."""
DEFAULT_SLO_PERIOD = pd.Timedelta(days=30)
"""The SLO period budget shares are read against (the Workbook's and Sloth's 30 days).
Fixed, not the calendar month's length: the rules running in production do not change with
the month, and the replay must raise what they raise."""
DEFAULT_TIERS: dict[str, tuple[str, ...]] = {"page": ("P1", "P2"), "ticket": ("P3",)}
"""Alert tier of each window by severity, fastest window first: the fastest page is P1, the
other pages P2, tickets P3 (the last tier listed serves the remaining windows)."""
NO_HOLD = pd.Timedelta(0)
"""A window without ``for``: it fires at the first evaluation its condition holds."""
FACTOR_DIGITS = 10
"""Significant digits a factor computed from a budget share is rounded to, so 0.02 of 30
days in 1 hour is exactly 14.4 in the replay and in the generated rules alike."""


@dataclass(frozen=True)
class AlertWindow:
    """One multi-window burn-rate condition (SRE Workbook ch. 5).

    It fires at an evaluation when the burn rate over both ``long_window`` and
    ``short_window`` exceeds ``factor``, and has done so for ``for_`` (Prometheus' ``for``).
    """

    severity: Severity
    long_window: pd.Timedelta
    short_window: pd.Timedelta
    factor: float
    """Burn-rate threshold: 1 spends exactly the budget over the SLO period."""
    for_: pd.Timedelta = NO_HOLD
    tier: str = ""
    budget_share: float | None = None
    """Share of the period's budget burned in ``long_window`` at the threshold, when the
    policy gave it that way (``factor = budget_share * slo_period / long_window``)."""

    @property
    def lookback(self) -> pd.Timedelta:
        """History an evaluation of this window reads: its longest window plus ``for``."""
        return max(self.long_window, self.short_window) + self.for_


@dataclass(frozen=True)
class AlertPolicy:
    """A named set of burn-rate windows with the SLO period their factors refer to."""

    name: str
    windows: tuple[AlertWindow, ...]
    slo_period: pd.Timedelta = DEFAULT_SLO_PERIOD
    description: str = ""

    @property
    def lookback(self) -> pd.Timedelta:
        """History before a month its replay needs: the longest window plus its ``for``."""
        return max(window.lookback for window in self.windows)

    def severity_windows(self, severity: str) -> tuple[AlertWindow, ...]:
        """The windows of ``severity``, fastest (highest factor) first."""
        chosen = [w for w in self.windows if w.severity == severity]
        return tuple(sorted(chosen, key=lambda w: -w.factor))


def factor_from_share(share: float, slo_period: pd.Timedelta, long_window: pd.Timedelta) -> float:
    """Burn-rate factor of a budget share burned in ``long_window``: 0.02 of 30d in 1h is 14.4."""
    return float(f"{share * (slo_period / long_window):.{FACTOR_DIGITS}g}")


def assign_tiers(
    windows: tuple[AlertWindow, ...], tiers: dict[str, tuple[str, ...]] | None = None
) -> tuple[AlertWindow, ...]:
    """``windows`` with every missing tier filled from ``tiers`` (default ``DEFAULT_TIERS``):
    per severity, fastest window first, the last tier listed serving the rest."""
    tiers = DEFAULT_TIERS if tiers is None else {**DEFAULT_TIERS, **tiers}
    rank: dict[int, int] = {}
    for severity in {w.severity for w in windows}:
        ordered = sorted(
            (i for i, w in enumerate(windows) if w.severity == severity),
            key=lambda i: -windows[i].factor,
        )
        rank.update({i: position for position, i in enumerate(ordered)})
    result = []
    for i, window in enumerate(windows):
        if not window.tier:
            names = tiers[window.severity]
            window = replace(window, tier=names[min(rank[i], len(names) - 1)])
        result.append(window)
    return tuple(result)


def _minutes(value: pd.Timedelta) -> int:
    return int(value // pd.Timedelta(minutes=1))


WORKBOOK = AlertPolicy(
    name="workbook",
    description="SRE Workbook: page on 2% of a 30-day budget in 1h or 5% in 6h, ticket on 10% "
    "in 1d or 3d.",
    windows=assign_tiers(
        (
            AlertWindow("page", pd.Timedelta(hours=1), pd.Timedelta(minutes=5), 14.4,
                        budget_share=0.02),
            AlertWindow("page", pd.Timedelta(hours=6), pd.Timedelta(minutes=30), 6.0,
                        budget_share=0.05),
            AlertWindow("ticket", pd.Timedelta(days=1), pd.Timedelta(hours=2), 3.0,
                        budget_share=0.10),
            AlertWindow("ticket", pd.Timedelta(days=3), pd.Timedelta(hours=6), 1.0,
                        budget_share=0.10),
        )
    ),
)  # fmt: skip
"""The default policy; ``reliability/policies/workbook.yaml`` is the same, as data."""


def burn_rate_thresholds(policy: AlertPolicy = WORKBOOK) -> pd.DataFrame:
    """One row per window of ``policy``, fastest first: severity, tier, long and short window
    (as ``Timedelta`` and as ``1h``-style labels), factor and ``for``; what a burn-rate chart
    draws its threshold lines from."""
    windows = sorted(policy.windows, key=lambda w: (SEVERITIES.index(w.severity), -w.factor))
    return pd.DataFrame(
        {
            "severity": [w.severity for w in windows],
            "tier": [w.tier for w in windows],
            "long_window": pd.to_timedelta([w.long_window for w in windows]),
            "short_window": pd.to_timedelta([w.short_window for w in windows]),
            "long_label": [duration_label(w.long_window) for w in windows],
            "short_label": [duration_label(w.short_window) for w in windows],
            "factor": [w.factor for w in windows],
            "for": pd.to_timedelta([w.for_ for w in windows]),
        }
    )


def duration_label(value: pd.Timedelta) -> str:
    """A duration the way Prometheus and Sloth write it, in the largest unit that divides it:
    ``5m``, ``1h``, ``3d``, ``90m``."""
    minutes = _minutes(value)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes and minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"
