"""Upstream failures through the relay: no multiplied retries, the status
and ``Retry-After`` passed on for the client's own retry policy, no key in
anything a client receives, and text no encoder can take (lone surrogates)
still served. Real loopback sockets throughout."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

import streamactors as sa
from streamactors.providers import PROVIDERS
from streamactors.testing import Fault, LoopbackServer, Script

from ..reliability import RawServer

openai = pytest.importorskip("openai")

MSGS: list[Any] = [{"role": "user", "content": "hi"}]
KEY = "sk-relay-echo-0123456789abcdef"


@pytest.fixture
def openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay's own client finds the upstream key in the environment, as
    the command line's does; nothing else from the machine leaks in."""
    for info in PROVIDERS.values():
        for name in (*info.key_env, info.base_env):
            if name:
                monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def _sdk(relay: sa.RelayServer) -> Any:
    return openai.OpenAI(base_url=relay.url + "/v1", api_key="x", max_retries=0, timeout=10)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("retry_after", "header"), [(7, "7"), (2.5, "3"), (0.2, "1")])
@pytest.mark.usefixtures("openai_key")
def test_a_429_reaches_the_client_after_one_upstream_request(
        loopback_server: LoopbackServer, retry_after: float, header: str) -> None:
    """The relay makes no retries of its own by default, and rounds
    ``Retry-After`` up: the client never comes back earlier than asked."""
    loopback_server.script = Script(fault=Fault("http_error", status=429,
                                                retry_after=retry_after, message="slow down"))
    with sa.RelayServer(models=["openai/m"], base_url=loopback_server.url("openai"),
                        port=0) as relay, _sdk(relay) as sdk:
        with pytest.raises(openai.RateLimitError) as ei:
            sdk.chat.completions.create(model="m", messages=MSGS, stream=True)
    assert ei.value.status_code == 429
    assert ei.value.response.headers["retry-after"] == header
    assert ei.value.body["code"] == "rate_limit_exceeded" and "slow down" in ei.value.message
    assert len(loopback_server.requests) == 1


@pytest.mark.timeout(20)
@pytest.mark.usefixtures("openai_key")
def test_max_retries_lets_the_relay_retry(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="second time lucky", fault=Fault(
        "http_error", status=503, retry_after=0, times=1))
    with sa.RelayServer(models=["openai/m"], base_url=loopback_server.url("openai"),
                        max_retries=1, port=0) as relay, _sdk(relay) as sdk:
        chunks = list(sdk.chat.completions.create(model="m", messages=MSGS, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "second time lucky"
    assert len(loopback_server.requests) == 2


def _http(status: str, headers: dict[str, str], body: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"HTTP/1.1 {status}\r\n{head}content-length: {len(body)}\r\n\r\n").encode() + body


def _echo_status(_request: bytes) -> bytes:
    """A server that echoes the key in every error field and its request id."""
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}",
                                 "type": KEY, "code": KEY, "param": None}}).encode()
    return _http("401 Unauthorized", {"content-type": "application/json",
                                      "x-request-id": KEY}, body)


def _echo_in_band(_request: bytes) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "partial"}, "finish_reason": None}]}
    error = {"error": {"message": f"key {KEY} revoked", "type": KEY, "code": KEY}}
    body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(error)}\n\n".encode()
    return _http("200 OK", {"content-type": "text/event-stream", "x-request-id": KEY}, body)


@pytest.mark.timeout(20)
@pytest.mark.usefixtures("openai_key")
@pytest.mark.parametrize("respond", [_echo_status, _echo_in_band], ids=["status", "in-band"])
def test_a_server_echoing_the_key_does_not_get_it_to_clients(respond: Any) -> None:
    """The error's message, type, code and request id are scrubbed (the
    worker's job) before the relay turns them into what its client reads."""
    with RawServer(respond) as raw, \
            sa.RelayServer(models=["openai/m"], base_url=raw.base_url + "/v1", port=0) as relay:
        r = requests.post(relay.url + "/v1/chat/completions", timeout=10,
                          json={"model": "m", "messages": MSGS, "stream": True})
        assert KEY.encode() in raw.requests[0], "the key did go upstream"
    assert r.status_code == (401 if respond is _echo_status else 200)
    assert KEY not in r.text
    assert all(KEY not in v for v in r.headers.values())
    assert "error" in r.text


def _surrogates(_request: bytes) -> bytes:
    # JSON may escape a lone surrogate; no UTF-8 encoder takes it.
    events = [
        '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        '[{"index":0,"delta":{"content":"a\\ud800b"},"finish_reason":null}]}',
        '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        '[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        "[DONE]",
    ]
    body = "".join(f"data: {e}\n\n" for e in events).encode()
    return _http("200 OK", {"content-type": "text/event-stream"}, body)


@pytest.mark.timeout(20)
@pytest.mark.usefixtures("openai_key")
def test_a_lone_surrogate_is_served_as_a_replacement_character() -> None:
    with RawServer(_surrogates) as raw, \
            sa.RelayServer(models=["openai/m"], base_url=raw.base_url + "/v1", port=0) as relay, \
            _sdk(relay) as sdk:
        chunks = list(sdk.chat.completions.create(model="m", messages=MSGS, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a\ufffdb"
