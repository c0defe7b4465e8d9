"""Notebooks on a reused kernel pool against a new kernel each (``make bench``; a script).

Median of ``--runs`` (default 3) [min-max] after an untimed warm-up, in this process, for
``--notebooks`` (default 10) small notebooks with two plotly charts each
(``tests/notebooks/plotly_charts.ipynb``):

a. baseline: each through stock ``papermill.execute_notebook`` on a kernel of its own, then
   nbconvert's ``HTMLExporter`` with the project's template;
b. all of them through ``render_notebooks`` on two kernels started for the run (their start
   included), written atomically as a report folder.

Prints the seconds per notebook of each and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import papermill

from reliability.report.render import NotebookJob, export_html, render_notebooks

ROOT = Path(__file__).resolve().parents[1]
CHARTS = ROOT / "tests" / "notebooks" / "plotly_charts.ipynb"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--notebooks", type=int, default=10)
    args = parser.parse_args()
    parameters = [{"service": f"service-{i}", "points": 30 + i} for i in range(args.notebooks)]
    jobs = [NotebookJob(CHARTS, p, Path(f"{p['service']}.html"), p["service"]) for p in parameters]
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        work = Path(tmp)

        def baseline() -> None:
            for values in parameters:
                nb = papermill.execute_notebook(
                    str(CHARTS), None, parameters=values, progress_bar=False, cwd=str(ROOT)
                )
                (work / "baseline.html").write_text(export_html(nb, "x"), encoding="utf-8")

        def pool() -> None:
            render_notebooks(jobs, work / "report", workers=2, progress=False)

        times: dict[str, list[float]] = {"baseline": [], "pool": []}
        for round_ in range(args.runs + 1):  # the first round warms up, untimed
            for name, action in (("baseline", baseline), ("pool", pool)):
                started = time.perf_counter()
                action()
                if round_:
                    times[name].append((time.perf_counter() - started) / args.notebooks)

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"render benchmark: {args.notebooks} chart notebooks, median of {args.runs} [min-max]")
    load = " ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"  load average after the runs: {load} on {os.cpu_count()} cores")
    for name, label in (
        ("baseline", "a. a new kernel each (stock papermill + nbconvert)"),
        ("pool", "b. render_notebooks on 2 reused kernels"),
    ):
        spread = f"[{min(times[name]):.2f}-{max(times[name]):.2f}]"
        print(f"  {label:<52} {median[name]:5.2f} s per notebook {spread}")
    print(f"  pool / baseline = {median['pool'] / median['baseline']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
