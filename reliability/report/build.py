"""``reliability report``: compute the month once, render every notebook, write atomically.

The data is loaded and every metric computed here, once, and saved for the notebooks, which
run on Jupyter kernels started meanwhile (:mod:`reliability.report.render`) and load it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reliability.config import Config
    from reliability.period import Month

HISTORY_MONTHS = 6
"""Months computed for the trends, the report's month included."""

NOTEBOOKS_DIR = Path(
    os.environ.get("RELIABILITY_NOTEBOOKS", Path(__file__).resolve().parents[2] / "notebooks")
)
"""Where the report notebooks live (the repository's ``notebooks/``)."""
CACHE_DIR = Path(".cache") / "months"
"""Computed months kept for later reports, inside the reports folder."""
KERNEL_PRELOAD = (
    "from reliability.report import data, sections\n"
    "from reliability.report.plotting import warm_up\n"
    "warm_up()\n"
)
"""Run in every kernel as it starts: the imports and plotly set-up the notebooks share."""


@dataclass(frozen=True)
class BuiltReport:
    """What a report run wrote."""

    index: Path
    files: list[Path]


def build_report(
    config: Config,
    month: Month,
    out_root: Path,
    *,
    config_path: str | None = None,
    workers: int | None = None,
    progress: bool = False,
    history_months: int = HISTORY_MONTHS,
    with_services: bool = True,
    use_cache: bool = True,
    cell_timeout: float | None = None,
) -> BuiltReport:
    """Render ``out_root/YYYY-MM/``: the fleet report, one page per service, metrics.json.

    ``with_services=False`` renders the fleet page alone (its service links then dangle).
    ``workers`` notebooks render at once (default: one per core, at most two). Earlier
    months come from ``out_root/.cache/months`` when their inputs are unchanged
    (``sources.cache``); ``use_cache=False`` computes them all afresh (and saves nothing).
    ``cell_timeout`` stops a notebook cell that runs longer (seconds; None: no limit).
    """
    from reliability.compute import to_json
    from reliability.report.data import check_has_data, prepare_report_data
    from reliability.report.render import KernelPool, NotebookJob, default_workers, render_notebooks
    from reliability.report.sections import service_page
    from reliability.sources.cache import MonthCache

    # The kernels start and import the report's modules while the data is computed.
    with (
        KernelPool(workers or default_workers(), preload=KERNEL_PRELOAD) as pool,
        tempfile.TemporaryDirectory(prefix="reliability-report-") as scratch,
    ):
        data = prepare_report_data(
            config,
            month,
            history_months,
            config_label=config_path or "built-in sample organisation",
            cache=MonthCache(Path(out_root) / CACHE_DIR) if use_cache else None,
        )
        check_has_data(data)
        prepared = Path(scratch) / "report-data.pickle"
        data.save(prepared)
        common = {"month": month.label, "config": config_path, "prepared": str(prepared)}
        jobs = [
            NotebookJob(
                notebook=NOTEBOOKS_DIR / "monthly_report.ipynb",
                parameters=common,
                output_html=Path("index.html"),
                title=f"Reliability report {month.label}",
            )
        ]
        jobs += [
            NotebookJob(
                notebook=NOTEBOOKS_DIR / "service_report.ipynb",
                parameters={**common, "service": name},
                output_html=Path("services") / service_page(name),
                title=f"{name}: reliability {month.label}",
            )
            for name in (data.service_names() if with_services else [])
        ]
        metrics = json.dumps(to_json(data.current), indent=2) + "\n"
        out_dir = Path(out_root) / month.label
        written = render_notebooks(
            jobs,
            out_dir,
            pool=pool,
            files={"metrics.json": metrics},
            progress=progress,
            timeout=cell_timeout,
        )
    return BuiltReport(index=out_dir / "index.html", files=written)
