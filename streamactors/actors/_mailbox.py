"""The mailbox of a ``StreamingClient``: the state the actor keeps out of
its subclasses' way, the ``Sink`` its streams deliver to, and its thread.

Theory of operation
-------------------
* A ``_Mailbox`` belongs to one actor, which keeps it in a single
  name-mangled attribute, so a subclass may use any attribute or method name
  of its own (``_lock``, ``_queue``, ``open``...) without touching this state.
  The mailbox is the actor's ``Sink``: workers call ``open``, ``deliver`` and
  ``terminal`` on it, never on the actor.
* The mail waits in a ``Buffer`` (``_buffer.py``, the bounded buffer the
  handle's ``Channel`` and the asyncio bridge use too); one daemon thread runs
  ``_ActorLoop`` (``_actor_loop.py``: dispatch and supervision). Workers put
  typed mail (``_mail.py``): batches of chunks, terminal messages, ``ask``
  calls, the stop marker. The thread takes everything waiting in one go
  (``take_round``: one lock round trip for many deliveries).
* ``maxsize`` bounds the chunks waiting. A worker facing a full mailbox
  waits (so it stops reading its socket and TCP pushes back) until the actor
  catches up, the stream is cancelled or the actor stops; a delivery refused
  because the actor stopped cancels the stream (``target_stopped``). Terminal
  messages are never refused for lack of room. The worker of a bounded
  mailbox may be waiting for the actor, so the actor's thread is recorded as
  the stream's delivery thread: ``StreamHandle.wait()`` called from a handler
  for that stream is an error, not a deadlock.
* An unbounded mailbox grows as fast as streams deliver: past
  ``mailbox_warning`` chunks (waiting plus in hand) it logs one warning,
  re-armed once the backlog fell below half of it (the buffer's high-water
  mark).
* The thread is a daemon, so a handler that never returns cannot keep the
  process alive; ``_registry`` stops every actor at exit and gives it a grace
  period to handle what it holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from .._chunk import Chunk
from ..errors import ConfigurationError, StreamCancelled
from ._actor_loop import _ActorLoop
from ._buffer import Buffer
from ._mail import _STOP, Handlers, _Ask, _Batch, _Item, _Other
from ._registry import register_actor
from ._stream import Error, Finish

if TYPE_CHECKING:
    from ._stream import StreamHandle

__all__ = ["_Mailbox"]

log = logging.getLogger("streamactors")


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
        "_buffer",
        "_last_round",
        "_linger",
        "_lock",
        "_maxsize",
        "_name",
        "_streams",
        "_thread",
        "_warn_level",
        "nonblocking",
    )

    def __init__(self, actor: Handlers, *, maxsize: int, name: str) -> None:
        self._actor = actor
        self._maxsize = _count(maxsize, "mailbox_size",
                               "use 0 for an unbounded mailbox or N > 0 to bound it")
        #: An unbounded mailbox never makes a delivery wait: the shared
        #: reader thread may deliver to it.
        self.nonblocking = maxsize == 0
        self._name = name
        self._buffer: Buffer[_Batch, _Other] = Buffer(maxsize)
        #: Guards the lifecycle (thread, the streams flowing in) against stop().
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._streams: set[StreamHandle] = set()
        self._warn_level = 0
        self._linger = 0.0
        self._last_round = 0.0

    # -- lifecycle (any thread) ----------------------------------------------

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def state(self) -> str:
        if self._thread is None:
            return "new"
        return "stopped" if self._buffer.closed else "running"

    def start(self) -> None:
        actor = self._actor
        level = _count(actor.mailbox_warning, "mailbox_warning", "0 disables the warning")
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"{actor!r} was already started")
            # A bounded mailbox cannot grow: the warning is for unbounded ones.
            self._warn_level = 0 if self._maxsize else level
            self._buffer.watch(self._warn_level, self._warn)
            self._linger = actor.linger
            run = _ActorLoop(actor, self).run
            self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        register_actor(self)
        self._thread.start()

    def stop(self, cancel_streams: bool) -> None:
        with self._lock:
            streams = list(self._streams) if cancel_streams else []
            self._buffer.close(_STOP)  # what is before the marker is handled
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
        if not self._buffer.add(_Ask(fn, future)):
            raise RuntimeError(f"{self._actor!r} is stopped")

    # -- the Sink interface (worker threads, the reader thread) -----------------

    def open(self, handle: StreamHandle) -> None:
        with self._lock:
            if self._buffer.closed or self._thread is None:
                state = "stopped" if self._buffer.closed else "not started"
                raise StreamCancelled(
                    f"{handle.id}: target {self._actor!r} is {state}", reason="target_stopped"
                )
            self._streams.add(handle)
            if self._maxsize:
                # The worker may wait for this thread: it must not wait for the worker.
                handle._delivery_thread = self._thread

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> int:
        batch = _Batch(chunks)
        batch.handle = handle
        taken = self._buffer.put(batch, handle._token)
        if taken != len(batch):
            # Refused: the stream was cancelled (nothing to do) or the actor
            # stopped (nobody will handle it: end the stream).
            handle._token.cancel("target_stopped")
        return taken

    def terminal(self, message: Error | Finish) -> None:
        with self._lock:
            self._streams.discard(message.stream)
        if not self._buffer.add(message):
            log.debug("%r stopped: %s of %s not handled", self._actor,
                      type(message).__name__, message.stream.id)

    def _warn(self, backlog: int) -> None:
        """The backlog passed ``mailbox_warning`` (called once, by the worker
        whose delivery passed it, until re-armed)."""
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
        linger = self._linger
        if linger:
            self._buffer.wait_for_items()
            now = time.monotonic()
            if now - self._last_round < 2 * linger:
                time.sleep(linger)
            self._last_round = now
        return self._buffer.take_all()

    def abandon(self) -> list[_Item]:
        """(Actor thread, dying.) Stop, cancel the streams flowing in, and
        return what was still waiting (its asks must be failed)."""
        self.stop(cancel_streams=True)
        return self._buffer.take_all(wait=False)
