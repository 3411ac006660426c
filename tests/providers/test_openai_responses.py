"""The OpenAI Responses codec: recorded streams, event mapping, the end of a
stream (requests and HTTP errors: test_openai_responses_requests.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors._chunk import Chunk, ToolCallDelta
from streamactors.errors import (
    ProtocolError,
    ProviderError,
)
from streamactors.providers._base import RequestInput
from streamactors.providers.openai_responses import (
    OpenAIResponsesDecoder,
    OpenAIResponsesProvider,
)

from ._replay import recorded as fixture_bytes
from ._replay import replay as replay_events
from ._replay import replay_body, sse_events

pytestmark = pytest.mark.timeout(10)

P = OpenAIResponsesProvider()


def ev(kind: str, **fields: Any) -> tuple[str, str]:
    """One Responses event as (SSE event name, data)."""
    return kind, json.dumps({"type": kind, **fields})


def feed(decoder: OpenAIResponsesDecoder, kind: str, **fields: Any) -> list[Chunk]:
    name, data = ev(kind, **fields)
    return decoder.feed(data, name)


def created(rid: str = "resp_1", model: str = "gpt-4.1") -> tuple[str, str]:
    return ev("response.created", response={"id": rid, "model": model, "status": "in_progress"})


def completed(**response: Any) -> tuple[str, str]:
    return ev("response.completed", response={"id": "resp_1", "status": "completed", **response})


def fc_item(item_id: str, call_id: str, name: str, arguments: str = "") -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "call_id": call_id, "name": name,
            "arguments": arguments, "status": "in_progress"}


# ----------------------------------------------------------------- recorded streams


def test_fixture_01_text() -> None:
    r = replay_body(P.new_decoder(RequestInput()), fixture_bytes("openai-responses/01_text.sse"))
    assert r.error is None
    res = r.result
    assert res.text == "5\n10\n12"
    assert res.tool_calls == () and res.reasoning == "" and res.refusal is None
    assert (res.finish_reason, res.native_finish_reason) == ("stop", "completed")
    assert res.id == "resp_07f5c1c1892931e7016a3de848b154819eb4b650b38d305492"
    assert res.model == "gpt-5.4-mini-2026-03-17"
    u = res.usage
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (78, 9, 87)
    assert (u.reasoning_tokens, u.cached_tokens) == (0, 0)
    assert u.raw == {"input_tokens": 78, "input_tokens_details": {"cached_tokens": 0},
                     "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 0},
                     "total_tokens": 87}
    # Exactly one chunk finishes the stream, and it is the last one.
    assert [c.finish_reason for c in r.chunks].count("stop") == 1
    assert r.chunks[-1].finish_reason == "stop"
    # id/model ride on the first chunk after response.created, not on every delta.
    assert r.chunks[0].id == res.id and r.chunks[1].id is None


def test_fixture_02_function_call() -> None:
    body = fixture_bytes("openai-responses/02_function_call.sse")
    r = replay_body(P.new_decoder(RequestInput()), body)
    assert r.error is None
    res = r.result
    assert res.text == ""
    assert len(res.tool_calls) == 1
    tc = res.tool_calls[0]
    assert (tc.index, tc.id, tc.name) == (0, "call_4fBBtRXfmpzyVoGCD0Qgmsr1", "system")
    assert tc.arguments == "{\"command\":\"date '+%Y-%m-%d %H:%M:%S %Z'\" }"
    assert tc.parsed_arguments() == {"command": "date '+%Y-%m-%d %H:%M:%S %Z'"}
    assert res.finish_reason == "tool_calls"
    assert res.usage is not None
    assert (res.usage.prompt_tokens, res.usage.completion_tokens) == (57, 33)
    assert res.usage.total_tokens == 90
    # The id and name come once; the rest are argument fragments only.
    named = [d for c in r.chunks for d in c.tool_calls if d.id is not None]
    assert len(named) == 1


def test_fixture_03_reasoning_and_parallel_calls() -> None:
    body = fixture_bytes("openai-responses/03_reasoning_parallel_function_calls.sse")
    r = replay_body(P.new_decoder(RequestInput()), body)
    assert r.error is None
    res = r.result
    assert res.reasoning == "The user wants two additions: 3+5 and 10+20. I'll call add for both."
    assert res.text == ""
    calls = [(t.index, t.id, t.name, t.arguments) for t in res.tool_calls]
    assert calls == [
        (0, "call_ParallelStreamFirst001", "add", '{"a":3,"b":5}'),
        (1, "call_ParallelStreamSecond01", "add", '{"a":10,"b":20}'),
    ]
    assert res.finish_reason == "tool_calls"
    assert res.usage is not None
    assert (res.usage.prompt_tokens, res.usage.completion_tokens, res.usage.total_tokens) == (
        65, 30, 95)
    assert (res.id, res.model) == ("resp_parallel_streaming_001", "gpt-4.1-2025-04-14")


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("04_error_event.sse", "ERR_SOMETHING", "Something went wrong"),
        ("05_response_failed.sse", "server_error", "The model failed to generate a response."),
    ],
)
def test_fixture_in_band_errors(name: str, code: str, message: str) -> None:
    body = fixture_bytes(f"openai-responses/{name}")
    r = replay_body(P.new_decoder(RequestInput()), body)
    assert isinstance(r.error, ProviderError)
    assert r.fed == len(sse_events(body)), "the error is the last event"
    err = r.error
    assert (err.provider_message, err.code, err.type, err.provider) == (
        message, code, code, "openai")
    assert message in str(err)
    res = r.result
    assert res.text == "Hello"
    assert res.finish_reason is None, "an error never looks like a finished answer"
    assert res.usage is None
    assert res.id == "resp_123"


@pytest.mark.parametrize(
    "name",
    ["01_text.sse", "02_function_call.sse", "03_reasoning_parallel_function_calls.sse",
     "04_error_event.sse", "05_response_failed.sse"],
)
def test_fixture_split_reads_give_the_same_result(name: str) -> None:
    body = fixture_bytes(f"openai-responses/{name}")
    whole = replay_body(P.new_decoder(RequestInput()), body)
    split = replay_body(P.new_decoder(RequestInput()), body, piece=7)
    assert split.chunks == whole.chunks and len(whole.chunks) > 0
    assert split.result == whole.result
    assert type(split.error) is type(whole.error)


# ----------------------------------------------------------------- event mapping


def test_stream_without_created_event() -> None:
    d = OpenAIResponsesDecoder()
    [c] = feed(d, "response.output_text.delta", item_id="m", output_index=0, delta="Hi")
    assert (c.text, c.id, c.model, c.index) == ("Hi", None, None, 0)
    [end] = feed(d, "response.completed", response={"id": "resp_9", "model": "m1", "usage": None})
    assert (end.finish_reason, end.id, end.model, end.usage) == ("stop", "resp_9", "m1", None)


def test_created_id_on_next_chunk_only() -> None:
    d = OpenAIResponsesDecoder()
    for name, data in (created(), ev("response.in_progress", response={"id": "resp_1"})):
        assert d.feed(data, name) == []
    first = feed(d, "response.output_text.delta", delta="a")[0]
    second = feed(d, "response.output_text.delta", delta="b")[0]
    assert (first.id, first.model) == ("resp_1", "gpt-4.1")
    assert (second.id, second.model) == (None, None)
    assert first.raw == {"type": "response.output_text.delta", "delta": "a"}


def test_function_call_mapping_and_ordinals() -> None:
    events = [
        created(),
        ev("response.output_item.added", output_index=0,
           item={"id": "rs_1", "type": "reasoning", "summary": []}),
        ev("response.output_item.added", output_index=1, item=fc_item("fc_a", "call_a", "f")),
        ev("response.output_item.added", output_index=3, item=fc_item("fc_b", "call_b", "g")),
        # interleaved deltas, keyed by item id ...
        ev("response.function_call_arguments.delta", item_id="fc_b", output_index=3, delta='{"y"'),
        ev("response.function_call_arguments.delta", item_id="fc_a", output_index=1, delta='{"x"'),
        # ... or only by output_index
        ev("response.function_call_arguments.delta", output_index=3, delta=":2}"),
        ev("response.function_call_arguments.delta", output_index=1, delta=":1}"),
        ev("response.function_call_arguments.done", item_id="fc_a", arguments='{"x":1}'),
        ev("response.output_item.done", output_index=1,
           item={**fc_item("fc_a", "call_a", "f", '{"x":1}'), "status": "completed"}),
        completed(output=[]),
    ]
    r = replay_events(OpenAIResponsesDecoder(), events)
    assert r.error is None
    assert r.chunks[0].tool_calls == (ToolCallDelta(0, "call_a", "f", ""),)
    assert r.chunks[1].tool_calls == (ToolCallDelta(1, "call_b", "g", ""),)
    assert [(t.index, t.id, t.name, t.arguments) for t in r.result.tool_calls] == [
        (0, "call_a", "f", '{"x":1}'), (1, "call_b", "g", '{"y":2}')]
    assert r.result.finish_reason == "tool_calls"
    assert len(r.chunks) == 2 + 4 + 1, "*.done events add no chunk"


def test_function_call_announced_with_complete_arguments() -> None:
    d = OpenAIResponsesDecoder()
    [c] = feed(d, "response.output_item.added", output_index=0,
               item=fc_item("fc_1", "call_1", "f", '{"a":1}'))
    assert c.tool_calls == (ToolCallDelta(0, "call_1", "f", '{"a":1}'),)
    done = {**fc_item("fc_1", "call_1", "f", '{"a":1}'), "status": "completed"}
    assert feed(d, "response.output_item.done", output_index=0, item=done) == []


def test_function_call_seen_only_when_done() -> None:
    """A server that skips ``added`` and deltas still gets its call reported once."""
    d = OpenAIResponsesDecoder()
    item = fc_item("fc_1", "call_1", "f", '{"a":1}')
    [c] = feed(d, "response.output_item.done", output_index=0, item=item)
    assert c.tool_calls == (ToolCallDelta(0, "call_1", "f", '{"a":1}'),)
    [end] = feed(d, "response.completed", response={"output": [item]})
    assert end.tool_calls == () and end.finish_reason == "tool_calls"


def test_function_call_deltas_without_added_then_done() -> None:
    d = OpenAIResponsesDecoder()
    [c] = feed(d, "response.function_call_arguments.delta", item_id="fc_1", output_index=0,
               delta="{}")
    assert c.tool_calls == (ToolCallDelta(0, None, None, "{}"),)
    [named] = feed(d, "response.output_item.done", output_index=0,
                   item=fc_item("fc_1", "call_1", "f", "{}"))
    assert named.tool_calls == (ToolCallDelta(0, "call_1", "f", ""),)


def test_function_call_only_in_completed_output() -> None:
    d = OpenAIResponsesDecoder()
    output = [{"id": "msg_1", "type": "message", "content": []},
              fc_item("fc_1", "call_1", "f", '{"q":1}')]
    [end] = feed(d, "response.completed", response={"output": output})
    assert end.tool_calls == (ToolCallDelta(0, "call_1", "f", '{"q":1}'),)
    assert (end.finish_reason, end.native_finish_reason) == ("tool_calls", "completed")


def test_refusal_and_text_logprobs() -> None:
    d = OpenAIResponsesDecoder()
    [r] = feed(d, "response.refusal.delta", item_id="m", delta="I can't")
    assert (r.refusal, r.text) == ("I can't", None)
    entry = {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}
    [t] = feed(d, "response.output_text.delta", delta="Hi", logprobs=[entry])
    assert t.logprobs == {"content": [entry]}
    [t2] = feed(d, "response.output_text.delta", delta="!", logprobs=[])
    assert t2.logprobs is None


def test_reasoning_summary_parts_and_raw_reasoning() -> None:
    events = [
        ev("response.reasoning_summary_text.delta", item_id="rs", summary_index=0, delta="A"),
        ev("response.reasoning_summary_text.delta", item_id="rs", summary_index=0, delta="B"),
        ev("response.reasoning_summary_text.done", item_id="rs", summary_index=0, text="AB"),
        ev("response.reasoning_summary_text.delta", item_id="rs", summary_index=1, delta="C"),
        ev("response.reasoning_text.delta", item_id="rs2", content_index=0, delta="raw"),
        ev("response.reasoning_text.delta", item_id="rs2", content_index=0, delta="!"),
    ]
    r = replay_events(OpenAIResponsesDecoder(), events)
    assert [c.reasoning for c in r.chunks] == ["A", "B", "\n\nC", "\n\nraw", "!"]
    assert r.result.reasoning == "AB\n\nC\n\nraw!"


def test_completed_usage_mapping() -> None:
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
             "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 7},
             "total_tokens": 30}
    [end] = OpenAIResponsesDecoder().feed(completed(usage=usage)[1], "response.completed")
    u = end.usage
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (10, 20, 30)
    assert (u.reasoning_tokens, u.cached_tokens, u.raw) == (7, 4, usage)


@pytest.mark.parametrize(
    ("details", "finish", "native"),
    [
        ({"reason": "max_output_tokens"}, "length", "max_output_tokens"),
        ({"reason": "content_filter"}, "content_filter", "content_filter"),
        ({"reason": "something_new"}, "other", "something_new"),
        (None, "other", "incomplete"),
    ],
)
def test_incomplete_reasons(details: Any, finish: str, native: str) -> None:
    d = OpenAIResponsesDecoder()
    feed(d, "response.output_item.added", output_index=0, item=fc_item("fc", "c", "f"))
    response = {"id": "r", "status": "incomplete", "incomplete_details": details,
                "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}
    [end] = feed(d, "response.incomplete", response=response)
    assert (end.finish_reason, end.native_finish_reason) == (finish, native)
    assert end.usage is not None and end.usage.completion_tokens == 2


def test_error_event_nested_shape() -> None:
    name, data = ev("error", error={"type": "invalid_request_error", "code": "bad",
                                    "message": "nope", "param": None})
    with pytest.raises(ProviderError) as info:
        OpenAIResponsesDecoder().feed(data, name)
    assert (info.value.type, info.value.code, info.value.provider_message) == (
        "invalid_request_error", "bad", "nope")
    assert info.value.body == data


def test_failed_without_error_object() -> None:
    with pytest.raises(ProviderError) as info:
        feed(OpenAIResponsesDecoder(), "response.failed", response={"status": "failed"})
    assert info.value.provider_message is None and info.value.code is None


@pytest.mark.parametrize(
    "kind",
    [
        "response.output_text.done", "response.content_part.added", "response.content_part.done",
        "response.function_call_arguments.done", "response.reasoning_summary_part.added",
        "response.refusal.done", "response.output_text.annotation.added",
        "response.web_search_call.in_progress", "response.custom_tool_call_input.delta",
        "response.audio.delta", "response.mcp_call.completed", "something.never.seen",
    ],
)
def test_other_events_yield_nothing(kind: str) -> None:
    d = OpenAIResponsesDecoder()
    assert feed(d, kind, item_id="x", output_index=0, delta="zzz", text="zzz") == []
    msg = {"id": "m", "type": "message", "role": "assistant", "content": []}
    assert feed(d, "response.output_item.added", output_index=0, item=msg) == []


def test_event_name_used_when_type_missing() -> None:
    [c] = OpenAIResponsesDecoder().feed('{"delta": "x"}', "response.output_text.delta")
    assert c.text == "x"


@pytest.mark.parametrize("data", ['{"type": "response.output_text.delta", "delta": ', "[1, 2]"])
def test_malformed_data(data: str) -> None:
    with pytest.raises(ProtocolError) as info:
        OpenAIResponsesDecoder().feed(data, "response.output_text.delta")
    assert info.value.payload == data


def test_done_marker_tolerated() -> None:
    assert OpenAIResponsesDecoder().feed("[DONE]") == []


# ----------------------------------------------------------------- end of stream


@pytest.mark.parametrize(
    ("kind", "response"),
    [("response.completed", {"status": "completed"}),
     ("response.incomplete", {"incomplete_details": {"reason": "max_output_tokens"}})],
)
def test_terminal_events_set_done(kind: str, response: dict[str, Any]) -> None:
    d = OpenAIResponsesDecoder()
    feed(d, "response.output_text.delta", delta="x")
    assert not d.done
    [end] = feed(d, kind, response=response)
    assert d.done and end.finish_reason is not None
    assert d.continuation() == {}


def test_failed_sets_done_before_raising() -> None:
    d = OpenAIResponsesDecoder()
    with pytest.raises(ProviderError):
        feed(d, "response.failed", response={"error": {"message": "x"}})
    assert d.done


def test_error_event_is_not_the_end_marker() -> None:
    d = OpenAIResponsesDecoder()
    with pytest.raises(ProviderError):
        feed(d, "error", error={"message": "x"})
    assert not d.done
