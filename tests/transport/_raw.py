"""A loopback server that answers every request with canned bytes.

The transport tests need responses the scripted ``LoopbackServer`` does not
send (a ``Content-Length`` body, a body ended by closing, a 103 before the
answer, bytes after the body): this one sends exactly what a test gives.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

__all__ = ["RawServer", "head"]

Piece = bytes | threading.Event


def head(status: str = "200 OK", **headers: str) -> bytes:
    """A response head; header names from keywords (``content_length`` ->
    ``content-length``)."""
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class RawServer:
    """Answers each request with ``pieces`` (bytes sent as they are; an
    ``Event`` waits until it is set), then closes the connection when
    ``close``, else waits for the next request on it."""

    def __init__(self, *pieces: Piece, close: bool = False) -> None:
        self._pieces = pieces
        self._close = close
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.requests = 0
        self.connections = 0
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._accept = threading.Thread(target=self._accept_loop, name="rawserver-accept",
                                        daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        for piece in self._pieces:
            if isinstance(piece, threading.Event):
                piece.set()
        try:  # closing alone does not wake a thread blocked in accept()
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for thread in [self._accept, *self._threads]:
            thread.join(5)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                      name="rawserver-conn")
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            while _read_request(conn):
                self.requests += 1
                for piece in self._pieces:
                    if isinstance(piece, threading.Event):
                        piece.wait(10)
                    else:
                        conn.sendall(piece)
                if self._close:
                    conn.shutdown(socket.SHUT_WR)
                    return
        except OSError:
            pass


def _read_request(conn: socket.socket) -> bool:
    """Read one request (head and Content-Length body); False at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return False
        data += more
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head_bytes.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        more = conn.recv(65536)
        if not more:
            return False
        rest += more
    return True
