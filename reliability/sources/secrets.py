"""The process-wide secret registry: every token a source reads is registered here, and every
message that leaves the program passes through ``scrub``.

A token can come back from a server in many spellings: as sent, URL-encoded (in an echoed
URL), JSON-escaped (in an error body), quoted by ``repr`` (in an exception's text), HTML-escaped
(on an error page), or as its UTF-8 bytes read as Latin-1 (a header decoded by a server).
``scrub`` replaces each of them by ``***``. The places where messages leave the program call
it: the command line's log lines, the errors and data-quality notes of every source (through
``reliability.sources.base.Plugin.load``), and the text columns of the frames sources return.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import numpy as np
import pandas as pd

from reliability.errors import InputError, Problem, ReliabilityError

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
_forms: tuple[str, ...] = ()
"""Every spelling of every registered secret, longest first."""
_pattern: re.Pattern[str] | None = None
"""A regular expression matching any of ``_forms``."""


def _spellings(secret: str) -> set[str]:
    """The ways ``secret`` may be written back in a response, an exception or a log line."""
    # An environment variable holds bytes; those that are not UTF-8 arrive as lone surrogates
    # (``surrogateescape``), and a server would echo the bytes themselves.
    raw = secret.encode("utf-8", "surrogateescape")
    bases = {secret, raw.decode("latin-1"), raw.decode("utf-8", "replace")}
    forms: set[str] = set()
    for base in bases:
        quoted = repr(base)[1:-1]
        data = base.encode("utf-8", "surrogateescape")
        forms |= {
            base,
            quote(data, safe=""),
            quote(data, safe="/:@"),
            quote_plus(data),
            json.dumps(base)[1:-1],
            json.dumps(base, ensure_ascii=False)[1:-1],
            quoted,
            quoted.replace("'", "\\'"),
            quoted.replace('"', '\\"'),
            ascii(base)[1:-1],
            repr(data)[2:-1],
            html.escape(base),
            html.escape(base, quote=False),
        }
    lower = {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms}
    return {f for f in forms | lower if f}


def register_secret(value: str | None) -> None:
    """Remember ``value`` (a token read from the environment) so that no message shows it."""
    global _forms, _pattern
    if not value:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        forms = set(_forms) | _spellings(value)
        _forms = tuple(sorted(forms, key=len, reverse=True))
        _pattern = re.compile("|".join(map(re.escape, filter(_is_utf8, _forms))))


def _is_utf8(form: str) -> bool:
    """Whether ``form`` is text a frame can hold: a lone surrogate (a token's non-UTF-8 byte as
    the environment gave it) cannot be in a decoded answer, and pandas' string columns refuse
    it in a pattern; ``scrub`` still replaces such a form wherever it occurs."""
    try:
        form.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def scrub(text: str) -> str:
    """``text`` with every spelling of every registered secret replaced by ``***``."""
    text = str(text)
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def scrub_all(texts: Iterable[str]) -> list[str]:
    """``scrub`` of each text."""
    return [scrub(text) for text in texts]


def scrub_error(exc: ReliabilityError) -> ReliabilityError:
    """The same error with every secret removed from its text (problems one by one)."""
    if isinstance(exc, InputError):
        return InputError(
            [Problem(scrub(p.where), scrub(p.message), p.row, p.column) for p in exc.problems]
        )
    return type(exc)(scrub(str(exc)))


def scrub_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every secret removed from its text columns (a title that echoes one)."""
    pattern = _pattern
    if pattern is None or frame.empty:
        return frame
    result = frame
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories
            hits = pd.Series(categories.astype(str)).str.contains(pattern).to_numpy(bool)
            if hits.any():
                result = result.copy() if result is frame else result
                renamed = [scrub(c) if hit else c for c, hit in zip(categories, hits, strict=True)]
                if len(set(renamed)) < len(renamed):  # two names that differed only in a secret
                    renamed = [
                        f"{c} ({i})" if hit else c
                        for i, (c, hit) in enumerate(zip(renamed, hits, strict=True))
                    ]
                result[name] = column.cat.rename_categories(renamed)
        elif column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            hits = column.astype("string").str.contains(pattern).fillna(False).to_numpy(bool)
            if hits.any():
                result = result.copy() if result is frame else result
                cleaned = column.copy()
                cleaned.iloc[np.flatnonzero(hits)] = [scrub(v) for v in column[hits]]
                result[name] = cleaned
    return result
