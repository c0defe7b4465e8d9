"""The whole report against stock papermill + nbconvert (``make bench``; a plain script).

Every run is a process of its own, as a scheduler starts it, and every figure is the median
of ``--runs`` (default 3) with the range, after one untimed warm-up round:

* baseline, measured in the same run: the stock ``papermill`` CLI on
  ``notebooks/monthly_report.ipynb`` for the organisation (the notebook loads and computes
  its data itself), then ``jupyter nbconvert --to html --no-input`` on the result;
* the whole ``reliability report`` (fleet page, every service page, metrics.json), first run
  (``--no-cache``: every month computed, as in the baseline) and as scheduled (the earlier
  months in the reports folder's month cache, as left by last month's run);
* the fleet page alone, first run: the difference to the whole report, divided by the
  number of services, is the cost of one service page.

Peak memory is the largest sum of the resident sizes of the run's processes (the report and
its kernels; papermill and its kernel for the baseline), sampled every 50 ms. Targets: the
whole report (first run) at most 2x the baseline, a service page at most 0.25x. ``--config``
measures another organisation (``--month`` its month); ``--check`` exits 1 on a missed target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = ROOT / "notebooks" / "monthly_report.ipynb"
REPORT_TARGET = 2.0
PAGE_TARGET = 0.25


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and everything it started."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(commands: list[list[str]], log: Path) -> tuple[float, int]:
    """Run ``commands`` one after another; seconds taken and peak memory of any of them."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    peak = 0
    started = time.perf_counter()
    for command in commands:
        with log.open("ab") as stderr:
            process = psutil.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            while process.poll() is None:
                peak = max(peak, tree_rss(process))
                time.sleep(0.05)
        if process.returncode:
            tail = log.read_text(errors="replace")[-3000:]
            sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{tail}")
    return time.perf_counter() - started, peak


def fleet_only(out: str, month: str, config: str | None) -> None:
    """The fleet page alone, as ``reliability report`` renders it (the child process)."""
    from reliability import pipeline
    from reliability.report.build import KERNEL_PRELOAD, build_report
    from reliability.report.render import KernelPool

    cfg = pipeline.load_config(config)
    with KernelPool(1, preload=KERNEL_PRELOAD) as pool:
        results = pipeline.report_results(
            cfg, pipeline.resolve_month(month, cfg), label=pipeline.config_label(config)
        )
        build_report(results, Path(out), pool=pool, with_services=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="reliability.yaml (default: the sample organisation)")
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--fleet-only", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fleet_only:
        fleet_only(args.fleet_only, args.month, args.config)
        return 0
    config = ["--config", str(Path(args.config).resolve())] if args.config else []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work, log = Path(tmp), Path(tmp) / "stderr.log"
        executed = str(work / "monthly_report.ipynb")
        parameters = ["-p", "month", args.month]
        if args.config:
            parameters += ["-p", "config", config[1]]
        report = [sys.executable, "-m", "reliability", "report", "--month", args.month, *config]
        runs = {
            "baseline": [
                [str(BIN / "papermill"), str(NOTEBOOK), executed, *parameters, "--no-progress-bar"],
                [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", executed],
            ],
            "fleet": [
                [
                    sys.executable,
                    __file__,
                    "--fleet-only",
                    str(work / "fleet"),
                    "--month",
                    args.month,
                    *config,
                ]
            ],
            "report": [[*report, "--out", str(work / "first"), "--no-cache"]],
            "scheduled": [[*report, "--out", str(work / "scheduled")]],
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        peaks: dict[str, int] = dict.fromkeys(runs, 0)
        for round_ in range(args.runs + 1):  # the first round warms up, untimed
            for name, commands in runs.items():
                seconds, peak = measure(commands, log)
                if round_:
                    times[name].append(seconds)
                    peaks[name] = max(peaks[name], peak)
        pages = sorted((work / "first" / args.month).rglob("*.html"))
        sizes = [page.stat().st_size for page in pages]

    median = {name: statistics.median(values) for name, values in times.items()}
    services = len(pages) - 1
    # Paired by round (fleet and whole report run back to back): less drift from the load.
    page_runs = [
        (r - f) / max(services, 1) for r, f in zip(times["report"], times["fleet"], strict=True)
    ]
    per_page, base = statistics.median(page_runs), median["baseline"]
    labels = {
        "baseline": "baseline: papermill CLI + nbconvert CLI, fleet notebook",
        "report": f"whole report, first run (fleet + {services} service pages)",
        "scheduled": "whole report, as scheduled (earlier months cached)",
        "fleet": "fleet page alone, first run",
    }
    print(
        f"report benchmark: {args.config or 'sample organisation'} {args.month}, "
        f"median of {args.runs} [min-max] (seconds), peak memory"
    )
    for name, label in labels.items():
        spread = f"[{min(times[name]):.1f}-{max(times[name]):.1f}]"
        ratio = "" if name == "baseline" else f"{median[name] / base:5.2f}x"
        print(
            f"  {label:<58} {median[name]:6.1f} {spread:>12} {ratio:>6}  "
            f"{peaks[name] / 2**20:6.0f} MB"
        )
    print(
        f"  one service page: {per_page:.2f} s [{min(page_runs):.2f}-{max(page_runs):.2f}]"
        f" = {per_page / base:.3f}x the baseline (target <= {PAGE_TARGET})"
    )
    print(f"  whole report / baseline = {median['report'] / base:.2f} (target <= {REPORT_TARGET})")
    print(
        f"  HTML: {len(pages)} pages, {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB each, "
        f"{sum(sizes) / 1e6:.1f} MB in all"
    )
    missed = median["report"] > REPORT_TARGET * base or per_page > PAGE_TARGET * base
    if args.check and missed:
        print("target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
