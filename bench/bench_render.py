"""Benchmark of the rendering machinery (``make bench``; a plain script, not a test).

Median of 3 runs, after one untimed warm-up round (a warm venv: imports done, files in
the page cache), of:

a. baseline: a trivial one-cell notebook through stock papermill (a new kernel) and a new
   nbconvert exporter with the project's template;
b. the whole report: 11 small notebooks (pandas + plotly, two figures each, the kind the
   tests use) through ``render_notebooks`` with 2 forked workers;
c. one such notebook through ``render_notebooks`` (a stand-in for the fleet report).

Targets: b <= 3 x a, c <= 1.5 x a. ``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter

from reliability.report.render import (
    TEMPLATE_NAME,
    TEMPLATES_DIR,
    NotebookJob,
    render_notebooks,
)

ROOT = Path(__file__).resolve().parents[1]
CHARTS = ROOT / "tests" / "notebooks" / "plotly_charts.ipynb"
SERVICES = 10
RUNS = 3
REPORT_TARGET = 3.0
FLEET_TARGET = 1.5


def trivial_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    path = folder / "trivial.ipynb"
    nbformat.write(nb, path)
    return path


def baseline(notebook: Path, out: Path) -> None:
    executed = papermill.execute_notebook(
        str(notebook), None, kernel_name="python3", progress_bar=False
    )
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    html, _ = exporter.from_notebook_node(executed)
    out.write_text(html, encoding="utf-8")


def report_jobs(count: int) -> list[NotebookJob]:
    jobs = [NotebookJob(CHARTS, {"service": "fleet", "points": 30}, Path("index.html"), "Fleet")]
    for i in range(count - 1):
        jobs.append(
            NotebookJob(
                CHARTS,
                {"service": f"service-{i}", "points": 30 + i},
                Path(f"services/service-{i}.html"),
                f"service-{i}",
            )
        )
    return jobs


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        work = Path(tmp)
        notebook = trivial_notebook(work)
        report = report_jobs(SERVICES + 1)
        fleet = report[:1]

        def run_baseline() -> None:
            baseline(notebook, work / "baseline.html")

        def run_report() -> None:
            render_notebooks(report, work / "report", workers=2, progress=False)

        def run_fleet() -> None:
            render_notebooks(fleet, work / "fleet", workers=2, progress=False)

        for action in (run_baseline, run_report, run_fleet):  # warm-up round, not timed
            action()
        times: dict[str, list[float]] = {"baseline": [], "report": [], "fleet": []}
        for _ in range(args.runs):
            times["baseline"].append(timed(run_baseline))
            times["report"].append(timed(run_report))
            times["fleet"].append(timed(run_fleet))

        median = {name: statistics.median(values) for name, values in times.items()}
        sizes = sorted(p.stat().st_size for p in (work / "report").rglob("*.html"))

    # The stock path now and then takes about 4 s instead of 0.6: compare with the baseline's
    # fastest run, which flatters nothing.
    ratio_report = median["report"] / min(times["baseline"])
    ratio_fleet = median["fleet"] / min(times["baseline"])
    print(f"render benchmark, median of {args.runs} (seconds; all runs in brackets)")
    for name, label in (
        ("baseline", "a. baseline: trivial notebook, stock papermill + nbconvert"),
        ("report", f"b. report: {SERVICES + 1} chart notebooks, 2 workers"),
        ("fleet", "c. fleet stand-in: 1 chart notebook"),
    ):
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {label:<62} {median[name]:6.2f}  [{runs}]")
    print(f"  report / baseline = {ratio_report:.2f}  (target <= {REPORT_TARGET})")
    print(f"  fleet / baseline  = {ratio_fleet:.2f}  (target <= {FLEET_TARGET})")
    print(
        f"  HTML per page: {sizes[0] / 1e6:.2f}-{sizes[-1] / 1e6:.2f} MB, "
        f"{sum(sizes) / 1e6:.1f} MB for {len(sizes)} pages"
    )
    missed = ratio_report > REPORT_TARGET or ratio_fleet > FLEET_TARGET
    if args.check and missed:
        print("target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
