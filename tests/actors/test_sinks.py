"""The ``Sink`` protocol: ``nonblocking``, and ``deliver`` reporting how many
chunks the target took (fewer only with the stream's token cancelled), for
every target ``stream_to`` accepts; the worker folds exactly those."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import streamactors as sa
from streamactors.actors._aio import _AsyncSink
from streamactors.actors._client import mailbox_of
from streamactors.actors._sinks import CallableSink, Channel, PutSink, Sink, cancelled_error
from streamactors.testing import LoopbackServer, Script

pytestmark = pytest.mark.timeout(20)

MESSAGES = [{"role": "user", "content": "hi"}]
CHUNKS = [sa.Chunk(text=f"c{i}") for i in range(5)]
RESULT = sa.StreamResult(provider="openai", model="m")


@pytest.fixture
def handle() -> Iterator[sa.StreamHandle]:
    """A handle to deliver by hand (no worker, no request)."""
    h = sa.StreamHandle("openai/m")
    yield h
    h._token.cancel("cancelled")


class Custom:
    """An object with put() that is not a stdlib queue."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)


def _sinks() -> list[tuple[str, Sink, bool]]:
    actor, bounded_actor = sa.StreamingClient(), sa.StreamingClient(mailbox_size=3)
    return [
        ("channel", Channel(), True),
        ("bounded channel", Channel(8), False),
        ("queue", PutSink(queue.Queue()), True),
        ("simple queue", PutSink(queue.SimpleQueue()), True),
        ("bounded queue", PutSink(queue.Queue(maxsize=8)), False),
        ("custom put", PutSink(Custom()), False),
        ("callable", CallableSink(lambda m: None), False),
        ("mailbox", mailbox_of(actor), True),
        ("bounded mailbox", mailbox_of(bounded_actor), False),
    ]


@pytest.mark.parametrize(("name", "sink", "nonblocking"), _sinks(),
                         ids=[name for name, _, _ in _sinks()])
def test_nonblocking_says_whether_deliver_may_wait(name: str, sink: Sink,
                                                   nonblocking: bool) -> None:
    assert sink.nonblocking is nonblocking
    assert not hasattr(sink, "_nonblocking_delivery"), "the old attribute is gone"


def test_the_asyncio_sink_may_wait() -> None:
    async def make() -> bool:
        import janus

        q: janus.Queue[None] = janus.Queue()
        try:
            return _AsyncSink(q).nonblocking
        finally:
            q.close()
            await q.wait_closed()

    assert asyncio.run(make()) is False


@pytest.mark.parametrize("make", [Channel, lambda: PutSink(queue.Queue()),
                                  lambda: PutSink(queue.Queue(maxsize=100)),
                                  lambda: CallableSink(lambda m: None)],
                         ids=["channel", "queue", "bounded queue", "callable"])
def test_a_delivery_taken_whole_reports_every_chunk(make: Any, handle: sa.StreamHandle) -> None:
    sink: Sink = make()
    sink.open(handle)
    assert sink.deliver(handle, CHUNKS) == len(CHUNKS)
    assert not handle._token.cancelled


def test_a_callable_that_raises_took_its_chunk_and_cancels_with_the_cause(
    handle: sa.StreamHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="streamactors")
    seen: list[sa.Message] = []
    boom = ValueError("boom")

    def target(m: sa.Message) -> None:
        seen.append(m)
        if isinstance(m, sa.Data) and m.chunk is CHUNKS[2]:
            raise boom

    taken = CallableSink(target).deliver(handle, CHUNKS)
    assert taken == 3 and len(seen) == 3, "the chunk it raised on was delivered"
    assert (handle._token.reason, handle._token.cause) == ("handler_failed", boom)
    err = cancelled_error(handle)
    assert err.reason == "handler_failed" and err.__cause__ is boom
    assert "stream_to callable raised" in caplog.text


def test_a_put_that_raises_did_not_take_its_chunk_and_cancels_with_the_cause(
    handle: sa.StreamHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="streamactors")
    boom = RuntimeError("queue closed")

    class Failing(Custom):
        def put(self, item: Any) -> None:
            if len(self.items) == 2:
                raise boom
            super().put(item)

    target = Failing()
    assert PutSink(target).deliver(handle, CHUNKS) == 2
    assert [m.chunk for m in target.items] == CHUNKS[:2]
    assert (handle._token.reason, handle._token.cause) == ("target_stopped", boom)
    assert "put() raised" in caplog.text


def test_a_bounded_queue_takes_nothing_more_once_cancelled(handle: sa.StreamHandle) -> None:
    q: queue.Queue[Any] = queue.Queue(maxsize=2)
    sink = PutSink(q)
    taken: list[int] = []
    worker = threading.Thread(target=lambda: taken.append(sink.deliver(handle, CHUNKS)))
    worker.start()
    deadline = time.monotonic() + 5
    while not q.full() and time.monotonic() < deadline:
        time.sleep(0.001)
    handle.cancel()
    worker.join(2)
    assert taken == [2] and q.qsize() == 2
    assert sink.deliver(handle, CHUNKS) == 0


def test_a_cancelled_channel_refuses_the_batch(handle: sa.StreamHandle) -> None:
    channel = Channel()
    assert channel.deliver(handle, CHUNKS[:1]) == 1
    handle.cancel()
    assert channel.deliver(handle, CHUNKS) == 0
    channel.terminal(sa.Finish(handle, RESULT))
    assert [m.chunk for m in channel.messages(handle) if isinstance(m, sa.Data)] == CHUNKS[:1]


def test_a_stopped_actor_refuses_and_cancels_the_stream(handle: sa.StreamHandle) -> None:
    actor = sa.StreamingClient().start()
    box = mailbox_of(actor)
    box.open(handle)
    actor.stop()
    assert actor.join(5)
    assert box.deliver(handle, CHUNKS) == 0
    assert handle._token.reason == "target_stopped"
    with pytest.raises(RuntimeError, match="stopped"):
        actor.ask(lambda: None)


def test_a_cancelled_stream_into_a_full_bounded_mailbox_does_not_deadlock(
    handle: sa.StreamHandle,
) -> None:
    """The mailbox is full (its actor busy) and the stream was cancelled just
    before delivering: the delivery is refused at once."""
    release = threading.Event()
    with sa.StreamingClient(mailbox_size=1) as actor:
        box = mailbox_of(actor)
        box.open(handle)
        started = threading.Event()

        def busy() -> None:
            started.set()
            release.wait(5)

        actor.ask(busy)
        assert started.wait(5)
        assert box.deliver(handle, CHUNKS[:1]) == 1
        handle.cancel()
        taken: list[int] = []
        worker = threading.Thread(target=lambda: taken.append(box.deliver(handle, CHUNKS)),
                                  daemon=True)
        worker.start()
        worker.join(2)
        release.set()
        assert taken == [0], "the delivery hung"
        box.terminal(sa.Error(handle, cancelled_error(handle)))


def test_a_partial_delivery_is_exactly_the_partial_result(server: LoopbackServer) -> None:
    """End to end: a bounded queue refuses the tail of a batch when the stream
    is cancelled while its worker waits; the error's partial result is the
    chunks the queue took, no more, no fewer."""
    server.script = Script(tokens=[f" t{i}" for i in range(300)])  # unpaced: big batches
    client = sa.Client(base_url=server.url("openai"), api_key="sk-test", trust_env=False,
                       reader="thread")
    q: queue.Queue[Any] = queue.Queue(maxsize=3)
    try:
        handle = client.chat("openai/m", MESSAGES, stream_to=q)
        deadline = time.monotonic() + 5
        while not q.full() and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.05)  # the worker waits for room, in the middle of a batch
        handle.cancel()
        messages: list[sa.Message] = []
        while not messages or not isinstance(messages[-1], (sa.Error, sa.Finish)):
            messages.append(q.get(timeout=5))
    finally:
        client.close()
    error = messages[-1]
    assert isinstance(error, sa.Error) and isinstance(error.error, sa.StreamCancelled)
    data = [m for m in messages if isinstance(m, sa.Data)]
    assert error.error.partial is not None
    assert error.error.partial.chunks == len(data) < 300
    assert error.error.partial.text == "".join(m.chunk.text or "" for m in data)
