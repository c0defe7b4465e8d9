"""What the pipeline computes, and its stable forms: ``compute --format json|csv|table``.

``MonthlyMetrics`` holds every figure of one month; ``Results`` holds the report's month,
the months before it and the frames its tables list. Both are plain data: the pipeline
fills them, the report and the notebooks read them, nothing here computes a figure.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reliability.config import Config
from reliability.metrics.alert_quality import AlertQuality
from reliability.metrics.cost import CostSummary
from reliability.metrics.headline import Change, Finding
from reliability.metrics.incidents import DurationStats, ResponseSummary, too_small_for_trend
from reliability.metrics.postmortems import PostmortemSummary
from reliability.metrics.recovery import RecoverySummary
from reliability.metrics.responders import NAME_COLUMNS, HeroLoad
from reliability.metrics.tiers import TierResponseSummary
from reliability.period import Month


@dataclass
class MonthlyMetrics:
    """Every figure of one reporting month; ``None`` where the input was not configured."""

    period: Month
    slos: pd.DataFrame | None = None
    burndown: pd.DataFrame | None = None
    daily_sli: pd.DataFrame | None = None
    """Per SLO and local day: the day's SLI (``metrics.daily.daily_sli``), for the charts."""
    burn_rates: pd.DataFrame | None = None
    """Per SLO and hour: the burn rate (``metrics.daily.hourly_burn_rate``), for the charts."""
    alerts: pd.DataFrame | None = None
    corrections: pd.DataFrame | None = None
    """The month's corrections per SLO, with the minutes excluded and the budget set aside."""
    attribution: pd.DataFrame | None = None
    incidents: pd.DataFrame | None = None
    response: ResponseSummary | None = None
    delivery: pd.DataFrame | None = None
    fleet_delivery: dict[str, Any] | None = None
    toil: pd.DataFrame | None = None
    oncall: pd.DataFrame | None = None
    recovery: RecoverySummary | None = None
    """Incidents restored within their RTO (``metrics.recovery``)."""
    tier_response: TierResponseSummary | None = None
    """Incidents acknowledged within their tier's target (``metrics.tiers``)."""
    postmortems: PostmortemSummary | None = None
    """Postmortems of the incidents that need one (``metrics.postmortems``)."""
    cost: CostSummary | None = None
    """Spend per service and team, per SLO met and per nine (``metrics.cost``)."""
    alert_quality: AlertQuality | None = None
    """The real alert history's quality and its agreement with the replay
    (``metrics.alert_quality``)."""
    hero_load: HeroLoad | None = None
    """Per team, the top responder's share of incidents and off-hours pages
    (``metrics.responders``)."""
    coverage: pd.DataFrame | None = None
    data_quality: pd.DataFrame | None = None
    missed_detection: pd.DataFrame | None = None
    """Pages received (high-urgency incidents) that no replayed page alert caught."""
    alert_summary: dict[str, Any] | None = None
    """Counts of the alert section: episodes, uncovered pages, pages received, missed detection."""
    headline: dict[str, Any] | None = None
    """The figures of the first screen's tiles (``metrics.headline.headline_figures``)."""
    findings: list[Finding] | None = None
    """The facts the first screen words, most urgent first (``metrics.headline.findings``)."""
    in_progress: bool = False
    until: pd.Timestamp | None = None
    """For a month in progress: the instant its figures run to (the report's ``now``)."""
    missing_inputs: list[str] = field(default_factory=list)
    """Inputs that are not configured at all."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Sections left ``null`` although their input is configured, with the reason why."""


@dataclass
class Results:
    """The report's month, its metrics, and the metrics of the months before it."""

    config: Config
    month: Month
    history: list[MonthlyMetrics]
    """Oldest first; the last one is the report's month."""
    trend: pd.DataFrame
    """One row per month of ``history`` with the fleet's headline figures (``metrics.trends``)."""
    service_trend: pd.DataFrame
    """Per month and service: SLOs met and with data, for each service page's comparison."""
    deployments: pd.DataFrame | None
    """The month's deployments, for the tables that list them."""
    config_label: str
    """How the report names its data: the config's path, or the built-in sample."""
    changes: dict[str, Change] = field(default_factory=dict)
    """Each headline figure against the month before (``metrics.headline.compare``)."""
    cost_trend: pd.DataFrame | None = None
    """Per month and service (the unattributed line included): spend (``metrics.trends``)."""

    @property
    def current(self) -> MonthlyMetrics:
        return self.history[-1]

    @property
    def previous(self) -> MonthlyMetrics | None:
        return self.history[-2] if len(self.history) > 1 else None

    @property
    def incidents(self) -> pd.DataFrame | None:
        """The month's incidents (created in it), with their durations."""
        return self.current.incidents

    def service_names(self) -> list[str]:
        return [s.name for s in self.config.services]

    def save(self, path: Path) -> None:
        """Write the results for the report's notebooks to read back (``load``)."""
        with Path(path).open("wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(path: Path) -> Results:
        """Results written by ``save`` in this run of the report."""
        with Path(path).open("rb") as handle:
            loaded = pickle.load(handle)  # written by save() for this very run
        if not isinstance(loaded, Results):
            raise TypeError(f"{path} does not hold report results")
        return loaded


def plain(value: Any) -> Any:
    """A JSON-safe Python value: NaN, NaT and NA become ``None``; instants ISO 8601 strings."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    """A frame as a list of JSON-safe dicts (``None`` for a missing frame)."""
    if frame is None:
        return None
    return [plain(row) for row in frame.to_dict(orient="records")]


def _stats(prefix: str, stats: DurationStats) -> dict[str, Any]:
    return {
        f"{prefix}_n": stats.n,
        f"{prefix}_median_minutes": stats.median,
        f"{prefix}_p90_minutes": stats.p90,
        f"{prefix}_mean_minutes": stats.mean,
        f"{prefix}_median_ci_low": stats.ci_low,
        f"{prefix}_median_ci_high": stats.ci_high,
    }


def recovery_json(summary: RecoverySummary | None) -> dict[str, Any] | None:
    """The ``recovery_targets`` section of the JSON document."""
    if summary is None:
        return None
    return {
        "incidents": summary.incidents,
        "with_rto": summary.with_rto,
        "n": summary.n,
        "within_rto": summary.within_rto,
        "within_rto_share": summary.within_rto_share,
        "misses": summary.misses,
        "small_sample": too_small_for_trend(summary.n),
        "by_service": records(summary.by_service),
        "worst_misses": records(summary.worst_misses),
    }


def tier_response_json(summary: TierResponseSummary | None) -> dict[str, Any] | None:
    """The ``response_tiers`` section of the JSON document."""
    if summary is None:
        return None
    return {
        "n": summary.n,
        "within_target": summary.within_target,
        "within_target_share": summary.within_target_share,
        "without_tier": summary.without_tier,
        "by_tier": records(summary.by_tier),
        "by_service": records(summary.by_service),
        "misses": records(summary.misses),
    }


def postmortems_json(summary: PostmortemSummary | None) -> dict[str, Any] | None:
    """The ``postmortems`` section of the JSON document (hours from resolution)."""
    if summary is None:
        return None
    time = summary.time_to_postmortem
    return {
        "tiers": list(summary.tiers),
        "required": summary.required,
        "n": summary.n,
        "with_postmortem": summary.with_postmortem,
        "with_postmortem_share": summary.with_postmortem_share,
        "time_to_postmortem_n": None if time is None else time.n,
        "time_to_postmortem_median_hours": None if time is None else time.median,
        "time_to_postmortem_p90_hours": None if time is None else time.p90,
        "time_to_postmortem_mean_hours": None if time is None else time.mean,
        "action_items_n": summary.action_items_n,
        "action_items_open": summary.action_items_open,
        "incidents_with_open_items": summary.incidents_with_open_items,
        "reasons": summary.reasons,
        "missing": records(summary.missing),
    }


def cost_json(summary: CostSummary | None) -> dict[str, Any] | None:
    """The ``cost`` section of the JSON document (amounts in ``currency``)."""
    if summary is None:
        return None
    return {
        "currency": summary.currency,
        "charges": summary.charges,
        "total": summary.total,
        "attributed": summary.attributed,
        "unattributed": summary.unattributed,
        "top_per_nine": summary.top_per_nine,
        "by_service": records(summary.by_service),
        "by_team": records(summary.by_team),
        "unattributed_by_label": records(summary.unattributed_by_label),
    }


def alert_quality_json(summary: AlertQuality | None) -> dict[str, Any] | None:
    """The ``alert_quality`` section of the JSON document."""
    if summary is None:
        return None
    return {
        "alerts": summary.alerts,
        "alert_pages": summary.pages,
        "actionable": summary.actionable,
        "actionable_share": summary.actionable_share,
        "noise": summary.noise,
        "noise_share": summary.noise_share,
        "noise_minutes": summary.noise_minutes,
        "without_runbook": summary.without_runbook,
        "rules_without_runbook": summary.rules_without_runbook,
        "off_hours_pages": summary.off_hours_pages,
        "sleep_hours_pages": summary.sleep_hours_pages,
        "explained_by_slos": summary.explained,
        "explainable": summary.explainable,
        "explained_share": summary.explained_share,
        "reasons": summary.reasons,
        "by_rule": records(summary.by_rule),
        "by_team": records(summary.by_team),
        "replayed_pages_unreached": records(summary.unreached),
    }


def hero_table(summary: HeroLoad) -> pd.DataFrame:
    """The hero-load table as it leaves the program: responders' names only when the config
    asks for them (``responders.in_json``), ``null`` otherwise."""
    if summary.names_in_json:
        return summary.table
    return summary.table.assign(**{column: None for column in NAME_COLUMNS})


def hero_load_json(summary: HeroLoad | None) -> dict[str, Any] | None:
    """The ``hero_load`` section of the JSON document."""
    if summary is None:
        return None
    return {
        "max_share": summary.max_share,
        "names_included": summary.names_in_json,
        "reasons": summary.reasons,
        "teams": records(hero_table(summary)),
    }


def to_json(result: MonthlyMetrics) -> dict[str, Any]:
    """The stable ``compute --format json`` document: fractions, ``null`` where unknown."""
    response = result.response
    incident_section = None
    if response is not None:
        incident_section = {
            "count": response.count,
            "unresolved": response.unresolved,
            **_stats("mtta", response.mtta),
            **_stats("mttr", response.mttr),
            "small_sample": too_small_for_trend(response.count),
            "by_service": records(response.by_service),
            "by_severity": records(response.by_severity),
        }
    document = {
        "month": result.period.label,
        "timezone": result.period.timezone,
        "start": result.period.start.isoformat(),
        "end": result.period.end.isoformat(),
        "in_progress": result.in_progress,
        "until": plain(result.until),
        "missing_inputs": result.missing_inputs,
        "unavailable": result.unavailable,
        "slos": records(result.slos),
        "headline": plain(result.headline),
        "findings": None
        if result.findings is None
        else [plain(asdict(finding)) for finding in result.findings],
        "alerts": records(result.alerts),
        "corrections": records(result.corrections),
        "alert_summary": plain(result.alert_summary),
        "missed_detection": records(result.missed_detection),
        "budget_attribution": records(result.attribution),
        "incidents": incident_section,
        "delivery": records(result.delivery),
        "delivery_fleet": plain(result.fleet_delivery),
        "toil": records(result.toil),
        "oncall": records(result.oncall),
        "recovery_targets": recovery_json(result.recovery),
        "response_tiers": tier_response_json(result.tier_response),
        "postmortems": postmortems_json(result.postmortems),
        "cost": cost_json(result.cost),
        "hero_load": hero_load_json(result.hero_load),
        "alert_quality": alert_quality_json(result.alert_quality),
        "sli_coverage": records(result.coverage),
        "data_quality": records(result.data_quality),
    }
    return plain(document)


def report_json(results: Results) -> dict[str, Any]:
    """The report's ``metrics.json``: the month's ``to_json`` document plus what the report
    compares it with: each headline figure against last month (``changes``, with
    ``previous_month``) and the six-month ``trend`` rows. Every figure the report prints."""
    previous = results.previous
    document = to_json(results.current)
    document["previous_month"] = None if previous is None else previous.period.label
    document["changes"] = {key: plain(asdict(c)) for key, c in results.changes.items()}
    document["trend"] = records(results.trend)
    return plain(document)


def to_tables(result: MonthlyMetrics) -> dict[str, pd.DataFrame]:
    """The sections as frames, for ``--format table`` and ``--format csv``."""
    tables: dict[str, pd.DataFrame] = {}
    if result.slos is not None:
        tables["slos"] = result.slos
    if result.response is not None:
        response = result.response
        summary = {"count": response.count, "unresolved": response.unresolved}
        summary |= _stats("mtta", response.mtta) | _stats("mttr", response.mttr)
        tables["incidents"] = pd.DataFrame([summary])
        tables["incidents_by_severity"] = response.by_severity
        tables["incidents_by_service"] = response.by_service
    if result.attribution is not None:
        tables["budget_attribution"] = result.attribution
    if result.recovery is not None:
        tables["recovery_targets"] = result.recovery.by_service
    if result.tier_response is not None:
        tables["response_tiers"] = result.tier_response.by_tier
    if result.postmortems is not None:
        tables["postmortems_missing"] = result.postmortems.missing
    if result.cost is not None:
        tables["cost_by_service"] = result.cost.by_service
        tables["cost_by_team"] = result.cost.by_team
    if result.hero_load is not None:
        tables["hero_load"] = hero_table(result.hero_load)
    if result.alert_quality is not None:
        tables["alert_rules"] = result.alert_quality.by_rule
        tables["alert_pages_by_team"] = result.alert_quality.by_team
    for name in ("alerts", "corrections", "delivery", "toil", "oncall", "data_quality"):
        frame = getattr(result, name)
        if frame is not None:
            tables[name] = frame
    return tables
