"""The month's pages made light and forwardable: shared assets, and the one-file report.

The renderer writes every page self-contained (plotly.js and the styles inlined). Once the
pages are rendered, :func:`share_assets` points each page at one ``plotly.min.js`` and one
``report.css`` in the month's folder, so a month carries plotly.js once for the drill-down
pages, and :func:`one_file` assembles the fleet page and every service page into one HTML
file a reader can forward alone: plotly.js and the styles once, each page a ``<section>``,
links between the pages turned into anchors inside the file. The pages are read and written
with BeautifulSoup (lxml's parser), never edited as text.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup, Tag

from reliability.report.plotting import PLOTLY_GRAPH_CLASS

PLOTLY_FILE = "plotly.min.js"
STYLE_FILE = "report.css"
PLOTLY_MARKER = "data-reliability"
"""The attribute the exporter sets on the inline plotly.js ``<script>``."""
FLEET_ID = "fleet"
CONTENTS_ID = "service-reports"
ONE_FILE_CSS = """\
section.rr-page + section.rr-page { border-top: 2px solid #ddd; margin-top: 3em; }
@media print { section.rr-page + section.rr-page { break-before: page; border-top: 0; } }
nav.rr-contents ul { columns: 3 12em; }
"""
"""Each page of the one file a section that starts a new printed page."""


def one_file_name(month: str) -> str:
    """The file name of the month's one-file report, as it reads in a mail attachment."""
    return f"reliability-report-{month}.html"


@dataclass(frozen=True)
class Page:
    """A rendered page: where it sits in the month's folder, its HTML, its service if any."""

    path: PurePosixPath
    html: str
    service: str | None = None


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "lxml")


def _plotly_script(soup: BeautifulSoup) -> Tag | None:
    found = soup.find("script", attrs={PLOTLY_MARKER: "plotly.js"})
    return found if isinstance(found, Tag) else None


def _head_styles(soup: BeautifulSoup) -> list[Tag]:
    return [s for s in soup.head.find_all("style", recursive=False)] if soup.head else []


def _relative(target: str, page: PurePosixPath) -> str:
    """``target`` (a path in the month's folder) as a link from ``page``."""
    return posixpath.relpath(target, start=posixpath.dirname(str(page)) or ".")


def share_assets(pages: list[Page]) -> dict[str, str]:
    """Every page pointing at the month's one ``plotly.min.js`` and ``report.css``.

    Returns ``{relative path: text}``: the pages rewritten, and the two shared files. The
    shared styles are the fleet page's (the first page's) ``<style>`` elements in ``<head>``;
    a page's style that differs from those stays inline. plotly.js comes from the first page
    that inlines it; a page without it (no chart) is left without it.
    """
    soups = [_soup(page.html) for page in pages]
    shared = [str(style.string or "") for style in _head_styles(soups[0])]
    plotlyjs = next((s.string for s in map(_plotly_script, soups) if s is not None), None)
    out: dict[str, str] = {}
    for page, soup in zip(pages, soups, strict=True):
        styles = [s for s in _head_styles(soup) if str(s.string or "") in shared]
        if styles:
            link = soup.new_tag("link", rel="stylesheet", href=_relative(STYLE_FILE, page.path))
            styles[0].replace_with(link)
            for style in styles[1:]:
                style.decompose()
        if (script := _plotly_script(soup)) is not None:
            script.replace_with(soup.new_tag("script", src=_relative(PLOTLY_FILE, page.path)))
        out[str(page.path)] = str(soup)
    out[STYLE_FILE] = "\n".join(shared) + "\n"
    if plotlyjs is not None:
        out[PLOTLY_FILE] = str(plotlyjs)
    return out


def section_id(page: Page) -> str:
    """The anchor of a page inside the one file: ``fleet``, or ``service-<file stem>``."""
    return FLEET_ID if page.service is None else f"service-{page.path.stem}"


def one_file(pages: list[Page], title: str) -> str:
    """The pages as one self-contained HTML document (the first page is the fleet page).

    The first page's ``<head>`` is kept (its styles and plotly.js, once); each page's body
    becomes a ``<section>``; the ids inside a service's section get the section's prefix (a
    chart's id, unique already and used by its script, is kept); a link to another page, or
    to an anchor in it, becomes a link to that section or anchor in the file. A contents
    list of the service sections closes the fleet section.
    """
    by_path = {page.path: page for page in pages}
    prefixes = {
        page.path: "" if page.service is None else f"{section_id(page)}--" for page in pages
    }
    document = _soup(pages[0].html)
    body = document.body
    assert body is not None, "a rendered page has a <body>"
    body.clear()
    if document.title is not None:
        document.title.string = title
    style = document.new_tag("style")
    style.string = ONE_FILE_CSS
    document.head.append(style)
    for page in pages:
        soup = _soup(page.html)
        if page is not pages[0]:
            _keep_own_head(document, soup)
        section = document.new_tag("section", id=section_id(page))
        section["class"] = "rr-page"
        _rename_ids(soup, prefixes[page.path])
        _relink(soup, page.path, by_path, prefixes)
        for child in list(soup.body.children):
            section.append(child.extract())
        if page is pages[0]:
            section.append(_contents(document, [p for p in pages if p.service is not None]))
        body.append(section)
    return str(document)


def _keep_own_head(document: BeautifulSoup, soup: BeautifulSoup) -> None:
    """Copy into the document's head the styles and scripts of ``soup`` it does not have
    (plotly.js, when the fleet page has no chart)."""
    have = {str(tag) for tag in document.head.find_all(["style", "script"], recursive=False)}
    for tag in soup.head.find_all(["style", "script"], recursive=False):
        if str(tag) not in have:
            document.head.append(tag.extract())
            have.add(str(tag))


def _rename_ids(soup: BeautifulSoup, prefix: str) -> None:
    if not prefix:
        return
    for element in soup.body.find_all(id=True):
        if PLOTLY_GRAPH_CLASS not in element.get("class", []):
            element["id"] = prefix + element["id"]


def _relink(
    soup: BeautifulSoup,
    page: PurePosixPath,
    pages: Mapping[PurePosixPath, Page],
    prefixes: Mapping[PurePosixPath, str],
) -> None:
    """Links to a page of the month, or within this page, as anchors in the one file."""
    for link in soup.body.find_all("a", href=True):
        href = link["href"]
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue  # a link out (a postmortem, a runbook) stays as it is
        if parts.path:
            target = PurePosixPath(
                posixpath.normpath(posixpath.join(page.parent, unquote(parts.path)))
            )
        else:
            target = page
        if target not in pages:
            continue
        fragment = unquote(parts.fragment)
        if fragment:
            link["href"] = f"#{prefixes[target]}{fragment}"
        else:
            link["href"] = f"#{section_id(pages[target])}"


def _contents(document: BeautifulSoup, services: list[Page]) -> Tag:
    """The list of the service sections, for a reader of the one file."""
    nav = document.new_tag("nav", id=CONTENTS_ID)
    nav["class"] = "rr-contents"
    heading = document.new_tag("h2")
    heading.string = "Service reports in this file"
    nav.append(heading)
    items = document.new_tag("ul")
    for page in services:
        item = document.new_tag("li")
        anchor = document.new_tag("a", href=f"#{section_id(page)}")
        anchor.string = str(page.service)
        item.append(anchor)
        items.append(item)
    nav.append(items)
    return nav
