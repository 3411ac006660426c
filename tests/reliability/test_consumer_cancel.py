"""Cancel follows the consumer (guarantees 4 and 6): a ``stream()`` left by
``break`` or an exception, and an ``astream()`` whose task is cancelled, end
with ``StreamCancelled`` at once, whatever the garbage collector does; the
connection is discarded and the stream's thread is gone within 100 ms.
Both reader modes."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from streamactors import (
    Client,
    Data,
    Error,
    Finish,
    Message,
    StreamCancelled,
    StreamHandle,
    UsageError,
    metrics,
)
from streamactors.metrics import StreamMetrics
from streamactors.testing import Fault, LoopbackServer, Script

from . import MESSAGES, MODELS, make_client, stream_threads, wait_until

pytestmark = pytest.mark.timeout(30)

MODEL = MODELS["openai"]
#: A long paced answer: a consumer that stops early leaves most of it unread.
LONG = Script(tokens=[f" w{i}" for i in range(400)], tokens_per_second=200)
STALLED = Script(tokens=["a", " b", " c"], fault=Fault("stall", after=2, seconds=30))
#: What "at once" means here: the issue's bound.
AT_ONCE = 0.1


@pytest.fixture(params=["reactor", "thread"])
def reader(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def records() -> Iterator[list[StreamMetrics]]:
    got: list[StreamMetrics] = []
    remove = metrics.add_listener(got.append)
    yield got
    remove()


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Prove the cancel does not come from a garbage collection."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _gone(handle: StreamHandle, server: LoopbackServer) -> None:
    """Cancelled, its thread ended and its connection closed, within 100 ms
    (plus scheduling slack on a loaded machine)."""
    t0 = time.perf_counter()
    with pytest.raises(StreamCancelled):
        handle.wait(AT_ONCE * 5)
    assert time.perf_counter() - t0 < AT_ONCE * 5
    thread = handle._thread
    assert thread is not None
    thread.join(AT_ONCE * 5)
    assert not thread.is_alive(), "the stream's thread outlived its cancel"
    assert wait_until(lambda: server.connections_open == 0, AT_ONCE * 10), \
        "the cancelled stream's connection was not discarded"


def test_break_out_of_a_kept_stream_cancels_at_once(
        server: LoopbackServer, reader: str, records: list[StreamMetrics], no_gc: None) -> None:
    server.script = LONG
    with make_client(server, reader=reader) as client:
        s = client.stream(MODEL, MESSAGES)  # kept in a variable: the object lives on
        seen = []
        for chunk in s:
            seen.append(chunk)
            if len(seen) == 3:
                break
        t_break = time.perf_counter()
        _gone(s.handle, server)
        assert time.perf_counter() - t_break < AT_ONCE * 10
        error = s.handle.error
        assert isinstance(error, StreamCancelled)
        assert error.partial is not None and error.partial.chunks >= 3
        assert wait_until(lambda: any(r.stream_id == s.handle.id for r in records), 1.0)
        (record,) = [r for r in records if r.stream_id == s.handle.id]
        assert not record.ok and record.error_type == "StreamCancelled"
        assert server.requests and len(server.requests) == 1


def test_iterating_again_after_a_break_is_an_error(server: LoopbackServer, reader: str) -> None:
    server.script = LONG
    with make_client(server, reader=reader) as client:
        s = client.stream(MODEL, MESSAGES)
        for _ in s:
            break
        with pytest.raises(UsageError, match=r"left early .* iterated once"):
            for _ in s:
                pass
        with pytest.raises(UsageError):
            next(s)
        _gone(s.handle, server)


def test_iterating_again_after_the_end_is_an_error(server: LoopbackServer) -> None:
    server.script = Script(text="short answer")
    with make_client(server) as client:
        s = client.stream(MODEL, MESSAGES)
        assert "".join(c.text or "" for c in s) == "short answer"
        with pytest.raises(UsageError, match="already iterated"):
            for _ in s:
                pass
        with pytest.raises(StopIteration):
            next(s)
        assert s.result is not None and s.result.text == "short answer"


def test_next_then_for_continues_the_same_stream(server: LoopbackServer) -> None:
    server.script = Script(tokens=["a", " b", " c"])
    with make_client(server) as client:
        s = client.stream(MODEL, MESSAGES)
        texts = [next(s).text]
        texts += [c.text for c in s]
        assert "".join(t or "" for t in texts) == "a b c"
        assert s.result is not None and s.result.text == "a b c"


def test_an_exception_in_the_loop_cancels_and_ends_the_thread(
        server: LoopbackServer, reader: str, no_gc: None) -> None:
    server.script = LONG
    with make_client(server, reader=reader) as client:
        s = client.stream(MODEL, MESSAGES)
        with pytest.raises(KeyError):
            for chunk in s:
                if chunk.text:
                    raise KeyError("the consumer failed")
        _gone(s.handle, server)


def test_return_from_a_function_inside_the_loop_cancels(
        server: LoopbackServer, reader: str, no_gc: None) -> None:
    server.script = LONG

    def first_word(client: Client) -> tuple[str, StreamHandle]:
        s = client.stream(MODEL, MESSAGES)
        for chunk in s:
            if chunk.text:
                return chunk.text, s.handle
        raise AssertionError("no text")

    with make_client(server, reader=reader) as client:
        word, handle = first_word(client)
        assert word == " w0"
        _gone(handle, server)


def _async_cancel(server: LoopbackServer, reader: str,
                  stop: Any) -> StreamHandle:
    """Run ``async for`` over an astream in a task that ``stop`` ends; return
    the stream's handle."""
    started: list[Any] = []

    async def consume(it: Any) -> None:
        async for _ in it:
            started.append(True)

    async def main() -> StreamHandle:
        with make_client(server, reader=reader) as client:
            it: Any = client.astream(MODEL, MESSAGES)
            task = asyncio.create_task(consume(it))
            while not started:
                await asyncio.sleep(0.005)
            await stop(task)
            handle: StreamHandle = it.handle
            # The cancel must not wait for the loop, an await or the GC:
            # done within 100 ms, measured from here in a plain thread wait.
            t0 = time.perf_counter()
            done = await asyncio.to_thread(handle._done.wait, AT_ONCE * 5)
            assert done and time.perf_counter() - t0 < AT_ONCE * 5
            return handle

    return asyncio.run(main())


async def _task_cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _timeout(task: asyncio.Task[None]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(task, 0.05)

    with pytest.raises(asyncio.TimeoutError):
        await bounded()


@pytest.mark.parametrize("stop", [_task_cancel, _timeout], ids=["task.cancel", "wait_for"])
def test_cancelled_async_task_cancels_the_stream(
        server: LoopbackServer, reader: str, stop: Any, no_gc: None) -> None:
    server.script = STALLED
    handle = _async_cancel(server, reader, stop)
    assert isinstance(handle.error, StreamCancelled)
    assert wait_until(lambda: not stream_threads(), 1.0)
    assert wait_until(lambda: server.connections_open == 0, 1.0)


def test_asyncio_timeout_inside_the_loop_cancels_the_stream(
        server: LoopbackServer, reader: str, no_gc: None) -> None:
    """``async with asyncio.timeout(...)`` around the loop (Python 3.11+), as an
    ASGI endpoint does when its client disconnects: the task is cancelled
    inside ``__anext__``."""
    if not hasattr(asyncio, "timeout"):  # pragma: no cover - Python 3.10
        pytest.skip("asyncio.timeout needs Python 3.11")
    server.script = STALLED
    seen: list[StreamHandle] = []

    async def main() -> None:
        with make_client(server, reader=reader) as client:
            it: Any = client.astream(MODEL, MESSAGES)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    async for _ in it:
                        pass
            seen.append(it.handle)
            t0 = time.perf_counter()
            assert await asyncio.to_thread(it.handle._done.wait, AT_ONCE * 5)
            assert time.perf_counter() - t0 < AT_ONCE * 5

    asyncio.run(main())
    (handle,) = seen
    assert isinstance(handle.error, StreamCancelled)


def test_break_out_of_a_kept_astream_cancels_at_once(
        server: LoopbackServer, reader: str, no_gc: None) -> None:
    server.script = LONG
    seen: list[StreamHandle] = []

    async def main() -> None:
        with make_client(server, reader=reader) as client:
            it: Any = client.astream(MODEL, MESSAGES)
            async for chunk in it:
                if chunk.text:
                    break
            seen.append(it.handle)
            assert await asyncio.to_thread(it.handle._done.wait, AT_ONCE * 5)
            with pytest.raises(UsageError):
                async for _ in it:
                    pass

    asyncio.run(main())
    assert isinstance(seen[0].error, StreamCancelled)


def test_natural_end_is_not_cancelled(server: LoopbackServer, reader: str) -> None:
    """The other side: a loop that reads to the end gets Finish, and leaving
    afterwards cancels nothing."""
    server.script = Script(text="all of it")
    with make_client(server, reader=reader) as client:
        s = client.stream(MODEL, MESSAGES)
        assert "".join(c.text or "" for c in s) == "all of it"
        assert s.handle.wait(1).text == "all of it"
        assert s.handle.cancel() is False


# -- cancel() tells the truth ---------------------------------------------------------


def test_cancel_racing_the_natural_end_returns_true_only_when_cancelled(
        server: LoopbackServer, reader: str) -> None:
    """Many cancels fired just as short streams end: every True means the
    stream ended with StreamCancelled, every False means it ended otherwise."""
    server.script = Script(tokens=["a", " b"], tokens_per_second=2000)
    outcomes: list[tuple[bool, Message]] = []
    lock = threading.Lock()
    with make_client(server, reader=reader) as client:
        for round_ in range(25):
            box: list[Message] = []
            handles = [client.chat(MODEL, MESSAGES, stream_to=box.append) for _ in range(12)]
            time.sleep(0.001 * (round_ % 5))
            said = [h.cancel() for h in handles]
            for h, s in zip(handles, said, strict=True):
                try:
                    h.wait(10)
                except Exception:
                    pass
                terminal = [m for m in box if isinstance(m, (Error, Finish)) and m.stream is h]
                assert len(terminal) == 1
                with lock:
                    outcomes.append((s, terminal[0]))
    for said_true, end in outcomes:
        cancelled = isinstance(end, Error) and isinstance(end.error, StreamCancelled)
        assert said_true == cancelled, (said_true, end)
    assert any(s for s, _ in outcomes), "no cancel won the race: the test proves nothing"


# -- waiting from inside the stream's own delivery -------------------------------------


def test_wait_from_a_callable_target_is_an_error_not_a_deadlock(
        server: LoopbackServer, reader: str) -> None:
    server.script = Script(text="a b c")
    caught: list[BaseException] = []
    finished: list[Any] = []
    handles: list[StreamHandle] = []

    def target(message: Message) -> None:
        (handle,) = handles
        if isinstance(message, Data):
            if not caught:
                try:
                    handle.wait(5)
                except UsageError as exc:
                    caught.append(exc)
        else:  # the terminal message: the result is already known
            finished.append(handle.wait(5))

    with make_client(server, reader=reader) as client:
        gate = threading.Event()

        def gated(message: Message) -> None:
            gate.wait(5)  # until the handle below is known to the target
            target(message)

        handles.append(client.chat(MODEL, MESSAGES, stream_to=gated))
        gate.set()
        result = handles[0].wait(5)
    assert caught and "own delivery" in str(caught[0])
    assert finished == [result]
    assert not stream_threads() or wait_until(lambda: not stream_threads(), 1.0)


def test_no_chunk_reaches_a_bounded_queue_after_cancel(server: LoopbackServer) -> None:
    """A consumer making room after cancel() returned True sees at most what
    was already queued (and the one put in flight), then the Error: the rest
    of the batch being delivered is not pushed through."""
    import queue

    server.script = Script(tokens=[f" w{i}" for i in range(3000)])  # unpaced: big batches
    q: queue.Queue[Message] = queue.Queue(maxsize=8)
    with make_client(server) as client:
        handle = client.chat(MODEL, MESSAGES, stream_to=q)
        for _ in range(20):
            q.get(timeout=5)
        assert handle.cancel() is True
        after = 0
        while True:
            m = q.get(timeout=5)
            if not isinstance(m, Data):
                break
            after += 1
        assert isinstance(m, Error) and isinstance(m.error, StreamCancelled)
        assert after <= 8 + 1, f"{after} chunks arrived after cancel() returned True"
