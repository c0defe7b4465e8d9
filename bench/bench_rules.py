"""`reliability rules` at fleet scale: the rule file of 1,000 SLOs (500 services of the sample
fleet, an availability and a latency SLO each; half the services on the Workbook's policy,
half on Pyrra's).

Times building the rules and writing them as YAML, best of three, in wall time and in the
process's CPU time (the machine's other load inflates the first, not the second), and reports
the output's size and rule count. Target: under 2 s of CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from reliability.config import config_from_dict
from reliability.rules import prometheus_rules
from reliability.sources.sample import sample_config

TARGET_SECONDS = 2.0


def fleet_config(services: int):
    """The sample fleet of ``services`` services, every other one on Pyrra's policy."""
    data = sample_config(services).model_dump(mode="json", exclude_defaults=True)
    for i, service in enumerate(data["services"]):
        for slo in service["slos"]:
            slo["alert_policy"] = "pyrra" if i % 2 else "workbook"
            slo["runbook_url"] = f"https://runbooks.example.com/{service['name']}/{slo['name']}"
            slo["labels"] = {"team": service["team"]}
    return config_from_dict(data, "bench", ".")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = fleet_config(args.services)
    slos = sum(len(s.slos) for s in config.services)
    timings, cpu = [], []
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        rules = prometheus_rules(config)
        text = rules.to_yaml()
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    best = min(cpu)
    size = len(text.encode())
    verdict = "ok" if best < TARGET_SECONDS else "SLOWER THAN TARGET"
    print(
        f"rules: {slos:,} SLOs, {rules.rules:,} rules in {len(rules.groups)} groups, "
        f"{size / 1e6:.1f} MB; best of {args.repeat}: {best:.2f} s CPU, {min(timings):.2f} s "
        f"wall (median {statistics.median(timings):.2f} s wall; target < "
        f"{TARGET_SECONDS:.0f} s CPU: {verdict})"
    )
    return 0 if best < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
