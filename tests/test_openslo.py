"""OpenSLO v1 in and out: the specification's and Sloth's own examples, a native config and its
translation computing the same month, and the sample's round trip through ``export``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reliability.cli import main
from reliability.config import Indicator, config_from_dict, load_config
from reliability.errors import InputError
from reliability.openslo.reader import read_openslo
from reliability.openslo.writer import to_documents, to_yaml
from reliability.sources.sample import sample_config

DATA = Path(__file__).resolve().parent / "data" / "openslo"
SPEC = DATA / "spec"
SLOTH = DATA / "sloth"
TRANSLATION = DATA / "translation"
MONTH = "2026-10"


def problems_of(path: Path) -> list[str]:
    """The problem lines reading ``path`` gives, without the folder."""
    with pytest.raises(InputError) as caught:
        read_openslo(str(path), Path("."), "reliability.yaml")
    return [str(p).replace(f"{path.parent}/", "") for p in caught.value.problems]


def compute_json(config: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    code = main(["compute", "--config", str(config), "--month", MONTH, "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


# -- the specification's examples -------------------------------------------------------------

ROLLING = (
    "rolling windows are not supported: the report judges each SLO over calendar months; use "
    "duration: 1M with a calendar"
)
THRESHOLD_FIELD = "only for a thresholdMetric, which is not supported"
NOT_PROMETHEUS = "only Prometheus queries are read (the prometheus source)"
NOT_MIDNIGHT = "the report's months start on the 1st at 00:00:00 (e.g. 2024-01-01 00:00:00)"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "occurences-slo.yaml",
            [
                f"occurences-slo.yaml (document 1, SLO search-slo): spec.timeWindow[0].isRolling: "
                f"{ROLLING}",
                f"occurences-slo.yaml (document 1, SLO search-slo): spec.objectives[0].op: "
                f"{THRESHOLD_FIELD}",
                f"occurences-slo.yaml (document 1, SLO search-slo): spec.objectives[0].value: "
                f"{THRESHOLD_FIELD}",
                "occurences-slo.yaml (document 1, SLO search-slo): "
                "spec.indicator.spec.thresholdMetric: not supported: it compares one value per "
                "slice (a percentile, a lag) with the objective, and the report counts good and "
                "total events; write latency as a ratioMetric of histogram buckets (good: "
                "H_bucket{le=...}, total: H_count)",
            ],
        ),
        (
            "ratio-timeslices.yaml",
            [
                f"ratio-timeslices.yaml (document 1, SLO main-page): spec.timeWindow[0].isRolling: "
                f"{ROLLING}",
                f"ratio-timeslices.yaml (document 1, SLO main-page): spec.objectives[0].op: "
                f"{THRESHOLD_FIELD}",
                "ratio-timeslices.yaml (document 1, SLO main-page): "
                f"spec.indicator.spec.ratioMetric.good.metricSource.type: Any: {NOT_PROMETHEUS}",
            ],
        ),
        (
            "timeslices-slo.yaml",
            [
                "timeslices-slo.yaml (document 1, SLO service-availability): "
                "spec.timeWindow[0].duration: '1m': only a calendar month (1M) is supported, "
                "the report's period",
                "timeslices-slo.yaml (document 1, SLO service-availability): "
                f"spec.timeWindow[0].calendar.startTime: '2022-01-01 12:00:00': {NOT_MIDNIGHT}",
                "timeslices-slo.yaml (document 1, SLO service-availability): spec.objectives: 2 "
                "objectives; exactly one per SLO is supported (write one SLO document per "
                "objective)",
                "timeslices-slo.yaml (document 1, SLO service-availability): "
                f"spec.indicator.spec.ratioMetric.good.metricSource.type: Any: {NOT_PROMETHEUS}",
            ],
        ),
        (
            "readme-inline-sli-slo.yaml",
            [
                "readme-inline-sli-slo.yaml (document 1, SLO foo-slo): spec.budgetingMethod: "
                "required: one of Occurrences, Timeslices, RatioTimeslices",
                "readme-inline-sli-slo.yaml (document 1, SLO foo-slo): "
                f"spec.indicator.spec.ratioMetric.good.metricSource.type: Datadog: "
                f"{NOT_PROMETHEUS}",
            ],
        ),
        (
            "sdk-slis.yaml",
            [
                "sdk-slis.yaml (document 1, SLI search-availability): "
                f"spec.ratioMetric.good.metricSource.type: Datadog: {NOT_PROMETHEUS}",
                "sdk-slis.yaml (document 2, SLI end-user-response): "
                f"spec.ratioMetric.bad.metricSource.type: AppDynamics: {NOT_PROMETHEUS}",
                "sdk-slis.yaml (document 3, SLI wifi-client-satisfaction): spec.ratioMetric.raw: "
                "not supported: a precomputed ratio cannot be counted into good and total "
                "events; give good (or bad) and total",
                "sdk-slis.yaml (document 4, SLI annotator-throughput): spec.thresholdMetric: not "
                "supported: it compares one value per slice (a percentile, a lag) with the "
                "objective, and the report counts good and total events; write latency as a "
                "ratioMetric of histogram buckets (good: H_bucket{le=...}, total: H_count)",
            ],
        ),
        (
            "sdk-slos.yaml",
            [
                "sdk-slos.yaml (document 1, SLO web-availability): metadata.labels.team: "
                "['team-a', 'team-b']: an SLO's labels go on its alerts, one value each",
                "sdk-slos.yaml (document 1, SLO web-availability): spec.timeWindow[0].duration: "
                "'1w': only a calendar month (1M) is supported, the report's period",
                "sdk-slos.yaml (document 1, SLO web-availability): "
                f"spec.timeWindow[0].calendar.startTime: '2022-01-01 12:00:00': {NOT_MIDNIGHT}",
                f"sdk-slos.yaml (document 1, SLO web-availability): spec.objectives[0].op: "
                f"{THRESHOLD_FIELD}",
            ],
        ),
        (
            "sdk-data-sources.yaml",
            [
                "sdk-data-sources.yaml (document 2, DataSource datadog): spec.type: Datadog: only "
                "Prometheus data sources are read (the prometheus source)",
            ],
        ),
        (
            "sdk-services.yaml",
            [
                "sdk-services.yaml (document 1, Service example-service): metadata.labels.team: "
                "['team-a', 'team-b']: a service has one team (one value)",
            ],
        ),
        (
            "sdk-alert-conditions.yaml",
            [
                "sdk-alert-conditions.yaml (document 1, AlertCondition cpu-usage-breach): "
                "spec.condition.op: 'lte': a burn-rate alert fires when the burn rate exceeds "
                "the threshold (gt); lt and lte would alert while the budget is fine",
            ],
        ),
        (
            "sdk-alert-policies.yaml",
            [
                "sdk-alert-policies.yaml (document 1, AlertPolicy low-priority): "
                "spec.conditions[0].conditionRef: no AlertCondition named 'cpu-usage-breach'",
                "sdk-alert-policies.yaml (document 3, AlertPolicy medium-priority): "
                "spec.conditions[0].conditionRef: no AlertCondition named 'cpu-usage-breach'",
            ],
        ),
    ],
)
def test_spec_examples_outside_the_subset_name_document_field_and_why(name, expected):
    assert problems_of(SPEC / name) == expected


def test_sloth_examples_are_v1alpha_and_refused_as_such():
    v1alpha = (
        "apiVersion: 'openslo/v1alpha' is not supported; only openslo/v1 documents are read "
        "(openslo/v1alpha and v2alpha have another shape)"
    )
    assert problems_of(SLOTH / "openslo-getting-started.yml") == [
        f"openslo-getting-started.yml (document 1, SLO sloth-slo-my-service): {v1alpha}"
    ]
    assert problems_of(SLOTH / "openslo-kubernetes-apiserver.yml") == [
        f"openslo-kubernetes-apiserver.yml (document 1, SLO requests-availability-openslo): "
        f"{v1alpha}",
        f"openslo-kubernetes-apiserver.yml (document 2, SLO requests-latency-openslo): {v1alpha}",
    ]


def test_the_sdk_prometheus_data_source_and_the_readme_ratio_metric_are_read(tmp_path):
    (prometheus,) = [
        d
        for d in yaml.safe_load((SPEC / "sdk-data-sources.yaml").read_text())
        if d["spec"]["type"] == "Prometheus"
    ]
    fragment = yaml.safe_load((SPEC / "readme-ratio-metric-fragment.yaml").read_text())
    prometheus["metadata"]["name"] = "prometheus-datasource"  # the name the fragment refers to
    slo = {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "server-requests"},
        "spec": {
            "service": "localhost",
            "indicator": {"metadata": {"name": "requests"}, "spec": fragment},
            "budgetingMethod": "Occurrences",
            "objectives": [{"targetPercent": 99.5}],
        },
    }
    path = tmp_path / "documents.yaml"
    path.write_text(yaml.safe_dump_all([prometheus, slo]), encoding="utf-8")

    config = config_from_dict({"openslo": "documents.yaml"}, "reliability.yaml", tmp_path)

    assert config.sources.metrics.kind == "prometheus"
    assert config.sources.metrics.base_url == "http://prometheus.example.com"
    (service,) = config.services
    assert (service.name, service.team) == ("localhost", "unassigned")
    (read,) = service.slos
    assert (read.name, read.objective, read.budgeting) == ("server-requests", 0.995, "occurrences")
    # sum(selector) of a counter is the sum of its increases: the selector is what is counted
    assert read.indicator == Indicator(
        good='localhost_server_requests{code=~"2xx|3xx",host="*",instance="127.0.0.1:9090"}',
        total='localhost_server_requests{code="total",host="*",instance="127.0.0.1:9090"}',
    )
    assert config.timezone == "UTC"


def test_sdk_alert_policies_with_a_burn_rate_condition_become_a_policy(tmp_path):
    policies = yaml.safe_load((SPEC / "sdk-alert-policies.yaml").read_text())
    conditions = yaml.safe_load((SPEC / "sdk-alert-conditions.yaml").read_text())
    high, latency = policies[1], conditions[1]  # the two whose condition is a gt burn rate
    slo = {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "availability"},
        "spec": {
            "service": "web",
            "budgetingMethod": "Occurrences",
            "objectives": [{"target": 0.999}],
            "alertPolicies": [
                {"alertPolicyRef": "high-priority"},
                {
                    "kind": "AlertPolicy",
                    "metadata": {"name": "latency"},
                    "spec": {"conditions": [{"conditionRef": "latency-too-high"}]},
                },
            ],
        },
    }
    (tmp_path / "docs.yaml").write_text(yaml.safe_dump_all([high, latency, slo]), encoding="utf-8")

    config = config_from_dict({"openslo": "docs.yaml"}, "reliability.yaml", tmp_path)

    (service,) = config.services
    assert service.slos[0].alert_policy == "high-priority+latency"
    policy = config.alert_policies["high-priority+latency"]
    assert [w.model_dump(by_alias=True, exclude_none=True) for w in policy.windows] == [
        # high-priority: page on a burn rate above 2 over 1h, for 5m (short window 1h / 12)
        {"severity": "page", "long_window": "1h", "short_window": "5m", "factor": 2.0, "for": "5m"},
        # latency-too-high: severity warning is a ticket; 1d / 12 = 2h
        {
            "severity": "ticket",
            "long_window": "1d",
            "short_window": "2h",
            "factor": 200.0,
            "for": "30m",
        },
    ]


# -- a native config and its translation ------------------------------------------------------


def test_a_native_config_and_its_openslo_translation_compute_the_same_json(capsys):
    native = load_config(TRANSLATION / "native.yaml")
    translated = load_config(TRANSLATION / "openslo.yaml")
    assert translated.timezone == native.timezone == "Europe/Berlin"
    # the same SLOs; only checkout/availability is written as bad over total
    assert [s.name for s in translated.services] == ["checkout", "ledger", "api-gateway"]
    for ours, theirs in zip(native.services, translated.services, strict=True):
        assert (ours.name, ours.team) == (theirs.name, theirs.team)
        for a, b in zip(ours.slos, theirs.slos, strict=True):
            assert a.model_copy(update={"indicator": None}) == b.model_copy(
                update={"indicator": None}
            )
    assert translated.services[1:] == native.services[1:]
    assert translated.alert_policies == native.alert_policies  # from AlertPolicy documents
    assert translated.services[0].slos[1] == native.services[0].slos[1]  # latency from buckets
    availability = translated.services[0].slos[0].indicator
    assert availability.total == 'http_requests_total{job="checkout"}'
    assert availability.good_query == (
        'sum(increase(http_requests_total{job="checkout"}[{{window}}])) - '
        '((sum(increase(http_requests_total{job="checkout",code=~"5.."}[{{window}}]))) '
        "or vector(0))"
    )

    expected = compute_json(TRANSLATION / "native.yaml", capsys)
    result = compute_json(TRANSLATION / "openslo.yaml", capsys)

    assert result == expected
    assert len(result["slos"]) == 5
    assert all(row["sli"] is not None and row["total"] > 0 for row in result["slos"])


def test_translation_problems_are_listed_together(tmp_path):
    document = {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "fast"},
        "spec": {
            "service": "checkout",
            "indicator": {
                "metadata": {"name": "fast"},
                "spec": {
                    "ratioMetric": {
                        "good": {
                            "metricSource": {
                                "type": "Prometheus",
                                "spec": {"query": "sum(rate(x_total[{{.window}}]))"},
                            }
                        },
                        "total": {
                            "metricSource": {
                                "type": "Prometheus",
                                "spec": {"query": "histogram_quantile(0.9, x)"},
                            }
                        },
                    }
                },
            },
            "timeWindow": [
                {"duration": "1M", "calendar": {"startTime": "2024-01-01", "timeZone": "Mars/Base"}}
            ],
            "budgetingMethod": "Timeslices",
            "objectives": [{"target": 0.99, "targetPercent": 99}],
        },
    }
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    problems = problems_of(path)

    where = "slo.yaml (document 1, SLO fast): "
    assert [p.removeprefix(where) for p in problems] == [
        "spec.timeWindow[0].calendar.timeZone: unknown time zone 'Mars/Base' (an IANA name, e.g. "
        "Europe/Berlin)",
        "spec.objectives[0]: exactly one of target and targetPercent is required",
        "spec.objectives[0].timeSliceTarget: required when budgetingMethod is Timeslices",
        "spec.indicator.spec.ratioMetric.good.metricSource.spec.query: rate() gives events per "
        "second; use increase() so that the query returns each step's events",
    ]
    assert all(p.startswith(where) for p in problems)


# -- export and the round trip ----------------------------------------------------------------


def test_export_round_trip_is_identity_on_the_sample(tmp_path, capsys):
    sample = sample_config()
    out = tmp_path / "openslo.yaml"

    code = main(["export", "--openslo", "--out", str(out)])

    assert code == 0, capsys.readouterr().err
    documents = list(yaml.safe_load_all(out.read_text(encoding="utf-8")))
    assert documents == to_documents(sample)
    kinds = [d["kind"] for d in documents]
    assert kinds.count("Service") == len(sample.services)
    assert kinds.count("SLO") == sum(len(s.slos) for s in sample.services)
    assert all(d["apiVersion"] == "openslo/v1" for d in documents)
    back = config_from_dict({"openslo": str(out)}, "reliability.yaml", tmp_path)
    assert back.services == sample.services
    assert back.timezone == sample.timezone
    # and once more: the documents of the documents are the documents
    assert to_yaml(back) == out.read_text(encoding="utf-8")


def test_export_round_trip_keeps_what_openslo_has_no_field_for(tmp_path):
    document = {
        "timezone": "America/New_York",
        "services": [
            {
                "name": "Payments_API",
                "team": "payments",
                "slos": [
                    {
                        "name": "availability",
                        "objective": 0.999,
                        "budgeting": "ratio_timeslices",
                        "timeslice": "5m",
                        "alert_policy": "pyrra",
                        "labels": {"owner": "payments"},
                        "runbook_url": "https://runbooks.example.com/payments",
                    },
                    {"name": "latency", "objective": 0.99, "timeslice": "10m"},
                ],
            }
        ],
    }
    native = config_from_dict(document, "reliability.yaml", tmp_path)
    (tmp_path / "docs.yaml").write_text(to_yaml(native), encoding="utf-8")

    back = config_from_dict({"openslo": "docs.yaml"}, "reliability.yaml", tmp_path)

    assert back.services == native.services
    assert back.timezone == "America/New_York"
    (service, slo, _) = to_documents(native)
    assert service["metadata"]["name"] == "payments-api"
    assert slo["metadata"]["name"] == "payments-api-availability"


def test_a_folder_of_documents_and_the_config_time_zone_must_agree(tmp_path):
    folder = tmp_path / "slos"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        (TRANSLATION / "documents" / "api-gateway.yaml").read_text(), encoding="utf-8"
    )
    with pytest.raises(InputError) as caught:
        config_from_dict({"timezone": "UTC", "openslo": "slos"}, "reliability.yaml", tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        "reliability.yaml: timezone: UTC, but the OpenSLO documents' calendars are in "
        "Europe/Berlin; the report has one calendar"
    ]
    with pytest.raises(InputError, match=r"openslo: .*missing does not exist"):
        config_from_dict({"openslo": ["missing"]}, "reliability.yaml", tmp_path)


def test_export_on_the_command_line_prints_the_documents(tmp_path, capsys):
    config = tmp_path / "reliability.yaml"
    config.write_text((TRANSLATION / "native.yaml").read_text(), encoding="utf-8")

    code = main(["export", "--openslo", "--config", str(config)])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == to_yaml(load_config(config))
    assert "wrote 8 OpenSLO v1 documents" in captured.err


def test_documents_that_expand_through_aliases_are_refused_before_they_are_built(tmp_path):
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join([f'*{previous}'] * 10)}]")
    (tmp_path / "laughs.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(InputError) as caught:
        config_from_dict({"openslo": "laughs.yaml"}, "reliability.yaml", tmp_path)

    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'laughs.yaml'}: a document expands to more than 5,000,000 values and "
        "characters through its YAML aliases (*name)"
    ]
