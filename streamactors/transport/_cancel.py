"""Cancellation of one stream, from any thread, in milliseconds.

A ``CancelToken`` belongs to one stream. The transport attaches to it how to
abort whatever the stream is blocked on: first the pooled connection (while
connecting and waiting for headers), then the response (while reading the
body). For a socket that means shutting it down, which releases a reader
blocked in ``recv`` at once; closing the response from another thread would
not (it waits for the next byte or the read timeout). The token knows only
the callable: how to reach the socket is the transport's business (for
requests, ``_internals``), so this module imports nothing but the standard
library. Waiters (a full mailbox, a retry back-off) register a wake-up
callback instead.

The token detaches before the connection goes back to the pool, under its
lock, so a late cancel can never shut down a connection that already serves
another stream.

When the worker decides how the stream ends it ``seal()``s the token: a cancel
that came first wins (the stream ends with ``StreamCancelled``, even if its
answer had just completed), and a cancel that comes later returns False and
changes nothing. So ``handle.cancel()`` returns True exactly when the stream
will end cancelled. Interpreter shutdown is the one exception: it still marks
a sealed token ``shutting_down``, so a terminal message waiting for room in a
bounded target gives up instead of holding the exit.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from ._latch import Latch

__all__ = ["CancelToken", "shutdown_socket"]


def shutdown_socket(sock: Any) -> None:
    """Shut a socket down for both directions, ignoring a socket already gone.

    ``socket.socket.shutdown`` is called unbound so that on a TLS socket the
    SSL object is left alone: the reader blocked in it gets EOF or an error.
    """
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError, ValueError):
        pass


class CancelToken:
    """The cancel state of one stream.

    Attributes:
        reason: None until cancelled; then a short word saying why
            ("cancelled", "total", "first_token", "target_stopped",
            "handler_failed", "shutdown").
    """

    __slots__ = ("_abort", "_callbacks", "_event", "_lock", "_sealed", "cause", "reason",
                 "shutting_down")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = Latch()
        self._abort: Callable[[], None] | None = None
        self._callbacks: list[Callable[[], None]] = []
        self.reason: str | None = None
        #: the exception that caused a cancel, when there was one.
        self.cause: BaseException | None = None
        #: True once interpreter shutdown asked every stream to end.
        self.shutting_down = False
        self._sealed = False

    @property
    def cancelled(self) -> bool:
        return self.reason is not None

    def cancel(self, reason: str = "cancelled", cause: BaseException | None = None) -> bool:
        """Cancel; True if this call did it, False if already cancelled or if
        the stream's outcome was already decided (``seal``)."""
        with self._lock:
            if reason == "shutdown":
                self.shutting_down = True
            if self.reason is not None or self._sealed:
                return False
            self.reason = reason
            self.cause = cause
            abort = self._abort
            callbacks = list(self._callbacks)
        self._event.set()
        if abort is not None:
            _call(abort)
        for cb in callbacks:
            try:
                cb()
            except Exception:  # a wake-up must never break cancel
                pass
        return True

    def seal(self) -> bool:
        """Decide the outcome: True if cancelled before now; later cancels
        return False and change nothing."""
        with self._lock:
            self._sealed = True
            return self.reason is not None

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(seconds)

    def attach(self, abort: Callable[[], None]) -> None:
        """How to abort what the stream now waits on (a connect, the response
        head, the body), replacing the one before: ``cancel()`` calls it, at
        once if the stream is already cancelled. It must be quick and must not
        raise (it runs on the cancelling thread)."""
        with self._lock:
            self._abort = abort
            cancelled = self.reason is not None
        if cancelled:
            _call(abort)

    def detach(self) -> None:
        """Forget the abort (before the connection goes back to the pool)."""
        with self._lock:
            self._abort = None

    def add_callback(self, cb: Callable[[], None]) -> None:
        """Call ``cb`` on cancel (at once if already cancelled)."""
        with self._lock:
            if self.reason is None:
                self._callbacks.append(cb)
                return
        cb()

    def remove_callback(self, cb: Callable[[], None]) -> None:
        with self._lock:
            try:
                self._callbacks.remove(cb)
            except ValueError:
                pass


def _call(abort: Callable[[], None]) -> None:
    try:
        abort()
    except Exception:  # an abort must never break cancel
        pass
