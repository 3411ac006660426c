"""One conversation, every provider format, over a real loopback socket: the
StreamResults must agree (text, reasoning, parallel tool calls, usage, every
finish reason), and each format's HTTP and in-band errors come out typed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import streamactors as sa
from streamactors.testing import Fault, LoopbackServer, Script, ToolCallSpec

PREFIXES = ["openai", "openai-responses", "anthropic", "gemini", "ollama", "mistral",
            "openrouter", "openai-compatible"]
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}]
TEXT = "Let me check the weather in two cities."
TOOLS = [ToolCallSpec("get_weather", '{"city": "Paris"}'),
         ToolCallSpec("get_weather", '{"city": "Oslo"}')]
TOOL_DEFS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


def _chat(server: LoopbackServer, prefix: str, script: Script, **params: Any) -> sa.StreamHandle:
    server.push(script)
    return sa.chat(f"{prefix}/demo-model", MSGS, base_url=server.url(prefix), api_key="sk-x",
                   max_retries=0, timeout=5, **params)


def _summary(r: sa.StreamResult) -> dict[str, Any]:
    return {
        "text": r.text,
        "reasoning": r.reasoning,
        "tools": [(t.name, json.loads(t.arguments)) for t in r.tool_calls],
        "ids": all(t.id for t in r.tool_calls),
        "finish": r.finish_reason,
        "usage": (r.usage.prompt_tokens, r.usage.completion_tokens) if r.usage else None,
    }


@pytest.mark.timeout(30)
def test_same_conversation_same_result(server: LoopbackServer) -> None:
    script = Script(text=TEXT, reasoning="The user wants weather.", tool_calls=TOOLS,
                    usage=(21, 9))
    summaries = {p: _summary(_chat(server, p, script, tools=TOOL_DEFS).wait(10)) for p in PREFIXES}
    expected = {
        "text": TEXT,
        "reasoning": "The user wants weather.",
        "tools": [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})],
        "ids": True,
        "finish": "tool_calls",
        "usage": (21, 9),
    }
    for prefix, summary in summaries.items():
        assert summary == expected, prefix


@pytest.mark.timeout(30)
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("finish", ["stop", "length", "content_filter"])
def test_finish_reasons(server: LoopbackServer, prefix: str, finish: str) -> None:
    if prefix == "ollama" and finish == "content_filter":
        pytest.skip("Ollama has no content-filter finish reason")
    r = _chat(server, prefix, Script(text="a b c", finish_reason=finish)).wait(10)
    assert r.finish_reason == finish
    assert r.native_finish_reason
    assert r.text == "a b c" or finish == "content_filter"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("status", "cls"), [
    (400, sa.BadRequestError), (401, sa.AuthenticationError), (403, sa.PermissionDeniedError),
    (404, sa.NotFoundError), (422, sa.UnprocessableEntityError), (429, sa.RateLimitError),
    (500, sa.InternalServerError), (503, sa.ServiceUnavailableError),
    (529, sa.OverloadedError),
])
def test_http_errors(server: LoopbackServer, prefix: str, status: int,
                     cls: type[sa.HTTPStatusError]) -> None:
    script = Script(fault=Fault("http_error", status=status, message="scripted failure",
                                retry_after=3))
    with pytest.raises(cls) as ei:
        _chat(server, prefix, script).wait(10)
    err = ei.value
    assert isinstance(err, sa.HTTPStatusError)
    assert err.status_code == status
    assert err.provider_message == "scripted failure"
    assert err.retry_after == 3.0
    assert err.partial is not None and err.partial.chunks == 0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_in_band_error_keeps_partial(server: LoopbackServer, prefix: str) -> None:
    script = Script(text="one two three four", fault=Fault("error_event", after=2,
                                                           message="went wrong"))
    with pytest.raises(sa.ProviderError) as ei:
        _chat(server, prefix, script).wait(10)
    assert ei.value.provider_message == "went wrong"
    assert ei.value.partial is not None and ei.value.partial.text == "one two"
    assert ei.value.partial.finish_reason is None


@pytest.mark.timeout(30)
@pytest.mark.parametrize("prefix", ["openai", "ollama"])
def test_complete_everywhere_it_exists(server: LoopbackServer, prefix: str) -> None:
    server.push(Script(text="once upon a time"))
    r = sa.complete(f"{prefix}/m", "Once", base_url=server.url(prefix), api_key="k").wait(10)
    assert r.text == "once upon a time" and r.finish_reason == "stop"
    with pytest.raises(sa.ConfigurationError):
        sa.complete("anthropic/m", "Once", api_key="k")


@pytest.mark.timeout(30)
def test_responses_via_api_argument(server: LoopbackServer) -> None:
    server.push(Script(text="via responses"))
    r = sa.chat("openai/m", MSGS, api="responses", base_url=server.url("openai"),
                api_key="k").wait(10)
    assert r.text == "via responses"
    assert server.requests[-1].path == "/v1/responses"
