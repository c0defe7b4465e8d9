"""HTTP plumbing shared by the vendor sources: retrying sessions, JSON decoding, tokens.

* ``session()`` builds a ``requests.Session`` whose urllib3 ``Retry`` backs off on connection
  errors, timeouts, 429 and 5xx, honouring ``Retry-After`` up to ``MAX_RETRY_AFTER`` seconds (a
  longer wait is not slept through: the 429 comes back and becomes a clear ``SourceError``).
* ``decode_json()`` turns a response into JSON or a one-line ``SourceError`` naming the URL and
  status; an HTML error page where JSON was expected says so instead of a decoder traceback.
* ``Traffic`` counts requests and bytes (a ``requests`` response hook; other clients call
  ``Traffic.add``).
* ``read_token()`` reads a token from the environment variable a source names; ``scrubbed()``
  removes it from any error message that might echo it.
* ``validate_records()`` validates a vendor's records and names the record (incident id,
  deployment id) in each problem instead of a row number nobody can see.
"""

from __future__ import annotations

import email.utils
import html
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from reliability import frames
from reliability.config import Source
from reliability.errors import InputError, Problem, SourceError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a connection or for the next bytes of a response."""
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 120.0
"""The longest ``Retry-After`` (seconds) a source waits; a longer one fails the run at once."""
SECRET_OPTION_NAMES = ("token", "api_key", "api_token", "access_token", "password", "secret")
"""Option names that would put a secret in the config file, which is refused."""
_SECRET_QUERY = re.compile(r"token|key|secret|signature|password|auth", re.IGNORECASE)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; shared by the requests sessions and other clients."""

    attempts: int = 5
    """Retries after the first try (so up to ``attempts + 1`` requests)."""
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    statuses: tuple[int, ...] = RETRY_STATUSES
    max_retry_after: float = MAX_RETRY_AFTER

    def backoff(self, retry_number: int) -> float:
        """Seconds before retry ``retry_number`` (1-based): 0.5, 1, 2, 4, ... capped."""
        return min(self.backoff_max, self.backoff_factor * (2 ** (retry_number - 1)))


DEFAULT_POLICY = RetryPolicy()


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as seconds from now, else ``None``."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class _Retry(Retry):
    """urllib3 ``Retry`` that gives up at once when ``Retry-After`` asks for a long wait.

    (urllib3 alone would sleep as long as it is asked, or its own cap, and try again.)
    """

    max_wait: float = MAX_RETRY_AFTER
    """Seconds of ``Retry-After`` still waited for; ``session()`` sets it from the policy."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        **kw: Any,
    ) -> Retry:
        """Refuse to retry a response whose ``Retry-After`` exceeds ``max_wait``."""
        if response is not None:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is not None and wait > self.max_wait:
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:.0f} s"))
        return super().increment(method, url, response, error, _pool, **kw)


@dataclass
class Traffic:
    """Requests made and response bytes received, for logs and benchmarks (thread-safe)."""

    requests: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, nbytes: int) -> None:
        """Count one response of ``nbytes`` bytes."""
        with self._lock:
            self.requests += 1
            self.bytes += nbytes

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A ``requests`` response hook counting the response."""
        self.add(len(response.content or b""))


class Session(requests.Session):
    """A ``requests.Session`` with a default timeout and a ``Traffic`` counter."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, traffic: Traffic | None = None):
        super().__init__()
        self.timeout = timeout
        self.traffic = traffic if traffic is not None else Traffic()
        self.hooks["response"].append(self.traffic.hook)

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send a request, with the session's timeout unless the call gives one."""
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def mount_retries(
    target: requests.Session,
    policy: RetryPolicy | None = None,
    *,
    methods: Sequence[str] = ("GET", "HEAD", "OPTIONS"),
    pool_size: int = 10,
) -> requests.Session:
    """Make ``target`` retry connection errors, timeouts, 429 and 5xx with backoff.

    ``Retry-After`` is honoured (up to the policy's ``max_retry_after`` seconds); after the
    last retry the final response is returned (not raised), so ``decode_json`` can name its
    status. ``methods`` lists the methods retried (add ``POST`` only for idempotent queries).
    The policy defaults to ``DEFAULT_POLICY``, looked up at call time.
    """
    policy = policy if policy is not None else DEFAULT_POLICY
    retry_class = type("_Retry", (_Retry,), {"max_wait": policy.max_retry_after})
    retry = retry_class(
        total=policy.attempts,
        connect=policy.attempts,
        read=policy.attempts,
        status=policy.attempts,
        other=0,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        status_forcelist=policy.statuses,
        allowed_methods=frozenset(methods),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=pool_size)
    target.mount("https://", adapter)
    target.mount("http://", adapter)
    target.headers["User-Agent"] = "reliability-report"
    return target


def session(
    *,
    headers: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    traffic: Traffic | None = None,
) -> Session:
    """A ``Session`` (default timeout, traffic counter) with the retries of ``mount_retries``."""
    result = Session(timeout=timeout, traffic=traffic)
    mount_retries(result, policy)
    if headers:
        result.headers.update(headers)
    return result


def safe_url(url: str) -> str:
    """``url`` fit for a message: no user:password, secret-looking query values hidden."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "(unparseable URL)"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parse_qsl(parts.query, keep_blank_values=True)
    cleaned = [(k, "***" if _SECRET_QUERY.search(k) else v) for k, v in query]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(cleaned, safe="[]:,"), ""))


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (a local test or mock server)."""
    host = (urlsplit(url).hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _one_line(text: str, limit: int = 160) -> str:
    """``text`` collapsed to one line of at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _looks_like_html(body: bytes, content_type: str) -> bool:
    """Whether a body is an HTML page rather than JSON."""
    head = body[:512].lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype", b"<html", b"<"))


def _html_title(body: bytes) -> str | None:
    """The ``<title>`` of an HTML page, on one line, if it has one."""
    match = re.search(rb"<title[^>]*>(.*?)</title>", body[:65536], re.IGNORECASE | re.DOTALL)
    if not match:
        return None
    title = html.unescape(match.group(1).decode("utf-8", "replace"))
    return _one_line(title, 80) or None


def _error_detail(body: bytes, content_type: str) -> str:
    """A short reason from an error body: a JSON ``message``/``error``, an HTML title, or text."""
    if not body.strip():
        return "empty body"
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("message", data.get("errors")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            return _one_line(str(error), 120)
    if _looks_like_html(body, content_type):
        title = _html_title(body)
        return f"an HTML page ({title})" if title else "an HTML page"
    return _one_line(body.decode("utf-8", "replace"), 120)


def decode_json(
    *,
    what: str,
    method: str,
    url: str,
    status: int,
    body: bytes,
    content_type: str = "",
    hints: Mapping[int, str] | None = None,
) -> Any:
    """The JSON body of a response, or ``SourceError`` with one line naming URL and status.

    ``what`` names the source (``PagerDuty``); ``hints`` adds advice for some statuses
    (``{401: "check the token in $PD_TOKEN"}``).
    """
    where = f"{what}: {method} {safe_url(url)}"
    hint = (hints or {}).get(status)
    if status >= 400:
        detail = _error_detail(body, content_type)
        advice = f"; {hint}" if hint else ""
        raise SourceError(f"{where} answered HTTP {status}: {detail}{advice}")
    try:
        return json.loads(body)
    except ValueError:
        pass
    if _looks_like_html(body, content_type):
        title = _html_title(body)
        named = f" ({title})" if title else ""
        raise SourceError(
            f"{where} returned an HTML page{named} with HTTP {status} where JSON was expected; "
            "is the url option the API's address?"
        )
    start = _one_line(body.decode("utf-8", "replace"), 60) or "an empty body"
    raise SourceError(f"{where} returned HTTP {status} that is not JSON: {start}")


def get_json(
    http: requests.Session,
    url: str,
    *,
    what: str,
    params: Mapping[str, Any] | None = None,
    hints: Mapping[int, str] | None = None,
    absent: Sequence[int] = (),
) -> tuple[Any, requests.Response]:
    """GET ``url`` and decode its JSON body; network failures become ``SourceError``.

    A status listed in ``absent`` (say 404 for a deleted commit) gives ``(None, response)``.
    """
    try:
        response = http.get(url, params=params)
    except requests.exceptions.RetryError as exc:
        raise SourceError(f"{what}: GET {safe_url(url)} kept failing: {_reason(exc)}") from None
    except requests.RequestException as exc:
        raise SourceError(f"{what}: cannot reach {safe_url(url)}: {_reason(exc)}") from None
    if response.status_code == 429 or (
        response.status_code == 503 and response.headers.get("Retry-After")
    ):
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is not None:
            raise SourceError(
                f"{what}: GET {safe_url(response.url)} is rate limited (HTTP "
                f"{response.status_code}, Retry-After {wait:.0f} s); try again later"
            )
    if response.status_code in absent:
        return None, response
    body = decode_json(
        what=what,
        method="GET",
        url=response.url,
        status=response.status_code,
        body=response.content,
        content_type=response.headers.get("Content-Type", ""),
        hints=hints,
    )
    return body, response


def _reason(exc: BaseException) -> str:
    """A short, human reason for a network failure."""
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("timed out", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
        ("Retry-After", "the server asked to wait longer than this tool waits"),
        ("too many 5", "the server kept answering with an error"),
        ("Connection reset", "connection reset by the server"),
        ("RemoteDisconnected", "the server closed the connection"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


# --- options and secrets -----------------------------------------------------------------


def check_options(
    source: Source, role: str, known: Sequence[str], *, path: bool = False
) -> dict[str, Any]:
    """The source's options, or ``InputError`` for unknown ones or a secret in the config.

    ``path`` says whether the kind reads files (``path``), which is otherwise refused.
    """
    options = source.options
    problems = []
    if source.path is not None and not path:
        problems.append(
            Problem("config", f"sources.{role}.path: not used by kind {source.kind} (give url)")
        )
    for key in options:
        if key.lower() in SECRET_OPTION_NAMES:
            problems.append(
                Problem(
                    "config",
                    f"sources.{role}.{key}: secrets are never read from the config file; put "
                    "it in an environment variable and name that variable in token_env",
                )
            )
        elif key not in known:
            problems.append(
                Problem(
                    "config",
                    f"sources.{role}.{key}: unknown option for kind {source.kind} "
                    f"(known: {', '.join(sorted(known))})",
                )
            )
    if problems:
        raise InputError(problems)
    return options


def read_token(source: Source, role: str, *, required: bool) -> tuple[str | None, str | None]:
    """``(token, variable name)`` from the environment variable named by ``token_env``."""
    import os

    name = source.options.get("token_env")
    if name is None or str(name).strip() == "":
        if required:
            raise InputError(
                Problem(
                    "config",
                    f"sources.{role}.token_env: required for kind {source.kind}: the name of the "
                    "environment variable that holds the API token",
                )
            )
        return None, None
    name = str(name).strip()
    token = os.environ.get(name, "").strip()
    if not token:
        raise InputError(
            Problem("config", f"sources.{role}.token_env: environment variable {name} is not set")
        )
    return token, name


def scrub(text: str, secrets: Sequence[str | None]) -> str:
    """``text`` with every secret (and its URL-encoded form) replaced by ``***``."""
    from urllib.parse import quote

    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
    return text


@contextmanager
def scrubbed(*secrets: str | None) -> Iterator[None]:
    """Re-raise this package's errors with every secret removed from their messages."""
    from reliability.errors import ReliabilityError

    try:
        yield
    except InputError as exc:
        problems = [
            Problem(scrub(p.where, secrets), scrub(p.message, secrets), p.row, p.column)
            for p in exc.problems
        ]
        raise InputError(problems) from None
    except ReliabilityError as exc:
        raise type(exc)(scrub(str(exc), secrets)) from None


# --- mappings and validation ---------------------------------------------------------------


def mapping_option(options: Mapping[str, Any], role: str, key: str) -> dict[str, str]:
    """An option that maps labels to labels (``{P1: SEV1}``), as strings; ``{}`` if absent."""
    value = options.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        v is not None and str(v).strip() for v in value.values()
    ):
        raise InputError(
            Problem("config", f"sources.{role}.{key}: expected a mapping such as {{A: B}}")
        )
    return {str(k): str(v).strip() for k, v in value.items()}


def timeout_option(options: Mapping[str, Any], role: str) -> float:
    """Option ``timeout`` in seconds (default ``DEFAULT_TIMEOUT``)."""
    try:
        value = float(options.get("timeout", DEFAULT_TIMEOUT))
    except (TypeError, ValueError):
        value = -1.0
    if not value > 0:
        raise InputError(Problem("config", f"sources.{role}.timeout: expected seconds, e.g. 30"))
    return value


def span(months: Sequence[Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of consecutive months, as UTC timestamps."""
    if not months:
        raise ValueError("at least one month is needed")
    return months[0].start, months[-1].end


def parse_instants(values: Sequence[Any]) -> list[pd.Timestamp | None]:
    """ISO 8601 strings as UTC timestamps (``None`` where missing or unreadable), in one pass."""
    text = pd.Series([v if isinstance(v, str) else None for v in values], dtype="object")
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    return [None if pd.isna(t) else t for t in parsed]


def iso(instant: pd.Timestamp) -> str:
    """``2026-10-01T00:00:00Z``: a UTC instant as the vendors' ISO 8601."""
    return instant.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_records(
    raw: pd.DataFrame, spec: frames.TableSpec, where: str, ids: Sequence[Any], noun: str
) -> pd.DataFrame:
    """``frames.validate`` with each problem naming the record (``incident PT4KHLK``)."""
    if raw.empty:
        return frames.empty(spec)
    try:
        return frames.validate(raw, spec, where=where, first_row=1)
    except InputError as exc:
        problems = []
        for problem in exc.problems:
            if problem.row is None:
                problems.append(problem)
                continue
            record_id = ids[problem.row - 1]
            label = str(record_id) if record_id not in (None, "") else f"#{problem.row} (no id)"
            problems.append(
                Problem(f"{where}: {noun} {label}", problem.message, column=problem.column)
            )
        raise InputError(problems) from None
