"""The asyncio bridge: batches in the shared bounded buffer, janus only to
wake the coroutine while it waits, the loop going away, and a terminal that
never waits for room."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import streamactors as sa
from streamactors.actors import _aio
from streamactors.actors._aio import _AsyncSink
from streamactors.testing import LoopbackServer, Script

pytestmark = pytest.mark.timeout(20)

MESSAGES = [{"role": "user", "content": "hi"}]
CHUNKS = [sa.Chunk(text="a"), sa.Chunk(text="b")]


def _from_a_thread(fn: object) -> None:
    """Call ``fn()`` on another thread (a worker's) and wait for it."""
    assert callable(fn)
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join(5)


def test_the_coroutine_is_woken_once_and_only_while_it_waits() -> None:
    async def main() -> tuple[int, int, list[list[sa.Chunk] | sa.Error | sa.Finish | None]]:
        import janus

        wakeups: janus.Queue[None] = janus.Queue()
        sink = _AsyncSink(wakeups)
        handle = sa.StreamHandle("openai/m")
        sink.open(handle)
        _from_a_thread(lambda: sink.deliver(handle, CHUNKS))
        busy = wakeups.async_q.qsize()  # nobody waited: no wake-up
        first = sink.poll()
        assert sink.poll() is None  # now it waits
        for _ in range(3):
            _from_a_thread(lambda: sink.deliver(handle, CHUNKS))
        waited = wakeups.async_q.qsize()
        await asyncio.wait_for(wakeups.async_q.get(), 1)
        items = [first, sink.poll(), sink.poll(), sink.poll()]
        wakeups.close()
        await wakeups.wait_closed()
        return busy, waited, items

    busy, waited, items = asyncio.run(main())
    assert (busy, waited) == (0, 1)
    assert items == [CHUNKS] * 4


def test_a_loop_gone_away_cancels_the_stream_and_refuses_the_rest() -> None:
    handle = sa.StreamHandle("openai/m")

    async def main() -> _AsyncSink:
        import janus

        wakeups: janus.Queue[None] = janus.Queue()
        sink = _AsyncSink(wakeups)
        sink.open(handle)
        assert sink.poll() is None
        wakeups.close()  # as when the loop side is torn down
        await wakeups.wait_closed()
        return sink

    sink = asyncio.run(main())
    assert sink.deliver(handle, CHUNKS) == 2  # taken; waking the coroutine fails
    assert handle._token.reason == "target_stopped"
    assert handle._token.cause is not None
    assert sink.deliver(handle, CHUNKS) == 0
    sink.terminal(sa.Finish(handle, sa.StreamResult(provider="openai", model="m")))


def test_aclose_with_a_full_buffer_ends_the_stream_at_once(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker waits for room (a bound of 2 chunks) when the consumer
    leaves; its terminal never waits, so it ends at once."""
    monkeypatch.setattr(_aio, "MAX_CHUNKS", 2)
    server.script = Script(tokens=[f" t{i}" for i in range(400)])
    client = sa.Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False)

    async def main() -> tuple[sa.StreamHandle, float]:
        it = client.astream("openai/m", MESSAGES)
        assert isinstance(it, _aio.AsyncChunkStream)
        await it.__anext__()  # (a for loop left early would cancel at once)
        await asyncio.sleep(0.05)  # the worker now waits for room
        assert it.handle is not None and not it.handle.done()
        started = time.perf_counter()
        await it.aclose()
        return it.handle, time.perf_counter() - started

    try:
        handle, took = asyncio.run(main())
    finally:
        client.close()
    assert handle.done() and took < 0.5
    assert isinstance(handle.error, sa.StreamCancelled)
    thread = handle._thread
    if thread is not None:
        thread.join(2)
        assert not thread.is_alive()
