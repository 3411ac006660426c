"""Where a worker delivers: the targets ``stream_to`` accepts, behind one
small interface.

A sink gets the chunks of one socket read as a batch (one call, not one per
chunk) and exactly one terminal message. ``deliver`` may wait (a bounded
queue or mailbox that is full: the worker stops reading, TCP pushes back)
unless the sink says it never does (``nonblocking``: then the shared reader
thread may deliver to it). It returns how many chunks the target took: all
of them, or fewer when the stream was cancelled or the target went away
meanwhile, and then the stream's token is cancelled; the worker folds only
the chunks taken into the result, so the partial result of the ``Error`` is
exactly what the target saw. ``terminal`` never raises.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Protocol, cast

from .._chunk import Chunk
from ..errors import StreamCancelled
from ._buffer import Buffer
from ._stream import Data, Error, Finish, Message

if TYPE_CHECKING:
    from ._stream import StreamHandle

__all__ = ["CallableSink", "Channel", "PutSink", "Sink", "cancelled_error"]

log = logging.getLogger("streamactors")
#: How often a put() waiting on a full bounded queue looks at the token.
_POLL = 0.05


class Sink(Protocol):
    @property
    def nonblocking(self) -> bool:
        """True when ``deliver`` never waits: the shared reader thread may
        deliver to this sink (one slow target would stall every stream)."""

    def open(self, handle: StreamHandle) -> None:
        """The stream starts delivering to this sink; raises
        ``StreamCancelled`` when the target refuses it."""

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> int:
        """Deliver ``chunks`` in order (may wait, unless ``nonblocking``).

        Returns how many of them the target took, in order: ``len(chunks)``,
        or fewer only when the stream was cancelled or the target went away
        meanwhile (the stream's token is then cancelled).
        """

    def terminal(self, message: Error | Finish) -> None:
        """Deliver the one terminal message; never raises."""


def cancelled_error(handle: StreamHandle) -> StreamCancelled:
    """The error of a stream whose token was cancelled, chained to the
    cancel's cause (the exception of a handler that raised)."""
    token = handle._token
    reason = token.reason or "cancelled"
    err = StreamCancelled(f"{handle.id} cancelled ({reason})", reason=reason)
    if token.cause is not None:
        err.__cause__ = token.cause
    return err


def _index(chunks: list[Chunk], at: Chunk) -> int:
    """Where ``at`` is in ``chunks`` (by identity). Only when a delivery
    stopped part-way, so the loop that delivers needs no counter."""
    for i, c in enumerate(chunks):
        if c is at:
            return i
    return 0


class PutSink:
    """Anything with ``put(item)``: ``queue.Queue``, a janus ``sync_q``...

    A bounded one (``maxsize > 0``) makes the worker wait for room, looking
    at the stream's token every ``_POLL`` seconds (a ``queue.Queue`` cannot be
    woken early). If ``put`` raises, the exception is logged and the stream
    cancelled (``target_stopped``, the exception as its cause).
    """

    def __init__(self, target: Any) -> None:
        self._target = target
        self._put: Callable[..., Any] = target.put
        maxsize = getattr(target, "maxsize", 0)
        self._bounded = isinstance(maxsize, int) and maxsize > 0
        #: put() never waits: an unbounded stdlib queue (another kind of
        #: object could do anything in put(), so it keeps a thread).
        self.nonblocking = (
            not self._bounded and type(target) in (queue.Queue, queue.SimpleQueue)
        )

    def open(self, handle: StreamHandle) -> None:
        pass

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> int:
        put = self._put
        c = None
        try:
            if not self._bounded:
                for c in chunks:
                    put(Data(handle, c))
                return len(chunks)
            token = handle._token
            for c in chunks:
                # Not one chunk more once cancelled.
                if token.reason is not None or not self._put_waiting(
                        Data(handle, c), handle, give_up_on_cancel=True):
                    return _index(chunks, c)
        except Exception as exc:
            log.error("%s: stream_to.put() raised; cancelling the stream", handle.id,
                      exc_info=True)
            handle._token.cancel("target_stopped", exc)
            return 0 if c is None else _index(chunks, c)
        return len(chunks)

    def _put_waiting(self, item: Message, handle: StreamHandle, give_up_on_cancel: bool) -> bool:
        """Put, waiting for room; False when giving up: the stream was
        cancelled (if ``give_up_on_cancel``) or the interpreter is exiting."""
        token = handle._token
        while True:
            try:
                self._put(item, timeout=_POLL)
                return True
            except queue.Full:  # janus's SyncQueueFull is one too
                pass
            if token.shutting_down or (give_up_on_cancel and token.cancelled):
                return False

    def terminal(self, message: Error | Finish) -> None:
        try:
            if not self._bounded:
                self._put(message)
            elif not self._put_waiting(message, message.stream, give_up_on_cancel=False):
                log.warning("%s: terminal message dropped at shutdown (queue full)",
                            message.stream.id)
        except Exception:
            log.exception("%s: could not deliver the terminal message", message.stream.id)


class CallableSink:
    """A plain callable, run on the worker thread with each message.

    If it raises on a ``Data`` message, the exception is logged with its
    traceback and the stream is cancelled (``handler_failed``, the exception
    as its cause); the chunk counts as delivered, and the ``Error`` still
    reaches the callable, carrying the partial result. An exception on the
    terminal message is logged.
    """

    #: The callable may take any time: it keeps the stream on its own thread.
    nonblocking = False

    def __init__(self, fn: Callable[[Message], Any]) -> None:
        self._fn = fn

    def open(self, handle: StreamHandle) -> None:
        pass

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> int:
        fn = self._fn
        c = None
        try:
            for c in chunks:
                fn(Data(handle, c))
        except Exception as exc:
            log.error("%s: stream_to callable raised; cancelling the stream", handle.id,
                      exc_info=True)
            handle._token.cancel("handler_failed", exc)
            return 0 if c is None else _index(chunks, c) + 1
        return len(chunks)

    def terminal(self, message: Error | Finish) -> None:
        try:
            self._fn(message)
        except Exception:
            log.error("%s: stream_to callable raised on the terminal message",
                      message.stream.id, exc_info=True)


class Channel:
    """The handle's own buffer, for ``stream_to=None``, ``stream()`` and
    iteration. Bounded (in chunks) when ``maxsize`` is set."""

    def __init__(self, maxsize: int = 0) -> None:
        self._buffer: Buffer[list[Chunk], Error | Finish] = Buffer(maxsize)
        #: An unbounded channel never makes a delivery wait.
        self.nonblocking = maxsize == 0
        #: How the consumer of ``chunks()`` left: None while reading,
        #: "ended" at the terminal message, "abandoned" when it stopped early.
        self.consumed: str | None = None

    def open(self, handle: StreamHandle) -> None:
        pass

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> int:
        # Refused only when the stream was cancelled (a channel never closes).
        return self._buffer.put(chunks, handle._token)

    def terminal(self, message: Error | Finish) -> None:
        self._buffer.add(message)

    def messages(self, handle: StreamHandle) -> Iterator[Message]:
        # Without an idle time ``take_one`` waits and never gives None: the
        # same generator, with no second one wrapped around it per message.
        return cast(Iterator[Message], self.messages_or_idle(handle, None))

    def messages_or_idle(self, handle: StreamHandle,
                         idle: float | None) -> Iterator[Message | None]:
        """The stream's messages, and None after each ``idle`` seconds
        without one (a server's cue for a keep-alive); ``idle`` None: never."""
        take = self._buffer.take_one
        while True:
            item = take(idle)
            if item is None:
                yield None
            elif type(item) is list:
                for c in item:
                    yield Data(handle, c)
            else:
                assert isinstance(item, (Error, Finish))
                yield item
                return

    def rounds(self, handle: StreamHandle) -> Generator[list[Chunk], None, None]:
        """Everything delivered since the previous round (waiting for the
        first), as one list; the stream's error is raised after the last."""
        take_all = self._buffer.take_all
        ended = False
        try:
            while True:
                chunks: list[Chunk] = []
                last = None
                for item in take_all():
                    if type(item) is list:
                        chunks += item
                    else:
                        last = item
                if chunks:
                    yield chunks
                if last is not None:
                    ended = True
                    if isinstance(last, Error):
                        raise last.error
                    return
        finally:
            self._let_go(handle, ended)

    def chunks(self, handle: StreamHandle) -> Generator[Chunk, None, None]:
        """Chunks in order; the stream's error is raised after the last one."""
        take = self._buffer.take_one
        ended = False
        try:
            while True:
                item = take()
                if type(item) is list:
                    yield from item
                    continue
                ended = True
                if isinstance(item, Error):
                    raise item.error
                return
        finally:
            self._let_go(handle, ended)

    def _let_go(self, handle: StreamHandle, ended: bool) -> None:
        self.consumed = "ended" if ended else "abandoned"
        if not ended:  # the consumer stopped early: nobody reads this stream any more
            handle.cancel()
