"""Print the one-file report to an A4 PDF with headless Chromium.

Chromium is found as ``RELIABILITY_CHROMIUM`` (a path or a command name) or ``chromium`` /
``chromium-browser`` / ``google-chrome`` on ``PATH``. It runs with a throw-away profile, no
network services, and a virtual-time budget so that plotly draws every chart before the page
is printed; it is killed, with every process it started, when it takes longer than the
timeout. Every failure is one :class:`PDFError` line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from bs4 import BeautifulSoup

from reliability.errors import ReliabilityError

CHROMIUM_ENV = "RELIABILITY_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DEFAULT_TIMEOUT_SECONDS = 300.0
VIRTUAL_TIME_MS = 60_000
"""Virtual time the page gets to run its scripts (plotly draws each chart) before printing;
virtual time runs as fast as the page lets it, so this is not a wait."""
PRINT_CSS = "@page { size: A4; margin: 12mm 10mm; }"


class PDFError(ReliabilityError):
    """The PDF could not be written (no Chromium, Chromium failed or took too long): exit 1."""


def find_chromium() -> str:
    """The Chromium executable to print with, or a one-line :class:`PDFError` naming the fix."""
    wanted = os.environ.get(CHROMIUM_ENV)
    if wanted:
        found = shutil.which(wanted)
        if found is None:
            raise PDFError(f"no PDF written: {CHROMIUM_ENV}={wanted} is not an executable Chromium")
        return found
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    raise PDFError(
        "no PDF written: Chromium was not found; install it (Debian: apt-get install chromium) "
        f"or set {CHROMIUM_ENV} to its path"
    )


def printable(html: str) -> str:
    """The one-file report with the A4 page size for printing (the file itself keeps none)."""
    soup = BeautifulSoup(html, "lxml")
    style = soup.new_tag("style")
    style.string = PRINT_CSS
    soup.head.append(style)
    return str(soup)


def print_pdf(html: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bytes:
    """``html`` (a self-contained page) printed to an A4 PDF, every chart drawn."""
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="reliability-pdf-") as scratch:
        page, out, profile = Path(scratch) / "report.html", Path(scratch) / "out.pdf", scratch
        page.write_text(printable(html), encoding="utf-8")
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={Path(profile) / 'profile'}",
            "--run-all-compositor-stages-before-draw",
            f"--virtual-time-budget={VIRTUAL_TIME_MS}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills all of it
        )
        try:
            _, errors = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise PDFError(
                f"no PDF written: Chromium did not finish printing within {timeout:g} s "
                "(see --pdf-timeout)"
            ) from None
        except BaseException:
            _kill_group(process)
            raise
        if process.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            last = next(
                (ln for ln in reversed(errors.decode(errors="replace").splitlines()) if ln.strip()),
                "no message",
            )
            raise PDFError(
                f"no PDF written: Chromium exited with status {process.returncode}: {last.strip()}"
            )
        return out.read_bytes()


def _kill_group(process: subprocess.Popen) -> None:
    """Kill Chromium and every process it started, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()  # reaps it and closes its pipe
