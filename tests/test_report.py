"""The monthly HTML report end to end: real papermill runs, real headless Chromium."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from browser import Browser
from bs4 import BeautifulSoup

from reliability.cli import main
from reliability.report import build
from reliability.report.render import NotebookJob, render_notebooks
from reliability.report.sections import service_page
from reliability.sources.sample import sample_config

pytestmark = pytest.mark.slow

MONTH = "2026-10"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
MAX_REPORT_BYTES = 6 * 1024 * 1024


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def sample_report(sample_report_month) -> Path:
    """``reliability report`` for the sample organisation, as a scheduler runs it (once per
    test run, shared with the one-file report's tests)."""
    return sample_report_month


def test_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        with_outputs = [c for c in notebook.cells if c.get("outputs") or c.get("execution_count")]
        assert with_outputs == [], f"{path.name} has outputs: commit it cleared"
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged parameters"


def test_report_files_and_metrics(sample_report, capsys):
    services = [s.name for s in sample_config().services]
    assert (sample_report / "index.html").is_file()
    for name in services:
        assert (sample_report / "services" / service_page(name)).is_file()
    main(["compute", "--month", MONTH, "--format", "json"])
    expected = json.loads(capsys.readouterr().out)
    result = json.loads((sample_report / "metrics.json").read_text())
    # metrics.json is compute's document plus what the report compares the month with.
    compared = {key: result.pop(key) for key in ("previous_month", "changes", "trend")}
    assert result == expected
    assert compared["previous_month"] == "2026-09"
    assert [row["month"] for row in compared["trend"]][-1] == MONTH


def test_fleet_report_html_is_self_contained(sample_report):
    html = (sample_report / "index.html").read_text()
    assert len(html.encode()) <= MAX_REPORT_BYTES
    assert 'class="jp-InputPrompt' not in html  # no prompts
    assert 'class="highlight' not in html  # no code
    assert "sections.slo_table(data)" not in html
    assert "setup_notebook_plotting" not in html
    assert "In&nbsp;[" not in html  # no prompts
    # Nothing loaded from elsewhere: no external scripts, styles, images or fonts.
    assert (
        re.findall(r"<(?:script|link|img|iframe)[^>]+(?:src|href)=[\"']?(?:https?:)?//", html) == []
    )
    assert "@import" not in html
    assert "mathjax.js" not in html.lower()
    assert html.count('<script src="plotly.min.js"></script>') == 1  # the folder's one copy
    for heading in (
        "Summary",
        "Service level objectives",
        "Error budget burn-down",
        "What burned the error budget",
        "Incidents",
        "Delivery",
        "Toil and on-call",
        "Cost",
        "Six-month trends",
        "Data quality",
        "Glossary",
    ):
        assert f">{heading}<" in html, heading


def test_report_in_chromium(sample_report, tmp_path):
    """No console errors, nothing fetched from outside the file, every chart drawn."""
    pages = [sample_report / "index.html", sample_report / "services" / "checkout.html"]
    with Browser() as browser:
        for page in pages:
            screenshot = tmp_path / f"{page.stem}.png"
            result = browser.check_page(page, screenshot=screenshot, folder=sample_report)
            assert result.console_errors == []
            assert result.page_errors == []
            assert result.external_requests == []
            assert result.chart_count >= 3
            assert result.charts_without_svg == 0
            assert screenshot.stat().st_size > 10_000
    assert "Service report: checkout" in result.text


def test_fleet_first_screen_tells_the_story(sample_report, tmp_path):
    with Browser() as browser:
        result = browser.check_page(
            sample_report / "index.html", tmp_path / "fleet.png", folder=sample_report
        )
    text = result.text
    assert f"Reliability report · {MONTH}" in text
    assert "SLOs met" in text
    assert "16 of 18" in text
    assert "missed its promise" in text
    assert "✗ missed" in text  # status readable without colour
    assert result.title == f"Reliability report {MONTH}"


def test_explore_notebook_executes(tmp_path):
    job = NotebookJob(
        notebook=NOTEBOOKS / "explore.ipynb",
        parameters={"month": MONTH, "config": None, "prepared": None},
        output_html=Path("explore.html"),
        title="explore",
    )
    written = render_notebooks([job], tmp_path / "explore", workers=1, progress=False)
    html = written[0].read_text()
    assert "budget_remaining" in html
    assert "Traceback" not in html


HOSTILE_TITLES = {
    0: "<img src=x onerror=alert(1)>",
    1: "<script>alert('title')</script> payment errors",
}


@pytest.fixture(scope="module")
def hostile_org(tmp_path_factory) -> Path:
    """The sample organisation as files, with script-like incident titles."""
    folder = tmp_path_factory.mktemp("hostile")
    assert main(["sample", "--out", str(folder), "--month", MONTH]) == 0
    incidents = pd.read_csv(folder / "incidents.csv", dtype=str, keep_default_na=False)
    # The file starts with the lookback before the month: take the month's own incidents.
    in_month = incidents.index[incidents["created_at"].str.startswith(MONTH)]
    for row, title in HOSTILE_TITLES.items():
        incidents.loc[in_month[row], "title"] = title
    incidents.loc[in_month[2], "postmortem_url"] = "javascript:alert(3)"
    incidents.to_csv(folder / "incidents.csv", index=False)
    return folder


def test_script_injection_renders_as_text(hostile_org, tmp_path):
    out = tmp_path / "reports"
    config = str(hostile_org / "reliability.yaml")
    code = main(["report", "--month", MONTH, "--config", config, "--out", str(out)])
    assert code == 0
    incidents = pd.read_csv(hostile_org / "incidents.csv", dtype=str, keep_default_na=False)
    service = incidents.loc[incidents["title"] == HOSTILE_TITLES[0], "service"].iloc[0]
    with Browser() as browser:
        for page in (out / MONTH / "index.html", out / MONTH / "services" / service_page(service)):
            result = browser.check_page(page, folder=out / MONTH)
            assert result.dialogs == []
            assert result.page_errors == []
            assert HOSTILE_TITLES[0] in result.text
        fleet = browser.check_page(out / MONTH / "index.html", folder=out / MONTH)
        assert HOSTILE_TITLES[1] in fleet.text
        assert "javascript:alert(3)" in fleet.text  # shown, not linked
    for html in (out / MONTH).glob("*.html"):
        assert 'href="javascript:' not in html.read_text()
    # The one file carries the titles as text too (no element, no script made of them).
    one_file = BeautifulSoup((out / MONTH / f"reliability-report-{MONTH}.html").read_text(), "lxml")
    assert one_file.find_all("img", src="x") == []
    assert [s for s in one_file.find_all("script") if s.get_text().startswith("alert(")] == []
    assert HOSTILE_TITLES[0] in one_file.get_text()
    assert HOSTILE_TITLES[1] in one_file.get_text()


def test_month_without_data_fails_and_keeps_the_earlier_report(sample_report, tmp_path, capsys):
    out = tmp_path / "reports"
    shutil.copytree(sample_report, out / MONTH)
    before = tree_digest(out / MONTH)
    # August: none of its rows, nor any of its cloud charges, reaches into October
    folder = tmp_path / "august-only"
    assert main(["sample", "--out", str(folder), "--month", "2026-08"]) == 0
    capsys.readouterr()
    code = main(
        [
            "report",
            "--month",
            MONTH,
            "--config",
            str(folder / "reliability.yaml"),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"no data at all for {MONTH}" in err
    assert "Traceback" not in err
    assert tree_digest(out / MONTH) == before


def test_failing_cell_names_notebook_and_cell_and_keeps_the_earlier_report(
    sample_report, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "reports"
    shutil.copytree(sample_report, out / MONTH)
    before = tree_digest(out / MONTH)
    broken = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, broken)
    notebook = nbformat.read(broken / "service_report.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('service page exploded')"))
    nbformat.write(notebook, broken / "service_report.ipynb")
    monkeypatch.setattr(build, "notebooks_dir", lambda: broken)
    code = main(["report", "--month", MONTH, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "service_report" in lines[0]
    assert "RuntimeError: service page exploded" in lines[0]
    assert ".ipynb" in lines[0]  # the executed notebook kept for debugging
    assert tree_digest(out / MONTH) == before


def test_service_pages_never_share_a_file():
    names = ["checkout", "Checkout", "check/out", "check-out", "платежи", "поиск", "a b"]
    pages = [service_page(name) for name in names]
    assert len({page.lower() for page in pages}) == len(names)
    assert service_page("checkout") == "checkout.html"
    assert all(re.fullmatch(r"[a-z0-9._-]+\.html", page) for page in pages)
