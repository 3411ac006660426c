"""A stream's time limits: ``total`` and ``first_token`` deadlines, the
``idle`` sweep, and the error a cancel (or an expired limit) ends it with.

A limit never touches the stream directly: it cancels the stream's token with
its reason, and the stream ends where it is, with the error
:func:`cancel_error` makes of that reason.
"""

from __future__ import annotations

import os
import threading
import weakref
from time import monotonic
from typing import Protocol

from ..errors import (
    DeadlineExceeded,
    FirstTokenTimeout,
    IdleTimeout,
    StreamCancelled,
    StreamError,
)
from ..transport._cancel import CancelToken
from ..transport._timeouts import Timeout, schedule
from ._stream import StreamHandle

__all__ = ["Limited", "arm_deadlines", "cancel_error"]


class Limited(Protocol):
    """What the limits read of a running stream (the worker)."""

    handle: StreamHandle
    timeout: Timeout
    #: perf_counter time of the first token, None before it
    first_at: float | None
    #: monotonic time of the last content (or of the current attempt's start)
    last_content: float


def arm_deadlines(stream: Limited) -> None:
    """Schedule the stream's ``total`` and ``first_token`` deadlines and
    watch its ``idle`` limit; only a weak reference is kept, so a finished
    stream is not held alive until its deadline."""
    ref = weakref.ref(stream)
    limits = stream.timeout
    if limits.total is not None:
        schedule(limits.total, lambda: _expire(ref, "total"))
    if limits.first_token is not None:
        schedule(limits.first_token, lambda: _expire(ref, "first_token"))
    if limits.idle is not None:
        _idle_watch.add(stream, limits.idle)


def cancel_error(stream: Limited, token: CancelToken,
                 original: StreamError | None) -> StreamError:
    """The error a stream whose token was cancelled ends with: the expired
    limit's own error, or ``StreamCancelled`` with the cancel's reason and
    cause; what was raised meanwhile (``original``) becomes its context."""
    handle_id, limits = stream.handle.id, stream.timeout
    reason = token.reason or "cancelled"
    err: StreamError
    if reason == "total":
        err = DeadlineExceeded(f"{handle_id}: stream exceeded its total deadline "
                               f"of {limits.total} s")
    elif reason == "idle":
        err = IdleTimeout(f"{handle_id}: no content for {limits.idle} s "
                          "(the idle limit); heartbeats and stray bytes do not count")
    elif reason == "first_token":
        err = FirstTokenTimeout(f"{handle_id}: no data within the first_token "
                                f"deadline of {limits.first_token} s")
    elif isinstance(original, StreamCancelled):
        if original.__cause__ is None and token.cause is not None:
            original.__cause__ = token.cause  # why: a handler that raised...
        return original
    else:
        err = StreamCancelled(f"{handle_id} cancelled ({reason})", reason=reason)
        if token.cause is not None:
            err.__cause__ = token.cause
    err.__context__ = original
    return err


def _expire(ref: weakref.ref[Limited], reason: str) -> None:
    stream = ref()
    if stream is None or stream.handle.done():
        return
    if reason == "first_token" and stream.first_at is not None:
        return
    stream.handle._token.cancel(reason)


class _IdleWatch:
    """The ``idle`` limit of every live stream, checked by one periodic sweep
    on the deadline thread (a quarter of the shortest limit apart, between
    50 ms and 1 s): no timer, heap entry or wake-up per stream."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: weakref.WeakSet[Limited] = weakref.WeakSet()
        self._interval = 1.0
        self._sweeping = False

    def add(self, stream: Limited, idle: float) -> None:
        with self._lock:
            self._streams.add(stream)
            self._interval = min(self._interval, max(0.05, idle / 4))
            if self._sweeping:
                return
            self._sweeping = True
        schedule(self._interval, self._sweep)

    def _sweep(self) -> None:
        now = monotonic()
        with self._lock:
            streams = list(self._streams)
        ended = []
        for stream in streams:
            idle = stream.timeout.idle
            if stream.handle.done() or idle is None:
                ended.append(stream)
            elif now - stream.last_content >= idle:
                stream.handle._token.cancel("idle")
        with self._lock:
            for stream in ended:
                self._streams.discard(stream)
            if not self._streams:
                self._sweeping = False
                self._interval = 1.0
                return
        schedule(self._interval, self._sweep)


_idle_watch = _IdleWatch()


def _after_fork_in_child() -> None:
    # The parent's note that a sweep is scheduled (and its lock, which another
    # thread may have held at the fork) belong to a deadline thread the child
    # does not have: without a fresh watch, no idle limit would ever fire.
    global _idle_watch
    _idle_watch = _IdleWatch()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
