"""Render report notebooks: papermill on a pool of warm kernels, nbconvert to self-contained HTML.

The expensive parts of rendering a notebook are starting a kernel, importing pandas and
plotly in it, and setting up nbconvert's exporter. A :class:`KernelPool` starts ``N``
kernels once (each owned by one worker thread), imports the heavy modules in them, and
runs notebook after notebook on them; between two notebooks the user namespace is reset
(``get_ipython().reset()``), so nothing a notebook defined leaks into the next one while
the imported modules stay warm in ``sys.modules``. Parameters are injected the papermill
way (``parameterize_notebook``: an ``injected-parameters`` cell after the cell tagged
``parameters``) and the notebook is executed through a papermill engine registered as
``reliability-pool`` in papermill's engine registry.

One :class:`~nbconvert.HTMLExporter` with the project's template
(``templates/reliability``) exports every notebook: no code, no prompts, no stream output,
no network requests, plotly.js inlined once per file that has a chart.

:func:`render_notebooks` builds the whole report in a temporary sibling folder and swaps it
into place, so a failed run leaves the previous report untouched.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import numbers
import os
import re
import shutil
import sys
import threading
from concurrent.futures import FIRST_EXCEPTION, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat
from nbconvert import HTMLExporter
from nbformat import NotebookNode
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import Engine, papermill_engines
from papermill.exceptions import PapermillException, PapermillExecutionError
from papermill.execute import (
    prepare_notebook_metadata,
    raise_for_execution_errors,
    remove_error_markers,
)
from papermill.inspection import _infer_parameters
from papermill.iorw import load_notebook_node
from papermill.log import logger as papermill_logger
from papermill.parameterize import parameterize_notebook
from papermill.utils import remove_args
from tqdm import tqdm

from reliability.errors import RenderError
from reliability.report.kernels import (
    DEFAULT_PRELOAD,
    KERNEL_NAME,
    Kernel,
    KernelPool,
    default_workers,
    pid_alive,
)
from reliability.report.plotting import PLOTLY_GRAPH_CLASS, plotlyjs_script

__all__ = [
    "DEFAULT_PRELOAD",
    "ENGINE_NAME",
    "TEMPLATE_NAME",
    "KernelPool",
    "NotebookJob",
    "PooledKernelEngine",
    "default_workers",
    "export_html",
    "get_exporter",
    "render_notebooks",
]

log = logging.getLogger(__name__)

ENGINE_NAME = "reliability-pool"
"""The papermill engine that runs notebooks on the kernels of a :class:`KernelPool`."""
TEMPLATE_NAME = "reliability"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


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
# The papermill engine
# --------------------------------------------------------------------------------------


class PooledKernelEngine(Engine):
    """A papermill engine that executes on a running kernel of a :class:`KernelPool`.

    Like papermill's ``NBClientEngine``, but the kernel manager and client are passed in
    (``kernel=``) and left running afterwards.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        kernel: Kernel | None = None,
        **kwargs,
    ):
        if kernel is None or kernel.km is None:
            raise PapermillException(
                f"the {ENGINE_NAME!r} engine needs a running kernel of a KernelPool (kernel=...)"
            )
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        client = PapermillNotebookClient(
            nb_man,
            km=kernel.km,
            kernel_name=kernel_name,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            log=papermill_logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        )
        client.kc = kernel.kc  # so setup_kernel() neither starts nor shuts down a kernel
        return client.execute()


papermill_engines.register(ENGINE_NAME, PooledKernelEngine)


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
    # Compile the templates now rather than on the first real notebook.
    warm = nbformat.v4.new_notebook()
    warm.cells.append(nbformat.v4.new_markdown_cell("warm-up"))
    exporter.from_notebook_node(warm)
    return exporter


_export_lock = threading.Lock()


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
    with _export_lock:
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


def _running_cell(nb: NotebookNode) -> NotebookNode | None:
    """The last cell papermill started: the one running when execution broke off."""
    started = [c for c in nb.cells if c.metadata.get("papermill", {}).get("start_time")]
    return started[-1] if started else None


def _save_debug(nb: NotebookNode, path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(path))
    except Exception as exc:  # the error being reported matters more
        return f"executed notebook could not be saved ({_one_line(exc, 80)})"
    return f"executed notebook saved to {path}"


def _run_job(
    kernel: Kernel,
    job: NotebookJob,
    source: _Source,
    parameters: dict,
    html_path: Path,
    debug_path: Path,
) -> Path:
    """Execute one notebook on ``kernel``, export it, write the HTML (worker thread)."""
    kernel.prepare(job.notebook.parent)
    nb = copy.deepcopy(source.nb)
    if parameters:
        nb = parameterize_notebook(
            nb, parameters, kernel_name=KERNEL_NAME, language="python", engine_name=ENGINE_NAME
        )
    nb = prepare_notebook_metadata(nb, str(job.notebook), None)
    nb = remove_error_markers(nb)
    what = f"notebook {job.notebook.name}"
    if parameters:
        what += f" ({_summarise(parameters)})"
    try:
        nb = papermill_engines.execute_notebook_with_engine(
            ENGINE_NAME,
            nb,
            kernel_name=KERNEL_NAME,
            input_path=str(job.notebook),
            output_path=None,
            progress_bar=False,
            log_output=False,
            execution_timeout=kernel.pool.execution_timeout,
            kernel=kernel,
        )
    except Exception as exc:  # the kernel died, a cell timed out, ...
        kernel.broken = True  # it may still be running the cell: start afresh next time
        if kernel.interrupted:
            raise RenderError(f"{what} was interrupted") from exc
        cell = _describe_cell(_running_cell(nb), source)
        saved = _save_debug(nb, debug_path)
        message = _one_line(exc) or "no message"
        raise RenderError(
            f"{what} failed at {cell}: {type(exc).__name__}: {message}; {saved}"
        ) from exc
    cells = list(nb.cells)  # before raise_for_execution_errors adds its marker cells
    try:
        raise_for_execution_errors(nb, None)
    except PapermillExecutionError as exc:
        if kernel.interrupted:  # another notebook failed, or Ctrl-C: nothing to debug here
            raise RenderError(f"{what} was interrupted") from None
        cell = _describe_cell(cells[exc.cell_index], source)
        saved = _save_debug(nb, debug_path)
        raise RenderError(
            f"{what} failed at {cell}: {exc.ename}: {_one_line(exc.evalue) or 'no message'}; "
            f"{saved}"
        ) from None
    with _writing(html_path):
        _write_page(nb, job.title, html_path)
    return html_path


def render_notebooks(
    jobs: list[NotebookJob],
    out_dir: Path,
    *,
    workers: int = 2,
    files: dict[str, str | bytes] | None = None,
    progress: bool = True,
    pool: KernelPool | None = None,
) -> list[Path]:
    """Execute and export every job, then put the report into ``out_dir`` atomically.

    Everything (the HTML of every job and the extra ``files``, ``{relative path: text or
    bytes}``) is first written to a temporary sibling of ``out_dir``, which then replaces
    ``out_dir`` (the old folder is renamed away, the new one renamed in, the old one
    deleted): a failed run leaves a previous ``out_dir`` as it was. Notebooks run on
    ``pool`` if given, else on a pool of ``workers`` kernels made for this call.

    A notebook that fails raises :class:`RenderError` with one line naming the notebook
    and its parameters, the cell, the exception, and where the partly executed notebook
    was saved (``<out_dir parent>/.failed/<out_dir name>/<output_html>.ipynb``); the other
    notebooks are interrupted. Returns the written paths (inside ``out_dir``).
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

    own_pool: KernelPool | None = None
    try:
        with _writing(out_dir):
            parent.mkdir(parents=True, exist_ok=True)
            _remove_leftovers(parent, out_dir.name)
            build.mkdir()
        if jobs:
            if pool is None:
                own_pool = pool = KernelPool(min(max(1, workers), len(jobs))).start()
            _execute_all(jobs, parameters, html_paths, pool, build, debug_dir, progress, own_pool)
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
        try:
            if own_pool is not None:
                own_pool.close(abort=True)
                own_pool = None
        finally:
            shutil.rmtree(build, ignore_errors=True)
        raise
    finally:
        if own_pool is not None:
            own_pool.close()
    shutil.rmtree(debug_dir, ignore_errors=True)  # failures of earlier runs are stale now
    with contextlib.suppress(OSError):
        debug_dir.parent.rmdir()  # only if empty
    return [out_dir / r for r in html_paths] + [out_dir / r for r in extra]


def _execute_all(
    jobs: list[NotebookJob],
    parameters: list[dict],
    html_paths: dict[PurePosixPath, NotebookJob],
    pool: KernelPool,
    build: Path,
    debug_dir: Path,
    progress: bool,
    own_pool: KernelPool | None,
) -> None:
    get_exporter()  # set up nbconvert while the kernels start
    sources: dict[Path, _Source] = {}
    for job in jobs:
        key = job.notebook.resolve()
        if key not in sources:
            sources[key] = _load_source(key)
    relative_of = {id(job): relative for relative, job in html_paths.items()}
    futures = []
    for job, params in zip(jobs, parameters, strict=True):
        notebook = job.notebook.resolve()
        source = sources[notebook]
        unknown = sorted(set(params) - source.declared)
        if unknown and source.declared:
            log.warning("%s: parameters not in its parameters cell: %s", notebook.name, unknown)
        relative = relative_of[id(job)]
        task = functools.partial(
            _run_job,
            job=NotebookJob(notebook, job.parameters, job.output_html, job.title),
            source=source,
            parameters=params,
            html_path=build / relative,
            debug_path=debug_dir / relative.with_suffix(".ipynb"),
        )
        futures.append(pool.submit(task))
    if own_pool is not None:
        own_pool.shutdown()  # each kernel stops as soon as no notebook is left for it
    bar = tqdm(
        total=len(futures),
        desc="Rendering",
        unit="notebook",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    raise error
            bar.update(len(done))
    except BaseException:
        pool.stop(futures)  # the other notebooks: cancelled, interrupted, killed if need be
        raise
    finally:
        bar.close()


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
