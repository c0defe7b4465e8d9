"""Incident response: time to acknowledge, resolve and restore, and what is a page.

Durations are in minutes. An incident with no ``acknowledged_at`` is left out of MTTA and one
with no ``resolved_at`` is left out of MTTR (and counted as unresolved). Each figure is reported
as ``n``, median, p90 (linear interpolation, pandas' default quantile) and mean, with a 95%
bootstrap confidence interval for the median: incident durations are heavy-tailed, so the mean
alone misleads and small samples say little about trends (Davidovič, *Incident Metrics in SRE*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MINUTE = pd.Timedelta(minutes=1)
SMALL_SAMPLE = 10
"""Below this many incidents the report says the sample is too small to show a trend."""
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE_LEVEL = 0.95
FALLBACK_PAGE_SEVERITIES = ("sev0", "sev1", "sev2", "p0", "p1", "p2", "critical", "major", "high")
"""Severity labels taken as the two most severe levels when no ``severities`` are configured
(compared case-insensitively, ignoring ``-``, ``_`` and spaces: ``SEV-1`` is ``sev1``)."""

GROUP_COLUMNS = [
    "count",
    "unresolved",
    "mtta_n",
    "mtta_median_minutes",
    "mtta_p90_minutes",
    "mtta_mean_minutes",
    "mttr_n",
    "mttr_median_minutes",
    "mttr_p90_minutes",
    "mttr_mean_minutes",
    "mttr_median_ci_low",
    "mttr_median_ci_high",
]
_COUNT_COLUMNS = ("count", "unresolved", "mtta_n", "mttr_n")


@dataclass(frozen=True)
class DurationStats:
    """Summary of a set of durations in minutes; every figure is ``None`` when ``n`` is 0."""

    n: int
    median: float | None
    p90: float | None
    mean: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ResponseSummary:
    """Incident response for one period: overall MTTA/MTTR and tables per severity and service."""

    count: int
    unresolved: int
    mtta: DurationStats
    mttr: DurationStats
    by_severity: pd.DataFrame
    by_service: pd.DataFrame


def _instants(frame: pd.DataFrame, column: str) -> pd.Series:
    """An optional instant column, or all-NaT when the frame does not have it."""
    if column in frame.columns:
        return frame[column]
    return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")


def incident_durations(incidents: pd.DataFrame) -> pd.DataFrame:
    """The incidents plus ``tta_minutes``, ``ttr_minutes`` and ``restore_minutes`` (NaN if unknown).

    ``restore_minutes`` measures from impact start (``started_at``, else ``created_at``) to
    ``resolved_at``; a ``started_at`` after ``resolved_at`` is a data error and gives NaN.
    """
    created = incidents["created_at"]
    resolved = incidents["resolved_at"]
    impact_start = _instants(incidents, "started_at").fillna(created)
    restore = (resolved - impact_start) / MINUTE
    return incidents.assign(
        tta_minutes=((_instants(incidents, "acknowledged_at") - created) / MINUTE).astype(float),
        ttr_minutes=((resolved - created) / MINUTE).astype(float),
        restore_minutes=restore.astype(float).mask(restore < 0),
    )


def _median_ci(values: np.ndarray, seed: int) -> tuple[float | None, float | None]:
    """95% percentile-bootstrap interval for the median; ``None`` below 2 values."""
    if values.size < 2:
        return None, None
    values = np.sort(values)  # the resamples then do not depend on the order of the rows
    if np.all(values == values[0]):
        # Every resample has the same median.
        return float(values[0]), float(values[0])
    # The percentile bootstrap as scipy.stats.bootstrap(method="percentile") draws it (one
    # matrix of resample indices from the generator, the linear quantiles of the resamples'
    # medians), in numpy: the same interval, without scipy's import on every run.
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, (BOOTSTRAP_RESAMPLES, values.size), dtype=np.int64)
    medians = np.median(values[picks], axis=-1)
    alpha = (1 - CONFIDENCE_LEVEL) / 2
    low, high = np.quantile(medians, [alpha, 1 - alpha])
    # Medians of resamples lie within the data; clip the rounding of averaged middle values.
    low = np.clip(low, values[0], values[-1])
    high = np.clip(high, values[0], values[-1])
    return float(low), float(high)


def duration_stats(minutes: pd.Series, *, seed: int = 0, confidence: bool = True) -> DurationStats:
    """n, median, p90, mean and a bootstrap CI of the median of durations, NaN dropped.

    ``confidence=False`` skips the bootstrap (the CI is then ``None``), for trend figures.
    """
    values = pd.Series(minutes, dtype="float64").dropna()
    if values.empty:
        return DurationStats(0, None, None, None, None, None)
    ci_low, ci_high = _median_ci(values.to_numpy(), seed) if confidence else (None, None)
    return DurationStats(
        n=int(values.size),
        median=float(values.median()),
        p90=float(values.quantile(0.9)),
        mean=float(values.mean()),
        ci_low=ci_low,
        ci_high=ci_high,
    )


def too_small_for_trend(n: int) -> bool:
    """Whether ``n`` incidents are too few to read a trend from (fewer than ``SMALL_SAMPLE``)."""
    return n < SMALL_SAMPLE


def severity_order(labels: pd.Series | list[str], severities: list[str] | None) -> list[str]:
    """Distinct labels, configured ones first in config order, then the rest alphabetically."""
    configured = list(dict.fromkeys(severities or []))
    rank = {label.strip().casefold(): i for i, label in enumerate(configured)}
    present = pd.unique(pd.Series(labels, dtype="string").dropna()).tolist()
    present_keys = {label.strip().casefold() for label in present}
    absent = [label for label in configured if label.strip().casefold() not in present_keys]
    return sorted(present + absent, key=lambda s: (rank.get(s.strip().casefold(), len(rank)), s))


def _group_table(
    durations: pd.DataFrame, key: str, order: list[str], seed: int, confidence: bool = True
) -> pd.DataFrame:
    """Per value of ``key``: counts, MTTA and MTTR figures, and the MTTR median's CI."""
    groups = durations[key].astype("string")
    tta = durations["tta_minutes"].groupby(groups, sort=False)
    ttr = durations["ttr_minutes"].groupby(groups, sort=False)
    if confidence:
        ci = ttr.agg(lambda s: _median_ci(s.dropna().to_numpy(dtype=float), seed))
    else:
        ci = ttr.agg(lambda s: (None, None))
    table = pd.DataFrame(
        {
            "count": tta.size(),
            "unresolved": durations["resolved_at"].isna().groupby(groups, sort=False).sum(),
            "mtta_n": tta.count(),
            "mtta_median_minutes": tta.median(),
            "mtta_p90_minutes": tta.quantile(0.9),
            "mtta_mean_minutes": tta.mean(),
            "mttr_n": ttr.count(),
            "mttr_median_minutes": ttr.median(),
            "mttr_p90_minutes": ttr.quantile(0.9),
            "mttr_mean_minutes": ttr.mean(),
            "mttr_median_ci_low": ci.map(lambda pair: pair[0]),
            "mttr_median_ci_high": ci.map(lambda pair: pair[1]),
        },
        columns=GROUP_COLUMNS,
    )
    table = table.reindex(pd.Index(order, dtype="string"))
    counts = {c: table[c].fillna(0).astype("int64") for c in _COUNT_COLUMNS}
    table = table.astype("float64").assign(**counts)
    table.index.name = key
    return table.reset_index()[[key, *GROUP_COLUMNS]]


def response_summary(
    incidents: pd.DataFrame,
    severities: list[str] | None = None,
    *,
    seed: int = 0,
    confidence: bool = True,
) -> ResponseSummary:
    """MTTA and MTTR overall, per severity (configured order) and per service (alphabetical).

    Configured severities with no incident in the period appear with a count of 0.
    ``confidence=False`` leaves out the bootstrap intervals (trend months need none).
    """
    durations = incident_durations(incidents)
    services = sorted(pd.unique(durations["service"].astype("string")).tolist())
    return ResponseSummary(
        count=len(durations),
        unresolved=int(durations["resolved_at"].isna().sum()),
        mtta=duration_stats(durations["tta_minutes"], seed=seed, confidence=confidence),
        mttr=duration_stats(durations["ttr_minutes"], seed=seed, confidence=confidence),
        by_severity=_group_table(
            durations,
            "severity",
            severity_order(durations["severity"], severities),
            seed,
            confidence,
        ),
        by_service=_group_table(durations, "service", services, seed, confidence),
    )


def normalise_label(labels: pd.Series) -> pd.Series:
    """Lower-case labels without separators, so ``SEV-1``, ``Sev 1`` and ``sev1`` compare equal."""
    return labels.astype("string").str.casefold().str.replace(r"[\s_-]", "", regex=True)


def page_severities(severities: list[str] | None) -> list[str]:
    """The severity labels that make an incident without urgency a page (two most severe)."""
    if severities:
        return list(severities[:2])
    return list(FALLBACK_PAGE_SEVERITIES)


def pages(incidents: pd.DataFrame, severities: list[str] | None) -> pd.Series:
    """Which incidents paged someone: ``urgency`` high, or without urgency a top-two severity."""
    wanted = normalise_label(pd.Series(page_severities(severities), dtype="string"))
    severe = normalise_label(incidents["severity"]).isin(wanted.tolist()).fillna(False)
    if "urgency" in incidents.columns:
        urgency = incidents["urgency"].astype("string").str.strip().str.casefold()
    else:
        urgency = pd.Series(pd.NA, index=incidents.index, dtype="string")
    is_page = (urgency == "high").fillna(False) | (urgency.isna() & severe)
    return is_page.astype(bool).rename("page")
