"""The loopback HTTP/1.1 server: routing, streaming, faults, connection tracking.

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

import io
import json
import re
import selectors
import socket
import socketserver
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._formats import (
    Context,
    ErrorFamily,
    WireFormat,
    error_response,
    fault_index,
    html_error_page,
    openai_error_object,
    request_id_headers,
)
from ._formats_openai import CHAT, COMPLETIONS, RESPONSES
from ._formats_others import ANTHROPIC, GEMINI, OLLAMA_CHAT, OLLAMA_GENERATE
from ._script import Fault, Script

__all__ = ["LoopbackServer", "RecordedRequest"]

_ROUTES: dict[str, WireFormat] = {
    "/v1/chat/completions": CHAT,
    "/v1/completions": COMPLETIONS,
    "/v1/responses": RESPONSES,
    "/v1/messages": ANTHROPIC,
    "/api/chat": OLLAMA_CHAT,
    "/api/generate": OLLAMA_GENERATE,
}
_GEMINI_PATH = re.compile(r"/v1beta/models/[^/:]+:streamGenerateContent")
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
_MID_STREAM = frozenset(
    {"stall", "drop", "drop_mid_line", "malformed_json", "oversized_event", "error_event"}
)
_PIECE = 64 * 1024
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it (header names lower-case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


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
        self._httpd: _TCPServer | None = None
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
            httpd = _TCPServer(self, (self._host, self._port))
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


class _TCPServer(socketserver.TCPServer):
    """Accepts connections and gives each one a tracked daemon thread."""

    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, owner: LoopbackServer, address: tuple[str, int]) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve,
            args=(request, client_address),
            name=f"streamactors-loopback-conn-{self.owner.connections_total + 1}",
            daemon=True,
        )
        self.owner._opened(request, thread)
        thread.start()

    def _serve(self, request: socket.socket, client_address: Any) -> None:
        try:
            context = self.owner.ssl_context
            if context is not None:  # the handshake runs here, not on the accept thread
                tls = context.wrap_socket(request, server_side=True,
                                          do_handshake_on_connect=False)
                self.owner._wrapped(request, tls)
                request = tls
                tls.do_handshake()
            self.finish_request(request, client_address)
        except OSError:
            pass  # the client went away; nothing to report
        finally:
            self.shutdown_request(request)
            self.owner._closed(request)


class _Abort(Exception):
    """The stream cannot go on: the client left or the server is stopping."""


class _Handler(BaseHTTPRequestHandler):
    """One connection: answers its requests one after another (keep-alive)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "streamactors-loopback"
    server: _TCPServer
    _selector: selectors.BaseSelector | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log of ``http.server``."""

    def version_string(self) -> str:
        return self.server_version

    def finish(self) -> None:
        if self._selector is not None:
            self._selector.close()
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # -- request side -------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        request = RecordedRequest(self.command, url.path, query, headers, self._read_body())
        number = owner._record(request)
        fmt = _ROUTES.get(url.path) if self.command == "POST" else None
        if fmt is None and self.command == "POST" and _GEMINI_PATH.fullmatch(url.path):
            fmt = GEMINI
        if fmt is None:
            message = f"Invalid URL ({self.command} {url.path}): no loopback route"
            error = {**openai_error_object(404, message), "code": None}
            self._send_whole(404, _JSON, json.dumps({"error": error}).encode())
            return
        try:
            body = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            self._send_error(fmt.family, 400, "request body is not valid JSON", number)
            return
        if fmt is GEMINI and request.query.get("alt") != "sse":
            message = "loopback server: streamGenerateContent needs ?alt=sse"
            self._send_error("gemini", 400, message, number)
            return
        options = body.get("stream_options") if isinstance(body, dict) else None
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        ctx = Context(number=number, include_usage=include_usage, created=int(time.time()))
        try:
            self._stream(fmt, owner._take_script(), ctx)
        except (_Abort, OSError):
            self.close_connection = True

    # -- response side ------------------------------------------------------------------

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_whole(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self._send_head(status, {**headers, "content-length": str(len(body))})
        self.wfile.write(body)

    def _send_error(
        self,
        family: ErrorFamily,
        status: int,
        message: str,
        number: int,
        retry_after: float | None = None,
    ) -> None:
        headers, body = error_response(family, status, message, number, retry_after)
        self._send_whole(status, headers, body)

    def _stream(self, fmt: WireFormat, script: Script, ctx: Context) -> None:
        fault = script.fault
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "http_error":
            if self.server.owner._should_fail(script, fault):
                status, message = fault.status, fault.message
                self._send_error(fmt.family, status, message, ctx.number, fault.retry_after)
                return
            fault = kind = None  # its `times` are used up: stream normally
        if kind == "html_200":
            self._send_whole(200, {"content-type": "text/html; charset=utf-8"}, html_error_page())
            return
        headers = {
            "content-type": fmt.content_type,
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
            **request_id_headers(fmt.family, ctx.number),
        }
        if kind == "gzip":
            headers["content-encoding"] = "gzip"
        self._send_head(200, headers)
        drip = fault.delay if fault is not None and kind == "slow_drip" else None
        out = _ChunkWriter(self.wfile, self._pause, kind == "gzip", drip)
        if kind != "empty_body":
            if not self._send_pieces(fmt, script, ctx, out, fault):
                self.close_connection = True
                return
        out.end()

    def _send_pieces(
        self, fmt: WireFormat, script: Script, ctx: Context, out: _ChunkWriter, fault: Fault | None
    ) -> bool:
        """Write the pieces with pacing and the mid-stream fault; False = close now."""
        pieces = fmt.render(script, ctx)
        fire = -1
        if fault is not None and fault.kind in _MID_STREAM:
            fire = fault_index(pieces, fault.after)
        interval = 1.0 / script.tokens_per_second if script.tokens_per_second else 0.0
        due: float | None = None
        for i, piece in enumerate(pieces):
            if i == fire and fault is not None:
                if fault.kind == "stall":
                    self._pause(fault.seconds)
                elif fault.kind == "malformed_json":
                    out.write(fmt.malformed)
                elif fault.kind == "error_event":
                    out.write(fmt.error_event(fault, ctx, i))
                    return True
                else:
                    if fault.kind == "drop_mid_line":
                        out.write(piece.data[: len(piece.data) // 2])
                    elif fault.kind == "oversized_event":
                        out.write(fmt.oversized_prefix)
                        block = b"x" * _PIECE
                        for start in range(0, fault.size, _PIECE):
                            out.write(block[: min(_PIECE, fault.size - start)])
                    return False
            if piece.content and interval:
                now = time.monotonic()
                if due is not None and due > now:
                    self._pause(due - now)
                    now = due
                due = now + interval
            out.write(piece.data)
        return True

    def _pause(self, seconds: float) -> None:
        """Wait without sending; raise ``_Abort`` if the client leaves or we stop."""
        owner = self.server.owner
        deadline = time.monotonic() + seconds
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
            self._selector.register(self.connection, selectors.EVENT_READ)
        while not owner._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if not self._selector.select(remaining):
                continue
            try:
                # socket.socket's own recv: under TLS this peeks at the raw
                # TCP bytes (b"" is EOF either way), which SSLSocket refuses.
                peeked = socket.socket.recv(self.connection, 1, socket.MSG_PEEK)
            except OSError:
                raise _Abort from None
            if not peeked:
                raise _Abort
            # The client sent bytes mid-response (pipelining); the socket stays
            # readable, so only the stop event can shorten this wait.
            if owner._stopping.wait(max(0.0, deadline - time.monotonic())):
                break
            return
        raise _Abort


class _ChunkWriter:
    """Writes pieces as HTTP chunks, optionally gzip-compressed or dripped."""

    def __init__(
        self,
        wfile: io.BufferedIOBase,
        pause: Callable[[float], None],
        compress: bool,
        drip_delay: float | None,
    ) -> None:
        self._wfile = wfile
        self._pause = pause
        self._compressor = zlib.compressobj(wbits=31) if compress else None
        self._drip_delay = drip_delay

    def write(self, data: bytes) -> None:
        if self._compressor is not None:
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if not data:
            return  # an empty chunk would end the body
        if self._drip_delay is None:
            self._wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            return
        for i in range(len(data)):
            if self._drip_delay > 0:
                self._pause(self._drip_delay)
            self._wfile.write(b"1\r\n%s\r\n" % data[i : i + 1])

    def end(self) -> None:
        if self._compressor is not None:
            tail = self._compressor.flush()
            self._compressor = None
            self.write(tail)
        self._wfile.write(b"0\r\n\r\n")
