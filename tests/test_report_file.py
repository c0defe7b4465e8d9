"""The report a reader forwards: one self-contained HTML file, its PDF, the light month folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path, PurePosixPath

import psutil
import pytest
from browser import Browser
from conftest import SAMPLE_MONTH as MONTH

from reliability.report import onefile, pdf
from reliability.report.sections import service_page
from reliability.sources.sample import sample_config

ONE_FILE = f"reliability-report-{MONTH}.html"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output"
MAX_ONE_FILE_BYTES = 10 * 1024 * 1024
MAX_FOLDER_BYTES = 15 * 1024 * 1024
SERVICES = [s.name for s in sample_config().services]


def folder_bytes(folder: Path) -> int:
    """The month's HTML report: every file but the PDF, which only ``--pdf`` writes."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.suffix != ".pdf")


@pytest.mark.slow
def test_month_folder_shares_one_plotlyjs(sample_report_month):
    month = sample_report_month
    assert (month / ONE_FILE).is_file()
    assert (month / onefile.PLOTLY_FILE).stat().st_size > 1_000_000
    assert (month / onefile.STYLE_FILE).stat().st_size > 1_000
    pages = [month / "index.html", *(month / "services" / service_page(s) for s in SERVICES)]
    for page in pages:
        html = page.read_text()
        assert 'data-reliability="plotly.js"' not in html, page.name
        assert "<style" not in html.split("</head>")[0] or page.name == "index.html", page.name
    service_html = (month / "services" / service_page(SERVICES[0])).read_text()
    assert '<script src="../plotly.min.js"></script>' in service_html
    assert '<link href="../report.css" rel="stylesheet"/>' in service_html
    assert (month / ONE_FILE).stat().st_size <= MAX_ONE_FILE_BYTES
    assert folder_bytes(month) <= MAX_FOLDER_BYTES


@pytest.mark.slow
def test_one_file_carries_everything_once(sample_report_month):
    html = (sample_report_month / ONE_FILE).read_text()
    assert html.count('data-reliability="plotly.js"') == 1
    assert re.findall(r"<(?:script|link|img|iframe)[^>]+(?:src|href)=", html) == []
    assert html.count('class="rr-page"') == 1 + len(SERVICES)
    for name in SERVICES:
        assert f'id="service-{Path(service_page(name)).stem}"' in html
    assert f"<title>Reliability report {MONTH}</title>" in html


@pytest.mark.slow
def test_one_file_sent_alone_in_chromium(sample_report_month, tmp_path):
    """Copied alone to an empty folder: no request, every chart drawn, every link resolves."""
    alone = tmp_path / "mail" / ONE_FILE
    alone.parent.mkdir()
    shutil.copy(sample_report_month / ONE_FILE, alone)
    charts = sum(
        page.read_text().count('class="plotly-graph-div"')
        for page in [sample_report_month / "index.html", *sample_report_month.glob("services/*")]
    )
    first_screen = SCREENSHOTS / "first-screen.png"
    first_screen.unlink(missing_ok=True)
    with Browser() as browser:
        result = browser.check_page(alone, first_screen=first_screen)
    assert result.console_errors == []
    assert result.page_errors == []
    assert result.external_requests == []
    assert result.chart_count == charts > len(SERVICES)
    assert result.charts_without_svg == 0
    assert result.missing_anchors == []
    assert result.relative_links == []
    assert result.title == f"Reliability report {MONTH}"
    for name in SERVICES:
        assert f"Service report: {name}" in result.text
    assert first_screen.stat().st_size > 10_000


@pytest.mark.slow
def test_pages_of_the_folder_draw_with_the_shared_plotlyjs(sample_report_month):
    month = sample_report_month
    with Browser() as browser:
        for page in (month / "index.html", month / "services" / service_page(SERVICES[0])):
            result = browser.check_page(page, folder=month)
            assert result.external_requests == []
            assert result.page_errors == []
            assert result.console_errors == []
            assert result.chart_count >= 3
            assert result.charts_without_svg == 0
            assert result.missing_anchors == []


@pytest.mark.slow
def test_pdf_has_the_month_the_slos_met_and_every_service(sample_report_month):
    document = sample_report_month / f"reliability-report-{MONTH}.pdf"
    assert document.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(
        ["pdftotext", "-layout", str(document), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    flat = re.sub(r"\s+", " ", text)
    slos = json.loads((sample_report_month / "metrics.json").read_text())["slos"]
    scored = [s for s in slos if s["status"] != "no_data"]
    met = sum(s["status"] in ("met", "at_risk") for s in scored)
    assert MONTH in flat
    assert f"{met} of {len(scored)}" in flat
    for name in SERVICES:
        assert f"Service report: {name}" in flat
    info = subprocess.run(
        ["pdfinfo", str(document)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert re.search(r"Page size:\s+[\d.]+ x [\d.]+ pts \(A4\)", info), info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages > len(SERVICES)


@pytest.mark.slow
def test_pdf_draws_the_charts(sample_report_month):
    """Chart text exists only once plotly drew the chart: axis titles of the burn-down."""
    document = sample_report_month / f"reliability-report-{MONTH}.pdf"
    text = subprocess.run(
        ["pdftotext", str(document), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    html = (sample_report_month / ONE_FILE).read_text()
    found = re.findall(r'"title":\{"text":"((?:[^"\\]|\\.){4,40})"', html)
    titles = {t for t in (json.loads(f'"{raw}"') for raw in found) if "<" not in t}
    assert titles
    drawn = [title for title in titles if title in text]
    assert len(drawn) == len(titles), sorted(titles - set(drawn))


# -- assembly, without rendering -------------------------------------------------------


def page(body: str, head: str = "<style>p{}</style>") -> str:
    return f"<html><head><title>t</title>{head}</head><body>{body}</body></html>"


PLOTLY = '<script data-reliability="plotly.js">var Plotly={};</script>'
FLEET = onefile.Page(
    PurePosixPath("index.html"),
    page(
        '<h2 id="Glossary">Glossary</h2><a href="services/a.html">a</a>'
        '<a href="services/b%20c.html#SLOs">b</a><a href="https://example.org/pm">pm</a>',
        "<style>p{}</style>" + PLOTLY,
    ),
)
SERVICE_A = onefile.Page(
    PurePosixPath("services/a.html"),
    page(
        '<a href="../index.html">back</a><a href="../index.html#Glossary">g</a>'
        '<h2 id="SLOs">SLOs<a class="anchor-link" href="#SLOs">¶</a></h2>'
        '<div id="0b1c" class="plotly-graph-div"></div>'
        '<script>Plotly.newPlot("0b1c", [])</script>',
        "<style>p{}</style>" + PLOTLY,
    ),
    "a",
)
SERVICE_BC = onefile.Page(
    PurePosixPath("services/b c.html"), page('<h2 id="SLOs">SLOs</h2>'), "b c"
)


def test_one_file_turns_links_between_pages_into_anchors():
    html = onefile.one_file([FLEET, SERVICE_A, SERVICE_BC], "Report")
    assert html.count("var Plotly={};") == 1
    assert html.count("<style>p{}</style>") == 1
    assert '<a href="#service-a">a</a>' in html
    assert '<a href="#service-b c--SLOs">b</a>' in html
    assert '<a href="https://example.org/pm">pm</a>' in html
    assert '<a href="#fleet">back</a>' in html
    assert '<a href="#Glossary">g</a>' in html
    assert '<h2 id="service-a--SLOs">' in html
    assert 'href="#service-a--SLOs"' in html
    assert '<h2 id="service-b c--SLOs">' in html
    assert 'id="0b1c"' in html  # a chart keeps the id its script draws into
    assert '<a href="#service-b c">b c</a>' in html  # the contents list
    assert "<title>Report</title>" in html


def test_pages_point_at_the_shared_files():
    files = onefile.share_assets([FLEET, SERVICE_A, SERVICE_BC])
    assert files[onefile.PLOTLY_FILE] == "var Plotly={};"
    assert files[onefile.STYLE_FILE] == "p{}\n"
    assert '<script src="plotly.min.js"></script>' in files["index.html"]
    assert '<link href="report.css" rel="stylesheet"/>' in files["index.html"]
    assert '<script src="../plotly.min.js"></script>' in files["services/a.html"]
    assert '<link href="../report.css" rel="stylesheet"/>' in files["services/b c.html"]
    assert "plotly" not in files["services/b c.html"]  # no chart, no plotly.js


# -- Chromium missing, failing, stuck --------------------------------------------------


def fake_chromium(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "chromium"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_missing_chromium_is_one_line_naming_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(tmp_path / "no-such-chromium"))
    with pytest.raises(pdf.PDFError) as raised:
        pdf.print_pdf(page("x"))
    assert str(raised.value).count("\n") == 0
    assert f"{pdf.CHROMIUM_ENV}={tmp_path / 'no-such-chromium'}" in str(raised.value)
    monkeypatch.setenv(pdf.CHROMIUM_ENV, "")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pdf.PDFError, match="Chromium was not found; install it"):
        pdf.find_chromium()


def test_failing_chromium_says_why(monkeypatch, tmp_path):
    chromium = fake_chromium(
        tmp_path, "echo 'first line' >&2; echo 'cannot open display' >&2; exit 3"
    )
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(chromium))
    with pytest.raises(pdf.PDFError, match=r"exited with status 3: cannot open display$"):
        pdf.print_pdf(page("x"))


def test_stuck_chromium_is_killed_with_its_children(monkeypatch, tmp_path):
    pids = tmp_path / "pids"
    chromium = fake_chromium(tmp_path, f"sleep 300 & echo $! > {pids}; wait")
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(chromium))
    started = time.monotonic()
    with pytest.raises(
        pdf.PDFError, match=r"did not finish printing within 1 s \(see --pdf-timeout\)"
    ):
        pdf.print_pdf(page("x"), timeout=1)
    assert time.monotonic() - started < 60  # the timeout, not the 300 s of the stuck process
    child = int(pids.read_text())
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_the_configured_chromium_is_the_one_used(monkeypatch, tmp_path):
    seen = tmp_path / "args"
    script = (
        f'printf "%s\\n" "$@" > {seen}\n'
        "for a; do case $a in\n"
        '  --print-to-pdf=*) printf "%%PDF-1.4" > "${a#--print-to-pdf=}";;\n'
        "esac; done"
    )
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(fake_chromium(tmp_path, script)))
    assert pdf.print_pdf(page("x"), timeout=30) == b"%PDF-1.4"
    args = seen.read_text().splitlines()
    assert "--headless" in args
    assert "--no-sandbox" in args
    assert any(a.startswith("--virtual-time-budget=") for a in args)
    assert any(a.startswith("--user-data-dir=") for a in args)
    assert args[-1].startswith("file://")
    assert os.environ[pdf.CHROMIUM_ENV] == str(tmp_path / "chromium")
