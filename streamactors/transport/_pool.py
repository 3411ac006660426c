"""Pooled connections that a stream's cancel token can reach.

The connection pools hand each connection they give out to the current
stream's ``CancelToken`` (through a thread-local set by ``Transport.send``),
and each new connection registers its socket before ``connect()`` blocks, so
``cancel()`` can shut it down while connecting, waiting for headers or
reading the body. This reaches into urllib3's pool and connection classes; it
lives here, small and guarded, and ``tests/reliability`` pins it.

Two more things are done here, at the connection level:

* interim ``1xx`` responses (103 Early Hints...) are skipped with their
  headers: ``http.client`` skips only ``100 Continue`` and would take a 103
  as the answer;
* a connection idle in the pool for longer than the keep-alive expiry is
  closed, both when it would be reused and by a sweep on the deadline thread,
  so an idle client does not hold sockets forever.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import requests.adapters
import urllib3.connection
import urllib3.exceptions
import urllib3.util.connection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ._cancel import CancelToken
from ._timeouts import schedule

__all__ = ["DEFAULT_KEEPALIVE_EXPIRY", "Adapter", "current_token"]

#: Seconds a pooled connection may stay idle before it is closed.
DEFAULT_KEEPALIVE_EXPIRY = 30.0
#: Interim responses skipped before the real one, at most (a peer that sends
#: nothing but 1xx must not keep a stream busy forever).
_MAX_INTERIM = 10
_MAX_HEADER_LINES = 100
#: http.client's own limit of a header line.
_MAX_LINE: int = getattr(http.client, "_MAXLINE", 65536)

#: The cancel token of the stream whose request this thread is sending.
current_token = threading.local()


def _connect(conn: Any, fallback: Callable[[], socket.socket]) -> socket.socket:
    """urllib3's ``_new_conn`` for a stream's connection, cancellable.

    As ``urllib3.util.connection.create_connection``, except that the socket
    is set on ``conn.sock`` before ``connect()`` blocks: the stream's cancel
    token shuts ``conn.sock`` down, which ends a hanging connect at once.
    Other threads, or a urllib3 without ``_dns_host``, use ``fallback``.
    """
    token: CancelToken | None = getattr(current_token, "token", None)
    host = getattr(conn, "_dns_host", None)
    if token is None or not isinstance(host, str):
        return fallback()
    try:
        err: OSError = OSError("getaddrinfo returned no address")
        family = urllib3.util.connection.allowed_gai_family()
        for af, kind, proto, _, addr in socket.getaddrinfo(
            host.strip("[]"), conn.port, family, socket.SOCK_STREAM
        ):
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
                return sock
            except OSError as exc:
                conn.sock = None
                sock.close()
                err = exc
        raise err
    except socket.gaierror as exc:
        raise urllib3.exceptions.NameResolutionError(conn.host, conn, exc) from exc
    except TimeoutError as exc:
        raise urllib3.exceptions.ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from exc
    except OSError as exc:
        raise urllib3.exceptions.NewConnectionError(
            conn, f"Failed to establish a new connection: {exc}"
        ) from exc


class _Response(http.client.HTTPResponse):
    """``http.client``'s response, skipping every interim 1xx (but 101)."""

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


class _HTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _Response

    def _new_conn(self) -> socket.socket:
        return _connect(self, super()._new_conn)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _Response

    def _new_conn(self) -> socket.socket:
        return _connect(self, super()._new_conn)


def _track(conn: Any) -> Any:
    """Hand a connection a pool gives out to the current stream's cancel token."""
    token: CancelToken | None = getattr(current_token, "token", None)
    if token is not None:
        token.attach_connection(conn)
    return conn


class _Expiring:
    """Keep-alive expiry of a pool's idle connections (mixed into both pools)."""

    pool: Any
    keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY
    _sweep_due: bool = False

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        idle_since = getattr(conn, "_streamactors_idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > self.keepalive_expiry:
            conn.close()  # urllib3 reconnects a closed connection on use
        return _track(conn)

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn._streamactors_idle_since = time.monotonic()
        super()._put_conn(conn)  # type: ignore[misc]
        if conn is not None and not self._sweep_due:
            self._sweep_due = True
            ref = weakref.ref(self)
            schedule(self.keepalive_expiry, lambda: _sweep(ref))

    def sweep(self) -> bool:
        """Close the connections idle past the expiry; True if some stay open."""
        pool = self.pool
        if pool is None:
            return False
        now = time.monotonic()
        left = False
        with pool.mutex:
            for conn in pool.queue:
                since = getattr(conn, "_streamactors_idle_since", None)
                if since is None or getattr(conn, "sock", None) is None:
                    continue
                if now - since > self.keepalive_expiry:
                    conn.close()
                else:
                    left = True
        return left


def _sweep(ref: weakref.ref[_Expiring]) -> None:
    pool = ref()
    if pool is None:
        return
    pool._sweep_due = False
    if pool.sweep() and not pool._sweep_due:
        pool._sweep_due = True
        schedule(pool.keepalive_expiry, lambda: _sweep(ref))


class _TrackedHTTPPool(_Expiring, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _TrackedHTTPSPool(_Expiring, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter with our pools: cancellable connections, 1xx skipped,
    idle connections closed after ``keepalive_expiry`` seconds."""

    def __init__(self, *, keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
                 **kwargs: Any) -> None:
        expiry = keepalive_expiry
        self._pools = {
            "http": type("_HTTPPool", (_TrackedHTTPPool,), {"keepalive_expiry": expiry}),
            "https": type("_HTTPSPool", (_TrackedHTTPSPool,), {"keepalive_expiry": expiry}),
        }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = self._pools
        return manager
