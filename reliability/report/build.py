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

from reliability.compute import to_json
from reliability.config import Config
from reliability.period import Month
from reliability.report.data import HISTORY_MONTHS, check_has_data, compute_report_data
from reliability.report.render import DEFAULT_PRELOAD, KernelPool, NotebookJob, render_notebooks
from reliability.report.sections import service_page
from reliability.sources import load_frames

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
) -> BuiltReport:
    """Render ``out_root/YYYY-MM/``: the fleet report, one page per service, metrics.json.

    ``with_services=False`` renders the fleet page alone (its service links then dangle).
    """
    label = config_path or "built-in sample organisation"
    pages = 1 + (len(config.services) if with_services else 0)
    with KernelPool(min(workers, pages), preload=KERNEL_PRELOAD) as pool:
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
