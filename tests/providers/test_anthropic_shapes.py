"""Wrong-shape JSON in an Anthropic stream is a ``ProtocolError`` naming the
provider and the field, never an ``AttributeError``/``TypeError`` (§4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamactors.errors import ProtocolError, ProviderError
from streamactors.providers.anthropic import AnthropicDecoder

pytestmark = pytest.mark.timeout(10)


def started() -> AnthropicDecoder:
    d = AnthropicDecoder()
    d.feed(json.dumps({"type": "message_start", "message": {
        "id": "msg_1", "model": "claude-x", "usage": {"input_tokens": 3}}}), "message_start")
    return d


def delta(index: Any = 0, **d: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": d}


def start(index: Any = 0, **block: Any) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


CASES: list[tuple[str, list[dict[str, Any]], str]] = [
    ("delta not an object", [{"type": "content_block_delta", "index": 0, "delta": "x"}],
     "content_block_delta.delta"),
    ("delta null", [{"type": "content_block_delta", "index": 0, "delta": None}],
     "content_block_delta.delta"),
    ("text not a string", [delta(type="text_delta", text=5)], "text_delta.text"),
    ("partial_json a number", [start(type="tool_use", id="t", name="f", input={}),
                               delta(type="input_json_delta", partial_json=5)],
     "input_json_delta.partial_json"),
    ("delta index a list", [start(type="tool_use", id="t", name="f", input={}),
                            delta(index=[], type="input_json_delta", partial_json="{}")],
     "content_block_delta.index"),
    ("thinking a list", [start(type="thinking", thinking=""),
                         delta(type="thinking_delta", thinking=[])], "thinking_delta.thinking"),
    ("signature an object", [start(type="thinking", thinking=""),
                             delta(type="signature_delta", signature={})],
     "signature_delta.signature"),
    ("content_block a list", [{"type": "content_block_start", "index": 0, "content_block": []}],
     "content_block_start.content_block"),
    ("start index a string", [start(index="0", type="tool_use", id="t", name="f", input={})],
     "content_block_start.index"),
    ("tool id a number", [start(type="tool_use", id=5, name="f", input={})], "tool_use.id"),
    ("tool name a list", [start(type="tool_use", id="t", name=["f"], input={})],
     "tool_use.name"),
    ("tool input a list", [start(type="tool_use", id="t", name="f", input=[1])],
     "tool_use.input"),
    ("start text a number", [start(type="text", text=5)], "content_block.text"),
    ("thinking signature a number", [start(type="thinking", thinking="", signature=5)],
     "thinking.signature"),
    ("redacted data a list", [start(type="redacted_thinking", data=[])],
     "redacted_thinking.data"),
    ("stop index a list", [{"type": "content_block_stop", "index": []}],
     "content_block_stop.index"),
    ("message_delta delta a list", [{"type": "message_delta", "delta": []}],
     "message_delta.delta"),
    ("stop_reason a list", [{"type": "message_delta", "delta": {"stop_reason": ["end_turn"]}}],
     "message_delta.stop_reason"),
    ("usage a list", [{"type": "message_delta", "delta": {}, "usage": [1]}],
     "message_delta.usage"),
    ("message a list", [{"type": "message_start", "message": []}], "message_start.message"),
    ("message id a number", [{"type": "message_start", "message": {"id": 5}}],
     "message_start.message.id"),
]


@pytest.mark.parametrize(("events", "where"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wrong_shape_names_the_field(events: list[dict[str, Any]], where: str) -> None:
    d = started()
    with pytest.raises(ProtocolError) as caught:
        for event in events:
            d.feed(json.dumps(event), event["type"])
    text = str(caught.value)
    assert text.startswith("anthropic sent ") and f" {where} as " in text


def test_null_is_absent_not_wrong() -> None:
    d = started()
    assert d.feed(json.dumps(start(type="text", text=None)), "content_block_start") == []
    assert d.feed(json.dumps(delta(type="text_delta", text=None)), "content_block_delta") == []
    assert d.feed(json.dumps({"type": "content_block_start", "index": 1, "content_block": None}),
                  "content_block_start") == []
    assert d.feed(json.dumps({"type": "message_delta", "delta": None, "usage": None}),
                  "message_delta") == []


def test_odd_event_types_are_skipped() -> None:
    d = started()
    kinds: list[Any] = [[], {}, 5, "a_new_event"]
    for kind in kinds:
        assert d.feed(json.dumps({"type": kind}), "message") == []


def test_an_error_event_with_a_list_for_its_type_is_still_a_provider_error() -> None:
    with pytest.raises(ProviderError) as caught:
        AnthropicDecoder().feed(json.dumps({"type": "error", "error": {
            "type": ["overloaded_error"], "message": "x"}}), "error")
    assert caught.value.type is None and caught.value.retryable is False


def test_a_lone_surrogate_in_a_delta_becomes_a_replacement_character() -> None:
    d = started()
    (chunk,) = d.feed('{"type": "content_block_delta", "index": 0, '
                      '"delta": {"type": "text_delta", "text": "a\\ud800b"}}', "content_block_delta")
    assert chunk.text == "a\ufffdb"
    chunk.text.encode("utf-8")  # printable, encodable
