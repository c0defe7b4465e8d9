"""The ``reliability`` command: compute, sample, validate (and report once rendering lands).

Exit codes: 0 success; 2 bad input or config (one line per problem); 1 anything else.
Progress goes to stderr and the last line of every run says what was done and how long it
took; ``--log-format json`` makes those lines JSON objects for log pipelines.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from reliability.errors import InputError, Problem, ReliabilityError


class Log:
    """Progress and summary lines on stderr, as text or one JSON object per line."""

    def __init__(self, fmt: str = "text"):
        self.fmt = fmt
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def info(self, message: str, **fields: object) -> None:
        self._emit("info", message, fields)

    def warning(self, message: str, **fields: object) -> None:
        self._emit("warning", message, fields)

    def error(self, message: str, **fields: object) -> None:
        self._emit("error", message, fields)

    def _emit(self, level: str, message: str, fields: dict[str, object]) -> None:
        from reliability.sources.secrets import scrub  # every line leaves through here

        if self.fmt == "json":
            line = json.dumps({"level": level, "message": message, **fields}, default=str)
        else:
            line = message if level == "info" else f"{level}: {message}"
        print(scrub(line), file=sys.stderr, flush=True)


class _ToLog(logging.Handler):
    """Warnings logged during a run (this package's, a library's, Python's ``warnings``) as
    one stderr line each in the run's format, instead of Python's bare last-resort lines."""

    def __init__(self, log: Log):
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(QUIET_LOGGERS):
            return
        try:
            message = record.getMessage()
        except Exception:  # a malformed message must not break the run
            message = str(record.msg)
        # A Python warning comes as "file:line: Category: text" plus the source line.
        message = (message.strip().splitlines() or [""])[0]
        emit = self.log.error if record.levelno >= logging.ERROR else self.log.warning
        emit(message, source=record.name)


QUIET_LOGGERS = ("urllib3", "papermill", "nbclient", "jupyter_client")
"""Libraries whose log lines repeat what the run reports once: urllib3's are the retries of one
request (the source's error names the attempts); papermill's and nbclient's are about a notebook
whose failure the renderer reports as one line naming the notebook, the cell and the reason (a
kernel stopped because another notebook failed is not a failure of its own); jupyter_client's
are about the kernels the renderer starts and stops (a killed kernel slow to go on a busy
machine is no news; a kernel that fails is the notebook's error)."""
CELL_TIMEOUT_SECONDS = 600
PDF_TIMEOUT_SECONDS = 300.0
"""Chromium prints the sample month in seconds; one running this long is stuck."""
"""A report cell only draws what was computed before; one running this long is stuck."""


def _seconds_or_zero(text: str) -> float | None:
    """An argparse type: seconds (a number of at least 0); 0 means no limit (None)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 10_000_000:
        raise argparse.ArgumentTypeError(
            f"must be from 0 (no limit) to 10000000 seconds, got {text}"
        )
    return value or None


def _positive_seconds(text: str) -> float:
    """An argparse type: seconds, more than 0 and at most a day."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most 86400 seconds, got {text}"
        )
    return value


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_compute(args: argparse.Namespace, log: Log) -> int:
    """Print one month's numbers as JSON, CSV or text tables."""
    from reliability import pipeline
    from reliability.results import to_json, to_tables

    config = pipeline.load_config(args.config)
    month = pipeline.resolve_month(args.month, config)
    _, result = pipeline.compute(config, month)
    if args.format == "json":
        print(json.dumps(to_json(result), indent=2))
    else:
        for name, table in to_tables(result).items():
            if args.format == "csv":
                print(f"# {name}")
                print(table.to_csv(index=False), end="")
            else:
                print(f"== {name} ==")
                print(table.to_string(index=False, max_colwidth=40))
                print()
    slo_count = 0 if result.slos is None else len(result.slos)
    log.info(
        f"computed {month} ({slo_count} SLOs) in {log.elapsed():.1f} s",
        month=month.label,
        slos=slo_count,
        seconds=round(log.elapsed(), 3),
    )
    return 0


def _check_out_dir(out: str) -> None:
    """An output folder must be a folder (or not exist yet)."""
    if Path(out).exists() and not Path(out).is_dir():
        raise InputError(Problem("--out", f"{out} exists and is not a folder"))


def cmd_report(args: argparse.Namespace, log: Log) -> int:
    """Render the month's HTML report (the one file to forward, the fleet page, one page per
    service, metrics.json) and, with ``--pdf``, its PDF."""
    from reliability import pipeline
    from reliability.cache import CACHE_DIR, MonthCache
    from reliability.report.build import KERNEL_PRELOAD, build_report
    from reliability.report.pdf import PDFError, find_chromium
    from reliability.report.render import KernelPool

    _check_out_dir(args.out)
    if args.pdf:  # said at once; the HTML report is still written, and the run then fails
        try:
            find_chromium()
        except PDFError as exc:
            log.warning(str(exc))
    config = pipeline.load_config(args.config)
    month = pipeline.resolve_month(args.month, config)
    log.info(f"rendering the report for {month}")
    # The kernels start, and import what the notebooks need, while the month is computed.
    with KernelPool(args.jobs, preload=KERNEL_PRELOAD) as pool:
        results = pipeline.report_results(
            config,
            month,
            cache=MonthCache(Path(args.out) / CACHE_DIR) if args.use_cache else None,
            label=pipeline.config_label(args.config),
        )
        built = build_report(
            results,
            Path(args.out),
            pool=pool,
            progress=sys.stderr.isatty() and log.fmt == "text",
            cell_timeout=args.cell_timeout,
            with_pdf=args.pdf,
            pdf_timeout=args.pdf_timeout,
        )
    print(built.one_file)
    if built.pdf is not None:
        print(built.pdf)
    log.info(
        f"wrote {built.one_file} and {len(built.files) - 1} more files in {log.elapsed():.1f} s",
        month=month.label,
        report=str(built.one_file),
        files=len(built.files),
        seconds=round(log.elapsed(), 3),
    )
    return 0


def cmd_sample(args: argparse.Namespace, log: Log) -> int:
    """Write the sample organisation as canonical files plus a config that reads them."""
    from reliability import pipeline
    from reliability.metrics.slo import alert_lookback
    from reliability.sources.sample import sample_config, write_sample

    month = pipeline.resolve_month(args.month, pipeline.load_config(None))
    _check_out_dir(args.out)
    # The files hold the days before the month that its alert replay reads, too.
    path = write_sample(Path(args.out), month, services=args.services, lookback=alert_lookback())
    size = len(sample_config(args.services).services)
    log.info(
        f"wrote the sample organisation ({size} services) for {month} to {path.parent} "
        f"(config {path}) in {log.elapsed():.1f} s",
        month=month.label,
        config=str(path),
        services=size,
        seconds=round(log.elapsed(), 3),
    )
    return 0


def cmd_export(args: argparse.Namespace, log: Log) -> int:
    """Write the config's services and SLOs as OpenSLO v1 documents (stdout or ``--out``)."""
    from reliability import pipeline
    from reliability.openslo.writer import to_documents, to_yaml

    config = pipeline.load_config(args.config)
    text = to_yaml(config)
    count = len(to_documents(config))
    if args.out is None:
        print(text, end="")
    else:
        out = Path(args.out)
        if out.is_dir():
            raise InputError(Problem("--out", f"{out} is a folder; give the file to write"))
        partial = out.with_name(out.name + ".partial")
        try:
            partial.write_text(text, encoding="utf-8")
            partial.replace(out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise InputError(Problem("--out", f"cannot write {out}: {exc.strerror}")) from None
    log.info(
        f"wrote {count} OpenSLO v1 documents" + (f" to {args.out}" if args.out else ""),
        documents=count,
    )
    return 0


def cmd_validate(args: argparse.Namespace, log: Log) -> int:
    """Load the config and every source for a month; list every problem, or what was found."""
    import pandas as pd

    from reliability import pipeline

    config = pipeline.load_config(args.config)
    month = pipeline.resolve_month(args.month, config)
    frames, result = pipeline.compute(config, month)
    found = {
        "metrics": frames.sli,
        "incidents": frames.incidents,
        "deployments": frames.deployments,
        "worklog": frames.worklog,
        "cost": frames.cost,
        "alerts": frames.alerts,
    }
    for role, frame in found.items():
        left_out = frames.left_out.get(role)
        rows = "not configured" if frame is None else f"{len(frame):,} rows"
        if left_out:
            rows += f" ({left_out:,} more outside {month} and its lookback, or of other services)"
        print(f"{role}: {rows}")
    if result.slos is not None:
        without = result.slos.loc[result.slos["status"] == "no_data"]
        print(f"SLOs with data in {month}: {len(result.slos) - len(without)} of {len(result.slos)}")
        for row in without.itertuples():
            print(f"  no data: {row.service} / {row.slo}")
    for role, reason in result.unavailable.items():
        print(f"{role}: left out of {month}: {reason}")
    quality = result.data_quality
    if quality is not None:
        for row in quality.itertuples():
            scope = "all services" if pd.isna(row.service) else row.service
            count = "" if pd.isna(row.count) else f", {row.count}"
            effect = f": {row.effect}" if row.effect else ""
            print(f"finding: {row.finding} ({scope}{count}){effect}")
    for warning in pipeline.outside_data(frames, month):
        log.warning(warning)
    log.info(f"validated {month}: no problems found in {log.elapsed():.1f} s", month=month.label)
    return 0


def cmd_rules(args: argparse.Namespace, log: Log) -> int:
    """Write the Prometheus recording and burn-rate alert rules of every SLO."""
    from reliability import pipeline
    from reliability.rules import prometheus_rules

    config = pipeline.load_config(args.config)
    rules = prometheus_rules(config)
    text = rules.to_yaml()
    if args.out is None:
        sys.stdout.write(text)
        where = "stdout"
    else:
        out = Path(args.out)
        if out.is_dir():
            raise InputError(Problem("--out", f"{out} is a folder; name the rule file to write"))
        temporary = out.with_name(f".{out.name}.tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, out)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise InputError(Problem("--out", f"cannot write {out}: {exc.strerror}")) from None
        where = str(out)
    for name in rules.skipped:
        log.warning(f"{name} has no Prometheus indicator: no rules for it")
    log.info(
        f"wrote {rules.rules:,} rules for {rules.slos} SLOs in {len(rules.groups)} groups "
        f"({len(text.encode()):,} bytes) to {where} in {log.elapsed():.1f} s",
        rules=rules.rules,
        slos=rules.slos,
        groups=len(rules.groups),
        bytes=len(text.encode()),
        out=where,
        seconds=round(log.elapsed(), 3),
    )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are log lines in the run's format, so that under
    ``--log-format json`` a mistyped option is a JSON line too (exit 2, as argparse's)."""

    def __init__(self, *args: Any, log_format: str = "text", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.log_format = log_format

    def error(self, message: str) -> NoReturn:
        if self.log_format != "json":
            super().error(message)
        Log("json").error(f"{self.prog}: {message}", where="command line")
        self.exit(2)


class _Unparsable(Exception):
    """A command line the early look at ``--log-format`` cannot read (the full parse says why)."""


class _EarlyParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Unparsable(message)


def _log_format(argv: Sequence[str] | None) -> str:
    """The ``--log-format`` a command line asks for, wherever it stands, before it is parsed
    (``text`` when absent, unreadable or not one of the formats)."""
    early = _EarlyParser(add_help=False)
    early.add_argument("--log-format", default="text")
    try:
        known, _ = early.parse_known_args(argv)
    except _Unparsable:
        return "text"
    return known.log_format if known.log_format in ("text", "json") else "text"


def build_parser(log_format: str = "text") -> argparse.ArgumentParser:
    """The command line; its usage errors come out in ``log_format``."""
    parser = _Parser(
        prog="reliability",
        description="Monthly reliability reports for SRE teams.",
        log_format=log_format,
    )
    parser.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="stderr line format"
    )
    # Global options are accepted after the subcommand too; there they override the default
    # only when given (SUPPRESS), so `--log-format json report` and `report --log-format json`
    # mean the same.
    global_options = argparse.ArgumentParser(add_help=False)
    global_options.add_argument(
        "--log-format", choices=["text", "json"], default=argparse.SUPPRESS, help="as above"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_command(name: str, help: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(
            name, help=help, parents=[global_options], log_format=log_format
        )

    def with_common(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--month", help="YYYY-MM (default: the last complete month)")
        sub.add_argument(
            "--config", help="path to reliability.yaml (default: the built-in sample organisation)"
        )
        return sub

    report = with_common(add_command("report", help="render the month's HTML report"))
    report.add_argument("--out", default="reports", help="folder for YYYY-MM/ (default: reports)")
    report.add_argument(
        "--jobs", type=_positive, default=2, help="notebooks rendered in parallel (default: 2)"
    )
    report.add_argument(
        "--cell-timeout",
        type=_seconds_or_zero,
        default=CELL_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"stop a notebook cell after this long; 0: no limit (default: {CELL_TIMEOUT_SECONDS})",
    )
    report.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        help="compute the earlier months too, instead of reading them from OUT/.cache",
    )
    report.add_argument(
        "--pdf",
        action="store_true",
        help="also print the one-file report to an A4 PDF with headless Chromium "
        "(RELIABILITY_CHROMIUM: its path)",
    )
    report.add_argument(
        "--pdf-timeout",
        type=_positive_seconds,
        default=PDF_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"stop Chromium printing the PDF after this long (default: {PDF_TIMEOUT_SECONDS:g})",
    )
    report.set_defaults(handler=cmd_report)

    compute = with_common(add_command("compute", help="print one month's numbers"))
    compute.add_argument("--format", choices=["json", "csv", "table"], default="table")
    compute.set_defaults(handler=cmd_compute)

    validate = with_common(
        add_command("validate", help="check the config and every input, list problems")
    )
    validate.set_defaults(handler=cmd_validate)

    sample = add_command(
        "sample", help="write the sample organisation as canonical files plus reliability.yaml"
    )
    sample.add_argument("--out", required=True, help="folder to write into")
    sample.add_argument("--month", help="YYYY-MM (default: the last complete month)")
    sample.add_argument(
        "--services",
        type=_positive,
        help="services in the fleet (default: the built-in 9; more for scale tests)",
    )
    sample.set_defaults(handler=cmd_sample)

    rules = add_command(
        "rules", help="write Prometheus recording and burn-rate alert rules for every SLO"
    )
    rules.add_argument(
        "--config", help="path to reliability.yaml (default: the built-in sample organisation)"
    )
    rules.add_argument("--out", help="rule file to write (default: standard output)")
    rules.set_defaults(handler=cmd_rules)

    export = add_command("export", help="write the config in another format (OpenSLO v1)")
    export.add_argument(
        "--openslo", action="store_true", required=True, help="as OpenSLO v1 documents"
    )
    export.add_argument(
        "--config", help="path to reliability.yaml (default: the built-in sample organisation)"
    )
    export.add_argument("--out", help="file to write (default: standard output)")
    export.set_defaults(handler=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser(_log_format(argv))
    args = parser.parse_args(argv)
    log = Log(args.log_format)
    # Every warning on stderr in the run's format: this package's, other libraries' log
    # records (the PagerDuty client's), and Python warnings.
    root = logging.getLogger()
    handler = _ToLog(log)
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        return args.handler(args, log)
    except BrokenPipeError:
        # The reader went away (`reliability compute | head -1`): stop quietly, as a Unix
        # tool does, and keep the interpreter from complaining while it flushes stdout.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except InputError as exc:
        for problem in exc.problems:
            log.error(str(problem), where=problem.where, row=problem.row, column=problem.column)
        log.error(f"{len(exc.problems)} problem(s) in the input; nothing was written")
        return exc.exit_code
    except ReliabilityError as exc:
        log.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Exception as exc:  # an internal error: one line, the traceback only when asked
        if os.environ.get("RELIABILITY_DEBUG"):
            from reliability.sources.secrets import scrub

            print(scrub(traceback.format_exc()), file=sys.stderr, end="")
        log.error(
            f"internal error: {type(exc).__name__}: {exc} (set RELIABILITY_DEBUG=1 for details)"
        )
        return 1
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
