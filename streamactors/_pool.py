"""Pooled connections that a stream's cancel token can reach.

The connection pools hand each connection they give out to the current
stream's ``CancelToken`` (through a thread-local set by ``Transport.send``),
and each new connection registers its socket before ``connect()`` blocks, so
``cancel()`` can shut it down while connecting, waiting for headers or
reading the body. This reaches into urllib3's pool and connection classes; it
lives here, small and guarded, and ``tests/reliability`` pins it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import requests.adapters
import urllib3.connection
import urllib3.exceptions
import urllib3.util.connection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ._cancel import CancelToken

__all__ = ["Adapter", "current_token"]

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


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self, super()._new_conn)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect(self, super()._new_conn)


def _track(conn: Any) -> Any:
    """Hand a connection a pool gives out to the current stream's cancel token."""
    token: CancelToken | None = getattr(current_token, "token", None)
    if token is not None:
        token.attach_connection(conn)
    return conn


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        return _track(super()._get_conn(timeout))


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        return _track(super()._get_conn(timeout))


_POOLS = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class Adapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager
