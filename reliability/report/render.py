"""Render report notebooks: papermill in forked workers, nbconvert to self-contained HTML.

Starting a Jupyter kernel, importing pandas and plotly in it and setting up nbconvert's
exporter cost more than running a report notebook. So every notebook runs in a copy of
this process made with ``fork()``: the copy has every module imported, nbconvert's
exporter set up and the report's data in memory, executes the notebook in its own IPython
shell through papermill (the ``reliability-inprocess`` engine of
:mod:`reliability.report.engine`, parameters injected the papermill way:
an ``injected-parameters`` cell after the cell tagged ``parameters``), exports it and
writes the HTML. Up to ``workers`` copies run at once. A notebook cannot change what the
next one sees (each starts from the same state), nor take the report command down with it.

One :class:`~nbconvert.HTMLExporter` with the project's template
(``templates/reliability``) exports every notebook: no code, no prompts, no stream output,
no network requests, plotly.js inlined once per file that has a chart.

:func:`render_notebooks` builds the whole report in a temporary sibling folder and swaps it
into place, so a failed run leaves the previous report untouched. Forking needs a POSIX
system (Linux, macOS).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import gc
import json
import logging
import numbers
import os
import re
import selectors
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat
from nbconvert import HTMLExporter
from nbformat import NotebookNode
from papermill.engines import papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.execute import (
    prepare_notebook_metadata,
    raise_for_execution_errors,
    remove_error_markers,
)
from papermill.inspection import _infer_parameters
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from tqdm import tqdm

from reliability.errors import RenderError
from reliability.report.engine import ENGINE_NAME, forget_shells
from reliability.report.engine import preload as preload_engine
from reliability.report.plotting import PLOTLY_GRAPH_CLASS, plotlyjs_script

__all__ = [
    "ENGINE_NAME",
    "TEMPLATE_NAME",
    "NotebookJob",
    "default_workers",
    "export_html",
    "get_exporter",
    "render_notebooks",
]

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"
"""The kernel a report notebook declares (papermill wants one; the engine runs in-process)."""
TEMPLATE_NAME = "reliability"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
KILL_WAIT_SECONDS = 5.0
"""How long to wait for a killed worker to be gone."""


def default_workers() -> int:
    """The default number of notebooks rendered at once: one per core, at most two."""
    return max(1, min(2, os.cpu_count() or 1))


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a reused id counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class NotebookJob:
    """One notebook to execute and export."""

    notebook: Path
    """The source notebook (``.ipynb``, committed without outputs)."""
    parameters: dict
    """Values injected after the cell tagged ``parameters``: str, int, float, bool, None,
    ``Path`` (passed as str), and lists/dicts of those."""
    output_html: Path
    """Where the HTML goes, relative to the report folder (``Path("services/checkout.html")``)."""
    title: str
    """The HTML ``<title>``."""


# --------------------------------------------------------------------------------------
# HTML export
# --------------------------------------------------------------------------------------


@functools.cache
def get_exporter() -> HTMLExporter:
    """The process-wide HTMLExporter with the project's template (created once, then reused)."""
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        sanitize_html=False,
        theme="light",
    )
    # Compile the templates, and let BeautifulSoup and the markdown renderer set up their
    # tables, now rather than on the first real notebook (or in every forked worker).
    warm = nbformat.v4.new_notebook()
    warm.cells.append(nbformat.v4.new_markdown_cell("## Warm-up\n\n*a* & `b`, [c](#d)"))
    shown = nbformat.v4.new_code_cell("")
    shown.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": "<p>a &amp; b&nbsp;&lt;c&gt; &#8212;</p>"}
        )
    ]
    warm.cells.append(shown)
    exporter.from_notebook_node(warm)
    return exporter


def _strip_for_report(nb: NotebookNode) -> bool:
    """Drop what the report must not show; return whether a plotly chart is left.

    Removes stream outputs (stdout, stderr and so warnings), the plotly JSON mimetype
    (the HTML rendering of the same figure stays), and code cells left without output.
    """
    has_chart = False
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            outputs = []
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    continue
                data = output.get("data")
                if data is not None:
                    data.pop(PLOTLY_MIMETYPE, None)
                    if not data:
                        continue
                    html_text = data.get("text/html", "")
                    if not isinstance(html_text, str):
                        html_text = "".join(html_text)
                    has_chart = has_chart or PLOTLY_GRAPH_CLASS in html_text
                outputs.append(output)
            cell.outputs = outputs
            if not outputs:
                continue
        cells.append(cell)
    nb.cells = cells
    return has_chart


def export_html(nb: NotebookNode, title: str) -> str:
    """Export an executed notebook to one self-contained HTML page (modifies ``nb``)."""
    head, tail, has_chart = _export(nb, title)
    return head + (_plotlyjs().decode() if has_chart else "") + tail


def _export(nb: NotebookNode, title: str) -> tuple[str, str, bool]:
    """The page split where plotly.js goes (end of ``<head>``), and whether it needs it.

    plotly.js (4.8 MB) is added after nbconvert, which would otherwise run its template
    output, plotly.js included, through BeautifulSoup for every page.
    """
    has_chart = _strip_for_report(nb)
    nb.metadata["title"] = title
    exporter = get_exporter()
    page, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    split = page.find("</head>") if has_chart else -1
    if split < 0:
        return page, "", False
    return page[:split], page[split:], True


def _write_page(nb: NotebookNode, title: str, path: Path) -> None:
    head, tail, has_chart = _export(nb, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        file.write(head.encode())
        if has_chart:
            file.write(_plotlyjs())
        file.write(tail.encode())


@functools.cache
def _plotlyjs() -> bytes:
    return (plotlyjs_script() + "\n").encode()


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


@dataclass
class _Source:
    nb: NotebookNode
    declared: frozenset[str]


def _load_source(path: Path) -> _Source:
    try:
        nb = load_notebook_node(str(path))
    except FileNotFoundError as exc:
        raise RenderError(f"notebook {path} not found") from exc
    except Exception as exc:
        raise RenderError(f"notebook {path} could not be read: {_one_line(exc)}") from exc
    declared = frozenset(p.name for p in _infer_parameters(nb, name=KERNEL_NAME, language="python"))
    return _Source(nb, declared)


def _clean_parameter(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, list | tuple):
        return [_clean_parameter(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean_parameter(v, where) for k, v in value.items()}
    raise TypeError(f"parameter {where} has unsupported type {type(value).__name__}")


def _relative_path(path: Path | str, what: str) -> PurePosixPath:
    posix = PurePosixPath(Path(path).as_posix())
    if posix.is_absolute() or ".." in posix.parts or str(posix) in ("", "."):
        raise ValueError(f"{what} must be a relative path inside the report folder, got {path}")
    return posix


def _one_line(text: Any, limit: int = 300) -> str:
    line = re.sub(r"\s+", " ", str(text)).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _summarise(parameters: dict) -> str:
    parts = []
    for key, value in parameters.items():
        shown = repr(value)
        if len(shown) > 40:
            shown = shown[:39] + "…"
        parts.append(f"{key}={shown}")
    return _one_line(", ".join(parts), 200)


def _describe_cell(cell: NotebookNode | None, source: _Source) -> str:
    """``cell 4 "first line"``, numbered as in the source notebook."""
    if cell is None:
        return "an unknown cell"
    if "injected-parameters" in cell.metadata.get("tags", []):
        return "the injected-parameters cell"
    first_line = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    cell_id = cell.get("id")
    position = next(
        (i for i, c in enumerate(source.nb.cells) if cell_id and c.get("id") == cell_id), "?"
    )
    return f'cell {position} "{_one_line(first_line, 80)}"'


def _save_debug(nb: NotebookNode, path: Path) -> str:
    """Save the executed notebook of a failed run (whole or not at all: a worker killed
    while writing leaves no truncated file under the final name)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(temporary))
        os.replace(temporary, path)
    except Exception as exc:  # the error being reported matters more
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        return f"executed notebook could not be saved ({_one_line(exc, 80)})"
    return f"executed notebook saved to {path}"


def _run_job(
    job: NotebookJob,
    source: _Source,
    parameters: dict,
    html_path: Path,
    debug_path: Path,
    timeout: float | None,
    report: Any,
) -> None:
    """Execute one notebook in this process, export it, write the HTML (a forked worker).

    ``report(message)`` sends a message to the parent: the cell about to run (so that a
    worker that dies can be blamed on its cell, and a cell that runs too long stopped), and
    when the export starts.
    """
    os.chdir(job.notebook.parent)
    nb = copy.deepcopy(source.nb)
    if parameters:
        nb = parameterize_notebook(
            nb, parameters, kernel_name=KERNEL_NAME, language="python", engine_name=ENGINE_NAME
        )
    nb = prepare_notebook_metadata(nb, str(job.notebook), None)
    nb = remove_error_markers(nb)
    what = _what(job, parameters)
    try:
        nb = papermill_engines.execute_notebook_with_engine(
            ENGINE_NAME,
            nb,
            kernel_name=KERNEL_NAME,
            input_path=str(job.notebook),
            output_path=None,
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
            on_cell=lambda cell, _: report({"cell": _describe_cell(cell, source)}),
        )
    except Exception as exc:  # outside any cell: papermill itself failed
        saved = _save_debug(nb, debug_path)
        raise RenderError(
            f"{what} failed: {type(exc).__name__}: {_one_line(exc) or 'no message'}; {saved}"
        ) from exc
    cells = list(nb.cells)  # before raise_for_execution_errors adds its marker cells
    try:
        raise_for_execution_errors(nb, None)
    except PapermillExecutionError as exc:
        cell = _describe_cell(cells[exc.cell_index], source)
        saved = _save_debug(nb, debug_path)
        raise RenderError(
            f"{what} failed at {cell}: {exc.ename}: {_one_line(exc.evalue) or 'no message'}; "
            f"{saved}"
        ) from None
    report({"phase": "export"})
    try:
        with _writing(html_path):
            _write_page(nb, job.title, html_path)
    except RenderError:
        raise
    except Exception as exc:  # nbconvert, the template, text that cannot be encoded
        saved = _save_debug(nb, debug_path)
        raise RenderError(
            f"{what} failed while exporting it to HTML: {type(exc).__name__}: "
            f"{_one_line(exc) or 'no message'}; {saved}"
        ) from exc


def _what(job: NotebookJob, parameters: dict) -> str:
    what = f"notebook {job.notebook.name}"
    if parameters:
        what += f" ({_summarise(parameters)})"
    return what


def render_notebooks(
    jobs: list[NotebookJob],
    out_dir: Path,
    *,
    workers: int | None = None,
    files: dict[str, str | bytes] | None = None,
    progress: bool = True,
    timeout: float | None = None,
) -> list[Path]:
    """Execute and export every job, then put the report into ``out_dir`` atomically.

    Everything (the HTML of every job and the extra ``files``, ``{relative path: text or
    bytes}``) is first written to a temporary sibling of ``out_dir``, which then replaces
    ``out_dir`` (the old folder is renamed away, the new one renamed in, the old one
    deleted): a failed run leaves a previous ``out_dir`` as it was. Up to ``workers``
    notebooks (default: :func:`default_workers`) run at once, each in a forked copy of
    this process; ``timeout`` limits the seconds any one cell may run.

    A notebook that fails raises :class:`RenderError` with one line naming the notebook
    and its parameters, the cell, the exception, and where the partly executed notebook
    was saved (``<out_dir parent>/.failed/<out_dir name>/<output_html>.ipynb``); the other
    notebooks are stopped. Returns the written paths (inside ``out_dir``).
    """
    jobs = list(jobs)
    out_dir = Path(out_dir).absolute()
    html_paths: dict[PurePosixPath, NotebookJob] = {}
    for job in jobs:
        relative = _relative_path(job.output_html, "output_html")
        if relative in html_paths:
            raise ValueError(f"two jobs write {relative}")
        html_paths[relative] = job
    extra: dict[PurePosixPath, str | bytes] = {}
    for name, content in (files or {}).items():
        relative = _relative_path(name, "a file name")
        if relative in html_paths or relative in extra:
            raise ValueError(f"{relative} would be written twice")
        if not isinstance(content, str | bytes):
            raise TypeError(f"content of {relative} must be str or bytes")
        extra[relative] = content
    parameters = [
        {
            str(key): _clean_parameter(value, f"{key!r} of {job.notebook.name}")
            for key, value in job.parameters.items()
        }
        for job in jobs
    ]
    if out_dir.exists() and not out_dir.is_dir():
        raise RenderError(f"{out_dir} exists and is not a folder")
    parent = out_dir.parent
    debug_dir = parent / ".failed" / out_dir.name
    build = parent / f".{out_dir.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        with _writing(out_dir):
            parent.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(parent, out_dir.name)
            build.mkdir()
        if jobs:
            tasks = _tasks(jobs, parameters, html_paths, build, debug_dir)
            _run_in_workers(tasks, workers or default_workers(), progress, timeout)
        with _writing(out_dir):
            for relative, content in extra.items():
                target = build / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(content, encoding="utf-8")
            _swap_into_place(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    shutil.rmtree(debug_dir, ignore_errors=True)  # failures of earlier runs are stale now
    with contextlib.suppress(OSError):
        debug_dir.parent.rmdir()  # only if empty
    return [out_dir / r for r in html_paths] + [out_dir / r for r in extra]


def _tasks(
    jobs: list[NotebookJob],
    parameters: list[dict],
    html_paths: dict[PurePosixPath, NotebookJob],
    build: Path,
    debug_dir: Path,
) -> list[tuple[NotebookJob, _Source, dict, Path, Path]]:
    """Each job with its loaded source notebook and where its HTML and debug copy go."""
    sources: dict[Path, _Source] = {}
    relative_of = {id(job): relative for relative, job in html_paths.items()}
    tasks = []
    for job, params in zip(jobs, parameters, strict=True):
        notebook = job.notebook.resolve()
        if notebook not in sources:
            sources[notebook] = _load_source(notebook)
        source = sources[notebook]
        unknown = sorted(set(params) - source.declared)
        if unknown and source.declared:
            log.warning("%s: parameters not in its parameters cell: %s", notebook.name, unknown)
        relative = relative_of[id(job)]
        resolved = NotebookJob(notebook, job.parameters, job.output_html, job.title)
        tasks.append(
            (resolved, source, params, build / relative, debug_dir / relative.with_suffix(".ipynb"))
        )
    return tasks


class _NoMonitorBar(tqdm):
    """A progress bar without tqdm's monitor thread: this process forks while it is shown."""

    monitor_interval = 0


@dataclass
class _Worker:
    """A forked copy of this process rendering one notebook, and what it has told us."""

    pid: int
    pipe: int
    what: str
    pidfd: int | None = None
    cell: str | None = None
    cell_started: float = 0.0
    exporting: bool = False
    buffer: bytes = b""
    result: dict | None = None
    status: int | None = None
    """The wait status, once reaped."""
    reaped: bool = False
    killed: bool = False
    stopped: bool = False
    """Killed by us while still running without a result (its pipe had closed)."""


POLL_SECONDS = 0.5
"""How often to look for workers that exited where the system cannot tell us (no pidfd)."""


def _grace(timeout: float) -> float:
    """How long past its limit a cell may run before its worker is killed from outside.

    The limit is first enforced inside the worker, which then saves the executed notebook;
    this is for a cell stuck where the in-worker limit cannot reach it (C code)."""
    return max(5.0, 0.1 * timeout)


def _prepare_to_fork() -> None:
    """Do once, before forking, what every worker would otherwise do itself."""
    get_exporter()
    _plotlyjs()
    preload_engine()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def _fork_worker(task: tuple, timeout: float | None, dispositions: dict[int, Any]) -> _Worker:
    """Start a worker for ``task``; it reports JSON lines through a pipe, then exits.

    The worker leads its own process group, so that it and anything its notebook starts
    can be killed together, and a Ctrl-C at the terminal reaches only this process, which
    then kills the workers. ``dispositions``: SIGTERM's and SIGHUP's before rendering, which
    the worker puts back.
    """
    job, params = task[0], task[2]
    read_end, write_end = os.pipe()
    parent = os.getpid()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process that has threads (numpy's, arrow's);
        # the worker runs Python code only and takes none of their locks.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(read_end)
            os.close(write_end)
            raise RenderError(
                f"could not start a process for {_what(job, params)}: {exc.strerror or exc}"
                " (too many processes or too little memory? try --jobs 1)"
            ) from None
    if pid == 0:
        _worker_main(read_end, write_end, task, timeout, parent, dispositions)  # never returns
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the worker; whichever runs first
    os.close(write_end)
    os.set_blocking(read_end, False)
    worker = _Worker(pid=pid, pipe=read_end, what=_what(job, params))
    if hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            worker.pidfd = os.pidfd_open(pid)
    return worker


def _worker_main(
    read_end: int,
    write_end: int,
    task: tuple,
    timeout: float | None,
    parent: int,
    dispositions: dict[int, Any],
) -> None:
    """The forked worker: render one notebook, report the outcome, exit (never returns)."""
    status = 1
    try:
        os.close(read_end)
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        _die_with(parent)
        # Not in the terminal's foreground group any more: reading the terminal (input(),
        # a password prompt) or writing to it under `stty tostop` would stop the worker.
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        os.close(stdin)
        sys.stdin = open(0, closefd=False, encoding="utf-8")  # input() gets EOFError
        for stop in (signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(stop, signal.SIG_IGN)
        # This process's stdout carries the report's path for scripts: output a notebook
        # writes below Python (a subprocess, a C library) goes to stderr instead.
        os.dup2(2, 1)
        forget_shells()  # one copied from a parent that runs Jupyter is not the notebook's
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for sig, handler in dispositions.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        job, source, params, html_path, debug_path = task

        def report(message: dict) -> None:
            data = json.dumps(message).encode() + b"\n"
            while data:
                data = data[os.write(write_end, data) :]

        try:
            _run_job(job, source, params, html_path, debug_path, timeout, report)
        except RenderError as exc:
            report({"error": str(exc)})
        except BaseException as exc:  # anything else, named rather than lost
            report(
                {
                    "error": f"{_what(job, params)} failed: {type(exc).__name__}: "
                    f"{_one_line(exc) or 'no message'}"
                }
            )
        else:
            report({"done": True})
            status = 0
    except BaseException:  # pragma: no cover - the parent reports the exit status
        pass
    finally:
        os._exit(status)


def _die_with(parent: int) -> None:
    """Have the system kill this worker if the report process dies (Linux), however it dies."""
    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)


TERMINATING = (signal.SIGTERM, signal.SIGHUP)
DEFERRED = (signal.SIGINT, *TERMINATING)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived while rendering: clean up, then die by the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated(signum)


@contextlib.contextmanager
def _terminations_caught() -> Iterator[dict[int, Any]]:
    """While rendering, SIGTERM and SIGHUP at their default action raise :class:`_Terminated`,
    so that the clean-up (killing the workers and what their notebooks started) runs first.

    Yields the dispositions as they were, for the workers to put back. An ignored signal
    (``nohup``) stays ignored and a caller's own handler stays in charge; outside the main
    thread nothing changes (Python runs signal handlers in the main thread only).
    """
    before = {sig: signal.getsignal(sig) for sig in TERMINATING}
    installed = []
    if threading.current_thread() is threading.main_thread():
        for sig, handler in before.items():
            if handler == signal.SIG_DFL:
                signal.signal(sig, _raise_terminated)
                installed.append(sig)
    try:
        yield before
    finally:
        for sig in installed:
            signal.signal(sig, before[sig])


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP back while workers are forked, registered or killed.

    Their Python handlers (which would raise in the middle of it) are swapped for one that
    only notes the signal; afterwards the handlers are put back and run for what was noted.
    A signal mask would not do: it is per thread, and a signal delivered to another thread
    still makes the main thread raise. Only the main thread runs handlers, so elsewhere
    there is nothing to hold back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    previous = {}
    for sig in DEFERRED:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = signal.signal(sig, lambda signum, frame: noted.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in noted:
            previous[signum](signum, None)


def _run_in_workers(
    tasks: list[tuple], workers: int, progress: bool, timeout: float | None
) -> None:
    """Run every task in a forked worker, ``workers`` at a time; raise the first failure.

    On SIGTERM or SIGHUP (at their default action) the workers are killed and then this
    process dies by the signal, as it would have without the report.
    """
    try:
        with _terminations_caught() as dispositions:
            _run_all(tasks, workers, progress, timeout, dispositions)
    except _Terminated as stop:
        signal.raise_signal(stop.signum)  # the default action again: the process ends
        raise


def _run_all(
    tasks: list[tuple],
    workers: int,
    progress: bool,
    timeout: float | None,
    dispositions: dict[int, Any],
) -> None:
    _prepare_to_fork()
    # Objects that exist now are left out of garbage collection until the workers are
    # done: a collection in a worker would otherwise touch (and so copy) all of them.
    gc.freeze()
    pending = list(reversed(tasks))
    running: list[_Worker] = []
    dying: list[_Worker] = []  # killed, not reaped yet (tearing down takes milliseconds)
    selector = selectors.DefaultSelector()
    bar = _NoMonitorBar(
        total=len(tasks),
        desc="Rendering",
        unit="notebook",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )

    def retire(worker: _Worker) -> None:
        """Kill what is left of a worker (it has reported or exited) and stop watching it."""
        with _signals_deferred():
            worker.stopped = worker.result is None and not _exited(worker)
            _kill_all([worker], wait=False)
            for fd in (worker.pipe, worker.pidfd):
                if fd is not None:
                    selector.unregister(fd)
                    os.close(fd)
            running.remove(worker)
            dying.append(worker)

    try:
        while pending or running:
            while pending and len(running) < workers:
                with _signals_deferred():
                    worker = _fork_worker(pending.pop(), timeout, dispositions)
                    running.append(worker)
                    selector.register(worker.pipe, selectors.EVENT_READ, worker)
                    if worker.pidfd is not None:
                        selector.register(worker.pidfd, selectors.EVENT_READ, worker)
            events = selector.select(_poll(running, timeout))
            dying[:] = [worker for worker in dying if not _reap(worker)]
            ready = {id(key.data) for key, _ in events}
            for worker in list(running):
                open_pipe = _read(worker) if id(worker) in ready else True
                if open_pipe and worker.result is None and not _exited(worker):
                    if _past_deadline(worker, timeout):
                        retire(worker)
                        raise _timed_out(worker, timeout)
                    continue
                # Finished: it said so (a process its notebook started may still hold the
                # pipe open), closed the pipe, or exited.
                _read(worker)
                retire(worker)
                if worker.result is None:  # the exit status tells what happened
                    _reap_all([worker], KILL_WAIT_SECONDS)
                _raise_unless_done(worker)
                bar.update(1)
    except BaseException:
        with _signals_deferred():
            _kill_all(running)
        raise
    finally:
        _reap_all(dying, KILL_WAIT_SECONDS)
        gc.unfreeze()
        bar.close()
        for worker in running:
            for fd in (worker.pipe, worker.pidfd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        selector.close()


def _poll(workers: list[_Worker], timeout: float | None) -> float:
    """How long to wait for news: until the next cell deadline, at most a minute, or a short
    while where the system cannot tell us that a worker exited (no pidfd)."""
    longest = POLL_SECONDS if any(w.pidfd is None for w in workers) else 60.0
    if timeout is None:
        return longest
    deadlines = [w.cell_started + timeout + _grace(timeout) for w in workers if w.cell_started]
    if not deadlines:
        return longest
    return min(longest, max(0.05, min(deadlines) - time.monotonic()))


def _exited(worker: _Worker) -> bool:
    """Whether the worker process has exited; it is left a zombie, so its process id (and
    group id) stays reserved until :func:`_kill_all` has killed the group and reaped it."""
    if worker.reaped:
        return True
    if not hasattr(os, "waitid"):  # macOS before Python 3.13: reap it now instead
        return _reap(worker)
    try:
        return os.waitid(os.P_PID, worker.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _reap(worker: _Worker) -> bool:
    """Collect the worker's exit status if it has exited; whether it is gone."""
    if worker.reaped:
        return True
    try:
        done, status = os.waitpid(worker.pid, os.WNOHANG)
    except ChildProcessError:
        worker.reaped = True
        return True
    if done:
        worker.status, worker.reaped = status, True
    return worker.reaped


def _past_deadline(worker: _Worker, timeout: float | None) -> bool:
    """Whether the running cell (or the export, limited alike) has outlived its limit and
    the in-worker limit's grace."""
    if timeout is None or not worker.cell_started:
        return False
    return time.monotonic() > worker.cell_started + timeout + _grace(timeout)


def _timed_out(worker: _Worker, timeout: float) -> RenderError:
    if worker.exporting:
        what = f"failed: exporting it to HTML took longer than {timeout:g} s"
    else:
        what = f"failed at {worker.cell}: the cell ran longer than {timeout:g} s"
    return RenderError(f"{worker.what} {what} and was stopped; no executed notebook was saved")


def _read(worker: _Worker) -> bool:
    """Take in what the worker wrote; False once the pipe is closed at the other end."""
    while True:
        try:
            chunk = os.read(worker.pipe, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        lines = (worker.buffer + chunk).split(b"\n")
        worker.buffer = lines.pop()
        for line in lines:
            message = json.loads(line)
            if "cell" in message:
                worker.cell = message["cell"]
                worker.cell_started = time.monotonic()
            elif "phase" in message:
                worker.exporting = True
                worker.cell_started = time.monotonic()  # the export has the same limit
            else:
                worker.result = message


def _raise_unless_done(worker: _Worker) -> None:
    """Raise RenderError for a retired worker unless it rendered its notebook."""
    if worker.result is not None and "error" in worker.result:
        raise RenderError(worker.result["error"])
    if worker.result is not None:
        return
    status = worker.status
    if status is not None and os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            how = f"was killed by {signal.Signals(number).name}"
        except ValueError:
            how = f"was killed by signal {number}"
        if number == signal.SIGKILL:
            how += " (out of memory?)"
    elif status is not None:
        how = f"exited with status {os.waitstatus_to_exitcode(status)}"
    else:
        how = "ended"
    if worker.stopped:
        how = (
            "closed its connection to the report without a result (did a cell replace the "
            "process or close its files?) and was stopped"
        )
    where = " while exporting it to HTML" if worker.exporting else ""
    if not where and worker.cell:
        where = f" at {worker.cell}"
    raise RenderError(
        f"{worker.what} failed{where}: the process running it {how}; no executed notebook was saved"
    )


def _kill_all(workers: list[_Worker], wait: bool = True) -> None:
    """Kill workers' process groups (each worker and what its notebook started); with
    ``wait``, also reap the workers (else :func:`_reap` them later).

    Every group is signalled before any worker is waited for, and each only once. A worker
    is reaped only after its group was killed: until then its id cannot be reused, so no
    other process is hit. A worker that already reported its result is done, so killing it
    loses nothing.
    """
    for worker in workers:
        if worker.killed:
            continue
        worker.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.pid, signal.SIGKILL)
        if not worker.reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)  # in case it had no group of its own yet
    if wait:
        _reap_all(workers, KILL_WAIT_SECONDS)


def _reap_all(workers: list[_Worker], seconds: float) -> None:
    """Wait up to ``seconds`` in all for killed workers to be gone, reaping them."""
    deadline = time.monotonic() + seconds
    for worker in workers:
        while not _reap(worker) and time.monotonic() < deadline:
            time.sleep(0.002)


def _remove_leftovers(parent: Path, name: str) -> None:
    """Delete build folders left by runs that were killed (their process is gone)."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.(?:tmp|old)-(\d+)-[0-9a-f]{{8}}$")
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def _writing(out_dir: Path):
    """Turn a file-system error into a one-line RenderError."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = exc.filename or out_dir
        raise RenderError(f"could not write the report to {out_dir}: {where}: {reason}") from exc


def _swap_into_place(build: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by ``build``: rename the old away, the new in, delete the old."""
    if not out_dir.exists():
        os.rename(build, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
    os.rename(out_dir, old)
    try:
        os.rename(build, out_dir)
    except BaseException:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
