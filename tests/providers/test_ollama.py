"""The Ollama codec: recorded streams, line mapping, requests, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors._chunk import ToolCallDelta
from streamactors.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    RateLimitError,
    ServiceUnavailableError,
)
from streamactors.providers._base import ProviderConfig, RequestInput, Secret
from streamactors.providers.ollama import OllamaDecoder, OllamaProvider

from ._replay import lines, ndjson_lines, recorded, recorded_names, replay

pytestmark = pytest.mark.timeout(10)

P = OllamaProvider()
CONFIG = ProviderConfig("ollama", "qwen3", "http://localhost:11434")
KEY = "ollama-cloud-DO-NOT-LEAK-5"


def chat(**message: Any) -> dict[str, Any]:
    return {"model": "qwen3", "message": {"role": "assistant", "content": "", **message},
            "done": False}


def done(reason: str | None = "stop", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": "qwen3", "message": {"role": "assistant", "content": ""},
                               "done": True, "prompt_eval_count": 7, "eval_count": 3, **extra}
    if reason is not None:
        payload["done_reason"] = reason
    return payload


def body_of(**params: Any) -> dict[str, Any]:
    messages = params.pop("messages", [{"role": "user", "content": "hi"}])
    return dict(P.build_request(CONFIG, RequestInput(messages=messages, params=params)).body)


# --- recorded streams ---------------------------------------------------------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "01_chat_text_inline_think.ndjson": {
        "len": 589,
        "start": "<think>\nOkay, let's see. The user wants three answers, each ",
        "end": "l correct. Alright, that should do it.\n</think>\n\n5  \n10  \n12",
        "tools": [], "finish": "stop", "usage": (69, 210),
    },
    "02_chat_tool_call.ndjson": {
        "len": 0, "start": "", "end": "",
        "tools": [{"command": "date"}], "finish": "tool_calls", "usage": (152, 109),
    },
    "03_chat_three_tool_calls.ndjson": {
        "len": 933,
        "start": "<think>\nOkay, the user is asking if I can run three UNIX com",
        "end": "d. So three separate tool calls for each command.\n</think>\n\n",
        "tools": [{"command": "date"}, {"command": "pwd"}, {"command": "whoami"}],
        "finish": "tool_calls", "usage": (166, 266),
    },
}


def test_every_recorded_stream_has_expectations() -> None:
    names = recorded_names("ollama")
    assert names
    assert {n.split("/", 1)[1] for n in names} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("piece", [0, 7])
def test_recorded_stream_adds_up(name: str, piece: int) -> None:
    want = EXPECTED[name]
    out = replay(P.new_decoder(RequestInput()), ndjson_lines(recorded(f"ollama/{name}"), piece))
    assert out.error is None
    res = out.result
    assert len(res.text) == want["len"]
    assert res.text.startswith(want["start"]) and res.text.endswith(want["end"])
    assert res.reasoning == ""  # inline <think> stays in the text
    assert [(t.index, t.id, t.name, t.parsed_arguments()) for t in res.tool_calls] == [
        (i, f"call_{i}", "system", args) for i, args in enumerate(want["tools"])
    ]
    assert (res.finish_reason, res.native_finish_reason) == (want["finish"], "stop")
    usage = res.usage
    assert usage is not None and usage.raw is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == want["usage"]
    assert usage.total_tokens == sum(want["usage"])
    assert usage.raw["eval_count"] == want["usage"][1] and "eval_duration" in usage.raw
    assert res.model == "qwen3:latest"
    assert all(isinstance(c.raw, dict) and "model" in c.raw for c in out.chunks)


def test_cut_stream_never_gets_a_finish_reason() -> None:
    events = ndjson_lines(recorded("ollama/02_chat_tool_call.ndjson"))
    out = replay(P.new_decoder(RequestInput()), events[:-1])
    assert len(out.result.tool_calls) == 1
    assert out.result.finish_reason is None and out.result.usage is None


# --- hand-written lines -------------------------------------------------------------------

def test_content_and_thinking() -> None:
    out = replay(OllamaDecoder(), lines(
        chat(thinking="hmm"), chat(content="<think>x</think>"), chat(content=""),
        chat(content="Hi"), done(),
    ))
    assert [(c.text, c.reasoning) for c in out.chunks] == [
        (None, "hmm"), ("<think>x</think>", None), ("Hi", None), (None, None)]
    assert out.result.text == "<think>x</think>Hi"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("stop", "stop"), ("length", "length"), ("load", "other"), ("unload", "other"),
     ("something_new", "other")],
)
def test_done_reasons(reason: str, finish: str) -> None:
    (c,) = OllamaDecoder().feed(json.dumps(done(reason)))
    assert (c.finish_reason, c.native_finish_reason) == (finish, reason)


def test_done_without_reason_is_stop() -> None:
    (c,) = OllamaDecoder().feed(json.dumps(done(None)))
    assert (c.finish_reason, c.native_finish_reason) == ("stop", "stop")


def test_tool_calls_are_appended_never_replaced() -> None:
    d = OllamaDecoder()
    (a,) = d.feed(json.dumps(chat(tool_calls=[
        {"function": {"name": "f", "arguments": {"x": "ü"}}},
        {"id": "call_given", "function": {"index": 1, "name": "g", "arguments": {}}},
    ])))
    (b,) = d.feed(json.dumps(chat(tool_calls=[
        {"function": {"index": 0, "name": "h", "arguments": '{"raw": true}'}}])))
    assert a.tool_calls == (ToolCallDelta(0, "call_0", "f", '{"x": "ü"}'),
                            ToolCallDelta(1, "call_given", "g", "{}"))
    assert b.tool_calls == (ToolCallDelta(2, "call_2", "h", '{"raw": true}'),)
    (end,) = d.feed(json.dumps(done("stop")))
    assert end.finish_reason == "tool_calls"
    (lim,) = d.feed(json.dumps(done("length")))
    assert lim.finish_reason == "length"


def test_a_tool_call_without_arguments_has_an_empty_object() -> None:
    d = OllamaDecoder()
    assert d.feed(json.dumps(chat(tool_calls=[]))) == []
    (c,) = d.feed(json.dumps(chat(tool_calls=[{"function": {"name": "f"}}])))
    assert c.tool_calls == (ToolCallDelta(0, "call_0", "f", "{}"),)


def test_usage_from_the_final_line() -> None:
    (c,) = OllamaDecoder().feed(json.dumps(done(total_duration=5, load_duration=1)))
    u = c.usage
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (7, 3, 10)
    assert u.raw == {"prompt_eval_count": 7, "eval_count": 3, "total_duration": 5,
                     "load_duration": 1}
    cached = done()
    del cached["prompt_eval_count"]  # omitted when the prompt was fully cached
    (c2,) = OllamaDecoder().feed(json.dumps(cached))
    assert c2.usage is not None and (c2.usage.prompt_tokens, c2.usage.total_tokens) == (0, 3)


def test_the_final_line_may_carry_text() -> None:
    final = done()
    final["message"]["content"] = "."
    (c,) = OllamaDecoder().feed(json.dumps(final))
    assert (c.text, c.finish_reason, c.model) == (".", "stop", "qwen3")


def test_generate_lines() -> None:
    out = replay(OllamaDecoder(), lines(
        {"model": "m", "response": "", "thinking": "t", "done": False},
        {"model": "m", "response": "Once", "done": False},
        {"model": "m", "response": "", "done": True, "done_reason": "stop", "eval_count": 2,
         "context": [1, 2, 3]},
    ))
    assert (out.result.text, out.result.reasoning, out.result.finish_reason) == (
        "Once", "t", "stop")
    assert out.result.usage is not None and out.result.usage.completion_tokens == 2


def test_in_band_error() -> None:
    d = OllamaDecoder()
    d.feed(json.dumps(chat(content="a")))
    with pytest.raises(ProviderError) as info:
        d.feed('{"error":"an error was encountered while running the model"}')
    err = info.value
    assert err.provider_message == "an error was encountered while running the model"
    assert err.provider == "ollama" and err.status_code is None
    assert "running the model" in str(err)
    with pytest.raises(ProviderError) as info2:
        OllamaDecoder().feed('{"error": {"message": "nested"}}')
    assert info2.value.provider_message == "nested"


@pytest.mark.parametrize("data", ['{"model": "m", "done": fal', "[]", "null", "data: {}"])
def test_malformed_lines_are_protocol_errors(data: str) -> None:
    with pytest.raises(ProtocolError) as info:
        OllamaDecoder().feed(data)
    assert info.value.payload == data


def test_lines_with_nothing_yield_nothing() -> None:
    d = OllamaDecoder()
    assert d.feed(json.dumps(chat())) == []
    assert d.feed(json.dumps({"model": "m", "created_at": "t", "done": False})) == []


# --- requests -----------------------------------------------------------------------------

def test_chat_request() -> None:
    req = P.build_request(CONFIG, RequestInput(messages=[{"role": "user", "content": "hi"}]))
    assert (req.method, req.url, req.framing) == ("POST", "http://localhost:11434/api/chat",
                                                  "ndjson")
    assert req.secret_headers == {}
    assert "Authorization" not in req.headers
    assert req.body == {"model": "qwen3", "messages": [{"role": "user", "content": "hi"}],
                        "stream": True}


def test_key_is_a_secret_bearer() -> None:
    config = ProviderConfig("ollama", "gpt-oss:120b", "https://ollama.com/", Secret(KEY),
                            {"X-Extra": "1"})
    req = P.build_request(config, RequestInput(messages=[{"role": "user", "content": "hi"}]))
    assert req.url == "https://ollama.com/api/chat"
    assert req.secret_headers["Authorization"].reveal() == f"Bearer {KEY}"
    assert KEY not in repr(req) and KEY not in json.dumps(dict(req.headers))
    assert req.headers["X-Extra"] == "1"


def test_generate_request() -> None:
    config = ProviderConfig("ollama", "llama3", "http://127.0.0.1:11434/api")
    req = P.build_request(config, RequestInput(
        kind="completion", prompt="Once", params={"system": "S", "raw": True, "max_tokens": 5}))
    assert req.url == "http://127.0.0.1:11434/api/generate"
    assert req.body == {"model": "llama3", "prompt": "Once", "system": "S", "raw": True,
                        "options": {"num_predict": 5}, "stream": True}
    with pytest.raises(ConfigurationError):
        P.build_request(config, RequestInput(kind="completion"))
    with pytest.raises(ConfigurationError):
        P.build_request(config, RequestInput(
            kind="completion", prompt="x", params={"tools": [WEATHER]}))


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


def test_options_and_passthrough() -> None:
    body = body_of(temperature=0.3, top_p=0.9, top_k=30, max_completion_tokens=50,
                   stop="END", seed=3, num_ctx=8192, options={"repeat_penalty": 1.1},
                   think=True, keep_alive="5m", tools=[WEATHER], tool_choice="auto",
                   parallel_tool_calls=True)
    assert body["options"] == {"repeat_penalty": 1.1, "temperature": 0.3, "top_p": 0.9,
                               "top_k": 30, "num_predict": 50, "stop": ["END"], "seed": 3,
                               "num_ctx": 8192}
    assert (body["think"], body["keep_alive"], body["stream"]) == (True, "5m", True)
    assert body["tools"] == [WEATHER]
    assert "tool_choice" not in body and "parallel_tool_calls" not in body


def test_response_format() -> None:
    assert body_of(response_format={"type": "json_object"})["format"] == "json"
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert body_of(response_format={"type": "json_schema",
                                    "json_schema": {"schema": schema}})["format"] == schema
    assert "format" not in body_of(response_format={"type": "text"})
    assert body_of(format="json")["format"] == "json"
    with pytest.raises(ConfigurationError):
        body_of(response_format={"type": "yaml"})


@pytest.mark.parametrize(
    "params",
    [
        {"n": 2},
        {"n": True},
        {"stream_options": {"include_usage": True}},
        {"stream": False},
        {"logit_bias": {"1": 1}},
        {"tool_choice": "required"},
        {"tool_choice": "none"},
        {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        {"parallel_tool_calls": False},
        {"user": "u1"},
        {"a_typo_parameter": 1},
        {"tools": [{"type": "retrieval"}]},
        {"stop": [1, 2]},
    ],
)
def test_unsupported_params_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        body_of(**params)


def test_new_decoder_is_fresh() -> None:
    assert P.new_decoder(RequestInput()) is not P.new_decoder(RequestInput())
    assert (P.name, P.framing) == ("ollama", "ndjson")


# --- HTTP errors --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (401, AuthenticationError), (404, NotFoundError),
     (429, RateLimitError), (500, InternalServerError), (503, ServiceUnavailableError)],
)
def test_error_from_response(status: int, cls: type[Exception]) -> None:
    err = P.error_from_response(status, {"Retry-After": "2"}, b'{"error":"model \'x\' not found"}')
    assert type(err) is cls
    assert (err.status_code, err.provider_message, err.provider) == (
        status, "model 'x' not found", "ollama")
    assert err.retry_after == 2.0
    assert "model 'x' not found" in str(err)


def test_error_with_html_or_empty_body() -> None:
    err = P.error_from_response(502, {}, b"<html>bad gateway</html>")
    assert isinstance(err, InternalServerError) and err.provider_message is None
    assert err.body == "<html>bad gateway</html>"
    empty = P.error_from_response(500, {}, b"")
    assert empty.provider_message is None and "no body" in str(empty)
