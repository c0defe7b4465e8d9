"""Reading the canonical CSV inputs: the typed read against the precise one (``make bench``).

Writes the sample organisation's month as CSV files at each ``--sizes`` (1 = the built-in 9
services, 10 = 90 services: ten times the rows) and, in a fresh process per run, loads and
computes the month (``pipeline.compute``, as ``reliability compute`` does):

* typed: as shipped; Arrow reads the table's columns with their types and no line numbers;
* precise (the baseline, measured in the same run): every file read cell by cell as text,
  with the line of every record, as a file with a problem still is (and every file was
  before the typed read).

Every figure is the median of ``--runs`` (default 3) with the range; the two ways alternate
within a round, so a busy machine slows both alike. Peak memory is the child's ``ru_maxrss``
(imports, reading and the month's figures). Target: the typed load at most half the
precise one's time (``--check`` exits 1 when missed). Not meant for 30x or 100x (minutes
and gigabytes per run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_SERVICES = 9
MONTH = "2026-10"
TARGET_RATIO = 0.5


def child(mode: str, config: str) -> None:
    """One load and computation of the month (the child process); prints its figures."""
    started = time.perf_counter()
    from reliability import pipeline
    from reliability.sources import files

    if mode == "precise":
        files._typed_table = lambda path, spec, keep=None: None  # every file the precise way
    cfg = pipeline.load_config(config)
    month = pipeline.resolve_month(MONTH, cfg)
    imported = time.perf_counter()
    frames = pipeline.load_inputs(cfg, [month])
    loaded = time.perf_counter()
    load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    pipeline.compute_month(cfg, frames, month, pipeline._clock(None))
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rows = 0 if frames.sli is None else len(frames.sli)
    print(
        json.dumps(
            {
                "imports": imported - started,
                "load": loaded - imported,
                "compute": done - imported,
                "load_peak": load_peak,
                "peak": peak,
                "rows": rows,
                "left_out": frames.left_out.get("metrics", 0),
                "sli_bytes": 0 if frames.sli is None else int(frames.sli.memory_usage().sum()),
            }
        )
    )


def write_month(folder: Path, size: int) -> Path:
    """The sample's month at ``size`` times its fleet as CSV files and a config reading them
    (the config's path); every bench writes its inputs this way."""
    import pandas as pd

    from reliability.period import parse_month
    from reliability.sources.sample import write_sample

    return write_sample(
        folder,
        parse_month(MONTH, "UTC"),
        services=BASE_SERVICES * size,
        now=pd.Timestamp("2027-01-01", tz="UTC"),
    )


def run_json(command: list[str], what: str, env: dict[str, str] | None = None) -> dict:
    """Run ``command`` (a fresh process) and read the JSON document it prints; a failed run
    ends the bench, quoting its errors."""
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"{what} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def run_child(mode: str, config: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return run_json([sys.executable, __file__, "--child", mode, str(config)], f"{mode} run", env)


def summary(values: list[float], scale: float = 1.0, unit: str = "s") -> str:
    scaled = [v / scale for v in values]
    return f"{statistics.median(scaled):.2f} {unit} ({min(scaled):.2f}-{max(scaled):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,10", help="multiples of the sample (default 1,10)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--modes", default="typed,precise", help="typed, precise or both (30x and up: typed)"
    )
    parser.add_argument(
        "--data", help="folder to write the inputs to and reuse on later runs (default: temporary)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "CONFIG"), help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, metavar=("FOLDER", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    if args.write:
        write_month(Path(args.write[0]), int(args.write[1]))
        return 0

    missed = []
    print(f"load average {os.getloadavg()[0]:.1f}; {args.runs} runs per figure, medians (range)")
    modes = [m.strip() for m in args.modes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-read-") as scratch:
        folder = Path(args.data) if args.data else Path(scratch)
        for size in (int(s) for s in args.sizes.split(",")):
            out = folder / f"x{size}"
            config = out / "reliability.yaml"
            if not config.is_file():  # in a process of its own, as bench_parquet explains
                command = [sys.executable, __file__, "--write", str(out), str(size)]
                subprocess.run(command, check=True)
            megabytes = sum(p.stat().st_size for p in out.glob("*.csv")) / 1e6
            results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
            run_child(modes[0], config)  # warm-up: the files in the page cache
            for _ in range(args.runs):
                for mode in results:
                    results[mode].append(run_child(mode, config))
            rows = int(results[modes[0]][0]["rows"])
            print(
                f"\n{size}x: {BASE_SERVICES * size} services, {rows:,} SLI rows, "
                f"{megabytes:.0f} MB of CSV"
            )
            for mode, runs in results.items():
                print(
                    f"  {mode:8} load {summary([r['load'] for r in runs])}, load + compute "
                    f"{summary([r['compute'] for r in runs])}, peak "
                    f"{summary([r['peak'] for r in runs], 1e9, 'GB')}"
                )
            if len(results) < 2:
                continue
            ratio = statistics.median(r["load"] for r in results["typed"]) / statistics.median(
                r["load"] for r in results["precise"]
            )
            memory = statistics.median(r["peak"] for r in results["typed"]) / statistics.median(
                r["peak"] for r in results["precise"]
            )
            print(
                f"  typed / precise: load {ratio:.2f}x, peak {memory:.2f}x "
                f"(target: load <= {TARGET_RATIO}x)"
            )
            if ratio > TARGET_RATIO:
                missed.append(f"{size}x load {ratio:.2f}x")
    if missed and args.check:
        print("missed: " + ", ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
