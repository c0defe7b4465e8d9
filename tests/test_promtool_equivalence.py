"""The report's alert replay equals Prometheus evaluating the generated rules.

For four synthetic incidents (a short total outage, a slow burn over two days, an outage across
midnight of the 1st, a counter reset during an outage under a policy with ``for``) the same
events are (1) canonical SLI rows replayed by the report's own month computation and (2)
counter series in a ``promtool test rules`` file evaluating the rules ``reliability rules``
writes. promtool's tests assert, at the evaluation instants around every start and end of a
replayed episode, which severities' alerts fire: exactly those the replay says fire one
minute earlier (docs/metrics.md, "The replay and Prometheus"). One promtool call runs the four
test files.

The events come every 5 minutes and the rules are evaluated every 5 minutes: Prometheus then
sees a step's events at its end, the replay at its start, so every episode Prometheus raises
begins and ends one evaluation interval after the replay's.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from reliability.config import config_from_dict
from reliability.frames import Frames
from reliability.metrics.month import compute_month
from reliability.period import Month
from reliability.rules import prometheus_rules

STEP = pd.Timedelta(minutes=5)
MINUTE = pd.Timedelta(minutes=1)
SEPTEMBER, OCTOBER = Month(2026, 9), Month(2026, 10)
HISTORY = pd.Timedelta(hours=12)
"""Quiet history before the first event: the longest window of the policies below."""
PER_STEP = 5_000
"""Events in each 5-minute step (1,000 a minute)."""
NOW = pd.Timestamp("2030-01-01", tz="UTC")


@dataclass
class Scenario:
    """One service's events: ``bad[i]`` of the ``PER_STEP`` events of step ``i`` are bad."""

    service: str
    base: pd.Timestamp
    """The instant of promtool's time 0 (where the data begins)."""
    bad: np.ndarray
    months: tuple[Month, ...]
    reset_at: int | None = None
    """Step whose end sample shows the counters restarted from zero."""
    policy: str | None = None


def scenarios() -> list[Scenario]:
    base = OCTOBER.start - HISTORY  # quiet history before 1 October
    first = int(HISTORY / STEP)  # the step starting at 1 October 00:00

    outage = np.zeros(int((HISTORY + pd.Timedelta(hours=20)) / STEP), dtype=np.int64)
    outage[first + 72 : first + 74] = PER_STEP  # 06:00-06:10 on 1 October, everything fails

    slow = np.zeros(int((HISTORY + pd.Timedelta(days=2, hours=2)) / STEP), dtype=np.int64)
    slow[first : first + 2 * 288] = 11  # burn rate 2.2 for two days (0.22% of events fail)

    midnight_base = base - pd.Timedelta(hours=1)
    midnight = np.zeros(int((HISTORY + pd.Timedelta(hours=14)) / STEP), dtype=np.int64)
    cut = int((OCTOBER.start - midnight_base) / STEP)
    midnight[cut - 3 : cut + 3] = PER_STEP  # 23:45 on 30 September to 00:15 on 1 October

    reset = np.zeros(int((HISTORY + pd.Timedelta(hours=10)) / STEP), dtype=np.int64)
    reset[first + 36 : first + 44] = PER_STEP // 2  # 03:00-03:40, half the events fail
    return [
        Scenario("outage", base, outage, (OCTOBER,)),
        Scenario("slow", base, slow, (OCTOBER,)),
        Scenario("midnight", midnight_base, midnight, (SEPTEMBER, OCTOBER)),
        Scenario("reset", base, reset, (OCTOBER,), reset_at=first + 39, policy="held"),
    ]


POLICIES = {
    # The Workbook's shape and factors on windows a quarter as long (and at most 12 hours), so
    # that promtool evaluates hours, not days, of history at every step.
    "quick": {
        "windows": [
            {"severity": "page", "long_window": "1h", "short_window": "5m", "factor": 14.4},
            {"severity": "page", "long_window": "3h", "short_window": "15m", "factor": 6},
            {"severity": "ticket", "long_window": "6h", "short_window": "30m", "factor": 3},
            {"severity": "ticket", "long_window": "12h", "short_window": "1h", "factor": 1},
        ]
    },
    # With Prometheus' `for` on every window.
    "held": {
        "windows": [
            {"severity": "page", "long_window": "1h", "short_window": "5m", "factor": 14.4,
             "for": "10m"},
            {"severity": "ticket", "long_window": "6h", "short_window": "30m", "factor": 3,
             "for": "30m"},
        ]
    },
}  # fmt: skip


def config(cases: list[Scenario]):
    services = [
        {
            "name": case.service,
            "team": "payments",
            "slos": [
                {
                    "name": "availability",
                    "objective": 0.999,
                    **({"alert_policy": case.policy} if case.policy else {}),
                    "indicator": {
                        "good": f'http_requests_total{{job="{case.service}",code!~"5.."}}',
                        "total": f'http_requests_total{{job="{case.service}"}}',
                    },
                }
            ],
        }
        for case in cases
    ]
    data = {"services": services, "alert_policy": "quick", "alert_policies": POLICIES}
    return config_from_dict(data, "reliability.yaml", Path("."))


def sli_rows(case: Scenario) -> pd.DataFrame:
    """The canonical rows the Prometheus source would give: one per step, at its start."""
    steps = len(case.bad)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(case.base, periods=steps, freq=STEP).as_unit("ns"),
            "service": pd.Categorical([case.service] * steps),
            "slo": pd.Categorical(["availability"] * steps),
            "good": PER_STEP - case.bad,
            "total": np.full(steps, PER_STEP),
        }
    )


def counter_values(increments: np.ndarray, start: int, reset_at: int | None) -> str:
    """The samples of a counter (time 0, then the end of each step), restarted from zero at
    the end of step ``reset_at`` (its value is then that step's events alone)."""
    values = start + np.concatenate([[0], np.cumsum(increments)])
    if reset_at is not None:
        values[reset_at + 1 :] -= values[reset_at]
    return " ".join(str(int(v)) for v in values)


def replay_firing(case: Scenario, cfg) -> dict[str, set[pd.Timestamp]]:
    """Per severity, every minute at which the report's replay has an episode firing."""
    frames = Frames(sli=sli_rows(case))
    alerts = pd.concat(
        [compute_month(cfg, frames, month, NOW).alerts for month in case.months],
        ignore_index=True,
    )
    alerts = alerts.loc[alerts["service"] == case.service]
    firing: dict[str, set[pd.Timestamp]] = {"page": set(), "ticket": set()}
    for row in alerts.itertuples():
        firing[row.severity].update(pd.date_range(row.start, row.end, freq="min", inclusive="left"))
    return firing


def probe_ticks(case: Scenario, firing: dict[str, set[pd.Timestamp]]) -> list[int]:
    """Evaluation instants (minutes from time 0) on both sides of every change of the
    replay's firing state: the tick that first shows it and the one before."""
    ticks: set[int] = set()
    for minutes in firing.values():
        if not minutes:
            continue
        stamps = pd.DatetimeIndex(sorted(minutes))
        gaps = np.flatnonzero(np.diff(stamps.asi8) != MINUTE.value)
        starts = [stamps[0], *stamps[gaps + 1]]
        ends = [*(stamps[gaps] + MINUTE), stamps[-1] + MINUTE]
        for change in starts + ends:
            # Prometheus at tick T shows what the replay has at minute T - 1.
            offset = int((change - case.base) / MINUTE) + 1
            tick = -(-offset // 5) * 5
            ticks.update({tick - 5, tick})
    return sorted(ticks)


def promtool_test(case: Scenario, firing: dict[str, set[pd.Timestamp]]) -> dict:
    steps = len(case.bad)
    series = [
        {
            "series": f'http_requests_total{{job="{case.service}",code="200"}}',
            "values": counter_values(PER_STEP - case.bad, 10_000_000, case.reset_at),
        },
        {
            "series": f'http_requests_total{{job="{case.service}",code="500"}}',
            "values": counter_values(case.bad, 1_000, case.reset_at),
        },
    ]
    assert len(series[0]["values"].split()) == steps + 1
    tests = []
    for tick in probe_ticks(case, firing):
        minute = case.base + pd.Timedelta(minutes=tick) - MINUTE
        expected = [
            {"labels": f'{{severity="{severity}"}}', "value": 1}
            for severity in ("page", "ticket")
            if minute in firing[severity]
        ]
        tests.append(
            {
                "expr": f'max by (severity) (ALERTS{{alertstate="firing", '
                f'sloth_service="{case.service}"}})',
                "eval_time": f"{tick}m",
                "exp_samples": expected,
            }
        )
    return {
        "name": case.service,
        "interval": "5m",
        "input_series": series,
        "promql_expr_test": tests,
    }


def test_promtool_fires_and_resolves_where_the_replay_says(tmp_path):
    cases = scenarios()
    cfg = config(cases)
    rules = prometheus_rules(cfg)
    firing = {case.service: replay_firing(case, cfg) for case in cases}

    # The replay's own story, by hand, so that this test cannot pass on two empty replays.
    outage = firing["outage"]
    assert min(outage["page"]) == OCTOBER.start + pd.Timedelta(hours=6)
    assert min(firing["slow"]["ticket"]) > OCTOBER.start + pd.Timedelta(hours=5)
    assert not firing["slow"]["page"]  # a burn rate of 2.2 never pages
    midnight = sorted(firing["midnight"]["page"])  # one run across the months' edge
    assert midnight[0] < OCTOBER.start < midnight[-1]
    assert len(midnight) == (midnight[-1] - midnight[0]) / MINUTE + 1
    # 10 minutes of `for` after the first bad step: 03:00 + 10m.
    assert min(firing["reset"]["page"]) == OCTOBER.start + pd.Timedelta(hours=3, minutes=10)

    # A test file per incident with its service's rule group alone: promtool evaluates every
    # group of a file's rules at every step, data or not.
    files = []
    for case, group in zip(cases, rules.groups, strict=True):
        assert group["name"].endswith(case.service)
        (tmp_path / f"rules-{case.service}.yaml").write_text(
            replace(rules, groups=[group]).to_yaml()
        )
        suite = {
            "rule_files": [f"rules-{case.service}.yaml"],
            "evaluation_interval": "5m",
            "tests": [promtool_test(case, firing[case.service])],
        }
        assert len(suite["tests"][0]["promql_expr_test"]) >= 4
        (tmp_path / f"test-{case.service}.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
        files.append(f"test-{case.service}.yaml")
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is installed by `make system-deps` (Debian prometheus)"
    result = subprocess.run(
        [promtool, "test", "rules", *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(cases), result.stdout
