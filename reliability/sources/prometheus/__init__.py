"""The metrics source for Prometheus-compatible HTTP APIs (Thanos, Mimir, VictoriaMetrics too).

For every SLO the server itself counts the events of each step (``planning``): a point
evaluated at ``t`` holds the events of ``(t - step, t]`` and becomes the canonical row that
starts at ``t - step`` (``assembly``). Queries run from ``span.start + step`` to ``span.end``
in step-aligned chunks of at most ``MAX_POINTS`` points (fewer for a grouped query of many
services, so its requests run at once), so every interval of the span is counted exactly
once; the step must divide the span (its months, and the lookback before them) into whole
steps.

Errors: a query the server rejects, or whose values are not counts, is an ``InputError`` naming
the SLO, the query and the server's message (exit 2); a server that cannot be reached after
the retries, or within the deadline, is a ``SourceError`` naming the URL (exit 1). The bearer
token is read from the environment variable ``token_env`` names, and never appears in a message.

The server's engine is identified once its counts are in (``engine``), so a server that cannot
be reached fails on the queries, within their timeout and deadline, and is not asked twice: one
whose every count would be an extrapolated estimate (Prometheus 3.x) is refused with exit 2
rather than rounded.

The ``alerts`` role (the firing episodes of the server's alerting rules, from its ``ALERTS``
series) is read by ``alerts``.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager

import pandas as pd

from reliability import frames
from reliability.config import Config
from reliability.errors import InputError, Problem
from reliability.period import Span
from reliability.source_options import PrometheusOptions
from reliability.sources import http
from reliability.sources.base import Loaded, LoadRequest, Plugin
from reliability.sources.prometheus.alerts import fetch_alerts
from reliability.sources.prometheus.assembly import Result, assemble, points, timeslice_notes
from reliability.sources.prometheus.client import PrometheusClient, QueryProblem, QueryRejected
from reliability.sources.prometheus.engine import Engine, identify, refusal
from reliability.sources.prometheus.planning import MAX_POINTS, Planner, Query, query_ranges

__all__ = ["MAX_POINTS", "PLUGIN", "Engine", "PrometheusClient", "fetch", "step_problems"]


def step_problems(options: PrometheusOptions, span: Span) -> list[Problem]:
    """Why the step cannot divide ``span`` into whole steps, one problem per piece.

    Every month boundary inside the span must fall on a step, and so must the end of the
    lookback; the span's own end may not (a month in progress ends at "now"): the rows stop
    at the last whole step before it.
    """
    step = options.step_length
    pieces: list[tuple[pd.Timestamp, pd.Timestamp, str]] = []
    cursor = span.start
    for month in span.months:
        if month.end <= cursor or month.start >= span.end:
            continue
        end = min(month.end, span.end)
        if cursor > month.start:
            days = (end - cursor) / pd.Timedelta(days=1)
            pieces.append((cursor, end, f"the {days:g}-day lookback before {month.next()}"))
        elif end == month.end:
            pieces.append((cursor, end, f"{month} ({month.days:g} days)"))
        cursor = end
    problems = []
    for start, end, name in pieces:
        if (end - start) % step != pd.Timedelta(0) or end - start < step:
            problems.append(
                Problem(
                    "config",
                    f"sources.metrics.step: {options.step} does not divide {name} into whole "
                    "steps; use e.g. 1m, 5m, 15m or 1h",
                )
            )
    return problems


def run_query(
    client: PrometheusClient, query: Query, ranges: list[tuple[int, int]], step: pd.Timedelta
) -> Result:
    """Every chunk of one query, each series' points checked and filed under its service."""
    result = Result()
    step_seconds = step.total_seconds()
    for first, last in ranges:
        answer = client.query_range(query.expr, first / 1e9, last / 1e9, step_seconds)
        result.warnings.extend(w for w in answer.warnings if w not in result.warnings)
        matrix = [s for s in answer.data.get("result") or [] if s.get("values")]
        if query.label is None and len(matrix) > 1:
            raise QueryProblem(
                f"returned {len(matrix)} series where one was expected "
                "(aggregate it, e.g. wrap it in sum(...))"
            )
        for series in matrix:
            if query.label is None:
                service = query.targets[0].service
            else:
                value = (series.get("metric") or {}).get(query.label)
                service = query.services.get(value) if value is not None else None
                if service is None:
                    continue
            title = f"{service}/{query.targets[0].slo.name}"
            result.series.setdefault(service, []).append(points(series["values"], title))
    return result


def run_all(
    client: PrometheusClient,
    queries: list[Query],
    ranges: list[list[tuple[int, int]]],
    step: pd.Timedelta,
) -> list[Result]:
    """Every request of every query (``ranges[i]`` are query ``i``'s), in parallel; problems
    with queries are gathered into one ``InputError``, one per query.

    A fault (a server down, too slow, past the deadline) stops the run at once: no request
    starts after it.
    """
    failed = threading.Event()

    def run(query: Query, piece: tuple[int, int]) -> Result:
        if failed.is_set():
            raise _Skipped
        try:
            return run_query(client, query, [piece], step)
        except QueryProblem:
            raise
        except BaseException:
            failed.set()
            raise

    tasks = [(i, piece) for i, query_ranges in enumerate(ranges) for piece in query_ranges]
    problems: dict[int, Problem] = {}
    workers = max(1, min(client.options.concurrency, len(tasks)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prometheus") as pool:
        futures: dict[Future[Result], int] = {
            pool.submit(run, queries[i], piece): i for i, piece in tasks
        }
        for future in as_completed(futures):
            error = future.exception()
            if error is None or isinstance(error, _Skipped):
                continue
            if not isinstance(error, QueryProblem):
                pool.shutdown(wait=True, cancel_futures=True)
                raise error
            index = futures[future]
            query = queries[index]
            if isinstance(error, QueryRejected):
                kind = f" ({error.error_type})" if error.error_type else ""
                text = f"the server rejected the {query.side} query{kind}: {error.error}"
            else:
                text = f"the {query.side} query {error.error}"
            title = error.title or query.title
            problems.setdefault(
                index, Problem(client.where, f"{title}: {text}; query: {query.expr}")
            )
    if problems:
        raise InputError([problems[index] for index in sorted(problems)])
    results = [Result() for _ in queries]
    for future, index in futures.items():  # in the order of each query's ranges
        part, whole = future.result(), results[index]
        whole.warnings.extend(w for w in part.warnings if w not in whole.warnings)
        for service, series in part.series.items():
            whole.series.setdefault(service, []).extend(series)
    return results


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while, then back as it was.

    Decoding the answers creates millions of small lists, strings and floats, none in a
    reference cycle; the collector would scan every live object of the process again and again
    as they are made (most of the decoding time) and could free none of them. Reference
    counting still frees each answer once its arrays are made.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Skipped(Exception):
    """A query not started because another one already failed the run."""


def fetch(
    options: PrometheusOptions,
    config: Config,
    span: Span,
    *,
    token: str | None = None,
    traffic: http.Traffic | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The canonical SLI frame of ``span`` for every configured SLO, and the source's notes.

    ``traffic`` counts the requests and bytes (a benchmark reads it).
    """
    problems = step_problems(options, span)
    if problems:
        raise InputError(problems)
    step = options.step_length
    start = span.start.as_unit("ns")
    end = start + ((span.end.as_unit("ns") - start) // step) * step
    if end <= start:
        return frames.empty(frames.SLI), []
    client = PrometheusClient(options, token, traffic=traffic)
    try:
        planner = Planner(
            options,
            lambda label, match: client.label_values(
                label, match, start.value / 1e9, end.value / 1e9
            ),
        )
        planner.plan(config)
        if planner.problems:
            raise InputError(planner.problems)
        ranges = [query_ranges(query, start, end, step) for query in planner.queries]
        with collector_paused():
            results = run_all(client, planner.queries, ranges, step)
        engine = identify(client.build_info())
    finally:
        client.close()
    refused = refusal(engine, client.where)
    if refused is not None:
        raise InputError(refused)
    frame, notes = assemble(planner.queries, results, step, options, engine)
    notes = [*planner.notes, *notes, *timeslice_notes(config, options)]
    return frame, list(dict.fromkeys(notes))


def _load(options: PrometheusOptions, request: LoadRequest) -> Loaded:
    """Loader for ``kind: prometheus`` (roles ``metrics`` and ``alerts``)."""
    token = http.read_token(options.token_env, request.role)
    if request.role == "alerts":
        span = request.span
        frame, notes = fetch_alerts(options, request.config, span.start, span.end, token=token)
    else:
        frame, notes = fetch(options, request.config, request.span, token=token)
    return Loaded(frame, notes)


PLUGIN = Plugin(PrometheusOptions, _load, answers_for_span=True)
