"""OpenSLO v1 documents into the native config's services, validated at the boundary.

The config's ``openslo:`` key names files or folders of OpenSLO v1 documents (``Service``,
``SLO``, ``SLI``, ``DataSource``); each ``SLO`` becomes a native SLO of the service its
``spec.service`` names. Everything outside the subset docs/openslo.md lists is a problem naming
the file, the document (its position, kind and name), the field and why; every problem of
every document is listed in one run. Nothing here queries anything: the result is the plain
data ``config.py`` validates as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reliability.errors import InputError, Problem
from reliability.limits import MAX_EXPANDED_SIZE, expanded_size
from reliability.period import check_timezone

MAX_FILE_BYTES = 5_000_000
"""The largest OpenSLO file read (as for the config itself)."""
API_VERSION = "openslo/v1"
ANNOTATION = "reliability-report/"
"""Prefix of the annotations that carry what OpenSLO has no field for (exact native names,
the alert policy, the runbook); ``writer`` writes them, the reader reads them back."""
RTO = "rto."
"""After ``ANNOTATION``, the prefix of a service's recovery time objective for one severity."""
DEFAULT_TEAM = "unassigned"
"""The team of a service whose ``Service`` document (or lack of one) names no ``team`` label."""
MONTH_START = re.compile(r"^(\d{4})-(\d{2})-01(?:[ T]00:00(?::00)?)?$")
SUPPORTED_KINDS = (
    "Service",
    "SLO",
    "SLI",
    "DataSource",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
)
SEVERITIES = {"page": "page", "critical": "page", "ticket": "ticket", "warning": "ticket"}
"""OpenSLO alert severities and the policy severity each maps to (Sloth's and Prometheus'
usual names)."""
SHORT_WINDOW_DIVISOR = 12
"""A policy window's short window is its long window / 12, as in the SRE Workbook's pairs
(1h/5m, 6h/30m, 1d/2h, 3d/6h): an OpenSLO alert condition has only one window."""
METHODS = {
    "Occurrences": "occurrences",
    "Timeslices": "timeslices",
    "RatioTimeslices": "ratio_timeslices",
}
SELECTOR = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*(?:\{[^{}]*\})?$")
SUM_OF_SELECTOR = re.compile(r"^sum\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*(?:\{[^{}]*\})?)\s*\)$")
WINDOW = "{{window}}"
GO_WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")
RATE = re.compile(r"\b(?:rate|irate)\s*\(")
LE_MATCHER = re.compile(r'(?:^|,)\s*le\s*=\s*"([^"]*)"\s*(?=,|$)')
DURATION = re.compile(r"^(\d+)([mhd])$")
WINDOW_DURATION = re.compile(r"^(\d+)([mhdw])$")
WINDOW_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}


@dataclass
class Translated:
    """What the documents define: native services, their calendar's time zone, and the
    Prometheus URL of a ``DataSource`` (``None`` when none names one)."""

    services: list[dict[str, Any]] = field(default_factory=list)
    timezone: str | None = None
    prometheus_url: str | None = None
    alert_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Native alert policies (docs/rules.md) made of the SLOs' OpenSLO alert policies."""


@dataclass
class Document:
    """One OpenSLO document and where it came from."""

    path: Path
    position: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind"))

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        return str(name) if name is not None else "(no name)"

    @property
    def where(self) -> str:
        return f"{self.path} (document {self.position}, {self.kind} {self.name})"


class Problems:
    """The problems found so far, each naming its document and field."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, doc: Document, field_path: str, why: str) -> None:
        """Note a problem (once: a document referred to twice is not reported twice)."""
        problem = Problem(doc.where, f"{field_path}: {why}")
        if problem not in self.items:
            self.items.append(problem)


def files_of(entries: Any, base_dir: Path, where: str) -> list[Path]:
    """The YAML files ``openslo:`` names (a path, or a list of them; a folder means every
    ``*.yaml`` and ``*.yml`` below it, in name order)."""
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise InputError(
            Problem(where, "openslo: expected a path or a list of paths of OpenSLO documents")
        )
    found: list[Path] = []
    problems = []
    for entry in entries:
        path = Path(entry).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if not inside:
                problems.append(Problem(where, f"openslo: no .yaml or .yml file in {path}"))
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(where, f"openslo: {path} does not exist"))
    if problems:
        raise InputError(problems)
    return found


def parse_documents(text: str) -> list[Any]:
    """Every YAML document of ``text``; one that would expand past ``MAX_EXPANDED_SIZE``
    through its aliases (or into itself) is a ``ValueError``, before it is built."""
    loader = yaml.SafeLoader(text)
    try:
        parsed = []
        while loader.check_node():
            node = loader.get_node()
            size = expanded_size(node)
            if size < 0 or size > MAX_EXPANDED_SIZE:
                raise ValueError(
                    f"a document expands to more than {MAX_EXPANDED_SIZE:,} values and "
                    "characters through its YAML aliases (*name)"
                )
            parsed.append(loader.construct_document(node))
        return parsed
    finally:
        loader.dispose()


def load_documents(paths: list[Path]) -> list[Document]:
    """Every document of the files (a file may hold several, or a YAML list of them)."""
    documents: list[Document] = []
    problems = []
    for path in paths:
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                problems.append(Problem(str(path), f"{size:,} bytes; at most {MAX_FILE_BYTES:,}"))
                continue
            parsed = parse_documents(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), f"cannot read it: {exc}"))
            continue
        except ValueError as exc:
            problems.append(Problem(str(path), str(exc)))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}" if mark is not None else "?"
            reason = getattr(exc, "problem", None) or str(exc)
            problems.append(Problem(str(path), f"not valid YAML ({line}): {reason}"))
            continue
        items = [item for part in parsed for item in (part if isinstance(part, list) else [part])]
        for position, item in enumerate((i for i in items if i is not None), start=1):
            if not isinstance(item, dict):
                problems.append(
                    Problem(f"{path} (document {position})", "expected an OpenSLO document")
                )
                continue
            documents.append(Document(path, position, item))
    if problems:
        raise InputError(problems)
    return documents


def _one_value(value: Any) -> str | None:
    """A label's value: a string, or a list of exactly one string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    return None


class Reader:
    """Turns the documents into native services, collecting problems."""

    def __init__(self, documents: list[Document]):
        self.documents = documents
        self.problems = Problems()
        self.by_kind: dict[str, dict[str, Document]] = {kind: {} for kind in SUPPORTED_KINDS}
        self.timezones: dict[str, Document] = {}
        self.referenced: set[str] = set()
        self.policies: dict[str, dict[str, Any]] = {}
        self.checked_policies: set[str] = set()

    def read(self) -> Translated:
        for doc in self.documents:
            self.check_envelope(doc)
        translated = Translated()
        translated.prometheus_url = self.data_source_url()
        services: dict[str, dict[str, Any]] = {}
        for name, doc in self.by_kind["Service"].items():
            services[name] = self.service(doc)
        for doc in self.by_kind["SLO"].values():
            slo, service_ref = self.slo(doc)
            if slo is None or service_ref is None:
                continue
            if service_ref not in services:
                services[service_ref] = {"name": service_ref, "team": DEFAULT_TEAM, "slos": []}
            service = services[service_ref]
            if any(s["name"] == slo["name"] for s in service["slos"]):
                self.problems.add(
                    doc,
                    "metadata.name",
                    f"a second SLO named {slo['name']!r} for service {service['name']!r}",
                )
                continue
            service["slos"].append(slo)
        for name, doc in self.by_kind["SLI"].items():
            if name not in self.referenced:  # checked all the same: nothing is ignored
                self.sli(doc, doc.body["spec"], "spec", doc)
        for name, doc in self.by_kind["AlertPolicy"].items():
            if name not in self.checked_policies:
                self.alert_policy(doc, doc.body["spec"], "spec")
        for doc in self.by_kind["AlertCondition"].values():
            self.condition(doc, doc.body["spec"], "spec")
        translated.alert_policies = self.policies
        zones = sorted(self.timezones)
        if len(zones) > 1:
            first = self.timezones[zones[1]]
            self.problems.add(
                first,
                "spec.timeWindow[0].calendar.timeZone",
                f"{zones[1]}, but other SLOs use {zones[0]}; the report has one calendar, so "
                "every SLO's months must be in one time zone",
            )
        translated.timezone = zones[0] if zones else None
        translated.services = list(services.values())
        if self.problems.items:
            raise InputError(self.problems.items)
        return translated

    def check_envelope(self, doc: Document) -> None:
        """apiVersion, kind and a unique name; supported documents are filed by kind."""
        version = doc.body.get("apiVersion")
        if version != API_VERSION:
            self.problems.add(
                doc,
                "apiVersion",
                f"{version!r} is not supported; only {API_VERSION} documents are read "
                "(openslo/v1alpha and v2alpha have another shape)",
            )
            return
        kind = doc.body.get("kind")
        if kind not in SUPPORTED_KINDS:
            self.problems.add(
                doc, "kind", f"{kind!r} is not supported (known: {', '.join(SUPPORTED_KINDS)})"
            )
            return
        metadata = doc.body.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name:
            self.problems.add(doc, "metadata.name", "required")
            return
        if not isinstance(doc.body.get("spec"), dict):
            self.problems.add(doc, "spec", "required: a mapping")
            return
        seen = self.by_kind[kind]
        if name in seen:
            self.problems.add(
                doc, "metadata.name", f"a second {kind} named {name!r} (first: {seen[name].where})"
            )
            return
        seen[name] = doc

    def data_source_url(self) -> str | None:
        """The ``url`` of the Prometheus ``DataSource`` documents (one URL at most)."""
        urls: dict[str, Document] = {}
        for doc in self.by_kind["DataSource"].values():
            spec = doc.body["spec"]
            kind = spec.get("type")
            if not isinstance(kind, str) or kind.lower() != "prometheus":
                self.problems.add(
                    doc,
                    "spec.type",
                    f"{kind}: only Prometheus data sources are read (the prometheus source)",
                )
                continue
            details = spec.get("connectionDetails") or {}
            if isinstance(details, list):  # the SDK's examples give a list of mappings
                merged: dict[str, Any] = {}
                for part in details:
                    merged.update(part if isinstance(part, dict) else {})
                details = merged
            if not isinstance(details, dict):
                self.problems.add(doc, "spec.connectionDetails", "expected a mapping")
                continue
            unknown = sorted(set(details) - {"url"})
            if unknown:
                self.problems.add(
                    doc,
                    f"spec.connectionDetails.{unknown[0]}",
                    "unknown; only url is read (credentials are never read from documents: "
                    "name the environment variable in the config's sources.metrics.token_env)",
                )
                continue
            url = details.get("url")
            if url is not None:
                urls[str(url)] = doc
        if len(urls) > 1:
            doc = list(urls.values())[1]
            self.problems.add(
                doc, "spec.connectionDetails.url", "a second Prometheus URL; the report has one"
            )
        return next(iter(urls), None)

    def service(self, doc: Document) -> dict[str, Any]:
        """A ``Service`` document as a native service without SLOs."""
        metadata = doc.body.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        labels = metadata.get("labels") or {}
        team = DEFAULT_TEAM
        if "team" in labels:
            team = _one_value(labels["team"]) or ""
            if not team:
                self.problems.add(
                    doc,
                    "metadata.labels.team",
                    f"{labels['team']!r}: a service has one team (one value)",
                )
        name = annotations.get(ANNOTATION + "name", metadata["name"])
        service: dict[str, Any] = {"name": str(name), "team": team or DEFAULT_TEAM, "slos": []}
        prefix = ANNOTATION + RTO
        rto = {k[len(prefix) :]: str(v) for k, v in annotations.items() if k.startswith(prefix)}
        if rto:
            service["rto"] = rto
        if ANNOTATION + "rpo" in annotations:
            service["rpo"] = str(annotations[ANNOTATION + "rpo"])
        return service

    def slo(self, doc: Document) -> tuple[dict[str, Any] | None, str | None]:
        """An ``SLO`` document as a native SLO, and the name of its ``Service``."""
        spec = doc.body["spec"]
        metadata = doc.body.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        found = len(self.problems.items)
        known = {
            "description",
            "service",
            "indicator",
            "indicatorRef",
            "timeWindow",
            "budgetingMethod",
            "objectives",
            "alertPolicies",
        }
        for key in sorted(set(spec) - known):
            self.problems.add(doc, f"spec.{key}", "unknown field of an SLO")
        slo: dict[str, Any] = {"name": str(annotations.get(ANNOTATION + "name", metadata["name"]))}
        for key, native in (("alert-policy", "alert_policy"), ("runbook-url", "runbook_url")):
            if ANNOTATION + key in annotations:
                slo[native] = str(annotations[ANNOTATION + key])
        labels = metadata.get("labels") or {}
        if labels:
            slo["labels"] = {}
            for key, value in labels.items():
                one = _one_value(value)
                if one is None:
                    self.problems.add(
                        doc,
                        f"metadata.labels.{key}",
                        f"{value!r}: an SLO's labels go on its alerts, one value each",
                    )
                else:
                    slo["labels"][str(key)] = one
        service = spec.get("service")
        if not isinstance(service, str) or not service:
            self.problems.add(doc, "spec.service", "required: the name of the service")
            service = None
        if spec.get("description") is not None:
            slo["description"] = str(spec["description"])
        self.time_window(doc, spec.get("timeWindow"))
        method = spec.get("budgetingMethod")
        if method not in METHODS:
            given = "required" if method is None else f"{method!r} is not a budgeting method"
            self.problems.add(doc, "spec.budgetingMethod", f"{given}: one of {', '.join(METHODS)}")
        else:
            slo["budgeting"] = METHODS[method]
        self.objective(doc, spec.get("objectives"), slo)
        if spec.get("alertPolicies"):
            policy = self.slo_policy(doc, spec["alertPolicies"])
            if policy is not None and "alert_policy" in slo:
                self.problems.add(
                    doc,
                    "spec.alertPolicies",
                    f"and the {ANNOTATION}alert-policy annotation: give one of them",
                )
            elif policy is not None:
                slo["alert_policy"] = policy
        indicator = self.indicator(doc, spec)
        if indicator is not None:
            slo["indicator"] = indicator
        if len(self.problems.items) > found:
            return None, service
        return slo, service

    def slo_policy(self, doc: Document, items: Any) -> str | None:
        """The name of the native policy made of an SLO's ``alertPolicies`` (each an
        ``alertPolicyRef`` or an inline ``AlertPolicy``), registered in ``self.policies``."""
        if not isinstance(items, list):
            self.problems.add(doc, "spec.alertPolicies", "expected a list")
            return None
        names: list[str] = []
        windows: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            where = f"spec.alertPolicies[{index}]"
            if isinstance(item, dict) and "alertPolicyRef" in item:
                ref = str(item["alertPolicyRef"])
                target = self.by_kind["AlertPolicy"].get(ref)
                if target is None:
                    self.problems.add(
                        doc, f"{where}.alertPolicyRef", f"no AlertPolicy named {ref!r}"
                    )
                    continue
                self.checked_policies.add(ref)
                found = self.alert_policy(target, target.body["spec"], "spec")
                name = ref
            elif isinstance(item, dict) and item.get("kind") == "AlertPolicy":
                spec = item.get("spec")
                name = str((item.get("metadata") or {}).get("name", f"{doc.name}-{index}"))
                if not isinstance(spec, dict):
                    self.problems.add(doc, f"{where}.spec", "required: a mapping")
                    continue
                found = self.alert_policy(doc, spec, f"{where}.spec")
            else:
                self.problems.add(
                    doc, where, "expected an alertPolicyRef or an inline AlertPolicy document"
                )
                continue
            if found is None:
                continue
            names.append(name)
            windows.extend(found)
        if not names or len(names) != len(items):
            return None
        policy = "+".join(names)
        self.policies[policy] = {
            "name": policy,
            "description": f"OpenSLO alert policies {', '.join(names)}",
            "windows": windows,
        }
        return policy

    def alert_policy(
        self, doc: Document, spec: dict[str, Any], where: str
    ) -> list[dict[str, Any]] | None:
        """An ``AlertPolicy``'s one condition as a native policy window (in a list)."""
        found = len(self.problems.items)
        known = {
            "description",
            "alertWhenNoData",
            "alertWhenResolved",
            "alertWhenBreaching",
            "conditions",
            "notificationTargets",
        }
        for key in sorted(set(spec) - known):
            self.problems.add(doc, f"{where}.{key}", "unknown field of an AlertPolicy")
        if spec.get("alertWhenNoData") is True:
            self.problems.add(
                doc,
                f"{where}.alertWhenNoData",
                "not supported: the replay alerts on burn rates, and a step without data has "
                "none (the report counts it as a data gap)",
            )
        if spec.get("alertWhenBreaching") is False:
            self.problems.add(
                doc,
                f"{where}.alertWhenBreaching",
                "false: a policy that does not alert on a breach has nothing to replay",
            )
        conditions = spec.get("conditions")
        if not isinstance(conditions, list) or len(conditions) != 1:
            self.problems.add(
                doc, f"{where}.conditions", "exactly one condition (the specification's limit)"
            )
            return None
        item = conditions[0]
        if isinstance(item, dict) and "conditionRef" in item:
            ref = str(item["conditionRef"])
            target = self.by_kind["AlertCondition"].get(ref)
            if target is None:
                self.problems.add(
                    doc, f"{where}.conditions[0].conditionRef", f"no AlertCondition named {ref!r}"
                )
                return None
            window = self.condition(target, target.body["spec"], "spec")
        elif isinstance(item, dict) and isinstance(item.get("spec"), dict):
            window = self.condition(doc, item["spec"], f"{where}.conditions[0].spec")
        else:
            self.problems.add(
                doc, f"{where}.conditions[0]", "expected a conditionRef or an inline AlertCondition"
            )
            return None
        if window is None or len(self.problems.items) > found:
            return None
        return [window]

    def condition(self, doc: Document, spec: dict[str, Any], where: str) -> dict[str, Any] | None:
        """A burn-rate ``AlertCondition`` as a native policy window."""
        found = len(self.problems.items)
        for key in sorted(set(spec) - {"description", "severity", "condition"}):
            self.problems.add(doc, f"{where}.{key}", "unknown field of an AlertCondition")
        severity = SEVERITIES.get(str(spec.get("severity", "")).lower())
        if severity is None:
            self.problems.add(
                doc,
                f"{where}.severity",
                f"{spec.get('severity')!r}: one of {', '.join(SEVERITIES)} (page or ticket)",
            )
        condition = spec.get("condition")
        if not isinstance(condition, dict):
            self.problems.add(doc, f"{where}.condition", "required: a mapping")
            return None
        where = f"{where}.condition"
        for key in sorted(
            set(condition) - {"kind", "op", "threshold", "lookbackWindow", "alertAfter"}
        ):
            self.problems.add(doc, f"{where}.{key}", "unknown field of a condition")
        if condition.get("kind", "burnrate") != "burnrate":
            self.problems.add(doc, f"{where}.kind", f"{condition['kind']!r}: only burnrate")
        op = condition.get("op")
        if op != "gt":
            why = (
                "the replay and the generated rules alert when the burn rate exceeds the "
                "factor (gt); gte would differ exactly at the threshold"
                if op == "gte"
                else "a burn-rate alert fires when the burn rate exceeds the threshold (gt); "
                "lt and lte would alert while the budget is fine"
            )
            self.problems.add(doc, f"{where}.op", f"{op!r}: {why}")
        threshold = _number(condition.get("threshold"))
        if threshold is None or threshold <= 0:
            self.problems.add(
                doc, f"{where}.threshold", f"{condition.get('threshold')!r}: a burn rate above 0"
            )
        long_minutes = _window_minutes(condition.get("lookbackWindow"))
        if long_minutes is None or long_minutes < 2:
            self.problems.add(
                doc,
                f"{where}.lookbackWindow",
                f"{condition.get('lookbackWindow')!r}: a duration of at least 2m, e.g. 1h",
            )
        after = condition.get("alertAfter")
        after_minutes = _window_minutes(after) if after is not None else 0
        if after_minutes is None:
            self.problems.add(doc, f"{where}.alertAfter", f"{after!r}: a duration, e.g. 5m")
        if len(self.problems.items) > found or long_minutes is None:
            return None
        window: dict[str, Any] = {
            "severity": severity,
            "long_window": _minutes_text(long_minutes),
            "short_window": _minutes_text(max(1, long_minutes // SHORT_WINDOW_DIVISOR)),
            "factor": threshold,
        }
        if after_minutes:
            window["for"] = _minutes_text(after_minutes)
        return window

    def time_window(self, doc: Document, windows: Any) -> None:
        """Only a calendar month (``1M``, starting on the 1st at midnight) is the report's."""
        if windows is None:
            return
        if not isinstance(windows, list) or len(windows) != 1 or not isinstance(windows[0], dict):
            self.problems.add(doc, "spec.timeWindow", "expected a list of exactly one window")
            return
        window = windows[0]
        where = "spec.timeWindow[0]"
        if window.get("isRolling") is True:
            self.problems.add(
                doc,
                f"{where}.isRolling",
                "rolling windows are not supported: the report judges each SLO over calendar "
                "months; use duration: 1M with a calendar",
            )
            return
        duration = window.get("duration")
        if duration != "1M":
            self.problems.add(
                doc,
                f"{where}.duration",
                f"{duration!r}: only a calendar month (1M) is supported, the report's period",
            )
        calendar = window.get("calendar")
        if not isinstance(calendar, dict):
            self.problems.add(
                doc, f"{where}.calendar", "required for a calendar window (startTime, timeZone)"
            )
            return
        start = str(calendar.get("startTime", "")).strip()
        if not MONTH_START.match(start):
            self.problems.add(
                doc,
                f"{where}.calendar.startTime",
                f"{start!r}: the report's months start on the 1st at 00:00:00 (e.g. "
                "2024-01-01 00:00:00)",
            )
        zone = calendar.get("timeZone", "UTC")
        try:
            zone = check_timezone(str(zone))
        except ValueError as exc:
            self.problems.add(
                doc, f"{where}.calendar.timeZone", f"{exc} (an IANA name, e.g. Europe/Berlin)"
            )
            return
        self.timezones.setdefault(zone, doc)

    def objective(self, doc: Document, objectives: Any, slo: dict[str, Any]) -> None:
        """The one objective: ``target`` or ``targetPercent``, and the timeslice fields."""
        if not isinstance(objectives, list) or len(objectives) != 1:
            count = len(objectives) if isinstance(objectives, list) else 0
            self.problems.add(
                doc,
                "spec.objectives",
                f"{count} objectives; exactly one per SLO is supported (write one SLO "
                "document per objective)",
            )
            return
        item = objectives[0]
        where = "spec.objectives[0]"
        if not isinstance(item, dict):
            self.problems.add(doc, where, "expected a mapping")
            return
        known = {"displayName", "target", "targetPercent", "timeSliceTarget", "timeSliceWindow"}
        for key in sorted(set(item) - known):
            why = {
                "op": "only for a thresholdMetric, which is not supported",
                "value": "only for a thresholdMetric, which is not supported",
                "indicator": "composite SLOs are not supported",
                "indicatorRef": "composite SLOs are not supported",
                "compositeWeight": "composite SLOs are not supported",
            }.get(key, "unknown field of an objective")
            self.problems.add(doc, f"{where}.{key}", why)
        target, percent = item.get("target"), item.get("targetPercent")
        if (target is None) == (percent is None):
            self.problems.add(doc, where, "exactly one of target and targetPercent is required")
        elif target is not None:
            if _number(target) is None or not 0 < float(target) < 1:
                self.problems.add(doc, f"{where}.target", f"{target!r}: a number in (0, 1)")
            else:
                slo["objective"] = float(target)
        else:
            if _number(percent) is None or not 0 < float(percent) < 100:
                self.problems.add(
                    doc, f"{where}.targetPercent", f"{percent!r}: a number in (0, 100)"
                )
            else:
                slo["objective"] = float(percent) / 100
        slice_target = item.get("timeSliceTarget")
        if slice_target is not None:
            if _number(slice_target) is None or not 0 < float(slice_target) <= 1:
                self.problems.add(
                    doc, f"{where}.timeSliceTarget", f"{slice_target!r}: a number in (0, 1]"
                )
            else:
                slo["timeslice_target"] = float(slice_target)
        window = item.get("timeSliceWindow")
        if window is not None:
            minutes = _slice_minutes(window)
            if minutes is None:
                self.problems.add(
                    doc,
                    f"{where}.timeSliceWindow",
                    f"{window!r}: a whole number of minutes, e.g. 1m, 5m, 1h (or 5)",
                )
            else:
                slo["timeslice"] = minutes
        if slo.get("budgeting") == "timeslices" and slice_target is None:
            self.problems.add(
                doc, f"{where}.timeSliceTarget", "required when budgetingMethod is Timeslices"
            )

    def indicator(self, doc: Document, spec: dict[str, Any]) -> dict[str, Any] | None:
        """The native indicator of the SLO's inline or referenced SLI (``None``: neither)."""
        inline, ref = spec.get("indicator"), spec.get("indicatorRef")
        if inline is not None and ref is not None:
            self.problems.add(doc, "spec.indicatorRef", "give indicator or indicatorRef, not both")
            return None
        if ref is not None:
            target = self.by_kind["SLI"].get(str(ref))
            if target is None:
                self.problems.add(doc, "spec.indicatorRef", f"no SLI document named {ref!r}")
                return None
            self.referenced.add(str(ref))
            return self.sli(doc, target.body["spec"], "spec.indicatorRef", target)
        if inline is None:
            return None
        if not isinstance(inline, dict) or not isinstance(inline.get("spec"), dict):
            self.problems.add(doc, "spec.indicator", "expected metadata and spec of an SLI")
            return None
        return self.sli(doc, inline["spec"], "spec.indicator.spec", None)

    def sli(
        self, doc: Document, spec: dict[str, Any], where: str, sli_doc: Document | None
    ) -> dict[str, Any] | None:
        """An SLI's ``ratioMetric`` as a native indicator; problems name the SLI's document
        when it has its own."""
        owner = sli_doc or doc
        prefix = "spec" if sli_doc is not None else where
        if "thresholdMetric" in spec:
            self.problems.add(
                owner,
                f"{prefix}.thresholdMetric",
                "not supported: it compares one value per slice (a percentile, a lag) with "
                "the objective, and the report counts good and total events; write latency as "
                "a ratioMetric of histogram buckets (good: H_bucket{le=...}, total: H_count)",
            )
            return None
        ratio = spec.get("ratioMetric")
        if not isinstance(ratio, dict):
            self.problems.add(owner, f"{prefix}.ratioMetric", "required (a mapping)")
            return None
        where = f"{prefix}.ratioMetric"
        if "raw" in ratio or "rawType" in ratio:
            self.problems.add(
                owner,
                f"{where}.raw",
                "not supported: a precomputed ratio cannot be counted into good and total "
                "events; give good (or bad) and total",
            )
            return None
        for key in sorted(set(ratio) - {"counter", "good", "bad", "total"}):
            self.problems.add(owner, f"{where}.{key}", "unknown field of a ratioMetric")
        counter = ratio.get("counter", True)
        if not isinstance(counter, bool):
            self.problems.add(owner, f"{where}.counter", f"{counter!r}: true or false")
            return None
        if ("good" in ratio) == ("bad" in ratio):
            self.problems.add(owner, where, "exactly one of good and bad is required")
            return None
        if "total" not in ratio:
            self.problems.add(owner, f"{where}.total", "required")
            return None
        numerator = "good" if "good" in ratio else "bad"
        parts = {}
        for side in (numerator, "total"):
            part = self.query(owner, ratio[side], f"{where}.{side}", counter)
            if part is None:
                return None
            parts[side] = part
        if numerator == "good":
            latency = _latency(parts["good"], parts["total"])
            if latency is not None:
                return latency
            return {**_side("good", parts["good"]), **_side("total", parts["total"])}
        total = _expression(parts["total"])
        bad = _expression(parts["bad"])
        return {
            "good_query": f"{total} - ({bad} or vector(0))",
            **_side("total", parts["total"]),
        }

    def query(self, doc: Document, side: Any, where: str, counter: bool) -> tuple[str, str] | None:
        """``("selector", s)`` or ``("query", q)`` for one side of a ratio, from Prometheus."""
        source = side.get("metricSource") if isinstance(side, dict) else None
        if not isinstance(source, dict):
            self.problems.add(doc, f"{where}.metricSource", "required (a mapping)")
            return None
        kind = source.get("type")
        ref = source.get("metricSourceRef")
        if kind is None and ref is not None and ref in self.by_kind["DataSource"]:
            kind = self.by_kind["DataSource"][ref].body["spec"].get("type")
        if not isinstance(kind, str) or kind.lower() != "prometheus":
            shown = kind if kind is not None else "no type (and no DataSource of that name)"
            self.problems.add(
                doc,
                f"{where}.metricSource.type",
                f"{shown!s}: only Prometheus queries are read (the prometheus source)",
            )
            return None
        spec = source.get("spec")
        text = spec.get("query") if isinstance(spec, dict) else None
        if not isinstance(text, str) or not text.strip():
            self.problems.add(doc, f"{where}.metricSource.spec.query", "required: a PromQL query")
            return None
        for key in sorted(set(spec) - {"query"}):
            self.problems.add(doc, f"{where}.metricSource.spec.{key}", "unknown field")
        text = GO_WINDOW.sub(WINDOW, text.strip())
        field_path = f"{where}.metricSource.spec.query"
        if WINDOW in text:
            if RATE.search(text):
                self.problems.add(
                    doc,
                    field_path,
                    "rate() gives events per second; use increase() so that the query returns "
                    "each step's events",
                )
                return None
            return "query", text
        if not counter:
            self.problems.add(
                doc,
                field_path,
                "counter: false: a gauge's values are not events; use a counter, or a query "
                "with {{window}} that returns each step's events",
            )
            return None
        if SELECTOR.match(text):
            return "selector", text
        summed = SUM_OF_SELECTOR.match(text)
        if summed:
            return "selector", summed.group(1)
        self.problems.add(
            doc,
            field_path,
            'not a counter selector (e.g. http_requests_total{code!~"5.."}), sum(selector), '
            "or a query with {{window}} that returns each step's events",
        )
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _window_minutes(value: Any) -> int | None:
    """A duration shorthand of minutes to weeks as a number of minutes."""
    found = WINDOW_DURATION.match(str(value))
    if found is None:
        return None
    return int(found.group(1)) * WINDOW_MINUTES[found.group(2)]


def _minutes_text(minutes: int) -> str:
    """Minutes in the largest whole unit: ``1d``, ``6h``, ``5m``."""
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _slice_minutes(value: Any) -> str | None:
    """``timeSliceWindow`` (a duration shorthand, or a number of minutes) as ``<n>m``."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"{value}m"
    found = DURATION.match(str(value))
    if found is None or int(found.group(1)) == 0:
        return None
    return str(value)


def _side(side: str, part: tuple[str, str]) -> dict[str, str]:
    kind, text = part
    return {side: text} if kind == "selector" else {f"{side}_query": text}


def _expression(part: tuple[str, str]) -> str:
    """A side as a query of each step's events."""
    kind, text = part
    return f"sum(increase({text}[{WINDOW}]))" if kind == "selector" else f"({text})"


def _split_selector(selector: str) -> tuple[str, str]:
    """``name{matchers}`` -> ``(name, matchers)``."""
    name, _, rest = selector.partition("{")
    return name, rest.rstrip("}").strip()


def _latency(good: tuple[str, str], total: tuple[str, str]) -> dict[str, Any] | None:
    """A latency indicator when good is ``H_bucket{m, le="T"}`` and total ``H_count{m}``."""
    if good[0] != "selector" or total[0] != "selector":
        return None
    good_name, good_matchers = _split_selector(good[1])
    total_name, total_matchers = _split_selector(total[1])
    if not good_name.endswith("_bucket") or total_name != good_name[: -len("_bucket")] + "_count":
        return None
    found = LE_MATCHER.search(good_matchers)
    if found is None:
        return None
    rest = (good_matchers[: found.start()] + good_matchers[found.end() :]).strip().strip(",")
    if rest.strip() != total_matchers:
        return None
    try:
        threshold = float(found.group(1))
    except ValueError:
        return None
    if not 0 < threshold < float("inf"):
        return None
    base = good_name[: -len("_bucket")]
    histogram = f"{base}{{{total_matchers}}}" if total_matchers else base
    return {"kind": "latency", "histogram": histogram, "threshold_seconds": threshold}


def read_openslo(entries: Any, base_dir: Path, where: str) -> Translated:
    """The services, time zone and Prometheus URL that ``openslo:`` documents define."""
    documents = load_documents(files_of(entries, base_dir, where))
    return Reader(documents).read()


def merge_openslo(data: dict[str, Any], where: str, base_dir: Path) -> dict[str, Any]:
    """The config document with its ``openslo:`` documents' services (and, when the config
    gives none, their time zone and Prometheus source) merged in."""
    if "openslo" not in data:
        return data
    merged = {key: value for key, value in data.items() if key != "openslo"}
    translated = read_openslo(data["openslo"], base_dir, where)
    services = merged.get("services") or []
    if not isinstance(services, list):
        return merged  # the config's own validation names the problem
    merged["services"] = [*services, *translated.services]
    if translated.alert_policies:
        policies = merged.get("alert_policies")
        policies = dict(policies) if isinstance(policies, dict) else {}
        clash = sorted(set(policies) & set(translated.alert_policies))
        if clash:
            raise InputError(
                Problem(
                    where,
                    f"alert_policies: {', '.join(clash)} is also the name of the OpenSLO "
                    "documents' alert policies; rename one",
                )
            )
        merged["alert_policies"] = {**policies, **translated.alert_policies}
    if translated.timezone is not None:
        configured = merged.get("timezone")
        if configured is None:
            merged["timezone"] = translated.timezone
        elif configured != translated.timezone:
            raise InputError(
                Problem(
                    where,
                    f"timezone: {configured}, but the OpenSLO documents' calendars are in "
                    f"{translated.timezone}; the report has one calendar",
                )
            )
    sources = merged.get("sources")
    if translated.prometheus_url is not None and not (
        isinstance(sources, dict) and sources.get("metrics")
    ):
        sources = dict(sources) if isinstance(sources, dict) else {}
        sources["metrics"] = {"kind": "prometheus", "url": translated.prometheus_url}
        merged["sources"] = sources
    return merged
