"""Render report notebooks: papermill on a small pool of Jupyter kernels, nbconvert to HTML.

Notebooks run through papermill's standard engine on real kernels. Starting a kernel and
importing pandas and plotly in it cost more than a report notebook, so a :class:`KernelPool`
starts a few kernels once per run and reuses them: as each notebook starts, its kernel's
namespace is reset (``%reset -f``; imported modules stay) and its working folder set to the
notebook's. Each kernel belongs to one thread, which starts, uses and stops it (a kernel
manager works from the thread that made it); nbclient gets the manager (``km=``) and leaves
the kernel running. The pages are exported with the project's template, and the report is
built in a temporary sibling folder swapped into place: a failed run leaves the last one.
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
TEMPLATE_NAME = "reliability"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # first on the kernels' PYTHONPATH
START_SECONDS = 60  # for a kernel to start and preload, or to reset
STOP_SECONDS = 15.0  # for notebooks to notice that their kernel was killed
IOPUB_SECONDS = 60  # for a cell's output to trail its reply (nbclient's 4 s are short)
INJECTED = "injected-parameters"


def default_workers() -> int:
    """The default number of notebooks rendered at once: one per core, at most two."""
    return max(1, min(2, os.cpu_count() or 1))


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


# -- HTML export -----------------------------------------------------------------------

_export_lock = threading.Lock()  # one page at a time: the GIL would serialise them anyway


@functools.cache
def get_exporter() -> HTMLExporter:
    """The process-wide exporter with the project's template, its templates compiled."""
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
    exporter.from_notebook_node(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell()]))
    return exporter


def export_html(nb: NotebookNode, title: str) -> str:
    """Export an executed notebook to one self-contained HTML page (modifies ``nb``).

    Stream outputs (prints, warnings), plotly's JSON (its HTML stays) and code cells left
    without output are dropped; plotly.js goes in at the end of ``<head>``, after nbconvert,
    which would otherwise run its 4.8 MB through BeautifulSoup for every page.
    """
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop("application/vnd.plotly.v1+json", None)
        if cell.cell_type == "code":  # an output whose data is left empty goes too
            cell.outputs = [
                o for o in cell.outputs if o.output_type != "stream" and o.get("data", 1)
            ]
    nb.cells = [cell for cell in nb.cells if cell.cell_type != "code" or cell.outputs]
    pages = (o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    has_chart = any(PLOTLY_GRAPH_CLASS in "".join(page) for page in pages)
    nb.metadata["title"] = title
    with _export_lock:
        page, _ = get_exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    split = page.find("</head>") if has_chart else -1
    return page if split < 0 else page[:split] + _plotlyjs() + page[split:]


@functools.cache
def _plotlyjs() -> str:
    return plotlyjs_script() + "\n"


# -- kernels ---------------------------------------------------------------------------


class _PoolKernelManager(AsyncKernelManager):
    """Remembers the clients it made: nbclient leaves the channels of its client open on a
    kernel it does not own (a heartbeat thread and sockets each time), so the pool closes them."""

    clients_made = List()

    def client(self, **kwargs: Any) -> Any:
        self.clients_made.append(made := super().client(**kwargs))
        return made


class _Kernel(threading.Thread):
    """One kernel and the thread that starts it, runs jobs on it and shuts it down."""

    def __init__(self, jobs: queue.SimpleQueue, preload: str) -> None:
        super().__init__(name="kernel", daemon=True)
        self.jobs, self.preload = jobs, preload
        self.km: _PoolKernelManager | None = None
        self.killed = False
        self.start()

    def run(self) -> None:
        self.loop = ensure_event_loop()  # this thread's loop, the one nbclient uses
        try:
            with contextlib.suppress(Exception):  # tried again, and reported, by the first job
                self.launch()
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

    def launch(self) -> None:
        """Start a kernel (encrypted where it can be: outputs carry the report's data; its own
        output on stderr, never on our stdout) and run the preload in it."""
        self.killed = False
        encryption = "auto" if zmq.has("curve") else "disabled"
        self.km = km = _PoolKernelManager(kernel_name=KERNEL_NAME, transport_encryption=encryption)
        path = os.pathsep.join([PACKAGE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])
        start = km.start_kernel(
            env={**os.environ, "PYTHONPATH": path},
            stdout=sys.__stderr__.fileno() if sys.__stderr__ else None,
            extra_arguments=["--HistoryManager.hist_file=:memory:"],
        )
        self.loop.run_until_complete(start)
        (client := km.client()).start_channels()
        try:
            self.loop.run_until_complete(self._unless_killed(client.wait_for_ready(START_SECONDS)))
            self.loop.run_until_complete(self._unless_killed(_quietly(client, self.preload)))
        except _Stopped:  # the run ended (a bad input, Ctrl-C) while this kernel started
            pass
        except Exception as exc:  # the notebooks will say what is missing
            log.warning("a kernel could not run the preload: %s", _error_line(exc))
        finally:
            self.stop_clients()

    async def _unless_killed(self, awaitable: Any) -> Any:
        """Await ``awaitable``, given up as soon as :meth:`kill` is called: a client waiting on
        a killed kernel would otherwise wait for its whole timeout."""
        task = asyncio.ensure_future(awaitable)
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if self.killed and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                raise _Stopped
        return task.result()

    def ensure_running(self) -> None:
        if self.km is None or self.killed or not self.loop.run_until_complete(self.km.is_alive()):
            self.shutdown()
            try:
                self.launch()
            except Exception as exc:
                raise RenderError(f"could not start a Jupyter kernel: {_error_line(exc)}") from exc

    def exit_status(self) -> int | None:
        """The kernel's exit status (negative: killed by that signal); None while it runs."""
        provisioner = self.km.provisioner if self.km is not None else None
        if provisioner is None or not provisioner.has_process:
            return None
        return self.loop.run_until_complete(provisioner.poll())

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
        provisioner = km.provisioner if km is not None else None
        if provisioner is not None:  # a coroutine without I/O: run it on a loop of its own
            helper = threading.Thread(target=asyncio.run, args=(provisioner.kill(),))
            helper.start()
            helper.join()


class _Stopped(Exception):
    """The kernel was killed while it started: the pool is closing."""


async def _quietly(client: Any, code: str) -> None:
    """Run ``code`` in the kernel through ``client``, showing nothing; raise if it fails."""
    reply = await client.execute_interactive(
        code, silent=True, timeout=START_SECONDS, output_hook=lambda msg: None
    )
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{reply['content']['ename']}: {reply['content']['evalue']}")


class KernelPool:
    """Kernels started at once (in the background) and reused; a context manager that shuts
    them all down on exit.

    ``preload``: Python code run once in each kernel as soon as it is up (the report's
    imports, so kernels import pandas and plotly while the caller computes the data).
    """

    def __init__(self, size: int, *, preload: str = "") -> None:
        if size < 1:
            raise ValueError(f"a kernel pool needs at least one kernel, not {size}")
        self.size = size
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._kernels = [_Kernel(self._jobs, preload) for _ in range(size)]
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
        self.kill()
        for _ in self._kernels:
            self._jobs.put(None)
        for kernel in self._kernels:
            kernel.join(STOP_SECONDS)


# -- rendering -------------------------------------------------------------------------


@dataclass
class _Task:
    """One notebook to render, and what nbclient's hooks tell while it runs."""

    job: NotebookJob
    parameters: dict
    html_path: Path
    debug_path: Path
    what: str  # notebook x.ipynb (service='checkout')
    kernel: Any = None
    nb: NotebookNode | None = None
    cells: list = field(default_factory=list)  # as they were before papermill's error cells
    cell: int | None = None

    async def on_notebook_start(self, notebook: NotebookNode, **_: Any) -> None:
        self.nb, self.cells = notebook, list(notebook.cells)
        folder = str(self.job.notebook.parent)
        # gc.freeze(): %reset collects twice, through every object of the imported modules.
        code = f"%reset -f\n__import__('os').chdir({folder!r})\n__import__('gc').freeze()"
        await _quietly(self.kernel.km.clients_made[-1], code)  # nbclient's client, ready

    def on_cell_execute(self, cell: NotebookNode, cell_index: int, **_: Any) -> None:
        self.cell = cell_index


def _render(kernel: _Kernel, task: _Task, timeout: float | None, stop: threading.Event) -> None:
    """Execute one notebook on ``kernel`` and write its HTML; nothing once ``stop`` is set."""
    task.kernel = kernel
    try:
        if stop.is_set():
            return
        kernel.ensure_running()
        nb = papermill.execute_notebook(
            str(task.job.notebook),
            None,
            parameters=task.parameters,
            kernel_name=KERNEL_NAME,
            language="python",
            progress_bar=False,
            start_timeout=START_SECONDS,
            km=kernel.km,
            on_notebook_start=task.on_notebook_start,
            on_cell_execute=task.on_cell_execute,
            timeout_func=lambda cell: timeout,
            iopub_timeout=IOPUB_SECONDS,
        )
    except RenderError:
        raise
    except Exception as exc:
        if stop.is_set():  # killed on purpose: another notebook failed, or the run stops
            return
        raise _failure(task, exc, timeout) from None
    finally:
        kernel.stop_clients()
    try:
        page = export_html(nb, task.job.title)
        with _writing(task.html_path.parent):
            task.html_path.parent.mkdir(parents=True, exist_ok=True)
            task.html_path.write_text(page, encoding="utf-8")
    except RenderError:
        raise
    except Exception as exc:  # nbconvert, the template, text that cannot be encoded
        what = f"{task.what} failed while exporting it to HTML: {_error_line(exc)}"
        raise RenderError(f"{what}; {_save_debug(nb, task.debug_path)}") from exc


def _failure(task: _Task, exc: Exception, timeout: float | None) -> RenderError:
    """The one line for a notebook that did not run through: where, why, the debug copy."""
    index = task.cell
    if isinstance(exc, papermill.PapermillExecutionError):
        index, reason = exc.cell_index, f"{exc.ename}: {_one_line(exc.evalue) or 'no message'}"
    elif isinstance(exc, CellTimeoutError):
        task.kernel.shutdown()
        if "IOPub" in str(exc):  # nbclient's other timeout: the cell's output lags its reply
            reason = f"the cell's output did not arrive within {IOPUB_SECONDS} s"
        else:
            reason = f"the cell ran longer than {timeout:g} s"
        reason += "; its kernel was stopped"
    elif (status := task.kernel.exit_status()) is not None and status >= 0:
        reason = f"the kernel died: exited with status {status}"
    elif status is not None:
        name = signal.Signals(-status).name if -status in set(signal.Signals) else -status
        oom = " (out of memory?)" if name == "SIGKILL" else ""
        reason = f"the kernel died: killed by {name}{oom}"
    else:
        reason = _error_line(exc)
    if task.nb is None:
        return RenderError(f"{task.what} failed before it started: {reason}")
    where = f" at {_describe_cell(task.cells, index)}" if index is not None else ""
    return RenderError(
        f"{task.what} failed{where}: {reason}; {_save_debug(task.nb, task.debug_path)}"
    )


def _describe_cell(cells: list, index: int) -> str:
    """``cell 4 "first line"``, numbered as in the source notebook (without papermill's cell)."""
    if INJECTED in cells[index].metadata.get("tags", []):
        return "the injected-parameters cell"
    position = sum(INJECTED not in c.metadata.get("tags", []) for c in cells[:index])
    first_line = next((ln.strip() for ln in cells[index].source.splitlines() if ln.strip()), "")
    return f'cell {position} "{_one_line(first_line, 80)}"'


def _save_debug(nb: NotebookNode, path: Path) -> str:
    """Save the executed notebook of a failed run, whole or not at all."""
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


class _Bar(tqdm):
    monitor_interval = 0  # no monitor thread: it would outlive the bar


def _run_all(
    pool: KernelPool, tasks: list[_Task], workers: int, progress: bool, timeout: float | None
) -> None:
    """Render every task, ``workers`` at a time; on the first failure stop the rest, raise it."""
    stop = threading.Event()
    waiting, running = list(reversed(tasks)), set()
    bar = _Bar(
        total=len(tasks), desc="Rendering", file=sys.stderr, leave=False, disable=not progress
    )
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                render = functools.partial(_render, task=waiting.pop(), timeout=timeout, stop=stop)
                running.add(pool.submit(render))
            # With a timeout, so that Ctrl-C is seen on every platform.
            done, running = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
                bar.update(1)
    except BaseException:
        stop.set()
        for future in running:
            future.cancel()
        pool.kill()
        wait(running, timeout=STOP_SECONDS)
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
    run leaves a previous ``out_dir`` as it was. Up to ``workers`` notebooks (default:
    :func:`default_workers`, at most the pool's size) run at once on ``pool``'s kernels, or
    on a pool started for this call; ``timeout`` limits the seconds any one cell may run.

    A notebook that fails raises :class:`RenderError`, one line naming the notebook and its
    parameters, the cell, what went wrong and where the partly executed notebook was saved
    (``<out_dir parent>/.failed/<out_dir name>/<output_html>.ipynb``); the other notebooks
    are stopped. Returns the written paths (inside ``out_dir``).
    """
    out_dir = Path(out_dir).absolute()
    html_paths: dict[PurePosixPath, NotebookJob] = {}
    extra: dict[PurePosixPath, bytes] = {}
    for name, item in [*((job.output_html, job) for job in jobs), *(files or {}).items()]:
        relative = PurePosixPath(Path(name).as_posix())
        if relative.is_absolute() or ".." in relative.parts or str(relative) == ".":
            raise ValueError(f"{name} is not a relative path inside the report folder")
        if relative in html_paths or relative in extra:
            raise ValueError(f"{relative} would be written twice")
        if isinstance(item, NotebookJob):
            html_paths[relative] = item
        elif isinstance(item, str | bytes):
            extra[relative] = item.encode() if isinstance(item, str) else item
        else:
            raise TypeError(f"content of {relative} must be str or bytes")
    if out_dir.exists() and not out_dir.is_dir():
        raise RenderError(f"{out_dir} exists and is not a folder")
    parent, debug_dir = out_dir.parent, out_dir.parent / ".failed" / out_dir.name
    build = parent / f".{out_dir.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    tasks = _tasks(html_paths, build, debug_dir)
    with _terminations_raised():
        try:
            with _writing(out_dir):
                parent.mkdir(parents=True, exist_ok=True)
                _remove_leftovers(parent, out_dir.name)
                build.mkdir()
            if tasks and pool is None:
                with KernelPool(min(workers or default_workers(), len(tasks))) as own:
                    _run_all(own, tasks, own.size, progress, timeout)
            elif tasks and pool is not None:
                _run_all(pool, tasks, min(workers or pool.size, pool.size), progress, timeout)
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
    return [out_dir / r for r in html_paths] + [out_dir / r for r in extra]


def _tasks(html_paths: dict[PurePosixPath, NotebookJob], build: Path, debug_dir: Path) -> list:
    """Each job with its parameters checked, and where its HTML and debug copy go."""
    declared: dict[Path, set[str]] = {}
    tasks = []
    for relative, job in html_paths.items():
        notebook = job.notebook.resolve()
        if notebook not in declared:
            try:
                declared[notebook] = set(papermill.inspect_notebook(str(notebook)))
            except FileNotFoundError as exc:
                raise RenderError(f"notebook {notebook} not found") from exc
            except Exception as exc:
                message = f"notebook {notebook} could not be read: {_error_line(exc)}"
                raise RenderError(message) from exc
        parameters = {str(k): _plain(k, v, notebook.name) for k, v in job.parameters.items()}
        if declared[notebook] and (unknown := sorted(set(parameters) - declared[notebook])):
            log.warning("%s: parameters not in its parameters cell: %s", notebook.name, unknown)
        summary = ", ".join(f"{k}={_one_line(repr(v), 40)}" for k, v in parameters.items())
        what = f"notebook {notebook.name}" + (f" ({_one_line(summary, 200)})" if summary else "")
        resolved = NotebookJob(notebook, job.parameters, job.output_html, job.title)
        debug_path = debug_dir / relative.with_suffix(".ipynb")
        tasks.append(_Task(resolved, parameters, build / relative, debug_path, what))
    return tasks


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
