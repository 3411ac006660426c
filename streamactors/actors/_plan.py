"""A way to serve a stream (provider, config, request), and its route gate."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import StreamCancelled
from ..providers import HTTPRequest, Provider, ProviderConfig, RequestInput
from ..transport._cancel import CancelToken
from ._stream import StreamHandle

__all__ = ["Plan", "held_gate"]


@dataclass(frozen=True)
class Plan:
    """One way to serve the stream: a provider, its config and request.

    A router gives several (a route and its fallbacks); they are tried in
    order, moving on only while nothing has been delivered.

    Attributes:
        route: the router route name, recorded on the result.
        gate: a semaphore bounding concurrent streams of this route; the
            worker holds it while streaming (``handle.waiting`` while blocked).
    """

    provider: Provider
    config: ProviderConfig
    request: RequestInput
    http_request: HTTPRequest
    route: str | None = None
    gate: threading.Semaphore | None = None


@contextmanager
def held_gate(gate: threading.Semaphore, handle: StreamHandle,
              token: CancelToken) -> Iterator[None]:
    """Hold a route's gate for the body of the ``with``; while waiting for it
    the handle says ``waiting`` and a cancel ends the wait at once (polled
    every 50 ms, so a cancelled stream never takes a slot)."""
    if not gate.acquire(blocking=False):
        handle.waiting = True
        try:
            while not gate.acquire(timeout=0.05):
                if token.cancelled:
                    raise StreamCancelled(reason=token.reason or "cancelled")
        finally:
            handle.waiting = False
    try:
        yield
    finally:
        gate.release()
