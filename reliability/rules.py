"""Prometheus recording and multi-window burn-rate alert rules from the config (``reliability
rules``).

For every SLO with a Prometheus indicator, the rules Sloth would write, named as Sloth names
them so its dashboards read them: the error ratio over every window of the SLO's alert policy
(``slo:sli_error:ratio_rate5m`` ...) and over its SLO period, the SLO's metadata
(``slo:objective:ratio``, ``slo:error_budget:ratio`` ...), and one alert per policy window,
carrying the window's severity, tier and ``for``. One rule group per service. The alert
conditions are those the report's replay evaluates (``metrics.slo.window_firing``), from the
same ``AlertPolicy``; docs/rules.md and docs/metrics.md say where the two may differ.

Pure text generation: nothing here reads or writes a file, and the output depends only on the
config (deterministic, so a golden file pins it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

from reliability.config import SLO, Config, Service
from reliability.errors import InputError, Problem
from reliability.metrics.policy import AlertPolicy, AlertWindow
from reliability.metrics.policy import duration_label as _duration_label
from reliability.sources.prometheus.planning import (
    SERVICE_PLACEHOLDER,
    WINDOW_PLACEHOLDER,
    Target,
    check_indicator,
    parse_histogram,
)

GROUP_PREFIX = "reliability-slo-"
"""Rule groups are named ``reliability-slo-<service>``."""
ALERT_NAME = "SLOErrorBudgetBurn"
"""Every burn-rate alert's name; its labels tell the SLO, severity, tier and windows."""
NEWLINE = "\n"
SLI_RECORD = "slo:sli_error:ratio_rate{window}"


@dataclass(frozen=True)
class RuleSet:
    """The rule file's content and what it covers."""

    groups: list[dict[str, Any]]
    slos: int
    """SLOs with rules."""
    skipped: list[str]
    """``service/slo`` of SLOs without a Prometheus indicator (no rules for them)."""

    @property
    def rules(self) -> int:
        return sum(len(group["rules"]) for group in self.groups)

    def to_yaml(self) -> str:
        """The rule file, as ``promtool check rules`` and Prometheus read it: YAML written
        directly (the structure is fixed; a generic dumper is ten times slower on a fleet)."""
        lines = ["groups:"]
        for group in self.groups:
            lines.append(f"- name: {_scalar(group['name'])}")
            lines.append("  rules:")
            for rule in group["rules"]:
                _mapping(lines, rule, "  - ", "    ")
        return "\n".join(lines) + "\n"


_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_:./@+-]*$")
_SPECIAL = re.compile(r"^(?:y|n|yes|no|true|false|on|off|null|~)$", re.IGNORECASE)


@cache
def _scalar(value: str) -> str:
    """A YAML scalar: plain when it cannot be read as anything but that string, else a
    double-quoted (JSON) string."""
    if _PLAIN.match(value) and not _SPECIAL.match(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _mapping(lines: list[str], mapping: dict[str, Any], first: str, indent: str) -> None:
    """Append ``mapping`` (values: text, or a mapping of text) as YAML lines; ``first``
    prefixes its first key (a list item's ``- ``), ``indent`` the others."""
    prefix = first
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines.append(f"{prefix}{key}:")
            lines.extend(f"{indent}  {k}: {_scalar(v)}" for k, v in value.items())
        elif "\n" in value:
            lines.append(f"{prefix}{key}: |{'' if value.endswith(NEWLINE) else '-'}")
            lines.extend(f"{indent}  {line}" for line in value.rstrip("\n").split("\n"))
        else:
            lines.append(f"{prefix}{key}: {_scalar(value)}")
        prefix = indent


def prometheus_rules(config: Config) -> RuleSet:
    """The recording and alert rules of every SLO of ``config`` with a Prometheus indicator.

    An indicator that cannot be turned into PromQL is an ``InputError`` naming its key; SLOs
    without an indicator are listed in ``skipped``.
    """
    problems: list[Problem] = []
    groups = []
    skipped = []
    count = 0
    for s_index, service in enumerate(config.services):
        rules: list[dict[str, Any]] = []
        for o_index, slo in enumerate(service.slos):
            if slo.indicator is None:
                skipped.append(f"{service.name}/{slo.name}")
                continue
            found = check_indicator(
                Target(service.name, slo), f"services[{s_index}].slos[{o_index}]"
            )
            if found:
                problems.extend(found)
                continue
            policy = config.alert_policies_by_name[slo.alert_policy or config.alert_policy]
            rules.extend(slo_rules(service, slo, policy))
            count += 1
        if rules:
            groups.append({"name": GROUP_PREFIX + service.name, "rules": rules})
    if problems:
        raise InputError(problems)
    return RuleSet(groups=groups, slos=count, skipped=skipped)


def slo_labels(service: Service, slo: SLO) -> dict[str, str]:
    """The labels every rule of one SLO carries: Sloth's ids, then the SLO's own labels."""
    return {
        "sloth_id": f"{service.name}-{slo.name}",
        "sloth_service": service.name,
        "sloth_slo": slo.name,
        **dict(sorted(slo.labels.items())),
    }


def slo_rules(service: Service, slo: SLO, policy: AlertPolicy) -> list[dict[str, Any]]:
    """One SLO's recording rules (error ratios, metadata) and its alerts, in evaluation order:
    a rule group evaluates its rules in turn, so every alert reads ratios of the same instant."""
    labels = slo_labels(service, slo)
    windows = _ratio_windows(policy)
    rules: list[dict[str, Any]] = [
        {
            "record": SLI_RECORD.format(window=window),
            "expr": error_ratio(service, slo, window),
            "labels": {**labels, "sloth_window": window},
        }
        for window in windows
    ]
    rules += meta_rules(labels, slo, policy, windows[0])
    rules += [alert_rule(service, slo, policy, window, labels) for window in policy.windows]
    return rules


@cache
def _ratio_windows(policy: AlertPolicy) -> list[str]:
    """Every window of ``policy`` (long and short), shortest first, as ``5m``-style labels."""
    windows = {w for window in policy.windows for w in (window.short_window, window.long_window)}
    return [duration_label(window) for window in sorted(windows)]


@dataclass(frozen=True)
class _WindowText:
    long: str
    short: str
    hold: str | None
    share: float
    period: str
    days: float


@cache
def _window_text(policy: AlertPolicy, window: AlertWindow | None) -> _WindowText:
    """The labels and figures of one window as the rules write them (once per window)."""
    period = duration_label(policy.slo_period)
    days = policy.slo_period / pd.Timedelta(days=1)
    if window is None:
        return _WindowText("", "", None, 0.0, period, days)
    return _WindowText(
        long=duration_label(window.long_window),
        short=duration_label(window.short_window),
        hold=duration_label(window.for_) if window.for_ > pd.Timedelta(0) else None,
        share=window.factor * (window.long_window / policy.slo_period),
        period=period,
        days=days,
    )


def error_ratio(service: Service, slo: SLO, window: str) -> str:
    """The PromQL share of bad events over ``window``: ``1 - good / total``, from the same
    selectors the Prometheus source counts (no events: no value, so no alert)."""
    indicator = slo.indicator
    assert indicator is not None  # checked by prometheus_rules

    def named(text: str) -> str:
        return text.replace(SERVICE_PLACEHOLDER, service.name)

    if indicator.kind == "latency":
        histogram = parse_histogram(named(indicator.histogram or ""))
        assert histogram is not None  # checked by check_indicator
        good = f"sum(rate({histogram.selector('_bucket', le_matcher(indicator))}[{window}]))"
        total = f"sum(rate({histogram.selector('_count')}[{window}]))"
    else:
        good = _side(indicator.good, indicator.good_query, window, named)
        total = _side(indicator.total, indicator.total_query, window, named)
    return f"1 - (\n  ({good})\n  /\n  ({total})\n)\n"


def _side(selector: str | None, query: str | None, window: str, named: Any) -> str:
    if selector:
        return f"sum(rate({named(selector)}[{window}]))"
    assert query is not None
    return named(query).replace(WINDOW_PLACEHOLDER, window)


def le_matcher(indicator: Any) -> str:
    """The ``le`` matcher of a latency threshold: Go clients write ``0.3`` and ``1``, Python
    clients ``0.3`` and ``1.0``; both spellings match (the source asks the server instead)."""
    threshold = float(indicator.threshold_seconds)
    spellings = list(dict.fromkeys([f"{threshold:g}", repr(threshold)]))
    if len(spellings) == 1:
        return f'le="{spellings[0]}"'
    return 'le=~"' + "|".join(s.replace(".", "\\\\.") for s in spellings) + '"'


def meta_rules(
    labels: dict[str, str], slo: SLO, policy: AlertPolicy, shortest: str
) -> list[dict[str, Any]]:
    """Sloth's metadata recordings: objective, error budget, period, burn rates, budget left."""
    text = _window_text(policy, None)
    period, days = text.period, text.days
    match = _matchers(labels)
    on = "on (sloth_id, sloth_slo, sloth_service) group_left"
    budget = f"slo:error_budget:ratio{match}"
    short_ratio = f"slo:sli_error:ratio_rate{shortest}{match}"
    period_ratio = SLI_RECORD.format(window=period)
    return [
        {
            "record": period_ratio,
            "expr": (
                f"sum_over_time({short_ratio}[{period}])\n"
                f"/ ignoring (sloth_window)\n"
                f"count_over_time({short_ratio}[{period}])\n"
            ),
            "labels": {**labels, "sloth_window": period},
        },
        {"record": "slo:objective:ratio", "expr": f"vector({slo.objective!r})", "labels": labels},
        {
            "record": "slo:error_budget:ratio",
            "expr": f"vector(1 - {slo.objective!r})",
            "labels": labels,
        },
        {"record": "slo:time_period:days", "expr": f"vector({days:g})", "labels": labels},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"{short_ratio}\n/ {on}\n{budget}\n",
            "labels": labels,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"{period_ratio}{match}\n/ {on}\n{budget}\n",
            "labels": labels,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{match}",
            "labels": labels,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {
                **labels,
                "sloth_mode": "reliability-report",
                "sloth_objective": f"{slo.objective * 100:g}",
                "alert_policy": policy.name,
            },
        },
    ]


def alert_rule(
    service: Service, slo: SLO, policy: AlertPolicy, window: AlertWindow, labels: dict[str, str]
) -> dict[str, Any]:
    """One window's alert: both error ratios over ``factor`` times the error budget."""
    match = _matchers(labels)
    threshold = f"({window.factor!r} * (1 - {slo.objective!r}))"
    text = _window_text(policy, window)
    long_label, short_label = text.long, text.short
    expr = (
        f"max(slo:sli_error:ratio_rate{short_label}{match} > {threshold}) without (sloth_window)\n"
        "and\n"
        f"max(slo:sli_error:ratio_rate{long_label}{match} > {threshold}) without (sloth_window)\n"
    )
    share = text.share
    name = f"{service.name}/{slo.name}"
    rule: dict[str, Any] = {"alert": ALERT_NAME, "expr": expr}
    if text.hold is not None:
        rule["for"] = text.hold
    rule["labels"] = {
        **labels,
        "severity": window.severity,
        "sloth_severity": window.severity,
        "tier": window.tier,
        "alert_policy": policy.name,
        "long_window": long_label,
        "short_window": short_label,
    }
    annotations = {
        "summary": (
            f"{name} is burning its error budget too fast ({window.severity}, {window.tier})"
        ),
        "description": (
            f"The error rate of {name} over the last {long_label} and {short_label} is above "
            f"{window.factor:g} times its error budget (objective {slo.objective * 100:g}%): at "
            f"that rate {share * 100:.3g}% of the {text.period} budget "
            f"goes in {long_label}."
        ),
    }
    if slo.runbook_url:
        annotations["runbook_url"] = slo.runbook_url
    rule["annotations"] = annotations
    return rule


@cache
def duration_label(value: pd.Timedelta) -> str:
    """``metrics.policy.duration_label``, once per duration (pandas' arithmetic is slow)."""
    return _duration_label(value)


def _matchers(labels: dict[str, str]) -> str:
    """The selector of one SLO's recordings: Sloth's three id labels."""
    keys = ("sloth_id", "sloth_service", "sloth_slo")
    inside = ", ".join(f'{key}="{_quoted(labels[key])}"' for key in keys)
    return "{" + inside + "}"


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
