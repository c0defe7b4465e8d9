"""``kind: sql``: SLI events, incidents, deployments and work log read from a database through
SQLAlchemy (DuckDB embedded, PostgreSQL over the network).

For ``metrics`` the database does the counting: the source sends one statement that sums each
SLO's good and total events per step over the requested span,

    SELECT bucket, service, slo, SUM(good), SUM(total), BIT_OR(flaws)
    FROM (SELECT <floor of timestamp to the step> AS bucket, service, slo, good, total,
                 <what is wrong with the row, one bit per check> AS flaws
          FROM <table or (query)> WHERE timestamp >= :start AND timestamp < :end
          [AND service IN (:services)]) GROUP BY bucket, service, slo

so it receives per-step counts, as from Prometheus, never the raw events, and each row is
checked before its step's sums hide it (``FLAWS``). The bucket is the
number of whole steps between the span's start and the event's timestamp, written per dialect
(``_BUCKETS``, ``ts`` cast to a timestamp with time zone): DuckDB
``floor((epoch_us(ts) - :origin_us) / :step_us)``, PostgreSQL
``floor((extract(epoch from ts) - :origin_s) / :step_s)``; the row of bucket ``k`` starts at
``span.start + k * step``. The other roles are read as rows whose date column lies in the span.

Every statement is built with SQLAlchemy Core: values are bound parameters, and a table or
column name from the config is an identifier SQLAlchemy quotes, never SQL text. A ``query`` is
used as a subquery; the session is read-only (DuckDB opened read-only, PostgreSQL's
``default_transaction_read_only``) and its time zone UTC, so a timestamp without a time zone is
read as UTC.

Errors: a database that cannot be reached, or a statement past its timeout, is a
``SourceError`` (exit 1); an unknown table or column, or a query the database refuses, an
``InputError`` (exit 2); each is one line naming the source and the statement, with the
database's message. The connection URL of ``url_env`` is registered as a secret, so no message
shows it.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from reliability import frames
from reliability.errors import InputError, Problem, SourceError
from reliability.period import Span
from reliability.source_options import SQL_COLUMNS, SqlOptions
from reliability.sources.base import Loaded, LoadRequest, Plugin
from reliability.sources.secrets import register_secret

DIALECTS = ("duckdb", "postgresql")
"""The SQL dialects whose time floor the source knows."""
WAIT_SLACK_SECONDS = 5.0
"""How much longer than twice ``timeout`` a server is waited for (threads, decoding)."""
DUCKDB_MAGIC = b"DUCK"
"""What a DuckDB database file holds after the checksum that begins its header."""
DATE_COLUMNS = {"incidents": "created_at", "deployments": "deployed_at", "worklog": "date"}
"""The column that dates each row of a role, filtered to the span."""


def _instant(timestamp: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The timestamp as an instant: a column without a time zone (or of nanoseconds, as
    Parquet files hold them) read in the session's zone, UTC."""
    return sa.cast(timestamp, sa.DateTime(timezone=True))


def _duckdb_bucket(timestamp: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    origin = sa.bindparam("origin_us", type_=sa.BigInteger)
    step = sa.bindparam("step_us", type_=sa.BigInteger)
    return sa.func.floor((sa.func.epoch_us(_instant(timestamp)) - origin) / step)


def _postgresql_bucket(timestamp: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    origin = sa.bindparam("origin_s", type_=sa.BigInteger)
    step = sa.bindparam("step_s", type_=sa.BigInteger)
    return sa.func.floor((sa.extract("epoch", _instant(timestamp)) - origin) / step)


_BUCKETS: dict[str, Callable[[sa.ColumnElement[Any]], sa.ColumnElement[Any]]] = {
    "duckdb": _duckdb_bucket,
    "postgresql": _postgresql_bucket,
}
"""Per dialect: the number of whole steps from the span's start to a timestamp."""


class _Database:
    """One source's connection: the engine, its dialect and the name messages give it."""

    def __init__(self, options: SqlOptions, request: LoadRequest):
        role = request.role
        self.role = role
        self.timeout = options.timeout
        if options.url_env is not None:
            text = os.environ.get(options.url_env, "").strip()
            if not text:
                raise InputError(
                    Problem(
                        "config",
                        f"sources.{role}.url_env: the environment variable {options.url_env} "
                        "is not set or empty",
                    )
                )
            register_secret(text)
            self.label = f"sql {options.url_env}"
            try:
                url = sa.engine.make_url(text)
            except (sa_exc.ArgumentError, ValueError):
                raise InputError(
                    Problem(
                        "config",
                        f"sources.{role}.url_env: {options.url_env} does not hold a SQLAlchemy "
                        "URL such as postgresql://user:password@host:5432/db",
                    )
                ) from None
            register_secret(url.password if isinstance(url.password, str) else None)
        else:
            path = _duckdb_path(str(options.url), request)
            self.label = f"sql {path}"
            url = sa.engine.URL.create("duckdb", database=str(path))
        self.dialect = url.get_backend_name()
        if self.dialect not in DIALECTS:
            raise InputError(
                Problem(
                    "config",
                    f"sources.{role}: the {self.dialect} dialect is not supported "
                    f"(supported: {', '.join(DIALECTS)})",
                )
            )
        self.where = f"sources.{role} ({self.label})"
        connect_args: dict[str, Any]
        if self.dialect == "duckdb":
            connect_args = {"read_only": True}
        else:
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            milliseconds = math.ceil(options.timeout * 1000)
            connect_args = {
                "connect_timeout": max(1, math.ceil(options.timeout)),
                "options": (
                    f"-c statement_timeout={milliseconds} -c TimeZone=UTC "
                    "-c default_transaction_read_only=on"
                ),
            }
        try:
            self.engine = sa.create_engine(
                url, poolclass=sa.pool.NullPool, connect_args=connect_args
            )
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
            raise InputError(
                Problem("config", f"{self.where}: cannot use this URL: {_first_line(exc)}")
            ) from None

    def statement_text(self, statement: sa.Executable) -> str:
        """The statement as the database receives it, on one line (parameters unfilled)."""
        compiled = statement.compile(dialect=self.engine.dialect)  # type: ignore[attr-defined]
        shown = " ".join(str(compiled).split())
        return shown.replace("(__[POSTCOMPILE_services])", "(:services)")

    def run(self, statement: sa.Executable, params: dict[str, Any]) -> tuple[list[str], list]:
        """The column names and rows of ``statement``, errors as one line each.

        A server is waited for at most twice ``timeout`` and a few seconds (connecting, then
        the statement, which the server itself stops after ``timeout``): a network that goes
        silent mid-answer cannot hold the run.
        """
        shown = self.statement_text(statement)
        if self.dialect == "duckdb":
            return self._fetch(*self._execute(statement, params, shown), shown)
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["answer"] = self._execute(statement, params, shown)
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc

        worker = threading.Thread(target=work, name="sql-source", daemon=True)
        worker.start()
        limit = 2 * self.timeout + WAIT_SLACK_SECONDS
        worker.join(limit)
        if worker.is_alive():
            raise SourceError(
                f"{self.where}: no complete answer within {limit:g} s (twice the option "
                f"timeout, and {WAIT_SLACK_SECONDS:g} s); query: {shown}"
            )
        if "error" in box:
            raise box["error"]
        return self._fetch(*box["answer"], shown)

    def _execute(
        self, statement: sa.Executable, params: dict[str, Any], shown: str
    ) -> tuple[sa.Connection, sa.CursorResult[Any]]:
        try:
            connection = self.engine.connect()
        except sa_exc.DBAPIError as exc:
            raise SourceError(
                f"{self.where}: cannot connect to the database: {_first_line(exc)}"
            ) from None
        try:
            if self.dialect == "duckdb":
                connection.exec_driver_sql("SET TimeZone='UTC'")
            return connection, connection.execute(statement, params)
        except sa_exc.DBAPIError as exc:
            connection.close()
            self.engine.dispose()
            raise self._refusal(exc, shown) from None

    def _fetch(
        self, connection: sa.Connection, result: sa.CursorResult[Any], shown: str
    ) -> tuple[list[str], list]:
        try:
            return list(result.keys()), list(result.fetchall())
        except sa_exc.DBAPIError as exc:
            raise self._refusal(exc, shown) from None
        finally:
            connection.close()
            self.engine.dispose()

    def _refusal(self, exc: sa_exc.DBAPIError, shown: str) -> InputError | SourceError:
        """A database error as the run reports it: a fault (exit 1) or the config's (exit 2)."""
        if isinstance(exc, sa_exc.OperationalError) and self.dialect != "duckdb":
            return SourceError(
                f"{self.where}: the query failed: {_first_line(exc)}; query: {shown}"
            )
        return InputError(
            Problem(
                self.where, f"the database refused the query: {_first_line(exc)}; query: {shown}"
            )
        )


def _first_line(exc: BaseException) -> str:
    """The database's own message (not SQLAlchemy's wrapping), first line only."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


def _duckdb_path(url: str, request: LoadRequest) -> Path:
    """The DuckDB file ``url`` names (``duckdb:///path`` or a path), relative to the config."""
    text = url.removeprefix("duckdb:///") if url.startswith("duckdb:///") else url
    path = request.config.resolve(text)
    if not path.is_file():
        raise InputError(Problem(str(path), f"sources.{request.role}.url: file not found"))
    with path.open("rb") as handle:
        header = handle.read(12)
    if header[8:12] != DUCKDB_MAGIC:  # a CSV export, a Parquet file: the config's mistake
        raise InputError(
            Problem(str(path), f"sources.{request.role}.url: not a DuckDB database file")
        )
    return path


def _source(options: SqlOptions) -> sa.FromClause:
    """What the statement reads: the table (a quoted identifier, in its quoted schema if one is
    given) or the query as a subquery."""
    if options.table is not None:
        schema = None if options.table_schema is None else _name(options.table_schema)
        return sa.table(_name(options.table), schema=schema)
    # A line break after the query ends a trailing ``-- comment`` of it, which would
    # otherwise run on over the rest of the statement.
    return sa.text(f"{options.query}\n").columns().subquery("source")


def _name(identifier: str) -> sa.sql.quoted_name:
    """A table or column name from the config, always quoted: an identifier, never SQL (and
    never a keyword of the dialect, such as DuckDB's ``at``)."""
    return sa.sql.quoted_name(identifier, quote=True)


def _column(identifier: str) -> sa.ColumnClause[Any]:
    return sa.column(_name(identifier))


def _column_map(options: SqlOptions, role: str) -> dict[str, str]:
    """Canonical column -> database column for ``role``; a name of another role is refused."""
    known = SQL_COLUMNS[role]
    foreign = sorted(set(options.columns) - set(known))
    if foreign:
        raise InputError(
            Problem(
                "config",
                f"sources.{role}.columns: {', '.join(foreign)} is not a column of {role} "
                f"(known: {', '.join(known)})",
            )
        )
    return {name: options.columns.get(name, name) for name in known}


def _end(span: Span, step: pd.Timedelta) -> pd.Timestamp:
    """The span's end, cut back to the last whole step (a month in progress ends at now)."""
    start = span.start.as_unit("ns")
    return start + ((span.end.as_unit("ns") - start) // step) * step


FLAWS = (
    ("good", "missing value"),
    ("total", "missing value"),
    ("good", "must not be negative"),
    ("total", "must not be negative"),
    ("good", "must be a whole number of events"),
    ("total", "must be a whole number of events"),
    ("good", "good exceeds total"),
)
"""What a row of SLI events may have wrong that its step's sums would hide (a sum leaves out
an empty cell, a negative count lowers it, a fraction is rounded away), each a bit of the
``flaws`` the statement returns per step: the column it is in and the problem."""


def _flaws(good: sa.ColumnElement[Any], total: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """One row's flaws as the bits of ``FLAWS`` (0 for a good row)."""
    zero = sa.literal_column("0")
    checks = (
        good.is_(None),
        total.is_(None),
        good < zero,
        total < zero,
        good != sa.func.floor(good),
        total != sa.func.floor(total),
        good > total,
    )
    bits = [
        sa.case((check, sa.literal_column(str(1 << bit))), else_=zero)
        for bit, check in enumerate(checks)
    ]
    flaws = bits[0]
    for bit in bits[1:]:
        flaws = flaws + bit
    return flaws


def metrics_statement(options: SqlOptions, dialect: str, services: list[str]) -> sa.Select[Any]:
    """The per-step sums of every SLO's events over ``:start`` to ``:end``, with the flaws
    of the step's rows (``FLAWS``)."""
    names = _column_map(options, "metrics")

    def col(name: str) -> sa.ColumnClause[Any]:
        return _column(names[name])

    timestamp = col("timestamp")
    events = (
        sa.select(
            _BUCKETS[dialect](timestamp).label("bucket"),
            col("service").label("service"),
            col("slo").label("slo"),
            col("good").label("good"),
            col("total").label("total"),
            _flaws(col("good"), col("total")).label("flaws"),
        )
        .select_from(_source(options))
        .where(
            _instant(timestamp) >= sa.bindparam("start"), _instant(timestamp) < sa.bindparam("end")
        )
    )
    if services:
        events = events.where(col("service").in_(sa.bindparam("services", expanding=True)))
    inner = events.subquery("events")
    return sa.select(
        sa.cast(inner.c.bucket, sa.BigInteger).label("bucket"),
        inner.c.service,
        inner.c.slo,
        sa.cast(sa.func.sum(inner.c.good), sa.BigInteger).label("good"),
        sa.cast(sa.func.sum(inner.c.total), sa.BigInteger).label("total"),
        sa.func.bit_or(inner.c.flaws).label("flaws"),
    ).group_by(inner.c.bucket, inner.c.service, inner.c.slo)


def rows_statement(options: SqlOptions, role: str) -> sa.Select[Any]:
    """Every row of ``role`` whose date column lies in ``:start`` to ``:end`` (compared as
    the instant or date it holds, whatever the column's type: text, nanoseconds, ...)."""
    column = _column(_column_map(options, role)[DATE_COLUMNS[role]])
    dated = sa.cast(column, sa.Date) if role == "worklog" else _instant(column)
    return (
        sa.select(sa.literal_column("*"))
        .select_from(_source(options))
        .where(dated >= sa.bindparam("start"), dated < sa.bindparam("end"))
    )


def _load_metrics(options: SqlOptions, request: LoadRequest, database: _Database) -> Loaded:
    from reliability.sources.prometheus import step_problems

    problems = step_problems(options, request.span)  # type: ignore[arg-type]
    if problems:
        raise InputError(problems)
    step = options.step_length
    start = request.span.start.tz_convert("UTC").as_unit("ns")
    end = _end(request.span, step)
    if end <= start:
        return Loaded(frames.empty(frames.SLI))
    services = [service.name for service in request.config.services]
    statement = metrics_statement(options, database.dialect, services)
    params: dict[str, Any] = {"start": start.to_pydatetime(), "end": end.to_pydatetime()}
    if database.dialect == "duckdb":
        params |= {"origin_us": start.value // 1000, "step_us": step.value // 1000}
    else:
        params |= {"origin_s": start.value // 10**9, "step_s": step.value // 10**9}
    if services:
        params["services"] = services
    _, rows = database.run(statement, params)
    if not rows:
        return Loaded(frames.empty(frames.SLI), [f"{database.where}: no SLI rows in the period."])
    bucket, service, slo, good, total, flaws = zip(*rows, strict=True)
    offsets = np.asarray(bucket, dtype=np.int64) * step.value
    raw = pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(
                (start.value + offsets).astype("datetime64[ns]"), tz="UTC"
            ),
            "service": pd.Series(service, dtype=object),
            "slo": pd.Series(slo, dtype=object),
            "good": pd.Series(good, dtype=object),
            "total": pd.Series(total, dtype=object),
        }
    )
    problems = _flaw_problems(raw, np.asarray(flaws, dtype=np.int64), database.where)
    if problems:
        raise InputError(problems)
    if raw["good"].notna().all() and raw["total"].notna().all():
        raw["good"] = raw["good"].astype("int64")
        raw["total"] = raw["total"].astype("int64")
    order = np.lexsort((raw["timestamp"].to_numpy(), raw["slo"], raw["service"]))
    raw = raw.iloc[order].reset_index(drop=True)
    return Loaded(frames.validate(raw, frames.SLI, database.where, first_row=1))


def _flaw_problems(sums: pd.DataFrame, flaws: np.ndarray, where: str) -> list[Problem]:
    """One problem per step (the first few of each kind) whose rows have a flaw of ``FLAWS``,
    naming its SLO and the step's start; the rest of each kind summed up in one line."""
    problems = []
    for bit, (column, message) in enumerate(FLAWS):  # the kinds of flaw, not rows
        steps = np.flatnonzero(flaws & (1 << bit))
        for at in steps[: frames.PROBLEMS_SHOWN_PER_CHECK]:
            stamp = sums["timestamp"].iloc[at].strftime("%Y-%m-%dT%H:%M:%SZ")
            named = f"{sums['service'].iloc[at]} / {sums['slo'].iloc[at]}"
            text = f"{message} (a row of {named} in the step from {stamp})"
            problems.append(Problem(where, text, column=column))
        hidden = steps.size - frames.PROBLEMS_SHOWN_PER_CHECK
        if hidden > 0:
            problems.append(
                Problem(where, f"{hidden} more steps with the same problem", None, column)
            )
    return problems


def _day_bounds(span: Span) -> tuple[Any, Any]:
    """The span as the calendar days (in the config's zone) its rows of dates may carry."""
    first = span.start.tz_convert(span.timezone)
    last = span.end.tz_convert(span.timezone)
    end_day = last.normalize() + (
        pd.Timedelta(days=1) if last != last.normalize() else pd.Timedelta(0)
    )
    return first.date(), end_day.date()


def _load_rows(options: SqlOptions, request: LoadRequest, database: _Database) -> Loaded:
    role = request.role
    names = _column_map(options, role)
    statement = rows_statement(options, role)
    if role == "worklog":
        start, end = _day_bounds(request.span)
        params: dict[str, Any] = {"start": start, "end": end}
    else:
        params = {
            "start": request.span.start.tz_convert("UTC").to_pydatetime(),
            "end": request.span.end.tz_convert("UTC").to_pydatetime(),
        }
    keys, rows = database.run(statement, params)
    renamed = {db: canonical for canonical, db in names.items()}
    raw = pd.DataFrame.from_records(rows, columns=keys, coerce_float=False)
    raw = raw[[k for k in keys if k in renamed]].rename(columns=renamed)
    missing = [
        f"{db} (for {canonical})"
        for canonical, db in names.items()
        if db != canonical and db not in keys
    ]
    if missing and keys:
        raise InputError(
            Problem(database.where, f"the query returns no column {', '.join(missing)}")
        )
    if raw.empty:  # no row in the span: a real zero, but only of a table that is one
        header = frames.column_problems(list(raw.columns), request.spec, database.where)
        if header:
            raise InputError(header)
        return Loaded(frames.empty(request.spec))
    for column in request.spec.columns:
        if column.kind == "instant" and column.name in raw:
            raw[column.name] = _as_utc(raw[column.name])
    return Loaded(frames.validate(raw, request.spec, database.where, first_row=1))


def _as_utc(values: pd.Series) -> pd.Series:
    """Instants as the database gave them, a timestamp without a time zone read as UTC."""
    if pd.api.types.is_datetime64_dtype(values) and not isinstance(
        values.dtype, pd.DatetimeTZDtype
    ):
        return values.dt.tz_localize("UTC")
    if values.dtype == object:
        found = values.dropna()
        if len(found) and all(
            hasattr(v, "tzinfo") and hasattr(v, "hour") for v in found.head(1000)
        ):
            return pd.to_datetime(values, utc=True)
    return values


def _load(options: SqlOptions, request: LoadRequest) -> Loaded:
    """Loader for ``kind: sql`` (roles metrics, incidents, deployments and worklog)."""
    database = _Database(options, request)
    if request.role == "metrics":
        return _load_metrics(options, request, database)
    return _load_rows(options, request, database)


PLUGIN = Plugin(SqlOptions, _load, answers_for_span=True)
