"""Cancellation (guarantee 4): prompt, from any thread, exactly one
``Error(StreamCancelled)`` with the partial result, connection discarded."""

from __future__ import annotations

import asyncio
import queue
import statistics
import threading
import time
from typing import Any

import pytest

import streamactors
from streamactors import (
    Chunk,
    Data,
    Error,
    Finish,
    Message,
    StreamCancelled,
    StreamError,
    StreamHandle,
    Timeout,
)
from streamactors.testing import Fault, LoopbackServer, Script

from . import (
    MESSAGES,
    MODELS,
    RawServer,
    Recorder,
    blackhole,
    make_client,
    stream_threads,
    wait_until,
)

pytestmark = pytest.mark.timeout(20)

MODEL = MODELS["openai"]
TOKENS = ("one", " two", " three", " four", " five")
STALLED = Script(tokens=TOKENS, fault=Fault("stall", after=2, seconds=30))
#: Cancel must release a blocked worker well before this (the issue's bound).
PROMPT = 0.5
#: Cancel latencies measured by ``test_cancel_releases_blocked_read``.
LATENCIES: list[float] = []


def drain(q: queue.Queue[Any], limit: float = 5.0) -> list[Message]:
    """Messages from ``q`` up to and including the terminal one."""
    out: list[Message] = []
    while True:
        m = q.get(timeout=limit)
        out.append(m)
        if isinstance(m, (Error, Finish)):
            return out


def wait_for_data(q: queue.Queue[Any], texts: int) -> list[Message]:
    """Take messages until ``texts`` chunks with text have arrived."""
    got: list[Message] = []
    while sum(1 for m in got if isinstance(m, Data) and m.chunk.text) < texts:
        got.append(q.get(timeout=5))
    return got


def test_cancel_releases_blocked_read(server: LoopbackServer, no_leaks: None) -> None:
    """A worker blocked in ``recv`` on a stalled stream is released at once,
    not at the read timeout; the server sees the connection closed."""
    server.script = STALLED
    client = make_client(server, timeout=Timeout(connect=5, read=30))
    try:
        for _ in range(15):
            q: queue.Queue[Any] = queue.Queue()
            handle = client.chat(MODEL, MESSAGES, stream_to=q)
            head = wait_for_data(q, 2)
            time.sleep(0.05)  # let the worker block in its next read
            assert not handle.done()
            t0 = time.perf_counter()
            assert handle.cancel() is True
            with pytest.raises(StreamCancelled) as info:
                handle.wait(PROMPT)
            latency = time.perf_counter() - t0
            LATENCIES.append(latency)
            assert latency < PROMPT
            rest = drain(q, 1.0)
            messages = head + rest
            terminals = [m for m in messages if isinstance(m, (Error, Finish))]
            assert len(terminals) == 1 and terminals[0] is messages[-1]
            err = info.value
            assert isinstance(terminals[0], Error) and terminals[0].error is err
            assert err.reason == "cancelled"
            assert err.partial is not None and err.partial.text == "one two"
            assert err.partial.chunks == sum(1 for m in messages if isinstance(m, Data))
            assert q.empty()
            assert handle.cancel() is False  # already over
            # The connection is discarded, not pooled: the server sees it closed.
            assert wait_until(lambda: server.connections_open == 0, PROMPT)
    finally:
        client.close()
    print(f"\ncancel latency over {len(LATENCIES)} runs: median "
          f"{statistics.median(LATENCIES) * 1000:.2f} ms, max {max(LATENCIES) * 1000:.2f} ms")


def test_cancel_after_the_end_is_a_noop(server: LoopbackServer, no_leaks: None) -> None:
    client = make_client(server)
    try:
        handle = client.chat(MODEL, MESSAGES)
        result = handle.wait(5)
        assert handle.cancel() is False
        assert handle.result is result and handle.error is None
        assert [type(m) for m in handle][-1] is Finish
    finally:
        client.close()


def test_second_cancel_returns_false(server: LoopbackServer, no_leaks: None) -> None:
    server.script = STALLED
    client = make_client(server)
    try:
        handle = client.chat(MODEL, MESSAGES)
        assert handle.cancel() is True
        assert handle.cancel() is False
        with pytest.raises(StreamCancelled):
            handle.wait(PROMPT)
        msgs = list(handle)
        assert sum(isinstance(m, (Error, Finish)) for m in msgs) == 1
    finally:
        client.close()


def test_cancel_from_many_threads_at_once(server: LoopbackServer, no_leaks: None) -> None:
    """Racing cancels: exactly one wins, one terminal message."""
    server.script = STALLED
    client = make_client(server)
    try:
        q: queue.Queue[Any] = queue.Queue()
        handle = client.chat(MODEL, MESSAGES, stream_to=q)
        wait_for_data(q, 2)
        results: list[bool] = []
        start = threading.Barrier(8)

        def racer() -> None:
            start.wait()
            results.append(handle.cancel())

        threads = [threading.Thread(target=racer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert sorted(results) == [False] * 7 + [True]
        rest = drain(q, 1.0)
        assert isinstance(rest[-1], Error) and isinstance(rest[-1].error, StreamCancelled)
        assert wait_until(handle.done, PROMPT)
        assert q.empty()
    finally:
        client.close()


def test_cancel_while_waiting_for_headers(no_leaks: None, server: LoopbackServer) -> None:
    """A server that never answers: cancel releases the wait for headers."""
    release = threading.Event()

    def never(request: bytes) -> bytes:
        release.wait(10)
        return b""

    with RawServer(never) as raw:
        client = streamactors.Client(base_url=raw.base_url + "/v1", api_key="sk-test",
                                     timeout=Timeout(connect=5, read=30), trust_env=False)
        try:
            handle = client.chat(MODEL, MESSAGES)
            assert wait_until(lambda: len(raw.requests) == 1)
            time.sleep(0.05)
            t0 = time.perf_counter()
            assert handle.cancel()
            with pytest.raises(StreamCancelled) as info:
                handle.wait(PROMPT)
            assert time.perf_counter() - t0 < PROMPT
            assert info.value.partial is not None and info.value.partial.chunks == 0
            # Once the server's handler returns it finds the client gone.
            release.set()
            assert wait_until(lambda: raw.connections_open == 0, PROMPT)
        finally:
            release.set()
            client.close()


def test_cancel_releases_a_hanging_connect(no_leaks: None, server: LoopbackServer) -> None:
    """A connect that hangs (a listener whose backlog is full, as a
    non-routable address would): cancel shuts the connecting socket down and
    the stream ends at once as cancelled, not at the connect timeout."""
    listener, fillers = blackhole()
    client = streamactors.Client(base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1",
                                 api_key="sk-test", timeout=Timeout(connect=10, read=5),
                                 max_retries=3, trust_env=False)
    try:
        handle = client.chat(MODEL, MESSAGES)
        time.sleep(0.1)
        assert not handle.done()
        t0 = time.perf_counter()
        assert handle.cancel()
        with pytest.raises(StreamCancelled) as info:
            handle.wait(PROMPT)
        assert time.perf_counter() - t0 < PROMPT
        assert info.value.retries == 0
        assert info.value.partial is not None and info.value.partial.chunks == 0
    finally:
        client.close()
        for s in [listener, *fillers]:
            s.close()


def test_cancel_from_inside_handle_data(server: LoopbackServer, no_leaks: None) -> None:
    """A handler method cancels its own stream: one Error(StreamCancelled)
    follows the chunks it had, with them in its partial result."""
    server.script = Script(tokens=TOKENS, tokens_per_second=50)

    class Canceller(Recorder):
        def handle_data(self, chunk: Chunk, stream: StreamHandle) -> None:
            super().handle_data(chunk, stream)
            if chunk.text == " two":
                assert stream.cancel() is True
                assert stream.cancel() is False

    client = make_client(server)
    actor = Canceller().start()
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=actor)
        with pytest.raises(StreamCancelled) as info:
            handle.wait(5)
    finally:
        actor.stop()
        actor.join(5)
        client.close()
    msgs = actor.of(handle)
    assert isinstance(msgs[-1], Error) and msgs[-1].error is info.value
    assert sum(isinstance(m, (Error, Finish)) for m in msgs) == 1
    data = [m for m in msgs if isinstance(m, Data)]
    assert [m.chunk.text for m in data if m.chunk.text][:2] == ["one", " two"]
    assert info.value.partial is not None
    assert info.value.partial.chunks == len(data)
    assert info.value.partial.text == "".join(m.chunk.text or "" for m in data)
    assert not actor.failures


def test_cancel_from_inside_a_callable_target(server: LoopbackServer, no_leaks: None) -> None:
    """The callable runs on the worker thread itself; cancelling from there
    ends the stream after the current batch, with one terminal message."""
    server.script = Script(tokens=TOKENS, tokens_per_second=50)
    seen: list[Message] = []

    def target(m: Message) -> None:
        seen.append(m)
        if isinstance(m, Data) and m.chunk.text == " two":
            m.stream.cancel()

    client = make_client(server)
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=target)
        with pytest.raises(StreamCancelled) as info:
            handle.wait(5)
    finally:
        client.close()
    assert seen[-1] == Error(handle, info.value)
    assert sum(isinstance(m, (Error, Finish)) for m in seen) == 1
    texts = [m.chunk.text for m in seen if isinstance(m, Data) and m.chunk.text]
    assert texts == ["one", " two"]
    assert info.value.partial is not None and info.value.partial.text == "one two"


def test_cancel_releases_a_worker_blocked_on_a_full_mailbox(
    server: LoopbackServer, no_leaks: None
) -> None:
    """The worker waits on a full mailbox (the actor is busy); cancel wakes
    it at once and the terminal message still reaches the actor."""
    server.script = Script(tokens=[f" t{i}" for i in range(200)], tokens_per_second=2000)
    busy = threading.Event()
    go_on = threading.Event()

    class Slow(Recorder):
        def handle_data(self, chunk: Chunk, stream: StreamHandle) -> None:
            super().handle_data(chunk, stream)
            busy.set()
            go_on.wait(5)

    client = make_client(server)
    actor = Slow(mailbox_size=1).start()
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=actor)
        assert busy.wait(5)
        time.sleep(0.1)  # the worker is now waiting for room in the mailbox
        assert not handle.done()
        t0 = time.perf_counter()
        handle.cancel()
        with pytest.raises(StreamCancelled):
            handle.wait(PROMPT)
        assert time.perf_counter() - t0 < PROMPT
        go_on.set()
    finally:
        go_on.set()
        actor.stop()
        actor.join(5)
        client.close()
    msgs = actor.of(handle)
    assert isinstance(msgs[-1], Error)
    assert sum(isinstance(m, (Error, Finish)) for m in msgs) == 1
    assert msgs[-1].error.partial is not None
    assert msgs[-1].error.partial.chunks == len(msgs) - 1


def test_cancel_releases_a_worker_blocked_on_a_full_queue(
    server: LoopbackServer, no_leaks: None
) -> None:
    """A bounded queue nobody reads: cancel ends the wait for room; the
    terminal message waits for the consumer and is never dropped."""
    server.script = Script(tokens=[f" t{i}" for i in range(50)])
    client = make_client(server)
    try:
        q: queue.Queue[Any] = queue.Queue(maxsize=2)
        handle = client.chat(MODEL, MESSAGES, stream_to=q)
        assert wait_until(q.full)
        time.sleep(0.05)
        handle.cancel()
        msgs = drain(q, 2.0)
        handle_err = None
        try:
            handle.wait(PROMPT)
        except StreamCancelled as exc:
            handle_err = exc
        assert handle_err is not None
        assert msgs[-1] == Error(handle, handle_err)
        assert sum(isinstance(m, (Error, Finish)) for m in msgs) == 1
        assert handle_err.partial is not None
        assert handle_err.partial.chunks == len(msgs) - 1
    finally:
        client.close()


def test_cancel_during_retry_backoff(server: LoopbackServer, no_leaks: None) -> None:
    """Waiting out a long Retry-After: cancel ends the wait at once."""
    server.script = Script(fault=Fault("http_error", status=429, retry_after=30))
    client = make_client(server, max_retries=2)
    try:
        handle = client.chat(MODEL, MESSAGES)
        assert server.wait_for_requests(1)
        time.sleep(0.05)
        t0 = time.perf_counter()
        handle.cancel()
        with pytest.raises(StreamCancelled) as info:
            handle.wait(PROMPT)
        assert time.perf_counter() - t0 < PROMPT
        assert info.value.retries == 0  # announced, never made
        assert len(server.requests) == 1
    finally:
        client.close()


def test_leaving_a_stream_loop_early_cancels(server: LoopbackServer, no_leaks: None) -> None:
    server.script = STALLED
    client = make_client(server)
    try:
        with client.stream(MODEL, MESSAGES) as chunks:
            texts = []
            for c in chunks:
                if c.text:
                    texts.append(c.text)
                if len(texts) == 2:
                    break
        handle = chunks.handle
        with pytest.raises(StreamCancelled):
            handle.wait(PROMPT)
    finally:
        client.close()


def test_leaving_an_async_loop_early_cancels(server: LoopbackServer, no_leaks: None) -> None:
    server.script = STALLED
    client = make_client(server)
    handles: list[StreamHandle] = []

    async def main() -> None:
        it: Any = client.astream(MODEL, MESSAGES)
        async with it:
            async for c in it:
                if c.text == " two":
                    break
        handles.append(it.handle)

    try:
        t0 = time.perf_counter()
        asyncio.run(asyncio.wait_for(main(), 5))
        assert time.perf_counter() - t0 < 2
        (handle,) = handles
        assert handle.done()
        assert isinstance(handle.error, StreamCancelled)
    finally:
        client.close()


# -- stopping an actor -----------------------------------------------------------------


def test_stop_cancels_nothing_by_default(server: LoopbackServer, no_leaks: None) -> None:
    """``stop()`` ends the actor after its mailbox; a stream still running
    (here stalled) is left alone until it tries to deliver again."""
    server.script = STALLED
    client = make_client(server)
    actor = Recorder().start()
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=actor)
        assert wait_until(lambda: len(actor.of(handle)) >= 3)
        actor.stop()
        assert actor.join(2)
        time.sleep(0.2)
        assert not handle.done()
        assert not handle._token.cancelled
        handle.cancel()
        with pytest.raises(StreamCancelled):
            handle.wait(PROMPT)
    finally:
        client.close()


def test_stop_refuses_later_deliveries(server: LoopbackServer, no_leaks: None) -> None:
    """After ``stop()`` a stream's next delivery is refused: it ends with
    ``StreamCancelled(reason="target_stopped")`` instead of flowing nowhere."""
    server.script = Script(tokens=[f" t{i}" for i in range(100)], tokens_per_second=100)
    client = make_client(server)
    actor = Recorder().start()
    try:
        handle = client.chat(MODEL, MESSAGES, stream_to=actor)
        assert wait_until(lambda: len(actor.of(handle)) >= 3)
        actor.stop()
        with pytest.raises(StreamCancelled) as info:
            handle.wait(2)
        assert info.value.reason == "target_stopped"
        assert info.value.partial is not None and 0 < info.value.partial.chunks < 100
    finally:
        client.close()


def test_stop_cancel_streams_cancels_flowing_streams(
    server: LoopbackServer, no_leaks: None
) -> None:
    server.script = STALLED
    client = make_client(server)
    actor = Recorder().start()
    other = Recorder().start()
    try:
        mine = [client.chat(MODEL, MESSAGES, stream_to=actor) for _ in range(3)]
        theirs = client.chat(MODEL, MESSAGES, stream_to=other)
        assert wait_until(lambda: all(len(actor.of(h)) >= 3 for h in mine))
        t0 = time.perf_counter()
        actor.stop(cancel_streams=True)
        for h in mine:
            with pytest.raises(StreamCancelled) as info:
                h.wait(PROMPT)
            assert info.value.reason == "target_stopped"
        assert time.perf_counter() - t0 < PROMPT
        assert actor.join(2)
        # A stream flowing to another actor is untouched.
        time.sleep(0.1)
        assert not theirs.done()
        theirs.cancel()
        with pytest.raises(StreamCancelled):
            theirs.wait(PROMPT)
    finally:
        other.stop()
        other.join(2)
        client.close()
    assert wait_until(lambda: not stream_threads())


def test_cancel_error_is_typed_and_carries_everything(
    server: LoopbackServer, no_leaks: None
) -> None:
    server.script = STALLED
    client = make_client(server)
    try:
        q: queue.Queue[Any] = queue.Queue()
        handle = client.chat(MODEL, MESSAGES, stream_to=q)
        wait_for_data(q, 2)
        handle.cancel()
        err = drain(q)[-1]
        assert isinstance(err, Error)
        e = err.error
        assert isinstance(e, StreamCancelled) and isinstance(e, StreamError)
        assert e.provider == "openai"
        assert e.partial is not None and e.partial.finish_reason is None
        assert handle.id in str(e)
    finally:
        client.close()
