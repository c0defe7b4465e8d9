"""The one HTTP stack of every HTTP source: a requests session, urllib3's ``Retry``, deadlines.

* **Retries.** A ``requests.Session`` whose urllib3 ``Retry`` retries connection errors,
  HTTP 429 and 5xx with exponential backoff (``backoff`` seconds x 0, 2, 4, ...), honouring
  ``Retry-After`` up to ``MAX_RETRY_AFTER`` seconds; a longer wait is not slept through: the
  request fails at once saying the server is rate limiting. Every request a source makes only
  reads, so POSTs (Prometheus' range queries, PagerDuty's analytics) are retried too.
* **Deadlines.** A source's ``timeout`` bounds each request as a whole: from connecting to
  the last byte of the answer (a server that trickles one byte a second is given up after
  ``timeout`` seconds, not retried). Its ``deadline`` bounds the whole source: no retry starts,
  and no request goes on, past it. So a source that loses its server ends within
  ``deadline`` seconds, with exit 1. Each request runs on a short-lived daemon thread that the
  caller waits for; a request given up is left to end on its own (it cannot outlive the
  process, and its retries stop).
* **JSON.** ``decode_json`` turns a response into JSON or a one-line ``SourceError`` naming the
  URL and status; an HTML page where JSON was expected says so instead of a decoder traceback.
* **Secrets.** ``read_token`` reads a token from the environment variable a source names and
  registers it with ``reliability.sources.secrets``, which scrubs it from every message.

Settings are injected (``Policy.of(options)``), never read from module globals.
"""

from __future__ import annotations

import email.utils
import html
import json
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from reliability.errors import InputError, Problem, SourceError
from reliability.source_options import HttpOptions
from reliability.sources.secrets import register_secret, scrub

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` (seconds) a source waits; a longer one fails at once."""
RETRIED_METHODS = frozenset({"GET", "HEAD", "POST"})
_SECRET_QUERY = re.compile(r"token|key|secret|signature|password|auth", re.IGNORECASE)
_TOKEN_CHARACTERS = re.compile(r"^[\x20-\x7e\xa0-\xff]+$")
"""What an HTTP header value can carry: printable Latin-1, no control characters."""


@dataclass(frozen=True)
class Policy:
    """How a source talks HTTP: how long one request and the whole source may take, and how
    often a failed request is retried."""

    timeout: float = 30.0
    """Seconds for one whole request: connection, headers and body."""
    deadline: float = 300.0
    """Seconds for everything the source sends, retries and waits included."""
    retries: int = 4
    backoff: float = 0.5
    """Backoff factor: the waits between retries are 0, 2, 4, ... times this (seconds)."""
    backoff_max: float = 30.0
    max_retry_after: float = MAX_RETRY_AFTER
    statuses: tuple[int, ...] = RETRY_STATUSES

    @classmethod
    def of(cls, options: HttpOptions) -> Policy:
        """The policy a source's options ask for."""
        return cls(
            timeout=options.timeout,
            deadline=options.deadline,
            retries=options.retries,
            backoff=options.backoff,
        )


class Deadline:
    """A point in time (monotonic clock) after which a source sends nothing more."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self.end - time.monotonic())


@dataclass
class Traffic:
    """Requests made and response bytes received (decoded, and on the wire), thread-safe."""

    requests: int = 0
    bytes: int = 0
    wire_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, response: requests.Response) -> None:
        """Count one answered request."""
        wire = response.raw.tell() if hasattr(response.raw, "tell") else 0
        with self._lock:
            self.requests += 1
            self.bytes += len(response.content or b"")
            self.wire_bytes += int(wire or 0)


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


# --- one request, bounded ------------------------------------------------------------------


class _Exchange:
    """One request in flight on a worker thread, and the clock of its current attempt.

    The worker's ``Retry`` pauses the clock while it waits between attempts and restarts it
    for the next one, so ``timeout`` bounds each attempt and the waits are bounded by the
    deadline alone.
    """

    def __init__(self, deadline: Deadline):
        self.deadline = deadline
        self._changed = threading.Condition()
        self.attempt_started: float | None = time.monotonic()
        self.attempts = 1
        self.done = False
        self.abandoned = False
        self.response: requests.Response | None = None
        self.error: BaseException | None = None
        self.stopped_by: str | None = None
        """Why the retries stopped early: ``retry_after`` or ``deadline``."""
        self.retry_after: float | None = None

    def pause(self) -> None:
        with self._changed:
            self.attempt_started = None
            self._changed.notify_all()

    def resume(self) -> None:
        with self._changed:
            self.attempt_started = time.monotonic()
            self.attempts += 1
            self._changed.notify_all()

    def finish(
        self, response: requests.Response | None = None, error: BaseException | None = None
    ) -> None:
        with self._changed:
            self.response, self.error, self.done = response, error, True
            self._changed.notify_all()

    def wait(self, timeout: float) -> str:
        """``done``, ``slow`` (an attempt took over ``timeout``) or ``deadline``."""
        with self._changed:
            while not self.done:
                now = time.monotonic()
                if now >= self.deadline.end:
                    return "deadline"
                started = self.attempt_started
                if started is not None and now >= started + timeout:
                    return "slow"
                until = self.deadline.end if started is None else started + timeout
                self._changed.wait(min(until, self.deadline.end) - now)
            return "done"


_current = threading.local()
"""The ``_Exchange`` a worker thread is running, for its ``Retry`` to consult."""


class _Retry(Retry):
    """urllib3's ``Retry``, refusing to wait longer than ``MAX_RETRY_AFTER`` or past the
    source's deadline (the last answer, or the error, is then what the request gives)."""

    max_retry_after: float = MAX_RETRY_AFTER

    def new(self, **kw: Any) -> _Retry:
        """A copy with some counters changed (urllib3 makes one per retry)."""
        retry = super().new(**kw)
        retry.max_retry_after = self.max_retry_after
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        """The retry state after a failure, or ``MaxRetryError`` when no retry should follow."""
        exchange: _Exchange | None = getattr(_current, "exchange", None)

        def stop(why: str, reason: str) -> MaxRetryError:
            if exchange is not None:
                exchange.stopped_by = why
            return MaxRetryError(_pool, url, error or ResponseError(reason))

        if exchange is not None and exchange.abandoned:
            raise stop("abandoned", "the request was given up")
        wait = None
        if response is not None and response.status in self.RETRY_AFTER_STATUS_CODES:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is not None and wait > self.max_retry_after:
            if exchange is not None:
                exchange.retry_after = wait
            raise stop("retry_after", f"Retry-After {wait:.0f} s")
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        pause = wait if wait is not None else retry.get_backoff_time()
        if exchange is not None and pause >= exchange.deadline.remaining():
            raise stop("deadline", "the deadline would pass")
        return retry

    def sleep(self, response: Any = None) -> None:
        """Wait before the next attempt, with the attempt clock paused."""
        exchange: _Exchange | None = getattr(_current, "exchange", None)
        if exchange is not None:
            exchange.pause()
        try:
            super().sleep(response)
        finally:
            if exchange is not None:
                exchange.resume()


# --- the client ----------------------------------------------------------------------------


class Client:
    """One source's HTTP conversation: a session with the retry policy, the deadline rule,
    and errors as one-line ``SourceError`` naming ``what`` (``PagerDuty``), method and URL.

    ``headers`` go with every request (a token's ``Authorization`` included); ``follow``
    says whether redirects are followed (else a redirect is an error naming its target).
    """

    def __init__(
        self,
        what: str,
        policy: Policy,
        *,
        headers: Mapping[str, str] | None = None,
        follow: bool = True,
        pool_size: int = 10,
        traffic: Traffic | None = None,
    ):
        self.what = what
        self.policy = policy
        self.follow = follow
        self.deadline = Deadline(policy.deadline)
        self.traffic = traffic if traffic is not None else Traffic()
        retry = _Retry(
            total=policy.retries,
            connect=policy.retries,
            read=policy.retries,
            status=policy.retries,
            other=0,
            backoff_factor=policy.backoff,
            backoff_max=policy.backoff_max,
            status_forcelist=policy.statuses,
            allowed_methods=RETRIED_METHODS,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.max_retry_after = policy.max_retry_after
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=pool_size)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = "reliability-report"
        self.session.headers.update(headers or {})

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (a request still running on its thread ends on its own)."""
        self.session.close()

    def where(self, method: str, url: str) -> str:
        """``PagerDuty: GET https://...``: how messages name a request."""
        return f"{self.what}: {method} {safe_url(url)}"

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request (``requests`` keyword arguments), retried as the policy says and
        bounded by ``timeout`` and the deadline; every failure is a ``SourceError``."""
        where = self.where(method, url)
        if self.deadline.remaining() <= 0:
            raise SourceError(f"{where}: not sent: {self._deadline_text()}")
        exchange = _Exchange(self.deadline)
        worker = threading.Thread(
            target=self._run,
            args=(exchange, method, url, kwargs),
            name=f"{self.what} request",
            daemon=True,
        )
        worker.start()
        outcome = exchange.wait(self.policy.timeout)
        if outcome != "done":
            exchange.abandoned = True
            if outcome == "slow":
                raise SourceError(
                    f"{where}: no complete answer within {self.policy.timeout:g} s (option "
                    "timeout): the server is unreachable, stalled or too slow"
                )
            raise SourceError(f"{where}: {self._deadline_text()}")
        if exchange.error is not None:
            raise self._network_error(where, exchange)
        assert exchange.response is not None
        return self._checked(where, exchange)

    def _run(self, exchange: _Exchange, method: str, url: str, kwargs: dict[str, Any]) -> None:
        """The worker thread: send, with the retries of the session's adapter."""
        _current.exchange = exchange
        seconds = self.policy.timeout
        try:
            response = self.session.request(
                method, url, timeout=(seconds, seconds), allow_redirects=self.follow, **kwargs
            )
            self.traffic.add(response)
            exchange.finish(response=response)
        except BaseException as exc:  # handed to the waiting thread, which reports it
            exchange.finish(error=exc)
        finally:
            _current.exchange = None

    def _deadline_text(self) -> str:
        return (
            f"gave up when the source's deadline of {self.policy.deadline:g} s passed (option "
            "deadline)"
        )

    def _network_error(self, where: str, exchange: _Exchange) -> SourceError:
        """The one line for a request that got no answer."""
        if exchange.stopped_by == "deadline":
            return SourceError(
                f"{where}: {_reason(exchange.error)}; {self._deadline_text()} before the next retry"
            )
        tries = exchange.attempts
        return SourceError(
            f"{where}: cannot reach the server after {tries} attempt{'s' if tries > 1 else ''} "
            f"({_reason(exchange.error)})"
        )

    def _checked(self, where: str, exchange: _Exchange) -> requests.Response:
        """The response, unless it is a redirect not followed or a rate limit not waited out."""
        response = exchange.response
        assert response is not None
        status = response.status_code
        if 300 <= status < 400:
            target = response.headers.get("Location", "elsewhere")
            raise SourceError(
                f"{where} redirected (HTTP {status}) to {safe_url(target)}; is the url option "
                "the API's address?"
            )
        if status not in self.policy.statuses:
            return response
        wait = exchange.retry_after
        if wait is None:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        after = f", Retry-After {wait:.0f} s" if wait is not None else ""
        tries = f"{exchange.attempts} attempt{'s' if exchange.attempts > 1 else ''}"
        if exchange.stopped_by == "retry_after":
            raise SourceError(
                f"{where} is rate limited (HTTP {status}{after}): longer than the "
                f"{self.policy.max_retry_after:g} s a source waits; try again later"
            )
        if exchange.stopped_by == "deadline":
            raise SourceError(
                f"{where} answered HTTP {status}{after} after {tries}; {self._deadline_text()} "
                "before the next retry"
            )
        if status == 429:
            raise SourceError(
                f"{where} is rate limited (HTTP 429{after}) after {tries}; try again later"
            )
        return response

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        hints: Mapping[int, str] | None = None,
        absent: Sequence[int] = (),
    ) -> tuple[Any, requests.Response]:
        """GET ``url`` and decode its JSON; a status in ``absent`` (say 404 for a commit that
        is gone) gives ``(None, response)``."""
        return self.request_json("GET", url, params=params, hints=hints, absent=absent)

    def request_json(
        self,
        method: str,
        url: str,
        *,
        hints: Mapping[int, str] | None = None,
        absent: Sequence[int] = (),
        **kwargs: Any,
    ) -> tuple[Any, requests.Response]:
        """One request and its decoded JSON body (see ``decode_json``)."""
        response = self.send(method, url, **kwargs)
        if response.status_code in absent:
            return None, response
        body = decode_json(
            what=self.what,
            method=method,
            url=response.url,
            status=response.status_code,
            body=response.content,
            content_type=response.headers.get("Content-Type", ""),
            hints=hints,
        )
        return body, response


def _reason(exc: BaseException | None) -> str:
    """A short, human reason for a request that got no answer."""
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("getaddrinfo failed", "host name not found"),
        ("timed out", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
        ("Connection reset", "connection reset by the server"),
        ("RemoteDisconnected", "the server closed the connection"),
        ("Connection aborted", "the server closed the connection"),
        ("IncompleteRead", "the answer was cut off"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


# --- messages ------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """``url`` fit for a message: no user:password, secret-looking query values hidden."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "(unparseable URL)"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parse_qsl(parts.query, keep_blank_values=True)
    cleaned = [(k, "***" if _SECRET_QUERY.search(k) else v) for k, v in query]
    return scrub(
        urlunsplit((parts.scheme, netloc, parts.path, urlencode(cleaned, safe="[]:,"), ""))
    )


def excerpt(text: str, limit: int = 160) -> str:
    """Server text for a message: secrets removed first (so that shortening cannot leave half
    of one), on one line, at most ``limit`` characters."""
    text = " ".join(scrub(str(text)).split())
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
    return excerpt(title, 80) or None


def loads(body: bytes) -> Any:
    """A body's JSON (``ValueError`` when it is not JSON), as the standard library reads it.

    orjson decodes the large answers of metric APIs several times faster; what it refuses
    and the standard library accepts (``NaN``, integers beyond 64 bits) is read by the latter.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def json_or_none(body: bytes) -> Any:
    """A body's JSON, or ``None`` when it is not JSON."""
    try:
        return loads(body)
    except ValueError:
        return None


def _error_detail(body: bytes, content_type: str) -> str:
    """A short reason from an error body: a JSON ``message``/``error``, an HTML title, or text."""
    if not body.strip():
        return "empty body"
    data = json_or_none(body)
    if isinstance(data, dict):
        error = data.get("error", data.get("message", data.get("errors")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            return excerpt(str(error), 120)
    if _looks_like_html(body, content_type):
        title = _html_title(body)
        return f"an HTML page ({title})" if title else "an HTML page"
    return excerpt(body.decode("utf-8", "replace"), 120)


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
        return loads(body)
    except ValueError:
        pass
    if _looks_like_html(body, content_type):
        title = _html_title(body)
        named = f" ({title})" if title else ""
        raise SourceError(
            f"{where} returned an HTML page{named} with HTTP {status} where JSON was expected; "
            "is the url option the API's address?"
        )
    start = excerpt(body.decode("utf-8", "replace"), 60) or "an empty body"
    raise SourceError(f"{where} returned HTTP {status} that is not JSON: {start}")


# --- tokens --------------------------------------------------------------------------------


def read_token(variable: str | None, role: str) -> str | None:
    """The token in environment variable ``variable`` (``None`` when no variable is named),
    registered as a secret so that no message shows it.

    Unset or empty is a config error; so is a token an HTTP header cannot carry (a control
    character, a character beyond Latin-1, or bytes that are not UTF-8), named without showing
    the token.
    """
    if variable is None:
        return None
    token = os.environ.get(variable, "").strip()
    if not token:
        raise InputError(
            Problem(
                "config",
                f"sources.{role}.token_env: the environment variable {variable} is not set or "
                "empty",
            )
        )
    register_secret(token)
    if not _TOKEN_CHARACTERS.match(token):
        raise InputError(
            Problem(
                "config",
                f"sources.{role}.token_env: the token in {variable} holds a character an HTTP "
                "header cannot carry (a control character, one beyond Latin-1, or bytes that "
                "are not UTF-8)",
            )
        )
    return token
