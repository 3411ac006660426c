"""The stream worker driven by FakeTransport: no socket, no server.

Every recorded stream in tests/data/recorded, the retry before data, the
error after data, a cancel and the idle limit ending a read blocked in a
pause, the end marker with a body that stays open, and every kind of target.
"""

from __future__ import annotations

import asyncio
import json
import math
import queue
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import streamactors as sa
from streamactors.errors import IdleTimeout, IncompleteStream
from streamactors.providers import RequestInput, resolve
from streamactors.transport.fake import Drop, FakeTransport, Pause, Reply

from .._collector import Collector
from .._data import RECORDED
from ..providers._replay import Replay, ndjson_lines, replay, sse_events

pytestmark = pytest.mark.timeout(20)

MSGS = [{"role": "user", "content": "hi"}]
#: The model and ``api`` each recorded folder is replayed as.
FOLDERS = {
    "openai-chat": ("openai/m", None), "openai-responses": ("openai/m", "responses"),
    "openai-compatible": ("openai-compatible/m", None), "anthropic": ("anthropic/m", None),
    "gemini": ("gemini/m", None), "mistral": ("mistral/m", None), "ollama": ("ollama/m", None),
}
RECORDINGS = sorted(p for folder in FOLDERS for p in (RECORDED / folder).iterdir())


def _client(fake: FakeTransport, **kwargs: Any) -> sa.Client:
    kwargs.setdefault("max_retries", 0)
    return sa.Client(transport=fake, api_key="sk-fake", base_url="https://llm.test/v1",
                     env={}, **kwargs)


def _sse(*texts: str, finish: str | None = "stop", done: bool = True) -> bytes:
    """An OpenAI chat stream: one event per text, then the finish reason."""
    def event(delta: dict[str, Any], reason: str | None) -> bytes:
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    out = [event({"role": "assistant", "content": ""}, None)]
    out += [event({"content": t}, None) for t in texts]
    if finish is not None:
        out.append(event({}, finish))
    return b"".join(out) + (b"data: [DONE]\n\n" if done else b"")


def _chunked(*pieces: bytes) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]


CHUNKED = {"content-type": "text/event-stream", "transfer-encoding": "chunked"}


# -- every recorded stream --------------------------------------------------------------


def _expected(path: Path, model: str, api: str | None) -> Replay:
    provider, _ = resolve(model, api_key="sk-fake", base_url="https://llm.test/v1", api=api,
                          env={})
    decoder = provider.new_decoder(RequestInput())
    data = path.read_bytes()
    return replay(decoder, ndjson_lines(data) if path.suffix == ".ndjson" else sse_events(data))


@pytest.mark.parametrize("path", RECORDINGS, ids=[f"{p.parent.name}/{p.name}" for p in RECORDINGS])
def test_every_recorded_stream(path: Path) -> None:
    model, api = FOLDERS[path.parent.name]
    expected = _expected(path, model, api)
    fake = FakeTransport(Reply.recorded(path, piece=37))  # reads that cut events anywhere
    with _client(fake) as client:
        handle = client.chat(model, MSGS, api=api)
        if expected.error is None and expected.acc.complete:
            result = handle.wait(10)
            assert (result.text, result.finish_reason) == (expected.result.text,
                                                            expected.result.finish_reason)
            assert result.tool_calls == expected.result.tool_calls
        else:
            with pytest.raises(sa.StreamError) as caught:
                handle.wait(10)
            if expected.error is not None:
                assert type(caught.value) is type(expected.error)
            else:
                assert isinstance(caught.value, IncompleteStream)
            assert caught.value.partial is not None
            assert caught.value.partial.text == expected.result.text
    assert len(fake.requests) == 1 and fake.responses[0].body.closed


# -- retries -----------------------------------------------------------------------------


def test_failures_before_data_are_retried() -> None:
    busy = Reply(status=429, headers={"retry-after": "0", "content-type": "application/json"},
                 body=b'{"error": {"message": "slow down", "type": "rate_limit_error"}}')
    fake = FakeTransport([Drop("refused"), busy, Reply(body=_sse("Hello", " world"))])
    with _client(fake, max_retries=2) as client:
        result = client.chat("openai/m", MSGS).wait(10)
    assert result.text == "Hello world" and result.retries == 2
    assert len(fake.requests) == 3 and all(r.body.closed for r in fake.responses)


def test_an_error_after_data_is_never_retried() -> None:
    fake = FakeTransport(Reply(body=[_sse("one", " two", finish=None, done=False), Drop()]))
    with _client(fake, max_retries=3) as client:
        with pytest.raises(sa.StreamConnectionError) as caught:
            client.chat("openai/m", MSGS).wait(10)
    assert caught.value.partial is not None and caught.value.partial.text == "one two"
    assert caught.value.retries == 0 and len(fake.requests) == 1


# -- a read blocked in a pause ---------------------------------------------------------------


def _first_text_then(reply_tail: list[bytes | Pause | Drop],
                     **kwargs: Any) -> tuple[sa.StreamHandle, threading.Event, sa.Client]:
    got_text = threading.Event()

    def target(message: sa.Message) -> None:
        if isinstance(message, sa.Data) and message.chunk.text:
            got_text.set()

    fake = FakeTransport(Reply(body=[_sse("first", finish=None, done=False), *reply_tail]))
    client = _client(fake, **kwargs)
    return client.chat("openai/m", MSGS, stream_to=target), got_text, client


def test_cancel_ends_a_read_blocked_in_a_pause_at_once() -> None:
    handle, got_text, client = _first_text_then([Pause(math.inf)],
                                                timeout=sa.Timeout(read=None, idle=None))
    with client:
        assert got_text.wait(5)
        t0 = time.monotonic()
        assert handle.cancel()
        with pytest.raises(sa.StreamCancelled) as caught:
            handle.wait(5)
        assert time.monotonic() - t0 < 0.5
    assert caught.value.partial is not None and caught.value.partial.text == "first"


def test_the_idle_limit_ends_a_silent_stream() -> None:
    handle, _, client = _first_text_then([Pause(math.inf)],
                                         timeout=sa.Timeout(read=None, idle=0.2))
    with client:
        t0 = time.monotonic()
        with pytest.raises(IdleTimeout) as caught:
            handle.wait(5)
        assert 0.15 <= time.monotonic() - t0 < 2.0
    assert caught.value.partial is not None and caught.value.partial.text == "first"


def test_the_read_timeout_ends_a_stalled_stream() -> None:
    handle, _, client = _first_text_then([Pause(5)], timeout=sa.Timeout(read=0.2, idle=None),
                                         max_retries=2)
    with client, pytest.raises(sa.ReadTimeout) as caught:
        handle.wait(5)
    assert caught.value.retries == 0  # data was delivered: never retried


# -- the end marker ----------------------------------------------------------------------------


@pytest.mark.parametrize("terminator", ["at once", "never"])
def test_the_end_marker_ends_the_stream_whatever_the_body_does(terminator: str) -> None:
    tail: list[bytes | Pause] = [b"0\r\n\r\n"] if terminator == "at once" else [Pause(math.inf)]
    fake = FakeTransport(Reply(headers=CHUNKED, body=[*_chunked(_sse("done")), *tail]))
    with _client(fake, timeout=sa.Timeout(read=None, idle=None)) as client:
        t0 = time.monotonic()
        assert client.chat("openai/m", MSGS).wait(5).text == "done"
        assert time.monotonic() - t0 < 1.0
    body = fake.responses[0].body
    assert body.closed and body.reusable is (terminator == "at once")


# -- every kind of target ----------------------------------------------------------------------


def _via_handler(client: sa.Client) -> tuple[str, int]:
    with Collector() as actor:
        client.chat("openai/m", MSGS, stream_to=actor).wait(10)
        return actor.ask(lambda: (actor.text, len(actor.ends))).result(5)


def _via_queue(client: sa.Client) -> tuple[str, int]:
    q: queue.Queue[sa.Message] = queue.Queue()
    client.chat("openai/m", MSGS, stream_to=q).wait(10)
    messages = [q.get_nowait() for _ in range(q.qsize())]
    return _text_and_ends(messages)


def _via_callable(client: sa.Client) -> tuple[str, int]:
    messages: list[sa.Message] = []
    client.chat("openai/m", MSGS, stream_to=messages.append).wait(10)
    return _text_and_ends(messages)


def _via_stream(client: sa.Client) -> tuple[str, int]:
    return "".join(c.text or "" for c in client.stream("openai/m", MSGS)), 1


def _via_astream(client: sa.Client) -> tuple[str, int]:
    async def main() -> str:
        return "".join([c.text or "" async for c in client.astream("openai/m", MSGS)])

    return asyncio.run(main()), 1


def _text_and_ends(messages: list[sa.Message]) -> tuple[str, int]:
    text = "".join(m.chunk.text or "" for m in messages if isinstance(m, sa.Data))
    ends = [m for m in messages if isinstance(m, (sa.Finish, sa.Error))]
    assert messages[-1] is ends[-1]  # the terminal message comes last
    return text, len(ends)


TARGETS = {"handler": _via_handler, "queue": _via_queue, "callable": _via_callable,
           "stream()": _via_stream, "astream()": _via_astream}


@pytest.mark.parametrize("target", TARGETS)
def test_every_kind_of_target(target: str) -> None:
    fake = FakeTransport(Reply(body=[_sse("Hello", " there", "!"), Pause(0.001)]))
    with _client(fake) as client:
        assert TARGETS[target](client) == ("Hello there!", 1)
    assert all(r.body.closed for r in fake.responses)


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    yield


def test_no_socket_is_opened(no_sockets: None) -> None:
    with _client(FakeTransport(Reply(body=_sse("quiet")))) as client:
        assert client.chat("openai/m", MSGS).wait(10).text == "quiet"
