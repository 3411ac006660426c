"""An OpenAI-compatible relay: ``POST /v1/chat/completions`` in, any provider out.

The relay accepts Chat Completions requests with ``stream: true`` from any
OpenAI client, streams the answer from the configured provider or router
route with streamactors, and re-emits it in OpenAI's format with ``to_sse``,
so an OpenAI SDK can talk to Anthropic, Gemini, Ollama... through it.

* It serves only what it was configured for (see ``_relay_models``): the
  routes of its router, its ``provider/model`` names (a bare model part such
  as ``"gpt-4o-mini"`` stands for the one configured name ending with it)
  and the names matching its ``allow_models`` patterns. Any other ``model``
  gets a 404 naming what is allowed: a misspelled model is never answered by
  another one.
* A ``base_url`` belongs to the provider of the configured models and is
  passed on their calls only, so no other provider's key is ever sent there.
* Non-streaming requests are refused with 400: the relay only streams.
* An upstream failure before the first chunk becomes the matching HTTP
  status and ``Retry-After`` with an OpenAI-style error body; the relay makes
  no upstream retries of its own by default (``max_retries=0``), so the
  client's own retry policy decides and retries do not multiply. After data
  it becomes an in-band ``{"error": ...}`` event, since the status line was
  already sent.
* A client that disconnects cancels its upstream stream.

It holds the upstream keys: bind it to loopback (the default), or give it
an ``api_key`` that clients must send as ``Authorization: Bearer ...``.
Built on the standard library's ``http.server``, one thread per connection.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import socket
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

from ..actors._stream import Error, StreamHandle
from ..api import Client, _check_retries
from ..errors import (
    ConfigurationError,
    HTTPStatusError,
    StreamError,
    StreamTimeout,
)
from ..router import Router
from ._reemit import error_body
from ._relay_models import ServedModels
from ._relay_stream import check_keepalive, first_message, overhead_ms, write_stream

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


class _Refused(ConfigurationError):
    """A request the relay answers itself with an OpenAI-style error: no
    ``model`` (400), or a model it does not serve (404, ``model_not_found``)."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


def _status_for(error: StreamError) -> int:
    if isinstance(error, HTTPStatusError) and error.status_code:
        return int(error.status_code)
    if isinstance(error, ConfigurationError):
        return 400
    if isinstance(error, StreamTimeout):
        return 504
    return 502  # connection errors, protocol errors, in-band provider errors


def _retry_after(error: StreamError) -> str | None:
    """The ``Retry-After`` value to pass on: whole seconds, rounded up so that
    a client never comes back earlier than the upstream asked."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return str(math.ceil(value))
    return None


class RelayServer:
    """An OpenAI-compatible streaming endpoint in front of any provider.

    Args:
        model: a ``provider/model`` to serve (added to ``models``).
        route: a route of ``router``; it is listed first by ``/v1/models``
            (every route of the router is served; none is a fallback for
            unknown names).
        router: routes a request's ``model`` field may name.
        client: the ``Client`` for ``provider/model`` requests (a new one by
            default).
        host, port: where to listen (port 0: any free port).
        api_key: when set, clients must send ``Authorization: Bearer <api_key>``.
        models: ``provider/model`` names to serve; a request may also name
            one by its model part alone when no other ends the same way.
        allow_models: ``fnmatch`` patterns over ``provider/model`` (such as
            ``"ollama/*"``); matching names are served too.
        base_url: the upstream base URL of the configured models, which must
            all be of one provider; it is passed on their calls only.
        max_retries: upstream retries before the first chunk, on every call
            (0 by default: an upstream 429/5xx reaches the client, whose own
            SDK retries it).
        keepalive: seconds of upstream silence after which a ``: keep-alive``
            comment is sent (None: never).

    Raises:
        ConfigurationError: an unknown route, a malformed model name or
            pattern, a ``base_url`` with models of several providers, a bad
            ``max_retries``, or nothing to serve.

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
        models: Sequence[str] = (),
        allow_models: Sequence[str] = (),
        base_url: str | None = None,
        max_retries: int = 0,
        keepalive: float | None = 15.0,
    ) -> None:
        if route is not None and (router is None or route not in router.routes):
            routes = ", ".join(router.routes) if router is not None else "none (no router)"
            raise ConfigurationError(f"unknown route {route!r}; routes: {routes}")
        served = [model] if model is not None else []
        served += [models] if isinstance(models, str) else list(models)
        self.served = ServedModels(router, served, allow_models, base_url, route)
        self.model = model
        self.route = route
        self.router = router
        self.max_retries = _check_retries(max_retries)
        self.keepalive = check_keepalive(keepalive)
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
        """What is served: routes (``route`` first), models, patterns as given."""
        return self.served.names()

    def open_stream(self, body: Mapping[str, Any]) -> StreamHandle:
        """Start the upstream stream a request asks for (``ConfigurationError``
        for a request that cannot be served, a ``_Refused`` with its status for
        a missing or unserved model)."""
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise _Refused(f"'model' is required; allowed: {', '.join(self.models())}",
                           param="model")
        refused = sorted(k for k in body if k in _REFUSED_FIELDS)
        if refused:
            raise ConfigurationError(f"unsupported request field(s): {', '.join(refused)}")
        params = {k: v for k, v in body.items() if k not in _OWN_FIELDS}
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise ConfigurationError("'messages' must be a list of messages")
        target = self.served.target(name)
        if target is None:
            raise _Refused(self.served.not_served(name), status=404, param="model",
                           code="model_not_found")
        if target.route is not None and self.router is not None:
            handle = self.router.chat(target.route, messages, max_retries=self.max_retries,
                                      **params)
        else:
            assert target.model is not None
            handle = self._client.chat(target.model, messages, base_url=target.base_url,
                                       max_retries=self.max_retries, **params)
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
              param: str | None = None, code: str | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": type_, "param": param,
                                      "code": code}})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "streamactors"}
                    for m in self.server.relay.models()]
            self._json(200, {"object": "list", "data": data})
            return
        self._fail(404, f"no route for GET {path}", "not_found_error")

    def do_POST(self) -> None:
        self._received = perf_counter()
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
        except _Refused as exc:
            self._fail(exc.status, str(exc), param=exc.param, code=exc.code)
            return
        except ConfigurationError as exc:
            self._fail(400, str(exc))
            return
        try:
            self._relay(handle, include_usage)
        finally:
            relay.closed_stream(handle)

    def _relay(self, handle: StreamHandle, include_usage: bool) -> None:
        assert handle._channel is not None  # started with stream_to=None
        messages = handle._channel.messages_or_idle(handle, self.server.relay.keepalive)
        first = first_message(messages)
        if isinstance(first, Error):  # failed before any data: a real HTTP status
            err = first.error
            retry_after = _retry_after(err)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            self._json(_status_for(err), error_body(err), headers)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("x-streamactors-overhead-ms", overhead_ms(self._received, handle))
        self.end_headers()
        try:
            write_stream(self.wfile.write, handle, first, messages, include_usage)
        except OSError:  # the client went away: stop the upstream stream too
            handle.cancel()
            self.close_connection = True
