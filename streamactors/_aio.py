"""asyncio, through janus: the only module that imports ``janus``.

The worker thread puts whole batches on the janus queue's sync side; the
coroutine awaits the async side. The queue is created in the running loop on
the first ``__anext__`` (a janus queue belongs to the loop it was made in) and
closed only after the async side received the terminal message, because
``close()`` would discard what is still queued.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._chunk import Chunk
from ._messages import Error, Finish
from ._sinks import cancelled_error

if TYPE_CHECKING:
    import janus

    from ._handle import StreamHandle
    from ._sinks import Sink

__all__ = ["AsyncChunkStream"]

#: Chunks buffered before the worker waits for the coroutine (a batch larger
#: than this still goes through when nothing is buffered).
MAX_CHUNKS = 1024
#: Batches (socket reads) the janus queue holds at most.
QUEUE_BATCHES = 256
_POLL = 0.05


class _JanusSink:
    """Bounded in chunks, not only in batches: one unpaced socket read can
    carry hundreds of chunks, so a bound in batches alone would let a slow
    coroutine buffer tens of thousands of them."""

    def __init__(self, queue: janus.Queue[Any]) -> None:
        self._q = queue.sync_q
        self._room = threading.Condition(threading.Lock())
        self._in_flight = 0
        #: set when the async iterator was dropped without being closed.
        self.abandoned = False

    def taken(self, n: int) -> None:
        """The coroutine took a batch of ``n`` chunks off the queue."""
        with self._room:
            self._in_flight -= n
            self._room.notify()

    def _wait_for_room(self, n: int, handle: StreamHandle) -> None:
        token = handle._token
        with self._room:
            while self._in_flight and self._in_flight + n > MAX_CHUNKS:
                if token.cancelled:
                    raise cancelled_error(handle)
                self._room.wait(_POLL)
            self._in_flight += n

    def open(self, handle: StreamHandle) -> None:
        pass

    def _put(self, item: Any, handle: StreamHandle, give_up: bool) -> bool:
        import janus

        token = handle._token
        while True:
            try:
                self._q.put(item, timeout=_POLL)
                return True
            except janus.SyncQueueFull:
                if token.cancelled and (give_up or self.abandoned or token.reason == "shutdown"):
                    if give_up:
                        raise cancelled_error(handle) from None
                    return False
            except (janus.SyncQueueShutDown, RuntimeError):
                # The loop side went away: nobody reads this stream any more.
                token.cancel("target_stopped")
                if give_up:
                    raise cancelled_error(handle) from None
                return False

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> None:
        self._wait_for_room(len(chunks), handle)
        self._put(chunks, handle, True)

    def terminal(self, message: Error | Finish) -> None:
        self._put(message, message.stream, False)


class AsyncChunkStream:
    """``async for chunk in astream(...)``: chunks in order, then the
    stream's error raised if it failed. ``aclose()`` (or leaving the loop
    early) cancels the stream and waits for its worker to let go."""

    def __init__(self, start: Callable[[Sink], StreamHandle]) -> None:
        self._start = start
        self._queue: janus.Queue[Any] | None = None
        self._buffer: list[Chunk] = []
        self._pos = 0
        self._ended = False
        self._sink: _JanusSink | None = None
        self.handle: StreamHandle | None = None

    def __aiter__(self) -> AsyncChunkStream:
        return self

    async def __anext__(self) -> Chunk:
        if self._pos < len(self._buffer):
            chunk = self._buffer[self._pos]
            self._pos += 1
            return chunk
        if self._ended:
            raise StopAsyncIteration
        if self._queue is None:
            import janus

            self._queue = janus.Queue(QUEUE_BATCHES)
            self._sink = _JanusSink(self._queue)
            self.handle = self._start(self._sink)
        while True:
            item = await self._queue.async_q.get()
            if type(item) is list:
                if self._sink is not None:
                    self._sink.taken(len(item))
                if not item:
                    continue
                self._buffer = item
                self._pos = 1
                first: Chunk = item[0]
                return first
            self._ended = True
            await self._close_queue()
            if isinstance(item, Error):
                raise item.error
            raise StopAsyncIteration

    async def _close_queue(self) -> None:
        if self._queue is not None:
            self._queue.close()
            await self._queue.wait_closed()

    async def aclose(self) -> None:
        """Cancel the stream if it is still running and release the queue."""
        if self._ended:
            return
        self._ended = True
        if self.handle is None or self._queue is None:
            return
        self.handle.cancel()
        while True:  # drain until the worker's terminal message: it exits promptly
            item = await self._queue.async_q.get()
            if isinstance(item, (Error, Finish)):
                break
        await self._close_queue()

    def __del__(self) -> None:
        # Dropped after an early ``break`` without aclose(): nobody will read
        # the rest, so stop the worker instead of letting it wait on the queue.
        if not self._ended and self.handle is not None and self._sink is not None:
            self._sink.abandoned = True
            self.handle.cancel()

    async def __aenter__(self) -> AsyncChunkStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
