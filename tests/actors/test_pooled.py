"""Streams without a thread of their own: a stream whose target never blocks
runs on the connector pool (request and head) and the shared reader (body),
with every guarantee of a threaded stream: order, one terminal message,
retries before data, fallbacks, prompt cancel, time limits, a hand-back to a
thread of its own when the reader cannot or should not read it."""

from __future__ import annotations

import gzip
import queue
import socket
import threading
import time
from typing import Any

import pytest

import streamactors as sa
from streamactors.actors._connectors import ConnectorPool
from streamactors.testing import Fault, LoopbackServer, Script

from ..reliability import RawServer, Recorder, make_client, wait_until

pytestmark = pytest.mark.timeout(60)

MSGS = [{"role": "user", "content": "hi"}]
MODEL = "openai/m"


def _threads() -> int:
    """Threads of the client side (the loopback server has one per connection)."""
    return sum(1 for t in threading.enumerate() if not t.name.startswith("streamactors-loopback"))


def test_a_stream_into_an_unbounded_target_has_no_thread(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(tokens=["a", " b", " c"], tokens_per_second=100)
    with make_client(loopback_server, reader="reactor") as client:
        handle = client.chat(MODEL, MSGS)            # stream_to=None: the handle's buffer
        assert handle._thread is None
        assert handle.wait(5).text == "a b c"
        q: queue.Queue[sa.Message] = queue.Queue()   # an unbounded queue
        h2 = client.chat(MODEL, MSGS, stream_to=q)
        assert h2._thread is None and h2.wait(5).text == "a b c"
        with Recorder() as actor:                    # an unbounded actor
            h3 = client.chat(MODEL, MSGS, stream_to=actor)
            assert h3._thread is None and h3.wait(5).text == "a b c"


def test_blocking_targets_and_the_thread_reader_keep_a_thread(
        loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="x y")
    with make_client(loopback_server, reader="reactor") as client:
        bounded: queue.Queue[sa.Message] = queue.Queue(maxsize=4)
        handle = client.chat(MODEL, MSGS, stream_to=bounded)
        assert handle._thread is not None
        while not isinstance(bounded.get(timeout=5), (sa.Error, sa.Finish)):
            pass
        seen: list[sa.Message] = []
        assert client.chat(MODEL, MSGS, stream_to=seen.append)._thread is not None
    with make_client(loopback_server, reader="thread") as client:
        assert client.chat(MODEL, MSGS)._thread is not None


def test_many_streams_cost_no_thread_each(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(tokens=[f" t{i}" for i in range(20)], tokens_per_second=40)
    before = _threads()
    with make_client(loopback_server, reader="reactor") as client, Recorder() as actor:
        handles = [client.chat(MODEL, MSGS, stream_to=actor) for _ in range(150)]
        time.sleep(0.2)  # all streaming now
        during = _threads()
        for h in handles:
            assert h.wait(10).text == "".join(f" t{i}" for i in range(20))
    # The reader, the deadline thread, a few connectors and the actor: far
    # fewer than one thread per stream.
    assert during - before < 40, f"{during - before} threads for 150 streams"


def test_a_retry_before_data_goes_back_to_the_connectors(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="after retry",
                                    fault=Fault("http_error", status=503, retry_after=0.1,
                                                times=1))
    with make_client(loopback_server, reader="reactor", max_retries=2) as client:
        handle = client.chat(MODEL, MSGS)
        result = handle.wait(5)
    assert result.text == "after retry" and result.retries == 1
    assert handle._thread is None
    assert len(loopback_server.requests) == 2


def test_cancel_while_waiting_for_a_retry_ends_at_once(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(fault=Fault("http_error", status=429, retry_after=30))
    with make_client(loopback_server, reader="reactor", max_retries=2) as client:
        handle = client.chat(MODEL, MSGS, timeout=sa.Timeout(connect=2, read=2))
        assert wait_until(lambda: len(loopback_server.requests) == 1, 2.0)
        time.sleep(0.05)  # now waiting out the Retry-After (no thread does)
        t0 = time.monotonic()
        assert handle.cancel() is True
        with pytest.raises(sa.StreamCancelled):
            handle.wait(1)
        assert time.monotonic() - t0 < 0.5
        assert handle.error is not None and handle.error.retries == 0
    time.sleep(0.1)
    assert len(loopback_server.requests) == 1, "the retry ran after the cancel"


def test_a_router_fallback_runs_pooled(loopback_server: LoopbackServer) -> None:
    loopback_server.push(Script(fault=Fault("http_error", status=500)),
                         Script(text="from the fallback"))
    url = loopback_server.url("openai")
    router = sa.Router({
        "main": {"model": MODEL, "base_url": url, "api_key": "k", "max_retries": 0,
                 "fallbacks": ["backup"]},
        "backup": {"model": MODEL, "base_url": url, "api_key": "k"},
    }, client=sa.Client(reader="reactor"))
    with router, router._client:
        handle = router.chat("main", MSGS)
        result = handle.wait(5)
    assert result.text == "from the fallback" and result.route == "backup"
    assert handle._thread is None


def test_cancel_mid_stream_ends_at_once(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="a b c", fault=Fault("stall", after=1, seconds=30))
    with make_client(loopback_server, reader="reactor") as client:
        handle = client.chat(MODEL, MSGS)
        assert wait_until(lambda: len(loopback_server.requests) == 1, 2.0)
        time.sleep(0.1)
        t0 = time.monotonic()
        assert handle.cancel() is True
        with pytest.raises(sa.StreamCancelled) as caught:
            handle.wait(1)
        assert time.monotonic() - t0 < 0.2
        assert caught.value.partial is not None and caught.value.partial.text == "a"
        assert wait_until(lambda: loopback_server.connections_open == 0, 2.0)


def test_time_limits_end_a_pooled_stream(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="a b c", fault=Fault("stall", after=1, seconds=30))
    with make_client(loopback_server, reader="reactor") as client:
        with pytest.raises(sa.IdleTimeout):
            client.chat(MODEL, MSGS, timeout=sa.Timeout(read=10, idle=0.3)).wait(5)
        with pytest.raises(sa.DeadlineExceeded):
            client.chat(MODEL, MSGS, timeout=sa.Timeout(read=10, total=0.3)).wait(5)
        with pytest.raises(sa.ReadTimeout):
            client.chat(MODEL, MSGS, timeout=sa.Timeout(read=0.3), max_retries=0).wait(5)


def test_a_compressed_body_goes_on_in_a_thread_of_its_own() -> None:
    events = b"".join(b'data: {"choices":[{"index":0,"delta":{"content":"w%d "}}]}\n\n' % i
                      for i in range(50))
    events += (b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
               b"data: [DONE]\n\n")
    packed = gzip.compress(events)

    def respond(request: bytes) -> bytes:
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip"
                b"\r\nContent-Length: " + str(len(packed)).encode() + b"\r\n\r\n" + packed)

    with RawServer(respond) as raw, make_client(raw, reader="reactor") as client:
        handle = client.chat(MODEL, MSGS)
        result = handle.wait(5)
    assert result.text == "".join(f"w{i} " for i in range(50))
    assert handle._thread is not None  # the reader never takes compressed bodies


def test_the_end_marker_ends_a_kept_open_body_promptly() -> None:
    body = (b'data: {"choices":[{"index":0,"delta":{"content":"done"}}]}\n\n'
            b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
            b"data: [DONE]\n\n")

    def handle(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(body), body))
        conn.settimeout(5)
        conn.recv(1)  # the body stays open until the client hangs up

    with RawServer(handle=handle) as raw, make_client(raw, reader="reactor") as client:
        t0 = time.monotonic()
        h = client.chat(MODEL, MSGS)
        assert h.wait(5).text == "done"
        assert time.monotonic() - t0 < 0.3
        assert h._thread is None
        assert wait_until(lambda: raw.connections_open == 0, 2.0)


def test_the_connector_pool_grows_when_steps_wait_and_idles_out() -> None:
    pool = ConnectorPool(max_threads=3, idle_exit=0.2, min_threads=1, grow_after=0.01)
    gate = threading.Event()
    ran: list[int] = []

    def step(i: int) -> Any:
        def run() -> None:
            gate.wait(5)
            ran.append(i)
        return run

    for i in range(6):
        pool.submit(step(i))
    # The first connector is blocked: the steps behind it wait, so the pool
    # grows, but no further than its bound.
    assert pool.threads == 1
    assert wait_until(lambda: pool.threads == 3, 1.0)
    time.sleep(0.1)
    assert pool.threads == 3
    gate_open_later = threading.Timer(0.1, gate.set)
    gate_open_later.start()
    assert wait_until(lambda: sorted(ran) == list(range(6)), 2.0)
    gate_open_later.join()
    assert wait_until(lambda: pool.threads == 0, 2.0)  # idle connectors end
