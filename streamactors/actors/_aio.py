"""asyncio, through janus: the only module that imports ``janus``.

The worker thread puts whole batches on the janus queue's sync side; the
coroutine awaits the async side. The queue is created in the running loop on
the first ``__anext__`` (a janus queue belongs to the loop it was made in) and
closed only after the async side received the terminal message, because
``close()`` would discard what is still queued.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .._chunk import Chunk
from ..errors import UsageError
from ._sinks import cancelled_error
from ._stream import Error, Finish

if TYPE_CHECKING:
    import janus

    from ._sinks import Sink
    from ._stream import StreamHandle

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
                if token.shutting_down or (token.cancelled and (give_up or self.abandoned)):
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
    stream's error raised if it failed.

    The stream stops the moment nobody reads it: when the task iterating it is
    cancelled (``task.cancel()``, ``asyncio.timeout``, a client that
    disconnected from an ASGI server), when the loop is left early (``break``
    or an exception: the iterator ``async for`` got is then dropped), and on
    ``aclose()``, which also waits for the worker to let go. It can be
    iterated once; ``handle`` is set once the stream started.
    """

    def __init__(self, start: Callable[[Sink], StreamHandle]) -> None:
        self._start = start
        self._iteration: _Iteration | None = None
        #: the iterator handed to ``anext()`` callers (a for loop never
        #: leaves one here, so that leaving the loop drops it)
        self._held: _Loop | None = None
        self.handle: StreamHandle | None = None

    def __aiter__(self) -> _Loop:
        if self._held is not None:  # anext() came first: the loop takes over
            it, self._held = self._held, None
            return it
        if self._iteration is not None:
            raise UsageError(
                "this astream() was already iterated; it streams once (start a new "
                "astream(), or read the outcome on .handle)")
        self._iteration = _Iteration(self)
        return _Loop(self._iteration)

    async def __anext__(self) -> Chunk:
        if self._held is None:
            self._held = self.__aiter__()
        return await self._held.__anext__()

    async def aclose(self) -> None:
        """Cancel the stream if it is still running, wait for its worker to
        deliver its end, and release the queue."""
        if self._iteration is not None:
            await self._iteration.aclose()

    async def __aenter__(self) -> AsyncChunkStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Loop:
    """The iterator one ``async for`` gets: dropping it (the loop was left
    early) cancels the stream at once."""

    __slots__ = ("__weakref__", "_iteration")

    def __init__(self, iteration: _Iteration) -> None:
        self._iteration = iteration

    def __aiter__(self) -> _Loop:
        return self

    def __anext__(self) -> Coroutine[Any, Any, Chunk]:
        return self._iteration.next()

    def __del__(self) -> None:
        try:
            self._iteration.abandon()
        except Exception:
            pass


class _Iteration:
    """The state of one iteration of an ``AsyncChunkStream``: its janus
    queue, the batch being handed out, how it ended."""

    def __init__(self, owner: AsyncChunkStream) -> None:
        self._owner = owner
        self._queue: janus.Queue[Any] | None = None
        self._buffer: list[Chunk] = []
        self._pos = 0
        self._ended = False
        self._abandoned = False
        self._sink: _JanusSink | None = None

    async def next(self) -> Chunk:
        if self._pos < len(self._buffer):
            chunk = self._buffer[self._pos]
            self._pos += 1
            return chunk
        if self._ended:
            raise StopAsyncIteration
        queue = self._queue if self._queue is not None else self._open()
        while True:
            try:
                item = await queue.async_q.get()
            except BaseException:  # the task was cancelled: nobody reads on
                self.abandon()
                raise
            if type(item) is list:
                assert self._sink is not None
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

    def _open(self) -> janus.Queue[Any]:
        import janus

        self._queue = janus.Queue(QUEUE_BATCHES)
        self._sink = _JanusSink(self._queue)
        self._owner.handle = self._owner._start(self._sink)
        return self._queue

    def abandon(self) -> None:
        """Cancel at once (no await: the task may be cancelled or the loop
        gone); the worker's terminal message then finds the queue abandoned."""
        if self._ended:
            return
        self._ended = self._abandoned = True
        handle = self._owner.handle
        if handle is not None and self._sink is not None:
            self._sink.abandoned = True
            handle.cancel()

    async def _close_queue(self) -> None:
        if self._queue is not None:
            self._queue.close()
            await self._queue.wait_closed()

    async def aclose(self) -> None:
        if self._ended and not self._abandoned:
            return
        self.abandon()
        handle = self._owner.handle
        if handle is None or self._queue is None:
            return
        queue, self._abandoned = self._queue, False
        while not handle.done():  # until the worker's terminal: it exits promptly
            try:
                item = await asyncio.wait_for(queue.async_q.get(), _POLL)
            except asyncio.TimeoutError:
                continue  # the terminal may have been dropped: done() tells
            if isinstance(item, (Error, Finish)):
                break
        await self._close_queue()
