"""A loopback HTTP server that answers one byte a second, as a stalled proxy or server does.

``mode="body"`` sends the status line and headers at once, then the body a byte at a time;
``mode="headers"`` trickles from the first byte of the status line. The server never finishes
an answer; ``stop`` ends its connections.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time

ANSWER = b'{"status": "success", "data": {"resultType": "matrix", "result": []}}'


class _Handler(socketserver.BaseRequestHandler):
    server: TricklingServer

    def handle(self) -> None:
        connection: socket.socket = self.request
        connection.settimeout(10)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                received += chunk
        except OSError:
            return
        self.server.count()
        body = ANSWER + b" " * 1_000_000
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        if self.server.mode == "body":
            connection.sendall(head)
            slow = body
        else:
            slow = head + body
        for position in range(len(slow)):
            if self.server.stopping.wait(self.server.interval):
                return
            try:
                connection.sendall(slow[position : position + 1])
            except OSError:
                return


class TricklingServer(socketserver.ThreadingTCPServer):
    """Answers every request one byte per ``interval`` seconds; ``requests`` counts them and
    ``first_request`` is when the first one arrived (``time.monotonic()``)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str = "body", interval: float = 1.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.interval = interval
        self.requests = 0
        self.first_request: float | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def count(self) -> None:
        with self._lock:
            self.requests += 1
            if self.first_request is None:
                self.first_request = time.monotonic()

    def start(self) -> TricklingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and end every connection."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)
