"""Timeouts: each limit of ``Timeout`` ends the stream with its own error
type, carrying the partial result, and releases the connection."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import streamactors
from streamactors import (
    ConfigurationError,
    ConnectTimeout,
    DeadlineExceeded,
    FirstTokenTimeout,
    ReadTimeout,
    StreamTimeout,
    Timeout,
)
from streamactors.testing import Fault, LoopbackServer, Script

from . import MESSAGES, MODELS, RawServer, blackhole, chat_kwargs, make_client, run_stream

pytestmark = pytest.mark.timeout(20)

MODEL = MODELS["openai"]
TOKENS = ("one", " two", " three", " four", " five")


def test_timeout_defaults_and_coercion() -> None:
    default = Timeout()
    assert (default.connect, default.read, default.total, default.first_token) == (
        10.0, 300.0, None, None)
    assert Timeout.coerce(None) == default
    assert Timeout.coerce(5) == Timeout(connect=5, read=5)
    t = Timeout(connect=1, read=2, total=3, first_token=4)
    assert Timeout.coerce(t) is t
    for bad in ({"read": 0}, {"connect": -1}, {"total": "3"}, {"first_token": 0}):
        with pytest.raises(ConfigurationError):
            Timeout(**bad)
    for value in ("3", True, [1]):
        with pytest.raises(ConfigurationError):
            Timeout.coerce(value)  # type: ignore[arg-type]


def test_a_number_sets_connect_and_read(server: LoopbackServer, no_leaks: None) -> None:
    """``timeout=0.2`` (a plain number) is both the connect and read limit."""
    server.script = Script(tokens=TOKENS, fault=Fault("stall", after=2, seconds=10))
    client = make_client(server, max_retries=0)
    try:
        t0 = time.perf_counter()
        out = run_stream(client, MODEL, "queue", timeout=0.6)
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
    err = out.error
    assert isinstance(err, ReadTimeout) and isinstance(err, TimeoutError)
    assert err.phase == "read"
    assert 0.55 < elapsed < 2.5
    assert err.partial is not None and err.partial.text == "one two"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "ollama"])
def test_read_timeout_mid_stream(provider: str, server: LoopbackServer, no_leaks: None) -> None:
    server.script = Script(tokens=TOKENS, fault=Fault("stall", after=3, seconds=10))
    client = make_client(server, provider, timeout=Timeout(connect=2, read=0.6), max_retries=2)
    try:
        out = run_stream(client, MODELS[provider], "actor", **chat_kwargs(provider))
    finally:
        client.close()
    err = out.error
    assert isinstance(err, ReadTimeout)
    assert out.texts == list(TOKENS[:3])
    assert err.partial is not None and err.partial.text == "one two three"
    assert err.retries == 0 and len(server.requests) == 1  # data flowed: never retried


def test_read_timeout_before_headers(no_leaks: None, server: LoopbackServer) -> None:
    """A server that accepts the request and never answers: ReadTimeout,
    retried (nothing was delivered), with the retries counted."""
    release = threading.Event()

    def silent(request: bytes) -> bytes:
        release.wait(5)
        return b""

    with RawServer(silent) as raw:
        client = streamactors.Client(base_url=raw.base_url + "/v1", api_key="sk-test",
                                     timeout=Timeout(connect=2, read=0.15), max_retries=1,
                                     trust_env=False)
        try:
            with pytest.raises(ReadTimeout) as info:
                client.chat(MODEL, MESSAGES).wait(5)
        finally:
            release.set()
            client.close()
    assert info.value.retries == 1
    assert len(raw.requests) == 2
    assert info.value.partial is not None and info.value.partial.chunks == 0


def test_connect_timeout(no_leaks: None, server: LoopbackServer) -> None:
    listener, fillers = blackhole()
    probe = socket.socket()
    probe.settimeout(0.2)
    try:
        try:
            probe.connect(listener.getsockname())
        except TimeoutError:
            pass
        else:  # pragma: no cover - depends on the kernel
            pytest.skip("this kernel accepts connections beyond a full backlog")
    finally:
        probe.close()
    port = listener.getsockname()[1]
    client = streamactors.Client(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test",
                                 timeout=Timeout(connect=0.2, read=5), max_retries=1,
                                 trust_env=False)
    try:
        t0 = time.perf_counter()
        with pytest.raises(ConnectTimeout) as info:
            client.chat(MODEL, MESSAGES).wait(5)
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
        for s in [listener, *fillers]:
            s.close()
    err = info.value
    assert isinstance(err, StreamTimeout) and err.phase == "connect"
    assert err.retries == 1  # a connect timeout is retried (nothing was sent)
    assert 0.4 <= elapsed < 3.0  # two attempts of 0.2 s plus one short backoff
    assert err.partial is not None and err.partial.chunks == 0


@pytest.mark.parametrize("target", ["actor", "queue", "astream"])
def test_total_deadline_during_slow_stream(
    target: str, server: LoopbackServer, no_leaks: None
) -> None:
    """A stream paced at 20 tokens/s with a 0.3 s total: DeadlineExceeded
    after a few tokens, all of them delivered and in the partial result."""
    tokens = [f" w{i}" for i in range(40)]
    server.script = Script(tokens=tokens, tokens_per_second=20)
    client = make_client(server, max_retries=2)
    try:
        t0 = time.perf_counter()
        out = run_stream(client, MODEL, target,  # type: ignore[arg-type]
                         timeout=Timeout(connect=2, read=2, total=0.3))
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
    err = out.error
    assert isinstance(err, DeadlineExceeded) and err.phase == "total"
    assert 0.25 < elapsed < 1.5
    assert 1 <= len(out.texts) < len(tokens)
    assert out.texts == tokens[: len(out.texts)]
    assert err.partial is not None and err.partial.text == "".join(out.texts)
    assert err.retries == 0 and len(server.requests) == 1


def test_total_deadline_covers_retries(server: LoopbackServer, no_leaks: None) -> None:
    """``total`` bounds the whole stream, back-off waits included."""
    server.script = Script(fault=Fault("http_error", status=503, retry_after=30))
    client = make_client(server, max_retries=5)
    try:
        t0 = time.perf_counter()
        with pytest.raises(DeadlineExceeded) as info:
            client.chat(MODEL, MESSAGES, timeout=Timeout(total=0.3)).wait(5)
        assert time.perf_counter() - t0 < 1.5
    finally:
        client.close()
    # The retry was announced but never made: it is not counted.
    assert info.value.retries == 0
    assert len(server.requests) == 1


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "anthropic", "gemini",
                                      "ollama"])
def test_first_token_timeout_on_stall_at_zero(
    provider: str, server: LoopbackServer, no_leaks: None
) -> None:
    """The server sends its headers (and, for OpenAI, the role-only first
    chunk) and then nothing: FirstTokenTimeout at ``first_token``, well
    before the read timeout."""
    server.script = Script(tokens=TOKENS, fault=Fault("stall", after=0, seconds=10))
    client = make_client(server, provider, max_retries=2)
    try:
        t0 = time.perf_counter()
        out = run_stream(client, MODELS[provider], "queue",
                         timeout=Timeout(connect=2, read=5, first_token=0.2),
                         **chat_kwargs(provider))
        elapsed = time.perf_counter() - t0
    finally:
        client.close()
    err = out.error
    assert isinstance(err, FirstTokenTimeout) and err.phase == "first_token"
    assert 0.15 < elapsed < 1.5
    assert out.texts == []
    assert err.partial is not None and err.partial.text == ""
    assert err.partial.time_to_first_token is None
    assert len(server.requests) == 1


def test_first_token_deadline_is_disarmed_by_the_first_token(
    server: LoopbackServer, no_leaks: None
) -> None:
    """Once a token arrived, a slow rest of the stream is fine."""
    server.script = Script(tokens=TOKENS, tokens_per_second=4)
    client = make_client(server)
    try:
        out = run_stream(client, MODEL, "actor", timeout=Timeout(read=2, first_token=0.6))
    finally:
        client.close()
    result = out.result
    assert result.text == "".join(TOKENS)
    assert result.duration is not None and result.duration > 0.8
    assert result.time_to_first_token is not None and result.time_to_first_token < 0.6


def test_client_default_timeout_and_per_call_override(
    server: LoopbackServer, no_leaks: None
) -> None:
    server.script = Script(tokens=TOKENS, fault=Fault("stall", after=1, seconds=10))
    client = make_client(server, timeout=0.15, max_retries=0)
    try:
        t0 = time.perf_counter()
        with pytest.raises(ReadTimeout):
            client.chat(MODEL, MESSAGES).wait(5)
        assert time.perf_counter() - t0 < 1.0
        t0 = time.perf_counter()
        with pytest.raises(DeadlineExceeded):  # the call's own Timeout wins
            client.chat(MODEL, MESSAGES, timeout=Timeout(read=5, total=0.4)).wait(5)
        assert time.perf_counter() - t0 >= 0.35
    finally:
        client.close()
