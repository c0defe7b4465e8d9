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
  DIR``), after those rounds, one process as ``reliability report`` runs it (``--jobs 2``):
  the month computed once, then ``--runs`` times the fleet page alone and the whole report
  rendered on the same kernels; the difference divided by the number of services is the cost
  of one extra service page at that scale, against the same baseline; the whole run is the
  computation plus the whole report's rendering.

Peak memory is the largest sum of the resident sizes of the run's processes (the report and
its kernels; papermill and its kernel for the baseline), sampled every 50 ms. The load
average is printed beside the figures (the ratios, measured in the same rounds, are what
holds on a shared machine). Targets: the whole report (first run) at most 2x the baseline, a
service page at most 0.25x. ``--config`` measures another organisation (``--month`` its
month); ``--check`` exits 1 on a missed target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

STARTED = time.perf_counter()  # the process's start, for the child at scale
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


def measure(commands: list[list[str]], log: Path, stdout: Path | None = None) -> tuple[float, int]:
    """Run ``commands`` one after another; seconds taken and peak memory of any of them."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    peak = 0
    started = time.perf_counter()
    for command in commands:
        with log.open("ab") as stderr, open(stdout or os.devnull, "wb") as out:
            process = psutil.Popen(command, env=env, stdout=out, stderr=stderr)
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


def scale_pages(out: str, month: str, config: str, runs: int) -> None:
    """At scale: compute once (from the process's start, imports included), render the fleet
    page once untimed (the kernels' preload), then the fleet page alone and the whole report
    ``runs`` times on the same kernels; prints the seconds as JSON (the child process)."""
    from reliability import pipeline
    from reliability.report.build import KERNEL_PRELOAD, build_report
    from reliability.report.render import KernelPool, default_workers

    cfg = pipeline.load_config(config)
    with KernelPool(default_workers(), preload=KERNEL_PRELOAD) as pool:
        results = pipeline.report_results(
            cfg, pipeline.resolve_month(month, cfg), label=pipeline.config_label(config)
        )
        timings = {"compute": time.perf_counter() - STARTED, "fleet": [], "whole": []}
        build_report(results, Path(out) / "warm-up", pool=pool, with_services=False)
        for run in range(runs):
            for name, services in (("fleet", False), ("whole", True)):
                begun = time.perf_counter()
                build_report(results, Path(out) / f"{name}{run}", pool=pool, with_services=services)
                timings[name].append(time.perf_counter() - begun)
                print(
                    f"  at scale, run {run + 1} {name}: {timings[name][-1]:.1f} s", file=sys.stderr
                )
    print(json.dumps({**timings, "services": len(results.service_names())}))


def report_runs(work: Path, month: str, config: str | None) -> dict:
    """The fleet page alone and the whole report (first run, and as scheduled) of one fleet."""
    option = ["--config", str(Path(config).resolve())] if config else []
    report = [sys.executable, "-m", "reliability", "report", "--month", month, *option]
    return {
        "fleet": [
            [
                sys.executable,
                __file__,
                "--fleet-only",
                str(work / "fleet"),
                "--month",
                month,
                *option,
            ]
        ],
        "report": [[*report, "--out", str(work / "first"), "--no-cache"]],
        "scheduled": [[*report, "--out", str(work / "scheduled")]],
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
    parser.add_argument("--scale-pages", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fleet_only:
        fleet_only(args.fleet_only, args.month, args.config)
        return 0
    if args.scale_pages:
        scale_pages(args.scale_pages, args.month, args.config, args.runs)
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
        times: dict[str, list[float]] = {name: [] for name in runs}
        peaks: dict[str, int] = dict.fromkeys(runs, 0)
        for round_ in range(args.runs + 1):  # the first round warms up, untimed
            for name, commands in runs.items():
                seconds, peak = measure(commands, log)
                print(f"  round {round_} {name}: {seconds:.1f} s", file=sys.stderr)
                if round_:
                    times[name].append(seconds)
                    peaks[name] = max(peaks[name], peak)
        pages = sorted((work / "first" / args.month).rglob("*.html"))
        sizes = [page.stat().st_size for page in pages]
        load_sample = loadavg()
        if args.scale:
            child = [sys.executable, __file__, "--scale-pages", str(work / "scale")]
            child += ["--month", args.month, "--config", str(Path(args.scale).resolve())]
            output = work / "scale.json"
            _, scale_peak = measure([[*child, "--runs", str(args.runs)]], log, stdout=output)
            scale = json.loads(output.read_text())

    median = {name: statistics.median(values) for name, values in times.items()}
    base, services = median["baseline"], len(pages) - 1
    # Paired by round (fleet and whole report run back to back): less drift from the load.
    pairs = zip(times["report"], times["fleet"], strict=True)
    page_costs = {services: [(r - f) / max(services, 1) for r, f in pairs]}
    labels = {
        "baseline": "baseline: papermill CLI + nbconvert CLI, fleet notebook",
        "report": f"whole report, first run (fleet + {services} service pages)",
        "scheduled": "whole report, as scheduled (earlier months cached)",
        "fleet": "fleet page alone, first run",
    }
    print(
        f"report benchmark: {args.config or 'sample organisation'} {args.month}; median of "
        f"{args.runs} [min-max] (seconds), ratio to the baseline, peak memory"
    )
    print(f"  load average (1, 5, 15 min) before: {load_before}; after: {load_sample}")
    for name, label in labels.items():
        ratio = "" if name == "baseline" else f"{median[name] / base:5.2f}x"
        print(f"  {label:<58} {spread(times[name]):>18} {ratio:>6}  {peaks[name] / 2**20:6.0f} MB")
    if args.scale:
        n = scale["services"]
        page_costs[n] = [(w - f) / n for w, f in zip(scale["whole"], scale["fleet"], strict=True)]
        whole_run = [scale["compute"] + w for w in scale["whole"]]
        print(f"  at scale, {args.scale} ({n} services), one process, load after: {loadavg()}")
        print(
            f"    month computed once                                     {scale['compute']:7.1f}"
        )
        for name, label in (
            ("fleet", "fleet page alone, rendered"),
            ("whole", "whole report, rendered"),
        ):
            print(f"    {label:<54} {spread(scale[name]):>18}")
        print(
            f"    whole run (computation + whole report)                 {spread(whole_run):>18} "
            f"{statistics.median(whole_run) / base:5.2f}x  {scale_peak / 2**20:6.0f} MB peak"
        )
    for n, costs in page_costs.items():
        print(
            f"  one service page ({n} services): {spread(costs, 2)} s = "
            f"{statistics.median(costs) / base:.3f}x the baseline (target <= {PAGE_TARGET})"
        )
    print(f"  whole report / baseline = {median['report'] / base:.2f} (target <= {REPORT_TARGET})")
    print(
        f"  HTML: {len(pages)} pages, {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB each, "
        f"{sum(sizes) / 1e6:.1f} MB in all"
    )
    page_cost = max(statistics.median(costs) for costs in page_costs.values())
    missed = median["report"] > REPORT_TARGET * base or page_cost > PAGE_TARGET * base
    if args.check and missed:
        print("target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
