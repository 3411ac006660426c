"""Time limits a trickling server cannot defeat, and an end marker that ends
the stream at once (issue §5): ``Timeout(idle=...)`` counts content only, so
endless heartbeats, a byte a second and slowly sent headers all end with
``IdleTimeout``; a server that keeps the body open after ``[DONE]`` or
``message_stop`` does not hold the stream; a ``Retry-After`` past the cap is
not retried early. Over raw loopback sockets, both reader modes."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate

import pytest

from streamactors import (
    Finish,
    IdleTimeout,
    RateLimitError,
    StreamError,
    Timeout,
)
from streamactors.errors import StreamTimeout

from . import RawServer, make_client, stream_threads, wait_until

pytestmark = pytest.mark.timeout(30)

IDLE = 0.6
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def openai_event(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    obj = {"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _sleep(server: RawServer, seconds: float) -> bool:
    """Sleep unless the server stops; False once it stopped."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if server.stopped:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(params=["reactor", "thread"])
def reader(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _raw(handle: Callable[[RawServer, socket.socket, bytes], None]) -> Iterator[RawServer]:
    box: list[RawServer] = []
    server = RawServer(handle=lambda conn, req: handle(box[0], conn, req))
    box.append(server)
    with server:
        yield server


def _run(server: RawServer, reader: str, **timeout: float) -> tuple[StreamError, float]:
    with make_client(server, reader=reader,
                     timeout=Timeout(connect=2, read=30, **timeout), max_retries=2) as client:
        t0 = time.monotonic()
        handle = client.chat("openai/m", [{"role": "user", "content": "hi"}],
                             base_url=server.base_url + "/v1")
        with pytest.raises(StreamError) as caught:
            handle.wait(20)
        return caught.value, time.monotonic() - t0


# -- content-idle ----------------------------------------------------------------------


@pytest.fixture
def heartbeats() -> Iterator[RawServer]:
    def handle(server: RawServer, conn: socket.socket, request: bytes) -> None:
        conn.sendall(HEAD + chunk(openai_event("first")))
        while _sleep(server, 0.05):
            conn.sendall(chunk(b": keep-alive\n\n"))

    yield from _raw(handle)


def test_endless_heartbeats_end_with_an_idle_timeout(heartbeats: RawServer, reader: str) -> None:
    error, elapsed = _run(heartbeats, reader, idle=IDLE)
    assert isinstance(error, IdleTimeout)
    assert isinstance(error, TimeoutError) and isinstance(error, StreamTimeout)
    assert error.phase == "idle" and "idle" in str(error)
    assert IDLE <= elapsed < IDLE + 1.5
    assert error.partial is not None and error.partial.text == "first"
    assert len(heartbeats.requests) == 1, "an idle timeout is not retried"


@pytest.fixture
def trickle() -> Iterator[RawServer]:
    def handle(server: RawServer, conn: socket.socket, request: bytes) -> None:
        conn.sendall(HEAD)
        body = chunk(openai_event("never completes " * 20))
        for byte in body:
            if not _sleep(server, 0.1):
                return
            conn.sendall(bytes([byte]))

    yield from _raw(handle)


def test_a_byte_at_a_time_ends_with_an_idle_timeout(trickle: RawServer, reader: str) -> None:
    error, elapsed = _run(trickle, reader, idle=IDLE)
    assert isinstance(error, IdleTimeout)
    assert elapsed < IDLE + 1.5


@pytest.fixture
def slow_headers() -> Iterator[RawServer]:
    def handle(server: RawServer, conn: socket.socket, request: bytes) -> None:
        for byte in HEAD[:-2] + b"X-Slow: " + b"y" * 1000:
            if not _sleep(server, 0.05):
                return
            conn.sendall(bytes([byte]))

    yield from _raw(handle)


def test_slowly_sent_headers_end_with_an_idle_timeout(slow_headers: RawServer,
                                                      reader: str) -> None:
    error, elapsed = _run(slow_headers, reader, idle=IDLE)
    assert isinstance(error, IdleTimeout)
    assert elapsed < IDLE + 1.5


@pytest.fixture
def silent() -> Iterator[RawServer]:
    def handle(server: RawServer, conn: socket.socket, request: bytes) -> None:
        _sleep(server, 20)

    yield from _raw(handle)


def test_a_server_that_never_answers_ends_with_an_idle_timeout(silent: RawServer) -> None:
    error, elapsed = _run(silent, "reactor", idle=IDLE)
    assert isinstance(error, IdleTimeout)
    assert elapsed < IDLE + 1.5
    assert len(silent.requests) == 1


def test_the_default_idle_limit_is_two_minutes() -> None:
    assert Timeout().idle == 120.0
    assert Timeout(idle=None).idle is None
    with pytest.raises(StreamError, match="idle"):
        Timeout(idle=0)


# -- the end marker ends the stream ----------------------------------------------------

ANTHROPIC_END = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"c",'
    b'"usage":{"input_tokens":3,"output_tokens":0}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"done here"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
RESPONSES_END = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"item_id":"i1","output_index":0,"content_index":0,"delta":"done here"}\n\n'
    b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r1",'
    b'"status":"completed","output":[],"usage":{"input_tokens":1,"output_tokens":2,'
    b'"total_tokens":3}}}\n\n'
)
OPENAI_END = (openai_event("done here") + openai_event(None, "stop") + b"data: [DONE]\n\n")
OLLAMA_END = (b'{"model":"m","message":{"role":"assistant","content":"done here"},"done":false}\n'
              b'{"model":"m","message":{"role":"assistant","content":""},"done":true,'
              b'"done_reason":"stop","eval_count":2}\n')

#: (model, chat options, base path, content type, body)
END_MARKERS: dict[str, tuple[str, dict[str, str], str, bytes, bytes]] = {
    "openai": ("openai/m", {}, "/v1", b"text/event-stream", OPENAI_END),
    "anthropic": ("anthropic/m", {}, "", b"text/event-stream", ANTHROPIC_END),
    "responses": ("openai/m", {"api": "responses"}, "/v1", b"text/event-stream", RESPONSES_END),
    "ollama": ("ollama/m", {}, "", b"application/x-ndjson", OLLAMA_END),
}


@pytest.mark.parametrize("name", sorted(END_MARKERS))
def test_the_end_marker_ends_a_stream_whose_body_stays_open(name: str, reader: str) -> None:
    model, options, path, ctype, body = END_MARKERS[name]

    def handle(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype
                     + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body))
        # The body stays open (no terminator) until the client hangs up.
        conn.settimeout(5)
        conn.recv(1)

    with RawServer(handle=handle) as server, make_client(
            server, reader=reader, timeout=Timeout(connect=2, read=10)) as client:
        t0 = time.monotonic()
        h = client.chat(model, [{"role": "user", "content": "hi"}],
                        base_url=server.base_url + path, api=options.get("api"))
        result = h.wait(5)
        elapsed = time.monotonic() - t0
        assert result.text == "done here" and result.finish_reason == "stop"
        assert elapsed < 0.5, f"the stream waited {elapsed:.2f} s for a body kept open"
        # The connection is not reused (its body never ended): it was closed.
        assert wait_until(lambda: server.connections_open == 0, 2.0)
    assert wait_until(lambda: not stream_threads(), 1.0)


def test_the_end_marker_with_its_terminator_keeps_the_connection(reader: str) -> None:
    def handle(conn: socket.socket, request: bytes) -> None:
        conn.sendall(HEAD + chunk(OPENAI_END))
        time.sleep(0.002)  # the terminator in a write of its own, a moment later
        conn.sendall(b"0\r\n\r\n")

    with RawServer(handle=handle) as server, make_client(server, reader=reader) as client:
        for _ in range(3):
            assert client.chat("openai/m", [{"role": "user", "content": "hi"}],
                               base_url=server.base_url + "/v1").wait(5).text == "done here"
        assert len(server.requests) == 3
        assert server.connections_open == 1, "the connection was not reused"


def test_events_after_the_end_marker_are_not_part_of_the_answer() -> None:
    def handle(conn: socket.socket, request: bytes) -> None:
        conn.sendall(HEAD + chunk(OPENAI_END + openai_event(" SPOOFED")) + b"0\r\n\r\n")

    with RawServer(handle=handle) as server, make_client(server) as client:
        result = client.chat("openai/m", [{"role": "user", "content": "hi"}],
                             base_url=server.base_url + "/v1").wait(5)
        assert result.text == "done here"


# -- Retry-After ---------------------------------------------------------------------


def _rate_limited(retry_after: str, then_ok: bool) -> Callable[[socket.socket, bytes], None]:
    count = [0]

    def handle(conn: socket.socket, request: bytes) -> None:
        count[0] += 1
        if count[0] == 1 or not then_ok:
            body = b'{"error": {"message": "slow down", "type": "rate_limit_error"}}'
            conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                         b"Retry-After: " + retry_after.encode() + b"\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
        else:
            conn.sendall(HEAD + chunk(OPENAI_END) + b"0\r\n\r\n")

    return handle


def test_retry_after_past_the_cap_reaches_the_caller_at_once() -> None:
    with RawServer(handle=_rate_limited("120", then_ok=True)) as server, \
            make_client(server, max_retries=3) as client:
        t0 = time.monotonic()
        handle = client.chat("openai/m", [{"role": "user", "content": "hi"}],
                             base_url=server.base_url + "/v1")
        with pytest.raises(RateLimitError) as caught:
            handle.wait(10)
        assert time.monotonic() - t0 < 1.0
        assert caught.value.retry_after == 120
        assert len(server.requests) == 1


def test_retry_after_as_an_http_date_is_honoured() -> None:
    when = formatdate(time.time() + 2, usegmt=True)
    with RawServer(handle=_rate_limited(when, then_ok=True)) as server, \
            make_client(server, max_retries=2) as client:
        t0 = time.monotonic()
        result = client.chat("openai/m", [{"role": "user", "content": "hi"}],
                             base_url=server.base_url + "/v1").wait(10)
        elapsed = time.monotonic() - t0
        assert result.text == "done here" and result.retries == 1
        # The date has one-second resolution: between 1 and 2 s from now.
        assert 0.9 <= elapsed < 3.0, elapsed
        assert len(server.requests) == 2


def test_idle_limit_restarts_with_each_retry() -> None:
    """A server asking for a 1 s pause twice: 2 s of waiting in all, more than
    the idle limit, but each attempt has its own."""
    count = [0]

    def handle(conn: socket.socket, request: bytes) -> None:
        count[0] += 1
        if count[0] < 3:
            _rate_limited("1", then_ok=False)(conn, request)
        else:
            conn.sendall(HEAD + chunk(OPENAI_END) + b"0\r\n\r\n")

    with RawServer(handle=handle) as server, make_client(
            server, max_retries=3, timeout=Timeout(connect=2, read=5, idle=1.5)) as client:
        result = client.chat("openai/m", [{"role": "user", "content": "hi"}],
                             base_url=server.base_url + "/v1").wait(10)
        assert result.text == "done here" and result.retries == 2


def test_finish_message_is_delivered_for_a_kept_open_body(reader: str) -> None:
    """The target sees Finish (not a ReadTimeout carrying the full text)."""
    import queue

    def handle(conn: socket.socket, request: bytes) -> None:
        conn.sendall(HEAD + chunk(OPENAI_END))
        conn.settimeout(3)
        conn.recv(1)

    with RawServer(handle=handle) as server, make_client(
            server, reader=reader, timeout=Timeout(connect=2, read=1)) as client:
        q: queue.Queue[object] = queue.Queue()
        client.chat("openai/m", [{"role": "user", "content": "hi"}], stream_to=q,
                    base_url=server.base_url + "/v1").wait(5)
        items = [q.get_nowait() for _ in range(q.qsize())]
        assert isinstance(items[-1], Finish)
