"""The few Prometheus HTTP API calls the source makes, through the shared HTTP stack.

A query the server rejects (HTTP 400/422 with an error) is a ``QueryRejected`` for the caller to
name with its SLO; refused credentials and a URL without the API are config errors (exit 2);
anything else that is not a successful answer is a ``SourceError`` (exit 1).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import msgspec

from reliability.errors import InputError, Problem, SourceError
from reliability.source_options import PrometheusOptions
from reliability.sources import http

SERVER_TEXT_LIMIT = 300
"""Characters of a server's error message kept in a problem line."""


class QueryProblem(Exception):
    """A query that cannot give an SLO's counts: the user's PromQL (or its data) is wrong.

    ``title`` names the SLO when the problem concerns one service of a grouped query.
    """

    def __init__(self, error: str, title: str | None = None):
        super().__init__(error)
        self.error = error
        self.title = title


class QueryRejected(QueryProblem):
    """The server refused a query as invalid (HTTP 400 or 422)."""

    def __init__(self, error_type: str, error: str):
        super().__init__(error)
        self.error_type = error_type


@dataclass
class Answer:
    """The ``data`` of a successful API answer and the warnings that came with it."""

    data: Any
    warnings: list[str] = field(default_factory=list)


class _Series(msgspec.Struct):
    metric: dict[str, str] = {}
    values: list[tuple[float, float]] = []


class _Matrix(msgspec.Struct):
    resultType: str
    result: list[_Series]


class _MatrixAnswer(msgspec.Struct):
    status: str
    data: _Matrix
    warnings: list[str] = []
    infos: list[str] = []


_MATRIX = msgspec.json.Decoder(_MatrixAnswer, strict=False)
"""A range query's answer decoded straight into numbers: each ``[time, "value"]`` becomes a
pair of floats (the value's text parsed as JSON reads numbers, exactly as ``float`` does),
with no list nor string made per point. Anything else it meets (``+Inf``, a value that is no
number, another shape) is left to the general decoding, whose checks name the problem."""


def matrix_answer(body: bytes) -> Answer | None:
    """A successful range query's answer with every point as ``(seconds, value)`` floats, or
    ``None`` when the body is anything else (the caller decodes it the general way)."""
    try:
        decoded = _MATRIX.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if decoded.status != "success" or decoded.data.resultType != "matrix":
        return None
    result = [{"metric": one.metric, "values": one.values} for one in decoded.data.result]
    notes = [*decoded.warnings, *decoded.infos]
    return Answer(
        {"resultType": "matrix", "result": result},
        [http.excerpt(note, SERVER_TEXT_LIMIT) for note in notes],
    )


def where(options: PrometheusOptions) -> str:
    """How messages name the source: ``prometheus http://prometheus:9090``."""
    return f"prometheus {options.base_url}"


def on_loopback(url: str) -> bool:
    """Whether ``url`` names this machine (``localhost``, 127.0.0.0/8 or ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


class PrometheusClient:
    """Range queries, instant queries and label values of one server.

    Requests carry the options' headers and ``params``, and the bearer token if one is given;
    ``traffic`` counts requests and bytes (a benchmark reads it). A server on this machine is
    asked for uncompressed answers (unless the headers say otherwise): compressing them would
    cost both processes CPU to save bytes that never cross a network.
    """

    def __init__(
        self,
        options: PrometheusOptions,
        token: str | None = None,
        *,
        traffic: http.Traffic | None = None,
    ):
        self.options = options
        headers = dict(options.headers)
        named = {name.lower() for name in headers}
        if "accept-encoding" not in named and on_loopback(options.base_url):
            headers["Accept-Encoding"] = "identity"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.http = http.Client(
            "Prometheus",
            http.Policy.of(options),
            headers=headers,
            pool_size=max(options.concurrency, 4),
            traffic=traffic,
        )
        self.where = where(options)

    def close(self) -> None:
        self.http.close()

    def build_info(self) -> Any:
        """``data`` of ``/api/v1/status/buildinfo``, or ``None`` when the server gives none.

        Asked once, without retries: a server without the endpoint (or a proxy refusing it)
        is not a fault, and one that cannot be reached fails on the queries that follow,
        with their retries.
        """
        once = http.Client(
            "Prometheus",
            replace(self.http.policy, retries=0, deadline=self.http.policy.timeout),
            headers=dict(self.http.session.headers),
            pool_size=1,
            traffic=self.http.traffic,
        )
        url = self.options.base_url + "/api/v1/status/buildinfo"
        try:
            response = once.send("GET", url, params=dict(self.options.params))
            body = http.json_or_none(response.content) if response.status_code == 200 else None
        except SourceError:
            return None
        finally:
            once.close()
        if not isinstance(body, dict) or body.get("status") != "success":
            return None
        return body.get("data")

    def query_range(self, query: str, start: float, end: float, step: float) -> Answer:
        """``/api/v1/query_range`` as a form-encoded POST; ``data.result`` is a matrix."""
        form = {"query": query, "start": _seconds(start), "end": _seconds(end)}
        form["step"] = _seconds(step)
        answer = self.call(
            "POST", "/api/v1/query_range", {**self.options.params, **form}, matrix=True
        )
        if not isinstance(answer.data, dict) or answer.data.get("resultType") != "matrix":
            raise SourceError(f"{self.where}: /api/v1/query_range did not answer with a matrix")
        return answer

    def query(self, query: str, time: float) -> Answer:
        """``/api/v1/query`` (an instant query) as a form-encoded POST."""
        form = {"query": query, "time": _seconds(time)}
        return self.call("POST", "/api/v1/query", {**self.options.params, **form})

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        """Values of ``label`` on the series ``match`` selects between ``start`` and ``end``."""
        params = {"match[]": match, "start": _seconds(start), "end": _seconds(end)}
        answer = self.call(
            "GET", f"/api/v1/label/{label}/values", {**self.options.params, **params}
        )
        return [str(v) for v in answer.data or []]

    def call(
        self, method: str, path: str, payload: dict[str, Any], *, matrix: bool = False
    ) -> Answer:
        """One API call; maps every answer that is not a success to a clear error. With
        ``matrix``, a range query's answer has its points decoded as floats
        (``matrix_answer``)."""
        url = self.options.base_url + path
        if method == "POST":
            response = self.http.send(method, url, data=payload)
        else:
            response = self.http.send(method, url, params=payload)
        status = response.status_code
        if status != 200:
            self._refuse(status, path, http.json_or_none(response.content))
        typed = matrix_answer(response.content) if matrix else None
        if typed is not None:
            return typed
        body = http.decode_json(
            what="Prometheus",
            method=method,
            url=url,
            status=status,
            body=response.content,
            content_type=response.headers.get("Content-Type", ""),
        )
        if not isinstance(body, dict):
            raise SourceError(f"{self.where}: {path} answered JSON that is not the Prometheus API")
        if body.get("status") != "success":
            raise SourceError(
                f"{self.where}: {path} answered status {body.get('status')!r}{_detail(body)}"
            )
        notes = [str(w) for w in body.get("warnings") or []]
        notes += [str(i) for i in body.get("infos") or []]
        return Answer(body.get("data"), [http.excerpt(n, SERVER_TEXT_LIMIT) for n in notes])

    def _refuse(self, status: int, path: str, body: Any) -> None:
        """Raise the error an answer other than HTTP 200 stands for."""
        if status in (400, 422) and isinstance(body, dict) and "error" in body:
            raise QueryRejected(
                http.excerpt(str(body.get("errorType", "")), 40),
                http.excerpt(str(body["error"]), SERVER_TEXT_LIMIT),
            )
        if status in (401, 403):
            hint = (
                f"check the token in ${self.options.token_env}"
                if self.options.token_env
                else "set token_env for this server"
            )
            raise InputError(
                Problem(self.where, f"the server refused the credentials (HTTP {status}); {hint}")
            )
        if status == 404:
            raise InputError(
                Problem(
                    self.where,
                    f"no Prometheus HTTP API here (HTTP 404 for {path}); the url should be the "
                    "server's base URL, e.g. http://prometheus:9090",
                )
            )
        raise SourceError(f"{self.where}: HTTP {status} for {path}{_detail(body)}")


def _detail(body: Any) -> str:
    """``: errorType: error`` of an API error body, or nothing."""
    if not isinstance(body, dict):
        return ""
    text = f"{body.get('errorType', '')}: {body.get('error', '')}".strip(": ")
    return f": {http.excerpt(text, SERVER_TEXT_LIMIT)}" if text else ""
