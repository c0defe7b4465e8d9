"""A papermill engine that executes a notebook in the calling process's own IPython shell.

A Jupyter kernel is a separate process that must start, import pandas and plotly, and
then talk to papermill over ZeroMQ; for a report rendered right after its data was
computed, all of that is waste. ``reliability report`` instead forks its own process
once per notebook (:mod:`reliability.report.render`): the copy already has every module
imported and the month's data in memory, and runs the notebook here, in a new
:class:`NotebookShell` that records outputs into the notebook as nbclient records a
kernel's messages:

* ``display_data`` and ``execute_result`` bundles, binary data (PNG, JPEG) base64-encoded;
* ``stream`` outputs for ``sys.stdout`` and ``sys.stderr`` (output written below Python,
  by a subprocess or a C library, is not captured);
* ``error`` outputs with the formatted traceback;
* ``display(..., display_id=...)`` updates applied to every output shown under that id,
  in any cell, and ``clear_output(wait=True)`` clearing only when the next output comes;
* execution counts from 1, and matplotlib's inline backend (when matplotlib is used).

The engine is registered with papermill as ``reliability-inprocess``::

    papermill.execute_notebook("in.ipynb", "out.ipynb", engine_name="reliability-inprocess")

It runs the notebook in the calling process, with a fresh namespace each time, and leaves
that process's IPython shell, warnings filters and imported modules as the notebook left
them: use it in a process made for the purpose (a forked worker), not a long-lived one. It
refuses to run inside Jupyter or IPython, whose shell it would replace. Notebooks opened in
Jupyter are unaffected: they use a normal kernel.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import importlib
import io
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from nbformat import NotebookNode
from papermill.engines import Engine, papermill_engines
from papermill.exceptions import PapermillException
from traitlets import Type
from traitlets.config import Config

__all__ = [
    "ENGINE_NAME",
    "CellTimeoutError",
    "InProcessEngine",
    "NotebookShell",
    "forget_shells",
    "new_shell",
    "preload",
]

ENGINE_NAME = "reliability-inprocess"
MAX_TIMEOUT_SECONDS = 10_000_000
"""Longer limits (the system timer cannot hold much more) mean no limit."""
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class CellTimeoutError(BaseException):
    """A cell ran longer than the engine's ``execution_timeout``.

    A ``BaseException``, like the KeyboardInterrupt a kernel's timeout sends, so that a
    cell's ``except Exception`` cannot swallow it.
    """


def _output(output_type: str, **fields: Any) -> NotebookNode:
    # Built directly rather than with nbformat.v4.new_output, which validates every
    # output against the JSON schema (slow for a chart's data).
    return NotebookNode(output_type=output_type, **fields)


def _mime_bundle(data: dict) -> NotebookNode:
    """A display bundle as a notebook stores it: binary values (PNG, JPEG) in base64."""
    return NotebookNode(
        {
            mime: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
            for mime, value in data.items()
        }
    )


class _NotebookOutputs:
    """Where outputs go: the running cell's list, and every output shown under a display id."""

    def __init__(self) -> None:
        self.cell: list[NotebookNode] = []
        self.by_display_id: dict[str, list[NotebookNode]] = {}
        self.clear_on_next = False

    def start_cell(self) -> list[NotebookNode]:
        self.cell = []
        self.clear_on_next = False
        return self.cell

    def _append(self, output: NotebookNode) -> None:
        if self.clear_on_next:
            self.cell.clear()
            self.clear_on_next = False
        self.cell.append(output)

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.cell[-1] if self.cell and not self.clear_on_next else None
        if last is not None and last.output_type == "stream" and last.name == name:
            last.text += text
        else:
            self._append(_output("stream", name=name, text=text))

    def display(self, data: dict, metadata: dict | None, display_id: str | None) -> None:
        """A new output; shown under a display id, it also updates the earlier ones."""
        if display_id is not None:
            self.update(data, metadata, display_id)
        output = _output("display_data", data=_mime_bundle(data), metadata=metadata or {})
        self._append(output)
        if display_id is not None:
            self.by_display_id.setdefault(display_id, []).append(output)

    def update(self, data: dict, metadata: dict | None, display_id: str | None) -> None:
        """``display(..., update=True)``: every output shown under that id, in any cell."""
        for output in self.by_display_id.get(display_id, []):
            output["data"] = _mime_bundle(data)
            output["metadata"] = metadata or {}

    def result(self, data: dict, metadata: dict | None, count: int) -> None:
        self._append(
            _output(
                "execute_result",
                data=_mime_bundle(data),
                metadata=metadata or {},
                execution_count=count,
            )
        )

    def error(self, name: str, value: str, traceback: list[str]) -> None:
        self._append(_output("error", ename=name, evalue=value, traceback=traceback))

    def clear(self, wait: bool) -> None:
        if wait:
            self.clear_on_next = True
        else:
            self.cell.clear()


class _StreamWriter(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` while a notebook runs: text goes to the running cell."""

    def __init__(self, outputs: _NotebookOutputs, name: str) -> None:
        super().__init__()
        self._outputs = outputs
        self._name = name

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"<{self._name}>"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._outputs.stream(self._name, text)
        return len(text)

    def isatty(self) -> bool:
        return False


class _Publisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        display_id = (transient or {}).get("display_id")
        outputs = self.shell.outputs
        if update:
            outputs.update(data, metadata, display_id)
        else:
            outputs.display(data, metadata, display_id)

    def clear_output(self, wait: bool = False) -> None:
        self.shell.outputs.clear(wait)


class _ResultHook(DisplayHook):
    """Turns a cell's last expression into an ``execute_result`` (no prompt printed)."""

    def write_output_prompt(self) -> None:
        pass

    def write_format_data(self, format_dict, md_dict=None) -> None:
        self.shell.outputs.result(format_dict, md_dict, self.prompt_count)

    def finish_displayhook(self) -> None:
        pass


class NotebookShell(InteractiveShell):
    """An IPython shell that records what each cell shows, as a kernel would report it."""

    display_pub_class = Type(_Publisher)
    displayhook_class = Type(_ResultHook)

    def __init__(self, **kwargs: Any) -> None:
        self.outputs = _NotebookOutputs()
        super().__init__(**kwargs)

    def init_virtualenv(self) -> None:
        """Leave ``sys.path`` alone: the notebook runs in this interpreter's environment."""

    def _showtraceback(self, etype, evalue, stb) -> None:
        self.outputs.error(getattr(etype, "__name__", str(etype)), str(evalue), list(stb))

    def run_notebook_cell(
        self, source: str, timeout: float | None = None
    ) -> tuple[list[NotebookNode], int | None, bool]:
        """Run one cell; return its outputs, its execution count (None for an empty cell,
        which is not run), and whether it succeeded."""
        outputs = self.outputs.start_cell()
        if not source.strip():
            return outputs, None, True
        count = self.execution_count
        with _time_limit(timeout):
            result = self.run_cell(source, store_history=True)
        return outputs, count, result.success


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise CellTimeoutError in the cell after ``seconds`` (main thread only, else no limit)."""
    if (
        not seconds
        or seconds > MAX_TIMEOUT_SECONDS
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def expire(signum, frame):
        raise CellTimeoutError(f"the cell ran longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _captured_streams(outputs: _NotebookOutputs) -> Iterator[None]:
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = _StreamWriter(outputs, "stdout")
    sys.stderr = _StreamWriter(outputs, "stderr")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def forget_shells() -> None:
    """Forget this process's IPython shell, whatever its class (in a forked copy of a
    process that runs Jupyter or IPython, that shell belongs to the parent)."""
    for cls in (InteractiveShell, NotebookShell):
        instance = cls._instance
        if instance is not None:
            if isinstance(instance, NotebookShell):  # ours: let it and its namespace go
                atexit.unregister(instance.atexit_operations)
                instance.user_ns.clear()
            type(instance).clear_instance()
        cls.clear_instance()


def new_shell() -> NotebookShell:
    """A new notebook shell with an empty namespace, replacing an earlier one of this engine.

    Raises PapermillException in a process that has another IPython shell (Jupyter,
    IPython): the engine would replace the shell that process is using.
    """
    for existing in (InteractiveShell._instance, NotebookShell._instance):
        if existing is not None and not isinstance(existing, NotebookShell):
            raise PapermillException(
                f"the {ENGINE_NAME!r} engine cannot run inside Jupyter or IPython, whose shell "
                "it would replace; run it in a process of its own"
            )
    forget_shells()
    config = Config()
    config.HistoryManager.enabled = False
    return NotebookShell.instance(config=config)


SHELL_MODULES = (
    "bdb",
    "IPython.core.application",
    "IPython.core.completer",
    "IPython.core.crashhandler",
    "IPython.core.magics",
    "IPython.core.oinspect",
)
"""What creating and running a shell imports beyond this module's own imports."""


def preload() -> None:
    """Import what a new shell will need, so processes forked after this do not each do it."""
    for name in SHELL_MODULES:
        importlib.import_module(name)


def _default_warning_filters() -> None:
    """The warnings filters of a fresh interpreter, as a new kernel would have them.

    The process running the engine may have made warnings errors (a test run) or silenced
    them; a notebook must behave the same either way.
    """
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")


class InProcessEngine(Engine):
    """Executes the notebook's code cells in a new :class:`NotebookShell` of this process.

    Stops at the first failing cell, like papermill's default engine. ``on_cell`` (a
    callable taking the cell and its index) is told before each code cell runs.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        execution_timeout=None,
        on_cell: Callable[[NotebookNode, int], None] | None = None,
        **kwargs,
    ):
        shell = new_shell()
        _default_warning_filters()
        os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)  # as ipykernel sets it
        with _captured_streams(shell.outputs):
            for index, cell in enumerate(nb_man.nb.cells):
                nb_man.cell_start(cell, index)
                try:
                    if cell.cell_type != "code":
                        continue
                    if on_cell is not None:
                        on_cell(cell, index)
                    try:
                        outputs, count, success = shell.run_notebook_cell(
                            cell.source, timeout=execution_timeout
                        )
                    except CellTimeoutError as exc:  # fired outside the cell's code (a hook)
                        shell.outputs.error(type(exc).__name__, str(exc), [str(exc)])
                        outputs, count, success = shell.outputs.cell, None, False
                    cell.outputs = outputs
                    cell.execution_count = count
                    if not success:
                        nb_man.cell_exception(cell, cell_index=index)
                        break
                finally:
                    nb_man.cell_complete(cell, cell_index=index)


papermill_engines.register(ENGINE_NAME, InProcessEngine)
