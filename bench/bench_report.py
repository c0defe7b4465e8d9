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

* with ``--scale CONFIG`` (a larger fleet, e.g. ``reliability sample --services 200 --out
  DIR``), the fleet page alone and the whole report of that fleet, first run, in the same
  rounds (not warmed up: they are long): the difference divided by its number of services is
  the cost of one extra service page at that scale, against the same baseline.

Peak memory is the largest sum of the resident sizes of the run's processes (the report and
its kernels; papermill and its kernel for the baseline), sampled every 50 ms. The load
average is printed beside the figures (the ratios, measured in the same rounds, are what
holds on a shared machine). Targets: the whole report (first run) at most 2x the baseline, a
service page at most 0.25x. ``--config`` measures another organisation (``--month`` its
month); ``--check`` exits 1 on a missed target.
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


def report_runs(work: Path, month: str, config: str | None, tag: str = "") -> dict:
    """The fleet page alone and the whole report (first run, and as scheduled) of one fleet."""
    option = ["--config", str(Path(config).resolve())] if config else []
    report = [sys.executable, "-m", "reliability", "report", "--month", month, *option]
    fleet = [sys.executable, __file__, "--fleet-only", str(work / f"fleet{tag}")]
    return {
        f"fleet{tag}": [[*fleet, "--month", month, *option]],
        f"report{tag}": [[*report, "--out", str(work / f"first{tag}"), "--no-cache"]],
        f"scheduled{tag}": [[*report, "--out", str(work / f"scheduled{tag}")]],
    }


def spread(values: list[float], digits: int = 1) -> str:
    """``median [min-max]``."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages and the number of cores."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return " ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="reliability.yaml (default: the sample organisation)")
    parser.add_argument("--scale", metavar="CONFIG", help="reliability.yaml of a larger fleet")
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--fleet-only", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fleet_only:
        fleet_only(args.fleet_only, args.month, args.config)
        return 0
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work, log = Path(tmp), Path(tmp) / "stderr.log"
        executed = str(work / "monthly_report.ipynb")
        parameters = ["-p", "month", args.month]
        if args.config:
            parameters += ["-p", "config", str(Path(args.config).resolve())]
        runs = {
            "baseline": [
                [str(BIN / "papermill"), str(NOTEBOOK), executed, *parameters, "--no-progress-bar"],
                [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", executed],
            ],
            **report_runs(work, args.month, args.config),
        }
        if args.scale:
            scale = report_runs(work, args.month, args.scale, "@scale")
            runs |= {name: scale[name] for name in ("fleet@scale", "report@scale")}
        times: dict[str, list[float]] = {name: [] for name in runs}
        peaks: dict[str, int] = dict.fromkeys(runs, 0)
        for round_ in range(args.runs + 1):  # the first round warms up, untimed
            for name, commands in runs.items():
                if not round_ and "@" in name:  # the long runs at scale are not warmed up
                    continue
                seconds, peak = measure(commands, log)
                print(f"  round {round_} {name}: {seconds:.1f} s", file=sys.stderr)
                if round_:
                    times[name].append(seconds)
                    peaks[name] = max(peaks[name], peak)
        pages = sorted((work / "first" / args.month).rglob("*.html"))
        sizes = [page.stat().st_size for page in pages]
        counts = {"": len(pages) - 1}
        if args.scale:
            counts["@scale"] = len(list((work / "first@scale" / args.month).rglob("*.html"))) - 1

    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["baseline"]
    # Paired by round (fleet and whole report run back to back): less drift from the load.
    per_page = {
        tag: [
            (r - f) / max(n, 1)
            for r, f in zip(times[f"report{tag}"], times[f"fleet{tag}"], strict=True)
        ]
        for tag, n in counts.items()
    }
    labels = {
        "baseline": "baseline: papermill CLI + nbconvert CLI, fleet notebook",
        "report": f"whole report, first run (fleet + {counts['']} service pages)",
        "scheduled": "whole report, as scheduled (earlier months cached)",
        "fleet": "fleet page alone, first run",
    }
    if args.scale:
        labels["report@scale"] = f"at scale: whole report, first run ({counts['@scale']} services)"
        labels["fleet@scale"] = "at scale: fleet page alone, first run"
    print(
        f"report benchmark: {args.config or 'sample organisation'} {args.month}"
        + (f", at scale {args.scale}" if args.scale else "")
        + f"; median of {args.runs} [min-max] (seconds), ratio to the baseline, peak memory"
    )
    print(f"  load average before: {load_before}; after: {loadavg()}")
    for name, label in labels.items():
        ratio = "" if name == "baseline" else f"{median[name] / base:5.2f}x"
        print(f"  {label:<62} {spread(times[name]):>18} {ratio:>6}  {peaks[name] / 2**20:6.0f} MB")
    for tag, runs_ in per_page.items():
        where = f"at scale ({counts[tag]} services)" if tag else f"({counts[tag]} services)"
        print(
            f"  one service page {where}: {spread(runs_, 2)} s = "
            f"{statistics.median(runs_) / base:.3f}x the baseline (target <= {PAGE_TARGET})"
        )
    print(f"  whole report / baseline = {median['report'] / base:.2f} (target <= {REPORT_TARGET})")
    print(
        f"  HTML: {len(pages)} pages, {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB each, "
        f"{sum(sizes) / 1e6:.1f} MB in all"
    )
    page_cost = max(statistics.median(runs_) for runs_ in per_page.values())
    missed = median["report"] > REPORT_TARGET * base or page_cost > PAGE_TARGET * base
    if args.check and missed:
        print("target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
