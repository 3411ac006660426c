"""The OpenAI Responses codec's requests: chat-form messages and fields
translated into Responses items and fields, refusals, HTTP errors, and the
normalized assistant message of a tool loop coming back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors._chunk import Chunk, ToolCallDelta
from streamactors.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    HTTPStatusError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
)
from streamactors.providers._base import ProviderConfig, RequestInput, Secret
from streamactors.providers.openai_completions import OpenAICompletionsProvider
from streamactors.providers.openai_responses import (
    OpenAIResponsesProvider,
)

pytestmark = pytest.mark.timeout(10)

P = OpenAIResponsesProvider()
KEY = "sk-test-DO-NOT-LEAK-123"
CONFIG = ProviderConfig("openai-responses", "gpt-4.1", "https://api.openai.com/v1/", Secret(KEY))


# ----------------------------------------------------------------- requests


def build(messages: Any = (), **params: Any) -> dict[str, Any]:
    return dict(P.build_request(CONFIG, RequestInput(messages=messages, params=params)).body)


def test_request_shape_and_secret() -> None:
    req = P.build_request(CONFIG, RequestInput(messages=[{"role": "user", "content": "hi"}]))
    assert (req.method, req.url, req.framing) == ("POST", "https://api.openai.com/v1/responses",
                                                  "sse")
    assert req.headers["Accept"] == "text/event-stream"
    assert KEY not in json.dumps(dict(req.headers))
    assert req.wire_headers()["Authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(req) and KEY not in str(req)
    assert req.body == {"model": "gpt-4.1", "stream": True, "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
    keyless = ProviderConfig("openai-responses", "m", "http://127.0.0.1:9/v1", None, {"X-A": "1"})
    req2 = P.build_request(keyless, RequestInput(messages=[{"role": "user", "content": "hi"}]))
    assert req2.secret_headers == {} and req2.headers["X-A"] == "1"


def test_message_translation() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            {"type": "image_url", "image_url": "data:image/png;base64,AAAA"},
        ]},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q":"cat"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_3", "type": "function", "function": {"name": "x", "arguments": "{}"}}]},
        {"role": "system", "content": "Late rule."},
        {"type": "item_reference", "id": "msg_old"},
    ]
    body = build(messages)
    assert body["instructions"] == "Be brief.\n\nUse tools."
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "https://x/cat.png", "detail": "low"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"},
        ]},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Let me check."}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup",
         "arguments": '{"q":"cat"}'},
        {"type": "function_call", "call_id": "call_2", "name": "now", "arguments": ""},
        {"type": "function_call_output", "call_id": "call_1", "output": "a cat"},
        {"type": "function_call_output", "call_id": "call_2", "output": "noon"},
        {"type": "function_call", "call_id": "call_3", "name": "x", "arguments": "{}"},
        {"role": "system", "content": "Late rule."},
        {"type": "item_reference", "id": "msg_old"},
    ]


def test_explicit_instructions_keep_system_messages_in_input() -> None:
    body = build([{"role": "system", "content": "S"}, {"role": "user", "content": "u"}],
                 instructions="I")
    assert body["instructions"] == "I"
    assert body["input"][0] == {"role": "system", "content": "S"}


def test_input_is_given_as_messages() -> None:
    # chat() always has messages, so a separate input could only conflict;
    # Responses items go in messages instead, as they are.
    with pytest.raises(ConfigurationError) as info:
        build([{"role": "user", "content": "u"}], input="x")
    assert "'input'" in str(info.value) and "messages" in str(info.value)
    body = build([{"role": "user", "content": "u"}, {"type": "item_reference", "id": "msg_1"}])
    assert body["input"][1] == {"type": "item_reference", "id": "msg_1"}


def test_bad_messages_rejected() -> None:
    with pytest.raises(ConfigurationError, match="role"):
        build([{"role": "function", "name": "f", "content": "x"}])
    with pytest.raises(ConfigurationError):
        build([{"role": "system", "content": [{"type": "image_url", "image_url": "u"}]}])
    with pytest.raises(ConfigurationError, match="chat"):
        P.build_request(CONFIG, RequestInput(kind="completion", prompt="p"))
    with pytest.raises(ConfigurationError, match="url"):
        build([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}])
    with pytest.raises(ConfigurationError):
        build([{"role": "user", "content": [42]}])
    with pytest.raises(ConfigurationError):
        build(["not a message"])


def test_tools_and_tool_choice() -> None:
    params = {"type": "object", "properties": {"q": {"type": "string"}}}
    body = build(
        [{"role": "user", "content": "u"}],
        tools=[
            {"type": "function", "function": {"name": "lookup", "description": "Look up.",
                                              "parameters": params, "strict": True}},
            {"type": "function", "name": "flat", "parameters": params},
            {"type": "web_search"},
        ],
        tool_choice={"type": "function", "function": {"name": "lookup"}},
    )
    assert body["tools"] == [
        {"type": "function", "name": "lookup", "description": "Look up.", "parameters": params,
         "strict": True},
        {"type": "function", "name": "flat", "parameters": params},
        {"type": "web_search"},
    ]
    assert body["tool_choice"] == {"type": "function", "name": "lookup"}
    assert build(tool_choice="required")["tool_choice"] == "required"


def test_params_mapping() -> None:
    body = build(
        temperature=0.2, top_p=0.9, max_tokens=50, reasoning={"effort": "low", "summary": "auto"},
        text={"verbosity": "low"}, store=False, metadata={"k": "v"}, parallel_tool_calls=False,
        previous_response_id="resp_0", stream=False, stream_options={"include_usage": True},
        truncation="auto",
    )
    assert body == {
        "model": "gpt-4.1", "input": [], "stream": True, "temperature": 0.2, "top_p": 0.9,
        "max_output_tokens": 50, "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"verbosity": "low"}, "store": False, "metadata": {"k": "v"},
        "parallel_tool_calls": False, "previous_response_id": "resp_0", "truncation": "auto",
        # include_usage goes (usage always comes); the Responses options stay
        "stream_options": {},
    }
    assert build(stream_options={"include_usage": True, "include_obfuscation": False})[
        "stream_options"] == {"include_obfuscation": False}
    assert build(max_completion_tokens=7)["max_output_tokens"] == 7
    assert build(max_output_tokens=8, max_tokens=8)["max_output_tokens"] == 8
    with pytest.raises(ConfigurationError, match="disagree"):
        build(max_output_tokens=8, max_tokens=9)


def test_chat_style_format_and_effort() -> None:
    schema = {"name": "x", "schema": {"type": "object"}, "strict": True}
    body = build(response_format={"type": "json_schema", "json_schema": schema},
                 text={"verbosity": "low"}, reasoning_effort="high")
    assert body["text"] == {"verbosity": "low",
                            "format": {"type": "json_schema", **schema}}
    assert body["reasoning"] == {"effort": "high"}
    assert build(response_format={"type": "json_object"})["text"] == {
        "format": {"type": "json_object"}}


@pytest.mark.parametrize(
    "param",
    [{"n": 2}, {"stop": ["x"]}, {"seed": 1}, {"frequency_penalty": 0.5},
     {"presence_penalty": 0.5}, {"logit_bias": {"1": 2}}, {"top_k": 3},
     {"functions": []}, {"web_search_options": {}}, {"stream_options": {"include_usage": False}}],
)
def test_rejected_params(param: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(param))):
        build([{"role": "user", "content": "u"}], **param)


def test_refusals_say_what_to_use_instead() -> None:
    with pytest.raises(ConfigurationError, match=r"'stop'.*drop api='responses'"):
        build(stop=["x"])
    with pytest.raises(ConfigurationError, match=r"'web_search_options'.*web_search.*tools"):
        build(web_search_options={})


def test_chat_logprobs_and_verbosity() -> None:
    body = build(logprobs=True, top_logprobs=3, verbosity="high",
                 include=["reasoning.encrypted_content"])
    assert sorted(body["include"]) == ["message.output_text.logprobs",
                                       "reasoning.encrypted_content"]
    assert body["top_logprobs"] == 3 and "logprobs" not in body
    assert body["text"] == {"verbosity": "high"} and "verbosity" not in body
    assert "include" not in build(logprobs=False)


def test_fields_that_disagree_are_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        build(reasoning={"effort": "low"}, reasoning_effort="high")
    text = str(info.value)
    assert "'reasoning'" in text and "'reasoning_effort'" in text and "reasoning.effort" in text
    with pytest.raises(ConfigurationError, match="'text' and 'verbosity' disagree"):
        build(text={"verbosity": "low"}, verbosity="high")
    mine = {"effort": "low"}
    assert build(reasoning=mine, reasoning_effort="low")["reasoning"] == {"effort": "low"}


# ----------------------------------------------------------------- HTTP errors


def _err(message: str, type_: str, code: str | None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None,
                                 "code": code}}).encode()


ERROR_CASES = [
    (400, {}, _err("bad param", "invalid_request_error", "context_length_exceeded"),
     BadRequestError, False, None),
    (401, {}, _err("Incorrect API key", "invalid_request_error", "invalid_api_key"),
     AuthenticationError, False, None),
    (404, {}, _err("The model `x` does not exist", "invalid_request_error", "model_not_found"),
     NotFoundError, False, None),
    (429, {"retry-after": "3"}, _err("slow down", "requests", "rate_limit_exceeded"),
     RateLimitError, True, 3.0),
    (429, {"retry-after-ms": "250", "retry-after": "9"},
     _err("slow down", "tokens", "rate_limit_exceeded"), RateLimitError, True, 0.25),
    (429, {}, _err("You exceeded your current quota", "insufficient_quota",
                   "insufficient_quota"), RateLimitError, False, None),
    (500, {}, _err("The server had an error", "server_error", None),
     InternalServerError, True, None),
    (503, {}, _err("overloaded", "server_error", None), ServiceUnavailableError, True, None),
]


@pytest.mark.parametrize("provider", [P, OpenAICompletionsProvider()], ids=["responses", "legacy"])
@pytest.mark.parametrize(
    ("status", "headers", "body", "cls", "retryable", "retry_after"), ERROR_CASES)
def test_error_from_response(provider: Any, status: int, headers: dict[str, str], body: bytes,
                             cls: type[HTTPStatusError], retryable: bool,
                             retry_after: float | None) -> None:
    err = provider.error_from_response(status, {"x-request-id": "req_42", **headers}, body)
    assert type(err) is cls
    info = json.loads(body)["error"]
    assert (err.status_code, err.provider_message, err.type, err.code) == (
        status, info["message"], info["type"], info["code"])
    assert (err.retryable, err.retry_after, err.request_id) == (retryable, retry_after, "req_42")
    assert info["message"] in str(err) and err.provider == "openai"


def test_error_from_html_body() -> None:
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    err = P.error_from_response(502, {}, html)
    assert isinstance(err, InternalServerError) and err.retryable
    assert err.provider_message is None and err.code is None
    assert err.body is not None and "502 Bad Gateway" in err.body


# ----------------------------------------------------------------- the next turn of a tool loop


def test_normalized_assistant_message_comes_back_as_items() -> None:
    """``to_message()`` of an answer that carried other providers' continuation
    keys: the Responses request keeps text and calls, and leaves those out."""
    from streamactors.accumulate import Accumulator

    acc = Accumulator("x", "m")
    acc.add(Chunk(text="Checking.", tool_calls=(ToolCallDelta(0, "call_1", "f", '{"a":1}'),
                                                ToolCallDelta(1, "call_2", "g")),
                  finish_reason="tool_calls"))
    message = acc.result(continuation={
        "message": {"thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "s"}],
                    "extra_content": {"google": {"thought_signature": "m"}}},
        "tool_calls": {"call_1": {"extra_content": {"google": {"thought_signature": "c"}}}},
    }).to_message()
    body = build([{"role": "user", "content": "u"}, message,
                  {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
                  {"role": "tool", "tool_call_id": "call_2", "content": "ok"}])
    assert body["input"][1:] == [
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"a":1}'},
        {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
        {"type": "function_call_output", "call_id": "call_2", "output": "ok"},
    ]
    assert "thinking_blocks" not in json.dumps(body) and "extra_content" not in json.dumps(body)


def test_bad_tool_calls_and_tools_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="tool call must be an object"):
        build([{"role": "assistant", "content": None, "tool_calls": ["x"]}])
    with pytest.raises(ConfigurationError, match="each tool must be an object"):
        build(tools=["x"])
    with pytest.raises(ConfigurationError, match="tools must be a list"):
        build(tools={"type": "function"})
