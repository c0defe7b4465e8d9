"""The month's SLO data against slo-generator 2.6.0, on a real Prometheus and VictoriaMetrics.

200 services, each with a ratio SLO over ``http_requests_total{job, code}`` (400 series:
``code="200"`` and ``code="500"``), sampled every 5 minutes from before the 3-day lookback to
the end of January 2026, are backfilled into a local Prometheus and imported into a local
VictoriaMetrics. On each engine, in the same run and in turn, each tool runs ``--runs`` times
as a subprocess, as a scheduler would run it:

* slo-generator 2.6.0 (its own CLI, ``slo-generator compute``, in a separate virtualenv the
  bench creates in ``.venv-bench/``), one SLO config per SLO with the Prometheus backend, the
  ``good_bad_ratio`` method and an error budget policy of the four windows 1h, 6h, 24h and 72h:
  eight instant queries per SLO. It queries at the server's "now", so its filters carry an
  ``@ <end of January>`` modifier: the same queries, evaluated where the data is;
* ``reliability compute`` for January at a 5-minute step (the whole month with its lookback,
  burn-down and alert replay), with one query per SLO side, then with the templated fleet
  form (``job="{service}"``, one query per side for all services).

Checked: our month's good and total of every SLO equal the server's own ``increase`` over the
month, and slo-generator's 72h counts equal an ``increase`` over the last 72 hours. Printed:
median wall time with min-max of each, and the ratio ``compute / slo-generator`` per engine.
Not run by the tests: ``python bench/bench_slo_generator.py`` (``--data-dir`` keeps the data
for the next run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from prometheus_server import (  # the shared test helpers live in tests/
    PrometheusServer,
    Series,
    backfill,
    write_openmetrics,
)
from victoriametrics_server import VictoriaMetricsServer, import_lines

from reliability.period import Month

ROOT = Path(__file__).resolve().parents[1]
MONTH = Month(2026, 1)
STEP_SECONDS = 300
LOOKBACK = pd.Timedelta(days=4)
"""Data starts this long before the month: the 3-day lookback of the replay, and some."""
WINDOWS = (("1 hour", 3600, 14.4), ("6 hours", 21600, 6.0), ("1 day", 86400, 3.0))
WINDOWS += (("3 days", 259200, 1.0),)
SLO_GENERATOR = "slo-generator[prometheus]==2.6.0"
BENCH_VENV = ROOT / ".venv-bench"
RELIABILITY = ROOT / ".venv" / "bin" / "reliability"


def service_names(count: int) -> list[str]:
    return [f"svc-{i:03d}" for i in range(count)]


def generate(services: list[str]) -> list[Series]:
    """Two counters per service (good and bad requests), one sample every 5 minutes."""
    rng = np.random.default_rng(11)
    start = int((MONTH.start - LOOKBACK).timestamp())
    end = int(MONTH.end.timestamp())
    stamps = np.arange(start, end + 1, STEP_SECONDS, dtype=np.int64)
    hour = ((stamps - start) % 86400) / 3600
    shape = 1.0 + 0.5 * np.cos(2 * np.pi * (hour[1:] - 15) / 24)
    series = []
    for name in services:
        total = rng.poisson(rng.uniform(250, 15000) * shape).astype(np.int64)
        bad = rng.binomial(total, rng.uniform(0.0002, 0.003))
        for code, counts in (("200", total - bad), ("500", bad)):
            values = 1000 + np.concatenate([[0], np.cumsum(counts)])
            series.append(
                Series("http_requests_total", {"job": name, "code": code}, stamps, values)
            )
    return series


def prepare_prometheus(data_dir: Path, series: list[Series], services: int) -> None:
    """Backfill the series into ``data_dir`` unless a previous run did."""
    marker = data_dir / f"bench-slo-generator-{MONTH.label}-{services}.done"
    if marker.exists():
        print(f"reusing the TSDB in {data_dir}", file=sys.stderr)
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    text = data_dir.parent / f"{data_dir.name}.om"
    write_openmetrics(text, {"http_requests": ("counter", series)})
    backfill(text, data_dir)
    text.unlink()
    marker.touch()


def import_victoriametrics(server: VictoriaMetricsServer, series: list[Series]) -> None:
    """The same series through ``/api/v1/import``, a few at a time, then flushed."""
    for first in range(0, len(series), 50):
        answer = requests.post(
            f"{server.url}/api/v1/import",
            data=import_lines(series[first : first + 50]),
            timeout=600,
        )
        if answer.status_code != 204:
            raise RuntimeError(f"import failed (HTTP {answer.status_code}): {answer.text[:500]}")
    requests.get(f"{server.url}/internal/force_flush", timeout=600).raise_for_status()


def ensure_slo_generator() -> Path:
    """``slo-generator`` 2.6.0 in its own virtualenv (its pinned dependencies stay out of ours)."""
    binary = BENCH_VENV / "bin" / "slo-generator"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        pip = [str(BENCH_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        # its CLI imports pkg_resources, which newer setuptools no longer ship
        subprocess.run([*pip, SLO_GENERATOR, "setuptools<81"], check=True)
    return binary


def write_slo_generator(folder: Path, url: str, services: list[str]) -> tuple[Path, Path]:
    """The shared config (backend, four-window policy) and one SLO config per service."""
    folder.mkdir(parents=True, exist_ok=True)
    steps = [
        {
            "name": name,
            "burn_rate_threshold": factor,
            "alert": True,
            "message_alert": "Page to defend the SLO",
            "message_ok": "On track",
            "window": seconds,
        }
        for name, seconds, factor in WINDOWS
    ]
    shared = {
        "backends": {"prometheus": {"url": url}},
        "exporters": {},
        "error_budget_policies": {"default": {"steps": steps}},
    }
    shared_path = folder / "config.yaml"
    shared_path.write_text(json.dumps(shared, indent=1), encoding="utf-8")
    slos = folder / "slos"
    slos.mkdir(exist_ok=True)
    at = int(MONTH.end.timestamp())
    for name in services:
        good = f'http_requests_total{{job="{name}",code!~"5.."}}'
        valid = f'http_requests_total{{job="{name}"}}'
        document = {
            "apiVersion": "sre.google.com/v2",
            "kind": "ServiceLevelObjective",
            "metadata": {
                "name": f"{name}-availability",
                "labels": {
                    "service_name": name,
                    "feature_name": "http",
                    "slo_name": "availability",
                },
            },
            "spec": {
                "description": "Availability of the HTTP API",
                "backend": "prometheus",
                "method": "good_bad_ratio",
                "exporters": [],
                "service_level_indicator": {
                    "filter_good": good + f"[window] @ {at}",
                    "filter_valid": valid + f"[window] @ {at}",
                },
                "goal": 0.999,
            },
        }
        (slos / f"slo_{name}.yaml").write_text(json.dumps(document, indent=1), encoding="utf-8")
    return slos, shared_path


def write_reliability(path: Path, url: str, services: list[str], templated: bool) -> Path:
    """200 ratio SLOs at a 5-minute step, per service or as one template."""

    def job(name: str) -> str:
        return "{service}" if templated else name

    document = {
        "sources": {
            "metrics": {
                "kind": "prometheus",
                "url": url,
                "step": "5m",
                "timeout": 600,
                "deadline": 3600,
            }
        },
        "services": [
            {
                "name": name,
                "team": "fleet",
                "slos": [
                    {
                        "name": "availability",
                        "objective": 0.999,
                        "indicator": {
                            "good": f'http_requests_total{{job="{job(name)}",code!~"5.."}}',
                            "total": f'http_requests_total{{job="{job(name)}"}}',
                        },
                    }
                ],
            }
            for name in services
        ],
    }
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")  # JSON is YAML
    return path


@dataclass
class Tool:
    """One command timed on one engine."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    output: str = ""
    """Standard output of the last run, then its standard error."""
    stdout: str = ""

    def run(self) -> None:
        started = time.perf_counter()
        done = subprocess.run(
            self.command,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            check=False,
        )
        self.seconds.append(time.perf_counter() - started)
        print(f"  {self.name}: {self.seconds[-1]:.2f} s", file=sys.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name} exited {done.returncode}:\n{done.stderr[-3000:]}")
        self.stdout = done.stdout
        self.output = done.stdout + done.stderr

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def figure(self) -> str:
        return f"{self.median:6.2f} s ({min(self.seconds):.2f}-{max(self.seconds):.2f})"


def server_increase(url: str, selector: str, seconds: int) -> dict[str, float]:
    """``sum by (job) (increase(selector[seconds]))`` at the end of the month, per job."""
    query = f"sum by (job) (increase({selector}[{seconds}s] @ {int(MONTH.end.timestamp())}))"
    answer = requests.post(f"{url}/api/v1/query", data={"query": query}, timeout=600).json()
    return {r["metric"]["job"]: float(r["value"][1]) for r in answer["data"]["result"]}


def check_counts(url: str, compute: Tool, slo_generator: Tool, services: list[str]) -> str:
    """Our month's counts and slo-generator's 72h counts against the server's own increase."""
    days = int(MONTH.days)
    good = server_increase(url, 'http_requests_total{code!~"5.."}', days * 86400)
    total = server_increase(url, "http_requests_total", days * 86400)
    month = json.loads(compute.stdout)
    ours = {
        row["service"]: (row["good"], row["total"])
        for row in month["slos"]
        if row.get("slo") == "availability"
    }
    wrong = [s for s in services if ours.get(s) != (round(good[s]), round(total[s]))]
    if wrong:
        raise AssertionError(f"month counts differ from increase[{days}d] for {wrong[:5]}")
    pattern = re.compile(
        r"(svc-\d+)-availability\s*\|\s*3 days\s*\|.*Good: (\S+)\s*\|\s*Bad: (\S+)"
    )
    found = {m[1]: (float(m[2]), float(m[3])) for m in pattern.finditer(slo_generator.output)}
    good = server_increase(url, 'http_requests_total{code!~"5.."}', 259200)
    total = server_increase(url, "http_requests_total", 259200)
    wrong = [s for s in services if found.get(s) != (round(good[s]), round(total[s] - good[s]))]
    if wrong:
        raise AssertionError(f"slo-generator 72h counts differ from increase[72h] for {wrong[:5]}")
    return (
        f"{len(services)} month counts = increase[{days}d]; "
        f"{len(found)} slo-generator 72h counts = increase[72h]"
    )


def measure(engine: str, url: str, work: Path, services: list[str], runs: int) -> list[Tool]:
    """Every tool ``runs`` times in turn on one engine; the counts checked once."""
    binary = ensure_slo_generator()
    slos, shared = write_slo_generator(work / f"slo-generator-{engine}", url, services)
    tools = [
        Tool("slo-generator 2.6.0", [str(binary), "compute", "-f", str(slos), "-c", str(shared)])
    ]
    for templated, name in ((False, "compute, query per SLO"), (True, "compute, templated")):
        config = write_reliability(work / f"{engine}-{templated}.yaml", url, services, templated)
        command = [str(RELIABILITY), "compute", "--config", str(config), "--month", MONTH.label]
        tools.append(Tool(name, [*command, "--format", "json"]))
    for tool in tools:  # one untimed round warms the server's and the page cache
        tool.run()
        tool.seconds.clear()
    for _ in range(runs):
        for tool in tools:
            tool.run()
    print(f"{engine}: {check_counts(url, tools[1], tools[0], services)}", file=sys.stderr)
    return tools


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200, help="services (one SLO each)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of every tool")
    parser.add_argument("--data-dir", type=Path, help="keep the Prometheus TSDB here")
    parser.add_argument(
        "--engine", choices=["prometheus", "victoriametrics", "both"], default="both"
    )
    args = parser.parse_args()
    services = service_names(args.services)
    work = Path(tempfile.mkdtemp(prefix="bench-slo-generator-"))
    data_dir = (args.data_dir or work / "tsdb").resolve()
    series = generate(services)
    results: dict[str, list[Tool]] = {}
    try:
        if args.engine in ("prometheus", "both"):
            prepare_prometheus(data_dir, series, len(services))
            with PrometheusServer(data_dir, data_dir.parent) as server:
                results["Prometheus"] = measure("prometheus", server.url, work, services, args.runs)
        if args.engine in ("victoriametrics", "both"):
            (work / "vm").mkdir()
            with VictoriaMetricsServer(work / "vm") as server:
                import_victoriametrics(server, series)
                results["VictoriaMetrics"] = measure("vm", server.url, work, services, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"\n{len(services)} ratio SLOs ({2 * len(services)} series, {MONTH.label} at 5-minute "
        f"samples), median of {args.runs} runs (min-max), load average {load}\n"
    )
    for engine, tools in results.items():
        baseline = tools[0]
        print(f"{engine}")
        for tool in tools:
            ratio = tool.median / baseline.median
            print(f"  {tool.name:<24} {tool.figure()}   x slo-generator {ratio:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
