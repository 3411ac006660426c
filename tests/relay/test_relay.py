"""The OpenAI-compatible relay, proven with the official ``openai`` SDK (a
test-only dependency) over real sockets: what the SDK accumulates from the
relay equals our own StreamResult, for OpenAI and Anthropic upstreams.

Every SDK client is closed (``with``): an unclosed one leaves a socket that
trips ``filterwarnings = error`` in a later test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import streamactors as sa
from streamactors import metrics
from streamactors.testing import Fault, LoopbackServer, Script, ToolCallSpec

openai = pytest.importorskip("openai")

MSGS: list[Any] = [{"role": "user", "content": "Weather in Paris and the time?"}]
SCRIPT = Script(
    text="Checking both for you.",
    tool_calls=(ToolCallSpec("get_weather", '{"city": "Paris"}'), ToolCallSpec("get_time", "{}")),
)


@pytest.fixture
def upstream(loopback_server: LoopbackServer) -> LoopbackServer:
    loopback_server.script = SCRIPT
    return loopback_server


def _relay(upstream: LoopbackServer, provider: str, **kwargs: Any) -> sa.RelayServer:
    client = sa.Client(base_url=upstream.url(provider), api_key="sk-upstream", max_retries=0)
    return sa.RelayServer(model=f"{provider}/m", client=client, port=0, **kwargs)


def _sdk(relay: sa.RelayServer, key: str = "x") -> Any:
    return openai.OpenAI(base_url=relay.url + "/v1", api_key=key, max_retries=0, timeout=10)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_sdk_accumulates_what_we_accumulate(upstream: LoopbackServer, provider: str) -> None:
    ours = sa.chat(f"{provider}/m", MSGS, base_url=upstream.url(provider),
                   api_key="sk-upstream").wait(10)
    with _relay(upstream, provider) as relay, _sdk(relay) as sdk:
        # "m" is the model part of the one configured name, f"{provider}/m".
        with sdk.chat.completions.stream(
            model="m", messages=MSGS, stream_options={"include_usage": True},
        ) as stream:
            deltas = [e.delta for e in stream if e.type == "content.delta"]
            final = stream.get_final_completion()
    (choice,) = final.choices
    assert "".join(deltas) == choice.message.content == ours.text
    assert choice.finish_reason == ours.finish_reason == "tool_calls"
    assert [(t.id, t.function.name, t.function.arguments) for t in choice.message.tool_calls] == [
        (t.id, t.name, t.arguments) for t in ours.tool_calls]
    assert ours.usage is not None and final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens,
            final.usage.total_tokens) == (ours.usage.prompt_tokens,
                                          ours.usage.completion_tokens, ours.usage.total_tokens)
    assert final.model == ours.model and ours.id is not None
    # The upstream's response id is kept (it numbers its responses: ours came first).
    assert final.id == ours.id.replace("000001", "000002")
    upstream_req = upstream.requests[-1]
    assert upstream_req.path == ("/v1/chat/completions" if provider == "openai"
                                 else "/v1/messages")
    assert MSGS[0]["content"] in json.dumps(upstream_req.json()["messages"])


@pytest.mark.timeout(20)
def test_create_stream_true_and_params_pass_through(upstream: LoopbackServer) -> None:
    upstream.script = Script(text="plain text answer")
    with _relay(upstream, "anthropic", models=["anthropic/claude-x"]) as relay, \
            _sdk(relay) as sdk:
        chunks = list(sdk.chat.completions.create(
            model="anthropic/claude-x", messages=MSGS, stream=True, temperature=0.5,
            max_tokens=99))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "plain text answer"
    assert all(c.usage is None for c in chunks), "no usage chunk unless include_usage"
    body = upstream.requests[-1].json()
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("claude-x", 0.5, 99)


@pytest.mark.timeout(20)
def test_request_model_may_name_a_route(upstream: LoopbackServer) -> None:
    routes = {"cheap": {"model": "openai/small", "base_url": upstream.url("openai"),
                        "api_key": "k1"},
              "claude": {"model": "anthropic/claude-x", "base_url": upstream.url("anthropic"),
                         "api_key": "k2"}}
    with sa.Router(routes) as router, sa.RelayServer(router=router, route="claude",
                                                     port=0) as relay, _sdk(relay) as sdk:
        for name in ("claude", "cheap"):
            with sdk.chat.completions.stream(model=name, messages=MSGS) as stream:
                stream.until_done()
        with pytest.raises(openai.NotFoundError) as ei:
            sdk.chat.completions.create(model="whatever", messages=MSGS, stream=True)
        models = sdk.models.list()
    assert [r.path for r in upstream.requests] == ["/v1/messages", "/v1/chat/completions"]
    assert ei.value.body["code"] == "model_not_found"
    assert ei.value.body["message"].endswith("allowed: claude, cheap")
    assert [m.id for m in models.data] == ["claude", "cheap"], "route= is listed first"


@pytest.mark.timeout(20)
def test_non_streaming_requests_get_400(upstream: LoopbackServer) -> None:
    with _relay(upstream, "openai") as relay, _sdk(relay) as sdk:
        with pytest.raises(openai.BadRequestError) as ei:
            sdk.chat.completions.create(model="m", messages=MSGS)
        r = requests.post(relay.url + "/v1/chat/completions", data=b"{not json", timeout=5)
        unknown = requests.post(relay.url + "/v1/embeddings", json={}, timeout=5)
    assert ei.value.status_code == 400
    assert ei.value.body["type"] == "invalid_request_error" and ei.value.body["param"] == "stream"
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert unknown.status_code == 404
    assert upstream.requests == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("status", "exc"), [(429, "RateLimitError"),
                                             (401, "AuthenticationError"),
                                             (503, "InternalServerError")])
def test_upstream_errors_before_data_keep_their_status(upstream: LoopbackServer, status: int,
                                                       exc: str) -> None:
    upstream.script = Script(fault=Fault("http_error", status=status, message="upstream says no",
                                         retry_after=3))
    with _relay(upstream, "anthropic") as relay, _sdk(relay) as sdk:
        with pytest.raises(getattr(openai, exc)) as ei:
            sdk.chat.completions.create(model="m", messages=MSGS, stream=True)
    assert ei.value.status_code == status
    assert "upstream says no" in ei.value.message
    assert ei.value.response.headers["retry-after"] == "3"
    assert set(ei.value.body) == {"message", "type", "param", "code"}, "OpenAI's error shape"


@pytest.mark.timeout(20)
def test_upstream_error_after_data_reaches_the_sdk(upstream: LoopbackServer) -> None:
    upstream.script = Script(text="a b c d e f", fault=Fault("drop", after=2))
    seen = []
    with _relay(upstream, "openai") as relay, _sdk(relay) as sdk:
        with pytest.raises(openai.APIError):
            for chunk in sdk.chat.completions.create(model="m", messages=MSGS, stream=True):
                if chunk.choices:
                    seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "a b"


@pytest.mark.timeout(20)
def test_relay_key(upstream: LoopbackServer) -> None:
    with _relay(upstream, "openai", api_key="relay-secret") as relay:
        with _sdk(relay, key="wrong") as wrong, pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="m", messages=MSGS, stream=True)
        with _sdk(relay, key="relay-secret") as right:
            chunks = list(right.chat.completions.create(model="m", messages=MSGS, stream=True))
    assert chunks and len(upstream.requests) == 1


@pytest.fixture
def records() -> Iterator[list[metrics.StreamMetrics]]:
    got: list[metrics.StreamMetrics] = []
    remove = metrics.add_listener(got.append)
    yield got
    remove()


@pytest.mark.timeout(20)
def test_client_disconnect_cancels_the_upstream_stream(
        upstream: LoopbackServer, records: list[metrics.StreamMetrics]) -> None:
    upstream.script = Script(text=" ".join(["w"] * 400), tokens_per_second=100)
    with _relay(upstream, "openai") as relay:
        with requests.post(relay.url + "/v1/chat/completions", stream=True, timeout=5,
                           json={"model": "m", "messages": MSGS, "stream": True}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            first = next(r.iter_content(chunk_size=None))
            assert first.startswith(b"data: ")
        deadline = time.monotonic() + 5
        while not records and time.monotonic() < deadline:
            time.sleep(0.01)
    (rec,) = records
    assert rec.error_type == "StreamCancelled" and rec.chunks < 400


@pytest.mark.timeout(20)
def test_wire_format_is_plain_openai_sse(upstream: LoopbackServer) -> None:
    upstream.script = Script(text="hi there")
    with _relay(upstream, "gemini") as relay:
        r = requests.post(relay.url + "/v1/chat/completions", timeout=5, json={
            "model": "m", "messages": MSGS, "stream": True,
            "stream_options": {"include_usage": True}})
    events = [e for e in r.content.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    payloads = [json.loads(e.removeprefix(b"data: ")) for e in events[:-1]]
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["total_tokens"] > 0
    assert "stream_options" not in json.dumps(upstream.requests[-1].json())


@pytest.mark.timeout(20)
@pytest.mark.parametrize("field", ["base_url", "api_key", "headers", "timeout"])
def test_clients_cannot_redirect_the_relays_keys(upstream: LoopbackServer, field: str) -> None:
    with LoopbackServer() as elsewhere, _relay(upstream, "openai") as relay:
        value: Any = {"base_url": elsewhere.url("openai"), "api_key": "stolen",
                      "headers": {"x-evil": "1"}, "timeout": 0.001}[field]
        r = requests.post(relay.url + "/v1/chat/completions", timeout=5, json={
            "model": "openai/m", "messages": MSGS, "stream": True, field: value})
        assert r.status_code == 400 and field in r.json()["error"]["message"]
        assert elsewhere.requests == [] and upstream.requests == []
