"""One bounded buffer between the worker of a stream and whoever takes its
chunks: an actor's mailbox, a handle's ``Channel``, the asyncio bridge.

Theory of operation
-------------------
* A deque under one lock, with two conditions on it (items arrived, room
  freed). An item is a *batch* (a list of chunks: one socket read of one
  stream) or anything else (a terminal message, an ``ask``, the stop marker).
* The bound counts chunks, not batches: one unpaced socket read can carry
  hundreds of chunks, so a bound in batches would let a slow consumer buffer
  tens of thousands of them. ``put`` waits while the chunks waiting plus its
  batch would pass the bound; an empty buffer takes any batch (one larger than
  the bound must still get through). Only batches wait: other items (a
  stream's terminal message above all) are never refused for lack of room.
* A ``put`` gives up the moment its stream's token is cancelled (the token's
  callback wakes it; not one chunk more once cancelled) or the buffer is
  closed, and then returns 0: nothing of the batch was taken.
* Takers: a thread blocks in ``take_all`` / ``take_one``; a coroutine, which
  must not block, ``poll``s and gets a callback (outside the lock) once
  something arrived. A buffer has one kind of taker.
* ``watch`` sets a high-water mark on the backlog (chunks waiting plus those
  the taker holds from its last take): passing it is reported once, outside
  the lock, and re-armed once the backlog fell below half of it (the
  mailbox's warning).
* The hot path (a batch into a buffer with room, nobody to wake) is one lock
  round trip, a few attribute reads and one append.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from .._chunk import Chunk
    from ..transport._cancel import CancelToken

__all__ = ["Buffer"]

#: A chunk count never reached: no bound, no high-water mark.
_NEVER = sys.maxsize

B = TypeVar("B", bound="list[Chunk]")
T = TypeVar("T")


class Buffer(Generic[B, T]):
    """Batches (``B``, lists of chunks) and other items (``T``) in order,
    bounded in chunks.

    Args:
        limit: most chunks waiting before ``put`` waits (0 = unbounded).
    """

    __slots__ = ("_closed", "_held", "_high", "_items", "_level", "_limit", "_lock",
                 "_not_empty", "_not_full", "_over", "_poller", "_putters", "_report", "_size",
                 "_takers")

    def __init__(self, limit: int = 0) -> None:
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._items: deque[B | T] = deque()
        self._limit = limit or _NEVER
        #: Chunks in the batches waiting (the bound applies to it).
        self._size = 0
        #: Chunks the taker took last, until it comes back for more.
        self._held = 0
        self._closed = False
        #: Threads waiting in a take / in a put (only then is a notify needed).
        self._takers = 0
        self._putters = 0
        #: The callback of a coroutine that polled an empty buffer.
        self._poller: Callable[[], None] | None = None
        #: The high-water mark: its level, the threshold armed (``_NEVER``
        #: while disarmed), whether it was passed, and whom to tell.
        self._level = 0
        self._high = _NEVER
        self._over = False
        self._report: Callable[[int], None] | None = None

    @property
    def size(self) -> int:
        """Chunks waiting (not counting the ones the taker holds)."""
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def watch(self, level: int, report: Callable[[int], None]) -> None:
        """Call ``report(backlog)`` once the backlog passes ``level`` chunks
        (0: never); again only after it fell below half of it."""
        with self._lock:
            self._level = level
            self._high = level or _NEVER
            self._over = False
            self._report = report

    # -- producers -------------------------------------------------------------

    def put(self, batch: B, token: CancelToken) -> int:
        """Append ``batch``, waiting for room; ``len(batch)``, or 0 when the
        token was cancelled or the buffer closed first (nothing taken)."""
        n = len(batch)
        with self._lock:
            size = self._size
            if size and size + n > self._limit:
                full = True
            elif self._closed or token.reason is not None:
                return 0
            else:
                full = False
                self._items.append(batch)
                self._size = size = size + n
                if self._takers:
                    self._not_empty.notify()
                if self._poller is None and size + self._held <= self._high:
                    return n
                signal = self._signals()
        if full:
            return self._put_when_room(batch, n, token)
        signal()
        return n

    def _put_when_room(self, batch: B, n: int, token: CancelToken) -> int:
        """(Lock not held.) ``put`` for a full buffer."""
        wake = self._wake_putters
        # Outside the lock: add_callback runs wake() at once if already cancelled.
        token.add_callback(wake)
        try:
            with self._lock:
                self._putters += 1
                try:
                    while (self._size and self._size + n > self._limit
                           and not self._closed and token.reason is None):
                        self._not_full.wait()
                finally:
                    self._putters -= 1
                if self._closed or token.reason is not None:
                    return 0
                signal = self._append(batch, n)
        finally:
            token.remove_callback(wake)
        signal()
        return n

    def _wake_putters(self) -> None:
        """(A cancel, any thread.) Let waiting puts see the token."""
        with self._lock:
            self._not_full.notify_all()

    def add(self, item: T) -> bool:
        """Append ``item`` whatever the room (a terminal message is never
        refused for lack of it); False if the buffer is closed."""
        with self._lock:
            if self._closed:
                return False
            signal = self._append(item, 0)
        signal()
        return True

    def close(self, last: T | None = None) -> bool:
        """Refuse every item from now on, after ``last`` if given (a taker
        blocked on an empty closed buffer waits for ever: give it a last item
        it recognises). Wakes every waiter. False if already closed."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            if last is not None:
                self._items.append(last)
            self._not_empty.notify_all()
            self._not_full.notify_all()
            signal = self._signals()
        signal()
        return True

    def _append(self, item: B | T, n: int) -> Callable[[], None]:
        """(Lock held.) Append, wake a taker; what to call once unlocked."""
        self._items.append(item)
        self._size += n
        if self._takers:
            self._not_empty.notify()
        return self._signals()

    def _signals(self) -> Callable[[], None]:
        """(Lock held.) Take the poller's callback and check the high-water
        mark; return what to call once the lock is released."""
        poller, self._poller = self._poller, None
        backlog = self._size + self._held
        report = None
        if backlog > self._high:
            self._high, self._over = _NEVER, True
            report = self._report
        if poller is None and report is None:
            return _nothing
        return lambda: _call(poller, report, backlog)

    # -- the taker -------------------------------------------------------------

    def take_all(self, wait: bool = True) -> list[B | T]:
        """Everything waiting, in order; waits for something first unless
        ``wait`` is False (then an empty buffer gives ``[]``)."""
        with self._lock:
            if not self._items:
                if not wait:
                    return []
                self._wait_for_items()
            items = list(self._items)
            self._items.clear()
            taken, self._size = self._size, 0
            self._took(taken)
            return items

    def take_one(self, timeout: float | None = None) -> B | T | None:
        """The next item, waiting for one (None after ``timeout`` seconds
        without any, when a timeout is given)."""
        with self._lock:
            if not self._items:
                self._wait_for_items(timeout)
                if not self._items:
                    return None
            return self._pop()

    def poll(self, wake: Callable[[], None]) -> B | T | None:
        """The next item, or None at once; then ``wake()`` is called once
        (outside the lock, by whoever adds the next item)."""
        with self._lock:
            if self._items:
                return self._pop()
            self._idle()
            self._poller = wake
            return None

    def wait_for_items(self) -> None:
        """Block until something is waiting (without taking it)."""
        with self._lock:
            if not self._items:
                self._wait_for_items()

    def _pop(self) -> B | T:
        """(Lock held, not empty.) The oldest item."""
        item = self._items.popleft()
        n = len(item) if isinstance(item, list) else 0
        self._size -= n
        self._took(n)
        return item

    def _took(self, n: int) -> None:
        """(Lock held.) The taker now holds ``n`` chunks; room was freed."""
        self._held = n
        if n and self._putters:
            self._not_full.notify_all()
        if self._over and n + self._size < self._level // 2:
            self._rearm()

    def _wait_for_items(self, timeout: float | None = None) -> None:
        """(Lock held, empty.) Sleep until an item arrives, or ``timeout``
        seconds passed."""
        self._idle()
        self._takers += 1
        try:
            if timeout is None:
                while not self._items:
                    self._not_empty.wait()
            else:
                self._not_empty.wait_for(lambda: bool(self._items), timeout)
        finally:
            self._takers -= 1

    def _idle(self) -> None:
        """(Lock held, empty.) The taker is done with what it held: the
        backlog is 0."""
        self._held = 0
        if self._over:
            self._rearm()

    def _rearm(self) -> None:
        self._over = False
        self._high = self._level or _NEVER


def _nothing() -> None:
    pass


def _call(poller: Callable[[], None] | None, report: Callable[[int], None] | None,
          backlog: int) -> None:
    if poller is not None:
        poller()
    if report is not None:
        report(backlog)
