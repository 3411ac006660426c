"""An OpenAI-compatible relay: ``POST /v1/chat/completions`` in, any provider out.

The relay accepts Chat Completions requests with ``stream: true`` from any
OpenAI client, streams the answer from the configured provider or router
route with streamactors, and re-emits it in OpenAI's format with ``to_sse``,
so an OpenAI SDK can talk to Anthropic, Gemini, Ollama... through it.

* The request's ``model`` may name a router route or a ``provider/model``;
  anything else (``"gpt-4o-mini"``) gets the relay's default model or route.
* Non-streaming requests are refused with 400: the relay only streams.
* An upstream failure before the first chunk becomes the matching HTTP
  status with an OpenAI-style error body (so clients retry 429/5xx as they
  would with OpenAI); after data it becomes an in-band ``{"error": ...}``
  event, since the status line was already sent.
* A client that disconnects cancels its upstream stream.

It holds the upstream keys: bind it to loopback (the default), or give it
an ``api_key`` that clients must send as ``Authorization: Bearer ...``.
Built on the standard library's ``http.server``, one thread per connection.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ._handle import StreamHandle
from ._messages import Error
from .api import Client
from .errors import (
    ConfigurationError,
    HTTPStatusError,
    StreamError,
    StreamTimeout,
)
from .providers import PROVIDERS
from .router import Router
from .sse import to_sse
from .sse._reemit import error_body

__all__ = ["RelayServer"]

log = logging.getLogger("streamactors")

_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
#: Request fields the relay handles itself instead of passing upstream.
_OWN_FIELDS = frozenset({"model", "messages", "stream", "stream_options"})
#: Names that are call options of ``chat()``, not request fields: a client must
#: not choose where the relay sends its keys (``base_url``) or which key it sends.
_REFUSED_FIELDS = frozenset({"base_url", "api_key", "api", "headers", "timeout", "max_retries",
                             "stream_to"})
MAX_REQUEST_BYTES = 32 * 1024 * 1024


def _status_for(error: StreamError) -> int:
    if isinstance(error, HTTPStatusError) and error.status_code:
        return int(error.status_code)
    if isinstance(error, ConfigurationError):
        return 400
    if isinstance(error, StreamTimeout):
        return 504
    return 502  # connection errors, protocol errors, in-band provider errors


class RelayServer:
    """An OpenAI-compatible streaming endpoint in front of any provider.

    Args:
        model: the default ``provider/model`` for requests naming no route or
            provider.
        route: the default route of ``router`` (instead of ``model``).
        router: routes a request's ``model`` field may name.
        client: the ``Client`` for ``provider/model`` requests (a new one by
            default).
        host, port: where to listen (port 0: any free port).
        api_key: when set, clients must send ``Authorization: Bearer <api_key>``.

    Use it as a context manager or with ``start()``/``stop()``; ``url`` is
    ``http://host:port`` (OpenAI clients take ``url + "/v1"``).
    ``serve_forever()`` serves in the calling thread instead.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        route: str | None = None,
        router: Router | None = None,
        client: Client | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
        api_key: str | None = None,
    ) -> None:
        if route is not None and (router is None or route not in router.routes):
            routes = ", ".join(router.routes) if router is not None else "none (no router)"
            raise ConfigurationError(f"unknown route {route!r}; routes: {routes}")
        self.model = model
        self.route = route
        self.router = router
        self._client = client if client is not None else Client()
        self._owns_client = client is None
        self._api_key = api_key
        self._live: set[StreamHandle] = set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._httpd = _Server((host, port), _Handler)
        self._httpd.relay = self

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket."""
        host, port = self._httpd.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> RelayServer:
        """Serve in a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                name="streamactors-relay", daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (or KeyboardInterrupt)."""
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        finally:
            self._cancel_live()

    def stop(self) -> None:
        """Stop listening, cancel running streams, close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(2.0)
            self._thread = None
        self._cancel_live()
        self._httpd.server_close()
        if self._owns_client:
            self._client.close()

    def _cancel_live(self) -> None:
        """Cancel running streams and hang up on connected clients."""
        with self._lock:
            live = list(self._live)
            sockets = list(self._sockets)
        for handle in live:
            handle.cancel()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> RelayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler ------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        if self._api_key is None:
            return True
        expected = f"Bearer {self._api_key}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    def models(self) -> list[str]:
        names = list(self.router.routes) if self.router is not None else []
        if self.model is not None:
            names.append(self.model)
        return names

    def open_stream(self, body: Mapping[str, Any]) -> StreamHandle:
        """Start the upstream stream a request asks for (``ConfigurationError``
        for a request that cannot be served)."""
        name = body.get("model")
        refused = sorted(k for k in body if k in _REFUSED_FIELDS)
        if refused:
            raise ConfigurationError(f"unsupported request field(s): {', '.join(refused)}")
        params = {k: v for k, v in body.items() if k not in _OWN_FIELDS}
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise ConfigurationError("'messages' must be a list of messages")
        router = self.router
        if router is not None and isinstance(name, str) and name in router.routes:
            handle = router.chat(name, messages, **params)
        elif isinstance(name, str) and name.split("/", 1)[0] in PROVIDERS and "/" in name:
            handle = self._client.chat(name, messages, **params)
        elif self.route is not None and router is not None:
            handle = router.chat(self.route, messages, **params)
        elif self.model is not None:
            handle = self._client.chat(self.model, messages, **params)
        else:
            known = ", ".join(self.models()) or "none"
            raise ConfigurationError(
                f"model {name!r} is neither 'provider/model' nor a route; routes: {known}"
            )
        with self._lock:
            self._live.add(handle)
        return handle

    def closed_stream(self, handle: StreamHandle) -> None:
        with self._lock:
            self._live.discard(handle)

    def connected(self, sock: socket.socket, open: bool) -> None:
        with self._lock:
            if open:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    relay: RelayServer


class _Handler(BaseHTTPRequestHandler):
    """One client connection (keep-alive; one request at a time)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "streamactors-relay"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.relay.connected(self.connection, True)

    def finish(self) -> None:
        self.server.relay.connected(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("relay: " + format, *args)

    def _json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _fail(self, status: int, message: str, type_: str = "invalid_request_error",
              param: str | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": type_, "param": param,
                                      "code": None}})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "streamactors"}
                    for m in self.server.relay.models()]
            self._json(200, {"object": "list", "data": data})
            return
        self._fail(404, f"no route for GET {path}", "not_found_error")

    def do_POST(self) -> None:
        relay = self.server.relay
        path = urlsplit(self.path).path.rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._fail(413, f"request body larger than {MAX_REQUEST_BYTES} bytes")
            return
        raw = self.rfile.read(length) if length else b""
        if path not in _PATHS:
            self._fail(404, f"no route for POST {path}; use /v1/chat/completions",
                       "not_found_error")
            return
        if not relay.authorized(self.headers.get("Authorization")):
            self._fail(401, "invalid API key for this relay", "authentication_error")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._fail(400, "the request body is not valid JSON")
            return
        if not isinstance(body, dict):
            self._fail(400, "the request body must be a JSON object")
            return
        if body.get("stream") is not True:
            self._fail(400, 'this relay only streams: set "stream": true', param="stream")
            return
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        try:
            handle = relay.open_stream(body)
        except ConfigurationError as exc:
            self._fail(400, str(exc))
            return
        try:
            self._relay(handle, include_usage)
        finally:
            relay.closed_stream(handle)

    def _relay(self, handle: StreamHandle, include_usage: bool) -> None:
        messages = iter(handle)
        first = next(messages)
        if isinstance(first, Error):  # failed before any data: a real HTTP status
            err = first.error
            headers = {}
            retry_after = getattr(err, "retry_after", None)
            if isinstance(retry_after, (int, float)):
                headers["Retry-After"] = str(max(0, round(retry_after)))
            self._json(_status_for(err), error_body(err), headers)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        write = self.wfile.write
        try:
            for data in to_sse(itertools.chain((first,), messages), include_usage=include_usage):
                write(b"%x\r\n%s\r\n" % (len(data), data))
            write(b"0\r\n\r\n")
        except OSError:  # the client went away: stop the upstream stream too
            handle.cancel()
            self.close_connection = True
