"""Alert policies as data: the shipped policies, the config's choice, and the replay under them."""

from __future__ import annotations

import pandas as pd
import pytest
from slo_helpers import constant_traffic, slo_table

from reliability.config import config_from_dict
from reliability.errors import InputError
from reliability.metrics import slo
from reliability.metrics.policy import WORKBOOK, burn_rate_thresholds, duration_label
from reliability.period import Month
from reliability.policies import builtin_policy

SEPTEMBER = Month(2026, 9)
DAY = 1440
H = pd.Timedelta(hours=1)
M = pd.Timedelta(minutes=1)


def config(**extra) -> object:
    default = [
        {
            "name": "checkout",
            "team": "payments",
            "slos": [
                {"name": "availability", "objective": 0.999},
                {"name": "latency", "objective": 0.99, "alert_policy": "pyrra"},
            ],
        }
    ]
    services = extra.pop("services", default)
    return config_from_dict({"services": services, **extra}, "reliability.yaml", ".")


def test_the_shipped_workbook_policy_is_the_default():
    result = builtin_policy("workbook")
    assert result == WORKBOOK
    assert [w.factor for w in result.windows] == [14.4, 6.0, 3.0, 1.0]
    assert [w.tier for w in result.windows] == ["P1", "P2", "P3", "P3"]
    assert result.lookback == pd.Timedelta(days=3)


def test_the_shipped_pyrra_policy():
    result = builtin_policy("pyrra")
    assert [w.factor for w in result.windows] == [14, 7, 2, 1]
    assert [w.for_ for w in result.windows] == [2 * M, 15 * M, H, 3 * H]
    assert [w.long_window for w in result.windows] == [H, 6 * H, 24 * H, 96 * H]
    assert result.lookback == pd.Timedelta(days=4, hours=3)


def test_burn_rate_thresholds_for_charts():
    result = burn_rate_thresholds(WORKBOOK)
    assert result["severity"].tolist() == ["page", "page", "ticket", "ticket"]
    assert result["factor"].tolist() == [14.4, 6.0, 3.0, 1.0]
    assert result["long_label"].tolist() == ["1h", "6h", "1d", "3d"]
    assert result["short_label"].tolist() == ["5m", "30m", "2h", "6h"]


@pytest.mark.parametrize(
    ("minutes", "expected"), [(5, "5m"), (60, "1h"), (90, "90m"), (1440, "1d"), (2880, "2d")]
)
def test_duration_labels(minutes, expected):
    assert duration_label(pd.Timedelta(minutes=minutes)) == expected


def test_config_chooses_a_policy_globally_and_per_slo():
    cfg = config(alert_policy="workbook")
    assert cfg.alert_policy_for("checkout", "availability").name == "workbook"
    assert cfg.alert_policy_for("checkout", "latency").name == "pyrra"
    assert cfg.slo_table()["alert_policy"].tolist() == ["workbook", "pyrra"]
    # The lookback follows the longest window in use: Pyrra's 4d plus its 3h `for`.
    assert cfg.alert_lookback() == pd.Timedelta(days=4, hours=3)
    assert config(services=[]).alert_lookback() == pd.Timedelta(days=3)


def test_a_custom_policy_with_factors_shares_and_tiers():
    cfg = config(
        alert_policy="fast",
        alert_policies={
            "fast": {
                "slo_period": "28d",
                "windows": [
                    {"severity": "page", "long_window": "2h", "short_window": "10m",
                     "budget_share": 0.05},
                    {"severity": "ticket", "long_window": "12h", "short_window": "1h",
                     "factor": 2.5, "for": "30m", "tier": "backlog"},
                ],
            }
        },
        alert_tiers={"page": "P2"},
    )  # fmt: skip
    policy = cfg.alert_policy_for("checkout", "availability")
    # 5% of 28 days in 2 hours: 0.05 * 672 / 2 = 16.8.
    assert [w.factor for w in policy.windows] == [16.8, 2.5]
    assert [w.tier for w in policy.windows] == ["P2", "backlog"]
    assert policy.windows[1].for_ == pd.Timedelta(minutes=30)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"alert_policy": "nope"}, "alert_policy: unknown policy 'nope'"),
        ({"alert_policies": {"workbook": {"windows": []}}}, "windows"),
        (
            {"alert_policies": {"pyrra": {"windows": [
                {"severity": "page", "long_window": "1h", "short_window": "5m", "factor": 2}
            ]}}},
            "the name of a shipped policy",
        ),
        (
            {"alert_policies": {"x": {"windows": [
                {"severity": "page", "long_window": "1h", "short_window": "5m"}
            ]}}},
            "give either budget_share or factor",
        ),
        (
            {"alert_policies": {"x": {"windows": [
                {"severity": "page", "long_window": "5m", "short_window": "1h", "factor": 2}
            ]}}},
            "short_window must be shorter than long_window",
        ),
        (
            {"alert_policies": {"x": {"windows": [
                {"severity": "urgent", "long_window": "1h", "short_window": "5m", "factor": 2}
            ]}}},
            "alert_policies.x.windows[0].severity",
        ),
        (
            {"alert_policies": {"x": {"windows": [
                {"severity": "page", "long_window": "90s", "short_window": "30s", "factor": 2}
            ]}}},
            "whole number of minutes",
        ),
    ],
)  # fmt: skip
def test_bad_policies_are_refused_with_their_key(extra, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config(**extra)


@pytest.mark.parametrize(
    ("labels", "message"),
    [({"1team": "x"}, "not a Prometheus label name"), ({"severity": "x"}, "set by the")],
)
def test_slo_labels_must_be_free_prometheus_label_names(labels, message):
    services = [
        {
            "name": "checkout",
            "team": "payments",
            "slos": [{"name": "availability", "objective": 0.999, "labels": labels}],
        }
    ]
    with pytest.raises(InputError, match=message):
        config(services=services)


def replay(policy, bad, per_minute=100, objective=0.999):
    sli = constant_traffic(SEPTEMBER, per_minute=per_minute, bad=bad)
    slos = slo_table({"objective": objective, "alert_policy": policy.name})
    grid = slo.build_grid(sli, slos, SEPTEMBER)
    return slo.slo_report(grid, SEPTEMBER, policies={policy.name: policy}).alerts


def test_replay_under_pyrra_waits_for_each_windows_for():
    """Hand-worked: 100 events/min at 99.9%, full outage in minutes t0..t0+9 (as in the
    Workbook example of test_metrics_slo). A window holds at k bad minutes in its long
    window when ``k * 100 / (long minutes * 100) / 0.001 > factor``.

    Page: 1h/5m > 14 holds t0..t0+13 (k = 1: 16.7), firing after its 2m from t0+2 to t0+13;
    6h/30m > 7 holds from k = 3 (8.3), t0+2..t0+38, firing after 15m from t0+17 to t0+38.
    Two episodes, then: the first P1 (the fast window), the second P2.
    Ticket: 1d/2h > 2 holds from k = 3 (2.08) to t0+128, firing after 1h t0+62..t0+128;
    4d/6h > 1 holds from k = 6 (1.04), t0+5..t0+368, firing after 3h t0+185..t0+368.
    """
    t0 = 10 * DAY
    result = replay(builtin_policy("pyrra"), dict.fromkeys(range(t0, t0 + 10), 100))
    start = SEPTEMBER.start + pd.Timedelta(days=10)
    expected = pd.DataFrame(
        {
            "severity": ["page", "page", "ticket", "ticket"],
            "tier": ["P1", "P2", "P3", "P3"],
            "alert_policy": ["pyrra"] * 4,
            "start": [start + m * M for m in (2, 17, 62, 185)],
            "minutes": [12, 22, 67, 184],
        }
    )
    pd.testing.assert_frame_equal(
        result[expected.columns], expected, check_dtype=False, check_index_type=False
    )


def test_a_page_only_the_slow_window_raised_is_p2():
    """1,000 events/min at 99.9%, 8 bad a minute (burn rate 8) for 12 hours from t0: never
    over 14.4, so the 1h/5m page stays silent; 6h/30m > 6 once the 6h window holds 271 bad
    minutes (8 * 271 / 360 = 6.02), at t0+270, until the 30m window holds 22 (8 * 23 / 30 =
    6.13 > 6 at t0+726, 8 * 22 / 30 = 5.87 at t0+727): 457 minutes, tier P2."""
    t0 = 10 * DAY
    result = replay(WORKBOOK, dict.fromkeys(range(t0, t0 + 720), 8), per_minute=1000)
    page = result.loc[result["severity"] == "page"].iloc[0]
    assert page["start"] == SEPTEMBER.start + pd.Timedelta(days=10) + 270 * M
    assert page["minutes"] == 457
    assert page["tier"] == "P2"
    assert page["alert_policy"] == "workbook"


def test_each_slo_replays_under_its_own_policy():
    t0 = 10 * DAY
    bad = dict.fromkeys(range(t0, t0 + 10), 100)
    sli = pd.concat(
        [
            constant_traffic(SEPTEMBER, bad=bad, name="availability"),
            constant_traffic(SEPTEMBER, bad=bad, name="latency"),
        ],
        ignore_index=True,
    )
    slos = slo_table(
        {"slo": "availability", "alert_policy": "workbook"},
        {"slo": "latency", "alert_policy": "pyrra"},
    )
    grid = slo.build_grid(sli, slos, SEPTEMBER)
    policies = {"workbook": WORKBOOK, "pyrra": builtin_policy("pyrra")}
    result = slo.slo_report(grid, SEPTEMBER, policies=policies).alerts
    pages = result.loc[result["severity"] == "page"]
    # The Workbook example's one page of 39 minutes; Pyrra's two, above.
    assert pages.groupby("slo")["minutes"].apply(list).to_dict() == {
        "availability": [39],
        "latency": [12, 22],
    }
    assert pages.groupby("slo")["alert_policy"].first().to_dict() == {
        "availability": "workbook",
        "latency": "pyrra",
    }
