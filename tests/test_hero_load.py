"""Hero load: per team, the top responder's share of incidents and of off-hours pages, flagged
over a share; hand-computed values, the config's choice of names, and the ``null``s."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reliability import frames
from reliability.cli import main
from reliability.config import config_from_dict
from reliability.errors import InputError
from reliability.frames import Frames
from reliability.metrics import responders
from reliability.metrics.incidents import incident_durations, pages
from reliability.metrics.month import compute_month
from reliability.metrics.oncall import off_hours
from reliability.period import Month
from reliability.results import to_json, to_tables

MONDAY = pd.Timestamp("2026-10-05T00:00Z")
"""Minute 0: Monday 5 October 2026, 00:00 UTC, outside the default business hours (9 to 17)."""
DAY = 600
"""Minute 600 is 10:00 on that Monday: within business hours."""


def incidents(rows: list[tuple]) -> pd.DataFrame:
    """Validated incidents from ``(id, service, severity, minute, responder)`` rows."""
    frame = pd.DataFrame(
        [
            {
                "id": id_,
                "service": service,
                "severity": severity,
                "created_at": (MONDAY + pd.Timedelta(minutes=minute)).isoformat(),
                "resolved_at": (MONDAY + pd.Timedelta(minutes=minute + 30)).isoformat(),
                "responder": responder or "",
            }
            for id_, service, severity, minute, responder in rows
        ]
    )
    return frames.validate(frame, frames.INCIDENTS, "incidents.csv")


def config(**extra: object):
    return config_from_dict(
        {
            "severities": ["SEV1", "SEV2", "SEV3"],
            "services": [
                {"name": "checkout", "team": "payments"},
                {"name": "ledger", "team": "payments"},
                {"name": "search", "team": "discovery"},
            ],
            **extra,
        },
        "reliability.yaml",
        Path("."),
    )


ROWS = [
    # payments: ana handles 4 of the 6 incidents with a responder (67% > 50%); one has none.
    # Off-hours pages (SEV1/SEV2 before 09:00): ana 2, bruno 1, too few (3 < 5) to judge.
    ("p1", "checkout", "SEV1", 0, "ana"),
    ("p2", "checkout", "SEV2", 60, "ana"),
    ("p3", "ledger", "SEV2", 120, "bruno"),
    ("p4", "ledger", "SEV3", 180, "ana"),  # off hours, but SEV3 does not page
    ("p5", "checkout", "SEV1", DAY, "ana"),
    ("p6", "checkout", "SEV2", DAY + 60, "bruno"),
    ("p7", "checkout", "SEV2", DAY + 120, None),
    # discovery: jon 2, kemi 2, lars 1: the tie goes to the first name, 40%: not flagged.
    ("d1", "search", "SEV2", DAY, "kemi"),
    ("d2", "search", "SEV2", DAY + 10, "jon"),
    ("d3", "search", "SEV3", DAY + 20, "lars"),
    ("d4", "search", "SEV3", DAY + 30, "jon"),
    ("d5", "search", "SEV3", DAY + 40, "kemi"),
    # a service no team owns: one incident, too few to judge
    ("u1", "mystery", "SEV1", 30, "zed"),
]


def hero(rows: list[tuple], cfg=None, **kw: object) -> responders.HeroLoad:
    cfg = cfg or config()
    frame = incident_durations(incidents(rows))
    off = pages(frame, cfg.severities) & off_hours(
        frame["created_at"], cfg.timezone, cfg.business_hours
    )
    teams = {s.name: s.team for s in cfg.services}
    return responders.hero_load(frame, teams, off, **kw)


def by_team(load: responders.HeroLoad) -> dict[str, dict]:
    return {r["team"]: r for r in load.table.to_dict("records")}


def test_top_responder_share_of_incidents_and_off_hours_pages_per_team():
    load = hero(ROWS)
    assert load.table["team"].tolist() == ["payments", "discovery", "(unassigned)"]
    teams = by_team(load)
    payments = teams["payments"]
    assert (payments["incidents"], payments["handled"], payments["responders"]) == (7, 6, 2)
    assert (payments["top_responder"], payments["top_handled"]) == ("ana", 4)
    assert payments["top_share"] == pytest.approx(4 / 6)
    assert payments["off_hours_pages"] == 3
    assert (payments["off_hours_top_responder"], payments["off_hours_top_handled"]) == ("ana", 2)
    assert payments["off_hours_top_share"] == pytest.approx(2 / 3)
    assert payments["hero"] is True  # judged on its incidents; too few off-hours pages

    discovery = teams["discovery"]
    assert (discovery["handled"], discovery["responders"]) == (5, 3)
    assert (discovery["top_responder"], discovery["top_handled"]) == ("jon", 2)
    assert discovery["top_share"] == pytest.approx(0.4)
    assert discovery["off_hours_pages"] == 0
    assert pd.isna(discovery["off_hours_top_responder"])
    assert pd.isna(discovery["off_hours_top_share"])
    assert discovery["hero"] is False

    unassigned = teams["(unassigned)"]
    assert (unassigned["handled"], unassigned["top_share"]) == (1, 1.0)
    assert pd.isna(unassigned["hero"])  # one incident is no pattern
    assert load.max_share == responders.HERO_SHARE == 0.5
    assert load.reasons == {}


def test_off_hours_pages_alone_can_flag_a_team():
    # 5 off-hours pages, 4 of them ana's (80%); over all 10 incidents ana has 4 (40%)
    night = [(f"n{i}", "checkout", "SEV1", i * 60, "ana") for i in range(4)]
    night.append(("n4", "checkout", "SEV1", 300, "bruno"))
    day = [
        (f"d{i}", "checkout", "SEV3", DAY + i, name)
        for i, name in enumerate(["chen", "dara", "bruno", "chen", "dara"])
    ]
    payments = by_team(hero(night + day))["payments"]
    assert payments["top_share"] == pytest.approx(0.4)
    assert payments["off_hours_top_share"] == pytest.approx(0.8)
    assert payments["hero"] is True


def test_exactly_the_share_is_not_over_it_and_the_share_is_configurable():
    rows = [(f"x{i}", "search", "SEV3", DAY + i, n) for i, n in enumerate("aabbcd")]
    assert by_team(hero(rows))["discovery"]["top_share"] == pytest.approx(2 / 6)
    even = [(f"x{i}", "search", "SEV3", DAY + i, n) for i, n in enumerate("aaabbb")]
    assert by_team(hero(even))["discovery"]["hero"] is False  # 50% is not over 50%
    assert by_team(hero(rows, max_share=0.3))["discovery"]["hero"] is True
    cfg = config(responders={"max_share": 0.3})
    assert cfg.responders.max_share == 0.3


def test_without_any_responder_every_team_is_unknown_with_a_reason():
    load = hero([(r[0], r[1], r[2], r[3], None) for r in ROWS])
    assert load.table["hero"].isna().all()
    assert (load.table["handled"] == 0).all()
    assert load.reasons == {"hero": "no incident of the month names a responder"}


def test_blank_and_space_only_responders_are_none():
    frame = incidents([("a", "search", "SEV1", 0, "  "), ("b", "search", "SEV1", 0, " jon ")])
    assert frame["responder"].isna().tolist() == [True, False]
    assert by_team(hero([("a", "search", "SEV1", 0, " jon ")]))["discovery"]["top_responder"] == (
        "jon"
    )


# --- the month, its JSON and the config's choice of names ---------------------------------------


def month_of(rows: list[tuple], **extra: object):
    frame = incidents(rows)
    extent = (MONDAY - pd.Timedelta(days=9), MONDAY + pd.Timedelta(days=40))
    loaded = Frames(incidents=frame, extents={"incidents": extent})
    return compute_month(
        config(**extra), loaded, Month(2026, 10), now=pd.Timestamp("2026-12-01T00:00Z")
    )


def test_metrics_json_carries_no_names_unless_asked():
    document = to_json(month_of(ROWS))
    section = document["hero_load"]
    assert section["names_included"] is False
    payments = section["teams"][0]
    assert (payments["team"], payments["top_share"], payments["hero"]) == ("payments", 4 / 6, True)
    assert payments["top_responder"] is None
    assert payments["off_hours_top_responder"] is None
    text = json.dumps(document)
    for name in ("ana", "bruno", "kemi", "jon", "zed"):
        assert f'"{name}"' not in text
    tables = to_tables(month_of(ROWS))
    assert tables["hero_load"]["top_responder"].isna().all()

    named = to_json(month_of(ROWS, responders={"in_json": True}))["hero_load"]
    assert named["names_included"] is True
    assert named["teams"][0]["top_responder"] == "ana"


def test_without_a_responder_column_the_section_is_null_with_the_reason():
    rows = [(r[0], r[1], r[2], r[3], None) for r in ROWS]
    result = month_of(rows)
    assert result.hero_load is None
    assert result.unavailable["hero_load"] == "the incidents input names no responders"
    assert to_json(result)["hero_load"] is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"responders": {"display": "full"}}, "responders.display"),
        ({"responders": {"max_share": 1.5}}, "responders.max_share"),
        ({"responders": {"names": True}}, "responders.names"),
    ],
)
def test_bad_responder_config_names_the_key(extra, expected):
    with pytest.raises(InputError) as caught:
        config(**extra)
    assert any(expected in str(problem) for problem in caught.value.problems), caught.value


def test_validate_reads_the_responder_column_of_a_csv(tmp_path, capsys):
    (tmp_path / "incidents.csv").write_text(
        "id,service,severity,created_at,resolved_at,responder\n"
        "INC-1,checkout,SEV1,2026-10-02T00:00:00Z,2026-10-02T01:00:00Z,Ada Lovelace\n"
        "INC-2,checkout,SEV1,2026-10-05T00:00:00Z,2026-10-05T01:00:00Z,\n"
    )
    (tmp_path / "reliability.yaml").write_text(
        "services: [{name: checkout, team: payments}]\n"
        "sources:\n  incidents: {kind: csv, path: incidents.csv}\n"
    )
    args = ["--config", str(tmp_path / "reliability.yaml"), "--month", "2026-10"]
    assert main(["validate", *args]) == 0
    capsys.readouterr()
    assert main(["compute", *args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["hero_load"]["teams"][0]["handled"] == 1
    assert "Ada" not in json.dumps(document)
