"""``StreamingClient``: an actor with a mailbox thread, in the manner of an
Elixir GenServer streaming client or a pykka actor.

Theory of operation
-------------------
* One mailbox (a deque under a condition) and one thread per actor. Workers
  put batches of chunks, terminal messages, ``ask`` calls and the stop marker;
  the actor thread takes them out in order and calls the handler methods, one
  at a time: handler methods never run concurrently, whatever the number of
  streams flowing in.
* ``mailbox_size`` bounds the chunks waiting. A worker facing a full mailbox
  waits (so it stops reading its socket and TCP pushes back on the server)
  until the actor catches up or the stream is cancelled. Terminal messages
  are never refused for lack of room: they may exceed the bound by one.
* ``stop()`` puts a stop marker: what is already in the mailbox is handled,
  then ``on_stop`` runs and the thread ends. Deliveries after ``stop()`` are
  refused: the stream is cancelled (reason ``target_stopped``).
  ``stop(cancel_streams=True)`` also cancels every stream still flowing in.
* Supervision: an exception in ``handle_data``/``handle_error``/
  ``handle_finish`` calls ``on_failure(exc, message)`` (default: log it with
  its traceback), then ``failure_policy`` decides: ``"cancel_stream"``
  (default) cancels the stream whose message failed and keeps serving the
  others; ``"ignore"`` carries on; ``"stop"`` cancels all streams and stops the
  actor. The terminal message of a cancelled stream is still delivered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._chunk import Chunk
from ._messages import Data, Error, Finish, Message
from ._result import StreamResult
from .errors import StreamCancelled, StreamError

if TYPE_CHECKING:
    from types import TracebackType

    from ._handle import StreamHandle

__all__ = ["StreamingClient"]

log = logging.getLogger("streamactors")
T = TypeVar("T")
Self = TypeVar("Self", bound="StreamingClient")
FailurePolicy = Literal["cancel_stream", "ignore", "stop"]

_STOP = object()


class StreamingClient:
    """Base class for stream handlers running in their own thread.

    Subclass it and override the ``handle_*`` methods and lifecycle hooks;
    every one of them runs on the actor's own thread (never on a worker
    thread, never on the caller's), one at a time, so they can use ``self``
    state without locks. Read that state from other threads with ``ask``.

    Args:
        mailbox_size: most chunks waiting in the mailbox (0 = unbounded).
        name: the thread's name.
    """

    #: What happens after a handler method raised; see the module docs.
    failure_policy: FailurePolicy = "cancel_stream"
    #: Seconds to wait before draining the mailbox when the previous wake-up
    #: was less than twice that long ago (the actor is busy): one wake-up
    #: then serves many deliveries, saving thread switches when hundreds of
    #: streams flow in. 0 (the default) never waits; 0.001 suits many paced
    #: streams and adds at most that latency. A lone stream is never delayed.
    linger: float = 0.0

    def __init__(self, *, mailbox_size: int = 0, name: str | None = None) -> None:
        self._mailbox: deque[Any] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._size = 0
        self._maxsize = mailbox_size
        self._closed = False
        self._thread: threading.Thread | None = None
        self._name = name or f"streamactors-{type(self).__name__}"
        self._streams: set[StreamHandle] = set()
        self._failed: set[StreamHandle] = set()
        #: True while the mailbox thread waits for mail (only then does a
        #: delivery need to notify it); read and written under ``_cond``.
        self._idle = False

    def __repr__(self) -> str:
        state = ("stopped" if self._closed else "running") if self._thread else "new"
        return f"<{type(self).__name__} {state}>"

    # -- lifecycle (any thread) ----------------------------------------------

    def start(self: Self) -> Self:
        """Start the mailbox thread (``on_start`` runs first on it)."""
        with self._cond:
            if self._thread is not None:
                raise RuntimeError(f"{self!r} was already started")
            self._thread = threading.Thread(target=self._run, name=self._name)
        from ._registry import register_actor

        register_actor(self)
        self._thread.start()
        return self

    def stop(self, *, cancel_streams: bool = False) -> None:
        """Handle what is already in the mailbox, then end (idempotent).

        Args:
            cancel_streams: also cancel the streams still delivering here.
        """
        with self._cond:
            streams = list(self._streams) if cancel_streams else []
            if not self._closed:
                self._closed = True
                self._mailbox.append(_STOP)
                self._cond.notify_all()
        for handle in streams:
            handle._token.cancel("target_stopped")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it did."""
        thread = self._thread
        if thread is None:
            return True
        if thread is threading.current_thread():
            raise RuntimeError("an actor cannot join its own thread")
        thread.join(timeout)
        return not thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self: Self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._thread is not threading.current_thread():
            self.join()

    def ask(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn()`` on the actor's thread, after what is already queued.

        Returns a future with its result (or exception). Raises RuntimeError
        when the actor is stopped.
        """
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self!r} is stopped")
            self._mailbox.append((fn, future))
            self._cond.notify()
        return future

    # -- hooks (actor thread) ------------------------------------------------

    def on_start(self) -> None:
        """Runs on the actor thread before any message. If it raises,
        ``on_failure(exc, None)`` is called and the actor stops."""

    def on_stop(self) -> None:
        """Runs on the actor thread after the last message."""

    def on_failure(self, exc: BaseException, message: Message | None) -> None:
        """A handler method raised ``exc`` while handling ``message`` (None for
        ``on_start``, and when a BaseException such as SystemExit ended the
        mailbox thread). Runs on the actor thread. Default: log with traceback."""
        where = f" on {type(message).__name__} of {message.stream.id}" if message else ""
        log.error("%r: handler raised%s", self, where, exc_info=exc)

    def handle_data(self, chunk: Chunk, stream: StreamHandle) -> None:
        """One chunk of ``stream``."""

    def handle_error(self, error: StreamError, stream: StreamHandle) -> None:
        """``stream`` failed (``error.partial`` has what it had delivered)."""

    def handle_finish(self, result: StreamResult, stream: StreamHandle) -> None:
        """``stream`` ended normally."""

    # -- sink interface (worker threads) --------------------------------------

    @property
    def _nonblocking_delivery(self) -> bool:
        """An unbounded mailbox never makes a delivery wait."""
        return self._maxsize == 0

    def open(self, handle: StreamHandle) -> None:
        with self._cond:
            if self._closed or self._thread is None:
                state = "stopped" if self._closed else "not started"
                raise StreamCancelled(
                    f"{handle.id}: target {self!r} is {state}", reason="target_stopped"
                )
            self._streams.add(handle)

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> None:
        n = len(chunks)
        token = handle._token
        with self._cond:
            if self._maxsize and self._size and self._size + n > self._maxsize:
                wake = self._wake
                token.add_callback(wake)
                try:
                    while (self._size and self._size + n > self._maxsize
                           and not self._closed and not token.cancelled):
                        self._cond.wait()
                finally:
                    token.remove_callback(wake)
            if self._closed:
                token.cancel("target_stopped")
            if token.cancelled:
                from ._sinks import cancelled_error

                raise cancelled_error(handle)
            self._mailbox.append((handle, chunks))
            self._size += n
            if self._idle:
                self._cond.notify()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def terminal(self, message: Error | Finish) -> None:
        with self._cond:
            self._streams.discard(message.stream)
            if self._closed:
                log.debug("%r stopped: %s of %s not handled", self,
                          type(message).__name__, message.stream.id)
                return
            self._mailbox.append(message)
            self._cond.notify()

    # -- the actor thread ------------------------------------------------------

    def _run(self) -> None:
        try:
            self.on_start()
        except Exception as exc:
            self._safe_failure(exc, None)
            self.stop(cancel_streams=True)
            self._drain_after_failed_start()
            return
        try:
            self._loop()
        except BaseException as exc:
            # Handler Exceptions are supervised; only a BaseException raised by
            # a handler (SystemExit...) or a bug gets here. Never die silently:
            # report it, refuse new streams and cancel those flowing in (their
            # workers would wait forever on a full mailbox), fail pending asks.
            log.critical("%r: the mailbox thread died (%r); stopping the actor", self, exc)
            self._safe_failure(exc, None)
            self.stop(cancel_streams=True)
            self._drain_after_failed_start()
        finally:
            try:
                self.on_stop()
            except Exception as exc:
                self._safe_failure(exc, None)

    def _drain_after_failed_start(self) -> None:
        with self._cond:
            items = list(self._mailbox)
            self._mailbox.clear()
            self._size = 0
            self._cond.notify_all()
        self._refuse(items)

    def _loop(self) -> None:
        mailbox = self._mailbox
        cond = self._cond
        linger = self.linger
        last = 0.0
        while True:
            with cond:
                while not mailbox:
                    self._idle = True
                    try:
                        cond.wait()
                    finally:
                        self._idle = False
            if linger:
                now = time.monotonic()
                if now - last < 2 * linger:
                    time.sleep(linger)
                last = now
            with cond:
                items = list(mailbox)
                mailbox.clear()
                freed = 0
                for item in items:
                    if type(item) is tuple and type(item[1]) is list:
                        freed += len(item[1])
                if freed:
                    self._size -= freed
                    cond.notify_all()
            for item in items:
                if item is _STOP:
                    self._refuse(items[items.index(item) + 1 :])
                    return
                self._dispatch(item)

    def _refuse(self, rest: list[Any]) -> None:
        for item in rest:
            if type(item) is tuple and isinstance(item[1], Future) and not item[1].done():
                item[1].set_exception(RuntimeError(f"{self!r} stopped"))

    def _dispatch(self, item: Any) -> None:
        kind = type(item)
        if kind is tuple:
            first, second = item
            if type(second) is list:
                if first in self._failed:
                    return
                handle_data = self.handle_data
                for chunk in second:
                    try:
                        handle_data(chunk, first)
                    except Exception as exc:
                        self._handler_failed(exc, Data(first, chunk))
                        if self.failure_policy != "ignore":
                            return
                return
            fn, future = first, second
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)
            return
        if kind is Finish:
            self._failed.discard(item.stream)
            try:
                self.handle_finish(item.result, item.stream)
            except Exception as exc:
                self._handler_failed(exc, item)
        elif kind is Error:
            self._failed.discard(item.stream)
            try:
                self.handle_error(item.error, item.stream)
            except Exception as exc:
                self._handler_failed(exc, item)

    def _handler_failed(self, exc: Exception, message: Message) -> None:
        self._safe_failure(exc, message)
        policy = self.failure_policy
        if policy == "ignore":
            return
        if isinstance(message, Data):
            # First, so the failed stream's error says why (and carries exc).
            self._failed.add(message.stream)
            message.stream._token.cancel("handler_failed", exc)
        if policy == "stop":
            self.stop(cancel_streams=True)

    def _safe_failure(self, exc: BaseException, message: Message | None) -> None:
        try:
            self.on_failure(exc, message)
        except Exception:
            log.exception("%r: on_failure itself raised", self)
