"""requests' adapter with our connection pools (their policy, not their reach-ins).

The pools are urllib3's, with ``_internals``' hooks (each connection given
out is handed to the sending stream's cancel token, each new socket is
registered before ``connect()`` blocks, interim ``1xx`` responses are
skipped) and one policy of their own, here: keep-alive expiry. A connection
idle in the pool for longer than ``keepalive_expiry`` is closed, both when it
would be reused and by a sweep on the deadline thread, so an idle client does
not hold sockets forever.

Outside the urllib3/requests versions ``_internals`` knows, the adapter keeps
urllib3's own pools (see ``_internals``: streams stay correct).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import requests.adapters
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import _internals as internals
from ._timeouts import schedule

__all__ = ["DEFAULT_KEEPALIVE_EXPIRY", "Adapter"]

#: Seconds a pooled connection may stay idle before it is closed.
DEFAULT_KEEPALIVE_EXPIRY = 30.0
#: The attribute our pools set on a connection they take back.
_IDLE_SINCE = "_streamactors_idle_since"


class _Expiring(internals.HookedPool):
    """Keep-alive expiry of a pool's idle connections (mixed into both pools)."""

    keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY
    _sweep_due: bool = False

    def checked_out(self, conn: Any) -> None:
        idle_since = getattr(conn, _IDLE_SINCE, None)
        if idle_since is not None and time.monotonic() - idle_since > self.keepalive_expiry:
            conn.close()  # urllib3 reconnects a closed connection on use

    def checked_in(self, conn: Any) -> None:
        setattr(conn, _IDLE_SINCE, time.monotonic())
        if not self._sweep_due:
            self._sweep_due = True
            ref = weakref.ref(self)
            schedule(self.keepalive_expiry, lambda: _sweep(ref))

    def sweep(self) -> bool:
        """Close the connections idle past the expiry; True if some stay open."""
        now = time.monotonic()
        left = False
        with internals.idle_connections(self) as idle:
            for conn in idle:
                since = getattr(conn, _IDLE_SINCE, None)
                if since is None or internals.connection_socket(conn) is None:
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
    ConnectionCls = internals.HTTPConnection


class _TrackedHTTPSPool(_Expiring, HTTPSConnectionPool):
    ConnectionCls = internals.HTTPSConnection


class Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter with our pools: cancellable connections, 1xx skipped,
    idle connections closed after ``keepalive_expiry`` seconds."""

    def __init__(self, *, keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
                 **kwargs: Any) -> None:
        expiry = keepalive_expiry
        self._pools: dict[str, type[Any]] | None = None
        if internals.enabled():
            self._pools = {
                "http": type("_HTTPPool", (_TrackedHTTPPool,), {"keepalive_expiry": expiry}),
                "https": type("_HTTPSPool", (_TrackedHTTPSPool,), {"keepalive_expiry": expiry}),
            }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        if self._pools is not None:
            internals.use_pool_classes(self.poolmanager, self._pools)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if self._pools is not None:
            internals.use_pool_classes(manager, self._pools)
        return manager
