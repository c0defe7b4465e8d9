"""The native config as OpenSLO v1 documents, for ``reliability export --openslo``.

One ``Service`` per service (its team as the ``team`` label), one ``SLO`` per SLO with its
indicator inline, a calendar month in the config's time zone, and a ``DataSource`` when the
metrics source is Prometheus. What OpenSLO has no field for (the exact names when they are not
valid OpenSLO names, the alert policy, the runbook) travels in ``reliability-report/``
annotations, so that reading the documents back gives the same services (docs/openslo.md).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from reliability.config import SLO, Config, Indicator
from reliability.openslo.reader import ANNOTATION, API_VERSION, DEFAULT_TEAM, RTO

METHODS = {
    "occurrences": "Occurrences",
    "timeslices": "Timeslices",
    "ratio_timeslices": "RatioTimeslices",
}
MONTH_START = "2020-01-01 00:00:00"
"""The calendar's ``startTime``: any first of a month at midnight; months repeat from it."""
DATA_SOURCE = "prometheus"
MAX_NAME = 63


def object_name(text: str) -> str:
    """``text`` as an OpenSLO object name (RFC 1123 label: lowercase, digits, ``-``)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:MAX_NAME].rstrip("-") or "x"


def _threshold_text(value: float) -> str:
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _histogram_selector(histogram: str, suffix: str, extra: str | None = None) -> str:
    name, brace, rest = histogram.partition("{")
    matchers = rest.rstrip("}").strip() if brace else ""
    inside = ", ".join(part for part in (matchers, extra) if part)
    return f"{name}{suffix}{{{inside}}}" if inside else f"{name}{suffix}"


def _metric(query: str, ref: str | None) -> dict[str, Any]:
    source: dict[str, Any] = {"type": "Prometheus", "spec": {"query": query}}
    if ref is not None:
        source = {"metricSourceRef": ref, **source}
    return {"metricSource": source}


def indicator_spec(indicator: Indicator, ref: str | None) -> dict[str, Any]:
    """A native indicator as an SLI ``spec`` (a ``ratioMetric`` of Prometheus queries)."""
    if indicator.kind == "latency":
        assert indicator.histogram is not None
        assert indicator.threshold_seconds is not None
        le = f'le="{_threshold_text(indicator.threshold_seconds)}"'
        good = _histogram_selector(indicator.histogram, "_bucket", le)
        total = _histogram_selector(indicator.histogram, "_count")
    else:
        good = indicator.good or (indicator.good_query or "")
        total = indicator.total or (indicator.total_query or "")
    return {
        "ratioMetric": {
            "counter": True,
            "good": _metric(good, ref),
            "total": _metric(total, ref),
        }
    }


def slo_document(
    service: str, service_object: str, slo: SLO, timezone: str, ref: str | None
) -> dict[str, Any]:
    """One native SLO as an OpenSLO ``SLO`` document."""
    name = object_name(f"{service}-{slo.name}")
    annotations = {ANNOTATION + "name": slo.name}
    if slo.alert_policy is not None:
        annotations[ANNOTATION + "alert-policy"] = slo.alert_policy
    if slo.runbook_url is not None:
        annotations[ANNOTATION + "runbook-url"] = slo.runbook_url
    metadata: dict[str, Any] = {"name": name, "annotations": annotations}
    if slo.labels:
        metadata["labels"] = dict(slo.labels)
    objective: dict[str, Any] = {"target": slo.objective}
    if slo.timeslice_target is not None:
        objective["timeSliceTarget"] = slo.timeslice_target
    if slo.budgeting != "occurrences" or slo.timeslice != "1m":
        objective["timeSliceWindow"] = slo.timeslice
    spec: dict[str, Any] = {"service": service_object}
    if slo.description is not None:
        spec["description"] = slo.description
    if slo.indicator is not None:
        spec["indicator"] = {
            "metadata": {"name": name},
            "spec": indicator_spec(slo.indicator, ref),
        }
    spec["timeWindow"] = [
        {
            "duration": "1M",
            "isRolling": False,
            "calendar": {"startTime": MONTH_START, "timeZone": timezone},
        }
    ]
    spec["budgetingMethod"] = METHODS[slo.budgeting]
    spec["objectives"] = [objective]
    return {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": spec}


def to_documents(config: Config) -> list[dict[str, Any]]:
    """The config's services and SLOs as OpenSLO v1 documents, in config order."""
    documents: list[dict[str, Any]] = []
    metrics = config.sources.metrics
    ref = None
    if metrics is not None and metrics.kind == "prometheus":
        ref = DATA_SOURCE
        documents.append(
            {
                "apiVersion": API_VERSION,
                "kind": "DataSource",
                "metadata": {"name": DATA_SOURCE},
                "spec": {"type": "Prometheus", "connectionDetails": {"url": metrics.base_url}},
            }
        )
    for service in config.services:
        service_object = object_name(service.name)
        metadata: dict[str, Any] = {"name": service_object}
        annotations = {ANNOTATION + "name": service.name} if service_object != service.name else {}
        # OpenSLO has no recovery targets: the service's own RTO and RPO ride as annotations.
        annotations |= {ANNOTATION + RTO + severity: rto for severity, rto in service.rto.items()}
        if service.rpo is not None:
            annotations[ANNOTATION + "rpo"] = service.rpo
        if annotations:
            metadata["annotations"] = annotations
        if service.team != DEFAULT_TEAM:
            metadata["labels"] = {"team": service.team}
        documents.append(
            {"apiVersion": API_VERSION, "kind": "Service", "metadata": metadata, "spec": {}}
        )
        for slo in service.slos:
            documents.append(slo_document(service.name, service_object, slo, config.timezone, ref))
    return documents


def to_yaml(config: Config) -> str:
    """The documents as one YAML stream (``---`` between documents)."""
    return yaml.safe_dump_all(to_documents(config), sort_keys=False, allow_unicode=True)
