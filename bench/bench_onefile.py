"""Sizes of the report a reader forwards, against the number of services (a plain script).

For each ``--services N`` (default 2 and 9): ``reliability sample --services N`` writes an
organisation, ``reliability report`` renders its month, and the script prints the size of the
one-file report, of the month's folder, the time the report took, and the growth per added
service between the smallest and each larger organisation. Targets: the one file at most
10 MB and the folder at most 15 MB for the sample organisation (9 services), growing by at
most 300 KB per added service. ``--check`` exits 1 on a missed target; ``--keep DIR`` keeps
the organisations and reports there.

    .venv/bin/python bench/bench_onefile.py --services 2 9 200
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MONTH = "2026-10"
SAMPLE_SERVICES = 9
ONE_FILE_TARGET = 10 * 2**20
FOLDER_TARGET = 15 * 2**20
GROWTH_TARGET = 300 * 2**10
BIN = Path(sys.executable).parent


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def render(services: int, work: Path) -> tuple[int, int, float]:
    """One-file bytes, folder bytes and seconds of the report of a ``services``-service org."""
    org, out = work / f"org-{services}", work / f"reports-{services}"
    reliability = str(BIN / "reliability")
    subprocess.run(
        [reliability, "sample", "--services", str(services), "--out", str(org), "--month", MONTH],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    started = time.perf_counter()
    subprocess.run(
        [
            *(reliability, "report", "--month", MONTH, "--no-cache"),
            *("--config", str(org / "reliability.yaml"), "--out", str(out)),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    month = out / MONTH
    return (month / f"reliability-report-{MONTH}.html").stat().st_size, folder_bytes(month), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", default=[2, SAMPLE_SERVICES])
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--keep", metavar="DIR", help="keep the organisations and reports here")
    args = parser.parse_args()
    counts = sorted(set(args.services))
    with tempfile.TemporaryDirectory(prefix="bench-onefile-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        sizes = {n: render(n, work) for n in counts}
    print(f"one-file report sizes, {MONTH}: services, one file, month folder, report time")
    for n, (one, folder, seconds) in sizes.items():
        print(
            f"  {n:>4} services  {one / 2**20:7.2f} MiB  {folder / 2**20:7.2f} MiB"
            f"  {seconds:6.1f} s"
        )
    smallest = counts[0]
    missed = []
    for n in counts[1:]:
        growth = (sizes[n][0] - sizes[smallest][0]) / (n - smallest)
        print(f"  one file grows {growth / 2**10:.0f} KiB per service from {smallest} to {n}")
        missed += [f"growth {smallest}->{n}"] if growth > GROWTH_TARGET else []
    if SAMPLE_SERVICES in sizes:
        one, folder, _ = sizes[SAMPLE_SERVICES]
        missed += ["one file"] if one > ONE_FILE_TARGET else []
        missed += ["folder"] if folder > FOLDER_TARGET else []
    if missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
