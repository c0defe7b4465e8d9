"""The sample report as a reader sees it agrees with its metrics.json, and metrics.json with
the golden file: the first screen's tiles and sentences, the SLO, alert and on-call tables.

The golden file pins every figure the report prints; after a deliberate change of a figure,
refresh it as tests/data/golden/README.md says and review the diff.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).resolve().parent / "data" / "golden" / "metrics-2026-10.json"
GLOSSARY_TERMS = ("SLO", "SLI", "error budget", "toil", "MTTR", "MTTA", "burn", "DORA", "n=")


@pytest.fixture(scope="module")
def metrics(sample_report_month) -> dict[str, Any]:
    return json.loads((sample_report_month / "metrics.json").read_text())


@pytest.fixture(scope="module")
def soup(sample_report_month) -> BeautifulSoup:
    return BeautifulSoup((sample_report_month / "index.html").read_text(), "html.parser")


def close(result: Any, expected: Any, path: str = "") -> list[str]:
    """Where two JSON documents differ (floats to 1e-9 relative), as key paths."""
    if isinstance(expected, dict) and isinstance(result, dict):
        problems = [f"{path}.{k}: missing" for k in expected.keys() - result.keys()]
        problems += [f"{path}.{k}: unexpected" for k in result.keys() - expected.keys()]
        for key in expected.keys() & result.keys():
            problems += close(result[key], expected[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list) and isinstance(result, list):
        if len(expected) != len(result):
            return [f"{path}: {len(result)} items, expected {len(expected)}"]
        return [
            p
            for i, (r, e) in enumerate(zip(result, expected, strict=True))
            for p in close(r, e, f"{path}[{i}]")
        ]
    if isinstance(expected, float) and isinstance(result, int | float):
        return (
            []
            if math.isclose(result, expected, rel_tol=1e-9, abs_tol=1e-12)
            else [f"{path}: {result!r}, expected {expected!r}"]
        )
    return [] if result == expected else [f"{path}: {result!r}, expected {expected!r}"]


def test_metrics_json_matches_the_golden_file(metrics):
    expected = json.loads(GOLDEN.read_text())
    assert close(metrics, expected) == []


def test_the_golden_file_holds_last_read_figures():
    # The sample's first screen as last read by hand (issue 10).
    golden = json.loads(GOLDEN.read_text())
    headline = golden["headline"]
    assert (headline["slos_met"], headline["slos_with_data"]) == (16, 18)
    assert headline["slos_over_budget"] == 2
    assert round(headline["median_budget_used"] * 100) == 20
    assert headline["incidents"] == 20
    assert round(headline["mttr_median_minutes"]) == 23
    assert headline["deployments"] == 221
    assert round(headline["change_failure_rate"] * 100) == 8
    assert round(headline["toil_ratio"] * 100) == 38
    assert headline["pages_received"] == 12


def table_with(soup: BeautifulSoup, header: str) -> tuple[list[str], list[list[str]]]:
    """The one table whose header row has ``header``: its headers and its rows' cell texts."""
    found = [
        table
        for table in soup.select("table.rr-table")
        if header in [th.get_text(strip=True) for th in table.select("thead th")]
    ]
    assert len(found) == 1, f"{len(found)} tables with a {header!r} column"
    headers = [th.get_text(strip=True) for th in found[0].select("thead th")]
    rows = [
        [td.get_text(strip=True) for td in tr.select("td")] for tr in found[0].select("tbody tr")
    ]
    return headers, rows


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def test_tiles_show_the_headline_figures_and_their_comparison(soup, metrics):
    headline, changes = metrics["headline"], metrics["changes"]
    tiles = {tile["data-tile"]: tile for tile in soup.select("div.rr-tile")}
    assert list(tiles) == ["slos", "budget", "incidents", "delivery", "toil", "oncall"]

    def value(key: str) -> str:
        return soup.select_one(f'.rr-tile [data-figure="{key}"]:not(.rr-change)').get_text()

    assert value("slos_met") == f"{headline['slos_met']} of {headline['slos_with_data']}"
    assert value("slos_over_budget") == f"{headline['slos_over_budget']} over 100%"
    assert value("median_budget_used") == f"median {pct(headline['median_budget_used'])}"
    assert value("incidents") == str(headline["incidents"])
    assert value("deployments") == str(headline["deployments"])
    assert value("change_failure_rate") == f"{pct(headline['change_failure_rate'])} failed"
    assert value("toil_ratio") == pct(headline["toil_ratio"])
    assert value("pages_received") == str(headline["pages_received"])
    assert "pages received" in tiles["oncall"].get_text()
    assert value("off_hours_pages") == f"{headline['off_hours_pages']} off hours"
    words = {"better": "better", "worse": "worse", "same": "about the same"}
    for change in soup.select(".rr-tile .rr-change"):
        key = change["data-figure"]
        text = change.get_text()
        assert metrics["previous_month"] in text
        direction = changes[key]["direction"]
        if direction is None:
            assert not re.search(r"\b(better|worse)\b", text), key
        else:
            assert words[direction] in text, key
            assert text[0] in "↑↓→", key  # readable without colour: an arrow and a word


def test_first_screen_sentences_are_plain_and_name_service_and_team(soup, metrics):
    sentences = [li.get_text() for li in soup.select("ul.rr-first-screen li")]
    assert 1 <= len(sentences) <= 5
    services = {row["service"]: row["team"] for row in metrics["slos"]}
    for sentence in sentences:
        named = [s for s in services if re.search(rf"\b{re.escape(s)}\b", sentence)]
        assert named, sentence
        assert any(f"{services[s]} team" in sentence for s in named), sentence
        for term in GLOSSARY_TERMS:
            assert term.lower() not in sentence.lower(), (term, sentence)
    findings = metrics["findings"]
    assert [f["kind"] for f in findings][: len(sentences)] == [f["kind"] for f in findings][:5]
    missed = {(r["service"], r["slo"]) for r in metrics["slos"] if r["status"] == "missed"}
    for finding, sentence in zip(findings, sentences, strict=False):
        if finding["kind"] in ("at_risk", "closest"):
            assert (finding["service"], finding["values"]["slo"]) not in missed
            assert "missed" not in sentence
        if finding["kind"] == "missed":
            assert (finding["service"], finding["values"]["slo"]) in missed
            assert f"{pct(finding['values']['budget_used'])} of the shortfall" in sentence


def test_slo_table_agrees_with_metrics(soup, metrics):
    headers, rows = table_with(soup, "Measures")
    assert headers[:5] == ["Service", "Team", "SLO", "Measures", "Counted in"]
    assert "Budget used" in headers
    assert "Budget left" not in headers
    column = {name: i for i, name in enumerate(headers)}
    by_key = {(r["service"], r["slo"]): r for r in metrics["slos"]}
    assert len(rows) == len(by_key)
    methods = {"occurrences": "requests", "timeslices": "time slices",
               "ratio_timeslices": "ratio per slice"}  # fmt: skip
    for cells in rows:
        slo = by_key[(cells[column["Service"]], cells[column["SLO"]])]
        assert cells[column["Team"]] == slo["team"]
        assert cells[column["Measures"]] == slo["description"]
        assert cells[column["Counted in"]] == methods[slo["budgeting"]]
        assert cells[column["Budget used"]] == pct(slo["budget_consumed"])
        assert cells[column["Replayed page alerts"]] == str(slo["page_alerts"])
        achieved = cells[column["Achieved"]]
        digits = 3 if slo["sli"] >= 0.99 else 2  # enough to tell 99.95% from 99.9%
        assert achieved.startswith(f"{slo['sli'] * 100:.{digits}f}%")
        if slo["budgeting"] != "occurrences":  # the request ratio beside the slice ratio
            assert f"({slo['event_sli'] * 100:.3f}% of events)" in achieved
    text = soup.get_text()
    assert not re.search(r"-\d+% (left|remaining)", text)
    assert "budget left" not in text.lower()


def test_alert_tables_agree_with_metrics(soup, metrics):
    summary, episodes = metrics["alert_summary"], metrics["alerts"]
    headers, rows = table_with(soup, "Burn rate at peak")
    assert len(rows) == len(episodes) == summary["page_alerts"] + summary["ticket_alerts"]
    column = {name: i for i, name in enumerate(headers)}
    for cells, episode in zip(rows, episodes, strict=True):
        assert cells[column["Service"]] == episode["service"]
        assert cells[column["Kind"]] == episode["severity"]
        assert cells[column["Burn rate at peak"]] == f"{episode['peak_burn_rate']:,.1f}"
        assert cells[column["Covered by incident"]] == (episode["covered_by"] or "–")
    uncovered = soup.select('[data-table="uncovered"] tbody tr')
    missed = soup.select('[data-table="missed-detection"] tbody tr')
    assert len(uncovered) == summary["uncovered_pages"]
    assert len(missed) == summary["missed_detection"] == len(metrics["missed_detection"])
    counts = soup.select_one("p.rr-alert-counts").get_text()
    assert f"{summary['page_alerts']} replayed page alerts" in counts
    assert f"{summary['missed_detection']} pages received" in counts


def test_pages_received_agree_between_tile_and_oncall_table(soup, metrics):
    headers, rows = table_with(soup, "Pages received")
    column = headers.index("Pages received")
    assert sum(int(cells[column]) for cells in rows) == metrics["headline"]["pages_received"]
    assert sum(row["pages"] for row in metrics["oncall"]) == metrics["headline"]["pages_received"]
    assert headers.count("Pages") == 0  # never the bare word: pages received or replayed


def kv_value(soup: BeautifulSoup, label: str) -> str:
    """The value beside ``label`` in a key-value table of the report."""
    found = [th for th in soup.select("table.rr-kv th") if th.get_text(strip=True) == label]
    assert len(found) == 1, f"{len(found)} rows named {label!r}"
    return found[0].find_next_sibling("td").get_text(strip=True)


def share_text(within: int, n: int) -> str:
    return f"{within} of {n} ({within / n * 100:.0f}%)"


def test_operations_review_sections_agree_with_metrics(soup, metrics):
    recovery = metrics["recovery_targets"]
    assert kv_value(soup, "Restored within RTO") == share_text(
        recovery["within_rto"], recovery["n"]
    )
    headers, rows = table_with(soup, "Judged (n)")
    column = {name: i for i, name in enumerate(headers)}
    assert len(rows) == len(recovery["by_service"])
    for cells, service in zip(rows, recovery["by_service"], strict=True):
        assert cells[column["Service"]] == service["service"]
        assert cells[column["Judged (n)"]] == str(service["n"])
        assert cells[column["Within RTO"]] == str(service["within_rto"])
        share = service["within_rto_share"]
        assert cells[column["Share"]] == ("–" if share is None else pct(share))
    headers, rows = table_with(soup, "Over by")
    assert [cells[0] for cells in rows] == [m["id"] for m in recovery["worst_misses"]]
    assert rows, "the sample's recovery section lists its worst misses"

    tiers = metrics["response_tiers"]
    assert kv_value(soup, "Acknowledged within target") == share_text(
        tiers["within_target"], tiers["n"]
    )
    headers, rows = table_with(soup, "Acknowledged (n)")
    column = {name: i for i, name in enumerate(headers)}
    assert [cells[column["Tier"]] for cells in rows] == [t["tier"] for t in tiers["by_tier"]]
    assert [cells[column["Acknowledged (n)"]] for cells in rows] == [
        str(t["n"]) for t in tiers["by_tier"]
    ]
    headers, rows = table_with(soup, "Late by")
    assert [cells[0] for cells in rows] == [m["id"] for m in tiers["misses"]][:10]

    postmortems = metrics["postmortems"]
    label = f"Resolved {', '.join(postmortems['tiers'])} incidents with a postmortem"
    assert kv_value(soup, label) == share_text(postmortems["with_postmortem"], postmortems["n"])
    heading = next(h for h in soup.select("h3") if h.get_text(strip=True) == "Without a postmortem")
    listed = heading.find_next("table").select("tbody tr")
    assert [tr.select_one("td").get_text(strip=True) for tr in listed] == [
        m["id"] for m in postmortems["missing"]
    ]
    assert listed, "the sample has one postmortem missing"


def test_first_screen_fits_above_the_fold(sample_report_month, tmp_path):
    """At 1366x768 the heading, the data used, every tile (in one row) and the sentences are
    visible before any scrolling; the screenshot is kept in the test's folder."""
    from browser import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    page_url = (sample_report_month / "index.html").resolve().as_uri()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 768},
            service_workers="block",
        )
        try:
            page = context.new_page()
            page.set_default_timeout(120_000)
            local = ("data:", "blob:", "about:")
            page.route(
                "**/*",
                lambda route, request: (
                    route.continue_()
                    if request.url == page_url or request.url.startswith(local)
                    else route.abort()
                ),
            )
            page.goto(page_url, wait_until="load")
            result = page.evaluate(FOLD)
            page.screenshot(path=str(tmp_path / "first-screen-1366x768.png"))
        finally:
            context.close()
    assert result["tiles"] == 6
    assert result["tile_rows"] == 1
    assert result["bottom"] <= 768, result
    assert (tmp_path / "first-screen-1366x768.png").stat().st_size > 10_000


FOLD = """() => {
  const tiles = [...document.querySelectorAll('.rr-tile')].map(e => e.getBoundingClientRect());
  const parts = ['h1', '.rr-data-used', 'ul.rr-first-screen']
    .map(s => document.querySelector(s).getBoundingClientRect());
  return {
    tiles: tiles.length,
    tile_rows: new Set(tiles.map(r => Math.round(r.top))).size,
    bottom: Math.max(...parts.map(r => r.bottom), ...tiles.map(r => r.bottom)),
  };
}"""
