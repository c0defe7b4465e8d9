"""The real report for the sample organisation against a trivial notebook (``make bench``).

Median of 3 runs after an untimed warm-up (warm venv, files cached), all in this run:

a. baseline: a trivial one-cell notebook through stock papermill (a new kernel) and an
   nbconvert exporter with the project's template (from bench_render.py);
b. the fleet report alone: ``build_report`` without the service pages;
c. the whole ``reliability report``: fleet page, every service page, metrics.json.

Each of b and c includes loading the sample organisation's six months and computing every
metric, as a scheduled run does. Targets: b <= 1.5 x a, c <= 3 x a. Also prints the HTML sizes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_render import baseline, trivial_notebook

from reliability.period import Month
from reliability.report.build import build_report
from reliability.sources.sample import sample_config

MONTH = Month(2026, 10)
FLEET_TARGET = 1.5
REPORT_TARGET = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    config = sample_config()
    times: dict[str, list[float]] = {"baseline": [], "fleet": [], "report": []}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        notebook = trivial_notebook(work)
        actions = {
            "baseline": lambda: baseline(notebook, work / "baseline.html"),
            "fleet": lambda: build_report(config, MONTH, work / "fleet", with_services=False),
            "report": lambda: build_report(config, MONTH, work / "report"),
        }
        for action in actions.values():  # warm-up round, not timed
            action()
        for _ in range(args.runs):
            for name, action in actions.items():
                started = time.perf_counter()
                action()
                times[name].append(time.perf_counter() - started)
        fleet_html = (work / "report" / MONTH.label / "index.html").stat().st_size
        pages = sorted(p.stat().st_size for p in (work / "report").rglob("*.html"))

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"report benchmark, sample organisation {MONTH}, median of {args.runs} (seconds)")
    labels = {
        "baseline": "a. trivial one-cell notebook, stock papermill + nbconvert",
        "fleet": "b. fleet report alone (data, metrics, render, export)",
        "report": f"c. whole report: fleet + {len(config.services)} service pages + metrics.json",
    }
    for name, label in labels.items():
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {label:<70} {median[name]:6.2f}  [{runs}]")
    fleet_ratio = median["fleet"] / median["baseline"]
    report_ratio = median["report"] / median["baseline"]
    print(f"  fleet / baseline  = {fleet_ratio:.2f}  (target <= {FLEET_TARGET})")
    print(f"  report / baseline = {report_ratio:.2f}  (target <= {REPORT_TARGET})")
    print(
        f"  HTML: fleet page {fleet_html / 1e6:.2f} MB; service pages "
        f"{pages[0] / 1e6:.2f}-{pages[-1] / 1e6:.2f} MB; {sum(pages) / 1e6:.1f} MB in all"
    )
    missed = fleet_ratio > FLEET_TARGET or report_ratio > REPORT_TARGET
    if args.check and missed:
        print("target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
