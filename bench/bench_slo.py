"""SLO engine at fleet scale: 1,000 SLOs x one 31-day month at 1-minute resolution.

Times every SLO figure (three budgeting methods, burn-rate series, alert replay, burn-down)
from the canonical SLI frame (44.6 million rows) and, in the same run, a plain numpy sum
over the same ``good``/``total`` arrays as the baseline. Targets: at most 10 s wall and
4 GB peak memory (the process's peak RSS, data generation included; read before the second
fleet is built).

Then the same fleet and the same events at a coarser step (``--step-minutes``, 5 by default:
each point sums five minutes), timed the same way, with its ratio to the 1-minute median.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import pandas as pd

from reliability.metrics import slo
from reliability.period import Month

TARGET_SECONDS = 10.0
TARGET_PEAK_GB = 4.0
TARGET_STEP_RATIO = 0.25
"""The 5-minute fleet's median against the 1-minute one's (reported, not enforced)."""


def fleet_frame(
    services: int, slos_per_service: int, period: Month, step_minutes: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A canonical SLI frame with traffic, background errors and a few outages, plus SLO table;
    at ``step_minutes`` each point holds the events of that many minutes."""
    rng = np.random.default_rng(7)
    minutes = int(period.duration / pd.Timedelta(minutes=1))
    series = services * slos_per_service
    service_names = [f"svc-{i:04d}" for i in range(services)]
    slo_names = [f"slo-{j}" for j in range(slos_per_service)]
    methods = np.array(["occurrences", "timeslices", "ratio_timeslices"])
    slos = pd.DataFrame(
        {
            "service": np.repeat(service_names, slos_per_service),
            "slo": np.tile(slo_names, services),
            "objective": rng.choice([0.99, 0.995, 0.999, 0.9995], series),
            "budgeting": methods[np.arange(series) % 3],
            "timeslice_minutes": np.where(np.arange(series) % 2 == 0, 1, 5),
            "timeslice_target": 0.95,
        }
    )
    shape = 1.0 + 0.5 * np.sin(np.arange(minutes) * 2 * np.pi / 1440)
    scale = rng.integers(20, 2000, series)
    total = (scale[:, None] * shape[None, :]).astype(np.int64)
    bad = rng.binomial(total, 0.0005)
    for row in range(0, series, 7):  # an outage every seventh SLO
        first = rng.integers(0, minutes - 120)
        bad[row, first : first + 90] = total[row, first : first + 90] // 3
    if step_minutes > 1:
        points = minutes // step_minutes
        cut = points * step_minutes
        total = total[:, :cut].reshape(series, points, step_minutes).sum(axis=2)
        bad = bad[:, :cut].reshape(series, points, step_minutes).sum(axis=2)
        minutes = points
    stamps = pd.date_range(period.start, periods=minutes, freq=f"{step_minutes}min")
    frame = pd.DataFrame(
        {
            "timestamp": np.tile(stamps.as_unit("ns").asi8, series).view("datetime64[ns]"),
            "service": pd.Categorical.from_codes(
                np.repeat(np.arange(services), slos_per_service * minutes), service_names
            ),
            "slo": pd.Categorical.from_codes(
                np.tile(np.repeat(np.arange(slos_per_service), minutes), services), slo_names
            ),
            "good": (total - bad).ravel(),
            "total": total.ravel(),
        }
    )
    frame["timestamp"] = frame["timestamp"].dt.tz_localize("UTC")
    return frame, slos


def all_slo_numbers(frame: pd.DataFrame, slos: pd.DataFrame, period: Month) -> slo.SLOReport:
    """What the report needs: grid, budgets, burn-down, alert replay, a 1h burn-rate series."""
    grid = slo.build_grid(frame, slos, period)
    report = slo.slo_report(grid, period)
    for chunk in range(0, len(slos), slo.ROWS_PER_CHUNK):
        slo.burn_rate_series(grid, pd.Timedelta(hours=1), slice(chunk, chunk + slo.ROWS_PER_CHUNK))
    return report


def timed(
    frame: pd.DataFrame, slos: pd.DataFrame, period: Month, repeat: int
) -> tuple[list[float], list[float], slo.SLOReport]:
    """Engine and numpy-sum baseline wall times of ``repeat`` runs, and the last report."""
    good, total = frame["good"].to_numpy(), frame["total"].to_numpy()
    baseline, engine = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        good.sum(), total.sum()
        baseline.append(time.perf_counter() - started)
        started = time.perf_counter()
        report = all_slo_numbers(frame, slos, period)
        engine.append(time.perf_counter() - started)
    return engine, baseline, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--slos-per-service", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--step-minutes", type=int, default=5, help="step of the second fleet (0: none)"
    )
    args = parser.parse_args()
    period = Month(2026, 10)
    frame, slos = fleet_frame(args.services, args.slos_per_service, period)
    engine, baseline, report = timed(frame, slos, period, args.repeat)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    median_engine, median_baseline = statistics.median(engine), statistics.median(baseline)
    minutes = frame["timestamp"].nunique()
    runs = ", ".join(f"{t:.2f}" for t in engine)
    missed = int((report.table["status"] == "missed").sum())
    print(f"slo engine: {len(slos)} SLOs x {minutes} minutes = {len(frame):,} rows")
    print(f"  all SLO numbers    median {median_engine:.2f} s  (runs: {runs})")
    print(f"  numpy sum baseline median {median_baseline:.3f} s")
    print(f"  ratio to baseline  {median_engine / median_baseline:.0f}x")
    print(f"  peak memory {peak_gb:.2f} GB (whole process, data included)")
    print(f"  alert episodes {len(report.alerts)}, SLOs missed {missed}")
    if args.step_minutes > 1:
        del frame, report
        step = args.step_minutes
        coarse, slos = fleet_frame(args.services, args.slos_per_service, period, step)
        coarse_engine, _, coarse_report = timed(coarse, slos, period, args.repeat)
        median_coarse = statistics.median(coarse_engine)
        runs = ", ".join(f"{t:.2f}" for t in coarse_engine)
        print(f"slo engine at a {step}-minute step: {len(coarse):,} rows, the same events")
        print(f"  all SLO numbers    median {median_coarse:.2f} s  (runs: {runs})")
        ratio = median_coarse / median_engine
        print(f"  ratio to the 1-minute median {ratio:.2f}")
        print(f"  alert episodes {len(coarse_report.alerts)}")
        verdict = "met" if ratio <= TARGET_STEP_RATIO else "NOT MET"
        print(f"  target <= {TARGET_STEP_RATIO:.2f} of the 1-minute median: {verdict}")
    ok = median_engine <= TARGET_SECONDS and peak_gb <= TARGET_PEAK_GB
    verdict = "met" if ok else "NOT MET"
    print(f"  target <= {TARGET_SECONDS:.0f} s and <= {TARGET_PEAK_GB:.0f} GB: {verdict}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
