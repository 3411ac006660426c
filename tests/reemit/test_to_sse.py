"""to_sse: any provider's stream re-emitted as OpenAI SSE (or compact events),
checked by decoding the bytes again with our own SSE decoder and OpenAI codec."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import streamactors as sa
from streamactors.providers import RequestInput
from streamactors.providers.openai_chat import OpenAIChatProvider
from streamactors.sse import ServerSentEvent, SSEDecoder, to_sse, to_sse_async
from streamactors.testing import Fault, LoopbackServer, Script, ToolCallSpec

MSGS = [{"role": "user", "content": "What is the weather in Paris?"}]
SCRIPT = Script(
    text="Let me check the weather.",
    reasoning="The user wants weather.",
    tool_calls=(ToolCallSpec("get_weather", '{"city": "Paris", "unit": "c"}'),
                ToolCallSpec("get_time", "{}")),
)


def _events(body: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(body) + decoder.close()


def _reaccumulate(body: bytes) -> sa.StreamResult:
    """What an OpenAI client makes of the re-emitted bytes (our OpenAI codec)."""
    events = _events(body)
    assert events[-1].data == "[DONE]"
    feed = OpenAIChatProvider().new_decoder(RequestInput()).feed
    acc = sa.Accumulator()
    for ev in events:
        for chunk in feed(ev.data, ev.event):
            acc.add(chunk)
    return acc.result()


def _start(server: LoopbackServer, provider: str) -> sa.StreamHandle:
    return sa.chat(f"{provider}/m", MSGS, base_url=server.url(provider), api_key="sk-test-key",
                   max_retries=0)


def _same(a: sa.StreamResult, b: sa.StreamResult) -> None:
    assert (a.text, a.reasoning, a.finish_reason) == (b.text, b.reasoning, b.finish_reason)
    assert [(t.index, t.id, t.name, t.arguments) for t in a.tool_calls] == [
        (t.index, t.id, t.name, t.arguments) for t in b.tool_calls]
    assert a.usage is not None and b.usage is not None
    assert (a.usage.prompt_tokens, a.usage.completion_tokens, a.usage.total_tokens) == (
        b.usage.prompt_tokens, b.usage.completion_tokens, b.usage.total_tokens)
    assert (a.id, a.model) == (b.id, b.model)


@pytest.mark.timeout(15)
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_round_trip_through_the_openai_codec(loopback_server: LoopbackServer,
                                             provider: str) -> None:
    loopback_server.script = SCRIPT
    handle = _start(loopback_server, provider)
    body = b"".join(to_sse(handle))
    original = handle.wait(5)
    assert original.tool_calls and original.reasoning  # the script exercises everything
    _same(_reaccumulate(body), original)

    chunks = [json.loads(ev.data) for ev in _events(body)[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert chunks[0]["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                     "logprobs": None, "finish_reason": None}]
    finishes = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finishes) == 1 and finishes[0]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 12
    first_call = next(c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
                      if c["choices"] and "tool_calls" in c["choices"][0]["delta"])
    assert first_call["index"] == 0 and first_call["type"] == "function"
    assert first_call["function"]["name"] == "get_weather" and first_call["id"]


@pytest.mark.timeout(15)
def test_chunk_stream_source(loopback_server: LoopbackServer) -> None:
    loopback_server.script = SCRIPT
    it = sa.stream("anthropic/m", MSGS, base_url=loopback_server.url("anthropic"),
                   api_key="sk-test-key")
    body = b"".join(to_sse(it))
    assert it.result is not None
    _same(_reaccumulate(body), it.result)


def test_messages_iterable_with_several_choices_and_no_usage() -> None:
    chunks = [
        sa.Chunk(text="a", index=0, id="x1", model="m"),
        sa.Chunk(text="b", index=1),
        sa.Chunk(text="c", index=0, finish_reason="stop"),
        sa.Chunk(finish_reason="length", index=1),
    ]
    body = b"".join(to_sse(chunks, include_usage=False))
    data = [json.loads(e.data) for e in _events(body)[:-1]]
    roles = [(d["choices"][0]["index"]) for d in data if "role" in d["choices"][0]["delta"]]
    assert roles == [0, 1], "each choice starts with its role chunk"
    result = _reaccumulate(body)
    assert [(c.text, c.finish_reason) for c in result.choices] == [("ac", "stop"),
                                                                   ("b", "length")]
    assert result.usage is None and result.id == "x1" and result.model == "m"


@pytest.mark.timeout(15)
def test_estimated_usage_is_marked(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="no usage here", usage=None)
    body = b"".join(to_sse(_start(loopback_server, "openai")))
    usage = json.loads(_events(body)[-2].data)["usage"]
    assert usage["estimated"] is True and usage["completion_tokens"] == 4  # 13 chars / 4


@pytest.mark.timeout(15)
def test_error_after_data_is_an_error_event_without_done(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text="a b c d e", fault=Fault("drop", after=2))
    events = _events(b"".join(to_sse(_start(loopback_server, "openai"))))
    assert all(e.data != "[DONE]" for e in events)
    error = json.loads(events[-1].data)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    text = "".join(json.loads(e.data)["choices"][0]["delta"].get("content", "")
                   for e in events[:-1])
    assert text == "a b"


@pytest.mark.timeout(15)
def test_provider_error_keeps_its_type_and_code(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(fault=Fault("http_error", status=429, message="slow down"))
    (event,) = _events(b"".join(to_sse(_start(loopback_server, "openai"))))
    error = json.loads(event.data)["error"]
    assert "slow down" in error["message"] and error["type"]


@pytest.mark.timeout(15)
def test_events_format(loopback_server: LoopbackServer) -> None:
    loopback_server.script = SCRIPT
    handle = _start(loopback_server, "gemini")
    events = _events(b"".join(to_sse(handle, format="events")))
    result = handle.wait(5)
    assert {e.event for e in events[:-1]} == {"data"} and events[-1].event == "finish"
    data = [json.loads(e.data) for e in events[:-1]]
    assert "".join(d.get("text", "") for d in data) == result.text
    assert "".join(d.get("reasoning", "") for d in data) == result.reasoning
    calls = [c for d in data for c in d.get("tool_calls", [])]
    assert [(c["name"], c["arguments"]) for c in calls] == [
        (t.name, t.arguments) for t in result.tool_calls]
    finish = json.loads(events[-1].data)
    assert finish["finish_reason"] == "tool_calls"
    assert finish["usage"]["total_tokens"] == result.usage.total_tokens  # type: ignore[union-attr]
    assert finish["duration"] == result.duration


@pytest.mark.timeout(15)
def test_events_format_error(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(fault=Fault("http_error", status=401, message="bad key"))
    events = _events(b"".join(to_sse(_start(loopback_server, "anthropic"), format="events")))
    assert [e.event for e in events] == ["error"]
    payload = json.loads(events[0].data)
    assert payload["type"] == "AuthenticationError" and payload["status_code"] == 401
    assert payload["retryable"] is False and "bad key" in payload["message"]


@pytest.mark.timeout(15)
def test_closing_early_cancels_the_stream(loopback_server: LoopbackServer) -> None:
    loopback_server.script = Script(text=" ".join(["w"] * 200), tokens_per_second=100)
    handle = _start(loopback_server, "openai")
    body = to_sse(handle)
    assert next(body).startswith(b"data: ")
    body.close()  # what a WSGI server does when the browser goes away
    with pytest.raises(sa.StreamCancelled):
        handle.wait(5)


@pytest.mark.timeout(15)
def test_async(loopback_server: LoopbackServer) -> None:
    loopback_server.script = SCRIPT

    async def main() -> tuple[bytes, list[bytes]]:
        kwargs: dict[str, Any] = {"base_url": loopback_server.url("anthropic"),
                                  "api_key": "sk-test-key"}
        ok = b"".join([b async for b in to_sse_async(sa.astream("anthropic/m", MSGS, **kwargs))])
        loopback_server.push(Script(fault=Fault("http_error", status=400)))
        failed = [b async for b in to_sse_async(
            sa.astream("anthropic/m", MSGS, **kwargs), format="events")]
        return ok, failed

    ok, failed = asyncio.run(main())
    result = _reaccumulate(ok)
    assert result.text == SCRIPT.text and len(result.tool_calls) == 2
    assert len(failed) == 1 and failed[0].startswith(b"event: error\n")


def test_bad_format_and_bad_items() -> None:
    with pytest.raises(ValueError, match="format"):
        to_sse([], format="xml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected Chunk"):
        list(to_sse(["text"]))
