"""``reliability report``: render the pipeline's results into ``OUT/YYYY-MM/``.

The results arrive computed (``reliability.pipeline.report_results``, while the kernels of a
``KernelPool`` started with ``KERNEL_PRELOAD`` import the report's modules); they are written
once to a file the notebooks read back (``prepared``), every notebook is rendered on the
kernels (:mod:`reliability.report.render`), and ``metrics.json`` is written beside the pages,
all swapped into place at once. Then :mod:`reliability.report.onefile` points the pages at
one shared ``plotly.min.js`` and ``report.css`` and assembles the one-file report
(``reliability-report-YYYY-MM.html``), and :mod:`reliability.report.pdf` prints it to PDF when
asked; the folder is swapped into place again with all of it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from reliability.report import onefile, pdf
from reliability.report.render import KernelPool, NotebookJob, render_notebooks
from reliability.report.sections import service_page
from reliability.results import Results, report_json

KERNEL_PRELOAD = (
    "from reliability import pipeline\n"
    "from reliability.report import sections\n"
    "from reliability.report.plotting import warm_up\n"
    "warm_up()\n"
)
"""Run in every kernel as it starts: the imports and plotly set-up the notebooks share."""


def notebooks_dir() -> Path:
    """The report notebooks shipped with the package (the repository's ``notebooks/``)."""
    return Path(str(resources.files("reliability.notebooks")))


@dataclass(frozen=True)
class BuiltReport:
    """What a report run wrote."""

    index: Path
    files: list[Path]
    one_file: Path
    """The self-contained report to forward: the fleet and every service in one file."""
    pdf: Path | None = None


def report_jobs(
    results: Results, prepared: Path, *, with_services: bool = True
) -> list[NotebookJob]:
    """The fleet page and one page per service, each reading ``prepared``."""
    folder = notebooks_dir()
    month = results.month.label
    common = {"month": month, "prepared": str(prepared)}
    jobs = [
        NotebookJob(
            notebook=folder / "monthly_report.ipynb",
            parameters=common,
            output_html=Path("index.html"),
            title=f"Reliability report {month}",
        )
    ]
    if with_services:
        jobs += [
            NotebookJob(
                notebook=folder / "service_report.ipynb",
                parameters={**common, "service": name},
                output_html=Path("services") / service_page(name),
                title=f"{name}: reliability {month}",
            )
            for name in results.service_names()
        ]
    return jobs


def build_report(
    results: Results,
    out_root: Path,
    *,
    pool: KernelPool | None = None,
    workers: int | None = None,
    progress: bool = False,
    with_services: bool = True,
    cell_timeout: float | None = None,
    with_pdf: bool = False,
    pdf_timeout: float = pdf.DEFAULT_TIMEOUT_SECONDS,
) -> BuiltReport:
    """Render ``out_root/YYYY-MM/``: the fleet report, one page per service, metrics.json.

    ``with_services=False`` renders the fleet page alone (its service links then dangle).
    ``pool`` is a running kernel pool to render on (without one, ``workers`` kernels are
    started for the call), and ``cell_timeout`` stops a cell that runs longer (seconds;
    None: no limit). ``with_pdf`` also prints the one-file report to
    ``reliability-report-YYYY-MM.pdf`` (Chromium, at most ``pdf_timeout`` seconds); when that
    fails the report is written without it and :class:`~reliability.report.pdf.PDFError` is
    raised.
    """
    out_dir = Path(out_root) / results.month.label
    with tempfile.TemporaryDirectory(prefix="reliability-report-") as scratch:
        prepared = Path(scratch) / "results.pickle"
        results.save(prepared)
        metrics = json.dumps(report_json(results), indent=2) + "\n"
        jobs = report_jobs(results, prepared, with_services=with_services)
        render_notebooks(
            jobs,
            out_dir,
            pool=pool,
            workers=workers,
            files={"metrics.json": metrics},
            progress=progress,
            timeout=cell_timeout,
        )
    pages = [
        onefile.Page(
            PurePosixPath(job.output_html.as_posix()),
            (out_dir / job.output_html).read_text(encoding="utf-8"),
            job.parameters.get("service"),
        )
        for job in jobs
    ]
    files: dict[str, str | bytes] = {**onefile.share_assets(pages), "metrics.json": metrics}
    name = onefile.one_file_name(results.month.label)
    files[name] = onefile.one_file(pages, jobs[0].title)
    failure, pdf_path = None, None
    if with_pdf:
        pdf_path = out_dir / Path(name).with_suffix(".pdf")
        try:
            files[pdf_path.name] = pdf.print_pdf(files[name], timeout=pdf_timeout)
        except pdf.PDFError as exc:
            failure = pdf.PDFError(f"{exc}; the HTML report was written: {out_dir / name}")
            pdf_path = None
    written = render_notebooks([], out_dir, files=files, progress=False)
    if failure is not None:
        raise failure
    return BuiltReport(
        index=out_dir / "index.html", files=written, one_file=out_dir / name, pdf=pdf_path
    )
