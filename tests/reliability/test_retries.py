"""Retries (guarantee 8): only before the first delivered chunk, for
connection errors and 408/409/429/5xx, with back-off, jitter and the
server's ``Retry-After``/``retry-after-ms``; every retry logged at INFO and
counted on the result or error."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

import streamactors
import streamactors.actors._worker
from streamactors import (
    BadRequestError,
    ConflictError,
    HTTPStatusError,
    InternalServerError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
    StreamConnectionError,
    StreamError,
    Timeout,
    UnprocessableEntityError,
)
from streamactors.testing import Fault, LoopbackServer, Script
from streamactors.transport._retry import MAX_RETRY_AFTER
from streamactors.transport._retry import backoff as _backoff

from . import MESSAGES, MODELS, TARGETS, RawServer, Target, make_client, run_stream

pytestmark = pytest.mark.timeout(20)

MODEL = MODELS["openai"]
TOKENS = ("one", " two", " three", " four", " five")
TEXT = "".join(TOKENS)


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == "streamactors" and r.levelno == logging.INFO and "retry" in r.message]


@pytest.mark.parametrize(
    ("status", "error"),
    [(408, RequestTimeoutError), (409, ConflictError), (429, RateLimitError),
     (500, InternalServerError), (502, InternalServerError),
     (503, streamactors.ServiceUnavailableError), (504, InternalServerError),
     (529, streamactors.OverloadedError)],
)
def test_retryable_status_is_retried_then_succeeds(
    status: int, error: type[StreamError], server: LoopbackServer, no_leaks: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "streamactors")
    server.script = Script(tokens=TOKENS,
                           fault=Fault("http_error", status=status, retry_after=0, times=1))
    client = make_client(server)
    try:
        out = run_stream(client, MODEL, "queue")
    finally:
        client.close()
    result = out.result
    assert result.text == TEXT and out.texts == list(TOKENS)  # nothing twice
    assert result.retries == 1
    assert len(server.requests) == 2
    (record,) = retry_records(caplog)
    assert "retry 1 of 2" in record.message and error.__name__ in record.message


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequestError), (401, streamactors.AuthenticationError),
     (403, PermissionDeniedError), (404, streamactors.NotFoundError),
     (422, UnprocessableEntityError)],
)
def test_client_errors_are_not_retried(
    status: int, error: type[StreamError], server: LoopbackServer, no_leaks: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = Script(fault=Fault("http_error", status=status, retry_after=0))
    client = make_client(server, max_retries=5)
    try:
        with pytest.raises(error) as info:
            client.chat(MODEL, MESSAGES).wait(5)
    finally:
        client.close()
    assert info.value.retries == 0 and len(server.requests) == 1
    assert not retry_records(caplog)


def test_default_max_retries_is_two(server: LoopbackServer, no_leaks: None,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "streamactors")
    server.script = Script(fault=Fault("http_error", status=500, retry_after=0))
    client = streamactors.Client(base_url=server.url("openai"), api_key="sk-test",
                                 trust_env=False)
    try:
        with pytest.raises(InternalServerError) as info:
            client.chat(MODEL, MESSAGES).wait(5)
    finally:
        client.close()
    err = info.value
    assert err.retries == 2 and len(server.requests) == 3
    assert err.partial is not None and err.partial.retries == 2
    assert [r.message.split(" in ")[0].split(": ", 1)[1] for r in retry_records(caplog)] == [
        "retry 1 of 2", "retry 2 of 2"]


def test_max_retries_zero_never_retries(server: LoopbackServer, no_leaks: None) -> None:
    server.script = Script(fault=Fault("http_error", status=503, retry_after=0))
    client = make_client(server, max_retries=0)
    try:
        with pytest.raises(InternalServerError) as info:
            client.chat(MODEL, MESSAGES).wait(5)
        with pytest.raises(InternalServerError):  # the per-call value wins
            client.chat(MODEL, MESSAGES, max_retries=1).wait(5)
    finally:
        client.close()
    assert info.value.retries == 0
    assert len(server.requests) == 1 + 2


def test_max_retries_is_validated() -> None:
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(streamactors.ConfigurationError):
            streamactors.Client(max_retries=bad)  # type: ignore[arg-type]


def test_retry_after_is_honoured(server: LoopbackServer, no_leaks: None) -> None:
    server.script = Script(tokens=TOKENS,
                           fault=Fault("http_error", status=429, retry_after=0.3, times=1))
    client = make_client(server)
    try:
        t0 = time.perf_counter()
        result = client.chat(MODEL, MESSAGES).wait(5)
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
    assert result.retries == 1 and result.text == TEXT
    assert 0.3 <= elapsed < 1.5


def openai_stream(tokens: tuple[str, ...]) -> bytes:
    """A complete OpenAI chat stream response with a Content-Length body."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"
    events = [chunk({"content": t}) for t in tokens] + [chunk({}, "stop"), "data: [DONE]\n\n"]
    body = "".join(events).encode()
    head = (f"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    return head + body


def http_error(status: int, headers: dict[str, str], message: str = "try later") -> bytes:
    body = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"HTTP/1.1 {status} Whatever\r\ncontent-type: application/json\r\n{extra}"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


def first_then(first: bytes, rest: bytes) -> Callable[[bytes], bytes]:
    answers = [first]

    def respond(request: bytes) -> bytes:
        return answers.pop() if answers else rest

    return respond


def raw_client(raw: RawServer, **kwargs: Any) -> streamactors.Client:
    return streamactors.Client(base_url=raw.base_url + "/v1", api_key="sk-test",
                               trust_env=False, **kwargs)


def test_retry_after_ms_wins_over_retry_after(no_leaks: None, server: LoopbackServer) -> None:
    first = http_error(429, {"retry-after-ms": "250", "retry-after": "30"})
    with RawServer(first_then(first, openai_stream(TOKENS))) as raw:
        client = raw_client(raw)
        try:
            t0 = time.perf_counter()
            result = client.chat(MODEL, MESSAGES).wait(5)
            elapsed = time.perf_counter() - t0
        finally:
            client.close()
    assert result.text == TEXT and result.retries == 1
    assert len(raw.requests) == 2
    assert 0.25 <= elapsed < 2.0


def test_x_should_retry_false_is_obeyed(no_leaks: None, server: LoopbackServer) -> None:
    with RawServer(lambda r: http_error(500, {"x-should-retry": "false"})) as raw:
        client = raw_client(raw)
        try:
            with pytest.raises(InternalServerError) as info:
                client.chat(MODEL, MESSAGES).wait(5)
        finally:
            client.close()
    assert info.value.retries == 0 and len(raw.requests) == 1


def test_connection_refused_is_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "streamactors")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    client = streamactors.Client(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test",
                                 max_retries=1, trust_env=False)
    try:
        t0 = time.perf_counter()
        with pytest.raises(StreamConnectionError) as info:
            client.chat(MODEL, MESSAGES).wait(5)
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
    assert info.value.retries == 1
    assert len(retry_records(caplog)) == 1
    # The first back-off is 0.5 s with jitter in [0.75, 1] of it.
    assert 0.375 <= elapsed < 2.0


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {_backoff(attempt, None) for _ in range(50)}
        assert all(0.75 * base <= d <= base for d in delays), (attempt, delays)
        assert len(delays) > 1  # jittered
    assert _backoff(3, 0.0) == 0.0
    assert _backoff(0, 12.5) == 12.5
    # An absurd Retry-After is not obeyed: fall back to the exponential delay.
    assert _backoff(0, MAX_RETRY_AFTER + 1) <= 0.5
    assert _backoff(0, -3) <= 0.5


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", ["drop", "drop_mid_line", "stall", "malformed_json",
                                  "error_event"])
def test_no_retry_after_data_was_delivered(
    kind: str, target: Target, server: LoopbackServer, no_leaks: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure after the first delivered chunk is the stream's error, with
    the partial result: the server sees one request, nothing comes twice."""
    caplog.set_level(logging.INFO, "streamactors")
    server.script = Script(tokens=TOKENS, fault=Fault(kind, after=2, seconds=10))  # type: ignore[arg-type]
    client = make_client(server, timeout=Timeout(connect=2, read=0.6), max_retries=3)
    try:
        out = run_stream(client, MODEL, target)
    finally:
        client.close()
    err = out.error
    assert len(server.requests) == 1
    assert out.texts == ["one", " two"]
    assert len(out.chunks) == len({id(c) for c in out.chunks})
    assert err.retries == 0 and not retry_records(caplog)
    assert err.partial is not None and err.partial.text == "one two"


def test_failures_before_any_data_are_retried(
    server: LoopbackServer, no_leaks: None, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dropped before its first chunk, an empty body: retried, and the next
    answer is delivered once, from its start."""
    caplog.set_level(logging.INFO, "streamactors")
    monkeypatch.setattr(streamactors.actors._worker, "backoff", lambda attempt, retry_after: 0.0)
    good = Script(tokens=TOKENS)
    server.push(Script(tokens=TOKENS, fault=Fault("drop", after=0)),
                Script(fault=Fault("empty_body")), good)
    client = make_client(server, "gemini")  # Gemini sends nothing before the first token
    try:
        out = run_stream(client, MODELS["gemini"], "actor")
    finally:
        client.close()
    assert out.result.text == TEXT and out.texts == list(TOKENS)
    assert out.result.retries == 2 and len(server.requests) == 3
    assert len(retry_records(caplog)) == 2


def test_role_chunk_counts_as_delivered_data(server: LoopbackServer, no_leaks: None) -> None:
    """OpenAI's first chunk (the role) reaches the target as ``Data``; once it
    was delivered a drop is never retried, or the target would see it twice."""
    server.script = Script(tokens=TOKENS, fault=Fault("drop", after=0))
    client = make_client(server, max_retries=3)
    try:
        out = run_stream(client, MODEL, "queue")
    finally:
        client.close()
    assert isinstance(out.error, StreamConnectionError)
    assert len(out.chunks) == 1 and out.chunks[0].role == "assistant"
    assert len(server.requests) == 1


def test_in_band_error_before_data_is_retried_by_type(
    server: LoopbackServer, no_leaks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anthropic's in-band ``api_error`` before any content is retryable;
    retried until max_retries, then reported with its retries."""
    server.script = Script(tokens=TOKENS, fault=Fault("error_event", after=0))
    client = make_client(server, "anthropic", max_retries=2)
    monkeypatch.setattr(streamactors.actors._worker, "backoff", lambda attempt, retry_after: 0.0)
    try:
        with pytest.raises(ProviderError) as info:
            client.chat(MODELS["anthropic"], MESSAGES).wait(5)
    finally:
        client.close()
    assert info.value.retries == 2 and len(server.requests) == 3
    assert info.value.partial is not None and info.value.partial.chunks == 0


def test_redirect_is_not_followed(no_leaks: None, server: LoopbackServer) -> None:
    """A 3xx is an error, typed by its status, never followed (see also
    test_secrets for what the second server sees)."""
    with RawServer(lambda r: b"") as target:
        location = target.base_url + "/v1/chat/completions"
        answer = (f"HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\n"
                  "content-length: 0\r\n\r\n").encode()
        with RawServer(lambda r: answer) as raw:
            client = raw_client(raw, max_retries=2)
            try:
                with pytest.raises(HTTPStatusError) as info:
                    client.chat(MODEL, MESSAGES).wait(5)
            finally:
                client.close()
        assert info.value.status_code == 307 and info.value.retries == 0
        assert len(raw.requests) == 1 and target.requests == []
