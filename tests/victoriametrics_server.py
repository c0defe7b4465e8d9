"""A real VictoriaMetrics single-node server for tests: start, import counters, stop.

``victoria-metrics`` (Debian's package) listens on loopback on a free port with its storage in
a temporary folder. Counters go in through its JSON-lines import API (``/api/v1/import``, one
line per series, millisecond timestamps) and ``/internal/force_flush`` makes them searchable
at once. The query cache is off, so every answer is computed from the imported samples.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import requests
from prometheus_server import Series, free_port

START_TIMEOUT_SECONDS = 60.0
IMPORT_TIMEOUT_SECONDS = 120.0


def binary() -> str:
    """Path of ``victoria-metrics``; a missing binary is an error, never a skip."""
    found = shutil.which("victoria-metrics")
    if found is None:
        raise RuntimeError(
            "victoria-metrics not found on PATH: the VictoriaMetrics tests need a real server "
            "(`make system-deps` installs Debian's victoria-metrics package)"
        )
    return found


def import_lines(series: Iterable[Series]) -> bytes:
    """The series as ``/api/v1/import`` JSON lines: ``{"metric", "values", "timestamps"}``."""
    lines = []
    for one in series:
        metric = {"__name__": one.name, **one.labels}
        raw = np.asarray(one.values)
        values = raw.tolist() if raw.dtype.kind == "f" else raw.astype(np.int64).tolist()
        stamps = (np.asarray(one.timestamps, dtype=np.int64) * 1000).tolist()
        lines.append(json.dumps({"metric": metric, "values": values, "timestamps": stamps}))
    return ("\n".join(lines) + "\n").encode()


class VictoriaMetricsServer:
    """One ``victoria-metrics`` process on loopback with temporary storage; stop it when done."""

    def __init__(self, workdir: Path | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="victoria-metrics-"))
        self.data_dir = self.workdir / "storage"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "victoria-metrics.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VictoriaMetricsServer:
        """Start the server and wait until ``/health`` answers (raises with its log if not)."""
        self.port = free_port()
        command = [
            binary(),
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-retentionPeriod=100y",
            "-search.disableCache",
            "-loggerLevel=WARN",
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
                raise RuntimeError(f"victoria-metrics exited at start-up:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"victoria-metrics not ready after {START_TIMEOUT_SECONDS:.0f} s:\n{self.log()}"
        )

    def import_series(self, series: Iterable[Series]) -> None:
        """Import the series through ``/api/v1/import`` and make them searchable now."""
        answer = requests.post(
            f"{self.url}/api/v1/import", data=import_lines(series), timeout=IMPORT_TIMEOUT_SECONDS
        )
        if answer.status_code != 204:
            raise RuntimeError(f"import failed (HTTP {answer.status_code}): {answer.text[:2000]}")
        flushed = requests.get(f"{self.url}/internal/force_flush", timeout=IMPORT_TIMEOUT_SECONDS)
        if flushed.status_code != 200:
            raise RuntimeError(f"force_flush failed (HTTP {flushed.status_code})")

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

    def __enter__(self) -> VictoriaMetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
