"""Where a worker delivers: the targets ``stream_to`` accepts, behind one
small interface.

A sink gets the chunks of one socket read as a batch (one call, not one per
chunk) and exactly one terminal message. ``deliver`` may block (a bounded
queue or mailbox that is full: the worker stops reading, TCP pushes back) and
raises ``StreamCancelled`` when the stream was cancelled while it waited or
when the target is gone. ``terminal`` never raises.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .._chunk import Chunk
from ..errors import StreamCancelled
from ._stream import Data, Error, Finish, Message

if TYPE_CHECKING:
    from ._stream import StreamHandle

__all__ = ["CallableSink", "Channel", "PutSink", "Sink"]

log = logging.getLogger("streamactors")
_POLL = 0.05


class Sink(Protocol):
    def open(self, handle: StreamHandle) -> None:
        """The stream starts delivering to this sink."""

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> None:
        """Deliver chunks in order; may block; raises StreamCancelled.

        A sink that can refuse part of a batch records on the exception how
        many chunks it took first (``_taken``); otherwise none were taken.
        """

    def terminal(self, message: Error | Finish) -> None:
        """Deliver the one terminal message; never raises."""


def _taken(exc: BaseException, chunks: list[Chunk], at: Chunk, *, including: bool) -> None:
    """Record on ``exc`` how many of ``chunks`` the target took before it was
    raised at chunk ``at``: the worker folds only those into the partial
    result, so it matches what the target saw. Costs nothing unless raised."""
    for i, c in enumerate(chunks):
        if c is at:
            exc._delivered = i + 1 if including else i  # type: ignore[attr-defined]
            return


def cancelled_error(handle: StreamHandle) -> StreamCancelled:
    token = handle._token
    reason = token.reason or "cancelled"
    err = StreamCancelled(f"{handle.id} cancelled ({reason})", reason=reason)
    if token.cause is not None:
        err.__cause__ = token.cause
    return err


class PutSink:
    """Anything with ``put(item)``: ``queue.Queue``, a janus ``sync_q``..."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._put: Callable[..., Any] = target.put
        maxsize = getattr(target, "maxsize", 0)
        self._bounded = isinstance(maxsize, int) and maxsize > 0
        #: put() never blocks: an unbounded stdlib queue (the reactor may deliver).
        self._nonblocking_delivery = (
            not self._bounded and type(target) in (queue.Queue, queue.SimpleQueue)
        )

    def open(self, handle: StreamHandle) -> None:
        pass

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> None:
        put = self._put
        c = None
        try:
            if not self._bounded:
                for c in chunks:
                    put(Data(handle, c))
                return
            token = handle._token
            for c in chunks:
                if token.cancelled:  # not one chunk more once cancelled
                    raise cancelled_error(handle)
                self._put_waiting(Data(handle, c), handle, give_up_on_cancel=True)
        except BaseException as exc:
            if c is not None:
                _taken(exc, chunks, c, including=False)
            raise

    def _put_waiting(self, item: Message, handle: StreamHandle, give_up_on_cancel: bool) -> bool:
        token = handle._token
        while True:
            try:
                self._put(item, timeout=_POLL)
                return True
            except queue.Full:
                pass
            except Exception as exc:  # janus raises its own Full subclass
                if "Full" not in type(exc).__name__:
                    raise
            if token.shutting_down or (give_up_on_cancel and token.cancelled):
                if give_up_on_cancel:
                    raise cancelled_error(handle)
                return False

    def terminal(self, message: Error | Finish) -> None:
        try:
            if self._bounded:
                if not self._put_waiting(message, message.stream, give_up_on_cancel=False):
                    log.warning("%s: terminal message dropped at shutdown (queue full)",
                                message.stream.id)
            else:
                self._put(message)
        except Exception:
            log.exception("%s: could not deliver the terminal message", message.stream.id)


class CallableSink:
    """A plain callable, run on the worker thread with each message.

    If it raises on a ``Data`` message, the exception is logged with its
    traceback and the stream is cancelled (its ``Error`` still reaches the
    callable, carrying the partial result). An exception on the terminal
    message is logged.
    """

    def __init__(self, fn: Callable[[Message], Any]) -> None:
        self._fn = fn

    def open(self, handle: StreamHandle) -> None:
        pass

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> None:
        fn = self._fn
        for c in chunks:
            try:
                fn(Data(handle, c))
            except Exception as exc:
                log.error("%s: stream_to callable raised; cancelling the stream", handle.id,
                          exc_info=True)
                handle._token.cancel("handler_failed", exc)
                err = cancelled_error(handle)
                _taken(err, chunks, c, including=True)
                raise err from exc

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
        self._items: deque[list[Chunk] | Error | Finish] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._size = 0
        self._maxsize = maxsize
        self._nonblocking_delivery = maxsize == 0
        #: How the consumer of ``chunks()`` left: None while reading,
        #: "ended" at the terminal message, "abandoned" when it stopped early.
        self.consumed: str | None = None

    def open(self, handle: StreamHandle) -> None:
        pass

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> None:
        n = len(chunks)
        with self._cond:
            if self._maxsize and self._size and self._size + n > self._maxsize:
                wake = self._wake
                handle._token.add_callback(wake)
                try:
                    while self._size and self._size + n > self._maxsize:
                        if handle._token.cancelled:
                            raise cancelled_error(handle)
                        self._cond.wait()
                finally:
                    handle._token.remove_callback(wake)
            self._items.append(chunks)
            self._size += n
            self._cond.notify()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def terminal(self, message: Error | Finish) -> None:
        with self._cond:
            self._items.append(message)
            self._cond.notify()

    def _next(self) -> list[Chunk] | Error | Finish:
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._items.popleft()
            if type(item) is list:
                self._size -= len(item)
                self._cond.notify_all()
            return item

    def messages(self, handle: StreamHandle) -> Iterator[Message]:
        while True:
            item = self._next()
            if type(item) is list:
                for c in item:
                    yield Data(handle, c)
            else:
                assert isinstance(item, (Error, Finish))
                yield item
                return

    def chunks(self, handle: StreamHandle) -> Generator[Chunk, None, None]:
        """Chunks in order; the stream's error is raised after the last one."""
        ended = False
        try:
            while True:
                item = self._next()
                if type(item) is list:
                    yield from item
                    continue
                ended = True
                if isinstance(item, Error):
                    raise item.error
                return
        finally:
            self.consumed = "ended" if ended else "abandoned"
            if not ended:  # the consumer stopped early: nobody reads this stream any more
                handle.cancel()
