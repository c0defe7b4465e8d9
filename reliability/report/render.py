"""Render report notebooks: papermill on a small pool of reused Jupyter kernels, nbconvert.

A :class:`KernelPool` starts a few kernels once per run (each runs a preload, the report's
imports, before it answers) and reuses them: as a notebook starts, its kernel's namespace is
reset and its working folder set. Each kernel belongs to one thread, which starts, uses and
stops it; papermill gets the kernel manager (``km=``). The pages go to a temporary sibling
folder swapped into place at the end: a failed run leaves the last report as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import numbers
import os
import queue
import re
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat
import papermill
import psutil
import zmq
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_event_loop
from nbclient.exceptions import CellTimeoutError
from nbconvert import HTMLExporter
from nbformat import NotebookNode
from tqdm import tqdm
from traitlets import List

from reliability.errors import RenderError
from reliability.report.plotting import PLOTLY_GRAPH_CLASS, plotlyjs_script

__all__ = ["KernelPool", "NotebookJob", "default_workers", "export_html", "render_notebooks"]

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # first on the kernels' PYTHONPATH
START_SECONDS = 120  # for a kernel to start and run its preload, or to reset
STOP_SECONDS = 15.0  # for notebooks to notice that their kernel was killed
IOPUB_SECONDS = 60  # for a cell's output to trail its reply (nbclient's 4 s are short)
KERNEL_LOG = logging.getLogger("jupyter_client")  # the kernel managers' (a library's) lines
INJECTED = "injected-parameters"
PAPERMILL_OPTIONS = {"kernel_name": KERNEL_NAME, "language": "python", "progress_bar": False}
PAPERMILL_OPTIONS |= {"start_timeout": START_SECONDS, "iopub_timeout": IOPUB_SECONDS}


def default_workers() -> int:
    """The default number of notebooks rendered at once: one per core, at most two."""
    return max(1, min(2, os.cpu_count() or 1))


@dataclass
class NotebookJob:
    """One notebook to execute and export."""

    notebook: Path  # the source notebook, committed without outputs
    parameters: dict  # str, int, float, bool, None, Path (passed as str), lists/dicts of those
    output_html: Path  # relative to the report folder: Path("services/checkout.html")
    title: str  # the HTML <title>


# -- HTML export -----------------------------------------------------------------------

_export_lock = threading.Lock()  # one page at a time: the GIL would serialise them anyway
_plotlyjs = functools.cache(plotlyjs_script)


@functools.cache
def get_exporter() -> HTMLExporter:
    """The process-wide exporter with the project's template, its templates compiled."""
    exporter = HTMLExporter(
        template_name="reliability",
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        sanitize_html=False,
        theme="light",
    )
    exporter.from_notebook_node(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell()]))
    return exporter


def export_html(nb: NotebookNode, title: str) -> str:
    """Export an executed notebook to one self-contained HTML page (modifies ``nb``).

    Stream outputs (prints, warnings), plotly's JSON (its HTML stays) and code cells left
    without output are dropped; plotly.js goes in at the end of ``<head>``, after nbconvert,
    which would otherwise run its 4.8 MB through BeautifulSoup for every page.
    """
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        for output in cell.outputs:
            output.get("data", {}).pop("application/vnd.plotly.v1+json", None)
        cell.outputs = [o for o in cell.outputs if o.output_type != "stream" and o.get("data", 1)]
    nb.cells = [cell for cell in nb.cells if cell.cell_type != "code" or cell.outputs]
    nb.metadata["title"] = title
    with _export_lock:
        page, _ = get_exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    if f'class="{PLOTLY_GRAPH_CLASS}"' in page:
        page = page.replace("</head>", _plotlyjs() + "\n</head>", 1)
    return page


# -- kernels ---------------------------------------------------------------------------


class _PoolKernelManager(AsyncKernelManager):
    """Remembers the clients it made: nbclient leaves the channels of its client open on a
    kernel it does not own (a heartbeat thread and sockets each time), so the pool closes them."""

    clients_made = List()

    def client(self, **kwargs: Any) -> Any:
        self.clients_made.append(made := super().client(**kwargs))
        return made


class _Kernel(threading.Thread):
    """One kernel and the thread that starts it, runs the pool's jobs on it and shuts it down."""

    def __init__(self, jobs: queue.SimpleQueue, preload: str, closing: threading.Event) -> None:
        super().__init__(name="kernel", daemon=True)
        self.jobs, self.preload, self.closing = jobs, preload, closing
        self.km: _PoolKernelManager | None = None
        self.killed = False
        self.start()

    def run(self) -> None:
        self.loop = ensure_event_loop()  # this thread's loop, the one papermill's nbclient uses
        try:
            with contextlib.suppress(Exception):  # tried again, and reported, by the first job
                self.ensure_running()
            with _export_lock:
                get_exporter()
            while (item := self.jobs.get()) is not None:
                job, future = item
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(job(self))
                    except BaseException as exc:
                        future.set_exception(exc)
        finally:
            self.shutdown()
            self.loop.close()

    def ensure_running(self) -> None:
        """Start a kernel, unless one runs, and wait until it has run the preload.

        The preload is IPython's ``exec_lines``, run before the kernel answers: waiting for
        it gives up within a second when the kernel dies or is killed. Outputs carry the
        report's data: encrypted where they can be; the kernel's own output goes to stderr.
        """
        if self.km and not self.killed and self.loop.run_until_complete(self.km.is_alive()):
            return
        self.shutdown()
        self.killed = False
        encryption = "auto" if zmq.has("curve") else "disabled"
        self.km = km = _PoolKernelManager(
            kernel_name=KERNEL_NAME, transport_encryption=encryption, log=KERNEL_LOG
        )
        path = os.pathsep.join([PACKAGE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])
        arguments = ["--HistoryManager.hist_file=:memory:"]
        if self.preload:  # a list literal: one entry, however many lines
            arguments.append(f"--IPKernelApp.exec_lines={[self.preload]!r}")
        start = km.start_kernel(
            env={**os.environ, "PYTHONPATH": path},
            stdout=sys.__stderr__.fileno() if sys.__stderr__ else None,
            extra_arguments=arguments,
        )
        self.loop.run_until_complete(start)
        if self.closing.is_set():  # closed while the process started: kill() missed it
            raise RuntimeError("the kernel pool is closing")
        (client := km.client()).start_channels()
        try:
            self.loop.run_until_complete(client.wait_for_ready(START_SECONDS))
        finally:
            self.stop_clients()

    def exit_status(self) -> int | None:
        """The kernel's exit status (negative: killed by that signal); None while it runs."""
        if self.km is None or self.km.provisioner is None or not self.km.provisioner.has_process:
            return None
        return self.loop.run_until_complete(self.km.provisioner.poll())

    def stop_clients(self) -> None:
        while self.km is not None and self.km.clients_made:
            self.km.clients_made.pop().stop_channels()

    def shutdown(self) -> None:
        """Kill the kernel and release its sockets and connection file."""
        if self.km is not None:
            self.stop_clients()
            with contextlib.suppress(Exception):  # what is left of a kernel that did not start
                self.loop.run_until_complete(self.km.shutdown_kernel(now=True))
            self.km = None

    def kill(self) -> None:
        """Kill the kernel's process group now, from any thread; its own thread notices."""
        self.killed = True
        km = self.km  # its thread may be letting go of it
        if km is not None and km.provisioner is not None:  # no I/O: run on a loop of its own
            helper = threading.Thread(target=asyncio.run, args=(km.provisioner.kill(),))
            helper.start()
            helper.join()


class KernelPool:
    """Kernels started at once (in the background) and reused; a context manager that shuts
    them all down on exit. ``preload``: code each kernel runs as it starts (the report's
    imports, so kernels import pandas and plotly while the caller computes the data)."""

    def __init__(self, size: int, *, preload: str = "") -> None:
        if size < 1:
            raise ValueError(f"a kernel pool needs at least one kernel, not {size}")
        self.size = size
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = threading.Event()
        self._kernels = [_Kernel(self._jobs, preload, self._closing) for _ in range(size)]
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> KernelPool:
        self._exit.enter_context(_terminations_raised())
        self._exit.callback(self.close)
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        return self._exit.__exit__(*exc_info)

    def submit(self, job: Callable[[_Kernel], Any]) -> Future:
        """Run ``job(kernel)`` in the thread of the next free kernel."""
        self._jobs.put((job, future := Future()))
        return future

    def kill(self) -> None:
        """Kill every kernel now: what runs on them fails; the next job starts a new one."""
        for kernel in self._kernels:
            kernel.kill()

    def close(self) -> None:
        """Kill every kernel and wait for the threads to release what they hold."""
        self._closing.set()
        self.kill()
        for _ in self._kernels:
            self._jobs.put(None)
        for kernel in self._kernels:
            kernel.join(STOP_SECONDS)


# -- rendering -------------------------------------------------------------------------


@dataclass
class _Task:
    """One notebook to render, and what nbclient's hooks tell while it runs."""

    job: NotebookJob  # its notebook resolved, its parameters plain
    html_path: Path
    debug_path: Path
    what: str  # notebook x.ipynb (service='checkout')
    kernel: Any = None
    nb: NotebookNode | None = None
    cells: list = field(default_factory=list)  # as they were before papermill's error cells
    cell: int | None = None

    async def on_notebook_start(self, notebook: NotebookNode, **_: Any) -> None:
        """Reset the kernel for this notebook through nbclient's client, which is ready."""
        self.nb, self.cells = notebook, list(notebook.cells)
        # gc.freeze(): %reset collects twice, through every object of the imported modules.
        code = f"%reset -f\nimport os, gc\nos.chdir({str(self.job.notebook.parent)!r})\n"
        reply = await self.kernel.km.clients_made[-1].execute_interactive(
            code + "gc.freeze()", silent=True, timeout=START_SECONDS, output_hook=lambda m: None
        )
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{reply['content']['ename']}: {reply['content']['evalue']}")

    def on_cell_execute(self, cell: NotebookNode, cell_index: int, **_: Any) -> None:
        self.cell = cell_index

    def __call__(self, kernel: _Kernel, timeout: float | None, stop: threading.Event) -> None:
        """Execute the notebook on ``kernel`` and write its HTML; nothing once ``stop`` is set."""
        self.kernel = kernel
        try:
            if stop.is_set():
                return
            kernel.ensure_running()
            nb = papermill.execute_notebook(
                str(self.job.notebook),
                None,
                parameters=self.job.parameters,
                km=kernel.km,
                on_notebook_start=self.on_notebook_start,
                on_cell_execute=self.on_cell_execute,
                timeout_func=lambda cell: timeout,
                **PAPERMILL_OPTIONS,
            )
        except Exception as exc:
            if stop.is_set():  # killed on purpose: another notebook failed, or the run stops
                return
            raise RenderError(f"{self.what} failed{self.failure(exc, timeout)}") from None
        finally:
            kernel.stop_clients()
        try:
            page = export_html(nb, self.job.title)
            with _writing(self.html_path.parent):
                self.html_path.parent.mkdir(parents=True, exist_ok=True)
                self.html_path.write_text(page, encoding="utf-8")
        except RenderError:
            raise
        except Exception as exc:  # nbconvert, the template, text that cannot be encoded
            reason = f"while exporting it to HTML: {_error_line(exc)}; {self.save_debug(nb)}"
            raise RenderError(f"{self.what} failed {reason}") from exc

    def failure(self, exc: Exception, timeout: float | None) -> str:
        """Where and why the notebook stopped (the exit status or signal of a dead kernel)."""
        index, status = self.cell, self.kernel.exit_status()
        if isinstance(exc, papermill.PapermillExecutionError):
            index, reason = exc.cell_index, f"{exc.ename}: {_one_line(exc.evalue) or 'no message'}"
        elif isinstance(exc, CellTimeoutError):  # the other one: a cell's output lags its reply
            self.kernel.shutdown()
            late = f"the cell's output did not arrive within {IOPUB_SECONDS} s"
            reason = late if "IOPub" in str(exc) else f"the cell ran longer than {timeout:g} s"
            reason += "; its kernel was stopped"
        elif status is not None and status >= 0:
            reason = f"the kernel died: exited with status {status}"
        elif status is not None:
            name = signal.Signals(-status).name if -status in set(signal.Signals) else -status
            oom = " (out of memory?)" if name == "SIGKILL" else ""
            reason = f"the kernel died: killed by {name}{oom}"
        else:
            reason = _error_line(exc)
        if self.nb is None:
            return f" before it started: {reason}"
        if index is None:
            return f": {reason}; {self.save_debug(self.nb)}"
        cell, tags = self.cells[index], self.cells[index].metadata.get("tags", [])
        position = sum(INJECTED not in c.metadata.get("tags", []) for c in self.cells[:index])
        first_line = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
        where = f'cell {position} "{_one_line(first_line, 80)}"'  # numbered as in the source
        where = "the injected-parameters cell" if INJECTED in tags else where
        return f" at {where}: {reason}; {self.save_debug(self.nb)}"

    def save_debug(self, nb: NotebookNode) -> str:
        """Save the executed notebook of a failed run, whole or not at all."""
        temporary = self.debug_path.with_name(f".{self.debug_path.name}.{os.getpid()}.tmp")
        try:
            self.debug_path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(temporary))
            os.replace(temporary, self.debug_path)
        except Exception as exc:  # the error being reported matters more
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            return f"executed notebook could not be saved ({_one_line(exc, 80)})"
        return f"executed notebook saved to {self.debug_path}"


class _Bar(tqdm):
    monitor_interval = 0  # no monitor thread: it would outlive the bar


def _run_all(pool: KernelPool, tasks: list[_Task], progress: bool, timeout: float | None) -> None:
    """Render every task on the pool's kernels; on the first failure stop the rest, raise it."""
    stop = threading.Event()
    futures = [pool.submit(functools.partial(t, timeout=timeout, stop=stop)) for t in tasks]
    pending = set(futures)
    bar = _Bar(
        total=len(tasks), desc="Rendering", file=sys.stderr, leave=False, disable=not progress
    )
    try:
        while pending:  # with a timeout, so that Ctrl-C is seen on every platform
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
                bar.update(1)
    except BaseException:
        stop.set()
        for future in futures:
            future.cancel()
        pool.kill()
        wait(futures, timeout=STOP_SECONDS)
        raise
    finally:
        bar.close()


def render_notebooks(
    jobs: list[NotebookJob],
    out_dir: Path,
    *,
    pool: KernelPool | None = None,
    workers: int | None = None,
    files: dict[str, str | bytes] | None = None,
    progress: bool = True,
    timeout: float | None = None,
) -> list[Path]:
    """Execute and export every job, then put the report into ``out_dir`` atomically.

    The HTML of every job and the extra ``files`` (``{relative path: text or bytes}``) are
    written to a temporary sibling of ``out_dir``, which then replaces ``out_dir``: a failed
    run leaves a previous ``out_dir`` as it was. The notebooks run on every kernel of
    ``pool``, or on ``workers`` kernels (default: :func:`default_workers`) started for this
    call; ``timeout`` limits the seconds any one cell may run.

    A notebook that fails raises :class:`RenderError`, one line naming the notebook and its
    parameters, the cell, what went wrong and where the partly executed notebook was saved
    (``<out_dir parent>/.failed/<out_dir name>/<output_html>.ipynb``); the other notebooks
    are stopped. Returns the written paths (inside ``out_dir``).
    """
    out_dir = Path(out_dir).absolute()
    build = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    debug_dir = out_dir.parent / ".failed" / out_dir.name
    tasks, extra = _plan(jobs, files or {}, build, debug_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RenderError(f"{out_dir} exists and is not a folder")
    with _terminations_raised():
        try:
            with _writing(out_dir):
                out_dir.parent.mkdir(parents=True, exist_ok=True)
                _remove_leftovers(out_dir.parent, out_dir.name)
                build.mkdir()
            if tasks:
                size = min(workers or default_workers(), len(tasks))
                with KernelPool(size) if pool is None else contextlib.nullcontext(pool) as kernels:
                    _run_all(kernels, list(tasks.values()), progress, timeout)
            with _writing(out_dir):
                for relative, content in extra.items():
                    (build / relative).parent.mkdir(parents=True, exist_ok=True)
                    (build / relative).write_bytes(content)
                _swap_into_place(build, out_dir)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    shutil.rmtree(debug_dir, ignore_errors=True)  # failures of earlier runs are stale now
    with contextlib.suppress(OSError):
        debug_dir.parent.rmdir()  # only if empty
    return [out_dir / relative for relative in [*tasks, *extra]]


def _plan(jobs: list[NotebookJob], files: dict, build: Path, debug_dir: Path) -> tuple:
    """The notebooks to render (read, parameters checked) and the files to write, by path."""
    tasks: dict[PurePosixPath, _Task] = {}
    extra: dict[PurePosixPath, bytes] = {}
    declared: dict[Path, set[str]] = {}
    for name, item in [*((job.output_html, job) for job in jobs), *files.items()]:
        relative = PurePosixPath(Path(name).as_posix())
        if relative.is_absolute() or ".." in relative.parts or str(relative) == ".":
            raise ValueError(f"{name} is not a relative path inside the report folder")
        if relative in tasks or relative in extra:
            raise ValueError(f"{relative} would be written twice")
        if isinstance(item, str | bytes):
            extra[relative] = item.encode() if isinstance(item, str) else item
            continue
        if not isinstance(item, NotebookJob):
            raise TypeError(f"content of {relative} must be str or bytes")
        notebook = item.notebook.resolve()
        try:
            if notebook not in declared:
                declared[notebook] = set(papermill.inspect_notebook(str(notebook)))
        except FileNotFoundError as exc:
            raise RenderError(f"notebook {notebook} not found") from exc
        except Exception as exc:
            raise RenderError(f"notebook {notebook} could not be read: {_error_line(exc)}") from exc
        parameters = {str(k): _plain(k, v, notebook.name) for k, v in item.parameters.items()}
        if declared[notebook] and (unknown := sorted(set(parameters) - declared[notebook])):
            log.warning("%s: parameters not in its parameters cell: %s", notebook.name, unknown)
        summary = ", ".join(f"{k}={_one_line(repr(v), 40)}" for k, v in parameters.items())
        what = f"notebook {notebook.name}" + (f" ({_one_line(summary, 200)})" if summary else "")
        job = NotebookJob(notebook, parameters, item.output_html, item.title)
        tasks[relative] = _Task(
            job, build / relative, debug_dir / relative.with_suffix(".ipynb"), what
        )
    return tasks, extra


def _plain(key: str, value: Any, notebook: str) -> Any:
    """A parameter as JSON values (a Path as str), as papermill writes it into the notebook."""

    def convert(item: Any) -> Any:
        if isinstance(item, Path):
            return str(item)
        if isinstance(item, numbers.Real):  # numpy's numbers, for instance
            return int(item) if isinstance(item, numbers.Integral) else float(item)
        kind = type(item).__name__
        raise TypeError(f"parameter {key!r} of {notebook} has unsupported type {kind}")

    return json.loads(json.dumps(value, default=convert))


def _one_line(text: Any, limit: int = 300) -> str:
    line = re.sub(r"\s+", " ", str(text)).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_one_line(exc) or 'no message'}"


# -- signals and the report folder -----------------------------------------------------

TERMINATING = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]


class _Terminated(BaseException):
    """SIGTERM or SIGHUP (``args[0]``) arrived while rendering: clean up, end by the signal."""


def _raise_terminated(signum: int, frame: Any) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a second one must not cut the clean-up short
    raise _Terminated(signum)


@contextlib.contextmanager
def _terminations_raised() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP at their default action raise :class:`_Terminated`: the
    kernels are stopped, the build folder removed, and then the process ends by the signal,
    as a scheduler expects. An ignored signal (``nohup``) stays ignored, a caller's handler
    stays in charge; nested, or outside the main thread, this changes nothing."""
    installed = []
    if threading.current_thread() is threading.main_thread():
        installed = [sig for sig in TERMINATING if signal.getsignal(sig) == signal.SIG_DFL]
        for sig in installed:
            signal.signal(sig, _raise_terminated)
    try:
        yield
    except _Terminated as stop:
        if stop.args[0] in installed:
            signal.signal(stop.args[0], signal.SIG_DFL)
            signal.raise_signal(stop.args[0])  # the process ends here
        raise
    finally:
        for sig in installed:
            signal.signal(sig, signal.SIG_DFL)


def _remove_leftovers(parent: Path, name: str) -> None:
    """Delete build folders left by runs that were killed (their process is gone)."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.(?:tmp|old)-(\d+)-[0-9a-f]{{8}}$")
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not psutil.pid_exists(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def _writing(out_dir: Path) -> Iterator[None]:
    """Turn a file-system error into a one-line RenderError."""
    try:
        yield
    except OSError as exc:
        where, reason = exc.filename or out_dir, exc.strerror or str(exc)
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
