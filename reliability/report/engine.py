"""A papermill engine that executes a notebook in the calling process's own IPython shell.

A Jupyter kernel is a separate process that must start, import pandas and plotly, and
then talk to papermill over ZeroMQ; for a report rendered right after its data was
computed, all of that is waste. ``reliability report`` instead forks its own process
once per notebook (:mod:`reliability.report.render`): the copy already has every module
imported and the month's data in memory, and runs the notebook here, in an
:class:`~IPython.core.interactiveshell.InteractiveShell` whose outputs are captured into
the notebook the way a kernel's would be (``display_data``, ``execute_result``,
``stream`` and ``error`` outputs, with execution counts).

The engine is registered with papermill as ``reliability-inprocess``::

    papermill.execute_notebook("in.ipynb", "out.ipynb", engine_name="reliability-inprocess")

It runs the notebook in the calling process and leaves that process's IPython shell
behind: use it in a process made for the purpose (a forked worker), not in a long-lived
one. Notebooks run in Jupyter are unaffected; they use a normal kernel.
"""

from __future__ import annotations

import contextlib
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
from traitlets import Type
from traitlets.config import Config

__all__ = ["ENGINE_NAME", "CellTimeoutError", "InProcessEngine", "notebook_shell"]

ENGINE_NAME = "reliability-inprocess"


class CellTimeoutError(Exception):
    """A cell ran longer than the engine's ``execution_timeout``."""


def _output(output_type: str, **fields: Any) -> NotebookNode:
    # Built directly rather than with nbformat.v4.new_output, which validates every
    # output against the JSON schema (slow for a chart's data).
    return NotebookNode(output_type=output_type, **fields)


class _CellOutputs:
    """The outputs of the cell being executed, in the order they were produced."""

    def __init__(self) -> None:
        self.outputs: list[NotebookNode] = []

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last.output_type == "stream" and last.name == name:
            last.text += text
        else:
            self.outputs.append(_output("stream", name=name, text=text))

    def display(self, data: dict, metadata: dict | None, transient: dict | None) -> None:
        display_id = (transient or {}).get("display_id")
        output = _output("display_data", data=NotebookNode(data), metadata=metadata or {})
        if display_id is not None:
            output["transient"] = {"display_id": display_id}
        self.outputs.append(output)

    def update(self, data: dict, metadata: dict | None, transient: dict | None) -> None:
        """``display(..., update=True)``: replace every output shown under the same id."""
        display_id = (transient or {}).get("display_id")
        for index, output in enumerate(self.outputs):
            if output.get("transient", {}).get("display_id") == display_id:
                replaced = _output("display_data", data=NotebookNode(data), metadata=metadata or {})
                replaced["transient"] = {"display_id": display_id}
                self.outputs[index] = replaced


class _StreamWriter:
    """A text file object that appends what is written to the cell's stream output."""

    def __init__(self, cell: _CellOutputs, name: str) -> None:
        self._cell = cell
        self.name = name
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text: str) -> int:
        self._cell.stream(self.name, str(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False


class _Publisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        cell = self.shell.cell_outputs
        (cell.update if update else cell.display)(data, metadata, transient)

    def clear_output(self, wait: bool = False) -> None:
        self.shell.cell_outputs.outputs.clear()


class _ResultHook(DisplayHook):
    """Turns a cell's last expression into an ``execute_result`` (no prompt printed)."""

    def write_output_prompt(self) -> None:
        pass

    def write_format_data(self, format_dict, md_dict=None) -> None:
        self.shell.cell_outputs.outputs.append(
            _output(
                "execute_result",
                data=NotebookNode(format_dict),
                metadata=md_dict or {},
                execution_count=self.prompt_count,
            )
        )

    def finish_displayhook(self) -> None:
        pass


class NotebookShell(InteractiveShell):
    """An IPython shell that records what each cell shows, as a kernel would report it."""

    display_pub_class = Type(_Publisher)
    displayhook_class = Type(_ResultHook)

    def __init__(self, **kwargs: Any) -> None:
        self.cell_outputs = _CellOutputs()
        super().__init__(**kwargs)

    def _showtraceback(self, etype, evalue, stb) -> None:
        self.cell_outputs.outputs.append(
            _output(
                "error",
                ename=getattr(etype, "__name__", str(etype)),
                evalue=str(evalue),
                traceback=list(stb),
            )
        )

    def run_notebook_cell(
        self, source: str, timeout: float | None = None
    ) -> tuple[list, int, bool]:
        """Run one cell; return its outputs, its execution count, and whether it succeeded."""
        self.cell_outputs = _CellOutputs()
        count = self.execution_count
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = _StreamWriter(self.cell_outputs, "stdout")
        sys.stderr = _StreamWriter(self.cell_outputs, "stderr")
        try:
            with _time_limit(timeout):
                result = self.run_cell(source, store_history=True)
        finally:
            sys.stdout, sys.stderr = stdout, stderr
        return self.cell_outputs.outputs, count, result.success


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise CellTimeoutError in the cell after ``seconds`` (main thread only, else no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
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


def notebook_shell() -> NotebookShell:
    """This process's notebook shell (created on first use, without a history database)."""
    if NotebookShell.initialized():
        return NotebookShell.instance()
    config = Config()
    config.HistoryManager.enabled = False
    return NotebookShell.instance(config=config)


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
    """Executes the notebook's code cells in this process's :func:`notebook_shell`.

    Stops at the first failing cell, like papermill's default engine. ``on_cell`` (a
    callable taking the cell and its index) is told before each cell runs.
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
        shell = notebook_shell()
        _default_warning_filters()
        for index, cell in enumerate(nb_man.nb.cells):
            nb_man.cell_start(cell, index)
            try:
                if cell.cell_type != "code":
                    continue
                if on_cell is not None:
                    on_cell(cell, index)
                outputs, count, success = shell.run_notebook_cell(
                    cell.source, timeout=execution_timeout
                )
                cell.outputs = outputs
                cell.execution_count = count
                if not success:
                    nb_man.cell_exception(cell, cell_index=index)
                    break
            finally:
                nb_man.cell_complete(cell, cell_index=index)


papermill_engines.register(ENGINE_NAME, InProcessEngine)
