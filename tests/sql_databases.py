"""Real databases for the ``kind: sql`` tests: canonical frames written into a DuckDB file, and a
throwaway PostgreSQL cluster (Debian's ``postgresql`` package) started on loopback and stopped
again, plus a TCP relay that counts the bytes a server sends its client."""

from __future__ import annotations

import glob
import io
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

START_TIMEOUT_SECONDS = 60.0


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A canonical frame with plain column types a database takes: labels as text, dates as
    dates, instants as they are (timestamps with a time zone)."""
    out = {}
    for name in frame.columns:
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(
            values.dtype
        ):
            out[name] = values.astype(object).where(values.notna(), None)
        elif name == "date":
            out[name] = values.dt.date
        elif str(values.dtype) == "Int64":
            out[name] = values.astype("float64")  # NULL where missing; whole numbers stay so
        else:
            out[name] = values
    return pd.DataFrame(out)


def duckdb_file(path: Path, tables: Mapping[str, pd.DataFrame]) -> Path:
    """``tables`` (canonical frames) written into a new DuckDB file at ``path``."""
    import duckdb

    connection = duckdb.connect(str(path))
    try:
        for name, frame in tables.items():
            data = plain(frame)
            connection.register("incoming", data)
            casts = ", ".join(
                f'CAST("{c}" AS BIGINT) AS "{c}"' for c in data.columns if c == "action_items_open"
            )
            replace = f" REPLACE ({casts})" if casts else ""
            connection.execute(f'CREATE TABLE "{name}" AS SELECT *{replace} FROM incoming')
            connection.unregister("incoming")
    finally:
        connection.close()
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server binaries; missing is an error, never a skip."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "initdb not found under /usr/lib/postgresql/*/bin: the SQL tests need a real "
            "PostgreSQL server (`make system-deps` installs Debian's postgresql package)"
        )
    return Path(found[-1]).parent


class PostgresServer:
    """A throwaway cluster in a temporary folder, on 127.0.0.1 at a free port, run as the
    ``postgres`` user when the tests run as root (initdb refuses root)."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="reliability-pg-"))
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "sockets"
        self.port = free_port()
        self.user = "reliability"
        self.password = "s3cr3t-pg-Pa55"
        self.database = "reliability"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        self.socket_dir.mkdir()
        if self.as_user:
            shutil.chown(self.socket_dir, "postgres")

    def _run(self, *args: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        subprocess.run(
            [*self.as_user, *args], check=True, capture_output=True, timeout=timeout, text=True
        )

    def start(self) -> PostgresServer:
        password_file = self.folder / "pw"
        password_file.write_text(self.password + "\n")
        if self.as_user:
            shutil.chown(password_file, "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--pwfile",
            str(password_file),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.socket_dir} -c fsync=off "
            "-c shared_buffers=32MB -c max_connections=20"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            str(int(START_TIMEOUT_SECONDS)),
            "start",
        )
        self.psql(f"CREATE DATABASE {self.database}", database="postgres")
        return self

    def url(self, port: int | None = None) -> str:
        """The SQLAlchemy URL of the database, password included (a secret)."""
        return (
            f"postgresql://{self.user}:{self.password}@127.0.0.1:{port or self.port}/"
            f"{self.database}?sslmode=disable"
        )

    def connect(self, database: str | None = None):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.database,
            autocommit=True,
        )

    def psql(self, statement: str, database: str | None = None) -> None:
        with self.connect(database) as connection:
            connection.execute(statement)

    def load(self, tables: Mapping[str, pd.DataFrame], types: Mapping[str, str]) -> None:
        """Create each table (its columns typed by ``types``, text otherwise) and COPY the
        frame's rows in."""
        with self.connect() as connection:
            for name, frame in tables.items():
                data = plain(frame)
                columns = ", ".join(f'"{c}" {types.get(c, "text")}' for c in data.columns)
                connection.execute(f'CREATE TABLE "{name}" ({columns})')
                buffer = io.StringIO()
                text = data.copy()
                for column in text.columns:
                    if isinstance(text[column].dtype, pd.DatetimeTZDtype):
                        text[column] = text[column].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
                    elif text[column].dtype == "float64" and types.get(column) == "bigint":
                        text[column] = text[column].astype("Int64")
                text.to_csv(buffer, index=False, header=False, na_rep="\\N")
                quoted = ", ".join(f'"{c}"' for c in data.columns)
                with connection.cursor().copy(
                    f"COPY \"{name}\" ({quoted}) FROM STDIN (FORMAT csv, NULL '\\N')"
                ) as copy:
                    copy.write(buffer.getvalue())
                connection.execute(f'ANALYZE "{name}"')

    def stop(self) -> None:
        """Stop the server if it runs (also after a failed start), then remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
                )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class ByteCounter:
    """A TCP relay on 127.0.0.1 that forwards to ``port`` and counts the bytes the server
    sends back (what the client receives over the wire); with ``stall_after``, it stops
    passing them on after that many bytes, as a network that goes silent mid-answer."""

    def __init__(self, port: int, stall_after: int | None = None):
        self.target = port
        self.stall_after = stall_after
        """Bytes from the server after which its answers are dropped (a network gone silent)."""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.received = 0
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if count:
                    with self.lock:
                        self.received += len(chunk)
                        if self.stall_after is not None and self.received > self.stall_after:
                            continue
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def reset(self) -> None:
        time.sleep(0.05)
        with self.lock:
            self.received = 0

    def close(self) -> None:
        self.closed = True
        self.listener.close()
