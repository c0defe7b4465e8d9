"""`reliability rules`: Sloth-named recording and burn-rate alert rules, pinned by a golden file
and checked by the real `promtool check rules`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reliability.cli import main
from reliability.config import config_from_dict, load_config
from reliability.errors import InputError
from reliability.rules import prometheus_rules
from reliability.sources.sample import sample_config

DATA = Path(__file__).parent / "data"
CONFIG = DATA / "rules" / "reliability.yaml"
GOLDEN = DATA / "golden" / "rules.yaml"
REGENERATE = f"reliability rules --config {CONFIG} --out {GOLDEN}"


def promtool_check(path: Path) -> subprocess.CompletedProcess:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is installed by `make system-deps` (Debian prometheus)"
    return subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )


def test_the_rules_equal_the_golden_file():
    result = prometheus_rules(load_config(CONFIG)).to_yaml()
    assert result == GOLDEN.read_text(), f"the rules changed; if on purpose: {REGENERATE}"


def test_the_golden_file_passes_promtool_check_rules():
    result = promtool_check(GOLDEN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 52 rules found" in result.stdout


def test_the_sample_organisations_rules_pass_promtool(tmp_path):
    """All three indicator forms of the sample (selectors, query templates, histograms)."""
    out = tmp_path / "rules.yaml"
    assert main(["rules", "--out", str(out)]) == 0
    result = promtool_check(out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {prometheus_rules(sample_config()).rules} rules found" in result.stdout


def test_the_yaml_reads_back_as_the_rule_groups():
    rules = prometheus_rules(load_config(CONFIG))
    assert yaml.safe_load(rules.to_yaml()) == {"groups": rules.groups}
    assert rules.slos == 3
    assert rules.skipped == ["search/freshness"]


def test_one_group_per_service_with_sloth_names_and_labels():
    groups = {g["name"]: g["rules"] for g in prometheus_rules(load_config(CONFIG)).groups}
    assert list(groups) == ["reliability-slo-checkout", "reliability-slo-search"]
    checkout = groups["reliability-slo-checkout"]
    records = [r["record"] for r in checkout if "record" in r and "availability" in str(r)]
    assert records[:8] == [
        f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    ]
    assert "slo:objective:ratio" in records
    assert "slo:error_budget:ratio" in records
    first = checkout[0]
    assert first["labels"] == {
        "sloth_id": "checkout-availability",
        "sloth_service": "checkout",
        "sloth_slo": "availability",
        "routing_key": "checkout-oncall",
        "team": "payments",
        "sloth_window": "5m",
    }
    assert first["expr"] == (
        "1 - (\n"
        '  (sum(rate(http_requests_total{job="checkout",code!~"5.."}[5m])))\n'
        "  /\n"
        '  (sum(rate(http_requests_total{job="checkout"}[5m])))\n'
        ")\n"
    )


def test_one_alert_per_policy_window_with_its_tier_for_and_annotations():
    rules = prometheus_rules(load_config(CONFIG)).groups[0]["rules"]
    alerts = [r for r in rules if "alert" in r]
    availability = [a for a in alerts if a["labels"]["sloth_slo"] == "availability"]
    latency = [a for a in alerts if a["labels"]["sloth_slo"] == "latency"]
    assert [(a["labels"]["severity"], a["labels"]["tier"]) for a in availability] == [
        ("page", "P1"),
        ("page", "P2"),
        ("ticket", "P4"),
        ("ticket", "P4"),
    ]
    fast = availability[0]
    assert fast["expr"] == (
        'max(slo:sli_error:ratio_rate5m{sloth_id="checkout-availability", '
        'sloth_service="checkout", sloth_slo="availability"} > (14.4 * (1 - 0.999))) '
        "without (sloth_window)\n"
        "and\n"
        'max(slo:sli_error:ratio_rate1h{sloth_id="checkout-availability", '
        'sloth_service="checkout", sloth_slo="availability"} > (14.4 * (1 - 0.999))) '
        "without (sloth_window)\n"
    )
    assert "for" not in fast
    assert fast["annotations"]["runbook_url"] == (
        "https://runbooks.example.com/checkout/availability"
    )
    assert "2% of the 30d budget goes in 1h" in fast["annotations"]["description"]
    assert [a.get("for") for a in latency] == ["2m", "15m", "1h", "3h"]
    assert {a["labels"]["alert_policy"] for a in latency} == {"pyrra"}
    assert "runbook_url" not in latency[0]["annotations"]


def test_a_latency_threshold_matches_both_spellings_of_its_bucket():
    rules = prometheus_rules(load_config(CONFIG)).groups[0]["rules"]
    latency = next(r for r in rules if r.get("labels", {}).get("sloth_slo") == "latency")
    assert (
        'http_request_duration_seconds_bucket{job="checkout", le=~"1|1\\\\.0"}[5m]'
        in (latency["expr"])
    )
    assert 'http_request_duration_seconds_count{job="checkout"}[5m]' in latency["expr"]


def test_the_output_is_deterministic():
    first = prometheus_rules(load_config(CONFIG)).to_yaml()
    assert prometheus_rules(load_config(CONFIG)).to_yaml() == first


def test_a_bad_indicator_is_an_input_error_naming_its_key():
    config = config_from_dict(
        {
            "services": [
                {
                    "name": "checkout",
                    "team": "payments",
                    "slos": [
                        {"name": "latency", "objective": 0.99, "indicator": {"kind": "latency"}}
                    ],
                }
            ]
        },
        "reliability.yaml",
        Path("."),
    )
    with pytest.raises(InputError, match=r"services\[0\]\.slos\[0\]\.indicator\.histogram"):
        prometheus_rules(config)


def test_the_cli_writes_the_file_and_says_so(tmp_path, capsys):
    out = tmp_path / "rules.yaml"
    assert main(["rules", "--config", str(CONFIG), "--out", str(out)]) == 0
    assert out.read_text() == GOLDEN.read_text()
    err = capsys.readouterr().err
    assert "search/freshness has no Prometheus indicator" in err
    assert f"wrote 52 rules for 3 SLOs in 2 groups ({out.stat().st_size:,} bytes) to {out}" in err


def test_the_cli_refuses_a_folder_as_out(tmp_path, capsys):
    assert main(["rules", "--config", str(CONFIG), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
