"""The Anthropic Messages codec: recorded streams, event mapping, requests, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors._chunk import Chunk, ToolCallDelta
from streamactors.accumulate import Accumulator
from streamactors.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProtocolError,
    ProviderError,
    RateLimitError,
    ServiceUnavailableError,
)
from streamactors.providers._base import ProviderConfig, RequestInput, Secret
from streamactors.providers.anthropic import AnthropicDecoder, AnthropicProvider

from ._replay import recorded, recorded_names, replay, sse_events

pytestmark = pytest.mark.timeout(10)

P = AnthropicProvider()
KEY = "sk-ant-test-DO-NOT-LEAK-42"
CONFIG = ProviderConfig("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com", Secret(KEY))


def feed(decoder: AnthropicDecoder, kind: str, **fields: Any) -> list[Chunk]:
    return decoder.feed(json.dumps({"type": kind, **fields}), kind)


def start(decoder: AnthropicDecoder, **usage: Any) -> None:
    message = {"id": "msg_1", "model": "claude-x", "role": "assistant", "content": [],
               "usage": usage or {"input_tokens": 10, "output_tokens": 1}}
    assert feed(decoder, "message_start", message=message) == []


def block(decoder: AnthropicDecoder, index: int, **content_block: Any) -> list[Chunk]:
    return feed(decoder, "content_block_start", index=index, content_block=content_block)


def delta(decoder: AnthropicDecoder, index: int, **d: Any) -> list[Chunk]:
    return feed(decoder, "content_block_delta", index=index, delta=d)


def body_of(**params: Any) -> dict[str, Any]:
    messages = params.pop("messages", [{"role": "user", "content": "hi"}])
    return dict(P.build_request(CONFIG, RequestInput(messages=messages, params=params)).body)


# --- recorded streams ---------------------------------------------------------------------

USAGE = {
    "01_text_padded_json.sse": (135, 10, 0, 0),
    "02_tool_use_padded_json.sse": (656, 74, 0, 0),
    "03_text_multibyte.sse": (770, 38, 0, 0),
    "04_text_then_tool_use.sse": (377, 65, 0, 0),
    "05_max_tokens_inside_tool_json.sse": (450, 124, 0, 0),
    "06_thinking_signature_tool_use.sse": (2, 61, 22, 13993),
    "07_parallel_tool_use.sse": (2, 72, 22, 13993),
    "09_thinking_then_refusal_synthetic.sse": (28, 106, 0, 0),
}
FINISH = {
    "01_text_padded_json.sse": ("stop", "end_turn"),
    "02_tool_use_padded_json.sse": ("tool_calls", "tool_use"),
    "03_text_multibyte.sse": ("stop", "end_turn"),
    "04_text_then_tool_use.sse": ("tool_calls", "tool_use"),
    "05_max_tokens_inside_tool_json.sse": ("length", "max_tokens"),
    "06_thinking_signature_tool_use.sse": ("tool_calls", "tool_use"),
    "07_parallel_tool_use.sse": ("tool_calls", "tool_use"),
    "09_thinking_then_refusal_synthetic.sse": ("content_filter", "refusal"),
}
TEXT = {
    "01_text_padded_json.sse": "[12345,67890]",
    "03_text_multibyte.sse": "The weather in San Francisco, CA is currently:\n- **Temperature:** "
    "68°F\n- **Condition:** Sunny\n\nIt's a nice sunny day!",
    "04_text_then_tool_use.sse": "I'll check the current weather in Paris for you.",
    "05_max_tokens_inside_tool_json.sse": "I'll create a comprehensive tax guide for someone "
    "with multiple W2s and save it in a file called taxes.txt. Let me do that for you now.",
    "09_thinking_then_refusal_synthetic.sse": "Hi",
}
REASONING = {
    "06_thinking_signature_tool_use.sse": 'The user wants me to read a file called "foo". Let me '
    "find and read it.I should use the Read tool to access the file contents.",
    "07_parallel_tool_use.sse": 'The user wants me to read two files: "foo" and "bar". '
    "I'll read both of them.",
    "09_thinking_then_refusal_synthetic.sse": "Simple educational question about what a solar "
    "eclipse is. This is benign general knowledge — definitions are fine. Also the user called "
    'me "claudius" — I\'m Claude. Minor correction or just roll with it politely.',
}
TOOLS: dict[str, list[tuple[str, str, Any]]] = {
    "02_tool_use_padded_json.sse": [
        ("toolu_018acGYLtfR52q9yDbWaEdQZ", "get_weather",
         {"location": "San Francisco, CA", "units": "f"}),
    ],
    "04_text_then_tool_use.sse": [("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather",
                                   {"location": "Paris"})],
    "05_max_tokens_inside_tool_json.sse": [
        ("toolu_01EKqbqmZrGRXy18eN7m9kvY", "make_file",
         '{"filename": "taxes.txt", "lines_of_text": [\n"# COMPREHENSIVE TAX GUIDE FOR '
         'INDIVIDUALS WITH MULTIPLE W-2s",\n"",\n"## INTRODUCTION",\n"",\n"Filing taxes'),
    ],
    "06_thinking_signature_tool_use.sse": [("toolu_01RX68weRSquLx6HUTj65iBo", "Read",
                                            {"file_path": "/tmp/blah/foo"})],
    "07_parallel_tool_use.sse": [
        ("toolu_01ParallelFirst000000000", "Read", {"file_path": "/tmp/blah/foo"}),
        ("toolu_01ParallelSecond00000000", "Read", {"file_path": "/tmp/blah/bar"}),
    ],
}


def test_every_recorded_stream_has_expectations() -> None:
    names = recorded_names("anthropic")
    assert names
    assert {n.split("/", 1)[1] for n in names} == set(USAGE) | {"08_error_event_overloaded.sse"}


@pytest.mark.parametrize("name", sorted(USAGE))
@pytest.mark.parametrize("piece", [0, 3])
def test_recorded_stream_adds_up(name: str, piece: int) -> None:
    events = sse_events(recorded(f"anthropic/{name}"), piece)
    out = replay(P.new_decoder(RequestInput()), events)
    assert out.error is None
    res = out.result
    assert res.text == TEXT.get(name, "")
    assert res.reasoning == REASONING.get(name, "")
    assert (res.finish_reason, res.native_finish_reason) == FINISH[name]
    expected_tools = TOOLS.get(name, [])
    assert [(t.index, t.id, t.name) for t in res.tool_calls] == [
        (i, tid, tname) for i, (tid, tname, _) in enumerate(expected_tools)
    ]
    for call, (_, _, args) in zip(res.tool_calls, expected_tools, strict=True):
        if isinstance(args, str):  # cut by max_tokens: kept exactly, not valid JSON
            assert call.arguments == args
            with pytest.raises(ValueError):
                call.parsed_arguments()
        else:
            assert call.parsed_arguments() == args
    inp, out_tokens, created, read = USAGE[name]
    usage = res.usage
    assert usage is not None and usage.raw is not None
    assert usage.raw["input_tokens"] == inp and usage.raw["output_tokens"] == out_tokens
    assert usage.raw["cache_creation_input_tokens"] == created
    assert usage.raw["cache_read_input_tokens"] == read
    assert usage.prompt_tokens == inp + created + read
    assert usage.completion_tokens == out_tokens
    assert usage.total_tokens == inp + created + read + out_tokens
    assert usage.cached_tokens == read
    assert res.id is not None and res.id.startswith("msg_")
    assert res.model is not None and res.model.startswith("claude-")
    # id/model ride on exactly one chunk: the first one emitted
    assert [c.id is not None for c in out.chunks].count(True) == 1
    assert out.chunks[0].id == res.id
    # every chunk carries the decoded payload it came from
    assert all(isinstance(c.raw, dict) and "type" in c.raw for c in out.chunks)


def test_recorded_refusal_reports_thinking_tokens() -> None:
    out = replay(P.new_decoder(RequestInput()),
                 sse_events(recorded("anthropic/09_thinking_then_refusal_synthetic.sse")))
    assert out.result.usage is not None and out.result.usage.reasoning_tokens == 67


def test_recorded_signatures_stay_in_raw() -> None:
    out = replay(P.new_decoder(RequestInput()),
                 sse_events(recorded("anthropic/06_thinking_signature_tool_use.sse")))
    signed = [c for c in out.chunks if c.raw["type"] == "content_block_delta"
              and c.raw["delta"]["type"] == "signature_delta"]
    assert len(signed) == 2
    for c in signed:
        assert (c.text, c.reasoning, c.tool_calls, c.finish_reason) == (None, None, (), None)
        assert len(c.raw["delta"]["signature"]) == 328


def test_recorded_error_event() -> None:
    out = replay(P.new_decoder(RequestInput()),
                 sse_events(recorded("anthropic/08_error_event_overloaded.sse")))
    err = out.error
    assert isinstance(err, ProviderError)
    assert (err.type, err.provider_message) == ("api_error", "Overloaded")
    assert err.provider == "anthropic"
    assert err.status_code is None
    assert err.retryable is True
    assert "Overloaded" in str(err)
    assert out.result.finish_reason is None


def test_cut_stream_never_gets_a_finish_reason() -> None:
    events = sse_events(recorded("anthropic/01_text_padded_json.sse"))
    names = [n for n, _ in events]
    cut = events[: names.index("message_delta")]
    out = replay(P.new_decoder(RequestInput()), cut)
    assert out.result.text == "[12345,67890]"
    assert out.result.finish_reason is None
    assert not out.acc.complete
    # the prompt usage of message_start is already known
    assert out.result.usage is not None and out.result.usage.prompt_tokens == 135


# --- hand-written events ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("native", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "other"),
        ("a_reason_from_the_future", "other"),
    ],
)
def test_stop_reasons(native: str, finish: str) -> None:
    d = AnthropicDecoder()
    start(d)
    (chunk,) = feed(d, "message_delta", delta={"stop_reason": native}, usage={"output_tokens": 3})
    assert (chunk.finish_reason, chunk.native_finish_reason) == (finish, native)


def test_message_delta_without_stop_reason_or_usage_is_nothing() -> None:
    d = AnthropicDecoder()
    start(d)
    assert feed(d, "message_delta", delta={"stop_reason": None}) == []
    (chunk,) = feed(d, "message_delta", delta={"stop_reason": None}, usage={"output_tokens": 4})
    assert chunk.finish_reason is None and chunk.usage is not None
    assert chunk.usage.completion_tokens == 4


def test_usage_merges_into_cumulative_counts() -> None:
    d = AnthropicDecoder()
    start(d, input_tokens=10, cache_read_input_tokens=5, cache_creation_input_tokens=None,
          output_tokens=1)
    (c1,) = feed(d, "message_delta", delta={}, usage={"output_tokens": 7})
    assert c1.usage is not None
    assert (c1.usage.prompt_tokens, c1.usage.completion_tokens, c1.usage.total_tokens) == (
        15, 7, 22)
    assert c1.usage.cached_tokens == 5
    assert c1.usage.raw == {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 7}
    # output replaces (cumulative, not added); null input counts do not erase known ones
    (c2,) = feed(d, "message_delta", delta={"stop_reason": "end_turn"},
                 usage={"output_tokens": 9, "input_tokens": None})
    assert c2.usage is not None
    assert (c2.usage.prompt_tokens, c2.usage.completion_tokens) == (15, 9)
    # present input counts overwrite
    (c3,) = feed(d, "message_delta", delta={}, usage={"input_tokens": 12, "output_tokens": 9})
    assert c3.usage is not None and c3.usage.prompt_tokens == 17


def test_id_model_and_prompt_usage_go_on_the_first_chunk_with_content() -> None:
    d = AnthropicDecoder()
    start(d)
    assert feed(d, "ping") == []
    assert block(d, 0, type="text", text="") == []
    (first,) = delta(d, 0, type="text_delta", text="Hel")
    assert (first.text, first.id, first.model) == ("Hel", "msg_1", "claude-x")
    assert first.usage is not None and first.usage.prompt_tokens == 10
    (second,) = delta(d, 0, type="text_delta", text="lo")
    assert (second.text, second.id, second.model, second.usage) == ("lo", None, None, None)
    assert second.raw == {"type": "content_block_delta", "index": 0,
                          "delta": {"type": "text_delta", "text": "lo"}}


def test_id_and_model_reach_the_finish_chunk_when_nothing_came_before() -> None:
    d = AnthropicDecoder()
    start(d)
    (chunk,) = feed(d, "message_delta", delta={"stop_reason": "end_turn"},
                    usage={"output_tokens": 2})
    assert (chunk.id, chunk.model, chunk.finish_reason) == ("msg_1", "claude-x", "stop")
    assert chunk.usage is not None and chunk.usage.completion_tokens == 2


def test_thinking_and_text_blocks() -> None:
    d = AnthropicDecoder()
    start(d)
    assert block(d, 0, type="thinking", thinking="", signature="") == []
    assert delta(d, 0, type="thinking_delta", thinking="") == []
    (r,) = delta(d, 0, type="thinking_delta", thinking="hmm")
    assert (r.reasoning, r.text) == ("hmm", None)
    (s,) = delta(d, 0, type="signature_delta", signature="c2ln")
    assert (s.text, s.reasoning, s.tool_calls) == (None, None, ())
    assert s.raw["delta"]["signature"] == "c2ln"
    assert feed(d, "content_block_stop", index=0) == []
    (t,) = block(d, 1, type="text", text="Hi")  # a start block may carry text
    assert t.text == "Hi"


def test_parallel_tool_calls_are_numbered_by_tool_ordinal() -> None:
    d = AnthropicDecoder()
    start(d)
    assert block(d, 0, type="text", text="") == []
    delta(d, 0, type="text_delta", text="Let me look.")
    (a,) = block(d, 1, type="tool_use", id="toolu_a", name="read", input={})
    (b,) = block(d, 2, type="tool_use", id="toolu_b", name="write", input={})
    assert a.tool_calls == (ToolCallDelta(0, "toolu_a", "read", ""),)
    assert b.tool_calls == (ToolCallDelta(1, "toolu_b", "write", ""),)
    assert delta(d, 1, type="input_json_delta", partial_json="") == []  # the usual empty first
    (f1,) = delta(d, 2, type="input_json_delta", partial_json='{"p": ')
    (f2,) = delta(d, 1, type="input_json_delta", partial_json='{"q": 1}')
    (f3,) = delta(d, 2, type="input_json_delta", partial_json="2}")
    assert [c.tool_calls[0] for c in (f1, f2, f3)] == [
        ToolCallDelta(1, None, None, '{"p": '),
        ToolCallDelta(0, None, None, '{"q": 1}'),
        ToolCallDelta(1, None, None, "2}"),
    ]


def test_tool_input_given_whole_in_the_start_block() -> None:
    d = AnthropicDecoder()
    start(d)
    (s,) = block(d, 0, type="tool_use", id="toolu_a", name="now", input={"tz": "UTC"})
    assert s.tool_calls == (ToolCallDelta(0, "toolu_a", "now", ""),)
    (stop,) = feed(d, "content_block_stop", index=0)
    assert stop.tool_calls == (ToolCallDelta(0, None, None, '{"tz": "UTC"}'),)
    # a tool with no input at all emits no argument text: it adds up to "{}"
    (ping,) = block(d, 1, type="tool_use", id="toolu_b", name="ping", input={})
    assert feed(d, "content_block_stop", index=1) == []
    acc = Accumulator()
    for chunk in (s, stop, ping):
        acc.add(chunk)
    assert [c.arguments for c in acc.result().tool_calls] == ['{"tz": "UTC"}', "{}"]


def test_streamed_input_is_not_repeated_at_block_stop() -> None:
    d = AnthropicDecoder()
    start(d)
    block(d, 0, type="tool_use", id="toolu_a", name="now", input={"tz": "UTC"})
    delta(d, 0, type="input_json_delta", partial_json='{"tz": "CET"}')
    assert feed(d, "content_block_stop", index=0) == []


def test_blocks_and_events_that_carry_nothing_are_skipped() -> None:
    d = AnthropicDecoder()
    start(d)
    assert block(d, 0, type="redacted_thinking", data="opaque") == []
    assert block(d, 1, type="server_tool_use", id="srvtoolu_1", name="web_search", input={}) == []
    assert delta(d, 1, type="input_json_delta", partial_json='{"query": "x"}') == []
    assert block(d, 2, type="web_search_tool_result", content=[]) == []
    assert block(d, 3, type="a_new_block_type") == []
    assert delta(d, 3, type="citations_delta", citation={"cited_text": "x"}) == []
    assert delta(d, 3, type="a_new_delta_type", value=1) == []
    assert feed(d, "content_block_start", index=4, content_block=None) == []
    assert feed(d, "content_block_stop", index=3) == []
    assert feed(d, "ping") == []
    assert feed(d, "message_stop") == []
    assert feed(d, "a_new_event", payload={}) == []
    # a tool block after them is still tool 0
    (t,) = block(d, 5, type="tool_use", id="toolu_1", name="f", input={})
    assert t.tool_calls[0].index == 0


def test_event_name_is_used_when_the_payload_has_no_type() -> None:
    d = AnthropicDecoder()
    with pytest.raises(ProviderError):
        d.feed(json.dumps({"error": {"type": "api_error", "message": "boom"}}), "error")


@pytest.mark.parametrize("data", ["{not json", '{"type": "message_start"', "[1, 2]", '"text"'])
def test_malformed_data_is_a_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError) as info:
        AnthropicDecoder().feed(data, "message_start")
    assert info.value.payload == data


def test_in_band_error_fields() -> None:
    d = AnthropicDecoder()
    start(d)
    with pytest.raises(ProviderError) as info:
        feed(d, "error", error={"type": "overloaded_error", "message": "Overloaded"},
             request_id="req_123")
    err = info.value
    assert (err.type, err.provider_message, err.request_id) == (
        "overloaded_error", "Overloaded", "req_123")
    assert err.provider == "anthropic" and err.retryable is True
    assert err.body is not None and "overloaded_error" in err.body
    with pytest.raises(ProviderError) as info2:
        feed(AnthropicDecoder(), "error",
             error={"type": "invalid_request_error", "message": "bad"})
    assert info2.value.retryable is False


# --- requests -----------------------------------------------------------------------------

def test_request_url_headers_and_secret() -> None:
    req = P.build_request(CONFIG, RequestInput(messages=[{"role": "user", "content": "hi"}]))
    assert (req.method, req.url, req.framing) == (
        "POST", "https://api.anthropic.com/v1/messages", "sse")
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Accept"] == "text/event-stream"
    assert KEY not in json.dumps(dict(req.headers)) and KEY not in req.url
    assert req.secret_headers["x-api-key"].reveal() == KEY
    assert KEY not in repr(req) and KEY not in str(req)
    assert req.wire_headers()["x-api-key"] == KEY
    assert KEY not in json.dumps(dict(req.body))


@pytest.mark.parametrize(
    "base", ["https://proxy.test", "https://proxy.test/", "https://proxy.test/v1"]
)
def test_request_url_from_base(base: str) -> None:
    config = ProviderConfig("anthropic", "m", base, None, {"anthropic-beta": "x"})
    req = P.build_request(config, RequestInput(messages=[{"role": "user", "content": "hi"}]))
    assert req.url == "https://proxy.test/v1/messages"
    assert req.secret_headers == {}
    assert req.headers["anthropic-beta"] == "x"


def test_request_body_basics() -> None:
    body = body_of(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "hi"},
        ],
        temperature=0.2, top_p=0.9, top_k=40, stop="END", stream=True,
        thinking={"type": "enabled", "budget_tokens": 1024}, metadata={"user_id": "u1"},
    )
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096 + 1024,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "system": "Be brief.\n\nUse French.",
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "u1"},
        "stream": True,
    }


def test_max_tokens_and_stop_list() -> None:
    assert body_of(max_tokens=100)["max_tokens"] == 100
    assert body_of(max_completion_tokens=200)["max_tokens"] == 200
    assert body_of(max_tokens=300, max_completion_tokens=300)["max_tokens"] == 300
    # the default leaves room above a thinking budget
    thinking = {"type": "enabled", "budget_tokens": 10000}
    assert body_of(thinking=thinking)["max_tokens"] == 14096
    assert body_of(thinking=thinking, max_tokens=12000)["max_tokens"] == 12000
    assert body_of(stop=["a", "b"])["stop_sequences"] == ["a", "b"]
    with pytest.raises(ConfigurationError):
        body_of(max_tokens=1, max_completion_tokens=2)
    with pytest.raises(ConfigurationError):
        body_of(max_tokens=0)
    with pytest.raises(ConfigurationError):
        body_of(stop=3)


def test_native_system_param_and_user() -> None:
    assert body_of(system=[{"type": "text", "text": "S"}])["system"] == [
        {"type": "text", "text": "S"}]
    with pytest.raises(ConfigurationError):
        body_of(messages=[{"role": "system", "content": "a"}, {"role": "user", "content": "b"}],
                system="c")
    assert body_of(user="u-9")["metadata"] == {"user_id": "u-9"}


def test_completion_kind_is_one_user_message() -> None:
    req = P.build_request(CONFIG, RequestInput(kind="completion", prompt="Once upon"))
    assert req.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Once upon"}]}]
    with pytest.raises(ConfigurationError):
        P.build_request(CONFIG, RequestInput(kind="completion"))


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather now",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}}


def test_tools_are_translated() -> None:
    bare = {"type": "function", "function": {"name": "now"}}
    native = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    body = body_of(tools=[WEATHER, bare, native])
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather now",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
        native,
    ]
    with pytest.raises(ConfigurationError):
        body_of(tools=[{"type": "file_search"}])
    with pytest.raises(ConfigurationError):
        body_of(tools=[{"type": "function", "function": {"description": "no name"}}])


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}},
         {"type": "tool", "name": "get_weather"}),
        ({"type": "any"}, {"type": "any"}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert body_of(tools=[WEATHER], tool_choice=choice)["tool_choice"] == expected


def test_tool_choice_errors_and_parallel_calls() -> None:
    with pytest.raises(ConfigurationError):
        body_of(tools=[WEATHER], tool_choice="sometimes")
    with pytest.raises(ConfigurationError):
        body_of(tools=[WEATHER], tool_choice={"type": "function", "function": {}})
    assert body_of(tools=[WEATHER], parallel_tool_calls=False)["tool_choice"] == {
        "type": "auto", "disable_parallel_tool_use": True}
    assert body_of(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)[
        "tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "tool_choice" not in body_of(tools=[WEATHER], parallel_tool_calls=True)


@pytest.mark.parametrize(
    "params",
    [
        {"seed": 1},
        {"n": 2},
        {"frequency_penalty": 0.5},
        {"presence_penalty": 0.5},
        {"logprobs": True},
        {"top_logprobs": 2},
        {"logit_bias": {"1": 2}},
    ],
)
def test_unsupported_params_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as info:
        body_of(**params)
    assert repr(next(iter(params))) in str(info.value) and "anthropic" in str(info.value)


def test_n_one_is_fine() -> None:
    assert "n" not in body_of(n=1)


def test_new_decoder_is_fresh() -> None:
    r = RequestInput()
    assert P.new_decoder(r) is not P.new_decoder(r)
    assert (P.name, P.framing) == ("anthropic", "sse")


# --- HTTP errors --------------------------------------------------------------------------

def _err_body(etype: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": etype, "message": message},
                       "request_id": "req_body"}).encode()


@pytest.mark.parametrize(
    ("status", "etype", "cls"),
    [
        (400, "invalid_request_error", BadRequestError),
        (401, "authentication_error", AuthenticationError),
        (403, "permission_error", PermissionDeniedError),
        (404, "not_found_error", NotFoundError),
        (429, "rate_limit_error", RateLimitError),
        (500, "api_error", InternalServerError),
        (503, "api_error", ServiceUnavailableError),
        (529, "overloaded_error", OverloadedError),
    ],
)
def test_error_from_response(status: int, etype: str, cls: type[Exception]) -> None:
    err = P.error_from_response(status, {"request-id": "req_hdr"}, _err_body(etype, "Nope."))
    assert type(err) is cls
    assert (err.status_code, err.type, err.provider_message) == (status, etype, "Nope.")
    assert err.request_id == "req_body"  # the body's id wins over the header
    assert err.provider == "anthropic"
    assert "Nope." in str(err)


def test_error_retry_after_and_request_id_header() -> None:
    body = json.dumps({"type": "error", "error": {"type": "rate_limit_error",
                                                 "message": "slow down"}}).encode()
    err = P.error_from_response(
        429, {"Retry-After": "12", "Request-Id": "req_h", "X-Should-Retry": "false"}, body)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 12.0
    assert err.request_id == "req_h"
    assert err.retryable is False


def test_error_with_html_body() -> None:
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    err = P.error_from_response(502, {"content-type": "text/html"}, html)
    assert isinstance(err, InternalServerError)
    assert err.provider_message is None and err.type is None
    assert err.body is not None and "502 Bad Gateway" in err.body
    assert "502" in str(err)
