"""The loopback server's connections: accepting them on tracked threads,
reading each request, routing it to a wire format and answering it.

A connection thread knows its ``LoopbackServer`` only through ``Owner``, the
few members it calls, so this module does not import the server's.
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from ._formats import (
    Context,
    ErrorFamily,
    WireFormat,
    error_response,
    html_error_page,
    openai_error_object,
    request_id_headers,
)
from ._formats_openai import CHAT, COMPLETIONS, RESPONSES
from ._formats_others import ANTHROPIC, GEMINI, OLLAMA_CHAT, OLLAMA_GENERATE
from ._script import Fault, Script
from ._sending import Abort, ChunkWriter, send_pieces

__all__ = ["Owner", "RecordedRequest", "TCPServer"]

_ROUTES: dict[str, WireFormat] = {
    "/v1/chat/completions": CHAT,
    "/v1/completions": COMPLETIONS,
    "/v1/responses": RESPONSES,
    "/v1/messages": ANTHROPIC,
    "/api/chat": OLLAMA_CHAT,
    "/api/generate": OLLAMA_GENERATE,
}
_GEMINI_PATH = re.compile(r"/v1beta/models/[^/:]+:streamGenerateContent")
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


class Owner(Protocol):
    """What the connection threads use of their ``LoopbackServer``."""

    ssl_context: ssl.SSLContext | None
    _stopping: threading.Event

    @property
    def connections_total(self) -> int: ...

    def _opened(self, sock: socket.socket, thread: threading.Thread) -> None: ...

    def _wrapped(self, raw: socket.socket, tls: socket.socket) -> None: ...

    def _closed(self, sock: socket.socket) -> None: ...

    def _record(self, request: RecordedRequest) -> int: ...

    def _take_script(self) -> Script: ...

    def _should_fail(self, script: Script, fault: Fault) -> bool: ...


class TCPServer(socketserver.TCPServer):
    """Accepts connections and gives each one a tracked daemon thread."""

    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, owner: Owner, address: tuple[str, int]) -> None:
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


class _Handler(BaseHTTPRequestHandler):
    """One connection: answers its requests one after another (keep-alive)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "streamactors-loopback"
    server: TCPServer
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
        except (Abort, OSError):
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
        out = ChunkWriter(self.wfile, self._pause, kind == "gzip", drip)
        if kind != "empty_body":
            if not send_pieces(fmt, script, ctx, out, fault, self._pause):
                self.close_connection = True
                return
        out.end()

    def _pause(self, seconds: float) -> None:
        """Wait without sending; raise ``Abort`` if the client leaves or we stop."""
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
                raise Abort from None
            if not peeked:
                raise Abort
            # The client sent bytes mid-response (pipelining); the socket stays
            # readable, so only the stop event can shorten this wait.
            if owner._stopping.wait(max(0.0, deadline - time.monotonic())):
                break
            return
        raise Abort

