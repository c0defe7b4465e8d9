"""A pool of warm IPython kernels, each owned by a worker thread that runs tasks on it.

Kept apart from :mod:`reliability.report.render` and light to import (no papermill, no
nbconvert), so that a command can start the pool first and let the kernels boot and
import pandas and plotly while it imports the rest and loads its data::

    with KernelPool() as pool:          # returns at once; kernels start in the background
        ...                             # load config and data meanwhile
        render_notebooks(jobs, out_dir, pool=pool)

Between two notebooks a kernel's user namespace is reset (like ``%reset -f``), so no
variable leaks from one notebook into the next, while imported modules stay warm in
``sys.modules``. The warnings filters and plotly's default renderer and template are put
back as they were after the warm-up. Other module-level state (pandas options, anything
a notebook patched) is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import re
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any, TypeVar

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_event_loop

from reliability.errors import RenderError

__all__ = ["DEFAULT_PRELOAD", "KERNEL_NAME", "Kernel", "KernelPool", "default_workers"]

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"
DEFAULT_PRELOAD: tuple[str, ...] = (
    "pandas",
    "plotly.graph_objects",
    "plotly.io",
    "reliability.report.plotting",
)
"""Modules every kernel imports while it waits for its first notebook."""
INTERRUPT_GRACE_SECONDS = 3.0
"""How long an interrupted task may take to stop before its kernel is killed.

An interrupt (SIGINT) that reaches ipykernel between two cells, rather than inside one,
can make it drop the request it was handling, and the client would wait for the reply
forever: so interrupting is followed, if need be, by killing."""
KERNEL_EXIT_SECONDS = 3.0
"""How long to wait for a killed kernel process to be gone."""

_T = TypeVar("_T")


def default_workers() -> int:
    """The default pool size: one kernel per core, at most two."""
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


def _remove_leftover_workdirs() -> None:
    """Delete kernel folders of pools whose process was killed before it could clean up."""
    pattern = re.compile(r"^reliability-kernel-(\d+)-")
    for entry in Path(tempfile.gettempdir()).glob("reliability-kernel-*"):
        match = pattern.match(entry.name)
        if match and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _source_root() -> str | None:
    """The folder holding this ``reliability`` package unless it is a site-packages folder.

    Put on the kernels' PYTHONPATH so that they import the same ``reliability`` as this
    process even when it runs from a checkout that is not installed.
    """
    root = Path(__file__).resolve().parents[2]
    site_dirs = [*site.getsitepackages(), site.getusersitepackages()]
    if any(root == Path(d).resolve() for d in site_dirs):
        return None
    return str(root)


class _ThisPythonKernelSpecManager(KernelSpecManager):
    """Always the ipykernel of the interpreter running the report, whatever is installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (reliability-report)",
            language="python",
            metadata={"debugger": False},
        )


# Code run inside the kernels, wrapped in functions to keep helper names out of the user
# namespace (the reset before every notebook removes the functions themselves).
#
# rfc3987_syntax: plotly's renderers import nbformat, which imports jsonschema, which
# imports rfc3987_syntax when it is installed (jupyter-events pulls it in) to check the
# "iri" string format; building its grammar takes 0.7 s, more than pandas and plotly
# together. No report notebook validates IRIs, so the kernels do without that checker.
_INIT_CODE = """\
def __reliability_init(modules):
    import importlib, sys, warnings
    sys.modules.setdefault("rfc3987_syntax", None)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    plotting = sys.modules.get("reliability.report.plotting")
    if plotting is not None and hasattr(plotting, "warm_up"):
        try:
            plotting.warm_up()
        except Exception:
            pass
    state = {"warning_filters": list(warnings.filters)}
    pio = sys.modules.get("plotly.io")
    if pio is not None:
        state["plotly"] = (pio.renderers.default, pio.templates.default)
    get_ipython()._reliability_pristine_state = state
__reliability_init(%r)
del __reliability_init
"""

# A kernel's first notebook needs no reset: the init code left nothing behind.
_CHDIR_CODE = """__import__("os").chdir(%r)"""

# Like %reset -f (InteractiveShell.reset), minus the full garbage collection it ends with
# (50 ms or more once pandas and plotly are loaded); Python's own collector still runs.
_PREPARE_CODE = """\
def __reliability_prepare(cwd):
    import gc, os, sys, warnings
    shell = get_ipython()
    collect = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        shell.reset(new_session=True)
    finally:
        gc.collect = collect
    os.chdir(cwd)
    state = getattr(shell, "_reliability_pristine_state", None)
    if state is not None:
        warnings.resetwarnings()
        warnings.filters[:] = state["warning_filters"]
        pio = sys.modules.get("plotly.io")
        if pio is not None and "plotly" in state:
            pio.renderers.default, pio.templates.default = state["plotly"]
__reliability_prepare(%r)
"""


def _signal(process: subprocess.Popen | None, signum: int) -> None:
    """Signal a kernel process; SIGKILL goes to its process group (what it started too)."""
    if process is None or process.poll() is not None:
        return
    try:
        if signum == signal.SIGKILL:
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:  # not a group leader after all
                process.kill()
        else:
            process.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass


class Kernel:
    """One ipykernel process and its client; used only from the worker thread that owns it.

    ``km`` (an ``AsyncKernelManager``) and ``kc`` (its client) are driven by the thread's
    event loop, the same one nbclient's synchronous API uses in that thread.
    """

    def __init__(self, index: int, loop: asyncio.AbstractEventLoop, pool: KernelPool):
        self.index = index
        self.loop = loop
        self.pool = pool
        self.km: AsyncKernelManager | None = None
        self.kc: Any = None
        self.busy_with: Future | None = None
        self.interrupted = False
        """Set when the pool interrupted the current task (it was not the task's own fault)."""
        self.broken = False
        """Set by a task that left the kernel in an unknown state; it is restarted before use."""
        self.starting = False
        self.fresh = False
        """True until the first task: the user namespace is still empty."""
        self._workdir = Path(tempfile.mkdtemp(prefix=f"reliability-kernel-{os.getpid()}-"))
        self._log: Any = None

    # -- lifecycle (owning thread) ---------------------------------------------------
    def start(self) -> None:
        self.starting = True
        try:
            self._start()
        finally:
            self.starting = False

    def _start(self) -> None:
        env = dict(os.environ)
        env["RELIABILITY_KERNEL_POOL"] = "1"
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        root = _source_root()
        if root is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=_ThisPythonKernelSpecManager(),
            transport="ipc",  # local sockets: no TCP port, no plain-text-TCP warning
            ip=str(self._workdir / "ipc"),
            connection_file=str(self._workdir / "kernel.json"),
        )
        # The kernel process's own output (not the notebooks') goes to a log file rather
        # than the terminal; its last line explains a kernel that fails to start.
        self._log = open(self._workdir / "kernel.log", "wb")
        self.loop.run_until_complete(
            self.km.start_kernel(
                extra_arguments=["--HistoryManager.hist_file=:memory:"],
                env=env,
                cwd=os.getcwd(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
            )
        )
        if self.index > 0 and self.pool.nice_extra_kernels:
            # Extra kernels only help once they are up; lower their CPU priority so that
            # their start-up does not slow down the first kernel and this process on a
            # busy machine (an idle core still runs them at full speed).
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, self.km.provisioner.process.pid, 10)
        if self.pool.unneeded():
            raise RenderError("kernel no longer needed")
        self.kc = self.km.client()
        self.kc.allow_stdin = False
        self.kc.start_channels(stdin=False, hb=False)  # liveness: the process itself
        self.loop.run_until_complete(self._wait_for_ready(self.pool.startup_timeout))
        self.run_code(_INIT_CODE % (tuple(self.pool.preload),), self.pool.startup_timeout)
        self.fresh = True

    async def _wait_for_ready(self, timeout: float) -> None:
        """Like ``KernelClient.wait_for_ready`` without its 0.2 s wait for IOPub silence.

        Ready means: a ``kernel_info`` request was answered on the shell channel and its
        ``idle`` status arrived on IOPub (so IOPub is connected too). Earlier IOPub
        messages are harmless: every reader filters by the request it made.
        """
        deadline = time.monotonic() + timeout
        while True:
            msg_id = self.kc.kernel_info()
            try:
                await self._wait_for(self.kc.shell_channel, msg_id, "kernel_info_reply", 1.0)
                # IOPub may still be subscribing (then the status is lost): ask again soon
                await self._wait_for(self.kc.iopub_channel, msg_id, "status", 0.1)
                return
            except queue.Empty:
                pass
            if time.monotonic() > deadline:
                raise RenderError(f"no answer within {timeout:g} s")

    async def _wait_for(
        self, channel: Any, msg_id: str, msg_type: str, timeout: float | None
    ) -> dict:
        """Read ``channel`` until the ``msg_type`` answer to ``msg_id`` (for a status: idle).

        Raises ``queue.Empty`` after ``timeout`` seconds, RenderError as soon as the kernel
        process is gone.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if wait <= 0:
                raise queue.Empty
            try:
                msg = await channel.get_msg(timeout=wait)
            except queue.Empty:
                process = self.process
                if process is None or process.poll() is not None:
                    raise RenderError(f"the kernel died; {self.log_tail()}") from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id or msg["msg_type"] != msg_type:
                continue
            if msg_type != "status" or msg["content"].get("execution_state") == "idle":
                return msg

    def is_alive(self) -> bool:
        return self.km is not None and self.loop.run_until_complete(self.km.is_alive())

    def restart(self) -> None:
        self.shutdown()
        self.start()

    def shutdown(self) -> None:
        """Ask the kernel to exit, wait for it (killing it after a while), clean up."""
        km, kc = self.km, self.kc
        self.km = self.kc = None
        try:
            if kc is not None:
                kc.stop_channels()
            if km is not None and km.has_kernel:
                self.loop.run_until_complete(self._shutdown(km))
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    async def _shutdown(self, km: AsyncKernelManager) -> None:
        # By now every output of every notebook has been received and the kernel holds
        # nothing worth saving, so it is killed (with its process group, i.e. anything a
        # notebook started) instead of asked to exit: a shutdown request costs 0.2-0.4 s
        # of interpreter teardown and, with ipykernel 7.4, now and then deadlocks between
        # its control thread and its IOPub thread until a 10 s flush timeout.
        process = getattr(km.provisioner, "process", None)
        if process is not None and process.poll() is None:
            _signal(process, signal.SIGKILL)
            deadline = time.monotonic() + KERNEL_EXIT_SECONDS
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
        await km.shutdown_kernel(now=True)  # reaps it, removes its connection files

    def close(self) -> None:
        try:
            self.shutdown()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)

    # -- from any thread -------------------------------------------------------------
    @property
    def process(self) -> subprocess.Popen | None:
        return getattr(getattr(self.km, "provisioner", None), "process", None)

    def send_signal(self, signum: int) -> None:
        _signal(self.process, signum)

    # -- tasks (owning thread) -------------------------------------------------------
    def run_code(self, code: str, timeout: float | None = None) -> None:
        """Run ``code`` silently (no history, no output); raise RenderError if it fails."""
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        try:
            reply = self.loop.run_until_complete(
                self._wait_for(self.kc.shell_channel, msg_id, "execute_reply", timeout)
            )
        except queue.Empty:
            raise RenderError(f"the kernel did not answer within {timeout:g} s") from None
        content = reply["content"]
        if content.get("status") != "ok":
            raise RenderError(
                f"kernel set-up failed: {content.get('ename')}: {content.get('evalue')}"
            )

    def prepare(self, cwd: Path) -> None:
        """Reset the user namespace (modules stay imported) and change into ``cwd``."""
        if self.broken or not self.is_alive():
            self.broken = False
            self.restart()
        code = _CHDIR_CODE if self.fresh else _PREPARE_CODE
        self.fresh = False
        self.run_code(code % (str(cwd),), self.pool.startup_timeout)

    def log_tail(self) -> str:
        try:
            text = (self._workdir / "kernel.log").read_text(errors="replace")
        except OSError:
            return "no kernel log"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return f"kernel log: {lines[-1]}" if lines else "kernel log is empty"


class KernelPool:
    """``size`` warm kernels, each owned by a worker thread that runs submitted tasks on it.

    A context manager: entering starts the kernels in the background and returns at once;
    leaving shuts them all down and waits for them, also on error or KeyboardInterrupt
    (then running tasks are interrupted and queued ones cancelled first).
    """

    def __init__(
        self,
        size: int | None = None,
        *,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        startup_timeout: float = 60.0,
        execution_timeout: float | None = None,
    ):
        self.size = max(1, size if size is not None else default_workers())
        self.preload = tuple(preload)
        self.startup_timeout = startup_timeout
        self.execution_timeout = execution_timeout
        """Seconds a single cell may run (None: no limit)."""
        self.nice_extra_kernels = True
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._kernels: list[Kernel] = []
        self._lock = threading.Lock()
        self._started = False
        self._stopping = False
        self._queued = 0  # tasks submitted and not yet taken by a worker
        self._failed = 0  # kernels that did not start
        self._settled = threading.Semaphore(0)  # one release per kernel started (or failed)
        self._settled_count = 0

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> KernelPool:
        """Start the kernels in the background and return at once."""
        if self._started:
            return self
        self._started = True
        with contextlib.suppress(OSError):
            _remove_leftover_workdirs()
        for index in range(self.size):
            thread = threading.Thread(
                target=self._worker, args=(index,), name=f"reliability-kernel-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def __enter__(self) -> KernelPool:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(abort=exc_type is not None)

    def shutdown(self) -> None:
        """Accept no more tasks; each worker stops its kernel when the queue is empty.

        Does not wait. A kernel still starting when no task is left for it is killed.
        """
        if self._stopping:
            return
        self._stopping = True
        for _ in self._threads:
            self._tasks.put(None)
        self._kill_unneeded()

    def unneeded(self) -> bool:
        """True once the pool is shutting down and no task waits for a kernel."""
        with self._lock:
            return self._stopping and self._queued == 0

    def _kill_unneeded(self) -> None:
        if not self.unneeded():
            return
        with self._lock:
            kernels = list(self._kernels)
        for kernel in kernels:
            if kernel.starting:
                kernel.send_signal(signal.SIGKILL)

    def close(self, abort: bool = False) -> None:
        """Stop every kernel and wait for it; with ``abort``, stop the tasks first."""
        if not self._started:
            return
        try:
            if abort:
                self.stop()
            self.shutdown()
            deadline = time.monotonic() + INTERRUPT_GRACE_SECONDS if abort else None
            for thread in self._threads:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except BaseException:
            self._kill_all()
            raise
        finally:
            if any(thread.is_alive() for thread in self._threads):
                self._kill_all()
                for thread in self._threads:
                    thread.join(5.0)

    def stop(
        self, futures: Iterable[Future] | None = None, grace: float = INTERRUPT_GRACE_SECONDS
    ) -> None:
        """Stop tasks: ``futures``, or every queued and running task if None.

        Queued ones are cancelled; the kernels running the others are interrupted and, if
        the task is still running after ``grace`` seconds, killed (a killed kernel is
        started afresh for its next task). Returns once the tasks are over (or after
        twice ``grace``).
        """
        if futures is None:
            self._cancel_queued()
        else:
            futures = list(futures)
            for future in futures:
                future.cancel()
        busy = self._busy_kernels(futures)
        running = [f for f in (kernel.busy_with for kernel in busy) if f is not None]
        for kernel in busy:
            kernel.interrupted = True
            kernel.send_signal(signal.SIGINT)
        if not running:
            return
        _, still_running = wait(running, timeout=grace)
        if still_running:
            for kernel in self._busy_kernels(still_running):
                kernel.broken = True
                kernel.send_signal(signal.SIGKILL)
            wait(still_running, timeout=grace)  # nbclient notices a dead kernel within 1 s

    def _busy_kernels(self, futures: Iterable[Future] | None) -> list[Kernel]:
        wanted = None if futures is None else {id(f) for f in futures}
        with self._lock:
            kernels = list(self._kernels)
        return [
            kernel
            for kernel in kernels
            if kernel.busy_with is not None and (wanted is None or id(kernel.busy_with) in wanted)
        ]

    def _cancel_queued(self) -> None:
        sentinels = 0
        while True:
            try:
                item = self._tasks.get_nowait()
            except queue.Empty:
                break
            if item is None:
                sentinels += 1
            else:
                with self._lock:
                    self._queued -= 1
                item[1].cancel()
        for _ in range(sentinels):
            self._tasks.put(None)

    def _kill_all(self) -> None:
        with self._lock:
            kernels = list(self._kernels)
        for kernel in kernels:
            kernel.send_signal(signal.SIGKILL)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until every kernel has started (or failed to); False on timeout."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._settled_count < self.size:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._settled.acquire(timeout=remaining):
                return False
            self._settled_count += 1
        return True

    def pids(self) -> list[int]:
        """Process ids of the kernels that are running now."""
        with self._lock:
            kernels = list(self._kernels)
        processes = [kernel.process for kernel in kernels]
        return [p.pid for p in processes if p is not None and p.poll() is None]

    # -- work ------------------------------------------------------------------------
    def submit(self, task: Callable[[Kernel], _T]) -> Future:
        """Run ``task(kernel)`` on the next free kernel; return a Future of its result."""
        if self._stopping:
            raise RuntimeError("the kernel pool is shut down")
        self.start()
        future: Future = Future()
        with self._lock:
            self._queued += 1
        self._tasks.put((task, future))
        return future

    def _worker(self, index: int) -> None:
        # nbclient's synchronous API runs coroutines on this thread's loop; so must we
        loop = ensure_event_loop()
        kernel = Kernel(index, loop, self)
        with self._lock:
            self._kernels.append(kernel)
        start_error: BaseException | None = None
        try:
            try:
                kernel.start()
            except Exception as exc:
                detail = str(exc)
                if not isinstance(exc, RenderError):
                    detail = f"{type(exc).__name__}: {detail}"
                if "kernel log" not in detail:
                    detail += f"; {kernel.log_tail()}"
                start_error = RenderError(f"a kernel did not start: {detail}")
            finally:
                self._settled.release()
            if start_error is not None:
                with self._lock:
                    self._failed += 1
                    last = self._failed == self.size
                if not last:
                    return  # leave the tasks to the kernels that did start
                log.debug("no kernel of the pool started: %s", start_error)
            while True:
                item = self._tasks.get()
                if item is None:
                    break
                task, future = item
                with self._lock:
                    self._queued -= 1
                self._kill_unneeded()
                if not future.set_running_or_notify_cancel():
                    continue
                if start_error is not None:
                    future.set_exception(start_error)
                    continue
                kernel.busy_with = future
                kernel.interrupted = False
                try:
                    result = task(kernel)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                finally:
                    kernel.busy_with = None
        finally:
            try:
                kernel.close()
            except Exception:  # pragma: no cover - best effort
                log.debug("error while shutting a kernel down", exc_info=True)
            finally:
                loop.close()
