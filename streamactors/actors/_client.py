"""``StreamingClient``: an actor with a mailbox thread, in the manner of an
Elixir GenServer streaming client or a pykka actor.

Theory of operation
-------------------
* One mailbox and one thread per actor (``_mailbox._Mailbox``). Workers put
  batches of chunks, terminal messages, ``ask`` calls and the stop marker;
  the actor thread takes them out in order and calls the handler methods, one
  at a time: handler methods never run concurrently, whatever the number of
  streams flowing in.
* The actor's own state lives in the mailbox, kept in ONE name-mangled
  attribute (``_StreamingClient__mailbox``), as pykka keeps its state under
  reserved names: a subclass may set ``self._lock``, ``self._queue``,
  ``self._thread``... or define ``open()``/``deliver()`` without breaking
  anything. The mailbox, not the actor, is the ``Sink`` streams deliver to
  (``mailbox_of``).
* ``mailbox_size`` bounds the chunks waiting. A worker facing a full mailbox
  waits (so it stops reading its socket and TCP pushes back on the server)
  until the actor catches up or the stream is cancelled. Terminal messages
  are never refused for lack of room: they may exceed the bound by one.
  An unbounded mailbox logs a warning past ``mailbox_warning`` chunks.
* ``stop()`` puts a stop marker: what is already in the mailbox is handled,
  then ``on_stop`` runs and the thread ends. Deliveries after ``stop()`` are
  refused: the stream is cancelled (reason ``target_stopped``).
  ``stop(cancel_streams=True)`` also cancels every stream still flowing in.
  The thread is a daemon: at interpreter exit every actor is stopped and
  given a grace period (``_registry``), so a handler that never returns
  cannot keep the process alive.
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
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .._chunk import Chunk
from .._result import StreamResult
from ..errors import ConfigurationError, StreamError
from ._mailbox import _Mailbox
from ._stream import Message

if TYPE_CHECKING:
    from types import TracebackType

    from ._sinks import Sink
    from ._stream import StreamHandle

__all__ = ["StreamingClient", "mailbox_of"]

log = logging.getLogger("streamactors")
T = TypeVar("T")
Self = TypeVar("Self", bound="StreamingClient")
FailurePolicy = Literal["cancel_stream", "ignore", "stop"]

#: Where ``StreamingClient.__init__`` keeps the mailbox (``self.__mailbox``).
_MAILBOX_ATTR = "_StreamingClient__mailbox"


def _box(actor: StreamingClient) -> _Mailbox:
    """The mailbox of ``actor``, or a clear error when its class forgot to
    call ``super().__init__()``."""
    mailbox = getattr(actor, _MAILBOX_ATTR, None)
    if type(mailbox) is not _Mailbox:
        cls = type(actor).__name__
        raise ConfigurationError(
            f"{cls} has no mailbox: {cls}.__init__ did not call super().__init__(); "
            f"call super().__init__() (with mailbox_size=... or name=... if needed) "
            f"at the start of {cls}.__init__"
        )
    return mailbox


def mailbox_of(actor: StreamingClient) -> Sink:
    """The sink that streams given ``stream_to=actor`` deliver to.

    Raises:
        ConfigurationError: the actor's class did not call ``super().__init__()``.
    """
    return _box(actor)


class StreamingClient:
    """Base class for stream handlers running in their own thread.

    Subclass it and override the ``handle_*`` methods and lifecycle hooks;
    every one of them runs on the actor's own thread (never on a worker
    thread, never on the caller's), one at a time, so they can use ``self``
    state without locks. Read that state from other threads with ``ask``.
    The base class keeps its own state in one private attribute: every other
    attribute name is free for the subclass.

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
    #: An unbounded mailbox logs one WARNING on the "streamactors" logger when
    #: more chunks than this wait for the handlers (again once the backlog
    #: fell below half). 0 disables it; a bounded mailbox never warns.
    mailbox_warning: int = 10_000

    def __init__(self, *, mailbox_size: int = 0, name: str | None = None) -> None:
        self.__mailbox = _Mailbox(
            self, maxsize=mailbox_size, name=name or f"streamactors-{type(self).__name__}"
        )

    def __repr__(self) -> str:
        mailbox = getattr(self, _MAILBOX_ATTR, None)
        state = mailbox.state() if type(mailbox) is _Mailbox else "without mailbox"
        return f"<{type(self).__name__} {state}>"

    # -- lifecycle (any thread) ----------------------------------------------

    def start(self: Self) -> Self:
        """Start the mailbox thread (``on_start`` runs first on it)."""
        _box(self).start()
        return self

    def stop(self, *, cancel_streams: bool = False) -> None:
        """Handle what is already in the mailbox, then end (idempotent).

        Args:
            cancel_streams: also cancel the streams still delivering here.
        """
        _box(self).stop(cancel_streams)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it did."""
        return _box(self).join(timeout)

    def is_alive(self) -> bool:
        thread = _box(self).thread
        return thread is not None and thread.is_alive()

    def __enter__(self: Self) -> Self:
        if _box(self).thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if _box(self).thread is not threading.current_thread():
            self.join()

    def ask(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn()`` on the actor's thread, after what is already queued.

        Returns a future with its result (or exception). Raises RuntimeError
        when the actor is stopped.
        """
        future: Future[T] = Future()
        _box(self).ask(fn, future)
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

    def handle_partial(self, partial: Any, stream: StreamHandle) -> None:
        """The partial JSON answer of ``stream`` grew: after the chunks of one
        delivery (its ``handle_data`` calls), once. Called only if a subclass
        defines it; shaped like the ``response_format`` model when the stream
        has one (see ``ChunkStream.partials``)."""

    def handle_error(self, error: StreamError, stream: StreamHandle) -> None:
        """``stream`` failed (``error.partial`` has what it had delivered)."""

    def handle_finish(self, result: StreamResult, stream: StreamHandle) -> None:
        """``stream`` ended normally."""
