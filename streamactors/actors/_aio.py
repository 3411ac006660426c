"""asyncio, through janus: the only module that imports ``janus``.

The worker puts whole batches in a ``Buffer`` bounded in chunks (the one the
mailbox and ``Channel`` use); the coroutine takes them without blocking
(``Buffer.poll``) and, when there is nothing, awaits a wake-up on a janus
queue, which the worker puts only while the coroutine waits. janus carries
the wake-up from the worker's thread into the event loop; the chunks and the
bound stay in the buffer, so a terminal message never waits for room. The
janus queue is created in the running loop on the first ``__anext__`` (a
janus queue belongs to the loop it was made in).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from .._chunk import Chunk
from .._output import OutputSpec
from .._partials import PartialOutput
from .._tools import ToolSpec
from ..errors import UsageError
from ._buffer import Buffer
from ._stream import Error, Finish

if TYPE_CHECKING:
    import janus

    from ._sinks import Sink
    from ._stream import StreamHandle

__all__ = ["AsyncChunkStream"]

#: Chunks buffered before the worker waits for the coroutine (a batch larger
#: than this still goes through when nothing is buffered).
MAX_CHUNKS = 1024
#: How often ``aclose`` looks whether the worker let go.
_POLL = 0.05


class _AsyncSink:
    """The sink of one ``astream()``: a buffer the coroutine polls, and a
    janus queue of wake-ups (``None``) for when it found the buffer empty."""

    #: Bounded: the worker may wait for the coroutine.
    nonblocking = False

    def __init__(self, wakeups: janus.Queue[None]) -> None:
        self.buffer: Buffer[list[Chunk], Error | Finish] = Buffer(MAX_CHUNKS)
        self._wakeups = wakeups.sync_q
        self._handle: StreamHandle | None = None

    def open(self, handle: StreamHandle) -> None:
        self._handle = handle

    def deliver(self, handle: StreamHandle, chunks: list[Chunk]) -> int:
        # Refused only when the stream was cancelled or the loop went away.
        return self.buffer.put(chunks, handle._token)

    def terminal(self, message: Error | Finish) -> None:
        self.buffer.add(message)  # never waits; dropped only if the loop went away

    def poll(self) -> list[Chunk] | Error | Finish | None:
        """(The loop.) The next item, or None: a wake-up follows the next one."""
        return self.buffer.poll(self._wake)

    def _wake(self) -> None:
        """(Worker thread.) The coroutine found nothing: wake it."""
        try:
            self._wakeups.put_nowait(None)
        except Exception as exc:  # janus.SyncQueueShutDown, or RuntimeError from the loop
            # The loop side went away (the queue closed, the loop closed):
            # nobody can be woken, nobody reads this stream any more.
            self.buffer.close()
            if self._handle is not None:
                self._handle._token.cancel("target_stopped", exc)


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

    def __init__(self, start: Callable[[Sink], StreamHandle],
                 output: OutputSpec | None = None,
                 tools: Mapping[str, ToolSpec] | None = None) -> None:
        self._start = start
        self._output = output
        self._tools = tools
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

    async def partials(self) -> AsyncGenerator[Any, None]:
        """The answer's partial JSON value as it grows, with ``async for``:
        as ``ChunkStream.partials()`` (``result.parsed`` on ``handle``)."""
        partial = PartialOutput(self._output, self._tools)
        async for chunk in self:
            partial.add(chunk)
            iteration = self._iteration
            # One step per delivery (the chunks of one read), read at once.
            if iteration is None or iteration._pos >= len(iteration._batch):
                for value in partial.step():
                    yield value
        if partial.error is not None and self._output is None:
            raise partial.error

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
    """The state of one iteration of an ``AsyncChunkStream``: its sink and
    janus queue, the batch being handed out, how it ended."""

    def __init__(self, owner: AsyncChunkStream) -> None:
        self._owner = owner
        self._queue: janus.Queue[None] | None = None
        self._sink: _AsyncSink | None = None
        self._batch: list[Chunk] = []
        self._pos = 0
        self._ended = False
        self._abandoned = False

    async def next(self) -> Chunk:
        if self._pos < len(self._batch):
            chunk = self._batch[self._pos]
            self._pos += 1
            return chunk
        if self._ended:
            raise StopAsyncIteration
        sink = self._sink if self._sink is not None else self._open()
        while True:
            item = sink.poll()
            if item is None:
                await self._wait_for_wakeup()
                continue
            if type(item) is list:
                if not item:
                    continue
                self._batch = item
                self._pos = 1
                first: Chunk = item[0]
                return first
            self._ended = True
            await self._close_queue()
            if isinstance(item, Error):
                raise item.error
            raise StopAsyncIteration

    async def _wait_for_wakeup(self) -> None:
        assert self._queue is not None
        try:
            await self._queue.async_q.get()
        except BaseException:  # the task was cancelled: nobody reads on
            self.abandon()
            raise

    def _open(self) -> _AsyncSink:
        import janus

        self._queue = janus.Queue()
        sink = self._sink = _AsyncSink(self._queue)
        self._owner.handle = self._owner._start(sink)
        return sink

    def abandon(self) -> None:
        """Cancel at once (no await: the task may be cancelled or the loop
        gone); the worker's terminal message never waits for room, so the
        worker then ends promptly."""
        if self._ended:
            return
        self._ended = self._abandoned = True
        handle = self._owner.handle
        if handle is not None:
            handle.cancel()

    async def _close_queue(self) -> None:
        if self._queue is not None:
            self._queue.close()
            await self._queue.wait_closed()

    async def aclose(self) -> None:
        if self._ended and not self._abandoned:
            return
        self.abandon()
        handle, sink, queue = self._owner.handle, self._sink, self._queue
        if handle is None or sink is None or queue is None:
            return
        self._abandoned = False
        while not handle.done():  # until the worker's terminal: it exits promptly
            item = sink.poll()
            if isinstance(item, (Error, Finish)):
                break
            if item is not None:
                continue  # a batch the cancel came too late for: dropped
            try:
                await asyncio.wait_for(queue.async_q.get(), _POLL)
            except asyncio.TimeoutError:
                continue  # the terminal may have been dropped: done() tells
        await self._close_queue()
