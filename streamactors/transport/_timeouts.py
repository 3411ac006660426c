"""Time limits of a stream, and the one thread that enforces the deadlines.

``connect`` and ``read`` go to the socket (``read`` is the longest silence
between bytes). ``idle``, ``total`` and ``first_token`` are deadlines: a
single scheduler thread for the whole process cancels the stream's token when
one passes, so they cost no thread per stream. ``idle`` counts content, not
bytes, so a server that trickles a byte a second or sends endless heartbeat
comments cannot hold a stream forever.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigurationError

__all__ = ["DEFAULT_TIMEOUT", "Timeout", "schedule"]


@dataclass(frozen=True)
class Timeout:
    """Time limits for one stream, in seconds (None: no limit of that kind).

    Attributes:
        connect: to establish the connection.
        read: the longest silence between two reads of the body (and before
            the response headers).
        idle: the longest time without content (text, reasoning, a tool
            call, a refusal or the finish reason), from the request (and from
            each retry) on: heartbeats and a trickle of bytes do not reset it.
            The stream then ends with ``IdleTimeout`` (not retried).
        total: deadline for the whole stream, retries included.
        first_token: deadline for the first token of the answer (text,
            reasoning, a tool call, a refusal or the finish reason; a chunk
            that only names the role does not count).

    ``Timeout(30)`` sets ``connect`` and ``read`` to 30 s. The default,
    ``Timeout(connect=10, read=300, idle=120)``, lets no stream hang forever
    on a silent or trickling server while leaving room for slow reasoning
    models; give a larger ``idle`` (or None) for a model that thinks silently
    for longer than two minutes.
    """

    connect: float | None = 10.0
    read: float | None = 300.0
    idle: float | None = 120.0
    total: float | None = None
    first_token: float | None = None

    def __init__(
        self,
        timeout: float | None = None,
        *,
        connect: float | None = 10.0,
        read: float | None = 300.0,
        idle: float | None = 120.0,
        total: float | None = None,
        first_token: float | None = None,
    ) -> None:
        if timeout is not None:
            connect = read = timeout
        for name, value in (("connect", connect), ("read", read), ("idle", idle),
                            ("total", total), ("first_token", first_token)):
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigurationError(f"Timeout {name} must be a positive number of seconds "
                                         f"or None, got {value!r}")
        object.__setattr__(self, "connect", connect)
        object.__setattr__(self, "read", read)
        object.__setattr__(self, "idle", idle)
        object.__setattr__(self, "total", total)
        object.__setattr__(self, "first_token", first_token)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """A ``Timeout`` from a number, a ``Timeout`` or None (the default)."""
        if value is None:
            return DEFAULT_TIMEOUT
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"timeout must be a number or a Timeout, got {value!r}")
        return cls(value)


DEFAULT_TIMEOUT = Timeout()


class _Scheduler:
    """A heap of (when, callback) run by one daemon thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._seq), fn))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="streamactors-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][0] == when:  # a new earliest deadline: wake the thread
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - time.monotonic()
                    if delay <= 0:
                        _, _, fn = heapq.heappop(self._heap)
                        break
                    self._cond.wait(delay)
            try:
                fn()
            except Exception:  # a deadline callback must not kill the scheduler
                pass


_scheduler = _Scheduler()


def _after_fork_in_child() -> None:
    # The parent's deadline thread does not exist here and may have held the
    # lock at the fork; the deadlines it kept belong to the parent's streams.
    global _scheduler
    _scheduler = _Scheduler()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def schedule(delay: float, fn: Callable[[], None]) -> None:
    """Run ``fn`` on the deadline thread after ``delay`` seconds (it must be
    quick and must check for itself whether it still applies)."""
    _scheduler.call_at(time.monotonic() + delay, fn)
