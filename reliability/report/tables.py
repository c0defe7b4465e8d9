"""HTML tables and text blocks for the report; every value from the data is escaped.

Titles, service names and URLs come from users' exports, so they are text, never markup:
``html.escape`` on every cell, and links only for ``http(s)`` URLs.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reliability.report.figures import STATUS_STYLE

Formatter = Callable[[Any], str]
"""Turns one cell value into safe HTML."""


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def text(value: Any) -> str:
    """Any value as escaped text; missing values as an en dash."""
    return "–" if is_missing(value) else html.escape(str(value))


def percent(digits: int = 1) -> Formatter:
    def format_percent(value: Any) -> str:
        return "–" if is_missing(value) else f"{value * 100:.{digits}f}%"

    return format_percent


def sli_percent(value: Any) -> str:
    """SLIs need enough digits to tell 99.95% from 99.9%."""
    if is_missing(value):
        return "–"
    return f"{value * 100:.3f}%" if value >= 0.99 else f"{value * 100:.2f}%"


def number(digits: int = 0) -> Formatter:
    def format_number(value: Any) -> str:
        return "–" if is_missing(value) else f"{value:,.{digits}f}"

    return format_number


def minutes(value: Any) -> str:
    """Durations in minutes, as hours and minutes beyond an hour."""
    if is_missing(value):
        return "–"
    total = round(float(value))
    if total < 60:
        return f"{total} min"
    return f"{total // 60} h {total % 60:02d} min"


def instant(value: Any, timezone: str = "UTC") -> str:
    if is_missing(value):
        return "–"
    return html.escape(pd.Timestamp(value).tz_convert(timezone).strftime("%d %b %H:%M"))


def day(value: Any, timezone: str = "UTC") -> str:
    """The calendar day of an instant in the report's time zone."""
    if is_missing(value):
        return "–"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_convert(timezone) if stamp.tzinfo is not None else stamp
    return html.escape(stamp.strftime("%d %b"))


def initials(value: Any) -> str:
    """A person's initials (``Ada Lovelace`` → ``AL``; an e-mail address by its local part),
    for reports that name responders only by them."""
    if is_missing(value):
        return "–"
    name = str(value).strip().split("@", 1)[0]
    parts = [p for p in re.split(r"[\s._-]+", name) if p]
    return html.escape("".join(p[0].upper() for p in parts) or "?")


def yes_no(value: Any) -> str:
    """A flag as Yes or No; an unknown one as an en dash."""
    return "–" if is_missing(value) else ("Yes" if bool(value) else "No")


def status(value: Any) -> str:
    """SLO status as symbol + word, coloured: readable in black and white too."""
    symbol, word, color = STATUS_STYLE.get(str(value), ("?", str(value), "#999999"))
    return (
        f'<span class="rr-status rr-status-{html.escape(str(value))}" style="color:{color}">'
        f"{symbol} {html.escape(word)}</span>"
    )


def band(value: Any) -> str:
    if is_missing(value):
        return "–"
    return (
        f'<span class="rr-band rr-band-{html.escape(str(value))}">{html.escape(str(value))}</span>'
    )


def link(url: Any, label: str = "postmortem") -> str:
    """A link only for http(s) URLs; anything else is shown as text."""
    if is_missing(url):
        return "–"
    url = str(url).strip()
    if not url.lower().startswith(("http://", "https://")):
        return html.escape(url)
    return f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">{label}</a>'


@dataclass(frozen=True)
class Col:
    """One table column: the frame's column, its header, how to show a value, alignment."""

    key: str
    label: str
    fmt: Formatter = text
    numeric: bool = False


def html_table(frame: pd.DataFrame | None, columns: Sequence[Col], empty: str = "None") -> str:
    """A frame as an HTML table with escaped cells (numbers right-aligned)."""
    if frame is None or frame.empty:
        return f'<p class="rr-empty">{html.escape(empty)}</p>'
    head = "".join(
        f'<th class="{"rr-num" if c.numeric else ""}">{html.escape(c.label)}</th>' for c in columns
    )
    body = []
    for record in frame.to_dict(orient="records"):
        cells = "".join(
            f'<td class="{"rr-num" if c.numeric else ""}">{c.fmt(record.get(c.key))}</td>'
            for c in columns
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="rr-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def paragraphs(lines: Sequence[str], css_class: str = "rr-summary") -> str:
    """Plain sentences (escaped) as a list."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<ul class="{css_class}">{items}</ul>'


def definition_list(terms: dict[str, str]) -> str:
    items = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(meaning)}</dd>"
        for term, meaning in terms.items()
    )
    return f'<dl class="rr-glossary">{items}</dl>'
