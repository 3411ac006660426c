"""Every reach into the private parts of requests, urllib3 and http.client.

DESIGN.md asks for "one small, guarded, tested place"; this is it. Nothing
else in the package touches a private name of those libraries, and
``tests/transport/test_internals.py`` pins each reach-in below against the
installed versions.

Theory of operation
-------------------
* **Versions.** The reach-ins were written for, and are tested with, urllib3
  2.x and requests 2.31 to 2.39. Outside those ranges ``enabled()`` is False
  (logged once): the transport then uses urllib3's and requests' public API
  only. Streams stay correct; what is lost is speed (bodies are read by
  urllib3, one call per HTTP chunk, never by the shared reader thread), the
  prompt cancel of a connect or of a wait for headers (bounded by the
  ``connect`` and ``read`` timeouts instead), the skipping of 1xx interim
  responses, and the keep-alive expiry of idle pooled connections.
* **Attributes.** Inside the ranges each reach-in still checks what it
  touches; a missing attribute of a real urllib3 / http.client object falls
  back to the public path and is logged once. (An object that is not one,
  such as a requests-mock body, falls back silently.)
* **Which stream sends.** urllib3 hands a pool no per-request context: its
  ``urlopen`` copies the request's headers and builds its own timeout, so the
  cancel token cannot ride along with the request. ``sending(token)`` sets it
  in a thread-local for the duration of ``Session.send``; the pool's
  ``_get_conn`` and the connection's ``_new_conn``, which run on that thread
  inside that call, read it. The thread-local exists here only.
"""

from __future__ import annotations

import http.client
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, cast

import requests
import urllib3
import urllib3.connection
import urllib3.exceptions
import urllib3.util.connection

from ._cancel import CancelToken, shutdown_socket

__all__ = ["HTTPConnection", "HTTPSConnection", "HookedPool", "SocketFile", "enabled",
           "idle_connections", "is_read_timeout", "pools_of", "release", "root_cause", "sending",
           "shutdown_connection", "shutdown_response", "socket_file", "socket_of"]

log = logging.getLogger("streamactors")

#: ``(first supported, first unsupported)`` versions of each library.
SUPPORTED_URLLIB3 = ((2, 0), (3, 0))
SUPPORTED_REQUESTS = ((2, 31), (2, 40))

#: Interim responses skipped, at most (nothing but 1xx must not last forever).
_MAX_INTERIM = 10
_MAX_HEADER_LINES = 100
_MAX_LINE: int = getattr(http.client, "_MAXLINE", 65536)  # http.client's own limit


# -- versions and the log line ---------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    """``(major, minor)`` of a version string ("2.0.0a1" -> (2, 0))."""
    return tuple(int("".join(c for c in p if c.isdigit()) or 0) for p in text.split(".")[:2])


def _within(version: str, bounds: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    return bounds[0] <= _version(version) < bounds[1]


@cache
def enabled() -> bool:
    """Whether the installed urllib3 and requests are versions whose internals
    are known here (else the public-API fallback; logged once)."""
    urllib3_version = str(getattr(urllib3, "__version__", "0"))
    ok = (_within(urllib3_version, SUPPORTED_URLLIB3)
          and _within(requests.__version__, SUPPORTED_REQUESTS))
    if not ok:
        log.warning(
            "streamactors: urllib3 %s / requests %s are outside the versions it was tested "
            "with (urllib3 2.x, requests 2.31-2.39): streams use their public API only "
            "(slower; cancel of a connect waits for the connect timeout)",
            urllib3_version, requests.__version__)
    return ok


@cache
def _fallback(what: str) -> None:
    """Log once that the reach-in ``what`` was not found."""
    log.warning("streamactors: %s not found in this urllib3/http.client; using the "
                "public path instead (streams stay correct)", what)


# -- which stream this thread is sending ---------------------------------------------

_current = threading.local()


@contextmanager
def sending(token: CancelToken) -> Iterator[None]:
    """While the calling thread sends the request of the stream ``token``
    belongs to: the connection it gets, and the socket it opens, are handed
    to the token (see the module docstring)."""
    _current.token = token
    try:
        yield
    finally:
        _current.token = None


def _token() -> CancelToken | None:
    return cast("CancelToken | None", getattr(_current, "token", None))


# -- connections -----------------------------------------------------------------


def _connect(conn: Any, fallback: Callable[[], socket.socket]) -> socket.socket:
    """urllib3's ``HTTPConnection._new_conn``, with the socket set on
    ``conn.sock`` before ``connect()`` blocks: the stream's cancel token shuts
    ``conn.sock`` down, which ends a hanging connect at once. Other threads,
    or a urllib3 without ``_dns_host``, use ``fallback`` (urllib3's own)."""
    token = _token()
    host = getattr(conn, "_dns_host", None)
    if token is None:
        return fallback()
    if not isinstance(host, str):
        _fallback("HTTPConnection._dns_host")
        return fallback()
    try:
        return _open_socket(conn, host, token)
    except socket.gaierror as exc:
        raise urllib3.exceptions.NameResolutionError(conn.host, conn, exc) from exc
    except TimeoutError as exc:
        raise urllib3.exceptions.ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from exc
    except OSError as exc:
        raise urllib3.exceptions.NewConnectionError(
            conn, f"Failed to establish a new connection: {exc}") from exc


def _open_socket(conn: Any, host: str, token: CancelToken) -> socket.socket:
    """As ``urllib3.util.connection.create_connection``, registering each
    socket on ``conn.sock`` before it connects."""
    err: OSError = OSError("getaddrinfo returned no address")
    family = urllib3.util.connection.allowed_gai_family()
    for af, kind, proto, _, addr in socket.getaddrinfo(
            host.strip("[]"), conn.port, family, socket.SOCK_STREAM):
        sock = socket.socket(af, kind, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            if isinstance(conn.timeout, (int, float)):
                sock.settimeout(conn.timeout)
            if conn.source_address:
                sock.bind(conn.source_address)
            conn.sock = sock
            if token.cancelled:
                raise ConnectionAbortedError("the stream was cancelled")
            sock.connect(addr)
            sys.audit("http.client.connect", conn, conn.host, conn.port)
            return sock
        except OSError as exc:
            conn.sock = None
            sock.close()
            err = exc
    raise err


class _Response(http.client.HTTPResponse):
    """``http.client``'s response, skipping every interim 1xx (but 101):
    ``http.client`` skips only ``100 Continue`` and would take a 103 (Early
    Hints) as the answer."""

    def _read_status(self) -> tuple[str, int, str]:
        read_status: Any = super()._read_status  # type: ignore[misc]
        for _ in range(_MAX_INTERIM):
            version, status, reason = read_status()
            if not 100 < status < 200 or status == 101:
                return version, status, reason  # 100 is skipped by begin() itself
            _skip_headers(self.fp)
        raise http.client.HTTPException(f"more than {_MAX_INTERIM} interim responses")


def _skip_headers(fp: Any) -> None:
    for _ in range(_MAX_HEADER_LINES + 1):
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return
    raise http.client.HTTPException(f"got more than {_MAX_HEADER_LINES} headers")


class HTTPConnection(urllib3.connection.HTTPConnection):
    """urllib3's connection: cancellable connect, 1xx skipped."""

    response_class = _Response

    def _new_conn(self) -> socket.socket:
        return _connect(self, super()._new_conn)


class HTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _Response  # as HTTPConnection

    def _new_conn(self) -> socket.socket:
        return _connect(self, super()._new_conn)


def connection_socket(conn: Any) -> socket.socket | None:
    """The socket of a urllib3 connection (None before connect or after close)."""
    sock = getattr(conn, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def shutdown_connection(conn: Any) -> None:
    """Shut a connection's socket down (a cancel before the body)."""
    shutdown_socket(connection_socket(conn))


# -- pools -------------------------------------------------------------------------


class HookedPool:
    """Mixin for urllib3's connection pools: hands each connection given out
    to the sending stream's cancel token, and calls ``checked_out(conn)`` /
    ``checked_in(conn)`` around urllib3's private ``_get_conn``/``_put_conn``
    for the policy a subclass adds (keep-alive expiry, in ``_pool``)."""

    def checked_out(self, conn: Any) -> None:
        """A connection is given out (to this thread's stream)."""

    def checked_in(self, conn: Any) -> None:
        """A connection is about to go back to the pool."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        self.checked_out(conn)
        token = _token()
        if token is not None:
            token.attach(partial(shutdown_connection, conn))
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            self.checked_in(conn)
        super()._put_conn(conn)  # type: ignore[misc]


def use_pool_classes(manager: Any, classes: dict[str, type[Any]]) -> None:
    """Make a urllib3 pool manager build its pools from ``classes`` (by scheme)."""
    if not hasattr(manager, "pool_classes_by_scheme"):
        _fallback("PoolManager.pool_classes_by_scheme")
        return
    manager.pool_classes_by_scheme = classes


@contextmanager
def idle_connections(pool: Any) -> Iterator[list[Any]]:
    """The connections idle in a urllib3 pool, under the pool's lock (none
    if the pool is closed or its queue is not what we know)."""
    queue = getattr(pool, "pool", None)  # None once the pool is closed
    lock, items = getattr(queue, "mutex", None), getattr(queue, "queue", None)
    if lock is None or items is None:
        if queue is not None:
            _fallback("HTTPConnectionPool.pool.mutex/queue")
        yield []
        return
    with lock:
        yield [conn for conn in items if conn is not None]


def pools_of(session: requests.Session) -> list[Any]:
    """The urllib3 connection pools behind a session's adapters."""
    pools: list[Any] = []
    for adapter in {id(a): a for a in session.adapters.values()}.values():  # mounted twice
        for manager in [getattr(adapter, "poolmanager", None),
                        *getattr(adapter, "proxy_manager", {}).values()]:
            found = getattr(manager, "pools", None)
            if found is not None:
                pools.extend(p for p in (found.get(k) for k in list(found.keys())) if p)
    return pools


# -- bodies ------------------------------------------------------------------------


@dataclass(frozen=True)
class SocketFile:
    """The socket file under a urllib3 response, and how its body is framed."""

    file: Any
    chunked: bool
    length: int | None


def socket_file(raw: Any) -> SocketFile | None:
    """The socket file under a urllib3 response (``raw._fp.fp``), or None to
    let urllib3 read the body: outside the supported versions, a response
    that is not http.client's (a mock), chunks http.client already began."""
    if not enabled():
        return None
    fp = getattr(raw, "_fp", None)
    if not isinstance(fp, http.client.HTTPResponse):
        if fp is None and hasattr(raw, "release_conn"):
            _fallback("HTTPResponse._fp")
        return None
    file = getattr(fp, "fp", None)
    if file is None:
        return None  # already read to its end and closed by http.client
    if not hasattr(file, "read1") or not hasattr(fp, "chunk_left"):
        _fallback("http.client.HTTPResponse.fp.read1/chunk_left")
        return None
    if getattr(fp, "chunked", False):
        if fp.chunk_left is not None:
            return None  # http.client already began the chunks
        return SocketFile(file, True, None)
    length = getattr(fp, "length", None)
    return SocketFile(file, False, length if isinstance(length, int) else None)


def socket_of(file: Any) -> socket.socket | None:
    """The plain socket under a socket file (``SocketIO._sock``), if any."""
    sock = getattr(getattr(file, "raw", None), "_sock", None)
    if sock is None and file is not None:
        _fallback("SocketIO._sock")
    return sock if isinstance(sock, socket.socket) else None


def release(raw: Any) -> None:
    """Give back to its pool the connection of a body we read to its clean
    end (urllib3 did not see it read: close http.client's response first)."""
    fp = getattr(raw, "_fp", None)
    if fp is not None:
        fp.close()
    raw.release_conn()


def shutdown_response(raw: Any) -> None:
    """Shut the socket of a urllib3 response down (a cancel during the body):
    through urllib3 (``shutdown()``, urllib3 >= 2.3, the socket it read the
    head from) and through its connection, both ways (the server sees the
    end at once)."""
    shutdown = getattr(raw, "shutdown", None)
    if shutdown is None:
        _fallback("HTTPResponse.shutdown (urllib3 >= 2.3)")
    else:
        try:
            shutdown()
        except (ValueError, RuntimeError, OSError):
            pass  # not set up for it (a mock), or released
    shutdown_connection(getattr(raw, "connection", None))


# -- exceptions --------------------------------------------------------------------


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception under requests' and urllib3's wrappers
    (``__cause__``/``__context__``, an exception among the ``args``, urllib3's
    ``reason``), eight levels at most."""
    cur = exc
    for _ in range(8):
        inner = cur.__cause__ or cur.__context__
        inner = inner or next((a for a in cur.args if isinstance(a, BaseException)), None)
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            inner = reason
        if inner is None or inner is cur:
            return cur
        cur = inner
    return cur


def is_read_timeout(exc: BaseException) -> bool:
    """Whether a read failed on the read timeout: requests wraps urllib3's
    ``ReadTimeoutError`` in a ``ConnectionError`` in the middle of a body."""
    cur: BaseException | None = exc
    for _ in range(6):
        if cur is None:
            return False
        if isinstance(cur, (urllib3.exceptions.ReadTimeoutError, requests.exceptions.ReadTimeout)
                      ) or any(isinstance(a, (urllib3.exceptions.ReadTimeoutError, socket.timeout))
                               for a in cur.args):
            return True
        cur = cur.__cause__ or cur.__context__
    return False
