"""The mailbox of a ``StreamingClient``: the state the actor keeps out of
its subclasses' way, the ``Sink`` its streams deliver to, and its thread.

Theory of operation
-------------------
* A ``_Mailbox`` belongs to one actor, which keeps it in a single
  name-mangled attribute, so a subclass may use any attribute or method name
  of its own (``_lock``, ``_queue``, ``open``...) without touching this state.
  The mailbox is the actor's ``Sink``: workers call ``open``, ``deliver`` and
  ``terminal`` on it, never on the actor.
* One deque under a condition, one daemon thread running ``_ActorLoop``
  (``_actor_loop.py``: dispatch and supervision). Workers put typed mail
  (``_mail.py``): batches of chunks, terminal messages, ``ask`` calls, the
  stop marker. The thread takes everything waiting in one go
  (``take_round``: one lock round trip for many deliveries).
* ``maxsize`` bounds the chunks waiting in the deque. A worker facing a full
  mailbox waits (so it stops reading its socket and TCP pushes back) until
  the actor catches up, the stream is cancelled or the actor stops. Terminal
  messages are never refused for lack of room. The worker of a bounded
  mailbox may be waiting for the actor, so the actor's thread is recorded as
  the stream's delivery thread: ``StreamHandle.wait()`` called from a handler
  for that stream is an error, not a deadlock.
* An unbounded mailbox grows as fast as streams deliver: past
  ``mailbox_warning`` chunks (waiting plus in hand) it logs one warning,
  re-armed once the backlog fell below half of it.
* The thread is a daemon, so a handler that never returns cannot keep the
  process alive; ``_registry`` stops every actor at exit and gives it a grace
  period to handle what it holds.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from .._chunk import Chunk
from ..errors import ConfigurationError, StreamCancelled
from ._actor_loop import _ActorLoop
from ._mail import _STOP, Handlers, _Ask, _Batch, _Item
from ._registry import register_actor
from ._sinks import cancelled_error
from ._stream import Error, Finish

if TYPE_CHECKING:
    from ..transport._cancel import CancelToken
    from ._stream import StreamHandle

__all__ = ["_Mailbox"]

log = logging.getLogger("streamactors")
#: A threshold never reached: no bound, no warning.
_NEVER = sys.maxsize


def _count(value: object, field: str, fix: str) -> int:
    """``value`` as an int >= 0, else a ConfigurationError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{field} must be an int >= 0, got {value!r:.40}; {fix}")
    return value


class _Mailbox:
    """The state and thread of one actor, and the ``Sink`` its streams
    deliver to. Created by ``StreamingClient.__init__``."""

    __slots__ = (
        "__weakref__",
        "_actor",
        "_closed",
        "_cond",
        "_held",
        "_idle",
        "_items",
        "_last_round",
        "_limit",
        "_linger",
        "_maxsize",
        "_name",
        "_nonblocking_delivery",
        "_size",
        "_streams",
        "_thread",
        "_warn_at",
        "_warn_level",
        "_warned",
    )

    def __init__(self, actor: Handlers, *, maxsize: int, name: str) -> None:
        self._actor = actor
        self._maxsize = _count(maxsize, "mailbox_size",
                               "use 0 for an unbounded mailbox or N > 0 to bound it")
        #: Deliveries wait when the chunks waiting would pass this.
        self._limit = maxsize or _NEVER
        #: Read by the worker: an unbounded mailbox never makes a delivery
        #: wait, so the shared reactor thread may deliver to it.
        self._nonblocking_delivery = maxsize == 0
        self._name = name
        self._items: deque[_Item] = deque()
        self._cond = threading.Condition(threading.Lock())
        #: Chunks waiting in ``_items``; the bound applies to it.
        self._size = 0
        #: Chunks the thread took in its current round (for the warning only).
        self._held = 0
        self._warn_level = 0
        #: A delivery logs the warning when ``_size + _held`` passes this.
        self._warn_at = _NEVER
        self._warned = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._streams: set[StreamHandle] = set()
        self._linger = 0.0
        self._last_round = 0.0
        #: True while the thread waits for mail (only then does a delivery
        #: need to notify it); read and written under ``_cond``.
        self._idle = False

    # -- lifecycle (any thread) ----------------------------------------------

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def state(self) -> str:
        if self._thread is None:
            return "new"
        return "stopped" if self._closed else "running"

    def start(self) -> None:
        actor = self._actor
        level = _count(actor.mailbox_warning, "mailbox_warning", "0 disables the warning")
        with self._cond:
            if self._thread is not None:
                raise RuntimeError(f"{actor!r} was already started")
            # A bounded mailbox cannot grow: the warning is for unbounded ones.
            self._warn_level = 0 if self._maxsize else level
            self._warn_at = self._warn_level or _NEVER
            self._linger = actor.linger
            run = _ActorLoop(actor, self).run
            self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        register_actor(self)
        self._thread.start()

    def stop(self, cancel_streams: bool) -> None:
        with self._cond:
            streams = list(self._streams) if cancel_streams else []
            if not self._closed:
                self._closed = True
                self._items.append(_STOP)
                self._cond.notify_all()
        for handle in streams:
            handle._token.cancel("target_stopped")

    def join(self, timeout: float | None) -> bool:
        thread = self._thread
        if thread is None:
            return True
        if thread is threading.current_thread():
            raise RuntimeError("an actor cannot join its own thread")
        thread.join(timeout)
        return not thread.is_alive()

    def ask(self, fn: Callable[[], Any], future: Future[Any]) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self._actor!r} is stopped")
            self._items.append(_Ask(fn, future))
            self._cond.notify()

    # -- the Sink interface (worker threads, the reactor thread) ---------------

    def open(self, handle: StreamHandle) -> None:
        with self._cond:
            if self._closed or self._thread is None:
                state = "stopped" if self._closed else "not started"
                raise StreamCancelled(
                    f"{handle.id}: target {self._actor!r} is {state}", reason="target_stopped"
                )
            self._streams.add(handle)
            if self._maxsize:
                # The worker may wait for this thread: it must not wait for the worker.
                handle._delivery_thread = self._thread

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> None:
        n = len(chunks)
        token = handle._token
        backlog = 0
        with self._cond:
            if self._size + n > self._limit and self._size:
                self._wait_for_room(token, n)
            if self._closed:
                token.cancel("target_stopped")
            if token.cancelled:
                raise cancelled_error(handle)
            self._items.append(_Batch(handle, chunks))
            self._size += n
            if self._size + self._held > self._warn_at:
                backlog = self._disarm_warning()
            if self._idle:
                self._cond.notify()
        if backlog:
            self._warn(backlog)

    def _wait_for_room(self, token: CancelToken, n: int) -> None:
        """Wait (lock held) until ``n`` more chunks fit, the stream is
        cancelled or the actor stops; an empty mailbox takes any batch."""
        wake = self._wake
        token.add_callback(wake)
        try:
            while (self._size and self._size + n > self._limit
                   and not self._closed and not token.cancelled):
                self._cond.wait()
        finally:
            token.remove_callback(wake)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def terminal(self, message: Error | Finish) -> None:
        with self._cond:
            self._streams.discard(message.stream)
            if self._closed:
                log.debug("%r stopped: %s of %s not handled", self._actor,
                          type(message).__name__, message.stream.id)
                return
            self._items.append(message)
            self._cond.notify()

    # -- the backlog warning -----------------------------------------------------

    def _disarm_warning(self) -> int:
        """(Lock held.) The backlog passed the warning level: warn once."""
        self._warned = True
        self._warn_at = _NEVER
        return self._size + self._held

    def _rearm_warning(self, backlog: int) -> None:
        """(Lock held, warned.) Warn again once the backlog fell below half
        the level."""
        if backlog < self._warn_level // 2:
            self._warned = False
            self._warn_at = self._warn_level

    def _warn(self, backlog: int) -> None:
        log.warning(
            "%r (thread %s): %d chunks wait in its mailbox, more than mailbox_warning=%d; "
            "its handlers fall behind the streams and the mailbox grows without limit. "
            "Bound it with mailbox_size=N (workers then wait for room and TCP pushes back "
            "on the servers), or raise mailbox_warning (0 disables this warning)",
            self._actor, self._name, backlog, self._warn_level,
        )

    # -- the actor thread's side ----------------------------------------------

    def take_round(self) -> list[_Item]:
        """(Actor thread.) Wait for mail, then take everything waiting, in
        order. With ``linger`` set and the previous round recent (the actor
        is busy), first let more deliveries arrive: one wake-up serves many."""
        cond = self._cond
        with cond:
            if not self._items:
                self._wait_for_mail()
            linger = self._linger
            if not linger:
                return self._take()
        now = time.monotonic()
        if now - self._last_round < 2 * linger:
            time.sleep(linger)
        self._last_round = now
        with cond:
            return self._take()

    def _wait_for_mail(self) -> None:
        """(Lock held.) Sleep until something arrives; the previous round is
        done, so nothing is in hand any more."""
        self._held = 0
        if self._warned:
            self._rearm_warning(0)
        self._idle = True
        try:
            while not self._items:
                self._cond.wait()
        finally:
            self._idle = False

    def _take(self) -> list[_Item]:
        """(Lock held.) Everything waiting, in order; wakes workers waiting
        for room."""
        items = list(self._items)
        self._items.clear()
        taken = self._size
        if taken:
            self._size = 0
            if self._maxsize:
                self._cond.notify_all()
        self._held = taken
        if self._warned:
            self._rearm_warning(taken)
        return items

    def abandon(self) -> list[_Item]:
        """(Actor thread, dying.) Stop, cancel the streams flowing in, and
        return what was still waiting (its asks must be failed)."""
        self.stop(cancel_streams=True)
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._size = 0
            self._cond.notify_all()
        return items
