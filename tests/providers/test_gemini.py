"""The Gemini codec: recorded streams, response mapping, requests, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors._chunk import Chunk, ToolCallDelta
from streamactors.errors import (
    AuthenticationError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    ProviderError,
    RateLimitError,
    ServiceUnavailableError,
)
from streamactors.providers._base import ProviderConfig, RequestInput, Secret
from streamactors.providers.gemini import GeminiDecoder, GeminiProvider

from ._replay import recorded, recorded_names, replay, sse_events

pytestmark = pytest.mark.timeout(10)

P = GeminiProvider()
KEY = "AIza-test-DO-NOT-LEAK-77"
BASE = "https://generativelanguage.googleapis.com"
CONFIG = ProviderConfig("gemini", "gemini-2.5-flash", BASE, Secret(KEY))


def resp(*parts: dict[str, Any], finish: str | None = None, index: int | None = None,
         usage: dict[str, Any] | None = None, **top: Any) -> str:
    cand: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}}
    if finish:
        cand["finishReason"] = finish
    if index is not None:
        cand["index"] = index
    payload: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-x",
                               "responseId": "r1", **top}
    if usage is not None:
        payload["usageMetadata"] = usage
    return json.dumps(payload)


def one(decoder: GeminiDecoder, data: str) -> Chunk:
    chunks = decoder.feed(data)
    assert len(chunks) == 1
    return chunks[0]


def body_of(**params: Any) -> dict[str, Any]:
    messages = params.pop("messages", [{"role": "user", "content": "hi"}])
    return dict(P.build_request(CONFIG, RequestInput(messages=messages, params=params)).body)


# --- recorded streams ---------------------------------------------------------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "01_text_then_malformed_function_call_tail.sse": {
        "text": 'Certainly! I\'ll create a simple "Hello, World!" page where each letter has a '
        "different color using inline styles for simplicity.  Each letter will be wrapped",
        "finish": ("error", "MALFORMED_FUNCTION_CALL"),
        "usage": (399, 191, 590, None),
        "tools": [],
        "finishes": ["stop", "error"],
    },
    "02_text_thinking_model.sse": {
        "text": "5\n10\n12", "finish": ("stop", "STOP"), "usage": (64, 117, 181, 111),
        "tools": [], "finishes": ["stop"],
    },
    "03_function_call_thought_signature.sse": {
        "text": "", "finish": ("tool_calls", "STOP"), "usage": (53, 56, 109, 43),
        "tools": [("call_0", "system", {"command": "date"})], "finishes": ["tool_calls"],
    },
    "04_function_call_with_id.sse": {
        "text": "", "finish": ("tool_calls", "STOP"), "usage": (58, 14, 72, None),
        "tools": [("vkZV2zjT", "system", {"command": "date"})], "finishes": ["tool_calls"],
    },
    "05_text_trailing_signature_part.sse": {
        "text": "Fri Feb 21 16:32:00 UTC 2025", "finish": ("stop", "STOP"),
        "usage": (82, 20, 102, None), "tools": [], "finishes": ["stop"],
    },
}


def test_every_recorded_stream_has_expectations() -> None:
    names = recorded_names("gemini")
    assert names
    assert {n.split("/", 1)[1] for n in names} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("piece", [0, 5])
def test_recorded_stream_adds_up(name: str, piece: int) -> None:
    want = EXPECTED[name]
    out = replay(P.new_decoder(RequestInput()), sse_events(recorded(f"gemini/{name}"), piece))
    assert out.error is None
    res = out.result
    assert res.text == want["text"]
    assert res.reasoning == ""
    assert (res.finish_reason, res.native_finish_reason) == want["finish"]
    assert [c.finish_reason for c in out.chunks if c.finish_reason] == want["finishes"]
    assert [(t.index, t.id, t.name, t.parsed_arguments()) for t in res.tool_calls] == [
        (i, *t) for i, t in enumerate(want["tools"])
    ]
    usage = res.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens,
            usage.reasoning_tokens) == want["usage"]
    assert usage.raw is not None and usage.raw["promptTokenCount"] == want["usage"][0]
    assert res.model is not None and res.model.startswith("gemini-")
    assert all(isinstance(c.raw, dict) for c in out.chunks)


def test_recorded_ids_and_signature_stay_in_raw() -> None:
    out = replay(P.new_decoder(RequestInput()),
                 sse_events(recorded("gemini/05_text_trailing_signature_part.sse")))
    assert out.result.id == "hZNdap6mA_Stz7IP0cGD-Ag"
    last = out.chunks[-1]
    assert last.finish_reason == "stop" and last.text is None
    assert "thoughtSignature" in last.raw["candidates"][0]["content"]["parts"][0]


def test_cut_stream_never_gets_a_finish_reason() -> None:
    events = sse_events(recorded("gemini/02_text_thinking_model.sse"))
    out = replay(P.new_decoder(RequestInput()), events[:-1])
    assert out.result.text == "5\n10"
    assert out.result.finish_reason is None
    assert out.result.usage is not None and out.result.usage.prompt_tokens == 64


# --- hand-written responses ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("native", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("UNEXPECTED_TOOL_CALL", "error"),
        ("TOO_MANY_TOOL_CALLS", "error"),
        ("OTHER", "other"),
        ("LANGUAGE", "other"),
        ("FINISH_REASON_UNSPECIFIED", "other"),
        ("IMAGE_PROHIBITED_CONTENT", "other"),
    ],
)
def test_finish_reasons(native: str, finish: str) -> None:
    c = one(GeminiDecoder(), resp({"text": "x"}, finish=native))
    assert (c.finish_reason, c.native_finish_reason, c.text) == (finish, native, "x")


def test_stop_after_function_calls_means_tool_calls() -> None:
    d = GeminiDecoder()
    one(d, resp({"functionCall": {"name": "f", "args": {}}}))
    assert one(d, resp({"text": ""}, finish="STOP")).finish_reason == "tool_calls"
    same = one(GeminiDecoder(), resp({"functionCall": {"name": "f"}}, finish="STOP"))
    assert same.finish_reason == "tool_calls"
    # MAX_TOKENS stays length even with calls
    d2 = GeminiDecoder()
    one(d2, resp({"functionCall": {"name": "f", "args": {}}}))
    assert one(d2, resp(finish="MAX_TOKENS")).finish_reason == "length"


def test_a_later_finish_reason_corrects_the_first() -> None:
    d = GeminiDecoder()
    first = one(d, resp({"text": "a"}, finish="STOP", usage={"promptTokenCount": 3,
                                                             "candidatesTokenCount": 1}))
    second = one(d, json.dumps({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL"}],
                                "usageMetadata": {"promptTokenCount": 3,
                                                  "candidatesTokenCount": 2}}))
    assert (first.finish_reason, second.finish_reason) == ("stop", "error")
    assert second.usage is not None and second.usage.completion_tokens == 2


def test_thought_parts_are_reasoning() -> None:
    c = one(GeminiDecoder(), resp({"text": "plan ", "thought": True}, {"text": "answer"},
                                  {"text": "more", "thought": True}))
    assert (c.reasoning, c.text) == ("plan more", "answer")


def test_function_calls_are_numbered_across_the_stream() -> None:
    d = GeminiDecoder()
    c1 = one(d, resp({"functionCall": {"name": "a", "args": {"x": 1}}},
                     {"functionCall": {"name": "b", "args": {"y": "é"}, "id": "given"}}))
    c2 = one(d, resp({"functionCall": {"name": "c"}}))
    assert c1.tool_calls == (
        ToolCallDelta(0, "call_0", "a", '{"x": 1}'),
        ToolCallDelta(1, "given", "b", '{"y": "é"}'),
    )
    assert c2.tool_calls == (ToolCallDelta(2, "call_2", "c", "{}"),)


def test_several_candidates() -> None:
    d = GeminiDecoder()
    payload = {"candidates": [
        {"index": 0, "content": {"parts": [{"text": "A"}]}},
        {"index": 1, "content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]},
         "finishReason": "STOP"},
    ], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2,
                         "totalTokenCount": 7}}
    a, b = d.feed(json.dumps(payload))
    assert (a.index, a.text, a.usage) == (0, "A", None)
    assert (b.index, b.finish_reason) == (1, "tool_calls")
    assert b.tool_calls == (ToolCallDelta(0, "call_1_0", "f", "{}"),)
    assert b.usage is not None and b.usage.total_tokens == 7  # once per payload
    (c,) = d.feed(json.dumps({"candidates": [{"index": 0, "finishReason": "STOP"}]}))
    assert (c.index, c.finish_reason) == (0, "stop")


def test_usage_mapping() -> None:
    um = {"promptTokenCount": 10, "candidatesTokenCount": 4, "thoughtsTokenCount": 6,
          "cachedContentTokenCount": 8, "totalTokenCount": 20, "toolUsePromptTokenCount": 0}
    c = one(GeminiDecoder(), resp({"text": "x"}, finish="STOP", usage=um))
    u = c.usage
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.reasoning_tokens,
            u.cached_tokens) == (10, 10, 20, 6, 8)
    assert u.raw == um
    early = one(GeminiDecoder(), resp({"text": "x"}, usage={"promptTokenCount": 10}))
    assert early.usage is not None
    assert (early.usage.prompt_tokens, early.usage.completion_tokens,
            early.usage.total_tokens) == (10, 0, 10)


def test_usage_rides_on_first_and_finish_chunks_only() -> None:
    d = GeminiDecoder()
    um = {"promptTokenCount": 5, "totalTokenCount": 5}
    first = one(d, resp({"text": "a"}, usage=um))
    middle = one(d, resp({"text": "b"}, usage={**um, "candidatesTokenCount": 1}))
    last = one(d, resp({"text": "c"}, finish="STOP",
                       usage={**um, "candidatesTokenCount": 2, "totalTokenCount": 7}))
    assert first.usage is not None and middle.usage is None
    assert last.usage is not None and last.usage.total_tokens == 7
    # a usage-only payload after the finish still updates the counts
    (tail,) = d.feed(json.dumps({"usageMetadata": {**um, "candidatesTokenCount": 3,
                                                   "totalTokenCount": 8}}))
    assert tail.usage is not None and tail.usage.total_tokens == 8 and tail.finish_reason is None


def test_ids_and_model_on_chunks() -> None:
    c = one(GeminiDecoder(), resp({"text": "x"}))
    assert (c.id, c.model, c.index) == ("r1", "gemini-x", 0)
    assert c.raw["responseId"] == "r1"


def test_blocked_prompt_is_a_content_filter_finish() -> None:
    payload = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
               "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}
    c = one(GeminiDecoder(), json.dumps(payload))
    assert (c.finish_reason, c.native_finish_reason) == ("content_filter", "PROHIBITED_CONTENT")
    assert c.usage is not None and c.usage.prompt_tokens == 9


def test_empty_parts_carry_nothing_but_signatures_are_kept() -> None:
    d = GeminiDecoder()
    assert d.feed(resp({"text": ""})) == []
    assert d.feed(json.dumps({"candidates": [{"content": {"role": "model"}}]})) == []
    assert d.feed(json.dumps({"candidates": []})) == []
    signed = one(d, resp({"text": "", "thoughtSignature": "c2ln"}))
    assert (signed.text, signed.tool_calls, signed.finish_reason) == (None, (), None)
    # unknown fields and parts of kinds the codec does not read never break decoding
    c = one(d, resp({"inlineData": {"mimeType": "image/png", "data": "AA=="}},
                    {"text": "ok"}, citationMetadata={"citations": []}))
    assert c.text == "ok"


def test_in_band_error() -> None:
    payload = {"error": {"code": 503, "message": "The model is overloaded.",
                         "status": "UNAVAILABLE"}}
    with pytest.raises(ProviderError) as info:
        GeminiDecoder().feed(json.dumps(payload))
    err = info.value
    assert (err.provider_message, err.type, err.code, err.provider) == (
        "The model is overloaded.", "UNAVAILABLE", 503, "gemini")
    with pytest.raises(ProviderError):
        GeminiDecoder().feed(json.dumps([payload]))  # the array framing


@pytest.mark.parametrize("data", ["{", "data: {}", "[1, 2]", "42"])
def test_malformed_data_is_a_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError) as info:
        GeminiDecoder().feed(data)
    assert info.value.payload == data


# --- requests -----------------------------------------------------------------------------

def test_request_url_headers_and_secret() -> None:
    req = P.build_request(CONFIG, RequestInput(messages=[{"role": "user", "content": "hi"}]))
    assert req.url == (f"{BASE}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert (req.method, req.framing) == ("POST", "sse")
    assert req.secret_headers["x-goog-api-key"].reveal() == KEY
    assert KEY not in req.url and KEY not in json.dumps(dict(req.headers))
    assert KEY not in repr(req)
    assert req.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("base", "model", "url"),
    [
        ("http://127.0.0.1:9/", "models/gemini-x", "http://127.0.0.1:9/v1beta/models/gemini-x"),
        ("http://127.0.0.1:9/v1beta", "gemini-x", "http://127.0.0.1:9/v1beta/models/gemini-x"),
        ("http://127.0.0.1:9/v1", "gemini-x", "http://127.0.0.1:9/v1/models/gemini-x"),
        ("http://h", "odd name?", "http://h/v1beta/models/odd%20name%3F"),
    ],
)
def test_request_url_from_base(base: str, model: str, url: str) -> None:
    req = P.build_request(ProviderConfig("gemini", model, base),
                          RequestInput(messages=[{"role": "user", "content": "x"}]))
    assert req.url == url + ":streamGenerateContent?alt=sse"
    assert req.secret_headers == {}


def test_generation_config() -> None:
    body = body_of(temperature=0.1, top_p=0.8, top_k=20, max_tokens=64, stop="END", seed=7, n=2,
                   presence_penalty=0.3, frequency_penalty=0.4)
    assert body["generationConfig"] == {
        "temperature": 0.1, "topP": 0.8, "topK": 20, "seed": 7, "candidateCount": 2,
        "presencePenalty": 0.3, "frequencyPenalty": 0.4, "maxOutputTokens": 64,
        "stopSequences": ["END"],
    }
    assert set(body) == {"contents", "generationConfig"}
    assert body_of(max_completion_tokens=9)["generationConfig"] == {"maxOutputTokens": 9}
    assert "generationConfig" not in body_of()


def test_native_fields_pass_through() -> None:
    body = body_of(generationConfig={"responseModalities": ["TEXT"]}, temperature=1.0,
                   thinkingConfig={"includeThoughts": True},
                   safetySettings=[{"category": "HARM_CATEGORY_HATE_SPEECH",
                                    "threshold": "BLOCK_NONE"}])
    assert body["generationConfig"] == {"responseModalities": ["TEXT"], "temperature": 1.0,
                                        "thinkingConfig": {"includeThoughts": True}}
    assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"


def test_response_format() -> None:
    assert body_of(response_format={"type": "json_object"})["generationConfig"] == {
        "responseMimeType": "application/json"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert body_of(response_format={"type": "json_schema",
                                    "json_schema": {"name": "x", "schema": schema}})[
        "generationConfig"] == {"responseMimeType": "application/json",
                                "responseJsonSchema": schema}
    assert "generationConfig" not in body_of(response_format={"type": "text"})
    with pytest.raises(ConfigurationError):
        body_of(response_format={"type": "xml"})


WEATHER: dict[str, Any] = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather now",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}}


def test_tools_become_function_declarations() -> None:
    empty = {"type": "function", "function": {"name": "now", "parameters": {
        "type": "object", "properties": {}}}}
    native: dict[str, Any] = {"googleSearch": {}}
    body = body_of(tools=[WEATHER, empty, native])
    assert body["tools"] == [
        {"functionDeclarations": [
            {"name": "get_weather", "description": "Weather now",
             "parameters": WEATHER["function"]["parameters"]},
            {"name": "now"},
        ]},
        native,
    ]
    with pytest.raises(ConfigurationError):
        body_of(tools="get_weather")


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "get_weather"}},
         {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    body = body_of(tools=[WEATHER], tool_choice=choice)
    assert body["toolConfig"] == {"functionCallingConfig": config}


@pytest.mark.parametrize(
    "params",
    [{"top_logprobs": 3}, {"logit_bias": {"1": 1}}, {"functions": []},
     {"parallel_tool_calls": False}, {"tool_choice": "often"}, {"stream_options": {}},
     {"stream": True}, {"modalities": ["text", "audio"]}],
)
def test_unsupported_params_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        body_of(tools=[WEATHER], **params)


def test_completion_kind_is_one_user_turn() -> None:
    req = P.build_request(CONFIG, RequestInput(kind="completion", prompt="Once"))
    assert req.body["contents"] == [{"role": "user", "parts": [{"text": "Once"}]}]


def test_new_decoder_is_fresh() -> None:
    assert P.new_decoder(RequestInput()) is not P.new_decoder(RequestInput())
    assert (P.name, P.framing) == ("gemini", "sse")


# --- HTTP errors --------------------------------------------------------------------------

def _google(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status,
                      "details": list(details)}}


INVALID_KEY = _google(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                      {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                       "reason": "API_KEY_INVALID", "domain": "googleapis.com"})


@pytest.mark.parametrize(
    ("status", "body", "cls", "type_", "code"),
    [
        (400, INVALID_KEY, AuthenticationError, "INVALID_ARGUMENT", "API_KEY_INVALID"),
        (401, _google(401, "UNAUTHENTICATED", "no creds"), AuthenticationError,
         "UNAUTHENTICATED", 401),
        (403, _google(403, "PERMISSION_DENIED", "denied"), PermissionDeniedError,
         "PERMISSION_DENIED", 403),
        (404, [_google(404, "NOT_FOUND", "models/x is not found")], NotFoundError,
         "NOT_FOUND", 404),
        (500, _google(500, "INTERNAL", "internal"), InternalServerError, "INTERNAL", 500),
        (503, [_google(503, "UNAVAILABLE", "The model is overloaded.")],
         ServiceUnavailableError, "UNAVAILABLE", 503),
    ],
)
def test_error_from_response(status: int, body: Any, cls: type[Exception], type_: str,
                             code: Any) -> None:
    err = P.error_from_response(status, {}, json.dumps(body).encode())
    assert type(err) is cls
    google = body[0] if isinstance(body, list) else body
    assert err.provider_message == google["error"]["message"]
    assert (err.status_code, err.type, err.code, err.provider) == (status, type_, code, "gemini")
    assert err.retry_after is None


RATE = _google(429, "RESOURCE_EXHAUSTED", "Quota exceeded",
               {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
               {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"})


def test_rate_limit_retry_delay_from_the_body() -> None:
    err = P.error_from_response(429, {}, json.dumps([RATE]).encode())
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 31.0
    assert err.type == "RESOURCE_EXHAUSTED"
    fractional = _google(429, "RESOURCE_EXHAUSTED", "q",
                         {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                          "retryDelay": "1.5s"})
    assert P.error_from_response(429, {}, json.dumps(fractional).encode()).retry_after == 1.5


def test_rate_limit_header_wins_over_the_body() -> None:
    err = P.error_from_response(429, {"Retry-After": "5"}, json.dumps(RATE).encode())
    assert err.retry_after == 5.0


def test_error_with_html_body() -> None:
    err = P.error_from_response(502, {}, b"<html><title>502</title>Server Error</html>")
    assert isinstance(err, InternalServerError)
    assert err.provider_message is None
    assert err.body is not None and "Server Error" in err.body
