"""Open a rendered HTML file in real headless Chromium and report what a reader would get.

Uses the ``playwright`` package driving Debian's ``/usr/bin/chromium`` (Playwright's own
browser downloads are never used). Every request other than the file itself and
``data:``/``blob:``/``about:`` URLs is recorded as external and then blocked, so a page
that would reach the network is caught without reaching it.

    from browser import check_page   # tests/ is on sys.path under pytest
    report = check_page(Path("reports/2026-10/index.html"), screenshot=tmp_path / "page.png")
    assert report.external_requests == []

Several pages: ``with Browser() as browser: browser.check_page(...)`` starts Chromium once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

CHROMIUM = os.environ.get("RELIABILITY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
LOCAL_SCHEMES = ("data:", "blob:", "about:")
CHART_TIMEOUT_MS = 60_000
PAGE_TIMEOUT_MS = 120_000  # a busy machine takes its time to parse a 5 MB page

_COUNT_CHARTS = """() => {
  const charts = [...document.querySelectorAll('.plotly-graph-div')];
  return {
    charts: charts.length,
    without_svg: charts.filter(c => !c.querySelector('svg.main-svg')).length,
  };
}"""
_LINKS = """() => {
  const hrefs = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  return {
    missing_anchors: hrefs.filter(h => h.startsWith('#') && h !== '#'
      && !document.getElementById(decodeURIComponent(h.slice(1)))),
    relative: hrefs.filter(h => !h.startsWith('#') && !/^[a-z][a-z0-9+.-]*:/i.test(h)),
  };
}"""
_CHARTS_DRAWN = """() => [...document.querySelectorAll('.plotly-graph-div')]
  .every(c => c.querySelector('svg.main-svg'))"""


@dataclass
class PageReport:
    """What Chromium saw when it opened the page."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    """Messages of alert()/confirm()/prompt() calls (a script-injection test wants none)."""
    chart_count: int = 0
    charts_without_svg: int = 0
    """Charts (``.plotly-graph-div``) that plotly.js did not draw (no ``svg.main-svg``)."""
    missing_anchors: list[str] = field(default_factory=list)
    """Links ``#x`` to an id the page does not have."""
    relative_links: list[str] = field(default_factory=list)
    """Links to other files (``services/a.html``): broken when the page is sent alone."""
    text: str = ""
    """The visible text of the page."""
    title: str = ""


def available() -> bool:
    """Whether Chromium and playwright are installed (tests should fail, not skip, without)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


class Browser:
    """One headless Chromium with a fresh profile, for checking several pages."""

    def __init__(self, executable: str = CHROMIUM):
        self.executable = executable
        self._playwright = None
        self._context = None
        self._profile: str | None = None

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self._profile = tempfile.mkdtemp(prefix="reliability-chromium-")
        self._playwright = sync_playwright().start()
        try:
            self._context = self._playwright.chromium.launch_persistent_context(
                self._profile,
                executable_path=self.executable,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900},
                service_workers="block",
            )
        except BaseException:
            self.close()
            raise
        self._context.set_default_timeout(PAGE_TIMEOUT_MS)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._context is not None:
                self._context.close()
            if self._playwright is not None:
                self._playwright.stop()
        finally:
            self._context = self._playwright = None
            if self._profile is not None:
                shutil.rmtree(self._profile, ignore_errors=True)
                self._profile = None

    def check_page(
        self,
        html_path: Path,
        screenshot: Path | None = None,
        *,
        folder: Path | None = None,
        first_screen: Path | None = None,
    ) -> PageReport:
        """Open the page; files inside ``folder`` (the month's, for its shared plotly.js) are
        local too. ``screenshot``: the whole page; ``first_screen``: what a 1366×768 window
        shows before the reader scrolls."""
        if self._context is None:
            raise RuntimeError("use Browser as a context manager")
        html_path = Path(html_path).resolve()
        if not html_path.is_file():
            raise FileNotFoundError(html_path)
        url = html_path.as_uri()
        report = PageReport(url=url)

        inside = Path(folder).resolve().as_uri() + "/" if folder is not None else None

        def is_local(request_url: str) -> bool:
            if inside is not None and request_url.startswith(inside):
                return True
            return request_url == url or request_url.startswith(LOCAL_SCHEMES)

        def route(route, request) -> None:
            if is_local(request.url):
                route.continue_()
            else:
                route.abort()

        page = self._context.new_page()
        try:
            page.route("**/*", route)
            page.on(
                "request",
                lambda r: None if is_local(r.url) else report.external_requests.append(r.url),
            )
            page.on(
                "console",
                lambda m: report.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: report.page_errors.append(str(e)))

            def on_dialog(dialog) -> None:
                report.dialogs.append(f"{dialog.type}: {dialog.message}")
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            try:
                page.wait_for_function(_CHARTS_DRAWN, timeout=CHART_TIMEOUT_MS)
            except Exception:  # reported through charts_without_svg below
                pass
            counts = page.evaluate(_COUNT_CHARTS)
            report.chart_count = counts["charts"]
            report.charts_without_svg = counts["without_svg"]
            links = page.evaluate(_LINKS)
            report.missing_anchors = links["missing_anchors"]
            report.relative_links = links["relative"]
            report.text = page.inner_text("body")
            report.title = page.title()
            if screenshot is not None:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            if first_screen is not None:
                Path(first_screen).parent.mkdir(parents=True, exist_ok=True)
                page.set_viewport_size({"width": 1366, "height": 768})
                page.evaluate("() => window.scrollTo(0, 0)")
                page.wait_for_timeout(500)  # the charts redraw at the new width
                page.screenshot(path=str(first_screen), full_page=False)
        finally:
            page.close()
        return report


def check_page(html_path: Path, screenshot: Path | None = None, **options: Path) -> PageReport:
    """Open ``html_path`` from ``file://`` in a fresh headless Chromium and report on it."""
    with Browser() as browser:
        return browser.check_page(html_path, screenshot, **options)
