"""What an Anthropic tool loop needs: ``done`` at ``message_stop`` (§5), tool
calls without input adding up to ``"{}"``, and the thinking blocks with their
signatures going back, first in the assistant turn, through
``StreamResult.to_message()`` (§6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors._chunk import Chunk
from streamactors.accumulate import Accumulator
from streamactors.errors import ConfigurationError
from streamactors.providers._base import ProviderConfig, RequestInput
from streamactors.providers.anthropic import AnthropicDecoder, AnthropicProvider
from streamactors.providers.anthropic_turns import anthropic_messages

from ._replay import recorded, replay, sse_events

pytestmark = pytest.mark.timeout(10)

P = AnthropicProvider()
CONFIG = ProviderConfig("anthropic", "claude-sonnet-4-5", "https://api.anthropic.com")
TOOL_ID = "toolu_01RX68weRSquLx6HUTj65iBo"


def feed(d: AnthropicDecoder, **event: Any) -> list[Chunk]:
    return d.feed(json.dumps(event), str(event["type"]))


def fold(chunks: list[Chunk], d: AnthropicDecoder) -> dict[str, Any]:
    acc = Accumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.result(continuation=dict(d.continuation())).to_message()


# --- done -----------------------------------------------------------------------------------

def test_done_turns_true_at_message_stop_only() -> None:
    d = AnthropicDecoder()
    events = sse_events(recorded("anthropic/01_text_padded_json.sse"))
    for name, data in events[:-1]:
        d.feed(data, name)
        assert d.done is False, name
    assert events[-1][0] == "message_stop"
    d.feed(events[-1][1], events[-1][0])
    assert d.done is True


def test_a_cut_or_failed_stream_is_not_done() -> None:
    d = AnthropicDecoder()
    out = replay(d, sse_events(recorded("anthropic/08_error_event_overloaded.sse")))
    assert out.error is not None and d.done is False


# --- tool calls without input ----------------------------------------------------------------

def test_a_tool_call_with_no_input_has_arguments_braces() -> None:
    d = AnthropicDecoder()
    feed(d, type="message_start", message={"id": "msg_1", "model": "claude-x"})
    chunks = feed(d, type="content_block_start", index=0,
                  content_block={"type": "tool_use", "id": "toolu_a", "name": "now", "input": {}})
    chunks += feed(d, type="content_block_delta", index=0,
                   delta={"type": "input_json_delta", "partial_json": ""})
    chunks += feed(d, type="content_block_stop", index=0)
    chunks += feed(d, type="message_delta", delta={"stop_reason": "tool_use"})
    assert all(c.arguments == "" for chunk in chunks for c in chunk.tool_calls)
    message = fold(chunks, d)
    assert message["tool_calls"] == [{"id": "toolu_a", "type": "function",
                                      "function": {"name": "now", "arguments": "{}"}}]


# --- continuation ----------------------------------------------------------------------------

def test_no_thinking_no_continuation() -> None:
    d = AnthropicDecoder()
    replay(d, sse_events(recorded("anthropic/04_text_then_tool_use.sse")))
    assert d.continuation() == {}


def test_thinking_blocks_are_kept_whole_in_stream_order() -> None:
    d = AnthropicDecoder()
    feed(d, type="message_start", message={"id": "msg_1", "model": "claude-x"})
    feed(d, type="content_block_start", index=0,
         content_block={"type": "thinking", "thinking": "A", "signature": ""})
    feed(d, type="content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "b"})
    feed(d, type="content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "c"})
    feed(d, type="content_block_delta", index=0, delta={"type": "signature_delta", "signature": "S1"})
    assert feed(d, type="content_block_start", index=1,
                content_block={"type": "redacted_thinking", "data": "opaque=="}) == []
    feed(d, type="content_block_start", index=2, content_block={"type": "text", "text": ""})
    feed(d, type="content_block_delta", index=2, delta={"type": "text_delta", "text": "Hi"})
    feed(d, type="content_block_start", index=3,
         content_block={"type": "thinking", "thinking": ""})
    feed(d, type="content_block_delta", index=3, delta={"type": "thinking_delta", "thinking": "d"})
    feed(d, type="content_block_delta", index=3, delta={"type": "signature_delta", "signature": "S2"})
    assert d.continuation() == {"message": {"thinking_blocks": [
        {"type": "thinking", "thinking": "Abc", "signature": "S1"},
        {"type": "redacted_thinking", "data": "opaque=="},
        {"type": "thinking", "thinking": "d", "signature": "S2"},
    ]}}


def _recorded_turn() -> tuple[dict[str, Any], AnthropicDecoder]:
    d = AnthropicDecoder()
    out = replay(d, sse_events(recorded("anthropic/06_thinking_signature_tool_use.sse")))
    assert out.error is None and d.done
    return out.acc.result(continuation=dict(d.continuation())).to_message(), d


def test_recorded_thinking_round_trip() -> None:
    message, _ = _recorded_turn()
    blocks = message["thinking_blocks"]
    assert [b["thinking"] for b in blocks] == [
        'The user wants me to read a file called "foo". Let me find and read it.',
        "I should use the Read tool to access the file contents."]
    assert [b["signature"][:4] for b in blocks] == ["Eu8B", "Aa1B"]
    assert all(len(b["signature"]) == 328 for b in blocks)
    assert message["content"] is None
    assert message["tool_calls"][0]["id"] == TOOL_ID
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {
        "file_path": "/tmp/blah/foo"}

    conversation = [
        {"role": "user", "content": "Read foo"},
        message,
        {"role": "tool", "tool_call_id": TOOL_ID, "content": "foo's contents"},
    ]
    body = P.build_request(CONFIG, RequestInput(messages=conversation, params={
        "reasoning_effort": "low"})).body
    turn = body["messages"][1]
    assert turn["role"] == "assistant"
    assert [b["type"] for b in turn["content"]] == ["thinking", "thinking", "tool_use"]
    assert turn["content"][:2] == blocks
    assert turn["content"][2] == {"type": "tool_use", "id": TOOL_ID, "name": "Read",
                                  "input": {"file_path": "/tmp/blah/foo"}}
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": TOOL_ID, "content": "foo's contents"}]


def test_keys_meant_for_gemini_are_dropped() -> None:
    google = {"google": {"thought_signature": "c2ln"}}
    _, messages = anthropic_messages([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Let me look.", "extra_content": google,
         "tool_calls": [{"id": "call_1", "type": "function", "extra_content": google,
                         "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
    ])
    assert "extra_content" not in json.dumps(messages)
    assert messages[1]["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}]


def test_thinking_blocks_keep_only_the_api_keys() -> None:
    _, messages = anthropic_messages([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "x", "thinking_blocks": [
            {"type": "thinking", "thinking": "t", "signature": "s", "index": 0},
            {"type": "redacted_thinking", "data": "d", "extra": 1}]},
    ])
    assert messages[1]["content"] == [
        {"type": "thinking", "thinking": "t", "signature": "s"},
        {"type": "redacted_thinking", "data": "d"},
        {"type": "text", "text": "x"}]


@pytest.mark.parametrize("blocks", [
    "not a list",
    {"type": "thinking"},
    [{"type": "thinking", "thinking": "t"}],
    [{"type": "thinking", "thinking": "t", "signature": 5}],
    [{"type": "redacted_thinking"}],
    [{"type": "text", "text": "t"}],
    ["t"],
])
def test_malformed_thinking_blocks_are_refused(blocks: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        anthropic_messages([{"role": "user", "content": "hi"},
                            {"role": "assistant", "content": "x", "thinking_blocks": blocks}])
    assert "thinking_blocks" in str(caught.value) and "anthropic" in str(caught.value)
