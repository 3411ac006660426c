"""The OpenAI chat codec: recorded real streams and hand-written quirks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streamactors.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitError,
)
from streamactors.providers import ProviderConfig, RequestInput, Secret, resolve
from streamactors.providers.openai_chat import OpenAIChatDecoder, OpenAIChatProvider

from ._body_replay import replay

P = OpenAIChatProvider()


def _load(fixtures_dir: Path, name: str) -> bytes:
    return (fixtures_dir / name).read_bytes()


def test_text_with_usage(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-chat/01_text_usage.sse"))
    assert r.error is None and r.complete and r.result is not None
    assert r.result.finish_reason == "stop"
    assert r.result.usage is not None
    u = r.result.usage
    assert u.prompt_tokens is not None and u.completion_tokens is not None
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert r.result.text.startswith("I'm unable")
    assert r.result.id and r.result.id.startswith("chatcmpl-")
    assert r.result.model == "gpt-4o-2024-08-06"
    # the usage chunk has choices: [] and must not crash or add text
    assert r.chunks[-1].usage is not None and r.chunks[-1].text is None


def test_n3_interleaved(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-chat/02_n3_interleaved_choices.sse"))
    assert r.result is not None and r.error is None
    assert [c.index for c in r.result.choices] == [0, 1, 2]
    for c in r.result.choices:
        assert c.finish_reason is not None
        assert c.text.startswith('{"')
    assert r.complete


def test_finish_length(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-chat/03_finish_length.sse"))
    assert r.result is not None and r.result.finish_reason == "length"
    assert r.result.native_finish_reason == "length"


def test_refusal_kept_apart(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-chat/04_refusal.sse"))
    assert r.result is not None
    assert r.result.text == ""
    assert r.result.refusal == "I'm sorry, I can't assist with that request."
    assert r.result.finish_reason == "stop"
    assert r.result.usage is not None and r.result.usage.completion_tokens == 11


def test_logprobs(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-chat/05_content_logprobs.sse"))
    assert r.result is not None and r.result.text == "Foo!"
    assert r.result.choices[0].logprobs is not None
    assert len(r.result.choices[0].logprobs) == 2


def test_single_tool_call(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-chat/06_tool_call_single.sse"))
    assert r.result is not None and r.result.finish_reason == "tool_calls"
    (tc,) = r.result.tool_calls
    assert tc.id == "call_c91SqDXlYFuETYv8mUHzz6pp"
    assert tc.name == "GetWeatherArgs"
    assert tc.arguments == '{"city":"Edinburgh","country":"UK","units":"c"}'
    assert r.result.usage is not None and r.result.usage.total_tokens == 100


def test_parallel_tool_calls(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-chat/07_tool_calls_parallel.sse"))
    assert r.result is not None
    a, b = r.result.tool_calls
    assert (a.id, a.name) == ("call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs")
    assert json.loads(a.arguments) == {"city": "Edinburgh", "country": "GB", "units": "c"}
    assert (b.id, b.name) == ("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price")
    assert json.loads(b.arguments) == {"ticker": "AAPL", "exchange": "NASDAQ"}
    assert r.result.usage is not None and r.result.usage.total_tokens == 209


def test_midstream_error_keeps_partial(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-chat/08_midstream_error.sse"))
    assert isinstance(r.error, ProviderError)
    assert r.error.type == "server_error"
    assert r.error.provider_message == (
        "The server had an error while processing your request. Sorry about that!"
    )
    assert r.result is not None and r.result.text == 'The question "'
    assert r.result.finish_reason is None and not r.complete


def test_compatible_reasoning_content_and_nulls(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-compatible/01_deepinfra_reasoning_content_tool.sse"))
    assert r.result is not None and r.error is None
    assert r.result.reasoning == "The user wants me to run the 'date' command."
    assert r.result.text == ""
    (tc,) = r.result.tool_calls
    assert (tc.id, tc.name, json.loads(tc.arguments)) == ("call_d14d", "system", {"command": "date"})
    assert r.result.finish_reason == "tool_calls"
    assert r.result.usage is not None
    assert (r.result.usage.prompt_tokens, r.result.usage.completion_tokens) == (170, 23)


def test_compatible_first_tool_at_index_1(fixtures_dir: Path) -> None:
    r = replay(P, _load(fixtures_dir, "openai-compatible/02_text_then_tool_call_index_1.sse"))
    assert r.result is not None
    assert r.result.text == "Now listing your Coder workspaces:"
    (tc,) = r.result.tool_calls
    assert tc.index == 1
    assert tc.id == "toolu_vrtx_01DbFqUgk6aAtJ4nDBqzFWDF"
    assert tc.name == "bmcp_coder_coder_list_workspaces"
    assert tc.arguments == "{}" and tc.parsed_arguments() == {}
    assert r.result.usage is not None and r.result.usage.prompt_tokens == 25939


@pytest.mark.parametrize("name", ["mistral/01_text.sse", "mistral/02_tool_call_whole.sse"])
def test_mistral_recordings(fixtures_dir: Path, name: str) -> None:
    r = replay(OpenAIChatProvider("mistral"), _load(fixtures_dir, name))
    assert r.error is None and r.complete and r.result is not None
    assert r.result.usage is not None and r.result.usage.completion_tokens
    if "tool" in name:
        (tc,) = r.result.tool_calls
        assert tc.id and tc.name and json.loads(tc.arguments) is not None
        assert r.result.finish_reason == "tool_calls"
    else:
        assert r.result.text and r.result.finish_reason == "stop"


@pytest.mark.parametrize("step", [1, 7, 64])
def test_any_split_gives_same_result(fixtures_dir: Path, step: int) -> None:
    data = _load(fixtures_dir, "openai-chat/07_tool_calls_parallel.sse")
    whole = replay(P, data)
    split = replay(P, data, range(step, len(data), step))
    assert split.result == whole.result


def _feed(*events: object) -> list:  # type: ignore[type-arg]
    d = OpenAIChatDecoder()
    out = []
    for e in events:
        out.extend(d.feed(e if isinstance(e, str) else json.dumps(e)))
    return out


def test_fragments_merge_by_index_not_position() -> None:
    from streamactors.accumulate import Accumulator

    acc = Accumulator()
    for c in _feed(
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}},
            {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\""}},
        ]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": ":1}"}},
            {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}},
        ]}, "finish_reason": "tool_calls"}]},
    ):
        acc.add(c)
    res = acc.result()
    assert [(t.id, t.name, t.arguments) for t in res.tool_calls] == [("a", "f", '{"x":1}'), ("b", "g", "{}")]


def test_legacy_function_call() -> None:
    chunks = _feed(
        {"choices": [{"index": 0, "delta": {"function_call": {"name": "f", "arguments": "{"}}}]},
        {"choices": [{"index": 0, "delta": {"function_call": {"arguments": "}"}}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "function_call"}]},
    )
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].native_finish_reason == "function_call"
    assert [tc.arguments for c in chunks for tc in c.tool_calls] == ["{", "}"]


@pytest.mark.parametrize(
    "choice",
    [
        {"index": 0, "delta": {"content": " tok"}, "logprobs": None, "finish_reason": None},
        {"index": 2, "delta": {"content": ""}, "finish_reason": None},  # empty: text None
        {"delta": {"content": "x"}, "logprobs": {"content": [{"token": "x", "logprob": -0.1}]}},
    ],
)
def test_the_common_event_takes_a_short_way_to_the_same_chunk(choice: dict[str, Any]) -> None:
    # One choice whose delta is one piece of text: the codec builds the
    # Chunk from a plain tuple. It must equal the keyword-built Chunk, field
    # for field (a field added to Chunk and missed here would shift them).
    from streamactors import Chunk

    event: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
                             "choices": [choice]}
    (c,) = OpenAIChatDecoder().feed(json.dumps(event))
    expected = Chunk(
        text=choice["delta"]["content"] or None, index=choice.get("index", 0), raw=event,
        id="c1", model="m", logprobs=choice.get("logprobs"),
    )
    assert c == expected and type(c) is Chunk
    assert c._asdict() == expected._asdict()
    # Anything else in the event takes the general way, with the same result
    # for the text.
    event["usage"] = {"prompt_tokens": 1, "completion_tokens": 1}
    (g,) = OpenAIChatDecoder().feed(json.dumps(event))
    assert g.usage is not None and g.usage.total_tokens == 2
    assert g._replace(usage=None, raw=None) == c._replace(raw=None)


def test_unknown_finish_reason_is_other_and_done_marker() -> None:
    d = OpenAIChatDecoder()
    (c,) = d.feed('{"choices":[{"index":0,"delta":{},"finish_reason":"weird"}]}')
    assert (c.finish_reason, c.native_finish_reason) == ("other", "weird")
    assert d.feed("[DONE]") == [] and d.done


def test_openrouter_error_chunk_and_malformed_json() -> None:
    with pytest.raises(ProviderError) as ei:
        _feed({"error": {"code": "server_error", "message": "Provider disconnected"},
               "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]})
    assert ei.value.code == "server_error"
    with pytest.raises(ProtocolError) as pe:
        _feed('{"choices": [')
    assert pe.value.payload == '{"choices": ['
    with pytest.raises(ProtocolError):
        _feed("[1, 2]")


def test_mistral_list_content() -> None:
    (c,) = _feed({"choices": [{"index": 0, "delta": {"content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
        {"type": "text", "text": "Hi"}]}}]})
    assert (c.text, c.reasoning) == ("Hi", "hmm")


def test_build_request() -> None:
    provider, config = resolve("openai/gpt-4o-mini", api_key="sk-canary-123", env={})
    req = provider.build_request(
        config, RequestInput("chat", ({"role": "user", "content": "hi"},), None,
                             {"temperature": 0.2, "max_tokens": 5})
    )
    assert req.url == "https://api.openai.com/v1/chat/completions"
    assert req.body["stream"] is True and req.body["stream_options"] == {"include_usage": True}
    assert req.body["temperature"] == 0.2 and req.body["model"] == "gpt-4o-mini"
    assert "sk-canary-123" not in repr(req)
    assert req.wire_headers()["Authorization"] == "Bearer sk-canary-123"
    with pytest.raises(ConfigurationError, match="top_k"):
        provider.build_request(config, RequestInput("chat", (), None, {"top_k": 3}))


def test_mistral_renames_seed() -> None:
    provider, config = resolve("mistral/mistral-small", api_key="k", env={})
    req = provider.build_request(config, RequestInput("chat", (), None, {"seed": 7}))
    assert req.body["random_seed"] == 7 and "seed" not in req.body
    assert req.url == "https://api.mistral.ai/v1/chat/completions"


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (400, b'{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":"x"}}',
         BadRequestError, "bad"),
        (401, b'{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}',
         AuthenticationError, "Incorrect API key"),
        (404, b'{"detail":"Not Found"}', NotFoundError, "Not Found"),
        (422, b'{"detail":[{"loc":["body","model"],"msg":"field required"}]}', BadRequestError.__mro__[1],
         "body.model: field required"),
        (429, b'{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}',
         RateLimitError, "slow down"),
        (502, b"<html><body>Bad gateway</body></html>", InternalServerError, None),
    ],
)
def test_error_mapping(status: int, body: bytes, cls: type, message: str | None) -> None:
    err = P.error_from_response(status, {"x-request-id": "req_1", "retry-after": "2"}, body)
    assert isinstance(err, cls)
    assert err.status_code == status
    assert err.provider_message == message
    assert err.request_id == "req_1"
    assert err.retry_after == 2.0
    assert "HTTP" in str(err)


def test_insufficient_quota_not_retryable() -> None:
    err = P.error_from_response(
        429, {}, b'{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}'
    )
    assert isinstance(err, RateLimitError) and err.retryable is False


def test_resolve_errors() -> None:
    with pytest.raises(ConfigurationError, match="provider/model"):
        resolve("gpt-4o", env={})
    with pytest.raises(ConfigurationError, match="unknown provider"):
        resolve("nope/x", env={})
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        resolve("openai/x", env={})
    with pytest.raises(ConfigurationError, match="base_url"):
        resolve("openai-compatible/x", env={})
    _, cfg = resolve("ollama/llama3", env={"OLLAMA_HOST": "0.0.0.0"})
    assert cfg.base_url == "http://127.0.0.1:11434" and cfg.api_key is None
    _, cfg = resolve("openai/x", env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://h/v1/"})
    assert cfg.base_url == "http://h/v1" and cfg.api_key == Secret("k")
    assert isinstance(cfg, ProviderConfig)


# ----------------------------------------------------------------- [DONE], lone surrogates (wrong shapes: tests/providers/test_openai_shapes.py)


def test_done_marker_sets_done_and_nothing_else_does() -> None:
    d = OpenAIChatDecoder()
    d.feed('{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}')
    assert not d.done, "a finish reason is not the end marker"
    assert d.feed("[DONE]") == [] and d.done
    assert d.continuation() == {}
    with pytest.raises(ProtocolError, match="not valid JSON") as info:
        OpenAIChatDecoder().feed("[DONE")
    assert info.value.payload == "[DONE"


def test_lone_surrogates_in_tool_calls_and_reasoning() -> None:
    event = ('{"choices": [{"index": 0, "delta": {"reasoning_content": "r\\ud800", '
             '"tool_calls": [{"index": 0, "id": "c\\udc00", "function": {"name": "f", '
             '"arguments": "{\\"a\\": \\"\\ud83d\\"}"}}]}}]}')
    (c,) = OpenAIChatDecoder().feed(event)
    assert c.reasoning == "r\ufffd"
    (tc,) = c.tool_calls
    assert (tc.id, tc.arguments) == ("c\ufffd", '{"a": "\ufffd"}')
    json.dumps([c.reasoning, tc.id, tc.arguments], ensure_ascii=False).encode("utf-8")


def test_null_index_is_choice_zero() -> None:
    (c,) = _feed({"choices": [{"index": None, "delta": {"content": "x"}}]})
    assert (c.index, c.text) == (0, "x")


def test_server_without_id_or_model_keeps_the_short_way() -> None:
    (c,) = _feed({"choices": [{"index": 0, "delta": {"content": "x"}}]})
    assert (c.text, c.id, c.model) == ("x", None, None)
