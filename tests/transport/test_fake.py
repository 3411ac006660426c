"""FakeTransport on its own: replies in order, body pieces with pauses and
drops, the read timeout, a cancel ending a blocked read at once, framing by
the real body readers. (The worker driven by it: tests/actors/test_worker_fake.py.)"""

from __future__ import annotations

import math
import threading
import time

import pytest

from streamactors.errors import (
    ConfigurationError,
    ProtocolError,
    ReadTimeout,
    StreamCancelled,
    StreamConnectionError,
    UsageError,
)
from streamactors.providers import HTTPRequest
from streamactors.transport._base import Body, Response, Transport
from streamactors.transport._cancel import CancelToken
from streamactors.transport._timeouts import Timeout
from streamactors.transport.fake import Drop, FakeTransport, Pause, Reply

from .._data import RECORDED

pytestmark = pytest.mark.timeout(10)

REQUEST = HTTPRequest(method="POST", url="https://llm.test/v1/chat/completions", body={})
TIMEOUT = Timeout(connect=1, read=1)


def _send(transport: Transport, token: CancelToken | None = None,
          timeout: Timeout = TIMEOUT) -> Response:
    return transport.send(REQUEST, timeout, token or CancelToken())


def _drain(body: Body) -> list[bytes]:
    out = []
    while data := body.read():
        out.append(data)
    return out


def test_one_reply_answers_every_request_and_requests_are_recorded() -> None:
    fake = FakeTransport(Reply(body=[b"a", b"b"]))
    for _ in range(3):
        response = _send(fake)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert _drain(response.body) == [b"a", b"b"] and response.body.finished
        response.close()
    assert fake.requests == [REQUEST] * 3
    assert all(r.body.closed and r.body.reusable for r in fake.responses)


def test_a_sequence_answers_one_request_each_then_says_so() -> None:
    fake = FakeTransport([Drop("refused"), Reply(status=429, body=b"slow down")])
    with pytest.raises(StreamConnectionError, match="refused") as caught:
        _send(fake)
    assert caught.value.retryable
    response = _send(fake)
    assert response.status_code == 429 and response.read_all() == b"slow down"
    with pytest.raises(UsageError, match="no reply for request 3"):
        _send(fake)


def test_a_callable_picks_the_reply_from_the_request() -> None:
    fake = FakeTransport(lambda request: Reply(body=request.url.encode()))
    assert _send(fake).read_all() == REQUEST.url.encode()


def test_a_drop_mid_body_fails_the_read_after_the_pieces_before_it() -> None:
    fake = FakeTransport(Reply(body=[b"one", Drop(), b"never"]))
    errors = []
    for _ in range(2):
        body = _send(fake).body
        assert body.read() == b"one"
        with pytest.raises(StreamConnectionError, match="dropped") as caught:
            body.read()
        errors.append(caught.value)
        assert not body.reusable
    assert errors[0] is not errors[1]  # a fresh error each time: the worker annotates it


def test_a_pause_is_waited_and_a_long_one_is_a_read_timeout() -> None:
    body = _send(FakeTransport(Reply(body=[b"a", Pause(0.05), b"b", Pause(5), b"c"])),
                 timeout=Timeout(read=0.2)).body
    t0 = time.monotonic()
    assert body.read() == b"a" and body.read() == b"b"
    assert time.monotonic() - t0 >= 0.05
    with pytest.raises(ReadTimeout):
        body.read()
    assert 0.2 <= time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("where", ["body", "head"])
def test_a_cancel_ends_a_blocked_read_at_once(where: str) -> None:
    reply = (Reply(body=[b"a", Pause(math.inf)]) if where == "body"
             else Reply(delay=math.inf))
    token = CancelToken()
    threading.Timer(0.1, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(StreamCancelled):
        body = _send(FakeTransport(reply), token, Timeout(read=None)).body
        assert body.read() == b"a"
        body.read()
    assert time.monotonic() - t0 < 0.5


def test_a_cancelled_token_fails_send_and_read() -> None:
    token = CancelToken()
    body = _send(FakeTransport(Reply(body=[b"a", b"b"])), token).body
    token.cancel()
    with pytest.raises(StreamCancelled):
        body.read()
    with pytest.raises(StreamCancelled):
        _send(FakeTransport(Reply()), token)


def test_framing_headers_make_the_pieces_wire_bytes() -> None:
    chunked = {"transfer-encoding": "chunked"}
    body = _send(FakeTransport(Reply(headers=chunked, body=[b"3\r\nabc\r", b"\n0\r\n\r\n"]))).body
    assert _drain(body) == [b"abc"] and body.reusable
    cut = _send(FakeTransport(Reply(headers=chunked, body=[b"3\r\nabc\r\n"]))).body
    with pytest.raises(StreamConnectionError, match="before the end of the chunked body"):
        _drain(cut)
    over = _send(FakeTransport(Reply(headers={"content-length": "2"}, body=b"abc"))).body
    with pytest.raises(ProtocolError, match="Content-Length"):
        over.read()


def test_finish_within_reads_a_prompt_terminator_and_gives_up_on_a_late_one() -> None:
    chunked = {"transfer-encoding": "chunked"}
    prompt = _send(FakeTransport(Reply(headers=chunked, body=[b"3\r\nabc\r\n", b"0\r\n\r\n"])))
    assert prompt.body.read() == b"abc"
    prompt.body.finish_within(0.01)
    assert prompt.body.finished and prompt.body.reusable
    late = _send(FakeTransport(Reply(headers=chunked,
                                     body=[b"3\r\nabc\r\n", Pause(math.inf), b"0\r\n\r\n"])))
    assert late.body.read() == b"abc"
    t0 = time.monotonic()
    late.body.finish_within(0.05)
    assert time.monotonic() - t0 < 0.5 and not late.body.reusable


def test_no_socket_for_the_shared_reader_but_feed_raw_frames() -> None:
    body = _send(FakeTransport(Reply(headers={"content-length": "3"}))).body
    assert body.nonblocking_socket() is None
    assert body.feed_raw(b"ab") == b"ab" and not body.finished
    with pytest.raises(StreamConnectionError):
        body.feed_raw(b"")


def test_recorded_bodies_are_cut_into_paced_reads() -> None:
    path = RECORDED / "ollama" / "01_chat_text_inline_think.ndjson"
    data = path.read_bytes()
    reply = Reply.recorded(path, piece=100, delay=0.001)
    assert reply.headers["content-type"] == "application/x-ndjson"
    assert isinstance(reply.body, tuple)
    pieces = [p for p in reply.body if isinstance(p, bytes)]
    assert b"".join(pieces) == data and all(len(p) <= 100 for p in pieces)
    assert sum(isinstance(p, Pause) for p in reply.body) == len(pieces) - 1
    assert Reply.recorded(b"data: 1\n\n").body == (b"data: 1\n\n",)


@pytest.mark.parametrize(("make", "field"), [
    (lambda: Reply(status=99), "status"),
    (lambda: Reply(body=["text"]), "body pieces"),  # type: ignore[list-item]
    (lambda: Reply(delay=-1), "Pause seconds"),
    (lambda: Pause(float("nan")), "Pause seconds"),
    (lambda: Reply.recorded(b"x", piece=0), "piece"),
])
def test_a_bad_script_is_refused_by_name(make: object, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        make()  # type: ignore[operator]
