"""The loopback HTTP/1.1 server: its lifecycle, scripts and bookkeeping.

Its connections are served by ``_handler`` (reading, routing, answering) and
bodies are sent by ``_sending`` (HTTP chunks, pacing, mid-stream faults).

Theory of operation:

* One accept thread runs ``socketserver``'s loop; every accepted connection
  gets its own daemon thread, recorded in ``LoopbackServer._connections`` until
  the thread has closed the socket. That record is what ``connections_open``
  counts and what ``stop()`` shuts down, so a client blocked on a stalled
  stream sees EOF at once.
* A request is read whole (Content-Length or chunked) and recorded before it
  is answered. Known paths take the next pushed script (or the default one),
  render it with the route's ``WireFormat`` and send each piece as one HTTP
  chunk on a socket with TCP_NODELAY, so every event leaves immediately.
* Every wait (pacing, stall, drip delay) watches the client socket: a client
  that closes ends the stream at once instead of after the wait, and
  ``stop()`` wakes it by shutting the socket down.
* A client that goes away mid-stream is normal here: the connection thread
  ends quietly, never with a traceback.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import deque

from ._handler import RecordedRequest, TCPServer
from ._script import Fault, Script

__all__ = ["LoopbackServer", "RecordedRequest"]

_PROVIDER_PREFIX = {
    "openai": "/v1",
    "openai-responses": "/v1",
    "mistral": "/v1",
    "openrouter": "/v1",
    "openai-compatible": "/v1",
    "anthropic": "",
    "gemini": "",
    "ollama": "",
}


class LoopbackServer:
    """A real HTTP/1.1 server on loopback that streams scripted LLM answers.

    Use it as a context manager (or ``start()``/``stop()``); point a client at
    ``url(provider)``. ``script`` answers every request unless ``push()`` queued
    scripts for the next ones. All public members are safe to use from any
    thread.
    """

    def __init__(
        self, script: Script | None = None, host: str = "127.0.0.1", port: int = 0,
        *, ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.script: Script = script if script is not None else Script()
        #: Serve HTTPS with this (server-side) context; None serves plain HTTP.
        self.ssl_context = ssl_context
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: deque[Script] = deque()
        self._requests: list[RecordedRequest] = []
        self._failures: dict[int, tuple[Script, int]] = {}
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_total = 0
        self._httpd: TCPServer | None = None
        self._accept_thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self._stopping = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind and start serving in background threads; returns self."""
        with self._lock:
            if self._httpd is not None:
                return self
            self._stopping = threading.Event()
            httpd = TCPServer(self, (self._host, self._port))
            bound_host, bound_port = httpd.server_address[:2]
            self._address = (str(bound_host), int(bound_port))
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"streamactors-loopback-accept-{bound_port}",
                daemon=True,
            )
            self._httpd, self._accept_thread = httpd, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every client connection, wait for the threads.

        Idempotent. Returns within about a second even while clients hang on
        stalled streams: their sockets are shut down, so they see EOF.
        """
        with self._lock:
            httpd, accept_thread = self._httpd, self._accept_thread
            self._httpd = self._accept_thread = None
        if httpd is None or accept_thread is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 1.0
        accept_thread.join(max(0.0, deadline - time.monotonic()))
        for _, thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` (``https://`` with an ``ssl_context``) of the
        running server."""
        if self._address is None:
            raise RuntimeError("the loopback server is not started")
        host, port = self._address
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{port}"

    def url(self, provider: str) -> str:
        """The base URL a client passes for a provider prefix."""
        try:
            return self.base_url + _PROVIDER_PREFIX[provider]
        except KeyError:
            known = ", ".join(sorted(_PROVIDER_PREFIX))
            raise ValueError(f"unknown provider {provider!r} (known: {known})") from None

    # -- scripts and observations -------------------------------------------------------

    def push(self, *scripts: Script) -> None:
        """Queue scripts to answer the next requests, one each, in order."""
        with self._lock:
            self._queue.extend(scripts)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def connections_total(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections_total

    @property
    def connections_open(self) -> int:
        """TCP connections accepted and not yet closed by the server."""
        with self._lock:
            return len(self._connections)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        """Block until ``n`` requests arrived; False on timeout."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._requests) >= n, timeout)

    # -- used by the connection threads -------------------------------------------------

    def _opened(self, sock: socket.socket, thread: threading.Thread) -> None:
        with self._lock:
            self._connections[sock] = thread
            self._connections_total += 1

    def _wrapped(self, raw: socket.socket, tls: socket.socket) -> None:
        with self._lock:
            thread = self._connections.pop(raw, None)
            if thread is not None:
                self._connections[tls] = thread

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.pop(sock, None)

    def _record(self, request: RecordedRequest) -> int:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
            return len(self._requests)

    def _take_script(self) -> Script:
        with self._lock:
            return self._queue.popleft() if self._queue else self.script

    def _should_fail(self, script: Script, fault: Fault) -> bool:
        """Whether this use of ``script`` gets its ``http_error`` (see ``times``)."""
        if fault.times is None:
            return True
        with self._lock:
            # Keyed by identity; keeping the script alive keeps its id unique.
            count = self._failures.get(id(script), (script, 0))[1] + 1
            self._failures[id(script)] = (script, count)
            return count <= fault.times
