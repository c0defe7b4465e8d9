"""A real Prometheus for tests and benchmarks: counters as OpenMetrics, backfill, start, stop.

``promtool tsdb create-blocks-from openmetrics`` turns the text into TSDB blocks and a
``prometheus`` bound to loopback serves them. Counters are sampled every minute, on the minute,
so that ``increase(x[5m])`` evaluated on a step boundary sees a sample at both edges of its
window and its result is the exact difference of two samples (Prometheus 2.x range selectors
include both ends; with no gap at either edge nothing is extrapolated).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

MINUTE_SECONDS = 60
START_TIMEOUT_SECONDS = 60.0
MAX_BLOCK_DURATION = "744h"
"""One block per 31 days: promtool's default (2h blocks) would write hundreds of small blocks."""


def binaries() -> tuple[str, str]:
    """Paths of ``prometheus`` and ``promtool``; a missing binary is an error, never a skip."""
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise RuntimeError(
            f"{' and '.join(missing)} not found on PATH: the Prometheus tests need a real server "
            "(`make system-deps` installs Debian's prometheus package)"
        )
    return str(found["prometheus"]), str(found["promtool"])


@dataclass
class Series:
    """One counter series: cumulative ``values`` sampled at unix seconds ``timestamps``."""

    name: str
    labels: Mapping[str, str]
    timestamps: np.ndarray
    values: np.ndarray

    def text(self) -> str:
        """The series as OpenMetrics sample lines (no trailing newline); float values (which
        may be ``NaN`` or ``±Inf``) are written as floats, others as integers."""
        labels = ",".join(f'{key}="{value}"' for key, value in self.labels.items())
        prefix = f"{self.name}{{{labels}}} " if labels else f"{self.name} "
        raw = np.asarray(self.values)
        if raw.dtype.kind == "f":
            values = [_float_text(v) for v in raw.tolist()]
        else:
            values = [str(v) for v in raw.astype(np.int64).tolist()]
        stamps = np.asarray(self.timestamps, dtype=np.int64).tolist()
        return "\n".join(f"{prefix}{v} {t}" for v, t in zip(values, stamps, strict=True))


def _float_text(value: float) -> str:
    """A float as OpenMetrics spells it: ``NaN``, ``+Inf``, ``-Inf`` or its repr."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def cumulative(
    per_minute: np.ndarray,
    start_seconds: int,
    *,
    base: int = 1000,
    reset_at: int | None = None,
    gap: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps and values of a counter counting ``per_minute[i]`` events in minute ``i``.

    Samples are taken one minute before ``start_seconds`` and then at every minute up to and
    including the end of the last minute, so sample ``k`` (``k = 0`` at ``start_seconds``) is
    ``base`` plus the events of minutes ``0 .. k-1``. ``reset_at=k`` restarts the counter from
    zero just before minute ``k - 1`` (as a process restart would): sample ``k`` is then the
    events of minute ``k - 1`` alone. ``gap=(a, b)`` drops the samples ``a < k < b``.
    """
    counts = np.asarray(per_minute, dtype=np.int64)
    minutes = len(counts)
    values = np.concatenate([[base, base], base + np.cumsum(counts)])
    stamps = start_seconds + MINUTE_SECONDS * np.arange(-1, minutes + 1, dtype=np.int64)
    if reset_at is not None:
        position = reset_at + 1  # index of sample k in ``values``
        restart_from = values[position - 1]
        values[position:] -= restart_from
        if restart_from and values[position] >= restart_from:
            raise ValueError("the reset would not be visible as a drop in the counter")
    if gap is not None:
        first, after = gap
        keep = np.ones(len(values), dtype=bool)
        keep[first + 2 : after + 1] = False
        stamps, values = stamps[keep], values[keep]
    return stamps, values


def write_openmetrics(path: Path, families: Mapping[str, tuple[str, Iterable[Series]]]) -> Path:
    """Write ``{family: (type, series)}`` as one OpenMetrics exposition ending with ``# EOF``."""
    with open(path, "w", encoding="utf-8") as handle:
        for family, (kind, series) in families.items():
            handle.write(f"# TYPE {family} {kind}\n")
            for one in series:
                handle.write(one.text())
                handle.write("\n")
        handle.write("# EOF\n")
    return path


def backfill(openmetrics: Path, data_dir: Path) -> None:
    """Create TSDB blocks in ``data_dir`` from an OpenMetrics file with ``promtool``."""
    _, promtool = binaries()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        promtool,
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        f"--max-block-duration={MAX_BLOCK_DURATION}",
        "--quiet",
        str(openmetrics),
        str(data_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"promtool failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """One ``prometheus`` process on loopback serving a backfilled TSDB; stop it when done."""

    def __init__(self, data_dir: Path, workdir: Path | None = None, rules: str | None = None):
        self.data_dir = Path(data_dir)
        self.rules = rules
        """A rule file's YAML for the server to load (its ``/api/v1/rules``), or none."""
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="prometheus-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        """Start the server and wait until ``/-/ready`` answers (raises with its log if not)."""
        prometheus, _ = binaries()
        config = self.workdir / "prometheus.yml"
        text = "global:\n  scrape_interval: 1m\nscrape_configs: []\n"
        if self.rules is not None:
            (self.workdir / "rules.yml").write_text(self.rules, encoding="utf-8")
            text += "rule_files: [rules.yml]\n"
        config.write_text(text, encoding="utf-8")
        self.port = free_port()
        command = [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=20y",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        log = open(self.log_path, "wb")  # handed to the child process, closed here
        try:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited at start-up:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"prometheus not ready after {START_TIMEOUT_SECONDS:.0f} s:\n{self.log()}"
        )

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within a few seconds)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log(self) -> str:
        """The last lines the server logged."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def copy_tsdb(source: Path, target: Path) -> Path:
    """A copy of a backfilled TSDB (blocks only), for a second server that may be stopped."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(source):
        if entry.is_dir() and len(entry.name) == 26:  # block directories are ULIDs
            shutil.copytree(entry.path, target / entry.name)
    return target
