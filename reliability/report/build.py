"""``reliability report``: compute the month once, render every notebook, write atomically.

The kernels start first, in the background, so their start-up overlaps loading the data and
computing the metrics; the notebooks then read the prepared metrics instead of recomputing.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# Light imports only: a caller starts the kernels before pandas, plotly and nbconvert load.
from reliability.report.kernels import DEFAULT_PRELOAD, KernelPool

if TYPE_CHECKING:
    from reliability.config import Config
    from reliability.period import Month

HISTORY_MONTHS = 6
"""Months computed for the trends, the report's month included."""

NOTEBOOKS_DIR = Path(
    os.environ.get("RELIABILITY_NOTEBOOKS", Path(__file__).resolve().parents[2] / "notebooks")
)
"""Where the report notebooks live (the repository's ``notebooks/``)."""
KERNEL_PRELOAD = (*DEFAULT_PRELOAD, "reliability.report.sections", "reliability.report.data")


@dataclass(frozen=True)
class BuiltReport:
    """What a report run wrote."""

    index: Path
    files: list[Path]


def start_kernels(workers: int = 2) -> KernelPool:
    """Start the report's kernels in the background; use the pool as a context manager."""
    return KernelPool(workers, preload=KERNEL_PRELOAD)


def build_report(
    config: Config,
    month: Month,
    out_root: Path,
    *,
    config_path: str | None = None,
    workers: int = 2,
    progress: bool = False,
    history_months: int = HISTORY_MONTHS,
    with_services: bool = True,
    pool: KernelPool | None = None,
) -> BuiltReport:
    """Render ``out_root/YYYY-MM/``: the fleet report, one page per service, metrics.json.

    ``with_services=False`` renders the fleet page alone (its service links then dangle).
    ``pool`` is a started ``start_kernels()`` pool; without one, a pool is started here.
    """
    if pool is None:
        pages = 1 + (len(config.services) if with_services else 0)
        with start_kernels(min(workers, pages)) as own_pool:
            return build_report(
                config,
                month,
                out_root,
                config_path=config_path,
                workers=workers,
                progress=progress,
                history_months=history_months,
                with_services=with_services,
                pool=own_pool,
            )
    from reliability.compute import to_json
    from reliability.report.data import check_has_data, compute_report_data
    from reliability.report.render import NotebookJob, render_notebooks
    from reliability.report.sections import service_page
    from reliability.sources import load_frames

    label = config_path or "built-in sample organisation"
    frames = load_frames(config, month.history(history_months))
    data = compute_report_data(config, month, frames, history_months, config_label=label)
    check_has_data(data)
    with tempfile.TemporaryDirectory(prefix="reliability-report-") as scratch:
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
            workers=workers,
            files={"metrics.json": metrics},
            progress=progress,
            pool=pool,
        )
    return BuiltReport(index=out_dir / "index.html", files=written)
